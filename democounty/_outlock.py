"""The lock of one ``simulate --out``: an OS lock (``flock``) on ``<out>.lock`` beside the folder, held while the
county is built and swapped in, so a second run into the same folder is refused at once instead of both writing
``<out>.partial`` and the later one replacing (or breaking) the earlier one's county. The kernel releases the lock
when its process ends, killed or not: a killed run never blocks the next (its lock file, left behind, is reused)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["held_out_lock", "lock_path"]

#: lock descriptors this process holds: a forked worker (the crop model's and the renderer's pools) closes its copies,
#: so a worker outliving a killed run never keeps the lock (the lock belongs to the open file, shared by fork)
_HELD: set[int] = set()


def _close_in_child() -> None:
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def lock_path(out: Path) -> Path:
    """``<out>.lock``, beside ``out``."""
    return out.with_name(out.name + ".lock")


@contextmanager
def held_out_lock(out: Path, busy: Callable[[Path], Exception]) -> Iterator[Path]:
    """Hold the lock of ``out`` for the ``with`` block, then remove its file; another process holding it: raise
    ``busy(out)`` at once (no wait). A lock file removed by its holder between our open and our lock is opened
    again (its inode checked), so two runs never each hold a lock on a different file of the same name."""
    path = lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise busy(out) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # removed (and perhaps re-made) by the run that held it: lock the file now at that name
    _HELD.add(fd)
    try:
        yield path
    finally:
        try:
            path.unlink()  # still held: a run waiting to open it gets the new file (checked above)
        except OSError:
            pass
        _HELD.discard(fd)
        os.close(fd)
