"""``agcredit underwrite``: decide a season's applications and append the decisions to the store."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._champions import recorded_models
from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    BOOK_HELP,
    FEATURES_HELP,
    HAZY_DATES_HELP,
    IMAGERY_HELP,
    POLICY_HELP,
    PROFILE_HELP,
    REJECTS_HELP,
    SEASON_SCALE_HELP,
    STORE_HELP,
    app,
    echo,
    err,
    models_text,
    parse_date,
    parse_dates,
    progress_ticks,
    refuse_out_over_inputs,
    user_errors,
)
from pipelines._cli_shadow_opts import SHADOW_HELP, shadow_lines

__all__ = ["underwrite_command"]



HISTORY_HELP = ("the farm records' reported yields (CSV: field_id, season, declared_crop, reported_yield_t_ha; a "
                "county's records/history.csv): before emergence a field is valued on its mean of the declared crop "
                "over its latest five earlier seasons (else the model's expectation), with the pre-season haircut")


@app.command("underwrite")
@user_errors
def underwrite_command(
    applications: Path = typer.Option(..., "--applications", help="applications (CSV or Parquet)"),
    fields: Path = typer.Option(..., "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, Shapefile)"),
    season: str = typer.Option(..., "--season", help="season, named by its harvest year"),
    as_of: str = typer.Option(..., "--as-of", help="decision date: nothing observed after it is used (YYYY-MM-DD)"),
    imagery: str | None = typer.Option(None, "--imagery", help=IMAGERY_HELP),
    features: Path | None = typer.Option(None, "--features", help=FEATURES_HELP),
    book: Path | None = typer.Option(None, "--book", help=BOOK_HELP),
    policy: Path | None = typer.Option(None, "--policy", help=POLICY_HELP),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
    out: Path | None = typer.Option(None, "--out", help="also write the decisions (.csv or .parquet)"),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    crop_model: str = typer.Option("champion", "--crop-model", help="crop-type model: champion, a folder, or none"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder for series and area"),
    weather: Path | None = typer.Option(None, "--weather", help="daily weather CSV (region, date, precip_mm, tmin_c, "
                                        "tmax_c, et0_mm): required when the yield model reads weather"),
    operator: str | None = typer.Option(None, "--operator", help="who runs this (recorded)"),
    crop_season_scale: float | None = typer.Option(None, "--crop-season-scale", min=0.25, max=4.0,
                                                   help=SEASON_SCALE_HELP),
    hazy_dates: str | None = typer.Option(None, "--hazy-dates", help=HAZY_DATES_HELP),
    history: Path | None = typer.Option(None, "--history", help=HISTORY_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
    rejects: Path | None = typer.Option(None, "--rejects", help=REJECTS_HELP),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help=ALLOW_MISSING_HELP),
    shadow: bool = typer.Option(True, "--shadow/--no-shadow", help=SHADOW_HELP),
) -> None:
    """Underwrite the season's applications as of a date and store the decisions (a re-run adds nothing)."""
    from pipelines.underwrite import underwrite_files
    from underwriting.store import store_url

    refuse_out_over_inputs(out, applications=applications, fields=fields, features=features, book=book,
                           policy=policy, weather=weather, history=history, imagery=imagery,
                           store=store_url(store))
    refuse_out_over_inputs(rejects, as_option="--rejects", applications=applications, fields=fields,
                           features=features, book=book, policy=policy, weather=weather, history=history,
                           imagery=imagery, out=out, store=store_url(store))
    day = parse_date(as_of, "--as-of")
    assert day is not None
    if imagery is None and features is None:
        from pipelines.errors import RunInputError

        raise RunInputError(what="underwrite", problem="give --imagery (to build the features) or --features")
    haze = parse_dates(hazy_dates, "--hazy-dates")
    from pipelines._store_grants import check_command

    # before any feature is built: a role that cannot write the store's tables (or the shadow table) is refused
    check_command(store_url(store), "agcredit underwrite", shadow=shadow, store_may_be_new=True)
    with progress_ticks("underwrite", progress) as tick:
        res = underwrite_files(applications, fields, season, day, imagery=imagery, features=features, book=book,
                               policy=policy, profile=profile, store=store, out=out, crop_model=crop_model,
                               cache_dir=cache, operator=operator, progress=tick, weather=weather,
                               crop_season_scale=crop_season_scale, haze_dates=haze, history=history,
                               rejects=rejects, allow_missing_acquisitions=allow_missing, shadow=shadow)
    for w in res.warnings:
        err(f"warning: {w}")
    s = res.summary
    echo(f"{s['n']} applications as of {day} (yield-model checkpoint {res.checkpoint}): "
         + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()))
    echo(f"granted {', '.join(s['total_limit_text'].values()) or '0'} of "
         f"{', '.join(s['total_requested_text'].values())} requested")
    if s["top_reasons"]:
        echo("most frequent reasons: " + ", ".join(f"{c} ({n})" for c, n in s["top_reasons"]))
    if s["refer_reasons"]:
        echo("referred because of: " + ", ".join(f"{c} ({n})" for c, n in s["refer_reasons"]))
    renewals = [(i.application_id, i.body["renewal"]) for i in res.items if "renewal" in i.body]
    if renewals:  # policy renewals_propose_actions (2026.12.10): what a re-underwriting would propose for the line
        acting = [f"{a} ({r['line_id']}): {', '.join(r['proposed_actions'])}" for a, r in renewals
                  if r["proposed_actions"]]
        echo(f"renewals of active Book lines: {len(renewals)}, with proposed actions: {len(acting)}"
             + (f" — {'; '.join(acting[:5])}{'; …' if len(acting) > 5 else ''}" if acting else ""))
    echo("models: " + models_text(recorded_models(res.models, res.items)))  # the crop model the records name
    if res.hazy_dates is not None:
        echo(f"smoother haze dates: {', '.join(res.hazy_dates) or 'none'} "
             f"({'pinned' if haze is not None else 'judged on these fields'})")
    if rejects is not None:
        echo(f"{res.rejected_rows} rows rejected (see {rejects})")
        if res.held_applications:
            echo(held_line(res.held_applications, rejects))
    echo(f"stored {res.written} new records ({res.already_present} already present) in {res.store_url}")
    shadow_lines(res.shadow if shadow else None)
    if out is not None:
        echo(f"wrote {out}")
    # partial: rows of the season (or of none readable) set aside, or applications held; another season's rows only: 0
    if (rejects is not None and res.partial_rows) or res.held_applications or res.held_by_features:
        raise typer.Exit(code=1)


def held_line(ids: list[str], rejects: Path) -> str:
    """The line naming the applications a ``--rejects`` run did not decide."""
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return (f"{len(ids)} application(s) not decided: their farmers' fields had rejected rows (see {rejects}, "
            f"column held_applications); correct the rows and re-run to decide them: {shown}")
