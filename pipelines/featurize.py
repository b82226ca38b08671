"""Fields + imagery → FieldFeatures as of a date: every indicator family wired into one call.

:func:`featurize` is the library front of ``agcredit features build`` and the one path every
caller (training, underwriting, re-underwriting, backtests, evaluation) uses, so features at
fit time and at decision time are built the same way. For the fields of ``season`` it runs

1. the series — :func:`features.series.build_series` (cached under ``cache_dir/series``: only
   new scenes are read), or the ``series`` given; cut at ``as_of`` either way;
2. seasonal summaries — :func:`features._seasonal.seasonal_features` (options in
   :data:`SEASONAL_OPTIONS`);
3. crop type — ``crop_model.predict(series, fields, as_of)`` when a model is given;
4. phenology and growth stage — :func:`smooth_ndvi` (:func:`features.timeseries.smooth_series` per region on a
   grid anchored at its season start, with the scene reference of a
   scene folder when it is on: :func:`features._scene_reference.reference_default`; ``reference`` given, or
   built once by the series step or :func:`features.series.scene_reference`) then
   :func:`features.growth_stage.phenology`, for the crop of each field: the predicted crop
   where its probability is at least :data:`CONFIDENT_CROP_PROB`, else the declared crop;
5. planted area — :func:`features.area_scenes.planted_area` from the scenes' pixels (cached
   under ``cache_dir/area``); imagery without pixels (a series table, ``sentinelhub-stats``)
   leaves it empty with a warning;
6. weather as of the date — :func:`features.weather.weather_features` (``wx_*`` columns), when weather is
   given (``weather``: a daily weather file or table; a county's is :meth:`pipelines.county.County.weather`);
   otherwise absent;

and joins them with :func:`features.build.build_features`, adding ``crop``: the crop a field is valued as
(the predicted crop where confident, else the declared crop; :func:`phenology_crops`; the yield model's
:func:`models.yield_value.crop_of` reads it first). Nothing observed after ``as_of``
is used by any family: the result is identical whether later scenes exist or not. A family
whose module is missing is left empty (NaN) with a warning; ``families`` says which ran.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contracts import check_fields, check_season
from features.errors import FieldsError, UserInputError, format_offenders
from pipelines._smooth import (
    HAZE_SAMPLE,
    HAZE_WITH_REFERENCE,
    PHENOLOGY_GRID_DAYS,
    haze_sample_ids,
    haze_screen,
    pin_haze,
    smooth_ndvi,
)

if TYPE_CHECKING:
    import geopandas as gpd

    from features.crop_type import CropTypeClassifier

__all__ = ["FeaturizeResult", "featurize", "past_series", "SEASONAL_OPTIONS", "CONFIDENT_CROP_PROB", "PHENOLOGY_GRID_DAYS",
           "FAMILIES", "phenology_crops", "load_crop_model", "featurize_to_file", "write_parquet_atomic",
           "CROP_MODEL_NAME", "load_weather", "require_weather", "WeatherBoundModel", "smooth_ndvi", "haze_screen",
           "haze_sample_ids", "HAZE_SAMPLE", "pin_haze", "check_as_of_in_season", "season_bound",
           "check_as_of_in_window", "check_clear_observations", "NoClearObservationError"]

#: options of :func:`features._seasonal.seasonal_features` (fixed: a model fitted on one set needs the same)
SEASONAL_OPTIONS: Mapping[str, Any] = {"period_days": 16, "derivatives": False, "raw_metrics": True}
#: a predicted crop at least this probable replaces the declared crop for phenology (the policy's
#: CROP_TYPE_UNCERTAIN threshold)
CONFIDENT_CROP_PROB = 0.8
CROP_MODEL_NAME = "crop-type"
FAMILIES = ("series", "seasonal", "crop_type", "phenology", "area")

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class FeaturizeResult:
    """FieldFeatures of a season as of a date and what was used to build them."""

    features: pd.DataFrame
    series: pd.DataFrame
    phenology: pd.DataFrame | None
    warnings: list[str]
    #: the imagery source (deterministic: without the cache counts, so it can go into decision provenance)
    source: str
    #: family → "ok", "skipped: why" or "missing: why"
    families: dict[str, str] = field(default_factory=dict)
    dates_used: list[dt.date] = field(default_factory=list)
    area: pd.DataFrame | None = None
    crop: pd.DataFrame | None = None
    #: the grid dates the phenology smoother took as scene-wide haze (judged on the run's fields, or pinned)
    hazy_dates: list[str] = field(default_factory=list)
    #: whether ``hazy_dates`` were pinned (``haze_dates=``) rather than judged
    haze_pinned: bool = False
    #: the fields file's rows set aside into the rejects file (:func:`featurize_to_file` ``rejects``)
    rejected_rows: int = 0
    #: of them, the rows of the run's season or of a season that cannot be read (:func:`features.fields.partial_rows`):
    #: the run is partial (exit 1) only with one
    partial_rows: int = 0
    #: the acquisition dates in the window a partial ``imagery fetch`` recorded missing, built without
    #: (``allow_missing_acquisitions``; :func:`features.series.missing_acquisitions`)
    missing_acquisitions: list[str] = field(default_factory=list)


def _as_date(d: dt.date | dt.datetime | pd.Timestamp | str) -> dt.date:
    if isinstance(d, str):
        return dt.date.fromisoformat(d)
    if isinstance(d, pd.Timestamp | dt.datetime):
        return d.date()
    return d


def _series(fields: gpd.GeoDataFrame, imagery: str | Path | None, season: str, as_of: dt.date,
            series: pd.DataFrame | None, cache_dir: Path | None, progress: Progress | None,
            warnings: list[str], sh: dict[str, Any] | None = None) -> tuple[pd.DataFrame, str, pd.DataFrame | None]:
    from features._scene_reference import reference_default

    if series is not None:
        s = series[(series["season"].astype(str) == season)
                   & (pd.to_datetime(series["date"]) <= pd.Timestamp(as_of))
                   & series["field_id"].astype(str).isin(fields["field_id"].astype(str))]
        ref = None
        if imagery is not None and reference_default():
            from features.series import scene_reference

            ref = scene_reference(fields, imagery, season, as_of=as_of,
                                  cache_dir=Path(cache_dir) / "series" if cache_dir is not None else None)
        return s.reset_index(drop=True), "series given", ref
    from features.series import build_series

    if imagery is None:
        raise FieldsError(source="featurize", problem="neither imagery nor a series was given")
    res = build_series(fields, imagery, season, as_of=as_of, progress=progress,
                       cache_dir=Path(cache_dir) / "series" if cache_dir is not None else None, **(sh or {}))
    warnings.extend(res.warnings)
    if res.small_fields:
        warnings.append(f"{len(res.small_fields)} field(s) with fewer than 8 clear pixels on their best date")
    # the source without the cache counts ("12 read, 20 from cache"): it goes into decision provenance,
    # which must be identical on a re-run
    return res.series, re.sub(r", \d+ read, \d+ from cache\)", ")", res.source), res.reference


def season_bound(fields: pd.DataFrame, season: str, *, end: bool = False) -> tuple[dt.date, str] | None:
    """The earliest start of ``season``'s imagery window over the regions of ``fields`` and that region (None when
    no region of the fields has a window: the series step then says so); with ``end``, the latest end instead."""
    from features.errors import ImageryError
    from features.series import season_window

    season = check_season(season)
    regions = sorted({str(r) for r in fields["region"].dropna()}) if "region" in fields.columns else []
    bounds = []
    for r in regions:
        try:
            bounds.append((season_window(season, r)[1 if end else 0], r))
        except ImageryError:
            continue
    if not bounds:
        return None
    return max(bounds) if end else min(bounds)


def check_as_of_in_window(fields: pd.DataFrame, season: str, as_of: dt.date | dt.datetime | pd.Timestamp | str, *,
                          label: str = "--as-of") -> None:
    """A user error when ``as_of`` is after ``season``'s imagery window ends (the latest end over the regions of
    ``fields``): nothing of the season is observed after it, so re-underwriting or alerts dated later would only
    restate the window's end under another date (a mistyped year or season)."""
    cur = fields[fields["season"].astype(str) == str(season)] if "season" in fields.columns else fields
    end = season_bound(cur if len(cur) else fields, season, end=True)
    if end is not None and _as_date(as_of) > end[0]:
        raise UserInputError(f"{label} {_as_date(as_of)} is after season {season}'s imagery window ends ({end[0]}, "
                             f"region {end[1]}): nothing of the season is observed later; give a date up to {end[0]}")


