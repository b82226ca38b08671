"""Decisions end to end on hand-built FieldFeatures, FieldValuations, prices, applications and books."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import pandas as pd
import pytest

from models.errors import PriceError
from underwriting.decisions import Headroom, decide, decide_batch
from underwriting.errors import ApplicationsError
from underwriting.policy import ARCHIVE_DIR, default_policy, load_policy
from underwriting.records import canonical_json

AS_OF = date(2025, 7, 15)
HARVEST = date(2025, 10, 15)  # 92 days after AS_OF
POLICY = default_policy()
#: the previous release's policy (2026.12.3: a short requested term lengthened to the harvest day only): its records
#: replay by it, so its behaviour stays tested
LEGACY = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.3.yaml")
PROFILE = "us-operating"

_DATES = ("as_of", "emergence_date", "peak_date", "expected_harvest_date")


def feature_row(field_id: str, token: str = "tok-a", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        field_id=field_id, season="2025", as_of=AS_OF, farmer_token=token, region="us-nebraska",
        declared_crop="maize", declared_area_ha=50.0, field_area_ha=52.0, planted_area_ha=50.0,
        planted_area_sd_ha=1.0, planted_fraction=0.96, noncrop_fraction=0.02, overlap_fraction=0.0,
        geometry_valid=True, geometry_hash=f"hash-{field_id}", crop_type="maize", crop_type_prob=0.95,
        declared_crop_prob=0.95, growth_stage="vegetative", emergence_date=date(2025, 5, 10),
        days_since_emergence=66.0, peak_date=date(2025, 7, 10), expected_harvest_date=HARVEST,
        n_clear_obs=8, n_clear_pixels=400, ndvi_max=0.8, ndvi_auc=30.0,
    )
    row.update(over)
    return row


def features_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in _DATES:
        df[c] = pd.to_datetime(df[c])
    for c in ("declared_crop", "crop_type", "growth_stage", "region"):
        df[c] = df[c].astype("str").where(df[c].notna(), None) if df[c].notna().any() else pd.Series(
            [None] * len(df), dtype="object")
    for c in ("n_clear_obs", "n_clear_pixels"):
        df[c] = df[c].astype("int64")
    for c in ("declared_area_ha", "planted_area_ha", "noncrop_fraction", "crop_type_prob", "declared_crop_prob",
              "overlap_fraction", "field_area_ha"):
        df[c] = df[c].astype("float64")
    df["geometry_valid"] = df["geometry_valid"].astype(bool)
    return df


def valuation_row(field_id: str, *, crop: str = "maize", p10: float = 8.0, p50: float = 10.0, p90: float = 12.0,
                  area: float = 50.0, price: int = 20000, in_scope: bool = True, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        field_id=field_id, season="2025", as_of=AS_OF, crop=crop, region="us-nebraska", area_ha=area,
        yield_p10_t_ha=p10, yield_p50_t_ha=p50, yield_p90_t_ha=p90, moisture_basis_pct=15.5, currency="USD",
        price_per_t=price, value_p10=int(area * p10 * price), value_p50=int(area * p50 * price),
        value_p90=int(area * p90 * price), price_source="test 2025-07-01", model_name="yield-value",
        model_version="3", in_scope=in_scope,
    )
    row.update(over)
    return row


def valuations_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["as_of"] = pd.to_datetime(df["as_of"])
    df["in_scope"] = df["in_scope"].astype(bool)
    for c in ("price_per_t", "value_p10", "value_p50", "value_p90"):
        df[c] = df[c].astype("int64")
    return df


def prices_frame(*, price: int = 20000, sigma: float = 0.2, support: int | None = None, currency: str = "USD",
                 crop: str = "maize") -> pd.DataFrame:
    return pd.DataFrame({
        "crop": [crop], "region": ["us-nebraska"], "season": ["2025"], "currency": [currency],
        "price_per_t": pd.array([price], dtype="int64"), "moisture_basis_pct": [15.5], "sigma_annual": [sigma],
        "support_price_per_t": pd.array([support], dtype="Int64"), "source": ["test table"],
        "price_date": ["2025-07-01"],
    })


def application(app_id: str = "A1", token: str = "tok-a", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        application_id=app_id, farmer_token=token, season="2025", currency="USD", requested_amount=3_000_000,
        requested_term_days=120, existing_debt=0, debt_due_this_cycle=0, other_income=0, living_costs=0,
        unfinanced_costs=0, prior_liens_on_crop=0,
    )
    row.update(over)
    return row


def book_frame(lines: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    lines = lines or []
    df = pd.DataFrame(lines, columns=["line_id", "application_id", "farmer_token", "currency", "limit", "drawn",
                                      "outstanding", "start_date", "maturity_date", "crop", "region"])
    for c in ("limit", "drawn", "outstanding"):
        df[c] = df[c].astype("int64")
    for c in ("start_date", "maturity_date"):
        df[c] = pd.to_datetime(df[c])
    for c in ("line_id", "application_id", "farmer_token", "currency", "crop", "region"):
        df[c] = df[c].astype("str")
    return df


def run(app: dict[str, Any], feats: list[dict[str, Any]], vals: list[dict[str, Any]], *,
        prices: pd.DataFrame | None = None, book: pd.DataFrame | None = None, as_of: date = AS_OF,
        policy: Any = POLICY, **kw: Any):
    return decide(app, features_frame(feats), valuations_frame(vals), prices if prices is not None else prices_frame(),
                  book if book is not None else book_frame(), policy, PROFILE, as_of, **kw)


# --- hand-computed example ------------------------------------------------------------------------

def test_one_field_hand_computed() -> None:
    item = run(application(requested_amount=9_000_000, other_income=100_000, living_costs=300_000,
                           unfinanced_costs=200_000, debt_due_this_cycle=1_000_000, prior_liens_on_crop=500_000),
               [feature_row("F1")], [valuation_row("F1")])
    c = item.body["computation"]
    # price: P = $200.00/t; stressed = floor(20000 * exp(-1.2816 * 0.2 * sqrt(92/365)))
    ps = math.floor(20000 * math.exp(-1.2816 * 0.2 * math.sqrt(92 / 365)))
    assert ps == 17585
    assert item.body["fields"][0]["stressed_price_per_t"] == ps
    expected = 50 * 10 * 20000  # 10,000,000 cents = $100,000
    stressed = 50 * 8 * ps  # 7,034,000
    assert (c["expected_value"], c["stressed_value"]) == (expected, stressed)
    collateral = math.floor(0.8 * stressed) - 500_000  # 5,627,200 - 500,000
    assert c["collateral_limit"] == collateral == 5_127_200
    # term: requested 120 days, harvest in 92 days, window 60 -> to harvest + window (CREDIT_POLICY.md step 9) = 152
    assert c["term_days"] == 152 and c["maturity_date"] == "2025-12-14"
    cash = math.floor(((expected + 100_000 - 300_000 - 200_000) / 1.25 - 1_000_000) / (1 + 0.08 * 152 / 365))
    assert c["cash_flow_limit"] == cash == 6_464_630
    assert c["binding_constraint"] == "collateral"
    assert c["limit_unrounded"] == 5_127_200
    assert item.limit == 5_100_000  # rounded down to $500
    assert item.outcome == "REDUCE"
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert red == {
        "PRICE_VOLATILITY_HAIRCUT": 9_000_000 - 50 * 10 * ps,
        "LOW_STRESSED_YIELD": 50 * 10 * ps - stressed,
        "ADVANCE_RATE_APPLIED": stressed - math.floor(0.8 * stressed),
        "PRIOR_LIEN_ON_CROP": 500_000,
        "ROUNDED_TO_STEP": 27_200,
    }
    assert sum(red.values()) == 9_000_000 - item.limit
    assert [r["code"] for r in item.body["reasons"]][0] == "LOW_STRESSED_YIELD"
    assert [r["principal"] for r in item.body["reasons"]] == [True, True, True, True, False]
    assert all(r["text"] for r in item.body["reasons"])


def test_approve_when_request_covered_and_not_a_step_multiple() -> None:
    item = run(application(requested_amount=1_234_567), [feature_row("F1")], [valuation_row("F1")])
    assert (item.outcome, item.limit) == ("APPROVE", 1_234_567)
    assert item.body["reasons"] == []


def test_decline_below_minimum_line_grants_zero() -> None:
    item = run(application(requested_amount=3_000_000, debt_due_this_cycle=7_900_000),
               [feature_row("F1")], [valuation_row("F1")])
    assert item.outcome == "DECLINE" and item.limit == 0
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert sum(red.values()) == 3_000_000
    assert red["EXISTING_DEBT_SERVICE_HIGH"] > 0 and "BELOW_MINIMUM_LINE" in red


def test_cash_flow_split_between_capacity_and_debt() -> None:
    item = run(application(requested_amount=5_000_000, living_costs=4_000_000, debt_due_this_cycle=1_000_000),
               [feature_row("F1")], [valuation_row("F1")])
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert item.body["computation"]["binding_constraint"] == "cash_flow"
    no_debt = math.floor((10_000_000 - 4_000_000) / 1.25 / (1 + 0.08 * 152 / 365))
    assert red["REPAYMENT_CAPACITY_BELOW_MIN"] == 5_000_000 - no_debt
    assert red["EXISTING_DEBT_SERVICE_HIGH"] > 0
    assert sum(red.values()) == 5_000_000 - item.limit


def test_area_not_verified_uses_smaller_area() -> None:
    item = run(application(requested_amount=9_000_000),
               [feature_row("F1", declared_area_ha=60.0, planted_area_ha=50.0)], [valuation_row("F1")])
    f = item.body["fields"][0]
    assert (f["area_claimed_ha"], f["area_used_ha"], f["area_not_verified"]) == (60.0, 50.0, True)
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert red["AREA_NOT_VERIFIED"] > 0
    assert sum(red.values()) == 9_000_000 - item.limit
    within = run(application(requested_amount=9_000_000),
                 [feature_row("F1", declared_area_ha=54.0, planted_area_ha=50.0)], [valuation_row("F1")])
    assert not within.body["fields"][0]["area_not_verified"]
    assert "AREA_NOT_VERIFIED" not in within.reason_codes


def test_product_cap_and_support_price() -> None:
    item = run(application(requested_amount=60_000_000),
               [feature_row(f"F{i}") for i in range(4)], [valuation_row(f"F{i}", price=40000) for i in range(4)],
               prices=prices_frame(price=40000, sigma=0.5, support=39000))
    assert item.body["fields"][0]["stressed_price_per_t"] == 39000  # support binds over the shock
    assert item.body["computation"]["binding_constraint"] == "product_cap"
    assert item.limit == 40_000_000 and "PRODUCT_CAP_APPLIED" in item.reason_codes


def test_contract_price_used_for_its_crop() -> None:
    item = run(application(contract_crop="maize", contract_price_per_t=25000), [feature_row("F1")],
               [valuation_row("F1")])
    f = item.body["fields"][0]
    assert f["price_per_t"] == 25000 and f["contract_price"] is True
    assert item.body["computation"]["expected_value"] == 50 * 10 * 25000


def test_moisture_basis_converted() -> None:
    item = run(application(), [feature_row("F1")], [valuation_row("F1", moisture_basis_pct=0.0)])
    assert item.body["fields"][0]["yield_p50_t_ha"] == pytest.approx(10.0 / 0.845)


# --- evidence traps -------------------------------------------------------------------------------

def test_overlap_refers_with_parcel_overlap_claim() -> None:
    item = run(application(), [feature_row("F1"), feature_row("F2", overlap_fraction=0.30)],
               [valuation_row("F1"), valuation_row("F2")])
    assert item.outcome == "REFER"
    assert "PARCEL_OVERLAP_CLAIM" in item.reason_codes and "PARCEL_OVERLAP_CLAIM" in item.body["refer_reasons"]
    f2 = next(f for f in item.body["fields"] if f["field_id"] == "F2")
    assert (f2["included"], f2["exclusion_code"], f2["expected_value"]) == (False, "PARCEL_OVERLAP_CLAIM", 0)
    assert item.body["computation"]["expected_value"] == 10_000_000


def test_crop_mismatch_excluded_with_code() -> None:
    mismatch = feature_row("F2", declared_area_ha=10.0, planted_area_ha=10.0, crop_type="soybean",
                           crop_type_prob=0.9, declared_crop_prob=0.05)
    item = run(application(), [feature_row("F1"), mismatch], [valuation_row("F1"), valuation_row("F2", crop="soybean")])
    f2 = next(f for f in item.body["fields"] if f["field_id"] == "F2")
    assert f2["exclusion_code"] == "CROP_MISMATCH" and not f2["included"]
    assert "CROP_MISMATCH" in item.reason_codes
    assert item.outcome != "REFER"  # 10 ha of 60 failing: below the 25 % share


def test_never_planted_field_excluded_after_emergence_checkpoint() -> None:
    never = feature_row("F2", declared_area_ha=10.0, planted_area_ha=0.0, growth_stage="not_sown",
                        emergence_date=None, crop_type="fallow", crop_type_prob=0.9, declared_crop_prob=0.02)
    item = run(application(), [feature_row("F1"), never], [valuation_row("F1"), valuation_row("F2", p10=0.0, p50=0.5)])
    f2 = next(f for f in item.body["fields"] if f["field_id"] == "F2")
    assert f2["exclusion_code"] == "NOT_PLANTED"
    assert {"NOT_PLANTED", "CROP_MISMATCH"} <= set(f2["codes"])
    assert "NOT_PLANTED" in item.reason_codes


@pytest.mark.parametrize(("as_of", "wheat_code"), [(date(2025, 4, 30), None), (date(2025, 5, 1), "NOT_PLANTED")])
def test_winter_wheat_has_its_own_emergence_checkpoint(as_of: date, wheat_code: str | None) -> None:
    """us-operating: declared winter wheat with nothing emerged is pre-season only until spring green-up (05-01),
    not until the profile's 06-30 (weeks before its harvest); a maize field not yet up on the same date stays pre-season."""
    not_up = dict(planted_area_ha=0.0, growth_stage="not_sown", emergence_date=None, crop_type="fallow",
                  crop_type_prob=0.9, declared_crop_prob=0.3, as_of=as_of, days_since_emergence=float("nan"))
    feats = [feature_row("F1", **not_up), feature_row("F2", declared_crop="winter_wheat", declared_area_ha=10.0, **not_up)]
    vals = [valuation_row("F1", as_of=as_of), valuation_row("F2", crop="winter_wheat", area=10.0, as_of=as_of)]
    prices = pd.concat([prices_frame(), prices_frame(crop="winter_wheat")], ignore_index=True)
    item = run(application(), feats, vals, prices=prices, as_of=as_of)
    got = {f["field_id"]: f["exclusion_code"] for f in item.body["fields"]}
    assert got == {"F1": None, "F2": wheat_code}
    assert "PRESEASON_NO_IMAGERY" in item.reason_codes


