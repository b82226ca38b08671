"""The phenology calibration of a county: fitted on its latest past seasons' declared sowing and harvest dates.

:func:`features._phenology_calib.calibrate` on the NDVI of those seasons smoothed as production smooths it
(:func:`pipelines.featurize.smooth_ndvi`), the farm diaries (``records/history.csv``) and, when the county has
``weather/daily.csv``, its daily weather (the thermal-time durations). ``agcredit train crop-type --county`` (and
so ``agcredit demo``) stores the result with the crop-type model, so features built with that model version use
it; ``agcredit evaluate growth-stage`` fits the same thing on the same seasons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from features._phenology_calib import Calibration
from pipelines.county import County

__all__ = ["CALIBRATION_SEASONS", "calibration_seasons", "fit_county_phenology", "fit_phenology"]

#: how many of the latest past seasons the calibration is fitted on
CALIBRATION_SEASONS = 3


def calibration_seasons(seasons: Sequence[str], n_seasons: int = CALIBRATION_SEASONS) -> list[str]:
    """The latest ``n_seasons`` of ``seasons`` (sorted), the ones the calibration is fitted on."""
    return sorted(str(s) for s in seasons)[-n_seasons:] if n_seasons > 0 else []


def fit_phenology(region: str, chosen: Sequence[str], smoothed: Callable[[str], pd.DataFrame],
                  history: pd.DataFrame, weather: pd.DataFrame | None = None) -> Calibration | None:
    """The phenology calibration of ``region`` on the seasons ``chosen`` (:func:`calibration_seasons`): each
    season's NDVI smoothed as production smooths it (``smoothed(season)``, :func:`pipelines.featurize.smooth_ndvi`),
    the farm records of those seasons (``history``, as :func:`pipelines.county.read_history` types them) and the
    daily ``weather`` (None: no thermal-time durations); None when no season is chosen. What
    :func:`fit_county_phenology` fits for a county folder and ``train crop-type --series --labels --history`` for a
    bank's own tables."""
    from features.growth_stage import calibrate, load_calendars

    if not chosen:
        return None
    parts = [smoothed(s) for s in chosen]
    hp = history[history["season"].astype(str).isin(list(chosen))]
    return calibrate(pd.concat(parts, ignore_index=True), hp, hp[["field_id", "season", "declared_crop"]],
                     region, calendars=load_calendars(), weather=weather)


def fit_county_phenology(county: County, seasons: list[str] | None = None, *, n_seasons: int = CALIBRATION_SEASONS,
                         weather: bool | pd.DataFrame | None = True, progress: Callable[[str], None] | None = None,
                         series_of: Callable[[str], Any] | None = None) -> Calibration | None:
    """The phenology calibration of ``county`` on the latest ``n_seasons`` of ``seasons`` (default: its past
    seasons); None when there is no such season. ``weather``: True for the county's own daily weather, a daily weather
    table instead, or False/None to leave out the thermal-time durations.
    ``series_of(season)``: the season's :class:`features.series.SeriesResult` (default: the county's series, cached
    under its cache folder — the one crop-type training has just read)."""
    from pipelines.featurize import smooth_ndvi

    say = progress or (lambda _m: None)
    chosen = calibration_seasons(seasons if seasons is not None else county.past_seasons, n_seasons)
    if not chosen:
        return None

    def smoothed(s: str) -> pd.DataFrame:
        say(f"series {s} (phenology calibration)")
        res = series_of(s) if series_of is not None else county.series_result(s, None)
        return smooth_ndvi(res.series, county.fields(s), None, reference=res.reference)

    return fit_phenology(county.region, chosen, smoothed, county.history(),
                         weather if isinstance(weather, pd.DataFrame) else (county.weather() if weather else None))
