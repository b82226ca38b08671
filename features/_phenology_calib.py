"""Calibration of phenology thresholds and offsets per crop and region on PAST seasons' declared dates.

What is fitted (per crop): the share of the seasonal NDVI amplitude whose upward crossing marks
emergence, and the days between that crossing and emergence; the share whose downward crossing
after the peak marks maturity, and the days between that crossing and maturity.

Also from the same records: the median emergence→maturity duration (declared harvest − declared
sowing − the two calendar lags), which dates maturity before it is seen (the calendar's durations otherwise) —
with the region's daily weather (``weather=``) also in growing degree days (:class:`features.thermal.ThermalClock`),
so a warm season's maturity is expected earlier; and the emergence prior:
the median and robust spread (1.4826 MAD, across fields and seasons) of declared sowing + the calendar
lag relative to the calendar's emergence date, which :func:`features.growth_stage.phenology` fuses with
the detected emergence when the crossing falls in a long observation gap.

What it is fitted on: the farmers' DECLARED sowing and harvest dates of past seasons (farm records,
``records/history.csv``), never truth. Declared sowing becomes a target emergence date by adding the
crop calendar's typical sowing→emergence lag; declared harvest becomes a target maturity date by
subtracting the calendar's typical maturity→harvest lag. For every candidate threshold the crossing
is found on each field's smoothed curve; the threshold with the smallest median absolute deviation
of (target - crossing) wins, and the median of (target - crossing) is the offset. For emergence the
candidates are the thresholds whose crossing comes at or after the target in median (offset ≤ 0,
:data:`EMERGENCE_MAX_OFFSET`; all of them when none does): a crop's canopy is seen once it has emerged,
so a rise that comes before declared sowing + the lag is another signal (a paddy's water or weeds drying
off), and :func:`features.growth_stage.phenology` never puts emergence after the crossing — a positive
offset would be thrown away there. A crop with fewer than :data:`MIN_FIELDS` usable fields keeps the defaults.

No longer fitted (``peak_to_mat_days``, ``peak_to_mat_gdd`` stay None; calibrations saved with them, in the model
versions of earlier releases, still use them, so those versions score as they did): the median days (and degree
days) from the NDVI peak to the target maturity, by which a maturity not yet seen was dated once the curve had
fallen past its peak. A maize canopy's peak is the argmax of a broad plateau, and where it falls moved with the
season: on the us-nebraska demo county the past seasons' complete curves gave 64 days, the 2018 curve's peak sat
42-49 days before maturity, and at the pre-harvest checkpoint (2018-09-10) the expected harvest of maize came out a
median 29 days late (up to 79; the terms and price horizons of re-underwriting follow it). Dropped under a rule
fixed before its runs (/work/data/L34/RULE7q.md; design counties, summer crops): the pre-harvest expected-harvest
MAE 20.8 -> 12.1 d on ne-demo, 5.69 -> 5.62 on sh-demo, 5.74 -> 5.80 on sh-dev; the mid-season one and stage no
worse (sh-demo stage 73.5 -> 74.4%).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["Calibration", "CalibrationError", "CropCalib", "DEFAULT_CALIB", "MIN_FIELDS", "calibrate"]

MIN_FIELDS = 8
EMERGENCE_THRESHOLDS = tuple(np.round(np.arange(0.20, 0.55, 0.05), 2))
MATURITY_THRESHOLDS = tuple(np.round(np.arange(0.10, 0.95, 0.05), 2))
#: an emergence threshold is a candidate only when its crossing comes, in median, no earlier than the target
#: (offset = target - crossing <= 0 days); all thresholds when none does
EMERGENCE_MAX_OFFSET = 0.0


@dataclass(frozen=True)
class CropCalib:
    """Thresholds (shares of the seasonal amplitude) and offsets (days) of one crop."""

    em_threshold: float = 0.15
    em_offset_days: float = -10.0
    mat_threshold: float = 0.35
    mat_offset_days: float = 5.0
    n_emergence: int = 0      # fields the emergence pair was fitted on (0: defaults)
    n_maturity: int = 0
    em_mad_days: float | None = None    # median absolute deviation of the fit on the past seasons
    mat_mad_days: float | None = None
    em_to_mat_days: float | None = None     # declared harvest - sowing - calendar lags (median); None: calendar
    peak_to_mat_days: float | None = None   # target maturity - NDVI peak (median); None: not used (no longer fitted)
    em_prior_shift_days: float | None = None  # declared sowing + calendar lag - calendar emergence (median)
    em_prior_sd_days: float | None = None     # robust spread (1.4826 MAD) of that, across fields and seasons
    em_to_mat_gdd: float | None = None   # the emergence->maturity duration in growing degree days (median); None: days
    peak_to_mat_gdd: float | None = None  # the same in growing degree days (median); no longer fitted


DEFAULT_CALIB = CropCalib()


class CalibrationError(UserInputError):
    """A calibration file cannot be used."""

    def __init__(self, *, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True)
class Calibration:
    """Per-crop phenology calibration of one region (JSON round-trip with :meth:`save`/:meth:`load`)."""

    region: str
    crops: dict[str, CropCalib] = field(default_factory=dict)
    seasons: tuple[str, ...] = ()

    @property
    def thermal(self) -> bool:
        """Whether some crop has thermal-time durations (fitted with weather)."""
        return any(c.em_to_mat_gdd is not None for c in self.crops.values())

    def get(self, crop: str | None) -> CropCalib:
        return self.crops.get(str(crop), DEFAULT_CALIB) if crop is not None else DEFAULT_CALIB

    def to_json(self) -> str:
        body = {"region": self.region, "seasons": list(self.seasons),
                "crops": {k: asdict(v) for k, v in sorted(self.crops.items())}}
        return json.dumps(body, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str = "calibration") -> Calibration:
        try:
            d = json.loads(text)
            crops = {str(k): CropCalib(**v) for k, v in d["crops"].items()}
            return cls(region=str(d["region"]), crops=crops, seasons=tuple(str(s) for s in d.get("seasons", ())))
        except (ValueError, KeyError, TypeError) as e:
            raise CalibrationError(source=source, problem=f"not a phenology calibration ({str(e)[:100]})") from None

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        p = Path(path)
        if not p.is_file():
            raise CalibrationError(source=str(p), problem="file not found")
        return cls.from_json(p.read_text(), source=str(p))


def _fit(target: np.ndarray, crossings: dict[float, np.ndarray], max_offset: float | None = None
         ) -> tuple[float, float, float, int] | None:
    """Best (threshold, offset, mad, n) of target - crossing over candidate thresholds; with ``max_offset``
    only over the thresholds whose offset (median of target - crossing) is at most that (all of them when
    none is)."""
    resid = {float(t): (target - c)[np.isfinite(target - c)] for t, c in crossings.items()}
    resid = {t: r for t, r in resid.items() if len(r) >= MIN_FIELDS}
    if max_offset is not None:
        resid = {t: r for t, r in resid.items() if float(np.median(r)) <= max_offset} or resid
    best: tuple[float, float, float, int] | None = None
    for thr, r in resid.items():
        off = float(np.median(r))
        mad = float(np.median(np.abs(r - off)))
        # prefer thresholds that see most fields: penalise missing crossings
        score = mad + 30.0 * (1.0 - len(r) / max(np.isfinite(target).sum(), 1))
        if best is None or score < best[2] - 1e-9:
            best = (thr, off, score, len(r))
    if best is None:
        return None
    thr, off, _, n = best
    return thr, round(off, 1), round(float(np.median(np.abs(resid[thr] - off))), 2), n


def _gdd_between(cum: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """GDD of ``cum`` (cumulative from the season grid's first day) between days ``a`` and ``b`` (NaN where either is
    missing, outside the curve, or ``b`` is before ``a``)."""
    ra, rb = np.round(np.nan_to_num(a)), np.round(np.nan_to_num(b))
    ok = np.isfinite(a) & np.isfinite(b) & (b >= a) & (ra >= 0) & (rb < len(cum))
    ia = np.clip(ra.astype(np.int64), 0, len(cum) - 1)
    ib = np.clip(rb.astype(np.int64), 0, len(cum) - 1)
    return np.where(ok, cum[ib] - cum[ia], np.nan)


def calibrate(smoothed_past: pd.DataFrame, declared_dates_past: pd.DataFrame, crops_past: pd.Series | pd.DataFrame,
              region: str, *, calendars: pd.DataFrame | None = None,
              weather: pd.DataFrame | None = None) -> Calibration:
    """Fit :class:`CropCalib` per crop on past seasons.

    ``smoothed_past``: :func:`features.timeseries.smooth_series` output of past seasons (whole seasons);
    ``declared_dates_past``: field_id, season, sowing_date, harvest_date (farm records; NaT where not
    declared); ``crops_past``: the declared crop per field-season — a DataFrame (field_id, season,
    declared_crop) or a Series indexed by field_id (one season); ``weather``: the region's daily weather
    (``region, date, tmin_c, tmax_c``) for the thermal-time durations (none without it).
    """
    from features.growth_stage import _detect_season, calendar_dates, load_calendars
    from features.thermal import ThermalClock

    clock = ThermalClock(weather) if weather is not None and len(weather) else None

    cal = load_calendars() if calendars is None else calendars
    dd = declared_dates_past.assign(field_id=declared_dates_past["field_id"].astype(str),
                                    season=declared_dates_past["season"].astype(str))
    if isinstance(crops_past, pd.Series):
        seasons_all = sorted(smoothed_past["season"].astype(str).unique())
        cp = pd.DataFrame([(f, s, c) for s in seasons_all for f, c in crops_past.items()],
                          columns=["field_id", "season", "declared_crop"])
    else:
        cp = crops_past[["field_id", "season", "declared_crop"]]
    cp = cp.astype({"field_id": str, "season": str})
    durations: dict[str, list[np.ndarray]] = {}
    gdd_durations: dict[str, list[np.ndarray]] = {}
    prior_shifts: dict[str, list[np.ndarray]] = {}
    em_rows: dict[str, list[tuple[np.ndarray, dict[float, np.ndarray]]]] = {}
    mat_rows: dict[str, list[tuple[np.ndarray, dict[float, np.ndarray]]]] = {}
    seasons = sorted(smoothed_past["season"].astype(str).unique())
    for season in seasons:
        sm = smoothed_past[smoothed_past["season"].astype(str) == season]
        cds = calendar_dates(cal, region, season)
        crops = cp[cp["season"] == season].drop_duplicates("field_id").set_index("field_id")["declared_crop"]
        for crop in sorted(set(crops.dropna().astype(str)) & set(cds.index)):
            ids = crops.index[crops.astype(str) == crop]
            part = sm[sm["field_id"].astype(str).isin(ids)]
            if part.empty:
                continue
            det = _detect_season(part, pd.Series(crop, index=ids), cal, region, season,
                                 em_thresholds=EMERGENCE_THRESHOLDS, mat_thresholds=MATURITY_THRESHOLDS)
            fids = det["field_id"]
            d = dd[dd["season"] == season].drop_duplicates("field_id").set_index("field_id").reindex(fids)
            lag_em = (cds.loc[crop, "emergence"] - cds.loc[crop, "sowing"]).days
            lag_h = (cds.loc[crop, "harvest"] - cds.loc[crop, "maturity"]).days
            t0 = det["t0"]
            sow = (pd.to_datetime(d["sowing_date"]) - t0).dt.days.to_numpy(dtype=np.float64) + lag_em
            harv = (pd.to_datetime(d["harvest_date"]) - t0).dt.days.to_numpy(dtype=np.float64) - lag_h
            em_rows.setdefault(crop, []).append((sow, det["up"]))
            prior_shifts.setdefault(crop, []).append(sow - (cds.loc[crop, "emergence"] - t0).days)
            durations.setdefault(crop, []).append(harv - sow)
            mat_rows.setdefault(crop, []).append((harv, det["down"]))
            if clock is not None:
                cum = clock.projected(region, crop, t0, int(det["tdays"][-1]) + 2)
                gdd_durations.setdefault(crop, []).append(_gdd_between(cum, sow, harv))
    out: dict[str, CropCalib] = {}
    for crop in sorted(set(em_rows) | set(mat_rows)):
        kw: dict[str, float | int | None] = {}
        for rows, names, thrs in ((em_rows.get(crop, []), ("em_threshold", "em_offset_days", "em_mad_days",
                                                           "n_emergence"), EMERGENCE_THRESHOLDS),
                                  (mat_rows.get(crop, []), ("mat_threshold", "mat_offset_days", "mat_mad_days",
                                                            "n_maturity"), MATURITY_THRESHOLDS)):
            if not rows:
                continue
            target = np.concatenate([r[0] for r in rows])
            cross = {t: np.concatenate([r[1][t] for r in rows]) for t in thrs}
            # emergence: the crop's canopy is seen at or after it emerges, so a crossing that comes before the
            # target (declared sowing + the lag) is something else: a paddy's water or weeds drying off
            fit = _fit(target, cross, EMERGENCE_MAX_OFFSET if names[0] == "em_threshold" else None)
            if fit is not None:
                kw.update(dict(zip(names, fit, strict=True)))
        for key, rows_ in (("em_to_mat_days", durations.get(crop, [])), ("em_to_mat_gdd", gdd_durations.get(crop, []))):
            v = np.concatenate(rows_) if rows_ else np.array([])
            v = v[np.isfinite(v)]
            if len(v) >= MIN_FIELDS:
                kw[key] = round(float(np.median(v)), 1)
        v = np.concatenate(prior_shifts.get(crop, [np.array([])]))
        v = v[np.isfinite(v)]
        if len(v) >= MIN_FIELDS:
            med = float(np.median(v))
            kw["em_prior_shift_days"] = round(med, 1)
            kw["em_prior_sd_days"] = round(max(1.4826 * float(np.median(np.abs(v - med))), 1.0), 2)
        out[crop] = CropCalib(**kw)  # type: ignore[arg-type]
    return Calibration(region=region, crops=out, seasons=tuple(seasons))
