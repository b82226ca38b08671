"""pipelines.county.County on a tiny synthetic county (shared session fixture, read-only)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.contracts import FIELD_TIME_SERIES
from features.errors import UserInputError
from pipelines.county import County, CountyError


@pytest.fixture
def county(tiny_county_sh: Path, tmp_path: Path) -> County:
    return County(tiny_county_sh, cache_dir=tmp_path / "cache")


def test_meta(county: County, tiny_county_sh: Path) -> None:
    meta = json.loads((tiny_county_sh / "county.json").read_text())
    assert county.region == "in-smallholder"
    assert county.current_season == meta["current_season"]
    assert county.seasons == sorted(meta["seasons"])
    assert county.past_seasons == [s for s in meta["seasons"] if s != meta["current_season"]]
    assert county.currency == "INR" and county.profile == "in-kcc" and county.synthetic is True
    assert county.imagery == tiny_county_sh / "scenes"


def test_cache_dir_default_and_env(tiny_county_sh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGCREDIT_CACHE_DIR", raising=False)
    assert County(tiny_county_sh).cache_dir == tiny_county_sh / ".cache"
    monkeypatch.setenv("AGCREDIT_CACHE_DIR", str(tmp_path / "env-cache"))
    assert County(tiny_county_sh).cache_dir == tmp_path / "env-cache"
    assert County(tiny_county_sh, cache_dir=tmp_path / "x").cache_dir == tmp_path / "x"


def test_fields_per_season_memoised_and_tokenised(county: County) -> None:
    cur = county.fields(county.current_season)
    assert len(cur) > 0 and set(cur["season"].astype(str)) == {county.current_season}
    assert not {"national_id", "farmer_name", "phone"} & set(cur.columns)
    assert "farmer_token" in cur.columns
    cur["field_id"] = "changed"  # a copy: the memoised frame is unchanged
    assert (county.fields(county.current_season)["field_id"] != "changed").all()
    allf = county.fields()
    assert set(allf["season"].astype(str)) == set(county.seasons)


def test_history_typed(county: County) -> None:
    h = county.history()
    assert list(h.columns) == ["field_id", "season", "declared_crop", "sowing_date", "harvest_date",
                               "reported_yield_t_ha"]
    assert h["season"].dtype == "str" and h["sowing_date"].dtype == "datetime64[ns]"
    assert h["harvest_date"].dtype == "datetime64[ns]" and h["reported_yield_t_ha"].dtype == "float64"
    assert set(h["season"]) <= set(county.past_seasons)
    assert h["reported_yield_t_ha"].notna().any()


def test_applications_and_book(county: County) -> None:
    apps = county.applications()
    book = county.book()
    assert len(apps) > 0 and "farmer_token" in apps.columns and "national_id" not in apps.columns
    assert apps["requested_amount"].dtype == "int64"
    assert len(book) > 0 and "line_id" in book.columns


def test_checkpoints(county: County) -> None:
    cp = county.checkpoints(county.current_season)
    s = int(county.current_season)
    assert cp["end"] == date(s + 1, 2, 28)  # in-smallholder window ends 02-28 of S+1
    assert cp["mid"] == date(s, 9, 15)  # median of rice 09-15, maize 08-31, cotton 10-01
    assert cp["emergence"] == date(s, 8, 1)  # median of 07-20, 08-01, 08-15
    assert cp["pre_harvest"] == date(s, 10, 25)  # median of 10-25, 10-10, 12-15
    assert cp["emergence"] < cp["mid"] < cp["pre_harvest"] < cp["end"]


def test_series_cached_and_as_of(county: County) -> None:
    season = county.current_season
    mid = county.checkpoints(season)["mid"]
    first = county.series_result(season, mid)
    assert first.scenes_read > 0
    s = first.series
    assert list(s.columns) == FIELD_TIME_SERIES.names
    assert pd.to_datetime(s["date"]).max() <= pd.Timestamp(mid)
    again = county.series_result(season, mid)
    assert again.scenes_read == 0 and again.scenes_cached == first.scenes_read + first.scenes_cached
    pd.testing.assert_frame_equal(again.series, s)
    full = county.series(season)
    assert len(full) > len(s)


def test_series_read_once_per_season_and_date_while_the_scenes_stay(tiny_county_sh: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``County.series`` builds a season's series once per as-of date and hands out copies; a scene index changed
    since (a scene fetched) is read again."""
    import os

    root = tmp_path / "county"
    shutil.copytree(tiny_county_sh, root)
    c = County(root, cache_dir=tmp_path / "cache")
    built: list[tuple[str, object]] = []
    real = County.series_result
    monkeypatch.setattr(County, "series_result",
                        lambda self, season, as_of=None, **k: built.append((season, as_of)) or real(self, season, as_of, **k))
    season = c.past_seasons[0]
    first = c.series(season)
    first.loc[:, "mean"] = -1.0  # the caller's copy: the next caller gets the series as built
    again = c.series(season)
    assert built == [(season, None)] and (again["mean"] != -1.0).all()
    cut = c.checkpoints(season)["mid"]
    c.series(season, cut)
    c.series(season, cut)
    assert built == [(season, None), (season, cut)]
    end = c.checkpoints(season)["end"]  # the window's end: the whole window, the same rows as built for it
    pd.testing.assert_frame_equal(c.series(season, end), real(c, season, end).series)
    assert built == [(season, None), (season, cut)]
    index = root / "scenes" / "index.csv"
    st = index.stat()
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    pd.testing.assert_frame_equal(c.series(season), again)
    assert built == [(season, None), (season, cut), (season, None)]


