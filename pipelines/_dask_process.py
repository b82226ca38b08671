"""A Process-API download (``--imagery sentinelhub``) with its requests on Dask workers (private; used by
:func:`pipelines._dask_featurize.featurize_on` and :func:`pipelines._dask_featurize.past_series_on` through
:func:`features.series.build_series`'s ``fetch_process``, for the planted area's scene folder, and by the library's
:func:`pipelines.distributed.run_series`, :func:`~pipelines.distributed.features_distributed` and
:func:`~pipelines.distributed.run_portfolio`, whose blocks then read the folder it wrote).

A download's request boxes follow the fields asked (:func:`features.sources._sh_plan.plan_tiles`: close fields share
a box), so they are planned on the client over ALL the fields, as one machine plans them; only the requests travel:
one task per box for its Catalog search, then one per box for its acquisitions' GeoTIFFs
(:func:`features.sources.sentinelhub.tile_task`: one machine's requests, cache, locks, retries and processing-unit
accounting). The client reads the answers in one machine's order and writes the scene folder from the cached
GeoTIFFs — the folder, the summary and the errors (a Catalog failure, acquisitions failed after the retries, a 403's
quota error, no credentials) are one call's; nothing is written on an error.

Where things are: each worker downloads into its cache (``XDG_CACHE_HOME``, else ``~/.cache``: give the workers and
the client one shared folder at the same path — the client copies the GeoTIFFs the workers name), and the scene
folder is written where one machine writes it (``<cache>/series/sentinelhub``, ``<cache>/area/sentinelhub``, or a
temporary folder of the client without ``--cache``), which the planted area's blocks read on the workers, as a scene
folder's Dask run assumes (the same path on every worker: a shared file system).

Credentials: a task carries the endpoint's name and a sentinelhub profile's *name* only; each worker reads its own
(``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` or its sentinelhub profile) when its first request needs them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

__all__ = ["fetch_on"]


def fetch_on(runner: Any, fields: Any, start: dt.date, end: dt.date, out_dir: Path, **kw: Any) -> Any:
    """:func:`features.sources.sentinelhub.fetch` with its requests on ``runner``'s workers (see the module
    docstring); the same :class:`~features.sources._sh_io.FetchResult`, or the same one-line error."""
    from features.sources import sentinelhub as sh

    def map_tasks(fn: Any, tasks: list[Any], label: str) -> list[Any]:
        return list(runner.map(fn, tasks, label=label))

    return sh.fetch(fields, start, end, out_dir, map_tasks=map_tasks, **kw)
