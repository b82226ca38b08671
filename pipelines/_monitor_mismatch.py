"""CROP_MISMATCH (see :mod:`pipelines.monitor`'s docstring): the rule on the declared crop's probability and the
season's cohort evidence (:func:`mismatch_mask`, :func:`mismatch_passes`, :func:`mismatch_cohort`), and when an
alert was raised from the crop-type model's earlier checkpoints (:func:`mismatch_history`,
:func:`first_mismatch_raise`, :func:`first_cohort_pass`). Re-exported by :mod:`pipelines.monitor`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio
from pipelines._monitor_obs import _r
from pipelines._monitor_params import AlertParams

__all__ = ["mismatch_mask", "mismatch_candidates", "candidate_prob", "mismatch_passes", "INFINITE_RATIO",
           "ratio_evidence", "mismatch_cohort", "mismatch_history", "first_mismatch_raise", "first_cohort_pass"]


def mismatch_mask(fields: pd.DataFrame, params: AlertParams, cohort: np.ndarray | None = None) -> np.ndarray:
    """CROP_MISMATCH per row of ``fields``. Without ``cohort`` (the rows' :func:`pipelines._monitor_cohort.cohort_ratio`,
    NaN = no evidence): the declared crop's probability (``declared_crop_prob``) below the policy's ``mismatch_prob``
    (the same test as the decision's CROP_MISMATCH reason). With it, :func:`mismatch_passes`: that test unless the
    season's own fields declared as the crop look like it (ratio at most ``mismatch_cohort_ratio``), or — the season's
    evidence raising what the model alone leaves in doubt — a probability below ``mismatch_season_prob`` with the
    field at least ``mismatch_season_ratio`` times nearer the fields declared as the model's crop than those declared
    as its own. Requiring a confident call of another crop as well was tried on the demo counties (the model's
    confident mid-season errors in a cloudy season, rice taken for maize at 0.97-0.99, pass it too): alert precision
    0.24 -> 0.31 for recall 0.70 -> 0.52 on sh-demo 2009 — not adopted."""
    prob = _declared_probs(fields)
    if cohort is None:
        with np.errstate(invalid="ignore"):
            return np.asarray(np.isfinite(prob) & (prob < params.mismatch_prob), dtype=bool)
    return np.asarray([mismatch_passes(float(pr), float(r), params) for pr, r in zip(prob, cohort, strict=True)],
                      dtype=bool)


def _declared_probs(fields: pd.DataFrame) -> np.ndarray:
    """The rows' declared-crop probability (``declared_crop_prob``; NaN without the column)."""
    return fields["declared_crop_prob"].to_numpy(dtype=float) if "declared_crop_prob" in fields.columns \
        else np.full(len(fields), np.nan)


def mismatch_candidates(fields: pd.DataFrame, params: AlertParams) -> np.ndarray:
    """The rows of ``fields`` whose declared-crop probability could make a CROP_MISMATCH with the season's cohort
    evidence (:func:`mismatch_passes`): below the larger of ``mismatch_prob`` and, with the cohort check on,
    ``mismatch_season_prob``."""
    prob = _declared_probs(fields)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(prob) & (prob < candidate_prob(params)), dtype=bool)


def candidate_prob(params: AlertParams) -> float:
    """The declared-crop probability below which a CROP_MISMATCH is possible (see :func:`mismatch_candidates`)."""
    if params.mismatch_cohort_days > 0 and params.mismatch_season_ratio > 0:
        return max(params.mismatch_prob, params.mismatch_season_prob)
    return params.mismatch_prob


