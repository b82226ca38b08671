"""A bank's own regions: the region tables of the package, plus the rows of a folder named by ``AGCREDIT_REGIONS_DIR``.

The package ships the region data of two regions (``in-smallholder``, ``us-nebraska``) in four CSV files —
``features/data/season_windows.csv`` (the season's imagery window), ``features/data/crop_calendars.csv`` (the crops'
sowing-to-harvest calendar), ``pipelines/data/season_calendar.csv`` (the re-underwriting checkpoints) and
``models/data/prices.csv`` (crop prices). A bank adds its own region by putting any of these files, with the same
columns, in a folder and naming it in ``AGCREDIT_REGIONS_DIR``: their rows are *added* to the package's. A row whose
key the package already has (a region's window, a region and crop's calendar or checkpoints, a crop/region/season
price) is refused (one line naming the file, the row and the key): shipped data is never silently replaced.

Every reader of those package files asks :func:`merged`; without the variable it returns the package file as its
reader always read it (nothing changes). The folder's files enter the source digests
(:mod:`pipelines._code_digest`) and the decisions' provenance (:func:`provenance`), so a decision made with a
changed calendar is told from the recorded one at replay.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from features.errors import UserInputError

__all__ = ["REGIONS_ENV", "PACKAGE_FILES", "KEYS", "regions_dir", "cache_key", "region_files", "merged",
           "register_cache", "clear_caches", "regions_digest", "provenance", "known_regions", "unknown_region_problem",
           "check_known_regions"]

#: the environment variable naming the folder of a bank's own region files
REGIONS_ENV = "AGCREDIT_REGIONS_DIR"
_ROOT = Path(__file__).resolve().parent.parent
#: the package's region files, by name (the name a bank's folder uses too)
PACKAGE_FILES: dict[str, Path] = {
    "season_windows.csv": _ROOT / "features" / "data" / "season_windows.csv",
    "crop_calendars.csv": _ROOT / "features" / "data" / "crop_calendars.csv",
    "season_calendar.csv": _ROOT / "pipelines" / "data" / "season_calendar.csv",
    "prices.csv": _ROOT / "models" / "data" / "prices.csv",
}
#: the key of each file's rows: a bank's row with a key of the package's is refused
KEYS: dict[str, tuple[str, ...]] = {
    "season_windows.csv": ("region",),
    "crop_calendars.csv": ("region", "crop"),
    "season_calendar.csv": ("region", "crop"),
    "prices.csv": ("crop", "region", "season"),
}

_CACHES: list[Callable[[], None]] = []


def regions_dir() -> Path | None:
    """The folder ``AGCREDIT_REGIONS_DIR`` names (None: unset or empty); a one-line error when it is not a folder
    or holds a CSV file of another name (a misspelt ``season_window.csv`` would be ignored silently)."""
    raw = os.environ.get(REGIONS_ENV, "").strip()
    if not raw:
        return None
    p = Path(raw).expanduser()
    if not p.is_dir():
        raise UserInputError(f"{REGIONS_ENV}={raw}: not a folder (expected a folder holding any of "
                             f"{', '.join(PACKAGE_FILES)})")
    other = sorted(q.name for q in p.iterdir() if q.is_file() and q.suffix.lower() == ".csv"
                   and q.name not in PACKAGE_FILES)
    if other:
        raise UserInputError(f"{REGIONS_ENV}={raw}: {', '.join(other)} is not a region file (expected any of "
                             f"{', '.join(PACKAGE_FILES)})")
    return p


def cache_key() -> str:
    """What a cache of region data keys on besides its arguments: the folder named (empty without one)."""
    raw = os.environ.get(REGIONS_ENV, "").strip()
    return str(Path(raw).expanduser().resolve()) if raw else ""


def region_files(folder: Path | None = None) -> list[Path]:
    """The region files of ``folder`` (default: :func:`regions_dir`), sorted by name."""
    d = folder if folder is not None else regions_dir()
    return [] if d is None else [d / n for n in sorted(PACKAGE_FILES) if (d / n).is_file()]


def merged(name: str, package: Path, read: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``package`` (the package's ``name`` file) read by ``read``, followed by those of the bank's
    ``name`` file, read the same way; without one, exactly ``read(package)``. The bank's file must have the
    package's columns, and no key (:data:`KEYS`) of the package's rows."""
    base = read(package)
    d = regions_dir()
    if d is None or not (d / name).is_file():
        return base
    path = d / name
    extra = read(path)
    cols = list(base.columns)
    if set(extra.columns) != set(cols):
        missing = [c for c in cols if c not in extra.columns]
        surplus = [c for c in extra.columns if c not in cols]
        raise UserInputError(f"{path}: columns differ from the package's {name} ("
                             + "; ".join(x for x in (f"missing {', '.join(missing)}" if missing else "",
                                                     f"unknown {', '.join(map(str, surplus))}" if surplus else "")
                                         if x) + f"; expected {', '.join(cols)})")
    _check_values(name, path, base)
    key = [k for k in KEYS[name] if k in cols]
    if key:
        shipped = {tuple(str(v).strip() for v in r) for r in base[key].itertuples(index=False)}
        own: dict[tuple[str, ...], int] = {}
        # a calendar's key repeats once per event or checkpoint: a row repeats when its whole key with those repeats
        row_key = key + [c for c in ("event", "checkpoint") if c in cols]
        for i, (r, full) in enumerate(zip(extra[key].itertuples(index=False),
                                          extra[row_key].itertuples(index=False), strict=True)):
            k = tuple(str(v).strip() for v in r)
            if k in shipped:
                raise UserInputError(f"{path} row {i + 2}: {'/'.join(key)} {'/'.join(k)} is already in the "
                                     f"package's {name} (a regions folder adds regions and crops; it does not "
                                     "replace shipped rows)")
            fk = tuple(str(v).strip() for v in full)
            if fk in own:
                raise UserInputError(f"{path} row {i + 2}: {'/'.join(row_key)} {'/'.join(fk)} repeats row "
                                     f"{own[fk]} (one row per key: two would leave readers to pick one)")
            own[fk] = i + 2
    return pd.concat([base, extra[cols]], ignore_index=True)


