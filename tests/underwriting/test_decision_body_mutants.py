"""underwriting._decision_body — mutation audit: each test pins a behaviour a surviving mutant changed (the order of a
decision's reasons, the application's and fields' keys the record keeps), on hand-built inputs."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

from tests.underwriting.test_decisions import application, feature_row, run, valuation_row
from underwriting._decision_body import _reasons
from underwriting.policy import default_policy


def _field(code: str | None = None, *, area_not_verified: bool = False) -> Any:
    """What :func:`_reasons` reads of a field's result."""
    return SimpleNamespace(codes=(code,) if code else (), area_not_verified=area_not_verified, included=True,
                           basis="in_season")


def test_reasons_are_largest_reduction_first_then_waterfall_order_with_codes_outside_it_first() -> None:
    """Largest reduction first; on a tie (here none) the waterfall's order, a code the waterfall did not charge (a
    refer reason, a field's code) before every code it charged nothing; the first four principal."""
    policy = default_policy()
    steps = [("AREA_NOT_VERIFIED", 0), ("CROP_MISMATCH", 500), ("PRICE_VOLATILITY_HAIRCUT", 0),
             ("LOW_STRESSED_YIELD", 1000), ("ROUNDED_TO_STEP", 7), ("CROP_MISMATCH", 100)]
    got = _reasons(steps, [_field(area_not_verified=True), _field("PRICE_VOLATILITY_HAIRCUT")],
                   ["NO_FIELDS_FOUND", "FAILING_AREA_SHARE"], policy)  # FAILING_AREA_SHARE has no reason text
    assert [(r["code"], r["reduction"], r["principal"]) for r in got] == [
        ("LOW_STRESSED_YIELD", 1000, True), ("CROP_MISMATCH", 600, True), ("ROUNDED_TO_STEP", 7, True),
        ("NO_FIELDS_FOUND", 0, True), ("AREA_NOT_VERIFIED", 0, False), ("PRICE_VOLATILITY_HAIRCUT", 0, False)]
    assert got[0]["text"] == policy.text("LOW_STRESSED_YIELD")


def test_the_record_keeps_the_applications_terms_and_each_fields_evidence_by_name() -> None:
    """The body's application block is the application's own values of the decision's keys (a forward contract, the
    line's latest maturity, ...; nothing else the row carries), and each field's entry names the features the
    decision read (the planted area as ``validated_area_ha``)."""
    app = application(existing_debt=5, contract_crop="maize", contract_price_per_t=25000, insurance_guarantee=7,
                      latest_maturity_date=date(2026, 1, 31), branch="north")
    item = run(app, [feature_row("F1", crop_season_scale=1.25)], [valuation_row("F1")])
    assert item.body["application"] == {
        "application_id": "A1", "farmer_token": "tok-a", "season": "2025", "currency": "USD",
        "requested_amount": 3_000_000, "requested_term_days": 120, "existing_debt": 5, "debt_due_this_cycle": 0,
        "other_income": 0, "living_costs": 0, "unfinanced_costs": 0, "prior_liens_on_crop": 0,
        "contract_crop": "maize", "contract_price_per_t": 25000, "insurance_guarantee": 7,
        "latest_maturity_date": "2026-01-31"}
    entry = item.body["fields"][0]
    assert {k: entry[k] for k in (
        "field_id", "geometry_hash", "region", "declared_crop", "declared_area_ha", "field_area_ha",
        "validated_area_ha", "overlap_fraction", "noncrop_fraction", "n_clear_obs", "n_clear_pixels", "crop_type",
        "crop_type_prob", "declared_crop_prob", "crop_season_scale", "growth_stage", "emergence_date",
        "expected_harvest_date")} == {
        "field_id": "F1", "geometry_hash": "hash-F1", "region": "us-nebraska", "declared_crop": "maize",
        "declared_area_ha": 50.0, "field_area_ha": 52.0, "validated_area_ha": 50.0, "overlap_fraction": 0.0,
        "noncrop_fraction": 0.02, "n_clear_obs": 8, "n_clear_pixels": 400, "crop_type": "maize",
        "crop_type_prob": 0.95, "declared_crop_prob": 0.95, "crop_season_scale": 1.25, "growth_stage": "vegetative",
        "emergence_date": "2025-05-10", "expected_harvest_date": "2025-10-15"}
    assert "" not in entry and "planted_area_ha" not in entry
