"""Reproducibility check: a few farmers' fields featurized alone vs the whole season's run.

A decision re-run with fewer fields (a model-risk reviewer re-running one farmer; an analyst underwriting one
application) sees the season-level judgements made on the run's fields differently: the smoother's scene haze dates
(pipelines.featurize.haze_screen). This script featurizes a county folder's current season as of a date once over
all its fields, then the fields of the first N farmers alone — judged on their own fields, and with the whole
run's haze dates pinned (``--hazy-dates`` on the CLI) — and prints which columns of their rows differ from the
whole run's and by how much. No crop model (the crop model's season scale has its own pin, --crop-season-scale).

    AGCREDIT_TOKEN_KEY=... nice .venv/bin/python benchmarks/check_alone.py COUNTY [--as-of D] [--farmers 10]
        [--cache C]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.county import County  # noqa: E402
from pipelines.featurize import featurize  # noqa: E402


def differences(got: pd.DataFrame, want: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, largest difference or 'differs') of every column of ``want`` whose values ``got`` does not equal."""
    out = []
    for c in want.columns:
        if c not in got.columns:
            out.append((c, "missing"))
            continue
        a, b = got[c], want[c]
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(a):
            x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
            if not np.array_equal(x, y, equal_nan=True):
                out.append((c, f"{np.nanmax(np.abs(x - y)):.4g}"))
        elif not a.astype(str).equals(b.astype(str)):
            out.append((c, f"{int((a.astype(str) != b.astype(str)).sum())} rows"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("county")
    ap.add_argument("--as-of", default=None, help="date (default: the county's mid-season checkpoint)")
    ap.add_argument("--farmers", type=int, default=10)
    ap.add_argument("--cache", default=None)
    args = ap.parse_args()
    c = County(args.county, cache_dir=args.cache)
    season = c.current_season
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else c.checkpoints(season)["mid"]
    fields = c.fields(season)
    whole = featurize(fields, c.imagery, season, as_of, crop_model=None, cache_dir=c.cache_dir)
    farmers = sorted(fields["farmer_token"].astype(str).unique())[:args.farmers]
    few = fields[fields["farmer_token"].astype(str).isin(farmers)].reset_index(drop=True)
    want = whole.features[whole.features["field_id"].astype(str).isin(set(few["field_id"].astype(str)))]
    want = want.sort_values("field_id").reset_index(drop=True)
    print(f"{Path(args.county).name} season {season} as of {as_of}: whole run {len(fields)} fields, haze dates "
          f"{', '.join(whole.hazy_dates) or 'none'}; {len(few)} fields of {len(farmers)} farmers alone:")
    pins = [dt.date.fromisoformat(d) for d in whole.hazy_dates]
    for name, haze in (("judged on their fields", None), ("haze dates pinned", pins)):
        got = featurize(few, c.imagery, season, as_of, crop_model=None, cache_dir=c.cache_dir, haze_dates=haze)
        f = got.features.sort_values("field_id").reset_index(drop=True)
        diff = differences(f, want)
        print(f"  {name:<24} haze dates {', '.join(got.hazy_dates) or 'none'}; {len(diff)} of {len(want.columns)} "
              f"columns differ" + (": " + ", ".join(f"{k} {v}" for k, v in diff) if diff else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
