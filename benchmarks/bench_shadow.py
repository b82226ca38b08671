"""What the challenger in shadow costs: ``agcredit underwrite`` and ``agcredit reunderwrite`` on a demo county, timed
without a challenger, with a yield-value challenger in shadow, and with the challenger present and ``--no-shadow``.

The demo folder (``agcredit demo``'s: a county, its registry and store; default ``/tmp/d64/agcredit-demo``) is
copied into a temporary folder and only the copy is used: its registry relocated (``agcredit models relocate``), then
each variant underwrites the county's season as of the demo's underwriting date into a new store (features built from
the scenes, the series cache warmed by one untimed run first) and re-underwrites its Book at the pre-harvest
checkpoint on that store. The challenger is the champion's own model registered again (version 2): it decides as
the champion does, so its cost is the shadow machinery's and the challenger's scoring, not a different model's.
Every figure is of the *synthetic* demo county. Each command runs in a subprocess (interpreter start-up and imports
included); CPU seconds are the child's user + system time.

Run: ``nice .venv/bin/python benchmarks/bench_shadow.py [--demo /tmp/d64/agcredit-demo] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """One command in a subprocess: wall seconds, CPU seconds (user + system of the child), its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, capture_output=True, text=True,
                       check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout


def _register_challenger(env: dict[str, str]) -> str:
    """The champion's model registered again: version 2, the challenger."""
    code = ("from models.registry import resolve, register, governance\n"
            "y = resolve('yield-value', 'champion')\n"
            "print(register(y.model, 'yield-value', metrics={'r2_all': 0.5}, "
            "governance=governance('yield-value', y.version), operator='bench'))\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return p.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("/tmp/d64/agcredit-demo"), help="an `agcredit demo` folder")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per variant (the median is shown)")
    a = ap.parse_args()
    from pipelines.demo import DEMO_TOKEN_KEY

    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as tmp:
        root = Path(tmp) / "demo"
        shutil.copytree(a.demo, root, ignore=shutil.ignore_patterns("decisions.db*", "decisions.artifacts", "report"))
        county = root / "in-smallholder"
        cache = Path(tmp) / "cache"
        meta = json.loads((county / "county.json").read_text())
        season = str(meta.get("current_season"))
        env = {**os.environ, "PYTHONPATH": str(REPO), "AGCREDIT_TOKEN_KEY": DEMO_TOKEN_KEY,
               "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}", "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run([sys.executable, "-m", "pipelines.cli", "models", "relocate"], env=env, check=True,
                       capture_output=True)
        from pipelines.county import County

        c = County(county)
        cps = c.checkpoints(season)
        uw_day, ru_day = str(cps["mid"]), str(cps["pre_harvest"])  # the demo's dates (2009-09-15, 2009-10-25)
        wx = county / "weather" / "daily.csv"
        recs = county / "records"

        def underwrite(store: str, *extra: str) -> list[str]:
            return ["underwrite", "--applications", str(recs / "applications.csv"), "--fields",
                    str(recs / "fields.gpkg"), "--season", season, "--as-of", uw_day, "--imagery", str(county / "scenes"),
                    *(["--weather", str(wx)] if wx.is_file() else []), "--history", str(recs / "history.csv"),
                    "--book", str(recs / "book.csv"), "--cache", str(cache), "--store", store, "--no-progress", *extra]

        def reunderwrite(store: str, *extra: str) -> list[str]:
            return ["reunderwrite", "--county", str(county), "--cache", str(cache), "--as-of", ru_day, "--store",
                    store, *extra]

        _run(underwrite(f"sqlite:///{tmp}/warm.db"), env)  # the series cache warmed: every variant reads it
        _run(reunderwrite(f"sqlite:///{tmp}/warm.db"), env)
        rows = []
        for variant, extra in (("no challenger", ()), ("yield-value challenger in shadow", ()),
                               ("challenger present, --no-shadow", ("--no-shadow",))):
            if variant.startswith("yield-value"):
                version = _register_challenger(env)
                variant = f"yield-value challenger (version {version}) in shadow"
            got: dict[str, list[tuple[float, float]]] = {"underwrite": [], "reunderwrite": []}
            said = {}
            for k in range(a.repeat):
                store = f"sqlite:///{tmp}/{len(rows)}-{k}.db"
                w, cpu, out = _run(underwrite(store, *extra), env)
                got["underwrite"].append((w, cpu))
                said["underwrite"] = [ln for ln in out.splitlines() if ln.startswith("shadow:")]
                w, cpu, out = _run(reunderwrite(store, *extra), env)
                got["reunderwrite"].append((w, cpu))
                said["reunderwrite"] = [ln for ln in out.splitlines() if ln.startswith("shadow:")]
            for cmd, t in got.items():
                rows.append((cmd, variant, statistics.median(x[0] for x in t), statistics.median(x[1] for x in t),
                             said[cmd]))
        print(f"challenger in shadow, synthetic demo county {meta.get('region', 'in-smallholder')} season {season}: "
              f"underwrite as of {uw_day} into a new store, reunderwrite --county as of {ru_day} on it; "
              f"median of {a.repeat} run(s), subprocess wall and CPU seconds")
        print(f"{'command':<13} {'variant':<44} {'wall s':>8} {'CPU s':>8}")
        for cmd, variant, w, cpu, _ in rows:
            print(f"{cmd:<13} {variant:<44} {w:>8.1f} {cpu:>8.1f}")
        for cmd, variant, _, _, lines in rows:
            for ln in lines:
                print(f"  {cmd}, {variant}: {ln}")


if __name__ == "__main__":
    main()
