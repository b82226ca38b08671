"""The early-warning replay's data (:mod:`pipelines.evaluation.alerts`): a county's seasons of clear NDVI, declared
crops, records and thermal clock (:class:`SeasonData`, :func:`load_season_data`), and the expectations past seasons
give (:class:`Expectations`, :func:`fit_expectations`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.errors import UserInputError
from pipelines._monitor_thermal import ThermalClock
from pipelines.monitor import (
    AlertParams,
    clear_ndvi,
    crop_first_days,
    expected_bands,
    expected_emergence_days,
    expected_timing,
    own_crop_obs,
    thermal_clock,
)

#: what the production crop-type model reads of a county's series (``CropTypeClassifier``'s default variables,
#: those present): the replay's crop model must see what ``agcredit train crop-type --county`` trains on
CROP_VARIABLES = ("NDVI", "EVI", "NDRE", "NDWI", "NDMI")


@dataclass
class SeasonData:
    """A county's clear NDVI and declared crops over its seasons (no truth)."""

    region: str
    seasons: list[str]
    current: str
    obs: pd.DataFrame
    crops: pd.DataFrame
    starts: dict[str, date]
    series: pd.DataFrame | None = None
    #: the series the production crop-type model reads (:data:`CROP_VARIABLES`), when loaded with ``crop_series=True``
    crop_series: pd.DataFrame | None = None
    #: farmers' diaries of past seasons (records/history.csv): field_id, season, sowing_date,
    #: harvest_date, reported_yield_t_ha — the labels :func:`tune_params` learns from
    records: pd.DataFrame | None = None
    #: thermal time from the county's daily weather (the collapse timing in GDD), None: calendar days
    clock: ThermalClock | None = None


@dataclass
class Expectations:
    """What past seasons say a healthy crop looks like."""

    bands: pd.DataFrame
    timing: pd.DataFrame
    emergence: dict[tuple[str, str], int]


def _check_season(season: str, seasons: Sequence[str]) -> list[str]:
    """The past seasons of ``season``: at least two, or a one-line error."""
    if season not in seasons:
        raise UserInputError(f"evaluate alerts: season {season} is not one of the county's ({', '.join(seasons)})")
    past = [s for s in seasons if s < season]
    if len(past) < 2:
        raise UserInputError(f"evaluate alerts: season {season} needs at least 2 past seasons, found {len(past)}")
    return past


def load_season_data(county: str | Path, *, cache_dir: str | Path | None = None, variables: Sequence[str] = ("NDVI",),
                     progress: Callable[[str], None] | None = None, crop_series: bool = False,
                     weather: str | Path | None = None) -> SeasonData:
    """Read a county folder's fields (all seasons) and build their series (cached; NDVI by default).

    ``weather``: a daily weather table (default the county's ``weather/daily.csv`` when it has one), which puts
    the collapse timing in thermal time as :func:`pipelines.monitor.season_alerts` does with it.

    ``crop_series``: also the series the production crop-type model is trained on and reads
    (:data:`CROP_VARIABLES`, from the every-variable series ``County.series`` builds), for CROP_MISMATCH.
    """
    from features.fields import read_fields
    from features.series import build_series, season_window

    root = Path(county)
    meta_p = root / "county.json"
    if not meta_p.is_file():
        raise UserInputError(f"{meta_p}: county.json not found — expected a county folder")
    from pipelines.county import County

    c = County(root)
    region, seasons, current = c.region, c.seasons, c.current_season
    fields = read_fields(root / "records" / "fields.gpkg").fields
    hist_p = root / "records" / "history.csv"
    records = None
    if hist_p.is_file():  # checked as every other reader checks it (seasons, dates strictly days, known crops, yields),
        from pipelines.county import read_history  # first, and labelled as read (a season `2008.0` had dropped out)

        h = read_history(hist_p)
        records = h.assign(**{col: h[col].dt.strftime("%Y-%m-%d").fillna("") for col in ("sowing_date",
                                                                                          "harvest_date")})
    # the default as every other command's (AGCREDIT_CACHE_DIR, else the county's .cache)
    cache = Path(cache_dir) if cache_dir is not None else c.cache_dir / "series"
    frames, crop_frames = [], []
    for s in seasons:
        fs = fields[fields["season"].astype(str) == s]
        if fs.empty:
            continue
        if crop_series:
            # every variable, as County.series builds it (same cache entries), read once: the rules' variables
            # and what the crop model reads are both subsets of it (a variable's statistics do not depend on
            # which others are read)
            full = build_series(fs, root / "scenes", s, cache_dir=cache).series
            frames.append(full[full["variable"].isin(list(variables))].reset_index(drop=True))
            crop_frames.append(full[full["variable"].isin(CROP_VARIABLES)].reset_index(drop=True))
        else:
            frames.append(build_series(fs, root / "scenes", s, variables=list(variables), cache_dir=cache).series)
        if progress is not None:
            progress(f"series {s}: {len(frames[-1])} rows")
    series = pd.concat(frames, ignore_index=True)
    crops = pd.DataFrame({"field_id": fields["field_id"].astype(str), "season": fields["season"].astype(str),
                          "crop": fields["declared_crop"], "region": fields["region"].fillna(region).astype(str)})
    starts = {s: season_window(s, region)[0] for s in seasons}
    obs = own_crop_obs(clear_ndvi(series), crops, starts, crop_first_days(region, current))
    wx_p = Path(weather) if weather is not None else root / "weather" / "daily.csv"
    clock = None
    if weather is not None or wx_p.is_file():
        from features.weather import read_weather

        clock = thermal_clock(read_weather(wx_p), region)
    return SeasonData(region=region, seasons=seasons, current=current, obs=obs, crops=crops, starts=starts,
                      series=series, records=records, clock=clock,
                      crop_series=pd.concat(crop_frames, ignore_index=True) if crop_frames else None)


def _clock(data: SeasonData, params: AlertParams) -> ThermalClock | None:
    """The county's thermal clock when the params measure the collapse timing in GDD (else calendar days)."""
    if params.timing_unit != "gdd":
        return None
    if data.clock is None:
        raise UserInputError("alert timing in GDD needs the county's daily weather (weather/daily.csv or --weather)")
    return data.clock


def fit_expectations(data: SeasonData, seasons: Sequence[str], params: AlertParams) -> Expectations:
    """Bands, timing and emergence days from ``seasons`` (which must all be before the evaluated one)."""
    past = data.obs[data.obs["season"].isin(list(seasons))]
    crops = data.crops[data.crops["season"].isin(list(seasons))]
    return Expectations(bands=expected_bands(past, crops, data.starts, params),
                        timing=expected_timing(past, crops, data.starts, params, _clock(data, params)),
                        emergence=expected_emergence_days(past, crops, data.starts, params))
