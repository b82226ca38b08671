"""``set_aside``: a fields file's bad rows (an unknown crop, a repeated id, a geometry that cannot be a polygon, a
farmer's identifier typed as the id...) set aside with their reasons and the rest read — without it, one bad row
refused the whole file (a walkthrough: a bank would rather have the row rejected). File-level errors still refuse."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, box

from features.errors import ContractError, FieldsError, UserInputError
from features.fields import read_fields, validate_fields, write_rejects

UTM = "EPSG:32614"
NAMES = ["Asha Devi", "Ravi Kumar", "Sunita Rao", "Gopal Das", "Lata Mehta", "Vijay Nair", "Meena Kumari",
         "Arjun Sen", "Kavita Iyer", "Rohan Shah"]
SECRETS = [*NAMES, *(f"ID-1000000{i}" for i in range(10)), *(f"+91 98765 4321{i}" for i in range(10))]


def _bad_file() -> gpd.GeoDataFrame:
    """Ten rows: f0, f1, f9 good; f2 an unknown crop; f3 twice; f5 a line; row 7's id its farmer's name; row 8 no
    id; f8 an area in words."""
    rows = []
    for i in range(10):
        x = 500_000 + i * 300
        rows.append({"field_id": f"f{i}", "season": "2024", "declared_crop": "maize", "declared_area_ha": 4.0,
                     "national_id": f"ID-1000000{i}", "farmer_name": NAMES[i], "phone": f"+91 98765 4321{i}",
                     "geometry": box(x, 4_480_000, x + 200, 4_480_200)})
    gdf = gpd.GeoDataFrame(rows, crs=UTM)
    gdf["declared_area_ha"] = gdf["declared_area_ha"].astype(object)
    gdf.loc[2, "declared_crop"] = "maise"
    gdf.loc[4, "field_id"] = "f3"
    gdf.loc[5, "geometry"] = LineString([(501_500, 4_480_000), (501_700, 4_480_200)])
    gdf.loc[6, "field_id"] = NAMES[6]
    gdf.loc[7, "field_id"] = None
    gdf.loc[8, "declared_area_ha"] = "four"
    return gdf


def test_without_set_aside_one_bad_row_still_refuses_the_file() -> None:
    with pytest.raises(UserInputError):
        validate_fields(_bad_file(), source="f.gpkg")


def test_bad_rows_are_set_aside_and_the_rest_read(monkeypatch: pytest.MonkeyPatch) -> None:
    res = validate_fields(_bad_file(), source="f.gpkg", set_aside=True)
    assert list(res.fields["field_id"]) == ["f0", "f1", "f9"]
    got = [(r.row, r.field_id, r.reason.split(" (")[0]) for r in res.set_aside]
    assert got == [
        ("row 3", "f2", "declared_crop 'maise' not a known crop"),
        ("row 4", "f3", "field_id repeated within its season"),  # every row of the id, not the first kept
        ("row 5", "f3", "field_id repeated within its season"),
        ("row 6", "f5", "not a polygon"),
        ("row 7", None, "field_id holds a farmer's name, ID or phone number"),  # the id is the name: not shown
        ("row 8", None, "empty field_id"),
        ("row 9", "f8", "declared_area_ha not a number of hectares"),
    ]
    assert all(r.farmer_token is not None and r.farmer_token.startswith("F") for r in res.set_aside)
    assert {"f2", "f3", "f5", "f8"} <= set(res.rejected)  # said in the run's warnings as before


def test_the_rejects_file_names_no_farmer_and_is_written_the_same_each_time(tmp_path: Path) -> None:
    out = tmp_path / "rejects.csv"
    write_rejects(validate_fields(_bad_file(), source="f.gpkg", set_aside=True).set_aside, out)
    first = out.read_bytes()
    text = first.decode()
    assert text.splitlines()[0] == "row,field_id,season,farmer_token,reason"
    assert len(text.splitlines()) == 8
    for secret in SECRETS:
        assert secret not in text
    write_rejects(validate_fields(_bad_file(), source="f.gpkg", set_aside=True).set_aside, out)
    assert out.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["rejects.csv"]  # no temporary file left beside it


def test_a_file_read_from_disk_sets_aside_by_its_row(tmp_path: Path) -> None:
    p = tmp_path / "fields.gpkg"
    gdf = _bad_file()
    gdf["declared_area_ha"] = 4.0
    gdf.to_file(p, driver="GPKG")
    res = read_fields(p, season="2024", set_aside=True)
    assert [r.row for r in res.set_aside] == ["row 3", "row 4", "row 5", "row 6", "row 7", "row 8"]
    assert list(res.fields["field_id"]) == ["f0", "f1", "f8", "f9"]


def test_regions_without_a_window_and_empty_regions_are_set_aside() -> None:
    gdf = _bad_file().iloc[[0, 1, 9]].reset_index(drop=True)
    gdf["region"] = ["us-nebraska", "atlantis", None]
    with pytest.raises(UserInputError):
        validate_fields(gdf, source="f.gpkg", need=("region",))
    res = validate_fields(gdf, source="f.gpkg", need=("region",), set_aside=True)
    assert list(res.fields["field_id"]) == ["f0"]
    assert [(r.field_id, r.reason.split(" (")[0]) for r in res.set_aside] == [
        ("f1", "region 'atlantis' has no season window"), ("f9", "empty region")]


def test_file_level_errors_still_refuse_the_file() -> None:
    good = _bad_file().iloc[[0, 1]].reset_index(drop=True)
    with pytest.raises(FieldsError, match="no CRS declared"):
        validate_fields(good.set_crs(None, allow_override=True), source="f.gpkg", set_aside=True)
    with pytest.raises(FieldsError, match="no fields in the file"):
        validate_fields(good.iloc[:0], source="f.gpkg", set_aside=True)
    with pytest.raises(ContractError, match="column 'farmer_token'"):
        validate_fields(good.drop(columns=["national_id", "farmer_name", "phone"]), source="f.gpkg", set_aside=True)
    bad = good.copy()
    bad["declared_crop"] = "maise"
    with pytest.raises(FieldsError, match="every row rejected"):
        validate_fields(bad, source="f.gpkg", set_aside=True)


def test_set_aside_decides_the_same_fields_whatever_the_row_order() -> None:
    gdf = _bad_file()
    a = validate_fields(gdf, source="f.gpkg", set_aside=True)
    b = validate_fields(gdf.iloc[np.arange(9, -1, -1)].reset_index(drop=True), source="f.gpkg", set_aside=True)
    assert sorted(a.fields["field_id"]) == sorted(b.fields["field_id"])
    assert sorted((r.field_id or "", r.reason) for r in a.set_aside) == \
        sorted((r.field_id or "", r.reason) for r in b.set_aside)


def test_rows_without_a_farmer_token_are_set_aside_and_a_personal_token_is_not_shown() -> None:
    gdf = _bad_file().iloc[[0, 1, 9]].reset_index(drop=True)
    gdf.loc[1, "national_id"] = None  # the token's basis: no token for this row
    with pytest.raises(UserInputError, match="national_id"):
        validate_fields(gdf, source="f.gpkg")
    res = validate_fields(gdf, source="f.gpkg", set_aside=True)
    assert list(res.fields["field_id"]) == ["f0", "f9"]
    assert [(r.row, r.field_id, r.farmer_token, r.reason.split(" (")[0]) for r in res.set_aside] == [
        ("row 2", "f1", None, "empty national_id")]
    given = _bad_file().iloc[[0, 1, 9]].drop(columns=["national_id", "farmer_name", "phone"]).reset_index(drop=True)
    given["farmer_token"] = ["T0", "+91 98765 43210", "T9"]  # a phone typed as the token
    with pytest.raises(UserInputError, match="farmer_token"):
        validate_fields(given, source="f.gpkg")
    res = validate_fields(given, source="f.gpkg", set_aside=True)
    assert list(res.fields["field_id"]) == ["f0", "f9"]
    assert [(r.row, r.field_id, r.farmer_token) for r in res.set_aside] == [("row 2", "f1", None)]
    assert "98765" not in repr(res.set_aside)


def test_a_negative_area_an_empty_season_and_ids_differing_in_case_are_set_aside() -> None:
    gdf = _bad_file().iloc[[0, 1, 3, 9, 2]].reset_index(drop=True)
    gdf["declared_crop"] = "maize"
    gdf["declared_area_ha"] = [4.0, -1.0, 4.0, 4.0, 4.0]
    gdf.loc[2, "field_id"] = "F0"  # f0 typed again
    gdf.loc[3, "season"] = None
    with pytest.raises(UserInputError):
        validate_fields(gdf, source="f.csv")
    res = validate_fields(gdf, source="f.csv", set_aside=True)
    assert list(res.fields["field_id"]) == ["f2"]
    assert [(r.row, r.field_id, r.season, r.reason.split(" (")[0]) for r in res.set_aside] == [
        ("line 2", "f0", "2024", "field_id differing only in case from another of its season"),
        ("line 3", "f1", "2024", "declared_area_ha negative"),
        ("line 4", "F0", "2024", "field_id differing only in case from another of its season"),
        ("line 5", "f9", None, "empty season")]
