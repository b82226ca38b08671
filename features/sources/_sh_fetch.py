"""The Process API fetch (no ``sentinelhub`` import here; from :mod:`features.sources.sentinelhub`):
:func:`fetch`, the fields' acquisitions downloaded as local scenes, and its requests sent to other processes —
:func:`tile_task` on a worker, :class:`_Remote` reading the tasks' answers in one call's order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd

from features.errors import ImageryError, UserInputError, format_offenders
from features.sources._sh_answers import _cloud_words
from features.sources._sh_api import _Api
from features.sources._sh_endpoints import PROFILE_ENDPOINT
from features.sources._sh_failures import _detail, _raise_failure, _reason
from features.sources._sh_io import (
    Failure,
    FetchResult,
    FetchSummary,
    Retry,
    SentinelHubCredentialsError,
    SentinelHubQuotaError,
    check_inputs,
    default_cache,
    existing_scenes,
    late_acquisitions,
    write_scenes,
)
from features.sources._sh_plan import Tile, plan_tiles
from features.sources._sh_tasks import _COUNTS, MapTasks, TileTask

__all__ = ["tile_task", "_Remote", "fetch"]

#: the logger of :mod:`features.sources.sentinelhub`: what is logged here keeps its name
LOG = logging.getLogger("features.sources.sentinelhub")


def tile_task(task: TileTask) -> dict[str, Any]:
    """On a worker: one :class:`TileTask` with one call's code (:class:`_Api`: its requests, cache, locks, retries
    and processing-unit accounting). A Catalog search gives ``days`` or the ``failure`` (status, message); the
    downloads give, per acquisition in ``days``' order, the cached GeoTIFF's ``path`` or its ``failure``, and its
    summary's counts (each acquisition's own: summed in one call's order by the client). After a 403 the task's
    other acquisitions are served from the cache only, as in one call. Other errors (no credentials, a page that is
    no catalog page) are raised: the task's one-line error."""
    summary = FetchSummary()
    cache = Path(task.cache_dir) if task.cache_dir is not None else default_cache()
    api = _Api(task.endpoint, task.profile, task.retry, cache, summary)
    if task.kind == "catalog":
        try:
            return {"days": api.acquisitions(task.tile, task.start, task.end, task.max_cloud),
                    "summary": asdict(summary)}
        except Failure as f:
            return {"failure": (f.status, f.message, f.token), "summary": asdict(summary)}
    jobs: list[dict[str, Any]] = []
    refused = False
    for day in task.days:
        api.summary = FetchSummary()
        answer: dict[str, Any] = {}
        try:
            got = api.scene(task.tile, day, task.max_cloud, cached_only=refused)
            answer["path"] = str(got) if got is not None else None
        except Failure as f:
            refused = refused or f.status == 403
            answer["failure"] = (f.status, f.message, f.token)
        answer["summary"] = asdict(api.summary)
        jobs.append(answer)
    return {"jobs": jobs}


class _Remote:
    """:func:`fetch`'s requests sent as :class:`TileTask` s through ``map_tasks``, their answers read in one call's
    order (each one's counts added to ``summary`` when read, as one call counts them)."""

    def __init__(self, map_tasks: MapTasks, base: TileTask, summary: FetchSummary) -> None:
        self.map_tasks, self.base, self.summary = map_tasks, base, summary

    def _count(self, got: dict[str, Any]) -> None:
        for name in _COUNTS:
            setattr(self.summary, name, getattr(self.summary, name) + got[name])
        self.summary.warnings.extend(w for w in got["warnings"] if w not in self.summary.warnings)

    def catalog(self, tiles: list[Tile]) -> list[Callable[[], list[date]]]:
        from dataclasses import replace

        answers = self.map_tasks(tile_task, [replace(self.base, tile=t) for t in tiles], "catalog")

        def read(a: dict[str, Any]) -> list[date]:
            self._count(a["summary"])
            if "failure" in a:
                raise Failure(*a["failure"])
            return list(a["days"])

        from functools import partial

        return [partial(read, a) for a in answers]

    def scenes(self, tiles: list[Tile], by_tile: dict[str, list[date]]) -> Callable[[Tile, date, bool], Path | None]:
        from dataclasses import replace

        tasks = [replace(self.base, kind="scenes", tile=t, days=tuple(by_tile[t.tile_id]))
                 for t in tiles if by_tile[t.tile_id]]
        answers = self.map_tasks(tile_task, tasks, "scenes")
        got = {(t.tile.tile_id, d): j for t, a in zip(tasks, answers, strict=True)
               for d, j in zip(t.days, a["jobs"], strict=True)}

        def scene(tile: Tile, day: date, cached_only: bool) -> Path | None:
            j = got[(tile.tile_id, day)]
            self._count(j["summary"])
            if j.get("path") is not None:
                return Path(j["path"])
            if cached_only:  # after the first 403 in one call's order: not asked (as one call would not)
                return None
            raise Failure(*j.get("failure") or (403, "HTTP 403"))

        return scene


# ---------------------------------------------------------------- public front

