"""Local scenes in the scene-index layout: read ``index.csv``, compute per-tile field statistics.

``index.csv`` has one row per file: ``date``, ``tile_id``, ``path`` (relative to the
index), ``bands`` (``;``-separated), ``scale``, ``offset``, ``nodata``, ``cloud_mask``
(``SCL``, ``band:NAME`` or ``none``), ``processing_baseline``. The first six are required (a default scale or
offset would silently change the reflectances); ``nodata`` empty takes the file's own nodata tag; without a
``cloud_mask`` column the files are read unmasked (``none``) unless they list an ``SCL`` band (an error: its
clouds would count as clear). An index without rows is an error. Files may be in any CRS:
the FIELDS are reprojected to each scene's CRS, the imagery is never resampled.

A date seen on several tiles is counted once per field: :func:`combine_tiles` keeps,
per (field, date), the tile with the most clear pixels (ties: the smallest tile_id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from features._memo import Memo, file_key
from features._zonal_core import STATS, Window
from features.errors import ImageryError, file_rows
from features.zonal import gather, pixel_map, required_bands, stats_from_pairs

__all__ = [
    "INDEX_COLUMNS",
    "SCL_CLEAR",
    "Scene",
    "read_index",
    "select_scenes",
    "check_scene_files",
    "scene_cache_key",
    "scene_stats",
    "combine_tiles",
]

INDEX_COLUMNS = ("date", "tile_id", "path", "bands", "scale", "offset", "nodata", "cloud_mask", "processing_baseline")
#: SCL classes counted as clear: vegetation, bare soil, water, unclassified
SCL_CLEAR = (4, 5, 6, 7)
#: bands that are a cloud mask: an index without a ``cloud_mask`` column may not list them (they would be ignored)
MASK_BANDS = ("SCL",)
LOG = logging.getLogger(__name__)
#: columns of a per-tile statistics table (before tiles are combined)
TILE_COLUMNS = ("field_id", "date", "tile_id", "variable", "n_pixels", *STATS, "clear_px")


@dataclass(frozen=True)
class Scene:
    """One file of a scene index."""

    date: dt.date
    tile_id: str
    path: Path
    bands: tuple[str, ...]
    scale: float
    offset: float
    nodata: float | None
    cloud_mask: str
    processing_baseline: str

    @property
    def mask_band(self) -> str | None:
        if self.cloud_mask == "SCL":
            return "SCL"
        if self.cloud_mask.startswith("band:"):
            return self.cloud_mask[5:]
        return None


def _num(v: Any, default: float | None) -> float | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
        return default
    return float(v)


def read_index(path: str | Path) -> list[Scene]:
    """Read a scene index (a folder holding ``index.csv``, or the CSV itself), sorted by date and tile."""
    p = Path(path)
    idx = p / "index.csv" if p.is_dir() else p
    if not idx.is_file():
        raise ImageryError(source=str(p), problem="no index.csv found (expected the scene-index layout)")
    try:
        df = pd.read_csv(idx, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ImageryError(source=idx.name, problem=f"unreadable index ({type(e).__name__})") from None
    # scale and offset too: a default would silently change the reflectances (EVI, not NDVI) and the decisions
    missing = [c for c in ("date", "tile_id", "path", "bands", "scale", "offset") if c not in df.columns]
    if missing:
        raise ImageryError(source=idx.name, problem="index columns missing", offenders=missing)
    if df.empty:
        raise ImageryError(source=str(idx), problem="index.csv lists no scenes (a header without rows)")
    scenes: list[Scene] = []
    bad: list[str] = []
    baseline: list[str] = []
    where = file_rows(str(idx), range(len(df)))  # 'line N' as an editor shows it
    for i, row in enumerate(df.to_dict("records")):
        try:
            text = str(row["date"]).strip()
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # fromisoformat also takes 20090824 and 2009-W35-1
                raise ValueError(f"date {text!r}: expected YYYY-MM-DD")
            date = dt.date.fromisoformat(text)
            bands = tuple(_band(b) for b in str(row["bands"]).split(";") if b.strip())
            mask = str(row.get("cloud_mask", "") or "none").strip() or "none"
            if mask.lower() == "scl":
                mask = "SCL"
            elif mask.lower() == "none":
                mask = "none"
            elif not mask.startswith("band:"):
                raise ValueError(f"cloud_mask {mask!r}")
            elif mask[len("band:"):].strip().upper() == "SCL":  # band:NAME reads 0 as clear; SCL 0 is no-data
                raise ValueError("cloud_mask 'band:SCL' would read SCL class 0 (no data) as clear and every "
                                 "vegetation pixel as cloudy; write cloud_mask SCL for a Scene Classification band")
            rel = str(row["path"]).strip().replace("\\", "/")  # a Windows-written index: the same relative path
            scene = Scene(date=date, tile_id=str(row["tile_id"]).strip(), path=(idx.parent / rel),
                          bands=bands, scale=float(_num(_given(row, "scale"), 1.0) or 0.0),
                          offset=float(_num(_given(row, "offset"), 0.0) or 0.0), nodata=_num(row.get("nodata"), None),
                          cloud_mask=mask, processing_baseline=str(row.get("processing_baseline", "") or ""))
            if scene.mask_band is not None and scene.mask_band not in bands:
                raise ValueError(f"mask band {scene.mask_band} not in bands")
            if not bands or not scene.tile_id or scene.scale <= 0:
                raise ValueError("empty bands/tile_id or scale <= 0")
            _baseline_major(scene.processing_baseline)  # ValueError: not a baseline (ignored, it hid the offset)
            if _offset_missing(scene):
                baseline.append(where[i])
        except (ValueError, TypeError) as e:
            bad.append(f"{where[i]} ({e})")
            continue
        scenes.append(scene)
    if bad:
        raise ImageryError(source=idx.name, problem="bad index rows", offenders=bad)
    if baseline:
        raise ImageryError(source=idx.name, problem=(
            "processing_baseline 04.00 or later: its digital numbers carry +1000, so scale 0.0001 needs offset -0.1 "
            "(every reflectance would read 0.1 too high; values already harmonised: leave processing_baseline "
            "empty)"), offenders=baseline)
    _check_mask_column(df, scenes, idx)
    dup = pd.Series([(s.date, s.tile_id) for s in scenes]).duplicated(keep=False)
    if dup.any():
        raise ImageryError(source=idx.name, problem="a (date, tile_id) appears twice (one file per date and tile, "
                           "holding every band on one grid: per-band files are not read)",
                           offenders=sorted({f"{s.date}/{s.tile_id}" for s, d in zip(scenes, dup, strict=True) if d}))
    listed: dict[str, list[str]] = {}
    for sc in scenes:
        listed.setdefault(str(Path(sc.path).resolve()), []).append(f"{sc.date}/{sc.tile_id}")
    twice = sorted(f"{Path(f).name} ({', '.join(sorted(where))})" for f, where in listed.items() if len(where) > 1)
    if twice:  # one acquisition's file listed under another date (or tile) too: a copy-paste slip
        raise ImageryError(source=idx.name, problem="a file is listed twice (each line is one acquisition, its date "
                           "and tile; the same pixels under two dates would count as two observations)",
                           offenders=twice)
    _warn_unindexed(idx, set(listed))
    return sorted(scenes, key=lambda s: (s.date, s.tile_id, str(s.path)))


#: the raster files of a scene folder that no index row names, by folder, already said (a run reads its index at
#: every checkpoint: said once)
_UNINDEXED_SAID: set[tuple[str, tuple[str, ...]]] = set()
_UNINDEXED_LOOKED: set[tuple[str, int, int]] = set()  # (index, its mtime, rows) whose folder was walked already
_RASTER_SUFFIXES = (".tif", ".tiff")


def unindexed_files(idx: Path, listed: set[str]) -> list[str]:
    """The GeoTIFFs under the folder of the scene index ``idx`` that no row of it names (``listed``: the rows'
    resolved paths), as paths relative to the folder, sorted — a directory listing, no file opened. Hidden files and
    folders are not looked at, nor a Sentinel Hub fetch's folder (``sentinelhub.json``: a run's working folder
    indexes that run's window only)."""
    folder = idx.parent
    if (folder / "sentinelhub.json").exists():
        return []
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or not f.lower().endswith(_RASTER_SUFFIXES):
                continue
            path = Path(root) / f
            if str(path.resolve()) not in listed:
                out.append(path.relative_to(folder).as_posix())
    return out


