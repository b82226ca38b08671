"""``set_aside``: a fields file's bad rows (an unknown crop, a repeated id, a geometry that cannot be a polygon, a
farmer's identifier typed as the id...) set aside with their reasons and the rest read — without it, one bad row
refused the whole file (a walkthrough: a bank would rather have the row rejected). File-level errors still refuse."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, box

from features.errors import ContractError, FieldsError, UserInputError
from features.fields import held_farmers, read_fields, validate_fields, write_rejects

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
    assert text.splitlines()[0] == "row,field_id,season,farmer_token,reason,held_applications"
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


def test_a_row_whose_farmer_cannot_be_known_refuses_the_file_even_with_set_aside() -> None:
    """(A review, H2: setting such a row aside decided its farmer — whoever that is — without the field.) No
    identifier to derive the token from, or a farmer's phone typed as the token: the file is refused, rows named,
    the phone not shown."""
    gdf = _bad_file().iloc[[0, 1, 9]].reset_index(drop=True)
    gdf.loc[1, "national_id"] = None  # the token's basis: no token for this row
    with pytest.raises(UserInputError, match="national_id"):
        validate_fields(gdf, source="f.gpkg")
    with pytest.raises(FieldsError, match="empty national_id .*farmer cannot be known.*row 2"):
        validate_fields(gdf, source="f.gpkg", set_aside=True)
    given = _bad_file().iloc[[0, 1, 9]].drop(columns=["national_id", "farmer_name", "phone"]).reset_index(drop=True)
    given["farmer_token"] = ["T0", "+91 98765 43210", "T9"]  # a phone typed as the token
    with pytest.raises(UserInputError, match="farmer_token"):
        validate_fields(given, source="f.gpkg")
    with pytest.raises(ContractError, match="farmer_token") as e:
        validate_fields(given, source="f.gpkg", set_aside=True)
    assert "row 2" in str(e.value) and "98765" not in str(e.value)
    given["farmer_token"] = ["T0", None, "T9"]  # no token at all, no identifier column
    with pytest.raises(FieldsError, match="empty farmer_token.*row 2"):
        validate_fields(given, source="f.gpkg", set_aside=True)


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
        ("line 2", "f0", "2024", "field_id differing only in case or character width from another of its season"),
        ("line 3", "f1", "2024", "declared_area_ha negative"),
        ("line 4", "F0", "2024", "field_id differing only in case or character width from another of its season"),
        ("line 5", "f9", None, "empty season")]


def test_an_id_with_a_line_break_or_an_invisible_character_is_set_aside_unquoted() -> None:
    """(The audit.) Such an id was read as any other: kept in the records, it broke one-line messages in two (a line
    break), re-ordered them (a direction override) or looked like the id without it (a zero-width space); a full-width
    twin of an id passed as another field."""
    gdf = _bad_file().iloc[[0, 1, 3, 9]].reset_index(drop=True)
    gdf["declared_crop"] = "maize"
    gdf["declared_area_ha"] = 4.0
    gdf["field_id"] = ["f0\nerror: forged", "f1\u200b", "\u202ef3", "\uff46" + "9"]  # the last: a full-width f9
    with pytest.raises(ContractError, match=r"column 'field_id': expected printable text .* found a control or "
                                            r"invisible character .* at line 2, line 3, line 4 \(3 in all\)$") as e:
        validate_fields(gdf, source="f.csv")
    assert "\n" not in str(e.value) and "forged" not in str(e.value)
    res = validate_fields(gdf, source="f.csv", set_aside=True)
    assert [(r.row, r.field_id, r.reason.split(" (")[0]) for r in res.set_aside] == [
        (f"line {i}", None, "field_id holds a control or invisible character") for i in (2, 3, 4)]
    assert list(res.fields["field_id"]) == ["\uff469"]
    twins = gdf.assign(field_id=["f9", "g1", "g3", "\uff469"])
    with pytest.raises(FieldsError, match="field_ids differing only in case or character width within a season.*f9, \uff469"):
        validate_fields(twins, source="f.csv")


def _three_farmers() -> gpd.GeoDataFrame:
    """Six fields, two for each of three farmers (f0 f1, f2 f3, f4 f5)."""
    rows = []
    for i in range(6):
        x = 500_000 + i * 300
        rows.append({"field_id": f"f{i}", "season": "2024", "declared_crop": "maize", "declared_area_ha": 4.0,
                     "national_id": f"ID-1000000{i // 2}", "farmer_name": NAMES[i // 2],
                     "phone": f"+91 98765 4321{i // 2}", "geometry": box(x, 4_480_000, x + 200, 4_480_200)})
    return gpd.GeoDataFrame(rows, crs=UTM)


def test_a_field_claimed_by_two_farmers_holds_both_and_a_typo_holds_its_farmer() -> None:
    """(A review, H2.) A farmer with a row set aside is held (:func:`held_farmers`): their other fields are not all
    their land. A parcel id listed by two farmers (a double-pledge signal) holds both; an unknown crop holds its
    farmer; a row of another season does not hold this season's run."""
    gdf = _three_farmers()
    gdf.loc[4, "field_id"] = "f2"  # farmer 2 lists farmer 1's parcel f2
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    by_row = {r.row: r.farmer_token for r in res.set_aside}
    tok = dict(zip(res.fields["field_id"], res.fields["farmer_token"], strict=True))
    assert held_farmers(res.set_aside, "2024") == {tok["f3"], tok["f5"]} == set(by_row.values())
    assert tok["f0"] not in held_farmers(res.set_aside, "2024")
    gdf = _three_farmers()
    gdf.loc[1, "declared_crop"] = "maise"
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    assert held_farmers(res.set_aside, "2024") == {res.set_aside[0].farmer_token}
    assert res.set_aside[0].farmer_token == res.fields.loc[res.fields["field_id"] == "f0", "farmer_token"].iloc[0]
    gdf = _three_farmers()
    gdf.loc[1, "season"] = "2023"
    gdf.loc[1, "field_id"] = None  # a bad row of another season
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    assert [r.season for r in res.set_aside] == ["2023"]
    assert held_farmers(res.set_aside, "2024") == set() and len(held_farmers(res.set_aside)) == 1


