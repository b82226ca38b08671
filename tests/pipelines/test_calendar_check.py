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
