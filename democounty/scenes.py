"""Render the demo county's Sentinel-2 L2A scenes from its truth, in the scene-index layout.

``render_scenes(county_dir, seed)`` reads ``county.json`` and ``truth/`` (canopy, planted
polygons, land cover, per-field soil brightness and chlorophyll) and writes
``scenes/index.csv`` and ``scenes/YYYY/S2_<tile>_<YYYYMMDD>.tif``: one acquisition every 5 days
over the union of the seasons' imagery windows (``features/data/season_windows.csv``), as
Cloud-Optimized GeoTIFFs (tiled 512, DEFLATE with predictor 2, band interleaved, header and IFD
first, no overviews), in the county's UTM CRS at 10 m on the
grid of ``county.json`` bounds. Bands B02 B03 B04 B05 B06 B07 B08 B8A B11 B12 are uint16
reflectance × 10000 (the 20 m bands are made at 20 m by averaging 2×2 and brought back to 10 m
by nearest, as L2A does), then SCL (real class codes) as band 11.

Reflectance is a linear canopy–soil mixture per pixel, with ONE spectral library for every crop
(``_spectra``): green cover × green vegetation (its red edge and green bands shifted by the
field's leaf chlorophyll) + senescent cover × senescent vegetation + the rest × the field's soil
(two regional soils blended per field, scaled by its brightness, darker when wet), or water where
the field is flooded. Sub-pixel coverage comes from rasterising the truly planted polygons and the
land cover at 1–2 m and averaging, so border pixels mix a field with its neighbour. Fields' pixels
outside any planted polygon are bare soil; pixels outside fields and land cover are grass.
Sky, snow and frost come from ``_clouds``; sensor noise is Gaussian per band.

Work is split so dates are cheap: static rasters (coverage matrices, soil, land cover) are built
once; each date only multiplies a sparse coverage matrix by the fields' canopy of that date and a
(features × bands) matrix by the spectra. Dates are rendered by ``workers`` forked processes,
each date with its own seeded generator, so output bytes do not depend on scheduling.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from democounty._clouds import CLOUD_SPECTRUM, SkyPlan, plan_sky, sky_fields, smooth_field
from democounty._spectra import BANDS, BANDS_20M, CHL_REF, GREEN_VEG_CHL, REGION_SOILS, spectrum

__all__ = ["render_scenes", "acquisition_dates", "season_windows", "SCENE_BANDS", "SCL"]

SCENE_BANDS: tuple[str, ...] = (*BANDS, "SCL")
#: SCL class codes used
SCL = {"no_data": 0, "cloud_shadow": 3, "vegetation": 4, "bare_soil": 5, "water": 6,
       "cloud_medium": 8, "cloud_high": 9, "cirrus": 10, "snow": 11}
#: empty: the synthetic digital numbers are harmonised (reflectance × 10,000, no baseline offset), as Sentinel Hub
#: delivers them with harmonizeValues — a 04.00+ baseline would say they carry +1000 (features.sources.local)
PROCESSING_BASELINE = ""
_ANCHOR = date(2015, 7, 4)          # acquisitions fall on ANCHOR + 5k days
_DEFAULT_WINDOWS = {"us-nebraska": ("09-15", -1, "11-30", 0), "in-smallholder": ("05-15", 0, "02-28", 1)}
_LANDCOVER = ("road", "water", "trees", "built_up", "grass")
_NOISE_10M, _NOISE_20M = 0.0010, 0.0007
_I20 = [BANDS.index(b) for b in BANDS_20M]
_I10 = [i for i in range(len(BANDS)) if i not in _I20]
_GTIFF = {"driver": "GTiff", "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE",
          "predictor": 2, "interleave": "band", "zlevel": 1, "copy_src_overviews": True}


# ----------------------------------------------------------------------------- dates

def season_windows(region: str, seasons: list[str]) -> dict[str, tuple[date, date]]:
    """First and last day of each season's imagery window (``features/data/season_windows.csv``)."""
    row: tuple[str, int, str, int] = _DEFAULT_WINDOWS[region]
    path = Path(__file__).resolve().parents[1] / "features" / "data" / "season_windows.csv"
    if path.exists():
        tab = pd.read_csv(path, dtype=str)
        hit = tab[tab["region"].str.strip() == region]
        if len(hit):
            r = hit.iloc[0]
            row = (r["start"].strip(), int(r["start_year_offset"]), r["end"].strip(), int(r["end_year_offset"]))
    out = {}
    for s in seasons:
        y = int(s)
        sm, sd = (int(v) for v in row[0].split("-"))
        em, ed = (int(v) for v in row[2].split("-"))
        out[str(s)] = (date(y + row[1], sm, sd), date(y + row[3], em, ed))
    return out


