"""Crop-type classifier on synthetic canopy curves made in code (seeded, small)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features._calibration import (
    VECTOR_L2_GRID,
    adapt_prior,
    ece_interval,
    expected_calibration_error,
    fit_temperature,
    fit_vector,
    remove_label_noise,
    select_vector_l2,
    softmax,
)
from features._crop_eval import PER_FIELD, classification_metrics, evaluate_crop_type, weighted_classification_metrics
from features._seasonal import feature_names, field_windows, seasonal_features
from features.crop_type import CropTypeClassifier
from features.errors import UserInputError

CROPS = {"maize": 150.0, "soybean": 185.0, "wheat": 70.0}  # day of peak greenness after season start
SEASONS = ("2016", "2017", "2018", "2019")
N_PER_SEASON = 150
SEASON_DAYS = 240


def _make(seed: int = 1, flip: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fields of three crops whose NDVI curves peak at different times; 5-day revisits, clouds, noise."""
    rng = np.random.default_rng(seed)
    crops = sorted(CROPS)
    rows, labs = [], []
    for season in SEASONS:
        start = pd.Timestamp(f"{season}-04-01")
        for i in range(N_PER_SEASON):
            fid = f"f{i:03d}"
            crop = crops[i % 3]
            declared = crops[(i + 1) % 3] if rng.random() < flip else crop
            peak = CROPS[crop] + rng.normal(0, 12)
            width = 35 + rng.normal(0, 5)
            amp = 0.55 + rng.normal(0, 0.07)
            cond = f"c{i // 2:03d}"
            labs.append({"field_id": fid, "season": season, "declared_crop": declared, "true_crop": crop,
                         "condition_id": cond, "region": "north" if i % 2 else "south", "season_start": start,
                         "season_end": start + pd.Timedelta(days=SEASON_DAYS - 1)})
            for day in range(0, SEASON_DAYS, 5):
                if rng.random() < 0.3:
                    continue  # cloudy: no row at all
                ndvi = 0.15 + amp * np.exp(-0.5 * ((day - peak) / width) ** 2) + rng.normal(0, 0.03)
                cloudy = rng.random() < 0.1
                rows.append({"field_id": fid, "season": season, "date": start + pd.Timedelta(days=day),
                             "variable": "NDVI", "mean": ndvi, "n_pixels": 100, "n_clear": 20 if cloudy else 100})
    series = pd.DataFrame(rows).astype({"field_id": "str", "season": "str", "variable": "str"})
    for c in ("std", "p10", "p50", "p90"):
        series[c] = np.nan
    return series, pd.DataFrame(labs)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _make()


def _clf(**kw: object) -> CropTypeClassifier:
    base: dict[str, object] = {"n_estimators": 60, "num_leaves": 7, "calibration_folds": 3, "num_threads": 1}
    base.update(kw)
    return CropTypeClassifier((60, 120, "end"), **base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.DataFrame]) -> CropTypeClassifier:
    series, labels = data
    return _clf().fit(series, labels.loc[labels["season"] < "2019"])


def test_init_stores_config_only() -> None:
    clf = CropTypeClassifier((90, "end"), n_estimators=10)
    assert clf.checkpoints == (90, "end") and not hasattr(clf, "classes_")
    with pytest.raises(UserInputError, match="not fitted"):
        clf.predict_proba(pd.DataFrame())
    with pytest.raises(UserInputError, match="calibration_loss must be"):
        CropTypeClassifier(calibration_loss="hinge").fit(pd.DataFrame(), pd.DataFrame())
    with pytest.raises(UserInputError, match="checkpoints must be positive day offsets"):
        CropTypeClassifier((0, "end")).fit(pd.DataFrame(), pd.DataFrame())


