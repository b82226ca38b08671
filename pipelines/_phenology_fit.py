"""The phenology calibration of a county: fitted on its latest past seasons' declared sowing and harvest dates.

:func:`features._phenology_calib.calibrate` on the NDVI of those seasons smoothed as production smooths it
(:func:`pipelines.featurize.smooth_ndvi`), the farm diaries (``records/history.csv``) and, when the county has
``weather/daily.csv``, its daily weather (the thermal-time durations). ``agcredit train crop-type --county`` (and
so ``agcredit demo``) stores the result with the crop-type model, so features built with that model version use
it; ``agcredit evaluate growth-stage`` fits the same thing on the same seasons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from features._phenology_calib import Calibration
from pipelines.county import County

__all__ = ["CALIBRATION_SEASONS", "fit_county_phenology"]

#: how many of the latest past seasons the calibration is fitted on
CALIBRATION_SEASONS = 3


def fit_county_phenology(county: County, seasons: list[str] | None = None, *, n_seasons: int = CALIBRATION_SEASONS,
                         weather: bool | pd.DataFrame | None = True, progress: Callable[[str], None] | None = None,
                         series_of: Callable[[str], Any] | None = None) -> Calibration | None:
    """The phenology calibration of ``county`` on the latest ``n_seasons`` of ``seasons`` (default: its past
    seasons); None when there is no such season. ``weather``: True for the county's own daily weather, a daily weather
    table instead, or False/None to leave out the thermal-time durations.
    ``series_of(season)``: the season's :class:`features.series.SeriesResult` (default: the county's series, cached
    under its cache folder — the one crop-type training has just read)."""
    from features.growth_stage import calibrate, load_calendars
    from pipelines.featurize import smooth_ndvi

    say = progress or (lambda _m: None)
    chosen = sorted(seasons if seasons is not None else county.past_seasons)[-n_seasons:] if n_seasons > 0 else []
    if not chosen:
        return None
    parts = []
    for s in chosen:
        say(f"series {s} (phenology calibration)")
        res = series_of(s) if series_of is not None else county.series_result(s, None)
        parts.append(smooth_ndvi(res.series, county.fields(s), None, reference=res.reference))
    hist = county.history()
    hp = hist[hist["season"].astype(str).isin(chosen)]
    wx = weather if isinstance(weather, pd.DataFrame) else (county.weather() if weather else None)
    return calibrate(pd.concat(parts, ignore_index=True), hp, hp[["field_id", "season", "declared_crop"]],
                     county.region, calendars=load_calendars(), weather=wx)
