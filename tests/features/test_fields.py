"""Fields reading: four vector formats, repair, rejection, CRS, duplicates, identifiers, areas."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon, box

from features.errors import ContractError, FieldsError
from features.fields import area_ha, equal_area_crs, overlap_fractions, read_fields, validate_fields

UTM = "EPSG:32614"


def _fields(n: int = 4, **extra: object) -> gpd.GeoDataFrame:
    rows = []
    for i in range(n):
        x = 500_000 + i * 300
        rows.append({"field_id": f"f{i}", "season": "2024", "farmer_token": f"T{i % 2}", "declared_crop": "maize",
                     "declared_area_ha": 4.0, "geometry": box(x, 4_480_000, x + 200, 4_480_200)})
    gdf = gpd.GeoDataFrame(rows, crs=UTM)
    for k, v in extra.items():
        gdf[k] = v
    return gdf


@pytest.mark.parametrize(("ext", "driver"), [(".parquet", None), (".gpkg", "GPKG"), (".geojson", "GeoJSON"),
                                              (".shp", "ESRI Shapefile")])
def test_reads_all_four_formats(tmp_path: Path, ext: str, driver: str | None) -> None:
    gdf = _fields()
    p = tmp_path / f"fields{ext}"
    if driver is None:
        gdf.to_parquet(p)
    elif driver == "ESRI Shapefile":  # Shapefile names are at most 10 characters: users' files are truncated
        gdf.rename(columns=lambda c: c[:10]).to_file(p, driver=driver)
    else:
        gdf.to_file(p, driver=driver)
    res = read_fields(p)
    assert list(res.fields["field_id"]) == ["f0", "f1", "f2", "f3"]
    assert res.fields.crs.to_epsg() == 32614
    if driver == "ESRI Shapefile":  # its columns live in the .dbf: without it, named (every column read as missing)
        p.with_suffix(".dbf").unlink()
        with pytest.raises(FieldsError, match=r"fields\.shp: its attribute table fields\.dbf is missing beside it"):
            read_fields(p)
    assert res.total_area_ha == pytest.approx(16.0, rel=1e-3)  # 4 × 200 m × 200 m, equal-area


def test_equal_area_hectares_in_geographic_crs() -> None:
    g = _fields(1).to_crs(4326)
    assert float(area_ha(g).iloc[0]) == pytest.approx(4.0, rel=2e-3)


def test_a_fields_hectares_do_not_depend_on_the_other_fields() -> None:
    """The equal-area projection is centred on the whole degree nearest the fields: a field's hectares are the
    same, bit for bit, alone or with any of its neighbours."""
    g = _fields(40)
    whole = area_ha(g)
    for part in (g.iloc[:1], g.iloc[7:9], g.iloc[20:]):
        assert area_ha(part).equals(whole.loc[part.index])
    assert float(whole.iloc[0]) == pytest.approx(4.0, rel=2e-3)
    # also when the file's other fields are far away (its centre rounds to another whole degree): each field is
    # projected about the degree nearest itself
    from shapely.geometry import box

    near = box(-99.40, 41.20, -99.398, 41.2018)  # centre rounds to (-99, 41)
    far = box(-97.45, 42.60, -97.448, 42.6018)   # with it, the file's centre rounds to (-98, 42)
    both = gpd.GeoSeries([near, far], crs=4326)
    assert equal_area_crs(both) != equal_area_crs(both.iloc[:1])
    alone = area_ha(both.iloc[:1])
    assert area_ha(both).iloc[:1].equals(alone)
    # one projection for the pair (the previous rule) gives the field other last bits: the case discriminates
    shared = float(both.iloc[:1].to_crs(equal_area_crs(both)).area.iloc[0]) / 1e4
    assert shared != float(alone.iloc[0]) and shared == pytest.approx(float(alone.iloc[0]), rel=1e-9)


def test_crs_required(tmp_path: Path) -> None:
    gdf = _fields().set_crs(None, allow_override=True)
    with pytest.raises(FieldsError, match="no CRS declared"):
        validate_fields(gdf, source="x.gpkg")


def test_bowtie_is_repaired_and_reported() -> None:
    gdf = _fields(2)
    gdf.loc[1, "geometry"] = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    res = validate_fields(gdf)
    assert res.repaired == ["f1"]
    assert res.fields.geometry.is_valid.all()


def test_a_repair_that_changes_the_area_says_the_hectares() -> None:
    """make_valid splits a bow-tie into its two triangles: the field was said repaired, not that it lost half its
    land (a walkthrough's F0004: declared 0.55 ha, 0.18 ha after repair, no warning). A repair moving the area by more
    than REPAIR_AREA_CHANGE, or leaving it that far from the declared area, names the hectares; a repair that only
    removes a sliver does not."""
    gdf = _fields(3)
    x, y = 500_300, 4_480_000  # f1: a 200 m bow-tie (two 1 ha triangles once repaired), declared 4 ha
    gdf.loc[1, "geometry"] = Polygon([(x, y), (x + 200, y + 200), (x + 200, y), (x, y + 200)])
    x = 500_600  # f2: its 4 ha square with a 0.25 m² spike crossing its left edge
    gdf.loc[2, "geometry"] = Polygon([(x, y), (x + 200, y), (x + 200, y + 200), (x, y + 200), (x, y + 100),
                                      (x + 1, y + 100), (x - 1, y + 101), (x, y + 101)])
    res = validate_fields(gdf, source="f.gpkg")
    assert res.repaired == ["f1", "f2"]
    assert res.repaired_area == {"f1": "0.00 ha before repair, 2.00 ha after; declared 4.00 ha"}
    assert ("1 repaired field(s) of f.gpkg whose area the repair changed by more than 10%, or left that far from the "
            "declared area (check the polygon: a self-crossing outline made valid can lose or gain land): f1 (0.00 ha "
            "before repair, 2.00 ha after; declared 4.00 ha)") in res.notes()
    far = gdf.assign(declared_area_ha=[4.0, 2.0, 5.0])  # f1 as declared; f2's sliver repair, 20% off its declared
    assert validate_fields(far, source="f.gpkg").repaired_area == {
        "f1": "0.00 ha before repair, 2.00 ha after; declared 2.00 ha",
        "f2": "4.00 ha before repair, 4.00 ha after; declared 5.00 ha"}


def test_an_absent_declared_column_says_what_is_used_instead() -> None:
    """A file without declared_area_ha was said to take the crop "from the imagery alone" though its declared crops
    are used (`explain` then showed "declared maize n/a ha"): each absent column says what replaces it, and a
    present one that it is used."""
    def note(*absent: str) -> str:
        res = validate_fields(_fields(2).drop(columns=list(absent)), source="f.gpkg")
        assert res.absent == list(absent)
        return next(n for n in res.notes() if "has no" in n)

    assert note("declared_area_ha") == ("f.gpkg has no declared_area_ha column: taken as not declared for every field "
                                        "(area as measured on the imagery, else the polygon's; the declared crops "
                                        "are used)")
    assert note("declared_crop") == ("f.gpkg has no declared_crop column: taken as not declared for every field "
                                     "(crop from the imagery alone; the declared areas are used)")
    assert note("declared_crop", "declared_area_ha").endswith(
        "(crop from the imagery alone; area as measured on the imagery, else the polygon's)")
    assert not any("has no" in n for n in validate_fields(_fields(2), source="f.gpkg").notes())


def test_empty_and_non_polygon_rejected_with_ids() -> None:
    gdf = _fields(4)
    gdf.loc[1, "geometry"] = Polygon()
    gdf.loc[2, "geometry"] = LineString([(0, 0), (1, 1)])
    gdf.loc[3, "geometry"] = Point(0, 0)
    res = validate_fields(gdf)
    assert list(res.fields["field_id"]) == ["f0"]
    assert set(res.rejected) == {"f1", "f2", "f3"}
    assert "not a polygon (LineString)" in res.rejected["f2"]
    with pytest.raises(FieldsError, match=r"invalid geometries: f1 \(empty or missing geometry\)"):
        validate_fields(gdf, strict=True)


def test_all_rejected_is_an_error() -> None:
    gdf = _fields(1)
    gdf.loc[0, "geometry"] = LineString([(0, 0), (1, 1)])
    with pytest.raises(FieldsError, match="no usable field geometries"):
        validate_fields(gdf)


def test_only_empty_geometries_in_degrees_are_named_empty_not_out_of_range() -> None:
    """(The audit.) Under EPSG:4326 a file of empty polygons was "coordinates out of range … (bounds nan, nan, nan,
    nan: metres labelled as degrees?"."""
    gdf = _fields(2).to_crs(4326)
    gdf["geometry"] = [Polygon(), None]
    with pytest.raises(FieldsError, match=r"no usable field geometries; rejected: f0 \(empty or missing geometry\)"):
        validate_fields(gdf)


def test_ids_differing_only_in_case_are_refused_as_one_field_typed_twice() -> None:
    """"F0" and "f0" were two fields (two pledges of what is most likely one field typed twice): refused, naming
    both spellings; the same id in different seasons stays fine."""
    gdf = _fields(3)
    gdf.loc[2, "field_id"] = "F0"
    with pytest.raises(FieldsError, match=r"field_ids differing only in case or character width within a season .*: F0, f0 \(2 in all\)"):
        validate_fields(gdf)
    gdf.loc[2, "season"] = "2023"
    assert sorted(validate_fields(gdf).fields["field_id"]) == ["F0", "f0", "f1"]


def test_duplicate_ids_named() -> None:
    gdf = _fields(3)
    gdf.loc[2, "field_id"] = "f0"
    with pytest.raises(FieldsError, match=r"duplicate field_id within a season: f0 \(1 in all\)"):
        validate_fields(gdf)


def test_a_file_of_several_seasons_without_its_season_column_names_the_column() -> None:
    """--season names the season of a file without a season column; a file of several seasons without it said
    'duplicate field_id within a season: f0, f1 (2 in all)', not that the column is missing."""
    one = _fields(2).drop(columns="season")
    assert list(validate_fields(one, season="2024").fields["season"]) == ["2024", "2024"]
    several = gpd.GeoDataFrame(pd.concat([_fields(2), _fields(2)], ignore_index=True), crs=UTM).drop(columns="season")
    with pytest.raises(FieldsError, match=r"^f\.gpkg: no season column, so every row was taken as season 2024; yet "
                                          r"field_ids repeat \(several seasons in one file\? add the season column\): "
                                          r"f0, f1 \(2 in all\)$"):
        validate_fields(several, source="f.gpkg", season="2024")
    with pytest.raises(ContractError, match="column 'season': expected column present, found missing"):
        validate_fields(several, source="f.gpkg")


def test_missing_column_named() -> None:
    gdf = _fields(2).drop(columns="farmer_token")
    with pytest.raises(Exception, match=r"column 'farmer_token': expected column present \(or national_id, farmer_id, "
                                        r"farmer_name or phone, turned into it with AGCREDIT_TOKEN_KEY\), found missing"):
        validate_fields(gdf)


def test_an_optional_column_a_run_needs_is_refused_when_absent() -> None:
    """A file without declared crops is read as 'not declared' (underwrite takes the crop from the imagery), but a
    run that needs them (the alerts: their bands come from past seasons' declared crops) names the column instead of
    giving 'alerts: none'."""
    gdf = _fields(2).drop(columns="declared_crop")
    res = validate_fields(gdf, source="f.gpkg")
    assert res.absent == ["declared_crop"] and res.fields["declared_crop"].isna().all()
    with pytest.raises(ContractError, match=r"^f\.gpkg: column 'declared_crop': expected column present \(the past "
                                            r"seasons' declared crops give the alerts' expected NDVI"):
        validate_fields(gdf, source="f.gpkg", need=("declared_crop",))
    # the loose spelling the reader accepts counts as the column
    assert validate_fields(_fields(2).rename(columns={"declared_crop": "crop"}), need=("declared_crop",)).absent == []


def test_a_run_that_needs_the_region_names_its_absence_and_its_empty_cells() -> None:
    """Without a region a field has no season window: 'no window for region None … give start and end' came from deep
    in the series builder, naming neither the file nor the column."""
    gdf = _fields(3)
    assert "region" not in validate_fields(gdf).fields.columns  # optional in the contract
    with pytest.raises(ContractError, match=r"^f\.gpkg: column 'region': expected column present \(a field's region "
                                            r"gives its season window: the imagery dates read\), found missing$"):
        validate_fields(gdf, source="f.gpkg", need=("region",))
    gdf["region"] = ["us-nebraska", None, "us-nebraska"]
    with pytest.raises(ContractError, match=r"^f\.gpkg: column 'region': expected a value on every row, found empty "
                                            r"cells at row 2 \(1 in all\)$"):
        validate_fields(gdf, source="f.gpkg", need=("region",))
    assert len(validate_fields(gdf, source="f.gpkg").fields) == 3  # a run that does not need it reads the file
    # an empty cell in another season's rows, which a one-season run never reads, does not refuse it (it did: a review)
    two = pd.concat([_fields(2).assign(season="2017", region=None), _fields(2).assign(season="2018",
                                                                                      region="us-nebraska")])
    assert len(validate_fields(two, source="f.gpkg", season="2018", need=("region",)).fields) == 2
    with pytest.raises(ContractError, match=r"column 'region': expected a value on every row, found empty cells at "
                                            r"rows? 1"):
        validate_fields(two, source="f.gpkg", season="2017", need=("region",))
    with pytest.raises(ContractError, match=r"column 'region'.*empty cells"):
        validate_fields(two, source="f.gpkg", need=("region",))  # every season read


def test_empty_file_and_bad_format(tmp_path: Path) -> None:
    p = tmp_path / "f.geojson"
    p.write_text("")
    with pytest.raises(FieldsError, match="file is empty"):
        read_fields(p)
    q = tmp_path / "f.txt"
    q.write_text("x")
    with pytest.raises(FieldsError, match="unsupported format '.txt'"):
        read_fields(q)
    r = tmp_path / "g.geojson"
    r.write_text("{not json")
    with pytest.raises(FieldsError, match="cannot be read as GeoJSON"):
        read_fields(r)


def test_identifiers_tokenised_and_never_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gdf = _fields(2).drop(columns="farmer_token")
    gdf["national_id"] = ["ID-99887766", "ID-11223344"]
    gdf["farmer_name"] = ["Asha Devi", "Ravi Kumar"]
    gdf["phone"] = ["+91 98765 43210", "+91 91234 56789"]
    p = tmp_path / "with_ids.gpkg"
    gdf.to_file(p, driver="GPKG")
    caplog.set_level(logging.DEBUG)
    res = read_fields(p)
    out = res.fields
    assert {"national_id", "farmer_name", "phone"}.isdisjoint(out.columns)
    assert out["farmer_token"].str.match(r"^F[0-9a-f]{20}$").all()
    dump = out.drop(columns="geometry").to_csv() + caplog.text
    for secret in ["99887766", "Asha", "Ravi", "98765", "91234"]:
        assert secret not in dump


@pytest.mark.parametrize(("column", "value"), [("field_id", "+91 98765 43210"), ("field_id", "Asha Devi"),
                                               ("region", "Asha Devi"), ("declared_crop", "ID-99887766"),
                                               ("field_id", "F-9876543210"), ("field_id", "098765-43210")])
def test_a_farmers_identifier_typed_as_a_kept_value_is_refused(column: str, value: str) -> None:
    """field_id, region and crop are kept in decision records, caches and later messages: a phone or name typed
    there was stored for good and echoed ('no window for region …'); now refused by row, never shown."""
    from features.errors import ContractError

    gdf = _fields(2).drop(columns="farmer_token")
    gdf["national_id"] = ["ID-99887766", "ID-11223344"]
    gdf["farmer_name"] = ["Asha Devi", "Ravi Kumar"]
    gdf["phone"] = ["+91 98765 43210", "+91 91234 56789"]
    gdf.loc[1, column] = value
    with pytest.raises(ContractError, match=rf"column '{column}': expected a reference or name of the field .*found "
                                            r"personal data at row 2") as e:
        validate_fields(gdf, source="f.gpkg")
    assert value not in str(e.value)


def test_identifiers_without_key_is_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGCREDIT_TOKEN_KEY")
    gdf = _fields(1).drop(columns="farmer_token")
    gdf["national_id"] = ["X1"]
    with pytest.raises(Exception, match="AGCREDIT_TOKEN_KEY is not set"):
        validate_fields(gdf, source="f.gpkg")


def test_overlap_fraction_between_farmers_only() -> None:
    a = box(0, 0, 100, 100)
    gdf = gpd.GeoDataFrame({"field_id": ["a", "b", "c"], "season": ["2024"] * 3, "farmer_token": ["T1", "T2", "T1"],
                            "declared_crop": [None] * 3, "declared_area_ha": [1.0] * 3,
                            "geometry": [a, box(80, 0, 180, 100), box(0, 50, 100, 150)]}, crs=UTM)
    ov = overlap_fractions(gdf)
    assert ov.iloc[0] == pytest.approx(0.2)  # b (other farmer) covers 20%; c is the same farmer
    assert ov.iloc[2] == pytest.approx(0.1, rel=1e-3)  # only the corner shared with b


def test_the_same_land_of_one_farmer_is_not_valued_twice() -> None:
    """A farmer's field overlapping another of their fields of the season by more than half of the smaller one (a
    polygon duplicated under a new id) is rejected — the later id — and listed; a shared boundary strip, other
    farmers' overlaps (PARCEL_OVERLAP_CLAIM) and the same land in another season are not."""
    a = box(0, 0, 100, 100)
    gdf = gpd.GeoDataFrame({
        "field_id": ["a", "z", "b", "c", "a"], "season": ["2024", "2024", "2024", "2024", "2023"],
        "farmer_token": ["T1", "T1", "T1", "T2", "T1"], "declared_crop": [None] * 5, "declared_area_ha": [1.0] * 5,
        "geometry": [a, a, box(70, 0, 170, 100), box(50, 0, 150, 100), a]}, crs=UTM)
    res = validate_fields(gdf)
    assert res.rejected == {"z": "overlaps the same farmer's field a by 100% of the smaller one (the same land would "
                                 "be valued twice)"}
    assert sorted(zip(res.fields["field_id"], res.fields["season"], strict=True)) == [
        ("a", "2023"), ("a", "2024"), ("b", "2024"), ("c", "2024")]  # b shares 30%: kept; c: another farmer
    with pytest.raises(FieldsError, match=r"invalid geometries: z \(overlaps the same farmer's field a"):
        validate_fields(gdf, strict=True)


def test_season_filter_and_coercion() -> None:
    gdf = _fields(2)
    gdf["season"] = [2024, 2023]
    res = validate_fields(gdf, season="2024")
    assert list(res.fields["field_id"]) == ["f0"]
    assert res.fields["season"].dtype == "str" or pd.api.types.is_string_dtype(res.fields["season"])


def test_a_misspelt_crop_of_another_season_does_not_refuse_this_seasons_read() -> None:
    """The crops of the rows read are checked: a misspelt crop in a 2023 row refuses a read of 2023 (or of every
    season), naming it, and leaves a read of 2024 alone, which does not use that row."""
    gdf = _fields(3)
    gdf["season"] = ["2024", "2023", "2024"]
    gdf["declared_crop"] = ["maize", "maiz", "soybean"]
    res = validate_fields(gdf, season="2024")
    assert list(res.fields["field_id"]) == ["f0", "f2"]
    for season in ("2023", None):
        with pytest.raises(FieldsError, match=r"declared_crop 'maiz' not a known crop.*f1/2023"):
            validate_fields(gdf, season=season)


def test_implausibly_large_fields_are_named_and_kept() -> None:
    """A 40,000 ha polygon among 4 ha plots (a village outline, a unit slip) is named in the read's notes and kept;
    ordinary files, small or large fields alike, give no note; in a file of < 20 fields only > 1,000 ha counts."""
    plots = _fields(30)
    assert validate_fields(plots, source="f.gpkg").large == []
    big = pd.concat([plots, gpd.GeoDataFrame([{"field_id": "huge", "season": "2024", "farmer_token": "T9",
                                               "declared_crop": "maize", "declared_area_ha": 4.0,
                                               "geometry": box(600_000, 4_400_000, 620_000, 4_420_000)}], crs=UTM)],
                    ignore_index=True)
    res = validate_fields(gpd.GeoDataFrame(big, crs=UTM), source="f.gpkg")
    assert len(res.large) == 1 and re.fullmatch(r"huge/2024 \(40,0\d\d ha\)", res.large[0]) and len(res.fields) == 31
    assert any(n.startswith(f"1 field(s) implausibly large for one field in f.gpkg: {res.large[0]}")
               for n in res.notes()), res.notes()
    # 50 ha among 4 ha plots (12.5 times) is a large farm's field, not a slip; 250 ha = 62.5 times is named
    for side, named in ((707, False), (1582, True)):
        g = plots.copy()
        g.loc[0, "geometry"] = box(700_000, 4_480_000, 700_000 + side, 4_480_000 + side)
        assert bool(validate_fields(g, source="f.gpkg").large) is named, side
    # pivots of 50-260 ha (Nebraska) in a small file: only > 1,000 ha would be named; in degrees too
    pivots = _fields(3)
    pivots["geometry"] = [box(500_000 + i * 2000, 4_480_000, 500_000 + i * 2000 + 1600, 4_481_600) for i in range(3)]
    assert validate_fields(pivots, source="f.gpkg").large == []
    pivots.loc[2, "geometry"] = box(510_000, 4_480_000, 514_000, 4_484_000)  # 1,600 ha
    named = validate_fields(pivots.to_crs(4326), source="f.gpkg").large
    assert len(named) == 1 and re.fullmatch(r"f2/2024 \(1,60\d ha\)", named[0]), named


def test_fields_below_one_pixel_are_named_and_kept() -> None:
    """A 1 m x 1 m polygon (the audit's: it passed as 0.00 ha without a word) and a 9 m x 9 m one are named in the
    read's notes, with their square metres, and kept; 10 m x 10 m (one Sentinel-2 pixel) and the usual plots give
    no note; in degrees as in metres."""
    plots = _fields(4)
    assert validate_fields(plots, source="f.gpkg").small == []
    g = plots.copy()
    x, y = g.geometry.iloc[0].bounds[:2]
    g.loc[0, "geometry"] = box(x, y, x + 1, y + 1)
    g.loc[1, "geometry"] = box(x + 50, y, x + 59, y + 9)
    g.loc[2, "geometry"] = box(x + 100, y, x + 110, y + 10)
    for frame in (g, g.to_crs(4326)):
        res = validate_fields(frame, source="f.gpkg")
        assert len(res.fields) == 4
        assert [s.split(" (")[0] for s in res.small] == ["f0/2024", "f1/2024"], res.small
        assert re.fullmatch(r"f0/2024 \(1\.0 m²\)", res.small[0]) and re.fullmatch(r"f1/2024 \(8\d\.\d m²\)", res.small[1])
        assert any(n.startswith(f"2 field(s) smaller than one Sentinel-2 pixel (100 m²) in f.gpkg: {res.small[0]}")
                   for n in res.notes()), res.notes()


def test_vertex_order_does_not_change_a_field(tmp_path: Path) -> None:
    """The same polygons written as a Shapefile (clockwise rings) and as a GeoPackage with counter-clockwise rings
    started at another vertex read as the same bytes: the same geometry hashes, hectares and overlaps."""
    import geopandas as gpd
    import shapely
    from shapely.geometry import Polygon
    from shapely.geometry.polygon import orient

    from features.fields import area_ha, geometry_hashes, overlap_fractions, read_fields

    rings = [[(77.0 + 0.0011 * i, 20.0), (77.0011 + 0.0011 * i, 20.0003), (77.0009 + 0.0011 * i, 20.0012),
              (77.0002 + 0.0011 * i, 20.0010)] for i in range(3)]
    rings.append([(77.0010, 20.0001), (77.0015, 20.0001), (77.0015, 20.0006), (77.0010, 20.0006)])  # overlaps
    base = {"field_id": ["F1", "F2", "F3", "F4"], "season": "2009", "farmer_id": ["T1", "T2", "T3", "T4"]}
    cw = gpd.GeoDataFrame(base, geometry=[orient(Polygon(r), -1.0) for r in rings], crs=4326)
    ccw = gpd.GeoDataFrame(base, geometry=[orient(Polygon(r[1:] + r[:1]), 1.0) for r in rings], crs=4326)
    assert not shapely.equals_exact(cw.geometry.values, ccw.geometry.values, tolerance=0).any()
    cw.to_file(tmp_path / "f.shp")
    ccw.to_file(tmp_path / "f.gpkg")
    a = read_fields(tmp_path / "f.shp").fields
    b = read_fields(tmp_path / "f.gpkg").fields
    assert geometry_hashes(a).tolist() == geometry_hashes(b).tolist()
    assert area_ha(a).tolist() == area_ha(b).tolist()
    assert overlap_fractions(a).tolist() == overlap_fractions(b).tolist()


def test_a_geopackage_with_several_layers(tmp_path: Path) -> None:
    """The first layer was read silently (a stale layer 50 km away validated as the fields); now several layers
    are refused unless one is named 'fields'."""
    p = tmp_path / "two.gpkg"
    old = _fields(3)
    old["geometry"] = old.geometry.translate(50_000, 0)
    old.to_file(p, layer="aaa_old", driver="GPKG")
    _fields(2).to_file(p, layer="zz_current", driver="GPKG")
    with pytest.raises(FieldsError, match=r"2 layers \(aaa_old, zz_current\): keep only the fields layer in the file, "
                                          r"or name it 'fields'"):
        read_fields(p)
    _fields(2).to_file(p, layer="fields", driver="GPKG")
    assert len(read_fields(p).fields) == 2
    # an attribute table beside one layer (QGIS saves its styles as `layer_styles`) is not a second layer
    import sqlite3

    q = tmp_path / "qgis.gpkg"
    _fields(3).to_file(q, layer="parcels", driver="GPKG")
    pd.DataFrame({"styleName": ["s"], "f_table_name": ["parcels"]}).to_sql("layer_styles", sqlite3.connect(q))
    with sqlite3.connect(q) as con:
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('layer_styles', "
                    "'attributes', 'layer_styles')")
    assert len(read_fields(q).fields) == 3


def test_a_bad_polygon_of_one_season_leaves_the_field_of_other_seasons() -> None:
    # F0001's empty 2008 polygon dropped its valid 2009 field too (rejected by id): reports and county commands,
    # which read every season, lost the current season's field without a word
    gdf = pd.concat([_fields(2).assign(season="2008"), _fields(2).assign(season="2009")], ignore_index=True)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=_fields(2).crs)
    gdf.loc[0, "geometry"] = Polygon()
    gdf.loc[3, "geometry"] = Point(0, 0)
    res = validate_fields(gdf)
    assert sorted(zip(res.fields["field_id"], res.fields["season"], strict=True)) == [("f0", "2009"), ("f1", "2008")]
    assert res.rejected == {"f0/2008": "empty or missing geometry", "f1/2009": "not a polygon (Point)"}


