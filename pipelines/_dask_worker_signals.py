"""Preloaded into the worker processes of ``--workers N``'s local cluster (:func:`pipelines._dask_runner.dask_runner`):
Ctrl-C, which a terminal or `timeout` sends to the whole process group, is ignored by the workers — the command
alone handles it and closes the cluster, which stops them. Each worker had printed its own KeyboardInterrupt
traceback (35–67 lines) before the command's one line (a walkthrough)."""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Called by distributed in the worker process, on its event loop's (main) thread, once the worker is set up."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
