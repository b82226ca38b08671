"""``agcredit models performance``: outcomes analysis of a yield model in use — once a season's harvest is reported,
how the version's P10/P50/P90 on that season's features compare with the yields the farmers reported, beside naive
baselines from the same file's earlier seasons, and whether the version still meets, on these outcomes, the minimum
metrics it was promoted on.

Input stability (:mod:`pipelines.stability`) warns while the season runs that the model scores rows unlike its
training rows; outcomes analysis tells afterwards whether its figures held: a model-risk team's back-test of a model
in use. The figures are the held-out evaluation's (:func:`models.evaluation.yield_metrics`: R², RMSE and RMSE% of the
mean within each crop and pooled, the shares of reported yields below P10 and above P90), with the mean error (bias)
beside them, and the naive baselines the registry's metrics carry: each crop's mean reported yield over the file's
seasons before the scored one (``skill_r2`` is the model's R² minus that baseline's), and the field's own mean of that
crop over those seasons (falling back to the crop's mean).

Honest by construction: a season not after every season the version trained on is refused (in sample, or scored by
a model that learned from later seasons), and so is a features file of several dates or seasons; the baselines read
the *declared* crop (what the bank knew), not the crop the model took a field for. Each figure has a 95% percentile
bootstrap interval over the scored fields (or farmers, drawn whole: ``--interval-by farmer``), from the evaluations'
fixed seed (:mod:`pipelines.evaluation._bootstrap`), drawn a block of resamples at a time in field-id order, so the
same inputs print the same report byte for byte in any row order. Each minimum metric of the version's governance is
judged on the interval, as the validation report judges targets: *met* (the whole interval meets it), *not met* (none
of it does) or *interval straddles*; a metric named for a checkpoint (``mid_…``) gates that checkpoint, an unnamed one
the version's first (end of season), and elsewhere it is shown for reference only. A version trained since in-season
gates has minimum metrics named for each in-season checkpoint of its scope
(:func:`pipelines.train_yield.yield_minimum_metrics`), so a mid-season analysis judges them; one registered before has
its end of season's only, and a mid-season analysis of it says that none gates mid. A minimum metric over held-out
seasons (``below_p10_min_all``, ``…_max_…``) is the season's own figure here: one season is scored. One season is one
draw of the weather, and the interval covers the sampling of its fields, not of seasons: an ordinary season can miss
a requirement the version met on average (on the demo county, 2 of 5 seasons held out against the others did), so a
miss is reported and the command exits 1 on it only with ``--fail-on-miss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders
from pipelines._outcome_figures import (
    _requirement_figure,
    judge,
    outcome_figures,
)

# isort: split
# re-exported, unused here: importable from pipelines.outcomes as before its helpers moved out
from pipelines._outcome_figures import (
    _ONE_SEASON,  # noqa: F401
    FIGURES,  # noqa: F401
    _group_figures,  # noqa: F401
    figure_record,  # noqa: F401
)

__all__ = ["OutcomesResult", "model_performance", "outcome_figures", "judge"]

#: the model whose outcomes this analyses (P10/P50/P90 of yield)
ANALYSED = "yield-value"
#: fewest scored fields: below it the intervals are wide enough to say nothing
MIN_SCORED = 30


@dataclass
class OutcomesResult:
    """One season's outcomes against a version (``table``: :func:`outcome_figures`; ``requirements``: each minimum
    metric with its figure, interval, registered held-out value and judgement)."""

    name: str
    version: str
    alias: str | None
    features: str
    reported: str
    season: str
    as_of: str
    checkpoint: str
    training_seasons: list[str]
    baseline_seasons: list[str]
    scored: int
    without_report: int
    outside: dict[str, int]
    table: pd.DataFrame
    requirements: list[dict[str, Any]]
    interval: str
    data: str = "real"
    notes: list[str] = field(default_factory=list)
    registered: str = ""  # whether the version met its minimum metrics at registration (its governance's failures)

    def _gated(self, judgement: str) -> list[str]:
        return [r["metric"] for r in self.requirements if r["gated"] and r["judgement"] == judgement]

    def missed(self) -> bool:
        """Whether a minimum metric gating this checkpoint is missed by its whole interval (``--fail-on-miss``:
        exit 1). The interval covers the sampling of fields, not of seasons: an ordinary season can miss one."""
        return bool(self._gated("not met"))

    def verdict(self) -> str:
        missed, unsure, unmeasured = (self._gated(j) for j in ("not met", "interval straddles", "not measured"))
        gated = sum(1 for r in self.requirements if r["gated"])
        measured = gated - len(unmeasured)
        if not gated:
            return f"no minimum metric of the version gates checkpoint {self.checkpoint}"
        if missed:
            head = f"MISSED on this season's outcomes: {', '.join(missed)}"
        elif unsure:
            head = f"no minimum metric missed for certain: {measured - len(unsure)} of {measured} measured met"
        elif measured:
            head = f"meets the {measured} minimum metric(s) measured here"
        else:
            head = "no minimum metric could be measured here"
        tail = [f"interval straddles: {', '.join(unsure)}"] if unsure else []
        tail += [f"not measured here: {', '.join(unmeasured)}"] if unmeasured else []
        return head + (f" ({'; '.join(tail)})" if tail else "")

    def lines(self) -> list[str]:
        ver = f"version {self.version}" + (f" ({self.alias})" if self.alias else "")
        synth = " — SYNTHETIC data" if self.data == "synthetic" else ""
        out = [f"{self.name} {ver}, trained on seasons {', '.join(self.training_seasons)}: outcomes of season "
               f"{self.season}{synth}",
               f"  features: {self.features}, as of {self.as_of} (checkpoint {self.checkpoint})",
               f"  reported yields: {self.reported}: {self.scored} fields scored, {self.without_report} without a "
               "reported yield" + "".join(f", {k}: {v}" for k, v in self.outside.items())]
        if self.baseline_seasons:
            out.append(f"  naive baselines: each crop's mean reported yield over seasons "
                       f"{', '.join(self.baseline_seasons)} of the same file; the field's own mean of that crop "
                       "(else the crop's)")
        else:
            out.append(f"  naive baselines: none (the reported yields file has no season before {self.season})")
        out.append("")
        out.append(f"{'crop':<13} {'fields':>6} {'RMSE%':>6} {'95% interval':>13} {'bias%':>6} {'R²':>6} "
                   f"{'<P10':>5} {'>P90':>5} {'crop-mean RMSE%':>15} {'field-mean RMSE%':>16} {'skill R²':>8}")

        def num(v: float, spec: str) -> str:
            return format(v, spec) if math.isfinite(v) else "—"

        for r in self.table.to_dict("records"):
            iv = (f"{r['rmse_pct_lo']:.1f}–{r['rmse_pct_hi']:.1f}" if math.isfinite(r["rmse_pct_lo"]) else "—")
            out.append(f"{r['crop']:<13} {r['n']:>6} {num(r['rmse_pct'], '.1f'):>6} {iv:>13} "
                       f"{num(r['bias_pct'], '+.1f'):>6} {num(r['r2'], '.3f'):>6} "
                       f"{num(100 * r['below_p10'], '.1f'):>5} {num(100 * r['above_p90'], '.1f'):>5} "
                       f"{num(r['naive_crop_mean_rmse_pct'], '.1f'):>15} "
                       f"{num(r['naive_field_mean_rmse_pct'], '.1f'):>16} {num(r['skill_r2'], '+.3f'):>8}")
        out.append("bias%: the mean of P50 − reported yield, in % of the mean reported yield (+: the model "
                   "over-estimated); <P10, >P90: the shares of reported yields below P10 and above P90 (%; 10 each "
                   "when calibrated)")
        out.append("")
        out.append(f"minimum metrics of {ver} (as registered; {self.registered}), on these outcomes:")
        from pipelines.evaluation._bootstrap import interval_text

        for r in self.requirements:
            val = "—" if r["value"] is None else f"{r['value']:.3f}"
            iv = "" if r["interval"] is None else f" [{interval_text(*r['interval'])}]"
            # at another checkpoint than the metric's, the held-out value is that checkpoint's (mid_skill_r2_…): named
            other = r.get("validated_metric") not in (None, r["metric"])
            held = "" if r["validated"] is None else (f"; held out at registration"
                                                      f"{' (' + r['validated_metric'] + ')' if other else ''} "
                                                      f"{r['validated']:.3f}")
            ref = "" if r["gated"] else f" (gated at {r['gated_at']} only: for reference)"
            out.append(f"  {r['metric']} {r['op']} {r['threshold']:g}: {val}{iv}{held} — {r['judgement']}{ref}")
        if not self.requirements:
            out.append("  (the version records no minimum metric scored here)")
        out.append(f"verdict: {self.verdict()}")
        out.append("  (one season: the intervals cover the sampling of its fields, not the season-to-season spread "
                   "— an ordinary season can miss a minimum metric the version met when validated)")
        out.append(f"intervals: {self.interval}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, float):
                return None if not math.isfinite(v) else v
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (np.floating,)):
                return plain(float(v))
            return v

        return {"model": self.name, "version": self.version, "alias": self.alias, "features": self.features,
                "reported": self.reported, "season": self.season, "as_of": self.as_of, "checkpoint": self.checkpoint,
                "data": self.data, "training_seasons": self.training_seasons,
                "baseline_seasons": self.baseline_seasons, "scored": self.scored,
                "without_report": self.without_report, "outside": self.outside,
                "figures": [{k: plain(v) for k, v in r.items()} for r in self.table.to_dict("records")],
                "requirements": self.requirements, "verdict": self.verdict(), "missed": self.missed(),
                "registered": self.registered,
                "interval": self.interval, "notes": self.notes}


def _one_date(feats: pd.DataFrame, where: str) -> tuple[str, str]:
    """The features' one date and one season (a year: ``2009``, ``2009.0`` and `` 2009`` alike), else a one-line
    error."""
    from models.governance import season_text
    from pipelines.stability import one_date

    as_of = one_date(feats, where)
    seasons = sorted({season_text(x).strip() for x in feats["season"]})
    if len(seasons) != 1 or not seasons[0].isdigit():
        # a cell that is no year is never quoted (a name or a phone typed there stays out of the message)
        shown = (", ".join(seasons[:4]) + (", …" if len(seasons) > 4 else "") if all(x.isdigit() for x in seasons)
                 else f"{len(seasons)} value(s), not all years")
        raise UserInputError(f"{where}: features file holds season(s) {shown}; give one season's rows, a season "
                             "being a year (e.g. 2009)")
    return as_of, seasons[0]


def _reported_rows(history: pd.DataFrame, where: str) -> tuple[pd.DataFrame, int]:
    """The reported yields with each field-season once (seasons as their year's digits); the rows repeated with the
    same yield and crop are counted and dropped, a field-season reported twice with different values is refused in
    one line, naming the file's data rows (1-based, header excluded) and never a cell."""
    from models.governance import season_text

    h = history.assign(season=[season_text(x).strip() for x in history["season"]],
                       field_id=history["field_id"].astype(str).str.strip())
    h = h.dropna(subset=["reported_yield_t_ha"])
    key = ["field_id", "season"]
    dup = h.duplicated(key, keep=False)
    if not dup.any():
        return h, 0
    cols = [c for c in ("reported_yield_t_ha", "declared_crop") if c in h.columns]
    differ = h[dup].groupby(key)[cols].nunique().gt(1).any(axis=1)
    if differ.any():
        bad = h[dup].set_index(key).index.isin(differ[differ].index)
        rows = [int(i) + 1 for i in h[dup].index[bad]]
        raise UserInputError(f"{where}: {int(differ.sum())} field-season(s) reported twice with different yields "
                             f"or crops, at data rows {format_offenders(rows)}: keep one row of each")
    out = h.drop_duplicates(key, keep="last")
    return out, len(h) - len(out)


def _baselines(scored: pd.DataFrame, history: pd.DataFrame, season: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each scored row's naive yields from the reported file's seasons before ``season``, looked up by its
    *declared* crop (``scored["declared"]``: what the bank knew, not the crop the model took it for): that crop's
    mean, and the field's own mean of that crop (else the crop's); NaN throughout when the file has no such season or
    no ``declared_crop`` column (the crop of an earlier season is unknown then)."""
    nan = np.full(len(scored), np.nan)
    if "declared_crop" not in history.columns:
        return nan, nan, []
    past = history[history["season"].str.isdigit()]
    past = past[(past["season"].astype(int) < int(season)) & past["reported_yield_t_ha"].notna()]
    past = past[past["declared_crop"].astype(str).str.strip() != ""]
    if past.empty:
        return nan, nan, []
    crop_mean = past.groupby("declared_crop")["reported_yield_t_ha"].mean()
    cm = scored["declared"].map(crop_mean).to_numpy(dtype="float64")
    field_tab = past.groupby(["field_id", "declared_crop"])["reported_yield_t_ha"].mean()
    idx = pd.MultiIndex.from_arrays([scored["field_id"].astype(str), scored["declared"].astype(str)])
    fm = field_tab.reindex(idx).to_numpy(dtype="float64")
    return cm, np.where(np.isfinite(fm), fm, cm), sorted(past["season"].unique(), key=int)


def _requirements(gov: Any, checkpoint: str, by_crop: pd.DataFrame) -> list[dict[str, Any]]:
    """Each minimum metric of ``gov`` that names a figure scored here, with the season's figure, its interval, the
    held-out value at registration and the judgement; ``gated``: whether the version was required to meet it at
    ``checkpoint`` — a metric named for a checkpoint (``mid_skill_r2_maize``) gates that checkpoint, an unnamed one
    the version's first checkpoint (its metrics are unprefixed, :func:`models.evaluation.build_yield_release`); at
    another checkpoint an unnamed one is shown for reference only. Another checkpoint's metrics are left out."""
    cps = list(gov.checkpoints) or ["end"]
    first = cps[0]
    crops = sorted(set(gov.crops) | set(by_crop.index) - {"all"})
    out: list[dict[str, Any]] = []
    for r in gov.minimum_metrics:
        # the longest checkpoint named as a prefix (as Governance reads it: pre_harvest_…, not a checkpoint pre)
        named_cp = max((c for c in cps if r.metric.startswith(f"{c}_")), key=len, default=None)
        if named_cp is not None and named_cp != checkpoint:
            continue
        base = r.metric[len(named_cp) + 1:] if named_cp else r.metric
        named = _requirement_figure(base, crops)
        if named is None:
            continue
        fig, c = named
        have = c in by_crop.index
        value = float(by_crop.at[c, fig]) if have else math.nan
        lo = float(by_crop.at[c, f"{fig}_lo"]) if have else math.nan
        hi = float(by_crop.at[c, f"{fig}_hi"]) if have else math.nan
        held_key = r.metric if named_cp else (base if checkpoint == first else f"{checkpoint}_{base}")
        held = gov.metrics.get(held_key)
        out.append({"metric": r.metric, "op": r.op, "threshold": float(r.threshold),
                    "gated": named_cp == checkpoint or (named_cp is None and checkpoint == first),
                    "gated_at": named_cp or first,
                    "value": value if math.isfinite(value) else None,
                    "interval": [lo, hi] if math.isfinite(lo) and math.isfinite(hi) else None,
                    "validated": float(held) if held is not None and math.isfinite(float(held)) else None,
                    "validated_metric": held_key, "judgement": judge(r.op, float(r.threshold), lo, hi)})
    return out


def refuse_in_sample(name: str, version: str, trained: list[str] | None, season: str, where: str,
                     give: str) -> list[str]:
    """``trained`` (the seasons ``name``'s ``version`` trained on), or a one-line error when it records none or
    ``season`` is not after every one of them (its outcomes would be in sample, or scored by a model that learned from
    later seasons); ``give``: what the user should give instead (a later season's …)."""
    from models.governance import season_text

    if trained is None:
        raise UserInputError(f"{name} version {version} records no training seasons (registered by another trainer): "
                             "its outcomes cannot be told from its training data")
    years = [int(t) for t in (season_text(x) for x in trained) if t.isdigit()]
    if season in trained or (years and int(season) <= max(years)):
        raise UserInputError(f"{where}: season {season} is not after the seasons {name} version {version} trained on "
                             f"({', '.join(trained)}): its outcomes there are in sample, or scored by a model that "
                             f"learned from later seasons; give a later season's {give}")
    return trained


def model_performance(features: str | Path, reported: str | Path, *, name: str = ANALYSED,
                      version: str = "champion", checkpoint: str | None = None, interval_by: str = "field",
                      weather: str | Path | None = None) -> OutcomesResult:
    """Outcomes analysis of ``name``'s ``version`` (a number or an alias) on one date's FieldFeatures of a season
    (``features``) against that season's reported yields (``reported``: CSV/Parquet, ``field_id, season,
    reported_yield_t_ha`` and, for the naive baselines, ``declared_crop`` and earlier seasons' rows — a farm records
    file as ``history.csv``); every user error a one-line :class:`UserInputError`."""
    from models import registry
    from models.yield_value import crop_of, known_crop
    from pipelines.evaluation._bootstrap import check_bank_interval_by, describe, farmer_groups
    from pipelines.stability import read_features, region_mismatch
    from pipelines.train_yield import read_reported

    if name != ANALYSED:
        raise UserInputError(f"models performance: outcomes are analysed for {ANALYSED} only, not {name!r}")
    check_bank_interval_by(interval_by)
    fpath, rpath = Path(features), Path(reported)
    feats = read_features(fpath)
    as_of, season = _one_date(feats, str(fpath))
    feats = feats.assign(season=season)
    history, repeated = _reported_rows(read_reported(rpath, keep_crop=True), str(rpath))
    alias = None if version.isdigit() else version
    resolved = registry.resolve(name, version)
    v, model = str(resolved.version), resolved.model
    trained = refuse_in_sample(name, v, registry.training_seasons(name, v), season, str(fpath),
                               "features and reported yields")
    gov = registry.governance(name, v)
    if weather is not None:
        from features.weather import add_weather, read_weather

        feats = add_weather(feats, read_weather(weather))
    crop = crop_of(feats)
    # a field read as fallow is no crop it never learned (a walkthrough: 31 fallow fields counted so, "fallow or no
    # crop" holding only the 13 without a crop)
    has_crop = known_crop(feats) & ~crop.astype(str).str.strip().str.lower().eq("fallow").to_numpy()
    learned = has_crop & crop.isin(model.categories_["crop"]).to_numpy()
    # a crop it learned but was not validated on (its scope: maize and soybean of a Nebraska version that also learned
    # sorghum) is referred OUT_OF_MODEL_SCOPE in production: not scored here either (a review: sorghum's R² −19.3 sat
    # in the "all" row and the _all gates), counted apart
    unvalidated = learned & ~crop.isin(gov.crops).to_numpy() if gov.crops else np.zeros(len(feats), dtype=bool)
    learned = learned & ~unvalidated
    regions = feats["region"].astype(str)
    in_region = regions.isin(gov.regions).to_numpy() if gov.regions else np.ones(len(feats), dtype=bool)
    cps = (gov.row_checkpoints(crop, regions, feats["season"], feats["as_of"]) if gov.checkpoint_dates
           else np.full(len(feats), "", dtype=object))
    reached = pd.Series(cps[learned & in_region & (cps != "")]).value_counts()
    mismatch = region_mismatch(str(fpath), name, v, regions, gov.regions, learned)
    if mismatch is not None:  # said first: the checkpoints and the counts below follow from it
        raise mismatch
    if checkpoint is None:
        if reached.empty:
            if gov.checkpoint_dates:
                raise UserInputError(f"{fpath}: as of {as_of} no field of a crop in {name} version {v}'s scope has "
                                     f"reached a checkpoint it was validated at ({', '.join(gov.checkpoints)})")
            raise UserInputError(f"{name} version {v} records no checkpoint dates: name the checkpoint its "
                                 f"validation matches with --checkpoint ({', '.join(gov.checkpoints)})")
        checkpoint = str(reached.index[0])
    elif checkpoint not in gov.checkpoints:
        raise UserInputError(f"models performance --checkpoint {checkpoint!r}: {name} version {v} was validated at "
                             f"{', '.join(gov.checkpoints)}")
    elif gov.checkpoint_dates and checkpoint not in reached.index:
        got = ", ".join(f"{c} ({n})" for c, n in reached.items()) or "none"
        raise UserInputError(f"{fpath}: as of {as_of} no field of a crop in {name} version {v}'s scope is at "
                             f"checkpoint {checkpoint} (the fields are at: {got}); give that checkpoint's features")
    at_cp = (cps == checkpoint) if gov.checkpoint_dates else np.ones(len(feats), dtype=bool)
    this = history[history["season"] == season]
    if this.empty:
        seen = sorted({x for x in history["season"] if x.isdigit()}, key=int)
        raise UserInputError(f"{rpath}: no reported yield of season {season} (the file's seasons: "
                             f"{', '.join(seen[-6:]) or 'none a year'})")
    rep = this.set_index("field_id")["reported_yield_t_ha"]
    y = feats["field_id"].astype(str).str.strip().map(rep).to_numpy(dtype="float64")
    use = learned & in_region & at_cp
    outside: dict[str, int] = {}
    for what, mask in (("fallow or no crop", ~has_crop), ("crops it never learned", has_crop & ~learned & ~unvalidated),
                       ("crops outside its scope", unvalidated),
                       ("regions outside its scope", learned & ~in_region),
                       (f"not at checkpoint {checkpoint}", learned & in_region & ~at_cp)):
        if int(mask.sum()):
            outside[what] = int(mask.sum())
    scored_mask = use & np.isfinite(y)
    without = int((use & ~np.isfinite(y)).sum())
    n = int(scored_mask.sum())
    if n < MIN_SCORED:
        raise UserInputError(f"{rpath}: {n} fields of season {season} in {name} version {v}'s scope have a reported "
                             f"yield; an outcomes analysis needs at least {MIN_SCORED} (its intervals say nothing "
                             "below that)")
    order = np.argsort(feats["field_id"].astype(str).to_numpy()[scored_mask], kind="stable")  # field-id order
    sub = feats[scored_mask].iloc[order].reset_index(drop=True)
    q = model.predict_quantiles(sub).to_numpy(dtype="float64")
    scored_crop = crop_of(sub)
    declared = (sub["declared_crop"].astype(object).where(sub["declared_crop"].notna(), scored_crop).astype(str)
                if "declared_crop" in sub.columns else scored_crop.astype(str))
    rows = pd.DataFrame({"field_id": sub["field_id"].astype(str), "crop": scored_crop.to_numpy(dtype=object),
                         "declared": declared.to_numpy(dtype=object),
                         "reported": y[scored_mask][order],
                         "p10": q[:, 0], "p50": q[:, 1], "p90": q[:, 2]})
    cm, fm, base_seasons = _baselines(rows, history, season)
    rows["crop_mean"], rows["field_mean"] = cm, fm
    groups, n_groups = farmer_groups(sub, interval_by, fpath)
    table = outcome_figures(rows, groups)
    reqs = _requirements(gov, checkpoint, table.set_index("crop"))
    notes = []
    if not base_seasons:
        notes.append("no naive baseline: skill_r2 is not measured (give a reported yields file with declared_crop "
                     "and earlier seasons, e.g. the farm records' history.csv)")
    other = int((rows["crop"] != rows["declared"]).sum())
    if other:
        notes.append(f"{other} field(s) valued as another crop than declared: their figures sit under the crop "
                     "valued, their baselines under the crop declared")
    if unvalidated.any():
        by_crop = crop[unvalidated].astype(str).value_counts()
        said = ", ".join(f"{c} ({k})" for c, k in sorted(by_crop.items(), key=lambda x: (-x[1], x[0])))
        notes.append(f"{int(unvalidated.sum())} field(s) of crops {name} version {v} learned but is not validated for "
                     f"(its scope: {', '.join(gov.crops)}) are not scored, as underwriting refers them "
                     f"(OUT_OF_MODEL_SCOPE): {said}")
    if without:
        notes.append(f"{without} field(s) in scope without a reported yield are not scored: a harvest that failed "
                     "may go unreported (compare with the season's alerts)")
    if repeated:
        notes.append(f"{repeated} repeated row(s) of the reported yields file (same field, season, yield and crop) "
                     "read once")
    small = [f"{r['crop']} ({r['n']})" for r in table.to_dict("records") if r["crop"] != "all" and r["n"] < MIN_SCORED]
    if small:
        notes.append(f"under {MIN_SCORED} fields scored: {', '.join(small)} — their intervals are wide")
    failures = gov.failures()
    registered = ("met its minimum metrics at registration" if not failures
                  else f"at registration it missed: {'; '.join(failures)}")
    return OutcomesResult(name=name, version=v, alias=alias, features=fpath.name, reported=rpath.name, season=season,
                          as_of=as_of, checkpoint=checkpoint, training_seasons=list(trained),
                          baseline_seasons=base_seasons, scored=n, without_report=without, outside=outside,
                          table=table, requirements=reqs, interval=describe("scored fields", interval_by, n_groups),
                          data=gov.data, notes=notes, registered=registered)
