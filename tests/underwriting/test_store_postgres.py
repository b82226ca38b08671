"""PostgreSQL-only behaviour of the decision store, against a real server on loopback.

The backend-neutral tests (append, idempotency, tamper, kill, concurrency) run on
PostgreSQL too, through the parametrised store fixture of test_store.py.
"""

from __future__ import annotations

import glob
import itertools
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import require
from tests.pgserver import postgres_available, postgres_server
from tests.underwriting.test_store import make_items
from underwriting._store_schema import CHAIN_LOCK_KEY
from underwriting.errors import StoreError
from underwriting.store import DecisionStore, verify_store


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    ok, why = postgres_available()
    require(ok, why)
    with postgres_server() as url:
        yield url


def _port_of(root: Path) -> int | None:
    """The port in a server folder's ``data/postmaster.pid`` (its fourth line), or None."""
    try:
        lines = (root / "data" / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, IndexError, ValueError):
        return None


def test_server_starts_and_is_removed() -> None:
    ok, why = postgres_available()
    require(ok, why)
    with postgres_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert url.startswith("postgresql+psycopg2://agcredit@127.0.0.1:")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT 1")) == 1
        engine.dispose()
        # this server's folder: the one whose postmaster.pid names its port (other test workers run servers too)
        ours = [d for d in glob.glob(str(Path(tempfile.gettempdir()) / "agcredit-pg-*")) if _port_of(Path(d)) == port]
        assert len(ours) == 1
    assert not Path(ours[0]).exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_truncate_is_rejected(pg_url: str) -> None:
    with DecisionStore(pg_url) as store:
        store.append(make_items(3, start=900), operator="op")
        engine = sa.create_engine(pg_url)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE agc_decisions")
        engine.dispose()
        assert store.count() >= 3 and store.verify().ok


def test_appends_hold_the_chain_lock(pg_url: str) -> None:
    """While one writer's transaction is open, nobody else can take the chain's advisory lock."""
    other = sa.create_engine(pg_url)
    with DecisionStore(pg_url) as store:
        with store._write() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM agc_decisions")) is not None
            with other.connect() as o:
                assert o.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY}) is False
        with other.connect() as o:
            assert o.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY}) is True
    other.dispose()


def test_plain_postgresql_url_uses_psycopg2(pg_url: str) -> None:
    with DecisionStore(pg_url.replace("postgresql+psycopg2://", "postgresql://")) as store:
        assert store.dialect == "postgresql" and store.verify().ok


def test_unreachable_server_is_one_line_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://agcredit:s3cret@127.0.0.1:{port}/postgres"
    with pytest.raises(StoreError, match=r"decision store postgresql\+psycopg2://agcredit:\*\*\*@") as info:
        DecisionStore(url)
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)


def _fresh(pg_url: str) -> str:
    """A new, empty database on the server (upgrade tests change its guard)."""
    name = f"up{os.getpid()}_{next(_fresh_count)}"
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


_fresh_count = itertools.count()


