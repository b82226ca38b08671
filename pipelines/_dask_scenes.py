"""Which scene files each spatial block needs (private; see :mod:`pipelines.distributed`).

A block's task must not open every file of a national archive. The client reads the scene
index once, keeps the files of the season window (not after ``as_of``), reads each file's
header (CRS and bounds) once, and gives every block the rows of the files whose footprint
meets the block's bounding box in that file's CRS — a superset of the files whose footprint
meets one of its fields, so the block's statistics are those of the whole index. Files that
are missing or unreadable go to every block (``build_series`` then reports them exactly as
a single-process run would). Each task writes its rows as its own ``index.csv`` (absolute
paths) in a temporary folder: workers need the scenes at the same path (a shared file system
or an object store mounted as one).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SceneRows", "scene_rows_per_block", "write_index"]

#: (header of index.csv, rows of one block)
SceneRows = tuple[list[str], list[list[str]]]


def _window(fields: Any, season: str, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    from features.series import season_window

    if start is not None and end is not None:
        return start, end
    regions = fields["region"] if "region" in fields.columns else pd.Series([None] * len(fields))
    keys = {None if pd.isna(r) else str(r) for r in regions}
    wins = [season_window(season, k) for k in sorted(keys, key=str)]
    return start or min(w[0] for w in wins), end or max(w[1] for w in wins)


def scene_rows_per_block(index: Path, fields: Any, blocks: Sequence[np.ndarray], season: str, *,
                         as_of: dt.date | None, start: dt.date | None, end: dt.date | None) -> list[SceneRows] | None:
    """Index rows per block, or None when the imagery is not a scene index (tables, Sentinel Hub)."""
    import rasterio
    import shapely
    from rasterio.errors import RasterioError

    from features.sources.local import read_index, select_scenes

    idx = index / "index.csv" if index.is_dir() else index
    if not idx.is_file() or idx.suffix.lower() != ".csv" or idx.name != "index.csv":
        return None
    lo, hi = _window(fields, season, start, end)
    keep = {(s.date.isoformat(), s.tile_id) for s in select_scenes(read_index(idx), lo, hi, as_of)}
    table = pd.read_csv(idx, dtype=str, keep_default_na=False)
    header = [str(c) for c in table.columns]
    rows: list[list[str]] = []
    foot: list[tuple[Any, tuple[float, float, float, float]] | None] = []
    for r in table.to_dict("records"):
        if (str(r["date"]).strip(), str(r["tile_id"]).strip()) not in keep:
            continue
        path = (idx.parent / str(r["path"]).strip()).resolve()
        rows.append([str(path) if c == "path" else str(r[c]) for c in header])
        try:
            with rasterio.open(path) as src:
                foot.append((src.crs, tuple(src.bounds)) if src.crs is not None else None)
        except (RasterioError, OSError):
            foot.append(None)  # every block gets it: build_series reports it
    boxes: dict[tuple[int, str], Any] = {}
    out: list[SceneRows] = []
    for b, rows_b in enumerate(blocks):
        part = fields.iloc[rows_b]
        mine = []
        for row, fp in zip(rows, foot, strict=True):
            if fp is None:
                mine.append(row)
                continue
            crs, bounds = fp
            k = (b, crs.to_wkt())
            if k not in boxes:
                boxes[k] = shapely.box(*part.geometry.to_crs(crs).total_bounds)
            if shapely.intersects(boxes[k], shapely.box(*bounds)):
                mine.append(row)
        out.append((header, mine))
    return out


def write_index(rows: SceneRows) -> Path:
    """A temporary folder holding ``index.csv`` with these rows (the caller removes it with :func:`remove`)."""
    header, body = rows
    from features.atomic import private_tempdir_prefix, sweep_private_tempdirs

    sweep_private_tempdirs("block")
    folder = Path(tempfile.mkdtemp(prefix=private_tempdir_prefix("block")))
    pd.DataFrame(body, columns=header).to_csv(folder / "index.csv", index=False)
    return folder


def remove(folder: Path) -> None:
    from features.atomic import is_private_tempdir

    if is_private_tempdir(folder, "block") and os.path.isdir(folder):
        shutil.rmtree(folder, ignore_errors=True)
