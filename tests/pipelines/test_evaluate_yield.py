"""``evaluate yield`` on a county folder: leave-one-season-out against truth, baselines, oracle, targets, CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from models.yield_value import YieldModelConfig
from pipelines import train_yield
from pipelines.cli import app
from pipelines.evaluation.yield_ import (
    condition_floor,
    evaluate_yield_county,
    oracle_features,
    resampled_target_figures,
    scored_fields,
    yield_targets,
)

FAST = YieldModelConfig(n_estimators=40, learning_rate=0.2, calibration_seasons=2, min_crop_calibration_rows=20)
SEASONS = ("2012", "2013", "2014", "2015", "2016")


def _county(root: Path, n_fields: int = 80, seed: int = 0) -> tuple[Path, dict[str, pd.DataFrame]]:
    """A county folder with county.json, history.csv and truth (fields, canopy); features made in code.

    True yield follows the canopy peak; the features see that peak with noise, so the oracle
    (true canopy) beats the model and the model beats the crop mean.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root / "records").mkdir()
    (root / "truth").mkdir()
    meta = {"synthetic": True, "region": "us-nebraska", "seed": seed, "size": "tiny",
            "seasons": [*SEASONS, "2017"], "current_season": "2017", "currency": "USD", "crops": ["maize", "soybean"]}
    (root / "county.json").write_text(json.dumps(meta))
    crops = rng.choice(["maize", "soybean"], n_fields)
    base = np.where(crops == "maize", 10.0, 3.5)
    ids = [f"F{i:03d}" for i in range(n_fields)]
    truth, hist, canopy = [], [], []
    feats: dict[str, list[pd.DataFrame]] = {"end": [], "mid": []}
    for s in SEASONS:
        peak = rng.uniform(0.5, 0.95, n_fields)
        y = base * (0.2 + peak) * np.exp(rng.normal(0, 0.03, n_fields))
        truth.append(pd.DataFrame({"field_id": ids, "season": s, "true_crop": crops, "yield_t_ha": y,
                                   "condition_id": [f"C{s}-{i % 20}" for i in range(n_fields)]}))
        rep = y * (1 + rng.normal(0, 0.05, n_fields))
        rep[rng.random(n_fields) < 0.1] = np.nan
        hist.append(pd.DataFrame({"field_id": ids, "season": s, "declared_crop": crops, "sowing_date": "",
                                  "harvest_date": "", "reported_yield_t_ha": rep}))
        days = pd.date_range(f"{s}-05-01", f"{s}-10-31", freq="D")
        shape = np.sin(np.pi * np.arange(len(days)) / len(days))
        for i, fid in enumerate(ids):
            canopy.append(pd.DataFrame({"field_id": fid, "season": s, "date": days,
                                        "green_cover": (peak[i] * shape).astype("float32"),
                                        "senescent_cover": np.float32(0.0), "flooded": False}))
        for cp, day, noise in (("end", "11-30", 0.05), ("mid", "07-20", 0.2)):
            feats[cp].append(pd.DataFrame({
                "field_id": ids, "season": s, "as_of": pd.Timestamp(f"{s}-{day}"),
                "farmer_token": [f"t{i:03d}" for i in range(n_fields)], "region": "us-nebraska",
                "declared_crop": crops, "field_area_ha": 20.0,
                "ndvi_max": peak + rng.normal(0, noise, n_fields), "feat_x": rng.normal(0, 1, n_fields)}))
    pd.concat(truth).to_parquet(root / "truth" / "fields.parquet")
    pd.concat(canopy).to_parquet(root / "truth" / "canopy.parquet")
    pd.concat(hist).to_csv(root / "records" / "history.csv", index=False)
    return root, {cp: pd.concat(v, ignore_index=True) for cp, v in feats.items()}


BUILDS: list[dict[str, object]] = []  # the calls of county_features the `fast` fixture saw
FITS: list[list[str]] = []  # the seasons each phenology calibration was fitted on


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    return _county(tmp_path_factory.mktemp("ey") / "county")


