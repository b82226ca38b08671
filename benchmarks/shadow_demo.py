"""A season in shadow on the synthetic demo county, end to end: a second yield-value version (more trees) registered
as ``challenger`` beside the demo's champion, the current season underwritten at its application date and
re-underwritten at its pre-harvest and end checkpoints into a fresh store through the production path (the
challenger decided in shadow at each run), then ``agcredit models shadow yield-value --reported`` against the
season's simulated yields, which stand in for the farmers' reports (they carry no reporting noise).

    .venv/bin/python benchmarks/shadow_demo.py --demo agcredit-demo [--trees 400] [--work DIR] [--json]

The demo folder (``agcredit demo``'s) is only read: its county and registry are copied into the scratch folder (a
temporary one, removed, unless ``--work``, which must not exist), the registry relocated there. Prints the shadow
report (labelled synthetic by its data) and each step's time. Every figure is of the synthetic demo county.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cli(*args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"agcredit {' '.join(args[:2])} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def _run(demo: Path, work: Path, trees: int, as_json: bool) -> None:
    from models.yield_value import YieldModelConfig
    from pipelines.county import County
    from pipelines.demo import DEMO_TOKEN_KEY
    from pipelines.reunderwrite import reunderwrite_county
    from pipelines.train_yield import train_yield_county
    from pipelines.underwrite import underwrite
    from underwriting.policy import default_policy

    county_dir = next(p for p in demo.iterdir() if (p / "county.json").is_file())
    shutil.copytree(county_dir, work / county_dir.name)
    shutil.copytree(demo / "mlruns", work / "mlruns")
    os.environ["AGCREDIT_TOKEN_KEY"] = DEMO_TOKEN_KEY
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(work / 'mlruns' / 'mlflow.db').as_posix()}"
    os.environ.setdefault("AGCREDIT_OPERATOR", "shadow-demo")
    t = time.perf_counter()
    _cli("models", "relocate")
    county = County(work / county_dir.name)
    train_yield_county(county, promote=False, config=YieldModelConfig(n_estimators=trees))
    print(f"challenger trained ({trees} trees) and registered: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    url = f"sqlite:///{(work / 'decisions.db').as_posix()}"
    season = county.current_season
    cps = county.checkpoints(season)
    t = time.perf_counter()
    underwrite(county.applications(), county.fields(season), season, cps["mid"], imagery=county.imagery,
               policy=default_policy(), profile=county.profile, book=county.book(), store=url,
               weather=county.weather(), yield_history=county.history(), cache_dir=county.cache_dir, shadow=True)
    for name in ("pre_harvest", "end"):
        reunderwrite_county(county, season, cps[name], store=url, shadow=True)
    print(f"underwritten {cps['mid']}, re-underwritten {cps['pre_harvest']} and {cps['end']}, the challenger in "
          f"shadow: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    import pandas as pd

    truth = pd.read_parquet(county.path / "truth" / "fields.parquet")
    rep = truth[(truth["season"].astype(str) == season) & truth["yield_t_ha"].notna()]
    reported = work / f"reported-{season}.csv"
    rep[["field_id", "season", "yield_t_ha"]].rename(columns={"yield_t_ha": "reported_yield_t_ha"}).to_csv(
        reported, index=False)
    print(_cli("models", "shadow", "yield-value", "--store", url, "--reported", str(reported),
               *(["--json"] if as_json else [])), end="")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, default=Path("agcredit-demo"), help="an `agcredit demo` folder (read only)")
    ap.add_argument("--trees", type=int, default=400, help="the challenger's trees (the champion's: 200)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder to create (default: temporary, removed)")
    ap.add_argument("--json", action="store_true", help="the shadow report as JSON")
    a = ap.parse_args(argv)
    if not (a.demo / "mlruns" / "mlflow.db").is_file():
        raise SystemExit(f"{a.demo}: not an `agcredit demo` folder (no mlruns/mlflow.db)")
    if a.work is not None:
        a.work.mkdir(parents=True)  # refuses an existing folder: nothing of the user's is overwritten
        _run(a.demo, a.work, a.trees, a.json)
        return 0
    with tempfile.TemporaryDirectory(prefix="shadow-demo-") as tmp:
        _run(a.demo, Path(tmp), a.trees, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
