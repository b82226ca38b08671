"""A cheap synthetic portfolio for the scale-out benchmark (no crop model, no landscape).

``make_portfolio(out, n_fields)`` writes, seeded and deterministic:

- ``fields.parquet`` — GeoParquet in the Fields contract (field_id, season, farmer_token,
  declared_crop, declared_area_ha, region, geometry in EPSG:32644): smallholder rectangles
  of 0.15–0.8 ha, one per 100 m × 100 m cell, two fields per farmer;
- ``scenes/`` — the scene-index layout: square tiles of ``tile_px`` pixels at 10 m with real
  georeferencing (UTM 44N), side by side, ``n_dates`` acquisitions each, 4 bands (B02, B04,
  B08 as uint16 DN, scale 0.0001, and SCL), DEFLATE-compressed tiled GeoTIFFs. Each field
  follows a green-up/senescence curve (its own peak day and height); pixels get noise;
  every date has clouds (smooth random blobs, ~15 % of pixels, SCL 9 and bright DN).

A 2048-pixel tile holds 41,616 fields, so 100,000 fields take 3 tiles and a million 25.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Portfolio", "make_portfolio", "SEASON", "REGION", "BANDS"]

SEASON = "2025"
REGION = "in-smallholder"
BANDS = ("B02", "B04", "B08", "SCL")
CRS = "EPSG:32644"
X0, Y0 = 300_000.0, 2_000_000.0
CELL_M = 100.0
CROPS = ("rice", "maize", "cotton")


@dataclass(frozen=True)
class Portfolio:
    folder: Path
    fields: Path
    scenes: Path
    n_fields: int
    n_tiles: int
    dates: tuple[dt.date, ...]
    season: str = SEASON

    @property
    def as_of(self) -> dt.date:
        return self.dates[-1]


def _dates(n: int) -> tuple[dt.date, ...]:
    start = dt.date(int(SEASON), 6, 1)
    step = max(1, 240 // max(n, 1))
    return tuple(start + dt.timedelta(days=i * step) for i in range(n))


def _field_table(n_fields: int, tile_px: int, seed: int) -> tuple[dict[str, np.ndarray], int, int]:
    cells = int(tile_px * 10 // CELL_M)  # cells per tile side
    per_tile = cells * cells
    n_tiles = math.ceil(n_fields / per_tile)
    rng = np.random.default_rng(seed)
    i = np.arange(n_fields)
    tile, k = i // per_tile, i % per_tile
    row, col = k // cells, k % cells
    w = rng.uniform(40.0, 90.0, n_fields)
    h = rng.uniform(40.0, 90.0, n_fields)
    ox = rng.uniform(0.0, CELL_M - w - 1.0)
    oy = rng.uniform(0.0, CELL_M - h - 1.0)
    tile_w = tile_px * 10.0
    x0 = X0 + tile * tile_w + col * CELL_M + ox
    y1 = Y0 - row * CELL_M - oy
    return {"x0": x0, "x1": x0 + w, "y0": y1 - h, "y1": y1, "tile": tile,
            "peak": rng.uniform(60.0, 160.0, n_fields), "ccx": rng.uniform(0.4, 0.9, n_fields),
            "crop": rng.integers(0, len(CROPS), n_fields)}, n_tiles, cells


def _green(day: float, peak: np.ndarray, ccx: np.ndarray) -> np.ndarray:
    return ccx * np.exp(-0.5 * ((day - peak) / 35.0) ** 2)


def _clouds(rng: np.random.Generator, px: int, cover: float = 0.15) -> np.ndarray:
    coarse = rng.normal(size=(px // 64 + 2, px // 64 + 2))
    from scipy.ndimage import zoom

    fine = zoom(coarse, 64, order=1)[:px, :px]
    return fine > np.quantile(fine, 1.0 - cover)


def make_portfolio(out: str | Path, n_fields: int, *, seed: int = 0, tile_px: int = 2048,
                   n_dates: int = 12) -> Portfolio:
    """Write (or reuse, when complete) the synthetic portfolio in ``out``."""
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    folder = Path(out)
    done = folder / "portfolio.json"
    dates = _dates(n_dates)
    if done.is_file():
        meta = json.loads(done.read_text())
        if meta == {"n_fields": n_fields, "seed": seed, "tile_px": tile_px, "n_dates": n_dates}:
            return Portfolio(folder, folder / "fields.parquet", folder / "scenes", n_fields,
                             math.ceil(n_fields / (tile_px * 10 // int(CELL_M)) ** 2), dates)
    t, n_tiles, _ = _field_table(n_fields, tile_px, seed)
    (folder / "scenes").mkdir(parents=True, exist_ok=True)
    geoms = shapely.box(t["x0"], t["y0"], t["x1"], t["y1"])
    crops = np.asarray(CROPS, dtype=object)[t["crop"]]
    gdf = gpd.GeoDataFrame({
        "field_id": [f"P{i:07d}" for i in range(n_fields)], "season": SEASON,
        "farmer_token": [f"tok{i // 2:07d}" for i in range(n_fields)], "declared_crop": crops,
        "declared_area_ha": np.round(shapely.area(geoms) / 10_000.0, 2), "region": REGION}, geometry=geoms, crs=CRS)
    gdf.to_parquet(folder / "fields.parquet")
    rows = []
    rng = np.random.default_rng(seed + 1)
    for tile in range(n_tiles):
        sel = np.flatnonzero(t["tile"] == tile)
        transform = Affine(10.0, 0.0, X0 + tile * tile_px * 10.0, 0.0, -10.0, Y0)
        ids = rasterize(((g, int(j) + 1) for j, g in zip(sel, geoms[sel])), out_shape=(tile_px, tile_px),
                        transform=transform, fill=0, dtype="int32")
        inside = ids > 0
        fidx = ids[inside] - 1
        for d in dates:
            day = float((d - dt.date(int(SEASON), 5, 15)).days)
            g = np.full((tile_px, tile_px), 0.12, dtype=np.float32)
            g[inside] = _green(day, t["peak"], t["ccx"])[fidx]
            noise = rng.normal(0.0, 0.01, (3, tile_px, tile_px)).astype(np.float32)
            blue = 0.06 - 0.03 * g + noise[0]
            red = 0.09 - 0.07 * g + noise[1]
            nir = 0.22 + 0.35 * g + noise[2]
            cloud = _clouds(rng, tile_px)
            stack = np.stack([blue, red, nir])
            stack[:, cloud] = 0.45
            dn = np.clip(np.round(stack * 10_000.0), 1, 65_000).astype(np.uint16)
            scl = np.where(cloud, 9, 4).astype(np.uint16)
            rel = f"{d.year}/S2_T{tile:03d}_{d:%Y%m%d}.tif"
            path = folder / "scenes" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(path, "w", driver="GTiff", width=tile_px, height=tile_px, count=4, dtype="uint16",
                               crs=CRS, transform=transform, tiled=True, blockxsize=512, blockysize=512,
                               compress="deflate", zlevel=1, predictor=2) as dst:
                dst.write(np.concatenate([dn, scl[None]]))
            rows.append(f"{d.isoformat()},T{tile:03d},{rel},{';'.join(BANDS)},0.0001,0,0,SCL,")
    (folder / "scenes" / "index.csv").write_text(
        "date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline\n" + "\n".join(sorted(rows)) + "\n")
    done.write_text(json.dumps({"n_fields": n_fields, "seed": seed, "tile_px": tile_px, "n_dates": n_dates}))
    return Portfolio(folder, folder / "fields.parquet", folder / "scenes", n_fields, n_tiles, dates)
