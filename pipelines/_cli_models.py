"""``agcredit models list|show|promote|relocate|stability|performance|impact``: the MLflow model registry, our alias
history, the monitoring of a version in use (its inputs' stability, its outcomes) and what promoting another would
change (its impact on a batch of decisions)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from features.errors import UserInputError
from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    BOOK_HELP,
    FEATURES_HELP,
    IMAGERY_HELP,
    POLICY_HELP,
    PROFILE_HELP,
    REUNDERWRITING_HELP,
    THEN_HELP,
    echo,
    err,
    models_app,
    parse_date,
    user_errors,
)

_KEY_METRICS = ("r2_all", "rmse_pct_all", "below_p10_all", "above_p90_all")


def _fmt_metrics(metrics: dict[str, Any], limit: int | None = 8) -> str:
    """The key metrics (or the first ``limit`` by name; ``None``: every metric, by name)."""
    keys = sorted(metrics) if limit is None else [k for k in _KEY_METRICS if k in metrics] or sorted(metrics)[:limit]
    more = len(metrics) - len(keys)
    txt = ", ".join(f"{k}={float(metrics[k]):.4g}" for k in keys)
    return (txt or "none") + (f" (+{more} more)" if more > 0 else "")


def refuse_personal_data(command: str, texts: dict[str, str | None]) -> None:
    """Refuse option values holding personal data (phone, ID number, e-mail): they would be kept in the append-only
    alias history (``--operator`` and ``--approved-by``, and ``--reason`` or ``--force-reason``)."""
    from features.errors import UserInputError
    from underwriting._pii_text import personal_data_kind

    if "--operator" in texts and not texts["--operator"]:  # the operator the registry records instead
        texts = {**texts, "AGCREDIT_OPERATOR": os.environ.get("AGCREDIT_OPERATOR")}
    for item, text in texts.items():
        kind = personal_data_kind(text) if text else None
        if kind is not None:
            fix = ("give your staff ID" if item in ("--operator", "AGCREDIT_OPERATOR") else
                   "give the approver's staff ID" if item == "--approved-by" else "describe the reason without it")
            raise UserInputError(f"{command} {item}: looks like personal data ({kind}); the alias history is "
                                 f"permanent — {fix}")
    from underwriting._free_text import PERSON_MAX_CHARS, REASON_MAX_CHARS, plain_text_problem

    for item, text in texts.items():  # one line of plain text, as an override's (a review forged a history line)
        long = REASON_MAX_CHARS if "reason" in item else PERSON_MAX_CHARS
        problem = plain_text_problem(item, text, long) if text else None
        if problem is not None:
            raise UserInputError(f"{command} {problem.replace('records keep', 'the alias history keeps')}")


@models_app.command("list")
@user_errors
def list_cmd() -> None:
    """List registered models with their aliases and number of versions."""
    from models.registry import list_models, safe_uri, tracking_uri

    rows = list_models()
    echo(f"registry: {safe_uri(tracking_uri())}")
    if not rows:
        echo("no registered models (register one with: agcredit train yield ...)")
        return
    for r in rows:
        aliases = ", ".join(f"{a}=v{v}" for a, v in r["aliases"].items()) or "no aliases"
        echo(f"{r['name']}: {r['n_versions']} version(s), latest v{r['latest']}; {aliases}")


@models_app.command("show")
@user_errors
def show_cmd(name: str = typer.Argument(..., help="Registered model name, e.g. yield-value.")) -> None:
    """Show a model's versions (aliases, metrics, governance) and its alias history."""
    from models.registry import describe

    d = describe(name)
    echo(f"{d['name']} (registry: {d['tracking_uri']})")
    echo("aliases: " + (", ".join(f"{a}=v{v}" for a, v in d["aliases"].items()) or "none"))
    for v in d["versions"]:
        gov = v["governance"]
        tag = f" [{', '.join(v['aliases'])}]" if v["aliases"] else ""
        echo(f"v{v['version']}{tag} created {v['created']} run {v['run_id']}")
        echo(f"  metrics: {_fmt_metrics(v['metrics'], None)}")  # all of them: model risk reads them here
        echo(f"  governance: {gov.summary()}")
        if gov.notes:
            echo(f"  notes: {gov.notes}")
        data = v.get("training_data") or {}
        echo("  training data: " + ("; ".join(f"{k} sha256:{d.get('sha256', '?')} ({d.get('rows', '?')} rows x "
                                              f"{d.get('columns', '?')} columns)" for k, d in data.items())
                                    or "not recorded (registered before training-data hashes)"))
        from pipelines._crop_governance import unrecorded_farm_tables, unrecorded_words

        missing = unrecorded_farm_tables(d["name"], data)
        if missing:
            echo(f"    {unrecorded_words(missing)}")
        prov = v.get("provenance") or {}
        echo("  trained by: " + (f"source sha256:{prov['source_sha256'][:16]}; {prov.get('libraries', '?')}"
                                 if prov.get("source_sha256") else "not recorded (registered before provenance tags)"))
        for f in gov.failures()[:5]:
            echo(f"    below minimum: {f}")
        if v.get("plots"):  # open with `mlflow artifacts download --artifact-uri URI` or in `mlflow ui`
            echo(f"  plots: {', '.join(v['plots'])}")
    from underwriting._free_text import escaped

    echo("alias history (oldest first):")
    if not d["history"]:
        echo("  none")
    for h in d["history"]:
        move = f"{h['alias']}: v{h['previous_version'] or '-'} -> v{h['version'] or '-'}"
        forced = " FORCED" if h["forced"] else ""
        if h["forced"] or h.get("approved_by"):  # a forced move before approvals were recorded: "approved by none"
            forced += f", approved by {h.get('approved_by') or 'none'}"
        since = f"; in force from {h['effective']}" if h.get("effective") else ""
        over = f"; overriding: {'; '.join(map(str, h['failures']))}" if h["forced"] and h.get("failures") else ""
        checked = f"; {h['evidence']}" if h.get("evidence") else ""
        who, why = escaped(str(h["operator"])), escaped(str(h["reason"]))  # a history written before: one line each
        if h.get("approved_by"):
            forced = forced.replace(f"approved by {h['approved_by']}", f"approved by {escaped(str(h['approved_by']))}")
        echo(f"  {h['at']} {move} by {who}{forced}: {why}{since}{over}{checked}; {_fmt_metrics(h['metrics'], 4)}")


