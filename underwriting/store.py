"""The append-only, hash-chained decision store (SQLite by default, PostgreSQL by URL).

Each :class:`~underwriting.records.DecisionItem` becomes one immutable record. The
envelope is the record id (``"D"`` + the first 24 hex digits of the SHA-256 of the
item's idempotency key), its position ``seq`` in the chain, the previous record's hash,
its own ``record_hash``, the UTC time it was written and the operator. ``record_hash``
is the SHA-256 of the canonical JSON list (record_id, seq, prev_hash, written_at,
operator, kind, supersedes, body_hash, application_id, farmer_token, season, as_of,
outcome, limit, currency, reason_codes): the envelope, the body hash and every flat
indexed column, so that no stored field can change unseen.

Appends are idempotent (a record id already present adds nothing), commit once per call
(all or nothing: a run killed half-way leaves no record; its re-run writes them all) and
are serialised (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction advisory lock) so
concurrent writers cannot fork the chain. A new store opened by ``underwrite`` (``defer=True``) is created with its
first records, in their transaction: a run killed before leaves no tables. Triggers reject UPDATE and DELETE. Only the
pseudonymous ``farmer_token`` is stored; a body carrying identifier keys is refused.

The URL comes from the argument, else ``AGCREDIT_STORE_URL``, else
``sqlite:///agcredit-decisions.db`` in the working directory.

Lock waits are bounded: a writer waiting for the write lock (another run appending, an
operator's session holding the chain's advisory lock or a ``LOCK TABLE``) waits at most
``AGCREDIT_LOCK_TIMEOUT`` seconds (default 300; ``0``: not at all), prints one line on
stderr once it has waited a few seconds ("waiting for the decision store's write lock
(held by another session, pid N)…", the pid where the database shows it to the role), then
gives up with one line (a :class:`StoreError`: exit 2, nothing written). The locks are
taken by polling (PostgreSQL ``pg_try_advisory_xact_lock`` and ``LOCK TABLE ... NOWAIT``,
SQLite ``BEGIN IMMEDIATE`` with a short busy timeout), so SIGTERM ends the wait at once;
PostgreSQL sessions also get ``lock_timeout`` = the same bound, and SQLite its busy timeout,
for any other statement. :func:`run_lock` keeps a second ``reunderwrite --due`` off a store
while one runs (it does not wait).
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, insert, inspect, make_url, select, text
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from features.errors import UserInputError
from underwriting._line_links import LineLinks, line_links
from underwriting._store_schema import (
    CHAIN_LOCK_KEY,
    DUE_RUN_LOCK_KEY,
    GUARD_TRIGGERS,
    GUARDS_KEY,
    IDENTIFIER_KEYS,
    LATER_GUARD_TRIGGERS,
    SCHEMA_VERSION,
    decisions,
    guard_intact,
    install_triggers,
    lock_timeout,
    make_engine,
    meta,
    metadata,
    record_hash,
    record_id_for,
    safe_url,
    wait_for_lock,
)
from underwriting.contracts import DECISIONS, OUTCOMES, check_decisions
from underwriting.errors import AuditChainError, StoreChangedError, StoreError
from underwriting.records import KINDS, DecisionItem, sha256_hex

__all__ = ["DEFAULT_URL", "ENV_URL", "RunInProgress", "run_lock", "DecisionStore", "DecisionRecord", "AppendResult", "VerifyResult", "UpgradeResult",
           "policy_block", "policy_meta_key", "record_id_for", "record_from_row", "record_row", "records_frame", "store_url",
           "verify_store", "upgrade_store", "export_decisions"]

DEFAULT_URL = "sqlite:///agcredit-decisions.db"
ENV_URL = "AGCREDIT_STORE_URL"
EXTRA_COLUMNS = ("seq", "kind", "supersedes")
_LOOKUP_CHUNK = 500


def _stored(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Those of the record ``ids`` stored, looked up in chunks (bound parameters)."""
    seen: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        seen.update(conn.scalars(select(decisions.c.record_id).where(
            decisions.c.record_id.in_(ids[start:start + _LOOKUP_CHUNK]))))
    return seen


def policy_meta_key(policy_id: str, version: str) -> str:
    """The store's meta key under which a policy's (id, version) registers its content hash."""
    import hashlib

    return "policy:" + hashlib.sha256(f"{policy_id}\0{version}".encode()).hexdigest()[:40]


def store_url(url: str | None = None) -> str:
    """The store URL in force: the argument, else ``AGCREDIT_STORE_URL``, else the SQLite default."""
    return url or os.environ.get(ENV_URL) or DEFAULT_URL


