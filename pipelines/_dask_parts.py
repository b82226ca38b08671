"""Partitions and their output files (private; see :mod:`pipelines.distributed`).

- :func:`spatial_partitions` cuts a field set into spatially compact blocks: fields are
  ordered along a Hilbert curve over their bounding-box centres (ties by field id) and
  the order is cut into nearly equal runs of at most ``chunk`` fields. A block's fields
  are close together, so its task reads small windows of few tiles.
- :func:`group_partitions` keeps every group (a farmer's applications) in one partition.
- :func:`content_key` names a partition by the hash of everything its result depends on;
  :func:`write_part` writes ``<out>/part-<key>.parquet`` atomically (temporary file in
  the same folder + rename), with a JSON document in the Parquet metadata. A part that
  exists is finished: re-runs skip it; a task run twice (a worker lost after writing)
  writes the same bytes under the same name — nothing is duplicated, nothing lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.atomic import temp_beside
from models._digest import frame_hash

__all__ = ["PART_META_KEY", "content_key", "frame_hash", "spatial_partitions", "group_partitions", "part_path",
           "write_part", "read_part", "read_part_meta", "remove_stale_tmp"]

PART_META_KEY = b"agcredit.part"
_OBJECT_KEY = b"agcredit.object-columns"


def content_key(*parts: Any) -> str:
    """24 hex digits of SHA-256 over the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def spatial_partitions(geoms: Any, ids: Sequence[str], chunk: int) -> list[np.ndarray]:
    """Row positions of each spatial block, blocks in Hilbert order (see the module docstring)."""
    import shapely

    n = len(ids)
    if n == 0:
        return []
    chunk = max(1, int(chunk))
    b = shapely.bounds(np.asarray(geoms, dtype=object))
    cx, cy = (b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0
    lo_x, hi_x, lo_y, hi_y = np.nanmin(cx), np.nanmax(cx), np.nanmin(cy), np.nanmax(cy)
    span = max(hi_x - lo_x, hi_y - lo_y) or 1.0
    side = 1 << 16
    ix = np.clip(((cx - lo_x) / span * (side - 1)).astype(np.int64), 0, side - 1)
    iy = np.clip(((cy - lo_y) / span * (side - 1)).astype(np.int64), 0, side - 1)
    d = _hilbert(ix, iy, side)
    order = np.lexsort((np.asarray(ids, dtype=object).astype(str), d))
    n_parts = -(-n // chunk)
    return [np.sort(p) for p in np.array_split(order, n_parts)]


def _hilbert(x: np.ndarray, y: np.ndarray, side: int) -> np.ndarray:
    """Distance along the Hilbert curve of a ``side`` × ``side`` grid (vectorised xy2d)."""
    x, y = x.copy(), y.copy()
    d = np.zeros(x.size, dtype=np.int64)
    s = side // 2
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, side - 1 - x, x)
        swap_y = np.where(flip & rx, side - 1 - y, y)
        x = np.where(flip, swap_y, swap_x)
        y = np.where(flip, swap_x, swap_y)
        s //= 2
    return d


def group_partitions(groups: Sequence[str], chunk: int) -> list[np.ndarray]:
    """Row positions per partition, whole groups only, groups in sorted order, about ``chunk`` rows each."""
    g = pd.Series(np.asarray(groups, dtype=object).astype(str))
    if g.empty:
        return []
    chunk = max(1, int(chunk))
    order = np.argsort(g.to_numpy(), kind="stable")
    sg = g.to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])
    parts: list[np.ndarray] = []
    begin = 0
    for i, s in enumerate(starts.tolist()):
        nxt = int(starts[i + 1]) if i + 1 < len(starts) else len(sg)
        if nxt - begin > chunk and s > begin:
            parts.append(np.sort(order[begin:s]))
            begin = s
    parts.append(np.sort(order[begin:]))
    return parts


def part_path(out: str | Path, key: str) -> Path:
    return Path(out) / f"part-{key}.parquet"


def write_part(df: pd.DataFrame, path: Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``df`` (and ``meta`` as JSON in the file's metadata) to ``path`` atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[PART_META_KEY] = json.dumps(meta or {}, sort_keys=True).encode()
    md[_OBJECT_KEY] = json.dumps([str(c) for c in df.columns if df[c].dtype == object]).encode()
    table = table.replace_schema_metadata(md)
    with temp_beside(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_part_meta(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    md = pq.read_schema(path).metadata or {}
    raw = md.get(PART_META_KEY)
    return dict(json.loads(raw)) if raw else {}


def read_part(path: Path) -> pd.DataFrame:
    """A part as written: object columns (Parquet stores them as strings) come back as object, None for missing."""
    import pyarrow.parquet as pq

    df = pd.read_parquet(path)
    raw = (pq.read_schema(path).metadata or {}).get(_OBJECT_KEY)
    for c in json.loads(raw) if raw else []:
        if c in df.columns and df[c].dtype != object:
            col = df[c].astype(object)
            df[c] = col.where(df[c].notna(), None)
    return df


def remove_stale_tmp(out: str | Path) -> int:
    """Remove temporary files a killed task left in ``out`` (call after a run completed); returns how many."""
    n = 0
    for p in Path(out).glob(".part-*.tmp"):
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n
