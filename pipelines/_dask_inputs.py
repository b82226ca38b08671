"""What the distributed stages share about their inputs (private; see :mod:`pipelines.distributed`): the default
block size, paths made absolute on the client, the fields' spatial blocks, and what identifies the imagery (a folder,
a table, a Process-API download) in a part's key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipelines._dask_parts import (
    spatial_partitions,
)

__all__ = [
    "DEFAULT_CHUNK_FIELDS", "client_paths", "field_blocks", "_imagery_fingerprint", "_is_process_api",
    "_download_fingerprint",
]

DEFAULT_CHUNK_FIELDS = 5000


#: imagery given by name, not by path (features.sources)
_SOURCE_KEYWORDS = frozenset({"sentinelhub", "sentinelhub-stats"})


def client_paths(p: Any) -> Any:
    """``p`` (a path, or a path's text) made absolute on the client: a task carries it to workers that may run
    in another directory (``--scheduler``: a relative ``--out`` wrote every part into each worker's own working
    directory — a pod's scratch space — while the client's folder stayed empty). Text that is no local path (a
    URL, ``sentinelhub``...) is kept."""
    if p is None:
        return p
    text = str(p)
    if "://" in text or (isinstance(p, str) and (text.lower().split(":")[0] in _SOURCE_KEYWORDS
                                                 or (not Path(text).exists() and "/" not in text))):
        return p  # a source keyword stays one even when a folder of that name sits in the working directory
    resolved = Path(text).expanduser().absolute()
    return resolved if isinstance(p, Path) else str(resolved)


def field_blocks(fields: Any, chunk_fields: int = DEFAULT_CHUNK_FIELDS) -> list[np.ndarray]:
    """Row positions of the spatial blocks of ``fields`` (Hilbert order, at most ``chunk_fields`` each)."""
    return spatial_partitions(fields.geometry.to_numpy(), fields["field_id"].astype(str).tolist(), chunk_fields)


def _imagery_fingerprint(imagery: str | Path) -> Any:
    """What identifies the imagery in a part key: the index/table bytes' hash and the files' sizes and times."""
    import hashlib

    p = Path(str(imagery))
    if not p.exists():
        return str(imagery)
    idx = p / "index.csv" if p.is_dir() else p
    if not idx.is_file():
        return str(p.resolve())
    h = hashlib.sha256(idx.read_bytes())
    if idx.name == "index.csv":
        for line in sorted(idx.read_text().splitlines()[1:]):
            rel = line.split(",")[2] if line.count(",") >= 2 else ""
            f = idx.parent / rel
            if rel and f.is_file():
                st = f.stat()
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return [str(idx.resolve()), h.hexdigest()]


def _is_process_api(imagery: Any) -> bool:
    """Whether ``imagery`` names a Process-API download (``sentinelhub``; not the Statistical API)."""
    return imagery is not None and str(imagery).strip().lower() == "sentinelhub"


def _download_fingerprint(folder: Path) -> Any:
    """What identifies a downloaded scene folder in a part key: its index's bytes and its files' sizes — not its
    path nor the files' times (a download to a temporary folder, or fetched again from the cache, is the same
    imagery)."""
    import hashlib

    idx = Path(folder) / "index.csv"
    h = hashlib.sha256(idx.read_bytes())
    for line in sorted(idx.read_text().splitlines()[1:]):
        rel = line.split(",")[2] if line.count(",") >= 2 else ""
        f = idx.parent / rel
        if rel and f.is_file():
            h.update(f"{rel}:{f.stat().st_size}".encode())
    return ["sentinelhub", h.hexdigest()]

