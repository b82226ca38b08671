"""``agcredit explain APPLICATION_ID``: a stored decision, step by step, with the model contributions."""

from __future__ import annotations

import typer

from pipelines._cli_app import STORE_HELP, app, echo, user_errors


@app.command("explain")
@user_errors
def explain_cmd(
    application_id: str = typer.Argument(..., help="Application id whose latest stored decision is explained (as in "
                                                   "the decision records; never a name, phone or ID number)."),
    as_of: str | None = typer.Option(None, "--as-of", help="The latest decision on or before this date (YYYY-MM-DD)."),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
) -> None:
    """Evidence per field, the computation, the binding constraint, the reasons and the model contributions."""
    from pipelines.explain import explain

    x = explain(store, application_id, as_of=as_of)
    echo(x.to_json() if as_json else x.render())
