"""Cleaning, gap filling and smoothing of FieldTimeSeries (features/timeseries.py)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features._smooth_scene import scene_offsets
from features.errors import ContractError
from features.timeseries import smooth_series, whittaker

T0 = pd.Timestamp("2018-03-01")


def double_logistic(t: np.ndarray, up: float, down: float, base: float = 0.15, peak: float = 0.85,
                    k_up: float = 0.12, k_down: float = 0.10) -> np.ndarray:
    """NDVI on days ``t`` (since T0): green-up centred on ``up``, senescence centred on ``down``."""
    return base + (peak - base) * (1 / (1 + np.exp(-k_up * (t - up))) - 1 / (1 + np.exp(-k_down * (t - down))))


def make_series(n_fields: int = 40, seed: int = 0, *, step: int = 5, n_days: int = 300, cloud: float = 0.3,
                spikes: float = 0.08, noise: float = 0.02, season: str = "2018",
                t0: pd.Timestamp = T0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A FieldTimeSeries of double-logistic NDVI with noise, cloudy dropouts and negative spikes, and the
    per-field truth (field_id, up, down: days since T0 of the green-up and senescence midpoints)."""
    rng = np.random.default_rng(seed)
    days = np.arange(0, n_days, step)
    rows = []
    truth = []
    for i in range(n_fields):
        fid = f"F{i:04d}"
        up = float(rng.uniform(70, 100))
        down = float(up + rng.uniform(90, 120))
        truth.append((fid, up, down))
        y = double_logistic(days, up, down) + rng.normal(0, noise, len(days))
        clear_share = np.where(rng.random(len(days)) < cloud, rng.uniform(0.0, 0.2, len(days)), 1.0)
        y = np.where(clear_share < 0.3, rng.uniform(-0.1, 0.3, len(days)), y)       # cloudy rows: garbage
        spike = (rng.random(len(days)) < spikes) & (clear_share >= 0.3)
        y = np.where(spike, y - rng.uniform(0.25, 0.45, len(days)), y)             # undetected shadows/haze
        npx = 100
        for d, v, c in zip(days, y, clear_share, strict=True):
            rows.append((fid, season, t0 + pd.Timedelta(days=int(d)), "NDVI", float(v), 0.05, v, v, v, npx,
                         int(round(c * npx))))
    s = pd.DataFrame(rows, columns=["field_id", "season", "date", "variable", "mean", "std", "p10", "p50", "p90",
                                    "n_pixels", "n_clear"])
    return s, pd.DataFrame(truth, columns=["field_id", "up", "down"])


def _truth_on(sm: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    t = (sm["date"] - T0).dt.days.to_numpy()
    tr = truth.set_index("field_id").loc[sm["field_id"]]
    return double_logistic(t, tr["up"].to_numpy(), tr["down"].to_numpy())


def test_whittaker_matches_dense_solve() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(3, 30))
    w = (rng.random((3, 30)) > 0.3).astype(float)
    lam = 7.0
    z = whittaker(y, w, lam)
    d = np.diff(np.eye(30), n=2, axis=0)
    for i in range(3):
        a = np.diag(w[i]) + lam * d.T @ d
        ref = np.linalg.solve(a, w[i] * y[i])
        assert np.allclose(z[i], ref, atol=1e-8)


def test_smooth_recovers_curve_through_clouds_and_spikes() -> None:
    s, truth = make_series()
    sm = smooth_series(s, grid_days=1)
    assert list(sm.columns) == ["field_id", "season", "date", "value", "observed"]
    err = sm["value"].to_numpy() - _truth_on(sm, truth)
    inner = sm[(sm["date"] > T0 + pd.Timedelta(days=10)) & (sm["date"] < T0 + pd.Timedelta(days=285))]
    rmse = float(np.sqrt(np.mean(err[inner.index] ** 2)))
    assert rmse < 0.04
    # without the spike screen and envelope the shadows pull the curve down
    raw = smooth_series(s, grid_days=1, envelope=None)
    err_raw = raw["value"].to_numpy() - _truth_on(raw, truth)
    assert float(np.sqrt(np.mean(err_raw[inner.index] ** 2))) > rmse * 1.3


def test_cloudy_rows_are_not_used() -> None:
    s, _ = make_series(n_fields=5, spikes=0.0)
    cloudy = s["n_clear"] < 0.3 * s["n_pixels"]
    assert cloudy.any()
    a = smooth_series(s, grid_days=5)
    s2 = s.copy()
    s2.loc[cloudy, "mean"] = -0.9   # only cloudy rows change
    b = smooth_series(s2, grid_days=5)
    pd.testing.assert_frame_equal(a, b)
    obs = a.merge(s[~cloudy][["field_id", "date"]].assign(hit=True), on=["field_id", "date"], how="left")
    assert (obs["observed"] == obs["hit"].fillna(False).astype(bool)).all()


def test_grid_five_days_and_regular() -> None:
    s, _ = make_series(n_fields=3)
    sm = smooth_series(s, grid_days=5)
    for _, g in sm.groupby("field_id"):
        steps = g["date"].diff().dt.days.dropna().unique()
        assert list(steps) == [5]
    assert sm["value"].between(-1, 1).all()
    assert sm["field_id"].nunique() == 3


