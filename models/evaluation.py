"""Honest evaluation of the yield model: leave-one-season-out, metrics within crop, baselines.

``evaluate_yield`` takes DataFrames only (the county wiring reads files): for each checkpoint
(e.g. ``end`` of season and ``mid``-season) and each held-out season, the model is trained on
the *reported* yields of the other seasons and scored against the *true* yields of the held-out
one: R² and RMSE within each crop (and pooled, which mostly measures that maize out-yields
soybean), and the share of true yields below P10 and above P90. Beside it stand two baselines
— the crop's mean reported yield in the training seasons, and the farmer's own reported average
(falling back to the crop mean) — and, when ``oracle`` columns are given, an oracle: the same
model with extra truth columns (e.g. the true daily canopy). Figures from synthetic data are
labelled so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models._yield_features import date_sources
from models.errors import ModelError
from models.governance import Governance, Requirement
from models.yield_value import YieldModel, YieldModelConfig, crop_of

__all__ = ["YieldEvaluation", "YieldRelease", "build_yield_release", "evaluate_yield", "summarize_yield", "yield_metrics", "governance_metrics", "default_minimum_metrics",
           "diagnostic_plots", "weighted_yield_metrics"]

_KEY = ["field_id", "season"]
METHODS = ("model", "oracle", "floor", "crop_mean", "farmer_mean")


def yield_metrics(y: np.ndarray, p50: np.ndarray, p10: np.ndarray | None = None,
                  p90: np.ndarray | None = None) -> dict[str, float]:
    """n, R², RMSE (t/ha and % of mean), shares below P10 / above P90 (NaN without quantiles)."""
    y, p50 = np.asarray(y, dtype="float64"), np.asarray(p50, dtype="float64")
    n = len(y)
    if n == 0:
        return {"n": 0.0, "r2": np.nan, "rmse": np.nan, "rmse_pct": np.nan, "mean_yield": np.nan,
                "below_p10": np.nan, "above_p90": np.nan}
    sse = float(((y - p50) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    rmse = float(np.sqrt(sse / n))
    return {"n": float(n), "r2": 1.0 - sse / sst if sst > 0 else np.nan, "rmse": rmse,
            "rmse_pct": 100.0 * rmse / float(y.mean()) if y.mean() > 0 else np.nan, "mean_yield": float(y.mean()),
            "below_p10": float((y < p10).mean()) if p10 is not None else np.nan,
            "above_p90": float((y > p90).mean()) if p90 is not None else np.nan}


def weighted_yield_metrics(y: np.ndarray, p50: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """n, R², RMSE (t/ha and % of mean) and mean yield of :func:`yield_metrics`, once per row of ``w`` (how often each
    of the rows of ``y``/``p50`` is taken): exactly what :func:`yield_metrics` gives on the rows repeated that often.

    A bootstrap resample is such a row of counts, and scoring it by weighted sums (Σw·y / Σw for the mean, Σw·(y−ŷ)²,
    Σw·(y−ȳ)² with that weighted mean) avoids building the repeated rows thousands of times. The sums run in the same
    pairwise order and the mean is taken before the squares as :func:`yield_metrics` takes it, so a row of ones gives
    its figures bit for bit. The tiny groups are handled as there: a row drawing nothing is NaN throughout (as no
    rows are), the R² NaN where the drawn yields' sum of squares about their mean is not above 0, the RMSE% NaN where
    that mean is not above 0. Rows of ``w`` are taken in chunks so that the temporaries stay near 2 million values.
    """
    y, p50 = np.asarray(y, dtype="float64"), np.asarray(p50, dtype="float64")
    w = np.atleast_2d(np.asarray(w))
    reps = len(w)
    e2 = (y - p50) ** 2
    out = {k: np.full(reps, np.nan) for k in ("n", "r2", "rmse", "rmse_pct", "mean_yield")}
    step = max(1, 2_000_000 // max(len(y), 1))
    for lo in range(0, reps, step):
        wf = w[lo:lo + step].astype("float64")
        n = wf.sum(axis=1)
        ok = n > 0
        out["n"][lo:lo + len(wf)] = n
        wf, n = wf[ok], n[ok]
        mean = (wf * y).sum(axis=1) / n
        sse = (wf * e2).sum(axis=1)
        sst = (wf * (y - mean[:, None]) ** 2).sum(axis=1)
        rmse = np.sqrt(sse / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
            pct = np.where(mean > 0, 100.0 * rmse / mean, np.nan)
        at = np.flatnonzero(ok) + lo
        out["r2"][at], out["rmse"][at], out["rmse_pct"][at], out["mean_yield"][at] = r2, rmse, pct, mean
    return out


@dataclass(frozen=True)
class YieldEvaluation:
    """Per held-out season metrics and their summary (mean over seasons) per checkpoint, method and crop.

    ``predictions`` (None where the evaluation was built from score rows alone): every scored field of every
    held-out season, checkpoint and method — ``checkpoint, season, method, crop, field_id, true_yield_t_ha, p50`` —
    the rows each ``per_season`` figure was computed on, kept so that a figure can be recomputed on resampled
    fields (the targets' intervals, :func:`pipelines.evaluation.yield_.yield_targets`). It is not part of
    :meth:`to_dict`, whose output stays the figures.
    """

    per_season: pd.DataFrame
    summary: pd.DataFrame
    data: str = "synthetic"
    predictions: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        def rec(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                    for r in df.to_dict("records")]
        return {"data": self.data, "summary": rec(self.summary), "per_season": rec(self.per_season)}

    def table(self) -> str:
        """The summary as a fixed-width text table, labelled with the data kind."""
        cols = ["checkpoint", "crop", "method", "n_seasons", "r2", "rmse", "rmse_pct", "below_p10", "above_p90",
                "below_p10_min", "below_p10_max", "above_p90_min", "above_p90_max"]
        s = self.summary[cols].copy()
        for c in ("below_p10", "above_p90", "below_p10_min", "below_p10_max", "above_p90_min", "above_p90_max"):
            s[c] = 100 * s[c]
        head = f"yield evaluation, leave-one-season-out ({self.data} data; shares in %, R² within crop)"
        return head + "\n" + s.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="—")

    def season_table(self, checkpoint: str = "end", methods: Sequence[str] = ("model", "oracle")) -> str:
        """Share of true yields below P10 / above P90 in each held-out season (%), per crop and pooled."""
        p = self.per_season[(self.per_season["checkpoint"] == checkpoint) & self.per_season["method"].isin(methods)]
        if p.empty:
            return f"no per-season coverage at checkpoint {checkpoint}"
        lines = [f"share below P10 / above P90 per held-out season, {checkpoint} of season (%; {self.data} data)"]
        seasons = sorted(p["season"].unique().tolist())
        lines.append(f"{'crop':<13} {'method':<7} " + " ".join(f"{s:>11}" for s in seasons))
        crops = ["all", *sorted(c for c in p["crop"].unique().tolist() if c != "all")]
        for crop in crops:
            for m in methods:
                r = p[(p["crop"] == crop) & (p["method"] == m)].set_index("season")
                if r.empty:
                    continue
                cells = [f"{100 * r.at[s, 'below_p10']:4.1f} / {100 * r.at[s, 'above_p90']:4.1f}" if s in r.index
                         else f"{'—':>11}" for s in seasons]
                lines.append(f"{crop:<13} {m:<7} " + " ".join(f"{c:>11}" for c in cells))
        return "\n".join(lines)


def _merge_targets(features: pd.DataFrame, reported: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    f = features.copy()
    f["season"] = f["season"].astype("str")
    rep = reported[[*_KEY, "reported_yield_t_ha"]].assign(season=lambda d: d["season"].astype("str"))
    tru = truth[[*_KEY, "yield_t_ha"]].rename(columns={"yield_t_ha": "true_yield_t_ha"})
    tru = tru.assign(season=tru["season"].astype("str"))
    out = f.merge(rep, on=_KEY, how="left", validate="one_to_one").merge(tru, on=_KEY, how="left",
                                                                       validate="one_to_one")
    out["crop"] = crop_of(out).to_numpy()
    return out


def _baselines(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    tr = train.dropna(subset=["reported_yield_t_ha"])
    crop_mean = tr.groupby("crop")["reported_yield_t_ha"].mean()
    overall = float(tr["reported_yield_t_ha"].mean())
    cm = test["crop"].map(crop_mean).fillna(overall).to_numpy(dtype="float64")
    if "farmer_token" in tr.columns:
        fm_tab = tr.groupby(["farmer_token", "crop"])["reported_yield_t_ha"].mean()
        idx = pd.MultiIndex.from_arrays([test["farmer_token"].astype("str"), test["crop"]])
        fm = fm_tab.reindex(idx).to_numpy(dtype="float64")
        fm = np.where(np.isfinite(fm), fm, cm)
    else:
        fm = cm
    return {"crop_mean": cm, "farmer_mean": fm}


#: the columns of :attr:`YieldEvaluation.predictions`
PREDICTION_COLUMNS = ["checkpoint", "season", "method", "crop", "field_id", "true_yield_t_ha", "p50"]


def _score(rows: list[dict[str, Any]], checkpoint: str, season: str, method: str, test: pd.DataFrame,
           p50: np.ndarray, p10: np.ndarray | None, p90: np.ndarray | None,
           kept: list[pd.DataFrame] | None = None) -> None:
    """Append the score rows of one method on one held-out season and checkpoint (pooled, then per crop) to
    ``rows``, and the scored fields themselves (:data:`PREDICTION_COLUMNS`) to ``kept`` when given."""
    y = test["true_yield_t_ha"].to_numpy(dtype="float64")
    ok = np.isfinite(y) & np.isfinite(p50)
    crops = test["crop"].to_numpy(dtype=object)
    if kept is not None:
        kept.append(pd.DataFrame({"checkpoint": checkpoint, "season": season, "method": method, "crop": crops[ok],
                                  "field_id": test["field_id"].astype("str").to_numpy()[ok], "true_yield_t_ha": y[ok],
                                  "p50": np.asarray(p50, dtype="float64")[ok]}, columns=PREDICTION_COLUMNS))
    for crop in ["all", *sorted(set(crops[ok].tolist()))]:
        m = ok if crop == "all" else ok & (crops == crop)
        met = yield_metrics(y[m], p50[m], None if p10 is None else p10[m], None if p90 is None else p90[m])
        rows.append({"checkpoint": checkpoint, "season": season, "method": method, "crop": crop, **met})


def evaluate_yield(features_by_checkpoint: Mapping[str, pd.DataFrame], reported: pd.DataFrame, truth: pd.DataFrame,
                   *, config: YieldModelConfig | None = None,
                   oracle: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
                   seasons: Sequence[str] | None = None, data: str = "synthetic",
                   calibrate_on_truth: bool = False,
                   progress: Callable[[int, int, str], None] | None = None,
                   keep_models: dict[str, YieldModel] | None = None,
                   references: Mapping[str, pd.DataFrame] | None = None) -> YieldEvaluation:
    """Leave-one-season-out evaluation, scored at each checkpoint.

    ``features_by_checkpoint`` maps a checkpoint name (``end``, ``mid``) to FieldFeatures rows of
    every season as of that checkpoint; ``reported`` has ``field_id, season, reported_yield_t_ha``
    (gaps as NaN); ``truth`` has ``field_id, season, yield_t_ha``; ``oracle`` (optional) has
    ``field_id, season`` and extra numeric truth columns given to the oracle model only — one table
    for every checkpoint, or a mapping checkpoint → table (e.g. truth known up to that checkpoint).
    ``seasons`` limits the held-out seasons (default: all). For each held-out season ONE model is
    trained on the rows of every checkpoint of the other seasons (as the registered model is),
    then scored on each checkpoint's rows of the held-out season. ``calibrate_on_truth`` calibrates
    P10/P90 on the training seasons' true yields (a bank with crop cuts for past seasons), not the
    reported ones. ``progress(done, total, what)`` is called after each held-out season;
    ``keep_models`` (a dict) receives the model fitted without each held-out season.
    ``references`` (optional): method name → ``field_id, season, p50`` point predictions made
    elsewhere (e.g. an unattainable floor from truth), scored like the baselines.
    """
    frames = {cp: _merge_targets(f, reported, truth) for cp, f in features_by_checkpoint.items()}
    if not frames:
        raise ModelError("evaluate_yield: no checkpoints given")
    stacked = pd.concat(list(frames.values()), ignore_index=True)
    ostacked, oframes = stacked, frames
    if oracle is not None:
        per_cp = oracle if isinstance(oracle, Mapping) else {cp: oracle for cp in frames}
        missing = [cp for cp in frames if cp not in per_cp]
        if missing:
            raise ModelError(f"evaluate_yield: no oracle table for checkpoint(s) {', '.join(missing)}")
        oframes = {cp: df.merge(per_cp[cp].assign(season=per_cp[cp]["season"].astype("str")), on=_KEY, how="left",
                                validate="one_to_one") for cp, df in frames.items()}
        ostacked = pd.concat(list(oframes.values()), ignore_index=True)
    all_seasons = sorted(stacked["season"].unique().tolist())
    if len(all_seasons) < 3:
        raise ModelError(f"evaluate_yield: need at least 3 seasons for leave-one-season-out, found {all_seasons}")
    held = [s for s in all_seasons if seasons is None or s in {str(x) for x in seasons}]
    drop = ["reported_yield_t_ha", "true_yield_t_ha"]
    rows: list[dict[str, Any]] = []
    kept: list[pd.DataFrame] = []
    for k, s in enumerate(held):
        train = stacked.loc[stacked["season"] != s].reset_index(drop=True)
        cal = train["true_yield_t_ha"] if calibrate_on_truth else None
        model = YieldModel(config).fit(train.drop(columns=drop), train["reported_yield_t_ha"], calibration_target=cal)
        if keep_models is not None:
            keep_models[s] = model
        omodel = None
        if oracle is not None:
            otrain = ostacked.loc[ostacked["season"] != s].reset_index(drop=True)
            omodel = YieldModel(config).fit(otrain.drop(columns=drop), otrain["reported_yield_t_ha"],
                                            calibration_target=cal)
        once = train.drop_duplicates(subset=_KEY)
        for cp, df in frames.items():
            test = df.loc[df["season"] == s].reset_index(drop=True)
            if test.empty:
                continue
            q = model.predict_quantiles(test.drop(columns=drop)).to_numpy()
            _score(rows, cp, s, "model", test, q[:, 1], q[:, 0], q[:, 2], kept)
            if omodel is not None:
                otest = oframes[cp].loc[oframes[cp]["season"] == s].reset_index(drop=True)
                oq = omodel.predict_quantiles(otest.drop(columns=drop)).to_numpy()
                _score(rows, cp, s, "oracle", test, oq[:, 1], oq[:, 0], oq[:, 2], kept)
            for name, pred in _baselines(once, test).items():
                _score(rows, cp, s, name, test, pred, None, None, kept)
            for name, ref in (references or {}).items():
                r = ref.astype({"field_id": "str", "season": "str"}).drop_duplicates(_KEY).set_index(_KEY)["p50"]
                idx = pd.MultiIndex.from_arrays([test["field_id"].astype("str"), test["season"].astype("str")])
                _score(rows, cp, s, name, test, r.reindex(idx).to_numpy(dtype="float64"), None, None, kept)
        if progress is not None:
            progress(k + 1, len(held), f"season {s} held out")
    predictions = (pd.concat(kept, ignore_index=True) if kept
                   else pd.DataFrame(columns=PREDICTION_COLUMNS))
    return summarize_yield(pd.DataFrame(rows), data=data, predictions=predictions)


def summarize_yield(per: pd.DataFrame, *, data: str = "synthetic",
                    predictions: pd.DataFrame | None = None) -> YieldEvaluation:
    """A :class:`YieldEvaluation` from per-season score rows (``YieldEvaluation.per_season``; e.g. the rows of
    several :func:`evaluate_yield` calls, each holding out other seasons, concatenated), carrying the scored fields
    those rows were computed on (:attr:`YieldEvaluation.predictions`, concatenated likewise) when given."""
    g = per.groupby(["checkpoint", "crop", "method"], sort=False)
    summary = g.agg(n_seasons=("season", "nunique"), n=("n", "sum"), r2=("r2", "mean"), rmse=("rmse", "mean"),
                    rmse_pct=("rmse_pct", "mean"), below_p10=("below_p10", "mean"), above_p90=("above_p90", "mean"),
                    below_p10_min=("below_p10", "min"), below_p10_max=("below_p10", "max"),
                    above_p90_min=("above_p90", "min"), above_p90_max=("above_p90", "max")).reset_index()
    order = {m: i for i, m in enumerate(METHODS)}
    summary = summary.sort_values(["checkpoint", "crop", "method"], key=lambda c: c.map(order) if c.name == "method"
                                  else c, kind="stable").reset_index(drop=True)
    return YieldEvaluation(per_season=per, summary=summary, data=data, predictions=predictions)


def governance_metrics(ev: YieldEvaluation, checkpoint: str = "end") -> dict[str, float]:
    """Flat metrics of the model at one checkpoint for the registry: ``r2_<crop>``, ``rmse_pct_<crop>``, coverage,
    ``skill_r2_<crop>`` (R² minus the crop-mean baseline's), and the two naive baselines' own R² and RMSE beside
    them (``naive_crop_mean_r2_<crop>``, ``naive_farmer_mean_rmse_pct_<crop>``…: the crop's mean yield; the
    farmer's own reported average)."""
    at = ev.summary[ev.summary["checkpoint"] == checkpoint]
    s = at[at["method"] == "model"]
    base = at[at["method"] == "crop_mean"].set_index("crop")["r2"]
    out: dict[str, float] = {}
    for method in ("crop_mean", "farmer_mean"):
        for r in at[at["method"] == method].to_dict("records"):
            for k in ("r2", "rmse_pct"):
                v = float(r[k])
                if np.isfinite(v):
                    out[f"naive_{method}_{k}_{r['crop']}"] = v
    for r in s.to_dict("records"):
        c = r["crop"]
        for k in ("r2", "rmse", "rmse_pct", "below_p10", "above_p90", "below_p10_min", "below_p10_max",
                  "above_p90_min", "above_p90_max"):
            v = float(r[k])
            if np.isfinite(v):
                out[f"{k}_{c}"] = v
        if c in base.index and np.isfinite(float(r["r2"])) and np.isfinite(float(base[c])):
            out[f"skill_r2_{c}"] = float(r["r2"]) - float(base[c])
    return out


def default_minimum_metrics(crops: Sequence[str], *, lead_crop: str = "maize") -> tuple[Requirement, ...]:
    """Issue 10's targets: R² ≥ 0.45 (maize) / 0.30 (others), RMSE ≤ 15% of mean, P10/P90 misses 10% ± 3 points."""
    req: list[Requirement] = []
    for c in crops:
        req.append(Requirement(f"r2_{c}", ">=", 0.45 if c == lead_crop else 0.30))
        req.append(Requirement(f"rmse_pct_{c}", "<=", 15.0))
    req += [Requirement("below_p10_min_all", ">=", 0.07), Requirement("below_p10_max_all", "<=", 0.13),
            Requirement("above_p90_min_all", ">=", 0.07), Requirement("above_p90_max_all", "<=", 0.13)]
    return tuple(req)


def diagnostic_plots(model: YieldModel, X: pd.DataFrame, y_true: Any, out_dir: str | Path) -> dict[str, Path]:
    """PNG plots for the registry: feature importance, calibration (share below each quantile), residuals."""
    from features._plots import importance_png, pyplot, save_png

    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y_true, dtype="float64")
    q = model.predict_quantiles(X).to_numpy()
    ok = np.isfinite(y)
    crops = crop_of(X).to_numpy(dtype=object)
    paths: dict[str, Path] = {}

    imp = model.feature_importance().head(20)[::-1]
    paths["feature_importance.png"] = importance_png(plt, imp, "total gain (P50 booster)", out / "feature_importance.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    nominal = [0.1, 0.5, 0.9]
    for crop in sorted(set(crops[ok].tolist())):
        m = ok & (crops == crop)
        ax.plot(nominal, [(y[m] < q[m, i]).mean() for i in range(3)], marker="o", label=f"{crop} (n={m.sum()})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("nominal quantile")
    ax.set_ylabel("share of yields below it")
    ax.set_title("Calibration")
    ax.legend(fontsize=7)
    paths["calibration.png"] = save_png(plt, fig, out / "calibration.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    for crop in sorted(set(crops[ok].tolist())):
        m = ok & (crops == crop)
        ax.scatter(q[m, 1], y[m] - q[m, 1], s=4, alpha=0.5, label=crop)
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xlabel("predicted P50 (t/ha)")
    ax.set_ylabel("yield − P50 (t/ha)")
    ax.set_title("Residuals")
    ax.legend(fontsize=7)
    paths["residuals.png"] = save_png(plt, fig, out / "residuals.png")
    return paths


@dataclass(frozen=True)
class YieldRelease:
    """Everything ``registry.register`` needs for a new yield-value version."""

    model: YieldModel
    evaluation: YieldEvaluation
    governance: Governance
    metrics: dict[str, float]
    params: dict[str, Any]
    plots: dict[str, Path]
    input_example: pd.DataFrame
    output_example: pd.DataFrame


def build_yield_release(features_by_checkpoint: Mapping[str, pd.DataFrame], reported: pd.DataFrame,
                        truth: pd.DataFrame | None = None, *, plots_dir: str | Path,
                        config: YieldModelConfig | None = None, data: str = "synthetic",
                        seasons: Sequence[str] | None = None, min_rows_in_scope: int = 30,
                        lead_crop: str = "maize", calibrate_on_truth: bool = False,
                        minimum_metrics: Callable[[Sequence[str]], tuple[Requirement, ...]] | None = None,
                        eval_features_by_checkpoint: Mapping[str, pd.DataFrame] | None = None
                        ) -> YieldRelease:
    """Evaluate (leave-one-season-out), fit on every season and checkpoint, and draw the governance record.

    Without ``truth`` (a real bank) the reported yields are the truth. With fewer than 3 seasons
    nothing is held out: the metrics are empty (so no minimum metric is met) and the plots in-sample. Metrics of the first checkpoint
    are unprefixed (``r2_maize``), others prefixed (``mid_r2_maize``). The validated scope is the
    crops with at least ``min_rows_in_scope`` scored rows, the regions seen and the checkpoints
    given; the minimum metrics are ``minimum_metrics(crops)`` (default :func:`default_minimum_metrics`). ``calibrate_on_truth``
    calibrates P10/P90 on ``truth`` of past seasons (see :meth:`YieldModel.fit`). Plots come from
    a model fitted without the latest season, drawn on that season (out of sample).
    ``eval_features_by_checkpoint`` (same checkpoints, same rows' keys): the features the evaluation and the plots
    read instead (e.g. built with a phenology calibration fitted without the held-out season, so its own records
    never shape its features); the registered model is still fitted on ``features_by_checkpoint``.
    """
    ev_feats = features_by_checkpoint if eval_features_by_checkpoint is None else eval_features_by_checkpoint
    if list(ev_feats) != list(features_by_checkpoint):
        raise ModelError(f"build_yield_release: evaluation checkpoints {list(ev_feats)} differ from the training "
                         f"checkpoints {list(features_by_checkpoint)}")
    if truth is None:
        truth = reported.rename(columns={"reported_yield_t_ha": "yield_t_ha"})
    frames = [_merge_targets(f, reported, truth) for f in features_by_checkpoint.values()]
    stacked = pd.concat(frames, ignore_index=True)
    drop = ["reported_yield_t_ha", "true_yield_t_ha"]
    X, y = stacked.drop(columns=drop), stacked["reported_yield_t_ha"]
    cal = stacked["true_yield_t_ha"] if calibrate_on_truth else None
    # the version itself fits on a thread beside the evaluation's refits (each fit's boosters on threads of their
    # own, one LightGBM thread each: the same models, features/threads.py); an evaluation error is raised once the
    # pool has waited for the fit
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="agcredit-fit") as pool:
        fitted = pool.submit(lambda: YieldModel(config).fit(X, y, calibration_target=cal))
        held_models: dict[str, YieldModel] = {}
        n_seasons = len(set().union(*(set(f["season"].astype("str")) for f in features_by_checkpoint.values())))
        if n_seasons >= 3:
            ev = evaluate_yield(ev_feats, reported, truth, config=config, seasons=seasons, data=data,
                                calibrate_on_truth=calibrate_on_truth, keep_models=held_models)
        else:  # too few seasons to hold one out: no metrics, so the version cannot meet its minimum metrics
            cols = ["checkpoint", "season", "method", "crop", "n", "r2", "rmse", "rmse_pct", "mean_yield", "below_p10",
                    "above_p90"]
            summ = ["checkpoint", "crop", "method", "n_seasons", "n", "r2", "rmse", "rmse_pct", "below_p10", "above_p90",
                    "below_p10_min", "below_p10_max", "above_p90_min", "above_p90_max"]
            ev = YieldEvaluation(per_season=pd.DataFrame(columns=cols), summary=pd.DataFrame(columns=summ), data=data)
    model = fitted.result()
    cps = list(features_by_checkpoint)
    metrics = governance_metrics(ev, cps[0])
    for cp in cps[1:]:
        metrics.update({f"{cp}_{k}": v for k, v in governance_metrics(ev, cp).items()})
    if eval_features_by_checkpoint is None:
        e_frames, e_stacked, eX, ey, ecal = frames, stacked, X, y, cal
    else:
        e_frames = [_merge_targets(f, reported, truth) for f in ev_feats.values()]
        e_stacked = pd.concat(e_frames, ignore_index=True)
        eX, ey = e_stacked.drop(columns=drop), e_stacked["reported_yield_t_ha"]
        ecal = e_stacked["true_yield_t_ha"] if calibrate_on_truth else None
    last = max(e_stacked["season"].unique().tolist())
    before = e_stacked["season"] != last
    at = (e_stacked["season"] == last).to_numpy() & (np.arange(len(e_stacked)) < len(e_frames[0]))  # first checkpoint
    if last in held_models:
        plot_model = held_models[last]
    elif int(ey.loc[before].notna().sum()) >= 10:
        plot_model = YieldModel(config).fit(eX.loc[before].reset_index(drop=True), ey.loc[before].reset_index(drop=True),
                                            calibration_target=None if ecal is None else ecal.loc[before].to_numpy())
    else:  # nothing before the latest season: the plots are in-sample
        plot_model = model
    Xl = eX.loc[at].reset_index(drop=True)
    plots = diagnostic_plots(plot_model, Xl, e_stacked.loc[at, "true_yield_t_ha"].to_numpy(), plots_dir)
    scored = ev.summary[(ev.summary["checkpoint"] == cps[0]) & (ev.summary["method"] == "model")
                        & (ev.summary["crop"] != "all")]
    crops = tuple(sorted(scored.loc[scored["n"] >= min_rows_in_scope, "crop"].tolist()))
    regions = tuple(sorted(X["region"].dropna().astype("str").unique().tolist())) if "region" in X.columns else ()
    gov = Governance(crops=crops, regions=regions, checkpoints=tuple(cps), metrics=metrics,
                     minimum_metrics=(minimum_metrics(crops) if minimum_metrics is not None
                                      else default_minimum_metrics(crops, lead_crop=lead_crop)), data=data,
                     notes=f"leave-one-season-out over {ev.per_season['season'].nunique()} season(s) (held out: "
                           f"{', '.join(sorted(ev.per_season['season'].astype(str).unique()))}; the metrics are "
                           "theirs); "
                           f"trained on reported yields of {len(model.seasons_)} seasons; reads weather: "
                           f"{', '.join(model.weather_columns) or 'no'}")
    cfg = model.config
    params: dict[str, Any] = {**dict(cfg.__dict__), "n_train": model.n_train_,
                              "n_dropped_target": model.n_dropped_target_, "seasons": ",".join(model.seasons_),
                              "features": ",".join(model.feature_names_)}
    cols = [c for c in model.input_columns if c != "as_of"] + ["crop", *(["as_of"] if "as_of" in X.columns else [])]
    example = X[cols].head(5).reset_index(drop=True)
    for c in ("as_of", *date_sources(model.date_columns_)):
        if c in example.columns:  # dates as ISO text (JSON-friendly; empty where unknown)
            example[c] = pd.to_datetime(example[c]).dt.strftime("%Y-%m-%d").fillna("")
    return YieldRelease(model=model, evaluation=ev, governance=gov, metrics=metrics, params=params, plots=plots,
                        input_example=example, output_example=model.predict_quantiles(example))
