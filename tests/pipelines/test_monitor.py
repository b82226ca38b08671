"""Early-warning alerts on synthetic NDVI trajectories."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines._monitor_peers import (
    CANDIDATE_FEATURES,
    candidate_features,
    gap_candidates,
    peer_anomalies,
    stall_candidates,
)
from pipelines._monitor_records import record_labels, record_score
from pipelines.monitor import (
    AlertParams,
    came_up_date,
    clear_ndvi,
    cleared_canopy_date,
    detect_alerts,
    emerging,
    expected_bands,
    expected_emergence_days,
    expected_timing,
    own_crop_obs,
    season_start_days,
)

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
    # evidence counted in days of season names the season's start (it gave "expected_emergence_day 60" alone)
    ev = {k: json.loads(e) for k, e in zip(al["alert"], al["evidence"], strict=True)}
    assert ev["NOT_PLANTED"]["season_start"] == str(START) and ev["NOT_PLANTED"]["expected_emergence_day"] == 60
    assert ev["CROP_FAILURE"]["season_start"] == str(START) or "collapse_day" not in ev["CROP_FAILURE"]
    assert "season_start" not in ev["WATCH"] and "season_start" not in ev["CROP_MISMATCH"]  # dates, no days
    # bare soil a little below a bare-soil band (before the crop greens up): no WATCH — it said nothing of the crop
    darker = np.where(days < 40, 0.10, healthy)
    soil = detect_alerts(clear_ndvi(_series("soil", "2024", days, darker)),
                         pd.DataFrame({"field_id": ["soil"], "season": "2024", "crop": "maize", "region": "r"}),
                         bands, date(2024, 8, 28), START, {("r", "maize"): 60})
    assert soil.empty
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


def test_a_duration_threshold_below_zero_is_said_not_shown_negative() -> None:
    """A crop whose past green-up-to-collapse durations spread wide has P25 − k × IQR below 0: no duration is
    below it, so the duration test cannot fire. The evidence said "failure_below_duration -40.0" (a negative
    duration); it now shows 0 and says the test cannot fire — the alerts themselves as before."""
    past, crops = _past()
    bands = expected_bands(clear_ndvi(past), crops, {"2023": date(2023, 4, 1)})
    timing = pd.DataFrame([{"region": "r", "crop": "maize", "n": 20, "collapse_p25": 170.0, "collapse_p50": 172.0,
                            "collapse_p75": 175.0, "duration_p25": 110.0, "duration_p50": 130.0,
                            "duration_p75": 160.0, "unit": "days"}])  # durations' IQR 50: 110 - 3 x 50 = -40
    days = np.arange(0, 200, 5)
    early, failed = _curve(days), _curve(days)
    early[days >= 160] = 0.2  # before the usual collapse (170), after the failure line (155): cut early
    failed[days >= 140] = 0.2  # before the failure line on the collapse day
    cur = pd.concat([_series("early", "2024", days, early), _series("failed", "2024", days, failed)])
    fields = pd.DataFrame({"field_id": ["early", "failed"], "season": "2024", "crop": "maize", "region": "r"})
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, {("r", "maize"): 60},
                       timing=timing)
    got = {(f, a, str(d.date())) for f, a, d in zip(al["field_id"], al["alert"], al["date"], strict=True)}
    assert {("early", "EARLY_HARVEST", "2024-09-13"), ("failed", "CROP_FAILURE", "2024-08-24")} <= got
    for kind in ("EARLY_HARVEST", "CROP_FAILURE"):
        ev = json.loads(al[al["alert"] == kind]["evidence"].iloc[0])
        assert ev["failure_below_duration"] == 0.0 and ev["duration_days"] > 0
        assert ev["duration_test"].startswith("cannot fire")
    # a threshold above 0 is shown as it is, with no such note
    narrow = timing.assign(duration_p25=60.0, duration_p75=70.0)  # 60 - 3 x 10 = 30
    ev = json.loads(detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, {("r", "maize"): 60},
                                  timing=narrow).query("alert == 'CROP_FAILURE'")["evidence"].iloc[0])
    assert ev["failure_below_duration"] == 30.0 and "duration_test" not in ev


def _season(n: int, collapse: dict[str, int], seed: int, season: str = "2024",
            start: date = START) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` maize fields observed every 5 days; the fields in ``collapse`` fall to bare soil from that day."""
    rng = np.random.default_rng(seed)
    days = np.arange(0, 220, 5)
    frames, crops = [], []
    for k in range(n):
        fid = f"f{k:02d}"
        v = _curve(days, centre=110 + int(rng.integers(-3, 4))) + rng.normal(0, 0.01, len(days))
        v = np.where(days >= 175, 0.2, v)  # harvested
        if fid in collapse:
            v = np.where(days >= collapse[fid], 0.2, v)
        frames.append(_series(fid, season, days, v, start))
        crops.append({"field_id": fid, "season": season, "crop": "maize", "region": "r"})
    return pd.concat(frames), pd.DataFrame(crops)


def test_peers_catch_a_late_failure_but_not_a_county_wide_drop() -> None:
    """Only the peer rule is on (the timing rule's limits are out of reach): a field collapsing at day 135,
    while the fields that grew like it stay green, is a failure; the same collapse in every field at once
    (weather, or the usual harvest) is not. (The one-observation rule is off here: see the next test.)"""
    past, crops = _season(20, {}, 1, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    bands, timing = expected_bands(obs, crops, starts), expected_timing(obs, crops, starts)
    em = expected_emergence_days(obs, crops, starts)
    p = AlertParams(collapse_k=99.0, duration_k=99.0, peer_drop_single=1.0)
    cur, fields = _season(25, {"f03": 135}, 2)
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em, p, timing=timing)
    fail = al[al["alert"] == "CROP_FAILURE"]
    assert list(fail["field_id"]) == ["f03"]
    ev = json.loads(fail["evidence"].iloc[0])
    assert ev["rule"] == "peers" and ev["dates"] == ["2024-08-14", "2024-08-19"]  # days 135 and 140
    assert fail["date"].iloc[0] == pd.Timestamp("2024-08-19")  # the second clear observation after onset
    assert ev["ndvi"][0] < 0.25 and ev["peer_ndvi"][0] > 0.55 and ev["share_of_usual_duration"] < 0.8
    everyone = {f"f{k:02d}": 135 for k in range(25)}
    cur2, fields2 = _season(25, everyone, 2)
    al2 = detect_alerts(clear_ndvi(cur2), fields2, bands, date(2024, 10, 15), START, em, p, timing=timing)
    assert not (al2["alert"] == "CROP_FAILURE").any()
    # as of the day of the first low observation the failure is not yet confirmed
    early = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 8, 14), START, em, p, timing=timing)
    assert not (early["alert"] == "CROP_FAILURE").any()


def _expectations() -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, str], int]]:
    past, crops = _season(20, {}, 1, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    return expected_bands(obs, crops, starts), expected_timing(obs, crops, starts), \
        expected_emergence_days(obs, crops, starts)


def test_one_extreme_observation_is_enough() -> None:
    """A collapse to bare soil far below green peers is a failure on its first clear observation, even when
    clouds hide every later one; a milder fall (to 0.45) still waits for the confirming observation."""
    bands, timing, em = _expectations()
    p = AlertParams(collapse_k=99.0, duration_k=99.0)
    cur, fields = _season(25, {"f03": 135}, 2)
    cur = cur[~((cur["field_id"] == "f03") & (cur["date"] > pd.Timestamp("2024-08-14")))]  # clouds after day 135
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 8, 14), START, em, p, timing=timing)
    fail = al[al["alert"] == "CROP_FAILURE"]
    assert list(fail["field_id"]) == ["f03"] and fail["date"].iloc[0] == pd.Timestamp("2024-08-14")
    ev = json.loads(fail["evidence"].iloc[0])
    assert ev["rule"] == "peers_extreme" and ev["dates"] == ["2024-08-14"] and ev["ndvi"][0] < p.bare
    assert ev["peer_ndvi"][0] - ev["ndvi"][0] >= p.peer_drop_single
    early = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 8, 13), START, em, p, timing=timing)
    assert not (early["alert"] == "CROP_FAILURE").any()
    mild, fields2 = _season(25, {}, 2)
    sel = (mild["field_id"] == "f03") & (mild["date"] >= pd.Timestamp("2024-08-14"))
    mild.loc[sel, "mean"] = 0.45
    first = detect_alerts(clear_ndvi(mild), fields2, bands, date(2024, 8, 14), START, em, p, timing=timing)
    assert not (first["alert"] == "CROP_FAILURE").any()
    off = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em,
                        AlertParams(collapse_k=99.0, duration_k=99.0, peer_drop_single=1.0), timing=timing)
    assert not (off["alert"] == "CROP_FAILURE").any()  # without the rule the clouds hide it


def test_not_planted_names_the_fields_last_clear_observation() -> None:
    """A NOT_PLANTED's evidence gives the field's latest clear observation up to the alert: a field last seen (bare)
    before its crop's expected emergence day, then hidden by cloud past the deadline, was raised all the same (as
    model versions saved before 2026-12-04, sixth, still raise it: ``np_seen=False``; the next test shows today's
    rule, which waits for it to be seen) and the analyst sees it was not seen when the crop should have come up."""
    from pipelines._monitor_format import format_evidence

    bands, timing, em = _expectations()
    e = em[("r", "maize")]
    days = np.arange(0, 200, 5)
    seen = days < e - 20
    cur = pd.concat([_series("other", "2024", days, np.full(len(days), 0.18)),  # the acquisitions go on
                     _series("hidden", "2024", days[seen], np.full(int(seen.sum()), 0.18))])
    fields = pd.DataFrame({"field_id": ["other", "hidden"], "season": "2024", "crop": "maize", "region": "r"})
    al = detect_alerts(clear_ndvi(cur), fields, bands, START + timedelta(days=190), START, em,
                       AlertParams(np_seen=False), timing=timing)
    npl = al[al["alert"] == "NOT_PLANTED"].set_index("field_id")
    ev = {f: json.loads(npl.loc[f, "evidence"]) for f in ("other", "hidden")}
    assert ev["hidden"]["last_clear_obs"] == str(START + timedelta(days=int(days[seen][-1])))
    assert ev["other"]["last_clear_obs"] == str(npl.loc["other", "date"].date())  # seen bare on the alert's date
    assert "last clear observation before the alert " + ev["hidden"]["last_clear_obs"] in format_evidence(
        npl.loc["hidden", "evidence"])
def test_not_planted_needs_the_field_seen_bare_after_its_expected_emergence() -> None:
    """A field last seen bare well before its crop's expected emergence day, then hidden by cloud past the deadline,
    is not NOT_PLANTED on the deadline's acquisitions — it had not been seen when the crop should have been up (since
    2026-12-04, sixth; it was, kept by ``np_seen=False`` for model versions saved before): raised on its first clear
    observation after the expected emergence day if still bare, never if green by then."""
    bands, timing, em = _expectations()
    e = em[("r", "maize")]
    deadline = e + AlertParams().grace_days
    days = np.arange(0, 200, 5)
    seen = (days < e - 20) | (days >= deadline + 20)  # a cloud gap from 20 days before emergence to 20 after
    bare = np.full(len(days), 0.18)
    came_up = np.where(days >= deadline, 0.7, 0.18)
    cur = pd.concat([_series("other", "2024", days, bare),  # seen all along: the acquisitions go on
                     _series("bare", "2024", days[seen], bare[seen]), _series("up", "2024", days[seen], came_up[seen])])
    fields = pd.DataFrame({"field_id": ["other", "bare", "up"], "season": "2024", "crop": "maize", "region": "r"})
    first_seen = START + timedelta(days=int(days[seen & (days >= deadline)][0]))
    nps = {}
    for p in (AlertParams(), AlertParams(np_seen=False)):
        for asked in (START + timedelta(days=deadline + 10), first_seen + timedelta(days=10)):
            al = detect_alerts(clear_ndvi(cur), fields, bands, asked, START, em, p, timing=timing)
            nps[(p.np_seen, asked)] = dict(zip(al.loc[al["alert"] == "NOT_PLANTED", "field_id"],
                                               al.loc[al["alert"] == "NOT_PLANTED", "date"], strict=True))
    on_deadline = pd.Timestamp(START + timedelta(days=int(np.ceil(deadline / 5) * 5)))
    assert nps[(True, START + timedelta(days=deadline + 10))] == {"other": on_deadline}
    assert nps[(True, first_seen + timedelta(days=10))] == {"other": on_deadline, "bare": pd.Timestamp(first_seen)}
    # the rule before: raised on the deadline's acquisition, unseen or not — the crop that came up included
    assert nps[(False, START + timedelta(days=deadline + 10))] == {"other": on_deadline, "bare": on_deadline,
                                                                    "up": on_deadline}


