"""``agcredit features build``: FieldFeatures of a season as of a date (every indicator family)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    HAZY_DATES_HELP,
    REJECTS_HELP,
    SEASON_SCALE_HELP,
    echo,
    err,
    features_app,
    parse_date,
    parse_dates,
    progress_ticks,
    refuse_out_over_inputs,
    user_errors,
)
from pipelines._cli_imagery import SH_PROFILE_HELP

__all__ = ["build_command"]



@features_app.command("build")
@user_errors
def build_command(
    fields: Path = typer.Option(..., "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, Shapefile)"),
    imagery: str = typer.Option(..., "--imagery", help="scene folder, index.csv, CSV/Parquet series table, "
                                                       "sentinelhub or sentinelhub-stats"),
    season: str = typer.Option(..., "--season", help="season, named by its harvest year"),
    as_of: str = typer.Option(..., "--as-of", help="use nothing observed after this date (YYYY-MM-DD)"),
    out: Path = typer.Option(..., "--out", help="output Parquet file (FieldFeatures)"),
    crop_model: str = typer.Option("champion", "--crop-model",
                                   help="crop-type model: champion (or another registry alias), a saved folder, "
                                        "or none"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder (series and area; re-runs read only new "
                                                            "scenes)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
    crop_season_scale: float | None = typer.Option(None, "--crop-season-scale", min=0.25, max=4.0,
                                                   help=SEASON_SCALE_HELP),
    hazy_dates: str | None = typer.Option(None, "--hazy-dates", help=HAZY_DATES_HELP),
    weather: Path | None = typer.Option(None, "--weather", help="daily weather CSV (region, date, precip_mm, tmin_c, "
                                                                "tmax_c, et0_mm): adds the wx_* features"),
    endpoint: str = typer.Option("cdse", "--endpoint", help="cdse (Copernicus Data Space), sinergise, or "
                                                            "profile: the --profile's own sh_base_url and "
                                                            "sh_token_url (a self-hosted or other deployment; https "
                                                            "only; its credentials are sent there) "
                                                            "(--imagery sentinelhub / sentinelhub-stats)."),
    profile: str | None = typer.Option(None, "--profile", help=SH_PROFILE_HELP + " (--imagery sentinelhub*)."),
    rejects: Path | None = typer.Option(None, "--rejects", help=REJECTS_HELP),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help=ALLOW_MISSING_HELP),
) -> None:
    """Build FieldFeatures (planted area, crop type, growth stage, seasonal summaries) and write Parquet."""
    from pipelines.featurize import featurize_to_file

    refuse_out_over_inputs(out, fields=fields, imagery=imagery, weather=weather)
    refuse_out_over_inputs(rejects, as_option="--rejects", fields=fields, imagery=imagery, weather=weather, out=out)
    day = parse_date(as_of, "--as-of")
    assert day is not None
    haze = parse_dates(hazy_dates, "--hazy-dates")
    with progress_ticks("scenes", progress) as tick:
        res, path, model = featurize_to_file(fields, imagery, season, day, out, crop_model=crop_model,
                                             cache_dir=cache, progress=tick, weather=weather,
                                             crop_season_scale=crop_season_scale, haze_dates=haze,
                                             endpoint=endpoint, profile=profile, rejects=rejects,
                                             allow_missing_acquisitions=allow_missing)
    for w in res.warnings:
        err(f"warning: {w}")
    f = res.features
    fam = ", ".join(f"{k} {v}" for k, v in res.families.items())
    echo(f"features as of {day}: {len(f)} fields of season {season}, {len(res.dates_used)} dates "
         f"({res.source}); crop model: {model}")
    echo(f"families: {fam}")
    echo(f"smoother haze dates: {', '.join(res.hazy_dates) or 'none'} "
         f"({'pinned' if res.haze_pinned else 'judged on these fields'})")
    if f["planted_area_ha"].notna().any():
        echo(f"planted area {f['planted_area_ha'].sum():.1f} ha of {f['declared_area_ha'].sum():.1f} ha declared")
    if f["growth_stage"].notna().any():
        stages = f["growth_stage"].value_counts()
        echo("growth stages: " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    if rejects is not None:
        echo(f"{res.rejected_rows} rows rejected (see {rejects})")
    echo(f"wrote {path}")
    if res.partial_rows:  # with --rejects: rows of the season (or of none readable) set aside: exit 1, partial
        raise typer.Exit(code=1)
