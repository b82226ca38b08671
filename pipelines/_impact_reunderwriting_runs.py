"""The runs of a re-underwriting impact (private; see :mod:`pipelines.impact_reunderwriting`): the Book's source (a
county folder or a bank's files, read once as ``reunderwrite --as-of`` reads them), the Book re-underwritten once per
side on a read-only view of the store at each date (each side after its own records of the earlier dates), and what
the runs said of the lines they left out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines._impact_reunderwriting_result import _line
from pipelines.impact import (
    merge_said,
)

__all__ = [
    "_Source", "_read_source", "Later", "Runs", "_twice", "_dates", "_twice_on", "_SKIP_WORDS", "nothing_at",
    "_skipped", "_held", "_store",
]

# --- the Book's source: a county folder or a bank's files ---------------------------------------------------------

@dataclass(frozen=True)
class _Source:
    """The Book's lines' inputs, read and checked once as ``agcredit reunderwrite --as-of`` reads them."""

    season: str
    weather: Any
    county: Any = None
    files: Any = None
    cache_dir: Path | None = None
    allow_missing_acquisitions: bool = False

    def profile(self, policy: Any, profile: str | None, as_of: dt.date) -> str:
        """``profile``, else the county's, else the policy's profile in the lines' currency (as the command)."""
        if profile:
            return profile
        if self.county is not None:
            if not self.county.profile:
                raise UserInputError(f"{self.county.path}: county.json has no policy_profile; give --profile")
            return str(self.county.profile)
        from pipelines.reunderwrite import files_profile

        return files_profile(policy, self.files.applications, self.files.book, self.season, as_of)

    def book_lines(self, as_of: dt.date) -> pd.DataFrame | None:
        """The Book's lines active on ``as_of`` in the season (as re-underwriting counts them); None when the Book
        cannot be read so here (said by the runs)."""
        from pipelines.reunderwrite import active_lines

        try:
            book = self.county.book(not_after=as_of) if self.county is not None else self.files.book
            return active_lines(book, as_of, self.season)
        except UserInputError:
            return None

    def application_ids(self, as_of: dt.date) -> set[str] | None:
        """The application ids a re-underwriting of this Book writes records under: the applications file's and the
        Book's lines' (None when they cannot be read here)."""
        try:
            apps = self.county.applications() if self.county is not None else self.files.applications
        except UserInputError:
            return None
        lines = self.book_lines(as_of)
        ids = set(apps["application_id"].astype(str))
        return ids | set(lines["application_id"].astype(str)) if lines is not None else ids

    def later_days(self, what: str, as_of: dt.date, then: Sequence[dt.date]) -> list[dt.date]:
        """The ``--then`` dates checked as ``--as-of`` is (in the season, inside its imagery window, not after today),
        each after ``as_of`` and the one before it; one-line errors naming the date."""
        if not then:
            return []
        from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

        fields = self.county.fields() if self.county is not None else self.files.fields
        prev, named = as_of, "--as-of"
        for day in then:
            if day <= prev:
                raise UserInputError(f"{what} --reunderwriting: --then {day} is not after {named} {prev} (each --then "
                                     "date comes after --as-of and after the --then before it)")
            check_as_of_in_season(fields, self.season, day, label="--then")
            check_as_of_in_window(fields, self.season, day, label="--then")
            prev, named = day, "--then"
        return list(then)

    def run(self, view: Any, as_of: dt.date, *, policy: Any, profile: str, models: Any, collect: list[Any],
            memo: dict[Any, Any]) -> Any:
        from pipelines.reunderwrite import reunderwrite_county, reunderwrite_files

        if self.county is not None:
            return reunderwrite_county(self.county, self.season, as_of, store=view, policy=policy, profile=profile,
                                       models=models, memo=memo, book_check_when_deciding=True, collect=collect,
                                       allow_missing_acquisitions=self.allow_missing_acquisitions)
        return reunderwrite_files(self.files, as_of, store=view, policy=policy, profile=profile,
                                  cache_dir=self.cache_dir, models=models, collect=collect, memo=memo,
                                  allow_missing_acquisitions=self.allow_missing_acquisitions)


