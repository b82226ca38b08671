"""The test processes' two shortcuts (tests/conftest.py) give what the libraries give: a new MLflow SQLite store
copied from a migrated template is the store MLflow's migrations make, and the ``agcredit`` click command built once
answers as a fresh build does."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import ORIGINALS


def _clauses(sql: str | None) -> list[str]:
    """An object's SQL as its sorted clauses: MLflow's own migrations write a table's constraints in an order that
    differs from one run to the next (the runs table's two CHECKs)."""
    return sorted(line.strip().rstrip(",").strip() for line in (sql or "").splitlines())


def _schema(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(db)
    try:
        return {"objects": sorted((t, n, tb, _clauses(sql)) for t, n, tb, sql in
                                  con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")),
                "alembic": con.execute("SELECT version_num FROM alembic_version").fetchall(),
                "experiments": con.execute("SELECT experiment_id, name, lifecycle_stage, artifact_location "
                                           "FROM experiments").fetchall()}
    finally:
        con.close()


def test_a_copied_store_is_the_store_mlflows_migrations_make(tmp_path: Path) -> None:
    import mlflow.store.db.utils as db_utils
    import sqlalchemy
    from mlflow.tracking import MlflowClient

    assert db_utils._initialize_tables is not ORIGINALS["mlflow_initialize_tables"]  # the shortcut is in place
    migrated, copied = tmp_path / "migrated" / "mlflow.db", tmp_path / "copied" / "mlflow.db"
    for db in (migrated, copied):
        db.parent.mkdir()
    engine = sqlalchemy.create_engine(f"sqlite:///{migrated}")
    try:
        ORIGINALS["mlflow_initialize_tables"](engine)  # MLflow's own migrations, on an empty file
    finally:
        engine.dispose()
    for db in (migrated, copied):  # the tracking and registry stores opened as the registry opens them
        client = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
        client.search_experiments()
        client.search_registered_models()
    a, b = _schema(migrated), _schema(copied)
    assert a["objects"] == b["objects"] and len(a["objects"]) > 20
    assert a["alembic"] == b["alembic"]
    # the Default experiment made by each store itself, with the artifact root of its own opening
    assert [e[:3] for e in a["experiments"]] == [e[:3] for e in b["experiments"]] == [(0, "Default", "active")]


def test_a_store_with_tables_is_not_overwritten(tmp_path: Path) -> None:
    import sqlalchemy
    from mlflow.tracking import MlflowClient

    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE decisions (id TEXT)")
    con.commit()
    con.close()
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    try:
        import mlflow.store.db.utils as db_utils

        db_utils._initialize_tables(engine)  # not empty: MLflow's migrations run beside the table, nothing copied
    finally:
        engine.dispose()
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "decisions" in tables and "experiments" in tables
    assert MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()


def test_the_cached_command_answers_as_a_fresh_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.main
    import typer.testing

    from pipelines.cli import app

    assert typer.main.get_command is not ORIGINALS["typer_get_command"]
    assert typer.main.get_command(app) is typer.main.get_command(app)  # built once
    runner = CliRunner()
    argvs = (["--help"], ["models", "--help"], ["underwrite", "--help"], ["no-such-command"], ["--version"])
    cached = [runner.invoke(app, args) for args in argvs]
    monkeypatch.setattr(typer.testing, "_get_command", ORIGINALS["typer_get_command"])  # built on every invoke
    built = [runner.invoke(app, args) for args in argvs]
    for args, c, b in zip(argvs, cached, built, strict=True):
        assert (c.exit_code, c.output) == (b.exit_code, b.output), args
    assert [c.exit_code for c in cached] == [0, 0, 0, 2, 0]


def test_an_app_given_a_new_command_is_built_again() -> None:
    import typer.main

    toy = typer.Typer()

    @toy.command()
    def one() -> None:
        print("one")

    @toy.command()
    def two() -> None:
        print("two")

    first = typer.main.get_command(toy)
    assert set(first.commands) == {"one", "two"}  # type: ignore[attr-defined]

    @toy.command()
    def three() -> None:
        print("three")

    again = typer.main.get_command(toy)
    assert again is not first and set(again.commands) == {"one", "two", "three"}  # type: ignore[attr-defined]
    assert CliRunner().invoke(toy, ["three"]).output == "three\n"
