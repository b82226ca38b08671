"""Stage confusion and wrong-field drivers (features/_stage_diagnosis.py)."""

from __future__ import annotations

import pandas as pd

from features._stage_diagnosis import stage_confusion, wrong_stage_drivers

IDS = [f"F{i}" for i in range(6)]


def _s(values: list[object]) -> pd.Series:
    return pd.Series(values, index=IDS, dtype=object)


def test_confusion_counts_in_stage_order() -> None:
    ref = _s(["vegetative", "reproductive", "reproductive", "maturing", "maturing", None])
    pred = _s(["vegetative", "vegetative", "reproductive", "reproductive", None, "maturing"])
    tab = stage_confusion(ref, pred)
    assert list(tab.index) == ["vegetative", "reproductive", "maturing"]
    assert list(tab.columns) == ["vegetative", "reproductive", "none"]
    assert tab.loc["reproductive", "vegetative"] == 1 and tab.loc["maturing", "none"] == 1
    assert int(tab.to_numpy().sum()) == 5  # the field without a reference stage is not counted


def test_drivers_split_emergence_gap_and_durations() -> None:
    ref = _s(["reproductive", "reproductive", "reproductive", "maturing", "vegetative", "vegetative"])
    pred = _s(["vegetative", "vegetative", "vegetative", "reproductive", "reproductive", "vegetative"])
    em_err = _s([6.0, 5.0, 0.0, 1.0, -4.0, 9.0]).astype("float64")   # behind ↔ late emergence
    boundary = _s([2.0, -3.0, 4.0, 1.0, -2.0, 30.0]).astype("float64")
    gaps = _s([40.0, 5.0, 40.0, 10.0, 25.0, 40.0]).astype("float64")
    d = wrong_stage_drivers(ref, pred, em_err, boundary, gaps)
    assert d["n_fields"] == 6 and d["n_wrong"] == 5
    assert (d["ahead"], d["behind"]) == (1, 4)
    # F0: late emergence in a 40-day gap; F1: late emergence, short gap; F4 ahead with early emergence in a gap;
    # F2 and F3: emergence about right → the durations / stage fractions
    assert (d["driver_gap"], d["driver_emergence"], d["driver_durations"]) == (2, 1, 2)
    assert d["emergence_abs_error_median_right"] == 9.0
    assert d["boundary_abs_days_median_wrong"] == 2.0


def test_drivers_without_wrong_fields_or_gaps() -> None:
    ref = _s(["vegetative"] * 6)
    d = wrong_stage_drivers(ref, ref, _s([0.0] * 6).astype("float64"), _s([1.0] * 6).astype("float64"))
    assert d == {"n_fields": 6, "n_wrong": 0, "n_no_prediction": 0}
    pred = _s(["reproductive"] * 6)
    d = wrong_stage_drivers(ref, pred, _s([-5.0] * 6).astype("float64"), _s([1.0] * 6).astype("float64"))
    assert d["driver_emergence"] == 6 and d["driver_gap"] == 0 and d["gap_days_median_wrong"] is None