def _read_source(what: str, as_of: dt.date, *, county: str | Path | None, fields: str | Path | None,
                 imagery: str | None, book: str | Path | None, applications: str | Path | None,
                 weather: str | Path | None, history: str | Path | None, season: str | None,
                 cache_dir: Path | None, allow_missing_acquisitions: bool) -> _Source:
    """A county folder (its season checked, the date in its window, its rejected fields refused) or a bank's files
    (:func:`pipelines.reunderwrite.read_files_inputs`), as ``reunderwrite --as-of`` reads them; one-line errors."""
    files = {"--fields": fields, "--imagery": imagery, "--book": book, "--applications": applications}
    if county is not None:
        given = [k for k, v in {**files, "--weather": weather, "--history": history}.items() if v is not None]
        if given:
            raise UserInputError(f"{what} --reunderwriting: give --county or --fields/--imagery/--book/--applications"
                                 f", not both ({', '.join(given)} with --county: a county folder holds its own)")
        from pipelines.county import County
        from pipelines.reunderwrite import check_day, season_of

        c = County(county, cache_dir=cache_dir)
        s = season_of(season, c.seasons, c.current_season, f"county {county}")
        check_day(c.fields(), s, as_of)
        c.refuse_rejected(s)
        return _Source(season=s, weather=c.weather(), county=c,
                       allow_missing_acquisitions=allow_missing_acquisitions)
    missing = [k for k, v in files.items() if v is None]
    if missing:
        raise UserInputError(f"{what} --reunderwriting: give --county DIR, or --fields, --imagery, --book and "
                             f"--applications (missing: {', '.join(missing)})")
    from pipelines.reunderwrite import read_files_inputs

    assert fields is not None and imagery is not None and book is not None and applications is not None
    inp = read_files_inputs(fields, str(imagery), book, applications, season, as_of, weather=weather,
                            yield_history=history)
    return _Source(season=inp.season, weather=inp.weather, files=inp, cache_dir=cache_dir,
                   allow_missing_acquisitions=allow_missing_acquisitions)


#: one later date of a season's impact (``--then``): the date, its (models, policy) per side, the sides' labels and the
#: list its warnings go to
Later = tuple[dt.date, list[tuple[Any, Any]], list[str], list[str]]
#: one date's runs: (the runs, the lines both re-decided — each run's records, lines one run only re-decided by label)
Runs = tuple[list[Any], list[list[Any]], dict[str, list[str]]]


def _twice(what: str, src: _Source, view: Any, as_of: dt.date, runs_of: list[tuple[Any, Any]], labels: list[str],
           profile: str, warnings: list[str], later: Sequence[Later] = ()) -> list[Runs]:
    """The Book re-underwritten once per (models, policy) of ``runs_of`` on the read-only ``view``, nothing written;
    (the runs, the lines both re-decided — each run's records, lines one run only re-decided by its label).
    ``warnings`` gains what the runs said (:func:`pipelines.impact.merge_said`). ``later`` (``--then``): then at each
    of those dates in order, each side on the store as the first date's runs read it plus that side's own records of
    the earlier dates (:func:`_dates`). One :data:`Runs` per date."""
    recs = view.records(src.season)
    days = [as_of, *(x[0] for x in later)]
    ids = src.application_ids(as_of)
    for day in days[1:]:
        more = src.application_ids(day)
        ids = None if ids is None or more is None else ids | more
    # this Book's applications only: another region's run of the date, in the same store, is not this Book's
    mine = recs["application_id"].astype(str).isin(ids) if ids is not None else pd.Series(True, index=recs.index)
    dated = recs[(recs["kind"] == "reunderwrite") & recs["as_of"].isin([d.isoformat() for d in days]) & mine]
    if len(dated):
        # the date was re-underwritten: both runs read the store as that run read it (before its first record), so
        # neither compares with the date's own records (a re-run would measure CROP_CONDITION_DETERIORATED against
        # them on one side only)
        from pipelines.replay import store_view

        first = int(dated["seq"].min())
        if not later:
            warnings.append(f"the store already holds {len(dated)} re-underwriting record(s) as of {as_of}: both runs "
                            "read it as it was before them (the date's run's own inputs); records written since are "
                            "not read")
        else:
            n = dated.groupby("as_of").size()
            since = recs[mine & (recs["seq"] >= first)]  # the first of them and every record of this Book after it
            other = int((since["kind"] != "reunderwrite").sum())
            warnings.append(
                "the store already holds " + ", ".join(f"{int(k)} re-underwriting record(s) as of {d}"
                                                       for d, k in n.items())
                + f": every run reads it as it was before the first of them, not the {len(since)} record(s) of this "
                "Book written from it on (the impact's dates' and after" + (f"; {other} not re-underwriting, e.g. "
                                                                            "overrides" if other else "")
                + ") — each side reads its own records of this impact's earlier dates instead")
        with store_view(view.url, before=first) as before:
            return _dates(what, src, before, first, as_of, runs_of, labels, profile, warnings, later)
    return _dates(what, src, view, view.head()[0] + 1 if later else None, as_of, runs_of, labels, profile, warnings,
                  later)


