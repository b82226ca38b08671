"""underwriting.decisions — mutation audit of the sites the earlier audit did not reach (the record's fields, the
JSON helpers, price lookups and checks, pledges, failures read, the batch's inputs): each test pins a behaviour a
surviving mutant changed, with values worked by hand on the hand-built inputs of test_decisions."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from features.errors import ContractError
from models.errors import PriceError
from tests.underwriting.test_decisions import (
    AS_OF,
    POLICY,
    PROFILE,
    _batch_inputs,
    application,
    book_frame,
    feature_row,
    features_frame,
    prices_frame,
    run,
    valuation_row,
    valuations_frame,
)
from underwriting.decisions import batch_pledges, check_prices, decide, decide_batch, pledge_holders, prices_known_on
from underwriting.errors import ApplicationsError
from underwriting.policy import ARCHIVE_DIR, load_policy
from underwriting.records import canonical_json

# --- the price table's contract --------------------------------------------------------------------


@pytest.mark.parametrize("column", ["crop", "sigma_annual", "support_price_per_t", "price_date"])
def test_check_prices_names_a_missing_column(column: str) -> None:
    table = prices_frame().drop(columns=[column])
    with pytest.raises(ContractError, match=column):
        check_prices(table)


@pytest.mark.parametrize("column", ["price_per_t", "support_price_per_t"])
def test_check_prices_refuses_a_price_with_a_fraction_of_a_minor_unit(column: str) -> None:
    table = prices_frame(price=20001, support=15001).astype({column: "float64"})  # odd: not only even numbers
    assert check_prices(table) is table  # whole numbers in a float column: accepted, the table given back
    table.loc[0, column] = 20000.5
    with pytest.raises(ContractError, match="integer minor units"):
        check_prices(table)


# --- provenance and the JSON body --------------------------------------------------------------------


def test_provenance_is_copied_as_plain_json_without_credentials_at_any_depth() -> None:
    """The provenance's values are kept (as plain JSON: a timestamp a date, a numpy number a number, NaN and
    infinity null); a credential-like key is dropped in a nested mapping and in a mapping inside a list."""
    prov = {"source": "sentinel-2", "collection": "l2a", "n_scenes": np.int64(3), "cloud": float("nan"),
            "max_gap": float("inf"), "first": pd.Timestamp("2025-06-01"), "last": datetime(2025, 7, 1, 10, 30),
            "scenes": [{"id": "S1", "api_key": "k-1"}, {"id": "S2", "Access_Token": "t-2"}],
            "auth": {"user": "u"}, "mask": {"rule": "scl", "password": "p"}}
    item = run(application(), [feature_row("F1")], [valuation_row("F1")], provenance=prov)
    assert item.body["provenance"] == {
        "source": "sentinel-2", "collection": "l2a", "n_scenes": 3, "cloud": None, "max_gap": None,
        "first": "2025-06-01", "last": "2025-07-01", "scenes": [{"id": "S1"}, {"id": "S2"}], "mask": {"rule": "scl"}}
    assert type(item.body["provenance"]["n_scenes"]) is int
    text = canonical_json(item.body)
    assert "k-1" not in text and "t-2" not in text and '"p"' not in text


# --- the decision date as text, a timestamp or a date ----------------------------------------------


def test_the_decision_date_may_be_iso_text_a_timestamp_or_a_datetime() -> None:
    app, feats, vals = application(), [feature_row("F1")], [valuation_row("F1")]
    want = canonical_json(run(app, feats, vals).body)
    for as_of in ("2025-07-15", pd.Timestamp("2025-07-15"), datetime(2025, 7, 15, 9, 0)):
        item = decide(app, features_frame(feats), valuations_frame(vals), prices_frame(), book_frame(), POLICY,
                      PROFILE, as_of)
        assert item.as_of == "2025-07-15" and canonical_json(item.body) == want, as_of


# --- the application's required values and the price table, checked by decide --------------------


@pytest.mark.parametrize("key", ["requested_amount", "living_costs", "prior_liens_on_crop"])
def test_decide_names_a_missing_required_value_of_the_application(key: str) -> None:
    with pytest.raises(ApplicationsError, match=key):
        run(application(**{key: None}), [feature_row("F1")], [valuation_row("F1")])


def test_decide_checks_the_price_table() -> None:
    table = prices_frame().astype({"price_per_t": "float64"})
    table.loc[0, "price_per_t"] = 20000.5
    with pytest.raises(ContractError, match="integer minor units"):
        run(application(), [feature_row("F1")], [valuation_row("F1")], prices=table)


# --- price lookup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", [None, ""])
def test_a_price_without_a_region_prices_the_crop_in_every_region(blank: str | None) -> None:
    """A row of the table with no region (a national price) prices a field of any region that has no row of its own;
    a region's own row wins over it."""
    national = prices_frame(price=18000)
    national["region"] = pd.Series([blank], dtype="object")
    item = run(application(), [feature_row("F1")], [valuation_row("F1")], prices=national)
    assert item.body["fields"][0]["price_per_t"] == 18000
    assert item.body["computation"]["expected_value"] == 50 * 10 * 18000
    both = pd.concat([national, prices_frame(price=20000)], ignore_index=True)
    assert run(application(), [feature_row("F1")], [valuation_row("F1")],
               prices=both).body["fields"][0]["price_per_t"] == 20000


