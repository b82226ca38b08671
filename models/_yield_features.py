"""Yield-model features derived from FieldFeatures columns the booster cannot read directly (columnar).

FieldFeatures carry the field's own phenology as dates (``emergence_date``, ``sos_date``,
``peak_date``, ``eos_date``, ``maturity_date``, ``harvest_date``, ``expected_harvest_date``).
A booster reads numbers only, so these dates were left out of the yield model. Here every date becomes
its day counted from 1 January of the season year (negative for an autumn-sown crop's sowing or
emergence), and the spans between stages become features of their own: peak → maturity and
peak → end of season (the length of grain fill, which heat and drought cut short), start → end of
season, and emergence → maturity. Missing dates stay NaN (the booster routes them), and so does a
date column absent at prediction time (only ``emergence_date``, ``peak_date`` and
``expected_harvest_date`` are in the FieldFeatures contract; the others come from the optional phenology family).

A winter crop's calendar-fixed composites mix its own spring with the previous summer crop's
autumn and the next season's sowing, and a late season shifts every composite; the spans are the
same whatever the calendar.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["DATE_COLUMNS", "SPANS", "date_feature_names", "date_features", "date_sources"]

#: FieldFeatures date columns turned into days of the season year (``day_<column>``)
DATE_COLUMNS = ("emergence_date", "sos_date", "peak_date", "eos_date", "maturity_date", "harvest_date",
                "expected_harvest_date")
#: spans in days: name → (from, to) date column
SPANS = {"span_peak_maturity": ("peak_date", "maturity_date"), "span_peak_eos": ("peak_date", "eos_date"),
         "span_sos_eos": ("sos_date", "eos_date"), "span_emergence_maturity": ("emergence_date", "maturity_date")}


def date_feature_names(columns: Iterable[object]) -> list[str]:
    """The derived feature names available from ``columns`` (the date columns present, and the spans of them)."""
    have = {str(c) for c in columns}
    out = [f"day_{c}" for c in DATE_COLUMNS if c in have]
    out += [n for n, (a, b) in SPANS.items() if a in have and b in have]
    return out


def date_sources(names: Iterable[str]) -> list[str]:
    """The FieldFeatures date columns that the derived features ``names`` read, in :data:`DATE_COLUMNS` order."""
    need = {n[4:] for n in names if n.startswith("day_")} | {c for n in names if n in SPANS for c in SPANS[n]}
    return [c for c in DATE_COLUMNS if c in need]


def _days(X: pd.DataFrame, col: str, jan1: np.ndarray) -> np.ndarray:
    if col not in X.columns:  # the phenology family is optional: an absent date is an unknown one
        return np.full(len(X), np.nan)
    d = pd.to_datetime(X[col], errors="coerce").to_numpy(dtype="datetime64[ns]")
    out = (d - jan1).astype("timedelta64[D]").astype("float64")
    out[np.isnat(d) | np.isnat(jan1)] = np.nan
    return out


def date_features(X: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """The columns ``names`` (from :func:`date_feature_names`) computed on ``X`` (needs ``season``)."""
    if not names:
        return {}
    years = pd.to_numeric(X["season"].astype("str"), errors="coerce").to_numpy(dtype="float64")
    jan1 = np.full(len(X), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(years)
    jan1[ok] = (years[ok].astype("int64") - 1970).astype("datetime64[Y]").astype("datetime64[ns]")
    days = {c: _days(X, c, jan1) for c in date_sources(names)}
    out: dict[str, np.ndarray] = {}
    for n in names:
        if n.startswith("day_"):
            out[n] = days[n[4:]]
        else:
            a, b = SPANS[n]
            out[n] = days[b] - days[a]
    return out
