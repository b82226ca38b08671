"""The shapes of the evaluations' JSONs the validation report reads (:mod:`pipelines.validation_report`): a JSON with
its kind's keys but a part of another shape (``"loso": "abc"``, ``"metrics": []``, a gated figure given as text) is
refused naming the file and the key path, before any page is written — it rendered blanks, "not reported" verdicts
or a traceback.

A part absent or null reads as missing (an evaluation without that figure: "—", "not reported"), but a kind's own
keys (:data:`pipelines.validation_report.KINDS`) must be there. Paths are keys joined by ``/``; ``*`` is every key of
an object, ``[]`` every item of a list, ``{a,b}`` each of ``a`` and ``b``; a gated figure's path in the targets file
(``[key=value,…]``: the list item holding those values) is checked as written."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["misshapen"]

#: what the report reads of each kind beyond its gated figures (those are the targets file's): path → shape
_FIGURES = "{accuracy,macro_f1,ece,rice_vs_other_accuracy,model_minus_baseline_accuracy}"
_SETS = "{current/{end,mid},spatial_block/{end,mid},baseline_declared,spatial_block/baseline_declared}"
_COMMON = {"county": "text", "region": "text", "label": "text", "data": "text", "notes": "list", "params": "object",
           "interval": "text", "interval_by": "text"}
SHAPES: dict[str, dict[str, str]] = {
    "alerts": {"{metrics,baseline}": "object",
               "{metrics,baseline}/{precision,recall,median_delay_obs}": "number",
               "{metrics,baseline}/{precision_ci,recall_ci,median_delay_obs_ci}": "interval",
               "metrics/{interval,interval_by}": "text", "{by_event,by_alert,tuned_on}": "list",
               "{by_event,by_alert}/[]": "object", "by_event/[]/{recall,naive_recall}": "number",
               "by_event/[]/recall_ci": "interval", "by_alert/[]/{precision,on_adverse_field}": "number"},
    "growth-stage": {"{groups,targets,calibration,as_of}": "object", "calibration_seasons": "list",
                     "groups/*": "object", "groups/*/{calibrated,baseline,uncalibrated}": "object",
                     "groups/*/{calibrated,baseline,uncalibrated}/{emergence_mae_days,maturity_mae_days,"
                     "harvest_mae_days,maturity_within_10d,stage_accuracy_mid,stage_accuracy_pre_harvest}": "number",
                     "groups/*/calibrated/{emergence_mae_days_ci,maturity_mae_days_ci,harvest_mae_days_ci,"
                     "maturity_within_10d_ci,stage_accuracy_mid_ci,stage_accuracy_pre_harvest_ci}": "interval",
                     "targets/*": "number"},
    "area": {"groups": "list", "groups/[]": "object", "groups/[]/group": "text",
             "groups/[]/{n,median,p90,baseline_median,baseline_p90,polygon_median,polygon_p90,target_median,"
             "target_p90}": "number", "groups/[]/{median_ci,p90_ci}": "interval",
             "{county_total,never_planted}": "object", "calibrated_on": "list",
             "county_total/{error,baseline_error,polygon_error,estimate_ha,true_ha,declared_ha,target}": "number",
             "county_total/error_ci": "interval", "never_planted/{recall,baseline_recall,n,target}": "number",
             "never_planted/recall_ci": "interval"},
    "crop-type": {"{loso,current,baseline_declared,spatial_block,checkpoints}": "object",
                  "current_season": "text", "train_seasons": "list",
                  "loso/{end,mid,baseline_declared,per_season}": "object",
                  "loso/{end,mid}/{mean_accuracy,mean_macro_f1,mean_ece,worst_accuracy,"
                  "mean_rice_vs_other_accuracy}": "number",
                  "loso/{end,mid}/{mean_accuracy_ci,mean_macro_f1_ci,mean_rice_vs_other_accuracy_ci}": "interval",
                  "loso/{end,mid}/{mean_f1,mean_f1_ci}": "object", "loso/{end,mid}/mean_f1/*": "number",
                  "loso/{end,mid}/mean_f1_ci/*": "interval",
                  "loso/baseline_declared/{mean_accuracy,mean_macro_f1,worst_accuracy}": "number",
                  "{current/{end,mid},spatial_block/{end,mid}}": "object",
                  _SETS: "object", f"{_SETS}/{_FIGURES}": "number",
                  f"{_SETS}/{{accuracy_ci,macro_f1_ci,model_minus_baseline_accuracy_ci}}": "interval",
                  f"{_SETS}/{{recall,f1,recall_ci,f1_ci,calibration}}": "object", f"{_SETS}/{{recall,f1}}/*": "number",
                  f"{_SETS}/{{recall_ci,f1_ci}}/*": "interval", f"{_SETS}/calibration/ece_ci": "interval",
                  f"{_SETS}/calibration/mean_confidence": "number", f"{_SETS}/calibration/reliability": "list",
                  f"{_SETS}/calibration/reliability/[]": "object"},
    "yield": {"{per_season,summary,targets}": "list", "{per_season,summary,targets}/[]": "object",
              "{per_season,summary}/[]/{r2,rmse_pct,below_p10,above_p90,n}": "number",
              "targets/[]/{value,oracle}": "number", "targets/[]/value_ci": "interval"},
}

_WANT = {"object": "an object", "list": "a list", "number": "a number", "interval": "a [low, high] pair of numbers",
         "text": "text"}


def _expand(pattern: str) -> list[str]:
    """``a/{b,c/{d,e}}`` → ``a/b``, ``a/c/d``, ``a/c/e``."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if m is None:
        return [pattern]
    return [p for alt in m.group(1).split(",") for p in _expand(pattern[:m.start()] + alt + pattern[m.end():])]


