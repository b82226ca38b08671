"""Scoring of the early-warning replay (:mod:`pipelines.evaluation.alerts`): the season's events from the truth,
and precision, recall and delay of the alerts raised against them (the rules are in that module's docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipelines.evaluation._bootstrap import (
    INTERVAL,
    blockwise,
    count_blocks,
    describe,
    draw_units,
    exact_when_alike,
    group_codes,
    percentile_interval,
    repeated_median,
)

if TYPE_CHECKING:
    from pipelines.evaluation.alerts import Expectations, SeasonData

__all__ = ["HIGH_ALERTS", "CATCHES", "RIGHT_WHEN", "ADVERSE", "EVENT_COLUMNS", "INTERVAL", "truth_events",
           "score_alerts", "score_alerts_with_events", "field_bootstrap"]

HIGH_ALERTS = ("CROP_FAILURE", "NOT_PLANTED", "CROP_MISMATCH")
CATCHES = {"failure": ("CROP_FAILURE", "NOT_PLANTED"), "never_planted": ("NOT_PLANTED",),
           "crop_mismatch": ("CROP_MISMATCH",)}
#: the naive baseline's one alert stands for every high alert: right on the events it is scored as catching
#: (recall), as the rules' alerts are — not on any adverse field (a drought or a partly planted field)
RIGHT_WHEN = {"CROP_FAILURE": ("failure",), "NOT_PLANTED": ("never_planted", "failure"),
              "CROP_MISMATCH": ("crop_mismatch", "never_planted"), "NAIVE": tuple(CATCHES)}
ADVERSE = ("failure", "never_planted", "crop_mismatch", "partly_planted", "drought", "hail", "flood", "heat",
           "lodging")


# --- scoring ---------------------------------------------------------------------------------------------

def truth_events(truth: pd.DataFrame, data: SeasonData, season: str, exp: Expectations, *,
                 crop_mismatch: bool = True) -> pd.DataFrame:
    """field_id, event, onset for the season's failure / never_planted / crop_mismatch fields (the last only
    when ``crop_mismatch``: without a crop-type model no rule can see it)."""
    t = truth[truth["season"].astype(str) == season]
    crops = data.crops[data.crops["season"] == season].set_index("field_id")
    start = pd.Timestamp(data.starts[season])
    rows = []
    for r in t.itertuples(index=False):
        ev = set(str(r.events).split(";")) if isinstance(r.events, str) else set()
        fid = str(r.field_id)
        crop = crops["crop"].get(fid)
        expected = start + pd.Timedelta(days=exp.emergence.get((data.region, str(crop)), 60))
        if "failure" in ev and not pd.isna(r.failure_date):
            rows.append((fid, "failure", pd.Timestamp(r.failure_date)))
        if "never_planted" in ev:
            rows.append((fid, "never_planted", expected))
        if "crop_mismatch" in ev and crop_mismatch:
            rows.append((fid, "crop_mismatch", pd.Timestamp(r.emergence_date) if not pd.isna(r.emergence_date)
                         else expected))
    return pd.DataFrame(rows, columns=["field_id", "event", "onset"])


def _delay(obs_dates: dict[str, np.ndarray], fid: str, onset: pd.Timestamp, when: pd.Timestamp) -> int:
    d = obs_dates.get(fid, np.array([], dtype="datetime64[ns]"))
    return int(((d > onset.to_datetime64()) & (d <= when.to_datetime64())).sum())


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _lucky_not_planted(alerts: pd.DataFrame, events: pd.DataFrame, truth: pd.DataFrame
                       ) -> set[tuple[str, str, pd.Timestamp]]:
    """(field_id, "NOT_PLANTED", date) of the NOT_PLANTED alerts raised on a crop that had come up (its true
    emergence on or before the alert) and failed only after the alert: wrong when raised — the crop was there — and
    no catch of the failure that came later (they were scored as catches with delay 0 until 2026-12-04, sixth)."""
    np_al = alerts[alerts["alert"].astype(str) == "NOT_PLANTED"]
    fail = events[events["event"] == "failure"]
    if np_al.empty or fail.empty or "emergence_date" not in truth.columns:
        return set()
    onset = dict(zip(fail["field_id"].astype(str), pd.to_datetime(fail["onset"]), strict=True))
    emerged = dict(zip(truth["field_id"].astype(str), pd.to_datetime(truth["emergence_date"]), strict=True))
    out = set()
    for f, d in zip(np_al["field_id"].astype(str), pd.to_datetime(np_al["date"]), strict=True):
        if f in onset and d < onset[f] and pd.notna(emerged.get(f)) and emerged[f] <= d:
            out.add((f, "NOT_PLANTED", pd.Timestamp(d)))
    return out


#: the columns of the per-event table (:func:`score_alerts_with_events`): each event, the first alert that caught it
#: (None: missed) and its delay in clear observations after the onset, and every alert raised on the field (kind and
#: first date, by date: what the rules did see of a missed event)
EVENT_COLUMNS = ["field_id", "event", "onset", "alert_date", "delay_obs", "alerts_on_field"]


def score_alerts(alerts: pd.DataFrame, events: pd.DataFrame, truth: pd.DataFrame, data: SeasonData,
                 season: str, *, groups: Mapping[str, Any] | None = None, interval_by: str = "field"
                 ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Overall metrics, per-event-type and per-alert tables (see the module docstring); ``groups`` and
    ``interval_by``: the intervals' groups (:func:`field_bootstrap`)."""
    metrics, by_event, by_alert, _ = score_alerts_with_events(alerts, events, truth, data, season, groups=groups,
                                                              interval_by=interval_by)
    return metrics, by_event, by_alert


