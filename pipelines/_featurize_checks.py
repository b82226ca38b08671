"""The as-of date and the evidence checks of a featurize run (pipelines/featurize.py): the season's bounds, an as-of date inside the season window, past seasons' series, and at least one clear observation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contracts import check_season
from features.errors import UserInputError

if TYPE_CHECKING:

    pass


def _as_date(d: dt.date | dt.datetime | pd.Timestamp | str) -> dt.date:
    if isinstance(d, str):
        return dt.date.fromisoformat(d)
    if isinstance(d, pd.Timestamp | dt.datetime):
        return d.date()
    return d


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