def _steps(path: str) -> list[str]:
    """A path's steps (a ``[key=value,…]`` step may hold a ``/``-free text with spaces)."""
    return [s for s in path.split("/") if s]


def _fits(v: object, shape: str) -> bool:
    if shape == "object":
        return isinstance(v, dict)
    if shape == "list":
        return isinstance(v, list)
    if shape == "text":
        return isinstance(v, str)
    if shape == "number":
        return isinstance(v, int | float) and not isinstance(v, bool)
    return isinstance(v, list) and len(v) == 2 and all(_fits(x, "number") for x in v)  # interval


def _found(v: object) -> str:
    if isinstance(v, bool):
        return "true/false"
    return ("a number" if isinstance(v, int | float) else "text" if isinstance(v, str) else
            "a list" if isinstance(v, list) else "an object" if isinstance(v, dict) else "null")


def _first(cur: object, steps: Sequence[str], shape: str, where: str) -> tuple[str, object, str] | None:
    """The first place along ``steps`` from ``cur`` (at ``where``) of another shape: (its path, its value, the shape
    it should have); None where every one fits or is absent."""
    if cur is None:
        return None
    if not steps:
        return None if _fits(cur, shape) else (where, cur, shape)
    step, rest = steps[0], steps[1:]
    if step.startswith("["):
        if not isinstance(cur, list):
            return where, cur, "list"
        if step == "[]":
            items = [(f"{where}[{i}]", item) for i, item in enumerate(cur)]
        else:
            want = dict(part.split("=", 1) for part in step[1:-1].split(","))
            items = [(f"{where}/{step}", item) for item in cur if isinstance(item, dict)
                     and all(str(item.get(k)) == v for k, v in want.items())][:1]
    elif not isinstance(cur, dict):
        return where, cur, "object"
    elif step == "*":
        items = [(f"{where}/{k}".lstrip("/"), v) for k, v in cur.items()]
    else:
        items = [(f"{where}/{step}".lstrip("/"), cur.get(step))]
    for at, item in items:
        bad = _first(item, rest, shape, at)
        if bad is not None:
            return bad
    return None


def _gated(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, str]:
    """The paths of a kind's gated figures in the targets file (every region's rows) → their shapes."""
    out: dict[str, str] = {}
    for row in (r for region_rows in rows.values() for r in region_rows or []):
        out[str(row["figure"])] = "number"
        out[str(row.get("ci") or str(row["figure"]) + "_ci")] = "interval"
        base = row.get("baseline") or {}
        for p in ([base] if isinstance(base, str) else list(base.values())) + [row.get("oracle"), row.get("n")]:
            if p:
                out[str(p)] = "number"
    return out


def misshapen(kind: str, data: Mapping[str, Any], targets: Mapping[str, Any]) -> str | None:
    """What is of another shape in an evaluation's JSON ``data`` of ``kind`` than the report reads (``loso is text,
    not an object``), checked against :data:`SHAPES` and the gated figures of ``targets``; None when all fit."""
    from pipelines.validation_report import KINDS

    for key in sorted(KINDS[kind]):
        if data.get(key) is None:
            return f"{key} is null"
    for pattern, shape in {**_COMMON, **SHAPES[kind], **_gated(targets.get(kind) or {})}.items():
        for path in _expand(pattern):
            bad = _first(data, _steps(path), shape, "")
            if bad is not None:
                where, value, want = bad
                return f"{where} is {_found(value)}, not {_WANT[want]}"
    return None
