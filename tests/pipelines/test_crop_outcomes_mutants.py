"""``pipelines/crop_outcomes.py`` (``agcredit models performance crop-type``): what its first tests let through — the
edges of the figures (the ECE's bins, the calibrated floor's draws, an exact interval of nothing, pre-season fields'
wrong declarations, a degenerate recall), the verified file's repeats beside a conflict, the version's training seasons
from its notes, the refusals said before any model is read, the checkpoint taken from the fields' own, what is counted
outside the scored fields and the notes said only when they hold, and the verdict and report lines for what they
count."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from pipelines import crop_outcomes as co
from pipelines.crop_outcomes import (
    CropOutcomesResult,
    _calibrated_floor,
    _weighted_ece,
    crop_model_performance,
    crop_outcome_figures,
    exact_interval,
    read_verified,
)
from tests.pipelines.test_crop_performance import _write, trained  # noqa: F401  (the module fixture, reused)

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)

ONLY_NOTE = ("every field taken as scored at checkpoint end on --checkpoint (the version's checkpoint of each field "
             "cannot be told here)")


def _tiny() -> pd.DataFrame:
    """The kill-set's tiny set: maize read right once and as rice once, rice read right twice."""
    return pd.DataFrame({"true": ["maize", "maize", "rice", "rice"], "pred": ["maize", "rice", "rice", "rice"],
                         "conf": [0.9, 0.85, 0.7, 0.95], "declared": ["maize", "maize", "maize", ""],
                         "dprob": [0.95, 0.1, 0.1, np.nan], "read": True,
                         "mismatch": [False, True, True, False], "uncertain": [False, False, False, False]})


def _ece_by_hand(conf: np.ndarray, right: np.ndarray) -> float:
    """15 right-closed bins (0, 1/15], (1/15, 2/15], …, a confidence of 0 in the first: Σ bin share × |gap|."""
    edges = np.linspace(0.0, 1.0, 16)
    idx = np.array([next(b for b in range(15) if c <= edges[b + 1]) for c in conf])
    return float(sum(np.mean(idx == b) * abs(right[idx == b].mean() - conf[idx == b].mean())
                     for b in range(15) if (idx == b).any()))


def test_the_ece_bins_are_right_closed_and_every_bin_its_own() -> None:
    edges = np.linspace(0.0, 1.0, 16)
    conf, right = [0.0, 0.05], [1.0, 0.0]  # one bin whose gaps cancel in part: a confidence of 0 is in the first
    for b in range(1, 15):  # each bin's centre and its upper edge, its gap's sign alternating bin by bin
        centre = (edges[b] + edges[b + 1]) / 2
        conf += [centre, centre, edges[b + 1]]
        right += [1.0, 1.0, 0.0] if b % 2 else [0.0, 0.0, 1.0]
    c, r = np.array(conf), np.array(right)
    want = _ece_by_hand(c, r)
    got = _weighted_ece(c, r, np.ones((1, len(c)), dtype=np.int64))[0]
    assert got == pytest.approx(want, abs=1e-12)
    # counts weigh the rows: the rows repeated give the same ECE
    w = np.tile(np.arange(len(c)) % 3, (1, 1))
    idx = np.repeat(np.arange(len(c)), w[0])
    assert _weighted_ece(c, r, w)[0] == pytest.approx(_ece_by_hand(c[idx], r[idx]), abs=1e-12)
    one = np.zeros((1, len(c)), dtype=np.int64)  # a resample of one field: its own gap
    one[0, 3] = 1
    assert _weighted_ece(c, r, one)[0] == pytest.approx(abs(r[3] - c[3]))


def test_the_calibrated_floor_is_the_mean_of_200_seeded_draws() -> None:
    from pipelines.evaluation._bootstrap import INTERVAL

    conf = np.linspace(0.4, 0.99, 40)
    rng = np.random.default_rng(int(INTERVAL["seed"]))
    draws = rng.random((200, len(conf))) < conf
    want = float(np.mean([_ece_by_hand(conf, d.astype(float)) for d in draws]))
    assert _calibrated_floor(conf) == pytest.approx(want, rel=1e-12)


