"""Per-field time series for a season: fields + imagery → FieldTimeSeries, with an on-disk cache.

:func:`build_series` is the library front of ``agcredit features series``. The imagery
is a scene folder (scene-index layout), an ``index.csv``, a CSV/Parquet series table,
or ``sentinelhub`` / ``sentinelhub-stats`` (see :mod:`features.sources`).

The season window comes from ``features/data/season_windows.csv`` (per region: start
MM-DD and year offset, end MM-DD and year offset) or from explicit ``start``/``end``.
Nothing acquired after ``as_of`` is read — such files are not even opened.

The cache holds one Parquet file per (scene file, field set, variables, buffer): a
re-run, or a later ``as_of``, reads only the new scenes. Writes are atomic.

With ``reference=True`` (default: :func:`features._scene_reference.reference_default`, off unless
``AGCREDIT_SCENE_REFERENCE=1``) a scene folder (or a Sentinel Hub Process-API download) also gives
``SeriesResult.reference``, the scene reference the smoother can take (``smooth_series(reference=)``),
cached per scene file under ``cache_dir/reference`` with a key that holds no field set (the field
statistics keep their key). Series tables and the Statistical API have none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from features._fetch_gaps import (
    MissingAcquisitions,
    WindowNotFetched,
    fetch_gaps,
    fetched_windows,
    unfetched_spans,
)
from features.atomic import cached_table, is_private_tempdir, private_tempdir
from features.contracts import FIELD_TIME_SERIES, VARIABLES, check_field_time_series, check_fields, check_season
from features.errors import FieldsError, ImageryError, format_offenders
from features.sources import ImagerySpec, resolve_imagery
from features.sources.local import (
    Scene,
    check_scene_files,
    combine_tiles,
    read_index,
    scene_cache_key,
    scene_stats,
    select_scenes,
)
from features.sources.table import read_series_table
from features.zonal import few_clear_fields, required_bands

__all__ = ["NO_FIELD_PROBLEM", "NoFieldSeriesError", "SeriesResult", "Progress", "build_series", "season_window", "fields_hash", "scene_reference",
           "ENGINE_VERSION", "MissingAcquisitions", "WindowNotFetched", "fetch_gaps", "missing_acquisitions"]

#: bump when the statistics change, to invalidate caches
ENGINE_VERSION = "zonal-1"
SEASON_WINDOWS_CSV = Path(__file__).parent / "data" / "season_windows.csv"
#: used only when season_windows.csv is absent (values of the county layout)
_DEFAULT_WINDOWS = {
    "us-nebraska": ("09-15", -1, "11-30", 0),
    "in-smallholder": ("05-15", 0, "02-28", 1),
}

Progress = Callable[[int, int, str], None]

#: the problem every "no field has a series" error keeps (pipelines.distributed reads it: a block of fields without
#: a series is not an error there, only the whole run is)
NO_FIELD_PROBLEM = "every field is outside the imagery"


class NoFieldSeriesError(ImageryError):
    """No field of the season has a series, for a reason more exact than "outside the imagery" (a series table
    matching no field, no acquisition in the window): the message says why; ``problem`` stays
    :data:`NO_FIELD_PROBLEM`, so a caller that builds a season block by block still reads it as "nothing here"."""

    def __init__(self, *, source: str, why: str, offenders: Sequence[object]) -> None:
        super().__init__(source=source, problem=why, offenders=offenders)
        self.why = why
        self.problem = NO_FIELD_PROBLEM


@dataclass
class SeriesResult:
    """A season's series and what the reader found on the way."""

    series: pd.DataFrame
    outside_fields: list[str]
    small_fields: list[str]
    dates_used: list[dt.date]
    source: str
    warnings: list[str] = field(default_factory=list)
    scenes_read: int = 0
    scenes_cached: int = 0
    #: the scene reference (features/_scene_reference.py) of the scenes used, for smooth_series(reference=);
    #: None for series tables and the Statistical API (they smooth without one) or when not asked for
    reference: pd.DataFrame | None = None
    #: what the Sentinel Hub requests of ``sentinelhub`` / ``sentinelhub-stats`` cost (requests, cache hits, …);
    #: None for local scenes and series tables
    fetch_summary: Any = None


