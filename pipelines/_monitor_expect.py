"""What past seasons lead the early-warning rules to expect (:mod:`pipelines.monitor`, whose docstring gives the
rules): NDVI bands per region, crop and day of season, green-up / collapse timing, and emergence days — from the
past seasons' clear observations and declared crops only. Re-exported by :mod:`pipelines.monitor`.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipelines._monitor_thermal import ThermalClock
    from pipelines.monitor import AlertParams

__all__ = ["expected_bands", "expected_timing", "expected_emergence_days", "not_planted_day", "run_bounds",
           "arrays_by_key",
           "season_start_days"]


def _two_in_a_row(flags: np.ndarray) -> int | None:
    """Index of the second of the first two consecutive True values, or None."""
    both = flags[1:] & flags[:-1]
    idx = np.flatnonzero(both)
    return int(idx[0] + 1) if len(idx) else None


def season_start_days(dates: pd.Series, seasons: pd.Series, season_starts: dict[str, date]) -> np.ndarray:
    """Days from each row's season start (``season_starts[season]``) to its date; NaN where the season has
    none. Vectorised over the few distinct seasons (a per-row lookup costs seconds on a county's observations)."""
    codes, uniq = pd.factorize(seasons.astype(str))
    starts = np.array([np.datetime64(pd.Timestamp(season_starts[s]), "ns") if s in season_starts
                       else np.datetime64("NaT", "ns") for s in uniq] or [np.datetime64("NaT", "ns")])
    delta = pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]") - starts[np.maximum(codes, 0)]
    days = (delta.astype(np.int64) // 86_400_000_000_000).astype(np.float64)  # whole days, floored as .dt.days
    return np.where(np.isnat(delta) | (codes < 0), np.nan, days)


def _with_crops(past_obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date]) -> pd.DataFrame:
    obs = past_obs.merge(crops[["field_id", "season", "crop", "region"]], on=["field_id", "season"], how="inner")
    obs = obs[obs["crop"].notna()]
    missing = sorted(set(obs["season"].astype(str)) - set(season_starts))
    if missing:
        raise KeyError(missing[0])
    return obs.assign(day=season_start_days(obs["date"], obs["season"], season_starts).astype(np.int64))


def expected_bands(past_obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date],
                   params: AlertParams | None = None) -> pd.DataFrame:
    """Per region, crop and day of season: n fields, p10, p50, p90 of clear NDVI in past seasons.

    ``past_obs``: clear_ndvi() of past seasons; ``crops``: field_id, season, crop, region.
    ``season_starts``: season → first day of its imagery window.
    """
    if params is None:
        from pipelines.monitor import AlertParams

        params = AlertParams()
    p = params
    obs = _with_crops(past_obs, crops, season_starts)
    rows = []
    for (region, crop), g in obs.groupby(["region", "crop"], sort=True):
        days = g["day"].to_numpy()
        vals = g["ndvi"].to_numpy()
        key = pd.factorize(g["field_id"].astype(str) + "|" + g["season"].astype(str))[0]
        order = np.argsort(days, kind="stable")
        days, vals, key = days[order], vals[order], key[order]
        for d in range(int(days.min()), int(days.max()) + 1):
            lo, hi = np.searchsorted(days, [d - p.half_window, d + p.half_window + 1])
            n_fields = len(np.unique(key[lo:hi]))
            if n_fields < p.min_band_fields:
                continue
            q = np.percentile(vals[lo:hi], [10, 50, 90])
            rows.append((region, crop, d, n_fields, q[0], q[1], q[2]))
    return pd.DataFrame(rows, columns=["region", "crop", "day", "n_fields", "p10", "p50", "p90"])


def _field_timing(days: np.ndarray, vals: np.ndarray, p: AlertParams) -> tuple[int | None, int | None, int | None]:
    """(green-up day, index of the second of two clear observations below ``bare`` after green, its first day).

    The green-up day is the earliest it can have been: the day after the last clear observation below
    ``emerged`` that precedes the first one at or above it (cloudy gaps then lengthen, never shorten, the
    green-up-to-collapse duration, so a gap cannot make a healthy crop look failed).
    """
    k = _own_start(vals, p)
    up = np.flatnonzero(vals[k:] >= p.emerged) + k
    greenup = (int(days[up[0] - 1]) + 1 if up[0] > 0 else int(days[0])) if len(up) else None
    own = np.arange(len(vals)) >= k
    fallen = own & (np.maximum.accumulate(np.where(own, vals, -1.0)) >= p.green) & (vals < p.bare) \
        if len(vals) else np.zeros(0, bool)
    j = _two_in_a_row(fallen)
    return greenup, j, (int(days[j - 1]) if j is not None else None)


