"""Crop-type training steps of :meth:`features.crop_type.CropTypeClassifier.fit`.

- :func:`checked_checkpoints`, :func:`lgb_params`: the checked configuration and each bag member's LightGBM
  parameters.
- :func:`oof_raw_scores`: each fold's rows scored by models trained on the other folds (one per bag member,
  raw scores averaged) — what the label cleaning and the calibration are fitted on.
- :func:`fit_calibration`: temperature or vector scaling fitted on those scores.
- :func:`gap_copies`: the cloud-gap augmentation's copies of the kept rows.
- :func:`fit_noise_state`: after the checkpoints' calibration, the label-noise transition, what
  ``declared_crop_prob`` means, the declarations' temperatures and transition, the out-of-fold probabilities.
- :func:`heldout_proba`: a group's out-of-fold probabilities calibrated WITHOUT that group (temperature, biases and
  noise transition refitted on the other rows) — the honest held-out figure the registry's governance reports.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features._calibration import (
    declaration_transition,
    expected_calibration_error,
    fit_temperature,
    fit_vector,
    noise_transition,
    select_vector_l2,
    softmax,
)
from features._crop_features import FeatureCache, GapSeries, gap_plan
from features._seasonal import field_windows
from features.errors import UserInputError

__all__ = [
    "checked_checkpoints", "lgb_params", "oof_raw_scores", "fit_calibration", "gap_copies", "fit_noise_state",
    "heldout_proba",
]


def checked_checkpoints(model: Any) -> list[int | str]:
    """The model's checkpoints, sorted (day offsets, then ``"end"``), after checking its configuration:
    checkpoints, label_noise, n_seeds, calibration, calibration_loss and prior_adaptation (a
    :class:`UserInputError` naming the bad value)."""
    bad = [c for c in model.checkpoints if c != "end" and not (isinstance(c, int | np.integer) and int(c) > 0)]
    if bad or not model.checkpoints:
        raise UserInputError(f"crop type: checkpoints must be positive day offsets or 'end', found {bad or '[]'}")
    ln = model.label_noise
    if not (ln in ("dropped", "transition")
            or (isinstance(ln, int | float) and not isinstance(ln, bool) and 0 <= ln < 0.5)):
        raise UserInputError(f"crop type: label_noise must be a share in [0, 0.5), 'dropped' or 'transition', "
                             f"found {ln!r}")
    if not (isinstance(model.n_seeds, int | np.integer) and int(model.n_seeds) >= 1):
        raise UserInputError(f"crop type: n_seeds must be a positive integer, found {model.n_seeds!r}")
    for name, value, allowed in (("calibration", model.calibration, ("temperature", "vector", "none")),
                                 ("calibration_loss", model.calibration_loss, ("brier", "nll", "ece")),
                                 ("prior_adaptation", model.prior_adaptation, ("none", "em"))):
        if value not in allowed:
            raise UserInputError(f"crop type: {name} must be {', '.join(map(repr, allowed[:-1]))} or "
                                 f"{allowed[-1]!r}, found {value!r}")
    days = sorted({int(c) for c in model.checkpoints if c != "end"})
    return [*days, *(["end"] if "end" in model.checkpoints else [])]


def lgb_params(model: Any, n_class: int, bag: int = 0) -> dict[str, Any]:
    """LightGBM parameters of bag member ``bag`` (its seeds are ``seed + bag``)."""
    seed = model.seed + bag
    return {
        "objective": "multiclass", "num_class": n_class, "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves, "min_data_in_leaf": model.min_child_samples,
        "feature_fraction": model.feature_fraction, "lambda_l2": model.lambda_l2,
        "bagging_fraction": model.bagging_fraction, "bagging_freq": 1 if model.bagging_fraction < 1 else 0,
        "extra_trees": model.extra_trees, "max_bin": model.max_bin, "extra_seed": seed,
        "seed": seed, "feature_fraction_seed": seed, "bagging_seed": seed, "data_random_seed": seed,
        "deterministic": True, "force_row_wise": True,
        "num_threads": model.num_threads, "verbose": -1, "max_cat_to_onehot": 8,
    }


def oof_raw_scores(X: np.ndarray, y: np.ndarray, folds: np.ndarray, train_rows: np.ndarray, n_class: int,
                   params: list[dict[str, Any]], cat_idx: list[int], n_estimators: int,
                   extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                   workers: int | None = 1) -> np.ndarray:
    """Out-of-fold raw scores (len(y), n_class): each fold predicted by models trained on the ``train_rows``
    (and the ``extra`` augmented rows: matrix, labels, folds) of the other folds, one per bag member
    (``params``), raw scores averaged. The (fold, member) fits run on ``workers`` threads
    (:func:`features.threads.thread_map`; None: the default count) and are summed in one fixed order, so the
    scores do not depend on it."""
    import lightgbm as lgb

    from features.threads import thread_map

    jobs: list[tuple[int, int]] = []
    for k in range(int(folds.max()) + 1):
        tr, te = (folds != k) & train_rows, folds == k
        if te.any() and tr.any():
            jobs.extend((k, j) for j in range(len(params)))

    def one(job: tuple[int, int]) -> np.ndarray:
        k, j = job
        tr, te = (folds != k) & train_rows, folds == k
        Xt, yt = X[tr], y[tr]
        if extra is not None:
            Xt, yt = np.vstack([Xt, extra[0][extra[2] != k]]), np.concatenate([yt, extra[1][extra[2] != k]])
        b = lgb.train(params[j], lgb.Dataset(Xt, yt, categorical_feature=cat_idx, free_raw_data=True),
                      num_boost_round=n_estimators)
        # num_threads on every call: LightGBM (>= 4.2) keeps it in a process-wide variable that a call without it
        # resets to "all cores", under the other threads' fits sized for one (a segfault in lib_lightgbm.so)
        return np.asarray(b.predict(X[te], raw_score=True, num_threads=int(params[j].get("num_threads", 1)))
                          ).reshape(int(te.sum()), -1)

    oof = np.zeros((len(y), n_class))
    for (k, _), pred in zip(jobs, thread_map(one, jobs, workers)):
        oof[folds == k] += pred / len(params)
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


def gap_copies(model: Any, series: pd.DataFrame, lab: pd.DataFrame, keep_rows: np.ndarray, label_column: str,
               ckpts: list[int | str], cache: FeatureCache
               ) -> tuple[dict[int | str, np.ndarray], np.ndarray, np.ndarray] | None:
    """Cloud-gap augmentation: ``model.augment_gaps`` copies per kept row (a fraction: that share of rows)
    with every observation of one 30-60 day stretch (in the first 60% of the season) removed, as a
    monsoon hides a paddy's flooding; each row's gap is drawn from a hash of (seed, copy, field,
    season) (:func:`features._crop_features.gap_plan`), so it does not depend on the other rows.
    Returns (matrix per checkpoint, labels, folds), or None without augmentation."""
    if model.augment_gaps <= 0:
        return None
    keys = lab[["field_id", "season"]].astype({"field_id": str, "season": str})
    win = keys.merge(field_windows(lab, season_days=model.season_days), on=["field_id", "season"], how="left")
    subs, picks = [], []
    for j in range(int(math.ceil(model.augment_gaps))):
        plan = gap_plan(win, seed=model.seed, copy=j, share=min(1.0, model.augment_gaps - j))
        rows = np.flatnonzero(keep_rows & plan["selected"].to_numpy())
        sub = lab.iloc[rows].reset_index(drop=True)
        subs.append(sub.assign(field_id=sub["field_id"].astype(str) + f"#gap{j}",
                               _orig=sub["field_id"].astype(str), _g0=plan["gap_start"].to_numpy()[rows],
                               _g1=plan["gap_end"].to_numpy()[rows]))
        picks.append(rows)
    rows = np.concatenate(picks)
    if len(rows) == 0:
        return None
    sub = pd.concat(subs, ignore_index=True)
    y = pd.Categorical(sub[label_column], categories=model.classes_).codes.astype(int)
    folds = model._folds_of[rows]
    gapped = GapSeries(series)  # the series of the copies the cache misses, built once
    mats = {c: model._matrix(model._fit_features(gapped, sub, c, cache)) for c in ckpts}
    return mats, y, folds


def fit_noise_state(model: Any, oofs: dict[str, np.ndarray], y: np.ndarray, ok: np.ndarray) -> None:
    """Set, from the checkpoints' out-of-fold raw scores ``oofs`` (labels ``y``, ``ok`` the rows the cleaning
    kept), after their temperatures and biases are fitted: ``noise_transition_`` (``label_noise="transition"``),
    ``declared_prob_``, ``declared_temperatures_``, ``oof_ece_``, ``oof_proba_`` and
    ``declaration_transition_``."""
    if model.label_noise == "transition" and oofs:
        # the noise of the labels the calibration was fitted on, per class, from the latest checkpoint's
        # calibrated out-of-fold probabilities (classes best separated there); the same labels at every
        # checkpoint, so the same correction
        last = list(oofs)[-1]
        p_last = softmax(oofs[last][ok] / model.temperatures_[last] + np.asarray(model.biases_.get(last, 0.0)))
        model.noise_transition_ = noise_transition(p_last).tolist()
    # what declared_crop_prob means for this model (kept with it: a saved model keeps its meaning)
    model.declared_prob_ = "posterior" if model.noise_transition_ is not None else "imagery"
    # the out-of-fold temperature of EVERY declared row (features/_season_calib.py): the reference a season's
    # own declarations are compared with (temperature calibration only)
    model.declared_temperatures_ = {
        name: fit_temperature(oof[np.isfinite(oof).all(axis=1)], y[np.isfinite(oof).all(axis=1)],
                              loss=model.calibration_loss)
        for name, oof in oofs.items() if name not in model.biases_ and np.isfinite(oof).all(axis=1).any()}
    # kept in memory only (never saved): heldout_proba recalibrates a held-out season without its own rows
    model._oof_raw, model._oof_ok = dict(oofs), np.asarray(ok, dtype=bool).copy()
    for name, oof in oofs.items():
        model.oof_ece_[name] = {"raw": expected_calibration_error(softmax(oof[ok]), y[ok]),
                                "calibrated": expected_calibration_error(model._calibrated(oof[ok], name), y[ok])}
        model.oof_proba_[name] = model._calibrated(oof, name)
    if model.noise_transition_ is not None:
        # the reliability of a RAW declaration (the posterior's T): counted on every declared row, the
        # mistakes the cleaning dropped included — a new season's declarations are not cleaned
        p_all = model.oof_proba_[list(oofs)[-1]]
        fin = np.isfinite(p_all).all(axis=1)
        if fin.any():
            model.declaration_transition_ = declaration_transition(p_all[fin], y[fin]).tolist()


def heldout_proba(model: Any, name: str, rows: np.ndarray) -> np.ndarray | None:
    """Calibrated probabilities of the label rows ``rows`` (a boolean mask over ``oof_index_``) at checkpoint
    ``name`` from their out-of-fold scores, with the temperature (or vector biases) and the label-noise transition
    fitted on the OTHER rows only — so a held-out season's figure does not rest on a calibration that saw it.
    ``oof_proba_`` uses the calibration fitted on every row (what the model applies). None when the model was not
    fitted in this process (the out-of-fold scores are not saved), has no such scores, or too few other rows."""
    raw = getattr(model, "_oof_raw", {}).get(name)
    ok = getattr(model, "_oof_ok", None)
    if raw is None or ok is None:
        return None
    rows = np.asarray(rows, dtype=bool)
    y = model.oof_index_["label"].to_numpy()
    groups = model.oof_index_["season"].astype(str).to_numpy()
    fit_rows = ok & ~rows & np.isfinite(raw).all(axis=1)
    if fit_rows.sum() < 2 or len(np.unique(y[fit_rows])) < 2:
        return None
    if model.calibration == "none":
        t, bias = 1.0, None
    else:
        t, bias = fit_calibration(raw[fit_rows], y[fit_rows], groups[fit_rows], model.calibration,
                                  model.calibration_loss)
    p = softmax(raw[rows] / t + (np.asarray(bias) if bias else 0.0))
    if model.label_noise == "transition":
        last = list(model._oof_raw)[-1]
        lraw = model._oof_raw[last]
        lfit = ok & ~rows & np.isfinite(lraw).all(axis=1)
        if name == last:
            lt, lbias = t, bias
        elif model.calibration == "none":
            lt, lbias = 1.0, None
        else:
            lt, lbias = fit_calibration(lraw[lfit], y[lfit], groups[lfit], model.calibration, model.calibration_loss)
        from features._calibration import remove_noise_transition

        trans = noise_transition(softmax(lraw[lfit] / lt + (np.asarray(lbias) if lbias else 0.0)))
        return remove_noise_transition(p, trans)
    eta = getattr(model, "label_noise_", 0.0)
    if eta > 0:
        from features._calibration import remove_label_noise

        return remove_label_noise(p, eta)
    return p
