"""``agcredit backtest``: the credit policy applied to a county's past seasons, against the reported harvests."""

from __future__ import annotations

from pathlib import Path

import typer

from features.errors import UserInputError
from pipelines._cli_app import app, echo, err, user_errors


@app.command("backtest")
@user_errors
def backtest_cmd(
    county: Path = typer.Option(..., "--county", help="County folder (county.json, records/, scenes/)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file (YAML; default: the shipped policy)."),
    profile: str | None = typer.Option(None, "--profile", help="Policy profile (default: the county's)."),
    checkpoint: list[str] = typer.Option(["mid", "end"], "--checkpoint", help="Checkpoint(s): emergence, mid, end."),
    season: list[str] = typer.Option(None, "--season", help="Past season(s) to test (default: all)."),
    yield_model: str = typer.Option("loso", "--yield-model",
                                    help="loso (trained without the tested season), champion, or a model folder."),
    crop_model: str = typer.Option("champion", "--crop-model", help="champion, none, or a model folder."),
    naive_per_ha: str | None = typer.Option(None, "--naive-per-ha",
                                            help="Naive policy: amount per declared ha in major units "
                                                 "(default: the policy's own average)."),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="Series/area cache (default: <county>/.cache)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (summary, outcomes, lines)."),
    progress: bool = typer.Option(False, "--progress", help="Print each stage on stderr."),
) -> None:
    """Share of past lines the realised crop value would not have covered, by crop, beside a naive policy."""
    import json

    from pipelines.backtest_run import render_backtest, run_backtest

    per_ha = None
    if naive_per_ha is not None:
        from models.money import to_minor
        from pipelines.county import County

        per_ha = to_minor(naive_per_ha, County(county, cache_dir=cache).currency or "USD", where="--naive-per-ha")
        if per_ha <= 0:
            raise UserInputError(f"--naive-per-ha: expected a positive amount per hectare, found {naive_per_ha!r}")
    run = run_backtest(county, policy, cache_dir=cache, profile=profile, checkpoints=checkpoint,
                       seasons=season or None, yield_model=yield_model, crop_model=crop_model,
                       naive_per_ha=per_ha, progress=(lambda msg: err(f"  {msg}")) if progress else None)
    echo(json.dumps(run.to_dict(), sort_keys=True, indent=1) if as_json else render_backtest(run))
