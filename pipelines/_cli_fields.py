"""``agcredit fields ...``: validate field files."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import REJECTS_HELP, echo, fields_app, refuse_out_over_inputs, user_errors


@fields_app.command("validate")
@user_errors
def validate(
    path: Path = typer.Argument(..., help="Field file: GeoParquet, GeoPackage, GeoJSON or Shapefile."),
    season: str = typer.Option(None, "--season", help="Only this season (YYYY)."),
    strict: bool = typer.Option(False, "--strict", help="Fail on any geometry that cannot be repaired."),
    rejects: Path | None = typer.Option(None, "--rejects", help=REJECTS_HELP),
) -> None:
    """Print a validation report: counts, repaired, rejected with reasons, total area."""
    from features.errors import FieldsError
    from pipelines.fieldcheck import validate_file

    refuse_out_over_inputs(rejects, as_option="--rejects", fields=path)
    text, partial, rejected = validate_file(path, season=season, strict=strict, rejects=rejects)
    echo(text)
    if partial:  # with --rejects: rows of the season (or of none readable) set aside: exit 1, partial
        raise typer.Exit(code=1)
    if rejected and rejects is None:
        # the deciding runs refuse such a file (refuse_rejected): exit 2 as they do, so that `fields validate F &&
        # agcredit underwrite --fields F …` does not pass a file the run then refuses (it exited 0 until 2026-12-07)
        raise FieldsError(source=path.name, problem=(
            f"{len(rejected)} field(s){f' of season {season}' if season else ''} rejected (listed above): underwrite "
            "and reunderwrite refuse the file — correct the rows, or give those runs --rejects PATH to hold their "
            "farmers"))