def test_prices_of_a_float_column_are_whole_minor_units_in_the_record() -> None:
    """A price table read with float columns (whole numbers, as check_prices accepts) prices in integer minor
    units: the market block, the field's prices and the values are ints, as with an integer table."""
    ints = run(application(), [feature_row("F1")], [valuation_row("F1")], prices=prices_frame(support=17000))
    floats = prices_frame(support=17000).astype({"price_per_t": "float64", "support_price_per_t": "float64"})
    item = run(application(), [feature_row("F1")], [valuation_row("F1")], prices=floats)
    market = item.body["market"][0]
    assert type(market["price_per_t"]) is int and type(market["support_price_per_t"]) is int
    assert market["support_price_per_t"] == 17000
    assert type(item.body["fields"][0]["stressed_price_per_t"]) is int
    assert canonical_json(item.body) == canonical_json(ints.body)


# --- every input checked against its contract, by decide and by decide_batch ------------------------


def _bad_inputs(which: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """The batch inputs of test_decisions with one contract broken (the column the error names)."""
    apps, feats, vals, book = _batch_inputs(2)
    prices = prices_frame()
    if which == "applications":
        apps.loc[0, "existing_debt"] = -1
        return apps, feats, vals, book, prices, "existing_debt"
    if which == "features":
        feats.loc[0, "crop_type_prob"] = 1.5
        return apps, feats, vals, book, prices, "crop_type_prob"
    if which == "valuations":
        vals.loc[0, "yield_p10_t_ha"] = 11.0  # above its P50 of 10
        return apps, feats, vals, book, prices, "yield_p10_t_ha"
    if which == "book":
        book = book_frame([dict(line_id="L1", application_id="OLD1", farmer_token="tok-9", currency="USD",
                                limit=1000, drawn=0, outstanding=0, start_date="2025-06-01",
                                maturity_date="2025-05-01", crop="soybean", region="us-nebraska")])
        return apps, feats, vals, book, prices, "maturity_date"
    prices = prices.astype({"price_per_t": "float64"})
    prices.loc[0, "price_per_t"] = 20000.5
    return apps, feats, vals, book, prices, "price_per_t"


@pytest.mark.parametrize("which", ["applications", "features", "valuations", "book", "prices"])
def test_decide_batch_checks_every_input_against_its_contract(which: str) -> None:
    apps, feats, vals, book, prices, column = _bad_inputs(which)
    with pytest.raises(ContractError, match=column):
        decide_batch(apps, feats, vals, prices, book, POLICY, PROFILE, AS_OF)


@pytest.mark.parametrize("which", ["features", "valuations"])
def test_decide_checks_the_fields_of_the_application_against_their_contracts(which: str) -> None:
    apps, feats, vals, book, prices, column = _bad_inputs(which)
    app = apps.iloc[0]  # its field is the first row of features and valuations
    assert feats.loc[0, "farmer_token"] == app["farmer_token"]
    with pytest.raises(ContractError, match=column):
        decide(app, feats, vals, prices, book, POLICY, PROFILE, AS_OF)


# --- the record: contract price, pledges and alerts ---------------------------------------------------


def test_the_market_block_names_a_firm_contract_price_only_when_there_is_one() -> None:
    feats, vals = [feature_row("F1")], [valuation_row("F1")]
    item = run(application(contract_crop="maize", contract_price_per_t=25000), feats, vals)
    assert item.body["market"][1:] == [{"crop": "maize", "contract_price_per_t": 25000,
                                        "source": "firm forward contract"}]
    assert item.body["fields"][0]["price_per_t"] == 25000
    for over in ({"contract_crop": "maize", "contract_price_per_t": None},
                 {"contract_crop": None, "contract_price_per_t": 25000}):
        item = run(application(**over), feats, vals)
        assert [m["source"] for m in item.body["market"]] == ["test table"], over
        assert item.body["fields"][0]["price_per_t"] == 20000


def test_the_holders_of_a_second_pledge_are_part_of_its_input_hashes_and_key() -> None:
    feats, vals = [feature_row("F1")], [valuation_row("F1")]
    plain = run(application(), feats, vals)
    assert "pledges" not in plain.body["input_hashes"]
    first, second = (run(application(), feats, vals, pledged_to=[h]) for h in ("A0", "A9"))
    assert first.outcome == second.outcome == "REFER"
    assert first.body["input_hashes"]["pledges"] != second.body["input_hashes"]["pledges"]
    assert first.body["input_hashes"]["snapshot"] != second.body["input_hashes"]["snapshot"]
    assert first.idempotency_key != second.idempotency_key


def _alert(season: str) -> pd.DataFrame:
    return pd.DataFrame({"field_id": ["F1"], "season": [season], "alert": ["CROP_FAILURE"],
                         "date": [pd.Timestamp("2025-07-01")]})


def test_an_alerted_fields_record_names_the_day_its_failure_was_observed() -> None:
    apps, feats, vals, book = _batch_inputs(2)
    read = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF, open_alerts=_alert("2025"))
    assert read[1].body["fields"][0]["crop_failure_observed"] == "2025-07-01"
    assert "crop_failure_observed" not in read[0].body["fields"][0]


