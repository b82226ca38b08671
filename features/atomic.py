"""Atomic file output: a temporary file in the target folder, then a rename — never a partial file."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

__all__ = ["cached_table", "check_writable", "undone_on_user_error", "private_tempdir", "private_tempdir_prefix", "sweep_private_tempdirs", "temp_beside",
           "write_all_atomic", "write_bytes_atomic", "write_table_atomic"]


def _written_through(path: Path, name: Path | None = None, what: str = "output") -> Path:
    """The file a write to ``path`` lands in: a symbolic link's target (the rename had replaced the link itself with
    a file, the target left as it was); a path that exists and is no regular file — a device such as /dev/stdout,
    a pipe or socket — is refused (a whole file is renamed into place: it cannot be streamed there)."""
    from features.errors import UserInputError

    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.exists() and not target.is_file() and not target.is_dir():
        raise UserInputError(f"{name or path}: the {what} is not a regular file (a device, pipe or socket): outputs "
                             "are written whole into a file — give a file path")
    return target


def check_writable(out: str | Path, *, what: str = "output", shown: str | Path | None = None) -> Path:
    """Check, before any work, that a file can be written at ``out``: a :class:`~features.errors.UserInputError`
    naming the path when it is a folder, when a parent is a file, or when the nearest existing folder is not
    writable (read-only, permissions). Creates nothing (a probe file is removed at once; missing folders are
    created by the writer later, as the atomic writers do). ``shown``: the path the user gave, named in the messages
    instead of ``out`` when ``out`` is an internal name (e.g. ``simulate``'s ``<out>.partial`` build folder)."""
    from features.errors import UserInputError

    name = Path(shown) if shown is not None else Path(out)
    path = _written_through(Path(out), name, what)
    if path.is_dir():
        raise UserInputError(f"{name}: the {what} is a folder (expected a file path)")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserInputError(f"{name}: cannot write the {what} there ({folder} is a file, expected a folder)")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UserInputError(f"{name}: cannot write the {what} there ({e.strerror or type(e).__name__})") from None
    return Path(out)


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _host() -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


#: a temporary file younger than this is never swept (a writer in another PID namespace — a container sharing the
#: host name and the folder — looks dead from here; no atomic write takes this long)
STALE_AFTER_S = 3600.0
_SWEPT: set[str] = set()
_SWEPT_LOCK = threading.Lock()


#: open descriptors of this process's temporary files, each holding an exclusive ``flock`` until the file is renamed
#: or removed: the lock goes with the process however it ends (kill -9 too), so a file nobody holds locked was left
_HELD: dict[str, int] = {}


def _hold(tmp: str) -> None:
    """Lock ``tmp`` (this process writes it) until :func:`_release`; nothing where ``flock`` is unavailable."""
    try:
        import fcntl

        fd = os.open(tmp, os.O_RDONLY)
    except (ImportError, OSError):
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    _HELD[tmp] = fd


def _release(tmp: str) -> None:
    fd = _HELD.pop(tmp, None)
    if fd is not None:
        os.close(fd)


def _unheld(file: str) -> bool:
    """Whether no process holds ``file`` locked (:func:`_hold`): its writer is gone, whatever PID namespace it ran
    in (a lock is the kernel's, not a pid). False when that cannot be known (no ``flock``, a file system refusing
    it)."""
    try:
        import fcntl

        fd = os.open(file, os.O_RDONLY)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases a lock this test took


def _sweep_stale(path: Path, suffix: str) -> None:
    """Remove temporary files a killed process left in ``path``'s folder: those named by :func:`temp_beside` on this
    host whose process is gone (a kill -9 runs no cleanup) and that are older than :data:`STALE_AFTER_S` — or, those
    of ``path`` itself (the same target written again: a killed ``decisions export --out k2.csv`` left a 563 KB
    ``.k2.csv.<host>-<pid>.<random>.tmp`` that the next export kept), at any age once no process holds them locked
    (every writer locks its temporary file while it lives, :func:`_hold`). Files of live processes, young files of
    other targets, files of other hosts (a shared folder) and of any other name are left alone. Each folder is swept
    once per process (listing a cache folder of thousands of files at every write would cost)."""
    folder = str(path.parent.resolve())
    with _SWEPT_LOCK:
        if folder in _SWEPT:
            return
        _SWEPT.add(folder)
    host = f".{_host()}-"
    try:
        names = [n for n in os.listdir(folder) if n.startswith(".") and host in n and n.endswith(suffix)]
    except OSError:
        return
    now, own = time.time(), f".{path.name}{host}"
    for n in names:
        pid = n.split(host, 1)[1].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        file = os.path.join(folder, n)
        try:
            if now - os.stat(file).st_mtime > STALE_AFTER_S or (n.startswith(own) and _unheld(file)):
                os.unlink(file)
        except OSError:
            pass


def private_tempdir_prefix(kind: str) -> str:
    """The name prefix of this process's temporary folders of ``kind`` in TMPDIR: ``agcredit-<kind>-<host>-<pid>-``."""
    return f"agcredit-{kind}-{_host()}-{os.getpid()}-"


def is_private_tempdir(path: str | Path, kind: str) -> bool:
    """Whether ``path`` is named as a temporary folder of ``kind`` (:func:`private_tempdir_prefix`, any process's)."""
    return Path(path).name.startswith(f"agcredit-{kind}-")


def sweep_private_tempdirs(kind: str, root: str | Path | None = None) -> int:
    """Remove the temporary folders of ``kind`` (:func:`private_tempdir`) that processes of this host killed outright
    (SIGKILL, the OOM killer: no cleanup ran) left in TMPDIR (or ``root``) — a registration's model folder is several
    MB, and each kill left one for good: those whose process is gone and that are older than :data:`STALE_AFTER_S` (a
    live process in another PID namespace sharing the folder and the host name is not taken for a dead one; another
    host's folders in a shared ``root`` are never touched). Returns how many were removed."""
    import shutil

    host = f"agcredit-{kind}-{_host()}-"
    root = str(root) if root is not None else tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(host)]
    except OSError:
        return 0
    now, n = time.time(), 0
    for name in names:
        pid = name[len(host):].split("-", 1)[0]
        try:
            if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
                continue
            if now - os.stat(os.path.join(root, name)).st_mtime > STALE_AFTER_S:
                shutil.rmtree(os.path.join(root, name))
                n += 1
        except (OSError, OverflowError):
            pass
    return n