def _warn_unindexed(idx: Path, listed: set[str]) -> None:
    """One warning line (once per folder and set of files) naming how many raster files of the scene folder no index
    row names and the first few: they are not read (an acquisition left out of ``index.csv`` changed decisions
    without a word; a row naming no file is refused)."""
    try:
        seen = (str(idx.resolve()), idx.stat().st_mtime_ns, len(listed))
    except OSError:
        return
    if seen in _UNINDEXED_LOOKED:  # a run reads its index at every season and checkpoint: the folder walked once
        return
    _UNINDEXED_LOOKED.add(seen)
    missing = unindexed_files(idx, listed)
    if not missing:
        return
    key = (str(idx.resolve()), tuple(missing))
    if key in _UNINDEXED_SAID:
        return
    _UNINDEXED_SAID.add(key)
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    LOG.warning("%s: %d GeoTIFF file(s) in the scene folder are named by no row of index.csv and are not read: %s "
                "(index.csv has one row per file: add their rows, or move them out of the folder)",
                idx, len(missing), shown)


#: Sentinel-2 L2A digital numbers are reflectance × 10,000; from processing baseline 04.00 (25 January 2022) they
#: carry +1,000 (BOA_ADD_OFFSET −1000), so reflectance = DN × 0.0001 − 0.1
_DN_SCALE = 1e-4


