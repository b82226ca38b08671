"""Scenes of the demo county: layout, COG profile, spectra, clouds, SCL, placement, determinism."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.features import geometry_mask
from shapely.geometry import box

from democounty import _clouds, _spectra, scenes
from democounty._testing import make_fake_county

SEED = 5


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    make_fake_county(out, region="us-nebraska", seed=3, n_rows=2, n_cols=3, field_m=300.0)
    scenes.render_scenes(out, SEED, workers=2)
    return out


@pytest.fixture(scope="module")
def stack(county: Path) -> dict:
    """All scenes read once: index, arrays (n, 11, h, w), transform."""
    idx = pd.read_csv(county / "scenes" / "index.csv", dtype=str)
    arrays = []
    for p in idx["path"]:
        with rasterio.open(county / "scenes" / p) as src:
            arrays.append(src.read())
            transform, shape = src.transform, (src.height, src.width)
    return {"index": idx, "a": np.stack(arrays).astype(np.float64), "transform": transform, "shape": shape}


def _ndvi(a: np.ndarray) -> np.ndarray:
    return (a[..., 6, :, :] - a[..., 2, :, :]) / np.maximum(a[..., 6, :, :] + a[..., 2, :, :], 1.0)


def _inside(county: Path, stack: dict, field_id: str, shrink: float = 15.0) -> np.ndarray:
    fields = gpd.read_file(county / "records" / "fields.gpkg")
    geom = fields.loc[fields["field_id"] == field_id, "geometry"].iloc[0].buffer(-shrink)
    return geometry_mask([geom], stack["shape"], stack["transform"], invert=True)


def _kind_ids(county: Path, kind: str) -> list[str]:
    truth = pd.read_parquet(county / "truth" / "fields.parquet")
    crop = "fallow" if kind == "bare" else kind
    return sorted(truth.loc[truth["true_crop"] == crop, "field_id"].unique())


def test_index_follows_the_scene_index_layout(county: Path, stack: dict) -> None:
    idx = stack["index"]
    assert tuple(idx.columns) == scenes.INDEX_COLUMNS
    assert set(idx["bands"]) == {"B02;B03;B04;B05;B06;B07;B08;B8A;B11;B12;SCL"}
    assert set(idx["scale"]) == {"0.0001"} and set(idx["offset"]) == {"0"} and set(idx["nodata"]) == {"0"}
    assert set(idx["cloud_mask"]) == {"SCL"} and set(idx["processing_baseline"].fillna("")) == {""}
    days = pd.to_datetime(idx["date"])
    assert days.is_monotonic_increasing and days.is_unique
    assert ((days.diff().dt.days.dropna() % 5) == 0).all()
    assert days.min() >= pd.Timestamp("2017-09-15") and days.max() <= pd.Timestamp("2018-11-30")
    slots = scenes.acquisition_dates(scenes.season_windows("us-nebraska", ["2018"]))
    assert set(d.date() for d in days) <= set(slots)
    assert 0.9 * len(slots) <= len(idx) <= len(slots)      # a few acquisitions missing
    for row in idx.itertuples():
        d = row.date.replace("-", "")
        assert row.path == f"{row.date[:4]}/S2_{row.tile_id}_{d}.tif"
        assert (county / "scenes" / row.path).is_file()
    on_disk = sorted(str(p.relative_to(county / "scenes")) for p in (county / "scenes").rglob("*.tif"))
    assert on_disk == sorted(idx["path"])


def test_scene_is_a_tiled_deflate_geotiff_on_the_county_grid(county: Path, stack: dict) -> None:
    meta = json.loads((county / "county.json").read_text())
    xmin, ymin, xmax, ymax = meta["bounds"]
    with rasterio.open(county / "scenes" / stack["index"]["path"].iloc[0]) as src:
        assert src.crs.to_string() == meta["crs"]
        assert (src.transform.a, src.transform.e, src.transform.c, src.transform.f) == (10.0, -10.0, xmin, ymax)
        assert (src.width, src.height) == ((xmax - xmin) / 10, (ymax - ymin) / 10)
        assert src.count == 11 and set(src.dtypes) == {"uint16"} and src.nodata == 0
        assert src.descriptions == scenes.SCENE_BANDS
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        assert src.block_shapes[0] == (512, 512)
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        assert "TIFFTAG_DATETIME" not in src.tags()
        assert src.tags(ns="IMAGE_STRUCTURE").get("INTERLEAVE") == "BAND"
    head = (county / "scenes" / stack["index"]["path"].iloc[0]).read_bytes()[:8]
    assert head[:4] == b"II*\x00" and int.from_bytes(head[4:8], "little") < 1024    # IFD first (COG layout)
    a = stack["a"]
    nodata = a[:, 10] == 0
    assert (a[:, :10][np.broadcast_to(~nodata[:, None], a[:, :10].shape)] >= 1).all()   # 0 only means no data
    assert (a[:, :10][np.broadcast_to(nodata[:, None], a[:, :10].shape)] == 0).all()


def test_20m_bands_are_2x2_blocks_and_10m_bands_are_not(stack: dict) -> None:
    a = stack["a"]
    h, w = (s - s % 2 for s in stack["shape"])
    for k, band in enumerate(_spectra.BANDS + ("SCL",)):
        x = a[:, k, :h, :w]
        same = (x[:, 0::2, 0::2] == x[:, 1::2, 0::2]) & (x[:, 0::2, 0::2] == x[:, 0::2, 1::2]) \
            & (x[:, 0::2, 0::2] == x[:, 1::2, 1::2])
        if band in _spectra.BANDS_20M or band == "SCL":
            assert same.all(), band
        else:
            assert same.mean() < 0.2, band


def test_ndvi_of_full_canopy_and_bare_soil(county: Path, stack: dict) -> None:
    a, idx = stack["a"], stack["index"]
    summer = pd.to_datetime(idx["date"]).dt.month.between(4, 10).to_numpy()   # no frost or snow
    scl = a[:, 10]
    ndvi = _ndvi(a)
    for kind, lo, hi in (("full", 0.75, 0.92), ("bare", 0.10, 0.25)):
        inside = _inside(county, stack, _kind_ids(county, kind)[0])
        per_date = [np.median(ndvi[t][inside & np.isin(scl[t], (4, 5))]) for t in np.flatnonzero(summer)
                    if (inside & np.isin(scl[t], (4, 5))).sum() >= 20]
        assert len(per_date) >= 15, kind
        assert lo <= np.median(per_date) <= hi, (kind, np.median(per_date))
        assert np.mean([lo - 0.05 <= v <= hi + 0.05 for v in per_date]) >= 0.85, (kind, per_date)


def test_field_polygon_lands_on_its_own_pixels(county: Path, stack: dict) -> None:
    """A field's NDVI tracks its own truth canopy, and not a neighbour's polygon's canopy."""
    a, idx = stack["a"], stack["index"]
    ndvi, scl = _ndvi(a), a[:, 10]
    canopy = pd.read_parquet(county / "truth" / "canopy.parquet")
    canopy["date"] = pd.to_datetime(canopy["date"])
    days = pd.to_datetime(idx["date"])
    summer_ids, winter_ids = _kind_ids(county, "summer"), _kind_ids(county, "winter")

    def series(fid: str) -> tuple[np.ndarray, np.ndarray]:
        inside = _inside(county, stack, fid)
        obs = np.array([np.median(ndvi[t][inside & np.isin(scl[t], (4, 5))])
                        if (inside & np.isin(scl[t], (4, 5))).sum() >= 20 else np.nan for t in range(len(days))])
        return obs, np.isfinite(obs)

    def truth(fid: str) -> np.ndarray:
        c = canopy[canopy["field_id"] == fid].set_index("date")["green_cover"]
        return c.reindex(days).to_numpy()

    for own, other in ((summer_ids[0], winter_ids[0]), (winter_ids[0], summer_ids[0])):
        obs, ok = series(own)
        assert ok.sum() >= 30
        r_own = np.corrcoef(obs[ok], truth(own)[ok])[0, 1]
        r_other = np.corrcoef(obs[ok], truth(other)[ok])[0, 1]
        assert r_own > 0.9, (own, r_own)
        assert r_other < r_own - 0.3, (own, r_own, r_other)