def _sqlite_file(url: str, *, plain: bool = False) -> Path | None:
    """The database file of a file-backed SQLite URL (``plain``: one without query parameters), else None (another
    database, ``:memory:``, or a URL make_engine reports)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or (plain and parsed.query):
        return None
    return Path(parsed.database)


def _require_sqlite_file(url: str, shown: str) -> None:
    """For a SQLite URL, a :class:`StoreError` unless its database file exists and is not empty (SQLite would
    silently create one at a mistyped path)."""
    path = _sqlite_file(url)
    if path is not None and (not path.is_file() or path.stat().st_size == 0):
        raise StoreError(url=shown, problem="no database file there (check --store / AGCREDIT_STORE_URL; "
                                            "`agcredit underwrite` creates the store)")


def _read_only_sqlite(url: str) -> bool:
    """True for a SQLite URL whose database file is in a folder this process cannot write (a read-only mount, an
    auditor's copy) and has no write-ahead log holding records yet to be copied into it (those need the log read)."""
    path = _sqlite_file(url, plain=True)
    if path is None:
        return False
    path = path.resolve()  # a symlink's target: SQLite writes its journal beside the file it reaches
    return not os.access(path.parent, os.W_OK) and not _wal_holds_records(path)


def _wal_holds_records(path: Path) -> bool:
    """Whether the SQLite database file ``path`` has a write-ahead log holding records not yet copied into it."""
    wal = Path(f"{path}-wal")
    return wal.is_file() and wal.stat().st_size > 0


#: the private copies' folder names (in TMPDIR), and the age after which one is a killed reader's leftover
_COPY_PREFIX = "agcredit-store-copy-"
_STALE_COPY_SECONDS = 3600


def _copy_owner(folder: Path) -> tuple[str, int] | None:
    """The host and process a private copy's folder names (``<prefix><host>-<pid>-<random>``), None for a name
    without them (a copy made before they were named)."""
    rest = folder.name[len(_COPY_PREFIX):]
    host = rest.rpartition("-")[0]  # <host>-<pid>-<random>: the random part last
    host, _, pid = host.rpartition("-")
    return (host, int(pid)) if host and pid.isdigit() else None


def _remove_stale_copies() -> None:
    """Remove private store copies left by readers killed outright (SIGTERM, SIGKILL: no close ran) more than
    :data:`_STALE_COPY_SECONDS` ago — each a whole copy of a decision store. A copy whose reader on this host is
    still running is kept however old (a long report or replay reads it still; its age is its creation's)."""
    import shutil
    import tempfile
    import time

    from features.atomic import _alive, _host

    here = _host()
    for old in Path(tempfile.gettempdir()).glob(f"{_COPY_PREFIX}*"):
        try:
            if time.time() - old.stat().st_mtime <= _STALE_COPY_SECONDS:
                continue
            owner = _copy_owner(old)
            if owner is not None and owner[0] == here and _alive(owner[1]):
                continue
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


#: this process's private copies in use: (file, its stamp, its log's stamp) → [folder, readers] — views opened on an
#: unchanged store share one copy (a season's impact opens several), removed when the last of them closes
_COPIES: dict[tuple[str, Any, Any], list[Any]] = {}
_COPIES_LOCK = threading.Lock()


def _release_copy(folder: Path) -> None:
    """A reader of the private copy in ``folder`` closed: the copy removed when it was the last."""
    import shutil

    with _COPIES_LOCK:
        for key, entry in list(_COPIES.items()):
            if entry[0] == folder:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _COPIES[key]
                break
    shutil.rmtree(folder, ignore_errors=True)


def _unwritable(path: Path) -> str | None:
    """What of a SQLite store this process cannot write (its folder, where SQLite keeps its journal, the file, or
    its -wal / -shm), symlinks resolved; None when it can write them all."""
    real = path.resolve()
    if not os.access(real.parent, os.W_OK):
        return f"its folder {real.parent}"
    for f in (real, Path(f"{real}-wal"), Path(f"{real}-shm")):
        if f.exists() and not os.access(f, os.W_OK):
            return f"its file {f.name}"
    return None


def _wal_snapshot(url: str, shown: str) -> tuple[str, Path] | None:
    """For a SQLite URL whose database file is in a folder this process cannot write and whose write-ahead log holds
    records not yet copied into it (a live store's copy on read-only media): the URL of a private copy of the file
    and its log (a new temporary folder, removed on close) and that folder, else None. SQLite reads a WAL only
    through its shared-memory file, which it cannot create beside the store there; ``immutable=1`` would ignore the
    log and its records. Nothing is written beside the store."""
    path = _sqlite_file(url, plain=True)
    if path is None:
        return None
    path = path.resolve()
    if os.access(path.parent, os.W_OK) or not path.is_file():
        return None
    if not _wal_holds_records(path):
        return None
    return _private_copy(url, path, shown)


def _sqlite_wal_mode(path: Path) -> bool:
    """Whether the SQLite database file ``path`` is in WAL mode (its header's file format bytes 18 and 19 are 2; a
    rollback-journal file has 1 there). A file that is no SQLite database: False (SQLite refuses it, unchanged)."""
    try:
        with path.open("rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head[:16] == b"SQLite format 3\x00" and head[18:20] == b"\x02\x02"


def _reader_snapshot(url: str, shown: str) -> tuple[str, Path] | None:
    """For ``read_only`` (:class:`DecisionStore`) on a SQLite store in a folder this process can write: None when
    the file can be opened ``mode=ro`` as it stands — a rollback-journal file (nothing created beside it, nothing
    written), or a WAL file whose -wal and -shm exist (a live store, or one a writer left open: read through its
    shared memory, which readers update; the log is never checkpointed by a read-only connection). A WAL file
    without its shared-memory file (a store closed cleanly, or a copy holding a pending -wal): SQLite would create
    the -wal and -shm beside it and leave them, so it is read in a private copy of the file and its log instead (as
    :func:`_wal_snapshot`; ``immutable=1`` is never used here, a writer may change the store meanwhile)."""
    path = _sqlite_file(url, plain=True)
    if path is None:
        return None
    path = path.resolve()
    if not path.is_file() or not _sqlite_wal_mode(path):
        return None
    if Path(f"{path}-wal").is_file() and Path(f"{path}-shm").is_file():
        return None
    return _private_copy(url, path, shown)


def _stamp(path: Path) -> tuple[int, int] | None:
    """A file's size and modification time (None: no such file), to tell whether it changed while it was copied."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def _private_copy(url: str, path: Path, shown: str) -> tuple[str, Path]:
    """A private copy of the SQLite file ``path`` and its -wal, if it has one holding records (a new temporary
    folder, removed on close): the copy's URL and that folder."""
    import shutil
    import tempfile

    from features.atomic import _host

    wal = Path(f"{path}-wal")
    key = (str(path), _stamp(path), _stamp(wal))
    with _COPIES_LOCK:
        shared = _COPIES.get(key)
        if shared is not None and Path(shared[0]).is_dir():  # the store unchanged since this process copied it
            shared[1] += 1
            return make_url(url).set(database=str(Path(shared[0]) / path.name)).render_as_string(
                hide_password=False), Path(shared[0])
    _remove_stale_copies()
    folder = Path(tempfile.mkdtemp(prefix=f"{_COPY_PREFIX}{_host()}-{os.getpid()}-"))
    try:
        for _ in range(3):  # the log first, then the file; a store changed meanwhile (a writer with the rights) is
            logged = _wal_holds_records(path)  # copied again
            before = [_stamp(f) for f in (wal, path)]
            (folder / f"{path.name}-wal").unlink(missing_ok=True)
            try:
                if logged:
                    shutil.copyfile(wal, folder / f"{path.name}-wal")
                shutil.copyfile(path, folder / path.name)
            except FileNotFoundError:  # the log checkpointed and removed meanwhile: copied again
                if not path.is_file():
                    raise
                continue
            if [_stamp(f) for f in (wal, path)] == before:
                break
        else:
            raise StoreError(url=shown, problem="the store changed three times while it was being read; try again")
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise StoreError(url=shown, problem=f"cannot copy its file and write-ahead log to a temporary folder to read "
                                            f"them ({e.strerror or e}; TMPDIR chooses the folder)") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with _COPIES_LOCK:
        if [_stamp(f) for f in (path, wal)] == list(key[1:]):  # shared only while the store is as it was copied
            _COPIES[key] = [folder, 1]
    return make_url(url).set(database=str(folder / path.name)).render_as_string(hide_password=False), folder


def new_sqlite_file(url: str) -> Path | None:
    """For a SQLite URL whose database file does not exist yet (or is empty), its path; else None. A run that
    would create the store checks this path can be written and creates the file only when it has records to
    append, so a failed or killed run leaves no empty store behind."""
    path = _sqlite_file(url)
    return path if path is not None and (not path.is_file() or path.stat().st_size == 0) else None


def _text_length(column: str) -> int | None:
    """The declared length of a text column of the decisions table (None: unbounded)."""
    length = getattr(decisions.c[column].type, "length", None)
    return int(length) if length is not None else None


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) on ``folder`` for the block: processes creating a store there take turns."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:  # a network file system without flock: the link below still refuses a second store
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _remove_killed_creations(path: Path) -> None:
    """Remove the temporary databases (and their journals) that runs killed while creating the store ``path`` left
    beside it (SIGKILL, a power loss: no cleanup ran): at once when the creating process, named in the file name
    (``.<name>.<host>-<pid>.creating``), was on this host and is gone; else (another host's, or a name without a
    host: an earlier release's) once an hour old — a live creation on another host cannot be told from a killed one."""
    from features.atomic import _alive, _host

    mine = f".{path.name}.{_host()}-"
    for stale in path.parent.glob(f".{path.name}.*.creating*"):
        try:
            pid = stale.name[len(mine):].split(".", 1)[0] if stale.name.startswith(mine) else ""
            try:
                gone = pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))
            except (OverflowError, ValueError):  # not a process id this system has
                gone = False
            if gone or stale.stat().st_mtime < datetime.now().timestamp() - 3600:
                stale.unlink()
        except OSError:
            pass


def append_to_new_sqlite(url: str, path: Path, items: Sequence[DecisionItem], operator: str) -> AppendResult:
    """Create the SQLite store ``path`` (``url``'s database, :func:`new_sqlite_file`) with ``items`` in one step: the
    database is built beside it under a temporary name and linked into place once its records are committed, so a
    run killed meanwhile leaves no store without records (only a hidden temporary file, removed by the next run).
    Another process that created the store first wins: the items are then appended to its store (idempotent)."""
    from features.atomic import _host

    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_killed_creations(path)
    tmp = path.with_name(f".{path.name}.{_host()}-{os.getpid()}.creating")
    tmp_url = make_url(url).set(database=str(tmp)).render_as_string(hide_password=False)
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        with DecisionStore(tmp_url) as staged:
            res = staged.append(items, operator=operator)
        try:
            # the check and the move under one lock on the folder: two runs finding the same empty file would both
            # pass the check, and the second replace would throw the first run's committed store away
            with _folder_lock(path.parent):
                if path.is_file() and path.stat().st_size == 0:
                    os.replace(tmp, path)  # an empty file holds nothing to lose
                else:
                    os.link(tmp, path)  # fails if another run created the store meanwhile
        except FileExistsError:
            with DecisionStore(url) as st:
                return st.append(items, operator=operator)
        return res
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


