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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from features._area_combine import _combine, _ground_area
from features._area_read import _Grid, _grids, _read_blocks
from features.area import LEAD_DAYS, AreaParams, PixelTrajectory, pixel_trajectories, planted_area_from_trajectories
from features.atomic import private_tempdir, temp_beside
from features.contracts import check_fields, check_season
from features.errors import FieldsError, ImageryError
from features.sources import resolve_imagery
from features.sources.local import Scene, check_scene_files, read_index, select_scenes

# isort: split
# re-exported, unused here: importable from features.area_scenes as before its helpers moved to features._area_*
from dataclasses import replace  # noqa: F401

from features._area_combine import _root_sum_square  # noqa: F401
from features._area_read import _BANDS, _WINDOWS, _read_block, _reflectance, _scene_window  # noqa: F401
from features._memo import Memo, file_key  # noqa: F401
from features.sources.local import SCL_CLEAR, scene_header  # noqa: F401

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


def _scene_key(sc: Scene) -> dict[str, Any]:
    # the inode and ctime as the series cache has them (features.sources.local.scene_cache_key): a scene replaced by
    # one of the same size and mtime (cp -p, rsync -a) is another file
    st = sc.path.stat()
    return {"path": str(sc.path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns,
            "inode": st.st_ino, "date": sc.date.isoformat(), "tile": sc.tile_id, "bands": sc.bands, "scale": sc.scale,
            "offset": sc.offset, "nodata": sc.nodata, "mask": sc.cloud_mask}


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
