"""``agcredit evaluate area``: planted area from the scenes against the county's truth, beside the declared area.

The production path, as a bank would run it: thresholds calibrated on the county's PAST seasons
(:func:`features._area_calib.calibrate_area`, pixel statistics only), then
:func:`features.area_scenes.planted_area` for the current season at the end of its imagery window.
Compared with ``truth/fields.parquet`` (``planted_area_ha``, ``planted_fraction``, ``events``):

- absolute error as a share of the true planted area, by field-size class (equal-area polygon area:
  < 0.5, 0.5–2, 2–10, > 10 ha) and for partly planted fields: median and 90th percentile, over the
  fields with something planted; a field the imagery misses counts as a 100% error;
- the county total: |Σ estimate − Σ truth| / Σ truth;
- never-planted fields (true planted fraction < 0.2): recall of estimated planted fraction < 0.2,
  and the planted fields wrongly flagged;

each beside two naive baselines — the farmer's declared area, and the field's own polygon taken as planted (no
imagery, no declaration: ``polygon_*``; for a fully planted field it is the truth but for the drawing, so the
imagery earns its keep on partly planted and never-planted fields and on the county total, not there) — against the
issue's targets, and labelled synthetic or real.

The estimate's figures (each group's median and 90th percentile, the county total's error, never-planted recall)
carry a 95% interval (``<figure>_ci``): the table's fields resampled with replacement, once for all figures, and each
resample scored as the whole table is (:mod:`pipelines.evaluation._bootstrap`). It says how much a figure owes to
which fields the county happens to hold; the calibration and the estimate are not redone per resample, so it says
nothing of how they would vary. Groups too small to be judged get an interval too (a one-field group's is that
field's error, twice). With ``interval_by`` ``condition`` or ``farmer`` (``--interval-by``) the fields are drawn in
clusters — every field of one simulated condition (truth) or of one farmer (the records) together, a field without
one its own cluster (:func:`pipelines.evaluation.group_keys`) — and ``interval`` says so (``interval_by`` is added).
"""

from __future__ import annotations

import datetime as dt
import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines.evaluation import group_keys, read_truth, season_groups, synthetic_label
from pipelines.evaluation._bootstrap import (
    blockwise,
    count_blocks,
    describe,
    draw_units,
    draws_median,
    draws_quantile,
    percentile_interval,
    repeated_median,
    repeated_quantile,
    resample_sums,
    share_interval,
    sorted_draws,
)

__all__ = ["SIZE_CLASSES", "TARGETS", "evaluate_area", "area_metrics", "render_area", "repeated_median",
           "repeated_quantile"]

#: (label, lower ha inclusive, upper ha exclusive)
SIZE_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("< 0.5 ha", 0.0, 0.5), ("0.5-2 ha", 0.5, 2.0), ("2-10 ha", 2.0, 10.0), ("> 10 ha", 10.0, math.inf))
#: the issue's targets: (median, 90th percentile) of the relative absolute error; total; recall
TARGETS: dict[str, Any] = {
    "< 0.5 ha": (0.05, 0.15), "0.5-2 ha": (0.025, 0.07), "2-10 ha": (0.02, 0.05), "> 10 ha": (0.02, 0.05),
    "partly planted": (0.06, 0.25), "county total": 0.03, "never-planted recall": 0.95,
}
NEVER_PLANTED = 0.2
#: a group with fewer fields is reported but not judged against its target
MIN_GROUP = 10


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _declared_planted(table: pd.DataFrame) -> pd.Series:
    """The area each field's declaration says is planted: its ``declared_area_ha``, but 0 ha where it declares no
    crop (``declared_crop`` blank or ``fallow``, as the crop evaluation reads it) — a table without ``declared_crop`` is
    taken at its declared areas."""
    area = table["declared_area_ha"].astype("float64")
    if "declared_crop" not in table.columns:
        return area
    crop = table["declared_crop"].astype(object)
    # a blank cell, or the no-crop class written out (`fallow`, any case: an accepted declaration, read as no crop
    # elsewhere — a review found it still counted planted)
    blank = crop.isna() | crop.map(lambda v: str(v).strip().lower() in ("", "fallow"))
    return area.where(~blank.to_numpy(dtype=bool), 0.0)


