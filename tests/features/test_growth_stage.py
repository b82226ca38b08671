"""Phenology, growth stage, crop calendars and calibration (features/growth_stage.py, _phenology_calib.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contracts import GROWTH_STAGES
from features.errors import ContractError
from features.growth_stage import (
    PHENOLOGY_COLUMNS,
    Calibration,
    CalibrationError,
    CropCalib,
    calendar_dates,
    calibrate,
    load_calendars,
    phenology,
    stage_from_dates,
)
from features.timeseries import smooth_series
from tests.features.test_timeseries import make_series

#: in the synthetic curves (tests/features/test_timeseries.py) emergence is 25 days before the green-up
#: midpoint and maturity 20 days after the senescence midpoint; harvest 10 days later
EM_BEFORE_UP, MAT_AFTER_DOWN, HARVEST_LAG, SOW_LAG = 25, 20, 10, 5
REGION = "test-region"


def _calendar() -> pd.DataFrame:
    # season-year day of year: T0 = 1 March (doy 60); green-up midpoints 70-100 days later
    ev = {"sowing": 115, "emergence": 120, "flowering": 175, "maturity": 270, "harvest": 280}
    return pd.DataFrame([(REGION, "maize", e, d, 10, 0) for e, d in ev.items()],
                        columns=["region", "crop", "event", "doy_median", "doy_spread", "year_offset"])


def _season(season: str, seed: int, n: int = 40) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    t0 = pd.Timestamp(f"{season}-03-01")
    s, truth = make_series(n_fields=n, seed=seed, season=season, t0=t0, n_days=330)
    truth["emergence"] = t0 + pd.to_timedelta(np.round(truth["up"] - EM_BEFORE_UP), unit="D")
    truth["maturity"] = t0 + pd.to_timedelta(np.round(truth["down"] + MAT_AFTER_DOWN), unit="D")
    truth["harvest"] = truth["maturity"] + pd.Timedelta(days=HARVEST_LAG)
    return s, truth, t0


@pytest.fixture(scope="module")
def calib() -> Calibration:
    sm, dec = [], []
    for season, seed in (("2016", 11), ("2017", 12)):
        s, truth, _ = _season(season, seed)
        sm.append(smooth_series(s, grid_days=5))
        rng = np.random.default_rng(seed)
        jit = rng.integers(-3, 4, size=(len(truth), 2))
        dec.append(pd.DataFrame({"field_id": truth["field_id"], "season": season,
                                 "sowing_date": truth["emergence"] - pd.Timedelta(days=SOW_LAG)
                                 + pd.to_timedelta(jit[:, 0], unit="D"),
                                 "harvest_date": truth["harvest"] + pd.to_timedelta(jit[:, 1], unit="D"),
                                 "declared_crop": "maize"}))
    d = pd.concat(dec, ignore_index=True)
    return calibrate(pd.concat(sm, ignore_index=True), d, d[["field_id", "season", "declared_crop"]], REGION,
                     calendars=_calendar())


def test_shipped_calendars_are_valid() -> None:
    cal = load_calendars()
    got = {(r, c) for r, c in cal[["region", "crop"]].itertuples(index=False)}
    for crop in ("maize", "soybean", "winter_wheat", "sorghum"):
        assert ("us-nebraska", crop) in got
    for crop in ("rice", "maize", "cotton"):
        assert ("in-smallholder", crop) in got
    ww = calendar_dates(cal, "us-nebraska", "2019").loc["winter_wheat"]
    assert ww["sowing"].year == 2018 and ww["harvest"].month == 7
    cot = calendar_dates(cal, "in-smallholder", "2009").loc["cotton"]
    assert cot["sowing"].month == 7 and cot["harvest"] > pd.Timestamp("2009-12-01")


def test_bad_calendar_is_refused(tmp_path: Path) -> None:
    bad = _calendar()
    bad.loc[bad["event"] == "maturity", "doy_median"] = 100      # maturity before emergence
    p = tmp_path / "cal.csv"
    bad.to_csv(p, index=False)
    with pytest.raises(ContractError, match="calendar order"):
        load_calendars(p)
    bad = _calendar()[lambda d: d["event"] != "harvest"]
    bad.to_csv(p, index=False)
    with pytest.raises(ContractError, match="harvest"):
        load_calendars(p)


def test_calibration_fits_offsets(calib: Calibration) -> None:
    c = calib.crops["maize"]
    assert c.n_emergence >= 60 and c.n_maturity >= 60
    assert c.em_mad_days is not None and c.em_mad_days < 4
    assert c.mat_mad_days is not None and c.mat_mad_days < 4


def test_calibration_json_round_trip(calib: Calibration, tmp_path: Path) -> None:
    p = calib.save(tmp_path / "calib.json")
    back = Calibration.load(p)
    assert back == calib
    p.write_text("{\"region\": 1}")
    with pytest.raises(CalibrationError, match="not a phenology calibration"):
        Calibration.load(p)


def test_dates_found_within_a_few_days(calib: Calibration) -> None:
    s, truth, _ = _season("2018", 13, n=60)
    as_of = date(2019, 1, 20)
    ph = phenology(smooth_series(s, grid_days=5, as_of=as_of), _calendar(), pd.Series("maize", index=truth["field_id"]),
                   REGION, as_of, calib)
    assert list(ph.columns) == list(PHENOLOGY_COLUMNS)
    j = ph.merge(truth, on="field_id")
    em = (j["emergence_date"] - j["emergence"]).dt.days.abs()
    mat = (j["maturity_date"] - j["maturity"]).dt.days.abs()
    harv = (j["harvest_date"] - j["harvest"]).dt.days.abs()
    assert em.notna().all() and mat.notna().all()
    assert em.mean() < 4 and mat.mean() < 4 and harv.mean() < 5
    assert (j["growth_stage"] == "harvested").all()
    assert (j["sos_date"] < j["peak_date"]).all() and (j["peak_date"] < j["eos_date"]).all()
    assert (j["greenup_rate"] > 0).all() and (j["senescence_rate"] > 0).all()
    # uncalibrated defaults are worse than calibrated on emergence
    un = phenology(smooth_series(s, grid_days=5, as_of=as_of), _calendar(), pd.Series("maize", index=truth["field_id"]),
                   REGION, as_of, None).merge(truth, on="field_id")
    assert (un["emergence_date"] - un["emergence"]).dt.days.abs().mean() > em.mean()


def test_stage_sequence_is_monotone_and_as_of_honest(calib: Calibration) -> None:
    s, truth, _ = _season("2018", 14, n=25)
    crops = pd.Series("maize", index=truth["field_id"])
    order = {st: i for i, st in enumerate(GROWTH_STAGES)}
    prev = None
    seen = set()
    for as_of in pd.date_range("2018-04-01", "2019-01-10", freq="21D").date:
        sm = smooth_series(s, grid_days=5, as_of=as_of)
        ph = phenology(sm, _calendar(), crops, REGION, as_of, calib).set_index("field_id")
        # as-of honesty: the same result when later observations do not exist at all
        cut = s[s["date"] <= pd.Timestamp(as_of)]
        ph_cut = phenology(smooth_series(cut, grid_days=5, as_of=as_of), _calendar(), crops, REGION, as_of,
                           calib).set_index("field_id")
        pd.testing.assert_frame_equal(ph, ph_cut)
        assert ph["harvest_date"].dropna().le(pd.Timestamp(as_of)).all()
        idx = ph["growth_stage"].map(order)
        seen |= set(ph["growth_stage"])
        if prev is not None:
            assert (idx >= prev.reindex(idx.index)).all()
        prev = idx
    assert {"not_sown", "vegetative", "reproductive", "maturing", "harvested"} <= seen


def test_fallow_and_unknown_crop() -> None:
    s, truth, _ = _season("2018", 15, n=4)
    flat = s.copy()
    flat["field_id"] = flat["field_id"] + "_fallow"
    flat["mean"] = 0.18 + 0.01 * np.sin(np.arange(len(flat)))
    both = pd.concat([s, flat], ignore_index=True)
    as_of = date(2018, 12, 1)
    crops = pd.Series(["maize"] * 4 + [None] * 4, index=list(truth["field_id"]) + list(truth["field_id"] + "_fallow"))
    ph = phenology(smooth_series(both, grid_days=5, as_of=as_of), _calendar(), crops, REGION, as_of, None)
    fallow = ph[ph["field_id"].str.endswith("_fallow")]
    assert (fallow["growth_stage"] == "not_sown").all()
    assert fallow["emergence_date"].isna().all() and fallow["expected_harvest_date"].notna().all()
    assert len(ph) == 8


def test_stage_from_dates_rules() -> None:
    e, f, m, h = (np.datetime64(d, "ns") for d in ("2018-05-01", "2018-07-01", "2018-09-01", "2018-09-20"))
    days = ["2018-04-01", "2018-05-05", "2018-06-15", "2018-07-10", "2018-08-20", "2018-09-10", "2018-10-01"]
    got = [stage_from_dates(np.datetime64(d, "ns"), [e], [f], [m], [h])[0] for d in days]
    assert got == ["not_sown", "emerged", "vegetative", "reproductive", "maturing", "maturing", "harvested"]
    assert stage_from_dates(np.datetime64("2018-06-01", "ns"), [np.datetime64("NaT")], [f], [m], [h])[0] == "not_sown"


def test_default_calib_is_used_for_unfitted_crop() -> None:
    c = Calibration(region=REGION, crops={"maize": CropCalib(em_threshold=0.3)})
    assert c.get("cotton") == CropCalib() and c.get("maize").em_threshold == 0.3


def test_emergence_threshold_whose_crossing_precedes_the_target_is_not_a_candidate() -> None:
    """A low threshold crossed two weeks before the declared-sowing target (a paddy's water drying off) fits
    tightly, but phenology never puts emergence after the crossing, so its +14-day offset would be lost: the
    emergence fit takes the best threshold crossed at or after the target, and all of them when none is."""
    from features._phenology_calib import EMERGENCE_MAX_OFFSET, _fit

    rng = np.random.default_rng(3)
    target = 100.0 + rng.normal(0, 5, 200)
    early = target - 14.0 + rng.normal(0, 1, 200)      # tight, but before the target
    canopy = target + 2.0 + rng.normal(0, 3, 200)      # looser, after it
    crossings = {0.2: early, 0.5: canopy}
    assert _fit(target, crossings)[:2] == (0.2, pytest.approx(14.0, abs=0.5))        # the old choice
    thr, off, mad, n = _fit(target, crossings, EMERGENCE_MAX_OFFSET)
    assert thr == 0.5 and off <= 0 and n == 200 and mad > 1
    # none crossed after the target: every threshold stays a candidate
    assert _fit(target, {0.2: early, 0.3: early - 3.0}, EMERGENCE_MAX_OFFSET)[0] in (0.2, 0.3)


def test_harvested_only_once_the_harvest_is_seen(calib: Calibration) -> None:
    """A field whose canopy was last seen green (clouds since its peak) was "harvested" as soon as its projected
    harvest passed, with no harvest_date (15 of 146 "harvested" demo fields, one peaking three days before the
    date): now it is "maturing" until the fall is seen; a field seen to fall is "harvested" with its date."""
    s, truth, _ = _season("2018", 14, n=10)
    as_of = pd.Timestamp("2019-01-10")
    peak = truth.set_index("field_id")["up"].add(truth.set_index("field_id")["down"]).div(2)
    t0 = pd.Timestamp("2018-03-01")
    hidden = s["field_id"].eq("F0000") & (s["date"] > t0 + pd.Timedelta(days=float(peak["F0000"])))
    crops = pd.Series("maize", index=truth["field_id"])
    ph = phenology(smooth_series(s[~hidden], grid_days=5, as_of=as_of.date()), _calendar(), crops, REGION,
                   as_of.date(), calib).set_index("field_id")
    assert pd.isna(ph.loc["F0000", "harvest_date"]) and ph.loc["F0000", "expected_harvest_date"] < as_of
    assert ph.loc["F0000", "growth_stage"] == "maturing"
    seen = ph.drop(index="F0000")
    assert (seen["growth_stage"] == "harvested").all() and seen["harvest_date"].notna().all()
    assert ((ph["growth_stage"] == "harvested") <= ph["harvest_date"].notna()).all()


def _winter_wheat_curve(as_of: date, autumn: float = 0.45) -> pd.DataFrame:
    """A winter wheat field's smoothed NDVI on a 5-day grid from 15 September: bare soil, autumn green-up to 0.45 by
    late November, browning down over the winter (dormancy) to 0.22, spring green-up to 0.85 by late May, maturity
    and harvest in July."""
    days = pd.date_range("2017-09-15", pd.Timestamp(as_of), freq="5D").as_unit("ns")
    knots = pd.DatetimeIndex(["2017-09-15", "2017-10-05", "2017-11-20", "2018-01-10", "2018-03-10", "2018-05-25",
                            "2018-06-20", "2018-07-20", "2018-09-30"]).as_unit("ns")
    vals = [0.15, 0.15, autumn, 0.22, 0.24, 0.85, 0.82, 0.20, 0.18]
    x = days.asi8.astype(float)
    v = np.interp(x, knots.asi8.astype(float), vals)
    return pd.DataFrame({"field_id": "w", "season": "2018", "date": days, "value": v, "observed": True})


def test_winter_wheat_dormancy_is_not_its_maturity() -> None:
    """An overwintering crop browns down after its autumn growth: the fall from the autumn peak was taken for maturity
    and the harvest its calendar lag later (us-nebraska demo, F0056 as of 2018-01-15 and 02-15: winter wheat
    "harvested", expected harvest 2018-01-12 — a line on it would mature in March, before the July harvest; with
    the calibrated peak→maturity days the expected harvest was still 05-18). Maturity is looked for from the
    calendar's flowering − 3 spreads on, and an autumn peak before that day is not the season's."""
    cal = load_calendars()
    crops = pd.Series({"w": "winter_wheat"})
    for day in (date(2018, 1, 15), date(2018, 2, 15), date(2018, 3, 15)):
        r = phenology(_winter_wheat_curve(day), cal, crops, "us-nebraska", day).iloc[0]
        assert r["growth_stage"] not in ("maturing", "harvested"), (day, r["growth_stage"])
        assert pd.isna(r["maturity_date"]) and pd.isna(r["harvest_date"])
        assert r["expected_harvest_date"] >= pd.Timestamp("2018-06-15"), (day, r["expected_harvest_date"])
    # the summer's maturity is still found, and a spring crop's is not held back (it starts at its peak)
    day = date(2018, 8, 15)
    r = phenology(_winter_wheat_curve(day), cal, crops, "us-nebraska", day).iloc[0]
    assert pd.Timestamp("2018-06-25") <= r["maturity_date"] <= pd.Timestamp("2018-07-20")
    assert r["growth_stage"] == "harvested"
    # lush autumn growth above the spring peak: once the curve is in its maturity window the season's peak is the
    # spring one (it was dated in November, so the crop was never "past the peak" and its peak date fed the yield model)
    for day in (date(2018, 6, 10), date(2018, 8, 15)):
        r = phenology(_winter_wheat_curve(day, autumn=0.90), cal, crops, "us-nebraska", day).iloc[0]
        assert pd.Timestamp("2018-05-01") <= r["peak_date"] <= pd.Timestamp("2018-06-10"), (day, r["peak_date"])
    assert r["growth_stage"] == "harvested" and pd.Timestamp("2018-06-25") <= r["maturity_date"]
