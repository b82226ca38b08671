"""Two runs' decisions and valuations side by side (private to :mod:`pipelines.impact`): one row per application
(outcomes, values, limits, granted, maturity, proposed actions, reasons) and the fields' valuations by crop and
region.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_GRANTING = ("APPROVE", "REDUCE")


APPLICATION_COLUMNS = ["application_id", "farmer_token", "currency", "outcome_base", "outcome_candidate",
                       "value_base", "value_candidate", "limit_base", "limit_candidate", "granted_base",
                       "granted_candidate", "granted_change", "requested", "maturity_base", "maturity_candidate",
                       "actions_base", "actions_candidate", "reasons_added", "reasons_removed", "changed"]


def _granted(item: Any) -> int:
    """The limit granted by a decision: its limit when approved or reduced, else nothing."""
    return int(item.limit) if item.outcome in _GRANTING else 0


def _value(item: Any) -> int | None:
    """The expected crop value of a decision's fields as valued, before any was set aside for its evidence (minor
    units), None when its computation records none."""
    v = (item.body.get("computation") or {}).get("expected_value_claimed")
    return None if v is None else int(v)


def _maturity(item: Any) -> str:
    """The line's maturity date a decision computed (empty when it records none)."""
    return str((item.body.get("computation") or {}).get("maturity_date") or "")


def _actions(item: Any) -> str:
    """A re-underwriting's proposed actions (``reunderwrite.proposed_actions``) or a renewal's (policy
    ``renewals_propose_actions``), ``;``-joined; empty otherwise."""
    block = item.body.get("reunderwrite") or item.body.get("renewal") or {}
    return ";".join(str(a) for a in (block.get("proposed_actions") or []))


def _reasons(item: Any) -> set[str]:
    """A decision's reason codes and, when referred, why it was referred."""
    return set(item.reason_codes) | {str(r) for r in (item.body.get("refer_reasons") or [])}


def compare_decisions(base: list[Any], candidate: list[Any]) -> pd.DataFrame:
    """One row per application (sorted by id) of two runs deciding the same applications: each run's outcome, the
    expected crop value of its fields as the model valued them, before the evidence rules set any aside
    (``value_*``: the computation's ``expected_value_claimed``, minor units; None when it records none), its
    limit (minor units; a referred decision's is the limit its computation reached, for the analyst) and granted
    limit (the limit of an approved or reduced decision, else 0), the granted change, the requested amount, the
    line's maturity date (``computation.maturity_date``: the term follows the expected harvest), the proposed actions
    of a re-underwriting or a renewal (``reunderwrite.proposed_actions``, ``renewal.proposed_actions``; ``;``-joined;
    empty for a new application), the reasons the candidate adds
    and removes (``;``-joined, sorted) and whether anything of the decision changed (outcome, limit, maturity,
    proposed actions or reasons)."""
    a = {i.application_id: i for i in base}
    b = {i.application_id: i for i in candidate}
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ValueError(f"compare_decisions: the runs decided different applications ({', '.join(only[:3])})")
    rows = []
    for aid in sorted(a):
        x, y = a[aid], b[aid]
        ra, rb = _reasons(x), _reasons(y)
        ga, gb = _granted(x), _granted(y)
        req = (x.body.get("application") or {}).get("requested_amount")
        rows.append({"application_id": aid, "farmer_token": x.farmer_token, "currency": x.currency,
                     "outcome_base": x.outcome, "outcome_candidate": y.outcome, "value_base": _value(x),
                     "value_candidate": _value(y), "limit_base": int(x.limit),
                     "limit_candidate": int(y.limit), "granted_base": ga,
                     "granted_candidate": gb, "granted_change": gb - ga,
                     "requested": int(req) if req is not None else None,
                     "maturity_base": _maturity(x), "maturity_candidate": _maturity(y),
                     "actions_base": _actions(x), "actions_candidate": _actions(y),
                     "reasons_added": ";".join(sorted(rb - ra)), "reasons_removed": ";".join(sorted(ra - rb)),
                     "changed": (x.outcome != y.outcome or x.limit != y.limit or ra != rb
                                 or _maturity(x) != _maturity(y) or _actions(x) != _actions(y))})
    out = pd.DataFrame(rows, columns=APPLICATION_COLUMNS)
    return out.astype({"limit_base": "int64", "limit_candidate": "int64", "granted_base": "int64",
                       "granted_candidate": "int64", "granted_change": "int64", "changed": bool,
                       "value_base": "Int64", "value_candidate": "Int64"})


def compare_values(base: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """The two runs' field valuations by the champion's crop and region: fields, the P10 value totals (minor units;
    the limit is built on it) and the median P50 yields of each, the fields the candidate values as another crop,
    and the fields leaving and entering the versions' validated scope. Fields valued by one run only are counted in
    ``only_base`` / ``only_candidate`` (a crop model that finds no crop where the other found one)."""
    keys = ["field_id"]
    cols = ["field_id", "crop", "region", "currency", "value_p10", "yield_p50_t_ha", "in_scope"]
    m = base[cols].merge(candidate[cols], on=keys, how="outer", suffixes=("_b", "_c"), indicator=True)
    m["crop"] = m["crop_b"].where(m["crop_b"].notna(), m["crop_c"])
    m["region"] = m["region_b"].where(m["region_b"].notna(), m["region_c"]).astype(object).fillna("")
    rows = []
    for (crop, region), g in m.groupby(["crop", "region"], sort=True, dropna=False):
        both = g[g["_merge"] == "both"]
        rows.append({
            "crop": str(crop), "region": str(region) or None, "fields": len(g),
            "currency": str(g["currency_b"].dropna().iloc[0] if g["currency_b"].notna().any()
                            else g["currency_c"].dropna().iloc[0]),
            "value_p10_base": int(g["value_p10_b"].fillna(0).sum()),
            "value_p10_candidate": int(g["value_p10_c"].fillna(0).sum()),
            "p50_median_base": float(np.median(g["yield_p50_t_ha_b"].dropna())) if g["yield_p50_t_ha_b"].notna().any()
            else None,
            "p50_median_candidate": float(np.median(g["yield_p50_t_ha_c"].dropna()))
            if g["yield_p50_t_ha_c"].notna().any() else None,
            "other_crop": int((both["crop_b"].astype(str) != both["crop_c"].astype(str)).sum()),
            "left_scope": int((both["in_scope_b"].astype(bool) & ~both["in_scope_c"].astype(bool)).sum()),
            "entered_scope": int((~both["in_scope_b"].astype(bool) & both["in_scope_c"].astype(bool)).sum()),
            "only_base": int((g["_merge"] == "left_only").sum()),
            "only_candidate": int((g["_merge"] == "right_only").sum()),
        })
    return pd.DataFrame(rows)