def mismatch_passes(prob: float, ratio: float, params: AlertParams) -> bool:
    """The CROP_MISMATCH rule on one declared-crop probability and the cohort ratio of the same date (NaN: no
    evidence): below ``mismatch_prob`` and not vetoed by the cohort (ratio ≤ ``mismatch_cohort_ratio``), or below
    ``mismatch_season_prob`` with the cohort at least ``mismatch_season_ratio`` (the season's fields declared as the
    model's crop look like it far more than those declared as its own). ``mismatch_season_ratio`` 0 (or the cohort
    check off) turns the second branch off."""
    if not np.isfinite(prob):
        return False
    has = bool(np.isfinite(ratio)) or ratio == float("inf")
    if prob < params.mismatch_prob and not (has and ratio <= params.mismatch_cohort_ratio):
        return True
    return bool(params.mismatch_cohort_days > 0 and params.mismatch_season_ratio > 0 and has
                and prob < params.mismatch_season_prob and ratio >= params.mismatch_season_ratio)


#: the evidence's cohort ratio of a field at distance 0 from the model crop's cohort (infinitely nearer it than its
#: declared crop's): JSON has no infinity, and a number would read as a measured ratio
INFINITE_RATIO = "∞"


def ratio_evidence(ratio: float) -> float | str | None:
    """A cohort ratio as the evidence of a CROP_MISMATCH gives it (monitor and `evaluate alerts` alike): rounded to 4
    decimals, :data:`INFINITE_RATIO` when infinite (the field at distance 0 from the model crop's cohort), None when
    there is no evidence (NaN: left out of the evidence)."""
    r = float(ratio)
    if r == float("inf"):
        return INFINITE_RATIO
    return _r(r) if np.isfinite(r) else None


def mismatch_cohort(obs: pd.DataFrame | SeasonTrajectories, fields: pd.DataFrame, as_of: pd.Timestamp,
                    params: AlertParams, rows: np.ndarray) -> np.ndarray:
    """:func:`pipelines._monitor_cohort.cohort_ratio` as of ``as_of`` for the ``rows`` (boolean mask) of
    ``fields`` (field_id, crop — the declared crop —, crop_type — the model's), NaN elsewhere or when the check is
    off; ``obs``: the season's clear NDVI (or its :class:`SeasonTrajectories`), all fields. With a
    ``declared_crop`` column (season_alerts fills ``crop`` with the model's answer where nothing was declared),
    the cohorts hold DECLARED fields only: a field the model merely calls a crop does not vouch for what that
    crop looks like."""
    out = np.full(len(fields), np.nan)
    if params.mismatch_cohort_days <= 0 or "crop_type" not in fields.columns or not rows.any():
        return out
    traj = obs if isinstance(obs, SeasonTrajectories) else SeasonTrajectories(obs)
    fid = fields["field_id"].astype(str)
    declared = fields["declared_crop"] if "declared_crop" in fields.columns else fields["crop"]
    ratio = cohort_ratio(traj, pd.Series(declared.to_numpy(), index=fid),
                         pd.Series(fields["crop_type"].to_numpy(), index=fid), as_of, fid[rows],
                         window=params.mismatch_cohort_days, k=params.mismatch_cohort_k)
    out[rows] = [ratio[f] for f in fid[rows]]
    return out


