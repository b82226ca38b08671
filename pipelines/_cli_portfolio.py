"""``agcredit value``: value every field of a portfolio block by block (on Dask with --workers/--scheduler)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    HAZY_DATES_HELP,
    REJECTS_HELP,
    SEASON_SCALE_HELP,
    app,
    echo,
    err,
    parse_date,
    parse_dates,
    refuse_out_over_inputs,
    rejected_text,
    user_errors,
)

__all__ = ["value_command"]


@app.command("value")
@user_errors
def value_command(
    fields: Path = typer.Option(..., "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, Shapefile)"),
    imagery: Path = typer.Option(..., "--imagery", help="local scene folder (with index.csv)"),
    season: str = typer.Option(..., "--season", help="season, named by its harvest year"),
    as_of: str = typer.Option(..., "--as-of", help="nothing observed after this date is used (YYYY-MM-DD)"),
    out: Path = typer.Option(..., "--out", help="output folder: series/, features/, valuations/ parts per block"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="run on this Dask cluster (tcp://HOST:8786)"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="run on a local Dask cluster of N processes"),
    chunk_fields: int = typer.Option(5000, "--chunk-fields", min=1, help="fields per spatial block"),
    currency: str | None = typer.Option(None, "--currency", help="valuation currency (default: the region's)"),
    crop_model: str = typer.Option("champion", "--crop-model", help="crop-type model: champion, a folder, or none"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="per-scene cache folder (re-runs read only new scenes)"),
    crop_season_scale: float | None = typer.Option(None, "--crop-season-scale", min=0.25, max=4.0,
                                                   help=SEASON_SCALE_HELP),
    hazy_dates: str | None = typer.Option(None, "--hazy-dates", help=HAZY_DATES_HELP),
    weather: Path | None = typer.Option(None, "--weather", help="daily weather CSV (region, date, precip_mm, tmin_c, "
                                        "tmax_c, et0_mm): required when the yield model reads weather"),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help=ALLOW_MISSING_HELP),
    rejects: Path | None = typer.Option(None, "--rejects", help=REJECTS_HELP),
) -> None:
    """Value a portfolio's fields with the champion models: series → indicators → valuations per spatial block,
    parts under --out (a re-run recomputes only what is missing)."""
    from features.errors import UserInputError
    from models.money import format_minor
    from pipelines.portfolio import value_portfolio

    refuse_out_over_inputs(rejects, as_option="--rejects", fields=fields, imagery=imagery, weather=weather, out=out)
    day = parse_date(as_of, "--as-of")
    if day is None:  # a required option: typer never passes None
        raise UserInputError("--as-of: expected a date YYYY-MM-DD")
    try:
        res = value_portfolio(fields, imagery, season, day, out=out, workers=workers, scheduler=scheduler,
                              cache_dir=cache, chunk_fields=chunk_fields, currency=currency,
                              crop_model=None if crop_model == "none" else crop_model, weather=weather,
                              crop_season_scale=crop_season_scale, haze_dates=parse_dates(hazy_dates, "--hazy-dates"),
                              allow_missing_acquisitions=allow_missing, rejects=rejects)
    except KeyboardInterrupt as e:  # the blocks finished are kept on purpose (a re-run reuses them): said so
        e.agcredit_kept = f"any block finished is kept under {out} (a re-run reuses it)"  # type: ignore[attr-defined]
        raise
    run = res.run
    for w in res.warnings:
        err(f"warning: {w}")
    if run.n_without_crop:
        named = run.without_crop_named
        more = run.n_without_crop - len(named)
        err(f"warning: {run.n_without_crop} field(s) without a declared or predicted crop are not valued"
            + (f": {', '.join(named)}" + (f" and {more} more" if more > 0 else "") if named else ""))
    if run.outside_fields:
        err(f"warning: {len(run.outside_fields)} field(s) outside every scene")
    totals = run.totals()
    if run.n_valued and totals and all(int(t["value_p50"]) == 0 for t in totals.values()):
        err(f"warning: every field is valued at 0 as of {day}: " + _zero_reason(res.missing_acquisitions, imagery, day))
    versions = f"yield-value {res.versions['yield-value']}" + (f", {res.versions['crop-type']}"
                                                                if res.versions.get("crop-type") else "")
    echo(f"valued {run.n_valued} of {run.n_fields} fields of season {season} as of {day} ({res.checkpoint}) with "
         f"{versions}: {run.n_blocks} blocks, {run.parts_reused} reused, {run.scenes_read} scenes read, "
         f"{run.scenes_cached} from cache")
    for cur, t in run.totals().items():
        echo(f"  {cur}: P10 {format_minor(t['value_p10'], cur)}  P50 {format_minor(t['value_p50'], cur)}  "
             f"P90 {format_minor(t['value_p90'], cur)}")
    echo(f"smoother haze dates: {', '.join(run.hazy_dates) or 'none'} "
         f"({'pinned' if run.haze_pinned else 'judged once over the season'})")
    echo(f"parts: {out}/valuations (read them block by block — this run's {run.n_blocks} are listed in {out}/run.json; "
         "series/ and features/ beside)")
    if rejects is not None:
        from features.fields import partial_rows

        echo(rejected_text(res.set_aside, rejects, season, left="fields set aside, not valued"))
        if partial_rows(res.set_aside, season) or res.held_farmers:
            echo(f"fields left out (set aside, and the held farmers' other fields): listed in {out}/run.json "
                 "under fields_set_aside")
        held = res.held_farmers
        if held:
            echo(f"{len(held)} farmer(s) not valued: their fields had rejected rows, or a rejected row overlaps one "
                 f"(see {rejects}); none of their fields is valued — correct the rows and re-run to value them: "
                 + ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else ""))
        # partial: rows of the season (or of none readable) set aside; another season's rows only: 0
        if partial_rows(res.set_aside, season) or held:
            raise typer.Exit(code=1)


def _zero_reason(missing: list[str], imagery: Path, day: object) -> str:
    """Why every field is valued at 0: the imagery lacks days of the window (a folder fetched to an earlier as-of,
    valued with --allow-missing-acquisitions: the warning blamed emergence), else no planted area measured yet."""
    if not missing:
        return ("no planted area is measured yet (before emergence the imagery shows no crop; `underwrite` values such "
                "fields on the pre-season rule)")
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (f"{imagery} lacks the acquisitions of {shown} (not fetched; valued without them: "
            "--allow-missing-acquisitions), so the fields are seen as of the last day fetched, when no planted area "
            f"was measured; fetch those days into the folder (agcredit imagery fetch ... --as-of {day}) and re-run")
