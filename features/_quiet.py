"""Warning filters changed around one call, safely from threads.

:class:`warnings.catch_warnings` swaps the process's single filter list on entry and puts back, on exit, the list it
found. Two threads inside at once undo each other: the first to leave puts back a list without the second's filter
(the second thread's warning is shown), and the second then puts back a list holding the first's filter, which stays
on for the rest of the process (measured: six threads opening a file without georeferencing 300 times each printed
rasterio's NotGeoreferencedWarning once and left an extra filter behind). :func:`ignoring` takes one lock around
the swap, so the feature threads' swaps never interleave; a warning another thread raises meanwhile is filtered as
the list then reads. Keep the guarded call short: the lock serialises it.

rasterio's own ``rasterize`` swaps the list too (around its in-memory raster, to ignore the NotGeoreferencedWarning
that raster raises before its transform is set), outside that lock: a feature thread leaving :func:`ignoring`, or
another ``rasterize``, could put back a list without rasterize's ignore while it ran, and the demo printed the
warning once in a few runs (reproduced: two threads opening scenes beside two building pixel maps, 1 run of 3).
:func:`quiet_rasterize` keeps a permanent ignore of that one warning from ``rasterio.features`` at the head of the
list (the modules that rasterize call it at import, before any thread swaps), so every list a swap puts back holds
it. It can say nothing true: the transform is always ours. (The same swap can still drop :func:`ignoring`'s filter
while a thread opens a scene without georeferencing — its warning is then shown before the reader's one-line error.)
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

__all__ = ["ignoring", "quiet_rasterize"]

_LOCK = threading.RLock()


@contextlib.contextmanager
def ignoring(*categories: type[Warning]) -> Iterator[None]:
    """Ignore warnings of ``categories`` inside the block; the process's filters are as before after it."""
    with _LOCK, warnings.catch_warnings():
        for category in categories:
            warnings.simplefilter("ignore", category)
        yield


def quiet_rasterize() -> None:
    """Ignore rasterio's NotGeoreferencedWarning raised inside ``rasterio.features`` (its in-memory rasterize raster),
    for the rest of the process; idempotent (the filter is moved to the head of the list, not added twice)."""
    from rasterio.errors import NotGeoreferencedWarning

    with _LOCK:
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.features\Z")
