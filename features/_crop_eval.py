"""Evaluation of the crop-type classifier: on a county's series and on the real CAWa data.

- :func:`evaluate_crop_type` trains on past seasons' DECLARED crops and tests on TRUE crops:
  the current season (end of season and mid-season), leave-one-season-out (mean and worst),
  and a spatially held-out block of fields (whole ``condition_id`` groups of the current season, those
  fields left out of training in every season); beside the baseline "the declared crop is the answer".
  Every scored test carries a ``calibration`` report (:func:`features._crop_reliability.calibration_report`:
  reliability table, bootstrap intervals over fields and over conditions, calibrated-simulation ECE) and, where
  crops are declared, ``declared`` (:func:`features._crop_reliability.declared_reliability`: the declared crop's
  posterior, what the policy's CROP_MISMATCH check reads, against truth).
  Every scored test also keeps its fields' true and predicted crops under :data:`PER_FIELD` (a private key for the
  intervals :mod:`pipelines.evaluation.crop_type` draws over fields and then removes), and
  :func:`weighted_classification_metrics` scores a resample of them as :func:`classification_metrics` scores the
  repeated rows.
- :func:`load_cawa` turns the CAWa crop-type dataset (23 NDVI values per polygon) into the
  FieldTimeSeries contract, and :func:`cawa_benchmark` runs leave-one-region-out CV of the
  classifier beside a plain random forest on the raw values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features._calibration import ece_interval, expected_calibration_error
from features._crop_features import FeatureCache
from features._crop_reliability import calibration_report, declared_reliability
from features._declared import declared_posterior
from features.crop_type import CropTypeClassifier
from features.errors import UserInputError, format_offenders

__all__ = ["MID_SEASON_DAYS", "PER_FIELD", "cawa_benchmark", "classification_metrics", "evaluate_crop_type",
           "load_cawa", "loso_summary", "weighted_classification_metrics"]

#: "mid-season" checkpoint per region, days after the season window's start: the season calendar's
#: mid checkpoint (pipelines/data/season_calendar.csv, lower median over the crops; us-nebraska:
#: 15 Sep + 308 = 20 July; in-smallholder: 15 May + 123 = 15 September, monsoon clouds)
MID_SEASON_DAYS = {"us-nebraska": 308, "in-smallholder": 123}

#: the private key of a scored test's metrics holding ``{"true": [...], "pred": [...], "field_id": [...], "season":
#: [...]}``, its fields' crops (and which field-seasons they are: a cluster bootstrap's groups) in order: what the
#: bootstrap intervals resample; not a figure, so the evaluation's report removes it before it is written
PER_FIELD = "_per_field"

CAWA_SERIES = "CAWa_CropType_time-series.csv"
CAWA_ATTRS = "CAWa_CropType_samples_attributes.csv"


def classification_metrics(true: Sequence[Any] | np.ndarray, pred: Sequence[Any] | np.ndarray) -> dict[str, Any]:
    """Overall accuracy, macro-F1 (over the union of true and predicted classes), per-class recall and F1."""
    t = np.asarray([str(x) for x in true], dtype=object)
    p = np.asarray([str(x) for x in pred], dtype=object)
    if len(t) == 0:
        return {"n": 0, "accuracy": float("nan"), "macro_f1": float("nan"), "recall": {}, "f1": {}}
    classes = sorted(set(t) | set(p))
    recall, f1 = {}, {}
    for c in classes:
        tp = float(np.sum((t == c) & (p == c)))
        nt, npred = float(np.sum(t == c)), float(np.sum(p == c))
        r = tp / nt if nt else 0.0
        pr = tp / npred if npred else 0.0
        if nt:
            recall[c] = r
        f1[c] = 2 * pr * r / (pr + r) if pr + r else 0.0
    return {"n": len(t), "accuracy": float(np.mean(t == p)), "macro_f1": float(np.mean(list(f1.values()))),
            "recall": recall, "f1": f1}


def weighted_classification_metrics(true: Sequence[Any] | np.ndarray, pred: Sequence[Any] | np.ndarray,
                                    w: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1, rice vs other accuracy and per-class recall and F1 once per row of ``w`` (how often each
    field is taken): what :func:`classification_metrics` (and ``_scored``'s rice vs other accuracy) gives on the
    fields repeated that often.

    A bootstrap resample is such a row of counts; scoring it from its confusion counts avoids building the repeated
    rows thousands of times. Each field's (true, predicted) pair is one of K² cells over the K classes of the whole
    set, so a row's confusion matrix is the row times the fields' one-hot cells. :func:`classification_metrics` takes
    its classes from the rows it is given, so a class a resample draws neither as truth nor as prediction is not one
    of its classes and drops out of the macro mean (a class drawn only as truth, or only as prediction, stays in with
    an F1 of 0). The per-class figures are computed in the same order of operations, so a row of ones gives the
    figures bit for bit; a row drawing nothing is NaN throughout, as an empty set is. Rows are taken in chunks so that
    the temporaries stay near 2 million values.

    ``accuracy``, ``macro_f1`` and ``rice_vs_other_accuracy`` are arrays (one value per row); ``recall`` and ``f1``
    are dicts class → array, with the classes :func:`classification_metrics` gives the whole set (``recall``: those
    drawn as truth; ``f1``: those drawn as truth or as prediction). A row's value is NaN where the repeated rows have
    no such figure: recall where the row draws the class nowhere as truth, F1 where it draws it neither as truth nor
    as prediction.
    """
    t = [str(x) for x in true]
    p = [str(x) for x in pred]
    w = np.atleast_2d(np.asarray(w))
    reps, n = len(w), len(t)
    classes = sorted(set(t) | set(p))
    k = len(classes)
    at = {c: i for i, c in enumerate(classes)}
    cells = np.zeros((n, k * k))
    cells[np.arange(n), [at[a] * k + at[b] for a, b in zip(t, p, strict=True)]] = 1.0
    rice = np.asarray([(a == "rice") == (b == "rice") for a, b in zip(t, p, strict=True)], dtype="float64")
    out: dict[str, Any] = {key: np.full(reps, np.nan) for key in ("accuracy", "macro_f1", "rice_vs_other_accuracy")}
    recall_k, f1_k = np.full((reps, k), np.nan), np.full((reps, k), np.nan)
    step = max(1, 2_000_000 // max(n, k * k, 1))
    for lo in range(0, reps, step):
        wf = w[lo:lo + step].astype("float64")
        conf = (wf @ cells).reshape(len(wf), k, k)
        total = wf.sum(axis=1)
        ok = total > 0
        conf, total = conf[ok], total[ok]
        tp = np.diagonal(conf, axis1=1, axis2=2)
        nt, npred = conf.sum(axis=2), conf.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(nt > 0, tp / nt, 0.0)
            pr = np.where(npred > 0, tp / npred, 0.0)
            f1 = np.where(pr + r > 0, 2 * pr * r / (pr + r), 0.0)
        drawn = (nt + npred) > 0
        rows = np.flatnonzero(ok) + lo
        out["accuracy"][rows] = tp.sum(axis=1) / total
        out["macro_f1"][rows] = np.where(drawn, f1, 0.0).sum(axis=1) / drawn.sum(axis=1)
        out["rice_vs_other_accuracy"][rows] = (wf[ok] @ rice) / total
        recall_k[rows] = np.where(nt > 0, r, np.nan)
        f1_k[rows] = np.where(drawn, f1, np.nan)
    in_truth = set(t)
    out["recall"] = {c: recall_k[:, i] for i, c in enumerate(classes) if c in in_truth}
    out["f1"] = {c: f1_k[:, i] for i, c in enumerate(classes)}
    return out


def _scored(clf: CropTypeClassifier, series: pd.DataFrame, test: pd.DataFrame, checkpoint: int | str,
            truth: str, cache: FeatureCache | None = None, season: pd.DataFrame | None = None) -> dict[str, Any]:
    """Metrics of ``clf`` on ``test`` at ``checkpoint`` against ``test[truth]``. ``season``: the whole season's rows
    the test rows are part of (a held-out block of it): the season scale is estimated on their declarations, as
    production estimates it on the season's whole fields file — on the block's own fields alone the block's
    calibration was fitted on the very declarations it was scored beside (a model-risk review's finding)."""
    scored = test if season is None else season
    if cache is not None and all(c in scored.columns for c in clf.context_):
        X = clf._fit_features(series, scored, checkpoint, cache)
    else:
        X = clf.features(series, scored, checkpoint=checkpoint)
        X = scored[["field_id", "season"]].astype({"field_id": str, "season": str}).merge(
            X, on=["field_id", "season"], how="left")
    # season calibration from the scored season's declarations (as production scores a season; no truth)
    probs = clf.predict_season_proba(X[[*clf.feature_names_in_]], scored, checkpoint=checkpoint)
    if season is not None:  # the test rows, in their order
        at = {k: i for i, k in enumerate(zip(season["field_id"].astype(str), season["season"].astype(str),
                                             strict=True))}
        probs = probs[[at[k] for k in zip(test["field_id"].astype(str), test["season"].astype(str), strict=True)]]
    pred = [clf.classes_[i] for i in probs.argmax(axis=1)]
    true = test[truth].astype(str).tolist()
    idx = {c: i for i, c in enumerate(clf.classes_)}
    m = classification_metrics(true, pred)
    codes = np.array([idx.get(x, -1) for x in true])
    m["ece"] = expected_calibration_error(probs, codes)
    if len(codes):
        groups = test["condition_id"].astype(str).to_numpy() if "condition_id" in test.columns else None
        m["calibration"] = calibration_report(probs, codes, groups)
    if "declared_given" in test.columns and len(codes):
        # declared_crop_prob, as production computes it from these probabilities, against truth
        dec = test["declared_crop"].astype(str).to_numpy()
        di = np.where(test["declared_given"].to_numpy(dtype=bool), [idx.get(x, -1) for x in dec], -2)
        m["declared"] = declared_reliability(declared_posterior(probs, di, clf.declared_transition()),
                                             dec == np.asarray(true, dtype=object))
    if "rice" in idx:
        m["rice_vs_other_accuracy"] = float(np.mean([(a == "rice") == (b == "rice") for a, b in zip(true, pred)]))
    m[PER_FIELD] = {"true": true, "pred": [str(x) for x in pred], "field_id": test["field_id"].astype(str).tolist(),
                    "season": test["season"].astype(str).tolist()}
    return m


def evaluate_crop_type(
    series: pd.DataFrame,
    labels: pd.DataFrame,
    current_season: str,
    checkpoints: Sequence[int | str] = ("end",),
    *,
    mid_checkpoint: int | None = None,
    holdout_share: float = 0.2,
    leave_one_season_out: bool = True,
    no_crop: str | None = "fallow",
    seed: int = 0,
    **params: Any,
) -> dict[str, Any]:
    """Train on past seasons' declared crops, test on the current season's TRUE crops.

    ``labels``: field_id, season, declared_crop, true_crop, condition_id, region (season windows
    come from the region). ``mid_checkpoint`` defaults to :data:`MID_SEASON_DAYS` of the region
    (120 days when the labels hold several or unknown regions). Returns ``{"current": {"end": m, "mid": m}, "baseline_declared": m,
    "spatial_block": {...}, "loso": {"per_season": ..., "mean": ..., "worst": ...}, ...}`` where
    each ``m`` holds accuracy, macro_f1, recall, f1 and ece (and its fields' true and predicted crops under
    :data:`PER_FIELD`, for the intervals). A record without a declared crop
    means "declared not planted": it is labelled ``no_crop`` for training and for the baseline
    (``None``: such records are not trained on and count as wrong in the baseline). Extra
    ``params`` go to :class:`CropTypeClassifier`.
    """
    need = [c for c in ("field_id", "season", "declared_crop", "true_crop", "condition_id", "region")
            if c not in labels.columns]
    if need:
        raise UserInputError(f"crop-type evaluation labels: missing columns {format_offenders(need)}")
    lab = labels.astype({"field_id": str, "season": str}).reset_index(drop=True)
    if no_crop is not None:
        dec = lab["declared_crop"].astype(object)
        blank = dec.isna() | (dec.astype(str).str.strip() == "")
        lab["declared_crop"] = pd.Series(np.where(blank, no_crop, dec.astype(str)), dtype="str")
        lab["declared_given"] = ~blank.to_numpy()  # production has no declared_crop_prob for these
    cur = str(current_season)
    seasons = sorted(set(lab["season"]))
    if cur not in seasons or not [s for s in seasons if s < cur]:
        raise UserInputError(f"crop-type evaluation: expected season {cur} and at least one earlier season in "
                             f"the labels, found {format_offenders(seasons)}")
    if mid_checkpoint is None:
        regions = sorted({str(r) for r in lab["region"].dropna()})
        mid_checkpoint = MID_SEASON_DAYS.get(regions[0], 120) if len(regions) == 1 else 120
    ckpts = list(dict.fromkeys([*checkpoints, mid_checkpoint, "end"]))
    points: dict[str, int | str] = {"end": "end", "mid": mid_checkpoint}

    cache = FeatureCache()  # every row's features computed once across all the fits below

    def run(train: pd.DataFrame, test: pd.DataFrame, season: pd.DataFrame | None = None) -> dict[str, Any]:
        clf = CropTypeClassifier(ckpts, seed=seed, **params).fit(series, train, label_column="declared_crop",
                                                                 feature_cache=cache)
        return {k: _scored(clf, series, test, c, "true_crop", cache, season) for k, c in points.items()}

    past, now = lab.loc[lab["season"] < cur], lab.loc[lab["season"] == cur]
    out: dict[str, Any] = {"current_season": cur, "train_seasons": sorted(set(past["season"])),
                           "mid_checkpoint_days": mid_checkpoint, "n_test": len(now)}
    out["current"] = run(past, now)
    out["baseline_declared"] = classification_metrics(now["true_crop"].astype(str),
                                                      now["declared_crop"].fillna("<none>").astype(str))
    conds = sorted({str(c) for c in lab["condition_id"]})
    rng = np.random.default_rng(seed)
    held = set(np.asarray(conds, dtype=object)[rng.permutation(len(conds))[: max(1, round(holdout_share * len(conds)))]])
    in_block = lab["condition_id"].astype(str).isin(held)
    test_block = now.loc[in_block.loc[now.index]]
    # the block's fields are unseen in every season (not only their conditions: condition ids may be
    # season-specific, and a field seen in past seasons is not spatially held out)
    seen = past.loc[~in_block.loc[past.index] & ~past["field_id"].isin(set(test_block["field_id"]))]
    # "spatial block" in the JSON for compatibility: held-out condition ids, whose fields lie scattered over the
    # county (a contiguous area would hold fields of nearly every condition, so twins could not be kept apart)
    out["spatial_block"] = {"kind": "held-out condition ids (their fields in every season); not a contiguous area",
                            "n_conditions_held_out": len(held),
                            "n_conditions_tested": int(test_block["condition_id"].nunique()),
                            "n_train": len(seen),
                            "baseline_declared": _baseline(test_block),
                            # the season scale from the whole current season's declarations, as production
                            "season_scale_from": "the whole current season's declared fields",
                            **run(seen, test_block, now)}
    if leave_one_season_out and len(seasons) >= 2:
        per: dict[str, Any] = {}
        for s in seasons:
            if s == cur and (lab["season"] != s).equals(lab["season"] < cur):
                per[s] = out["current"]  # the same training set and test set as the current-season run
            else:
                per[s] = run(lab.loc[lab["season"] != s], lab.loc[lab["season"] == s])
        loso: dict[str, Any] = {"per_season": per}
        for k in points:
            loso[k] = loso_summary({s: per[s][k] for s in seasons})
        # the baseline "the declared crop is the answer", season by season as the model is scored
        base = {s: classification_metrics(lab.loc[lab["season"] == s, "true_crop"].astype(str),
                                          lab.loc[lab["season"] == s, "declared_crop"].fillna("<none>").astype(str))
                for s in seasons}
        worst = min(seasons, key=lambda s: base[s]["accuracy"])
        loso["baseline_declared"] = {"mean_accuracy": float(np.mean([base[s]["accuracy"] for s in seasons])),
                                     "mean_macro_f1": float(np.mean([base[s]["macro_f1"] for s in seasons])),
                                     "worst_season": worst, "worst_accuracy": base[worst]["accuracy"]}
        out["loso"] = loso
    return out


def loso_summary(per_season: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst season of per-season metrics: accuracy, macro-F1, per-class F1, ECE (and rice vs other)."""
    seasons = sorted(per_season)
    acc = {s: per_season[s]["accuracy"] for s in seasons}
    worst = min(acc, key=lambda s: acc[s])
    classes = sorted({c for s in seasons for c in per_season[s]["f1"]})
    out: dict[str, Any] = {
        "mean_accuracy": float(np.mean(list(acc.values()))), "worst_season": worst, "worst_accuracy": acc[worst],
        "mean_macro_f1": float(np.mean([per_season[s]["macro_f1"] for s in seasons])),
        "mean_f1": {c: float(np.mean([per_season[s]["f1"][c] for s in seasons if c in per_season[s]["f1"]]))
                    for c in classes},
        "mean_ece": float(np.mean([per_season[s]["ece"] for s in seasons]))}
    if all("rice_vs_other_accuracy" in per_season[s] for s in seasons):
        out["mean_rice_vs_other_accuracy"] = float(np.mean([per_season[s]["rice_vs_other_accuracy"]
                                                            for s in seasons]))
    return out


def _read_cawa_csv(path: Path) -> pd.DataFrame:
    """One CAWa CSV; :class:`UserInputError` naming the file when it is missing, unreadable or cut short (a last row
    with fewer values than the header: pandas would pad it with NaN)."""
    if not path.is_file():
        raise UserInputError(f"CAWa data: {path} not found")
    try:
        table = pd.read_csv(path)
        with path.open("rb") as f:
            header = f.readline()
            f.seek(max(0, path.stat().st_size - 65536))
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise UserInputError(f"CAWa data: {path} unreadable ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:200]})") from e
    if lines and len(table):
        want, got = header.count(b",") + 1, lines[-1].count(b",") + 1
        if got < want:
            raise UserInputError(f"CAWa data: {path} line {len(table) + 1} has {got} values, the header {want} "
                                 "(the file is cut short)")
    return table


def load_cawa(folder: str | Path, *, nominal_pixels: int = 100) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CAWa crop types as (FieldTimeSeries, labels).

    Series: field_id ``cawa00000``…, season = year, date = 1 January + (day of year − 1), variable
    NDVI, mean = value, std/p10/p50/p90 NaN, n_pixels = n_clear = ``nominal_pixels``.
    Labels: field_id, season, crop (label_1), region, season_start (1 January), season_end (31 December).
    """
    d = Path(folder)
    ts, at = _read_cawa_csv(d / CAWA_SERIES), _read_cawa_csv(d / CAWA_ATTRS)
    if len(ts) != len(at):
        raise UserInputError(f"CAWa data {d}: expected the same row count, found {len(ts)} series and {len(at)} rows")
    missing = [c for c in ("year", "label_1", "region") if c not in at.columns]
    if missing:  # a renamed header had been a KeyError traceback
        raise UserInputError(f"CAWa data: {d / CAWA_ATTRS} has no column {', '.join(missing)} (its columns: "
                             f"{', '.join(map(str, at.columns[:12]))}{' …' if len(at.columns) > 12 else ''})")
    odd = [str(c) for c in ts.columns if not str(c).strip().isdigit()]
    if odd:
        raise UserInputError(f"CAWa data: {d / CAWA_SERIES} has column(s) {', '.join(odd[:5])} that are no day of "
                             "the year (its header is the days of the year the NDVI values are of)")
    fid = [f"cawa{i:05d}" for i in range(len(at))]
    year = at["year"].astype(int).to_numpy()
    start = pd.to_datetime([f"{y}-01-01" for y in year])
    labels = pd.DataFrame({"field_id": fid, "season": [str(y) for y in year], "crop": at["label_1"].astype(str),
                           "region": at["region"].astype(str), "season_start": start,
                           "season_end": pd.to_datetime([f"{y}-12-31" for y in year])})
    doys = [int(c) for c in ts.columns]
    vals = ts.to_numpy(dtype="float64")
    n, k = vals.shape
    dates = (start.to_numpy()[:, None] + (np.asarray(doys) - 1).astype("timedelta64[D]")[None, :]).ravel()
    series = pd.DataFrame({
        "field_id": pd.Series(np.repeat(fid, k), dtype="str"),
        "season": pd.Series(np.repeat(labels["season"].to_numpy(), k), dtype="str"),
        "date": pd.to_datetime(dates), "variable": pd.Series(["NDVI"] * (n * k), dtype="str"),
        "mean": vals.ravel(), "std": np.nan, "p10": np.nan, "p50": np.nan, "p90": np.nan,
        "n_pixels": np.full(n * k, nominal_pixels, dtype="int64"),
        "n_clear": np.full(n * k, nominal_pixels, dtype="int64"),
    })
    return series, labels


def _baseline(test: pd.DataFrame) -> dict[str, Any]:
    """The declared-crop baseline of a tested set (the declared crop taken as the answer): its metrics and, under
    :data:`PER_FIELD`, its fields' true and declared crops in the set's order (the intervals draw it on the set's own
    resamples)."""
    true = test["true_crop"].astype(str)
    declared = test["declared_crop"].fillna("<none>").astype(str)
    m = classification_metrics(true, declared)
    m[PER_FIELD] = {"true": true.tolist(), "pred": declared.tolist(), "field_id": test["field_id"].astype(str).tolist(),
                    "season": test["season"].astype(str).tolist()}
    return m


def _fold_probs(clf: CropTypeClassifier, series: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame,
                classes: list[str]) -> np.ndarray:
    """``clf`` fitted on ``train`` (column ``crop``), its probabilities on ``test`` over all of ``classes``."""
    clf.fit(series, train, label_column="crop")
    X = clf.features(series, test)
    p = clf.predict_proba(X[[*clf.feature_names_in_]])
    full = np.zeros((len(test), len(classes)))
    for j, c in enumerate(clf.classes_):
        full[:, classes.index(c)] = p[:, j]
    return full


def _probability_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str], region: np.ndarray,
                         *, n_boot: int = 0, seed: int = 0) -> dict[str, Any]:
    """Accuracy, macro-F1, recall, ECE (pooled; ``ece_ci`` with ``n_boot``) and, per region, ECE and mean top-label
    confidence beside accuracy (``by_region``), of pooled held-out probabilities."""
    pred = np.asarray([classes[i] for i in probs.argmax(axis=1)], dtype=object)
    m = classification_metrics(y, pred)
    codes = np.array([classes.index(c) for c in y])
    m["ece"] = expected_calibration_error(probs, codes)
    if n_boot:
        m["ece_ci"] = list(ece_interval(probs, codes, n_boot=n_boot, seed=seed))
    m["ece_by_region"] = {r: expected_calibration_error(probs[region == r], codes[region == r])
                          for r in sorted(set(region))}
    m["by_region"] = {r: {"n": int(np.sum(region == r)), "accuracy": float(np.mean(pred[region == r] == y[region == r])),
                          "confidence": float(probs[region == r].max(axis=1).mean())} for r in sorted(set(region))}
    m["mean_confidence"] = float(probs.max(axis=1).mean())
    return m


