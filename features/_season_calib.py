"""Season calibration: the crop-type model's temperature adjusted to the season being scored, from the
season's own declarations.

A model calibrated on past seasons is calibrated for a season like them: in a season unlike them (Nebraska
2018, a hot one) it is over-confident, in an ordinary one slightly under-confident, and past seasons cannot
say which the new one is. The season's declared crops can: they are right for ≈ 95% of the fields, and the
calibrated probability ``softmax(raw / T)`` *is* the probability of the declared label. So, per season, region
and checkpoint, the temperature that best fits the season's declarations (``T_s``) against the one that best
fits the training seasons' declarations out of fold (``T_all``, every declared row as ``T_s`` uses them — the
model's own temperature is fitted on the labels the cleaning kept, a different target) measures the season's
shift, and the model's temperature is multiplied by ``T_s / T_all``. No truth is used: a bank has every
applicant's declaration for the season.

The fit reads a deterministic sample of at most :data:`SEASON_SAMPLE` declared fields (ordered by a hash of
the field id), so a season scored in blocks (Dask) gets the scale of one call when the driver computes it on the
sample once (:meth:`features.crop_type.CropTypeClassifier.season_scales`); fewer than
:data:`SEASON_MIN_FIELDS` declared fields, or a single declared crop, give no scale (the model's temperature as
trained); a scale is kept within :data:`SCALE_BOUNDS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from features._calibration import fit_temperature

__all__ = ["SEASON_SAMPLE", "SEASON_MIN_FIELDS", "SCALE_BOUNDS", "season_sample", "season_temperature", "season_scale",
           "season_key"]

#: at most this many declared fields per season, region and checkpoint are read for the season's temperature
SEASON_SAMPLE = 5000
#: fewer declared fields than this give no season scale
SEASON_MIN_FIELDS = 50
#: the season's scale is kept within these bounds (measured seasons: 0.5–1.8); a season declaring a single crop
#: gives none (its temperature is not identified: one class can always be made more certain)
SCALE_BOUNDS = (0.25, 4.0)


def season_key(season: object, region: object, checkpoint: str) -> str:
    """The key of a season scale: ``season|region|checkpoint`` (region empty when the fields have none)."""
    return f"{season}|{'' if region is None else region}|{checkpoint}"


def _rank(field_id: str) -> str:
    return hashlib.sha1(str(field_id).encode()).hexdigest()


def season_sample(field_ids: Sequence[str], declared: np.ndarray, n: int = SEASON_SAMPLE) -> np.ndarray:
    """Row positions of at most ``n`` rows with a declaration the model knows (``declared`` ≥ 0), the first by
    a hash of the field id (independent of the rows' order)."""
    rows = np.flatnonzero(np.asarray(declared) >= 0)
    order = sorted(rows.tolist(), key=lambda i: (_rank(field_ids[i]), str(field_ids[i])))
    return np.asarray(order[:n], dtype=int)


def season_temperature(raw: np.ndarray, declared: np.ndarray, field_ids: Sequence[str], *,
                       loss: str = "brier") -> tuple[float | None, int]:
    """The temperature best fitting the sampled rows' declarations (None when fewer than
    :data:`SEASON_MIN_FIELDS`) and the number of rows read."""
    rows = season_sample(field_ids, declared)
    if len(rows) < SEASON_MIN_FIELDS or len(np.unique(np.asarray(declared)[rows])) < 2:
        return None, int(len(rows))
    return fit_temperature(np.asarray(raw)[rows], np.asarray(declared)[rows], loss=loss), int(len(rows))


def season_scale(t_season: float | None, t_all: float) -> float | None:
    """``t_season / t_all`` within :data:`SCALE_BOUNDS` (None without a season temperature)."""
    if t_season is None:
        return None
    return float(np.clip(t_season / t_all, *SCALE_BOUNDS))
