"""``agcredit fields ...``: validate field files."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import echo, fields_app, user_errors


@fields_app.command("validate")
@user_errors
def validate(
    path: Path = typer.Argument(..., help="Field file: GeoParquet, GeoPackage, GeoJSON or Shapefile."),
    season: str = typer.Option(None, "--season", help="Only this season (YYYY)."),
    strict: bool = typer.Option(False, "--strict", help="Fail on any geometry that cannot be repaired."),
) -> None:
    """Print a validation report: counts, repaired, rejected with reasons, total area."""
    from pipelines.fieldcheck import validation_report

    echo(validation_report(path, season=season, strict=strict))