def test_failing_area_share_refers() -> None:
    bad = feature_row("F2", declared_area_ha=50.0, crop_type_prob=0.5)
    item = run(application(), [feature_row("F1"), bad], [valuation_row("F1"), valuation_row("F2")])
    assert item.outcome == "REFER" and item.body["refer_reasons"] == ["FAILING_AREA_SHARE"]
    assert "CROP_TYPE_UNCERTAIN" in item.reason_codes


@pytest.mark.parametrize(("over", "code"), [
    ({"geometry_valid": False}, "PARCEL_INVALID_GEOMETRY"),
    ({"noncrop_fraction": 0.2}, "PARCEL_NOT_CROPLAND"),
    ({"n_clear_obs": 2}, "INSUFFICIENT_CLEAR_IMAGERY"),
    ({"n_clear_pixels": 7}, "FIELD_TOO_SMALL"),
    ({"crop_type_prob": 0.79}, "CROP_TYPE_UNCERTAIN"),
    ({"declared_crop_prob": 0.19}, "CROP_MISMATCH"),
])
def test_each_evidence_check(over: dict[str, Any], code: str) -> None:
    item = run(application(), [feature_row("F1", **over)], [valuation_row("F1")])
    assert item.body["fields"][0]["exclusion_code"] == code
    assert item.body["computation"]["expected_value"] == 0


def test_out_of_scope_and_missing_valuation() -> None:
    item = run(application(), [feature_row("F1"), feature_row("F2")], [valuation_row("F1", in_scope=False)])
    codes = {f["field_id"]: f["exclusion_code"] for f in item.body["fields"]}
    assert codes == {"F1": "OUT_OF_MODEL_SCOPE", "F2": "OUT_OF_MODEL_SCOPE"}
    assert item.outcome == "REFER" and item.limit == 0


def test_no_fields_refers() -> None:
    item = run(application(token="nobody"), [feature_row("F1")], [valuation_row("F1")])
    assert item.outcome == "REFER" and "NO_FIELDS_FOUND" in item.reason_codes


# --- pre-season -----------------------------------------------------------------------------------

def test_preseason_uses_history_with_haircut() -> None:
    early = date(2025, 4, 1)
    f = feature_row("F1", as_of=early, growth_stage="not_sown", emergence_date=None, planted_area_ha=None,
                    n_clear_obs=0, crop_type=None, crop_type_prob=None, declared_crop_prob=None)
    v = valuation_row("F1", as_of=early, history_yield_t_ha=12.0)
    item = run(application(requested_amount=20_000_000), [f], [v], as_of=early)
    fb = item.body["fields"][0]
    assert fb["basis"] == "preseason" and fb["included"]
    assert fb["yield_p50_t_ha"] == pytest.approx(12.0 * 0.7)
    assert fb["yield_p10_t_ha"] == pytest.approx(12.0 * 0.7 * 0.8)
    assert item.body["computation"]["expected_value"] == math.floor(50 * 12.0 * 0.7 * 20000)
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert red["PRESEASON_NO_IMAGERY"] >= 0 and "PRESEASON_NO_IMAGERY" in red
    assert sum(red.values()) == 20_000_000 - item.limit
    # without history: the model's expectation, with the haircut
    v2 = valuation_row("F1", as_of=early)
    item2 = run(application(requested_amount=20_000_000), [f], [v2], as_of=early)
    assert item2.body["fields"][0]["yield_p50_t_ha"] == pytest.approx(7.0)


def test_a_short_requested_term_runs_to_harvest_plus_the_marketing_window() -> None:
    """CREDIT_POLICY.md step 9: the line matures at the expected harvest plus a marketing window. A shorter request
    was lengthened to the harvest day only (policy note 3), so the line fell due before the farmer could sell the
    crop; policy 2026.12.4 (term_to_harvest_window) lengthens it to harvest + window. A longer request is cut to it
    as before; the previous release's policy decides as it did."""
    short = run(application(requested_term_days=30), [feature_row("F1")], [valuation_row("F1")])
    assert short.body["computation"]["term_days"] == 92 + 60
    long = run(application(requested_term_days=400), [feature_row("F1")], [valuation_row("F1")])
    assert long.body["computation"]["term_days"] == 92 + 60
    old = run(application(requested_term_days=30), [feature_row("F1")], [valuation_row("F1")], policy=LEGACY)
    assert old.body["computation"]["term_days"] == 92


def test_a_field_whose_imagery_disputes_its_declared_crop_is_not_valued_at_the_imagerys_crop() -> None:
    """The two crop checks read two probabilities: the imagery's top class (>= 0.80) and the declared crop's given
    imagery and declaration (>= 0.20). A declared maize field the imagery called cotton at 0.83 passed both with the
    declared crop at 0.84 and was valued as cotton (the smallholder demo's F0073, at 3.3 times the price). Policy
    2026.12.4 (disputed_crop_uncertain): such a field is CROP_TYPE_UNCERTAIN — the valued crop's probability given
    both is at most 1 − 0.84; below 0.20 it stays CROP_MISMATCH alone; the previous release's policy values it."""
    prices = pd.concat([prices_frame(), prices_frame(crop="soybean")], ignore_index=True)
    for dprob in (0.84, 0.2, 0.5):
        f = feature_row("F1", crop_type="soybean", crop_type_prob=0.83, declared_crop_prob=dprob)
        item = run(application(), [f], [valuation_row("F1", crop="soybean")], prices=prices)
        assert item.body["fields"][0]["codes"] == ["CROP_TYPE_UNCERTAIN"] and item.outcome == "REFER", dprob
        old = run(application(), [f], [valuation_row("F1", crop="soybean")], prices=prices, policy=LEGACY)
        assert old.body["fields"][0]["included"] and old.body["fields"][0]["crop_valued"] == "soybean"
    f = feature_row("F1", crop_type="soybean", crop_type_prob=0.83, declared_crop_prob=0.19)
    item = run(application(), [f], [valuation_row("F1", crop="soybean")], prices=prices)
    assert item.body["fields"][0]["codes"] == ["CROP_MISMATCH"]
    agree = run(application(), [feature_row("F1")], [valuation_row("F1")])  # imagery and declaration agree
    assert agree.body["fields"][0]["included"]
    assert POLICY.profile(PROFILE).disputed_crop_uncertain is True and LEGACY.profile(PROFILE).disputed_crop_uncertain \
        is None