@models_app.command("promote")
@user_errors
def promote_cmd(
    name: str = typer.Argument(..., help="Registered model name, e.g. yield-value."),
    version: str = typer.Argument(..., help="Version number to make champion."),
    force: bool = typer.Option(False, "--force", help="Promote even below the minimum metrics (needs --reason and "
                               "--approved-by)."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the alias history)."),
    operator: str = typer.Option(None, "--operator", help="Operator ID (default: AGCREDIT_OPERATOR or the OS user)."),
    approved_by: str | None = typer.Option(None, "--approved-by", help="Staff ID of a second operator approving a "
                                           "forced promotion (required with --force below the minimum metrics; not "
                                           "the operator; recorded in the alias history)."),
    effective: str | None = typer.Option(None, "--effective", help="YYYY-MM-DD: the date from which VERSION is in "
                                         "force for decisions (default: today; not after today) — a simulated or "
                                         "back-filled season's; a past-dated report takes the champion of its date "
                                         "by it. VERSION already champion: its promotion is re-dated."),
    shadow_store: str | None = typer.Option(None, "--shadow-store", help="A decision store (read only) holding "
                                            "VERSION's shadow decisions: refused unless it ran in shadow over a "
                                            "whole season (see models shadow), or --force --reason --approved-by "
                                            "(the shadow failure recorded in the alias history)."),
    shadow_season: str | None = typer.Option(None, "--shadow-season", help="With --shadow-store: the season to "
                                             "judge (default: the latest season with shadow rows of VERSION)."),
    shadow_calendar: Path | None = typer.Option(None, "--shadow-calendar", help="With --shadow-store: a season "
                                                "calendar CSV the season's end is read from (default: the shipped "
                                                "one with the bank's own regions')."),
) -> None:
    """Move the champion alias to VERSION (refused below its minimum metrics, or with --shadow-store without a whole
    season in shadow, unless --force --reason --approved-by)."""
    from models.registry import promote
    from pipelines._cli_shadow import promotion_evidence, said_evidence

    day = parse_date(effective, "--effective")
    refuse_personal_data("models promote", {"--reason": reason, "--operator": operator, "--approved-by": approved_by})
    # (None without --shadow-store: said on stderr once promoted — the promotion's lines on stdout are today's)
    evidence, checked, kept = promotion_evidence(name, version, shadow_store, shadow_season, shadow_calendar)
    r = promote(name, version, operator=operator, reason=reason, force=force, approved_by=approved_by, effective=day,
                evidence_failures=evidence, evidence_checked=kept)
    by = f", approved by {r['approved_by']}" if r.get("approved_by") else ""
    if r.get("backfilled"):
        echo(f"{r['model']}: v{r['version']} is recorded already as the champion from {r['backfilled']} (a back-filled "
             f"window; today's champion v{r['previous']}): nothing recorded")
    elif r.get("unchanged"):
        echo(f"{r['model']}: champion is already v{r['version']}: nothing recorded" + (
            f"; by effective date v{r['today_champion']} is in force today: the champion alias moved to it (recorded)"
            if r.get("today_champion") else ""))
    elif r.get("redated"):
        echo(f"{r['model']}: champion v{r['version']} re-dated by {r['operator']}{by}; now {_in_force(r)}")
    else:
        prev = f"v{r['previous']}" if r["previous"] else "none"
        head = (f"champion is now v{r['version']} (was {prev})" if not r.get("today_champion") else
                f"v{r['version']} recorded as the champion of earlier dates (today's was {prev})")
        echo(f"{r['model']}: {head}, by {r['operator']}{by}; {_in_force(r)}")
        below = [f for f in r["failures"] if f not in evidence]
        if below:
            echo(f"forced below minimum metrics: {'; '.join(below[:5])}")
        if evidence and r["failures"]:
            echo(f"forced without a season in shadow: {'; '.join(e.removeprefix('shadow: ') for e in evidence)}")
    said_evidence(checked)


