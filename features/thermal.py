"""Thermal time: cumulative growing degree days (GDD) per region and crop from a daily weather table.

Used by the early-warning collapse timing (:mod:`pipelines.monitor`) and by phenology's expected maturity
(:mod:`features.growth_stage`). A crop develops with accumulated warmth, not with calendar days: in a warm season soybean drops its leaves at
maturity a week or two earlier in the calendar, after the usual sum of growing degree days (GDD). Judged in days
against past seasons, that normal maturity looks like a crop failing early; judged in GDD it is on time. A
:class:`ThermalClock` turns dates into cumulative GDD per region and crop from a daily weather table (``region,
date, tmin_c, tmax_c``: a station record, ERA5, a weather service — what :func:`features.weather.read_weather`
reads), with the base temperatures of :mod:`features.weather` (10 °C; 0 °C for wheat and barley) and the modified
method's upper threshold (:data:`UPPER_C`). Days outside the table give NaN (the rules then skip those fields, never
guess). :meth:`ThermalClock.projected` looks ahead: observed days up to a cut-off date, then each later day's
normal (the mean of the table's earlier years on that day of the year) — nothing after the cut-off is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.weather import gdd_base

__all__ = ["ThermalClock", "gdd_base", "UPPER_C"]

#: the modified GDD's upper threshold: daily minimum and maximum are each clipped to [base, UPPER_C] before
#: averaging (the US corn GDD method) — heat above it does not speed development
UPPER_C = 30.0


class ThermalClock:
    """Cumulative GDD per region, date and base temperature from a daily weather table."""

    def __init__(self, weather: pd.DataFrame) -> None:
        self._days: dict[str, np.ndarray] = {}
        self._cum: dict[tuple[str, float], np.ndarray] = {}
        self._daily: dict[tuple[str, float], np.ndarray] = {}
        w = weather.assign(date=pd.to_datetime(weather["date"]).dt.normalize())
        for region, g in w.groupby(w["region"].astype(str), sort=True):
            g = g.sort_values("date").drop_duplicates("date")
            days = g["date"].to_numpy(dtype="datetime64[D]")
            full = np.arange(days[0], days[-1] + np.timedelta64(1, "D"))
            tmin = pd.Series(g["tmin_c"].to_numpy(dtype=float), index=days).reindex(full).to_numpy()
            tmax = pd.Series(g["tmax_c"].to_numpy(dtype=float), index=days).reindex(full).to_numpy()
            self._days[str(region)] = full
            for base in (0.0, 10.0):  # a missing day stays NaN: no sum runs across it
                lo, hi = np.clip(tmin, base, UPPER_C), np.clip(tmax, base, UPPER_C)
                self._daily[(str(region), base)] = (lo + hi) / 2.0 - base
                self._cum[(str(region), base)] = np.cumsum(self._daily[(str(region), base)])

    @property
    def regions(self) -> list[str]:
        return sorted(self._days)

    @staticmethod
    def _key(region: str, crop: Any) -> tuple[str, float]:
        """The (region, base temperature) the tables are kept under for ``crop`` (a base not kept: 10 °C)."""
        base = gdd_base(crop)
        return str(region), base if base in (0.0, 10.0) else 10.0

    def gdd(self, region: str, crop: Any, dates: Any) -> np.ndarray:
        """Cumulative GDD (°C·d, from the table's first day, through the end of each date) at ``dates`` for
        ``crop`` in ``region``; NaN outside the table, after a missing day, or for a region it does not hold."""
        when = np.atleast_1d(np.asarray(pd.to_datetime(dates), dtype="datetime64[D]"))
        out = np.full(len(when), np.nan)
        days = self._days.get(str(region))
        cum = self._cum.get(self._key(region, crop))
        if days is None or cum is None:
            return out
        idx = (when - days[0]).astype(int)
        ok = (idx >= 0) & (idx < len(days))
        out[ok] = cum[idx[ok]]
        return out

    def since(self, region: str, crop: Any, start: Any, dates: Any) -> np.ndarray:
        """GDD accumulated after ``start`` through each of ``dates`` (0 on ``start`` itself)."""
        return self.gdd(region, crop, dates) - self.gdd(region, crop, [start])[0]

    def projected(self, region: str, crop: Any, start: Any, n_days: int, cutoff: Any = None) -> np.ndarray:
        """GDD accumulated after ``start`` through each of the ``n_days`` days from ``start`` (element 0 is 0):
        the table's days up to ``cutoff`` (default: all of it), and for each later day the mean of that calendar
        day (month and day) over the table's days up to ``cutoff`` (earlier years) — a projection that reads
        nothing after ``cutoff``. NaN from the first day with neither (a missing observed day, or no
        earlier year)."""
        out = np.full(max(int(n_days), 0), np.nan)
        days = self._days.get(str(region))
        daily = self._daily.get(self._key(region, crop))
        if days is None or daily is None or not len(out):
            return out
        first = np.datetime64(pd.Timestamp(start).date(), "D")
        want = first + np.arange(len(out)).astype("timedelta64[D]")
        cut = days[-1] if cutoff is None else min(np.datetime64(pd.Timestamp(cutoff).date(), "D"), days[-1])
        known = days <= cut
        md = pd.DatetimeIndex(days[known]).strftime("%m-%d")
        normal = pd.Series(daily[known]).groupby(md).mean()
        idx = (want - days[0]).astype(int)
        seen = (want <= cut) & (idx >= 0)
        val = np.full(len(out), np.nan)
        val[seen] = daily[idx[seen]]
        ahead = ~seen & (want > cut)
        val[ahead] = normal.reindex(pd.DatetimeIndex(want[ahead]).strftime("%m-%d")).to_numpy(dtype=float)
        val[0] = 0.0
        return np.cumsum(val)