def test_the_rejects_file_shows_no_id_or_phone_typed_into_season_or_field_id(tmp_path: Path) -> None:
    """(A review, H3: the season cell went into the rejects file verbatim.) A farmer's national ID and phone typed
    into the season and field_id cells, and a phone of no farmer of the file: the rejects file shows
    ``<personal data>``; a long cadastral number as a field id is shown."""
    gdf = pd.concat([_three_farmers(), _three_farmers().iloc[[0]].assign(field_id="g0")], ignore_index=True)
    gdf["season"] = gdf["season"].astype(object)
    gdf.loc[1, "season"] = "ID-10000000"  # the farmer's own national id
    gdf.loc[3, "season"] = "+91 98765 43211"  # the farmer's own phone
    gdf.loc[4, "season"] = "+44 7700 900123"  # a phone of nobody in the file
    gdf.loc[5, "field_id"] = "+44 7700 900123"  # (and an unknown crop: set aside)
    gdf.loc[5, "declared_crop"] = "maise"
    gdf.loc[0, "field_id"] = "ID-10000001"  # another farmer's id as a field id
    gdf.loc[2, "field_id"] = "75056000012345"  # a parcel number, and an unknown crop
    gdf.loc[2, "declared_crop"] = "maise"
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    text = write_rejects(res.set_aside, tmp_path / "rejects.csv").read_text()
    for secret in ("ID-1000000", "98765", "7700", "900123"):
        assert secret not in text, text
    assert "<personal data>" in text and "75056000012345" in text
    assert len(text.splitlines()) == 1 + 6


def test_the_rejects_file_lists_the_applications_held(tmp_path: Path) -> None:
    gdf = _three_farmers()
    gdf.loc[1, "declared_crop"] = "maise"
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    tok = res.set_aside[0].farmer_token
    assert tok is not None
    out = write_rejects(res.set_aside, tmp_path / "r.csv", {tok: ["A2", "A1"]})
    assert out.read_text().splitlines()[1].endswith(",A1 A2")


def test_a_row_set_aside_overlapping_another_farmers_field_holds_that_farmer_too() -> None:
    """(A review, H2: an overlapping field with a typo left the other side of the overlap decided without it.) A row
    set aside whose polygon covers another farmer's field holds that farmer too (their field's overlap evidence — a
    double pledge — is missing without the row); a boundary sliver does not."""
    gdf = _three_farmers()
    gdf.loc[1, "geometry"] = box(500_400, 4_480_000, 500_700, 4_480_200)  # f1 (farmer 0) covers half of f2 (farmer 1)
    gdf.loc[1, "declared_crop"] = "maise"
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    tok = dict(zip(res.fields["field_id"], res.fields["farmer_token"], strict=True))
    assert [r.overlaps for r in res.set_aside] == [(tok["f2"],)]
    assert held_farmers(res.set_aside, "2024") == {tok["f0"], tok["f2"]}
    gdf.loc[1, "geometry"] = box(500_300, 4_480_000, 500_601, 4_480_200)  # 1 m into f2: boundary drawing
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    assert held_farmers(res.set_aside, "2024") == {tok["f0"]}


