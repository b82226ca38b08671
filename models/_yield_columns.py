"""What the yield model (:mod:`models.yield_value`) reads of feature rows: the crop of each row (:func:`crop_of`,
:func:`known_crop`), the numeric columns it may use as features (never those of :data:`_NEVER`), the season year and
the day of the season year a row is as of; and the quantile columns it predicts (:data:`QUANTILE_COLUMNS`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.errors import ModelInputError

QUANTILE_COLUMNS = ("yield_p10_t_ha", "yield_p50_t_ha", "yield_p90_t_ha")
_CATEGORICAL = ("crop", "region")
_NAME = "yield-value"
#: columns never used as features even when numeric (targets, truth, money; the crop model's probabilities and
#: its season calibration — ``crop_season_scale`` is one number per season, in-sample on the training seasons)
_NEVER = frozenset({"yield_t_ha", "reported_yield_t_ha", "true_yield_t_ha", "history_yield_t_ha", "history_seasons",
                    "season_year", "as_of_day", "value_p10",
                    "value_p50", "value_p90", "price_per_t", "crop_type_prob", "declared_crop_prob", "crop_season_scale",
                    *QUANTILE_COLUMNS})


def crop_of(X: pd.DataFrame) -> pd.Series:
    """The crop of each row: ``crop`` if given, else ``crop_type`` falling back to ``declared_crop``."""
    if "crop" in X.columns:
        return X["crop"].astype("str")
    if "crop_type" in X.columns:
        s = X["crop_type"]
        if "declared_crop" in X.columns:
            s = s.fillna(X["declared_crop"])
        return s.astype("str")
    if "declared_crop" in X.columns:
        return X["declared_crop"].astype("str")
    raise ModelInputError(model=_NAME, missing=["crop (or crop_type / declared_crop)"], unseen=[])


def known_crop(X: pd.DataFrame) -> np.ndarray:
    """Rows with a crop to value (:func:`crop_of` neither missing nor empty): a field without a declared or
    predicted crop has no price and is not valued."""
    crop = crop_of(X)
    return crop.notna().to_numpy() & ~crop.isin(["nan", "None", "<NA>", ""]).to_numpy()


def _numeric_columns(X: pd.DataFrame, exclude: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> list[str]:
    skip = _NEVER | set(exclude) | set(_CATEGORICAL)
    out = []
    for c in X.columns:
        s = X[c]
        if c in skip or str(c).startswith(tuple(prefixes)) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out.append(str(c))
    return out


def _season_year(X: pd.DataFrame) -> np.ndarray:
    if "season" not in X.columns:
        raise ModelInputError(model=_NAME, missing=["season"], unseen=[])
    return pd.to_numeric(X["season"].astype("str"), errors="coerce").to_numpy(dtype="float64")


def _as_of_day(X: pd.DataFrame) -> np.ndarray:
    """Days from 1 January of the season year to ``as_of`` (negative for autumn-sown crops)."""
    if "as_of" not in X.columns:
        raise ModelInputError(model=_NAME, missing=["as_of"], unseen=[])
    as_of = pd.to_datetime(X["as_of"])
    start = pd.to_datetime(X["season"].astype("str") + "-01-01", errors="coerce")
    return ((as_of - start).dt.days).to_numpy(dtype="float64", na_value=np.nan)
