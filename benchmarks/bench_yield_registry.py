"""Benchmark: yield model fit/predict, registry logging and resolution, calibration (synthetic data).

Run: ``nice .venv/bin/python benchmarks/bench_yield_registry.py [--fields 2000 --seasons 10]``
Prints a table; figures are from SYNTHETIC data made in code, on a temporary MLflow store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd


def synth(n_fields: int, seasons: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = {"maize": 10.0, "soybean": 3.5}
    crops = rng.choice(["maize", "soybean"], n_fields)
    rows = []
    for s in range(2010, 2010 + seasons):
        shock = rng.normal(0, 0.03)
        ndvi, rain = rng.uniform(0.5, 0.9, n_fields), rng.normal(0, 1, n_fields)
        mult = np.array([base[c] for c in crops])
        true = mult * (0.4 + 0.75 * ndvi + 0.05 * rain + shock + rng.normal(0, 0.06, n_fields))
        rows.append(pd.DataFrame({"field_id": [f"f{i}" for i in range(n_fields)], "season": str(s),
                                  "region": "us-nebraska", "crop": crops, "ndvi_max": ndvi, "feat_rain": rain,
                                  **{f"feat_noise{j}": rng.normal(0, 1, n_fields) for j in range(20)},
                                  "yield_t_ha": true, "reported": true * (1 + rng.normal(0, 0.04, n_fields))}))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fields", type=int, default=2000)
    ap.add_argument("--seasons", type=int, default=10)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="agcredit-bench-")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlruns/mlflow.db"
    from models import registry
    from models.governance import Governance
    from models.yield_value import YieldModel

    df = synth(a.fields, a.seasons)
    last = df["season"].max()
    tr, te = df[df["season"] != last], df[df["season"] == last]
    X, Xt = tr.drop(columns=["yield_t_ha", "reported"]), te.drop(columns=["yield_t_ha", "reported"])
    rows: list[tuple[str, str]] = []
    t = time.perf_counter()
    m = YieldModel().fit(X, tr["reported"])
    rows.append((f"fit incl. cross-conformal ({len(X)} rows, {len(m.feature_names_)} features)",
                 f"{time.perf_counter() - t:.2f} s"))
    t = time.perf_counter()
    q = m.predict_quantiles(Xt)
    rows.append((f"predict_quantiles ({len(Xt)} rows)", f"{time.perf_counter() - t:.3f} s"))
    t = time.perf_counter()
    m.explain(Xt.head(10))
    rows.append(("explain (10 rows, pred_contrib)", f"{time.perf_counter() - t:.3f} s"))
    y = te["yield_t_ha"].to_numpy()
    rows.append(("held-out share of true yields below P10", f"{100 * (y < q['yield_p10_t_ha']).mean():.1f} %"))
    rows.append(("held-out share of true yields above P90", f"{100 * (y > q['yield_p90_t_ha']).mean():.1f} %"))
    mt = YieldModel().fit(X, tr["reported"], calibration_target=tr["yield_t_ha"])
    qt = mt.predict_quantiles(Xt)
    rows.append(("  same, P10/P90 calibrated on past TRUE yields: below P10 / above P90",
                 f"{100 * (y < qt['yield_p10_t_ha']).mean():.1f} % / {100 * (y > qt['yield_p90_t_ha']).mean():.1f} %"))
    gov = Governance(crops=("maize", "soybean"), regions=("us-nebraska",), checkpoints=("end",), metrics={"r2": 0.5})
    registry.register(m, "yield-value", metrics={"r2": 0.5}, governance=gov)  # first: creates the store
    times = []
    for _ in range(5):
        t = time.perf_counter()
        registry.register(m, "yield-value", metrics={"r2": 0.5}, governance=gov, params={"n": 1},
                          input_example=Xt.head(5), output_example=q.head(5))
        times.append(time.perf_counter() - t)
    rows.append(("register (log pyfunc + version + alias), median of 5", f"{np.median(times):.3f} s"))
    registry.promote("yield-value", "2", reason="bench")
    t = time.perf_counter()
    r = registry.resolve("yield-value")
    rows.append((f"resolve champion (download + load v{r.version})", f"{time.perf_counter() - t:.3f} s"))
    same = r.model.predict_quantiles(Xt).equals(q)
    rows.append(("resolved model predicts identically", str(same)))
    w = max(len(k) for k, _ in rows)
    print(f"yield model and registry benchmark (SYNTHETIC data, {a.fields} fields x {a.seasons} seasons)")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
