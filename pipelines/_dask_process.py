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

The shared cache is checked up front (:func:`check_shared_cache`, one round trip before any request): the client
writes a marker file of a random name in the cache folder and every worker reads it in the folder its downloads go
to; a worker that cannot is a one-line error naming the folder and how many workers cannot see it (a remote cluster
without the shared folder failed only at the planted area, after the downloads).

Credentials: a task carries the endpoint's name and a sentinelhub profile's *name* only; each worker reads its own
(``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` or its sentinelhub profile) when its first request needs them.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

__all__ = ["fetch_on", "check_shared_cache"]


def fetch_on(runner: Any, fields: Any, start: dt.date, end: dt.date, out_dir: Path, **kw: Any) -> Any:
    """:func:`features.sources.sentinelhub.fetch` with its requests on ``runner``'s workers (see the module
    docstring); the same :class:`~features.sources._sh_io.FetchResult`, or the same one-line error."""
    from features.sources import sentinelhub as sh

    check_shared_cache(runner, kw.get("cache_dir"))

    def map_tasks(fn: Any, tasks: list[Any], label: str) -> list[Any]:
        return list(runner.map(fn, tasks, label=label))

    return sh.fetch(fields, start, end, out_dir, map_tasks=map_tasks, **kw)


def check_shared_cache(runner: Any, cache_dir: str | Path | None = None) -> None:
    """A one-line :class:`~pipelines.errors.RunInputError` when a worker of ``runner``'s cluster cannot read the
    Sentinel Hub cache folder of the client (``cache_dir``, else ``XDG_CACHE_HOME``'s or ``~/.cache``'s, as
    :func:`features.sources.sentinelhub.tile_task` takes it on the worker): a marker file of a random name is written
    there, every worker asked at once whether it reads it in its own folder (:func:`_reads_marker`), the marker
    removed in every case (and the folder, when this made it). A runner without a cluster (one process), or a
    read-only cache the marker cannot be written in (the downloads are not cached there either), is not checked."""
    client = getattr(runner, "client", None)
    if client is None:
        return
    from features.sources._sh_io import default_cache
    from pipelines.errors import RunInputError

    given = str(Path(cache_dir).absolute()) if cache_dir else None  # as fetch gives it to the tasks
    folder = Path(given) if given is not None else default_cache()
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    token = os.urandom(8).hex()
    marker = folder / f".agcredit-shared-{token}"
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
        except OSError:  # read-only: nothing is cached there (said by the fetch); not checked
            return
        seen = client.run(_reads_marker, given, marker.name, token)
    finally:
        marker.unlink(missing_ok=True)
        for p in missing:  # innermost first: only the folders made here, and only empty
            try:
                p.rmdir()
            except OSError:
                break
    blind = sum(1 for ok in seen.values() if not ok)
    if blind:
        raise RunInputError(what="dask runner", problem=(
            f"{blind} of {len(seen)} worker(s) cannot read the Sentinel Hub cache folder {folder} (a file the client "
            "wrote there is not in theirs): the workers download into it and the client reads what they download — "
            "give the client and every worker one shared folder at the same path (XDG_CACHE_HOME on a shared file "
            "system); nothing was requested"))


def _reads_marker(cache_dir: str | None, name: str, token: str) -> bool:
    """On a worker: whether the marker ``name`` holding ``token`` is in the cache folder its downloads go to."""
    from features.sources._sh_io import default_cache

    folder = Path(cache_dir) if cache_dir is not None else default_cache()
    try:
        return (folder / name).read_text() == token
    except (OSError, UnicodeDecodeError):
        return False
