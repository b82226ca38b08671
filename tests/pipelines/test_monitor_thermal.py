"""The early-warning collapse timing in thermal time (pipelines/_monitor_thermal.py)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from pipelines._monitor_thermal import ThermalClock, gdd_base
from pipelines.monitor import (
    clear_ndvi,
    detect_alerts,
    expected_bands,
    expected_emergence_days,
    expected_timing,
    thermal_clock,
)
from tests.pipelines.test_monitor import START, _curve, _past, _series


def _weather(mean_2023: float, mean_2024: float) -> pd.DataFrame:
    days = pd.date_range("2023-01-01", "2024-12-31", freq="D")
    mean = np.where(days.year == 2023, mean_2023, mean_2024)
    return pd.DataFrame({"region": "r", "date": days, "tmin_c": mean - 5.0, "tmax_c": mean + 5.0,
                         "precip_mm": 0.0, "et0_mm": 3.0})


def test_clock_sums_degree_days_per_base_and_knows_its_range() -> None:
    clock = ThermalClock(_weather(20.0, 25.0))
    assert clock.regions == ["r"] and gdd_base("maize") == 10.0 and gdd_base("winter_wheat") == 0.0
    assert clock.since("r", "maize", "2023-05-01", ["2023-05-01", "2023-05-11"]).tolist() == [0.0, 100.0]
    assert clock.since("r", "winter_wheat", "2023-05-01", ["2023-05-11"]).tolist() == [200.0]
    assert clock.since("r", "maize", "2023-12-31", ["2024-01-02"]).tolist() == [30.0]
    assert np.isnan(clock.since("r", "maize", "2024-12-01", ["2025-01-05"])[0])  # after the table: unknown
    assert np.isnan(clock.gdd("elsewhere", "maize", ["2024-05-01"])[0])
    hot = _weather(30.0, 30.0).assign(tmin_c=20.0, tmax_c=40.0)  # the modified method: each clipped to [base, 30]
    assert ThermalClock(hot).since("r", "maize", "2023-05-01", ["2023-05-02"]).tolist() == [15.0]
    assert ThermalClock(hot.assign(tmin_c=5.0, tmax_c=9.0)).since("r", "maize", "2023-05-01", ["2023-05-02"]) == 0.0
    gap = _weather(20.0, 20.0).drop(index=400)  # a missing day: no sum runs across it
    assert np.isnan(ThermalClock(gap).since("r", "maize", "2024-01-01", ["2024-03-01"])[0])
    assert thermal_clock(None, "r") is None and thermal_clock(_weather(20, 20), "other") is None


def test_a_warm_season_maturing_early_in_days_is_on_time_in_degree_days() -> None:
    """Past fields collapsed at day 170 of a 20 °C season (1,700 GDD). In a 25 °C season a crop that matures
    on the same thermal time collapses at day ~115: a failure in calendar days, on time in GDD; a field
    collapsing at day 70 fails either way."""
    past, crops = _past()
    past = past.copy()
    past.loc[pd.to_datetime(past["date"]) >= pd.Timestamp(date(2023, 4, 1)) + pd.Timedelta(days=170), "mean"] = 0.2
    obs = clear_ndvi(past)
    starts = {"2023": date(2023, 4, 1)}
    clock = ThermalClock(_weather(20.0, 25.0))
    bands, em = expected_bands(obs, crops, starts), expected_emergence_days(obs, crops, starts)
    in_days = expected_timing(obs, crops, starts)
    in_gdd = expected_timing(obs, crops, starts, clock=clock)
    assert in_days["unit"].iloc[0] == "days" and in_gdd["unit"].iloc[0] == "gdd"
    assert 1650 <= in_gdd["collapse_p50"].iloc[0] <= 1750  # ~170 days x 10 GDD
    days = np.arange(0, 200, 5)
    warm = _curve(days, centre=75, width=20)
    warm[days >= 115] = 0.2
    failing = _curve(days, centre=75, width=20)
    failing[days >= 70] = 0.2
    cur = pd.concat([_series("warm", "2024", days, warm), _series("fail", "2024", days, failing)])
    fields = pd.DataFrame({"field_id": ["warm", "fail"], "season": "2024", "crop": "maize", "region": "r"})
    as_of = date(2024, 10, 15)
    by_days = detect_alerts(clear_ndvi(cur), fields, bands, as_of, START, em, timing=in_days)
    by_gdd = detect_alerts(clear_ndvi(cur), fields, bands, as_of, START, em, timing=in_gdd, clock=clock)
    failures = {k: set(a.loc[a["alert"] == "CROP_FAILURE", "field_id"]) for k, a in (("d", by_days), ("g", by_gdd))}
    assert failures == {"d": {"warm", "fail"}, "g": {"fail"}}
    ev = json.loads(by_gdd[by_gdd["alert"] == "CROP_FAILURE"]["evidence"].iloc[0])
    assert ev["timing_unit"] == "gdd" and ev["collapse_gdd"] == 70 * 15 and ev["failure_before_gdd"] > 1050


def test_candidate_features_place_a_fall_in_thermal_time() -> None:
    """With a timing table in growing degree days and the region's clock, a candidate's share of the usual
    green-up-to-collapse duration and its day against the usual collapse are in GDD (10 a day at 20 °C for maize),
    whether the field's own history comes from its peer rows or from every clear observation (``obs``)."""
    from pipelines._monitor_peers import candidate_features

    d = pd.to_datetime(["2023-05-01", "2023-05-21", "2023-05-26", "2023-05-31"])
    obs = pd.DataFrame({"field_id": "a", "date": d, "ndvi": [0.15, 0.7, 0.75, 0.2]})
    peers = pd.DataFrame({"field_id": "a", "date": d[1:], "ndvi": [0.7, 0.75, 0.2], "peer_ndvi": 0.7,
                          "next_peer_ndvi": 0.7, "next_ndvi": [0.75, 0.2, np.nan], "next_date": [d[2], d[3], pd.NaT]})
    crops = pd.DataFrame({"field_id": ["a"], "crop": ["maize"]})
    timing = pd.DataFrame({"crop": ["maize"], "duration_p50": [300.0], "collapse_p50": [500.0], "unit": ["gdd"]})
    clock = ThermalClock(_weather(20.0, 20.0))
    start = pd.Timestamp("2023-05-01")
    got = candidate_features(peers, crops, start, timing, clock=clock, region="r", obs=obs)
    # green-up the day after the bare observation of 1 May: 2 May; the fall on 31 May is 290 GDD after it
    assert got["greenup_rel"].round(4).tolist() == [round(190 / 300, 4), round(240 / 300, 4), round(290 / 300, 4)]
    assert got["day_rel"].tolist() == [200.0 - 500.0, 250.0 - 500.0, 300.0 - 500.0]
    rows_only = candidate_features(peers, crops, start, timing, clock=clock, region="r")
    assert rows_only["day_rel"].tolist() == got["day_rel"].tolist() and rows_only["greenup_rel"].isna().all()


def test_the_clock_holds_the_tables_first_and_last_days_and_nothing_beyond() -> None:
    """Cumulative GDD counts the table's first day (10 on 2023-01-01 at 20 °C, base 10) through its last (every day of
    a common 2023 at 10 and a leap 2024 at 15); the day before the first and the day after the last are NaN, not an
    error or a neighbour's sum."""
    clock = ThermalClock(_weather(20.0, 25.0))
    assert clock.gdd("r", "maize", ["2023-01-01", "2024-12-31"]).tolist() == [10.0, 365 * 10.0 + 366 * 15.0]
    assert np.isnan(clock.gdd("r", "maize", ["2022-12-31", "2025-01-01"])).all()
