"""The coverage half of ``models shadow`` (:mod:`pipelines.shadow_report`): which records of a season have a shadow
row of a version beside them, the season's end (the season calendar's latest pre_harvest checkpoint of the regions
and crops its records valued) and the whole-season judgement (:data:`WHOLE_SEASON`) that ``models promote
--shadow-store`` asks for; a shadow row counts only when its own body names the version (:func:`genuine_rows`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["WHOLE_SEASON", "SeasonCoverage", "genuine_rows", "record_version", "season_coverage", "season_end"]

#: what "ran in shadow over a whole season" means here (printed with every judgement)
WHOLE_SEASON = ("ran in shadow over the whole season: (1) every dated run of the season's records in the store (the "
                "underwriting date(s) and each later re-underwriting date) has a shadow row of the version beside "
                "every record decided by another version of the model, and there is at least one such row (records "
                "the version decided itself, once in force, need none; overrides are an analyst's, not a run's: left "
                "out, and counted); (2) the season's runs reach its end: a run on or after the pre_harvest "
                "checkpoint (the season calendar the re-underwriting schedule reads) of every region and crop the "
                "season's records valued — else the season is in progress; (3) a shadow row counts only when its "
                "body itself names the version judged (and, yield-value, that version's registry run id)")
#: the record kinds a run writes (an override is an analyst's, not a run's: not shadowed)
_RUN_KINDS = ("decision", "reunderwrite")


def record_version(body: dict[str, Any], name: str) -> str | None:
    """The version of ``name`` a record was decided with: yield-value from the body's ``models``, crop-type from
    ``provenance.crop_model_version`` (``crop-type version 3 (champion), run …``); None when it names none (a run
    without a crop model, a saved folder)."""
    if name == "crop-type":
        from pipelines._champions import crop_registry_version

        return crop_registry_version((body.get("provenance") or {}).get("crop_model_version"))
    for m in body.get("models") or []:
        if isinstance(m, dict) and m.get("name") == name:
            return str(m.get("version"))
    return None


@dataclass(frozen=True)
class SeasonCoverage:
    """One season's coverage: ``dates`` one row per dated run (kind, as_of, records, in_force (``"1: 61"``-style
    counts of the versions in force), own (records the shadow version decided itself), beside (decided by another
    version), shadowed (of those, with a shadow row), missing (application ids without one, sorted), covered), the
    judgement (:data:`WHOLE_SEASON`) and what stands out (notes). ``end``: the date the season's runs must reach
    (the latest pre_harvest checkpoint of the regions and crops its records valued; None: not datable),
    ``overrides``: the season's overrides left out, ``mismatched``: shadow rows whose body names another version
    than their label (not counted), ``orphans``: shadow rows beside no record of the season's runs in the store."""

    season: str
    dates: list[dict[str, Any]]
    whole: bool
    notes: list[str]
    end: str | None = None
    overrides: int = 0
    mismatched: int = 0
    orphans: int = 0
    #: the calendar file the season's end was read from (its name); None: the default calendar
    calendar: str | None = None

    @property
    def end_reached(self) -> bool:
        return self.end is not None and any(d["as_of"] >= self.end for d in self.dates)

    @property
    def rows(self) -> int:
        """The shadow rows counted (beside a record of the season's runs)."""
        return sum(d["shadowed"] for d in self.dates)

    def missing_text(self, *, ids: bool = True) -> str:
        """What is missing for a whole season in one phrase (empty when nothing is); ``ids``: with up to three
        applications per dated run (not in what a promotion's alias-history entry keeps for good: counts only)."""
        gaps = [f"{d['kind']} {d['as_of']} ({len(d['missing'])} of {d['beside']} record(s) without a shadow row"
                + (f", e.g. {', '.join(d['missing'][:3])}" if d["missing"] and ids else "") + ")"
                for d in self.dates if not d["covered"]]
        if not any(d["shadowed"] for d in self.dates):
            gaps.append(f"{self.orphans} shadow row(s) stand beside no record in this store" if self.orphans
                        else "no shadow row at any date")
        if not self.end_reached and self.dates:
            gaps.append(f"in progress: no run on or after {self.end} (the season's last pre_harvest checkpoint"
                        + (f", calendar {self.calendar})" if self.calendar else ")")
                        if self.end is not None else
                        "in progress: its end cannot be dated (its records value no region and crop of the season "
                        "calendar)")
        return "; ".join(gaps)


def season_end(season: str, bodies: Any, calendar: pd.DataFrame | None = None) -> tuple[str | None, list[str]]:
    """The date a season's runs must reach to be whole: the latest pre_harvest checkpoint (the season calendar,
    :func:`pipelines.schedule.load_calendar`) of the (region, crop) pairs the records' bodies valued (each field's
    ``region`` and ``crop_valued``; a field valued as fallow has no harvest to wait for), and the pairs the calendar
    does not date (left out, said). None: no pair dated."""
    from pipelines.schedule import checkpoint_dates, load_calendar

    pairs = {(str(f["region"]), str(f["crop_valued"])) for b in bodies for f in (b.get("fields") or [])
             if isinstance(f, dict) and f.get("region") and f.get("crop_valued") and f["crop_valued"] != "fallow"}
    if not pairs:
        return None, []
    cal = load_calendar() if calendar is None else calendar
    cd = checkpoint_dates(str(season), cal)
    ph = {(r.region, r.crop): r.date.date().isoformat() for r in cd[cd["checkpoint"] == "pre_harvest"].itertuples()}
    dated = [ph[p] for p in pairs if p in ph]
    return (max(dated) if dated else None), sorted(f"{r} {c}" for r, c in pairs - set(ph))


