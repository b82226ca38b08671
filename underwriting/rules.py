"""The credit rules of CREDIT_POLICY.md as pure functions (no I/O, no clock, no globals).

Money is integer minor units. Every step that produces money floors exactly once:
products are taken in :class:`~decimal.Decimal` (each float at its shortest repr, so
50 ha × 12 t/ha × 0.7 is exactly 420 t) and floored with ``ROUND_FLOOR``; only the price shock
``exp(-z·σ·√T)`` is a float (IEEE ``math.exp``), floored once to minor units per tonne.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

from underwriting.policy import EvidenceThresholds, Profile

__all__ = [
    "EVIDENCE_CODES", "FieldResult", "PRE_EMERGENCE_STAGES",
    "cash_flow_limit", "check_area", "collateral_limit", "crop_disputed", "evaluate_field", "evidence_codes",
    "floor_money", "field_value", "is_preseason", "moisture_convert", "outcome", "reference_price", "round_down",
    "stressed_price", "term_days", "years_between",
]

#: growth stages that mean "nothing has emerged yet"
PRE_EMERGENCE_STAGES = (None, "not_sown")

#: evidence codes in the order they are checked; a failing field's exclusion code is its first
EVIDENCE_CODES = (
    "PARCEL_INVALID_GEOMETRY", "PARCEL_OVERLAP_CLAIM", "PARCEL_NOT_CROPLAND", "CROP_FAILURE_OBSERVED",
    "INSUFFICIENT_CLEAR_IMAGERY", "FIELD_TOO_SMALL", "NOT_PLANTED", "CROP_MISMATCH", "CROP_TYPE_UNCERTAIN",
    "OUT_OF_MODEL_SCOPE",
)


def _d(x: float | int | Decimal) -> Decimal:
    """A number as Decimal; a float is taken at its shortest repr (0.7 → Decimal('0.7'))."""
    if isinstance(x, Decimal):
        return x
    return Decimal(repr(float(x))) if isinstance(x, float) else Decimal(x)


def floor_money(x: float | int | Decimal) -> int:
    """Floor a non-negative or negative amount to an integer (minor units)."""
    return int(_d(x).to_integral_value(rounding=ROUND_FLOOR))


def field_value(area_ha: float, yield_t_ha: float, price_per_t: int, *factors: float) -> int:
    """area × yield × price (× further factors, e.g. a haircut), in Decimal, floored once to minor units."""
    with localcontext() as ctx:
        ctx.prec = 80
        out = _d(area_ha) * _d(yield_t_ha) * _d(price_per_t)
        for f in factors:
            out *= _d(f)
        return floor_money(out)


def moisture_convert(yield_t_ha: float, from_pct: float, to_pct: float) -> float:
    """Convert a yield between moisture bases (same dry matter): y × (100 − from) / (100 − to)."""
    if from_pct == to_pct:
        return float(yield_t_ha)
    return float(yield_t_ha) * (100.0 - float(from_pct)) / (100.0 - float(to_pct))


def years_between(start: date, end: date | None) -> float:
    """Years (days / 365) from ``start`` to ``end``, never negative; 0 when ``end`` is None."""
    if end is None:
        return 0.0
    return max(0, (end - start).days) / 365.0


def reference_price(table_price: int, support_price: int | None, contract_price: int | None = None) -> int:
    """Contract price where a firm contract exists, else the table price; never below the support price."""
    p = int(contract_price) if contract_price is not None else int(table_price)
    return max(p, int(support_price)) if support_price is not None else p


def stressed_price(price: int, sigma_annual: float, years: float, z: float, support_price: int | None) -> int:
    """max(P × exp(−z·σ·√T), support), floored to minor units per tonne; never above P."""
    shocked = floor_money(_d(price) * _d(math.exp(-z * sigma_annual * math.sqrt(max(years, 0.0)))))
    if support_price is not None:
        shocked = max(shocked, int(support_price))
    return min(shocked, int(price))


def collateral_limit(stressed_value: int, advance_rate: float, prior_liens: int) -> int:
    """floor(advance rate × stressed value) − prior liens, never negative."""
    return max(0, floor_money(_d(stressed_value) * _d(advance_rate)) - int(prior_liens))


def cash_flow_limit(expected_value: int, *, other_income: int, living_costs: int, unfinanced_costs: int,
                    debt_due: int, min_dscr: float, annual_rate: float, term_days: int) -> int:
    """((E + other income − living − unfinanced) / min DSCR − debt due) / (1 + rate × term / 365), floored, ≥ 0."""
    with localcontext() as ctx:
        ctx.prec = 50
        available = _d(expected_value) + other_income - living_costs - unfinanced_costs
        serviceable = available / _d(min_dscr) - debt_due
        growth = 1 + _d(annual_rate) * term_days / 365
        return max(0, floor_money(serviceable / growth))


def round_down(amount: int, step: int) -> int:
    """Round a non-negative amount down to a multiple of ``step``."""
    return (max(0, int(amount)) // int(step)) * int(step)


def check_area(planted_ha: float, declared_ha: float | None, tolerance: float) -> tuple[float, float, bool]:
    """(claimed area, area used, AREA_NOT_VERIFIED?) for a field measured on imagery.

    Within tolerance of the declared area the validated (planted) area is used; beyond it,
    the smaller of the two, and the reduction from the larger is AREA_NOT_VERIFIED's.
    """
    if declared_ha is None or declared_ha <= 0:
        return planted_ha, planted_ha, False
    # "more than" the tolerance, compared at 1e-9 ha: +10% of 3 ha must count as 10% (3.3 − 3 > 0.3 in floats)
    if round(abs(planted_ha - declared_ha), 9) > round(tolerance * declared_ha, 9):
        return max(planted_ha, declared_ha), min(planted_ha, declared_ha), True
    return planted_ha, planted_ha, False


def is_preseason(growth_stage: str | None, as_of: date, checkpoint: date) -> bool:
    """Pre-season rule applies: nothing emerged yet and the emergence checkpoint not reached."""
    return growth_stage in PRE_EMERGENCE_STAGES and as_of < checkpoint


#: the crop-type model's class for land without a crop (pipelines.train_crop.NO_CROP; valued at 0, no price)
NO_CROP = "fallow"


def crop_disputed(f: Mapping[str, Any]) -> bool:
    """Whether a field's imagery crop (``crop_type``) is another crop than its declared one (both given): what the
    policy's disputed_crop_uncertain judges, and a risk to the claim wherever the field is excluded for it."""
    return bool(f.get("declared_crop") and f.get("crop_type") and f["crop_type"] != f["declared_crop"])