def _in_force(r: dict[str, Any]) -> str:
    """``in force from D`` of a promotion (:func:`models.registry.promote`'s result) — with the days it truly holds
    where another recorded move decides the champion of some of the dates from D by effective date."""
    text = f"in force from {r.get('in_force_from') or r['effective']}"
    if r.get("in_force_from"):
        text += f" (its move dated {r['in_force_from']} stands: the alias history is append-only)"
    if r.get("until"):
        by = f"v{r['until_version']}'s promotion" if r.get("until_version") else "the champion alias's removal"
        text += (f" until {r['until']}, when {by} (recorded {r['until_recorded']}, in force from {r['until']}) takes "
                 "over by effective date")
    if r.get("again_from"):  # its own later-dated move stands after that (e.g. today's champion re-dated earlier)
        text += f", and again from {r['again_from']} by its own later-dated move"
    if r.get("today_champion"):  # a back-filled window: the alias stays on (goes back to) today's champion
        how = "is now" if r.get("redated") else "stays"  # a re-dated champion: the alias moved off it
        text += f"; today's champion {how} v{r['today_champion']} (the champion alias follows the effective dates)"
    return text


@models_app.command("relocate")
@user_errors
def relocate_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be rewritten; change nothing."),
) -> None:
    """Point a moved or copied SQLite registry at its own artifacts folder (MLflow records absolute locations)."""
    from models.registry import relocate_store

    db, counts = relocate_store(dry_run=dry_run)
    if not counts:
        echo(f"registry {db}: every artifact location is already under {db.parent / 'artifacts'}; nothing to do")
        return
    what = ", ".join(f"{t} {n}" for t, n in counts.items())
    verb = "would rewrite" if dry_run else "rewrote"
    echo(f"registry {db}: {verb} the artifact locations to {db.parent / 'artifacts'} ({what})")


