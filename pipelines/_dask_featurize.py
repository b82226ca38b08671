"""``featurize`` on a runner: the FeaturizeResult one :func:`pipelines.featurize.featurize` call gives, its series and
features built on spatial blocks (:func:`pipelines.distributed.run_series`, :func:`pipelines.distributed.
features_distributed`) — for ``reunderwrite --scheduler/--workers`` (private; re-exported by
:mod:`pipelines.distributed`).

What goes into a decision is the same, byte for byte: the features (every column bit-identical, the crop model's
season scales and the smoother's haze judged once over all the fields), the series the alerts read, the imagery
source as one call names it (the scenes of the window and their fingerprint), the acquisition dates, the haze dates
(the union of the blocks' smoothing: the dates flagged in groups with usable observations, pinned or judged) and the
acquisitions recorded missing. The warnings are one call's, in its order: the series' (the blocks' merged, and a
partial fetch's missing dates read once from the scene folder's ``sentinelhub.json`` — the blocks read temporary
index folders without it), then the blocks' featurize's, merged (crop type: counts summed; phenology: an empty
phenology only when every block had one; planted area: from the blocks' area attrs merged, fields in the fields'
order). ``families`` names the blocks' run.

Imagery: what one machine reads (:func:`dask_imagery`). A scene folder's series are built on the blocks, each reading
the scene files its fields meet; a series table's (``features series`` output) is read on the client by the
one-machine code (its reading is its whole series step). The Statistical API (``sentinelhub-stats``) is asked block
by block on the workers — it answers per field, so a block's fields get one machine's answers — through the
one-machine series step (:func:`features.series.build_series` with :func:`pipelines._dask_stats.fetch_statistics_on`):
the blocks' answers merged into one call's, so the source, cache, warnings and errors (quota, failed fields or
intervals, fields without an acquisition, no credentials) are one call's; each worker reads its own credentials
(its environment or sentinelhub profile), never in the task graph. The features are built on the blocks. A
Process-API download (``sentinelhub``), whose request boxes follow the fields asked, is planned on the client over all
the fields — one call's boxes — and its Catalog searches and GeoTIFF downloads are sent to the workers
(:func:`pipelines._dask_process.fetch_on`), writing one call's scene folder where the workers read it
(:func:`pipelines._dask_process.scene_folder`); its series are then read on the blocks, each the files its fields meet,
as a scene folder's are (:func:`_sh_series`; they were read on the client before), its source, warnings and errors
one call's; the planted area's scene folder is downloaded the same way, one call's, and its scenes read on the blocks.
:func:`past_series_on` builds the past seasons' series (the alerts' expectations) the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError

__all__ = ["featurize_on", "one_call_source", "dask_imagery", "past_series_on"]


def one_call_source(fields: Any, imagery: str | Path, season: str, as_of: dt.date) -> str:
    """The imagery source one :func:`pipelines.featurize.featurize` call over ``fields`` names for a scene folder
    (its kind, the number of scenes in the window up to ``as_of`` and their fingerprint; no cache counts). A series
    table's, the Statistical API's and a Process-API download's is their reading's (:func:`featurize_on`'s one
    series step)."""
    spec = dask_imagery(imagery)
    if spec.kind != "scenes" or spec.path is None:
        return spec.describe()
    return f"{spec.describe()} {_scenes_read(fields, spec.path, season, as_of)}"


def _scenes_read(fields: Any, folder: str | Path, season: str, as_of: dt.date) -> str:
    """``(N files, sha256:…)``: the scene files of ``folder`` one call over ``fields`` reads up to ``as_of`` (their
    count and :func:`features.series.scenes_fingerprint`; the files must still be there: their sizes)."""
    from features.series import _field_windows, scenes_fingerprint
    from features.sources.local import check_scene_files, read_index, select_scenes

    _, lo, hi = _field_windows(fields, season, None, None)
    scenes = check_scene_files(select_scenes(read_index(folder), lo, hi, as_of))
    return f"({len(scenes)} files, {scenes_fingerprint(scenes)})"


#: sources whose series step is the one-machine code on the client (the features are built on the blocks): a series
#: table (precomputed: reading it is the whole series step) and the Statistical API, whose requests that step sends
#: block by block to the workers (:func:`_stats_on`: its per-field answers, cache, quota and failure messages are one
#: call's; each worker's credentials are its own and never enter the task graph). A Process-API download's series are
#: read on the blocks from the folder its one download wrote (:func:`_sh_series`), as a scene folder's are
_READ_ON_CLIENT = ("table", "sentinelhub-stats")


def _stats_on(runner: Any, spec: Any, chunk_fields: int) -> Any:
    """``build_series``' ``fetch_statistics`` for ``spec``: the Statistical API asked per spatial block of
    ``chunk_fields`` fields on ``runner``'s workers (:func:`pipelines._dask_stats.fetch_statistics_on`); None for a
    series table."""
    from functools import partial

    from pipelines._dask_stats import fetch_statistics_on

    return partial(fetch_statistics_on, runner, chunk_fields) if spec.kind == "sentinelhub-stats" else None


def _sh_series(runner: Any, fs: Any, season: str, as_of: dt.date, cache_dir: Path | None,
               chunk: int) -> tuple[Any, str]:
    """A Process-API season's series as one ``build_series`` gives them — ONE download for all the fields
    (:func:`pipelines.distributed._series_download`: its boxes planned here, its requests on the workers, its scene
    folder where they read it), its scenes read on ``runner``'s blocks (:func:`pipelines.distributed.run_series` on that
    folder), its warnings one call's — and the source one call names it by (the scenes' count and fingerprint)."""
    from pipelines.distributed import _series_download, _with_download, run_series

    with contextlib.ExitStack() as stack:
        folder, summary = _series_download(runner, fs, season, stack, as_of=as_of, start=None, end=None,
                                           cache_dir=cache_dir)
        source = f"sentinelhub {_scenes_read(fs, folder, season, as_of)}"
        ds = run_series(fs, folder, season, runner=runner, chunk_fields=chunk, as_of=as_of, cache_dir=cache_dir)
    return _with_download(ds, summary), source


def dask_imagery(imagery: str | Path) -> Any:
    """The :class:`features.sources.ImagerySpec` of imagery a runner builds from — a scene folder, a series table,
    the Statistical API (``sentinelhub-stats``) or a Process-API download (``sentinelhub``). An imagery argument that
    is no source at all gets the one-machine run's error (:func:`features.sources.resolve_imagery`)."""
    from features.sources import resolve_imagery

    return resolve_imagery(imagery)