def test_a_canopy_cleared_before_the_crop_was_due_is_not_the_crop_come_up() -> None:
    """A field green only when its window opens (last season's crop still standing, as Nebraska's wheat window opens
    in September) and bare from before its crop's expected emergence day is NOT_PLANTED once its deadline passes
    (``np_cleared_canopy``, since 2026-12-05; the rule before — ``np_cleared_canopy=False``, which model versions
    saved before run — read that canopy as its crop come up and never raised it), but a field green from the window's
    opening until that day (another crop grown this season) came up. ``np_came_up_rise`` (an option tried first, not
    adopted) raises both. Either way a field that dips and rises again from bare soil came up, and so did one first
    seen green after the expected emergence day (a cloud gap hid its rise); the rule is :func:`came_up_date`, which
    the evaluation's replay asks too."""
    bands, timing, em = _expectations()
    e = em[("r", "maize")]
    deadline = e + AlertParams().grace_days
    days = np.arange(0, 200, 5)
    previous = np.where(days < 15, 0.7, 0.18)  # green for the window's first observations, then bare
    other = np.where(days < e, 0.7, 0.18)  # green from the window's opening until the expected emergence day
    regrown = np.where(days < 15, 0.7, np.where(days < e - 10, 0.18, 0.6))  # bare, then its crop came up
    hidden = days >= e + 5  # first seen (green) after the expected emergence day
    cur = pd.concat([_series("prev", "2024", days, previous), _series("other", "2024", days, other),
                     _series("regrown", "2024", days, regrown),
                     _series("late", "2024", days[hidden], np.full(int(hidden.sum()), 0.6)),
                     _series("bare", "2024", days, np.full(len(days), 0.18))])
    fields = pd.DataFrame({"field_id": ["prev", "other", "regrown", "late", "bare"], "season": "2024",
                           "crop": "maize", "region": "r"})
    asked = START + timedelta(days=deadline + 20)
    raised = {}
    for name, p in (("before", AlertParams(np_cleared_canopy=False)), ("cleared", AlertParams()),
                    ("rise", AlertParams(np_cleared_canopy=False, np_came_up_rise=0.1))):
        al = detect_alerts(clear_ndvi(cur), fields, bands, asked, START, em, p, timing=timing)
        npl = al[al["alert"] == "NOT_PLANTED"]
        raised[name] = set(npl["field_id"])
        ev = {f: json.loads(e) for f, e in zip(npl["field_id"], npl["evidence"], strict=True)}
        # the max_ndvi of the field raised is the earlier canopy's: the evidence says when it was gone
        last_bare = str(START + timedelta(days=int(days[days < e][-1])))  # its last bare one before the day
        assert ev.get("prev", {}).get("canopy_cleared_by") == (last_bare if name == "cleared" else None)
        assert "canopy_cleared_by" not in ev["bare"]
    assert raised == {"before": {"bare"}, "cleared": {"bare", "prev"}, "rise": {"bare", "prev", "other"}}
    d = (pd.Timestamp(START) + pd.to_timedelta(days, unit="D")).to_numpy()
    when = pd.Timestamp(START + timedelta(days=e))
    assert came_up_date(d, previous, 0.3, 0.0, when) == d[0]
    assert came_up_date(d, previous, 0.3, 0.0, when, cleared=True) is None
    assert came_up_date(d, other, 0.3, 0.0, when, cleared=True) == d[0]
    assert came_up_date(d, regrown, 0.3, 0.0, when, cleared=True) == d[days >= e - 10][0]
    assert came_up_date(d, previous, 0.3, 0.0, None, cleared=True) == d[0]  # no expected day: nothing discounted
    assert cleared_canopy_date(d, previous, 0.3, when) == d[days < e][-1]  # the last bare one before the day
    assert cleared_canopy_date(d, other, 0.3, when) is None and cleared_canopy_date(d, previous, 0.3, None) is None
    assert came_up_date(d, previous, 0.3, 0.1, when) is None
    assert came_up_date(d, regrown, 0.3, 0.1, when) == d[days >= e - 10][0]


def test_a_crop_failing_before_its_canopy_closed_is_a_failure() -> None:
    """A field that came up (0.42 at most, never the 0.45 of a green canopy) and fell to bare soil while the fields
    that grew like it turned green is a failure through the peers (since 2026-12-04, fourth; the rule needed the
    field green itself, kept by ``peer_own_green=0.45``, which a model version saved before runs): a WATCH before."""
    bands, timing, em = _expectations()
    cur, fields = _season(25, {}, 2)
    mine = cur["field_id"] == "f03"
    day = (cur["date"] - pd.Timestamp(START)).dt.days
    cur.loc[mine, "mean"] = np.where(day[mine] >= 100, 0.2, np.minimum(cur.loc[mine, "mean"], 0.42))
    p = AlertParams(collapse_k=99.0, duration_k=99.0)
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em, p, timing=timing)
    fail = al[al["alert"] == "CROP_FAILURE"]
    assert list(fail["field_id"]) == ["f03"] and fail["date"].iloc[0] == pd.Timestamp("2024-07-15")
    ev = json.loads(fail["evidence"].iloc[0])
    assert ev["rule"] == "peers" and ev["ndvi"] == [0.2, 0.2] and min(ev["peer_ndvi"]) > 0.7
    before = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em,
                           replace(p, peer_own_green=0.45), timing=timing)
    assert not (before["alert"] == "CROP_FAILURE").any() and (before["alert"] == "WATCH").any()
    thin = cur.copy()  # a thin canopy that never fell from its own top is not one
    thin.loc[mine, "mean"] = np.minimum(cur.loc[mine, "mean"].where(day[mine] < 100, 0.42), 0.42)
    al2 = detect_alerts(clear_ndvi(thin), fields, bands, date(2024, 10, 15), START, em, p, timing=timing)
    assert not (al2["alert"] == "CROP_FAILURE").any()


