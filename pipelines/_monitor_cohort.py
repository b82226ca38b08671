"""The season's own evidence on a declared crop: is a field's recent NDVI trajectory nearer the fields declared
as its crop this season, or the fields declared as the crop the crop-type model calls it?

The crop-type model learns past seasons; in a season unlike them it can call a whole crop the wrong name with
near certainty (Nebraska 2018 sorghum, taken for maize). The season's declarations are right for ≈ 97% of the
fields, so the fields *declared* as a crop this season show what that crop looks like this season, whatever the
past seasons taught. :func:`cohort_ratio` compares a field's clear NDVI over the last ``window`` days with its
``k`` nearest fields declared as its crop and its ``k`` nearest declared as the model's crop; a ratio at most
1 says the season's own crop looks like the declaration, and the monitor does not call it a mismatch
(:func:`pipelines.monitor.mismatch_mask`). A field planted with another crop than declared sits among that
crop's fields; a field left bare that the model calls fallow (a crop nobody declares) has no cohort to compare
with and is never vetoed.

Only clear observations dated on or before the as-of date are used, so the ratio of a date never changes as
later observations arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipelines._monitor_peers import _interp_rows

__all__ = ["SeasonTrajectories", "cohort_ratio"]


class SeasonTrajectories:
    """A season's clear NDVI observations (``field_id``, ``date``, ``ndvi``) as one field × date table, cut at
    any as-of date without re-reading (the replay asks for many dates)."""

    def __init__(self, obs: pd.DataFrame) -> None:
        wide = (obs.pivot_table(index="field_id", columns="date", values="ndvi", aggfunc="mean").sort_index(axis=1)
                if len(obs) else pd.DataFrame())
        self.field_ids = wide.index.astype(str).to_numpy()
        self.dates = pd.DatetimeIndex(wide.columns)
        self.values = wide.to_numpy(dtype=float)
        self._at: dict[pd.Timestamp, np.ndarray] = {}
        self._seen: dict[pd.Timestamp, np.ndarray] = {}
        self._labels: tuple[pd.Series, np.ndarray] | None = None

    def at(self, as_of: pd.Timestamp, *, window: int, step: int = 5) -> np.ndarray:
        """fields × grid: NDVI on the days ``as_of - window … as_of`` (every ``step`` days), linear between the
        clear observations dated on or before ``as_of``, flat at the ends; NaN rows for fields without any."""
        key = pd.Timestamp(as_of)
        if key not in self._at:
            keep = np.asarray(self.dates <= key)
            days = np.asarray((self.dates[keep] - key).days, dtype=float)
            grid = np.arange(-window, 1, step, dtype=float)
            self._at[key] = _interp_rows(days, self.values[:, keep], grid)
            self._seen[key] = np.isfinite(self._at[key]).all(axis=1)
        return self._at[key]

    def seen(self, as_of: pd.Timestamp, *, window: int) -> np.ndarray:
        """Per field: whether :meth:`at` has a whole row for it as of ``as_of``."""
        self.at(as_of, window=window)
        return self._seen[pd.Timestamp(as_of)]

    def labels(self, declared: pd.Series) -> np.ndarray:
        """``declared`` (field_id → crop) in the order of :attr:`field_ids`, kept for the last Series asked: the
        monitor and the replay ask with one Series per field and date (a lookup over every field each time)."""
        if self._labels is None or self._labels[0] is not declared:
            self._labels = (declared, np.asarray([declared.get(f) for f in self.field_ids], dtype=object))
        return self._labels[1]


def cohort_ratio(traj: SeasonTrajectories, declared: pd.Series, called: pd.Series, as_of: pd.Timestamp,
                 fields: Iterable[str], *, window: int = 120, k: int = 3) -> dict[str, float]:
    """Per field of ``fields``: sqrt(mean squared NDVI distance to its ``k`` nearest other fields declared as
    its declared crop / the same to the ``k`` nearest declared as the crop the model calls it) as of
    ``as_of`` (see the module docstring). ``declared``, ``called``: field_id → crop. NaN (no evidence either
    way) when the model's crop is the declared one, either cohort has fewer than ``k`` fields with
    observations, the field has none, or it is as near (distance 0) both cohorts."""
    out: dict[str, float] = {}
    want = [str(f) for f in fields]
    if not want or len(traj.field_ids) == 0:
        return {f: float("nan") for f in want}
    X = traj.at(as_of, window=window)
    seen = traj.seen(as_of, window=window)
    lab = traj.labels(declared)
    pos = {f: i for i, f in enumerate(traj.field_ids)}
    for f in want:
        i = pos.get(f)
        d, c = declared.get(f), called.get(f)
        if i is None or not seen[i] or not isinstance(d, str) or not isinstance(c, str) or c == d:
            out[f] = float("nan")
            continue
        d2 = ((X - X[i]) ** 2).mean(axis=1)
        own = seen & (lab == d)
        own[i] = False
        other = seen & (lab == c)
        if own.sum() < k or other.sum() < k:
            out[f] = float("nan")
            continue
        near_own = np.sort(d2[own])[:k].mean()
        near_other = np.sort(d2[other])[:k].mean()
        if near_other > 0:
            out[f] = float(np.sqrt(near_own / near_other))
        else:  # as near the model's crop as can be: infinitely nearer — unless as near its own (0 / 0: no evidence)
            out[f] = float("inf") if near_own > 0 else float("nan")
    return out
