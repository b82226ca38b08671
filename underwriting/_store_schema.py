"""Tables, triggers, engines and hashing of the decision store (private to underwriting.store)."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from features.errors import UserInputError
from underwriting.errors import StoreError
from underwriting.records import canonical_json, sha256_hex

__all__ = ["SCHEMA_VERSION", "metadata", "decisions", "meta", "make_engine", "safe_url", "install_triggers",
           "record_hash", "record_id_for", "ping", "CHAIN_LOCK_KEY", "IDENTIFIER_KEYS", "GUARD_TRIGGERS",
           "LATER_GUARD_TRIGGERS", "GUARDS_KEY", "guard_intact", "DUE_RUN_LOCK_KEY", "ENV_LOCK_TIMEOUT",
           "lock_timeout", "wait_for_lock"]

SCHEMA_VERSION = "1"
#: advisory-lock key that serialises chain appends on PostgreSQL ("agcd" in ASCII)
CHAIN_LOCK_KEY = 0x61676364
#: session advisory-lock key held by a ``reunderwrite --due`` run for its whole run ("agcr"): a second run on the
#: same store finds it taken and does nothing
DUE_RUN_LOCK_KEY = 0x61676372
#: environment variable: how many seconds a run waits for the decision store's write lock (or a table lock) before it
#: gives up with one line, nothing written (default :data:`DEFAULT_LOCK_TIMEOUT`)
ENV_LOCK_TIMEOUT = "AGCREDIT_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 300.0
#: after this many seconds of waiting a one-line notice goes to stderr (a silent wait looked like a hung job)
LOCK_NOTICE_AFTER = 3.0
#: the pause between two attempts to take a lock: short, so SIGTERM (raised in the main thread between attempts)
#: ends the wait promptly — a blocking libpq or SQLite call does not return to Python until it gets the lock
LOCK_POLL_SECONDS = 0.2
#: body keys that would mean a personal identifier reached the store
IDENTIFIER_KEYS = frozenset({"national_id", "farmer_name", "phone", "phone_number", "id_number", "name_of_farmer"})

metadata = MetaData()

meta = Table(
    "agc_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

decisions = Table(
    "agc_decisions", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("record_id", String(32), nullable=False, unique=True),
    Column("prev_hash", String(64), nullable=True),
    Column("record_hash", String(64), nullable=False),
    Column("written_at", String(32), nullable=False),
    Column("operator", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("supersedes", String(32), nullable=True),
    Column("application_id", String(128), nullable=False),
    Column("farmer_token", String(128), nullable=False),
    Column("season", String(16), nullable=False),
    Column("as_of", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("limit", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason_codes", Text, nullable=True),
    Column("body_hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
)
Index("ix_agc_decisions_application", decisions.c.application_id, decisions.c.seq)
Index("ix_agc_decisions_season", decisions.c.season)
Index("ix_agc_decisions_farmer", decisions.c.farmer_token)

#: SQLite's INSERT OR REPLACE (REPLACE INTO) deletes the conflicting row without firing delete triggers (unless
#: recursive_triggers is on): a record rewritten with consistent hashes in place passed both guards below
_SQLITE_NO_REPLACE = (
    "CREATE TRIGGER IF NOT EXISTS agc_decisions_no_replace BEFORE INSERT ON agc_decisions "
    "WHEN EXISTS (SELECT 1 FROM agc_decisions WHERE seq = NEW.seq OR record_id = NEW.record_id) "
    "BEGIN SELECT RAISE(ABORT, 'agc_decisions is append-only'); END")
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS agc_decisions_no_update BEFORE UPDATE ON agc_decisions "
    "BEGIN SELECT RAISE(ABORT, 'agc_decisions is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS agc_decisions_no_delete BEFORE DELETE ON agc_decisions "
    "BEGIN SELECT RAISE(ABORT, 'agc_decisions is append-only'); END",
    _SQLITE_NO_REPLACE,
)
_PG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION agc_decisions_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'agc_decisions is append-only'; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS agc_decisions_no_change ON agc_decisions",
    "CREATE TRIGGER agc_decisions_no_change BEFORE UPDATE OR DELETE ON agc_decisions "
    "FOR EACH ROW EXECUTE FUNCTION agc_decisions_append_only()",
    "DROP TRIGGER IF EXISTS agc_decisions_no_truncate ON agc_decisions",
    "CREATE TRIGGER agc_decisions_no_truncate BEFORE TRUNCATE ON agc_decisions "
    "FOR EACH STATEMENT EXECUTE FUNCTION agc_decisions_append_only()",
)


#: the guard triggers of each backend (all must be present and enabled for a store to be written)
GUARD_TRIGGERS = {"sqlite": ("agc_decisions_no_delete", "agc_decisions_no_replace", "agc_decisions_no_update"),
                  "postgresql": ("agc_decisions_no_change", "agc_decisions_no_truncate")}
#: guard triggers that stores created by an earlier release lack, and the statement adding each (`agcredit audit
#: upgrade-store`); any other missing guard trigger was dropped (evidence, never re-installed). PostgreSQL stores have
#: had both of theirs since the first release (PostgreSQL's INSERT ... ON CONFLICT DO UPDATE fires the update guard).
LATER_GUARD_TRIGGERS: dict[str, dict[str, str]] = {"sqlite": {"agc_decisions_no_replace": _SQLITE_NO_REPLACE}}
#: agc_meta key naming the guard triggers a store was created with (stores of earlier releases have none): a later
#: guard the store was created with, or had added, and now lacks was dropped — never re-installed by an upgrade
GUARDS_KEY = "guards"
#: agc_meta key holding the check (:func:`features.identity.key_check`) of the token key the store's farmer tokens were
#: made with: recorded by the first append made with ``AGCREDIT_TOKEN_KEY`` set (a store of an earlier release: its
#: next such append); writers under another key are refused
TOKEN_KEY_CHECK = "token_key_check"
#: agc_meta key written beside :data:`TOKEN_KEY_CHECK` when a check is recorded (since 2026-12-07, seventh): a store
#: with this row but no check had the check removed — writers refuse it, `audit verify` warns (a review deleted the
#: check and a run under another key wrote 153 records, exit 0)
KEY_CHECKS_KEY = "token_key_recorded"


def _norm(sql: str) -> str:
    return " ".join(str(sql).split()).lower()


#: each guard trigger's definition as installed (SQLite keeps the statement without IF NOT EXISTS; PostgreSQL's
#: pg_get_triggerdef and the function's source): one that differs (a WHEN clause, UPDATE OF columns, a function that
#: returns instead of raising) may no longer refuse anything
_SQLITE_GUARD_SQL = {stmt.split()[5]: _norm(stmt.replace("IF NOT EXISTS ", "")) for stmt in _SQLITE_TRIGGERS}
#: an optional schema qualifier as pg_get_triggerdef prints it (quoted when the name needs it: "Bank Ops".)
_QUAL = r'(?:(?:"(?:[^"]|"")+"|[^\s."]+)\.)?'
_PG_GUARD_DEF = {
    "agc_decisions_no_change": re.compile(
        rf"create trigger agc_decisions_no_change before (?:delete or update|update or delete) on {_QUAL}agc_decisions "
        rf"for each row execute (?:function|procedure) {_QUAL}agc_decisions_append_only\(\)"),
    "agc_decisions_no_truncate": re.compile(
        rf"create trigger agc_decisions_no_truncate before truncate on {_QUAL}agc_decisions for each statement "
        rf"execute (?:function|procedure) {_QUAL}agc_decisions_append_only\(\)"),
}
_PG_GUARD_SRC = _norm(_PG_TRIGGERS[0].split("$$")[1])


def guard_intact(dialect: str, name: str, definition: str, source: str | None = None) -> bool:
    """Whether a guard trigger's stored ``definition`` (and, PostgreSQL, its function's ``source``) is the one
    :func:`install_triggers` creates."""
    if dialect == "sqlite":
        return _norm(definition) == _SQLITE_GUARD_SQL.get(name)
    pattern = _PG_GUARD_DEF.get(name)
    return pattern is not None and pattern.fullmatch(_norm(definition)) is not None and _norm(source or "") == \
        _PG_GUARD_SRC


def install_triggers(conn: Any, dialect: str) -> None:
    """Create the triggers that reject UPDATE and DELETE on the decisions table."""
    for stmt in _SQLITE_TRIGGERS if dialect == "sqlite" else _PG_TRIGGERS:
        conn.exec_driver_sql(stmt)


#: an unparsable URL's user:PASSWORD@, up to its last ``@`` (a password may hold an unencoded ``@``, ``/``, ``?`` or
#: ``#``): more masked rather than a password's end shown
_PASSWORD_TO_LAST_AT = re.compile(r"(://[^:/?#]*:).*@")
#: a URL typed without its ``scheme://`` (``user:PASSWORD@host/db``, ``postgresql:/user:PASSWORD@host``): everything
#: from the first ``:`` to the last ``@`` is masked (it was shown whole in "not a database URL")
_NO_SCHEME_PASSWORD = re.compile(r"^([^:@]*:).*@")
#: secrets passed as query parameters (libpq reads ``?password=``)
_SECRET_QUERY = re.compile(r"((?:password|passwd|pwd|token|secret)=)[^&]*", re.IGNORECASE)


def safe_url(url: str) -> str:
    """The URL with any password (user:PASSWORD@ or a password=/token= query value) masked, for messages."""
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
        if parsed.drivername.startswith("sqlite") and parsed.database and not parsed.query:
            shown = f"{parsed.drivername}:///{parsed.database}"  # the file path as typed, not percent-encoded
        elif parsed.host and "@" in parsed.host:
            # a password typed with an unencoded '@' ends, for SQLAlchemy, at its first '@': the rest of it is read as
            # the host's start — the host is what follows the last '@' (a host never holds one)
            shown = parsed.set(host=parsed.host.rsplit("@", 1)[1]).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown masked by regex instead
        shown = _PASSWORD_TO_LAST_AT.sub(r"\1***@", url) if "://" in url else _NO_SCHEME_PASSWORD.sub(r"\1***@", url)
    return _SECRET_QUERY.sub(r"\1***", shown)


def make_engine(url: str, *, read_only: bool = False, immutable: bool = True) -> Engine:
    """An engine for ``url``: SQLite with BEGIN IMMEDIATE transactions and WAL, or PostgreSQL. ``read_only`` (a SQLite
    file in a folder that cannot be written: a read-only mount, an auditor's copy) opens the file read-only without
    the WAL's shared-memory file, which SQLite cannot create there (it said "unable to open database file");
    ``immutable=False`` opens it read-only (``mode=ro``) with its WAL read (a private copy, or a store in a folder that
    can be written: a writer may change it meanwhile). PostgreSQL with ``read_only``: every session is read only
    (``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY``)."""
    shown = safe_url(url)
    try:
        parsed = make_url(url)
    except ValueError:  # e.g. a port that is not a number
        raise StoreError(url=shown, problem="not a valid database URL (its host or port cannot be read)") from None
    except ArgumentError:
        raise StoreError(url=shown, problem="not a database URL (expected e.g. sqlite:///decisions.db or "
                                            "postgresql+psycopg2://user@host/db)") from None
    if parsed.drivername == "postgresql":  # SQLAlchemy 2.1 defaults to psycopg 3; agcredit ships psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg2")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        hint = (": write the scheme postgresql:// (libpq's and some hosts' postgres:// spelling is not read)"
                if backend == "postgres" else " (expected sqlite or postgresql)")
        raise StoreError(url=shown, problem=f"unsupported database '{backend}'{hint}")
    if parsed.host and "@" in parsed.host:  # the server's error would name the "host": the password's end
        raise StoreError(url=shown, problem="the host holds '@': percent-encode an '@' in the user name or password "
                                            "(%40)")
    try:
        if backend == "sqlite":
            if read_only and parsed.database and parsed.database != ":memory:":
                parsed = parsed.set(database=f"file:{parsed.database}").update_query_dict(
                    {"mode": "ro", **({"immutable": "1"} if immutable else {}), "uri": "true"})
            limit = lock_timeout()
            engine = create_engine(parsed, connect_args={"timeout": max(limit, 0.001)})
            _sqlite_immediate(engine, read_only=read_only, limit=limit, shown=shown)
        else:
            # READ COMMITTED whatever the database's default: a writer's statements after the advisory lock must see
            # the records of the writer it waited for (under repeatable read / serializable its snapshot predates them)
            engine = create_engine(parsed, pool_pre_ping=False, isolation_level="READ COMMITTED",
                                   connect_args={"connect_timeout": 5})
            _pg_lock_timeout(engine, lock_timeout(), read_only=read_only)
    except ImportError as e:  # a driver not installed (postgresql+psycopg:// names psycopg 3): name the one shipped
        module = (e.name or str(e)).split(".")[0]
        fix = "; write postgresql:// (or postgresql+psycopg2://), whose driver agcredit ships" \
            if backend == "postgresql" else ""
        raise StoreError(url=shown, problem=f"database driver '{module}' is not installed{fix}") from None
    except (ArgumentError, NoSuchModuleError) as e:
        raise StoreError(url=shown, problem=f"cannot create an engine: {str(e).splitlines()[0]}") from None
    return engine


def lock_timeout() -> float:
    """Seconds a run waits for a lock on the decision store: ``$AGCREDIT_LOCK_TIMEOUT``, else 300."""
    raw = os.environ.get(ENV_LOCK_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise UserInputError(f"{ENV_LOCK_TIMEOUT}={raw!r}: expected a number of seconds (0 or more) to wait for the "
                             "decision store's lock")
    return value


def _notice(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def wait_for_lock(try_once: Callable[[], bool], holder: Callable[[], int | None], *, shown: str, limit: float,
                  what: str = "the decision store's write lock") -> None:
    """Take a lock by polling ``try_once`` (True: taken) every :data:`LOCK_POLL_SECONDS`: after
    :data:`LOCK_NOTICE_AFTER` seconds one line on stderr says the run is waiting (and for whom: ``holder()``, the
    holding session's pid where the database shows it); after ``limit`` seconds a :class:`StoreError` (nothing
    written). Between attempts the process is in Python, so SIGTERM and Ctrl-C end the wait at once."""
    if try_once():
        return
    start, said = time.monotonic(), False
    while True:
        waited = time.monotonic() - start
        if waited >= limit:
            pid = _holder(holder)
            raise StoreError(url=shown, problem=(
                f"{what} has been held by another session{f' (pid {pid})' if pid else ''} for more than {limit:g} s "
                f"(the limit; {ENV_LOCK_TIMEOUT} sets it): gave up waiting, nothing was written — re-run once that "
                "session has finished"))
        if not said and waited >= LOCK_NOTICE_AFTER:
            pid = _holder(holder)
            _notice(f"waiting for {what} (held by another session{f', pid {pid}' if pid else ''}) — {shown}; up to "
                    f"{limit:g} s ({ENV_LOCK_TIMEOUT})…")
            said = True
        time.sleep(max(0.0, min(LOCK_POLL_SECONDS, limit - waited)))
        if try_once():
            return


def _holder(holder: Callable[[], int | None]) -> int | None:
    try:
        return holder()
    except Exception:  # noqa: BLE001 - who holds it is a courtesy: a role that cannot see it gets no pid
        return None


def _sqlite_immediate(engine: Engine, read_only: bool = False, *, limit: float = DEFAULT_LOCK_TIMEOUT,
                      shown: str = "") -> None:
    """pysqlite's own transaction handling off; every transaction is BEGIN IMMEDIATE (one writer at a time), taken
    by polling (:func:`wait_for_lock`: a notice after a few seconds, SIGTERM honoured, ``limit`` seconds at most); the
    busy timeout of the other statements is ``limit`` too."""
    busy_ms = max(1, int(limit * 1000))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if not read_only:  # switching to WAL writes the file
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get("agc_read", False):
            conn.exec_driver_sql("BEGIN")
            return
        import sqlite3

        raw = conn.connection.dbapi_connection

        def try_once() -> bool:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as e:
                if "locked" in str(e) or "busy" in str(e):
                    return False
                raise

        raw.execute(f"PRAGMA busy_timeout = {min(busy_ms, 100)}")  # each attempt short: the wait is polled
        try:
            wait_for_lock(try_once, lambda: None, shown=shown, limit=limit)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {busy_ms}")


def _pg_lock_timeout(engine: Engine, limit: float, *, read_only: bool = False) -> None:
    """Every session waits at most ``limit`` seconds for any lock (PostgreSQL ``lock_timeout``; its 0 would mean no
    limit): the backstop for a statement blocked on a lock the store does not take by polling. ``read_only``: every
    session's transactions are read only (a write is refused by the server)."""
    ms = max(1, int(limit * 1000))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"SET lock_timeout = {ms}")
        if read_only:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cur.close()
        dbapi_conn.commit()


def record_id_for(idempotency_key: str) -> str:
    """The record id derived from an idempotency key: ``D`` + the first 24 hex digits of its SHA-256."""
    return "D" + sha256_hex(idempotency_key)[:24]


def record_hash(row: dict[str, Any]) -> str:
    """SHA-256 over the envelope, the flat indexed columns and the body hash of one record."""
    parts = [row["record_id"], int(row["seq"]), row["prev_hash"], row["written_at"], row["operator"], row["kind"],
             row["supersedes"], row["body_hash"], row["application_id"], row["farmer_token"], row["season"],
             row["as_of"], row["outcome"], int(row["limit"]), row["currency"], row["reason_codes"]]
    return sha256_hex(canonical_json(parts))


def ping(engine: Engine) -> None:
    """Open and close one connection (raises the driver's error)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