def _area_folder(runner: Any, fs: Any, season: str, as_of: dt.date, cache_dir: Path | None, stack: Any) -> Path:
    """The scene folder one machine's planted area downloads for a Process-API run (:func:`features.area_scenes.
    planted_area`: the fields' season window up to ``as_of``, every acquisition, ``<cache>/area/sentinelhub`` or a
    temporary folder removed with ``stack`` where the workers read it: :func:`pipelines._dask_process.scene_folder`),
    its requests on ``runner``'s workers."""
    from features.area_scenes import field_region_groups
    from features.series import season_window
    from pipelines._dask_process import fetch_on, scene_folder

    windows = [season_window(season, reg) for reg in field_region_groups(fs)]
    lo, hi = min(w[0] for w in windows), min(max(w[1] for w in windows), as_of)
    out_dir = scene_folder(runner, stack, Path(cache_dir) / "area" if cache_dir is not None else None, "sentinelhub")
    return Path(fetch_on(runner, fs, lo, hi, out_dir, max_cloud=1.0, merge=False).path)


def past_series_on(runner: Any, fields: Any, imagery: str | Path, season: str, *, cache_dir: Path | None = None,
                   chunk_fields: int | None = None) -> pd.DataFrame | None:
    """The series of the seasons of ``fields`` before ``season`` (the alerts' expectations), each season's built on
    ``runner``'s spatial blocks, all seasons' blocks in one map (:func:`pipelines.distributed.run_series_seasons`; a series table is
    read on the client, the Statistical API asked per block on the workers, as one call's series step), concatenated in season order as one machine does (:meth:`pipelines.county.County.past_series`;
    ``cache_dir``: the series cache) — or None when there is no earlier season."""
    from pipelines.distributed import DEFAULT_CHUNK_FIELDS, run_series_seasons
    from pipelines.featurize import past_series

    spec = dask_imagery(imagery)
    past = sorted(x for x in fields["season"].astype(str).unique() if x < str(season))
    if not past:
        return None
    chunk = chunk_fields or DEFAULT_CHUNK_FIELDS
    if spec.kind in _READ_ON_CLIENT:
        return past_series(fields, imagery, season, cache_dir=cache_dir,
                           fetch_statistics=_stats_on(runner, spec, chunk))
    # every past season's blocks in one map: side by side on the workers
    frames = [d.series for d in run_series_seasons(fields, imagery, past, runner=runner, cache_dir=cache_dir,
                                                   chunk_fields=chunk)]
    return pd.concat(frames, ignore_index=True)


