"""Policy backtest on history (library part; the CLI and county wiring live in pipelines/).

A line is *not covered* when the realised crop value × advance rate falls below
limit × (1 + rate × term / 365) — what the bank would have needed back (CREDIT_POLICY.md,
Model risk monitoring). All functions take in-memory tables:

- ``lines``: application_id, limit (int minor units), term_days, crop (the line's main crop);
  optional further columns (season, checkpoint, policy) are kept for grouping.
  :func:`lines_from_decisions` builds it from DecisionItems, :func:`naive_lines` for the
  naive baseline policy (a fixed amount per declared hectare).
- ``realised``: application_id, realised_value (int minor units, may be NA when the
  harvest was not reported); :func:`realised_values` builds it from reported yields.

Lines with limit 0 (declined) are not lines and are left out; lines whose realised value
is unknown are counted apart (``n_unknown``), never as covered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, Decimal

import pandas as pd

from features.errors import ContractError
from underwriting.decisions import _py
from underwriting.policy import Policy
from underwriting.records import DecisionItem
from underwriting.rules import field_value, round_down

__all__ = ["backtest", "lines_from_decisions", "naive_lines", "realised_values", "summarise_backtest"]


def _need(df: pd.DataFrame, cols: Sequence[str], where: str) -> None:
    for c in cols:
        if c not in df.columns:
            raise ContractError(table=where, column=c, expected="column present", found="missing")


def realised_values(realised: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Realised crop value per application: Σ area × reported yield × the season's table price.

    ``realised`` has application_id, crop, region, season, area_ha and yield_t_ha (market
    moisture basis; NA when not reported — the application's value is then NA).
    """
    _need(realised, ("application_id", "crop", "region", "season", "area_ha", "yield_t_ha"), "realised yields")
    _need(prices, ("crop", "region", "season", "price_per_t"), "price table")
    px = {(str(r.crop), str(r.region), str(r.season)): int(r.price_per_t) for r in prices.itertuples()}
    values: dict[str, int | None] = {}
    for r in realised.sort_values("application_id", kind="stable").itertuples():
        aid = str(r.application_id)
        y, p = _py(r.yield_t_ha), px.get((str(r.crop), str(r.region), str(r.season)))
        if aid in values and values[aid] is None:
            continue
        if y == 0.0:  # nothing harvested is worth nothing at any price (a fallow field has no crop to price)
            values[aid] = values.get(aid) or 0
            continue
        if y is None or p is None:
            values[aid] = None
            continue
        values[aid] = (values.get(aid) or 0) + field_value(float(r.area_ha), float(y), p)
    return pd.DataFrame({"application_id": list(values),
                         "realised_value": pd.array(list(values.values()), dtype="Int64")})


def backtest(lines: pd.DataFrame, realised: pd.DataFrame, policy: Policy, profile: str) -> pd.DataFrame:
    """Per line: repayment due, realised cover and whether the line would not have been covered.

    ``policy`` is the yardstick, not the policy under test: its profile's advance rate and annual
    rate set the test for every line given, whichever policy granted it (the CLI passes the shipped
    policy, so a candidate policy and the naive baseline are measured by the same test).
    """
    _need(lines, ("application_id", "limit", "term_days", "crop"), "lines")
    _need(realised, ("application_id", "realised_value"), "realised values")
    prof = policy.profile(profile)
    adv, rate = Decimal(repr(prof.advance_rate)), Decimal(repr(prof.annual_rate))
    out = lines[lines["limit"] > 0].merge(realised[["application_id", "realised_value"]], on="application_id",
                                          how="left")
    due, cover, uncovered, known = [], [], [], []
    for lim, term, val in zip(out["limit"], out["term_days"], out["realised_value"], strict=True):
        need = Decimal(int(lim)) * (1 + rate * int(term) / 365)
        due.append(int(need.to_integral_value(rounding=ROUND_CEILING)))
        v = _py(val)
        known.append(v is not None)
        c = Decimal(int(v)) * adv if v is not None else None
        cover.append(int(c) if c is not None else None)
        uncovered.append(bool(c < need) if c is not None else False)
    out = out.assign(profile=profile, repayment_due=pd.array(due, dtype="int64"),
                     realised_cover=pd.array(cover, dtype="Int64"), known=known, uncovered=uncovered)
    return out.sort_values("application_id", kind="stable").reset_index(drop=True)


def summarise_backtest(result: pd.DataFrame, by: Sequence[str] = ("profile", "crop")) -> pd.DataFrame:
    """Share of lines not covered, by group: n_lines, n_unknown, n_uncovered, share_uncovered (of known)."""
    keys = list(by)
    g = result.groupby(keys, sort=True, dropna=False)
    out = pd.DataFrame({
        "n_lines": g.size(),
        "n_unknown": g["known"].apply(lambda s: int((~s.astype(bool)).sum())),
        "n_uncovered": g["uncovered"].apply(lambda s: int(s.astype(bool).sum())),
        "limit_total": g["limit"].sum().astype("int64"),
    }).reset_index()
    known = out["n_lines"] - out["n_unknown"]
    out["share_uncovered"] = (out["n_uncovered"] / known.where(known > 0)).round(4)
    return out


def lines_from_decisions(items: Iterable[DecisionItem]) -> pd.DataFrame:
    """Lines (application_id, limit, term_days, crop, outcome, season, as_of) from decisions."""
    rows = []
    for it in items:
        comp = it.body["computation"]
        crop = comp["concentration"].get("crop")
        rows.append({"application_id": it.application_id, "limit": it.limit, "term_days": comp["term_days"],
                     "crop": crop, "outcome": it.outcome, "season": it.season, "as_of": it.as_of})
    df = pd.DataFrame(rows, columns=["application_id", "limit", "term_days", "crop", "outcome", "season", "as_of"])
    return df.astype({"limit": "int64", "term_days": "int64"})


def naive_lines(applications: pd.DataFrame, amount_per_ha: int, policy: Policy, profile: str) -> pd.DataFrame:
    """The naive baseline: a fixed amount (minor units) per declared hectare, capped by request and product cap.

    ``applications`` has application_id, declared_area_ha (sum of the farmer's declared
    fields), crop (main declared crop), requested_amount and requested_term_days.
    """
    _need(applications, ("application_id", "declared_area_ha", "crop", "requested_amount", "requested_term_days"),
          "applications")
    prof = policy.profile(profile)
    limits = []
    for area, req in zip(applications["declared_area_ha"], applications["requested_amount"], strict=True):
        raw = min(field_value(float(_py(area) or 0.0), 1.0, int(amount_per_ha)), int(req), prof.product_cap)
        lim = raw if raw == int(req) else round_down(raw, prof.rounding_step)
        limits.append(lim if lim >= prof.min_line else 0)
    return pd.DataFrame({"application_id": applications["application_id"].astype(str).to_numpy(),
                         "limit": pd.array(limits, dtype="int64"),
                         "term_days": applications["requested_term_days"].astype("int64").to_numpy(),
                         "crop": applications["crop"].to_numpy()})
