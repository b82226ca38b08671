"""``agcredit evaluate alerts``: replay a season observation by observation against the county's truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines._cli_app import INTERVAL_BY_HELP, echo, err, evaluate_app, user_errors


@evaluate_app.command("alerts")
@user_errors
def alerts_cmd(
    county: Path = typer.Option(..., "--county", help="A county folder with truth/ (e.g. from agcredit simulate)."),
    season: str = typer.Option(None, "--season", help="Season to replay (default: the county's current one)."),
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Tune the alert thresholds on the last past seasons."),
    crop_model: bool = typer.Option(True, "--crop-model/--no-crop-model",
                                    help="Fit the production crop-type model on past seasons for CROP_MISMATCH, "
                                         "as `agcredit monitor` uses the champion (--no-crop-model: faster, "
                                         "CROP_MISMATCH left out)."),
    cache: Path = typer.Option(None, "--cache", "--cache-dir", help="Series cache folder (default: <county>/.cache/series)."),
    weather: Path = typer.Option(None, "--weather", help="Daily weather table (region,date,tmin_c,tmax_c,...; "
                                                        "default the county's weather/daily.csv), for --timing gdd."),
    timing: str = typer.Option("days", "--timing", help="days (default) or gdd: the collapse timing in calendar "
                                                       "days or in growing degree days from the daily weather."),
    rule: list[str] = typer.Option(None, "--rule", help="NAME=VALUE: an alert threshold set instead of its default "
                                                        "(repeatable; e.g. peer_stall_max=0.5 turns that option "
                                                        "on); the tuning runs with it, a tuned name is fixed."),
    interval_by: str = typer.Option("field", "--interval-by", help=INTERVAL_BY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    events_out: Path = typer.Option(None, "--events-out",
                                    help="Also write every event of the season (field, event, onset), the alert "
                                         "that caught it and its delay, and every alert raised on its field, to this "
                                         "file (.csv, or Parquet otherwise): the misses behind the recall."),
) -> None:
    """Precision, recall and delay (in clear observations after onset) of the early warnings, beside a naive
    baseline; figures labelled synthetic or real."""
    from features.atomic import check_writable, write_table_atomic
    from pipelines.evaluation import json_ready
    from pipelines.evaluation._bootstrap import check_interval_by
    from pipelines.evaluation.alerts import evaluate_alerts, format_alert_evaluation, parse_rules

    check_interval_by(interval_by)  # before minutes of replay
    rules = parse_rules(rule or [])  # before minutes of replay
    if events_out is not None:
        check_writable(events_out, what="--events-out file")  # before minutes of replay
    ev = evaluate_alerts(county, season=season, tune=tune, crop_model=crop_model, cache_dir=cache, progress=err,
                         weather=weather, timing_unit=_timing(timing), rules=rules, interval_by=interval_by)
    if events_out is not None:
        write_table_atomic(ev.events, events_out)
        err(f"wrote {len(ev.events)} events ({int(ev.events['alert_date'].notna().sum())} caught) to {events_out}")
    if as_json:
        echo(json.dumps(json_ready(ev.to_dict()), sort_keys=True, default=str, allow_nan=False))
        return
    echo(format_alert_evaluation(ev))


def _timing(value: str) -> str:
    from features.errors import UserInputError

    if value not in ("days", "gdd"):
        raise UserInputError(f"--timing: expected days or gdd, found {value!r}")
    return value
