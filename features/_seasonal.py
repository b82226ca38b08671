"""Per-field seasonal features from a FieldTimeSeries long table (as-of honest, NaN-explicit).

For every (field_id, season) of a *windows* table (field_id, season, start, end) and every
variable, the clear observations dated on or before the cut-off are binned into periods of
``period_days`` counted from the season start; each period's composite is the median of its
clear observations. Empty periods between the first and the last observed period are filled
by linear interpolation; periods outside them (before the first, after the last observation
or after the cut-off) stay NaN. From the composites come their first differences and simple
phenology metrics (maximum, day of maximum, minimum, amplitude, area under the curve,
green-up and senescence slopes, half-amplitude start/end days, last value and its day,
number of clear observations).

The cut-off of a field is ``min(start + offset_days, as_of, end)``: nothing observed after it
is read, so the features are identical whether or not later observations are present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.errors import ContractError

__all__ = [
    "DEFAULT_VARIABLES",
    "feature_names",
    "field_windows",
    "seasonal_features",
]

#: indices used by default when present in the series
DEFAULT_VARIABLES = ("NDVI", "EVI", "NDRE", "NDWI", "NDMI")

_METRICS = ("max", "argmax_day", "min", "amp", "auc", "mean", "greenup", "senescence",
            "sos_day", "eos_day", "last", "last_day", "n_obs")
#: timing-free metrics of the raw clear observations (``raw_metrics=True``): extremes and deciles
#: of every observation, not of the period medians, so a short event (a flooded paddy seen on
#: one or two dates) is not averaged away, and the season's length whatever its start date
_RAW_METRICS = ("obs_max", "obs_min", "obs_q10", "obs_q90", "duration")
#: standing water (NDWI > 0) seen on clear dates: count, first and last day (needs NDWI)
_WATER_METRICS = ("water_n", "water_first_day", "water_last_day")


def feature_names(variables: Sequence[str], n_periods: int, *, derivatives: bool = True,
                  raw_metrics: bool = False) -> list[str]:
    """The feature columns :func:`seasonal_features` produces, in order."""
    out: list[str] = []
    for v in variables:
        out += [f"feat_{v}_c{p:02d}" for p in range(n_periods)]
        if derivatives:
            out += [f"feat_{v}_d{p:02d}" for p in range(1, n_periods)]
        out += [f"feat_{v}_{m}" for m in _METRICS]
        if raw_metrics:
            out += [f"feat_{v}_{m}" for m in _RAW_METRICS]
    if raw_metrics and "NDWI" in variables:
        out += [f"feat_{m}" for m in _WATER_METRICS]
    return out


def field_windows(keys: pd.DataFrame, *, season_days: int | None = None) -> pd.DataFrame:
    """Season window (start, end) of every (field_id, season) in ``keys``.

    Uses ``season_start`` (and ``season_end``, else ``season_start + season_days - 1``) when
    ``keys`` carries them; otherwise the region's window from ``features/data/season_windows.csv``.
    """
    from features.series import season_window

    need = [c for c in ("field_id", "season") if c not in keys.columns]
    if need:
        raise ContractError(table="windows", column=need[0], expected="column present", found="missing")
    out = keys[["field_id", "season"]].astype({"field_id": str, "season": str}).reset_index(drop=True)
    if "season_start" in keys.columns:
        start = pd.to_datetime(keys["season_start"]).reset_index(drop=True)
        if "season_end" in keys.columns:
            end = pd.to_datetime(keys["season_end"]).reset_index(drop=True)
        elif season_days is not None:
            end = start + pd.Timedelta(days=season_days - 1)
        else:
            raise ContractError(table="windows", column="season_end", expected="column present or season_days",
                                found="neither")
    else:
        if "region" not in keys.columns:
            raise ContractError(table="windows", column="region", expected="a region (or season_start)",
                                found="missing")
        pairs = {(s, r) for s, r in zip(out["season"], keys["region"].astype(object))}
        win = {p: season_window(p[0], None if pd.isna(p[1]) else str(p[1])) for p in pairs}
        wins = [win[(s, r)] for s, r in zip(out["season"], keys["region"].astype(object))]
        start = pd.Series(pd.to_datetime([w[0] for w in wins]))
        end = pd.Series(pd.to_datetime([w[1] for w in wins]))
    out["start"] = start.to_numpy(dtype="datetime64[ns]")
    out["end"] = end.to_numpy(dtype="datetime64[ns]")
    bad = out["end"] < out["start"]
    if bad.any():
        raise ContractError(table="windows", column="season_end", expected="on or after season_start",
                            found="earlier dates", offenders=list(out.loc[bad, "field_id"]))
    return out.drop_duplicates(["field_id", "season"]).reset_index(drop=True)


def _interp_rows(comp: np.ndarray) -> np.ndarray:
    """Linear interpolation along the last axis between the first and last finite values."""
    out = comp.copy()
    x = np.arange(comp.shape[-1], dtype=float)
    flat = out.reshape(-1, comp.shape[-1])
    for i in range(flat.shape[0]):
        row = flat[i]
        ok = np.isfinite(row)
        n = int(ok.sum())
        if n < 2 or n == row.size:
            continue
        idx = np.flatnonzero(ok)
        lo, hi = idx[0], idx[-1]
        seg = slice(lo, hi + 1)
        row[seg] = np.interp(x[seg], x[ok], row[ok])
    return out


def _raw_metrics(s: pd.DataFrame, variables: list[str], nf: int) -> dict[str, np.ndarray]:
    """Timing-free metrics of the clear observations in ``s`` (rows ``_row``, ``variable``, ``mean``, ``_day``)."""
    out: dict[str, np.ndarray] = {}
    for v in variables:
        g = s.loc[s["variable"] == v].groupby("_row")["mean"]
        rows = np.asarray(g.size().index, dtype=int)
        for name, vals in (("obs_max", g.max()), ("obs_min", g.min()), ("obs_q10", g.quantile(0.1)),
                           ("obs_q90", g.quantile(0.9))):
            col = np.full(nf, np.nan)
            col[rows] = vals.to_numpy(dtype="float64")
            out[f"feat_{v}_{name}"] = col
    if "NDWI" in variables:
        w = s.loc[(s["variable"] == "NDWI") & (s["mean"].to_numpy(dtype="float64") > 0.0)]
        n = np.zeros(nf)
        first, last = np.full(nf, np.nan), np.full(nf, np.nan)
        if len(w):
            g = w.groupby("_row")["_day"]
            rows = np.asarray(g.size().index, dtype=int)
            n[rows] = g.size().to_numpy()
            first[rows] = g.min().to_numpy(dtype="float64")
            last[rows] = g.max().to_numpy(dtype="float64")
        out.update({"feat_water_n": n, "feat_water_first_day": first, "feat_water_last_day": last})
    return out


def seasonal_features(
    series: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    offset_days: int | None = None,
    as_of: dt.date | pd.Timestamp | None = None,
    period_days: int = 16,
    n_periods: int | None = None,
    variables: Sequence[str] | None = None,
    min_clear_fraction: float = 0.5,
    derivatives: bool = True,
    raw_metrics: bool = False,
) -> pd.DataFrame:
    """Seasonal features per (field_id, season) of ``windows``; see the module docstring.

    ``series`` is a FieldTimeSeries long table; ``windows`` comes from :func:`field_windows`.
    ``n_periods`` defaults to the longest window divided by ``period_days``;
    ``derivatives=False`` leaves out the per-period differences; ``raw_metrics=True`` adds the
    timing-free metrics of the raw observations and, with NDWI, standing water. Rows of fields
    without any clear observation are present and NaN (``n_obs`` 0).
    """
    for col in ("field_id", "season", "date", "variable", "mean", "n_pixels", "n_clear"):
        if col not in series.columns:
            raise ContractError(table="FieldTimeSeries", column=col, expected="column present", found="missing")
    win = windows[["field_id", "season", "start", "end"]].reset_index(drop=True)
    length = (win["end"] - win["start"]).dt.days.to_numpy() + 1
    if n_periods is None:
        n_periods = int(np.ceil(length.max() / period_days)) if len(win) else 1
    if variables is None:
        present = set(series["variable"].astype(str).unique())
        variables = [v for v in DEFAULT_VARIABLES if v in present] or ["NDVI"]
    variables = list(variables)
    cut = length - 1
    if offset_days is not None:
        cut = np.minimum(cut, offset_days)
    if as_of is not None:
        cut = np.minimum(cut, (pd.Timestamp(as_of) - win["start"]).dt.days.to_numpy())
    win = win.assign(_row=np.arange(len(win)), _cut=cut)

    s = series.loc[series["variable"].astype(str).isin(variables),
                   ["field_id", "season", "date", "variable", "mean", "n_pixels", "n_clear"]]
    s = s.astype({"field_id": str, "season": str, "variable": str})
    mean = s["mean"].to_numpy(dtype="float64", na_value=np.nan)
    n_clear = s["n_clear"].to_numpy(dtype="float64")
    n_pix = s["n_pixels"].to_numpy(dtype="float64")
    clear = np.isfinite(mean) & (n_clear > 0) & (n_clear >= min_clear_fraction * n_pix)
    s = s.loc[clear].merge(win, on=["field_id", "season"], how="inner")
    day = (pd.to_datetime(s["date"]) - s["start"]).dt.days.to_numpy()
    keep = (day >= 0) & (day <= s["_cut"].to_numpy())
    s = s.loc[keep].assign(_period=day[keep] // period_days, _day=day[keep])
    s = s.loc[s["_period"] < n_periods]

    nf, nv, npd = len(win), len(variables), n_periods
    comp = np.full((nf, nv, npd), np.nan)
    nobs = np.zeros((nf, nv))
    if len(s):
        vidx = pd.Categorical(s["variable"], categories=variables).codes
        g = pd.DataFrame({"r": s["_row"].to_numpy(), "v": vidx, "p": s["_period"].to_numpy(),
                          "x": s["mean"].to_numpy(dtype="float64")})
        med = g.groupby(["r", "v", "p"], sort=True)["x"].median()
        r, v, p = (med.index.get_level_values(i).to_numpy() for i in range(3))
        comp[r, v, p] = med.to_numpy()
        cnt = g.groupby(["r", "v"])["x"].size()
        nobs[cnt.index.get_level_values(0).to_numpy(), cnt.index.get_level_values(1).to_numpy()] = cnt.to_numpy()
    raw = _raw_metrics(s, variables, nf) if raw_metrics else {}
    comp = _interp_rows(comp)
    centre = np.arange(npd) * period_days + period_days / 2.0

    cols: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        fin = np.isfinite(comp)
        anyobs = fin.any(axis=2)
        amax = np.argmax(np.where(fin, comp, -np.inf), axis=2)
        vmax = np.where(anyobs, np.max(np.where(fin, comp, -np.inf), axis=2), np.nan)
        vmin = np.where(anyobs, np.min(np.where(fin, comp, np.inf), axis=2), np.nan)
        nfin = fin.sum(axis=2)
        total = np.where(fin, comp, 0.0).sum(axis=2)
        auc = np.where(anyobs, total * period_days, np.nan)
        meanv = np.where(anyobs, total / np.maximum(nfin, 1), np.nan)
        diff = np.diff(comp, axis=2)
        dok = np.isfinite(diff)
        dfin = dok.any(axis=2)
        greenup = np.where(dfin, np.max(np.where(dok, diff, -np.inf), axis=2), np.nan) / period_days
        senes = np.where(dfin, np.min(np.where(dok, diff, np.inf), axis=2), np.nan) / period_days
        half = vmin + 0.5 * (vmax - vmin)
        above = np.isfinite(comp) & (comp >= half[..., None])
        pidx = np.arange(npd)
        before = above & (pidx[None, None, :] <= amax[..., None])
        after = above & (pidx[None, None, :] >= amax[..., None])
        sos = np.where(before.any(axis=2), centre[np.argmax(before, axis=2)], np.nan)
        last_after = npd - 1 - np.argmax(after[..., ::-1], axis=2)
        eos = np.where(after.any(axis=2), centre[last_after], np.nan)
        last_p = npd - 1 - np.argmax(np.isfinite(comp)[..., ::-1], axis=2)
        last = np.where(anyobs, np.take_along_axis(comp, last_p[..., None], axis=2)[..., 0], np.nan)
        metrics = {
            "max": vmax, "argmax_day": np.where(anyobs, centre[amax], np.nan), "min": vmin,
            "amp": vmax - vmin, "auc": auc, "mean": meanv, "greenup": greenup, "senescence": senes,
            "sos_day": np.where(anyobs, sos, np.nan), "eos_day": np.where(anyobs, eos, np.nan),
            "last": last, "last_day": np.where(anyobs, centre[last_p], np.nan), "n_obs": nobs,
        }
    for j, v in enumerate(variables):
        for p in range(npd):
            cols[f"feat_{v}_c{p:02d}"] = comp[:, j, p]
        for p in range(1, npd if derivatives else 1):
            cols[f"feat_{v}_d{p:02d}"] = diff[:, j, p - 1]
        for m in _METRICS:
            cols[f"feat_{v}_{m}"] = metrics[m][:, j].astype("float64")
        if raw_metrics:
            raw[f"feat_{v}_duration"] = metrics["eos_day"][:, j] - metrics["sos_day"][:, j]
            for m in _RAW_METRICS:
                cols[f"feat_{v}_{m}"] = raw[f"feat_{v}_{m}"].astype("float64")
    if raw_metrics and "NDWI" in variables:
        for m in _WATER_METRICS:
            cols[f"feat_{m}"] = raw[f"feat_{m}"]
    out = pd.DataFrame(cols, index=pd.RangeIndex(nf))
    keys = win[["field_id", "season"]].reset_index(drop=True)
    return pd.concat([keys, out], axis=1)
