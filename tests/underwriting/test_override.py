"""Analyst overrides: a linked new record, the policy's second-approver share (20% by default), exact money parsing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.errors import MoneyError
from underwriting.override import OverrideError, OverrideResult, override, override_outcome, record_override
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore, record_id_for


def decision(app: str, limit: int, *, as_of: str = "2025-05-01", currency: str = "USD", key: str | None = None,
             requested: int = 1_000_000) -> DecisionItem:
    body = {"application": {"application_id": app, "requested_amount": requested},
            "computation": {"requested_amount": requested, "limit": limit}, "limit": limit, "outcome": "REDUCE",
            "reasons": [{"code": "LOW_STRESSED_YIELD"}]}
    return DecisionItem(idempotency_key=key or f"{app}-{as_of}", application_id=app, farmer_token="tokA",
                        season="2025", as_of=as_of, outcome="REDUCE", limit=limit, currency=currency,
                        reason_codes=("LOW_STRESSED_YIELD",), body=body)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DecisionStore]:
    with DecisionStore(f"sqlite:///{tmp_path / 'd.db'}") as s:
        s.append([decision("A1", 500_000), decision("J1", 100_000, currency="JPY")], operator="batch")
        yield s


def test_small_override_links_to_the_original(store: DecisionStore) -> None:
    original = store.latest("A1")
    assert original is not None
    rec = override(store, "A1", "5,500.00", "field visit confirms area", "ana")
    assert (rec.kind, rec.supersedes, rec.limit, rec.outcome, rec.operator) == (
        "override", original.record_id, 550_000, "REDUCE", "ana")
    body = rec.body
    assert body["override"] == {
        "original_record_id": original.record_id, "original_limit": 500_000, "original_outcome": "REDUCE",
        "limit": 550_000, "outcome": "REDUCE", "change_share": "0.1000", "reason": "field visit confirms area",
        "operator": "ana", "approver": None, "as_of": "2025-05-01"}
    assert body["limit"] == 550_000 and body["computation"] == original.body["computation"]
    assert [r.kind for r in store.history("A1")] == ["decision", "override"]
    assert store.latest("A1") == rec
    assert store.verify().ok


def test_exactly_twenty_percent_needs_no_approver(store: DecisionStore) -> None:
    assert override(store, "A1", 4000, "price update", "ana").limit == 400_000


def test_large_change_needs_a_second_person(store: DecisionStore) -> None:
    with pytest.raises(OverrideError, match=r"USD 5,000.00 to USD 6,000.01 \(20.0002%\) is more than 20% \(the record's policy\) and needs "
                                            r"--approver"):
        override(store, "A1", "6000.01", "bigger farm", "ana")
    with pytest.raises(OverrideError, match="approver must be a second person, not the operator 'ana'"):
        override(store, "A1", "8000", "bigger farm", "ana", approver="ana")
    assert store.count() == 2
    rec = override(store, "A1", "10000", "bigger farm", "ana", approver="bob")
    assert (rec.limit, rec.outcome, rec.body["override"]["approver"], rec.operator) == (1_000_000, "APPROVE", "bob",
                                                                                      "ana")


def test_the_records_policy_sets_the_approval_share(store: DecisionStore) -> None:
    """The share comes from the overridden record's policy parameters: 10% there → a 15% change needs an approver;
    records without the parameter (policies written before it) are held to 20%."""
    item = decision("P1", 500_000, key="P1-strict")
    body = dict(item.body)
    body["policy"] = {"id": "bank", "version": "7", "parameters": {"override_approval_share": 0.1}}
    store.append([dataclasses.replace(item, body=body)], operator="batch")
    with pytest.raises(OverrideError, match=r"\(15%\) is more than 10% \(the record's policy\) and needs --approver"):
        override(store, "P1", "5750", "field visit", "ana")
    assert override(store, "P1", "5500", "field visit", "ana").limit == 550_000  # exactly 10%
    assert override(store, "A1", "5750", "field visit", "ana").limit == 575_000  # no parameter: 20%


def test_decline_by_override_and_outcomes(store: DecisionStore) -> None:
    rec = override(store, "A1", "0", "fraud suspected", "ana", approver="bob")
    assert (rec.limit, rec.outcome) == (0, "DECLINE")
    assert override_outcome(5, {}) == "REDUCE"
    assert override_outcome(5, {"application": {"requested_amount": 5}}) == "APPROVE"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"limit": "5000", "reason": "  "}, OverrideError, "reason must not be empty"),
    ({"limit": "5000", "reason": "x", "operator": ""}, OverrideError, "an operator is required"),
    ({"limit": "5000.001", "reason": "x"}, MoneyError, "at most 2 decimals for USD"),
    ({"limit": "five", "reason": "x"}, MoneyError, "expected a number"),
    ({"limit": "-1", "reason": "x"}, OverrideError, "must not be negative"),
    ({"application_id": "A9", "limit": "1", "reason": "x"}, OverrideError,
     r"the application given: no stored decision .*matches none of the 2 application ids of the data"),
    ({"application_id": "NOPE", "limit": "1", "reason": "x"}, OverrideError,
     r"the application given: no stored decision .*\(shaped like A9\)"),
    ({"limit": "5000", "reason": "x", "as_of": "2025-13-01"}, ValueError, "expected an ISO date"),
])
def test_bad_overrides_write_nothing(store: DecisionStore, kwargs: dict[str, str], error: type[Exception],
                                     message: str) -> None:
    args = {"application_id": "A1", "operator": "ana", **kwargs}
    with pytest.raises(error, match=message):
        override(store, **args)  # type: ignore[arg-type]
    assert store.count() == 2


def test_limit_is_parsed_in_the_record_currency(store: DecisionStore) -> None:
    assert override(store, "J1", "110000", "x", "ana").limit == 110_000
    with pytest.raises(MoneyError, match="at most 0 decimals for JPY"):
        override(store, "J1", "110000.5", "x", "ana")


def test_as_of_is_the_override_date_and_never_forks_the_chain(store: DecisionStore) -> None:
    first = store.latest("A1")
    assert first is not None  # a re-underwriting as of 1 July, linked to the first record (a chain never forks)
    later = dataclasses.replace(decision("A1", 300_000, as_of="2025-07-01"), kind="reunderwrite",
                                supersedes=first.record_id)
    store.append([later], operator="batch")
    with pytest.raises(OverrideError, match=r"application A1: the current record \(\w+\) is as of 2025-07-01, after "
                                            r"2025-06-01: an override replaces the current record; drop --as-of or "
                                            r"give 2025-07-01 or later"):
        override(store, "A1", "5100", "x", "ana", as_of="2025-06-01")
    assert store.count() == 3
    dated = override(store, "A1", "3100", "x", "ana", as_of="2025-07-15")
    assert dated.supersedes == record_id_for("A1-2025-07-01") and dated.as_of == "2025-07-15"
    assert override(store, "A1", "3000", "y", "ana").supersedes == dated.record_id


def test_the_same_override_again_records_nothing(store: DecisionStore) -> None:
    first = override(store, "A1", "5500", "field visit confirms area", "ana")
    assert override(store, "A1", "5500", "field visit confirms area", "ana") == first
    assert store.count() == 3
    other = override(store, "A1", "5500", "second visit", "ana")  # a different reason is a new decision
    assert other.supersedes == first.record_id and store.count() == 4 and store.verify().ok


def test_record_override_says_whether_it_wrote(store: DecisionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library could not tell a caller that a repeated override wrote nothing (override() returns the record an
    earlier call wrote; only the CLI said "already recorded"). record_override() says it; override() is unchanged."""
    done = record_override(store, "A1", "5500", "field visit confirms area", "ana")
    assert isinstance(done, OverrideResult) and done.written and store.count() == 3
    again = record_override(store, "A1", "5500", "field visit confirms area", "ana")
    assert not again.written and again.record == done.record and store.count() == 3
    assert override(store, "A1", "5500", "field visit confirms area", "ana") == done.record
    # another run stored the same override after this one read the store: appended nothing, said so
    stale = store.get(done.record.supersedes or "")
    assert stale is not None
    monkeypatch.setattr(DecisionStore, "latest", lambda self, application_id, as_of=None: stale)
    raced = record_override(store, "A1", "5500", "field visit confirms area", "ana")
    assert not raced.written and raced.record == done.record and store.count() == 3
    monkeypatch.undo()
    new = record_override(store, "A1", "5400", "second visit", "ana")
    assert new.written and new.record.supersedes == done.record.record_id and store.count() == 4