def test_preseason_declared_area_beyond_the_polygon_is_not_lent_against() -> None:
    """Before emergence nothing measures the planted area, but the polygon bounds it: a declared area beyond the
    field's own area (+ the area tolerance) is valued at the field's area, the difference AREA_NOT_VERIFIED's."""
    early = date(2025, 4, 1)
    base = dict(as_of=early, growth_stage="not_sown", emergence_date=None, planted_area_ha=None, n_clear_obs=0,
                crop_type=None, crop_type_prob=None, declared_crop_prob=None)
    v = valuation_row("F1", as_of=early, history_yield_t_ha=12.0)
    honest = run(application(requested_amount=20_000_000), [feature_row("F1", **base)], [v], as_of=early)
    inflated = run(application(requested_amount=20_000_000),
                   [feature_row("F1", **{**base, "declared_area_ha": 1e9})], [v], as_of=early)
    fb = inflated.body["fields"][0]
    assert fb["included"] and fb["area_used_ha"] == 52.0 and fb["area_not_verified"]
    assert "AREA_NOT_VERIFIED" in inflated.reason_codes and inflated.limit <= honest.limit * 52 / 50 + 1000
    within = run(application(requested_amount=20_000_000),
                 [feature_row("F1", **{**base, "declared_area_ha": 55.0})], [v], as_of=early)  # within 10% of 52
    assert within.body["fields"][0]["area_used_ha"] == 55.0 and "AREA_NOT_VERIFIED" not in within.reason_codes


def test_same_field_not_sown_after_checkpoint_is_not_preseason() -> None:
    f = feature_row("F1", growth_stage="not_sown", emergence_date=None)
    item = run(application(), [f], [valuation_row("F1")], as_of=date(2025, 7, 15))
    assert item.body["fields"][0]["basis"] == "imagery"
    assert item.body["fields"][0]["exclusion_code"] == "NOT_PLANTED"


# --- currencies, determinism, order, concentration ------------------------------------------------

def test_currency_mismatch_is_an_error() -> None:
    with pytest.raises(ApplicationsError, match="currency INR does not match policy profile us-operating"):
        run(application(currency="INR"), [feature_row("F1")], [valuation_row("F1")])
    with pytest.raises(PriceError, match="is in INR, profile us-operating lends in USD"):
        run(application(), [feature_row("F1")], [valuation_row("F1")], prices=prices_frame(currency="INR"))


def test_missing_price_is_an_error() -> None:
    with pytest.raises(PriceError, match="no price for a valued field's crop"):
        run(application(), [feature_row("F1")], [valuation_row("F1")], prices=prices_frame(crop="soybean"))


def test_body_byte_identical_and_free_of_secrets() -> None:
    prov = {"source": "local", "collection": "S2L2A", "dates": ["2025-06-01"], "client_secret": "s3cr3t"}
    a = run(application(), [feature_row("F1"), feature_row("F2")], [valuation_row("F1"), valuation_row("F2")],
            provenance=prov)
    b = run(application(), [feature_row("F2"), feature_row("F1")], [valuation_row("F2"), valuation_row("F1")],
            provenance=dict(reversed(list(prov.items()))))
    assert canonical_json(a.body) == canonical_json(b.body)
    assert a.idempotency_key == b.idempotency_key
    assert "s3cr3t" not in a.body_json and "client_secret" not in a.body_json
    assert a.body["models"] == [{"name": "yield-value", "version": "3", "run_id": None}]
    assert a.body["policy"]["content_hash"] == POLICY.content_hash
    c = run(application(), [feature_row("F1"), feature_row("F2")], [valuation_row("F1"), valuation_row("F2", p50=10.5)])
    assert c.idempotency_key != a.idempotency_key


def test_body_has_no_identifiers() -> None:
    app = application(national_id="123-45-6789", farmer_name="Jane Roe", phone="+1 555 0100")
    item = run(app, [feature_row("F1")], [valuation_row("F1")])
    for secret in ("123-45-6789", "Jane Roe", "555 0100"):
        assert secret not in item.body_json


def _batch_inputs(n: int = 6) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    apps = pd.DataFrame([application(f"A{i}", token=f"tok-{i}", requested_amount=2_000_000 + 100_000 * i)
                         for i in range(n)])
    feats = features_frame([feature_row(f"F{i}", token=f"tok-{i}") for i in range(n)])
    vals = valuations_frame([valuation_row(f"F{i}") for i in range(n)])
    book = book_frame([dict(line_id=f"L{j}", application_id=f"OLD{j}", farmer_token=f"old-{j}", currency="USD",
                            limit=100_000_000, drawn=0, outstanding=0, start_date="2025-03-01",
                            maturity_date="2025-12-01", crop="soybean", region="us-nebraska") for j in range(10)])
    return apps, feats, vals, book


def test_batch_independent_of_application_order_and_consumes_headroom() -> None:
    apps, feats, vals, book = _batch_inputs()
    # book = $10M; 40 % crop-region cap for maize = $4M, 1 % borrower = $100k
    room = Headroom.from_book(book, POLICY.profile(PROFILE))
    assert room.applies and room.max_borrower == 10_000_000 and room.max_crop_region == 400_000_000
    a = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    b = decide_batch(apps.iloc[::-1].reset_index(drop=True), feats.iloc[::-1], vals, prices_frame(), book, POLICY,
                     PROFILE, AS_OF)
    assert [i.application_id for i in a] == [f"A{i}" for i in range(6)]
    assert [canonical_json(i.body) for i in a] == [canonical_json(i.body) for i in b]
    # a tight crop-region share: headroom is used up in application_id order
    tight = POLICY.profiles[PROFILE].__class__(**{**POLICY.profile(PROFILE).__dict__, "max_share_crop_region": 0.005})
    pol = POLICY.__class__(**{**POLICY.__dict__, "profiles": {PROFILE: tight}})
    c = decide_batch(apps, feats, vals, prices_frame(), book, pol, PROFILE, AS_OF)
    # 0.5 % of $10M = $50k: A0 gets $20k, A1 $21k, A2 the remaining $9k, A3.. get 0 (declined)
    assert [i.limit for i in c] == [2_000_000, 2_100_000, 900_000, 0, 0, 0]
    assert "CONCENTRATION_CAP_APPLIED" in c[2].reason_codes
    assert c[2].body["computation"]["binding_constraint"] == "concentration"


