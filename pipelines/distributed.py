"""Scale out: the heavy stages on partitions, single-process or on Dask, with identical results.

Runners (:mod:`pipelines._dask_runner`): :func:`local_runner` (the default: one process,
dask never imported), :func:`dask_runner` (an existing cluster by address, or a local
cluster of N worker processes with one thread and :data:`DEFAULT_MEMORY_LIMIT` each) and
:func:`runner_from_options` for the CLI's ``--scheduler ADDRESS`` / ``--workers N``.

Stages — each partitions its input deterministically, runs one task per partition and
merges the results in a canonical order:

- :func:`series_distributed` — FieldTimeSeries; partitions are spatial blocks of fields
  (Hilbert order). Every task is :func:`features.series.build_series` on its block; a
  field's statistics use its own pixels only, so they are bit-identical to one
  ``build_series`` over all fields.
- :func:`features_distributed` — FieldFeatures on the same blocks: the production path
  ``pipelines.featurize.featurize`` (or a lighter or custom per-field function). What
  depends on the whole field set is computed once, over all of it: equal-area hectares (the
  equal-area projection is centred on the data), the overlap with other farmers' fields, and the
  smoother's scene reference when on (:mod:`features._scene_reference`; a block sees only its tiles).
- :func:`score_distributed` — FieldValuations (``models.yield_value.score_fields``) on runs
  of rows; LightGBM predicts row by row.
- :func:`run_portfolio` — the three stages fused: one task per block runs series, indicators
  and valuations, writes each as a part and returns a small summary; the client never holds the
  merged portfolio (:mod:`pipelines._dask_fused`). For a national portfolio.
- :func:`decide_distributed` — decisions, partitioned by farmer, byte-identical bodies to
  ``decide_batch`` (see :mod:`pipelines._dask_decide` for why farmer partitions alone are
  not enough, and the fixed-point rounds that make them so), the renewals' proposed actions added
  as ``score_and_decide`` adds them.
- :func:`featurize_on` — ``pipelines.featurize.featurize``'s whole result (series, features, the imagery
  source, dates and haze a decision's provenance names) from the series and features stages:
  ``reunderwrite --scheduler/--workers`` (:mod:`pipelines._dask_featurize`).

Imagery ``sentinelhub`` (a Process-API download): the series, the planted area's scenes (:func:`features_distributed`)
and the fused run download ONCE for all the fields — the request boxes planned on the client as one machine plans
them, the Catalog searches and GeoTIFFs on the workers (:func:`pipelines._dask_process.fetch_on`) — and the blocks
then read the scene folder that download wrote, each the files its fields meet: one machine's series and features,
byte for byte, no box asked twice, and one machine's one-line errors (a 403, no credentials) before any block runs.
(Until this release each block downloaded its own fields' boxes: adjacent blocks' boxes overlapped, their pixel grids
differed from one machine's.) The Statistical API (``sentinelhub-stats``) is asked block by block: it answers per
field. A download's parts are keyed by its content, not its folder.

With ``out`` a folder, each task writes ``<out>/part-<key>.parquet`` atomically, the key a
hash of everything the partition's result depends on; a finished part is never recomputed,
so a re-run (or a task re-run because its worker died) neither loses nor duplicates
anything. Without ``out`` results travel back in memory.

Memory per worker is bounded by the partition: one task holds its block's fields, the pixel
maps of the tiles they touch, and one window of rows (512) × the block's column span × the
bands needed. ``chunk_fields`` sets it (see the README's figures).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contracts import FIELD_TIME_SERIES, VARIABLES, check_field_time_series, check_fields, check_season
from features.errors import FieldsError, ImageryError
from features.series import NO_FIELD_PROBLEM
from pipelines._dask_featurize import featurize_on
from pipelines._dask_fused import PortfolioRun, run_portfolio
from pipelines._dask_parts import (
    content_key,
    frame_hash,
    part_path,
    read_part,
    read_part_meta,
    remove_stale_tmp,
    spatial_partitions,
    write_part,
)
from pipelines._dask_runner import (
    DEFAULT_MEMORY_LIMIT,
    DaskRunner,
    LocalRunner,
    Runner,
    dask_runner,
    local_runner,
    runner_from_options,
)
from pipelines._dask_scenes import remove, scene_rows_per_block, write_index
from pipelines._dask_season import season_calibrated, season_haze, season_sample_ids
from pipelines.errors import PipelineError

__all__ = [
    "DEFAULT_MEMORY_LIMIT", "Runner", "LocalRunner", "DaskRunner", "local_runner", "dask_runner",
    "runner_from_options", "DistributedSeries", "series_distributed", "run_series", "features_distributed",
    "score_distributed", "decide_distributed", "field_blocks", "PortfolioRun", "run_portfolio",
    "season_calibrated", "season_haze", "season_sample_ids", "featurize_on", "run_series_seasons",
]

DEFAULT_CHUNK_FIELDS = 5000
DEFAULT_CHUNK_ROWS = 50_000
DEFAULT_CHUNK_APPLICATIONS = 2000
_ORDER = {v: i for i, v in enumerate(VARIABLES)}


#: imagery given by name, not by path (features.sources)
_SOURCE_KEYWORDS = frozenset({"sentinelhub", "sentinelhub-stats"})


def client_paths(p: Any) -> Any:
    """``p`` (a path, or a path's text) made absolute on the client: a task carries it to workers that may run
    in another directory (``--scheduler``: a relative ``--out`` wrote every part into each worker's own working
    directory — a pod's scratch space — while the client's folder stayed empty). Text that is no local path (a
    URL, ``sentinelhub``...) is kept."""
    if p is None:
        return p
    text = str(p)
    if "://" in text or (isinstance(p, str) and (text.lower().split(":")[0] in _SOURCE_KEYWORDS
                                                 or (not Path(text).exists() and "/" not in text))):
        return p  # a source keyword stays one even when a folder of that name sits in the working directory
    resolved = Path(text).expanduser().absolute()
    return resolved if isinstance(p, Path) else str(resolved)


def field_blocks(fields: Any, chunk_fields: int = DEFAULT_CHUNK_FIELDS) -> list[np.ndarray]:
    """Row positions of the spatial blocks of ``fields`` (Hilbert order, at most ``chunk_fields`` each)."""
    return spatial_partitions(fields.geometry.to_numpy(), fields["field_id"].astype(str).tolist(), chunk_fields)


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


def _imagery_fingerprint(imagery: str | Path) -> Any:
    """What identifies the imagery in a part key: the index/table bytes' hash and the files' sizes and times."""
    import hashlib

    p = Path(str(imagery))
    if not p.exists():
        return str(imagery)
    idx = p / "index.csv" if p.is_dir() else p
    if not idx.is_file():
        return str(p.resolve())
    h = hashlib.sha256(idx.read_bytes())
    if idx.name == "index.csv":
        for line in sorted(idx.read_text().splitlines()[1:]):
            rel = line.split(",")[2] if line.count(",") >= 2 else ""
            f = idx.parent / rel
            if rel and f.is_file():
                st = f.stat()
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return [str(idx.resolve()), h.hexdigest()]


def _is_process_api(imagery: Any) -> bool:
    """Whether ``imagery`` names a Process-API download (``sentinelhub``; not the Statistical API)."""
    return imagery is not None and str(imagery).strip().lower() == "sentinelhub"


def _download_fingerprint(folder: Path) -> Any:
    """What identifies a downloaded scene folder in a part key: its index's bytes and its files' sizes — not its
    path nor the files' times (a download to a temporary folder, or fetched again from the cache, is the same
    imagery)."""
    import hashlib

    idx = Path(folder) / "index.csv"
    h = hashlib.sha256(idx.read_bytes())
    for line in sorted(idx.read_text().splitlines()[1:]):
        rel = line.split(",")[2] if line.count(",") >= 2 else ""
        f = idx.parent / rel
        if rel and f.is_file():
            h.update(f"{rel}:{f.stat().st_size}".encode())
    return ["sentinelhub", h.hexdigest()]


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
    ds.fetch_summary = summary
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
                    "cached": res.scenes_cached, "warnings": res.warnings}
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
        write_part(df, path, {k: v for k, v in meta.items() if k not in ("read", "cached")})
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
                             **_series_outcome(fs, imagery, metas))


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


# ---------------------------------------------------------------------- features
@dataclass(frozen=True)
class _FeatureTask:
    key: str
    fields: Any
    series: pd.DataFrame
    field_area_ha: pd.Series
    overlap_fraction: pd.Series
    out: str | None
    scenes: Any = None  # the block's scene-index rows for planted area (pipelines._dask_scenes), or None


def _basic_featurize(fields: Any, series: pd.DataFrame, season: str, as_of: dt.date, *, crop_model: Any,
                     n_periods: int, variables: list[str]) -> pd.DataFrame:
    from features._seasonal import field_windows, seasonal_features
    from features.build import build_features

    seasonal = seasonal_features(series, field_windows(fields), as_of=as_of, n_periods=n_periods, variables=variables)
    crop = crop_model.predict(series, fields, as_of) if crop_model is not None else None
    return build_features(fields, series, season, as_of, crop=crop, seasonal=seasonal)


def _features_task(task: _FeatureTask, **shared: Any) -> tuple[str | pd.DataFrame, dict[str, Any]]:
    df, path, meta = _features_block_meta(task, **shared)
    if path is None:
        assert df is not None
        return df, meta
    return str(path), meta


def _features_block(task: _FeatureTask, **shared: Any) -> tuple[pd.DataFrame | None, Path | None]:
    """One block's features: (frame, or None when its finished part was reused; its part)."""
    df, path, _ = _features_block_meta(task, **shared)
    return df, path


