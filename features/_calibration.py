"""Probability calibration for the crop-type classifier.

Temperature scaling (Guo et al. 2017): one scalar ``T`` divides the raw multiclass scores
before the softmax, fitted on out-of-fold scores of past seasons. The default loss is the
Brier score rather than the log-likelihood: on real data with a shift between folds (CAWa,
regions) a few confidently wrong predictions dominate the log-likelihood and drove ``T`` to
4.6 (held-out ECE 0.36), while the bounded Brier score kept it near 1. It keeps the ranking of classes (the argmax never changes) and only
stretches or shrinks confidence. :func:`expected_calibration_error` measures the result.

Label-shift adaptation (:func:`adapt_prior`): calibrated probabilities of a batch scored together (a new
region) re-weighted to the batch's own class prior, estimated from the batch by EM (Saerens et al. 2002).

Vector scaling (:func:`fit_vector`): one scale and one bias per class, ``softmax(a * s + b)``,
Brier loss plus ``l2 * |b|^2``. The biases correct a class-frequency shift between the training
groups and a new one (regions); they can move the argmax, so the L2 weight is chosen by
:func:`select_vector_l2`: leave-one-group-out over the out-of-fold scores, smallest pooled ECE.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from features.errors import UserInputError

__all__ = ["VECTOR_L2_GRID", "adapt_prior", "declaration_transition", "ece_interval", "expected_calibration_error", "fit_temperature",
           "fit_vector", "noise_transition", "remove_label_noise", "remove_noise_transition", "select_vector_l2",
           "softmax"]


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature`` (numerically stable)."""
    z = np.asarray(scores, dtype="float64") / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_temperature(scores: np.ndarray, labels: np.ndarray, *, loss: str = "brier") -> float:
    """Temperature in [0.05, 20] minimising the mean Brier score (or ``"nll"``, or ``"ece"``) of ``labels``."""
    scores = np.asarray(scores, dtype="float64")
    y = np.asarray(labels, dtype=int)
    if scores.ndim != 2 or len(scores) != len(y) or len(y) == 0:
        raise UserInputError(f"calibration: expected scores (n, k) and n labels, found {scores.shape} and {y.shape}")

    if loss not in ("brier", "nll", "ece"):
        raise UserInputError(f"calibration: loss must be 'brier', 'nll' or 'ece', found {loss!r}")
    if loss == "ece":  # a step function: grid search, then the smallest ECE (ties: closest to 1)
        grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))
        eces = np.array([expected_calibration_error(softmax(scores, t), y) for t in grid])
        best = np.flatnonzero(eces <= eces.min() + 1e-12)
        return float(grid[best[np.argmin(np.abs(np.log(grid[best])))]])
    onehot = np.zeros_like(scores)
    onehot[np.arange(len(y)), y] = 1.0

    def nll(log_t: float) -> float:
        p = softmax(scores, float(np.exp(log_t)))
        if loss == "brier":
            return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0))))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width confidence bins.

    ``probs`` is (n, k) with rows summing to one; ``labels`` are class indices in [0, k).
    ECE = sum over bins of (bin share) * |accuracy in bin - mean confidence in bin|.
    """
    p = np.asarray(probs, dtype="float64")
    y = np.asarray(labels, dtype=int)
    if p.ndim != 2 or len(p) != len(y):
        raise UserInputError(f"ECE: expected probs (n, k) and n labels, found {p.shape} and {y.shape}")
    if len(y) == 0:
        return float("nan")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def ece_interval(probs: np.ndarray, labels: np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, n_bins: int = 15) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`expected_calibration_error` over rows (fields, polygons):
    its sampling noise. A seeded generator: the same inputs give the same interval."""
    p = np.asarray(probs, dtype="float64")
    y = np.asarray(labels, dtype=int)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise UserInputError(f"ECE interval: expected probs (n, k) and n labels, found {p.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    vals = [expected_calibration_error(p[i], y[i], n_bins) for i in (rng.integers(0, len(y), len(y))
                                                                     for _ in range(int(n_boot)))]
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(vals, [tail, 100.0 - tail])
    return float(lo), float(hi)


