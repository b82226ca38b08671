"""``agcredit evaluate crop-type`` on a tiny county: trained on declared crops, tested on truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from pipelines import train_crop
from pipelines.cli import app
from pipelines.evaluation.crop_type import evaluate_crop_type_county, render_crop_type

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


def test_cli_json_and_missing_truth(tiny_county_sh: Path, cache: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "crop-type", "--county", str(tiny_county_sh), "--json", "--no-loso",
                            "--cache-dir", str(cache)])
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["data"] == "synthetic" and "loso" not in rep and rep["current"]["end"]["n"] == 12
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
