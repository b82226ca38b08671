"""pipelines._replay_common — mutation audit: each test pins a behaviour a surviving mutant changed (a replay row as
JSON, a replay's verdict and counts, how two bodies are compared part by part and field by field, the model versions,
crop model description and pins the stored records name), on small hand-built bodies."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from features.errors import UserInputError
from pipelines._replay_common import (
    ReplayResult,
    ReplayRow,
    _crop_description,
    _decided_without_missing,
    _recorded_versions,
    compare_bodies,
    judge_replay,
    recorded_pins,
)
from underwriting.records import canonical_json

# --- a replay row and a replay's verdict -------------------------------------------------------------


def test_a_replay_row_as_json_names_both_sides_and_what_differs() -> None:
    row = ReplayRow("A1", "differs", record_id="r1", stored=("APPROVE", 100), replayed=("REDUCE", 90),
                    differs=("limit", "outcome"), provenance=("run",))
    assert row.to_dict() == {"application_id": "A1", "status": "differs", "record_id": "r1",
                             "stored": ["APPROVE", 100], "replayed": ["REDUCE", 90], "differs": ["limit", "outcome"],
                             "provenance_differs": ["run"]}
    assert ReplayRow("A2", "not stored").to_dict() == {
        "application_id": "A2", "status": "not stored", "record_id": None, "stored": None, "replayed": None,
        "differs": [], "provenance_differs": []}


def _result(*rows: ReplayRow) -> ReplayResult:
    return ReplayResult(rows=list(rows), models={"yield-value": "3"}, currency="USD")


def test_a_replay_is_ok_when_every_decision_is_identical_or_reproduced_and_there_is_one() -> None:
    same, prov = ReplayRow("A1", "identical"), ReplayRow("A2", "reproduced", provenance=("run",))
    assert _result(same).ok and _result(prov).ok and _result(same, prov).ok
    assert not _result().ok  # nothing replayed: nothing reproduced
    assert not _result(same, ReplayRow("A3", "differs")).ok
    assert not _result(ReplayRow("A4", "not stored"), same).ok


def test_a_replays_counts_name_every_status_and_each_provenance_key_in_order() -> None:
    res = _result(ReplayRow("A1", "identical"), ReplayRow("A2", "reproduced", provenance=("run", "features_sha256")),
                  ReplayRow("A3", "reproduced", provenance=("run",)), ReplayRow("A4", "differs"))
    assert res.counts() == {"identical": 1, "reproduced": 2, "differs": 1, "not stored": 0}
    assert list(res.provenance_counts().items()) == [("features_sha256", 1), ("run", 2)]
    assert _result().counts() == {"identical": 0, "reproduced": 0, "differs": 0, "not stored": 0}


# --- two bodies compared -----------------------------------------------------------------------------


def test_bodies_without_fields_or_provenance_compare_as_empty() -> None:
    a: dict[str, Any] = {"limit": 1, "fields": None, "provenance": None}
    b: dict[str, Any] = {"limit": 1}
    assert compare_bodies(a, b) == ([], [])
    assert compare_bodies(b, {"limit": 1, "provenance": {"run": "x"}}) == ([], ["run"])
    runs = ({"provenance": {"run": "a", "features_sha256": "f", "same": 1}},
            {"provenance": {"same": 1, "run": "b", "features_sha256": "g"}})
    assert compare_bodies(*runs) == ([], ["features_sha256", "run"])  # in key order
    assert compare_bodies({"limit": 1, "fields": [{"field_id": "F1"}]}, b) == (["fields[F1] missing"], [])


def test_a_field_is_compared_key_by_key_in_key_order_a_missing_key_as_null() -> None:
    a = {"fields": [{"field_id": "F2", "b": 1, "a": None, "c": [1, 2]}, {"field_id": "F1", "x": 1.0}]}
    b = {"fields": [{"field_id": "F1", "x": 1.0}, {"field_id": "F2", "c": [2, 1], "b": 2}]}
    assert compare_bodies(a, b) == (["fields[F2].b", "fields[F2].c"], [])
    assert compare_bodies(b, copy.deepcopy(b)) == ([], [])


def test_only_the_provenance_derived_input_hashes_are_left_out_of_the_comparison() -> None:
    a = {"input_hashes": {"features": "f", "provenance": "p1", "snapshot": "s1"}}
    b = {"input_hashes": {"features": "f", "provenance": "p2", "snapshot": "s2"}}
    assert compare_bodies(a, b) == ([], [])
    assert compare_bodies(a, {"input_hashes": {"features": "g", "provenance": "p1", "snapshot": "s1"}}) == (
        ["input_hashes"], [])
    assert compare_bodies(a, {"input_hashes": None}) == (["input_hashes"], [])
    assert compare_bodies({"input_hashes": {"snapshot": "s"}}, {}) == ([], [])


def test_a_replay_differing_only_in_key_order_of_its_text_is_not_identical() -> None:
    """``identical`` is byte for byte against the stored text; the same body stored as other text is reproduced."""
    body = {"schema": "agcredit.decision-body/2", "limit": 5, "provenance": {"run": "r"}}
    assert judge_replay(body, canonical_json(body), body) == ("identical", [], [])
    assert judge_replay(body, '{"limit":5}', body) == ("reproduced", [], [])
    other = {**body, "limit": 6}
    assert judge_replay(other, canonical_json(other), body) == ("differs", ["limit"], [])


def test_a_body_without_a_schema_is_compared_as_replayed() -> None:
    replayed = {"schema": "agcredit.decision-body/2", "fields": [{"field_id": "F1", "model_yield_p90_t_ha": 7.0}]}
    stored = {"fields": [{"field_id": "F1"}]}
    assert judge_replay(stored, canonical_json(stored), replayed) == (
        "differs", ["fields[F1].model_yield_p90_t_ha", "schema"], [])


# --- what the stored records name --------------------------------------------------------------------


def _named(yield_version: str | None = "3", crop: Any = "crop-type version 2 (champion), run abc") -> dict[str, Any]:
    models = [{"name": "yield-value", "version": yield_version}, {"name": "other", "version": "9"}]
    return {"models": models, "provenance": {} if crop is None else {"crop_model_version": crop}}


def test_the_recorded_versions_are_the_one_yield_model_and_the_one_crop_model() -> None:
    assert _recorded_versions([_named(), _named(crop="crop-type version 2")]) == ("3", "2")
    assert _recorded_versions([_named(crop=None), _named(crop="none")]) == ("3", "none")
    assert _recorded_versions([_named(crop="None")]) == ("3", "none")
    assert _recorded_versions([_named(crop="file sha256:ab12")]) == ("3", None)  # a saved folder: no version
    with pytest.raises(UserInputError, match="2 yield-value versions \\(3, 4\\)"):
        _recorded_versions([_named("4"), _named("3")])
    with pytest.raises(UserInputError, match="0 yield-value versions"):
        _recorded_versions([{"models": [{"name": "other", "version": "9"}]}])
    with pytest.raises(UserInputError, match="2 crop-type models"):
        _recorded_versions([_named(), _named(crop="crop-type version 3")])
    with pytest.raises(UserInputError, match="2 crop-type models"):
        _recorded_versions([_named(crop=None), _named(crop="crop-type version 3")])


def test_the_crop_description_is_the_records_with_this_replays_pin_note() -> None:
    bodies = [_named(crop="crop-type version 2 (champion), run abc, season scale pinned at 1.1")] * 2
    # the same run's model: the records' words (their pin note dropped), this replay's pin note added
    assert _crop_description(bodies, "crop-type version 2, run abc, season scale pinned at 1.3") == (
        "crop-type version 2 (champion), run abc, season scale pinned at 1.3")
    assert _crop_description(bodies, "crop-type version 2, run abc") == "crop-type version 2 (champion), run abc"
    assert _crop_description(bodies, "crop-type version 2") == "crop-type version 2 (champion), run abc"
    # another run's model under the same number: as resolved
    assert _crop_description(bodies, "crop-type version 2, run def") == "crop-type version 2, run def"
    assert _crop_description(bodies, None) is None
    two = [_named(crop="crop-type version 2 (champion), run abc"), _named(crop="crop-type version 2, run abc")]
    assert _crop_description(two, "crop-type version 2, run abc") == "crop-type version 2, run abc"


def test_recorded_pins_skip_fields_without_a_scale_and_read_each_distinct_set_once() -> None:
    def body(scales: list[float | None], hazy: list[str] | None = None) -> dict[str, Any]:
        prov = {} if hazy is None else {"smoother_hazy_dates": hazy}
        return {"fields": [{"field_id": f"F{i}", "crop_season_scale": s} for i, s in enumerate(scales)],
                "provenance": prov}

    assert recorded_pins([body([None, 1.5, None], ["2009-08-03", "2009-08-19"]), body([1.5], ["2009-08-03",
                                                                                               "2009-08-19"])]) == (
        1.5, [dt.date(2009, 8, 3), dt.date(2009, 8, 19)])
    assert recorded_pins([body([None]), {"provenance": None}]) == (None, None)
    assert recorded_pins([body([], [])]) == (None, [])
    with pytest.raises(UserInputError, match="2 crop season scales and 1 sets"):
        recorded_pins([body([1.5, 1.6], [])])


def test_records_decided_without_missing_acquisitions_are_those_naming_some() -> None:
    assert _decided_without_missing([{"provenance": {}}, {"provenance": {"missing_acquisitions": ["2009-08-03"]}}])
    assert not _decided_without_missing([{"provenance": {"missing_acquisitions": []}}, {"provenance": None}, {}])
    assert not _decided_without_missing([])


def test_records_naming_two_policies_are_replayed_with_the_given_one_and_warned_of() -> None:
    from pipelines._replay_common import _recorded_policy
    from underwriting.policy import ARCHIVE_DIR, default_policy, load_policy

    shipped, older = default_policy(), load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.1.yaml")
    bodies = [{"policy": {"id": p.policy_id, "version": p.version, "content_hash": p.content_hash}}
              for p in (older, shipped)]
    got, text, warn = _recorded_policy(bodies, shipped)
    assert got is shipped and text == "agcredit-default 2026.12.10" and len(warn) == 1
    assert warn[0].startswith("the stored decisions were decided under 2 policies")


def test_no_policy_file_is_chosen_for_a_date_whose_decisions_name_two_released_versions_or_none(
        tmp_path: Path) -> None:
    from pipelines._replay_common import _stored_policy_file
    from underwriting.policy import ARCHIVE_DIR, Policy, load_policy
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    first, second = (load_policy(ARCHIVE_DIR / f"agcredit-default-2026.12.{v}.yaml") for v in (1, 3))

    def item(n: int, p: Policy) -> DecisionItem:
        block = {"policy": {"id": p.policy_id, "version": p.version, "content_hash": p.content_hash}}
        return DecisionItem(idempotency_key=f"k{n}", application_id=f"A{n}", farmer_token=f"T{n}", season="2024",
                            as_of="2024-07-01", outcome="REFER", limit=0, currency="INR", reason_codes=(), body=block)

    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as st:
        st.append([item(1, first), item(2, second)], operator="op-1")
    assert _stored_policy_file(url, "2024", dt.date(2024, 7, 1)) is None  # two released versions: neither
    assert _stored_policy_file(url, "2024", dt.date(2024, 7, 2)) is None  # no decision on the date
