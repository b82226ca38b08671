"""``agcredit evaluate crop-type`` on a tiny county: trained on declared crops, tested on truth."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from features._crop_eval import PER_FIELD, classification_metrics, loso_summary
from features.errors import UserInputError
from pipelines import train_crop
from pipelines.cli import app
from pipelines.evaluation._bootstrap import INTERVAL, describe, resample_counts, season_draws
from pipelines.evaluation.crop_type import (
    INTERVAL_UNITS,
    MODEL_MINUS_BASELINE,
    add_intervals,
    baseline_intervals,
    evaluate_crop_type_county,
    loso_intervals,
    render_crop_type,
    resampled_loso_figures,
    set_intervals,
)

FAST = {"n_estimators": 20, "num_leaves": 7, "min_class_count": 1, "period_days": 16, "augment_gaps": 0.5}


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_crop, "COUNTY_PARAMS", {**train_crop.COUNTY_PARAMS, **FAST})


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval-crop-cache")


def test_evaluate_county_report(tiny_county_sh: Path, cache: Path) -> None:
    r = evaluate_crop_type_county(tiny_county_sh, cache_dir=cache)
    assert r["data"] == "synthetic" and r["region"] == "in-smallholder"
    assert r["current_season"] == "2009" and r["train_seasons"] == ["2008"] and r["n_test"] == 12
    assert r["checkpoints"] == {"emergence": 78, "mid": 123, "pre_harvest": 163, "end": "end"} and r["mid_checkpoint_days"] == 123
    for k in ("end", "mid"):
        m = r["current"][k]
        assert m["n"] == 12 and 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["ece"] <= 1.0
    assert set(r["loso"]["per_season"]) == {"2008", "2009"}
    assert r["loso"]["end"]["worst_accuracy"] <= r["loso"]["end"]["mean_accuracy"]
    assert 0.0 <= r["loso"]["mid"]["mean_ece"] <= 1.0 and set(r["loso"]["end"]["mean_f1"]) >= {"rice"}
    # the baseline takes a record without a declared crop as "fallow" (declared not planted)
    assert r["baseline_declared"]["n"] == 12 and "<none>" not in r["baseline_declared"]["f1"]
    text = render_crop_type(r)
    assert "SYNTHETIC figures" in text and "baseline: declared crop" in text and "leave-one-season-out, end" in text
    assert "mean F1 per class: " in text
    # the leave-one-season-out figures have their baseline beside them (they had none)
    lb = r["loso"]["baseline_declared"]
    now, past = r["baseline_declared"]["accuracy"], 2 * lb["mean_accuracy"] - r["baseline_declared"]["accuracy"]
    assert 0.0 <= past <= 1.0 and lb["worst_accuracy"] == pytest.approx(min(now, past))
    assert "leave-one-season-out, baseline declared crop: mean accuracy" in text
    cal = r["spatial_block"]["end"]["calibration"]
    assert cal["n_groups"] == r["spatial_block"]["n_conditions_tested"] and "held-out cond., end  conf" in text
    assert r["spatial_block"]["baseline_declared"]["n"] == r["spatial_block"]["end"]["n"]
    assert "baseline: declared, held-out cond." in text and "not one contiguous area" in text
    assert "calibrated floor" in text and sum(b["n"] for b in cal["reliability"]) == r["spatial_block"]["end"]["n"]
    # declared_crop_prob against truth: every record with a declared crop, the wrong ones counted from truth
    dec = r["current"]["end"]["declared"]
    assert 0 < dec["n"] <= 12 and sum(b["n"] for b in dec["bins"]) == dec["n"] and 0 <= dec["flagged_wrong"] <= dec["wrong"]
    assert "declared_crop_prob (the CROP_MISMATCH check) against truth" in text and "current, end         " in text
    # accuracy and macro-F1 carry 95% intervals over fields beside them (every scored set; the leave-one-season-out
    # means within each season), how they were drawn said once; the per-field crops they were drawn from are gone
    sets = [r["current"]["end"], r["current"]["mid"], r["spatial_block"]["end"], r["spatial_block"]["mid"],
            *(m for s in r["loso"]["per_season"].values() for m in s.values())]
    for m in sets:
        for key in ("accuracy", "macro_f1"):
            lo, hi = m[f"{key}_ci"]
            assert lo - 1e-6 <= m[key] <= hi + 1e-6
    for k in ("end", "mid"):
        lo_ = r["loso"][k]
        for key in ("mean_accuracy", "mean_macro_f1", "mean_rice_vs_other_accuracy"):
            assert lo_[f"{key}_ci"][0] - 1e-6 <= lo_[key] <= lo_[f"{key}_ci"][1] + 1e-6
    assert r["interval"] == describe(INTERVAL_UNITS) and PER_FIELD not in render_crop_type(r, as_json=True)
    acc, ci = r["current"]["end"]["accuracy"], r["current"]["end"]["accuracy_ci"]
    assert f"{acc:.3f} ({ci[0]:.3f}–{ci[1]:.3f})" in text and "accuracy (95% int.)" in text
    ci = r["loso"]["end"]["mean_macro_f1_ci"]
    assert f"mean macro-F1 {r['loso']['end']['mean_macro_f1']:.3f} ({ci[0]:.3f}–{ci[1]:.3f})" in text
    # per-class recall and F1 carry theirs too (every class of the set's dicts; None only where no resample has the
    # figure), the leave-one-season-out mean F1 per class, and the declared-crop baseline of the current season
    base = r["baseline_declared"]
    for m in [*sets, base]:
        for key in ("recall", "f1"):
            assert set(m[f"{key}_ci"]) == set(m[key])
            for c, v in m[key].items():
                lo, hi = m[f"{key}_ci"][c]
                assert lo - 1e-6 <= v <= hi + 1e-6
    for k in ("end", "mid"):
        lo_ = r["loso"][k]
        assert set(lo_["mean_f1_ci"]) == set(lo_["mean_f1"])
        assert all(ci[0] - 1e-6 <= lo_["mean_f1"][c] <= ci[1] + 1e-6 for c, ci in lo_["mean_f1_ci"].items())
    for key in ("accuracy", "macro_f1"):
        assert base[f"{key}_ci"][0] - 1e-6 <= base[key] <= base[f"{key}_ci"][1] + 1e-6
    assert base[MODEL_MINUS_BASELINE] == r["current"]["end"]["accuracy"] - base["accuracy"]
    lo, hi = base[f"{MODEL_MINUS_BASELINE}_ci"]
    assert lo - 1e-6 <= base[MODEL_MINUS_BASELINE] <= hi + 1e-6 and "model minus declared crop" in text
    # the held-out conditions' baseline is drawn on the block's end set's resamples, with the paired difference
    sbb, sbe = r["spatial_block"]["baseline_declared"], r["spatial_block"]["end"]
    for key in ("accuracy", "macro_f1"):
        assert sbb[f"{key}_ci"][0] - 1e-6 <= sbb[key] <= sbb[f"{key}_ci"][1] + 1e-6
    assert set(sbb["f1_ci"]) == set(sbb["f1"]) and PER_FIELD not in sbb
    assert sbb[MODEL_MINUS_BASELINE] == sbe["accuracy"] - sbb["accuracy"]
    lo, hi = sbb[f"{MODEL_MINUS_BASELINE}_ci"]
    assert lo - 1e-6 <= sbb[MODEL_MINUS_BASELINE] <= hi + 1e-6
    assert "model minus declared crop, held-out cond., end accuracy: " in text
    end, c = r["current"]["end"], sorted(r["current"]["end"]["f1"])[0]
    ci = end["f1_ci"][c]
    assert f"{end['f1'][c]:.3f} ({ci[0]:.3f}–{ci[1]:.3f})" in text and "recall (95% int.)" in text
    assert text.splitlines()[-1] == f"intervals: {describe(INTERVAL_UNITS)}"


def test_cli_json_and_missing_truth(tiny_county_sh: Path, cache: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "crop-type", "--county", str(tiny_county_sh), "--json", "--no-loso",
                            "--cache-dir", str(cache)])
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["data"] == "synthetic" and "loso" not in rep and rep["current"]["end"]["n"] == 12
    assert len(rep["current"]["end"]["accuracy_ci"]) == 2 and len(rep["spatial_block"]["mid"]["macro_f1_ci"]) == 2
    base = rep["baseline_declared"]
    assert set(base["f1_ci"]) == set(base["f1"]) and set(rep["current"]["end"]["recall_ci"]) == set(
        rep["current"]["end"]["recall"])
    assert len(base["accuracy_ci"]) == 2 and len(base[f"{MODEL_MINUS_BASELINE}_ci"]) == 2
    assert rep["interval"] == describe(INTERVAL_UNITS) and PER_FIELD not in r.stdout
    bare = tmp_path / "county"
    shutil.copytree(tiny_county_sh, bare, ignore=shutil.ignore_patterns("truth", "scenes"))
    r = runner.invoke(app, ["evaluate", "crop-type", "--county", str(bare), "--cache-dir", str(cache)])
    assert r.exit_code == 2 and "no truth table 'fields'" in r.stderr
    with pytest.raises(UserInputError, match="county folder not found"):
        evaluate_crop_type_county(tmp_path / "nowhere")


def test_json_report_is_valid_json_when_a_tested_set_is_empty() -> None:
    # an empty held-out set (no field of the held-out conditions in the tested season) has NaN metrics, which --json
    # wrote as a bare NaN: not JSON (jq and strict parsers refuse it)
    r = {"spatial_block": {"end": {"n": 0, "accuracy": float("nan"), "recall": {}, "ece": float("nan")}},
         "loso": {"per_season": {"2008": {"end": {"f1": [1.0, float("inf")]}}}}}

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    got = json.loads(render_crop_type(r, as_json=True), parse_constant=refuse)
    assert got["spatial_block"]["end"] == {"n": 0, "accuracy": None, "recall": {}, "ece": None}
    assert got["loso"]["per_season"]["2008"]["end"]["f1"] == [1.0, None]


def _scored_set(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """A scored set's metrics as ``_scored`` returns them, its fields' crops drawn at random."""
    crops = np.array(["cotton", "fallow", "maize", "rice"])
    true = rng.choice(crops, n, p=[0.4, 0.1, 0.3, 0.2])
    pred = np.where(rng.random(n) < 0.8, true, rng.choice(crops, n))
    m = classification_metrics(true, pred)
    m.update(ece=0.05, rice_vs_other_accuracy=float(np.mean((true == "rice") == (pred == "rice"))))
    m[PER_FIELD] = {"true": true.tolist(), "pred": pred.tolist()}
    return m


def test_intervals_contain_their_figures_and_are_seeded() -> None:
    m = _scored_set(np.random.default_rng(3), 80)
    ci = set_intervals(m[PER_FIELD])
    for key in ("accuracy", "macro_f1"):
        lo, hi = ci[f"{key}_ci"]
        assert lo - 1e-6 <= m[key] <= hi + 1e-6 and lo < hi
    assert set_intervals(copy.deepcopy(m[PER_FIELD])) == ci
    # per class: every class of the set's recall / F1, each interval containing its figure
    for key in ("recall", "f1"):
        assert list(ci[f"{key}_ci"]) == list(m[key])
        for c, v in m[key].items():
            lo, hi = ci[f"{key}_ci"][c]
            assert lo - 1e-6 <= v <= hi + 1e-6 and 0.0 <= lo <= hi <= 1.0
    assert "rice_vs_other_accuracy_ci" not in ci
    rice = set_intervals(m[PER_FIELD], rice=True)["rice_vs_other_accuracy_ci"]
    assert rice[0] - 1e-6 <= m["rice_vs_other_accuracy"] <= rice[1] + 1e-6
    assert set_intervals({"true": [], "pred": []}) == {"accuracy_ci": None, "macro_f1_ci": None, "recall_ci": {},
                                                       "f1_ci": {}}


def test_per_class_interval_leaves_out_resamples_without_the_figure() -> None:
    # one field of a rare class among 60: about a third of the resamples do not draw it (no recall, no F1 there);
    # its interval is taken over the others (read as 0 there, the interval would reach down to 0)
    true = ["a"] * 59 + ["r"]
    pred = ["a"] * 59 + ["r"]
    ci = set_intervals({"true": true, "pred": pred})
    assert ci["recall_ci"]["r"] == [1.0, 1.0] and ci["f1_ci"]["r"] == [1.0, 1.0]  # NaN dropped, not read as 0


def test_baseline_is_drawn_on_the_model_sets_resamples() -> None:
    m = _scored_set(np.random.default_rng(13), 60)
    model = m[PER_FIELD]
    # the declared crop equal to the model's predictions: the same figures on the same resamples, so the paired
    # difference is 0 on every resample — different draws would spread it
    same = baseline_intervals(model, copy.deepcopy(model), rice=True)
    assert same[f"{MODEL_MINUS_BASELINE}_ci"] == [0.0, 0.0]
    assert {k: v for k, v in same.items() if k != f"{MODEL_MINUS_BASELINE}_ci"} == set_intervals(model, rice=True)
    # another prediction: its intervals are its own set's (the same stream, the same fields), the difference's
    # interval contains the difference of the figures
    rng = np.random.default_rng(17)
    declared = [t if rng.random() < 0.9 else "fallow" for t in model["true"]]
    base = {"true": model["true"], "pred": declared}
    got = baseline_intervals(model, base)
    assert {k: v for k, v in got.items() if k != f"{MODEL_MINUS_BASELINE}_ci"} == set_intervals(base)
    diff = m["accuracy"] - classification_metrics(model["true"], declared)["accuracy"]
    lo, hi = got[f"{MODEL_MINUS_BASELINE}_ci"]
    assert lo - 1e-6 <= diff <= hi + 1e-6 and lo < hi
    # the paired difference varies less than the two figures drawn independently would
    assert hi - lo < (got["accuracy_ci"][1] - got["accuracy_ci"][0]) + (set_intervals(model)["accuracy_ci"][1]
                                                                         - set_intervals(model)["accuracy_ci"][0])
    with pytest.raises(ValueError, match="same order"):
        baseline_intervals(model, {"true": model["true"][::-1], "pred": declared[::-1]})


def test_loso_mean_intervals_resample_within_each_season() -> None:
    # two held-out seasons of different sizes: each resample draws each season's own fields, as many as it has, and
    # the resampled mean is the mean of the seasons' figures on the repeated rows, as loso_summary averages them
    rng = np.random.default_rng(5)
    per = {"2008": _scored_set(rng, 30)[PER_FIELD], "2009": _scored_set(rng, 70)[PER_FIELD]}
    drawn: dict[int, np.ndarray] = {}

    def counts(k: int, n: int) -> list[np.ndarray]:
        drawn[k] = rng.multinomial(n, np.full(n, 1 / n), size=50)
        return [drawn[k]]

    figs = resampled_loso_figures(per, counts)
    assert [drawn[k].shape[1] for k in (0, 1)] == [30, 70]
    for i in range(0, 50, 7):
        seasons = [classification_metrics(np.repeat(per[s]["true"], drawn[k][i]),
                                          np.repeat(per[s]["pred"], drawn[k][i])) for k, s in enumerate(sorted(per))]
        summary = loso_summary({s: {**m, "ece": 0.0} for s, m in zip(sorted(per), seasons)})
        assert figs["mean_accuracy"][i] == pytest.approx(summary["mean_accuracy"], abs=1e-12)
        assert figs["mean_macro_f1"][i] == pytest.approx(summary["mean_macro_f1"], abs=1e-12)
        assert list(figs["mean_f1"]) == list(summary["mean_f1"])
        for c, v in summary["mean_f1"].items():
            assert figs["mean_f1"][c][i] == pytest.approx(v, abs=1e-12)
    # the default draws: each season n of n on its own stream
    seen: list[np.ndarray] = []

    def spy(k: int, n: int) -> list[np.ndarray]:
        seen.append(np.concatenate(list(season_draws(k, n))))
        return [seen[-1]]

    resampled_loso_figures(per, spy)
    assert [w.shape for w in seen] == [(INTERVAL["resamples"], 30), (INTERVAL["resamples"], 70)]
    assert (seen[0].sum(axis=1) == 30).all() and (seen[1].sum(axis=1) == 70).all()
    assert not np.array_equal(seen[0][:, :30], seen[1][:, :30])
    assert not np.array_equal(seen[0], resample_counts(30, np.arange(30)))


def test_loso_mean_f1_of_a_class_missing_in_a_season() -> None:
    # "wheat" is in one season only, and some resamples of that season do not draw it: the mean F1 per class is the
    # mean over the seasons whose resample has the class (as loso_summary averages), NaN where none has it
    per = {"2008": {"true": ["a", "a", "b", "b"], "pred": ["a", "b", "b", "b"]},
           "2009": {"true": ["a", "b", "wheat", "wheat"], "pred": ["a", "a", "wheat", "b"]}}
    rows = {0: np.array([[1, 1, 1, 1], [2, 0, 1, 1], [0, 0, 2, 2]]),
            1: np.array([[1, 1, 1, 1], [1, 1, 2, 0], [2, 2, 0, 0]])}
    figs = resampled_loso_figures(per, lambda k, n: [rows[k]])
    for i in range(3):
        seasons = {s: {**classification_metrics(np.repeat(per[s]["true"], rows[k][i]),
                                                np.repeat(per[s]["pred"], rows[k][i])), "ece": 0.0}
                   for k, s in enumerate(sorted(per))}
        want = loso_summary(seasons)["mean_f1"]
        for c in ("a", "b", "wheat"):
            if c in want:
                assert figs["mean_f1"][c][i] == pytest.approx(want[c], abs=1e-12)
            else:
                assert np.isnan(figs["mean_f1"][c][i])
    # the third resample draws no wheat: its mean F1 is missing there (NaN, left out of the interval); the first two
    # take wheat from 2009 alone
    assert np.isnan(figs["mean_f1"]["wheat"][2]) and figs["mean_f1"]["wheat"][0] == pytest.approx(2 / 3)
    ci = loso_intervals(per, rice=False)["mean_f1_ci"]
    assert list(ci) == ["a", "b", "wheat"] and all(v is not None for v in ci.values())


def test_add_intervals_only_adds_keys() -> None:
    # every figure the report had stays as it was; the intervals and how they were drawn are added, the per-field
    # crops removed; the current season, also the leave-one-season-out season, is one set with one interval
    rng = np.random.default_rng(11)
    cur = {"end": _scored_set(rng, 40), "mid": _scored_set(rng, 40)}
    past = {"end": _scored_set(rng, 25), "mid": _scored_set(rng, 25)}
    per = {"2008": past, "2009": cur}
    r = {"current": cur, "baseline_declared": classification_metrics(["a"], ["a"]),
         "spatial_block": {"kind": "held-out", "n_train": 3, "baseline_declared": classification_metrics(["a"], ["b"]),
                           "end": _scored_set(rng, 9), "mid": _scored_set(rng, 9)},
         "loso": {"per_season": per, "end": loso_summary({s: per[s]["end"] for s in per}),
                  "mid": loso_summary({s: per[s]["mid"] for s in per})}}
    want = loso_intervals({s: per[s]["end"][PER_FIELD] for s in per}, rice=True)
    want_set = set_intervals(cur["end"][PER_FIELD], rice=True)  # the set has rice vs other accuracy

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != PER_FIELD and not k.endswith("_ci") and k != "interval"}
        return x

    before = json.dumps(strip(copy.deepcopy(r)), sort_keys=True)
    add_intervals(r)
    assert json.dumps(strip(r), sort_keys=True) == before and PER_FIELD not in json.dumps(r)
    assert r["loso"]["per_season"]["2009"] is r["current"] and "accuracy_ci" in r["loso"]["per_season"]["2008"]["mid"]
    assert {k: r["loso"]["end"][k] for k in want} == want and "mean_ece_ci" not in r["loso"]["end"]
    assert "accuracy_ci" not in r["baseline_declared"] and r["interval"] == describe(INTERVAL_UNITS)
    assert {k: r["loso"]["end"]["mean_f1_ci"][k] for k in want["mean_f1_ci"]} == want["mean_f1_ci"]
    assert {k: r["current"]["end"][k] for k in want_set} == want_set
    # a baseline holding its fields' crops (as evaluate_crop_type_county gives it) gets its intervals, drawn with the
    # current season's end set, before that set's own crops are removed
    rng = np.random.default_rng(19)
    cur = {"end": _scored_set(rng, 30), "mid": _scored_set(rng, 30)}
    true = cur["end"][PER_FIELD]["true"]
    declared = [t if rng.random() < 0.85 else "fallow" for t in true]
    base = {**classification_metrics(true, declared), PER_FIELD: {"true": list(true), "pred": declared}}
    want_base = baseline_intervals(cur["end"][PER_FIELD], base[PER_FIELD])
    r = {"current": cur, "baseline_declared": base, "spatial_block": {"end": _scored_set(rng, 5)}}
    before = json.dumps(strip(copy.deepcopy(r)), sort_keys=True)
    add_intervals(r)
    assert json.dumps(strip(r), sort_keys=True) == before and PER_FIELD not in json.dumps(r)
    assert {k: r["baseline_declared"][k] for k in want_base} == want_base and "f1_ci" in r["current"]["end"]


def test_signed_or_negative_intervals_are_joined_by_to_not_a_dash():
    from pipelines.evaluation.crop_type import _fig

    assert _fig(0.0, [-0.028, 0.03], "+") == "+0.000 (-0.028 to +0.030)"
    assert _fig(-0.1, [-0.2, -0.05]) == "-0.100 (-0.200 to -0.050)"
    assert _fig(0.5, [0.4, 0.6]) == "0.500 (0.400–0.600)"
    assert _fig(0.5, None) == "0.500"