def _rows(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM agc_decisions ORDER BY seq")]
    engine.dispose()
    return rows


def _has_truncate_guard(url: str) -> bool:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.scalar(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = 'agc_decisions_no_truncate'"))
    engine.dispose()
    return bool(n)


def test_a_dropped_truncate_guard_is_evidence_not_an_old_schema(pg_url: str) -> None:
    """Every release created PostgreSQL's TRUNCATE guard (it is in the first commit holding the store): a store
    without it had it dropped. `agcredit audit upgrade-store` re-installed it as "a store created before it" — after
    a TRUNCATE and the first records inserted again, verify then said OK with the last records gone. Now writers
    refuse the store without pointing at the upgrade, and the upgrade refuses it, nothing changed."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from tests.underwriting.test_store import raw

    url = _fresh(pg_url)
    with DecisionStore(url) as store:
        store.append(make_items(3, start=700), operator="op")
    raw(url, "DROP TRIGGER agc_decisions_no_truncate ON agc_decisions")
    with pytest.raises(StoreError, match="no_truncate are missing or disabled") as err:
        DecisionStore(url)
    assert "upgrade-store" not in str(err.value)
    before = _rows(url)
    res = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", url])
    assert res.exit_code == 2 and "does not re-install a dropped guard" in res.stderr, res.output
    assert _rows(url) == before and not _has_truncate_guard(url)


def test_a_guard_enabled_for_replication_only_is_reported(pg_url: str) -> None:
    """`ALTER TABLE ... ENABLE REPLICA TRIGGER` keeps a guard that never fires in an ordinary session (a record
    deleted through it); verify and the writers took it for enabled (only 'D' was read as disabled)."""
    from tests.underwriting.test_store import raw

    url = _fresh(pg_url)
    with DecisionStore(url) as store:
        store.append(make_items(3, start=740), operator="op")
    raw(url, "ALTER TABLE agc_decisions ENABLE REPLICA TRIGGER agc_decisions_no_change",
        "DELETE FROM agc_decisions WHERE seq = 3")
    res = verify_store(url)
    assert (res.ok, res.count) == (False, 2) and "no_change are missing or disabled" in str(res.problem), res
    with pytest.raises(StoreError, match="missing or disabled.*nothing was written"):
        DecisionStore(url)


def test_a_store_in_a_schema_whose_name_is_quoted(pg_url: str) -> None:
    """A bank's schema named "Bank Ops" (search_path): PostgreSQL prints the guard as ON "Bank Ops".agc_decisions,
    which the guard check read as altered — every writer refused a store it had just created."""
    url = _fresh(pg_url)
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql('CREATE SCHEMA "Bank Ops"')
        conn.exec_driver_sql(f'ALTER DATABASE {name} SET search_path = "Bank Ops"')
    engine.dispose()
    with DecisionStore(url) as store:
        store.append(make_items(2, start=760), operator="op")
    with DecisionStore(url) as store:
        store.append(make_items(1, start=770), operator="op")
        assert store.verify().ok and store.count() == 3
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT schemaname FROM pg_tables WHERE tablename = 'agc_decisions'")) == "Bank Ops"
    engine.dispose()


@pytest.mark.parametrize("case", ["tampered", "dropped", "head"])
def test_upgrade_refuses_a_broken_chain_or_a_dropped_guard(pg_url: str, case: str) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app
    from tests.underwriting.test_store import raw

    url = _fresh(pg_url)
    with DecisionStore(url) as store:
        store.append(make_items(3, start=720), operator="op")
    steps: list[str] = []
    if case == "tampered":
        steps += ["ALTER TABLE agc_decisions DISABLE TRIGGER agc_decisions_no_change",
                  "UPDATE agc_decisions SET body = replace(body, 'REDUCE', 'APPROVE') WHERE seq = 2",
                  "ALTER TABLE agc_decisions ENABLE TRIGGER agc_decisions_no_change"]
    elif case == "dropped":
        steps += ["ALTER TABLE agc_decisions DISABLE TRIGGER agc_decisions_no_change"]
    raw(url, *steps)
    before = _rows(url)
    extra = ["--expect-head", "ab" * 32] if case == "head" else []
    res = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", url, *extra])
    assert res.exit_code == 2 and res.stdout == "", res.output
    assert res.stderr.startswith("error: decision store ") and res.stderr.count("\n") == 1
    assert {"tampered": "the chain is broken at record 2", "dropped": "agc_decisions_no_change are missing, "
            "disabled or altered", "head": "records were removed from its end"}[case] in res.stderr
    assert "nothing was changed" in res.stderr
    assert _rows(url) == before


@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
def test_concurrent_writers_keep_one_chain_under_a_stricter_default_isolation(pg_url: str, level: str) -> None:
    """A bank's database set to `default_transaction_isolation = 'repeatable read'` (or serializable): the second of
    two concurrent writers took its snapshot before the first committed (its advisory-lock query was its first
    statement), did not see the first one's records and failed ("duplicate key" / "could not serialize access"),
    nothing written. The store's transactions now run READ COMMITTED whatever the default: both write, one chain."""
    import threading
    import time

    url = _fresh(pg_url)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET default_transaction_isolation = '{level}'")
    engine.dispose()
    with DecisionStore(url) as first, DecisionStore(url) as second:
        second.count()  # connected before either writes
        errors: list[BaseException] = []

        def other() -> None:
            try:
                second.append(make_items(3, start=760), operator="op2")
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        thread = threading.Thread(target=other)

        def started(n: int) -> None:  # inside the first writer's transaction: the second waits for the lock
            if n == 1:
                thread.start()
                time.sleep(1.5)

        first._on_insert = started
        first.append(make_items(3, start=750), operator="op1")
        thread.join(60)
        assert not errors, errors
        res = first.verify()
        assert (res.ok, res.count) == (True, 6)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_snapshot_reads_the_store_as_of_its_first_read(pg_url: str, tmp_path: Path, backend: str) -> None:
    """Inside ``snapshot()`` every read sees the store as of the first one: records another writer commits meanwhile
    are seen by none of them (PostgreSQL: one REPEATABLE READ transaction; a SQLite store opened to write: one read
    transaction in WAL mode); outside it, each read sees them; a nested snapshot is the outer one."""
    url = _fresh(pg_url) if backend == "postgresql" else f"sqlite:///{tmp_path}/d.db"
    with DecisionStore(url) as writer:
        writer.append(make_items(3), operator="t")
    reader = DecisionStore(url, create=False) if backend == "sqlite" else DecisionStore(url, create=False,
                                                                                       read_only=True)
    try:
        with reader.snapshot():
            assert reader.count() == 3
            with DecisionStore(url) as writer:
                writer.append(make_items(2, start=3), operator="t")
            assert reader.count() == 3 and len(reader.records("2025")) == 3
            with reader.snapshot():
                assert reader.count() == 3
        assert reader.count() == 5 and len(reader.records("2025")) == 5
    finally:
        reader.close()


def test_a_snapshot_waiting_for_an_exclusive_lock_sees_what_its_holder_committed(pg_url: str) -> None:
    """PostgreSQL's rule for REPEATABLE READ: take the locks before the first query, or the snapshot predates what
    the lock's holder commits. A snapshot begun while another session holds an exclusive lock on the store's tables
    and writes under it waits for it, then sees its rows."""
    import threading
    import time

    url = _fresh(pg_url)
    with DecisionStore(url) as writer:
        writer.append(make_items(3), operator="t")
    locked, done = threading.Event(), threading.Event()

    def holder() -> None:
        engine = sa.create_engine(url)
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("LOCK TABLE agc_meta IN ACCESS EXCLUSIVE MODE")
            conn.exec_driver_sql("INSERT INTO agc_meta (key, value) VALUES ('under-the-lock', 'x')")
            locked.set()
            time.sleep(1.5)
        engine.dispose()
        done.set()

    reader = DecisionStore(url, create=False, read_only=True)  # opened first: opening reads the store
    t = threading.Thread(target=holder)
    t.start()
    assert locked.wait(30)
    try:
        with reader.snapshot():
            assert done.is_set()  # it waited for the holder
            rows = reader.table_rows("agc_meta")
            assert rows is not None and "under-the-lock" in set(rows["key"])
            with pytest.raises(RuntimeError, match="inside snapshot"):
                reader.append(make_items(1, start=9), operator="t")
    finally:
        reader.close()
        t.join()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_snapshot_pins_the_connection_of_its_own_thread_only(pg_url: str, tmp_path: Path, backend: str) -> None:
    """One store object read by two threads while one of them is inside ``snapshot()``: the snapshot's thread reads
    through its pinned connection (the store as of its first read), the other thread on a connection of its own —
    it sees a record appended after the snapshot began, and never reads on the snapshot's connection or transaction
    (the pin was per store object: the second thread read the first's snapshot, on SQLite on a connection made in
    another thread)."""
    import threading

    url = _fresh(pg_url) if backend == "postgresql" else f"sqlite:///{tmp_path}/d.db"
    with DecisionStore(url) as writer:
        writer.append(make_items(3), operator="t")
    st = DecisionStore(url, create=False)
    seen: dict[str, object] = {}
    inside, appended, other_done = threading.Event(), threading.Event(), threading.Event()

    def snapshot_thread() -> None:
        try:
            with st.snapshot():
                seen["first"] = st.count()
                inside.set()
                assert other_done.wait(60)
                seen["pinned"] = st._pinned
                seen["again"] = st.count()
        except BaseException as e:  # noqa: BLE001 - reported below
            seen["error"] = e

    def other_thread() -> None:
        try:
            assert inside.wait(60) and appended.wait(60)
            seen["other_pinned"] = st._pinned  # this thread opened no snapshot
            with st._read() as conn:
                seen["other_conn"] = conn
            seen["other"] = st.count()
            seen["other_records"] = len(st.records("2025"))
        except BaseException as e:  # noqa: BLE001 - reported below
            seen["other_error"] = e
        finally:
            other_done.set()

    a, b = threading.Thread(target=snapshot_thread), threading.Thread(target=other_thread)
    a.start()
    b.start()
    try:
        assert inside.wait(60)
        with DecisionStore(url) as writer:  # after the snapshot began
            writer.append(make_items(1, start=3), operator="t")
        appended.set()
        a.join(60)
        b.join(60)
        assert "error" not in seen and "other_error" not in seen, seen
        assert seen["first"] == 3 and seen["again"] == 3  # the snapshot's thread: the store as of its first read
        assert seen["other_pinned"] is None and seen["other_conn"] is not seen["pinned"]
        assert seen["other"] == 4 and seen["other_records"] == 4  # the other thread: the record appended since
        assert st._pinned is None and st.count() == 4  # this (third) thread, and after the snapshot
    finally:
        appended.set()
        st.close()
