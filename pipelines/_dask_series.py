"""The series stage (private; see :mod:`pipelines.distributed`): :func:`run_series` — FieldTimeSeries on spatial
blocks of fields, bit-identical to one :func:`features.series.build_series` — a ``sentinelhub`` season's one download,
the blocks' tasks (:func:`_series_task`, run on the workers) and their results merged as one call reports them."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contracts import FIELD_TIME_SERIES, VARIABLES, check_field_time_series, check_fields, check_season
from features.errors import FieldsError, ImageryError
from features.series import NO_FIELD_PROBLEM
from pipelines._dask_inputs import (
    DEFAULT_CHUNK_FIELDS,
    _download_fingerprint,
    _imagery_fingerprint,
    _is_process_api,
    client_paths,
    field_blocks,
)
from pipelines._dask_parts import (
    content_key,
    part_path,
    read_part,
    read_part_meta,
    remove_stale_tmp,
    write_part,
)
from pipelines._dask_process import workers_credentials
from pipelines._dask_runner import Runner, local_runner
from pipelines._dask_scenes import remove, scene_rows_per_block, write_index

__all__ = [
    "_ORDER", "_empty_series", "_sort_series", "DistributedSeries", "_SeriesTask", "_series_download",
    "_with_download", "_download_outcome", "_series_task", "_series_block", "_series_plan", "_series_outcome",
    "run_series", "_series_merged", "run_series_seasons", "series_distributed",
]

_ORDER = {v: i for i, v in enumerate(VARIABLES)}


def _empty_series() -> pd.DataFrame:
    """An empty FieldTimeSeries with the contract's dtypes (as ``build_series`` returns one)."""
    types = {"field_id": "str", "season": "str", "date": "datetime64[ns]", "variable": "str", "n_pixels": "int64",
             "n_clear": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "float64")) for c in FIELD_TIME_SERIES.names})


