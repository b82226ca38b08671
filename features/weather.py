"""Weather as of a date: a daily station table and a small per-field feature family (``wx_*``).

A lender has weather where it lends: station records, or gridded series (CHIRPS rain, ERA5 temperature
and reference evapotranspiration) sampled at the county. The table (:data:`WEATHER`, a CSV read with
:func:`read_weather`) has one row per region (or station named like the fields' ``region``) and day:

``region, date, precip_mm, tmin_c, tmax_c, et0_mm`` — the columns of AquaCrop's station files.

:func:`weather_features` turns it into at most 12 columns per field *as of* a date, anchored on the
field's own phenology (``emergence_date``, and ``peak_date`` as the flowering proxy; the crop
calendar's emergence and flowering dates when the field has none) inside the season's window
(:func:`features.series.season_window`). Every window is cut at ``as_of``: a day after it is never
read (the daily series are sliced at each row's ``as_of`` before anything is summed).

- ``wx_rain_em_mm``, ``wx_cwb_em_mm``, ``wx_gdd_em``: rain, climatic water balance (rain − ET0) and
  growing degree days (base 10 °C; 0 °C for wheat) from emergence to as_of;
- ``wx_swi_asof``: a bucket soil-water index (0..1) on as_of — a 150 mm bucket started half full at the
  season window's start, filled by rain, emptied by ET0 scaled down below half full;
- around the peak (flowering proxy, peak − 10 … peak + 10 days): ``wx_swi_flower`` (mean index),
  ``wx_cwb_flower_mm``, ``wx_heat_flower_d`` (days with tmax ≥ 35 °C), ``wx_flower_days`` (days of the
  window seen so far);
- after it (grain fill, peak + 11 … peak + 50 days): ``wx_cwb_fill_mm``, ``wx_heat_fill_d``,
  ``wx_tmax_fill_c`` (mean tmax), ``wx_fill_days``.

Sums over a window not yet begun are 0 with 0 days; means over it are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders
from features.schema import Column, TableSpec

__all__ = ["WEATHER", "WEATHER_COLUMNS", "WeatherError", "add_weather", "check_weather", "gdd_base", "read_weather",
           "weather_coverage_problem", "weather_features"]

WEATHER = TableSpec(
    name="Weather",
    columns=(
        Column("region", "str", "—", "region (or station) the series stands for; matches the fields' region"),
        Column("date", "date", "day", "calendar day"),
        Column("precip_mm", "float", "mm/day", "precipitation", min=0.0, max=2000.0),
        Column("tmin_c", "float", "°C", "daily minimum air temperature", min=-90.0, max=60.0),
        Column("tmax_c", "float", "°C", "daily maximum air temperature", min=-90.0, max=60.0),
        Column("et0_mm", "float", "mm/day", "reference evapotranspiration (FAO-56 grass reference)", min=0.0,
               max=30.0),
    ),
    key=("region", "date"),
)

#: the feature family, in output order
WEATHER_COLUMNS = ("wx_rain_em_mm", "wx_cwb_em_mm", "wx_gdd_em", "wx_swi_asof", "wx_swi_flower", "wx_cwb_flower_mm",
                   "wx_heat_flower_d", "wx_flower_days", "wx_cwb_fill_mm", "wx_heat_fill_d", "wx_tmax_fill_c",
                   "wx_fill_days")
_BUCKET_MM = 150.0
_HEAT_C = 35.0
_FLOWER = (-10, 10)   # days around the peak
_FILL = (11, 50)      # days after the peak
_GDD_BASE = {"winter_wheat": 0.0, "wheat": 0.0, "barley": 0.0}
_GDD_DEFAULT = 10.0


def gdd_base(crop: object) -> float:
    """A crop's growing-degree-day base temperature (°C): 0 for wheat and barley, else 10."""
    return float(_GDD_BASE.get(str(crop), _GDD_DEFAULT))


class WeatherError(UserInputError):
    """Weather data that cannot be used: names the file, what was expected and what was found."""

    def __init__(self, *, where: str, problem: str, offenders: Sequence[object] = ()) -> None:
        self.where, self.problem, self.offenders = where, problem, list(offenders)
        msg = f"{where}: {problem}"
        if self.offenders:
            msg += f" {format_offenders(self.offenders)}"
        super().__init__(msg)


def _gaps(dates: pd.Series) -> list[str]:
    d = pd.DatetimeIndex(dates).sort_values()
    full = pd.date_range(d[0], d[-1], freq="D")
    return [x.strftime("%Y-%m-%d") for x in full.difference(d)]


