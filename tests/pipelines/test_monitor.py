"""Early-warning alerts on synthetic NDVI trajectories."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from pipelines.monitor import clear_ndvi, detect_alerts, expected_bands, expected_emergence_days, expected_timing

START = date(2024, 4, 1)


def _curve(days: np.ndarray, peak: float = 0.85, centre: int = 110, width: int = 30) -> np.ndarray:
    return 0.18 + (peak - 0.18) * np.exp(-0.5 * ((days - centre) / width) ** 2)


def _series(fid: str, season: str, days: np.ndarray, ndvi: np.ndarray, start: date = START) -> pd.DataFrame:
    d = pd.Timestamp(start) + pd.to_timedelta(days, unit="D")
    n = len(days)
    return pd.DataFrame({"field_id": fid, "season": season, "date": d, "variable": "NDVI", "mean": ndvi,
                         "std": 0.02, "p10": ndvi, "p50": ndvi, "p90": ndvi, "n_pixels": [100] * n,
                         "n_clear": [100] * n})


def _past() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    frames, crops = [], []
    days = np.arange(0, 220, 5)
    for k in range(20):
        season = "2023"
        frames.append(_series(f"p{k}", season, days, _curve(days) + rng.normal(0, 0.03, len(days)), date(2023, 4, 1)))
        crops.append({"field_id": f"p{k}", "season": season, "crop": "maize", "region": "r"})
    return pd.concat(frames), pd.DataFrame(crops)


def test_alerts() -> None:
    past, crops = _past()
    bands = expected_bands(clear_ndvi(past), crops, {"2023": date(2023, 4, 1)})
    assert {"p10", "p50", "p90"} <= set(bands.columns)
    days = np.arange(0, 150, 5)
    healthy = _curve(days)
    failing = healthy.copy()
    failing[days >= 95] = 0.2  # collapses near the peak: a crop failure
    stressed = healthy * np.where(days >= 80, 0.7, 1.0)  # a lasting dip below the band
    never = np.full(len(days), 0.2)
    cur = pd.concat([_series("ok", "2024", days, healthy), _series("fail", "2024", days, failing),
                     _series("dip", "2024", days, stressed), _series("bare", "2024", days, never)])
    fields = pd.DataFrame({"field_id": ["ok", "fail", "dip", "bare", "mis"], "season": "2024",
                           "crop": "maize", "region": "r", "declared_crop_prob": [0.9, 0.9, 0.9, 0.9, 0.05]})
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 8, 28), START, {("r", "maize"): 60})
    got = set(zip(al["field_id"], al["alert"], strict=True))
    assert ("fail", "CROP_FAILURE") in got
    assert ("dip", "WATCH") in got
    assert ("bare", "NOT_PLANTED") in got
    assert ("mis", "CROP_MISMATCH") in got
    assert not any(f == "ok" for f, _ in got)
    fail_date = al[(al["field_id"] == "fail") & (al["alert"] == "CROP_FAILURE")]["date"].iloc[0]
    assert fail_date == pd.Timestamp(START) + pd.Timedelta(days=100)  # second clear observation after onset


def test_nothing_after_as_of_is_used() -> None:
    past, crops = _past()
    bands = expected_bands(clear_ndvi(past), crops, {"2023": date(2023, 4, 1)})
    days = np.arange(0, 150, 5)
    failing = _curve(days)
    failing[days >= 95] = 0.2
    cur = _series("fail", "2024", days, failing)
    fields = pd.DataFrame({"field_id": ["fail"], "season": "2024", "crop": "maize", "region": "r"})
    early = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 7, 4), START, {("r", "maize"): 60})
    assert early.empty  # onset on day 95 (5 July) not yet seen


def test_timing_separates_failure_from_harvest() -> None:
    """With past timing, a collapse long before the usual one is a failure; a collapse at the usual time is a
    harvest (no alert), even when the band's median has not yet fallen."""
    past, crops = _past()
    past = past.copy()
    past.loc[pd.to_datetime(past["date"]) >= pd.Timestamp(date(2023, 4, 1)) + pd.Timedelta(days=170), "mean"] = 0.2
    obs = clear_ndvi(past)
    bands = expected_bands(obs, crops, {"2023": date(2023, 4, 1)})
    timing = expected_timing(obs, crops, {"2023": date(2023, 4, 1)})
    assert len(timing) == 1 and 165 <= timing["collapse_p50"].iloc[0] <= 175
    em = expected_emergence_days(obs, crops, {"2023": date(2023, 4, 1)})
    assert 0 < em[("r", "maize")] < 110
    days = np.arange(0, 200, 5)
    healthy = _curve(days)
    healthy[days >= 170] = 0.2  # harvested when the past fields were
    failing = _curve(days)
    failing[days >= 100] = 0.2
    cur = pd.concat([_series("ok", "2024", days, healthy), _series("fail", "2024", days, failing)])
    fields = pd.DataFrame({"field_id": ["ok", "fail"], "season": "2024", "crop": "maize", "region": "r"})
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em, timing=timing)
    got = set(zip(al["field_id"], al["alert"], strict=True))
    assert ("fail", "CROP_FAILURE") in got
    assert not any(f == "ok" and a in ("CROP_FAILURE", "EARLY_HARVEST") for f, a in got)
    ev = json.loads(al[al["alert"] == "CROP_FAILURE"]["evidence"].iloc[0])
    assert ev["collapse_day"] == 100 and ev["failure_before_day"] > 100