@pytest.mark.parametrize("bad", ["", "2O24", "2024.0", "no season column"])
def test_a_row_of_unreadable_season_holds_the_farmer_its_polygon_overlaps(bad: str) -> None:
    """(A review.) A row set aside whose season cannot be read (empty, not a year) could be of any season: its
    polygon is compared with the kept fields of every season, so the other farmer whose field it covers is held
    too. A file without a season column (its season named by --season): a row set aside before the season is
    filled in (a farmer's name in declared_crop) still has its polygon compared."""
    gdf = _three_farmers()
    gdf["season"] = gdf["season"].astype(object)
    gdf.loc[1, "geometry"] = box(500_400, 4_480_000, 500_700, 4_480_200)  # farmer 0's f1 covers half of f2 (farmer 1)
    if bad == "no season column":
        gdf = gdf.drop(columns=["season"])
        gdf.loc[1, "declared_crop"] = NAMES[0]
    else:
        gdf.loc[1, "season"] = bad or None
    res = validate_fields(gdf, source="f.gpkg", season="2024", set_aside=True)
    tok = dict(zip(res.fields["field_id"], res.fields["farmer_token"], strict=True))
    held = held_farmers(res.set_aside, "2024")
    assert len(res.set_aside) == 1
    assert tok["f0"] in held and tok["f2"] in held  # the overlapped farmer's double-pledge evidence is missing
    assert tok["f4"] not in held


@pytest.mark.parametrize("set_aside", [True, False])
def test_a_farmers_surname_typed_as_the_crop_is_not_quoted(monkeypatch: pytest.MonkeyPatch, set_aside: bool) -> None:
    """One word of another farmer's name typed as a row's crop was quoted in "declared_crop 'kumari' not a known
    crop" (the rejects file, the run's warning, the one-line error): the file's identifiers were compared whole."""
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "a-test-key-of-16+chars")
    gdf = _bad_file().iloc[[0, 1, 9]].reset_index(drop=True)
    gdf.loc[1, "farmer_name"] = NAMES[6]  # Meena Kumari farms row 1
    gdf.loc[0, "declared_crop"] = "Kumari"  # her surname, on Asha Devi's row
    if set_aside:
        res = validate_fields(gdf, source="f.gpkg", set_aside=True)
        text = " ".join(r.reason for r in res.set_aside)
        assert "declared_crop <personal data> not a known crop" in text
    else:
        with pytest.raises(FieldsError, match=r"declared_crop <personal data> \(a name, phone or ID number, not "
                                              r"shown\) not a known crop") as e:
            validate_fields(gdf, source="f.gpkg")
        text = str(e.value)
    assert "kumari" not in text.casefold()


@pytest.mark.parametrize("set_aside", [True, False])
def test_a_name_not_of_the_file_typed_as_the_crop_is_not_quoted_once_spelt_as_a_crop(monkeypatch: pytest.MonkeyPatch,
                                                                                    set_aside: bool) -> None:
    """(A walkthrough, 2026-12-07.) A name of no farmer of the file typed as a row's crop ("Kada Nezupi") was read as
    the engine spells crops, ``kada_nezupi``, whose underscore hid the name's shape: quoted in the rejects file, the
    run's record of rows set aside and the one-line error. Now hidden as the training readers hide it."""
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "a-test-key-of-16+chars")
    gdf = _bad_file().iloc[[0, 1, 9]].reset_index(drop=True)
    gdf.loc[0, "declared_crop"] = "Kada Nezupi"
    if set_aside:
        res = validate_fields(gdf, source="f.gpkg", set_aside=True)
        text = " ".join(r.reason for r in res.set_aside)
        assert "declared_crop <personal data> (several words, a name's shape: not shown; a crop of several words is " \
               "added with AGCREDIT_EXTRA_CROPS, e.g. pearl_millet) not a known crop" in text, text
    else:
        with pytest.raises(FieldsError, match=r"declared_crop <personal data> \(a name, phone or ID number, not "
                                              r"shown; a crop of several words is not shown either") as e:
            validate_fields(gdf, source="f.gpkg")
        text = str(e.value)
    assert "kada" not in text.casefold() and "nezupi" not in text.casefold()


@pytest.mark.parametrize("set_aside", [True, False])
def test_a_farmers_surname_typed_as_the_region_is_not_quoted(monkeypatch: pytest.MonkeyPatch, set_aside: bool) -> None:
    """One word of a farmer's name typed as a row's region was quoted in "region 'kumari' has no season window" (the
    rejects file's reason, the one-line error; a walkthrough, 2026-12-07, third)."""
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "a-test-key-of-16+chars")
    gdf = _bad_file().iloc[[0, 1, 9]].reset_index(drop=True)
    gdf.loc[1, "farmer_name"] = NAMES[6]  # Meena Kumari farms row 1
    gdf["region"] = "in-smallholder"
    gdf.loc[0, "region"] = "Kumari"  # her surname, on Asha Devi's row
    if set_aside:
        res = validate_fields(gdf, source="f.gpkg", set_aside=True, need=("region",))
        text = " ".join(r.reason for r in res.set_aside)
        assert "region <personal data>" in text or "region '<personal data>'" in text, text
    else:
        with pytest.raises(UserInputError, match=r"region .*<personal data>.* has no season window") as e:
            validate_fields(gdf, source="f.gpkg", need=("region",))
        text = str(e.value)
    assert "kumari" not in text.casefold()
