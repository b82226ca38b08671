"""A fetch's requests run on other processes (no ``sentinelhub`` import here; from
:mod:`features.sources.sentinelhub`): the task of one request box (:class:`TileTask`), the runner's map that sends
them, and the counts of a run's summary that each task's answer adds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from features.sources._sh_io import Retry
from features.sources._sh_plan import Tile

__all__ = [
    "MapTasks", "_COUNTS", "TileTask",
]

#: ``map_tasks(fn, tasks, label)``: ``fn`` run on each task elsewhere (a Dask runner's map), the answers in order
MapTasks = Callable[[Callable[["TileTask"], dict[str, Any]], list["TileTask"], str], list[dict[str, Any]]]
_COUNTS = ("requests", "catalog_requests", "downloaded", "retries", "cache_hits", "processing_units", "pu_reported", "pu_estimated")


@dataclass(frozen=True)
class TileTask:
    """One request box's Catalog search (``kind`` "catalog") or its acquisitions' downloads ("scenes", ``days``) on
    another process (:func:`fetch`'s ``map_tasks``). Nothing secret: the endpoint's and a sentinelhub profile's
    *names*; the process reads its credentials (``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` or the profile) when its first
    request needs them. ``cache_dir``: None, that process's default cache."""

    kind: str
    tile: Tile
    start: date
    end: date
    days: tuple[date, ...]
    endpoint: str
    profile: str | None
    max_cloud: float
    cache_dir: str | None
    retry: Retry | None = None
