"""The model contributions behind each field's P50 yield (private to :mod:`pipelines.explain`): where the
features a decision used live, loading the recorded model version, and its ``explain`` for this application's
rows only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from underwriting.records import sha256_hex

#: (model name, version) -> a fitted model with ``explain(rows)``
ModelLoader = Callable[[str, str], Any]


def features_path(store_url: str, sha: str) -> Path:
    """Where the FieldFeatures table with content hash ``sha`` lives for the store at ``store_url``."""
    from pipelines.underwrite import features_path as _path

    return _path(store_url, sha)


def _registry_loader(name: str, version: str) -> Any:
    """Load ``name`` version ``version`` from the registry (its local copy when there is one)."""
    from models import registry
    from models.errors import RegistryError

    try:
        return registry.resolve(name, version).model
    except RegistryError as e:
        raise LookupError(str(e)) from None


def _feature_value(rows: pd.DataFrame, idx: Any, name: str) -> Any:
    r = rows.loc[idx]
    if name == "season_year":
        return str(r["season"])
    if name == "as_of_day":
        return (pd.Timestamp(r["as_of"]) - pd.Timestamp(f"{r['season']}-01-01")).days
    if name == "crop":
        for c in ("crop", "crop_type", "declared_crop"):
            if c in rows.columns and pd.notna(r[c]):
                return str(r[c])
        return None
    if name in rows.columns:
        v = r[name]
        if pd.isna(v):
            return None
        return v.item() if hasattr(v, "item") else v
    from models._yield_features import SPANS, date_features

    if (name.startswith("day_") or name in SPANS) and "season" in rows.columns:
        # a phenology date the model reads as days of the season year (or a span of two): derived, not a column —
        # shown as "None" it read as a missing date when the model had one (day_expected_harvest_date at mid-season)
        d = float(date_features(rows.loc[[idx]], [name])[name][0])
        return None if np.isnan(d) else d
    return None


def _contributions(body: dict[str, Any], store_url: str, loader: ModelLoader,
                   entries: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Per field id: model, base value, raw P50 and sorted contributions; or a note saying why not."""
    sha = (body.get("provenance") or {}).get("features_sha256")
    if not sha:
        return {}, "no model contributions: the decision recorded no features_sha256 in its provenance"
    path = features_path(store_url, str(sha))
    if not path.exists():
        return {}, f"no model contributions: the features the decision used are not at {path}"
    data = path.read_bytes()
    if sha256_hex(data) != sha:
        return {}, f"no model contributions: {path} does not match its recorded SHA-256"
    import io

    feats = pd.read_parquet(io.BytesIO(data))
    season = str(body["application"]["season"])
    wanted = {str(e["field_id"]) for e in entries if e.get("model_version") is not None}
    feats = feats[feats["field_id"].astype(str).isin(wanted) & (feats["season"].astype(str) == season)]
    out: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    groups: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        if str(e["field_id"]) in wanted:
            groups.setdefault((str(e["model_name"]), str(e["model_version"])), []).append(str(e["field_id"]))
    for (name, version), fids in sorted(groups.items()):
        rows = feats[feats["field_id"].astype(str).isin(fids)]
        if rows.empty:
            notes.append(f"fields {', '.join(fids[:5])} are not in the recorded features")
            continue
        try:
            model = loader(name, version)
        except (LookupError, UserInputError, OSError) as e:
            notes.append(f"{name} v{version} could not be loaded ({e})")
            continue
        contrib = model.explain(rows)  # only this application's rows
        for idx in rows.index:
            fid = str(rows.at[idx, "field_id"])
            c = contrib.loc[idx]
            base = float(c["expected_value"])
            parts = [{"feature": str(k), "value": _feature_value(rows, idx, str(k)), "contribution": float(v)}
                     for k, v in c.items() if k != "expected_value"]
            parts.sort(key=lambda p: (-abs(p["contribution"]), p["feature"]))
            out[fid] = {"model": f"{name} v{version}", "base_value": base,
                        "raw_p50": base + sum(p["contribution"] for p in parts), "contributions": parts}
    note = ("some model contributions are missing: " + "; ".join(notes)) if notes else None
    return out, note
