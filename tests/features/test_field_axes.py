"""Fields written latitude first under EPSG:4326 (a field of Telangana at 17.44° E, 78.46° N): they passed
``fields validate`` silently with a fifth of their hectares; now refused naming them."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.affinity import translate
from shapely.geometry import box

from features.errors import FieldsError
from features.fields import validate_fields


def _fields(region: str = "in-smallholder", x: float = 78.46, y: float = 17.44) -> gpd.GeoDataFrame:
    rows = [{"field_id": f"f{i}", "season": "2024", "farmer_token": f"T{i}", "region": region,
             "geometry": translate(box(x, y, x + 0.002, y + 0.002), xoff=i * 0.01)} for i in range(4)]
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _swap(gdf: gpd.GeoDataFrame, rows: list[int]) -> gpd.GeoDataFrame:
    out = gdf.copy()
    out.loc[rows, "geometry"] = [shapely.transform(g, lambda c: c[:, ::-1]) for g in out.geometry.iloc[rows]]
    return out


def test_fields_with_latitude_and_longitude_swapped_are_refused_naming_them() -> None:
    gdf = _fields()
    assert len(validate_fields(gdf).fields) == 4
    with pytest.raises(FieldsError, match=r"^fields: 1 field\(s\) outside their region's extent \(in-smallholder: "
                                          r"longitude 68 to 98, latitude 6 to 37\.5\) that lie inside it with x and y "
                                          r"exchanged: latitude and longitude swapped\? write x as the longitude, y "
                                          r"as the latitude: f2 \(1 in all\)$"):
        validate_fields(_swap(gdf, [2]))
    with pytest.raises(FieldsError, match=r"^fields: 4 field\(s\) .*: f0, f1, f2, f3 \(4 in all\)$"):
        validate_fields(_swap(gdf, [0, 1, 2, 3]), season="2024")


def test_fields_outside_their_region_either_way_or_of_an_unknown_extent_are_not_called_swapped() -> None:
    assert len(validate_fields(_fields(x=2.35, y=48.85)).fields) == 4  # Paris under in-smallholder: not swapped
    assert len(validate_fields(_fields(region="my-region", x=17.44, y=78.46)).fields) == 4  # no extent known
    nebraska = _fields(region="us-nebraska", x=-99.0, y=41.0)
    assert len(validate_fields(nebraska).fields) == 4
