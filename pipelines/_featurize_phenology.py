"""Phenology of a featurize run (pipelines/featurize.py): the crop each field's phenology is read for, and its rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines._smooth import (
    smooth_ndvi,
)

if TYPE_CHECKING:

    pass


#: a predicted crop at least this probable replaces the declared crop for phenology (the policy's
#: CROP_TYPE_UNCERTAIN threshold)
CONFIDENT_CROP_PROB = 0.8


def _none_for_missing(s: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(v) else str(v) for v in s], index=s.index, dtype=object)


def phenology_crops(fields: pd.DataFrame, crop: pd.DataFrame | None,
                    min_prob: float = CONFIDENT_CROP_PROB) -> pd.Series:
    """Crop of each field for phenology: the predicted crop where confident, else the declared one."""
    declared = pd.Series(fields["declared_crop"].astype(object).to_numpy(), index=fields["field_id"].astype(str))
    declared = _none_for_missing(declared)
    if crop is None or crop.empty:
        return declared
    c = crop.set_index(crop["field_id"].astype(str))
    pred = c["crop_type"].astype(object).reindex(declared.index)
    prob = c["crop_type_prob"].astype("float64").reindex(declared.index)
    use = pred.notna() & (prob >= min_prob)
    return _none_for_missing(declared.where(~use, pred))


def _phenology(series: pd.DataFrame, fields: pd.DataFrame, crops: pd.Series, as_of: dt.date, calib: Any,
               families: dict[str, str], warnings: list[str],
               reference: pd.DataFrame | None = None,
               hazy: dict[str, list[str]] | None = None,
               weather: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """Phenology of ``fields`` and the smoother's scene haze dates; ``calib``: a calibration or region →
    calibration (see :func:`featurize`)."""
    try:
        from features.growth_stage import load_calendars, phenology
    except ImportError as e:
        families["phenology"] = f"missing: {e}"
        warnings.append(f"phenology left empty: {e}")
        return None, []
    calendars = load_calendars()
    regions = fields["region"].astype(object) if "region" in fields.columns else pd.Series([None] * len(fields))
    in_regions = sorted({str(r) for r in regions if r is not None and not pd.isna(r)})

    def not_dated(region: str, have: set[str]) -> list[pd.DataFrame]:
        """Fields of ``region`` without two usable observations: no curve, but their crop calendar's harvest (a
        line decided on them matured after its requested term, months before an autumn-decided crop's harvest)."""
        rows = fields.loc[(regions == region).to_numpy()]
        missing = sorted({str(f) for f in rows["field_id"]} - have)
        if not missing or "season" not in rows.columns:
            return []
        season = str(rows["season"].iloc[0])
        if "region" not in calendars.columns or not (calendars["region"] == region).any():  # no calendar: nothing
            return []
        from features.growth_stage import calendar_expectation

        return [calendar_expectation(calendars, crops, missing, region, season)]

    if series.empty or not (series["variable"] == "NDVI").any():
        parts = [p for region in in_regions for p in not_dated(region, set())]
        if not parts:
            families["phenology"] = "skipped: no NDVI observation"
            warnings.append("phenology left empty: no NDVI observation up to the as-of date")
            return None, []
        # before the season's first acquisition: the crop calendar's harvest is still the expected one (it sets the
        # term; without it every line took its requested term, a cotton farm's maturing before the pickings)
        families["phenology"] = "calendar only: no NDVI observation"
        warnings.append("phenology left empty: no NDVI observation up to the as-of date (expected harvest from the "
                        "crop calendar)")
        return _phenology_rows(parts), []
    smoothed = smooth_ndvi(series, fields, as_of, reference=reference, hazy=hazy)
    parts = []
    used: list[str] = []
    for region in in_regions:
        ids = set(fields.loc[(regions == region).to_numpy(), "field_id"].astype(str))
        sm = smoothed[smoothed["field_id"].astype(str).isin(ids)]
        if sm.empty:
            parts += not_dated(region, set())
            continue
        rc = calib.get(region) if isinstance(calib, dict) else (calib if getattr(calib, "region", None) == region
                                                                else None)
        if rc is not None:
            thermal = weather is not None and rc.thermal
            used.append(f"{region} calibrated on seasons {', '.join(rc.seasons)}" + (", thermal time" if thermal else ""))
        parts.append(phenology(sm, calendars, crops[crops.index.isin(ids)], region, as_of, rc, weather=weather))
        parts += not_dated(region, set(parts[-1]["field_id"].astype(str)))
    families["phenology"] = "ok" + (f" ({'; '.join(used)})" if used else " (uncalibrated)")
    hazy_dates = list(smoothed.attrs.get("hazy_dates", []))
    return (_phenology_rows(parts) if parts else None), hazy_dates


def _phenology_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(parts, ignore_index=True)
    return out.drop(columns=[c for c in ("season", "crop") if c in out.columns])
