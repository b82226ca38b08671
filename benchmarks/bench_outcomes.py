"""``agcredit models performance``'s intervals: seconds and peak memory of the outcome figures of N scored fields,
drawn and scored a block of resamples at a time (``pipelines.outcomes.outcome_figures``, as the command does) beside
the whole (resamples × fields) count matrix at once (the first version's way, re-implemented here only as the
comparison).

    nice .venv/bin/python benchmarks/bench_outcomes.py [--sizes 5000,20000,50000] [--max-gb 6]

N synthetic fields of three crops, with P10/P50/P90 and both naive baselines; every figure of every crop and the
pooled row (:data:`pipelines.outcomes.FIGURES`) with its interval. Each case runs in a fresh subprocess: wall
seconds of the figures (draws included) and the process's peak RSS (``ru_maxrss``; the imports alone take the
``idle`` row's). A whole-matrix case estimated above ``--max-gb`` is not run. ``same`` says whether both ways gave
the very same table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rows(n: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    y = rng.uniform(1, 8, n)
    return pd.DataFrame({"crop": rng.choice(["cotton", "maize", "rice"], n), "reported": y, "p10": y * 0.7,
                         "p50": y * rng.normal(1.05, 0.2, n), "p90": y * 1.3, "crop_mean": np.full(n, 4.0),
                         "field_mean": rng.uniform(3, 5, n)})


def _whole(rows):  # type: ignore[no-untyped-def]
    """The comparison: every resample's counts in one matrix, each crop's columns copied out of it."""
    import numpy as np
    import pandas as pd

    from pipelines.evaluation._bootstrap import resample_counts
    from pipelines.outcomes import _group_figures, figure_record

    n = len(rows)
    counts = resample_counts(n, np.arange(n))
    crops = rows["crop"].astype(str).to_numpy(dtype=object)
    out = []
    for crop in ["all", *sorted(set(crops.tolist()))]:
        m = np.ones(n, dtype=bool) if crop == "all" else crops == crop
        data = tuple(rows[c].to_numpy(dtype="float64")[m] for c in ("reported", "p10", "p50", "p90", "crop_mean",
                                                                     "field_mean"))
        out.append(figure_record(crop, data, _group_figures(data, counts[:, m])))
    return pd.DataFrame(out)


def _case(way: str, n: int) -> dict[str, float | str]:
    import resource

    from pipelines.outcomes import outcome_figures

    rows = _rows(n) if n else None
    t = time.perf_counter()
    table = None
    if rows is not None:
        table = outcome_figures(rows) if way == "blocks" else _whole(rows)
    secs = time.perf_counter() - t
    digest = "" if table is None else str(hash(table.round(12).to_csv()))
    return {"s": secs, "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "digest": digest}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5000,20000,50000")
    ap.add_argument("--max-gb", type=float, default=6.0)
    ap.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.case:
        print(json.dumps(_case(a.case[0], int(a.case[1]))))
        return 0

    def run(way: str, n: int) -> dict[str, float | str]:
        out = subprocess.run([sys.executable, __file__, "--case", way, str(n)], check=True, capture_output=True,
                             text=True, env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"})
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    idle = run("blocks", 0)
    print(f"idle (imports only): peak {idle['mb']:.0f} MB")
    print(f"{'fields':>8}  {'blocks s':>9} {'blocks MB':>10}  {'whole s':>8} {'whole MB':>9}  same")
    for n in (int(x) for x in a.sizes.split(",")):
        b = run("blocks", n)
        # the whole matrix: 2,000 × n int32 counts, a float copy of them and a crop's copied columns at once
        est_gb = 2000 * n * (4 + 8 + 8) / 1e9
        w = run("whole", n) if est_gb <= a.max_gb else None
        ws = f"{w['s']:8.1f} {w['mb']:9.0f}" if w else f"{'—':>8} {'—':>9}"
        same = "yes" if w and w["digest"] == b["digest"] else ("—" if not w else "NO")
        print(f"{n:>8,}  {b['s']:9.1f} {b['mb']:10.0f}  {ws}  {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
