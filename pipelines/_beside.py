"""One function run in a process of its own beside the caller's work (:func:`run_beside`).

For plain-Python work (holding the GIL) that would otherwise wait for, or slow, boosters training on threads —
the early-warning threshold tuning beside the crop-type fit (:mod:`pipelines._alert_fit`). The process is a fresh
interpreter in isolated mode (``python -I``) given this process's import path, so it imports the same code and not
a ``pipelines`` folder of the working directory; the function (importable by name) and its arguments go in as a
pickle in a private temporary folder, the result comes back the same way. Not multiprocessing's spawn, which
re-imports the caller's main script (a user's script without a ``__main__`` guard would run again), nor a fork of a
process that has threads.

A process that fails is not trusted to carry its error across (a one-line user error might not survive the
pickle): the caller's ``fallback`` then runs where it raises as itself. Leaving the block stops a process still
running (the caller's own work failed); a caller killed outright (SIGKILL, a scheduler's SIGTERM) is noticed by
the process within a second, which then removes the temporary folder and ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["Beside", "run_beside"]

R = TypeVar("R")


class Beside(Generic[R]):
    """The running function: call it for the result (waiting for the process); ``pid`` is the process's."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path, fallback: Callable[[], R]) -> None:
        self._proc, self._out, self._fallback = proc, out, fallback
        self.pid = proc.pid
        #: set when the result came from ``fallback`` (the process failed), not from the process
        self.fell_back = False

    def __call__(self) -> R:
        if self._proc.wait() == 0 and self._out.is_file():
            with self._out.open("rb") as fh:
                result: R = pickle.load(fh)
            return result
        self.fell_back = True
        return self._fallback()


@contextlib.contextmanager
def run_beside(fn: Callable[..., R], *args: Any, fallback: Callable[[], R],
               owned: tuple[Path, ...] = ()) -> Iterator[Beside[R]]:
    """``fn(*args)`` started in another process; yields a :class:`Beside` returning its result, or ``fallback()``
    when the process failed. ``fn`` must be importable by its module and name, ``args`` picklable. ``owned``: files
    or folders the caller made for the process (e.g. a copy of a store it reads) that the process removes with its
    own temporary folder when the caller is killed outright (the caller removes them otherwise)."""
    from features.atomic import private_tempdir

    # named with this host and process: a caller SIGKILLed after the other process ended (nothing watches then)
    # left the folder, with the arguments' pickle (20 MB on the demo county); the next call removes it
    with private_tempdir("beside") as tmp:
        src, dst = Path(tmp) / "in.pickle", Path(tmp) / "out.pickle"
        with src.open("wb") as fh:
            pickle.dump((fn, args), fh, protocol=pickle.HIGHEST_PROTOCOL)
        # this package's own root first (where this process found it, whatever the working directory now holds)
        path = json.dumps([str(Path(__file__).resolve().parents[1]), *(p or os.getcwd() for p in sys.path)])
        proc = subprocess.Popen([sys.executable, "-I", "-c", _BOOT, path, str(src), str(dst), str(os.getpid()),
                                 json.dumps([str(p) for p in owned])],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield Beside(proc, dst, fallback)
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait()


def _follow_parent(parent: int, folders: list[Path], every: float = 0.5) -> None:
    """Ends this process, and removes its temporary folder and what the caller gave it to own (``folders``: folders
    or files), once its parent is gone (a caller killed with SIGKILL, or SIGTERM from a scheduler's timeout, runs no
    ``finally`` that would stop it): a thread watching the parent id."""
    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                for folder in folders:
                    if folder.is_dir():
                        shutil.rmtree(folder, ignore_errors=True)
                    else:
                        folder.unlink(missing_ok=True)
                os._exit(1)

    threading.Thread(target=watch, name="agcredit-beside-parent", daemon=True).start()


#: the other process's first lines: the caller's import path, then :func:`_main`
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); from pipelines._beside import _main; "
         "sys.exit(_main(sys.argv[2:]))")


def _main(argv: list[str]) -> int:
    """The other process (IN OUT CALLER_PID OWNED): reads IN, runs, writes OUT (renamed into place when complete);
    OWNED: a JSON list of paths removed with IN's folder if the caller is gone (:func:`run_beside`'s ``owned``)."""
    logging.disable(logging.WARNING)  # the caller read the same inputs and said what there was to say
    warnings.simplefilter("ignore")
    src, dst = Path(argv[0]), Path(argv[1])
    owned = [Path(p) for p in json.loads(argv[3])] if len(argv) > 3 else []
    _follow_parent(int(argv[2]), [src.parent, *owned])  # the caller's id as it gave it: gone already is noticed too
    with src.open("rb") as fh:
        fn, args = pickle.load(fh)
    result = fn(*args)
    part = dst.with_suffix(".part")
    with part.open("wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    part.replace(dst)
    return 0

