"""Planning for the Sentinel Hub source (no ``sentinelhub`` import here).

* :func:`plan_tiles` — fields → request boxes: each field goes to its UTM zone, close
  fields are clustered into one box, boxes larger than the Process API's 2500 × 2500 px
  limit are split so that every field lies wholly inside the box it is assigned to.
* :func:`estimate_pu` — the documented processing-unit formula, for when the service
  does not report ``x-processingunits-spent``.
* :func:`request_key`, :func:`atomic_write_bytes` — the on-disk cache's key and writer.
* :func:`season_window` — the imagery window of a season (explicit dates, else
  ``features/data/season_windows.csv`` for the fields' region).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from features.errors import FieldsError, UserInputError

__all__ = [
    "BANDS",
    "INDEX_BANDS",
    "MAX_PX",
    "Tile",
    "atomic_write_bytes",
    "estimate_pu",
    "plan_tiles",
    "request_key",
    "season_window",
    "utm_epsg",
]

#: the ten Sentinel-2 L2A reflectance bands, in file order
BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: bands of every downloaded GeoTIFF, in file order (the index's ``bands`` column)
INDEX_BANDS = (*BANDS, "SCL", "dataMask")
#: the Process API's largest output, pixels per side
MAX_PX = 2500

WINDOWS_CSV = Path(__file__).resolve().parents[1] / "data" / "season_windows.csv"


@dataclass(frozen=True)
class Tile:
    """One request box: snapped to the pixel grid of ``resolution`` in a UTM CRS."""

    tile_id: str
    epsg: int
    bounds: tuple[float, float, float, float]
    width: int
    height: int
    field_ids: tuple[str, ...]


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone holding a point."""
    zone = min(max(int(math.floor((lon + 180.0) / 6.0)) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def _snap(b: np.ndarray, res: float) -> tuple[float, float, float, float]:
    return (math.floor(b[0] / res) * res, math.floor(b[1] / res) * res,
            math.ceil(b[2] / res) * res, math.ceil(b[3] / res) * res)


def _clusters(boxes: np.ndarray, gap: float) -> list[list[int]]:
    """Connected components of boxes closer than ``gap`` (union-find over an STRtree query)."""
    geoms = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    tree = shapely.STRtree(geoms)
    grown = shapely.box(boxes[:, 0] - gap / 2, boxes[:, 1] - gap / 2, boxes[:, 2] + gap / 2, boxes[:, 3] + gap / 2)
    left, right = tree.query(grown, predicate="intersects")
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(left.tolist(), right.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: (float(boxes[g, 0].min()), float(boxes[g, 1].min())))


def plan_tiles(fields: gpd.GeoDataFrame, *, resolution: float = 10.0, merge_distance: float = 1000.0,
               pad_px: int = 2, max_px: int = MAX_PX) -> list[Tile]:
    """Group fields into request boxes (see the module docstring); deterministic for the same fields."""
    if fields.crs is None:
        raise FieldsError(source="fields", problem="no CRS declared")
    if resolution <= 0:
        raise UserInputError(f"resolution: expected a positive number of metres, found {resolution!r}")
    ids = fields["field_id"].astype(str).to_numpy()
    pts = fields.geometry.to_crs(4326).representative_point()
    epsgs = np.array([utm_epsg(p.x, p.y) for p in pts])
    pad = pad_px * resolution
    tiles: list[Tile] = []
    for epsg in sorted(set(epsgs.tolist())):
        sel = np.flatnonzero(epsgs == epsg)
        b = fields.geometry.iloc[sel].to_crs(epsg).bounds.to_numpy(dtype="float64")
        b = b + np.array([-pad, -pad, pad, pad])
        extent_px = np.ceil(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / resolution) + 2
        too_big = extent_px >= max_px
        if too_big.any():
            raise FieldsError(source="fields", problem=f"field larger than one Sentinel Hub request "
                                                       f"({max_px} px of {resolution:g} m)",
                              offenders=list(ids[sel][too_big]))
        zone = f"{epsg % 100:02d}{'N' if epsg < 32700 else 'S'}"
        for ci, group in enumerate(_clusters(b, merge_distance)):
            gb = b[group]
            nominal = max(max_px - int(extent_px[group].max()), 1) * resolution
            x0, y0 = float(gb[:, 0].min()), float(gb[:, 1].min())
            cx = (gb[:, 0] + gb[:, 2]) / 2
            cy = (gb[:, 1] + gb[:, 3]) / 2
            cell = np.floor((cx - x0) / nominal).astype(int) * 100_000 + np.floor((cy - y0) / nominal).astype(int)
            for ti, c in enumerate(sorted(set(cell.tolist()))):
                members = [group[k] for k in np.flatnonzero(cell == c)]
                mb = b[members]
                sb = _snap(np.array([mb[:, 0].min(), mb[:, 1].min(), mb[:, 2].max(), mb[:, 3].max()]), resolution)
                w = round((sb[2] - sb[0]) / resolution)
                h = round((sb[3] - sb[1]) / resolution)
                tiles.append(Tile(tile_id=f"{zone}c{ci:03d}t{ti:02d}", epsg=int(epsg), bounds=sb, width=w, height=h,
                                  field_ids=tuple(sorted(ids[sel][members].tolist()))))
    return tiles


def estimate_pu(width: int, height: int, *, input_bands: int, float32: bool = False, samples: int = 1) -> float:
    """Processing units by Sentinel Hub's documented formula.

    area factor ``w·h / 512²`` (at least 0.01) × input bands / 3 (``dataMask`` not counted)
    × 2 for 32-bit float output × data samples; at least 0.001 PU per request.
    """
    area = max(width * height / (512.0 * 512.0), 0.01)
    pu = area * (input_bands / 3.0) * (2.0 if float32 else 1.0) * max(samples, 1)
    return max(pu, 0.001)


def request_key(url: str, payload: Any) -> str:
    """SHA-256 of the request URL and payload (canonical JSON): the cache key. Holds no credential."""
    blob = json.dumps({"url": url, "payload": payload}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    from features.atomic import write_bytes_atomic

    write_bytes_atomic(data, path)


def season_window(season: str, region: str | None, *, start: date | None = None, end: date | None = None,
                  as_of: date | None = None, windows_csv: Path | None = None) -> tuple[date, date]:
    """The imagery window of ``season``: explicit ``start``/``end`` win; else the region's row of
    ``features/data/season_windows.csv``; the end is clipped to ``as_of``."""
    if start is None or end is None:
        path = windows_csv or WINDOWS_CSV
        row = None
        if path.is_file() and region:
            if windows_csv is None:  # the package's windows and a bank's (features.regions)
                import pandas as pd

                from features.regions import merged

                rows = merged("season_windows.csv", path,
                              lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)).to_dict("records")
            else:
                with path.open(newline="") as fh:
                    rows = list(csv.DictReader(fh))
            row = next((r for r in rows if r.get("region") == region), None)
        if row is None:
            from features.regions import REGIONS_ENV

            where = f"region {region!r}" if region else "fields without a region"
            add = f" (a bank adds its own region's row in the folder {REGIONS_ENV} names)" if windows_csv is None else ""
            raise UserInputError(f"season {season}: no imagery window known for {where} in {path.name}{add}; "
                                 f"give --start and --end (YYYY-MM-DD)")
        year = int(season)

        def _at(mmdd: str, offset: str) -> date:
            m, d = (int(x) for x in mmdd.split("-"))
            return date(year + int(offset or 0), m, d)

        start = start or _at(row["start"], row.get("start_year_offset", "0"))
        end = end or _at(row["end"], row.get("end_year_offset", "0"))
    if as_of is not None and as_of < end:
        end = as_of
    if end < start:
        raise UserInputError(f"season {season}: imagery window ends ({end}) before it starts ({start})")
    return start, end
