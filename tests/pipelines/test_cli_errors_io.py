"""Bad paths, registries and files give one line on stderr and exit code 2 (audit L11, section A).

- output paths that cannot be written (a folder where a file goes, a file where a folder goes, a read-only
  folder, simulated: the tests run as root, where chmod does not block writes);
- model registry URIs that cannot be used (unsupported scheme, missing database driver, a closed loopback
  port, an HTTP server that is not MLflow) — never the network beyond loopback;
- 0-byte and wrong-format input files of train yield, train crop-type, schedule show and reunderwrite --due;
- a token key that is set but too short.
"""

from __future__ import annotations

import errno
import http.server
import importlib.util
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from features.atomic import write_table_atomic
from pipelines._cli_app import user_errors
from pipelines.cli import app

SECRET = "S3cretPW"


def _one_line_error(r: Result, *needles: str) -> str:
    """Exit 2, one ``error:`` line on stderr holding every needle, no traceback, nothing on stdout."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr, r.exception)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------------------------- output paths
def _writer_app(write: Callable[[], object]) -> typer.Typer:
    """A one-command app whose command calls ``write()`` under ``user_errors`` (as every agcredit command)."""
    t = typer.Typer()

    @t.command()
    @user_errors
    def run() -> None:
        write()

    return t


def _df() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2]})


def test_out_is_an_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "outdir"
    out.mkdir()
    r = CliRunner().invoke(_writer_app(lambda: write_table_atomic(_df(), out)), [])
    _one_line_error(r, f"cannot write {out}: Is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outdir"] and not any(out.iterdir())  # no temp file left


def test_out_under_a_file(tmp_path: Path) -> None:
    f = tmp_path / "vfile"
    f.write_text("")
    r = CliRunner().invoke(_writer_app(lambda: write_table_atomic(_df(), f / "d.parquet")), [])
    _one_line_error(r, f"cannot write {f}: it is a file (expected a folder)")
    r = CliRunner().invoke(_writer_app((f / "series").mkdir), [])
    _one_line_error(r, f"cannot write {f / 'series'}: Not a directory")


def test_read_only_folder_is_named_not_its_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object, dir: str | None = None, prefix: str = "", suffix: str = "", **kw: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.path.join(str(dir), f"{prefix}k3j9x2ab{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = tmp_path / "ro" / "feat.parquet"
    r = CliRunner().invoke(_writer_app(lambda: write_table_atomic(_df(), out)), [])
    _one_line_error(r, f"cannot write {out}: Read-only file system")


def test_permission_denied_on_read_and_full_disk(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"

    def read_input() -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(src))

    _one_line_error(CliRunner().invoke(_writer_app(read_input), []), f"cannot read {src}: Permission denied")

    def write_rows() -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    _one_line_error(CliRunner().invoke(_writer_app(write_rows), []), "cannot write: No space left on device")


@pytest.mark.parametrize("raised", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                    OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"),
                                    OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))],
                         ids=["errno", "pyarrow-message", "quota"])
def test_a_full_disk_names_the_file_an_atomic_writer_was_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  raised: OSError) -> None:
    """A full disk gave ``error: cannot write: No space left on device`` with no path (the write into the
    temporary file names none): the file it stands for is named, and nothing is left."""
    def full(self: pd.DataFrame, path: str, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1")  # part of it written
        raise raised

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    out = tmp_path / "out" / "features.parquet"
    r = CliRunner().invoke(_writer_app(lambda: write_table_atomic(_df(), out)), [])
    why = "Disk quota exceeded" if raised.errno == errno.EDQUOT else "No space left on device"
    _one_line_error(r, f"error: cannot write {out}: {why}")
    assert not out.exists() and not list(out.parent.iterdir())


def test_a_full_disk_met_by_a_plain_file_write_names_that_file() -> None:
    """/dev/full: every write fails with ENOSPC, the OSError naming no file; the open file is named."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")

    def write_report() -> None:
        with open(__file__) as source, open("/dev/full", "w") as f:
            f.write(source.read(10))
            f.flush()

    _one_line_error(CliRunner().invoke(_writer_app(write_report), []),
                    "error: cannot write /dev/full: No space left on device")

    def read_only_open() -> None:  # a file open for reading is never named as the one a full disk refused
        with open(__file__) as source:
            source.read(1)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    _one_line_error(CliRunner().invoke(_writer_app(read_only_open), []), "error: cannot write: No space left on device")


def test_missing_file_unchanged_and_other_oserrors_not_hidden(tmp_path: Path) -> None:
    gone = tmp_path / "gone.csv"
    _one_line_error(CliRunner().invoke(_writer_app(lambda: open(gone).close()), []), f"file not found: {gone}")

    def bug() -> None:
        raise ConnectionResetError(errno.ECONNRESET, "reset")  # not about a path: a bug shows as one

    r = CliRunner().invoke(_writer_app(bug), [])
    assert r.exit_code != 2 and isinstance(r.exception, ConnectionResetError)


