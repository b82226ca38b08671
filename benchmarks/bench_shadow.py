"""What the challenger in shadow costs: ``agcredit underwrite`` and ``agcredit reunderwrite`` on a demo county, timed
without a challenger, with a yield-value challenger in shadow, with a crop-type challenger in shadow (the expensive
case: its features are built again with its own crop model), and with a challenger present and ``--no-shadow``.

The demo folder (``agcredit demo``'s: a county, its registry and store; default ``/tmp/d64/agcredit-demo``) is
copied into a temporary folder and only the copy is used: its registry relocated (``agcredit models relocate``), then
each variant underwrites the county's season as of the demo's underwriting date into a new store (features built from
the scenes, the series cache warmed by one untimed run first) and re-underwrites its Book at the pre-harvest
checkpoint on that store. Each variant has its own copy of the registry; a challenger is the champion's own model
registered again (the next version): it decides as the champion does, so its cost is the shadow machinery's and the
challenger's scoring (and, for crop type, featurizing), not a different model's. The variants are interleaved, their
order rotated and reversed from one repeat to the next (a load that drifts during the run falls on each alike); the
machine's load average is printed before and after.
Every figure is of the *synthetic* demo county. Each command runs in a subprocess (interpreter start-up and imports
included); CPU seconds are the child's user + system time.

Run: ``nice .venv/bin/python benchmarks/bench_shadow.py [--demo /tmp/d64/agcredit-demo] [--repeat 3]``.
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


def _register_challenger(env: dict[str, str], name: str) -> str:
    """The champion's model of ``name`` registered again: the next version, the challenger."""
    metric = "r2_all" if name == "yield-value" else "accuracy"
    code = ("from models.registry import resolve, register, governance\n"
            f"y = resolve({name!r}, 'champion')\n"
            f"print(register(y.model, {name!r}, metrics={{{metric!r}: 0.5}}, "
            f"governance=governance({name!r}, y.version), operator='bench'))\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return p.stdout.strip().splitlines()[-1]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=Path("/tmp/d64/agcredit-demo"), help="an `agcredit demo` folder")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per variant, interleaved (the median is shown)")
    a = ap.parse_args()
    from pipelines.demo import DEMO_TOKEN_KEY

    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as tmp:
        root = Path(tmp) / "demo"
        shutil.copytree(a.demo, root, ignore=shutil.ignore_patterns("decisions.db*", "decisions.artifacts", "report",
                                                                    "mlruns"))
        county = root / "in-smallholder"
        cache = Path(tmp) / "cache"
        meta = json.loads((county / "county.json").read_text())
        season = str(meta.get("current_season"))
        base = {**os.environ, "PYTHONPATH": str(REPO), "AGCREDIT_TOKEN_KEY": DEMO_TOKEN_KEY,
                "PYTHONDONTWRITEBYTECODE": "1"}
        variants = {"no challenger": (None, ()), "yield-value challenger in shadow": ("yield-value", ()),
                    "crop-type challenger in shadow": ("crop-type", ()),
                    "challenger present, --no-shadow": ("yield-value", ("--no-shadow",))}
        envs, names = {}, {}
        for i, (variant, (model, _)) in enumerate(variants.items()):  # a registry copy each
            reg = Path(tmp) / f"registry-{i}"
            shutil.copytree(a.demo / "mlruns", reg)
            env = {**base, "MLFLOW_TRACKING_URI": f"sqlite:///{reg / 'mlflow.db'}"}
            subprocess.run([sys.executable, "-m", "pipelines.cli", "models", "relocate"], env=env, check=True,
                           capture_output=True)
            envs[variant] = env
            names[variant] = (variant if model is None or "--no-shadow" in variant
                              else variant.replace("challenger", f"challenger (version "
                                                   f"{_register_challenger(env, model)})", 1))
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

        load_before = _load()
        _run(underwrite(f"sqlite:///{tmp}/warm.db"), envs["no challenger"])  # the series cache warmed
        _run(reunderwrite(f"sqlite:///{tmp}/warm.db"), envs["no challenger"])
        order = list(variants)
        got: dict[tuple[str, str], list[tuple[float, float]]] = {}
        said: dict[tuple[str, str], list[str]] = {}
        for k in range(a.repeat):
            turn = order[k % len(order):] + order[:k % len(order)]
            for variant in (turn if k % 2 == 0 else turn[::-1]):
                extra = variants[variant][1]
                store = f"sqlite:///{tmp}/{order.index(variant)}-{k}.db"
                for cmd, args in (("underwrite", underwrite(store, *extra)),
                                  ("reunderwrite", reunderwrite(store, *extra))):
                    w, cpu, out = _run(args, envs[variant])
                    got.setdefault((cmd, variant), []).append((w, cpu))
                    said[(cmd, variant)] = [ln for ln in out.splitlines() if ln.startswith("shadow:")]
        print(f"challenger in shadow, synthetic demo county {meta.get('region', 'in-smallholder')} season {season}: "
              f"underwrite as of {uw_day} into a new store, reunderwrite --county as of {ru_day} on it; "
              f"median of {a.repeat} interleaved run(s), subprocess wall and CPU seconds; load average (1, 5, 15 min) "
              f"{load_before} before, {_load()} after")
        print(f"{'command':<13} {'variant':<52} {'wall s':>8} {'CPU s':>8}  {'wall s each':<20}")
        for cmd in ("underwrite", "reunderwrite"):
            for variant in order:
                t = got[(cmd, variant)]
                print(f"{cmd:<13} {names[variant]:<52} {statistics.median(x[0] for x in t):>8.1f} "
                      f"{statistics.median(x[1] for x in t):>8.1f}  {' '.join(f'{x[0]:.1f}' for x in t):<20}")
        for (cmd, variant), lines in said.items():
            for ln in lines:
                print(f"  {cmd}, {names[variant]}: {ln}")


if __name__ == "__main__":
    main()