@pytest.mark.parametrize("grid_days", [1, 5])
def test_as_of_honesty(grid_days: int) -> None:
    s, _ = make_series(n_fields=12, seed=3)
    as_of = date(2018, 6, 20)
    full = smooth_series(s, grid_days=grid_days, as_of=as_of)
    cut = smooth_series(s[s["date"] <= pd.Timestamp(as_of)], grid_days=grid_days, as_of=as_of)
    pd.testing.assert_frame_equal(full, cut)
    assert full["date"].max() <= pd.Timestamp(as_of)
    # later observations that differ wildly change nothing up to as_of
    s2 = s.copy()
    s2.loc[s2["date"] > pd.Timestamp(as_of), "mean"] = 0.99
    pd.testing.assert_frame_equal(full, smooth_series(s2, grid_days=grid_days, as_of=as_of))


def test_scene_wide_haze_is_screened() -> None:
    s, truth = make_series(n_fields=20, spikes=0.0, cloud=0.0, seed=5)
    hazy = T0 + pd.Timedelta(days=150)
    s.loc[s["date"] == hazy, "mean"] -= 0.12       # a thin cloud over the whole scene, below the spike screen
    sm = smooth_series(s, grid_days=1)
    assert sm.attrs["hazy_dates"] == [str(hazy.date())]
    at = sm[sm["date"] == hazy]
    assert np.abs(at["value"].to_numpy() - _truth_on(at, truth)).max() < 0.05


def test_scene_offsets_are_medians_of_used_departures() -> None:
    y = np.array([[0.5, 0.2, 0.9], [0.6, 0.3, 0.1], [0.7, np.nan, 0.4]])
    z = np.array([[0.4, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    used = np.array([[True, True, True], [True, True, True], [True, False, False]])
    a = scene_offsets(y, used, z, 2)
    assert np.allclose(a, [0.1, -0.25, 0.0])       # medians 0.1 and -0.25; the last date has one unused
    assert np.allclose(scene_offsets(y, used, z, 3), [0.1, 0.0, 0.0])   # too few fields: no offset


def test_scene_offsets_keep_only_what_is_not_smooth_in_time() -> None:
    rng = np.random.default_rng(4)
    z = np.zeros((6, 40))
    trend = np.linspace(-0.1, 0.1, 40)                 # a shared smooth drift belongs to the curves
    jolt = np.zeros(40)
    jolt[17] = 0.2                                     # a one-date jolt belongs to the scene
    y = z + trend + jolt + rng.normal(0, 0.001, (6, 40))
    used = np.ones((6, 40), dtype=bool)
    raw = scene_offsets(y, used, z, 3)
    assert np.allclose(raw, trend + jolt, atol=0.005)
    hp = scene_offsets(y, used, z, 3, lambda a, w: whittaker(a, w, 50.0))
    assert hp[17] > 0.15
    assert np.abs(np.delete(hp, [15, 16, 17, 18, 19])).max() < 0.03


def test_scene_wide_jolts_do_not_bend_the_curves() -> None:
    """Every date's scene reads a little off (illumination, atmosphere, snow): offsets keep that out of the curves."""
    s, truth = make_series(n_fields=30, spikes=0.0, cloud=0.3, noise=0.01, seed=6)
    dates = np.sort(s["date"].unique())
    jolt = pd.Series(np.random.default_rng(6).normal(0, 0.05, len(dates)), index=dates)
    s["mean"] = s["mean"] + s["date"].map(jolt).to_numpy()

    def rmse(sm: pd.DataFrame) -> float:
        return float(np.sqrt(np.mean((sm["value"].to_numpy() - _truth_on(sm, truth)) ** 2)))

    for grid in (1, 5):
        on = smooth_series(s, grid_days=grid, scene_offset=True)
        off = smooth_series(s, grid_days=grid)
        assert on.attrs["hazy_dates"] == off.attrs["hazy_dates"]     # the haze screen comes first, unchanged
        assert rmse(on) < 0.95 * rmse(off), (grid, rmse(on), rmse(off))


def test_default_curves_do_not_depend_on_the_other_fields() -> None:
    """Blocks of fields smooth alike to one call (the distributed features pipeline relies on it); scene offsets
    trade that for accuracy, so they are opt-in."""
    s, _ = make_series(n_fields=12, seed=9)
    one = smooth_series(s, grid_days=5)
    assert one.attrs["hazy_dates"] == []
    for block in (["F0000", "F0001", "F0002", "F0003"], [f"F{i:04d}" for i in range(4, 12)]):
        part = smooth_series(s[s["field_id"].isin(block)], grid_days=5)
        pd.testing.assert_frame_equal(part, one[one["field_id"].isin(block)].reset_index(drop=True))
    big = [f"F{i:04d}" for i in range(6)]
    joint = smooth_series(s, grid_days=5, scene_offset=True)
    part = smooth_series(s[s["field_id"].isin(big)], grid_days=5, scene_offset=True)
    ref = joint[joint["field_id"].isin(big)].reset_index(drop=True)
    assert not np.array_equal(part["value"].to_numpy(), ref["value"].to_numpy())


def test_vectorised_many_fields() -> None:
    s, _ = make_series(n_fields=300, step=5, n_days=350, seed=2)
    sm = smooth_series(s, grid_days=5)
    assert sm["field_id"].nunique() == 300
    assert sm.groupby("field_id").size().nunique() == 1


def test_bad_arguments() -> None:
    s, _ = make_series(n_fields=2)
    with pytest.raises(ContractError, match="grid_days"):
        smooth_series(s, grid_days=3)
    with pytest.raises(ContractError, match="n_clear"):
        smooth_series(s.drop(columns="n_clear"))
    empty = smooth_series(s, variable="EVI")
    assert empty.empty and list(empty.columns) == ["field_id", "season", "date", "value", "observed"]