def _alerts_on_field(by_field: dict[str, list[tuple[str, pd.Timestamp]]], fid: str) -> str:
    """"KIND YYYY-MM-DD; ..." — each kind of alert raised on ``fid`` with its first date, in date order."""
    first: dict[str, pd.Timestamp] = {}
    for a, d in by_field.get(fid, []):
        first[a] = min(first.get(a, d), d)
    return "; ".join(f"{a} {d.date()}" for a, d in sorted(first.items(), key=lambda x: (x[1], x[0])))


def score_alerts_with_events(alerts: pd.DataFrame, events: pd.DataFrame, truth: pd.DataFrame, data: SeasonData,
                             season: str, *, groups: Mapping[str, Any] | None = None, interval_by: str = "field"
                             ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`score_alerts` and the per-event table (:data:`EVENT_COLUMNS`) its recall and delay are counted on."""
    obs = data.obs[data.obs["season"] == season]
    obs_dates = {str(k): g["date"].to_numpy() for k, g in obs.groupby("field_id")}
    t = truth[truth["season"].astype(str) == season]
    ev_of = {str(f): set(str(e).split(";")) if isinstance(e, str) else set()
             for f, e in zip(t["field_id"], t["events"], strict=True)}
    lucky = _lucky_not_planted(alerts, events, t)
    by_field: dict[str, list[tuple[str, pd.Timestamp]]] = {}
    for r in alerts.itertuples(index=False):
        by_field.setdefault(str(r.field_id), []).append((str(r.alert), pd.Timestamp(r.date)))
    ev_rows, delays = [], []
    for r in events.itertuples(index=False):
        hits = [d for a, d in by_field.get(r.field_id, []) if (a in CATCHES.get(r.event, ("NAIVE",)) or a == "NAIVE")
                and not (r.event == "failure" and (r.field_id, a, d) in lucky)]
        when = min(hits) if hits else None
        delay = _delay(obs_dates, r.field_id, r.onset, when) if when is not None else None
        ev_rows.append((r.field_id, r.event, r.onset, when, delay, _alerts_on_field(by_field, str(r.field_id))))
        if delay is not None:
            delays.append(delay)
    per_event = pd.DataFrame(ev_rows, columns=EVENT_COLUMNS)
    by_event = (per_event.groupby("event").agg(events=("field_id", "size"), detected=("alert_date", "count"),
                                               median_delay_obs=("delay_obs", "median")).reset_index()
                if len(per_event) else pd.DataFrame(columns=["event", "events", "detected", "median_delay_obs"]))
    if len(by_event):
        by_event["recall"] = [_ratio(int(d), int(n)) for d, n in zip(by_event["detected"], by_event["events"],
                                                                     strict=True)]
    al_rows = []
    high_rows: list[tuple[str, bool]] = []  # (field_id, right) of each high alert: the intervals' precision
    tp = n_high = 0
    for kind, g in alerts.groupby("alert"):
        right = [bool((ev_of.get(str(f), set()) - ({"failure"} if (str(f), str(kind), pd.Timestamp(d)) in lucky
                                                   else set())) & set(RIGHT_WHEN.get(str(kind), ADVERSE)))
                 for f, d in zip(g["field_id"], g["date"], strict=True)]
        adverse = [bool(ev_of.get(str(f), set()) & set(ADVERSE)) for f in g["field_id"]]
        al_rows.append((kind, len(g), int(sum(right)), _ratio(int(sum(right)), len(g)), _ratio(int(sum(adverse)),
                                                                                                len(g))))
        if kind in HIGH_ALERTS or kind == "NAIVE":
            tp, n_high = tp + int(sum(right)), n_high + len(g)
            high_rows += [(str(f), r) for f, r in zip(g["field_id"], right, strict=True)]
    by_alert = pd.DataFrame(al_rows, columns=["alert", "raised", "right", "precision", "on_adverse_field"])
    detected = int(per_event["alert_date"].notna().sum()) if len(per_event) else 0
    metrics = {"events": len(per_event), "detected": detected, "recall": _ratio(detected, len(per_event)),
               "high_alerts": n_high, "precision": _ratio(tp, n_high),
               "median_delay_obs": float(np.median(delays)) if delays else None,
               "fields": int(len(t)), "clear_obs_per_field": round(len(obs) / max(len(t), 1), 1)}
    ci, ci_event = field_bootstrap(t["field_id"].astype(str).tolist(), high_rows, per_event, groups=groups,
                                   interval_by=interval_by)
    cases = {"precision": (tp, n_high, [f for f, _ in high_rows]),
             "recall": (detected, len(per_event), per_event["field_id"].tolist())}
    exact = [f for f, (k, n, where) in cases.items()
             if _all_or_none(ci, f"{f}_ci", k, n, draw_units(where, groups))]
    metrics.update(ci, **({"interval_exact": exact} if exact else {}))
    if len(by_event):
        for e, k, n in zip(by_event["event"], by_event["detected"], by_event["events"], strict=True):
            _all_or_none(ci_event, str(e), int(k), int(n),
                         draw_units(per_event.loc[per_event["event"] == e, "field_id"].tolist(), groups))
        by_event["recall_ci"] = [ci_event.get(str(e)) for e in by_event["event"]]
    return metrics, by_event, by_alert, per_event.sort_values(["event", "field_id"], kind="stable").reset_index(drop=True)


def _all_or_none(cis: dict[str, Any], key: str, k: int, n: int, units: int) -> bool:
    """``cis[key]`` made the exact binomial interval of ``k`` of ``n`` where the bootstrap's has no width (all or none
    right: :func:`pipelines.evaluation._bootstrap.share_interval`), counted over the ``units`` draws holding the
    cases (a field's alerts and events are one draw); whether it was."""
    iv, exact = exact_when_alike(cis.get(key), k, n, units)
    if exact:
        cis[key] = iv
    return exact


def field_bootstrap(fields: list[str], high: list[tuple[str, bool]], per_event: pd.DataFrame, *,
                    groups: Mapping[str, Any] | None = None, interval_by: str = "field"
                    ) -> tuple[dict[str, Any], dict[str, list[float] | None]]:
    """The 95% intervals of precision, recall and median delay (:data:`INTERVAL`): the season's ``fields`` resampled
    with replacement, each resample scored as the whole season is — precision over the drawn fields' high alerts
    (``high``: field, right), recall over their events and the median of their delays (``per_event``:
    :data:`EVENT_COLUMNS`). Returns the metrics' ``precision_ci``, ``recall_ci``, ``median_delay_obs_ci`` (None where
    no resample has a figure) and ``interval`` (how they were drawn), and each event type's recall interval. A
    field's alerts and events go together: a field with several is one draw.

    ``groups`` (field → group key, :func:`pipelines.evaluation.group_keys`; ``interval_by`` names them): a cluster
    bootstrap — the season's groups drawn whole, each field (its alerts and events with it) as often as its group; a
    field without a key is its own group. ``interval`` then says so and ``interval_by`` is added (absent for fields:
    the output as before)."""
    pos = {f: i for i, f in enumerate(dict.fromkeys(fields))}
    for f in [h[0] for h in high] + per_event["field_id"].astype(str).tolist():
        pos.setdefault(f, len(pos))  # an alert or event on a field outside the season's rows still counts once
    n = len(pos)
    codes = None if groups is None else group_codes([groups.get(f) for f in pos])
    how: dict[str, Any] = {"interval": describe("the season's fields")}
    if codes is not None:
        how = {"interval": describe("the season's fields", interval_by, int(codes.max()) + 1 if n else 0),
               "interval_by": interval_by}
    empty: dict[str, Any] = {"precision_ci": None, "recall_ci": None, "median_delay_obs_ci": None, **how}
    ev_f = per_event["field_id"].astype(str).map(pos).to_numpy(dtype=int) if len(per_event) else np.zeros(0, int)
    hi_f = np.array([pos[f] for f, _ in high], dtype=int)
    active = np.unique(np.concatenate([ev_f, hi_f]))
    if n == 0 or not len(active):
        return empty, {}
    sums = _per_active_field(active, high, hi_f, per_event, ev_f)
    drawn = blockwise(partial(_resampled, sums), count_blocks(n, active, groups=codes))
    by_type = {e: percentile_interval(v) for e, v in drawn["by_type"].items()}
    delay_ci = percentile_interval(drawn["delay"]) if "delay" in drawn else None
    return {"precision_ci": percentile_interval(drawn["precision"]), "recall_ci": percentile_interval(drawn["recall"]),
            "median_delay_obs_ci": delay_ci, **how}, by_type


def _per_active_field(active: np.ndarray, high: list[tuple[str, bool]], hi_f: np.ndarray, per_event: pd.DataFrame,
                      ev_f: np.ndarray) -> dict[str, Any]:
    """What :func:`_resampled` weighs by each resample's counts, per ``active`` field (a column of the counts: the
    fields with a high alert, ``hi_f``, or an event, ``ev_f``): its high alerts and right ones, its events and found
    ones (in all, and by event type) — and the caught events' delays with their fields' columns."""
    def per_field(idx: np.ndarray, vals: np.ndarray | None = None) -> np.ndarray:
        """Per active field: the count of ``idx`` (or the sum of ``vals``) on that field."""
        return np.bincount(np.searchsorted(active, idx), weights=vals, minlength=len(active)).astype(float)

    right = np.array([r for _, r in high], dtype=float)
    found = per_event["alert_date"].notna().to_numpy(dtype=float) if len(per_event) else np.zeros(0)
    events = per_event["event"].astype(str).to_numpy() if len(per_event) else np.zeros(0, dtype=str)
    d = per_event["delay_obs"].to_numpy(dtype=float) if len(per_event) else np.zeros(0)
    caught = np.isfinite(d)
    return {"high": per_field(hi_f), "right": per_field(hi_f, right),
            "events": per_field(ev_f), "found": per_field(ev_f, found),
            "by_type": {e: (per_field(ev_f[events == e]), per_field(ev_f[events == e], found[events == e]))
                        for e in sorted(set(events))},
            "delays": d[caught], "delay_cols": np.searchsorted(active, ev_f[caught])}


def _resampled(sums: dict[str, Any], w: np.ndarray) -> dict[str, Any]:
    """Precision, recall (in all and by event type) and the median delay on each resample (row of ``w``: how often
    each active field is drawn; :func:`_per_active_field`), each caught event's delay drawn as often as its field is;
    no ``delay`` without a caught event. The weights are whole numbers, so ``@`` sums them exactly."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out: dict[str, Any] = {
            "precision": (w @ sums["right"]) / (w @ sums["high"]), "recall": (w @ sums["found"]) / (w @ sums["events"]),
            "by_type": {e: (w @ f) / (w @ ev) for e, (ev, f) in sums["by_type"].items()}}
    if len(sums["delays"]):
        out["delay"] = repeated_median(sums["delays"], w[:, sums["delay_cols"]])
    return out
