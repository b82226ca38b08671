"""The decision store's connections (private to underwriting.store): the serialised write transaction, reads, the
PostgreSQL table locks taken by polling, and whether a store exists yet — a base of
:class:`underwriting.store.DecisionStore`."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from underwriting._store_files import new_sqlite_file, store_error
from underwriting._store_schema import CHAIN_LOCK_KEY, decisions, lock_timeout, meta, wait_for_lock
from underwriting.errors import StoreError


class StoreConnections:
    """Connections, transactions and locks of :class:`~underwriting.store.DecisionStore` (which sets the attributes
    below in its ``__init__``)."""

    url: str
    shown_url: str
    dialect: str
    read_only: bool
    _engine: Engine
    _deferred: bool

    def _error(self, e: BaseException) -> StoreError:
        return store_error(self.url, e)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One serialised write transaction (SQLite BEGIN IMMEDIATE; PostgreSQL advisory lock), the lock taken by
        polling: at most ``AGCREDIT_LOCK_TIMEOUT`` seconds (default 300), a notice on stderr after a few, SIGTERM
        honoured meanwhile (:func:`~underwriting._store_schema.wait_for_lock`)."""
        try:
            with self._engine.begin() as conn:
                if self.dialect == "postgresql":
                    limit = lock_timeout()
                    wait_for_lock(lambda: bool(conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                                           {"k": CHAIN_LOCK_KEY})),
                                  lambda: self._pg_holder(conn, advisory=True), shown=self.shown_url, limit=limit)
                    self._pg_table_locks(conn, "ROW EXCLUSIVE", limit)
                yield conn
        except (DBAPIError, SQLAlchemyError) as e:
            raise self._error(e) from None

    @property
    def _pinned(self) -> Connection | None:
        """The connection every read of *this thread* uses inside :meth:`snapshot` (None outside one, and in every
        other thread: a thread reading through the same store object meanwhile reads on its own connection, never on
        the snapshot's transaction — the pin was per store object, and a second thread read the first's snapshot)."""
        return getattr(self._pins(), "conn", None)

    @_pinned.setter
    def _pinned(self, conn: Connection | None) -> None:
        self._pins().conn = conn

    def _pins(self) -> threading.local:
        """The store object's per-thread pins (made on first use; ``dict.setdefault`` is atomic, so two threads
        asking at once get the same one)."""
        return self.__dict__.setdefault("_pin_local", threading.local())  # type: ignore[no-any-return]

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside reads one snapshot of the store, as of its first read: on PostgreSQL one REPEATABLE READ
        transaction, so records or shadow rows another run commits meanwhile are seen by no read of it, not by some
        (a report reading the records, then the shadow rows); a SQLite store opened read only is one private copy
        already, and a SQLite store opened to write reads in one transaction too. Nested: the outer one holds. For
        reading only: :meth:`append` refuses inside one (its records would not be seen by the snapshot's reads).
        Per thread: only the thread that opened it reads through it; another thread reading through the same store
        object meanwhile reads as outside one (on a connection of its own)."""
        if self._pinned is not None:
            yield
            return
        self._refuse_pending()
        try:
            tables: list[str] = []
            if self.dialect == "postgresql":  # a conflicting lock waited for (bounded, said) as by every read, and
                with self._read() as probe:   # the store's tables found, on a connection of their own
                    tables = self._pg_tables(probe)
            with self._engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                conn.execution_options(agc_read=True)
                with conn.begin():
                    if tables:  # the lock before the transaction's first query fixes its snapshot (PostgreSQL's
                        # rule for REPEATABLE READ): a table rewritten under an exclusive lock is seen after it
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout() * 1000)}ms'")
                        conn.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN ACCESS SHARE MODE")
                    self._pinned = conn
                    try:
                        yield
                    finally:
                        self._pinned = None
        except (DBAPIError, SQLAlchemyError) as e:
            raise self._error(e) from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._pinned is not None:  # inside snapshot(): its one transaction
            yield self._pinned
            return
        self._refuse_pending()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(agc_read=True)
                if self.dialect == "postgresql":  # a LOCK TABLE held elsewhere blocked the first SELECT for good
                    self._pg_table_locks(conn, "ACCESS SHARE", lock_timeout())
                yield conn
        except (DBAPIError, SQLAlchemyError) as e:
            raise self._error(e) from None

    def _refuse_pending(self) -> None:
        if self.pending:  # no tables to read (and a connection would create a new SQLite file)
            raise StoreError(url=self.shown_url, problem="no decision store there yet (it is created with its first "
                                                         "records)")

    @staticmethod
    def _pg_tables(conn: Connection) -> list[str]:
        """The store's tables that exist in the PostgreSQL database ``conn`` reads."""
        return [t for t in (decisions.name, meta.name)
                if conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t})]

    #: the table-lock modes that conflict with the mode a reader or writer takes (pg_locks' names)
    _PG_CONFLICTS = {"ACCESS SHARE": ("AccessExclusiveLock",),
                     "ROW EXCLUSIVE": ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")}

    def _pg_table_locks(self, conn: Connection, mode: str, limit: float) -> None:
        """Take ``mode`` on the store's tables (those that exist) by polling ``LOCK TABLE ... NOWAIT`` (each attempt
        in a savepoint): a table locked by another session (``LOCK TABLE agc_decisions``) is waited for as the write
        lock is — bounded, said, SIGTERM honoured — instead of blocking the first statement on it."""
        tables = self._pg_tables(conn)
        if not tables:
            return

        def try_once() -> bool:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN {mode} MODE NOWAIT")
                return True
            except DBAPIError as e:
                if getattr(e.orig, "pgcode", None) == "55P03":  # lock_not_available
                    return False
                raise

        wait_for_lock(try_once, lambda: self._pg_holder(conn, tables=tables, modes=self._PG_CONFLICTS[mode]),
                      shown=self.shown_url, limit=limit, what=f"a lock on the decision store's table(s) "
                                                              f"{', '.join(tables)}")

    @staticmethod
    def _pg_holder(conn: Connection, *, advisory: bool = False, tables: Sequence[str] = (),
                   modes: Sequence[str] = ()) -> int | None:
        """The pid of a session holding the chain's advisory lock (or a conflicting lock on ``tables``), where
        pg_locks shows it to this role; else None."""
        with conn.begin_nested():
            if advisory:  # a bigint key: classid its high 32 bits, objid its low ones, objsubid 1
                pid = conn.scalar(text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
                    "AND objid = CAST(:k AS bigint)::oid AND objsubid = 1 AND pid <> pg_backend_pid() LIMIT 1"),
                    {"k": CHAIN_LOCK_KEY})
            else:
                pid = conn.scalar(text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'relation' AND granted AND pid <> pg_backend_pid() "
                    "AND relation = ANY(CAST(:t AS regclass[])) AND mode = ANY(:m) ORDER BY pid LIMIT 1"),
                    {"t": list(tables), "m": list(modes)})
        return int(pid) if pid else None

    def _exists(self) -> bool:
        """Whether the store exists: a SQLite file holding something (an absent or empty one is not opened: SQLite
        would create it), with either agcredit table; any other database with either table."""
        if new_sqlite_file(self.url) is not None:
            return False
        try:
            with self._engine.connect() as conn:
                found = inspect(conn)
                return bool(found.has_table(meta.name) or found.has_table(decisions.name))
        except (DBAPIError, SQLAlchemyError) as e:
            raise self._error(e) from None

    @property
    def pending(self) -> bool:
        """True while a store opened with ``defer=True`` does not exist yet: it holds no records, cannot be read,
        and is created by the first :meth:`append` that writes records."""
        return self._deferred and not self._exists()
