"""The decision store's run lock (private to underwriting.store): one ``reunderwrite --due`` run at a time on a store
(PostgreSQL: a session advisory lock; SQLite: ``flock`` on a file beside the database), not waiting."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from underwriting._store_files import _sqlite_file, store_error, store_url
from underwriting._store_schema import DUE_RUN_LOCK_KEY, make_engine, safe_url


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