def test_no_override_above_the_request_and_no_personal_data_as_operator(store: DecisionStore) -> None:
    with pytest.raises(OverrideError, match=r"the limit USD 10,000.01 is above the amount requested \(USD 10,000.00\)"):
        override(store, "A1", "10000.01", "bigger farm", "ana", approver="bob")
    for operator, approver in (("0000 0271 8677", None), ("ana", "+91-00000-18677"), ("ana", "x@y.com")):
        with pytest.raises(OverrideError, match="(operator|approver) contains (a phone or ID number|an e-mail address)"):
            override(store, "A1", "5100", "visit", operator, approver=approver)
    from underwriting.errors import StoreError

    with pytest.raises(StoreError, match=r"the operator holds a phone or ID number; give the operator's staff ID"):
        store.append([decision("A7", 100)], operator="+91 98765 43210")
    assert store.count() == 2


def test_override_by_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    with DecisionStore(url) as s:
        s.append([decision("A9", 1000)], operator="batch")
    rec = override(url, "A9", "10.50", "rounding", "ana")
    assert rec.limit == 1050


def test_the_approver_is_another_person_whatever_the_case(store: DecisionStore) -> None:
    """An approver differing from the operator only by case or spacing is the same person (a 50% change passed)."""
    for approver in ("ANA", " ana ", "Ana"):
        with pytest.raises(OverrideError, match="approver must be a second person"):
            override(store, "A1", "2500", "crop loss seen", "ana", approver=approver)
    assert store.count() == 2


