"""``agcredit audit verify|replay``, ``agcredit decisions export`` and ``agcredit override``: the decision store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from features.errors import UserInputError
from pipelines._cli_app import (
    BOOK_HELP,
    FEATURES_HELP,
    HAZY_DATES_HELP,
    IMAGERY_HELP,
    PROFILE_HELP,
    SEASON_SCALE_HELP,
    STORE_HELP,
    app,
    audit_app,
    decisions_app,
    echo,
    err,
    models_text,
    parse_date,
    parse_dates,
    refuse_out_over_inputs,
    user_errors,
)


@audit_app.command("verify")
@user_errors
def verify_cmd(store: str | None = typer.Option(None, "--store", help=STORE_HELP),
               expect_head: str | None = typer.Option(None, "--expect-head", help="A head hash printed by an earlier "
                                                      "verify (kept outside the database): BROKEN if it is no longer "
                                                      "in the chain (records cut from its end, or the last ones "
                                                      "rewritten).")) -> None:
    """Walk the whole hash chain and check the append-only guard; print OK with the count and the head (keep it:
    `--expect-head` detects a cut tail later), or what is broken (exit 1)."""
    from underwriting.store import store_url, verify_store

    res = verify_store(store, expect_head=_head_hash(expect_head))
    if res.ok:
        from underwriting._store_chain import other_key_text

        head = f"; head seq {res.head_seq} hash {res.head_hash}" if res.head_hash else ""
        tokens = f"; farmer tokens' key check {res.token_key_check}" if res.token_key_check else ""
        echo(f"OK: {res.count} records, chain intact ({_shown(store_url(store))}){tokens}{head}")
        other = other_key_text(res.token_key_check)
        if other is not None:
            err(f"warning: {other}; writers refuse the store under it")
        if res.expected_head_seq is not None:  # the head kept earlier: what came after it, said (it read as "no change")
            since = res.count - res.expected_head_seq
            echo(f"the expected head is record {res.expected_head_seq}: "
                 + (f"{since} record(s) appended since (seq {res.expected_head_seq + 1}-{res.count})" if since
                    else "it is still the head (nothing appended since)"))
        if res.forked:
            shown = ", ".join(res.forked[:5]) + (f" and {len(res.forked) - 5} more" if len(res.forked) > 5 else "")
            err(f"warning: {len(res.forked)} application(s) have forked records (two records start their chain or "
                f"replace the same record; written before underwrite refused it): {shown}; `explain` and "
                "`override` follow the last written — review them")
        if res.token_key_missing:
            err("warning: the store's records hold farmer tokens made with a token key, but its metadata holds no "
                "check of that key (removed, or never recorded by an earlier release): writers refuse the store — "
                "run `agcredit audit upgrade-store` with AGCREDIT_TOKEN_KEY set to the key the records were made "
                "with, and if the store had a check, find out who changed its metadata")
        for said in res.policy_registrations:
            if "registered as content" in said:  # present and other than the records': writers refuse the version
                err(f"warning: {said}: its metadata was changed — writers refuse that version until the registration "
                    "names the content its records name; find out who changed it")
            else:
                err(f"warning: {said}: writers compare a file of that version with these records, and its next "
                    "record registers it again; if this store was written after registrations began, find out who "
                    "changed its metadata")
        if res.upgrade_pending:
            err(f"warning: no guard trigger(s) {', '.join(res.upgrade_pending)} and no record of being created with "
                "them: a store of an earlier release (`agcredit audit upgrade-store` adds them; writers refuse the "
                "store until then) — or, if this release created it, the guard and its record were removed: keep the "
                "head hash outside the store and check it with --expect-head")
        return
    if res.seq is None:
        err(f"BROKEN: {res.problem}; {res.count} records verified")
    else:
        err(f"BROKEN: record {res.seq} ({res.record_id}): {res.problem}; {res.count} records before it verified")
    raise typer.Exit(code=1)


def _other_token_key(store: str | None) -> str | None:
    """Said beside a replay's records not reproduced when ``AGCREDIT_TOKEN_KEY`` is another key than the one the
    store's farmer tokens were made with: files with farmers' identifiers give other tokens, so other records."""
    from underwriting.store import DecisionStore

    with DecisionStore(store, create=False, read_only=True) as st:
        other = st.other_token_key()
    return None if other is None else (f"{other}: files with farmers' identifiers give other tokens, hence other "
                                       "records — replay with the store's key")


@audit_app.command("upgrade-store")
@user_errors
def upgrade_store_cmd(store: str | None = typer.Option(None, "--store", help=STORE_HELP),
                      expect_head: str | None = typer.Option(None, "--expect-head", help="The head hash kept from "
                                                             "an earlier verify: refused unless it is in the chain.")
                      ) -> None:
    """Bring a store created by an earlier release up to this one: add the guard triggers it lacks (a SQLite store
    created before the guard against INSERT OR REPLACE) and the token key rows (a store whose records hold keyed
    farmer tokens but no key check: the check of AGCREDIT_TOKEN_KEY, which must be the records' key), after
    verifying the whole chain; one transaction, records untouched, a re-run changes nothing. A broken chain or a
    dropped guard is refused (exit 2, nothing changed). Then creates the tables agcredit writes beside the records
    that are missing (checkpoint log, plain runs' log, shadow decisions) — and first, in a PostgreSQL database without
    the store, the store: the owner's one command before a least-privilege role (SELECT, INSERT) writes."""
    from pipelines._store_grants import create_aux_tables, create_postgres_store
    from underwriting.store import store_url, upgrade_store

    # a PostgreSQL database without the store: its owner creates it here (a least-privilege role cannot)
    new = create_postgres_store(store_url(store))
    res = upgrade_store(store, expect_head=_head_hash(expect_head))
    # then every table agcredit writes beside the records (checkpoint log, plain runs' log, shadow decisions)
    made = create_aux_tables(store_url(store))
    head = f"; head seq {res.head_seq} hash {res.head_hash}" if res.head_hash else ""
    if res.added or res.key_check or res.key_check_noted or made or new:
        done = (["created the store (agc_decisions, agc_meta, guard triggers)"] if new else []) + (
            [f"created table(s) {', '.join(made)}"] if made else []) + (
            [f"added {', '.join(res.added)}"] if res.added else []) + (
            [f"recorded the token key check {res.key_check} (of the key set now)"] if res.key_check else []) + (
            ["noted that the store's token key check is recorded (token_key_recorded)"]
            if res.key_check_noted and not res.key_check else [])
        echo(f"upgraded {_shown(store_url(store))}: {'; '.join(done)}; {res.count} records, chain intact, "
             f"untouched{head}")
        if expect_head is None and (res.added or res.key_check):
            err("warning: upgraded without --expect-head: the last records rewritten before the upgrade would go "
                "unnoticed — check the head hash kept from an earlier verify (`agcredit audit verify --expect-head H`)")
    else:
        echo(f"up to date {_shown(store_url(store))}: nothing changed; {res.count} records, chain intact{head}")


@audit_app.command("replay")
@user_errors
def replay_cmd(
    applications: Path | None = typer.Option(None, "--applications", help="applications (CSV or Parquet) of the "
                                             "decisions"),
    fields: Path | None = typer.Option(None, "--fields", help="field polygons (as given to underwrite)"),
    season: str | None = typer.Option(None, "--season", help="season, named by its harvest year (with "
                                      "--reunderwriting: default the county's current season)"),
    as_of: str = typer.Option(..., "--as-of", help="the decisions' date (YYYY-MM-DD)"),
    reunderwriting: bool = typer.Option(False, "--reunderwriting", help="replay the re-underwriting records of "
                                        "--season as of --as-of instead of the underwriting decisions: made by "
                                        "`reunderwrite --county DIR --as-of D` or `--due` (give --county; run by run "
                                        "as the store's checkpoint log tells them apart, a --due checkpoint: its "
                                        "crop's lines), or by `reunderwrite --fields F --imagery I --book B "
                                        "--applications A --as-of D` (give the same files, and --weather/--history "
                                        "if it had them; the date's records replayed as one run of all lines: --due "
                                        "runs only exist with --county)"),
    county: Path | None = typer.Option(None, "--county", help="with --reunderwriting: the county folder the "
                                       "re-underwriting ran on (its records, scenes and weather)"),
    imagery: str | None = typer.Option(None, "--imagery", help=IMAGERY_HELP),
    features: Path | None = typer.Option(None, "--features", help=FEATURES_HELP),
    book: Path | None = typer.Option(None, "--book", help=BOOK_HELP),
    policy: Path | None = typer.Option(None, "--policy", help="policy file (YAML; default: the one the stored "
                                       "records name — the shipped policy or a released version of it, kept in "
                                       "underwriting/policies/archive)"),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
    crop_model: str | None = typer.Option(None, "--crop-model", help="crop-type model: default the version the "
                                                                     "records name; an alias, a folder, or none"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder for series and area"),
    weather: Path | None = typer.Option(None, "--weather", help="daily weather CSV (when the yield model reads it)"),
    crop_season_scale: float | None = typer.Option(None, "--crop-season-scale", min=0.25, max=4.0,
                                                   help=SEASON_SCALE_HELP),
    hazy_dates: str | None = typer.Option(None, "--hazy-dates", help=HAZY_DATES_HELP),
    recorded_pins: bool = typer.Option(False, "--recorded-pins", help="score with the crop season scale and the "
                                       "smoother's haze dates the stored decisions (with --reunderwriting: each "
                                       "run's records) were scored with (to replay a decision with fewer fields "
                                       "than its run had)"),
    history: Path | None = typer.Option(None, "--history", help="the farm records' reported yields the run was given "
                                         "(underwrite --history)"),
    json_out: bool = typer.Option(False, "--json", help="one JSON object per application"),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Recompute stored decisions from their inputs with the model versions the records name and compare them
    (identical / reproduced except run-level provenance / differs / not stored); writes nothing. Exit 1 when a
    stored decision is not reproduced. With --reunderwriting --county DIR: the re-underwriting records of a
    checkpoint date instead, each run that wrote them replayed as it ran (a `reunderwrite --due` crop checkpoint: that
    crop's lines; a store without a checkpoint log: all lines at once). With --reunderwriting --fields
    --imagery --book --applications: those of a `reunderwrite` run on these files, read and run as it did (its
    --rejects rows set aside again, no rejects file written), the date's records as one run of all lines."""
    import json

    from models.money import format_minor
    from pipelines.replay import replay_files, replay_reunderwriting, replay_reunderwriting_files

    day = parse_date(as_of, "--as-of")
    assert day is not None
    if reunderwriting:
        files = (fields, imagery, book, applications)
        if county is None and all(x is None for x in files):
            raise UserInputError("--reunderwriting needs --county (the county folder the re-underwriting ran on) or "
                                 "--fields/--imagery/--book/--applications (the files it was given)")
        from pipelines._cli_reunderwrite import _inputs

        _inputs(county, *files)  # both forms: one line; the files form without one of them: which to give
        given = [k for k, v in (("--features", features), ("--crop-season-scale", crop_season_scale),
                                ("--hazy-dates", hazy_dates))
                 + ((("--weather", weather), ("--history", history)) if county is not None else ())
                 if v is not None]
        if given:
            raise UserInputError(f"{', '.join(given)}: not with --reunderwriting ("
                                 + ("the county folder gives the re-underwriting's inputs" if county is not None else
                                    "the files are read as the re-underwriting read them; --recorded-pins pins what "
                                    "its records name") + "); drop them")
        if county is not None:
            res = replay_reunderwriting(county, season, day, store=store, policy=policy, profile=profile,
                                        crop_model=crop_model, cache_dir=cache, pins=recorded_pins)
        else:
            assert fields is not None and imagery is not None and book is not None and applications is not None
            res = replay_reunderwriting_files(fields, imagery, book, applications, season, day, store=store,
                                              weather=weather, history=history, policy=policy, profile=profile,
                                              crop_model=crop_model, cache_dir=cache, pins=recorded_pins)
    else:
        if county is not None:
            raise UserInputError("--county goes with --reunderwriting (underwriting decisions are replayed from "
                                 "--applications and --fields)")
        missing = [k for k, v in (("--applications", applications), ("--fields", fields), ("--season", season))
                   if v is None]
        if missing:
            raise UserInputError(f"give {', '.join(missing)} (or --reunderwriting --county DIR)")
        assert applications is not None and fields is not None and season is not None
        if imagery is None and features is None:
            raise UserInputError("give --imagery (to build the features) or --features")
        res = replay_files(applications, fields, season, day, imagery=imagery, features=features, book=book,
                           policy=policy, profile=profile, store=store, crop_model=crop_model, cache_dir=cache,
                           weather=weather, crop_season_scale=crop_season_scale,
                           haze_dates=parse_dates(hazy_dates, "--hazy-dates"), pins=recorded_pins,
                           history=history)
    for w in res.warnings:
        err(f"warning: {w}")
    if res.counts()["identical"] < len(res.rows):  # records not reproduced: tokens made under another key?
        other = _other_token_key(store)
        if other is not None:
            err(f"warning: {other}")
    if json_out:
        for r in res.rows:
            echo(json.dumps({**r.to_dict(), "policy": res.policy}, sort_keys=True))
    else:
        c = res.counts()
        what = "re-underwritten line(s)" if reunderwriting else "application(s)"
        echo(f"replayed {len(res.rows)} {what} as of {day} with "
             + models_text(res.models) + f", policy {res.policy}: "
             + ", ".join(f"{v} {k}" for k, v in c.items()))
        if res.runs:
            echo("runs replayed one by one, as they ran: " + "; ".join(res.runs))
        if res.provenance_counts():
            echo("run-level provenance that differs: "
                 + ", ".join(f"{k} ({n})" for k, n in res.provenance_counts().items()))

        def money(x: tuple[str, int] | None) -> str:
            return f"{x[0]} {format_minor(x[1], res.currency)}" if x else "-"

        for r in res.rows:
            extra = f"  differs: {', '.join(r.differs[:8])}{' …' if len(r.differs) > 8 else ''}" if r.differs else ""
            echo(f"{r.application_id:<14} {r.status:<11} stored {money(r.stored)} -> replayed {money(r.replayed)}"
                 + extra)
    if not res.ok:
        raise typer.Exit(code=1)


@decisions_app.command("export")
@user_errors
def export_cmd(
    out: str = typer.Option(..., "--out", help="Output file (.csv or .parquet; a missing folder is created)."),
    season: str | None = typer.Option(None, "--season", help="Only this season (YYYY)."),
    fmt: str | None = typer.Option(None, "--format", help="csv or parquet (default: from --out's suffix)."),
    book: Path | None = typer.Option(None, "--book", help="Book of active lines (CSV or Parquet, as given to "
                                     "underwrite): link a record naming no line (a new application's) to the one "
                                     "Book line of its application id (line_link book; several: ambiguous)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Judge the lines' standing on this date (YYYY-MM-DD), as "
                                     "report portfolio --as-of does: the records dated on or before it; a Book line "
                                     "matured before it no longer stands (standing_limit 0, line_matured its "
                                     "maturity date). Default: each season's latest record date, as the report's."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Export stored decision records (Decision contract) to CSV or Parquet."""
    from underwriting.applications import read_book
    from underwriting.store import export_decisions, store_url

    refuse_out_over_inputs(out, store=store_url(store), book=book)
    bk = read_book(book) if book is not None else None
    links = export_decisions(out, season=season, fmt=fmt, url=store, book=bk, as_of=as_of)
    echo(f"wrote {len(links)} records to {out}{links.summary()}{_judged_on(out, fmt, as_of)}")


def _judged_on(out: str, fmt: str | None, as_of: str | None) -> str:
    """The date(s) the export judged the lines' standing on, and where each came from — ``--as-of``, or each
    season's latest record date (naming that record's kind and application: a late-dated override moves it) — with
    the standing lines matured before it (``line_matured``): read back from the file written. A late override had
    moved the default silently: 50 lines read matured, the command saying only "wrote 274 records"."""
    import pandas as pd

    cols = ["season", "as_of", "kind", "application_id", "standing", "line_matured"]
    kind = (fmt or Path(out).suffix.lstrip(".") or "csv").lower()
    try:
        df = (pd.read_parquet(out, columns=cols) if kind == "parquet"
              else pd.read_csv(out, usecols=cols, dtype=str, keep_default_na=False))
    except (OSError, ValueError):  # pragma: no cover - just written by the export
        return ""
    if df.empty:
        return ""
    standing = df["standing"].astype(str).str.lower() == "true"
    matured = int((standing & (df["line_matured"].fillna("").astype(str) != "")).sum())
    gone = f"; {matured} standing line(s) matured before it stand at 0 (line_matured)" if matured else ""
    if as_of is not None:
        return f"; lines judged as of {str(as_of).strip()} (--as-of){gone}"
    parts = []
    for sn, g in df.groupby(df["season"].astype(str), sort=True):
        day = str(max(g["as_of"].astype(str)))
        last = g[g["as_of"].astype(str) == day].iloc[-1]
        what = {"reunderwrite": "a re-underwriting", "override": "an override", "decision": "a decision"}.get(
            str(last["kind"]), f"a {last['kind']} record")
        parts.append(f"season {sn} as of {day} (its latest record's date: {what} of {last['application_id']})")
    return ("; lines judged " + "; ".join(parts) + " — --as-of D for another date" + gone)


@app.command("override")
@user_errors
def override_cmd(
    application_id: str = typer.Argument(..., help="Application whose latest decision is overridden."),
    limit: str = typer.Option(..., "--limit", help="New limit in major units of the record's currency."),
    reason: str = typer.Option(..., "--reason", help="Why (required, recorded permanently: no names, phone or ID "
                                                      "numbers, e-mail addresses; refused when it holds any)."),
    operator: str = typer.Option(..., "--operator", help="Analyst writing the override."),
    approver: str | None = typer.Option(None, "--approver", help="Second person (needed above the record policy's override_approval_share, 20% by default)."),
    as_of: str | None = typer.Option(None, "--as-of", help="The override's date (default: the current record's; "
                                     "not before it: an override replaces the current record)."),
    applications: Path | None = typer.Option(None, "--applications", help="Applications (CSV or Parquet, as given "
                                             "to underwrite): refuse a reason naming their farmers' names, national "
                                             "IDs or phones."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Override an application's decision: a new record superseding the latest one."""
    from models.money import format_minor
    from pipelines._store_grants import check_command
    from underwriting.override import record_override
    from underwriting.store import store_url

    check_command(store_url(store), "agcredit override", shadow=False)

    done = record_override(store, application_id, limit, reason, operator, approver=approver, as_of=as_of,
                           applications=applications)
    rec = done.record
    ov = rec.body["override"]
    change = (f"{ov['original_outcome']} {format_minor(ov['original_limit'], rec.currency)} -> {rec.outcome} "
              f"{format_minor(rec.limit, rec.currency)} by {ov['operator']}"
              + (f", approved by {ov['approver']}" if ov["approver"] else ""))
    if not done.written:  # the same override again: the record an earlier run wrote
        echo(f"already recorded: {rec.record_id} is this same override of {rec.supersedes} ({change}); nothing "
             "written")
        return
    echo(f"{rec.record_id} overrides {rec.supersedes}: {change}{_stood_on(rec.body, rec.currency)}")
    for warning in done.warnings:
        err(f"warning: {warning}")


def _stood_on(body: dict[str, Any], currency: str) -> str:
    """What the line of an override (its record's ``body``) stood on, when the change was measured from it and not
    from the record replaced: that record re-estimated nothing (its line kept), or it re-estimated the line and
    decided a REFER or DECLINE, which granted nothing (refer_keeps_book_limit) — said as it was, never the one for
    the other."""
    from models.money import format_minor

    ov = body["override"]
    if "standing_limit" not in ov:
        return ""
    book = ov.get("standing_compared_with") == "book"
    limit = format_minor(ov["standing_limit"], currency)
    if (body.get("reunderwrite") or {}).get("not_reestimated"):
        # refer_keeps_book_limit (2026.12.8 on): its Book limit, the REFER or DECLINE it stood on granted nothing
        return (f" (the line stood on {limit}, the change measured from it: the record replaced re-estimated nothing"
                + (f"; its Book limit, the {ov.get('standing_outcome')} {ov.get('standing_record_id')} granted "
                   "nothing" if book else "") + ")")
    on = ("its Book limit" if book or not ov.get("standing_record_id") else
          f"record {ov.get('standing_record_id')}'s {ov.get('standing_outcome')}")
    return (f" (the line stood on {on} {limit}, the change measured from it: the record replaced is a "
            f"re-underwriting that re-estimated the line and decided {ov.get('original_outcome')}, which granted "
            "nothing)")


def _head_hash(expect_head: str | None) -> str | None:
    """``--expect-head`` normalised (lower case), or a :class:`UserInputError` naming a value that is not a hash."""
    import re

    head_given = expect_head.strip().lower() if expect_head else None
    if head_given is not None and not re.fullmatch(r"[0-9a-f]{64}", head_given):
        raise UserInputError(f"--expect-head {str(expect_head).strip()!r}: not a head hash (64 hexadecimal digits, as an "
                             "earlier `agcredit audit verify` printed after 'hash')")
    return head_given


def _shown(url: str) -> str:
    from underwriting._store_schema import safe_url

    return safe_url(url)
