"""Emergence under cloud gaps: the gap length around a crossing and the fusion with the declared-dates prior."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.growth_stage import Calibration, _gap_days, phenology
from features.timeseries import smooth_series
from tests.features.test_growth_stage import (
    REGION,
    _calendar,
    _season,
    calib,  # noqa: F401  (module fixture)
)


def test_gap_days_measures_the_gap_around_a_time() -> None:
    obs = np.zeros((3, 12), dtype=bool)
    obs[0, [0, 2, 4, 6, 8, 10]] = True       # every other grid date
    obs[1, [0, 1, 9, 10]] = True             # a long gap from 1 to 9
    obs[2, [3]] = True                       # one observation only
    tdays = np.arange(12) * 5.0
    t = np.array([22.0, 22.0, np.nan])
    got = _gap_days(obs, tdays, t)
    assert got[0] == pytest.approx(10.0)     # grid 4 (20 d) to grid 6 (30 d)
    assert got[1] == pytest.approx(40.0)     # grid 1 (5 d) to grid 9 (45 d)
    assert np.isnan(got[2])
    # a time on an observed date has no gap
    assert _gap_days(obs, tdays, np.array([20.0, 5.0, 15.0])).tolist() == [0.0, 0.0, 0.0]


def test_calibration_carries_the_emergence_prior(calib: Calibration) -> None:  # noqa: F811
    c = calib.crops["maize"]
    assert c.em_prior_shift_days is not None and c.em_prior_sd_days is not None
    # the synthetic emergences spread over ~30 days: the prior is wide, not a point
    assert 4.0 < c.em_prior_sd_days < 20.0


def _mae(ph: pd.DataFrame, truth: pd.DataFrame, ids: pd.Index) -> float:
    j = ph.merge(truth, on="field_id")
    j = j[j["field_id"].isin(ids)]
    return float((j["emergence_date"] - j["emergence"]).dt.days.abs().mean())


def test_long_gap_leans_on_the_prior_and_dense_data_do_not(calib: Calibration) -> None:  # noqa: F811
    s, truth, t0 = _season("2018", 21, n=60)
    # half the fields lose every observation in the 40 days before their green-up midpoint
    gap_ids = truth["field_id"].iloc[::2]
    up = s["field_id"].map(truth.set_index("field_id")["up"])
    day = (s["date"] - t0).dt.days
    cut = s["field_id"].isin(gap_ids) & (day > up - 40) & (day < up)
    s = s[~cut.to_numpy()]
    as_of = date(2019, 1, 20)
    sm = smooth_series(s, grid_days=5, as_of=as_of)
    crops = pd.Series("maize", index=truth["field_id"])
    fused = phenology(sm, _calendar(), crops, REGION, as_of, calib)
    plain_calib = Calibration(region=calib.region, seasons=calib.seasons, crops={
        k: dataclasses.replace(v, em_prior_sd_days=None) for k, v in calib.crops.items()})
    plain = phenology(sm, _calendar(), crops, REGION, as_of, plain_calib)
    dense_ids = pd.Index(truth["field_id"]).difference(pd.Index(gap_ids))
    # fields seen through their green-up barely move ...
    j = fused.merge(plain, on="field_id", suffixes=("", "_plain"))
    j = j[j["field_id"].isin(dense_ids)]
    assert (j["emergence_date"] - j["emergence_date_plain"]).dt.days.abs().mean() < 2.0
    # ... fields whose rise was interpolated across the gap move towards the declared-dates prior
    prior = pd.Timestamp("2018-04-30") + pd.Timedelta(days=calib.crops["maize"].em_prior_shift_days or 0.0)
    g = fused.merge(plain, on="field_id", suffixes=("", "_plain"))
    g = g[g["field_id"].isin(gap_ids)]
    moved = (g["emergence_date"] - g["emergence_date_plain"]).dt.days.abs()
    assert moved.mean() > 2.0 * (j["emergence_date"] - j["emergence_date_plain"]).dt.days.abs().mean()
    to_prior = (g["emergence_date"] - prior).dt.days.abs() <= (g["emergence_date_plain"] - prior).dt.days.abs()
    assert to_prior.all()
    # the accuracy stays of the same order (the synthetic prior is wide: emergences spread over 30 days)
    assert _mae(fused, truth, pd.Index(gap_ids)) < 7.0
    # and the fused emergence is never after the crossing that revealed it
    assert fused["emergence_date"].notna().all()
    crossing = plain["emergence_date"] - pd.Timedelta(days=calib.crops["maize"].em_offset_days)
    assert (fused["emergence_date"] <= crossing + pd.Timedelta(days=1)).all()
