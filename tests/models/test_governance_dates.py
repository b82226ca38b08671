"""The days a yield-model version's checkpoints were validated from: scope by a field's own crop and date."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from models.governance import Governance
from pipelines.underwrite import checkpoint_label

DATES = {"in-smallholder": {"mid": {"*": ("09-15", 0), "maize": ("08-31", 0)}, "end": {"*": ("02-28", 1)}}}


def _gov(dates: dict | None = None) -> Governance:
    return Governance(crops=("maize", "rice", "cotton"), regions=("in-smallholder",), checkpoints=("mid", "end"),
                      checkpoint_dates=dates if dates is not None else {})


def test_each_row_reaches_its_own_crops_checkpoint() -> None:
    """Before, a whole batch took one checkpoint label — the median of the crops scored together — so smallholder
    maize at its mid-season checkpoint (08-31) was out of scope (the median, 09-15, not reached), and a maize farmer
    underwritten alone was in scope where the same field in the county's run was not."""
    g = _gov(DATES)
    crops = ["maize", "rice", "cotton", "maize", "rice", "sorghum"]
    days = ["2009-09-01", "2009-09-01", "2009-09-20", "2010-03-01", "2009-08-30", "2009-09-20"]
    rows = g.row_checkpoints(crops, ["in-smallholder"] * 6, ["2009"] * 6, pd.to_datetime(days))
    assert list(rows) == ["mid", "", "mid", "end", "", "mid"]  # sorghum: the region's day (*)
    mask = g.scope_mask(crops, ["in-smallholder"] * 6, "emergence", seasons=["2009"] * 6, as_of=pd.to_datetime(days))
    assert list(mask) == [True, False, True, True, False, False]  # sorghum is not a crop of the scope
    # one row alone, or with others: the same scope
    alone = g.scope_mask(["maize"], ["in-smallholder"], "emergence", seasons=["2009"], as_of=pd.to_datetime(days[:1]))
    assert bool(alone[0]) and bool(mask[0])
    # a version without the days (trained before, or from tables): the caller's label for every row, as before
    old = _gov()
    assert list(old.scope_mask(crops, ["in-smallholder"] * 6, "emergence")) == [False] * 6
    assert list(old.scope_mask(crops, ["in-smallholder"] * 6, "mid", seasons=["2009"] * 6,
                               as_of=pd.to_datetime(days))) == [True, True, True, True, True, False]


def test_the_days_travel_with_the_version_and_old_records_keep_their_json() -> None:
    g = _gov(DATES)
    again = Governance.from_json(g.to_json())
    assert again == g and again.checkpoint_dates["in-smallholder"]["mid"]["maize"] == ("08-31", 0)
    assert "checkpoint_dates" not in _gov().to_dict()  # a version without them hashes as it did (content keys)
    assert "in-smallholder mid from * 09-15, maize 08-31" in g.summary()
    assert g.checkpoint_day("in-smallholder", "end", "rice", "2009") == pd.Timestamp("2010-02-28")
    assert g.checkpoint_day("us-nebraska", "mid", "maize", "2009") is None


def test_the_records_checkpoint_names_each_crops_own() -> None:
    r = "in-smallholder"
    g = _gov(DATES)
    assert checkpoint_label("2009", r, date(2009, 9, 1), ["maize", "rice"], governance=g) == "emergence,mid"
    # without the days: the lower median of the crops scored together — it moved with the batch
    assert checkpoint_label("2009", r, date(2009, 9, 1), ["maize", "rice"]) == "mid"  # maize's 08-31
    assert checkpoint_label("2009", r, date(2009, 9, 1), ["cotton", "maize", "rice"]) == "emergence"  # rice's 09-15
    assert checkpoint_label("2009", r, date(2009, 9, 15), ["cotton", "maize", "rice"], governance=g) == "mid"
    assert checkpoint_label("2009", r, date(2010, 3, 1), ["rice"], governance=g) == "end"
    assert checkpoint_label("2009", r, date(2009, 6, 1), ["maize"], governance=g) == "pre_season"
    # maize's calendar says mid-season from 08-31; a version validated from 09-15 for every crop is not there yet
    star = _gov({r: {"mid": {"*": ("09-15", 0)}, "end": {"*": ("02-28", 1)}}})
    assert checkpoint_label("2009", r, date(2009, 9, 5), ["maize"], governance=star) == "emergence"
    assert checkpoint_label("2009", r, date(2009, 9, 5), ["maize"]) == "mid"  # without the days: the crop's calendar
    assert np.array_equal(g.row_checkpoints([], [], [], pd.to_datetime([])), np.array([], dtype=object))


def test_edge_cases_fail_closed_or_refuse() -> None:
    """The second review's list: a float season, a zoned as-of date, a leap day, a month-day that is no day."""
    import pytest

    from features.errors import ContractError

    g = _gov(DATES)
    zoned = pd.to_datetime(["2009-09-01"]).tz_localize("Asia/Kolkata")
    assert list(g.row_checkpoints(["maize"], ["in-smallholder"], [2009.0], zoned)) == ["mid"]
    leap = _gov({"in-smallholder": {"end": {"*": ("02-29", 1)}}})
    assert leap.checkpoint_day("in-smallholder", "end", "rice", "2009") == pd.Timestamp("2010-02-28")
    assert leap.checkpoint_day("in-smallholder", "end", "rice", "2011") == pd.Timestamp("2012-02-29")
    for bad in (("13-40", 0), ("01- 1", 0), ("09-15", True)):
        with pytest.raises(ContractError, match="checkpoint_dates"):
            _gov({"in-smallholder": {"mid": {"*": bad}}})
    assert "end from * 02-28 +1y" in g.summary()