def acquisition_dates(windows: dict[str, tuple[date, date]]) -> list[date]:
    """Every 5th day (on a fixed grid) inside the union of the windows, ascending, each once."""
    days: set[date] = set()
    for start, end in windows.values():
        k = -((_ANCHOR - start).days // 5)
        d = _ANCHOR + timedelta(days=5 * k)
        while d <= end:
            if d >= start:
                days.add(d)
            d += timedelta(days=5)
    return sorted(days)


# ----------------------------------------------------------------------------- static rasters

@dataclass
class _Static:
    shape: tuple[int, int]            # working grid: the county's, plus a row/column when odd (even for 20 m)
    out_shape: tuple[int, int]        # the county's grid
    transform: Any
    crs: str
    lc: np.ndarray                    # (5, npix) land-cover fractions
    rest: np.ndarray                  # (npix,) 1 - land cover
    infield: np.ndarray               # (npix,) 1 inside a field, 0 elsewhere
    soil_a: np.ndarray                # (npix,) brightness × share of the region's first soil
    soil_b: np.ndarray                # (npix,) brightness × share of the second
    coverage: sparse.csr_matrix       # (npix, n distinct planted polygons) covered share of each pixel
    cols: dict[str, np.ndarray]       # season -> polygon (column of coverage) of each field of the season
    chl_dev: dict[str, np.ndarray]    # season -> relative chlorophyll deviation per field
    green: dict[str, np.ndarray]      # season -> (n dates, n fields)
    senescent: dict[str, np.ndarray]
    flooded: dict[str, np.ndarray]
    snow_weight: np.ndarray           # (npix,) how much of a snowfall lies on the pixel (less under trees)


def _supersample(shape: tuple[int, int]) -> int:
    for f in (10, 5, 2):
        if shape[0] * shape[1] * f * f <= 16_000_000:
            return f
    return 1


def _rasterize(shapes: list[tuple[Any, int]], shape: tuple[int, int], transform: Any, dtype: str) -> np.ndarray:
    from rasterio.features import rasterize
    if not shapes:
        return np.zeros(shape, dtype=dtype)
    return rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype=dtype)