def test_borrower_share_counts_existing_lines() -> None:
    apps, feats, vals, book = _batch_inputs(1)
    book.loc[0, "farmer_token"] = "tok-0"
    book.loc[0, "limit"] = 9_000_000  # $90k of the borrower cap
    book.loc[1, "limit"] = 200_000_000  # book now $10.09M -> 1 % cap $100,900 -> headroom $10,900
    item = decide(apps.iloc[0], feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    assert item.limit == 1_050_000 and item.outcome == "REDUCE"
    assert item.body["computation"]["binding_constraint"] == "concentration"
    assert item.body["computation"]["concentration"]["headroom"] == 1_090_000
    assert item.body["computation"]["concentration"]["borrower_exposure"] == 9_000_000


def test_empty_book_does_not_apply_concentration() -> None:
    item = run(application(), [feature_row("F1")], [valuation_row("F1")])
    assert item.body["computation"]["concentration"]["applies"] is False
    assert item.outcome == "APPROVE"


# --- policy backtest ------------------------------------------------------------------------------

def test_backtest_hand_computed() -> None:
    from underwriting.backtest import backtest, summarise_backtest

    lines = pd.DataFrame({"application_id": ["A", "B", "C", "D"], "limit": [1_000_000, 1_000_000, 0, 500_000],
                          "term_days": [146, 146, 146, 146], "crop": ["maize", "maize", "maize", "soybean"]})
    realised = pd.DataFrame({"application_id": ["A", "B", "C", "D"],
                             "realised_value": pd.array([1_290_000, 1_289_999, 5, None], dtype="Int64")})
    out = backtest(lines, realised, POLICY, PROFILE)
    # due = 1,000,000 x (1 + 0.08 x 146 / 365) = 1,032,000; cover = realised x 0.8
    assert list(out["application_id"]) == ["A", "B", "D"]  # a declined line (limit 0) is no line
    assert list(out["repayment_due"]) == [1_032_000, 1_032_000, 516_000]
    assert list(out["uncovered"]) == [False, True, False] and list(out["known"]) == [True, True, False]
    s = summarise_backtest(out)
    maize = s[s["crop"] == "maize"].iloc[0]
    assert (maize["n_lines"], maize["n_uncovered"], maize["share_uncovered"]) == (2, 1, 0.5)
    soy = s[s["crop"] == "soybean"].iloc[0]
    assert (soy["n_unknown"], pd.isna(soy["share_uncovered"])) == (1, True)


def test_backtest_realised_values_naive_and_decision_lines() -> None:
    from underwriting.backtest import backtest, lines_from_decisions, naive_lines, realised_values

    realised = pd.DataFrame({"application_id": ["A1", "A1", "A2"], "crop": ["maize"] * 3,
                             "region": ["us-nebraska"] * 3, "season": ["2025"] * 3, "area_ha": [10.0, 5.0, 3.0],
                             "yield_t_ha": [9.0, 11.0, None]})
    rv = realised_values(realised, prices_frame())
    assert rv["realised_value"].tolist() == [(90 + 55) * 20000, pd.NA]
    item = run(application("A1", requested_amount=2_000_000), [feature_row("F1")], [valuation_row("F1")])
    lines = lines_from_decisions([item])
    assert lines.iloc[0].to_dict() == {"application_id": "A1", "limit": 2_000_000, "term_days": 152, "crop": "maize",
                                       "outcome": "APPROVE", "season": "2025", "as_of": "2025-07-15"}
    out = backtest(lines, rv, POLICY, PROFILE)
    assert not out["uncovered"].iloc[0]  # $29,000 x 0.8 covers $20,000 x (1 + 0.08 x 152 / 365)
    apps = pd.DataFrame({"application_id": ["A1", "A2"], "declared_area_ha": [50.0, 2.0], "crop": ["maize"] * 2,
                         "requested_amount": [9_000_000, 9_000_000], "requested_term_days": [120, 120]})
    naive = naive_lines(apps, 150_00, POLICY, PROFILE)  # $150 per declared ha
    assert naive["limit"].tolist() == [750_000, 0]  # 2 ha x $150 = $300 is below the $5,000 minimum line


def test_evidence_from_after_the_decision_date_is_refused() -> None:
    from features.errors import ContractError

    with pytest.raises(ContractError, match=r"FieldFeatures: column 'as_of': expected on or before the decision date "
                                            r"2025-07-01, found later dates at F1"):
        run(application(), [feature_row("F1")], [valuation_row("F1")], as_of=date(2025, 7, 1))


def test_valuations_in_another_currency_are_an_error() -> None:
    with pytest.raises(PriceError, match="valuations in INR for a USD profile: F1"):
        run(application(), [feature_row("F1")], [valuation_row("F1", currency="INR")])


def test_high_yield_uncertainty_takes_the_yield_stress_reduction() -> None:
    item = run(application(requested_amount=9_000_000), [feature_row("F1")], [valuation_row("F1", p10=5.0)])
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert "HIGH_YIELD_UNCERTAINTY" in red and "LOW_STRESSED_YIELD" not in red  # (10 - 5) / 10 > 0.25
    assert red["HIGH_YIELD_UNCERTAINTY"] == 50 * 10 * 17585 - 50 * 5 * 17585


#: the release before exclusions_before_stress (2026.12.6): its records replay by it, so its waterfall stays tested
BEFORE_EXCLUSIONS_FIRST = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.6.yaml")


def test_every_field_excluded_puts_the_reduction_on_the_exclusion_not_on_the_stress() -> None:
    """A decision whose every field is CROP_TYPE_UNCERTAIN values nothing: the whole reduction is the exclusion's.
    Before policy 2026.12.7 (exclusions_before_stress) the stress steps came first, charged on the fields as claimed,
    and the exclusion took what was left — the smallholder walkthrough's A2009-00007 read HIGH_YIELD_UNCERTAINTY
    22,250 and CROP_TYPE_UNCERTAIN 0 for fields that were never valued. Limit and outcome do not change."""
    feats = [feature_row("F1", crop_type_prob=0.5), feature_row("F2", crop_type_prob=0.5)]
    vals = [valuation_row("F1", p10=5.0), valuation_row("F2", p10=5.0)]  # (10 - 5) / 10 > 0.25 on the claim
    requested = 20_000_000  # the claimed expected value: 2 x 50 ha x 10 t x $200
    item = run(application(requested_amount=requested), feats, vals)
    assert POLICY.profile(PROFILE).exclusions_before_stress is True
    assert (item.outcome, item.limit) == ("REFER", 0)
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert red == {"CROP_TYPE_UNCERTAIN": requested}
    assert item.reason_codes[0] == "CROP_TYPE_UNCERTAIN" and item.body["reasons"][0]["principal"]
    # the release before: its records keep their waterfall (audit replay), the one the walkthrough saw
    old = run(application(requested_amount=requested), feats, vals, policy=BEFORE_EXCLUSIONS_FIRST)
    assert (old.outcome, old.limit) == (item.outcome, item.limit)
    assert "exclusions_before_stress" not in old.body["policy"]["parameters"]
    old_red = {r["code"]: r["reduction"] for r in old.body["reasons"]}
    ps = 17585
    assert old_red["HIGH_YIELD_UNCERTAINTY"] == 100 * 10 * ps - 100 * 5 * ps
    assert old_red["CROP_TYPE_UNCERTAIN"] == math.floor(0.8 * 100 * 5 * ps) < requested
    assert sum(old_red.values()) == requested


def test_an_excluded_field_takes_its_expected_value_and_the_stress_falls_on_the_valued_fields() -> None:
    """Mixed: F1 valued (50 ha, P10 5 of P50 10: HIGH_YIELD_UNCERTAINTY), F2 (10 ha) CROP_TYPE_UNCERTAIN. F2's
    expected value is its exclusion's; price and yield stress and the advance rate are charged on F1 only; the
    reductions add up to requested - limit, the limit the same as under the release before."""
    ps = 17585  # stressed price, as in test_one_field_hand_computed
    feats = [feature_row("F1"), feature_row("F2", declared_area_ha=10.0, planted_area_ha=10.0, crop_type_prob=0.5)]
    vals = [valuation_row("F1", p10=5.0), valuation_row("F2", p10=5.0, area=10.0)]
    requested = 12_000_000  # the claimed expected value: 60 ha x 10 t x $200
    item = run(application(requested_amount=requested), feats, vals)
    assert (item.outcome, item.limit) == ("REDUCE", 3_500_000)  # 0.8 x 50 x 5 x 175.85 = $35,170 -> $35,000
    stressed = 50 * 5 * ps
    red = {r["code"]: r["reduction"] for r in item.body["reasons"]}
    assert red == {
        "CROP_TYPE_UNCERTAIN": 10 * 10 * 20000,
        "PRICE_VOLATILITY_HAIRCUT": 50 * 10 * (20000 - ps),
        "HIGH_YIELD_UNCERTAINTY": 50 * 10 * ps - stressed,
        "ADVANCE_RATE_APPLIED": stressed - math.floor(0.8 * stressed),
        "ROUNDED_TO_STEP": math.floor(0.8 * stressed) - 3_500_000,
    }
    assert sum(red.values()) == requested - item.limit
    old = run(application(requested_amount=requested), feats, vals, policy=BEFORE_EXCLUSIONS_FIRST)
    assert (old.outcome, old.limit) == (item.outcome, item.limit)
    old_red = {r["code"]: r["reduction"] for r in old.body["reasons"]}
    assert old_red["HIGH_YIELD_UNCERTAINTY"] == 60 * 10 * ps - 60 * 5 * ps  # F2's stress charged to the stress
    assert old_red["CROP_TYPE_UNCERTAIN"] == math.floor(0.8 * 60 * 5 * ps) - math.floor(0.8 * stressed)
    assert sum(old_red.values()) == requested - old.limit


def test_refer_keeps_indicative_limit_and_uses_no_headroom() -> None:
    apps, feats, vals, book = _batch_inputs(2)
    feats.loc[feats["field_id"] == "F0", "overlap_fraction"] = 0.5
    feats = pd.concat([feats, features_frame([feature_row("G0", token="tok-0")])], ignore_index=True)
    vals = pd.concat([vals, valuations_frame([valuation_row("G0")])], ignore_index=True)
    items = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    assert items[0].outcome == "REFER" and items[0].limit == 2_000_000
    assert items[1].body["computation"]["concentration"]["crop_region_exposure"] == 0  # A0 used none of it


def test_idempotency_key_follows_model_version_and_policy() -> None:
    base = run(application(), [feature_row("F1")], [valuation_row("F1")])
    other_model = run(application(), [feature_row("F1")], [valuation_row("F1", model_version="4")])
    assert other_model.idempotency_key != base.idempotency_key
    assert other_model.body["models"][0]["version"] == "4"
    pol = POLICY.__class__(**{**POLICY.__dict__, "content_hash": "0" * 64})
    other_policy = decide(application(), features_frame([feature_row("F1")]), valuations_frame([valuation_row("F1")]),
                          prices_frame(), book_frame(), pol, PROFILE, AS_OF)
    assert other_policy.idempotency_key != base.idempotency_key
    assert other_policy.limit == base.limit


def test_price_stress_horizon_is_each_fields_harvest() -> None:
    late = feature_row("F2", expected_harvest_date=date(2026, 1, 15))  # 184 days
    item = run(application(), [feature_row("F1"), late], [valuation_row("F1"), valuation_row("F2")])
    sp = {f["field_id"]: f["stressed_price_per_t"] for f in item.body["fields"]}
    assert sp == {"F1": 17585, "F2": math.floor(20000 * math.exp(-1.2816 * 0.2 * math.sqrt(184 / 365)))}
    # the term follows the latest harvest: to harvest + window, 184 + 60 (2026.12.3: max(120, 184) capped at 244)
    assert item.body["computation"]["term_days"] == 244
    old = run(application(), [feature_row("F1"), late], [valuation_row("F1"), valuation_row("F2")], policy=LEGACY)
    assert old.body["computation"]["term_days"] == 184


def test_preseason_without_harvest_date_stresses_over_the_requested_term() -> None:
    early = date(2025, 4, 1)
    f = feature_row("F1", as_of=early, growth_stage=None, emergence_date=None, planted_area_ha=None, n_clear_obs=0,
                    expected_harvest_date=None, peak_date=None)
    item = run(application(requested_term_days=200), [f], [valuation_row("F1", as_of=early)], as_of=early)
    fb = item.body["fields"][0]
    assert fb["basis"] == "preseason"
    assert fb["stressed_price_per_t"] == math.floor(20000 * math.exp(-1.2816 * 0.2 * math.sqrt(200 / 365)))
    assert item.body["computation"]["term_days"] == 200
    assert item.body["computation"]["expected_harvest_date"] is None


def test_boundaries_of_more_than_are_exact() -> None:
    """"More than 10%" of the declared area and "more than" the REFER share of failing area hold at exactly the
    boundary, whatever the floats say (3.3 − 3 > 0.3 and 1.7 / 6.8 > 0.25 in IEEE doubles)."""
    for declared, planted, flagged in ((3.0, 3.3, False), (7.0, 7.7, False), (7.0, 7.71, True)):
        it = run(application(), [feature_row("f1", declared_area_ha=declared, planted_area_ha=planted,
                                             field_area_ha=10.0)], [valuation_row("f1", area=planted)])
        assert it.body["fields"][0]["area_not_verified"] is flagged, (declared, planted)
    bad = {"n_clear_obs": 1}
    feats = [feature_row("a", declared_area_ha=0.1, planted_area_ha=0.1, **bad),
             feature_row("b", declared_area_ha=1.6, planted_area_ha=1.6, **bad),
             feature_row("c", declared_area_ha=5.1, planted_area_ha=5.1)]
    it = run(application(), feats, [valuation_row(f, area=a) for f, a in (("a", 0.1), ("b", 1.6), ("c", 5.1))])
    assert 0.1 + 1.6 == 1.7000000000000002 and it.body["computation"]["failing_area_share"] == 0.25
    assert "FAILING_AREA_SHARE" not in it.body["refer_reasons"] and it.outcome != "REFER"


def test_a_harvest_beyond_the_longest_term_is_referred() -> None:
    """The term is capped at max_term_days: a harvest further away would leave the line maturing before the crop
    it is repaid from (it was approved, unflagged) — referred with HARVEST_AFTER_MAX_TERM."""
    far = date.fromordinal(AS_OF.toordinal() + POLICY.profile(PROFILE).max_term_days + 30)
    it = run(application(requested_amount=100_000), [feature_row("f1", expected_harvest_date=far)],
             [valuation_row("f1")])
    assert it.outcome == "REFER" and "HARVEST_AFTER_MAX_TERM" in it.body["refer_reasons"]
    near = run(application(requested_amount=100_000), [feature_row("f1")], [valuation_row("f1")])
    assert near.outcome != "REFER" and "HARVEST_AFTER_MAX_TERM" not in near.body["refer_reasons"]


def test_a_new_line_decided_after_its_harvest_is_referred() -> None:
    """A new application decided once its crop is harvested got a term of what was left of the marketing window, down
    to the floor of 1 day, and was granted: the smallholder demo underwritten as of 2010-02-28 granted INR 474,000 on
    21 REDUCE lines maturing 2010-03-01. Policy 2026.12.3 (refer_after_harvest) refers a new line decided on or after
    its fields' expected harvest (HARVEST_PASSED, a refer reason like HARVEST_AFTER_MAX_TERM); a re-underwriting (the
    line has a maturity) and a line decided the day before are decided as before, and so is every decision under a
    released policy without the parameter (its records replay as they were)."""
    from underwriting.policy import ARCHIVE_DIR, load_policy

    assert POLICY.profile(PROFILE).refer_after_harvest is True
    window = POLICY.profile(PROFILE).marketing_window_days
    feats = [feature_row("f1", as_of=AS_OF)]
    for late in (HARVEST, date.fromordinal(HARVEST.toordinal() + window)):  # the harvest day, the window's last
        it = run(application(requested_amount=100_000), feats, [valuation_row("f1")], as_of=late)
        assert it.outcome == "REFER" and "HARVEST_PASSED" in it.body["refer_reasons"], late
    before = run(application(requested_amount=100_000), feats, [valuation_row("f1")],
                 as_of=date.fromordinal(HARVEST.toordinal() - 1))
    assert "HARVEST_PASSED" not in before.body["refer_reasons"] and before.outcome != "REFER"
    renewed = run(application(requested_amount=100_000, latest_maturity_date=date(2026, 3, 1)), feats,
                  [valuation_row("f1")], as_of=HARVEST)
    assert "HARVEST_PASSED" not in renewed.body["refer_reasons"] and renewed.outcome != "REFER"
    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.2.yaml")
    assert old.profile(PROFILE).refer_after_harvest is None
    kept = decide(application(requested_amount=100_000), features_frame(feats), valuations_frame([valuation_row("f1")]),
                  prices_frame(), book_frame(), old, PROFILE, HARVEST)
    assert "HARVEST_PASSED" not in kept.body["refer_reasons"] and kept.outcome != "REFER"
    assert "refer_after_harvest" not in kept.body["policy"]["parameters"]  # its bodies stay as they were


def test_a_farmers_second_application_of_the_season_is_referred_as_a_second_pledge() -> None:
    """An application values every field of its farmer and season, so a farmer applying twice was financed twice on
    the same fields (the audit: three applications, three limits). The application holding the fields — one with a
    current record in the store (not itself referred for a pledge), else the first by application_id — is decided
    as before; every other one is REFERred with FIELDS_ALREADY_PLEDGED naming the holders, in any row order, and
    the same whether the batch is decided at once or one application at a time against the store."""
    from underwriting.decisions import batch_pledges, pledge_holders

    apps, feats, vals, book = _batch_inputs(3)
    single = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    twice = pd.concat([apps, apps.iloc[[1]].assign(application_id="A1b"), apps.iloc[[1]].assign(application_id="A1a")],
                      ignore_index=True)
    out = {i.application_id: i for i in decide_batch(twice.iloc[::-1].reset_index(drop=True), feats, vals,
                                                      prices_frame(), book, POLICY, PROFILE, AS_OF)}
    assert canonical_json(out["A1"].body) == canonical_json(single[1].body)  # the holder is decided as before
    assert "fields_pledged_to" not in single[1].body["computation"]
    for aid in ("A1a", "A1b"):
        item = out[aid]
        assert item.outcome == "REFER" and "FIELDS_ALREADY_PLEDGED" in item.body["refer_reasons"], aid
        assert item.body["computation"]["fields_pledged_to"] == ["A1"]

    def stored(*rows: tuple[int, str, str, str, list[str]]) -> pd.DataFrame:
        return pd.DataFrame([{"seq": q, "application_id": a, "farmer_token": "tok-1", "season": "2025",
                              "outcome": o, "body": json.dumps({"refer_reasons": r})} for q, a, o, r in rows])

    # the store's holders: the current record of each application, unless it was referred for a pledge
    recs = stored((1, "A1", "DECLINE", []), (2, "A1b", "REFER", ["FIELDS_ALREADY_PLEDGED"]),
                  (3, "A0", "REDUCE", []), (4, "A0", "REFER", ["FIELDS_ALREADY_PLEDGED"]))
    assert pledge_holders(recs, "2025") == {("tok-1", "2025"): ["A1"]} and pledge_holders(recs, "2024") == {}
    # an analyst's override granting the referred application keeps its refer reasons: still not the holder, so
    # a re-run of A1 is decided as before
    granted = pd.concat([recs, stored((5, "A1b", "APPROVE", ["FIELDS_ALREADY_PLEDGED"]))], ignore_index=True)
    assert pledge_holders(granted, "2025") == {("tok-1", "2025"): ["A1"]}
    # one application at a time gives what the batch gave: A1a alone against A1's record is referred, A1 alone
    # (re-run) is not
    holders = {("tok-1", "2025"): ["A1"]}
    assert batch_pledges(twice.iloc[[4]], holders) == {"A1a": ["A1"]}
    assert batch_pledges(twice.iloc[[1]], holders) == {}
    # the later application decided first (a run with A1b alone, then A1 and A1b): A1b holds, A1 is referred
    assert batch_pledges(twice.iloc[[1, 3]], {("tok-1", "2025"): ["A1b"]}) == {"A1": ["A1b"]}
    later = decide_batch(apps.iloc[[1]].assign(application_id="A1c"), feats, vals, prices_frame(), book, POLICY,
                         PROFILE, AS_OF, pledged=holders)[0]
    assert later.outcome == "REFER" and later.body["computation"]["fields_pledged_to"] == ["A1"]


def _line(j: int, token: str, limit: int, maturity: str = "2025-12-01") -> dict[str, Any]:
    return dict(line_id=f"L{j}", application_id=f"OLD{j}", farmer_token=token, currency="USD", limit=limit, drawn=0,
                outstanding=0, start_date="2025-03-01", maturity_date=maturity, crop="soybean", region="us-nebraska")


def test_reviewed_lines_leave_the_exposure_not_the_book_the_caps_are_shares_of() -> None:
    """Re-underwriting passed the Book without the lines it re-decides: the caps (1% per borrower, 40% per crop and
    region) shrank with every line reviewed, and below min_book_for_concentration stopped applying (a $250k line
    with $562k of collateral was cut to $100k). The caps are shares of the whole Book; only the exposure leaves the
    reviewed lines out (CREDIT_POLICY.md step 7: the Book as it stands at the start of the run)."""
    book = book_frame([_line(j, f"tok-{j}", 100_000_000) for j in range(30)])
    prof = POLICY.profile(PROFILE)
    whole = Headroom.from_book(book, prof)
    reviewed = [f"L{j}" for j in range(20)]
    room = Headroom.from_book(book, prof, exclude_lines=reviewed)
    assert room.book_total == whole.book_total == 3_000_000_000 and room.applies
    assert room.max_borrower == whole.max_borrower == 30_000_000
    assert room.borrower.get("tok-0", 0) == 0 and room.borrower["tok-25"] == 100_000_000
    assert room.crop_region["soybean|us-nebraska"] == 1_000_000_000


def test_matured_book_lines_are_not_exposure_and_caps_floor_exactly() -> None:
    """A line that matured before the decision date is repaid exposure no longer; a cap's share is floored exactly
    (0.29 × 50,000 minor units is 14,500, binary floating point gave 14,499)."""
    book = book_frame([_line(0, "tok-a", 5_000_000, maturity="2024-01-31"), _line(1, "tok-b", 5_000_000)])
    room = Headroom.from_book(book, POLICY.profile(PROFILE), as_of=date(2025, 7, 15))
    assert room.book_total == 5_000_000 and "tok-a" not in room.borrower
    assert Headroom.from_book(book, POLICY.profile(PROFILE)).book_total == 10_000_000  # no date: every line
    from underwriting.decisions import _share_floor

    assert _share_floor(50_000, 0.29) == 14_500 and _share_floor(22_000, 0.35) == 7_700
    assert math.floor(50_000 * 0.29) == 14_499 and math.floor(22_000 * 0.35) == 7_699  # what the float product gave


def test_a_field_the_imagery_calls_fallow_without_a_declared_crop_is_not_planted() -> None:
    """No declared crop and a confident "fallow" from the crop-type model passed every evidence check, was valued as
    fallow (no price) and stopped the whole batch with a PriceError for every applicant; it is NOT_PLANTED."""
    apps = pd.DataFrame([application("A1", token="tok-a"), application("A2", token="tok-b")])
    feats = features_frame([feature_row("F1", token="tok-a"),
                            feature_row("F2", token="tok-b", declared_crop=None, declared_crop_prob=None,
                                        crop_type="fallow", crop_type_prob=0.93, planted_area_ha=3.0)])
    vals = valuations_frame([valuation_row("F1"), valuation_row("F2", crop="fallow", p10=0.0, p50=0.0, p90=0.0,
                                                                price=0)])
    items = decide_batch(apps, feats, vals, prices_frame(), book_frame(), POLICY, PROFILE, AS_OF)
    assert [(i.application_id, i.outcome) for i in items] == [("A1", "APPROVE"), ("A2", "REFER")]
    f2 = items[1].body["fields"][0]
    assert "NOT_PLANTED" in f2["codes"] and not f2["included"]


def test_preseason_body_says_what_the_field_was_valued_on() -> None:
    """The pre-season rule's yield (CREDIT_POLICY.md step 2) is the farmer's reported history when the run was given
    it (underwrite --history; FieldFeatures' history_yield_t_ha) — nothing supplied it before this release — and the
    body says which and over how many seasons."""
    early = date(2025, 4, 1)
    f = feature_row("F1", as_of=early, growth_stage="not_sown", emergence_date=None, planted_area_ha=None,
                    n_clear_obs=0, crop_type=None, crop_type_prob=None, declared_crop_prob=None,
                    history_yield_t_ha=11.0, history_seasons=3)
    item = run(application(requested_amount=20_000_000), [f], [valuation_row("F1", as_of=early)], as_of=early)
    fb = item.body["fields"][0]
    assert (fb["preseason_yield_source"], fb["history_yield_t_ha"], fb["history_seasons"]) == ("history", 11.0, 3)
    assert fb["yield_p50_t_ha"] == pytest.approx(11.0 * 0.7)
    g = dict(f, history_yield_t_ha=float("nan"), history_seasons=0)
    item2 = run(application(requested_amount=20_000_000), [g], [valuation_row("F1", as_of=early)], as_of=early)
    assert "preseason_yield_source" not in item2.body["fields"][0]  # valued on the model: the body as before
    assert "preseason_yield_source" not in run(application(), [feature_row("F1")], [valuation_row("F1")]).body[
        "fields"][0]


def test_an_undeclared_fallow_field_before_emergence_does_not_stop_the_batch() -> None:
    """Before the emergence checkpoint (no imagery checks) the same field was still valued as fallow, had no price
    and stopped every applicant's decision; it is NOT_PLANTED there too."""
    early = date(2025, 4, 1)
    apps = pd.DataFrame([application("A1", token="tok-a"), application("A2", token="tok-b")])
    feats = features_frame([
        feature_row("F1", token="tok-a", as_of=early, growth_stage="not_sown", emergence_date=None,
                    planted_area_ha=None, n_clear_obs=0, crop_type=None, crop_type_prob=None, declared_crop_prob=None),
        feature_row("F2", token="tok-b", as_of=early, growth_stage="not_sown", emergence_date=None,
                    planted_area_ha=None, n_clear_obs=0, declared_crop=None, declared_crop_prob=None,
                    crop_type="fallow", crop_type_prob=0.9)])
    vals = valuations_frame([valuation_row("F1", as_of=early),
                             valuation_row("F2", as_of=early, crop="fallow", p10=0.0, p50=0.0, p90=0.0, price=0)])
    items = decide_batch(apps, feats, vals, prices_frame(), book_frame(), POLICY, PROFILE, early)
    f2 = items[1].body["fields"][0]
    assert f2["basis"] == "preseason" and "NOT_PLANTED" in f2["codes"] and not f2["included"]
    assert items[0].body["fields"][0]["included"]


def test_a_line_re_decided_never_matures_later_than_it_does() -> None:
    """At the end of the season (the expected harvest passed) a re-underwriting gave a fresh 45/60-day marketing
    window from the checkpoint: 54 of the demo's 59 end-of-season records matured after their Book line, limits
    kept or raised (A2009-00035: 2010-03-08 → 2010-04-14). `latest_maturity_date` (reunderwrite sets it to the
    line's maturity) caps the term; the body records it; a date before that is kept as computed."""
    late = date(2025, 11, 20)  # after the expected harvest (2025-10-15)
    free = run(application(requested_term_days=120), [feature_row("F1", as_of=late)],
               [valuation_row("F1", as_of=late)], as_of=late)
    # harvest + the 60-day window (2025-12-14), not a fresh window from the checkpoint (2026-01-19, as it was)
    assert free.body["computation"]["maturity_date"] == "2025-12-14"
    capped = run(application(requested_term_days=120, latest_maturity_date="2025-12-01"),
                 [feature_row("F1", as_of=late)], [valuation_row("F1", as_of=late)], as_of=late)
    c = capped.body["computation"]
    assert (c["term_days"], c["maturity_date"]) == (11, "2025-12-01")
    assert capped.body["application"]["latest_maturity_date"] == "2025-12-01"
    # the cash-flow limit's interest runs over the shorter term
    assert c["cash_flow_limit"] >= free.body["computation"]["cash_flow_limit"]
    early = run(application(requested_term_days=120, latest_maturity_date="2026-06-01"),
                [feature_row("F1", as_of=late)], [valuation_row("F1", as_of=late)], as_of=late)
    assert early.body["computation"]["maturity_date"] == "2025-12-14"
    from pipelines.explain import _term_basis

    assert _term_basis(json.loads(canonical_json(capped.body))).startswith("kept at the line's maturity: a re-underwriting")



def test_a_line_maturing_on_the_checkpoint_day_is_not_extended() -> None:
    """A checkpoint on the line's own maturity day gave a term of 1: the record matured the day after the line."""
    late = date(2025, 12, 1)
    item = run(application(requested_term_days=120, latest_maturity_date="2025-12-01"),
               [feature_row("F1", as_of=late)], [valuation_row("F1", as_of=late)], as_of=late)
    c = item.body["computation"]
    assert (c["term_days"], c["maturity_date"]) == (0, "2025-12-01")
    from pipelines.explain import _term_basis

    assert _term_basis(json.loads(canonical_json(item.body))).startswith("kept at the line's maturity")


def test_a_decision_takes_the_price_known_on_its_date_under_prices_known_at_decision() -> None:
    """Policy 2026.12.9 (prices_known_at_decision): a season's price dated after the decision (a season average
    published after the harvest) is replaced by the latest price of the crop and region dated on or before it, and
    the market block names that price, its date and where it came from; the archived 2026.12.8 decides with the
    later price as it did (its body byte for byte). One rule for decide and decide_batch; a re-run is identical."""
    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.8.yaml")
    assert POLICY.profile(PROFILE).prices_known_at_decision and old.profile(PROFILE).prices_known_at_decision is None
    table = pd.concat([prices_frame(price=18000), prices_frame(price=20000)], ignore_index=True)
    table.loc[0, ["season", "source", "price_date"]] = ["2024", "test table 2024", "2025-06-30"]
    table.loc[1, "price_date"] = "2026-08-31"  # after AS_OF: nobody had it on 2025-07-15
    app, feats, vals = application(), [feature_row("F1")], [valuation_row("F1")]
    new = run(app, feats, vals, prices=table)
    assert new.body["fields"][0]["price_per_t"] == 18000
    assert new.body["market"] == [{
        "crop": "maize", "region": "us-nebraska", "season": "2025", "currency": "USD", "price_per_t": 18000,
        "moisture_basis_pct": 15.5, "sigma_annual": 0.2, "support_price_per_t": None,
        "source": "the latest price known on 2025-07-15: maize us-nebraska season 2024 (test table 2024)",
        "price_date": "2025-06-30"}]
    assert new.body["policy"]["parameters"]["prices_known_at_decision"] is True
    assert new.body["computation"]["expected_value"] == 50 * 10 * 18000
    prior = run(app, feats, vals, prices=table, policy=old)
    assert prior.body["fields"][0]["price_per_t"] == 20000
    assert [(m["price_per_t"], m["source"], m["price_date"]) for m in prior.body["market"]] == [
        (20000, "test table", "2026-08-31")]
    assert "prices_known_at_decision" not in prior.body["policy"]["parameters"]
    # the archived policy's body is the one it decided before the parameter existed: the table as given
    assert canonical_json(prior.body) == canonical_json(run(app, feats, vals, prices=table, policy=old).body)
    # decided as of the price's date or later: the season's own price under both
    late = date(2026, 9, 1)
    both = [run(app, [feature_row("F1", as_of=late)], [valuation_row("F1", as_of=late)], prices=table, as_of=late,
                policy=p) for p in (POLICY, old)]
    assert [b.body["fields"][0]["price_per_t"] for b in both] == [20000, 20000]
    assert both[0].body["market"][0]["source"] == "test table"
    # the batch path (its price cache) decides the same body; a re-run is byte-identical
    batch = decide_batch(pd.DataFrame([app]), features_frame(feats), valuations_frame(vals), table, book_frame(),
                         POLICY, PROFILE, AS_OF)
    assert [canonical_json(i.body) for i in batch] == [canonical_json(new.body)]
    assert canonical_json(run(app, feats, vals, prices=table).body) == canonical_json(new.body)
    # no earlier price of the crop and region: the later one is used (the run warns: pipelines.underwrite)
    alone = run(app, feats, vals, prices=table.iloc[[1]].reset_index(drop=True))
    assert alone.body["fields"][0]["price_per_t"] == 20000 and alone.body["market"][0]["source"] == "test table"


def test_prices_known_on_is_idempotent_and_leaves_other_seasons() -> None:
    """The backtest and the decisions share one prices_known_on: applied to its own output it changes nothing (the
    backtest passes its table to a policy that applies it again), and rows of other seasons stay as given."""
    from pipelines.backtest_run import prices_known_on as backtest_known
    from underwriting.decisions import prices_known_on

    assert backtest_known is prices_known_on
    table = pd.concat([prices_frame(price=18000), prices_frame(price=20000)], ignore_index=True)
    table.loc[0, ["season", "price_date"]] = ["2024", "2025-06-30"]
    table.loc[1, "price_date"] = "2026-08-31"
    once, warned = prices_known_on(table, "2025", AS_OF)
    assert warned == [] and once.loc[1, "price_per_t"] == 18000 and once.loc[0].equals(table.loc[0])
    twice, warned = prices_known_on(once, "2025", AS_OF)
    assert warned == [] and twice.equals(once)


def test_a_field_declared_fallow_and_seen_fallow_is_no_failing_area_under_fallow_as_declared() -> None:
    """Policy 2026.12.10 (fallow_as_declared): a field the farmer declared no crop on that the imagery calls fallow is
    what the farmer said — not valued, but in neither side of the failing-area share and not among the reasons (it
    took nothing off the limit). Under 2026.12.9 it counted as failing area: a farmer resting half the land was
    referred with NOT_PLANTED as a principal reason of 0. A farmer with nothing planted anywhere is still referred
    with NOT_PLANTED; a declared crop not planted still fails."""
    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    assert POLICY.profile(PROFILE).fallow_as_declared and old.profile(PROFILE).fallow_as_declared is None
    rest = dict(declared_crop=None, declared_crop_prob=None, crop_type="fallow", crop_type_prob=0.93,
                planted_area_ha=0.0, declared_area_ha=50.0)
    feats = [feature_row("F1"), feature_row("F2", **rest)]
    vals = [valuation_row("F1"), valuation_row("F2", crop="fallow", p10=0.0, p50=0.0, p90=0.0, price=0)]
    new, prior = run(application(), feats, vals), run(application(), feats, vals, policy=old)
    f2 = new.body["fields"][1]
    assert f2["exclusion_code"] == "NOT_PLANTED" and not f2["included"]  # the field's evidence as before
    assert new.body["computation"]["failing_area_share"] == 0.0 and new.outcome == "APPROVE"
    assert "NOT_PLANTED" not in new.reason_codes and not new.body["refer_reasons"]
    assert new.body["policy"]["parameters"]["fallow_as_declared"] is True
    assert prior.body["computation"]["failing_area_share"] == 0.5 and prior.outcome == "REFER"
    assert "NOT_PLANTED" in prior.reason_codes and "fallow_as_declared" not in prior.body["policy"]["parameters"]
    assert new.limit == run(application(), feats[:1], vals[:1]).limit  # the resting field changed nothing
    # as it comes in the demo: no yield model values fallow, so the field is out of the model's scope too (the first
    # version of this rule required NOT_PLANTED alone and changed no demo decision)
    vals_out = [valuation_row("F1"), valuation_row("F2", crop="fallow", p10=0.0, p50=0.0, p90=0.0, price=0,
                                                   in_scope=False)]
    out = run(application(), feats, vals_out)
    assert out.body["fields"][1]["codes"] == ["NOT_PLANTED", "OUT_OF_MODEL_SCOPE"]
    assert (out.outcome, out.body["computation"]["failing_area_share"]) == ("APPROVE", 0.0)
    # nothing planted anywhere: referred on the whole area, NOT_PLANTED a reason, as before
    alone = run(application(), [feature_row("F2", **rest)], vals[1:])
    assert alone.outcome == "REFER" and "NOT_PLANTED" in alone.reason_codes
    assert alone.body["computation"]["failing_area_share"] == 1.0
    # a crop declared and not planted fails as before
    gone = run(application(), [feature_row("F1"), feature_row("F2", **dict(rest, declared_crop="maize"))], vals)
    assert gone.outcome == "REFER" and gone.body["computation"]["failing_area_share"] == 0.5
    # declaring the no-crop class explicitly is the same declaration as leaving the cell blank (a review's finding:
    # it was referred while the blank cell was not)
    said = run(application(), [feature_row("F1"), feature_row("F2", **dict(rest, declared_crop="fallow"))], vals)
    assert (said.outcome, said.body["computation"]["failing_area_share"]) == ("APPROVE", 0.0)
    # an unsure "fallow" (below min_crop_type_prob: CROP_TYPE_UNCERTAIN too) is no confirmation: failing as before
    unsure = run(application(), [feature_row("F1"), feature_row("F2", **dict(rest, crop_type_prob=0.30))], vals)
    assert unsure.outcome == "REFER" and unsure.body["computation"]["failing_area_share"] == 0.5
    assert "NOT_PLANTED" in unsure.reason_codes
    assert {"NOT_PLANTED", "CROP_TYPE_UNCERTAIN"} <= set(unsure.body["fields"][1]["codes"])


def test_a_harvest_at_exactly_the_longest_term_is_not_referred() -> None:
    """HARVEST_AFTER_MAX_TERM is for a harvest *beyond* max_term_days: at exactly the longest term the line can
    mature on the harvest day, so nothing is referred for it."""
    edge = date.fromordinal(AS_OF.toordinal() + POLICY.profile(PROFILE).max_term_days)
    it = run(application(requested_amount=100_000), [feature_row("f1", expected_harvest_date=edge)],
             [valuation_row("f1")])
    assert "HARVEST_AFTER_MAX_TERM" not in it.body["refer_reasons"] and it.outcome != "REFER"
    assert it.body["computation"]["term_days"] == POLICY.profile(PROFILE).max_term_days


def test_high_yield_uncertainty_only_above_the_threshold() -> None:
    """HIGH_YIELD_UNCERTAINTY when (P50 − P10) / P50 is *more than* 0.25 (CREDIT_POLICY.md, Reason codes): P10 7.5
    of P50 10 is exactly 25 % — the yield stress stays LOW_STRESSED_YIELD; P10 7.4 (26 %) is uncertain."""
    at = run(application(requested_amount=9_000_000), [feature_row("F1")], [valuation_row("F1", p10=7.5)])
    assert "LOW_STRESSED_YIELD" in at.reason_codes and "HIGH_YIELD_UNCERTAINTY" not in at.reason_codes
    above = run(application(requested_amount=9_000_000), [feature_row("F1")], [valuation_row("F1", p10=7.4)])
    assert "HIGH_YIELD_UNCERTAINTY" in above.reason_codes and "LOW_STRESSED_YIELD" not in above.reason_codes


# --- the mutation audit of decisions.py (each test failed on a mutant the suite had let through) --------------------

def test_book_lines_in_another_currency_are_no_exposure() -> None:
    """The concentration caps are shares of the Book in the profile's currency: an INR line is neither in the total
    nor in the borrower's or the crop-region's exposure of a USD profile."""
    book = book_frame([_line(0, "tok-a", 5_000_000), dict(_line(1, "tok-a", 7_000_000), currency="INR")])
    room = Headroom.from_book(book, POLICY.profile(PROFILE))
    assert (room.book_total, room.borrower, room.crop_region) == (5_000_000, {"tok-a": 5_000_000},
                                                                  {"soybean|us-nebraska": 5_000_000})


def test_a_book_line_maturing_on_the_decision_day_is_still_exposure() -> None:
    """A line is repaid exposure only once it matured *before* the decision date: on its maturity day it still
    counts, the day after it does not."""
    book = book_frame([_line(0, "tok-a", 5_000_000, maturity="2025-07-15"), _line(1, "tok-b", 5_000_000)])
    prof = POLICY.profile(PROFILE)
    on_day = Headroom.from_book(book, prof, as_of=date(2025, 7, 15))
    assert on_day.book_total == 10_000_000 and on_day.borrower["tok-a"] == 5_000_000
    after = Headroom.from_book(book, prof, as_of=date(2025, 7, 16))
    assert after.book_total == 5_000_000 and "tok-a" not in after.borrower


def test_headroom_of_a_new_borrower_and_of_an_application_without_a_crop() -> None:
    """A borrower with no line in the Book has the whole borrower cap, to the minor unit; an application with no
    valued field (no crop) is held to the borrower cap only, even where the crop-region cap is the tighter one."""
    book = book_frame([_line(j, f"tok-{j}", 100_000_000) for j in range(10)])
    room = Headroom.from_book(book, POLICY.profile(PROFILE))
    assert room.available("tok-new", "maize", "us-nebraska") == room.max_borrower == 10_000_000
    assert room.available("tok-0", "maize", "us-nebraska") == 0
    tight = Headroom(book_total=room.book_total, applies=True, max_borrower=10_000_000, max_crop_region=4_000_000)
    assert tight.available("tok-new", None, None) == 10_000_000
    assert tight.available("tok-new", "maize", "us-nebraska") == 4_000_000


def test_headroom_consumed_adds_to_the_borrower_and_the_crop_region() -> None:
    """Each line granted in a run adds its limit to its borrower's exposure and, when it has a crop, to that crop and
    region's — a line without a crop to no crop-region (the borrower cap was not consumed at all by any test)."""
    room = Headroom(book_total=1_000_000_000, applies=True, max_borrower=10_000_000, max_crop_region=40_000_000)
    room.consume("tok-a", "maize", "us-nebraska", 3_000_000)
    room.consume("tok-a", "maize", "us-nebraska", 2_000_000)
    room.consume("tok-b", None, None, 1_000_000)
    assert room.borrower == {"tok-a": 5_000_000, "tok-b": 1_000_000}
    assert room.crop_region == {"maize|us-nebraska": 5_000_000}
    assert room.available("tok-a", "maize", "us-nebraska") == 5_000_000
    assert room.available("tok-c", "maize", "us-nebraska") == 10_000_000


def test_a_field_seen_fallow_at_exactly_min_crop_type_prob_is_as_declared() -> None:
    """fallow_as_declared asks the imagery's crop model to call the field fallow with crop_type_prob *at least*
    min_crop_type_prob (0.80): at exactly 0.80 the resting field is as declared, no failing area."""
    assert POLICY.profile(PROFILE).evidence.min_crop_type_prob == 0.80
    rest = dict(declared_crop=None, declared_crop_prob=None, crop_type="fallow", crop_type_prob=0.80,
                planted_area_ha=0.0, declared_area_ha=50.0)
    vals = [valuation_row("F1"), valuation_row("F2", crop="fallow", p10=0.0, p50=0.0, p90=0.0, price=0)]
    it = run(application(), [feature_row("F1"), feature_row("F2", **rest)], vals)
    assert it.body["fields"][1]["exclusion_code"] == "NOT_PLANTED"
    assert (it.outcome, it.body["computation"]["failing_area_share"]) == ("APPROVE", 0.0)
    assert "NOT_PLANTED" not in it.reason_codes


def test_reasons_list_every_reduction_and_refer_codes_at_zero_largest_first() -> None:
    """Every code that took something off the limit is listed, however little (one minor unit included), largest
    first; a refer code with a text took nothing: listed after them with a reduction of 0; the first four are the
    principal reasons; a code that took nothing and is no evidence or refer code is not listed."""
    from underwriting.decisions import _reasons

    steps = [("CROP_VALUE_BELOW_REQUEST", 0), ("PRICE_VOLATILITY_HAIRCUT", 1), ("ADVANCE_RATE_APPLIED", 3),
             ("REPAYMENT_CAPACITY_BELOW_MIN", 2), ("PRODUCT_CAP_APPLIED", 5)]
    out = _reasons(steps, [], ["PARCEL_OVERLAP_CLAIM", "FAILING_AREA_SHARE"], POLICY)
    assert [(r["code"], r["reduction"], r["principal"]) for r in out] == [
        ("PRODUCT_CAP_APPLIED", 5, True), ("ADVANCE_RATE_APPLIED", 3, True), ("REPAYMENT_CAPACITY_BELOW_MIN", 2, True),
        ("PRICE_VOLATILITY_HAIRCUT", 1, True), ("PARCEL_OVERLAP_CLAIM", 0, False)]
    assert out[-1]["text"] == POLICY.text("PARCEL_OVERLAP_CLAIM")


def test_a_field_without_an_open_alert_is_read_as_in_a_run_without_alerts() -> None:
    """Under decisions_read_alerts (2026.12.10) the store's open CROP_FAILURE alert of one farmer's field excludes
    that field; every other farmer's record — body, input hashes and idempotency key — is the one a run without any
    alert writes (the empty crop_failure_observed cell the alerts column gives their fields is not hashed)."""
    apps, feats, vals, book = _batch_inputs(2)
    alerts = pd.DataFrame({"field_id": ["F1"], "season": ["2025"], "alert": ["CROP_FAILURE"],
                           "date": [pd.Timestamp("2025-07-01")]})
    read = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF, open_alerts=alerts)
    plain = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    assert read[1].body["fields"][0]["exclusion_code"] == "CROP_FAILURE_OBSERVED"  # A1's field, alerted
    assert read[0].idempotency_key == plain[0].idempotency_key
    assert canonical_json(read[0].body) == canonical_json(plain[0].body)


