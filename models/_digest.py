"""Content hashes of tables and folders: what a model version was trained on, what a Dask part was computed from,
which saved model a folder holds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["folder_hash", "frame_hash", "training_data_record"]


def frame_hash(df: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and values (row order matters, index does not)."""
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    if len(df):
        plain = pd.DataFrame({c: (df[c].astype("str") if df[c].dtype == object else df[c]) for c in df.columns})
        h.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
    return h.hexdigest()


def training_data_record(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """Per named training table: ``sha256`` of its content (:func:`frame_hash`), ``rows`` and ``columns`` — what a
    registered version records so model risk can tell which data trained it, not only which seasons."""
    return {str(name): {"sha256": frame_hash(df), "rows": int(len(df)), "columns": int(df.shape[1])}
            for name, df in sorted(tables.items())}


def folder_hash(folder: str | Path) -> str:
    """SHA-256 (hex) of a folder's files: each relative name and the SHA-256 of its bytes, in name order — the same
    model saved twice, or copied elsewhere, hashes alike."""
    h = hashlib.sha256()
    root = Path(folder)
    for f in sorted(x for x in root.rglob("*") if x.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()
