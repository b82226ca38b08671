"""``agcredit schedule show``: the coming re-underwriting checkpoints."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from features.errors import UserInputError
from pipelines._cli_app import echo, parse_date, schedule_app, user_errors


@schedule_app.command("show")
@user_errors
def show(
    season: list[str] = typer.Option(None, "--season", help="Season(s) YYYY (default: the checkpoints of the next "
                                                            "twelve months, whatever season they belong to)."),
    region: str = typer.Option(None, "--region", help="Only this region."),
    today: str = typer.Option(None, "--today", help="Show checkpoints on or after this date (YYYY-MM-DD)."),
    calendar: Path = typer.Option(None, "--calendar", help="A season calendar CSV (default: the shipped one)."),
    models: bool = typer.Option(False, "--models", help="Say for each checkpoint whether the registry's champion "
                                "yield model can re-estimate its lines then, or keeps them (MLFLOW_TRACKING_URI)."),
) -> None:
    """List the coming checkpoints per season, region and crop."""
    import pandas as pd

    from pipelines.schedule import load_calendar, upcoming

    day = parse_date(today, "--today") or date.today()
    from features.contracts import SEASON_RE

    bad = [x for x in season or [] if not SEASON_RE.match(str(x).strip())]
    if bad:
        raise UserInputError(f"--season {bad[0]}: expected a year like 2024")
    # a season given twice is listed once
    # default: the seasons whose checkpoints can fall in the next twelve months — the one after next too, whose
    # winter wheat is sown next autumn (this year and next only left those checkpoints out)
    seasons = list(dict.fromkeys(str(x).strip() for x in season)) if season else \
        [str(day.year), str(day.year + 1), str(day.year + 2)]
    if not season:  # those that are season years
        seasons = [s for s in seasons if SEASON_RE.match(s)]
        if not seasons:
            raise UserInputError(f"--today {day}: year {day.year} is not a season year (expected a year like 2024); "
                                 "check the date or give --season")
    up = upcoming(day, seasons, load_calendar(calendar), region)
    if not season and len(up):  # in date order: next autumn's wheat of the season after next among the rest
        up = up[up["date"] <= pd.Timestamp(day) + pd.DateOffset(years=1)].sort_values(
            ["date", "season", "region", "crop"], kind="stable")
    if up.empty:
        past = upcoming(date.min, seasons, load_calendar(calendar), region) if season else None
        if past is not None and len(past):  # a season asked for by name, all of it before today (a replay)
            first = past["date"].min().date()
            where = f" ({region})" if region else ""
            echo(f"no coming checkpoints: season {', '.join(seasons)} has {len(past)}{where}, all before {day}; "
                 f"--today {first} lists them")
            return
        echo("no coming checkpoints")
        return
    reach = None
    if models:  # what re-underwriting will do at each: re-estimate, or keep the lines (before the validated day)
        from models import registry
        from pipelines.schedule import model_reach
        from pipelines.train_yield import MODEL_NAME

        gov = registry.governance(MODEL_NAME, "champion")
        reach = model_reach(up, gov)
    echo(f"{'date':<11} {'season':<7} {'region':<16} {'crop':<13} {'checkpoint':<12}"
         + (" yield model (champion)" if reach is not None else ""))
    for i, r in enumerate(up.itertuples()):
        echo(f"{r.date.date().isoformat():<11} {r.season:<7} {r.region:<16} {r.crop:<13} {r.checkpoint:<12}"
             + (f" {reach[i]}" if reach is not None else ""))