@models_app.command("stability")
@user_errors
def stability_cmd(
    name: str = typer.Argument("yield-value", help="Registered model name: yield-value or crop-type (their "
                               "versions carry an input profile)."),
    features: Path | None = typer.Option(None, "--features", help="yield-value: one date's FieldFeatures Parquet of "
                                         "a season's fields (agcredit features build --out; at least half a training "
                                         "season's rows)."),
    fields: Path | None = typer.Option(None, "--fields", help="crop-type: the season's field polygons (the "
                                       "model's inputs are built from their series as a feature build reads them)."),
    imagery: str | None = typer.Option(None, "--imagery", help="crop-type: scene folder, index.csv, series table, "
                                       "sentinelhub or sentinelhub-stats (the fields' series are built from it)."),
    season: str | None = typer.Option(None, "--season", help="crop-type: the season, named by its harvest year."),
    as_of: str | None = typer.Option(None, "--as-of", help="crop-type: the date (YYYY-MM-DD): nothing observed "
                                     "after it is read."),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="crop-type: cache folder for series."),
    version: str = typer.Option("champion", "--version", help="A version number or an alias."),
    checkpoint: str | None = typer.Option(None, "--checkpoint", help="The training checkpoint to compare with "
                                          "(default: yield-value, the one nearest the rows' date; crop-type, the one "
                                          "the model reads most of the fields at on the date)."),
    every: bool = typer.Option(False, "--all", help="List every input, the stable ones too."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (every input)."),
) -> None:
    """Population stability (PSI) of each model input: a season's scored rows against the version's training rows,
    beside how far each training season lay from the others. Exit 1 when the season has more unusual inputs (PSI >=
    0.25 and above every training season's) than any training season had, held out against the others; else 0."""
    import json

    from pipelines.stability import CROP_PROFILED, PROFILED, crop_input_stability, input_stability

    if name not in (PROFILED, CROP_PROFILED):
        raise UserInputError(f"models stability: input profiles are kept for {PROFILED} and {CROP_PROFILED} only, "
                             f"not {name!r}")
    if name == CROP_PROFILED:
        missing = [o for o, v in (("--fields", fields), ("--imagery", imagery), ("--season", season),
                                  ("--as-of", as_of)) if v is None]
        if features is not None or missing:
            raise UserInputError("models stability crop-type: give --fields, --imagery, --season and --as-of (the "
                                 "model's inputs are built from the fields' series)"
                                 + (f"; missing: {', '.join(missing)}" if missing else "")
                                 + ("; --features is the yield model's" if features is not None else ""))
        day = parse_date(as_of, "--as-of")
        assert fields is not None and imagery is not None and season is not None and day is not None
        res = crop_input_stability(fields, imagery, season, day, version=version, checkpoint=checkpoint,
                                   cache_dir=cache)
    else:
        given = [o for o, v in (("--fields", fields), ("--imagery", imagery), ("--season", season),
                                ("--as-of", as_of), ("--cache", cache)) if v is not None]
        if features is None or given:
            raise UserInputError(f"models stability {name}: give --features (one date's features build)"
                                 + (f", not {', '.join(given)} (crop-type's)" if given else ""))
        res = input_stability(features, name=name, version=version, checkpoint=checkpoint)
    for w in res.warnings:
        err(f"warning: {w}")
    echo(json.dumps(res.to_json(), indent=2, sort_keys=True) if as_json else "\n".join(res.lines(every=every)))
    if res.failed():
        raise typer.Exit(code=1)