def test_fields_in_degrees_beside_fields_in_metres_are_refused_by_row(tmp_path: Path) -> None:
    """A file merged from a projected and a geographic source under the projected CRS: the rows in degrees were read
    as valid sub-m² specks near the projection's origin (no imagery, 0 ha) because the check looked at the median."""
    metres = _fields(4)
    degrees = _fields(2).to_crs(4326).set_crs(UTM, allow_override=True)
    degrees["field_id"] = ["g0", "g1"]
    p = tmp_path / "fields.gpkg"
    gpd.GeoDataFrame(pd.concat([metres, degrees], ignore_index=True), crs=UTM).to_file(p)
    with pytest.raises(FieldsError, match=r"^.*fields\.gpkg: 2 of 6 fields lie within ±180/±90 and measure under "
                                          r"1 m² under the projected CRS EPSG:32614: degrees beside metres in one "
                                          r"file\? reproject those rows to EPSG:32614; found at: row 5, row 6 "
                                          r"\(2 in all\)$"):
        read_fields(p)
    metres.to_file(tmp_path / "metres.gpkg")  # the same fields without the rows in degrees: read as before
    assert len(read_fields(tmp_path / "metres.gpkg").fields) == 4


def test_a_folder_given_as_the_fields_file_is_named_as_a_folder(tmp_path: Path) -> None:
    """A folder was 'unsupported format \'\'' (no suffix) or, named fields.gpkg, a GDAL message."""
    for name in ("records", "fields.gpkg"):
        (tmp_path / name).mkdir()
        with pytest.raises(FieldsError, match=rf"^.*{re.escape(name)}: is a folder \(expected a fields file: .geojson, "
                                              r"\.geoparquet, \.gpkg, \.json, \.parquet, \.shp\)$"):
            read_fields(tmp_path / name)
    dataset = tmp_path / "fields.parquet"  # a GeoParquet dataset written as a folder of parts is still read
    dataset.mkdir()
    _fields().to_parquet(dataset / "part-0.parquet")
    assert len(read_fields(dataset).fields) == 4