def _coverage(geoms: list[Any], shape: tuple[int, int], transform: Any, f: int) -> sparse.csr_matrix:
    """(npix, len(geoms)) share of each pixel covered by each polygon, from an f×f supersampled raster.

    Polygons that overlap each other are put on separate layers, so each is counted in full.
    Pixels whose f×f block holds one label are taken whole; only mixed blocks are counted cell by cell.
    """
    from affine import Affine
    from shapely import STRtree
    h, w = shape
    fine = transform @ Affine.scale(1.0 / f)
    layer = np.zeros(len(geoms), dtype=np.int64)
    if len(geoms):
        tree = STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        earlier: dict[int, list[int]] = {}
        for i, j in zip(left, right):
            if i < j and geoms[i].intersection(geoms[j]).area > 1.0:
                earlier.setdefault(int(j), []).append(int(i))
        for j in sorted(earlier):            # greedy colouring: overlapping polygons never share a layer
            used = {int(layer[i]) for i in earlier[j]}
            layer[j] = min(k for k in range(len(used) + 1) if k not in used)
    rows_all, cols_all, vals_all = [], [], []
    for lay in range(int(layer.max()) + 1 if len(geoms) else 0):
        idx = np.flatnonzero(layer == lay)
        lab = _rasterize([(geoms[i], int(i) + 1) for i in idx], (h * f, w * f), fine, "int32")
        blocks = lab.reshape(h, f, w, f)
        lo, hi = blocks.min(axis=(1, 3)).ravel(), blocks.max(axis=(1, 3)).ravel()
        whole = np.flatnonzero((lo == hi) & (lo > 0))
        rows_all.append(whole)
        cols_all.append(lo[whole] - 1)
        vals_all.append(np.ones(len(whole), dtype=np.float32))
        mixed = np.flatnonzero(lo != hi)
        sub = blocks.transpose(0, 2, 1, 3).reshape(h * w, f * f)[mixed]
        r, k = np.nonzero(sub)
        rows_all.append(mixed[r])
        cols_all.append(sub[r, k] - 1)
        vals_all.append(np.full(len(r), 1.0 / (f * f), dtype=np.float32))
    if not rows_all:
        return sparse.csr_matrix((h * w, len(geoms)), dtype=np.float32)
    return sparse.coo_matrix((np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
                             shape=(h * w, len(geoms))).tocsr()


def _read_vector(path: Path, crs: str) -> Any:
    import geopandas as gpd
    if not path.exists():
        return None
    gdf = gpd.read_file(path)
    if len(gdf) and gdf.crs is not None and str(gdf.crs) != crs:
        gdf = gdf.to_crs(crs)
    return gdf


def _chl_dev(chl: np.ndarray) -> np.ndarray:
    """Relative chlorophyll deviation: µg/cm² around CHL_REF, or a relative factor around 1."""
    chl = np.nan_to_num(chl.astype(np.float64), nan=CHL_REF)
    dev = chl / CHL_REF - 1.0 if np.median(chl) > 5.0 else chl - 1.0
    return np.clip(dev, -0.6, 0.6).astype(np.float32)


def _build_static(county_dir: Path, meta: dict[str, Any], dates: list[date], seed: int) -> _Static:
    from affine import Affine
    xmin, ymin, xmax, ymax = (float(v) for v in meta["bounds"])
    px = float(meta.get("pixel_size", 10))
    out_shape = (int(round((ymax - ymin) / px)), int(round((xmax - xmin) / px)))
    shape = (out_shape[0] + out_shape[0] % 2, out_shape[1] + out_shape[1] % 2)
    transform = Affine(px, 0.0, xmin, 0.0, -px, ymax)
    crs = str(meta["crs"])
    npix = shape[0] * shape[1]
    f = _supersample(shape)
    truth = county_dir / "truth"

    lc = np.zeros((len(_LANDCOVER), npix), dtype=np.float32)
    land = _read_vector(truth / "landcover.gpkg", crs)
    if land is not None and len(land):
        cov = _coverage(list(land.geometry), shape, transform, f)
        codes = np.array([_LANDCOVER.index(c) if c in _LANDCOVER else _LANDCOVER.index("grass")
                          for c in land["class"].astype(str)])
        onehot = sparse.csr_matrix((np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
                                   shape=(len(codes), len(_LANDCOVER)))
        lc = np.asarray((cov @ onehot).T.todense(), dtype=np.float32)
        lc /= np.maximum(lc.sum(axis=0), 1.0)
    rest = np.clip(1.0 - lc.sum(axis=0), 0.0, 1.0).astype(np.float32)

    fields = pd.read_parquet(truth / "fields.parquet")
    fields["season"] = fields["season"].astype(str)
    fields["field_id"] = fields["field_id"].astype(str)
    per_field = fields.groupby("field_id", sort=True)["soil_brightness"].mean()
    fids = list(per_field.index)
    fpos = {fid: i for i, fid in enumerate(fids)}
    rng = np.random.default_rng([seed, 4242])
    mix = rng.beta(2.0, 2.0, size=len(fids)).astype(np.float32)
    bright = np.clip(np.nan_to_num(per_field.to_numpy(np.float64), nan=1.0), 0.5, 2.0).astype(np.float32)

    planted = _read_vector(truth / "planted.gpkg", crs)
    declared = _read_vector(county_dir / "records" / "fields.gpkg", crs)
    shapes = []
    for gdf in (declared, planted):
        if gdf is not None and len(gdf):
            ids = gdf["field_id"].astype(str)
            shapes += [(g, fpos[i] + 1) for g, i in zip(gdf.geometry, ids) if i in fpos and g is not None]
    fmap = _rasterize(shapes, shape, transform, "int32").ravel()
    infield = (fmap > 0).astype(np.float32)
    grain = smooth_field(np.random.default_rng([seed, 4243]), shape, (8.0, 2.0), (1.0, 0.5)).ravel()
    b_px = np.where(fmap > 0, bright[np.maximum(fmap - 1, 0)], 1.0) * (1.0 + 0.04 * grain)
    m_px = np.where(fmap > 0, mix[np.maximum(fmap - 1, 0)], 0.5)
    soil_a = (b_px * (1.0 - m_px)).astype(np.float32)
    soil_b = (b_px * m_px).astype(np.float32)

    canopy = pd.read_parquet(truth / "canopy.parquet")
    canopy["season"] = canopy["season"].astype(str)
    canopy["field_id"] = canopy["field_id"].astype(str)
    day = pd.to_datetime(canopy["date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    grid = np.array([np.datetime64(d, "D").astype(np.int64) for d in dates])
    di = np.searchsorted(grid, day)
    ok = (di < len(grid)) & (grid[np.minimum(di, len(grid) - 1)] == day)
    canopy = canopy[ok].assign(_di=di[ok])
    if "flooded" not in canopy:
        canopy["flooded"] = False

    cols: dict[str, np.ndarray] = {}
    chl: dict[str, np.ndarray] = {}
    green: dict[str, np.ndarray] = {}
    sen: dict[str, np.ndarray] = {}
    flood: dict[str, np.ndarray] = {}
    chl_of = fields.set_index(["field_id", "season"])["chlorophyll"] if "chlorophyll" in fields else None
    uniq: dict[tuple[str, bytes], int] = {}
    geoms: list[Any] = []
    for s in sorted(set(map(str, meta["seasons"]))):
        sub = planted[planted["season"].astype(str) == s] if planted is not None and len(planted) else None
        if sub is None or not len(sub):
            continue
        keys = list(sub["field_id"].astype(str))
        col = []
        for k, g in zip(keys, sub.geometry):
            key = (k, g.wkb)
            if key not in uniq:
                uniq[key] = len(geoms)
                geoms.append(g)
            col.append(uniq[key])
        cols[s] = np.asarray(col, dtype=np.int64)
        vals = np.array([chl_of.get((k, s), CHL_REF) if chl_of is not None else CHL_REF for k in keys])
        chl[s] = _chl_dev(vals)
        pos = {k: i for i, k in enumerate(keys)}
        c = canopy[canopy["season"] == s]
        j = c["field_id"].map(pos)
        keep = j.notna().to_numpy()
        rows, cc = c["_di"].to_numpy()[keep], j.to_numpy()[keep].astype(np.int64)
        for name, store in (("green_cover", green), ("senescent_cover", sen), ("flooded", flood)):
            arr = np.zeros((len(dates), len(keys)), dtype=np.float32)
            arr[rows, cc] = np.nan_to_num(c[name].to_numpy(np.float32)[keep])
            store[s] = np.clip(arr, 0.0, 1.0)
    coverage = _coverage(geoms, shape, transform, f)
    snow_weight = (1.0 - 0.6 * lc[_LANDCOVER.index("trees")]).astype(np.float32)
    return _Static(shape, out_shape, transform, crs, lc, rest, infield, soil_a, soil_b, coverage, cols, chl, green,
                   sen, flood, snow_weight)


# ----------------------------------------------------------------------------- one date

def _background(day: date, region: str) -> dict[str, np.ndarray]:
    """Seasonal spectra of grass and trees on ``day`` (the same for every field and crop)."""
    doy = day.timetuple().tm_yday
    peak, lo, amp = (170, 0.45, 0.40) if region == "us-nebraska" else (240, 0.40, 0.35)
    gf = float(np.clip(lo + amp * np.cos(2 * np.pi * (doy - peak) / 365.25), 0.05, 0.85))
    leaf = float(np.clip(0.5 + 0.7 * np.cos(2 * np.pi * (doy - 190) / 365.25), 0.0, 1.0)) \
        if region == "us-nebraska" else 0.85
    soil = spectrum(REGION_SOILS[region][0])
    grass = gf * spectrum("green_veg") * 0.9 + (1 - gf) * (0.6 * spectrum("senescent_veg") + 0.4 * soil)
    trees = leaf * spectrum("trees") + (1 - leaf) * spectrum("bare_trees")
    return {"grass": grass.astype(np.float32), "trees": trees.astype(np.float32)}


def _block_mean(a: np.ndarray) -> np.ndarray:
    """2×2 block means over the last two axes (even sizes: the working grid is even)."""
    return 0.25 * (a[..., 0::2, 0::2] + a[..., 1::2, 0::2] + a[..., 0::2, 1::2] + a[..., 1::2, 1::2])


def _mix(st: _Static, i: int, day: date, region: str, plan: SkyPlan) -> tuple[np.ndarray, np.ndarray]:
    """Ground reflectance (10, npix) and water share (npix) on date ``i``."""
    npix = st.rest.size
    v = np.zeros((st.coverage.shape[1], 4), dtype=np.float32)   # green, green × chl dev, senescent, flooded bare
    for s, cols in st.cols.items():
        g, se, fl = st.green[s][i], st.senescent[s][i], st.flooded[s][i]
        if not (g.any() or se.any() or fl.any()):
            continue
        g_eff = g * (1.0 - plan.frost)
        se_eff = np.minimum(se + g * plan.frost, 1.0 - g_eff)
        np.add.at(v, cols, np.stack([g_eff, g_eff * st.chl_dev[s], se_eff,
                                     fl * np.clip(1.0 - g_eff - se_eff, 0.0, 1.0)], axis=1))
    veg = np.ascontiguousarray((st.coverage @ v).T) if v.any() else np.zeros((4, npix), dtype=np.float32)
    total = veg[0] + veg[2] + veg[3]
    over = total > st.rest
    if over.any():
        veg[:, over] *= st.rest[over] / total[over]
        total = np.minimum(total, st.rest)
    bare = st.rest - total
    bg = _background(day, region)
    soil_a = spectrum(REGION_SOILS[region][0]) * plan.wetness
    soil_b = spectrum(REGION_SOILS[region][1]) * plan.wetness
    feats = np.concatenate([st.lc, veg, (bare * st.infield * st.soil_a)[None], (bare * st.infield * st.soil_b)[None],
                            (bare * (1.0 - st.infield))[None]], axis=0)
    spectra = np.stack([spectrum("road"), spectrum("water"), bg["trees"], spectrum("built_up"), bg["grass"],
                        spectrum("green_veg"), np.asarray(GREEN_VEG_CHL, np.float32), spectrum("senescent_veg"),
                        spectrum("water"), soil_a, soil_b, bg["grass"]], axis=1)     # (10, 12)
    water = st.lc[_LANDCOVER.index("water")] + veg[3]
    return spectra @ feats, water


def _limit_threads() -> Any:
    """Keep BLAS to one thread (its products here are small; the worker processes are the parallelism)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return None
    _STATE["threads"] = threadpool_limits(1)
    return _STATE["threads"]


def _pool_worker() -> None:
    """A render pool's worker: one BLAS thread, and a Ctrl-C left to the parent
    (:func:`democounty._growth.quiet_worker`; never in the parent itself, whose SIGINT ignored would be inherited by
    every process it starts — a CI run caught it)."""
    from democounty._growth import quiet_worker

    quiet_worker()
    _limit_threads()


def _blend(refl: np.ndarray, alpha: np.ndarray, target: np.ndarray) -> None:
    """In place: refl ← refl × (1 − alpha) + alpha × target (target per band)."""
    tmp = target[:, None] - refl
    tmp *= alpha
    refl += tmp


def _render(i: int) -> dict[str, str] | None:
    st, ctx = _STATE["static"], _STATE["ctx"]
    day, plan = ctx["dates"][i], ctx["plans"][i]
    if plan.missing:
        return None
    he, we = st.shape
    region = ctx["region"]
    rng = np.random.default_rng([ctx["seed"], day.toordinal(), 17])
    refl, water = _mix(st, i, day, region, plan)
    sky = {k: v.ravel() for k, v in sky_fields(rng, st.shape, abs(st.transform.a), plan, region, day.month).items()}
    cs = np.asarray(CLOUD_SPECTRUM, np.float32)
    if "snow" in sky:
        sky["snow"] = sky["snow"] * st.snow_weight * (1.0 - np.minimum(water, 1.0))
        _blend(refl, sky["snow"], spectrum("snow"))
    if "cloud" in sky:
        refl *= 1.0 - sky["shadow"] * (1.0 - sky["cloud"])
    for layer in ("haze", "cirrus", "cloud"):
        if layer in sky:
            _blend(refl, sky[layer], cs)
    refl = refl.reshape(len(BANDS), he, we)
    out = np.empty((len(SCENE_BANDS), he, we), dtype=np.uint16)
    r10 = refl[_I10]
    r10 += _NOISE_10M * rng.standard_normal(r10.shape, dtype=np.float32)
    r10 *= 10000.0
    r10 += 0.5
    out[_I10] = np.clip(r10, 1.0, 65535.0, out=r10)
    r20 = _block_mean(refl[_I20])
    r20 += _NOISE_20M * rng.standard_normal(r20.shape, dtype=np.float32)
    r20 *= 10000.0
    r20 += 0.5
    q20 = np.clip(r20, 1.0, 65535.0, out=r20).astype(np.uint16)
    scl = _scl(_block_mean(r10[_I10.index(BANDS.index("B04"))]), r20[BANDS_20M.index("B8A")], sky, water, st.shape)
    for dr in (0, 1):
        for dc in (0, 1):
            out[_I20, dr::2, dc::2] = q20
            out[-1, dr::2, dc::2] = scl
    if plan.swath_edge > 0.0:       # swath edge: a slanted line, east of it no data
        rr, cc = np.mgrid[0:he // 2, 0:we // 2]       # on the 20 m grid, so 2×2 blocks stay whole
        slant = cc + 0.2 * rr
        edge = slant > (1.0 - plan.swath_edge) * float(slant.max())
        out[:, np.repeat(np.repeat(edge, 2, axis=0), 2, axis=1)] = 0
    h, w = st.out_shape
    return _write(out[:, :h, :w], st, day, ctx)


def _scl(red20: np.ndarray, nir20: np.ndarray, sky: dict[str, np.ndarray], water: np.ndarray,
         shape: tuple[int, int]) -> np.ndarray:
    """Scene classification at 20 m from 20 m reflectance and the sky fields (thin haze is missed)."""
    def b20(a: np.ndarray) -> np.ndarray:
        return _block_mean(a.reshape(shape))
    scl = np.full(red20.shape, SCL["bare_soil"], dtype=np.uint16)
    scl[(nir20 - red20) >= 0.35 * np.maximum(nir20 + red20, 1e-6)] = SCL["vegetation"]
    scl[b20(water) >= 0.5] = SCL["water"]
    if "snow" in sky:
        scl[b20(sky["snow"]) >= 0.5] = SCL["snow"]
    cloud = b20(sky["cloud"]) if "cloud" in sky else None
    if cloud is not None:
        scl[(b20(sky["shadow"]) >= 0.3) & (cloud < 0.3)] = SCL["cloud_shadow"]
    if "cirrus" in sky:
        scl[b20(sky["cirrus"]) >= 0.10] = SCL["cirrus"]
    if cloud is not None:
        scl[cloud >= 0.3] = SCL["cloud_medium"]
        scl[cloud >= 0.7] = SCL["cloud_high"]
    return scl


def _write(out: np.ndarray, st: _Static, day: date, ctx: dict[str, Any]) -> dict[str, str]:
    """Write one scene as a COG: built in memory, then copied with its header and IFD first."""
    import rasterio
    from rasterio.shutil import copy as copy_dataset
    rel = f"{day.year}/S2_{ctx['tile']}_{day:%Y%m%d}.tif"
    path = ctx["root"] / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open("scene", "w", driver="MEM", count=out.shape[0], height=out.shape[1], width=out.shape[2],
                       dtype="uint16", crs=st.crs, transform=st.transform, nodata=0) as mem:
        mem.write(out)
        for k, name in enumerate(SCENE_BANDS, start=1):
            mem.set_band_description(k, name)
        copy_dataset(mem, path, **ctx["profile"])
    return {"date": day.isoformat(), "tile_id": ctx["tile"], "path": rel, "bands": ";".join(SCENE_BANDS),
            "scale": "0.0001", "offset": "0", "nodata": "0", "cloud_mask": "SCL",
            "processing_baseline": PROCESSING_BASELINE}


# ----------------------------------------------------------------------------- entry point

_STATE: dict[str, Any] = {}
INDEX_COLUMNS = ("date", "tile_id", "path", "bands", "scale", "offset", "nodata", "cloud_mask", "processing_baseline")


def _tile_id(crs: str) -> str:
    code = int(str(crs).split(":")[-1])
    zone, south = code % 100, code // 100 == 327
    return f"{zone:02d}{'S' if south else 'N'}DEMO"


def render_scenes(county_dir: Path, seed: int, *, workers: int = 2,
                  between: tuple[date, date] | None = None) -> None:
    """Write ``scenes/index.csv`` and the scenes of the county at ``county_dir`` (see module docstring).

    Reads ``county.json`` and ``truth/``; replaces any existing ``scenes/`` folder (built aside in
    ``scenes.partial`` and renamed at the end). Same county and seed give byte-identical files.
    ``between`` (first, last day) renders only the acquisitions in that range, each exactly as a
    full render would (the sky of every date is drawn from the full date list).
    """
    county_dir = Path(county_dir)
    meta = json.loads((county_dir / "county.json").read_text())
    region = str(meta["region"])
    seasons = [str(s) for s in meta["seasons"]]
    dates = acquisition_dates(season_windows(region, seasons))
    static = _build_static(county_dir, meta, dates, seed)
    plans = plan_sky(dates, region, np.random.default_rng([seed, 9001]))
    root = county_dir / "scenes.partial"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    _STATE.update(static=static, ctx={"dates": dates, "plans": plans, "region": region, "seed": seed,
                                      "tile": _tile_id(static.crs), "root": root, "profile": _GTIFF})
    try:
        todo = [i for i, p in enumerate(plans)
                if not p.missing and (between is None or between[0] <= dates[i] <= between[1])]
        if workers > 1 and len(todo) > 1:
            with mp.get_context("fork").Pool(workers, initializer=_pool_worker) as pool:
                rows = pool.map(_render, todo, chunksize=max(1, len(todo) // (workers * 8)))
        else:
            limit = _limit_threads()
            try:
                rows = [_render(i) for i in todo]
            finally:
                if limit is not None:
                    limit.restore_original_limits()
    finally:
        _STATE.clear()
    with open(root / "index.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(r for r in rows if r is not None)
    final = county_dir / "scenes"
    if final.exists():
        shutil.rmtree(final)
    root.rename(final)
