"""The 95% intervals of ``agcredit evaluate yield``'s target figures (:mod:`pipelines.evaluation.yield_`): the
scored fields of each held-out season (:func:`scored_fields`) resampled within it, the within-crop R² and RMSE%
recomputed per resample (:func:`resampled_target_figures`) and their percentile intervals (:func:`target_intervals`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipelines.evaluation import season_groups
from pipelines.evaluation._bootstrap import (
    INTERVAL,
    Counts,
    blockwise,
    grouped_season_draws,
    percentile_interval,
    season_draws,
)

if TYPE_CHECKING:
    from models.evaluation import YieldEvaluation

#: the target rows' figures given a 95% interval (the model's, per major crop)
CI_METRICS = ("r2", "rmse_pct")


def scored_fields(ev: YieldEvaluation, checkpoint: str = "end", method: str = "model") -> dict[str, pd.DataFrame]:
    """Held-out season (sorted) → the fields ``method`` was scored on there at ``checkpoint`` (``crop,
    true_yield_t_ha, p50``): the rows of its ``per_season`` figures. Empty when the evaluation kept no predictions
    (one built from score rows alone)."""
    p = ev.predictions
    if p is None or p.empty:
        return {}
    p = p[(p["checkpoint"] == checkpoint) & (p["method"] == method)]
    return {str(s): f[["crop", "true_yield_t_ha", "p50"]].reset_index(drop=True)
            for s, f in p.groupby("season", sort=True)}


def _crop_figures(f: pd.DataFrame, crops: Sequence[str], w: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """crop (of ``crops`` the season's scored fields ``f`` hold) → metric of :data:`CI_METRICS` → its value on each
    resample (row of ``w``: how often each of ``f``'s fields is drawn): :func:`models.evaluation.weighted_yield_metrics`
    on the crop's drawn fields."""
    from models.evaluation import weighted_yield_metrics

    crop = f["crop"].to_numpy(dtype=object)
    y, p50 = f["true_yield_t_ha"].to_numpy(dtype="float64"), f["p50"].to_numpy(dtype="float64")
    out = {}
    for c in crops:
        m = crop == c
        if m.any():
            met = weighted_yield_metrics(y[m], p50[m], w[:, m])
            out[c] = {key: met[key] for key in CI_METRICS}
    return out


def resampled_target_figures(fields: dict[str, pd.DataFrame], crops: Sequence[str], counts: Counts = season_draws
                             ) -> dict[str, dict[str, np.ndarray]]:
    """crop → metric of :data:`CI_METRICS` → its value on each resample, the mean over held-out seasons of the
    season's within-crop figure, as :func:`models.evaluation.summarize_yield` averages ``per_season``.

    ``fields``: :func:`scored_fields`; ``counts(k, n)``: the draws of the ``k``-th season's ``n`` fields in blocks
    (default: :func:`season_draws`, a bootstrap stratified by season), taken one season and one block of resamples at
    a time so that only one block of draws is held. Each season's figure is :func:`_crop_figures`, what
    :func:`models.evaluation.yield_metrics` gives on the crop's drawn fields repeated; a season without the crop has
    no figure (as it has no ``per_season`` row) and one whose resample draws none of the crop's fields neither, so the
    mean is over the seasons that have one, NaN where none has.
    """
    per: dict[str, dict[str, list[np.ndarray]]] = {c: {m: [] for m in CI_METRICS} for c in crops}
    for k, f in enumerate(fields.values()):
        season = blockwise(partial(_crop_figures, f, crops), counts(k, len(f)))
        for c, met in season.items():
            for key in CI_METRICS:
                per[c][key].append(met[key])
    reps = int(INTERVAL["resamples"])
    out: dict[str, dict[str, np.ndarray]] = {}
    for c, by in per.items():
        out[c] = {}
        for key, v in by.items():
            a = np.vstack(v) if v else np.full((1, reps), np.nan)
            have = np.isfinite(a)
            k_ = have.sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[c][key] = np.where(k_ > 0, np.where(have, a, 0.0).sum(axis=0) / k_, np.nan)
    return out


def target_intervals(ev: YieldEvaluation, crops: Sequence[str], *, checkpoint: str = "end",
                     keys: pd.DataFrame | None = None) -> dict[str, dict[str, list[float] | None]]:
    """crop → metric of :data:`CI_METRICS` → the 95% percentile interval of the model's figure (the mean over
    held-out seasons) with the scored fields resampled within each season (:func:`resampled_target_figures`); None
    throughout when the evaluation kept no predictions, or where no resample has the figure. ``keys``
    (:func:`pipelines.evaluation.group_keys`): each season's clusters drawn whole, within it."""
    fields = scored_fields(ev, checkpoint)
    if not fields:
        return {c: dict.fromkeys(CI_METRICS) for c in crops}
    counts: Counts = season_draws
    if keys is not None:
        assert ev.predictions is not None  # scored_fields found rows
        p = ev.predictions[(ev.predictions["checkpoint"] == checkpoint) & (ev.predictions["method"] == "model")]
        ids = {str(s): f["field_id"].astype(str).tolist() for s, f in p.groupby("season", sort=True)}
        counts = grouped_season_draws([season_groups(keys, s, ids[s]) for s in fields])
    figs = resampled_target_figures(fields, crops, counts)
    return {c: {key: percentile_interval(v) for key, v in by.items()} for c, by in figs.items()}
