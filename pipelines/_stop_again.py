"""A stop that Python swallowed is delivered again. The SIGTERM and Ctrl-C handlers (:mod:`pipelines._cli_app`)
raise in the main thread wherever it is; when that is a weakref callback or a ``__del__`` (a Dask client's thread
pool collected), Python prints "Exception ignored in …" and discards the exception — and since the handler had
already set both signals to be ignored, the run went on to the end and exited 0 (a walkthrough: `value --workers 2`
under SIGTERM, 2 runs in 8). :func:`stopping` notes the exception in flight; the unraisable hook installed by
:func:`install` recognises it, puts the signal's handler back and sends the signal again a moment later, so the
stop lands in the run's own code and its clean-up and one line follow as for any stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["install", "stopping"]

_IN_FLIGHT: list[tuple[int, BaseException]] = []  # the signal and the exception its handler raised (one at a time)
_PREVIOUS: list[Callable[[Any], Any]] = []


def stopping(signum: int, exc: BaseException) -> BaseException:
    """Called by a handler about to ``raise exc`` for ``signum``: the signals are ignored from now on
    (:func:`pipelines._cli_app.quiet_signals`: the clean-up runs to its end) and ``exc`` is noted as in flight."""
    from pipelines._cli_app import quiet_signals

    quiet_signals()
    _IN_FLIGHT[:] = [(signum, exc)]
    return exc


def install() -> None:
    """Install the unraisable hook (once; other unraisable exceptions go to the hook in place before)."""
    if sys.unraisablehook is not _hook:
        _PREVIOUS[:] = [sys.unraisablehook]
        sys.unraisablehook = _hook


def _hook(u: Any) -> None:
    flight = _IN_FLIGHT[0] if _IN_FLIGHT else None
    if flight is not None and u.exc_value is flight[1] and threading.current_thread() is threading.main_thread():
        _IN_FLIGHT.clear()
        from pipelines._cli_app import _on_sigint, _on_sigterm

        signum = flight[0]
        signal.signal(signum, _on_sigterm if signum == signal.SIGTERM else _on_sigint)
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signum))  # lands once the callback has returned
        timer.daemon = True
        timer.start()
        return
    (_PREVIOUS[0] if _PREVIOUS else sys.__unraisablehook__)(u)
