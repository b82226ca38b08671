"""The growth-stage evaluation's diagnostic: stages from true dates with the calendar's stage fractions."""

from __future__ import annotations

from datetime import date

import pandas as pd

from features.growth_stage import calendar_dates
from pipelines.evaluation.growth_stage import _stage_true_dates
from tests.features.test_growth_stage import REGION, _calendar


def test_true_dates_with_calendar_fractions() -> None:
    cds = calendar_dates(_calendar(), REGION, "2018")
    # calendar: emergence doy 120, flowering 175, maturity 270 -> flowering at 55/150 of the span
    truth = pd.DataFrame({
        "field_id": ["a", "b", "c"], "true_crop": ["maize", "maize", "cotton"],
        "emergence_date": pd.to_datetime(["2018-05-01", "2018-05-01", "2018-05-01"]),
        "flowering_date": pd.to_datetime(["2018-06-01", "2018-08-01", "2018-06-01"]),
        "maturity_date": pd.to_datetime(["2018-09-28", "2018-09-28", pd.NaT]),
        "harvest_date": pd.to_datetime(["2018-10-10", "2018-10-10", pd.NaT]),
        "failure_date": pd.to_datetime([pd.NaT, pd.NaT, "2018-07-01"]),
    })
    # 150-day span: calendar flowering on 25 June whatever the true flowering says
    st = _stage_true_dates(truth, cds, date(2018, 6, 20))
    assert st.to_dict() == {"a": "vegetative", "b": "vegetative", "c": "vegetative"}
    st = _stage_true_dates(truth, cds, date(2018, 7, 1))
    assert st["a"] == "reproductive" and st["b"] == "reproductive"
    # a failed crop (no maturity) is harvested from its failure date; unknown crop: flowering halfway
    assert _stage_true_dates(truth, cds, date(2018, 7, 2))["c"] == "harvested"
