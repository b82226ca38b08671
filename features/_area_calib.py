"""Calibrating the planted-area rules per region on PAST seasons, from what a bank has — never truth.

The thresholds of :class:`features.area.AreaParams` separate cropped pixels from the rest by the
seasonal NDVI maximum and amplitude (maximum − 10th percentile). Over the fully covered pixels of
a region's fields in past seasons both are bimodal (bare or fallow ≈ 0.05–0.25 of amplitude, a
crop ≈ 0.4–0.7), whatever the crops: the valley between the modes, found by Otsu's method, is
where the rules put their ramps. The fit uses only the past seasons' pixel statistics (the
imagery) — not the farmers' declarations (over-declared in a share of fields) and never truth.
A histogram that is not clearly bimodal (between-class variance under ``MIN_SEPARATION`` of the
total) keeps the defaults.

:func:`calibrate_area` gathers the samples with :func:`features.area_scenes.pixel_samples`;
:func:`fit_area_params` fits from any sample table; :func:`params_to_json` /
:func:`params_from_json` keep the result as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from features.area import AreaParams
from features.errors import UserInputError

__all__ = ["MIN_SEPARATION", "otsu", "fit_area_params", "calibrate_area", "params_to_json", "params_from_json"]

#: between-class share of the variance under which a histogram is not called bimodal
MIN_SEPARATION = 0.5
#: bounds of the fitted thresholds (outside them the imagery is not what the rules expect)
_AMP_BOUNDS = (0.12, 0.45)
_MAX_BOUNDS = (0.30, 0.65)
_HALF_RAMP_AMP = 0.075
_MIN_SAMPLES = 200


def otsu(values: np.ndarray, bins: int = 128) -> tuple[float, float]:
    """Otsu's threshold of ``values`` and the between-class share of the variance (0..1) it explains."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or float(v.max() - v.min()) == 0.0:
        return float("nan"), 0.0
    hist, edges = np.histogram(v, bins=bins)
    mids = (edges[:-1] + edges[1:]) / 2
    w = hist.astype(np.float64) / hist.sum()
    w0 = np.cumsum(w)
    m0 = np.cumsum(w * mids)
    mt = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.where((w0 > 0) & (w1 > 0), (mt * w0 - m0) ** 2 / (w0 * w1), 0.0)
    best = float(between.max())
    ks = np.flatnonzero(between >= best * (1 - 1e-9))  # a gap of empty bins is a plateau: take its middle
    k_lo, k_hi = int(ks[0]), int(ks[-1])
    total = float(np.var(v))
    return float((edges[k_lo + 1] + edges[k_hi + 1]) / 2), best / total if total > 0 else 0.0


def fit_area_params(samples: pd.DataFrame, base: AreaParams | None = None) -> AreaParams:
    """Thresholds fitted on per-pixel samples (columns ndvi_max, ndvi_min; ndwi_med optional).

    Water (median NDWI above the base threshold) and permanent vegetation (green at the seasonal minimum) are left
    out first. Raises UserInputError when there are fewer than 200 usable samples.
    """
    p = base or AreaParams()
    missing = [c for c in ("ndvi_max", "ndvi_min") if c not in samples.columns]
    if missing:
        raise UserInputError(f"area calibration samples: columns {missing} missing (expected ndvi_max, ndvi_min)")
    mx = samples["ndvi_max"].to_numpy(dtype=np.float64)
    mn = samples["ndvi_min"].to_numpy(dtype=np.float64)
    keep = np.isfinite(mx) & np.isfinite(mn) & (mn < p.tree_min_ndvi)
    if "ndwi_med" in samples.columns:
        keep &= ~(np.nan_to_num(samples["ndwi_med"].to_numpy(dtype=np.float64), nan=-1.0) > p.water_ndwi)
    if int(keep.sum()) < _MIN_SAMPLES:
        raise UserInputError(f"area calibration: expected at least {_MIN_SAMPLES} clear field pixels of past seasons, "
                             f"found {int(keep.sum())}")
    amp = mx[keep] - mn[keep]
    changes: dict[str, Any] = {}
    t_amp, sep_amp = otsu(amp)
    if sep_amp >= MIN_SEPARATION and _AMP_BOUNDS[0] <= t_amp <= _AMP_BOUNDS[1]:
        changes.update(amp_lo=round(t_amp - _HALF_RAMP_AMP, 4), amp_hi=round(t_amp + _HALF_RAMP_AMP, 4))
    t_max, sep_max = otsu(mx[keep])
    if sep_max >= MIN_SEPARATION and _MAX_BOUNDS[0] <= t_max <= _MAX_BOUNDS[1]:
        changes["crop_min_ndvi"] = round(t_max, 4)
    return dataclasses.replace(p, **changes)


def calibrate_area(fields: gpd.GeoDataFrame, imagery: str | Path, seasons: Sequence[str], *,
                   region: str | None = None, cache_dir: Path | None = None, base: AreaParams | None = None,
                   max_pixels_per_season: int = 100_000, seed: int = 0) -> AreaParams:
    """Fit the planted-area thresholds on the given PAST ``seasons`` of ``fields`` (Fields contract, several seasons).

    Each season is sampled at the end of its imagery window (for the fields' region, or ``region``). Imagery without
    pixels (a series table) cannot be calibrated on: the base parameters are returned unchanged.
    """
    from features.area_scenes import pixel_samples
    from features.series import season_window

    if not seasons:
        raise UserInputError("area calibration: no past season given (expected at least one)")
    parts = []
    for s in seasons:
        fs = fields[fields["season"].astype(str) == str(s)]
        if fs.empty:
            continue
        reg = region
        if reg is None and "region" in fs.columns and fs["region"].notna().any():
            reg = str(fs["region"].dropna().iloc[0])
        end: dt.date = season_window(str(s), reg)[1]
        parts.append(pixel_samples(fs, imagery, str(s), end, cache_dir=cache_dir,
                                   max_pixels=max_pixels_per_season, seed=seed))
    samples = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if samples.empty:
        return base or AreaParams()
    return fit_area_params(samples, base)


def params_to_json(params: AreaParams) -> str:
    """The parameters as a JSON object (sorted keys)."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True)


def params_from_json(text: str) -> AreaParams:
    """Parameters from :func:`params_to_json` output; unknown keys are a UserInputError naming them."""
    d = json.loads(text)
    names = {f.name for f in dataclasses.fields(AreaParams)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise UserInputError(f"area parameters: unknown keys {unknown} (expected some of {sorted(names)})")
    return AreaParams(**d)
