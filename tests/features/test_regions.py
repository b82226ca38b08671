"""A bank's own regions (``AGCREDIT_REGIONS_DIR``, :mod:`features.regions`): rows added to the package's region files,
never replacing them; entering the source digests and the decisions' provenance; an unknown region refused by
``fields validate`` as the runs that read the season window refuse it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from features.errors import UserInputError
from features.regions import REGIONS_ENV, clear_caches

REGION = "maharashtra-vidarbha"
WINDOWS = "region,start,start_year_offset,end,end_year_offset\nmaharashtra-vidarbha,05-20,0,02-28,1\n"
CALENDARS = ("region,crop,event,doy_median,doy_spread,year_offset,source\n"
             + "".join(f"maharashtra-vidarbha,cotton,{e},{d},10,0,bank agronomist\n" for e, d in
                       (("sowing", 185), ("emergence", 192), ("flowering", 255), ("maturity", 345), ("harvest", 360))))
CHECKPOINTS = ("region,crop,checkpoint,month_day,year_offset,description\n"
               + "".join(f"maharashtra-vidarbha,cotton,{k},{md},0,bank\n" for k, md in
                         (("pre_season", "06-10"), ("emergence", "08-10"), ("mid_season", "09-25"),
                          ("pre_harvest", "12-10"))))
PRICES = ("crop,region,season,currency,price_per_t,unit,moisture_basis_pct,sigma_annual,support_price_per_t,source,"
          "price_date\ncotton,maharashtra-vidarbha,2024,INR,80000.00,t,8.0,0.2,75000.00,bank,2024-06-30\n")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(REGIONS_ENV, raising=False)
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def regions(tmp_path: Path) -> Path:
    d = tmp_path / "regions"
    d.mkdir()
    for name, text in (("season_windows.csv", WINDOWS), ("crop_calendars.csv", CALENDARS),
                       ("season_calendar.csv", CHECKPOINTS), ("prices.csv", PRICES)):
        (d / name).write_text(text)
    return d


def _fields_file(tmp_path: Path, region: str = REGION) -> Path:
    g = gpd.GeoDataFrame({"field_id": ["V1", "V2"], "season": ["2024"] * 2, "farmer_token": ["T1", "T2"],
                          "declared_crop": ["cotton"] * 2, "declared_area_ha": [1.0, 1.0], "region": [region] * 2,
                          "geometry": [box(78.60, 20.70, 78.601, 20.701), box(78.61, 20.70, 78.611, 20.701)]},
                         crs=4326)
    p = tmp_path / "vid.gpkg"
    g.to_file(p, driver="GPKG")
    return p


def test_a_regions_folder_adds_a_region_that_the_feature_build_accepts(tmp_path: Path, regions: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from features.fields import known_crops, read_fields
    from features.growth_stage import calendar_dates, load_calendars
    from features.series import season_window
    from models.prices import read_prices
    from pipelines.schedule import checkpoint_dates, load_calendar

    path = _fields_file(tmp_path)
    with pytest.raises(UserInputError, match=f"region '{REGION}' of fields V1, V2 has no season window .*{REGIONS_ENV}"):
        read_fields(path, season="2024", need=("region",))  # what features build reads the fields with
    monkeypatch.setenv(REGIONS_ENV, str(regions))
    assert len(read_fields(path, season="2024", need=("region",)).fields) == 2
    assert season_window("2024", REGION) == (dt.date(2024, 5, 20), dt.date(2025, 2, 28))
    cds = calendar_dates(load_calendars(), REGION, "2024")
    assert list(cds.index) == ["cotton"] and cds.loc["cotton", "sowing"] == pd.Timestamp("2024-07-03")
    assert {"us-nebraska", "in-smallholder", REGION} <= set(load_calendars()["region"])  # added, not replaced
    cal = load_calendar()
    assert len(checkpoint_dates("2024", cal, REGION)) == 4 and (cal["region"] == "us-nebraska").any()
    assert read_prices().lookup("cotton", REGION, "2024").price_per_t == 8_000_000  # paise
    assert "cotton" in known_crops()
    # the feature build itself, on a series table of the two fields
    rows = [{"field_id": f, "date": (dt.date(2024, 6, 1) + dt.timedelta(days=8 * k)).isoformat(), "variable": "NDVI",
             "mean": 0.2 + 0.06 * k, "n_pixels": 100, "n_clear": 100} for f in ("V1", "V2") for k in range(8)]
    pd.DataFrame(rows).to_csv(tmp_path / "series.csv", index=False)
    from pipelines.featurize import featurize_to_file

    res, out, _ = featurize_to_file(path, tmp_path / "series.csv", "2024", dt.date(2024, 8, 1), tmp_path / "f.parquet",
                                    crop_model="none")
    assert out.is_file() and len(res.features) == 2 and res.features["growth_stage"].notna().all()


def test_a_row_of_a_shipped_key_is_refused(tmp_path: Path, regions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from features.growth_stage import load_calendars
    from features.series import season_window
    from models.prices import read_prices
    from pipelines.schedule import load_calendar

    monkeypatch.setenv(REGIONS_ENV, str(regions))
    (regions / "crop_calendars.csv").write_text(CALENDARS + "us-nebraska,maize,sowing,120,10,0,bank\n")
    with pytest.raises(UserInputError, match=r"^.*crop_calendars\.csv row 7: region/crop us-nebraska/maize is already "
                                             r"in the package's crop_calendars\.csv \(a regions folder adds regions and "
                                             r"crops; it does not replace shipped rows\)$"):
        load_calendars()
    (regions / "season_windows.csv").write_text(WINDOWS + "us-nebraska,09-01,-1,11-30,0\n")
    with pytest.raises(UserInputError, match=r"season_windows\.csv row 3: region us-nebraska is already"):
        season_window("2024", "us-nebraska")
    # a calendar's regions and crops are checked against the windows and crop calendars: those files made good
    (regions / "season_windows.csv").write_text(WINDOWS)
    (regions / "crop_calendars.csv").write_text(CALENDARS)
    (regions / "season_calendar.csv").write_text(CHECKPOINTS.replace(REGION, "in-smallholder"))
    with pytest.raises(UserInputError, match=r"season_calendar\.csv row 2: region/crop in-smallholder/cotton"):
        load_calendar()
    (regions / "season_calendar.csv").write_text("region,crop,checkpoint\n")
    with pytest.raises(UserInputError, match=r"regions/season_calendar\.csv: calendar file has no column month_day, "
                                             r"year_offset; its header holds 'region', 'crop', 'checkpoint' \("):
        load_calendar()
    (regions / "prices.csv").write_text("crop,region,season,price_per_t\ncotton,x,2024,1\n")
    with pytest.raises(UserInputError, match=r"regions/prices\.csv: columns differ from the package's prices\.csv "
                                             r"\(missing currency, unit, .*; expected crop, region, season, currency"):
        read_prices()
    (regions / "season_window.csv").write_text(WINDOWS)  # misspelt: refused, not ignored
    with pytest.raises(UserInputError, match=r"season_window\.csv is not a region file"):
        season_window("2024", REGION)


def test_the_digests_and_provenance_take_the_regions_folder_only_when_set(regions: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from features.regions import provenance
    from pipelines._code_digest import _ROOT, DECISION_SOURCES, FEATURE_SOURCES, source_digest, source_files

    def package_only(sources: tuple[str, ...]) -> str:  # the digest as computed before regions folders existed
        h = hashlib.sha256()
        for rel in source_files(_ROOT, sources):
            h.update(rel.encode() + b"\0" + (_ROOT / rel).read_bytes() + b"\1")
        return h.hexdigest()

    plain = source_digest(FEATURE_SOURCES)
    assert plain == package_only(FEATURE_SOURCES) and provenance() == {}
    monkeypatch.setenv(REGIONS_ENV, str(regions))
    with_regions = source_digest(FEATURE_SOURCES)
    assert with_regions != plain and source_digest(DECISION_SOURCES) != package_only(DECISION_SOURCES)
    recorded = provenance()["regions_sha256"]
    (regions / "crop_calendars.csv").write_text(CALENDARS.replace(",185,", ",186,"))  # a changed calendar
    clear_caches()
    assert source_digest(FEATURE_SOURCES) not in (plain, with_regions)
    assert provenance()["regions_sha256"] != recorded
    monkeypatch.delenv(REGIONS_ENV)
    assert source_digest(FEATURE_SOURCES) == plain and provenance() == {}


def test_fields_validate_refuses_an_unknown_region_as_features_build_does(tmp_path: Path, regions: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import app

    runner = CliRunner()
    path = _fields_file(tmp_path)
    r = runner.invoke(app, ["fields", "validate", str(path)])
    want = (f"error: vid.gpkg: region '{REGION}' of fields V1, V2 has no season window (known regions: "
            f"in-smallholder, us-nebraska); to add a region, put its rows of season_windows.csv, crop_calendars.csv, "
            f"season_calendar.csv and prices.csv in a folder and name it in {REGIONS_ENV}\n")
    assert r.exit_code == 2 and r.stderr == want
    b = runner.invoke(app, ["features", "build", "--fields", str(path), "--imagery", str(tmp_path / "none.csv"),
                            "--season", "2024", "--as-of", "2024-08-01", "--out", str(tmp_path / "f.parquet"),
                            "--crop-model", "none", "--no-progress"])
    assert b.exit_code == 2 and b.stderr == want  # the same line, not "--start and --end" it has no options for
    monkeypatch.setenv(REGIONS_ENV, str(regions))
    r = runner.invoke(app, ["fields", "validate", str(path)])
    assert r.exit_code == 0, r.stderr
    assert "valid fields:     2" in r.stdout


def test_only_features_series_names_its_start_and_end_options(tmp_path: Path) -> None:
    """`features build` said "give … --start and --end", options it does not have; `features series` has them."""
    from pipelines.cli import app

    path = _fields_file(tmp_path)
    r = CliRunner().invoke(app, ["features", "series", "--fields", str(path), "--imagery", str(tmp_path / "none.csv"),
                                 "--season", "2024", "--out", str(tmp_path / "s.parquet"), "--no-progress"])
    assert r.exit_code == 2
    assert r.stderr == (f"error: season window: no season window for region '{REGION}' (known: in-smallholder, "
                        f"us-nebraska; a bank adds its own region's season_windows.csv row in the folder {REGIONS_ENV} "
                        "names; or give the season's first and last imagery dates: --start and --end)\n")


def test_a_bank_row_that_readers_cannot_parse_or_that_repeats_is_refused_naming_its_file(
        tmp_path: Path, regions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value no reader can parse (an offset 'x', a month-day 13-40, a day of year 'abc', an unknown event) was a
    traceback (exit 1) or an error naming the package's file; a region listed twice let two readers take different
    windows. Each is now one line naming the bank's file, row and column."""
    from features.growth_stage import load_calendars
    from features.series import season_window
    from features.sources._sh_plan import season_window as sh_window
    from models.prices import read_prices

    monkeypatch.setenv(REGIONS_ENV, str(regions))
    assert season_window("2024", REGION) == sh_window("2024", REGION) == (dt.date(2024, 5, 20), dt.date(2025, 2, 28))
    cases = [
        ("season_windows.csv", WINDOWS.replace("05-20,0", "05-20,x"),
         r"season_windows\.csv row 2: column start_year_offset holds 'x', expected an integer$"),
        ("season_windows.csv", WINDOWS.replace("05-20", "13-40"),
         r"season_windows\.csv row 2: column start holds '13-40', expected a month-day MM-DD$"),
        ("season_windows.csv", WINDOWS + "maharashtra-vidarbha,06-01,0,02-28,1\n",
         r"season_windows\.csv row 3: region maharashtra-vidarbha repeats row 2"),
        ("crop_calendars.csv", CALENDARS.replace(",185,", ",abc,"),
         r"regions/crop_calendars\.csv row 2: column doy_median holds 'abc', expected an integer$"),
        ("crop_calendars.csv", CALENDARS.replace("flowering", "silking"),
         r"crop_calendars\.csv row 4: column event holds 'silking', expected one of sowing, emergence"),
        ("crop_calendars.csv", CALENDARS + "maharashtra-vidarbha,cotton,harvest,362,10,0,again\n",
         r"crop_calendars\.csv row 7: region/crop/event maharashtra-vidarbha/cotton/harvest repeats row 6"),
        ("prices.csv", PRICES.replace("80000.00", "eighty"),
         r"prices\.csv row 2: column price_per_t holds 'eighty', expected a number$"),
    ]
    readers = {"season_windows.csv": lambda: season_window("2024", REGION), "crop_calendars.csv": load_calendars,
               "prices.csv": read_prices}
    for name, text, msg in cases:
        good = (regions / name).read_text()
        (regions / name).write_text(text)
        clear_caches()
        with pytest.raises(UserInputError, match=msg):
            readers[name]()
        (regions / name).write_text(good)
    clear_caches()
    assert season_window("2024", REGION)[0] == dt.date(2024, 5, 20)


