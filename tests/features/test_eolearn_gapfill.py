"""Gap filling on real Sentinel-2 cloud gaps: the eo-learn patch (../shared/data/real/eolearn_patch).

Per land-use polygon (rasterised on the patch's 10 m grid, polygons of at least 10 pixels), the
NDVI mean of the IS_VALID pixels of every acquisition forms a FieldTimeSeries. A seeded 20% of the
clear observations (at least 80% of the polygon's pixels valid) are withheld; the smoother fills
them from the rest. Scored: withheld observations inside the span of the observations the smoother used
for the polygon (gap filling, not extrapolation) and not on a date the scene screen judged hazy.
"""

from __future__ import annotations

import json
from pathlib import Path

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


def withheld_rmse(series: pd.DataFrame, seed: int = 0, share: float = 0.2) -> tuple[float, int, int]:
    """RMSE on withheld clear observations, their number and the number of hazy dates."""
    clear = series.index[(series["n_clear"] >= 0.8 * series["n_pixels"]) & series["mean"].notna()]
    rng = np.random.default_rng(seed)
    hold = series.index.isin(rng.choice(clear, int(share * len(clear)), replace=False))
    train = series[~hold]
    sm = smooth_series(train, grid_days=1)
    hazy = pd.to_datetime(sm.attrs["hazy_dates"])
    used = sm[sm["observed"]].groupby("field_id")["date"].agg(["min", "max"])
    h = series[hold & ~series["date"].isin(hazy)]
    h = h[(h["date"] >= h["field_id"].map(used["min"])) & (h["date"] <= h["field_id"].map(used["max"]))]
    m = h[["field_id", "date", "mean"]].merge(sm, on=["field_id", "date"])
    r = m["mean"].to_numpy() - m["value"].to_numpy()
    return float(np.sqrt(np.mean(r**2))), len(m), len(hazy)


#: rasterio's rasterize multiplies affine transforms with ``*`` (affine 3.x deprecation, not ours)
_AFFINE = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
#: measured with the defaults of features.timeseries: 0.086 (seed 0; seeds 0-3 give 0.083-0.093)
REGRESSION_BOUND = 0.09
ISSUE_TARGET = 0.08


def _rmse(shared_real: Path) -> tuple[float, int, int]:
    from tests.conftest import require

    require((shared_real / "eolearn_patch" / "data" / "NDVI.npy").is_file(), "eolearn_patch not in shared data")
    s = polygon_series(shared_real)
    assert s["field_id"].nunique() >= 40
    return withheld_rmse(s)


@_AFFINE
def test_eolearn_withheld_rmse(shared_real: Path) -> None:
    rmse, n, n_hazy = _rmse(shared_real)
    assert n >= 200
    assert n_hazy <= 5
    assert rmse <= REGRESSION_BOUND, f"withheld-observation RMSE {rmse:.3f} > {REGRESSION_BOUND} NDVI"


@_AFFINE
@pytest.mark.xfail(strict=True, reason="issue 7's 0.08 NDVI is not met on this patch (0.086 at seed 0, 0.087 mean "
                                       "of seeds 0-3): winter snow (not masked by IS_VALID) and mowing leave large "
                                       "real residuals; λ per polygon by 5-fold CV on the observed 80% (tried: "
                                       "0.087, not kept), "
                                       "λ=3000 (0.082) and other envelope settings did not reach it "
                                       "(benchmarks/bench_growth_stage.py)")
def test_eolearn_issue_target(shared_real: Path) -> None:
    rmse, _, _ = _rmse(shared_real)
    assert rmse <= ISSUE_TARGET
