"""The text table of an early-warning replay (``agcredit evaluate alerts``, benchmarks/bench_alerts.py) and the
readable evidence of an alert (``agcredit monitor``'s text output; ``--json`` keeps the evidence as stored)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.evaluation.alerts import AlertEvaluation

__all__ = ["format_alert_evaluation", "format_evidence"]


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.3f}" if isinstance(v, float) and not float(v).is_integer() else str(v)


def _val(v: Any) -> str:
    """One evidence value as text: None is "n/a", a pair ``[date, value]`` "date value", a list its items."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        if v and all(isinstance(x, list | tuple) and len(x) == 2 for x in v):
            return ", ".join(f"{_val(a)} {_val(b)}" for a, b in v)
        return ", ".join(_val(x) for x in v) or "none"
    if isinstance(v, dict):
        return "(" + ", ".join(f"{_key(k)} {_val(x)}" for k, x in v.items()) + ")"
    return str(v)


def _key(k: Any) -> str:
    return str(k).replace("_", " ")


def format_evidence(evidence: Any) -> str:
    """An alert's evidence (JSON text as the alert table keeps it, or a dict) as one readable line: per observation
    date its series (``dates`` with the lists of the same length: "2009-08-09: ndvi 0.311, expected p10 0.4332"),
    then each other item "name value" ("n/a" for none; a list of ``[date, value]`` pairs as "date value, …"),
    separated by "; ". Text that is not a JSON object is returned as it is."""
    ev = evidence
    if isinstance(ev, str):
        try:
            ev = json.loads(ev)
        except ValueError:
            return evidence
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
    parts += [f"{_key(k)} {_val(v)}" for k, v in ev.items() if k != "dates" and k not in series]
    return "; ".join(parts)


def format_alert_evaluation(ev: AlertEvaluation) -> str:
    """The evaluation as a text table, labelled synthetic or real, with the naive baseline beside it."""
    m, b = ev.metrics, ev.baseline
    lines = [f"early-warning replay: {ev.county} season {ev.season} ({ev.label}; {m['fields']} fields, "
             f"{m['clear_obs_per_field']} clear observations per field)",
             f"params: {json.dumps(asdict(ev.params), sort_keys=True)}"
             + (f" (tuned on past seasons {', '.join(ev.tuned_on)})" if ev.tuned_on else ""),
             f"{'':<26}{'alerts':>10}{'naive':>10}{'target':>10}",
             f"{'precision (high alerts)':<26}{_fmt(m['precision']):>10}{_fmt(b['precision']):>10}{'>= 0.95':>10}",
             f"{'recall (events)':<26}{_fmt(m['recall']):>10}{_fmt(b['recall']):>10}{'>= 0.90':>10}",
             f"{'median delay (clear obs)':<26}{_fmt(m['median_delay_obs']):>10}{_fmt(b['median_delay_obs']):>10}"
             f"{'<= 2':>10}",
             f"{'events / detected':<26}{str(m['events']) + '/' + str(m['detected']):>10}"
             f"{str(b['events']) + '/' + str(b['detected']):>10}",
             "", f"{'':<16}{'':>8}{'alerts':>33}   {'naive':>33}",
             f"{'event':<16}{'events':>8}{'detected':>10}{'recall':>9}{'median delay':>14}   "
             f"{'detected':>10}{'recall':>9}{'median delay':>14}"]
    for r in ev.by_event.itertuples(index=False):
        naive = (f"   {_fmt(getattr(r, 'naive_detected', None)):>10}{_fmt(getattr(r, 'naive_recall', None)):>9}"
                 f"{_fmt(getattr(r, 'naive_median_delay_obs', None)):>14}")
        lines.append(f"{r.event:<16}{r.events:>8}{r.detected:>10}{_fmt(r.recall):>9}{_fmt(r.median_delay_obs):>14}"
                     + naive)
    lines += ["", f"{'alert':<16}{'raised':>8}{'right':>8}{'precision':>11}{'on adverse field':>18}"]
    for r in ev.by_alert.itertuples(index=False):
        lines.append(f"{r.alert:<16}{r.raised:>8}{r.right:>8}{_fmt(r.precision):>11}{_fmt(r.on_adverse_field):>18}")
    lines += [f"note: {n}" for n in ev.notes]
    lines.append(f"({ev.label} figures)")
    return "\n".join(lines)
