"""``agcredit evaluate report``: the evaluations' JSON outputs rendered into one self-contained HTML validation report."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from features.errors import UserInputError
from pipelines._cli_app import echo, evaluate_app, user_errors

__all__ = ["evaluate_report_command", "report_time"]


def report_time(fixed_time: str | None) -> datetime | None:
    """The time the page states: ``--fixed-time`` (ISO 8601; without a zone, UTC), else ``SOURCE_DATE_EPOCH``
    (seconds since 1970, the reproducible-builds convention), else None (now)."""
    if fixed_time is not None:
        try:
            t = datetime.fromisoformat(fixed_time.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UserInputError(f"--fixed-time {fixed_time!r}: expected an ISO 8601 time such as "
                                 "2026-12-05T12:00:00Z") from None
        return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            return datetime.fromtimestamp(int(raw), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise UserInputError(f"SOURCE_DATE_EPOCH={raw!r}: expected whole seconds since 1970-01-01 UTC") \
                from None
    return None


@evaluate_app.command("report")
@user_errors
def evaluate_report_command(
    inputs: list[Path] = typer.Argument(..., metavar="JSON_FILE", help="outputs of `agcredit evaluate "
                                        "alerts|growth-stage|area|crop-type|yield --json` (any counties)"),
    out: Path = typer.Option(..., "--out", help="the HTML file to write (its folder must exist)"),
    fixed_time: str | None = typer.Option(None, "--fixed-time", help="the generation time the page states (ISO "
                                          "8601, e.g. 2026-12-05T12:00:00Z; default SOURCE_DATE_EPOCH, else now): "
                                          "the same inputs then give byte-identical pages"),
) -> None:
    """A self-contained HTML model-validation report: per evaluation its header (county, region, seasons, what was
    trained on what, the interval method, SYNTHETIC where the county is simulated), the gated figures against their
    targets with intervals and naive baselines, tables and inline SVG charts, and the inputs' sha256."""
    from pipelines.validation_report import write_validation_report

    path = write_validation_report(inputs, out, generated_at=report_time(fixed_time))
    echo(f"wrote {path}")