def _sort_series(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    v = df["variable"].map(_ORDER)
    return (df.assign(_v=v).sort_values(["field_id", "date", "_v"], kind="mergesort").drop(columns="_v")
            .reset_index(drop=True))


# ---------------------------------------------------------------------- series
@dataclass
class DistributedSeries:
    """A season's series from partitions, with what the partitions reported (as ``SeriesResult``)."""

    series: pd.DataFrame
    outside_fields: list[str]
    small_fields: list[str]
    dates_used: list[dt.date]
    n_partitions: int
    source: str = ""
    scenes_read: int = 0
    scenes_cached: int = 0
    parts_reused: int = 0
    warnings: list[str] = field(default_factory=list)
    #: a ``sentinelhub`` download's summary (requests, cache hits, processing units), as ``SeriesResult``'s; else None
    fetch_summary: Any = None


@dataclass(frozen=True)
class _SeriesTask:
    key: str
    fields: Any
    imagery: str
    season: str
    kwargs: dict[str, Any]
    out: str | None
    scenes: Any = None  # the block's index rows (pipelines._dask_scenes), or None: the imagery as given


def _series_download(runner: Runner, fields: Any, season: str, stack: contextlib.ExitStack, *,
                     as_of: dt.date | None, start: dt.date | None, end: dt.date | None,
                     cache_dir: Path | None) -> tuple[Path, Any]:
    """A ``sentinelhub`` season's ONE download for all ``fields``, as one :func:`features.series.build_series`
    plans it (its window, ``<cache_dir>/sentinelhub`` or a temporary folder removed with ``stack`` where the workers
    read it: :func:`pipelines._dask_process.scene_folder`), its Catalog searches and GeoTIFFs on ``runner``'s workers
    (:func:`pipelines._dask_process.fetch_on`): (the scene folder the blocks then read, the download's summary).
    Raises one call's one-line error (403, no credentials...)."""
    from features.series import _field_windows
    from pipelines._dask_process import fetch_on, scene_folder

    season = check_season(season)
    check_fields(fields, where="fields")
    fs = fields[fields["season"].astype(str) == season]
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    _, lo, hi = _field_windows(fs, season, start, end)
    out_dir = scene_folder(runner, stack, cache_dir, "sentinelhub")
    fetched = fetch_on(runner, fs, lo, min(hi, as_of) if as_of else hi, out_dir, max_cloud=1.0, merge=False)
    return Path(fetched.path), fetched.summary


def _with_download(ds: DistributedSeries, summary: Any) -> DistributedSeries:
    """A downloaded season's merged blocks as one ``build_series`` on ``sentinelhub`` reports them
    (:func:`_download_outcome`)."""
    ds.outside_fields, ds.warnings = _download_outcome(ds.outside_fields, ds.warnings, summary)
    ds.fetch_summary = summary if summary is not None else ds.fetch_summary  # the blocks' own (Statistical API)
    return ds


def _download_outcome(outside: list[str], warnings: list[str], summary: Any) -> tuple[list[str], list[str]]:
    """The blocks' outside fields and warnings as one ``build_series`` on ``sentinelhub`` says them: the download's
    warnings first, its fields without an acquisition not "outside" (``summary`` None: unchanged)."""
    if summary is None:
        return outside, warnings
    none = {str(f) for f in summary.no_acquisition_fields}
    outside = [f for f in outside if f not in none]
    warns = [w for w in warnings if "outside every scene" not in w]
    if outside:
        warns.append(f"{len(outside)} field(s) outside every scene")
    return outside, [*summary.warnings, *warns]


def _series_task(task: _SeriesTask) -> tuple[str | pd.DataFrame, dict[str, Any]]:
    df, meta, path = _series_block(task)
    if path is None:
        assert df is not None
        return df, meta
    return str(path), meta


def _series_block(task: _SeriesTask) -> tuple[pd.DataFrame | None, dict[str, Any], Path | None]:
    """One block's series: (frame, or None when its finished part was reused; what it reported; its part)."""
    from features.series import build_series

    path = part_path(task.out, task.key) if task.out is not None else None
    if path is not None and path.is_file():
        return None, {**read_part_meta(path), "read": 0, "cached": 0, "reused": True}, path
    empty = {"outside": sorted(task.fields["field_id"].astype(str)), "small": [], "dates": [], "read": 0,
             "cached": 0, "warnings": []}
    if task.scenes is not None and not task.scenes[1]:
        df, meta = _empty_series(), empty  # no file meets this block
    else:
        folder = write_index(task.scenes) if task.scenes is not None else None
        try:
            # the series alone: the scene reference is built once for the features stage (_features_setup)
            res = build_series(task.fields, str(folder) if folder is not None else task.imagery, task.season,
                               **{"reference": False, **task.kwargs})
            meta = {"outside": res.outside_fields, "small": res.small_fields,
                    "dates": [d.isoformat() for d in res.dates_used], "read": res.scenes_read,
                    "cached": res.scenes_cached, "warnings": res.warnings,
                    "fetch": asdict(res.fetch_summary) if res.fetch_summary is not None else None}
            df = res.series
        except ImageryError as e:
            if e.problem != NO_FIELD_PROBLEM:
                raise
            # a block without a series is no error (the run is, if every block is); its reason, when more exact
            # than "outside" (no acquisition, a table matching no field), is what the run then says
            df, meta = _empty_series(), {**empty, "why": getattr(e, "why", None)}
        finally:
            if folder is not None:
                remove(folder)
    if path is not None:  # the part keeps what its data says, not this attempt's scene reads (cache, retries)
        write_part(df, path, {k: v for k, v in meta.items() if k not in ("read", "cached", "fetch")})
    return df, meta, path


def _series_plan(fields: Any, imagery: str | Path, season: str, *, chunk_fields: int, as_of: dt.date | None,
                 start: dt.date | None, end: dt.date | None, variables: Sequence[str], cache_dir: Path | None,
                 inward_buffer: bool, min_clear: int, out: Path | None, fingerprint: Any = None
                 ) -> tuple[Any, list[np.ndarray], list[_SeriesTask]]:
    """The season's fields, their spatial blocks and one series task per block (keys as the parts are named;
    ``fingerprint``: the imagery's in them, default :func:`_imagery_fingerprint`)."""
    season = check_season(season)
    check_fields(fields, where="fields")
    fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    kwargs = {"as_of": as_of, "start": start, "end": end, "variables": list(dict.fromkeys(variables)),
              "cache_dir": cache_dir, "inward_buffer": inward_buffer, "min_clear": min_clear}
    from features.series import ENGINE_VERSION, fields_hash

    common = content_key("series/1", ENGINE_VERSION,
                         fingerprint if fingerprint is not None else _imagery_fingerprint(imagery), season,
                         {k: v for k, v in kwargs.items() if k != "cache_dir"})
    blocks = field_blocks(fs, chunk_fields)
    per_block = scene_rows_per_block(Path(str(imagery)), fs, blocks, season, as_of=as_of, start=start, end=end)
    if per_block is not None and not any(rows for _, rows in per_block):
        per_block = None  # nothing in the window: every block says so, as one build_series would
    tasks = []
    for b, rows in enumerate(blocks):
        part = fs.iloc[rows].reset_index(drop=True)
        tasks.append(_SeriesTask(key=content_key(common, fields_hash(part)), fields=part, imagery=str(imagery),
                                 season=season, kwargs=kwargs, out=str(out) if out is not None else None,
                                 scenes=per_block[b] if per_block is not None else None))
    return fs, blocks, tasks


def _series_outcome(fs: Any, imagery: str | Path, metas: list[dict[str, Any]]) -> dict[str, Any]:
    """What the blocks reported, merged as one ``build_series`` reports it (raises if every field is outside)."""
    outside = sorted(f for m in metas for f in m["outside"])
    warns = sorted({w for m in metas for w in m["warnings"] if "outside every scene" not in w})
    if len(outside) == len(fs) and not warns:
        whys = sorted({str(m["why"]) for m in metas if m.get("why")})
        if len(whys) == 1:  # the blocks agree on a reason more exact than "outside"
            from features.series import NoFieldSeriesError

            raise NoFieldSeriesError(source=str(imagery), why=whys[0], offenders=outside)
        raise ImageryError(source=str(imagery), problem=NO_FIELD_PROBLEM, offenders=outside)
    if outside:
        warns.append(f"{len(outside)} field(s) outside every scene")
    return {"outside_fields": outside, "small_fields": sorted(f for m in metas for f in m["small"]),
            "dates_used": sorted({dt.date.fromisoformat(d) for m in metas for d in m["dates"]}),
            "scenes_read": sum(int(m["read"]) for m in metas), "scenes_cached": sum(int(m["cached"]) for m in metas),
            "parts_reused": sum(bool(m.get("reused")) for m in metas), "warnings": warns}


def _merged_fetch(metas: list[dict[str, Any]]) -> Any:
    """The blocks' Sentinel Hub request summaries (``sentinelhub-stats``: each block asked the Statistical API) as one
    call's: counts added, lists joined (each once); None when no block asked (a review: `--workers 2` printed no
    request, retry or cache count while one machine did)."""
    got = [m["fetch"] for m in metas if m.get("fetch")]
    if not got:
        return None
    from features.sources.sentinelhub import FetchSummary

    total = FetchSummary()
    for d in got:
        for f in dc_fields(total):
            mine, theirs = getattr(total, f.name), d.get(f.name)
            if isinstance(mine, list) and isinstance(theirs, list):
                setattr(total, f.name, list(dict.fromkeys([*mine, *theirs])))
            elif isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) and not isinstance(mine, bool):
                setattr(total, f.name, max(mine, theirs) if f.name == "dates" else mine + theirs)
            elif f.name == "stopped" and theirs and not mine:
                total.stopped = theirs
    return total