@pytest.fixture
def fast(county: tuple[Path, dict[str, pd.DataFrame]], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The county's production features replaced by the ones made in code; a fast model configuration."""
    path, feats = county
    BUILDS.clear()
    FITS.clear()

    def fake(c: object, seasons: object, checkpoints: object, **kw: object) -> dict[str, pd.DataFrame]:
        BUILDS.append({"seasons": seasons, **kw})
        return {cp: feats[cp] for cp in checkpoints}  # type: ignore[attr-defined]

    def fit(c: object, seasons: list[str], **kw: object) -> object:
        FITS.append(list(seasons))
        return f"calibration on {','.join(seasons)}"

    monkeypatch.setattr(train_yield, "county_features", fake)
    from pipelines import _phenology_fit

    monkeypatch.setattr(_phenology_fit, "fit_county_phenology", fit)
    from models import evaluation

    orig = evaluation.evaluate_yield
    monkeypatch.setattr(evaluation, "evaluate_yield", lambda *a, **k: orig(*a, **{**k, "config": FAST}))
    return path


def test_oracle_features_see_the_canopy_only_up_to_the_checkpoint(county: tuple[Path, dict]) -> None:
    path, _ = county
    canopy = pd.read_parquet(path / "truth" / "canopy.parquet")
    starts = {s: date(int(s), 5, 1) for s in SEASONS}
    end = oracle_features(canopy, {s: date(int(s), 11, 30) for s in SEASONS}, starts)
    mid = oracle_features(canopy, {s: date(int(s), 6, 10) for s in SEASONS}, starts)
    assert len(end) == len(mid) == 80 * len(SEASONS)
    assert end["oracle_green_max"].gt(mid["oracle_green_max"]).all()  # the peak comes after 10 June
    assert "oracle_green_15" in end.columns and "oracle_green_15" not in mid.columns
    assert mid["oracle_green_03"].notna().all()
    # nothing after the checkpoint is read: cutting the canopy there changes nothing
    cut = canopy[pd.to_datetime(canopy["date"]).dt.strftime("%m-%d") <= "06-10"]
    pd.testing.assert_frame_equal(mid, oracle_features(cut, {s: date(int(s), 6, 10) for s in SEASONS}, starts))


def test_evaluate_county_beside_baselines_and_oracle(fast: Path) -> None:
    res = evaluate_yield_county(fast, seasons=["2014", "2016"])
    ev = res.evaluation
    assert ev.data == "synthetic" and set(ev.per_season["season"]) == {"2014", "2016"}
    s = ev.summary.set_index(["checkpoint", "crop", "method"])
    assert set(s.index.get_level_values("checkpoint")) == {"end", "mid"}
    assert set(s.index.get_level_values("method")) == {"model", "oracle", "floor", "crop_mean", "farmer_mean"}
    for crop in ("maize", "soybean"):
        model, oracle = s.loc[("end", crop, "model"), "r2"], s.loc[("end", crop, "oracle"), "r2"]
        base = s.loc[("end", crop, "crop_mean"), "r2"]
        assert oracle > base + 0.5 and model > base + 0.3, (crop, model, oracle, base)
        assert s.loc[("end", crop, "model"), "r2"] > s.loc[("mid", crop, "model"), "r2"]  # later sees more
    t = res.targets
    assert set(t["metric"]) == {"r2", "rmse_pct", "below_p10 (every season)", "above_p90 (every season)"}
    assert set(t.loc[t["metric"] == "r2", "crop"]) == {"maize", "soybean"}
    assert t["oracle"].notna().all()  # the oracle's figure beside every target
    assert t.loc[t["metric"] == "rmse_pct", "floor"].notna().all()
    text = res.text()
    assert "synthetic data" in text and "targets (end of season" in text and "oracle" in text
    table = ev.season_table("end")
    assert "2014" in table and "2016" in table and table.count("\nall ") == 2  # model and oracle rows, pooled
    assert table in text
    assert "features_s" in res.timings and "models_s" in res.timings
    r2_line = next(x for x in res.targets_text().splitlines() if " maize " in x and " r2 " in x)
    lo, hi = t.set_index(["crop", "metric"]).at[("maize", "r2"), "value_ci"]
    assert f" ({lo:.2f}–{hi:.2f})" in r2_line
    assert ("intervals: 95% percentile bootstrap over the scored fields of each held-out season (2,000 resamples, "
            "seed 20261205)") in text.splitlines()


def test_weighted_metrics_are_the_unweighted_ones_on_repeated_rows() -> None:
    from models.evaluation import weighted_yield_metrics, yield_metrics

    rng = np.random.default_rng(3)
    y = np.r_[rng.uniform(2, 12, 40), 0.0]  # a failed crop too
    p50 = y + rng.normal(0, 1.5, len(y))
    keys = ("n", "r2", "rmse", "rmse_pct", "mean_yield")
    ones = weighted_yield_metrics(y, p50, np.ones((1, len(y)), dtype=np.int32))
    plain = yield_metrics(y, p50)
    assert all(ones[k][0] == plain[k] for k in keys)  # bit for bit: the figure as it stands
    w = rng.integers(0, 4, size=(30, len(y))).astype(np.int32)
    w[0] = 0  # draws nothing: NaN, as yield_metrics of no rows
    w[1] = 0
    w[1, 3] = 2  # one field, twice: no spread, R² NaN
    w[2] = 0
    w[2, -1] = 1  # only the failed crop: mean 0, RMSE% NaN
    got = weighted_yield_metrics(y, p50, w)
    for i, row in enumerate(w):
        want = yield_metrics(np.repeat(y, row), np.repeat(p50, row))
        for k in keys:
            assert got[k][i] == pytest.approx(want[k], rel=1e-9, abs=1e-9, nan_ok=True), (i, k)
    assert np.isnan(got["r2"][:3]).all() and np.isnan(got["rmse_pct"][[0, 2]]).all() and got["n"][0] == 0
    assert np.isfinite(got["r2"][3:]).all()


def test_target_intervals_resample_each_held_out_season(fast: Path) -> None:
    from pipelines.evaluation._bootstrap import resample_counts

    res = evaluate_yield_county(fast, seasons=["2013", "2015"], oracle=False)
    ev, t = res.evaluation, res.targets
    rows = t[t["metric"].isin(["r2", "rmse_pct"])]
    assert len(rows) == 4 and t.loc[~t.index.isin(rows.index), "value_ci"].isna().all()
    for r in rows.to_dict("records"):
        lo, hi = r["value_ci"]
        assert lo < r["value"] < hi, r
    again = yield_targets(ev)
    assert again["value_ci"].tolist() == t["value_ci"].tolist()  # a fixed seed: the same intervals
    # each field drawn once: every season's figure as it stands, and their mean the summary's
    fields = scored_fields(ev)
    assert sorted(fields) == ["2013", "2015"]
    per = ev.per_season.query("checkpoint == 'end' and method == 'model'").set_index(["season", "crop"])
    for s, f in fields.items():
        one = resampled_target_figures({s: f}, ["maize", "soybean"], lambda k, n: [np.ones((1, n), dtype=np.int32)])
        for crop in ("maize", "soybean"):
            assert one[crop]["r2"][0] == per.at[(s, crop), "r2"]
            assert one[crop]["rmse_pct"][0] == per.at[(s, crop), "rmse_pct"]
    both = resampled_target_figures(fields, ["maize"], lambda k, n: [np.ones((1, n), dtype=np.int32)])
    summary = ev.summary.query("checkpoint == 'end' and method == 'model'").set_index("crop")
    assert both["maize"]["r2"][0] == pytest.approx(summary.at["maize", "r2"], rel=1e-12)
    # stratified: every season keeps its own n fields in every resample, each season on its own stream
    seen: list[tuple[int, int]] = []

    def spy(k: int, n: int) -> list[np.ndarray]:
        seen.append((k, n))
        w = resample_counts(n, np.arange(n), stream=k + 1)
        assert (w.sum(axis=1) == n).all()
        return [w]

    resampled_target_figures(fields, ["maize"], spy)
    assert seen == [(0, len(fields["2013"])), (1, len(fields["2015"]))]
    n = 50
    assert not np.array_equal(resample_counts(n, np.arange(n), stream=1), resample_counts(n, np.arange(n), stream=2))
    assert np.array_equal(resample_counts(n, np.arange(n)), resample_counts(n, np.arange(n), stream=0))


def test_condition_floor_is_the_mean_of_the_other_fields_of_the_same_run() -> None:
    truth = pd.DataFrame({"field_id": ["a", "b", "c", "d", "e", "f"], "season": "2015",
                          "condition_id": ["r1", "r1", "r1", "r2", "r2", "r3"],
                          "yield_t_ha": [4.0, 6.0, 0.0, 3.0, np.nan, 9.0],
                          "failure_date": [None, None, "2015-07-01", None, None, None]})
    f = condition_floor(truth).set_index("field_id")["p50"]
    # a and b predict each other (c failed: its own yield, known); d has no partner with a yield; f is alone
    assert f.to_dict() == {"a": 6.0, "b": 4.0, "c": 0.0}
    assert condition_floor(truth.drop(columns="condition_id")) is None


def test_targets_use_80_percent_of_a_weak_oracle() -> None:
    from models.evaluation import YieldEvaluation

    rows = []
    for season in ("1", "2"):
        for method, r2 in (("model", 0.25), ("oracle", 0.3)):
            rows.append({"checkpoint": "end", "season": season, "method": method, "crop": "maize", "n": 100.0,
                         "r2": r2, "rmse_pct": 12.0, "below_p10": 0.1, "above_p90": 0.1})
        rows.append({"checkpoint": "end", "season": season, "method": "model", "crop": "all", "n": 100.0, "r2": 0.5,
                     "rmse_pct": 12.0, "below_p10": 0.1 if season == "1" else 0.2, "above_p90": 0.1})
    per = pd.DataFrame(rows)
    summary = per.groupby(["checkpoint", "crop", "method"], as_index=False).agg(
        n=("n", "sum"), r2=("r2", "mean"), rmse_pct=("rmse_pct", "mean"))
    t = yield_targets(YieldEvaluation(per_season=per, summary=summary)).set_index(["crop", "metric"])
    assert t.loc[("maize", "r2"), "point_met"] and "80% of oracle R² 0.300" in t.loc[("maize", "r2"), "target"]
    assert t.loc[("maize", "rmse_pct"), "point_met"]
    assert not t.loc[("all", "below_p10 (every season)"), "point_met"]  # one season at 20%
    assert t.loc[("all", "below_p10 (every season)"), "value"] == pytest.approx(0.2)
    assert t.loc[("all", "above_p90 (every season)"), "point_met"]


def _targets_with(model_r2: float, oracle_r2: float) -> pd.DataFrame:
    from models.evaluation import YieldEvaluation

    rows = []
    for season in ("1", "2"):
        for method, r2 in (("model", model_r2), ("oracle", oracle_r2)):
            rows.append({"checkpoint": "end", "season": season, "method": method, "crop": "maize", "n": 100.0,
                         "r2": r2, "rmse_pct": 12.0, "below_p10": 0.1, "above_p90": 0.1})
        rows.append({"checkpoint": "end", "season": season, "method": "model", "crop": "all", "n": 100.0, "r2": 0.5,
                     "rmse_pct": 12.0, "below_p10": 0.1, "above_p90": 0.1})
    per = pd.DataFrame(rows)
    summary = per.groupby(["checkpoint", "crop", "method"], as_index=False).agg(
        n=("n", "sum"), r2=("r2", "mean"), rmse_pct=("rmse_pct", "mean"))
    return yield_targets(YieldEvaluation(per_season=per, summary=summary))


@pytest.mark.parametrize("oracle_r2", [-0.2, 0.0])
def test_an_oracle_r2_not_above_zero_relaxes_nothing(oracle_r2: float) -> None:
    # the target used to become the oracle's own R²: a model worse than the crop mean (R² < 0) "met" it
    t = _targets_with(-0.1, oracle_r2).set_index(["crop", "metric"])
    r = t.loc[("maize", "r2")]
    assert not r["point_met"] and not r["point_met_absolute"] and not r["relaxed"]
    assert r["absolute_target"] == pytest.approx(0.45) and r["target"].startswith(">= 0.45")


def test_a_relaxed_target_shows_the_absolute_one_beside_it() -> None:
    from models.evaluation import YieldEvaluation
    from pipelines.evaluation.yield_ import YieldCountyEvaluation

    t = _targets_with(0.2, 0.242)
    r = t.set_index(["crop", "metric"]).loc[("maize", "r2")]
    assert r["relaxed"] and r["point_met"] and not r["point_met_absolute"] and r["absolute_target"] == pytest.approx(0.45)
    assert 0 < 0.8 * 0.242 <= 0.2
    assert t["point_met_absolute"].dtype == bool and t.loc[t["metric"] == "rmse_pct", "point_met_absolute"].all()
    assert not t["met"].any()  # no interval (no fields kept to resample): never met on the whole interval
    ev = YieldEvaluation(per_season=pd.DataFrame(), summary=pd.DataFrame(), data="synthetic")
    ce = YieldCountyEvaluation(county="c", evaluation=ev, targets=t)
    d = ce.to_dict()["targets"]
    row = next(x for x in d if x["metric"] == "r2")
    assert row["point_met"] is True and row["point_met_absolute"] is False and row["relaxed"] is True
    line = next(x for x in ce.targets_text().splitlines() if " r2 " in x)
    assert "MET (relaxed: 80% of oracle 0.242; absolute 0.45 MISS)" in line
    assert "met only relaxed against the oracle" in ce.targets_text()
    # built from score rows alone, no fields are kept to resample: no interval, the lines as before intervals
    assert row["value_ci"] is None and "interval" not in ce.to_dict()
    assert "intervals:" not in ce.targets_text() and " 0.200  target >= 0.194" in line


def test_cli_json_and_missing_truth(fast: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(fast), "--json", "--seasons", "2015",
                                 "--no-oracle", "-q"])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["data"] == "synthetic" and d["county"] == "county"
    assert {x["method"] for x in d["summary"]} == {"model", "floor", "crop_mean", "farmer_mean"}
    assert {x["season"] for x in d["per_season"]} == {"2015"} and d["targets"]
    for x in d["targets"]:
        if x["metric"] in ("r2", "rmse_pct"):
            assert len(x["value_ci"]) == 2 and x["value_ci"][0] <= x["value"] <= x["value_ci"][1], x
        else:
            assert x["value_ci"] is None
    assert d["interval"].startswith("95% percentile bootstrap over the scored fields of each held-out season")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "county.json").write_text((fast / "county.json").read_text())
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(bare)])
    assert r.exit_code == 2 and "no truth table 'fields'" in r.stderr


