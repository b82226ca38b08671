"""The validation report's HTML pieces (:mod:`pipelines.validation_report`): the summary, each evaluation's header,
targets table, tables and charts, and the page's style. Every text taken from a JSON is escaped; every figure is
formatted here, the same way on every run."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from pipelines._svg_validation import IntervalRow, bounds_text, interval_bars_svg, reliability_svg
from pipelines.validation_report import (
    MET,
    NOT_MET,
    NOT_REPORTED,
    POINT_MET,
    STRADDLES,
    UNGATED,
    Evaluation,
    Gate,
    fmt_value,
    interval,
    lookup,
    number,
)

__all__ = ["CSS", "evaluation_html", "summary_html"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1120px;color:#212121;
 font-size:14px;line-height:1.4;padding:0 12px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 6px;border-bottom:2px solid #3949ab;padding-bottom:3px}
h3{font-size:15px;margin:18px 0 6px}p.sub{color:#455a64;margin-top:0}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12.5px}th,td{border:1px solid #cfd8dc;padding:3px 7px;
 text-align:left;vertical-align:top}th{background:#eceff1}td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#b71c1c;color:#fff;font-weight:bold;font-size:17px;padding:8px 12px;margin:8px 0;
 letter-spacing:.04em;border-radius:3px}.banner.unknown{background:#ef6c00}
dl.facts{display:grid;grid-template-columns:190px 1fr;gap:2px 12px;margin:6px 0 10px}dl.facts dt{color:#546e7a}
dl.facts dd{margin:0}
.v-met{background:#c8e6c9;font-weight:bold}.v-not{background:#ffcdd2;font-weight:bold}
.v-straddle{background:#ffe0b2;font-weight:bold}.v-point{background:#fff9c4;font-weight:bold}
.v-none{background:#f5f5f5;color:#616161}
.charts{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}.charts svg{background:#fff}
.small{font-size:11.5px;color:#546e7a}table.params td{font-size:11px;padding:1px 5px}
footer{margin-top:36px;border-top:1px solid #b0bec5;font-size:12px}code{font-size:11px}
section.ev{margin-top:30px}
@media print{body{margin:0;max-width:none;font-size:11px}section.ev{break-before:page}
 .banner,.v-met,.v-not,.v-straddle,.v-point,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 svg,table,.charts{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""

_TITLES = {"alerts": "Early warning (alerts)", "growth-stage": "Growth stage", "area": "Planted area",
           "crop-type": "Crop type", "yield": "Yield"}
_VERDICT_CLASS = {MET: "v-met", NOT_MET: "v-not", STRADDLES: "v-straddle", POINT_MET: "v-point", UNGATED: "v-none",
                  NOT_REPORTED: "v-none"}


def _e(v: object) -> str:
    return escape(str(v))


def _dict(v: object) -> dict[str, Any]:
    """``v`` where it is a JSON object, else an empty one (a part of another shape reads as missing)."""
    return v if isinstance(v, dict) else {}


def _seasons(v: object) -> str:
    return ", ".join(str(s) for s in v) if isinstance(v, list) and v else "—"


def _with_ci(v: object, ci: object, kind: str) -> str:
    """A figure and its 95% interval, as the report prints them."""
    x, c = number(v), interval(ci)
    if x is None:
        return "—"
    return fmt_value(x, kind) + (f" ({bounds_text(c[0], c[1], functools.partial(_as, kind))})" if c else "")


def _as(kind: str, v: float, extra: int = 0) -> str:
    """:func:`fmt_value` with the format first (for :func:`functools.partial`)."""
    return fmt_value(v, kind, extra)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, num_from: int = 1, text_cols: Sequence[int] = (),
           cls: str = "") -> str:
    """A table of already-escaped cells; columns from ``num_from`` on, but ``text_cols``, are right-aligned numbers."""
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if j >= num_from and j not in text_cols else ""}>{c}</td>'
                                    for j, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table{f" class={cls}" if cls else ""}><tr>{h}</tr>{body}</table>'


# -- summary ----------------------------------------------------------------------------------------------------------

def _data_word(ev: Evaluation) -> str:
    return {True: "<b>SYNTHETIC</b>", False: "as labelled: " + _e(ev.data.get("label") or ev.data.get("data")),
            None: "not stated"}[ev.synthetic]


def summary_html(judged: Sequence[tuple[Evaluation, list[Gate], list[str]]]) -> str:
    """The table of every evaluation and its gated figures' verdicts, linked to its section."""
    rows = []
    for i, (ev, gs, _) in enumerate(judged):
        n = {v: sum(g.verdict == v for g in gs) for v in (MET, NOT_MET, STRADDLES, POINT_MET, UNGATED, NOT_REPORTED)}
        rows.append([f'<a href="#e{i + 1}">{_e(_TITLES[ev.kind])}</a>', _e(ev.county), _data_word(ev),
                     str(sum(g.verdict in (MET, NOT_MET, STRADDLES, POINT_MET) for g in gs)), str(n[MET]),
                     str(n[NOT_MET]), str(n[STRADDLES]), str(n[POINT_MET]), str(n[UNGATED] + n[NOT_REPORTED])])
    return "<h2>Summary</h2>" + _table(["evaluation", "county", "data", "gated figures", "met", "not met",
                                        "interval straddles the target", "met on the point; no interval",
                                        "not gated / not reported"], rows,
                                       num_from=3)