def test_border_pixels_mix_field_and_neighbour() -> None:
    from affine import Affine
    transform = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 100.0)
    cov = scenes._coverage([box(15.0, 0.0, 100.0, 100.0), box(0.0, 0.0, 15.0, 100.0)], (10, 10), transform, 10)
    dense = np.asarray(cov.todense()).reshape(10, 10, 2)
    assert np.allclose(dense[:, 1, 0], 0.5) and np.allclose(dense[:, 1, 1], 0.5)
    assert np.allclose(dense[:, 0, 1], 1.0) and np.allclose(dense[:, 5, 0], 1.0)
    assert np.allclose(dense.sum(axis=2), 1.0)


def test_scl_classes_present_with_their_meanings(stack: dict) -> None:
    a = stack["a"]
    scl = a[:, 10].astype(int)
    found = set(np.unique(scl))
    assert found <= {0, 3, 4, 5, 6, 8, 9, 10, 11}
    assert {0, 3, 4, 5, 6, 8, 9, 11} <= found, found
    ndvi = _ndvi(a)
    b02, b03, b11 = a[:, 0], a[:, 1], a[:, 8]
    assert np.median(ndvi[scl == 4]) > 0.5
    assert np.median(ndvi[scl == 5]) < 0.35
    assert np.median(ndvi[scl == 6]) < 0.0
    assert np.median(b02[scl == 9]) > 3000                        # bright, opaque cloud
    assert np.median(b02[scl == 9]) > np.median(b02[scl == 8])
    clear_nir = np.median(a[:, 6][np.isin(scl, (4, 5))])
    assert np.median(a[:, 6][scl == 3]) < 0.8 * clear_nir           # shadows are darker
    snow = scl == 11
    ndsi = (b03[snow] - b11[snow]) / (b03[snow] + b11[snow])
    assert np.median(ndsi) > 0.5                         # snow: bright visible, dark SWIR