def test_unknown_held_out_season_is_an_error(fast: Path) -> None:
    with pytest.raises(UserInputError, match="held-out season.*1999"):
        evaluate_yield_county(fast, seasons=["1999"], oracle=False)


def test_too_few_past_seasons_is_a_one_line_error_before_featurizing(tiny_county_sh: Path) -> None:
    # one past season (nothing to train on when it is held out): a traceback (ModelError) after a minute of
    # featurizing before; now refused up front, exit 2
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(tiny_county_sh), "-q"])
    assert r.exit_code == 2 and r.exception is not None and isinstance(r.exception, SystemExit)
    assert "expected at least 3 past seasons, found 1 (2008)" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tiny_county_sh / ".cache").exists()


def test_features_given_are_used_instead_of_building_them(fast: Path, county: tuple[Path, dict],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, feats = county

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("features were built although a snapshot was given")

    monkeypatch.setattr(train_yield, "county_features", refuse)
    res = evaluate_yield_county(fast, seasons=["2015"], oracle=False, features=feats)
    assert set(res.evaluation.per_season["season"]) == {"2015"}
    with pytest.raises(UserInputError, match="missing mid"):
        evaluate_yield_county(fast, seasons=["2015"], oracle=False, features={"end": feats["end"]})


def test_cli_reads_a_feature_snapshot_instead_of_featurizing(county: tuple[Path, dict], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path, feats = county

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("features were built although a snapshot was given")

    monkeypatch.setattr(train_yield, "county_features", refuse)
    from models import evaluation

    orig = evaluation.evaluate_yield
    monkeypatch.setattr(evaluation, "evaluate_yield", lambda *a, **k: orig(*a, **{**k, "config": FAST}))
    for cp, df in feats.items():
        df.to_parquet(tmp_path / f"snap-{cp}.parquet")
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(path), "--json", "--seasons", "2014",
                                 "--no-oracle", "-q", "--features", str(tmp_path / "snap")])
    assert r.exit_code == 0, r.stderr
    assert {x["season"] for x in json.loads(r.stdout)["per_season"]} == {"2014"}
    (tmp_path / "snap-mid.parquet").unlink()
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(path), "--no-oracle", "-q",
                                 "--features", str(tmp_path / "snap")])
    assert r.exit_code == 2 and "snap-mid.parquet" in r.stderr


