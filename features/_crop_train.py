"""Crop-type training steps that need no classifier state: out-of-fold scores and the calibration fit.

- :func:`oof_raw_scores`: each fold's rows scored by models trained on the other folds (one per bag member,
  raw scores averaged) — what the label cleaning and the calibration are fitted on.
- :func:`fit_calibration`: temperature or vector scaling fitted on those scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features._calibration import fit_temperature, fit_vector, select_vector_l2

__all__ = ["oof_raw_scores", "fit_calibration"]


def oof_raw_scores(X: np.ndarray, y: np.ndarray, folds: np.ndarray, train_rows: np.ndarray, n_class: int,
                   params: list[dict[str, Any]], cat_idx: list[int], n_estimators: int,
                   extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Out-of-fold raw scores (len(y), n_class): each fold predicted by models trained on the ``train_rows``
    (and the ``extra`` augmented rows: matrix, labels, folds) of the other folds, one per bag member
    (``params``), raw scores averaged."""
    import lightgbm as lgb

    oof = np.zeros((len(y), n_class))
    for k in range(int(folds.max()) + 1):
        tr, te = (folds != k) & train_rows, folds == k
        if not te.any() or not tr.any():
            continue
        Xt, yt = X[tr], y[tr]
        if extra is not None:
            Xt, yt = np.vstack([Xt, extra[0][extra[2] != k]]), np.concatenate([yt, extra[1][extra[2] != k]])
        for pj in params:
            b = lgb.train(pj, lgb.Dataset(Xt, yt, categorical_feature=cat_idx, free_raw_data=True),
                          num_boost_round=n_estimators)
            oof[te] += np.asarray(b.predict(X[te], raw_score=True)).reshape(int(te.sum()), -1) / len(params)
    return oof


def fit_calibration(oof: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str,
                    loss: str) -> tuple[float, list[float] | None]:
    """(temperature, per-class biases or None) fitted on out-of-fold raw scores: ``vector`` scaling with its
    L2 on the biases chosen leave-one-group-out, else temperature scaling with ``loss``."""
    if method == "vector":
        l2, _ = select_vector_l2(oof, y, groups)
        scale, bias = fit_vector(oof, y, l2=l2)
        return 1.0 / scale, [float(b) for b in bias]
    return fit_temperature(oof, y, loss=loss), None
