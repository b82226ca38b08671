"""`report portfolio --csv`: the page and its CSV tables are written all or none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from features.errors import UserInputError
from pipelines.report import render_portfolio
from tests.pipelines.test_report import _data


def test_a_page_that_cannot_be_written_leaves_no_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CSV tables were written before the page: when the page could not be written, the tables were left
    without it (a partial output). Every output is now built in memory and every path checked before any is
    written, and a write failing part way takes back what the run wrote."""
    data = _data()
    out, csv = tmp_path / "pages", tmp_path / "csv"
    (out / f"portfolio-{data.season}.html").mkdir(parents=True)  # the page's path is a folder: it cannot be written
    with pytest.raises(UserInputError, match=r"portfolio-.*\.html: the report is a folder"):
        render_portfolio(data, out, csv_dir=csv)
    assert not csv.exists() or not any(csv.iterdir())
    # a write failing after the checks (a full disk): the tables written are removed, one replaced is put back
    import features.atomic

    csv.mkdir()
    (csv / f"alerts-{data.season}.csv").write_text("old\n")
    (out / f"portfolio-{data.season}.html").rmdir()
    real = Path.write_bytes

    def full(self: Path, b: bytes) -> int:  # the page's temporary file (the outputs are staged beside their targets)
        if ".html." in self.name:
            raise OSError(28, "No space left on device")
        return real(self, b)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space left"):
        render_portfolio(data, out, csv_dir=csv)
    assert sorted(p.name for p in csv.iterdir()) == [f"alerts-{data.season}.csv"]
    assert (csv / f"alerts-{data.season}.csv").read_text() == "old\n"
    assert not out.exists() or not any(out.iterdir())
    # a rename failing part way (after the tables were moved into place): what it replaced is put back
    monkeypatch.setattr(Path, "write_bytes", real)
    real_replace = os.replace

    def refuse(src: str, dst: object) -> None:
        if str(dst).endswith(".html"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(features.atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="Input/output error"):
        render_portfolio(data, out, csv_dir=csv)
    assert sorted(p.name for p in csv.iterdir()) == [f"alerts-{data.season}.csv"]
    assert (csv / f"alerts-{data.season}.csv").read_text() == "old\n"
    assert not out.exists() or not any(out.iterdir())
    monkeypatch.setattr(features.atomic.os, "replace", real_replace)
    page = render_portfolio(data, out, csv_dir=csv)
    assert page.is_file() and {p.name for p in csv.iterdir()} == {f"{n}-{data.season}.csv" for n in
                                                                   ("exposure", "actions", "alerts")}


def test_cli_csv_checks_every_table_path_first(tmp_path: Path) -> None:
    """--csv checked only exposure-<season>.csv could be written: an actions or alerts table's path that could
    not be written was found only after the county was read. Each table's path is checked first (one line,
    exit 2)."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    csv = tmp_path / "csv"
    (csv / "actions-2024.csv").mkdir(parents=True)
    r = CliRunner().invoke(app, ["report", "portfolio", "--out", str(tmp_path / "p"), "--season", "2024", "--csv",
                                 str(csv), "--store", f"sqlite:///{tmp_path / 'none.db'}"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.strip() == f"error: {csv / 'actions-2024.csv'}: the report --csv is a folder (expected a file path)"
    assert not (tmp_path / "none.db").exists()


_KILLED_WRITING_PAGE = """
import os, signal, sys
from pathlib import Path
from pipelines.report import render_portfolio
from tests.pipelines.test_report import _data
real = Path.write_bytes
def write_bytes(self, data):
    if ".html" in self.name:  # SIGKILL (the OOM killer, a power loss) while the page is being written
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, data)
Path.write_bytes = write_bytes
render_portfolio(_data(), Path(sys.argv[1]), csv_dir=Path(sys.argv[2]))
"""


def test_a_run_killed_while_writing_the_page_leaves_the_earlier_outputs(tmp_path: Path) -> None:
    """The tables were moved into place one by one before the page was written: a run killed outright (SIGKILL:
    no cleanup runs) while writing the page left this run's tables beside the previous run's page — the all-or-none
    rule broken. Every output is now written beside its target before any is renamed: the kill leaves the earlier
    outputs whole, and a re-run writes them all, equal to an uninterrupted run's."""
    data = _data()
    out, csv = tmp_path / "pages", tmp_path / "csv"
    names = [f"{n}-{data.season}.csv" for n in ("exposure", "actions", "alerts")]
    out.mkdir()
    csv.mkdir()
    (out / f"portfolio-{data.season}.html").write_text("old page\n")
    for n in names:
        (csv / n).write_text("old\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITING_PAGE, str(out), str(csv)], check=False,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert {n: (csv / n).read_text() for n in names} == {n: "old\n" for n in names}
    assert (out / f"portfolio-{data.season}.html").read_text() == "old page\n"
    assert sorted(p.name for p in csv.iterdir() if not p.name.startswith(".")) == sorted(names)
    page = render_portfolio(data, out, csv_dir=csv)  # the re-run
    ref_out, ref_csv = tmp_path / "ref-pages", tmp_path / "ref-csv"
    ref = render_portfolio(data, ref_out, csv_dir=ref_csv)
    assert page.read_bytes() == ref.read_bytes()
    assert {n: (csv / n).read_bytes() for n in names} == {n: (ref_csv / n).read_bytes() for n in names}
