"""The decision store on PostgreSQL under least-privilege roles: the owner creates every table agcredit writes
(`audit upgrade-store`), and each writing command checks up front that its role may write them (before any work)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pipelines.cli import app

AUX = ["agcredit_checkpoint_runs", "agcredit_checkpoint_records", "agcredit_plain_runs",
       "agcredit_plain_run_records", "agcredit_shadow_decisions"]


def _db_url(server: str, db: str, user: str) -> str:
    return server.replace("//agcredit@", f"//{user}@").rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def roles(pg_server: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh database owned by role ``o`` (who may create in its schema), with roles ``a`` (to be granted SELECT
    and INSERT) and ``r`` (SELECT): their URLs by name, and ``su`` the superuser's."""
    db = "g_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    su = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with su.connect() as c:
        for r in ("o", "a", "r"):
            if not c.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": r}):
                c.execute(sa.text(f"CREATE ROLE {r} LOGIN"))
        c.execute(sa.text(f"CREATE DATABASE {db} OWNER o"))
    su.dispose()
    yield {"su": _db_url(pg_server, db, "agcredit"), **{r: _db_url(pg_server, db, r) for r in ("o", "a", "r")}}


def _sql(url: str, *stmts: str) -> None:
    e = sa.create_engine(url)
    with e.begin() as c:
        for s in stmts:
            c.execute(sa.text(s))
    e.dispose()


def _tables(url: str) -> set[str]:
    e = sa.create_engine(url)
    with e.connect() as c:
        out = set(sa.inspect(c).get_table_names())
    e.dispose()
    return out


def _no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any run's work started fails the test: the refusal must come first."""
    import pipelines.county
    import pipelines.reunderwrite
    import pipelines.underwrite

    def started(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the run's work started before the store's tables were checked")

    monkeypatch.setattr(pipelines.county, "County", started)
    monkeypatch.setattr(pipelines.reunderwrite, "reunderwrite_due", started)
    monkeypatch.setattr(pipelines.underwrite, "underwrite_files", started)


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _one_line_refusal(res: Any, *want: str) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    for w in want:
        assert w in lines[0], res.output
    return str(lines[0])


def test_upgrade_store_creates_the_store_and_every_table_agcredit_writes(roles: dict[str, str]) -> None:
    res = _run("audit", "upgrade-store", "--store", roles["o"])
    assert res.exit_code == 0, res.output
    assert "created the store" in res.output and "created table(s) " + ", ".join(AUX) in res.output, res.output
    assert _tables(roles["o"]) >= {"agc_decisions", "agc_meta", *AUX}
    again = _run("audit", "upgrade-store", "--store", roles["o"])
    assert again.exit_code == 0 and "up to date" in again.output and "nothing changed" in again.output, again.output


def test_upgrade_store_adds_the_auxiliary_tables_to_an_existing_sqlite_store(tmp_path: Path) -> None:
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path}/d.db"
    DecisionStore(url).close()
    res = _run("audit", "upgrade-store", "--store", url)
    assert res.exit_code == 0 and "created table(s) " + ", ".join(AUX) in res.output, res.output
    assert _tables(url) >= set(AUX)


def test_writers_are_refused_up_front_until_the_owner_created_and_granted_the_tables(
        roles: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_work(monkeypatch)
    monkeypatch.setattr("pipelines._store_grants.challenger_present", lambda: False)
    county = tmp_path / "county"
    county.mkdir()
    uw = ["underwrite", "--applications", str(tmp_path / "a.csv"), "--fields", str(tmp_path / "f.gpkg"),
          "--season", "2009", "--as-of", "2009-06-01", "--imagery", str(tmp_path / "scenes"), "--no-progress"]
    plain = ["reunderwrite", "--county", str(county), "--season", "2009", "--as-of", "2009-10-01"]
    due = ["reunderwrite", "--due", "--county", str(county), "--today", "2009-10-01"]
    # an empty database: the application role cannot create the store (it had failed after 26 s of work)
    _one_line_refusal(_run(*uw, "--store", roles["a"]), "the store has no tables yet", "role a may not create",
                      "agcredit audit upgrade-store", "nothing was computed or written")
    # the store created without its auxiliary tables (as by an earlier release): plain and --due runs refused
    from underwriting.store import DecisionStore

    DecisionStore(roles["o"]).close()
    _sql(roles["o"], "GRANT SELECT, INSERT ON agc_decisions, agc_meta TO a", "GRANT SELECT ON agc_decisions, "
         "agc_meta TO r")
    _one_line_refusal(_run(*plain, "--store", roles["a"]), "table agcredit_plain_runs does not exist",
                      "`agcredit reunderwrite` writes it", "upgrade-store")
    _one_line_refusal(_run(*due, "--store", roles["a"]), "table agcredit_checkpoint_runs does not exist",
                      "`agcredit reunderwrite --due` writes it")
    # created by the owner, not granted: the grant that fixes it
    assert _run("audit", "upgrade-store", "--store", roles["o"]).exit_code == 0
    _one_line_refusal(_run(*plain, "--store", roles["a"]), "role a lacks SELECT and INSERT on table "
                      "agcredit_plain_runs", "GRANT SELECT, INSERT ON agcredit_plain_runs TO a")
    # a challenger in the registry: the shadow table too (its rows had been lost to a warning)
    monkeypatch.setattr("pipelines._store_grants.challenger_present", lambda: True)
    _sql(roles["o"], "GRANT SELECT, INSERT ON " + ", ".join(AUX[:4]) + " TO a")
    _one_line_refusal(_run(*uw, "--store", roles["a"]), "lacks SELECT and INSERT on table agcredit_shadow_decisions",
                      "`agcredit underwrite` writes")
    assert "shadow" not in _run(*uw, "--no-shadow", "--store", roles["a"]).output  # without shadow: not needed
    _sql(roles["o"], "GRANT SELECT, INSERT ON agcredit_shadow_decisions TO a")
    for cmd in (uw, plain, due):  # granted: the run starts its work
        res = _run(*cmd, "--store", roles["a"])
        assert isinstance(res.exception, AssertionError) and "work started" in str(res.exception), res.output
    # a read-only role's write commands: refused up front, naming the grant
    _one_line_refusal(_run(*plain, "--store", roles["r"]), "role r lacks INSERT on table agc_decisions")
    _one_line_refusal(_run("override", "A1", "--limit", "100", "--reason", "x", "--operator", "analyst-7",
                           "--store", roles["r"]), "role r lacks INSERT on table agc_decisions",
                      "`agcredit override` writes")


def test_a_store_that_is_not_there_keeps_its_own_error(roles: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    _no_work(monkeypatch)
    (tmp_path / "c").mkdir()
    res = _run("reunderwrite", "--county", str(tmp_path / "c"), "--season", "2009", "--as-of", "2009-10-01",
               "--store", roles["a"])
    assert isinstance(res.exception, AssertionError), res.output  # the store's own error comes from the run
