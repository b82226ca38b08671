"""A field's clear NDVI observations as the early-warning rules (:mod:`pipelines.monitor`) read them: the clear
observations (:func:`clear_ndvi`) of its crop's own window (:func:`crop_first_days`, :func:`own_crop_obs`), whether and
when its crop came up for NOT_PLANTED (:func:`came_up_date`, :func:`cleared_canopy_date`, :func:`emerging`,
:func:`first_not_planted_date`), and the past seasons' bands looked up on its days. Re-exported by
:mod:`pipelines.monitor`."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines._monitor_expect import season_start_days

__all__ = ["clear_ndvi", "crop_first_days", "own_crop_obs", "came_up_date", "cleared_canopy_date", "emerging",
           "first_not_planted_date"]


def clear_ndvi(series: pd.DataFrame, *, as_of: date | None = None, min_clear_share: float = 0.8) -> pd.DataFrame:
    """Clear NDVI observations: field_id, season, date, ndvi (mean over clear pixels), up to ``as_of``."""
    s = series[series["variable"] == "NDVI"]
    if as_of is not None:
        s = s[s["date"] <= pd.Timestamp(as_of)]
    ok = (s["n_pixels"] > 0) & (s["n_clear"] >= min_clear_share * s["n_pixels"]) & s["mean"].notna()
    out = s.loc[ok, ["field_id", "season", "date", "mean"]].rename(columns={"mean": "ndvi"})
    return out.sort_values(["field_id", "season", "date"]).reset_index(drop=True)


def crop_first_days(region: str, season: str, calendar: pd.DataFrame | None = None) -> dict[tuple[str, str], int]:
    """Per (region, crop): the day of season of the crop's pre-season checkpoint (season calendar). Observations
    before it belong to the field's previous crop (e.g. Nebraska's window opens in September of the year before,
    when a spring crop's field still shows last year's crop) and are left out by :func:`own_crop_obs`."""
    from features.series import season_window
    from pipelines.schedule import checkpoint_dates, load_calendar

    cal = checkpoint_dates(season, calendar if calendar is not None else load_calendar())
    cal = cal[(cal["region"] == region) & (cal["checkpoint"] == "pre_season")]
    start = pd.Timestamp(season_window(season, region)[0])
    return {(str(r), str(c)): int((pd.Timestamp(d) - start).days)
            for r, c, d in zip(cal["region"], cal["crop"], cal["date"], strict=True)}


def own_crop_obs(obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date],
                 first_days: dict[tuple[str, str], int]) -> pd.DataFrame:
    """``obs`` without the observations before each field's crop's first day (see :func:`crop_first_days`)."""
    if obs.empty or not first_days:
        return obs
    m = obs.merge(crops[["field_id", "season", "crop", "region"]], on=["field_id", "season"], how="left")
    fd = pd.DataFrame([(r, c, v) for (r, c), v in first_days.items()], columns=["region", "crop", "first_day"])
    first = m[["region", "crop"]].astype(object).merge(fd.astype({"region": object, "crop": object}),
                                                       on=["region", "crop"], how="left")["first_day"]
    first = first.fillna(-10**6).to_numpy(dtype=np.float64)
    day = season_start_days(m["date"], m["season"], season_starts)
    keep = np.isnan(day) | (np.nan_to_num(day, nan=0.0) >= first)
    return obs.loc[keep].reset_index(drop=True)


def came_up_date(dates: np.ndarray, vals: np.ndarray, emerged: float, rise: float,
                 expected: pd.Timestamp | None, *, cleared: bool = False) -> np.datetime64 | None:
    """The first clear observation (``dates``, ``vals`` in date order) on which the field's crop had come up for
    NOT_PLANTED: at or above ``emerged`` — with ``cleared`` (:attr:`AlertParams.np_cleared_canopy`) not before the
    field's last observation below ``emerged`` dated before ``expected`` (the crop's expected emergence day; None: no
    such day, nothing discounted), a canopy cleared before the crop was due; with ``rise`` > 0
    (:attr:`AlertParams.np_came_up_rise`) only when dated on or after ``expected`` (None: never) or at least ``rise``
    above the lowest earlier observation (it rose from bare soil). None when none has."""
    ok = vals >= emerged
    when = np.asarray(dates, dtype="datetime64[ns]")
    before = (when < expected.to_datetime64()) if expected is not None else np.zeros(len(vals), dtype=bool)
    if cleared:
        ok[:_cleared_by(ok, before)] = False
    if rise > 0 and len(vals):
        low = np.minimum.accumulate(vals)
        earlier = np.concatenate([[np.inf], low[:-1]])  # the lowest observation before each one
        ok &= ~before | (vals - earlier >= rise) if expected is not None else vals - earlier >= rise
    i = np.flatnonzero(ok)
    return when[i[0]] if len(i) else None


def _cleared_by(green: np.ndarray, before: np.ndarray) -> int:
    """Index of the last observation below ``emerged`` (not ``green``) among those ``before`` the crop's expected
    emergence day — the green ones earlier than it are a canopy cleared before the crop was due —; 0 without one."""
    bare = np.flatnonzero(before & ~green)
    return int(bare[-1]) if len(bare) else 0


def cleared_canopy_date(dates: np.ndarray, vals: np.ndarray, emerged: float, expected: pd.Timestamp | None
                        ) -> np.datetime64 | None:
    """The clear observation (``dates``, ``vals`` in date order) by which a canopy standing earlier (at or above
    ``emerged``) had been cleared before ``expected``, the crop's expected emergence day (:func:`came_up_date`
    ``cleared``: last season's crop); None when no such canopy was discounted."""
    if expected is None or not len(vals):
        return None
    when = np.asarray(dates, dtype="datetime64[ns]")
    green = vals >= emerged
    k = _cleared_by(green, when < expected.to_datetime64())
    return when[k] if k and green[:k].any() else None