def fetch(fields: gpd.GeoDataFrame, start: date, end: date, out_dir: Path, *, endpoint: str = "cdse",
          profile: str | None = None, max_cloud: float = 1.0, resolution: float = 10.0,
          cache_dir: Path | None = None, retry: Retry | None = None, merge_distance: float = 1000.0,
          merge: bool = True, partial: bool = False, map_tasks: MapTasks | None = None) -> FetchResult:
    """Download the fields' Sentinel-2 L2A acquisitions in [start, end] as local scenes; see the module docstring.

    ``max_cloud`` (default 1.0: no scene filter) drops acquisitions whose catalogue *tile* cloud cover (a ~100 km
    Sentinel-2 tile) is above it. Tile cloud is not field cloud, so the feature path never sets it: every
    acquisition is read and the SCL mask decides the clear pixels, as for local scenes and the Statistical API.

    The scenes go to ``out_dir/YYYY/S2_<tile>_<YYYYMMDD>.tif`` and ``out_dir/index.csv`` (written
    last). Responses are cached under ``cache_dir`` (default ``$XDG_CACHE_HOME/agcredit/sentinelhub``,
    else ``~/.cache/agcredit/sentinelhub``), shared by every output folder, so a re-run downloads nothing new.

    ``merge`` (default): a folder already fetched for another window keeps its scenes, this fetch's are added to its
    ``index.csv`` (``sentinelhub.json`` lists every window); a folder whose scenes cannot be merged (another
    endpoint or max_cloud, a box name standing for other ground, an index not written by a fetch) is refused before
    any request, also for the same window. A re-run for the same window and boxes rewrites the index.
    ``merge=False``: the index holds this fetch's scenes only (a working folder read at once, as the feature path
    does).

    An acquisition the service keeps failing (a 5xx after the retries, an unreadable GeoTIFF, a 4xx other than
    401/403/429): by default the fetch is an error and nothing is written (the downloaded ones stay cached).
    ``partial=True`` (``agcredit imagery fetch``) skips it: the others are written, the failed ones are listed in
    ``summary.missing`` and in ``sentinelhub.json`` (``missing``: date, tile, reason), and a re-run fetches only
    them (the others come from the cache). A run where every acquisition fails is an error either way. A 429 still
    refused after the retries is one such failed acquisition (recorded with its cause, ``HTTP 429 …``).

    A 403 (Sentinel Hub's answer to a valid token whose processing units are used up, or whose plan does not allow
    the request) stops the requests: every later one would be refused too; the acquisitions after it that are in the
    cache are still served (no request), so a re-run meeting a 403 keeps the scenes its folder had. Without
    ``partial``, or with no scene at all, it is a :class:`SentinelHubQuotaError` (nothing written; what was downloaded
    stays cached); a partial fetch with scenes writes them, records in ``missing`` only the acquisitions that needed a
    request (the refused one with the service's words, the others "not requested after …"), sets ``summary.stopped``
    to the cause, and a re-run fetches only them.

    ``map_tasks`` (``reunderwrite --scheduler/--workers``: :func:`pipelines._dask_process.fetch_on`): sends the
    requests to other processes — ``map_tasks(tile_task, tasks, label)`` runs :func:`tile_task` on each
    :class:`TileTask` (one per request box: its Catalog search, then its acquisitions' downloads) and returns their
    answers in order. The boxes are planned here, over all the fields (one call's footprints), the scene folder is
    written here from the cached GeoTIFFs the tasks name (their cache must be readable here at the same path), and
    the answers are taken in one call's order, so the folder, the summary and the errors are one call's: a Catalog
    failure is the first box's in order; a 403 stops the requests of its task (its other acquisitions are served from
    the cache only) and is one call's quota error, naming the acquisitions from the first refused one in order.
    """
    fields = check_inputs(fields, start, end)
    if not 0.0 <= float(max_cloud) <= 1.0:
        raise UserInputError(f"max_cloud: expected a fraction in [0, 1], found {max_cloud!r}")
    out_dir = Path(out_dir)
    tiles = plan_tiles(fields, resolution=resolution, merge_distance=merge_distance)
    summary = FetchSummary(tiles=len(tiles))
    api = _Api(endpoint, profile, retry, Path(cache_dir) if cache_dir else default_cache(), summary)
    ep_name = str(endpoint).lower()
    if "profile" in api.ep:  # the deployment the scenes come from, not the word "profile"
        ep_name = f"{PROFILE_ENDPOINT} {api.ep['base_url']}"
    if merge:  # refused before any request when the folder holds scenes that cannot be merged (read again when
        existing_scenes(out_dir, tiles, endpoint=ep_name, start=start, end=end, max_cloud=max_cloud)  # writing)
    by_tile: dict[str, list[date]] = {}
    remote = None if map_tasks is None or not tiles else _Remote(map_tasks, TileTask(
        kind="catalog", tile=tiles[0], start=start, end=end, days=(), endpoint=str(endpoint), profile=profile,
        max_cloud=float(max_cloud), cache_dir=str(Path(cache_dir).absolute()) if cache_dir else None, retry=retry),
        summary)
    searched = remote.catalog(tiles) if remote is not None else None
    for k, tile in enumerate(tiles):
        try:
            by_tile[tile.tile_id] = searched[k]() if searched is not None else \
                api.acquisitions(tile, start, end, max_cloud)
        except Failure as f:
            _raise_failure(f, [str(start), str(end)], list(tile.field_ids), "Catalog API search")
    empty = [t for t in tiles if not by_tile[t.tile_id]]
    no_data_fields = sorted({f for t in empty for f in t.field_ids})
    if len(empty) == len(tiles):
        raise ImageryError(source="Sentinel Hub", problem=(
            f"no Sentinel-2 L2A acquisition{_cloud_words(max_cloud)} between {start} and {end} "
            f"for fields"), offenders=no_data_fields)
    if empty:
        summary.no_acquisition_fields = no_data_fields
        summary.warnings.append(f"no Sentinel-2 L2A acquisition{_cloud_words(max_cloud)} between {start} "
                                f"and {end} for {len(no_data_fields)} field(s): {format_offenders(no_data_fields)}")
    late = late_acquisitions(out_dir, by_tile) if merge and (out_dir / "index.csv").is_file() else []
    if late:
        summary.warnings.append(f"{len(late)} acquisition(s) inside the window(s) this folder was fetched for before "
                                f"are new (published since): {format_offenders(late)} — runs made on the folder "
                                "before did not see them, and `audit replay` of their records will differ")
    jobs = [(t, d) for t in tiles for d in by_tile[t.tile_id]]
    files: dict[tuple[str, date], Path] = {}
    failed: list[str] = []
    missing: list[dict[str, str]] = []
    summary.acquisitions = len(jobs)
    def skip(tile: Tile, day: date, reason: str) -> None:
        failed.append(f"{day} tile {tile.tile_id} ({reason}; fields {', '.join(tile.field_ids[:5])}"
                      f"{' …' if len(tile.field_ids) > 5 else ''})")
        missing.append({"date": day.isoformat(), "tile_id": tile.tile_id, "reason": reason})

    refused: Failure | None = None  # a 403: every later request would be refused too — none is sent
    unasked: list[tuple[Tile, date]] = []  # the acquisitions refused or not requested after the 403
    def here(tile: Tile, day: date, cached_only: bool) -> Path | None:
        return api.scene(tile, day, max_cloud, cached_only=cached_only)

    scene = remote.scenes(tiles, by_tile) if remote is not None else here
    for tile, day in jobs:
        try:
            got = scene(tile, day, refused is not None)
        except SentinelHubCredentialsError as e:  # a 401 again after a new token, midway: the scenes are kept
            if not files:
                raise
            raise SentinelHubCredentialsError(source=e.source, problem=(
                f"{e.problem}; {len(files)} scene{'s' if len(files) != 1 else ''} already downloaded "
                f"{'are' if len(files) != 1 else 'is'} cached and a re-run resumes from them")) from None
        except Failure as f:
            if f.status == 403:  # refused, not failed: only the cache is read from here on (a cached acquisition is
                refused = f      # still served, so a re-run meeting a 403 keeps the scenes its folder had)
                unasked.append((tile, day))
                if not partial:  # all or nothing: the one-line quota error, nothing written
                    break
                summary.stopped = f.message  # a partial fetch keeps what it has: written below, the rest missing
                skip(tile, day, f.message)
                continue
            skip(tile, day, _reason(f))  # a 429 after the retries too: the others may still be answered
            continue
        if got is None:  # after the 403, not in the cache: it would need a request
            unasked.append((tile, day))
            skip(tile, day, f"not requested after {refused.message if refused else 'HTTP 403'}")
        else:
            files[(tile.tile_id, day)] = got
    if refused is not None and (not partial or not files):  # all or nothing, or nothing to keep: the quota error
        rest = jobs[jobs.index(unasked[0]):] if not partial else unasked
        raise SentinelHubQuotaError(status=403, dates=sorted({str(d) for _, d in rest}),
                                    fields=sorted({x for t, _ in rest for x in t.field_ids}),
                                    done=len(files), detail=_detail(refused)) from None
    if failed and (not partial or not files):
        raise ImageryError(source="Sentinel Hub Process API",
                           problem=f"{len(failed)} of {len(jobs)} acquisitions could not be downloaded (nothing was "
                                   f"written; {len(files)} downloaded are cached"
                                   + ("; `agcredit imagery fetch` writes the others and records these)"
                                      if files else ")"), offenders=failed)
    summary.missing = failed
    summary.dates = len({d for _, d in files})
    summary.scenes = len(files)
    write_scenes(out_dir, files, endpoint=ep_name, start=start, end=end, max_cloud=max_cloud, tiles=tiles,
                 merge=merge, missing=missing)
    LOG.info("Sentinel Hub: %d scenes on %d tiles written to %s", summary.scenes, summary.tiles, out_dir)
    return FetchResult(path=out_dir, summary=summary)
