"""Independent LightGBM fits run side by side on threads.

LightGBM releases the GIL while it trains (its C API is called through ctypes), so independent boosters — the
folds of an out-of-fold pass, a crop-type model's checkpoints, a yield model's quantiles and calibration folds —
train in parallel on threads without copying data to other processes. Every booster keeps ``num_threads=1`` and
its own Dataset, so each is the same bytes however many run at once: the thread count changes the time, never a
model (tested). :func:`thread_map` returns the results in the order of the items.

Every LightGBM call made on these threads — training *and* predicting — passes ``num_threads``: LightGBM (>= 4.2)
keeps the thread count in a process-wide variable that a call without it resets to "all cores", so a predict of one
fold made the other folds' fits, whose per-thread buffers were sized for one thread, write past them — a segfault in
``lib_lightgbm.so`` (seen twice here: an ``evaluate crop-type`` on ne-eval and the us-nebraska demo's yield training).

``AGCREDIT_THREADS`` sets how many (a positive integer; 1 runs everything in the calling thread); the default is
the machine's CPU count, at most 4.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from features.errors import UserInputError

__all__ = ["thread_count", "thread_map"]

T = TypeVar("T")
R = TypeVar("R")

#: the default's ceiling: more than four independent fits are rare here
MAX_DEFAULT = 4


def thread_count() -> int:
    """``AGCREDIT_THREADS`` when set, else the CPU count capped at :data:`MAX_DEFAULT`."""
    raw = os.environ.get("AGCREDIT_THREADS", "").strip()
    if not raw:
        return max(1, min(MAX_DEFAULT, os.cpu_count() or 1))
    if not raw.isdigit() or int(raw) < 1:
        raise UserInputError(f"AGCREDIT_THREADS: expected a positive integer, found {raw!r}")
    return int(raw)


def thread_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, run on up to ``workers`` threads (default :func:`thread_count`); results in the
    order of ``items``; the first exception raised is re-raised."""
    todo = list(items)
    n = min(len(todo), thread_count() if workers is None else max(1, int(workers)))
    if n <= 1:
        return [fn(x) for x in todo]
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="agcredit-fit") as pool:
        return list(pool.map(fn, todo))
