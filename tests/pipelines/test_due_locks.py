"""`reunderwrite --due` from a timer: one run per store at a time, and a county whose season is long over refused.

An operations walkthrough: two `--due` runs started together both computed the whole checkpoint and both printed the
action table (one wrote the records, the other "0 written, 24 already present"); and a county whose current_season
was never rolled over (2009, the real date 2026) "ran" every checkpoint with 0 records written, exit 0, marking them
done — a green job doing nothing."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import pipelines.reunderwrite as ru
from pipelines.cli import app
from pipelines.county import County
from pipelines.schedule import CheckpointLog, checkpoint_dates, load_calendar
from underwriting.store import DecisionStore

DAY = date(2009, 9, 2)  # maize mid-season, rice and cotton emergence due in the tiny in-smallholder county




_n = iter(range(1000))


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        u = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        import sqlalchemy as sa

        base = request.getfixturevalue("pg_server")
        name = f"due{next(_n)}"
        eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        eng.dispose()
        u = base.rsplit("/", 1)[0] + f"/{name}"
    DecisionStore(u).close()  # an empty store
    return u


def _stub(calls: list[str], started: threading.Event, release: threading.Event) -> Any:
    """reunderwrite_county standing in: notes the call, waits to be released, decides nothing."""

    def run(c: Any, season: str, day: date, **kw: Any) -> Any:
        calls.append(threading.current_thread().name)
        started.set()
        assert release.wait(30)
        return ru.ReunderwriteResult(season, day, "x", [], pd.DataFrame(columns=ru.CHANGE_COLUMNS), pd.DataFrame())

    return run


def test_a_second_due_run_on_the_store_does_nothing(url: str, tiny_county_sh: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs at once (threads: the lock is per store, not per process): the second finds the run lock taken and
    raises RunInProgress before computing anything; the first goes on and marks its checkpoints."""
    from underwriting.store import RunInProgress

    calls: list[str] = []
    started, release = threading.Event(), threading.Event()
    monkeypatch.setattr(ru, "reunderwrite_county", _stub(calls, started, release))
    county = County(tiny_county_sh)
    out: dict[str, Any] = {}

    def first() -> None:
        try:
            out["first"] = ru.reunderwrite_due(DAY, county=county, store=url, models=object())  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - reported below
            out["first"] = e

    t = threading.Thread(target=first, name="first")
    t.start()
    try:
        assert started.wait(60)
        with pytest.raises(RunInProgress) as e:
            ru.reunderwrite_due(DAY, county=county, store=url, models=object())  # type: ignore[arg-type]
    finally:
        release.set()
        t.join(60)
    msg = str(e.value)
    assert msg.startswith("another reunderwrite --due run on this store is in progress (") and msg.endswith(
        "); nothing done"), msg
    assert "\n" not in msg
    assert set(calls) == {"first"}  # the second computed nothing
    assert isinstance(out["first"], list) and out["first"], out
    assert len(CheckpointLog(url).rows()) > 0
    # the lock is released with the run: the next one runs (and finds everything done)
    assert ru.reunderwrite_due(DAY, county=county, store=url, models=object()) == []  # type: ignore[arg-type]


def test_the_cli_says_one_line_and_exits_0(tiny_county_sh: Path, tmp_path: Path) -> None:
    from underwriting.store import run_lock

    url = f"sqlite:///{tmp_path / 'store.db'}"
    DecisionStore(url).close()
    with run_lock(url):
        r = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", str(tiny_county_sh), "--store", url,
                                     "--today", DAY.isoformat()])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("another reunderwrite --due run on this store is in progress "
                                                   "(pid "), r.output
    assert lines[0].endswith(f"{tmp_path / 'store.db.due-lock'}); nothing done")
    assert CheckpointLog(url).rows().empty


def _last_checkpoint(county: County) -> date:
    cps = checkpoint_dates(county.current_season, load_calendar(), county.region)
    return cps["date"].max().date()


