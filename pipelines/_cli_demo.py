"""``agcredit demo``: the whole flow on the built-in synthetic county (simulate → train → underwrite → report)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import app, echo, user_errors

__all__ = ["demo"]


@app.command("demo")
@user_errors
def demo(
    out: Path = typer.Option(Path("agcredit-demo"), "--out", help="Folder for the demo (county, models, store)."),
    region: str = typer.Option("in-smallholder", "--region", help="in-smallholder or us-nebraska."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic county."),
    size: str = typer.Option("demo", "--size", help="demo (600 fields) or tiny (12 fields)."),
) -> None:
    """Simulate a county, train and register the models, underwrite, explain, re-underwrite, report.

    Every figure is from synthetic data. Safe to re-run: finished stages are skipped and no decision is
    stored twice.
    """
    import time

    from pipelines.demo import run_demo

    start = time.perf_counter()
    res = run_demo(out, region=region, seed=seed, size=size, say=echo)
    # the run's wall time: the stages' sum counted the replay, which runs beside re-underwriting, twice over
    # (272.6 s printed for a 258 s run; a review, 2026-12-07)
    echo(f"demo done in {time.perf_counter() - start:.1f} s: {res.out}")
    if res.report is not None:
        echo(f"open the portfolio report: {res.report}")
