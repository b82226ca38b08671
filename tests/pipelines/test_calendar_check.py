"""A season calendar's checks (:mod:`pipelines._calendar_check`): the order they are told in, the harvest day of a
common year, crops lent on without checkpoints, the header's spellings (a review, session 77)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.errors import UserInputError
from pipelines.schedule import DEFAULT_CALENDAR, load_calendar

HEAD = "region,crop,checkpoint,month_day,year_offset,description\n"


def test_a_regions_folder_listing_a_shipped_crop_is_told_so_first(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A bank's calendar with one row of a shipped region's crop (`in-smallholder,Rice,pre_season`) was told "region
    in-smallholder, crop rice has no checkpoint emergence, mid_season, pre_harvest": the bank added three rows only to
    be told then that the crop is already in the package's calendar. That is now the first word, at the row."""
    from features.regions import REGIONS_ENV, clear_caches

    d = tmp_path / "regions"
    d.mkdir()
    (d / "season_windows.csv").write_text("region,start,start_year_offset,end,end_year_offset\nbank-r,05-20,0,02-28,1\n")
    (d / "season_calendar.csv").write_text(HEAD + "bank-r,cotton,pre_season,06-10,0,b\nbank-r,cotton,emergence,08-10,0,b\n"
                                           "bank-r,cotton,mid_season,09-25,0,b\nbank-r,cotton,pre_harvest,12-10,0,b\n"
                                           "in-smallholder,Rice,pre_season,06-02,0,a\n")
    monkeypatch.setenv(REGIONS_ENV, str(d))
    clear_caches()
    try:
        with pytest.raises(UserInputError, match=rf"^{re.escape(str(d / 'season_calendar.csv'))} row 6: region/crop "
                           r"in-smallholder/rice is already in the package's season_calendar\.csv \(a regions folder "
                           r"adds regions and crops; it does not replace shipped rows\)$"):
            load_calendar()
    finally:
        monkeypatch.delenv(REGIONS_ENV)
        clear_caches()


def _shipped_with(old: str, new: str) -> str:
    text = DEFAULT_CALENDAR.read_text()
    assert text.count(old) == 1
    return text.replace(old, new)


def test_a_pre_harvest_checkpoint_on_the_median_harvest_day_of_a_common_year_is_accepted(tmp_path: Path) -> None:
    """Rice's median harvest is day 305: 11-01 in three years of four, 10-31 in a leap year. A pre-harvest
    checkpoint on 11-01 was refused ("11-01 is after the crop's harvest (10-31, …)"), a leap year among the seasons
    checked, although README says "on or before the crop's median harvest day". The day is read in a common year, as
    the checkpoints' month-days are; the day after it is refused, naming the day compared with."""
    on = tmp_path / "h1101.csv"
    on.write_text(_shipped_with("in-smallholder,rice,pre_harvest,10-25,", "in-smallholder,rice,pre_harvest,11-01,"))
    cal = load_calendar(on)
    got = cal[(cal["crop"] == "rice") & (cal["checkpoint"] == "pre_harvest")]["month_day"].tolist()
    assert got == ["11-01"]
    after = tmp_path / "h1102.csv"
    after.write_text(_shipped_with("in-smallholder,rice,pre_harvest,10-25,", "in-smallholder,rice,pre_harvest,11-02,"))
    with pytest.raises(UserInputError, match=r"h1102\.csv row 21 \(region in-smallholder, crop rice, checkpoint "
                       r"pre_harvest\): 11-02 is after the crop's harvest \(11-01, the crop calendar's median harvest "
                       r"day, day 305 of a common year\)$"):
        load_calendar(after)


def _nocotton(tmp_path: Path) -> Path:
    p = tmp_path / "nocotton.csv"
    p.write_text("".join(r for r in DEFAULT_CALENDAR.read_text().splitlines(keepends=True)
                         if not r.startswith("in-smallholder,cotton,")))
    return p


COTTON = (r"nocotton\.csv has no checkpoint of crop cotton in region in-smallholder, lent on in {}: its lines are "
          r"never re-underwritten on schedule \(add its four checkpoints: pre_season, emergence, mid_season, "
          r"pre_harvest\)")


