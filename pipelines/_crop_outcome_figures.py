"""The figures of ``models performance crop-type`` (pipelines/crop_outcomes.py): accuracy, macro-F1, weighted ECE and its calibrated floor, the policy's shares, exact intervals, and the version's minimum metrics judged."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pipelines.evaluation._bootstrap import EXACT_METHOD, draw_units, exact_when_alike

#: the figures each minimum metric of a crop-type version names (``<figure>_<checkpoint>``)
GATED = ("accuracy", "macro_f1", "ece")


#: the report's own reading of ``declared_crop_prob``: a declaration put at this or more is "confirmed" (the
#: evaluation's :func:`features._crop_reliability.declared_reliability` reads it so); no policy rule reads it
CONFIRMED = 0.80


#: the shares with a numerator and a denominator of their own (an exact interval where the bootstrap's has no width)
SHARES = ("accuracy", "baseline_accuracy", "model_on_declared", "kept_right", "mismatch_wrong", "uncertain_wrong",
          "caught_any", "caught_mismatch", "confirmed_right")


#: the headline figures with an interval, in print order
FIGURES = ("accuracy", "macro_f1", "ece", *SHARES[1:], "lead")


#: the ECE's bins (the registry's held-out ECE and the evaluation's)
ECE_BINS = 15


#: draws of the calibrated-model ECE (its mean is reported beside the ECE)
FLOOR_DRAWS = 200


def _weighted_ece(conf: np.ndarray, correct: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The top-label ECE (:data:`ECE_BINS` equal-width bins, as
    :func:`features._calibration.expected_calibration_error` bins them) of each row of counts ``w``: Σ over bins of
    |Σ w·right − Σ w·confidence| / Σ w — the bin share times the gap of its means."""
    from pipelines.evaluation._bootstrap import resample_sums

    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, ECE_BINS - 1)
    total = np.zeros(len(w))
    for b in np.unique(idx):
        m = idx == b
        total += np.abs(resample_sums(w[:, m], correct[m]) - resample_sums(w[:, m], conf[m]))
    n = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, total / n, np.nan)


def _calibrated_floor(conf: np.ndarray) -> float:
    """The mean ECE of a perfectly calibrated model with these confidences on this many fields (each top crop right
    with the probability it was given; :data:`FLOOR_DRAWS` seeded draws): the metric's small-sample bias, reported
    beside the ECE, never subtracted from it."""
    from pipelines.evaluation._bootstrap import INTERVAL

    rng = np.random.default_rng(int(INTERVAL["seed"]))
    draws = (rng.random((FLOOR_DRAWS, len(conf))) < conf).astype(np.float64)
    ones = np.ones((1, len(conf)), dtype=np.int64)
    return float(np.mean([_weighted_ece(conf, d, ones)[0] for d in draws]))


