"""Promotion impact on the synthetic demo county, end to end: the annual retrain of the yield model, assessed before
it is promoted. In a scratch registry (never the county's own), a yield-value version trained on the seasons before
the latest past one is promoted champion ("last year's model"), and one trained on every past season is registered
as challenger (the retrain); then ``agcredit models impact --candidate challenger`` decides the current season's
applications with each, as of a date (default: the county's application date), and prints what would change.

    .venv/bin/python benchmarks/impact_demo.py --county agcredit-demo/in-smallholder [--as-of 2009-10-25] \
        [--crop-model agcredit-demo/mlruns/.cache/crop-type/1-<run>/artifacts/model]

The features are built by the production path, with the declared crops by default (the scratch registry has no
crop-type model; ``--crop-model`` a saved crop-type model folder, e.g. the demo champion's local copy); the yield
versions are trained on features with the declared crops, as ``benchmarks/outcomes_backtest.py``, and read the
county's weather. Prints the impact (labelled synthetic), the
time of each step, and the impact's wall time and peak memory beside one ``underwrite`` of the same inputs into a
scratch store (what the impact costs against the run it doubles).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", type=Path, required=True, help="a simulated county folder (agcredit simulate)")
    ap.add_argument("--as-of", default=None, help="decision date (default: the county's application date)")
    ap.add_argument("--crop-model", default="none", help="a saved crop-type model folder for the features of the "
                                                          "decisions (default none: the declared crops)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    a = ap.parse_args(argv)
    from _scratch import scratch_registry

    work, work_ctx = scratch_registry(a.work, "agcredit-impact-")

    import datetime as dt

    from models.registry import promote
    from pipelines.county import County
    from pipelines.impact import promotion_impact
    from pipelines.train_yield import CHECKPOINTS, checkpoint_dates_of, county_features, train_yield
    from pipelines.underwrite import underwrite_files

    c = County(a.county)
    past = sorted(str(s) for s in c.past_seasons)
    season = str(c.current_season)
    day = dt.date.fromisoformat(a.as_of) if a.as_of else c.checkpoints(season)["mid"]  # the demo's application date
    t0 = time.perf_counter()
    feats = county_features(c, past, CHECKPOINTS)
    print(f"features of seasons {', '.join(past)}: {time.perf_counter() - t0:.0f} s")
    history = c.history()
    versions = []
    for upto in (past[-2], past[-1]):
        train = {cp: f[f["season"].astype(int) <= int(upto)].reset_index(drop=True) for cp, f in feats.items()}
        t0 = time.perf_counter()
        res = train_yield(train, history[history["season"].astype(int) <= int(upto)], data=c.data_kind,
                          promote=False, operator="impact-demo", params={"county": c.path.name, "region": c.region},
                          checkpoint_dates=checkpoint_dates_of(c, CHECKPOINTS))
        versions.append(res.version)
        print(f"trained yield-value version {res.version} on seasons {past[0]}–{upto} "
              f"({time.perf_counter() - t0:.0f} s; scratch registry {work / 'mlruns'})")
    promote("yield-value", versions[0], operator="impact-demo", reason="last year's model", force=True,
            approved_by="impact-demo-2")  # forced if below its minimum metrics: a scratch registry
    rec = c.path / "records"
    weather = c.path / "weather" / "daily.csv"
    common = {"applications": rec / "applications.csv", "fields": rec / "fields.gpkg", "season": season,
              "book": rec / "book.csv", "weather": weather if weather.exists() else None,
              "history": rec / "history.csv"}
    cache = work / "cache"
    t0, m0 = time.perf_counter(), _peak_mb()
    uw = underwrite_files(as_of=day, imagery=c.imagery, store=f"sqlite:///{work / 'one.db'}", crop_model=a.crop_model,
                          cache_dir=cache, **common)  # fills the series cache too: both timings below are warm
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    underwrite_files(as_of=day, imagery=c.imagery, store=f"sqlite:///{work / 'two.db'}", crop_model=a.crop_model,
                     cache_dir=cache, **common)
    t_uw = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = promotion_impact("yield-value", "challenger", as_of=day, imagery=str(c.imagery), crop_model=a.crop_model,
                           cache_dir=cache, **common)
    t_imp = time.perf_counter() - t0
    print()
    print("\n".join(out.lines(top=8)))
    print()
    print(f"SYNTHETIC county {c.path.name}, season {season} as of {day}: {len(uw.items)} applications")
    print("run                                   wall s   peak MB (process)")
    print(f"underwrite, series cache cold         {t_cold:>6.1f}   {max(m0, _peak_mb()):>8.0f}")
    print(f"underwrite, warm                      {t_uw:>6.1f}")
    print(f"models impact (features once, 2 runs) {t_imp:>6.1f}   {_peak_mb():>8.0f}")
    if work_ctx is not None:
        work_ctx.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