#: the values each file's columns must hold (what its readers parse): month-days, integers, numbers, names
_MONTH_DAY = ("start", "end", "month_day")
_INTEGER = ("start_year_offset", "end_year_offset", "year_offset", "season", "doy_median")
_NUMBER = ("doy_spread", "price_per_t", "moisture_basis_pct", "sigma_annual", "support_price_per_t")
_NOT_EMPTY = ("region", "crop", "currency", "price_per_t", "start", "end", "month_day", "event", "checkpoint",
              "doy_median", "season")


def _check_values(name: str, path: Path, base: pd.DataFrame) -> None:
    """Refuse (one line naming the file, row and column) a bank's row whose values its readers cannot parse: a
    month-day that is no calendar day, an offset or day of year that is no integer, a price that is no number, an
    event or checkpoint the package's own file (``base``) does not use, an empty key."""
    import datetime as dt
    import math
    import re

    # the events and checkpoints the engine knows are those its own file lists (features must not ask pipelines)
    names = {c: tuple(dict.fromkeys(base[c].astype(str))) for c in ("event", "checkpoint") if c in base.columns}
    # the checkpoints' month-days must be days of every year (their reader's rule); the windows' may be 02-29
    leap_ok = name != "season_calendar.csv"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for i, row in enumerate(raw.to_dict("records")):
        where = f"{path} row {i + 2}"
        for col, val in row.items():
            v = str(val).strip()
            if col in _NOT_EMPTY and not v:
                raise UserInputError(f"{where}: column {col} is empty")
            if not v:
                continue
            bad = None
            if col in _MONTH_DAY:
                try:
                    dt.date(2000 if leap_ok else 2001, int(v[:2]), int(v[3:])) if len(v) == 5 and v[2] == "-" \
                        else int("x")
                except ValueError:
                    bad = "a month-day MM-DD" + ("" if leap_ok else " that every year has (no 02-29)")
            elif col in _INTEGER:
                try:
                    n = int(v)
                    if col == "doy_median" and not 1 <= n <= 366:
                        bad = "a day of the year, 1 to 366"
                except ValueError:
                    bad = "an integer"
            elif col in _NUMBER:
                try:
                    x = float(v)
                    if not math.isfinite(x) or (col == "price_per_t" and x <= 0):
                        bad = "a finite number" + (" above 0" if col == "price_per_t" else "")
                except ValueError:
                    bad = "a number"
            elif col in names and v not in names[col]:
                bad = "one of " + ", ".join(names[col])
            elif col == "unit" and v != "t":
                bad = "t (prices are per tonne)"
            elif col == "currency" and not re.fullmatch(r"[A-Z]{3}", v):
                bad = "an ISO 4217 code such as INR or USD"
            if bad:
                raise UserInputError(f"{where}: column {col} holds {v!r}, expected {bad}")