def past_series(fields: pd.DataFrame, imagery: Any, season: str, *, cache_dir: Path | None = None,
                fetch_statistics: Any = None) -> pd.DataFrame | None:
    """The series of the seasons of ``fields`` before ``season`` (the alerts' and the report's expectations), each
    season's built in one :func:`features.series.build_series` call, concatenated in season order — or None when
    there is no earlier season (one machine; :func:`pipelines._dask_featurize.past_series_on` on Dask blocks, which
    passes ``fetch_statistics``: the Statistical API asked block by block on the workers)."""
    from features.series import build_series

    seasons = fields["season"].astype(str)
    frames = [build_series(fields[seasons == p], imagery, p, cache_dir=cache_dir,
                           fetch_statistics=fetch_statistics).series
              for p in sorted(x for x in seasons.unique() if x < str(season))]
    return pd.concat(frames, ignore_index=True) if frames else None


def check_as_of_in_season(fields: pd.DataFrame, season: str, as_of: dt.date | dt.datetime | pd.Timestamp | str,
                          *, label: str = "--as-of") -> None:
    """A user error when ``as_of`` is before ``season`` starts (the earliest start of its imagery window over the
    regions of ``fields``, e.g. their season's rows): nothing of the season could be observed by then; or after
    today: a decision or an alert dated in the future (a mistyped year) would be stored as if its evidence existed."""
    day = _as_date(as_of)
    today = dt.date.today()
    if day > today:
        raise UserInputError(f"{label} {day} is after today ({today}): nothing can be observed or decided as of a "
                             "future date")
    season = check_season(season)
    cur = fields[fields["season"].astype(str) == season] if "season" in fields.columns else fields
    start = season_bound(cur if len(cur) else fields, season)
    if start is not None and day < start[0]:
        raise UserInputError(f"{label} {day} is before season {season} starts ({start[0]}, the start of the "
                             f"season window of region {start[1]}): give a date on or after {start[0]}")