def test_version_with_a_bad_regions_variable_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipelines.cli import app

    monkeypatch.setenv(REGIONS_ENV, str(tmp_path / "nowhere"))
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 2 and r.stderr.strip().startswith("error: AGCREDIT_REGIONS_DIR=") and "not a folder" in r.stderr
    assert "Traceback" not in r.output


def test_a_bank_price_or_calendar_value_its_reader_refuses_is_named_in_the_bank_file(
        regions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values a reader refuses after the merge (a price of nan or inf, a unit other than t, a currency that is no
    code, a day of year 400, a checkpoint on 02-29) were named at a row of the merged table in the package's file."""
    from features.growth_stage import load_calendars
    from models.prices import read_prices
    from pipelines.schedule import load_calendar

    monkeypatch.setenv(REGIONS_ENV, str(regions))
    cases = [("prices.csv", PRICES.replace("80000.00", "inf"), read_prices, r"price_per_t holds 'inf', expected a "
                                                                          r"finite number above 0"),
             ("prices.csv", PRICES.replace(",t,", ",kg,"), read_prices, r"unit holds 'kg', expected t"),
             ("prices.csv", PRICES.replace(",INR,", ",XYZ1,"), read_prices, r"currency holds 'XYZ1', expected an ISO"),
             ("crop_calendars.csv", CALENDARS.replace(",185,", ",400,"), load_calendars,
              r"doy_median holds '400', expected a day of the year, 1 to 366"),
             ("season_calendar.csv", CHECKPOINTS.replace("12-10", "02-29"), load_calendar,
              r"month_day holds '02-29', expected a month-day MM-DD that every year has")]
    where = {"season_calendar.csv": rf" \(region {REGION}, crop cotton, checkpoint pre_harvest\)"}
    for name, text, read, msg in cases:
        good = (regions / name).read_text()
        (regions / name).write_text(text)
        clear_caches()
        with pytest.raises(UserInputError, match=rf"regions/{name} row \d+{where.get(name, '')}: column {msg}"):
            read()
        (regions / name).write_text(good)


def test_a_features_file_names_the_region_files_it_was_built_with(tmp_path: Path, regions: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`underwrite --features F` recorded the regions folder present at decision time, not the one F was built with
    (the release's review): F's lineage now carries that digest, a decision from F records it as
    features_regions_sha256, and a run whose folder differs warns; nothing of this without the variable."""
    from features.regions import regions_digest
    from pipelines.featurize import featurize_to_file, read_lineage
    from pipelines.underwrite import lineage_provenance, regions_mismatch

    path = _fields_file(tmp_path)
    monkeypatch.setenv(REGIONS_ENV, str(regions))
    rows = [{"field_id": f, "date": (dt.date(2024, 6, 1) + dt.timedelta(days=8 * k)).isoformat(), "variable": "NDVI",
             "mean": 0.2 + 0.06 * k, "n_pixels": 100, "n_clear": 100} for f in ("V1", "V2") for k in range(8)]
    pd.DataFrame(rows).to_csv(tmp_path / "series.csv", index=False)
    featurize_to_file(path, tmp_path / "series.csv", "2024", dt.date(2024, 8, 1), tmp_path / "f.parquet",
                      crop_model="none")
    lin = read_lineage(tmp_path / "f.parquet")
    built = regions_digest()
    assert lin is not None and built is not None and lin["regions_sha256"] == built
    # the same regions as the run: nothing more recorded (a decision from the file equals one built in the run)
    prov = lineage_provenance(lin)
    assert "features_regions_sha256" not in prov and "regions_sha256" not in prov
    assert regions_mismatch(lin) is None
    (regions / "prices.csv").write_text(PRICES.replace("80000.00", "81000.00"))  # the folder changed since
    clear_caches()
    assert lineage_provenance(lin)["features_regions_sha256"] == built
    msg = regions_mismatch(lin)
    assert msg is not None and msg.startswith(f"the features file was built with region files sha256:{built[:12]}, "
                                              "this run reads region files sha256:") and "\n" not in msg
    monkeypatch.delenv(REGIONS_ENV)
    clear_caches()
    assert "this run reads the package's regions only" in (regions_mismatch(lin) or "")
    # a lineage that records no digest (an earlier release's file, another tool's) cannot tell: no warning; a value
    # that is no digest is neither shown nor recorded
    monkeypatch.setenv(REGIONS_ENV, str(regions))
    clear_caches()
    assert regions_mismatch(None) is None and regions_mismatch({"crop_model_version": "none"}) is None
    odd = {"regions_sha256": "Jane Doe\n555-0100"}
    assert regions_mismatch(odd) is None and "features_regions_sha256" not in lineage_provenance(odd)