def test_before_2026_12_10_a_crop_failure_column_is_hashed_as_it_comes() -> None:
    """Policies before decisions_read_alerts hash the features as they come: re-underwriting under open_alerts_act
    (2026.12.6 on) passes every field a crop_failure_observed cell, empty where no alert is open, and its records
    replay with that hash — the empty cell is dropped only from 2026.12.10 on."""
    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    plain = run(application(), [feature_row("F1")], [valuation_row("F1")], policy=old)
    cell = run(application(), [feature_row("F1", crop_failure_observed=None)], [valuation_row("F1")], policy=old)
    assert cell.body["input_hashes"]["features"] != plain.body["input_hashes"]["features"]
    new_plain = run(application(), [feature_row("F1")], [valuation_row("F1")])
    new_cell = run(application(), [feature_row("F1", crop_failure_observed=None)], [valuation_row("F1")])
    assert new_cell.body["input_hashes"]["features"] == new_plain.body["input_hashes"]["features"]


def test_with_no_field_valued_the_term_runs_to_the_latest_known_harvest() -> None:
    """When no field is valued the harvest the term and HARVEST_AFTER_MAX_TERM go by is the latest expected harvest
    of the application's fields (the fallback the price stress also uses), not the earliest."""
    late = date(2025, 11, 30)
    feats = [feature_row("F1", n_clear_obs=1), feature_row("F2", n_clear_obs=1, expected_harvest_date=late)]
    it = run(application(), feats, [valuation_row("F1"), valuation_row("F2")])
    assert [f["included"] for f in it.body["fields"]] == [False, False]
    c = it.body["computation"]
    assert c["expected_harvest_date"] == "2025-11-30"
    assert c["term_days"] == (late - AS_OF).days + POLICY.profile(PROFILE).marketing_window_days


