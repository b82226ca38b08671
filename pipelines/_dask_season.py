"""What a whole season decides for every spatial block of a distributed run — the crop model's season scales
(:func:`season_calibrated`) and the smoother's scene haze dates (:func:`season_haze`) — judged once on the driver
from samples of the fields (:func:`season_sample_ids`). Re-exported by :mod:`pipelines.distributed`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd

__all__ = ["season_calibrated", "season_haze", "season_sample_ids"]


def season_calibrated(crop_model: Any, fs: Any, as_of: dt.date,
                      series: pd.DataFrame | Callable[[Any], pd.DataFrame]) -> Any:
    """The crop model with the season scales of ALL of ``fs`` fixed (:meth:`CropTypeClassifier.with_season_scales`),
    so every block scores with the scales one call over the season would estimate; ``series``: the season's series,
    or a function building those of the fields it is given (only the sampled ones are needed). Models without
    season calibration, or whose scales are already fixed, are returned as they are."""
    if not _scales_to_estimate(crop_model):
        return crop_model
    plain = fs.drop(columns="geometry", errors="ignore")
    sample = crop_model.season_fields(plain, as_of)
    if sample.empty:
        return crop_model
    ser = series(sample) if callable(series) else series
    return crop_model.with_season_scales(crop_model.season_scales(ser, sample, as_of))


def _scales_to_estimate(crop_model: Any) -> bool:
    """Whether the crop model estimates season scales (season calibration, scales not fixed, e.g. pinned)."""
    return crop_model is not None and hasattr(crop_model, "season_fields") \
        and getattr(crop_model, "season_scales_", None) is None


def season_sample_ids(crop_model: Any, fs: Any, as_of: dt.date, featurize: Any, *, haze: bool = True) -> set[str]:
    """The fields whose series :func:`season_calibrated` and :func:`season_haze` read (a driver builds only theirs,
    once, for both; ``haze=False``: the haze is pinned, only the crop scales' sample)."""
    from pipelines.featurize import haze_sample_ids

    plain = fs.drop(columns="geometry", errors="ignore")
    ids = set(haze_sample_ids(plain)) if featurize is None and haze else set()
    if _scales_to_estimate(crop_model):
        ids |= set(crop_model.season_fields(plain, as_of)["field_id"].astype(str))
    return ids


def season_haze(fs: Any, as_of: dt.date, series: pd.DataFrame | Callable[[Any], pd.DataFrame],
                featurize: Any) -> dict[str, list[str]] | None:
    """The smoother's scene haze dates of ALL of ``fs`` (:func:`pipelines.featurize.haze_screen`, judged on its
    sample of fields), given to every block so each smooths as one call over the season would; ``series``: the
    season's series, or a function building those of the fields it is given (only the sampled ones are needed).
    None for a custom ``featurize`` (the production smoother is not run)."""
    if featurize is not None:
        return None
    from pipelines.featurize import haze_sample_ids, haze_screen

    plain = fs.drop(columns="geometry", errors="ignore")
    ids = haze_sample_ids(plain)
    sample = fs[fs["field_id"].astype(str).isin(ids)]
    ser = series(sample) if callable(series) else series[series["field_id"].astype(str).isin(ids)]
    return haze_screen(ser, plain, as_of)
