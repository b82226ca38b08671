"""Outcomes analysis on the synthetic demo county, end to end: a yield-value version trained on the seasons before
a past season S (registered as a challenger in a scratch registry — never the county's own), then
``agcredit models performance`` on season S's features at each checkpoint against the farm records' reported yields
of S, with the naive baselines from the seasons before it. S has reported yields in the records and the version
never saw them: what a bank's model-risk team runs after a harvest, here on a season already past.

    .venv/bin/python benchmarks/outcomes_backtest.py --county agcredit-demo/in-smallholder [--season 2008]

Prints each checkpoint's analysis (labelled synthetic) and the time each step took. The features are built by the
production path (:func:`pipelines.train_yield.county_features`, the county's weather) with the declared crops
(``--crop-model none``: a crop-type model trained on the county's declared crops would have seen S's).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", type=Path, required=True, help="a simulated county folder (agcredit simulate)")
    ap.add_argument("--season", default=None, help="the past season whose outcomes are analysed (default: the latest "
                                                   "past season)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    a = ap.parse_args(argv)
    work_ctx = tempfile.TemporaryDirectory(prefix="agcredit-outcomes-") if a.work is None else None
    work = Path(work_ctx.name) if work_ctx is not None else a.work
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    (work / "mlruns").mkdir(exist_ok=True)
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")

    from pipelines.county import County
    from pipelines.outcomes import model_performance
    from pipelines.train_yield import CHECKPOINTS, checkpoint_dates_of, county_features, train_yield

    c = County(a.county)
    past = [str(s) for s in c.past_seasons]
    season = a.season or past[-1]
    if season not in past:
        raise SystemExit(f"--season {season}: not a past season of {a.county} ({', '.join(past)})")
    before = [s for s in past if int(s) < int(season)]
    t0 = time.perf_counter()
    feats = county_features(c, [*before, season], CHECKPOINTS)
    t_feat = time.perf_counter() - t0
    history = c.history()
    train = {cp: f[f["season"].astype(str) != season].reset_index(drop=True) for cp, f in feats.items()}
    t0 = time.perf_counter()
    res = train_yield(train, history[history["season"].astype(str) != season], data=c.data_kind, promote=False,
                      operator="outcomes-backtest", params={"county": c.path.name, "region": c.region},
                      checkpoint_dates=checkpoint_dates_of(c, CHECKPOINTS))
    t_train = time.perf_counter() - t0
    print(f"trained yield-value version {res.version} on seasons {', '.join(before)} "
          f"({t_feat:.0f} s features, {t_train:.0f} s training; scratch registry {work / 'mlruns'})")
    rec = c.path / "records" / "history.csv"
    for cp, f in feats.items():
        path = work / f"features_{season}_{cp}.parquet"
        f[f["season"].astype(str) == season].reset_index(drop=True).to_parquet(path)
        t0 = time.perf_counter()
        out = model_performance(path, rec, version=str(res.version), checkpoint=cp)
        print()
        print("\n".join(out.lines()))
        print(f"({time.perf_counter() - t0:.1f} s)")
    if work_ctx is not None:
        work_ctx.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