@contextmanager
def private_tempdir(kind: str, root: str | Path | None = None) -> Iterator[str]:
    """A temporary folder in TMPDIR (or in ``root``, e.g. a cache folder shared with Dask workers) for the block
    (``tempfile.TemporaryDirectory``), named with this host and process (``agcredit-<kind>-<host>-<pid>-…``) so that a
    later one of the same kind removes what a killed process left (:func:`sweep_private_tempdirs`)."""
    sweep_private_tempdirs(kind, root)
    with tempfile.TemporaryDirectory(prefix=private_tempdir_prefix(kind), dir=root) as tmp:
        yield tmp


def _disk_full(e: OSError) -> int | None:
    """ENOSPC or EDQUOT for an OSError of a full disk or quota that names no file (pyarrow's carries the errno in
    its message only), else None."""
    import errno

    if e.filename is not None or e.filename2 is not None:
        return None
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return e.errno
    text = str(e).lower()
    if "no space left on device" in text:
        return errno.ENOSPC
    if "disk quota exceeded" in text:
        return errno.EDQUOT
    return None


@contextmanager
def temp_beside(out: str | Path, *, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary file name in ``out``'s folder (created, with missing parents) for the caller to fill; on a
    normal exit it is given the mode a new file gets under the umask (``mkstemp`` makes it private, 0600 — a web
    server, another team or Dask workers running as another user could not read the result) and renamed onto
    ``out`` in one step; on an error it is removed and ``out`` is untouched. The name carries this host and process
    (``.<name>.<host>-<pid>.<random><suffix>``), and the file is locked while this process lives, so a later write
    into the folder removes what a killed process left there (:func:`_sweep_stale`). A symbolic link ``out`` is
    written through: its target gets the bytes (:func:`_written_through`)."""
    path = _written_through(Path(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _stage_beside(path, suffix)
    try:
        try:
            yield tmp
        except OSError as e:
            if (named := _named_disk_full(e, path)) is e:
                raise
            raise named from e
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        _release(tmp)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _stage_beside(path: Path, suffix: str) -> str:
    """A new empty temporary file beside ``path`` (named with host and pid, so that a later write sweeps what a killed
    process left, :func:`_sweep_stale`), after sweeping such leftovers."""
    _sweep_stale(path, suffix)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=suffix)
    os.close(fd)
    _hold(tmp)
    return tmp


def _named_disk_full(e: OSError, path: Path) -> OSError:
    """``e`` itself, or — a full disk or quota, which a write into the temporary file reports without a path
    (file.write, pyarrow) — the same error naming the file it stands for."""
    full = _disk_full(e)
    return e if full is None else OSError(full, os.strerror(full), str(path))


def write_table_atomic(df: pd.DataFrame, out: str | Path, *, fmt: str | None = None,
                       metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``df`` as Parquet (default) or CSV (``fmt="csv"`` or a ``.csv`` suffix) atomically; ``metadata``:
    key-value pairs added to the Parquet file's schema metadata (e.g. the lineage of a FieldFeatures file)."""
    path = Path(out)
    kind = fmt or ("csv" if path.suffix.lower() == ".csv" else "parquet")
    with temp_beside(path) as tmp:
        if kind == "csv":
            df.to_csv(tmp, index=False)
        elif metadata:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            extra = {k.encode(): v.encode() for k, v in metadata.items()}
            pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), tmp)
        else:
            df.to_parquet(tmp, index=False)
    return path


