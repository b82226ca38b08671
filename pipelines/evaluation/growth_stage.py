"""``agcredit evaluate growth-stage``: phenology dates and growth stages against a county's truth.

The production path is run as a user would: the declared fields (``records/fields.gpkg``) and
their series from ``scenes/`` (:func:`features.series.build_series`, as of each checkpoint), the
smoother as production calls it (:func:`pipelines.featurize.smooth_ndvi`: per region on a grid from its season
start, with the scene reference when it is on: :func:`features._scene_reference.reference_default`) and
:func:`features.growth_stage.phenology`
for each field's DECLARED crop. Thresholds and offsets are calibrated on the last
``calib_seasons`` past seasons' declared sowing and harvest dates (``records/history.csv``) —
never on truth. Only the scoring reads ``truth/fields.parquet``.

Scored population: the current season's planted fields whose declared crop is their true crop
(crop errors are the crop-type evaluation's business; their number is reported). Date metrics
(emergence, maturity, harvest: mean absolute error in days, share of maturities within 10 days,
coverage = share of fields given a date) use the end-of-season run; the stage accuracy uses the
mid-season run (the county's ``mid`` checkpoint) against the stage the true dates give
(:func:`features.growth_stage.stage_from_dates`; a failed crop counts as harvested from its failure
date). "summer" pools every crop but winter wheat (the issue's targets); winter wheat is reported
per crop. Beside every figure: the uncalibrated detector and the naive baseline (the crop
calendar's median dates; its stage is the stage those dates give). "stage from true dates"
(``stage_true_dates_mid``, the same in every column) is the stage the TRUE emergence, maturity and harvest
dates give with the flowering the calendar's stage fraction places between them: a diagnostic of how much
of the stage error the stage fractions alone make, with perfect dates.

The county's pre-harvest checkpoint is run too (diagnostic, not gated): the stage there and the expected harvest
(what re-underwriting at that checkpoint sets a line's term and price horizon from) — ``stage_accuracy_pre_harvest``,
``expected_harvest_pre_harvest_mae_days`` and ``_bias_days``.

The calibrated figures that are scored (:data:`CI_KEYS`) carry a 95% interval (``<figure>_ci``): the group's scored
fields resampled with replacement and each resample scored as the figure itself is (:func:`field_values`,
:mod:`pipelines.evaluation._bootstrap`). It is how much the figure owes to which fields the county happens to hold;
the calibration and the detector are not refit per resample, so it says nothing of how they would vary. With
``interval_by`` ``condition`` or ``farmer`` (``--interval-by``) the group's fields are drawn in clusters — every
field of one simulated condition (truth) or of one farmer (the records) together, a field without one its own
cluster (:func:`pipelines.evaluation.group_keys`) — and ``interval`` says so (``interval_by`` is added).

``diagnosis_mid`` (per group; printed under each table): the calibrated mid-season run's confusion
(true stage × predicted) and, for its wrong fields, whether the prediction is ahead or behind, how far
the true stage boundary lies from the as-of date, and what drove it (the emergence estimate; the
emergence estimate with the observations around the true emergence ≥ 20 days apart; else the
calendar's durations and stage fractions) — :mod:`features._stage_diagnosis`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines.evaluation import group_keys, read_truth, season_groups, synthetic_label
from pipelines.evaluation._bootstrap import blockwise, count_blocks, describe, percentile_interval, resample_sums

__all__ = ["TARGETS", "CI_KEYS", "date_metrics", "evaluate_growth_stage", "field_intervals", "field_values",
           "format_growth_evaluation", "resampled_figures", "stage_accuracy"]

#: issue 7's targets (eval-size counties, summer crops; reported, not tested)
TARGETS = {"emergence_mae_days": 7.0, "maturity_mae_days": 7.0, "harvest_mae_days": 10.0,
           "maturity_within_10d": 0.80, "stage_accuracy_mid": 0.90}
WINTER_CROPS = ("winter_wheat",)
EVENTS = ("emergence", "maturity", "harvest")
#: the figures given a 95% interval (calibrated method only; coverage and the true-dates stage are diagnostics)
CI_KEYS = ("emergence_mae_days", "maturity_mae_days", "harvest_mae_days", "maturity_within_10d", "stage_accuracy_mid",
           "expected_harvest_mid_mae_days", "stage_accuracy_pre_harvest", "expected_harvest_pre_harvest_mae_days")
#: per figure, per field (a truth row): ``(has, x)`` — 1 where the field counts in the figure, and its value there
#: (0 where it does not count), so that the figure over fields drawn ``w`` times each is ``(w @ x) / (w @ has)``
FieldValues = dict[str, tuple[np.ndarray, np.ndarray]]


def _date_errors(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Per event, per row of ``truth`` (in its order): whether it has a true date, and the error in days (predicted −
    true; NaN without either date). :func:`date_metrics` and :func:`field_values` both read these, so the figures
    and the per-field values the intervals resample cannot drift apart."""
    cols = [f"{e}_date" for e in EVENTS]
    p_ = pred[["field_id", *cols]].drop_duplicates("field_id").astype({"field_id": "str"})
    j = truth[["field_id", *cols]].astype({"field_id": "str"}).merge(p_, on="field_id", how="left",
                                                                        suffixes=("_true", ""))
    out: dict[str, tuple[pd.Series, pd.Series]] = {}
    for e in EVENTS:
        t = pd.to_datetime(j[f"{e}_date_true"])
        p = pd.to_datetime(j[f"{e}_date"])
        out[e] = (t.notna(), (p - t).dt.days.astype("float64"))
    return out


