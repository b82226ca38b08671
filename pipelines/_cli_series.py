"""``agcredit features series``: per-field time series from scenes, a series table or Sentinel Hub."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import typer

from pipelines._cli_app import echo, err, features_app, user_errors

__all__ = ["series_command"]


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, found {value!r}", param_hint=name) from None


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
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="per-scene cache (re-runs read only new scenes)"),
    inward_buffer: bool = typer.Option(False, "--inward-buffer", help="shrink fields by half a pixel"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
) -> None:
    """Build the FieldTimeSeries of a season and write it as Parquet."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from features.fields import read_fields
    from features.series import build_series

    as_of_d, start_d, end_d = _date(as_of, "--as-of"), _date(start, "--start"), _date(end, "--end")
    read = read_fields(fields, season=season)
    bar = Progress(TextColumn("scenes"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn(), console=Console(stderr=True), disable=not progress, transient=True)
    with bar:
        task = bar.add_task("", total=None)

        def tick(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        kwargs: dict[str, Any] = {"as_of": as_of_d, "start": start_d, "end": end_d, "cache_dir": cache_dir,
                                  "progress": tick, "inward_buffer": inward_buffer}
        res = build_series(read.fields, imagery, season, **kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        res.series.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for w in res.warnings:
        err(f"warning: {w}")
    if res.outside_fields:
        err(f"warning: outside every scene: {', '.join(res.outside_fields[:5])}"
            + (f" and {len(res.outside_fields) - 5} more" if len(res.outside_fields) > 5 else ""))
    if res.small_fields:
        err(f"warning: {len(res.small_fields)} field(s) with too few clear pixels")
    echo(f"wrote {out}: {res.series['field_id'].nunique()} fields, {len(res.dates_used)} dates, "
         f"{len(res.series)} rows from {res.source}")
