"""Precomputed per-field series from a CSV or Parquet table, checked against FieldTimeSeries.

Two shapes are accepted:

- **long**: one row per field, date and variable with ``mean`` and the other statistics.
  Loose column names are cleaned at the edge (``id``/``parcel_id`` → ``field_id``,
  ``band``/``index`` → ``variable``, ``stDev``/``stdev``/``sd`` → ``std``,
  ``median`` → ``p50``, ``sampleCount`` → ``n_pixels``; ``n_clear`` from
  ``sampleCount - noDataCount`` as in Sentinel Hub Statistical API exports).
  Missing ``std``/``p10``/``p50``/``p90`` become NaN; ``n_pixels`` and ``n_clear``
  must be present (one may stand for the other).
- **wide**: one row per field (and variable, or one ``variable=`` for the file) with one
  column per date (``2019-05-03``, ``20190503``, ``mean_2019-05-03``) or per day of
  year (``doy_123``, counted from 1 January of the season's year; > 365 runs into the
  next year). Cells are means. Pixel counts come from ``n_pixels``/``n_clear`` columns
  if present, else from ``pixel_counts`` (e.g. estimated from the field area); a cell
  that is empty has ``n_clear`` 0.

Statistics must be numbers: a cell that is not one (a decimal comma ``0,61``, text) is refused, naming the
column and the rows (field/date/variable), instead of becoming a NaN with its pixel counts kept; so are means
and percentiles out of range (:data:`features.contracts.VARIABLE_RANGES`: indices in [-1, 1], reflectance
bands in [0, 2] — NDVI as a percentage, digital numbers).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from features.contracts import (
    FIELD_TIME_SERIES,
    VARIABLES,
    check_field_time_series,
    check_season,
    check_variable_ranges,
)
from features.errors import ContractError, ImageryError

__all__ = ["TABLE_SUFFIXES", "is_series_table", "read_series_table"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_ALIASES = {"id": "field_id", "parcel_id": "field_id", "fieldid": "field_id", "band": "variable", "index": "variable",
            "stdev": "std", "st_dev": "std", "sd": "std", "median": "p50", "samplecount": "n_pixels",
            "sample_count": "n_pixels", "nodatacount": "no_data_count", "no_data_count": "no_data_count",
            "percentile_10": "p10", "percentile_50": "p50", "percentile_90": "p90", "acquisition_date": "date",
            "interval_from": "date", "count": "n_clear"}
_DATE_COL = re.compile(r"^(?:mean_)?(\d{4}-\d{2}-\d{2}|\d{8})$")
_DOY_COL = re.compile(r"^doy_?(\d{1,3})$", re.IGNORECASE)
_STATS = ("mean", "std", "p10", "p50", "p90")


def is_series_table(path: str | Path) -> bool:
    """True for a CSV/Parquet file that is not a scene index."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() in TABLE_SUFFIXES and p.name != "index.csv"


def _read(p: Path) -> pd.DataFrame:
    if not p.is_file():
        raise ImageryError(source=str(p), problem="series table not found")
    try:
        if p.suffix.lower() == ".csv":
            return pd.read_csv(p, dtype={"field_id": str, "id": str, "parcel_id": str, "season": str})
        return pd.read_parquet(p)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ImageryError(source=p.name, problem=f"unreadable series table ({type(e).__name__})") from None


def _clean_names(df: pd.DataFrame) -> pd.DataFrame:
    ren = {}
    for c in df.columns:
        key = str(c).strip().lower()
        if key in _ALIASES and _ALIASES[key] not in df.columns:
            ren[c] = _ALIASES[key]
        elif key != c and key in {"field_id", "season", "date", "variable", *_STATS, "n_pixels", "n_clear"}:
            ren[c] = key
    return df.rename(columns=ren)


def _wide_dates(cols: list[str], season: str | None) -> dict[str, pd.Timestamp]:
    out: dict[str, pd.Timestamp] = {}
    for c in cols:
        m = _DATE_COL.match(str(c).strip())
        if m:
            s = m.group(1)
            out[c] = pd.Timestamp(s if "-" in s else f"{s[:4]}-{s[4:6]}-{s[6:]}")
            continue
        m = _DOY_COL.match(str(c).strip())
        if m:
            if season is None:
                raise ImageryError(source="series table", problem="day-of-year columns need a season", offenders=[c])
            base = dt.date(int(season), 1, 1)
            out[c] = pd.Timestamp(base + dt.timedelta(days=int(m.group(1)) - 1))
    return out


def _from_wide(df: pd.DataFrame, season: str | None, variable: str | None,
               pixel_counts: Mapping[str, int] | None, src: str) -> pd.DataFrame:
    dates = _wide_dates([str(c) for c in df.columns], season)
    if "variable" not in df.columns:
        if variable is None:
            # the CLI has no option for ``variable=`` (the Python API's): the message names the column only
            raise ImageryError(source=src, problem="a wide table (one column per date) needs a 'variable' column "
                               "naming each row's index (NDVI, EVI, NDRE, NDWI, NDMI or a band): one row per field "
                               "and variable")
        df = df.assign(variable=variable)
    ids = [c for c in ("field_id", "season", "variable", "n_pixels", "n_clear") if c in df.columns]
    long = df[ids + list(dates)].melt(id_vars=ids, var_name="_col", value_name="mean")
    long["date"] = long["_col"].map(dates)
    long = long.drop(columns="_col")
    if "n_pixels" not in long.columns:
        if pixel_counts is None:
            raise ImageryError(source=src, problem="a wide table needs n_pixels columns or pixel counts from the fields")
        long["n_pixels"] = long["field_id"].astype(str).map(pixel_counts)
        if long["n_pixels"].isna().any():
            raise ImageryError(source=src, problem="fields without a pixel count",
                               offenders=sorted(set(long.loc[long["n_pixels"].isna(), "field_id"].astype(str))))
    has = long["mean"].notna()
    base_clear = long["n_clear"] if "n_clear" in long.columns else long["n_pixels"]
    long["n_clear"] = np.where(has, base_clear, 0)
    return long


