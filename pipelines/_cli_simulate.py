"""``agcredit simulate``: build the synthetic demo county folder."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import app, echo, err, user_errors


@app.command("simulate")
@user_errors
def simulate_cmd(
    region: str = typer.Option(..., "--region", help="Region preset: us-nebraska or in-smallholder."),
    seed: int = typer.Option(..., "--seed", help="Random seed (same seed, byte-identical files)."),
    size: str = typer.Option("demo", "--size", help="tiny (tests), demo or eval."),
    out: Path = typer.Option(..., "--out", help="Output folder (must be new or empty unless --overwrite)."),
    seasons: int | None = typer.Option(None, "--seasons",
                                       help="Past seasons besides the current one (default 6; tiny: 1 at most)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing county folder."),
    workers: int = typer.Option(2, "--workers", help="Processes for the crop model and rendering."),
    render: bool = typer.Option(True, "--render/--no-render", help="Render the Sentinel-2 scenes."),
) -> None:
    """Simulate a demo county: landscape, AquaCrop growth, farmers' records, truth and scenes (synthetic)."""
    from democounty import SimulateError, simulate

    if seasons is not None and seasons > 1 and size == "tiny":
        err(f"warning: --size tiny simulates one past season; --seasons {seasons} is not used")
    try:
        meta = simulate(region, seed, size, out, seasons=6 if seasons is None else seasons, render=render,
                        workers=workers, overwrite=overwrite, say=lambda m: err(f"warning: {m}"))
    except SimulateError as e:  # worded for the command line: its options (--out, --overwrite), not Python's
        raise SimulateError(what=f"--{e.what}", expected=e.cli or e.expected, found=e.found) from None
    echo(_summary(out, meta))


def _summary(out: Path, meta: dict) -> str:
    import pandas as pd

    truth = pd.read_parquet(out / "truth" / "fields.parquet", columns=["field_id", "season", "true_crop", "events"])
    cur = truth[truth["season"] == meta["current_season"]]
    apps = pd.read_csv(out / "records" / "applications.csv", dtype=str)
    book = pd.read_csv(out / "records" / "book.csv", dtype=str)
    index = out / "scenes" / "index.csv"
    n_scenes = len(pd.read_csv(index, dtype=str)) if index.exists() else 0
    traps = {t: int(truth["events"].str.contains(t, regex=False).sum())
             for t in ("partly_planted", "crop_mismatch", "overlap", "never_planted", "failure")}
    crops = ", ".join(f"{k} {v}" for k, v in cur["true_crop"].value_counts().sort_index().items())
    return "\n".join([
        f"synthetic county {meta['region']} (seed {meta['seed']}, size {meta['size']}) in {out}",
        f"  seasons: {', '.join(meta['seasons'])} (current {meta['current_season']})",
        f"  fields: {truth['field_id'].nunique()}; field-seasons: {len(truth)}; current season: {crops}",
        f"  traps (field-seasons): {', '.join(f'{k} {v}' for k, v in traps.items())}",
        f"  records: {out / 'records'} (fields.gpkg, history.csv, applications.csv {len(apps)}, book.csv {len(book)})",
        f"  truth:   {out / 'truth'} (evaluation only)",
        f"  scenes:  {out / 'scenes'} ({n_scenes} files in index.csv)",
    ])