def _windows_table() -> dict[str, tuple[str, int, str, int]]:
    """The season windows by region: the package's (:data:`SEASON_WINDOWS_CSV`) and a bank's
    (:mod:`features.regions`)."""
    from features.regions import merged

    if not SEASON_WINDOWS_CSV.is_file():
        return dict(_DEFAULT_WINDOWS)
    df = merged("season_windows.csv", SEASON_WINDOWS_CSV,
                lambda p: pd.read_csv(p, dtype=str, keep_default_na=False))
    return {str(r["region"]).strip(): (str(r["start"]).strip(), int(r["start_year_offset"] or 0),
                                       str(r["end"]).strip(), int(r["end_year_offset"] or 0))
            for r in df.to_dict("records")}


def _md(season: int, md: str, offset: int) -> dt.date:
    month, day = (int(x) for x in md.split("-"))
    year = season + offset
    if month == 2 and day == 29:
        day = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    return dt.date(year, month, day)


def season_window(season: str, region: str | None, *, options: bool = False) -> tuple[dt.date, dt.date]:
    """The imagery window [start, end] of ``season`` for ``region``. ``options``: the command takes ``--start`` and
    ``--end`` (``features series``), which the message of a region without a window then names."""
    from features.regions import REGIONS_ENV

    s = int(check_season(season))
    table = _windows_table()
    dates = "; or give the season's first and last imagery dates: --start and --end" if options else ""
    if region is None:  # the fields carry no region (commands that need one refuse such a file by its column first)
        raise ImageryError(source="season window", problem="the fields have no region (add a region column to the "
                           f"fields file — one of {', '.join(sorted(table))}{dates})")
    if region not in table:
        raise ImageryError(source="season window", problem=f"no season window for region {region!r} (known: "
                           f"{', '.join(sorted(table))}; a bank adds its own region's season_windows.csv row in the "
                           f"folder {REGIONS_ENV} names{dates})")
    a, ao, b, bo = table[region]
    return _md(s, a, ao), _md(s, b, bo)


def fields_hash(fields: gpd.GeoDataFrame) -> str:
    """SHA-256 of the field set: ids, seasons, CRS and geometry WKB."""
    h = hashlib.sha256()
    h.update(str(fields.crs.to_wkt() if fields.crs is not None else "").encode())
    for fid, season, wkb in zip(fields["field_id"].astype(str), fields["season"].astype(str),
                                shapely.to_wkb(fields.geometry.to_numpy()), strict=True):
        h.update(fid.encode() + b"\0" + season.encode() + b"\0" + bytes(wkb) + b"\1")
    return h.hexdigest()


def _scene_key(scene: Scene, fhash: str, variables: Sequence[str], inward_buffer: bool) -> str:
    return scene_cache_key(scene, engine=ENGINE_VERSION, fields=fhash, variables=list(variables),
                           buffer=inward_buffer)


def _field_windows(fields: gpd.GeoDataFrame, season: str, start: dt.date | None,
                   end: dt.date | None) -> tuple[dict[str, tuple[dt.date, dt.date]], dt.date, dt.date]:
    if start is not None and end is not None:
        if end < start:
            raise ImageryError(source="season window", problem=f"end {end} is before start {start}")
        return {str(f): (start, end) for f in fields["field_id"]}, start, end
    regions = fields["region"] if "region" in fields.columns else pd.Series([None] * len(fields), index=fields.index)
    per: dict[str, tuple[dt.date, dt.date]] = {}
    cache: dict[Any, tuple[dt.date, dt.date]] = {}
    for fid, reg in zip(fields["field_id"].astype(str), regions, strict=True):
        key = None if reg is None or (isinstance(reg, float) and np.isnan(reg)) or pd.isna(reg) else str(reg)
        if key not in cache:
            a, b = season_window(season, key)
            cache[key] = (start or a, end or b)
        per[fid] = cache[key]
    return per, min(w[0] for w in per.values()), max(w[1] for w in per.values())