def test_a_season_long_over_is_refused_without_today(tiny_county_sh: Path, tmp_path: Path) -> None:
    """Without --today (a timer's run on the real date), a county whose current season's last checkpoint is over a
    year back: one warning line, exit 1, nothing run or marked done. With --today (a backfill) it runs as before."""
    county = County(tiny_county_sh)
    assert _last_checkpoint(county) < date.today() - timedelta(days=365)  # the tiny county's 2009
    url = f"sqlite:///{tmp_path / 'store.db'}"
    DecisionStore(url).close()
    r = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", str(tiny_county_sh), "--store", url])
    assert r.exit_code == 1, r.output
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"warning: no open season in {tiny_county_sh}: current_season "
                               f"{county.current_season} ended on {_last_checkpoint(county)}"), lines[0]
    assert "roll it over" in lines[0] and "nothing marked done" in lines[0]
    assert CheckpointLog(url).rows().empty
    early = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", str(tiny_county_sh), "--store", url,
                                     "--today", "2009-05-20"])
    assert early.exit_code == 0 and early.stdout.startswith("nothing due on 2009-05-20"), early.output


def test_the_season_over_bound(tiny_county_sh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A year after the last checkpoint still runs (a late harvest's lines); a day more is refused."""
    county = County(tiny_county_sh)
    last = _last_checkpoint(county)
    cal = load_calendar()
    seasons = [county.current_season]
    ru._refuse_season_over(last + timedelta(days=365), county, seasons, cal, given=False)
    with pytest.raises(ru.SeasonOver, match=r"^no open season in .*: current_season \d{4} ended on"):
        ru._refuse_season_over(last + timedelta(days=366), county, seasons, cal, given=False)
    with pytest.raises(ru.SeasonOver, match=r": season \d{4} \(--season\) ended on"):
        ru._refuse_season_over(last + timedelta(days=366), county, seasons, cal, given=True)
    # the library default (tests, backfills) does not refuse: the date is the caller's
    url = f"sqlite:///{tmp_path / 'store.db'}"
    DecisionStore(url).close()
    calls: list[str] = []
    started, release = threading.Event(), threading.Event()
    release.set()
    monkeypatch.setattr(ru, "reunderwrite_county", _stub(calls, started, release))
    assert ru.reunderwrite_due(date.today(), county=county, store=url, models=object())  # type: ignore[arg-type]
    with pytest.raises(ru.SeasonOver):
        ru.reunderwrite_due(date.today(), county=county, store=f"sqlite:///{tmp_path / 'other.db'}",
                            models=object(), refuse_season_over=True)  # type: ignore[arg-type]
    assert not (tmp_path / "other.db").exists()


_KILLED_HOLDING = """
import os, signal, sys
from underwriting.store import run_lock
with run_lock(sys.argv[1]):
    os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer, a power loss: no release runs
"""


def test_a_run_lock_left_by_a_killed_run_does_not_block_and_is_named(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A `--due` run SIGKILLed while holding the store's run lock: the next run took the lock (flock goes with its
    process) but said nothing, its lock file still naming the dead run as if it held it. The next run now says in
    one line that the previous run (its pid) ended without releasing the lock and that it goes on; a run released
    normally leaves nothing for the next one to report."""
    import os
    import subprocess
    import sys

    from underwriting.store import RunInProgress, run_lock

    url = f"sqlite:///{tmp_path / 'store.db'}"
    DecisionStore(url).close()
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _KILLED_HOLDING, url], check=False, cwd=root, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == -9, proc.stderr[-2000:]
    lock = tmp_path / "store.db.due-lock"
    dead = lock.read_text().split()[1]
    with caplog.at_level("WARNING", logger="agcredit.store"), run_lock(url):  # not blocked
        with pytest.raises(RunInProgress):  # held by this run now: another is refused as before
            with run_lock(url):
                pass
    said = [r.getMessage() for r in caplog.records if "ended without releasing" in r.getMessage()]
    assert len(said) == 1 and f"reunderwrite --due run (pid {dead} since " in said[0] and str(lock) in said[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="agcredit.store"), run_lock(url):
        pass
    assert not [r for r in caplog.records if "ended without releasing" in r.getMessage()]


def test_a_run_ended_by_an_error_leaves_nothing_for_the_next_to_report(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A `--due` run that ended with an error inside its run lock (a registry moved: a one-line user error) left its
    line in the lock file, and the next run said it had been "killed (SIGKILL, a power loss)": the lock is now
    released (its line cleared) however the run ends, but killed outright."""
    from features.errors import UserInputError
    from underwriting.store import run_lock

    url = f"sqlite:///{tmp_path / 'store.db'}"
    DecisionStore(url).close()
    with pytest.raises(UserInputError), run_lock(url):
        raise UserInputError("model registry: moved")
    assert (tmp_path / "store.db.due-lock").read_text() == ""
    with caplog.at_level("WARNING", logger="agcredit.store"), run_lock(url):
        pass
    assert not [r for r in caplog.records if "ended without releasing" in r.getMessage()]