def evidence_codes(f: Mapping[str, Any], ev: EvidenceThresholds, *, imagery: bool, in_scope: bool,
                   disputed_uncertain: bool = False, failures_observed: bool = False) -> list[str]:
    """Failing evidence codes of one field (FieldFeatures row as a dict of Python values, NA → None).

    Geometry, overlap, land-cover and model-scope checks always apply; the imagery checks
    only when ``imagery`` (the field has emerged or the emergence checkpoint has passed).
    ``disputed_uncertain`` (policies from 2026.12.4): a declared field whose imagery crop is another crop is
    CROP_TYPE_UNCERTAIN where it is not CROP_MISMATCH — it would be valued at the imagery's crop while the
    probability of its declared crop given imagery and declaration (``declared_crop_prob``) is at least
    ``min_declared_crop_prob``, so the valued crop's own is at most 1 − that: the evidence establishes neither crop
    at ``min_crop_type_prob`` (at exactly 0.20 and 0.80, the valued crop's is at most 0.80, not above it).
    ``failures_observed`` (policies from 2026.12.6, ``open_alerts_act``; re-underwriting): a field whose row carries
    ``crop_failure_observed`` (the date of its open CROP_FAILURE alert) is CROP_FAILURE_OBSERVED — the monitoring
    saw its crop fail; the yield model's value of it does not stand.
    """
    codes: list[str] = []
    if not f.get("geometry_valid") or not (f.get("field_area_ha") or 0) > 0:
        codes.append("PARCEL_INVALID_GEOMETRY")
    if (f.get("overlap_fraction") or 0.0) > ev.max_overlap_fraction:
        codes.append("PARCEL_OVERLAP_CLAIM")
    if f.get("noncrop_fraction") is not None and f["noncrop_fraction"] > ev.max_noncrop_fraction:
        codes.append("PARCEL_NOT_CROPLAND")
    if failures_observed and f.get("crop_failure_observed"):
        codes.append("CROP_FAILURE_OBSERVED")
    if imagery:
        enough_obs = (f.get("n_clear_obs") or 0) >= ev.min_clear_obs
        if not enough_obs:
            codes.append("INSUFFICIENT_CLEAR_IMAGERY")
        if (f.get("n_clear_pixels") or 0) < ev.min_clear_pixels or f.get("planted_area_ha") is None:
            codes.append("FIELD_TOO_SMALL")
        # no declared crop and the imagery's crop is "no crop" (the crop-type model's fallow class): nothing planted
        # to value (it was included and, fallow having no price, stopped the whole batch)
        no_crop = not f.get("declared_crop") and f.get("crop_type") == NO_CROP
        not_up = f.get("growth_stage") in PRE_EMERGENCE_STAGES or f.get("planted_area_ha") == 0 or no_crop
        if enough_obs and not_up:
            codes.append("NOT_PLANTED")
        dprob = f.get("declared_crop_prob")
        if f.get("declared_crop") and dprob is not None and dprob < ev.min_declared_crop_prob:
            codes.append("CROP_MISMATCH")
        tprob = f.get("crop_type_prob")
        disputed = disputed_uncertain and crop_disputed(f) and dprob is not None and dprob >= ev.min_declared_crop_prob
        if tprob is None or tprob < ev.min_crop_type_prob or disputed:
            codes.append("CROP_TYPE_UNCERTAIN")
    elif not f.get("declared_crop") and f.get("crop_type") == NO_CROP:
        # before emergence too: an undeclared field the crop model calls "no crop" has nothing to value (its
        # fallow valuation has no price and stopped the whole batch)
        codes.append("NOT_PLANTED")
    if not in_scope:
        codes.append("OUT_OF_MODEL_SCOPE")
    return codes