def test_missing_or_bad_county_json(tmp_path: Path, tiny_county_sh: Path) -> None:
    with pytest.raises(CountyError, match="county folder not found"):
        County(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CountyError, match=r"county\.json not found"):
        County(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "county.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not valid JSON"):
        County(bad)
    (bad / "county.json").write_text(json.dumps({"region": "in-smallholder", "seasons": ["2009"]}))
    with pytest.raises(CountyError, match="missing key.*current_season"):
        County(bad)
    (bad / "county.json").write_text(json.dumps({"region": "x", "seasons": ["2009"], "current_season": "2010"}))
    with pytest.raises(CountyError, match="current_season 2010 is not in seasons"):
        County(bad)


def test_missing_record_names_the_file(tmp_path: Path, tiny_county_sh: Path) -> None:
    c = tmp_path / "c"
    c.mkdir()
    shutil.copy(tiny_county_sh / "county.json", c / "county.json")
    county = County(c, cache_dir=tmp_path / "cache")
    with pytest.raises(CountyError, match=r"history\.csv: file not found"):
        county.history()
    with pytest.raises(CountyError, match=r"fields\.gpkg: file not found"):
        county.fields()
    (c / "records").mkdir()
    (c / "records" / "history.csv").write_text("field_id,season\nF1,2008\n")
    with pytest.raises(CountyError, match="missing column"):
        county.history()


def test_a_phone_typed_into_the_history_is_not_echoed(tiny_county_sh: Path, tmp_path: Path) -> None:
    """A phone number typed into history.csv's sowing_date (or crop) column was quoted in the error of every county
    command (backtest, train, demo): named by field and season (dates) or by row (crop) instead."""
    import shutil

    import pandas as pd

    from features.errors import UserInputError

    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c)
    hist = c / "records" / "history.csv"
    raw = pd.read_csv(hist, dtype=str, keep_default_na=False)
    first = f"{raw.loc[0, 'field_id']}/{raw.loc[0, 'season']}"
    for col in ("sowing_date", "declared_crop"):
        bad = raw.copy()
        bad.loc[0, col] = "+91-00000-18677"
        bad.to_csv(hist, index=False)
        with pytest.raises(UserInputError) as e:
            County(c).history()
        assert "18677" not in str(e.value)
        assert (first if col == "sowing_date" else "line 2") in str(e.value)


