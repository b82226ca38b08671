"""underwriting.decisions._underwrite — mutation audit of the per-application decision (the checks on its inputs,
the failing area, the refer rules, the concentration): each test pins a behaviour a surviving mutant changed, with
values worked by hand on the hand-built inputs of test_decisions."""

from __future__ import annotations

import pytest

from features.errors import ContractError
from tests.underwriting.test_decisions import AS_OF, application, feature_row, prices_frame, run, valuation_row


def test_a_valuation_dated_after_the_decision_names_the_valuations_table() -> None:
    later = AS_OF.replace(day=AS_OF.day + 1)
    with pytest.raises(ContractError, match="^FieldValuations: column 'as_of'") as err:
        run(application(), [feature_row("F1"), feature_row("F2")],
            [valuation_row("F1"), valuation_row("F2", as_of=later)])
    assert (err.value.table, err.value.offenders) == ("FieldValuations", ["F2"])
    with pytest.raises(ContractError, match="^FieldFeatures: column 'as_of'") as err:
        run(application(), [feature_row("F1", as_of=later)], [valuation_row("F1")])
    assert err.value.offenders == ["F1"]


def test_the_failing_area_of_a_field_without_a_declared_area_is_its_polygons() -> None:
    """A field whose farmer declared no area counts with its polygon's area on both sides of the failing share; a
    field with neither (a polygon of no area) counts nothing."""
    good = feature_row("F1", declared_area_ha=None, field_area_ha=30.0)
    failing = feature_row("F2", declared_area_ha=None, field_area_ha=10.0, n_clear_obs=2)  # too few clear views
    item = run(application(), [good, failing], [valuation_row("F1", area=30.0), valuation_row("F2", area=10.0)])
    assert item.body["fields"][1]["included"] is False
    assert item.body["computation"]["failing_area_share"] == 0.25  # 10 of 30 + 10 ha
    empty = feature_row("F3", declared_area_ha=None, field_area_ha=0.0)
    item = run(application(), [feature_row("F1"), empty], [valuation_row("F1")])
    assert item.body["fields"][1]["included"] is False
    assert item.body["computation"]["failing_area_share"] == 0.0  # 0 of 50 + 0 ha


def test_the_failing_share_is_compared_with_the_policys_at_a_billionth() -> None:
    """A share a float's width over the 25 % threshold is at it (not referred); 1e-9 over is over (referred)."""
    def refer_reasons(failing_ha: float) -> list[str]:
        feats = [feature_row("F1", declared_area_ha=3.0), feature_row("F2", declared_area_ha=failing_ha, n_clear_obs=2)]
        item = run(application(), feats, [valuation_row("F1"), valuation_row("F2")])
        assert item.body["fields"][1]["included"] is False
        return list(item.body["refer_reasons"])

    assert refer_reasons(1.0000000008) == []  # 1.0000000008 of 4.0000000008 ha: 0.25 + 1.5e-10
    assert refer_reasons(1.00000001) == ["FAILING_AREA_SHARE"]  # 0.25 + 1.9e-9


def test_the_other_applications_pledging_the_fields_are_listed_once_in_order_without_this_one() -> None:
    feats, vals = [feature_row("F1")], [valuation_row("F1")]
    item = run(application("A2"), feats, vals, pledged_to=["A3", "A1", "A2", "A3"])
    assert item.outcome == "REFER" and item.body["refer_reasons"] == ["FIELDS_ALREADY_PLEDGED"]
    assert item.body["computation"]["fields_pledged_to"] == ["A1", "A3"]
    alone = run(application("A2"), feats, vals, pledged_to=["A2"])  # only itself: no double pledge
    assert alone.body["refer_reasons"] == [] and "fields_pledged_to" not in alone.body["computation"]


def test_a_crop_worth_one_minor_unit_at_the_stressed_price_is_judged_for_yield_uncertainty() -> None:
    """The uncertainty judged on any value at the stressed price above zero: 1 ha of P50 1 t at a stressed $0.01/t
    (P10 nothing) is all uncertainty — its last minor unit goes to HIGH_YIELD_UNCERTAINTY, not LOW_STRESSED_YIELD."""
    feats = [feature_row("F1", declared_area_ha=1.0, field_area_ha=1.0, planted_area_ha=1.0)]
    item = run(application(), feats, [valuation_row("F1", area=1.0, p10=0.0, p50=1.0, price=2)],
               prices=prices_frame(price=2))
    c = item.body["computation"]
    assert (c["value_at_stressed_price"], c["stressed_value"]) == (1, 0)
    assert [(r["code"], r["reduction"]) for r in item.body["reasons"] if r["code"].endswith("YIELD_UNCERTAINTY")
            or r["code"] == "LOW_STRESSED_YIELD"] == [("HIGH_YIELD_UNCERTAINTY", 1)]