def check_weather(df: pd.DataFrame, *, where: str = "weather", region: str | None = None,
                  seasons: Sequence[str] | None = None) -> pd.DataFrame:
    """Type and check a weather table (:data:`WEATHER`): columns, numbers, no duplicate (region, date), no missing day
    between a region's first and last day; with ``region``: that region is present; with ``seasons`` too: every
    day of those seasons' windows is present. Returns a typed copy sorted by region and date."""
    missing = [c for c in WEATHER.names if c not in df.columns]
    if missing:
        raise WeatherError(where=where, problem="missing column(s)", offenders=missing)
    out = df[WEATHER.names].copy()
    out["region"] = out["region"].astype("str")
    d = pd.to_datetime(out["date"].astype("str"), errors="coerce", format="ISO8601")
    bad = d.isna()
    if bad.any():
        raise WeatherError(where=where, problem="column date: expected ISO dates (YYYY-MM-DD), found",
                           offenders=out.loc[bad, "date"].astype("str").tolist())
    out["date"] = d.dt.normalize().astype("datetime64[ns]")
    for c in ("precip_mm", "tmin_c", "tmax_c", "et0_mm"):
        v = pd.to_numeric(out[c], errors="coerce")
        bad = v.isna()
        if bad.any():
            raise WeatherError(where=where, problem=f"column {c}: expected numbers, found missing or non-numeric "
                               "values on", offenders=(out.loc[bad, "region"] + " " + out.loc[bad, "date"]
                                                      .dt.strftime("%Y-%m-%d")).tolist())
        out[c] = v.astype("float64")
    WEATHER.check(out, where=where)  # the bounds: beyond Earth's records (a unit or a column mixed up)
    crossed = out["tmin_c"] > out["tmax_c"] + 2.0  # a clear inversion (station quirks of a degree pass)
    if crossed.any():
        raise WeatherError(where=where, problem="tmin_c above tmax_c (columns swapped?) on",
                           offenders=(out.loc[crossed, "region"] + " " + out.loc[crossed, "date"]
                                      .dt.strftime("%Y-%m-%d")).tolist())
    out = out.sort_values(["region", "date"], kind="stable").reset_index(drop=True)
    for r, g in out.groupby("region", sort=True):
        gaps = _gaps(g["date"])
        if gaps:
            raise WeatherError(where=where, problem=f"region {r}: expected every day from {g['date'].iloc[0]:%Y-%m-%d}"
                               f" to {g['date'].iloc[-1]:%Y-%m-%d}, missing", offenders=gaps)
    if region is not None:
        _need_region(out, region, where)
        if seasons:
            from features.series import season_window

            for s in seasons:
                a, b = season_window(str(s), region)
                problem = weather_coverage_problem(out, region, pd.Timestamp(a), pd.Timestamp(b))
                if problem:
                    raise WeatherError(where=where, problem=f"season {s} ({region}): {problem}")
    return out


def _need_region(w: pd.DataFrame, region: str, where: str) -> None:
    have = sorted(w["region"].unique().tolist())
    if region not in have:
        raise WeatherError(where=where, problem=f"no weather for region {region!r}; the file has region(s)",
                           offenders=have)


def weather_coverage_problem(w: pd.DataFrame, region: str, start: pd.Timestamp, end: pd.Timestamp) -> str:
    """'' when ``w`` has every day of ``region`` from ``start`` to ``end``; else what is missing (one line)."""
    have = pd.DatetimeIndex(w.loc[w["region"] == region, "date"])
    need = pd.date_range(start.normalize(), end.normalize(), freq="D")
    miss = need.difference(have)
    if not len(miss):
        return ""
    return (f"expected every day from {need[0]:%Y-%m-%d} to {need[-1]:%Y-%m-%d}, missing "
            f"{format_offenders([x.strftime('%Y-%m-%d') for x in miss])}")


