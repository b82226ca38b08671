"""Planted area from pixel trajectories: exact coverage, partial planting, non-crop land, border correction."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from features.area import field_coverage, planted_area_from_stack

T = Affine(10, 0, 0, 0, -10, 1000)  # 10 m pixels, 100 × 100 grid from (0, 0) to (1000, 1000)


def _crop_curve(t: int) -> np.ndarray:
    d = np.arange(t)
    return (0.15 + 0.7 * np.exp(-0.5 * ((d - t / 2) / (t / 8)) ** 2)).astype(np.float32)


def _stack(t: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.full((t, 100, 100), 0.18, dtype=np.float32)  # bare soil everywhere
    base += rng.normal(0, 0.01, base.shape).astype(np.float32)
    return base


def test_coverage_is_exact_for_offset_box() -> None:
    g = box(105, 105, 255, 305)  # 15 × 20 pixels but offset by half a pixel
    _, _, c = field_coverage(g, T, (100, 100), supersample=10)
    assert c.sum() * 100 / 10_000 == pytest.approx(g.area / 10_000, rel=1e-6)
    assert 0 < c.min() < 1 or (c == 0).any()


def test_fully_and_half_planted_fields() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:40, 10:40] = curve[:, None, None]  # field A fully planted (rows 10-39, cols 10-39)
    ndvi[:, 50:80, 50:65] = curve[:, None, None]  # field B: only its western half planted
    a = box(100, 600, 400, 900)
    b = box(500, 200, 800, 500)
    res = planted_area_from_stack(["A", "B"], [a, b], T, ndvi).set_index("field_id")
    assert res.loc["A", "planted_fraction"] == pytest.approx(1.0, abs=0.01)
    assert res.loc["A", "planted_area_ha"] == pytest.approx(9.0, rel=0.01)
    assert res.loc["B", "planted_fraction"] == pytest.approx(0.5, abs=0.04)
    assert res.loc["A", "planted_area_sd_ha"] < 0.05  # pixel-aligned and clear-cut: little uncertainty


def test_water_and_trees_are_noncrop() -> None:
    ndvi = _stack()
    t = ndvi.shape[0]
    ndvi[:, 10:40, 10:40] = _crop_curve(t)[:, None, None]
    ndvi[:, 10:20, 10:40] = 0.75  # a tree line: green all season
    ndwi = np.full_like(ndvi, -0.3)
    ndvi[:, 30:40, 10:40] = -0.1
    ndwi[:, 30:40, 10:40] = 0.4  # a pond
    res = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, ndvi, ndwi).iloc[0]
    assert res["planted_fraction"] == pytest.approx(1 / 3, abs=0.03)
    assert res["noncrop_fraction"] == pytest.approx(2 / 3, abs=0.03)


def test_border_pixels_count_by_coverage() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:41, 10:41] = curve[:, None, None]
    g = box(105, 595, 405, 895)  # edges cut pixels in half
    res = planted_area_from_stack(["A"], [g], T, ndvi).iloc[0]
    assert res["planted_area_ha"] == pytest.approx(g.area / 10_000, rel=0.01)
    assert res["planted_area_sd_ha"] > 0  # border pixels carry edge uncertainty


def test_clouds_are_ignored() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:40, 10:40] = curve[:, None, None]
    ndvi[::3] = np.nan  # a third of the dates fully cloudy
    res = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, ndvi).iloc[0]
    assert res["planted_fraction"] == pytest.approx(1.0, abs=0.01)
    assert res["min_clear_obs"] == 20


def test_field_off_grid() -> None:
    res = planted_area_from_stack(["X"], [box(5000, 5000, 5100, 5100)], T, _stack()).iloc[0]
    assert res["n_pixels_touched"] == 0
    assert np.isnan(res["planted_area_ha"])
