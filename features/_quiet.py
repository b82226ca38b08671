"""Warning filters changed around one call, safely from threads.

:class:`warnings.catch_warnings` swaps the process's single filter list on entry and puts back, on exit, the list it
found. Two threads inside at once undo each other: the first to leave puts back a list without the second's filter
(the second thread's warning is shown), and the second then puts back a list holding the first's filter, which stays
on for the rest of the process (measured: six threads opening a file without georeferencing 300 times each printed
rasterio's NotGeoreferencedWarning once and left an extra filter behind). :func:`ignoring` takes one lock around
the swap, so the feature threads' swaps never interleave; a warning another thread raises meanwhile is filtered as
the list then reads. Keep the guarded call short: the lock serialises it.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

__all__ = ["ignoring"]

_LOCK = threading.RLock()


@contextlib.contextmanager
def ignoring(*categories: type[Warning]) -> Iterator[None]:
    """Ignore warnings of ``categories`` inside the block; the process's filters are as before after it."""
    with _LOCK, warnings.catch_warnings():
        for category in categories:
            warnings.simplefilter("ignore", category)
        yield
