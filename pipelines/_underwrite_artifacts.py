"""Where an underwriting run keeps the FieldFeatures it decided on, for ``agcredit explain``.

The table is written content-addressed to ``<artifacts>/features/<sha256 of the Parquet bytes>.parquet``
(:func:`artifacts_dir`: beside a SQLite store, else ``$AGCREDIT_ARTIFACTS_DIR``). Re-exported by
:mod:`pipelines.underwrite`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from underwriting.records import sha256_hex

ARTIFACTS_ENV = "AGCREDIT_ARTIFACTS_DIR"


def artifacts_dir(store_url: str | None) -> Path:
    """Artifacts folder of a decision store: ``<db dir>/<db stem>.artifacts/`` for a SQLite file, else
    ``$AGCREDIT_ARTIFACTS_DIR`` (default ``./agcredit-artifacts``)."""
    from underwriting.store import store_url as _resolve

    url = _resolve(store_url)
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):].split("?", 1)[0]
        if rest and rest != ":memory:":
            db = Path(rest)
            return db.parent / f"{db.stem}.artifacts"
    return Path(os.environ.get(ARTIFACTS_ENV, "./agcredit-artifacts"))


def features_path(store_url: str | None, sha: str) -> Path:
    """Where the FieldFeatures table with content hash ``sha`` lives for the store at ``store_url``."""
    return artifacts_dir(store_url) / "features" / f"{sha}.parquet"


def write_features_artifact(features: pd.DataFrame, store_url: str | None, *, write: bool = True,
                            created: list[Path] | None = None) -> str:
    """Write ``features`` as ``<artifacts>/features/<sha256>.parquet`` (atomic; kept if present); the hash
    (``write=False``: the hash only). ``created``: the file's path is added to it when this call wrote it (not when it
    was present) — what a run that fails before its records are stored removes."""
    sha, data = _features_bytes(features)
    if write:
        fresh = not features_path(store_url, sha).exists()
        _write_artifact(data, sha, store_url)
        if fresh and created is not None:
            created.append(features_path(store_url, sha))
    return sha


def _features_bytes(features: pd.DataFrame) -> tuple[str, bytes]:
    buf = io.BytesIO()
    features.to_parquet(buf, index=False)
    data = buf.getvalue()
    return sha256_hex(data), data


def _write_artifact(data: bytes, sha: str, store_url: str | None) -> None:
    from features.atomic import write_bytes_atomic

    path = features_path(store_url, sha)
    if not path.exists():
        write_bytes_atomic(data, path)
