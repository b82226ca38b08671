"""Class-conditional label noise (a crop declared on a field never planted) and the calibration report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features._calibration import (
    declaration_transition,
    expected_calibration_error,
    noise_transition,
    remove_label_noise,
    remove_noise_transition,
    softmax,
)
from features._crop_eval import evaluate_crop_type
from features._crop_reliability import (
    calibrated_ece_floor,
    calibration_report,
    declared_reliability,
    reliability_table,
)
from features.crop_type import CropTypeClassifier
from features.errors import UserInputError

#: true crop -> label noise: a third of fallow fields carry a declared crop, the crops almost none
TRUE_T = np.array([[0.65, 0.20, 0.15],
                   [0.00, 0.99, 0.01],
                   [0.00, 0.01, 0.99]])


def _separated(n: int = 3000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Well separated true-class probabilities (end of season) and true labels drawn from them."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.2, 0.4, 0.4])
    z = rng.normal(0, 0.5, size=(n, 3))
    z[np.arange(n), y] += 6.0
    q = softmax(z)
    return q, np.array([rng.choice(3, p=row) for row in q])


def test_noise_transition_recovers_class_conditional_noise_and_its_removal_calibrates() -> None:
    q, y = _separated()
    p_label = q @ TRUE_T  # what a calibration on the noisy labels learns: P(label | x)
    t = noise_transition(p_label)
    assert np.allclose(t.sum(axis=1), 1.0) and np.abs(t - TRUE_T).max() < 0.02
    back = remove_noise_transition(p_label, t)
    assert np.allclose(back.sum(axis=1), 1.0) and np.abs(back - q).max() < 0.05
    fallow = y == 0
    assert p_label[fallow].max(axis=1).mean() < 0.7 < back[fallow].max(axis=1).mean()
    ece_label, ece_back = expected_calibration_error(p_label, y), expected_calibration_error(back, y)
    # the symmetric correction with the average noise cannot fix one class's under-confidence
    avg_noise = float(np.mean(1 - np.diag(TRUE_T)))
    ece_sym = expected_calibration_error(remove_label_noise(p_label, avg_noise), y)
    assert ece_back < 0.02 < min(ece_label, ece_sym)


def test_noise_transition_identity_rows_and_errors() -> None:
    p = np.array([[0.9, 0.1, 0.0], [0.45, 0.4, 0.15], [0.8, 0.2, 0.0]])
    t = noise_transition(p)
    # class 1 and 2 are never the top class: identity rows; class 0's row is the mean of its rows
    assert np.allclose(t[1:], np.eye(3)[1:]) and np.allclose(t[0], p.mean(axis=0))
    assert np.allclose(noise_transition(p, min_diagonal=0.8), np.eye(3))  # diagonal 0.72 < 0.8: not identifiable
    assert np.allclose(remove_noise_transition(p, np.eye(3)), p)
    with pytest.raises(UserInputError, match="noise transition: expected probs"):
        noise_transition(np.zeros((0, 3)))
    with pytest.raises(UserInputError, match="a \\(k, k\\) matrix"):
        remove_noise_transition(p, np.eye(2))
    with pytest.raises(UserInputError, match="expected an invertible"):
        remove_noise_transition(p, np.ones((3, 3)))


def test_declaration_transition_counts_raw_declarations_which_cleaned_probabilities_understate() -> None:
    """Counted on every declaration, the transition recovers the declarations' noise; read from probabilities
    calibrated on labels with the clear mistakes dropped (what noise_transition sees after cleaning), it
    understates it — the posterior would then trust a raw declaration too much."""
    q, y = _separated(n=6000)
    rng = np.random.default_rng(5)
    declared = np.array([rng.choice(3, p=TRUE_T[c]) for c in y])
    t = declaration_transition(q, declared)
    assert np.allclose(t.sum(axis=1), 1.0) and np.abs(t - TRUE_T).max() < 0.03
    kept = declared == q.argmax(axis=1)  # the cleaning drops what the imagery clearly contradicts
    assert (~kept).mean() > 0.05 and np.all(np.diag(declaration_transition(q[kept], declared[kept])) == 1.0)
    # identity rows for classes no row tops or whose diagonal is below min_diagonal; errors are user errors
    p = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.7, 0.3, 0.0]])
    np.testing.assert_allclose(declaration_transition(p, np.array([0, 1, 0])), [[2 / 3, 1 / 3, 0], [0, 1, 0], [0, 0, 1]])
    assert np.allclose(declaration_transition(p, np.array([1, 1, 0])), np.eye(3))  # diagonal 1/3 < 0.5
    with pytest.raises(UserInputError, match="declaration transition: expected probs"):
        declaration_transition(p, np.array([0, 1]))
    with pytest.raises(UserInputError, match=r"expected labels in \[0, 3\)"):
        declaration_transition(p, np.array([0, 1, 3]))


def test_calibration_report_direction_intervals_and_floor() -> None:
    rng = np.random.default_rng(5)
    q, y = _separated(2000, seed=5)
    flat = softmax(np.log(q) / 3.0)  # under-confident: right far more often than it says
    groups = np.repeat(np.arange(20), 100)
    r = calibration_report(flat, y, groups, n_boot=100, n_sim=50)
    assert r["mean_confidence"] < r["accuracy"] - 0.1 and r["ece"] == pytest.approx(
        expected_calibration_error(flat, y))
    assert r["ece_ci"][0] <= r["ece"] <= r["ece_ci"][1] and r["ece_ci"][0] > r["ece_calibrated_sim"]
    assert r["n_groups"] == 20 and sum(b["n"] for b in r["reliability"]) == len(y)
    assert all(b["accuracy"] > b["confidence"] for b in r["reliability"] if b["n"] >= 50)
    # a calibrated model of the same size: its ECE is near the floor, and the floor is not zero
    y_cal = np.where(rng.random(len(y)) < q.max(axis=1), q.argmax(axis=1), (q.argmax(axis=1) + 1) % 3)
    floor = calibrated_ece_floor(q, n_sim=50)
    assert 0.0 < floor < 0.02 and abs(expected_calibration_error(q, y_cal) - floor) < 0.015
    assert reliability_table(q[:1], y[:1])[0]["n"] == 1
    assert calibration_report(flat, y, n_boot=10, n_sim=5) == calibration_report(flat, y, n_boot=10, n_sim=5)
    with pytest.raises(UserInputError, match="expected 2000 groups"):
        calibration_report(flat, y, groups[:10])


def _fallow_county(seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two crops peaking at different times plus bare (fallow) fields, a third of which declare a crop."""
    rng = np.random.default_rng(seed)
    rows, labs = [], []
    for season in ("2016", "2017", "2018", "2019"):
        start = pd.Timestamp(f"{season}-04-01")
        for i in range(120):
            crop = ("fallow", "maize", "wheat")[i % 3]
            declared = crop if crop != "fallow" or rng.random() > 0.35 else ("maize", "wheat")[i % 2]
            labs.append({"field_id": f"f{i:03d}", "season": season, "declared_crop": declared, "true_crop": crop,
                         "condition_id": f"c{season}-{crop}-{i // 12}", "region": "north",
                         "season_start": start, "season_end": start + pd.Timedelta(days=199)})
            peak = {"maize": 130.0, "wheat": 60.0}.get(crop, 100.0) + rng.normal(0, 10)
            amp = 0.0 if crop == "fallow" else 0.55 + rng.normal(0, 0.05)
            for day in range(0, 200, 8):
                ndvi = 0.15 + amp * np.exp(-0.5 * ((day - peak) / 30) ** 2) + rng.normal(0, 0.03)
                rows.append({"field_id": f"f{i:03d}", "season": season, "date": start + pd.Timedelta(days=day),
                             "variable": "NDVI", "mean": ndvi, "n_pixels": 100, "n_clear": 100})
    series = pd.DataFrame(rows).astype({"field_id": "str", "season": "str", "variable": "str"})
    for c in ("std", "p10", "p50", "p90"):
        series[c] = np.nan
    return series, pd.DataFrame(labs)


