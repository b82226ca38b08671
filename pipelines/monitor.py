"""Early warning during the season: per-field alerts as of each new observation.

Expected bands: for each region, crop and day of season, the P10/P50/P90 of NDVI of
past seasons' fields of that crop (declared crops, clear observations only), pooled
over a ±``half_window``-day window. A field is compared with the band of *its* crop
(the declared crop, or the crop-type model's answer where none was declared).

Alerts (each with severity, evidence and the dates it rests on):

* ``WATCH`` (medium) — NDVI below the expected P10 on two clear observations in a row;
* ``CROP_FAILURE`` (high) — after the field was green (NDVI ≥ ``green``), NDVI falls
  below ``bare`` on two clear observations in a row while the expected band's median
  is still above ``green`` (the crop should still be standing);
* ``EARLY_HARVEST`` (medium) — the same fall, but after the band's median has begun
  to decline (the crop was maturing) and before its expected harvest;
* ``NOT_PLANTED`` (high) — by the expected emergence date plus a grace period, no
  clear observation has reached ``emerged`` NDVI;
* ``CROP_MISMATCH`` (high) — the crop-type model gives the declared crop a probability
  below the policy's 0.20.

Nothing observed after the as-of date is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

__all__ = ["AlertParams", "ALERT_TYPES", "expected_bands", "detect_alerts", "clear_ndvi"]

ALERT_TYPES = {"WATCH": "medium", "CROP_FAILURE": "high", "EARLY_HARVEST": "medium", "NOT_PLANTED": "high",
               "CROP_MISMATCH": "high"}


@dataclass(frozen=True)
class AlertParams:
    """Thresholds of the alert rules (see the module docstring)."""

    min_clear_share: float = 0.8
    half_window: int = 8
    green: float = 0.55
    bare: float = 0.30
    emerged: float = 0.35
    grace_days: int = 25
    mismatch_prob: float = 0.20
    min_band_fields: int = 5


def clear_ndvi(series: pd.DataFrame, *, as_of: date | None = None, min_clear_share: float = 0.8) -> pd.DataFrame:
    """Clear NDVI observations: field_id, season, date, ndvi (mean over clear pixels), up to ``as_of``."""
    s = series[series["variable"] == "NDVI"]
    if as_of is not None:
        s = s[s["date"] <= pd.Timestamp(as_of)]
    ok = (s["n_pixels"] > 0) & (s["n_clear"] >= min_clear_share * s["n_pixels"]) & s["mean"].notna()
    out = s.loc[ok, ["field_id", "season", "date", "mean"]].rename(columns={"mean": "ndvi"})
    return out.sort_values(["field_id", "season", "date"]).reset_index(drop=True)


def _day_of_season(dates: pd.Series, season_start: pd.Series) -> np.ndarray:
    return (pd.to_datetime(dates) - pd.to_datetime(season_start)).dt.days.to_numpy()


def expected_bands(past_obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date],
                   params: AlertParams | None = None) -> pd.DataFrame:
    """Per region, crop and day of season: n fields, p10, p50, p90 of clear NDVI in past seasons.

    ``past_obs``: clear_ndvi() of past seasons; ``crops``: field_id, season, crop, region.
    ``season_starts``: season → first day of its imagery window.
    """
    p = params or AlertParams()
    obs = past_obs.merge(crops[["field_id", "season", "crop", "region"]], on=["field_id", "season"], how="inner")
    obs = obs[obs["crop"].notna()]
    obs = obs.assign(day=_day_of_season(obs["date"], obs["season"].map(lambda s: pd.Timestamp(season_starts[s]))))
    rows = []
    for (region, crop), g in obs.groupby(["region", "crop"], sort=True):
        days = g["day"].to_numpy()
        vals = g["ndvi"].to_numpy()
        for d in range(int(days.min()), int(days.max()) + 1):
            sel = np.abs(days - d) <= p.half_window
            n_fields = g.loc[sel, ["field_id", "season"]].drop_duplicates().shape[0]
            if n_fields < p.min_band_fields:
                continue
            q = np.percentile(vals[sel], [10, 50, 90])
            rows.append((region, crop, d, n_fields, q[0], q[1], q[2]))
    return pd.DataFrame(rows, columns=["region", "crop", "day", "n_fields", "p10", "p50", "p90"])


def _two_in_a_row(flags: np.ndarray) -> int | None:
    """Index of the second of the first two consecutive True values, or None."""
    both = flags[1:] & flags[:-1]
    idx = np.flatnonzero(both)
    return int(idx[0] + 1) if len(idx) else None


def detect_alerts(obs: pd.DataFrame, fields: pd.DataFrame, bands: pd.DataFrame, as_of: date,
                  season_start: date, expected_emergence_day: dict[tuple[str, str], int],
                  params: AlertParams | None = None) -> pd.DataFrame:
    """Alerts as of ``as_of`` for the current season.

    ``obs``: clear_ndvi() of the current season; ``fields``: field_id, season, crop (declared or
    predicted), region, and optionally declared_crop_prob; ``bands``: expected_bands();
    ``expected_emergence_day``: (region, crop) → day of season by which the crop has emerged.
    Returns field_id, season, alert, severity, date (when it was raised), evidence (JSON text).
    """
    p = params or AlertParams()
    cutoff = pd.Timestamp(as_of)
    obs = obs[obs["date"] <= cutoff]
    start = pd.Timestamp(season_start)
    today_day = int((cutoff - start).days)
    band_idx = {(r, c): g.set_index("day") for (r, c), g in bands.groupby(["region", "crop"])}
    alerts: list[dict[str, object]] = []

    def add(fid: str, season: str, kind: str, when: pd.Timestamp, evidence: dict[str, object]) -> None:
        alerts.append({"field_id": fid, "season": season, "alert": kind, "severity": ALERT_TYPES[kind],
                       "date": when.normalize(), "evidence": json.dumps(evidence, sort_keys=True)})

    by_field = {k: g for k, g in obs.groupby(["field_id", "season"], sort=False)}
    for row in fields.itertuples(index=False):
        fid, season, crop, region = str(row.field_id), str(row.season), row.crop, row.region
        g = by_field.get((fid, season))
        dates = g["date"].to_numpy() if g is not None else np.array([], dtype="datetime64[ns]")
        vals = g["ndvi"].to_numpy(dtype=float) if g is not None else np.array([])
        prob = getattr(row, "declared_crop_prob", np.nan)
        if prob is not None and np.isfinite(prob) and prob < p.mismatch_prob:
            add(fid, season, "CROP_MISMATCH", cutoff, {"declared_crop_prob": round(float(prob), 4)})
        if not isinstance(crop, str) or (region, crop) not in band_idx:
            continue
        band = band_idx[(region, crop)]
        days = ((pd.to_datetime(dates) - start).days.to_numpy()) if len(dates) else np.array([], dtype=int)
        emerge_by = expected_emergence_day.get((region, crop))
        if emerge_by is not None and today_day >= emerge_by + p.grace_days and not (vals >= p.emerged).any():
            add(fid, season, "NOT_PLANTED", cutoff, {"expected_emergence_day": emerge_by, "grace_days": p.grace_days,
                                                      "max_ndvi": round(float(vals.max()), 4) if len(vals) else None,
                                                      "clear_obs": len(vals)})
            continue
        if len(vals) < 2:
            continue
        b = band.reindex(days)
        lo, med = b["p10"].to_numpy(), b["p50"].to_numpy()
        below = np.isfinite(lo) & (vals < lo)
        i = _two_in_a_row(below)
        if i is not None:
            add(fid, season, "WATCH", pd.Timestamp(dates[i]),
                {"dates": [str(pd.Timestamp(d).date()) for d in dates[i - 1:i + 1]],
                 "ndvi": [round(float(v), 4) for v in vals[i - 1:i + 1]],
                 "expected_p10": [round(float(v), 4) for v in lo[i - 1:i + 1]]})
        was_green = np.maximum.accumulate(vals) >= p.green
        fallen = was_green & (vals < p.bare)
        j = _two_in_a_row(fallen)
        if j is not None:
            peak_day = int(band["p50"].idxmax())
            standing = np.isfinite(med[j]) and med[j] >= p.green and days[j] <= peak_day + 20
            kind = "CROP_FAILURE" if standing else "EARLY_HARVEST"
            late = np.isfinite(med[j]) and med[j] < p.bare
            if not late:
                add(fid, season, kind, pd.Timestamp(dates[j]),
                    {"dates": [str(pd.Timestamp(d).date()) for d in dates[j - 1:j + 1]],
                     "ndvi": [round(float(v), 4) for v in vals[j - 1:j + 1]],
                     "expected_p50": round(float(med[j]), 4) if np.isfinite(med[j]) else None,
                     "peak_ndvi": round(float(vals[: j + 1].max()), 4)})
    cols = ["field_id", "season", "alert", "severity", "date", "evidence"]
    return pd.DataFrame(alerts, columns=cols).sort_values(["date", "field_id", "alert"]).reset_index(drop=True)
