"""Scene files of planted area on their pixel grids: files grouped by grid (:func:`_grids`), and the NDVI/NDWI
windows read from them (:func:`_scene_window`, memoised), one window alone or several together (:func:`_read_blocks`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from affine import Affine

from features._memo import Memo, file_key
from features.errors import ImageryError
from features.sources.local import SCL_CLEAR, Scene, scene_header

_BANDS = ("B04", "B08", "B03")


@dataclass(frozen=True)
class _Grid:
    crs_wkt: str
    res: float
    transform: Affine  # common grid covering every file of the group
    shape: tuple[int, int]
    scenes: tuple[Scene, ...]
    offsets: tuple[tuple[int, int, int, int], ...]  # per scene: row0, col0, height, width in the common grid


def _grids(scenes: Sequence[Scene]) -> list[_Grid]:
    """Group scene files by pixel grid (CRS, resolution, alignment) and lay each group on a common grid."""
    heads: dict[tuple[Any, ...], list[tuple[Scene, Affine, tuple[int, int]]]] = defaultdict(list)
    for sc in scenes:
        head = scene_header(sc.path)
        if head.crs_wkt is None:
            raise ImageryError(source=sc.path.name, problem="no CRS (georeferencing) in the file")
        wkt, t, shape = head.crs_wkt, head.transform, head.shape
        if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
            raise ImageryError(source=sc.path.name, problem="only north-up grids are supported "
                                                            f"(found transform {tuple(t)[:6]})")
        res = float(t.a)
        key = (wkt, res, float(-t.e), round(round((t.c / res) % 1.0, 4) % 1.0, 4),
               round(round((t.f / -t.e) % 1.0, 4) % 1.0, 4))
        heads[key].append((sc, t, shape))
    out = []
    for key in sorted(heads, key=lambda k: (-len(heads[k]), k)):
        items = heads[key]
        res, yres = key[1], key[2]
        x0 = min(t.c for _, t, _ in items)
        y1 = max(t.f for _, t, _ in items)
        x1 = max(t.c + w * res for _, t, (_, w) in items)
        y0 = min(t.f - h * yres for _, t, (h, _) in items)
        gt = Affine(res, 0.0, x0, 0.0, -yres, y1)
        shape = (round((y1 - y0) / yres), round((x1 - x0) / res))
        offs = tuple((round((y1 - t.f) / yres), round((t.c - x0) / res), h, w) for _, t, (h, w) in items)
        out.append(_Grid(key[0], res, gt, shape, tuple(s for s, _, _ in items), offs))
    return out


#: NDVI and NDWI of a window of a scene file, by file version, scene and window: a season's next checkpoint reads the
#: same windows of the scenes it shares with the last (county_features builds its end, then its mid: a subset). A
#: season of the demo county takes 16 MB: its 12 planted-area calls read 342 windows instead of 488 (17 → 14.5 CPU-s,
#: peak RSS +50 MB); a county whose seasons' windows exceed the bound gains nothing (least recently used go first)
_WINDOWS = Memo(max_items=4096, max_bytes=48 * 2**20)


def _scene_window(sc: Scene, win: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """NDVI and NDWI (read-only) of the window (col0, row0, width, height) of a scene file, NaN where not clear."""
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    fkey = file_key(sc.path)
    # a NaN nodata is no nodata (as below), and NaN != NaN would make every such scene a new key
    same = replace(sc, nodata=None) if sc.nodata is not None and np.isnan(sc.nodata) else sc
    key = None if fkey is None else (fkey, same, win)
    hit = _WINDOWS.get(key)
    if hit is not None:
        return hit
    names = list(_BANDS) + ([sc.mask_band] if sc.mask_band else [])
    idx = [sc.bands.index(b) + 1 for b in names]
    try:
        with rasterio.open(sc.path) as src:
            data = src.read(idx, window=Window(*win))  # type: ignore[call-arg]
    except RasterioError as e:
        raise ImageryError(source=sc.path.name, problem=f"unreadable scene file ({type(e).__name__})") from None
    dn = dict(zip(names, data, strict=True))
    ok = np.ones(data.shape[1:], dtype=bool)
    if sc.mask_band is not None:
        m = dn[sc.mask_band]
        ok &= np.isin(m, SCL_CLEAR) if sc.cloud_mask == "SCL" else (m == 0)
    if sc.nodata is not None and not np.isnan(sc.nodata):
        for b in _BANDS:
            ok &= dn[b] != sc.nodata
    red, nir, green = (_reflectance(dn[b], sc.scale, sc.offset) for b in _BANDS)
    # in place: the float32 operations of ``np.where(ok, (nir - red) / (nir + red), nan)``, bit for bit, without its
    # temporaries (they took half the time of a window read)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = nir - red
        v /= nir + red
        wv = green - nir
        wv /= green + nir
    not_ok = ~ok
    v[not_ok] = np.nan
    wv[not_ok] = np.nan
    v[~np.isfinite(v)] = np.nan
    v.flags.writeable = False  # shared by the calls the memo answers
    wv.flags.writeable = False
    _WINDOWS.put(key, (v, wv), v.nbytes + wv.nbytes)
    return v, wv


def _reflectance(dn: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """``dn.astype(float32) * float32(scale) + float32(offset)`` in place of its temporaries (the same values)."""
    r = dn.astype(np.float32)
    r *= np.float32(scale)
    r += np.float32(offset)
    return r


def _read_block(grid: _Grid, win: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, list[dt.date]]:
    """(T, H, W) NDVI and NDWI of the window (row0, col0, h, w) of the grid, one slice per date, NaN where none."""
    return _read_blocks(grid, [win])[0]


def _read_blocks(grid: _Grid, wins: Sequence[tuple[int, int, int, int]]
                 ) -> list[tuple[np.ndarray, np.ndarray, list[dt.date]]]:
    """:func:`_read_block` of each window of ``wins``, every scene read once for all of them: the union of the
    windows' parts it holds is read (:func:`_scene_window`) and each window takes its part of it. The blocks of a
    field set overlap the tile edges of the files (a field's block window reaches past its 512-pixel block), so read
    one by one each file's tiles were decompressed once per block touching them (the us-nebraska demo's scenes: four
    blocks, 2.5 times the reading of the whole file). Values are per pixel, so each window's stack is the one
    :func:`_read_block` of it alone gives, bit for bit (its dates, and per date the first clear tile wins in tile
    order)."""
    plans = []
    for r0, c0, h, w in wins:
        by_date: dict[dt.date, list[int]] = defaultdict(list)
        for i, (sc, (sr, scol, sh, sw)) in enumerate(zip(grid.scenes, grid.offsets, strict=True)):
            if sr < r0 + h and sr + sh > r0 and scol < c0 + w and scol + sw > c0:
                by_date[sc.date].append(i)
        dates = sorted(by_date)
        plans.append((by_date, {d: t for t, d in enumerate(dates)}, dates,
                      np.full((len(dates), h, w), np.nan, dtype=np.float32),
                      np.full((len(dates), h, w), np.nan, dtype=np.float32)))
    # every (date, scene) any window needs, in date then tile order: a window's fills keep its own order
    need: dict[dt.date, set[int]] = defaultdict(set)
    for by_date, *_ in plans:
        for d, idx in by_date.items():
            need[d].update(idx)
    for d in sorted(need):
        for i in sorted(need[d], key=lambda k: grid.scenes[k].tile_id):
            sc = grid.scenes[i]
            sr, scol, sh, sw = grid.offsets[i]
            missing = [b for b in _BANDS if b not in sc.bands]
            if missing:
                raise ImageryError(source=sc.path.name, problem="bands needed for planted area are not in the file",
                                   offenders=missing)
            parts = []
            for k, (r0, c0, h, w) in enumerate(wins):
                if i not in plans[k][0].get(d, ()):
                    continue
                parts.append((k, max(r0, sr), min(r0 + h, sr + sh), max(c0, scol), min(c0 + w, scol + sw)))
            u0, u1 = min(p[1] for p in parts), max(p[2] for p in parts)
            v0, v1 = min(p[3] for p in parts), max(p[4] for p in parts)
            vu, wvu = _scene_window(sc, (v0 - scol, u0 - sr, v1 - v0, u1 - u0))
            for k, a0, a1, b0, b1 in parts:
                r0, c0 = wins[k][0], wins[k][1]
                _, pos, _, ndvi, ndwi = plans[k]
                v = vu[a0 - u0:a1 - u0, b0 - v0:b1 - v0]
                wv = wvu[a0 - u0:a1 - u0, b0 - v0:b1 - v0]
                sl = (pos[d], slice(a0 - r0, a1 - r0), slice(b0 - c0, b1 - c0))
                fill = np.isnan(ndvi[sl]) & np.isfinite(v)  # the first clear tile of the date wins
                ndvi[sl] = np.where(fill, v, ndvi[sl])
                ndwi[sl] = np.where(fill, wv, ndwi[sl])
    return [(ndvi, ndwi, dates) for _, _, dates, ndvi, ndwi in plans]
