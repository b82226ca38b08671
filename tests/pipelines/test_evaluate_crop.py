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
    add_intervals,
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
    assert text.splitlines()[-1] == f"intervals: {describe(INTERVAL_UNITS)}"


def test_cli_json_and_missing_truth(tiny_county_sh: Path, cache: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "crop-type", "--county", str(tiny_county_sh), "--json", "--no-loso",
                            "--cache-dir", str(cache)])
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["data"] == "synthetic" and "loso" not in rep and rep["current"]["end"]["n"] == 12
    assert len(rep["current"]["end"]["accuracy_ci"]) == 2 and len(rep["spatial_block"]["mid"]["macro_f1_ci"]) == 2
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
    assert set_intervals({"true": [], "pred": []}) == {"accuracy_ci": None, "macro_f1_ci": None}


def test_loso_mean_intervals_resample_within_each_season() -> None:
    # two held-out seasons of different sizes: each resample draws each season's own fields, as many as it has, and
    # the resampled mean is the mean of the seasons' figures on the repeated rows, as loso_summary averages them
    rng = np.random.default_rng(5)
    per = {"2008": _scored_set(rng, 30)[PER_FIELD], "2009": _scored_set(rng, 70)[PER_FIELD]}
    drawn: dict[int, np.ndarray] = {}

    def counts(k: int, n: int) -> np.ndarray:
        drawn[k] = rng.multinomial(n, np.full(n, 1 / n), size=50)
        return drawn[k]

    figs = resampled_loso_figures(per, counts)
    assert [drawn[k].shape[1] for k in (0, 1)] == [30, 70]
    for i in range(0, 50, 7):
        seasons = [classification_metrics(np.repeat(per[s]["true"], drawn[k][i]),
                                          np.repeat(per[s]["pred"], drawn[k][i])) for k, s in enumerate(sorted(per))]
        summary = loso_summary({s: {**m, "ece": 0.0} for s, m in zip(sorted(per), seasons)})
        assert figs["mean_accuracy"][i] == pytest.approx(summary["mean_accuracy"], abs=1e-12)
        assert figs["mean_macro_f1"][i] == pytest.approx(summary["mean_macro_f1"], abs=1e-12)
    # the default draws: each season n of n on its own stream
    seen: list[np.ndarray] = []

    def spy(k: int, n: int) -> np.ndarray:
        seen.append(season_draws(k, n))
        return seen[-1]

    resampled_loso_figures(per, spy)
    assert [w.shape for w in seen] == [(INTERVAL["resamples"], 30), (INTERVAL["resamples"], 70)]
    assert (seen[0].sum(axis=1) == 30).all() and (seen[1].sum(axis=1) == 70).all()
    assert not np.array_equal(seen[0][:, :30], seen[1][:, :30])
    assert not np.array_equal(seen[0], resample_counts(30, np.arange(30)))


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
