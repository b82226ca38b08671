"""The early-warning alerts of a season as of a date (:func:`detect_alerts`; the rules are in
:mod:`pipelines.monitor`'s docstring): the collapse timing of a field (thermal time: :func:`thermal_clock`), its peer
candidates (:func:`peer_candidates`), and every rule on each field. Re-exported by :mod:`pipelines.monitor`."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines._monitor_expect import _field_timing, _two_in_a_row, arrays_by_key, not_planted_day, run_bounds
from pipelines._monitor_mismatch import (
    _declared_probs,
    _mismatch_since,
    mismatch_candidates,
    mismatch_cohort,
    mismatch_mask,
    ratio_evidence,
)
from pipelines._monitor_obs import (
    _dense_bands,
    _lookup,
    _own_emergence,
    _r,
    came_up_date,
    cleared_canopy_date,
    emerging,
    first_not_planted_date,
)
from pipelines._monitor_params import AlertParams
from pipelines._monitor_peers import (
    _flag,
    candidate_features,
    crop_cohort,
    gap_candidates,
    lower_peers,
    peer_anomalies,
    peer_failures,
    select_collapses,
    stall_candidates,
    wait_late_singles,
)
from pipelines._monitor_thermal import ThermalClock

__all__ = ["ALERT_TYPES", "ALERT_COLUMNS", "DAY_OF_SEASON_KEYS", "thermal_clock", "peer_candidates", "detect_alerts"]

ALERT_TYPES = {"WATCH": "medium", "CROP_FAILURE": "high", "EARLY_HARVEST": "medium", "NOT_PLANTED": "high",
               "CROP_MISMATCH": "high"}
ALERT_COLUMNS = ["field_id", "season", "alert", "severity", "date", "evidence"]
#: evidence items counted in days since the season start, which the evidence then names (``season_start``)
DAY_OF_SEASON_KEYS = ("collapse_day", "expected_collapse_day_p25", "expected_emergence_day", "failure_before_day",
                      "greenup_day")
_NO_DATES = np.array([], dtype="datetime64[ns]")


def thermal_clock(weather: pd.DataFrame | None, region: str) -> ThermalClock | None:
    """The :class:`~pipelines._monitor_thermal.ThermalClock` of a daily weather table when it holds ``region``
    (the collapse timing is then in GDD), else None (calendar days)."""
    if weather is None or not len(weather):
        return None
    clock = ThermalClock(weather)
    return clock if region in clock.regions else None


def _collapse_alert(days: np.ndarray, vals: np.ndarray, dates: np.ndarray,
                    band: tuple[int, np.ndarray, np.ndarray, int], t: Any, p: AlertParams,
                    thermal: tuple[ThermalClock, str, Any, pd.Timestamp] | None = None
                    ) -> tuple[str, pd.Timestamp, dict[str, Any]] | None:
    """The field's own collapse judged against the crop's past timing (or its band): CROP_FAILURE,
    EARLY_HARVEST or None (see the module docstring). ``thermal`` (clock, region, crop, season start): the
    collapse day and the duration in GDD, as the timing ``t`` is when its unit is ``gdd``."""
    greenup, j, collapse = _field_timing(days, vals, p)
    if j is None or collapse is None:
        return None
    evidence: dict[str, Any] = {"dates": [str(pd.Timestamp(d).date()) for d in dates[j - 1:j + 1]],
                                "ndvi": [_r(v) for v in vals[j - 1:j + 1]], "peer_ndvi": None,
                                "peak_ndvi": _r(vals[: j + 1].max()), "collapse_day": collapse,
                                "greenup_day": greenup, "rule": "timing"}
    if t is not None:
        c_iqr = max(t.collapse_p75 - t.collapse_p25, 1.0)
        d_iqr = max(t.duration_p75 - t.duration_p25, 1.0)
        c_lim = t.collapse_p25 - p.collapse_k * c_iqr
        d_lim = t.duration_p25 - p.duration_k * d_iqr
        dur: float | None = collapse - greenup if greenup is not None else None
        when: float = collapse
        gdd = thermal is not None and getattr(t, "unit", "days") == "gdd"
        if gdd and thermal is not None:
            clock, region, crop, start = thermal
            at = [start + pd.Timedelta(days=int(x)) for x in (collapse, greenup if greenup is not None else collapse)]
            t_col, t_up = clock.since(region, crop, start, at)
            if not np.isfinite(t_col):
                return None  # no weather for the collapse: thermal timing cannot judge it
            when, dur = float(t_col), (float(t_col - t_up) if greenup is not None and np.isfinite(t_up) else None)
            evidence.update(collapse_gdd=_r(when), duration_gdd=None if dur is None else _r(dur), timing_unit="gdd")
        failed = when < c_lim or (dur is not None and dur < d_lim)
        unit = "gdd" if gdd else "day"
        evidence.update({f"expected_collapse_{unit}_p25": _r(t.collapse_p25), f"failure_before_{unit}": _r(c_lim),
                         "duration_days": collapse - greenup if greenup is not None else None,
                         f"failure_below_duration{'_gdd' if gdd else ''}": _r(max(d_lim, 0.0))})
        if d_lim <= 0:  # no duration is below it: said, not shown as a negative duration (the test above unchanged)
            evidence["duration_test"] = (f"cannot fire: the crop's past green-up-to-collapse durations spread too "
                                         f"wide (P25 - {p.duration_k:g} x IQR is below 0 {'GDD' if gdd else 'days'})")
        early = when < t.collapse_p25 - p.early_k * c_iqr and dur is not None and dur < t.duration_p25
        kind = "CROP_FAILURE" if failed else ("EARLY_HARVEST" if early else None)
    else:
        _, med = _lookup(band, days)
        standing = np.isfinite(med[j]) and med[j] >= p.green and days[j] <= band[3] + 20
        late = np.isfinite(med[j]) and med[j] < p.bare
        kind = "CROP_FAILURE" if standing else (None if late else "EARLY_HARVEST")
        evidence["expected_p50"] = _r(med[j]) if np.isfinite(med[j]) else None
    return (kind, pd.Timestamp(dates[j]), evidence) if kind is not None else None


def peer_candidates(obs: pd.DataFrame, fields: pd.DataFrame, season_start: date, timing: pd.DataFrame | None,
                    params: AlertParams | None = None, clock: ThermalClock | None = None) -> pd.DataFrame:
    """Candidate crop failures of the current season from the peer comparison (:mod:`pipelines._monitor_peers`):
    ``obs`` clear_ndvi() of the season, ``fields`` field_id + crop (+ region), ``timing`` expected_timing() of
    past seasons. Each row is known from its ``next_date`` on, so computing them once on the whole season and
    cutting at each as-of date gives the same answer as recomputing at every date."""
    p = params or AlertParams()
    if p.peer_k <= 0 or obs.empty:
        return pd.DataFrame()
    region = str(fields["region"].iloc[0]) if "region" in fields.columns and len(fields) else None
    tim = timing[timing["region"].astype(str) == region] if timing is not None and len(timing) and region else None
    crops = fields.set_index(fields["field_id"].astype(str))["crop"]
    pa = peer_anomalies(obs, k=p.peer_k, groups=crops if p.peer_same_crop else None)
    if p.peer_both:  # below both kinds of peers: the nearest fields of any crop and of its own crop
        pa = lower_peers(pa, peer_anomalies(obs, k=p.peer_k, groups=None if p.peer_same_crop else crops))
    feats = candidate_features(pa, fields, pd.Timestamp(season_start), tim, emerged=p.emerged, clock=clock,
                               region=region, obs=obs if p.peer_first_obs else None)
    cand = select_collapses(feats, drop=p.peer_drop, peer_green=p.peer_green, green=p.green,
                            own_green=p.peer_own_green, single=p.peer_drop_single if p.peer_drop_single < 1.0 else None,
                            bare=p.bare)
    cand = wait_late_singles(cand, greenup_rel=p.peer_single_greenup_rel, wait_days=p.peer_single_wait_days)
    if p.peer_gap_days <= 0 and p.peer_stall_max <= 0:
        return cand
    cohort = crop_cohort(obs, fields, min_fields=p.peer_k)
    extra = []
    if p.peer_gap_days > 0:
        extra.append(gap_candidates(feats, cohort, min_gap=p.peer_gap_days, drop=p.peer_gap_drop,
                                    drop_next=p.peer_gap_drop_next, green=p.peer_gap_green, own_green=p.peer_own_green,
                                    bare=p.bare, greenup_rel=p.peer_gap_greenup_rel,
                                    below_peers=p.peer_gap_below_peers))
    if p.peer_stall_max > 0:  # its own history from every clear observation (a gap may hide its green-up)
        whole = feats if p.peer_first_obs else candidate_features(pa, fields, pd.Timestamp(season_start), tim,
                                                                   emerged=p.emerged, clock=clock, region=region,
                                                                   obs=obs)
        extra.append(stall_candidates(whole, cohort, emerged=p.emerged, own_max=p.peer_stall_max,
                                      fall=p.peer_stall_fall, bare=p.bare, green=p.peer_stall_green,
                                      drop=p.peer_stall_drop, greenup_rel=p.peer_stall_greenup_rel,
                                      below_peers=p.peer_stall_below_peers))
    extra = [e for e in extra if not e.empty]
    if not extra:
        return cand
    return pd.concat([cand.astype({"single": bool, "confirmed": bool}), *extra], ignore_index=True)


def _by_field(c: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """field_id → (date, known_date) of its rows of peer candidates, in their order (a groupby, on arrays)."""
    by = arrays_by_key(c["field_id"].astype(str).to_numpy(dtype=object),  # as text: ids of mixed types sort too
                       c["date"].to_numpy(), c["known_date"].to_numpy())
    return {f: (d, k) for f, (d, k) in by.items()}


def detect_alerts(obs: pd.DataFrame, fields: pd.DataFrame, bands: pd.DataFrame, as_of: date,
                  season_start: date, expected_emergence_day: dict[tuple[str, str], int],
                  params: AlertParams | None = None, *, timing: pd.DataFrame | None = None,
                  candidates: pd.DataFrame | None = None, clock: ThermalClock | None = None,
                  mismatch_history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Alerts as of ``as_of`` for the current season.

    ``obs``: clear_ndvi() of the current season; ``fields``: field_id, season, crop (declared or
    predicted), region, and optionally declared_crop_prob, crop_type and crop_type_prob; ``bands``: expected_bands();
    ``expected_emergence_day``: (region, crop) → day of season by which the crop has emerged;
    ``timing``: expected_timing() (optional, see the module docstring); ``candidates``: peer_candidates() of
    the season (computed from ``obs`` when None; rows known after ``as_of`` are ignored); ``clock``: the collapse
    timing in thermal time (:mod:`pipelines._monitor_thermal`; ``timing`` must then be in GDD too);
    ``mismatch_history``: :func:`mismatch_history` (dates a CROP_MISMATCH by when it was raised; without it, on
    ``as_of``). Returns field_id, season, alert, severity, date (when it was raised), evidence (JSON text).
    """
    p = params or AlertParams()
    cutoff = pd.Timestamp(as_of)
    obs = obs[obs["date"] <= cutoff]
    start = pd.Timestamp(season_start)
    today_day = int((cutoff - start).days)
    dense = _dense_bands(bands)
    tim = ({(str(r.region), str(r.crop)): r for r in timing.itertuples(index=False)}
           if timing is not None and len(timing) else {})
    alerts: list[dict[str, Any]] = []
    if candidates is None:
        candidates = peer_candidates(obs, fields, season_start, timing, p, clock)
    peer_fail = peer_failures(candidates, cutoff, drop_next=p.peer_drop_next, greenup_rel=p.peer_greenup_rel,
                              drop_rate=p.peer_drop_rate) if len(candidates) else {}
    corroborated: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # peers exist only when the season has more fields than a field has peers; without them timing stands alone
    need_peers = p.timing_needs_peers and p.peer_k > 0 and obs["field_id"].nunique() > p.peer_k
    if need_peers:
        # a stalled crop (stall_candidates) is judged by its own rule alone: it corroborates no timing collapse
        known = (candidates[(candidates["known_date"] <= cutoff).to_numpy() & ~_flag(candidates, "stalled")]
                 if len(candidates) else candidates)
        corroborated = _by_field(known) if len(known) else {}

    def add(fid: str, season: str, kind: str, when: pd.Timestamp, evidence: dict[str, Any]) -> None:
        if any(k in evidence for k in DAY_OF_SEASON_KEYS):  # days counted from when: said, not left to know
            evidence = evidence | {"season_start": str(start.date())}
        alerts.append({"field_id": fid, "season": season, "alert": kind, "severity": ALERT_TYPES[kind],
                       "date": when.normalize(), "evidence": json.dumps(evidence, sort_keys=True)})

    obs = obs.sort_values(["field_id", "season", "date"], kind="stable")
    fid_a = obs["field_id"].astype(str).to_numpy(dtype=object)
    season_a = obs["season"].astype(str).to_numpy(dtype=object)
    all_days = ((obs["date"] - start).dt.days.to_numpy() if len(obs) else np.zeros(0, dtype=int))
    all_vals = obs["ndvi"].to_numpy(dtype=float)
    all_dates = obs["date"].to_numpy()
    grid = np.unique(all_dates)  # the season's acquisition dates up to the cutoff
    sb = run_bounds(fid_a, season_a)
    spans = {(fid_a[a], season_a[a]): (int(a), int(b)) for a, b in zip(sb[:-1], sb[1:], strict=True)}
    probs = _declared_probs(fields)
    candidates = mismatch_candidates(fields, p)
    cohort = mismatch_cohort(obs, fields, cutoff, p, candidates)
    today = mismatch_mask(fields, p, cohort)
    # with the model's checkpoint history a candidate is raised on the first acquisition on which the rule let it
    # through, as `evaluate alerts` replays it — not only when the cohort ratio of the day asked (its window slides
    # between acquisitions) still passes, which dropped alerts the replay raised (review R1); without history (no
    # model given) on the date asked by that day's test, as before
    since = _mismatch_since(obs, fields, candidates, mismatch_history, grid, cutoff, p) if candidates.any() else {}
    for row, prob, now_mis, now_ratio in zip(fields.itertuples(index=False), probs, today, cohort, strict=True):
        fid, season, crop, region = str(row.field_id), str(row.season), row.crop, str(row.region)
        a, b = spans.get((fid, season), (0, 0))
        days, vals, dates = all_days[a:b], all_vals[a:b], all_dates[a:b]
        raised, run, ratio = since.get(fid, (cutoff if now_mis else None, [], now_ratio))
        if raised is not None:
            ev: dict[str, Any] = {"declared_crop_prob": _r(prob)}
            if "crop_type_prob" in fields.columns:
                ev |= {"crop_type": str(getattr(row, "crop_type", "")), "crop_type_prob": _r(row.crop_type_prob)}
            if ratio_evidence(ratio) is not None:
                ev["cohort_ratio"] = ratio_evidence(ratio)
            if run:
                ev["declared_crop_prob_by_checkpoint"] = run
            add(fid, season, "CROP_MISMATCH", raised, ev)
        if not isinstance(crop, str) or (region, crop) not in dense:
            continue
        band = dense[(region, crop)]
        emerge_by = not_planted_day(expected_emergence_day, region, crop, p.np_other_gap)
        if emerge_by is not None and today_day >= emerge_by + p.grace_days \
                and came_up_date(dates, vals, p.emerged, p.np_came_up_rise,
                                 _own_emergence(expected_emergence_day, region, crop, start),
                                 cleared=p.np_cleared_canopy) is None \
                and not emerging(vals, p.np_rise):
            raised = first_not_planted_date(grid, start + pd.Timedelta(days=emerge_by + p.grace_days), dates, vals,
                                            p.np_rise, start + pd.Timedelta(days=emerge_by) if p.np_seen else None)
            if raised is None:
                # no acquisition since the deadline yet: raised on the first one, as `evaluate alerts` replays it (it
                # was raised on the date asked, so a query just past the deadline dated it 07-31, the next 08-01,
                # and one after the next acquisition 08-02 — the us-nebraska walkthrough's F0078)
                continue
            # the field's latest clear observation up to the alert: before the expected emergence day, the field was
            # not seen when its crop should have come up (a cloud gap spanning the deadline) — the analyst checks it
            seen = dates[dates <= raised.to_datetime64()]
            ev_np = {"expected_emergence_day": emerge_by, "grace_days": p.grace_days,
                     "max_ndvi": _r(vals.max()) if len(vals) else None, "clear_obs": len(vals),
                     "last_clear_obs": str(pd.Timestamp(seen[-1]).date()) if len(seen) else None}
            cleared = cleared_canopy_date(dates, vals, p.emerged, _own_emergence(expected_emergence_day, region, crop,
                                                                                 start)) \
                if p.np_cleared_canopy else None
            if cleared is not None:  # max_ndvi is that earlier canopy's: say when it was gone
                ev_np["canopy_cleared_by"] = str(pd.Timestamp(cleared).date())
            add(fid, season, "NOT_PLANTED", raised, ev_np)
            continue
        if len(vals) < 2 and fid not in peer_fail:
            continue
        lo, _ = _lookup(band, days)
        below = np.isfinite(lo) & (lo >= p.emerged) & (vals < lo)
        w = _two_in_a_row(below)
        if w is not None:
            add(fid, season, "WATCH", pd.Timestamp(dates[w]),
                {"dates": [str(pd.Timestamp(d).date()) for d in dates[w - 1:w + 1]],
                 "ndvi": [_r(v) for v in vals[w - 1:w + 1]], "expected_p10": [_r(v) for v in lo[w - 1:w + 1]]})
        thermal = (clock, region, crop, start) if clock is not None else None
        old = _collapse_alert(days, vals, dates, band, tim.get((region, crop)), p, thermal) if len(vals) >= 2 \
            else None
        if old is not None and old[0] == "CROP_FAILURE" and need_peers:
            cd, ck = corroborated.get(fid, (_NO_DATES, _NO_DATES))
            hit = np.isin(cd.astype("datetime64[D]"), np.array(old[2]["dates"], dtype="datetime64[D]"))
            if not hit.any():  # a collapse its peers shared: weather, frost, harvest
                old = None
            else:  # raised once the corroboration is known
                old = (old[0], max(old[1], pd.Timestamp(ck[hit].min())), old[2])
        peer = peer_fail.get(fid)
        if peer is not None and (old is None or old[0] != "CROP_FAILURE" or old[1] > peer[0]):
            add(fid, season, "CROP_FAILURE", peer[0], peer[1])
        elif old is not None:
            add(fid, season, old[0], old[1], old[2])
    out = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(["date", "field_id", "alert"]).reset_index(drop=True)