def test_decisions_export_to_a_folder(tmp_path: Path) -> None:
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'd.db'}"
    DecisionStore(url).close()
    out = tmp_path / "dd"
    out.mkdir()
    r = CliRunner().invoke(app, ["decisions", "export", "--store", url, "--out", str(out)])
    line = _one_line_error(r, str(out))
    assert "cannot write" in line or "folder" in line
    assert not any(out.iterdir())


# ---------------------------------------------------------------------------------------------- registry
@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_registry_unsupported_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://bar")
    r = CliRunner().invoke(app, ["models", "show", "yield-value"])
    _one_line_error(r, "model registry foo://bar", "unsupported URI scheme 'foo'", "sqlite", "postgresql")


@pytest.mark.parametrize("given", ["plain", "file"])
def test_registry_given_as_the_sqlite_files_path_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         given: str) -> None:
    """MLFLOW_TRACKING_URI set to the registry's SQLite file without sqlite:/// was refused as 'a folder (MLflow's
    file store)'; now: a file path, and the URI to give. A folder is still refused as MLflow's file store."""
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(db) if given == "plain" else f"file://{db}")
    r = CliRunner().invoke(app, ["models", "list"])
    line = _one_line_error(r, "a file path, not a registry URI", f"give sqlite:///{db.resolve()}")
    assert "folder" not in line
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path))
    _one_line_error(CliRunner().invoke(app, ["models", "list"]), "a folder (MLflow's file store) is not supported")


@pytest.mark.parametrize("scheme", ["databricks", "databricks-uc", "uc"])
def test_registry_scheme_mlflow_takes_but_agcredit_cannot_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                      scheme: str) -> None:
    """A ``databricks://user:PASSWORD@…`` registry got past the scheme check (MLflow accepts it) and ended in a
    traceback from MLflow's Databricks helpers (exit 1); now one line, the password masked."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"{scheme}://bank:{SECRET}@x")
    r = CliRunner().invoke(app, ["models", "list"])
    _one_line_error(r, f"model registry {scheme}://bank:***@x", f"unsupported URI scheme '{scheme}'", "sqlite")
    assert SECRET not in r.stdout + r.stderr


def test_registry_unavailable_is_not_a_missing_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers fall back on a missing champion (RegistryError); an unusable registry must not be taken for one."""
    from models.errors import RegistryError, RegistryUnavailableError
    from models.registry import resolve

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://bar")
    with pytest.raises(RegistryUnavailableError, match="unsupported URI scheme 'foo'") as info:
        resolve("crop-type")
    assert not isinstance(info.value, RegistryError)


