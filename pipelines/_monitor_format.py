"""The text table of an early-warning replay (``agcredit evaluate alerts``, benchmarks/bench_alerts.py) and the
readable evidence of an alert (``agcredit monitor``'s text output; ``--json`` keeps the evidence as stored)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.evaluation.alerts import AlertEvaluation

__all__ = ["EVIDENCE_LABELS", "format_alert_evaluation", "format_evidence"]


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.3f}" if isinstance(v, float) and not float(v).is_integer() else str(v)


def _ci(v: Any) -> str:
    """An interval [lo, hi] as "lo–hi" (3 decimals as the figures; whole numbers as they are); "—" without one."""
    if not isinstance(v, list | tuple) or len(v) != 2:
        return "—"
    return f"{_fmt(float(v[0]))}–{_fmt(float(v[1]))}"


#: how an alert's evidence item reads (else its key with spaces): one wording for monitor's text and the report pages
EVIDENCE_LABELS = {"ndvi": "NDVI", "expected_p10": "expected P10", "expected_p50": "expected P50",
                   "max_ndvi": "highest NDVI", "clear_obs": "clear observations",
                   "last_clear_obs": "last clear observation before the alert",
                   "declared_crop_prob": "probability of the declared crop", "crop_type": "crop seen",
                   "crop_type_prob": "its probability", "cohort_ratio": "cohort ratio",
                   "expected_emergence_day": "expected emergence by day", "grace_days": "grace days",
                   "collapse_day": "collapse on day", "greenup_day": "green-up on day",
                   "expected_collapse_day_p25": "usual collapse from day", "failure_before_day": "failure before day",
                   "declared_crop_prob_by_checkpoint": "probability of the declared crop by checkpoint",
                   "cohort_ndvi": "median NDVI of the fields of its crop",
                   "gap_days": "days since the previous clear observation"}


def _is_day(v: Any) -> bool:
    try:
        return isinstance(v, str) and bool(date.fromisoformat(v[:10]))
    except ValueError:
        return False


def _is_pair(v: Any) -> bool:
    """A ``[date, value]`` pair (a value on a date: a checkpoint's probability)."""
    return isinstance(v, list | tuple) and len(v) == 2 and _is_day(v[0]) and not _is_day(v[1]) \
        and not isinstance(v[1], list | tuple | dict)


def _val(v: Any) -> str:
    """One evidence value in words: None "n/a"; a float to 4 significant digits; a ``[date, value]`` pair "value on
    date"; a list its items joined with ", " ("none" when empty); a dict "(name value, …)"."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        if _is_pair(v):
            return f"{_val(v[1])} on {v[0]}"
        return ", ".join(" / ".join(_val(y) for y in x) if isinstance(x, list | tuple) and not _is_pair(x)
                         else _val(x) for x in v) or "none"
    if isinstance(v, dict):
        return "(" + ", ".join(f"{_key(k)} {_val(x)}" for k, x in v.items()) + ")"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _key(k: Any) -> str:
    return EVIDENCE_LABELS.get(str(k), str(k).replace("_", " "))


def _season_start(v: Any) -> date | None:
    try:
        return date.fromisoformat(v) if isinstance(v, str) else None
    except ValueError:
        return None


def format_evidence(evidence: Any) -> str:
    """An alert's evidence (JSON text as the alert table keeps it, or a dict) as one readable line — the one wording
    of ``agcredit monitor``'s text and the report pages (:func:`pipelines.report.evidence_text` is this function).
    Per observation date its series (``dates`` with the lists of the same length, NDVI first: "2009-08-09: NDVI
    0.311, expected P10 0.4332"), then each other item "name value" by name ("n/a" for none; a list of ``[date,
    value]`` pairs "value on date, …"; floats to 4 significant digits), separated by "; ". A day of season
    (:data:`pipelines.monitor.DAY_OF_SEASON_KEYS`) is followed by its date when the evidence names its
    ``season_start`` ("expected emergence by day 60 (2024-05-31)"), which is then not repeated; evidence without
    such a day keeps its season start as an item. Text that is not a JSON object is returned as it is; None: ""."""
    from pipelines.monitor import DAY_OF_SEASON_KEYS

    ev = evidence
    if isinstance(ev, str):
        try:
            ev = json.loads(ev)
        except ValueError:
            return evidence
    if ev is None or (isinstance(ev, float) and math.isnan(ev)):
        return ""
    if not isinstance(ev, dict):
        return _val(ev)
    dates: Any = ev.get("dates")
    series: list[str] = []
    if isinstance(dates, list) and dates:
        series = [k for k, v in ev.items() if k != "dates" and isinstance(v, list) and len(v) == len(dates)
                  and not any(isinstance(x, list | tuple | dict) for x in v)]
        series.sort(key=lambda k: (k != "ndvi", k))  # the observation first, what it is compared with after
    parts = []
    if series:
        parts += [f"{d}: " + ", ".join(f"{_key(k)} {_val(ev[k][i])}" for k in series) for i, d in enumerate(dates or [])]
    elif isinstance(dates, list):
        parts.append(f"dates {_val(dates)}")
    start = _season_start(ev.get("season_start"))
    dated = start is not None and any(isinstance(ev.get(k), int | float) and not isinstance(ev.get(k), bool)
                                      and math.isfinite(ev[k]) for k in DAY_OF_SEASON_KEYS)
    for k in sorted(str(x) for x in ev):
        if k == "dates" or k in series or (k == "season_start" and dated):
            continue
        v = ev[k]
        text = _val(v)
        if dated and start is not None and k in DAY_OF_SEASON_KEYS and isinstance(v, int | float) \
                and not isinstance(v, bool) and math.isfinite(v):
            text += f" ({(start + timedelta(days=round(v))).isoformat()})"  # the day of season as a date
        parts.append(f"{_key(k)} {text}")
    return "; ".join(parts)


def format_alert_evaluation(ev: AlertEvaluation) -> str:
    """The evaluation as a text table, labelled synthetic or real, with the naive baseline beside it."""
    m, b = ev.metrics, ev.baseline
    lines = [f"early-warning replay: {ev.county} season {ev.season} ({ev.label}; {m['fields']} fields, "
             f"{m['clear_obs_per_field']} clear observations per field)",
             f"params: {json.dumps(asdict(ev.params), sort_keys=True)}"
             + (f" (tuned on past seasons {', '.join(ev.tuned_on)})" if ev.tuned_on else ""),
             f"{'':<26}{'alerts':>10}{'naive':>10}{'target':>10}{'alerts 95% interval':>22}",
             f"{'precision (high alerts)':<26}{_fmt(m['precision']):>10}{_fmt(b['precision']):>10}{'>= 0.95':>10}"
             f"{_ci(m.get('precision_ci')):>22}",
             f"{'recall (events)':<26}{_fmt(m['recall']):>10}{_fmt(b['recall']):>10}{'>= 0.90':>10}"
             f"{_ci(m.get('recall_ci')):>22}",
             f"{'median delay (clear obs)':<26}{_fmt(m['median_delay_obs']):>10}{_fmt(b['median_delay_obs']):>10}"
             f"{'<= 2':>10}{_ci(m.get('median_delay_obs_ci')):>22}",
             f"{'events / detected':<26}{str(m['events']) + '/' + str(m['detected']):>10}"
             f"{str(b['events']) + '/' + str(b['detected']):>10}",
             "", f"{'':<16}{'':>8}{'alerts':>49}   {'naive':>33}",
             f"{'event':<16}{'events':>8}{'detected':>10}{'recall':>9}{'recall 95%':>16}{'median delay':>14}   "
             f"{'detected':>10}{'recall':>9}{'median delay':>14}"]
    for r in ev.by_event.itertuples(index=False):
        naive = (f"   {_fmt(getattr(r, 'naive_detected', None)):>10}{_fmt(getattr(r, 'naive_recall', None)):>9}"
                 f"{_fmt(getattr(r, 'naive_median_delay_obs', None)):>14}")
        lines.append(f"{r.event:<16}{r.events:>8}{r.detected:>10}{_fmt(r.recall):>9}"
                     f"{_ci(getattr(r, 'recall_ci', None)):>16}{_fmt(r.median_delay_obs):>14}" + naive)
    lines += ["", f"{'alert':<16}{'raised':>8}{'right':>8}{'precision':>11}{'on adverse field':>18}"]
    for r in ev.by_alert.itertuples(index=False):
        lines.append(f"{r.alert:<16}{r.raised:>8}{r.right:>8}{_fmt(r.precision):>11}{_fmt(r.on_adverse_field):>18}")
    if m.get("interval"):
        lines.append(f"intervals: {m['interval']} — a figure whose interval straddles its target has not shown it is "
                     "met or missed")
    lines += [f"note: {n}" for n in ev.notes]
    lines.append(f"({ev.label} figures)")
    return "\n".join(lines)
