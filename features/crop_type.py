"""Crop type: a calibrated, early-season LightGBM multiclass classifier on seasonal features.

One model per as-of checkpoint (days after the season start, plus ``"end"`` of season); a
prediction as of a date uses the latest checkpoint not after it, on features cut off at that
checkpoint, so mid-season probabilities are honest. Each model's probabilities are calibrated
on out-of-fold scores of the training groups (past seasons, or regions): temperature scaling, or
vector scaling (per-class biases) for models applied to unseen regions.

Trained on DECLARED crops of past seasons (noisy, as real labels are). Saved as a folder of
LightGBM text models plus ``meta.json`` (no pickles): see :meth:`CropTypeClassifier.save`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import _crop_season as _cs
from features._calibration import (
    adapt_prior,
    expected_calibration_error,
    remove_label_noise,
    remove_noise_transition,
    softmax,
)
from features._crop_features import FeatureCache, check_feature_names, group_folds
from features._crop_inputs import CropTypeInputs, checkpoint_key
from features._crop_persist import model_metadata, read_model, restore_state, write_model
from features._crop_season import PINNED
from features._crop_season_scales import CropTypeSeasonScales
from features._crop_train import (
    checked_checkpoints,
    fit_calibration,
    fit_noise_state,
    gap_copies,
    lgb_params,
    oof_raw_scores,
)
from features._declared import declared_posterior
from features._seasonal import feature_names, field_windows
from features.errors import UserInputError, format_offenders
from features.threads import thread_map

# isort: split
# re-exported, unused here: importable from features.crop_type as before the feature methods moved to
# features._crop_inputs
from features._seasonal import seasonal_features  # noqa: F401

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "FORMAT_VERSION",
    "CropTypeClassifier",
    "PINNED",
    "checkpoint_key",
    "expected_calibration_error",
]

#: day offsets after the season start (in-smallholder starts 15 May: 60…150 = mid-July…mid-October;
#: us-nebraska starts 15 September of S-1, so its summer crops need 240…330 = mid-May…mid-August)
DEFAULT_CHECKPOINTS: tuple[int | str, ...] = (60, 90, 120, 150, 240, 270, 300, 330, "end")
FORMAT_VERSION = "crop_type/2"
#: columns a feature frame may carry besides the features (ignored by predict_proba)
KEY_COLUMNS = ("field_id", "season", "as_of", "checkpoint", "declared_crop", "season_start", "season_end")


class CropTypeClassifier(CropTypeInputs, CropTypeSeasonScales):
    """Crop-type classifier in the scikit-learn style (``__init__`` stores config only).

    ``context`` names categorical columns of the fields table used as features (e.g. region);
    ``season_days`` gives the window length when fields carry ``season_start`` only.
    ``calibration_groups`` is the label column whose groups are kept whole in the out-of-fold
    scores the calibration is fitted on: ``season`` (past seasons predicting an unseen one), or
    ``region`` when the model will be applied to unseen regions. ``calibration``: ``temperature``
    (one scalar), ``vector`` (a scale and per-class biases, L2 chosen leave-one-group-out: corrects
    the class-frequency shift of a new region) or ``none``.

    Defaults were chosen on the real CAWa data, leave-one-region-out (benchmarks/bench_cawa.py):
    extremely randomised, bagged trees with 63 leaves transfer best across regions, and
    per-period differences (``derivatives=True``) cost ~2 points of accuracy there, so they are
    off by default. ``num_threads=1``: on a busy 2-core machine 2 threads were 12x slower.

    ``raw_metrics`` adds timing-free metrics of the raw observations and standing water (NDWI > 0:
    count, first and last day), which a flooded paddy shows. Two defences against what declared
    labels and monsoon clouds do to a county model (pipelines/train_crop.py turns both on):
    ``clean_labels`` drops training labels whose out-of-fold probability (whole seasons held out,
    latest checkpoint) is below it — mostly declaration mistakes — before the final fits and the
    calibration; ``augment_gaps`` adds that many copies per training row (a fraction: that share)
    with one random 30-60 day stretch of observations removed, so a paddy whose flooding the clouds
    hid is still recognised. ``label_noise``: the calibration is fitted on declared labels, so its
    probabilities are those of the DECLARED crop; a share ``label_noise`` of wrong labels (``"dropped"``:
    the share ``clean_labels`` dropped, an estimate from the training labels alone) is removed from them
    (:func:`features._calibration.remove_label_noise`) so they are probabilities of the crop in the field
    (keeps the arg-max). ``"transition"``: the noise is estimated per class instead
    (:func:`features._calibration.noise_transition` on the latest checkpoint's calibrated out-of-fold
    probabilities of the kept labels, the labels the calibration was fitted on; ``noise_transition_``) and
    removed at every checkpoint (:func:`features._calibration.remove_noise_transition`): the cleaning already
    dropped the isolated mistakes, and what is left is mostly class-conditional — a crop declared on a field
    never planted makes the fallow class look 30-40% uncertain. ``n_seeds`` > 1 bags that many models per checkpoint (seeds ``seed``,
    ``seed + 1``...; raw scores averaged, in the out-of-fold scores the calibration is fitted on as in
    prediction): on CAWa one model's pooled held-out ECE moved 0.038-0.054 with the seed alone, so a
    bag makes the probabilities (and the figure) depend less on the seed. After ``fit``: ``oof_proba_`` (calibrated out-of-fold probabilities
    per checkpoint) and ``oof_index_`` (field_id, season, label code, kept) for held-out metrics.
    ``prior_adaptation="em"`` adapts the probabilities of the rows scored together to their own class mix
    (label shift, :func:`features._calibration.adapt_prior`; ``train_prior_`` the training prior) — for a model
    applied to a new region whose crop mix differs from the training regions'; ``"none"`` (default) leaves each
    row's probabilities independent of the others. On CAWa (leave-one-region-out) it failed — accuracy 0.740 ->
    0.401, ECE 0.051 -> 0.297 —: its regions differ in how crops look, not only in their mix.
    """

    #: P(declared i | crop j) counted on every past declaration (None: saved before it, or no transition)
    declaration_transition_: list[list[float]] | None = None
    #: season scales given by :meth:`with_season_scales` (None: estimated from the fields each predict is given)
    season_scales_: dict[str, float] | None = None
    #: region → phenology calibration of the training seasons' records (features/_crop_persist.py; None: none)
    phenology_calibration_: dict[str, Any] | None = None
    #: region → early-warning thresholds tuned on the training seasons' diaries (:mod:`pipelines._alert_fit`)
    alert_params_: dict[str, dict[str, Any]] | None = None

    def __init__(
        self,
        checkpoints: Sequence[int | str] = DEFAULT_CHECKPOINTS,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        min_child_samples: int = 10,
        feature_fraction: float = 0.5,
        bagging_fraction: float = 0.5,
        lambda_l2: float = 5.0,
        extra_trees: bool = True,
        max_bin: int = 63,
        period_days: int = 16,
        derivatives: bool = False,
        raw_metrics: bool = True,
        season_days: int | None = None,
        variables: Sequence[str] | None = None,
        context: Sequence[str] = ("region",),
        calibration: str = "temperature",
        calibration_folds: int = 3,
        calibration_groups: str = "season",
        calibration_loss: str = "brier",
        min_class_count: int = 5,
        clean_labels: float = 0.0,
        augment_gaps: float = 0.0,
        seed: int = 0,
        n_seeds: int = 1,
        label_noise: float | str = 0.0,
        prior_adaptation: str = "none",
        num_threads: int = 1,
    ) -> None:
        self.checkpoints = checkpoints
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.extra_trees = extra_trees
        self.max_bin = max_bin
        self.period_days = period_days
        self.derivatives = derivatives
        self.raw_metrics = raw_metrics
        self.season_days = season_days
        self.variables = variables
        self.context = context
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.calibration_groups = calibration_groups
        self.calibration_loss = calibration_loss
        self.min_class_count = min_class_count
        self.clean_labels = clean_labels
        self.augment_gaps = augment_gaps
        self.seed = seed
        self.n_seeds = n_seeds
        self.label_noise = label_noise
        self.prior_adaptation = prior_adaptation
        self.num_threads = num_threads

    # ---------------------------------------------------------------- config helpers
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly)."""
        out = {k: getattr(self, k) for k in inspect.signature(CropTypeClassifier.__init__).parameters if k != "self"}
        out["checkpoints"] = [c if c == "end" else int(c) for c in self.checkpoints]
        out["variables"] = None if self.variables is None else list(self.variables)
        out["context"] = list(self.context)
        return out

    # ---------------------------------------------------------------- fit
    def fit(self, series: pd.DataFrame, labels: pd.DataFrame, *, label_column: str = "declared_crop",
            feature_cache: FeatureCache | None = None) -> CropTypeClassifier:
        """Fit one calibrated model per checkpoint on ``labels[label_column]`` (declared crops).

        ``labels``: field_id, season, the label column, the context columns, and either
        ``region`` (season windows from the region table) or ``season_start``. ``feature_cache``
        (one per ``series`` table) lets several fits on overlapping rows compute each row's
        features once (evaluation: leave-one-season-out); the fitted models are the same.
        """
        import lightgbm as lgb

        ckpts = checked_checkpoints(self)
        missing = [c for c in ("field_id", "season", label_column, *self.context) if c not in labels.columns]
        if missing:
            raise UserInputError(f"crop type labels: missing columns {format_offenders(missing)}")
        lab = labels.loc[labels[label_column].notna()].copy()
        lab[label_column] = lab[label_column].astype(str)
        counts = lab[label_column].value_counts()
        keep = sorted(counts.index[counts >= self.min_class_count])
        if len(keep) < 2:
            raise UserInputError(f"crop type labels: expected at least 2 classes with >= {self.min_class_count} "
                                 f"samples, found {len(keep)}")
        lab = lab.loc[lab[label_column].isin(keep)].reset_index(drop=True)
        win = field_windows(lab, season_days=self.season_days)
        length = (win["end"] - win["start"]).dt.days.to_numpy() + 1
        self.n_periods_ = int(math.ceil(length.max() / self.period_days))
        if self.variables is None:
            present = set(series["variable"].astype(str).unique())
            self.variables_ = [v for v in ("NDVI", "EVI", "NDRE", "NDWI", "NDMI") if v in present] or ["NDVI"]
        else:
            self.variables_ = list(self.variables)
        self.context_ = list(self.context)
        self.classes_ = list(keep)
        self.categories_ = {c: sorted({str(v) for v in lab[c].dropna()}) for c in self.context_}
        self.feature_names_in_ = feature_names(self.variables_, self.n_periods_, derivatives=self.derivatives,
                                               raw_metrics=self.raw_metrics) + self.context_
        self.checkpoints_ = ckpts
        self.n_features_in_ = len(self.feature_names_in_)
        y = pd.Categorical(lab[label_column], categories=self.classes_).codes.astype(int)
        gcol = self.calibration_groups
        if gcol not in lab.columns:
            raise UserInputError(f"crop type labels: calibration_groups column {gcol!r} missing")
        groups = lab[gcol].astype(str).to_numpy()
        folds = group_folds(groups, lab["field_id"].astype(str).to_numpy(), self.calibration_folds, self.seed)
        self._folds_of = folds
        params = [lgb_params(self, len(self.classes_), j) for j in range(int(self.n_seeds))]
        cat_idx = [self.feature_names_in_.index(c) for c in self.context_]
        self.boosters_: dict[str, list[Any]] = {}
        self.temperatures_: dict[str, float] = {}
        self.biases_: dict[str, list[float]] = {}
        self.oof_ece_: dict[str, dict[str, float]] = {}
        cache = feature_cache if feature_cache is not None else FeatureCache()
        mats = {c: self._matrix(self._fit_features(series, lab, c, cache)) for c in ckpts}
        keep_rows = np.ones(len(y), dtype=bool)
        if self.clean_labels > 0 and folds.max() > 0:
            # noise-robust training: drop labels the out-of-fold model (latest checkpoint) strongly contradicts
            oof = softmax(oof_raw_scores(mats[ckpts[-1]], y, folds, keep_rows, len(self.classes_), params,
                                         cat_idx, self.n_estimators, workers=None))
            keep_rows = oof[np.arange(len(y)), y] >= self.clean_labels
        self.n_dropped_labels_ = int((~keep_rows).sum())
        #: class frequencies of the rows the calibration is fitted on: the prior its probabilities assume
        self.train_prior_ = (np.bincount(y[keep_rows], minlength=len(self.classes_)) / max(1, int(keep_rows.sum()))
                             ).tolist()
        #: share of wrong training labels assumed when mapping calibrated probabilities to the true crop
        self.label_noise_ = (float((~keep_rows).mean()) if self.label_noise == "dropped" else
                             0.0 if self.label_noise == "transition" else float(self.label_noise))
        #: out-of-fold (whole groups held out) calibrated probabilities of every label row, per checkpoint
        self.oof_proba_: dict[str, np.ndarray] = {}
        self.oof_index_ = pd.DataFrame({"field_id": lab["field_id"].astype("str"), "season": lab["season"].astype("str"),
                                        "label": y, "kept": keep_rows})
        self.noise_transition_: list[list[float]] | None = None
        self.declaration_transition_: list[list[float]] | None = None
        if self.calibration != "none" and folds.max() > 0 and not keep_rows.any():
            # it failed inside the calibration ("expected scores (n, k) and n labels, found (0, 3)")
            raise UserInputError(f"crop type labels: {len(lab)} labelled field-season(s) are too few to train and "
                                 "calibrate a model (none is left once the labels are cleaned)")
        aug = gap_copies(self, series, lab, keep_rows, label_column, ckpts, cache)
        oofs: dict[str, np.ndarray] = {}
        ok = keep_rows

        def fit_checkpoint(c: int | str) -> tuple[float, list[float] | None, np.ndarray | None, list[Any]]:
            """One checkpoint's calibration (on its out-of-fold scores) and final bag: independent of the others."""
            X = mats[c]
            extra = None if aug is None else (aug[0][c], aug[1], aug[2])
            t, bias, oof = 1.0, None, None
            if self.calibration != "none" and folds.max() > 0:
                oof = oof_raw_scores(X, y, folds, keep_rows, len(self.classes_), params, cat_idx,
                                     self.n_estimators, extra)
                t, bias = fit_calibration(oof[ok], y[ok], groups[ok], self.calibration, self.calibration_loss)
            Xf, yf = X[keep_rows], y[keep_rows]
            if extra is not None:
                Xf, yf = np.vstack([Xf, extra[0]]), np.concatenate([yf, extra[1]])
            return t, bias, oof, [lgb.train(pj, lgb.Dataset(Xf, yf, categorical_feature=cat_idx),
                                            num_boost_round=self.n_estimators) for pj in params]

        # the checkpoints train side by side on threads (features/threads.py); results kept in checkpoint order
        for c, (t, bias, scores, bag) in zip(ckpts, thread_map(fit_checkpoint, ckpts)):
            name = checkpoint_key(c)
            if bias is not None:
                self.biases_[name] = bias
            if scores is not None:
                oofs[name] = scores
            self.temperatures_[name] = t
            self.boosters_[name] = bag
        fit_noise_state(self, oofs, y, ok)
        return self

    # ---------------------------------------------------------------- predict
    def predict_proba(self, X: pd.DataFrame, *, checkpoint: int | str = "end") -> np.ndarray:
        """Calibrated class probabilities (n, len(classes_)) from a feature frame (``prior_adaptation="em"``:
        adapted to the class prior of the rows given, :meth:`adapted`)."""
        name, raw = self._checked_raw(X, checkpoint)
        return self.adapted(self._calibrated(raw, name)) if len(raw) else raw

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities of a feature frame as a table (the model's ``mlflow.pyfunc`` face): per row
        ``checkpoint`` (the frame's ``checkpoint`` column, default the latest), ``crop_type``, ``crop_type_prob``,
        ``prob_<crop>`` — calibrated as trained, without a season scale (:func:`features._crop_registry.predict_frame`)."""
        from features._crop_registry import predict_frame

        return predict_frame(self, X)

    def adapted(self, probs: np.ndarray) -> np.ndarray:
        """``probs`` of a batch scored together adapted to the batch's own class prior
        (:func:`features._calibration.adapt_prior`, from the training prior ``train_prior_``) when
        ``prior_adaptation="em"`` — each row then depends on the batch's class mix, which is the point for a new
        region; unchanged otherwise (and for models saved before it)."""
        prior = getattr(self, "train_prior_", None)
        if self.prior_adaptation != "em" or prior is None or len(probs) == 0:
            return probs
        return adapt_prior(probs, np.asarray(prior, dtype="float64"))[0]

    def _checked_raw(self, X: pd.DataFrame, checkpoint: int | str) -> tuple[str, np.ndarray]:
        """The checkpoint's key and the raw scores of a feature frame (checked: fitted, columns, checkpoint)."""
        self._check_fitted()
        if not isinstance(X, pd.DataFrame):
            raise UserInputError(f"crop type: expected a DataFrame of features, found {type(X).__name__}")
        check_feature_names(self.feature_names_in_, X, KEY_COLUMNS)
        name = checkpoint_key(checkpoint)
        if name not in self.boosters_:
            raise UserInputError(f"crop type: no model for checkpoint {checkpoint!r} "
                                 f"(have {', '.join(self.boosters_)})")
        if len(X) == 0:
            return name, np.zeros((0, len(self.classes_)))
        return name, self._raw_scores(self._matrix(X), name)

    def _raw_scores(self, M: np.ndarray, name: str) -> np.ndarray:
        """Raw multiclass scores of a feature matrix: the mean over the checkpoint's bag of boosters."""
        bag = self.boosters_[name]
        # num_threads on every call (see features/threads.py: a call without it resets LightGBM's process-wide count)
        raw = sum(np.asarray(b.predict(M, raw_score=True, num_threads=self.num_threads)).reshape(len(M), -1)
                  for b in bag)
        return np.asarray(raw) / len(bag)

    def _calibrated(self, raw: np.ndarray, name: str, temperature: float | None = None) -> np.ndarray:
        """``softmax(raw / T + bias)`` with the checkpoint's temperature and (vector scaling) biases, then
        :func:`features._calibration.remove_noise_transition` with ``noise_transition_`` (when set), else
        :func:`features._calibration.remove_label_noise` with ``label_noise_`` (when > 0)."""
        t = self.temperatures_[name] if temperature is None else temperature
        bias = self.biases_.get(name)
        p = softmax(raw / t + (np.asarray(bias) if bias else 0.0))
        trans = getattr(self, "noise_transition_", None)
        if trans is not None:
            return remove_noise_transition(p, np.asarray(trans))
        eta = getattr(self, "label_noise_", 0.0)
        return remove_label_noise(p, eta) if eta > 0 else p

    def checkpoint_for(self, fields: pd.DataFrame, as_of: Any = None) -> list[int | str | None]:
        """Latest checkpoint not after ``as_of`` for each field (``None``: too early for any)."""
        self._check_fitted()
        win = field_windows(fields, season_days=self.season_days)
        if as_of is None:
            return ["end"] * len(win)
        ts = pd.Timestamp(as_of)
        days = [int(c) for c in self.checkpoints_ if c != "end"]
        out: list[int | str | None] = []
        for start, end in zip(win["start"], win["end"]):
            if ts >= end and "end" in self.checkpoints_:
                out.append("end")
                continue
            elapsed = (ts - start).days
            ok = [d for d in days if d <= elapsed]
            out.append(max(ok) if ok else None)
        return out

    def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None, *,
                season_scales: dict[str, float] | None = None,
                feature_memo: Callable[[tuple[Any, ...], Callable[[], pd.DataFrame]], pd.DataFrame] | None = None
                ) -> pd.DataFrame:
        """Per field-season: crop_type, crop_type_prob, prob_<crop> for every class, declared_crop_prob,
        crop_season_scale.

        ``declared_crop_prob`` is the probability that the declared crop is the one planted given the imagery
        and the declaration (:func:`features._declared.declared_posterior` with ``noise_transition_``; the
        imagery's probability of that crop for a model without a transition, or saved before this meaning —
        ``declared_prob_`` says which); 0 for a crop the model does not know, NaN when nothing is declared.

        Season calibration (:mod:`features._season_calib`): each season, region and checkpoint's temperature is
        the model's × ``crop_season_scale``, estimated from the declared crops of the fields given (a sample of
        at most 5,000; fewer than 50 declared: 1, the model as trained), or taken from ``season_scales`` /
        :meth:`with_season_scales` (keys ``season|region|checkpoint``, e.g. computed once by
        :meth:`season_scales` over a whole season scored in blocks). Models without season calibration (saved
        before it, or vector-scaled) use 1.

        ``prior_adaptation="em"`` (a model for unseen regions): the probabilities of the fields scored at each
        checkpoint are then adapted to those fields' own class mix (:meth:`adapted`) — give it the fields of
        one region together.

        ``fields``: field_id, season, context columns, region or season_start, optional declared_crop.
        ``as_of=None`` means end of season. Fields too early for any checkpoint get NaN.

        ``feature_memo(key, compute)``: gives the feature frame of ``key`` — ``compute()``, or a copy of what it gave
        before for the same key and the same ``series`` and ``fields`` (the caller's part of the key: e.g.
        :func:`pipelines.featurize.featurize`'s ``shared`` builds, where two models of the same feature settings
        score the same fields). The key holds everything of this model the features depend on (its feature
        settings, the checkpoint, the as-of date, the rows scored), never its boosters.
        """
        self._check_fitted()
        f = fields.drop_duplicates(["field_id", "season"]).reset_index(drop=True)
        win = field_windows(f, season_days=self.season_days)
        ck = self.checkpoint_for(f, as_of)
        di = _cs.declared_index(self, f)
        preset = season_scales if season_scales is not None else getattr(self, "season_scales_", None)
        probs = np.full((len(f), len(self.classes_)), np.nan)
        scale = np.ones(len(f))
        for rows, sub, name, raw in self._raw_by_checkpoint(series, f, as_of, ck, feature_memo):
            probs[rows], scale[rows] = _cs.season_probs(self, raw, sub, di[rows], name, preset)
            probs[rows] = self.adapted(probs[rows])
        out = pd.DataFrame({"field_id": win["field_id"], "season": win["season"]})
        out["as_of"] = pd.Timestamp(as_of) if as_of is not None else win["end"]
        out["checkpoint"] = pd.Series([None if c is None else str(c) for c in ck], dtype="str")
        has = np.isfinite(probs).all(axis=1)
        top = np.argmax(np.where(np.isfinite(probs), probs, -1.0), axis=1)
        out["crop_type"] = pd.Series([self.classes_[t] if h else None for t, h in zip(top, has)], dtype="str")
        out["crop_type_prob"] = np.where(has, probs[np.arange(len(f)), top], np.nan)
        for j, c in enumerate(self.classes_):
            out[f"prob_{c}"] = probs[:, j]
        out["declared_crop_prob"] = declared_posterior(probs, di, self.declared_transition())
        out["crop_season_scale"] = np.where(has, scale, np.nan)
        return out

    def declared_transition(self) -> np.ndarray | None:
        """The ``T`` of ``declared_crop_prob`` (:func:`features._declared.declared_posterior`): the declarations'
        own transition; for a model saved before it, its cleaned labels' (as it was scored); None for a model
        saved before the posterior (the imagery's probability, as it was scored)."""
        if getattr(self, "declared_prob_", "imagery") != "posterior":
            return None
        trans = getattr(self, "declaration_transition_", None) or getattr(self, "noise_transition_", None)
        return None if trans is None else np.asarray(trans, dtype="float64")

    def _raw_by_checkpoint(self, series: pd.DataFrame, f: pd.DataFrame, as_of: Any, ck: list[int | str | None],
                           feature_memo: Callable[[tuple[Any, ...], Callable[[], pd.DataFrame]], pd.DataFrame]
                           | None = None) -> Iterator[tuple[np.ndarray, pd.DataFrame, str, np.ndarray]]:
        """Per checkpoint in use (``ck``: each row's): its rows of ``f``, those rows, the checkpoint's key and their
        raw scores on features cut at the checkpoint (through ``feature_memo``, see :meth:`predict`)."""
        for c in self.checkpoints_:
            rows = np.flatnonzero([x == c for x in ck])
            if len(rows) == 0:
                continue
            sub = f.iloc[rows].reset_index(drop=True)

            def compute(sub: pd.DataFrame = sub, c: int | str = c) -> pd.DataFrame:
                return self.features(series, sub, checkpoint=c, as_of=as_of)

            if feature_memo is None:
                feats = compute()
            else:
                key = ("crop-type features", self.period_days, self.n_periods_, tuple(self.variables_),
                       self.derivatives, self.raw_metrics, self.season_days, tuple(self.context_), checkpoint_key(c),
                       None if as_of is None else pd.Timestamp(as_of).isoformat(), tuple(int(r) for r in rows))
                feats = feature_memo(key, compute)
            name, raw = self._checked_raw(self._aligned(feats, sub), c)
            yield rows, sub, name, raw

    # ---------------------------------------------------------------- persistence (features/_crop_persist.py)
    def metadata(self) -> dict[str, Any]:
        """What :meth:`save` writes to ``meta.json`` (also the MLflow params/tags to log)."""
        self._check_fitted()
        return model_metadata(self, FORMAT_VERSION)

    def save(self, path: str | Path) -> Path:
        """Write a folder: ``meta.json`` + one LightGBM text model per checkpoint (and bag member)."""
        return write_model(self.metadata(), self.boosters_, path)

    @classmethod
    def load(cls, path: str | Path) -> CropTypeClassifier:
        """Read a folder written by :meth:`save`."""
        meta, boosters = read_model(path, FORMAT_VERSION)
        self = cls(**dict(meta["params"]))
        restore_state(self, meta)
        self.boosters_ = boosters
        return self
