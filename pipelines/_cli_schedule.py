"""``agcredit schedule show``: the coming re-underwriting checkpoints."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer

from features.errors import UserInputError
from pipelines._cli_app import echo, err, parse_date, schedule_app, user_errors


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
    store: str = typer.Option(None, "--store", envvar="AGCREDIT_STORE_URL", show_envvar=False,
                              help="A decision store: a status column (done / partial / due / coming, from its checkpoint log "
                              "and re-underwriting records) and the seasons' checkpoints before --today too; default "
                              "$AGCREDIT_STORE_URL (unset: no store). Read only."),
) -> None:
    """List the coming checkpoints per season, region and crop."""
    import pandas as pd

    from pipelines.schedule import load_calendar, upcoming

    day = parse_date(today, "--today") or date.today()
    from features.contracts import SEASON_RE, check_season

    for x in season or []:
        check_season(x, where="--season")  # a name or ID number pasted there is not echoed
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
    from underwriting.store import new_sqlite_file, store_url

    # a store named (AGCREDIT_STORE_URL in a deployment's env file) that `underwrite` has not created yet: the
    # schedule as without a store, said (it was refused, exit 2, until the first underwriting)
    if store and (new_sqlite_file(store_url(store)) is not None or _empty_database(store_url(store))):
        echo(f"no decision store yet at {store_url(store)} (`agcredit underwrite` creates it): the coming checkpoints "
             "without their status")
        store = ""
    # with a store: the checkpoints before today too (done, or due: not run yet), each with its status
    up = upcoming(date.min if store else day, seasons, load_calendar(calendar), region)
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
    lent: set[tuple[str, str]] = set()
    status = checkpoint_status(store, up, day, lent) if store else None
    if status is not None:  # a crop the store's records lend on without checkpoints is never re-underwritten: said
        from pipelines._calendar_check import uncovered_crops

        cal = load_calendar(calendar)
        for w in uncovered_crops(cal, [(r, c) for r, c in lent if region is None or r == region],
                                 f"the store's records of season {', '.join(sorted(set(map(str, up['season']))))}"):
            err(f"warning: {w}")
    echo(f"{'date':<11} {'season':<7} {'region':<16} {'crop':<13} {'checkpoint':<12}"
         + (f" {'status':<43}" if status is not None else "")
         + (" yield model (champion)" if reach is not None else ""))
    for i, r in enumerate(up.itertuples()):
        echo(f"{r.date.date().isoformat():<11} {r.season:<7} {r.region:<16} {r.crop:<13} {r.checkpoint:<12}"
             + (f" {status[i]:<43}" if status is not None else "")
             + (f" {reach[i]}" if reach is not None else ""))


def checkpoint_status(store: str, up: Any, today: date, lent: set[tuple[str, str]] | None = None) -> list[str]:
    """For each checkpoint row of ``up`` (season, region, crop, checkpoint, date), read from the decision store at
    ``store`` (nothing written): ``done (ran as of D)`` / ``done (covered by records as of D)`` / ``done
    (superseded)`` / ``done (no lines)`` as ``reunderwrite --due`` logged it; else, from the store's re-underwriting
    records of the season dated on or before ``today`` whose fields are of the row's region and declare its crop (a
    run logged as of a later day is not taken as done),
    ``done (records as of D)`` when the first of them on or after the checkpoint are dated that day, ``done (covered
    by records as of D)`` when dated after it (re-underwriting goes forward only: that checkpoint will not run),
    ``partial (rows set aside as of D)`` when that run set fields rows aside (``--rejects``, its provenance's
    ``fields_set_aside``: the lines of those farmers were held, not re-decided); ``no lines (no record of R)`` when the
    store holds records of the season dated on or before ``today`` but none with a field of the row's region (before
    the season's first record: ``due`` or ``coming``, as without one); else ``due`` (on or before ``today``, not run
    yet) or ``coming``. ``lent``: filled with the (region, declared crop) of those records' fields."""
    from pipelines.schedule import LOG_TABLE
    from pipelines.underwrite import SET_ASIDE_KEY
    from underwriting.store import DecisionStore

    # (season, region, crop) -> the as-of dates of its re-underwriting records dated on or before ``today`` (a later
    # record did not exist then), and those of the runs that set fields rows aside (``--rejects``: lines held)
    dated: dict[tuple[str, str, str], set[str]] = {}
    held: dict[tuple[str, str, str], set[str]] = {}
    # (season, region) of any record dated on or before ``today``: a region the store holds no line of has no
    # checkpoint due (a store of Nebraska lines listed the Hyderabad checkpoints as due)
    lines: set[tuple[str, str]] = set()
    with DecisionStore(store, create=False, read_only=True) as st:
        for season in sorted({str(x) for x in up["season"]}):
            rec = st.records(season)
            for day, kind, body in zip(rec["as_of"].astype(str), rec["kind"], rec["body"], strict=True):
                if day[:10] > today.isoformat():
                    continue
                b = json.loads(body) if isinstance(body, str) else (body or {})
                lines |= {(season, str(f.get("region"))) for f in b.get("fields") or [] if f.get("region")}
                if lent is not None:
                    lent |= {(str(f.get("region")), str(f.get("declared_crop"))) for f in b.get("fields") or []
                             if f.get("region") and f.get("declared_crop")}
                if kind != "reunderwrite":
                    continue
                aside = SET_ASIDE_KEY in (b.get("provenance") or {})
                for region, crop in {(str(f.get("region")), str(f.get("declared_crop"))) for f in b.get("fields") or []
                                     if f.get("declared_crop") and f.get("region")}:
                    dated.setdefault((season, region, crop), set()).add(day[:10])
                    if aside:
                        held.setdefault((season, region, crop), set()).add(day[:10])
        # the checkpoint log read as the records are: nothing created or written (a store on read-only media too)
        runs = st.table_rows(LOG_TABLE)
    log: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    for r in (runs.to_dict("records") if runs is not None else []):
        log[(str(r["season"]), str(r["region"]), str(r["crop"]), str(r["checkpoint"]))] = (str(r["status"]),
                                                                                          str(r["as_of"]))
    out = []
    for r in up.itertuples():
        d = r.date.date().isoformat()
        got = log.get((str(r.season), str(r.region), str(r.crop), str(r.checkpoint)))
        if got is not None and got[1][:10] <= today.isoformat():  # a run as of a later day had not run on ``today``
            st_, as_of = got
            out.append({"ran": f"done (ran as of {as_of})", "covered": "done (covered by later records)",
                        "superseded": "done (superseded by a later checkpoint)",
                        "no_lines": f"done (no lines as of {as_of})"}.get(st_, f"done ({st_})"))
            continue
        key = (str(r.season), str(r.region), str(r.crop))
        days = sorted(x for x in dated.get(key, set()) if x >= d)
        if days and days[0] in held.get(key, set()):  # a --rejects run: its farmers' lines with rows set aside held
            out.append(f"partial (rows set aside as of {days[0]})")
        elif days and days[0] == d:
            out.append(f"done (records as of {d})")
        elif days:
            out.append(f"done (covered by records as of {days[0]})")
        elif (str(r.season), str(r.region)) not in lines and any(sn == str(r.season) for sn, _ in lines):
            out.append(f"no lines (no record of {r.region})")  # the store's lines of the season are elsewhere
        else:
            out.append("due" if r.date.date() <= today else "coming")
    return out


def _empty_database(url: str) -> bool:
    """A server database (PostgreSQL) without agcredit's tables: a bank's database provisioned before the first
    `underwrite` (it was refused, "no decision store there", where a SQLite file not yet created lists the
    checkpoints). A database that cannot be reached is left to the store's own one-line error."""
    if url.startswith("sqlite"):
        return False
    from sqlalchemy import inspect

    from underwriting._store_schema import decisions, make_engine

    try:
        engine = make_engine(url, read_only=True)
    except Exception:  # noqa: BLE001 — said by DecisionStore when it opens the URL
        return False
    try:
        with engine.connect() as conn:
            return not inspect(conn).has_table(decisions.name)
    except Exception:  # noqa: BLE001 — as above
        return False
    finally:
        engine.dispose()
