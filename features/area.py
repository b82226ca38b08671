"""Planted area: which part of each field is really cropped, from each pixel's seasonal trajectory.

"Planted area" is the cropped part of a field: bunds, tree lines, water, built-up
land and any unplanted part are excluded. It is measured, per field, as

    planted_area = Σ_i  c_i · p_i · A_pixel

over the pixels i touching the field, where ``c_i`` is the share of pixel i covered by
the field polygon (exact sub-pixel coverage by supersampled rasterisation, so border
pixels count by the share inside, not by the pixel-centre rule), and ``p_i`` the
probability that the pixel is cropped, from its trajectory over the season up to the
as-of date (not from one date):

* per pixel: robust seasonal maximum NDVI (90th percentile of clear observations),
  robust minimum (10th percentile), median NDWI;
* water: median NDWI above ``water_ndwi``; trees / permanent vegetation: green even
  at the seasonal minimum (``p10 NDVI >= tree_min_ndvi``) — both are *non-crop*;
* crop membership ``p`` is a soft ramp of the amplitude (max − min) between
  ``amp_lo`` and ``amp_hi`` and of the maximum above ``crop_min_ndvi``;
* border pixels (coverage < 1) mix the field with what lies outside, so their own
  trajectory is unreliable: they take the membership of the nearest interior pixel
  of the same field (the border correction).

The uncertainty (1 s.d.) combines the classification margin, Σ (c_i A)² p_i (1 − p_i),
and the border share, where the coverage of the polygon and the true planted edge
may disagree by up to half a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from affine import Affine
from rasterio import features as rio_features
from scipy import ndimage

__all__ = ["AreaParams", "PixelTrajectory", "pixel_trajectories", "field_coverage", "planted_area_from_stack"]


@dataclass(frozen=True)
class AreaParams:
    """Thresholds of the per-pixel trajectory rules (documented in the module docstring)."""

    crop_min_ndvi: float = 0.45
    amp_lo: float = 0.20
    amp_hi: float = 0.35
    tree_min_ndvi: float = 0.50
    water_ndwi: float = 0.05
    min_clear: int = 3
    supersample: int = 8


@dataclass
class PixelTrajectory:
    """Per-pixel seasonal summaries of a window (H, W arrays)."""

    ndvi_max: np.ndarray
    ndvi_min: np.ndarray
    ndwi_med: np.ndarray
    n_clear: np.ndarray


def pixel_trajectories(ndvi: np.ndarray, ndwi: np.ndarray | None = None) -> PixelTrajectory:
    """Summarise a (T, H, W) stack of NDVI (NaN where cloudy) into per-pixel seasonal metrics."""
    if ndvi.ndim != 3:
        raise ValueError(f"expected a (T, H, W) stack, found shape {ndvi.shape}")
    n_clear = np.isfinite(ndvi).sum(axis=0).astype(np.int32)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels give NaN, handled below
            hi = np.nanpercentile(ndvi, 90, axis=0) if ndvi.shape[0] else np.full(ndvi.shape[1:], np.nan)
            lo = np.nanpercentile(ndvi, 10, axis=0) if ndvi.shape[0] else np.full(ndvi.shape[1:], np.nan)
            wmed = (np.nanmedian(ndwi, axis=0) if ndwi is not None and ndwi.shape[0]
                    else np.full(ndvi.shape[1:], np.nan))
    return PixelTrajectory(hi.astype(np.float32), lo.astype(np.float32), np.asarray(wmed, dtype=np.float32), n_clear)


def field_coverage(geom, transform: Affine, shape: tuple[int, int], supersample: int = 8
                   ) -> tuple[slice, slice, np.ndarray]:
    """Share of each pixel of the geometry's bounding window covered by it, exact to 1/supersample².

    Returns (row slice, column slice, coverage array of the window); an empty window where the
    geometry misses the grid.
    """
    h, w = shape
    inv = ~transform
    minx, miny, maxx, maxy = geom.bounds
    cols, rows = zip(*(inv @ (x, y) for x, y in ((minx, miny), (maxx, maxy), (minx, maxy), (maxx, miny))))
    r0, r1 = max(0, int(np.floor(min(rows)))), min(h, int(np.ceil(max(rows))))
    c0, c1 = max(0, int(np.floor(min(cols)))), min(w, int(np.ceil(max(cols))))
    if r1 <= r0 or c1 <= c0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), dtype=np.float32)
    s = supersample
    win_t = transform @ Affine.translation(c0, r0) @ Affine.scale(1.0 / s)
    hh, ww = r1 - r0, c1 - c0
    m = rio_features.rasterize([(geom, 1)], out_shape=(hh * s, ww * s), transform=win_t, fill=0, dtype="uint8")
    return slice(r0, r1), slice(c0, c1), m.reshape(hh, s, ww, s).mean(axis=(1, 3), dtype=np.float32)


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _membership(traj: PixelTrajectory, p: AreaParams) -> tuple[np.ndarray, np.ndarray]:
    """(crop membership in [0, 1], non-crop mask) per pixel."""
    amp = traj.ndvi_max - traj.ndvi_min
    crop = _ramp(amp, p.amp_lo, p.amp_hi) * _ramp(traj.ndvi_max, p.crop_min_ndvi - 0.1, p.crop_min_ndvi + 0.1)
    water = np.nan_to_num(traj.ndwi_med, nan=-1.0) > p.water_ndwi
    trees = np.nan_to_num(traj.ndvi_min, nan=0.0) >= p.tree_min_ndvi
    noncrop = water | trees
    crop = np.where(noncrop, 0.0, np.nan_to_num(crop, nan=0.0))
    return crop.astype(np.float32), noncrop


def planted_area_from_stack(
    field_ids: list[str],
    geoms: list,
    transform: Affine,
    ndvi: np.ndarray,
    ndwi: np.ndarray | None = None,
    params: AreaParams | None = None,
) -> pd.DataFrame:
    """Planted area per field from a (T, H, W) NDVI stack of one window (fields in the stack's CRS).

    Returns field_id, field_px_area_ha (polygon area by coverage), planted_area_ha, planted_area_sd_ha,
    planted_fraction, noncrop_fraction, n_pixels_touched, min_clear_obs.
    """
    p = params or AreaParams()
    _, h, w = ndvi.shape
    pix_ha = abs(transform.a * transform.e) / 10_000.0
    traj = pixel_trajectories(ndvi, ndwi)
    member, noncrop = _membership(traj, p)
    rows = []
    for fid, geom in zip(field_ids, geoms, strict=True):
        rs, cs, c = field_coverage(geom, transform, (h, w), p.supersample)
        touched = c > 0
        if not touched.any():
            rows.append({"field_id": fid, "field_px_area_ha": 0.0, "planted_area_ha": np.nan, "planted_area_sd_ha": np.nan,
                         "planted_fraction": np.nan, "noncrop_fraction": np.nan, "n_pixels_touched": 0, "min_clear_obs": 0})
            continue
        nclear = traj.n_clear[rs, cs]
        interior = (c >= 0.999) & (nclear >= p.min_clear)
        m = member[rs, cs].copy()
        nc = noncrop[rs, cs].astype(np.float32)
        if interior.any():
            # border correction: every touched pixel takes the class of its nearest interior pixel
            _, (iy, ix) = ndimage.distance_transform_edt(~interior, return_indices=True)
            border = touched & ~interior
            m[border] = m[iy[border], ix[border]]
            nc[border] = nc[iy[border], ix[border]]
        ci = c[touched].astype(np.float64)
        mi = m[touched].astype(np.float64)
        area = float(ci.sum() * pix_ha)
        planted = float((ci * mi).sum() * pix_ha)
        var_class = float(((ci * pix_ha) ** 2 * mi * (1 - mi)).sum())
        n_border = int(((ci > 0) & (ci < 0.999)).sum())
        # the true planted edge may sit up to half a pixel from the polygon's: uniform error, s.d. = half-width / sqrt(3)
        var_border = (n_border * pix_ha * 0.5 * float(mi.mean()) / np.sqrt(3.0)) ** 2 / max(1, n_border)
        rows.append({
            "field_id": fid,
            "field_px_area_ha": area,
            "planted_area_ha": planted,
            "planted_area_sd_ha": float(np.sqrt(var_class + var_border)),
            "planted_fraction": planted / area if area > 0 else np.nan,
            "noncrop_fraction": float((ci * nc[touched]).sum() * pix_ha) / area if area > 0 else np.nan,
            "n_pixels_touched": int(touched.sum()),
            "min_clear_obs": int(nclear[touched].min()),
        })
    return pd.DataFrame(rows)