@dataclass(frozen=True)
class FieldResult:
    """One field's evidence and valuation. Claimed values ignore the field's evidence adjustments."""

    field_id: str
    basis: str  # "imagery" or "preseason"
    codes: tuple[str, ...]
    crop: str | None
    area_claim_ha: float
    area_used_ha: float
    area_not_verified: bool
    yield_p50_claim: float
    yield_p10_claim: float
    yield_p50_used: float
    yield_p10_used: float
    price: int
    stressed_price: int
    years_to_harvest: float
    value_claim: tuple[int, int, int]  # (E, E at stressed price, stressed)
    value_used: tuple[int, int, int]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def included(self) -> bool:
        return not self.codes

    @property
    def exclusion_code(self) -> str | None:
        return self.codes[0] if self.codes else None


def evaluate_field(f: Mapping[str, Any], v: Mapping[str, Any] | None, price: Mapping[str, Any] | None,
                   profile: Profile, as_of: date, *, contract_price: int | None = None,
                   harvest_fallback: date | None = None) -> FieldResult:
    """Evidence checks and value legs of one field.

    ``f`` is the FieldFeatures row, ``v`` its FieldValuations row (None when the model gave
    none: OUT_OF_MODEL_SCOPE), ``price`` the price-table row of the valued crop (None when
    there is none; then an excluded field's claimed value is 0 and an included one is an
    error raised by the caller). All as dicts of Python values with NA as None.
    """
    ev = profile.evidence
    stage = f.get("growth_stage")
    pre = is_preseason(stage, as_of, profile.emergence_checkpoint(str(f["season"]), f.get("declared_crop")))
    in_scope = bool(v is not None and v.get("in_scope"))
    codes = evidence_codes(f, ev, imagery=not pre, in_scope=in_scope,
                           disputed_uncertain=bool(profile.disputed_crop_uncertain),
                           failures_observed=bool(profile.open_alerts_act))
    declared = f.get("declared_area_ha")
    planted = f.get("planted_area_ha")
    nominal = declared if declared is not None else (planted if planted is not None else f.get("field_area_ha") or 0.0)
    area_nv = False
    field_ha = f.get("field_area_ha")
    if (pre or planted is None) and not codes and declared is not None and field_ha \
            and round(declared, 9) > round(float(field_ha) * (1 + ev.area_tolerance), 9):
        # no planted area measured yet, but the polygon bounds what can be planted: a declared area beyond it
        # (a typo or an inflated claim) is not lent against
        area_claim, area_used, area_nv = float(declared), float(field_ha), True
    elif pre or codes or planted is None:
        area_claim = area_used = float(nominal)
    else:
        area_claim, area_used, area_nv = check_area(float(planted), declared, ev.area_tolerance)
    p50 = p10 = 0.0
    to_basis = price.get("moisture_basis_pct") if price is not None else None
    from_basis = v.get("moisture_basis_pct") if v is not None else None
    if v is not None:
        p50, p10 = float(v["yield_p50_t_ha"]), float(v["yield_p10_t_ha"])
        if to_basis is not None and from_basis is not None:
            p50, p10 = (moisture_convert(y, from_basis, to_basis) for y in (p50, p10))
        p10 = min(p10, p50)
    ratio = p10 / p50 if p50 > 0 else 0.0
    p50_claim, p10_claim, p50_used, p10_used = p50, p10, p50, p10
    haircut = 1.0
    if pre:
        hist = (v or {}).get("history_yield_t_ha")
        if hist is None:
            hist = f.get("history_yield_t_ha")
        if hist is not None and to_basis is not None and from_basis is not None:
            # reported yields are at the basis the yield model is trained on (its valuations'): the price's basis
            hist = moisture_convert(float(hist), from_basis, to_basis)
        base = float(hist) if hist is not None else p50
        haircut = profile.preseason_haircut
        p50_claim = base
        p10_claim = base * ratio if hist is not None else p10
        p50_used, p10_used = p50_claim * haircut, p10_claim * haircut
    harvest = f.get("expected_harvest_date") or harvest_fallback
    years = years_between(as_of, harvest)
    if price is None:
        pr = sp = 0
    else:
        pr = reference_price(int(price["price_per_t"]), price.get("support_price_per_t"), contract_price)
        sp = stressed_price(pr, float(price["sigma_annual"]), years, profile.z_price_shock,
                            price.get("support_price_per_t"))
    claim = (field_value(area_claim, p50_claim, pr), field_value(area_claim, p50_claim, sp),
             field_value(area_claim, p10_claim, sp))
    used = (0, 0, 0) if codes else (field_value(area_used, p50_claim, pr, haircut),
                                    field_value(area_used, p50_claim, sp, haircut),
                                    field_value(area_used, p10_claim, sp, haircut))
    return FieldResult(
        field_id=str(f["field_id"]), basis="preseason" if pre else "imagery", codes=tuple(codes),
        crop=(v or {}).get("crop"), area_claim_ha=float(area_claim), area_used_ha=float(area_used),
        area_not_verified=area_nv, yield_p50_claim=p50_claim, yield_p10_claim=p10_claim,
        yield_p50_used=p50_used, yield_p10_used=p10_used, price=pr, stressed_price=sp, years_to_harvest=years,
        value_claim=claim, value_used=used, extra={"contract_price": contract_price is not None},
    )