# -- header -----------------------------------------------------------------------------------------------------------

def _facts(ev: Evaluation) -> list[tuple[str, str]]:
    d = ev.data
    if ev.kind == "alerts":
        m = d.get("metrics") or {}
        return [("season", _e(d.get("season", "—"))),
                ("trained / tuned on", f"alert thresholds tuned on the diaries of {_e(_seasons(d.get('tuned_on')))}; "
                                       f"scored on {_e(d.get('season', '—'))} against the simulated truth"),
                ("scope", f"{_e(m.get('fields', '—'))} fields, {_e(m.get('events', '—'))} adverse events, "
                          f"{_e(m.get('clear_obs_per_field', '—'))} clear observations per field")]
    if ev.kind == "growth-stage":
        as_of = _dict(d.get("as_of"))
        return [("season", _e(d.get("season", "—")) + (" (as of " + _e(", ".join(f"{k} {v}" for k, v in
                                                                              sorted(as_of.items()))) + ")"
                                                      if as_of else "")),
                ("trained / tuned on", f"phenology calibrated on the declared dates of "
                                       f"{_e(_seasons(d.get('calibration_seasons')))}"),
                ("scope", f"{_e(d.get('n_scored', '—'))} of {_e(d.get('n_fields', '—'))} fields scored "
                          f"({_e(d.get('n_excluded_unplanted', 0))} never planted and "
                          f"{_e(d.get('n_excluded_crop_mismatch', 0))} with a wrong declared crop left out)")]
    if ev.kind == "area":
        return [("season", f"{_e(d.get('season', '—'))} (as of {_e(d.get('as_of', '—'))})"),
                ("trained / tuned on", f"thresholds calibrated on {_e(_seasons(d.get('calibrated_on')))}"),
                ("scope", f"{_e(d.get('n_fields', '—'))} fields ({_e(d.get('n_missing', 0))} without imagery, "
                          f"{_e(d.get('no_truth', 0))} without truth)")]
    if ev.kind == "crop-type":
        loso = d.get("loso") or {}
        per = _dict(loso.get("per_season"))
        sb = _dict(d.get("spatial_block"))
        return [("season", f"{_e(d.get('current_season', '—'))} (current); leave-one-season-out over "
                           f"{_e(_seasons(sorted(per)))}"),
                ("trained / tuned on", f"trained on the declared crops of {_e(_seasons(d.get('train_seasons')))}, "
                                       f"tested on {_e(d.get('current_season', '—'))} ({_e(d.get('n_test', '—'))} "
                                       "fields) against the true crops; each left-out season tested on a model of "
                                       "the others" + (f"; spatial block: {_e(sb.get('n_conditions_held_out', '—'))} "
                                                       f"conditions held out of training, "
                                                       f"{_e(sb.get('n_conditions_tested', '—'))} of them in the "
                                                       f"current season's test ({_e(sb.get('kind', ''))})"
                                                       if sb else "")),
                ("checkpoints", _e(", ".join(f"{k} {v}" for k, v in sorted(_dict(d.get("checkpoints")).items()))))]
    # yield
    seasons = sorted({str(r.get("season")) for r in d.get("per_season") or [] if isinstance(r, dict)})
    return [("seasons", f"held out in turn: {_e(_seasons(seasons))}"),
            ("trained / tuned on", "each held-out season scored by a model trained on the other seasons' reported "
                                   "yields, against the true yields")]


