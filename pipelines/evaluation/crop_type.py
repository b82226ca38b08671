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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines.evaluation import json_ready, read_truth, synthetic_label

__all__ = ["evaluate_crop_type_county", "render_crop_type"]


def evaluate_crop_type_county(county_path: str | Path, *, leave_one_season_out: bool = True,
                              cache_dir: str | Path | None = None, params: dict[str, Any] | None = None,
                              seed: int = 0) -> dict[str, Any]:
    """Evaluate crop type on a county folder (see the module docstring); a JSON-friendly report."""
    from features._crop_eval import classification_metrics, evaluate_crop_type
    from pipelines.county import County
    from pipelines.train_crop import COUNTY_PARAMS, NO_CROP, county_checkpoints

    county = County(county_path, cache_dir=cache_dir)
    truth = read_truth(county.path)
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
    now = labels.loc[labels["season"] == county.current_season]
    declared = now["declared_crop"].astype(object).where(now["declared_crop"].notna(), NO_CROP).astype(str)
    base = classification_metrics(now["true_crop"].astype(str), declared)
    if "rice" in set(now["true_crop"]):
        base["rice_vs_other_accuracy"] = float(((now["true_crop"] == "rice").to_numpy()
                                                == (declared == "rice").to_numpy()).mean())
    r["baseline_declared"] = base
    r.update({"county": str(county.path), "region": county.region, "data": synthetic_label(county.path),
              "checkpoints": {k: v for k, v in names.items()}, "params": kw})
    return r


def _row(name: str, m: dict[str, Any]) -> str:
    ece = f"{m['ece']:>7.3f}" if "ece" in m else f"{'—':>7}"
    rice = f"{m['rice_vs_other_accuracy']:>10.3f}" if "rice_vs_other_accuracy" in m else f"{'':>10}"
    return f"  {name:<34} {m['accuracy']:>9.3f} {m['macro_f1']:>9.3f} {ece} {rice}"


def render_crop_type(r: dict[str, Any], *, as_json: bool = False) -> str:
    """The report as a text table (or JSON)."""
    if as_json:
        return json.dumps(json_ready(r), indent=1, sort_keys=True, default=str, allow_nan=False)
    data = r["data"]
    lines = [f"crop type on {r['county']} ({r['region']}) — {data.upper()} figures",
             f"  trained on declared crops of {', '.join(r['train_seasons'])}; tested on true crops of "
             f"{r['current_season']} ({r['n_test']} fields); mid-season = day {r['mid_checkpoint_days']}",
             "  probabilities season-calibrated from each scored set's declared crops (no truth)",
             f"  {'evaluation (' + data + ')':<34} {'accuracy':>9} {'macro-F1':>9} {'ECE':>7} {'rice/other':>10}"]
    lines.append(_row("current season, end", r["current"]["end"]))
    lines.append(_row("current season, mid", r["current"]["mid"]))
    sb = r["spatial_block"]
    lines.append(_row(f"held-out cond. ({sb['n_conditions_tested']}/{sb['n_conditions_held_out']}), end", sb["end"]))
    lines.append(_row("held-out cond., mid", sb["mid"]))
    lines.append(_row("baseline: declared crop", r["baseline_declared"]))
    if "baseline_declared" in sb:
        lines.append(_row("baseline: declared, held-out cond.", sb["baseline_declared"]))
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
            lines.append(f"  leave-one-season-out, {k}: mean accuracy {lo['mean_accuracy']:.3f}, mean macro-F1 "
                         f"{lo['mean_macro_f1']:.3f}, worst season {lo['worst_season']} {lo['worst_accuracy']:.3f}"
                         + (f", mean ECE {lo['mean_ece']:.3f}" if "mean_ece" in lo else "")
                         + (f", rice/other {lo['mean_rice_vs_other_accuracy']:.3f}"
                            if "mean_rice_vs_other_accuracy" in lo else ""))
            if "mean_f1" in lo:
                lines.append("    mean F1 per class: " + ", ".join(f"{c} {v:.3f}" for c, v in lo["mean_f1"].items()))
        lb = r["loso"].get("baseline_declared")
        if lb:
            lines.append(f"  leave-one-season-out, baseline declared crop: mean accuracy {lb['mean_accuracy']:.3f}, mean "
                         f"macro-F1 {lb['mean_macro_f1']:.3f}, worst season {lb['worst_season']} "
                         f"{lb['worst_accuracy']:.3f}")
    end, base = r["current"]["end"], r["baseline_declared"]
    lines.append("  per-class recall / F1, current season end (baseline recall):")
    for c in sorted(set(end["recall"]) | set(end["f1"])):
        lines.append(f"    {c:<14} {end['recall'].get(c, float('nan')):.3f} / {end['f1'].get(c, float('nan')):.3f}"
                     f"  ({base['recall'].get(c, float('nan')):.3f})")
    return "\n".join(lines)