def _map_keys(keys: pd.Series, mapping: dict[Any, Any]) -> pd.Series:
    """``keys.map(mapping)`` looked up once per distinct key (a row-wise map over half a million Arrow strings
    costs ~0.4 s; the fields are a few hundred)."""
    codes, uniques = pd.factorize(keys)
    found = pd.Series(np.asarray(uniques, dtype=object)).map(mapping).to_numpy(dtype=object)
    vals = np.empty(len(found) + 1, dtype=object)
    vals[:-1] = found
    return pd.Series(vals[codes], index=keys.index)  # code -1 (a missing key) takes the appended None


def _in_windows(df: pd.DataFrame, per: dict[str, tuple[dt.date, dt.date]]) -> pd.DataFrame:
    if df.empty:
        return df
    lo = pd.to_datetime(_map_keys(df["field_id"], {k: v[0] for k, v in per.items()}))
    hi = pd.to_datetime(_map_keys(df["field_id"], {k: v[1] for k, v in per.items()}))
    return df[(df["date"] >= lo) & (df["date"] <= hi)]


def _local(spec_path: Path, fields: gpd.GeoDataFrame, season: str, lo: dt.date, hi: dt.date, as_of: dt.date | None,
           variables: Sequence[str], cache_dir: Path | None, progress: Progress | None,
           inward_buffer: bool) -> tuple[pd.DataFrame, list[Scene], int, int]:
    scenes = check_scene_files(select_scenes(read_index(spec_path), lo, hi, as_of))
    fhash = fields_hash(fields) if cache_dir is not None else ""
    grids: dict[Any, Any] = {}
    parts: list[pd.DataFrame] = []
    read = cached = 0
    for i, sc in enumerate(scenes):
        if progress is not None:
            progress(i, len(scenes), f"{sc.date} {sc.tile_id}")
        cpath = (Path(cache_dir) / "scenes" / f"{_scene_key(sc, fhash, variables, inward_buffer)}.parquet"
                 if cache_dir is not None else None)
        tile, hit = cached_table(cpath, partial(scene_stats, sc, fields, variables, inward_buffer=inward_buffer,
                                                grids=grids))
        cached += hit
        read += not hit
        parts.append(tile)
    if progress is not None:
        progress(len(scenes), len(scenes), "done")
    tiles = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not tiles.empty:
        tiles["field_id"] = tiles["field_id"].astype("str")
        tiles["variable"] = tiles["variable"].astype("str")
        tiles["tile_id"] = tiles["tile_id"].astype("str")
    return (combine_tiles(tiles) if not tiles.empty else tiles), scenes, read, cached


def _finish(df: pd.DataFrame, season: str) -> pd.DataFrame:
    if df.empty:
        out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("field_id", "str"), ("season", "str"), ("date", "datetime64[ns]"), ("variable", "str"),
            ("mean", "float64"), ("std", "float64"), ("p10", "float64"), ("p50", "float64"), ("p90", "float64"),
            ("n_pixels", "int64"), ("n_clear", "int64"))})
        return out
    df = df.copy()
    df["season"] = season
    df["season"] = df["season"].astype("str")
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for c in ("n_pixels", "n_clear"):
        df[c] = df[c].astype("int64")
    order = {v: i for i, v in enumerate(VARIABLES)}
    df["_v"] = _map_keys(df["variable"], order).astype("float64")
    df = df.sort_values(["field_id", "date", "_v"], kind="mergesort").drop(columns="_v")
    return df[FIELD_TIME_SERIES.names].reset_index(drop=True)


