"""Re-underwriting on the tiny synthetic county: linked records, idempotence, due checkpoints, actions, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from models.governance import Governance
from pipelines.cli import app
from pipelines.county import County
from pipelines.monitor import AlertParams
from pipelines.reunderwrite import (
    ActionRules,
    ScoringModels,
    _link,
    active_lines,
    book_with_decided,
    decided_lines,
    lines_to_review,
    not_reestimated,
    propose_actions,
    reunderwrite_county,
    reunderwrite_due,
)
from pipelines.schedule import CheckpointLog
from tests.pipelines._reunderwrite_world import build_world, store_copy
from underwriting.policy import default_policy
from underwriting.records import DecisionItem
from underwriting.standing import standing_of as standing
from underwriting.store import DecisionStore

# features/area_scenes.py (planted area, used by featurize) multiplies an Affine with `*`, which affine 3.1
# deprecates; the fix belongs there (use `@`) — until then the pending deprecation is not this module's failure.


@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The county (cache in a temp folder), a small yield model, and first decisions at emergence."""
    return build_world(tiny_county_sh, tmp_path_factory, "reunderwrite")


def test_linked_records_and_idempotent(world: dict[str, Any]) -> None:
    c, season, cps, url = world["county"], world["season"], world["cps"], world["url"]
    first = {i.application_id: i for i in world["first"]}
    with DecisionStore(url) as st:
        before_run = decided_lines(st.records(season), cps["mid"], season, covered=set())
    res = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"],
                              alert_params=AlertParams(min_band_fields=1))
    assert res.checkpoint == "mid" and res.written == len(res.items) > 0 and res.already_present == 0
    with DecisionStore(url) as st:
        for it in res.items:
            rec = st.get(str(res.changes.set_index("application_id").loc[it.application_id, "record_id"]))
            assert rec is not None and rec.kind == "reunderwrite" and rec.as_of == cps["mid"].isoformat()
            prev = st.get(str(rec.supersedes))
            assert prev is not None and prev.application_id == it.application_id and prev.kind == "decision"
            ru = rec.body["reunderwrite"]
            # a Book line whose application was referred or declined: from its Book limit (policy 2026.12.8)
            was = ru["book_limit"] if ru.get("compared_with") == "book" else first[it.application_id].limit
            assert ru["previous_limit"] == was and (ru.get("compared_with") != "book" or prev.outcome == "REFER"
                                                    or prev.outcome == "DECLINE")
            assert rec.body["models"][0]["version"] == "3"
    ch = res.changes
    assert set(ch["line_id"]) >= set(active_lines(c.book(), cps["mid"], season)["line_id"])  # every Book line
    assert (ch["change"] == ch["new_limit"] - ch["old_limit"]).all()
    if len(res.alerts):
        assert {"field_id", "alert", "severity", "date", "evidence", "line_id"} <= set(res.alerts.columns)
    again = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"],
                                alert_params=AlertParams(min_band_fields=1))
    assert again.written == 0 and again.already_present == len(res.items)
    # a re-run follows each decided line (D-…) as the first run found it, not as that run's own record left it (a
    # review: re-running the smallholder demo's 2009-10-25 wrote two records superseding the date's own, their line
    # rebuilt from the record being re-run — another limit and maturity in the body)
    with DecisionStore(url) as st:
        recs = st.records(season)
    own = decided_lines(recs, cps["mid"], season, covered=set(), before_own_run=True)
    assert len(before_run) and own.equals(before_run)
    assert not decided_lines(recs, cps["mid"], season, covered=set()).equals(before_run)  # the run's own records
    # ... and an analyst's override of a decided line's record made after the run, dated that day (a copy of the store)
    import shutil

    from underwriting.override import override

    copy = Path(str(url).removeprefix("sqlite:///")).with_name("decisions-override.db")
    shutil.copy(str(url).removeprefix("sqlite:///"), copy)
    d_app = str(before_run["application_id"].iloc[0])
    with DecisionStore(f"sqlite:///{copy}") as st:
        cur = st.latest(d_app, as_of=cps["mid"])
        assert cur is not None and cur.kind == "reunderwrite"
        override(st, d_app, max(int(cur.limit) - 1000_00, 0), "field visit", "analyst-1", approver="manager-1")
        recs2 = st.records(season)
    assert recs2["kind"].eq("override").any()
    assert decided_lines(recs2, cps["mid"], season, covered=set(), before_own_run=True).equals(before_run)
    # a re-run prints the rows as the stored records hold them: a decided line's (D-…) Book limit was read from the
    # record being re-run, i.e. its new limit (D-A2009-00002: 0, its record and the first run 36,000)
    assert (ch["line_id"].str.startswith("D-") & (ch["book_limit"] != ch["new_limit"])).any()
    assert again.changes.equals(ch), ch.compare(again.changes)
    later = reunderwrite_county(c, season, cps["end"], store=url, models=world["models"])
    with DecisionStore(url) as st:
        assert st.verify().ok
        mid_ids = set(ch["record_id"])
        for rid in later.changes["record_id"]:
            rec = st.get(str(rid))
            assert rec is not None and rec.supersedes in mid_ids  # the mid record is what the end one replaces
            # after the harvest a re-underwriting gave a fresh marketing window: lines matured past their contract
            line_end = rec.body["reunderwrite"]["line_maturity_date"]
            assert rec.body["application"]["latest_maturity_date"] == line_end
            assert rec.body["computation"]["maturity_date"] <= line_end


def _item(limit: int, stressed: int, maturity: str) -> DecisionItem:
    body = {"computation": {"stressed_value": stressed, "maturity_date": maturity},
            "reasons": [{"code": "PRICE_VOLATILITY_HAIRCUT", "reduction": 10, "text": "x", "principal": True}]}
    return DecisionItem(idempotency_key="k", application_id="A1", farmer_token="T1", season="2009",
                        as_of="2009-09-15", outcome="REDUCE", limit=limit, currency="INR",
                        reason_codes=("PRICE_VOLATILITY_HAIRCUT",), body=body)


def test_deterioration_reason_and_actions() -> None:
    prev = SimpleNamespace(limit=5_000_000, outcome="APPROVE", reason_codes=("ROUNDED_TO_STEP",),
                           record_id="Dprev", body={"computation": {"stressed_value": 9_000_000}})
    line = {"line_id": "L1", "limit": 5_000_000, "drawn": 3_000_000, "outstanding": 3_100_000,
            "maturity_date": pd.Timestamp("2010-03-01")}
    no_alerts = pd.DataFrame(columns=["field_id", "alert", "severity"])
    new, row = _link(_item(2_000_000, 4_000_000, "2010-01-15"), prev, line, no_alerts, default_policy(),
                     date(2009, 9, 15), ActionRules())
    assert new.kind == "reunderwrite" and new.supersedes == "Dprev"
    assert new.reason_codes[0] == "CROP_CONDITION_DETERIORATED"
    # the change since the previous decision, outside the waterfall: it was also counted as a reduction, so the
    # reasons summed to more than requested - limit (twice the request on a cut to 0)
    assert new.body["reasons"][0] == {"code": "CROP_CONDITION_DETERIORATED", "reduction": 0,
                                      "since_previous": 3_000_000,
                                      "text": default_policy().text("CROP_CONDITION_DETERIORATED"), "principal": True}
    assert sum(r["reduction"] for r in new.body["reasons"]) == 10  # the waterfall's own reductions only
    assert row["actions"] == "FREEZE_UNDRAWN,SHORTEN_TERM" and row["old_limit"] == 5_000_000
    assert row["new_reasons"].startswith("CROP_CONDITION_DETERIORATED")
    # value up, no alert: a lower limit is not blamed on the crop
    same, _ = _link(_item(4_900_000, 9_500_000, "2010-03-01"), prev, line, no_alerts, default_policy(),
                    date(2009, 9, 15), ActionRules())
    assert "CROP_CONDITION_DETERIORATED" not in same.reason_codes
    assert propose_actions(new_limit=3_100_000, outstanding=3_100_000, new_outcome="REDUCE", new_maturity=None,
                           line_maturity=None, high_alert=True) == ()
    assert propose_actions(new_limit=1_000_000, outstanding=3_000_000, new_outcome="REDUCE", new_maturity=None,
                           line_maturity=None, high_alert=False) == ("FREEZE_UNDRAWN", "REVIEW")
    # a REFER for a risk (an overlap claim, fields not planted...) freezes the undrawn line for an analyst's review;
    # its limit is indicative, not a re-estimate, so its term is not shortened on it (policy keep_unvalued_lines)
    refer = dict(new_limit=2_900_000, outstanding=3_000_000, new_outcome="REFER", new_maturity=date(2009, 11, 1),
                 line_maturity=date(2009, 12, 1), high_alert=False)
    assert propose_actions(**refer, keep_unvalued=True) == ("FREEZE_UNDRAWN", "REVIEW")
    # earlier policies acted on it as its indicative limit (their records hold that)
    assert propose_actions(**refer) == ("FREEZE_UNDRAWN", "SHORTEN_TERM", "REVIEW")
    # a DECLINE below the balance: freeze, shorten, review
    assert propose_actions(new_limit=0, outstanding=3_000_000, new_outcome="DECLINE", new_maturity=date(2009, 12, 1),
                           line_maturity=date(2010, 3, 1), high_alert=False) == ("FREEZE_UNDRAWN", "SHORTEN_TERM",
                                                                                 "REVIEW")
    # a REFER grants nothing until an analyst decides: its indicative limit covering the balance proposed nothing
    assert propose_actions(new_limit=5_000_000, outstanding=3_000_000, new_outcome="REFER", new_maturity=None,
                           line_maturity=None, high_alert=True) == ("REVIEW",)
    assert propose_actions(new_limit=5_000_000, outstanding=3_000_000, new_outcome="REFER", new_maturity=None,
                           line_maturity=None, high_alert=True, keep_unvalued=True) == ("FREEZE_UNDRAWN", "REVIEW")
    # ... nor with nothing drawn (APPROVE 16,300 → REFER 0 proposed nothing; the undrawn line stayed drawable)
    assert propose_actions(new_limit=5_000_000, outstanding=0, new_outcome="REFER", new_maturity=None,
                           line_maturity=None, high_alert=False) == ("REVIEW",)
    # a DECLINE of a line with nothing drawn proposed nothing: its undrawn limit stayed open to draw
    assert propose_actions(new_limit=0, outstanding=0, new_outcome="DECLINE", new_maturity=None,
                           line_maturity=None, high_alert=False) == ("FREEZE_UNDRAWN",)


def _refer_body(*field_codes: tuple[str, ...], refer: tuple[str, ...] = ("FAILING_AREA_SHARE",),
                outcome: str = "REFER", keep: bool = True, crops: tuple[str, str] = ("maize", "maize")) -> dict[str, Any]:
    fields = [{"field_id": f"F{i}", "included": not codes, "codes": list(codes), "declared_crop": crops[0],
               "crop_type": crops[1]} for i, codes in enumerate(field_codes)]
    params = {"keep_unvalued_lines": True} if keep else {}  # policy 2026.12.4's parameter, absent before
    return {"outcome": outcome, "refer_reasons": list(refer), "fields": fields, "policy": {"parameters": params},
            "computation": {"stressed_value": 0, "maturity_date": "2010-01-15"}, "reasons": []}


def test_no_estimate_is_not_an_estimate_of_zero() -> None:
    """Before the yield model's validated checkpoints every field is OUT_OF_MODEL_SCOPE and the new decision a REFER
    of indicative limit 0: every line of the Book was proposed FREEZE_UNDRAWN, SHORTEN_TERM, REVIEW (59 of 59 on the
    demo as of 2009-07-20) and blamed on CROP_CONDITION_DETERIORATED. The models re-estimated nothing: the line is
    kept, no action, and the record and change row say why."""
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), ("OUT_OF_MODEL_SCOPE", "INSUFFICIENT_CLEAR_IMAGERY"),
                                       ())) == ("OUT_OF_MODEL_SCOPE", "INSUFFICIENT_CLEAR_IMAGERY")
    # a risk among the failing fields, a refer reason other than the failing share, or no REFER: re-estimated
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), ("NOT_PLANTED", "OUT_OF_MODEL_SCOPE"))) == ()
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), ("PARCEL_OVERLAP_CLAIM", "OUT_OF_MODEL_SCOPE"),
                                       refer=("PARCEL_OVERLAP_CLAIM", "FAILING_AREA_SHARE"))) == ()
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), refer=("FIELDS_ALREADY_PLEDGED",))) == ()
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), outcome="DECLINE")) == ()
    # an uncertain crop type or a tiny field on imagery the models saw (in scope): their judgement, reviewed
    assert not_reestimated(_refer_body(("CROP_TYPE_UNCERTAIN",), ("FIELD_TOO_SMALL",))) == ()
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), ("CROP_TYPE_UNCERTAIN",))) == ()
    assert not_reestimated(_refer_body(("CROP_TYPE_UNCERTAIN", "INSUFFICIENT_CLEAR_IMAGERY"))) == \
        ("INSUFFICIENT_CLEAR_IMAGERY", "CROP_TYPE_UNCERTAIN")
    assert not_reestimated(_refer_body((), refer=("HARVEST_AFTER_MAX_TERM",))) == ()
    assert propose_actions(new_limit=0, outstanding=3_000_000, new_outcome="REFER", new_maturity=date(2009, 12, 1),
                           line_maturity=date(2010, 3, 1), high_alert=False, reestimated=False,
                           keep_unvalued=True) == ()
    # an open high-severity alert still goes to an analyst
    assert propose_actions(new_limit=0, outstanding=3_000_000, new_outcome="REFER", new_maturity=None,
                           line_maturity=None, high_alert=True, reestimated=False, keep_unvalued=True) == ("REVIEW",)
    # a field whose imagery disputes its declared crop (policy disputed_crop_uncertain: CROP_TYPE_UNCERTAIN) is a risk
    # to the claim, not a field the models could not see — reviewed, not kept silently (the review of this release)
    disputed = _refer_body(("CROP_TYPE_UNCERTAIN", "OUT_OF_MODEL_SCOPE"), crops=("maize", "soybean"))
    assert not_reestimated(disputed) == ()
    assert not_reestimated(_refer_body(("CROP_TYPE_UNCERTAIN", "OUT_OF_MODEL_SCOPE"), crops=("maize", "fallow"))) == ()
    # policy 2026.12.5 (confident_disputes_only): an imagery crop below min_crop_type_prob is unsure, not a dispute
    # — the field is one the models could not value (the smallholder Book at 2009-08-31: 50 of 59 lines frozen, 22)
    unsure = _refer_body(("CROP_TYPE_UNCERTAIN", "INSUFFICIENT_CLEAR_IMAGERY"), crops=("maize", "cotton"))
    unsure["fields"][0]["crop_type_prob"] = 0.34
    assert not_reestimated(unsure) == ()  # 2026.12.4: any other crop is a dispute
    unsure["policy"]["parameters"].update(confident_disputes_only=True, evidence={"min_crop_type_prob": 0.8})
    assert not_reestimated(unsure) == ("INSUFFICIENT_CLEAR_IMAGERY", "CROP_TYPE_UNCERTAIN")
    unsure["fields"][0]["crop_type_prob"] = 0.8  # the imagery sure of another crop: a dispute, reviewed
    assert not_reestimated(unsure) == ()
    # a policy before 2026.12.4 (no keep_unvalued_lines): nothing is "not re-estimated", as those releases decided
    assert not_reestimated(_refer_body(("OUT_OF_MODEL_SCOPE",), keep=False)) == ()

    prev = SimpleNamespace(limit=5_000_000, outcome="APPROVE", reason_codes=("ROUNDED_TO_STEP",),
                           record_id="Dprev", body={"computation": {"stressed_value": 9_000_000}})
    line = {"line_id": "L1", "limit": 5_000_000, "drawn": 3_000_000, "outstanding": 3_100_000,
            "maturity_date": pd.Timestamp("2010-03-01")}
    watch = pd.DataFrame({"field_id": ["F0"], "alert": ["WATCH"], "severity": ["low"]})
    item = DecisionItem(idempotency_key="k", application_id="A1", farmer_token="T1", season="2009",
                        as_of="2009-07-20", outcome="REFER", limit=0, currency="INR",
                        reason_codes=("OUT_OF_MODEL_SCOPE",), body=_refer_body(("OUT_OF_MODEL_SCOPE",)))
    new, row = _link(item, prev, line, watch, default_policy(), date(2009, 7, 20), ActionRules())
    assert row["actions"] == "" and new.body["reunderwrite"]["proposed_actions"] == []
    assert row["not_reestimated"] == "OUT_OF_MODEL_SCOPE"
    assert new.body["reunderwrite"]["not_reestimated"] == ["OUT_OF_MODEL_SCOPE"]
    assert "CROP_CONDITION_DETERIORATED" not in new.reason_codes  # a stressed value of 0 unvalued is no fall
    # the same REFER with a field not planted: a risk, frozen and sent to review (and the fall is the crop's)
    risky = replace(item, body=_refer_body(("OUT_OF_MODEL_SCOPE",), ("NOT_PLANTED",)))
    new, row = _link(risky, prev, line, watch, default_policy(), date(2009, 7, 20), ActionRules())
    assert row["not_reestimated"] == ""
    assert "not_reestimated" not in new.body["reunderwrite"]  # bodies of re-estimated lines stay as they were
    assert new.reason_codes[0] == "CROP_CONDITION_DETERIORATED"
    assert row["actions"] == "FREEZE_UNDRAWN,REVIEW"
    # records decided under an earlier policy: the actions and body of that release (same record id, same body)
    old_item = replace(item, body=_refer_body(("OUT_OF_MODEL_SCOPE",), keep=False))
    new, row = _link(old_item, prev, line, watch, default_policy(), date(2009, 7, 20), ActionRules())
    assert row["actions"] == "FREEZE_UNDRAWN,SHORTEN_TERM,REVIEW" and row["not_reestimated"] == ""
    assert "not_reestimated" not in new.body["reunderwrite"] and new.reason_codes[0] == "CROP_CONDITION_DETERIORATED"


