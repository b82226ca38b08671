"""The scene reference: a fixed lattice of square cells per scene footprint, independent of the portfolio.

Scene offsets and the haze screen of :func:`features.timeseries.smooth_series` judge a date by what the whole
scene did on it (the median departure of many places from their own smoothed curves). Computed from the
fields being scored, a farmer's curve would depend on who else is in the portfolio (or in the same Dask
block). The reference replaces those fields by places chosen without looking at them: square cells of
:data:`REF_CELL_M` metres whose centres lie on a lattice anchored at absolute CRS coordinates (multiples of the
spacing), spaced (a whole multiple of the cell side) to give about :data:`REF_TARGET_CELLS` cells over the
scene's footprint, and only cells wholly inside it. Same file → same cells, whatever the fields are.

The cells' statistics come from the same zonal engine as the fields' (:func:`features.sources.local.scene_stats`,
pixel-centre rule, the scene's cloud mask), so their table is a FieldTimeSeries (ids ``REF-<crs>-<x>-<y>``,
:data:`REF_PREFIX`) — never mixed into the fields' output. :func:`build_reference` caches one Parquet file per
scene file under ``cache_dir/reference`` (atomic writes); the key holds the file's identity and the lattice
parameters, not the fields (a portfolio's field stats keep their own cache key).

Only scene folders have a reference (local GeoTIFFs, demo counties, Sentinel Hub Process-API downloads, which
become a scene folder); series tables and the Statistical API give per-field numbers only, and smooth as
without a reference.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from features.atomic import cached_table
from features.sources.local import Scene, combine_tiles, scene_cache_key, scene_stats

__all__ = ["REF_CELL_M", "REF_PREFIX", "REF_TARGET_CELLS", "REF_VARIABLES", "REFERENCE_VERSION", "SCENE_REFERENCE_ON",
           "build_reference", "reference_default",
           "is_reference", "reference_cells", "reference_stats"]

#: side of a reference cell (metres; converted to degrees at ~111.32 km per degree for a geographic CRS)
REF_CELL_M = 100.0
#: about this many cells per scene footprint (the spacing is the smallest whole multiple of the cell side
#: that gives no more)
REF_TARGET_CELLS = 400
#: ids of reference cells start with this
REF_PREFIX = "REF-"
#: the variables a reference is built for (the smoother's vegetation indices)
REF_VARIABLES = ("NDVI",)
#: bump when the reference's cells or statistics change, to invalidate its cache
REFERENCE_VERSION = "ref-1"
_M_PER_DEGREE = 111_320.0


def _crs_code(crs: Any) -> str:
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    return str(epsg) if epsg is not None else hashlib.sha256(c.to_wkt().encode()).hexdigest()[:8]


def reference_cells(bounds: tuple[float, float, float, float], crs: Any, *, cell_m: float = REF_CELL_M,
                    target: int = REF_TARGET_CELLS) -> gpd.GeoDataFrame:
    """The reference cells of a footprint ``(minx, miny, maxx, maxy)`` in ``crs``: field_id, geometry.

    Cell centres are whole multiples of the spacing in CRS units (so two footprints of one CRS share the cells they
    both hold wholly); the spacing is ``k × cell`` with the smallest whole ``k ≥ 1`` giving at most ``target``
    cells. Empty when no cell fits.
    """
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    cell = cell_m / _M_PER_DEGREE if c.is_geographic else cell_m
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    half = cell / 2.0

    def axis(lo: float, hi: float, spacing: float) -> np.ndarray:
        a = math.ceil((lo + half) / spacing - 1e-9)
        b = math.floor((hi - half) / spacing + 1e-9)
        return np.arange(a, b + 1, dtype=np.int64) * spacing if b >= a else np.zeros(0)

    k = max(1, math.ceil(math.sqrt(max(maxx - minx, 0.0) * max(maxy - miny, 0.0) / max(target, 1)) / cell))
    while True:
        xs, ys = axis(minx, maxx, k * cell), axis(miny, maxy, k * cell)
        if len(xs) * len(ys) <= target or k > 10_000:
            break
        k += 1
    while k > 1:  # the smallest k that gives no more than target cells
        xs2, ys2 = axis(minx, maxx, (k - 1) * cell), axis(miny, maxy, (k - 1) * cell)
        if len(xs2) * len(ys2) > target:
            break
        k, xs, ys = k - 1, xs2, ys2
    gx, gy = np.meshgrid(xs, ys[::-1])
    gx, gy = gx.ravel(), gy.ravel()
    code = _crs_code(c)
    fmt = "{:.6f}" if c.is_geographic else "{:.0f}"
    ids = [f"{REF_PREFIX}{code}-{fmt.format(x)}-{fmt.format(y)}" for x, y in zip(gx, gy, strict=True)]
    geoms = shapely.box(gx - half, gy - half, gx + half, gy + half)
    return gpd.GeoDataFrame({"field_id": pd.Series(ids, dtype="str")}, geometry=geoms, crs=c)


def is_reference(field_id: pd.Series) -> pd.Series:
    """True where a field_id is a reference cell's."""
    return field_id.astype("str").str.startswith(REF_PREFIX)


