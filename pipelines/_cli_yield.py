"""``agcredit train yield`` and ``agcredit evaluate yield``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from features.errors import UserInputError
from pipelines._cli_app import INTERVAL_BY_HELP, echo, err, evaluate_app, train_app, user_errors


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None

    def show(done: int, total: int, what: str) -> None:
        err(f"[{done}/{total}] {what}")

    return show


@train_app.command("yield")
@user_errors
def train_yield_cmd(
    county: Path | None = typer.Option(None, "--county", help="County folder (demo layout): train on its past seasons."),
    features: Path | None = typer.Option(None, "--features", help="FieldFeatures Parquet of past seasons (optional "
                                         "'checkpoint' column: end, mid, emergence or pre_season, the checkpoints "
                                         "underwriting looks up; without it every row is end); with --reported."),
    reported: Path | None = typer.Option(None, "--reported", help="Reported yields CSV/Parquet: field_id, season, "
                                         "reported_yield_t_ha."),
    no_promote: bool = typer.Option(False, "--no-promote", help="Register as challenger only."),
    force_reason: str | None = typer.Option(None, "--force-reason", help="Promote even below the minimum metrics, "
                                            "recording this reason (needs --approved-by)."),
    approved_by: str | None = typer.Option(None, "--approved-by", help="With --force-reason: staff ID of a second "
                                           "operator approving the forced promotion (not the operator; recorded)."),
    crop_model: str = typer.Option("champion", "--crop-model", help="With --county: crop-type model for the features "
                                   "(champion if registered, a folder, or none)."),
    data: str | None = typer.Option(None, "--data", help="With --features: real or synthetic (the governance label; "
                                    "default real). A county folder says it itself."),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="With --county: cache folder (default <county>/.cache)."),
    operator: str | None = typer.Option(None, "--operator", help="Who trains (default $AGCREDIT_OPERATOR or user)."),
    weather: Path | None = typer.Option(None, "--weather", help="Daily weather CSV (region, date, precip_mm, tmin_c, "
                                        "tmax_c, et0_mm): the model also reads weather as of each date (default with "
                                        "--county: the county's weather/daily.csv when it has one)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
) -> None:
    """Train the yield-value model on past seasons' reported yields, register it (MLflow) and promote it."""
    from pipelines._cli_models import refuse_personal_data
    from pipelines.train_yield import train_yield_county, train_yield_files

    refuse_personal_data("train yield", {"--force-reason": force_reason, "--operator": operator,
                                         "--approved-by": approved_by})
    if (county is None) == (features is None):
        raise UserInputError("give either --county DIR, or --features P with --reported R")
    if county is not None and data is not None:
        raise UserInputError("--data is for --features/--reported; a county folder says whether it is synthetic")
    if county is not None:
        from pipelines.county import County

        res = train_yield_county(County(county, cache_dir=cache), promote=not no_promote, force_reason=force_reason,
                                 crop_model=crop_model, operator=operator, approved_by=approved_by,
                                 progress=_progress(not quiet),
                                 weather=weather)
    else:
        if reported is None:
            raise UserInputError("--features needs --reported (the farmers' reported yields)")
        data = "real" if data is None else data
        if data not in ("real", "synthetic"):
            raise UserInputError(f"--data: expected real or synthetic, found {data!r}")
        assert features is not None
        res = train_yield_files(features, reported, data=data, promote=not no_promote, force_reason=force_reason,
                                operator=operator, weather=weather, approved_by=approved_by)
    echo(res.summary())
    echo(f"weather columns read: {', '.join(res.model.weather_columns) or 'none'}")
    echo("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings.items()))


@evaluate_app.command("yield")
@user_errors
def evaluate_yield_cmd(
    county: Path = typer.Option(..., "--county", help="County folder with truth/ (demo layout)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    seasons: str | None = typer.Option(None, "--seasons", help="Held-out seasons, comma-separated (default: all past)."),
    no_oracle: bool = typer.Option(False, "--no-oracle", help="Skip the oracle (faster)."),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="Cache folder (default <county>/.cache)."),
    features: str | None = typer.Option(None, "--features", help="Snapshot prefix P: read the past seasons' "
                                        "FieldFeatures from P-fold<SEASON>-end|mid.parquet (one set per held-out "
                                        "season, pipelines.evaluation.yield_.write_fold_snapshot) or else from "
                                        "P-end.parquet and P-mid.parquet (one set for all) instead of featurizing."),
    phenology: str = typer.Option("calibrated", "--phenology", help="calibrated (per held-out season, on the other "
                                  "seasons' declared dates, as production) or uncalibrated."),
    weather: Path | None = typer.Option(None, "--weather", help="Daily weather CSV: add the weather-as-of-date "
                                        "features (default: the county's weather/daily.csv when it has one)."),
    no_weather: bool = typer.Option(False, "--no-weather", help="Evaluate without weather even when the county "
                                    "has weather/daily.csv."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
    interval_by: str = typer.Option("field", "--interval-by", help=INTERVAL_BY_HELP),
) -> None:
    """Leave-one-season-out yield evaluation against truth, beside baselines and an oracle; checks the targets."""
    from pipelines.evaluation._bootstrap import check_interval_by
    from pipelines.evaluation.yield_ import evaluate_yield_county, read_feature_snapshot, read_fold_snapshot

    check_interval_by(interval_by)
    held = [s.strip() for s in seasons.split(",") if s.strip()] if seasons else None
    if weather is not None and no_weather:
        raise UserInputError("give --weather F or --no-weather, not both")
    if phenology not in ("calibrated", "uncalibrated"):
        raise UserInputError(f"--phenology {phenology!r}: expected calibrated or uncalibrated")
    folds = read_fold_snapshot(features, ("end", "mid")) if features else None
    feats = read_feature_snapshot(features, ("end", "mid")) if features and folds is None else None
    res = evaluate_yield_county(county, seasons=held, oracle=not no_oracle, cache_dir=cache,
                                progress=_progress(not quiet), features=feats, fold_snapshot=folds, weather=weather,
                                county_weather=not no_weather, phenology=phenology == "calibrated",
                                interval_by=interval_by)
    if as_json:
        json.dump(res.to_dict(), sys.stdout, indent=1, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        echo(res.text())