def cawa_benchmark(folder: str | Path, *, min_samples: int = 100, n_estimators: int = 200,
                   rf_trees: int = 300, calibration_folds: int = 4, num_threads: int = 1,
                   calibration_loss: str = "brier", calibration: str = "vector", seed: int = 0,
                   n_seeds: int = 1, n_boot: int = 1000, prior_adaptation: str = "none",
                   production: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Leave-one-region-out CV on CAWa, pooled over folds: the classifier vs a random forest and a naive baseline.

    Classes with at least ``min_samples`` polygons. The classifier runs on the seasonal
    features computed from the FieldTimeSeries form; the forest (``RandomForestClassifier(
    n_estimators=rf_trees, random_state=0)``) on the 23 raw NDVI values, same folds; ``majority``: each fold's
    training regions' most common class, predicted for every held-out polygon. The classifier's settings here are
    the benchmark's (its defaults, chosen on these very folds), not those the registered models are trained with:
    ``production`` (``pipelines.train_crop.COUNTY_PARAMS``, which this layer does not import) adds a ``production``
    result, a :class:`CropTypeClassifier` with those settings on the same folds. Calibration is
    fitted on out-of-fold scores of the training regions only (each held out in turn): ``vector``
    scaling by default — on CAWa the regions differ in class mix, which per-class biases correct
    and one temperature cannot (pooled ECE 0.054 vs 0.072 with ``temperature``; chosen on this pooled held-out
    ECE, so the figure is optimistic). ``n_seeds``: models
    bagged per fold (:class:`CropTypeClassifier`). The ECE comes with a bootstrap interval over
    polygons (``ece_ci``, ``n_boot`` resamples: sampling noise only, not the spread between regions) and per region
    (``ece_by_region``; ``by_region``: mean top-label confidence beside accuracy). ``prior_adaptation="em"``:
    each held-out region's probabilities adapted to its own class mix (:meth:`CropTypeClassifier.adapted`).
    """
    from sklearn.ensemble import RandomForestClassifier

    series, labels = load_cawa(folder)
    counts = labels["crop"].value_counts()
    classes = sorted(counts.index[counts >= min_samples])
    keep = labels["crop"].isin(classes).to_numpy()
    labels = labels.loc[keep].reset_index(drop=True)
    series = series.loc[series["field_id"].isin(set(labels["field_id"]))].reset_index(drop=True)
    wide = series.assign(k=series.groupby("field_id").cumcount()).pivot(index="field_id", columns="k", values="mean")
    raw_x = wide.loc[labels["field_id"]].to_numpy()
    y = labels["crop"].to_numpy()
    region = labels["region"].to_numpy()
    regions = sorted(set(region))
    pred_rf = np.empty(len(y), dtype=object)
    pred_naive = np.empty(len(y), dtype=object)
    probs = np.zeros((len(y), len(classes)))
    probs_prod = np.zeros((len(y), len(classes)))
    for r in regions:
        te = region == r
        test = labels.loc[te].reset_index(drop=True)
        clf = CropTypeClassifier(("end",), n_estimators=n_estimators, context=(), calibration_folds=calibration_folds,
                                 calibration_groups="region", calibration_loss=calibration_loss, calibration=calibration,
                                 min_class_count=1, seed=seed, n_seeds=n_seeds, num_threads=num_threads,
                                 prior_adaptation=prior_adaptation)
        probs[te] = _fold_probs(clf, series, labels.loc[~te], test, classes)
        if production is not None:
            prod = CropTypeClassifier(("end",), context=(), **{**production, "min_class_count": 1,
                                                               "num_threads": num_threads})
            probs_prod[te] = _fold_probs(prod, series, labels.loc[~te], test, classes)
        rf = RandomForestClassifier(n_estimators=rf_trees, random_state=0, n_jobs=num_threads)
        rf.fit(raw_x[~te], y[~te])
        pred_rf[te] = rf.predict(raw_x[te])
        pred_naive[te] = pd.Series(y[~te]).value_counts().sort_index(kind="stable").idxmax()
    out: dict[str, Any] = {"n": len(y), "classes": classes, "regions": regions,
                           "crop_type": _probability_metrics(y, probs, classes, region, n_boot=n_boot, seed=seed),
                           "random_forest": classification_metrics(y, pred_rf),
                           "majority": classification_metrics(y, pred_naive)}
    out["majority"]["classes"] = {r: str(pred_naive[region == r][0]) for r in regions}
    if production is not None:
        out["production"] = _probability_metrics(y, probs_prod, classes, region, n_boot=n_boot, seed=seed)
        out["production"]["settings"] = dict(production)
    return out