def _header(ev: Evaluation, region: str | None) -> str:
    d = ev.data
    if ev.synthetic:
        said = "label" if str(d.get("label", "")).lower() == "synthetic" else "data"
        banner = (f'<div class="banner">SYNTHETIC — this county is simulated (the JSON\'s {said}: "synthetic"); '
                  "its figures describe the simulator, not real farms.</div>")
    elif ev.synthetic is None:
        banner = ('<div class="banner unknown">The JSON does not say whether its data are synthetic or real: read its '
                  "figures with care.</div>")
    else:
        banner = ""
    # alerts state their interval method inside their figures (metrics, baseline), the others at the top
    how = d if "interval" in d else (_dict(d.get("metrics")))
    reg = _e(ev.region) if ev.region else (f"{_e(region)} (from another input of the same county)" if region
                                          else "not stated in the JSON")
    facts = [("county", _e(ev.county)), ("region", reg), *_facts(ev),
             ("intervals", _e(how.get("interval", "not stated"))
              + (f" — interval_by: <b>{_e(how['interval_by'])}</b>" if how.get("interval_by") else "")),
             ("data", _data_word(ev)), ("input", f"{_e(ev.name)} (sha256 {ev.sha256[:16]}…)")]
    return banner + '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _targets_html(gs: Sequence[Gate], notes: Sequence[str]) -> str:
    if not gs:
        return "<p>No gated figure of this evaluation has a target in the targets file.</p>"
    rows = []
    for g in gs:
        base = "; ".join(f"{_e(k)} {fmt_value(v, g.fmt)}" for k, v in g.baselines.items()) or "no baseline"
        x = g.extra_digits  # a value printed onto its target, or across it, gets more decimals
        val = fmt_value(g.value, g.fmt, x) + (f" ({bounds_text(g.ci[0], g.ci[1], functools.partial(_as, g.fmt, extra=x))})"
                                              if g.ci else " (no interval)" if g.value is not None else "")
        rows.append([_e(g.label), f"#{g.issue}" if g.issue else "README", val, base, _e(g.target_text),
                     f'<span class="{_VERDICT_CLASS[g.verdict]}">{_e(g.verdict)}</span>', _e(g.note)])
    extra = "".join(f"<p class=small>{_e(n)}</p>" for n in notes)
    return ("<h3>Targets</h3>" + _table(["figure", "issue", "model (95% interval)", "naive baseline", "target",
                                         "verdict", "note"], rows, num_from=2, text_cols=(3, 6)) + extra)