class RunInProgress(Exception):
    """Another run holding the same run lock (:func:`run_lock`) is in progress on this store."""

    def __init__(self, what: str, who: str) -> None:
        self.what = what
        self.who = who
        super().__init__(f"another {what} run on this store is in progress ({who}); nothing done")


@contextmanager
def run_lock(url: str | None, what: str = "reunderwrite --due") -> Iterator[None]:
    """Hold, for the block, the store's run lock of ``what`` — not waiting: :class:`RunInProgress` (naming the
    holder where it can: ``pid N`` of this host for SQLite, the session's pid on PostgreSQL) when another run holds
    it. PostgreSQL: a session advisory lock (key :data:`~underwriting._store_schema.DUE_RUN_LOCK_KEY`, distinct from
    the chain's) on a connection kept for the run, released when it ends or its session dies; SQLite: ``flock`` on
    ``<database>.due-lock`` beside the database (released when the process ends however it ends; the file stays)."""
    url = store_url(url)
    shown = safe_url(url)
    path = _sqlite_file(url)
    if path is not None:
        real = path.resolve()  # beside the file a symlink reaches (two links to one store share the lock)
        yield from _flock_run_lock(real.with_name(real.name + ".due-lock"), what)
        return
    if make_url(url).get_backend_name() != "postgresql":  # :memory: and the like: one process, nothing to share
        yield
        return
    engine = make_engine(url)
    try:
        try:
            conn = engine.connect()
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": DUE_RUN_LOCK_KEY}))
            pid = None if got else conn.scalar(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
                "AND objid = CAST(:k AS bigint)::oid AND objsubid = 1 LIMIT 1"), {"k": DUE_RUN_LOCK_KEY})
            conn.commit()  # the session lock outlives the transaction: the session is not left idle in one
        except (DBAPIError, SQLAlchemyError) as e:
            raise store_error(url, e) from None
        try:
            if not got:
                raise RunInProgress(what, "its PostgreSQL session" + (f", backend pid {pid}," if pid else "")
                                    + f" holds the run lock of {shown}")
            yield
        finally:
            try:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": DUE_RUN_LOCK_KEY})
                    conn.commit()
                conn.close()
            except (DBAPIError, SQLAlchemyError):  # the session's end releases it anyway
                pass
    finally:
        engine.dispose()


def _flock_run_lock(lock: Path, what: str) -> Iterator[None]:
    import fcntl

    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise RunInProgress(what, f"{holder + ' holds' if holder else 'held:'} {lock}") from None
        except OSError as e:  # a file system without flock: run unguarded rather than never
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
        else:
            before = os.pread(fd, 200, 0).decode(errors="replace").strip()
            if before:  # a holder that ended without its release (below): killed outright, its lock freed with it
                import logging

                logging.getLogger("agcredit.store").warning(
                    "the previous %s run (%s) ended without releasing its run lock %s — killed (SIGKILL, a power "
                    "loss) or run by an earlier release; the lock went with its process: this run goes on, and "
                    "runs again what that run did not finish", what, before, lock)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n".encode(), 0)
        try:
            yield
        finally:  # ended, also by an error (a user error, Ctrl-C): the next run finds the file empty — only a
            os.ftruncate(fd, 0)  # run killed outright leaves its line (an error said "killed (SIGKILL...)" next)
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class AppendResult:
    """What :meth:`DecisionStore.append` did: records written and items already present."""

    written: int
    already_present: int
    record_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain; ``seq``/``record_id``/``problem`` name the first broken record."""

    ok: bool
    count: int
    seq: int | None = None
    record_id: str | None = None
    problem: str | None = None
    #: the last record's seq and hash: kept outside the database (a log, a ticket), it lets a later
    #: ``verify(expect_head=...)`` detect records cut from the end of the chain
    head_seq: int | None = None
    head_hash: str | None = None
    #: the seq of the head given as ``expect_head`` (found in the chain): the records after it were appended since
    expected_head_seq: int | None = None
    #: applications whose records fork (two first records, or two records superseding the same one): the chain's
    #: hashes are intact, but the one shown as current is merely the last written (stores written before the
    #: store refused forks)
    forked: tuple[str, ...] = ()
    #: guard triggers a store created by an earlier release lacks (not evidence): `agcredit audit upgrade-store`
    #: adds them, writers refuse the store until then
    upgrade_pending: tuple[str, ...] = ()

    def raise_if_broken(self) -> None:
        if not self.ok:
            raise AuditChainError(record_id=str(self.record_id), position=int(self.seq or 0),
                                  problem=str(self.problem))


@dataclass(frozen=True)
class UpgradeResult:
    """What :meth:`DecisionStore.upgrade` did: the guard triggers added (none: the store was up to date) and the
    verified chain's length and head."""

    added: tuple[str, ...]
    count: int
    head_seq: int | None = None
    head_hash: str | None = None


@dataclass(frozen=True)
class DecisionRecord:
    """One stored record: envelope, flat columns and the parsed body."""

    seq: int
    record_id: str
    prev_hash: str | None
    record_hash: str
    written_at: str
    operator: str
    kind: str
    supersedes: str | None
    application_id: str
    farmer_token: str
    season: str
    as_of: str
    outcome: str
    limit: int
    currency: str
    reason_codes: tuple[str, ...]
    body_hash: str
    body_json: str = field(repr=False)

    @property
    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.body_json)
        return out


def policy_block(body: object) -> object:
    """The ``policy`` block of a record's body (JSON text), or None."""
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return None
    block = parsed.get("policy") if isinstance(parsed, dict) else None
    return block if isinstance(block, dict) else None


def record_from_row(row: Any) -> DecisionRecord:
    """A stored row (a mapping of the decisions table's columns: what :func:`record_row` builds, what a query
    returns) as a :class:`DecisionRecord`."""
    m = dict(row)
    codes = tuple(m["reason_codes"].split(",")) if m["reason_codes"] else ()
    return DecisionRecord(seq=int(m["seq"]), record_id=m["record_id"], prev_hash=m["prev_hash"],
                          record_hash=m["record_hash"], written_at=m["written_at"], operator=m["operator"],
                          kind=m["kind"], supersedes=m["supersedes"], application_id=m["application_id"],
                          farmer_token=m["farmer_token"], season=m["season"], as_of=m["as_of"],
                          outcome=m["outcome"], limit=int(m["limit"]), currency=m["currency"], reason_codes=codes,
                          body_hash=m["body_hash"], body_json=m["body"])


def record_row(item: DecisionItem, rid: str, seq: int, prev: str | None, operator: str,
               written_at: str | None = None) -> dict[str, Any]:
    """The row :meth:`DecisionStore.append` writes for ``item`` as record ``rid`` numbered ``seq`` after the record
    whose hash is ``prev``, by ``operator``, written now (or at ``written_at``, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``): the
    decisions table's columns, its body hash and its record hash computed."""
    now = written_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = item.body_json
    row: dict[str, Any] = {
        "seq": seq, "record_id": rid, "prev_hash": prev, "written_at": now, "operator": operator,
        "kind": item.kind, "supersedes": item.supersedes, "application_id": str(item.application_id),
        "farmer_token": str(item.farmer_token), "season": str(item.season), "as_of": str(item.as_of),
        "outcome": item.outcome, "limit": int(item.limit), "currency": str(item.currency),
        "reason_codes": ",".join(item.reason_codes) or None, "body_hash": sha256_hex(body), "body": body,
    }
    row["record_hash"] = record_hash(row)
    return row