def _block_area_attrs(area: Any) -> dict[str, Any] | None:
    """What a block's planted-area table says of its fields (pipelines.featurize.area_warnings reads it), as JSON."""
    if area is None:
        return None
    from pipelines.featurize import AREA_ATTRS

    a = area.attrs
    return {"outside_fields": [str(f) for f in a.get("outside_fields") or []],
            "scenes_used": int(a["scenes_used"]) if a.get("scenes_used") is not None else None,
            "no_clear_fields": [str(f) for f in a.get("no_clear_fields") or []],
            "partly_outside": {str(k): float(v) for k, v in (a.get("partly_outside") or {}).items()},
            **{k: None for k in AREA_ATTRS if k not in a}}


def _features_block_meta(task: _FeatureTask, *, season: str, as_of: dt.date, crop_model: Any, featurize: Any,
                         n_periods: int, variables: list[str], options: dict[str, Any]
                         ) -> tuple[pd.DataFrame | None, Path | None, dict[str, Any]]:
    """One block's features: (frame, or None when its finished part was reused; its part; what its featurize
    reported — warnings, the smoother's haze dates, the planted area's attrs — for the production path)."""
    path = part_path(task.out, task.key) if task.out is not None else None
    if path is not None and path.is_file():
        return None, path, read_part_meta(path)
    meta: dict[str, Any] = {}
    if featurize is None:
        from pipelines.featurize import featurize as production

        folder = write_index(task.scenes) if task.scenes is not None and task.scenes[1] else None
        try:
            res = production(task.fields, str(folder) if folder is not None else options["imagery"], season, as_of,
                             crop_model=crop_model, phenology_calib=options["phenology_calib"],
                             area_params=options["area_params"], cache_dir=options["cache_dir"],
                             series=task.series, reference=options.get("reference"),
                             hazy=options.get("hazy"), phenology_weather=options.get("phenology_weather"))
        finally:
            if folder is not None:
                remove(folder)
        df = res.features
        meta = {"warnings": list(res.warnings), "hazy_dates": list(res.hazy_dates),
                "area": _block_area_attrs(res.area)}
    elif featurize == "basic":
        df = _basic_featurize(task.fields, task.series, season, as_of, crop_model=crop_model, n_periods=n_periods,
                              variables=variables)
    else:
        df = featurize(task.fields, task.series, season, as_of)
    df = df.copy()
    fid = df["field_id"].astype(str)
    df["field_area_ha"] = fid.map(task.field_area_ha).astype("float64")
    df["overlap_fraction"] = fid.map(task.overlap_fraction).astype("float64")
    if path is not None:
        write_part(df, path, meta)
    return df, path, meta


