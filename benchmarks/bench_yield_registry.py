"""Benchmark: yield model fit/predict, registry logging and resolution, calibration (synthetic data); logging a
crop-type model (four checkpoints, its plots, signature and input example) and resolving it. Alternatives in the
same run: the yield model loaded from a local folder (no registry) and through ``mlflow.pyfunc.load_model``.

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


def synth_curves(n_fields: int, seasons: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """NDVI curves of three crops peaking at different times (FieldTimeSeries rows) and their labels."""
    rng = np.random.default_rng(seed)
    peaks = {"maize": 150.0, "soybean": 185.0, "wheat": 70.0}
    crops = sorted(peaks)
    days = np.arange(0, 240, 5)
    series, labels = [], []
    for s in range(2010, 2010 + seasons):
        start = pd.Timestamp(f"{s}-04-01")
        crop = np.array(crops)[rng.integers(0, 3, n_fields)]
        peak = np.array([peaks[c] for c in crop]) + rng.normal(0, 12, n_fields)
        ndvi = 0.15 + 0.55 * np.exp(-0.5 * ((days[None, :] - peak[:, None]) / 35.0) ** 2)
        ndvi = ndvi + rng.normal(0, 0.03, ndvi.shape)
        fid = np.repeat([f"f{i}" for i in range(n_fields)], len(days))
        series.append(pd.DataFrame({"field_id": fid, "season": str(s), "date": np.tile(start + pd.to_timedelta(days, "D"),
                                                                                       n_fields),
                                    "variable": "NDVI", "mean": ndvi.ravel(), "n_pixels": 100, "n_clear": 100}))
        labels.append(pd.DataFrame({"field_id": [f"f{i}" for i in range(n_fields)], "season": str(s), "crop": crop,
                                    "season_start": start, "season_end": start + pd.Timedelta(days=239)}))
    out = pd.concat(series, ignore_index=True)
    for c in ("std", "p10", "p50", "p90"):
        out[c] = np.nan
    return out, pd.concat(labels, ignore_index=True)


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
    # the alternatives in the same run: the same model from a local folder (no registry), and MLflow's generic loader
    local = m.save(os.path.join(tmp, "local-yield-model"))
    t = time.perf_counter()
    lm = YieldModel.load(local)
    rows.append(("  alternative: load the same model from a local folder (no registry)",
                 f"{time.perf_counter() - t:.3f} s"))
    rows.append(("  local copy predicts identically", str(lm.predict_quantiles(Xt).equals(q))))
    import mlflow.pyfunc

    t = time.perf_counter()
    pf = mlflow.pyfunc.load_model("models:/yield-value@champion")
    rows.append(("  alternative: mlflow.pyfunc.load_model('models:/yield-value@champion')",
                 f"{time.perf_counter() - t:.3f} s"))
    t = time.perf_counter()
    pf.predict(Xt.assign(**{c: Xt[c].astype(str) for c in Xt.columns if str(Xt[c].dtype).startswith("datetime")}))
    rows.append((f"  pyfunc predict ({len(Xt)} rows) vs predict_quantiles above", f"{time.perf_counter() - t:.3f} s"))

    from features._crop_registry import diagnostic_plots, registry_example
    from features.crop_type import CropTypeClassifier
    from models.registry import SaveLoadFlavour

    series, labels = synth_curves(max(50, a.fields // 10), 4)
    clf = CropTypeClassifier((60, 120, 180, "end"), context=(), n_estimators=150, num_leaves=31,
                             min_class_count=1).fit(series, labels, label_column="crop")
    t = time.perf_counter()
    example, answer = registry_example(clf, series, labels)
    plots_dir = tempfile.mkdtemp(dir=tmp)
    plots = diagnostic_plots(clf, plots_dir)
    rows.append(("crop-type input example and 3 plots (made before logging)", f"{time.perf_counter() - t:.3f} s"))
    ctimes = []
    for _ in range(5):
        t = time.perf_counter()
        registry.register(clf, "crop-type", metrics={"accuracy_end": 0.9}, governance=gov, params=clf.get_params(),
                          flavour=SaveLoadFlavour.of(clf), artifacts=plots, input_example=example, output_example=answer)
        ctimes.append(time.perf_counter() - t)
    rows.append((f"register crop-type (4 checkpoints, {len(labels)} labels; plots, signature, example), median of 5",
                 f"{np.median(ctimes):.3f} s"))
    t = time.perf_counter()
    rc = registry.resolve("crop-type", "1")
    rows.append(("resolve crop-type v1 (download + load)", f"{time.perf_counter() - t:.3f} s"))
    rows.append(("resolved crop-type predicts identically",
                 str(rc.model.predict_frame(example).equals(clf.predict_frame(example)))))
    w = max(len(k) for k, _ in rows)
    print(f"yield model and registry benchmark (SYNTHETIC data, {a.fields} fields x {a.seasons} seasons)")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