def scenes_fingerprint(scenes: Sequence[Any]) -> str:
    """``sha256:<16 hex>`` of the scenes read: each one's date, tile, file name and size, bands, scale, offset,
    nodata, cloud mask and processing baseline, in date order — what decision provenance names the imagery by,
    so the same scenes under another folder name give the same record, and a scene replaced or added does not.
    (Sizes, not bytes: hashing every scene's pixels on each run would cost a read of the season; the features
    the scenes gave are hashed in full.)"""
    import json

    h = hashlib.sha256()
    for sc in sorted(scenes, key=lambda x: (x.date, x.tile_id, Path(x.path).name)):
        p = Path(sc.path)
        size = p.stat().st_size if p.is_file() else -1
        h.update(json.dumps([sc.date.isoformat(), sc.tile_id, p.name, size, list(sc.bands), sc.scale, sc.offset,
                             sc.nodata, sc.cloud_mask, sc.processing_baseline]).encode() + b"\n")
    return f"sha256:{h.hexdigest()[:16]}"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()[:16]}"


def build_series(fields: gpd.GeoDataFrame, imagery: str | Path, season: str, *, as_of: dt.date | None = None,
                 start: dt.date | None = None, end: dt.date | None = None,
                 variables: Sequence[str] = VARIABLES, cache_dir: Path | None = None,
                 progress: Progress | None = None, inward_buffer: bool = False,
                 min_clear: int = 8, reference: bool | None = None, endpoint: str = "cdse",
                 profile: str | None = None, fetch_statistics: Callable[..., Any] | None = None) -> SeriesResult:
    """Build the FieldTimeSeries of ``fields`` (Fields contract) for ``season`` from ``imagery``.

    Only acquisitions in the season window (per region, or [start, end]) and not after
    ``as_of`` are used. Fields outside every scene are listed in ``outside_fields``
    (an ImageryError if all are); fields whose best date has fewer than ``min_clear``
    clear pixels in ``small_fields``.

    ``reference``: also build the scene reference of the scenes used (``SeriesResult.reference``, cached under
    ``cache_dir/reference``; scene folders and Sentinel Hub downloads only; NDVI must be among ``variables``).
    None: :func:`features._scene_reference.reference_default` (off unless ``AGCREDIT_SCENE_REFERENCE=1``).

    ``endpoint`` (``cdse``, ``sinergise`` or ``profile``: the profile's own service URLs) and ``profile`` (a sentinelhub config profile; default
    ``SH_CLIENT_ID``/``SH_CLIENT_SECRET``) are for ``sentinelhub`` / ``sentinelhub-stats`` only. Sentinel Hub's
    warnings (intervals it failed to compute, fields with no acquisition in the window, cached scenes fetched
    again) are in ``warnings``; fields with no acquisition are not in ``outside_fields``. Without ``cache_dir`` a
    Process-API download goes to a temporary folder removed before returning (also on failure).

    ``fetch_statistics``: what asks the Statistical API for ``sentinelhub-stats`` (its signature; default
    :func:`features.sources.sentinelhub.fetch_statistics`, the fields one after another in this process) — a run on
    Dask passes :func:`pipelines._dask_stats.fetch_statistics_on`, each spatial block's fields asked on a worker.
    """
    from features._scene_reference import REF_VARIABLES, build_reference, reference_default

    season = check_season(season)
    check_fields(fields, where="fields")
    fs = fields[fields["season"].astype(str) == season]
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    variables = list(dict.fromkeys(variables))
    required_bands(variables)
    spec: ImagerySpec = resolve_imagery(imagery)
    per, lo, hi = _field_windows(fs, season, start, end)
    warnings: list[str] = []
    stale: list[str] = []  # a scene folder stopping well before the as-of (said last: stale_scenes)
    read = cached = 0
    no_scene = False
    ref: pd.DataFrame | None = None
    if as_of is not None and as_of < lo:
        warnings.append(f"as_of {as_of} is before the season window starts ({lo}); no imagery used")
    no_acquisition: set[str] = set()
    fetch_summary: Any = None
    if spec.kind in ("scenes", "sentinelhub"):
        with contextlib.ExitStack() as stack:
            folder = spec.path
            if spec.kind == "sentinelhub":
                from features.sources import sentinelhub as sh  # imported here only: it pulls the sentinelhub client

                # without a cache: a folder named with this host and process, so that a later download removes
                # what a killed run left (an hour old, its process gone) — as the Dask path's (pipelines._dask_process)
                out_dir = Path(cache_dir) / "sentinelhub" if cache_dir is not None else \
                    Path(stack.enter_context(private_tempdir("sh-scenes")))
                # every acquisition, as for local scenes and the Statistical API: tile-level cloud cover is not
                # field cloud, the SCL mask decides the clear pixels; the index is this run's scenes (merge=False)
                fetched = sh.fetch(fs, lo, min(hi, as_of) if as_of else hi, out_dir, endpoint=endpoint,
                                   profile=profile, max_cloud=1.0, merge=False)
                folder = Path(fetched.path)
                fetch_summary = fetched.summary
                warnings.extend(fetched.summary.warnings)
                no_acquisition.update(fetched.summary.no_acquisition_fields)
            assert folder is not None
            df, scenes, read, cached = _local(folder, fs, season, lo, hi, as_of, variables, cache_dir, progress,
                                              inward_buffer)
            if spec.kind == "scenes":
                warnings.extend(_fetch_gaps(Path(folder), lo, min(hi, as_of) if as_of else hi))
                stale = stale_scenes(Path(folder), lo, min(hi, as_of) if as_of else hi)
            ref_vars = [v for v in REF_VARIABLES if v in variables]
            if (reference_default() if reference is None else reference) and ref_vars:
                ref, _, _ = build_reference(scenes, season, ref_vars, cache_dir=cache_dir)
            source = (f"{spec.describe()} ({len(scenes)} files, {scenes_fingerprint(scenes)}, {read} read, "
                      f"{cached} from cache)")
        if not scenes:
            warnings.append("no scene in the season window" + (f" up to {as_of}" if as_of else ""))
            no_scene = True
    elif spec.kind == "table":
        df = _table(spec.path, fs, season)
        assert spec.path is not None
        source = f"{spec.describe()} ({_file_sha256(Path(spec.path))})"
    else:
        from features.sources import sentinelhub as sh  # imported here only: it pulls the sentinelhub client

        fetch = fetch_statistics if fetch_statistics is not None else sh.fetch_statistics
        stats = fetch(fs, season, lo, min(hi, as_of) if as_of else hi, endpoint=endpoint, profile=profile,
                      variables=tuple(variables))
        df = check_field_time_series(stats.series, where="sentinelhub-stats")
        warnings.extend(stats.summary.warnings)
        fetch_summary = stats.summary
        no_acquisition.update(stats.summary.no_acquisition_fields)
        source = spec.describe()
    later: set[str] = set()  # fields the table holds rows of in their window, all after the as-of date
    if not df.empty:
        df = df[df["variable"].isin(variables)]
        df = df[df["field_id"].isin(list(per))]
        if as_of is not None:
            early = pd.to_datetime(df["date"]) <= pd.Timestamp(as_of)
            later = set(_in_windows(df[~early], per)["field_id"].astype(str)) if spec.kind == "table" else set()
            df = df[early]
        df = _in_windows(df, per)
    series = check_field_time_series(_finish(df, season), where="series")
    seen = set(series["field_id"].astype(str).unique())  # unique first: iterating half a million rows costs ~1 s
    outside = sorted(f for f in per if f not in seen and f not in no_acquisition and f not in later)
    if later - seen:  # before the season's first observation (pre-season): nothing yet, as scenes say it
        warnings.append(f"{len(later - seen)} field(s) with no row of the series table up to {as_of} (their first "
                        "rows are later)")
    if spec.kind == "table" and len(seen) == 0 and not later and len(outside) == len(per):
        raise NoFieldSeriesError(source=spec.describe(), why=(
            f"the series table has no row for any field of season {season} in its window (other season or field "
            "ids?); fields"), offenders=outside)
    if len(seen) == 0 and no_acquisition and not outside:
        raise NoFieldSeriesError(source=spec.describe(), why=(
            f"no Sentinel-2 L2A acquisition between {lo} and {min(hi, as_of) if as_of else hi} for fields"),
            offenders=sorted(no_acquisition))
    if len(seen) == 0 and not warnings and len(outside) == len(per):
        raise ImageryError(source=spec.describe(), problem=NO_FIELD_PROBLEM, offenders=outside)
    warnings += stale  # after the checks above, which read "no warning" as "no reason the series is empty"
    if outside and not no_scene:  # no scene yet (before the season's first acquisition): not outside any scene
        # named, as the README says (the count alone left the analyst to find which)
        warnings.append(f"{len(outside)} field(s) " + ("with no row in the series table" if spec.kind == "table"
                                                        else "outside every scene") + f": {format_offenders(outside)}")
    dates = sorted({d.date() for d in pd.to_datetime(series["date"]).unique()}) if len(series) else []
    return SeriesResult(series=series, outside_fields=outside, small_fields=few_clear_fields(series, min_clear),
                        dates_used=dates, source=source, warnings=warnings, scenes_read=read, scenes_cached=cached,
                        reference=ref, fetch_summary=fetch_summary)