def mismatch_history(crop_model: Any, series: pd.DataFrame, fields: pd.DataFrame, as_of: date
                     ) -> pd.DataFrame | None:
    """The crop-type model's probabilities of the season's ``fields`` at each of its checkpoints up to ``as_of``:
    field_id, as_of (the checkpoint's date, from which they held), crop_type, crop_type_prob, declared_crop_prob —
    what a monitor run on that date computed (the features are cut at the checkpoint, the season calibration
    estimated from the same declared fields; ``series``: the season's FieldTimeSeries). None without a model or
    a checkpoint before ``as_of``."""
    if crop_model is None or not len(fields) or not getattr(crop_model, "checkpoints_", None):
        return None
    from features.crop_type import field_windows

    f = fields.drop(columns="geometry", errors="ignore").drop_duplicates(["field_id", "season"])
    f = f.reset_index(drop=True)
    win = field_windows(f, season_days=crop_model.season_days)
    starts = pd.to_datetime(win["start"]).dt.normalize()
    ends = pd.to_datetime(win["end"]).dt.normalize()
    cutoff = pd.Timestamp(as_of)
    days = sorted({int(c) for c in crop_model.checkpoints_ if c != "end"})
    dates = {s0 + pd.Timedelta(days=c) for s0 in starts.unique() for c in days}
    if "end" in crop_model.checkpoints_:  # from the window's end the season-end model is in force (a review found
        dates |= set(ends.unique())       # its probability labelled with the last in-season checkpoint's date)
    frames = []
    for d in sorted(d for d in dates if d <= cutoff):
        pr = crop_model.predict(series, f, as_of=d.date())
        ck = pr["checkpoint"].astype(object)
        is_end = (ck == "end").to_numpy()
        days_in = pd.to_numeric(ck.where(~is_end), errors="coerce")
        at = (starts + pd.to_timedelta(days_in, unit="D")).where(~is_end, ends)
        keep = (ck.notna() & (at == d)).to_numpy()  # the fields whose checkpoint falls on d
        if keep.any():
            frames.append(pd.DataFrame({"field_id": pr["field_id"].astype(str)[keep], "as_of": d,
                                        "crop_type": pr["crop_type"][keep], "crop_type_prob": pr["crop_type_prob"][keep],
                                        "declared_crop_prob": pr["declared_crop_prob"][keep]}))
    return pd.concat(frames, ignore_index=True) if frames else None


def _mismatch_since(obs: pd.DataFrame, fields: pd.DataFrame, mismatch: np.ndarray, history: pd.DataFrame | None,
                    grid: np.ndarray, cutoff: pd.Timestamp, p: AlertParams
                    ) -> dict[str, tuple[pd.Timestamp | None, list[list[Any]], float]]:
    """field_id → (the date its CROP_MISMATCH was raised, [checkpoint date, declared-crop probability] from the first
    checkpoint of the run below :func:`candidate_prob` that raised it to the one in force on ``cutoff`` (whose
    probability the features give; higher ones between included), the cohort ratio on that date) for the ``mismatch``
    rows of ``fields`` (the candidates, :func:`mismatch_candidates`): the date is :func:`first_mismatch_raise`'s — the
    first acquisition of ``grid``, from the first checkpoint below :func:`candidate_prob`, on which the cohort check
    (with the crop the model called then) let the alert through — as `evaluate alerts` replays it, and as NOT_PLANTED
    is raised; None when no acquisition has yet (not raised yet: a first version dated it with the date asked, so a
    query on the checkpoint's day dated it then and a later one at the next acquisition; a second, at the checkpoint's
    own date, departed from the rule the evaluation measures — the review of the fixes; a third looked at the latest
    run of low checkpoints only)."""
    if history is None or history.empty:
        return {}
    fid_all = fields["field_id"].astype(str)
    declared_col = fields["declared_crop"] if "declared_crop" in fields.columns else fields["crop"]
    declared = pd.Series(declared_col.to_numpy(), index=fid_all)
    probs_now = _declared_probs(fields)
    hist = history[history["as_of"] <= cutoff].sort_values(["field_id", "as_of"], kind="stable")
    rows_of = {str(k): g for k, g in hist.groupby(hist["field_id"].astype(str), sort=False)}
    traj = functools.cache(lambda: SeasonTrajectories(obs))  # built on first need
    cp = candidate_prob(p)
    out: dict[str, tuple[pd.Timestamp | None, list[list[Any]], float]] = {}
    for fid, now in zip(fid_all[mismatch], probs_now[mismatch], strict=True):
        g = rows_of.get(fid)
        if g is None or g.empty:
            continue
        at = list(pd.to_datetime(g["as_of"]))
        pr = g["declared_crop_prob"].to_numpy(dtype=float, copy=True)
        pr[-1] = now  # the checkpoint in force: the features' probability stands for it
        k, hit, ratio = first_mismatch_raise(traj, declared, fid, at, pr, g["crop_type"].to_numpy(dtype=object),
                                             grid, p, until=cutoff + pd.Timedelta(days=1))
        if k is None or hit is None:
            out[fid] = (None, [], float("nan"))  # no acquisition since a run began lets it through yet: not raised yet
            continue
        first = k  # the run of checkpoints below candidate_prob that raised it, from its first, up to the one in force
        with np.errstate(invalid="ignore"):
            while first > 0 and np.isfinite(pr[first - 1]) and pr[first - 1] < cp:
                first -= 1
        run = [[str(a.date()), _r(v)] for a, v in zip(at[first:], pr[first:], strict=True)]
        out[fid] = (min(hit, cutoff), run, ratio)
    return out


