"""``agcredit demo``: generate the built-in synthetic county and validate it."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from pipelines._cli_app import app, echo, user_errors


@app.command("demo")
@user_errors
def demo(
    out: Path = typer.Option(Path("agcredit-demo"), "--out", help="Folder for the demo county."),
    region: str = typer.Option("in-smallholder", "--region", help="us-nebraska or in-smallholder."),
    seed: int = typer.Option(7, "--seed"),
    size: str = typer.Option("demo", "--size", help="demo or tiny."),
) -> None:
    """Generate the synthetic demo county (records, truth, Sentinel-2 scenes) and validate its fields."""
    from democounty import simulate
    from pipelines.fieldcheck import validation_report

    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")  # synthetic identifiers only
    county = out / region
    if not county.exists():
        simulate(region, seed, size, county)
    echo(f"demo county (synthetic): {county}")
    echo(validation_report(county / "records" / "fields.gpkg"))
    echo(f"scenes: {county / 'scenes' / 'index.csv'}")