def run_series(fields: Any, imagery: str | Path, season: str, *, runner: Runner | None = None,
               chunk_fields: int = DEFAULT_CHUNK_FIELDS, as_of: dt.date | None = None, start: dt.date | None = None,
               end: dt.date | None = None, variables: Sequence[str] = VARIABLES, cache_dir: Path | None = None,
               inward_buffer: bool = False, min_clear: int = 8, out: Path | None = None) -> DistributedSeries:
    """:func:`features.series.build_series` on spatial blocks of ``chunk_fields`` fields; see the module docstring.

    ``imagery="sentinelhub"`` (a Process-API download): ONE download for all the fields, planned on the client as
    one ``build_series`` plans it (its boxes, ``<cache_dir>/sentinelhub`` or a temporary folder removed before
    returning), its Catalog searches and GeoTIFFs on the workers (:func:`pipelines._dask_process.fetch_on`); the
    blocks then read the scene folder it wrote, each the files its fields meet — the series one call's, byte for
    byte, and no box asked twice (until this release each block downloaded its own fields' boxes, and adjacent
    blocks' boxes overlapped). Its errors (403, no credentials...) are one call's one line, raised before any block
    runs. The Statistical API (``sentinelhub-stats``) is still asked block by block (it answers per field)."""
    runner = runner or local_runner()
    imagery, cache_dir, out = client_paths(imagery), client_paths(cache_dir), client_paths(out)
    with contextlib.ExitStack() as stack:
        blocks_read, fingerprint, summary = imagery, None, None
        if _is_process_api(imagery):
            blocks_read, summary = _series_download(runner, fields, season, stack, as_of=as_of, start=start,
                                                    end=end, cache_dir=cache_dir)
            fingerprint = _download_fingerprint(blocks_read)
        fs, _, tasks = _series_plan(fields, blocks_read, season, chunk_fields=chunk_fields, as_of=as_of, start=start,
                                    end=end, variables=variables, cache_dir=cache_dir, inward_buffer=inward_buffer,
                                    min_clear=min_clear, out=out, fingerprint=fingerprint)
        with workers_credentials(runner):  # sentinelhub-stats: a worker without credentials named as such
            results = runner.map(_series_task, tasks, label="series", resumable=out is not None)
    if out is not None:
        remove_stale_tmp(out)
    return _with_download(_series_merged(fs, imagery, results, runner), summary)