def test_fields_rejected_when_reading_are_logged(tiny_county_sh: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A field the reader rejects (here one season's empty polygon) was left out of monitor, reunderwrite and
    report --county without a word; it is logged once, and the field's other seasons are kept."""
    import geopandas as gpd

    root = tmp_path / "c"
    shutil.copytree(tiny_county_sh, root)
    p = root / "records" / "fields.gpkg"
    g = gpd.read_file(p)
    fid = str(g["field_id"].iloc[0])
    past = (g["field_id"] == fid) & (g["season"].astype(str) != str(g["season"].astype(str).max()))
    assert past.sum() == 1
    g.loc[past, "geometry"] = None
    g.to_file(p, driver="GPKG")
    c = County(root, cache_dir=tmp_path / "cache")
    with caplog.at_level("WARNING", logger="pipelines.county"):
        every = c.fields()
        c.fields()  # cached: not said twice
        current = c.fields(c.current_season)
    said = [r.getMessage() for r in caplog.records if fid in r.getMessage()]
    assert len(said) == 1 and "rejected" in said[0], said
    assert fid in set(current["field_id"]) and (every["field_id"] == fid).sum() == 1


def test_a_county_whose_fields_lack_declared_crops_is_refused(tmp_path: Path, tiny_county_sh: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A county's records are its declared fields: a fields.gpkg without the declared_crop column was read as
    "nothing declared", and `monitor --county` printed "alerts: none" (no expected band) — a silent all-clear. Now
    every county run names the file and the column (one line, exit 2)."""
    import geopandas as gpd
    from typer.testing import CliRunner

    from features.errors import ContractError
    from pipelines.cli import app

    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "test-token-key-0123456789")
    c = tmp_path / "c"
    (c / "records").mkdir(parents=True)
    shutil.copy(tiny_county_sh / "county.json", c / "county.json")
    gdf = gpd.read_file(tiny_county_sh / "records" / "fields.gpkg")
    gdf.drop(columns="declared_crop").to_file(c / "records" / "fields.gpkg", driver="GPKG")
    with pytest.raises(ContractError, match=r"fields\.gpkg: column 'declared_crop': expected column present"):
        County(c, cache_dir=tmp_path / "cache").fields()
    season = County(tiny_county_sh).current_season
    r = CliRunner().invoke(app, ["monitor", "--county", str(c), "--as-of", f"{season}-09-15"])
    assert r.exit_code == 2 and "column 'declared_crop'" in r.stderr and "Traceback" not in r.output, r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_parquet_history_with_nullable_columns_reads_as_its_csv(tmp_path: Path) -> None:
    """A bank's Parquet history written with pandas' nullable dtypes (Float64, string: missing cells are pd.NA) was
    refused cell by cell ("found other values"): pd.NA became the text '<NA>'. It reads as the same CSV does."""
    from pipelines.county import read_history

    csv = pd.DataFrame({"field_id": ["F1", "F2", "F3"], "season": ["2018"] * 3,
                        "declared_crop": ["maize", "rice", "cotton"],
                        "sowing_date": ["2018-06-20", "", "2018-06-25"], "harvest_date": ["2018-10-30", "", ""],
                        "reported_yield_t_ha": ["5.1", "", "1.2"]})
    csv.to_csv(tmp_path / "h.csv", index=False)
    nullable = csv.replace("", None).astype({"sowing_date": "string", "harvest_date": "string"}).assign(
        reported_yield_t_ha=pd.array([5.1, None, 1.2], dtype="Float64"))
    nullable.to_parquet(tmp_path / "h.parquet", index=False)
    pd.testing.assert_frame_equal(read_history(tmp_path / "h.parquet"), read_history(tmp_path / "h.csv"))


def test_a_file_given_as_the_county_folder_is_named_as_a_file(tmp_path: Path) -> None:
    """``--county in-x/county.json`` or ``--county in-x/records/book.csv`` said 'county folder not found' of a file
    that is there; now: a file, the folder expected, and for county.json the folder to give."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    meta = tmp_path / "in-x" / "county.json"
    meta.parent.mkdir()
    meta.write_text("{}")
    with pytest.raises(CountyError, match=rf"^{meta}: is a file, expected a county folder \(county\.json, records/, "
                                          rf"scenes/\): give its folder {meta.parent}$"):
        County(meta)
    book = tmp_path / "book.csv"
    book.write_text("line_id\n")
    r = CliRunner().invoke(app, ["monitor", "--county", str(book), "--as-of", "2009-09-15"])
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"error: {book}: is a file, expected a county folder (county.json, records/, "
                                "scenes/): give the county's folder")


def test_a_rejected_field_of_the_season_refuses_a_re_underwriting_of_the_county_not_its_monitoring(
        tiny_county_sh: Path, tmp_path: Path) -> None:
    """A county's fields file with a field of the current season that is not a polygon: re-underwriting decided its
    farmer's line on the rest of their land (a warning only). Refused now, naming the field; reading the fields for
    monitor and the report still goes on, said; another season's rejection does not refuse this one."""
    import geopandas as gpd
    from shapely.geometry import LineString

    from features.errors import FieldsError
    from pipelines.reunderwrite import reunderwrite_county

    shutil.copytree(tiny_county_sh, tmp_path / "c", ignore=shutil.ignore_patterns(".cache"))
    c = County(tmp_path / "c", cache_dir=tmp_path / "cache")
    season = c.current_season
    path = tmp_path / "c" / "records" / "fields.gpkg"
    gdf = gpd.read_file(path)
    row = gdf.index[gdf["season"].astype(str) == season][0]
    gone = str(gdf.loc[row, "field_id"])
    x0, y0, x1, y1 = gdf.geometry.loc[row].bounds
    gdf.loc[row, "geometry"] = LineString([(x0, y0), (x1, y1)])
    gdf.to_file(path)
    c = County(tmp_path / "c", cache_dir=tmp_path / "cache")
    assert gone not in set(c.fields(season)["field_id"]) and any("rejected when reading" in n for n in c.field_notes)
    with pytest.raises(FieldsError, match=rf"field\(s\) of season {season} rejected: a farmer is not decided on part "
                                          rf"of their land — correct the rows .*{gone}/{season} \(not a polygon"):
        reunderwrite_county(c, season, date(int(season), 8, 1), store=f"sqlite:///{tmp_path / 'none.db'}")
    c.refuse_rejected(str(int(season) - 1))  # the past season's rows are whole: no refusal for it
    # `audit replay --reunderwriting --county` recomputes records as they ran (a warning then): not refused — here it
    # goes on to the store, which does not exist
    with pytest.raises(Exception, match="no database file") as e:
        reunderwrite_county(c, season, date(int(season), 8, 1), store=f"sqlite:///{tmp_path / 'none.db'}",
                            refuse_rejected=False)
    assert not isinstance(e.value, FieldsError)
    import inspect

    import pipelines._replay_reunderwriting as replay

    assert "refuse_rejected=False" in inspect.getsource(replay._replay_run)


@pytest.mark.parametrize("value", ["2003-07-10T00:00:00Z", "2003-07", "2003", "2003-07-10T14:30", "07/10/2003"])
def test_a_history_date_that_is_not_a_day_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    """A walkthrough: a sowing date with a time zone crashed `train yield` (a 121-line traceback, exit 1), and
    `2003-07`, `2003`, `2003-07-10T14:30` were read as 2003-07-01, 2003-01-01 and a time of day without a word —
    dates the phenology calibration and the alerts' tuning are fitted on. The Book refuses them; so does this."""
    from pipelines.county import read_history

    pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2003"] * 2, "declared_crop": ["rice"] * 2,
                  "sowing_date": ["2003-07-09", value], "harvest_date": ["2003-11-30", ""],
                  "reported_yield_t_ha": ["3.1", "2.9"]}).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(CountyError, match=r"column sowing_date: expected ISO dates \(YYYY-MM-DD\), found other "
                       r"values at F2/2003$"):
        read_history(tmp_path / "h.csv")
