"""Planted area from a scene folder: windowed reads → per-pixel trajectories → :mod:`features.area`.

:func:`planted_area` is the library front used by ``features build``. For the fields of a
season it

1. selects the scenes of the season window of the fields' region
   (:func:`features.series.season_window`) acquired no later than ``as_of`` — later files are
   never opened;
2. groups the files by pixel grid (same CRS, pixel size and grid alignment: overlapping tiles of
   one grid are mosaicked per date, the first clear pixel by tile_id wins, so an acquisition
   counts once per pixel);
3. reprojects the fields to each grid and processes them in spatial blocks (bounded memory):
   per block one window is read from every file (red, NIR, green and the cloud mask;
   DN × scale + offset; nodata and cloud → NaN), the (T, H, W) NDVI/NDWI stacks are summarised
   into per-pixel trajectories (cached in ``cache_dir`` per block and scene set; the permanent-vegetation test
   counts only pixels seen clear after the region's previous-season crops are harvested by the crop calendar,
   :func:`crops_standing_until`), then :func:`features.area.planted_area_from_trajectories`;
4. a field spanning several grids (e.g. two UTM zones) is cut into the part each grid covers,
   largest first, and the parts are summed.

Fields outside every scene get NaN and are listed in ``attrs["outside_fields"]``. Imagery that
has no pixels (a series table, ``sentinelhub-stats``) gives NaN rows and
``attrs["no_pixels"] = True``: the caller warns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from features._memo import Memo, file_key
from features.area import LEAD_DAYS, AreaParams, PixelTrajectory, pixel_trajectories, planted_area_from_trajectories
from features.atomic import private_tempdir, temp_beside
from features.contracts import check_fields, check_season
from features.errors import FieldsError, ImageryError
from features.sources import resolve_imagery
from features.sources.local import SCL_CLEAR, Scene, check_scene_files, read_index, scene_header, select_scenes

__all__ = [
    "AREA_COLUMNS",
    "AREA_ENGINE_VERSION",
    "planted_area",
    "pixel_samples",
    "field_region_groups",
    "crops_standing_until",
]

#: bump when the per-pixel summaries change, to invalidate caches
AREA_ENGINE_VERSION = "area-10"
AREA_COLUMNS = ("field_id", "planted_area_ha", "planted_area_sd_ha", "planted_fraction", "noncrop_fraction",
                "n_pixels_touched", "min_clear_obs")
#: block edge in pixels: a block's stack is at most T × BLOCK² float32 per index
BLOCK = 512
_BANDS = ("B04", "B08", "B03")


@dataclass(frozen=True)
class _Grid:
    crs_wkt: str
    res: float
    transform: Affine  # common grid covering every file of the group
    shape: tuple[int, int]
    scenes: tuple[Scene, ...]
    offsets: tuple[tuple[int, int, int, int], ...]  # per scene: row0, col0, height, width in the common grid


@dataclass
class _Block:
    traj: PixelTrajectory
    transform: Affine
    field_ids: list[str]
    geoms: list[Any]
    crs_wkt: str


def _nan_table(ids: Sequence[str]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({"field_id": pd.Series(list(ids), dtype="str"),
                         "planted_area_ha": np.full(n, np.nan), "planted_area_sd_ha": np.full(n, np.nan),
                         "planted_fraction": np.full(n, np.nan), "noncrop_fraction": np.full(n, np.nan),
                         "n_pixels_touched": np.zeros(n, dtype=np.int64), "min_clear_obs": np.zeros(n, dtype=np.int64)})


def field_region_groups(fields: gpd.GeoDataFrame) -> dict[str | None, list[int]]:
    """Row positions of the fields grouped by their ``region`` (None where absent)."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    regs = fields["region"] if "region" in fields.columns else pd.Series([None] * len(fields))
    for i, r in enumerate(regs):
        groups[None if r is None or pd.isna(r) else str(r)].append(i)
    return dict(groups)


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


