"""Waiting for the decision store's locks: bounded (AGCREDIT_LOCK_TIMEOUT), said on stderr after a few seconds, and
ended promptly by SIGTERM — on PostgreSQL (a real server on loopback) and SQLite.

An operations walkthrough: a run blocked on the write lock (another session holding the chain's advisory lock, or a
``LOCK TABLE agc_decisions``) waited forever, printed nothing and ignored SIGTERM until the lock was released."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import require
from tests.pgserver import postgres_available, postgres_server
from tests.underwriting.test_store import make_items
from underwriting._store_schema import CHAIN_LOCK_KEY
from underwriting.store import DecisionStore

ROOT = Path(__file__).resolve().parents[2]

#: one store operation run as the agcredit command runs it (SIGTERM handled, user errors one line, exit 2)
SCRIPT = textwrap.dedent("""
    import sys
    import typer
    from pipelines._cli_app import handle_sigterm, user_errors
    from tests.underwriting.test_store import make_items
    from underwriting.store import DecisionStore

    @user_errors
    def run(url: str, what: str) -> None:
        with DecisionStore(url, create=False, writer=True) as st:
            print("open", flush=True)
            if what == "append":
                print(st.append(make_items(2, start=500), operator="op").written, flush=True)
            else:
                print(st.count(), flush=True)

    handle_sigterm()
    try:
        run(sys.argv[1], sys.argv[2])
    except typer.Exit as e:
        sys.exit(e.exit_code)
