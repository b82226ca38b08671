"""Real parcels (French RPG, near Lyon, EPSG:2154): equal-area hectares against the declared ``surf_parc``."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from features.fields import area_ha

#: surf_parc is published to 0.01 ha: a difference within half of that is rounding, not disagreement
ROUNDING_HA = 0.005


@pytest.fixture
def rpg(shared_real: Path) -> gpd.GeoDataFrame:
    from tests.conftest import require

    path = shared_real / "rpg_parcels" / "rpg_lyon_parcels.gpkg"
    require(path.is_file(), f"{path} not found")
    return gpd.read_file(path)


def test_equal_area_hectares_agree_with_declared(rpg: gpd.GeoDataFrame) -> None:
    assert len(rpg) == 193
    assert rpg.crs is not None and rpg.crs.to_epsg() == 2154
    ha = area_ha(rpg).to_numpy()
    declared = rpg["surf_parc"].to_numpy(dtype=np.float64)
    diff = np.abs(ha - declared)
    agree = (diff <= 0.01 * declared) | (diff <= ROUNDING_HA)
    assert agree.mean() >= 0.95, f"only {agree.mean():.1%} of parcels within 1% (or rounding) of surf_parc"
    # the strict 1% rule alone fails only on small parcels, where 0.01 ha of rounding is several percent
    strict = diff <= 0.01 * declared
    assert strict.mean() > 0.85
    assert declared[~strict].max() < 0.5
    # the total agrees to well under 1%
    assert abs(ha.sum() / declared.sum() - 1) < 0.005


def test_equal_area_is_independent_of_the_input_crs(rpg: gpd.GeoDataFrame) -> None:
    a = area_ha(rpg).to_numpy()
    for crs in (4326, 3857, 32631):
        b = area_ha(rpg.to_crs(crs)).to_numpy()
        np.testing.assert_allclose(b, a, rtol=1e-4)
    # a naive Web-Mercator area is ~2× too large at 45° N: never used
    assert float((rpg.to_crs(3857).area / 1e4).sum() / a.sum()) > 1.8
