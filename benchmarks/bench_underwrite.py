"""Underwriting latency (issue 12): one application and 10,000 applications from cached features.

Everything is synthetic and made here (seeded): a FieldFeatures table of N farmers × 2 fields
(us-nebraska, season 2025, as of 2025-08-01) written once as the "cached features" Parquet, a
small LightGBM yield model registered and promoted as ``yield-value@champion`` in a temporary
MLflow store, the shipped policy and price table, and a temporary SQLite decision store.

Rows of the table (targets from issue 12):

- library, one application, warm: ``pipelines.underwrite.underwrite`` for one application with
  the champion resolved once per process (as a service holds it) — select the farmer's rows of the
  cached features, value, decide, write the features artifact, append to the store (< 100 ms);
- library, one application, cold: the same including resolving the champion from the registry;
- CLI, one application: ``agcredit underwrite ... --features F`` in a subprocess, interpreter
  start-up and imports included (< 5 s);
- library, 10,000 applications: one ``underwrite`` call over the cached features (< 60 s), and
  its parts (valuations + decisions; store append);
- the alternative: one library call per application (the warm median above) against the batch's time per
  application, and what 10,000 such calls would take (the median × 10,000; the store's own alternatives —
  SQLite against PostgreSQL, one transaction against one per record — are ``benchmarks/bench_store.py``).

Run: ``nice .venv/bin/python benchmarks/bench_underwrite.py [--n 10000] [--repeat 20]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEASON, AS_OF, REGION = "2025", date(2025, 8, 1), "us-nebraska"
CROPS = ("maize", "soybean")


def synthetic_features(rng: np.random.Generator, n_farmers: int, season: str, as_of: date,
                       per_farmer: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    n = n_farmers * per_farmer
    crop = np.array(CROPS)[rng.integers(0, len(CROPS), n)]
    ndvi = rng.uniform(0.45, 0.9, n)
    area = np.round(rng.uniform(20, 80, n), 2)
    y = int(season)
    yld = np.where(crop == "maize", 4.0 + 9.0 * (ndvi - 0.45), 1.5 + 3.0 * (ndvi - 0.45)) + rng.normal(0, 0.4, n)
    df = pd.DataFrame({
        "field_id": [f"F{season}-{i:06d}" for i in range(n)], "season": season, "as_of": pd.Timestamp(as_of),
        "farmer_token": [f"tok-{i // per_farmer:06d}" for i in range(n)], "region": REGION, "declared_crop": crop,
        "declared_area_ha": area, "field_area_ha": area + 1.0, "planted_area_ha": area, "planted_area_sd_ha": 0.5,
        "planted_fraction": area / (area + 1.0), "noncrop_fraction": 0.01, "overlap_fraction": 0.0,
        "geometry_valid": True, "geometry_hash": [f"h{i}" for i in range(n)], "crop_type": crop,
        "crop_type_prob": 0.95, "declared_crop_prob": 0.95, "growth_stage": "vegetative",
        "emergence_date": pd.Timestamp(f"{y}-05-20"), "days_since_emergence": float((as_of - date(y, 5, 20)).days),
        "peak_date": pd.Timestamp(f"{y}-07-25"), "expected_harvest_date": pd.Timestamp(f"{y}-10-10"),
        "n_clear_obs": 9, "n_clear_pixels": 4000, "ndvi_max": ndvi, "ndvi_auc": ndvi * 60 + rng.normal(0, 2, n),
    })
    for c in ("as_of", "emergence_date", "peak_date", "expected_harvest_date"):
        df[c] = df[c].astype("datetime64[ns]")
    return df, np.clip(yld, 0.2, None)


def applications(n_farmers: int, rng: np.random.Generator) -> pd.DataFrame:
    df = pd.DataFrame({
        "application_id": [f"A{i:06d}" for i in range(n_farmers)],
        "farmer_token": [f"tok-{i:06d}" for i in range(n_farmers)], "season": SEASON, "currency": "USD",
        "requested_amount": rng.integers(50, 400, n_farmers) * 100_000, "requested_term_days": 180,
        "existing_debt": 0, "debt_due_this_cycle": rng.integers(0, 20, n_farmers) * 100_000,
        "other_income": 1_000_000, "living_costs": 2_500_000, "unfinanced_costs": 500_000, "prior_liens_on_crop": 0,
    })
    for c in df.columns[4:]:
        df[c] = df[c].astype("int64")
    return df


def setup(tmp: Path, n: int) -> dict[str, object]:
    from models import registry
    from models.governance import Governance, Requirement
    from models.yield_value import YieldModel, YieldModelConfig

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "bench-token-key-0123456789")
    rng = np.random.default_rng(20261129)
    parts, ys = [], []
    for s in ("2021", "2022", "2023", "2024"):
        f, y = synthetic_features(rng, 300, s, date(int(s), 8, 1))
        parts.append(f)
        ys.append(y)
    model = YieldModel(YieldModelConfig(n_estimators=300)).fit(pd.concat(parts, ignore_index=True),
                                                                np.concatenate(ys))
    gov = Governance(crops=CROPS, regions=(REGION,), checkpoints=("pre_season", "emergence", "mid", "end"),
                     metrics={"r2": 0.9}, minimum_metrics=(Requirement("r2", ">=", 0.1),))
    version = registry.register(model, "yield-value", metrics={"r2": 0.9}, governance=gov, operator="bench")
    registry.promote("yield-value", version, operator="bench")
    from features.fields import geometry_hashes

    feats, _ = synthetic_features(rng, n, SEASON, AS_OF)
    fields = fields_of(feats)
    feats["geometry_hash"] = geometry_hashes(fields).to_numpy()
    cached = tmp / "features.parquet"
    feats.to_parquet(cached, index=False)
    return {"cached": cached, "apps": applications(n, rng), "fields": fields}


def fields_of(feats: pd.DataFrame):  # noqa: ANN201 - geopandas is imported lazily
    """The Fields of synthetic features: a 500 m square each, side by side (underwrite checks that the features'
    farmers and geometry hashes are those of the fields given)."""
    import geopandas as gpd
    from shapely import normalize
    from shapely.geometry import box

    return gpd.GeoDataFrame(
        feats[["field_id", "season", "farmer_token", "declared_crop", "declared_area_ha"]].reset_index(drop=True),
        geometry=[normalize(box(300_000 + (k % 100) * 1000, 4_500_000 + (k // 100) * 1000,
                                300_500 + (k % 100) * 1000, 4_500_500 + (k // 100) * 1000)) for k in range(len(feats))],
        crs="EPSG:32614")


def bench_library(tmp: Path, ctx: dict[str, object], repeat: int) -> list[tuple[str, float, str]]:
    from models.prices import read_prices
    from pipelines.underwrite import ChampionModels, empty_book, underwrite
    from underwriting.policy import default_policy
    from underwriting.store import DecisionStore

    apps: pd.DataFrame = ctx["apps"]  # type: ignore[assignment]
    policy, book, prices = default_policy(), empty_book(), read_prices()
    fields = ctx["fields"]
    store = DecisionStore(f"sqlite:///{tmp / 'one.db'}")
    cached = pd.read_parquet(ctx["cached"])  # the cache, read once

    def one(i: int, models: ChampionModels | None) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        app = apps.iloc[[i]]
        feats = cached[cached["farmer_token"] == app["farmer_token"].iloc[0]]
        mine = fields[fields["farmer_token"] == app["farmer_token"].iloc[0]]  # the farmer's, as a service reads them
        res = underwrite(app, mine, SEASON, AS_OF, imagery=None, policy=policy, profile="us-operating", book=book,
                         store=store, features=feats, models=models, operator="bench", prices=prices)
        assert res.written == 1, res
        return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000

    cold = one(0, None)
    models = ChampionModels.resolve(crop_model="none")
    one(1, models)  # first call pays lazy imports
    warm = [one(2 + i, models) for i in range(repeat)]
    store.close()
    wall, cpu = [w for w, _ in warm], [c for _, c in warm]
    return [("library, 1 application, warm (median wall)", statistics.median(wall), "< 100 ms"),
            ("library, 1 application, warm (median CPU)", statistics.median(cpu), "CPU time of this process"),
            ("library, 1 application, warm (max wall)", max(wall), ""),
            ("library, 1 application, cold (resolve champion)", cold[0], f"CPU {cold[1]:,.0f} ms")]


def bench_cli(tmp: Path, ctx: dict[str, object], repeat: int) -> list[tuple[str, float, str]]:
    apps: pd.DataFrame = ctx["apps"]  # type: ignore[assignment]
    fields = ctx["fields"]
    cached = pd.read_parquet(ctx["cached"])
    out: list[float] = []
    cpu: list[float] = []
    for i in range(repeat):
        d = tmp / f"cli{i}"
        d.mkdir()
        app = apps.iloc[[100 + i]]
        feats = cached[cached["farmer_token"] == app["farmer_token"].iloc[0]]
        feats.to_parquet(d / "features.parquet", index=False)
        app.to_csv(d / "applications.csv", index=False)
        fields[fields["farmer_token"] == app["farmer_token"].iloc[0]].to_file(d / "fields.gpkg")
        cmd = [str(REPO / ".venv" / "bin" / "agcredit"), "underwrite", "--applications", str(d / "applications.csv"),
               "--fields", str(d / "fields.gpkg"), "--season", SEASON, "--as-of", AS_OF.isoformat(), "--features",
               str(d / "features.parquet"), "--profile", "us-operating", "--store", f"sqlite:///{d / 'd.db'}",
               "--crop-model", "none", "--no-progress"]
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), check=False)
        out.append(time.perf_counter() - t)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(usage.ru_utime + usage.ru_stime - sum(cpu))
        if res.returncode != 0:
            raise SystemExit(f"CLI failed ({res.returncode}): {res.stderr.strip()}")
    t = time.perf_counter()
    subprocess.run([str(REPO / ".venv" / "bin" / "agcredit"), "--help"], capture_output=True, check=True)
    helps = time.perf_counter() - t
    return [("CLI, 1 application incl. start-up (median wall)", statistics.median(out) * 1000, "< 5,000 ms"),
            ("CLI, 1 application incl. start-up (median CPU)", statistics.median(cpu) * 1000, "user + system"),
            ("CLI start-up only (agcredit --help)", helps * 1000, "")]


def bench_batch(tmp: Path, ctx: dict[str, object], n: int) -> list[tuple[str, float, str]]:
    from pipelines.underwrite import ChampionModels, empty_book, score_and_decide
    from underwriting.policy import default_policy
    from underwriting.store import DecisionStore

    apps: pd.DataFrame = ctx["apps"]  # type: ignore[assignment]
    policy, book, fields = default_policy(), empty_book(), ctx["fields"]
    models = ChampionModels.resolve(crop_model="none")
    url = f"sqlite:///{tmp / 'batch.db'}"
    t0, c0 = time.perf_counter(), time.process_time()
    feats = pd.read_parquet(ctx["cached"])
    run = score_and_decide(apps, fields, SEASON, AS_OF, imagery=None, policy=policy, profile="us-operating",
                           book=book, store_url=url, models=models, features=feats)
    t1 = time.perf_counter()
    with DecisionStore(url) as st:
        res = st.append(run.items, operator="bench")
    t2 = time.perf_counter()
    assert res.written == n == len(run.items)
    outcomes = pd.Series([i.outcome for i in run.items]).value_counts().to_dict()
    c2 = time.process_time()
    return [(f"library, {n:,} applications, total wall", (t2 - t0) * 1000, "< 60,000 ms"),
            (f"library, {n:,} applications, total CPU", (c2 - c0) * 1000, ""),
            ("  read cache + value + decide", (t1 - t0) * 1000, ""),
            ("  append to the SQLite store", (t2 - t1) * 1000, f"outcomes {outcomes}")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--cli-repeat", type=int, default=3)
    args = ap.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="agcredit-bench-uw-") as d:
        tmp = Path(d)
        t = time.perf_counter()
        ctx = setup(tmp, args.n)
        print(f"setup (synthetic data, train + register + promote a yield model): {time.perf_counter() - t:.1f} s")
        lib, batch = bench_library(tmp, ctx, args.repeat), bench_batch(tmp, ctx, args.n)
        rows = lib + bench_cli(tmp, ctx, args.cli_repeat) + batch
    # the alternative in the same run: the batch against one library call per application (the warm median)
    per_app_batch, per_app_single = batch[0][1] / args.n, lib[0][1]
    rows.append(("alternative: one call per application (warm median)", per_app_single,
                 f"batch {per_app_batch:.2f} ms per application: {per_app_single / per_app_batch:.0f}x faster"))
    rows.append((f"  {args.n:,} applications one call each (median x {args.n:,})", per_app_single * args.n,
                 f"batch {batch[0][1]:,.0f} ms"))
    print(f"\n{'measure':<50} {'ms':>10}  target / note")
    for name, ms, note in rows:
        print(f"{name:<50} {ms:>10,.1f}  {note}")
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; synthetic inputs; "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
