"""Season calibration of the crop-type classifier (:class:`features.crop_type.CropTypeClassifier` delegates here):
each season's probabilities scored with a temperature scaled by what the season's declarations say
(:mod:`features._season_calib`), estimated on a sample of the fields or given (``with_season_scales``, a pinned
scale). Functions of a fitted model (``model``), so the classifier module stays readable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features._season_calib import SCALE_BOUNDS, season_key, season_scale, season_temperature
from features.errors import UserInputError

__all__ = ["PINNED", "declared_index", "has_season_calibration", "estimate_scales", "pinned_season_scale", "predict_season_proba",
           "season_fields", "season_keys", "season_probs", "season_scales", "with_season_scales"]

#: key of a season-scale preset that applies to every season, region and checkpoint (:func:`pinned_season_scale`)
PINNED = "*"


def season_probs(model: Any, raw: np.ndarray, sub: pd.DataFrame, declared: np.ndarray, name: str,
                 preset: dict[str, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities of raw scores of one checkpoint with each row's season scale (``preset``, or
    estimated from the declarations of ``sub``'s rows), and those scales."""
    keys = season_keys(model, sub, name)
    est = preset if preset is not None else estimate_scales(
        model, raw, declared, sub["field_id"].astype(str).tolist(), keys, name)
    probs = np.zeros((len(raw), len(model.classes_)))
    scale = np.ones(len(raw))
    karr = np.asarray(keys)
    # a pinned scale (key "*", :meth:`pinned_season_scale`) holds where season calibration applies
    anyk = est.get(PINNED, 1.0) if name in getattr(model, "declared_temperatures_", {}) \
        and name not in model.biases_ else 1.0
    for k in sorted(set(keys)):
        at = np.flatnonzero(karr == k)
        scale[at] = float(est.get(k, anyk))
        probs[at] = model._calibrated(raw[at], name, model.temperatures_[name] * scale[at[0]])
    return probs, scale


def predict_season_proba(model: Any, X: pd.DataFrame, fields: pd.DataFrame, *, checkpoint: int | str = "end"
                         ) -> np.ndarray:
    """Of :meth:`features.crop_type.CropTypeClassifier.predict_season_proba`."""
    name, raw = model._checked_raw(X, checkpoint)
    if not len(raw):
        return raw
    f = fields.reset_index(drop=True)
    return season_probs(model, raw, f, declared_index(model, f), name, model.season_scales_)[0]


def declared_index(model: Any, f: pd.DataFrame) -> np.ndarray:
    """Class index of each row's declaration: -2 nothing declared, -1 a crop the model does not know."""
    idx = {c: j for j, c in enumerate(model.classes_)}
    dec = f["declared_crop"].astype(object) if "declared_crop" in f.columns else pd.Series([None] * len(f))
    return np.asarray([-2 if (d is None or (isinstance(d, float) and math.isnan(d))) else idx.get(str(d), -1)
                       for d in dec], dtype=np.int64)


def season_keys(model: Any, f: pd.DataFrame, name: str) -> list[str]:
    region = f["region"].astype(object) if "region" in f.columns else pd.Series([None] * len(f))
    return [season_key(s, None if r is None or (isinstance(r, float) and math.isnan(r)) else r, name)
            for s, r in zip(f["season"].astype(str), region, strict=True)]


def estimate_scales(model: Any, raw: np.ndarray, declared: np.ndarray, field_ids: list[str], keys: list[str],
                    name: str) -> dict[str, float]:
    """``season_key → T_s / T_all`` for each group of rows of one checkpoint (see :mod:`features._season_calib`)."""
    ref = getattr(model, "declared_temperatures_", {}).get(name)
    out: dict[str, float] = {}
    if ref is None or name in model.biases_:
        return out
    karr = np.asarray(keys)
    for k in sorted(set(keys)):
        at = np.flatnonzero(karr == k)
        t, _ = season_temperature(raw[at], declared[at], [field_ids[i] for i in at], loss=model.calibration_loss)
        sc = season_scale(t, ref)
        if sc is not None:
            out[k] = sc
    return out


def season_fields(model: Any, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
    """Of :meth:`features.crop_type.CropTypeClassifier.season_fields`."""
    from features._season_calib import season_sample
    from features.crop_type import checkpoint_key

    model._check_fitted()
    f = fields.drop_duplicates(["field_id", "season"]).reset_index(drop=True)
    ck = model.checkpoint_for(f, as_of)
    di = declared_index(model, f)
    pick: list[int] = []
    for c in model.checkpoints_:
        rows = np.flatnonzero([x == c for x in ck])
        name = checkpoint_key(c)
        if len(rows) == 0 or name not in getattr(model, "declared_temperatures_", {}) or name in model.biases_:
            continue
        keys = np.asarray(season_keys(model, f.iloc[rows], name))
        fids = f["field_id"].astype(str).to_numpy()[rows]
        for k in sorted(set(keys.tolist())):
            at = np.flatnonzero(keys == k)
            pick.extend(rows[at[season_sample(fids[at].tolist(), di[rows][at])]].tolist())
    return f.iloc[sorted(pick)].reset_index(drop=True)


def season_scales(model: Any, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> dict[str, float]:
    """Of :meth:`features.crop_type.CropTypeClassifier.season_scales`."""
    smp = model.season_fields(fields, as_of)
    if smp.empty:
        return {}
    di = declared_index(model, smp)
    out: dict[str, float] = {}
    for rows, sub, name, raw in model._raw_by_checkpoint(series, smp, as_of, model.checkpoint_for(smp, as_of)):
        out.update(estimate_scales(model, raw, di[rows], sub["field_id"].astype(str).tolist(),
                                         season_keys(model, sub, name), name))
    return out


def with_season_scales(model: Any, scales: dict[str, float]) -> Any:
    """Of :meth:`features.crop_type.CropTypeClassifier.with_season_scales`."""
    import copy

    clone = copy.copy(model)
    clone.season_scales_ = dict(scales)
    return clone


def has_season_calibration(model: Any) -> bool:
    """Whether a fitted model scores some checkpoint with a season scale (temperature-scaled, with the declared
    temperatures season calibration needs; a vector-scaled or older model has none)."""
    return any(c not in getattr(model, "biases_", {}) for c in getattr(model, "declared_temperatures_", {}))


def pinned_season_scale(model: Any, scale: float) -> Any:
    """Of :meth:`features.crop_type.CropTypeClassifier.pinned_season_scale`."""
    model._check_fitted()
    lo, hi = SCALE_BOUNDS
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or not lo <= scale <= hi:
        raise UserInputError(f"crop season scale: expected a number from {lo} to {hi} (as in a record's "
                             f"crop_season_scale), found {scale!r}")
    if not has_season_calibration(model):
        raise UserInputError("crop season scale: this crop-type model has no season calibration (trained before "
                             "it, or vector-scaled); it scores without a scale, so none can be pinned")
    return model.with_season_scales({PINNED: float(scale)})