def records_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Stored rows (mappings of the decisions table's columns) as :meth:`DecisionStore.records` returns them: the
    Decision contract's columns and ``seq``, ``kind``, ``supersedes``, typed as it types them (not checked)."""
    cols = [c.name for c in DECISIONS.columns] + list(EXTRA_COLUMNS)
    df = pd.DataFrame({c: [r[c] for r in rows] for c in cols})
    for c in cols:
        df[c] = df[c].astype("int64") if c in ("limit", "seq") else df[c].astype("str").where(df[c].notna(), None)
    return df


def _head(conn: Connection) -> tuple[int, str | None]:
    """The last stored record's seq and hash on ``conn`` ((0, None): no record)."""
    row = conn.execute(select(decisions.c.seq, decisions.c.record_hash)
                       .order_by(decisions.c.seq.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, None)


def _identifier_keys(obj: Any, path: str = "body") -> list[str]:
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k).lower() in IDENTIFIER_KEYS:
                found.append(f"{path}.{k}")
            found.extend(_identifier_keys(v, f"{path}.{k}"))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            found.extend(_identifier_keys(v, f"{path}[{i}]"))
    return found


def _one_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None)
    msg = str(orig if orig is not None else e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


def store_error(url: str, e: BaseException) -> StoreError:
    """A database error on the store at ``url`` as one line, without the URL's password."""
    problem = _one_line(e)
    path = _sqlite_file(url)
    if path is not None and not os.access(path.parent, os.W_OK) and ("unable to open" in problem
                                                                      or "readonly" in problem):
        problem += f" (its folder {path.parent} cannot be written: SQLite writes its journal beside the store)"
    return StoreError(url=safe_url(url), problem=problem)


def _iso_date(value: str | date | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return (value if isinstance(value, date) else date.fromisoformat(str(value).strip())).isoformat()
    except ValueError:
        raise UserInputError(f"{what}: expected an ISO date (YYYY-MM-DD), found {value!r}") from None


class DecisionStore:
    """The decision store at ``url`` (see the module docstring); the schema is created if missing — unless
    ``create=False`` (commands that read, or supersede stored records): then a store that does not exist yet (no
    SQLite file, an empty file, a database without agcredit's tables) is a :class:`StoreError`, and nothing is
    created at a mistyped path. ``writer=True`` (commands that append to an existing store: override, reunderwrite)
    refuses, before any work, a SQLite store that can only be read here (its folder cannot be written).
    ``defer=True`` (``underwrite``, which may create the store): a store that does not exist yet is created only
    with its first records, by the :meth:`append` that writes them (:attr:`pending` until then) — a run killed or
    failing before leaves no tables (PostgreSQL: the schema is created in the append's transaction; a new SQLite
    file: :func:`append_to_new_sqlite`); an existing store is opened as without it. ``read_only=True`` (with
    ``create=False``; every command that only reads: ``audit verify``, ``decisions export``, ``audit replay``, the
    impacts, ``explain``, ``report``, ``monitor``, ``schedule show``, ``policy validate --store``, ``policy history``):
    nothing is written to the store — a SQLite file is opened ``mode=ro`` (its journal mode
    left as it is, no checkpoint on close; a WAL file without its shared-memory file is read in a private copy,
    :func:`_reader_snapshot`), a PostgreSQL session is read only, and :meth:`append` and :meth:`upgrade` refuse."""

    def __init__(self, url: str | None = None, *, create: bool = True, writer: bool = False,
                 defer: bool = False, read_only: bool = False) -> None:
        if read_only and (create or writer or defer):
            raise ValueError("read_only=True opens an existing store to read it: create=False, and not a writer")
        self.url = store_url(url)
        self.shown_url = safe_url(self.url)
        #: opened to read only (``read_only=True``): nothing is written, :meth:`append` and :meth:`upgrade` refuse
        self.read_only = read_only
        #: a private copy of a read-only store whose write-ahead log holds records (removed on close)
        self._copy: Path | None = None
        #: opened with ``defer=True`` on a store that did not exist: its schema is created (or, made meanwhile by
        #: another run, checked) by the first append that writes records
        self._deferred = False
        engine_url, ro, immutable = self.url, False, True
        if not create:
            _require_sqlite_file(self.url, self.shown_url)
            path = _sqlite_file(self.url, plain=True)
            what = _unwritable(path) if writer and path is not None else None
            if what is not None:  # refused before the work
                raise StoreError(url=self.shown_url, problem=(
                    f"{what} cannot be written (a read-only copy?): this command writes records, and SQLite its "
                    "journal beside the store; nothing was written"))
            unwritable = _read_only_sqlite(self.url)  # a folder this process cannot write: immutable=1
            snapshot = None if unwritable else _wal_snapshot(self.url, self.shown_url)
            if snapshot is None and read_only and not unwritable:  # a folder it can write: mode=ro, never immutable
                snapshot = _reader_snapshot(self.url, self.shown_url)  # (a writer may change the store meanwhile)
            if snapshot is not None:  # read-only as well: a writer is refused, not given the copy to write
                engine_url, self._copy = snapshot
            ro, immutable = unwritable or snapshot is not None or read_only, unwritable
        try:
            self._engine = make_engine(engine_url, read_only=ro, immutable=immutable)
            self.dialect = self._engine.dialect.name
            #: test hook: called with the number of rows inserted so far (committed or not) after each insert
            self._on_insert: Callable[[int], None] | None = None
            self._ensure_schema(create, defer=defer)
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the connections (and remove the private copy of a read-only store, if one was made)."""
        if getattr(self, "_engine", None) is not None:
            self._engine.dispose()
        if self._copy is not None:
            _release_copy(self._copy)
            self._copy = None

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DecisionStore({self.shown_url!r})"

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

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self.pending:  # no tables to read (and a connection would create a new SQLite file)
            raise StoreError(url=self.shown_url, problem="no decision store there yet (it is created with its first "
                                                         "records)")
        try:
            with self._engine.connect() as conn:
                conn.execution_options(agc_read=True)
                if self.dialect == "postgresql":  # a LOCK TABLE held elsewhere blocked the first SELECT for good
                    self._pg_table_locks(conn, "ACCESS SHARE", lock_timeout())
                yield conn
        except (DBAPIError, SQLAlchemyError) as e:
            raise self._error(e) from None

    #: the table-lock modes that conflict with the mode a reader or writer takes (pg_locks' names)
    _PG_CONFLICTS = {"ACCESS SHARE": ("AccessExclusiveLock",),
                     "ROW EXCLUSIVE": ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")}

    def _pg_table_locks(self, conn: Connection, mode: str, limit: float) -> None:
        """Take ``mode`` on the store's tables (those that exist) by polling ``LOCK TABLE ... NOWAIT`` (each attempt
        in a savepoint): a table locked by another session (``LOCK TABLE agc_decisions``) is waited for as the write
        lock is — bounded, said, SIGTERM honoured — instead of blocking the first statement on it."""
        tables = [t for t in (decisions.name, meta.name)
                  if conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t})]
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

    def _ensure_schema(self, create: bool = True, *, defer: bool = False) -> None:
        if not create:  # reading (or superseding): nothing is created or re-installed (a dropped guard stays
            with self._read() as conn:  # visible to verify)
                if not inspect(conn).has_table(meta.name) or not inspect(conn).has_table(decisions.name):
                    raise StoreError(url=self.shown_url, problem="no decision store there (no agcredit tables): "
                                                                 "check --store / AGCREDIT_STORE_URL")
                version = conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version"))
            if version is not None and version != SCHEMA_VERSION:
                raise StoreError(url=self.shown_url,
                                 problem=f"schema version {version} (this agcredit reads version {SCHEMA_VERSION})")
            return
        if defer and not self._exists():  # created with its first records (append)
            self._deferred = True
            return
        with self._write() as conn:
            self._create_or_check(conn)

    def _create_or_check(self, conn: Connection) -> None:
        """Under the write lock: create the schema of a new store (tables, guard triggers, version rows), or check an
        existing one's version and guards."""
        metadata.create_all(conn, checkfirst=True)
        version = conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version"))
        if version is None:
            if conn.scalar(select(func.count()).select_from(decisions)):  # not a new store: its version row was
                raise StoreError(url=self.shown_url, problem=(           # removed around the API
                    "records but no schema version (agc_meta edited); nothing was written — run `agcredit "
                    "audit verify` and restore it first"))
            install_triggers(conn, self.dialect)
            conn.execute(insert(meta), [{"key": "schema_version", "value": SCHEMA_VERSION},
                                        {"key": GUARDS_KEY, "value": ",".join(GUARD_TRIGGERS[self.dialect])}])
        elif version != SCHEMA_VERSION:
            raise StoreError(url=self.shown_url,
                             problem=f"schema version {version} (this agcredit reads version {SCHEMA_VERSION})")
        else:  # a writer never re-installs a dropped guard (that would erase the evidence `audit verify` reports)
            self._refuse_unguarded(conn)

    def schema_version(self) -> str:
        with self._read() as conn:
            return str(conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version")))

    # -- writing ----------------------------------------------------------------------------------------------
    def _check_item(self, item: DecisionItem) -> None:
        problems = []
        if item.kind not in KINDS:
            problems.append(f"kind {item.kind!r} (expected one of {', '.join(KINDS)})")
        if item.outcome not in OUTCOMES:
            problems.append(f"outcome {item.outcome!r} (expected one of {', '.join(OUTCOMES)})")
        if not isinstance(item.limit, int) or isinstance(item.limit, bool) or item.limit < 0:
            problems.append(f"limit {item.limit!r} (expected a non-negative integer of minor units)")
        if not item.idempotency_key or not item.application_id or not item.farmer_token:
            problems.append("empty idempotency_key, application_id or farmer_token")
        if any("," in c for c in item.reason_codes):
            problems.append("a reason code containing ','")
        for col in ("application_id", "farmer_token", "season", "as_of"):  # SQLite stores longer text, PostgreSQL
            size = _text_length(col)                                         # refuses the whole append: same on both
            if size is not None and len(str(getattr(item, col))) > size:
                problems.append(f"{col} longer than {size} characters")
        ids = _identifier_keys(item.body)
        if ids:
            problems.append(f"personal identifiers in the body ({', '.join(ids[:5])})")
        if problems:
            raise StoreError(url=self.shown_url,
                             problem=f"refusing item for application {item.application_id}: {'; '.join(problems)}")

    def append(self, items: Sequence[DecisionItem], operator: str,
               also: Callable[[Connection, Sequence[str]], None] | None = None) -> AppendResult:
        """Append ``items`` to the chain; items whose record id is already stored add nothing. ``also``: called with
        the transaction's connection and the ids of the records written (when some were), before it commits — a
        caller's own table kept beside them in one transaction (``reunderwrite``'s log of a plain run,
        :func:`pipelines.schedule.plain_run_logger`): both or neither."""
        if self.read_only:
            raise StoreError(url=self.shown_url, problem="opened to read only: nothing is written")
        operator = str(operator or "").strip()
        if not operator:
            raise StoreError(url=self.shown_url, problem="an operator is required to write records")
        from underwriting._pii_text import personal_data_kind

        most = _text_length("operator")
        if most is not None and len(operator) > most:
            raise StoreError(url=self.shown_url, problem=f"the operator is longer than {most} characters")
        kind = personal_data_kind(operator)
        if kind is not None:  # kept in every record for good: a staff ID, never a phone/ID number or e-mail
            raise StoreError(url=self.shown_url, problem=f"the operator holds {kind}; give the operator's staff ID "
                                                         "(records keep it permanently)")
        items = list(items)
        for item in items:
            self._check_item(item)
        if self._deferred:  # a store opened before it existed: created now, with these records — or not at all
            if not items:
                return AppendResult(written=0, already_present=0)
            path = new_sqlite_file(self.url)
            if path is not None and also is None:  # (``also`` needs this connection: the transaction below)
                res = append_to_new_sqlite(self.url, path, items, operator)
                self._deferred = False
                return res
        written, present = 0, 0
        ids_out: list[str] = []
        ids = [record_id_for(i.idempotency_key) for i in items]
        # one transaction for the whole call: a run killed half-way leaves nothing; its re-run writes everything
        with self._write() as conn:
            if self._deferred:  # in this transaction: a kill or an error before the commit leaves no tables
                self._create_or_check(conn)
            # every writer, also those opening an existing store (override, reunderwrite: create=False), refuses a
            # store whose guard was dropped: records written on would bury what `audit verify` reports
            self._refuse_unguarded(conn)
            seen = _stored(conn, ids)
            self._check_policy_versions(conn, [i for i, r in zip(items, ids, strict=True) if r not in seen])
            seq, prev = _head(conn)
            for rid, item in zip(ids, items, strict=True):
                if rid in seen:
                    present += 1
                    continue
                if item.supersedes and item.supersedes not in seen and conn.scalar(
                        select(func.count()).where(decisions.c.record_id == item.supersedes)) == 0:
                    raise StoreError(url=self.shown_url, problem=f"record {rid} supersedes "
                                                                 f"{item.supersedes}, which is not stored")
                if not item.supersedes:  # under the write lock: an application's chain has one first record
                    first = conn.execute(select(decisions.c.record_id, decisions.c.as_of).where(
                        decisions.c.application_id == str(item.application_id)).limit(1)).first()
                    if first is not None:
                        raise StoreChangedError(url=self.shown_url, problem=(
                            f"application {item.application_id} already has record {first[0]} (as of {first[1]}); "
                            f"record {rid} would start a second chain for it; nothing was written — an "
                            "application's chain goes forward only (reunderwrite or override it)"))
                if item.supersedes:  # under the write lock: a record is superseded once (a chain never forks)
                    other = conn.scalar(select(decisions.c.record_id).where(
                        decisions.c.application_id == str(item.application_id),
                        decisions.c.supersedes == item.supersedes).limit(1))
                    if other is not None:
                        raise StoreChangedError(url=self.shown_url, problem=(
                            f"application {item.application_id}: record {item.supersedes} is already superseded by "
                            f"{other}, written by another run since this one read the store; nothing was written — "
                            "re-run to decide on the current records"))
                seen.add(rid)
                seq += 1
                row = self._row(item, rid, seq, prev, operator)
                conn.execute(insert(decisions), [row])
                prev = row["record_hash"]
                written += 1
                ids_out.append(rid)
                if self._on_insert is not None:
                    self._on_insert(written)
            if also is not None and ids_out:
                also(conn, ids_out)
        self._deferred = False
        return AppendResult(written=written, already_present=present, record_ids=tuple(ids_out))

    def _check_policy_versions(self, conn: Connection, items: Sequence[DecisionItem]) -> None:
        """Under the write lock: a policy's (id, version) names one content for good. The first records written
        with a version register its content hash in the store; a policy file changed without a new version (the
        records would name the same version for other rules) is refused, nothing written."""
        pols: dict[tuple[str, str], set[str]] = {}
        for item in items:
            pol = item.body.get("policy") if isinstance(item.body, dict) else None
            if isinstance(pol, dict) and pol.get("content_hash") and pol.get("id") is not None:
                pols.setdefault((str(pol["id"]), str(pol.get("version"))), set()).add(str(pol["content_hash"]))
        for (pid, version), digests in sorted(pols.items()):
            key = policy_meta_key(pid, version)
            known = conn.scalar(select(meta.c.value).where(meta.c.key == key))
            if known is None and len(digests) > 1:
                a, b = sorted(digests)[:2]
                raise StoreError(url=self.shown_url, problem=(
                    f"the records of this call name policy {pid} version {version} with two contents (hashes "
                    f"{a[:12]}…, {b[:12]}…): one version names one content; nothing was written"))
            if known is None:
                conn.execute(insert(meta), [{"key": key, "value": next(iter(digests))}])
                continue
            other = sorted(digests - {known})
            if other:
                raise StoreError(url=self.shown_url, problem=(
                    f"policy {pid} version {version} is recorded in this store with other content (hash "
                    f"{known[:12]}…; this file's {other[0][:12]}…): give the changed policy a new version; nothing "
                    "was written"))

    #: the row :meth:`append` writes for an item (:func:`record_row`)
    _row = staticmethod(record_row)

    # -- checking ---------------------------------------------------------------------------------------------
    def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Walk the whole chain; the first record whose seq, link, values, body hash or record hash is wrong is
        named. Then the guard triggers (refusing UPDATE and DELETE) must be in place, and ``expect_head`` — a head
        hash printed by an earlier verify — must still be a record of the chain (else records were cut from its
        end, which the links alone cannot show)."""
        with self._read() as conn:
            return self._verify(conn, expect_head)

    def _verify(self, conn: Connection, expect_head: str | None, guard: bool = True) -> VerifyResult:
        """:meth:`verify` on ``conn`` (``guard=False``: the chain only, not the guard triggers)."""
        expected, prev, count, seen_head = 1, None, 0, expect_head is None
        head_at: int | None = None
        starts: set[str] = set()
        replaced: set[tuple[str, str]] = set()
        forked: dict[str, None] = {}
        # the option on the statement: on the connection it would stay set for the caller's statements after it
        result = conn.execute(select(decisions).order_by(decisions.c.seq).execution_options(yield_per=500))
        for m in result.mappings():
            row = dict(m)
            problem = None
            if int(row["seq"]) != expected:
                problem = f"sequence gap: expected seq {expected}, found {row['seq']} (records missing)"
            elif row["prev_hash"] != prev:
                problem = "prev_hash does not match the previous record's hash"
            elif not isinstance(row["limit"], int) or isinstance(row["limit"], bool):
                problem = f"limit {row['limit']!r} is not a whole number of minor units (altered)"
            elif sha256_hex(row["body"]) != row["body_hash"]:
                problem = "stored body does not match its body_hash"
            else:
                try:
                    ok_hash = record_hash(row) == row["record_hash"]
                except (TypeError, ValueError):  # a value of the wrong type written around the API
                    ok_hash = False
                if not ok_hash:
                    problem = "record_hash does not match the record's contents"
            if problem:
                result.close()
                return VerifyResult(ok=False, count=count, seq=int(row["seq"]), record_id=str(row["record_id"]),
                                    problem=problem)
            prev, expected, count = row["record_hash"], expected + 1, count + 1
            app, sup = str(row["application_id"]), row["supersedes"]
            if sup is None and app in starts or sup is not None and (app, str(sup)) in replaced:
                forked[app] = None
            if sup is None:
                starts.add(app)
            else:
                replaced.add((app, str(sup)))
            if expect_head is not None and head_at is None and prev == expect_head:
                head_at = count
            seen_head = seen_head or prev == expect_head
        pending, problem = self._guard_state(conn) if guard else ((), None)
        if problem is not None:
            return VerifyResult(ok=False, count=count, problem=problem)
        if not seen_head:
            return VerifyResult(ok=False, count=count, problem=f"the head {expect_head} recorded earlier is not in the "
                                                               "chain: records were removed from its end, or the last "
                                                               "records rewritten")
        return VerifyResult(ok=True, count=count, head_seq=count or None, head_hash=prev, forked=tuple(forked),
                            upgrade_pending=pending, expected_head_seq=head_at)

    def _refuse_unguarded(self, conn: Connection) -> None:
        """A :class:`StoreError` for a writer when the guard triggers are not all in place: a store of an earlier
        release (`agcredit audit upgrade-store` adds what it lacks) or a guard dropped, disabled or altered."""
        pending, guard = self._guard_state(conn)
        if pending:
            raise StoreError(url=self.shown_url, problem=(
                f"created by an earlier release, without the guard trigger(s) {', '.join(pending)} this release "
                "installs: run `agcredit audit upgrade-store` once (it verifies the chain and adds them); nothing was "
                "written"))
        if guard is not None:
            raise StoreError(url=self.shown_url, problem=f"{guard}; nothing was written — run `agcredit audit "
                                                         "verify` and restore the guard first")

    def _triggers(self, conn: Connection) -> dict[str, str]:
        """The decisions table's own triggers: name -> "ok", "disabled", or "altered" (not the definition agcredit
        installs: it may no longer refuse anything)."""
        if self.dialect == "sqlite":
            return {str(n): "ok" if guard_intact("sqlite", str(n), str(sql)) else "altered"
                    for n, sql in conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                                    "AND tbl_name = 'agc_decisions'"))}
        return {str(n): ("disabled" if not on else "ok" if guard_intact("postgresql", str(n), str(d), str(src))
                         else "altered")
                for n, on, d, src in conn.execute(text(
                    "SELECT t.tgname, t.tgenabled IN ('O', 'A'), pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
                    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'agc_decisions'::regclass "
                    "AND NOT t.tgisinternal"))}

    def _later_guards(self, conn: Connection) -> dict[str, str]:
        """The guard triggers this store may lack because the release that created it did not install them (name ->
        statement): this release's later guards, less those the store records it was created with or had added."""
        later = LATER_GUARD_TRIGGERS.get(self.dialect, {})
        if not later:
            return {}
        rows = dict(conn.execute(select(meta.c.key, meta.c.value).where(
            (meta.c.key == GUARDS_KEY) | meta.c.key.like("upgrade:%"))).tuples().all())
        had = set(str(rows.get(GUARDS_KEY) or "").split(",")) | {k.split(":", 1)[1] for k in rows if ":" in k}
        return {n: stmt for n, stmt in later.items() if n not in had}

    def _guard_state(self, conn: Connection) -> tuple[tuple[str, ...], str | None]:
        """The guard triggers, read once: (those a store of an earlier release lacks only because that release did
        not install them — every failing guard is such a one —, else ()), and (what is wrong with the others:
        missing, disabled or altered; None when all are in place, enabled, as installed)."""
        have = self._triggers(conn)
        bad = sorted(n for n in GUARD_TRIGGERS[self.dialect] if have.get(n) != "ok")
        if not bad:
            return (), None
        later = self._later_guards(conn)
        if all(n in later and n not in have for n in bad):
            return tuple(bad), None
        altered = [n for n in bad if have.get(n) == "altered"]
        missing = [n for n in bad if n not in altered]
        what = "; ".join(
            ([f"the append-only guard trigger(s) {', '.join(missing)} are missing or disabled"] if missing else [])
            + ([f"the append-only guard trigger(s) {', '.join(altered)} are altered (not as agcredit installs them: "
                "they may refuse nothing)"] if altered else []))
        return (), f"{what}: records may have been changed or removed around them"

    def upgrade(self, expect_head: str | None = None) -> UpgradeResult:
        """Bring a store written by an earlier release to this release's schema: the guard triggers that release
        did not create (SQLite's guard against INSERT OR REPLACE) are added, in one transaction under the write
        lock, after the whole chain is verified (and ``expect_head`` found in it); the addition is noted in
        ``agc_meta``. Records are never touched. A broken chain, or a guard trigger the store was created with (or
        had added) that is missing, disabled or altered (a dropped guard: evidence, not an old schema), is refused
        with nothing changed. Idempotent."""
        if self.read_only:
            raise StoreError(url=self.shown_url, problem="opened to read only: nothing is changed")
        with self._write() as conn:
            version = conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version"))
            if version != SCHEMA_VERSION:
                raise StoreError(url=self.shown_url, problem=(
                    "records but no schema version (agc_meta edited); nothing was changed — run `agcredit audit "
                    "verify`" if version is None else
                    f"schema version {version} (this agcredit upgrades to version {SCHEMA_VERSION}); nothing was "
                    "changed"))
            res = self._verify(conn, expect_head, guard=False)
            if not res.ok:
                where = f"at record {res.seq} ({res.record_id}): " if res.seq is not None else ": "
                raise StoreError(url=self.shown_url, problem=f"the chain is broken {where}{res.problem}; nothing "
                                                             "was changed — `agcredit audit verify` names it")
            have = self._triggers(conn)
            later = self._later_guards(conn)
            missing = [n for n in GUARD_TRIGGERS[self.dialect] if n not in have]
            dropped = sorted({n for n in missing if n not in later} | {n for n, state in have.items()
                                                                        if n in GUARD_TRIGGERS[self.dialect]
                                                                        and state != "ok"})
            if dropped:
                raise StoreError(url=self.shown_url, problem=(
                    f"the append-only guard trigger(s) {', '.join(dropped)} are missing, disabled or altered — the store "
                    "was created with them (or every release creates them), so records may have been changed or "
                    "removed around them; nothing was changed — an upgrade does not re-install a dropped guard"))
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for name in missing:
                conn.exec_driver_sql(later[name])
                conn.execute(insert(meta), [{"key": f"upgrade:{name}", "value": (
                    f"added {now} at head seq {res.head_seq or 0} hash {res.head_hash or '-'}")}])
        return UpgradeResult(added=tuple(missing), count=res.count, head_seq=res.head_seq, head_hash=res.head_hash)

    # -- queries ----------------------------------------------------------------------------------------------
    def count(self) -> int:
        with self._read() as conn:
            return int(conn.scalar(select(func.count()).select_from(decisions)) or 0)

    def table_rows(self, name: str) -> pd.DataFrame | None:
        """The rows of another table kept in the store's database (e.g. ``reunderwrite --due``'s checkpoint log,
        :class:`pipelines.schedule.CheckpointLog`), read as the records are — nothing created or written (a store on
        read-only media through its private copy); None when the database has no such table."""
        from sqlalchemy import MetaData, Table

        with self._read() as conn:
            if not inspect(conn).has_table(name):
                return None
            table = Table(name, MetaData(), autoload_with=conn)
            return pd.DataFrame([dict(r) for r in conn.execute(select(table)).mappings()],
                                columns=[c.name for c in table.columns])

    def policy_content(self, policy_id: str, version: str) -> str | None:
        """The content hash this store registered for policy ``policy_id`` version ``version`` (its first records
        naming it did: :meth:`append`), or None — read only."""
        key = policy_meta_key(str(policy_id), str(version))
        with self._read() as conn:
            value = conn.scalar(select(meta.c.value).where(meta.c.key == key))
        return None if value is None else str(value)

    def policy_blocks(self, season: str | None = None) -> pd.DataFrame:
        """Each record's ``policy`` block (of ``season``) in chain order: ``record_id``, ``seq``, ``kind``,
        ``supersedes``, ``application_id``, ``season``, ``as_of`` and ``policy`` (the block as JSON text, or a
        mapping; None where the body names none) — what ``policy validate --store`` and ``policy history`` read,
        without the bodies (SQLite extracts the block: ``json_extract``; another database's bodies are parsed here,
        one at a time)."""
        from sqlalchemy import and_, case

        cols = [decisions.c.record_id, decisions.c.seq, decisions.c.kind, decisions.c.supersedes,
                decisions.c.application_id, decisions.c.season, decisions.c.as_of]
        sqlite = self.dialect == "sqlite"
        body = decisions.c.body
        block = (case((and_(func.json_valid(body) == 1, func.json_type(body, "$.policy") == "object"),
                       func.json_extract(body, "$.policy")), else_=None) if sqlite else body).label("policy")
        q = select(*cols, block).order_by(decisions.c.seq)
        if season is not None:
            q = q.where(decisions.c.season == str(season))
        names = [c.name for c in cols] + ["policy"]
        with self._read() as conn:
            rows = [tuple(r) for r in conn.execute(q)]
        df = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        if not sqlite and len(df):
            df["policy"] = [policy_block(b) for b in df["policy"]]
        return df

    def get(self, record_id: str) -> DecisionRecord | None:
        """The record with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(decisions).where(decisions.c.record_id == record_id)).mappings().first()
        return record_from_row(row) if row is not None else None

    def history(self, application_id: str) -> list[DecisionRecord]:
        """Every record of an application, in chain order."""
        with self._read() as conn:
            rows = conn.execute(select(decisions).where(decisions.c.application_id == str(application_id))
                                .order_by(decisions.c.seq)).mappings().all()
        return [record_from_row(r) for r in rows]

    def stored_ids(self, record_ids: Sequence[str]) -> set[str]:
        """Those of ``record_ids`` the store holds."""
        with self._read() as conn:
            return _stored(conn, list(record_ids))

    def heads(self, application_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """The current record of each of ``application_ids`` that has one: application id -> (record id, as-of
        date) of its last record in the chain."""
        ids = sorted({str(a) for a in application_ids})
        best: dict[str, tuple[int, str, str]] = {}
        with self._read() as conn:
            for start in range(0, len(ids), _LOOKUP_CHUNK):  # in chunks (bound parameters)
                q = select(decisions.c.application_id, decisions.c.seq, decisions.c.record_id, decisions.c.as_of
                           ).where(decisions.c.application_id.in_(ids[start:start + _LOOKUP_CHUNK]))
                for app_id, seq, rid, day in conn.execute(q):
                    if app_id not in best or int(seq) > best[app_id][0]:
                        best[app_id] = (int(seq), str(rid), str(day))
        return {a: (rid, day) for a, (_, rid, day) in best.items()}

    def has_farmer(self, farmer_token: str) -> bool:
        """Whether any record is of the farmer ``farmer_token``."""
        with self._read() as conn:
            q = select(decisions.c.seq).where(decisions.c.farmer_token == str(farmer_token)).limit(1)
            return conn.execute(q).first() is not None

    def application_shapes(self) -> frozenset[str]:
        """The shapes of the stored application ids (:func:`underwriting._pii_text.reference_shape`: ``A2009-00035``
        → ``A9999-99999``): an unknown argument of that shape may be echoed, any other not (a name, a phone)."""
        return self.application_summary()[1]

    def application_ids(self, season: str | None = None) -> list[str]:
        """Every application id the records (of ``season``) hold, sorted."""
        q = select(decisions.c.application_id).distinct()
        if season is not None:
            q = q.where(decisions.c.season == str(season))
        with self._read() as conn:
            return sorted(str(i) for i in conn.execute(q).scalars())

    def application_summary(self) -> tuple[int, frozenset[str]]:
        """How many applications the records hold, and their ids' shapes (:meth:`application_shapes`) — what a
        message about an argument matching none of them says instead of the argument."""
        from underwriting._pii_text import reference_shape

        ids = self.application_ids()
        return len(ids), frozenset(reference_shape(i) for i in ids)

    def latest(self, application_id: str, as_of: str | date | None = None) -> DecisionRecord | None:
        """The last record written for an application (with ``as_of`` on or before the date, if given)."""
        day = _iso_date(as_of, "as-of date")
        q = select(decisions).where(decisions.c.application_id == str(application_id))
        if day is not None:
            q = q.where(decisions.c.as_of <= day)
        with self._read() as conn:
            row = conn.execute(q.order_by(decisions.c.seq.desc()).limit(1)).mappings().first()
        return record_from_row(row) if row is not None else None

    def records(self, season: str | None = None) -> pd.DataFrame:
        """The records (Decision contract, plus ``seq``, ``kind``, ``supersedes``) in chain order."""
        q = select(decisions).order_by(decisions.c.seq)
        if season is not None:
            q = q.where(decisions.c.season == str(season))
        with self._read() as conn:
            rows = [dict(m) for m in conn.execute(q).mappings()]
        return check_decisions(records_frame(rows), where=f"decision store {self.shown_url}")

    def head(self) -> tuple[int, str | None]:
        """The last stored record's seq and record hash ((0, None): an empty store) — where :meth:`append` links
        the next record."""
        with self._read() as conn:
            return _head(conn)


def verify_store(url: str | None = None, expect_head: str | None = None) -> VerifyResult:
    """Open the store at ``url`` (or the default) read only and verify its chain (see :meth:`DecisionStore.verify`):
    nothing is written to it."""
    with DecisionStore(url, create=False, read_only=True) as store:
        return store.verify(expect_head=expect_head)


def upgrade_store(url: str | None = None, expect_head: str | None = None) -> UpgradeResult:
    """Open the existing store at ``url`` (or the default) and upgrade it (see :meth:`DecisionStore.upgrade`)."""
    with DecisionStore(url, create=False) as store:
        return store.upgrade(expect_head=expect_head)


def export_decisions(out: str | Path, *, season: str | None = None, fmt: str | None = None,
                     url: str | None = None, book: pd.DataFrame | None = None,
                     as_of: str | date | None = None) -> LineLinks:
    """Write the stored records (optionally one season) to CSV or Parquet; returns the rows' line links
    (:class:`~underwriting._line_links.LineLinks`, ``len()``: the number of rows). ``line_id`` and ``line_link``: the
    line each record decided, named by its body (``record``) or, with ``book`` (the Book as
    :func:`underwriting.applications.read_book` reads it), for a record naming none, the one Book line of its
    application (``book``; several: ``ambiguous``, no line id) — :func:`underwriting._line_links.line_links`.
    ``as_of``: the date the lines' standing is judged on, as ``report portfolio --as-of`` judges it — the records
    dated on or before it (none: a user error), a Book line matured before it standing no more (``line_matured``,
    :func:`underwriting.standing.line_matured`); default each season's latest record date, as the report defaults."""
    day_given = _iso_date(as_of, "--as-of")
    path = Path(out)
    kind = (fmt or path.suffix.lstrip(".") or "csv").lower()
    if kind not in ("csv", "parquet"):
        raise UserInputError(f"{path}: format {kind!r} is not supported (expected csv or parquet)")
    suffix = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(path.suffix.lower())
    if suffix is not None and suffix != kind:
        raise UserInputError(f"{path}: the name says {suffix} but the format asked is {kind} (name the file "
                             f"*.{kind}, or drop --format)")
    if season is not None:
        from features.contracts import check_season

        season = check_season(season, where="--season")
    from features.atomic import check_writable

    # before the store is read: a folder at the path, a file where a folder should be, a read-only folder; a missing
    # folder is created by the writer, as the other --out options create theirs
    check_writable(path, what="decisions export")
    with DecisionStore(url, create=False, read_only=True) as store:  # the store is read, never written
        df = store.records(season=season)
        if season is not None and df.empty:
            seasons = sorted(set(store.records()["season"].astype(str)))
            raise UserInputError(f"{store.shown_url}: no stored record of season {season!r} (stored seasons: "
                                 f"{', '.join(seasons) or 'none'})")
        if day_given is not None and len(df):  # the store as the report reads it on that date
            if not (df["as_of"].astype(str) <= day_given).any():
                raise UserInputError(f"{store.shown_url}: none of the {len(df)} record(s)"
                                     + (f" of season {season}" if season is not None else "")
                                     + f" is dated on or before --as-of {day_given} (the first is as of "
                                     f"{min(df['as_of'].astype(str))})")
            df = df[df["as_of"].astype(str) <= day_given].reset_index(drop=True)
    from features.atomic import write_table_atomic

    # one row per record, current and superseded: `current` marks each application's record in force (superseded by
    # none), so the limits in force are the current rows' — summing every row counts a line once per record
    sup = set(df["supersedes"].dropna().astype(str)) if "supersedes" in df.columns else set()
    df = df.assign(current=~df["record_id"].astype(str).isin(sup))
    # `standing`: the record each line stands on — the current one, or for a line kept at a re-underwriting that
    # re-estimated nothing (a REFER whose 0 is indicative) the earlier record that decided it (none: the Book line);
    # `standing_limit` (on standing rows): the limit the line stands at — the record's, or the line's Book limit
    # where it stands on its Book line: never decided in the store, or (policy refer_keeps_book_limit, 2026.12.8 on)
    # its decision in force is a REFER or DECLINE that granted nothing, a kept line's or its latest record's own (an
    # analyst's override behind it stands instead): underwriting.standing.line_standing, as the report counts it
    from underwriting.book import book_as_of
    from underwriting.standing import book_maturities, line_block, line_matured, line_standing

    # each season's date (--as-of, else its latest record's) and the Book's maturities then: a Book line matured
    # before it stands no more — its limit counted at 21,400 the report had left out (an audit: 198,300 against
    # the report's 176,900)
    seasons = df["season"].astype(str) if len(df) else pd.Series([], dtype=str)
    days = {str(sn): day_given or str(max(g.astype(str))) for sn, g in df.groupby(seasons)["as_of"]} if len(df) \
        else {}
    dues = {d: book_maturities(book_as_of(book, d, refuse=False)) for d in set(days.values())}
    season_of = dict(zip(df["record_id"].astype(str), seasons, strict=True))
    lines = line_standing(df)
    ids = df["record_id"].astype(str)
    bodies = dict(zip(ids, df["body"], strict=True)) if "body" in df.columns else {}
    book_limits: dict[str, int] = {}  # standing record id -> the Book limit the line stands at
    matured: dict[str, str] = {}  # standing record id -> its Book line's maturity, before the date: no limit stands
    on: set[str] = set()
    for rid, (stood, skipped) in lines.items():
        mark = stood or skipped or rid  # the Book line: marked on its REFER or DECLINE, else its kept record
        on.add(mark)
        if stood is None:
            b = bodies.get(rid)
            b = json.loads(b) if isinstance(b, str) else (b or {})
            day = days[season_of[rid]]
            due = line_matured(b, day, dues[day])
            if due is not None:
                matured[mark] = due
            else:
                book_limits[mark] = int(line_block(b).get("book_limit") or 0)
    standing = (df["current"] & ~ids.isin(set(lines))) | ids.isin(on)
    # a REFER grants nothing until an analyst decides: a line standing on one stands at 0 (its Book limit, above,
    # where it has a Book line); its indicative limit is in `indicative_limit` (REFER rows only), never counted
    refer = (df["outcome"].astype(str) == "REFER").tolist()
    limits = [book_limits.get(r, 0 if ref else lim) if st else None
              for r, lim, st, ref in zip(ids, df["limit"], standing, refer, strict=True)]
    indicative = [int(lim) if ref else None for lim, ref in zip(df["limit"], refer, strict=True)]
    # `outside_book_limit`, `outside_outstanding` (standing rows): a Book line standing at 0 on a REFER or DECLINE —
    # an earlier policy's (before refer_keeps_book_limit), or a decided line's (D-…) — granted nothing, but its Book
    # limit and balance are still the bank's: the report lists these lines outside the exposure table
    # (pipelines.report.manager_figures), the export counted them nowhere; their sums are the report's figures
    # (a matured line's neither: no longer the bank's commitment, as the report lists it apart)
    blocks = [line_block(json.loads(b) if isinstance(b, str) else (b or {})) if st and lim == 0 and r not in matured
              else {} for b, st, lim, r in zip(df["body"] if "body" in df.columns else [None] * len(df), standing,
                                               limits, ids, strict=True)]
    outside = [bool(b.get("line_id")) for b in blocks]
    df = df.assign(standing=standing, standing_limit=pd.array(limits, dtype="Int64"),
                   indicative_limit=pd.array(indicative, dtype="Int64"),
                   outside_book_limit=pd.array([int(b.get("book_limit") or 0) if o else None
                                                for b, o in zip(blocks, outside, strict=True)], dtype="Int64"),
                   outside_outstanding=pd.array([int(b.get("outstanding") or 0) if o else None
                                                 for b, o in zip(blocks, outside, strict=True)], dtype="Int64"),
                   # `line_matured` (standing rows): the maturity date of a Book line matured before the date, whose
                   # limit no longer stands (standing_limit 0 or its record's), as the report leaves it out
                   line_matured=pd.array([matured.get(r) if st else None for r, st in zip(ids, standing, strict=True)],
                                         dtype="string"))
    # `line_id`, `line_link` (every export, with or without a Book: the file's columns do not depend on --book)
    links = line_links(df, book)
    df = df.assign(line_id=pd.array(links.line_ids, dtype="string"), line_link=pd.array(links.links, dtype="string"))
    write_table_atomic(df, path, fmt=kind)
    return links