def test_registry_postgresql_driver_missing_or_closed(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql://agc:{SECRET}@127.0.0.1:{closed_port}/mlflow")
    r = CliRunner().invoke(app, ["models", "list"])
    shown = f"postgresql://agc:***@127.0.0.1:{closed_port}/mlflow"
    if importlib.util.find_spec("psycopg") is None:  # SQLAlchemy's default PostgreSQL driver (agcredit ships psycopg2)
        _one_line_error(r, shown, "database driver 'psycopg' is not installed", "pip install 'psycopg[binary]'",
                        "postgresql+psycopg2://")
    else:
        _one_line_error(r, f"cannot connect to the model registry {shown}: connection refused")
    assert SECRET not in r.stderr + r.stdout


def test_registry_database_closed_port(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql+psycopg2://agc:{SECRET}@127.0.0.1:{closed_port}/mlflow")
    r = CliRunner().invoke(app, ["models", "list"])
    _one_line_error(r, f"cannot connect to the model registry postgresql+psycopg2://agc:***@127.0.0.1:{closed_port}"
                       "/mlflow: connection refused")
    assert SECRET not in r.stderr + r.stdout
    r = CliRunner().invoke(app, ["models", "show", "yield-value"])  # not "no registered model"
    _one_line_error(r, "cannot connect to the model registry", "connection refused")


def test_registry_http_closed_port_caps_retries(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "3")  # the user's own setting is kept
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://u:{SECRET}@127.0.0.1:{closed_port}")
    r = CliRunner().invoke(app, ["models", "show", "yield-value"])
    _one_line_error(r, f"cannot connect to the model registry http://u:***@127.0.0.1:{closed_port}: "
                       "connection refused")
    assert "no registered model" not in r.stderr and SECRET not in r.stderr + r.stdout
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "3"


@pytest.fixture
def not_mlflow() -> Iterator[int]:
    """A loopback HTTP server that answers 404 to everything (not an MLflow server)."""

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()


def test_registry_http_server_that_is_not_mlflow(monkeypatch: pytest.MonkeyPatch, not_mlflow: int) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{not_mlflow}")
    for cmd in (["models", "list"], ["models", "show", "yield-value"]):
        r = CliRunner().invoke(app, cmd)
        _one_line_error(r, f"model registry http://127.0.0.1:{not_mlflow}", "HTTP 404")


# ---------------------------------------------------------------------------------------------- input files
@pytest.fixture
def bad(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "bad"
    d.mkdir()
    files = {"empty.csv": b"", "empty.parquet": b"", "text.parquet": b"this is text, not Parquet\n",
             "binary.csv": b"\x00\x01\xff\xfe\x00garbage", "history.csv": b"field_id,season,reported_yield_t_ha\n"
                                                                           b"F1,2008,3.1\n"}
    for name, data in files.items():
        (d / name).write_bytes(data)
    return {name: d / name for name in files}


def test_train_yield_empty_and_wrong_format_features(bad: dict[str, Path]) -> None:
    for name, msg in (("empty.parquet", "features file is empty"), ("text.parquet", "features file cannot be read as "
                                                                                   "Parquet")):
        r = CliRunner().invoke(app, ["train", "yield", "--features", str(bad[name]), "--reported",
                                     str(bad["history.csv"]), "--no-promote"])
        _one_line_error(r, str(bad[name]), msg)


def test_reported_yields_empty_and_wrong_format(bad: dict[str, Path]) -> None:
    from features.errors import UserInputError
    from pipelines.train_yield import read_reported

    with pytest.raises(UserInputError, match="empty.csv: reported yields file is empty"):
        read_reported(bad["empty.csv"])
    with pytest.raises(UserInputError, match="text.parquet: reported yields file cannot be read as Parquet"):
        read_reported(bad["text.parquet"])


def test_train_crop_type_empty_and_wrong_format_series(bad: dict[str, Path]) -> None:
    for name, msg in (("empty.csv", "is empty"), ("text.parquet", "cannot be read as Parquet"),
                      ("binary.csv", "cannot be read as CSV")):
        r = CliRunner().invoke(app, ["train", "crop-type", "--series", str(bad[name]), "--labels",
                                     str(bad["history.csv"]), "--no-promote"])
        _one_line_error(r, f"series file {bad[name]}", msg)


def test_schedule_show_bad_calendars(bad: dict[str, Path], tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text("region,crop,checkpoint,month_day,year_offset\n")
    offset = tmp_path / "offset.csv"
    offset.write_text("region,crop,checkpoint,month_day,year_offset\nr,maize,emergence,06-01,soon\n")
    for path, msg in ((bad["empty.csv"], "calendar file is empty"), (bad["binary.csv"], "cannot be read as CSV"),
                      (header, "no checkpoints"), (offset, "row 2 (region r, crop maize, checkpoint emergence): "
                                                           "column year_offset holds 'soon', expected a whole number")):
        r = CliRunner().invoke(app, ["schedule", "show", "--calendar", str(path)])
        _one_line_error(r, str(path), msg)


def test_reunderwrite_due_empty_calendar(bad: dict[str, Path], tiny_county_sh: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", str(tiny_county_sh), "--today", "2009-10-25",
                                 "--store", f"sqlite:///{tmp_path / 'ru.db'}", "--calendar", str(bad["empty.csv"])])
    _one_line_error(r, str(bad["empty.csv"]), "calendar file is empty")


# ---------------------------------------------------------------------------------------------- token key
def test_short_token_key_says_too_short(monkeypatch: pytest.MonkeyPatch) -> None:
    from features.identity import token_key

    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "short")
    with pytest.raises(Exception, match=r"AGCREDIT_TOKEN_KEY is too short \(5 characters\) \(set it to a secret of "
                                        r"at least 16 characters\)") as info:
        token_key("f.gpkg")
    assert "short" not in str(info.value).replace("too short", "")  # the key itself is never shown
    monkeypatch.delenv("AGCREDIT_TOKEN_KEY")
    with pytest.raises(Exception, match="f.gpkg: personal identifiers found but AGCREDIT_TOKEN_KEY is not set"):
        token_key("f.gpkg")


def test_fields_validate_short_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    f = tmp_path / "f.gpkg"
    gpd.GeoDataFrame({"field_id": ["F1"], "season": ["2009"], "declared_crop": ["maize"],
                      "national_id": ["X123"], "declared_area_ha": [1.0]},
                     geometry=[box(500000, 4000000, 500100, 4000100)], crs="EPSG:32614").to_file(f)
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "short")
    r = CliRunner().invoke(app, ["fields", "validate", str(f)])
    _one_line_error(r, "AGCREDIT_TOKEN_KEY is too short (5 characters)", "at least 16")