def _plateau_season(n: int, collapse: dict[str, int], harvest: int, season: str, start: date,
                    hide: tuple[str, int, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` maize fields greening up around day 60 and staying green (0.85) until ``harvest`` (or their day in
    ``collapse``); ``hide``: (field, first day, last day) of observations lost to cloud."""
    days = np.arange(0, 220, 5)
    frames, crops = [], []
    for k in range(n):
        fid = f"f{k:02d}"
        v = 0.18 + 0.67 / (1.0 + np.exp(-(days - 60) / 6.0)) + 0.002 * k
        v = np.where(days >= collapse.get(fid, harvest), 0.2, v)
        keep = np.ones(len(days), dtype=bool)
        if hide is not None and hide[0] == fid:
            keep = ~((days >= hide[1]) & (days <= hide[2]))
        frames.append(_series(fid, season, days[keep], v[keep], start))
        crops.append({"field_id": fid, "season": season, "crop": "maize", "region": "r"})
    return pd.concat(frames), pd.DataFrame(crops)


def test_a_late_single_observation_followed_by_the_peers_is_no_evidence() -> None:
    """Past fields collapse (harvest) on day 175, 124 days after green-up. This season the whole county is
    harvested on day 170 and one field on day 165 (0.92 of the usual duration): its one extreme observation is
    the front of the wave, as its next observation five days later shows, so it corroborates no timing failure
    (the timing rule alone calls day 165 early). Hidden by cloud until day 190, the next observation cannot tell:
    the timing failure stands, raised on day 190 when the corroboration became known, not on day 165."""
    past, crops = _plateau_season(20, {}, 175, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    bands, timing = expected_bands(obs, crops, starts), expected_timing(obs, crops, starts)
    em = expected_emergence_days(obs, crops, starts)
    cur, fields = _plateau_season(25, {"f03": 165}, 170, "2024", START)
    end = date(2024, 10, 31)
    al = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, timing=timing)
    assert not (al["alert"] == "CROP_FAILURE").any()
    before = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, AlertParams(peer_single_greenup_rel=9.0),
                           timing=timing)
    fail = before[before["alert"] == "CROP_FAILURE"]
    assert list(fail["field_id"]) == ["f03"] and json.loads(fail["evidence"].iloc[0])["rule"] == "timing"
    hidden, fields2 = _plateau_season(25, {"f03": 165}, 170, "2024", START, hide=("f03", 166, 185))
    al2 = detect_alerts(clear_ndvi(hidden), fields2, bands, end, START, em, timing=timing)
    fail2 = al2[al2["alert"] == "CROP_FAILURE"]
    assert list(fail2["field_id"]) == ["f03"]
    assert json.loads(fail2["evidence"].iloc[0])["dates"] == ["2024-09-13", "2024-10-08"]  # days 165 and 190
    assert fail2["date"].iloc[0] == pd.Timestamp("2024-10-08")
    early = detect_alerts(clear_ndvi(hidden), fields2, bands, date(2024, 10, 7), START, em, timing=timing)
    assert not (early["alert"] == "CROP_FAILURE").any()
    # peers that stay green confirm it on the next observation, but only then: on day 165 nothing says which
    # way the next observation will go (the peer rule allowed this late, the timing rule out of reach)
    p = AlertParams(peer_greenup_rel=0.95, collapse_k=99.0, duration_k=99.0)
    alone, fields3 = _plateau_season(25, {"f03": 165}, 200, "2024", START)
    fail3 = detect_alerts(clear_ndvi(alone), fields3, bands, end, START, em, p, timing=timing)
    fail3 = fail3[fail3["alert"] == "CROP_FAILURE"]
    assert list(fail3["field_id"]) == ["f03"] and fail3["date"].iloc[0] == pd.Timestamp("2024-09-18")  # day 170
    assert json.loads(fail3["evidence"].iloc[0])["rule"] == "peers"
    on_165 = detect_alerts(clear_ndvi(alone), fields3, bands, date(2024, 9, 13), START, em, p, timing=timing)
    assert not (on_165["alert"] == "CROP_FAILURE").any()


def test_a_single_observation_three_quarters_through_waits_for_the_next() -> None:
    """Past fields collapse (harvest) 129 days after green-up. This season the county is harvested on day 155 and one
    field on day 150, 0.77 of the usual duration: since 2026-12-04, fifth, a single extreme observation from 0.75 of
    the usual duration on (it was 0.8; kept by ``peer_single_greenup_rel=0.8`` for model versions saved before) waits
    for the next one — the peers harvested five days later, it is the front of the wave, not a failure. A field
    collapsing as early while its peers stay green is confirmed on its next observation and raised then."""
    past, crops = _plateau_season(20, {}, 175, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    bands, timing = expected_bands(obs, crops, starts), expected_timing(obs, crops, starts)
    em = expected_emergence_days(obs, crops, starts)
    p = AlertParams(collapse_k=99.0, duration_k=99.0)  # the peer rules alone
    assert p.peer_single_greenup_rel == 0.75
    cur, fields = _plateau_season(25, {"f03": 150}, 155, "2024", START)
    end = date(2024, 10, 31)
    al = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, p, timing=timing)
    assert not (al["alert"] == "CROP_FAILURE").any()
    before = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, replace(p, peer_single_greenup_rel=0.8),
                           timing=timing)
    fail = before[before["alert"] == "CROP_FAILURE"]
    assert list(fail["field_id"]) == ["f03"] and json.loads(fail["evidence"].iloc[0])["rule"] == "peers_extreme"
    assert 0.75 <= json.loads(fail["evidence"].iloc[0])["share_of_usual_duration"] < 0.8
    alone, fields2 = _plateau_season(25, {"f03": 150}, 200, "2024", START)
    fail2 = detect_alerts(clear_ndvi(alone), fields2, bands, end, START, em, p, timing=timing)
    fail2 = fail2[fail2["alert"] == "CROP_FAILURE"]
    assert list(fail2["field_id"]) == ["f03"] and json.loads(fail2["evidence"].iloc[0])["rule"] == "peers"
    assert fail2["date"].iloc[0] == pd.Timestamp(START + timedelta(days=155))


def test_a_field_seen_bare_only_after_a_cloud_gap_is_judged_against_its_crop() -> None:
    """Past fields collapse (harvest) about 120 days after green-up. This season one field fails on day 95 under a
    cloud gap that hides it from day 80 to 105: it is next seen bare on days 110 and 115 while the fields of its
    crop are green. Since 2026-12-04, sixth (``peer_gap_days``; off in model versions saved before), such a field is
    judged against the median of its crop's fields clear that day — the peers matched on a history interpolated
    across the gap are not its kind — and raised on its second bare observation; not late in the crop's usual
    duration (the usual harvest of the early fields looks the same across a gap), not after a short gap, not when
    the crop itself is being harvested, and not with the rule off."""
    past, crops = _plateau_season(20, {}, 175, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    bands, timing = expected_bands(obs, crops, starts), expected_timing(obs, crops, starts)
    em = expected_emergence_days(obs, crops, starts)
    p = AlertParams(collapse_k=99.0, duration_k=99.0, peer_drop=1.0, peer_drop_single=1.0)  # the gap rule alone
    assert p.peer_gap_days == 20
    end = date(2024, 10, 31)

    def failures(collapse: int, hide: tuple[int, int], harvest: int = 200, params: AlertParams = p) -> pd.DataFrame:
        cur, fields = _plateau_season(25, {"f03": collapse}, harvest, "2024", START, hide=("f03", *hide))
        al = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, params, timing=timing)
        return al[al["alert"] == "CROP_FAILURE"]

    fail = failures(95, (80, 105))
    assert list(fail["field_id"]) == ["f03"]
    assert fail["date"].iloc[0] == pd.Timestamp(START + timedelta(days=115))
    ev = json.loads(fail["evidence"].iloc[0])
    assert ev["rule"] == "crop_cohort_after_gap" and ev["gap_days"] == 35 and ev["dates"][0] == str(
        START + timedelta(days=110))
    assert min(ev["cohort_ndvi"]) > 0.8 and max(ev["ndvi"]) < 0.3 and ev["share_of_usual_duration"] < 0.7
    assert failures(95, (80, 105), params=replace(p, peer_gap_days=0)).empty  # off: as model versions saved before
    assert failures(95, (95, 100)).empty  # a gap of 15 days: the peers' rules judge it
    assert failures(150, (140, 160)).empty  # share 0.87 of the usual duration after green-up: a harvest's timing
    assert failures(175, (160, 185), harvest=180).empty  # its crop is harvested too: the cohort is not green
    # with the peers' rules on, here the peers (green) see it first: one extreme observation, on day 110
    both = failures(95, (80, 105), params=AlertParams(collapse_k=99.0, duration_k=99.0))
    assert list(both["field_id"]) == ["f03"] and both["date"].iloc[0] == pd.Timestamp(START + timedelta(days=110))
    assert json.loads(both["evidence"].iloc[0])["rule"] == "peers_extreme"


def _cohort_rule_case(day: str, cohort_ndvi: list[float], **features: float) -> tuple[dict[str, Any], pd.DataFrame]:
    """One candidate_features row of a cotton field bare on ``day`` and five days later (0.22, 0.21; 0.2 below its
    peers; ``features`` over that) and its crop cohort's medians on both dates."""
    d0 = pd.Timestamp(day)
    d1 = d0 + pd.Timedelta(days=5)
    row = {"field_id": "a", "date": d0, "next_date": d1, "crop": "cotton", **dict.fromkeys(CANDIDATE_FEATURES, 0.0)}
    row |= {"ndvi": 0.22, "next_ndvi": 0.21, "drop_now": 0.2, **features}
    return row, pd.DataFrame({"crop": "cotton", "date": [d0, d1], "cohort_ndvi": cohort_ndvi})


def _cohort_rule_passes(rule: Any, flag: str, row: dict[str, Any], cohort: pd.DataFrame, kw: dict[str, Any],
                        change: dict[str, Any]) -> bool:
    """Whether ``rule`` (gap_candidates, stall_candidates) keeps ``row`` with ``change`` over it (``cohort``: the
    cohort's two medians instead), as a confirmed row flagged ``flag`` known on its next date."""
    change = dict(change)
    c = cohort.assign(cohort_ndvi=change.pop("cohort", cohort["cohort_ndvi"]))
    got = rule(pd.DataFrame([row | change]), c, **kw)
    assert got.empty or (bool(got[flag].iloc[0]) and got["known_date"].iloc[0] == row["next_date"])
    return not got.empty


def test_a_field_as_bare_as_the_fields_that_grew_like_it_is_no_gap_failure() -> None:
    """The gap rule's rows, one condition at a time: the candidate passes; as bare as its peers (it collapsed with
    the fields that grew like it — another crop than declared, at its harvest), a gap under 20 days, a cohort no
    longer green, a next observation no longer bare or one without a cohort do not."""
    row, cohort = _cohort_rule_case("2024-07-20", [0.65, 0.64], own_max=0.7, gap_days=30.0, greenup_rel=0.5)
    kw = {"min_gap": 20, "drop": 0.3, "drop_next": 0.25, "green": 0.5, "own_green": 0.3, "bare": 0.3,
          "greenup_rel": 0.7, "below_peers": 0.1}

    def passes(**change: Any) -> bool:
        return _cohort_rule_passes(gap_candidates, "after_gap", row, cohort, kw, change)

    assert passes()
    assert not passes(drop_now=0.05) and not passes(gap_days=15.0) and not passes(greenup_rel=0.75)
    assert not passes(cohort=[0.45, 0.64]) and not passes(next_ndvi=0.35) and not passes(own_max=0.25)
    assert passes(greenup_rel=np.nan)  # no past timing: the share is not checked
    assert gap_candidates(pd.DataFrame([row]), cohort.iloc[:1], **kw).empty  # no cohort on the next date


def test_a_field_seen_bare_once_before_a_cloud_gap_has_come_up() -> None:
    """Past fields collapse (harvest) 124 days after green-up. This season one field is seen bare on day 0, then
    clouds hide it until day 60, when it is green like its peers; it collapses on day 90 while they stay green. Its
    first clear observation has no peers (nothing before it to match on), so it is not a row of the peer table;
    by default the field's own history comes from those rows alone: its crop's season begins at its first bare *row*
    — the fall itself — so it never came up and the fall is no candidate (sh-dev-19's transplanted rice). With
    ``peer_first_obs`` (an option since 2026-12-04, seventh; not adopted: it raised late harvests on the demo
    counties) the history comes from all its clear observations: raised on day 90, one extreme observation right
    after a green one."""
    past, crops = _plateau_season(20, {}, 175, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    bands, timing = expected_bands(obs, crops, starts), expected_timing(obs, crops, starts)
    em = expected_emergence_days(obs, crops, starts)
    p = AlertParams(collapse_k=99.0, duration_k=99.0, peer_first_obs=True)  # the peer rules alone, the option on
    assert not AlertParams().peer_first_obs
    cur, fields = _plateau_season(25, {"f03": 90}, 200, "2024", START, hide=("f03", 5, 55))
    end = date(2024, 10, 31)
    al = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, p, timing=timing)
    fail = al[al["alert"] == "CROP_FAILURE"]
    assert list(fail["field_id"]) == ["f03"] and fail["date"].iloc[0] == pd.Timestamp(START + timedelta(days=90))
    ev = json.loads(fail["evidence"].iloc[0])
    assert ev["rule"] == "peers_extreme" and ev["days_since_greenup"] == 89  # green-up: after the day-0 observation
    old = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, replace(p, peer_first_obs=False),
                        timing=timing)
    assert not (old["alert"] == "CROP_FAILURE").any()
    # seen bare on day 50 as well (0.29, a row of the peer table): the same alert either way
    seen, fields2 = _plateau_season(25, {"f03": 90}, 200, "2024", START, hide=("f03", 5, 45))
    for q in (p, replace(p, peer_first_obs=False)):
        al2 = detect_alerts(clear_ndvi(seen), fields2, bands, end, START, em, q, timing=timing)
        assert list(al2.loc[al2["alert"] == "CROP_FAILURE", "field_id"]) == ["f03"]


def _stalled_season(level: float, fall: int | None, *, harvest: int = 200, hide: tuple[int, int] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`_plateau_season` of 25 fields in which f03 comes up only to ``level`` (a crop that emerged partly)
    and, from day ``fall`` on (None: never), is back at bare soil (0.2); ``hide``: its observations lost to cloud."""
    cur, fields = _plateau_season(25, {}, harvest, "2024", START)
    days = np.arange(0, 220, 5)
    v = 0.18 + (level - 0.18) / (1.0 + np.exp(-(days - 60) / 6.0))
    if fall is not None:
        v = np.where(days >= fall, 0.2, v)
    keep = np.ones(len(days), dtype=bool) if hide is None else ~((days >= hide[0]) & (days <= hide[1]))
    return pd.concat([cur[cur["field_id"] != "f03"], _series("f03", "2024", days[keep], v[keep])]), fields


def test_a_crop_that_came_up_only_partly_and_fell_back_to_bare_soil_is_a_failure() -> None:
    """Past fields collapse (harvest) 124 days after green-up. This season one field comes up only to 0.33 (a crop
    lost young, before its canopy closed) and is back at bare soil (0.2) from day 85 while the fields of its crop are
    green (0.85): it never rose the 0.15 the peer rule needs it to fall, so only the stalled-crop rule (an option
    since 2026-12-04, eighth: ``peer_stall_max``, off by default; not adopted, see the README) raises it, on its
    second bare observation. Not a field that stays at 0.33 (partly planted, thin), not a fall late in the crop's usual duration
    (a partly planted field of another crop cut at its harvest looks the same), not with the rule off; and seen bare
    before a cloud gap that hides its green-up, the field's history from every clear observation still has it come
    up."""
    past, crops = _plateau_season(20, {}, 175, "2023", date(2023, 4, 1))
    starts = {"2023": date(2023, 4, 1)}
    obs = clear_ndvi(past)
    bands, timing = expected_bands(obs, crops, starts), expected_timing(obs, crops, starts)
    em = expected_emergence_days(obs, crops, starts)
    p = AlertParams(collapse_k=99.0, duration_k=99.0, peer_stall_max=0.5)
    assert AlertParams().peer_stall_max == 0.0
    end = date(2024, 10, 31)

    def failures(level: float, fall: int | None, params: AlertParams = p, **kw: Any) -> pd.DataFrame:
        cur, fields = _stalled_season(level, fall, **kw)
        al = detect_alerts(clear_ndvi(cur), fields, bands, end, START, em, params, timing=timing)
        return al[(al["alert"] == "CROP_FAILURE") & (al["field_id"] == "f03")]

    fail = failures(0.33, 85)
    assert len(fail) == 1 and fail["date"].iloc[0] == pd.Timestamp(START + timedelta(days=90))
    ev = json.loads(fail["evidence"].iloc[0])
    assert ev["rule"] == "stalled_crop" and ev["dates"] == [str(START + timedelta(days=85)),
                                                             str(START + timedelta(days=90))]
    assert 0.3 <= ev["own_max"] < 0.35 and min(ev["cohort_ndvi"]) > 0.8 and max(ev["ndvi"]) < 0.25
    assert ev["share_of_usual_duration"] < 0.7
    assert failures(0.33, 85, params=replace(p, peer_stall_max=0.0)).empty  # off: the default
    assert failures(0.33, None).empty  # stays thin: partly planted, not lost
    assert failures(0.33, 165).empty  # share 0.8 of the usual duration after its green-up: a harvest's timing
    assert failures(0.33, 85, params=replace(p, peer_stall_drop=0.7)).empty  # its crop not far enough above it
    # its green-up hidden by cloud (seen bare on day 0, next on day 70): it came up all the same
    hidden = failures(0.33, 85, hide=(5, 65))
    assert len(hidden) == 1 and json.loads(hidden["evidence"].iloc[0])["rule"] == "stalled_crop"
    # a crop that closed its canopy (0.8) falls far enough for the peer rule, which raises it as before
    full = failures(0.8, 85)
    assert len(full) == 1 and json.loads(full["evidence"].iloc[0])["rule"] != "stalled_crop"


def test_a_stalled_crop_as_bare_as_the_fields_that_grew_like_it_is_no_failure() -> None:
    """The stalled-crop rule's rows, one condition at a time: the candidate passes; as bare as its look-alike peers
    (cut with them), come up too far (its canopy closed: the peer rule's), never up, not fallen enough, a next
    observation no longer bare, a cohort not green or not far enough above it, too late in the crop's usual
    duration, without past timing, or without a cohort on the next date do not."""
    row, cohort = _cohort_rule_case("2024-08-20", [0.65, 0.66], own_max=0.38, gap_days=5.0, greenup_rel=0.4)
    kw = {"emerged": 0.3, "own_max": 0.5, "fall": 0.08, "bare": 0.3, "green": 0.55, "drop": 0.3,
          "greenup_rel": 0.7, "below_peers": 0.1}

    def passes(**change: Any) -> bool:
        return _cohort_rule_passes(stall_candidates, "stalled", row, cohort, kw, change)

    assert passes()
    assert not passes(drop_now=0.05) and not passes(own_max=0.55) and not passes(own_max=0.28)
    assert not passes(ndvi=0.31) and not passes(own_max=0.29, ndvi=0.2)
    assert not passes(own_max=0.33, ndvi=0.27, next_ndvi=0.26)  # fell 0.06: not back to bare from its maximum
    assert not passes(next_ndvi=0.32) and not passes(cohort=[0.5, 0.66]) and not passes(cohort=[0.65, 0.5])
    assert not passes(greenup_rel=0.75) and not passes(greenup_rel=np.nan)
    assert stall_candidates(pd.DataFrame([row]), cohort.iloc[:1], **kw).empty  # no cohort on the next date
    assert stall_candidates(pd.DataFrame([row]), cohort, **(kw | {"own_max": 0.0})).empty  # off


def test_candidate_features_take_the_own_history_from_every_clear_observation() -> None:
    """The first clear observation of a field is no row of the peer table; with ``obs`` it still starts the field's
    own history (previous observation, maximum since first seen bare, green-up day); a peer row missing from
    ``obs`` is refused (the wrong observations given)."""
    d = pd.to_datetime(["2024-06-01", "2024-07-01", "2024-07-06", "2024-07-11"])
    obs = pd.DataFrame({"field_id": "a", "date": d, "ndvi": [0.15, 0.7, 0.75, 0.2]})
    peers = pd.DataFrame({"field_id": "a", "date": d[1:], "ndvi": [0.7, 0.75, 0.2], "peer_ndvi": 0.7,
                          "next_peer_ndvi": 0.7, "next_ndvi": [0.75, 0.2, np.nan], "next_date": [d[2], d[3], pd.NaT]})
    crops = pd.DataFrame({"field_id": ["a"], "crop": ["rice"]})
    start = pd.Timestamp("2024-06-01")
    new = candidate_features(peers, crops, start, None, obs=obs)
    assert new["own_max"].tolist()[1:] == [0.7, 0.75] and new["prev_ndvi"].tolist() == [0.15, 0.7, 0.75]
    assert new["days_since_greenup"].tolist() == [29, 34, 39] and new["gap_days"].tolist() == [30, 5, 5]
    old = candidate_features(peers, crops, start, None)
    assert old["own_max"].isna().all()  # its season "began" at the fall, its first bare row
    with pytest.raises(ValueError, match="missing from obs"):
        candidate_features(peers, crops, start, None, obs=obs.iloc[:3])


def test_not_planted_waits_for_a_late_crop_coming_up() -> None:
    """Past the emergence deadline with no clear NDVI at ``emerged``: bare soil is NOT_PLANTED, a field whose
    latest observation is well above its own lowest (a late-sown crop coming up) is not."""
    bands, timing, em = _expectations()
    days = np.arange(0, 150, 5)
    bare = np.full(len(days), 0.18)
    late = np.where(days >= 100, 0.18 + 0.02 * (days - 95) / 5, 0.18).clip(max=0.29)
    cur = pd.concat([_series("bare", "2024", days, bare), _series("late", "2024", days, late)])
    fields = pd.DataFrame({"field_id": ["bare", "late"], "season": "2024", "crop": "maize", "region": "r"})
    deadline = em[("r", "maize")] + AlertParams().grace_days
    as_of = START + timedelta(days=max(deadline, 120))
    al = detect_alerts(clear_ndvi(cur), fields, bands, as_of, START, em, timing=timing)
    got = set(zip(al["field_id"], al["alert"], strict=True))
    assert ("bare", "NOT_PLANTED") in got and ("late", "NOT_PLANTED") not in got
    assert emerging(late, 0.05) and not emerging(bare, 0.05) and not emerging(np.zeros(0), 0.05)
    # dated the day it was raised — the first acquisition on or after the deadline, as `evaluate alerts` dates it
    # — not the date asked: the same NOT_PLANTED moved with every query (2009-10-25, then 2010-02-28)
    first = START + timedelta(days=int(np.ceil(deadline / 5) * 5))
    for later in (as_of, as_of + timedelta(days=25)):
        again = detect_alerts(clear_ndvi(cur), fields, bands, later, START, em, timing=timing)
        np_date = again.loc[(again["field_id"] == "bare") & (again["alert"] == "NOT_PLANTED"), "date"]
        assert list(np_date) == [pd.Timestamp(first)]
    # between the deadline and the first acquisition after it: not yet raised (it was, dated with the date asked —
    # then re-dated by every later query until an acquisition came); here the acquisition on `first` is left out
    gap = cur[(cur["date"] < pd.Timestamp(START + timedelta(days=deadline))) | (cur["date"] > pd.Timestamp(first))]
    for asked in (first, first + timedelta(days=3)):  # the acquisition on `first` missing: nothing to raise it on
        q = detect_alerts(clear_ndvi(gap), fields, bands, asked, START, em, timing=timing)
        assert not ((q["field_id"] == "bare") & (q["alert"] == "NOT_PLANTED")).any(), asked
    q = detect_alerts(clear_ndvi(gap), fields, bands, first + timedelta(days=5), START, em, timing=timing)
    assert list(q.loc[(q["field_id"] == "bare") & (q["alert"] == "NOT_PLANTED"), "date"]) == \
        [pd.Timestamp(first + timedelta(days=5))]


def test_peer_anomalies_are_as_of() -> None:
    """A date's peer figures use nothing observed later: cutting the season at any date leaves the rows that
    were complete by then unchanged."""
    cur, _ = _season(15, {"f03": 135, "f07": 90}, 3)
    obs = clear_ndvi(cur)
    obs = obs[np.random.default_rng(0).random(len(obs)) > 0.25]  # some cloudy dates
    full = peer_anomalies(obs, k=5)
    for cut in ("2024-07-10", "2024-08-20"):
        part = peer_anomalies(obs[obs["date"] <= pd.Timestamp(cut)], k=5)
        done = full[full["next_date"] <= pd.Timestamp(cut)].reset_index(drop=True)
        got = part[part["next_date"].notna()].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, done)
        assert len(done) > 20


def test_record_labels_and_score() -> None:
    rec = pd.DataFrame({"field_id": ["a", "b", "c", "d", "e", "z"], "season": "2020",
                        "sowing_date": ["2020-06-01", "", "2020-06-02", "2020-06-03", "", "2020-06-04"],
                        "harvest_date": ["", "", "2020-10-01", "", "", "2020-10-02"],
                        "reported_yield_t_ha": ["0.00", "", "4.5", "", "3.0", "0.00"]})
    lab = record_labels(rec, "2020")
    # d: missing report; z: harvested for nothing (a crop-out at maturity, not a mid-season collapse)
    assert lab.to_dict() == {"a": "failure", "b": "never_planted", "c": "ok", "e": "ok"}
    al = pd.DataFrame({"field_id": ["a", "c", "d"], "alert": ["CROP_FAILURE", "NOT_PLANTED", "CROP_FAILURE"]})
    m = record_score(al, lab)
    assert m == {"events": 2, "detected": 1, "high_alerts": 2, "right": 1, "recall": 0.5, "precision": 0.5}


def test_peers_come_from_the_same_crop() -> None:
    cur, _ = _season(12, {"f03": 135}, 4)
    obs = clear_ndvi(cur)
    groups = pd.Series({f"f{k:02d}": ("maize" if k < 11 else "sorghum") for k in range(12)})
    pa = peer_anomalies(obs, k=5, groups=groups)
    alone = pa[pa["field_id"] == "f11"]  # the only sorghum field has no peers
    assert len(alone) > 0 and alone["peer_ndvi"].isna().all()
    maize = pa[pa["field_id"] == "f03"]
    assert maize["peer_ndvi"].notna().all() and (maize["n_peers"] == 5).all()


def test_a_collapse_shared_by_the_peers_is_not_a_timing_failure() -> None:
    """Every field collapsing on day 100 (frost, snow) is far earlier than the past seasons' harvest on day 175:
    the timing rule alone calls them all failures; corroborated by the peers, none is."""
    bands, timing, em = _expectations()
    everyone = {f"f{k:02d}": 100 for k in range(25)}
    cur, fields = _season(25, everyone, 5)
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em, timing=timing)
    assert not (al["alert"] == "CROP_FAILURE").any()
    alone = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em,
                          AlertParams(timing_needs_peers=False), timing=timing)
    assert (alone["alert"] == "CROP_FAILURE").sum() == 25


def test_a_thin_or_senescing_canopy_is_not_a_failure() -> None:
    """Below the green peers on two observations but not gone: a thin canopy that never fell (partly planted)
    and a fall that stops at 0.40 (early senescence) are no failures; a fall to bare soil is."""
    bands, timing, em = _expectations()
    cur, fields = _season(25, {"f05": 120}, 6)
    days = (cur["date"] - pd.Timestamp(START)).dt.days
    thin = cur["field_id"] == "f03"
    cur.loc[thin, "mean"] = 0.18 + 0.5 * (cur.loc[thin, "mean"] - 0.18)
    dry = (cur["field_id"] == "f04") & (days >= 120) & (days < 175)
    cur.loc[dry, "mean"] = 0.40
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 10, 15), START, em,
                       AlertParams(peer_drop_single=1.0), timing=timing)
    assert list(al.loc[al["alert"] == "CROP_FAILURE", "field_id"]) == ["f05"]


def test_mismatch_is_the_policy_test_with_the_model_call_as_evidence() -> None:
    from pipelines.monitor import mismatch_mask

    past, crops = _past()
    bands = expected_bands(clear_ndvi(past), crops, {"2023": date(2023, 4, 1)})
    days = np.arange(0, 150, 5)
    cur = pd.concat([_series(f, "2024", days, _curve(days)) for f in ("low", "edge", "none")])
    fields = pd.DataFrame({"field_id": ["low", "edge", "none"], "season": "2024", "crop": "maize", "region": "r",
                           "declared_crop_prob": [0.05, 0.20, np.nan], "crop_type": ["soybean", "soybean", None],
                           "crop_type_prob": [0.91, 0.55, np.nan]})
    assert mismatch_mask(fields, AlertParams()).tolist() == [True, False, False]  # below 0.20; unknown is not low
    al = detect_alerts(clear_ndvi(cur), fields, bands, date(2024, 8, 28), START, {("r", "maize"): 60})
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["field_id"].tolist() == ["low"]
    assert json.loads(mis["evidence"].iloc[0]) == {"declared_crop_prob": 0.05, "crop_type": "soybean",
                                                    "crop_type_prob": 0.91}


def _cohort_season() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six maize fields (peak day 110) and six sorghum fields (peak day 150) declared right, plus ``look`` —
    declared sorghum and growing like this season's sorghum — and ``swap`` — declared sorghum, growing maize;
    the crop-type model calls both maize with the declared crop's probability 0.02."""
    rng = np.random.default_rng(3)
    days = np.arange(0, 200, 5)
    frames, rows = [], []
    for k in range(6):
        for crop, centre in (("maize", 110), ("sorghum", 150)):
            fid = f"{crop[0]}{k}"
            frames.append(_series(fid, "2024", days, _curve(days, centre=centre) + rng.normal(0, 0.02, len(days))))
            rows.append((fid, crop, 0.95, crop))
    for fid, centre in (("look", 150), ("swap", 110)):
        frames.append(_series(fid, "2024", days, _curve(days, centre=centre) + rng.normal(0, 0.02, len(days))))
        rows.append((fid, "sorghum", 0.02, "maize"))
    fields = pd.DataFrame(rows, columns=["field_id", "crop", "declared_crop_prob", "crop_type"]).assign(
        season="2024", region="r", crop_type_prob=0.97)
    return pd.concat(frames, ignore_index=True), fields


def test_the_seasons_own_cohort_disputes_a_mismatch() -> None:
    """A field the model calls another crop but that grows like the fields declared as its crop this season is
    no mismatch; one growing like the model's crop is, with the ratio as evidence; the check can be turned off,
    and a cohort of fewer than k fields gives no evidence."""
    from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio
    from pipelines.monitor import mismatch_cohort, mismatch_mask

    cur, fields = _cohort_season()
    obs = clear_ndvi(cur)
    as_of = pd.Timestamp(2024, 9, 15)
    traj = SeasonTrajectories(obs)
    dec = pd.Series(fields["crop"].to_numpy(), index=fields["field_id"])
    call = pd.Series(fields["crop_type"].to_numpy(), index=fields["field_id"])
    r = cohort_ratio(traj, dec, call, as_of, ["look", "swap", "m0"])
    assert r["look"] < 0.5 and r["swap"] > 2.0 and np.isnan(r["m0"])  # m0: called what it was declared
    assert np.isnan(cohort_ratio(traj, dec, call, as_of, ["look"], k=7)["look"])  # only 6 maize fields
    rows = mismatch_mask(fields, AlertParams())
    assert fields.loc[rows, "field_id"].tolist() == ["look", "swap"]
    ratio = mismatch_cohort(obs, fields, as_of, AlertParams(), rows)
    assert np.isnan(ratio[~rows]).all()
    assert fields.loc[mismatch_mask(fields, AlertParams(), ratio), "field_id"].tolist() == ["swap"]
    al = detect_alerts(obs, fields, pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"]),
                       as_of.date(), START, {})
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["field_id"].tolist() == ["swap"]
    assert json.loads(mis["evidence"].iloc[0])["cohort_ratio"] == round(r["swap"], 4)
    off = detect_alerts(obs, fields, pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"]),
                        as_of.date(), START, {}, AlertParams(mismatch_cohort_days=0))
    assert sorted(off.loc[off["alert"] == "CROP_MISMATCH", "field_id"]) == ["look", "swap"]


def test_the_seasons_cohort_raises_a_mismatch_the_model_leaves_in_doubt() -> None:
    """Declared sorghum at a declared-crop probability of 0.35 (not below the policy's 0.20): ``swap``, growing like
    this season's maize fields (cohort ratio > 3), is a CROP_MISMATCH on the season's evidence, the ratio in its
    evidence; ``look``, growing like the sorghum fields, is not; above ``mismatch_season_prob``, with the branch off
    (ratio 0) or the cohort check off, neither is (RULE13k)."""
    from pipelines.monitor import mismatch_candidates, mismatch_passes

    cur, fields = _cohort_season()
    fields.loc[fields["field_id"].isin(["look", "swap"]), "declared_crop_prob"] = 0.35
    obs = clear_ndvi(cur)
    as_of = pd.Timestamp(2024, 9, 15)
    empty = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    assert fields.loc[mismatch_candidates(fields, AlertParams()), "field_id"].tolist() == ["look", "swap"]
    al = detect_alerts(obs, fields, empty, as_of.date(), START, {})
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["field_id"].tolist() == ["swap"]
    ev = json.loads(mis["evidence"].iloc[0])
    assert ev["declared_crop_prob"] == 0.35 and ev["cohort_ratio"] > 3.0
    for p in (AlertParams(mismatch_season_ratio=0.0), AlertParams(mismatch_cohort_days=0),
              AlertParams(mismatch_season_prob=0.3)):
        off = detect_alerts(obs, fields, empty, as_of.date(), START, {}, p)
        assert (off["alert"] == "CROP_MISMATCH").sum() == 0
    p = AlertParams()
    assert mismatch_passes(0.1, float("nan"), p) and not mismatch_passes(0.1, 0.9, p)  # the policy test and its veto
    assert mismatch_passes(0.45, 3.0, p) and mismatch_passes(0.45, float("inf"), p)
    assert not mismatch_passes(0.45, 2.9, p) and not mismatch_passes(0.5, 3.0, p)
    assert not mismatch_passes(0.45, float("nan"), p) and not mismatch_passes(float("nan"), 3.0, p)


def test_the_cohort_ratio_is_as_of() -> None:
    """Observations after the as-of date change nothing: the ratio of a date is the same with or without
    them (the swapped field only shows itself once the two crops' curves part)."""
    from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio

    cur, fields = _cohort_season()
    obs = clear_ndvi(cur)
    dec = pd.Series(fields["crop"].to_numpy(), index=fields["field_id"])
    call = pd.Series(fields["crop_type"].to_numpy(), index=fields["field_id"])
    as_of = pd.Timestamp(2024, 7, 10)
    full = cohort_ratio(SeasonTrajectories(obs), dec, call, as_of, ["look", "swap"])
    cut = cohort_ratio(SeasonTrajectories(obs[obs["date"] <= as_of]), dec, call, as_of, ["look", "swap"])
    assert full == cut
    later = cohort_ratio(SeasonTrajectories(obs), dec, call, pd.Timestamp(2024, 9, 15), ["swap"])
    assert later["swap"] != full["swap"]


def test_fields_the_model_merely_calls_a_crop_do_not_join_its_cohort() -> None:
    """Three undeclared fields grow like ``swap`` and the model calls them sorghum (season_alerts fills ``crop`` with
    the model's answer where nothing was declared). Counted in the sorghum cohort they would vouch for ``swap``
    (declared sorghum, growing maize) and veto its mismatch; with ``declared_crop`` the cohorts hold declared
    fields only and the mismatch stands."""
    from pipelines.monitor import mismatch_cohort, mismatch_mask

    cur, fields = _cohort_season()
    rng = np.random.default_rng(4)
    days = np.arange(0, 200, 5)
    swap_ndvi = cur.loc[cur["field_id"] == "swap", "mean"].to_numpy()
    extra = [_series(f"u{k}", "2024", days, swap_ndvi + rng.normal(0, 0.002, len(days))) for k in range(3)]
    cur = pd.concat([cur, *extra], ignore_index=True)
    und = pd.DataFrame({"field_id": [f"u{k}" for k in range(3)], "crop": "sorghum", "declared_crop_prob": np.nan,
                        "crop_type": "sorghum", "season": "2024", "region": "r", "crop_type_prob": 0.9})
    filled = pd.concat([fields, und], ignore_index=True)
    obs = clear_ndvi(cur)
    as_of = pd.Timestamp(2024, 9, 15)
    rows = mismatch_mask(filled, AlertParams())
    assert filled.loc[rows, "field_id"].tolist() == ["look", "swap"]
    swap = filled.index[filled["field_id"] == "swap"][0]
    vouched = mismatch_cohort(obs, filled, as_of, AlertParams(), rows)
    assert vouched[swap] <= 1.0  # the model-called fields would veto it
    declared = filled.assign(declared_crop=filled["crop"].where(filled["field_id"].str[0] != "u"))
    ratio = mismatch_cohort(obs, declared, as_of, AlertParams(), rows)
    assert ratio[swap] > 2.0
    assert declared.loc[mismatch_mask(declared, AlertParams(), ratio), "field_id"].tolist() == ["swap"]


def test_season_days_and_own_crop_obs_equal_the_row_by_row_lookup() -> None:
    """The vectorised lookups give what a row-by-row lookup gives: days from each row's season start (floored
    like pandas' ``.dt.days``; NaN for a season without a start) and the observations from each crop's first day
    on (kept whole where the season or the crop has none)."""
    rng = np.random.default_rng(3)
    n = 400
    seasons = rng.choice(["2022", "2023", "2024"], n)
    starts = {"2022": date(2022, 4, 1), "2023": date(2023, 4, 1)}  # 2024 has none
    dates = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 1100, n), unit="D") \
        + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    obs = pd.DataFrame({"field_id": [f"f{i % 40}" for i in range(n)], "season": pd.array(seasons, dtype="string"),
                        "date": dates, "ndvi": rng.uniform(0, 1, n)})
    got = season_start_days(obs["date"], obs["season"], starts)
    want = [(d - pd.Timestamp(starts[s])).days if s in starts else np.nan for d, s in zip(dates, seasons, strict=True)]
    np.testing.assert_array_equal(got, np.asarray(want, dtype=float))
    crops = pd.DataFrame([(f"f{i}", s, ["maize", "rice", None][i % 3], "r") for i in range(35)
                          for s in ("2022", "2023", "2024")], columns=["field_id", "season", "crop", "region"])
    first = {("r", "maize"): 30, ("r", "rice"): 90}
    kept = own_crop_obs(obs, crops, starts, first)
    m = obs.merge(crops, on=["field_id", "season"], how="left")
    keep = [s not in starts or (d - pd.Timestamp(starts[s])).days >= first.get((str(r), str(c)), -10**6)
            for d, s, r, c in zip(m["date"], m["season"], m["region"], m["crop"], strict=True)]
    pd.testing.assert_frame_equal(kept, obs.loc[keep].reset_index(drop=True))
    assert 0 < len(kept) < n


def test_run_bounds_slice_as_a_groupby_would() -> None:
    """The alert loops slice sorted arrays by run_bounds instead of a pandas groupby: the same rows per key."""
    from pipelines._monitor_expect import run_bounds

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"field_id": rng.choice(["a", "b", "c", "d"], 60), "season": rng.choice(["2007", "2008"], 60),
                       "v": np.arange(60.0)}).sort_values(["field_id", "season"], kind="stable")
    fid, season, v = (df["field_id"].to_numpy(dtype=object), df["season"].to_numpy(dtype=object),
                      df["v"].to_numpy())
    b = run_bounds(fid, season)
    got = {(fid[i], season[i]): v[i:j].tolist() for i, j in zip(b[:-1], b[1:], strict=True)}
    assert got == {k: g["v"].tolist() for k, g in df.groupby(["field_id", "season"])}
    assert run_bounds(np.array([], dtype=object)).tolist() == [0]


def test_no_observed_field_with_a_crop_raises_no_collapse_and_no_error() -> None:
    """`reunderwrite --due` at the demo's first checkpoints (pre-season, 2009-06-01; maize emergence, 2009-07-20)
    ended in a traceback (IndexError in collapse_candidates): the peers had rows only for fields without a crop (a
    field's own observations start at its crop's pre-season checkpoint), and the per-field loop indexed an empty
    array."""
    bands, timing, em = _expectations()
    cur, fields = _season(12, {"f03": 135}, 6)
    al = detect_alerts(clear_ndvi(cur), fields.assign(crop=None), bands, date(2024, 9, 1), START, em, timing=timing)
    assert not (al["alert"] == "CROP_FAILURE").any()


def test_a_mismatch_is_dated_from_the_run_of_checkpoints_that_raised_it() -> None:
    """CROP_MISMATCH was dated with the date asked (the same alert moved with every query); with the model's earlier
    checkpoints it is dated, as every other alert, by when it was raised: the first acquisition date from the first
    checkpoint below 0.20 — for ``broken``, whose low run was interrupted by a high checkpoint, the first run's (it
    was dated from the latest run, the evaluation's replay keeping the first); the probabilities from the run that
    raised it to the one in force are evidence."""
    past, crops = _past()
    bands = expected_bands(clear_ndvi(past), crops, {"2023": date(2023, 4, 1)})
    days = np.arange(2, 150, 5)  # acquisitions 2, 7, 12, ... days after the season start
    cur = pd.concat([_series(f, "2024", days, _curve(days)) for f in ("long", "broken", "new", "ok")])
    fields = pd.DataFrame({"field_id": ["long", "broken", "new", "ok"], "season": "2024", "crop": "maize",
                           "region": "r", "declared_crop_prob": [0.05, 0.10, 0.15, 0.90],
                           "crop_type": ["soybean"] * 3 + ["maize"], "crop_type_prob": [0.9, 0.8, 0.7, 0.9]})
    c1, c2, c3 = (pd.Timestamp(START) + pd.Timedelta(days=d) for d in (60, 90, 120))
    hist = pd.DataFrame({"field_id": ["long"] * 3 + ["broken"] * 3 + ["new"] * 3 + ["ok"] * 3,
                         "as_of": [c1, c2, c3] * 4, "crop_type": "soybean", "crop_type_prob": 0.9,
                         "declared_crop_prob": [0.10, 0.02, 0.04, 0.12, 0.55, 0.10, 0.60, 0.70, 0.19,
                                                0.9, 0.9, 0.9]})
    as_of = date(2024, 8, 28)  # day 149
    p = AlertParams(mismatch_cohort_days=0)
    plain = detect_alerts(clear_ndvi(cur), fields, bands, as_of, START, {("r", "maize"): 60}, p)
    dated = detect_alerts(clear_ndvi(cur), fields, bands, as_of, START, {("r", "maize"): 60}, p,
                          mismatch_history=hist)
    got = {f: (d, json.loads(e)) for f, a, d, e in zip(dated["field_id"], dated["alert"], dated["date"],
                                                       dated["evidence"], strict=True) if a == "CROP_MISMATCH"}
    assert set(got) == {"long", "broken", "new"}
    assert set(plain.loc[plain["alert"] == "CROP_MISMATCH", "date"]) == {pd.Timestamp(as_of)}  # as before
    first_from = {k: pd.Timestamp(START) + pd.Timedelta(days=d) for k, d in (("long", 62), ("broken", 62),
                                                                              ("new", 122))}
    assert {f: got[f][0] for f in got} == first_from  # the first acquisition on or after the run's checkpoint
    assert got["long"][1]["declared_crop_prob_by_checkpoint"] == [[str(c1.date()), 0.1], [str(c2.date()), 0.02],
                                                                  [str(c3.date()), 0.05]]  # the last: the features'
    assert got["broken"][1]["declared_crop_prob_by_checkpoint"] == [[str(c1.date()), 0.12], [str(c2.date()), 0.55],
                                                                    [str(c3.date()), 0.1]]
    assert got["long"][1]["declared_crop_prob"] == 0.05
    # the date does not depend on the date asked: on the checkpoint's day and the next (no acquisition yet on or after
    # it) it is not raised yet — as NOT_PLANTED, and as `evaluate alerts` replays it — then it is dated with that
    # acquisition whenever asked (a first version dated it with the date asked, then re-dated it at the acquisition)
    first_acq = pd.Timestamp(START) + pd.Timedelta(days=122)
    for asked, want in ((c3, []), (c3 + pd.Timedelta(days=1), []), (first_acq, [first_acq]),
                        (pd.Timestamp(as_of), [first_acq])):
        h = hist[hist["as_of"] <= asked]
        q = detect_alerts(clear_ndvi(cur[cur["date"] <= asked]), fields, bands, asked.date(), START,
                          {("r", "maize"): 60}, p, mismatch_history=h)
        assert q.loc[(q["alert"] == "CROP_MISMATCH") & (q["field_id"] == "new"), "date"].tolist() == want, asked
    # the evaluation's replay dates it so too
    from pipelines.evaluation.alerts import _first_mismatch

    obs = clear_ndvi(cur)
    replay = _first_mismatch(obs, fields, hist.assign(declared_crop_prob=hist["declared_crop_prob"]), p,
                             sorted(pd.to_datetime(obs["date"].unique())))
    assert {f: replay[(f, "CROP_MISMATCH")]["date"] for f in got} == {f: got[f][0] for f in got}


def _swap_with_history(prob: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, pd.DataFrame]:
    """``swap`` and the two cohorts of :func:`_cohort_season`, asked on 2024-09-15, with the model's history: two
    checkpoints (day 60 and the day before) calling ``swap`` maize with the declared crop at ``prob``."""
    cur, fields = _cohort_season()
    fields = fields[fields["field_id"].isin(["swap", *[f"m{k}" for k in range(6)], *[f"s{k}" for k in range(6)]])]
    as_of = pd.Timestamp(2024, 9, 15)
    c1 = pd.Timestamp(START) + pd.Timedelta(days=60)
    hist = pd.DataFrame({"field_id": ["swap", "swap"], "as_of": [c1, as_of - pd.Timedelta(days=1)],
                         "crop_type": "maize", "crop_type_prob": 0.97, "declared_crop_prob": [prob, prob]})
    return clear_ndvi(cur), fields, as_of, hist


def test_a_dated_mismatch_waits_for_the_cohort_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the run, the alert is raised on the first acquisition date on which the season's cohort check lets it
    through (with the crop the model called then), as the evaluation replays it."""
    import pipelines._monitor_mismatch as mismatch  # where the rule looks cohort_ratio up

    obs, fields, as_of, hist = _swap_with_history(0.02)
    real = mismatch.cohort_ratio
    veto_until = pd.Timestamp(START) + pd.Timedelta(days=100)

    def vetoing(traj, declared, called, when, fids, **kw):  # the season's cohort disputes it until day 100
        out = real(traj, declared, called, when, fids, **kw)
        return {f: (0.5 if when < veto_until else v) for f, v in out.items()}

    monkeypatch.setattr(mismatch, "cohort_ratio", vetoing)
    empty_bands = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    al = detect_alerts(obs, fields, empty_bands, as_of.date(), START, {}, mismatch_history=hist)
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["field_id"].tolist() == ["swap"]
    assert mis["date"].iloc[0] == veto_until  # the series is every 5 days: day 100 is an acquisition


def test_a_mismatch_raised_on_an_acquisition_stays_when_the_ratio_of_the_day_asked_falls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The season's branch let ``swap`` (declared-crop probability 0.35) through on the acquisitions before day 100
    (cohort ratio 5); from then on the ratio is 1.5 (its 120-day window slides). Monitor gated the alert on the ratio of
    the day asked, so a query at 2024-09-15 dropped the CROP_MISMATCH the evaluation's replay raised on day 62 (review
    R1); it is now raised as the replay raises it, its evidence the ratio of that day."""
    from pipelines.evaluation.alerts import _first_mismatch

    obs, fields, as_of, hist = _swap_with_history(0.35)
    fields = fields.assign(declared_crop_prob=np.where(fields["field_id"] == "swap", 0.35, 0.95))
    al = _alerts_with_sliding_ratio(monkeypatch, obs, fields, as_of, hist)
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["field_id"].tolist() == ["swap"]
    first_acq = pd.Timestamp(START) + pd.Timedelta(days=60)  # the series is every 5 days from day 0
    assert mis["date"].iloc[0] == first_acq
    assert json.loads(mis["evidence"].iloc[0])["cohort_ratio"] == 5.0
    replay = _first_mismatch(obs, fields, hist, AlertParams(), sorted(pd.to_datetime(obs["date"].unique())))
    assert replay[("swap", "CROP_MISMATCH")]["date"] == first_acq
    # without the model's history: the day asked's test, as before (ratio 1.5 < 3: not raised)
    plain = detect_alerts(obs, fields, pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"]),
                          as_of.date(), START, {})
    assert (plain["alert"] == "CROP_MISMATCH").sum() == 0


def test_mismatch_history_is_what_the_model_said_on_each_checkpoint_date() -> None:
    """:func:`mismatch_history` predicts on each checkpoint's date: the rows equal the model's own prediction as of
    that date, with the checkpoint's date."""
    from features.crop_type import field_windows
    from pipelines.monitor import mismatch_history

    class Model:
        checkpoints_ = [60, 90, "end"]
        season_days = 300

        def predict(self, series, fields, as_of=None):
            day = (pd.Timestamp(as_of) - pd.Timestamp(START)).days
            end = (pd.Timestamp(field_windows(fields, season_days=self.season_days)["end"].iloc[0])
                   - pd.Timestamp(START)).days
            ck = ["end"] if day >= end else [str(c) for c in self.checkpoints_[:-1] if c <= day]
            n = len(fields)
            return pd.DataFrame({"field_id": fields["field_id"].to_numpy(), "checkpoint": ck[-1] if ck else None,
                                 "crop_type": "soybean", "crop_type_prob": 0.9,
                                 "declared_crop_prob": [0.001 * day] * n})

    fields = pd.DataFrame({"field_id": ["a", "b"], "season": "2024", "region": "r", "declared_crop": "maize",
                           "season_start": pd.Timestamp(START)})
    h = mismatch_history(Model(), pd.DataFrame(), fields, date(2024, 7, 10))  # day 100: checkpoints 60 and 90
    assert h["as_of"].tolist() == [pd.Timestamp(START) + pd.Timedelta(days=d) for d in (60, 60, 90, 90)]
    assert h["declared_crop_prob"].tolist() == pytest.approx([0.06, 0.06, 0.09, 0.09])
    # from the window's end the season-end model is in force: its rows carry the end's date (a review found its
    # probability labelled with the last in-season checkpoint's date, and the alert back-dated to it)
    end = pd.Timestamp(field_windows(fields, season_days=300)["end"].iloc[0]).normalize()
    h = mismatch_history(Model(), pd.DataFrame(), fields, (end + pd.Timedelta(days=10)).date())
    last = h[h["as_of"] == h["as_of"].max()]
    assert last["as_of"].iloc[0] == end and len(last) == 2
    assert last["declared_crop_prob"].tolist() == pytest.approx([0.001 * (end - pd.Timestamp(START)).days] * 2)
    assert mismatch_history(Model(), pd.DataFrame(), fields, date(2024, 5, 1)) is None  # before any checkpoint
    assert mismatch_history(None, pd.DataFrame(), fields, date(2024, 7, 10)) is None


def test_a_field_equally_near_both_cohorts_is_no_evidence() -> None:
    """A field whose NDVI matches both its declared crop's fields and the model's crop's fields exactly (0 over 0:
    the same scenes over one block, a cloudy season's single clear value) has no cohort evidence either way (NaN);
    it was an infinite ratio, which the season's branch (probability below 0.5, ratio at least 3) took for strong
    evidence and raised a high-severity CROP_MISMATCH on a declared-crop probability of 0.35 (review R1)."""
    from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio

    days = np.arange(0, 200, 5)
    same = _curve(days, centre=130)
    frames, rows = [], []
    for k in range(3):
        for crop in ("maize", "sorghum"):
            frames.append(_series(f"{crop[0]}{k}", "2024", days, same))
            rows.append((f"{crop[0]}{k}", crop, 0.95, crop))
    frames.append(_series("flat", "2024", days, same))
    rows.append(("flat", "sorghum", 0.35, "maize"))
    fields = pd.DataFrame(rows, columns=["field_id", "crop", "declared_crop_prob", "crop_type"]).assign(
        season="2024", region="r", crop_type_prob=0.6)
    obs = clear_ndvi(pd.concat(frames, ignore_index=True))
    as_of = pd.Timestamp(2024, 9, 15)
    dec = pd.Series(fields["crop"].to_numpy(), index=fields["field_id"])
    call = pd.Series(fields["crop_type"].to_numpy(), index=fields["field_id"])
    assert np.isnan(cohort_ratio(SeasonTrajectories(obs), dec, call, as_of, ["flat"])["flat"])
    empty = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    al = detect_alerts(obs, fields, empty, as_of.date(), START, {})
    assert (al["alert"] == "CROP_MISMATCH").sum() == 0


def test_an_interrupted_run_of_low_checkpoints_keeps_the_date_the_first_run_raised_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``swap``'s declared crop at 0.35 on the checkpoints of days 60 and 120, 0.80 on day 90 (the model agreeing
    with the declaration for a while); the season's branch let it through on the acquisitions before day 100 (ratio
    5), not after (1.5). The evaluation's replay raises it on day 60 and keeps it; monitor dated it from the latest
    run alone (day 120 on: never raised, ratio 1.5) — now both ask one function and agree, the evidence listing the
    checkpoints from the run that raised it, the high one included."""
    from pipelines.evaluation.alerts import _first_mismatch

    obs, fields, as_of, _ = _swap_with_history(0.35)
    fields = fields.assign(declared_crop_prob=np.where(fields["field_id"] == "swap", 0.35, 0.95))
    c1, c2, c3 = (pd.Timestamp(START) + pd.Timedelta(days=d) for d in (60, 90, 120))
    hist = pd.DataFrame({"field_id": "swap", "as_of": [c1, c2, c3], "crop_type": "maize", "crop_type_prob": 0.9,
                         "declared_crop_prob": [0.35, 0.80, 0.35]})
    al = _alerts_with_sliding_ratio(monkeypatch, obs, fields, as_of, hist)
    mis = al[al["alert"] == "CROP_MISMATCH"]
    replay = _first_mismatch(obs, fields, hist, AlertParams(), sorted(pd.to_datetime(obs["date"].unique())))
    assert replay[("swap", "CROP_MISMATCH")]["date"] == c1  # the series is every 5 days: day 60 is an acquisition
    assert mis["field_id"].tolist() == ["swap"] and mis["date"].tolist() == [c1]
    ev = json.loads(mis["evidence"].iloc[0])
    assert ev["cohort_ratio"] == 5.0
    assert ev["declared_crop_prob_by_checkpoint"] == [[str(c1.date()), 0.35], [str(c2.date()), 0.8],
                                                      [str(c3.date()), 0.35]]


def test_a_season_branch_mismatch_at_an_infinite_cohort_ratio_shows_it_in_valid_json() -> None:
    """``swap`` (declared sorghum at 0.35, called maize) grows exactly as three of the maize fields: distance 0 from the
    model crop's cohort, an infinite cohort ratio — the season's branch raised it with no ratio in its evidence (the
    evidence kept only finite ratios). Monitor and the replay now give it as "∞" (valid JSON, no bare Infinity) and
    monitor's text reads "cohort ratio ∞"."""
    from pipelines._monitor_format import format_evidence
    from pipelines.evaluation.alerts import _first_mismatch

    cur, fields = _cohort_season()
    swap = cur[cur["field_id"] == "swap"]
    cur = pd.concat([cur[~cur["field_id"].isin(["m0", "m1", "m2"])],
                     *[swap.assign(field_id=f) for f in ("m0", "m1", "m2")]], ignore_index=True)
    fields = fields[fields["field_id"].isin(["swap", *[f"m{k}" for k in range(6)], *[f"s{k}" for k in range(6)]])]
    fields = fields.assign(declared_crop_prob=np.where(fields["field_id"] == "swap", 0.35, 0.95))
    obs = clear_ndvi(cur)
    as_of = pd.Timestamp(2024, 9, 15)
    c1 = pd.Timestamp(START) + pd.Timedelta(days=150)
    hist = pd.DataFrame({"field_id": ["swap", "swap"], "as_of": [c1, as_of - pd.Timedelta(days=1)],
                         "crop_type": "maize", "crop_type_prob": 0.9, "declared_crop_prob": [0.35, 0.35]})
    empty_bands = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])

    def strict(text: str) -> dict:  # type: ignore[type-arg]
        def bare(c: str) -> None:
            raise ValueError(f"not JSON: {c}")
        return json.loads(text, parse_constant=bare)  # type: ignore[no-any-return]

    for h in (None, hist):  # the day asked's test, and dated from the model's checkpoints
        al = detect_alerts(obs, fields, empty_bands, as_of.date(), START, {}, mismatch_history=h)
        mis = al[al["alert"] == "CROP_MISMATCH"]
        assert mis["field_id"].tolist() == ["swap"]
        ev = strict(mis["evidence"].iloc[0])
        assert ev.get("cohort_ratio") == "∞"
        assert "cohort ratio ∞" in format_evidence(mis["evidence"].iloc[0])
    replay = _first_mismatch(obs, fields, hist, AlertParams(), sorted(pd.to_datetime(obs["date"].unique())))
    assert strict(replay[("swap", "CROP_MISMATCH")]["evidence"])["cohort_ratio"] == "∞"


def test_a_cohort_ratio_vouching_where_the_season_disputes_is_refused() -> None:
    """At most ``mismatch_cohort_ratio`` the season vouches for a declaration (a veto), at least
    ``mismatch_season_ratio`` it disputes it (an alert): a cohort ratio at or above the season's made one ratio both —
    nothing stopped it. Refused at construction (one line naming both) and, read from a model's saved thresholds,
    a one-line user error; the season's branch off (0) leaves the veto free."""
    from features.errors import UserInputError
    from pipelines.monitor import alert_params_of

    for cohort, season in ((3.0, 3.0), (4.0, 3.0)):
        with pytest.raises(ValueError, match="mismatch_cohort_ratio .* mismatch_season_ratio") as e:
            AlertParams(mismatch_cohort_ratio=cohort, mismatch_season_ratio=season)
        assert "\n" not in str(e.value)
    assert AlertParams(mismatch_cohort_ratio=4.0, mismatch_season_ratio=0).mismatch_cohort_ratio == 4.0
    assert AlertParams(mismatch_cohort_ratio=2.9, mismatch_season_ratio=3.0).mismatch_season_ratio == 3.0

    class Model:
        alert_params_ = {"in-smallholder": {"mismatch_cohort_ratio": 3.0, "collapse_k": 1.0}}

    with pytest.raises(UserInputError, match="alert_params of region in-smallholder: .*mismatch_cohort_ratio") as u:
        alert_params_of(Model(), "in-smallholder")
    assert "\n" not in str(u.value)


def test_monitor_asks_the_models_history_for_a_season_branch_candidate_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """season_alerts asked the crop-type model's checkpoint history only when a field's declared crop was below the
    policy's 0.20, so a season whose only candidate was the season branch's (``swap`` at 0.35) had its CROP_MISMATCH
    dated with the date asked — where the evaluation's replay dates it by the first acquisition the rule let through.
    The history is asked for every candidate (below :func:`candidate_prob`): monitor's date is the replay's."""
    import pipelines.monitor as mon
    from pipelines.evaluation.alerts import _first_mismatch

    monkeypatch.setattr(mon, "crop_first_days", lambda region, season, calendar=None: {})
    monkeypatch.setattr("features.series.season_window", lambda s, region: (date(int(s), 4, 1), None))
    cur, fields = _cohort_season()
    fields = fields[fields["field_id"].isin(["swap", *[f"m{k}" for k in range(6)], *[f"s{k}" for k in range(6)]])]
    fields = fields.assign(declared_crop_prob=np.where(fields["field_id"] == "swap", 0.35, 0.95))
    past, crops = _past()
    every = pd.concat([fields[["field_id", "season", "crop", "region"]], crops], ignore_index=True).rename(
        columns={"crop": "declared_crop"}).assign(farmer_token=lambda d: "T" + d["field_id"])
    c1 = pd.Timestamp(START) + pd.Timedelta(days=60)
    hist = pd.DataFrame({"field_id": ["swap"], "as_of": [c1], "crop_type": "maize", "crop_type_prob": 0.9,
                         "declared_crop_prob": [0.35]})
    asked: list[date] = []

    def history(model, series, f, as_of):  # type: ignore[no-untyped-def]
        asked.append(as_of)
        return hist

    monkeypatch.setattr(mon, "mismatch_history", history)
    as_of = date(2024, 9, 15)
    feats = fields[["field_id", "crop_type", "crop_type_prob", "declared_crop_prob"]]
    al = mon.season_alerts(every, cur, past, "2024", as_of, features=feats, crop_model=object())
    mis = al[al["alert"] == "CROP_MISMATCH"]
    obs = clear_ndvi(cur)
    replay = _first_mismatch(obs, fields, hist, AlertParams(), sorted(pd.to_datetime(obs["date"].unique())))
    assert asked == [as_of]
    assert mis["field_id"].tolist() == ["swap"]
    assert mis["date"].tolist() == [replay[("swap", "CROP_MISMATCH")]["date"]] != [pd.Timestamp(as_of)]


def _alerts_with_sliding_ratio(monkeypatch: pytest.MonkeyPatch, obs: pd.DataFrame, fields: pd.DataFrame,
                               as_of: pd.Timestamp, hist: pd.DataFrame) -> pd.DataFrame:
    """detect_alerts with the cohort ratio of every field with evidence 5.0 before day 100 of the season and 1.5
    from it on (the 120-day window sliding between acquisitions), no bands."""
    import pipelines._monitor_mismatch as mismatch  # where the rule looks cohort_ratio up

    real = mismatch.cohort_ratio
    turn = pd.Timestamp(START) + pd.Timedelta(days=100)

    def sliding(traj, declared, called, when, fids, **kw):  # type: ignore[no-untyped-def]
        out = real(traj, declared, called, when, fids, **kw)
        return {f: (5.0 if pd.Timestamp(when) < turn else 1.5) if np.isfinite(v) else v for f, v in out.items()}

    monkeypatch.setattr(mismatch, "cohort_ratio", sliding)
    empty_bands = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    return detect_alerts(obs, fields, empty_bands, as_of.date(), START, {}, mismatch_history=hist)


def _dates(days: Any) -> np.ndarray:
    """Acquisition dates ``days`` after the season start, as the alert rules take them."""
    return (pd.Timestamp(START) + pd.to_timedelta(np.asarray(days), unit="D")).to_numpy()


def test_came_up_date_at_its_thresholds() -> None:
    """The boundaries :func:`came_up_date` documents, on hand-made series: "at or above ``emerged``" (an observation
    of exactly 0.3 came up); with ``rise`` an observation dated before the expected day counts "at least ``rise``
    above the lowest earlier" one (exactly 0.25 above counts), and without an expected day (None) only such a rise
    does — a field green from its first observation, or green by less than ``rise`` above its lowest, never came up
    (binary fractions: the differences are exact)."""
    d = _dates([0, 10, 20, 30])
    assert came_up_date(d, np.array([0.1, 0.3, 0.2, 0.2]), 0.3, 0.0, None) == d[1]
    assert came_up_date(d, np.array([0.1, 0.25, 0.25, 0.25]), 0.3, 0.0, None) is None
    late = pd.Timestamp(START) + pd.Timedelta(days=100)  # every observation before the expected day
    assert came_up_date(d, np.array([0.25, 0.5, 0.5, 0.5]), 0.3, 0.25, late) == d[1]
    assert came_up_date(d, np.array([0.25, 0.375, 0.5, 0.5]), 0.3, 0.25, late) == d[2]
    assert came_up_date(d, np.array([0.25, 0.5, 0.5, 0.5]), 0.3, 0.25, None) == d[1]
    assert came_up_date(d, np.array([0.6, 0.6, 0.6, 0.6]), 0.3, 0.1, None) is None
    assert came_up_date(d, np.array([0.125, 0.375, 0.375, 0.375]), 0.3, 0.5, None) is None


def test_a_cleared_canopy_at_its_threshold() -> None:
    """:func:`cleared_canopy_date`'s "standing earlier (at or above ``emerged``)": a first observation of exactly
    ``emerged`` (0.3) before the field was seen bare is a canopy, cleared by that bare observation (dated before the
    crop's expected day); one a little below it (0.25) was no canopy."""
    d = _dates([0, 10, 20, 30])
    due = pd.Timestamp(START) + pd.Timedelta(days=25)
    assert cleared_canopy_date(d, np.array([0.3, 0.1, 0.1, 0.6]), 0.3, due) == d[2]
    assert cleared_canopy_date(d, np.array([0.25, 0.1, 0.1, 0.6]), 0.3, due) is None


def test_watch_needs_two_clear_observations_in_a_row_below_a_green_p10() -> None:
    """WATCH, on a hand-made band (P10 0.5 every day of season; a second crop's P10 exactly ``emerged``, 0.3, and a
    third's just below it): NDVI below P10 on two clear observations in a row, raised on the second — one below, then
    one above, is nothing; NDVI equal to P10 is not below it; a P10 of exactly ``emerged`` is a green crop (a field
    of two clear observations is enough), one below it is bare soil and says nothing."""
    days = np.arange(0, 201)
    bands = pd.concat([pd.DataFrame({"region": "r", "crop": c, "day": days, "n_fields": 20, "p10": lo, "p50": 0.7,
                                     "p90": 0.8}) for c, lo in (("maize", 0.5), ("soy", 0.3), ("oat", 0.29))])
    obs = {"twice": ([0, 10, 20, 30, 40], [0.6, 0.45, 0.6, 0.45, 0.45]),  # below on 10, then on 30 and 40
           "equal": ([0, 10, 20, 30, 40], [0.6, 0.5, 0.5, 0.6, 0.6]),  # on P10, not below it
           "soy": ([20, 30], [0.2, 0.2]), "oat": ([20, 30], [0.2, 0.2])}
    cur = pd.concat([_series(f, "2024", np.asarray(d), np.asarray(v)) for f, (d, v) in obs.items()])
    fields = pd.DataFrame({"field_id": list(obs), "season": "2024", "crop": ["maize", "maize", "soy", "oat"],
                           "region": "r"})
    em = {("r", c): 300 for c in ("maize", "soy", "oat")}  # no NOT_PLANTED before day 325
    al = detect_alerts(clear_ndvi(cur), fields, bands, START + timedelta(days=60), START, em)
    got = {(f, a, str(d.date())) for f, a, d in zip(al["field_id"], al["alert"], al["date"], strict=True)}
    assert got == {("twice", "WATCH", "2024-05-11"), ("soy", "WATCH", "2024-05-01")}
    ev = json.loads(al.loc[al["field_id"] == "twice", "evidence"].iloc[0])
    assert ev == {"dates": ["2024-05-01", "2024-05-11"], "ndvi": [0.45, 0.45], "expected_p10": [0.5, 0.5]}


def test_emerging_and_the_not_planted_date_at_their_thresholds() -> None:
    """:func:`emerging`: the latest clear NDVI "at least ``rise`` above the lowest so far" (exactly 0.125 above is
    rising; no observation is not); :func:`first_not_planted_date`: the first acquisition "on or after the
    deadline" (one dated on it), skipped while the field's latest observation is such a rising one, and with
    ``seen_from`` a field seen once — bare, after its expected emergence day — is raised on it; a field never seen
    is raised on the deadline only without ``seen_from`` (``np_seen`` off)."""
    from pipelines.monitor import first_not_planted_date

    assert emerging(np.array([0.25, 0.125, 0.25]), 0.125)
    assert not emerging(np.array([0.25, 0.125, 0.1875]), 0.125)
    assert not emerging(np.array([]), 0.05)
    grid = _dates(np.arange(0, 101, 10))
    deadline = pd.Timestamp(START) + pd.Timedelta(days=50)
    flat = np.full(len(grid), 0.125)
    assert first_not_planted_date(grid, deadline, grid, flat, 0.05) == deadline
    d = _dates([0, 20, 50, 70])
    rising = np.array([0.125, 0.125, 0.25, 0.25])  # 0.125 above its lowest from day 50 on: coming up
    assert first_not_planted_date(grid, deadline, d, rising, 0.125) is None
    assert first_not_planted_date(grid, deadline, d, rising, 0.25) == deadline
    once = _dates([45])
    expected = pd.Timestamp(START) + pd.Timedelta(days=40)
    assert first_not_planted_date(grid, deadline, once, np.array([0.125]), 0.05, expected) == deadline
    assert first_not_planted_date(grid, deadline, once[:0], np.array([]), 0.05, expected) is None
    assert first_not_planted_date(grid, deadline, once[:0], np.array([]), 0.05) == deadline  # never seen, np_seen off


def _collapse_of(greenup: int, collapse: int) -> tuple[list[int], list[float]]:
    """A field bare (0.1) on day 0 and on ``greenup - 1`` (its green-up day is the day after: the earliest it can
    have been), green (0.7) every 10 days from ``greenup + 9`` and bare again on ``collapse`` and 10 days later."""
    green = list(range(greenup + 9, collapse, 10))
    days = [0, greenup - 1, *green, collapse, collapse + 10]
    return days, [0.1, 0.1, *[0.7] * len(green), 0.1, 0.1]


def test_timing_limits_at_their_thresholds() -> None:
    """The timing rule on a hand-made expectation (collapse days P25 150, P75 160; green-up-to-collapse durations
    P25 110, P75 120): CROP_FAILURE when the collapse day is earlier than 150 - 3 x 10 = 120 or the duration shorter
    than 110 - 3 x 10 = 80; else EARLY_HARVEST when the day is earlier than 150 - 0.5 x 10 = 145 after a duration
    shorter than 110 — each "earlier" and "shorter" strict: a field on a line is on the milder side of it (few
    fields: no peers needed)."""
    timing = pd.DataFrame([{"region": "r", "crop": "maize", "n": 20, "collapse_p25": 150.0, "collapse_p50": 155.0,
                            "collapse_p75": 160.0, "duration_p25": 110.0, "duration_p50": 115.0,
                            "duration_p75": 120.0, "unit": "days"}])
    days = np.arange(0, 251)
    bands = pd.DataFrame({"region": "r", "crop": "maize", "day": days, "n_fields": 20, "p10": 0.1, "p50": 0.7,
                          "p90": 0.8})
    cases = {"on_day_line": (11, 120),  # day 120, 109 days: not a failure, early
             "on_duration_line": (41, 121),  # day 121, 80 days: not a failure, early
             "on_early_line": (41, 145),  # day 145, 104 days: not early
             "on_usual_duration": (21, 131),  # day 131, 110 days: not early
             "failed_by_day": (11, 110), "failed_by_duration": (61, 140)}  # day 110; 79 days
    cur = pd.concat([_series(f, "2024", *map(np.asarray, _collapse_of(g, c))) for f, (g, c) in cases.items()])
    fields = pd.DataFrame({"field_id": list(cases), "season": "2024", "crop": "maize", "region": "r"})
    al = detect_alerts(clear_ndvi(cur), fields, bands, START + timedelta(days=240), START, {("r", "maize"): 5},
                       timing=timing)
    got = dict(zip(al["field_id"], al["alert"], strict=True))
    assert got == {"on_day_line": "EARLY_HARVEST", "on_duration_line": "EARLY_HARVEST",
                   "failed_by_day": "CROP_FAILURE", "failed_by_duration": "CROP_FAILURE"}
    ev = {f: json.loads(e) for f, e in zip(al["field_id"], al["evidence"], strict=True)}
    assert (ev["on_day_line"]["collapse_day"], ev["on_day_line"]["greenup_day"]) == (120, 11)
    assert ev["on_duration_line"]["duration_days"] == 80 and ev["on_day_line"]["failure_before_day"] == 120.0


def test_the_band_rule_at_its_thresholds() -> None:
    """Without past timing a collapse is a failure "when the band's median is still ≥ ``green`` and the day is
    within 20 days of the band's peak" (day of the second bare observation): on a band whose median peaks (0.8) on
    day 60 and is 0.45 (exactly ``green``) otherwise, a collapse confirmed on day 80 is a failure, one confirmed on
    day 81 is not (an early harvest)."""
    days = np.arange(0, 251)
    bands = pd.DataFrame({"region": "r", "crop": "maize", "day": days, "n_fields": 20, "p10": 0.1,
                          "p50": np.where(days == 60, 0.8, 0.45), "p90": 0.9})
    cur = pd.concat([_series(f, "2024", *map(np.asarray, _collapse_of(11, c)))
                     for f, c in (("day80", 70), ("day81", 71))])
    fields = pd.DataFrame({"field_id": ["day80", "day81"], "season": "2024", "crop": "maize", "region": "r"})
    al = detect_alerts(clear_ndvi(cur), fields, bands, START + timedelta(days=240), START, {("r", "maize"): 5})
    got = {(f, a, str(d.date())) for f, a, d in zip(al["field_id"], al["alert"], al["date"], strict=True)}
    assert got == {("day80", "CROP_FAILURE", str(START + timedelta(days=80))),
                   ("day81", "EARLY_HARVEST", str(START + timedelta(days=81)))}


def test_the_mismatch_rule_at_its_thresholds() -> None:
    """:func:`mismatch_passes` and :func:`candidate_prob` on the documented limits: a declared-crop probability
    "below the policy's 0.20" (0.20 itself is not), vetoed by a cohort ratio "≤ ``mismatch_cohort_ratio``" (1.0
    itself vetoes, 1.5 does not); ``mismatch_cohort_days=0`` turns the cohort check off — no season branch (0.45 at a
    ratio of 5 is no mismatch) and candidates below 0.20 only —, as ``mismatch_season_ratio=0`` turns that branch
    off."""
    from pipelines.monitor import candidate_prob, mismatch_passes

    p = AlertParams()
    nan = float("nan")
    assert mismatch_passes(0.19, nan, p) and not mismatch_passes(0.20, nan, p)
    assert not mismatch_passes(0.1, 1.0, p) and mismatch_passes(0.1, 1.5, p)
    off = AlertParams(mismatch_cohort_days=0)
    assert mismatch_passes(0.45, 5.0, p) and not mismatch_passes(0.45, 5.0, off) and mismatch_passes(0.1, nan, off)
    assert not mismatch_passes(0.45, 5.0, AlertParams(mismatch_season_ratio=0))
    assert candidate_prob(p) == 0.5
    assert candidate_prob(off) == 0.2 and candidate_prob(AlertParams(mismatch_season_ratio=0)) == 0.2


def test_expectations_from_five_hand_made_past_fields() -> None:
    """Five past fields (the fewest ``min_band_fields`` allows) with green-up and collapse days worked out by hand:
    green-up the day after the last observation below ``emerged`` before the first at or above it (an observation
    of exactly 0.3 came up: c and e; a field first seen bare, then at or above it, greened up the day after: c, e);
    a canopy seen before the field's first bare observation is the previous crop's, neither its green-up nor a
    collapse (d, green on day 0, bare on day 10); the collapse is the first of two observations below ``bare`` after
    reaching ``green`` (a canopy of exactly 0.45 reached it: c; an observation of exactly 0.3 is not below ``bare``:
    d). Collapse days 100, 120, 140, 160, 180 and durations 89, 99, 109, 119, 129 give the quartiles; the first days
    at or above ``emerged`` (20, 30, 40, 0 — d's earlier canopy counts here —, 60) the expected emergence day, their
    90% quantile 40 + 0.6 x 20 = 52."""
    start = date(2023, 4, 1)
    past = {"a": ([0, 10, *range(20, 100, 10), 100, 110], [0.1, 0.1, *[0.7] * 8, 0.1, 0.1]),  # up 11, down 100
            "b": ([0, 20, *range(30, 120, 10), 120, 130], [0.1, 0.1, *[0.7] * 9, 0.1, 0.1]),  # up 21, down 120
            "c": ([30, 40, *range(50, 140, 10), 140, 150], [0.1, 0.3, *[0.45] * 9, 0.1, 0.1]),  # up 31, down 140
            "d": ([0, 10, 40, *range(50, 160, 10), 155, 160, 170],  # up 41, down 160
                  [0.7, 0.1, 0.1, *[0.7] * 11, 0.3, 0.1, 0.1]),
            "e": ([50, 60, *range(70, 180, 10), 180, 190], [0.1, 0.3, *[0.7] * 11, 0.1, 0.1])}  # up 51, down 180
    series = pd.concat([_series(f, "2023", np.asarray(d), np.asarray(v), start) for f, (d, v) in past.items()])
    crops = pd.DataFrame({"field_id": list(past), "season": "2023", "crop": "maize", "region": "r"})
    obs = clear_ndvi(series)
    starts = {"2023": start}
    t = expected_timing(obs, crops, starts).iloc[0]
    assert t["n"] == 5
    assert (t["collapse_p25"], t["collapse_p50"], t["collapse_p75"]) == (120, 140, 160)
    assert (t["duration_p25"], t["duration_p50"], t["duration_p75"]) == (99, 109, 119)
    assert expected_emergence_days(obs, crops, starts) == {("r", "maize"): 52}
    bands = expected_bands(obs, crops, starts)
    assert len(bands) and bands["n_fields"].min() == 5


def test_the_not_planted_day_waits_for_a_crop_of_the_region_emerging_much_later() -> None:
    """:func:`not_planted_day` by hand: a crop's own expected emergence day, unless another crop of the *same*
    region usually emerges more than ``gap`` days later — then the latest such day (wheat, 30: maize 100 and sorghum
    95 are more than 60 days later, soy's 90 is not; rice, 200, is another region's); no expected day, None."""
    from pipelines.monitor import not_planted_day

    em = {("r", "wheat"): 30, ("r", "maize"): 100, ("r", "sorghum"): 95, ("r", "soy"): 90, ("x", "rice"): 200}
    assert not_planted_day(em, "r", "wheat", 60) == 100
    assert not_planted_day(em, "r", "soy", 60) == 90 and not_planted_day(em, "r", "maize", 60) == 100
    assert not_planted_day({("r", "wheat"): 30, ("r", "soy"): 90}, "r", "wheat", 60) == 30
    assert not_planted_day(em, "r", "cotton", 60) is None


def test_the_cohort_rules_at_their_thresholds() -> None:
    """:func:`gap_candidates` and :func:`stall_candidates` on their documented limits, one at a time: every "at
    least" passes at equality (a gap of exactly ``min_gap`` days, an own maximum of exactly ``own_green``, a row
    exactly ``below_peers`` below its peers, a cohort of exactly ``green`` exactly ``drop`` above the field on both
    dates, a fall of exactly ``fall``), every "below" and "earlier than" fails at it (NDVI of exactly ``bare`` is not
    bare, a share of exactly ``greenup_rel`` of the usual duration is not earlier, a stalled maximum must lie in
    [``emerged``, ``own_max``)); ``min_gap`` 0 turns the gap rule off (binary fractions: the differences are
    exact)."""
    row, cohort = _cohort_rule_case("2024-07-20", [0.65, 0.64], own_max=0.7, gap_days=30.0, greenup_rel=0.5)
    kw = {"min_gap": 20, "drop": 0.3, "drop_next": 0.25, "green": 0.5, "own_green": 0.3, "bare": 0.3,
          "greenup_rel": 0.7, "below_peers": 0.1}

    def gap(kw: dict[str, Any] = kw, **change: Any) -> bool:
        return _cohort_rule_passes(gap_candidates, "after_gap", row, cohort, kw, change)

    assert gap(gap_days=20.0) and gap(own_max=0.3) and gap(drop_now=0.1)
    assert not gap(ndvi=0.3) and not gap(next_ndvi=0.3) and not gap(greenup_rel=0.7)
    assert gap(kw | {"drop": 0.25}, cohort=[0.5, 0.5], ndvi=0.25, next_ndvi=0.25)
    assert not gap(kw | {"min_gap": 0})
    row, cohort = _cohort_rule_case("2024-08-20", [0.65, 0.66], own_max=0.38, gap_days=5.0, greenup_rel=0.4)
    kw = {"emerged": 0.3, "own_max": 0.5, "fall": 0.08, "bare": 0.3, "green": 0.55, "drop": 0.3,
          "greenup_rel": 0.7, "below_peers": 0.1}

    def stall(kw: dict[str, Any] = kw, **change: Any) -> bool:
        return _cohort_rule_passes(stall_candidates, "stalled", row, cohort, kw, change)

    assert stall(drop_now=0.1) and not stall(greenup_rel=0.7) and not stall(own_max=0.5)
    assert not stall(own_max=0.45, next_ndvi=0.3)
    exact = kw | {"fall": 0.125, "green": 0.5, "drop": 0.25}
    assert stall(exact, cohort=[0.5, 0.5], own_max=0.375, ndvi=0.25, next_ndvi=0.25)
    assert stall(exact, own_max=0.3, ndvi=0.125, next_ndvi=0.125)  # came up to exactly ``emerged``


def test_peer_failures_at_their_thresholds() -> None:
    """:func:`peer_failures` and :func:`wait_late_singles` on hand-made candidate rows: a confirmed candidate is
    known on its confirming observation's date (asked on that very day, raised then) and is a failure at exactly
    ``drop_next`` below its peers and exactly ``drop_rate`` per day, but not at exactly ``greenup_rel`` of the usual
    duration ("earlier than"); a single extreme observation is known on its own date; a crop-cohort row (after a
    gap, stalled) on its confirming date. A single candidate at exactly ``greenup_rel`` is late and waits; its next
    observation exactly ``wait_days`` later without confirming the fall drops it."""
    from pipelines._monitor_peers import peer_failures, wait_late_singles

    d0, d1 = pd.Timestamp("2024-07-01"), pd.Timestamp("2024-07-11")
    base = {"field_id": "a", "date": d0, "next_date": d1, "single": False, "confirmed": True, "drop_per_day": 0.0,
            "greenup_rel": 0.5, "drop_next": 0.25, "ndvi": 0.2, "next_ndvi": 0.2, "days_since_greenup": 50,
            "peer_ndvi": 0.7, "next_peer_ndvi": 0.7, "gap_days": 10, "own_max": 0.7, "cohort_ndvi": 0.7,
            "next_cohort_ndvi": 0.7}
    kw = {"drop_next": 0.25, "greenup_rel": 0.8, "drop_rate": 0.0}

    def raised(as_of: pd.Timestamp, **change: Any) -> pd.Timestamp | None:
        got = peer_failures(pd.DataFrame([base | change]), as_of, **kw)
        return got["a"][0] if "a" in got else None

    assert raised(d1) == d1 and raised(d1 - pd.Timedelta(days=1)) is None
    assert raised(d1, greenup_rel=0.8) is None
    assert raised(d0, single=True, confirmed=False) == d0
    assert raised(d1, after_gap=True, drop_next=0.0) == d1 and raised(d1, stalled=True, drop_next=0.0) == d1
    single = pd.DataFrame([base | {"single": True, "confirmed": False, "greenup_rel": 0.75, "known_date": d0}])
    assert wait_late_singles(single, greenup_rel=0.75, wait_days=10).empty  # next one 10 days later
    waits = wait_late_singles(single, greenup_rel=0.75, wait_days=9)
    assert waits["late_single"].tolist() == [True] and waits["known_date"].tolist() == [d1]


def test_the_cohort_ratio_by_hand() -> None:
    """:func:`cohort_ratio` on flat trajectories (one clear observation each: flat at the ends), k = 3 and exactly
    three fields in each cohort: field x (0.5, declared maize, called soy) is 0.25 from each maize field and 0.125
    from each soy field, so the ratio is sqrt(0.0625 / 0.015625) = 2; as near the soy fields as can be (distance 0)
    it is infinite, at distance 0 from both cohorts NaN (no evidence); NaN too when the model calls it its declared
    crop, when a cohort has fewer than k fields, or when the field has no observation by the as-of date."""
    from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio

    def ratio(x: float, maize: float, soy: float, *, n_soy: int = 3, called: str = "soy", x_day: int = 0) -> float:
        vals = {"x": (x, x_day), **{f"m{i}": (maize, 0) for i in range(3)},
                **{f"s{i}": (soy, 0) for i in range(n_soy)}}
        obs = pd.DataFrame([{"field_id": f, "date": pd.Timestamp("2024-06-01") + pd.Timedelta(days=d), "ndvi": v}
                            for f, (v, d) in vals.items()])
        declared = pd.Series({f: "maize" if f[0] in "xm" else "soy" for f in vals})
        got = cohort_ratio(SeasonTrajectories(obs), declared, pd.Series({"x": called}), pd.Timestamp("2024-07-01"),
                           ["x"], window=120, k=3)
        return got["x"]

    assert ratio(0.5, 0.25, 0.625) == 2.0
    assert ratio(0.5, 0.25, 0.5) == float("inf") and np.isnan(ratio(0.5, 0.5, 0.5))
    assert np.isnan(ratio(0.5, 0.25, 0.625, called="maize")) and np.isnan(ratio(0.5, 0.25, 0.625, n_soy=2))
    assert np.isnan(ratio(0.5, 0.25, 0.625, x_day=40))  # first seen after the as-of date


def test_a_checkpoint_raises_from_its_own_date_until_the_next_checkpoints() -> None:
    """:func:`first_mismatch_raise` judges a checkpoint's probability on the acquisitions from its own date (one on
    that day raises the alert that day) until the next checkpoint's date, excluded: from that date the next
    checkpoint's probability is in force (0.9 there and at the one after: an acquisition on day 90 raises nothing).
    Cohort check off."""
    from pipelines.monitor import first_mismatch_raise

    def day(n: int) -> pd.Timestamp:
        return pd.Timestamp(START) + pd.Timedelta(days=n)

    def no_cohort() -> Any:
        raise AssertionError("the cohort check is off")

    p = AlertParams(mismatch_cohort_days=0)
    declared = pd.Series({"f": "maize"})
    grid = np.array([day(60), day(65), day(90), day(95)], dtype="datetime64[ns]")
    called = np.array(["soybean"] * 3, dtype=object)
    k, hit, _ = first_mismatch_raise(no_cohort, declared, "f", [day(60)], np.array([0.1]), called[:1], grid, p)
    assert (k, hit) == (0, day(60))
    k, hit, _ = first_mismatch_raise(no_cohort, declared, "f", [day(66), day(90), day(120)], np.array([0.1, 0.9, 0.9]),
                                     called, grid, p)
    assert (k, hit) == (None, None)
    # a low checkpoint with no acquisition before the next, itself low: raised by that next one (not given up)
    k, hit, _ = first_mismatch_raise(no_cohort, declared, "f", [day(66), day(90)], np.array([0.1, 0.1]), called[:2],
                                     grid, p)
    assert (k, hit) == (1, day(90))


def test_a_dated_mismatch_judges_by_the_fields_declared_as_the_crop() -> None:
    """Dated from the model's checkpoints, the cohort check on each acquisition holds DECLARED fields only, as on
    the day asked: three undeclared fields the model calls sorghum (``crop`` filled with its answer) grow like
    ``swap`` (declared sorghum, growing maize) and would vouch for it; with ``declared_crop`` they do not, and the
    alert is raised on the acquisition of its checkpoint (day 60)."""
    cur, fields = _cohort_season()
    rng = np.random.default_rng(4)
    days = np.arange(0, 200, 5)
    swap_ndvi = cur.loc[cur["field_id"] == "swap", "mean"].to_numpy()
    extra = [_series(f"u{k}", "2024", days, swap_ndvi + rng.normal(0, 0.002, len(days))) for k in range(3)]
    und = pd.DataFrame({"field_id": [f"u{k}" for k in range(3)], "crop": "sorghum", "declared_crop_prob": np.nan,
                        "crop_type": "sorghum", "season": "2024", "region": "r", "crop_type_prob": 0.9})
    filled = pd.concat([fields, und], ignore_index=True)
    declared = filled.assign(declared_crop=filled["crop"].where(filled["field_id"].str[0] != "u"))
    c1 = pd.Timestamp(START) + pd.Timedelta(days=60)
    hist = pd.DataFrame({"field_id": ["swap"], "as_of": [c1], "crop_type": "maize", "crop_type_prob": 0.97,
                         "declared_crop_prob": [0.02]})
    empty = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    al = detect_alerts(clear_ndvi(pd.concat([cur, *extra], ignore_index=True)), declared, empty, date(2024, 9, 15),
                       START, {}, mismatch_history=hist)
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["field_id"].tolist() == ["swap"] and mis["date"].tolist() == [c1]


def test_a_mismatchs_evidence_lists_its_whole_run_of_low_checkpoints() -> None:
    """The evidence lists the declared crop's probability at each checkpoint of the run below
    :func:`candidate_prob` (0.20, cohort check off) that raised the alert, from the run's first checkpoint (day 20
    for ``a``) to the one in force — not a checkpoint at 0.20 itself (``b``'s day 20: not below it), nor one without
    a probability (``c``'s day 20). No acquisition before day 95: all raised then, from the day-90 checkpoint."""
    days = np.arange(95, 155, 5)
    cur = pd.concat([_series(f, "2024", days, _curve(days)) for f in ("a", "b", "c")])
    fields = pd.DataFrame({"field_id": ["a", "b", "c"], "season": "2024", "crop": "maize", "region": "r",
                           "declared_crop_prob": 0.05, "crop_type": "soybean", "crop_type_prob": 0.9})
    at = [pd.Timestamp(START) + pd.Timedelta(days=d) for d in (20, 40, 60, 90)]
    hist = pd.DataFrame({"field_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4, "as_of": at * 3, "crop_type": "soybean",
                         "crop_type_prob": 0.9, "declared_crop_prob": [0.1, 0.1, 0.15, 0.05, 0.2, 0.1, 0.15, 0.05,
                                                                       np.nan, 0.1, 0.15, 0.05]})
    empty = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    al = detect_alerts(clear_ndvi(cur), fields, empty, date(2024, 8, 29), START, {},
                       AlertParams(mismatch_cohort_days=0), mismatch_history=hist)
    mis = al[al["alert"] == "CROP_MISMATCH"].set_index("field_id")
    assert mis["date"].tolist() == [pd.Timestamp(START) + pd.Timedelta(days=95)] * 3
    d = [str(a.date()) for a in at]
    runs = {f: json.loads(e)["declared_crop_prob_by_checkpoint"] for f, e in mis["evidence"].items()}
    assert runs == {"a": [[d[0], 0.1], [d[1], 0.1], [d[2], 0.15], [d[3], 0.05]],
                    "b": [[d[1], 0.1], [d[2], 0.15], [d[3], 0.05]], "c": [[d[1], 0.1], [d[2], 0.15], [d[3], 0.05]]}


def test_a_mismatch_without_the_models_call_gives_the_probability_alone() -> None:
    """Fields with the declared crop's probability but not the model's call (no ``crop_type_prob`` column): the
    CROP_MISMATCH evidence is that probability alone (it was read from a column not there)."""
    days = np.arange(0, 150, 5)
    fields = pd.DataFrame({"field_id": ["a"], "season": "2024", "crop": "maize", "region": "r",
                           "declared_crop_prob": [0.05]})
    empty = pd.DataFrame(columns=["region", "crop", "day", "p10", "p50", "p90"])
    al = detect_alerts(clear_ndvi(_series("a", "2024", days, _curve(days))), fields, empty, date(2024, 8, 1), START,
                       {}, AlertParams(mismatch_cohort_days=0))
    mis = al[al["alert"] == "CROP_MISMATCH"]
    assert mis["date"].tolist() == [pd.Timestamp(2024, 8, 1)]
    assert json.loads(mis["evidence"].iloc[0]) == {"declared_crop_prob": 0.05}


def test_monitor_asks_the_models_history_of_the_seasons_fields_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """season_alerts gets every season's fields (past ones give the expectations); the crop-type model's checkpoint
    history that dates a CROP_MISMATCH is asked for the fields of the season monitored only."""
    import pipelines.monitor as mon

    monkeypatch.setattr(mon, "crop_first_days", lambda region, season, calendar=None: {})
    monkeypatch.setattr("features.series.season_window", lambda s, region: (date(int(s), 4, 1), None))
    cur, fields = _cohort_season()
    fields = fields.assign(declared_crop_prob=np.where(fields["field_id"] == "swap", 0.35, 0.95))
    past, crops = _past()
    every = pd.concat([fields[["field_id", "season", "crop", "region"]], crops], ignore_index=True).rename(
        columns={"crop": "declared_crop"}).assign(farmer_token=lambda d: "T" + d["field_id"])
    asked: list[set[str]] = []

    def history(model, series, f, as_of):  # type: ignore[no-untyped-def]
        asked.append(set(f["season"].astype(str)))

    monkeypatch.setattr(mon, "mismatch_history", history)
    feats = fields[["field_id", "crop_type", "crop_type_prob", "declared_crop_prob"]]
    mon.season_alerts(every, cur, past, "2024", date(2024, 9, 15), features=feats, crop_model=object())
    assert asked == [{"2024"}]


def test_fields_without_a_past_season_say_no_alert_can_be_raised() -> None:
    """A walkthrough: a bank's fields file of this season only gave `monitor` 0 alerts, exit 0, and re-underwriting
    other decisions, behind a terse "no past seasons' series: no alerts"; the warning says what it costs and what
    to give."""
    from pipelines.monitor import season_alerts

    warnings: list[str] = []
    out = season_alerts(pd.DataFrame(), pd.DataFrame(), None, "2009", date(2009, 10, 25), warnings=warnings)
    assert out.empty and len(warnings) == 1
    assert "no early-warning alert can be raised" in warnings[0] and "rows of past seasons" in warnings[0]


def test_imagery_without_a_past_season_names_the_imagery_not_the_fields() -> None:
    """A review re-underwrote on a folder `imagery fetch` had filled for this season only: "alerts: none", exit 0,
    and a warning that the fields hold no past season — they held 3,600 past rows. The warning names the imagery as
    what lacks them, and the fetch that fills it."""
    from pipelines.monitor import season_alerts

    fields = pd.DataFrame({"field_id": ["F1", "F1", "F1"], "season": ["2007", "2008", "2009"],
                           "declared_crop": ["maize"] * 3, "region": ["in-smallholder"] * 3,
                           "farmer_token": ["t"] * 3})
    warnings: list[str] = []
    out = season_alerts(fields, pd.DataFrame(), pd.DataFrame(), "2009", date(2009, 10, 25), warnings=warnings,
                        imagery="fe600")
    assert out.empty and len(warnings) == 1
    assert warnings[0].startswith("the imagery fe600 holds no scene of a past season (the fields hold 2 rows of "
                                  "season(s) 2007, 2008"), warnings[0]
    assert "no early-warning alert can be raised" in warnings[0]
    assert "agcredit imagery fetch --season S for each of 2007, 2008" in warnings[0]
    assert "give fields' rows" not in warnings[0]


def test_imagery_holding_some_past_seasons_names_those_it_lacks() -> None:
    """A review (session 77): `monitor` on a folder holding 2008–2010 of fields back to 2003 raised 6 high-severity
    alerts more than on the whole folder, exit 0, without a word (only a folder holding no past season was said). The
    seasons the fields hold and the imagery does not are named, with what it changes and the fetch that fills them;
    another region's past seasons are not counted."""
    from pipelines.monitor import _missing_history_warning

    meta = pd.DataFrame({"season": ["2003", "2004", "2008", "2009", "2005"],
                         "region": ["in-smallholder"] * 4 + ["us-nebraska"]})
    said = _missing_history_warning(meta, ["2008"], "2009", "sc0809")
    assert said == ["the imagery sc0809 holds no scene of past season(s) 2003, 2004 that the fields hold: the expected "
                    "growth the alerts compare with is drawn from 2008 only (other bands, other alerts); fetch the "
                    "missing seasons' scenes into it (agcredit imagery fetch --season S, with the same --out) for the "
                    "alerts of every past season"], said
    assert _missing_history_warning(meta, ["2003", "2004", "2008"], "2009", "sc") == []
