"""``agcredit models shadow``: a version's shadow decisions — coverage, what they would have changed, and (with
reported yields) how each side's recorded predictions fared (pipelines/shadow_report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines._cli_app import STORE_HELP, echo, err, models_app, user_errors

__all__ = ["promotion_evidence", "said_evidence", "shadow_cmd"]


@models_app.command("shadow")
@user_errors
def shadow_cmd(
    name: str = typer.Argument(..., help="Registered model name: yield-value or crop-type."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP + " Read only."),
    version: str = typer.Option("challenger", "--version", help="The shadow version: a number or an alias "
                                "(default challenger)."),
    season: str | None = typer.Option(None, "--season", help="Only this season (default: every season with shadow "
                                      "rows of the version)."),
    reported: Path | None = typer.Option(None, "--reported", help="yield-value: reported yields CSV/Parquet "
                                         "(field_id, season, reported_yield_t_ha; as models performance reads): each "
                                         "side's recorded predictions against them."),
    top: int = typer.Option(10, "--top", min=0, help="how many of the largest differences to list"),
    out: Path | None = typer.Option(None, "--out", help="a CSV of the per-record pairs (written atomically)"),
    calendar: Path | None = typer.Option(None, "--calendar", help="A season calendar CSV the seasons' ends are read "
                                         "from (default: the shipped one with the bank's own regions', as "
                                         "reunderwrite --due reads it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Model-risk report of a version's shadow decisions: per season and date, how many records of the version in
    force have a shadow row of it and whether it ran in shadow over the whole season (defined in the output), what
    it would have changed (outcomes, limits, reasons), and with --reported each side's recorded yield predictions
    against the reported yields. The store is only read. Exit 0; 2 on bad input or nothing to report."""
    from features.errors import UserInputError
    from pipelines._cli_app import refuse_out_over_inputs
    from pipelines.shadow_report import pairs_table, shadow_report
    from underwriting.store import store_url

    if out is not None:
        if out.suffix.lower() != ".csv":
            raise UserInputError(f"{out}: --out writes a CSV (give a .csv name)")
        from features.atomic import check_writable

        refuse_out_over_inputs(out, store=store_url(store), reported=reported)
        check_writable(out, what="shadow pairs file")
    res = shadow_report(name, store, version=version, season=season, reported=reported, calendar=calendar)
    echo(json.dumps(res.to_json(top), indent=2, sort_keys=True, allow_nan=False) if as_json
         else "\n".join(res.lines(top)))
    if out is not None:
        from features.atomic import write_table_atomic

        write_table_atomic(pairs_table(res), out, fmt="csv")
        if not as_json:
            echo(f"wrote {out}")


def promotion_evidence(name: str, version: str, store: str | None, season: str | None,
                       calendar: Path | None = None) -> tuple[list[str], str | None, str | None]:
    """``models promote --shadow-store STORE [--shadow-season S] [--shadow-calendar F]``: the shadow evidence of ``name`` ``version``
    (:func:`pipelines.shadow_report.shadow_evidence`) as the promotion takes it — (its failures, ``shadow: …``-
    prefixed, refused unless forced; the line said; what the alias history's entry keeps). Without a store: nothing
    checked (``([], None, None)``); a version already champion: not judged (its promotion records nothing new, or is
    re-dated), said. The model and version are checked before the store is read."""
    from features.errors import UserInputError
    from models.registry import alias_version, governance, version_number

    for given, opt in ((season, "--shadow-season"), (calendar, "--shadow-calendar")):
        if given is not None and store is None:
            raise UserInputError(f"models promote {opt}: give --shadow-store URL too (the store holding the "
                                 "shadow decisions)")
    if store is None:
        return [], None, None
    v = version_number(version)
    governance(name, v)  # the model and the version exist: said before the store is read
    if alias_version(name) == v:
        if calendar is not None:  # a bad calendar file is said, though the champion needs no judgement
            from pipelines.schedule import load_calendar

            load_calendar(calendar)
        # a re-dated champion's history entry says so, not "shadow: not checked"
        return ([], f"shadow evidence: not judged (version {v} is already the champion)",
                f"not judged (version {v} is already the champion)")
    from pipelines.shadow_report import shadow_evidence

    ev = shadow_evidence(name, v, store, season, calendar)
    return ([f"shadow: {ev.failure}"] if ev.failure else []), ev.said, ev.record


def said_evidence(line: str | None) -> None:
    """The shadow evidence's line of a promotion checked against a store; None: not checked, said on stderr (a
    refused promotion's one line stays one line)."""
    if line is not None:
        echo(line)
    else:
        err("note: the shadow evidence was not checked (give --shadow-store URL: a season in shadow before "
            "promotion, CREDIT_POLICY.md)")