def _errors(table: pd.DataFrame, col: str) -> np.ndarray:
    if col == "declared_area_ha":
        table = table.assign(declared_area_ha=_declared_planted(table))
    est = table[col].to_numpy(dtype=np.float64)
    true = table["true_area_ha"].to_numpy(dtype=np.float64)
    err = np.abs(est - true) / true
    return np.where(np.isfinite(est), err, 1.0)  # a missed field counts as 100% wrong


def _group(table: pd.DataFrame, name: str, drawn: dict[str, np.ndarray]) -> dict[str, Any]:
    """One group's figures; ``drawn`` (:func:`_resampled`) its median and 90th percentile on each resample of the
    whole table, so the intervals of every group come from the same draws."""
    e, b = _errors(table, "planted_area_ha"), _errors(table, "declared_area_ha")
    poly = _errors(table, "field_area_ha")
    tm, tp = TARGETS[name]
    out: dict[str, Any] = {"group": name, "n": len(table)}
    if len(table) == 0:
        out.update(median=None, median_ci=None, p90=None, p90_ci=None, baseline_median=None, baseline_p90=None,
                   polygon_median=None, polygon_p90=None, target_median=tm, target_p90=tp, met=None)
        return out
    med, p90 = float(np.median(e)), float(np.quantile(e, 0.9))
    out.update(median=_r(med), median_ci=percentile_interval(drawn["median"]),
               p90=_r(p90), p90_ci=percentile_interval(drawn["p90"]),
               baseline_median=_r(float(np.median(b))),
               baseline_p90=_r(float(np.quantile(b, 0.9))),
               # the second naive baseline: the field's own polygon taken as planted (no imagery, no declaration)
               polygon_median=_r(float(np.median(poly))), polygon_p90=_r(float(np.quantile(poly, 0.9))),
               target_median=tm, target_p90=tp,
               met=bool(med <= tm and p90 <= tp) if len(table) >= MIN_GROUP else None)
    return out


