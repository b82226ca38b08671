"""The text table of an early-warning replay (``agcredit evaluate alerts``, benchmarks/bench_alerts.py)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.evaluation.alerts import AlertEvaluation

__all__ = ["format_alert_evaluation"]


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.3f}" if isinstance(v, float) and not float(v).is_integer() else str(v)


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