def evaluation_html(ev: Evaluation, gs: Sequence[Gate], notes: Sequence[str], region: str | None, *,
                    anchor: str) -> str:
    """One evaluation's section: header, targets, its tables and charts, its notes and parameters."""
    parts = [f'<section class="ev" id="{anchor}"><h2>{_e(_TITLES[ev.kind])} — {_e(ev.county)}</h2>',
             _header(ev, region), _targets_html(gs, notes), _SECTIONS[ev.kind](ev.data)]
    jn = [n for n in ev.data.get("notes") or [] if isinstance(n, str)]
    if jn:
        parts.append("<h3>The evaluation's notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in jn) + "</ul>")
    params = ev.data.get("params")
    if isinstance(params, dict) and params:
        cells = [f"<td>{_e(k)}</td><td>{_e(v)}</td>" for k, v in sorted(params.items())]
        rows = "".join("<tr>" + "".join(cells[i:i + 4]) + "</tr>" for i in range(0, len(cells), 4))
        parts.append(f'<h3>Parameters</h3><table class="params">{rows}</table>')
    return "".join(parts) + "</section>"


# -- the kinds' own tables and charts ---------------------------------------------------------------------------------

def _share(v: object) -> str:
    x = number(v)
    return "—" if x is None else f"{x:.3f}"


def _ha(v: object) -> str:
    x = number(v)
    return "—" if x is None else f"{x:,.1f} ha"


def _alerts(d: dict[str, Any]) -> str:
    m, b = d.get("metrics") or {}, d.get("baseline") or {}
    rows = [["precision", _with_ci(m.get("precision"), m.get("precision_ci"), "share"),
             _with_ci(b.get("precision"), b.get("precision_ci"), "share")],
            ["recall", _with_ci(m.get("recall"), m.get("recall_ci"), "share"),
             _with_ci(b.get("recall"), b.get("recall_ci"), "share")],
            ["median delay, clear observations", _with_ci(m.get("median_delay_obs"), m.get("median_delay_obs_ci"),
                                                           "obs"),
             _with_ci(b.get("median_delay_obs"), b.get("median_delay_obs_ci"), "obs")],
            ["high alerts raised", _e(m.get("high_alerts", "—")), _e(b.get("high_alerts", "—"))],
            ["events detected / events", f"{_e(m.get('detected', '—'))} / {_e(m.get('events', '—'))}",
             f"{_e(b.get('detected', '—'))} / {_e(b.get('events', '—'))}"]]
    out = ["<h3>Model against the naive baseline</h3>", _table(["measure", "model", "naive baseline"], rows)]
    ev_rows = [r for r in d.get("by_event") or [] if isinstance(r, dict)]
    al_rows = [r for r in d.get("by_alert") or [] if isinstance(r, dict)]
    out.append("<h3>By event type (recall) and by alert type (precision)</h3><div class=charts>")
    out.append(interval_bars_svg([IntervalRow(str(r.get("event")), number(r.get("recall")),
                                              interval(r.get("recall_ci")), {"naive": number(r.get("naive_recall"))})
                                  for r in ev_rows], fmt=lambda v: f"{v:.2f}", title="recall by event type",
                                 target=0.90, target_label="#13 recall target (all events)", lo=0.0, hi=1.0))
    out.append(interval_bars_svg([IntervalRow(str(r.get("alert")), number(r.get("precision"))) for r in al_rows],
                                 fmt=lambda v: f"{v:.2f}", title="precision by alert type (no interval reported)",
                                 target=0.95, target_label="#13 precision target (all alerts)", lo=0.0, hi=1.0))
    out.append("</div>")
    out.append(_table(["event", "events", "detected", "recall (95% interval)", "median delay", "naive recall",
                       "naive delay"],
                      [[_e(r.get("event")), _e(r.get("events")), _e(r.get("detected")),
                        _with_ci(r.get("recall"), r.get("recall_ci"), "share"), _e(r.get("median_delay_obs", "—")),
                        _share(r.get("naive_recall")), _e(r.get("naive_median_delay_obs", "—"))] for r in ev_rows]))
    out.append(_table(["alert", "raised", "right", "precision", "on an adverse field"],
                      [[_e(r.get("alert")), _e(r.get("raised")), _e(r.get("right")), _share(r.get("precision")),
                        _share(r.get("on_adverse_field"))] for r in al_rows]))
    return "".join(out)


_GS_METRICS = (("emergence_mae_days", "emergence MAE", "days"), ("maturity_mae_days", "maturity MAE", "days"),
               ("harvest_mae_days", "harvest MAE", "days"), ("maturity_within_10d", "maturity within 10 d", "percent"),
               ("stage_accuracy_mid", "stage right at mid-season", "percent"),
               ("stage_accuracy_pre_harvest", "stage right before harvest", "percent"))


def _growth(d: dict[str, Any]) -> str:
    groups = _dict(d.get("groups"))
    targets = _dict(d.get("targets"))
    out = ["<h3>By crop and group (model, 95% interval; calendar baseline in brackets)</h3>"]
    rows = []
    for g in sorted(groups):
        cal, base = groups[g].get("calibrated") or {}, groups[g].get("baseline") or {}
        rows.append([_e(g), _e(cal.get("n_fields", "—"))] + [
            _with_ci(cal.get(k), cal.get(k + "_ci"), f) + f" [{fmt_value(number(base.get(k)), f)}]"
            for k, _, f in _GS_METRICS])
    out.append(_table(["group", "fields", *(lab for _, lab, _ in _GS_METRICS)], rows))
    out.append("<div class=charts>")
    for key, lab, f in _GS_METRICS[:3] + _GS_METRICS[4:5]:
        fm: Callable[[float], str] = (lambda v: f"{v:.1f}") if f == "days" else (lambda v: f"{v * 100:.0f}%")
        irows = [IntervalRow(g, number((groups[g].get("calibrated") or {}).get(key)),
                             interval((groups[g].get("calibrated") or {}).get(key + "_ci")),
                             {"calendar baseline": number((groups[g].get("baseline") or {}).get(key)),
                              "uncalibrated": number((groups[g].get("uncalibrated") or {}).get(key))})
                 for g in sorted(groups)]
        out.append(interval_bars_svg(irows, fmt=fm, title=lab + (" (days)" if f == "days" else ""),
                                     target=number(targets.get(key)), target_label="#7 target", width=540,
                                     **({"lo": 0.0, "hi": 1.0} if f != "days" else {})))
    out.append("</div>")
    return "".join(out)


def _area(d: dict[str, Any]) -> str:
    groups = [g for g in d.get("groups") or [] if isinstance(g, dict)]
    rows = [[_e(g.get("group")), _e(g.get("n", "—")), _with_ci(g.get("median"), g.get("median_ci"), "percent"),
             _with_ci(g.get("p90"), g.get("p90_ci"), "percent"),
             f"{fmt_value(number(g.get('baseline_median')), 'percent')} / "
             f"{fmt_value(number(g.get('baseline_p90')), 'percent')}",
             f"{fmt_value(number(g.get('polygon_median')), 'percent')} / "
             f"{fmt_value(number(g.get('polygon_p90')), 'percent')}",
             f"{fmt_value(number(g.get('target_median')), 'percent')} / "
             f"{fmt_value(number(g.get('target_p90')), 'percent')}"] for g in groups]
    ct, npl = d.get("county_total") or {}, d.get("never_planted") or {}
    out = ["<h3>Absolute error as a share of true planted area</h3>",
           _table(["group", "fields", "median (95% interval)", "p90 (95% interval)", "declared area: median / p90",
                   "field polygon as planted: median / p90", "target median / p90"], rows),
           _table(["figure", "model (95% interval)", "declared-area baseline", "polygon baseline", "detail"],
                  text_cols=(4,), rows=
                  [["county total error", _with_ci(ct.get("error"), ct.get("error_ci"), "percent"),
                    fmt_value(number(ct.get("baseline_error")), "percent"),
                    fmt_value(number(ct.get("polygon_error")), "percent"),
                    f"estimate {_ha(ct.get('estimate_ha'))}, true {_ha(ct.get('true_ha'))}, declared "
                    f"{_ha(ct.get('declared_ha'))}"],
                   ["never-planted recall", _with_ci(npl.get("recall"), npl.get("recall_ci"), "share"),
                    _share(npl.get("baseline_recall")), "—",
                    f"{_e(npl.get('n', '—'))} never planted, {_e(npl.get('false_alarms', '—'))} false alarms"]])]
    shown = [g for g in groups if number(g.get("p90")) is not None]
    out.append("<div class=charts>")
    for key, lab in (("median", "median error"), ("p90", "p90 error")):
        top = max([number(v) or 0.0 for g in shown for v in (g.get(key), *(interval(g.get(key + "_ci")) or ()),
                                                             g.get("target_" + key))] + [0.01])
        out.append(interval_bars_svg(
            [IntervalRow(f"{g.get('group')} (n={g.get('n')})", number(g.get(key)), interval(g.get(key + "_ci")),
                         {"declared area": number(g.get("baseline_" + key)),
                          "target": number(g.get("target_" + key))}) for g in shown],
            fmt=lambda v: f"{v * 100:.1f}%" if v < 0.1 else f"{v * 100:.0f}%",
            title=f"{lab} by group (declared area beyond the axis drawn at its edge)", lo=0.0, hi=top * 1.15,
            width=540))
    out.append("</div>")
    return "".join(out)


def _crop_type(d: dict[str, Any]) -> str:
    loso, cur = d.get("loso") or {}, d.get("current") or {}
    sb = _dict(d.get("spatial_block"))
    bd, sbd = d.get("baseline_declared") or {}, sb.get("baseline_declared") or {}
    lb = loso.get("baseline_declared") or {}
    rows = []
    for lab, s in (("leave-one-season-out mean, end", loso.get("end")), ("leave-one-season-out mean, mid",
                                                                         loso.get("mid"))):
        s = s or {}
        rows.append([lab, _with_ci(s.get("mean_accuracy"), s.get("mean_accuracy_ci"), "share"),
                     _with_ci(s.get("mean_macro_f1"), s.get("mean_macro_f1_ci"), "share"),
                     _share(s.get("mean_ece")),
                     f"worst {_share(s.get('worst_accuracy'))} ({_e(s.get('worst_season', '—'))})"])
    rows.append(["declared crop, leave-one-season-out mean", _share(lb.get("mean_accuracy")),
                 _share(lb.get("mean_macro_f1")), "—",
                 f"worst {_share(lb.get('worst_accuracy'))} ({_e(lb.get('worst_season', '—'))})"])
    for lab, s in ((f"{d.get('current_season', 'current')} (current season), end", cur.get("end")),
                   (f"{d.get('current_season', 'current')} (current season), mid", cur.get("mid")),
                   ("held-out conditions (spatial block), end", sb.get("end")),
                   ("held-out conditions (spatial block), mid", sb.get("mid"))):
        s = s or {}
        cal = s.get("calibration") or {}
        rows.append([_e(lab), _with_ci(s.get("accuracy"), s.get("accuracy_ci"), "share"),
                     _with_ci(s.get("macro_f1"), s.get("macro_f1_ci"), "share"),
                     _with_ci(s.get("ece"), cal.get("ece_ci"), "share"),
                     f"{_e(s.get('n', '—'))} fields; mean confidence {_share(cal.get('mean_confidence'))}"])
    for lab, s in (("declared crop, current season, end", bd), ("declared crop, held-out conditions, end", sbd)):
        rows.append([lab, _with_ci(s.get("accuracy"), s.get("accuracy_ci"), "share"),
                     _with_ci(s.get("macro_f1"), s.get("macro_f1_ci"), "share"), "—",
                     "model minus declared accuracy " + _with_ci(s.get("model_minus_baseline_accuracy"),
                                                                 s.get("model_minus_baseline_accuracy_ci"), "share")])
    out = ["<h3>Accuracy, macro-F1 and calibration by test set</h3>",
           _table(["test set", "accuracy (95% interval)", "macro-F1", "ECE", "detail"], rows, text_cols=(4,))]
    end = cur.get("end") or {}
    classes = sorted(k for k in (end.get("recall") or {}))
    out.append("<h3>Per class, current season, end (declared crop as the baseline)</h3><div class=charts>")
    for key, lab in (("recall", "recall"), ("f1", "F1")):
        out.append(interval_bars_svg(
            [IntervalRow(c, number((end.get(key) or {}).get(c)), interval((end.get(key + "_ci") or {}).get(c)),
                         {"declared crop": number((bd.get(key) or {}).get(c))}) for c in classes],
            fmt=lambda v: f"{v:.2f}", title=f"{lab} by class", lo=0.0, hi=1.0, width=520))
    le = loso.get("end") or {}
    out.append(interval_bars_svg(
        [IntervalRow(c, number(v), interval((le.get("mean_f1_ci") or {}).get(c)))
         for c, v in sorted((le.get("mean_f1") or {}).items())],
        fmt=lambda v: f"{v:.2f}", title="F1 by class, leave-one-season-out mean, end", lo=0.0, hi=1.0, width=520))
    out.append("</div><h3>Reliability (confidence against accuracy, true crops)</h3><div class=charts>")
    for lab, path in (("current season, end", "current/end"), ("current season, mid", "current/mid"),
                      ("held-out conditions, end", "spatial_block/end"), ("held-out conditions, mid",
                                                                          "spatial_block/mid")):
        bins = lookup(d, path + "/calibration/reliability")
        if isinstance(bins, list) and bins:
            ece = number(lookup(d, path + "/ece"))
            out.append(reliability_svg([b for b in bins if isinstance(b, dict)],
                                       title=f"{lab}: ECE {fmt_value(ece, 'share')}"))
    out.append("</div>")
    return "".join(out)


def _yield(d: dict[str, Any]) -> str:
    summ = [r for r in d.get("summary") or [] if isinstance(r, dict)]
    tg = [r for r in d.get("targets") or [] if isinstance(r, dict)]
    crops = list(dict.fromkeys(str(r.get("crop")) for r in summ))
    crops = [c for c in crops if c != "all"] + (["all"] if "all" in crops else [])

    def fig(crop: str, method: str, cp: str, key: str) -> float | None:
        return number(lookup(summ, f"[crop={crop},method={method},checkpoint={cp}]/{key}"))

    def ci(crop: str, metric: str) -> tuple[float, float] | None:
        return interval(lookup(tg, f"[crop={crop},metric={metric}]/value_ci"))

    out = ["<h3>Within-crop R² and RMSE, end of season (mean over held-out seasons)</h3><div class=charts>",
           interval_bars_svg([IntervalRow(c, fig(c, "model", "end", "r2"), ci(c, "r2"),
                                          {"crop mean": fig(c, "crop_mean", "end", "r2"),
                                           "farmer average": fig(c, "farmer_mean", "end", "r2"),
                                           "oracle": fig(c, "oracle", "end", "r2")}) for c in crops],
                             fmt=lambda v: f"{v:.2f}", title="R² by crop (baselines below −0.5 drawn at the edge)",
                             lo=-0.5, hi=1.0, width=560),
           interval_bars_svg([IntervalRow(c, fig(c, "model", "end", "rmse_pct"), ci(c, "rmse_pct"),
                                          {"crop mean": fig(c, "crop_mean", "end", "rmse_pct"),
                                           "farmer average": fig(c, "farmer_mean", "end", "rmse_pct"),
                                           "oracle": fig(c, "oracle", "end", "rmse_pct")}) for c in crops],
                             fmt=lambda v: f"{v:.0f}%", title="RMSE, % of mean yield", target=15.0,
                             target_label="#10 target", lo=0.0, width=560), "</div>"]
    rows = []
    for cp in ("end", "mid"):
        for c in crops:
            if fig(c, "model", cp, "r2") is None:
                continue
            n = fig(c, "model", cp, "n")
            rows.append([_e(c), cp, _with_ci(fig(c, "model", cp, "r2"), ci(c, "r2") if cp == "end" else None, "r2"),
                         fmt_value(fig(c, "oracle", cp, "r2"), "r2"), fmt_value(fig(c, "floor", cp, "r2"), "r2"),
                         fmt_value(fig(c, "crop_mean", cp, "r2"), "r2"),
                         fmt_value(fig(c, "farmer_mean", cp, "r2"), "r2"),
                         _with_ci(fig(c, "model", cp, "rmse_pct"), ci(c, "rmse_pct") if cp == "end" else None, "pct"),
                         fmt_value(fig(c, "model", cp, "below_p10"), "percent"),
                         fmt_value(fig(c, "model", cp, "above_p90"), "percent"),
                         "—" if n is None else f"{n:,.0f}"])
    out.append(_table(["crop", "checkpoint", "model R² (95% interval)", "oracle R²", "floor R²", "crop-mean R²",
                       "farmer-average R²", "RMSE %", "below P10", "above P90", "field-seasons"], rows, num_from=2))
    per = [r for r in d.get("per_season") or [] if isinstance(r, dict) and r.get("method") == "model"
           and r.get("checkpoint") == "end"]
    seasons = sorted({str(r.get("season")) for r in per})
    if per:
        out.append("<h3>Model R² by held-out season, end</h3>")
        out.append(_table(["crop", *seasons], [[_e(c)] + [fmt_value(number(lookup(
            per, f"[crop={c},season={s}]/r2")), "r2") for s in seasons] for c in crops]))
    return "".join(out)


_SECTIONS: dict[str, Callable[[dict[str, Any]], str]] = {"alerts": _alerts, "growth-stage": _growth, "area": _area,
                                                          "crop-type": _crop_type, "yield": _yield}