def test_small_unapproved_overrides_do_not_add_up(store: DecisionStore) -> None:
    """The share is measured from the last limit nobody changed alone (the decision, or an approved override): three
    unapproved steps of ≤ 20% each took 5,000 to 3,000 (-40%) without a second person."""
    assert override(store, "A1", "4500", "visit 1", "ana").limit == 450_000  # -10% of 5,000
    assert override(store, "A1", "4000", "visit 2", "ana").limit == 400_000  # -20% of 5,000: still allowed
    with pytest.raises(OverrideError, match=r"from USD 5,000.00 \(the last limit set without unapproved overrides, "
                                            r"record .*\) to USD 3,600.00 \(28%\) is more than 20%"):
        override(store, "A1", "3600", "visit 3", "ana")  # -10% of the current 4,000, -28% of the decision's
    approved = override(store, "A1", "3000", "visit 3", "ana", approver="bob")
    assert override(store, "A1", "2500", "visit 4", "ana").limit == 250_000  # -16.7% of the approved 3,000
    with pytest.raises(OverrideError, match=r"from USD 3,000.00 .*record " + approved.record_id):
        override(store, "A1", "2300", "visit 5", "ana")


def test_an_override_is_not_dated_in_the_future(store: DecisionStore) -> None:
    from datetime import date, timedelta

    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    with pytest.raises(OverrideError, match=rf"--as-of {tomorrow} is after today"):
        override(store, "A1", "0", "hold", "ana", approver="bob", as_of=tomorrow)
    assert store.count() == 2


def test_review_findings_on_overrides(store: DecisionStore) -> None:
    """A compact date ('20991231') slipped past the future check and was stored as non-ISO text (the store orders by
    it); an approver with a zero-width space or full-width letters passed for a second person; an unapproved
    override could move 50% away from the current limit while staying within 20% of the decision's."""
    from datetime import datetime

    for bad in ("20991231", "2099-W01-1", "2025-5-1"):
        with pytest.raises(OverrideError, match=rf"--as-of '{bad}': expected an ISO date YYYY-MM-DD"):
            override(store, "A1", "4500", "visit", "ana", as_of=bad)
    for approver in ("an\u200ba", "\uff41\uff4e\uff41"):
        with pytest.raises(OverrideError, match="approver must be a second person"):
            override(store, "A1", "2500", "crop loss seen", "ana", approver=approver)
    rec = override(store, "A1", "4000", "visit", "ana", as_of=datetime(2025, 5, 2, 9, 30))
    assert rec.as_of == "2025-05-02"
    with pytest.raises(OverrideError, match=r"from USD 4,000.00 to USD 4,900.00 \(22.5%\) is more than 20%"):
        override(store, "A1", "4900", "visit", "ana", as_of="2025-05-02")  # within 20% of 5,000, not of 4,000


