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
    CI_KEYS,
    date_metrics,
    evaluate_growth_stage,
    expected_harvest_error,
    field_intervals,
    field_values,
    format_growth_evaluation,
    resampled_figures,
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


def _season(right: bool = False) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.Series, pd.Series]:
    """A hand-made season of 8 fields: one method's runs (as of mid, pre_harvest and end), the truth and the true
    stages at mid-season and pre-harvest. Missing true and predicted dates and stages, a failed crop (no true
    harvest), a prediction for a field outside the truth and rows out of order; ``right``: every prediction is the
    truth."""
    ids = list("abcdefgh")
    truth = pd.DataFrame({"field_id": ids, "emergence_date": _d(0, 10, 20, None, 5, 0, 3, 8),
                          "maturity_date": _d(100, 100, 100, 100, None, 95, 90, 104),
                          "harvest_date": _d(110, 110, None, 120, 115, 100, 100, 112)})
    true_mid = pd.Series(["vegetative", "reproductive", "reproductive", None, "maturing", "vegetative",
                          "reproductive", "maturing"], index=ids, dtype=object)
    true_pre = pd.Series(["maturing", "maturing", "harvested", "maturing", None, "harvested", "harvested",
                          "maturing"], index=ids, dtype=object)
    if right:
        end = truth.copy()
        mid = pd.DataFrame({"field_id": ids, "growth_stage": true_mid.to_numpy(),
                            "expected_harvest_date": truth["harvest_date"]})
        pre = pd.DataFrame({"field_id": ids, "growth_stage": true_pre.to_numpy(),
                            "expected_harvest_date": truth["harvest_date"]})
    else:
        order = ["h", "z", "g", "f", "e", "d", "c", "b", "a"]  # z: not in the truth
        end = pd.DataFrame({"field_id": order, "emergence_date": _d(9, 1, 3, None, 25, 12, 30, 10, 4),
                            "maturity_date": _d(120, 90, 81, 98, 100, 140, 95, None, 100),
                            "harvest_date": _d(112, None, 93, 101, 130, 119, 125, 112, 120)})
        mid = pd.DataFrame({"field_id": order,
                            "growth_stage": ["maturing", "vegetative", "vegetative", "vegetative", "reproductive",
                                             "vegetative", "reproductive", None, "vegetative"],
                            "expected_harvest_date": _d(140, 100, 95, None, 118, 130, 99, 117, 103)})
        pre = pd.DataFrame({"field_id": order,
                            "growth_stage": ["maturing", "maturing", "harvested", "maturing", "harvested",
                                             "harvested", "harvested", "maturing", "reproductive"],
                            "expected_harvest_date": _d(113, 100, 99, 102, 116, 121, 111, None, 111)})
    return {"end": end, "mid": mid, "pre_harvest": pre}, truth, true_mid, true_pre


def _figures(runs: dict[str, pd.DataFrame], truth: pd.DataFrame, true_mid: pd.Series, true_pre: pd.Series
             ) -> dict[str, float | int | None]:
    """The interval figures as evaluate_growth_stage computes them (the existing metric functions)."""
    m = date_metrics(runs["end"], truth)
    for cp, ts in (("mid", true_mid), ("pre_harvest", true_pre)):
        m[f"stage_accuracy_{cp}"] = stage_accuracy(runs[cp].set_index("field_id")["growth_stage"],
                                                   ts.reindex(truth["field_id"]))
        m.update(expected_harvest_error(runs[cp], truth, cp))
    return {k: m[k] for k in CI_KEYS}


def test_field_values_without_resampling_give_the_figures_exactly() -> None:
    runs, truth, true_mid, true_pre = _season()
    vals = field_values(runs, truth, true_mid, true_pre)
    assert list(vals) == list(CI_KEYS)
    assert all(len(h) == len(x) == len(truth) for h, x in vals.values())
    once = resampled_figures(vals, np.ones((1, len(truth)), dtype=np.int32))
    fig = _figures(runs, truth, true_mid, true_pre)
    assert all(v is not None for v in fig.values())
    assert {k: float(v[0]) for k, v in once.items()} == fig