def _offset_missing(scene: Scene) -> bool:
    """A processing baseline of 04.00 or later with digital numbers (scale 0.0001) and no offset: every
    reflectance would be 0.1 too high (NDVI of a crop 0.64 read as 0.41, decisions changed)."""
    major = _baseline_major(scene.processing_baseline)
    return major is not None and major >= 4 and abs(scene.scale - _DN_SCALE) < 1e-9 and scene.offset == 0.0


def _baseline_major(text: str) -> int | None:
    """The major version of a processing baseline written ``04.00`` (the metadata's) or ``N0400`` / ``0400`` (the
    product name's); None when empty; ValueError for anything else (an unread baseline would skip the offset
    check: every reflectance 0.1 too high)."""
    t = text.strip()
    if not t:
        return None
    m = re.fullmatch(r"0*(\d+)\.\d+", t) or re.fullmatch(r"[Nn]?(\d\d)\d\d", t)
    if m is None:
        raise ValueError(f"processing_baseline {t!r}: expected NN.NN (04.00) or the product name's N0400")
    return int(m[1])


def _band(name: str) -> str:
    """A band name stripped, in upper case, its number in two digits: ``b4`` and ``B4`` (Earth Engine's names, also
    written as band descriptions) are ``B04``; ``B8A`` and ``B11`` stay."""
    n = name.strip().upper()
    return f"B0{n[1]}" if re.fullmatch(r"B\d", n) else n


def _given(row: dict[str, str], column: str) -> str:
    """A required numeric cell of an index row (ValueError when empty: no silent default)."""
    value = str(row.get(column, "") or "").strip()
    if not value:
        raise ValueError(f"{column} is empty")
    return value


def _check_mask_column(df: pd.DataFrame, scenes: Sequence[Scene], idx: Path) -> None:
    """Without a ``cloud_mask`` column every file is read unmasked (``none``, the column's default); that default
    cannot apply to files that carry a cloud mask band (``SCL``), whose clouds would silently count as clear."""
    if "cloud_mask" in df.columns:
        return
    masked = sum(any(b.upper() in MASK_BANDS for b in s.bands) for s in scenes)
    if masked:
        raise ImageryError(source=str(idx), problem=f"column 'cloud_mask' missing, but {masked} of {len(scenes)} "
                           f"file(s) carry a cloud mask band ({', '.join(MASK_BANDS)}) that would be ignored: add the "
                           "column (SCL, band:NAME or none)")


def select_scenes(scenes: Sequence[Scene], start: dt.date | None, end: dt.date | None,
                  as_of: dt.date | None = None) -> list[Scene]:
    """Scenes acquired in [start, end] and not after ``as_of`` (no file is touched)."""
    out = []
    for s in scenes:
        if start is not None and s.date < start:
            continue
        if end is not None and s.date > end:
            continue
        if as_of is not None and s.date > as_of:
            continue
        out.append(s)
    return out


def scene_cache_key(scene: Scene, **what: Any) -> str:
    """A cache key for what was computed from one scene file: the file's identity (path, size, modification
    time, inode and status-change time, index row) and ``what`` (JSON-serialisable: engine version, variables,
    fields hash...). The inode and ctime catch a scene replaced by one of the same size and mtime (``cp -p``,
    ``rsync -a``): a replacement always sets a new ctime, which no user tool can set back."""
    st = scene.path.stat()
    d = {"path": str(scene.path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns,
         "inode": st.st_ino,
         "date": scene.date.isoformat(), "tile": scene.tile_id, "bands": scene.bands, "scale": scene.scale,
         "offset": scene.offset, "nodata": scene.nodata, "mask": scene.cloud_mask, **what}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:32]