def _group_masks(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each group of :data:`SIZE_CLASSES` and the partly planted fields → which rows of ``table`` it holds (fields
    with something planted)."""
    is_planted = (table["true_area_ha"] > 0).to_numpy()
    partly_planted = table["events"].fillna("").str.contains("partly_planted", regex=False).to_numpy()
    field_ha = table["field_area_ha"].to_numpy(dtype=np.float64)
    masks = {name: is_planted & (field_ha >= lo) & (field_ha < hi) for name, lo, hi in SIZE_CLASSES}
    return {**masks, "partly planted": is_planted & partly_planted}


def _never_planted(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Which fields are never planted (true planted fraction below :data:`NEVER_PLANTED`) and which the estimate
    flags so (a missed field, NaN, is not flagged)."""
    return table["true_fraction"] < NEVER_PLANTED, table["planted_fraction"] < NEVER_PLANTED


def _resampled(table: pd.DataFrame, w: np.ndarray) -> dict[str, Any]:
    """The estimate's figures on each resample (row of ``w``: how often each row of ``table`` is drawn), scored as
    the table is: each group's (:func:`_group_masks`) median and 90th percentile error over its drawn rows with their
    repetitions, the county total's error and the never-planted recall as count-weighted sums
    (:func:`pipelines.evaluation._bootstrap.resample_sums`)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, m in _group_masks(table).items():
        if not m.any():  # an empty group: no figure on any resample
            groups[name] = {"median": np.full(len(w), np.nan), "p90": np.full(len(w), np.nan)}
            continue
        draws = sorted_draws(_errors(table[m], "planted_area_ha"), w[:, m])
        groups[name] = {"median": draws_median(draws), "p90": draws_quantile(draws, 0.9)}
    true_rs = resample_sums(w, table["true_area_ha"].fillna(0.0).to_numpy(dtype=np.float64))
    est_rs = resample_sums(w, table["planted_area_ha"].fillna(0.0).to_numpy(dtype=np.float64))
    never, flagged = _never_planted(table)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(true_rs > 0, np.abs(est_rs - true_rs) / true_rs, np.nan)
        recall = resample_sums(w, (flagged & never).to_numpy(dtype=np.float64)) / resample_sums(
            w, never.to_numpy(dtype=np.float64))
    return {"groups": groups, "total_error": total, "recall": recall}


def area_metrics(table: pd.DataFrame, groups: np.ndarray | None = None, interval_by: str = "field"
                 ) -> dict[str, Any]:
    """Metrics of a per-field table: field_area_ha, declared_area_ha, declared_crop (optional; blank: the declared
    baseline takes the field as declaring 0 ha planted), planted_area_ha (estimate, NaN = missed),
    planted_fraction (estimate), true_area_ha, true_fraction, events (";"-joined).

    Beside the estimate's figures, their 95% intervals (``<figure>_ci``, None where no resample has the figure) and
    ``interval``, how they were drawn: the table's rows resampled once, a block of resamples at a time
    (:func:`pipelines.evaluation._bootstrap.count_blocks`), each figure scored on every resample as it is on the
    table (:func:`_resampled`). ``groups``: the rows' cluster codes
    (:func:`pipelines.evaluation._bootstrap.group_codes`, named by ``interval_by``), each cluster drawn whole; None:
    every row its own."""
    n_rows = len(table)
    blocks = count_blocks(n_rows, np.arange(n_rows), groups=groups) if n_rows else iter([np.zeros((1, 0), np.int32)])
    drawn = blockwise(partial(_resampled, table), blocks)
    sized = [_group(table[m], name, drawn["groups"][name]) for name, m in _group_masks(table).items()]
    true_total = float(table["true_area_ha"].sum())
    est_total = float(table["planted_area_ha"].fillna(0.0).sum())
    declared = _declared_planted(table)  # a blank crop declaration declares nothing planted
    decl_total = float(declared.fillna(0.0).sum())
    poly_total = float(table["field_area_ha"].fillna(0.0).sum())
    tot_err = abs(est_total - true_total) / true_total if true_total > 0 else float("nan")
    total = {"estimate_ha": _r(est_total), "true_ha": _r(true_total), "declared_ha": _r(decl_total),
             "error": _r(tot_err), "error_ci": percentile_interval(drawn["total_error"]),
             "baseline_error": _r(abs(decl_total - true_total) / true_total)
             if true_total > 0 else None, "polygon_ha": _r(poly_total),
             "polygon_error": _r(abs(poly_total - true_total) / true_total) if true_total > 0 else None,
             "target": TARGETS["county total"],
             "met": bool(tot_err <= TARGETS["county total"]) if np.isfinite(tot_err) else None}
    never, flagged = _never_planted(table)
    decl_frac = declared / table["field_area_ha"]
    n_never = int(never.sum())
    recall = float((flagged & never).sum() / n_never) if n_never else float("nan")
    units = draw_units(never.to_numpy(), groups) if groups is not None else n_never
    recall_ci, exact = share_interval(drawn["recall"], int((flagged & never).sum()), n_never, units)
    np_block = {"n": n_never, "recall": _r(recall), "recall_ci": recall_ci, **({"interval_exact": True} if exact else {}),
                **({"interval_units": units} if exact and units != n_never else {}),
                "false_alarms": int((flagged & ~never).sum()), "n_planted": int((~never).sum()),
                "baseline_recall": _r(float(((decl_frac < NEVER_PLANTED) & never).sum() / n_never)) if n_never else None,
                "target": TARGETS["never-planted recall"],
                "met": bool(recall >= TARGETS["never-planted recall"]) if n_never else None}
    from pipelines.validation_report import MET

    verdicts = interval_verdicts({"groups": sized, "county_total": total, "never_planted": np_block})
    _judge(total, [verdicts.get("county total error")])
    _judge(np_block, [verdicts.get("never-planted recall")])
    for g in sized:
        _judge(g, [verdicts.get(f"{g['group']}: {k} error") for k in ("median", "p90")])
    points = [b["point_met"] for b in (*sized, total, np_block) if b["point_met"] is not None]
    overall = _overall(verdicts.values())
    how: dict[str, Any] = {"interval": describe("the scored fields")}
    if groups is not None:
        how = {"interval": describe("the scored fields", interval_by, int(np.max(groups)) + 1 if n_rows else 0),
               "interval_by": interval_by}
    return {"groups": sized, "county_total": total, "never_planted": np_block,
            "n_fields": len(table), "n_missing": int(table["planted_area_ha"].isna().sum()),
            "targets_met": overall == MET, "targets_point_met": bool(all(points)), **how,
            "targets_verdict": overall}


def _judge(block: dict[str, Any], verdicts: list[str | None]) -> None:
    """``block``'s ``met`` made the whole interval's (True only when every gated figure of it is met by its 95%
    interval, False when one is not or straddles, None when none is judged), the point's kept as ``point_met``
    (a review: the 0.5-2 ha group was ``met: true`` at p90 2.8% (0.1-19.1%) against 7%)."""
    from pipelines.validation_report import MET

    v = _overall(verdicts)
    block["point_met"] = block["met"]
    block["met"] = None if v is None else v == MET


def _exact_words(block: dict[str, Any], interval_by: str | None) -> str:
    """" exact binomial" after an interval that is (:func:`pipelines.evaluation._bootstrap.exact_when_alike`), with
    the draws it counts when they are not the fields ("over 7 farmers")."""
    if not block.get("interval_exact"):
        return ""
    units = block.get("interval_units")
    return " exact binomial" + (f" over {units} {interval_by or 'group'}s" if units else "")


def interval_verdicts(res: dict[str, Any]) -> dict[str, str]:
    """Each gated figure of an area result (the label → its verdict) as ``agcredit evaluate report`` judges it: its
    whole 95% interval against the targets file (:func:`pipelines.validation_report.gates`), so the two never
    disagree (nor does the JSON's ``met``/``targets_met``; ``point_met``/``targets_point_met`` judge the point)."""
    from pipelines.validation_report import Evaluation, gates, load_targets

    return {g.label: g.verdict for g in gates(Evaluation("", "", "area", res), load_targets(), None)[0]}


def _overall(verdicts: Any) -> str | None:
    """``not met`` when a gated figure is, else ``interval straddles the target`` when one's does, else ``met``;
    None when no figure is gated."""
    from pipelines.validation_report import MET, NOT_MET, POINT_MET, STRADDLES

    judged = [v for v in verdicts if v in (MET, NOT_MET, STRADDLES, POINT_MET)]
    return next((v for v in (NOT_MET, STRADDLES, POINT_MET, MET) if v in judged), None)


def evaluate_area(county: str | Path, *, season: str | None = None, as_of: dt.date | None = None,
                  calib_seasons: int = 3, cache_dir: Path | None = None, interval_by: str = "field"
                  ) -> dict[str, Any]:
    """Evaluate planted area on a county folder (default: the current season at the end of its window).

    Thresholds are calibrated on the ``calib_seasons`` most recent past seasons (0: defaults). ``interval_by``: the
    intervals' clusters (the module docstring; ``field``: every field its own, as before).
    """
    import dataclasses

    from features._area_calib import calibrate_area
    from features.area import AreaParams
    from features.area_scenes import planted_area
    from features.fields import area_ha
    from features.series import season_window
    from pipelines.county import County

    keys = group_keys(county, interval_by)  # before the imagery: an unknown value or a missing key refused
    c = County(county, cache_dir=cache_dir)
    season = season or c.current_season
    as_of = as_of or season_window(season, c.region)[1]
    past = [s for s in c.seasons if s < season][-calib_seasons:] if calib_seasons > 0 else []
    params = (calibrate_area(c.fields(), c.imagery, past, region=c.region, cache_dir=c.cache_dir)
              if past else AreaParams())
    fields = c.fields(season)
    est = planted_area(fields, c.imagery, season, as_of, params=params, cache_dir=c.cache_dir)
    truth = read_truth(county)
    truth = truth[truth["season"] == season].set_index("field_id")
    table = pd.DataFrame({
        "field_id": fields["field_id"].astype("str").to_numpy(),
        "field_area_ha": area_ha(fields).to_numpy(dtype=np.float64),
        "declared_area_ha": fields["declared_area_ha"].to_numpy(dtype=np.float64),
        "declared_crop": fields["declared_crop"].astype(object).to_numpy(),
    }).merge(est, on="field_id", how="left")
    table["true_area_ha"] = table["field_id"].map(truth["planted_area_ha"]).astype("float64")
    table["true_fraction"] = table["field_id"].map(truth["planted_fraction"]).astype("float64")
    table["events"] = table["field_id"].map(truth["events"]).astype("str")
    unknown = table["true_area_ha"].isna()
    if unknown.all():
        raise UserInputError(f"{Path(county) / 'truth' / 'fields.parquet'}: no truth row for the {len(table)} "
                             f"field(s) of season {season} — nothing to evaluate")
    table = table[~unknown]
    out = {"county": str(county), "label": synthetic_label(county), "region": c.region, "season": season,
           "as_of": as_of.isoformat(), "calibrated_on": past, "params": dataclasses.asdict(params),
           "outside_fields": len(est.attrs.get("outside_fields", [])),
           "no_clear_fields": len(est.attrs.get("no_clear_fields", [])), "no_truth": int(unknown.sum())}
    out.update(area_metrics(table, season_groups(keys, season, table["field_id"]), interval_by))
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _pct_ci(ci: list[float] | None) -> str:
    """An interval in :func:`_pct`'s unit and precision ("0.6–1.7%"), so it reads against its figure; "—" without
    one."""
    return "—" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%"


def render_area(res: dict[str, Any]) -> str:
    """A plain-text table of :func:`evaluate_area`'s result, each estimate figure's 95% interval beside it (a column
    after each quantile, in words after the county total's error and the recall) and how they were drawn at the
    end; each target judged by the figure's interval as ``agcredit evaluate report`` judges it
    (:func:`interval_verdicts`: met, NOT met, or its interval straddles the target)."""
    from pipelines.validation_report import MET, NOT_MET, POINT_MET, STRADDLES

    verdicts = interval_verdicts(res)
    words = {MET: "met", NOT_MET: "NOT met", STRADDLES: "interval straddles the target", POINT_MET: POINT_MET}
    lines = [f"planted area — {res['county']} ({res['label']}), season {res['season']} as of {res['as_of']}; "
             f"calibrated on {', '.join(res['calibrated_on']) or 'nothing (defaults)'}",
             f"{'group':<16}{'n':>6}  {'median':>8}{'95% interval':>15}{'p90':>8}{'95% interval':>15}  "
             f"{'declared med':>13}{'p90':>8}  {'polygon med':>12}{'p90':>8}  {'target':>13}  verdict"]
    for g in res["groups"]:
        v = _overall(verdicts.get(f"{g['group']}: {k} error") for k in ("median", "p90"))
        met = ("—" if g["n"] == 0 else f"n<{MIN_GROUP}") if v is None else \
            {MET: "met", NOT_MET: "NOT met", STRADDLES: "straddles", POINT_MET: "point, no interval"}[v]
        lines.append(f"{g['group']:<16}{g['n']:>6}  {_pct(g['median']):>8}{_pct_ci(g.get('median_ci')):>15}"
                     f"{_pct(g['p90']):>8}{_pct_ci(g.get('p90_ci')):>15}  "
                     f"{_pct(g['baseline_median']):>13}{_pct(g['baseline_p90']):>8}  "
                     f"{_pct(g.get('polygon_median')):>12}{_pct(g.get('polygon_p90')):>8}  "
                     f"{_pct(g['target_median']) + ' / ' + _pct(g['target_p90']):>13}  {met}")
    t = res["county_total"]
    lines.append(f"county total: estimate {t['estimate_ha']:.1f} ha, truth {t['true_ha']:.1f} ha, declared "
                 f"{t['declared_ha']:.1f} ha → error {_pct(t['error'])}, 95% interval {_pct_ci(t.get('error_ci'))} "
                 f"(declared {_pct(t['baseline_error'])}, the polygons {_pct(t.get('polygon_error'))}; target ≤ "
                 f"{_pct(t['target'])}) {words.get(verdicts.get('county total error', ''), 'not judged')}")
    n = res["never_planted"]
    lines.append(f"never planted (< {NEVER_PLANTED:.0%} planted): {n['n']} fields, recall {_pct(n['recall'])}, "
                 f"95% interval {_pct_ci(n.get('recall_ci'))}{_exact_words(n, res.get('interval_by'))} "
                 f"(declared {_pct(n['baseline_recall'])}; target ≥ {_pct(n['target'])}) "
                 f"{words.get(verdicts.get('never-planted recall', ''), 'not judged')}, "
                 f"{n['false_alarms']} of {n['n_planted']} planted fields wrongly flagged")
    judged = [v for v in verdicts.values() if v in words]
    missed, straddle = judged.count(NOT_MET), judged.count(STRADDLES)
    both = f", {straddle} with an interval straddling the target" if straddle else ""
    said = ("no target judged" if not judged else "all targets met" if not missed and not straddle
            and POINT_MET not in judged else "targets not shown met: a gated figure has no interval"
            if not missed and not straddle else
            f"targets NOT met: {missed} of {len(judged)} gated figures not met{both}" if missed else
            f"targets not shown met: the 95% intervals of {straddle} of {len(judged)} gated figures straddle their "
            "target")
    lines.append(f"fields {res['n_fields']}, missed by the imagery {res['n_missing']}; {said} ({res['label']})")
    if res.get("interval"):
        lines.append(f"intervals: {res['interval']}")
    return "\n".join(lines)