""")


def _start(url: str, what: str, timeout: float | None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AGCREDIT_LOCK_TIMEOUT", None)
    if timeout is not None:
        env["AGCREDIT_LOCK_TIMEOUT"] = str(timeout)
    return subprocess.Popen([sys.executable, "-c", SCRIPT, url, what], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _first_line(proc: subprocess.Popen[str], within: float = 20) -> str:
    """The run's first stderr line (the waiting notice), or a failure when it says nothing for ``within`` seconds
    (the run was blocked silently)."""
    import select

    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], within)
    if not ready:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run said nothing for {within} s while waiting for the lock")
    return proc.stderr.readline()


def _finish(proc: subprocess.Popen[str], within: float) -> tuple[str, str, float]:
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run was still waiting after {within} s")
    return out, err, time.monotonic() - t0


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    ok, why = postgres_available()
    require(ok, why)
    with postgres_server() as url:
        with DecisionStore(url) as st:
            st.append(make_items(3), operator="op")
        yield url


def _with_password(url: str) -> str:
    return url.replace("agcredit@", "agcredit:s3cr3t-pw@")  # the test server trusts loopback: the password is unused


def test_lock_timeout_setting() -> None:
    from features.errors import UserInputError
    from underwriting._store_schema import lock_timeout

    os.environ.pop("AGCREDIT_LOCK_TIMEOUT", None)
    assert lock_timeout() == 300
    try:
        os.environ["AGCREDIT_LOCK_TIMEOUT"] = "2.5"
        assert lock_timeout() == 2.5
        for bad in ("soon", "-1", "nan"):
            os.environ["AGCREDIT_LOCK_TIMEOUT"] = bad
            with pytest.raises(UserInputError, match="AGCREDIT_LOCK_TIMEOUT"):
                lock_timeout()
    finally:
        os.environ.pop("AGCREDIT_LOCK_TIMEOUT", None)


def test_pg_write_lock_wait_is_said_and_bounded(pg_url: str) -> None:
    """Another session holds the chain's advisory lock: the writer says it waits (with the holder's pid), gives up
    after AGCREDIT_LOCK_TIMEOUT seconds with one line, exit 2, nothing written, no password shown."""
    holder = sa.create_engine(pg_url)
    with holder.connect() as h:
        h.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
        pid = h.scalar(sa.text("SELECT pg_backend_pid()"))
        proc = _start(_with_password(pg_url), "append", timeout=5)
        out, err, _ = _finish(proc, 40)
        h.rollback()
    holder.dispose()
    lines = err.strip().splitlines()
    assert proc.returncode == 2, err
    assert len(lines) == 2, err
    assert lines[0].startswith(f"waiting for the decision store's write lock (held by another session, pid {pid})")
    assert lines[1].startswith("error: decision store postgresql+psycopg2://agcredit:***@127.0.0.1:")
    assert f"held by another session (pid {pid}) for more than 5 s" in lines[1] and "nothing was written" in lines[1]
    assert "s3cr3t" not in err + out
    with DecisionStore(pg_url) as st:
        assert st.count() == 3


def test_pg_sigterm_ends_the_wait_promptly(pg_url: str) -> None:
    holder = sa.create_engine(pg_url)
    with holder.connect() as h:
        h.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
        proc = _start(pg_url, "append", timeout=None)
        first = _first_line(proc)  # the notice, a few seconds in
        assert first.startswith("waiting for the decision store's write lock"), first
        proc.send_signal(signal.SIGTERM)
        _, err, took = _finish(proc, 30)
        h.rollback()
    holder.dispose()
    assert proc.returncode == 143, err
    assert err.strip() == "terminated (SIGTERM): nothing partial was kept; re-run to complete"
    assert took < 5
    with DecisionStore(pg_url) as st:
        assert st.count() == 3


@pytest.mark.parametrize("what", ["count", "append"])
def test_pg_a_locked_table_is_waited_for_with_a_bound(pg_url: str, what: str) -> None:
    """`LOCK TABLE agc_decisions` in another session blocked the first SELECT for good: now the same bounded,
    said wait (a reader too)."""
    holder = sa.create_engine(pg_url)
    with holder.connect() as h:
        h.exec_driver_sql("LOCK TABLE agc_decisions")
        pid = h.scalar(sa.text("SELECT pg_backend_pid()"))
        proc = _start(pg_url, what, timeout=4)
        out, err, _ = _finish(proc, 40)
        h.rollback()
    holder.dispose()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"waiting for a lock on the decision store's table(s) agc_decisions, agc_meta (held "
                               f"by another session, pid {pid})"), err
    assert lines[-1].startswith("error: decision store ") and "for more than 4 s" in lines[-1], err


def test_pg_a_free_store_is_not_slowed(pg_url: str) -> None:
    t0 = time.monotonic()
    with DecisionStore(pg_url, create=False, writer=True) as st:
        st.append(make_items(1, start=700), operator="op")
        assert st.count() == 4
    assert time.monotonic() - t0 < 3


def _sqlite_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with DecisionStore(url) as st:
        st.append(make_items(3), operator="op")
    return url


def test_sqlite_write_lock_wait_is_said_and_bounded(tmp_path: Path) -> None:
    """SQLite waited 60 s (a fixed busy timeout), silently, then said "database is locked"."""
    url = _sqlite_store(tmp_path)
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        proc = _start(url, "append", timeout=4)
        _, err, _ = _finish(proc, 30)
    finally:
        other.rollback()
        other.close()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("waiting for the decision store's write lock (held by another "
                                                   "session)"), err
    assert lines[1].startswith(f"error: decision store {url}: the decision store's write lock has been held by "
                               "another session for more than 4 s"), err
    with DecisionStore(url) as st:
        assert st.count() == 3


def test_sqlite_sigterm_ends_the_wait_promptly(tmp_path: Path) -> None:
    url = _sqlite_store(tmp_path)
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        proc = _start(url, "append", timeout=None)
        first = _first_line(proc)
        assert first.startswith("waiting for the decision store's write lock"), first
        proc.send_signal(signal.SIGTERM)
        _, err, took = _finish(proc, 30)
    finally:
        other.rollback()
        other.close()
    assert proc.returncode == 143, err
    assert err.strip() == "terminated (SIGTERM): nothing partial was kept; re-run to complete"
    assert took < 5
