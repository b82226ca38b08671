"""Crop-type model folders: ``meta.json`` plus one LightGBM text model per checkpoint and bag member.

No pickles: :func:`model_metadata` is what ``meta.json`` holds (also the MLflow params/tags to log),
:func:`write_model` writes a folder, :func:`read_model` reads one back (meta and boosters) and
:func:`restore_state` puts the fitted attributes of ``meta.json`` on a fresh classifier. Keys added since
format ``crop_type/2`` began (``biases``, ``label_noise``, ``noise_transition``, ``bag_models``,
``declared_prob``, ``declared_temperatures``, ``declaration_transition``, ``phenology_calibration``,
``alert_params``) are optional,
so older folders still load and score as they did (uncorrected; the declared crop's probability from the imagery
alone; no season calibration; the declaration posterior with the cleaned labels' transition; uncalibrated
phenology). ``phenology_calibration`` (per region, :class:`features._phenology_calib.Calibration`) is fitted on the
same past seasons' records as the classifier and travels with it, so a model version fixes the phenology its
features were built with (:func:`pipelines.featurize.featurize` reads it from the crop-type model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from features.errors import UserInputError

__all__ = ["model_metadata", "read_model", "restore_state", "write_model"]


def model_metadata(clf: Any, format_version: str) -> dict[str, Any]:
    """The fitted state of a :class:`features.crop_type.CropTypeClassifier` as JSON-friendly metadata."""
    return {
        "format": format_version, "params": clf.get_params(), "classes": clf.classes_,
        "variables": clf.variables_, "n_periods": clf.n_periods_, "context": clf.context_,
        "categories": clf.categories_, "feature_names_in": clf.feature_names_in_,
        "checkpoints": [c if c == "end" else int(c) for c in clf.checkpoints_],
        "temperatures": clf.temperatures_, "biases": clf.biases_, "oof_ece": clf.oof_ece_,
        "n_dropped_labels": getattr(clf, "n_dropped_labels_", 0),
        "train_prior": getattr(clf, "train_prior_", None),
        "label_noise": getattr(clf, "label_noise_", 0.0),
        "noise_transition": getattr(clf, "noise_transition_", None),
        "declaration_transition": getattr(clf, "declaration_transition_", None),
        "declared_prob": getattr(clf, "declared_prob_", "imagery"),
        "declared_temperatures": getattr(clf, "declared_temperatures_", {}),
        "phenology_calibration": {r: json.loads(c.to_json())
                                  for r, c in sorted((getattr(clf, "phenology_calibration_", None) or {}).items())},
        "alert_params": {r: dict(sorted(v.items())) for r, v in sorted((getattr(clf, "alert_params_", None) or {}).items())},
        "models": {n: f"model_{n}.txt" for n in clf.boosters_},
        "bag_models": {n: [f"model_{n}_s{j}.txt" for j in range(1, len(bag))]
                       for n, bag in clf.boosters_.items() if len(bag) > 1},
    }


def write_model(meta: dict[str, Any], boosters: dict[str, list[Any]], path: str | Path) -> Path:
    """Write ``meta.json`` and every booster's text model into the folder ``path``."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    for name, bag in boosters.items():
        files = [meta["models"][name], *meta["bag_models"].get(name, [])]
        for f, b in zip(files, bag):
            (p / f).write_text(b.model_to_string(num_iteration=-1), encoding="utf-8")
    (p / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return p


def read_model(path: str | Path, format_version: str) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """``(meta, boosters)`` of a folder written by :func:`write_model` in format ``format_version``."""
    import lightgbm as lgb

    p = Path(path)
    try:
        meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserInputError(f"crop type model {p}: expected a folder with meta.json, found {e}") from e
    if meta.get("format") != format_version:
        raise UserInputError(f"crop type model {p}: expected format {format_version}, found {meta.get('format')}")
    bags = meta.get("bag_models", {})
    boosters = {n: [lgb.Booster(model_str=(p / g).read_text(encoding="utf-8")) for g in [f, *bags.get(n, [])]]
                for n, f in meta["models"].items()}
    return meta, boosters


def restore_state(clf: Any, meta: dict[str, Any]) -> None:
    """Set the fitted attributes (``classes_``, ``temperatures_``...) of ``meta`` on ``clf``."""
    clf.classes_ = list(meta["classes"])
    clf.variables_ = list(meta["variables"])
    clf.n_periods_ = int(meta["n_periods"])
    clf.context_ = list(meta["context"])
    clf.categories_ = {k: list(v) for k, v in meta["categories"].items()}
    clf.feature_names_in_ = list(meta["feature_names_in"])
    clf.n_features_in_ = len(clf.feature_names_in_)
    clf.checkpoints_ = list(meta["checkpoints"])
    clf.temperatures_ = {k: float(v) for k, v in meta["temperatures"].items()}
    clf.biases_ = {k: [float(x) for x in v] for k, v in meta.get("biases", {}).items()}
    clf.oof_ece_ = meta.get("oof_ece", {})
    clf.n_dropped_labels_ = int(meta.get("n_dropped_labels", 0))
    prior = meta.get("train_prior")  # folders written before prior adaptation: none (their probabilities as scored)
    clf.train_prior_ = None if prior is None else [float(x) for x in prior]
    clf.label_noise_ = float(meta.get("label_noise", 0.0))
    trans = meta.get("noise_transition")
    clf.noise_transition_ = None if trans is None else [[float(x) for x in row] for row in trans]
    dec = meta.get("declaration_transition")  # folders written before it: the posterior uses noise_transition
    clf.declaration_transition_ = None if dec is None else [[float(x) for x in row] for row in dec]
    # folders written before declared_crop_prob became the declaration posterior keep the imagery's probability
    clf.declared_prob_ = str(meta.get("declared_prob", "imagery"))
    # folders written before season calibration have none: they score with the temperatures as trained
    clf.declared_temperatures_ = {k: float(v) for k, v in meta.get("declared_temperatures", {}).items()}
    # folders written before the phenology calibration travelled with the model: uncalibrated phenology, as before
    from features._phenology_calib import Calibration

    clf.phenology_calibration_ = {str(r): Calibration.from_json(json.dumps(c), source="meta.json phenology_calibration")
                                  for r, c in meta.get("phenology_calibration", {}).items()}
    # folders written before the alert thresholds travelled with the model: the rules' defaults, as before
    clf.alert_params_ = {str(r): dict(v) for r, v in meta.get("alert_params", {}).items()}
