"""Phenology and growth stage of every field from its smoothed NDVI (vectorised over fields).

Input is :func:`features.timeseries.smooth_series` output (a regular grid per season). Per field,
within the window its crop's calendar allows (``features/data/crop_calendars.csv``: emergence
median − 3 spreads − 20 days to harvest median + 3 spreads + 30 days):

- **peak**: the maximum of the curve so far (``ndvi_max``, ``peak_date``);
- **pre-emergence base**: the minimum between the window start and the peak, searched no later
  than the calendar's emergence + 2 spreads + 10 days (bare soil, or water in a paddy);
  ``amplitude = peak − base``; a field is *green* when the amplitude is at least
  :data:`MIN_AMPLITUDE` and the peak at least :data:`MIN_PEAK`;
- **emergence**: the first upward crossing, after the base, of ``base + θ_em · amplitude``, plus an
  offset (days); **maturity**: the first downward crossing after the peak of
  ``b + θ_mat · (peak − b)`` (``b`` the base floored at :data:`SOIL_NDVI`, so a paddy's water does
  not count), plus an offset. ``θ`` and offsets come from a :class:`Calibration` fitted on past
  seasons' declared dates (:mod:`features._phenology_calib`), else defaults. With a calibration, the
  detected emergence is fused (inverse-variance weights) with the prior the past seasons' declared
  sowing dates give (calendar emergence + the median shift of declared sowing + calendar lag; its
  spread is the prior's variance). The detection's variance is the calibration's scatter plus
  ``gap² / 12`` — ``gap`` the days between the observations around the crossing — so a crossing
  interpolated across a long cloud gap (where the smoother bends the rise early) leans on the prior,
  and a well-observed one barely moves. The fused date is never later than the crossing itself;
- **expected maturity** (not yet seen): emergence + the calibrated emergence→maturity days (with a calibration
  of an earlier release's model version, which carries peak→maturity durations: the peak + those once the curve
  has fallen a tenth of its amplitude — no longer fitted, see :mod:`features._phenology_calib`); with daily weather
  (``weather=``) and a calibration holding thermal-time durations, the day on which that many growing degree
  days have accumulated instead (:class:`features.thermal.ThermalClock`: observed weather up to ``as_of``, the
  day-of-year normal of earlier years after it) — a warm season matures earlier than its days say;
- **harvest**: maturity + the calendar's maturity→harvest lag; ``harvest_date`` is given once it is
  on or before ``as_of``; ``expected_harvest_date`` is that estimate, else the expected maturity + the
  lag, else emergence + the calendar's emergence→harvest duration, else the calendar median;
- **sos/eos**: 50% amplitude crossings up and down; **green-up / senescence rates**: the steepest
  rise before and fall after the peak (NDVI per day);
- **ndvi_auc**: NDVI·days above the pre-emergence base (floored at the soil level) in the crop
  window up to ``as_of``;
- **growth_stage** as of ``as_of`` (:func:`stage_from_dates`, the same rule the evaluation applies
  to true dates): not_sown before emergence; emerged for the first quarter of emergence→flowering;
  vegetative to flowering (emergence + the calendar's share of emergence→maturity); reproductive
  to halfway flowering→maturity; maturing to harvest; harvested after.

Winter wheat's autumn emergence is found the same way (its base is the bare soil before the
autumn sowing), but it is hard to see; it is reported, not gated.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features._crop_calendars import CALENDAR_EVENTS, calendar_dates, load_calendars
from features._phenology_calib import Calibration, CalibrationError, CropCalib, calibrate
from features.contracts import GROWTH_STAGES

# isort: split
# re-exported, unused here: importable from features.growth_stage as before the crop calendars moved to
# features._crop_calendars
from pathlib import Path  # noqa: F401

from features._crop_calendars import _CAL_COLUMNS, CALENDAR_PATH, _event_dates  # noqa: F401
from features.errors import ContractError  # noqa: F401

__all__ = [
    "CALENDAR_EVENTS",
    "Calibration",
    "CalibrationError",
    "CropCalib",
    "MIN_AMPLITUDE",
    "MIN_PEAK",
    "PHENOLOGY_COLUMNS",
    "SOIL_NDVI",
    "calendar_dates",
    "calendar_expectation",
    "calibrate",
    "load_calendars",
    "phenology",
    "stage_from_dates",
]

MIN_AMPLITUDE = 0.15
MIN_PEAK = 0.30
SOIL_NDVI = 0.12
EMERGED_SHARE = 0.25       # "emerged": first quarter of emergence→flowering
REPRODUCTIVE_SHARE = 0.5   # "reproductive": first half of flowering→maturity
PHENOLOGY_COLUMNS = (
    "field_id", "season", "phenology_crop", "emergence_date", "peak_date", "maturity_date", "harvest_date", "sos_date",
    "eos_date", "greenup_rate", "senescence_rate", "days_since_emergence", "growth_stage",
    "expected_harvest_date", "ndvi_max", "ndvi_auc",
)


def _median_day(cds: pd.DataFrame, crops: list[str], event: str, t0: pd.Timestamp) -> float:
    """Median day (from ``t0``) of ``event`` over ``crops`` in :func:`calendar_dates`' table; NaN for no crop."""
    return float(np.median([(cds.loc[r, event] - t0).days for r in crops])) if crops else np.nan


