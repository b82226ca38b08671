"""The ONE spectral library of the demo county: surface reflectance of Sentinel-2 bands B02..B12.

Every crop is rendered from the same end-members (green vegetation, senescent vegetation,
soil) mixed by its canopy trajectory; there is deliberately no per-crop spectrum, so crop
identity reaches the imagery only through how canopy cover and senescence evolve.

Values are typical bottom-of-atmosphere reflectances (0..1) for the ten L2A bands, from
published field spectra in round numbers (dense green canopy NDVI ≈ 0.87, bare soils ≈ 0.15–0.2,
dry residue ≈ 0.25, water < 0). Leaf chlorophyll changes the green and red-edge bands through
``GREEN_VEG_CHL``: the change of the green-vegetation spectrum per unit of relative chlorophyll
deviation (``chlorophyll / CHL_REF - 1``); more chlorophyll absorbs more at 560 and 705 nm.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BANDS", "BANDS_20M", "CHL_REF", "GREEN_VEG_CHL", "LIBRARY", "REGION_SOILS", "spectrum", "ndvi",
]

#: band names in file order (SCL follows as the 11th band of each scene)
BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: bands that L2A delivers at 20 m (made at 20 m here, then resampled back to 10 m by nearest)
BANDS_20M: tuple[str, ...] = ("B05", "B06", "B07", "B8A", "B11", "B12")

#: reference leaf chlorophyll (µg/cm²) of the ``green_veg`` spectrum
CHL_REF = 45.0

#: end-members, reflectance in BANDS order
LIBRARY: dict[str, tuple[float, ...]] = {
    #            B02    B03    B04    B05    B06    B07    B08    B8A    B11    B12
    "green_veg": (0.025, 0.065, 0.030, 0.105, 0.310, 0.410, 0.445, 0.460, 0.225, 0.110),
    "senescent_veg": (0.075, 0.105, 0.135, 0.165, 0.195, 0.215, 0.235, 0.250, 0.330, 0.245),
    "soil_dark_loam": (0.055, 0.075, 0.095, 0.110, 0.125, 0.135, 0.140, 0.150, 0.215, 0.180),
    "soil_silt_loam": (0.075, 0.105, 0.140, 0.160, 0.175, 0.185, 0.195, 0.205, 0.300, 0.255),
    "soil_sandy": (0.110, 0.160, 0.210, 0.235, 0.250, 0.262, 0.275, 0.290, 0.385, 0.330),
    "soil_red_laterite": (0.060, 0.090, 0.165, 0.205, 0.225, 0.240, 0.250, 0.265, 0.360, 0.310),
    "soil_black_vertisol": (0.050, 0.060, 0.070, 0.078, 0.085, 0.090, 0.095, 0.100, 0.150, 0.130),
    "water": (0.060, 0.070, 0.050, 0.040, 0.030, 0.025, 0.020, 0.018, 0.010, 0.008),
    "built_up": (0.110, 0.125, 0.140, 0.150, 0.160, 0.170, 0.180, 0.190, 0.240, 0.215),
    "road": (0.100, 0.115, 0.130, 0.140, 0.150, 0.155, 0.165, 0.170, 0.220, 0.200),
    "trees": (0.020, 0.045, 0.025, 0.070, 0.200, 0.270, 0.300, 0.315, 0.150, 0.070),
    "bare_trees": (0.045, 0.060, 0.070, 0.085, 0.110, 0.125, 0.140, 0.150, 0.200, 0.150),
    "snow": (0.950, 0.940, 0.920, 0.900, 0.885, 0.870, 0.850, 0.830, 0.100, 0.080),
}

#: change of ``green_veg`` per +1 relative chlorophyll deviation (i.e. +100% chlorophyll)
GREEN_VEG_CHL: tuple[float, ...] = (-0.004, -0.030, -0.006, -0.045, -0.030, -0.010, 0.0, 0.0, 0.0, 0.0)

#: the two soils of each region: a field's soil is a per-field blend of the two, scaled by brightness
REGION_SOILS: dict[str, tuple[str, str]] = {
    "us-nebraska": ("soil_silt_loam", "soil_dark_loam"),
    "in-smallholder": ("soil_red_laterite", "soil_black_vertisol"),
}


def spectrum(name: str) -> np.ndarray:
    """The library spectrum ``name`` as a float32 array in BANDS order."""
    return np.asarray(LIBRARY[name], dtype=np.float32)


def ndvi(refl: np.ndarray) -> np.ndarray:
    """NDVI (B08, B04) of reflectances with bands on the last axis."""
    nir = refl[..., BANDS.index("B08")].astype(np.float64)
    red = refl[..., BANDS.index("B04")].astype(np.float64)
    return (nir - red) / np.maximum(nir + red, 1e-9)