def _dates(what: str, src: _Source, view: Any, before: int | None, as_of: dt.date, runs_of: list[tuple[Any, Any]],
           labels: list[str], profile: str, warnings: list[str], later: Sequence[Later]) -> list[Runs]:
    """:func:`_twice` on one read-only view (the store read before the record ``before``: the first date's reading),
    then at each later date each side on that reading plus its own records of the earlier dates, in order, as if they
    had been written (:func:`pipelines.replay.store_view`'s ``extra``) — the candidate's second checkpoint follows the
    candidate's first, as the store would stand had it been adopted."""
    from pipelines.replay import store_view

    memo: dict[Any, Any] = {}  # the fields, past seasons' series and features read or built once for every run
    collected: list[list[Any]] = [[], []]  # each side's records of the dates run so far
    out = [_twice_on(what, src, [view, view], as_of, runs_of, labels, profile, warnings, memo, collected)]
    for day, runs_d, labels_d, said in later:
        with store_view(view.url, before=before, extra=collected[0]) as v0, \
                store_view(view.url, before=before, extra=collected[1]) as v1:
            out.append(_twice_on(what, src, [v0, v1], day, runs_d, labels_d, profile, said, memo, collected,
                                 first=False))
    return out


def _twice_on(what: str, src: _Source, views: list[Any], as_of: dt.date, runs_of: list[tuple[Any, Any]],
              labels: list[str], profile: str, warnings: list[str], memo: dict[Any, Any],
              collected: list[list[Any]], *, first: bool = True) -> Runs:
    """One date's two runs, each on its read-only view; each run's records are added to its ``collected``. The first
    date with no line to re-underwrite is refused (nothing to compare); a later one (``first`` False: every line
    matured or decided after it, say) is compared as a date without lines (:func:`nothing_at`)."""
    runs: list[Any] = []
    items: list[list[Any]] = []
    said: list[list[str]] = []
    for view, (models, policy), mine in zip(views, runs_of, collected, strict=True):
        got: list[Any] = []
        res = src.run(view, as_of, policy=policy, profile=profile, models=models, collect=got, memo=memo)
        if first and not got and not items:  # the version in force re-decides no line: refused before the candidate's
            why = "; ".join(dict.fromkeys(res.warnings)) or "no line re-decided"
            raise UserInputError(f"{what} --reunderwriting: no line of the Book to re-underwrite as of {as_of} "
                                 f"(season {src.season}): nothing to compare ({why})")
        runs.append(res)
        items.append(got)
        said.append(list(res.warnings))
        mine.extend(got)
    merge_said(said, labels, warnings)
    ids = [{i.application_id for i in got} for got in items]
    only: dict[str, list[str]] = {}
    for k, (mine_ids, other) in enumerate(((ids[0], ids[1]), (ids[1], ids[0]))):
        extra = sorted(str(_line(i).get("line_id", i.application_id)) for i in items[k]
                       if i.application_id in mine_ids - other)
        if extra:
            only[labels[k]] = extra
    both = ids[0] & ids[1]
    return runs, [[i for i in got if i.application_id in both] for got in items], only


#: what a re-underwriting run says of active lines it leaves out (pipelines/reunderwrite.py's warnings)
_SKIP_WORDS = ("skipped", "left out", "not re-decided", "not re-underwritten")


def nothing_at(runs: list[Any], items: list[list[Any]], only: dict[str, list[str]]) -> str | None:
    """Why neither side re-decided a line at a later date of a season's impact (what the run in force said of the
    lines it left out), or None when one did."""
    if any(items) or only:
        return None
    return "; ".join(dict.fromkeys(runs[0].warnings)) or "no line re-decided"


def _skipped(run: Any) -> tuple[str, ...]:
    return tuple(w for w in dict.fromkeys(run.warnings) if any(k in w for k in _SKIP_WORDS))


def _held(runs: list[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{line} ({aid})" for r in runs for line, aid in r.held_lines))


def _store(url: str | None) -> Any:
    """The decision store as it stands now, read only (one line when it does not exist)."""
    from pipelines.replay import store_view
    from underwriting.store import store_url

    return store_view(store_url(url))