def test_rejected_fields_are_refused_by_their_rows_season_whatever_their_ids_hold() -> None:
    """Deciding runs refuse a file with rejected fields of their season (pipelines.fieldcheck.refuse_rejected). The season was
    read from the key's "/" (``id/season`` in a file of several seasons): a cadastral id ``12/3`` rejected in a
    one-season file counted as season "3" and escaped the refusal, and an overlap rejection of a past season (keyed by
    the id alone) refused the current one. A polygon a GIS export wrapped in a GeometryCollection is rejected, the
    reason saying how to export it (records decided on such a file, the field left out, replay as they ran)."""
    from shapely.geometry import GeometryCollection

    from pipelines.fieldcheck import refuse_rejected

    gdf = _fields(4)
    gdf["field_id"] = ["12/1", "12/2", "12/3", "13/1"]
    own = list(gdf.geometry)
    gdf.loc[1, "geometry"] = GeometryCollection([own[1], LineString([(0, 0), (1, 1)])])
    gdf.loc[2, "geometry"] = GeometryCollection([LineString([(0, 0), (1, 1)]), Point(0, 0)])
    res = validate_fields(gdf)
    assert list(res.fields["field_id"]) == ["12/1", "13/1"]
    assert res.rejected == {"12/2": "not a polygon (GeometryCollection; export its polygon as a Polygon or "
                                    "MultiPolygon)", "12/3": "not a polygon (GeometryCollection)"}
    assert res.rejected_of("2024") == res.rejected and res.rejected_of("2023") == {}
    with pytest.raises(FieldsError, match=r"field\(s\) of season 2024 rejected: a farmer is not decided on part of "
                                          r"their land — correct the rows, or give --rejects.*: 12/2 \(not a polygon"):
        refuse_rejected(res, "2024", hint="give --rejects PATH")
    refuse_rejected(res, "2023")
    # two seasons: the same land under a second id in 2023 (rejected by the id alone) refuses 2023, not 2024
    past = _fields(2).assign(season="2023")
    past.loc[1, "geometry"] = past.geometry[0]
    past.loc[1, "field_id"], past.loc[1, "farmer_token"] = "f9", "T0"
    both = validate_fields(pd.concat([past, _fields(2)], ignore_index=True))
    assert "f9" in both.rejected and both.rejected_of("2023") == {"f9": both.rejected["f9"]}
    assert both.rejected_of("2024") == {}


