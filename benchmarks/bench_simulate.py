"""Time the demo county generator (synthetic): part 1 (landscape, AquaCrop pool, truth, records) and scenes.

    .venv/bin/python benchmarks/bench_simulate.py [--size demo] [--regions us-nebraska,in-smallholder]
                                                  [--workers 2] [--no-render]

Prints one row per region: fields, field-seasons, AquaCrop runs, the smallest trap count, wall
seconds for part 1 (``simulate(render=False)``) and its CPU seconds (all processes; divide by
the cores for an unloaded machine), seconds for rendering (``render_scenes``), total, disk size.
Target on 2 cores: part 1 ~60 s, whole county < 120 s for ``--size demo``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd


def _du(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="demo")
    ap.add_argument("--regions", default="us-nebraska,in-smallholder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-render", action="store_true")
    a = ap.parse_args()
    from democounty import simulate
    from democounty._presets import PRESETS

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        for region in a.regions.split(","):
            out = tmp / region
            c0 = os.times()
            t0 = time.perf_counter()
            meta = simulate(region, a.seed, a.size, out, render=False, workers=a.workers)
            t1 = time.perf_counter()
            c1 = os.times()
            cpu = (c1.user + c1.children_user + c1.system + c1.children_system
                   - c0.user - c0.children_user - c0.system - c0.children_system)
            rendered = float("nan")
            if not a.no_render:
                from democounty.scenes import render_scenes

                render_scenes(out, a.seed, workers=a.workers)
                rendered = time.perf_counter() - t1
            truth = pd.read_parquet(out / "truth" / "fields.parquet", columns=["field_id", "events"])
            pre = PRESETS[region]
            runs = len(meta["seasons"]) * len(pre.crops) * pre.pool_per_crop[a.size]
            traps = min(int(truth["events"].str.contains(t).sum())
                        for t in ("partly_planted", "crop_mismatch", "overlap", "never_planted", "failure"))
            rows.append({"region": region, "size": a.size, "fields": truth["field_id"].nunique(),
                         "field_seasons": len(truth), "aquacrop_runs": runs, "min_trap_count": traps,
                         "part1_s": round(t1 - t0, 1), "part1_cpu_s": round(cpu, 1), "render_s": round(rendered, 1),
                         "total_s": round(time.perf_counter() - t0, 1), "disk_mb": round(_du(out), 1)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"synthetic demo county generation ({a.workers} workers)")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