def test_each_fold_calibrates_phenology_without_its_held_out_season(fast: Path) -> None:
    res = evaluate_yield_county(fast, seasons=["2012", "2014", "2016"], oracle=False)
    # production fits on the latest three past seasons; a fold leaves its own out ("2012" and "2014" share a fit)
    assert FITS == [["2014", "2015", "2016"], ["2013", "2015", "2016"], ["2013", "2014", "2015"]]
    assert [b["phenology_calib"] for b in BUILDS] == [{"us-nebraska": f"calibration on {','.join(f)}"} for f in FITS]
    assert all(b["seasons"] == list(SEASONS) for b in BUILDS)  # every past season featurized with the fold's fit
    assert set(res.evaluation.per_season["season"]) == {"2012", "2014", "2016"}
    assert any("phenology calibrated per held-out season" in n for n in res.notes)
    BUILDS.clear()
    FITS.clear()
    res = evaluate_yield_county(fast, seasons=["2012", "2014"], oracle=False, phenology=False)
    assert FITS == [] and [b["phenology_calib"] for b in BUILDS] == [{}]  # one uncalibrated build for every fold
    assert any("phenology uncalibrated" in n for n in res.notes)


def test_fold_snapshot_round_trip_through_the_cli(fast: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.county import County
    from pipelines.evaluation.yield_ import fold_features, read_fold_snapshot, write_fold_snapshot

    folds = fold_features(County(fast), ["2013", "2015"], ("end", "mid"))
    assert FITS == [["2014", "2015", "2016"], ["2013", "2014", "2016"]]
    paths = write_fold_snapshot(folds, tmp_path / "snap")
    assert sorted(p.name for p in paths) == ["snap-fold2013-end.parquet", "snap-fold2013-mid.parquet",
                                             "snap-fold2015-end.parquet", "snap-fold2015-mid.parquet"]
    back = read_fold_snapshot(tmp_path / "snap", ("end", "mid"))
    assert back is not None and sorted(back) == ["2013", "2015"]
    assert read_fold_snapshot(tmp_path / "other", ("end", "mid")) is None

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("features were built although a snapshot was given")

    monkeypatch.setattr(train_yield, "county_features", refuse)
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(fast), "--json", "--seasons", "2015",
                                 "--no-oracle", "-q", "--features", str(tmp_path / "snap")])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert {x["season"] for x in out["per_season"]} == {"2015"}
    assert any("fold snapshot" in n for n in out["notes"])
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(fast), "--seasons", "2014", "--no-oracle",
                                 "-q", "--features", str(tmp_path / "snap")])
    assert r.exit_code == 2 and "held-out season(s) 2014" in r.stderr
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(fast), "--phenology", "sometimes"])
    assert r.exit_code == 2 and "--phenology 'sometimes'" in r.stderr


