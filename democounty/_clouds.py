"""Sky and weather of the demo county's scenes: clouds, their shadows, haze, cirrus, snow and frost.

Per-date *plan* (drawn once for all dates in date order, so it does not depend on how dates are
spread over worker processes) and per-date *fields* (drawn from the date's own generator):

- each acquisition is clear, partly cloudy or mostly cloudy with per-region, per-month
  probabilities (``Cloudiness``); us-nebraska ~25% of dates mostly cloudy all year,
  in-smallholder ~40% in the monsoon months June–September and ~8% otherwise;
- clouds are a smooth random field thresholded at the date's cover, with soft edges; their
  shadows are the same field shifted along the anti-solar azimuth by cloud height × tan(sun
  zenith), so clouds and shadows move and change between dates;
- thin haze on some dates brightens every band a little and is NOT flagged in SCL (as the real
  SCL misses thin clouds), cloud edges below the SCL threshold are missed too, and cirrus dates
  add a thin layer that SCL flags (class 10) only where it is thick enough;
- a few acquisitions are missing altogether (no file, no index row), and on a few the county is at
  the edge of the orbit's swath: the east side of the scene is no data (all bands 0, SCL 0);
- us-nebraska has snow on the ground on some winter dates (persisting from date to date) and
  frost browning of winter canopy (a share of green cover turns senescent, the same for every crop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["CLOUD_SPECTRUM", "Cloudiness", "CLOUDINESS", "SkyPlan", "plan_sky", "sky_fields", "frost", "smooth_field", "upsampler"]


@dataclass(frozen=True)
class Cloudiness:
    """Per-region sky settings; monthly tuples start in January."""

    mostly: tuple[float, ...]          # P(mostly cloudy: 75–100% cover) per month
    partly: tuple[float, ...]          # P(partly cloudy: 5–45% cover) per month
    haze: float = 0.15                 # P(thin haze SCL misses)
    cirrus: float = 0.08               # P(cirrus layer)
    missing: float = 0.03              # P(acquisition missing)
    swath_edge: float = 0.04           # P(the tile is at the edge of the orbit swath: part of it no data)
    snow_start: tuple[float, ...] = (0.0,) * 12   # P(snowfall since the previous date) per month
    snow_keep: tuple[float, ...] = (0.0,) * 12    # P(snow still lying at the next date) per month
    frost: bool = False                # frost browning of winter canopy
    sun_azimuth_deg: float = 155.0     # morning overpass, sun in the south-east (northern hemisphere)
    sun_zenith_deg: tuple[float, ...] = (60.0,) * 12


CLOUDINESS: dict[str, Cloudiness] = {
    "us-nebraska": Cloudiness(
        mostly=(0.28, 0.28, 0.27, 0.27, 0.26, 0.22, 0.18, 0.18, 0.20, 0.24, 0.27, 0.30),
        partly=(0.30,) * 12,
        snow_start=(0.35, 0.30, 0.20, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.10, 0.30),
        snow_keep=(0.60, 0.55, 0.35, 0.10, 0.0, 0.0, 0.0, 0.0, 0.0, 0.10, 0.35, 0.55),
        frost=True,
        sun_zenith_deg=(62.0, 55.0, 45.0, 35.0, 28.0, 25.0, 26.0, 31.0, 40.0, 50.0, 59.0, 64.0),
    ),
    "in-smallholder": Cloudiness(
        mostly=(0.05, 0.05, 0.05, 0.06, 0.10, 0.40, 0.45, 0.45, 0.38, 0.15, 0.08, 0.05),
        partly=(0.15, 0.15, 0.15, 0.20, 0.25, 0.35, 0.35, 0.35, 0.35, 0.30, 0.20, 0.15),
        haze=0.25,
        sun_azimuth_deg=140.0,
        sun_zenith_deg=(45.0, 40.0, 32.0, 25.0, 20.0, 19.0, 20.0, 22.0, 26.0, 33.0, 41.0, 46.0),
    ),
}


@dataclass(frozen=True)
class SkyPlan:
    """What the sky and ground are like on one acquisition date (spatial fields come later)."""

    missing: bool
    regime: str          # "clear" | "partly" | "mostly"
    cover: float         # target share of the scene under cloud
    haze: float          # opacity of a thin haze SCL misses (0 = none)
    cirrus: float        # opacity of a cirrus layer (0 = none)
    snow: float          # share of the ground under snow (0 = none)
    frost: float         # share of green canopy browned by frost
    wetness: float       # soil darkening factor (1 = dry)
    cloud_height_m: float
    swath_edge: float = 0.0  # share of the scene (its east side) outside the swath: no data, SCL 0


def frost(day: date, enabled: bool) -> float:
    """Share of green canopy turned senescent by frost on ``day`` (0 in summer, up to 0.8 in January)."""
    if not enabled:
        return 0.0
    doy = day.timetuple().tm_yday
    return float(np.clip(1.4 * np.cos(2 * np.pi * (doy - 15) / 365.25) - 0.55, 0.0, 0.8))


def plan_sky(dates: list[date], region: str, rng: np.random.Generator) -> list[SkyPlan]:
    """One ``SkyPlan`` per date, drawn in date order (snow persists from one date to the next)."""
    cfg = CLOUDINESS[region]
    plans = []
    snow = 0.0
    for d in dates:
        m = d.month - 1
        u = rng.random(11)
        if u[0] < cfg.mostly[m]:
            regime, cover = "mostly", 0.75 + 0.25 * u[1]
        elif u[0] < cfg.mostly[m] + cfg.partly[m]:
            regime, cover = "partly", 0.05 + 0.40 * u[1]
        else:
            regime, cover = "clear", 0.02 * u[1]
        if u[2] < cfg.snow_start[m]:
            snow = 0.55 + 0.45 * u[3]
        elif snow > 0 and u[2] >= cfg.snow_keep[m] + cfg.snow_start[m]:
            snow = 0.0
        elif snow > 0:
            snow = max(0.0, snow - 0.15 * u[3])
            snow = snow if snow >= 0.3 else 0.0
        plans.append(SkyPlan(
            missing=bool(u[4] < cfg.missing),
            regime=regime,
            cover=float(cover),
            haze=float(0.015 + 0.03 * u[6]) if u[5] < cfg.haze else 0.0,
            cirrus=float(0.12 + 0.15 * u[6]) if u[7] < cfg.cirrus else 0.0,
            snow=float(snow),
            frost=frost(d, cfg.frost),
            wetness=float(1.0 - 0.25 * u[8] ** 3),
            cloud_height_m=float(600.0 + 1800.0 * u[1] * u[8] + 300.0 * u[3]),
            swath_edge=float(0.1 + 0.5 * u[10]) if u[9] < cfg.swath_edge else 0.0,
        ))
    return plans


def upsampler(n_out: int, n_in: int, cell: float) -> np.ndarray:
    """(n_out, n_in) bilinear interpolation matrix from a coarse axis with ``cell`` fine pixels per cell."""
    pos = (np.arange(n_out) + 0.5) / cell - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    hi = np.clip(lo + 1, 0, n_in - 1)
    w = np.clip(pos - lo, 0.0, 1.0)
    mat = np.zeros((n_out, n_in), dtype=np.float32)
    np.add.at(mat, (np.arange(n_out), lo), 1 - w)
    np.add.at(mat, (np.arange(n_out), hi), w)
    return mat


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigmas: tuple[float, ...],
                 weights: tuple[float, ...]) -> np.ndarray:
    """Sum of Gaussian-smoothed white noise at several scales (in cells), standardised to mean 0, sd 1."""
    out = np.zeros(shape, dtype=np.float32)
    for s, w in zip(sigmas, weights):
        f = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), s, mode="wrap")
        out += w * f / max(float(f.std()), 1e-6)
    out -= out.mean()
    return out / max(float(out.std()), 1e-6)


def _soft_threshold(field: np.ndarray, share: float, soft: float) -> np.ndarray:
    """0..1 mask covering about ``share`` of ``field``, with soft edges ``soft`` standard deviations wide."""
    if share <= 0:
        return np.zeros_like(field)
    if share >= 1:
        return np.ones_like(field)
    t = float(np.quantile(field, 1.0 - share))
    return np.clip((field - t) / soft + 0.5, 0.0, 1.0).astype(np.float32)


def sky_fields(rng: np.random.Generator, shape: tuple[int, int], pixel_m: float, plan: SkyPlan,
               region: str, month: int) -> dict[str, np.ndarray]:
    """Per-pixel fields for one date: ``cloud`` opacity, ``shadow`` strength, ``haze``, ``cirrus``, ``snow``.

    Clouds are drawn on a coarse grid (~40 m cells) wide enough to hold the scene and the scene
    shifted back along the shadow direction, then interpolated bilinearly to the pixels.
    """
    cfg = CLOUDINESS[region]
    h, w = shape
    cell_m = 40.0 if max(h, w) * pixel_m > 1500 else 20.0
    cell = cell_m / pixel_m
    zen = np.radians(cfg.sun_zenith_deg[month - 1])
    az = np.radians(cfg.sun_azimuth_deg)
    off_m = plan.cloud_height_m * np.tan(zen)
    # shadows fall away from the sun: a shadow at p comes from the cloud at p + off (towards the sun)
    dx_c = int(round(off_m * np.sin(az) / cell_m))      # east
    dy_c = int(round(-off_m * np.cos(az) / cell_m))     # rows grow southwards
    hc, wc = int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2
    big = (hc + abs(dy_c), wc + abs(dx_c))
    r0, c0 = max(0, -dy_c), max(0, -dx_c)
    up_r = upsampler(h, hc, cell)
    up_c = upsampler(w, wc, cell).T

    def to_pixels(coarse: np.ndarray) -> np.ndarray:
        return (up_r @ coarse @ up_c).astype(np.float32)

    out: dict[str, np.ndarray] = {}
    if plan.cover > 0.0:
        sig = 700.0 / cell_m
        noise = smooth_field(rng, big, (sig, sig / 3.0, sig / 9.0), (1.0, 0.45, 0.2))
        scene = noise[r0:r0 + hc, c0:c0 + wc]
        t = float(np.quantile(scene, 1.0 - plan.cover)) if plan.cover < 1 else float(scene.min()) - 1.0
        dens = np.clip((noise - t) / 0.35, 0.0, 1.0)
        opac = 1.0 - np.exp(-3.0 * dens)            # thick cores, thin edges
        out["cloud"] = to_pixels(opac[r0:r0 + hc, c0:c0 + wc])
        out["shadow"] = to_pixels(0.6 * opac[r0 + dy_c:r0 + dy_c + hc, c0 + dx_c:c0 + dx_c + wc])
    if plan.haze > 0.0 or plan.cirrus > 0.0:
        thin = smooth_field(rng, (hc, wc), (1500.0 / cell_m, 300.0 / cell_m), (1.0, 0.4))
        if plan.haze > 0.0:
            out["haze"] = to_pixels(plan.haze * np.clip(0.6 + 0.4 * thin, 0.0, 1.5))
        if plan.cirrus > 0.0:
            streak = _soft_threshold(np.roll(thin, wc // 3, axis=1), 0.6, 0.8)
            out["cirrus"] = to_pixels(plan.cirrus * streak)
    if plan.snow > 0.0:
        ground = smooth_field(rng, (hc, wc), (400.0 / cell_m, 100.0 / cell_m), (1.0, 0.5))
        out["snow"] = to_pixels(_soft_threshold(ground, plan.snow, 0.5))
    return out


#: top-of-cloud reflectance in BANDS order (bright and flat; SWIR higher than snow's)
CLOUD_SPECTRUM: tuple[float, ...] = (0.46, 0.46, 0.47, 0.47, 0.48, 0.48, 0.49, 0.49, 0.40, 0.30)