def test_a_field_is_priced_in_its_valuations_region_else_its_own() -> None:
    """The price row is the one of the valuation's region where the valuation names one (here the field's own region
    has no price), else of the field's region."""
    feats = [feature_row("F1", region="us-kansas")]
    it = run(application(), feats, [valuation_row("F1")])
    assert it.body["market"][0]["region"] == "us-nebraska" and it.body["fields"][0]["included"]
    no_region = run(application(), [feature_row("F1")], [valuation_row("F1", region=None)])
    assert no_region.body["market"][0]["region"] == "us-nebraska" and no_region.body["fields"][0]["included"]
    # the concentration's crop-region likewise: the valuation's region, else the field's
    assert it.body["computation"]["concentration"]["region"] == "us-nebraska"
    assert no_region.body["computation"]["concentration"]["region"] == "us-nebraska"


def test_the_term_runs_to_the_harvest_of_the_fields_valued_not_an_excluded_ones() -> None:
    """The line is repaid from the fields valued: its term runs to their expected harvest (+ the marketing window),
    not to the later harvest of a field excluded from the value."""
    late = date(2025, 11, 30)
    feats = [feature_row("F1"), feature_row("F2", n_clear_obs=1, expected_harvest_date=late)]
    it = run(application(requested_amount=100_000), feats, [valuation_row("F1"), valuation_row("F2")])
    assert [f["included"] for f in it.body["fields"]] == [True, False]
    c = it.body["computation"]
    assert c["expected_harvest_date"] == HARVEST.isoformat()
    assert c["term_days"] == (HARVEST - AS_OF).days + POLICY.profile(PROFILE).marketing_window_days


