"""The decision store's URL and files (private to underwriting.store): the URL in force, a SQLite URL's database file,
stores on read-only media and their write-ahead logs, readers' private copies, a new store's folder lock and the
leftovers of killed creations, and a database error as one line naming the store."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from underwriting._store_schema import safe_url
from underwriting.errors import StoreError

DEFAULT_URL = "sqlite:///agcredit-decisions.db"
ENV_URL = "AGCREDIT_STORE_URL"


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