def first_mismatch_raise(traj: Callable[[], SeasonTrajectories], declared: pd.Series, fid: str,
                         at: list[pd.Timestamp], probs: np.ndarray, called: np.ndarray, grid: np.ndarray,
                         p: AlertParams, *, until: pd.Timestamp | None = None
                         ) -> tuple[int | None, pd.Timestamp | None, float]:
    """When a CROP_MISMATCH of ``fid`` was raised, from the crop-type model's checkpoints of the field (``at`` in date
    order, the declared crop's probability ``probs`` and the crop ``called`` on each): the first checkpoint ``k`` whose
    probability is below :func:`candidate_prob` with an acquisition of ``grid`` from it until the next checkpoint's
    date (the last: until ``until``, excluded; None: the grid's end) on which the rule (:func:`first_cohort_pass`) lets
    it through — (k, that acquisition, the cohort ratio then); (None, None, NaN) when none does. A run of low
    checkpoints interrupted by a high one (the model agreeing with the declaration for a while) keeps the date the
    first run raised it: an alert is dated by when it was first raised and stays raised, as NOT_PLANTED and every
    other alert, and as the evaluation scores its delay. Monitor's dating and `evaluate alerts`' replay both ask it."""
    cp = candidate_prob(p)
    for k, (a, pr) in enumerate(zip(at, probs, strict=True)):
        if not (np.isfinite(pr) and pr < cp):
            continue
        a = pd.Timestamp(a)
        later = [b for b in at[k + 1:] if pd.Timestamp(b) > a]
        end = pd.Timestamp(later[0]) if later else until
        cand = grid[grid >= a.to_datetime64()]
        if end is not None:
            cand = cand[cand < end.to_datetime64()]
        c = called[k]
        hit, ratio = first_cohort_pass(traj, declared, fid, c if isinstance(c, str) else None, cand, p, prob=float(pr))
        if hit is not None:
            return k, hit, ratio
    return None, None, float("nan")


def first_cohort_pass(traj: Callable[[], SeasonTrajectories], declared: pd.Series, fid: str, called: Any,
                      dates: Iterable[Any], p: AlertParams, *, prob: float | None = None
                      ) -> tuple[pd.Timestamp | None, float]:
    """The first of ``dates`` on which the CROP_MISMATCH rule with the season's cohort (:func:`mismatch_passes`) lets
    an alert of ``fid`` through — declared ``declared[fid]``, the model calling it ``called`` with the declared crop at
    ``prob`` (None: below ``mismatch_prob``, the cohort only able to veto) — and the cohort ratio then (NaN: no
    evidence, or the check off); (None, NaN) when none does. ``traj``: the season's trajectories (called on first
    need). Monitor's dating and `evaluate alerts`' replay both ask it."""
    pr = -1.0 if prob is None else prob
    for d in dates:
        ratio = float("nan") if p.mismatch_cohort_days <= 0 or called is None else cohort_ratio(
            traj(), declared, pd.Series({fid: called}), pd.Timestamp(d), [fid], window=p.mismatch_cohort_days,
            k=p.mismatch_cohort_k)[fid]
        if mismatch_passes(pr, ratio, p):
            return pd.Timestamp(d), ratio
    return None, float("nan")
