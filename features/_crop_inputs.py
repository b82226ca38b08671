"""The inputs of :class:`features.crop_type.CropTypeClassifier` (a base of it, methods moved verbatim): its feature
frames at a checkpoint (:meth:`~CropTypeInputs.features`, the fit's through a :class:`FeatureCache`), the inputs an
input profile summarises (:meth:`~CropTypeInputs.input_frame`), the matrix LightGBM reads, and the name of a
checkpoint's model (:func:`checkpoint_key`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from features._crop_features import FeatureCache
from features._seasonal import field_windows, seasonal_features
from features.errors import UserInputError


def checkpoint_key(c: int | str) -> str:
    """Name of a checkpoint's model (``d090``, ``end``): the keys of ``boosters_``, ``oof_proba_``..."""
    return "end" if c == "end" else f"d{int(c):03d}"


class CropTypeInputs:
    """Feature frames and inputs of :class:`~features.crop_type.CropTypeClassifier` (which sets the attributes below
    in ``__init__`` and ``fit``)."""

    period_days: int
    derivatives: bool
    raw_metrics: bool
    season_days: int | None
    n_periods_: int
    variables_: list[str]
    context_: list[str]
    categories_: dict[str, list[str]]
    feature_names_in_: list[str]

    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise UserInputError("crop type: this classifier is not fitted yet; call fit() or load() first")

    # ---------------------------------------------------------------- features
    def features(self, series: pd.DataFrame, fields: pd.DataFrame, *, checkpoint: int | str = "end",
                 as_of: Any = None) -> pd.DataFrame:
        """Feature frame (keys, seasonal features cut off at ``checkpoint``, context columns)."""
        if not hasattr(self, "n_periods_"):
            self._check_fitted()
        feats = self._seasonal(series, fields, checkpoint, as_of)
        ctx = [c for c in self.context_ if c in fields.columns]
        if ctx:
            extra = fields[["field_id", "season", *ctx]].astype({"field_id": str, "season": str})
            feats = feats.merge(extra.drop_duplicates(["field_id", "season"]), on=["field_id", "season"], how="left")
        return feats

    def _seasonal(self, series: pd.DataFrame, fields: pd.DataFrame, checkpoint: int | str,
                  as_of: Any = None) -> pd.DataFrame:
        win = field_windows(fields, season_days=self.season_days)
        return seasonal_features(series, win, offset_days=None if checkpoint == "end" else int(checkpoint),
                                 as_of=as_of, period_days=self.period_days, n_periods=self.n_periods_,
                                 variables=self.variables_, derivatives=self.derivatives,
                                 raw_metrics=self.raw_metrics)

    def _fit_features(self, series: pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame], rows: pd.DataFrame,
                      checkpoint: int | str, cache: FeatureCache) -> pd.DataFrame:
        """Features of ``rows`` (in order) at ``checkpoint`` through ``cache``, plus the context columns.
        ``series`` may be a function giving the series of the rows the cache misses."""
        config = (self.period_days, self.n_periods_, tuple(self.variables_), self.derivatives, self.raw_metrics,
                  self.season_days, checkpoint_key(checkpoint))
        feats = cache.get(config, rows, lambda sub: self._seasonal(series(sub) if callable(series) else series,
                                                                    sub, checkpoint))
        ctx = pd.DataFrame({c: rows[c].astype(object).to_numpy() for c in self.context_}, index=feats.index)
        return pd.concat([feats, ctx], axis=1)

    def input_frame(self, series: pd.DataFrame, rows: pd.DataFrame, checkpoint: int | str, *, as_of: Any = None,
                    cache: FeatureCache | None = None) -> pd.DataFrame:
        """The inputs the fitted model reads at ``checkpoint`` for ``rows`` (field_id, season, a region or
        ``season_start``, the context columns), one column per input in :attr:`feature_names_in_`'s order — a context
        column as its text —, in ``rows``' order: what an input profile summarises and input stability compares
        (:mod:`models.stability`). ``cache``: the fit's :class:`FeatureCache` (the training rows' features computed
        once; not with ``as_of``)."""
        self._check_fitted()
        if cache is not None and as_of is None:
            X = self._fit_features(series, rows, checkpoint, cache)
            return X[list(self.feature_names_in_)].reset_index(drop=True)
        X = self.features(series, rows, checkpoint=checkpoint, as_of=as_of)
        keys = pd.MultiIndex.from_arrays([rows["field_id"].astype(str), rows["season"].astype(str)])
        X = X.set_index([X["field_id"].astype(str), X["season"].astype(str)])
        return X.reindex(keys)[list(self.feature_names_in_)].reset_index(drop=True)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for name in self.feature_names_in_:
            if name in self.categories_:
                cats = {v: i for i, v in enumerate(self.categories_[name])}
                cols.append(np.array([cats.get(v, np.nan) if isinstance(v, str) else np.nan
                                      for v in X[name].astype(object)], dtype="float64"))
            else:
                cols.append(X[name].to_numpy(dtype="float64", na_value=np.nan))
        return np.column_stack(cols) if cols else np.zeros((len(X), 0))

    def _aligned(self, feats: pd.DataFrame, lab: pd.DataFrame) -> pd.DataFrame:
        keys = lab[["field_id", "season"]].astype({"field_id": str, "season": str})
        return keys.merge(feats, on=["field_id", "season"], how="left")
