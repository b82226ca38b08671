"""Calibration diagnostics of a held-out crop-type test: how far, which way, and how sure we are.

:func:`calibration_report` gives, beside the top-label ECE (:func:`features._calibration.expected_calibration_error`):

- the mean confidence and the accuracy (their difference is the direction: negative = under-confident);
- the reliability table (per equal-width confidence bin: count, mean confidence, accuracy);
- two percentile bootstrap intervals of the ECE: over rows (fields), and over groups (``condition_id``:
  twins share one growth run, so a block of a few conditions has far fewer independent units than rows);
- the ECE a *perfectly calibrated* model would show on the same confidences and sample size (outcomes drawn
  ~ Bernoulli(confidence), mean over draws): the metric's small-sample bias. It is reported beside the ECE,
  never subtracted from it.

:func:`declared_reliability` asks the same of ``declared_crop_prob``, the probability the credit policy's
CROP_MISMATCH check and the early-warning alert read (below 0.20: the declaration is disputed): against
truth, is the declared crop right as often as it says, and what do the thresholds catch?
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features._calibration import expected_calibration_error
from features.errors import UserInputError

__all__ = ["calibrated_ece_floor", "calibration_report", "declared_reliability", "reliability_table"]


def _bins(conf: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)


def reliability_table(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> list[dict[str, float]]:
    """Non-empty confidence bins (the ECE's bins): lo, hi, n, mean confidence, accuracy."""
    p = np.asarray(probs, dtype="float64")
    y = np.asarray(labels, dtype=int)
    conf, ok = p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
    idx = _bins(conf, n_bins)
    out = []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            out.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(m.sum()),
                        "confidence": float(conf[m].mean()), "accuracy": float(ok[m].mean())})
    return out


def calibrated_ece_floor(probs: np.ndarray, *, n_sim: int = 200, seed: int = 0, n_bins: int = 15) -> float:
    """Mean ECE of a perfectly calibrated model with these confidences on this many rows: the top class is
    right with probability equal to its confidence (independent draws, seeded)."""
    p = np.asarray(probs, dtype="float64")
    if p.ndim != 2 or len(p) == 0:
        raise UserInputError(f"ECE floor: expected probs (n > 0, k), found {p.shape}")
    conf, top = p.max(axis=1), p.argmax(axis=1)
    rng = np.random.default_rng(seed)
    vals = [expected_calibration_error(p, np.where(rng.random(len(conf)) < conf, top, -1), n_bins)
            for _ in range(int(n_sim))]
    return float(np.mean(vals))


def _boot(p: np.ndarray, y: np.ndarray, units: list[np.ndarray] | None, n_boot: int, seed: int,
          n_bins: int) -> tuple[float, float]:
    """95% percentile interval of the ECE, resampling rows (``units=None``) or whole units (index arrays)."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(int(n_boot)):
        if units is None:
            rows = rng.integers(0, len(y), len(y))
        else:
            rows = np.concatenate([units[i] for i in rng.integers(0, len(units), len(units))])
        vals.append(expected_calibration_error(p[rows], y[rows], n_bins))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def calibration_report(probs: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None, *,
                       n_boot: int = 300, n_sim: int = 200, seed: int = 0, n_bins: int = 15) -> dict[str, Any]:
    """ECE, mean confidence, accuracy, reliability table, 95% bootstrap intervals over rows and (``groups``)
    over groups, number of groups, and the calibrated-simulation ECE (see the module docstring)."""
    p = np.asarray(probs, dtype="float64")
    y = np.asarray(labels, dtype=int)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise UserInputError(f"calibration report: expected probs (n > 0, k) and n labels, found {p.shape} "
                             f"and {y.shape}")
    out: dict[str, Any] = {
        "ece": expected_calibration_error(p, y, n_bins), "mean_confidence": float(p.max(axis=1).mean()),
        "accuracy": float((p.argmax(axis=1) == y).mean()),
        "ece_ci": list(_boot(p, y, None, n_boot, seed, n_bins)),
        "ece_calibrated_sim": calibrated_ece_floor(p, n_sim=n_sim, seed=seed, n_bins=n_bins),
        "reliability": reliability_table(p, y, n_bins)}
    if groups is not None:
        g = np.asarray(groups).astype(str)
        if len(g) != len(y):
            raise UserInputError(f"calibration report: expected {len(y)} groups, found {len(g)}")
        uniq = sorted(set(g.tolist()))
        out["n_groups"] = len(uniq)
        out["ece_ci_groups"] = list(_boot(p, y, [np.flatnonzero(g == u) for u in uniq], n_boot, seed, n_bins))
    return out


def declared_reliability(posterior: np.ndarray, right: np.ndarray, *, low: float = 0.20, high: float = 0.80,
                         n_bins: int = 10) -> dict[str, Any]:
    """How ``declared_crop_prob`` (``posterior``: P(the declared crop is planted | imagery, declaration)) reads
    against truth (``right``: the declared crop is the true one), rows with a posterior only: n, wrong
    declarations, mean posterior vs share right, reliability error (|mean posterior − share right| over
    ``n_bins`` equal-width bins, weighted by rows), below ``low`` (disputed: flagged, of them wrong — the
    precision of a CROP_MISMATCH —, and the share of the wrong declarations they catch), at least ``high``
    (confirmed: rows, share right) and the non-empty bins (lo, hi, n, mean posterior, share right)."""
    post = np.asarray(posterior, dtype="float64")
    ok = np.asarray(right, dtype=bool)
    if post.shape != ok.shape or post.ndim != 1:
        raise UserInputError(f"declared reliability: expected posterior (n,) and right (n,), found {post.shape} "
                             f"and {ok.shape}")
    keep = np.isfinite(post)
    post, ok = post[keep], ok[keep]
    n, wrong = len(post), int((~ok).sum())
    out: dict[str, Any] = {"n": n, "wrong": wrong}
    if n == 0:
        return out
    idx = _bins(post, n_bins)
    bins, err = [], 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(m.sum()),
                         "posterior": float(post[m].mean()), "right": float(ok[m].mean())})
            err += m.sum() / n * abs(float(post[m].mean()) - float(ok[m].mean()))
    flagged, sure = post < low, post >= high
    out.update({"mean_posterior": float(post.mean()), "share_right": float(ok.mean()), "reliability_error": err,
                "low": low, "flagged": int(flagged.sum()), "flagged_wrong": int((flagged & ~ok).sum()),
                "wrong_caught": float((flagged & ~ok).sum() / wrong) if wrong else None,
                "high": high, "confirmed": int(sure.sum()),
                "confirmed_right": float(ok[sure].mean()) if sure.any() else None, "bins": bins})
    return out