def test_an_override_below_the_minimum_line_is_refused(tmp_path: Path) -> None:
    """An override gave REDUCE at any positive limit — USD 0.01 included — where the policy's own rule makes a line
    below the minimum a DECLINE (CREDIT_POLICY.md step 8); refused, naming the minimum (0 still declines)."""
    item = decision("M1", 600_000)
    item.body["computation"]["min_line"] = 500_000
    with DecisionStore(f"sqlite:///{tmp_path / 'm.db'}") as st:
        st.append([item], operator="batch")
        with pytest.raises(OverrideError, match=r"below the policy's minimum line \(USD 5,000.00\): give at least "
                                                r"that, or 0 to decline"):
            override(st, "M1", "4999.99", "small farm", "ana")
        assert [r.kind for r in st.history("M1")] == ["decision"]
        assert override(st, "M1", "5000", "small farm", "ana").limit == 500_000


def _kept(prev: DecisionItem | None, app: str, *, stands: bool, as_of: str = "2025-07-20",
          book_limit: int = 700_000, refer_keeps_book_limit: bool = False, line_id: str | None = None) -> DecisionItem:
    """A re-underwriting that re-estimated nothing (REFER, indicative 0; the line kept) superseding ``prev``; its
    policy with ``refer_keeps_book_limit`` (2026.12.8) when asked, its block naming ``line_id`` when given."""
    params = {"keep_unvalued_lines": True, **({"kept_lines_stand": True} if stands else {}),
              **({"refer_keeps_book_limit": True} if refer_keeps_book_limit else {})}
    body = {"application": {"application_id": app, "requested_amount": 1_000_000},
            "computation": {"requested_amount": 1_000_000, "limit": 0}, "limit": 0, "outcome": "REFER",
            "policy": {"parameters": params}, "reasons": [],
            "reunderwrite": {"not_reestimated": ["OUT_OF_MODEL_SCOPE"], "book_limit": book_limit,
                             **({"line_id": line_id} if line_id is not None else {})}}
    return DecisionItem(idempotency_key=f"{app}-kept-{as_of}", application_id=app, farmer_token="tokA", season="2025",
                        as_of=as_of, outcome="REFER", limit=0, currency="USD", reason_codes=("OUT_OF_MODEL_SCOPE",),
                        body=body, kind="reunderwrite",
                        supersedes=record_id_for(prev.idempotency_key) if prev is not None else None)


def test_an_override_of_a_kept_line_is_measured_from_the_decision_it_stands_on(store: DecisionStore) -> None:
    """A re-underwriting that could not re-estimate the line (its REFER's 0 indicative) was the base of the
    override's change: one analyst could cut a line standing at USD 5,000 to 0 alone, and confirming it at 5,000
    needed an approver. Under policy 2026.12.5 (kept_lines_stand) the change is measured from the decision the line
    stands on — the record before the kept one, or its Book limit when the store never decided it."""
    first = decision("K1", 500_000, key="K1-first")
    store.append([first, _kept(first, "K1", stands=True)], operator="batch")
    with pytest.raises(OverrideError, match=r"from USD 5,000.00 \(the limit the line stands on, record "
                                            r".*\) to USD 0.00 \(100%\) .* needs --approver"):
        override(store, "K1", "0", "crop failed", "ana")
    rec = override(store, "K1", "5000", "field visit: crop fine", "ana")  # confirmed as it stood: no change
    assert rec.body["override"]["change_share"] == "0.0000"
    assert rec.body["override"]["standing_record_id"] == record_id_for(first.idempotency_key)
    assert (rec.body["override"]["standing_limit"], rec.body["override"]["original_limit"]) == (500_000, 0)
    # never decided in the store: the Book limit
    store.append([_kept(None, "K2", stands=True)], operator="batch")
    with pytest.raises(OverrideError, match=r"from USD 7,000.00 \(the line's Book limit"):
        override(store, "K2", "0", "crop failed", "ana")
    k2 = override(store, "K2", "6500", "field visit", "ana")
    assert k2.body["override"]["standing_record_id"] is None
    # the same override again records nothing; a follow-up is measured past the unapproved override to the Book
    # limit, not to the kept record's 0 (the second review: both were refused as changes "from a zero limit")
    assert override(store, "K2", "6500", "field visit", "ana") == k2
    assert override(store, "K2", "6400", "second visit", "ana").limit == 640_000
    with pytest.raises(OverrideError, match=r"from USD 7,000.00 \(the line's Book limit"):
        override(store, "K2", "5200", "third visit", "ana")  # the Book limit, past the unapproved override
    assert override(store, "K1", "4900", "again", "ana").limit == 490_000  # from the 5,000 K1 stands on
    # unapproved steps with kept checkpoints between them still add up (the third review): 5,000 → 4,000 → kept →
    # 4,000 → kept → 3,200 is 36% below the decision, past the 20% one analyst may change alone
    d = decision("K4", 500_000, key="K4-first")
    store.append([d], operator="batch")
    prev = override(store, "K4", "4000", "visit", "ana")
    for k, day in enumerate(("2025-07-21", "2025-08-21")):
        store.append([dataclasses.replace(_kept(None, "K4", stands=True, as_of=day), supersedes=prev.record_id,
                                          idempotency_key=f"K4-kept-{k}")], operator="batch")
        if k == 0:
            prev = override(store, "K4", "4000", "visit again", "ana")
    with pytest.raises(OverrideError, match=r"from USD 5,000.00 .* \(36%\) .* needs --approver"):
        override(store, "K4", "3200", "visit", "ana")
    # a policy before 2026.12.5: measured from the kept record, as that release did
    store.append([_kept(None, "K3", stands=False)], operator="batch")
    old = override(store, "K3", "0", "crop failed", "ana")
    assert old.limit == 0 and "standing_limit" not in old.body["override"]


