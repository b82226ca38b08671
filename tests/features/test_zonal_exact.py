"""The engine's statistics equal, bit for bit, a plain per-field computation on the same pixels.

The reference takes each field's clear pixels in the pixel map's order and computes their
sum the way the engine always has (numpy's ``add.reduceat`` over the field's values: the
first value plus the pairwise sum of the rest) divided by n, the two-pass population
standard deviation and ``np.percentile`` — one field at a time, no layouts, no size
classes, no sorting of DNs.
The engine must give the same bits whatever the chunk size, the dtype of the bands, the
sign of the scale, per-band nodata patterns and non-finite index values.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine

from features._zonal_core import group_stats, make_layout, segment_stats, to_float
from features.zonal import INDICES, compute_variable, gather, pixel_map, stats_from_pairs

TR = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
H, W = 70, 90
BANDS7 = ("B02", "B03", "B04", "B05", "B08", "B8A", "B11")


def _fields(rng: np.random.Generator, n: int) -> list[shapely.Geometry]:
    out: list[shapely.Geometry] = []
    while len(out) < n:
        cx = TR.c + rng.uniform(100, W * 10 - 100)
        cy = TR.f - rng.uniform(100, H * 10 - 100)
        w, h = rng.uniform(5, 160, 2)
        out.append(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    out.append(out[0])  # a duplicate claim: overlaps are kept
    out.append(shapely.box(TR.c + 1, TR.f - 4, TR.c + 4, TR.f - 1))  # no pixel centre inside
    out.append(shapely.box(TR.c + 10, TR.f - 90, TR.c + 90, TR.f - 10))  # under a cloud (see _scene)
    return out


def _scene(seed: int, dtype: str) -> tuple[list[shapely.Geometry], dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    bands = {b: rng.integers(1, 2200, (H, W)).astype(dtype) for b in BANDS7}
    for b in ("B02", "B04", "B05", "B8A", "B11"):  # nodata of each band's own: more layouts than a chunk keeps
        bands[b][rng.random((H, W)) < 0.04] = 0
    bands["B08"][:, :10] = bands["B04"][:, :10]  # NDVI = 0 (and -0.0 below a negative offset)
    # B03 + B08 = 2000 DN: with offset -0.1 the NDWI denominator is 0 (inf/NaN, dropped)
    nir = rng.integers(100, 1900, bands["B08"][::7, ::5].shape)
    bands["B08"][::7, ::5] = nir
    bands["B03"][::7, ::5] = 2000 - nir
    clear = rng.random((H, W)) > 0.2
    clear[:10, :10] = False
    return _fields(rng, 45), bands, clear


def _sum(a: np.ndarray) -> float:
    return float(np.add.reduceat(a, [0])[0])


def _reference(pm, vals, clear, var, scale, offset, nodata):
    refl = {b: vals[b].astype(np.float64) * scale + offset for b in BANDS7}
    x = np.asarray(compute_variable(var, refl), dtype=np.float64)
    ok = clear & np.isfinite(x)
    for b in INDICES.get(var, (var,)):
        ok &= vals[b] != nodata
    stats = {k: np.full(pm.n_fields, np.nan) for k in ("mean", "std", "p10", "p50", "p90")}
    n_clear = np.zeros(pm.n_fields, dtype=np.int64)
    for i in range(pm.n_fields):
        xi = np.ascontiguousarray(x[(pm.fid_sorted == i) & ok])  # the field's pixels in map order
        n_clear[i] = xi.size
        if xi.size == 0:
            continue
        m = _sum(xi) / xi.size
        stats["mean"][i] = m
        stats["std"][i] = np.sqrt(_sum((xi - m) ** 2) / xi.size)
        stats["p10"][i], stats["p50"][i], stats["p90"][i] = np.percentile(xi, [10.0, 50.0, 90.0])
    return n_clear, stats


@pytest.mark.parametrize(("dtype", "scale", "offset", "max_pairs"), [
    ("uint16", 1e-4, 0.0, 1_000_000),
    ("uint16", 1e-4, -0.1, 300),
    ("int16", 1e-4, -0.1, 1),
    ("float32", 1e-4, 0.0, 500),
    ("uint16", -1e-4, 0.05, 200),
])
def test_statistics_are_bit_identical_to_a_per_field_reference(dtype: str, scale: float, offset: float,
                                                             max_pairs: int) -> None:
    geoms, bands, clear = _scene(11, dtype)
    pm = pixel_map(geoms, TR, (H, W), block_rows=16)

    def read(w):
        sl = (slice(w.row0, w.row1), slice(w.col0, w.col1))
        return {**{b: a[sl] for b, a in bands.items()}, "clear": clear[sl]}

    vals = gather(pm, read)
    np.testing.assert_array_equal(pm.group_bounds, np.searchsorted(pm.gid_sorted, np.arange(pm.n_fields + 1)))
    variables = ["B02", "B04", "B08", "NDVI", "EVI", "NDRE", "NDWI", "NDMI"]
    res = stats_from_pairs(pm, vals, vals["clear"], variables, scale=scale, offset=offset, nodata=0,
                           max_pairs=max_pairs)
    for v in variables:
        n_clear, ref = _reference(pm, vals, vals["clear"], v, scale, offset, 0)
        np.testing.assert_array_equal(res[v]["n_clear"], n_clear, err_msg=v)
        assert n_clear.sum() > 0 and (n_clear == 0).any()  # fields with and without clear pixels
        for k in ("mean", "std"):  # the very same bits
            np.testing.assert_array_equal(res[v][k].view(np.int64), ref[k].view(np.int64), err_msg=f"{v} {k}")
        for k in ("p10", "p50", "p90"):  # equal values (a percentile of +0.0 and -0.0 ties may take either sign)
            np.testing.assert_array_equal(res[v][k], ref[k], err_msg=f"{v} {k}")


def test_non_finite_index_values_are_dropped_and_counted_out() -> None:
    geoms, bands, clear = _scene(12, "uint16")
    pm = pixel_map(geoms, TR, (H, W))
    vals = gather(pm, lambda w: {b: a[w.row0:w.row1, w.col0:w.col1] for b, a in bands.items()})
    ones = np.ones(pm.n_pairs, dtype=bool)
    res = stats_from_pairs(pm, vals, ones, ["NDWI"], scale=1e-4, offset=-0.1, nodata=0)
    refl = {b: vals[b] * 1e-4 - 0.1 for b in ("B03", "B08")}
    with np.errstate(divide="ignore", invalid="ignore"):
        bad = ~np.isfinite(compute_variable("NDWI", refl))
    assert bad.sum() > 0  # the scene does have zero denominators inside fields
    expected = np.bincount(pm.fid_sorted[~bad & (vals["B03"] != 0) & (vals["B08"] != 0)], minlength=pm.n_fields)
    np.testing.assert_array_equal(res["NDWI"]["n_clear"], expected)
    assert np.isfinite(res["NDWI"]["mean"][expected > 0]).all()


def test_group_stats_and_segment_stats_on_plain_groups() -> None:
    rng = np.random.default_rng(5)
    groups = np.sort(rng.integers(0, 30, 600))
    groups[groups == 7] = 8  # an empty group in the middle
    values = rng.normal(0.3, 0.2, 600)
    valid = rng.random(600) > 0.3
    got = group_stats(groups, values, valid, 32)
    for g in range(32):
        xg = values[(groups == g) & valid]
        assert got["n_clear"][g] == xg.size
        if xg.size == 0:
            assert np.isnan(got["mean"][g]) and np.isnan(got["p90"][g])
            continue
        assert got["mean"][g] == _sum(xg) / xg.size
        assert got["p10"][g] == np.percentile(xg, 10) and got["p90"][g] == np.percentile(xg, 90)
    # integer keys sorted instead of the values: the same statistics
    dn = rng.integers(0, 5000, 600).astype(np.uint16)
    lay = make_layout(groups, valid, 32)
    keys = dn.take(lay.perm)
    a = segment_stats(lay, to_float(keys, 1e-4, 0.0), keys.copy(), scale=1e-4, offset=0.0)
    b = segment_stats(lay, to_float(keys, 1e-4, 0.0))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [c[0] for c in lay.classes] == sorted({int(c) for c in lay.cnt})  # one block per group size
