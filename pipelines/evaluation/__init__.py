"""Honest evaluation on a county folder (the demo layout): only this package reads ``truth/``.

Every ``agcredit evaluate`` command runs the production pipeline on the county exactly as a
user would, trains only on past seasons where training is involved, and compares with the
county's ``truth/`` folder, printing a naive baseline beside every metric and labelling the
figures *synthetic* or *real* as ``county.json``'s ``synthetic`` flag says (*unlabelled* without one).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError

__all__ = ["read_truth", "synthetic_label", "is_synthetic", "data_kind", "json_ready", "UNLABELLED"]


#: the label of a county whose county.json does not say whether it is synthetic: never taken for real data
UNLABELLED = "unlabelled (county.json has no synthetic flag)"


def _synthetic_flag(county: str | Path) -> bool | None:
    """``county.json``'s ``synthetic`` flag: True, False, or None when there is no county.json, no flag, or a flag
    that is not a JSON boolean (``"false"``, ``0``, ``null``)."""
    p = Path(county) / "county.json"
    if not p.exists():
        return None
    meta = json.loads(p.read_text())
    flag = meta.get("synthetic") if isinstance(meta, dict) else None
    return flag if isinstance(flag, bool) else None


def is_synthetic(county: str | Path) -> bool:
    """Whether ``county.json`` marks the county as synthetic (``"synthetic": true``). False does NOT mean real:
    a county without the flag is unlabelled (:func:`synthetic_label`)."""
    return _synthetic_flag(county) is True


def data_kind(county: str | Path) -> str:
    """``"synthetic"``, ``"real"`` or ``"unlabelled"``: the kind of data a county holds, as a model's governance
    record carries it (:data:`models.governance.DATA_KINDS`) — ``"real"`` only when ``county.json`` says
    ``"synthetic": false``; a missing flag (or county.json) fails closed, never as real."""
    flag = _synthetic_flag(county)
    if flag is None:
        return "unlabelled"
    return "synthetic" if flag else "real"


def synthetic_label(county: str | Path) -> str:
    """``"synthetic"``, ``"real"`` or :data:`UNLABELLED`, for printing beside every figure: ``"real"`` only when
    ``county.json`` says ``"synthetic": false`` — a missing flag (or county.json) fails closed, never as real."""
    kind = data_kind(county)
    return UNLABELLED if kind == "unlabelled" else kind


def read_truth(county: str | Path, table: str = "fields") -> pd.DataFrame:
    """A truth table (``fields``, ``canopy``) of a county; a clear error when the county has none."""
    p = Path(county) / "truth" / f"{table}.parquet"
    if not p.exists():
        raise UserInputError(f"{p}: no truth table '{table}' — evaluate needs a county folder with truth/")
    df = pd.read_parquet(p)
    if "season" in df.columns:
        df["season"] = df["season"].astype("str")
    if "field_id" in df.columns:
        df["field_id"] = df["field_id"].astype("str")
    return df


def json_ready(obj: Any) -> Any:
    """``obj`` with every non-finite float (a metric of an empty set) as None, so that ``--json`` is valid JSON
    (``json.dumps`` writes a bare ``NaN``, which JSON parsers other than Python's refuse)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return obj