def test_transition_label_noise_makes_fallow_confident_and_round_trips(tmp_path) -> None:
    series, labels = _fallow_county()
    train, test = labels.loc[labels["season"] < "2019"], labels.loc[labels["season"] == "2019"]
    kw = {"n_estimators": 40, "num_leaves": 7, "calibration_folds": 3, "clean_labels": 0.05}
    plain = CropTypeClassifier((90, "end"), label_noise="dropped", **kw).fit(series, train)
    clf = CropTypeClassifier((90, "end"), label_noise="transition", **kw).fit(series, train)
    t = np.asarray(clf.noise_transition_)
    fallow = clf.classes_.index("fallow")
    assert np.allclose(t.sum(axis=1), 1.0) and 0.5 < t[fallow, fallow] < 0.85 and clf.label_noise_ == 0.0
    a, b = plain.predict(series, test), clf.predict(series, test)
    bare = (test["true_crop"] == "fallow").to_numpy()
    assert b["prob_fallow"].to_numpy()[bare].mean() > a["prob_fallow"].to_numpy()[bare].mean() + 0.1
    codes = np.array([clf.classes_.index(c) for c in test["true_crop"]])
    pa, pb = (x[[f"prob_{c}" for c in clf.classes_]].to_numpy() for x in (a, b))
    assert expected_calibration_error(pb, codes) < expected_calibration_error(pa, codes)
    saved = clf.save(tmp_path / "m")
    assert np.allclose(json.loads((saved / "meta.json").read_text())["noise_transition"], t)
    pd.testing.assert_frame_equal(b, CropTypeClassifier.load(saved).predict(series, test))
    meta = json.loads((saved / "meta.json").read_text())
    del meta["noise_transition"]  # a model saved before the transition existed still loads, uncorrected
    (saved / "meta.json").write_text(json.dumps(meta))
    old = CropTypeClassifier.load(saved)
    clf.noise_transition_ = None
    assert old.noise_transition_ is None
    pd.testing.assert_frame_equal(old.predict(series, test), clf.predict(series, test))


