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

__all__ = ["read_truth", "synthetic_label", "is_synthetic", "data_kind", "json_ready", "UNLABELLED", "group_keys",
           "season_group_keys", "season_groups"]


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


def group_keys(county: str | Path, by: str) -> pd.DataFrame | None:
    """field_id, season, group: each field-season's group for ``agcredit evaluate … --interval-by`` (a cluster
    bootstrap, :mod:`pipelines.evaluation._bootstrap`): ``condition`` — the truth's ``condition_id`` (the fields of one
    simulated growth run); ``farmer`` — the declared fields' farmer (``records/fields.gpkg``, as
    :meth:`pipelines.county.County.fields` reads it: the keyed ``farmer_token`` of the farmer's national ID, the
    identifier itself never held, and the token kept only in memory as a group key, never written). None for
    ``field`` (every field its own group: the draws as before). A field-season without a group value is its own group
    (:func:`pipelines.evaluation._bootstrap.group_codes`). A one-line :class:`UserInputError` (exit 2) for an unknown
    ``by``, for ``condition`` on a county whose truth has no condition ids and for ``farmer`` on records naming no
    farmer."""
    from pipelines.evaluation._bootstrap import check_interval_by

    by = check_interval_by(by)
    if by == "field":
        return None
    path = Path(county)
    if by == "condition":
        t = read_truth(path)
        if "condition_id" not in t.columns or not t["condition_id"].notna().any():
            raise UserInputError(f"--interval-by condition: {path / 'truth' / 'fields.parquet'} has no condition ids "
                                 "(condition_id)")
        return pd.DataFrame({"field_id": t["field_id"].astype(str), "season": t["season"].astype(str),
                             "group": t["condition_id"].to_numpy(dtype=object)})
    from pipelines.county import County

    f = County(path).fields()
    if "farmer_token" not in f.columns or not f["farmer_token"].notna().any():
        raise UserInputError(f"--interval-by farmer: {path / 'records' / 'fields.gpkg'} names no farmer")
    return pd.DataFrame({"field_id": f["field_id"].astype(str).to_numpy(), "season": f["season"].astype(str).to_numpy(),
                         "group": f["farmer_token"].to_numpy(dtype=object)})


def season_groups(keys: pd.DataFrame | None, season: str, field_ids: Any) -> Any:
    """The group codes (:func:`pipelines.evaluation._bootstrap.group_codes`) of ``field_ids`` (in their order) in
    ``season`` from :func:`group_keys`' table; None when ``keys`` is None (``--interval-by field``)."""
    from pipelines.evaluation._bootstrap import group_codes

    if keys is None:
        return None
    return group_codes(pd.Series(list(field_ids), dtype=object).astype(str).map(season_group_keys(keys, season)))


def season_group_keys(keys: pd.DataFrame, season: str) -> pd.Series:
    """field_id → group key of ``season``'s field-seasons in :func:`group_keys`' table."""
    return keys[keys["season"] == str(season)].drop_duplicates("field_id").set_index("field_id")["group"]


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
