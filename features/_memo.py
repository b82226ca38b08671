"""Small in-process memos for pure work repeated between calls (every checkpoint of a season redoes it).

:class:`Memo` is a thread-safe least-recently-used map bounded by entries and by bytes; :func:`file_key` names a
file's current content by its identity and stat (a file rewritten in place gets another key), so a value computed
from a file is never served for another version of it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

__all__ = ["FRESH_NS", "Memo", "file_key"]


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
        """The value under ``key`` (None when absent, or when ``key`` is None: nothing to remember it by)."""
        if key is None:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any, nbytes: int = 0) -> None:
        """Remember ``value`` (``nbytes`` large) under ``key``; a None key is not remembered."""
        if key is None or (self.max_bytes is not None and nbytes > self.max_bytes):
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


#: a file changed less than this long ago is not remembered: on a filesystem keeping whole seconds (ext2/3 with small
#: inodes, FAT's two), a rewrite within the same second would keep its times, so its key
FRESH_NS = 2_000_000_000


def file_key(path: str | Path) -> tuple[str, int, int, int, int, int] | None:
    """(path, device, inode, size, mtime and ctime in ns) of the file ``path`` names now (OSError when it is gone);
    None for a file changed in the last :data:`FRESH_NS` (not to be remembered: :class:`Memo` ignores a None key).
    The ctime too: a copy that keeps the source's time (``cp -p``) over a file of the same size changes only it."""
    st = os.stat(path)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < FRESH_NS:
        return None
    return str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