@models_app.command("performance")
@user_errors
def performance_cmd(
    name: str = typer.Argument("yield-value", help="Registered model name: yield-value (reported yields) or "
                               "crop-type (verified crops)."),
    features: Path = typer.Option(..., "--features", help="One date's FieldFeatures Parquet of the season whose "
                                  "harvest was reported (agcredit features build --out, as underwriting read it)."),
    reported: Path | None = typer.Option(None, "--reported", help="yield-value: reported yields CSV/Parquet: "
                                         "field_id, season, reported_yield_t_ha; with declared_crop and earlier "
                                         "seasons' rows (the farm records' history.csv) for the naive baselines."),
    verified: Path | None = typer.Option(None, "--verified", help="crop-type: verified crops CSV/Parquet: "
                                         "field_id, season, verified_crop (a field inspection, sale records; "
                                         "fallow: nothing planted)."),
    version: str | None = typer.Option(None, "--version", help="A version number or an alias (yield-value: default "
                                       "champion; crop-type: default the version the features were built with)."),
    checkpoint: str | None = typer.Option(None, "--checkpoint", help="The validated checkpoint whose rows to score "
                                          "(default: the one the fields reached on the features' date)."),
    weather: Path | None = typer.Option(None, "--weather", help="yield-value: daily weather CSV, when the features "
                                        "were built without the weather the version reads."),
    policy: Path | None = typer.Option(None, "--policy", help="crop-type: the credit policy whose evidence "
                                       "thresholds to read the probabilities by (default: the shipped one)."),
    profile: str | None = typer.Option(None, "--profile", help="crop-type: the policy profile whose thresholds to "
                                       "read (needed only when the profiles' differ)."),
    interval_by: str = typer.Option("field", "--interval-by", help="field (default) or farmer: the intervals' "
                                    "bootstrap draws each farmer's fields whole."),
    fail_on_miss: bool = typer.Option(False, "--fail-on-miss", help="Exit 1 when a minimum metric gating the "
                                      "checkpoint is missed by its whole interval (a monitoring job's failure; an "
                                      "ordinary season can miss one: see the README)."),
    as_json: bool = typer.Option(False, "--json", help="Print the analysis as JSON."),
) -> None:
    """Outcomes analysis: a season's reported yields against the yield version's P10/P50/P90, or its verified crops
    against the crop types underwriting read, beside naive baselines, and the version's minimum metrics judged on
    them. Exit 0 (with --fail-on-miss: 1 when one is missed by its whole interval)."""
    import json

    from pipelines.crop_outcomes import ANALYSED as CROP
    from pipelines.outcomes import ANALYSED as YIELD

    if name == CROP:
        wrong = [o for o, v in (("--reported", reported), ("--weather", weather)) if v is not None]
        if wrong:
            raise UserInputError(f"models performance crop-type: {', '.join(wrong)} is yield-value's (crop-type "
                                 "reads --verified, the season's verified crops)")
        if verified is None:
            raise UserInputError("models performance crop-type: give --verified (the season's verified crops)")
        from pipelines.crop_outcomes import crop_model_performance

        res: Any = crop_model_performance(features, verified, version=version, checkpoint=checkpoint,
                                          interval_by=interval_by, policy=policy, profile=profile)
    elif name == YIELD:
        wrong = [o for o, v in (("--verified", verified), ("--policy", policy), ("--profile", profile))
                 if v is not None]
        if wrong:
            raise UserInputError(f"models performance yield-value: {', '.join(wrong)} is crop-type's (yield-value "
                                 "reads --reported, the season's reported yields)")
        if reported is None:
            raise UserInputError("models performance yield-value: give --reported (the season's reported yields)")
        from pipelines.outcomes import model_performance

        res = model_performance(features, reported, name=name, version=version or "champion",
                                checkpoint=checkpoint, interval_by=interval_by, weather=weather)
    else:
        raise UserInputError(f"models performance: outcomes are analysed for {YIELD} and {CROP} only, not {name!r}")
    echo(json.dumps(res.to_json(), indent=2, sort_keys=True) if as_json else "\n".join(res.lines()))
    if fail_on_miss and res.missed():
        raise typer.Exit(code=1)


