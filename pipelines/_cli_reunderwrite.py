"""``agcredit reunderwrite`` and ``agcredit monitor``: re-decide the Book at a checkpoint; list alerts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import typer

from features.errors import UserInputError
from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    HAZY_DATES_HELP,
    REJECTS_HELP,
    SEASON_SCALE_HELP,
    STORE_HELP,
    app,
    echo,
    err,
    models_text,
    parse_date,
    parse_dates,
    refuse_out_over_inputs,
    rejected_text,
    user_errors,
)
from pipelines._cli_shadow_opts import SHADOW_HELP, shadow_lines


def _money(v: Any, cur: str) -> str:
    from models.money import format_minor

    return format_minor(int(v), cur)


def _print_result(res: Any, shadow: bool = True) -> None:
    """One line per line of the Book: old → new limit, outcome, new reasons, actions; then the alerts; then what each
    challenger did in shadow (``shadow`` False, ``--no-shadow``: each challenger present says it did not run)."""
    for w in res.warnings:
        err(f"warning: {w}")
    echo(f"re-underwriting {res.season} as of {res.as_of} (yield-model checkpoint {res.checkpoint}; models "
         + models_text(res.models) + f"): {len(res.items)} line(s), "
         f"{res.written} record(s) written, {res.already_present} already present")
    if getattr(res, "models_said", None):  # as of a past date: the champions in force on it
        echo(res.models_said)
    if res.hazy_dates is not None:
        echo(f"smoother haze dates: {', '.join(res.hazy_dates) or 'none'} "
             f"({'pinned' if res.haze_pinned else 'judged on these fields'})")
    ch = res.changes
    if len(ch):
        # old limit: the application's previous record (under a policy with kept_lines_stand, a line kept at an earlier
        # checkpoint: the decision it stood on; with refer_keeps_book_limit, the Book limit when that was a REFER or
        # DECLINE); Book limit: what the bank's line commits (they differ when the line was booked before a REFER or
        # DECLINE record under earlier policies, or changed outside agcredit)
        # a dated Book (balance_as_of): each balance's date beside it; an undated Book's table as before
        dated = "balance_as_of" in ch.columns and bool((ch["balance_as_of"].fillna("").astype(str) != "").any())
        echo(f"{'line':<16} {'application':<14} {'Book limit':>16} {'old limit':>16} {'new limit':>16} "
             f"{'outstanding':>16} " + (f"{'balance as of':<13} " if dated else "")
             + f"{'outcome':<8} new reasons / actions")
        for r in ch.itertuples(index=False):
            kept = f"NOT RE-ESTIMATED ({r.not_reestimated}): line kept" if r.not_reestimated else ""
            extra = "; ".join(x for x in (r.new_reasons, kept, f"ACTION {r.actions}" if r.actions else "") if x)
            when = (f"{str(getattr(r, 'balance_as_of', '') or '—'):<13} " if dated else "")
            echo(f"{r.line_id:<16} {r.application_id:<14} {_money(r.book_limit, r.currency):>16} "
                 f"{_money(r.old_limit, r.currency):>16} {_money(r.new_limit, r.currency):>16} "
                 f"{_money(r.outstanding, r.currency):>16} {when}{r.new_outcome:<8} {extra}")
        from pipelines.reunderwrite import change_counts
        from underwriting.standing import kept_lines_stand, refer_keeps_book_limit

        n = change_counts(ch)
        kept = ch["not_reestimated"] != ""
        against = ("the previous record, or the decision a line kept earlier stood on"
                   if any(kept_lines_stand(i.body) for i in res.items) else "the previous record")
        if any(refer_keeps_book_limit(i.body) for i in res.items):  # 2026.12.8: a REFER or DECLINE granted nothing
            against += "; the Book limit where that was a REFER or DECLINE"
        echo(f"limits down: {n['down']}, up: {n['up']} (against {against}); below the Book limit: "
             f"{n['below_book']}; actions proposed: {n['actions']}")
        if kept.any():
            codes = ch.loc[kept, "not_reestimated"].str.split(",").explode().value_counts()
            echo(f"not re-estimated: {int(kept.sum())} line(s), kept as they stand (REFER only because the models "
                 f"could not value their fields as of {res.as_of}: " + ", ".join(f"{c} {n}" for c, n in codes.items())
                 + "); a later checkpoint the models can value them at re-estimates them (for a crop or region "
                 "outside the yield model's validated scope none will: an analyst decides those)")
    _print_alerts(res.alerts)
    if res.items:  # a run that re-decided no line ran nothing in shadow either
        shadow_lines(res.shadow if shadow else None)


def _print_alerts(alerts: Any) -> None:
    if alerts is None or len(alerts) == 0:
        echo("alerts: none")
        return
    from pipelines._monitor_format import format_evidence

    counts = alerts["alert"].value_counts().sort_index()
    echo("alerts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    echo(f"{'date':<11} {'field':<10} {'alert':<14} {'severity':<8} {'line':<16} evidence")
    from pipelines.monitor import HELD_LINE

    held = alerts["held"] if "held" in alerts.columns else [None] * len(alerts)
    for r, why in zip(alerts.itertuples(index=False), held, strict=True):
        line = r.line_id if isinstance(r.line_id, str) else HELD_LINE if isinstance(why, str) else "-"
        echo(f"{str(r.date)[:10]:<11} {r.field_id:<10} {r.alert:<14} {r.severity:<8} {line:<16} "
             f"{format_evidence(r.evidence)}" + (f" — {why}" if isinstance(why, str) else ""))


def _inputs(county: Path | None, fields: Path | None, imagery: str | None, book: Path | None,
            applications: Path | None, need_book: bool = True) -> None:
    if county is not None and any(x is not None for x in (fields, imagery, book, applications)):
        files = "--fields/--imagery/--book/--applications" if need_book else "--fields/--imagery/--book"  # monitor's
        raise UserInputError(f"give either --county or {files}, not both")
    if county is None:
        need = {"--fields": fields, "--imagery": imagery}
        if need_book:
            need |= {"--book": book, "--applications": applications}
        missing = [k for k, v in need.items() if v is None]
        if missing:
            raise UserInputError(f"without --county, give {', '.join(missing)}")


@app.command("reunderwrite")
@user_errors
def reunderwrite_cmd(
    season: str = typer.Option(None, "--season", help="Season YYYY (default: the county's current season)."),
    as_of: str = typer.Option(None, "--as-of", help="Checkpoint date YYYY-MM-DD."),
    due: bool = typer.Option(False, "--due", help="Run exactly the checkpoints due and not yet done (needs --county)."),
    today: str = typer.Option(None, "--today", help="With --due: the date to run as of (default: today)."),
    county: Path = typer.Option(None, "--county", help="A county folder (records/ and scenes/)."),
    fields: Path = typer.Option(None, "--fields", help="Fields file, every season (past ones give the alerts' bands)."),
    imagery: str = typer.Option(None, "--imagery", help="Scene folder, index.csv or series table."),
    book: Path = typer.Option(None, "--book", help="The Book of active lines (CSV/Parquet)."),
    applications: Path = typer.Option(None, "--applications", help="Applications (CSV/Parquet)."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    policy: Path = typer.Option(None, "--policy", help="Policy file (default: the shipped one)."),
    profile: str = typer.Option(None, "--profile", help="Policy profile (default: the county's; without --county, as "
                                "underwrite: the policy's profile in the season's applications' and Book lines' "
                                "currency)."),
    operator: str = typer.Option(None, "--operator", help="Who runs it (recorded; default agcredit-reunderwrite)."),
    cache: Path = typer.Option(None, "--cache", "--cache-dir", help="Series cache folder."),
    calendar: Path = typer.Option(None, "--calendar", help="With --due: a season calendar CSV."),
    weather: Path = typer.Option(None, "--weather", help="Without --county: daily weather CSV (a county folder's "
                                                         "weather/daily.csv is read by itself)."),
    crop_season_scale: float | None = typer.Option(None, "--crop-season-scale", min=0.25, max=4.0,
                                                   help="With --as-of: " + SEASON_SCALE_HELP),
    hazy_dates: str | None = typer.Option(None, "--hazy-dates", help="With --as-of: " + HAZY_DATES_HELP),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help="With --as-of: " + ALLOW_MISSING_HELP),
    history: Path | None = typer.Option(None, "--history", help="Without --county: the farm records' reported "
                                        "yields (field_id, season, declared_crop, reported_yield_t_ha), which the "
                                        "pre-season rule values a field on (a county's records/history.csv is read "
                                        "by itself)"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="build the season's series and features (and the "
                                         "past seasons' series) on this Dask cluster (tcp://HOST:8786); the decisions "
                                         "are the one-machine run's"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="build them on a local Dask cluster of N "
                                 "processes"),
    chunk_fields: int | None = typer.Option(None, "--chunk-fields", min=1, help="With --scheduler/--workers: fields "
                                            "per spatial block (default 5000)"),
    rejects: Path | None = typer.Option(None, "--rejects", help="With --fields: " + REJECTS_HELP),
    shadow: bool = typer.Option(True, "--shadow/--no-shadow", help=SHADOW_HELP),
) -> None:
    """Re-decide every active line as of a checkpoint with the champion models; write linked records."""
    from underwriting.policy import default_policy, load_policy
    from underwriting.store import store_url

    if due and county is None:  # before the files' check, whose advice (--fields, --book...) --due cannot take
        raise UserInputError("--due needs --county (a county folder: its calendar, records and scenes)")
    _inputs(county, fields, imagery, book, applications)
    _rejects_with_fields(rejects, county, fields=fields, imagery=imagery, book=book, applications=applications,
                         weather=weather, history=history, policy=policy, calendar=calendar,
                         store=store_url(store) if rejects is not None else None)
    if county is not None and history is not None:
        raise UserInputError("--history is for --fields/--imagery runs; a county's is records/history.csv")
    if county is not None and weather is not None:
        raise UserInputError("--weather is for --fields/--imagery runs; a county's weather is weather/daily.csv")
    if scheduler and workers:
        raise UserInputError("give --scheduler or --workers, not both")
    if chunk_fields is not None and not (scheduler or workers):  # it was ignored silently
        raise UserInputError("--chunk-fields goes with --scheduler/--workers (the spatial blocks of a Dask run); "
                             "drop it, or add one of them")
    if scheduler or workers:  # refused before any cluster starts, not after its processes did
        _check_dask_imagery(county, imagery)
    pol = load_policy(policy) if policy is not None else default_policy()
    haze = parse_dates(hazy_dates, "--hazy-dates")
    if due and allow_missing:  # a scheduled run decides on complete imagery only
        raise UserInputError("--allow-missing-acquisitions goes with one checkpoint's run: give --season and --as-of, "
                             "not --due")
    if due and (crop_season_scale is not None or haze is not None):
        raise UserInputError("--crop-season-scale and --hazy-dates pin one checkpoint's run: give --season and "
                             "--as-of, not --due")
    if not due and (today is not None or calendar is not None):  # they were ignored silently
        raise UserInputError("--today and --calendar go with --due (which checkpoints are due); with --as-of, drop "
                             "them")
    from pipelines._store_grants import check_command

    # before any feature is built: a role that cannot write the tables this run writes is refused (it had failed
    # after all the work, or lost the challenger's shadow rows to a warning)
    check_command(store_url(store), "agcredit reunderwrite" + (" --due" if due else ""), shadow=shadow, due=due,
                  plain=not due)
    if due:
        if as_of is not None:
            raise UserInputError("give --as-of or --due, not both")
        from pipelines.reunderwrite import reunderwrite_due

        day = parse_date(today, "--today") or date.today()

        def done(d: Any, res: Any) -> None:  # printed as each checkpoint is marked, not after the last
            echo(f"checkpoint {d.season} {d.region} {d.crop} {d.checkpoint} ({d.date})"
                 + (f", superseding {', '.join(d.superseded)}" if d.superseded else ""))
            if res.covered_by is None:
                _print_result(res, shadow)
            elif res.covered_by == d.date.isoformat():  # decided that day by an earlier run (not re-underwritten)
                echo(f"  already decided as of {res.covered_by} by an earlier run — an underwriting or a "
                     "re-underwriting of that day (its records are in the store; `agcredit explain APPLICATION` shows "
                     "each line's decision and any proposed actions): not run again")
            else:  # its lines were re-decided later: re-underwriting goes forward only
                echo(f"  covered by the records as of {res.covered_by} (re-underwriting goes forward only): not run")
            if res.covered_by is not None and shadow and res.shadow:  # the shadow rows the covering records lacked,
                shadow_lines(res.shadow)                              # as a repeat of their date adds them

        from pipelines.county import County
        from pipelines.reunderwrite import SeasonOver
        from underwriting.store import RunInProgress

        try:
            # without --today (a timer's run on the real date) a county whose seasons all ended over a year ago is
            # refused, exit 1: a current_season never rolled over ran every checkpoint with nothing written, green
            # the cluster starts once the run lock is held and a checkpoint is due (a timer's second run starts none)
            # --cache is the county's (it was dropped here: a --due run cached its series in <county>/.cache)
            cty = County(county, cache_dir=cache)
            ran = reunderwrite_due(day, county=cty, store=store, season=season,
                                   calendar=calendar, policy=pol, profile=profile, operator=operator, progress=err,
                                   on_done=done,
                                   refuse_season_over=today is None, chunk_fields=chunk_fields,
                                   start_runner=(lambda: _runner(scheduler, workers)) if scheduler or workers
                                   else None, shadow=shadow)
        except RunInProgress as e:  # a timer's second run: the first does the work (exit 0, not waiting)
            echo(str(e))
            return
        except SeasonOver as e:
            err(f"warning: {e}")
            raise typer.Exit(code=1) from None
        if not ran:  # which: none due yet, or all done — and the next one
            from pipelines.schedule import load_calendar, nothing_due_text

            echo(nothing_due_text(day, str(season or cty.current_season), load_calendar(calendar), cty.region))
        return
    day = parse_date(as_of, "--as-of")
    if day is None:
        raise UserInputError("give --as-of DATE (or --due)")
    if county is not None:
        from pipelines.county import County
        from pipelines.reunderwrite import check_day, reunderwrite_county, season_of

        cty = County(county, cache_dir=cache)
        season = season_of(season, cty.seasons, cty.current_season, f"county {county}")
        check_day(cty.fields(), season, day)
        cty.refuse_rejected(season)  # before a cluster starts (reunderwrite_county checks it too)
        with _runner(scheduler, workers) as runner:
            res = reunderwrite_county(cty, season, day, store=store, policy=pol,
                                      profile=profile, operator=operator, progress=err,
                                      crop_season_scale=crop_season_scale, haze_dates=haze,
                                      allow_missing_acquisitions=allow_missing, runner=runner,
                                      chunk_fields=chunk_fields, book_check_when_deciding=True, shadow=shadow)
    else:
        with _runner(scheduler, workers) as runner:
            res = _files_run(season, day, fields, imagery, book, applications, store, pol, profile, operator, cache,
                             weather, crop_season_scale=crop_season_scale, haze_dates=haze, yield_history=history,
                             allow_missing_acquisitions=allow_missing, runner=runner, chunk_fields=chunk_fields,
                             rejects=rejects, shadow=shadow)
    _print_result(res, shadow)
    if rejects is not None:
        echo(rejected_text(res.set_aside, rejects, res.season, left="fields set aside"))
        if res.held_lines:
            shown = ", ".join(f"{line} ({a})" for line, a in res.held_lines[:5])
            echo(f"{len(res.held_lines)} line(s) not re-underwritten: their farmers' fields had rejected rows (see "
                 f"{rejects}, column held_applications); their previous records stay in force — correct the rows "
                 f"and re-run to re-underwrite them: {shown}"
                 + (f" and {len(res.held_lines) - 5} more" if len(res.held_lines) > 5 else ""))
        _exit_partial(rejects, res.set_aside, res.season, held=bool(res.held_lines))


def _check_dask_imagery(county: Path | None, imagery: str | None) -> None:
    """--scheduler/--workers build from the imagery one machine reads — a scene folder, a series table, the
    Statistical API or a Process-API download (pipelines.distributed.featurize_on); imagery that is no source at all
    is refused here (the one-machine error), one line, before a cluster is started."""
    if county is not None or imagery is None:  # a county's imagery is its scene folder
        return
    from pipelines._dask_featurize import dask_imagery

    dask_imagery(imagery)


@contextmanager
def _runner(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """``--scheduler``/``--workers``: a Dask runner for the season's series and features (closed after the run);
    neither: None (one machine, as before)."""
    if not scheduler and not workers:
        yield None
        return
    from pipelines.distributed import runner_from_options

    with runner_from_options(scheduler, workers) as runner:
        yield runner


def _files_run(season: str | None, day: date, fields: Path | None, imagery: str | None, book: Path | None,
               applications: Path | None, store: str | None, pol: Any, profile: str | None, operator: str | None,
               cache: Path | None, weather: Path | None = None, *, crop_season_scale: float | None = None,
               haze_dates: list[date] | None = None, yield_history: Path | None = None,
               allow_missing_acquisitions: bool = False, runner: Any = None, chunk_fields: int | None = None,
               rejects: Path | None = None, shadow: bool = False) -> Any:
    """The files form's run (:func:`pipelines.reunderwrite.read_files_inputs`, then
    :func:`pipelines.reunderwrite.reunderwrite_files`: what `audit replay --reunderwriting --fields` recomputes)."""
    from pipelines.reunderwrite import read_files_inputs, reunderwrite_files

    assert fields is not None and imagery is not None and book is not None and applications is not None
    inp = read_files_inputs(fields, imagery, book, applications, season, day, weather=weather,
                            yield_history=yield_history, rejects=rejects)
    return reunderwrite_files(inp, day, store=store, policy=pol, profile=profile, cache_dir=cache, operator=operator,
                              progress=err, crop_season_scale=crop_season_scale, haze_dates=haze_dates,
                              allow_missing_acquisitions=allow_missing_acquisitions, runner=runner,
                              chunk_fields=chunk_fields, rejects=rejects, shadow=shadow)


@app.command("monitor")
@user_errors
def monitor_cmd(
    season: str = typer.Option(None, "--season", help="Season YYYY (default: the county's current / the latest)."),
    as_of: str = typer.Option(..., "--as-of", help="Date YYYY-MM-DD: alerts raised by then."),
    county: Path = typer.Option(None, "--county", help="A county folder (records/ and scenes/)."),
    fields: Path = typer.Option(None, "--fields", help="Fields file, every season."),
    imagery: str = typer.Option(None, "--imagery", help="Scene folder, index.csv or series table."),
    book: Path = typer.Option(None, "--book", help="The Book (to name the affected lines)."),
    store: str = typer.Option(None, "--store", envvar="AGCREDIT_STORE_URL", show_envvar=False,
                              help="A decision store: also name the decided lines no Book line covers "
                              "(D-<application_id>, as reunderwrite follows them); default $AGCREDIT_STORE_URL "
                              "(unset: no store)."),
    crop_model: str = typer.Option("champion", "--crop-model", help="champion, a saved model folder, or none (its "
                                   "CROP_MISMATCH probabilities and alert thresholds; none: no CROP_MISMATCH, the "
                                   "rules' default thresholds)."),
    cache: Path = typer.Option(None, "--cache", "--cache-dir", help="Series cache folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the alerts as JSON lines."),
    rejects: Path | None = typer.Option(None, "--rejects", help="With --fields: " + REJECTS_HELP),
) -> None:
    """List the early-warning alerts of a season as of a date, with evidence and the affected lines."""
    from features.atomic import undone_on_user_error

    with undone_on_user_error(rejects, interrupted=True):  # a refused or stopped run leaves no rejects file behind
        _monitor(season, as_of, county, fields, imagery, book, store, crop_model, cache, as_json, rejects)


def _monitor(season: str | None, as_of: str, county: Path | None, fields: Path | None, imagery: str | None,
             book: Path | None, store: str | None, crop_model: str, cache: Path | None, as_json: bool,
             rejects: Path | None) -> None:
    """:func:`monitor_cmd`'s run (its rejects file written when the fields are read, undone by the caller on a user
    error or an interrupt)."""
    from pipelines.monitor import alerts_as_of
    from pipelines.reunderwrite import check_day, season_of

    _inputs(county, fields, imagery, book, None, need_book=False)  # --county reads its own Book: --book beside it refused
    _rejects_with_fields(rejects, county, fields=fields, imagery=imagery, book=book)
    aside: list[Any] = []
    day = parse_date(as_of, "--as-of")
    assert day is not None
    if county is not None:
        from pipelines.county import County

        c = County(county, cache_dir=cache)
        s = season_of(season, c.seasons, c.current_season, f"county {county}")
        f = c.fields()
        check_day(f, s, day)
        from pipelines._id_spelling import refuse_ids_written_otherwise

        cb = c.book()  # a line whose farmer the fields write otherwise would raise alerts naming no line (a review)
        refuse_ids_written_otherwise(season=s, fields=f, book=cb, fields_source="fields.gpkg", book_source="book.csv")
        model = _crop_model(crop_model, day)
        al, warnings = alerts_as_of(f, c.imagery, s, day, cache_dir=c.cache_dir / "series",
                                    book=_with_decided(cb, store, s, day), crop_model=model)
    else:
        from features.fields import read_fields_rejecting
        from pipelines.monitor import ALERT_FIELDS_NEED
        from underwriting.applications import read_book

        assert fields is not None
        read = read_fields_rejecting(fields, rejects, need=ALERT_FIELDS_NEED)  # every season: the bands
        f, aside = read.fields, read.set_aside
        known = sorted(f["season"].astype(str).unique())
        s = season_of(season, known, max(known), f"fields file {fields}")
        if rejects is None:  # a field left out unsaid loses its alerts, and the line they name (as the deciding runs)
            from pipelines.fieldcheck import refuse_rejected

            refuse_rejected(read, s, hint="set them aside with --rejects FILE")
            for w in read.notes():  # repaired geometries, absent optional columns (--rejects lists its rows itself)
                err(f"warning: {w}")
        check_day(f, s, day)
        raw_book = read_book(book) if book is not None else None
        if raw_book is not None and book is not None:  # a line whose farmer the fields write otherwise: no line named
            from pipelines._id_spelling import refuse_ids_written_otherwise

            refuse_ids_written_otherwise(season=s, fields=f, book=raw_book, fields_source=Path(fields).name,
                                         book_source=Path(book).name)
        bk = _with_decided(raw_book, store, s, day)
        model = _crop_model(crop_model, day)
        al, warnings = alerts_as_of(f, imagery, s, day, cache_dir=cache / "series" if cache is not None else None,
                                    book=bk, crop_model=model)
    for w in warnings:
        err(f"warning: {w}")
    if rejects is not None:  # the JSON lines on stdout are the alerts only
        (err if as_json else echo)(rejected_text(aside, rejects, s, left="fields set aside, not monitored"))
        from pipelines.monitor import mark_held

        al = mark_held(al, aside, s)  # a held farmer's alerts say why they name no line
    unheld = al[al["held"].isna()] if "held" in al.columns else al
    if len(unheld) and "line_id" in al.columns and unheld["line_id"].isna().all():
        # --county reads its Book: "give --book" sent the analyst for a Book already read
        give = [o for o, given in (("--book", county is not None or book is not None), ("--store", bool(store)))
                if not given]
        err(f"warning: no active Book line{' or stored decision' if store else ''} of season {s} covers these "
            f"{len(unheld)} alert(s): they name no line"
            + (f" (give {' or '.join(give)} to follow the lines)" if give else ""))
    if as_json:
        import json

        for r in al.to_dict("records"):
            r["date"] = str(r["date"])[:10]
            if isinstance(r.get("evidence"), str):  # the table keeps it as JSON text; a line holds it as an object
                r["evidence"] = json.loads(r["evidence"])
            if "held" in r and not isinstance(r["held"], str):  # only a held farmer's alert says it
                del r["held"]
            if "line_id" in r and not isinstance(r["line_id"], str):  # null, never NaN (not JSON)
                r["line_id"] = None
            echo(json.dumps(r, sort_keys=True, default=str))
    else:
        _print_alerts(al)
    _exit_partial(rejects, aside, s)


def _rejects_with_fields(rejects: Path | None, county: Path | None, **inputs: Any) -> None:
    """``--rejects`` goes with a ``--fields`` run (a county folder's fields are the county's records) and never
    names one of the run's inputs (one-line user errors)."""
    if rejects is not None and county is not None:
        raise UserInputError("--rejects is for --fields runs; a county folder's fields file is its "
                             "records/fields.gpkg (check it with `agcredit fields validate`)")
    refuse_out_over_inputs(rejects, as_option="--rejects", **inputs)


