"""Gap filling on real Sentinel-2 cloud gaps: the eo-learn patch (../shared/data/real/eolearn_patch).

Per land-use polygon (rasterised on the patch's 10 m grid, polygons of at least 10 pixels), the
NDVI mean of the IS_VALID pixels of every acquisition forms a FieldTimeSeries. A seeded 20% of the
clear observations (at least 80% of the polygon's pixels valid) are withheld; the smoother fills
them from the rest. Scored: withheld observations inside the span of the observations the smoother used
for the polygon (gap filling, not extrapolation) and not on a date the scene screen judged hazy.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.timeseries import smooth_series

MIN_PIXELS = 10


def polygon_series(root: Path) -> pd.DataFrame:
    import geopandas as gpd
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds

    d = root / "eolearn_patch"
    ndvi = np.load(d / "data" / "NDVI.npy")[..., 0]
    valid = np.load(d / "mask" / "IS_VALID.npy")[..., 0].astype(bool)
    dates = pd.to_datetime(json.loads((d / "timestamps.json").read_text())).normalize()
    n_t, h, w = ndvi.shape
    ring = json.loads((d / "bbox.geojson").read_text())["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    transform = from_bounds(min(xs), min(ys), max(xs), max(ys), w, h)
    poly = gpd.read_file(d / "LULC_polygons.gpkg")
    lab = rasterize([(g, i + 1) for i, g in enumerate(poly.geometry)], out_shape=(h, w), transform=transform,
                    fill=0, dtype="int32").ravel()
    n = len(poly) + 1
    npx = np.bincount(lab, minlength=n)
    rows = []
    for t in range(n_t):
        ok = valid[t].ravel() & (lab > 0)
        ncl = np.bincount(lab[ok], minlength=n)
        tot = np.bincount(lab[ok], weights=ndvi[t].ravel()[ok].astype(np.float64), minlength=n)
        for k in np.nonzero(npx >= MIN_PIXELS)[0]:
            if k == 0:
                continue
            mean = tot[k] / ncl[k] if ncl[k] else np.nan
            rows.append((f"L{k:03d}", "2016", dates[t], "NDVI", mean, int(npx[k]), int(ncl[k])))
    return pd.DataFrame(rows, columns=["field_id", "season", "date", "variable", "mean", "n_pixels", "n_clear"])


def withheld_rmse(series: pd.DataFrame, seed: int = 0, share: float = 0.2, **smooth_kw: Any) -> tuple[float, int, int]:
    """RMSE on withheld clear observations, their number and the number of hazy dates.

    ``smooth_kw`` go to :func:`smooth_series` (for benchmarks and ablations; the tests use its defaults).
    """
    clear = series.index[(series["n_clear"] >= 0.8 * series["n_pixels"]) & series["mean"].notna()]
    rng = np.random.default_rng(seed)
    hold = series.index.isin(rng.choice(clear, int(share * len(clear)), replace=False))
    train = series[~hold]
    sm = smooth_series(train, grid_days=1, **smooth_kw)
    hazy = pd.to_datetime(sm.attrs["hazy_dates"])
    used = sm[sm["observed"]].groupby("field_id")["date"].agg(["min", "max"])
    h = series[hold & ~series["date"].isin(hazy)]
    h = h[(h["date"] >= h["field_id"].map(used["min"])) & (h["date"] <= h["field_id"].map(used["max"]))]
    m = h[["field_id", "date", "mean"]].merge(sm, on=["field_id", "date"])
    r = m["mean"].to_numpy() - m["value"].to_numpy()
    return float(np.sqrt(np.mean(r**2))), len(m), len(hazy)


#: measured with the defaults of features.timeseries: 0.086 at seed 0 (seeds 0-4: 0.086, 0.093, 0.083, 0.085,
#: 0.093, mean 0.088)
REGRESSION_BOUND = 0.09
#: with scene offsets (``scene_offset=True``, the whole patch smoothed in one call): 0.071 at seed 0 (seeds 0-4:
#: 0.071, 0.083, 0.072, 0.071, 0.076, mean 0.075)
SCENE_BOUND = 0.075
ISSUE_TARGET = 0.08
SEEDS = range(5)


@pytest.fixture(scope="module")
def patch_series() -> pd.DataFrame:
    """The patch's polygon series, built once per module (a module-scoped twin of ``shared_real``)."""
    from tests.conftest import SHARED_REAL, require

    require((SHARED_REAL / "eolearn_patch" / "data" / "NDVI.npy").is_file(),
            f"eolearn_patch not found under {SHARED_REAL} (set AGCREDIT_SHARED_DATA)")
    with warnings.catch_warnings():
        # rasterio's rasterize multiplies affine transforms with ``*`` (affine 3.x deprecation, not ours)
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        s = polygon_series(SHARED_REAL)
    assert s["field_id"].nunique() >= 40
    return s


def test_eolearn_withheld_rmse(patch_series: pd.DataFrame) -> None:
    rmse, n, n_hazy = withheld_rmse(patch_series)
    assert n >= 200
    assert n_hazy <= 5
    assert rmse <= REGRESSION_BOUND, f"withheld-observation RMSE {rmse:.3f} > {REGRESSION_BOUND} NDVI"


@pytest.mark.xfail(strict=True, reason="issue 7's 0.08 NDVI is not met by the production (default) smoother: 0.086 "
                                       "at seed 0, 0.088 mean of seeds 0-4; 47% of the squared error is Jan-Mar "
                                       "scene-wide departures (snow, haze) no per-field smoother can predict. "
                                       "Scene offsets meet it (next test) but make a field's curve depend on the "
                                       "other fields in the call, so production does not use them yet")
def test_eolearn_issue_target_default_smoother(patch_series: pd.DataFrame) -> None:
    assert withheld_rmse(patch_series)[0] <= ISSUE_TARGET


def test_eolearn_scene_offsets(patch_series: pd.DataFrame) -> None:
    """RMSE ≤ 0.08 NDVI at seed 0 and as the mean over seeds 0-4 (each with ≤ 5 hazy dates) with scene offsets.

    ``scene_offset=True`` (features/timeseries.py step 6: the patch's polygons are one scene smoothed in one
    call), chosen by cross-validation on the kept observations (benchmarks/bench_growth_stage.py). Not the
    production default: the offsets are medians over the fields of the call, so a field's curve would depend on
    which other fields are smoothed with it (tests/pipelines/test_distributed.py checks that it does not).
    """
    r = [withheld_rmse(patch_series, seed, scene_offset=True) for seed in SEEDS]
    assert all(n >= 200 and n_hazy <= 5 for _, n, n_hazy in r)
    assert r[0][0] <= SCENE_BOUND, f"seed 0: {r[0][0]:.3f} > {SCENE_BOUND}"
    mean = float(np.mean([x[0] for x in r]))
    assert mean <= ISSUE_TARGET, f"mean of seeds 0-4: {mean:.3f} > {ISSUE_TARGET}"
    default = withheld_rmse(patch_series)[0]
    assert default - r[0][0] > 0.01          # the offsets carry the gain
