"""Can the farm records alone value a field before emergence? A held-out check of candidate pre-season rules
(CREDIT_POLICY.md step 2: "use the farmer's reported history for the field, or the regional expectation") on a
county's records — every past season scored from the seasons before it only, against the yields the farmers then
reported (the bank's own records, not truth). None of these rules is in the product: with the shipped models every
pre-season field is OUT_OF_MODEL_SCOPE (the yield model is validated from mid-season on), and this script is why
that stays so (README, "Pre-season decisions").

    nice .venv/bin/python benchmarks/bench_preseason.py COUNTY_OR_HISTORY_CSV ... [--min-seasons 1,3] [--json]

Candidates, per crop: P50 = the regional median of the crop's reported yields over its latest five seasons (with at
least ``--min-seasons`` of them; fewer: no forecast), P10 = P50 × the 10th percentile of reported yield / that
median *as it stood before each earlier season* (the rule's own out-of-sample error, pooled over the earlier
field-seasons; at least 30 of them, else the crop is out of the rule's scope). Beside it, in the same run: the naive
P10 = 0.78 × P50 (CREDIT_POLICY.md's sanity check of the defaults) and the P50 the product's pre-season rule takes
from a history (the field's own mean of its latest five earlier seasons of the crop,
features/_yield_history.py; the regional median where it has none). Target of a P10: 10% ± 5 points of reported
yields below it (the policy's recalibration band). Synthetic counties give synthetic figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

#: CREDIT_POLICY.md's sanity check of the defaults: "P10 yield ≈ 0.78 × P50" — the naive P10
NAIVE_P10_RATIO = 0.78
MAX_SEASONS = 5
MIN_RATIOS = 30


def _yields(history: pd.DataFrame) -> pd.DataFrame:
    h = history.loc[history["reported_yield_t_ha"].notna() & history["declared_crop"].notna()].copy()
    h["season"] = h["season"].astype(str)
    h["field_id"] = h["field_id"].astype(str)
    return h.groupby(["field_id", "declared_crop", "season"], as_index=False)["reported_yield_t_ha"].mean()


def regional_medians(h: pd.DataFrame, min_seasons: int) -> pd.DataFrame:
    """Per crop and season of ``h`` (and the season after its latest, ``season`` None): the crop's median reported
    yield over its latest :data:`MAX_SEASONS` seasons before that season (NaN with fewer than ``min_seasons``)."""
    rows = []
    for crop, g in h.groupby("declared_crop", sort=True):
        seasons = sorted(g["season"].unique())
        by = {s: g.loc[g["season"] == s, "reported_yield_t_ha"].to_numpy() for s in seasons}
        for i, s in enumerate([*seasons, None]):
            earlier = seasons[max(0, i - MAX_SEASONS):i]
            ok = len(earlier) >= max(1, min_seasons)
            rows.append((crop, s, float(np.median(np.concatenate([by[e] for e in earlier]))) if ok else np.nan))
    return pd.DataFrame(rows, columns=["declared_crop", "season", "regional"])


def rule_as_of(history: pd.DataFrame, season: str, min_seasons: int) -> pd.DataFrame:
    """Per crop, from the seasons before ``season`` only: the regional median, the P10 ratio and its sample count."""
    h = _yields(history)
    h = h[h["season"] < season]
    if h.empty:
        return pd.DataFrame(columns=["declared_crop", "regional", "p10_ratio", "n"])
    reg = regional_medians(h, min_seasons)
    h = h.merge(reg, on=["declared_crop", "season"], how="left")
    h["ratio"] = (h["reported_yield_t_ha"] / h["regional"]).where(h["regional"] > 0)
    out = h.groupby("declared_crop", sort=True)["ratio"].agg(
        p10_ratio=lambda r: float(np.quantile(r.dropna(), 0.10)) if r.notna().any() else np.nan,
        n="count").reset_index()
    latest = reg[reg["season"].isna()].set_index("declared_crop")["regional"]
    out["regional"] = out["declared_crop"].map(latest)
    return out


def score_season(history: pd.DataFrame, season: str, min_seasons: int) -> pd.DataFrame:
    """Every field-season of ``season`` with a reported yield whose crop is in the rule's scope as of it."""
    from features._yield_history import add_history_yields

    now = _yields(history)
    now = now[now["season"] == season]
    rule = rule_as_of(history, season, min_seasons).set_index("declared_crop")
    own = add_history_yields(now[["field_id", "declared_crop"]], history, season)["history_yield_t_ha"].to_numpy()
    crop = now["declared_crop"]
    p50 = crop.map(rule["regional"]).astype(float).to_numpy() if len(rule) else np.full(len(now), np.nan)
    ratio = crop.map(rule["p10_ratio"]).astype(float).to_numpy() if len(rule) else np.full(len(now), np.nan)
    n = crop.map(rule["n"]).fillna(0).to_numpy() if len(rule) else np.zeros(len(now))
    out = pd.DataFrame({"crop": crop.to_numpy(), "own": ~np.isnan(own), "p50": p50, "p10": p50 * ratio,
                        "field_mean": np.where(np.isnan(own), p50, own),
                        "reported": now["reported_yield_t_ha"].to_numpy()})
    return out[(n >= MIN_RATIOS) & ~np.isnan(p50) & ~np.isnan(ratio)]