@models_app.command("impact")
@user_errors
def impact_cmd(
    name: str = typer.Argument("yield-value", help="Registered model name: yield-value or crop-type."),
    candidate: str = typer.Option(..., "--candidate", help="The version to assess: a version number or an alias "
                                  "(e.g. challenger)."),
    against: str = typer.Option("champion", "--against", help="The version it would replace (default: champion)."),
    applications: Path | None = typer.Option(None, "--applications", help="applications (CSV or Parquet; required "
                                             "but with --reunderwriting --county)"),
    fields: Path | None = typer.Option(None, "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, "
                                       "Shapefile; required but with --reunderwriting --county)"),
    season: str | None = typer.Option(None, "--season", help="season, named by its harvest year (required; with "
                                      "--reunderwriting default the county's current season or the fields file's "
                                      "latest)"),
    as_of: str = typer.Option(..., "--as-of", help="decision date: nothing observed after it is used (YYYY-MM-DD)"),
    imagery: str | None = typer.Option(None, "--imagery", help=IMAGERY_HELP + "; crop-type needs it"),
    features: Path | None = typer.Option(None, "--features", help=FEATURES_HELP + " (yield-value only)"),
    book: Path | None = typer.Option(None, "--book", help=BOOK_HELP),
    policy: Path | None = typer.Option(None, "--policy", help=POLICY_HELP),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
    weather: Path | None = typer.Option(None, "--weather", help="daily weather CSV: required when a yield model "
                                        "reads weather"),
    history: Path | None = typer.Option(None, "--history", help="the farm records' reported yields, as underwrite "
                                        "--history (the pre-season rule)"),
    store: str | None = typer.Option(None, "--store", help="a decision store to read (never written): the second "
                                     "pledges and open alerts a decision reads; with --reunderwriting the lines' "
                                     "previous records (required; default as reunderwrite: $AGCREDIT_STORE_URL or "
                                     "sqlite:///agcredit-decisions.db)"),
    reunderwriting: bool = typer.Option(False, "--reunderwriting", help=REUNDERWRITING_HELP),
    county: Path | None = typer.Option(None, "--county", help="with --reunderwriting: a county folder (its Book, "
                                       "applications, fields, scenes and weather)"),
    then: list[str] | None = typer.Option(None, "--then", help=THEN_HELP),
    crop_model: str = typer.Option("champion", "--crop-model", help="yield-value with --imagery: the crop-type "
                                   "model the features are built with (champion, a folder, or none)"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder for series and area"),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help=ALLOW_MISSING_HELP),
    out: Path | None = typer.Option(None, "--out", help="every application's two decisions (.csv or .parquet)"),
    top: int = typer.Option(10, "--top", min=0, help="how many of the largest changes to list"),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (every application)."),
) -> None:
    """Promotion impact: the season's applications decided with the version in force and with a candidate, the
    same inputs and policy, nothing stored — which decisions change, by how much, for which crops. With
    --reunderwriting: the Book's active lines re-underwritten as of the date with each, as `agcredit reunderwrite`
    would — which lines' limits, outcomes, maturities and proposed actions change."""
    from pipelines.impact import promotion_impact
    from underwriting.store import store_url

    if reunderwriting:
        refuse_beside_reunderwriting("models impact", features=features, crop_model=crop_model != "champion")
        res: Any = reunderwriting_run(
            "models impact", out, county=county, fields=fields, imagery=imagery, book=book,
            applications=applications, weather=weather, history=history, store=store, as_of=as_of, then=then,
            policy=policy,
            run=lambda day, **inputs: _reunderwriting_impact(name, candidate, day, against=against, season=season,
                                                            policy=policy, profile=profile, cache_dir=cache,
                                                            allow_missing=allow_missing, **inputs))
        print_impact(res, out=out, top=top, as_json=as_json)
        return
    need_plain_inputs("models impact", county=county, applications=applications, fields=fields, season=season,
                      then=then)
    assert applications is not None and fields is not None and season is not None
    check_impact_out(out, applications=applications, fields=fields, features=features, book=book, policy=policy,
                     weather=weather, history=history, imagery=imagery,
                     store=store_url(store) if store is not None else None)
    day = parse_date(as_of, "--as-of")
    assert day is not None
    res = promotion_impact(name, candidate, applications=applications, fields=fields, season=season, as_of=day,
                           features=features, imagery=imagery, against=against, book=book, policy=policy,
                           profile=profile, weather=weather, history=history, store=store, crop_model=crop_model,
                           cache_dir=cache, allow_missing_acquisitions=allow_missing)
    print_impact(res, out=out, top=top, as_json=as_json)


def _reunderwriting_impact(name: str, candidate: str, day: Any, *, against: str, season: str | None,
                           policy: Path | None, profile: str | None, cache_dir: Path | None, allow_missing: bool,
                           **inputs: Any) -> Any:
    from pipelines.impact_reunderwriting import promotion_impact_reunderwriting

    return promotion_impact_reunderwriting(name, candidate, as_of=day, against=against, season=season,
                                           policy=policy, profile=profile, cache_dir=cache_dir,
                                           allow_missing_acquisitions=allow_missing, **inputs)


def refuse_beside_reunderwriting(what: str, **given: Any) -> None:
    """Refuse, in one line naming them, the options an impact on the Book's re-underwriting has no use for
    (``given``: option name → whether given)."""
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v]
    if named:
        raise UserInputError(f"{what} --reunderwriting: {', '.join(named)} not with --reunderwriting (it re-underwrites"
                             " the Book's lines as `agcredit reunderwrite` does: from the imagery, with the crop-type "
                             "champion in force on the date)")


