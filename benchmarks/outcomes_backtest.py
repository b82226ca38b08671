"""Outcomes analysis on the synthetic demo county, end to end: for each past season S asked for, a yield-value version
trained on the seasons before S (registered as a challenger in a scratch registry — never the county's own), then
``agcredit models performance`` on season S's features at each checkpoint against the farm records' reported yields
of S, with the naive baselines from the seasons before it. S has reported yields in the records and the version
never saw them nor any later season: what a bank's model-risk team runs after a harvest, replayed on seasons past.

    .venv/bin/python benchmarks/outcomes_backtest.py --county agcredit-demo/in-smallholder [--seasons 2006,2007,2008]

Prints each analysis (labelled synthetic), then one line per season and checkpoint — the verdict, the minimum
metrics missed by their whole interval and those the interval straddles: how often ordinary seasons miss one (the
false alarms ``--fail-on-miss`` would raise) — and the time each step took. The features are built by the
production path (:func:`pipelines.train_yield.county_features`, the county's weather) with the declared crops
(``--crop-model none``: a crop-type model trained on the county's declared crops would have seen S's).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", type=Path, required=True, help="a simulated county folder (agcredit simulate)")
    ap.add_argument("--seasons", default=None, help="the past seasons whose outcomes are analysed, comma-separated "
                                                    "(default: the latest past season); each needs three seasons "
                                                    "before it")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    a = ap.parse_args(argv)
    from _scratch import scratch_registry

    work, work_ctx = scratch_registry(a.work, "agcredit-outcomes-")

    from pipelines.county import County
    from pipelines.outcomes import model_performance
    from pipelines.train_yield import CHECKPOINTS, checkpoint_dates_of, county_features, train_yield

    c = County(a.county)
    past = [str(s) for s in c.past_seasons]
    seasons = a.seasons.split(",") if a.seasons else past[-1:]
    for season in seasons:
        if season not in past or sum(int(s) < int(season) for s in past) < 3:
            raise SystemExit(f"--seasons {season}: not a past season of {a.county} with three seasons before it "
                             f"({', '.join(past)})")
    t0 = time.perf_counter()
    feats = county_features(c, [s for s in past if int(s) <= max(int(x) for x in seasons)], CHECKPOINTS)
    print(f"features of seasons {', '.join(sorted(set(feats['end']['season'].astype(str))))}: "
          f"{time.perf_counter() - t0:.0f} s")
    history = c.history()
    rec = c.path / "records" / "history.csv"
    summary = []
    for season in seasons:
        train = {cp: f[f["season"].astype(int) < int(season)].reset_index(drop=True) for cp, f in feats.items()}
        t0 = time.perf_counter()
        res = train_yield(train, history[history["season"].astype(int) < int(season)], data=c.data_kind,
                          promote=False, operator="outcomes-backtest",
                          params={"county": c.path.name, "region": c.region},
                          checkpoint_dates=checkpoint_dates_of(c, CHECKPOINTS))
        print(f"\ntrained yield-value version {res.version} on seasons "
              f"{', '.join(sorted(set(train['end']['season'].astype(str))))} ({time.perf_counter() - t0:.0f} s; "
              f"scratch registry {work / 'mlruns'})")
        for cp, f in feats.items():
            path = work / f"features_{season}_{cp}.parquet"
            f[f["season"].astype(str) == season].reset_index(drop=True).to_parquet(path)
            t0 = time.perf_counter()
            out = model_performance(path, rec, version=str(res.version), checkpoint=cp)
            print()
            print("\n".join(out.lines()))
            print(f"({time.perf_counter() - t0:.1f} s)")
            gated = [r for r in out.requirements if r["gated"]]
            summary.append((season, cp, len(gated), [r["metric"] for r in gated if r["judgement"] == "not met"],
                            [r["metric"] for r in gated if r["judgement"] == "interval straddles"]))
    print("\nseason  checkpoint  gated  missed (whole interval)            straddles")
    for season, cp, n, missed, unsure in summary:
        print(f"{season:<7} {cp:<11} {n:>5}  {', '.join(missed) or '—':<34} {', '.join(unsure) or '—'}")
    print(f"{sum(1 for x in summary if x[3])} of {len(summary)} analyses miss a minimum metric gating their checkpoint "
          "(SYNTHETIC county)")
    if work_ctx is not None:
        work_ctx.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
