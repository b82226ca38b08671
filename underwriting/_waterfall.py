"""The limit and its reason-code waterfall (CREDIT_POLICY.md, Reason codes).

The limit is ``min(request, collateral, cash flow, product cap, concentration headroom)``.
The waterfall walks from the request down to that limit through a chain of states, each
applying one more part of the formula, in the policy's order: expected value → price
stress → yield stress → advance rate → prior liens → cash flow (without, then with the
debt due) → product cap → concentration → the evidence groups (excluded fields by code,
AREA_NOT_VERIFIED, the pre-season haircut) → rounding → minimum line. Each state is a
running minimum, so every reduction is ≥ 0, and the reductions add up exactly to
``request − limit`` (checked: a mismatch is a bug and raises).

In that order every step before the evidence groups is charged on the fields as claimed,
excluded ones included: a field excluded for CROP_TYPE_UNCERTAIN had its price and yield
stress, advance rate and cash flow charged to those codes, and its exclusion took only what
was left (nothing, when every field was excluded and the cash flow had already bound). With
``exclusions_first`` (policies with ``exclusions_before_stress``, 2026.12.7 on) the groups of
excluded fields come right after the expected value and are measured on it — an excluded
field's expected value, as far as the request reaches, is its exclusion code's — and the
later steps are charged on the fields valued; the adjustments of valued fields
(AREA_NOT_VERIFIED, the pre-season haircut) stay last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from underwriting.rules import cash_flow_limit, collateral_limit, round_down

__all__ = ["Legs", "Terms", "LimitResult", "compute_limit", "final_limit", "waterfall"]

Legs = tuple[int, int, int]  # (expected value, expected value at stressed price, stressed value)


@dataclass(frozen=True)
class Terms:
    """Everything of the formula that is not a field value."""

    requested: int
    advance_rate: float
    prior_liens: int
    other_income: int
    living_costs: int
    unfinanced_costs: int
    debt_due: int
    min_dscr: float
    annual_rate: float
    term_days: int
    product_cap: int
    concentration: int | None  # headroom, None when the caps do not apply
    rounding_step: int
    min_line: int

    def cash_flow(self, expected: int, *, with_debt: bool = True) -> int:
        return cash_flow_limit(expected, other_income=self.other_income, living_costs=self.living_costs,
                               unfinanced_costs=self.unfinanced_costs, debt_due=self.debt_due if with_debt else 0,
                               min_dscr=self.min_dscr, annual_rate=self.annual_rate, term_days=self.term_days)


@dataclass(frozen=True)
class LimitResult:
    collateral: int
    cash_flow: int
    unrounded: int
    binding: str


_BINDING_ORDER = ("requested", "collateral", "cash_flow", "product_cap", "concentration")


def compute_limit(legs: Legs, t: Terms) -> LimitResult:
    """The unrounded limit of the formula and which constraint binds (first in order on ties)."""
    collateral = collateral_limit(legs[2], t.advance_rate, t.prior_liens)
    cash = t.cash_flow(legs[0])
    cands = {"requested": t.requested, "collateral": collateral, "cash_flow": cash, "product_cap": t.product_cap}
    if t.concentration is not None:
        cands["concentration"] = max(0, t.concentration)
    low = min(cands.values())
    binding = next(k for k in _BINDING_ORDER if k in cands and cands[k] == low)
    return LimitResult(collateral=collateral, cash_flow=cash, unrounded=max(0, low), binding=binding)


def final_limit(unrounded: int, t: Terms) -> int:
    """Round down to the step, except that a covered request is granted as asked."""
    return t.requested if unrounded >= t.requested else round_down(unrounded, t.rounding_step)


def waterfall(claim: Legs, evidence_views: Sequence[tuple[str, Legs]], t: Terms, *, yield_code: str,
              final: int, declined: bool, exclusions_first: int = 0) -> list[tuple[str, int]]:
    """Reductions from the request down to ``final``, in waterfall order (codes may repeat: merged later).

    ``claim`` are the legs with no evidence adjustment; ``evidence_views`` the legs after
    each further evidence group (the last one is the legs the limit was computed from).
    ``exclusions_first``: how many of the leading views are groups of excluded fields to step
    right after the expected value, each on the expected value of its view; the steps after
    them are on the legs of the last of these (0: every view last, as before; see the module).
    """
    steps: list[tuple[str, int]] = []
    current = t.requested

    def step(code: str, cap: int) -> None:
        nonlocal current
        new = min(current, max(0, cap))
        steps.append((code, current - new))
        current = new

    e, eps, s = claim
    step("CROP_VALUE_BELOW_REQUEST", e)
    for code, legs in evidence_views[:exclusions_first]:
        step(code, legs[0])
    if exclusions_first:
        e, eps, s = evidence_views[exclusions_first - 1][1]
    step("PRICE_VOLATILITY_HAIRCUT", eps)
    step(yield_code, s)
    step("ADVANCE_RATE_APPLIED", collateral_limit(s, t.advance_rate, 0))
    step("PRIOR_LIEN_ON_CROP", collateral_limit(s, t.advance_rate, t.prior_liens))
    step("REPAYMENT_CAPACITY_BELOW_MIN", t.cash_flow(e, with_debt=False))
    step("EXISTING_DEBT_SERVICE_HIGH", t.cash_flow(e))
    step("PRODUCT_CAP_APPLIED", t.product_cap)
    if t.concentration is not None:
        step("CONCENTRATION_CAP_APPLIED", t.concentration)
    for code, legs in evidence_views[exclusions_first:]:
        step(code, compute_limit(legs, t).unrounded)
    step("ROUNDED_TO_STEP", final_limit(current, t))
    if declined:
        step("BELOW_MINIMUM_LINE", 0)
    if current != final or sum(r for _, r in steps) != t.requested - final:
        raise AssertionError(f"waterfall ends at {current}, limit is {final}: the formula is not monotone")
    return steps