def test_a_kept_line_is_compared_with_the_decision_it_stood_on() -> None:
    """A line kept at emergence (not re-estimated: REFER 0) and re-estimated at mid-season was compared with the kept
    record's indicative 0: a cut from its Book limit of 76,000 to 47,000 printed as "up", with no
    CROP_CONDITION_DETERIORATED (the smallholder demo's Book re-underwritten at 2009-07-20 and 2009-09-15: limits down
    0, up 4 → down 41, up 1). Under policy 2026.12.5 (kept_lines_stand) the comparison is with the decision the line
    stood on — the latest record that decided it, else its Book line; earlier policies' records as they were."""
    line = {"line_id": "L1", "limit": 7_600_000, "drawn": 3_000_000, "outstanding": 5_500_000,
            "maturity_date": pd.Timestamp("2010-03-01")}
    no_alerts = pd.DataFrame(columns=["field_id", "alert", "severity"])
    params = {"keep_unvalued_lines": True, "kept_lines_stand": True}
    kept_body = {**_refer_body(("OUT_OF_MODEL_SCOPE",)), "policy": {"parameters": params},
                 "reunderwrite": {"not_reestimated": ["OUT_OF_MODEL_SCOPE"]}}
    granted = SimpleNamespace(limit=7_000_000, outcome="APPROVE", reason_codes=("ROUNDED_TO_STEP",), record_id="D1",
                              kind="decision", supersedes=None, body={"computation": {"stressed_value": 9_000_000}})
    kept1 = SimpleNamespace(limit=0, outcome="REFER", reason_codes=("OUT_OF_MODEL_SCOPE",), record_id="D2",
                            kind="reunderwrite", supersedes="D1", body=kept_body)
    kept2 = SimpleNamespace(**{**kept1.__dict__, "record_id": "D3", "supersedes": "D2"})
    store = {r.record_id: r for r in (granted, kept1, kept2)}
    assert standing(kept2, store.get) is granted and standing(granted, store.get) is granted
    orphan = SimpleNamespace(**{**kept1.__dict__, "supersedes": None})
    assert standing(orphan, store.get) is None  # every record kept: the Book line stands

    cut = _item(4_700_000, 5_000_000, "2010-01-15")
    cut = replace(cut, body={**cut.body, "policy": {"parameters": params}})
    new, row = _link(cut, kept2, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules(), store.get)
    assert (row["old_limit"], row["old_outcome"], row["change"]) == (7_000_000, "APPROVE", -2_300_000)
    assert new.reason_codes[0] == "CROP_CONDITION_DETERIORATED"  # stressed value 9,000,000 → 5,000,000
    ru = new.body["reunderwrite"]
    assert ru["previous_record_id"] == "D3" and new.supersedes == "D3"  # the chain is unchanged
    assert ru["standing_record_id"] == "D1" and ru["previous_limit"] == 7_000_000
    assert "ROUNDED_TO_STEP" not in row["new_reasons"]  # new against what stood
    # never decided in the store: compared with the Book line
    new, row = _link(cut, orphan, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules(), store.get)
    assert (row["old_limit"], row["old_outcome"]) == (7_600_000, None)
    assert new.body["reunderwrite"]["standing_record_id"] is None
    # the record before was not kept: no standing_record_id, as before
    new, row = _link(cut, granted, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules(), store.get)
    assert row["old_limit"] == 7_000_000 and "standing_record_id" not in new.body["reunderwrite"]
    # a policy without kept_lines_stand (2026.12.4): compared with the kept record, as that release did
    old = replace(cut, body={**cut.body, "policy": {"parameters": {"keep_unvalued_lines": True}}})
    new, row = _link(old, kept2, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules(), store.get)
    assert row["old_limit"] == 0 and row["change"] == 4_700_000 and "standing_record_id" not in new.body["reunderwrite"]


def test_a_book_line_after_a_refer_is_compared_with_its_book_limit() -> None:
    """A Book line of 41,000 whose application was referred at underwriting (REFER, indicative 0) was re-underwritten
    against that REFER: "REFER 0 -> REFER 0", its limit change measured from 0, CROP_CONDITION_DETERIORATED never
    added, the report's limits changed none. A REFER or DECLINE grants nothing: under policy 2026.12.8
    (refer_keeps_book_limit) the change is measured from the Book limit; an override, a decided line (D-…) and the
    records of earlier policies as before."""
    line = {"line_id": "L7", "limit": 4_100_000, "drawn": 1_000_000, "outstanding": 1_050_000,
            "maturity_date": pd.Timestamp("2010-03-01")}
    no_alerts = pd.DataFrame(columns=["field_id", "alert", "severity"])
    watch = pd.DataFrame({"field_id": ["F0"], "alert": ["WATCH"], "severity": ["low"]})
    params = {"keep_unvalued_lines": True, "kept_lines_stand": True, "refer_keeps_book_limit": True}
    referred = SimpleNamespace(limit=0, outcome="REFER", reason_codes=("PARCEL_OVERLAP_CLAIM",), record_id="R1",
                               kind="decision", supersedes=None, body={"computation": {"stressed_value": 6_000_000}})
    refer = DecisionItem(idempotency_key="k", application_id="A1", farmer_token="T1", season="2009",
                         as_of="2009-09-15", outcome="REFER", limit=0, currency="INR",
                         reason_codes=("PARCEL_OVERLAP_CLAIM",),
                         body={**_refer_body(("PARCEL_OVERLAP_CLAIM",), refer=("PARCEL_OVERLAP_CLAIM",)),
                               "policy": {"parameters": params}})
    new, row = _link(refer, referred, line, watch, default_policy(), date(2009, 9, 15), ActionRules())
    ru = new.body["reunderwrite"]
    assert (row["old_limit"], row["change"], row["old_outcome"]) == (4_100_000, -4_100_000, "REFER")
    assert (ru["previous_limit"], ru["limit_change"], ru["previous_outcome"]) == (4_100_000, -4_100_000, "REFER")
    assert ru["compared_with"] == "book" and ru["skipped_record_id"] == "R1" and ru["previous_record_id"] == "R1"
    assert new.supersedes == "R1" and new.reason_codes[0] == "CROP_CONDITION_DETERIORATED"  # a WATCH alert
    assert new.body["reasons"][0]["since_previous"] == 4_100_000
    # a re-estimated cut after a DECLINE (its 0): measured from the Book limit too, the fall the crop's
    declined = SimpleNamespace(**{**referred.__dict__, "outcome": "DECLINE", "record_id": "R2"})
    cut = _item(3_000_000, 5_000_000, "2010-01-15")
    cut = replace(cut, body={**cut.body, "policy": {"parameters": params}})
    new, row = _link(cut, declined, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules())
    assert (row["old_limit"], row["change"]) == (4_100_000, -1_100_000)
    assert new.reason_codes[0] == "CROP_CONDITION_DETERIORATED"  # stressed value 6,000,000 -> 5,000,000
    assert new.body["reunderwrite"]["skipped_record_id"] == "R2"
    # a kept record on a REFER: the standing walk reaches the REFER, and the Book limit stands
    kept = SimpleNamespace(limit=0, outcome="REFER", reason_codes=("OUT_OF_MODEL_SCOPE",), record_id="R3",
                           kind="reunderwrite", supersedes="R1",
                           body={**_refer_body(("OUT_OF_MODEL_SCOPE",)), "policy": {"parameters": params},
                                 "reunderwrite": {"not_reestimated": ["OUT_OF_MODEL_SCOPE"]}})
    store = {r.record_id: r for r in (referred, kept)}
    new, row = _link(cut, kept, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules(), store.get)
    ru = new.body["reunderwrite"]
    assert row["old_limit"] == 4_100_000 and ru["standing_record_id"] == "R1" and ru["skipped_record_id"] == "R1"
    assert ru["previous_record_id"] == "R3"
    # an analyst's override to REFER or DECLINE is a decision in force: compared with it
    overridden = SimpleNamespace(**{**referred.__dict__, "kind": "override", "outcome": "DECLINE", "record_id": "O1"})
    new, row = _link(cut, overridden, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules())
    assert row["old_limit"] == 0 and "compared_with" not in new.body["reunderwrite"]
    # a granted record: as before
    granted = SimpleNamespace(**{**referred.__dict__, "outcome": "REDUCE", "limit": 3_500_000, "record_id": "G1"})
    new, row = _link(cut, granted, line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules())
    assert row["old_limit"] == 3_500_000 and "compared_with" not in new.body["reunderwrite"]
    # a decided line (D-…) after a re-underwriting REFER: the line is the record's, as before
    d_line = {**line, "line_id": "D-A1", "limit": 0, "drawn": 0, "outstanding": 0}
    new, row = _link(cut, referred, d_line, no_alerts, default_policy(), date(2009, 9, 15), ActionRules())
    assert row["old_limit"] == 0 and "compared_with" not in new.body["reunderwrite"]
    # a policy without refer_keeps_book_limit (2026.12.7 and earlier): compared with the REFER's 0, the same body
    old_params = {k: v for k, v in params.items() if k != "refer_keeps_book_limit"}
    old = replace(refer, body={**refer.body, "policy": {"parameters": old_params}})
    new, row = _link(old, referred, line, watch, default_policy(), date(2009, 9, 15), ActionRules())
    assert (row["old_limit"], row["change"]) == (0, 0) and "CROP_CONDITION_DETERIORATED" not in new.reason_codes
    assert set(new.body["reunderwrite"]) == {"line_id", "previous_record_id", "previous_limit", "previous_outcome",
                                             "limit_change", "outstanding", "drawn", "book_limit",
                                             "line_maturity_date", "previous_stressed_value", "proposed_actions",
                                             "alerts", "action_rules"}