def calendar_expectation(calendars: pd.DataFrame, crops: pd.Series, field_ids: Any, region: str,
                         season: str) -> pd.DataFrame:
    """Phenology rows (:data:`PHENOLOGY_COLUMNS`) of fields the imagery cannot date yet (fewer than two usable
    observations: the smoother gives them no curve): nothing seen — every date and the growth stage empty — but
    ``expected_harvest_date`` the crop calendar's median harvest of the field's crop (``crops``: field_id → crop), or
    the median over the region's crops when it has none there: what :func:`phenology` gives a field seen but not
    green. Without it a line decided on such a field had no harvest date and matured after its requested term — in
    the autumn, months before the crop it is repaid from is harvested."""
    ids = [str(f) for f in field_ids]
    cds = calendar_dates(calendars, region, season)
    crops = crops.copy()
    crops.index = crops.index.astype(str)
    crops = crops[~crops.index.duplicated()]
    t0 = pd.Timestamp(int(season), 1, 1)
    everyone = _median_day(cds, list(cds.index), "harvest", t0)
    crop_of: list[str | None] = []
    harvest = []
    for f in ids:
        c = crops.get(f)
        c = str(c) if c is not None and not pd.isna(c) and str(c) in cds.index else None
        crop_of.append(c)
        harvest.append(_median_day(cds, [c], "harvest", t0) if c else everyone)
    h = np.asarray(harvest, dtype=np.float64)
    out = pd.DataFrame({c: pd.Series([np.nan] * len(ids), dtype="float64") for c in PHENOLOGY_COLUMNS})
    out["field_id"] = ids
    out["season"] = str(season)
    out["phenology_crop"] = pd.Series(crop_of, dtype=object)
    out["expected_harvest_date"] = pd.Series(t0 + pd.to_timedelta(np.round(h), unit="D"))
    return _types(out)  # growth_stage stays missing (unknown: nothing seen)


def stage_from_dates(as_of: Any, emergence: Any, flowering: Any, maturity: Any, harvest: Any) -> np.ndarray:
    """Growth stage on ``as_of`` from (arrays of) event dates; NaT emergence means not_sown.

    Missing flowering is taken halfway emergence→maturity; missing maturity or harvest never arrive, but a
    harvest date without maturity (a failed crop's end) still makes the field harvested from that date.
    """
    def days(x: Any) -> np.ndarray:
        v = pd.to_datetime(pd.Series(np.atleast_1d(np.asarray(x, dtype="datetime64[ns]"))))
        return v.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.float64) \
            + np.where(v.isna().to_numpy(), np.nan, 0.0)

    e, f, m, h = days(emergence), days(flowering), days(maturity), days(harvest)
    t = days(as_of)
    t = np.broadcast_to(t, e.shape) if t.size == 1 else t
    inf = np.inf
    m_ = np.where(np.isnan(m), inf, m)
    f_ = np.where(np.isnan(f), np.where(np.isnan(m), inf, e + 0.5 * (m - e)), f)
    h_ = np.where(np.isnan(h), inf, h)
    with np.errstate(invalid="ignore"):
        em_end = np.where(np.isfinite(f_), e + EMERGED_SHARE * (f_ - e), e + 21.0)
        rep_end = np.where(np.isfinite(m_) & np.isfinite(f_), f_ + REPRODUCTIVE_SHARE * (m_ - f_), inf)
        # harvest (or a failed crop's end) ends the season even when maturity never came
        idx = np.select(
            [np.isnan(e) | (t < e), t >= h_, t < em_end, t < f_, t < rep_end],
            [0, 5, 1, 2, 3], default=4)
    return np.asarray(GROWTH_STAGES, dtype=object)[idx]


