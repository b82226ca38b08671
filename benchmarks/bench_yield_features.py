"""The feature build of ``agcredit train yield`` (``county_features``) on a county folder, beside an earlier commit.

    AGCREDIT_TOKEN_KEY=agcredit-demo-token-key nice .venv/bin/python benchmarks/bench_yield_features.py COUNTY \\
        [--baseline-ref REF] [--crop-model none|champion|FOLDER] [--cache DIR] [--runs 1]

Each variant runs ``county_features(county, county.past_seasons, cache=False)`` in a fresh subprocess (peak RSS is
per process) with the planted-area cache (``<cache>/area``) removed first, so that every scene window is read again:
``current`` is this checkout, ``baseline`` (with ``--baseline-ref``) the commit REF checked out in a temporary git
worktree, first on the subprocess's PYTHONPATH. The series cache (``<cache>/series``, default the county's own
``.cache``) is kept: both variants read it the same way (filled by an untimed run first when it is missing). Printed:
wall seconds, CPU seconds of the process (all its threads; the machine may be shared: CPU is the steadier figure),
peak RSS, and whether every table returned (one per checkpoint) equals the first variant's — values, dtypes,
columns, order and ``attrs``, and the bytes of its Parquet file. ``--crop-model champion`` reads the registry at
MLFLOW_TRACKING_URI.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _one(county: str, cache: str, crop_model: str, out: str) -> None:
    import resource

    import pipelines.train_yield as ty
    from pipelines.county import County
    from pipelines.featurize import load_crop_model

    c = County(county, cache_dir=cache)
    shutil.rmtree(c.cache_dir / "area", ignore_errors=True)
    model, desc = load_crop_model(crop_model)
    t0, c0 = time.perf_counter(), time.process_time()
    res = ty.county_features(c, c.past_seasons, crop_model=model, crop_desc=desc, cache=False)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for cp, df in res.items():
        df.to_parquet(Path(out) / f"{cp}.parquet")
        with open(Path(out) / f"{cp}.pkl", "wb") as f:
            pickle.dump(df, f)
    print(json.dumps({"seconds": secs, "cpu": cpu, "peak_mb": peak, "code": str(Path(ty.__file__).parents[1]),
                      "checkpoints": list(res), "rows": sum(len(v) for v in res.values())}))


def _equal(a: Path, b: Path) -> str:
    import pandas as pd

    names = sorted(p.name for p in a.glob("*.pkl"))
    if names != sorted(p.name for p in b.glob("*.pkl")):
        return "no: other checkpoints"
    for n in names:
        with open(a / n, "rb") as fa, open(b / n, "rb") as fb:
            x, y = pickle.load(fa), pickle.load(fb)
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        except AssertionError as e:
            return f"no: {n[:-4]}: {str(e).splitlines()[0][:60]}"
        if x.attrs != y.attrs:
            return f"no: {n[:-4]} attrs"
        if (a / f"{n[:-4]}.parquet").read_bytes() != (b / f"{n[:-4]}.parquet").read_bytes():
            return f"no: {n[:-4]} Parquet bytes"
    return f"yes ({len(names)} tables)"


def _run(code: Path, county: Path, cache: Path, crop_model: str, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code), *filter(None, [os.environ.get("PYTHONPATH")])]))
    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run([sys.executable, __file__, "--one", str(county), str(cache), crop_model, str(out)],
                         check=False, capture_output=True, text=True, env=env, cwd=code)
    if run.returncode:
        raise SystemExit(f"variant at {code} failed:\n{run.stderr[-3000:]}")
    res = json.loads(run.stdout.strip().splitlines()[-1])
    if Path(res["code"]).resolve() != code.resolve():  # an installed copy imported instead of the one meant
        raise SystemExit(f"variant at {code} imported the code at {res['code']}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("county", type=Path, nargs="?")
    ap.add_argument("--baseline-ref", default=None, help="git commit to compare with (e.g. HEAD~1)")
    ap.add_argument("--crop-model", default="none", help="none (default), champion (the registry) or a folder")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: the county's .cache)")
    ap.add_argument("--runs", type=int, default=1, help="timed runs of each variant, alternating")
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")
    if a.one:
        _one(*a.one)
        return
    if a.county is None:
        ap.error("a county folder is needed")
    county = a.county.resolve()
    cache = (a.cache or county / ".cache").resolve()
    with tempfile.TemporaryDirectory(prefix="bench-yield-features-") as tmp:
        variants = []
        if a.baseline_ref:
            wt = Path(tmp) / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(wt), a.baseline_ref],
                           check=True)
            rev = subprocess.run(["git", "-C", str(wt), "rev-parse", "--short", "HEAD"], check=True,
                                 capture_output=True, text=True).stdout.strip()
            variants.append((f"baseline {rev}", wt))
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], check=True,
                               capture_output=True, text=True).stdout.strip()
        variants.append((f"current {rev}{'+' if dirty else ''}", ROOT))
        try:
            if not (cache / "series").is_dir():
                print("filling the series cache (untimed run)", flush=True)
                _run(ROOT, county, cache, a.crop_model, Path(tmp) / "warmup")
            load0 = os.getloadavg()[0]
            rows = []
            for k in range(max(1, a.runs)):
                for name, code in variants:
                    out = Path(tmp) / f"{name.split()[0]}-{k}"
                    rows.append((name, out, _run(code, county, cache, a.crop_model, out)))
            load1 = os.getloadavg()[0]
        finally:
            if a.baseline_ref:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(tmp) / "baseline")],
                               check=False)
        first = rows[0][1]
        print(f"county_features({county.name}, past seasons, crop model {a.crop_model}, cache=False), area cache "
              f"removed before each run; load average {load0:.1f} → {load1:.1f} on {os.cpu_count()} cores")
        head = f"{'variant':<22}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}{'rows':>7}  equal to the first"
        print(head)
        print("-" * len(head))
        for name, out, r in rows:
            print(f"{name:<22}{r['seconds']:>9.1f}{r['cpu']:>9.1f}{r['peak_mb']:>9.0f}{r['rows']:>7}  "
                  f"{'(reference)' if out == first else _equal(first, out)}")


if __name__ == "__main__":
    main()
