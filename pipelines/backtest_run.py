"""Policy backtest on a county's history (issue 11): would past lines have been covered by the harvest?

For every past season of a county and every checkpoint (``mid``, ``end`` by default) this
applies the credit policy as the production path would have on that date, then compares each
granted line with what the farmer REPORTED harvesting (``records/history.csv``; never
``truth/``): a line is *not covered* when realised crop value × advance rate falls below
limit × (1 + rate × term / 365) (:mod:`underwriting.backtest`). Beside it runs the naive
policy: a fixed amount per declared hectare.

The yardstick is fixed: the advance rate and annual rate of the profile in the SHIPPED policy
(:func:`_yardstick`), whichever policy is tested — a candidate policy's own advance rate had
moved the test under the naive baseline too (``--policy`` with in-kcc advance_rate 0.95: the
naive policy's identical lines 6 → 5 not covered), so a candidate was not compared against the
same test. A profile the shipped policy has not is measured by the tested policy's rates, said.

How each past season is underwritten:

- **Applications**: the county holds applications for the current season only; each farmer
  who has one is re-applied to every past season with the same finances (request, term, debt,
  income, costs), ``application_id`` ``<id>/<season>``. Farmers without fields in a season
  have no line that season.
- **Features**: :func:`pipelines.featurize.featurize` on the season's declared fields and
  the county's scenes as of the checkpoint (series cached under the county's cache), with the
  county's weather (``weather/daily.csv``) when it has one.
- **Crop type**: one fixed model (the registry's ``crop-type@champion``, a saved model folder,
  or none — then every field is CROP_TYPE_UNCERTAIN).
- **Yield (valuations)**: by default a model trained *leaving the tested season out*
  (``yield_model="loso"``): trained on the other past seasons' features (every checkpoint) and
  reported yields. The champion was fitted on every past season, the tested one included: its
  errors there are in-sample and the backtest would flatter the policy. ``"champion"`` or a saved
  model folder can be given instead (and must be for a county with one past season).
- **Prices**: a decision uses the latest table price dated on or before its date (:func:`prices_known_on`: a
  season-average price published after the harvest is replaced by the previous one a lender knew); the realised
  value uses the season's own table price.
- **Book**: empty (the historical book is unknown), so concentration caps do not apply.
- **Realised value** of a line: Σ over the farmer's fields of the season of declared area ×
  reported yield × the season's table price of the declared crop; a field with no reported
  yield counts 0 when no sowing was reported either (nothing planted), else the line's realised
  value is unknown and the line is counted apart (``n_unknown``), never as covered.
- REFER and DECLINE grant nothing and are not lines; their counts are reported.
- **Naive policy**: ``naive_per_ha`` minor units per declared hectare (capped by the request and
  the product cap, rounded to the step, below the minimum line no line). Default: the policy's
  own average limit per declared hectare over its lines (the same rate per hectare; the naive
  policy lends it to every applicant, so its total is larger), at the application's requested
  term. ``naive-same`` lends the naive amount on the policy's own lines, each at the policy
  line's term and under its crop (:func:`naive_same`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from models.money import format_minor
from pipelines.county import County
from pipelines.evaluation import UNLABELLED, synthetic_label
from underwriting.backtest import backtest, lines_from_decisions, naive_lines, realised_values, summarise_backtest
from underwriting.decisions import prices_known_on
from underwriting.policy import Policy, default_policy, load_policy

__all__ = ["BacktestRun", "BacktestError", "run_backtest", "render_backtest", "past_applications", "naive_same",
           "realised_table", "yield_gaps", "CHECKPOINTS"]

CHECKPOINTS = ("mid", "end")
Progress = Callable[[str], None]


class BacktestError(UserInputError):
    """A backtest cannot be run on this county with these settings."""

    def __init__(self, *, county: str, problem: str) -> None:
        self.county = county
        self.problem = problem
        super().__init__(f"backtest of {county}: {problem}")


@dataclass(frozen=True)
class BacktestRun:
    """Per-line results and the summary by policy, checkpoint, profile and crop."""

    county: str
    profile: str
    currency: str
    seasons: list[str]
    checkpoints: list[str]
    summary: pd.DataFrame
    lines: pd.DataFrame
    outcomes: pd.DataFrame
    reasons: pd.DataFrame
    naive_per_ha: int
    models: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    #: "synthetic", "real" (county.json says so) or unlabelled (:func:`pipelines.evaluation.synthetic_label`)
    label: str = UNLABELLED
    #: per checkpoint, how many of the policy's lines the naive policy lends nothing on (its amount below the minimum
    #: line): the naive-same rows count the policy's other lines
    naive_same_unlent: dict[str, int] = field(default_factory=dict)
    #: the test every line is measured by (:func:`_yardstick`): the advance rate and annual rate and whose they are
    yardstick: str = ""
    #: seasons whose declared fields lack a reported yield (:func:`yield_gaps`), what that left out; also warnings
    yield_gaps: list[str] = field(default_factory=list)
    #: the yield model was trained leave-one-season-out (:data:`LOSO_CAVEAT`), not a fixed ``--yield-model``
    loso: bool = False

    def to_dict(self) -> dict[str, Any]:
        def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in r.items()} for r in df.to_dict("records")]
        return {"caveats": caveats(self), "label": self.label,
                "county": self.county, "profile": self.profile, "currency": self.currency, "seasons": self.seasons,
                "checkpoints": self.checkpoints, "naive_per_ha": self.naive_per_ha, "models": self.models,
                "summary": rows(self.summary), "outcomes": rows(self.outcomes), "reasons": rows(self.reasons),
                "warnings": self.warnings, "naive_same_unlent": self.naive_same_unlent, "yardstick": self.yardstick,
                "yield_gaps": self.yield_gaps,
                "lines": rows(self.lines)}


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


# --- inputs of one past season ---------------------------------------------------------------------

def past_applications(applications: pd.DataFrame, fields: pd.DataFrame, season: str) -> pd.DataFrame:
    """The current applications re-applied to ``season`` (farmers with fields that season only)."""
    tokens = set(fields.loc[fields["season"].astype(str) == season, "farmer_token"].astype(str))
    apps = applications[applications["farmer_token"].astype(str).isin(tokens)].copy()
    apps["application_id"] = (apps["application_id"].astype(str) + "/" + season).astype("str")
    apps["season"] = pd.Series([season] * len(apps), index=apps.index, dtype="str")
    return apps.sort_values("application_id", kind="stable").reset_index(drop=True)


def yield_gaps(fields: pd.DataFrame, history: pd.DataFrame, season: str) -> tuple[int, int, int]:
    """Of ``season``'s declared fields: how many, how many have no reported yield (no row in history.csv, or a row
    with a sowing date and no yield — a row with neither is nothing sown) and how many of those have no row."""
    f = fields.loc[(fields["season"].astype(str) == season) & fields["declared_crop"].notna(), "field_id"].astype(str)
    h = history.loc[history["season"].astype(str) == season]
    h = h.assign(field_id=h["field_id"].astype(str)).drop_duplicates("field_id").set_index("field_id")
    no_row = ~f.isin(h.index)
    got = h.loc[f[~no_row].tolist()]
    sown_unreported = int((got["reported_yield_t_ha"].isna() & got["sowing_date"].notna()).sum())
    return len(f), int(no_row.sum()) + sown_unreported, int(no_row.sum())


def _gap_notes(c: County, history: pd.DataFrame, tested: Sequence[str], loso: bool) -> list[str]:
    """Seasons whose declared fields lack reported yields, with counts and what the run left out: a season with
    fields missing from history.csv on a line of its own; fields sown without a reported yield (a few in every
    season of the demo county) in one line."""
    notes, sown = [], []
    for s in c.past_seasons:
        train, score = loso and any(t != s for t in tested), s in tested
        if not (train or score):
            continue
        m, n, k = yield_gaps(c.fields(s), history, s)
        uses = [u for u, on in (("left out of the yield models trained on it (leave-one-season-out)", train),
                                ("their lines' realised value unknown (counted apart)", score)) if on]
        if k:
            notes.append(f"{s}: {k} of {m} declared fields have no row in history.csv"
                         + (f" and {n - k} more no reported yield" if n > k else "") + ": " + "; ".join(uses))
        elif n:
            sown.append((f"{s} {n} of {m}", train, score))
    if sown:
        uses = [u for u, on in (("left out of the training of the leave-one-season-out yield models",
                                 any(t for _, t, _ in sown)),
                                ("their lines' realised value unknown (tested)", any(x for _, _, x in sown))) if on]
        notes.append(f"declared fields sown without a reported yield: {', '.join(x for x, _, _ in sown)} — "
                     + ", or ".join(uses))
    return notes


def realised_table(apps: pd.DataFrame, fields: pd.DataFrame, history: pd.DataFrame, season: str) -> pd.DataFrame:
    """Per application and field: crop, region, season, declared area and the reported yield (see module doc)."""
    f = fields.loc[fields["season"].astype(str) == season,
                   ["field_id", "farmer_token", "declared_area_ha", "region", "declared_crop"]]
    f = f.rename(columns={"declared_crop": "field_crop"})
    h = history.loc[history["season"].astype(str) == season,
                    ["field_id", "declared_crop", "sowing_date", "reported_yield_t_ha"]]
    m = f.merge(h, on="field_id", how="left", indicator=True)
    y = m["reported_yield_t_ha"].astype("float64")
    diary = (m["_merge"] == "both").to_numpy()
    undeclared = m["field_crop"].isna().to_numpy()
    # nothing harvested: a diary row with no sowing and no yield, or a field with neither a declared crop nor a
    # diary row (fallow); a declared field without its diary row stays unknown, never 0
    y = y.where(y.notna() | ~((diary & m["sowing_date"].isna().to_numpy()) | (~diary & undeclared)), 0.0)
    m = m.assign(yield_t_ha=y)
    a = apps[["application_id", "farmer_token"]].merge(m, on="farmer_token", how="inner")
    return pd.DataFrame({"application_id": a["application_id"].astype("str"),
                         "crop": a["declared_crop"].astype("str"), "region": a["region"].astype("str"),
                         "season": season, "area_ha": a["declared_area_ha"].astype("float64").fillna(0.0),
                         "yield_t_ha": a["yield_t_ha"].astype("float64")})


def _declared(apps: pd.DataFrame, fields: pd.DataFrame, season: str) -> pd.DataFrame:
    """Applications with the farmer's total declared area and main declared crop (for the naive policy)."""
    f = fields.loc[fields["season"].astype(str) == season]
    area = f.groupby("farmer_token")["declared_area_ha"].sum()
    ranked = f.assign(a=f["declared_area_ha"].fillna(0.0), none=f["declared_crop"].isna())
    main = (ranked.sort_values(["farmer_token", "none", "a", "field_id"], ascending=[True, True, False, True],
                               kind="stable")
            .drop_duplicates("farmer_token").set_index("farmer_token")["declared_crop"])
    tok = apps["farmer_token"].astype(str)
    return apps.assign(declared_area_ha=tok.map(area).astype("float64").fillna(0.0).to_numpy(),
                       crop=tok.map(main).astype("str").to_numpy())


