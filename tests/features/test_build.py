"""FieldFeatures assembly: contract, joins, evidence counts, empty families stay empty."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from features.build import build_features
from features.contracts import check_field_features


def _fields() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"field_id": ["a", "b", "c"], "season": "2024", "farmer_token": ["T1", "T2", "T3"],
                             "declared_crop": ["maize", None, "soybean"], "declared_area_ha": [4.0, np.nan, 4.4],
                             "region": "us-nebraska",
                             "geometry": [box(500_000, 4_480_000, 500_200, 4_480_200), box(500_190, 4_480_000, 500_390, 4_480_200),
                                          box(501_000, 4_480_000, 501_200, 4_480_200)]},
                            crs=32614)


def _series() -> pd.DataFrame:
    dates = pd.date_range("2024-05-01", periods=12, freq="10D")
    rows = []
    for fid in ["a", "b", "c"]:
        for i, d in enumerate(dates):
            clear = 400 if (fid != "c" or i % 2 == 0) else 100
            rows.append({"field_id": fid, "season": "2024", "date": d, "variable": "NDVI", "mean": 0.5, "std": 0.1,
                         "p10": 0.4, "p50": 0.5, "p90": 0.6, "n_pixels": 400, "n_clear": clear})
    return pd.DataFrame(rows)


def test_minimal_build_follows_contract() -> None:
    out = build_features(_fields(), _series(), "2024", date(2024, 7, 1))
    check_field_features(out)
    assert list(out["field_id"]) == ["a", "b", "c"]
    assert out.loc[0, "field_area_ha"] == pytest.approx(4.0, rel=1e-3)
    assert out.loc[0, "overlap_fraction"] == pytest.approx(0.05, rel=1e-3)  # 10 m strip shared with b
    assert out.loc[2, "overlap_fraction"] == 0.0
    # 2024-05-01 + 10-day steps up to 1 July: 7 dates; c is clear on every other one
    assert list(out["n_clear_obs"]) == [7, 7, 4]
    assert out["planted_area_ha"].isna().all()  # no area family given: empty, not invented


def test_families_joined_and_emergence_counts() -> None:
    area = pd.DataFrame({"field_id": ["a", "b", "c"], "planted_area_ha": [3.9, 2.0, 4.1],
                         "planted_area_sd_ha": [0.1, 0.2, 0.1], "planted_fraction": [0.97, 0.5, 1.0],
                         "noncrop_fraction": [0.0, 0.1, 0.0]})
    phen = pd.DataFrame({"field_id": ["a", "b", "c"], "growth_stage": ["vegetative", "not_sown", "emerged"],
                         "emergence_date": pd.to_datetime(["2024-05-25", None, "2024-06-10"]),
                         "days_since_emergence": [37.0, np.nan, 21.0], "ndvi_max": [0.8, 0.2, 0.5]})
    crop = pd.DataFrame({"field_id": ["a", "b", "c"], "crop_type": ["maize", "fallow", "soybean"],
                         "crop_type_prob": [0.95, 0.7, 0.9], "declared_crop_prob": [0.95, np.nan, 0.9],
                         "prob_maize": [0.95, 0.1, 0.05]})
    out = build_features(_fields(), _series(), "2024", date(2024, 7, 1), area=area, phenology=phen, crop=crop,
                         seasonal=pd.DataFrame({"field_id": ["a", "b", "c"], "feat_ndvi_p90": [0.8, 0.3, 0.6]}))
    check_field_features(out)
    assert out.loc[1, "planted_fraction"] == 0.5
    assert out.loc[0, "growth_stage"] == "vegetative"
    assert "prob_maize" in out.columns and "feat_ndvi_p90" in out.columns
    # a: emerged 25 May → clear obs on 31 May, 10, 20, 30 June = 4
    assert out.loc[0, "n_clear_obs"] == 4
    assert out.loc[1, "n_clear_obs"] == 7  # emergence unknown: the whole season so far