def test_fit_predict_on_held_out_season(data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    out = fitted.predict(series, test)
    assert fitted.classes_ == ["maize", "soybean", "wheat"]
    assert list(out.columns[:7]) == ["field_id", "season", "as_of", "checkpoint", "crop_type", "crop_type_prob",
                                     "prob_maize"]
    assert (out["checkpoint"] == "end").all()
    acc = float(np.mean(out["crop_type"].to_numpy() == test["true_crop"].to_numpy()))
    assert acc > 0.9
    p = out[["prob_maize", "prob_soybean", "prob_wheat"]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(out["crop_type_prob"], p.max(axis=1))
    want = p[np.arange(len(test)), [fitted.classes_.index(c) for c in test["declared_crop"]]]
    np.testing.assert_allclose(out["declared_crop_prob"], want)


def test_declared_crop_prob_unknown_and_missing(data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].head(3).reset_index(drop=True)
    test["declared_crop"] = pd.Series(["cassava", None, "wheat"], dtype="str")
    out = fitted.predict(series, test)
    assert out["declared_crop_prob"].iloc[0] == 0.0
    assert np.isnan(out["declared_crop_prob"].iloc[1])
    assert out["declared_crop_prob"].iloc[2] == pytest.approx(out["prob_wheat"].iloc[2])


def test_calibration_on_held_out_season(data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    out = fitted.predict(series, test)
    probs = out[[f"prob_{c}" for c in fitted.classes_]].to_numpy()
    y = np.array([fitted.classes_.index(c) for c in test["declared_crop"]])
    assert expected_calibration_error(probs, y) <= 0.08
    assert set(fitted.temperatures_) == {"d060", "d120", "end"}
    assert fitted.oof_ece_["end"]["calibrated"] <= 0.05 < fitted.oof_ece_["end"]["raw"]


def test_expected_calibration_error_and_temperature() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 2, size=(4000, 3))
    p_true = softmax(scores)
    y = np.array([rng.choice(3, p=row) for row in p_true])
    assert expected_calibration_error(p_true, y) < 0.03  # sampled from its own probabilities
    over = softmax(scores, 0.3)  # overconfident
    assert expected_calibration_error(over, y) > 0.1
    assert fit_temperature(scores * 3.0, y) == pytest.approx(3.0, rel=0.15)
    assert fit_temperature(scores * 3.0, y, loss="nll") == pytest.approx(3.0, rel=0.15)
    assert fit_temperature(scores * 3.0, y, loss="ece") == pytest.approx(3.0, rel=0.3)
    with pytest.raises(UserInputError, match="loss must be 'brier', 'nll' or 'ece'"):
        fit_temperature(scores, y, loss="hinge")
    with pytest.raises(UserInputError, match="expected probs"):
        expected_calibration_error(p_true, y[:10])


def test_as_of_honesty_features_ignore_later_observations(data) -> None:
    series, labels = data
    win = field_windows(labels.loc[labels["season"] == "2018"])
    cut = pd.Timestamp("2018-07-10")
    early = series.loc[pd.to_datetime(series["date"]) <= cut]
    a = seasonal_features(series, win, as_of=cut, n_periods=15)
    b = seasonal_features(early, win, as_of=cut, n_periods=15)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[2:]) == feature_names(["NDVI"], 15)
    assert a["feat_NDVI_c10"].isna().all()  # period 10 starts after the cut-off: NaN, not zero
    c = seasonal_features(series, win, offset_days=100, n_periods=15)
    d = seasonal_features(series.loc[pd.to_datetime(series["date"]) <= pd.Timestamp("2018-07-10")], win,
                          offset_days=100, n_periods=15)
    pd.testing.assert_frame_equal(c, d)


def test_as_of_prediction_uses_latest_checkpoint_and_no_later_data(data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    as_of = pd.Timestamp("2019-04-01") + pd.Timedelta(days=95)
    full = fitted.predict(series, test, as_of=as_of)
    cut = fitted.predict(series.loc[pd.to_datetime(series["date"]) <= as_of], test, as_of=as_of)
    pd.testing.assert_frame_equal(full, cut)
    assert (full["checkpoint"] == "60").all()
    too_early = fitted.predict(series, test.head(2), as_of=pd.Timestamp("2019-04-20"))
    assert too_early["crop_type"].isna().all() and too_early["crop_type_prob"].isna().all()


def test_missing_and_unseen_columns(data, fitted) -> None:
    series, labels = data
    X = fitted.features(series, labels.loc[labels["season"] == "2019"])
    fitted.predict_proba(X)  # keys are allowed
    with pytest.raises(UserInputError, match=r"missing columns feat_NDVI_max \(1 in all\)"):
        fitted.predict_proba(X.drop(columns="feat_NDVI_max"))
    with pytest.raises(UserInputError, match=r"unseen at fit time bogus, extra \(2 in all\)"):
        fitted.predict_proba(X.assign(bogus=1.0, extra=2.0))
    with pytest.raises(UserInputError, match="no model for checkpoint 75"):
        fitted.predict_proba(X, checkpoint=75)


def test_save_load_round_trip(tmp_path, data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"]
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["meta.json", "model_d060.txt", "model_d120.txt",
                                                                  "model_end.txt"]
    back = CropTypeClassifier.load(tmp_path / "m")
    for as_of in (None, pd.Timestamp("2019-08-15")):
        pd.testing.assert_frame_equal(fitted.predict(series, test, as_of=as_of), back.predict(series, test, as_of=as_of))
    (tmp_path / "bad").mkdir()
    with pytest.raises(UserInputError, match="expected a folder with meta.json"):
        CropTypeClassifier.load(tmp_path / "bad")


def test_deterministic(tmp_path, data) -> None:
    series, labels = data
    train = labels.loc[labels["season"] < "2018"]
    a = _clf(n_estimators=20).fit(series, train).save(tmp_path / "a")
    b = _clf(n_estimators=20).fit(series, train).save(tmp_path / "b")
    for name in ("meta.json", "model_end.txt", "model_d060.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_region_windows_and_context(data) -> None:
    series, labels = data
    lab = labels.drop(columns=["season_start", "season_end"]).assign(region="us-nebraska")
    win = field_windows(lab.head(2))
    assert win["start"].iloc[0] == pd.Timestamp("2015-09-15") and win["end"].iloc[0] == pd.Timestamp("2016-11-30")
    with pytest.raises(UserInputError, match="missing columns region"):
        CropTypeClassifier(context=("region",)).fit(series, labels.drop(columns="region"))


def test_classification_metrics() -> None:
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert m["accuracy"] == 0.75 and m["recall"] == {"a": 0.5, "b": 1.0}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_weighted_classification_metrics_equal_the_repeated_rows() -> None:
    # a bootstrap resample scored from its counts is what classification_metrics gives on the fields repeated that
    # often: a row of ones bit for bit, random counts to rounding, also where a resample draws a class nowhere (it
    # leaves the macro mean) or only as truth or only as prediction (it stays, with an F1 of 0)
    rng = np.random.default_rng(7)
    crops = np.array(["cotton", "fallow", "maize", "rice", "wheat"])
    t = rng.choice(crops, 40, p=[0.4, 0.05, 0.3, 0.2, 0.05])
    pred = np.where(rng.random(40) < 0.7, t, rng.choice(crops, 40))
    m = classification_metrics(t, pred)
    ones = weighted_classification_metrics(t, pred, np.ones((1, 40), dtype=np.int32))
    assert ones["accuracy"][0] == m["accuracy"] and ones["macro_f1"][0] == m["macro_f1"]
    # per-class recall and F1: the same classes, bit for bit
    assert list(ones["recall"]) == list(m["recall"]) and list(ones["f1"]) == list(m["f1"])
    assert all(ones["recall"][c][0] == m["recall"][c] for c in m["recall"])
    assert all(ones["f1"][c][0] == m["f1"][c] for c in m["f1"])
    w = rng.integers(0, 3, size=(300, 40)).astype(np.int32)
    w[:5, np.isin(t, ["fallow", "wheat"]) | np.isin(pred, ["fallow", "wheat"])] = 0
    got = weighted_classification_metrics(t, pred, w)
    dropped = 0
    for i, row in enumerate(w):
        rep_t, rep_p = np.repeat(t, row), np.repeat(pred, row)
        want = classification_metrics(rep_t, rep_p)
        dropped += len(want["f1"]) < len(m["f1"])
        assert got["accuracy"][i] == pytest.approx(want["accuracy"], abs=1e-12)
        assert got["macro_f1"][i] == pytest.approx(want["macro_f1"], abs=1e-12)
        rice = np.mean([(a == "rice") == (b == "rice") for a, b in zip(rep_t, rep_p)])
        assert got["rice_vs_other_accuracy"][i] == pytest.approx(rice, abs=1e-12)
        # per class: the repeated rows' figure, NaN where they have none (a class not drawn as truth has no recall;
        # one drawn neither as truth nor as prediction no F1)
        for key in ("recall", "f1"):
            for c, v in got[key].items():
                if c in want[key]:
                    assert v[i] == pytest.approx(want[key][c], abs=1e-12)
                else:
                    assert np.isnan(v[i])
            assert set(want[key]) <= set(got[key])
    assert dropped >= 5
    assert all(np.isnan(got[key][c][:5]).all() for key in ("recall", "f1") for c in ("fallow", "wheat"))
    empty = weighted_classification_metrics(t, pred, np.zeros((1, 40), dtype=np.int32))
    assert np.isnan(empty["accuracy"][0]) and np.isnan(empty["macro_f1"][0])
    assert all(np.isnan(v[0]) for key in ("recall", "f1") for v in empty[key].values())


def test_weighted_per_class_figures_where_a_resample_lacks_a_class() -> None:
    # fields (true, pred): (a, a), (b, c), (c, c). Drawing the 1st and 3rd: b drawn nowhere, so it has neither recall
    # nor F1 (NaN). Drawing the 1st and 2nd: c only predicted, so no recall but an F1 of 0; b only as truth: recall 0,
    # F1 0 — as classification_metrics gives on those rows
    w = np.array([[1, 0, 1], [1, 1, 0], [2, 1, 1]], dtype=np.int32)
    got = weighted_classification_metrics(["a", "b", "c"], ["a", "c", "c"], w)
    assert list(got["recall"]) == ["a", "b", "c"] and list(got["f1"]) == ["a", "b", "c"]
    assert np.isnan(got["recall"]["b"][0]) and np.isnan(got["f1"]["b"][0]) and got["f1"]["c"][0] == 1.0
    assert classification_metrics(["a", "b"], ["a", "c"]) == {"n": 2, "accuracy": 0.5, "macro_f1": 1 / 3,
                                                             "recall": {"a": 1.0, "b": 0.0}, "f1": {"a": 1.0, "b": 0.0,
                                                                                                   "c": 0.0}}
    assert np.isnan(got["recall"]["c"][1]) and got["f1"]["c"][1] == 0.0
    assert got["recall"]["b"][1] == 0.0 and got["f1"]["b"][1] == 0.0
    assert got["f1"]["c"][2] == pytest.approx(2 / 3) and got["recall"]["a"][2] == 1.0
    # a class only predicted in the whole set has an F1 but no recall, as classification_metrics gives it
    only_pred = weighted_classification_metrics(["a", "a"], ["a", "z"], np.ones((1, 2), dtype=np.int32))
    assert list(only_pred["recall"]) == ["a"] and list(only_pred["f1"]) == ["a", "z"]


def test_evaluate_crop_type(data) -> None:
    series, labels = data
    r = evaluate_crop_type(series, labels, "2019", mid_checkpoint=120, n_estimators=30, num_leaves=7,
                           calibration_folds=2, num_threads=1, leave_one_season_out=True)
    assert r["current"]["end"]["accuracy"] > 0.9 and r["current"]["end"]["accuracy"] >= r["current"]["mid"]["accuracy"] - 0.05
    assert r["baseline_declared"]["accuracy"] < 1.0  # declared labels are noisy
    assert r["spatial_block"]["end"]["n"] == 2 * r["spatial_block"]["n_conditions_held_out"] == 30
    assert set(r["loso"]["per_season"]) == set(SEASONS)
    assert r["loso"]["end"]["worst_accuracy"] <= r["loso"]["end"]["mean_accuracy"]
    # every scored set keeps its fields' crops for the intervals, in the order the figures were scored on
    block = r["spatial_block"]["end"]
    assert len(block[PER_FIELD]["true"]) == block["n"] == 30
    assert classification_metrics(block[PER_FIELD]["true"], block[PER_FIELD]["pred"])["accuracy"] == block["accuracy"]
    with pytest.raises(UserInputError, match="at least one earlier season"):
        evaluate_crop_type(series, labels, "2016")


def test_single_season_calibrates_on_field_folds(data) -> None:
    series, labels = data
    clf = CropTypeClassifier(("end",), n_estimators=20, num_leaves=7, calibration_folds=2, context=())
    clf.fit(series, labels.loc[labels["season"] == "2018"])
    assert set(clf.oof_ece_) == {"end"} and 0.05 < clf.temperatures_["end"] < 20
    with pytest.raises(UserInputError, match="calibration_groups column 'zone' missing"):
        CropTypeClassifier(("end",), calibration_groups="zone", context=()).fit(series, labels)


def test_predict_without_context_column_names_it(data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].drop(columns="region")
    with pytest.raises(UserInputError, match=r"missing columns region \(1 in all\)"):
        fitted.predict(series, test)


def test_raw_metrics_and_standing_water() -> None:
    start = pd.Timestamp("2019-05-15")
    rows = []
    for fid, ndwi in (("paddy", [-0.4, 0.3, 0.2, -0.5, -0.6]), ("dry", [-0.4, -0.45, -0.5, -0.6, -0.6])):
        for k, w in enumerate(ndwi):
            for var, val in (("NDWI", w), ("NDVI", 0.2 + 0.1 * k)):
                rows.append({"field_id": fid, "season": "2019", "date": start + pd.Timedelta(days=10 + 20 * k),
                             "variable": var, "mean": val, "n_pixels": 50, "n_clear": 50})
    series = pd.DataFrame(rows).astype({"field_id": "str", "season": "str", "variable": "str"})
    win = pd.DataFrame({"field_id": ["paddy", "dry"], "season": ["2019"] * 2, "start": [start] * 2,
                        "end": [start + pd.Timedelta(days=119)] * 2})
    f = seasonal_features(series, win, variables=["NDVI", "NDWI"], raw_metrics=True, derivatives=False)
    assert list(f.columns[2:]) == feature_names(["NDVI", "NDWI"], 8, derivatives=False, raw_metrics=True)
    paddy, dry = f.iloc[0], f.iloc[1]
    assert paddy["feat_water_n"] == 2 and paddy["feat_water_first_day"] == 30 and paddy["feat_water_last_day"] == 50
    assert dry["feat_water_n"] == 0 and np.isnan(dry["feat_water_first_day"])
    assert paddy["feat_NDWI_obs_max"] == pytest.approx(0.3) and dry["feat_NDVI_obs_min"] == pytest.approx(0.2)
    cut = seasonal_features(series, win, variables=["NDVI", "NDWI"], raw_metrics=True, offset_days=35)
    assert cut["feat_water_n"].tolist() == [1, 0]  # nothing after the cut-off is read


def test_clean_labels_and_gap_augmentation(data) -> None:
    series, labels = data
    train = labels.loc[labels["season"] < "2019"]
    clf = _clf(clean_labels=0.2, augment_gaps=0.5).fit(series, train)
    flipped = (train["declared_crop"] != train["true_crop"]).to_numpy()
    dropped = ~clf.oof_index_["kept"].to_numpy()
    assert clf.n_dropped_labels_ == dropped.sum() > 0
    assert dropped[flipped].mean() > 0.5 and dropped[~flipped].mean() < 0.05  # it drops mostly the mistakes
    assert clf.oof_proba_["end"].shape == (len(train), 3)
    test = labels.loc[labels["season"] == "2019"]
    out = clf.predict(series, test)
    assert (out["crop_type"].to_numpy() == test["true_crop"].to_numpy()).mean() > 0.9
    assert clf.metadata()["params"]["augment_gaps"] == 0.5 and clf.metadata()["n_dropped_labels"] > 0


def test_vector_scaling_corrects_a_class_shift() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(0, 2, size=(3000, 3))
    y = np.array([rng.choice(3, p=row) for row in softmax(scores)])
    shifted = scores * 2.0 - np.array([1.0, 0.0, 0.0])  # overconfident, class 0 under-scored
    scale, bias = fit_vector(shifted, y, l2=0.0)
    assert scale == pytest.approx(0.5, rel=0.15) and bias[0] - bias[1] == pytest.approx(0.5, abs=0.2)
    assert expected_calibration_error(softmax(shifted * scale + bias), y) < 0.03
    _, strong = fit_vector(shifted, y, l2=100.0)
    assert np.abs(strong).max() < 0.01  # a heavy L2 keeps the biases at zero: temperature scaling
    groups = np.repeat(np.array(["a", "b", "c"]), 1000)
    l2, eces = select_vector_l2(shifted, y, groups)
    assert set(eces) == set(VECTOR_L2_GRID) and eces[l2] == min(eces.values())
    with pytest.raises(UserInputError, match="expected scores"):
        fit_vector(shifted, y[:5])


def test_vector_calibration_round_trip(tmp_path, data) -> None:
    series, labels = data
    train = labels.loc[labels["season"] < "2019"]
    clf = _clf(calibration="vector", n_estimators=30).fit(series, train)
    assert set(clf.biases_) == {"d060", "d120", "end"} and len(clf.biases_["end"]) == 3
    assert clf.oof_ece_["end"]["calibrated"] <= 0.06
    test = labels.loc[labels["season"] == "2019"]
    back = CropTypeClassifier.load(clf.save(tmp_path / "v"))
    pd.testing.assert_frame_equal(clf.predict(series, test), back.predict(series, test))
    with pytest.raises(UserInputError, match="calibration must be 'temperature', 'vector' or 'none'"):
        _clf(calibration="isotonic").fit(series, train)


def test_seed_bag_averages_members_and_round_trips(tmp_path, data) -> None:
    series, labels = data
    train, test = labels.loc[labels["season"] < "2019"], labels.loc[labels["season"] == "2019"]
    one = _clf(n_estimators=20, seed=1).fit(series, train)
    bag = _clf(n_estimators=20, n_seeds=2).fit(series, train)
    assert [len(b) for b in bag.boosters_.values()] == [2, 2, 2]
    X = bag.features(series, test)
    M = bag._matrix(X[[*bag.feature_names_in_]])
    # member 1 of the bag is the seed-1 model; the bag's raw score is the members' mean
    m1 = np.asarray(bag.boosters_["end"][1].predict(M, raw_score=True)).reshape(len(M), -1)
    assert np.array_equal(m1, one._raw_scores(M, "end"))
    m0 = np.asarray(bag.boosters_["end"][0].predict(M, raw_score=True)).reshape(len(M), -1)
    assert np.allclose(bag._raw_scores(M, "end"), (m0 + m1) / 2) and not np.allclose(m0, m1)
    saved = bag.save(tmp_path / "bag")
    assert (saved / "model_end_s1.txt").is_file() and not (saved / "model_end_s2.txt").exists()
    back = CropTypeClassifier.load(saved)
    pd.testing.assert_frame_equal(bag.predict(series, test), back.predict(series, test))
    with pytest.raises(UserInputError, match="n_seeds must be a positive integer, found 0"):
        _clf(n_seeds=0).fit(series, train)


def test_ece_interval_covers_the_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(5)
    p = softmax(rng.normal(0, 2, size=(2000, 3)))
    y = np.array([rng.choice(3, p=row) for row in p])
    lo, hi = ece_interval(p, y, n_boot=200)
    assert lo < hi < 0.06 and (lo, hi) == ece_interval(p, y, n_boot=200)
    over = softmax(np.log(p) * 3)
    lo2, _ = ece_interval(over, y, n_boot=200)
    assert lo2 > hi  # an over-confident model's whole interval lies above a calibrated one's
    with pytest.raises(UserInputError, match="ECE interval: expected probs"):
        ece_interval(p, y[:5])


def test_remove_label_noise_inverts_symmetric_label_noise() -> None:
    rng = np.random.default_rng(7)
    q = softmax(rng.normal(0, 3, size=(4000, 4)))
    noisy = 0.9 * q + 0.1 * (1 - q) / 3  # what a calibration on 10% wrong labels learns
    back = remove_label_noise(noisy, 0.1)
    assert np.allclose(back, q) and np.array_equal(back.argmax(axis=1), noisy.argmax(axis=1))
    y = np.array([rng.choice(4, p=row) for row in q])
    assert expected_calibration_error(back, y) < expected_calibration_error(noisy, y) - 0.02
    assert np.array_equal(remove_label_noise(noisy, 0.0), noisy)
    with pytest.raises(UserInputError, match="label noise: expected probs"):
        remove_label_noise(noisy, 0.8)


def test_label_noise_dropped_share_sharpens_and_round_trips(tmp_path, data) -> None:
    series, labels = data
    train, test = labels.loc[labels["season"] < "2019"], labels.loc[labels["season"] == "2019"]
    plain = _clf(n_estimators=30, clean_labels=0.2).fit(series, train)
    clf = _clf(n_estimators=30, clean_labels=0.2, label_noise="dropped").fit(series, train)
    assert clf.n_dropped_labels_ > 0 and clf.label_noise_ == pytest.approx(clf.n_dropped_labels_ / len(train))
    a, b = plain.predict(series, test), clf.predict(series, test)
    assert (a["crop_type"] == b["crop_type"]).all() and (b["crop_type_prob"] >= a["crop_type_prob"] - 1e-12).all()
    assert (b["crop_type_prob"] > a["crop_type_prob"]).any()
    back = CropTypeClassifier.load(clf.save(tmp_path / "noise"))
    assert back.label_noise_ == clf.label_noise_
    pd.testing.assert_frame_equal(b, back.predict(series, test))
    with pytest.raises(UserInputError, match="label_noise must be a share"):
        _clf(label_noise="all").fit(series, train)


def test_adapt_prior_recovers_a_label_shift() -> None:
    # posteriors exact under a 50/50 prior; the batch is 90/10: EM finds the batch's prior without its labels
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.1).astype(int)
    x = rng.normal(1.5 * y, 1.0)
    p1 = 1.0 / (1.0 + np.exp(-(1.5 * x - 1.125)))
    probs = np.c_[1 - p1, p1]
    adapted, prior = adapt_prior(probs, np.array([0.5, 0.5]))
    assert prior == pytest.approx([0.9, 0.1], abs=0.01)
    assert adapted[:, 1].mean() == pytest.approx(y.mean(), abs=0.01) and probs[:, 1].mean() > 0.3
    brier = [float(np.mean(np.sum((p - np.eye(2)[y]) ** 2, axis=1))) for p in (probs, adapted)]
    assert brier[1] < 0.8 * brier[0]
    assert (adapted.argmax(axis=1) == y).mean() > (probs.argmax(axis=1) == y).mean()
    same, back = adapt_prior(probs[:0], np.array([1.0, 3.0]))
    assert same.shape == (0, 2) and back == pytest.approx([0.25, 0.75])
    # a batch drawn at the training prior is left (nearly) as it was
    y2 = (rng.random(20000) < 0.5).astype(int)
    q1 = 1.0 / (1.0 + np.exp(-(1.5 * rng.normal(1.5 * y2, 1.0) - 1.125)))
    kept, prior2 = adapt_prior(np.c_[1 - q1, q1], np.array([0.5, 0.5]))
    assert prior2 == pytest.approx([0.5, 0.5], abs=0.02) and np.abs(kept[:, 1] - q1).max() < 0.05
    with pytest.raises(UserInputError, match="prior adaptation: expected probs"):
        adapt_prior(probs, np.array([1.0, 0.0, 0.0]))


def test_prior_adaptation_option_batches_and_round_trips(tmp_path, data) -> None:
    series, labels = data
    train, test = labels.loc[labels["season"] < "2019"], labels.loc[labels["season"] == "2019"]
    clf = _clf(calibration="vector", n_estimators=30, prior_adaptation="em").fit(series, train)
    assert clf.train_prior_ == pytest.approx([1 / 3] * 3, abs=0.02)
    # a batch of mostly one crop: adapted towards it, and unlike the rows scored alone (the batch matters)
    skew = test.loc[(test["true_crop"] == "maize") | (test.index % 9 == 0)]
    X = clf.features(series, skew)
    X = skew[["field_id", "season"]].astype(str).merge(X, on=["field_id", "season"], how="left")
    M = X[[*clf.feature_names_in_]]
    plain = clf._calibrated(clf._raw_scores(clf._matrix(M), "end"), "end")
    got = clf.predict_proba(M)
    j = clf.classes_.index("maize")
    assert got[:, j].mean() > plain[:, j].mean()
    assert np.allclose(got, clf.adapted(plain)) and np.allclose(got.sum(axis=1), 1.0)
    back = CropTypeClassifier.load(clf.save(tmp_path / "em"))
    assert back.prior_adaptation == "em" and back.train_prior_ == clf.train_prior_
    pd.testing.assert_frame_equal(clf.predict(series, skew), back.predict(series, skew))
    none = _clf(calibration="vector", n_estimators=30).fit(series, train)
    assert np.array_equal(none.predict_proba(M), none.adapted(none.predict_proba(M)))
    with pytest.raises(UserInputError, match="prior_adaptation must be 'none' or 'em', found 'bbse'"):
        _clf(prior_adaptation="bbse").fit(series, train)


def test_a_feature_memo_shares_features_between_models_of_the_same_settings(data, fitted) -> None:
    """Two models of the same feature settings (fitted on different seasons) scoring the same fields through one
    ``feature_memo`` compute each checkpoint's features once, and each scores exactly as without it; the memo's key
    never names the boosters, and a model of other settings does not hit the first one's features."""
    series, labels = data
    other = _clf(seed=3).fit(series, labels.loc[labels["season"] < "2018"])
    fields = labels.loc[labels["season"] == "2019"]
    as_of = pd.Timestamp("2019-08-15")
    store: dict[tuple, pd.DataFrame] = {}
    computed: list[tuple] = []

    def memo(key: tuple, compute):  # type: ignore[no-untyped-def]
        if key not in store:
            computed.append(key)
            store[key] = compute()
        return store[key].copy()

    for model in (fitted, other):
        alone = model.predict(series, fields, as_of)
        pd.testing.assert_frame_equal(model.predict(series, fields, as_of, feature_memo=memo), alone)
    assert len(computed) == len({k[-3] for k in computed}) >= 1  # one entry per checkpoint in use
    assert not fitted.predict(series, fields, as_of).equals(other.predict(series, fields, as_of))
    coarse = _clf(period_days=20).fit(series, labels.loc[labels["season"] < "2019"])
    before = len(computed)
    pd.testing.assert_frame_equal(coarse.predict(series, fields, as_of, feature_memo=memo),
                                  coarse.predict(series, fields, as_of))
    assert len(computed) > before
