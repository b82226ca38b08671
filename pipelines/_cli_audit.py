"""``agcredit audit verify``, ``agcredit decisions export`` and ``agcredit override``: the decision store."""

from __future__ import annotations

import typer

from pipelines._cli_app import app, audit_app, decisions_app, echo, err, user_errors

_STORE_HELP = "Store URL (SQLAlchemy; default $AGCREDIT_STORE_URL or sqlite:///agcredit-decisions.db)."


@audit_app.command("verify")
@user_errors
def verify_cmd(store: str | None = typer.Option(None, "--store", help=_STORE_HELP)) -> None:
    """Walk the whole hash chain; print OK with the count, or the first broken record (exit 1)."""
    from underwriting.store import store_url, verify_store

    res = verify_store(store)
    if res.ok:
        echo(f"OK: {res.count} records, chain intact ({_shown(store_url(store))})")
        return
    err(f"BROKEN: record {res.seq} ({res.record_id}): {res.problem}; {res.count} records before it verified")
    raise typer.Exit(code=1)


@decisions_app.command("export")
@user_errors
def export_cmd(
    out: str = typer.Option(..., "--out", help="Output file (.csv or .parquet)."),
    season: str | None = typer.Option(None, "--season", help="Only this season (YYYY)."),
    fmt: str | None = typer.Option(None, "--format", help="csv or parquet (default: from --out's suffix)."),
    store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Export stored decision records (Decision contract) to CSV or Parquet."""
    from underwriting.store import export_decisions

    n = export_decisions(out, season=season, fmt=fmt, url=store)
    echo(f"wrote {n} records to {out}")


@app.command("override")
@user_errors
def override_cmd(
    application_id: str = typer.Argument(..., help="Application whose latest decision is overridden."),
    limit: str = typer.Option(..., "--limit", help="New limit in major units of the record's currency."),
    reason: str = typer.Option(..., "--reason", help="Why (required, recorded)."),
    operator: str = typer.Option(..., "--operator", help="Analyst writing the override."),
    approver: str | None = typer.Option(None, "--approver", help="Second person (needed above a 20% change)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Override the latest decision as of this date."),
    store: str | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Override an application's decision: a new record superseding the latest one."""
    from models.money import format_minor
    from underwriting.override import override

    rec = override(store, application_id, limit, reason, operator, approver=approver, as_of=as_of)
    ov = rec.body["override"]
    echo(f"{rec.record_id} overrides {rec.supersedes}: {ov['original_outcome']} "
         f"{format_minor(ov['original_limit'], rec.currency)} -> {rec.outcome} {format_minor(rec.limit, rec.currency)}"
         f" by {ov['operator']}" + (f", approved by {ov['approver']}" if ov["approver"] else ""))


def _shown(url: str) -> str:
    from underwriting._store_schema import safe_url

    return safe_url(url)
