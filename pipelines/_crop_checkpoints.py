"""The crop-type model's checkpoints (pipelines/train_crop.py): from a county's or the season calendar, or given as NAME=WHEN (--checkpoints), placed on each region's season and summarised."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from features.errors import UserInputError
from features.identity import quoted

if TYPE_CHECKING:
    from pipelines.county import County


def county_checkpoints(county: County, season: str | None = None) -> dict[str, int | str]:
    """``{"emergence": days, "mid": days, "pre_harvest": days, "end": "end"}``: the county's calendar checkpoints as
    day offsets (monitoring and re-underwriting after pre-harvest score crop type on imagery up to it)."""
    from features.series import season_window

    season = season or county.current_season
    start, _ = season_window(season, county.region)
    return _day_offsets(county.checkpoints(season), start)


def _day_offsets(cps: Mapping[str, dt.date], start: dt.date) -> dict[str, int | str]:
    """The emergence, mid and pre_harvest dates of ``cps`` as days after ``start`` (those after it), plus ``end``."""
    out: dict[str, int | str] = {}
    for name in ("emergence", "mid", "pre_harvest"):
        if name in cps:
            days = (cps[name] - start).days
            if days > 0:
                out[name] = int(days)
    out["end"] = "end"
    return out


def calendar_checkpoints(season: str, region: str, crops: Sequence[str] = ()) -> dict[str, int | str]:
    """:func:`county_checkpoints` for a region and crops without a county folder: the region's season calendar
    checkpoints of ``season`` (:func:`pipelines.county.season_checkpoints` of ``crops``, all the region's when none
    is in its calendar) as days after the season window's start, plus ``end``."""
    from features.series import season_window
    from pipelines.county import season_checkpoints

    start, _ = season_window(season, region)
    return _day_offsets(season_checkpoints(season, region, list(crops) or None), start)


#: the syntax of ``--checkpoints`` (the way ``models show`` names a version's checkpoints)
CHECKPOINTS_SYNTAX = ("comma-separated NAME=WHEN, WHEN a calendar day MM-DD, a number of days after the season "
                      "start, or end; with end=end (e.g. mid=09-15,end=end)")


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


_MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def parse_checkpoints(text: str, *, option: str = "--checkpoints") -> dict[str, int | str]:
    """``mid=09-15,end=end`` → ``{"mid": "09-15", "end": "end"}``: each name's day (MM-DD, still to be placed in a
    region's season window by :func:`resolve_checkpoints`), day offset (int) or ``"end"``; a one-line user error
    naming the option for anything else (:data:`CHECKPOINTS_SYNTAX`)."""
    from underwriting.policy import is_calendar_day

    parts = [p.strip() for p in str(text).split(",")]
    if not str(text).strip() or any(not p for p in parts):
        raise UserInputError(f"{option}: expected {CHECKPOINTS_SYNTAX}, found {text!r}")
    out: dict[str, int | str] = {}
    for part in parts:
        name, eq, when = (x.strip() for x in part.partition("="))
        if not eq or not when:
            raise UserInputError(f"{option}: {part!r} is not NAME=WHEN (expected {CHECKPOINTS_SYNTAX})")
        if not _NAME.fullmatch(name):
            raise UserInputError(f"{option}: checkpoint name {name!r}: expected a letter, then letters, digits, _ or -")
        if name in out:
            raise UserInputError(f"{option}: checkpoint {name!r} named twice")
        value: int | str
        if when.lower() == "end":
            value = "end"
        elif when.isdigit():
            value = int(when)
            if value <= 0:
                raise UserInputError(f"{option}: {name}={when}: expected a number of days after the season start "
                                     "above 0")
        elif _MONTH_DAY.fullmatch(when) and (is_calendar_day(when) or when == "02-29"):  # 02-29: 02-28 in common years
            value = when
        else:
            raise UserInputError(f"{option}: {name}={when}: expected MM-DD (a calendar day), a number of days after "
                                 "the season start, or end")
        if (value == "end") != (name == "end"):
            raise UserInputError(f"{option}: {name}={when}: the end-of-season checkpoint is end=end, and only it")
        out[name] = value
    if "end" not in out:
        raise UserInputError(f"{option}: {text!r} has no end=end (the end-of-season model: promotion is judged on "
                             "its held-out figures)")
    return out


def _first_after(start: dt.date, month_day: str) -> dt.date:
    """The first ``month_day`` (MM-DD; 02-29 is 02-28 in a common year) after ``start`` (day 0 is no checkpoint)."""
    for year in (start.year, start.year + 1):
        md = "02-28" if month_day == "02-29" and not calendar.isleap(year) else month_day
        day = dt.date(year, int(md[:2]), int(md[3:]))
        if day > start:
            return day
    raise AssertionError("unreachable: a month-day recurs within a year")


def _place(spec: Mapping[str, int | str], season: str, region: str, option: str) -> dict[str, int | str]:
    """``spec`` (:func:`parse_checkpoints`) with its MM-DD days as days after ``region``'s season window start."""
    from features.series import season_window

    if not any(isinstance(v, str) and v != "end" for v in spec.values()):
        return dict(spec)  # days and end: no window needed
    start, end = season_window(season, region)
    out: dict[str, int | str] = {}
    for name, when in spec.items():
        if isinstance(when, str) and when != "end":
            day = _first_after(start, when)
            if day > end:
                raise UserInputError(f"{option}: {name}={when} is outside {region}'s season {season} window "
                                     f"({start} to {end})")
            out[name] = (day - start).days
        else:
            out[name] = when
    return out