def write_bytes_atomic(data: bytes, out: str | Path) -> Path:
    """Write ``data`` to ``out`` atomically (a temporary file in the same folder, then a rename)."""
    path = Path(out)
    with temp_beside(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


@contextmanager
def undone_on_user_error(path: str | Path | None, *, interrupted: bool = False) -> Iterator[None]:
    """Put ``path`` back as it was (absent, or its earlier bytes) when the block raises a user error: a file a run
    writes before its later checks (``underwrite --rejects``'s, written before any decision is stored) is not left
    behind by a run those checks refuse, which stores nothing. Other errors leave it (a crash after the store).
    ``interrupted``: SIGTERM and Ctrl-C too (a run that stores nothing — ``monitor``, ``report`` — whose file
    describes an output never made)."""
    from features.errors import UserInputError

    if path is None:
        yield
        return
    # a symbolic link's target is what the run writes (:func:`_written_through`) and what is put back: the link
    # itself was unlinked and its new target left behind (a review)
    p = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    before = p.read_bytes() if p.is_file() else None
    undo: tuple[type[BaseException], ...] = (UserInputError, KeyboardInterrupt) if interrupted else (UserInputError,)
    try:
        yield
    except undo:
        if before is None:
            p.unlink(missing_ok=True)
        else:
            write_bytes_atomic(before, p)
        raise


def write_all_atomic(items: Sequence[tuple[Path, bytes]]) -> None:
    """Write each ``(path, data)`` of ``items``, all or none — as far as a kill allows. Every file is first written
    in full to a temporary file beside its target (:func:`temp_beside`'s names, so a later write sweeps what a killed
    process left); only then are the temporaries renamed onto their targets, one after another. A run killed
    (SIGKILL, power loss) or failing while the files are written changes no target; a failure among the renames puts
    back what the renames replaced (a file that was not there is removed). The renames take microseconds: the
    window in which a kill leaves some targets new and others old is that short, where writing the files one by
    one left it open for as long as the writes took."""
    staged: list[tuple[Path, str]] = []
    try:
        for out, data in items:
            path = _written_through(Path(out))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _stage_beside(path, ".tmp")
            staged.append((path, tmp))
            try:
                Path(tmp).write_bytes(data)
            except OSError as e:
                if (named := _named_disk_full(e, path)) is e:
                    raise
                raise named from e
            os.chmod(tmp, 0o666 & ~_umask())
        # every file is on disk beside its target: from here only renames are left
        before = [(path, path.read_bytes() if path.is_file() else None) for path, _tmp in staged]
        done = 0
        try:
            for path, tmp in staged:
                os.replace(tmp, path)
                done += 1
        except BaseException:
            for path, old in before[:done]:
                try:
                    if old is None:
                        path.unlink(missing_ok=True)
                    else:
                        write_bytes_atomic(old, path)
                except OSError:
                    pass
            raise
    finally:
        for _path, tmp in staged:
            _release(tmp)
            if os.path.exists(tmp):
                os.unlink(tmp)


def cached_table(path: str | Path | None, compute: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, bool]:
    """``(table, from_cache)``: the Parquet file at ``path`` when it reads, else ``compute()`` — written there
    atomically when ``path`` is given. A damaged cache file is recomputed and replaced."""
    if path is not None and Path(path).is_file():
        try:
            return pd.read_parquet(path), True
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    df = compute()
    if path is not None:
        write_table_atomic(df, path, fmt="parquet")
    return df, False
