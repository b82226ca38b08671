"""Crop type on real data: CAWa (Central Asia), leave-one-region-out, beside a random forest and a naive baseline.

The CAWa NDVI series (23 values per polygon, every 16 days) are converted to the
FieldTimeSeries contract and run through the seasonal features and the calibrated LightGBM
classifier, twice: with the benchmark's settings (CropTypeClassifier's defaults, vector calibration grouped by
region, ``--seeds`` bagged; chosen on these very folds, so optimistic) and with the production settings
``agcredit train crop-type`` registers models with (pipelines/train_crop.py COUNTY_PARAMS, read from there; one
seed; ``--no-production`` leaves it out). The random forest (scikit-learn, 300 trees, random_state=0) sees the 23
raw values; the naive baseline predicts each fold's training regions' most common class.
Same folds (one per region), classes with >= 100 polygons, predictions pooled over folds.
ECE: top-label, 15 equal-width bins, pooled; with a 95% bootstrap interval over polygons (its sampling
noise) and per region. ``--seeds 5`` (default) bags five LightGBM seeds per fold (≈ 200 CPU-s): one
model's ECE moves by about ±0.008 with the seed alone; ``--seeds 1 --seed S`` runs one model.

    nice -n 10 .venv/bin/python benchmarks/bench_cawa.py [--data ../shared/data/real/cawa_croptype] [--seeds N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features._crop_eval import cawa_benchmark  # noqa: E402
from features.errors import UserInputError  # noqa: E402
from pipelines.train_crop import COUNTY_PARAMS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None,
                    help="the CAWa folder (default $AGCREDIT_SHARED_DATA/cawa_croptype, else ../shared/data/real/…; "
                         "only that default absent is skipped, and not under AGCREDIT_NO_SKIP=1)")
    ap.add_argument("--trees", type=int, default=200, help="LightGBM boosting rounds")
    ap.add_argument("--calibration-folds", type=int, default=4)
    ap.add_argument("--calibration-loss", default="brier", choices=["brier", "nll", "ece"],
                    help="loss of --calibration temperature")
    ap.add_argument("--calibration", default="vector", choices=["vector", "temperature", "none"])
    ap.add_argument("--seeds", type=int, default=5, help="LightGBM models bagged per fold (seeds 0, 1, ...)")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--prior-adaptation", default="none", choices=["none", "em"],
                    help="em: each held-out region's probabilities adapted to its own class mix (label shift)")
    ap.add_argument("--no-production", action="store_true",
                    help="leave out the production settings' row (pipelines/train_crop.py COUNTY_PARAMS, ≈ 90 s)")
    args = ap.parse_args()
    data = args.data or str(Path(os.environ.get("AGCREDIT_SHARED_DATA") or REPO.parent / "shared" / "data" / "real")
                            / "cawa_croptype")
    if not Path(data).is_dir():
        # a folder the user named (or any folder under AGCREDIT_NO_SKIP=1) must be there: an error, not a skip
        if args.data is not None or os.environ.get("AGCREDIT_NO_SKIP", "") == "1":
            print(f"bench_cawa: error: CAWa data not found: {data}", file=sys.stderr)
            return 2
        print(f"CAWa data not found at {data}: skipped")
        return 0
    t0 = time.perf_counter()
    try:
        r = cawa_benchmark(data, n_estimators=args.trees, calibration_folds=args.calibration_folds,
                           calibration_loss=args.calibration_loss, calibration=args.calibration, n_seeds=args.seeds,
                           seed=args.seed, prior_adaptation=args.prior_adaptation,
                           production=None if args.no_production else COUNTY_PARAMS)
    except UserInputError as e:  # a file of the folder missing, unreadable or cut short: which one, in one line
        print(f"bench_cawa: error: {e}", file=sys.stderr)
        return 2
    secs = time.perf_counter() - t0
    print(f"CAWa leave-one-region-out (real data): {r['n']} polygons, {len(r['classes'])} classes "
          f"({', '.join(r['classes'])}), folds: {', '.join(r['regions'])}")
    print(f"{'model (real)':<40} {'accuracy':>9} {'macro-F1':>9} {'ECE':>7} {'ECE 95% CI (bootstrap)':>23}")
    ct, rf, naive = r["crop_type"], r["random_forest"], r["majority"]
    rows = [(f"crop_type, benchmark settings ({args.seeds} seed{'s' if args.seeds > 1 else ''})", ct)]
    if "production" in r:
        rows.append(("crop_type, production settings (1 seed)", r["production"]))
    for name, m in rows:
        lo, hi = m["ece_ci"]
        print(f"{name:<40} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f} {m['ece']:>7.4f} "
              f"{f'[{lo:.4f}, {hi:.4f}]':>23}")
    print(f"{'random forest, 23 raw NDVI':<40} {rf['accuracy']:>9.4f} {rf['macro_f1']:>9.4f}")
    print(f"{'majority class of the training regions':<40} {naive['accuracy']:>9.4f} {naive['macro_f1']:>9.4f}")
    print("  majority class per held-out region: " + ", ".join(f"{k} {v}" for k, v in naive["classes"].items()))
    print("benchmark settings: CropTypeClassifier defaults (chosen on these folds), calibration "
          f"{args.calibration} grouped by region, {args.trees} trees, {args.seeds} seed(s)")
    if "production" in r:
        print("production settings: pipelines/train_crop.py COUNTY_PARAMS, what `agcredit train crop-type` registers: "
              + ", ".join(f"{k}={v}" for k, v in r["production"]["settings"].items()))
    print("ECE: top-label, 15 equal-width bins, pooled over the held-out regions; the interval resamples polygons "
          "(sampling noise), not regions")
    print(f"per held-out region: {'n':>5} " + "  ".join(f"{n + ' ECE / conf / acc':>28}" for n, _ in
                                                        [("benchmark", ct)] + ([("production", r["production"])]
                                                                                 if "production" in r else [])))
    for reg in r["regions"]:
        cells = []
        for m in [ct] + ([r["production"]] if "production" in r else []):
            g = m["by_region"][reg]
            cells.append(f"{m['ece_by_region'][reg]:>.3f} / {g['confidence']:.3f} / {g['accuracy']:.3f}")
        print(f"  {reg:<18} {ct['by_region'][reg]['n']:>5} " + "  ".join(f"{c:>28}" for c in cells))
    print("per-class recall (crop_type benchmark / forest):")
    for c in r["classes"]:
        print(f"  {c:<14} {ct['recall'].get(c, float('nan')):.3f} / {rf['recall'].get(c, float('nan')):.3f}")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"calibration: {args.calibration}, fitted on out-of-fold scores of the training regions; prior "
          f"adaptation: {args.prior_adaptation}")
    print(f"wall time {secs:.0f} s, CPU {cpu.ru_utime + cpu.ru_stime:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
