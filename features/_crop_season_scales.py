"""Season calibration of :class:`features.crop_type.CropTypeClassifier` (a base of it, methods moved verbatim): the
methods that score with, estimate, give or pin the season scales, each a call of :mod:`features._crop_season`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import _crop_season as _cs

if TYPE_CHECKING:
    from features.crop_type import CropTypeClassifier


class CropTypeSeasonScales:
    """The season-calibration methods of :class:`~features.crop_type.CropTypeClassifier`."""

    # ---------------------------------------------------------------- season calibration (features/_crop_season.py)
    def predict_season_proba(self, X: pd.DataFrame, fields: pd.DataFrame, *, checkpoint: int | str = "end"
                             ) -> np.ndarray:
        """:meth:`predict_proba` with season calibration: ``fields`` (field_id, season, region, declared_crop;
        aligned with the rows of ``X``) give each row's season and the declarations its scale is estimated from
        (as :meth:`predict` does)."""
        return _cs.predict_season_proba(self, X, fields, checkpoint=checkpoint)

    def season_fields(self, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
        """The rows of ``fields`` whose declarations :meth:`predict` would read for the season scales (the
        sample of :func:`features._season_calib.season_sample` per season, region and checkpoint); empty for a
        model without season calibration."""
        return _cs.season_fields(self, fields, as_of)

    def season_scales(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> dict[str, float]:
        """The season scales :meth:`predict` would estimate on ``fields`` (``season|region|checkpoint`` → scale),
        computed on :meth:`season_fields` only (``series`` needs only theirs): once over a whole season, then
        given to every block (:meth:`with_season_scales`)."""
        return _cs.season_scales(self, series, fields, as_of)

    def with_season_scales(self, scales: dict[str, float]) -> CropTypeClassifier:
        """A copy that scores with these season scales instead of estimating them from the fields it is given
        (key ``season|region|checkpoint``; :data:`PINNED` for every key not listed; a key absent: 1)."""
        out: CropTypeClassifier = _cs.with_season_scales(self, scales)
        return out

    def pinned_season_scale(self, scale: float) -> CropTypeClassifier:
        """A copy scoring every season, region and season-calibrated checkpoint with ``scale`` (e.g. a
        ``crop_season_scale`` an earlier :meth:`predict` returned, to reproduce its probabilities after the season's
        fields have changed) instead of estimating it. A model without season calibration, or a scale outside
        :data:`features._season_calib.SCALE_BOUNDS`, is a :class:`UserInputError`."""
        out: CropTypeClassifier = _cs.pinned_season_scale(self, scale)
        return out