def _grid(smoothed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Timestamp, int, np.ndarray]:
    """Pivot one season's smoothed frame: (field ids, values fields × grid, first date, grid step,
    observed fields × grid — all True when the frame has no ``observed`` column)."""
    dates = pd.DatetimeIndex(np.sort(smoothed["date"].unique()))
    t0 = dates[0]
    step = int(np.min(np.diff(dates.asi8)) // 86_400_000_000_000) if len(dates) > 1 else 1
    fids, fi = np.unique(smoothed["field_id"].astype(str).to_numpy(dtype=object), return_inverse=True)
    gi = ((pd.to_datetime(smoothed["date"]) - t0).dt.days.to_numpy() // step).astype(np.int64)
    n = int(gi.max()) + 1
    v = np.full((len(fids), n), np.nan)
    v[fi, gi] = smoothed["value"].to_numpy(dtype=np.float64)
    obs = np.zeros((len(fids), n), dtype=bool)
    obs[fi, gi] = smoothed["observed"].to_numpy(dtype=bool) if "observed" in smoothed.columns else True
    return fids, v, t0, step, obs


def _gap_days(obs: np.ndarray, tdays: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Length (days) of the observation gap around time ``t`` of every row: next observed grid date at or
    after ``t`` minus the last one at or before it (NaN where ``t`` is NaN; open ends count to the grid's end)."""
    n = obs.shape[1]
    cols = np.arange(n)[None, :]
    prev = np.maximum.accumulate(np.where(obs, cols, -1), axis=1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(obs, cols, n), axis=1), axis=1), axis=1)
    step = float(tdays[1] - tdays[0]) if n > 1 else 1.0
    ok = np.isfinite(t)
    j = np.clip(np.where(ok, np.floor(np.nan_to_num(t) / step), 0).astype(np.int64), 0, n - 1)
    rows = np.arange(obs.shape[0])
    a = prev[rows, j]
    jj = np.clip(np.where(ok, np.ceil(np.nan_to_num(t) / step), 0).astype(np.int64), 0, n - 1)
    b = nxt[rows, jj]
    a = np.where(a < 0, 0, a)
    b = np.where(b >= n, n - 1, b)
    return np.where(ok, (b - a) * step, np.nan)


def _crossing(v: np.ndarray, tdays: np.ndarray, start: np.ndarray, stop: np.ndarray, thr: np.ndarray,
              up: bool) -> np.ndarray:
    """Day (since t0, interpolated) of the first crossing of ``thr`` in columns (start, stop]; NaN if none."""
    cols = np.arange(v.shape[1])[None, :]
    with np.errstate(invalid="ignore"):
        hit = (v >= thr[:, None]) if up else (v < thr[:, None])
    hit &= (cols > start[:, None]) & (cols <= stop[:, None])
    anyhit = hit.any(axis=1)
    j = np.where(anyhit, hit.argmax(axis=1), 1)
    j = np.maximum(j, 1)
    rows = np.arange(v.shape[0])
    a, b = v[rows, j - 1], v[rows, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip(np.where(b != a, (thr - a) / (b - a), 1.0), 0.0, 1.0)
    out = tdays[j - 1] + frac * (tdays[j] - tdays[j - 1])
    return np.where(anyhit & np.isfinite(out), out, np.nan)


def _detect_season(smoothed: pd.DataFrame, crops: pd.Series, calendars: pd.DataFrame, region: str, season: str, *,
                   em_thresholds: Any = (0.15,), mat_thresholds: Any = (0.35,),
                   as_of: date | None = None) -> dict[str, Any]:
    """Peak, base, amplitude and threshold crossings of one season's fields (all arrays by field)."""
    fids, v, t0, step, obs = _grid(smoothed)
    tdays = np.arange(v.shape[1], dtype=np.float64) * step
    if as_of is not None:
        v[:, tdays > (pd.Timestamp(as_of) - t0).days] = np.nan
        obs[:, tdays > (pd.Timestamp(as_of) - t0).days] = False
    cds = calendar_dates(calendars, region, season)
    crop_of = crops.copy()
    crop_of.index = crop_of.index.astype(str)
    crop_of = crop_of[~crop_of.index.duplicated()].reindex(fids)
    known = crop_of.isin(cds.index).to_numpy()
    if len(cds):
        gen = {"ws": (cds["emergence"] - pd.to_timedelta(3 * cds["emergence_spread"] + 20, unit="D")).min(),
               "ehi": (cds["emergence"] + pd.to_timedelta(2 * cds["emergence_spread"] + 10, unit="D")).max(),
               "we": (cds["harvest"] + pd.to_timedelta(3 * cds["harvest_spread"] + 30, unit="D")).max()}
    else:
        gen = {"ws": t0, "ehi": t0 + pd.Timedelta(days=float(tdays[-1])), "we": t0 + pd.Timedelta(days=float(tdays[-1]))}
    ws = np.full(len(fids), float((gen["ws"] - t0).days))
    ehi = np.full(len(fids), float((gen["ehi"] - t0).days))
    we = np.full(len(fids), float((gen["we"] - t0).days))
    # earliest day a canopy's fall counts as maturity: an overwintering crop (emerged in the year before the
    # season's) browns down over the winter after its autumn growth — its dormancy, not its maturity (winter wheat
    # was "harvested" in January); from its calendar flowering − 3 spreads on. Other crops: from their peak on.
    mlo = np.full(len(fids), -np.inf)
    for crop in set(crop_of[known].astype(str)):
        m = (crop_of == crop).to_numpy()
        c = cds.loc[crop]
        ws[m] = (c["emergence"] - pd.Timedelta(days=3 * int(c["emergence_spread"]) + 20) - t0).days
        ehi[m] = (c["emergence"] + pd.Timedelta(days=2 * int(c["emergence_spread"]) + 10) - t0).days
        we[m] = (c["harvest"] + pd.Timedelta(days=3 * int(c["harvest_spread"]) + 30) - t0).days
        if c["emergence"].year < int(season):
            mlo[m] = (c["flowering"] - pd.Timedelta(days=3 * int(c["flowering_spread"])) - t0).days
    inwin = (tdays[None, :] >= ws[:, None]) & (tdays[None, :] <= we[:, None])
    vm = np.where(inwin, v, np.nan)
    has = np.isfinite(vm).any(axis=1)
    # an overwintering crop's season peak is its spring one once the curve reaches its earliest maturity window: an
    # autumn peak above it (lush autumn growth) would date the peak in November and never let it be "past"
    late = np.where(tdays[None, :] >= mlo[:, None], vm, np.nan)
    spring = np.isfinite(mlo) & np.isfinite(late).any(axis=1)
    vp = np.where(spring[:, None], late, vm)
    p = np.where(has, np.argmax(np.where(np.isfinite(vp), vp, -np.inf), axis=1), 0)
    rows = np.arange(len(fids))
    vmax = np.where(has, vm[rows, p], np.nan)
    cols = np.arange(v.shape[1])[None, :]
    pre = inwin & (cols <= p[:, None]) & (tdays[None, :] <= ehi[:, None]) & np.isfinite(v)
    pre_any = pre.any(axis=1)
    j0 = np.where(pre_any, np.argmin(np.where(pre, v, np.inf), axis=1), np.argmax(inwin, axis=1))
    base = np.where(has, v[rows, j0], np.nan)
    amp = vmax - base
    green = has & (amp >= MIN_AMPLITUDE) & (vmax >= MIN_PEAK)
    last = np.where(np.isfinite(vm), cols, -1).max(axis=1)
    bdown = np.maximum(base, SOIL_NDVI)
    up = {float(t): np.where(green, _crossing(v, tdays, j0, p, bdown + float(t) * (vmax - bdown), True), np.nan)
          for t in em_thresholds}
    # the maturity search starts at the peak, or (overwintering crops) at the earliest day maturity may come
    dstart = np.maximum(p, np.clip(np.ceil(mlo / step), -1, v.shape[1]).astype(np.int64))
    down = {float(t): np.where(green, _crossing(v, tdays, dstart, last, bdown + float(t) * (vmax - bdown), False),
                               np.nan) for t in mat_thresholds}
    up_gap = {t: _gap_days(obs, tdays, x) for t, x in up.items()}
    dv = np.diff(v, axis=1) / step
    before = (cols[:, 1:] > j0[:, None]) & (cols[:, 1:] <= p[:, None])
    after = (cols[:, 1:] > p[:, None]) & (cols[:, 1:] <= last[:, None])
    with np.errstate(invalid="ignore"):
        gr = np.where(before, dv, -np.inf).max(axis=1)
        sr = -np.where(after, dv, np.inf).min(axis=1)
    current = v[rows, np.maximum(last, 0)]
    auc = np.nansum(np.clip(vm - np.maximum(base, SOIL_NDVI)[:, None], 0.0, None), axis=1) * step
    return {"field_id": fids, "t0": t0, "tdays": tdays, "crop": crop_of.to_numpy(dtype=object), "known": known,
            "green": green, "peak": np.where(green, tdays[p], np.nan), "vmax": vmax, "base": base, "amp": amp,
            "up": up, "up_gap": up_gap, "down": down, "greenup_rate": np.where(green & np.isfinite(gr), gr, np.nan),
            "senescence_rate": np.where(green & np.isfinite(sr), sr, np.nan),
            "auc": np.where(has, auc, np.nan), "cds": cds, "current": np.where(has, current, np.nan), "mlo": mlo}


def phenology(smoothed: pd.DataFrame, calendars: pd.DataFrame, crops: pd.Series, region: str, as_of: date,
              calib: Calibration | None = None, *, weather: pd.DataFrame | None = None) -> pd.DataFrame:
    """Phenology and growth stage of every field of ``smoothed`` as of ``as_of`` (columns
    :data:`PHENOLOGY_COLUMNS`, one row per field and season, sorted by field; see the module docstring).
    ``crops`` maps field_id → crop; ``phenology_crop`` is the calendar crop used (None where the crop is
    missing or has no calendar in ``region``: the region's widest window, its median durations and
    default thresholds are used). Dates are datetime64 (NaT: not seen yet); ``harvest_date`` and
    ``maturity_date`` only when on or before ``as_of``; rates in NDVI per day. ``weather`` (daily, ``region,
    date, tmin_c, tmax_c``): with a calibration holding thermal-time durations, a maturity not yet seen is
    expected after that many growing degree days (observed weather up to ``as_of``, the normal after it)."""
    from features.thermal import ThermalClock

    clock = ThermalClock(weather) if weather is not None and len(weather) else None
    parts = []
    for season, sm in smoothed.groupby(smoothed["season"].astype(str), sort=True):
        if sm.empty:
            continue
        parts.append(_phenology_season(sm, calendars, crops, region, str(season), as_of, calib, clock))
    if not parts:
        return _empty()
    return pd.concat(parts, ignore_index=True)


def _empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in PHENOLOGY_COLUMNS})
    return _types(out)


def _types(out: pd.DataFrame) -> pd.DataFrame:
    for c in ("emergence_date", "peak_date", "maturity_date", "harvest_date", "sos_date", "eos_date",
              "expected_harvest_date"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    for c in ("field_id", "season", "growth_stage"):
        out[c] = out[c].astype("str")
    out["phenology_crop"] = out["phenology_crop"].astype(object)
    return out


def _phenology_season(sm: pd.DataFrame, calendars: pd.DataFrame, crops: pd.Series, region: str, season: str,
                      as_of: date, calib: Calibration | None, clock: Any = None) -> pd.DataFrame:
    crops = crops.copy()
    crops.index = crops.index.astype(str)
    cal_crops = calendar_dates(calendars, region, season)
    keys = [c for c in (set(crops.dropna().astype(str)) & set(cal_crops.index))]
    groups: dict[str, list[str]] = {}
    for fid in sorted(set(sm["field_id"].astype(str))):
        c = crops.get(fid)
        groups.setdefault(str(c) if c is not None and not pd.isna(c) and str(c) in keys else "", []).append(fid)
    parts = []
    for crop, ids in sorted(groups.items()):
        cc = calib.get(crop) if calib is not None and crop else CropCalib()
        part = sm[sm["field_id"].astype(str).isin(ids)]
        det = _detect_season(part, crops.reindex(ids) if crop else pd.Series(dtype=object), calendars, region, season,
                             em_thresholds=(cc.em_threshold, 0.5), mat_thresholds=(cc.mat_threshold, 0.5),
                             as_of=as_of)
        parts.append(_assemble(det, cc, crop, season, as_of, _thermal(clock, region, crop, det, cc, as_of)))
    out = pd.concat(parts, ignore_index=True).sort_values("field_id", kind="stable").reset_index(drop=True)
    return _types(out)


def _thermal(clock: Any, region: str, crop: str, det: dict[str, Any], cc: CropCalib, as_of: date) -> np.ndarray | None:
    """Cumulative GDD from the season grid's first day, a year and a half ahead (observed up to ``as_of``, the
    normal after it), when the calibration has thermal-time durations for ``crop``; else None (durations in days).
    NaN where the weather does not reach: :func:`_after_gdd` then leaves the days-based date."""
    if clock is None or not crop or (cc.em_to_mat_gdd is None and cc.peak_to_mat_gdd is None):
        return None
    return clock.projected(region, crop, det["t0"], int(det["tdays"][-1]) + 540, cutoff=as_of)


def _after_gdd(cum: np.ndarray, start: np.ndarray, gdd: float) -> np.ndarray:
    """The day (since the grid's first day) on which ``gdd`` degree days have accumulated after day ``start``
    (NaN where ``start`` is NaN or the curve ends first)."""
    ok = np.isfinite(start) & (start >= 0) & (start < len(cum) - 1)
    i = np.clip(np.floor(np.nan_to_num(start)).astype(np.int64), 0, len(cum) - 2)
    frac = np.nan_to_num(start) - i
    c0 = cum[i] + frac * (cum[i + 1] - cum[i])
    fin = np.isfinite(cum)
    n = int(fin.argmin()) if not fin.all() else len(cum)
    j = np.searchsorted(cum[:n], c0 + gdd, side="left").astype(np.float64)
    return np.where(ok & np.isfinite(c0) & (j < n), j, np.nan)


def _assemble(det: dict[str, Any], cc: CropCalib, crop: str, season: str, as_of: date,
              cum: np.ndarray | None = None) -> pd.DataFrame:
    t0: pd.Timestamp = det["t0"]
    now = float((pd.Timestamp(as_of) - t0).days)
    cds = det["cds"]
    n = len(det["field_id"])
    spans = {"em_flow": ("emergence", "flowering"), "em_mat": ("emergence", "maturity"),
             "mat_harv": ("maturity", "harvest"), "em_harv": ("emergence", "harvest")}
    rows = [crop] if crop else list(cds.index)
    dur = {k: float(np.median([(cds.loc[r, b] - cds.loc[r, a]).days for r in rows])) if rows else np.nan
           for k, (a, b) in spans.items()}
    cal_harvest = _median_day(cds, rows, "harvest", t0)
    cross = det["up"][float(cc.em_threshold)]
    em = cross + cc.em_offset_days
    if crop and cc.em_prior_sd_days is not None and cc.em_mad_days is not None and cc.em_prior_shift_days is not None:
        # a crossing inside a long cloud gap is uncertain: fuse it with the past seasons' declared timing
        var_d = (1.4826 * cc.em_mad_days) ** 2 + det["up_gap"][float(cc.em_threshold)] ** 2 / 12.0 + 1.0
        var_p = cc.em_prior_sd_days ** 2
        prior = float((cds.loc[crop, "emergence"] - t0).days) + cc.em_prior_shift_days
        fused = (em / var_d + prior / var_p) / (1.0 / var_d + 1.0 / var_p)
        em = np.where(np.isfinite(em), np.minimum(fused, cross), np.nan)
    em = np.where(em <= now, em, np.nan)
    mat = det["down"][float(cc.mat_threshold)] + cc.mat_offset_days
    mat = np.where(np.isfinite(em) & (mat > em), mat, np.nan)
    harv_est = mat + dur["mat_harv"]
    em_mat = cc.em_to_mat_days if cc.em_to_mat_days is not None else dur["em_mat"]
    exp_mat = em + em_mat
    if cum is not None and cc.em_to_mat_gdd is not None:
        # a warm season matures early: the past seasons' thermal duration, weather to date and the normal after
        t = _after_gdd(cum, em, cc.em_to_mat_gdd)
        exp_mat = np.where(np.isfinite(t), t, exp_mat)
    # the peak is behind us once the curve has fallen a tenth of its amplitude since
    # (an overwintering crop's autumn peak, before its earliest maturity day, is not the season's: the winter fall
    # after it is dormancy)
    with np.errstate(invalid="ignore"):
        past_peak = np.isfinite(det["peak"]) & (det["current"] < det["vmax"] - 0.1 * det["amp"]) \
            & (det["peak"] >= det["mlo"])
    if cum is not None and cc.peak_to_mat_gdd is not None:
        t = _after_gdd(cum, det["peak"], cc.peak_to_mat_gdd)
        exp_mat = np.where(past_peak & np.isfinite(t), t, exp_mat)
    elif cc.peak_to_mat_days is not None:
        exp_mat = np.where(past_peak, det["peak"] + cc.peak_to_mat_days, exp_mat)
    exp_mat = np.where(np.isfinite(mat), mat, exp_mat)
    flow_share = dur["em_flow"] / dur["em_mat"] if dur["em_mat"] else 0.5
    if cc.em_to_mat_days is not None:
        dur["em_harv"] = cc.em_to_mat_days + dur["mat_harv"]
    flow = em + flow_share * (exp_mat - em)
    # maturity not seen yet: the expected maturity (thermal time, or from the peak once past it) + the calendar lag
    exp_h = np.where(np.isfinite(harv_est), harv_est, np.where(np.isfinite(exp_mat), exp_mat + dur["mat_harv"],
                                                               np.where(np.isfinite(em), em + dur["em_harv"],
                                                                        cal_harvest)))

    def ts(x: np.ndarray) -> pd.Series:
        return pd.Series(t0 + pd.to_timedelta(np.round(x), unit="D"))

    def upto(x: np.ndarray) -> np.ndarray:
        return np.where(x <= now, x, np.nan)

    # "harvested" only once the harvest is seen (the canopy fell: maturity observed + the calendar lag); a projected
    # harvest on or before the date with the canopy still standing is "maturing" — the same rounded day as
    # harvest_date
    seen_h = upto(np.round(harv_est))
    stage = stage_from_dates(np.datetime64(pd.Timestamp(as_of), "ns"), ts(em), ts(flow), ts(exp_mat),
                             ts(np.where(np.isfinite(seen_h), seen_h, np.maximum(exp_h, np.floor(now) + 1))))
    return pd.DataFrame({
        "field_id": det["field_id"].astype(str),
        "season": season,
        "phenology_crop": crop or None,
        "emergence_date": ts(em),
        "peak_date": ts(det["peak"]),
        "maturity_date": ts(upto(mat)),
        "harvest_date": ts(upto(np.round(harv_est))),
        "sos_date": ts(det["up"][0.5]),
        "eos_date": ts(det["down"][0.5]),
        "greenup_rate": det["greenup_rate"],
        "senescence_rate": det["senescence_rate"],
        "days_since_emergence": now - em,
        "growth_stage": stage,
        "expected_harvest_date": ts(exp_h),
        "ndvi_max": det["vmax"],
        "ndvi_auc": det["auc"],
    }, index=pd.RangeIndex(n))