# --- models -------------------------------------------------------------------------------------------

def _crop_model(spec: Any) -> tuple[Any, str]:
    if spec is None or spec == "none":
        return None, "none (every field CROP_TYPE_UNCERTAIN)"
    if not isinstance(spec, str | Path):
        return spec, "given"
    from features.crop_type import CropTypeClassifier

    if spec == "champion":
        from models.registry import SaveLoadFlavour, resolve

        got = resolve("crop-type", "champion", flavour=SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
        return got.model, f"crop-type v{got.version} (champion; trained on past seasons, the tested one included)"
    p = Path(spec)
    if not p.is_dir():
        raise UserInputError(f"crop model {p}: not found (expected champion, none or a saved model folder)")
    return CropTypeClassifier.load(p), f"saved model {p.name}"


def _fixed_yield_model(spec: Any) -> tuple[Any, str]:
    from models.yield_value import YieldModel

    if spec == "champion":
        from models.registry import SaveLoadFlavour, resolve

        got = resolve("yield-value", "champion", flavour=SaveLoadFlavour("models.yield_value:YieldModel"))
        return got.model, f"yield-value v{got.version} (champion)"
    if isinstance(spec, str | Path):
        p = Path(spec)
        if not p.is_dir():
            raise UserInputError(f"yield model {p}: not found (expected loso, champion or a saved model folder)")
        return YieldModel.load(p), f"saved model {p.name}"
    return spec, "given"


def _fixed_desc(model: Any, name: str, regions: list[str], region: str, tested: Sequence[str]) -> str:
    """What is true of a fixed yield model here: the seasons and regions it was trained on beside the county's.

    It had said "in-sample on the tested seasons" of any county, also of one the champion never saw."""
    seasons = [str(x) for x in getattr(model, "seasons_", None) or []]
    if not seasons and not regions:
        return name
    span = (f"seasons {seasons[0]}–{seasons[-1]}" if len(seasons) > 1 else f"season {seasons[0]}") if seasons \
        else "unrecorded seasons"
    shared = [s for s in tested if s in seasons]
    where = ", ".join(regions) or "an unrecorded region"
    same = (f"the tested season{'s' * (len(shared) != 1)} {', '.join(shared)} among them: in-sample where this "
            "county's fields were in its training data" if shared
            else "none of the tested seasons among them: out of sample")
    return f"{name}: trained on {span} of {where}; this county is of {region}, {same}"


def _training_rows(feats: dict[tuple[str, str], pd.DataFrame], history: pd.DataFrame,
                   exclude: str) -> tuple[pd.DataFrame, np.ndarray]:
    parts = [f for (s, _), f in sorted(feats.items()) if s != exclude]
    X = pd.concat(parts, ignore_index=True)
    rep = history[["field_id", "season", "reported_yield_t_ha"]].astype({"season": "str"})
    X = X.merge(rep, on=["field_id", "season"], how="left")
    y = X.pop("reported_yield_t_ha").to_numpy(dtype="float64")
    return X, y


# --- the run --------------------------------------------------------------------------------------------

def run_backtest(county: County | str | Path, policy: Policy | str | Path | None = None, *,
                 cache_dir: str | Path | None = None, profile: str | None = None, checkpoints: Sequence[str] = CHECKPOINTS,
                 seasons: Sequence[str] | None = None, yield_model: Any = "loso", crop_model: Any = "champion",
                 naive_per_ha: int | None = None, prices: Any = None,
                 progress: Progress | None = None) -> BacktestRun:
    """Backtest ``policy`` on the past seasons of ``county`` (see the module docstring)."""
    from models.prices import read_prices
    from models.yield_value import YieldModel, value_fields
    from pipelines.featurize import featurize
    from underwriting.decisions import decide_batch

    c = county if isinstance(county, County) else County(county, cache_dir=cache_dir)
    pol = policy if isinstance(policy, Policy) else (load_policy(policy) if policy is not None else default_policy())
    prof_name = profile or c.profile
    if not prof_name:
        raise BacktestError(county=str(c.path), problem="no policy profile: county.json has no policy_profile; "
                                                        "give --profile")
    prof = pol.profile(prof_name)
    bad = [k for k in checkpoints if k not in ("emergence", "mid", "end")]
    if bad:
        raise BacktestError(county=str(c.path), problem=f"unknown checkpoint(s) {', '.join(bad)} "
                                                        "(expected emergence, mid, end)")
    given_s, given_k = [str(x).strip() for x in (seasons or ())], [str(x).strip() for x in checkpoints]
    twice = sorted({x for x in given_s if given_s.count(x) > 1} | {x for x in given_k if given_k.count(x) > 1})
    if twice:  # a season or checkpoint given twice counted its lines and realised values twice
        raise BacktestError(county=str(c.path), problem=f"{', '.join(twice)} given twice (each season and "
                                                        "checkpoint once)")
    tested = list(seasons) if seasons else list(c.past_seasons)
    unknown = [s for s in tested if s not in c.past_seasons]
    if unknown or not tested:
        raise BacktestError(county=str(c.path), problem=f"seasons {', '.join(unknown) or '(none)'} are not past "
                                                        f"seasons of the county ({', '.join(c.past_seasons)})")
    loso = isinstance(yield_model, str) and yield_model == "loso"
    if loso and len(c.past_seasons) < 2:
        raise BacktestError(county=str(c.path), problem="leave-one-season-out needs at least 2 past seasons, "
                                                        f"found {len(c.past_seasons)}: give --yield-model champion or "
                                                        "--yield-model FOLDER (a saved yield model)")
    say = progress or (lambda _msg: None)
    table = read_prices(prices)
    price_frame = table.to_frame()
    apps_now, history = c.applications(), c.history()
    empty_book = c.book().iloc[0:0]  # read (and checked) before any feature is built
    if (apps_now["currency"] != prof.currency).any():
        raise BacktestError(county=str(c.path), problem=f"applications are in {apps_now['currency'].iloc[0]}, "
                                                        f"profile {prof_name} lends in {prof.currency}")
    cm, cm_desc = _crop_model(crop_model)
    fixed, ym_desc = (None, "leave-one-season-out (trained without the tested season)") if loso \
        else _fixed_yield_model(yield_model)
    if fixed is not None:
        trained = [str(r) for r in (getattr(fixed, "categories_", None) or {}).get("region", [])]
        if trained and c.region not in trained:  # said before any feature is built (it had failed on the columns)
            raise BacktestError(county=str(c.path), problem=f"the yield model {ym_desc} was trained for region"
                                f"{'s' * (len(trained) != 1)} {', '.join(trained)}, the county is of region "
                                f"{c.region}: it values none of its fields — give --yield-model FOLDER trained on "
                                f"{c.region}, or leave-one-season-out (the default) on a county with 2 past seasons")
        ym_desc = _fixed_desc(fixed, ym_desc, trained, c.region, tested)
    warnings: list[str] = []
    if prof.refer_after_harvest:
        # the backtest decides past seasons at their checkpoints to set the policy's valuation against what the crop
        # realised; its end checkpoint lies after the harvest, where the origination rule HARVEST_PASSED (a new line
        # against a crop already cut) would refer every line and leave nothing to measure: off here, and said
        pol = replace(pol, profiles={**pol.profiles, prof_name: replace(prof, refer_after_harvest=False)})
        warnings.append(f"policy {pol.version} refer_after_harvest (HARVEST_PASSED) is off in the backtest: its "
                        "checkpoints after the harvest measure the valuation, not a new line's origination")
    feature_seasons = c.past_seasons if loso else tested
    feats: dict[tuple[str, str], pd.DataFrame] = {}
    dates: dict[tuple[str, str], dt.date] = {}
    weather = c.weather()  # the county's weather/daily.csv (None without one): wx_* features as of each checkpoint
    for s in feature_seasons:
        cps = c.checkpoints(s)
        for k in checkpoints:
            say(f"features {s} as of {k} ({cps[k]})")
            res = featurize(c.fields(s), c.imagery, s, cps[k], crop_model=cm, cache_dir=c.cache_dir,
                           weather=weather)
            feats[(s, k)], dates[(s, k)] = res.features, cps[k]
            warnings += [f"{s} {k}: {w}" for w in res.warnings]
    policy_lines, naive_in, realised_parts = [], [], []
    outcome_rows: list[dict[str, str]] = []
    reason_rows: list[dict[str, str]] = []
    for s in tested:
        fields = c.fields(s)
        apps = past_applications(apps_now, fields, s)
        if apps.empty:
            warnings.append(f"{s}: no applicant has fields this season")
            continue
        realised_parts.append(realised_table(apps, fields, history, s))
        naive_in.append(_declared(apps, fields, s).assign(season=s))
        model: Any = fixed
        if loso:
            say(f"yield model without {s}")
            X, y = _training_rows(feats, history, exclude=s)
            model = YieldModel().fit(X, y)
        for k in checkpoints:
            f = _with_crop(feats[(s, k)])
            vals = value_fields(f, model.predict_quantiles(f), table, model_name="yield-value",
                                model_version=f"backtest-without-{s}" if loso else "fixed")
            known, late = prices_known_on(price_frame, s, dates[(s, k)])
            warnings += [f"{s} {k}: {w}" for w in late]
            items = decide_batch(apps, f, vals, known, empty_book, pol, prof_name, dates[(s, k)],
                                 provenance={"backtest": True, "checkpoint": k})
            got = lines_from_decisions(items).assign(checkpoint=k)
            outcome_rows += [{"season": s, "checkpoint": k, "outcome": o} for o in got["outcome"]]
            reason_rows += [{"checkpoint": k, "outcome": i.outcome, "code": r["code"]}
                            for i in items for r in i.body["reasons"] if r.get("principal")]
            reason_rows += [{"checkpoint": k, "outcome": i.outcome, "code": f"refer:{code}"}
                            for i in items for code in i.body.get("refer_reasons", [])]
            policy_lines.append(got[got["outcome"].isin(["APPROVE", "REDUCE"])])
    if not policy_lines:
        raise BacktestError(county=str(c.path), problem="no applications to backtest in any past season")
    realised = realised_values(pd.concat(realised_parts, ignore_index=True), price_frame)
    lines = pd.concat(policy_lines, ignore_index=True).assign(policy="agcredit")
    declared = pd.concat(naive_in, ignore_index=True)
    per_ha = naive_per_ha if naive_per_ha is not None else _policy_per_ha(lines, declared)
    naive = pd.concat([naive_lines(d, per_ha, pol, prof_name).assign(season=s, checkpoint="any")
                       for s, d in declared.groupby("season", sort=True)], ignore_index=True).assign(policy="naive")
    same = naive_same(lines, naive)
    yard, yard_desc = _yardstick(pol, prof_name, warnings)
    result = backtest(pd.concat([lines, naive, same], ignore_index=True), realised, yard, prof_name)
    gaps = _gap_notes(c, history, tested, loso)
    if not result["known"].any():
        gaps.insert(0, "no line has a known realised value: nothing is measured (every share n/a) — the tested "
                       "seasons' declared fields have no reported yield in history.csv")
    warnings += [f"reported yields: {g}" for g in gaps]
    summary = pd.concat([summarise_backtest(result, by=("policy", "checkpoint", "profile", "crop")),
                         summarise_backtest(result.assign(crop="all"), by=("policy", "checkpoint", "profile", "crop"))],
                        ignore_index=True).sort_values(["policy", "checkpoint", "crop"], kind="stable")
    outcomes = (pd.DataFrame(outcome_rows).groupby(["checkpoint", "outcome"]).size().rename("n").reset_index()
                if outcome_rows else pd.DataFrame(columns=["checkpoint", "outcome", "n"]))
    reasons = (pd.DataFrame(reason_rows).groupby(["checkpoint", "outcome", "code"]).size().rename("n").reset_index()
               .sort_values(["checkpoint", "outcome", "n", "code"], ascending=[True, True, False, True], kind="stable")
               .reset_index(drop=True) if reason_rows else pd.DataFrame(columns=["checkpoint", "outcome", "code", "n"]))
    cols = ["policy", "season", "checkpoint", "application_id", "crop", "limit", "term_days", "repayment_due",
            "realised_value", "realised_cover", "known", "uncovered"]
    return BacktestRun(county=str(c.path), profile=prof_name, currency=prof.currency, seasons=tested,
                       checkpoints=list(checkpoints), summary=summary.reset_index(drop=True),
                       lines=result[cols].sort_values(["policy", "season", "checkpoint", "application_id"],
                                                      kind="stable").reset_index(drop=True),
                       outcomes=outcomes, reasons=reasons, naive_per_ha=int(per_ha),
                       models={"yield": ym_desc, "crop_type": cm_desc}, warnings=sorted(set(warnings)),
                       label=synthetic_label(c.path),
                       naive_same_unlent={str(k): int((g["limit"] <= 0).sum())
                                          for k, g in same.groupby("checkpoint", sort=True)}, yardstick=yard_desc,
                       yield_gaps=gaps, loso=loso)


def _yardstick(pol: Policy, profile: str, warnings: list[str]) -> tuple[Policy, str]:
    """The policy whose profile's advance rate and annual rate define "not covered" for every line, and its words.

    The shipped policy's profile: a candidate policy (``--policy``) is measured by the same test as the shipped one
    and the naive baseline. A profile the shipped policy has not: the tested policy's own, with a warning.
    """
    shipped = default_policy()
    yard, whose = (shipped, f"the shipped policy {shipped.version}") if profile in shipped.profiles \
        else (pol, f"the tested policy {pol.version}")
    if yard is pol:
        warnings.append(f"profile {profile} is not in the shipped policy: not covered is measured with the tested "
                        f"policy {pol.version}'s own advance rate and annual rate")
    p = yard.profile(profile)
    return yard, (f"advance rate {p.advance_rate:g} and annual rate {p.annual_rate:g} of {whose}'s {profile} "
                  "profile, for every policy tested and the naive baseline")


def naive_same(lines: pd.DataFrame, naive: pd.DataFrame) -> pd.DataFrame:
    """The naive policy on the very loans the policy granted at each checkpoint (``policy`` "naive-same"): the
    like-for-like comparison (the "naive" rows lend to every applicant, a different population). Each policy line
    of ``lines`` (season, checkpoint, application_id, crop, term_days) gets the naive amount of its application in
    its season (matched on season and application id: an id is only unique within a season), at the policy line's
    term and under its crop — so each row differs from the policy's line in the amount only. The term sets the
    interest the line must repay: at the application's requested term (152–240 days on the demo county, against
    the policy's 1–9 days at ``end``) naive-same was charged interest the policy's line was not (4.9% not covered
    instead of 3.7%). The naive rows' crop is the farmer's main declared crop, which put loans the policy classed
    as another crop under that one (cotton 55 naive-same vs 40 policy lines on the demo county)."""
    key = ["season", "application_id"]
    nv = naive.assign(season=naive["season"].astype(str), application_id=naive["application_id"].astype(str))
    nv = nv.drop(columns=[c for c in ("crop", "checkpoint", "policy", "term_days") if c in nv.columns])
    nv = nv.drop_duplicates(key)
    own = lines[["season", "checkpoint", "application_id", "crop", "term_days"]].astype(
        {"season": str, "application_id": str})
    same = own.merge(nv, on=key, how="inner", validate="many_to_one")
    cols = list(dict.fromkeys([*naive.columns, "checkpoint", "policy"]))
    return same.assign(policy="naive-same")[cols].reset_index(drop=True)


def _with_crop(f: pd.DataFrame) -> pd.DataFrame:
    """A ``crop`` column: as :func:`models.yield_value.crop_of` picks it, else ``fallow`` (nothing to value).

    ``models.yield_value.crop_of`` turns a field with neither into the string ``"nan"`` and the
    valuation then fails on a missing price; a field nobody says is cropped is worth nothing.
    """
    crop = pd.Series([None] * len(f), index=f.index, dtype=object)
    for col in ("crop", "crop_type", "declared_crop"):  # the order of crop_of
        if col in f.columns:
            crop = crop.where(crop.notna(), f[col].astype(object))
    return f.assign(crop=crop.where(crop.notna(), "fallow").astype("str"))


def _policy_per_ha(lines: pd.DataFrame, declared: pd.DataFrame) -> int:
    """Average policy limit per declared hectare over the policy's lines (0 when it granted none)."""
    d = declared.assign(application_id=declared["application_id"].astype(str))[["application_id",
                                                                                "declared_area_ha"]]
    m = lines.merge(d, on="application_id", how="left")
    area = float(m["declared_area_ha"].sum())
    return int(m["limit"].sum() / area) if area > 0 else 0


# --- rendering -----------------------------------------------------------------------------------------

#: what this backtest knows that the lender would not have known on the decision date (printed with every run)
CAVEATS = (
    "decisions use the latest table price dated on or before the decision (a season average published after the "
    "harvest is replaced by the previous one known), realised values the season's own: price risk is tested only as "
    "far as the table's prices move",
    "the crop-type model and its phenology calibration were fitted on every past season, the tested one included",
    "'end' is the end of the season's imagery window, after the harvest: 'mid' is the figure a lender deciding "
    "mid-season would have had",
)


#: printed with a leave-one-season-out yield model only (a fixed model's training seasons and region are in its line)
LOSO_CAVEAT = "the leave-one-season-out yield model is trained on later seasons too"


def caveats(run: BacktestRun) -> list[str]:
    """The run's caveats: :data:`CAVEATS`, and :data:`LOSO_CAVEAT` when its yield model was leave-one-season-out."""
    return [*CAVEATS[:2], *([LOSO_CAVEAT] if run.loso else []), *CAVEATS[2:]]


def render_backtest(run: BacktestRun) -> str:
    """The summary as a text table (shares of known lines not covered by the realised harvest)."""
    cur = run.currency
    out = [f"Policy backtest of {run.county} ({run.label}; {run.profile}, {cur}); seasons {', '.join(run.seasons)}; "
           f"checkpoints {', '.join(run.checkpoints)}",
           f"  yield model: {run.models['yield']}; crop type: {run.models['crop_type']}",
           f"  naive policy: {format_minor(run.naive_per_ha, cur)} per declared ha",
           "  not covered = realised value × advance rate < limit × (1 + rate × term/365); reported harvests",
           *([f"  yardstick: {run.yardstick}"] if run.yardstick else []),
           *(f"  reported yields missing: {g}" for g in run.yield_gaps),
           "  naive-same = the naive amount on the very loans the policy granted at that checkpoint, each at its "
           "policy line's term and under its crop (like for like: only the amount differs)",
           *(["  naive-same: the naive amount is below the minimum line on "
              + ", ".join(f"{n} ({k})" for k, n in run.naive_same_unlent.items())
              + " of the policy's lines: it lends nothing there, and those lines are not in its rows"]
             if any(run.naive_same_unlent.values()) else []),
           *(f"  caveat: {c}" for c in caveats(run)), "",
           f"{'policy':<10} {'checkpoint':<10} {'crop':<12} {'lines':>6} {'unknown':>8} {'not covered':>12} "
           f"{'share':>7} {'total limit':>22}"]
    for r in run.summary.itertuples():
        known = int(r.n_lines) - int(r.n_unknown)  # from the counts: the 4-decimal share rounded twice (3/74: 4.0%)
        share = "n/a" if known <= 0 else f"{int(r.n_uncovered) / known:.1%}"
        out.append(f"{r.policy:<10} {r.checkpoint:<10} {r.crop!s:<12} {r.n_lines:>6} {r.n_unknown:>8} "
                   f"{r.n_uncovered:>12} {share:>7} {format_minor(int(r.limit_total), cur):>22}")
    if len(run.outcomes):
        out += ["", "Policy outcomes (REFER and DECLINE grant no line): " + "; ".join(
            f"{k}: " + ", ".join(f"{o.outcome} {o.n}" for o in g.itertuples())
            for k, g in run.outcomes.groupby("checkpoint", sort=True))]
    for (k, o), g in run.reasons.groupby(["checkpoint", "outcome"], sort=True):
        if o in ("DECLINE", "REFER"):
            out.append(f"  {k} {o}: most frequent principal reasons: "
                       + ", ".join(f"{r.code} ({r.n})" for r in g.head(4).itertuples()))
    if run.warnings:
        out.append(f"{len(run.warnings)} warning(s); first: {run.warnings[0]}")
    out.append(f"({run.label} figures)")
    return "\n".join(out)
