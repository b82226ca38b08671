"""Thermal time in phenology: the projection that reads nothing after the as-of date, the calibration's
degree-day durations, and an expected maturity that comes earlier in a warm season (features/thermal.py,
features/_phenology_calib.py, features/growth_stage.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features._crop_persist import restore_state
from features.contracts import GROWTH_STAGES
from features.growth_stage import Calibration, calibrate, phenology
from features.thermal import ThermalClock
from features.timeseries import smooth_series
from tests.crop_stub import FittedStub, saved_and_restored
from tests.features.test_growth_stage import HARVEST_LAG, REGION, SOW_LAG, _calendar, _season


def _weather(means: dict[int, float], region: str = REGION) -> pd.DataFrame:
    days = pd.date_range(f"{min(means)}-01-01", f"{max(means)}-12-31", freq="D")
    mean = np.array([means[d.year] for d in days])
    return pd.DataFrame({"region": region, "date": days, "tmin_c": mean - 4.0, "tmax_c": mean + 4.0,
                         "precip_mm": 0.0, "et0_mm": 3.0})


def test_projection_observed_then_normal_and_blind_after_the_cutoff() -> None:
    wx = _weather({2016: 20.0, 2017: 24.0, 2018: 25.0})  # 10, 14 and 15 degree days a day (base 10)
    clock = ThermalClock(wx)
    cum = clock.projected(REGION, "maize", "2018-06-01", 20, cutoff="2018-06-10")
    # observed through the cut-off (day 0 counts nothing), then the mean of the earlier years' same days (12 a day)
    assert cum[:10].tolist() == [15.0 * i for i in range(10)]
    assert cum[10:].tolist() == pytest.approx([135.0 + 12.0 * i for i in range(1, 11)])
    hotter_later = wx.assign(tmax_c=np.where(wx["date"] > "2018-06-10", 45.0, wx["tmax_c"]))
    assert np.array_equal(ThermalClock(hotter_later).projected(REGION, "maize", "2018-06-01", 20,
                                                               cutoff="2018-06-10"), cum)
    assert np.isnan(clock.projected("elsewhere", "maize", "2018-06-01", 5)).all()
    # no cut-off: the whole table; beyond it, the normal of every year
    full = clock.projected(REGION, "maize", "2018-12-30", 4)
    assert full.tolist() == pytest.approx([0.0, 15.0, 28.0, 41.0])


@pytest.fixture(scope="module")
def past() -> tuple[pd.DataFrame, pd.DataFrame]:
    sm, dec = [], []
    for season, seed in (("2016", 11), ("2017", 12)):
        s, truth, _ = _season(season, seed)
        sm.append(smooth_series(s, grid_days=5))
        dec.append(pd.DataFrame({"field_id": truth["field_id"], "season": season,
                                 "sowing_date": truth["emergence"] - pd.Timedelta(days=SOW_LAG),
                                 "harvest_date": truth["harvest"], "declared_crop": "maize"}))
    return pd.concat(sm, ignore_index=True), pd.concat(dec, ignore_index=True)


def test_calibration_fits_degree_day_durations(past: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sm, d = past
    plain = calibrate(sm, d, d[["field_id", "season", "declared_crop"]], REGION, calendars=_calendar())
    assert plain.crops["maize"].em_to_mat_gdd is None and plain.crops["maize"].peak_to_mat_gdd is None
    warm = calibrate(sm, d, d[["field_id", "season", "declared_crop"]], REGION, calendars=_calendar(),
                     weather=_weather({2016: 20.0, 2017: 20.0, 2018: 20.0}))
    c = warm.crops["maize"]
    assert c.em_to_mat_days is not None and c.em_to_mat_gdd == pytest.approx(10.0 * c.em_to_mat_days, abs=10.0)
    assert c.peak_to_mat_gdd is None and c.peak_to_mat_days is None  # no longer fitted (RULE7q)
    assert Calibration.from_json(warm.to_json()) == warm
    # a calibration saved before the thermal durations existed still loads (durations in days)
    old = json.loads(plain.to_json())
    for v in old["crops"].values():
        v.pop("em_to_mat_gdd"), v.pop("peak_to_mat_gdd")
    assert Calibration.from_json(json.dumps(old)).crops["maize"].em_to_mat_gdd is None


def test_warm_season_matures_earlier_and_only_observed_weather_counts(past: tuple[pd.DataFrame, pd.DataFrame]
                                                                      ) -> None:
    sm_past, d = past
    cal = calibrate(sm_past, d, d[["field_id", "season", "declared_crop"]], REGION, calendars=_calendar(),
                    weather=_weather({2016: 20.0, 2017: 20.0, 2018: 20.0}))
    s, truth, _ = _season("2018", 14, n=30)
    crops = pd.Series("maize", index=truth["field_id"])
    order = {st: i for i, st in enumerate(GROWTH_STAGES)}
    moved = 0
    for as_of in pd.date_range("2018-06-15", "2018-10-15", freq="10D").date:
        sm = smooth_series(s, grid_days=5, as_of=as_of)

        def run(mean_2018: float, after: float | None = None, as_of: date = as_of,
                sm: pd.DataFrame = sm) -> pd.DataFrame:
            wx = _weather({2016: 20.0, 2017: 20.0, 2018: mean_2018})
            if after is not None:  # the weather after the as-of date must not matter
                late = wx["date"] > pd.Timestamp(as_of)
                wx.loc[late, ["tmin_c", "tmax_c"]] = [after - 4.0, after + 4.0]
            return phenology(sm, _calendar(), crops, REGION, as_of, cal, weather=wx).set_index("field_id")

        normal, hot = run(20.0), run(26.0)
        pd.testing.assert_frame_equal(hot, run(26.0, after=5.0))
        days = phenology(sm, _calendar(), crops, REGION, as_of, cal).set_index("field_id")
        # a normal season in degree days is (about) the days-based answer; a hot one is never behind it
        assert (normal["growth_stage"] == days["growth_stage"]).mean() >= 0.9
        hi, lo = hot["growth_stage"].map(order), normal["growth_stage"].map(order)
        assert (hi >= lo).all()
        moved += int((hi > lo).sum())
        # only the stage moves: observed dates are the detector's
        pd.testing.assert_series_equal(hot["emergence_date"], normal["emergence_date"])
    assert moved > 0


def test_crop_model_folder_carries_the_calibration(past: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    sm, d = past
    cal = calibrate(sm, d, d[["field_id", "season", "declared_crop"]], REGION, calendars=_calendar(),
                    weather=_weather({2016: 20.0, 2017: 20.0}))

    meta, back = saved_and_restored(FittedStub(phenology_calibration_={REGION: cal}))
    assert back.phenology_calibration_ == {REGION: cal}
    meta.pop("phenology_calibration")  # a folder saved before: no calibration
    restore_state(back, meta)
    assert back.phenology_calibration_ == {}
    assert HARVEST_LAG > 0


def test_maturity_past_the_peak_follows_emergence_unless_an_earlier_calibration_carries_peak_lags(
        past: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """A maturity not yet seen is dated from emergence (+ the calibrated duration); the peak + a peak→maturity lag
    dated it once the curve had fallen past its peak, but a broad canopy's peak moves with the season (the
    us-nebraska demo's maize at its pre-harvest checkpoint: 29 days late in median). Calibrations fitted now carry no
    peak lag; one saved by an earlier release (its model version) still uses its lags, so that version scores as
    it did."""
    from dataclasses import replace

    sm_past, d = past
    cal = calibrate(sm_past, d, d[["field_id", "season", "declared_crop"]], REGION, calendars=_calendar())
    s, truth, _ = _season("2018", 14, n=30)
    crops = pd.Series("maize", index=truth["field_id"])
    as_of = (truth["emergence"].median() + pd.Timedelta(days=120)).date()  # past the peak, before maturity
    sm = smooth_series(s, grid_days=5, as_of=as_of)
    now = phenology(sm, _calendar(), crops, REGION, as_of, cal).set_index("field_id")
    em = pd.to_datetime(now["emergence_date"])
    unseen = now["maturity_date"].isna() & em.notna()
    assert unseen.sum() >= 5
    dur = cal.crops["maize"].em_to_mat_days
    lag = (pd.to_datetime(now["expected_harvest_date"]) - em)[unseen].dt.days
    assert dur is not None and lag.max() >= dur  # emergence + duration + the calendar's maturity→harvest lag
    old = Calibration(region=cal.region, seasons=cal.seasons,
                      crops={"maize": replace(cal.crops["maize"], peak_to_mat_days=5.0)})
    before = phenology(sm, _calendar(), crops, REGION, as_of, old).set_index("field_id")
    moved = (pd.to_datetime(before["expected_harvest_date"]) != pd.to_datetime(now["expected_harvest_date"]))[unseen]
    assert moved.any()  # an earlier release's calibration: the peak + its lag, as it scored
    # now those fields' expected harvest is emergence + the duration (+ the lag), wherever their peak fell (a field
    # whose decline has crossed the maturity threshold is dated from that crossing either way)
    assert (lag[moved[moved].index] == lag.max()).all()


def test_a_projection_observes_the_tables_first_and_last_days() -> None:
    """Element 0 (the start day) counts nothing; from the day before the table, element 1 is the table's first day
    (10 a day in 2016), not NaN; with the cut-off on the table's last day (the as-of day's weather in hand) that day
    is observed (15 in 2018), not replaced by the earlier years' normal (12)."""
    clock = ThermalClock(_weather({2016: 20.0, 2017: 24.0, 2018: 25.0}))
    assert clock.projected(REGION, "maize", "2015-12-31", 3).tolist() == [0.0, 10.0, 20.0]
    assert clock.projected(REGION, "maize", "2018-12-30", 2, cutoff="2018-12-31").tolist() == [0.0, 15.0]
    after = clock.projected(REGION, "maize", "2018-12-30", 3, cutoff="2019-03-01")  # then 01-01's normal: 13
    assert after.tolist() == pytest.approx([0.0, 15.0, 28.0])


def test_the_normal_ahead_includes_the_cutoff_days_own_year() -> None:
    """A day a year after the cut-off is projected from the mean of its calendar day over the table's days up to and
    including the cut-off: 06-10 of 2016, 2017 and 2018 (10, 14 and 15 a day), 13 — not 12 without the cut-off day."""
    clock = ThermalClock(_weather({2016: 20.0, 2017: 24.0, 2018: 25.0}))
    assert clock.projected(REGION, "maize", "2019-06-09", 2, cutoff="2018-06-10").tolist() == pytest.approx([0.0, 13.0])
