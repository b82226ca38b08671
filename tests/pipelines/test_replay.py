"""compare_bodies: which parts of a decision body differ, field by field, apart from the run's provenance."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pipelines._replay_common import judge_replay
from pipelines.replay import compare_bodies
from underwriting.records import canonical_json


def test_compare_bodies_names_parts_fields_and_provenance() -> None:
    a = {"schema": 1, "limit": 100, "provenance": {"run": "underwrite 2009 2009-09-15", "features_sha256": "f1"},
         "fields": [{"field_id": "F1", "crop_type_prob": 0.9, "planted_area_ha": 1.0}, {"field_id": "F2"}],
         "input_hashes": {"features": "h", "provenance": "p1", "snapshot": "s1"}}
    b = copy.deepcopy(a)
    assert compare_bodies(a, b) == ([], [])
    b["provenance"]["run"] = "replay"
    b["input_hashes"].update(provenance="p2", snapshot="s2")  # derived from the provenance: not a decision input
    assert compare_bodies(a, b) == ([], ["run"])
    b["fields"][0]["crop_type_prob"] = 0.8
    del b["fields"][1]
    b["fields"].append({"field_id": "F3"})
    b["limit"] = 50
    b["input_hashes"]["features"] = "h2"
    parts, prov = compare_bodies(a, b)
    assert parts == ["fields[F1].crop_type_prob", "fields[F2] missing", "fields[F3] added", "input_hashes", "limit"]
    assert prov == ["run"]


def test_a_record_of_body_schema_1_is_judged_against_the_replay_written_under_it() -> None:
    """A record an earlier release wrote (schema /1: no model P90) is compared with the replayed body written under
    /1: identical when nothing else differs, a moved P50 still differs; a record of /2 is compared as replayed; a
    schema this release does not know is compared as replayed (its schema part differs)."""
    fields = [{"field_id": "F1", "model_yield_p50_t_ha": 5.0, "model_yield_p10_t_ha": 3.0,
               "model_yield_p90_t_ha": 7.0}]
    replayed = {"schema": "agcredit.decision-body/2", "limit": 100, "provenance": {"run": "r"}, "fields": fields}
    old = copy.deepcopy(replayed)
    old["schema"] = "agcredit.decision-body/1"
    del old["fields"][0]["model_yield_p90_t_ha"]
    assert judge_replay(old, canonical_json(old), replayed) == ("identical", [], [])
    assert "model_yield_p90_t_ha" in replayed["fields"][0]  # the replayed body itself is left as it was
    assert judge_replay(replayed, canonical_json(replayed), replayed) == ("identical", [], [])
    new_no_p90 = copy.deepcopy(old)
    new_no_p90["schema"] = "agcredit.decision-body/2"  # a /2 record without its P90 is not what /2 writes
    assert judge_replay(new_no_p90, canonical_json(new_no_p90), replayed) == (
        "differs", ["fields[F1].model_yield_p90_t_ha"], [])
    moved = copy.deepcopy(old)
    moved["fields"][0]["model_yield_p50_t_ha"] = 5.5
    assert judge_replay(moved, canonical_json(moved), replayed) == ("differs", ["fields[F1].model_yield_p50_t_ha"], [])
    prov = copy.deepcopy(old)
    prov["provenance"]["run"] = "other"
    assert judge_replay(prov, canonical_json(prov), replayed) == ("reproduced", [], ["run"])
    later = copy.deepcopy(replayed)
    later["schema"] = "agcredit.decision-body/9"
    assert judge_replay(later, canonical_json(later), replayed) == ("differs", ["schema"], [])


def test_recorded_pins_and_season_calibration() -> None:
    """recorded_pins reads the one crop season scale and haze-date set of a run's records (several: a user error);
    a model without season calibration (vector-scaled, or older) has no scale to pin."""
    from types import SimpleNamespace

    import pytest

    from features._crop_season import has_season_calibration
    from features.errors import UserInputError
    from pipelines.replay import recorded_pins

    def body(scale: float | None, hazy: list[str] | None) -> dict[str, object]:
        prov = {} if hazy is None else {"smoother_hazy_dates": hazy}
        return {"fields": [{"field_id": "F1", "crop_season_scale": scale}, {"field_id": "F2"}], "provenance": prov}

    assert recorded_pins([body(1.42, ["2009-08-03"]), body(1.42, ["2009-08-03"])]) == (
        1.42, [dt.date(2009, 8, 3)])
    assert recorded_pins([body(None, None)]) == (None, None)  # no crop call, features given: nothing recorded
    with pytest.raises(UserInputError, match="2 crop season scales"):
        recorded_pins([body(1.42, []), body(0.9, [])])
    with pytest.raises(UserInputError, match="2 sets of haze dates"):
        recorded_pins([body(1.0, []), body(1.0, ["2009-08-03"])])
    assert has_season_calibration(SimpleNamespace(declared_temperatures_={"end": 1.1}, biases_={}))
    assert not has_season_calibration(SimpleNamespace(declared_temperatures_={"end": 1.1}, biases_={"end": [0.0]}))
    assert not has_season_calibration(SimpleNamespace(biases_={}))


def test_recorded_policy_is_the_one_the_records_name() -> None:
    """The shipped policy when the records name it; the released version from the archive when they name an earlier
    one; the shipped one with a warning naming theirs when they name several or one never released."""
    from pipelines.replay import _recorded_policy
    from underwriting.policy import ARCHIVE_DIR, Policy, default_policy, load_policy

    shipped = default_policy()
    older = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.1.yaml")

    def body(p: Policy) -> dict[str, object]:
        return {"policy": {"id": p.policy_id, "version": p.version, "content_hash": p.content_hash}}

    assert _recorded_policy([body(shipped)] * 2, shipped) == (shipped, "agcredit-default 2026.12.10", [])
    got, text, warn = _recorded_policy([body(older)] * 2, shipped)
    assert got.content_hash == older.content_hash and warn == []
    assert text == "agcredit-default 2026.12.1 (the released version the records name)"
    # already resolved from the store (replay_files): named the same way
    assert _recorded_policy([body(older)] * 2, older) == (older, text, [])
    odd = {"policy": {"id": "bank-own", "version": "7", "content_hash": "ab" * 32}}
    got, _, warn = _recorded_policy([body(older), body(shipped), body(shipped), odd], shipped)
    assert got is shipped and len(warn) == 1, warn
    assert ("3 policies (decisions each: agcredit-default 2026.12.1: 1, agcredit-default 2026.12.10: 2, bank-own 7: 1 "
            "(not released))") in warn[0]
    got, _, warn = _recorded_policy([odd], shipped)
    assert got is shipped and len(warn) == 1 and "bank-own 7 (content hash abababababab…)" in warn[0]
    # a released id and version with other content: said so, not called unreleased
    edited = {"policy": {"id": "agcredit-default", "version": "2026.12.1", "content_hash": "cd" * 32}}
    got, _, warn = _recorded_policy([edited], shipped)
    assert got is shipped and len(warn) == 1
    assert (f"policy agcredit-default 2026.12.1 with other content (hash cdcdcdcdcdcd…) than its released version's "
            f"({older.content_hash[:12]}…)") in warn[0]
    got, _, warn = _recorded_policy([{"schema": 1}], shipped)
    assert got is shipped and len(warn) == 1 and "the stored decisions name no policy" in warn[0]


def _recs(rows: list[tuple[int, str, str, list[str]]]) -> pd.DataFrame:
    """Decision records (seq, application, farmer, refer reasons) of season 2024 as of 2024-07-01."""
    import json

    return pd.DataFrame({"seq": [r[0] for r in rows], "application_id": [r[1] for r in rows],
                         "farmer_token": [r[2] for r in rows], "season": "2024", "kind": "decision",
                         "as_of": "2024-07-01", "body": [json.dumps({"refer_reasons": r[3]}) for r in rows]})


def test_replay_reads_the_store_as_each_decision_read_it() -> None:
    """A farmer's second application decided by a later run (a smaller id than the first's) read the first as the
    fields' holder: replayed in a group of its own with that holder (one batch gave the smaller id the fields);
    the decisions of one run stay one group (the batch gives a second application the first as holder)."""
    from types import SimpleNamespace

    from pipelines.replay import _reading_groups

    day = dt.date(2024, 7, 1)
    apps = pd.DataFrame({"application_id": ["A2", "A4", "A5"], "farmer_token": ["F", "F", "G"], "season": "2024"})
    # run 1 decides A4 and A5; run 2 decides A2 (refused: A4 holds F's fields)
    recs = _recs([(1, "A4", "F", []), (2, "A5", "G", []), (3, "A2", "F", ["FIELDS_ALREADY_PLEDGED"])])
    stored = {a: SimpleNamespace(seq=s) for s, a in ((1, "A4"), (2, "A5"), (3, "A2"))}
    groups = _reading_groups(apps, "2024", day, stored, recs, alerts=False)
    assert [sorted(g[0]["application_id"]) for g in groups] == [["A4", "A5"], ["A2"]]
    assert groups[0][1] == {} and groups[1][1] == {("F", "2024"): ["A4"]}
    # one run deciding A2 then A4 (id order): one group, the batch refers A4
    recs = _recs([(1, "A2", "F", []), (2, "A4", "F", ["FIELDS_ALREADY_PLEDGED"]), (3, "A5", "G", [])])
    stored = {a: SimpleNamespace(seq=s) for s, a in ((1, "A2"), (2, "A4"), (3, "A5"))}
    groups = _reading_groups(apps, "2024", day, stored, recs, alerts=True)
    assert len(groups) == 1 and sorted(groups[0][0]["application_id"]) == ["A2", "A4", "A5"]
    assert groups[0][1] == {} and groups[0][2] is not None and groups[0][2].empty


@pytest.mark.parametrize("named", ["older", "shipped", "both", "none"])
def test_the_stored_policy_file_is_the_released_one_every_decision_of_the_date_names(tmp_path: Path,
                                                                                   named: str) -> None:
    """``audit replay`` picks the archived file of the released policy the date's decisions name, read from the
    store's policy blocks (not the bodies): the shipped policy, several, or none named: no file; other dates' and
    re-underwriting records do not count."""
    from pipelines.replay import _stored_policy_file
    from underwriting.policy import ARCHIVE_DIR, Policy, default_policy, load_policy
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    shipped, older = default_policy(), load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.1.yaml")

    def item(n: int, p: Policy | None, as_of: str = "2024-07-01", kind: str = "decision") -> DecisionItem:
        block = {} if p is None else {"policy": {"id": p.policy_id, "version": p.version,
                                                 "content_hash": p.content_hash}}
        return DecisionItem(idempotency_key=f"k{n}", application_id=f"A{n}", farmer_token=f"T{n}", season="2024",
                            as_of=as_of, outcome="REFER", limit=0, currency="INR", reason_codes=(), body=block,
                            kind=kind)

    first = {"older": older, "shipped": shipped, "both": older, "none": None}[named]
    second = {"older": older, "shipped": shipped, "both": shipped, "none": None}[named]
    # another date's and a re-underwriting's records naming the shipped policy do not count
    items = [item(1, first), item(2, second), item(3, shipped, as_of="2024-06-01"),
             item(4, shipped, kind="reunderwrite")]
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as st:
        st.append(items, operator="op-1")
    got = _stored_policy_file(url, "2024", dt.date(2024, 7, 1))
    assert got == (ARCHIVE_DIR / "agcredit-default-2026.12.1.yaml" if named == "older" else None), got
