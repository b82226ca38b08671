"""The evaluations' bootstrap intervals: seconds and peak memory, drawn and scored a block of resamples at a time
(``pipelines.evaluation._bootstrap.count_blocks`` / ``blockwise``, as every ``agcredit evaluate`` command does) beside
the whole (resamples × units) count matrix at once (the way before blocks, re-implemented here only as the
comparison).

    nice .venv/bin/python benchmarks/bench_bootstrap.py [--sizes 2600,26000,100000] [--max-gb 6]

N synthetic scored units (fields; ``--grouped``: in clusters of 8, ``--interval-by condition``), three figures as
the alert scoring has them: a recall (whole-number weights, ``@``), a total's relative error (fractional weights,
``resample_sums``) and the median delay of the caught events (``repeated_median``, the quantile helpers). Each case
runs in a fresh subprocess: wall seconds of the interval computation (draws included) and the process's peak RSS
(``ru_maxrss``; the imports alone take the ``idle`` row's). A whole-matrix case estimated above ``--max-gb`` is not
run. ``same`` says whether both ways gave the very same three intervals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _units(n: int) -> dict[str, np.ndarray]:
    """N scored units: an event on ~30% (found on ~80% of them, with a delay of 0-12 observations), true and
    estimated hectares."""
    rng = np.random.default_rng(7)
    event = (rng.random(n) < 0.3).astype(float)
    found = event * (rng.random(n) < 0.8)
    delay = np.where(found > 0, rng.integers(0, 13, n).astype(float), np.nan)
    true = rng.uniform(0.2, 8.0, n)
    return {"event": event, "found": found, "delay": delay, "true": true, "est": true * rng.normal(1, 0.1, n)}


def _score(u: dict[str, np.ndarray], caught: np.ndarray, w: np.ndarray, sums: Any) -> dict[str, np.ndarray]:
    """The three figures on each resample (row of ``w``); ``sums(w, x)``: the fractional weighted sums."""
    from pipelines.evaluation._bootstrap import repeated_median

    with np.errstate(invalid="ignore", divide="ignore"):
        true_rs, est_rs = sums(w, u["true"]), sums(w, u["est"])
        return {"recall": (w @ u["found"]) / (w @ u["event"]), "total_error": np.abs(est_rs - true_rs) / true_rs,
                "median_delay": repeated_median(u["delay"][caught], w[:, caught])}


def _one(n: int, how: str, grouped: bool) -> None:
    import resource

    from pipelines.evaluation import _bootstrap as b

    u = _units(n)
    caught = np.flatnonzero(np.isfinite(u["delay"]))
    groups = np.arange(n) // 8 if grouped else None
    t0 = time.perf_counter()
    if how == "blocked":
        figs = b.blockwise(lambda w: _score(u, caught, w, b.resample_sums), b.count_blocks(n, np.arange(n),
                                                                                           groups=groups))
    elif how == "whole":  # before blocks: the whole count matrix, its float copy for the BLAS products
        b.BLOCK_VALUES = 2**62
        w = b.resample_counts(n, np.arange(n), groups=groups)
        wf = w.astype(np.float64)
        figs = _score(u, caught, w, lambda _w, x: wf @ x)
    else:
        figs = {}
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "peak_mb": peak, "ci": {k: b.percentile_interval(v) for k, v in figs.items()}}))


def _run(n: int, how: str, grouped: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--one", str(n), how] + (["--grouped"] if grouped else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _whole_gb(n: int) -> float:
    """The whole-matrix case's peak, estimated: the int32 counts, their float64 copy, the caught events' columns
    and their cumulative copy (int32), the comparison (bool)."""
    from pipelines.evaluation._bootstrap import INTERVAL

    return int(INTERVAL["resamples"]) * n * (4 + 8 + 0.24 * (4 + 4 + 1)) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2600,26000,100000", help="numbers of scored units, comma-separated")
    ap.add_argument("--max-gb", type=float, default=6.0, help="do not run a whole-matrix case estimated above this")
    ap.add_argument("--grouped", action="store_true", help="units in clusters of 8 (a cluster bootstrap)")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        _one(int(a.one[0]), a.one[1], a.grouped)
        return
    from pipelines.evaluation._bootstrap import BLOCK_VALUES, INTERVAL, block_rows

    idle = _run(100, "idle", a.grouped)
    print(f"bootstrap intervals: {INTERVAL['resamples']:,} resamples, blocks of at most {BLOCK_VALUES:,} counts "
          f"({BLOCK_VALUES * 4 / 2**20:.0f} MiB); {'clusters of 8' if a.grouped else 'fields'}; "
          f"peak RSS of the process (imports alone: {idle['peak_mb']:.0f} MB)")
    print(f"{'units':>8}{'block rows':>12}{'blocked s':>11}{'peak MB':>9}{'whole s':>9}{'peak MB':>9}  same")
    for n in (int(s) for s in a.sizes.split(",")):
        new = _run(n, "blocked", a.grouped)
        line = f"{n:>8,}{block_rows(n):>12,}{new['seconds']:>11.1f}{new['peak_mb']:>9,.0f}"
        if _whole_gb(n) > a.max_gb:
            print(f"{line}   not run: estimated {_whole_gb(n):.1f} GB > --max-gb {a.max_gb:g}")
            continue
        old = _run(n, "whole", a.grouped)
        print(f"{line}{old['seconds']:>9.1f}{old['peak_mb']:>9,.0f}  {'yes' if old['ci'] == new['ci'] else 'NO'}")


if __name__ == "__main__":
    main()
