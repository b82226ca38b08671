"""Scene rendering: generation time and disk use of the demo county's scenes (synthetic).

    nice .venv/bin/python benchmarks/bench_scenes.py [--source simulate|fake] [--regions us-nebraska in-smallholder]
                                                     [--size demo] [--workers 2] [--keep DIR]

``--source simulate`` builds the county truth with ``democounty.simulate(..., render=False)`` (the
real demo county; its own time is printed but not counted), ``fake`` with ``democounty._testing``
(a demo-sized grid of fields, seven seasons; no AquaCrop). Then times ``render_scenes`` and prints
one row per region: grid, fields, dates, scenes written, seconds (static rasters + dates), CPU
seconds per scene, disk use, peak memory of the largest worker and of the parent (the parent's
includes building the truth when ``--source simulate``).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from democounty import scenes  # noqa: E402
from democounty._testing import make_fake_county  # noqa: E402

_FAKE = {  # demo-like geometry: (rows, cols, field side m, road m)
    "us-nebraska": (13, 13, 500.0, 15.0),
    "in-smallholder": (24, 25, 90.0, 5.0),
}


def _build(region: str, size: str, source: str, out: Path) -> float:
    t = time.perf_counter()
    if source == "simulate":
        from democounty import simulate
        simulate(region, 1, size, out, render=False)
    else:
        rows, cols, side, road = _FAKE[region]
        meta_seasons = tuple(str(y) for y in range(2012, 2019)) if region == "us-nebraska" else \
            tuple(str(y) for y in range(2003, 2010))
        make_fake_county(out, region=region, seed=1, n_rows=rows, n_cols=cols, field_m=side, road_m=road,
                         seasons=meta_seasons)
    return time.perf_counter() - t


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=("simulate", "fake"), default="simulate")
    ap.add_argument("--regions", nargs="+", default=["us-nebraska", "in-smallholder"])
    ap.add_argument("--size", default="demo")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="keep the counties in this folder")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_scenes_"))
    rows = []
    try:
        for region in args.regions:
            out = base / f"{region}-{args.size}-{args.source}"
            if out.exists():
                shutil.rmtree(out)
            t_truth = _build(region, args.size, args.source, out)
            meta = json.loads((out / "county.json").read_text())
            fields = pd.read_parquet(out / "truth" / "fields.parquet")["field_id"].nunique()
            dates = scenes.acquisition_dates(scenes.season_windows(region, [str(s) for s in meta["seasons"]]))
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s0 = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            scenes.render_scenes(out, int(meta.get("seed", 1)), workers=args.workers)
            wall = time.perf_counter() - t
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            s1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) + \
                (s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime)
            n = len(pd.read_csv(out / "scenes" / "index.csv"))
            x0, y0, x1, y1 = meta["bounds"]
            worker_mb = c1.ru_maxrss / 1024        # largest worker (children's max RSS)
            rows.append({
                "region": region, "source": args.source, "grid_px": f"{int((x1 - x0) / 10)}x{int((y1 - y0) / 10)}",
                "fields": fields, "seasons": len(meta["seasons"]), "dates": len(dates), "scenes": n,
                "truth_s": round(t_truth, 1), "render_s": round(wall, 1), "cpu_s_per_scene": round(cpu / max(n, 1), 3),
                "disk_MB": round(_mb(out / "scenes"), 1), "MB_per_scene": round(_mb(out / "scenes") / max(n, 1), 2),
                "worker_peak_MB": round(worker_mb), "parent_peak_MB": round(s1.ru_maxrss / 1024),
            })
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\nScene rendering, synthetic demo county ({args.workers} workers; "
          "render_s includes the static rasters):")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
