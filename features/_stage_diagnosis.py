"""Why a growth stage is wrong: confusion of stages and what moved the wrong fields' boundary.

Pure comparisons of two stage assignments (no truth is read here: the caller brings the reference,
e.g. :mod:`pipelines.evaluation.growth_stage` with a county's truth):

- :func:`stage_confusion`: counts of (reference stage × predicted stage), stages in
  :data:`features.contracts.GROWTH_STAGES` order;
- :func:`wrong_stage_drivers`: for the fields whose stage is wrong, whether the prediction is *ahead*
  (a later stage) or *behind*, how far the reference boundary lies from the as-of date, and which input
  explains it — ``emergence`` when the estimated emergence is off by at least ``min_days`` in the
  direction that moves the stage that way (earlier emergence → ahead), ``gap`` when, in addition, the
  observations around the reference emergence are at least ``long_gap`` days apart (cloud), else
  ``durations`` (the calendar's stage fractions and durations place the boundary wrong even with the
  emergence about right).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.contracts import GROWTH_STAGES

__all__ = ["stage_confusion", "wrong_stage_drivers"]


def stage_confusion(reference: pd.Series, predicted: pd.Series) -> pd.DataFrame:
    """Counts of fields by reference stage (rows) and predicted stage (columns), both indexed by field_id;
    only fields with a reference stage; a missing prediction counts as ``"none"``."""
    ref = reference.dropna().astype(object)
    pred = predicted.reindex(ref.index).astype(object).where(lambda s: s.notna(), "none")
    order = [*GROWTH_STAGES, "none"]
    rows = [s for s in order if s in set(ref)]
    cols = [s for s in order if s in set(pred)]
    tab = pd.crosstab(pd.Categorical(ref, categories=rows), pd.Categorical(pred, categories=cols), dropna=False)
    tab.index.name, tab.columns.name = "reference", "predicted"
    return tab.astype("int64")


def wrong_stage_drivers(reference: pd.Series, predicted: pd.Series, emergence_error_days: pd.Series,
                        boundary_days: pd.Series, gap_days: pd.Series | None = None, *, min_days: float = 3.0,
                        long_gap: float = 20.0) -> dict[str, Any]:
    """Summary of the wrong fields (all inputs indexed by field_id).

    ``emergence_error_days``: estimated − reference emergence; ``boundary_days``: as-of date − the
    reference date of the nearest stage boundary (positive: the boundary is already past);
    ``gap_days``: days between the observations around the reference emergence (optional).
    """
    ref = reference.dropna().astype(object)
    pred = predicted.reindex(ref.index).astype(object)
    rank = {s: i for i, s in enumerate(GROWTH_STAGES)}
    r = ref.map(rank).astype("float64")
    p = pred.map(rank).astype("float64")
    wrong = (r != p) & p.notna()
    ids = ref.index[wrong.to_numpy()]
    n = int(len(ids))
    out: dict[str, Any] = {"n_fields": int(len(ref)), "n_wrong": n, "n_no_prediction": int(p.isna().sum())}
    if n == 0:
        return out
    ahead = (p[ids] > r[ids]).to_numpy()
    e = emergence_error_days.reindex(ids).to_numpy(dtype=np.float64)
    b = boundary_days.reindex(ids).to_numpy(dtype=np.float64)
    g = gap_days.reindex(ids).to_numpy(dtype=np.float64) if gap_days is not None else np.full(n, np.nan)
    by_em = np.where(ahead, e <= -min_days, e >= min_days)
    by_gap = by_em & (g >= long_gap)
    right = ref.index[(~wrong).to_numpy() & p.notna().to_numpy()]
    er = emergence_error_days.reindex(right).to_numpy(dtype=np.float64)

    def q(x: np.ndarray, k: float) -> float | None:
        x = x[np.isfinite(x)]
        return round(float(np.percentile(x, k)), 1) if len(x) else None

    out.update({
        "ahead": int(ahead.sum()), "behind": int((~ahead).sum()),
        "driver_gap": int(by_gap.sum()), "driver_emergence": int((by_em & ~by_gap).sum()),
        "driver_durations": int((~by_em).sum()),
        "emergence_abs_error_median_wrong": q(np.abs(e), 50), "emergence_abs_error_median_right": q(np.abs(er), 50),
        "boundary_abs_days_median_wrong": q(np.abs(b), 50), "boundary_abs_days_p90_wrong": q(np.abs(b), 90),
        "gap_days_median_wrong": q(g, 50),
    })
    return out