#: an ISO timestamp's UTC offset (``Z``, ``+02:00``, ``-0500``), after a time of day
_OFFSET = r"^(\d{4}-?\d{2}-?\d{2}[T ]\d{2}:?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def read_series_table(path: str | Path, *, season: str | None = None, variable: str | None = None,
                      pixel_counts: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Read a long or wide per-field series table into a checked FieldTimeSeries frame.

    ``season`` fills a missing season column (and anchors day-of-year columns); rows of
    other seasons are dropped when it is given. ``variable`` names the variable of a
    wide table without a variable column.
    """
    p = Path(path)
    src = p.name
    df = _clean_names(_read(p))
    if "field_id" not in df.columns:
        raise ContractError(table=src, column="field_id", expected="column present", found="missing")
    if season is not None:
        season = check_season(season)
    if "date" not in df.columns:
        df = _from_wide(df, season, variable, pixel_counts, src)
    elif "no_data_count" in df.columns and "n_pixels" in df.columns and "n_clear" not in df.columns:
        df["n_clear"] = df["n_pixels"] - df["no_data_count"]
    if "n_pixels" not in df.columns and "n_clear" in df.columns:
        df["n_pixels"] = df["n_clear"]
    if "n_clear" not in df.columns and "n_pixels" in df.columns:
        df["n_clear"] = np.where(df["mean"].notna(), df["n_pixels"], 0) if "mean" in df.columns else df["n_pixels"]
    if "season" not in df.columns:
        if season is None:
            raise ContractError(table=src, column="season", expected="column present or a season given", found="missing")
        df["season"] = season
    for c in _STATS:
        if c not in df.columns:
            df[c] = np.nan
    missing = [c for c in FIELD_TIME_SERIES.names if c not in df.columns]
    if missing:
        raise ContractError(table=src, column=missing[0], expected="column present", found="missing")
    df["field_id"] = df["field_id"].astype("str")
    df["season"] = df["season"].astype("str").str.replace(r"\.0$", "", regex=True)
    df["variable"] = df["variable"].astype("str").str.strip().str.upper()
    df["variable"] = df["variable"].replace({v.upper(): v for v in VARIABLES})
    bad_var = ~df["variable"].isin(VARIABLES)
    if bad_var.any():
        raise ContractError(table=src, column="variable", expected=f"one of {', '.join(VARIABLES)}",
                            found="other names", offenders=sorted(set(df.loc[bad_var, "variable"])))
    # ISO only: a guessed format read day-first dates whose days are all <= 12 month-first, silently
    raw = df["date"].astype("string") if df["date"].dtype.kind in "iu" else df["date"]  # 20190601 read as a number
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        # each timestamp's own day, as a single offset gives it: offsets that change with daylight saving time
        # (+01:00, +02:00) or mixed with naive dates were refused as "unparseable"
        raw = raw.astype("string").str.strip().str.replace(_OFFSET, r"\1", regex=True)
    try:
        when = pd.to_datetime(raw, utc=False, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # offsets mixed with naive dates
        raise ContractError(table=src, column="date", expected="ISO dates (YYYY-MM-DD)",
                            found="unparseable values") from None
    bad_date = when.isna()
    if bad_date.any():
        raise ContractError(table=src, column="date", expected="ISO dates (YYYY-MM-DD)", found="other values",
                            offenders=list(dict.fromkeys(df.loc[bad_date, "field_id"] + "/" + df.loc[bad_date, "date"].astype(str))))
    df["date"] = when.dt.tz_localize(None).dt.normalize()
    keys = df["field_id"].astype(str) + "/" + df["date"].dt.strftime("%Y-%m-%d") + "/" + df["variable"].astype(str)
    for c in _STATS:
        num = pd.to_numeric(df[c], errors="coerce")
        text = df[c].astype("string").str.strip()
        bad = num.isna() & df[c].notna() & ~text.str.lower().isin(["", "nan", "na", "null", "none"]).fillna(True)
        if bad.any():  # a decimal comma ("0,61") or text would become NaN with n_clear kept: a silent gap
            raise ContractError(table=src, column=c, expected="numbers with a decimal point (not a comma)",
                                found="non-numeric values", offenders=list(keys[bad]))
        df[c] = num.astype("float64")
    for c in ("n_pixels", "n_clear"):
        num = pd.to_numeric(df[c], errors="coerce")
        if num.isna().any():
            raise ContractError(table=src, column=c, expected="integer pixel counts", found="missing values",
                                offenders=list(df.loc[num.isna(), "field_id"]))
        df[c] = num.round().astype("int64")
    check_variable_ranges(df, where=src)
    if season is not None:
        df = df[df["season"] == season]
    out = df[FIELD_TIME_SERIES.names].sort_values(["field_id", "season", "date", "variable"], kind="mergesort")
    out = out.reset_index(drop=True)
    return check_field_time_series(out, where=src)
