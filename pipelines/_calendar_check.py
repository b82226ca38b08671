"""Reading a season calendar file row by row (from :mod:`pipelines.schedule`): each mistake is one line naming the
file, the row, and the row's region, crop and checkpoint — as a bank's regions folder's rows are named
(:mod:`features.regions`).

A calendar is refused when a cell cannot be read (a month-day that is not a day of every year, a year offset that is
not a whole number, an empty key), when a row names a region without a season window or a crop the engine does not
know (a crop is read as the fields readers read it: ``Rice`` and ``rice `` are ``rice``), when a region's crop lacks
one of the four checkpoints or lists one twice, when its checkpoints are not in the order pre_season < emergence <
mid_season < pre_harvest, when one lies outside the region's season window, or when the pre-harvest checkpoint
falls after the crop's harvest (its crop calendar's ``harvest``, its median day of the year read in a common
year: day 305 is 11-01).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from features.errors import UserInputError

__all__ = ["read_rows", "uncovered_crops", "with_header"]

_COLUMNS = ("region", "crop", "checkpoint", "month_day", "year_offset")
_MD = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def _cell(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()


def with_header(p: Path, raw: pd.DataFrame) -> pd.DataFrame:
    """``raw`` with its column names read as its cells are (stripped: ``region, crop, …`` is ``region,crop,…``); a
    header without the five columns is one line naming the columns found and the header expected — names are lower
    case, as the applications and Book readers' are, and separated by commas (``;`` or tabs named as such)."""
    out = raw.copy()
    out.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in _COLUMNS if c not in out.columns]
    if not missing:
        return out
    found = ", ".join(repr(c) for c in out.columns)
    want = f"a comma-separated header {','.join(_COLUMNS)}[,description]"
    if len(out.columns) == 1:
        for sep, name in ((";", "';'"), ("\t", "tabs")):
            if sep in out.columns[0]:
                raise UserInputError(f"{p}: the calendar's columns are separated by {name} (expected {want}: save it "
                                     "with commas)")
    hint = "; names are lower case" if any(c in {str(x).lower() for x in out.columns} for c in missing) else ""
    raise UserInputError(f"{p}: calendar file has no column {', '.join(missing)}; its header holds {found} "
                         f"(expected {want}{hint})")


