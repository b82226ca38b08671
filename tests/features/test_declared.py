"""The declared crop's probability given the imagery and the declaration (features/_declared.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features._declared import declared_posterior
from features.errors import UserInputError

#: P(declared i | crop j): crops declared right 97%; a fallow field declared as a crop 30% of the time
T = np.array([[0.97, 0.01, 0.02],
              [0.15, 0.70, 0.15],
              [0.02, 0.01, 0.97]])  # classes: maize, fallow, soybean


def test_bayes_against_a_brute_force_joint() -> None:
    """Equals P(crop = d | x, D = d) computed from an explicit joint over (crop, declaration)."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=200)
    d = rng.integers(0, 3, size=200)
    got = declared_posterior(p, d, T)
    joint = p[:, :, None] * T[None, :, :]  # (n, crop, declared)
    want = joint[np.arange(200), d, d] / joint[np.arange(200), :, d].sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_reliable_declaration_outweighs_doubtful_imagery_but_not_a_clear_no() -> None:
    p = np.array([[0.10, 0.00, 0.90],    # imagery leans soybean, maize declared
                  [0.002, 0.0, 0.998],   # imagery all but rules maize out
                  [0.10, 0.80, 0.10]])   # looks fallow, maize declared: declarations of fallow are often wrong
    post = declared_posterior(p, np.array([0, 0, 0]), T)
    assert post[0] > 0.8 > 0.2 > post[1]
    assert post[2] < post[0] and p[0, 0] == p[2, 0]  # same imagery probability, less believable declaration


def test_no_transition_unknown_and_missing_declarations_and_unscored_rows() -> None:
    p = np.array([[0.3, 0.3, 0.4], [0.3, 0.3, 0.4], [0.3, 0.3, 0.4], [np.nan] * 3])
    d = np.array([2, -1, -2, 0])
    np.testing.assert_array_equal(declared_posterior(p, d, None)[:2], [0.4, 0.0])
    post = declared_posterior(p, d, T)
    assert post[1] == 0.0 and np.isnan(post[2]) and np.isnan(post[3]) and 0.4 < post[0] < 1


def test_bad_shapes_are_user_errors() -> None:
    with pytest.raises(UserInputError, match=r"expected a \(3, 3\) transition"):
        declared_posterior(np.full((1, 3), 1 / 3), np.array([0]), np.eye(2))
    with pytest.raises(UserInputError, match=r"declared indices must lie in \[-2, 3\)"):
        declared_posterior(np.full((1, 3), 1 / 3), np.array([3]), T)
    with pytest.raises(UserInputError, match="expected probs"):
        declared_posterior(np.full(3, 1 / 3), np.array([0]), T)


def test_classifier_declared_crop_prob_is_the_posterior_of_its_transition(tmp_path: Path) -> None:
    """A model trained with the transition correction reports the declaration posterior; the alert reads it. The
    meaning travels with the saved model: a folder saved before it (no ``declared_prob``) scores as it did, and one
    saved before the declarations' own transition (no ``declaration_transition``) with the kept labels' one."""
    import json

    from features.crop_type import CropTypeClassifier
    from tests.features.test_crop_type import _make

    series, labels = _make(seed=4, flip=0.08)
    train, test = labels[labels["season"] < "2019"], labels[labels["season"] == "2019"].reset_index(drop=True)
    clf = CropTypeClassifier((60, "end"), n_estimators=40, num_leaves=7, calibration_folds=3, num_threads=1,
                             label_noise="transition").fit(series, train)
    assert clf.noise_transition_ is not None and clf.declaration_transition_ is not None
    out = clf.predict(series, test, as_of=None)
    p = out[[f"prob_{c}" for c in clf.classes_]].to_numpy()
    d = np.array([clf.classes_.index(c) for c in test["declared_crop"]])
    dec = np.asarray(clf.declaration_transition_)
    np.testing.assert_allclose(out["declared_crop_prob"], declared_posterior(p, d, dec))
    # counted on every declaration (the mistakes the cleaning dropped included): less reliable than the kept labels
    assert np.diag(dec).mean() < np.diag(np.asarray(clf.noise_transition_)).mean()
    imagery = p[np.arange(len(d)), d]
    assert not np.allclose(out["declared_crop_prob"], imagery)  # the declaration moved it
    wrong = (test["declared_crop"] != test["true_crop"]).to_numpy()
    flagged = out["declared_crop_prob"].to_numpy() < 0.2
    assert flagged.sum() <= (imagery < 0.2).sum() and wrong[flagged].mean() >= wrong[imagery < 0.2].mean()
    assert clf.declared_prob_ == "posterior"
    again = CropTypeClassifier.load(clf.save(tmp_path / "m")).predict(series, test, as_of=None)
    np.testing.assert_array_equal(again["declared_crop_prob"], out["declared_crop_prob"])
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert np.allclose(meta.pop("declaration_transition"), dec)  # saved before it: the kept labels' transition
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    older = CropTypeClassifier.load(tmp_path / "m").predict(series, test, as_of=None)
    np.testing.assert_allclose(older["declared_crop_prob"],
                               declared_posterior(p, d, np.asarray(clf.noise_transition_)))
    assert meta.pop("declared_prob") == "posterior"
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    old = CropTypeClassifier.load(tmp_path / "m").predict(series, test, as_of=None)
    np.testing.assert_allclose(old["declared_crop_prob"], imagery)