class NoClearObservationError(UserInputError):
    """Every observation of every field up to the as-of date is cloud-masked (clouds-only imagery)."""

    def __init__(self, *, as_of: dt.date, imagery: str, n_fields: int, n_dates: int) -> None:
        self.as_of = as_of
        self.imagery = imagery
        self.n_fields = n_fields
        self.n_dates = n_dates
        super().__init__(f"no clear observation of any field up to {as_of} in {imagery}: clouds-only imagery? "
                         f"({n_fields} field(s) seen on {n_dates} date(s), every pixel cloud-masked)")


def check_clear_observations(series: pd.DataFrame, as_of: dt.date, imagery: str) -> None:
    """:class:`NoClearObservationError` when ``series`` has observations but not one with a clear pixel (fields
    with some clear dates keep the per-field warning; an empty series — no scene yet — is not this error)."""
    if series.empty:
        return
    clear = series["mean"].notna()
    if "n_clear" in series.columns:
        clear &= pd.to_numeric(series["n_clear"], errors="coerce").fillna(0) > 0
    if not clear.any():
        raise NoClearObservationError(as_of=as_of, imagery=imagery, n_fields=int(series["field_id"].nunique()),
                                      n_dates=int(pd.to_datetime(series["date"]).nunique()))


def _none_for_missing(s: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(v) else str(v) for v in s], index=s.index, dtype=object)


def phenology_crops(fields: pd.DataFrame, crop: pd.DataFrame | None,
                    min_prob: float = CONFIDENT_CROP_PROB) -> pd.Series:
    """Crop of each field for phenology: the predicted crop where confident, else the declared one."""
    declared = pd.Series(fields["declared_crop"].astype(object).to_numpy(), index=fields["field_id"].astype(str))
    declared = _none_for_missing(declared)
    if crop is None or crop.empty:
        return declared
    c = crop.set_index(crop["field_id"].astype(str))
    pred = c["crop_type"].astype(object).reindex(declared.index)
    prob = c["crop_type_prob"].astype("float64").reindex(declared.index)
    use = pred.notna() & (prob >= min_prob)
    return _none_for_missing(declared.where(~use, pred))


