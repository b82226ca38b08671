"""Crop calendars (``features/data/crop_calendars.csv`` and a bank's, :mod:`features.regions`) of
:mod:`features.growth_stage`: read and validated (:func:`load_calendars`), and each event's median date in a season
(:func:`calendar_dates`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import ContractError

CALENDAR_EVENTS = ("sowing", "emergence", "flowering", "maturity", "harvest")
CALENDAR_PATH = Path(__file__).parent / "data" / "crop_calendars.csv"
_CAL_COLUMNS = ("region", "crop", "event", "doy_median", "doy_spread", "year_offset")


def load_calendars(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the crop calendars (region, crop, event, doy_median, doy_spread, year_offset)."""
    p = Path(path) if path is not None else CALENDAR_PATH

    def read(q: Path) -> pd.DataFrame:
        try:
            return pd.read_csv(q, dtype={"region": str, "crop": str, "event": str})
        except (OSError, ValueError) as e:
            raise ContractError(table=str(q), column="-", expected="a readable CSV", found=str(e)[:100]) from None

    if path is None:  # the package's calendars and a bank's (features.regions)
        from features.regions import merged

        cal = merged("crop_calendars.csv", p, read)
    else:
        cal = read(p)
    missing = [c for c in _CAL_COLUMNS if c not in cal.columns]
    if missing:
        raise ContractError(table=str(p), column=missing[0], expected="column present", found="missing")
    key = cal["region"] + "/" + cal["crop"] + "/" + cal["event"]
    bad = ~cal["event"].isin(CALENDAR_EVENTS)
    if bad.any():
        raise ContractError(table=str(p), column="event", expected=f"one of {', '.join(CALENDAR_EVENTS)}",
                            found="other values", offenders=list(key[bad]))
    for col, lo, hi in (("doy_median", 1, 366), ("doy_spread", 0, 120), ("year_offset", -1, 1)):
        v = pd.to_numeric(cal[col], errors="coerce")
        bad = v.isna() | (v < lo) | (v > hi)
        if bad.any():
            raise ContractError(table=str(p), column=col, expected=f"numbers in [{lo}, {hi}]", found="other values",
                                offenders=list(key[bad]))
    dup = key.duplicated(keep=False)
    if dup.any():
        raise ContractError(table=str(p), column="region+crop+event", expected="unique key", found="duplicates",
                            offenders=sorted(set(key[dup])))
    for (region, crop), g in cal.groupby(["region", "crop"], sort=True):
        if set(g["event"]) != set(CALENDAR_EVENTS):
            raise ContractError(table=str(p), column="event", expected=f"all of {', '.join(CALENDAR_EVENTS)}",
                                found=f"{', '.join(sorted(g['event']))}", offenders=[f"{region}/{crop}"])
        d = _event_dates(g.set_index("event"), 2001)
        if not all(d[a] < d[b] for a, b in zip(CALENDAR_EVENTS, CALENDAR_EVENTS[1:], strict=False)):
            raise ContractError(table=str(p), column="doy_median", expected="events in calendar order",
                                found="dates out of order", offenders=[f"{region}/{crop}"])
    return cal.astype({"doy_median": "int64", "doy_spread": "int64", "year_offset": "int64"})


def _event_dates(g: pd.DataFrame, year: int) -> dict[str, pd.Timestamp]:
    """Each calendar event's median date in ``year``'s season; ``g`` is one crop's rows indexed by event."""
    off, doy = g["year_offset"].to_dict(), g["doy_median"].to_dict()  # plain lookups: .loc per cell is slow
    return {e: pd.Timestamp(year + int(off[e]), 1, 1) + pd.Timedelta(days=int(doy[e]) - 1) for e in CALENDAR_EVENTS}


def calendar_dates(calendars: pd.DataFrame, region: str, season: str) -> pd.DataFrame:
    """Median dates of every calendar event of ``region``'s crops in ``season`` (index crop; columns the
    events as Timestamps and ``<event>_spread`` in days)."""
    rows = []
    for crop, g in calendars[calendars["region"] == region].groupby("crop", sort=True):
        gi = g.set_index("event")
        d: dict[str, Any] = {"crop": crop, **_event_dates(gi, int(season))}
        spread = gi["doy_spread"].to_dict()
        d.update({f"{e}_spread": int(spread[e]) for e in CALENDAR_EVENTS})
        rows.append(d)
    cols = ["crop", *CALENDAR_EVENTS, *[f"{e}_spread" for e in CALENDAR_EVENTS]]
    return pd.DataFrame(rows, columns=cols).set_index("crop")