def test_due_warns_of_a_crop_the_county_lends_on_without_checkpoints(tiny_county_sh: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A calendar without in-smallholder's cotton (county.json lends on rice, maize and cotton): `reunderwrite --due
    --calendar` ran the maize and rice checkpoints, exit 0, without a word; the cotton lines were never
    re-underwritten. A warning now names the crop, the region and where it is lent on (the run goes on)."""
    import pandas as pd

    import pipelines.reunderwrite as ru
    from pipelines.county import County
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'store.db'}"
    DecisionStore(url).close()

    def stub(c: object, season: str, day: object, **kw: object) -> object:
        return ru.ReunderwriteResult(season, day, "x", [], pd.DataFrame(columns=ru.CHANGE_COLUMNS), pd.DataFrame())

    monkeypatch.setattr(ru, "reunderwrite_county", stub)
    said: list[str] = []
    county = County(tiny_county_sh)
    from datetime import date

    ran = ru.reunderwrite_due(date(2009, 9, 2), county=county, store=url, calendar=_nocotton(tmp_path),
                              models=object(), progress=said.append)  # type: ignore[arg-type]
    assert ran and {d.crop for d, _ in ran} <= {"rice", "maize"}
    warned = [w for w in said if "cotton" in w]
    assert len(warned) == 1, said
    assert re.fullmatch("warning: .*" + COTTON.format(rf"county {re.escape(str(tiny_county_sh))} \(county\.json's "
                                                      r"crops, the Book's lines\)"), warned[0]), warned[0]
    said.clear()  # the shipped calendar: no word
    url2 = f"sqlite:///{tmp_path / 'store2.db'}"
    DecisionStore(url2).close()
    ru.reunderwrite_due(date(2009, 9, 2), county=county, store=url2, models=object(),  # type: ignore[arg-type]
                        progress=said.append)
    assert not [w for w in said if "no checkpoint of crop" in w], said


def test_schedule_show_store_warns_of_a_crop_its_records_lend_on_without_checkpoints(tmp_path: Path) -> None:
    """`schedule show --calendar (no cotton) --store` listed maize and rice only, exit 0: the store's records of
    cotton fields said nothing. A warning (standard error) now names the crop; the listing is as before."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'd.db'}"
    body = {"fields": [{"field_id": "F1", "region": "in-smallholder", "declared_crop": "cotton"}],
            "outcome": "APPROVE", "limit": 100}
    with DecisionStore(url) as st:
        st.append([DecisionItem(idempotency_key="c", application_id="A-c", farmer_token="tok", season="2009",
                                as_of="2009-05-01", outcome="APPROVE", limit=100, currency="INR", reason_codes=(),
                                body=body, kind="decision")], operator="t")
    args = ["schedule", "show", "--season", "2009", "--region", "in-smallholder", "--today", "2009-06-01",
            "--store", url]
    r = CliRunner().invoke(app, [*args, "--calendar", str(_nocotton(tmp_path))])
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"warning: .*" + COTTON.format(r"the store's records of season 2009") + "\n", r.stderr), \
        r.stderr
    assert "cotton" not in r.stdout and "rice" in r.stdout
    shipped = CliRunner().invoke(app, args)
    assert shipped.exit_code == 0 and not shipped.stderr and "cotton" in shipped.stdout, shipped.output


def test_a_calendars_header_is_read_as_its_cells_are_and_otherwise_named(tmp_path: Path) -> None:
    """A review's headers: `region, crop, …` (spaces after the commas) was refused as "column 'crop': expected
    column present, found missing" although cells with spaces are read; a `;`-separated or capitalised header got
    the same words without the columns found; a `#` comment line was "row 2 (region # bank calendar v2 …): column crop
    is empty". Names are now stripped as the cells are (case kept, as the applications and Book readers keep it);
    otherwise the message names the columns found, the separator and the header expected; a comment line is named."""
    rows = ["us-nebraska,maize,pre_season,04-01,0,a\n", "us-nebraska,maize,emergence,06-01,0,b\n",
            "us-nebraska,maize,mid_season,07-20,0,c\n", "us-nebraska,maize,pre_harvest,09-15,0,d\n"]

    def cal(name: str, head: str, body: list[str], sep: str = ",") -> Path:
        p = tmp_path / name
        p.write_text(head + "".join(r.replace(",", sep) for r in body))
        return p

    spaced = load_calendar(cal("space.csv", "region, crop, checkpoint, month_day, year_offset, description\n", rows))
    plain = load_calendar(cal("plain.csv", HEAD, rows))
    assert spaced.drop(columns="description").equals(plain.drop(columns="description"))
    assert list(spaced.columns) == list(plain.columns)
    want = r"expected a comma-separated header region,crop,checkpoint,month_day,year_offset\[,description\]"
    for p, msg in (
            (cal("semi.csv", HEAD.replace(",", ";"), rows, ";"),
             rf"semi\.csv: the calendar's columns are separated by ';' \({want}: save it with commas\)$"),
            (cal("tab.csv", HEAD.replace(",", "\t"), rows, "\t"),
             rf"tab\.csv: the calendar's columns are separated by tabs \({want}: save it with commas\)$"),
            (cal("upper.csv", HEAD.upper(), rows),
             r"upper\.csv: calendar file has no column region, crop, checkpoint, month_day, year_offset; its header "
             rf"holds 'REGION', 'CROP', 'CHECKPOINT', 'MONTH_DAY', 'YEAR_OFFSET', 'DESCRIPTION' \({want}; names are "
             r"lower case\)$"),
            (cal("nocrop.csv", "region,checkpoint,month_day,year_offset\n", [r.replace("maize,", "").rsplit(",", 1)[0] + "\n" for r in rows]),
             rf"nocrop\.csv: calendar file has no column crop; its header holds 'region', 'checkpoint', 'month_day', "
             rf"'year_offset' \({want}\)$"),
            (cal("comment.csv", HEAD, ["# bank calendar v2\n", *rows]),
             r"comment\.csv row 2: a comment line \('# bank calendar v2'\); a calendar holds no comment lines \(notes "
             r"go in the description column\): remove it$")):
        with pytest.raises(UserInputError, match=msg):
            load_calendar(p)
