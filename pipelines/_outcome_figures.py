"""The figures of ``models performance yield-value`` (pipelines/outcomes.py): per crop R², RMSE, bias and the shares below P10 and above P90, their intervals, and a figure judged against its requirement."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: the figures per crop (and ``all``): the registry's metric names, so a minimum metric reads its own figure
FIGURES = ("r2", "rmse", "rmse_pct", "bias_pct", "below_p10", "above_p90", "naive_crop_mean_r2",
           "naive_crop_mean_rmse_pct", "naive_field_mean_rmse_pct", "skill_r2")


#: figures a minimum metric may name beyond :data:`FIGURES`: over held-out seasons, the one season scored here
_ONE_SEASON = {"below_p10_min": "below_p10", "below_p10_max": "below_p10", "above_p90_min": "above_p90",
               "above_p90_max": "above_p90"}


def _group_figures(data: tuple[np.ndarray, ...], w: np.ndarray) -> dict[str, np.ndarray]:
    """:data:`FIGURES` once per row of ``w`` (how often each row is drawn; a row of ones: the figures themselves),
    each NaN where the resample has no such figure (no baseline, no spread of yields, no row). ``data``: the rows'
    reported yields, P10, P50, P90, crop-mean and field-mean baselines."""
    from models.evaluation import weighted_yield_metrics
    from pipelines.evaluation._bootstrap import resample_sums

    y, p10, p50, p90, crop_mean, field_mean = data
    w = np.atleast_2d(w)
    model = weighted_yield_metrics(y, p50, w)
    n = model["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"r2": model["r2"], "rmse": model["rmse"], "rmse_pct": model["rmse_pct"],
               "bias_pct": np.where((n > 0) & (model["mean_yield"] > 0),
                                    100.0 * resample_sums(w, p50 - y) / resample_sums(w, y), np.nan),
               "below_p10": np.where(n > 0, resample_sums(w, (y < p10).astype(np.int64)) / n, np.nan),
               "above_p90": np.where(n > 0, resample_sums(w, (y > p90).astype(np.int64)) / n, np.nan)}
    has_base = bool(np.isfinite(crop_mean).all()) and len(y) > 0
    nan = np.full(len(w), np.nan)
    if has_base:
        base = weighted_yield_metrics(y, crop_mean, w)
        fm = weighted_yield_metrics(y, field_mean, w)
        out.update(naive_crop_mean_r2=base["r2"], naive_crop_mean_rmse_pct=base["rmse_pct"],
                   naive_field_mean_rmse_pct=fm["rmse_pct"], skill_r2=model["r2"] - base["r2"])
    else:
        out.update(naive_crop_mean_r2=nan, naive_crop_mean_rmse_pct=nan, naive_field_mean_rmse_pct=nan,
                   skill_r2=nan)
    return out


def outcome_figures(rows: pd.DataFrame, groups: np.ndarray | None = None) -> pd.DataFrame:
    """Per crop and pooled (``all`` first): the fields scored (``n``), each of :data:`FIGURES` and its interval
    (``<figure>_lo``, ``<figure>_hi``; NaN without one). ``rows``: ``crop, reported, p10, p50, p90, crop_mean,
    field_mean`` (the baselines NaN where the file has no earlier season); ``groups``: the rows' cluster codes
    (:func:`pipelines.evaluation._bootstrap.group_codes`) or None (every field drawn on its own)."""
    from pipelines.evaluation._bootstrap import blockwise, count_blocks

    n = len(rows)
    crops = rows["crop"].astype(str).to_numpy(dtype=object)
    col = {c: rows[c].to_numpy(dtype="float64") for c in ("reported", "p10", "p50", "p90", "crop_mean", "field_mean")}
    names = ["all", *sorted(set(crops.tolist()))]
    masks = {c: np.ones(n, dtype=bool) if c == "all" else crops == c for c in names}
    cols = {c: tuple(col[k][m] for k in ("reported", "p10", "p50", "p90", "crop_mean", "field_mean"))
            for c, m in masks.items()}

    def score(block: np.ndarray) -> dict[str, Any]:  # each crop's figures of a block of resamples
        return {c: _group_figures(cols[c], block[:, masks[c]]) for c in names}

    # drawn a block of resamples at a time (memory bounded whatever the portfolio's size)
    drawn_all = blockwise(score, count_blocks(n, np.arange(n), groups=groups))
    return pd.DataFrame([figure_record(crop, cols[crop], drawn_all[crop]) for crop in names])


def figure_record(crop: str, data: tuple[np.ndarray, ...], drawn: dict[str, np.ndarray]) -> dict[str, Any]:
    """One row of :func:`outcome_figures`: the crop's figures on its rows (``data``, as :func:`_group_figures` takes
    them) and each one's percentile interval over its resampled values (``drawn``)."""
    from pipelines.evaluation._bootstrap import percentile_interval

    n = len(data[0])
    point = _group_figures(data, np.ones((1, n), dtype=np.int32))
    rec: dict[str, Any] = {"crop": crop, "n": n}
    for f in FIGURES:
        rec[f] = float(point[f][0])
        iv = percentile_interval(drawn[f]) if math.isfinite(rec[f]) else None
        rec[f"{f}_lo"], rec[f"{f}_hi"] = (iv[0], iv[1]) if iv is not None else (math.nan, math.nan)
    return rec


def judge(op: str, threshold: float, lo: float, hi: float) -> str:
    """A minimum metric against an interval: ``met`` (all of it meets), ``not met`` (none of it does), ``interval
    straddles``; ``not measured`` without an interval."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "not measured"
    ok = (lambda v: v >= threshold) if op == ">=" else (lambda v: v <= threshold)
    if ok(lo) and ok(hi):
        return "met"
    if not ok(lo) and not ok(hi):
        return "not met"
    return "interval straddles"


def _requirement_figure(metric: str, crops: list[str]) -> tuple[str, str] | None:
    """The (figure, crop) a minimum metric names (``r2_maize`` → (r2, maize); ``below_p10_min_all`` → (below_p10,
    all)); None when it names no figure scored here (another checkpoint's, a crop-type metric)."""
    for crop in sorted(["all", *crops], key=len, reverse=True):
        if metric.endswith(f"_{crop}"):
            base = metric[: -len(crop) - 1]
            base = _ONE_SEASON.get(base, base)
            return (base, crop) if base in FIGURES else None
    return None