def test_without_weather_no_weather_column_reaches_the_model(fast: Path, county: tuple[Path, dict],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-weather (or a county without weather): wx_* columns a snapshot or featurize carried are dropped."""
    _, feats = county
    from models import evaluation

    seen: list[set[str]] = []
    inner = evaluation.evaluate_yield

    def spy(frames: dict[str, pd.DataFrame], *a: object, **k: object) -> object:
        seen.extend(set(f.columns) for f in frames.values())
        return inner(frames, *a, **k)

    monkeypatch.setattr(evaluation, "evaluate_yield", spy)
    wet = {cp: f.assign(wx_rain_since_emergence_mm=1.0) for cp, f in feats.items()}
    evaluate_yield_county(fast, seasons=["2015"], oracle=False, features=wet, county_weather=False)
    assert seen and not any(c.startswith("wx_") for cols in seen for c in cols)


def test_an_interval_with_a_negative_bound_reads_as_a_range() -> None:
    """An R² interval below 0 printed as "(-0.17–-0.07)" read as a subtraction: it says "to" then."""
    from models.evaluation import YieldEvaluation
    from pipelines.evaluation.yield_ import YieldCountyEvaluation

    t = _targets_with(-0.1, 0.3)
    t["value_ci"] = [[-0.17, -0.07] if m == "r2" else [0.2, 0.3] if m == "rmse_pct" else None
                     for m in t["metric"]]
    ev = YieldEvaluation(per_season=pd.DataFrame(), summary=pd.DataFrame(), data="synthetic")
    text = YieldCountyEvaluation(county="c", evaluation=ev, targets=t).targets_text()
    r2 = next(x for x in text.splitlines() if " r2 " in x)
    rmse = next(x for x in text.splitlines() if " rmse_pct " in x)
    assert "(-0.17 to -0.07)" in r2 and "–-" not in text and "(0.20–0.30)" in rmse


def test_met_in_the_json_is_the_whole_interval_the_point_apart() -> None:
    """A review: ``evaluate yield --json`` said ``met`` on the point figure while ``evaluate report`` judged its
    interval; ``met``/``met_absolute`` are now the whole interval's, ``point_met``/``point_met_absolute`` the point's."""
    from pipelines.evaluation.yield_ import _interval_met

    assert _interval_met(0.31, [0.2, 0.4], ">=", 0.30) is False  # the point meets it, the interval straddles
    assert _interval_met(0.35, [0.31, 0.4], ">=", 0.30) is True
    assert _interval_met(14.0, [13.0, 16.0], "<=", 15.0) is False
    assert _interval_met(14.0, None, "<=", 15.0) is False
    assert _interval_met(14.0, [float("nan"), float("nan")], "<=", 15.0) is False
