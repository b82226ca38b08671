"""Crop type on a county folder: trained on past seasons' declared crops, tested on true crops.

Builds (or reads) the FieldTimeSeries of every season, then runs
``features._crop_eval.evaluate_crop_type``: current season at end of season and mid-season,
a spatially held-out block (grouped by condition_id), leave-one-season-out mean and worst
season, beside the baseline "declared crop taken as the answer".

    nice .venv/bin/python benchmarks/bench_crop_type.py COUNTY [--series S.parquet] [--mid DAYS] [--no-loso]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

VARIABLES = ("NDVI", "NDWI", "NDRE", "NDMI", "EVI")


def _series(county: Path, fields: pd.DataFrame, seasons: list[str], cache: Path) -> pd.DataFrame:
    from features.series import build_series

    parts = []
    for s in seasons:
        fs = fields.loc[fields["season"].astype(str) == s]
        t0 = time.perf_counter()
        res = build_series(fs, county / "scenes", s, variables=VARIABLES, cache_dir=cache)
        print(f"  series {s}: {len(fs)} fields, {time.perf_counter() - t0:.0f} s", flush=True)
        parts.append(res.series)
    return pd.concat(parts, ignore_index=True)


def main() -> int:
    import geopandas as gpd

    from features._crop_eval import evaluate_crop_type
    from features.identity import IDENTIFIER_COLUMNS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("county", type=Path)
    ap.add_argument("--series", type=Path, help="a FieldTimeSeries parquet of all seasons (skips the build)")
    ap.add_argument("--mid", type=int, default=None,
                    help="mid-season checkpoint, days after season start (default: per region)")
    ap.add_argument("--no-loso", action="store_true", help="skip leave-one-season-out")
    ap.add_argument("--min-class-count", type=int, default=5, help="rarer declared crops are not trained on")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    meta = json.loads((args.county / "county.json").read_text())
    raw = gpd.read_file(args.county / "records" / "fields.gpkg")
    # personal identifiers are not needed here: drop them, keep a placeholder token for the contract
    fields = raw.drop(columns=[c for c in IDENTIFIER_COLUMNS if c in raw.columns]).assign(farmer_token="-")
    fields = fields.astype({"field_id": str, "season": str})
    truth = pd.read_parquet(args.county / "truth" / "fields.parquet").astype({"field_id": str, "season": str})
    labels = pd.DataFrame(fields.drop(columns="geometry")).merge(
        truth[["field_id", "season", "true_crop", "condition_id"]], on=["field_id", "season"], how="inner")
    if args.series:
        series = pd.read_parquet(args.series)
    else:
        with tempfile.TemporaryDirectory() as cache:
            series = _series(args.county, fields, [str(s) for s in meta["seasons"]], Path(cache))
    t0 = time.perf_counter()
    r = evaluate_crop_type(series, labels, str(meta["current_season"]), mid_checkpoint=args.mid,
                           leave_one_season_out=not args.no_loso, min_class_count=args.min_class_count)
    secs = time.perf_counter() - t0
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True, default=str))
        return 0
    print(f"{meta.get('region')} current season {r['current_season']} ({r['n_test']} fields), "
          f"trained on {', '.join(r['train_seasons'])}; mid-season = {r['mid_checkpoint_days']} days")
    print(f"{'evaluation':<36} {'accuracy':>9} {'macro-F1':>9} {'ECE':>7}")
    rows = [("current season, end", r["current"]["end"]), ("current season, mid", r["current"]["mid"]),
            ("spatial block, end", r["spatial_block"]["end"]), ("spatial block, mid", r["spatial_block"]["mid"]),
            ("baseline: declared crop", r["baseline_declared"])]
    for name, m in rows:
        ece = f"{m['ece']:>7.4f}" if "ece" in m else f"{'':>7}"
        print(f"{name:<36} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f} {ece}")
    if "loso" in r:
        for k in ("end", "mid"):
            lo = r["loso"][k]
            print(f"leave-one-season-out, {k}: mean accuracy {lo['mean_accuracy']:.4f}, mean macro-F1 "
                  f"{lo['mean_macro_f1']:.4f}, worst {lo['worst_season']} {lo['worst_accuracy']:.4f}")
    print("per-class recall / F1 (current season, end):")
    end = r["current"]["end"]
    for c in sorted(end["f1"]):
        print(f"  {c:<14} {end['recall'].get(c, float('nan')):.3f} / {end['f1'][c]:.3f}")
    print(f"evaluation wall time {secs:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