def _fetch_gaps(folder: Path, lo: dt.date, hi: dt.date) -> list[str]:
    """Warnings for the acquisitions of [lo, hi] that a partial ``agcredit imagery fetch`` into ``folder`` could not
    download (:func:`fetch_gaps`) and for the days of [lo, hi] no fetch into it covered (:func:`unfetched_spans`: a
    folder fetched up to an earlier as-of): the series lacks those dates."""
    out = []
    spans = unfetched_spans(folder, lo, hi)
    if spans:
        out.append(WindowNotFetched(spans=spans, fetched=fetched_windows(folder) or [], lo=lo, hi=hi,
                                    folder=folder).warning())
    days = fetch_gaps(folder, lo, hi)
    if days:
        out.append(f"{len(days)} acquisition date(s) in the window were not fetched from Sentinel Hub (recorded in "
                   f"{folder / 'sentinelhub.json'}): {', '.join(days[:10])}{' …' if len(days) > 10 else ''}; the "
                   "series lacks them — re-run `agcredit imagery fetch` into the folder to fetch only those")
    return out


#: days without a scene before the as-of (or the window's end) past which a scene folder is said to stop early:
#: Sentinel-2 revisits every 5 days, and its index lists cloudy acquisitions too
STALE_AFTER_DAYS = 30