def test_an_exact_interval_of_no_field_is_none() -> None:
    assert exact_interval(0, 0) is None and exact_interval(3, -1) is None
    assert exact_interval(0, 5)[0] == 0.0 and exact_interval(5, 5)[1] == 1.0
    lo, hi = exact_interval(2, 2)
    assert hi == 1.0 and 0.15 < lo < 0.16
    # one field is enough for an interval; rounded to 6 decimals as the percentile intervals are
    assert exact_interval(0, 1) == [0.0, 0.975] and exact_interval(1, 1) == [0.025, 1.0]
    assert exact_interval(1, 7) == [0.00361, 0.578723] and exact_interval(1, 5) == [0.005051, 0.716418]


def test_a_wrong_declaration_of_a_preseason_field_is_not_counted_as_flagged_or_not() -> None:
    rows = _tiny().assign(read=[True, True, False, True])  # field 3: declared maize, rice found, pre-season
    f = crop_outcome_figures(rows)
    # no wrong declaration whose crop type was read (field 3's declaration was read, not its crop type)
    assert f["shares"]["caught_any"] == {"of": 0, "hits": 0} and f["caught_any"] is None
    assert f["shares"]["caught_mismatch"] == {"of": 0, "hits": 0}
    assert f["counts"]["preseason"] == 1 and f["shares"]["kept_right"] == {"of": 2, "hits": 2}


def test_each_share_counts_its_own_fields() -> None:
    rows = pd.DataFrame([
        # true,  pred,   conf, declared, dprob, read, mismatch, uncertain
        ("maize", "maize", 0.9, "maize", 0.9, True, False, False),     # declared right, let stand, confirmed
        ("rice", "rice", 0.9, "maize", 0.8, True, False, True),        # declared wrong at 0.80 exactly: confirmed
        ("maize", "rice", 0.9, "rice", 0.1, True, True, False),        # declared wrong, CROP_MISMATCH
        ("rice", "rice", 0.9, "rice", 0.15, True, True, False),        # declared right, CROP_MISMATCH
        ("rice", "rice", 0.9, "rice", 0.15, True, True, False),        # declared right, CROP_MISMATCH
        ("rice", "maize", 0.6, "maize", 0.5, True, False, True),       # declared wrong, CROP_TYPE_UNCERTAIN
        ("rice", "rice", 0.6, "rice", 0.6, True, False, True),         # declared right, CROP_TYPE_UNCERTAIN
        ("maize", "maize", 0.6, "maize", 0.7, True, False, True),      # declared right, CROP_TYPE_UNCERTAIN
        ("rice", "rice", 0.6, "rice", 0.6, True, False, True),         # declared right, CROP_TYPE_UNCERTAIN
        ("maize", "maize", 0.9, "", 0.95, True, False, False),         # not declared (a P(declared) all the same)
        ("maize", "maize", 0.9, "maize", np.nan, False, False, False),  # pre-season, neither flag
        ("rice", "maize", 0.9, "", np.nan, True, False, False),        # not declared, let stand at a wrong crop
        ("rice", "rice", 0.5, "", np.nan, True, False, True),          # not declared, CROP_TYPE_UNCERTAIN
    ], columns=["true", "pred", "conf", "declared", "dprob", "read", "mismatch", "uncertain"])
    f = crop_outcome_figures(rows)
    sh = f["shares"]
    assert f["counts"] == {"declared": 10, "declared_wrong": 3, "preseason": 1, "kept": 3, "kept_wrong": 1,
                           "mismatch": 3, "uncertain": 5, "confirmed": 2}
    assert sh["accuracy"] == {"of": 13, "hits": 10}
    assert sh["mismatch_wrong"] == {"of": 3, "hits": 1} and sh["uncertain_wrong"] == {"of": 5, "hits": 2}
    # the undeclared field is no declaration put at 0.95; the one put at 0.80 is one
    assert sh["confirmed_right"] == {"of": 2, "hits": 1}
    assert sh["kept_right"] == {"of": 3, "hits": 2}  # the pre-season field's crop type was not let stand: not read
    assert sh["caught_any"] == {"of": 3, "hits": 3} and sh["caught_mismatch"] == {"of": 3, "hits": 1}
    assert sh["baseline_accuracy"] == {"of": 10, "hits": 7} and sh["model_on_declared"] == {"of": 10, "hits": 8}


