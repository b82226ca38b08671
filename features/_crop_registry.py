"""What the model registry keeps of a crop-type classifier besides the model folder.

- :func:`predict_frame`: the classifier's face for ``mlflow.pyfunc`` — a feature frame in (the columns
  ``feature_names_in_`` names, optionally ``checkpoint``), class probabilities out. It scores the model as
  trained: no season scale (that needs the season's declarations, :meth:`CropTypeClassifier.predict`).
- :func:`registry_example`: a few training rows' features at the latest checkpoint and their prediction, from
  which MLflow infers the model's signature and which it keeps as the input example.
- :func:`diagnostic_plots`: PNGs for the registry run — feature importance, the reliability of the out-of-fold
  calibrated probabilities per checkpoint, and the out-of-fold confusion against the declared labels at the
  latest checkpoint (whole groups held out, so these are held-out pictures, against the farmers' labels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["diagnostic_plots", "predict_frame", "registry_example"]


def _checkpoint_of(model: Any, value: Any) -> int | str:
    """A checkpoint of the model from a frame's ``checkpoint`` value (``end``, ``d120``, ``120``)."""
    from features.crop_type import checkpoint_key

    text = str(value).strip()
    for c in model.checkpoints_:
        if text in (str(c), checkpoint_key(c)):
            return c  # type: ignore[no-any-return]
    names = ", ".join(str(c) for c in model.checkpoints_)
    raise UserInputError(f"crop type: checkpoint {text!r} is not one of this model's ({names})")


def predict_frame(model: Any, X: pd.DataFrame) -> pd.DataFrame:
    """Per row of ``X`` (the model's feature columns; ``checkpoint`` per row, default the latest): ``checkpoint``,
    ``crop_type``, ``crop_type_prob`` and ``prob_<crop>`` for every class — calibrated as trained (season scale 1)."""
    model._check_fitted()
    if not isinstance(X, pd.DataFrame):
        raise UserInputError(f"crop type: expected a DataFrame of features, found {type(X).__name__}")
    latest = model.checkpoints_[-1]
    cks = ([_checkpoint_of(model, v) for v in X["checkpoint"]] if "checkpoint" in X.columns
           else [latest] * len(X))
    feats = X.drop(columns=[c for c in ("checkpoint",) if c in X.columns]).reset_index(drop=True)
    probs = np.zeros((len(X), len(model.classes_)))
    for c in dict.fromkeys(cks):
        rows = np.flatnonzero([k == c for k in cks])
        probs[rows] = model.predict_proba(feats.iloc[rows], checkpoint=c)
    top = probs.argmax(axis=1) if len(X) else np.zeros(0, dtype=int)
    out = pd.DataFrame({"checkpoint": pd.Series([str(c) for c in cks], dtype="str"),
                        "crop_type": pd.Series([model.classes_[t] for t in top], dtype="str"),
                        "crop_type_prob": probs[np.arange(len(X)), top] if len(X) else np.zeros(0)})
    for j, c in enumerate(model.classes_):
        out[f"prob_{c}"] = probs[:, j]
    return out


def registry_example(model: Any, series: pd.DataFrame, labels: pd.DataFrame, n: int = 5
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(input example, output example): the features of the first ``n`` label rows at the latest checkpoint (feature
    columns and ``checkpoint`` only: no field or farmer key) and :func:`predict_frame` of them."""
    rows = labels.head(n).reset_index(drop=True)
    latest = model.checkpoints_[-1]
    X = model._aligned(model.features(series, rows, checkpoint=latest), rows)
    example = X[[*model.feature_names_in_]].assign(checkpoint=str(latest)).reset_index(drop=True)
    return example, predict_frame(model, example)


def diagnostic_plots(model: Any, out_dir: str | Path) -> dict[str, Path]:
    """``feature_importance.png``, ``reliability.png`` and ``confusion.png`` in ``out_dir`` (file name → path)."""
    from features._crop_reliability import reliability_table
    from features._plots import importance_png, pyplot, save_png
    from features.crop_type import checkpoint_key

    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    latest = checkpoint_key(model.checkpoints_[-1])

    gain = sum(np.asarray(b.feature_importance(importance_type="gain"), dtype="float64")
               for b in model.boosters_[latest])
    imp = pd.Series(gain / len(model.boosters_[latest]), index=model.feature_names_in_).sort_values().tail(20)
    paths["feature_importance.png"] = importance_png(plt, imp, f"total gain (checkpoint {latest}, mean over the bag)",
                                                     out / "feature_importance.png")

    idx = getattr(model, "oof_index_", None)
    oof = getattr(model, "oof_proba_", {}) or {}
    y = idx["label"].to_numpy() if idx is not None else np.zeros(0, dtype=int)
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in oof.items():
        ok = np.isfinite(p).all(axis=1)
        if ok.any():
            tab = reliability_table(p[ok], y[ok], n_bins=10)
            ax.plot([b["confidence"] for b in tab], [b["accuracy"] for b in tab], marker="o", label=f"{name} (n={ok.sum()})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("top-class probability (out of fold; calibrated on these rows)")
    ax.set_ylabel("share right (declared labels)")
    ax.set_title("Reliability")
    if oof:
        ax.legend(fontsize=7)
    paths["reliability.png"] = save_png(plt, fig, out / "reliability.png")

    k = len(model.classes_)
    counts = np.zeros((k, k))
    p = oof.get(latest)
    if p is not None:
        ok = np.isfinite(p).all(axis=1)
        np.add.at(counts, (y[ok], p[ok].argmax(axis=1)), 1.0)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    fig, ax = plt.subplots(figsize=(1.1 * k + 2, 1.0 * k + 1.5))
    ax.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), model.classes_, rotation=45, ha="right")
    ax.set_yticks(range(k), model.classes_)
    ax.set_xlabel(f"predicted (out of fold, {latest})")
    ax.set_ylabel("declared")
    ax.set_title("Confusion")
    paths["confusion.png"] = save_png(plt, fig, out / "confusion.png")
    return paths