def test_concentration_goes_by_the_field_of_the_largest_expected_value() -> None:
    """The concentration cap's crop and region are those of the valued field with the largest expected value (at
    the reference price): maize at $200/t with a volatile price (σ 0.9) over soybean at $190/t with a steady one —
    soybean would be the larger at the stressed price, and the smaller field either way is neither."""
    prices = pd.concat([prices_frame(sigma=0.9), prices_frame(crop="soybean", price=19_000, sigma=0.0)],
                       ignore_index=True)
    feats = [feature_row("F1"), feature_row("F2", declared_crop="soybean", crop_type="soybean"),
             feature_row("F3", declared_crop="soybean", crop_type="soybean")]
    vals = [valuation_row("F1"), valuation_row("F2", crop="soybean", price=19_000),
            valuation_row("F3", crop="soybean", price=19_000, p50=5.0, p10=4.0, p90=6.0)]
    it = run(application(), feats, vals, prices=prices)
    assert [f["included"] for f in it.body["fields"]] == [True, True, True]
    by_id = {f["field_id"]: f for f in it.body["fields"]}
    assert by_id["F1"]["expected_value"] > by_id["F2"]["expected_value"] > by_id["F3"]["expected_value"]
    assert by_id["F1"]["stressed_price_per_t"] < by_id["F2"]["stressed_price_per_t"]
    assert it.body["computation"]["concentration"]["crop"] == "maize"