def reference_stats(scene: Scene, variables: Sequence[str] = REF_VARIABLES, *, cell_m: float = REF_CELL_M,
                    target: int = REF_TARGET_CELLS) -> pd.DataFrame:
    """Per-cell statistics of one scene file (a TILE_COLUMNS table, as :func:`scene_stats` returns for fields)."""
    import rasterio
    from rasterio.errors import RasterioError

    from features.errors import ImageryError

    try:
        with rasterio.open(scene.path) as src:
            bounds, crs = tuple(src.bounds), src.crs
    except RasterioError as e:
        raise ImageryError(source=scene.path.name, problem=f"unreadable scene file ({type(e).__name__})") from None
    if crs is None:
        raise ImageryError(source=scene.path.name, problem="no CRS (georeferencing) in the file")
    cells = reference_cells(bounds, crs, cell_m=cell_m, target=target)  # type: ignore[arg-type]
    return scene_stats(scene, cells, list(variables))


def _key(scene: Scene, variables: Sequence[str], cell_m: float, target: int) -> str:
    return scene_cache_key(scene, reference=REFERENCE_VERSION, variables=list(variables), cell_m=cell_m,
                           target=target)


def build_reference(scenes: Sequence[Scene], season: str, variables: Sequence[str] = REF_VARIABLES, *,
                    cache_dir: Path | None = None, cell_m: float = REF_CELL_M,
                    target: int = REF_TARGET_CELLS) -> tuple[pd.DataFrame, int, int]:
    """The scene reference of ``scenes`` for ``season``: (FieldTimeSeries of the cells, files read, from cache).

    One row per (cell, date, variable); a date seen on several tiles keeps, per cell, the tile with the most clear
    pixels (:func:`combine_tiles`). Cached per scene file under ``cache_dir/reference``.
    """
    from features.contracts import FIELD_TIME_SERIES

    parts: list[pd.DataFrame] = []
    read = cached = 0
    for sc in scenes:
        cpath = (Path(cache_dir) / "reference" / f"{_key(sc, variables, cell_m, target)}.parquet"
                 if cache_dir is not None else None)
        tile, hit = cached_table(cpath, partial(reference_stats, sc, variables, cell_m=cell_m, target=target))
        cached += hit
        read += not hit
        parts.append(tile)
    if not parts or all(p.empty for p in parts):
        return _empty(), read, cached
    tiles = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    for c in ("field_id", "variable", "tile_id"):
        tiles[c] = tiles[c].astype("str")
    df = combine_tiles(tiles)
    df["season"] = season
    df["season"] = df["season"].astype("str")
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for c in ("n_pixels", "n_clear"):
        df[c] = df[c].astype("int64")
    df = df.sort_values(["field_id", "date", "variable"], kind="mergesort")
    return df[FIELD_TIME_SERIES.names].reset_index(drop=True), read, cached


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
        ("field_id", "str"), ("season", "str"), ("date", "datetime64[ns]"), ("variable", "str"),
        ("mean", "float64"), ("std", "float64"), ("p10", "float64"), ("p50", "float64"), ("p90", "float64"),
        ("n_pixels", "int64"), ("n_clear", "int64"))})


#: production switch: build and use the scene reference by default (see reference_default)
SCENE_REFERENCE_ON = False


def reference_default() -> bool:
    """Whether production builds and smooths with the scene reference: ``AGCREDIT_SCENE_REFERENCE`` (``1``/``0``)
    when set, else :data:`SCENE_REFERENCE_ON`. Another value is a one-line error: it changes the features and so the
    decisions, and a misspelt ``enabled`` had left it off without a word."""
    import os

    from features.errors import UserInputError

    v = os.environ.get("AGCREDIT_SCENE_REFERENCE", "").strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    if v:
        raise UserInputError(f"AGCREDIT_SCENE_REFERENCE={v!r}: expected 1 (on) or 0 (off), or unset (off)")
    return SCENE_REFERENCE_ON