def _features_setup(fs: Any, season: str, as_of: dt.date, present: set[str], *, imagery: str | Path | None,
                    crop_model: Any, phenology_calib: Any, area_params: Any, cache_dir: Path | None, period_days: int,
                    featurize: Any, hazy: dict[str, list[str]] | None = None,
                    phenology_weather: pd.DataFrame | None = None, fingerprint: Any = None
                    ) -> tuple[pd.Series, pd.Series, dict[str, Any], str]:
    """What every block shares: hectares and overlaps over all fields, the task options, the key prefix;
    ``phenology_weather``: the daily weather phenology's thermal time reads (as one call given it); ``fingerprint``:
    the imagery's in the key (default :func:`_imagery_fingerprint`)."""
    from features._seasonal import DEFAULT_VARIABLES, field_windows
    from features.fields import area_ha, overlap_fractions

    fid = fs["field_id"].astype(str)
    area = pd.Series(area_ha(fs).to_numpy(), index=fid.to_numpy())
    overlap = pd.Series(overlap_fractions(fs).to_numpy(), index=fid.to_numpy())
    win = field_windows(fs)
    length = (win["end"] - win["start"]).dt.days.to_numpy() + 1
    n_periods = int(np.ceil(length.max() / period_days)) if len(win) else 1
    variables = [v for v in DEFAULT_VARIABLES if v in present] or ["NDVI"]
    model_id: Any = getattr(crop_model, "metadata", lambda: {})() if crop_model is not None else None
    if getattr(crop_model, "season_scales_", None) is not None:  # the season's scales are part of the model used
        model_id = {"model": model_id, "season_scales": crop_model.season_scales_}
    from features._scene_reference import reference_default
    from features.series import scene_reference

    # the scene reference: built ONCE over the whole imagery (a block sees only the tiles it touches) and shared
    reference = (scene_reference(fs, imagery, season, as_of=as_of, cache_dir=Path(cache_dir) / "series"
                                 if cache_dir is not None else None)
                 if imagery is not None and featurize is None and reference_default() else None)
    options = {"imagery": str(imagery) if imagery is not None else None, "phenology_calib": phenology_calib,
               "area_params": area_params, "cache_dir": cache_dir, "reference": reference,
               "hazy": hazy if reference is None else None, "phenology_weather": phenology_weather}
    from pipelines._code_digest import FEATURE_SOURCES, source_digest

    # the code that makes the features is part of the key: a resumed or re-run --out folder after an upgrade makes
    # its parts again rather than keeping the previous release's
    common = content_key("features/2" + ("+ref" if reference is not None else ""), source_digest(FEATURE_SOURCES),
                         season, as_of.isoformat(),
                         n_periods, period_days, variables,
                         repr(model_id), featurize if isinstance(featurize, str) or featurize is None
                         else getattr(featurize, "__qualname__", repr(featurize)),
                         fingerprint if fingerprint is not None
                         else _imagery_fingerprint(imagery) if imagery is not None else None,
                         repr(phenology_calib), repr(area_params),
                         *([repr(sorted(hazy.items()))] if hazy is not None and reference is None else []),
                         *([frame_hash(phenology_weather)] if phenology_weather is not None else []))
    shared = {"season": season, "as_of": as_of, "crop_model": crop_model, "featurize": featurize,
              "n_periods": n_periods, "variables": variables, "options": options}
    return area, overlap, shared, common


