"""The intervals beside the evaluations' figures: the scored units (fields) resampled with replacement, each resample
scored as the whole set is, and the percentile interval of the resampled figures. A fixed seed, so the same
evaluation gives the same intervals byte for byte (``agcredit evaluate alerts`` and ``growth-stage``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["INTERVAL", "Counts", "describe", "resample_counts", "season_draws", "percentile_interval",
           "weighted_median"]

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


def weighted_median(counts: np.ndarray) -> np.ndarray:
    """Per row of ``counts`` (how many values 0, 1, 2, ... the row holds): the median as :func:`numpy.median` gives
    it (the mean of the two middle values of an even count); NaN where a row holds none."""
    total = counts.sum(axis=1)
    cum = np.cumsum(counts, axis=1)
    out = np.full(len(counts), np.nan)
    ok = total > 0
    lo_pos, hi_pos = (total[ok] - 1) // 2, total[ok] // 2
    c = cum[ok]
    lo = (c > lo_pos[:, None]).argmax(axis=1)
    hi = (c > hi_pos[:, None]).argmax(axis=1)
    out[ok] = (lo + hi) / 2.0
    return out