def test_spatial_block_fields_unseen_in_every_season() -> None:
    series, labels = _fallow_county()
    fits: list[set[str]] = []
    orig = CropTypeClassifier.fit

    def spy(self: CropTypeClassifier, s: pd.DataFrame, lab: pd.DataFrame, **k: object) -> CropTypeClassifier:
        fits.append(set(lab["field_id"].astype(str)))
        return orig(self, s, lab, **k)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CropTypeClassifier, "fit", spy)
        r = evaluate_crop_type(series, labels, "2019", mid_checkpoint=90, leave_one_season_out=False,
                               n_estimators=20, num_leaves=7, calibration_folds=2)
    sb = r["spatial_block"]
    assert sb["n_conditions_tested"] >= 1 and sb["end"]["n"] > 0 and len(fits) == 2
    block_fields = fits[0] - fits[1]  # the current-season run trains on every field
    assert len(block_fields) >= sb["end"]["n"] > 0  # each tested field (one row each) unseen in every season
    cal = sb["end"]["calibration"]
    assert cal["n_groups"] == sb["n_conditions_tested"] and sum(b["n"] for b in cal["reliability"]) == sb["end"]["n"]
    assert 0.0 <= cal["ece_calibrated_sim"] <= 1.0 and "calibration" in r["current"]["mid"]


def test_spatial_block_season_scale_from_the_whole_season() -> None:
    """The block's season scale was estimated on the block's own declarations (`predict_season_proba(X, block)`),
    where production estimates it on the season's whole fields file (a model-risk review: the block's calibration was
    fitted beside the very fields it was scored on). Every scoring now reads the whole current season's declarations;
    the block's metrics are those rows of it."""
    series, labels = _fallow_county()
    calls: list[int] = []
    orig = CropTypeClassifier.predict_season_proba

    def spy(self: CropTypeClassifier, X: pd.DataFrame, fields: pd.DataFrame, **k: object) -> np.ndarray:
        calls.append(len(fields))
        return orig(self, X, fields, **k)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CropTypeClassifier, "predict_season_proba", spy)
        r = evaluate_crop_type(series, labels, "2019", mid_checkpoint=90, leave_one_season_out=False,
                               n_estimators=20, num_leaves=7, calibration_folds=2)
    n_now = int((labels["season"].astype(str) == "2019").sum())
    assert r["n_test"] == n_now and 0 < r["spatial_block"]["end"]["n"] < n_now
    assert calls == [n_now] * 4  # current end, mid; block end, mid — all on the whole season
    assert r["spatial_block"]["season_scale_from"] == "the whole current season's declared fields"


def test_declared_reliability_reads_the_posterior_against_truth() -> None:
    post = np.array([0.05, 0.12, 0.15, 0.52, 0.55, 0.91, 0.95, 0.99, np.nan])
    right = np.array([False, False, True, False, True, True, True, True, False])
    d = declared_reliability(post, right)
    assert d["n"] == 8 and d["wrong"] == 3  # the row without a posterior (nothing declared) is left out
    assert (d["flagged"], d["flagged_wrong"]) == (3, 2) and d["wrong_caught"] == pytest.approx(2 / 3)
    assert d["confirmed"] == 3 and d["confirmed_right"] == 1.0
    assert d["mean_posterior"] == pytest.approx(np.nanmean(post)) and d["share_right"] == 5 / 8
    # bins 0 (0.05), 1 (0.12, 0.15), 5 (0.52, 0.55), 9 (0.91, 0.95, 0.99)
    want = (1 * 0.05 + 2 * abs(0.135 - 0.5) + 2 * abs(0.535 - 0.5) + 3 * abs(0.95 - 1.0)) / 8
    assert d["reliability_error"] == pytest.approx(want, abs=1e-3) and [b["n"] for b in d["bins"]] == [1, 2, 2, 3]
    assert declared_reliability(np.array([np.nan]), np.array([True])) == {"n": 0, "wrong": 0}
    with pytest.raises(UserInputError, match="declared reliability: expected posterior"):
        declared_reliability(np.zeros(2), np.zeros(3, dtype=bool))