def need_plain_inputs(what: str, *, county: Path | None, then: list[str] | None = None, **need: Any) -> None:
    """An impact on new applications: --county and --then refused (they go with --reunderwriting), the inputs it
    needs given."""
    if county is not None:
        raise UserInputError(f"{what}: --county goes with --reunderwriting (the Book's re-underwriting); a batch of "
                             "applications is given by --applications, --fields and --season")
    if then:
        raise UserInputError(f"{what}: --then goes with --reunderwriting (the Book's re-underwriting at later "
                             "checkpoints); new applications are decided as of one date")
    missing = [f"--{k}" for k, v in need.items() if v is None]
    if missing:
        raise UserInputError(f"{what}: give {', '.join(missing)} (or --reunderwriting to assess the Book's "
                             "re-underwriting)")


def reunderwriting_run(what: str, out: Path | None, *, county: Path | None, fields: Path | None, imagery: str | None,
                       book: Path | None, applications: Path | None, weather: Path | None, history: Path | None,
                       store: str | None, as_of: str, run: Any, then: list[str] | None = None,
                       **more_inputs: Any) -> Any:
    """An impact on the Book's re-underwriting as the CLI runs it: ``--out`` refused over any input or the store
    (the default store too; a county's files), the dates parsed (``--as-of``, each ``--then``), then
    ``run(day, **inputs)`` (``then=`` the later dates among them when given)."""
    from underwriting.store import store_url

    files = dict(fields=fields, imagery=imagery, book=book, applications=applications, weather=weather,
                 history=history)
    if county is not None:
        rec = Path(county) / "records"
        shown = dict(fields=rec / "fields.gpkg", book=rec / "book.csv", applications=rec / "applications.csv",
                     history=rec / "history.csv", weather=Path(county) / "weather" / "daily.csv")
        check_impact_out(out, **{k: v if v is not None else shown.get(k) for k, v in files.items()},
                         store=store_url(store), **more_inputs)
    else:
        check_impact_out(out, **files, store=store_url(store), **more_inputs)
    _refuse_out_inside(out, county=county, imagery=imagery)
    day = parse_date(as_of, "--as-of")
    assert day is not None
    later = [parse_date(t, "--then") for t in then or ()]
    return run(day, county=county, **files, store=store, **({"then": later} if later else {}))


def _refuse_out_inside(out: Path | None, *, county: Path | None, imagery: str | None) -> None:
    """``--out`` inside the county folder, or inside the imagery's folder (a scene folder, or the folder of its
    index.csv): refused — a county's scene index, caches and records are inputs too."""
    if out is None:
        return
    target = out.resolve()
    folders = [("--county", Path(county))] if county is not None else []
    if imagery is not None and imagery not in ("sentinelhub", "sentinelhub-stats"):
        ip = Path(imagery)
        folders.append(("--imagery", ip if ip.is_dir() else ip.parent))
    for opt, folder in folders:
        if folder.exists() and target.is_relative_to(folder.resolve()):
            raise UserInputError(f"--out {out}: inside the {opt} folder {folder}, whose files are inputs; write the "
                                 "impact elsewhere")


def check_impact_out(out: Path | None, **inputs: str | os.PathLike[str] | None) -> None:
    """Refuse, before anything is read, an impact ``--out`` that is an input, of an unknown format or unwritable."""
    from pipelines._cli_app import refuse_out_over_inputs

    refuse_out_over_inputs(out, **inputs)  # type: ignore[arg-type]  # (no input is named as_option)
    if out is not None:
        from features.atomic import check_writable

        if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise UserInputError(f"{out}: unsupported output format '{out.suffix}' (expected .csv or .parquet)")
        check_writable(out, what="impact file")


def print_impact(res: Any, *, out: Path | None, top: int, as_json: bool) -> None:
    """An impact's warnings on stderr, its report (or JSON) on stdout, its applications table to ``out`` (a
    :class:`~pipelines.impact_reunderwriting.SeasonImpact`'s: one row per date and line, the date in ``as_of``)."""
    import json

    for w in res.warnings:
        err(f"warning: {w}")
    echo(json.dumps(res.to_json(), indent=2, sort_keys=True) if as_json else "\n".join(res.lines(top=top)))
    if out is not None:
        from features.atomic import write_table_atomic

        write_table_atomic(res.applications, out)
        if not as_json:
            echo(f"wrote {out}")
