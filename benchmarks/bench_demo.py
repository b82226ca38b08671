"""Time every stage of ``agcredit demo`` and print a table (target: the whole demo < 5 min on 2 cores).

    .venv/bin/python benchmarks/bench_demo.py [--region in-smallholder] [--size demo] [--out DIR] [--runs 2]
    .venv/bin/python benchmarks/bench_demo.py --region us-nebraska --baseline-src /path/to/older/checkout

Without ``--out`` the demo runs in a fresh temporary folder (so every stage runs: simulate, training…);
by default (``--runs 2``) it runs again in the same folder, the alternative an operator meets daily: a re-run
on the kept county, models and caches (stages skipped, nothing stored twice) beside the run from nothing.
The load average is printed beside the figures: on a shared machine the wall-clock times scale with it;
the CPU seconds (this process and its finished worker processes) do not — on an idle 2-core machine the
wall time of a stage is roughly its CPU seconds (single-threaded stages) or half of them (simulate's 2 workers).

``--baseline-src DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/old REF``): the demo from
nothing with that code, then with this checkout's, each in a fresh process and folder, back to back, printed
side by side per stage (wall and CPU seconds) with whether each stage printed the same lines (the demo folder's
path, MLflow's random run ids, record ids and write times set aside) — what a speed change must leave alone. ``--lines`` prints the lines
of the (last) run as ``agcredit demo`` prints them; ``--json FILE`` writes the stages (times and lines).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the child that runs the demo of a source tree (its own process: its imports, memos and peak memory its own)
_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pipelines.demo import run_demo
t0 = time.perf_counter()
res = run_demo(sys.argv[2], region=sys.argv[3], seed=int(sys.argv[4]), size=sys.argv[5])
wall = time.perf_counter() - t0
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"wall": wall, "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
           "max_rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024,
           "stages": [{"name": s.name, "seconds": s.seconds, "cpu_seconds": s.cpu_seconds, "status": s.status,
                       "lines": s.lines} for s in res.stages]}, open(sys.argv[6], "w"))
"""


def _child_run(src: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        path = fh.name
    try:
        subprocess.run([sys.executable, "-c", _CHILD, str(src), str(out), args.region, str(args.seed), args.size,
                        path], check=True)
        return dict(json.loads(Path(path).read_text()))
    finally:
        Path(path).unlink(missing_ok=True)


def _normal(lines: list[str], out: Path) -> list[str]:
    """Lines with the demo folder, MLflow's random run ids, the records' ids and write times set aside (they differ
    between any two runs)."""
    out_lines = []
    for line in lines:
        line = re.sub(r"\b[0-9a-f]{32}\b", "RUN", line.replace(str(out), "OUT"))
        line = re.sub(r"\bD[0-9a-f]{24}\b", "RECORD", line)
        out_lines.append(re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "TIME", line))
    return out_lines


def _compare(args: argparse.Namespace) -> None:
    here = Path(__file__).resolve().parents[1]
    runs = []
    load0 = os.getloadavg()[0]
    for label, src in (("baseline", args.baseline_src.resolve()), ("this", here)):
        tmp = tempfile.mkdtemp(prefix=f"bench-demo-{label}-")
        out = Path(tmp) / "agcredit-demo"
        try:
            res = _child_run(src, out, args)
            for st in res["stages"]:
                st["lines"] = _normal(st["lines"], out)
            runs.append(res)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()[0]
    old, new = runs
    print(f"agcredit demo --region {args.region} --size {args.size} from nothing: baseline {args.baseline_src} then "
          f"this checkout, back to back (load average {load0:.1f} → {load1:.1f} on {os.cpu_count()} cores)")
    head = f"{'stage':<16}{'old wall s':>11}{'old cpu s':>10}{'new wall s':>11}{'new cpu s':>10}{'cpu saved':>10}  lines"
    print(head)
    print("-" * len(head))
    olds = {s["name"]: s for s in old["stages"]}
    for st in new["stages"]:
        o = olds.get(st["name"])
        if o is None:
            print(f"{st['name']:<16}{'-':>11}{'-':>10}{st['seconds']:>11.1f}{st['cpu_seconds']:>10.1f}")
            continue
        same = "same" if o["lines"] == st["lines"] else "DIFFER"
        print(f"{st['name']:<16}{o['seconds']:>11.1f}{o['cpu_seconds']:>10.1f}{st['seconds']:>11.1f}"
              f"{st['cpu_seconds']:>10.1f}{o['cpu_seconds'] - st['cpu_seconds']:>10.1f}  {same}")
    print("-" * len(head))
    print(f"{'total':<16}{old['wall']:>11.1f}{old['cpu']:>10.1f}{new['wall']:>11.1f}{new['cpu']:>10.1f}"
          f"{old['cpu'] - new['cpu']:>10.1f}")
    print(f"peak memory: {old['max_rss_mb']:.0f} MB → {new['max_rss_mb']:.0f} MB (largest single process)")
    for st in new["stages"]:
        o = olds.get(st["name"])
        if o is not None and o["lines"] != st["lines"]:
            print(f"[{st['name']}] lines differ:")
            for a, b in zip(o["lines"], st["lines"], strict=False):
                if a != b:
                    print(f"  old: {a}\n  new: {b}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="in-smallholder", choices=["in-smallholder", "us-nebraska"])
    ap.add_argument("--size", default="demo", choices=["demo", "tiny"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="demo folder (default: a fresh temporary one, removed)")
    ap.add_argument("--runs", type=int, default=2, help="run the demo this many times in the same folder")
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="a checkout of older code: run its demo and this one's from nothing, side by side")
    ap.add_argument("--lines", action="store_true", help="print the stages' lines of the last run")
    ap.add_argument("--json", type=Path, default=None, help="write the stages (times, lines) of the last run here")
    args = ap.parse_args()
    if args.baseline_src is not None:
        if not (args.baseline_src / "pipelines" / "demo.py").is_file():
            sys.exit(f"--baseline-src {args.baseline_src}: not a checkout of this project (no pipelines/demo.py)")
        _compare(args)
        return

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
          f"decisions: {last.underwrite.summary['outcomes'] if last.underwrite else '-'}; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.lines:
        for st in last.stages:
            head_line, rest = (st.lines[0], st.lines[1:]) if st.lines else (st.status, [])
            print(f"[{st.name}] {head_line}")
            for line in rest:
                print(f"    {line}")
    if args.json is not None:
        args.json.write_text(json.dumps([{"name": s.name, "seconds": s.seconds, "cpu_seconds": s.cpu_seconds,
                                          "status": s.status, "lines": s.lines} for s in last.stages], indent=1))


if __name__ == "__main__":
    main()