def _referred(app: str, outcome: str = "REFER") -> DecisionItem:
    """``underwrite``'s REFER (indicative 0) or DECLINE of ``app``."""
    d = decision(app, 0, key=f"{app}-first")
    return dataclasses.replace(d, outcome=outcome, reason_codes=("PARCEL_OVERLAP_CLAIM",),
                               body={**d.body, "outcome": outcome})


def test_an_override_of_a_kept_line_standing_on_a_refer_is_measured_from_its_book_limit(store: DecisionStore) -> None:
    """A Book line of USD 7,000 whose application underwrite referred (REFER, indicative 0), kept at a
    re-underwriting, stood on that REFER for an override: confirming the line at its Book limit was a raise "from a
    zero limit" that needed a second approver, and cutting it to 0 was no change — while the re-underwriting measures
    such a line from its Book limit (policy 2026.12.8, refer_keeps_book_limit). Under the parameter (the kept record's
    policy) the override is measured from the Book limit and says so (standing_compared_with "book"); an override
    standing on an analyst's override, a decided line (D-…) and records of 2026.12.7 as before."""
    refer = _referred("B1")
    store.append([refer, _kept(refer, "B1", stands=True, refer_keeps_book_limit=True, line_id="L-B1")],
                 operator="batch")
    rid = record_id_for(refer.idempotency_key)
    with pytest.raises(OverrideError, match=rf"from USD 7,000.00 \(the line's Book limit: the REFER it stood on, "
                                            rf"record {rid}, granted nothing\) to USD 0.00 \(100%\) .* needs "
                                            r"--approver"):
        override(store, "B1", "0", "crop failed", "ana")
    rec = override(store, "B1", "7000", "field visit: crop fine", "ana")  # confirmed at its Book limit: no change
    ov = rec.body["override"]
    assert (ov["original_limit"], ov["standing_limit"], ov["change_share"]) == (0, 700_000, "0.0000")
    assert (ov["standing_record_id"], ov["standing_outcome"], ov["standing_compared_with"]) == (rid, "REFER", "book")
    # a follow-up is measured past the unapproved override to the Book limit, not to the REFER's 0
    assert override(store, "B1", "6000", "second visit", "ana").limit == 600_000
    with pytest.raises(OverrideError, match=rf"from USD 7,000.00 \(the line's Book limit: the REFER it stood on, "
                                            rf"record {rid}, granted nothing\) to USD 5,200.00"):
        override(store, "B1", "5200", "third visit", "ana")
    # a DECLINE granted nothing either
    declined = _referred("B2", "DECLINE")
    store.append([declined, _kept(declined, "B2", stands=True, refer_keeps_book_limit=True, line_id="L-B2")],
                 operator="batch")
    ov = override(store, "B2", "6500", "field visit", "ana").body["override"]
    assert (ov["standing_limit"], ov["standing_outcome"], ov["standing_compared_with"]) == (700_000, "DECLINE", "book")
    # a decided line (D-…): opened by its record, measured from it as before
    d_line = _referred("B3")
    store.append([d_line, _kept(d_line, "B3", stands=True, refer_keeps_book_limit=True, line_id="D-B3")],
                 operator="batch")
    with pytest.raises(OverrideError, match=r"from USD 0.00 .*\(from a zero limit\)"):
        override(store, "B3", "7000", "field visit", "ana")
    ov = override(store, "B3", "7000", "field visit", "ana", approver="bob").body["override"]
    assert ov["standing_limit"] == 0 and "standing_compared_with" not in ov
    # standing on an analyst's override to DECLINE: a decision in force, measured from it
    store.append([decision("B4", 500_000, key="B4-first")], operator="batch")
    cut = override(store, "B4", "0", "crop failed", "ana", approver="bob")
    store.append([dataclasses.replace(_kept(None, "B4", stands=True, refer_keeps_book_limit=True, line_id="L-B4"),
                                      supersedes=cut.record_id)], operator="batch")
    with pytest.raises(OverrideError, match=r"from USD 0.00 .*\(from a zero limit\)"):
        override(store, "B4", "7000", "field visit", "ana")
    # a policy before 2026.12.8 (2026.12.7: kept_lines_stand, no refer_keeps_book_limit): from the REFER's 0, the
    # override's block as that release wrote it
    old = _referred("B5")
    store.append([old, _kept(old, "B5", stands=True, line_id="L-B5")], operator="batch")
    with pytest.raises(OverrideError, match=r"from USD 0.00 \(the limit the line stands on, record .*\) to USD "
                                            r"7,000.00 \(from a zero limit\)"):
        override(store, "B5", "7000", "field visit", "ana")
    ov = override(store, "B5", "7000", "field visit", "ana", approver="bob").body["override"]
    assert set(ov) == {"original_record_id", "original_limit", "original_outcome", "limit", "outcome", "change_share",
                       "reason", "operator", "approver", "as_of", "standing_record_id", "standing_limit",
                       "standing_outcome"}
    assert (ov["standing_limit"], ov["standing_outcome"], ov["change_share"]) == (0, "REFER", "1.0000")


