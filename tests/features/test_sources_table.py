"""Precomputed series tables (long, Statistical-API style, wide by date or day of year)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from features.contracts import check_field_time_series
from features.errors import ContractError, ImageryError
from features.series import build_series
from features.sources import resolve_imagery
from features.sources.table import is_series_table, read_series_table


def _long() -> pd.DataFrame:
    return pd.DataFrame({
        "field_id": ["a", "a", "b", "b"], "season": ["2019"] * 4,
        "date": ["2019-06-01", "2019-06-11", "2019-06-01", "2019-06-11"], "variable": ["NDVI"] * 4,
        "mean": [0.3, 0.5, np.nan, 0.6], "std": [0.01, 0.02, np.nan, 0.03], "p10": [0.2, 0.4, np.nan, 0.5],
        "p50": [0.3, 0.5, np.nan, 0.6], "p90": [0.4, 0.6, np.nan, 0.7], "n_pixels": [100, 100, 80, 80],
        "n_clear": [90, 95, 0, 70]})


def test_long_csv_and_parquet_read_and_checked(tmp_path: Path) -> None:
    df = _long()
    df.to_csv(tmp_path / "s.csv", index=False)
    df.to_parquet(tmp_path / "s.parquet", index=False)
    a = read_series_table(tmp_path / "s.csv")
    b = read_series_table(tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(a, b)
    check_field_time_series(a)
    assert a["date"].dtype.kind == "M" and a["n_clear"].tolist() == [90, 95, 0, 70]
    assert is_series_table(tmp_path / "s.csv") and resolve_imagery(tmp_path / "s.parquet").kind == "table"


def test_statistical_api_style_columns(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": ["a", "a"], "interval_from": ["2019-06-01T00:00:00Z", "2019-06-11T00:00:00Z"],
                       "band": ["ndvi", "ndvi"], "mean": [0.3, 0.4], "stDev": [0.1, 0.1],
                       "sampleCount": [50, 50], "noDataCount": [5, 50]})
    df.to_csv(tmp_path / "sh.csv", index=False)
    out = read_series_table(tmp_path / "sh.csv", season="2019")
    assert out["n_clear"].tolist() == [45, 0] and out["variable"].tolist() == ["NDVI", "NDVI"]
    assert out["std"].tolist() == [0.1, 0.1] and out["p50"].isna().all()
    assert out["date"].tolist() == [pd.Timestamp("2019-06-01"), pd.Timestamp("2019-06-11")]


def test_wide_by_date_and_by_day_of_year(tmp_path: Path) -> None:
    wide = pd.DataFrame({"field_id": ["a", "b"], "2019-06-01": [0.3, np.nan], "20190611": [0.5, 0.6],
                         "n_pixels": [100, 80]})
    wide.to_csv(tmp_path / "w.csv", index=False)
    out = read_series_table(tmp_path / "w.csv", season="2019", variable="NDVI")
    assert len(out) == 4 and out["n_clear"].tolist() == [100, 100, 0, 80]
    doy = pd.DataFrame({"field_id": ["a"], "variable": ["EVI"], "doy_152": [0.2], "doy_370": [0.1]})
    doy.to_csv(tmp_path / "d.csv", index=False)
    got = read_series_table(tmp_path / "d.csv", season="2019", pixel_counts={"a": 12})
    assert got["date"].tolist() == [pd.Timestamp("2019-06-01"), pd.Timestamp("2020-01-05")]
    assert got["n_pixels"].tolist() == [12, 12]
    with pytest.raises(ImageryError, match="day-of-year columns need a season"):
        read_series_table(tmp_path / "d.csv")
    with pytest.raises(ImageryError, match="needs n_pixels columns"):
        read_series_table(tmp_path / "d.csv", season="2019")
    # the command line has no variable=: the message names the column a wide table needs, not the Python argument
    with pytest.raises(ImageryError, match=r"w\.csv: a wide table \(one column per date\) needs a 'variable' column "
                                           r"naming each row's index \(NDVI, .*\): one row per field and variable$"):
        read_series_table(tmp_path / "w.csv", season="2019")


def test_bad_tables_raise_one_line_errors(tmp_path: Path) -> None:
    df = _long()
    df.loc[0, "variable"] = "LAI"
    df.to_csv(tmp_path / "v.csv", index=False)
    with pytest.raises(ContractError, match="column 'variable'.*LAI"):
        read_series_table(tmp_path / "v.csv")
    df = _long().drop(columns=["n_pixels", "n_clear"])
    df.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ContractError, match="column 'n_pixels'"):
        read_series_table(tmp_path / "c.csv")
    dup = pd.concat([_long(), _long().iloc[:1]])
    dup.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ContractError, match="unique key"):
        read_series_table(tmp_path / "d.csv")
    with pytest.raises(ImageryError, match="series table not found"):
        read_series_table(tmp_path / "none.csv")


def test_build_series_from_a_table_filters_as_of_and_reports_missing_fields(tmp_path: Path) -> None:
    _long().to_csv(tmp_path / "s.csv", index=False)
    fields = gpd.GeoDataFrame({"field_id": ["a", "b", "c"], "season": "2019", "farmer_token": "t",
                               "declared_crop": "maize", "declared_area_ha": 1.0},
                              geometry=[shapely.box(0, 0, 100, 100)] * 3, crs="EPSG:32614")
    res = build_series(fields, tmp_path / "s.csv", "2019", as_of=dt.date(2019, 6, 5),
                       start=dt.date(2019, 5, 1), end=dt.date(2019, 10, 1), variables=["NDVI"])
    assert res.series["date"].max() == pd.Timestamp("2019-06-01")
    assert res.outside_fields == ["c"] and res.small_fields == ["b"]


def test_decimal_commas_and_out_of_range_values_are_refused_naming_rows(tmp_path: Path) -> None:
    """A decimal comma ("0,61") became NaN with n_clear kept, and NDVI 61 (a percentage) was accepted; both are
    refused now, naming the column and the rows (field/date/variable), never quoting the cells."""
    (tmp_path / "comma.csv").write_text(
        'field_id,season,date,variable,mean,n_pixels,n_clear\na,2019,2019-06-01,NDVI,"0,61",100,90\n'
        "a,2019,2019-06-11,NDVI,0.5,100,90\nb,2019,2019-06-01,NDVI,,80,0\n")
    with pytest.raises(ContractError, match=r"comma.csv: column 'mean': expected numbers with a decimal point \(not a "
                                            r"comma\), found non-numeric values at a/2019-06-01/NDVI \(1 in all\)$"):
        read_series_table(tmp_path / "comma.csv")
    df = _long()
    df.loc[1, "mean"] = 61.0
    df.to_csv(tmp_path / "pct.csv", index=False)
    with pytest.raises(ContractError, match=r"column 'mean': expected indices .* in \[-1, 1\] .*out of range at "
                                            r"a/2019-06-11/NDVI \(1 in all\)"):
        read_series_table(tmp_path / "pct.csv")
    df = _long().assign(variable="B04")
    df.loc[3, "p90"] = 4500.0  # a digital number, not a reflectance
    df.to_csv(tmp_path / "dn.csv", index=False)
    with pytest.raises(ContractError, match=r"column 'p90'.*out of range at b/2019-06-11/B04"):
        read_series_table(tmp_path / "dn.csv")
    df = _long()
    df.loc[0, "mean"] = -0.2  # water: a negative NDVI is a measurement
    df.to_csv(tmp_path / "ok.csv", index=False)
    assert read_series_table(tmp_path / "ok.csv")["mean"].min() == pytest.approx(-0.2)


def test_a_table_matching_no_field_is_an_error_and_partial_coverage_a_warning(tmp_path: Path) -> None:
    """A table of another season, or of other field ids, gave an empty series with exit 0."""
    fields = gpd.GeoDataFrame({"field_id": ["a", "b"], "season": "2020", "farmer_token": "t",
                               "declared_crop": "maize", "declared_area_ha": 1.0},
                              geometry=[shapely.box(0, 0, 100, 100)] * 2, crs="EPSG:32614")
    _long().to_csv(tmp_path / "s.csv", index=False)  # season 2019
    kw = {"start": dt.date(2020, 5, 1), "end": dt.date(2020, 10, 1), "variables": ["NDVI"]}
    with pytest.raises(ImageryError, match=r"series table has no row for any field of season 2020 .*other season or "
                                           r"field ids.*: a, b \(2 in all\)"):
        build_series(fields, tmp_path / "s.csv", "2020", **kw)
    _long().assign(field_id="zz").iloc[[0]].to_csv(
        tmp_path / "ids.csv", index=False)
    with pytest.raises(ImageryError, match="no row for any field"):
        build_series(fields.assign(season="2019"), tmp_path / "ids.csv", "2019",
                     start=dt.date(2019, 5, 1), end=dt.date(2019, 10, 1), variables=["NDVI"])
    part = build_series(fields.assign(season="2019"), tmp_path / "s.csv", "2019",
                        start=dt.date(2019, 5, 1), end=dt.date(2019, 10, 1), variables=["NDVI"])
    assert part.outside_fields == [] and not part.warnings
    c = fields.assign(season="2019", field_id=["a", "c"])
    part = build_series(c, tmp_path / "s.csv", "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 10, 1),
                        variables=["NDVI"])
    assert part.outside_fields == ["c"] and part.warnings == ["1 field(s) with no row in the series table: c (1 in all)"]


def test_a_block_of_fields_missing_from_a_table_is_no_error_when_built_block_by_block(tmp_path: Path) -> None:
    """The all-fields-missing error of a table keeps the problem the block-by-block runner reads as "nothing in
    this block": a table covering one block of fields out of two still gives that block's series."""
    from features.series import NO_FIELD_PROBLEM, NoFieldSeriesError
    from pipelines.distributed import local_runner, run_series

    _long().to_csv(tmp_path / "s.csv", index=False)
    fields = gpd.GeoDataFrame({"field_id": ["a", "far"], "season": "2019", "farmer_token": "t",
                               "declared_crop": "maize", "declared_area_ha": 1.0},
                              geometry=[shapely.box(0, 0, 100, 100), shapely.box(90_000, 0, 90_100, 100)],
                              crs="EPSG:32614")
    kw = {"start": dt.date(2019, 5, 1), "end": dt.date(2019, 10, 1), "variables": ["NDVI"]}
    with pytest.raises(NoFieldSeriesError, match="no row for any field") as e:
        build_series(fields.iloc[1:], tmp_path / "s.csv", "2019", **kw)
    assert e.value.problem == NO_FIELD_PROBLEM
    res = run_series(fields, tmp_path / "s.csv", "2019", runner=local_runner(), chunk_fields=1, **kw)
    assert res.series["field_id"].unique().tolist() == ["a"] and res.outside_fields == ["far"]