def date_metrics(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float | int | None]:
    """MAE (days) of emergence/maturity/harvest dates, share of maturities within 10 days and coverage.

    ``pred`` and ``truth``: field_id and ``<event>_date`` columns; rows are matched on field_id and
    only fields with a true date count; coverage is the share of those given a predicted date.
    """
    out: dict[str, float | int | None] = {"n_fields": int(len(truth))}
    for e, (have, err_all) in _date_errors(pred, truth).items():
        err = err_all[have]
        ok = err.notna()
        out[f"{e}_n"] = int(have.sum())
        out[f"{e}_coverage"] = float(ok.mean()) if have.any() else None
        out[f"{e}_mae_days"] = float(err[ok].abs().mean()) if ok.any() else None
        out[f"{e}_bias_days"] = float(err[ok].mean()) if ok.any() else None
        if e == "maturity":
            # fields without a predicted date count as outside the 10 days
            out["maturity_within_10d"] = float((err.abs() <= 10).sum() / have.sum()) if have.any() else None
    return out


def _expected_harvest_errors(pred: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Per row of ``truth`` (index field_id, in its order): the ``expected_harvest_date``'s error in days against the
    true harvest, NaN without either (a failed crop has no true harvest)."""
    p = pred.drop_duplicates("field_id").set_index(pred["field_id"].astype(str))["expected_harvest_date"]
    t = pd.to_datetime(truth.set_index(truth["field_id"].astype(str))["harvest_date"])
    return (pd.to_datetime(p.reindex(t.index)) - t).dt.days.astype("float64")


def expected_harvest_error(pred: pd.DataFrame, truth: pd.DataFrame, checkpoint: str = "mid"
                           ) -> dict[str, float | None]:
    """MAE and bias (days) of the ``expected_harvest_date`` as of the ``checkpoint`` (mid-season: what sets a loan's
    term; pre-harvest: what re-underwriting sets it from) against the true harvest, over the fields with one (a
    failed crop has none)."""
    err = _expected_harvest_errors(pred, truth).dropna()
    return {f"expected_harvest_{checkpoint}_mae_days": float(err.abs().mean()) if len(err) else None,
            f"expected_harvest_{checkpoint}_bias_days": float(err.mean()) if len(err) else None}


def stage_accuracy(pred_stage: pd.Series, true_stage: pd.Series) -> float | None:
    """Share of fields (index field_id) whose predicted stage equals the true stage."""
    t = true_stage.dropna()
    if t.empty:
        return None
    p = pred_stage.reindex(t.index)
    return float((p.astype(object) == t.astype(object)).mean())


def _present(has: pd.Series, value: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(has, x)`` of :data:`FieldValues`: 1.0 where a field counts, its value there and 0.0 elsewhere (a missing
    value would otherwise turn every resample's sum into NaN)."""
    h = has.to_numpy(dtype=bool)
    return h.astype("float64"), np.where(h, value.to_numpy(dtype="float64", na_value=np.nan), 0.0)


def field_values(runs: dict[str, pd.DataFrame], truth: pd.DataFrame, true_mid: pd.Series, true_pre: pd.Series
                 ) -> FieldValues:
    """Each figure of :data:`CI_KEYS` as per-field values (:data:`FieldValues`, one entry per row of ``truth``), so
    that a resample of the fields scores exactly what :func:`date_metrics`, :func:`stage_accuracy` and
    :func:`expected_harvest_error` would on the resampled fields: an MAE averages |error| over the fields with both
    dates, the share within 10 days counts every field with a true maturity (a missing prediction is a miss), a stage
    accuracy counts the fields with a true stage.

    ``runs``: one method's predictions as of ``"mid"``, ``"pre_harvest"`` and ``"end"``; ``true_mid`` and
    ``true_pre``: the true stage at those checkpoints, indexed by field_id (reindexed on ``truth``'s fields here).
    """
    out: FieldValues = {}
    for e, (have, err) in _date_errors(runs["end"], truth).items():
        out[f"{e}_mae_days"] = _present(err.notna(), err.abs())
        if e == "maturity":
            out["maturity_within_10d"] = _present(have, (err.abs() <= 10).astype("float64"))
    for cp, true_stage in (("mid", true_mid), ("pre_harvest", true_pre)):
        t = true_stage.reindex(truth["field_id"])
        p = runs[cp].set_index("field_id")["growth_stage"].reindex(t.index)
        out[f"stage_accuracy_{cp}"] = _present(t.notna(), (p.astype(object) == t.astype(object)).astype("float64"))
        err = _expected_harvest_errors(runs[cp], truth)
        out[f"expected_harvest_{cp}_mae_days"] = _present(err.notna(), err.abs())
    return {k: out[k] for k in CI_KEYS}


def resampled_figures(values: FieldValues, w: np.ndarray) -> dict[str, np.ndarray]:
    """Each figure of ``values`` on each resample (row of ``w``: how often each field is drawn): the mean of the
    drawn fields that have it, ``Σ w·x / Σ w·has`` (:func:`pipelines.evaluation._bootstrap.resample_sums`); NaN where
    a resample draws none of them."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return {k: resample_sums(w, x) / resample_sums(w, has) for k, (has, x) in values.items()}


def field_intervals(values: FieldValues, groups: np.ndarray | None = None) -> dict[str, list[float] | None]:
    """The 95% percentile intervals (``<figure>_ci``) of ``values``' figures, the group's fields resampled with
    replacement (:mod:`pipelines.evaluation._bootstrap`: the same seed, so the same evaluation gives the same
    intervals), drawn and scored a block of resamples at a time. None where no resample has the figure. ``groups``:
    the fields' cluster codes (:func:`pipelines.evaluation._bootstrap.group_codes`), each cluster drawn whole; None:
    every field its own."""
    n = len(next(iter(values.values()))[0]) if values else 0
    if n == 0:
        return {f"{k}_ci": None for k in values}
    figs = blockwise(partial(resampled_figures, values), count_blocks(n, np.arange(n), groups=groups))
    return {f"{k}_ci": percentile_interval(v) for k, v in figs.items()}


def _true_stages(truth: pd.DataFrame, as_of: date) -> pd.Series:
    from features.growth_stage import stage_from_dates

    harvest = truth["harvest_date"].where(truth["harvest_date"].notna(), truth.get("failure_date"))
    st = stage_from_dates(np.datetime64(pd.Timestamp(as_of), "ns"), truth["emergence_date"], truth["flowering_date"],
                          truth["maturity_date"], harvest)
    return pd.Series(st, index=truth["field_id"].to_numpy())


def _stage_true_dates(truth: pd.DataFrame, cds: pd.DataFrame, as_of: date) -> pd.Series:
    """Stage from the TRUE emergence, maturity and harvest dates with the flowering the calendar's stage
    fraction gives (emergence + share of emergence→maturity): what the stage rule makes of perfect dates
    (a diagnostic of the stage fractions, not of the detector)."""
    from features.growth_stage import stage_from_dates

    crop = truth["true_crop"].astype(object)
    share = crop.map(((cds["flowering"] - cds["emergence"]).dt.days / (cds["maturity"] - cds["emergence"]).dt.days)
                     if len(cds) else {}).astype("float64")
    em = pd.to_datetime(truth["emergence_date"])
    mat = pd.to_datetime(truth["maturity_date"])
    flow = em + (mat - em) * share.fillna(0.5).to_numpy()
    harvest = truth["harvest_date"].where(truth["harvest_date"].notna(), truth.get("failure_date"))
    st = stage_from_dates(np.datetime64(pd.Timestamp(as_of), "ns"), em, flow, mat, harvest)
    return pd.Series(st, index=truth["field_id"].to_numpy())


def _gap_around(sm: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Days between the observations (``observed`` grid dates of ``sm``) just before and just after each
    field's TRUE emergence (index field_id; NaN without a true emergence or an observation on either side)."""
    obs = sm[sm["observed"].astype(bool)][["field_id", "date"]].astype({"field_id": "str"})
    em = truth.set_index("field_id")["emergence_date"]
    o = obs.assign(em=obs["field_id"].map(em))
    before = o[o["date"] <= o["em"]].groupby("field_id")["date"].max()
    after = o[o["date"] >= o["em"]].groupby("field_id")["date"].min()
    return (after.reindex(em.index) - before.reindex(em.index)).dt.days.astype("float64")


def _diagnosis(pred: pd.DataFrame, truth: pd.DataFrame, true_stage: pd.Series, as_of: date,
               gaps: pd.Series) -> dict[str, Any]:
    """Confusion (``[true stage, predicted stage, fields]`` in stage order) and what drove the wrong fields
    of one group at ``as_of`` (:mod:`features._stage_diagnosis`); the distance of the TRUE boundary from ``as_of`` bounds how far
    the predicted boundary is from it (a wrong field's predicted boundary is at least that far off)."""
    from features._stage_diagnosis import stage_confusion, wrong_stage_drivers

    t = truth.set_index("field_id")
    p = pred.drop_duplicates("field_id").set_index("field_id")
    ref = true_stage.reindex(t.index)
    em, fl, mat = (pd.to_datetime(t[c]) for c in ("emergence_date", "flowering_date", "maturity_date"))
    harvest = pd.to_datetime(t["harvest_date"].where(t["harvest_date"].notna(), t.get("failure_date")))
    bounds = pd.concat([em, em + (fl - em) * 0.25, fl, fl + (mat - fl) * 0.5, harvest], axis=1)
    delta = (pd.Timestamp(as_of) - bounds).apply(lambda c: c.dt.days).astype("float64")
    nearest = delta.abs().idxmin(axis=1, skipna=True) if len(delta) else pd.Series(dtype=object)
    boundary = pd.Series([delta.loc[i, c] if pd.notna(c) else np.nan for i, c in nearest.items()], index=delta.index)
    em_err = (pd.to_datetime(p["emergence_date"]).reindex(t.index) - em).dt.days.astype("float64")
    conf = stage_confusion(ref, p["growth_stage"])
    return {"confusion": [[str(r), str(c), int(v)] for r, row in conf.iterrows() for c, v in row.items() if v],
            **wrong_stage_drivers(ref, p["growth_stage"], em_err, boundary, gaps.reindex(t.index))}


def _baseline(fields: pd.DataFrame, cds: pd.DataFrame, as_of: date) -> pd.DataFrame:
    from features.growth_stage import stage_from_dates

    crop = fields["declared_crop"].astype(object)
    out = pd.DataFrame({"field_id": fields["field_id"].astype(str).to_numpy()})
    for e in ("emergence", "flowering", "maturity", "harvest"):
        out[f"{e}_date"] = pd.to_datetime(crop.map(cds[e]) if len(cds) else pd.NaT).to_numpy()
    out["growth_stage"] = stage_from_dates(np.datetime64(pd.Timestamp(as_of), "ns"), out["emergence_date"],
                                           out["flowering_date"], out["maturity_date"], out["harvest_date"])
    out["expected_harvest_date"] = out["harvest_date"]
    return out


def _groups(truth: pd.DataFrame) -> dict[str, pd.Series]:
    crops = truth["true_crop"].astype(str)
    g = {"summer": ~crops.isin(WINTER_CROPS)}
    for c in sorted(set(crops)):
        g[c] = crops == c
    return g


def evaluate_growth_stage(county: str | Path, *, cache_dir: str | Path | None = None, calib_seasons: int = 3,
                          progress: Callable[[str], None] | None = None, thermal: bool = True,
                          interval_by: str = "field") -> dict[str, Any]:
    """Evaluate phenology and growth stage on a county folder; returns a JSON-ready dict.

    ``cache_dir``: the series cache (default ``AGCREDIT_CACHE_DIR``, else none: nothing is written into the
    county folder). ``thermal``: with the county's weather (as production), a maturity not yet seen is expected in
    thermal time; False expects it in days (``benchmarks/bench_growth_stage.py --no-thermal``). ``interval_by``:
    the intervals' clusters (the module docstring; ``field``: every field its own, as before).
    """
    from features.growth_stage import calendar_dates, load_calendars, phenology
    from features.series import build_series
    from pipelines._phenology_fit import fit_county_phenology
    from pipelines.county import County
    from pipelines.featurize import smooth_ndvi

    say = progress or (lambda _m: None)
    path = Path(county)
    cache = Path(cache_dir) if cache_dir is not None else (Path(os.environ["AGCREDIT_CACHE_DIR"])
                                                           if os.environ.get("AGCREDIT_CACHE_DIR") else None)
    c = County(path, cache_dir=cache)
    season, region = c.current_season, c.region
    cal = load_calendars()

    def series_of(s: str, as_of: date | None = None) -> Any:
        return build_series(c.fields(s), c.imagery, s, as_of=as_of, variables=("NDVI",), cache_dir=cache)

    def smoothed(s: str, as_of: date | None) -> pd.DataFrame:
        """The season's NDVI smoothed as production smooths it (pipelines.featurize.smooth_ndvi: per region on its
        season grid, with the scene reference when it is on)."""
        res = series_of(s, as_of)
        return smooth_ndvi(res.series, c.fields(s), as_of, reference=res.reference)

    # -- the scored population (truth read first: a season without it is refused before any series is built) --
    cps = c.checkpoints(season)
    fields = c.fields(season)
    crops = pd.Series(fields["declared_crop"].astype(object).to_numpy(), index=fields["field_id"].astype(str))
    truth = read_truth(path, "fields")
    keys = group_keys(path, interval_by)  # before any series: an unknown value or a missing key refused
    truth = truth[truth["season"] == season]
    truth = truth[truth["field_id"].isin(crops.index)]
    dec = truth["field_id"].map(crops)
    scored = truth[truth["planted"].astype(bool) & (dec == truth["true_crop"]).to_numpy()]
    if scored.empty:
        raise UserInputError(f"{path / 'truth' / 'fields.parquet'}: no planted field of season {season} to score "
                             f"({len(truth)} of its {len(fields)} field(s) have a truth row; scored: planted, declared "
                             f"crop = true crop)")

    # -- calibration on past seasons' declared dates (as `agcredit train crop-type --county` fits it) ------------
    past = c.past_seasons[-calib_seasons:] if calib_seasons > 0 else []
    calib = fit_county_phenology(c, past, n_seasons=calib_seasons, weather=thermal, series_of=series_of,
                                 progress=lambda m: say(m.replace(" (phenology calibration)", " (calibration)")))
    wx = c.weather() if thermal else None

    # -- current season, as of mid-season and the end of the season -------------------------------
    cds = calendar_dates(cal, region, season)
    runs: dict[str, dict[str, pd.DataFrame]] = {}
    for cp in ("mid", "pre_harvest", "end"):
        as_of = cps[cp]
        say(f"series {season} as of {as_of}")
        sm = smoothed(season, as_of)
        if cp == "mid":
            gaps_mid = _gap_around(sm, scored)
        runs[cp] = {"calibrated": phenology(sm, cal, crops, region, as_of, calib, weather=wx),
                    "uncalibrated": phenology(sm, cal, crops, region, as_of, None),
                    "baseline": _baseline(fields, cds, as_of)}
    true_mid = _true_stages(scored, cps["mid"])
    true_pre = _true_stages(scored, cps["pre_harvest"])
    true_dates_mid = _stage_true_dates(scored, cds, cps["mid"])
    result: dict[str, Any] = {
        "county": str(path), "label": synthetic_label(path), "region": region, "season": season,
        "as_of": {k: str(v) for k, v in cps.items() if k in ("mid", "pre_harvest", "end")},
        "calibration_seasons": past,
        "calibration": {k: vars(v) for k, v in sorted(calib.crops.items())} if calib is not None else {},
        "n_fields": int(len(fields)), "n_scored": int(len(scored)),
        "n_excluded_unplanted": int((~truth["planted"].astype(bool)).sum()),
        "n_excluded_crop_mismatch": int((truth["planted"].astype(bool) & (dec != truth["true_crop"]).to_numpy()).sum()),
        "targets": TARGETS, "groups": {}, "diagnosis_mid": {},
        "interval": describe("the scored fields of each group"),
    }
    if keys is not None:
        codes = season_groups(keys, season, scored["field_id"])
        result["interval"] = describe("the scored fields of each group", interval_by, int(codes.max()) + 1)
        result["interval_by"] = interval_by
    for name, mask in _groups(scored).items():
        t = scored[mask.to_numpy()]
        if t.empty:
            continue
        g: dict[str, Any] = {}
        for method in ("calibrated", "uncalibrated", "baseline"):
            m = date_metrics(runs["end"][method], t)
            mid = runs["mid"][method].set_index("field_id")["growth_stage"]
            m["stage_accuracy_mid"] = stage_accuracy(mid, true_mid.reindex(t["field_id"]))
            m["stage_true_dates_mid"] = stage_accuracy(true_dates_mid, true_mid.reindex(t["field_id"]))
            m.update(expected_harvest_error(runs["mid"][method], t))
            pre = runs["pre_harvest"][method].set_index("field_id")["growth_stage"]
            m["stage_accuracy_pre_harvest"] = stage_accuracy(pre, true_pre.reindex(t["field_id"]))
            m.update(expected_harvest_error(runs["pre_harvest"][method], t, "pre_harvest"))
            g[method] = m
        g["calibrated"].update(field_intervals(field_values({cp: runs[cp]["calibrated"] for cp in runs}, t,
                                                            true_mid, true_pre),
                                               season_groups(keys, season, t["field_id"])))
        result["groups"][name] = g
        result["diagnosis_mid"][name] = _diagnosis(runs["mid"]["calibrated"], t, true_mid, cps["mid"], gaps_mid)
    return result


def format_growth_evaluation(r: dict[str, Any]) -> str:
    """Plain-text table of :func:`evaluate_growth_stage`'s result: per group, the three methods' figures side by
    side, the calibrated figures' 95% intervals beside them (how they were drawn on the last line) and the
    mid-season diagnosis."""
    lines = [f"growth-stage evaluation [{r['label']}] {r['county']} — {r['region']} season {r['season']} "
             f"(mid-season as of {r['as_of']['mid']}, pre-harvest {r['as_of'].get('pre_harvest', '—')}, end "
             f"{r['as_of']['end']})",
             f"scored fields: {r['n_scored']} of {r['n_fields']} (excluded: {r['n_excluded_unplanted']} unplanted, "
             f"{r['n_excluded_crop_mismatch']} declared crop ≠ true crop); calibrated on declared dates of "
             f"{', '.join(r['calibration_seasons']) or 'no season'}"]
    rows = [("emergence MAE (days)", "emergence_mae_days"), ("maturity MAE (days)", "maturity_mae_days"),
            ("harvest MAE (days)", "harvest_mae_days"), ("maturity within 10 d", "maturity_within_10d"),
            ("stage right at mid-season", "stage_accuracy_mid"),
            ("mid-season expected harvest", "expected_harvest_mid_mae_days"),
            ("stage right at pre-harvest", "stage_accuracy_pre_harvest"),
            ("pre-harvest expected harvest", "expected_harvest_pre_harvest_mae_days"),
            ("  stage from true dates", "stage_true_dates_mid"), ("emergence coverage", "emergence_coverage"),
            ("maturity coverage", "maturity_coverage")]

    def pct(key: str) -> bool:
        return "within" in key or "accuracy" in key or "coverage" in key or "true_dates" in key

    def fmt(v: Any, key: str) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "—"
        return f"{100 * v:.0f}%" if pct(key) else f"{v:.1f}"

    def fmt_ci(v: Any, key: str) -> str:
        """An interval in its figure's unit ("82–87%", "3.9–4.6"); "—" without one, blank for a diagnostic."""
        if key not in CI_KEYS:
            return ""
        if not isinstance(v, list | tuple) or len(v) != 2:
            return "—"
        return f"{100 * v[0]:.0f}–{100 * v[1]:.0f}%" if pct(key) else f"{v[0]:.1f}–{v[1]:.1f}"

    for name, g in r["groups"].items():
        lines.append("")
        lines.append(f"[{name}] n={g['calibrated']['n_fields']}")
        lines.append(f"  {'metric':<28}{'calibrated':>12}{'95% interval':>14}{'uncalibrated':>14}{'calendar':>10}"
                     f"{'target':>8}")
        for label, key in rows:
            tgt = r["targets"].get(key)
            tg = "" if tgt is None or name != "summer" else fmt(tgt, key)
            lines.append(f"  {label:<28}{fmt(g['calibrated'].get(key), key):>12}"
                         f"{fmt_ci(g['calibrated'].get(f'{key}_ci'), key):>14}"
                         f"{fmt(g['uncalibrated'].get(key), key):>14}{fmt(g['baseline'].get(key), key):>10}{tg:>8}")
        lines.extend(_format_diagnosis(r.get("diagnosis_mid", {}).get(name)))
    if r.get("interval"):
        lines.extend(["", f"intervals: {r['interval']}"])
    return "\n".join(lines)


def _format_diagnosis(d: dict[str, Any] | None) -> list[str]:
    """The calibrated mid-season run's confusion and wrong-field drivers, as indented lines."""
    if not d:
        return []
    rows: dict[str, list[str]] = {}
    for t, c, n in d["confusion"]:
        rows.setdefault(t, []).append(f"{c} {n}")
    conf = "; ".join(f"{t} → {', '.join(v)}" for t, v in rows.items())
    out = [f"  mid-season confusion (calibrated; true → predicted): {conf}"]
    if d.get("n_wrong"):
        out.append(f"  wrong at mid-season: {d['n_wrong']} ({d['ahead']} ahead, {d['behind']} behind); "
                   f"driver: emergence {d['driver_emergence']}, emergence in a cloud gap {d['driver_gap']}, "
                   f"durations/stage fractions {d['driver_durations']}; |emergence error| median "
                   f"{d['emergence_abs_error_median_wrong']} d (right fields {d['emergence_abs_error_median_right']} d); "
                   f"true boundary {d['boundary_abs_days_median_wrong']} d (p90 {d['boundary_abs_days_p90_wrong']} d) "
                   f"from the as-of date; gap around true emergence median {d['gap_days_median_wrong']} d")
    return out