def test_only_a_recall_whose_resamples_all_agree_gets_the_exact_interval() -> None:
    f = crop_outcome_figures(_tiny())
    assert f["recall"] == {"maize": 0.5, "rice": 1.0}
    assert f["recall_ci"]["rice"] == exact_interval(2, 2)  # every resample: all of rice's fields right
    assert f["interval_methods"]["recall rice"].startswith("exact binomial")
    # maize (1 of 2): the bootstrap's interval has a width and stands
    assert "recall maize" not in f["interval_methods"]
    lo, hi = f["recall_ci"]["maize"]
    assert lo < hi and [lo, hi] != exact_interval(1, 2)
    none = crop_outcome_figures(_tiny().assign(pred="maize"))  # rice never read right: 0 of 2
    assert none["recall"]["rice"] == 0.0 and none["recall_ci"]["rice"] == exact_interval(0, 2) == [0.0, 0.841886]



def test_under_clusters_an_exact_interval_counts_the_clusters_drawn() -> None:
    """Rice's two fields of one farmer are one draw under ``--interval-by farmer``: all right is 1 of 1 (2.5–100%),
    not 2 of 2 (a session-74 exact interval counted the fields); kept_right's 2 fields likewise."""
    groups = np.array([0, 1, 2, 2])  # the two rice fields: one farmer
    f = crop_outcome_figures(_tiny(), groups=groups)
    assert f["recall_ci"]["rice"] == exact_interval(1, 1) == [0.025, 1.0]
    assert f["shares"]["kept_right"] == {"of": 2, "hits": 2}
    assert f["kept_right_ci"] == exact_interval(2, 2)  # the maize field and the rice one: two farmers
    assert crop_outcome_figures(_tiny(), groups=np.array([0, 1, 2, 3]))["recall_ci"]["rice"] == exact_interval(2, 2)

def test_exact_repeats_are_read_once_and_counted_and_a_conflict_beside_them_is_refused(tmp_path: Path) -> None:
    ok = tmp_path / "ok.csv"
    pd.DataFrame({"field_id": ["a", "a", "b", "c", "c", "c"], "season": "2019",
                  "verified_crop": ["maize", "maize", "rice", "rice", "rice", "rice"]}).to_csv(ok, index=False)
    rows, repeated = read_verified(ok)
    assert repeated == 3 and list(rows["field_id"]) == ["a", "b", "c"]
    assert list(rows.columns) == ["field_id", "season", "verified_crop"] and list(rows.index) == [0, 1, 2]
    once = tmp_path / "once.csv"
    pd.DataFrame({"field_id": ["a", "b"], "season": "2019", "verified_crop": ["maize", ""]}).to_csv(once, index=False)
    alone, none = read_verified(once)  # b not verified: left out
    assert none == 0 and alone.to_dict("list") == {"field_id": ["a"], "season": ["2019"], "verified_crop": ["maize"]}
    assert list(rows["verified_crop"]) == ["maize", "rice", "rice"]
    both = tmp_path / "both.csv"  # an exact repeat (a) and a conflict (b): the conflict is refused all the same
    pd.DataFrame({"field_id": ["a", "a", "b", "b"], "season": "2019",
                  "verified_crop": ["maize", "maize", "maize", "rice"]}).to_csv(both, index=False)
    with pytest.raises(UserInputError, match=r"1 field-season\(s\) verified twice with different crops, at data "
                                             r"rows 3, 4"):
        read_verified(both)


def test_the_training_seasons_fall_back_to_the_versions_notes(trained: dict[str, Any],  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    monkeypatch.setattr(registry, "training_seasons", lambda name, version: ["1999"])
    assert co._training_seasons(trained["v"]) == ["1999"]  # the run's parameter, when it has one
    monkeypatch.setattr(registry, "training_seasons", lambda name, version: None)
    assert co._training_seasons(trained["v"]) == ["2016", "2017", "2018"]  # "declared crops of seasons …"


def _perf(tr: dict[str, Any], monkeypatch: pytest.MonkeyPatch, features: str | Path = "f2019.parquet",
          verified: str | Path = "verified.csv", **kw: Any) -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tr["uri"])
    monkeypatch.setenv("AGCREDIT_EXTRA_CROPS", "wheat")
    root = tr["root"]
    return crop_model_performance(root / features, root / verified, **kw)