def _masks(data: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each share of :data:`SHARES` but accuracy as (hit, among): boolean arrays over the scored fields."""
    correct = data["true"] == data["pred"]
    declared = data["declared"] != ""
    dright = declared & (data["declared"] == data["true"])
    post = data["dprob"]
    read = data["read"]
    mismatch, uncertain = data["mismatch"], data["uncertain"]
    wrong_read = declared & ~dright & read
    return {"baseline_accuracy": (dright, declared), "model_on_declared": (correct, declared),
            "kept_right": (correct, read & ~mismatch & ~uncertain),
            "mismatch_wrong": (~dright, declared & mismatch), "uncertain_wrong": (~dright, declared & uncertain),
            "caught_any": (mismatch | uncertain, wrong_read), "caught_mismatch": (mismatch, wrong_read),
            "confirmed_right": (dright, declared & np.isfinite(post) & (post >= CONFIRMED))}


def _share(w: np.ndarray, hit: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Each resample's share of ``hit`` among the rows ``among`` (NaN where it draws none of them)."""
    num = w @ (hit & among).astype(np.int64)
    den = w @ among.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _block_figures(data: dict[str, np.ndarray], w: np.ndarray) -> dict[str, Any]:
    """Every figure once per row of counts ``w`` (a row of ones: the figures themselves)."""
    from features._crop_eval import weighted_classification_metrics

    w = np.atleast_2d(w)
    cls = weighted_classification_metrics(data["true"], data["pred"], w)
    correct = data["true"] == data["pred"]
    out: dict[str, Any] = {"accuracy": cls["accuracy"], "macro_f1": cls["macro_f1"], "recall": cls["recall"],
                           "f1": cls["f1"], "ece": _weighted_ece(data["conf"], correct.astype(np.float64), w)}
    for name, (hit, among) in _masks(data).items():
        out[name] = _share(w, hit, among)
    # paired: the model's and the declarations' accuracy on the same resample's declared fields
    out["lead"] = out["model_on_declared"] - out["baseline_accuracy"]
    return out


def _frame_data(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    n = len(rows)

    def flag(c: str, default: bool) -> np.ndarray:
        return rows[c].to_numpy(dtype=bool) if c in rows.columns else np.full(n, default)

    return {"true": rows["true"].astype(str).to_numpy(dtype=object),
            "pred": rows["pred"].astype(str).to_numpy(dtype=object),
            "conf": rows["conf"].to_numpy(dtype="float64"),
            "declared": rows["declared"].astype(str).to_numpy(dtype=object),
            "dprob": rows["dprob"].to_numpy(dtype="float64"),
            "read": flag("read", True), "mismatch": flag("mismatch", False), "uncertain": flag("uncertain", False)}


def crop_outcome_figures(rows: pd.DataFrame, *, groups: np.ndarray | None = None) -> dict[str, Any]:
    """The figures of the scored fields and each one's 95% interval (``<figure>_ci``; per class: ``recall_ci`` and
    ``f1_ci`` dicts). ``rows``: ``true`` the verified crop, ``pred`` the model's, ``conf`` its probability,
    ``declared`` the declared crop or "", ``dprob`` P(declared) or NaN, and the policy's reading of each field —
    ``read`` (its crop type read: not pre-season), ``mismatch`` (CROP_MISMATCH), ``uncertain`` (CROP_TYPE_UNCERTAIN);
    ``groups``: cluster codes or None (every field drawn on its own)."""
    from pipelines.evaluation._bootstrap import blockwise, count_blocks, percentile_interval

    data = _frame_data(rows)
    n = len(rows)
    point = _block_figures(data, np.ones((1, n), dtype=np.int64))
    drawn = blockwise(lambda b: _block_figures(data, b), count_blocks(n, np.arange(n), groups=groups))
    correct = data["true"] == data["pred"]
    masks = {"accuracy": (correct, np.ones(n, dtype=bool)), **_masks(data)}
    counts = {k: (int((h & a).sum()), int(a.sum())) for k, (h, a) in masks.items()}
    units = {k: draw_units(a, groups) if groups is not None else None for k, (_, a) in masks.items()}
    out: dict[str, Any] = {"n": n, "interval_methods": {}}
    for f in FIGURES:
        v = float(point[f][0])
        out[f] = v if math.isfinite(v) else None
        iv = percentile_interval(drawn[f]) if math.isfinite(v) else None
        if iv is not None and iv[0] == iv[1] and f in counts:  # every resample agrees: all or none of a few
            iv, exact = exact_when_alike(iv, *counts[f], units[f])
            if exact:
                out["interval_methods"][f] = EXACT_METHOD
        out[f"{f}_ci"] = iv
    out["shares"] = {k: {"of": d, "hits": h} for k, (h, d) in counts.items()}
    truth = data["true"]
    support = {c: int((truth == c).sum()) for c in sorted(set(truth.tolist()))}
    for k in ("recall", "f1"):
        out[k] = {c: float(a[0]) for c, a in point[k].items() if math.isfinite(float(a[0]))}
        out[f"{k}_ci"] = {c: percentile_interval(drawn[k][c]) for c in out[k]}
    for c, iv in out["recall_ci"].items():
        if iv is not None and iv[0] == iv[1]:
            of_c = np.asarray(truth == c)
            out["recall_ci"][c], exact = exact_when_alike(iv, int((of_c & correct).sum()), support[c],
                                                          draw_units(of_c, groups) if groups is not None else None)
            if exact:
                out["interval_methods"][f"recall {c}"] = EXACT_METHOD
    out["support"] = support
    preds = sorted(set(data["pred"].tolist()) | set(truth.tolist()))
    out["confusion"] = {t: {q: int(((truth == t) & (data["pred"] == q)).sum()) for q in preds
                            if ((truth == t) & (data["pred"] == q)).any()} for t in support}
    out["mean_confidence"] = float(np.mean(data["conf"]))
    out["ece_calibrated_floor"] = _calibrated_floor(data["conf"])
    declared = data["declared"] != ""
    out["counts"] = {"declared": int(declared.sum()),
                     "declared_wrong": int((declared & (data["declared"] != truth)).sum()),
                     "preseason": int((~data["read"]).sum()),
                     "kept": counts["kept_right"][1], "kept_wrong": counts["kept_right"][1] - counts["kept_right"][0],
                     "mismatch": int((declared & data["mismatch"]).sum()),
                     "uncertain": int((declared & data["uncertain"]).sum()),
                     "confirmed": counts["confirmed_right"][1]}
    return out


def _judge_requirements(gov: Any, checkpoint: str, figs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each minimum metric of ``gov`` at ``checkpoint`` (``accuracy_<cp>``, ``macro_f1_<cp>``, ``ece_<cp>``) with
    the season's figure, its interval, the held-out value at registration and the judgement."""
    from pipelines.outcomes import judge

    out: list[dict[str, Any]] = []
    for r in gov.minimum_metrics:
        fig = next((g for g in GATED if r.metric == f"{g}_{checkpoint}"), None)
        if fig is None:
            continue
        value, iv = figs.get(fig), figs.get(f"{fig}_ci")
        held = gov.metrics.get(r.metric)
        out.append({"metric": r.metric, "op": r.op, "threshold": float(r.threshold), "value": value,
                    "interval": iv,
                    "validated": float(held) if held is not None and math.isfinite(float(held)) else None,
                    "judgement": judge(r.op, float(r.threshold), *(iv if iv else (math.nan, math.nan)))})
    return out
