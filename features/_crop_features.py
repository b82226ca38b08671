"""Crop-type feature plumbing: a per-row feature cache and fold-independent cloud-gap copies.

- :class:`FeatureCache` keeps the seasonal features of every (field_id, season) already computed,
  per classifier configuration and checkpoint, and computes only the rows it has not seen. The
  features of a row depend on that row's observations and window only (fixed periods and
  variables), so an evaluation that fits many models on overlapping seasons (leave-one-season-out,
  a spatial block, the current season) computes each row's features once instead of once per fit.
- :func:`check_feature_names`: a feature frame has exactly the columns the model was fitted on (besides
  the key columns).
- :func:`gap_plan` draws each training row's cloud gap from a hash of (seed, copy, field, season),
  not from a generator walked over the training table, so a row's augmented copy is the same
  whichever other rows are trained with it (and so can be cached too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders

__all__ = ["FeatureCache", "GapSeries", "check_feature_names", "gap_plan", "group_folds", "row_uniforms"]

_KEYS = ["field_id", "season"]


class FeatureCache:
    """Feature tables keyed by (field_id, season), one per ``key`` (configuration + checkpoint).

    :meth:`get` returns the features of ``rows`` in their order, computing (with ``compute``,
    given the missing rows) only what is not cached yet. ``hits``/``misses`` count rows.
    """

    def __init__(self) -> None:
        self._tables: dict[Hashable, pd.DataFrame] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._tables)

    def get(self, key: Hashable, rows: pd.DataFrame,
            compute: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
        """Features (field_id, season, feature columns) of ``rows`` in order; missing rows computed."""
        want = rows[_KEYS].astype({"field_id": str, "season": str}).reset_index(drop=True)
        idx = pd.MultiIndex.from_frame(want)
        table = self._tables.get(key)
        missing = np.ones(len(want), dtype=bool) if table is None else ~idx.isin(table.index)
        if missing.any():
            sub = rows.reset_index(drop=True).loc[missing].drop_duplicates(_KEYS).reset_index(drop=True)
            new = compute(sub).astype({"field_id": str, "season": str}).drop_duplicates(_KEYS)
            new = new.set_index(_KEYS)
            table = new if table is None else pd.concat([table, new]).copy()  # .copy(): one block
            self._tables[key] = table
        assert table is not None
        self.misses += int(missing.sum())
        self.hits += int((~missing).sum())
        return pd.concat([want, table.reindex(idx).reset_index(drop=True)], axis=1)


def row_uniforms(field_ids: pd.Series, seasons: pd.Series, salt: str, n: int = 3) -> np.ndarray:
    """``n`` uniforms in [0, 1) per row from a hash of (salt, field_id, season): (len, n), deterministic."""
    out = np.empty((len(field_ids), n))
    for i, (f, s) in enumerate(zip(field_ids.astype(str), seasons.astype(str))):
        d = hashlib.blake2b(f"{salt}|{f}|{s}".encode(), digest_size=4 * n).digest()
        out[i] = np.frombuffer(d, dtype="<u4") / 2.0**32
    return out


def gap_plan(windows: pd.DataFrame, *, seed: int, copy: int, share: float) -> pd.DataFrame:
    """Cloud gap of copy ``copy`` for each window row (field_id, season, start, end).

    Returns field_id, season, ``selected`` (the row gets this copy: its uniform < ``share``),
    ``gap_start`` (uniform in the first 60% of the season) and ``gap_end`` (30-60 days later).
    """
    u = row_uniforms(windows["field_id"], windows["season"], f"gap|{seed}|{copy}")
    length = (windows["end"] - windows["start"]).dt.days.to_numpy()
    g0 = windows["start"] + pd.to_timedelta(np.round(u[:, 1] * 0.6 * length), unit="D")
    g1 = g0 + pd.to_timedelta(30 + np.floor(u[:, 2] * 31), unit="D")
    return pd.DataFrame({"field_id": windows["field_id"].astype(str), "season": windows["season"].astype(str),
                         "selected": u[:, 0] < share, "gap_start": g0.to_numpy(), "gap_end": g1.to_numpy()})


class GapSeries:
    """Callable: the series of gap copies (rows: field_id = the copy's id, ``_orig``, season, ``_g0``,
    ``_g1``) — the original field's observations outside its gap; the last answer is kept, since
    every checkpoint asks for the same copies."""

    def __init__(self, series: pd.DataFrame) -> None:
        self.series = series
        self._last: tuple[tuple[str, ...], pd.DataFrame] | None = None

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        ids = tuple(rows["field_id"].astype(str))
        if self._last is None or self._last[0] != ids:
            key = rows[["_orig", "season", "field_id", "_g0", "_g1"]].astype({"season": str})
            s = self.series.loc[self.series["field_id"].astype(str).isin(set(key["_orig"]))]
            s = s.astype({"field_id": str, "season": str}).rename(columns={"field_id": "_orig"})
            s = s.merge(key, on=["_orig", "season"], how="inner")
            d = pd.to_datetime(s["date"])
            self._last = (ids, s.loc[(d < s["_g0"]) | (d > s["_g1"])].drop(columns=["_orig", "_g0", "_g1"]))
        return self._last[1]


def group_folds(groups: np.ndarray, field_ids: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Out-of-fold assignment: whole groups (seasons, or regions) per fold, or fields when one group."""
    k = max(int(k), 0)
    uniq = sorted(set(groups))
    if k < 2:
        return np.zeros(len(groups), dtype=int)
    if len(uniq) >= 2:
        rank = {s: i % min(k, len(uniq)) for i, s in enumerate(uniq)}
        return np.array([rank[s] for s in groups], dtype=int)
    ids = sorted(set(field_ids))
    perm = np.random.default_rng(seed).permutation(len(ids))
    gfold = {g: int(perm[i]) % k for i, g in enumerate(ids)}
    return np.array([gfold[f] for f in field_ids], dtype=int)


def check_feature_names(expected: list[str], X: pd.DataFrame, key_columns: tuple[str, ...]) -> None:
    """A :class:`UserInputError` naming the columns of ``X`` missing from ``expected`` (the columns seen at fit)
    and those not seen at fit time (``key_columns`` aside)."""
    have = [str(c) for c in X.columns]
    missing = [c for c in expected if c not in have]
    unseen = [c for c in have if c not in expected and c not in key_columns]
    parts = []
    if missing:
        parts.append(f"missing columns {format_offenders(missing)}")
    if unseen:
        parts.append(f"columns unseen at fit time {format_offenders(unseen)}")
    if parts:
        raise UserInputError(f"crop type features: expected the {len(expected)} columns seen at fit; "
                             + "; ".join(parts))