def test_each_exclusion_code_takes_its_own_fields_value() -> None:
    """With two exclusion codes each waterfall view adds one more group: each code's reduction is the expected value
    of its own excluded field ($100k each), not its own and the next one's."""
    feats = [feature_row("F1"), feature_row("F2", n_clear_obs=1), feature_row("F3", declared_crop_prob=0.05)]
    it = run(application(requested_amount=40_000_000), feats,
             [valuation_row("F1"), valuation_row("F2"), valuation_row("F3")])
    assert [f["exclusion_code"] for f in it.body["fields"]] == [None, "INSUFFICIENT_CLEAR_IMAGERY", "CROP_MISMATCH"]
    red = {r["code"]: r["reduction"] for r in it.body["reasons"]}
    assert red["INSUFFICIENT_CLEAR_IMAGERY"] == red["CROP_MISMATCH"] == 10_000_000


def test_failing_area_share_of_a_smallholding_and_of_no_area() -> None:
    """A clean field of under a hectare (a smallholding) fails nothing: share 0, not referred; an application with
    no field at all is recorded with a failing-area share of 1 (the whole of nothing)."""
    small = run(application(requested_amount=100_000),
                [feature_row("F1", declared_area_ha=0.8, field_area_ha=0.8, planted_area_ha=0.8)],
                [valuation_row("F1", area=0.8)])
    assert small.body["computation"]["failing_area_share"] == 0.0 and small.outcome != "REFER"
    none = run(application(token="nobody"), [feature_row("F1")], [valuation_row("F1")])
    assert none.body["computation"]["failing_area_share"] == 1.0 and none.body["refer_reasons"] == ["NO_FIELDS_FOUND"]


def test_high_yield_uncertainty_is_judged_on_the_fields_valued_after_every_exclusion() -> None:
    """Under exclusions_before_stress (2026.12.7) HIGH_YIELD_UNCERTAINTY is judged on the fields valued, after
    every exclusion group: the valued field's P10 is 20 % under its P50 (not uncertain) while both excluded fields'
    are 50 % under (35 % or 40 % had either of them counted)."""
    feats = [feature_row("F1"), feature_row("F2", n_clear_obs=1), feature_row("F3", declared_crop_prob=0.05)]
    vals = [valuation_row("F1"), valuation_row("F2", p10=5.0), valuation_row("F3", p10=5.0)]
    it = run(application(requested_amount=40_000_000), feats, vals)
    assert [f["included"] for f in it.body["fields"]] == [True, False, False]
    assert "LOW_STRESSED_YIELD" in it.reason_codes and "HIGH_YIELD_UNCERTAINTY" not in it.reason_codes


def test_the_body_records_the_models_p90_and_reads_as_schema_1_without_it() -> None:
    """Body schema /2 (2026-12-06, ninth): each field records the yield model's own P90 beside P10 and P50 (the
    decision reads only P10 and P50); :func:`as_schema` writes the body as a /1 record kept it — the P90 dropped, the
    schema named, nothing else changed — and leaves the body itself alone; an unknown schema is refused."""
    from underwriting.decisions import BODY_SCHEMA, BODY_SCHEMAS, as_schema

    item = run(application(), [feature_row("F1"), feature_row("F2")],
               [valuation_row("F1", p90=12.5), valuation_row("F2", p10=7.0, p50=9.0, p90=11.25)])
    body = item.body
    assert body["schema"] == BODY_SCHEMA == "agcredit.decision-body/2" and BODY_SCHEMAS[-1] == BODY_SCHEMA
    assert [(f["field_id"], f["model_yield_p90_t_ha"]) for f in body["fields"]] == [("F1", 12.5), ("F2", 11.25)]
    same_p90 = run(application(), [feature_row("F1"), feature_row("F2")],
                   [valuation_row("F1", p90=20.0), valuation_row("F2", p10=7.0, p50=9.0, p90=30.0)])
    assert (same_p90.outcome, same_p90.limit, same_p90.reason_codes) == (item.outcome, item.limit, item.reason_codes)
    assert same_p90.body["computation"] == body["computation"]  # the P90 is recorded, not used
    before = canonical_json(body)
    old = as_schema(body, "agcredit.decision-body/1")
    assert canonical_json(body) == before and as_schema(body, BODY_SCHEMA) is body
    assert old["schema"] == "agcredit.decision-body/1"
    assert all("model_yield_p90_t_ha" not in f for f in old["fields"])
    restored = {**old, "schema": BODY_SCHEMA,
                "fields": [{**f, "model_yield_p90_t_ha": g["model_yield_p90_t_ha"]}
                           for f, g in zip(old["fields"], body["fields"], strict=True)]}
    assert canonical_json(restored) == before
    with pytest.raises(ValueError, match="unknown decision body schema"):
        as_schema(body, "agcredit.decision-body/9")
