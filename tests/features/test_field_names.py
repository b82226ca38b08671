"""A fields file's column names: a contract column written in another case is read as the contract's (a title-case
``Declared_Crop`` had been ignored: every field taken as undeclared, exit 0, permanent records); two columns read as
one are refused naming both."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from features.errors import FieldsError
from features.fields import read_fields, validate_fields


def _fields(n: int = 4) -> gpd.GeoDataFrame:
    rows = [{"field_id": f"f{i}", "season": "2024", "farmer_token": f"T{i % 2}", "declared_crop": "maize",
             "declared_area_ha": 4.0 + i, "region": "in-smallholder",
             "geometry": box(500_000 + i * 300, 4_480_000, 500_200 + i * 300, 4_480_200)} for i in range(n)]
    return gpd.GeoDataFrame(rows, crs="EPSG:32614")


@pytest.mark.parametrize("spell", [str.title, str.upper, lambda c: f" {c.title()} "])
def test_a_contract_column_in_another_case_is_read_as_the_contract_column(spell: object) -> None:
    gdf = _fields()
    renamed = gdf.rename(columns={c: spell(c) for c in gdf.columns if c != "geometry"})  # type: ignore[operator]
    res = validate_fields(renamed, season="2024", need=("region", "declared_crop"))
    assert not res.absent
    assert list(res.fields["field_id"]) == ["f0", "f1", "f2", "f3"]
    assert list(res.fields["declared_crop"]) == ["maize"] * 4
    assert list(res.fields["declared_area_ha"]) == [4.0, 5.0, 6.0, 7.0]
    assert list(res.fields["region"]) == ["in-smallholder"] * 4


def test_a_season_column_in_title_case_is_not_replaced_by_the_commands_season() -> None:
    gdf = _fields().rename(columns={"season": "Season"})
    gdf.loc[3, "Season"] = "2023"
    res = validate_fields(gdf, season="2023")  # it had been ignored: every row taken as of --season
    assert list(res.fields["field_id"]) == ["f3"]


def test_two_columns_read_as_one_are_refused_naming_both() -> None:
    gdf = _fields().assign(Declared_Crop="rice")
    with pytest.raises(FieldsError, match=r"^fields: columns 'declared_crop' and 'Declared_Crop' are both the fields "
                                          r"contract's 'declared_crop' \(names are read whatever their case\): keep "
                                          r"one$"):
        validate_fields(gdf)
    gdf = _fields().drop(columns="field_id").assign(id="a", PARCEL_ID="b")
    with pytest.raises(FieldsError, match=r"columns 'id' and 'PARCEL_ID' are both read as the fields contract's "
                                          r"'field_id': keep one, or name it 'field_id'$"):
        validate_fields(gdf)


def test_an_alias_beside_the_contract_column_stays_an_extra_column() -> None:
    res = validate_fields(_fields().assign(crop="rice"))
    assert list(res.fields["declared_crop"]) == ["maize"] * 4


def test_a_shapefiles_truncated_upper_case_names_are_read(tmp_path: Path) -> None:
    p = tmp_path / "fields.shp"
    gdf = _fields()
    gdf.rename(columns=lambda c: c if c == "geometry" else c[:10].upper()).to_file(p, driver="ESRI Shapefile")
    res = read_fields(p)
    assert list(res.fields["declared_crop"]) == ["maize"] * 4
    assert list(res.fields["declared_area_ha"]) == [4.0, 5.0, 6.0, 7.0]


def test_a_farmers_identifier_in_another_case_is_tokenised_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "a-test-key-of-16-chars")
    gdf = _fields().drop(columns="farmer_token").assign(National_ID=["123456789", "223456789"] * 2)
    res = validate_fields(gdf)
    assert "National_ID" not in res.fields.columns and "national_id" not in res.fields.columns
    assert res.fields["farmer_token"].nunique() == 2
