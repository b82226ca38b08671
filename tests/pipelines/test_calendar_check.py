"""A season calendar's checks (:mod:`pipelines._calendar_check`): the order they are told in, the harvest day of a
common year, crops lent on without checkpoints, the header's spellings (a review, session 77)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.errors import UserInputError
from pipelines.schedule import load_calendar

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
