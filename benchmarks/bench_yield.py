"""Benchmark: the yield-value model on county folders — evaluation tables, targets, training and registry times.

Run (from the repository root; counties are read-only, caches go elsewhere)::

    AGCREDIT_TOKEN_KEY=agcredit-demo-token-key nice .venv/bin/python benchmarks/bench_yield.py \\
        --county /work/data/sh-demo --cache-root /work/data/Y [--county /work/data/sh-eval ...] [--no-train] \\
        [--weather-dir /work/data/W5]    # weather features from <dir>/<county>/weather.csv

With ``--features-dir D`` the features are read from ``D/feats-<county>-fold<season>-<end|mid>.parquet`` snapshots,
one set per held-out season (``--write-features`` builds and writes them first; a single
``D/feats-<county>-<end|mid>.parquet`` set is used for every season): feature modules change often, and each change
invalidates the feature cache, so a frozen snapshot lets a model change be measured alone.

For each county: ``evaluate_yield_county`` (leave-one-season-out over the past seasons, at end and
mid season, against truth, beside the crop-mean and farmer-mean baselines and the canopy oracle)
prints its table and the issue's targets; then ``train_yield_county`` trains on every past season
and registers/promotes into a temporary MLflow store, and the times are printed. Figures from a
synthetic county are labelled so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--county", action="append", required=True, help="county folder (repeatable)")
    ap.add_argument("--cache-root", default=None, help="caches go to <cache-root>/cache-<county name>")
    ap.add_argument("--no-oracle", action="store_true")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--seasons", default=None, help="held-out seasons, comma-separated (default: all past)")
    ap.add_argument("--features-dir", default=None, help="read feats-<county>-<checkpoint>.parquet snapshots "
                    "(written by --write-features) instead of building the features")
    ap.add_argument("--write-features", action="store_true", help="with --features-dir: build and write them")
    ap.add_argument("--json-dir", default=None, help="also write eval-<county>.json there")
    ap.add_argument("--weather-dir", default=None, help="add the weather features from <dir>/<county name>/weather.csv"
                    " (features.weather; democounty._weather.write_county_weather writes it)")
    ap.add_argument("--no-weather", action="store_true", help="evaluate without weather even when the county has "
                    "weather/daily.csv")
    ap.add_argument("--calibrate-on-truth", action="store_true",
                    help="DIAGNOSTIC: calibrate P10/P90 on the training seasons' true yields (as crop cuts would "
                    "give), to measure how much of the interval error reporting noise causes")
    ap.add_argument("--uncalibrated", action="store_true", help="phenology uncalibrated (default: calibrated per "
                    "held-out season on the other seasons' declared dates, as production); snapshots get -uncal")
    a = ap.parse_args()
    from pipelines.evaluation.yield_ import evaluate_yield_county, read_feature_snapshot, read_fold_snapshot
    from pipelines.train_yield import train_yield_county

    rows: list[tuple[str, str, str]] = []
    for county in a.county:
        name = Path(county).name
        cache = Path(a.cache_root) / f"cache-{name}" if a.cache_root else None
        t = time.perf_counter()
        seasons = a.seasons.split(",") if a.seasons else None
        feats = folds = None
        wx = Path(a.weather_dir) / name / "weather.csv" if a.weather_dir else None
        if a.features_dir:
            prefix = Path(a.features_dir) / f"feats-{name}{'-uncal' if a.uncalibrated else ''}"
            if a.write_features:
                from pipelines.county import County
                from pipelines.evaluation.yield_ import fold_features, resolve_weather, write_fold_snapshot

                cty = County(county, cache_dir=cache)
                built = fold_features(cty, seasons or cty.past_seasons, ("end", "mid"), phenology=not a.uncalibrated,
                                      weather=resolve_weather(cty, wx, not a.no_weather))
                write_fold_snapshot(built, prefix)
            folds = read_fold_snapshot(prefix, ("end", "mid"))
            if folds is None:
                feats = read_feature_snapshot(prefix, ("end", "mid"))
        res = evaluate_yield_county(county, seasons=seasons, oracle=not a.no_oracle, cache_dir=cache, features=feats,
                                    fold_snapshot=folds, weather=wx, county_weather=not a.no_weather,
                                    calibrate_on_truth=a.calibrate_on_truth, phenology=not a.uncalibrated)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        print(res.text())
        print(f"cpu so far {cpu.ru_utime + cpu.ru_stime:.0f} s")
        if a.json_dir:
            Path(a.json_dir, f"eval-{name}.json").write_text(json.dumps(res.to_dict(), indent=1, sort_keys=True,
                                                                        default=str))
        print()
        rows.append((name, "evaluate (leave-one-season-out, wall)", f"{time.perf_counter() - t:.1f} s"))
        met = res.targets["point_met"]
        rows.append((name, "targets met (point)", f"{int(met.sum())} of {len(met)}"))
        if a.no_train:
            continue
        tmp = tempfile.mkdtemp(prefix="agcredit-bench-yield-")
        old = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlruns/mlflow.db"
        try:
            from pipelines.county import County

            t = time.perf_counter()
            tr = train_yield_county(County(county, cache_dir=cache), crop_model="none", weather=wx)
            wall = time.perf_counter() - t
            print(tr.summary())
            print()
            for k, sec in tr.timings.items():
                rows.append((name, f"train: {k}", f"{sec:.1f} s"))
            rows.append((name, "train: total (wall)", f"{wall:.1f} s"))
        finally:
            if old is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = old
            shutil.rmtree(tmp, ignore_errors=True)
    w = max(len(r[1]) for r in rows)
    print(f"{'county':<12} {'step':<{w}} value")
    for c, k, val in rows:
        print(f"{c:<12} {k:<{w}} {val}")


if __name__ == "__main__":
    main()