def season_coverage(season: str, records: pd.DataFrame, shadow: pd.DataFrame, name: str,
                    version: str, *, run_id: str | None = None, calendar: pd.DataFrame | None = None,
                    calendar_name: str | None = None) -> SeasonCoverage:
    """Coverage of ``season`` (:mod:`pipelines.shadow_report`'s docstring): ``records`` the store's records of the
    season (with ``body_dict`` and ``in_force``: :func:`record_version`), ``shadow`` its shadow rows of ``name``
    version ``version`` — a row whose own body names another version (or, with ``run_id``, another registry run) is
    not counted (:func:`genuine_rows`). ``calendar``: the season calendar its end is read from (default the shipped one with a
    bank's own regions', :func:`pipelines.schedule.load_calendar`), ``calendar_name`` the file it came from (said)."""
    notes: list[str] = []
    shadow, wrong = genuine_rows(shadow, name, version, run_id)
    if wrong:
        notes.append(f"season {season}: {wrong} shadow row(s) labelled {name} version {version} whose body names "
                     f"another version{' or run' if run_id else ''}: not counted")
    recs = records[records["kind"].isin(_RUN_KINDS)]
    overrides = int((records["kind"] == "override").sum()) if len(records) else 0
    if overrides:
        notes.append(f"season {season}: {overrides} override(s) left out (an analyst's, not a run's: never shadowed)")
    have = set(shadow["record_id"].astype(str))
    dates: list[dict[str, Any]] = []
    keys = recs[["as_of", "kind"]].drop_duplicates().sort_values(["as_of", "kind"], kind="mergesort")
    for as_of, kind in keys.itertuples(index=False):
        g = recs[(recs["as_of"] == as_of) & (recs["kind"] == kind)]
        vers = Counter("none" if v is None else str(v) for v in g["in_force"])
        own = g["in_force"].astype(str) == str(version)
        beside = g[~own]
        hit = beside["record_id"].astype(str).isin(have)
        missing = sorted(beside.loc[~hit, "application_id"].astype(str))
        dates.append({"kind": str(kind), "as_of": str(as_of), "records": len(g),
                      "in_force": {k: vers[k] for k in sorted(vers)}, "own": int(own.sum()),
                      "beside": len(beside), "shadowed": int(hit.sum()), "missing": missing,
                      "covered": not missing})
    versions = sorted({v for d in dates for v in d["in_force"] if v != str(version)})
    if len(versions) > 1:
        notes.append(f"season {season}: more than one {name} version in force ({', '.join('v' + v for v in versions)}"
                     "): a promotion mid-season — each date's shadow rows stand beside that date's own records")
    own_dates = [d["as_of"] for d in dates if d["own"]]
    if own_dates:
        notes.append(f"season {season}: {name} version {version} decided records itself (in force) on "
                     f"{', '.join(own_dates)}: they need no shadow row")
    by_id = recs.set_index(recs["record_id"].astype(str))["in_force"]
    stale = [r for r in shadow.itertuples(index=False) if str(r.record_id) in by_id.index
             and str(r.in_force_version) != str(by_id[str(r.record_id)])]
    if stale:
        notes.append(f"season {season}: {len(stale)} shadow row(s) name another version in force than their record "
                     "does (compared with the record as stored)")
    alone = sorted(set(shadow["record_id"].astype(str)) - set(recs["record_id"].astype(str)))
    if alone:
        notes.append(f"season {season}: {len(alone)} shadow row(s) stand beside no record of the season's runs in "
                     "this store (left out)")
    end, undated = season_end(season, recs["body_dict"], calendar) if len(recs) else (None, [])
    if undated:
        cal_said = f"the season calendar {calendar_name}" if calendar_name else "the season calendar"
        notes.append(f"season {season}: {cal_said} dates no pre_harvest checkpoint of {', '.join(undated)} "
                     "(left out of the season's end)")
    whole = (bool(dates) and all(d["covered"] for d in dates) and any(d["shadowed"] for d in dates)
             and end is not None and any(d["as_of"] >= end for d in dates))
    return SeasonCoverage(season=str(season), dates=dates, whole=whole, notes=notes, end=end, overrides=overrides,
                          mismatched=wrong, orphans=len(alone), calendar=calendar_name)


def genuine_rows(shadow: pd.DataFrame, name: str, version: str, run_id: str | None = None) -> tuple[pd.DataFrame, int]:
    """The shadow rows whose own body names ``name`` version ``version`` (:func:`record_version`; yield-value with
    ``run_id``: a body naming a run names that one) — the rows' labels alone are not trusted — and how many were
    not."""
    if shadow.empty:
        return shadow, 0
    bodies = shadow["body_dict"] if "body_dict" in shadow.columns else [json.loads(b) for b in shadow["body"]]
    ok = []
    for b in bodies:
        good = record_version(b, name) == str(version)
        if good and run_id and name == "yield-value":
            runs = {str(m.get("run_id")) for m in b.get("models") or [] if isinstance(m, dict)
                    and m.get("name") == name and m.get("run_id")}
            good = not runs or runs == {str(run_id)}
        ok.append(good)
    keep = np.array(ok, dtype=bool)
    return shadow[keep], int((~keep).sum())