def featurize_on(runner: Any, fields: Any, imagery: str | Path, season: str, as_of: dt.date, *,
                 crop_model: Any = None, cache_dir: Path | None = None,
                 weather: pd.DataFrame | str | Path | None = None, haze_dates: Sequence[dt.date] | None = None,
                 allow_missing_acquisitions: bool = False, chunk_fields: int | None = None) -> Any:
    """:func:`pipelines.featurize.featurize` (a scene folder, a series table or ``sentinelhub-stats``; the scene
    reference off) with the features — and a scene folder's series — built on ``runner``'s spatial blocks of
    ``chunk_fields`` fields; see the module docstring."""
    from features._scene_reference import reference_default
    from features.series import missing_acquisitions
    from pipelines.distributed import DEFAULT_CHUNK_FIELDS, _features_run, field_blocks, run_series, season_haze
    from pipelines.featurize import (
        FeaturizeResult,
        check_clear_observations,
        load_weather,
        pin_haze,
        season_fields,
    )

    season, _, fs = season_fields(fields, season, as_of)
    if reference_default():
        raise UserInputError("--scheduler/--workers: not with the scene reference on (AGCREDIT_SCENE_REFERENCE=1); "
                             "run on one machine")
    spec = dask_imagery(imagery)
    gaps = missing_acquisitions(fs, imagery, season, as_of, allow=allow_missing_acquisitions)
    chunk = chunk_fields or DEFAULT_CHUNK_FIELDS
    if spec.kind in _READ_ON_CLIENT:  # one call's series step (the Statistical API asked block by block on the
        from pipelines.featurize import _series  # workers): its source, warnings, errors

        warnings: list[str] = []
        s, source, _ = _series(fs, imagery, season, as_of, None, cache_dir, None, warnings,
                               sh={"fetch_statistics": _stats_on(runner, spec, chunk)})
        n_blocks, dates_used = len(field_blocks(fs, chunk)), sorted({d.date() for d in pd.to_datetime(s["date"])})
    else:  # a scene folder (or a Process-API download's): each block reads the scene files its fields meet, on a worker
        series_cache = Path(cache_dir) / "series" if cache_dir is not None else None
        if spec.kind == "sentinelhub":
            ds, source = _sh_series(runner, fs, season, as_of, series_cache, chunk)
        else:
            source = one_call_source(fs, imagery, season, as_of)
            ds = run_series(fs, imagery, season, runner=runner, chunk_fields=chunk, as_of=as_of, cache_dir=series_cache)
        warnings = list(ds.warnings)
        warnings[:0] = _fetch_gap_warnings(fs, imagery, season, as_of)  # where one build_series says it
        if ds.small_fields:
            warnings.append(f"{len(ds.small_fields)} field(s) with fewer than 8 clear pixels on their best date")
        s, n_blocks, dates_used = ds.series, ds.n_partitions, list(ds.dates_used)
    check_clear_observations(s, as_of, str(imagery))
    plain = fs.drop(columns="geometry")
    hazy = pin_haze(plain, haze_dates, as_of) if haze_dates is not None else season_haze(fs, as_of, s, None)
    wx, wx_source = load_weather(weather)
    with contextlib.ExitStack() as stack:  # a Process-API run's planted area: one call's scene folder, on the blocks
        pixels = _area_folder(runner, fs, season, as_of, cache_dir, stack) if spec.kind == "sentinelhub" else imagery
        feats, metas = _features_run(fs, s, season, as_of, runner=runner, chunk_fields=chunk, imagery=pixels,
                                     crop_model=crop_model, cache_dir=cache_dir, weather=wx, hazy=hazy)
    warnings += block_warnings(metas, fs["field_id"].astype(str).tolist(), as_of)
    families = {"series": "ok" if len(s) else "skipped: no observation up to the as-of date",
                "blocks": f"{n_blocks} spatial block(s) on {runner!r}"}
    if wx is not None:
        from features.weather import WEATHER_COLUMNS, add_weather

        feats = add_weather(feats, wx)
        families["weather"] = f"ok: {len(WEATHER_COLUMNS)} wx_* columns from {wx_source}"
    # what the blocks' smoothing flagged (one call's smooth_ndvi attrs): pinned dates of no group with usable
    # observations are not reported, as on one machine
    hazy_dates = sorted({str(d) for m in metas for d in m.get("hazy_dates") or []})
    return FeaturizeResult(features=feats, series=s, phenology=None, warnings=warnings, source=source,
                           families=families, dates_used=dates_used, hazy_dates=hazy_dates,
                           haze_pinned=haze_dates is not None, missing_acquisitions=gaps)


