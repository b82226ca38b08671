"""Small in-process memos for pure work repeated between calls (every checkpoint of a season redoes it).

:class:`Memo` is a thread-safe least-recently-used map bounded by entries and by bytes; :func:`file_key` names a
file's current content by its identity and stat (a file rewritten in place gets another key), so a value computed
from a file is never served for another version of it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

__all__ = ["Memo", "file_key"]


class Memo:
    """At most ``max_items`` values and ``max_bytes`` bytes (as given to :meth:`put`), least recently used dropped
    first. Values are stored and returned as they are: a caller that may mutate one stores or returns a copy."""

    def __init__(self, max_items: int, max_bytes: int | None = None) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the seasons of a county run on threads

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any, nbytes: int = 0) -> None:
        if self.max_bytes is not None and nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._items) > self.max_items or (self.max_bytes is not None and self._bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


def file_key(path: str | Path) -> tuple[str, int, int, int, int, int]:
    """(path, device, inode, size, mtime and ctime in ns) of the file ``path`` names now (OSError when it is gone).
    The ctime too: a copy that keeps the source's time (``cp -p``) over a file of the same size changes only it."""
    st = os.stat(path)
    return str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
