"""The rules: each formula step on hand-computed numbers, and property tests of the whole decision."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.underwriting.test_decisions import (
    AS_OF,
    BEFORE_EXCLUSIONS_FIRST,
    POLICY,
    PROFILE,
    application,
    book_frame,
    feature_row,
    features_frame,
    prices_frame,
    valuation_row,
    valuations_frame,
)
from underwriting._waterfall import Terms, compute_limit, waterfall
from underwriting.decisions import decide, decide_batch
from underwriting.records import canonical_json
from underwriting.rules import (
    EVIDENCE_CODES,
    cash_flow_limit,
    check_area,
    collateral_limit,
    evaluate_field,
    evidence_codes,
    field_value,
    moisture_convert,
    outcome,
    reference_price,
    round_down,
    stressed_price,
    term_days,
    years_between,
)

EV = POLICY.profile(PROFILE).evidence


# --- formula steps, by hand -------------------------------------------------------------------------

def test_field_value_is_exact_and_floored_once() -> None:
    assert field_value(0.1, 3.0, 100) == 30  # 0.1 * 3.0 is 0.30000000000000004 in floats
    assert field_value(50.0, 12.0, 20000, 0.7) == 8_400_000  # 12 * 0.7 is 8.399999999999999 in floats
    assert field_value(1.5, 2.25, 333) == 1123  # 1123.875 floored
    assert field_value(0.0, 9.0, 100) == 0


def test_stressed_price() -> None:
    # P = 20000, sigma 0.2, T = 0.5 y, z = 1.2816: 20000 * exp(-0.181244...) = 16,684.x
    assert stressed_price(20000, 0.2, 0.5, 1.2816, None) == math.floor(20000 * math.exp(-1.2816 * 0.2 * math.sqrt(0.5)))
    assert stressed_price(20000, 0.2, 0.5, 1.2816, None) == 16684
    assert stressed_price(20000, 0.2, 0.5, 1.2816, 18000) == 18000  # support price floor
    assert stressed_price(20000, 0.2, 0.5, 1.2816, 25000) == 20000  # never above P
    assert stressed_price(20000, 0.2, 0.0, 1.2816, None) == 20000  # no time, no shock


def test_reference_price() -> None:
    assert reference_price(20000, None) == 20000
    assert reference_price(20000, None, 23000) == 23000  # firm contract
    assert reference_price(20000, 21000) == 21000  # the support price is always available


def test_years_between() -> None:
    assert years_between(date(2025, 1, 1), date(2026, 1, 1)) == 1.0
    assert years_between(date(2025, 1, 1), date(2024, 1, 1)) == 0.0
    assert years_between(date(2025, 1, 1), None) == 0.0


def test_moisture_convert() -> None:
    assert moisture_convert(10.0, 0.0, 15.5) == pytest.approx(10.0 / 0.845)
    assert moisture_convert(10.0, 15.5, 15.5) == 10.0


def test_collateral_limit() -> None:
    assert collateral_limit(7_034_000, 0.8, 500_000) == 5_127_200
    assert collateral_limit(1_000, 0.8, 5_000) == 0  # never negative
    assert collateral_limit(999, 0.8, 0) == 799  # 799.2 floored


def test_cash_flow_limit() -> None:
    # ((10,000,000 + 100,000 - 300,000 - 200,000) / 1.25 - 1,000,000) / (1 + 0.08 * 120 / 365)
    #  = 6,680,000 / 1.026301369... = 6,508,809.3
    got = cash_flow_limit(10_000_000, other_income=100_000, living_costs=300_000, unfinanced_costs=200_000,
                          debt_due=1_000_000, min_dscr=1.25, annual_rate=0.08, term_days=120)
    assert got == 6_508_809
    assert cash_flow_limit(100, other_income=0, living_costs=1_000, unfinanced_costs=0, debt_due=0, min_dscr=1.25,
                           annual_rate=0.08, term_days=120) == 0


def test_round_down() -> None:
    assert round_down(5_127_200, 50_000) == 5_100_000
    assert round_down(49_999, 50_000) == 0
    assert round_down(-5, 100) == 0


def test_check_area() -> None:
    assert check_area(50.0, 54.0, 0.10) == (50.0, 50.0, False)  # within 10 %
    assert check_area(50.0, 60.0, 0.10) == (60.0, 50.0, True)  # declared too large
    assert check_area(70.0, 60.0, 0.10) == (70.0, 60.0, True)  # measured larger: the declared area is used
    assert check_area(50.0, None, 0.10) == (50.0, 50.0, False)


def test_term_days() -> None:
    h = date(2025, 10, 15)  # 92 days after AS_OF
    assert term_days(AS_OF, h, 120, 60, 548) == 120
    assert term_days(AS_OF, h, 30, 60, 548) == 92  # lengthened to the harvest
    assert term_days(AS_OF, h, 400, 60, 548) == 152  # cut to harvest + marketing window
    assert term_days(AS_OF, h, 400, 60, 100) == 100  # product maximum
    assert term_days(AS_OF, None, 200, 60, 548) == 200
    # after the harvest: still harvest + window (a fresh window from the date extended lines past it), at least 1
    assert term_days(date(2025, 11, 20), h, 120, 60, 548) == 24  # 2025-12-14
    assert term_days(date(2026, 1, 20), h, 120, 60, 548) == 1  # its window has passed too


def test_outcome() -> None:
    assert outcome(100, 100, 50, refer=False) == "APPROVE"
    assert outcome(60, 100, 50, refer=False) == "REDUCE"
    assert outcome(40, 100, 50, refer=False) == "DECLINE"
    assert outcome(100, 100, 50, refer=True) == "REFER"


def test_evidence_codes_order_and_imagery_gate() -> None:
    f = feature_row("F", overlap_fraction=0.1, noncrop_fraction=0.5, n_clear_obs=1, crop_type_prob=0.3)
    assert evidence_codes(f, EV, imagery=True, in_scope=False) == [
        "PARCEL_OVERLAP_CLAIM", "PARCEL_NOT_CROPLAND", "INSUFFICIENT_CLEAR_IMAGERY", "CROP_TYPE_UNCERTAIN",
        "OUT_OF_MODEL_SCOPE"]
    assert evidence_codes(f, EV, imagery=False, in_scope=True) == ["PARCEL_OVERLAP_CLAIM", "PARCEL_NOT_CROPLAND"]
    # thresholds are strict where the policy says "<" and ">"
    edge = feature_row("F", overlap_fraction=0.05, noncrop_fraction=0.10, n_clear_obs=3, n_clear_pixels=8,
                       crop_type_prob=0.80, declared_crop_prob=0.20)
    assert evidence_codes(edge, EV, imagery=True, in_scope=True) == []


# --- boundaries found by mutation testing ---------------------------------------------------------------

def test_moisture_convert_from_a_wet_basis() -> None:
    # same dry matter: 10 t/ha at 15.5 % moisture is 10 × 84.5 / 100 = 8.45 t/ha dry; at 20 % it is
    # 10 × 80 / 84.5 = 9.4675 t/ha at 15.5 % (the source basis counts, not only the target's)
    assert moisture_convert(10.0, 15.5, 0.0) == pytest.approx(8.45)
    assert moisture_convert(10.0, 20.0, 15.5) == pytest.approx(800 / 84.5)


def test_round_down_with_a_step_of_one() -> None:
    assert round_down(0, 1) == 0
    assert round_down(-5, 1) == 0  # never negative, also where the step does not hide it
    assert round_down(1_234, 1) == 1_234


def test_check_area_without_a_declared_area() -> None:
    # a declared area of 0 is no declaration: the measured area is used, nothing flagged
    assert check_area(50.0, 0.0, 0.10) == (50.0, 50.0, False)


def test_evidence_codes_empty_geometry_and_missing_counts() -> None:
    # no field area is an empty geometry (PARCEL_INVALID_GEOMETRY); a small field of 0.5 ha is not
    assert "PARCEL_INVALID_GEOMETRY" in evidence_codes(feature_row("F", field_area_ha=None), EV, imagery=True,
                                                       in_scope=True)
    assert evidence_codes(feature_row("F", field_area_ha=0.5), EV, imagery=True, in_scope=True) == []
    # no clear-observation count is no observation, even where one observation would be enough
    one_obs = replace(EV, min_clear_obs=1)
    assert evidence_codes(feature_row("F", n_clear_obs=None), one_obs, imagery=True, in_scope=True) == [
        "INSUFFICIENT_CLEAR_IMAGERY"]
    assert evidence_codes(feature_row("F", n_clear_obs=1), one_obs, imagery=True, in_scope=True) == []


def test_preseason_history_keeps_the_models_p10_share_below_one_tonne() -> None:
    """Pre-season the farmer's history is the P50 and P10 is history × the model's P10/P50 — also for a crop whose
    P50 is under 1 t/ha (cotton lint): 5.0 × 0.6 / 0.8 = 3.75 t/ha, × the 0.70 haircut = 2.625 t/ha used."""
    profile = POLICY.profile(PROFILE)
    early = date(2025, 4, 1)  # before the 06-30 emergence checkpoint
    f = feature_row("F", as_of=early, growth_stage="not_sown", emergence_date=None, planted_area_ha=None,
                    n_clear_obs=0)
    v = valuation_row("F", as_of=early, p10=0.6, p50=0.8, history_yield_t_ha=5.0)
    price = prices_frame().iloc[0].to_dict()
    price["support_price_per_t"] = None
    r = evaluate_field(f, v, price, profile, early)
    assert r.basis == "preseason" and r.included
    assert (r.yield_p50_claim, r.yield_p10_claim) == (5.0, pytest.approx(3.75))
    assert r.yield_p10_used == pytest.approx(2.625)


def test_outcome_at_the_minimum_line() -> None:
    # DECLINE only when the limit is *below* the minimum line (CREDIT_POLICY.md step 8): exactly the minimum is lent
    assert outcome(50, 100, 50, refer=False) == "REDUCE"
    assert outcome(50, 50, 50, refer=False) == "APPROVE"


def test_moisture_convert_at_the_same_basis_is_exact() -> None:
    # the same basis returns the yield itself: 0.03 × 84.5 / 84.5 is 0.029999999999999995 in floats, a unit short
    # once floored (10 ha × 0.03 t/ha × 20,000 = 6,000, not 5,999)
    assert moisture_convert(0.03, 15.5, 15.5) == 0.03
    assert field_value(10.0, moisture_convert(0.03, 15.5, 15.5), 20000) == 6000


def _terms(**over: Any) -> Terms:
    base: dict[str, Any] = dict(requested=1_000_000, advance_rate=0.8, prior_liens=0, other_income=0, living_costs=0,
                                unfinanced_costs=0, debt_due=0, min_dscr=1.25, annual_rate=0.08, term_days=120,
                                product_cap=40_000_000, concentration=None, rounding_step=50_000, min_line=500_000)
    base.update(over)
    return Terms(**base)


def test_compute_limit_binding_order() -> None:
    t = _terms(requested=100)
    assert compute_limit((1_000, 900, 800), t).binding == "requested"
    t = _terms(requested=10_000, product_cap=500)
    r = compute_limit((1_000, 900, 800), t)
    assert (r.collateral, r.unrounded, r.binding) == (640, 500, "product_cap")


def test_compute_limit_floors_at_zero() -> None:
    t = _terms()  # legs (1,000, 900, 800): collateral floor(0.8 × 800) = 640, cash flow 800 / 1.0263 = 779
    # no concentration headroom left is a limit of 0, bound by the concentration cap; a negative headroom counts as 0
    r = compute_limit((1_000, 900, 800), _terms(concentration=0))
    assert (r.collateral, r.cash_flow, r.unrounded, r.binding) == (640, 779, 0, "concentration")
    assert compute_limit((1_000, 900, 800), _terms(concentration=-5)).unrounded == 0
    # nothing to lend against: collateral and cash flow both 0, the first in the formula's order binds
    r = compute_limit((0, 0, 0), t)
    assert (r.collateral, r.cash_flow, r.unrounded, r.binding) == (0, 0, 0, "collateral")


def test_waterfall_stress_measured_after_every_leading_exclusion() -> None:
    """exclusions_first=2: both excluded groups step right after the expected value, each on its view's expected
    value, and the stress, advance rate and cash flow are charged on the legs after the *last* of them."""
    t = _terms()  # request 1,000,000; cash flow on 700,000 is 560,000 / 1.0263 = 545,650: does not bind
    views = [("PARCEL_OVERLAP_CLAIM", (900_000, 750_000, 650_000)),
             ("CROP_TYPE_UNCERTAIN", (700_000, 600_000, 500_000))]
    steps = waterfall((1_200_000, 1_000_000, 800_000), views, t, yield_code="LOW_STRESSED_YIELD", final=400_000,
                      declined=False, exclusions_first=2)
    assert steps == [("CROP_VALUE_BELOW_REQUEST", 0), ("PARCEL_OVERLAP_CLAIM", 100_000),
                     ("CROP_TYPE_UNCERTAIN", 200_000),
                     ("PRICE_VOLATILITY_HAIRCUT", 100_000), ("LOW_STRESSED_YIELD", 100_000),
                     ("ADVANCE_RATE_APPLIED", 100_000),  # down to floor(0.8 x 500,000) = 400,000
                     ("PRIOR_LIEN_ON_CROP", 0), ("REPAYMENT_CAPACITY_BELOW_MIN", 0), ("EXISTING_DEBT_SERVICE_HIGH", 0),
                     ("PRODUCT_CAP_APPLIED", 0), ("ROUNDED_TO_STEP", 0)]

def test_waterfall_checks_its_own_sum() -> None:
    t = _terms()
    steps = waterfall((800_000, 700_000, 600_000), [], t, yield_code="LOW_STRESSED_YIELD", final=450_000,
                      declined=False)
    assert sum(r for _, r in steps) == 1_000_000 - 450_000
    with pytest.raises(AssertionError, match="waterfall ends at 450000, limit is 460000"):
        waterfall((800_000, 700_000, 600_000), [], t, yield_code="LOW_STRESSED_YIELD", final=460_000,
                  declined=False)


# --- properties ---------------------------------------------------------------------------------------

_field = st.fixed_dictionaries({
    "area": st.floats(0.5, 120.0, allow_nan=False),
    "declared_ratio": st.floats(0.6, 1.4, allow_nan=False),
    "p50": st.floats(0.0, 15.0, allow_nan=False),
    "p10_share": st.floats(0.2, 1.0, allow_nan=False),
    "fail": st.sampled_from([None, None, None, {"crop_type_prob": 0.5}, {"overlap_fraction": 0.2},
                             {"n_clear_obs": 1}]),
    "preseason_history": st.one_of(st.none(), st.floats(1.0, 14.0, allow_nan=False)),
})
_money = st.integers(0, 20_000_000)
_case = st.fixed_dictionaries({
    "fields": st.lists(_field, min_size=1, max_size=3),
    "requested": st.integers(0, 60_000_000),
    "term": st.integers(30, 400),
    "other": _money, "living": _money, "unfinanced": _money, "debt": _money, "liens": _money,
    "price": st.integers(5_000, 60_000), "sigma": st.floats(0.0, 0.6, allow_nan=False),
    "support": st.one_of(st.none(), st.integers(1_000, 40_000)),
    "book_lines": st.integers(0, 3),
    "preseason": st.booleans(),
})


def _inputs(case: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                           date]:
    as_of = date(2025, 4, 1) if case["preseason"] else AS_OF
    feats, vals = [], []
    for i, f in enumerate(case["fields"]):
        over: dict[str, Any] = dict(f["fail"] or {})
        over.update(planted_area_ha=f["area"], declared_area_ha=f["area"] * f["declared_ratio"])
        if case["preseason"]:
            over.update(growth_stage="not_sown", emergence_date=None, planted_area_ha=None, n_clear_obs=0)
        feats.append(feature_row(f"F{i}", as_of=as_of, **over))
        p50 = f["p50"]
        extra = {"history_yield_t_ha": f["preseason_history"]} if case["preseason"] else {}
        vals.append(valuation_row(f"F{i}", as_of=as_of, p10=p50 * f["p10_share"], p50=p50, p90=p50 * 1.2,
                                  price=case["price"], area=f["area"], **extra))
    if case["preseason"]:
        for v in vals:
            v.setdefault("history_yield_t_ha", None)
    app = application(requested_amount=case["requested"], requested_term_days=case["term"],
                      other_income=case["other"], living_costs=case["living"], unfinanced_costs=case["unfinanced"],
                      debt_due_this_cycle=case["debt"], prior_liens_on_crop=case["liens"])
    # line 0: the applicant's own $50k maize line; others: $6M soybean lines of other farmers. With 3 lines the
    # book ($12.05M) passes the $10M floor: borrower headroom $70.5k, maize/region headroom ~$4.77M
    book = book_frame([dict(line_id=f"L{j}", application_id=f"O{j}", farmer_token="tok-a" if j == 0 else f"o{j}",
                            currency="USD", limit=5_000_000 if j == 0 else 600_000_000, drawn=0, outstanding=0,
                            start_date="2025-03-01", maturity_date="2025-12-01",
                            crop="maize" if j == 0 else "soybean", region="us-nebraska")
                       for j in range(case["book_lines"])])
    prices = prices_frame(price=case["price"], sigma=case["sigma"], support=case["support"])
    return app, features_frame(feats), valuations_frame(vals), prices, book, as_of


def _decide(case: dict[str, Any]):
    app, feats, vals, prices, book, as_of = _inputs(case)
    return decide(app, feats, vals, prices, book, POLICY, PROFILE, as_of)


# derandomized and without an example database: the same examples on every run, nothing written to disk
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
                     database=None)


@_SETTINGS
@given(_case)
def test_limit_bounded_and_reductions_add_up(case: dict[str, Any]) -> None:
    item = _decide(case)
    c = item.body["computation"]
    assert 0 <= item.limit <= case["requested"]
    assert item.limit <= c["product_cap"] and item.limit <= c["collateral_limit"]
    assert item.limit <= c["cash_flow_limit"]
    if c["concentration"]["headroom"] is not None:
        assert item.limit <= c["concentration"]["headroom"]
    assert sum(r["reduction"] for r in item.body["reasons"]) == case["requested"] - item.limit
    assert all(r["reduction"] >= 0 for r in item.body["reasons"])
    if item.outcome in ("APPROVE", "REDUCE"):
        assert item.limit >= POLICY.profile(PROFILE).min_line or item.limit == case["requested"]


@_SETTINGS
@given(_case)
def test_exclusions_before_stress_moves_reasons_only(case: dict[str, Any]) -> None:
    """Policy 2026.12.7 (exclusions_before_stress) changes the reasons, never the limit or the outcome: the decision
    under 2026.12.6 grants the same; both add up to requested - limit; with no field valued no stress, advance-rate
    or cash-flow code carries a reduction (before, HIGH_YIELD_UNCERTAINTY could carry most of it)."""
    app, feats, vals, prices, book, as_of = _inputs(case)
    new = decide(app, feats, vals, prices, book, POLICY, PROFILE, as_of)
    old = decide(app, feats, vals, prices, book, BEFORE_EXCLUSIONS_FIRST, PROFILE, as_of)
    assert (new.outcome, new.limit) == (old.outcome, old.limit)
    for item in (new, old):
        assert sum(r["reduction"] for r in item.body["reasons"]) == case["requested"] - item.limit
    if not any(f["included"] for f in new.body["fields"]):
        charged = {r["code"] for r in new.body["reasons"] if r["reduction"] > 0}
        assert charged <= {"CROP_VALUE_BELOW_REQUEST", *EVIDENCE_CODES}, charged


@_SETTINGS
@given(_case, st.data())
def test_limit_never_falls_when_a_field_value_rises(case: dict[str, Any], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(case["fields"]) - 1))
    factor = data.draw(st.floats(1.0, 3.0, allow_nan=False))
    before = _decide(case)
    richer = {**case, "fields": [dict(f) for f in case["fields"]]}
    richer["fields"][i]["p50"] = case["fields"][i]["p50"] * factor
    if case["fields"][i]["preseason_history"] is not None:
        richer["fields"][i]["preseason_history"] = case["fields"][i]["preseason_history"] * factor
    after = _decide(richer)
    assert after.limit >= before.limit


@_SETTINGS
@given(_case, st.integers(1, 10_000_000), st.sampled_from(["debt", "liens"]))
def test_limit_never_rises_when_debt_rises(case: dict[str, Any], extra: int, which: str) -> None:
    before = _decide(case)
    after = _decide({**case, which: case[which] + extra})
    assert after.limit <= before.limit


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(_case)
def test_body_byte_identical_on_rerun(case: dict[str, Any]) -> None:
    assert canonical_json(_decide(case).body) == canonical_json(_decide(case).body)


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(st.permutations(list(range(5))), st.integers(0, 4))
def test_batch_independent_of_application_order(order: list[int], tight: int) -> None:
    apps = pd.DataFrame([application(f"A{i}", token=f"t{i}", requested_amount=1_500_000 + 300_000 * i)
                         for i in range(5)])
    feats = features_frame([feature_row(f"F{i}", token=f"t{i}") for i in range(5)])
    vals = valuations_frame([valuation_row(f"F{i}") for i in range(5)])
    book = book_frame([dict(line_id="L0", application_id="O0", farmer_token="o0", currency="USD",
                            limit=1_000_000_000 + tight * 50_000_000, drawn=0, outstanding=0, start_date="2025-03-01",
                            maturity_date="2025-12-01", crop="soybean", region="us-nebraska")])
    a = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    b = decide_batch(apps.iloc[order].reset_index(drop=True), feats.iloc[order], vals.iloc[order], prices_frame(),
                     book, POLICY, PROFILE, AS_OF)
    assert [canonical_json(x.body) for x in a] == [canonical_json(x.body) for x in b]
    assert [x.idempotency_key for x in a] == [x.idempotency_key for x in b]
