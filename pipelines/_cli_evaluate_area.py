"""``agcredit evaluate area``: planted area from the scenes against a county's truth, beside the declared area."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines._cli_app import INTERVAL_BY_HELP, echo, evaluate_app, user_errors

__all__ = ["evaluate_area_command"]


@evaluate_app.command("area")
@user_errors
def evaluate_area_command(
    county: Path = typer.Option(..., "--county", help="county folder (demo layout, with truth/)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    calib_seasons: int = typer.Option(3, "--calib-seasons", min=0, help="past seasons to calibrate on (0: defaults)"),
    cache_dir: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder (default: the county's, "
                                                                "AGCREDIT_CACHE_DIR overrides)"),
    interval_by: str = typer.Option("field", "--interval-by", help=INTERVAL_BY_HELP),
) -> None:
    """Planted-area errors by field size, partly planted fields, county total and never-planted recall."""
    from pipelines.evaluation._bootstrap import check_interval_by
    from pipelines.evaluation.area import evaluate_area, render_area

    check_interval_by(interval_by)
    res = evaluate_area(county, calib_seasons=calib_seasons, cache_dir=cache_dir, interval_by=interval_by)
    echo(json.dumps(res, sort_keys=True, indent=1) if as_json else render_area(res))