def _open_scene(path: Path) -> Any:
    """``rasterio.open(path)`` without rasterio's NotGeoreferencedWarning: a file without georeferencing gets the
    one-line error of its reader instead of a two-line warning before it."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from features._quiet import ignoring

    with ignoring(NotGeoreferencedWarning):  # thread-safe: the feature threads open scenes side by side
        return rasterio.open(path)


_BAND_NAME = re.compile(r"^(B\d{1,2}A?|SCL|AOT|WVP|TCI|CLM|CLP|DATAMASK|DATA_MASK)$")


@dataclass(frozen=True)
class SceneHeader:
    """What a scene file's header says: band count, nodata tag, band descriptions (stripped, upper case), CRS (WKT,
    None without one), transform and shape (rows, columns)."""

    count: int
    nodata: float | None
    descriptions: tuple[str, ...]
    crs_wkt: str | None
    transform: Any
    shape: tuple[int, int]


#: the headers of the scene files read, by file version: every checkpoint of a season checks and grids the same files
_HEADERS = Memo(max_items=8192)


def scene_header(path: Path) -> SceneHeader:
    """The header of the scene file ``path``, read once per file version (:func:`features._memo.file_key`);
    RasterioError when it cannot be read (not remembered)."""
    key = file_key(path)
    head = _HEADERS.get(key)
    if head is None:
        with _open_scene(path) as src:
            head = SceneHeader(src.count, src.nodata, tuple(_band(str(d or "")) for d in src.descriptions),
                               src.crs.to_wkt() if src.crs is not None else None, src.transform,
                               (src.height, src.width))
        _HEADERS.put(key, head)
    return head


def check_scene_files(scenes: Sequence[Scene]) -> list[Scene]:
    """Raise ImageryError naming every missing or unreadable file, or one not as indexed (headers only are read):
    another band count; band descriptions naming other bands or another order than the index's; a nodata tag
    contradicting the index's ``nodata``. Returns the scenes with an empty ``nodata`` taken from the file's tag."""
    from rasterio.errors import RasterioError

    missing = [s.path.name + (" (a folder, not a file)" if s.path.is_dir() else "") for s in scenes
               if not s.path.is_file()]
    if missing:
        raise ImageryError(source="scene index", problem="scene files missing", offenders=missing)
    bad = []
    out = []
    for s in scenes:
        try:
            head = scene_header(s.path)
        except RasterioError:
            bad.append(f"{s.path.name} (unreadable)")
            continue
        count, tag, desc = head.count, head.nodata, list(head.descriptions)
        if count != len(s.bands):
            bad.append(f"{s.path.name} ({count} bands, index lists {len(s.bands)})")
        elif all(_BAND_NAME.match(d) for d in desc) and desc != list(s.bands):
            bad.append(f"{s.path.name} (its bands are {';'.join(desc)}, index lists {';'.join(s.bands)})")
        given = s.nodata is not None and not np.isnan(s.nodata)
        if given and tag is not None and not np.isnan(tag) and float(tag) != float(s.nodata):  # type: ignore[arg-type]
            bad.append(f"{s.path.name} (its nodata tag is {tag:g}, index says {s.nodata:g})")
        out.append(replace(s, nodata=float(tag)) if s.nodata is None and tag is not None else s)
    if bad:
        raise ImageryError(source="scene index", problem="scene files corrupt or not as indexed", offenders=bad)
    return out


def _clear(scene: Scene, arr: np.ndarray | None) -> np.ndarray | None:
    if arr is None:
        return None
    if scene.cloud_mask == "SCL":
        return np.isin(arr, SCL_CLEAR)
    return arr == 0


def scene_stats(scene: Scene, fields: gpd.GeoDataFrame, variables: Sequence[str], *, inward_buffer: bool = False,
                grids: dict[Any, Any] | None = None) -> pd.DataFrame:
    """Per-field statistics of one file (fields intersecting its footprint only), a TILE_COLUMNS table.

    ``grids`` caches reprojected fields and pixel maps between files (one dict per field set). ``clear_px`` counts the
    in-field pixels that are cloud-free with no band at the nodata DN (used to pick a tile).
    """
    from rasterio.errors import RasterioError
    from rasterio.windows import Window as RWindow

    need = required_bands(variables)
    absent = [b for b in need if b not in scene.bands]
    if absent:
        raise ImageryError(source=scene.path.name, problem="bands needed by the variables are not in the file",
                           offenders=absent)
    try:
        with _open_scene(scene.path) as src:
            if src.crs is None:
                raise ImageryError(source=scene.path.name, problem="no CRS (georeferencing) in the file")
            if src.crs.is_geographic:
                west, south, east, north = src.bounds
                if not (-180.5 <= west <= east <= 360.5 and -90.5 <= south <= north <= 90.5):
                    raise ImageryError(source=scene.path.name, problem=f"bounds ({west:.0f}, {south:.0f}, {east:.0f}, "
                                       f"{north:.0f}) are not degrees though the CRS ({src.crs}) is geographic: "
                                       "metres labelled as degrees? (wrong CRS in the file)")
            shape = (src.height, src.width)
            key = (src.crs.to_wkt(), tuple(src.transform), shape, inward_buffer)
            grids = {} if grids is None else grids
            gkey = ("geoms", key[0])
            if gkey not in grids:
                grids[gkey] = fields.geometry.to_crs(src.crs).to_numpy()
            geoms = grids[gkey]
            covered = shapely.intersects(geoms, shapely.box(*src.bounds))
            if key not in grids:
                try:
                    grids[key] = pixel_map(geoms, src.transform, shape, inward_buffer=inward_buffer)
                except ImageryError as e:  # the grid's own complaint, named by the file that has that grid
                    raise ImageryError(source=scene.path.name, problem=e.problem) from None
            pm = grids[key]
            mask_band = scene.mask_band
            names = need + ([mask_band] if mask_band else [])
            indexes = [scene.bands.index(b) + 1 for b in names]

            def read(w: Window) -> dict[str, np.ndarray]:
                win = RWindow(w.col0, w.row0, w.col1 - w.col0, w.row1 - w.row0)  # type: ignore[call-arg]
                data = src.read(indexes, window=win)
                return dict(zip(names, data, strict=True))

            vals = gather(pm, read)
    except RasterioError as e:
        raise ImageryError(source=scene.path.name, problem=f"unreadable scene file ({type(e).__name__})") from None
    if pm.n_pairs == 0:
        vals = {b: np.zeros(0, dtype=np.uint16) for b in names}
    cloud_ok = _clear(scene, vals.get(mask_band)) if mask_band else None
    clear = np.ones(pm.n_pairs, dtype=bool) if cloud_ok is None else cloud_ok
    res = stats_from_pairs(pm, vals, clear, variables, scale=scene.scale, offset=scene.offset, nodata=scene.nodata)
    px_ok = clear.copy()
    if scene.nodata is not None and not np.isnan(scene.nodata):
        for b in need:
            px_ok &= vals[b] != scene.nodata
    else:
        _check_zero_fill(scene, vals, need, clear)
    _check_reflectance(scene, vals, px_ok)
    clear_px = np.bincount(pm.fid_sorted[px_ok], minlength=pm.n_fields).astype(np.int64)  # field order
    sel = np.flatnonzero(covered)
    fid = fields["field_id"].astype(str).to_numpy()[sel]
    if variables:  # one frame for all variables (a frame per variable costs more than the statistics)
        nv = len(variables)
        d: dict[str, Any] = {"field_id": np.tile(fid, nv),
                             "variable": np.repeat(np.asarray(list(variables), dtype=object), len(sel)),
                             "n_pixels": np.tile(pm.n_pixels[sel], nv)}
        d.update({k: np.concatenate([res[v][k][sel] for v in variables]) for k in STATS})
        d["clear_px"] = np.tile(clear_px[sel], nv)
        out = pd.DataFrame(d)
    else:
        out = pd.DataFrame(columns=list(TILE_COLUMNS))
    out.insert(1, "date", pd.Timestamp(scene.date))
    out.insert(2, "tile_id", scene.tile_id)
    out["field_id"] = out["field_id"].astype("str")
    out["variable"] = out["variable"].astype("str")
    out["tile_id"] = out["tile_id"].astype("str")
    return out[list(TILE_COLUMNS)]


#: the median reflectance of a scene's clear in-field pixels must lie in this range (bare soil to crops: 0.02–0.6;
#: water and snow stay inside it); outside, the scale or offset does not match the file's values
_REFLECTANCE_RANGE = (-0.1, 1.2)
_NIR_FLOOR = 0.003
#: the median blue or red reflectance of the fields' clear pixels is never below 0 (dense crops 0.01–0.04, bare soil
#: and water above): below it, an offset was subtracted from values that did not carry it — harmonised values indexed
#: with processing baseline 04.00's offset −0.1 gave red −0.02, NDVI up to 9.8 and every field's planted area lost
#: (a bank's walkthrough, 2026-12-07); bare-soil scenes can still pass, the season's green ones cannot
_VISIBLE_FLOOR = 0.0


def _check_zero_fill(scene: Scene, vals: dict[str, np.ndarray], bands: Sequence[str], clear: np.ndarray) -> None:
    """Refuse a scene without nodata (no tag in the file, ``nodata`` empty in the index) whose clear in-field pixels
    are 0 in every band read: a fill (outside the swath, a lost nodata tag) that would count as reflectance 0 —
    band means too low, EVI 0 — and as clear pixels. No measured pixel is 0 in every band."""
    if not bands or not clear.any():
        return
    zero = clear.copy()
    for b in bands:
        zero &= vals[b] == 0
    n = int(zero.sum())
    if n:
        raise ImageryError(source=scene.path.name, problem=(
            f"{n} clear in-field pixels are 0 in every band ({';'.join(bands)}) but no nodata is set (no tag in the "
            "file, nodata empty in index.csv): a fill that would be read as reflectance 0; set nodata 0 in index.csv"))


def _check_reflectance(scene: Scene, vals: dict[str, np.ndarray], ok: np.ndarray) -> None:
    """Refuse a scene whose red or near-infrared reflectance (DN × scale + offset) is implausible over the fields'
    clear pixels (at least 50): reflectance files indexed with the digital numbers' scale 0.0001 (every band about
    1e-5: EVI collapses, decisions change), a mistyped offset, digital numbers indexed with scale 1, harmonised values
    indexed with baseline 04.00's offset (blue or red below 0: :data:`_VISIBLE_FLOOR`)."""
    for b in ("B02", "B04", "B08"):
        v = vals.get(b)
        if v is None or int(ok.sum()) < 50:
            continue
        med = float(np.median(np.asarray(v[ok], dtype="float64"))) * scene.scale + scene.offset
        if b != "B08" and _REFLECTANCE_RANGE[0] <= med < _VISIBLE_FLOOR and scene.offset < 0:
            raise ImageryError(source=scene.path.name, problem=(
                f"{b} reflectance {med:.3g} (median over the fields' clear pixels: DN × scale {scene.scale:g} + offset "
                f"{scene.offset:g}) is below 0: the offset is subtracted from values that do not carry it — harmonised "
                "values (as Sentinel Hub delivers them) need offset 0 and processing_baseline empty in index.csv"))
        if not _REFLECTANCE_RANGE[0] <= med <= _REFLECTANCE_RANGE[1] or (b == "B08" and med < _NIR_FLOOR):
            raise ImageryError(source=scene.path.name, problem=(
                f"{b} reflectance {med:.3g} (median over the fields' clear pixels: DN × scale {scene.scale:g} + offset "
                f"{scene.offset:g}) is not a reflectance: wrong scale or offset in index.csv? (digital numbers: scale "
                "0.0001; reflectance files: scale 1, offset 0)"))


def combine_tiles(tiles: pd.DataFrame) -> pd.DataFrame:
    """One row per (field, date, variable): the tile with the most clear pixels wins, ties to the smallest tile_id."""
    if tiles.empty:
        return tiles.drop(columns=["tile_id", "clear_px"], errors="ignore")
    best = (tiles[["field_id", "date", "tile_id", "clear_px", "n_pixels"]]
            .drop_duplicates(["field_id", "date", "tile_id"])
            .sort_values(["field_id", "date", "clear_px", "n_pixels", "tile_id"],
                         ascending=[True, True, False, False, True], kind="mergesort")
            .drop_duplicates(["field_id", "date"], keep="first")[["field_id", "date", "tile_id"]])
    out = tiles.merge(best, on=["field_id", "date", "tile_id"], how="inner")
    out = out.drop(columns=["tile_id", "clear_px"])
    return out.sort_values(["field_id", "date", "variable"], kind="mergesort").reset_index(drop=True)
