"""Time every stage of ``agcredit demo`` and print a table (target: the whole demo < 5 min on 2 cores).

    .venv/bin/python benchmarks/bench_demo.py [--region in-smallholder] [--size demo] [--out DIR] [--runs 2]

Without ``--out`` the demo runs in a fresh temporary folder (so every stage runs: simulate, training…);
by default (``--runs 2``) it runs again in the same folder, the alternative an operator meets daily: a re-run
on the kept county, models and caches (stages skipped, nothing stored twice) beside the run from nothing.
The load average is printed beside the figures: on a shared machine the wall-clock times scale with it;
the CPU seconds (this process and its finished worker processes) do not — on an idle 2-core machine the
wall time of a stage is roughly its CPU seconds (single-threaded stages) or half of them (simulate's 2 workers).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="in-smallholder", choices=["in-smallholder", "us-nebraska"])
    ap.add_argument("--size", default="demo", choices=["demo", "tiny"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="demo folder (default: a fresh temporary one, removed)")
    ap.add_argument("--runs", type=int, default=2, help="run the demo this many times in the same folder")
    args = ap.parse_args()

    from pipelines.demo import run_demo

    tmp = None
    out = args.out
    if out is None:
        tmp = tempfile.mkdtemp(prefix="bench-demo-")
        out = Path(tmp) / "agcredit-demo"
    runs = []
    load0 = os.getloadavg()[0]
    try:
        for _ in range(max(1, args.runs)):
            t0 = time.perf_counter()
            res = run_demo(out, region=args.region, seed=args.seed, size=args.size)
            runs.append((time.perf_counter() - t0, res))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()[0]
    names = [s.name for s in runs[0][1].stages]
    head = f"{'stage':<18}" + "".join(f"{'run ' + str(i + 1) + ' wall s':>14}{'cpu s':>9}{'status':>14}"
                                      for i in range(len(runs)))
    print(f"agcredit demo --region {args.region} --size {args.size} (synthetic county; "
          f"load average {load0:.1f} → {load1:.1f} on {os.cpu_count()} cores)")
    print(head)
    print("-" * len(head))
    for n in names:
        row = f"{n:<18}"
        for _, res in runs:
            st = res.stage(n)
            row += f"{st.seconds:>14.1f}{st.cpu_seconds:>9.1f}{st.status:>14}"
        print(row)
    print("-" * len(head))
    print(f"{'total':<18}" + "".join(f"{t:>14.1f}{sum(s.cpu_seconds for s in r.stages):>9.1f}{'':>14}"
                                      for t, r in runs))
    last = runs[-1][1]
    print(f"target < 300 s for the first run: {'met' if runs[0][0] < 300 else 'NOT met'}; "
          f"decisions: {last.underwrite.summary['outcomes'] if last.underwrite else '-'}")


if __name__ == "__main__":
    main()
