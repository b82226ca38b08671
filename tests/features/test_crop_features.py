"""Crop-type feature plumbing: the per-row feature cache and fold-independent cloud gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features._crop_features import FeatureCache, GapSeries, gap_plan, group_folds, row_uniforms
from features.crop_type import CropTypeClassifier


def _rows(ids: list[str], season: str = "2020") -> pd.DataFrame:
    return pd.DataFrame({"field_id": ids, "season": season})


def test_feature_cache_computes_only_missing_rows_in_order() -> None:
    calls: list[list[str]] = []

    def compute(sub: pd.DataFrame) -> pd.DataFrame:
        calls.append(sub["field_id"].tolist())
        return sub.assign(x=[float(f[1:]) for f in sub["field_id"]])[["field_id", "season", "x"]]

    cache = FeatureCache()
    a = cache.get("k", _rows(["f1", "f2"]), compute)
    b = cache.get("k", _rows(["f3", "f2", "f1"]), compute)
    assert calls == [["f1", "f2"], ["f3"]]
    assert a["x"].tolist() == [1.0, 2.0] and b["x"].tolist() == [3.0, 2.0, 1.0]
    assert b["field_id"].tolist() == ["f3", "f2", "f1"] and cache.hits == 2 and cache.misses == 3
    cache.get("other", _rows(["f1"]), compute)  # another key (configuration/checkpoint) has its own table
    assert calls[-1] == ["f1"] and len(cache) == 2


def test_gap_plan_is_per_row_and_within_bounds() -> None:
    start = pd.Timestamp("2020-05-15")
    win = pd.DataFrame({"field_id": [f"f{i}" for i in range(400)], "season": "2020", "start": start,
                        "end": start + pd.Timedelta(days=199)})
    plan = gap_plan(win, seed=3, copy=0, share=0.5)
    days = (plan["gap_start"] - start).dt.days
    length = (plan["gap_end"] - plan["gap_start"]).dt.days
    assert days.between(0, 120).all() and length.between(30, 60).all()
    assert 0.4 < plan["selected"].mean() < 0.6
    # a row's gap does not depend on which other rows are planned with it
    part = gap_plan(win.iloc[[7, 3]].reset_index(drop=True), seed=3, copy=0, share=0.5)
    assert part["gap_start"].tolist() == plan["gap_start"].iloc[[7, 3]].tolist()
    other = gap_plan(win, seed=4, copy=0, share=0.5)
    assert (other["gap_start"] != plan["gap_start"]).mean() > 0.9
    u = row_uniforms(win["field_id"], win["season"], "x")
    assert u.shape == (400, 3) and ((u >= 0) & (u < 1)).all()


def test_gap_series_drops_the_gap() -> None:
    dates = pd.date_range("2020-05-15", periods=10, freq="10D")
    series = pd.DataFrame({"field_id": "f1", "season": "2020", "date": dates, "variable": "NDVI", "mean": 0.5,
                           "n_pixels": 10, "n_clear": 10})
    rows = pd.DataFrame({"field_id": ["f1#gap0"], "_orig": ["f1"], "season": ["2020"],
                         "_g0": [dates[2]], "_g1": [dates[4]]})
    s = GapSeries(series)(rows)
    assert s["field_id"].unique().tolist() == ["f1#gap0"] and len(s) == 7
    assert not s["date"].between(dates[2], dates[4]).any()


def test_group_folds() -> None:
    f = group_folds(np.array(["a", "b", "c", "a"]), np.array(["1", "2", "3", "4"]), 2, 0)
    assert f.tolist() == [0, 1, 0, 0]
    one = group_folds(np.array(["a"] * 6), np.array([f"f{i}" for i in range(6)]), 3, 0)
    assert sorted(np.bincount(one).tolist()) == [2, 2, 2]
    assert group_folds(np.array(["a", "b"]), np.array(["1", "2"]), 1, 0).tolist() == [0, 0]


def _curves(seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, labs = [], []
    for season in ("2018", "2019", "2020"):
        start = pd.Timestamp(f"{season}-04-01")
        for i in range(60):
            crop = ("a", "b")[i % 2]
            peak = (70.0, 140.0)[i % 2] + rng.normal(0, 10)
            labs.append({"field_id": f"f{i:02d}", "season": season, "crop": crop, "season_start": start,
                         "season_end": start + pd.Timedelta(days=199)})
            for day in range(0, 200, 6):
                rows.append({"field_id": f"f{i:02d}", "season": season, "date": start + pd.Timedelta(days=day),
                             "variable": "NDVI", "mean": 0.2 + 0.5 * np.exp(-0.5 * ((day - peak) / 30) ** 2)
                             + rng.normal(0, 0.03), "n_pixels": 50, "n_clear": 50})
    return pd.DataFrame(rows), pd.DataFrame(labs)


def test_fit_with_a_shared_cache_gives_the_same_model() -> None:
    series, labels = _curves()
    kw = {"n_estimators": 15, "num_leaves": 7, "context": (), "augment_gaps": 1.0, "calibration_folds": 2}
    train = labels.loc[labels["season"] != "2020"]
    plain = CropTypeClassifier((90, "end"), **kw).fit(series, train, label_column="crop")  # type: ignore[arg-type]
    cache = FeatureCache()
    CropTypeClassifier((90, "end"), **kw).fit(series, labels.loc[labels["season"] != "2018"],  # type: ignore[arg-type]
                                              label_column="crop", feature_cache=cache)
    misses = cache.misses
    cached = CropTypeClassifier((90, "end"), **kw).fit(series, train, label_column="crop",  # type: ignore[arg-type]
                                                       feature_cache=cache)
    assert cache.misses - misses == 2 * 2 * 60  # only season 2018's rows and their gap copies, per checkpoint
    test = labels.loc[labels["season"] == "2020"]
    for c in (90, "end"):
        X = plain.features(series, test, checkpoint=c)[plain.feature_names_in_]
        assert np.array_equal(plain.predict_proba(X, checkpoint=c), cached.predict_proba(X, checkpoint=c))
    assert plain.temperatures_ == pytest.approx(cached.temperatures_)


def test_loso_summary_means_and_worst() -> None:
    from features._crop_eval import loso_summary

    per = {"2019": {"accuracy": 0.9, "macro_f1": 0.8, "ece": 0.02, "f1": {"a": 0.9, "b": 0.7},
                    "rice_vs_other_accuracy": 1.0},
           "2020": {"accuracy": 0.7, "macro_f1": 0.6, "ece": 0.06, "f1": {"a": 0.5}, "rice_vs_other_accuracy": 0.8}}
    s = loso_summary(per)
    assert s["worst_season"] == "2020" and s["worst_accuracy"] == 0.7
    assert s["mean_accuracy"] == pytest.approx(0.8) and s["mean_macro_f1"] == pytest.approx(0.7)
    assert s["mean_f1"] == pytest.approx({"a": 0.7, "b": 0.7}) and s["mean_ece"] == pytest.approx(0.04)
    assert s["mean_rice_vs_other_accuracy"] == pytest.approx(0.9)