def test_cloud_share_as_configured() -> None:
    start = date(2000, 1, 1)
    dates = [start + timedelta(days=5 * k) for k in range(365 * 100 // 5)]
    for region, cfg in _clouds.CLOUDINESS.items():
        plans = _clouds.plan_sky(dates, region, np.random.default_rng(1))
        months = np.array([d.month for d in dates])
        mostly = np.array([p.regime == "mostly" for p in plans])
        for m in range(1, 13):
            assert abs(mostly[months == m].mean() - cfg.mostly[m - 1]) < 0.06, (region, m)
        missing = np.mean([p.missing for p in plans])
        assert abs(missing - cfg.missing) < 0.015
    neb = _clouds.CLOUDINESS["us-nebraska"]
    assert 0.20 <= np.mean(neb.mostly) <= 0.30
    ind = _clouds.CLOUDINESS["in-smallholder"]
    assert all(0.30 <= ind.mostly[m - 1] + 0.5 * ind.partly[m - 1] for m in (6, 7, 8, 9))
    assert all(ind.mostly[m - 1] < 0.2 for m in (1, 2, 3, 11, 12))


def test_rendered_cloud_share_matches_the_plan(stack: dict) -> None:
    cloud = np.isin(stack["a"][:, 10], (8, 9, 10)).mean(axis=(1, 2))
    assert 0.15 <= (cloud > 0.5).mean() <= 0.45
    assert (cloud < 0.05).mean() >= 0.3


def test_sky_fields_cover_shadow_and_unflagged_haze() -> None:
    rng = np.random.default_rng(0)
    base = _clouds.SkyPlan(missing=False, regime="partly", cover=0.3, haze=0.0, cirrus=0.0, snow=0.0, frost=0.0,
                           wetness=1.0, cloud_height_m=2000.0)
    sky = _clouds.sky_fields(rng, (200, 200), 10.0, base, "us-nebraska", 6)
    assert 0.15 <= (sky["cloud"] >= 0.3).mean() <= 0.35
    shadow = sky["shadow"] >= 0.3
    assert shadow.any() and (shadow & (sky["cloud"] < 0.3)).any()     # shadows are offset from clouds
    hazy = _clouds.sky_fields(rng, (200, 200), 10.0, replace(base, cover=0.0, haze=0.04), "us-nebraska", 6)
    assert "cloud" not in hazy and 0.0 < hazy["haze"].max() < 0.1
    red = np.full((100, 100), 500.0)
    nir = np.full((100, 100), 3000.0)
    water = np.zeros(200 * 200, dtype=np.float32)
    scl = scenes._scl(red, nir, {k: v.ravel() for k, v in hazy.items()}, water, (200, 200))
    assert set(np.unique(scl)) == {4}                                   # SCL misses thin haze


def test_frost_and_snow_in_nebraska_winters_only() -> None:
    assert _clouds.frost(date(2018, 1, 15), True) >= 0.5
    assert _clouds.frost(date(2018, 7, 1), True) == 0.0
    assert _clouds.frost(date(2018, 1, 15), False) == 0.0
    dates = [date(2000, 1, 1) + timedelta(days=5 * k) for k in range(365 * 10 // 5)]
    for region, wants in (("us-nebraska", True), ("in-smallholder", False)):
        plans = _clouds.plan_sky(dates, region, np.random.default_rng(2))
        winter = [p.snow > 0 for d, p in zip(dates, plans) if d.month in (12, 1, 2)]
        summer = [p.snow > 0 for d, p in zip(dates, plans) if d.month in (6, 7, 8)]
        assert not any(summer)
        assert (np.mean(winter) > 0.2) == wants, region


def test_same_seed_gives_identical_bytes_and_crop_names_do_not_matter(county: Path, tmp_path: Path) -> None:
    """Re-rendering part of the season in one process reproduces the two-process files byte for byte,
    even after relabelling every field's crop: crop identity reaches the scenes only through canopy."""
    other = tmp_path / "c"
    make_fake_county(other, region="us-nebraska", seed=3, n_rows=2, n_cols=3, field_m=300.0)
    truth = pd.read_parquet(other / "truth" / "fields.parquet")
    truth["true_crop"] = "maize"
    truth.to_parquet(other / "truth" / "fields.parquet", index=False)
    window = (date(2018, 6, 1), date(2018, 7, 31))
    scenes.render_scenes(other, SEED, workers=1, between=window)
    idx = pd.read_csv(other / "scenes" / "index.csv", dtype=str)
    full = pd.read_csv(county / "scenes" / "index.csv", dtype=str)
    assert len(idx) >= 8
    assert list(idx["path"]) == [p for d, p in zip(full["date"], full["path"]) if "2018-06-01" <= d <= "2018-07-31"]
    for p in idx["path"]:
        assert (other / "scenes" / p).read_bytes() == (county / "scenes" / p).read_bytes(), p
    scenes.render_scenes(other, SEED + 1, workers=1, between=window)
    p = idx["path"].iloc[0]
    assert (other / "scenes" / p).read_bytes() != (county / "scenes" / p).read_bytes()


def test_spectral_library_is_shared_by_all_crops() -> None:
    from democounty._presets import PRESETS
    crops = {c.name for p in PRESETS.values() for c in p.crops}
    assert not any(c in name for c in crops for name in _spectra.LIBRARY)
    assert all(len(v) == len(_spectra.BANDS) for v in _spectra.LIBRARY.values())
    green = _spectra.spectrum("green_veg")
    assert 0.83 <= _spectra.ndvi(green) <= 0.9
    for soil in ("soil_dark_loam", "soil_silt_loam", "soil_sandy", "soil_red_laterite", "soil_black_vertisol"):
        assert 0.1 <= _spectra.ndvi(_spectra.spectrum(soil)) <= 0.25, soil
    more_chl = green + 0.3 * np.asarray(_spectra.GREEN_VEG_CHL, dtype=np.float32)
    assert more_chl[_spectra.BANDS.index("B05")] < green[_spectra.BANDS.index("B05")]
    assert more_chl[_spectra.BANDS.index("B08")] == green[_spectra.BANDS.index("B08")]