def stale_scenes(folder: Path, lo: dt.date, hi: dt.date) -> list[str]:
    """A scene folder not written by a fetch whose last scene in [lo, hi] is more than :data:`STALE_AFTER_DAYS`
    before ``hi``: said (a folder copied up to July valued an October as-of from July's crop, 17 times lower, without
    a word — a review). None said when the folder holds no scene of the window (the series step says that), for a
    folder ``imagery fetch`` wrote (:func:`_fetch_gaps` says its gaps) and for a spatial block's index (a subset of
    the user's folder, said by the client once, naming the user's folder)."""
    from features.sources.local import read_index

    if fetched_windows(folder) is not None or is_private_tempdir(folder, "block"):
        return []

    try:
        days = [sc.date for sc in read_index(folder) if lo <= sc.date <= hi]
    except (OSError, ValueError, ImageryError):
        return []  # the series step says what is wrong with the folder
    if not days or (hi - max(days)).days <= STALE_AFTER_DAYS:
        return []
    last = max(days)
    return [f"the scene folder {folder} holds no scene after {last}, {(hi - last).days} days before {hi} (its "
            f"index.csv): the series ends there, and what is read as of {hi} is the crop as of {last} — add the "
            "later scenes to the folder (or fetch them: agcredit imagery fetch)"]


