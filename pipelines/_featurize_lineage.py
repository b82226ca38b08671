"""A features file's lineage (pipelines/featurize.py): what it was computed from, kept in its Parquet metadata, and the atomic write."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:

    from pipelines.featurize import FeaturizeResult


#: the lineage key of the farmers (tokens) a ``features build --rejects`` left out, their fields having rows set
#: aside: ``underwrite --features`` does not decide their applications (:func:`features_held`); an empty list in
#: every other file :func:`featurize_to_file` writes (a lineage without the key: a file of an earlier release)
HELD_KEY = "held_farmers"


def features_held(lineage: Mapping[str, Any] | None) -> set[str]:
    """The farmers a features file's lineage says were left out (:data:`HELD_KEY`; empty when it says none)."""
    got = (lineage or {}).get(HELD_KEY)
    return {str(t) for t in got if isinstance(t, str)} if isinstance(got, list) else set()


#: the Parquet metadata key of a FieldFeatures file's lineage (:func:`lineage`, :func:`read_lineage`)
LINEAGE_KEY = "agcredit.lineage"


def lineage(res: FeaturizeResult, crop_model: str | None) -> dict[str, Any]:
    """What a FieldFeatures file was built from, as a decision's provenance names it: the crop model's description
    (``none`` without one), the imagery (:func:`pipelines.underwrite.portable_source`), the acquisition dates and the
    smoother's haze dates — so a decision made later from the file names these, not the models of its own day; with
    ``AGCREDIT_REGIONS_DIR`` set, also the digest of the bank's region files the features were built with."""
    from pipelines.underwrite import portable_source

    out: dict[str, Any] = {"crop_model_version": crop_model, "imagery_source": portable_source(res.source),
                           "acquisition_dates": [d.isoformat() for d in res.dates_used],
                           "families": dict(res.families), "smoother_hazy_dates": list(res.hazy_dates)}
    if res.haze_pinned:
        out["smoother_haze_pinned"] = True
    if res.missing_acquisitions:  # built without them (--allow-missing-acquisitions): only then, bodies as before
        out["missing_acquisitions"] = list(res.missing_acquisitions)
    from features.regions import provenance as regions_provenance

    out.update(regions_provenance())  # a bank's region files shaped the features (only with AGCREDIT_REGIONS_DIR)
    return out


def read_lineage(path: str | Path) -> dict[str, Any] | None:
    """The lineage written into the FieldFeatures Parquet file at ``path`` (None: a file without one — written by
    another tool or an earlier release)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(LINEAGE_KEY.encode())
    if raw is None:
        return None
    try:
        got = json.loads(raw)
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def write_parquet_atomic(df: pd.DataFrame, out: str | Path, *, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``df`` as Parquet via a temporary file in the same folder and a rename (no partial file)."""
    from features.atomic import write_table_atomic

    return write_table_atomic(df, out, fmt="parquet", metadata=metadata)