def term_days(as_of: date, harvest: date | None, requested_days: int, marketing_window_days: int,
              max_term_days: int, *, to_window: bool = False) -> int:
    """Term of the line in days (see the policy file, note 3).

    With an expected harvest date: the requested term, lengthened to the harvest (``to_window``: to harvest +
    marketing window, CREDIT_POLICY.md step 9 — the crop is sold in the window, not on the harvest day) and cut to
    harvest + marketing window (also when the harvest has passed); without: the requested term. Never beyond
    ``max_term_days``, never below 1.
    """
    if harvest is None:
        t = requested_days
    else:
        days = (harvest - as_of).days  # negative once the expected harvest has passed
        # maturity no later than harvest + window: after the harvest a fresh window from the decision date extended
        # the line (a re-underwriting 35 days after the harvest matured 95 days after it)
        longest = days + marketing_window_days
        t = longest if to_window else min(longest, max(requested_days, days))
    return max(1, min(t, max_term_days))


def outcome(limit: int, requested: int, min_line: int, *, refer: bool) -> str:
    """REFER when the evidence says so; else DECLINE below the minimum line; APPROVE at the request; else REDUCE."""
    if refer:
        return "REFER"
    if limit < min_line:
        return "DECLINE"
    return "APPROVE" if limit >= requested else "REDUCE"