def _feature_task_for(common: str, part: Any, ser: pd.DataFrame, area: pd.Series, overlap: pd.Series,
                      out: str | Path | None, scenes: Any) -> _FeatureTask:
    """The features task of one block (its part key hashes its fields, its series rows, hectares and overlaps)."""
    from features.series import fields_hash

    ids = part["field_id"].astype(str).to_numpy()
    a, o = area.loc[ids], overlap.loc[ids]
    key = content_key(common, fields_hash(part), frame_hash(ser),
                      frame_hash(pd.DataFrame({"a": a.to_numpy(), "o": o.to_numpy()})))
    return _FeatureTask(key=key, fields=part, series=ser, field_area_ha=a, overlap_fraction=o,
                        out=str(out) if out is not None else None, scenes=scenes)


def features_distributed(fields: Any, series: pd.DataFrame, season: str, as_of: dt.date, *,
                         runner: Runner | None = None, chunk_fields: int = DEFAULT_CHUNK_FIELDS,
                         imagery: str | Path | None = None, crop_model: Any = None, phenology_calib: Any = None,
                         area_params: Any = None, cache_dir: Path | None = None, period_days: int = 16,
                         featurize: Callable[[Any, pd.DataFrame, str, dt.date], pd.DataFrame] | str | None = None,
                         out: Path | None = None, weather: pd.DataFrame | None = None,
                         hazy: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """FieldFeatures of ``season`` as of ``as_of`` on spatial blocks, equal to one call over all fields
    (:func:`_features_run`'s frame; see there)."""
    return _features_run(fields, series, season, as_of, runner=runner, chunk_fields=chunk_fields, imagery=imagery,
                         crop_model=crop_model, phenology_calib=phenology_calib, area_params=area_params,
                         cache_dir=cache_dir, period_days=period_days, featurize=featurize, out=out, weather=weather,
                         hazy=hazy)[0]


def _features_run(fields: Any, series: pd.DataFrame, season: str, as_of: dt.date, *,
                  runner: Runner | None = None, chunk_fields: int = DEFAULT_CHUNK_FIELDS,
                  imagery: str | Path | None = None, crop_model: Any = None, phenology_calib: Any = None,
                  area_params: Any = None, cache_dir: Path | None = None, period_days: int = 16,
                  featurize: Callable[[Any, pd.DataFrame, str, dt.date], pd.DataFrame] | str | None = None,
                  out: Path | None = None, weather: pd.DataFrame | None = None,
                  hazy: dict[str, list[str]] | None = None, fingerprint: Any = None
                  ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """FieldFeatures of ``season`` as of ``as_of`` on spatial blocks, equal to one call over all fields, and what
    each block's featurize reported (empty for ``featurize`` given; :func:`_features_block_meta`).

    By default each block runs the production path, ``pipelines.featurize.featurize`` (seasonal
    summaries, crop type with ``crop_model``, phenology, planted area from ``imagery`` — None skips
    it) on its fields and its rows of ``series``. ``featurize="basic"``: seasonal summaries
    (``period_days``) and crop type only, joined by ``features.build.build_features``; or any
    ``featurize(fields, series, season, as_of) -> FieldFeatures`` that computes each field from
    that field alone. ``weather`` (daily): phenology's thermal time, as :func:`pipelines.featurize.featurize`
    reads it (no ``wx_*`` columns are added here); ``hazy``: the smoother's scene haze dates pinned
    (:func:`pipelines.featurize.pin_haze`; else judged once over all the fields). ``field_area_ha`` and ``overlap_fraction`` are computed once over all fields, as are the
    crop model's season scales (:func:`season_calibrated`) and the smoother's scene haze dates
    (:func:`season_haze`); every column is bit-identical to one call's.
    Blocks must agree on the feature columns (one season window per run: fields of regions with
    windows of different lengths get different numbers of seasonal periods) — else a PipelineError.

    ``imagery="sentinelhub"`` (a Process-API download) for the planted area: ONE download for all the fields, as one
    call's planted area plans it (``<cache_dir>/area/sentinelhub`` or a temporary folder removed before returning),
    its requests on the workers (:func:`pipelines._dask_process.fetch_on`), then each block reads the files of that
    scene folder its fields meet (until this release each block downloaded its own fields' boxes).
    """
    if _is_process_api(imagery) and featurize is None:
        from pipelines._dask_featurize import _area_folder

        runner = runner or local_runner()
        cache_dir = client_paths(cache_dir)
        season = check_season(season)
        fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
        if fs.empty:
            raise FieldsError(source="fields", problem=f"no field of season {season}")
        with contextlib.ExitStack() as stack:
            folder = _area_folder(runner, fs, season, as_of, cache_dir, stack)
            return _features_run(fs, series, season, as_of, runner=runner, chunk_fields=chunk_fields, imagery=folder,
                                 crop_model=crop_model, phenology_calib=phenology_calib, area_params=area_params,
                                 cache_dir=cache_dir, period_days=period_days, featurize=featurize, out=out,
                                 weather=weather, hazy=hazy, fingerprint=_download_fingerprint(folder))
    runner = runner or local_runner()
    imagery, cache_dir, out = client_paths(imagery), client_paths(cache_dir), client_paths(out)
    season = check_season(season)
    fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    present = set(series["variable"].astype(str).unique())
    crop_model = season_calibrated(crop_model, fs, as_of, series)
    area, overlap, shared, common = _features_setup(fs, season, as_of, present, imagery=imagery, crop_model=crop_model,
                                                    phenology_calib=phenology_calib, area_params=area_params,
                                                    cache_dir=cache_dir, period_days=period_days, featurize=featurize,
                                                    hazy=hazy if hazy is not None
                                                    else season_haze(fs, as_of, series, featurize),
                                                    phenology_weather=weather, fingerprint=fingerprint)
    sfid = series["field_id"].astype(str)
    blocks = field_blocks(fs, chunk_fields)
    per_block = (scene_rows_per_block(Path(str(imagery)), fs, blocks, season, as_of=as_of, start=None, end=None)
                 if imagery is not None and featurize is None else None)
    tasks = []
    for b, rows in enumerate(blocks):
        part = fs.iloc[rows].reset_index(drop=True)
        ids = part["field_id"].astype(str)
        ser = series[sfid.isin(set(ids))].reset_index(drop=True)
        tasks.append(_feature_task_for(common, part, ser, area, overlap, out,
                                       per_block[b] if per_block is not None else None))
    results = runner.map(_features_task, tasks, shared=shared, label="features", resumable=out is not None)
    if out is not None:
        remove_stale_tmp(out)
    frames = [read_part(Path(r)) if isinstance(r, str) else r for r, _ in results]
    metas = [m for _, m in results]
    if len({tuple(f.columns) for f in frames}) > 1:
        raise PipelineError("features_distributed: blocks produced different feature columns (fields with season "
                            "windows of different lengths?): run one region or one window at a time")
    df = pd.concat(frames, ignore_index=True).sort_values("field_id", kind="stable").reset_index(drop=True)
    from features.contracts import check_field_features

    return check_field_features(df, where=f"FieldFeatures {season} as of {as_of}"), metas


# ---------------------------------------------------------------------- scoring
def _score_task(item: tuple[str, pd.DataFrame, str | None], *, model: Any, prices: Any, kwargs: dict[str, Any]
                ) -> str | pd.DataFrame:
    from models.yield_value import score_fields

    key, feats, out = item
    path = part_path(out, key) if out is not None else None
    if path is not None and path.is_file():
        return str(path)
    df = score_fields(model, feats, prices, **kwargs)
    if path is None:
        return df
    write_part(df, path)
    return str(path)


def _score_setup(prices: Any, *, model_name: str, model_version: str, governance: Any, checkpoint: str,
                 currency: str | None) -> tuple[dict[str, Any], str]:
    """``score_fields`` keyword arguments and the part-key prefix of a scoring run."""
    kwargs = {"model_name": model_name, "model_version": str(model_version), "governance": governance,
              "checkpoint": checkpoint, "currency": currency}
    from pipelines._code_digest import SCORING_SOURCES, source_digest

    common = content_key("score/1", source_digest(SCORING_SOURCES), model_name, str(model_version), checkpoint, currency,
                         frame_hash(prices.to_frame()) if hasattr(prices, "to_frame") else repr(prices),
                         governance.to_json() if hasattr(governance, "to_json") else repr(governance))
    return kwargs, common


def score_distributed(model: Any, features: pd.DataFrame, prices: Any, *, model_name: str, model_version: str,
                      governance: Any, checkpoint: str, currency: str | None = None, runner: Runner | None = None,
                      chunk_rows: int = DEFAULT_CHUNK_ROWS, out: Path | None = None) -> pd.DataFrame:
    """``score_fields`` on runs of ``chunk_rows`` rows (in the order given); the same rows, in the same order.

    ``currency`` fixes the valuation currency (otherwise a run of fallow fields only takes the
    currency of its first region's prices, as ``value_fields`` does).
    """
    runner = runner or local_runner()
    out = client_paths(out)
    feats = features.reset_index(drop=True)
    kwargs, common = _score_setup(prices, model_name=model_name, model_version=model_version, governance=governance,
                                  checkpoint=checkpoint, currency=currency)
    n = max(1, int(chunk_rows))
    items = [(content_key(common, frame_hash(feats.iloc[s:s + n])), feats.iloc[s:s + n].reset_index(drop=True),
              str(out) if out is not None else None) for s in range(0, len(feats), n)]
    results = runner.map(_score_task, items, shared={"model": model, "prices": prices, "kwargs": kwargs},
                         label="score", resumable=out is not None)
    if out is not None:
        remove_stale_tmp(out)
    frames = [read_part(Path(r)) if isinstance(r, str) else r for r in results]
    from models.contracts import check_field_valuations

    return check_field_valuations(pd.concat(frames, ignore_index=True), where="score_distributed")


# ---------------------------------------------------------------------- decisions
def decide_distributed(applications: pd.DataFrame, features: pd.DataFrame, valuations: pd.DataFrame,
                       prices: pd.DataFrame, book: pd.DataFrame, policy: Any, profile: str,
                       as_of: dt.date | dt.datetime | pd.Timestamp | str, *, runner: Runner | None = None,
                       chunk_applications: int = DEFAULT_CHUNK_APPLICATIONS, provenance: Any = None,
                       out: Path | None = None, pledged: Any = None, exclude_lines: Any = (),
                       open_alerts: pd.DataFrame | None = None, renewals: bool | None = None) -> list[Any]:
    """``decide_batch`` on partitions of whole farmers; the same items, bodies byte for byte, same order
    (``pledged``: the store's pledge holders, :func:`underwriting.decisions.pledge_holders`; ``exclude_lines``: Book
    lines not counted as exposure — a re-underwriting's own; ``open_alerts``: the store's open alerts,
    :func:`pipelines.reunderwrite.stored_alerts`, read under policy ``decisions_read_alerts``; all as
    ``decide_batch``). Under policy ``renewals_propose_actions`` (2026.12.10 on) the decision of an application
    renewing an active Book line carries what a re-underwriting would propose for it (its ``renewal`` block and
    idempotency key), as :func:`pipelines.underwrite.score_and_decide` gives it: :func:`pipelines.reunderwrite.
    renewal_actions` on the merged items, one season at a time, with ``open_alerts`` (the alerts' REVIEW).
    ``renewals``: whether to add that block — by default (None) only without ``exclude_lines``: a re-underwriting's
    own lines are decided as ``decide_batch`` alone decides them (``pipelines.reunderwrite``), with no renewal block."""
    from pipelines._dask_decide import decide_partitions
    from pipelines.reunderwrite import renewal_actions
    from underwriting.decisions import failures_read, prepare_batch

    features = failures_read(features, open_alerts, policy.profile(profile))

    base, day = prepare_batch(applications, features, valuations, prices, book, policy, profile, as_of,
                              exclude_lines=exclude_lines)
    items, _ = decide_partitions(runner or local_runner(), applications, features, valuations, prices, base, policy,
                                 profile, day, chunk_applications=chunk_applications, provenance=provenance, out=out,
                                 pledged=pledged)
    if out is not None:
        remove_stale_tmp(out)
    if not (renewals if renewals is not None else not exclude_lines):
        return items
    # on the client, over every partition's items: a renewal is judged against its Book line (the Book is whole here)
    seasons = applications["season"].astype(str)
    for season in sorted(set(seasons)):
        items = renewal_actions(items, book, applications[seasons == season].reset_index(drop=True), season, day,
                                open_alerts=open_alerts)
    return items