def _new_refer(prev: Any, app: str, *, refer_keeps_book_limit: bool = True,
               line_id: str = "", outcome: str = "REFER", as_of: str = "2025-07-20") -> DecisionItem:
    """A re-underwriting of Book line ``line_id`` (Book limit USD 7,000) that re-estimated the line and itself decided
    ``outcome`` (limit 0; not a kept one), superseding ``prev`` (an item or a stored record)."""
    item = _kept(None, app, stands=True, as_of=as_of, refer_keeps_book_limit=refer_keeps_book_limit, line_id=line_id)
    body = {**item.body, "outcome": outcome, "reunderwrite": {"book_limit": 700_000, "line_id": line_id}}
    sup = prev.record_id if hasattr(prev, "record_id") else record_id_for(prev.idempotency_key)
    return dataclasses.replace(item, idempotency_key=f"{app}-new-{as_of}", outcome=outcome, body=body,
                               reason_codes=("OUT_OF_MODEL_SCOPE",), supersedes=sup)


def test_an_override_of_a_new_refer_reunderwriting_is_measured_from_the_book_limit(store: DecisionStore) -> None:
    """A Book line of USD 7,000 whose latest record is a re-underwriting that itself decided REFER (a new REFER at a
    checkpoint, not a kept one) was the override's base at its 0: confirming the line the bank funded was a raise
    "from a zero limit" needing a second approver. A REFER or DECLINE that is no analyst's override grants nothing
    (policy 2026.12.8, refer_keeps_book_limit, the record's): the override is measured from the Book limit — or from
    an analyst's override behind the REFER —, as the next re-underwriting measures it; a decided line (D-…) and
    records of 2026.12.7 as before."""
    first = decision("N1", 500_000, key="N1-first")
    refer = _new_refer(first, "N1", line_id="L-N1")
    store.append([first, refer], operator="batch")
    rid = record_id_for(refer.idempotency_key)
    with pytest.raises(OverrideError, match=rf"from USD 7,000.00 \(the line's Book limit: the REFER it stood on, "
                                            rf"record {rid}, granted nothing\) to USD 0.00 \(100%\) .* needs "
                                            r"--approver"):
        override(store, "N1", "0", "crop failed", "ana")
    ov = override(store, "N1", "7000", "field visit: crop fine", "ana").body["override"]  # no change: no approver
    assert (ov["original_limit"], ov["standing_limit"], ov["change_share"]) == (0, 700_000, "0.0000")
    assert (ov["standing_record_id"], ov["standing_outcome"], ov["standing_compared_with"]) == (rid, "REFER", "book")
    assert override(store, "N1", "6000", "second visit", "ana").limit == 600_000
    with pytest.raises(OverrideError, match=r"from USD 7,000.00 \(the line's Book limit: the REFER it stood on"):
        override(store, "N1", "5200", "third visit", "ana")  # past the unapproved override to the Book limit
    # a DECLINE granted nothing either
    first = decision("N2", 500_000, key="N2-first")
    store.append([first, _new_refer(first, "N2", line_id="L-N2", outcome="DECLINE")], operator="batch")
    ov = override(store, "N2", "6500", "field visit", "ana").body["override"]
    assert (ov["standing_limit"], ov["standing_outcome"], ov["standing_compared_with"]) == (700_000, "DECLINE", "book")
    # an analyst's override behind the REFER is a decision in force: measured from it
    store.append([decision("N3", 500_000, key="N3-first")], operator="batch")
    cut = override(store, "N3", "4000", "visit", "ana")
    store.append([_new_refer(cut, "N3", line_id="L-N3")], operator="batch")
    with pytest.raises(OverrideError, match=rf"from USD 4,000.00 \(the limit the line stands on, record "
                                            rf"{cut.record_id}\) to USD 7,000.00"):
        override(store, "N3", "7000", "visit", "ana")
    ov = override(store, "N3", "4000", "visit again", "ana").body["override"]
    assert (ov["standing_record_id"], ov["standing_limit"], ov["change_share"]) == (cut.record_id, 400_000,
                                                                                    "0.0000")
    assert "standing_compared_with" not in ov
    # a decided line (D-…) and a record of 2026.12.7: from the REFER's 0, the override's block as before
    for app, line, rk in (("N4", "D-N4", True), ("N5", "L-N5", False)):
        first = decision(app, 500_000, key=f"{app}-first")
        store.append([first, _new_refer(first, app, line_id=line, refer_keeps_book_limit=rk)], operator="batch")
        with pytest.raises(OverrideError, match=r"from USD 0.00 to USD 7,000.00 \(from a zero limit\)"):
            override(store, app, "7000", "field visit", "ana")
        ov = override(store, app, "7000", "field visit", "ana", approver="bob").body["override"]
        assert set(ov) == {"original_record_id", "original_limit", "original_outcome", "limit", "outcome",
                           "change_share", "reason", "operator", "approver", "as_of"}


