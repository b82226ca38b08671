"""The intervals beside the evaluations' figures: the scored units (fields) resampled with replacement, each resample
scored as the whole set is, and the percentile interval of the resampled figures. A fixed seed, so the same
evaluation gives the same intervals byte for byte (``agcredit evaluate alerts`` and ``growth-stage``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["INTERVAL", "Counts", "Draws", "describe", "resample_counts", "season_draws", "percentile_interval",
           "sorted_draws", "draws_median", "draws_quantile", "repeated_median", "repeated_quantile"]

#: level, number of resamples and seed of every interval drawn here
INTERVAL: dict[str, Any] = {"level": 0.95, "resamples": 2000, "seed": 20261205}


def describe(units: str) -> str:
    """How the intervals were drawn, in words (printed under the figures and kept in the JSON)."""
    return (f"{INTERVAL['level']:.0%} percentile bootstrap over {units} "
            f"({INTERVAL['resamples']:,} resamples, seed {INTERVAL['seed']})")


def resample_counts(n: int, cols: np.ndarray, stream: int = 0) -> np.ndarray:
    """How often each of the ``cols`` of ``n`` units is drawn in each of :data:`INTERVAL`'s resamples of ``n`` units
    with replacement: (resamples, len(cols)). Units outside ``cols`` (those that add nothing to any figure) are
    drawn too, so every resample has ``n`` units; drawn in chunks of at most 2 million draws.

    ``stream`` picks the random stream: 0 (the default) is the seed's own, as every single set of units draws it;
    ``k`` > 0 is the seed's ``k``-th spawned child (``numpy.random.SeedSequence(seed, spawn_key=(k,))``), an
    independent stream. A bootstrap stratified into several sets of units (the fields of each held-out season) gives
    each set its own stream, so that sets of the same size are not drawn alike."""
    reps = int(INTERVAL["resamples"])
    seed = int(INTERVAL["seed"])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)) if stream else seed)
    out = np.empty((reps, len(cols)), dtype=np.int32)
    step = max(1, min(250, 2_000_000 // max(n, 1)))
    for lo in range(0, reps, step):
        k = min(step, reps - lo)
        idx = rng.integers(0, n, size=(k, n)) + (np.arange(k) * n)[:, None]
        out[lo:lo + k] = np.bincount(idx.ravel(), minlength=k * n).reshape(k, n)[:, cols]
    return out


#: ``(k, n)`` → how often each of the ``k``-th held-out season's ``n`` scored fields is drawn in each resample:
#: (resamples, n) — a bootstrap stratified by season (the yield targets, the crop-type leave-one-season-out means)
Counts = Callable[[int, int], np.ndarray]


def season_draws(k: int, n: int) -> np.ndarray:
    """The ``k``-th held-out season's draws of its ``n`` fields: its own stream of the shared seed (stream ``k + 1``;
    stream 0 is the one every unstratified interval draws), so that seasons with as many fields are not drawn
    alike."""
    return resample_counts(n, np.arange(n), stream=k + 1)


def percentile_interval(values: np.ndarray) -> list[float] | None:
    """The :data:`INTERVAL` level's percentile interval of the resampled ``values`` (NaN: a resample without the
    figure, left out), rounded to 6 decimals (as the finest figure beside it: an interval rounded coarser than its
    figure could seem to exclude it); None when no resample has it."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    a = (1.0 - float(INTERVAL["level"])) / 2.0
    return [round(float(np.quantile(v, a)), 6), round(float(np.quantile(v, 1.0 - a)), 6)]


#: what :func:`_kth` reads order statistics from: the values in ascending order, each resample's cumulative counts
#: in that order, and each resample's number of draws
Draws = tuple[np.ndarray, np.ndarray, np.ndarray]


def sorted_draws(values: np.ndarray, counts: np.ndarray) -> Draws:
    """Sort ``values`` once and accumulate each row of ``counts`` (how often each value is drawn) in that order, so
    that every quantile of every resample is read off without building the repeated values."""
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        c = c.astype(np.int64)
    order = np.argsort(values, kind="stable")
    cum = np.take(c, order, axis=1)
    np.cumsum(cum, axis=1, out=cum)
    total = cum[:, -1] if cum.shape[1] else np.zeros(len(cum), dtype=np.int64)
    return np.asarray(values, dtype=np.float64)[order], cum, total


def _kth(sorted_values: np.ndarray, cum: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, the ``k``-th smallest (0-based) of the repeated values: the first value whose cumulative count
    exceeds ``k``. Rows are assumed to hold more than ``k`` values."""
    return sorted_values[(cum > k[:, None]).argmax(axis=1)]


def draws_median(draws: Draws) -> np.ndarray:
    """Each resample's median of :func:`sorted_draws`' values (see :func:`repeated_median`); NaN where it drew none."""
    v, cum, total = draws
    out = np.full(len(cum), np.nan)
    ok = total > 0
    c, n = cum[ok], total[ok]
    out[ok] = (_kth(v, c, (n - 1) // 2) + _kth(v, c, n // 2)) / 2.0
    return out


def draws_quantile(draws: Draws, q: float) -> np.ndarray:
    """Each resample's ``q`` quantile of :func:`sorted_draws`' values (see :func:`repeated_quantile`)."""
    v, cum, total = draws
    out = np.full(len(cum), np.nan)
    ok = total > 0
    c, n = cum[ok], total[ok]
    h = (n - 1).astype(np.float64) * q
    lo = np.floor(h)
    gamma = h - lo
    lo_i = lo.astype(np.int64)
    a = _kth(v, c, lo_i)
    b = _kth(v, c, np.minimum(lo_i + 1, n - 1))
    diff = b - a
    out[ok] = np.where(gamma >= 0.5, b - diff * (1.0 - gamma), a + diff * gamma)
    return out


def repeated_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row of ``counts`` (how often each of ``values`` is drawn), ``np.median(np.repeat(values, row))`` bit for
    bit — the mean of the two middle values as numpy takes it, so an all-ones row gives the reported median exactly —
    without building the repeated array; NaN where a row draws nothing."""
    return draws_median(sorted_draws(values, counts))


def repeated_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Per row of ``counts``, ``np.quantile(np.repeat(values, row), q)`` with numpy's default linear method, bit for
    bit: the virtual index (n − 1)·q, its two neighbouring order statistics and numpy's two-sided interpolation
    between them (from the lower one below a fraction of one half, from the upper one above). NaN where a row draws
    nothing."""
    return draws_quantile(sorted_draws(values, counts), q)
