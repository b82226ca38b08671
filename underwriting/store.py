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

# the names marked `noqa: F401` are not used here: kept importable from underwriting.store, as before its helpers
# moved to the private modules underwriting._store_*
import json
import os
from collections.abc import (
    Callable,
    Iterator,  # noqa: F401
    Mapping,  # noqa: F401
    Sequence,
)
from contextlib import contextmanager  # noqa: F401
from dataclasses import (
    dataclass,  # noqa: F401
    field,  # noqa: F401
)
from datetime import (
    UTC,  # noqa: F401
    date,
    datetime,  # noqa: F401
)
from pathlib import Path
from typing import Any  # noqa: F401

import pandas as pd
from sqlalchemy import (
    Connection,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,  # noqa: F401
)
from sqlalchemy.exc import (
    ArgumentError,  # noqa: F401
    DBAPIError,  # noqa: F401
    SQLAlchemyError,  # noqa: F401
)

from features.errors import UserInputError
from underwriting._line_links import LineLinks, line_links
from underwriting._store_append_checks import AppendChecks
from underwriting._store_chain import ChainChecks
from underwriting._store_files import (
    _COPIES,  # noqa: F401
    _COPIES_LOCK,  # noqa: F401
    _COPY_PREFIX,  # noqa: F401
    _STALE_COPY_SECONDS,  # noqa: F401
    DEFAULT_URL,
    ENV_URL,
    _copy_owner,  # noqa: F401
    _folder_lock,
    _one_line,  # noqa: F401
    _private_copy,  # noqa: F401
    _read_only_sqlite,
    _reader_snapshot,
    _release_copy,
    _remove_killed_creations,
    _remove_stale_copies,  # noqa: F401
    _require_sqlite_file,
    _sqlite_file,
    _sqlite_wal_mode,  # noqa: F401
    _stamp,  # noqa: F401
    _unwritable,
    _wal_holds_records,  # noqa: F401
    _wal_snapshot,
    new_sqlite_file,
    store_error,  # noqa: F401
    store_url,
)
from underwriting._store_queries import StoreQueries
from underwriting._store_records import (
    _LOOKUP_CHUNK,  # noqa: F401
    EXTRA_COLUMNS,  # noqa: F401
    AppendResult,
    DecisionRecord,
    UpgradeResult,
    VerifyResult,
    _head,
    _identifier_keys,  # noqa: F401
    _iso_date,
    _stored,
    _text_length,
    policy_block,
    policy_meta_key,
    record_from_row,
    record_row,
    records_frame,
)
from underwriting._store_run_lock import (
    RunInProgress,
    _flock_run_lock,  # noqa: F401
    run_lock,
)
from underwriting._store_schema import (
    CHAIN_LOCK_KEY,  # noqa: F401
    DUE_RUN_LOCK_KEY,  # noqa: F401
    GUARD_TRIGGERS,
    GUARDS_KEY,
    IDENTIFIER_KEYS,  # noqa: F401
    LATER_GUARD_TRIGGERS,  # noqa: F401
    SCHEMA_VERSION,
    decisions,
    guard_intact,  # noqa: F401
    install_triggers,
    lock_timeout,  # noqa: F401
    make_engine,
    meta,
    metadata,
    record_hash,  # noqa: F401
    record_id_for,
    safe_url,
    wait_for_lock,  # noqa: F401
)
from underwriting.contracts import (
    DECISIONS,  # noqa: F401
    OUTCOMES,  # noqa: F401
    check_decisions,  # noqa: F401
)
from underwriting.errors import (
    AuditChainError,  # noqa: F401
    StoreChangedError,
    StoreError,
)
from underwriting.records import (
    KINDS,  # noqa: F401
    DecisionItem,
    sha256_hex,  # noqa: F401
)

__all__ = ["DEFAULT_URL", "ENV_URL", "RunInProgress", "run_lock", "DecisionStore", "DecisionRecord", "AppendResult", "VerifyResult", "UpgradeResult",
           "policy_block", "policy_meta_key", "record_id_for", "record_from_row", "record_row", "records_frame", "store_url",
           "verify_store", "upgrade_store", "export_decisions"]


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


class DecisionStore(ChainChecks, StoreQueries, AppendChecks):
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
            if writer and not create:  # (a created or checked store was checked under its write lock)
                with self._read() as conn:
                    self._check_token_key(conn)
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
            self._check_token_key(conn)  # before the run's work: its records would be refused

    def schema_version(self) -> str:
        with self._read() as conn:
            return str(conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version")))

    # -- writing ----------------------------------------------------------------------------------------------
    def append(self, items: Sequence[DecisionItem], operator: str,
               also: Callable[[Connection, Sequence[str]], None] | None = None) -> AppendResult:
        """Append ``items`` to the chain; items whose record id is already stored add nothing. ``also``: called with
        the transaction's connection and the ids of the records written (when some were), before it commits — a
        caller's own table kept beside them in one transaction (``reunderwrite``'s log of a plain run,
        :func:`pipelines.schedule.plain_run_logger`): both or neither."""
        if self._pinned is not None:
            raise RuntimeError("DecisionStore.append inside snapshot(): the snapshot's reads would not see the "
                               "records (append outside it)")
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
            if len(seen) < len(ids):  # records to write: tokens from the store's key, each chain one farmer's
                self._check_token_key(conn, record=True)
                self._check_chain_tokens(conn, items, seen)
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

    #: the row :meth:`append` writes for an item (:func:`record_row`)
    _row = staticmethod(record_row)


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
