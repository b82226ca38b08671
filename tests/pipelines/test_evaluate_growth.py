"""``agcredit evaluate growth-stage`` and its metrics (pipelines/evaluation/growth_stage.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.evaluation.growth_stage import (
    date_metrics,
    evaluate_growth_stage,
    format_growth_evaluation,
    stage_accuracy,
)


def _d(*days: float | None) -> pd.Series:
    t0 = pd.Timestamp("2020-05-01")
    return pd.Series([pd.NaT if d is None else t0 + pd.Timedelta(days=d) for d in days], dtype="datetime64[ns]")


def test_date_metrics_on_hand_made_frames() -> None:
    truth = pd.DataFrame({"field_id": ["a", "b", "c", "d"], "emergence_date": _d(0, 10, 20, None),
                          "maturity_date": _d(100, 100, 100, 100), "harvest_date": _d(110, 110, None, None)})
    pred = pd.DataFrame({"field_id": ["d", "c", "b", "a"], "emergence_date": _d(5, 23, None, 4),
                         "maturity_date": _d(130, 95, 108, 100), "harvest_date": _d(None, 120, 112, 120)})
    m = date_metrics(pred, truth)
    assert m["n_fields"] == 4
    assert m["emergence_n"] == 3 and m["emergence_coverage"] == pytest.approx(2 / 3)
    assert m["emergence_mae_days"] == pytest.approx((4 + 3) / 2)
    assert m["emergence_bias_days"] == pytest.approx((4 + 3) / 2)
    assert m["maturity_mae_days"] == pytest.approx((0 + 8 + 5 + 30) / 4)
    assert m["maturity_within_10d"] == pytest.approx(3 / 4)
    assert m["harvest_mae_days"] == pytest.approx((10 + 2) / 2)
    assert m["harvest_bias_days"] == pytest.approx(6.0)


def test_maturity_within_counts_missing_predictions_as_misses() -> None:
    truth = pd.DataFrame({"field_id": ["a", "b"], "emergence_date": _d(0, 0), "maturity_date": _d(90, 90),
                          "harvest_date": _d(100, 100)})
    pred = pd.DataFrame({"field_id": ["a"], "emergence_date": _d(1), "maturity_date": _d(92),
                         "harvest_date": _d(100)})
    m = date_metrics(pred, truth)
    assert m["maturity_within_10d"] == 0.5 and m["maturity_coverage"] == 0.5


def test_stage_accuracy() -> None:
    t = pd.Series(["emerged", "vegetative", "harvested", None], index=["a", "b", "c", "d"])
    p = pd.Series(["emerged", "reproductive", "harvested"], index=["c", "b", "a"])
    assert stage_accuracy(p, t) == pytest.approx(0.0)
    p2 = pd.Series(["harvested", "reproductive", "emerged"], index=["c", "b", "a"])
    assert stage_accuracy(p2, t) == pytest.approx(2 / 3)
    assert stage_accuracy(p, pd.Series([None], index=["a"], dtype=object)) is None


@pytest.fixture(scope="module")
def result(tiny_county_sh: Path) -> dict:
    with pytest.MonkeyPatch.context() as mp:   # module scope: outside the per-test environment fixture
        mp.setenv("AGCREDIT_TOKEN_KEY", "test-token-key-0123456789")
        mp.delenv("AGCREDIT_CACHE_DIR", raising=False)
        return evaluate_growth_stage(tiny_county_sh)


def test_evaluate_on_tiny_county(result: dict, tiny_county_sh: Path) -> None:
    assert result["label"] == "synthetic" and result["region"] == "in-smallholder"
    assert result["n_scored"] > 0 and result["n_scored"] <= result["n_fields"]
    assert "summer" in result["groups"]
    g = result["groups"]["summer"]
    assert set(g) == {"calibrated", "uncalibrated", "baseline"}
    for m in g.values():
        assert m["n_fields"] == result["n_scored"]
        for key in ("stage_accuracy_mid", "stage_accuracy_pre_harvest"):
            acc = m[key]
            assert acc is None or 0.0 <= acc <= 1.0
        # the pre-harvest checkpoint too: what re-underwriting there sets a line's term from
        assert "expected_harvest_pre_harvest_mae_days" in m and "expected_harvest_pre_harvest_bias_days" in m
    assert result["as_of"]["mid"] < result["as_of"]["pre_harvest"] < result["as_of"]["end"]
    # the calendar baseline always gives a date
    assert g["baseline"]["emergence_coverage"] == 1.0
    assert g["calibrated"]["emergence_mae_days"] is not None and np.isfinite(g["calibrated"]["emergence_mae_days"])
    assert not (tiny_county_sh / ".cache").exists(), "nothing may be written into the county folder"
    text = format_growth_evaluation(result)
    assert "[synthetic]" in text and "emergence MAE (days)" in text and "calendar" in text
    assert "pre-harvest expected harvest" in text and f"pre-harvest {result['as_of']['pre_harvest']}" in text


def test_cli_json_and_text(tiny_county_sh: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "growth-stage", "--county", str(tiny_county_sh), "--json",
                            "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["label"] == "synthetic" and "summer" in out["groups"]
    assert r.stderr == ""
    r2 = runner.invoke(app, ["evaluate", "growth-stage", "--county", str(tiny_county_sh),
                             "--cache-dir", str(tmp_path / "cache")])
    assert r2.exit_code == 0, r2.stderr
    assert "growth-stage evaluation [synthetic]" in r2.stdout
    assert "series" in r2.stderr   # progress on stderr


def test_cli_missing_county(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["evaluate", "growth-stage", "--county", str(tmp_path / "nope")])
    assert r.exit_code == 2
    assert "county folder not found" in r.stderr


def test_cli_season_without_truth_rows(tiny_county_sh: Path, tmp_path: Path) -> None:
    # a truth table without the current season's rows gave a traceback (TypeError in _gap_around), exit 1
    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c)
    t = pd.read_parquet(c / "truth" / "fields.parquet")
    t[t["season"].astype(str) != "2009"].to_parquet(c / "truth" / "fields.parquet")
    r = CliRunner().invoke(app, ["evaluate", "growth-stage", "--county", str(c), "--quiet"])
    assert r.exit_code == 2, r.stderr
    assert "no planted field of season 2009 to score (0 of its 12 field(s) have a truth row" in r.stderr
    assert len(r.stderr.splitlines()) == 1