def test_lines_are_kept_where_the_yield_model_is_not_validated(world: dict[str, Any], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through the CLI: a yield model validated at mid and end only, the Book re-underwritten as of
    emergence — every line was proposed FREEZE_UNDRAWN (and REVIEW, SHORTEN_TERM); now each is kept and said not
    re-estimated. A re-run adds nothing and prints what the stored records propose (records written by an earlier
    release keep their actions)."""
    c = world["county"]
    m = world["models"]
    gov = Governance(crops=tuple(c.crops), regions=(c.region,), checkpoints=("mid", "end"))
    late = ScoringModels(yield_model=m.yield_model, yield_version="3", yield_run_id="run-3", governance=gov)
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: late))
    url = f"sqlite:///{tmp_path / 'early.db'}"
    DecisionStore(url).close()
    args = ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of",
            world["cps"]["emergence"].isoformat(), "--store", url]
    import pipelines._reunderwrite_actions as actions  # where the record's actions are proposed

    with monkeypatch.context() as patched:  # as an earlier release proposed: a freeze on every line
        patched.setattr(actions, "propose_actions", lambda **_kw: ("FREEZE_UNDRAWN",))
        first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.stdout + first.stderr
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = [x for x in r.stdout.splitlines() if x.startswith("L")]
    assert f": {len(rows)} line(s), 0 record(s) written, {len(rows)} already present" in r.stdout
    assert rows and all("ACTION FREEZE_UNDRAWN" in x for x in rows)  # as stored, not as recomputed
    with DecisionStore(url) as st:
        recs = st.records(world["season"])
    assert len(recs) == len(rows)
    for body in recs["body"]:
        b = json.loads(body) if isinstance(body, str) else body
        assert b["outcome"] == "REFER" and b["reunderwrite"]["not_reestimated"][0] == "OUT_OF_MODEL_SCOPE"
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    DecisionStore(fresh).close()
    r = CliRunner().invoke(app, [*args[:-1], fresh])
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = [x for x in r.stdout.splitlines() if x.startswith("L")]
    assert rows and all("NOT RE-ESTIMATED (OUT_OF_MODEL_SCOPE" in x and "ACTION" not in x for x in rows), rows
    assert f"actions proposed: 0\nnot re-estimated: {len(rows)} line(s), kept as they stand" in r.stdout
    assert "limits down: 0," in r.stdout
    # the next checkpoint, which the model can value (policy 2026.12.5, kept_lines_stand): each line is compared with
    # the decision it stood on — here its Book line (never decided in the store), not the kept REFER's 0
    mid = [*args[:5], "--as-of", world["cps"]["mid"].isoformat(), "--store", fresh]
    r = CliRunner().invoke(app, mid)
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = [x.split() for x in r.stdout.splitlines() if x.startswith("L")]
    assert rows and all(x[2:4] == x[4:6] for x in rows), rows  # Book limit == old limit ("INR", amount)
    assert ("(against the previous record, or the decision a line kept earlier stood on; the Book limit where that "
            "was a REFER or DECLINE)") in r.stdout
    with DecisionStore(fresh) as st:
        later = st.records(world["season"])
    later = later[later["as_of"] == world["cps"]["mid"].isoformat()]
    blocks = [json.loads(b)["reunderwrite"] for b in later["body"]]
    assert len(blocks) == len(rows) and all(b["standing_record_id"] is None for b in blocks)
    assert all(b["previous_limit"] == b["book_limit"] and b["previous_outcome"] is None for b in blocks)
    # a re-run of that date writes nothing and prints the same rows (its change rows rebuilt against what stood)
    again = CliRunner().invoke(app, mid)
    assert again.exit_code == 0 and "0 record(s) written" in again.stdout
    assert [x.split() for x in again.stdout.splitlines() if x.startswith("L")] == rows


def test_a_decided_line_kept_at_a_checkpoint_keeps_its_limit() -> None:
    """A line the store decided (D-<application>, no Book line) and a re-underwriting then kept (re-estimated
    nothing: REFER 0) was followed at limit 0 — the next checkpoint's "Book limit" 0 and `monitor --store`'s line 0.
    Under policy 2026.12.5 (kept_lines_stand) it is the decision it stands on."""
    def recs(stands: bool) -> pd.DataFrame:
        body = {"computation": {"maturity_date": "2010-03-15"},
                "fields": [{"field_id": "f", "expected_value": 1, "crop_valued": "rice", "region": "r"}]}
        kept = {**body, "policy": {"parameters": {"keep_unvalued_lines": True,
                                                  **({"kept_lines_stand": True} if stands else {})}},
                "reunderwrite": {"not_reestimated": ["OUT_OF_MODEL_SCOPE"]}}
        return pd.DataFrame({"seq": [1, 2], "application_id": "A1", "farmer_token": "T1", "season": "2009",
                             "outcome": ["APPROVE", "REFER"], "as_of": ["2009-07-01", "2009-08-01"],
                             "limit": [7_000_000, 0], "currency": "INR", "record_id": ["R1", "R2"],
                             "kind": ["decision", "reunderwrite"], "supersedes": [None, "R1"],
                             "body": [json.dumps(body), json.dumps(kept)]})

    out = book_with_decided(None, recs(True), date(2009, 9, 1), "2009")
    assert out is not None and list(out["line_id"]) == ["D-A1"] and list(out["limit"]) == [7_000_000]
    old = book_with_decided(None, recs(False), date(2009, 9, 1), "2009")
    assert old is not None and list(old["limit"]) == [0]  # as the earlier release followed it


def test_book_with_decided_names_only_uncovered_approvals() -> None:
    """monitor --store: an approval of the season on or before the date, of a farmer without an active Book line,
    becomes D-<application>; a farmer with a Book line, a decline, a later record, another season do not."""
    def rec(seq: int, app_id: str, tok: str, outcome: str, as_of: str, season: str = "2009") -> dict[str, Any]:
        body = {"computation": {"maturity_date": "2010-03-15"},
                "fields": [{"field_id": "f", "expected_value": 1, "crop_valued": "rice", "region": "r"}]}
        return {"seq": seq, "application_id": app_id, "farmer_token": tok, "outcome": outcome, "as_of": as_of,
                "season": season, "limit": 100 * seq, "currency": "INR", "body": json.dumps(body)}

    recs = pd.DataFrame([rec(1, "A1", "T1", "APPROVE", "2009-07-01"), rec(2, "A2", "T2", "APPROVE", "2009-07-01"),
                         rec(3, "A3", "T3", "DECLINE", "2009-07-01"), rec(4, "A4", "T4", "APPROVE", "2009-12-01"),
                         rec(5, "A5", "T5", "REDUCE", "2009-07-01", "2008"),
                         rec(6, "A2", "T2", "REFER", "2009-09-01")])  # cut to REFER later: still followed
    book = pd.DataFrame({"line_id": ["L1"], "application_id": ["old"], "farmer_token": ["T1"], "limit": [5],
                         "start_date": [pd.Timestamp("2009-06-01")], "maturity_date": [pd.Timestamp("2010-03-01")],
                         "season": ["2009"]})
    out = book_with_decided(book, recs, date(2009, 10, 1), "2009")
    assert out is not None
    assert list(out["line_id"]) == ["L1", "D-A2"] and list(out["farmer_token"]) == ["T1", "T2"]
    assert int(out["limit"].iloc[1]) == 600 and out["maturity_date"].iloc[1] == pd.Timestamp("2010-03-15")
    assert book_with_decided(None, recs, date(2009, 6, 1), "2009") is None
    assert list(book_with_decided(None, recs, date(2009, 10, 1), "2009")["line_id"]) == ["D-A1", "D-A2"]  # type: ignore[index]
    # matured (2010-03-15) before the checkpoint: no line to re-decide — it was re-underwritten and extended
    assert book_with_decided(None, recs, date(2010, 3, 20), "2009") is None or \
        book_with_decided(None, recs, date(2010, 3, 20), "2009").empty  # type: ignore[union-attr]


def test_line_drawn_above_its_limit_is_named() -> None:
    book = pd.DataFrame({"line_id": ["L1", "L2"], "application_id": ["A1", "A2"], "farmer_token": ["T1", "T2"],
                         "limit": [1000, 1000], "drawn": [1000, 1500], "outstanding": [1000, 1500],
                         "start_date": [pd.Timestamp("2009-06-01")] * 2,
                         "maturity_date": [pd.Timestamp("2010-03-01")] * 2, "season": ["2009"] * 2})
    apps = pd.DataFrame({"application_id": ["A1", "A2"], "season": ["2009"] * 2, "farmer_token": ["T1", "T2"]})
    warnings: list[str] = []
    out = lines_to_review(book, apps, date(2009, 10, 1), "2009", warnings=warnings)
    assert list(out["line_id"]) == ["L1", "L2"]  # still re-underwritten
    assert warnings == ["1 active line(s) drawn above their limit (L2): re-underwritten as the Book states them; "
                        "check the Book export"]


def _book(**cols: list[Any]) -> pd.DataFrame:
    n = len(cols["line_id"])
    base: dict[str, Any] = {"application_id": [f"A{i}" for i in range(n)], "farmer_token": [f"T{i}" for i in range(n)],
                            "currency": ["INR"] * n, "limit": [1000] * n, "drawn": [500] * n, "outstanding": [600] * n,
                            "start_date": [pd.Timestamp("2009-06-01")] * n,
                            "maturity_date": [pd.Timestamp("2010-03-01")] * n, "season": ["2009"] * n}
    return pd.DataFrame({**base, **cols})


def test_a_farmers_several_lines_are_reviewed_together() -> None:
    """Two active lines of one farmer (one application this season): the second was dropped silently and actions
    were judged against the first line's balance only; now both, summed, with a warning naming them."""
    book = _book(line_id=["L1", "L2", "L3"], application_id=["A1", "A1", "A2"], farmer_token=["T1", "T1", "T2"],
                 outstanding=[600, 4000, 100], maturity_date=[pd.Timestamp("2010-03-01"), pd.Timestamp("2010-01-15"),
                                                              pd.Timestamp("2010-03-01")])
    apps = pd.DataFrame({"application_id": ["A1", "A2"], "season": ["2009"] * 2, "farmer_token": ["T1", "T2"],
                         "currency": ["INR"] * 2})
    warnings: list[str] = []
    out = lines_to_review(book, apps, date(2009, 10, 1), "2009", warnings=warnings)
    assert list(out["line_id"]) == ["L1+L2", "L3"]
    first = out.iloc[0]
    assert (first["limit"], first["drawn"], first["outstanding"]) == (2000, 1000, 4600)
    assert first["maturity_date"] == pd.Timestamp("2010-01-15") and first["review_application_id"] == "A1"
    assert out["outstanding"].dtype == book["outstanding"].dtype
    assert warnings == ["1 farmer(s) with several active lines re-underwritten together against their summed "
                        "balances (L1+L2)"]


def test_a_book_line_matured_before_the_day_is_said_not_re_decided() -> None:
    """A plain `--as-of` run left out a Book line that matured before its date without a word (60 lines where the
    Book held 61; a walkthrough); a line of another season or crop is not named."""
    book = _book(line_id=["L1", "L2", "L3", "L4"], crop=["maize", "maize", "rice", "maize"],
                 season=["2009", "2009", "2009", "2008"],
                 maturity_date=[pd.Timestamp("2010-03-01"), pd.Timestamp("2009-09-20"), pd.Timestamp("2009-09-20"),
                                pd.Timestamp("2009-03-01")])
    apps = pd.DataFrame({"application_id": [f"A{i}" for i in range(4)], "season": ["2009"] * 4,
                         "farmer_token": [f"T{i}" for i in range(4)], "currency": ["INR"] * 4})
    warnings: list[str] = []
    out = lines_to_review(book, apps, date(2009, 10, 1), "2009", warnings=warnings, crops=["maize"])
    assert list(out["line_id"]) == ["L1"]
    assert warnings == ["1 Book line(s) of season 2009 matured before 2009-10-01 (L2): not re-decided (a closed line "
                        "has nothing left to follow)"]


def test_a_book_line_in_another_currency_is_refused() -> None:
    book = _book(line_id=["L1", "L2"], currency=["INR", "USD"])
    apps = pd.DataFrame({"application_id": ["A0", "A1"], "season": ["2009"] * 2, "farmer_token": ["T0", "T1"],
                         "currency": ["INR", "INR"]})
    with pytest.raises(UserInputError, match=r"Book line L2: currency USD but its application A1 is in INR; amounts "
                                             r"in two currencies cannot be compared"):
        lines_to_review(book, apps, date(2009, 10, 1), "2009")


def test_due_checkpoints_run_once(world: dict[str, Any]) -> None:
    url = f"sqlite:///{world['tmp'] / 'due.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    assert world["cps"]["emergence"] == date(2009, 8, 1)  # the first decisions' date
    day = date(2009, 9, 2)  # maize mid-season (31 Aug) is due; rice and cotton their emergence checkpoints
    reported: list[str] = []
    ran = reunderwrite_due(day, county=world["county"], store=url, models=world["models"],
                           on_done=lambda d, r: reported.append(d.crop))
    # each checkpoint reported as it is marked (a run killed in a later one had reported none)
    assert reported == [d.crop for d, _ in ran]
    got = {d.crop: d for d, _ in ran}
    assert set(got) == set(world["county"].crops)
    assert got["maize"].checkpoint == "mid_season" and got["maize"].superseded == ("pre_season", "emergence")
    assert got["rice"].checkpoint == "emergence" and got["rice"].superseded == ("pre_season",)
    maize_lines = set(active_lines(world["county"].book(), day, world["season"]).query("crop == 'maize'")["line_id"])
    assert maize_lines and {r.line_id for r in dict(ran)[got["maize"]].changes.itertuples()} == maize_lines
    assert len(CheckpointLog(url).done()) == 3 + 2 + 2  # maize pre, emergence, mid; rice and cotton pre + emergence
    with DecisionStore(url) as st:
        n = st.count()
    assert n == len(world["first"]) + sum(len(res.items) for _, res in ran)  # rice, cotton: their decided lines
    said: list[str] = []
    assert reunderwrite_due(day, county=world["county"], store=url, models=world["models"], progress=said.append) == []
    assert not any(m.startswith("warning") for m in said), said
    # a clock set back (cron would run nothing, unseen): said
    assert reunderwrite_due(date(2009, 8, 20), county=world["county"], store=url, models=world["models"],
                            progress=said.append) == []
    assert said[-1] == ("warning: 2009-08-20 is before checkpoints already run (as of up to 2009-08-31): is the date "
                        "right?"), said
    with DecisionStore(url) as st:
        assert st.count() == n and st.verify().ok
    _one_chain_per_application(url)


def test_two_crops_due_the_same_day_featurize_once(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """Maize and rice are both due on 1 June (pre-season): each crop's run featurized the whole county again and read
    the past seasons' series again (smallholder demo: 16.9 → 12.6 s wall for the two). One `--due` run now keeps
    them; the records are those the crops' separate runs write, and each run warns only of its own crop's lines."""
    import shutil

    import pipelines.featurize as fz

    src = world["county"]
    shutil.copytree(src.path, tmp_path / src.path.name)
    book = tmp_path / src.path.name / "records" / "book.csv"
    with book.open("a") as fh:  # a rice line beside the tiny county's maize line, and a rice line with no application
        fh.write("L2009-00001,P2009-00001,0000 0457 6682,INR,20000.00,5000.00,5000.00,2009-05-20,2010-03-14,rice,"
                 "in-smallholder,2009\n"
                 "L2009-00050,P2009-00050,9999 0000 0000,INR,9000.00,0.00,0.00,2009-05-20,2010-03-14,rice,"
                 "in-smallholder,2009\n"
                 "L2009-00005,P2009-00004,1000 0688 4964,INR,4000.00,0.00,0.00,2009-05-20,2010-03-14,maize,"
                 "in-smallholder,2009\n")  # the maize farmer's second line: re-underwritten together
    county = County(tmp_path / src.path.name, cache_dir=src.cache_dir)

    calls: list[date] = []
    real = fz.featurize

    def counting(*a: Any, **k: Any) -> Any:
        calls.append(a[3])
        return real(*a, **k)

    monkeypatch.setattr(fz, "featurize", counting)
    day = date(2009, 6, 1)
    urls = [f"sqlite:///{world['tmp'] / f'same-day-{i}.db'}" for i in (0, 1)]
    other = [i for i in world["first"] if i.application_id == "A2009-00003"]  # a farmer with no line re-decided
    for url in urls:
        with DecisionStore(url) as st:
            st.append(other, operator="underwriter")
    ran = reunderwrite_due(day, county=county, store=urls[0], models=world["models"])
    assert sorted(d.crop for d, _ in ran) == ["maize", "rice"] and all(d.date == day for d, _ in ran)
    assert [len(r.items) for _, r in ran] == [1, 1], [(d.crop, r.warnings) for d, r in ran]
    assert calls == [day]  # once for both crops
    orphan = {d.crop: [w for w in r.warnings if "without an application" in w] for d, r in ran}
    assert orphan["maize"] == [] and len(orphan["rice"]) == 1 and "L2009-00050" in orphan["rice"][0]
    joined = {d.crop: [w for w in r.warnings if "several active lines" in w] for d, r in ran}
    assert len(joined["maize"]) == 1 and joined["rice"] == []
    calls.clear()
    import pipelines.monitor as mon

    named: list[set[str]] = []  # the Book each run's alerts name their lines from
    alerts_of = mon.season_alerts

    def alerts(*a: Any, **k: Any) -> Any:
        named.append(set(k["book"]["line_id"].astype(str)))
        return alerts_of(*a, **k)

    monkeypatch.setattr(mon, "season_alerts", alerts)
    for crop in ("maize", "rice"):  # each crop on its own, as before
        reunderwrite_county(county, world["season"], day, store=urls[1], models=world["models"],
                            crops=[crop], same_day_done=True, open_on=day)
    assert calls == [day, day]
    # an alert names its farmer's lines from the whole Book, as monitor does — not the checkpoint crop's lines only
    # (an operations audit: the same CROP_FAILURE named its maize line at the maize checkpoint and "-" at the
    # soybean one, the same day)
    assert len(named) == 2 and named[0] == named[1] >= {"L2009-00001", "L2009-00005", "L2009-00050"}

    def bodies(url: str) -> dict[str, str]:
        with DecisionStore(url) as st:
            recs = st.records(world["season"])
        return dict(zip(recs["record_id"], recs["body"], strict=True))

    assert bodies(urls[0]) == bodies(urls[1]) and len(bodies(urls[0])) > 1


def test_due_long_after_the_season_leaves_matured_lines_alone(world: dict[str, Any]) -> None:
    """--due run long after a season (the demo's 2009 today) re-decided the lines of a checkpoint missed then, though
    they had all matured since: records dated before the later ones, actions on closed lines → left out, said."""
    url = f"sqlite:///{world['tmp'] / 'due-late.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    today = date.today()
    assert world["county"].book()["maturity_date"].max() < pd.Timestamp(today)
    ran = reunderwrite_due(today, county=world["county"], store=url, models=world["models"])
    assert ran and all(not res.items for _, res in ran)
    said = [w for _, res in ran for w in res.warnings]
    assert any(f"matured before {today}: not re-decided" in w for w in said), said
    with DecisionStore(url) as st:
        assert st.count() == len(world["first"]) and st.verify().ok
    assert reunderwrite_due(today, county=world["county"], store=url, models=world["models"]) == []  # marked done


def _one_chain_per_application(url: str) -> None:
    """No record is superseded twice, and each application's last-written record is its latest-dated one."""
    with DecisionStore(url) as st:
        recs = st.records()
        assert st.verify().ok
    sup = recs["supersedes"].dropna()
    assert not sup.duplicated().any(), recs.loc[recs["supersedes"].isin(sup[sup.duplicated()]), ["application_id",
                                                                                                "as_of"]]
    last = recs.sort_values("seq").groupby("application_id").tail(1).set_index("application_id")["as_of"]
    latest = recs.groupby("application_id")["as_of"].max()
    assert (last.reindex(latest.index) == latest).all()


def test_reunderwriting_goes_forward_only(world: dict[str, Any]) -> None:
    """After an all-lines run at the end of the season, the per-crop checkpoints before it are covered (not re-run
    into a forked chain); an explicit earlier --as-of is refused; a later one goes on."""
    c, season, cps = world["county"], world["season"], world["cps"]
    url = f"sqlite:///{world['tmp'] / 'forward.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    end = reunderwrite_county(c, season, cps["pre_harvest"], store=url, models=world["models"])
    assert end.written > 0
    with DecisionStore(url) as st:
        n = st.count()
    ran = reunderwrite_due(date(2009, 12, 16), county=c, store=url, models=world["models"])

    got = {d.crop: (d, res) for d, res in ran}
    assert got["maize"][0].date < cps["pre_harvest"] and got["cotton"][0].date > cps["pre_harvest"]
    assert not got["maize"][1].items and got["maize"][1].warnings == [
        f"maize pre_harvest ({got['maize'][0].date}): covered by the records as of {cps['pre_harvest']}; not run"]
    assert all(res.written == 0 for _, res in ran)  # covered, the same date again (idempotent), or no line
    assert {r.status for r in CheckpointLog(url).rows().itertuples() if r.crop == "maize"} == {"covered",
                                                                                             "superseded"}
    with DecisionStore(url) as st:
        assert st.count() == n
    _one_chain_per_application(url)
    with pytest.raises(UserInputError, match=r"nothing to re-underwrite as of 2009-09-15: .*goes forward only"):
        reunderwrite_county(c, season, date(2009, 9, 15), store=url, models=world["models"])
    later = reunderwrite_county(c, season, cps["end"], store=url, models=world["models"])
    assert later.written > 0
    _one_chain_per_application(url)
    # a re-run of the earlier date (e.g. a killed run restarted) is not refused: it finds its records and adds nothing
    again = reunderwrite_county(c, season, cps["pre_harvest"], store=url, models=world["models"])
    assert again.written == 0 and again.already_present == end.written
    assert not any("skipped" in w for w in again.warnings), again.warnings
    # ... but under another policy (its hash is in every key) they would be new records before the current ones
    import yaml

    from underwriting.policy import DEFAULT_POLICY_PATH, parse_policy

    doc = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    doc["profiles"]["in-kcc"]["advance_rate"] = 0.79
    doc["version"] = "2026.11.1-test"  # a changed policy carries a new version (the store refuses it otherwise)
    with DecisionStore(url) as st:
        n = st.count()
    other = reunderwrite_county(c, season, cps["pre_harvest"], store=url, models=world["models"],
                                policy=parse_policy(doc))
    # the lines re-decided at the end are skipped; lines that matured before the end (decided lines followed no
    # further) have no later record, so the earlier date under the new policy goes on for them
    later_apps = set(later.changes["application_id"])
    assert not {i.application_id for i in other.items} & later_apps
    assert other.written == len(other.items) == end.written - later.written
    assert any(w.startswith(f"{later.written} line(s) skipped") and f"later date (up to {cps['end']})" in w
               for w in other.warnings), other.warnings
    with DecisionStore(url) as st:
        assert st.count() == n + other.written
    _one_chain_per_application(url)
    from pipelines.replay import replay  # replay recomputes decisions; a re-underwriting date says what is there

    with pytest.raises(UserInputError, match=rf"no stored decision of these \d+ application\(s\) as of {cps['end']}"
                                             rf".*nothing to replay \(the records of that date are {later.written} "
                                             r"reunderwrite records; replay recomputes underwriting decisions"):
        replay(c.applications(), c.fields(season), season, cps["end"], policy=default_policy(), profile=c.profile,
               book=c.book(), store=url, imagery=c.imagery)
    # an analyst's override replaced by a later re-underwriting is said (the new limit follows the policy)
    from underwriting.override import override

    app_id = later.items[0].application_id
    with DecisionStore(url) as st:
        head = st.latest(app_id)
        assert head is not None
        # a REFER or DECLINE of a Book line stands on its Book limit (policy 2026.12.8), so confirming its 0 cuts
        # the funded line: a second approver
        override(st, app_id, f"{head.limit / 100:.2f}", "field visit", "analyst-1", approver="analyst-2")
    # a re-run: no new record; the overridden line is said and left out of the changes (it printed the override's
    # limit going back to the policy's, with nothing written)
    same = reunderwrite_county(c, season, cps["end"], store=url, models=world["models"])
    assert same.written == 0 and app_id not in set(same.changes["application_id"]), same.changes
    assert any(w == f"1 line(s) already re-underwritten as of {cps['end']} and replaced since; the newer record "
                    f"stays in force: {app_id} (override)" for w in same.warnings), same.warnings
    assert not any("replaced by this re-underwriting" in w for w in same.warnings), same.warnings
    after = reunderwrite_county(c, season, cps["end"], store=url, models=world["models"], policy=parse_policy(doc))
    mine = next(i for i in after.items if i.application_id == app_id)
    # a REFER or DECLINE that granted nothing on a Book line leaves the line on the override behind it (the export,
    # explain and the report say it stands there): not said replaced — a walkthrough read the warning as the override
    # gone while every other command kept the line at the override's limit
    stands_on_it = mine.outcome in ("REFER", "DECLINE")
    said = any(w.startswith("1 analyst override(s) replaced by this re-underwriting") and app_id in w
               for w in after.warnings)
    assert after.written == later.written and said != stands_on_it, (mine.outcome, after.warnings)
    # an override written while a re-underwriting runs (after it read the store) is said as well
    doc["profiles"]["in-kcc"]["advance_rate"] = 0.78
    # without refer_keeps_book_limit a REFER is a decision in force that replaces the override: said
    doc["profiles"]["in-kcc"]["refer_keeps_book_limit"] = False
    doc["version"] = "2026.11.1-test2"

    def override_meanwhile(msg: str) -> None:
        if msg.startswith("decisions"):
            with DecisionStore(url) as st:
                cur = st.latest(app_id)
                assert cur is not None
                override(st, app_id, f"{cur.limit / 100:.2f}", "second visit", "analyst-1")

    racing = reunderwrite_county(c, season, cps["end"], store=url, models=world["models"], policy=parse_policy(doc),
                                 progress=override_meanwhile)
    assert any(w.startswith("1 analyst override(s) replaced by this re-underwriting") and app_id in w
               for w in racing.warnings), racing.warnings
    _one_chain_per_application(url)


def test_a_run_under_another_token_key_is_refused_before_the_work(world: dict[str, Any], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The cron job's environment file holding another AGCREDIT_TOKEN_KEY than the analyst's shell that underwrote:
    the Book's and the fields' farmers would get other tokens, and each re-underwriting record would follow its
    application under a second identity. Refused in one line (exit 2) before any work, naming both keys' checks
    (never a key); nothing written."""
    import pipelines.featurize as fz
    from features.identity import key_check

    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as st:  # under the tests' key
        st.append(world["first"], operator="underwriter")
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))

    def no_work(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the run was computed")

    monkeypatch.setattr(fz, "featurize", no_work)
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "the-cron-jobs-other-key-0123")
    county, cache = str(world["county"].path), str(world["county"].cache_dir)
    for extra in ([], ["--due", "--today", "2010-02-28"]):
        r = CliRunner().invoke(app, ["reunderwrite", "--county", county, "--cache", cache, "--store", url,
                                     *(extra or ["--as-of", world["cps"]["mid"].isoformat()])])
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith("error: decision store ") and r.stderr.count("\n") == 1, r.stderr
        assert "AGCREDIT_TOKEN_KEY is not the key this store's farmer tokens were made with" in r.stderr
        assert key_check(b"the-cron-jobs-other-key-0123") in r.stderr and "the-cron-jobs" not in r.stderr
    with DecisionStore(url, create=False, read_only=True) as st:
        assert len(st.records(world["season"])) == len(world["first"])
    # readers matching the files' farmers with the store's say why none match
    m = CliRunner().invoke(app, ["monitor", "--county", county, "--cache", cache, "--as-of", "2010-01-15",
                                 "--crop-model", "none", "--store", url])
    assert m.exit_code == 0, m.stderr
    assert ("warning: AGCREDIT_TOKEN_KEY is not the key the store's farmer tokens were made with (key check "
            f"{key_check(b'the-cron-jobs-other-key-0123')}; the store's ") in m.stderr, m.stderr
    assert "the files' farmers will not match their records" in m.stderr
    p = CliRunner().invoke(app, ["report", "portfolio", "--county", county, "--cache", cache, "--store", url,
                                 "--out", str(tmp_path / "report")])
    assert p.exit_code == 2 and p.stderr.count("\n") == 1, p.output
    assert "is of a farmer of the fields given — AGCREDIT_TOKEN_KEY is not the key the store's" in p.stderr


def test_cli(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    runner = CliRunner()
    url = f"sqlite:///{world['tmp'] / 'cli.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    county, cache = str(world["county"].path), str(world["county"].cache_dir)
    args = ["reunderwrite", "--county", county, "--cache", cache, "--as-of", world["cps"]["mid"].isoformat(),
            "--store", url]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "re-underwriting 2009 as of" in r.stdout and "record(s) written" in r.stdout and "alerts:" in r.stdout
    m = runner.invoke(app, ["monitor", "--county", county, "--cache", cache, "--as-of", "2010-01-15",
                            "--crop-model", "none", "--json"])
    assert m.exit_code == 0, m.stderr
    assert m.stdout.strip(), "no alert to check"
    for line in m.stdout.splitlines():
        alert = json.loads(line)
        assert alert["alert"] in ("WATCH", "CROP_FAILURE", "EARLY_HARVEST", "NOT_PLANTED")
        assert isinstance(alert["evidence"], dict) and alert["evidence"], alert  # an object, not JSON text
    # with --store, the decided lines no Book line covers are named as reunderwrite follows them (D-<application>)
    ms = runner.invoke(app, ["monitor", "--county", county, "--cache", cache, "--as-of", "2010-01-15",
                             "--crop-model", "none", "--json", "--store", url])
    assert ms.exit_code == 0, ms.stderr
    plain, named = ([json.loads(x) for x in out.splitlines()] for out in (m.stdout, ms.stdout))
    assert [{k: v for k, v in a.items() if k != "line_id"} for a in plain] == \
        [{k: v for k, v in a.items() if k != "line_id"} for a in named]
    with DecisionStore(url) as st:
        recs = st.records("2009")
    recs = recs[recs["as_of"] <= "2010-01-15"]
    approved = set(recs.loc[recs["outcome"].isin(["APPROVE", "REDUCE"]), "farmer_token"])
    gained = [(a, b) for a, b in zip(plain, named, strict=True) if a["line_id"] != b["line_id"]]
    assert gained, "no alert of a farmer followed only through the store"
    for a, b in gained:
        assert a["line_id"] is None and b["farmer_token"] in approved and b["line_id"].startswith("D-"), (a, b)
    kept = [(a, b) for a, b in zip(plain, named, strict=True) if a["line_id"] is not None]
    assert all(a == b for a, b in kept)  # a farmer with a Book line keeps it
    missing = runner.invoke(app, ["monitor", "--county", county, "--cache", cache, "--as-of", "2010-01-15",
                                  "--crop-model", "none", "--store", f"sqlite:///{world['tmp'] / 'nope.db'}"])
    assert missing.exit_code == 2 and not (world["tmp"] / "nope.db").exists(), missing.stderr
    bad = runner.invoke(app, ["reunderwrite", "--county", county, "--as-of", "2009-13-01"])
    assert bad.exit_code == 2 and "expected a date YYYY-MM-DD" in bad.stderr
    nodue = runner.invoke(app, ["reunderwrite", "--due", "--fields", "f.gpkg", "--imagery", "x", "--book", "b",
                                "--applications", "a", "--store", url])
    assert nodue.exit_code == 2 and nodue.stderr.strip().startswith("error: --due needs --county"), nodue.stderr
    # without any files the advice was "give --fields, --imagery, --book, --applications", which --due cannot take
    bare = runner.invoke(app, ["reunderwrite", "--due", "--store", url])
    assert bare.exit_code == 2 and bare.stderr.strip().startswith("error: --due needs --county"), bare.stderr
    # --due with a season the county does not have, or a --today in the future: one line, nothing recorded
    from pipelines.schedule import CheckpointLog

    before = len(CheckpointLog(url).rows())
    for extra, message in ((["--season", "2099"], "--season 2099: county "),
                           (["--today", "2999-01-01"], "--today 2999-01-01 is after today")):
        r = runner.invoke(app, ["reunderwrite", "--due", "--county", county, "--cache", cache, "--store", url, *extra])
        assert r.exit_code == 2 and r.stderr.startswith(f"error: {message}") and "Traceback" not in r.output, r.output
    # nothing due said "no checkpoint up to it is left to run (none yet, or all have run; ...)": now which, and the next
    early = runner.invoke(app, ["reunderwrite", "--due", "--county", county, "--cache", cache, "--store", url,
                                "--today", "2009-05-20"])
    assert early.exit_code == 0 and early.stdout == (
        "nothing due on 2009-05-20: no checkpoint of season 2009 in in-smallholder is due yet (the next: 2009-06-01 "
        "maize pre_season, rice pre_season)\n"), early.output
    assert len(CheckpointLog(url).rows()) == before


def test_cli_pins_scale_and_haze(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --as-of D --crop-season-scale X --hazy-dates G` re-decides with the crop model's season scale
    and the smoother's haze dates pinned (as `underwrite` does; the records say so); with --due, or a scale without
    a crop model: exit 2, one line, nothing written."""
    from dataclasses import replace
    from datetime import timedelta

    from features.series import season_window
    from pipelines.train_crop import train_crop_type_county

    c: County = world["county"]
    clf = train_crop_type_county(c, register=False, params={"n_estimators": 20, "num_leaves": 7,
                                                             "min_class_count": 1, "period_days": 16}).classifier
    with_crop = replace(world["models"], crop_model=clf, crop_version="crop-type test")
    chosen = {"models": with_crop}
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: chosen["models"]))
    runner = CliRunner()
    county, cache, mid = str(c.path), str(c.cache_dir), world["cps"]["mid"]

    def run(name: str, *extra: str) -> tuple[Any, list[dict[str, Any]]]:
        url = f"sqlite:///{world['tmp'] / f'pin-{name}.db'}"
        with DecisionStore(url) as st:
            st.append(world["first"], operator="underwriter")
        r = runner.invoke(app, ["reunderwrite", "--county", county, "--cache", cache, "--as-of", mid.isoformat(),
                                "--store", url, *extra])
        with DecisionStore(url) as st:
            recs = [st.get(i) for i in st.records()["record_id"]]
        return r, [x.body for x in recs if x is not None and x.kind == "reunderwrite"]

    r, judged = run("judged")
    assert r.exit_code == 0, r.stderr
    assert "(judged on these fields)" in r.stdout
    assert judged and all("smoother_haze_pinned" not in b["provenance"] for b in judged)
    t0 = season_window(world["season"], c.region)[0]
    acq = [date.fromisoformat(d) for d in judged[0]["provenance"]["acquisition_dates"]]
    g = t0 + timedelta(days=5 * ((acq[len(acq) // 2] - t0).days // 5))
    r, pinned = run("pinned", "--crop-season-scale", "2.5", "--hazy-dates", g.isoformat())
    assert r.exit_code == 0, r.stderr
    assert f"smoother haze dates: {g.isoformat()} (pinned)" in r.stdout
    assert pinned and all(b["provenance"]["smoother_hazy_dates"] == [g.isoformat()]
                          and b["provenance"]["smoother_haze_pinned"] is True
                          and "season scale pinned at 2.5" in b["provenance"]["crop_model_version"] for b in pinned)
    scored = [f for b in pinned for f in b["fields"] if f.get("crop_type") is not None]
    assert scored and all(f["crop_season_scale"] == 2.5 for f in scored)
    chosen["models"] = world["models"]  # no crop model
    for name, extra, msg in (("noscale", ["--crop-season-scale", "1.5"], "--crop-season-scale needs a crop-type model"),
                             ("due", ["--due", "--hazy-dates", "none"], "pin one checkpoint's run")):
        url = f"sqlite:///{world['tmp'] / f'pin-bad-{name}.db'}"
        with DecisionStore(url) as st:
            st.append(world["first"], operator="underwriter")
        argv = ["reunderwrite", "--county", county, "--cache", cache, "--store", url, *extra]
        if name != "due":
            argv += ["--as-of", mid.isoformat()]
        r = runner.invoke(app, argv)
        assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        with DecisionStore(url) as st:
            assert st.count() == len(world["first"])
    # a mistyped store is not created: re-underwriting follows stored decisions
    typo = world["tmp"] / "typo.db"
    r = runner.invoke(app, ["reunderwrite", "--county", county, "--cache", cache, "--store", f"sqlite:///{typo}",
                            "--as-of", mid.isoformat()])
    assert r.exit_code == 2 and "no database file there" in r.stderr and not typo.exists(), r.stderr
    r = runner.invoke(app, ["reunderwrite", "--county", county, "--cache", cache, "--store", f"sqlite:///{typo}",
                            "--due", "--today", mid.isoformat()])
    assert r.exit_code == 2 and "no database file there" in r.stderr and not typo.exists(), r.stderr


def test_a_line_of_a_farmer_with_two_applications_follows_the_first() -> None:
    """A Book line of last season's application (not in this season's table) is matched to the farmer's application
    of this season by token; with two applications the LAST row won — the second pledge, which is referred. It
    follows the first by application_id (the holder of the fields), whatever the row order."""
    book = _book(line_id=["L1"], application_id=["P2008-1"], farmer_token=["T1"])
    apps = pd.DataFrame({"application_id": ["A2", "A1"], "season": ["2009"] * 2, "farmer_token": ["T1", "T1"],
                         "currency": ["INR"] * 2})
    out = lines_to_review(book, apps, date(2009, 10, 1), "2009")
    assert out["review_application_id"].tolist() == ["A1"]


def test_today_and_calendar_without_due_are_refused(tmp_path: Path) -> None:
    """--today and --calendar only choose which checkpoints --due runs; with --as-of they were ignored silently."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    for extra in (["--today", "2030-01-01"], ["--calendar", str(tmp_path / "none.csv")]):
        r = CliRunner().invoke(app, ["reunderwrite", "--county", str(tmp_path), "--season", "2009", "--as-of",
                                     "2009-10-25", *extra])
        assert r.exit_code == 2 and "--today and --calendar go with --due" in r.stderr, r.stderr


def test_a_store_that_cannot_be_written_is_refused_before_the_work(world: dict[str, Any], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite` on a store in a folder that cannot be written (an auditor's copy on a read-only mount) built the
    features and decided every line (45 s on the demo) before failing on its first write; now refused first, in one
    line (exit 2), nothing computed or written."""
    import pipelines.featurize as fz

    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 'd.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))

    def no_work(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the run was computed")

    monkeypatch.setattr(fz, "featurize", no_work)
    from tests.underwriting.test_store import deny_folder_write

    deny_folder_write(monkeypatch, folder)
    county, cache = str(world["county"].path), str(world["county"].cache_dir)
    r = CliRunner().invoke(app, ["reunderwrite", "--county", county, "--cache", cache, "--as-of",
                                 world["cps"]["mid"].isoformat(), "--store", url])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: decision store ") and r.stderr.count("\n") == 1
    assert f"its folder {folder} cannot be written" in r.stderr and "nothing was written" in r.stderr
    assert sorted(p.name for p in folder.iterdir()) == before


def test_monitor_with_a_county_does_not_ask_for_the_book_it_read(world: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`monitor --county` reads the county's Book; an alert no line covers said "give --book or --store to follow the
    lines" (us-nebraska demo, as of 2018-06-01 and 07-01: CROP_MISMATCH on two fields of unfunded applications)."""
    import pipelines.monitor as mon

    one = pd.DataFrame({"field_id": ["x"], "season": [world["season"]], "alert": ["CROP_MISMATCH"],
                        "severity": ["high"], "date": [pd.Timestamp(world["cps"]["mid"])], "line_id": [None],
                        "evidence": ["{}"]})
    monkeypatch.setattr(mon, "alerts_as_of", lambda *a, **k: (one, []))
    county, cache = str(world["county"].path), str(world["county"].cache_dir)
    r = CliRunner().invoke(app, ["monitor", "--county", county, "--cache", cache, "--as-of",
                                 world["cps"]["mid"].isoformat(), "--crop-model", "none"])
    assert r.exit_code == 0, r.stderr
    assert "they name no line (give --store to follow the lines)" in r.stderr and "--book" not in r.stderr
    url = f"sqlite:///{world['tmp'] / 'monitor-hint.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    r = CliRunner().invoke(app, ["monitor", "--county", county, "--cache", cache, "--as-of",
                                 world["cps"]["mid"].isoformat(), "--crop-model", "none", "--store", url])
    assert r.exit_code == 0, r.stderr
    assert "covers these 1 alert(s): they name no line\n" in r.stderr and "give" not in r.stderr


def test_open_alerts_act_excludes_an_observed_failure_and_reviews_a_covered_line() -> None:
    """Policy 2026.12.6 (open_alerts_act). The us-nebraska demo at its pre-harvest checkpoint raised a line 19,000 ->
    27,000 with nothing proposed while its maize field had an open CROP_FAILURE alert (and had failed): the yield
    model's value of the field stood, and a covered line was reviewed only when its limit fell below the balance. Now
    the field is excluded (CROP_FAILURE_OBSERVED, the alert's date in its evidence) and the line is reviewed; under
    2026.12.5 both as before."""
    from pipelines.reunderwrite import opens_alerts, with_failures_observed
    from tests.underwriting.test_decisions import application, feature_row, features_frame, run, valuation_row
    from underwriting.policy import ARCHIVE_DIR, load_policy

    covered = dict(new_limit=5_000_000, outstanding=3_000_000, new_outcome="REDUCE", new_maturity=None,
                   line_maturity=None)
    assert propose_actions(**covered, high_alert=True) == ()  # as 2026.12.5 and before
    assert propose_actions(**covered, high_alert=True, review_alerts=True) == ("REVIEW",)
    assert propose_actions(**covered, high_alert=False, review_alerts=True) == ()
    below = dict(covered, new_limit=1_000_000)
    assert propose_actions(**below, high_alert=True, review_alerts=True) == ("FREEZE_UNDRAWN", "REVIEW")
    alerts = pd.DataFrame({"field_id": ["F2", "F1", "F3"], "alert": ["CROP_FAILURE", "WATCH", "NOT_PLANTED"],
                           "severity": ["high", "medium", "high"],
                           "date": pd.to_datetime(["2025-07-02", "2025-07-01", "2025-07-03"])})
    feats = features_frame([feature_row("F1"), feature_row("F2", declared_area_ha=20.0, planted_area_ha=20.0)])
    marked = with_failures_observed(feats, alerts)
    assert marked["crop_failure_observed"].tolist() == [None, "2025-07-02"]
    assert "crop_failure_observed" not in feats.columns  # a copy
    vals = [valuation_row("F1"), valuation_row("F2")]
    item = run(application(), list(marked.to_dict("records")), vals)
    f1, f2 = item.body["fields"]
    assert f2["codes"] == ["CROP_FAILURE_OBSERVED"] and not f2["included"] and f2["expected_value"] == 0
    assert f2["crop_failure_observed"] == "2025-07-02" and "crop_failure_observed" not in f1 and f1["included"]
    assert "CROP_FAILURE_OBSERVED" in item.reason_codes and opens_alerts(item.body)
    # ... and out of the limit: the waterfall's views lacked the new code, so the field stayed in the limit at its
    # claimed value (a review found it) — the limit equals the one with the field excluded for any other reason
    other = features_frame([feature_row("F1"), feature_row("F2", declared_area_ha=20.0, planted_area_ha=20.0,
                                                           noncrop_fraction=1.0)])
    big = application(requested_amount=30_000_000)  # a request the fields cannot cover: the limit is the value's
    failed = run(big, list(marked.to_dict("records")), vals)
    notcrop = run(big, list(other.to_dict("records")), vals)
    healthy = run(big, list(feats.to_dict("records")), vals)
    assert notcrop.body["fields"][1]["codes"] == ["PARCEL_NOT_CROPLAND"]
    assert failed.limit == notcrop.limit < healthy.limit, (failed.limit, notcrop.limit, healthy.limit)
    assert failed.body["computation"]["stressed_value"] == failed.body["fields"][0]["stressed_value"] == \
        notcrop.body["computation"]["stressed_value"]
    assert sum(r["reduction"] for r in failed.body["reasons"]) == 30_000_000 - failed.limit
    assert next(r for r in failed.body["reasons"] if r["code"] == "CROP_FAILURE_OBSERVED")["reduction"] > 0
    old = run(application(), list(marked.to_dict("records")), vals,
              policy=load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.5.yaml"))
    assert all(f["included"] for f in old.body["fields"]) and not opens_alerts(old.body)
    assert "crop_failure_observed" not in old.body["fields"][1]


def test_without_county_the_profile_is_chosen_as_underwrite_chooses_it(tiny_county_sh: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --fields ... --book ... --applications ...` without --profile takes the policy's profile in the
    season's currency (pipelines.underwrite.profile_for_currency, as underwrite does); a mixed currency is refused
    naming the profiles (it said "without --county, give --profile" whatever the currency)."""
    import features.series
    import pipelines._reunderwrite_inputs as inputs  # where reunderwrite_files looks reunderwrite up

    seen: dict[str, Any] = {}

    def fake(**kw: Any) -> Any:
        seen.update(kw)
        raise UserInputError("stop here")

    monkeypatch.setattr(inputs, "reunderwrite", fake)
    monkeypatch.setattr(features.series, "build_series", lambda *_a, **_k: SimpleNamespace(series=pd.DataFrame()))
    rec = tiny_county_sh / "records"
    season = County(tiny_county_sh).current_season
    args = ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", str(tiny_county_sh / "scenes"),
            "--book", str(rec / "book.csv"), "--as-of", f"{season}-09-15"]
    r = CliRunner().invoke(app, [*args, "--applications", str(rec / "applications.csv")])
    assert r.exit_code == 2 and "stop here" in r.stderr, r.stdout + r.stderr
    assert seen["profile"] == "in-kcc"
    apps = pd.read_csv(rec / "applications.csv", dtype=str)
    apps.loc[apps["season"] == season, "currency"] = "USD"
    apps.loc[apps.index[0], "currency"] = "INR"
    apps.loc[apps.index[0], "season"] = season
    mixed = tmp_path / "applications.csv"
    apps.to_csv(mixed, index=False)
    seen.clear()
    r = CliRunner().invoke(app, [*args, "--applications", str(mixed)])
    assert r.exit_code == 2 and not seen, r.stdout + r.stderr
    assert "cannot choose a profile for applications in INR, USD (profiles: " in r.stderr
    assert "in-kcc INR" in r.stderr and "us-operating USD" in r.stderr and "give --profile" in r.stderr


def test_a_book_line_referred_at_underwriting_is_reunderwritten_from_its_book_limit(world: dict[str, Any],
                                                                                    tmp_path: Path) -> None:
    """The walkthrough's defect end to end: a Book line whose application `underwrite` referred (REFER 0) was
    re-underwritten against the REFER — previous REFER 0, its limit change from 0. Under the shipped policy
    (2026.12.8, refer_keeps_book_limit) the record and the change row measure from the Book limit; under the archived
    2026.12.7 the bodies are those of that release (no compared_with, previous limit the REFER's)."""
    from underwriting.policy import ARCHIVE_DIR, load_policy

    c, season, cps = world["county"], world["season"], world["cps"]
    lines = lines_to_review(c.book(), c.applications(), cps["mid"], season)
    apps = set(lines["review_application_id"].astype(str))  # the applications the Book lines follow
    first = [i for i in world["first"] if i.application_id in apps]
    # a Book line's application underwrite referred (made one if it referred none)
    target = next((i for i in first if i.outcome == "REFER"), first[0])
    refer = replace(target, outcome="REFER", limit=0, body={**target.body, "outcome": "REFER"})
    items = [refer if i is target else i for i in world["first"]]
    referred = {i.application_id for i in items if i.outcome in ("REFER", "DECLINE") and i.application_id in apps}
    blocks: dict[str, dict[str, Any]] = {}
    for name, pol in (("new", default_policy()), ("old", load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.7.yaml"))):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        with DecisionStore(url) as st:
            st.append(items, operator="underwriter")
        res = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"], policy=pol,
                                  alert_params=AlertParams(min_band_fields=1))
        with DecisionStore(url) as st:
            blocks[name] = {i.application_id: st.get(str(rid)).body["reunderwrite"]  # type: ignore[union-attr]
                            for i, rid in zip(res.items, res.changes["record_id"], strict=True)}
        ch = res.changes.set_index("application_id")
        assert (ch["change"] == ch["new_limit"] - ch["old_limit"]).all()
        row = ch.loc[refer.application_id]
        if name == "new":
            assert (row["old_limit"], row["old_outcome"]) == (row["book_limit"], "REFER") and row["book_limit"] > 0
            # a re-run adds nothing and prints the rows as the records hold them (the Book limit as the old one)
            again = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"], policy=pol,
                                        alert_params=AlertParams(min_band_fields=1))
            assert again.written == 0 and again.changes.equals(res.changes), res.changes.compare(again.changes)
        else:
            assert (row["old_limit"], row["old_outcome"]) == (0, "REFER")
    new, old = blocks["new"], blocks["old"]
    on_book = {a for a, b in new.items() if b.get("compared_with") == "book"}
    assert refer.application_id in on_book and on_book <= referred and len(new) > len(on_book)
    assert not any("compared_with" in b for b in old.values())
    for a, b in new.items():
        if a in on_book:
            assert b["previous_limit"] == b["book_limit"] and b["skipped_record_id"] == b["previous_record_id"]
            assert old[a]["previous_limit"] == 0 and b["limit_change"] - old[a]["limit_change"] == -b["book_limit"]
        else:
            assert b == old[a]  # a line compared with a decision that granted (a decided line's too): the same block


def test_a_book_line_kept_on_its_refer_stands_on_its_book_limit_in_the_report_and_for_an_override(
        world: dict[str, Any], tmp_path: Path) -> None:
    """End to end on the tiny county: a Book line whose application underwrite referred (REFER 0), kept at a
    re-underwriting the models could not value (a model validated at mid and end only, re-underwriting as of
    emergence), stood on that REFER for the portfolio report (counted at 0) and for an override (confirming it at its
    Book limit was a raise "from a zero limit" needing a second approver). Under the shipped policy (2026.12.8,
    refer_keeps_book_limit) it stands on its Book limit in both; under the archived 2026.12.7 as before."""
    from pipelines.report import ON_BOOK, standing_decisions
    from underwriting.override import OverrideError, override
    from underwriting.policy import ARCHIVE_DIR, load_policy

    c, season, cps, m = world["county"], world["season"], world["cps"], world["models"]
    late = ScoringModels(yield_model=m.yield_model, yield_version="3", yield_run_id="run-3",
                         governance=Governance(crops=tuple(c.crops), regions=(c.region,), checkpoints=("mid", "end")))
    lines = lines_to_review(c.book(), c.applications(), cps["emergence"], season)
    apps = set(lines["review_application_id"].astype(str))
    first = [i for i in world["first"] if i.application_id in apps]
    target = next((i for i in first if i.outcome == "REFER"), first[0])
    refer = replace(target, outcome="REFER", limit=0, body={**target.body, "outcome": "REFER"})
    items = [refer if i is target else i for i in world["first"]]
    for name, pol in (("old", load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.7.yaml")), ("new", default_policy())):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        with DecisionStore(url) as st:
            st.append(items, operator="underwriter")
        res = reunderwrite_county(c, season, cps["emergence"], store=url, models=late, policy=pol,
                                  alert_params=AlertParams(min_band_fields=1))
        row = res.changes.set_index("application_id").loc[refer.application_id]
        assert row["not_reestimated"] != ""  # kept
        book = int(row["book_limit"])
        with DecisionStore(url) as st:
            std = standing_decisions(st.records(season)).set_index("application_id").loc[refer.application_id]
            requested = int(refer.body["application"]["requested_amount"])
            limit = min(book, requested)
            amount = f"{limit // 100}.{limit % 100:02d}"
            if name == "new":
                assert (std["outcome"], std["limit"]) == (ON_BOOK, book) and book > 0
                assert std["skipped_outcome"] == "REFER"
                ov = override(st, refer.application_id, amount, "field visit: crop fine", "ana").body["override"]
                assert (ov["standing_limit"], ov["standing_compared_with"], ov["standing_outcome"]) == (book, "book",
                                                                                                        "REFER")
            else:
                assert (std["outcome"], std["limit"]) == ("REFER", 0) and std.get("skipped_outcome") is None
                with pytest.raises(OverrideError, match=r"from a zero limit"):
                    override(st, refer.application_id, amount, "field visit: crop fine", "ana")
                ov = override(st, refer.application_id, amount, "field visit: crop fine", "ana",
                              approver="bob").body["override"]
                assert ov["standing_limit"] == 0 and "standing_compared_with" not in ov


def test_an_override_behind_a_refer_stands_not_the_book_limit() -> None:
    """A review of refer_keeps_book_limit: an analyst declined a line (an approved override, DECLINE 0), the next
    re-underwriting referred it (REFER 0), and the one after was measured from the Book limit — the line the analyst
    had closed read as cut from 41,000 (CROP_CONDITION_DETERIORATED added). A REFER or DECLINE grants nothing, but an
    override behind it is a decision in force: the change is measured from the override."""
    from pipelines.reunderwrite import ActionRules, _link
    from underwriting.policy import default_policy

    params = {"keep_unvalued_lines": True, "kept_lines_stand": True, "refer_keeps_book_limit": True}
    line = {"line_id": "L7", "limit": 4_100_000, "drawn": 1_000_000, "outstanding": 1_050_000,
            "maturity_date": pd.Timestamp("2010-03-01")}
    no_alerts = pd.DataFrame(columns=["field_id", "alert", "severity"])
    first = SimpleNamespace(limit=4_100_000, outcome="APPROVE", reason_codes=(), record_id="R0", kind="decision",
                            supersedes=None, body={"computation": {"stressed_value": 6_000_000}})
    ov = SimpleNamespace(limit=0, outcome="DECLINE", reason_codes=(), record_id="O1", kind="override",
                         supersedes="R0", body={"computation": {"stressed_value": 6_000_000}})
    ru1 = SimpleNamespace(limit=0, outcome="REFER", reason_codes=("OUT_OF_MODEL_SCOPE",), record_id="RU1",
                          kind="reunderwrite", supersedes="O1",
                          body={"computation": {"stressed_value": 6_000_000}, "policy": {"parameters": params},
                                "reunderwrite": {"previous_limit": 0}})
    by_id = {r.record_id: r for r in (first, ov, ru1)}
    cut = _item(3_000_000, 5_000_000, "2010-01-15")
    cut = replace(cut, body={**cut.body, "policy": {"parameters": params}})
    new, row = _link(cut, ru1, line, no_alerts, default_policy(), date(2009, 10, 25), ActionRules(), by_id.get)
    assert (row["old_limit"], row["change"]) == (0, 3_000_000)
    assert "compared_with" not in new.body["reunderwrite"] and "CROP_CONDITION_DETERIORATED" not in new.reason_codes
    # without the override behind it the REFER is skipped for the Book limit, as before
    ru1.supersedes = "R0"
    new, row = _link(cut, ru1, line, no_alerts, default_policy(), date(2009, 10, 25), ActionRules(), by_id.get)
    assert (row["old_limit"], new.body["reunderwrite"]["compared_with"]) == (4_100_000, "book")


def test_an_active_book_line_of_an_unknown_region_is_refused() -> None:
    """A Book region misspelt `in-smalholder` was re-underwritten silently (a walkthrough), where the fields file
    refuses it; an active line of the season is now refused the same way, naming it — a matured line of another
    region is not read (a review: refusing the whole Book stopped every run over a line long closed)."""
    from pipelines.reunderwrite import lines_to_review

    book = pd.DataFrame({"line_id": ["L1", "L2", "L3"], "application_id": ["A1", "A2", "A3"],
                         "farmer_token": ["T1", "T2", "T3"], "currency": ["INR"] * 3, "limit": [5, 5, 5],
                         "drawn": [0] * 3, "outstanding": [0] * 3,
                         "start_date": pd.to_datetime(["2009-06-01", "2009-06-01", "2007-06-01"]),
                         "maturity_date": pd.to_datetime(["2010-01-15", "2010-01-15", "2008-01-15"]),
                         "crop": ["rice"] * 3, "region": ["in-smalholder", "in-smallholder", "old-region"],
                         "season": ["2009", "2009", "2008"]})
    apps = pd.DataFrame({"application_id": ["A1", "A2"], "farmer_token": ["T1", "T2"], "season": ["2009"] * 2,
                         "currency": ["INR"] * 2})
    with pytest.raises(UserInputError, match=r"^Book: region 'in-smalholder' of active Book lines L1 has no season "
                       r"window \(known regions: in-smallholder, us-nebraska\)"):
        lines_to_review(book, apps, date(2009, 10, 25), "2009")
    fine = lines_to_review(book.iloc[1:], apps, date(2009, 10, 25), "2009")
    assert fine["line_id"].tolist() == ["L2"]


def test_a_reunderwriting_takes_the_prices_known_on_its_date(world: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The season's prices dated after the checkpoint (published later): under the shipped policy (2026.12.9,
    prices_known_at_decision) a re-underwriting as of the checkpoint takes the previous season's price, its market
    block saying so, and nothing is warned; under the archived 2026.12.8 the later price, with the warning."""
    from underwriting.policy import ARCHIVE_DIR, load_policy

    c, season, cps = world["county"], world["season"], world["cps"]
    table = pd.read_csv(Path(__file__).resolve().parents[2] / "models" / "data" / "prices.csv", dtype=str,
                        keep_default_na=False)
    mine = (table["region"] == c.region) & (table["season"] == season)
    assert mine.any()
    later = (cps["mid"] + timedelta(days=30)).isoformat()
    table.loc[mine, "price_date"] = later
    table.loc[mine, "price_per_t"] = [f"{float(x) * 1.5:.2f}" for x in table.loc[mine, "price_per_t"]]
    table.loc[mine, "support_price_per_t"] = ""
    table.to_csv(tmp_path / "prices.csv", index=False)
    monkeypatch.setattr("models.prices.DEFAULT_PRICES", tmp_path / "prices.csv")
    markets: dict[str, list[dict[str, Any]]] = {}
    for name, pol in (("new", default_policy()), ("old", load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.8.yaml"))):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        with DecisionStore(url) as st:
            st.append(world["first"], operator="underwriter")
        res = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"], policy=pol,
                                  alert_params=AlertParams(min_band_fields=1))
        assert res.items
        warned = [w for w in res.warnings if "a lender deciding then did not have it" in w]
        assert bool(warned) == (name == "old"), res.warnings
        markets[name] = [m for i in res.items for m in i.body["market"] if m.get("price_date") is not None]
        assert markets[name]
    assert all(m["price_date"] == later for m in markets["old"])
    assert all(m["price_date"] < cps["mid"].isoformat() and m["season"] == season
               and m["source"].startswith(f"the latest price known on {cps['mid']}: ")
               and f" season {int(season) - 1} (" in m["source"] for m in markets["new"]), markets["new"]


def test_due_on_a_partial_fetch_says_how_to_go_on(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """(A review.) A due checkpoint refused on a partial `imagery fetch` advised --allow-missing-acquisitions, which
    --due refuses: under --due the message says to run that checkpoint alone with it (a later --due then marks it
    covered) or to complete the folder."""
    import pipelines.reunderwrite as ru
    from features.series import MissingAcquisitions

    def partial(c: Any, season: str, as_of: date, **_kw: Any) -> Any:
        raise MissingAcquisitions(days=[(as_of - timedelta(days=1)).isoformat()], folder=Path(c.path) / "scenes")

    monkeypatch.setattr(ru, "reunderwrite_county", partial)
    url = f"sqlite:///{world['tmp'] / 'due-partial.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    with pytest.raises(UserInputError) as got:
        reunderwrite_due(date(2009, 9, 2), county=world["county"], store=url, models=world["models"])
    msg = str(got.value)
    assert "1 acquisition date(s) in the window are recorded missing" in msg and "\n" not in msg
    assert "`agcredit imagery fetch`" in msg and "a later --due then marks it covered" in msg
    assert (f"`agcredit reunderwrite --county {world['county'].path} --season {world['season']} --as-of 2009-"
            in msg and "--allow-missing-acquisitions`" in msg)
    assert "or give --allow-missing-acquisitions" not in msg
    assert not CheckpointLog(url).done()  # nothing marked: the checkpoint stays due


def test_reunderwrite_on_dask_decides_as_on_one_machine(world: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite` was county-scale only (the scheduled job could not use a Dask cluster). With a runner the
    season's series and features are built on spatial blocks (pipelines.distributed.featurize_on) — the records,
    changes and alerts are the single-machine run's, byte for byte (features hash, imagery source and haze dates
    in the provenance included)."""
    import shutil

    from pipelines.distributed import local_runner, runner_from_options
    from underwriting.records import canonical_json

    c, season, cps, url = world["county"], world["season"], world["cps"], world["url"]
    src = Path(str(url).removeprefix("sqlite:///"))

    def run(name: str, **kw: Any) -> Any:
        copy = tmp_path / f"{name}.db"
        shutil.copy(src, copy)
        return reunderwrite_county(c, season, cps["mid"], store=f"sqlite:///{copy}", models=world["models"],
                                   alert_params=AlertParams(min_band_fields=1), **kw)

    import pipelines.distributed as dist

    blocks_run: list[int] = []
    real_series = dist.run_series

    def counted(*a: Any, **kw: Any) -> Any:
        got = real_series(*a, **kw)
        blocks_run.append(got.n_partitions)
        return got

    monkeypatch.setattr(dist, "run_series", counted)
    one = run("one")
    assert len(one.items) > 0 and blocks_run == []

    def said(res: Any) -> tuple[Any, ...]:
        return ([(i.idempotency_key, canonical_json(i.body), i.outcome, i.limit) for i in res.items],
                res.changes.drop(columns="record_id").to_dict("records"), res.alerts.to_dict("records"),
                res.hazy_dates, res.haze_pinned, res.checkpoint, res.written, res.warnings)

    blocks = run("blocks", runner=local_runner(), chunk_fields=3)  # the Dask path's blocks, in this process
    assert said(blocks) == said(one)
    with runner_from_options(None, 1) as cluster:
        dask = run("dask", runner=cluster, chunk_fields=3)
    assert said(dask) == said(one)
    assert len(blocks_run) == 2 and min(blocks_run) > 1  # the features were built on blocks, twice
    assert one.items[0].body["provenance"]["imagery_source"].startswith("scenes (")


def test_cli_reunderwrite_with_workers_prints_and_stores_what_one_machine_does(world: dict[str, Any],
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    """`reunderwrite --workers N` / `--scheduler ADDRESS` (as `value` and `features series` take them): the season's
    series and features on Dask, the same printout and the same stored records as the one-machine run."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    county, cache = str(world["county"].path), str(world["county"].cache_dir)
    out, bodies = {}, {}
    for name, extra in (("one", []), ("dask", ["--workers", "1", "--chunk-fields", "3"])):
        url = f"sqlite:///{tmp_path / name}.db"
        with DecisionStore(url) as st:
            st.append(world["first"], operator="underwriter")
        r = CliRunner().invoke(app, ["reunderwrite", "--county", county, "--cache", cache, "--as-of",
                                     world["cps"]["mid"].isoformat(), "--store", url, *extra])
        assert r.exit_code == 0, r.output
        out[name] = r.stdout
        with DecisionStore(url) as st:
            recs = st.records(world["season"])
        bodies[name] = recs[["record_id", "application_id", "kind", "supersedes", "limit", "body"]].to_dict("records")
    assert "record(s) written" in out["one"] and out["dask"] == out["one"]
    assert bodies["dask"] == bodies["one"]
    both = CliRunner().invoke(app, ["reunderwrite", "--county", county, "--as-of", world["cps"]["mid"].isoformat(),
                                    "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"])
    assert both.exit_code == 2 and "give --scheduler or --workers, not both" in both.stderr


def test_cli_reunderwrite_checks_its_dask_options_before_starting_a_cluster(world: dict[str, Any],
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    """`reunderwrite --due --workers N` started its local cluster before taking the store's run lock (a timer's
    second run spun N processes only to exit); `--workers` with imagery that is no scene folder was refused only
    after the cluster started; `--chunk-fields` without --scheduler/--workers was ignored silently. Now all is
    checked first, one line, exit 2 — and the cluster starts only under the lock."""
    import pipelines.distributed as dist
    from underwriting.store import run_lock

    started: list[Any] = []

    def no_cluster(*a: Any, **kw: Any) -> Any:
        started.append(a)
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(dist, "runner_from_options", no_cluster)
    county, mid = str(world["county"].path), world["cps"]["mid"].isoformat()
    url = f"sqlite:///{tmp_path / 'due.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    with run_lock(url, "reunderwrite --due"):  # a first --due run holds the lock
        r = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", county, "--store", url,
                                     "--today", mid, "--workers", "2"])
    assert r.exit_code == 0 and "in progress" in r.output.lower(), r.output
    assert started == []
    fields = tmp_path / "fields.geojson"
    fields.write_text("{}")
    # a series table, the Statistical API (test_reunderwrite_dask_inputs) and a Process-API download
    # (test_dask_process) are taken since; imagery that is no source at all is still refused before a cluster
    r = CliRunner().invoke(app, ["reunderwrite", "--fields", str(fields), "--imagery", str(tmp_path / "no-scenes"),
                                 "--book", str(tmp_path / "book.csv"), "--applications", str(tmp_path / "apps.csv"),
                                 "--as-of", mid, "--workers", "2"])
    assert r.exit_code == 2 and "no-scenes" in r.stderr, r.output
    assert started == [] and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["reunderwrite", "--county", county, "--as-of", mid, "--store", url,
                                 "--chunk-fields", "3"])
    assert r.exit_code == 2 and "--chunk-fields goes with --scheduler/--workers" in r.stderr, r.output
    assert "Traceback" not in r.output


def test_rejects_holds_a_farmers_lines_and_the_corrected_rerun_adds_no_duplicate(world: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    """`reunderwrite --rejects` (H3): a fields row set aside (an unknown crop) holds its farmer's lines — not
    re-decided on their other fields, listed, written in the rejects file's held_applications; their previous records
    stay the latest; the other lines' records name the rows set aside. A re-run of the same run adds nothing; the
    run after the row is corrected re-decides the held line only (the others' records of the date stand: one record
    per line and date), though the features (hence every record's inputs) changed."""
    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    # the first decisions only (other tests re-underwrite the shared store); the bad row: a field of the farmer below
    url, bad, run = _rejects_setup(world, tmp_path)
    line, fid = _farmer_with_two_fields(world)
    tok, aid = str(line["farmer_token"]), str(line["review_application_id"])
    rej = tmp_path / "rejects.csv"

    with DecisionStore(url) as st:
        before = st.latest(aid)
    res = run(bad, rej)
    assert res.held_lines == [(str(line["line_id"]), aid)]
    n = len(res.items) + 1  # the Book's lines and the store's decided ones
    assert aid not in {i.application_id for i in res.items} and n > 2
    table = pd.read_csv(rej, dtype=str)
    assert table[["field_id", "farmer_token", "held_applications"]].values.tolist() == [[fid, tok, aid]]
    with DecisionStore(url) as st:
        assert before is not None and st.latest(aid).record_id == before.record_id  # type: ignore[union-attr]
        body = st.get(str(res.changes["record_id"].iloc[0])).body  # type: ignore[union-attr]
    assert body["provenance"]["fields_set_aside"]["rows"] == 1
    again = run(bad, rej)
    assert again.written == 0 and again.already_present == len(res.items) and again.held_lines == res.held_lines
    fixed = run(c.path / "records" / "fields.gpkg", None)
    assert [i.application_id for i in fixed.items] == [aid] and fixed.written == 1 and not fixed.held_lines
    assert any("already re-underwritten as of" in w and "by a run that set fields rows aside" in w
               for w in fixed.warnings), fixed.warnings
    with DecisionStore(url) as st:
        recs = st.records(season)
        rec = st.latest(aid)
    at_mid = recs[recs["as_of"] == mid.isoformat()]
    assert not at_mid["application_id"].duplicated().any() and len(at_mid) == n
    assert rec is not None and rec.supersedes == before.record_id and "fields_set_aside" not in rec.body["provenance"]
    assert run(c.path / "records" / "fields.gpkg", None).written == 0  # and that run re-run: nothing


def _farmer_with_two_fields(world: dict[str, Any]) -> tuple[pd.Series, str]:
    """The first line to review at mid-season (by farmer token) whose farmer has two or more fields this season, and
    the first of those fields (by id) — the field `_rejects_setup` makes bad."""
    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    todo = lines_to_review(c.book(), c.applications(), mid, season)
    now = c.fields(season)
    per = now.groupby(now["farmer_token"].astype(str))["field_id"].apply(lambda s: sorted(map(str, s)))
    tok = next(t for t in sorted(todo["farmer_token"].astype(str)) if len(per.get(t, [])) >= 2)
    return todo[todo["farmer_token"].astype(str) == tok].iloc[0], per[tok][0]


def _rejects_setup(world: dict[str, Any], tmp_path: Path, *, earlier: bool = False) -> tuple[Any, ...]:
    """A store with the first decisions only, a fields file with one row made bad (an unknown crop) — of the season,
    or (``earlier``) of an earlier season — and ``run(fields_file, rejects)``, a `reunderwrite --rejects` on mid."""
    import geopandas as gpd

    from features.fields import read_fields_rejecting
    from pipelines.reunderwrite import reunderwrite

    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    url = f"sqlite:///{tmp_path / 'rej.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    if earlier:
        i = int(np.flatnonzero((gdf["season"].astype(str) < season).to_numpy())[0])
    else:
        _line, fid = _farmer_with_two_fields(world)
        i = int(np.flatnonzero(((gdf["season"].astype(str) == season)
                                & (gdf["field_id"].astype(str) == fid)).to_numpy())[0])
    gdf.loc[i, "declared_crop"] = "maise"
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad, driver="GPKG")

    def run(fields_file: Path, rejects: Path | None) -> Any:
        read = read_fields_rejecting(fields_file, rejects, write=False)
        return reunderwrite(season=season, as_of=mid, fields=read.fields, imagery=c.imagery, book=c.book(),
                            applications=c.applications(), store=url, policy=default_policy(), profile=c.profile,
                            cache_dir=c.cache_dir, history=c.past_series(season), models=world["models"],
                            alert_params=AlertParams(min_band_fields=1), yield_history=c.history(),
                            set_aside=read.set_aside, rejects=rejects)

    return url, bad, run


def test_rejects_guard_keeps_an_override_made_since(world: dict[str, Any], tmp_path: Path) -> None:
    """(Review H12, HIGH.) A `--rejects` run on D, an analyst's override of a line it decided, then the corrected run
    on D: the line's record of D by the rejects run is behind the override (``supersedes``), and the line stands —
    the override stays its latest record, no "override(s) replaced" warning; the held line is re-decided."""
    from underwriting.override import override

    url, bad, run = _rejects_setup(world, tmp_path)
    res = run(bad, tmp_path / "rejects.csv")
    assert len(res.held_lines) == 1 and res.items
    (_line, held_aid), other = res.held_lines[0], res.items[0].application_id
    ov = override(url, other, 0, "analyst review of the checkpoint", "analyst1", as_of=world["cps"]["mid"])
    fixed = run(world["county"].path / "records" / "fields.gpkg", None)
    assert [i.application_id for i in fixed.items] == [held_aid], fixed.warnings
    assert not any("override(s) replaced" in w for w in fixed.warnings), fixed.warnings
    assert any("by a run that set fields rows aside" in w for w in fixed.warnings), fixed.warnings
    with DecisionStore(url) as st:
        assert st.latest(other).record_id == ov.record_id  # type: ignore[union-attr]


def test_rejects_row_of_an_earlier_season_stamps_nothing_and_blocks_no_later_run(world: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    """(Review H12, MEDIUM.) A bad fields row of an earlier season holds no line of this one: the records do not
    name it (no ``fields_set_aside``), and a later run on the same date (other inputs) re-decides every line as
    without ``--rejects`` — no line "stands" on that run's records."""
    url, bad, run = _rejects_setup(world, tmp_path, earlier=True)
    res = run(bad, tmp_path / "rejects.csv")
    assert res.held_lines == [] and len(res.set_aside) == 1 and res.items
    with DecisionStore(url) as st:
        for rid in res.changes["record_id"]:
            assert "fields_set_aside" not in st.get(str(rid)).body["provenance"]  # type: ignore[union-attr]
    later = run(world["county"].path / "records" / "fields.gpkg", None)
    assert sorted(i.application_id for i in later.items) == sorted(i.application_id for i in res.items)
    assert not any("by a run that set fields rows aside" in w for w in later.warnings), later.warnings


def test_rejects_guard_reads_held_lines_and_walks_past_overrides() -> None:
    """(Review H12.) The same-date guard: a rejects run's record of the date that held lines (``held_applications``
    not empty, or a record of a release before that entry) stands, also behind overrides; one that held none does
    not, nor one of another date or kind."""
    from pipelines.reunderwrite import _by_rejects_run

    def rec(rid: str, kind: str, sup: str | None, entry: Any = None, day: str = "2009-09-15") -> SimpleNamespace:
        prov = {} if entry is None else {"fields_set_aside": entry}
        return SimpleNamespace(record_id=rid, kind=kind, supersedes=sup, as_of=day, body={"provenance": prov})

    d = date(2009, 9, 15)
    held = rec("R1", "reunderwrite", "D0", {"rows": 1, "held_applications": ["A1"]})
    none = rec("R2", "reunderwrite", "D0", {"rows": 1, "held_applications": []})
    legacy = rec("R3", "reunderwrite", "D0", {"rows": 1})
    other_day = rec("R4", "reunderwrite", "D0", {"rows": 1, "held_applications": ["A1"]}, day="2009-08-01")
    plain = rec("R5", "reunderwrite", "D0")
    recs = {r.record_id: r for r in (held, none, legacy, other_day, plain)}
    o1, o2 = rec("O1", "override", "R1"), rec("O2", "override", "R2")
    recs.update({"O1": o1, "O2": o2, "O3": rec("O3", "override", "O1")})
    assert [_by_rejects_run(r, d, recs.get) for r in (held, none, legacy, other_day, plain)] == [
        True, False, True, False, False]
    assert _by_rejects_run(o1, d, recs.get) and _by_rejects_run(recs["O3"], d, recs.get)
    assert not _by_rejects_run(o2, d, recs.get)
    assert not _by_rejects_run(rec("O9", "override", "gone"), d, recs.get)


def test_a_dated_balance_is_named_where_the_balance_is_shown() -> None:
    """A dated Book (``balance_as_of``): the record's ``reunderwrite`` block and the change row give the balance's
    date; an undated Book's body has no such key (its records stay byte-identical)."""
    prev = SimpleNamespace(limit=5_000_000, outcome="APPROVE", reason_codes=("ROUNDED_TO_STEP",),
                           record_id="Dprev", body={"computation": {"stressed_value": 9_000_000}})
    line = {"line_id": "L1", "limit": 5_000_000, "drawn": 3_000_000, "outstanding": 3_100_000,
            "maturity_date": pd.Timestamp("2010-03-01")}
    no_alerts = pd.DataFrame(columns=["field_id", "alert", "severity"])
    undated, row = _link(_item(2_000_000, 4_000_000, "2010-01-15"), prev, line, no_alerts, default_policy(),
                         date(2009, 9, 15), ActionRules())
    assert "balance_as_of" not in undated.body["reunderwrite"] and row["balance_as_of"] == ""
    dated, drow = _link(_item(2_000_000, 4_000_000, "2010-01-15"), prev,
                        {**line, "balance_as_of": pd.Timestamp("2009-08-31")}, no_alerts, default_policy(),
                        date(2009, 9, 15), ActionRules())
    assert dated.body["reunderwrite"]["balance_as_of"] == "2009-08-31" and drow["balance_as_of"] == "2009-08-31"
    assert {k: v for k, v in dated.body["reunderwrite"].items() if k != "balance_as_of"} == undated.body["reunderwrite"]


def test_a_renewal_is_judged_on_the_balance_of_its_date() -> None:
    """A renewal decision (policy ``renewals_propose_actions``) on a dated Book: the line's balance on the decision's
    date, the ``renewal`` block naming its date; a later balance (October's) is not the June decision's."""
    from pipelines.reunderwrite import renewal_actions
    from underwriting.book import book_as_of

    book = _book(line_id=["L1", "L1"], application_id=["A1", "A1"], farmer_token=["T1", "T1"],
                 outstanding=[600, 4000], drawn=[500, 3900],
                 balance_as_of=[pd.Timestamp("2009-06-20"), pd.Timestamp("2009-10-01")])
    apps = pd.DataFrame({"application_id": ["A1"], "season": ["2009"], "farmer_token": ["T1"], "currency": ["INR"]})
    body = {"policy": {"parameters": {"renewals_propose_actions": True}},
            "computation": {"stressed_value": 1, "maturity_date": "2010-03-01"}}
    item = DecisionItem(idempotency_key="k", application_id="A1", farmer_token="T1", season="2009",
                        as_of="2009-07-01", outcome="REDUCE", limit=1000, currency="INR", reason_codes=(), body=body)
    day = date(2009, 7, 1)
    (out,) = renewal_actions([item], book_as_of(book, day), apps, "2009", day)
    assert out.body["renewal"]["outstanding"] == 600 and out.body["renewal"]["balance_as_of"] == "2009-06-20"
    assert out.body["renewal"]["proposed_actions"] == []  # 1,000 covers June's 600 (not October's 4,000)
    (undated,) = renewal_actions([item], book.drop(columns="balance_as_of").iloc[[1]], apps, "2009", day)
    assert "balance_as_of" not in undated.body["renewal"]


def test_due_refuses_a_balance_dated_after_its_day(tiny_county_sh: Path, tmp_path: Path) -> None:
    """``reunderwrite --due`` runs on today's date: a Book balance dated after it is refused in one line naming the
    file's row and the column (a mistyped year), before any store is opened or checkpoint run."""
    import shutil

    county = tmp_path / "county"
    shutil.copytree(tiny_county_sh, county)
    book = county / "records" / "book.csv"
    rows = book.read_text().splitlines()
    rows = [rows[0] + ",balance_as_of", rows[1] + ",2009-06-01", rows[1] + ",2090-06-01"]  # 2090: mistyped
    book.write_text("\n".join(rows) + "\n")
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    r = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", str(county), "--store", url,
                                 "--today", "2009-09-15"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr == ("error: book.csv: column 'balance_as_of': expected balances dated on or before 2009-09-15 (a "
                        "run on today's date: a balance of a day to come cannot be known), found later dates at "
                        "line 3 (1 in all)\n"), r.stderr
    assert not (tmp_path / "nope.db").exists()


def test_due_refuses_undated_lines_of_every_due_checkpoint_up_front(tiny_county_sh: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A dated Book whose balances are all dated today: a `--due` run catching up checkpoints of earlier dates refused
    at the first of them only after loading the models and the past seasons' series (~55 s on a county), and ran
    none. Now the date of every due checkpoint with lines to re-decide is checked first: refused once, one line naming
    the dates and the lines (exit 2), before models or past series are loaded, nothing marked done."""
    import shutil

    county = tmp_path / "county"
    shutil.copytree(tiny_county_sh, county)
    book = county / "records" / "book.csv"
    rows = book.read_text().splitlines()
    today = "2009-09-02"  # maize mid-season (31 Aug), rice and cotton emergence are due
    book.write_text("\n".join([rows[0] + ",balance_as_of", *(r + f",{today}" for r in rows[1:])]) + "\n")

    def loaded(*_a: Any, **_kw: Any) -> Any:
        raise AssertionError("loaded before the Book was checked")

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(loaded))
    monkeypatch.setattr(County, "past_series", loaded)
    url = f"sqlite:///{tmp_path / 'due.db'}"
    DecisionStore(url).close()
    r = CliRunner().invoke(app, ["reunderwrite", "--due", "--county", str(county), "--store", url, "--today", today])
    assert r.exit_code == 2 and "Traceback" not in r.output and "AssertionError" not in r.output, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == "", r.output
    # the dates of the checkpoints that re-decide a line: the maize line at maize mid-season (rice and cotton
    # emergence, due too, have no line to re-decide: their dates were named as well)
    assert r.stderr == ("error: Book: 1 line(s) open on 2009-08-31 have every balance dated after it (column "
                        "balance_as_of): give each a balance dated on or before 2009-08-31 (its opening balance, dated "
                        "start_date, will do) — the run compares the new limit with the balance on its date: "
                        "L2009-00004 (1 in all)\n"), r.stderr
    assert len(CheckpointLog(url).done()) == 0


def test_due_checks_the_book_only_on_the_checkpoints_it_decides(world: dict[str, Any], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A dated Book whose maize line's only balance is dated 2009-08-20: open without one on the rice (08-01) and
    cotton (08-15) emergence checkpoints a `--due` run of 2009-09-02 catches up — checkpoints with no line of theirs to
    re-decide (the store holds no decision). The up-front check refused the whole run over those two dates; it now
    checks the dates of the checkpoints that re-decide lines (maize mid-season, 08-31, where the balance is known):
    rice and cotton logged with no lines, the maize line re-decided on its balance of 08-20."""
    c = world["county"]
    dated = c.book().assign(balance_as_of=pd.Timestamp("2009-08-20"))
    monkeypatch.setattr(County, "book", lambda self, **_kw: dated)
    url = f"sqlite:///{tmp_path / 'due-dated.db'}"
    DecisionStore(url).close()
    day = date(2009, 9, 2)
    ran = reunderwrite_due(day, county=c, store=url, models=world["models"])
    got = {(d.crop, d.date.isoformat()): len(r.items) for d, r in ran}
    assert got == {("rice", "2009-08-01"): 0, ("cotton", "2009-08-15"): 0, ("maize", "2009-08-31"): 1}, got
    maize = next(r for d, r in ran if d.crop == "maize")
    assert maize.items[0].body["reunderwrite"]["balance_as_of"] == "2009-08-20"
    log = CheckpointLog(url).rows()
    log = log[log["status"] != "superseded"]
    assert sorted(zip(log["crop"], log["status"], strict=True)) == [("cotton", "no_lines"), ("maize", "ran"),
                                                                     ("rice", "no_lines")]
    # the maize line's balance after its own checkpoint too: that date is decided on, refused up front, nothing run
    later = c.book().assign(balance_as_of=pd.Timestamp("2009-09-01"))
    monkeypatch.setattr(County, "book", lambda self, **_kw: later)
    url2 = f"sqlite:///{tmp_path / 'due-later.db'}"
    DecisionStore(url2).close()
    with pytest.raises(UserInputError, match=r"open on 2009-08-31 have every balance dated after it"):
        reunderwrite_due(day, county=c, store=url2, models=world["models"])
    assert len(CheckpointLog(url2).rows()) == 0


def test_as_of_refuses_undated_lines_before_the_past_series(world: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --as-of` (a county, a files run) with a line open on the date and every balance dated later:
    refused before the past seasons' series are read or built (it was after them)."""
    c, mid = world["county"], world["cps"]["mid"]
    later = c.book().assign(balance_as_of=pd.Timestamp(mid + timedelta(days=5)))

    def loaded(*_a: Any, **_kw: Any) -> Any:
        raise AssertionError("past series read before the Book was checked")

    monkeypatch.setattr(County, "past_series", loaded)
    monkeypatch.setattr(County, "book", lambda self, **_kw: later)
    url = f"sqlite:///{tmp_path / 'later.db'}"
    DecisionStore(url).close()
    with pytest.raises(UserInputError, match=f"open on {mid} have every balance dated after it"):
        reunderwrite_county(c, world["season"], mid, store=url, models=world["models"])
    book = tmp_path / "book.csv"
    rows = (c.path / "records" / "book.csv").read_text().splitlines()
    book.write_text("\n".join([rows[0] + ",balance_as_of", *(r + f",{mid + timedelta(days=5)}" for r in rows[1:])])
                    + "\n")
    monkeypatch.setattr("features.series.build_series", loaded)
    rec = c.path / "records"
    r = CliRunner().invoke(app, ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", str(c.imagery),
                                 "--book", str(book), "--applications", str(rec / "applications.csv"),
                                 "--weather", str(c.path / "weather" / "daily.csv"), "--as-of", mid.isoformat(),
                                 "--store", url])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"open on {mid} have every balance dated after it" in r.stderr, r.stderr


def test_a_reunderwriting_takes_the_balance_of_its_date(world: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Book with a balance history (``balance_as_of``): `reunderwrite --as-of` a past date compared the new limit
    with the Book file's balance whatever the date (October's at a mid-season run); now with each line's latest
    balance dated on or before the run's date, the date shown in the change table and kept in the record. A line
    open on the date whose every balance is later is refused in one line naming it (exit 2, nothing written)."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    undated = c.book()
    line = str(undated["line_id"].iloc[0])
    before, after = mid - timedelta(days=10), mid + timedelta(days=20)
    dated = pd.concat([undated.assign(outstanding=1_234_500, drawn=1_200_000, balance_as_of=pd.Timestamp(before)),
                       undated.assign(outstanding=9_999_900, drawn=9_900_000, balance_as_of=pd.Timestamp(after))],
                      ignore_index=True)
    url = f"sqlite:///{tmp_path / 'dated.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    monkeypatch.setattr(County, "book", lambda self, **_kw: dated)
    args = ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of", mid.isoformat(),
            "--store", url]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "balance as of" in r.stdout
    shown = next(x for x in r.stdout.splitlines() if x.startswith(line))
    assert "12,345.00" in shown and before.isoformat() in shown and "99,999.00" not in shown, shown
    with DecisionStore(url) as st:
        recs = st.records(season)
    rec = recs[(recs["kind"] == "reunderwrite") & recs["body"].str.contains(f'"line_id":"{line}"')]
    assert len(rec) == 1
    ru = json.loads(rec["body"].iloc[0])["reunderwrite"]
    assert (ru["outstanding"], ru["drawn"], ru["balance_as_of"]) == (1_234_500, 1_200_000, before.isoformat())
    # only the later balance: the line was open on the date, its balance then unknown — refused, nothing written
    url2 = f"sqlite:///{tmp_path / 'later.db'}"
    with DecisionStore(url2) as st:
        st.append(world["first"], operator="underwriter")
    monkeypatch.setattr(County, "book", lambda self, **_kw: dated.iloc[[1]].reset_index(drop=True))
    r2 = CliRunner().invoke(app, [*args[:-1], url2])
    assert r2.exit_code == 2 and "Traceback" not in r2.output, r2.output
    assert r2.stderr.strip() == (f"error: Book: 1 line(s) open on {mid} have every balance dated after it (column "
                                 f"balance_as_of): give each a balance dated on or before {mid} (its opening balance, "
                                 "dated start_date, will do) — the run compares the new limit with the balance on its "
                                 f"date: {line} (1 in all)"), r2.stderr
    with DecisionStore(url2) as st:
        assert len(st.records(season)) == len(world["first"])


class _Killed(BaseException):
    """A SIGKILL's stand-in: nothing after it runs (no except clause of the code catches a BaseException of this)."""


def test_due_killed_between_storing_and_logging_is_logged_as_run(world: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A `--due` run killed after storing a checkpoint's records and before its log entry: the re-run found the
    records (dated the checkpoint's day) and logged the checkpoint `covered`, 0 lines — an uninterrupted run logs it
    `ran` with its lines. Now the re-run re-checks those records (adds nothing) and logs as the uninterrupted run:
    the same log (but for the clock time) and the same records."""
    day = date(2009, 9, 2)  # maize mid-season, rice and cotton emergence due
    urls = [f"sqlite:///{world['tmp'] / f'due-kill-{i}.db'}" for i in (0, 1)]
    for url in urls:
        with DecisionStore(url) as st:
            st.append(world["first"], operator="underwriter")
    whole = reunderwrite_due(day, county=world["county"], store=urls[0], models=world["models"])
    assert sum(len(r.items) for _, r in whole) > 0
    real = CheckpointLog.mark

    def killed(self: CheckpointLog, *a: Any, **k: Any) -> None:  # at the first checkpoint that stored records
        if k["n_lines"]:
            raise _Killed
        real(self, *a, **k)

    monkeypatch.setattr(CheckpointLog, "mark", killed)
    with pytest.raises(_Killed):
        reunderwrite_due(day, county=world["county"], store=urls[1], models=world["models"])
    monkeypatch.setattr(CheckpointLog, "mark", real)
    before = CheckpointLog(urls[1]).rows()
    assert "ran" not in set(before["status"])
    with DecisionStore(urls[1]) as st:
        first_stored = st.count()
    assert first_stored > len(world["first"])  # the first checkpoint's records were stored
    again = reunderwrite_due(day, county=world["county"], store=urls[1], models=world["models"])
    assert [r.covered_by for _, r in again] == [None] * len(again)
    logged_before = {(r.crop, r.checkpoint) for r in before.itertuples()}
    assert [(d, len(r.items)) for d, r in again] == [(d, len(r.items)) for d, r in whole
                                                     if (d.crop, d.checkpoint) not in logged_before]
    assert all(r.written == 0 for d, r in again[:1]) and again[0][1].already_present == len(again[0][1].items) > 0

    def logged(url: str) -> list[tuple[Any, ...]]:
        rows = CheckpointLog(url).rows().drop(columns="ran_at")
        return sorted(map(tuple, rows.itertuples(index=False)))

    assert logged(urls[1]) == logged(urls[0])
    assert "covered" not in {r[4] for r in logged(urls[1])}

    def logged_ids(url: str) -> list[tuple[Any, ...]]:  # the records each run wrote or found (the replay's key)
        import sqlalchemy as sa

        from pipelines.schedule import RECORDS_TABLE

        engine = sa.create_engine(url)
        try:
            with engine.connect() as c:
                return sorted(map(tuple, c.execute(sa.text(f"SELECT * FROM {RECORDS_TABLE}")).all()))
        finally:
            engine.dispose()

    assert logged_ids(urls[1]) == logged_ids(urls[0]) and len(logged_ids(urls[0])) == sum(len(r.items)
                                                                                        for _, r in whole)

    def bodies(url: str) -> dict[str, str]:
        with DecisionStore(url) as st:
            recs = st.records(world["season"])
            assert st.verify().ok
        return dict(zip(recs["record_id"], recs["body"], strict=True))

    assert bodies(urls[1]) == bodies(urls[0])  # nothing duplicated, nothing missing
    _one_chain_per_application(urls[1])


def test_as_of_a_past_date_decides_with_the_champions_in_force_on_it(world: dict[str, Any], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``reunderwrite --as-of D`` re-decided with today's champions whatever D; it now takes each model the run
    resolves by alias as the champion in force on D (by its promotion's effective date), says which, and the records
    name it — a run with the versions they name decides the same bodies. ``--due``: each checkpoint by its date."""
    from models import registry

    (tmp_path / "reg").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'reg' / 'mlflow.db'}")
    m, cps, c, season = world["models"], world["cps"], world["county"], world["season"]
    for _ in range(2):
        registry.register(m.yield_model, "yield-value", metrics={"r2": 0.5}, governance=m.governance)
    registry.promote("yield-value", 1, effective=cps["emergence"])
    registry.promote("yield-value", 2, effective=cps["end"])
    base = ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir)]

    def copy(name: str) -> str:  # a copy of the world's store; the records other tests wrote in it left aside
        url = store_copy(world, tmp_path, name)
        with DecisionStore(url) as st:
            had[url] = set(st.records(season)["record_id"])
        return url

    had: dict[str, set[str]] = {}

    def versions(url: str) -> dict[str, set[str]]:  # as_of -> the yield-value versions this run's records name
        with DecisionStore(url) as st:
            recs = st.records(season)
        out: dict[str, set[str]] = {}
        for rid, as_of, kind, body in zip(recs["record_id"], recs["as_of"], recs["kind"], recs["body"], strict=True):
            if kind == "reunderwrite" and rid not in had[url]:
                b = json.loads(body) if isinstance(body, str) else body
                out.setdefault(as_of, set()).update(str(x["version"]) for x in b["models"] if x["name"] == "yield-value")
        return out

    mid = copy("mid")
    r = CliRunner().invoke(app, [*base, "--as-of", cps["mid"].isoformat(), "--store", mid])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert (f"models: yield-value version 1, the champion of {cps['mid']} by effective date (today's: 2)"
            in r.stdout.splitlines()), r.stdout
    assert versions(mid) == {cps["mid"].isoformat(): {"1"}}
    end = copy("end")
    r = CliRunner().invoke(app, [*base, "--as-of", cps["end"].isoformat(), "--store", end])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"models: the champion of {cps['end']} by effective date (today's too)" in r.stdout.splitlines()
    assert versions(end) == {cps["end"].isoformat(): {"2"}}
    # the versions the records name reproduce them byte for byte (a run with those models given: no dated lookup)
    named = ScoringModels.resolve(alias="1", crop_model="none", weather=c.weather())
    pinned = copy("pinned")
    res = reunderwrite_county(c, season, cps["mid"], store=pinned, models=named)
    assert res.models_said is None
    with DecisionStore(mid) as a, DecisionStore(pinned) as b:
        ra, rb = a.records(season), b.records(season)
    pick = lambda recs, url: sorted(recs.loc[(recs["kind"] == "reunderwrite") & ~recs["record_id"].isin(had[url]),  # noqa: E731
                                             "body"].map(str))
    assert pick(ra, mid) and pick(ra, mid) == pick(rb, pinned)
    # --due: each checkpoint decided with the champion in force on its date (all before the end's promotion here)
    due = f"sqlite:///{tmp_path / 'due.db'}"  # a store of its own: other tests' runs marked checkpoints done in theirs
    DecisionStore(due).close()
    had[due] = set()
    r = CliRunner().invoke(app, [*base, "--due", "--store", due, "--today", cps["mid"].isoformat()])
    assert r.exit_code == 0, r.stdout + r.stderr
    got = versions(due)
    assert got and all(v == {"1"} for v in got.values()), got
    assert "models: yield-value version 1, the champion of" in r.stdout
    # a checkpoint before any promotion is in force: today's champion, said as a warning line (it was only in the
    # `models:` line: --due resolved with its warnings dropped)
    (tmp_path / "reg2").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'reg2' / 'mlflow.db'}")
    registry.register(m.yield_model, "yield-value", metrics={"r2": 0.5}, governance=m.governance)
    registry.promote("yield-value", 1, effective=cps["end"])
    due2 = f"sqlite:///{tmp_path / 'due2.db'}"
    DecisionStore(due2).close()
    r = CliRunner().invoke(app, [*base, "--due", "--store", due2, "--today", cps["mid"].isoformat()])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "warning: yield-value version 1, today's champion, used as of" in r.stdout + r.stderr, r.stdout + r.stderr
    # every run above was given --cache: none wrote a cache into the county folder (--due did, into <county>/.cache)
    assert not (c.path / ".cache").exists()


def test_as_of_checks_the_book_only_when_it_re_decides_lines(world: dict[str, Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain `reunderwrite --as-of D` (not `--due`) refused a dated Book's line open on D without a balance on or
    before it even when D had no line to re-decide (here: the Book's lines are of the season before, still open).
    Now, as a `--due` checkpoint, the Book is refused only when D has lines to re-decide: without, the run says it
    has none (exit 0, nothing stored); with, the same one-line refusal (exit 2) before the past seasons' series, and
    nothing stored."""
    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    later = c.book().assign(balance_as_of=pd.Timestamp(mid + timedelta(days=5)))
    earlier_season = later.assign(season=str(int(season) - 1))
    monkeypatch.setattr(County, "book", lambda self, **_kw: earlier_season)
    url = f"sqlite:///{tmp_path / 'none.db'}"
    DecisionStore(url).close()
    args = ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of", mid.isoformat(),
            "--store", url]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert f"warning: no active line to re-underwrite on {mid}" in r.stderr, r.stderr
    assert "0 line(s), 0 record(s) written" in r.stdout, r.stdout
    with DecisionStore(url) as st:
        assert len(st.records(season)) == 0
    # the files run alike: the Book file's lines of the season before, every balance after D
    book = tmp_path / "book.csv"
    rows = (c.path / "records" / "book.csv").read_text().splitlines()
    col = rows[0].split(",").index("season")

    def row(r: str, s: str) -> str:
        cells = r.split(",")
        cells[col] = s
        return ",".join(cells) + f",{mid + timedelta(days=5)}"

    book.write_text("\n".join([rows[0] + ",balance_as_of", *(row(x, str(int(season) - 1)) for x in rows[1:])])
                    + "\n")
    rec = c.path / "records"
    files = ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", str(c.imagery), "--book", str(book),
             "--applications", str(rec / "applications.csv"), "--weather", str(c.path / "weather" / "daily.csv"),
             "--cache", str(c.cache_dir), "--as-of", mid.isoformat(), "--store", url]
    r = CliRunner().invoke(app, files)
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert f"warning: no active line to re-underwrite on {mid}" in r.stderr, r.stderr
    with DecisionStore(url) as st:
        assert len(st.records(season)) == 0

    # lines of the season to re-decide on D: refused before the past seasons' series, nothing stored
    def loaded(*_a: Any, **_kw: Any) -> Any:
        raise AssertionError("past series read before the Book was checked")

    monkeypatch.setattr(County, "past_series", loaded)
    monkeypatch.setattr("features.series.build_series", loaded)
    monkeypatch.setattr(County, "book", lambda self, **_kw: later)
    refusal = (f"error: Book: {len(later)} line(s) open on {mid} have every balance dated after it (column "
               f"balance_as_of): give each a balance dated on or before {mid} (its opening balance, dated start_date, "
               f"will do) — the run compares the new limit with the balance on its date: ")
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "Traceback" not in r.output and "AssertionError" not in r.output, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(refusal), r.stderr
    book.write_text("\n".join([rows[0] + ",balance_as_of", *(row(x, season) for x in rows[1:])]) + "\n")
    r = CliRunner().invoke(app, files)
    assert r.exit_code == 2 and "Traceback" not in r.output and "AssertionError" not in r.output, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(refusal), r.stderr
    with DecisionStore(url) as st:
        assert len(st.records(season)) == 0
    # every line covered by records dated after D: the run's own refusal (goes forward only), before the work too
    covered = f"sqlite:///{tmp_path / 'covered.db'}"
    with DecisionStore(covered) as st:
        st.append([replace(i, as_of=(mid + timedelta(days=30)).isoformat(), idempotency_key=f"{i.idempotency_key}-l")
                   for i in world["first"]], operator="underwriter")
    r = CliRunner().invoke(app, [*args[:-1], covered])
    assert r.exit_code == 2 and "Traceback" not in r.output and "AssertionError" not in r.output, r.output
    assert r.stderr.startswith(f"error: nothing to re-underwrite as of {mid}: ") and "goes forward only" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_due_after_a_plain_run_of_a_checkpoints_date_logs_it_covered(world: dict[str, Any]) -> None:
    """A plain `reunderwrite --as-of D` (every line) on a checkpoint's date D, then `--due`: the checkpoint was run
    again over the plain run's records (taken for a `--due` run killed before logging them: "N already present") and
    logged `ran`, where README says a checkpoint whose lines were decided on or after its date is logged `covered`
    and not run; its skipped lines were said to have records "as of a later date" (the same date; a walkthrough)."""
    day = date(2009, 9, 2)  # maize mid-season (08-31) due, rice and cotton their emergence checkpoints
    url = f"sqlite:///{world['tmp'] / 'due-after-plain.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    mid = date(2009, 8, 31)
    plain = reunderwrite_county(world["county"], world["season"], mid, store=url, models=world["models"])
    assert plain.written > 0
    with DecisionStore(url) as st:
        n = st.count()
    said: list[str] = []
    ran = reunderwrite_due(day, county=world["county"], store=url, models=world["models"], progress=said.append)
    maize = next(r for d, r in ran if d.crop == "maize")
    assert maize.covered_by is not None and not maize.items, (maize.covered_by, said)
    log = CheckpointLog(url).rows()
    assert set(log.loc[(log["crop"] == "maize") & (log["checkpoint"] == "mid_season"), "status"]) == {"covered"}
    assert not any("later date (up to 2009-08-31)" in m for m in said), said
    with DecisionStore(url) as st:
        assert st.count() == n + sum(r.written for _, r in ran) and st.verify().ok
    _one_chain_per_application(url)


def test_a_run_of_the_same_checkpoint_committing_meanwhile_is_not_read_as_replaced_since(world: dict[str, Any],
                                                                                         tmp_path: Path) -> None:
    """Two runs of one checkpoint at once (a review, on PostgreSQL): the other run committed between this run's read
    of an application's latest record and its look-up of this date's record — the line read as "already
    re-underwritten … and replaced since", left out of the counts. Read again, it is the re-run it is."""
    c, season, cps = world["county"], world["season"], world["cps"]
    url = f"sqlite:///{tmp_path / 'race.db'}"  # the first decisions only (other tests add checkpoints to the world's)
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    first = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"],
                                alert_params=AlertParams(min_band_fields=1))
    assert first.written > 0

    class CommittedMeanwhile(DecisionStore):
        """latest() answers once per application as before the other run committed (its first records)."""

        seen: set[str] = set()

        def latest(self, application_id: str, as_of: Any = None) -> Any:
            if application_id in self.seen or as_of is None:
                return super().latest(application_id, as_of=as_of)
            self.seen.add(application_id)
            return super().latest(application_id, as_of=cps["mid"] - timedelta(days=1))

    with CommittedMeanwhile(url, create=False, writer=True) as st:
        again = reunderwrite_county(c, season, cps["mid"], store=st, models=world["models"],
                                    alert_params=AlertParams(min_band_fields=1))
    assert again.written == 0 and again.already_present == first.written, (again.written, again.already_present)
    assert not any("replaced since" in w for w in again.warnings), again.warnings


def test_a_run_of_the_same_checkpoint_committing_after_the_first_look_is_not_read_as_replaced_since(
        world: dict[str, Any], tmp_path: Path) -> None:
    """A review (session 77, on PostgreSQL): the fix above re-read the latest record only when this date's record was
    seen at the first look; the other run committing between that look and a second one still read as "replaced
    since". The record is looked up once: not there then, the line is appended again and counted already present."""
    c, season, cps = world["county"], world["season"], world["cps"]
    url = f"sqlite:///{tmp_path / 'race2.db'}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    first = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"],
                                alert_params=AlertParams(min_band_fields=1))
    with DecisionStore(url) as st:
        theirs = {r for r in st.records()["record_id"]} if first.written else set()
        theirs = {r for r in theirs if (rec := st.get(r)) is not None and rec.kind == "reunderwrite"}
    assert first.written > 0 and theirs

    class CommittedAfterTheFirstLook(DecisionStore):
        """Each application's latest record and each of the other run's records answered once as before it
        committed."""

        seen: set[str] = set()

        def latest(self, application_id: str, as_of: Any = None) -> Any:
            if application_id in self.seen or as_of is None:
                return super().latest(application_id, as_of=as_of)
            self.seen.add(application_id)
            return super().latest(application_id, as_of=cps["mid"] - timedelta(days=1))

        def get(self, record_id: str) -> Any:
            if record_id in theirs and record_id not in self.seen:
                self.seen.add(record_id)
                return None
            return super().get(record_id)

    with CommittedAfterTheFirstLook(url, create=False, writer=True) as st:
        again = reunderwrite_county(c, season, cps["mid"], store=st, models=world["models"],
                                    alert_params=AlertParams(min_band_fields=1))
    assert again.written == 0 and again.already_present == first.written, (again.written, again.already_present)
    assert not any("replaced since" in w for w in again.warnings), again.warnings


def test_a_failed_run_leaves_no_features_file_no_record_refers_to(world: dict[str, Any], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A run failing once its features are written (here: when its records are stored) removes the features file it
    wrote — as `underwrite` does — and only that one (a failed run had left a 935 kB Parquet file no record names)."""
    from pipelines.underwrite import artifacts_dir

    c, season, cps = world["county"], world["season"], world["cps"]
    url = store_copy(world, tmp_path, "fails")
    monkeypatch.setenv("AGCREDIT_ARTIFACTS_DIR", str(tmp_path / "art"))
    feats = artifacts_dir(url) / "features"
    feats.mkdir(parents=True)
    (feats / "other.parquet").write_bytes(b"another run's")

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("store went away")

    monkeypatch.setattr(DecisionStore, "append", refuse)
    with pytest.raises(RuntimeError, match="store went away"):
        reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"])
    assert sorted(p.name for p in feats.iterdir()) == ["other.parquet"]
    monkeypatch.undo()
    monkeypatch.setenv("AGCREDIT_ARTIFACTS_DIR", str(tmp_path / "art"))
    res = reunderwrite_county(c, season, cps["mid"], store=url, models=world["models"])
    assert res.items and len(list(feats.iterdir())) == 2  # stored (or found stored): its file kept
