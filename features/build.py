"""Assemble the FieldFeatures table: one row per field-season as of a date.

The indicator families are computed elsewhere, one module each (planted area in
:mod:`features.area`, phenology in :mod:`features.growth_stage`, crop type in
:mod:`features.crop_type`, seasonal summaries in :mod:`features._seasonal`); this
module joins them with the field's own evidence (equal-area hectares, geometry hash,
overlap with other farmers' fields, clear observations) into the contract of
:data:`features.contracts.FIELD_FEATURES`. Missing families leave their columns
empty (NaN), never invented.
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd

from features.contracts import FIELD_FEATURES, check_field_features
from features.fields import area_ha, geometry_hashes, overlap_fractions

__all__ = ["build_features", "evidence_counts"]


def evidence_counts(series: pd.DataFrame, emergence: pd.Series | None, as_of: date,
                    min_clear_share: float = 0.8) -> pd.DataFrame:
    """Per field: clear observations (NDVI rows with ≥ ``min_clear_share`` of pixels clear) since emergence
    (or over the whole season where emergence is unknown), and the median clear pixels per clear observation."""
    s = series[(series["variable"] == "NDVI") & (series["date"] <= pd.Timestamp(as_of))]
    clear = s[(s["n_pixels"] > 0) & (s["n_clear"] >= min_clear_share * s["n_pixels"])]
    if emergence is not None and len(emergence):
        em = clear["field_id"].map(emergence)
        clear = clear[em.isna() | (clear["date"] >= em)]
    g = clear.groupby("field_id")
    out = pd.DataFrame({"n_clear_obs": g.size(), "n_clear_pixels": g["n_clear"].median()})
    return out


def build_features(
    fields: gpd.GeoDataFrame,
    series: pd.DataFrame,
    season: str,
    as_of: date,
    *,
    area: pd.DataFrame | None = None,
    phenology: pd.DataFrame | None = None,
    crop: pd.DataFrame | None = None,
    seasonal: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join the indicator families into FieldFeatures for ``season`` as of ``as_of``.

    ``fields``: Fields contract (the season's rows); ``series``: FieldTimeSeries;
    ``area``: field_id, planted_area_ha, planted_area_sd_ha, planted_fraction, noncrop_fraction;
    ``phenology``: field_id, growth_stage, emergence_date, days_since_emergence, peak_date,
    expected_harvest_date, ndvi_max, ndvi_auc (+ any ``feat_*``);
    ``crop``: field_id, crop_type, crop_type_prob, declared_crop_prob, ``prob_*``;
    ``seasonal``: field_id and ``feat_*`` columns.
    """
    f = fields[fields["season"] == str(season)].reset_index(drop=True)
    out = pd.DataFrame({
        "field_id": f["field_id"].astype("str"),
        "season": str(season),
        "as_of": pd.Timestamp(as_of),
        "farmer_token": f["farmer_token"].astype("str"),
        "region": (f["region"] if "region" in f.columns else pd.Series([None] * len(f))).astype("str"),
        "declared_crop": f["declared_crop"].astype("str"),
        "declared_area_ha": f["declared_area_ha"].astype("float64"),
        "field_area_ha": area_ha(f).to_numpy(),
        "overlap_fraction": overlap_fractions(f).to_numpy(),
        "geometry_valid": f.geometry.is_valid.to_numpy(),
        "geometry_hash": geometry_hashes(f).to_numpy(),
    })
    out["as_of"] = out["as_of"].astype("datetime64[ns]")

    def join(df: pd.DataFrame | None, cols: list[str] | None = None) -> None:
        nonlocal out
        if df is None or df.empty:
            return
        keep = ["field_id"] + [c for c in (cols or list(df.columns)) if c != "field_id" and c in df.columns]
        dup = [c for c in keep if c in out.columns and c != "field_id"]
        out = out.drop(columns=dup).merge(df[keep].assign(field_id=df["field_id"].astype("str")), on="field_id",
                                          how="left")

    join(area, ["planted_area_ha", "planted_area_sd_ha", "planted_fraction", "noncrop_fraction"])
    join(phenology)
    join(crop)
    join(seasonal)
    em = phenology.set_index("field_id")["emergence_date"] if phenology is not None and "emergence_date" in phenology else None
    ev = evidence_counts(series, em, as_of)
    out["n_clear_obs"] = out["field_id"].map(ev["n_clear_obs"]).fillna(0).astype("int64")
    out["n_clear_pixels"] = out["field_id"].map(ev["n_clear_pixels"]).fillna(0).round().astype("int64")
    for c in FIELD_FEATURES.columns:
        if c.name in out.columns:
            continue
        if c.kind == "date":
            out[c.name] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
        elif c.kind == "str":
            out[c.name] = pd.Series([None] * len(out), index=out.index, dtype="str")
        else:
            out[c.name] = np.nan
    for c in FIELD_FEATURES.columns:
        if c.kind == "date":
            out[c.name] = pd.to_datetime(out[c.name]).astype("datetime64[ns]")
        elif c.kind == "float":
            out[c.name] = out[c.name].astype("float64")
    front = [c.name for c in FIELD_FEATURES.columns]
    rest = sorted(c for c in out.columns if c not in front)
    out = out[front + rest].sort_values("field_id", kind="stable").reset_index(drop=True)
    return check_field_features(out, where=f"FieldFeatures {season} as of {as_of}")