def _scene_key(sc: Scene) -> dict[str, Any]:
    # the inode and ctime as the series cache has them (features.sources.local.scene_cache_key): a scene replaced by
    # one of the same size and mtime (cp -p, rsync -a) is another file
    st = sc.path.stat()
    return {"path": str(sc.path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns,
            "inode": st.st_ino, "date": sc.date.isoformat(), "tile": sc.tile_id, "bands": sc.bands, "scale": sc.scale,
            "offset": sc.offset, "nodata": sc.nodata, "mask": sc.cloud_mask}


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


def _atomic_npz(path: Path, traj: PixelTrajectory) -> None:
    arrays = {"ndvi_max": traj.ndvi_max, "ndvi_min": traj.ndvi_min, "ndwi_med": traj.ndwi_med, "n_clear": traj.n_clear}
    if traj.n_settled is not None:
        arrays["n_settled"] = traj.n_settled
    with temp_beside(path, suffix=".npz") as tmp:  # np.savez appends .npz to a name without it
        np.savez(tmp, allow_pickle=False, **arrays)


def crops_standing_until(season: str, region: str | None) -> dt.date | None:
    """The day by which the crop calendar has the region's crops of the season before ``season`` harvested (the
    latest harvest median + 2 spreads); None for a region the calendar does not hold. Until then a pixel green since
    the season window opened may be that crop still standing, not permanent vegetation."""
    from features.growth_stage import calendar_dates, load_calendars

    cds = calendar_dates(load_calendars(), str(region), str(int(check_season(season)) - 1))
    if cds.empty:
        return None
    return max(cds["harvest"] + pd.to_timedelta(2 * cds["harvest_spread"], unit="D")).date()


def _scene_trajectories(grid: _Grid, win: tuple[int, int, int, int], cache_dir: Path | None = None,
                        window_start: dt.date | None = None, standing_until: dt.date | None = None
                        ) -> PixelTrajectory:
    """Per-pixel trajectory summaries of a window of a grid (cached per window, scene set, season start and the day
    the previous season's crops are harvested by)."""
    return _grid_trajectories(grid, [win], cache_dir, window_start, standing_until)[0]


#: the stacks of the windows :func:`_grid_trajectories` reads together, at most (a window alone may exceed it): the
#: us-nebraska demo's season, four blocks of 538 × 680 pixels over up to 90 dates, takes about 300 MB
JOINT_READ_BYTES = 384 * 2**20


def _grid_trajectories(grid: _Grid, wins: Sequence[tuple[int, int, int, int]], cache_dir: Path | None = None,
                       window_start: dt.date | None = None, standing_until: dt.date | None = None
                       ) -> list[PixelTrajectory]:
    """:func:`_scene_trajectories` of each window of ``wins``: those not cached read together
    (:func:`_read_blocks`: each scene once for the windows of a group whose stacks stay under
    :data:`JOINT_READ_BYTES`), each trajectory computed and its stack freed in window order."""
    out: list[PixelTrajectory | None] = [None] * len(wins)
    paths: list[Path | None] = [None] * len(wins)
    if cache_dir is not None:
        scene_keys = [_scene_key(s) for s in grid.scenes]
        for k, win in enumerate(wins):
            key = {"engine": AREA_ENGINE_VERSION, "crs": grid.crs_wkt, "transform": list(grid.transform)[:6],
                   "win": list(win), "start": str(window_start), "lead": LEAD_DAYS, "standing": str(standing_until),
                   "scenes": scene_keys}
            h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
            path = Path(cache_dir) / "area" / f"{h}.npz"
            paths[k] = path
            if path.is_file():
                try:
                    with np.load(path) as z:
                        out[k] = PixelTrajectory(z["ndvi_max"], z["ndvi_min"], z["ndwi_med"], z["n_clear"],
                                                 z["n_settled"] if "n_settled" in z.files else None)
                except (OSError, ValueError, KeyError):
                    pass  # a damaged cache entry is recomputed
    todo = [k for k in range(len(wins)) if out[k] is None]
    n_dates = len({s.date for s in grid.scenes})
    groups: list[list[int]] = []
    size = 0
    for k in todo:
        nbytes = 8 * n_dates * wins[k][2] * wins[k][3]  # NDVI and NDWI float32, at most every date
        if not groups or size + nbytes > JOINT_READ_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(k)
        size += nbytes
    for group in groups:
        stacks = _read_blocks(grid, [wins[k] for k in group])
        for k in group:
            ndvi, ndwi, dates = stacks.pop(0)
            lead = None
            if window_start is not None:
                lead = np.array([d < window_start + dt.timedelta(days=LEAD_DAYS) for d in dates], dtype=bool)
            standing = None if standing_until is None else np.array([d <= standing_until for d in dates], dtype=bool)
            traj = out[k] = pixel_trajectories(ndvi, ndwi, lead, overwrite=True, standing=standing)
            del ndvi, ndwi
            cached = paths[k]
            if cached is not None:
                _atomic_npz(cached, traj)
    return [t for t in out if t is not None]


def _blocks(geoms: np.ndarray, grid: _Grid) -> list[tuple[tuple[int, int, int, int], list[int]]]:
    """Spatial blocks of fields: (window row0, col0, h, w; positions in ``geoms``), windows clipped to the grid."""
    t = grid.transform  # not rotated (checked in _grids)
    b = shapely.bounds(geoms)
    c0, r0 = (b[:, 0] - t.c) / t.a, (b[:, 3] - t.f) / t.e
    c1, r1 = (b[:, 2] - t.c) / t.a, (b[:, 1] - t.f) / t.e
    r0 = np.floor(np.asarray(r0)).astype(np.int64) - 1
    c0 = np.floor(np.asarray(c0)).astype(np.int64) - 1
    r1 = np.ceil(np.asarray(r1)).astype(np.int64) + 1
    c1 = np.ceil(np.asarray(c1)).astype(np.int64) + 1
    key = ((r0 + r1) // 2 // BLOCK) * 1_000_000 + ((c0 + c1) // 2 // BLOCK)
    out = []
    for k in np.unique(key):
        pos = np.flatnonzero(key == k)
        a0 = max(0, int(r0[pos].min()))
        a1 = min(grid.shape[0], int(r1[pos].max()))
        b0 = max(0, int(c0[pos].min()))
        b1 = min(grid.shape[1], int(c1[pos].max()))
        if a1 > a0 and b1 > b0:
            out.append(((a0, b0, a1 - a0, b1 - b0), pos.tolist()))
    return out


def _ground_area(res: pd.DataFrame, geoms: list[Any], crs_wkt: str) -> pd.DataFrame:
    """Rescale areas measured in the grid's CRS units to equal-area hectares (a Web-Mercator or far-from-meridian
    UTM grid does not measure ground area); fractions are unchanged."""
    from features.fields import area_ha

    ea = area_ha(gpd.GeoSeries(geoms, crs=crs_wkt)).to_numpy()
    px = res["field_px_area_ha"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(px > 0, ea / px, 1.0)
    res = res.copy()
    for col in ("field_px_area_ha", "planted_area_ha", "planted_area_sd_ha"):
        res[col] = res[col].to_numpy(dtype=np.float64) * k
    return res


def _root_sum_square(g: Any, sd: pd.Series) -> pd.Series:
    """√(Σ sd²) per group of ``g`` (NaN where every sd is NaN), bit for bit as ``(s ** 2).sum(min_count=1)`` per
    group: numpy sums one or two values in one addition, which a running sum in row order repeats (a per-group
    ``apply`` took 0.2 s a call on the demo's 600 fields); a field in three pieces or more (cut by three grids:
    rare) is summed as before, numpy's order being another."""
    codes = g.ngroup().to_numpy()
    q = sd.to_numpy(dtype=np.float64) ** 2
    seen = ~np.isnan(q)
    n = g.ngroups
    total = np.bincount(codes, weights=np.where(seen, q, 0.0), minlength=n)
    total[np.bincount(codes, weights=seen, minlength=n) == 0] = np.nan
    out = pd.Series(total, index=g["field_px_area_ha"].sum().index)
    many = np.flatnonzero(np.bincount(codes, minlength=n) > 2)
    for k in many:
        out.iloc[k] = float((sd[codes == k] ** 2).sum(min_count=1))
    return np.sqrt(out)


def _combine(parts: pd.DataFrame) -> pd.DataFrame:
    """Sum per-piece results of fields cut across grids."""
    g = parts.groupby("field_id", sort=False)
    out = pd.DataFrame({
        "field_px_area_ha": g["field_px_area_ha"].sum(),
        "planted_area_ha": g["planted_area_ha"].sum(min_count=1),
        "planted_area_sd_ha": _root_sum_square(g, parts["planted_area_sd_ha"]),
        "noncrop_ha": (parts["noncrop_fraction"] * parts["field_px_area_ha"]).groupby(parts["field_id"]).sum(),
        "n_pixels_touched": g["n_pixels_touched"].sum(),
        "min_clear_obs": g["min_clear_obs"].min(),
    })
    area = out["field_px_area_ha"].where(out["field_px_area_ha"] > 0)
    out["planted_fraction"] = out["planted_area_ha"] / area
    out["noncrop_fraction"] = out["noncrop_ha"] / area
    return out.reset_index()


#: a field whose part outside every scene exceeds this share of its area has no measured planted area (the part
#: no scene shows is unobserved, not unplanted); below it, reprojection slivers are ignored
UNCOVERED_TOLERANCE = 0.01


#: a field is measured on one pixel grid (the first that covers it): where scenes on another grid see it in a gap
#: of more than this many days between the dates of its grid, its trajectories would miss that period
MAX_GRID_GAP_DAYS = 30


def _check_grid_gaps(fs: gpd.GeoDataFrame, grids: Sequence[_Grid]) -> None:
    """Refuse scenes on several pixel grids (CRS, pixel size, alignment) when a field's grid misses a period that
    another grid's scenes see: a delivery that changed projection or pixel size mid-season measured every field on
    the grid of most files alone (its season before the switch: maize fields 0 ha planted). Grids that see a field on
    interleaved dates (tiles of two UTM zones over one orbit) pass."""
    if len(grids) < 2:
        return
    seen: list[list[set[dt.date]]] = []
    for grid in grids:
        g = gpd.GeoSeries(fs.geometry.to_numpy(), crs=fs.crs).to_crs(grid.crs_wkt).to_numpy()
        dates: list[set[dt.date]] = [set() for _ in range(len(g))]
        for sc, (r0, c0, h, w) in zip(grid.scenes, grid.offsets, strict=True):
            x0, y1 = grid.transform @ (c0, r0)
            x1, y0 = grid.transform @ (c0 + w, r0 + h)
            for j in np.flatnonzero(shapely.area(shapely.intersection(g, shapely.box(x0, y0, x1, y1))) > 0):
                dates[int(j)].add(sc.date)
        seen.append(dates)
    bad: dict[str, int] = {}
    for i, fid in enumerate(fs["field_id"].astype(str)):
        own = next((seen[k][i] for k in range(len(grids)) if seen[k][i]), None)
        if own is None:
            continue
        ordered = sorted(own)
        for d in set().union(*(seen[k][i] for k in range(len(grids)))) - own:
            lo = max((x for x in ordered if x < d), default=d)
            hi = min((x for x in ordered if x > d), default=d)
            if (hi - lo).days > MAX_GRID_GAP_DAYS:
                bad[fid] = max(bad.get(fid, 0), (hi - lo).days)
    if bad:
        from pyproj import CRS

        def name(gr: _Grid) -> str:
            crs = CRS.from_wkt(gr.crs_wkt)
            unit = crs.axis_info[0].unit_name if crs.axis_info else ""
            return f"{crs.name} {gr.res:g} {'m' if unit == 'metre' else unit}".rstrip()

        desc = "; ".join(f"{name(gr)}: {len(gr.scenes)} files {min(s.date for s in gr.scenes)}.."
                         f"{max(s.date for s in gr.scenes)}" for gr in grids)
        raise ImageryError(source="scene index", problem=(
            f"scenes on {len(grids)} pixel grids ({desc}): planted area reads each field on one grid, and "
            f"{len(bad)} field(s) would miss up to {max(bad.values())} days seen only on another grid — deliver the "
            "season on one grid (one CRS, pixel size and alignment)"), offenders=sorted(bad))


def _iter_blocks(fs: gpd.GeoDataFrame, scenes: list[Scene], cache_dir: Path | None,
                 window_start: dt.date | None, uncovered: dict[str, float] | None = None,
                 standing_until: dt.date | None = None) -> Iterator[_Block]:
    """Blocks of field pieces with their window's trajectories, grid by grid (largest first).

    A field covered by several grids is cut: each grid takes the part of the field no earlier grid covered.
    ``uncovered`` (when given) receives, once the blocks are exhausted, each partly covered field's share of area
    that no grid covers (fields wholly outside are not listed).
    """
    if not scenes:
        return
    scenes = check_scene_files(scenes)
    ids = fs["field_id"].astype(str).tolist()
    remaining = fs.geometry.to_numpy()
    remaining_crs = fs.crs
    grids = _grids(scenes)
    _check_grid_gaps(fs, grids)
    for grid in grids:
        g = gpd.GeoSeries(remaining, crs=remaining_crs).to_crs(grid.crs_wkt).to_numpy()
        foot = shapely.box(*(grid.transform @ (0, grid.shape[0])), *(grid.transform @ (grid.shape[1], 0)))
        part = shapely.intersection(g, foot)
        has = ~shapely.is_empty(part) & (shapely.area(part) > 0)
        if has.any():
            pos_all = np.flatnonzero(has)
            blocks = _blocks(part[pos_all], grid)
            trajs = _grid_trajectories(grid, [win for win, _ in blocks], cache_dir, window_start, standing_until)
            for (win, pos), traj in zip(blocks, trajs, strict=True):
                sel = pos_all[pos]
                yield _Block(traj=traj,
                             transform=grid.transform @ Affine.translation(win[1], win[0]),
                             field_ids=[ids[i] for i in sel], geoms=list(part[sel]), crs_wkt=grid.crs_wkt)
        remaining = shapely.difference(g, foot)
        remaining_crs = grid.crs_wkt
        if shapely.is_empty(remaining).all():
            break
    if uncovered is not None:
        whole = shapely.area(gpd.GeoSeries(fs.geometry.to_numpy(), crs=fs.crs).to_crs(remaining_crs).to_numpy())
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(whole > 0, shapely.area(remaining) / whole, 0.0)
        for i in np.flatnonzero((share > UNCOVERED_TOLERANCE) & (share < 1.0 - 1e-9)):
            uncovered[ids[i]] = float(share[i])


def _area_scenes(fs: gpd.GeoDataFrame, scenes: list[Scene], params: AreaParams,
                 cache_dir: Path | None, window_start: dt.date | None,
                 standing_until: dt.date | None = None) -> pd.DataFrame:
    ids = fs["field_id"].astype(str).tolist()
    uncovered: dict[str, float] = {}
    pieces = [_ground_area(planted_area_from_trajectories(b.field_ids, b.geoms, b.transform, b.traj, params),
                           b.geoms, b.crs_wkt)
              for b in _iter_blocks(fs, scenes, cache_dir, window_start, uncovered, standing_until)]
    if not pieces:
        return _nan_table(ids)
    parts = pd.concat(pieces, ignore_index=True)
    parts = parts[parts["n_pixels_touched"] > 0]
    comb = _combine(parts) if len(parts) else _nan_table([])
    out = _nan_table(ids).drop(columns=list(AREA_COLUMNS[1:])).merge(comb, on="field_id", how="left")
    out["n_pixels_touched"] = out["n_pixels_touched"].fillna(0).astype(np.int64)
    out["min_clear_obs"] = out["min_clear_obs"].fillna(0).astype(np.int64)
    out.loc[out["n_pixels_touched"] == 0, ["planted_area_ha", "planted_area_sd_ha", "planted_fraction",
                                           "noncrop_fraction"]] = np.nan
    # a field partly outside every scene: its covered part's pixels would pass for the whole field (planted area
    # shrinking with the part no scene shows) — not measured, and reported
    partly = out["field_id"].isin(list(uncovered))
    out.loc[partly, ["planted_area_ha", "planted_area_sd_ha", "planted_fraction", "noncrop_fraction"]] = np.nan
    out = out[list(AREA_COLUMNS)]
    out.attrs["partly_outside"] = {k: round(1.0 - v, 3) for k, v in sorted(uncovered.items())}
    return out


def _season_scenes(fields: gpd.GeoDataFrame, imagery: str | Path, season: str, as_of: dt.date,
                   cache_dir: Path | None, stack: contextlib.ExitStack, *, endpoint: str = "cdse",
                   profile: str | None = None,
                   ) -> tuple[gpd.GeoDataFrame, list[tuple[list[int], list[Scene], dt.date, dt.date | None]] | None]:
    """The season's fields and, per region group, (row positions, scenes, window start, the day the previous season's
    crops are harvested by — :func:`crops_standing_until`); None when the imagery has no pixels. A Sentinel Hub download without ``cache_dir`` goes to a temporary folder that ``stack`` removes."""
    from features.series import season_window

    season = check_season(season)
    check_fields(fields, where="fields")
    fs = fields[fields["season"].astype(str) == season]
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    spec = resolve_imagery(imagery)
    if spec.kind in ("table", "sentinelhub-stats"):
        return fs, None
    groups = field_region_groups(fs)
    windows = {reg: season_window(season, reg) for reg in groups}
    folder = spec.path
    if spec.kind == "sentinelhub":
        from features.sources import sentinelhub as sh  # imported here only: it pulls the sentinelhub client

        lo = min(w[0] for w in windows.values())
        hi = min(max(w[1] for w in windows.values()), as_of)
        out_dir = Path(cache_dir) / "sentinelhub" if cache_dir is not None else \
            Path(stack.enter_context(private_tempdir("sh-scenes")))  # swept after a kill, as features.series'
        folder = Path(sh.fetch_scenes(fs, lo, hi, out_dir, endpoint=endpoint, profile=profile,
                                      max_cloud=1.0, merge=False))  # every acquisition: SCL decides clear pixels
    assert folder is not None
    index = read_index(folder)
    return fs, [(pos, select_scenes(index, windows[reg][0], windows[reg][1], as_of), windows[reg][0],
                 crops_standing_until(season, reg)) for reg, pos in groups.items()]


def pixel_samples(fields: gpd.GeoDataFrame, imagery: str | Path, season: str, as_of: dt.date, *,
                  cache_dir: Path | None = None, max_pixels: int = 200_000, seed: int = 0, endpoint: str = "cdse",
                  profile: str | None = None) -> pd.DataFrame:
    """Trajectory summaries of the fully covered pixels of the fields (what calibration may use, never truth).

    Columns field_id, ndvi_max, ndvi_min, ndwi_med, n_clear; at most ``max_pixels`` rows (seeded sample).
    Empty when the imagery has no pixels.
    """
    from features.area import coverages

    cols: dict[str, list[np.ndarray]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        fs, groups = _season_scenes(fields, imagery, season, as_of, cache_dir, stack, endpoint=endpoint,
                                    profile=profile)
        for pos, scenes, start, standing in groups or []:
            for b in _iter_blocks(fs.iloc[pos], scenes, cache_dir, start, standing_until=standing):
                covs = coverages(b.geoms, b.transform, b.traj.n_clear.shape)
                for fid, (rs, cs, c) in zip(b.field_ids, covs, strict=True):
                    inside = c >= 0.999
                    if not inside.any():
                        continue
                    cols["field_id"].append(np.full(int(inside.sum()), fid, dtype=object))
                    for name in ("ndvi_max", "ndvi_min", "ndwi_med", "n_clear"):
                        cols[name].append(getattr(b.traj, name)[rs, cs][inside])
    if not cols:
        return pd.DataFrame({"field_id": pd.Series(dtype="str"), "ndvi_max": pd.Series(dtype="float32"),
                             "ndvi_min": pd.Series(dtype="float32"), "ndwi_med": pd.Series(dtype="float32"),
                             "n_clear": pd.Series(dtype="int32")})
    df = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    df["field_id"] = df["field_id"].astype("str")
    if len(df) > max_pixels:
        keep = np.sort(np.random.default_rng(seed).choice(len(df), size=max_pixels, replace=False))
        df = df.iloc[keep].reset_index(drop=True)
    return df


def planted_area(fields: gpd.GeoDataFrame, imagery: str | Path, season: str, as_of: dt.date, *,
                 params: AreaParams | None = None, cache_dir: Path | None = None, endpoint: str = "cdse",
                 profile: str | None = None) -> pd.DataFrame:
    """Planted area of the fields of ``season`` from the scenes acquired up to ``as_of``.

    Returns one row per field of the season (AREA_COLUMNS): field_id, planted_area_ha, planted_area_sd_ha,
    planted_fraction, noncrop_fraction, n_pixels_touched, min_clear_obs. ``attrs["outside_fields"]`` lists
    the fields no scene covers or too small or thin to hold a pixel (NaN rows), ``attrs["no_clear_fields"]`` those
    whose pixels no scene saw clear (NaN rows); ``attrs["partly_outside"]`` maps the fields more than
    :data:`UNCOVERED_TOLERANCE` of which no scene covers to the share inside (NaN rows too: the part no scene shows
    is unobserved); ``attrs["no_pixels"]`` is True when the imagery has no pixels. ``endpoint``/``profile``: for
    ``sentinelhub`` imagery (see :func:`features.sources.sentinelhub.fetch`).
    """
    p = params or AreaParams()
    with contextlib.ExitStack() as stack:
        fs, groups = _season_scenes(fields, imagery, season, as_of, cache_dir, stack, endpoint=endpoint,
                                    profile=profile)
        ids = fs["field_id"].astype(str).tolist()
        if groups is None:
            out = _nan_table(ids)
            out.attrs.update(no_pixels=True, outside_fields=[], scenes_used=0)
            return out
        parts = [_area_scenes(fs.iloc[pos], scenes, p, cache_dir, start, standing)
                 for pos, scenes, start, standing in groups]
    partly = {k: v for part in parts for k, v in part.attrs.get("partly_outside", {}).items()}
    used = len({(s.date, s.tile_id) for _, scenes, _, _ in groups for s in scenes})
    out = pd.concat(parts, ignore_index=True).set_index("field_id").loc[ids].reset_index()
    out["field_id"] = out["field_id"].astype("str")
    blank = out["planted_area_ha"].isna() & ~out["field_id"].isin(set(partly))
    touched = out["n_pixels_touched"].fillna(0).astype("int64") > 0
    # no pixel: outside every scene, or too small or thin to hold one; pixels but never clear: clouds only
    out.attrs.update(no_pixels=False, scenes_used=used, partly_outside=dict(sorted(partly.items())),
                     outside_fields=sorted(out.loc[blank & ~touched, "field_id"].tolist()),
                     no_clear_fields=sorted(out.loc[blank & touched, "field_id"].tolist()))
    return out
