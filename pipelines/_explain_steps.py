"""The computation of a stored decision step by step (private to :mod:`pipelines.explain`): each :class:`Step`
from the body's computation and policy parameters, and which rule set the term.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.money import format_minor


@dataclass(frozen=True)
class Step:
    """One line of the computation: a label, an amount (minor units) and how it was obtained."""

    label: str
    amount: int | None
    detail: str = ""


def _m(amount: Any, cur: str) -> str:
    return format_minor(int(amount), cur) if amount is not None else "n/a"


def _steps(body: dict[str, Any], cur: str) -> list[Step]:
    c, a = body["computation"], body["application"]
    p = body["policy"]["parameters"]
    conc = c.get("concentration") or {}
    steps = [
        Step("requested amount", c["requested_amount"], f"for {a.get('requested_term_days')} days"),
        Step("expected value", c["expected_value"],
             "Σ area used × P50 yield × reference price over the included fields"
             + (f" (before evidence exclusions: {_m(c['expected_value_claimed'], cur)})"
                if c.get("expected_value_claimed") != c["expected_value"] else "")),
        Step("value at stressed price", c.get("value_at_stressed_price"),
             f"Σ area × P50 × stressed price (price shock z = {p.get('z_price_shock')}, floored at the support price)"),
        Step("stressed value", c["stressed_value"], "Σ area used × P10 yield × stressed price"),
        Step("collateral limit", c["collateral_limit"],
             f"{p.get('advance_rate')} × stressed value − prior liens {_m(a.get('prior_liens_on_crop'), cur)}"),
        Step("cash-flow limit", c["cash_flow_limit"],
             f"((expected value + other income {_m(a.get('other_income'), cur)} − living costs "
             f"{_m(a.get('living_costs'), cur)} − unfinanced costs {_m(a.get('unfinanced_costs'), cur)}) / min DSCR "
             f"{p.get('min_dscr')} − debt due {_m(a.get('debt_due_this_cycle'), cur)}) / (1 + {p.get('annual_rate')}"
             f" × {c['term_days']} / 365)"),
        Step("product cap", c["product_cap"], f"profile {body['policy'].get('profile')}"),
    ]
    if conc.get("applies"):
        steps.append(Step("concentration headroom", conc.get("headroom"),
                          f"book {_m(conc.get('book_total'), cur)}: borrower ≤ {_m(conc.get('max_borrower'), cur)} "
                          f"(has {_m(conc.get('borrower_exposure'), cur)}), {conc.get('crop')} in {conc.get('region')}"
                          f" ≤ {_m(conc.get('max_crop_region'), cur)} (has {_m(conc.get('crop_region_exposure'), cur)})"))
    else:
        steps.append(Step("concentration headroom", None,
                          f"not applied (book {_m(conc.get('book_total', 0), cur)} below the policy's minimum)"))
    steps += [
        Step("limit before rounding", c["limit_unrounded"],
             f"min(requested, collateral, cash flow, cap{', concentration' if conc.get('applies') else ''}); "
             f"binding: {c['binding_constraint']}"),
        Step("limit", c["limit"], f"rounded down to a multiple of {_m(c['rounding_step'], cur)} unless the request "
                                  f"is covered; minimum line {_m(c['min_line'], cur)}"),
        Step("term", None, f"{c['term_days']} days, maturing {c['maturity_date']} ({_term_basis(body)})"),
    ]
    if o := body.get("override"):  # the analyst's step after the computation it overrode: the steps end at its limit
        steps.append(Step(OVERRIDE_STEP, o.get("limit"), override_detail(o, body.get("as_of"), cur)))
    return steps


#: the label of an analyst's override's step
OVERRIDE_STEP = "analyst's override"


def override_detail(o: dict[str, Any], computed_as_of: object, cur: str,
                    shown: Callable[[str], str] = str) -> str:
    """The override step's text: ``o`` the body's ``override``, ``computed_as_of`` the as-of of the record it
    overrode; ``shown``: how the analyst's free text (operator, approver, reason) is written (explain's page doubles
    its backslashes, the JSON keeps it as stored)."""
    return (f"{o.get('outcome')} by {shown(str(o.get('operator')))}"
            + (f", approved by {shown(str(o['approver']))}" if o.get("approver") else "")
            + f", dated {o.get('as_of')}: {shown(str(o.get('reason')))} (replaces {o.get('original_outcome')} "
            f"{_m(o.get('original_limit'), cur)} of record {o.get('original_record_id')}, as of {computed_as_of}; "
            "no reason code)")


def _term_basis(body: dict[str, Any]) -> str:
    """Which rule set the term (underwriting.rules.term_days): the requested term lengthened to the expected
    harvest, cut to harvest + marketing window, capped at the longest term — said as it applied."""
    import datetime as dt

    c, p = body["computation"], body["policy"]["parameters"]
    term, window, longest = int(c["term_days"]), p.get("marketing_window_days"), p.get("max_term_days")
    requested = body["application"].get("requested_term_days")
    harvest = c.get("expected_harvest_date")
    line_end = body["application"].get("latest_maturity_date")
    if line_end is not None and str(c.get("maturity_date")) == str(line_end):
        return (f"kept at the line's maturity: a re-underwriting never extends a line; expected harvest "
                f"{harvest or 'unknown'}")
    if harvest is None:
        return f"no expected harvest date: the requested {requested} days, at most {longest}"
    to_harvest = (dt.date.fromisoformat(str(harvest)) - dt.date.fromisoformat(str(body["as_of"]))).days
    if longest is not None and term == int(longest) and to_harvest + (window or 0) > term:
        return f"capped at the longest term, {longest} days; expected harvest {harvest}"
    if window is not None and term == to_harvest + int(window):
        return f"expected harvest {harvest} + marketing window {window} days"
    if term == to_harvest:
        return f"the requested {requested} days lengthened to the expected harvest {harvest}"
    if requested is not None and term == int(requested):
        return (f"the requested {requested} days: after the expected harvest {harvest}, within its {window}-day "
                "marketing window")
    return f"expected harvest {harvest}, marketing window {window} days, at most {longest} days"