def test_a_table_before_its_first_row_is_pre_season_not_an_error(tmp_path: Path) -> None:
    """As of a date in the season window but before the table's first row (a pre-season decision), the table's rows
    were all cut and it was refused as "no row for any field of season 2019 (other season or field ids?)" — scenes
    give an empty series with a warning there, and so does a table now."""
    _long().to_csv(tmp_path / "s.csv", index=False)
    fields = gpd.GeoDataFrame({"field_id": ["a", "b"], "season": "2019", "farmer_token": "t",
                               "declared_crop": "maize", "declared_area_ha": 1.0},
                              geometry=[shapely.box(0, 0, 100, 100)] * 2, crs="EPSG:32614")
    res = build_series(fields, tmp_path / "s.csv", "2019", as_of=dt.date(2019, 5, 20), start=dt.date(2019, 5, 1),
                       end=dt.date(2019, 10, 1), variables=["NDVI"])
    assert res.series.empty and res.outside_fields == []
    assert res.warnings == ["2 field(s) with no row of the series table up to 2019-05-20 (their first rows are later)"]


def test_day_first_dates_are_refused_not_read_month_first(tmp_path: Path) -> None:
    # 01/06/2019 and 11/06/2019 (1 and 11 June, day first) were read as 6 January and 6 November, silently: a
    # series of other dates, most of them outside the season window
    df = _long().assign(date=["01/06/2019", "11/06/2019", "01/06/2019", "11/06/2019"])
    df.to_csv(tmp_path / "dmy.csv", index=False)
    with pytest.raises(ContractError, match=r"column 'date': expected ISO dates \(YYYY-MM-DD\).*a/01/06/2019"):
        read_series_table(tmp_path / "dmy.csv")


def test_dates_written_as_yyyymmdd_numbers_are_read_as_dates(tmp_path: Path) -> None:
    df = _long().assign(date=[20190601, 20190611, 20190601, 20190611])
    df.to_csv(tmp_path / "n.csv", index=False)
    out = read_series_table(tmp_path / "n.csv")
    assert sorted(set(out["date"])) == [pd.Timestamp("2019-06-01"), pd.Timestamp("2019-06-11")]


def test_timestamps_whose_offset_changes_with_daylight_saving_are_read_as_their_days(tmp_path: Path) -> None:
    # an export in local time: +01:00 in March, +02:00 in June (or Z beside plain dates) was refused as
    # "unparseable values" — valid ISO timestamps; each is read as its own day, as a single offset is
    df = _long().assign(date=["2019-03-30T23:30:00+01:00", "2019-06-11T10:00:00+02:00", "2019-03-30",
                              "2019-06-11T10:00:00Z"])
    df.to_csv(tmp_path / "dst.csv", index=False)
    out = read_series_table(tmp_path / "dst.csv")
    assert sorted(set(out["date"])) == [pd.Timestamp("2019-03-30"), pd.Timestamp("2019-06-11")]
