"""``agcredit evaluate alerts``: replay a season observation by observation against the truth.

The production early-warning rules (:mod:`pipelines.monitor`) are run on the county as a
bank would run them: expectations (bands, timing, emergence days) from past seasons'
records and imagery only; then, for every acquisition date of the evaluated season, the
alerts as of that date; the first date each (field, alert) was raised is kept. Only the
scoring reads ``truth/fields.parquet``.

Events (truth) and the alerts that catch them:

=============== ===================================== ==========================================
event           onset                                 caught by
=============== ===================================== ==========================================
failure         ``failure_date``                      CROP_FAILURE, NOT_PLANTED (failed unseen)
never_planted   expected emergence day of the crop    NOT_PLANTED
crop_mismatch   true ``emergence_date``               CROP_MISMATCH
=============== ===================================== ==========================================

Precision is over the high-severity alerts (CROP_FAILURE, NOT_PLANTED, CROP_MISMATCH): an
alert is right when its field has an event it catches (a CROP_MISMATCH on a never-planted
field is right: the declared crop is not there; a NOT_PLANTED raised on a crop that had come up and failed only
later is wrong, and no catch of that failure — the crop was there when it was raised). Recall is over events. Delay is the number
of the field's clear observations after the onset up to and including the alert's date (1 =
the first clear observation after onset; an alert before the onset counts 0). WATCH and
EARLY_HARVEST (medium) are reported as counts and the share on fields with any adverse
event. The naive baseline raises one alert at the first clear observation below the expected
P10 after the crop's expected emergence.

:func:`tune_params` chooses :class:`~pipelines.monitor.AlertParams` on past seasons only, scored against
the farmers' records of those seasons (a zero reported yield = failure; no sowing and no yield = not
planted; :mod:`pipelines._monitor_records`), never against the truth.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines._monitor_cohort import SeasonTrajectories
from pipelines._monitor_expect import arrays_by_key
from pipelines._monitor_format import format_alert_evaluation
from pipelines.evaluation import group_keys, read_truth, season_group_keys, synthetic_label
from pipelines.evaluation._alert_data import (
    Expectations,
    SeasonData,
    _check_season,
    _clock,
    fit_expectations,
    load_season_data,
)
from pipelines.evaluation._alert_rules import _with_rules, parse_rules
from pipelines.evaluation._alert_scoring import (
    EVENT_COLUMNS,
    HIGH_ALERTS,
    _ratio,
    score_alerts,
    score_alerts_with_events,
    truth_events,
)
from pipelines.monitor import (
    ALERT_COLUMNS,
    ALERT_TYPES,
    AlertParams,
    came_up_date,
    detect_alerts,
    first_mismatch_raise,
    first_not_planted_date,
    mismatch_candidates,
    not_planted_day,
    peer_candidates,
    ratio_evidence,
)

# isort: split
# re-exported, unused here: importable from pipelines.evaluation.alerts as before its helpers moved to
# pipelines.evaluation._alert_data and _alert_rules
from dataclasses import fields as fields_of  # noqa: F401

from pipelines._monitor_thermal import ThermalClock  # noqa: F401
from pipelines.evaluation._alert_data import CROP_VARIABLES  # noqa: F401
from pipelines.evaluation._alert_rules import _rule_value  # noqa: F401
from pipelines.monitor import (  # noqa: F401
    clear_ndvi,
    crop_first_days,
    expected_bands,
    expected_emergence_days,
    expected_timing,
    own_crop_obs,
    thermal_clock,
)

__all__ = ["Expectations", "AlertEvaluation", "SeasonData", "load_season_data", "fit_expectations",
           "replay_alerts", "naive_alerts", "truth_events", "score_alerts", "tune_params", "evaluate_alerts",
           "format_alert_evaluation", "parse_rules", "HIGH_ALERTS"]

#: the crop-type model's columns the CROP_MISMATCH rule reads (:func:`pipelines.monitor.mismatch_mask`)
PROB_COLUMNS = ("crop_type", "crop_type_prob", "declared_crop_prob")
#: F0.5 (on records) within which :func:`tune_params` prefers the shorter NOT_PLANTED grace
GRACE_TOLERANCE = 0.01
#: fields of a tuning season :func:`tune_params` replays at most (a deterministic sample beyond it)
TUNE_MAX_FIELDS = 5000
#: the grid searched by :func:`tune_params` (small: each point is a full replay of the tuning seasons)
DEFAULT_GRID: dict[str, Sequence[Any]] = {"peer_greenup_rel": (0.8, 0.9), "peer_drop_next": (0.25, 0.35),
                                          "collapse_k": (1.0, 2.0, 3.0), "grace_days": (10, 25)}


@dataclass
class AlertEvaluation:
    """The replay's figures for one county and season."""

    county: str
    season: str
    label: str
    params: AlertParams
    tuned_on: list[str]
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    by_event: pd.DataFrame
    by_alert: pd.DataFrame
    alerts: pd.DataFrame = field(repr=False)
    notes: list[str] = field(default_factory=list)
    #: every event of the season, the alert that caught it and every alert raised on its field
    #: (:data:`pipelines.evaluation._alert_scoring.EVENT_COLUMNS`; ``evaluate alerts --events-out``)
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVENT_COLUMNS), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"county": self.county, "season": self.season, "label": self.label, "params": asdict(self.params),
                "tuned_on": self.tuned_on, "metrics": self.metrics, "baseline": self.baseline,
                "by_event": self.by_event.to_dict("records"), "by_alert": self.by_alert.to_dict("records"),
                "notes": self.notes}


