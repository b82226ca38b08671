"""The zonal engine equals rasterstats (all_touched=False, boundless=False, mask as nodata) exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from rasterstats import zonal_stats as rs_zonal_stats

from features.errors import ImageryError
from features.zonal import (
    compute_variable,
    few_clear_fields,
    inward_distance,
    pixel_map,
    required_bands,
    zonal_stats,
)

TR = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
RS_STATS = ["count", "mean", "std", "percentile_10", "percentile_50", "percentile_90"]
NODATA_REF = -9999.0

# rasterstats 0.21 multiplies Affine objects with `*` (affine 3.x warns); third-party, unavoidable
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


def _polys(rng: np.random.Generator, n: int, h: int, w: int) -> list[shapely.Geometry]:
    out = []
    while len(out) < n:
        cx = TR.c + rng.uniform(160, w * 10 - 160)
        cy = TR.f - rng.uniform(160, h * 10 - 160)
        k = int(rng.integers(3, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(8, 150, k)
        p = shapely.Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)])
        if p.is_valid and p.area > 0:
            out.append(p)
    # exact duplicates and nested fields: overlaps the engine must keep apart
    out.append(out[0])
    out.append(out[1].buffer(-12) if not out[1].buffer(-12).is_empty else out[1])
    return out


def _scene(seed: int, h: int = 90, w: int = 110):
    rng = np.random.default_rng(seed)
    dn = {b: rng.integers(1, 4000, (h, w)).astype(np.uint16) for b in ("B02", "B03", "B04", "B05", "B08", "B8A", "B11")}
    dn["B04"][rng.random((h, w)) < 0.02] = 0  # nodata DN
    dn["B08"][:, :3] = dn["B04"][:, :3]  # NDVI = 0 and ties in a strip
    clear = rng.random((h, w)) > 0.25
    return rng, dn, clear


def _reference(polys, dn, clear, var, scale, offset, nodata=0):
    refl = {b: a.astype(np.float64) * scale + offset for b, a in dn.items()}
    x = np.array(compute_variable(var, refl), dtype=np.float64, copy=True)
    bad = ~clear | ~np.isfinite(x)
    for b in required_bands([var]):
        bad |= dn[b] == nodata
    x[bad] = NODATA_REF
    return rs_zonal_stats(polys, x, affine=TR, nodata=NODATA_REF, all_touched=False, boundless=False, stats=RS_STATS)


def _assert_equal(ours: pd.DataFrame, ref: list[dict]) -> None:
    assert len(ours) == len(ref)
    for row, r in zip(ours.itertuples(), ref, strict=True):
        assert row.n_clear == r["count"], row.field
        if r["count"] == 0:
            assert np.isnan(row.mean) and np.isnan(row.std) and np.isnan(row.p50)
            continue
        assert row.mean == pytest.approx(r["mean"], rel=1e-9, abs=1e-12)
        assert row.std == pytest.approx(r["std"], rel=1e-9, abs=1e-12)
        assert row.p10 == r["percentile_10"]
        assert row.p50 == r["percentile_50"]
        assert row.p90 == r["percentile_90"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("var", ["B04", "B08", "NDVI", "EVI", "NDRE", "NDWI", "NDMI"])
def test_equals_rasterstats_on_random_rasters_and_overlapping_fields(seed: int, var: str) -> None:
    rng, dn, clear = _scene(seed)
    polys = _polys(rng, 40, 90, 110)
    ours = zonal_stats(polys, dn, TR, clear=clear, variables=[var], scale=1e-4, offset=-0.1, nodata=0, block_rows=16)
    _assert_equal(ours, _reference(polys, dn, clear, var, 1e-4, -0.1))


def test_n_pixels_are_pixel_centres_in_each_field_including_overlaps() -> None:
    rng, dn, _ = _scene(4)
    polys = _polys(rng, 30, 90, 110)
    ours = zonal_stats(polys, {"B04": dn["B04"]}, TR, variables=["B04"])
    ones = np.ones(dn["B04"].shape, dtype=np.float64)
    ref = rs_zonal_stats(polys, ones, affine=TR, nodata=NODATA_REF, boundless=False, stats=["count"])
    assert ours["n_pixels"].tolist() == [r["count"] for r in ref]
    assert ours["n_pixels"].iloc[-2] == ours["n_pixels"].iloc[0] > 0  # the duplicate keeps all its pixels
    overlap = shapely.intersection(polys[0], polys[5]).area
    assert ours["n_pixels"].sum() > 0 and overlap >= 0


def test_windowing_does_not_change_results() -> None:
    rng, dn, clear = _scene(5)
    polys = _polys(rng, 25, 90, 110)
    a = zonal_stats(polys, dn, TR, clear=clear, variables=["NDVI", "B11"], nodata=0, block_rows=3)
    b = zonal_stats(polys, dn, TR, clear=clear, variables=["NDVI", "B11"], nodata=0, block_rows=1000)
    pd.testing.assert_frame_equal(a, b)


def test_inward_buffer_equals_rasterstats_on_shrunk_polygons() -> None:
    rng, dn, clear = _scene(6)
    polys = _polys(rng, 20, 90, 110)
    ours = zonal_stats(polys, dn, TR, clear=clear, variables=["B03"], nodata=0, inward_buffer=True)
    plain = zonal_stats(polys, dn, TR, clear=clear, variables=["B03"], nodata=0)
    shrunk = [p.buffer(-inward_distance(TR)) for p in polys]
    keep = [i for i, p in enumerate(shrunk) if not p.is_empty]
    ref = _reference([shrunk[i] for i in keep], dn, clear, "B03", 1.0, 0.0)
    _assert_equal(ours.iloc[keep].reset_index(drop=True), ref)
    assert (ours["n_pixels"] <= plain["n_pixels"]).all() and (ours["n_pixels"] < plain["n_pixels"]).any()


def test_fields_without_pixels_or_clear_pixels_get_nan() -> None:
    dn = {"B04": np.full((20, 20), 1000, dtype=np.uint16)}
    tiny = shapely.box(TR.c + 1, TR.f - 4, TR.c + 4, TR.f - 1)  # misses every pixel centre
    outside = shapely.box(TR.c - 500, TR.f + 100, TR.c - 100, TR.f + 500)
    cloudy = shapely.box(TR.c + 50, TR.f - 100, TR.c + 100, TR.f - 50)
    clear = np.ones((20, 20), dtype=bool)
    clear[5:10, 5:10] = False
    df = zonal_stats([tiny, outside, cloudy], dn, TR, clear=clear, variables=["B04"])
    assert df["n_pixels"].tolist() == [0, 0, 25]
    assert df["n_clear"].tolist() == [0, 0, 0]
    assert df[["mean", "std", "p10", "p50", "p90"]].isna().all().all()


def test_percentiles_small_groups_and_known_values() -> None:
    dn = {"B04": np.arange(1, 101, dtype=np.uint16).reshape(10, 10)}
    whole = shapely.box(TR.c, TR.f - 100, TR.c + 100, TR.f)
    one = shapely.box(TR.c + 1, TR.f - 9, TR.c + 9, TR.f - 1)
    two = shapely.box(TR.c + 1, TR.f - 9, TR.c + 19, TR.f - 1)
    df = zonal_stats([whole, one, two], dn, TR, variables=["B04"])
    vals = np.arange(1, 101, dtype=np.float64)
    assert df.loc[0, "p10"] == np.percentile(vals, 10) and df.loc[0, "p90"] == np.percentile(vals, 90)
    assert df.loc[0, "mean"] == pytest.approx(50.5) and df.loc[0, "std"] == pytest.approx(np.std(vals))
    assert df.loc[1, ["p10", "p50", "p90"]].tolist() == [1.0, 1.0, 1.0] and df.loc[1, "std"] == 0.0
    assert df.loc[2, "p50"] == 1.5 and df.loc[2, "p10"] == np.percentile([1.0, 2.0], 10)


def test_indices_per_pixel_formulae() -> None:
    refl = {b: np.array([0.1]) for b in ("B02", "B03", "B05", "B11")}
    refl["B04"], refl["B08"], refl["B8A"] = np.array([0.05]), np.array([0.45]), np.array([0.4])
    assert compute_variable("NDVI", refl)[0] == pytest.approx(0.8)
    assert compute_variable("EVI", refl)[0] == pytest.approx(2.5 * 0.4 / (0.45 + 0.3 - 0.75 + 1.0))
    assert compute_variable("NDRE", refl)[0] == pytest.approx(0.3 / 0.5)
    assert compute_variable("NDWI", refl)[0] == pytest.approx(-0.35 / 0.55)
    assert compute_variable("NDMI", refl)[0] == pytest.approx(0.6)
    assert required_bands(["NDVI", "B02"]) == ["B02", "B04", "B08"]
    with pytest.raises(ImageryError, match="unknown variables.*LAI"):
        required_bands(["LAI"])


def test_pixel_map_rejects_rotated_grids() -> None:
    with pytest.raises(ImageryError, match="unrotated grid whose rows run north to south"):
        pixel_map([shapely.box(0, 0, 1, 1)], Affine(10, 1, 0, 0, -10, 0), (5, 5))


def test_few_clear_fields_threshold() -> None:
    s = pd.DataFrame({"field_id": ["a", "a", "b", "c"], "n_clear": [3, 9, 7, 0]})
    assert few_clear_fields(s) == ["b", "c"]
    assert few_clear_fields(s, threshold=10) == ["a", "b", "c"]
    assert few_clear_fields(s.iloc[0:0]) == []
