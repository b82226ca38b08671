"""``agcredit evaluate crop-type``: the crop-type classifier on a county folder, against truth.

Trained as production trains it (:mod:`pipelines.train_crop`: past seasons' DECLARED crops,
the same classifier settings), tested on TRUE crops (``truth/fields.parquet``: ``true_crop``,
"fallow" where nothing was planted):

- the current season at end of season and mid-season (the county calendar's mid checkpoint);
- a spatially held-out block of fields: whole ``condition_id`` groups (twins never straddle the
  split) tested in the current season, those fields left out of training in every season;
- leave-one-season-out: every season in turn unseen, mean and worst season;

each with accuracy, macro-F1, per-class recall and F1, calibration error (ECE) and, where rice
is a class, rice vs non-rice accuracy — beside the baseline "the declared crop is the answer" — and a
calibration summary (confidence vs accuracy, the ECE's bootstrap intervals over fields and over
conditions, the ECE a calibrated model would show on the same confidences; reliability tables in JSON).
Probabilities are season-calibrated as production scores a season (:mod:`features._season_calib`: each scored
set's temperature from its fields' DECLARED crops — never truth). Figures are labelled *synthetic* when
``county.json`` says so.

Each scored set's accuracy and macro-F1 carry a 95% percentile bootstrap interval (``accuracy_ci``,
``macro_f1_ci``, :func:`set_intervals`; ``rice_vs_other_accuracy_ci`` where the set has that figure), and its
per-class recall and F1 one per class (``recall_ci``, ``f1_ci``: dicts class → interval beside the ``recall`` and
``f1`` dicts): the set's fields resampled with replacement, each resample scored as
:func:`features._crop_eval.classification_metrics` scores the whole set (a class a resample has no such figure for —
recall: not drawn as truth; F1: drawn neither as truth nor as prediction — is left out of that figure's interval).
The leave-one-season-out means (``mean_accuracy_ci``, ``mean_macro_f1_ci``, ``mean_rice_vs_other_accuracy_ci``, and
``mean_f1_ci`` per class, :func:`loso_intervals`) resample the fields within each held-out season (n of n, each season
on its own random stream), recompute each season's figure and average over the seasons as
:func:`features._crop_eval.loso_summary` averages them (a class's F1 over the seasons that have it). The declared-crop
baseline of the current season (``baseline_declared``) has the same intervals, drawn on the very resamples of the
current season's end set (the same fields), and ``model_minus_baseline_accuracy`` (the model's end accuracy minus the
baseline's) with ``model_minus_baseline_accuracy_ci``, resample by resample: paired, what "beats the declared crop"
reads from (:func:`baseline_intervals`). They say how much a figure owes to which fields the set happens to hold; the
classifier is not refit per resample, so they say nothing of how the fit itself would vary.

With ``interval_by`` ``condition`` or ``farmer`` (``--interval-by``) every set's fields are drawn in clusters —
every field of one simulated condition (truth) or of one farmer (the records) together, a field without one its own
cluster (:func:`pipelines.evaluation.group_keys`); the leave-one-season-out means draw each held-out season's clusters
within it — and ``interval`` says so (``interval_by`` is added).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features._crop_eval import PER_FIELD, weighted_classification_metrics
from features.errors import UserInputError
from pipelines.evaluation import group_keys, json_ready, read_truth, synthetic_label
from pipelines.evaluation._bootstrap import (
    Counts,
    blockwise,
    count_blocks,
    describe,
    group_codes,
    grouped_season_draws,
    interval_text,
    percentile_interval,
    season_draws,
)

__all__ = ["CI_KEYS", "INTERVAL_UNITS", "MODEL_MINUS_BASELINE", "PER_CLASS_CI_KEYS", "add_intervals",
           "baseline_intervals", "evaluate_crop_type_county", "loso_intervals", "render_crop_type",
           "resampled_loso_figures", "set_intervals"]

#: the scored sets' figures given a 95% interval (``<figure>_ci``); the leave-one-season-out means of them (and of
#: rice vs other accuracy, where every season has it) get ``mean_<figure>_ci``
CI_KEYS = ("accuracy", "macro_f1")
#: the scored sets' per-class figures (dicts class → figure) given a dict class → 95% interval (``<figure>_ci``); the
#: leave-one-season-out mean of per-class F1 (``mean_f1``, the mean the summary has) gets ``mean_f1_ci``
PER_CLASS_CI_KEYS = ("recall", "f1")
#: what the intervals resample (:func:`pipelines.evaluation._bootstrap.describe`)
INTERVAL_UNITS = "the scored fields of each set (leave-one-season-out means: within each held-out season)"
#: the declared-crop baseline's paired figure: the model's accuracy (the current season, end) minus the baseline's on
#: the same fields, and (``_ci``) on the same resamples of them
MODEL_MINUS_BASELINE = "model_minus_baseline_accuracy"


def _figure_intervals(figs: dict[str, Any], rice: bool = False) -> dict[str, Any]:
    """The 95% intervals of a set's resampled figures (:func:`features._crop_eval.weighted_classification_metrics`):
    :data:`CI_KEYS` (and rice vs other accuracy where ``rice``: the set has that figure) and, per class,
    :data:`PER_CLASS_CI_KEYS` (None for a class no resample has the figure of)."""
    keys = [*CI_KEYS, *(["rice_vs_other_accuracy"] if rice else [])]
    out: dict[str, Any] = {f"{k}_ci": percentile_interval(figs[k]) for k in keys}
    for k in PER_CLASS_CI_KEYS:
        out[f"{k}_ci"] = {c: percentile_interval(v) for c, v in figs[k].items()}
    return out


def _empty_intervals(rice: bool = False) -> dict[str, Any]:
    """The intervals of an empty set: no figure to bound (its per-class dicts are empty too)."""
    keys = [*CI_KEYS, *(["rice_vs_other_accuracy"] if rice else [])]
    return {**{f"{k}_ci": None for k in keys}, **{f"{k}_ci": {} for k in PER_CLASS_CI_KEYS}}


def _codes(per_field: dict[str, list[str]], keys: pd.DataFrame | None) -> np.ndarray | None:
    """The cluster codes (:func:`pipelines.evaluation._bootstrap.group_codes`) of a scored set's field-seasons
    (``per_field``'s ``field_id`` and ``season``) from :func:`pipelines.evaluation.group_keys`' table; None without
    one (every field its own)."""
    if keys is None:
        return None
    if "field_id" not in per_field:
        raise ValueError("a grouped interval needs the scored set's field_id and season")
    at = dict(zip(zip(keys["field_id"].astype(str), keys["season"].astype(str), strict=True), keys["group"],
                  strict=True))
    out = []
    for f, s in zip(per_field["field_id"], per_field["season"], strict=True):
        g = at.get((str(f), str(s)))
        out.append(None if g is None or pd.isna(g) else f"{s}\x1f{g}")
    return group_codes(out)


def set_intervals(per_field: dict[str, list[str]], rice: bool = False, keys: pd.DataFrame | None = None
                  ) -> dict[str, Any]:
    """``accuracy_ci`` and ``macro_f1_ci`` of one scored set (``per_field``: its fields' ``true`` and ``pred``
    crops), ``rice_vs_other_accuracy_ci`` where ``rice`` (the set has that figure), and ``recall_ci`` / ``f1_ci``
    (dicts class → interval, the classes of the set's ``recall`` / ``f1``): its fields resampled with replacement on
    the shared seed's own stream, as every single set is drawn, so that the end and mid-season checkpoints of a set,
    scored on the same fields, are drawn alike. None (per class: empty dicts) for an empty set (no figure to bound).
    ``keys`` (:func:`pipelines.evaluation.group_keys`): the set's clusters drawn whole (``per_field`` then names its
    field-seasons)."""
    n = len(per_field["true"])
    if not n:
        return _empty_intervals(rice)
    figs = blockwise(partial(weighted_classification_metrics, per_field["true"], per_field["pred"]),
                     count_blocks(n, np.arange(n), groups=_codes(per_field, keys)))
    return _figure_intervals(figs, rice)


def baseline_intervals(model: dict[str, list[str]], baseline: dict[str, list[str]], rice: bool = False,
                       keys: pd.DataFrame | None = None) -> dict[str, Any]:
    """The declared-crop baseline's intervals (as :func:`set_intervals`' for ``baseline``: its fields' true and
    declared crops) on the very resamples the model's set (``model``: the same fields' true and predicted crops, in
    the same order) is drawn on — the same fields, the same stream — and :data:`MODEL_MINUS_BASELINE` ``_ci``: the
    interval of the model's accuracy minus the baseline's, resample by resample (paired: what "beats the declared
    crop" can be read from). ``keys``: the model's set's clusters drawn whole (:func:`set_intervals`)."""
    if list(model["true"]) != list(baseline["true"]):
        raise ValueError("the declared-crop baseline's fields are not the model's set's fields in the same order")
    n = len(baseline["true"])
    if not n:
        return {**_empty_intervals(rice), f"{MODEL_MINUS_BASELINE}_ci": None}

    def paired(w: np.ndarray) -> dict[str, Any]:
        """The baseline's figures on a block of resamples, and the model's accuracy minus its on each."""
        base = weighted_classification_metrics(baseline["true"], baseline["pred"], w)
        gain = weighted_classification_metrics(model["true"], model["pred"], w)["accuracy"] - base["accuracy"]
        return {"base": base, "gain": gain}

    figs = blockwise(paired, count_blocks(n, np.arange(n), groups=_codes(model, keys)))
    return {**_figure_intervals(figs["base"], rice), f"{MODEL_MINUS_BASELINE}_ci": percentile_interval(figs["gain"])}


def resampled_loso_figures(per_season: dict[str, dict[str, list[str]]], counts: Counts = season_draws
                           ) -> dict[str, Any]:
    """``mean_accuracy``, ``mean_macro_f1`` and ``mean_rice_vs_other_accuracy`` on each resample: the mean over the
    held-out seasons (sorted; ``per_season``: each one's fields' ``true`` and ``pred`` crops) of the season's figure
    on its own resample, as :func:`features._crop_eval.loso_summary` averages the seasons' figures; and ``mean_f1``,
    a dict class → the mean of the class's F1 over the seasons whose resample has it (drawn there as truth or as
    prediction), as the summary averages a class's F1 over the seasons that have it (NaN where none does).

    ``counts(k, n)``: the draws of the ``k``-th season's ``n`` fields in blocks (default: :func:`season_draws`, a
    bootstrap stratified by season, each season keeping its own number of fields), taken one season and one block at
    a time so that only one block of draws is held."""
    sums: dict[str, np.ndarray] = {}
    f1_sum: dict[str, np.ndarray] = {}
    f1_seasons: dict[str, np.ndarray] = {}
    for k, s in enumerate(sorted(per_season)):
        f = per_season[s]
        figs = blockwise(partial(weighted_classification_metrics, f["true"], f["pred"]), counts(k, len(f["true"])))
        for key in ("accuracy", "macro_f1", "rice_vs_other_accuracy"):
            v = figs[key]
            sums[f"mean_{key}"] = sums[f"mean_{key}"] + v if f"mean_{key}" in sums else v.copy()
        for c, v in figs["f1"].items():
            has = np.isfinite(v)
            f1_sum[c] = f1_sum.get(c, 0.0) + np.where(has, v, 0.0)
            f1_seasons[c] = f1_seasons.get(c, 0) + has
    out: dict[str, Any] = {key: v / len(per_season) for key, v in sums.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mean_f1"] = {c: np.where(f1_seasons[c] > 0, f1_sum[c] / f1_seasons[c], np.nan) for c in sorted(f1_sum)}
    return out


def loso_intervals(per_season: dict[str, dict[str, list[str]]], rice: bool, keys: pd.DataFrame | None = None
                   ) -> dict[str, Any]:
    """The 95% intervals (``mean_<figure>_ci``) of the leave-one-season-out means (:func:`resampled_loso_figures`);
    rice vs other accuracy only where the summary has its mean (``rice``: every season has the figure); ``mean_f1_ci``
    a dict class → interval of the mean per-class F1. ``keys``: each held-out season's clusters drawn whole, within
    it, on its own stream (:func:`pipelines.evaluation._bootstrap.grouped_season_draws`)."""
    counts = season_draws if keys is None else grouped_season_draws(
        [_codes(per_season[s], keys) for s in sorted(per_season)])
    figs = resampled_loso_figures(per_season, counts)
    figures = [f"mean_{k}" for k in CI_KEYS] + (["mean_rice_vs_other_accuracy"] if rice else [])
    out: dict[str, Any] = {f"{k}_ci": percentile_interval(figs[k]) for k in figures}
    out["mean_f1_ci"] = {c: percentile_interval(v) for c, v in figs["mean_f1"].items()}
    return out


def _drop_per_field(obj: Any) -> None:
    """Remove every scored set's per-field crops (:data:`features._crop_eval.PER_FIELD`): the report holds figures,
    not fields."""
    if isinstance(obj, dict):
        obj.pop(PER_FIELD, None)
        for v in obj.values():
            _drop_per_field(v)


def add_intervals(r: dict[str, Any], keys: pd.DataFrame | None = None, interval_by: str = "field") -> dict[str, Any]:
    """``r`` (:func:`features._crop_eval.evaluate_crop_type`'s report) with the 95% intervals of the module docstring
    beside their figures, how they were drawn under ``interval``, and the per-field crops they were drawn from
    removed. A set scored twice under two names (the current season, which is also its leave-one-season-out season)
    is one dict and gets one interval. The declared-crop baseline gets its intervals where it holds its fields' true
    and declared crops (:data:`features._crop_eval.PER_FIELD`, as :func:`evaluate_crop_type_county` gives it):
    drawn with the current season's end set (:func:`baseline_intervals`); the held-out conditions' baseline likewise
    with the block's end set. ``keys`` (:func:`pipelines.evaluation.group_keys`,
    named by ``interval_by``): every set's clusters drawn whole."""
    # the baselines before their sets' own crops are removed below: the current season's, the held-out conditions'
    for base, scored in ((r.get("baseline_declared"), r["current"].get("end")),
                         (r["spatial_block"].get("baseline_declared"), r["spatial_block"].get("end"))):
        if isinstance(base, dict) and PER_FIELD in base:
            if isinstance(scored, dict) and PER_FIELD in scored:
                base.update(baseline_intervals(scored[PER_FIELD], base[PER_FIELD], "rice_vs_other_accuracy" in base,
                                               keys))
            del base[PER_FIELD]
    sets = [r["current"][k] for k in r["current"]] + [v for v in r["spatial_block"].values()
                                                      if isinstance(v, dict) and PER_FIELD in v]
    loso = r.get("loso")
    if loso:
        per = loso["per_season"]
        for k in ("end", "mid"):
            if k in loso:
                loso[k].update(loso_intervals({s: per[s][k][PER_FIELD] for s in per},
                                              "mean_rice_vs_other_accuracy" in loso[k], keys))
        sets += [per[s][k] for s in per for k in per[s]]
    end = r["current"]["end"].get(PER_FIELD)
    end_codes = _codes(end, keys) if end else None
    n_groups = int(end_codes.max()) + 1 if end_codes is not None and len(end_codes) else None
    for m in sets:
        if PER_FIELD in m:
            m.update(set_intervals(m[PER_FIELD], "rice_vs_other_accuracy" in m, keys))
            del m[PER_FIELD]
    _drop_per_field(r)
    r["interval"] = describe(INTERVAL_UNITS)
    if keys is not None:
        r["interval"] = describe(INTERVAL_UNITS, interval_by, n_groups)
        r["interval_by"] = interval_by
    return r


def evaluate_crop_type_county(county_path: str | Path, *, leave_one_season_out: bool = True,
                              cache_dir: str | Path | None = None, params: dict[str, Any] | None = None,
                              seed: int = 0, interval_by: str = "field") -> dict[str, Any]:
    """Evaluate crop type on a county folder (see the module docstring); a JSON-friendly report. ``interval_by``: the
    intervals' clusters (the module docstring; ``field``: every field its own, as before)."""
    from features._crop_eval import classification_metrics, evaluate_crop_type
    from pipelines.county import County
    from pipelines.train_crop import COUNTY_PARAMS, NO_CROP, county_checkpoints

    county = County(county_path, cache_dir=cache_dir)
    truth = read_truth(county.path)
    keys = group_keys(county.path, interval_by)  # before the series: an unknown value or a missing key refused
    need = [c for c in ("field_id", "season", "true_crop", "condition_id") if c not in truth.columns]
    if need:
        raise UserInputError(f"{county.path}/truth/fields.parquet: missing columns {', '.join(need)}")
    fields = pd.DataFrame(county.fields().drop(columns="geometry"))
    fields = fields.astype({"field_id": "str", "season": "str"})
    if "region" not in fields.columns:
        fields["region"] = county.region
    fields["region"] = fields["region"].fillna(county.region).astype("str")
    labels = fields[["field_id", "season", "region", "declared_crop"]].merge(
        truth[["field_id", "season", "true_crop", "condition_id"]], on=["field_id", "season"], how="inner")
    if labels.empty:
        raise UserInputError(f"{county.path}: no field-season of records/fields.gpkg has a truth row")
    series = pd.concat([county.series(s) for s in county.seasons], ignore_index=True)
    names = county_checkpoints(county)
    mid = names.get("mid")
    kw = {**COUNTY_PARAMS, **(params or {})}
    r = evaluate_crop_type(series, labels, county.current_season, ("end",), mid_checkpoint=int(mid) if mid else None,
                           leave_one_season_out=leave_one_season_out, no_crop=NO_CROP, seed=seed, **kw)
    # the current season's fields in the order evaluate_crop_type scored them (its labels' row order)
    now = labels.loc[labels["season"] == county.current_season]
    declared = now["declared_crop"].astype(object).where(now["declared_crop"].notna(), NO_CROP).astype(str)
    base = classification_metrics(now["true_crop"].astype(str), declared)
    if "rice" in set(now["true_crop"]):
        base["rice_vs_other_accuracy"] = float(((now["true_crop"] == "rice").to_numpy()
                                                == (declared == "rice").to_numpy()).mean())
    base[MODEL_MINUS_BASELINE] = r["current"]["end"]["accuracy"] - base["accuracy"]
    sb = r["spatial_block"]
    if isinstance(sb.get("baseline_declared"), dict) and isinstance(sb.get("end"), dict):  # the same on the block
        sb["baseline_declared"][MODEL_MINUS_BASELINE] = sb["end"]["accuracy"] - sb["baseline_declared"]["accuracy"]
    base[PER_FIELD] = {"true": now["true_crop"].astype(str).tolist(), "pred": declared.tolist(),
                       "field_id": now["field_id"].astype(str).tolist(), "season": now["season"].astype(str).tolist()}
    r["baseline_declared"] = base
    add_intervals(r, keys, interval_by)
    r.update({"county": str(county.path), "region": county.region, "data": synthetic_label(county.path),
              "checkpoints": {k: v for k, v in names.items()}, "params": kw})
    return r


def _fig(v: float, ci: Any = None, sign: str = "") -> str:
    """A figure with its 95% interval where it has one ("0.930 (0.908–0.950)"), to the same 3 decimals: an interval
    rounded coarser than its figure could seem to exclude it. ``sign="+"``: signs shown (a difference)."""
    if not (isinstance(ci, list | tuple) and len(ci) == 2):
        return f"{v:{sign}.3f}"
    return f"{v:{sign}.3f} ({interval_text(ci[0], ci[1], f'{sign}.3f')})"


def _with_ci(m: dict[str, Any], key: str) -> str:
    """``m[key]`` with its 95% interval ``m[key + "_ci"]`` where it has one (:func:`_fig`)."""
    return _fig(m[key], m.get(f"{key}_ci"))


def _class_ci(m: dict[str, Any], key: str, c: str) -> str:
    """Class ``c``'s per-class figure ``m[key][c]`` (recall, F1; nan where ``m`` has none) with its interval
    ``m[key + "_ci"][c]``."""
    return _fig(m.get(key, {}).get(c, float("nan")), (m.get(f"{key}_ci") or {}).get(c))


def _wrapped(head: str, items: list[str], width: int = 116) -> list[str]:
    """``head`` then ``items`` joined by ", ", broken between items into lines of at most ``width`` characters (the
    continuation lines indented under the first item)."""
    lines, cur = [], head
    for i, it in enumerate(items):
        piece = it + ("," if i < len(items) - 1 else "")
        if cur != head and len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = " " * len(head) + piece
        else:
            cur += ("" if cur == head else " ") + piece
    return [*lines, cur]


def _row(name: str, m: dict[str, Any]) -> str:
    ece = f"{m['ece']:>7.3f}" if "ece" in m else f"{'—':>7}"
    rice = f"{m['rice_vs_other_accuracy']:>10.3f}" if "rice_vs_other_accuracy" in m else f"{'':>10}"
    return f"  {name:<34} {_with_ci(m, 'accuracy'):<19} {_with_ci(m, 'macro_f1'):<19} {ece} {rice}"


def render_crop_type(r: dict[str, Any], *, as_json: bool = False) -> str:
    """The report as a text table (or JSON): accuracy, macro-F1 and per-class recall and F1 with their 95% intervals
    beside them where the report has them (the declared-crop baseline's too, and the model's accuracy minus it), and
    how the intervals were drawn on the last line."""
    if as_json:
        return json.dumps(json_ready(r), indent=1, sort_keys=True, default=str, allow_nan=False)
    data = r["data"]
    lines = [f"crop type on {r['county']} ({r['region']}) — {data.upper()} figures",
             f"  trained on declared crops of {', '.join(r['train_seasons'])}; tested on true crops of "
             f"{r['current_season']} ({r['n_test']} fields); mid-season = day {r['mid_checkpoint_days']}",
             "  probabilities season-calibrated from each scored set's declared crops (no truth)",
             f"  {'evaluation (' + data + ')':<34} {'accuracy (95% int.)':<19} {'macro-F1 (95% int.)':<19} {'ECE':>7} "
             f"{'rice/other':>10}"]
    lines.append(_row("current season, end", r["current"]["end"]))
    lines.append(_row("current season, mid", r["current"]["mid"]))
    sb = r["spatial_block"]
    lines.append(_row(f"held-out cond. ({sb['n_conditions_tested']}/{sb['n_conditions_held_out']}), end", sb["end"]))
    lines.append(_row("held-out cond., mid", sb["mid"]))
    base = r["baseline_declared"]
    lines.append(_row("baseline: declared crop", base))
    if MODEL_MINUS_BASELINE in base:
        lines.append(f"    model minus declared crop, end accuracy: "
                     f"{_fig(base[MODEL_MINUS_BASELINE], base.get(MODEL_MINUS_BASELINE + '_ci'), '+')}"
                     + (" (paired: the model's resamples)" if base.get(MODEL_MINUS_BASELINE + "_ci") else ""))
    if "baseline_declared" in sb:
        sbb = sb["baseline_declared"]
        lines.append(_row("baseline: declared, held-out cond.", sbb))
        if MODEL_MINUS_BASELINE in sbb:
            lines.append(f"    model minus declared crop, held-out cond., end accuracy: "
                         f"{_fig(sbb[MODEL_MINUS_BASELINE], sbb.get(MODEL_MINUS_BASELINE + '_ci'), '+')}")
    lines.append("  held-out cond. (k/n): n condition ids (twins) kept out of training, their fields unseen in every "
                 "season, k of them in the tested season; fields scattered over the county, not one contiguous area")
    lines.append("  calibration: mean confidence vs accuracy; ECE 95% bootstrap interval over fields / over conditions;"
                 " ECE of a calibrated model on the same confidences (small-sample floor)")
    sets = (("current, end", r["current"]["end"]), ("current, mid", r["current"]["mid"]),
            ("held-out cond., end", sb["end"]), ("held-out cond., mid", sb["mid"]))
    for name, m in sets:
        c = m.get("calibration")
        if c:
            by_group = (f" / [{c['ece_ci_groups'][0]:.3f}, {c['ece_ci_groups'][1]:.3f}] ({c['n_groups']} conditions)"
                        if "ece_ci_groups" in c else "")
            lines.append(f"    {name:<20} conf {c['mean_confidence']:.3f} vs acc {c['accuracy']:.3f}; ECE {c['ece']:.3f} "
                         f"[{c['ece_ci'][0]:.3f}, {c['ece_ci'][1]:.3f}]{by_group}; calibrated floor "
                         f"{c['ece_calibrated_sim']:.3f}")
    if any(m.get("declared", {}).get("n") for _, m in sets):
        lines.append("  declared_crop_prob (the CROP_MISMATCH check) against truth: mean vs share of declarations right; "
                     "reliability error; disputed (< low): flagged, wrong among them, share of all wrong ones caught; "
                     "confirmed (>= high): share right")
        for name, m in sets:
            d = m.get("declared")
            if d and d["n"]:
                caught = "—" if d["wrong_caught"] is None else f"{d['wrong_caught']:.0%}"
                sure = "—" if d["confirmed_right"] is None else f"{d['confirmed_right']:.3f}"
                lines.append(f"    {name:<20} {d['n']} declared, {d['wrong']} wrong: {d['mean_posterior']:.3f} vs "
                             f"{d['share_right']:.3f}, error {d['reliability_error']:.3f}; < {d['low']:.2f}: "
                             f"{d['flagged']} flagged, {d['flagged_wrong']} wrong, caught {caught}; >= {d['high']:.2f}: "
                             f"{d['confirmed']}, right {sure}")
    if "loso" in r:
        for k in ("end", "mid"):
            lo = r["loso"][k]
            lines.append(f"  leave-one-season-out, {k}: mean accuracy {_with_ci(lo, 'mean_accuracy')}, mean macro-F1 "
                         f"{_with_ci(lo, 'mean_macro_f1')}, worst season {lo['worst_season']} "
                         f"{lo['worst_accuracy']:.3f}"
                         + (f", mean ECE {lo['mean_ece']:.3f}" if "mean_ece" in lo else "")
                         + (f", rice/other {_with_ci(lo, 'mean_rice_vs_other_accuracy')}"
                            if "mean_rice_vs_other_accuracy" in lo else ""))
            if "mean_f1" in lo:
                cis = lo.get("mean_f1_ci") or {}
                lines += _wrapped("    mean F1 per class: ", [f"{c} {_fig(v, cis.get(c))}" for c, v in lo["mean_f1"].items()])
        lb = r["loso"].get("baseline_declared")
        if lb:
            lines.append(f"  leave-one-season-out, baseline declared crop: mean accuracy {lb['mean_accuracy']:.3f}, mean "
                         f"macro-F1 {lb['mean_macro_f1']:.3f}, worst season {lb['worst_season']} "
                         f"{lb['worst_accuracy']:.3f}")
    end = r["current"]["end"]
    lines.append("  per-class recall / F1, current season end, beside the baseline's (the declared crop):")
    lines.append(f"    {'class':<14} {'recall (95% int.)':<19} {'F1 (95% int.)':<19} {'baseline recall':<19} "
                 f"{'baseline F1':<19}".rstrip())
    for c in sorted(set(end["recall"]) | set(end["f1"])):
        lines.append(f"    {c:<14} {_class_ci(end, 'recall', c):<19} {_class_ci(end, 'f1', c):<19} "
                     f"{_class_ci(base, 'recall', c):<19} {_class_ci(base, 'f1', c)}".rstrip())
    if r.get("interval"):
        lines.append(f"intervals: {r['interval']}")
    return "\n".join(lines)
