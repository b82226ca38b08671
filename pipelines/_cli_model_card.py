"""``agcredit models card``: a registered model version's documentation for model risk (pipelines/model_card.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines._cli_app import echo, models_app, user_errors

__all__ = ["card_cmd"]


@models_app.command("card")
@user_errors
def card_cmd(
    name: str = typer.Argument(..., help="Registered model name, e.g. yield-value or crop-type."),
    version: str = typer.Option("champion", "--version", help="a version number or an alias (default champion)"),
    out: Path | None = typer.Option(None, "--out", help="the Markdown file to write (default: print it)"),
    as_json: bool = typer.Option(False, "--json", help="Print the card's content as JSON instead."),
    store: str | None = typer.Option(None, "--store", help="A decision store (read only): add a Shadow section — "
                                     "the version's shadow decisions there, their coverage and what they would "
                                     "have changed (models shadow)."),
    calendar: Path | None = typer.Option(None, "--calendar", help="With --store: a season calendar CSV the seasons' "
                                         "ends are read from (default: the shipped one with the bank's own "
                                         "regions')."),
) -> None:
    """A version's model card for model risk: identity and provenance, aliases and who promoted it when, validated
    scope, minimum metrics judged, held-out figures per checkpoint beside the naive baselines, every other metric,
    training data hashes, notes and plots — synthetic data labelled so. The same version gives the same bytes."""
    from features.atomic import check_writable, temp_beside
    from pipelines.model_card import card_markdown, model_card

    if calendar is not None and store is None:
        from features.errors import UserInputError

        raise UserInputError("models card --calendar: give --store URL too (the seasons' ends of its shadow "
                             "decisions are what the calendar dates)")
    if out is not None:
        if as_json:
            from features.errors import UserInputError

            raise UserInputError("models card: --out writes the Markdown card; --json prints the JSON (give one)")
        if store is not None:
            from pipelines._cli_app import refuse_out_over_inputs
            from underwriting.store import store_url

            refuse_out_over_inputs(out, store=store_url(store))
        if not out.parent.exists():  # as `evaluate report` refuses it (README), not made
            from pipelines.errors import RunInputError

            raise RunInputError(what=str(out), problem=f"the output's folder {out.parent} does not exist")
        check_writable(out, what="model card")
    card = model_card(name, version, store=store, calendar=calendar)
    if as_json:
        from pipelines.evaluation import json_ready

        echo(json.dumps(json_ready(card.to_json()), indent=2, sort_keys=True, default=str, allow_nan=False))
        return
    text = card_markdown(card)
    if out is None:
        typer.echo(text, nl=False)
        return
    with temp_beside(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    echo(f"wrote {out} ({card.name} version {card.version})")