def remove_label_noise(probs: np.ndarray, noise: float) -> np.ndarray:
    """Probabilities of the true class from probabilities calibrated on labels of which a share ``noise``
    is wrong, each wrong label any of the other k - 1 classes alike: ``p = (1 - noise) q + noise (1 - q) /
    (k - 1)`` solved for ``q`` (clipped at 0, rows renormalised). Monotone per row: the arg-max is kept."""
    p = np.asarray(probs, dtype="float64")
    k = p.shape[1] if p.ndim == 2 else 0
    if p.ndim != 2 or k < 2 or not 0.0 <= noise < (k - 1) / k:
        raise UserInputError(f"label noise: expected probs (n, k >= 2) and a share in [0, (k-1)/k), "
                             f"found {p.shape} and {noise!r}")
    if noise == 0:
        return p.copy()
    q = np.clip((p * (k - 1) - noise) / ((k - 1) - k * noise), 0.0, None)
    return np.asarray(q / q.sum(axis=1, keepdims=True))


def noise_transition(probs: np.ndarray, *, min_diagonal: float = 0.5) -> np.ndarray:
    """Class-conditional label noise ``T[j, i]`` ~ P(label i | crop j) from probabilities calibrated on the
    noisy labels (out-of-fold): row ``j`` is the mean probability vector of the rows whose top class is
    ``j``. Where the classes are well separated (end of season) the top class is the crop, so the mean of
    P(label | x) over crop j's rows is P(label | crop j): "a declared crop never planted" shows up as a low
    ``T[fallow, fallow]``, one declaration mistake among cleaned labels as a near-one diagonal. A class no
    row tops, or whose diagonal is below ``min_diagonal`` (its noise is not identifiable), gets the
    identity row (no correction). Returns (k, k), rows summing to one."""
    p = np.asarray(probs, dtype="float64")
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        raise UserInputError(f"noise transition: expected probs (n > 0, k >= 2), found {p.shape}")
    k = p.shape[1]
    top = p.argmax(axis=1)
    out = np.eye(k)
    for j in range(k):
        m = top == j
        if m.any():
            row = p[m].mean(axis=0)
            if row[j] >= min_diagonal:
                out[j] = row / row.sum()
    return out


def declaration_transition(probs: np.ndarray, labels: np.ndarray, *, min_diagonal: float = 0.5) -> np.ndarray:
    """How reliable a *raw* declaration is: ``T[j, i]`` ~ P(declared i | crop j), counted — row ``j`` is the
    share of each declared label among the rows whose top class in ``probs`` (calibrated out-of-fold
    probabilities of the crop) is ``j``. Unlike :func:`noise_transition`, which reads the noise of the labels
    a calibration was fitted on from its probabilities (after the training-time cleaning dropped the clear
    mistakes), it counts every declaration, mistakes included, as a new season's declarations come. A class
    no row tops, or whose diagonal is below ``min_diagonal``, gets the identity row. Returns (k, k), rows
    summing to one."""
    p = np.asarray(probs, dtype="float64")
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0 or y.shape != (len(p),):
        raise UserInputError(f"declaration transition: expected probs (n > 0, k >= 2) and n labels, found "
                             f"{p.shape} and {y.shape}")
    k = p.shape[1]
    if (y < 0).any() or (y >= k).any():
        raise UserInputError(f"declaration transition: expected labels in [0, {k}), found "
                             f"{sorted(set(y[(y < 0) | (y >= k)].tolist()))[:5]}")
    top = p.argmax(axis=1)
    out = np.eye(k)
    for j in range(k):
        m = top == j
        if m.any():
            row = np.bincount(y[m], minlength=k).astype("float64") / m.sum()
            if row[j] >= min_diagonal:
                out[j] = row
    return out


def remove_noise_transition(probs: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """Probabilities of the crop from probabilities of its (noisy) label: ``p_label = p_crop @ T`` solved
    for ``p_crop`` (clipped at 0, rows renormalised). Unlike :func:`remove_label_noise` the noise may
    differ per class, so the arg-max can move (towards the class whose labels are often wrong)."""
    p = np.asarray(probs, dtype="float64")
    t = np.asarray(transition, dtype="float64")
    if p.ndim != 2 or t.shape != (p.shape[1], p.shape[1]):
        raise UserInputError(f"noise transition: expected probs (n, k) and a (k, k) matrix, found {p.shape} "
                             f"and {t.shape}")
    try:
        q = np.linalg.solve(t.T, p.T).T
    except np.linalg.LinAlgError as e:
        raise UserInputError(f"noise transition: expected an invertible (k, k) matrix, found {e}") from e
    q = np.clip(q, 0.0, None)
    s = q.sum(axis=1, keepdims=True)
    return np.asarray(np.where(s > 0, q / np.where(s > 0, s, 1.0), p))


#: L2 weights on the vector-scaling biases tried by :func:`select_vector_l2`
VECTOR_L2_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 1.0)


