"""``agcredit models relocate`` on a store it cannot write, on what is not a registry, on a half-copied registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.errors import RegistryError
from tests.models.test_registry import TinyModel, gov


def _moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path, versions: int = 1) -> Path:
    """A registry trained in ``a/mlruns`` and copied whole to ``b/mlruns`` (the original deleted); the URI names
    the copy. Returns the copy's folder."""
    from models import registry

    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    old, new = tmp_path / "a" / "mlruns", tmp_path / "b" / "mlruns"
    old.mkdir(parents=True)
    shutil.copyfile(empty_db, old / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{old}/mlflow.db")
    for i in range(versions):
        registry.register(TinyModel(2.0 + i), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    shutil.copytree(old, new)
    shutil.rmtree(old.parent)
    shutil.rmtree(new / ".cache", ignore_errors=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{new}/mlflow.db")
    return new


def test_a_registry_that_cannot_be_written_is_refused_in_one_line_and_dry_run_only_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> None:
    """A read-only registry (an immutable file, a read-only mount): `models relocate` crashed with a traceback
    ("attempt to write a readonly database"), exit 1, even with --dry-run, which ran the UPDATEs and rolled back.
    Now --dry-run only reads and says what it would rewrite; a relocation says in one line the registry cannot be
    written, exit 2."""
    from models import _relocate
    from pipelines.cli import app

    new = _moved(tmp_path, monkeypatch, empty_db)
    before = (new / "mlflow.db").read_bytes()
    real = _relocate._connect
    monkeypatch.setattr(_relocate, "_connect", lambda db, *, read_only: real(db, read_only=True))  # cannot write
    runner = CliRunner()
    dry = runner.invoke(app, ["models", "relocate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would rewrite" in dry.stdout and "experiments 1, runs 1, model_versions 1, logged_models 1" in dry.stdout
    done = runner.invoke(app, ["models", "relocate"])
    assert done.exit_code == 2 and "Traceback" not in done.output, done.output
    assert f"the registry {new / 'mlflow.db'} cannot be written (attempt to write a readonly database); " \
           "nothing changed" in done.stderr
    assert (new / "mlflow.db").read_bytes() == before


def test_what_is_not_a_registry_is_refused_not_found_with_nothing_to_do(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """MLFLOW_TRACKING_URI naming the decision store, the alias history, a folder or a text file: `models relocate`
    said "every artifact location is already under …/artifacts; nothing to do", exit 0, where `models list`
    refuses them. Now each is refused in one line, exit 2, nothing written."""
    import sqlite3

    from pipelines.cli import app

    other = tmp_path / "decisions.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE agc_decisions (record_id TEXT)")
    con.commit()
    con.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 20)
    folder = tmp_path / "mlruns"
    folder.mkdir()
    want = {other: "is not an MLflow model registry (it holds the tables agc_decisions",
            text: "is not an MLflow model registry", folder: "is a folder, not a model registry's database file"}
    for path, said in want.items():
        before = path.read_bytes() if path.is_file() else None
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
        r = CliRunner().invoke(app, ["models", "relocate"])
        assert r.exit_code == 2 and f"{path} {said}" in r.stderr, (path, r.output)
        assert "nothing to do" not in r.output and "Traceback" not in r.output
        assert before is None or path.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == []


def test_a_folder_or_a_file_that_is_not_sqlite_is_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  store: Path) -> None:
    """A tracking URI naming the registry's folder (``mlflow.db`` left off) took 1:49 of MLflow's retries, nine
    multi-line warnings, before "unable to open database file". Now a folder, or a file that is not SQLite, is one
    line in well under a second, naming the path (and the folder's own mlflow.db)."""
    import time

    from models import registry
    from pipelines.cli import app

    registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    text = tmp_path / "registry.txt"
    text.write_text("mlflow.db is next door\n")
    for uri, said in ((store, rf"{store} is a folder, not a model registry's database file \(its store is "
                              rf"{store}/mlflow.db: MLFLOW_TRACKING_URI=sqlite:///{store}/mlflow.db\)"),
                      (text, rf"{text} is not an MLflow model registry \(not an SQLite database\)")):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{uri}")
        t0 = time.monotonic()
        with pytest.raises(RegistryError, match=said):
            registry.list_models()
        assert time.monotonic() - t0 < 1.0
        r = CliRunner().invoke(app, ["models", "list"])
        assert r.exit_code == 2 and str(uri) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert text.read_text() == "mlflow.db is next door\n"


def test_a_half_copied_registry_names_each_missing_version_once_and_its_missing_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> None:
    """A copy missing one version's model folder named it under every model sharing the recorded folder (once as
    crop-type's, once as its own); a copy whose model files were deleted (folders kept) was relocated, to fail at
    the first underwriting run naming the model cache. Now each missing version is named once under its own model,
    and a version's missing file (MLmodel, a file it names, or bytes short of the size it records) is refused,
    naming the model, the version and the file; nothing changed."""
    from models import registry
    from pipelines.cli import app

    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    old = tmp_path / "a" / "mlruns"
    old.mkdir(parents=True)
    shutil.copyfile(empty_db, old / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{old}/mlflow.db")
    for name in ("crop-type", "yield-value", "yield-value"):
        registry.register(TinyModel(2.0), name, metrics={"r2_maize": 0.5}, governance=gov(0.5))
    runner = CliRunner()

    def copy(to: str) -> Path:
        new = tmp_path / to / "mlruns"
        shutil.copytree(old, new)
        shutil.rmtree(new / ".cache", ignore_errors=True)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{new}/mlflow.db")
        return new

    def refused(new: Path) -> str:
        before = (new / "mlflow.db").read_bytes()
        r = runner.invoke(app, ["models", "relocate"])
        assert r.exit_code == 2 and "nothing changed" in r.stderr and "Traceback" not in r.output, r.output
        assert (new / "mlflow.db").read_bytes() == before
        return r.stderr

    one = copy("b")
    folders = sorted((one / "artifacts" / "yield-value" / "models").iterdir())
    shutil.rmtree(folders[0])
    said = refused(one)
    assert said.count(folders[0].name) == 1 and "crop-type" not in said, said
    assert f"the artifacts of yield-value v1 (yield-value/models/{folders[0].name}/artifacts) are not under" in said \
        or f"the artifacts of yield-value v2 (yield-value/models/{folders[0].name}/artifacts) are not under" in said
    lone = copy("c")
    shutil.rmtree(lone / "artifacts")
    said = refused(lone)
    assert "the artifacts of crop-type, yield-value are not under" in said, said
    gone = copy("d")
    model = next((gone / "artifacts" / "crop-type" / "models").iterdir()) / "artifacts"
    (next(model.rglob("weights.json"))).unlink()
    said = refused(gone)
    assert "the copy is incomplete: crop-type v1 is missing files of artifacts/model (" in said, said
    assert str(model) in said
    (model / "MLmodel").unlink()
    assert f"the copy is incomplete: crop-type v1 is missing MLmodel under {model}" in refused(gone)
    copy("e")
    r = runner.invoke(app, ["models", "relocate"])
    assert r.exit_code == 0 and "rewrote" in r.stdout, r.output
    assert registry.resolve("crop-type", "challenger").model.scale == 2.0