def test_the_override_command_says_a_line_on_a_refer_stood_on_its_book_limit(tmp_path: Path) -> None:
    """`agcredit override` printed "the line stood on USD 0.00" for a kept Book line standing on a REFER; under
    policy 2026.12.8 it names the Book limit and the REFER that granted nothing; a record of 2026.12.7 as before."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    url = f"sqlite:///{tmp_path / 'c.db'}"
    new, old = _referred("C1"), _referred("C2")
    with DecisionStore(url) as st:
        st.append([new, _kept(new, "C1", stands=True, refer_keeps_book_limit=True, line_id="L-C1"),
                   old, _kept(old, "C2", stands=True, line_id="L-C2")], operator="batch")
    res = CliRunner().invoke(app, ["override", "C1", "--limit", "7000", "--reason", "visit", "--operator", "ana",
                                   "--store", url])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip().endswith(
        "(the line stood on USD 7,000.00, the change measured from it: the record replaced re-estimated nothing; its "
        f"Book limit, the REFER {record_id_for(new.idempotency_key)} granted nothing)"), res.stdout
    res = CliRunner().invoke(app, ["override", "C2", "--limit", "7000", "--reason", "visit", "--operator", "ana",
                                   "--approver", "bob", "--store", url])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip().endswith("by ana, approved by bob (the line stood on USD 0.00, the change measured "
                                       "from it: the record replaced re-estimated nothing)"), res.stdout


def test_unapproved_overrides_behind_a_new_refer_never_add_up(tmp_path: Path) -> None:
    """Small unapproved overrides are measured from the last approved limit, also when a new REFER re-underwriting
    stands between them (policy 2026.12.8's Book-limit rule): an unapproved override behind the REFER is walked over
    like any other, never taken as the base (a review found a 36% cut written by one analyst, step by step)."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as st:
        first = _referred("X1")
        st.append([first, _new_refer(first, "X1", line_id="L-X1", as_of="2025-07-20")], operator="batch")
        ov = override(st, "X1", "5600", "visit", "ana", as_of="2025-07-21")  # -20% of the Book 7,000: alone, allowed
        st.append([_new_refer(ov, "X1", line_id="L-X1", as_of="2025-08-01")], operator="batch")
        override(st, "X1", "5600", "visit", "ana", as_of="2025-08-02")  # kept at 5,600 (0% from the override)
        with pytest.raises(OverrideError, match=r"from USD 7,000.00 \(the line's Book limit.*needs --approver"):
            override(st, "X1", "4480", "visit", "ana", as_of="2025-08-03")  # -36% of the Book limit
        assert override(st, "X1", "4480", "visit", "ana", approver="bo", as_of="2025-08-03").limit == 448000


def test_an_id_matching_no_record_is_never_echoed_in_an_early_refusal(store: DecisionStore) -> None:
    """Refusals before the records are read (empty reason, no operator) cannot know the id is stored: it is never
    echoed (``underwriting._pii_text.echoed_reference``: an argument matching nothing may be a farmer's name)."""
    for kwargs, problem in (({"reason": " "}, "the reason must not be empty"),
                            ({"operator": ""}, "an operator is required")):
        args = {"application_id": "A9", "limit": "1", "reason": "visit", "operator": "ana", **kwargs}
        with pytest.raises(OverrideError) as err:
            override(store, **args)  # type: ignore[arg-type]
        assert str(err.value) == f"override of the application given: {problem}"
    assert store.count() == 2


def test_an_override_dated_today_and_a_decline_below_the_minimum_line(tmp_path: Path) -> None:
    """An override is dated when it is made: today is accepted (only a later day is refused); 0 declines even where
    the policy sets a minimum line (CREDIT_POLICY.md step 8: below the minimum is a DECLINE)."""
    from datetime import date

    item = decision("M2", 600_000)
    item.body["computation"]["min_line"] = 500_000
    with DecisionStore(f"sqlite:///{tmp_path / 'm2.db'}") as st:
        st.append([item], operator="batch")
        today = date.today().isoformat()
        rec = override(st, "M2", "5500", "visit", "ana", as_of=today)
        assert (rec.as_of, rec.limit) == (today, 550_000)
        rec = override(st, "M2", "0", "crop failed", "ana", approver="bob")
        assert (rec.limit, rec.outcome) == (0, "DECLINE")
        with pytest.raises(OverrideError, match=r"below the policy's minimum line"):
            override(st, "M2", "0.01", "visit", "ana", approver="bob")  # the smallest positive limit too


def test_an_override_cannot_grant_more_than_the_product_cap(tmp_path: Path) -> None:
    item = decision("C1", 600_000)  # requested 10,000.00
    item.body["computation"]["product_cap"] = 700_000
    with DecisionStore(f"sqlite:///{tmp_path / 'c.db'}") as st:
        st.append([item], operator="batch")
        with pytest.raises(OverrideError, match=r"above the product cap \(USD 7,000.00\): an override cannot grant more"):
            override(st, "C1", "7000.01", "bigger farm", "ana", approver="bob")
        assert override(st, "C1", "7000", "bigger farm", "ana", approver="bob").limit == 700_000


def test_a_stored_id_is_named_when_the_reason_or_operator_is_refused(store: DecisionStore) -> None:
    """An id the records hold is an application's id, not a name typed by mistake: the refusal of its reason or
    operator names it (it had said "the application given", as if the id were unknown — a review of 2026-12-07);
    an id matching no record stays unechoed (the test above)."""
    stored = store.application_ids()[0]
    for kwargs, problem in (({"reason": " "}, "the reason must not be empty"),
                            ({"operator": ""}, "an operator is required"),
                            ({"reason": "line\nOverride: forged"}, "--reason"),
                            ({"reason": "called +1 402 555 0199"}, "the reason contains")):
        args = {"application_id": stored, "limit": "1", "reason": "visit", "operator": "ana", **kwargs}
        with pytest.raises(OverrideError) as err:
            override(store, **args)  # type: ignore[arg-type]
        assert str(err.value).startswith(f"override of application {stored}: ") and problem in str(err.value)
    assert store.count() == 2