def read_weather(path: str | Path, *, region: str | None = None, seasons: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a weather CSV (or Parquet) and check it (:func:`check_weather`); errors are one-line user errors."""
    p = Path(path)
    if p.is_dir():  # "not found" for a folder sent the user looking for a file that is there (the audit)
        raise WeatherError(where=str(p), problem="is a folder (expected a weather CSV or Parquet file)")
    if not p.is_file():
        raise WeatherError(where=str(p), problem="weather file not found")
    try:
        if p.suffix.lower() == ".parquet":
            raw = pd.read_parquet(p)
        else:
            raw = pd.read_csv(p, dtype={"region": str, "date": str}, keep_default_na=False, na_values=[""])
    except Exception as e:  # pandas/pyarrow raise many kinds for malformed files
        raise WeatherError(where=str(p), problem=f"cannot be read ({str(e).splitlines()[0][:120]})") from None
    return check_weather(raw, where=str(p), region=region, seasons=seasons)


# ---------------------------------------------------------------------------------------------- features
def _crop(X: pd.DataFrame) -> np.ndarray:
    if "crop" in X.columns:
        s = X["crop"]
    elif "crop_type" in X.columns:
        s = X["crop_type"].fillna(X["declared_crop"]) if "declared_crop" in X.columns else X["crop_type"]
    elif "declared_crop" in X.columns:
        s = X["declared_crop"]
    else:
        s = pd.Series([None] * len(X), index=X.index, dtype="str")
    return s.astype("str").to_numpy(dtype=object)


def _dates(X: pd.DataFrame, col: str) -> np.ndarray:
    if col not in X.columns:
        return np.full(len(X), np.datetime64("NaT"), dtype="datetime64[ns]")
    return np.array(pd.to_datetime(X[col], errors="coerce").dt.normalize().to_numpy(dtype="datetime64[ns]"), copy=True)


def _bucket(p: np.ndarray, et0: np.ndarray) -> np.ndarray:
    """Relative soil water (0..1) at the end of each day: 150 mm bucket, half full at day 0's start."""
    s, out = 0.5 * _BUCKET_MM, np.empty(len(p))
    for k in range(len(p)):
        s = min(max(s + p[k] - et0[k] * min(1.0, s / (0.5 * _BUCKET_MM)), 0.0), _BUCKET_MM)
        out[k] = s / _BUCKET_MM
    return out


def _cum(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(x)])


