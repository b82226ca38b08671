"""Planted area on the demo/eval counties: seconds and peak memory of ``planted_area``, then the evaluation table.

    nice .venv/bin/python benchmarks/bench_area.py [COUNTY ...] [--cache DIR] [--no-eval]

Default counties: /work/data/{sh-demo,ne-demo,sh-eval,ne-eval} (those that exist). Each timing runs in a fresh
subprocess (peak RSS is per process): ``cold`` with an empty cache, ``warm`` with the per-block trajectory cache
filled; wall seconds and, in brackets, CPU seconds of the process (the machine is shared). The current season at the end of its window. Needs AGCREDIT_TOKEN_KEY (the demo's key by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = [Path("/work/data") / n for n in ("sh-demo", "ne-demo", "sh-eval", "ne-eval")]


def _one(county: str, cache: str) -> None:
    import resource

    from features.area_scenes import planted_area
    from features.series import season_window
    from pipelines.county import County

    c = County(county, cache_dir=cache)
    fields = c.fields(c.current_season)
    end = season_window(c.current_season, c.region)[1]
    t0, c0 = time.perf_counter(), time.process_time()
    res = planted_area(fields, c.imagery, c.current_season, end, cache_dir=Path(cache))
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "cpu": cpu, "peak_mb": peak, "fields": len(res), "scenes": res.attrs["scenes_used"]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("counties", nargs="*", type=Path)
    ap.add_argument("--cache", type=Path, default=None, help="cache folder for the evaluation (default: temporary)")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")
    if a.one:
        _one(*a.one)
        return
    counties = a.counties or [p for p in DEFAULT if (p / "county.json").is_file()]
    print(f"{'county':<10}{'fields':>7}{'scenes':>8}{'cold s':>9}{'(cpu)':>7}{'warm s':>9}{'(cpu)':>7}{'peak MB':>9}")
    for county in counties:
        with tempfile.TemporaryDirectory(prefix="bench-area-") as tmp:
            runs = []
            for _ in ("cold", "warm"):
                out = subprocess.run([sys.executable, __file__, "--one", str(county), tmp], check=True,
                                     capture_output=True, text=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"{county.name:<10}{runs[0]['fields']:>7}{runs[0]['scenes']:>8}{runs[0]['seconds']:>9.2f}"
              f"{runs[0]['cpu']:>7.2f}{runs[1]['seconds']:>9.2f}{runs[1]['cpu']:>7.2f}"
              f"{max(r['peak_mb'] for r in runs):>9.0f}")
    if a.no_eval:
        return
    from pipelines.evaluation.area import evaluate_area, render_area

    for county in counties:
        with tempfile.TemporaryDirectory(prefix="bench-area-eval-") as tmp:
            t0 = time.perf_counter()
            res = evaluate_area(county, cache_dir=a.cache or Path(tmp))
            print()
            print(render_area(res))
            print(f"(evaluation {time.perf_counter() - t0:.1f} s, calibration on {len(res['calibrated_on'])} "
                  f"past seasons included)")


if __name__ == "__main__":
    main()