def resolve_checkpoints(spec: Mapping[str, int | str] | None, regions: Sequence[str], season: str,
                        crops: Sequence[str] = (), *, option: str = "--checkpoints") -> dict[str, int | str]:
    """The checkpoints (name → days after the season start, or ``end``) to train for fields of ``regions`` used in
    ``season``: ``spec`` placed in each region's season window, or without one each region's calendar checkpoints
    (:func:`calendar_checkpoints` of ``crops``: what ``--county`` trains). Regions whose days differ get one
    checkpoint each, named ``<name>_<region>``, so every region's fields are scored from its own days. Without a
    region (labels with season_start only) ``spec`` must give days: a user error otherwise."""
    from features.errors import ImageryError

    regs = sorted({str(r) for r in regions})
    if not regs:
        if spec is None:
            raise UserInputError(f"crop-type training: the labels have no region column, so no season calendar names "
                                 f"the in-season checkpoints: give --region (e.g. in-smallholder) or {option} (e.g. "
                                 "mid=120,end=end: days after each field's season start)")
        dated = [k for k, v in spec.items() if isinstance(v, str) and v != "end"]
        if dated:
            raise UserInputError(f"{option}: {', '.join(dated)} given as MM-DD, which needs a region's season window "
                                 "(the labels have no region column): give --region, or days after the season start")
        return _distinct_days(dict(spec), option)
    per: dict[str, dict[str, int | str]] = {}
    for r in regs:
        try:
            per[r] = calendar_checkpoints(season, r, crops) if spec is None else _place(spec, season, r, option)
        except ImageryError:  # no season window: the region is unknown
            from pipelines.schedule import load_calendar

            known = ", ".join(sorted(load_calendar()["region"].astype(str).unique()))
            raise UserInputError(f"crop-type training: region {quoted(r)} has no season window or calendar (known: {known}) "
                                 f"to place the checkpoints in: give {option} as days after the season start (e.g. "
                                 "mid=120,end=end)") from None
        except UserInputError as e:
            if spec is not None:
                raise
            raise UserInputError(f"crop-type training: region {quoted(r)} has no season calendar to name its in-season "
                                 f"checkpoints ({str(e).splitlines()[0]}): give {option} (e.g. "
                                 "mid=09-15,end=end)") from None
    names = list(dict.fromkeys(n for d in per.values() for n in d))
    out: dict[str, int | str] = {}
    for n in names:
        vals = {r: d[n] for r, d in per.items() if n in d}
        if len(set(vals.values())) == 1 and len(vals) == len(per):
            out[n] = next(iter(vals.values()))
        else:
            out.update({f"{n}_{r}": v for r, v in vals.items()})
    return _distinct_days(out, option)


def _distinct_days(names: dict[str, int | str], option: str) -> dict[str, int | str]:
    """``names`` ordered by day (``end`` last); a user error when two fall on the same day."""
    days = sorted((int(v), k) for k, v in names.items() if v != "end")
    same = [f"{a} and {b}" for (x, a), (y, b) in zip(days, days[1:], strict=False) if x == y]
    if same:
        raise UserInputError(f"{option}: checkpoints {'; '.join(same)} fall on the same day of the season")
    return {**{k: v for v, k in days}, **({"end": "end"} if "end" in names else {})}


def checkpoint_summary(names: Mapping[str, int | str], regions: Sequence[str], season: str) -> list[str]:
    """What the trained checkpoints mean for the runs that use the model: the checkpoints, and the first day of
    ``season`` (each region's) from which it gives a crop type — runs before it get none (a warning when that is the
    end of the season)."""
    from features.errors import ImageryError
    from features.series import season_window

    regs = sorted({str(x) for x in regions})
    text = "checkpoints " + ", ".join(f"{k}={v}" for k, v in names.items())

    def first(region: str | None) -> int | None:  # a region's own first day (not another region's suffixed one)
        days = [int(v) for k, v in names.items() if v != "end"
                and not any(k.endswith(f"_{o}") for o in regs if o != region)]
        return min(days) if days else None

    dates: list[str] = []
    for r in regs:
        try:
            start, end = season_window(season, r)
        except ImageryError:  # a region without a window (fields with their own season_start): in days
            dates = []
            break
        d = first(r)
        dates.append(f"{r} {start + dt.timedelta(days=d) if d is not None else end}")
    d = first(None)
    when = (f"season {season}: {', '.join(dates)}" if dates else f"day {d} after each field's season start"
            if d is not None else "each field's season end")
    if not any(v != "end" for v in names.values()):
        return [f"{text} (end of season only)",
                f"warning: scores only from the end of the season ({when}); earlier runs (features build, "
                "underwrite, monitor, reunderwrite in season) get no crop type; name in-season checkpoints with "
                "--checkpoints"]
    return [f"{text} (days after the season start)",
            f"scores from its first checkpoint ({when}); earlier runs get no crop type"]
