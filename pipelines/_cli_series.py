"""``agcredit features series``: per-field time series from scenes, a series table or Sentinel Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from features.errors import ImageryError, UserInputError
from pipelines._cli_app import (
    echo,
    err,
    features_app,
    parse_date,
    progress_ticks,
    refuse_out_over_inputs,
    user_errors,
)
from pipelines._cli_imagery import SH_PROFILE_HELP

__all__ = ["series_command"]



@features_app.command("series")
@user_errors
def series_command(
    fields: Path = typer.Option(..., "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, Shapefile)"),
    imagery: str = typer.Option(..., "--imagery", help="scene folder, index.csv, CSV/Parquet series table, "
                                                       "sentinelhub or sentinelhub-stats"),
    season: str = typer.Option(..., "--season", help="season, named by its harvest year"),
    out: Path = typer.Option(..., "--out", help="output Parquet file (FieldTimeSeries)"),
    as_of: str | None = typer.Option(None, "--as-of", help="read nothing acquired after this date"),
    start: str | None = typer.Option(None, "--start", help="window start (default: the region's season window)"),
    end: str | None = typer.Option(None, "--end", help="window end (default: the region's season window)"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", "--cache", help="per-scene cache (re-runs read only new scenes)"),
    inward_buffer: bool = typer.Option(False, "--inward-buffer", help="shrink fields by half a pixel"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="run on this Dask cluster (tcp://HOST:8786)"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="run on a local Dask cluster of N processes"),
    chunk_fields: int | None = typer.Option(None, "--chunk-fields", min=1, help="fields per spatial block (with "
                                            "--scheduler/--workers; default 5000)"),
    endpoint: str = typer.Option("cdse", "--endpoint", help="cdse (Copernicus Data Space), sinergise, or "
                                                            "profile: the --profile's own sh_base_url and "
                                                            "sh_token_url (a self-hosted or other deployment; https "
                                                            "only; its credentials are sent there) "
                                                            "(--imagery sentinelhub / sentinelhub-stats)."),
    profile: str | None = typer.Option(None, "--profile", help=SH_PROFILE_HELP + " (--imagery sentinelhub*)."),
) -> None:
    """Build the FieldTimeSeries of a season and write it as Parquet (on Dask with --scheduler or --workers)."""
    from features.fields import read_fields
    from features.series import build_series
    from pipelines.distributed import run_series, runner_from_options

    refuse_out_over_inputs(out, fields=fields, imagery=imagery)
    as_of_d, start_d, end_d = parse_date(as_of, "--as-of"), parse_date(start, "--start"), parse_date(end, "--end")
    read = read_fields(fields, season=season)
    if start_d is None or end_d is None:  # this command takes --start/--end: a region without a window names them
        import pandas as pd

        from features.series import season_window

        regs = read.fields["region"] if "region" in read.fields.columns else [None]
        for r in dict.fromkeys(None if r is None or pd.isna(r) else str(r) for r in regs):
            season_window(season, r, options=True)
    if scheduler and workers:
        raise UserInputError("--workers: give --scheduler or --workers, not both")
    if (scheduler or workers) and (endpoint.lower() != "cdse" or profile):
        given = [o for o, v in (("--endpoint " + endpoint, endpoint.lower() != "cdse"), ("--profile", profile)) if v]
        raise UserInputError(f"{', '.join(given)}: not with --scheduler or --workers (a Dask run reads Sentinel Hub "
                             "at the default --endpoint cdse, with SH_CLIENT_ID/SH_CLIENT_SECRET on each worker); "
                             "fetch the scenes first with `agcredit imagery fetch --endpoint ... --profile ...` and "
                             "pass the folder")
    if chunk_fields is not None and not (scheduler or workers):  # (it was ignored without a word)
        raise UserInputError("--chunk-fields goes with --scheduler/--workers (the spatial blocks of a Dask run); "
                             "drop it, or add one of them")
    with progress_ticks("scenes", progress) as tick:
        kwargs: dict[str, Any] = {"as_of": as_of_d, "start": start_d, "end": end_d, "cache_dir": cache_dir,
                                  "inward_buffer": inward_buffer}
        if scheduler or workers:
            with runner_from_options(scheduler, workers) as runner:
                res: Any = run_series(read.fields, imagery, season, runner=runner,
                                      chunk_fields=chunk_fields or 5000, **kwargs)
        else:
            res = build_series(read.fields, imagery, season, progress=tick, endpoint=endpoint, profile=profile,
                               **kwargs)
    ser = res.series
    if len(ser) and int(ser["n_clear"].sum()) == 0:
        raise ImageryError(source=str(imagery), problem=f"no clear pixel in any of the {len(res.dates_used)} "
                                                        "acquisitions read (clouds or nodata only); nothing written")
    from features.atomic import write_table_atomic

    write_table_atomic(res.series, out, fmt="parquet")
    for w in [*read.notes(), *res.warnings]:  # fields rejected or repaired when reading were dropped unsaid
        err(f"warning: {w}")
    if res.outside_fields:
        err(f"warning: outside every scene: {', '.join(res.outside_fields[:5])}"
            + (f" and {len(res.outside_fields) - 5} more" if len(res.outside_fields) > 5 else ""))
    if res.small_fields:
        err(f"warning: {len(res.small_fields)} field(s) with too few clear pixels")
    echo(f"wrote {out}: {res.series['field_id'].nunique()} fields, {len(res.dates_used)} dates, "
         f"{len(res.series)} rows from {res.source}{_requests_note(getattr(res, 'fetch_summary', None), imagery)}")


def _requests_note(summary: Any, imagery: str) -> str:
    """What the Sentinel Hub requests cost, for the summary line (empty for local scenes and tables): the Statistical
    (or Process) API's requests and the Catalog API's apart, and the fields whose earlier window's statistics were
    reused from the cache (it had counted a cached window's Catalog check as a Statistical request, the reuse unsaid)."""
    if summary is None:
        return ""

    def n(k: int) -> str:
        return f"{k} request{'' if k == 1 else 's'}"

    api = "Statistical API" if str(imagery).lower() == "sentinelhub-stats" else "Process API"
    cat = int(getattr(summary, "catalog_requests", 0) or 0)
    said = [f"{api}: {n(summary.requests - cat)}"] + ([f"Catalog API: {n(cat)}"] if cat else [])
    reused = int(getattr(summary, "reused_windows", 0) or 0)
    return (f"; {', '.join(said)} (retries {summary.retries}), {summary.cache_hits} from cache"
            + (f", {reused} field(s)' earlier window reused from the cache (only the days after it asked)"
               if reused else ""))