def test_field_values_on_a_resample_give_the_figures_of_the_resampled_fields() -> None:
    runs, truth, true_mid, true_pre = _season()
    counts = np.array([2, 0, 1, 3, 0, 1, 0, 1])
    drawn = truth.loc[truth.index.repeat(counts)].reset_index(drop=True)
    got = resampled_figures(field_values(runs, truth, true_mid, true_pre), counts[None, :])
    fig = _figures(runs, drawn, true_mid, true_pre)
    assert {k: float(v[0]) for k, v in got.items()} == pytest.approx(fig, rel=1e-12)


def test_field_intervals_hold_the_figure_and_are_deterministic() -> None:
    runs, truth, true_mid, true_pre = _season()
    vals = field_values(runs, truth, true_mid, true_pre)
    ci = field_intervals(vals)
    assert set(ci) == {f"{k}_ci" for k in CI_KEYS}
    fig = _figures(runs, truth, true_mid, true_pre)
    for k, v in fig.items():
        lo, hi = ci[f"{k}_ci"]
        assert lo - 1e-4 <= v <= hi + 1e-4, k
        assert lo < hi, k   # 8 fields that disagree: the resamples differ
    assert field_intervals(field_values(runs, truth, true_mid, true_pre)) == ci
    right = field_intervals(field_values(*_season(right=True)))
    assert right["stage_accuracy_mid_ci"] == [1.0, 1.0] and right["stage_accuracy_pre_harvest_ci"] == [1.0, 1.0]
    assert right["maturity_within_10d_ci"] == [1.0, 1.0] and right["harvest_mae_days_ci"] == [0.0, 0.0]


def test_no_field_with_the_figure_gives_no_interval() -> None:
    runs, truth, true_mid, true_pre = _season()
    ci = field_intervals(field_values(runs, truth.assign(harvest_date=pd.NaT), true_mid, true_pre.map(lambda _: None)))
    assert ci["harvest_mae_days_ci"] is None and ci["expected_harvest_mid_mae_days_ci"] is None
    assert ci["stage_accuracy_pre_harvest_ci"] is None and ci["stage_accuracy_mid_ci"] is not None


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
    for key in CI_KEYS:
        ci, v = g["calibrated"][f"{key}_ci"], g["calibrated"][key]
        assert (ci is None) == (v is None), key
        assert ci is None or ci[0] - 1e-4 <= v <= ci[1] + 1e-4, key
        assert f"{key}_ci" not in g["uncalibrated"] and f"{key}_ci" not in g["baseline"]
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
    for g in out["groups"].values():
        assert {f"{k}_ci" for k in CI_KEYS} <= set(g["calibrated"])
        assert not any(k.endswith("_ci") for k in (*g["uncalibrated"], *g["baseline"]))
    assert out["interval"].startswith("95% percentile bootstrap over the scored fields of each group")
    r2 = runner.invoke(app, ["evaluate", "growth-stage", "--county", str(tiny_county_sh),
                             "--cache-dir", str(tmp_path / "cache")])
    assert r2.exit_code == 0, r2.stderr
    assert "growth-stage evaluation [synthetic]" in r2.stdout
    lines = r2.stdout.splitlines()
    header = next(ln for ln in lines if ln.lstrip().startswith("metric"))
    assert header.split() == ["metric", "calibrated", "95%", "interval", "uncalibrated", "calendar", "target"]
    emergence = next(ln for ln in lines if ln.lstrip().startswith("emergence MAE (days)")).split()
    assert len(emergence) == 3 + 5 and (emergence[4] == "—" or "–" in emergence[4])  # label, 4 figures, target
    assert lines[-1] == f"intervals: {out['interval']}"
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