def _phenology(series: pd.DataFrame, fields: pd.DataFrame, crops: pd.Series, as_of: dt.date, calib: Any,
               families: dict[str, str], warnings: list[str],
               reference: pd.DataFrame | None = None,
               hazy: dict[str, list[str]] | None = None,
               weather: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """Phenology of ``fields`` and the smoother's scene haze dates; ``calib``: a calibration or region →
    calibration (see :func:`featurize`)."""
    try:
        from features.growth_stage import load_calendars, phenology
    except ImportError as e:
        families["phenology"] = f"missing: {e}"
        warnings.append(f"phenology left empty: {e}")
        return None, []
    calendars = load_calendars()
    regions = fields["region"].astype(object) if "region" in fields.columns else pd.Series([None] * len(fields))
    in_regions = sorted({str(r) for r in regions if r is not None and not pd.isna(r)})

    def not_dated(region: str, have: set[str]) -> list[pd.DataFrame]:
        """Fields of ``region`` without two usable observations: no curve, but their crop calendar's harvest (a
        line decided on them matured after its requested term, months before an autumn-decided crop's harvest)."""
        rows = fields.loc[(regions == region).to_numpy()]
        missing = sorted({str(f) for f in rows["field_id"]} - have)
        if not missing or "season" not in rows.columns:
            return []
        season = str(rows["season"].iloc[0])
        if "region" not in calendars.columns or not (calendars["region"] == region).any():  # no calendar: nothing
            return []
        from features.growth_stage import calendar_expectation

        return [calendar_expectation(calendars, crops, missing, region, season)]

    if series.empty or not (series["variable"] == "NDVI").any():
        parts = [p for region in in_regions for p in not_dated(region, set())]
        if not parts:
            families["phenology"] = "skipped: no NDVI observation"
            warnings.append("phenology left empty: no NDVI observation up to the as-of date")
            return None, []
        # before the season's first acquisition: the crop calendar's harvest is still the expected one (it sets the
        # term; without it every line took its requested term, a cotton farm's maturing before the pickings)
        families["phenology"] = "calendar only: no NDVI observation"
        warnings.append("phenology left empty: no NDVI observation up to the as-of date (expected harvest from the "
                        "crop calendar)")
        return _phenology_rows(parts), []
    smoothed = smooth_ndvi(series, fields, as_of, reference=reference, hazy=hazy)
    parts = []
    used: list[str] = []
    for region in in_regions:
        ids = set(fields.loc[(regions == region).to_numpy(), "field_id"].astype(str))
        sm = smoothed[smoothed["field_id"].astype(str).isin(ids)]
        if sm.empty:
            parts += not_dated(region, set())
            continue
        rc = calib.get(region) if isinstance(calib, dict) else (calib if getattr(calib, "region", None) == region
                                                                else None)
        if rc is not None:
            thermal = weather is not None and rc.thermal
            used.append(f"{region} calibrated on seasons {', '.join(rc.seasons)}" + (", thermal time" if thermal else ""))
        parts.append(phenology(sm, calendars, crops[crops.index.isin(ids)], region, as_of, rc, weather=weather))
        parts += not_dated(region, set(parts[-1]["field_id"].astype(str)))
    families["phenology"] = "ok" + (f" ({'; '.join(used)})" if used else " (uncalibrated)")
    hazy_dates = list(smoothed.attrs.get("hazy_dates", []))
    return (_phenology_rows(parts) if parts else None), hazy_dates


def _phenology_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(parts, ignore_index=True)
    return out.drop(columns=[c for c in ("season", "crop") if c in out.columns])


def _shared_key(fs: gpd.GeoDataFrame, season: str, day: dt.date, series: pd.DataFrame | None,
                imagery: str | Path | None, area_params: Any) -> tuple[Any, ...] | None:
    """The key of :func:`featurize`'s ``shared`` results: the season, date, fields (ids and geometries), the series
    table given (by identity: the caller hands the same table to every build) and imagery and area parameters; None
    (nothing shared) without a series table given."""
    if series is None:
        return None
    geoms = hashlib.sha256(b"".join(g.wkb for g in fs.geometry)).hexdigest() if "geometry" in fs.columns else ""
    return (str(season), day.isoformat(), tuple(fs["field_id"].astype(str)), geoms, id(series), str(imagery),
            repr(area_params))


def _shared(shared: dict[tuple[Any, ...], Any] | None, key: tuple[Any, ...] | None, what: str,
            compute: Callable[[], pd.DataFrame | None]) -> pd.DataFrame | None:
    """``compute()``, or a copy of what it gave for ``key`` before (``shared`` keeps the first result, and the
    series table the key names by identity, so that the identity is not reused while the entry lives)."""
    if shared is None or key is None:
        return compute()
    full = (what, *key)
    if full not in shared:
        got = compute()
        shared[full] = got
    got = shared[full]
    return None if got is None else got.copy()


def _crop_memo(shared: dict[tuple[Any, ...], Any] | None, key: tuple[Any, ...] | None
               ) -> Callable[[tuple[Any, ...], Callable[[], pd.DataFrame]], pd.DataFrame] | None:
    """The crop-type model's ``feature_memo`` (:meth:`features.crop_type.CropTypeClassifier.predict`) over
    ``shared`` under ``key`` (:func:`_shared_key`); None when nothing is shared."""
    if shared is None or key is None:
        return None

    def memo(local: tuple[Any, ...], compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        got = _shared(shared, (*key, *local), "crop", compute)
        assert got is not None
        return got

    return memo


def _area(fields: gpd.GeoDataFrame, imagery: str | Path | None, season: str, as_of: dt.date, params: Any,
          cache_dir: Path | None, families: dict[str, str], warnings: list[str],
          sh: dict[str, Any] | None = None, shared: dict[tuple[Any, ...], Any] | None = None,
          memo_key: tuple[Any, ...] | None = None) -> pd.DataFrame | None:
    if imagery is None:
        families["area"] = "skipped: no imagery given (series only)"
        warnings.append("planted area left empty: no imagery with pixels was given")
        return None
    try:
        from features.area_scenes import planted_area
    except ImportError as e:
        families["area"] = f"missing: {e}"
        warnings.append(f"planted area left empty: {e}")
        return None
    area = _shared(shared, memo_key, "area", lambda: planted_area(
        fields, imagery, season, as_of, params=params, cache_dir=Path(cache_dir) / "area" if cache_dir is not None
        else None, **(sh or {})))
    assert area is not None
    if area.attrs.get("no_pixels"):
        families["area"] = "skipped: imagery has no pixels"
        warnings.append("planted area left empty: the imagery has no pixels (a series table or sentinelhub-stats)")
        return None
    warnings.extend(area_warnings(area.attrs, as_of))
    families["area"] = "ok"
    return area


#: what :func:`area_warnings` reads of a planted-area table's attrs
AREA_ATTRS = ("outside_fields", "scenes_used", "no_clear_fields", "partly_outside")


def area_warnings(attrs: dict[str, Any], as_of: dt.date) -> list[str]:
    """The warnings of a planted-area table's ``attrs`` (fields outside every scene, without a clear observation,
    partly inside the imagery); also what a distributed run says from its blocks' attrs merged."""
    warnings = []
    outside = attrs.get("outside_fields") or []
    if outside and attrs.get("scenes_used") == 0:  # before the season's first acquisition: no scene at all
        warnings.append(f"planted area left empty: no scene up to {as_of}")
    elif outside:  # a sliver inside the imagery was said to be outside every scene
        warnings.append(f"planted area: {len(outside)} field(s) not covered by any scene up to {as_of}, or too small "
                        f"or thin to hold a pixel: {format_offenders(outside)}")
    no_clear = attrs.get("no_clear_fields") or []
    if no_clear:
        warnings.append(f"planted area: {len(no_clear)} field(s) with no clear observation up to {as_of} (clouds "
                        f"only): {format_offenders(no_clear)}")
    partly = attrs.get("partly_outside") or {}
    if partly:
        shown = ", ".join(f"{k} ({v:.0%} inside)" for k, v in list(partly.items())[:10])
        warnings.append(f"planted area not measured for {len(partly)} field(s) only partly inside the imagery (the "
                        f"part no scene shows is unobserved): {shown}" + (", …" if len(partly) > 10 else ""))
    return warnings


def load_weather(weather: pd.DataFrame | str | Path | None) -> tuple[pd.DataFrame | None, str]:
    """(checked weather table or None, where it came from) of a weather file or table (None: no weather)."""
    from features.weather import check_weather, read_weather

    if isinstance(weather, pd.DataFrame):
        w = weather if pd.api.types.is_datetime64_any_dtype(weather["date"]) else check_weather(weather)
        return w, "the weather table given"
    if weather is not None:
        import hashlib

        table = read_weather(weather)
        # named by content, not by file name: the same weather saved under another name gives the same decision
        digest = hashlib.sha256(Path(weather).read_bytes()).hexdigest()[:16]
        return table, f"a weather file (sha256:{digest})"
    return None, ""


class WeatherBoundModel:
    """A yield model that reads weather, bound to the weather data of a run: every row it predicts or explains
    gets its ``wx_*`` columns (re)computed from that weather as of the row's ``as_of`` first, so a caller that
    builds features without weather (e.g. re-underwriting a county) scores the same as one that adds them.
    Everything else is the wrapped model's."""

    def __init__(self, model: Any, weather: pd.DataFrame) -> None:
        self.model = model
        self.weather = weather

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)

    def _with_weather(self, X: pd.DataFrame) -> pd.DataFrame:
        from features.weather import add_weather

        return add_weather(X, self.weather)

    def predict_quantiles(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict_quantiles(self._with_weather(X))

    def explain(self, X_rows: pd.DataFrame) -> pd.DataFrame:
        return self.model.explain(self._with_weather(X_rows))


def require_weather(features: pd.DataFrame, model: Any, label: str) -> None:
    """A user error (one line, naming the model ``label``) when ``model`` reads weather columns that
    ``features`` lack: a weather model is never scored on silent NaNs."""
    if isinstance(model, WeatherBoundModel):
        return  # it adds them itself
    need = list(getattr(model, "weather_columns", []) or [])
    miss = [c for c in need if c not in features.columns]
    if miss:
        raise UserInputError(f"{label} reads weather ({len(need)} wx_* columns) but no weather data was given: pass "
                             "--weather FILE (a daily CSV: region, date, precip_mm, tmin_c, tmax_c, et0_mm), or run on "
                             "a county folder with weather/daily.csv")


def crop_type_status(model: CropTypeClassifier, fields: pd.DataFrame, pred: pd.DataFrame) -> tuple[str, list[str]]:
    """The ``crop_type`` family's status of ``model``'s predictions ``pred`` (:meth:`CropTypeClassifier.predict` of
    ``fields``) and its warnings: ``ok`` when every field got a crop type; else how many did, and why the others
    did not — before the model's first checkpoint (its date), or not scored — with ``none`` when no field did."""
    from features._seasonal import field_windows

    n = len(pred)
    got = int(pred["crop_type"].notna().sum())
    if got == n:
        return "ok", []
    early = (pred["checkpoint"].isna() if "checkpoint" in pred.columns else pd.Series(False, index=pred.index)
             ).to_numpy()
    why, first = [], ""
    if early.any():
        days = [int(c) for c in getattr(model, "checkpoints_", []) if c != "end"]
        win = field_windows(fields.drop_duplicates(["field_id", "season"]),
                            season_days=getattr(model, "season_days", None))
        win = win.set_index("field_id").reindex(pred.loc[early, "field_id"].astype(str))
        at = (win["start"] + pd.Timedelta(days=min(days))) if days else win["end"]
        first = f"day {min(days)} of the season" if days else "the end of the season"
        since = f"from {at.min().date()}" if at.notna().any() else ""
        why.append(f"{int(early.sum())} too early: the model's first checkpoint is {first}"
                   + (f" ({since})" if since else ""))
        first += f", {since}" if since else ""
    other = n - got - int(early.sum())
    if other:
        why.append(f"{other} not scored")
    status = f"{'none' if got == 0 else 'partial'}: {got} of {n} fields got a crop type; {'; '.join(why)}"
    warned = [f"crop type: {int(early.sum())} field(s) too early in the season for any checkpoint of the model "
              f"(its first is {first})"] if early.any() else []
    return status, warned


def season_fields(fields: gpd.GeoDataFrame, season: str, as_of: dt.date | dt.datetime | pd.Timestamp | str
                  ) -> tuple[str, dt.date, gpd.GeoDataFrame]:
    """The checked season, as-of date and the fields of that season (renumbered), as every featurize run reads them
    (:func:`featurize`, its Dask path :func:`pipelines.distributed.featurize_on`): fields checked, none of the season
    or an as-of outside it a user error."""
    season = check_season(season)
    day = _as_date(as_of)
    check_fields(fields, where="fields")
    fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    check_as_of_in_season(fs, season, day, label="as-of")
    return season, day, fs


def featurize(fields: gpd.GeoDataFrame, imagery: str | Path | None, season: str,
              as_of: dt.date | dt.datetime | pd.Timestamp | str, *,
              crop_model: CropTypeClassifier | None = None, phenology_calib: Any = None, area_params: Any = None,
              cache_dir: Path | None = None, progress: Progress | None = None,
              series: pd.DataFrame | None = None,
              weather: pd.DataFrame | str | Path | None = None,
              reference: pd.DataFrame | None = None,
              hazy: dict[str, list[str]] | None = None,
              haze_dates: Sequence[dt.date] | None = None,
              phenology_weather: pd.DataFrame | None = None, endpoint: str = "cdse",
              profile: str | None = None, allow_missing_acquisitions: bool = False,
              shared: dict[tuple[Any, ...], Any] | None = None) -> FeaturizeResult:
    """FieldFeatures of the fields of ``season`` as of ``as_of`` (see the module docstring).

    ``fields``: Fields contract (other seasons' rows are ignored); ``imagery``: a scene folder,
    index.csv, a series table, ``sentinelhub`` or ``sentinelhub-stats`` (may be None when
    ``series`` is given; planted area is then empty). ``weather``: a daily weather file or table
    (:mod:`features.weather`) whose ``wx_*`` features are added (none without it). ``reference``: the scene
    reference to smooth with (e.g. built once and shared by every block of a distributed run); when None and the
    reference is on, it is built from ``imagery`` (a scene folder; none for tables and the Statistical API).
    ``hazy``: the smoother's scene haze dates (:func:`haze_screen` over a whole portfolio, given to each of its
    blocks); None judges them on these fields. ``haze_dates`` pins them (:func:`pin_haze`; e.g. an earlier decision
    record's ``smoother_hazy_dates``, so a farmer re-run alone smooths as in the run that decided); not with the
    scene reference, which decides the haze from the reference alone.

    Phenology is calibrated (:mod:`features._phenology_calib`) with ``phenology_calib`` (a calibration, or region →
    calibration), else with the one the crop-type model carries (fitted on its training seasons' records; none for
    model folders saved before it: uncalibrated, as then); with ``weather`` (or ``phenology_weather``: for phenology
    only, e.g. a distributed block whose ``wx_*`` columns are added later) its thermal-time durations date a maturity
    not yet seen.

    A scene folder in which a partial ``agcredit imagery fetch`` recorded acquisitions of the window missing is
    refused (:func:`features.series.missing_acquisitions`) unless ``allow_missing_acquisitions``: the dates are
    then in ``missing_acquisitions`` (and the lineage: what a decision was made without).

    ``shared``: a dict kept by the caller across calls that build the same fields of the same season from the same
    ``series`` table and imagery with the same area parameters — differing only in the crop model, phenology
    calibration or weather (e.g. :func:`pipelines.train_yield.train_yield_county`'s held-out and production builds
    of every past season). What depends on none of those — the planted area, the seasonal features and a crop-type
    model's input features (shared between models of the same feature settings) — is then computed once per season
    and date and copied out; the features are the same bytes as without it (tested).
    """
    from features.series import missing_acquisitions

    season, day, fs = season_fields(fields, season, as_of)
    gaps = missing_acquisitions(fs, imagery, season, day, allow=allow_missing_acquisitions) if series is None else []
    warnings: list[str] = []
    families: dict[str, str] = {}
    # a reference given is not built again (with a series given, imagery is only needed for the reference)
    s, source, built = _series(fs, None if reference is not None and series is not None else imagery, season, day,
                               series, cache_dir, progress, warnings, sh={"endpoint": endpoint, "profile": profile})
    check_clear_observations(s, day, str(imagery) if imagery is not None else "the series given")
    ref = reference if reference is not None else built
    if haze_dates is not None:
        if ref is not None:
            raise UserInputError(HAZE_WITH_REFERENCE)
        hazy = pin_haze(fs, haze_dates, day)
    families["series"] = "ok" if len(s) else "skipped: no observation up to the as-of date"

    from features._seasonal import field_windows, seasonal_features
    from features.build import build_features

    keys = fs[["field_id", "season", "region"]] if "region" in fs.columns else fs[["field_id", "season"]]
    memo_key = _shared_key(fs, season, day, series, imagery, area_params) if shared is not None else None
    if shared is not None and memo_key is not None:
        shared.setdefault(("series", id(series)), series)  # its identity is in the key: not reused while kept

    def seasonal_of() -> pd.DataFrame:
        out = seasonal_features(s, field_windows(keys), as_of=day, **dict(SEASONAL_OPTIONS))
        return out.drop(columns=[c for c in ("season",) if c in out.columns])

    seasonal = _shared(shared, memo_key, "seasonal", seasonal_of)
    families["seasonal"] = "ok"

    crop = None
    if crop_model is not None:
        memo = _crop_memo(shared, memo_key)  # given only when sharing (a duck-typed model may not take it)
        pred = (crop_model.predict(s, fs.drop(columns="geometry"), day, feature_memo=memo) if memo is not None
                else crop_model.predict(s, fs.drop(columns="geometry"), day))
        keep = ["field_id", "crop_type", "crop_type_prob", "declared_crop_prob"] + [
            c for c in ("crop_season_scale",) if c in pred.columns] + sorted(
            c for c in pred.columns if c.startswith("prob_"))
        crop = pred[keep].reset_index(drop=True)
        families["crop_type"], warned = crop_type_status(crop_model, fs.drop(columns="geometry"), pred)
        warnings.extend(warned)
    else:
        families["crop_type"] = "skipped: no crop model"
        warnings.append("crop type left empty: no crop-type model given")

    crops = phenology_crops(fs, crop)
    wx, wx_source = load_weather(weather)
    calib = phenology_calib if phenology_calib is not None else (getattr(crop_model, "phenology_calibration_", None)
                                                                 or None)
    phen, hazy_dates = _phenology(s, fs, crops, day, calib, families, warnings, ref, hazy,
                                  wx if phenology_weather is None else phenology_weather)
    area = _area(fs, imagery, season, day, area_params, cache_dir, families, warnings,
                 sh={"endpoint": endpoint, "profile": profile}, shared=shared, memo_key=memo_key)
    feats = build_features(fs, s, season, day, area=area, phenology=phen, crop=crop, seasonal=seasonal)
    feats["crop"] = pd.Series(feats["field_id"].map(crops).to_numpy(dtype=object), dtype="str")
    if wx is not None:
        from features.weather import WEATHER_COLUMNS, add_weather

        feats = add_weather(feats, wx)
        families["weather"] = f"ok: {len(WEATHER_COLUMNS)} wx_* columns from {wx_source}"
    dates = sorted({d.date() for d in pd.to_datetime(s["date"]).unique()}) if len(s) else []
    return FeaturizeResult(features=feats, series=s, phenology=phen, warnings=warnings, source=source,
                           families=families, dates_used=dates, area=area, crop=crop, hazy_dates=hazy_dates,
                           haze_pinned=haze_dates is not None, missing_acquisitions=gaps)


def load_crop_model(spec: str | Path | None, *, season_scale: float | None = None
                    ) -> tuple[CropTypeClassifier | None, str]:
    """A crop-type model from ``champion`` (or any alias: the registry's ``crop-type@ALIAS``), a saved
    folder, or ``none``; returns the model and a description naming the concrete version. ``season_scale``
    pins its season scale (:meth:`CropTypeClassifier.pinned_season_scale`; the description says so)."""
    model, desc = _load_crop_model(spec)
    if season_scale is None:
        return model, desc
    if model is None:
        raise UserInputError("--crop-season-scale needs a crop-type model (not --crop-model none)")
    return model.pinned_season_scale(season_scale), f"{desc}, season scale pinned at {float(season_scale)!r}"


_REGISTRY_ALIASES = ("champion", "challenger")


def model_folder_digest(folder: Path) -> str:
    """``sha256:<16 hex>`` of a saved model folder's files (relative names and bytes, in name order): what a
    decision record names a folder model by — its content, not the path it was given by (a folder copied or
    spelled otherwise is the same model; another model in the same folder is not)."""
    from models._digest import folder_hash

    return f"sha256:{folder_hash(folder)[:16]}"


def crop_model_key(desc: str) -> str:
    """What identifies the crop model a description names (:func:`load_crop_model`'s): a saved folder's content
    digest (``file sha256:…``), a registry version's folder digest (its local copy, ``crop-type version N …, run R``:
    the same digest a copy of that folder saved elsewhere has), else the description's head — so a version and a
    saved copy of it are one model."""
    head = desc.split(",", maxsplit=1)[0].split(" (", maxsplit=1)[0].strip()
    if head.startswith("file "):
        return head[5:].strip()
    m = re.match(rf"{re.escape(CROP_MODEL_NAME)} version (\d+)\b.*\brun (\w+)", desc)
    if m:
        from models.registry import model_folder

        try:
            return model_folder_digest(model_folder(CROP_MODEL_NAME, m.group(1), m.group(2)))
        except (UserInputError, OSError):  # no local copy here: the description names it
            pass
    return head


def _load_crop_model(spec: str | Path | None) -> tuple[CropTypeClassifier | None, str]:
    from features.crop_type import CropTypeClassifier

    text = "none" if spec is None else str(spec).strip()
    if text.lower() == "none":
        return None, "none"
    p = Path(text)
    # a version number or the registry's own aliases always name the registry: a folder of that name in the
    # working directory (``./champion``, ``./1``) must not stand in for them (give it as ./champion to use it)
    if p.exists() and not (text.isdigit() or text.lower() in _REGISTRY_ALIASES):
        return CropTypeClassifier.load(p), f"file {model_folder_digest(p)}"
    if "/" in text or text.endswith(".json"):
        raise FieldsError(source="crop model", problem=f"{text}: no such folder (expected champion, an alias, "
                                                       "a saved model folder, or none)")
    from models.errors import RegistryError
    from models.registry import SaveLoadFlavour, resolve

    try:
        res = resolve(CROP_MODEL_NAME, text, flavour=SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
    except RegistryError as e:
        raise RegistryError(problem=f"crop-type model {text!r}: {e.problem}",
                            fix="train one with `agcredit train crop-type`, or pass --crop-model none") from None
    return res.model, f"{CROP_MODEL_NAME} version {res.version} ({text}), run {res.run_id}"


def featurize_to_file(fields: str | Path, imagery: str | Path, season: str,
                      as_of: dt.date | dt.datetime | pd.Timestamp | str, out: str | Path, *,
                      crop_model: str | Path | None = "champion", cache_dir: Path | None = None,
                      progress: Progress | None = None, weather: str | Path | None = None,
                      crop_season_scale: float | None = None,
                      haze_dates: Sequence[dt.date] | None = None, endpoint: str = "cdse",
                      profile: str | None = None,
                      rejects: str | Path | None = None,
                      allow_missing_acquisitions: bool = False) -> tuple[FeaturizeResult, Path, str]:
    """Read fields, resolve the crop model (its season scale pinned at ``crop_season_scale`` when given),
    :func:`featurize` (the smoother's haze pinned at ``haze_dates`` when given), write the FieldFeatures Parquet
    atomically.

    ``rejects``: a CSV file for the fields file's rows that fail a row-level check
    (:func:`features.fields.write_rejects`), which are set aside and the rest built (without it, one such row
    refuses the file).

    ``allow_missing_acquisitions``: see :func:`featurize` (the file's lineage then names the dates).

    Returns the result, the path written and the crop model's description. Nothing is written
    when anything fails.
    """
    from features.atomic import check_writable
    from features.fields import read_fields

    season = check_season(season)
    if Path(out).suffix.lower() not in (".parquet", ".pq"):  # the FieldFeatures file is Parquet
        raise UserInputError(f"{out}: unsupported output format '{Path(out).suffix}' (expected .parquet)")
    check_writable(out, what="features file")  # before any scene is read
    if rejects is not None:
        check_writable(rejects, what="rejects file")
    read = read_fields(fields, season=season, need=("region",), set_aside=rejects is not None)  # the season window
    check_as_of_in_season(read.fields, season, as_of)  # before the crop model is loaded or anything is read
    check_as_of_in_window(read.fields, season, as_of)  # nothing of the season is observed after its window
    model, desc = load_crop_model(crop_model, season_scale=crop_season_scale)
    res = featurize(read.fields, imagery, season, as_of, crop_model=model, cache_dir=cache_dir, progress=progress,
                    weather=weather, haze_dates=haze_dates, endpoint=endpoint, profile=profile,
                    allow_missing_acquisitions=allow_missing_acquisitions)
    res.warnings.extend(read.notes())
    built = lineage(res, desc)
    # every file records its held farmers, none included: a lineage without them was written before held farmers
    # were recorded (an earlier `features build --rejects` kept their other fields; underwrite_files refuses such a
    # file when it lacks an applicant's field). Not in lineage(): a decision's provenance is unchanged
    built[HELD_KEY] = []
    if rejects is not None:
        from features.fields import held_farmers, partial_rows, write_rejects

        held = sorted(held_farmers(read.set_aside, season))
        if held:  # a farmer with a row set aside: none of their fields, so no run decides them on the rest
            f = res.features
            res = replace(res, features=f[~f["farmer_token"].astype(str).isin(held)].reset_index(drop=True))
            res.warnings.append(f"{len(held)} farmer(s) with rows rejected, or whose fields a rejected row overlaps (see "
                                f"{rejects}): none of their fields "
                                "written (underwrite does not decide their applications from this file)")
            built[HELD_KEY] = held
        # before the features file: a run stopped in between leaves no features without their rejects file
        write_rejects(read.set_aside, rejects)
        res = replace(res, rejected_rows=len(read.set_aside), partial_rows=partial_rows(read.set_aside, season))
    path = write_parquet_atomic(res.features, out, metadata={LINEAGE_KEY: json.dumps(built, sort_keys=True)})
    return res, path, desc


#: the lineage key of the farmers (tokens) a ``features build --rejects`` left out, their fields having rows set
#: aside: ``underwrite --features`` does not decide their applications (:func:`features_held`); an empty list in
#: every other file :func:`featurize_to_file` writes (a lineage without the key: a file of an earlier release)
HELD_KEY = "held_farmers"


def features_held(lineage: Mapping[str, Any] | None) -> set[str]:
    """The farmers a features file's lineage says were left out (:data:`HELD_KEY`; empty when it says none)."""
    got = (lineage or {}).get(HELD_KEY)
    return {str(t) for t in got if isinstance(t, str)} if isinstance(got, list) else set()


#: the Parquet metadata key of a FieldFeatures file's lineage (:func:`lineage`, :func:`read_lineage`)
LINEAGE_KEY = "agcredit.lineage"


def lineage(res: FeaturizeResult, crop_model: str | None) -> dict[str, Any]:
    """What a FieldFeatures file was built from, as a decision's provenance names it: the crop model's description
    (``none`` without one), the imagery (:func:`pipelines.underwrite.portable_source`), the acquisition dates and the
    smoother's haze dates — so a decision made later from the file names these, not the models of its own day; with
    ``AGCREDIT_REGIONS_DIR`` set, also the digest of the bank's region files the features were built with."""
    from pipelines.underwrite import portable_source

    out: dict[str, Any] = {"crop_model_version": crop_model, "imagery_source": portable_source(res.source),
                           "acquisition_dates": [d.isoformat() for d in res.dates_used],
                           "families": dict(res.families), "smoother_hazy_dates": list(res.hazy_dates)}
    if res.haze_pinned:
        out["smoother_haze_pinned"] = True
    if res.missing_acquisitions:  # built without them (--allow-missing-acquisitions): only then, bodies as before
        out["missing_acquisitions"] = list(res.missing_acquisitions)
    from features.regions import provenance as regions_provenance

    out.update(regions_provenance())  # a bank's region files shaped the features (only with AGCREDIT_REGIONS_DIR)
    return out


def read_lineage(path: str | Path) -> dict[str, Any] | None:
    """The lineage written into the FieldFeatures Parquet file at ``path`` (None: a file without one — written by
    another tool or an earlier release)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(LINEAGE_KEY.encode())
    if raw is None:
        return None
    try:
        got = json.loads(raw)
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def write_parquet_atomic(df: pd.DataFrame, out: str | Path, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``df`` as Parquet via a temporary file in the same folder and a rename (no partial file)."""
    from features.atomic import write_table_atomic

    return write_table_atomic(df, out, fmt="parquet", metadata=metadata)