def _summary(g: pd.DataFrame) -> dict[str, float]:
    mean = float(g["reported"].mean())
    return {"n": int(len(g)), "own_history": float(g["own"].mean()),
            "below_p10": float((g["reported"] < g["p10"]).mean()),
            "naive_below_p10": float((g["reported"] < NAIVE_P10_RATIO * g["p50"]).mean()),
            "p50_mae_pct": 100 * float((g["p50"] - g["reported"]).abs().mean()) / mean,
            "field_mean_p50_mae_pct": 100 * float((g["field_mean"] - g["reported"]).abs().mean()) / mean}


def bench(path: Path, min_seasons: int) -> dict[str, object]:
    from features._yield_history import read_yield_history

    history = read_yield_history(path / "records" / "history.csv" if path.is_dir() else path)
    scored = [score_season(history, s, min_seasons).assign(season=s)
              for s in sorted(history["season"].astype(str).unique())]
    rows = pd.concat([s for s in scored if len(s)], ignore_index=True) if any(len(s) for s in scored) else None
    if rows is None:
        return {"county": str(path), "min_seasons": min_seasons, "seasons": [], "pooled": {}, "by_crop": {},
                "by_season": {}}
    return {"county": str(path), "min_seasons": min_seasons, "seasons": sorted(rows["season"].unique().tolist()),
            "pooled": _summary(rows), "by_crop": {c: _summary(g) for c, g in rows.groupby("crop", sort=True)},
            "by_season": {s: _summary(g) for s, g in rows.groupby("season", sort=True)}}


def _row(name: str, m: dict[str, float]) -> str:
    return (f"| {name} | {m['n']} | {100 * m['own_history']:.0f}% | {100 * m['below_p10']:.1f}% | "
            f"{100 * m['naive_below_p10']:.1f}% | {m['p50_mae_pct']:.1f}% | {m['field_mean_p50_mae_pct']:.1f}% |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("counties", nargs="+", type=Path, help="county folders (records/history.csv) or history CSVs")
    ap.add_argument("--min-seasons", default="1,3", help="seasons a regional median needs, one run each")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results = [bench(p, int(m)) for p in a.counties for m in a.min_seasons.split(",")]
    if a.json:
        print(json.dumps(results, indent=1, sort_keys=True))
        return
    print("synthetic counties give synthetic figures; P10 before the policy's pre-season haircut")
    print("| county, min seasons / crop / season | field-seasons | own history | below P10 [10% ± 5] | "
          "naive 0.78 × P50: below | P50 MAE (regional median) | field's own mean: MAE |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        head = f"{r['county']}, ≥ {r['min_seasons']} season(s)"
        if not r["seasons"]:
            print(f"| {head} | 0 | – | – | – | – | – |")
            continue
        print(_row(f"{head} (scored {', '.join(r['seasons'])})", r["pooled"]))  # type: ignore[arg-type]
        for c, m in r["by_crop"].items():  # type: ignore[attr-defined]
            print(_row(f"  {c}", m))
        for s, m in r["by_season"].items():  # type: ignore[attr-defined]
            print(_row(f"  {s}", m))


if __name__ == "__main__":
    main()