def run_bounds(*keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys starts in rows sorted by them, plus the end: rows ``bounds[i]:bounds[i + 1]``
    share their keys (``[0]`` for no rows). Slicing plain arrays by these is what a pandas groupby of a season's
    observations would give, at a fraction of its cost in the alert rules' loops."""
    n = len(keys[0])
    if not n:
        return np.zeros(1, dtype=int)
    change = np.zeros(n - 1, dtype=bool)
    for k in keys:
        change |= k[1:] != k[:-1]
    return np.flatnonzero(np.r_[True, change, True])


def arrays_by_key(keys: np.ndarray, *cols: np.ndarray) -> dict[Any, tuple[np.ndarray, ...]]:
    """key → each column's rows of that key, in their order (a stable sort by key, then :func:`run_bounds`): a
    groupby on plain arrays."""
    order = np.argsort(keys, kind="stable")
    k, sorted_cols = keys[order], [c[order] for c in cols]
    b = run_bounds(k)
    return {k[a]: tuple(c[a:e] for c in sorted_cols) for a, e in zip(b[:-1], b[1:], strict=True)}


def _own_start(vals: np.ndarray, p: AlertParams) -> int:
    """Index of the first clear observation below ``emerged``: a canopy seen before it (the previous crop, still
    standing when the window opens, as in Nebraska's September) cannot collapse as *this* crop."""
    bare = np.flatnonzero(vals < p.emerged)
    return int(bare[0]) if len(bare) else 0


def expected_timing(past_obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date],
                    params: AlertParams | None = None, clock: ThermalClock | None = None) -> pd.DataFrame:
    """Per region and crop: n, and P25/P50/P75 of the collapse day of season and of the green-up-to-collapse
    duration of past fields (see the module docstring). With a ``clock`` (:class:`pipelines._monitor_thermal.
    ThermalClock`) both are in thermal time — GDD since the season start, GDD from green-up to collapse — and
    ``unit`` says ``gdd`` (fields outside its weather are left out); else calendar days (``unit`` ``days``)."""
    if params is None:
        from pipelines.monitor import AlertParams

        params = AlertParams()
    p = params
    obs = _with_crops(past_obs, crops, season_starts).sort_values(["field_id", "season", "day"])
    recs = []
    # one field-season after another, on plain arrays (a pandas group each costs seconds on a county)
    fs = obs["field_id"].astype(str).to_numpy(dtype=object), obs["season"].astype(str).to_numpy(dtype=object)
    day_a, ndvi_a = obs["day"].to_numpy(), obs["ndvi"].to_numpy(dtype=float)
    region_a, crop_a = obs["region"].to_numpy(dtype=object), obs["crop"].to_numpy(dtype=object)
    bounds = run_bounds(*fs)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        greenup, _, collapse = _field_timing(day_a[a:b], ndvi_a[a:b], p)
        if greenup is None or collapse is None:
            continue
        region, crop = region_a[a], crop_a[a]
        if clock is not None:
            start = pd.Timestamp(season_starts[str(fs[1][a])])
            t_up, t_col = clock.since(str(region), crop, start, [start + pd.Timedelta(days=int(greenup)),
                                                                 start + pd.Timedelta(days=int(collapse))])
            if np.isfinite(t_up) and np.isfinite(t_col):
                recs.append((region, crop, t_col, t_col - t_up))
        else:
            recs.append((region, crop, collapse, collapse - greenup))
    df = pd.DataFrame(recs, columns=["region", "crop", "collapse", "duration"])
    rows = []
    for (region, crop), g in df.groupby(["region", "crop"], sort=True):
        if len(g) < p.min_band_fields:
            continue
        c = np.percentile(g["collapse"], [25, 50, 75])
        d = np.percentile(g["duration"], [25, 50, 75])
        rows.append((region, crop, len(g), *c, *d))
    out = pd.DataFrame(rows, columns=["region", "crop", "n", "collapse_p25", "collapse_p50", "collapse_p75",
                                      "duration_p25", "duration_p50", "duration_p75"])
    return out.assign(unit="gdd" if clock is not None else "days")


def expected_emergence_days(past_obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date],
                            params: AlertParams | None = None, *, quantile: float = 0.9) -> dict[tuple[str, str], int]:
    """Per (region, crop): the day of season by which ``quantile`` of past fields that emerged had reached
    ``emerged`` NDVI on a clear observation (fields that never did are left out)."""
    if params is None:
        from pipelines.monitor import AlertParams

        params = AlertParams()
    p = params
    obs = _with_crops(past_obs, crops, season_starts)
    obs = obs[obs["ndvi"] >= p.emerged]
    if obs.empty:
        return {}
    first = obs.groupby(["region", "crop", "field_id", "season"], sort=True)["day"].min().reset_index()
    out: dict[tuple[str, str], int] = {}
    for (region, crop), g in first.groupby(["region", "crop"], sort=True):
        if len(g) >= p.min_band_fields:
            out[(str(region), str(crop))] = int(np.ceil(np.quantile(g["day"].to_numpy(), quantile)))
    return out


def not_planted_day(emergence: dict[tuple[str, str], int], region: str, crop: str, gap: int) -> int | None:
    """The day of season from which (plus the grace days) a field of ``crop`` that has not come up is
    NOT_PLANTED: its crop's expected emergence day, or — when another crop of the region usually emerges more
    than ``gap`` days later (a winter crop missing in spring may be a spring crop sown instead) — the latest
    such day: nothing at all was planted only once no crop of the region can still come up."""
    e = emergence.get((region, crop))
    if e is None:
        return None
    later = [v for (r, _), v in emergence.items() if r == region and v > e + gap]
    return max(later) if later else e