def test_a_ring_not_closed_names_its_field_and_row_and_prints_no_library_warning(tmp_path: Path) -> None:
    """A GeoJSON polygon whose ring lacks its closing point: GDAL's RuntimeWarning (two lines with a site-packages
    path) was printed before the error, which named no feature."""
    import json
    import warnings

    gdf = _fields(3)
    p = tmp_path / "f.geojson"
    gdf.to_file(p, driver="GeoJSON")
    doc = json.loads(p.read_text())
    ring = doc["features"][1]["geometry"]["coordinates"][0]
    doc["features"][1]["geometry"]["coordinates"][0] = ring[:-1]  # the closing point dropped
    p.write_text(json.dumps(doc))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(FieldsError, match=r"geometries that cannot be read \(a polygon ring not closed\?.*\); "
                                              r"correct them: f1 \(row 2\)"):
            read_fields(p)
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]


def test_digit_only_ids_stored_as_numbers_against_text_are_named_when_nothing_matches(tmp_path: Path) -> None:
    """A Shapefile's or GeoPackage's real field holds digit-only national IDs as decimal numbers (123456789.0): their
    tokens hash the text read, so no application of the same farmers (IDs as text) matched, and the run said "are
    they the same farmers' files, pseudonymised with the same key?". The tokens stay as they are (earlier records
    were made with them); the message names the cause and the fix."""
    from features.errors import UserInputError
    from features.identity import TOKEN_FLOAT_ATTR, tokenise
    from pipelines.underwrite import refuse_unmatched

    as_text = tokenise(pd.DataFrame({"national_id": ["123456789", "987654321"]}), source="a.csv")
    as_float = tokenise(pd.DataFrame({"national_id": [123456789.0, 987654321.0]}), source="f.gpkg")
    assert as_float.attrs.get(TOKEN_FLOAT_ATTR) and not as_text.attrs.get(TOKEN_FLOAT_ATTR)
    assert set(as_float["farmer_token"]).isdisjoint(as_text["farmer_token"])  # unchanged: hashed as read
    apps = as_text.assign(season="2024", application_id=["A1", "A2"])
    fields = as_float.assign(season="2024", field_id=["f1", "f2"])
    fields.attrs.update(as_float.attrs)
    apps.attrs.update(as_text.attrs)
    with pytest.raises(UserInputError, match=r"the fields hold 'national_id' as decimal numbers \(a number column: "
                                             r"123456789.0\), applications as text, so the same ID gives two tokens — "
                                             r"store the 'national_id' column as text in both files"):
        refuse_unmatched(apps, fields, "2024", "fields")