# --- replay ----------------------------------------------------------------------------------------------

def replay_alerts(data: SeasonData, season: str, exp: Expectations, params: AlertParams, *,
                  crop_probs: pd.DataFrame | None = None, until: date | None = None,
                  exact: bool = False, candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """First date each (field, alert) is raised, replaying ``season`` acquisition date by acquisition date.

    ``crop_probs``: field_id, as_of (the date from which the probability holds), declared_crop_prob.
    ``exact`` calls :func:`detect_alerts` at every acquisition date; the default gives the same answer
    with a few calls: WATCH / CROP_FAILURE / EARLY_HARVEST rest on the first two observations in a row,
    so their dates do not change as observations are added — one call at the last date, plus one just
    before each crop's NOT_PLANTED deadline (from which NOT_PLANTED masks the other rules of a field
    that has not emerged) finds them; NOT_PLANTED and CROP_MISMATCH are raised on the first acquisition
    date their condition holds, computed directly.
    """
    obs = data.obs[data.obs["season"] == season]
    fields = data.crops[data.crops["season"] == season].reset_index(drop=True)
    dates = sorted(pd.to_datetime(obs["date"].unique()))
    if until is not None:
        dates = [d for d in dates if d <= pd.Timestamp(until)]
    if not dates:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    start = pd.Timestamp(data.starts[season])
    cands = None if exact else (candidates if candidates is not None
                                else peer_candidates(obs, fields, data.starts[season], exp.timing, params,
                                                     _clock(data, params)))

    def at(d: pd.Timestamp, probs: bool) -> pd.DataFrame:
        f = fields
        if probs and crop_probs is not None and len(crop_probs):
            cp = crop_probs[crop_probs["as_of"] <= d]
            if len(cp):
                cp = cp.sort_values("as_of").groupby("field_id").tail(1)[
                    ["field_id", *[c for c in PROB_COLUMNS if c in cp.columns]]]
                f = fields.merge(cp, on="field_id", how="left")
        return detect_alerts(obs, f, exp.bands, d.date(), data.starts[season], exp.emergence, params,
                             timing=exp.timing, candidates=cands, clock=_clock(data, params))

    first: dict[tuple[str, str], dict[str, Any]] = {}
    if exact:
        for d in dates:
            for r in at(d, True).to_dict("records"):
                first.setdefault((str(r["field_id"]), str(r["alert"])), r)
    else:
        checks = {dates[-1]}
        for e in {not_planted_day(exp.emergence, str(r), str(c), params.np_other_gap) for r, c in exp.emergence}:
            if e is None:
                continue
            deadline = start + pd.Timedelta(days=e + params.grace_days)
            before = [d for d in dates if d < deadline]
            if before:
                checks.add(before[-1])
        for d in sorted(checks):
            for r in at(d, False).to_dict("records"):
                if r["alert"] not in ("NOT_PLANTED", "CROP_MISMATCH"):
                    first.setdefault((str(r["field_id"]), str(r["alert"])), r)
        first.update(_first_not_planted(obs, fields, exp, params, start, dates))
        first.update(_first_mismatch(obs, fields, crop_probs, params, dates))
    out = pd.DataFrame(list(first.values()), columns=ALERT_COLUMNS)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(["date", "field_id", "alert"]).reset_index(drop=True)


def _first_not_planted(obs: pd.DataFrame, fields: pd.DataFrame, exp: Expectations, params: AlertParams,
                       start: pd.Timestamp, dates: list[pd.Timestamp]) -> dict[tuple[str, str], dict[str, Any]]:
    """NOT_PLANTED on the first acquisition date past the deadline with no emerged observation yet."""
    o = obs.sort_values("date", kind="stable")  # then by field (stable): each field's rows in date order
    series = {f: (d, v) for f, (d, v) in arrays_by_key(o["field_id"].astype(str).to_numpy(dtype=object),
                                                         o["date"].to_numpy(), o["ndvi"].to_numpy(dtype=float)).items()}
    grid = np.array(dates, dtype="datetime64[ns]")
    none = (grid[:0], np.zeros(0))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    banded = set(zip(exp.bands["region"].astype(str), exp.bands["crop"].astype(str), strict=True))
    for r in fields.itertuples(index=False):
        e = not_planted_day(exp.emergence, str(r.region), str(r.crop), params.np_other_gap) \
            if isinstance(r.crop, str) else None
        if e is None or (str(r.region), str(r.crop)) not in banded:
            continue
        od, ov = series.get(str(r.field_id), none)
        own = exp.emergence.get((str(r.region), str(r.crop)))
        seen = came_up_date(od, ov, params.emerged, params.np_came_up_rise,
                            None if own is None else start + pd.Timedelta(days=own), cleared=params.np_cleared_canopy)
        before = grid if seen is None else grid[grid < seen]
        # monitor's rule: not while the latest clear observation is a rising one (a late crop coming up)
        first = first_not_planted_date(before, start + pd.Timedelta(days=e + params.grace_days), od, ov,
                                       params.np_rise, start + pd.Timedelta(days=e) if params.np_seen else None)
        if first is not None:
            out[(str(r.field_id), "NOT_PLANTED")] = {
                "field_id": str(r.field_id), "season": str(r.season), "alert": "NOT_PLANTED",
                "severity": ALERT_TYPES["NOT_PLANTED"], "date": first,
                "evidence": json.dumps({"expected_emergence_day": e, "grace_days": params.grace_days}, sort_keys=True)}
    return out


def _first_mismatch(obs: pd.DataFrame, fields: pd.DataFrame, crop_probs: pd.DataFrame | None, params: AlertParams,
                    dates: list[pd.Timestamp]) -> dict[tuple[str, str], dict[str, Any]]:
    """CROP_MISMATCH on the first acquisition date on which the probabilities in force meet
    :func:`pipelines.monitor.mismatch_mask` (the production rule, the season's cohort check as of that date
    included; ``obs``: the season's clear NDVI) — :func:`pipelines.monitor.first_mismatch_raise`, which monitor's
    dating asks too."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if crop_probs is None or crop_probs.empty:
        return out
    season = {str(f): str(s) for f, s in zip(fields["field_id"], fields["season"], strict=True)}
    low = crop_probs[mismatch_candidates(crop_probs, params)].sort_values("as_of")
    grid = np.array(dates, dtype="datetime64[ns]")
    traj = SeasonTrajectories(obs)
    declared = pd.Series(fields["crop"].to_numpy(), index=fields["field_id"].astype(str))
    for fid, _ in low.groupby("field_id", sort=True):
        if str(fid) not in season:
            continue
        allp = crop_probs[crop_probs["field_id"] == fid].sort_values("as_of")
        called = allp["crop_type"].to_numpy(dtype=object) if "crop_type" in allp.columns \
            else np.full(len(allp), None, dtype=object)
        k, when, ratio = first_mismatch_raise(lambda: traj, declared, str(fid), list(pd.to_datetime(allp["as_of"])),
                                              allp["declared_crop_prob"].to_numpy(dtype=float), called, grid, params)
        if k is None or when is None:
            continue
        row = allp.iloc[k]
        ev: dict[str, Any] = {"declared_crop_prob": round(float(row["declared_crop_prob"]), 4),
                              **({"crop_type": str(row["crop_type"]), "crop_type_prob": round(float(row["crop_type_prob"]), 4)}
                                 if "crop_type_prob" in allp.columns else {})}
        if ratio_evidence(ratio) is not None:
            ev["cohort_ratio"] = ratio_evidence(ratio)
        out[(str(fid), "CROP_MISMATCH")] = {
            "field_id": str(fid), "season": season[str(fid)], "alert": "CROP_MISMATCH",
            "severity": ALERT_TYPES["CROP_MISMATCH"], "date": when, "evidence": json.dumps(ev, sort_keys=True)}
    return out


def with_naive_by_event(by_event: pd.DataFrame, naive: pd.DataFrame) -> pd.DataFrame:
    """The rules' per-event table with the naive baseline's detected, recall and median delay beside each event
    type (``naive_*`` columns; both scored on the same events)."""
    n = naive.set_index("event") if len(naive) else pd.DataFrame(columns=["detected", "recall", "median_delay_obs"])
    out = by_event.copy()
    for col in ("detected", "recall", "median_delay_obs"):
        out[f"naive_{col}"] = [n.at[e, col] if e in n.index else None for e in out["event"]]
    return out


def naive_alerts(data: SeasonData, season: str, exp: Expectations) -> pd.DataFrame:
    """The naive baseline: an alert at the first clear observation below the expected P10 after the crop's
    expected emergence day."""
    obs = data.obs[data.obs["season"] == season].merge(
        data.crops[data.crops["season"] == season], on=["field_id", "season"])
    start = pd.Timestamp(data.starts[season])
    obs = obs.assign(day=(obs["date"] - start).dt.days)
    obs = obs.merge(exp.bands[["region", "crop", "day", "p10"]], on=["region", "crop", "day"], how="inner")
    em = obs.apply(lambda r: exp.emergence.get((r["region"], r["crop"]), 10**6), axis=1) if len(obs) else []
    hit = obs[(obs["day"] >= np.asarray(em)) & (obs["ndvi"] < obs["p10"])] if len(obs) else obs
    first = hit.sort_values("date").groupby("field_id").head(1)
    return pd.DataFrame({"field_id": first["field_id"].astype(str), "alert": "NAIVE", "date": first["date"]})


# --- tuning ----------------------------------------------------------------------------------------------

def _objective(m: dict[str, Any]) -> tuple[float, float, float]:
    p, r = m.get("precision") or 0.0, m.get("recall") or 0.0
    d = m.get("median_delay_obs")
    f05 = (1.25 * p * r / (0.25 * p + r)) if p + r > 0 else 0.0
    return (float(p >= 0.95 and r >= 0.90), f05, -(d if d is not None else 99.0))


def tuning_view(data: SeasonData, season: str, max_fields: int = 0) -> tuple[SeasonData, set[str] | None]:
    """``data`` with ``season``'s fields cut to a deterministic sample of ``max_fields`` (by a hash of the field id;
    the other seasons, which give the expectations, whole) and the sample (None: every field, ``max_fields`` 0 or
    not exceeded)."""
    cur = data.crops.loc[data.crops["season"] == season, "field_id"].astype(str)
    if max_fields <= 0 or cur.nunique() <= max_fields:
        return data, None
    keep = set(sorted(set(cur), key=lambda f: hashlib.sha256(f.encode("utf-8")).hexdigest())[:max_fields])
    other_obs, other_crops = data.obs["season"] != season, data.crops["season"] != season
    return replace(data, obs=data.obs[other_obs | data.obs["field_id"].astype(str).isin(keep)],
                   crops=data.crops[other_crops | data.crops["field_id"].astype(str).isin(keep)]), keep


def tune_params(data: SeasonData, tune_seasons: Sequence[str], *, base: AlertParams | None = None,
                grid: dict[str, Sequence[Any]] | None = None,
                progress: Callable[[str], None] | None = None,
                max_fields: int = TUNE_MAX_FIELDS) -> tuple[AlertParams, pd.DataFrame]:
    """Grid search on past seasons, scored against the farmers' records (``data.records``, never truth):
    each tuning season replayed with expectations from the seasons before it, its high alerts scored by
    :func:`pipelines._monitor_records.record_score` and pooled over the seasons.

    A tuning season of more than ``max_fields`` fields is replayed on a deterministic sample of that many
    (:func:`tuning_view`; its diaries' labels cut to it): the cost grows a little faster than the fields (measured
    18 / 52 / 127 s for counties of 600 / 1,400 / 2,600 fields a season), and a few thousand fields of a season
    pin the thresholds as well as all of them.

    Picks the point meeting the targets (precision ≥ 0.95, recall ≥ 0.90) with the best F0.5, else the
    best F0.5; the records carry no dates, so among the points within ``GRACE_TOLERANCE`` of that F0.5 the
    one with the shortest ``grace_days`` (the earliest NOT_PLANTED) is taken. Returns the params and the
    table of all points.
    """
    from pipelines._monitor_records import record_labels, record_score

    if data.records is None or data.records.empty:
        raise UserInputError("evaluate alerts: tuning needs the farmers' records (records/history.csv) of past "
                             "seasons; none found")
    base = base or AlertParams()
    grid = grid or DEFAULT_GRID
    names = sorted(grid)
    views = {s: tuning_view(data, s, max_fields) for s in tune_seasons}
    labels = {}
    for s in tune_seasons:
        lab, keep = record_labels(data.records, s), views[s][1]
        labels[s] = lab if keep is None else lab[lab.index.isin(keep)]
    exps: dict[tuple[Any, ...], dict[str, Expectations]] = {}
    cands: dict[tuple[Any, ...], dict[str, pd.DataFrame]] = {}
    rows = []
    for values in itertools.product(*(grid[n] for n in names)):
        p = replace(base, **dict(zip(names, values, strict=True)))
        key = (p.green, p.bare, p.emerged, p.half_window, p.min_band_fields, p.min_clear_share)
        if key not in exps:  # expectations depend on these thresholds only
            exps[key] = {s: fit_expectations(data, [x for x in data.seasons if x < s], p) for s in tune_seasons}
        ckey = (*key, p.peer_k, p.peer_drop, p.peer_green, p.peer_same_crop, p.peer_drop_single, p.peer_both,
                p.peer_single_greenup_rel, p.peer_single_wait_days, p.peer_own_green, p.peer_gap_days, p.peer_gap_drop,
                p.peer_gap_drop_next, p.peer_gap_green, p.peer_gap_greenup_rel, p.peer_gap_below_peers, p.peer_first_obs,
                p.peer_stall_max, p.peer_stall_fall, p.peer_stall_green, p.peer_stall_drop, p.peer_stall_greenup_rel,
                p.peer_stall_below_peers)
        if ckey not in cands:
            cands[ckey] = {s: peer_candidates(views[s][0].obs[views[s][0].obs["season"] == s],
                                              views[s][0].crops[views[s][0].crops["season"] == s], data.starts[s],
                                              exps[key][s].timing, p, _clock(data, p)) for s in tune_seasons}
        tot = {"events": 0, "detected": 0, "high_alerts": 0, "right": 0}
        for s in tune_seasons:
            m = record_score(replay_alerts(views[s][0], s, exps[key][s], p, candidates=cands[ckey][s]), labels[s])
            for k in tot:
                tot[k] += int(m[k])
        m = {**tot, "recall": _ratio(tot["detected"], tot["events"]),
             "precision": _ratio(tot["right"], tot["high_alerts"])}
        rows.append({**dict(zip(names, values, strict=True)), **m})
        if progress is not None:
            progress(f"tune {dict(zip(names, values, strict=True))}: records precision {m['precision']} "
                     f"recall {m['recall']}")
    table = pd.DataFrame(rows)
    best = max(range(len(rows)), key=lambda i: _objective(rows[i]))
    if "grace_days" in names:  # records carry no dates: where they cannot tell points apart, alert earlier
        top = _objective(rows[best])
        near = [i for i in range(len(rows)) if _objective(rows[i])[0] == top[0]
                and _objective(rows[i])[1] >= top[1] - GRACE_TOLERANCE]
        best = min(near, key=lambda i: (rows[i]["grace_days"], tuple(-x for x in _objective(rows[i]))))
    chosen = replace(base, **{n: rows[best][n] for n in names})
    return chosen, table


# --- the whole evaluation ---------------------------------------------------------------------------------

def _crop_probs(data: SeasonData, season: str, train_seasons: Sequence[str],
                checkpoints: dict[str, int | str] | None = None) -> pd.DataFrame | None:
    """Crop-type probabilities of the production crop model (:func:`pipelines.train_crop.train_crop_type`,
    its county parameters and checkpoints) fitted on past seasons' declared crops, at each of its
    checkpoints (the probabilities hold from the checkpoint on): field_id, as_of, crop_type, crop_type_prob,
    declared_crop_prob."""
    from pipelines.train_crop import crop_labels, train_crop_type

    if data.crop_series is None:
        return None
    series = data.crop_series
    past = data.crops[data.crops["season"].isin(list(train_seasons))].rename(columns={"crop": "declared_crop"})
    labels = crop_labels(past.assign(region=past["region"].fillna(data.region)))  # SeasonData.crops has region
    model = train_crop_type(series[series["season"].isin(list(train_seasons))], labels, checkpoints=checkpoints,
                            register=False).classifier
    cur = data.crops[data.crops["season"] == season].rename(columns={"crop": "declared_crop"})
    start = pd.Timestamp(data.starts[season])
    frames = []
    for c in model.checkpoints_:
        if c == "end":
            continue
        as_of = start + pd.Timedelta(days=int(c))
        pr = model.predict(series[series["season"] == season], cur, as_of=as_of.date())
        frames.append(pd.DataFrame({"field_id": pr["field_id"].astype(str), "as_of": as_of,
                                    "crop_type": pr["crop_type"].astype(str),
                                    "crop_type_prob": pr["crop_type_prob"],
                                    "declared_crop_prob": pr["declared_crop_prob"]}))
    out = pd.concat(frames, ignore_index=True) if frames else None
    return out[out["declared_crop_prob"].notna()] if out is not None else None


def evaluate_alerts(county: str | Path, *, season: str | None = None, params: AlertParams | None = None,
                    tune: bool = True, crop_model: bool = True, cache_dir: str | Path | None = None,
                    n_tune_seasons: int = 2, progress: Callable[[str], None] | None = None,
                    data: SeasonData | None = None, grid: dict[str, Sequence[Any]] | None = None,
                    weather: str | Path | None = None, timing_unit: str = "days",
                    rules: dict[str, Any] | None = None, interval_by: str = "field") -> AlertEvaluation:
    """Replay ``season`` (default: the county's current one) and score it against ``truth/``.

    ``params`` given: used as is; else tuned on the last ``n_tune_seasons`` past seasons when ``tune``,
    else the defaults. ``crop_model``: fit a crop-type model on past seasons for CROP_MISMATCH. ``weather``: see
    :func:`load_season_data`; ``timing_unit`` ``gdd``: the collapse timing in growing degree days from it (the
    params' ``timing_unit`` when ``params`` are given). ``rules`` (:func:`parse_rules`; not with ``params``):
    thresholds set instead of the defaults — an option such as ``peer_stall_max`` turned on —, the tuning run with
    them and a tuned name fixed at its value (taken out of the grid); said in the notes. ``interval_by``
    (``field``, ``condition``, ``farmer``): the 95% intervals' resampled units — fields, or every field of one
    simulated condition (truth) or of one farmer (the records) drawn together (:func:`pipelines.evaluation.group_keys`;
    a field without one is its own group); a field's alerts and events always go with it.
    """
    if rules and params is not None:
        raise UserInputError("evaluate alerts: give the thresholds either as params or as rules, not both")
    base = _with_rules(AlertParams(timing_unit=timing_unit), rules or {})
    truth = read_truth(county)
    keys = group_keys(county, interval_by)  # before minutes of replay: an unknown value or a missing key refused
    if data is None and (Path(county) / "county.json").is_file():
        from pipelines.county import County

        c = County(county)  # the season checked before every season's series is built (minutes on a large county)
        _check_season(str(season or c.current_season), c.seasons)
    data = data or load_season_data(county, cache_dir=cache_dir, progress=progress, crop_series=crop_model,
                                    weather=weather)
    season = str(season or data.current)
    past = _check_season(season, data.seasons)
    notes = []
    tuned_on: list[str] = []
    if rules:
        notes.append("rules set: " + ", ".join(f"{k}={v}" for k, v in sorted(rules.items())))
    free = {k: v for k, v in (grid or DEFAULT_GRID).items() if k not in (rules or {})}  # a name set is not tuned
    if params is None and tune and free and len(past) >= 2 + n_tune_seasons:
        tuned_on = past[-n_tune_seasons:]
        params, _ = tune_params(data, tuned_on, base=base, grid=free, progress=progress)
    elif params is None:
        params = base
        notes.append("parameters not tuned (defaults" + (" and the rules set)" if rules else ")"))
    exp = fit_expectations(data, past, params)
    probs = None
    if crop_model and data.crop_series is not None:
        from pipelines.county import County
        from pipelines.train_crop import county_checkpoints

        probs = _crop_probs(data, season, past, county_checkpoints(County(county, cache_dir=cache_dir), season))
    if probs is None:
        notes.append("CROP_MISMATCH not evaluated (no crop-type model: --crop-model fits one on past seasons); "
                     "crop_mismatch events are left out of recall")
    alerts = replay_alerts(data, season, exp, params, crop_probs=probs)
    events = truth_events(truth, data, season, exp, crop_mismatch=probs is not None)
    groups = None if keys is None else season_group_keys(keys, season).to_dict()
    metrics, by_event, by_alert, per_event = score_alerts_with_events(alerts, events, truth, data, season,
                                                                      groups=groups, interval_by=interval_by)
    naive = naive_alerts(data, season, exp)
    base_m, base_ev, _ = score_alerts(naive.assign(season=season), events, truth, data, season, groups=groups,
                                      interval_by=interval_by)
    by_event = with_naive_by_event(by_event, base_ev)
    return AlertEvaluation(county=str(county), season=season, label=synthetic_label(county), params=params,
                           tuned_on=tuned_on, metrics=metrics, baseline=base_m, by_event=by_event,
                           by_alert=by_alert, alerts=alerts, notes=notes, events=per_event)