def emerging(vals: np.ndarray, rise: float) -> bool:
    """Whether the latest clear NDVI (``vals`` in date order) is at least ``rise`` above the lowest so far: a
    late-sown crop coming up (bare soil stays flat), so not (yet) NOT_PLANTED."""
    return bool(len(vals)) and float(vals[-1] - vals.min()) >= rise


def _dense_bands(bands: pd.DataFrame) -> dict[tuple[str, str], tuple[int, np.ndarray, np.ndarray, int]]:
    """(region, crop) → (first day, p10 by day, p50 by day, day of the p50 peak); NaN where no band."""
    out = {}
    for (r, c), g in bands.groupby(["region", "crop"]):
        d0, d1 = int(g["day"].min()), int(g["day"].max())
        lo = np.full(d1 - d0 + 1, np.nan)
        med = np.full(d1 - d0 + 1, np.nan)
        idx = g["day"].to_numpy(dtype=int) - d0
        lo[idx], med[idx] = g["p10"].to_numpy(dtype=float), g["p50"].to_numpy(dtype=float)
        out[(str(r), str(c))] = (d0, lo, med, int(g.loc[g["p50"].idxmax(), "day"]))
    return out


def _lookup(dense: tuple[int, np.ndarray, np.ndarray, int], days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d0, lo, med, _ = dense
    i = days - d0
    ok = (i >= 0) & (i < len(lo))
    j = np.minimum(np.maximum(i, 0), len(lo) - 1)  # np.clip's dispatch costs more than the work on a field's days
    return np.where(ok, lo[j], np.nan), np.where(ok, med[j], np.nan)


def _r(v: float) -> float:
    return round(float(v), 4)


def first_not_planted_date(grid: np.ndarray, deadline: pd.Timestamp, dates: np.ndarray, vals: np.ndarray,
                           rise: float, seen_from: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """The day a NOT_PLANTED is raised: the first acquisition date of ``grid`` (those before the field's first
    emerged observation) on or after the ``deadline`` whose latest clear observation of the field (``dates``,
    ``vals``, in date order) is not a rising one (:func:`emerging`); None without one. Monitor (which dated it with
    the date asked: the same alert moved with every query) and `agcredit evaluate alerts` date it so. ``seen_from``
    (the expected emergence day, :attr:`AlertParams.np_seen`): that latest clear observation must also be dated on
    or after it — the field seen bare when the crop should have been up, not merely unseen since before."""
    cand = grid[grid >= deadline.to_datetime64()]
    if seen_from is not None and not len(vals):
        return None
    if len(vals) and len(cand):
        rising = (vals - np.minimum.accumulate(vals)) >= rise
        last = np.searchsorted(dates, cand, side="right") - 1
        keep = (last < 0) | ~rising[np.maximum(last, 0)]
        if seen_from is not None:
            keep &= (last >= 0) & (np.asarray(dates, dtype="datetime64[ns]")[np.maximum(last, 0)]
                                   >= seen_from.to_datetime64())
        cand = cand[keep]
    return pd.Timestamp(cand[0]) if len(cand) else None


def _own_emergence(emergence: dict[tuple[str, str], int], region: str, crop: str, start: pd.Timestamp
                   ) -> pd.Timestamp | None:
    """The date of the crop's own expected emergence day (:func:`expected_emergence_days`), None without one."""
    e = emergence.get((region, crop))
    return None if e is None else start + pd.Timedelta(days=e)
