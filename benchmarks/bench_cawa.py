"""Crop type on real data: CAWa (Central Asia), leave-one-region-out, beside a random forest.

The CAWa NDVI series (23 values per polygon, every 16 days) are converted to the
FieldTimeSeries contract and run through the seasonal features and the calibrated LightGBM
classifier; the random forest (scikit-learn, 300 trees, random_state=0) sees the 23 raw values.
Same folds (one per region), classes with >= 100 polygons, predictions pooled over folds.

    nice .venv/bin/python benchmarks/bench_cawa.py [--data ../shared/data/real/cawa_croptype]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features._crop_eval import cawa_benchmark  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "real" / "cawa_croptype"))
    ap.add_argument("--trees", type=int, default=200, help="LightGBM boosting rounds")
    ap.add_argument("--calibration-folds", type=int, default=4)
    ap.add_argument("--calibration-loss", default="brier", choices=["brier", "nll", "ece"],
                    help="loss of --calibration temperature")
    ap.add_argument("--calibration", default="vector", choices=["vector", "temperature", "none"])
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        print(f"CAWa data not found at {args.data}: skipped")
        return 0
    t0 = time.perf_counter()
    r = cawa_benchmark(args.data, n_estimators=args.trees, calibration_folds=args.calibration_folds,
                       calibration_loss=args.calibration_loss, calibration=args.calibration)
    secs = time.perf_counter() - t0
    print(f"CAWa leave-one-region-out: {r['n']} polygons, {len(r['classes'])} classes "
          f"({', '.join(r['classes'])}), folds: {', '.join(r['regions'])}")
    print(f"{'model':<34} {'accuracy':>9} {'macro-F1':>9} {'ECE':>7}")
    ct, rf = r["crop_type"], r["random_forest"]
    print(f"{'crop_type (LightGBM, calibrated)':<34} {ct['accuracy']:>9.4f} {ct['macro_f1']:>9.4f} {ct['ece']:>7.4f}")
    print(f"{'random forest, 23 raw NDVI':<34} {rf['accuracy']:>9.4f} {rf['macro_f1']:>9.4f} {'':>7}")
    print("per-class recall (crop_type / forest):")
    for c in r["classes"]:
        print(f"  {c:<14} {ct['recall'].get(c, float('nan')):.3f} / {rf['recall'].get(c, float('nan')):.3f}")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"calibration: {args.calibration}, fitted on out-of-fold scores of the training regions")
    print(f"wall time {secs:.0f} s, CPU {cpu.ru_utime + cpu.ru_stime:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
