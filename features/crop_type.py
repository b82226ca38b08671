"""Crop type: a calibrated, early-season LightGBM multiclass classifier on seasonal features.

One model per as-of checkpoint (days after the season start, plus ``"end"`` of season); a
prediction as of a date uses the latest checkpoint not after it, on features cut off at that
checkpoint, so mid-season probabilities are honest. Each model's probabilities are calibrated
by temperature scaling fitted on out-of-fold scores of the training (past) seasons.

Trained on DECLARED crops of past seasons (noisy, as real labels are). Saved as a folder of
LightGBM text models plus ``meta.json`` (no pickles): see :meth:`CropTypeClassifier.save`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features._calibration import expected_calibration_error, fit_temperature, softmax
from features._seasonal import feature_names, field_windows, seasonal_features
from features.errors import UserInputError, format_offenders

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "FORMAT_VERSION",
    "CropTypeClassifier",
    "expected_calibration_error",
]

#: day offsets after the season start (in-smallholder starts 15 May: 60…150 = mid-July…mid-October;
#: us-nebraska starts 15 September of S-1, so its summer crops need 240…330 = mid-May…mid-August)
DEFAULT_CHECKPOINTS: tuple[int | str, ...] = (60, 90, 120, 150, 240, 270, 300, 330, "end")
FORMAT_VERSION = "crop_type/1"
#: columns a feature frame may carry besides the features (ignored by predict_proba)
KEY_COLUMNS = ("field_id", "season", "as_of", "checkpoint", "declared_crop", "season_start", "season_end")


def _ckpt_name(c: int | str) -> str:
    return "end" if c == "end" else f"d{int(c):03d}"


class CropTypeClassifier:
    """Crop-type classifier in the scikit-learn style (``__init__`` stores config only).

    ``context`` names categorical columns of the fields table used as features (e.g. region);
    ``season_days`` gives the window length when fields carry ``season_start`` only.
    ``calibration_groups`` is the label column whose groups are kept whole in the out-of-fold
    scores the temperature is fitted on: ``season`` (past seasons predicting an unseen one), or
    ``region`` when the model will be applied to unseen regions.

    Defaults were chosen on the real CAWa data, leave-one-region-out (benchmarks/bench_cawa.py):
    extremely randomised, bagged trees with 63 leaves transfer best across regions, and
    per-period differences (``derivatives=True``) cost ~2 points of accuracy there, so they are
    off by default. ``num_threads=1``: on a busy 2-core machine 2 threads were 12x slower.
    """

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
        season_days: int | None = None,
        variables: Sequence[str] | None = None,
        context: Sequence[str] = ("region",),
        calibration: str = "temperature",
        calibration_folds: int = 3,
        calibration_groups: str = "season",
        calibration_loss: str = "brier",
        min_class_count: int = 5,
        seed: int = 0,
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
        self.season_days = season_days
        self.variables = variables
        self.context = context
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.calibration_groups = calibration_groups
        self.calibration_loss = calibration_loss
        self.min_class_count = min_class_count
        self.seed = seed
        self.num_threads = num_threads

    # ---------------------------------------------------------------- config helpers
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly)."""
        return {
            "checkpoints": [c if c == "end" else int(c) for c in self.checkpoints],
            "n_estimators": self.n_estimators, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction, "bagging_fraction": self.bagging_fraction,
            "lambda_l2": self.lambda_l2, "extra_trees": self.extra_trees, "max_bin": self.max_bin,
            "period_days": self.period_days, "derivatives": self.derivatives, "season_days": self.season_days,
            "variables": None if self.variables is None else list(self.variables),
            "context": list(self.context), "calibration": self.calibration,
            "calibration_folds": self.calibration_folds, "calibration_groups": self.calibration_groups,
            "calibration_loss": self.calibration_loss,
            "min_class_count": self.min_class_count,
            "seed": self.seed, "num_threads": self.num_threads,
        }

    def _ckpts(self) -> list[int | str]:
        bad = [c for c in self.checkpoints if c != "end" and not (isinstance(c, int | np.integer) and int(c) > 0)]
        if bad or not self.checkpoints:
            raise UserInputError(f"crop type: checkpoints must be positive day offsets or 'end', found {bad or '[]'}")
        if self.calibration not in ("temperature", "none"):
            raise UserInputError(f"crop type: calibration must be 'temperature' or 'none', found {self.calibration!r}")
        if self.calibration_loss not in ("brier", "nll", "ece"):
            raise UserInputError(f"crop type: calibration_loss must be 'brier', 'nll' or 'ece', "
                                 f"found {self.calibration_loss!r}")
        days = sorted({int(c) for c in self.checkpoints if c != "end"})
        return [*days, *(["end"] if "end" in self.checkpoints else [])]

    def _lgb_params(self, n_class: int) -> dict[str, Any]:
        return {
            "objective": "multiclass", "num_class": n_class, "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction, "lambda_l2": self.lambda_l2,
            "bagging_fraction": self.bagging_fraction, "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "extra_trees": self.extra_trees, "max_bin": self.max_bin, "extra_seed": self.seed,
            "seed": self.seed, "feature_fraction_seed": self.seed, "bagging_seed": self.seed,
            "data_random_seed": self.seed, "deterministic": True, "force_row_wise": True,
            "num_threads": self.num_threads, "verbose": -1, "max_cat_to_onehot": 8,
        }

    # ---------------------------------------------------------------- features
    def features(self, series: pd.DataFrame, fields: pd.DataFrame, *, checkpoint: int | str = "end",
                 as_of: Any = None) -> pd.DataFrame:
        """Feature frame (keys, seasonal features cut off at ``checkpoint``, context columns)."""
        if not hasattr(self, "n_periods_"):
            self._check_fitted()
        win = field_windows(fields, season_days=self.season_days)
        feats = seasonal_features(series, win, offset_days=None if checkpoint == "end" else int(checkpoint),
                                  as_of=as_of, period_days=self.period_days, n_periods=self.n_periods_,
                                  variables=self.variables_, derivatives=self.derivatives)
        ctx = [c for c in self.context_ if c in fields.columns]
        if ctx:
            extra = fields[["field_id", "season", *ctx]].astype({"field_id": str, "season": str})
            feats = feats.merge(extra.drop_duplicates(["field_id", "season"]), on=["field_id", "season"], how="left")
        return feats

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for name in self.feature_names_in_:
            if name in self.categories_:
                cats = {v: i for i, v in enumerate(self.categories_[name])}
                cols.append(np.array([cats.get(v, np.nan) if isinstance(v, str) else np.nan
                                      for v in X[name].astype(object)], dtype="float64"))
            else:
                cols.append(X[name].to_numpy(dtype="float64", na_value=np.nan))
        return np.column_stack(cols) if cols else np.zeros((len(X), 0))

    # ---------------------------------------------------------------- fit
    def fit(self, series: pd.DataFrame, labels: pd.DataFrame, *, label_column: str = "declared_crop"
            ) -> CropTypeClassifier:
        """Fit one calibrated model per checkpoint on ``labels[label_column]`` (declared crops).

        ``labels``: field_id, season, the label column, the context columns, and either
        ``region`` (season windows from the region table) or ``season_start``.
        """
        import lightgbm as lgb

        ckpts = self._ckpts()
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
        self.feature_names_in_ = feature_names(self.variables_, self.n_periods_, derivatives=self.derivatives) + self.context_
        self.checkpoints_ = ckpts
        self.n_features_in_ = len(self.feature_names_in_)
        y = pd.Categorical(lab[label_column], categories=self.classes_).codes.astype(int)
        gcol = self.calibration_groups
        if gcol not in lab.columns:
            raise UserInputError(f"crop type labels: calibration_groups column {gcol!r} missing")
        groups = lab[gcol].astype(str).to_numpy()
        folds = self._folds(groups, lab["field_id"].astype(str).to_numpy())
        params = self._lgb_params(len(self.classes_))
        cat_idx = [self.feature_names_in_.index(c) for c in self.context_]
        self.boosters_: dict[str, Any] = {}
        self.temperatures_: dict[str, float] = {}
        self.oof_ece_: dict[str, dict[str, float]] = {}
        for c in ckpts:
            X = self._matrix(self._aligned(self.features(series, lab, checkpoint=c), lab))
            name = _ckpt_name(c)
            if self.calibration == "temperature" and folds.max() > 0:
                oof = np.zeros((len(y), len(self.classes_)))
                for k in range(int(folds.max()) + 1):
                    tr, te = folds != k, folds == k
                    b = lgb.train(params, lgb.Dataset(X[tr], y[tr], categorical_feature=cat_idx, free_raw_data=True),
                                  num_boost_round=self.n_estimators)
                    oof[te] = b.predict(X[te], raw_score=True)
                t = fit_temperature(oof, y, loss=self.calibration_loss)
                self.oof_ece_[name] = {"raw": expected_calibration_error(softmax(oof), y),
                                       "calibrated": expected_calibration_error(softmax(oof, t), y)}
            else:
                t = 1.0
            self.temperatures_[name] = t
            self.boosters_[name] = lgb.train(params, lgb.Dataset(X, y, categorical_feature=cat_idx),
                                             num_boost_round=self.n_estimators)
        return self

    def _aligned(self, feats: pd.DataFrame, lab: pd.DataFrame) -> pd.DataFrame:
        keys = lab[["field_id", "season"]].astype({"field_id": str, "season": str})
        return keys.merge(feats, on=["field_id", "season"], how="left")

    def _folds(self, groups: np.ndarray, field_ids: np.ndarray) -> np.ndarray:
        """Out-of-fold assignment: whole groups (seasons, or regions) per fold; fields if one group."""
        k = max(int(self.calibration_folds), 0)
        uniq = sorted(set(groups))
        if k < 2:
            return np.zeros(len(groups), dtype=int)
        if len(uniq) >= 2:
            rank = {s: i % min(k, len(uniq)) for i, s in enumerate(uniq)}
            return np.array([rank[s] for s in groups], dtype=int)
        ids = sorted(set(field_ids))
        perm = np.random.default_rng(self.seed).permutation(len(ids))
        gfold = {g: int(perm[i]) % k for i, g in enumerate(ids)}
        return np.array([gfold[f] for f in field_ids], dtype=int)

    # ---------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise UserInputError("crop type: this classifier is not fitted yet; call fit() or load() first")

    def _check_feature_names(self, X: pd.DataFrame) -> None:
        have = [str(c) for c in X.columns]
        missing = [c for c in self.feature_names_in_ if c not in have]
        unseen = [c for c in have if c not in self.feature_names_in_ and c not in KEY_COLUMNS]
        parts = []
        if missing:
            parts.append(f"missing columns {format_offenders(missing)}")
        if unseen:
            parts.append(f"columns unseen at fit time {format_offenders(unseen)}")
        if parts:
            raise UserInputError(f"crop type features: expected the {self.n_features_in_} columns seen at fit; "
                                 + "; ".join(parts))

    def predict_proba(self, X: pd.DataFrame, *, checkpoint: int | str = "end") -> np.ndarray:
        """Calibrated class probabilities (n, len(classes_)) from a feature frame."""
        self._check_fitted()
        if not isinstance(X, pd.DataFrame):
            raise UserInputError(f"crop type: expected a DataFrame of features, found {type(X).__name__}")
        self._check_feature_names(X)
        name = _ckpt_name(checkpoint)
        if name not in self.boosters_:
            raise UserInputError(f"crop type: no model for checkpoint {checkpoint!r} "
                                 f"(have {', '.join(self.boosters_)})")
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)))
        raw = self.boosters_[name].predict(self._matrix(X), raw_score=True)
        return softmax(np.asarray(raw).reshape(len(X), -1), self.temperatures_[name])

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

    def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
        """Per field-season: crop_type, crop_type_prob, prob_<crop> for every class, declared_crop_prob.

        ``fields``: field_id, season, context columns, region or season_start, optional declared_crop.
        ``as_of=None`` means end of season. Fields too early for any checkpoint get NaN.
        """
        self._check_fitted()
        f = fields.drop_duplicates(["field_id", "season"]).reset_index(drop=True)
        win = field_windows(f, season_days=self.season_days)
        ck = self.checkpoint_for(f, as_of)
        probs = np.full((len(f), len(self.classes_)), np.nan)
        for c in self.checkpoints_:
            rows = np.flatnonzero([x == c for x in ck])
            if len(rows) == 0:
                continue
            sub = f.iloc[rows].reset_index(drop=True)
            X = self._aligned(self.features(series, sub, checkpoint=c, as_of=as_of), sub)
            probs[rows] = self.predict_proba(X, checkpoint=c)
        out = pd.DataFrame({"field_id": win["field_id"], "season": win["season"]})
        out["as_of"] = pd.Timestamp(as_of) if as_of is not None else win["end"]
        out["checkpoint"] = pd.Series([None if c is None else str(c) for c in ck], dtype="str")
        has = np.isfinite(probs).all(axis=1)
        top = np.argmax(np.where(np.isfinite(probs), probs, -1.0), axis=1)
        out["crop_type"] = pd.Series([self.classes_[t] if h else None for t, h in zip(top, has)], dtype="str")
        out["crop_type_prob"] = np.where(has, probs[np.arange(len(f)), top], np.nan)
        for j, c in enumerate(self.classes_):
            out[f"prob_{c}"] = probs[:, j]
        idx = {c: j for j, c in enumerate(self.classes_)}
        dec = f["declared_crop"].astype(object) if "declared_crop" in f.columns else pd.Series([None] * len(f))
        dp = [np.nan if (d is None or (isinstance(d, float) and math.isnan(d))) else
              (probs[i, idx[str(d)]] if str(d) in idx else (0.0 if has[i] else np.nan))
              for i, d in enumerate(dec)]
        out["declared_crop_prob"] = np.asarray(dp, dtype="float64")
        return out

    # ---------------------------------------------------------------- persistence
    def metadata(self) -> dict[str, Any]:
        """What :meth:`save` writes to ``meta.json`` (also the MLflow params/tags to log)."""
        self._check_fitted()
        return {
            "format": FORMAT_VERSION, "params": self.get_params(), "classes": self.classes_,
            "variables": self.variables_, "n_periods": self.n_periods_, "context": self.context_,
            "categories": self.categories_, "feature_names_in": self.feature_names_in_,
            "checkpoints": [c if c == "end" else int(c) for c in self.checkpoints_],
            "temperatures": self.temperatures_, "oof_ece": self.oof_ece_,
            "models": {n: f"model_{n}.txt" for n in self.boosters_},
        }

    def save(self, path: str | Path) -> Path:
        """Write a folder: ``meta.json`` + one LightGBM text model per checkpoint."""
        meta = self.metadata()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        for name, b in self.boosters_.items():
            (p / meta["models"][name]).write_text(b.model_to_string(num_iteration=-1), encoding="utf-8")
        (p / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> CropTypeClassifier:
        """Read a folder written by :meth:`save`."""
        import lightgbm as lgb

        p = Path(path)
        try:
            meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise UserInputError(f"crop type model {p}: expected a folder with meta.json, found {e}") from e
        if meta.get("format") != FORMAT_VERSION:
            raise UserInputError(f"crop type model {p}: expected format {FORMAT_VERSION}, found {meta.get('format')}")
        params = dict(meta["params"])
        self = cls(**params)
        self.classes_ = list(meta["classes"])
        self.variables_ = list(meta["variables"])
        self.n_periods_ = int(meta["n_periods"])
        self.context_ = list(meta["context"])
        self.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        self.feature_names_in_ = list(meta["feature_names_in"])
        self.n_features_in_ = len(self.feature_names_in_)
        self.checkpoints_ = list(meta["checkpoints"])
        self.temperatures_ = {k: float(v) for k, v in meta["temperatures"].items()}
        self.oof_ece_ = meta.get("oof_ece", {})
        self.boosters_ = {n: lgb.Booster(model_str=(p / f).read_text(encoding="utf-8"))
                          for n, f in meta["models"].items()}
        return self
