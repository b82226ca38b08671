"""The probability that the declared crop is the one planted, given the imagery *and* the declaration.

The classifier's probabilities ``p`` answer "which crop is this, from the imagery?" with the
region's crop shares as prior. The credit policy's check (CROP_MISMATCH: "probability of the declared
crop" below 0.20) and the early-warning alert ask something else: "is the farmer's declaration wrong?".
The declaration is evidence too — farmers declare the crop they grow most of the time — so by Bayes,
with ``T[j, i]`` = P(declared i | crop j) (counted on every past declaration, the mistakes included:
:func:`features._calibration.declaration_transition`, the classifier's ``declaration_transition_``; models
saved before it use the transition of the labels their cleaning kept, ``noise_transition_``, which
understates a raw declaration's mistakes) and the declaration independent of the imagery given the crop:

    P(crop = d | imagery, declared d) = p[d] · T[d, d] / Σ_j p[j] · T[j, d].

Imagery that gives the declared crop 10% against a 97%-reliable declaration leaves it near 0.9; only
imagery that all but rules the declared crop out (or a class whose declarations are often wrong: a
field declared sown but left fallow) brings it below 0.20. Without a transition (a model trained
without ``label_noise="transition"``) the imagery's ``p[d]`` is returned, as before.
"""

from __future__ import annotations

import numpy as np

from features.errors import UserInputError

__all__ = ["declared_posterior"]


def declared_posterior(probs: np.ndarray, declared: np.ndarray, transition: np.ndarray | None) -> np.ndarray:
    """Per row, P(crop = declared | imagery, declaration).

    ``probs`` (n, k): the crop probabilities from the imagery (rows of NaN: not scored); ``declared`` (n,):
    the declared crop's class index, -1 when the declared crop is not a class (probability 0 when the
    row is scored) and -2 when nothing is declared (NaN); ``transition`` (k, k) or None (then ``p[d]``).
    """
    p = np.asarray(probs, dtype="float64")
    d = np.asarray(declared, dtype=np.int64)
    if p.ndim != 2 or d.shape != (p.shape[0],):
        raise UserInputError(f"declared posterior: expected probs (n, k) and n declared indices, found {p.shape} "
                             f"and {d.shape}")
    n, k = p.shape
    if (d >= k).any() or (d < -2).any():
        raise UserInputError(f"declared posterior: declared indices must lie in [-2, {k}), found "
                             f"{sorted(set(d[(d >= k) | (d < -2)].tolist()))[:5]}")
    scored = np.isfinite(p).all(axis=1)
    out = np.full(n, np.nan)
    out[(d == -1) & scored] = 0.0
    rows = np.flatnonzero((d >= 0) & scored)
    if len(rows) == 0:
        return out
    dd = d[rows]
    own = p[rows, dd]
    if transition is None:
        out[rows] = own
        return out
    t = np.asarray(transition, dtype="float64")
    if t.shape != (k, k):
        raise UserInputError(f"declared posterior: expected a ({k}, {k}) transition, found {t.shape}")
    label = (p[rows] * t[:, dd].T).sum(axis=1)  # Σ_j p[j] T[j, d]: the probability of this declaration
    num = own * t[dd, dd]
    out[rows] = np.where(label > 0, num / np.where(label > 0, label, 1.0), own)
    return np.clip(out, 0.0, 1.0)