def read_rows(p: Path, raw: pd.DataFrame, checkpoints: tuple[str, ...],
              outside: Callable[[pd.DataFrame], list[str]],
              shipped: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """The calendar ``raw`` (read from ``p`` as text) checked and typed: crops as the engine spells them,
    ``year_offset`` an integer. ``outside``: the texts of a calendar's checkpoints outside their season window.
    ``shipped``: the package's (region, crop) pairs, refused in a bank's regions folder's calendar (the same line
    :func:`features.regions.merged` gives, told at the row, before any check of the crop's other rows)."""
    from features._field_crops import known_crops, normalise_crop
    from features.regions import REGIONS_ENV, known_regions
    from underwriting.policy import is_calendar_day

    regions, crops = set(known_regions()), known_crops()
    out = raw.copy()
    fixed: dict[str, list[str]] = {c: [] for c in ("region", "crop", "checkpoint", "month_day")}
    seen: dict[tuple[str, str, str], int] = {}
    for i, row in enumerate(raw.to_dict("records")):
        cells = {c: _cell(row.get(c)) for c in raw.columns}
        if cells["region"].startswith("#"):  # a spreadsheet's note: not a row, and not silently skipped either
            raise UserInputError(f"{p} row {i + 2}: a comment line ({cells['region'][:60]!r}); a calendar holds no "
                                 "comment lines (notes go in the description column): remove it")
        crop = normalise_crop(cells["crop"]) or ""
        where = f"{p} row {i + 2} (region {cells['region'] or '-'}, crop {crop or '-'}, " \
                f"checkpoint {cells['checkpoint'] or '-'})"
        for c in _COLUMNS:
            if not cells[c]:
                raise UserInputError(f"{where}: column {c} is empty")
        if (cells["region"], crop) in shipped:
            raise UserInputError(f"{p} row {i + 2}: region/crop {cells['region']}/{crop} is already in the package's "
                                 f"{p.name} (a regions folder adds regions and crops; it does not replace shipped "
                                 "rows)")
        if cells["checkpoint"] not in checkpoints:
            raise UserInputError(f"{where}: column checkpoint holds {cells['checkpoint']!r}, expected one of "
                                 f"{', '.join(checkpoints)}")
        md = cells["month_day"]
        if not (_MD.fullmatch(md) and is_calendar_day(md)):
            raise UserInputError(f"{where}: column month_day holds {md!r}, expected a month-day MM-DD that every "
                                 "year has (no 02-29)")
        if not re.fullmatch(r"[+-]?\d{1,2}", cells["year_offset"]):
            raise UserInputError(f"{where}: column year_offset holds {cells['year_offset']!r}, expected a whole "
                                 "number of years (-1, 0, 1)")
        if cells["region"] not in regions:
            raise UserInputError(f"{where}: region {cells['region']!r} has no season window (known regions: "
                                 f"{', '.join(sorted(regions))}; a bank adds one with {REGIONS_ENV})")
        if crop not in crops:
            raise UserInputError(f"{where}: crop {cells['crop']!r} is not a crop the engine knows (known: "
                                 f"{', '.join(sorted(crops))}; AGCREDIT_EXTRA_CROPS adds others)")
        key = (cells["region"], crop, cells["checkpoint"])
        if key in seen:
            raise UserInputError(f"{where}: repeats row {seen[key]} (each checkpoint once per region and crop: "
                                 "which date would be due?)")
        seen[key] = i + 2
        for c, v in zip(fixed, (cells["region"], crop, cells["checkpoint"], md), strict=True):
            fixed[c].append(v)
    for c, vs in fixed.items():
        out[c] = vs
    out["year_offset"] = [int(_cell(v)) for v in raw["year_offset"]]
    out = out.astype({"year_offset": "int64"})
    _check_crops(p, out, seen, checkpoints, outside)
    return out


def _when(md: str, off: int, season: int = 2001) -> date:
    return date(season + off, int(md[:2]), int(md[3:]))


def _check_crops(p: Path, cal: pd.DataFrame, rows: dict[tuple[str, str, str], int], checkpoints: tuple[str, ...],
                 outside: Callable[[pd.DataFrame], list[str]]) -> None:
    """Every crop of a region: all four checkpoints, in order, inside the season window, pre-harvest by harvest."""
    from features._crop_calendars import load_calendars

    harvest = load_calendars().query("event == 'harvest'").set_index(["region", "crop"])
    order = " < ".join(checkpoints)
    bad = outside(cal)  # "REGION CROP CHECKPOINT MM-DD … (window …)", in the calendar's order
    if bad:
        region, crop, c = bad[0].split(" ")[:3]
        raise UserInputError(f"{p} row {rows[(region, crop, c)]} (region {region}, crop {crop}, checkpoint {c}): "
                             f"outside the region's season window: {bad[0]} (re-underwriting refuses a date outside "
                             "it)")
    for (region, crop), g in cal.groupby(["region", "crop"], sort=False):
        have = dict(zip(g["checkpoint"], zip(g["month_day"], g["year_offset"], strict=True), strict=True))
        lacking = [c for c in checkpoints if c not in have]
        if lacking:
            raise UserInputError(f"{p}: region {region}, crop {crop} has no checkpoint {', '.join(lacking)} "
                                 f"(rows {', '.join(str(rows[(region, crop, c)]) for c in checkpoints if c in have)}"
                                 f"; every crop of a region needs {', '.join(checkpoints)})")
        for a, b in zip(checkpoints, checkpoints[1:], strict=False):
            if _when(*have[b]) <= _when(*have[a]):
                raise UserInputError(
                    f"{p} row {rows[(region, crop, b)]} (region {region}, crop {crop}, checkpoint {b}): "
                    f"{have[b][0]}{_off(have[b][1])} is not after {a} {have[a][0]}{_off(have[a][1])} "
                    f"(row {rows[(region, crop, a)]}); checkpoints run in the order {order}")
        if (region, crop) in harvest.index:
            h = harvest.loc[(region, crop)]
            h = h.iloc[0] if isinstance(h, pd.DataFrame) else h
            # the median harvest day read in a common year, as the checkpoints' month-days are (no 02-29): day 305
            # is 11-01, and a pre-harvest checkpoint on 11-01 is on it (a leap year's 10-31 had refused it)
            end = date(2001, 1, 1) + timedelta(days=int(h["doy_median"]) - 1)
            end_off = int(h["year_offset"]) + end.year - 2001
            md, off = have[checkpoints[-1]]
            if (off, md) > (end_off, f"{end:%m-%d}"):
                raise UserInputError(
                    f"{p} row {rows[(region, crop, checkpoints[-1])]} (region {region}, crop {crop}, checkpoint "
                    f"{checkpoints[-1]}): {md}{_off(off)} is after the crop's harvest ({end:%m-%d}{_off(end_off)}, "
                    f"the crop calendar's median harvest day, day {int(h['doy_median'])} of a common year)")


def _off(off: int) -> str:
    return {-1: " of the year before", 0: "", 1: " of the year after"}.get(off, f" of year {off:+d}")


def uncovered_crops(cal: pd.DataFrame, lent: Iterable[tuple[str, str]], whence: str) -> list[str]:
    """The warnings (one line each, without the ``warning:`` prefix) of the crops lent on that the calendar ``cal``
    has no checkpoint of: ``lent`` the (region, crop) pairs a command knows are lent on (a county's county.json crops
    and Book lines, a store's records), ``whence`` where it read them ("lent on in …"). A calendar need not list every crop (a bank may
    follow a crop otherwise), but such a crop's lines are never re-underwritten on schedule: it is said, by name."""
    from features._field_crops import normalise_crop

    have = set(zip(cal["region"].astype(str), cal["crop"].astype(str), strict=True))
    src = cal.attrs.get("source", "the season calendar")
    out = []
    for region, crop in sorted({(str(r).strip(), normalise_crop(str(c)) or "") for r, c in lent}):
        if region and crop and (region, crop) not in have:
            out.append(f"{src} has no checkpoint of crop {crop} in region {region}, lent on in {whence}: its lines "
                       "are never re-underwritten on schedule (add its four checkpoints: pre_season, emergence, "
                       "mid_season, pre_harvest)")
    return out