def _group_features(X: pd.DataFrame, w: pd.DataFrame, start: pd.Timestamp, cal: pd.DataFrame | None) -> np.ndarray:
    """The features of rows of one region and season; ``w`` holds that region's days from ``start`` to the last
    day any row may read (its as_of, capped at the window's end), consecutive."""
    n = len(X)
    out = np.full((n, len(WEATHER_COLUMNS)), np.nan)
    t0 = start.to_datetime64().astype("datetime64[D]")
    p, et0 = w["precip_mm"].to_numpy(), w["et0_mm"].to_numpy()
    tmax, tmin = w["tmax_c"].to_numpy(), w["tmin_c"].to_numpy()
    tmean = (tmax + tmin) / 2.0
    swi = _bucket(p, et0)
    c = {"p": _cum(p), "cwb": _cum(p - et0), "g0": _cum(np.clip(tmean, 0.0, None)),
         "g10": _cum(np.clip(tmean - 10.0, 0.0, None)), "heat": _cum((tmax >= _HEAT_C).astype("float64")),
         "swi": _cum(swi), "tmax": _cum(tmax)}
    crops = _crop(X)

    def idx(d: np.ndarray) -> np.ndarray:
        v = (d.astype("datetime64[D]") - t0).astype("float64")
        v[np.isnat(d)] = np.nan
        return v

    ia = np.minimum(idx(_dates(X, "as_of")), len(w) - 1)  # last day readable, inclusive
    em, pk = _dates(X, "emergence_date"), _dates(X, "peak_date")
    if cal is not None:
        for k, crop in enumerate(crops):
            if crop in cal.index:
                if np.isnat(em[k]):
                    em[k] = np.datetime64(cal.at[crop, "emergence"], "ns")
                if np.isnat(pk[k]):
                    pk[k] = np.datetime64(cal.at[crop, "flowering"], "ns")
    ie, ip = idx(em), idx(pk)

    def window(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first, one past last, days so far) of [a, b] cut at as_of and at the window start; NaN anchors → NaN."""
        lo = np.maximum(a, 0.0)
        hi = np.minimum(b, ia) + 1.0
        days = np.clip(hi - lo, 0.0, None)
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(ia) & (ia >= 0)
        lo_i = np.clip(np.where(ok, lo, 0), 0, len(w)).astype("int64")
        hi_i = np.where(ok & (days > 0), hi, lo_i).astype("int64")
        return lo_i, hi_i, np.where(ok, days, np.nan)

    def total(key: str, w_: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        lo, hi, days = w_
        return np.where(np.isfinite(days), c[key][hi] - c[key][lo], np.nan)

    def mean(key: str, w_: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        days = w_[2]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isfinite(days) & (days > 0), total(key, w_) / np.where(days > 0, days, 1.0), np.nan)

    big = np.full(n, 1e9)
    wem = window(ie, big)
    wfl = window(ip + _FLOWER[0], ip + _FLOWER[1])
    wfi = window(ip + _FILL[0], ip + _FILL[1])
    base0 = np.array([gdd_base(cr) == 0.0 for cr in crops])
    ok_a = np.isfinite(ia) & (ia >= 0)
    cols = [total("p", wem), total("cwb", wem), np.where(base0, total("g0", wem), total("g10", wem)),
            np.where(ok_a, swi[np.where(ok_a, ia, 0).astype("int64")], np.nan),
            mean("swi", wfl), total("cwb", wfl), total("heat", wfl), wfl[2],
            total("cwb", wfi), total("heat", wfi), mean("tmax", wfi), wfi[2]]
    for j, v in enumerate(cols):
        out[:, j] = v
    return out


def weather_features(features: pd.DataFrame, weather: pd.DataFrame, *, region: str | None = None,
                     calendars: pd.DataFrame | None = None, where: str = "weather") -> pd.DataFrame:
    """The ``wx_*`` columns (:data:`WEATHER_COLUMNS`) of each FieldFeatures row as of its ``as_of`` (index of
    ``features``).

    ``features`` needs ``season`` and ``as_of``, and ``region`` unless ``region`` is given (or the weather has one
    region); ``emergence_date``/``peak_date`` and a crop (``crop``, ``crop_type`` or ``declared_crop``) are used
    when present. ``weather`` is a checked table (:func:`check_weather`); every day from the season window's start to
    each row's as_of (capped at the window's end) must be in it — else a :class:`WeatherError`. No day after a
    row's as_of is read.
    """
    from features.growth_stage import calendar_dates, load_calendars
    from features.series import season_window

    for col in ("season", "as_of"):
        if col not in features.columns:
            raise WeatherError(where="weather features", problem=f"the features have no {col!r} column")
    w = weather if pd.api.types.is_datetime64_any_dtype(weather["date"]) else check_weather(weather, where=where)
    have = sorted(w["region"].astype("str").unique().tolist())
    if region is not None:
        regions = np.full(len(features), region, dtype=object)
    elif "region" in features.columns:
        regions = features["region"].astype("str").to_numpy(dtype=object)
        if len(have) == 1:
            regions = np.where(pd.isna(features["region"]).to_numpy(), have[0], regions)
    elif len(have) == 1:
        regions = np.full(len(features), have[0], dtype=object)
    else:
        raise WeatherError(where="weather features", problem="the features have no region column and the weather "
                           "has several region(s)", offenders=have)
    unknown = sorted({str(r) for r in regions} - set(have))
    if unknown:
        raise WeatherError(where=where, problem=f"no weather for region(s) {format_offenders(unknown)}; the file has "
                           "region(s)", offenders=have)
    cal_all = load_calendars() if calendars is None else calendars
    seasons = features["season"].astype("str").to_numpy(dtype=object)
    as_of = pd.to_datetime(features["as_of"]).dt.normalize()
    out = np.full((len(features), len(WEATHER_COLUMNS)), np.nan)
    keys = pd.DataFrame({"r": regions, "s": seasons})
    for (r, s), rows in keys.groupby(["r", "s"], sort=True).indices.items():
        a, b = (pd.Timestamp(x) for x in season_window(str(s), str(r)))
        last = min(pd.Timestamp(as_of.iloc[rows].max()), b)
        if last < a:
            continue  # every as_of before the window: nothing to read yet
        problem = weather_coverage_problem(w, str(r), a, last)
        if problem:
            raise WeatherError(where=where, problem=f"season {s} ({r}): {problem}")
        wr = w[(w["region"] == r) & (w["date"] >= a) & (w["date"] <= last)].reset_index(drop=True)
        cal = calendar_dates(cal_all, str(r), str(s)) if (cal_all["region"] == r).any() else None
        out[rows] = _group_features(features.iloc[rows], wr, a, cal)
    return pd.DataFrame(out, columns=list(WEATHER_COLUMNS), index=features.index)


def add_weather(features: pd.DataFrame, weather: pd.DataFrame | None, **kwargs: Any) -> pd.DataFrame:
    """``features`` with the ``wx_*`` columns (replacing any already there); unchanged when ``weather`` is None."""
    if weather is None:
        return features
    wx = weather_features(features, weather, **kwargs)
    return pd.concat([features.drop(columns=[c for c in WEATHER_COLUMNS if c in features.columns]), wx], axis=1)