def _series_merged(fs: Any, imagery: str | Path, results: list[tuple[str | pd.DataFrame, dict[str, Any]]],
                   runner: Runner) -> DistributedSeries:
    """One season's blocks' results merged as one ``build_series`` returns them (raises as it does)."""
    frames = [read_part(Path(r)) if isinstance(r, str) else r for r, _ in results]
    metas = [m for _, m in results]
    nonempty = [f for f in frames if len(f)]
    series = _sort_series(pd.concat(nonempty, ignore_index=True)) if nonempty else frames[0]
    series = check_field_time_series(series, where="series")
    return DistributedSeries(series=series, n_partitions=len(results),
                             source=f"{imagery} ({len(results)} spatial blocks on {runner!r})",
                             fetch_summary=_merged_fetch(metas), **_series_outcome(fs, imagery, metas))


def run_series_seasons(fields: Any, imagery: str | Path, seasons: Sequence[str], *, runner: Runner | None = None,
                       chunk_fields: int = DEFAULT_CHUNK_FIELDS, cache_dir: Path | None = None
                       ) -> list[DistributedSeries]:
    """:func:`run_series` of each of ``seasons`` (their whole windows), every block of every season in ONE map — a
    small county's seasons are one block each, which a season-by-season map would run one at a time on one worker —
    each season's result as :func:`run_series` gives it (merged, and raising, in ``seasons``' order)."""
    runner = runner or local_runner()
    imagery, cache_dir = client_paths(imagery), client_paths(cache_dir)
    if _is_process_api(imagery):  # each season's one download into the same folder, as one machine, season by season
        return [run_series(fields, imagery, s, runner=runner, chunk_fields=chunk_fields, cache_dir=cache_dir)
                for s in seasons]
    plans = [_series_plan(fields, imagery, s, chunk_fields=chunk_fields, as_of=None, start=None, end=None,
                          variables=VARIABLES, cache_dir=cache_dir, inward_buffer=False, min_clear=8, out=None)
             for s in seasons]
    with workers_credentials(runner):
        results = runner.map(_series_task, [t for _, _, ts in plans for t in ts], label="series")
    out, k = [], 0
    for fs, _, ts in plans:
        out.append(_series_merged(fs, imagery, results[k:k + len(ts)], runner))
        k += len(ts)
    return out


def series_distributed(fields: Any, imagery: str | Path, season: str, *, runner: Runner | None = None,
                       chunk_fields: int = DEFAULT_CHUNK_FIELDS, as_of: dt.date | None = None,
                       cache_dir: Path | None = None, out: Path | None = None, **kwargs: Any) -> pd.DataFrame:
    """The FieldTimeSeries of ``fields`` for ``season``, bit-identical to ``build_series(...).series``."""
    return run_series(fields, imagery, season, runner=runner, chunk_fields=chunk_fields, as_of=as_of,
                      cache_dir=cache_dir, out=out, **kwargs).series
