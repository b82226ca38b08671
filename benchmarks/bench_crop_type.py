"""Crop type on a county folder: trained on past seasons' declared crops, tested on true crops.

Runs exactly what ``agcredit evaluate crop-type`` runs (pipelines/evaluation/crop_type.py: the
production training settings of pipelines/train_crop.py): current season at end of season and
mid-season, a spatially held-out block (grouped by condition_id), leave-one-season-out mean and
worst season, beside the baseline "declared crop taken as the answer"; prints the table and the
wall time. Figures on a synthetic county are labelled synthetic.

    nice .venv/bin/python benchmarks/bench_crop_type.py COUNTY [--cache-dir D] [--no-loso] [--json]

The county folder is only read; the series cache goes to --cache-dir (default COUNTY/.cache,
or $AGCREDIT_CACHE_DIR).
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


def main() -> int:
    from pipelines.evaluation.crop_type import evaluate_crop_type_county, render_crop_type

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("county", type=Path)
    ap.add_argument("--cache-dir", type=Path, default=None, help="series cache")
    ap.add_argument("--no-loso", action="store_true", help="skip leave-one-season-out")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")  # the demo's records carry identifiers
    t0 = time.perf_counter()
    r = evaluate_crop_type_county(args.county, leave_one_season_out=not args.no_loso, cache_dir=args.cache_dir)
    print(render_crop_type(r, as_json=args.json))
    if not args.json:
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        print(f"wall time {time.perf_counter() - t0:.0f} s, CPU {cpu.ru_utime + cpu.ru_stime:.0f} s "
              "(series build included; cached on a re-run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