def test_an_alert_of_another_season_does_not_exclude_the_field_of_this_one() -> None:
    apps, feats, vals, book = _batch_inputs(2)
    plain = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF)
    other = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF, open_alerts=_alert("2024"))
    assert [canonical_json(i.body) for i in other] == [canonical_json(i.body) for i in plain]


# --- the prices known on the decision day -------------------------------------------------------------


def _table(*rows: tuple[str, str, int]) -> pd.DataFrame:
    """A maize price table of us-nebraska: (season, price date, price) per row."""
    out = pd.concat([prices_frame(price=p) for _, _, p in rows], ignore_index=True)
    out["season"] = [s for s, _, _ in rows]
    out["price_date"] = [d for _, d, _ in rows]
    out["source"] = [f"table {s} {d}" for s, d, _ in rows]
    return out


def test_a_price_dated_on_the_decision_day_is_known_on_it() -> None:
    table = _table(("2024", "2025-06-30", 18000), ("2025", "2025-07-15", 20000))
    known, warned = prices_known_on(table, "2025", AS_OF)
    assert warned == [] and known.equals(table)


def test_the_latest_earlier_price_replaces_a_later_one_even_one_dated_on_the_decision_day() -> None:
    table = _table(("2025", "2026-08-31", 20000), ("2024", "2025-07-15", 18000), ("2024", "2025-03-01", 17000),
                   ("2023", "2024-12-31", 16000))
    known, warned = prices_known_on(table, "2025", AS_OF)
    assert warned == []
    assert known.loc[0, "price_per_t"] == 18000 and known.loc[0, "price_date"] == "2025-07-15"
    assert known.loc[0, "source"] == ("the latest price known on 2025-07-15: maize us-nebraska season 2024 "
                                      "(table 2024 2025-07-15)")
    assert known.loc[1:].equals(table.loc[1:])


def test_a_later_price_without_an_earlier_one_is_used_and_named_in_the_warnings() -> None:
    table = _table(("2025", "2026-08-31", 20000))
    known, warned = prices_known_on(table, "2025", AS_OF)
    assert known.equals(table)
    assert warned == ["the maize price of us-nebraska 2025 is dated 2026-08-31, after the decision (2025-07-15), "
                      "and no earlier price is known: used as it is (hindsight)"]


def test_the_latest_of_a_seasons_prices_dated_before_the_decision_is_used() -> None:
    table = _table(("2025", "2025-07-01", 20000), ("2025", "2025-06-01", 19000))
    for t in (table, table.iloc[::-1].reset_index(drop=True)):
        item = run(application(), [feature_row("F1")], [valuation_row("F1")], prices=t)
        assert item.body["fields"][0]["price_per_t"] == 20000
        assert item.body["market"][0]["price_date"] == "2025-07-01"


# --- the store's pledge holders --------------------------------------------------------------------