def fit_vector(scores: np.ndarray, labels: np.ndarray, *, l2: float = 0.01) -> tuple[float, np.ndarray]:
    """Vector scaling ``softmax(scale * scores + bias)``: (scale, bias) minimising the mean Brier score of
    ``labels`` plus ``l2 * sum(bias**2)`` (analytic gradient; scale kept in [0.05, 20])."""
    from scipy.optimize import minimize

    s = np.asarray(scores, dtype="float64")
    y = np.asarray(labels, dtype=int)
    if s.ndim != 2 or len(s) != len(y) or len(y) == 0:
        raise UserInputError(f"calibration: expected scores (n, k) and n labels, found {s.shape} and {y.shape}")
    n, k = s.shape
    onehot = np.zeros_like(s)
    onehot[np.arange(n), y] = 1.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = float(np.exp(w[0])), w[1:]
        p = softmax(s * a + b)
        g = 2.0 * (p - onehot) / n
        dz = p * (g - np.sum(g * p, axis=1, keepdims=True))
        value = float(np.sum((p - onehot) ** 2) / n + l2 * np.sum(b**2))
        grad = np.concatenate([[a * float(np.sum(dz * s))], dz.sum(axis=0) + 2.0 * l2 * b])
        return value, grad

    bounds = [(np.log(0.05), np.log(20.0))] + [(None, None)] * k
    res = minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(res.x[0])), np.asarray(res.x[1:], dtype="float64")


def select_vector_l2(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                     grid: tuple[float, ...] = VECTOR_L2_GRID) -> tuple[float, dict[float, float]]:
    """The L2 weight of :func:`fit_vector` whose leave-one-group-out calibrated scores have the smallest
    pooled ECE (ties: the larger weight); also every weight's ECE. One group: the largest weight."""
    s = np.asarray(scores, dtype="float64")
    y = np.asarray(labels, dtype=int)
    g = np.asarray(groups)
    uniq = sorted(set(g.tolist()))
    if len(uniq) < 2:
        return float(max(grid)), {}
    eces: dict[float, float] = {}
    for l2 in grid:
        probs = np.zeros_like(s)
        for grp in uniq:
            m = g == grp
            a, b = fit_vector(s[~m], y[~m], l2=l2)
            probs[m] = softmax(s[m] * a + b)
        eces[float(l2)] = expected_calibration_error(probs, y)
    best = min(eces.values())
    return max(l2 for l2, e in eces.items() if e <= best + 1e-12), eces


def adapt_prior(probs: np.ndarray, train_prior: np.ndarray, *, tol: float = 1e-6,
                max_iter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a batch adapted to its own class prior (Saerens, Latinne & Decaestecker 2002).

    ``probs`` (n, k) are calibrated under the class prior ``train_prior`` (k,): the class frequencies of the
    rows the calibration was fitted on. Under a label shift (a region planted with another mix of the same
    crops, each crop looking as it did) the batch's posteriors are ``q_i ∝ p_i * pi / train_prior``; its prior
    ``pi`` is the mean of its own posteriors, so EM alternates the two from ``pi = train_prior`` until
    ``max |delta pi| < tol`` or ``max_iter`` steps. No label of the batch is read. A class absent from the
    training prior keeps probability 0; an empty batch is returned as is. Returns (adapted probs, batch prior).
    """
    p = np.asarray(probs, dtype="float64")
    w0 = np.asarray(train_prior, dtype="float64")
    if p.ndim != 2 or w0.shape != (p.shape[1],) or not np.isfinite(w0).all() or (w0 < 0).any() or w0.sum() <= 0:
        raise UserInputError(f"prior adaptation: expected probs (n, k) and k non-negative prior shares, found "
                             f"{p.shape} and {w0.shape}")
    w0 = w0 / w0.sum()
    if len(p) == 0:
        return p.copy(), w0.copy()
    known = w0 > 0
    pi = w0.copy()
    q = p
    for _ in range(int(max_iter)):
        ratio = np.where(known, pi / np.where(known, w0, 1.0), 0.0)
        q = p * ratio
        s = q.sum(axis=1, keepdims=True)
        q = np.where(s > 0, q / np.where(s > 0, s, 1.0), p)
        new = q.mean(axis=0)
        done = float(np.max(np.abs(new - pi))) < tol
        pi = new
        if done:
            break
    return np.asarray(q), np.asarray(pi)