def _fetch_gap_warnings(fs: Any, imagery: str | Path, season: str, as_of: dt.date, *,
                        fetch_gaps: bool = True) -> list[str]:
    """The warnings one ``build_series`` on the scene folder gives of the folder itself: the partial-fetch warning
    (its ``sentinelhub.json``; ``fetch_gaps=False``: left to the caller, as ``value`` reports its missing
    acquisitions itself) and a folder not written by a fetch stopping well before ``as_of``
    (:func:`features.series.stale_scenes`), said at the client once (the blocks' indexes are not said)."""
    from features.series import _fetch_gaps, _field_windows, stale_scenes
    from features.sources import resolve_imagery

    spec = resolve_imagery(imagery)
    if spec.kind != "scenes" or spec.path is None:
        return []
    _, lo, hi = _field_windows(fs, season, None, None)
    if as_of < lo:
        return []
    folder = Path(spec.path)
    gaps = _fetch_gaps(folder, lo, min(hi, as_of)) if fetch_gaps else []
    return gaps + stale_scenes(folder if folder.is_dir() else folder.parent, lo, min(hi, as_of))


_CROP_EARLY = re.compile(r"^crop type: (\d+) field\(s\) (too early in the season for any checkpoint of the model) "
                         r"\(its first is (.*)\)$")
_PHENOLOGY_EMPTY = "phenology left empty: no NDVI observation up to the as-of date"


def block_warnings(metas: list[dict[str, Any]], order: list[str], as_of: dt.date) -> list[str]:
    """The blocks' featurize warnings (crop type, phenology, planted area) merged as one call over all their fields
    says them (``order``: the fields' order, in which one call lists offenders)."""
    from pipelines.featurize import area_warnings

    metas = [m for m in metas if "warnings" in m]
    if not metas:
        return []
    crop: list[str] = []
    phen: list[str] = []
    area: list[str] = []
    early: dict[str, tuple[int, str]] = {}
    for m in metas:
        for w in m["warnings"]:
            hit = _CROP_EARLY.match(w)
            if hit:
                n, first = early.get(hit.group(2), (0, hit.group(3)))
                early[hit.group(2)] = (n + int(hit.group(1)), min(first, hit.group(3)))
                crop.append(hit.group(2))  # its place among the crop warnings
            elif w.startswith("crop type"):
                crop.append(w)
            elif w.startswith("phenology"):
                phen.append(w)
            elif w.startswith("planted area") and m.get("area") is None:  # no area table: the same in every block
                area.append(w)
    crop = [f"crop type: {early[w][0]} field(s) {w} (its first is {early[w][1]})" if w in early else w
            for w in dict.fromkeys(crop)]
    phen, area = list(dict.fromkeys(phen)), list(dict.fromkeys(area))
    # an empty phenology is the whole run's only when every block's was (a block without NDVI beside one with it)
    empty = [w for w in phen if w.startswith(_PHENOLOGY_EMPTY)]
    every = all(any(w.startswith(_PHENOLOGY_EMPTY) for w in m["warnings"]) for m in metas)
    phen = [w for w in phen if not w.startswith(_PHENOLOGY_EMPTY)]
    if empty and every:
        phen.append(max(empty, key=len))  # "(expected harvest from the crop calendar)" when any block had one
    areas = [m["area"] for m in metas if m.get("area") is not None]
    if areas:
        pos = {f: i for i, f in enumerate(order)}

        def fields_of(key: str) -> list[str]:
            return sorted({f for a in areas for f in a.get(key) or []}, key=lambda f: pos.get(f, len(pos)))

        partly: dict[str, float] = {}
        for a in areas:
            partly.update(a.get("partly_outside") or {})
        used = [a["scenes_used"] for a in areas if a.get("scenes_used") is not None]
        merged = {"outside_fields": fields_of("outside_fields"), "no_clear_fields": fields_of("no_clear_fields"),
                  "scenes_used": max(used) if used else None,
                  "partly_outside": {f: partly[f] for f in sorted(partly, key=lambda f: pos.get(f, len(pos)))}}
        area += area_warnings(merged, as_of)
    return crop + phen + area