def register_cache(clear: Callable[[], None]) -> None:
    """Have :func:`clear_caches` call ``clear`` (a cache of region data: its entries also key on :func:`cache_key`,
    so a changed variable is seen; clearing sees changed file contents)."""
    _CACHES.append(clear)


def clear_caches() -> None:
    """Forget every cached reading of region data (tests that rewrite a regions folder)."""
    for c in _CACHES:
        c()


def regions_digest() -> str | None:
    """SHA-256 over the names and contents of the bank's region files (None without the variable)."""
    d = regions_dir()
    if d is None:
        return None
    h = hashlib.sha256()
    for p in region_files(d):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\1")
    return h.hexdigest()


def provenance() -> dict[str, str]:
    """What a decision's provenance records of the bank's region files: ``{"regions_sha256": …}``, nothing
    without the variable (the records of a run without it are unchanged)."""
    dg = regions_digest()
    return {} if dg is None else {"regions_sha256": dg}


def known_regions() -> list[str]:
    """The regions with a season window (the package's and the bank's), sorted."""
    from features.series import _windows_table

    return sorted(_windows_table())


def unknown_region_problem(region: str, fields: list[str], known: list[str], noun: str = "fields") -> str:
    """The one-line problem of a region without a season window: the region, its fields (or ``noun``: Book lines),
    the known regions and how to add one."""
    shown = ", ".join(fields[:5]) + (f" … ({len(fields)} {noun})" if len(fields) > 5 else "")
    from features.identity import quoted

    return (f"region {quoted(region)} of {noun} {shown} has no season window (known regions: {', '.join(known)}); "
            f"to add a region, put its rows of season_windows.csv, crop_calendars.csv, season_calendar.csv and "
            f"prices.csv in a folder and name it in {REGIONS_ENV}")


def check_known_regions(fields: pd.DataFrame, source: str, *, id_column: str = "field_id",
                        noun: str = "fields") -> None:
    """Refuse (one line, exit 2) fields whose ``region`` has no season window — what every run that reads the
    season window would refuse — naming the first such region and its fields; empty cells are left to the caller.
    ``id_column`` / ``noun``: the rows' identifier and what they are (a Book's ``line_id``, "Book lines")."""
    if "region" not in fields.columns or len(fields) == 0:
        return
    known = known_regions()
    reg = fields["region"]
    have = reg.notna() & (reg.astype(str).str.strip() != "")
    bad = have & ~reg.astype(str).str.strip().isin(known)
    if not bad.any():
        return
    region = str(reg[bad].astype(str).str.strip().iloc[0])
    ids = fields.loc[bad & (reg.astype(str).str.strip() == region), id_column].astype(str)
    raise UserInputError(f"{source}: {unknown_region_problem(region, list(dict.fromkeys(ids)), known, noun)}")