def _exit_partial(rejects: Path | None, rows: list[Any], season: str, held: bool = False) -> None:
    """Exit 1 (partial) when ``--rejects`` set aside rows of ``season`` (or of none readable), or a farmer was held;
    another season's rows only: exit 0 (as underwrite)."""
    from features.fields import partial_rows

    if rejects is not None and (partial_rows(rows, season) or held):
        raise typer.Exit(code=1)


def _with_decided(book: Any, store: str | None, season: str, day: Any) -> Any:
    """The Book plus the store's decided lines (:func:`pipelines.reunderwrite.book_with_decided`); no store: the
    Book as it is."""
    if store is None:
        return book
    from pipelines.reunderwrite import book_with_decided
    from underwriting.store import DecisionStore

    with DecisionStore(store, create=False, read_only=True) as st:
        other = st.other_token_key()
        if other is not None:  # the files' farmers would match none of their records: their lines named twice
            err(f"warning: {other}: the files' farmers will not match their records")
        return book_with_decided(book, st.records(str(season)), day, str(season))


def _crop_model(spec: str, day: date | None = None) -> Any:
    """``monitor --crop-model``: none, a saved folder, or the champion — on a past ``day`` the champion of that day
    (:func:`pipelines._cli_report.crop_champion_on`, as a report of that date takes it: by the effective date of its
    promotion), said on standard error when it is not today's."""
    if spec == "none":
        return None
    from features.crop_type import CropTypeClassifier

    if spec != "champion":
        return CropTypeClassifier.load(spec)
    from models.errors import RegistryError
    from models.registry import SaveLoadFlavour, resolve

    flavour = SaveLoadFlavour.of(CropTypeClassifier())
    try:
        today = resolve("crop-type", flavour=flavour)
    except RegistryError as e:
        err(f"warning: no crop-type champion ({e}); CROP_MISMATCH not checked")
        return None
    if day is None or day >= date.today():
        return today.model
    from pipelines._cli_report import crop_champion_on

    model, used = crop_champion_on(today, day, flavour)
    if model is not today.model:
        err(f"note: alerts computed with {used}")
    return model
