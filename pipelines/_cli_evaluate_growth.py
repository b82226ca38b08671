"""``agcredit evaluate growth-stage``: phenology dates and growth stages against a county's truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines._cli_app import INTERVAL_BY_HELP, echo, err, evaluate_app, user_errors

__all__ = ["evaluate_growth_stage_command"]


@evaluate_app.command("growth-stage")
@user_errors
def evaluate_growth_stage_command(
    county: Path = typer.Option(..., "--county", help="county folder with truth/"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", "--cache",
                                          help="series cache (default: AGCREDIT_CACHE_DIR, else no cache)"),
    calib_seasons: int = typer.Option(3, "--calib-seasons", min=0,
                                      help="past seasons whose declared dates calibrate the thresholds"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress lines on stderr"),
    interval_by: str = typer.Option("field", "--interval-by", help=INTERVAL_BY_HELP),
) -> None:
    """Emergence, maturity and harvest date errors and mid-season stage accuracy, beside the crop calendar."""
    from pipelines.evaluation._bootstrap import check_interval_by
    from pipelines.evaluation.growth_stage import evaluate_growth_stage, format_growth_evaluation

    check_interval_by(interval_by)
    r = evaluate_growth_stage(county, cache_dir=cache_dir, calib_seasons=calib_seasons,
                              progress=None if quiet else err, interval_by=interval_by)
    echo(json.dumps(r, indent=1, sort_keys=True, default=str) if as_json else format_growth_evaluation(r))