def missing_acquisitions(fields: gpd.GeoDataFrame, imagery: str | Path | None, season: str,
                         as_of: dt.date | None, *, allow: bool) -> list[str]:
    """The acquisition dates in ``season``'s window of ``fields`` up to ``as_of`` that a partial ``agcredit imagery
    fetch`` into the scene folder ``imagery`` recorded missing (:func:`fetch_gaps`; none for other sources), after
    the spans of that window no fetch into the folder covered (:func:`unfetched_spans`, each as ``FIRST/LAST``: a
    folder fetched up to an earlier as-of, or from a later start). A decision or valuation made without them is final
    and a replay after a re-fetch differs, so it is refused (a one-line user error naming the dates, or the folder's
    windows and the days asked) unless ``allow`` (``--allow-missing-acquisitions``): the caller then records the dates
    returned."""
    if imagery is None:
        return []
    season = check_season(season)
    fs = fields[fields["season"].astype(str) == season] if "season" in fields.columns else fields
    if fs.empty:
        return []
    try:
        spec: ImagerySpec = resolve_imagery(imagery)
    except (OSError, ValueError, ImageryError):
        return []  # the series step says what is wrong with the source
    if spec.kind != "scenes" or spec.path is None:
        return []
    folder = Path(spec.path)
    folder = folder if folder.is_dir() else folder.parent  # an index.csv: its folder
    try:
        _, lo, hi = _field_windows(fs, season, None, None)
    except ImageryError:
        return []  # no season window: the series step says so
    upto = min(hi, as_of) if as_of else hi
    spans = unfetched_spans(folder, lo, upto)
    if spans and not allow:
        raise WindowNotFetched(spans=spans, fetched=fetched_windows(folder) or [], lo=lo, hi=upto, folder=folder)
    days = fetch_gaps(folder, lo, upto)
    if days and not allow:
        raise MissingAcquisitions(days=days, folder=folder)
    return [f"{a}/{b}" for a, b in spans] + days


def scene_reference(fields: gpd.GeoDataFrame, imagery: str | Path, season: str, *, as_of: dt.date | None = None,
                    start: dt.date | None = None, end: dt.date | None = None,
                    cache_dir: Path | None = None) -> pd.DataFrame | None:
    """The scene reference (NDVI) of the scenes :func:`build_series` would read for ``fields`` — only the scenes
    and the season window depend on them, not the cells — or None for a series table or a Sentinel Hub source
    (a Process-API download is only made by :func:`build_series`)."""
    from features._scene_reference import build_reference

    season = check_season(season)
    fs = fields[fields["season"].astype(str) == season]
    spec: ImagerySpec = resolve_imagery(imagery)
    if spec.kind != "scenes" or fs.empty:
        return None
    assert spec.path is not None
    _, lo, hi = _field_windows(fs, season, start, end)
    scenes = check_scene_files(select_scenes(read_index(spec.path), lo, hi, as_of))
    return build_reference(scenes, season, cache_dir=cache_dir)[0]


def _table(path: Path | None, fields: gpd.GeoDataFrame, season: str) -> pd.DataFrame:
    """A series table; a wide table without pixel counts gets them from the field area at 10 m pixels."""
    from features.fields import area_ha

    assert path is not None
    counts = dict(zip(fields["field_id"].astype(str), np.round(area_ha(fields).to_numpy() * 100).astype(int),
                      strict=True))
    return read_series_table(path, season=season, pixel_counts=counts)