def test_pledge_holders_of_no_records_and_the_current_record_by_seq_not_row_order() -> None:
    assert pledge_holders(None, "2025") == {}  # type: ignore[arg-type]
    assert pledge_holders(pd.DataFrame(), "2025") == {}
    rows = [(2, "A0", ["FIELDS_ALREADY_PLEDGED"]), (1, "A0", []), (3, "A1", [])]
    recs = pd.DataFrame([{"seq": q, "application_id": a, "farmer_token": "tok-1", "season": "2025",
                          "body": json.dumps({"refer_reasons": r})} for q, a, r in rows])
    # A0's current record (seq 2, listed first) was referred for a pledge: A1 holds the fields
    assert pledge_holders(recs, "2025") == {("tok-1", "2025"): ["A1"]}


def test_batch_pledges_of_no_applications() -> None:
    assert batch_pledges(pd.DataFrame(), {("tok-1", "2025"): ["A1"]}) == {}


def test_another_regions_price_never_prices_a_field() -> None:
    """A field of a region with no row of its own, and no row without a region, has no price (an error for a valued
    field), whatever other regions' rows the table has; a field without a region takes only a row without one."""
    iowa = [feature_row("F1", region="us-iowa")], [valuation_row("F1", region="us-iowa")]
    with pytest.raises(PriceError, match="no price for a valued field's crop"):
        run(application(), *iowa)
    national = prices_frame(price=18000)
    national["region"] = pd.Series([None], dtype="object")
    both = pd.concat([prices_frame(price=20000), national], ignore_index=True)
    assert run(application(), *iowa, prices=both).body["fields"][0]["price_per_t"] == 18000
    nowhere = [feature_row("F1", region=None)], [valuation_row("F1", region=None)]
    assert run(application(), *nowhere, prices=both).body["fields"][0]["price_per_t"] == 18000
    with pytest.raises(PriceError, match="no price for a valued field's crop"):
        run(application(), *nowhere)


def test_the_failing_area_share_is_recorded_to_six_decimals() -> None:
    feats = [feature_row("F1"), feature_row("F2", declared_area_ha=100.0, planted_area_ha=100.0, field_area_ha=101.0,
                                            overlap_fraction=0.3)]
    vals = [valuation_row("F1"), valuation_row("F2", area=100.0)]
    item = run(application(), feats, vals)
    assert item.body["computation"]["failing_area_share"] == 0.666667


def test_alerts_without_a_season_column_exclude_the_field_of_any_season() -> None:
    apps, feats, vals, book = _batch_inputs(2)
    read = decide_batch(apps, feats, vals, prices_frame(), book, POLICY, PROFILE, AS_OF,
                        open_alerts=_alert("2025").drop(columns=["season"]))
    assert read[1].body["fields"][0]["exclusion_code"] == "CROP_FAILURE_OBSERVED"
    assert read[0].body["fields"][0]["included"] is True


def test_before_2026_12_10_a_new_decision_does_not_read_the_stores_alerts() -> None:
    """open_alerts_act (2026.12.6 on) without decisions_read_alerts: only re-underwriting acts on the alerts; a new
    decision's batch is decided as without them."""
    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    prof = old.profile(PROFILE)
    assert prof.open_alerts_act and not prof.decisions_read_alerts
    apps, feats, vals, book = _batch_inputs(2)
    plain = decide_batch(apps, feats, vals, prices_frame(), book, old, PROFILE, AS_OF)
    read = decide_batch(apps, feats, vals, prices_frame(), book, old, PROFILE, AS_OF, open_alerts=_alert("2025"))
    assert [canonical_json(i.body) for i in read] == [canonical_json(i.body) for i in plain]


def test_a_current_record_whose_body_is_not_json_still_holds_the_fields() -> None:
    recs = pd.DataFrame([{"seq": 1, "application_id": "A0", "farmer_token": "tok-1", "season": "2025",
                          "body": "{not json"}])
    assert pledge_holders(recs, "2025") == {("tok-1", "2025"): ["A0"]}


def test_reasons_of_equal_reductions_keep_the_waterfalls_order_not_the_alphabets() -> None:
    from underwriting.decisions import _reasons

    steps = [("CROP_VALUE_BELOW_REQUEST", 0), ("PRICE_VOLATILITY_HAIRCUT", 2), ("LOW_STRESSED_YIELD", 1),
             ("ADVANCE_RATE_APPLIED", 2), ("PRODUCT_CAP_APPLIED", 1)]
    out = _reasons(steps, [], [], POLICY)
    assert [(r["code"], r["reduction"]) for r in out] == [
        ("PRICE_VOLATILITY_HAIRCUT", 2), ("ADVANCE_RATE_APPLIED", 2), ("LOW_STRESSED_YIELD", 1),
        ("PRODUCT_CAP_APPLIED", 1)]