def test_a_version_without_training_seasons_is_refused(trained: dict[str, Any],  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(co, "_training_seasons", lambda version: None)
    with pytest.raises(UserInputError, match="records no training seasons"):
        _perf(trained, monkeypatch, checkpoint="end")


def test_features_without_any_crop_type_are_refused(trained: dict[str, Any],  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bare = _write(trained["feats"].assign(crop_type=None), tmp_path / "bare.parquet", trained["built"])
    with pytest.raises(UserInputError, match="no field has a crop type"):
        _perf(trained, monkeypatch, features=bare, checkpoint="end")


def test_an_unknown_interval_and_an_unknown_profile_are_said_before_the_verified_file_is_read(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    with pytest.raises(UserInputError, match="--interval-by: expected one of"):
        _perf(trained, monkeypatch, verified="no-such.csv", interval_by="county")
    with pytest.raises(UserInputError, match="no such profile"):
        _perf(trained, monkeypatch, verified="no-such.csv", checkpoint="end", profile="retail")


def test_a_full_run_counts_nothing_outside_and_says_only_its_checkpoint(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    r = _perf(trained, monkeypatch, checkpoint="end")
    assert r.scored == 150 and r.outside == {} and r.notes == [ONLY_NOTE]
    from pipelines.outcomes import judge

    assert r.to_json()["true_crop_ece"]["judgement"] == judge("<=", 0.05, *r.figures["ece_ci"]) != ""
    text = "\n".join(r.lines())
    assert "pre-season for the policy" not in text and "read but never verified" not in text
    assert "declarations put at P(declared) >= 0.8 right: " in text
    assert f"minimum metrics of version {r.version} at checkpoint end (" in text


def test_repeats_strangers_and_fields_without_a_crop_type_are_counted_and_said(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    v = trained["verified"]
    extra = pd.DataFrame({"field_id": ["zz-1", "zz-2"], "season": "2019", "verified_crop": "maize"})
    feats = trained["feats"]
    ids = sorted(feats["field_id"])
    v = v[~v["field_id"].isin(ids[:2])]  # two of the fields without a crop type not verified either
    pd.concat([v, v.iloc[:3], extra]).to_csv(tmp_path / "v.csv", index=False)
    gone, blank, no_prob = (feats["field_id"].isin(ids[a:b]) for a, b in ((0, 5), (5, 7), (7, 10)))
    f = _write(feats.assign(crop_type=feats["crop_type"].where(~gone, None).where(~blank, " "),
                            crop_type_prob=feats["crop_type_prob"].where(~no_prob, np.nan)),
               tmp_path / "f.parquet", trained["built"])
    r = _perf(trained, monkeypatch, features=f, verified=tmp_path / "v.csv", checkpoint="end")
    assert r.scored == 140 and r.outside == {"without a verified crop": 2, "without a crop type": 8}
    notes = " | ".join(r.notes)
    assert "3 repeated row(s) of the verified crops file (same field, season and crop) read once" in notes
    assert "2 verified field(s) of season 2019 are not in f.parquet: left out" in notes
    assert "cannot answer" not in notes


def _placed(tr: dict[str, Any], monkeypatch: pytest.MonkeyPatch, at: dict[str, int]) -> None:
    """Each field placed at a checkpoint as the model would place it (``at``: checkpoint → how many fields, in the
    file's row order; "": before any)."""
    cps = np.array([c for c, k in at.items() for _ in range(k)], dtype=object)
    assert len(cps) == len(tr["feats"])
    monkeypatch.setattr(co, "_row_checkpoints", lambda model, profile, gov, feats, as_of: cps.copy())


def test_the_checkpoint_most_verified_fields_reached_is_scored_the_others_counted(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    _placed(trained, monkeypatch, {"end": 100, "mid": 40, "": 10})
    r = _perf(trained, monkeypatch)
    assert r.checkpoint == "end" and r.scored == 100
    assert list(r.outside.items()) == [("at checkpoint mid", 40), ("before any checkpoint", 10)]
    assert not any("on --checkpoint" in n for n in r.notes)
    given = _perf(trained, monkeypatch, checkpoint="end")  # the fields' own checkpoints stand beside --checkpoint
    assert given.scored == 100 and given.outside == r.outside and given.notes == r.notes
    mid = _perf(trained, monkeypatch, checkpoint="mid")
    assert mid.checkpoint == "mid" and mid.scored == 40 and mid.outside == {"at checkpoint end": 100,
                                                                            "before any checkpoint": 10}


def test_a_tie_of_checkpoints_takes_the_earlier_one(trained: dict[str, Any],  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _placed(trained, monkeypatch, {"end": 70, "mid": 70, "": 10})
    assert _perf(trained, monkeypatch).checkpoint == "mid"
    _placed(trained, monkeypatch, {"end": 75, "mid": 75})
    r = _perf(trained, monkeypatch)
    assert r.checkpoint == "mid" and r.outside == {"at checkpoint end": 75}


def _result(requirements: list[dict[str, Any]], figures: dict[str, Any] | None = None) -> CropOutcomesResult:
    return CropOutcomesResult(version="7", features="f.parquet", verified="v.csv", season="2019", as_of="2019-12-31",
                              checkpoint="end", training_seasons=["2018"], scored=4, outside={},
                              figures=figures or {}, requirements=requirements, interval="over 4 scored fields",
                              policy="policy 1", thresholds={"min_crop_type_prob": 0.8, "min_declared_crop_prob": 0.2,
                                                             "disputed_crop_uncertain": True})


def _req(metric: str, judgement: str) -> dict[str, Any]:
    return {"metric": metric, "op": ">=", "threshold": 0.5, "value": 0.6, "interval": [0.55, 0.65],
            "validated": 0.7, "judgement": judgement}


def test_the_verdict_of_no_requirement_and_of_one_not_measured() -> None:
    assert _result([]).verdict() == "no minimum metric of the version gates checkpoint end"
    got = _result([_req("accuracy_end", "met"), _req("ece_end", "not measured")]).verdict()
    assert got == "meets the 1 minimum metric(s) measured here (not measured here: ece_end)"
    got = _result([_req("accuracy_end", "interval straddles"), _req("ece_end", "not measured")]).verdict()
    assert got == ("no minimum metric missed for certain: 0 of 1 measured met (interval straddles: accuracy_end; "
                   "not measured here: ece_end)")


def test_the_true_crop_ece_is_judged_on_its_interval() -> None:
    assert _result([], {"ece_ci": [0.01, 0.04]}).true_crop_ece() == "met"
    assert _result([], {"ece_ci": [0.06, 0.09]}).true_crop_ece() == "not met"
    assert _result([], {"ece_ci": None}).true_crop_ece() == "not measured"


def test_the_report_counts_preseason_fields_and_crops_read_but_never_verified() -> None:
    rows = _tiny().assign(pred=["maize", "sorghum", "rice", "rice"], read=[True, False, False, True])
    figs = crop_outcome_figures(rows)
    text = "\n".join(_result([], figs).lines())
    assert "\n  2 field(s) pre-season for the policy (not emerged before its emergence checkpoint)" in text
    assert "\n  read but never verified: sorghum (F1 0)" in text
    assert figs["confusion"] == {"maize": {"maize": 1, "sorghum": 1}, "rice": {"rice": 2}}
    assert "declarations put at P(declared) >= 0.8 right: 100.0%" in text
    clean = "\n".join(_result([], crop_outcome_figures(_tiny())).lines())
    assert "pre-season for the policy" not in clean and "read but never verified" not in clean


def test_rows_without_the_policys_reading_are_read_not_flagged() -> None:
    f = crop_outcome_figures(_tiny().drop(columns=["read", "mismatch", "uncertain"]))
    assert f["counts"]["preseason"] == 0 and f["counts"]["mismatch"] == 0 and f["counts"]["uncertain"] == 0
    assert f["shares"]["kept_right"] == {"of": 4, "hits": 3}


def test_no_nan_figure_is_reported_as_a_number() -> None:
    f = crop_outcome_figures(_tiny().assign(declared=""))  # nothing declared: the declared shares have no figure
    for k in ("baseline_accuracy", "model_on_declared", "lead", "mismatch_wrong", "confirmed_right"):
        assert f[k] is None and f[f"{k}_ci"] is None, k
    assert not any(isinstance(v, float) and math.isnan(v) for v in f.values())


def test_a_held_out_value_missing_or_not_a_number_is_no_validated_value() -> None:
    from types import SimpleNamespace

    from pipelines.crop_outcomes import _judge_requirements

    req = [SimpleNamespace(metric=m, op=op, threshold=t) for m, op, t in
           [("accuracy_end", ">=", 0.6), ("macro_f1_end", ">=", 0.5), ("ece_end", "<=", 0.15), ("accuracy_mid", ">=", 0.5)]]
    gov = SimpleNamespace(minimum_metrics=req, metrics={"accuracy_end": 0.8, "macro_f1_end": float("nan")})
    figs = {"accuracy": 0.7, "accuracy_ci": [0.65, 0.75], "macro_f1": 0.4, "macro_f1_ci": [0.3, 0.45],
            "ece": 0.1, "ece_ci": None}
    got = {r["metric"]: r for r in _judge_requirements(gov, "end", figs)}
    assert list(got) == ["accuracy_end", "macro_f1_end", "ece_end"]  # another checkpoint's metric left out
    assert got["accuracy_end"]["validated"] == 0.8 and got["accuracy_end"]["judgement"] == "met"
    assert got["macro_f1_end"]["validated"] is None and got["macro_f1_end"]["judgement"] == "not met"
    assert got["ece_end"]["validated"] is None and got["ece_end"]["judgement"] == "not measured"


def test_the_policy_is_named_by_its_version_and_its_file() -> None:
    from pipelines.crop_outcomes import _policy_reading
    from underwriting.policy import DEFAULT_POLICY_PATH, load_policy

    feats = pd.DataFrame({"field_id": ["a", "b"], "season": "2009", "region": "in-smallholder",
                          "growth_stage": None, "declared_crop": "rice", "crop_type": ["rice", "maize"],
                          "crop_type_prob": [0.9, 0.9], "declared_crop_prob": [0.9, 0.1]})
    version = load_policy(None).version
    _, said, _ = _policy_reading(feats, "2009-12-01", None, None)
    assert said == f"policy {version}, every profile alike"
    _, said, _ = _policy_reading(feats, "2009-12-01", DEFAULT_POLICY_PATH, "in-kcc")
    assert said == f"policy {version} ({Path(DEFAULT_POLICY_PATH).name}) profile in-kcc"


def test_the_lineages_version_given_again_and_a_pinned_scale_are_taken(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    f = _write(trained["feats"], tmp_path / "f.parquet", trained["built"] + ", season scale pinned at 1.5")
    r = _perf(trained, monkeypatch, features=f, version=trained["v"], checkpoint="end")
    assert r.version == trained["v"] and r.scored == 150
    assert r.notes[0] == ("the features were built with the crop model's season scale pinned at 1.5 "
                          "(--crop-season-scale): their probabilities are that pin's, not the version's own season "
                          "calibration")
    assert _perf(trained, monkeypatch, version="champion", checkpoint="end").version == trained["v"]


def test_checkpoints_named_by_a_single_checkpoint_version_or_the_first_noted() -> None:
    from types import SimpleNamespace

    from pipelines.crop_outcomes import _row_checkpoints

    feats = pd.DataFrame({"field_id": ["a", "b", "c"], "season": "2009", "region": "in-smallholder"})
    model = SimpleNamespace(checkpoints_=["end"], checkpoint_for=lambda keys, as_of: ["end", None, "end"])
    one = SimpleNamespace(notes="", checkpoints=("harvest",))
    assert list(_row_checkpoints(model, None, one, feats, "2009-12-01")) == ["harvest", "", "harvest"]
    model = SimpleNamespace(checkpoints_=[78, "end"], checkpoint_for=lambda keys, as_of: [78, None, "end"])
    noted = SimpleNamespace(notes="declared crops of seasons 2003; checkpoints emergence=78, end=end",
                            checkpoints=("emergence", "end"))
    assert list(_row_checkpoints(model, None, noted, feats, "2009-12-01")) == ["emergence", "", "end"]


def test_a_typo_at_the_cutoff_is_quoted_and_at_most_three_are(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    pd.DataFrame({"field_id": ["a", "b"], "season": "2019", "verified_crop": ["maize", "mai"]}).to_csv(one, index=False)
    with pytest.raises(UserInputError, match=r"verified_crop 'mai' \(did you mean maize\?\) not a known crop at data "
                                             r"row 2 "):
        read_verified(one)
    four = tmp_path / "four.csv"
    pd.DataFrame({"field_id": list("abcd"), "season": "2019",
                  "verified_crop": ["maizze", "ricee", "soybeen", "cotten"]}).to_csv(four, index=False)
    with pytest.raises(UserInputError) as got:
        read_verified(four)
    said = str(got.value)
    assert ("verified_crop 'cotten' (did you mean cotton?), 'maizze' (did you mean maize?), 'ricee' (did you mean "
            "rice?) not a known crop at data row 1, data row 2, data row 3, data row 4 (4 in all)") in said and "soybeen" not in said


def test_a_season_before_the_training_seasons_is_refused(trained: dict[str, Any],  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = _write(trained["feats"].assign(season="2015"), tmp_path / "f.parquet", trained["built"])
    trained["verified"].assign(season="2015").to_csv(tmp_path / "v.csv", index=False)
    with pytest.raises(UserInputError, match="season 2015 is not after the seasons crop-type version 1 trained on"):
        _perf(trained, monkeypatch, features=f, verified=tmp_path / "v.csv", checkpoint="end")


def test_a_season_between_training_seasons_is_refused(trained: dict[str, Any],  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(co, "_training_seasons", lambda version: ["2015", "2020"])
    with pytest.raises(UserInputError, match="season 2019 is not after the seasons crop-type version 1 trained on "
                                             r"\(2015, 2020\)"):
        _perf(trained, monkeypatch, checkpoint="end")


def test_no_field_at_a_checkpoint_is_refused_naming_where_they_are(trained: dict[str, Any],  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _placed(trained, monkeypatch, {"": 150})
    with pytest.raises(UserInputError, match="no verified field has reached a checkpoint crop-type version 1 was "
                                             r"validated at \(mid, end\)"):
        _perf(trained, monkeypatch)
    _placed(trained, monkeypatch, {"end": 140, "": 10})
    with pytest.raises(UserInputError, match=r"no verified field is at checkpoint mid of crop-type version 1 \(they "
                                             r"are at: end \(140\)\)"):
        _perf(trained, monkeypatch, checkpoint="mid")


def test_thirty_fields_are_enough_and_a_class_of_thirty_is_not_under_thirty(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    v = trained["verified"].sort_values("field_id")
    v.iloc[:30].to_csv(tmp_path / "thirty.csv", index=False)
    assert _perf(trained, monkeypatch, verified=tmp_path / "thirty.csv", checkpoint="end").scored == 30
    crop = v["verified_crop"]
    pd.concat([v[crop != "maize"], v[crop == "maize"].iloc[:30]]).to_csv(tmp_path / "v.csv", index=False)
    r = _perf(trained, monkeypatch, verified=tmp_path / "v.csv", checkpoint="end")
    assert r.scored == 130 and r.figures["support"]["maize"] == 30
    assert not any(n.startswith("under 30 fields verified") for n in r.notes)
    assert r.registered == "met its minimum metrics at registration"



def test_only_verified_fields_with_a_crop_type_choose_and_count_the_checkpoint(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    _placed(trained, monkeypatch, {"end": 60, "mid": 90})  # most fields at mid, most verified ones at end
    feats = trained["feats"]
    verified = trained["verified"].set_index("field_id").loc[feats["field_id"].iloc[:80]].reset_index()
    verified.to_csv(tmp_path / "v.csv", index=False)
    r = _perf(trained, monkeypatch, verified=tmp_path / "v.csv")
    assert r.checkpoint == "end" and r.scored == 60
    assert r.outside == {"without a verified crop": 70, "at checkpoint mid": 20}


def test_fields_without_a_crop_type_neither_choose_the_checkpoint_nor_count_at_one(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    _placed(trained, monkeypatch, {"end": 60, "mid": 90})
    feats = trained["feats"]
    row = np.arange(len(feats))
    f = _write(feats.assign(crop_type=feats["crop_type"].where((row < 60) | (row >= 120), None)),
               tmp_path / "f.parquet", trained["built"])
    r = _perf(trained, monkeypatch, features=f)  # at mid: 90 fields, 30 of them with a crop type
    assert r.checkpoint == "end" and r.scored == 60
    assert r.outside == {"without a crop type": 60, "at checkpoint mid": 30}
    # fields without a crop type that are not verified either: counted once, as not verified
    f = _write(feats.assign(crop_type=feats["crop_type"].where(row < 140, None)), tmp_path / "g.parquet",
               trained["built"])
    verified = trained["verified"].set_index("field_id").loc[feats["field_id"].iloc[:140]].reset_index()
    verified.to_csv(tmp_path / "v.csv", index=False)
    r = _perf(trained, monkeypatch, features=f, verified=tmp_path / "v.csv")
    assert r.checkpoint == "mid" and r.scored == 80
    assert r.outside == {"without a verified crop": 10, "at checkpoint end": 60}
