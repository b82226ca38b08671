"""Plain Python values of a decision's inputs (private to :mod:`underwriting.decisions`): pandas/numpy scalars as
Python values, JSON-ready values and their hashes, provenance without credentials, dates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from underwriting.records import canonical_json, sha256_hex

_SECRET_HINTS = ("secret", "password", "passwd", "credential", "api_key", "apikey", "access_token", "auth")


def _py(v: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value; NA → None, timestamps → date."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.date() if not pd.isna(v) else None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _row(r: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    return {str(k): _py(v) for k, v in dict(r).items()}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _py(v) for k, v in r.items()} for r in df.to_dict("records")]


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    v = _py(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and math.isinf(v):
        return None
    return v


def _hash(obj: Any) -> str:
    return sha256_hex(canonical_json(_jsonable(obj)))


def _clean_provenance(p: Any) -> Any:
    """Provenance without anything that looks like a credential (never stored)."""
    if isinstance(p, Mapping):
        return {str(k): _clean_provenance(v) for k, v in p.items()
                if not any(h in str(k).lower() for h in _SECRET_HINTS)}
    if isinstance(p, list | tuple):
        return [_clean_provenance(x) for x in p]
    return _jsonable(p)


def _as_date(d: date | datetime | pd.Timestamp | str) -> date:
    if isinstance(d, str):
        return date.fromisoformat(d)
    if isinstance(d, pd.Timestamp | datetime):
        return d.date()
    return d


def _day_or_none(v: Any) -> date | None:
    """A date from a date, timestamp or ISO text; None for an empty cell."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or (isinstance(v, str) and not v.strip()):
        return None
    return pd.Timestamp(v).date()
