"""``agcredit train crop-type`` and ``agcredit evaluate crop-type``."""

from __future__ import annotations

from pathlib import Path

import typer

from features.errors import UserInputError
from pipelines._cli_app import INTERVAL_BY_HELP, echo, evaluate_app, train_app, user_errors
from pipelines.train_crop import CHECKPOINTS_SYNTAX, parse_checkpoints

__all__ = ["evaluate_crop_type_command", "train_crop_type_command"]


@train_app.command("crop-type")
@user_errors
def train_crop_type_command(
    county: Path | None = typer.Option(None, "--county", help="county folder (trains on its past seasons)"),
    series: Path | None = typer.Option(None, "--series", help="FieldTimeSeries table (CSV/Parquet), with --labels"),
    labels: Path | None = typer.Option(None, "--labels", help="labels table: field_id, season, declared_crop, "
                                                              "region or season_start"),
    label_column: str = typer.Option("declared_crop", "--label-column", help="crop column of --labels"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", "--cache", help="series cache (default: COUNTY/.cache)"),
    promote: bool = typer.Option(True, "--promote/--no-promote", help="make it the champion if it meets "
                                                                      "its minimum metrics"),
    synthetic: bool = typer.Option(False, "--synthetic", help="with --series/--labels: the tables are synthetic "
                                   "(e.g. exported from a simulated county): the version and its figures say so "
                                   "(a county folder says it itself)"),
    checkpoints: str | None = typer.Option(None, "--checkpoints", help="with --series/--labels: the as-of checkpoints "
                                           f"to train, {CHECKPOINTS_SYNTAX}; default the season calendar's "
                                           "emergence, mid and pre_harvest of the labels' regions, as --county "
                                           "trains (the model gives no crop type before its first checkpoint)"),
    region: str | None = typer.Option(None, "--region", help="with --series/--labels: the region whose season "
                                      "calendar and window place the checkpoints, for labels without a region "
                                      "column (e.g. in-smallholder)"),
    blank_labels: str = typer.Option("fallow", "--blank-labels", help="with --series/--labels: what an empty crop "
                                     "cell means — fallow (the field was not cropped: a class the model learns) or "
                                     "drop (not recorded: the row is left out of training)"),
    history: Path | None = typer.Option(None, "--history", help="with --series/--labels: the farm records "
                                        "(CSV/Parquet: field_id, season, declared_crop, sowing_date, harvest_date, "
                                        "reported_yield_t_ha, as a county's records/history.csv): the phenology "
                                        "calibration and alert thresholds are fitted on them, as --county fits them"),
    weather: Path | None = typer.Option(None, "--weather", help="with --history: the region's daily weather "
                                        "(CSV/Parquet, as a county's weather/daily.csv), for the calibration's "
                                        "thermal-time durations"),
    operator: str | None = typer.Option(None, "--operator", help="Who trains (default $AGCREDIT_OPERATOR or user; "
                                        "recorded with the version and its promotion)."),
) -> None:
    """Train the crop-type classifier on declared crops, register it as crop-type (and promote it)."""
    from pipelines._cli_models import refuse_personal_data

    refuse_personal_data("train crop-type", {"--operator": operator})
    if (county is None) == (series is None and labels is None):
        raise UserInputError("give either --county DIR or --series S --labels L")
    if county is None and (series is None or labels is None):
        raise UserInputError("--series and --labels go together")
    if county is not None and synthetic:
        raise UserInputError("--synthetic is for --series/--labels; a county folder says whether it is synthetic")
    if county is not None and (checkpoints is not None or region is not None):
        raise UserInputError("--checkpoints and --region are for --series/--labels; a county's checkpoints come from "
                             "its region's season calendar")
    if county is not None and (history is not None or weather is not None):
        raise UserInputError("--history and --weather are for --series/--labels; a county's are its "
                             "records/history.csv and weather/daily.csv")
    if weather is not None and history is None:
        raise UserInputError("--weather goes with --history (the thermal-time durations of the phenology "
                             "calibration fitted on the farm records)")
    if blank_labels not in ("fallow", "drop"):
        raise UserInputError(f"--blank-labels {blank_labels!r}: expected fallow or drop")
    if county is not None and blank_labels != "fallow":
        raise UserInputError("--blank-labels is for --series/--labels; a county's blank declaration is a field left "
                             "fallow")
    if checkpoints is not None:
        parse_checkpoints(checkpoints)  # a malformed option is refused before any table is read
    from models.registry import safe_uri, tracking_uri
    from pipelines.train_crop import train_crop_type_county, train_crop_type_tables

    if county is not None:
        from pipelines.county import County

        res = train_crop_type_county(County(county, cache_dir=cache_dir), promote=promote, operator=operator)
    else:
        assert series is not None and labels is not None
        res = train_crop_type_tables(series, labels, label_column=label_column, promote=promote,
                                     synthetic=synthetic, checkpoints=checkpoints, region=region,
                                     blank_labels=blank_labels, history=history, weather=weather, operator=operator)
    m, g = res.metrics, res.governance
    echo(f"crop-type: {len(res.classifier.classes_)} classes ({', '.join(res.classifier.classes_)}), "
         f"{int(m['n_train'])} labels, {int(m['n_dropped_labels'])} dropped as contradicted by the imagery")
    held = ", ".join(f"{k}={m[k]:.3f}" for k in sorted(m) if k.split("_")[0] in ("accuracy", "ece")
                     or k.startswith("macro_f1"))
    echo(f"held-out vs declared crops ({g.data} data): {held or 'none (one season only)'}")
    echo(f"registered crop-type version {res.version} in {safe_uri(tracking_uri())}"
         + ("; promoted to champion" if res.promoted else "; alias challenger"))
    for note in res.notes:
        echo(note)


@evaluate_app.command("crop-type")
@user_errors
def evaluate_crop_type_command(
    county: Path = typer.Option(..., "--county", help="county folder with truth/"),
    as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
    loso: bool = typer.Option(True, "--loso/--no-loso", help="also leave-one-season-out (slower)"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", "--cache", help="series cache (default: COUNTY/.cache)"),
    interval_by: str = typer.Option("field", "--interval-by", help=INTERVAL_BY_HELP),
) -> None:
    """Crop type trained on past declared crops, tested on the current season's true crops."""
    from pipelines.evaluation._bootstrap import check_interval_by
    from pipelines.evaluation.crop_type import evaluate_crop_type_county, render_crop_type

    check_interval_by(interval_by)
    r = evaluate_crop_type_county(county, leave_one_season_out=loso, cache_dir=cache_dir, interval_by=interval_by)
    echo(render_crop_type(r, as_json=as_json))
