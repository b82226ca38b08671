"""Seasonal re-underwriting: re-decide every active line of the Book at a checkpoint, with early warnings.

:func:`reunderwrite` takes the Book's lines active on the as-of date (``start_date ≤ as_of ≤
maturity_date``, of the season), builds the FieldFeatures as of that date (the series cache
means only scenes new since the last run are read), values them with the champion models
resolved once (their concrete versions go in every record), decides each line's application
with :func:`underwriting.decisions.decide_batch`, and appends records of kind
``reunderwrite`` to the decision store, each superseding the application's latest record on
or before the as-of date. The idempotency key is derived from the decision's own key (which
holds the application, season, as-of date, input snapshot, model versions and policy hash),
so re-running the same as-of date adds nothing.

Which lines: the Book's active lines, each through its application — the one with its
``application_id``, else the farmer's application of the season (a Book line opened by an
earlier application the records no longer hold); lines with neither are skipped with a
warning. With ``include_decided`` (default) applications of the season that a stored record
approved (APPROVE/REDUCE, on or before the as-of date) and that no Book line covers are
re-decided too, as lines ``D-<application_id>`` with the latest record's limit, nothing drawn
and nothing outstanding (a line later cut to zero is still followed).

Concentration: the lines being re-decided are taken out of the Book for the headroom (their
old limits are being replaced); the other lines stay as exposure.

Per line the change is reported (old → new limit, new reason codes) and:

* ``CROP_CONDITION_DETERIORATED`` is added (first, with the reduction old − new limit) when the
  new limit is below the old one and the crop's condition fell: the stressed value of the
  fields is below the one in the previous record, or a field of the farmer has a WATCH,
  CROP_FAILURE, EARLY_HARVEST or NOT_PLANTED alert;
* when the new limit is below the outstanding balance, a proposed action (:func:`propose_actions`):
  ``FREEZE_UNDRAWN`` always (stop further drawings); ``SHORTEN_TERM`` when the new decision's
  maturity (expected harvest + marketing window) is earlier than the line's; ``REVIEW`` (send to
  an analyst) when the new outcome is DECLINE, the new limit covers less than ``review_share``
  (default half) of the outstanding balance, or a high-severity alert is open. A DECLINE freezes the
  undrawn line also with nothing outstanding.
* under a policy with ``keep_unvalued_lines`` (2026.12.4 on), a REFER re-estimates no limit (its limit
  is only indicative): when it says the models could not value the fields at this checkpoint —
  referred only for the failing area share, every failing field failing only on
  :data:`NO_ESTIMATE_CODES` and out of the yield model's scope (before its validated checkpoints) or
  without enough clear imagery, none of them disputed by the imagery's crop — the line is *not
  re-estimated*: it is kept as it stands, no action is proposed (``REVIEW`` when a high-severity
  alert is open), no ``CROP_CONDITION_DETERIORATED`` is added, and the record's
  ``reunderwrite.not_reestimated`` and the change row name the codes; any other REFER (a parcel
  overlap claim, fields not planted, a crop mismatch or dispute, a double pledge...) freezes the
  undrawn line and is sent to ``REVIEW``, whatever its indicative limit — its term is not shortened
  on a limit nobody re-estimated. Under earlier policies a REFER is treated as its indicative limit
  (as above for a limit below the balance; ``REVIEW`` otherwise), as those releases did.
* under a policy with ``open_alerts_act`` (2026.12.6 on), the alerts are computed before the decisions: a field
  with an open CROP_FAILURE alert is excluded from the valuation (CROP_FAILURE_OBSERVED, :func:`with_failures_observed`)
  — the yield model's value of a crop the monitoring saw fail does not stand (the us-nebraska demo raised a line
  whose maize had failed) — and a line with any open high-severity alert is sent to ``REVIEW`` whatever its new
  limit covers.
* new decisions (``underwrite``) reuse these rules under policy 2026.12.10: the store's open alerts
  (:func:`stored_alerts`: the farmer's latest re-underwriting record on or before the decision date) exclude a failed
  field as here (``decisions_read_alerts``), and a decision renewing the farmer's active Book line proposes what a
  re-underwriting of the line would (``renewals_propose_actions``, :func:`renewal_actions`).

Alerts: :func:`pipelines.monitor.detect_alerts` on the season's clear NDVI up to the as-of
date, against expectations from past seasons' series (``history``), each with the affected
line(s); thresholds: ``alert_params`` when given, else those the crop-type model version carries (tuned on its
training seasons' diaries, :mod:`pipelines._alert_fit`), else the rules' defaults.
"""

from __future__ import annotations

# every name importable from this module before its split into the pipelines._reunderwrite_* modules stays
# importable here (the noqa'd imports: re-exported, not used here)
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field  # noqa: F401
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError
from pipelines._reunderwrite_actions import (  # noqa: F401
    _UNSEEN,
    DETERIORATION_ALERTS,
    NO_ESTIMATE_CODES,
    ActionRules,
    _actions,
    _as_stored,
    _day_text,
    _iso,
    _link,
    change_counts,
    is_kept,
    keeps_unvalued_lines,
    not_reestimated,
    opens_alerts,
    propose_actions,
    renewal_actions,
    stored_alerts,
    unvalued_text,
)
from pipelines._reunderwrite_inputs import (  # noqa: F401
    FilesInputs,
    _decides,
    check_day,
    files_profile,
    read_files_inputs,
    refuse_before_work,
    reunderwrite_county,
    reunderwrite_files,
    season_of,
)
from pipelines._reunderwrite_lines import (  # noqa: F401
    FIELD_IDS_KEY,
    HELD_KEY,
    AlreadyDecidedLater,
    _by_rejects_run,
    _hold,
    _one_row_per_application,
    _set_aside_stamp,
    active_lines,
    book_with_decided,
    booked_seasons,
    checkpoint_lines,
    decided_lines,
    forward_only,
    later_note,
    lines_to_review,
    skipped_note,
)
from pipelines._reunderwrite_run import (  # noqa: F401
    CHANGE_COLUMNS,
    DEFAULT_OPERATOR,
    Progress,
    ReunderwriteResult,
    ScoringModels,
    _in_shadow,
    _memo_get,
    _memo_put,
    reunderwrite,
)
from pipelines.monitor import AlertParams, fields_region  # noqa: F401
from pipelines.underwrite import (  # noqa: F401
    SET_ASIDE_KEY,
    ChampionModels,
    checkpoint_label,
    portable_source,
    set_aside_provenance,
    write_features_artifact,
)
from underwriting.book import balance_date_text  # noqa: F401
from underwriting.decisions import with_failures_observed
from underwriting.policy import Policy
from underwriting.records import DecisionItem, canonical_json, sha256_hex  # noqa: F401
from underwriting.rules import crop_disputed  # noqa: F401
from underwriting.standing import (  # noqa: F401
    kept_body,
    kept_lines_stand,
    override_behind,
    skips_to_book,
    standing_of,
)
from underwriting.store import AppendResult, DecisionStore, record_id_for  # noqa: F401

if TYPE_CHECKING:
    from pipelines.county import County
    from pipelines.schedule import Due

__all__ = ["ScoringModels", "ActionRules", "ReunderwriteResult", "active_lines", "booked_seasons", "book_with_decided", "decided_lines",
           "change_counts", "keeps_unvalued_lines", "lines_to_review", "not_reestimated", "opens_alerts", "propose_actions",
           "reunderwrite", "with_failures_observed", "stored_alerts", "renewal_actions",
           "reunderwrite_county", "checkpoint_lines", "deciding_dates", "FilesInputs", "read_files_inputs",
           "reunderwrite_files", "season_of", "check_day", "files_profile",
           "reunderwrite_due", "checkpoint_label", "DETERIORATION_ALERTS", "NO_ESTIMATE_CODES", "DEFAULT_OPERATOR"]

#: ``reunderwrite --due`` on the real date refuses a county whose seasons' last checkpoints are all more than this many
#: days in the past (:class:`SeasonOver`)
SEASON_OVER_DAYS = 365


class SeasonOver(Exception):
    """Every season ``reunderwrite --due`` would look at ended long ago (``current_season`` not rolled over)."""


def _refuse_season_over(today: date, c: County, seasons: list[str], cal: pd.DataFrame, *, given: bool) -> None:
    """:class:`SeasonOver` when the last checkpoint (in the county's region) of each of ``seasons`` is more than
    :data:`SEASON_OVER_DAYS` days before ``today``."""
    from datetime import timedelta

    from pipelines.schedule import checkpoint_dates

    last: dict[str, date] = {}
    for s in seasons:
        try:
            cps = checkpoint_dates(s, cal, c.region)
        except UserInputError:  # no checkpoint of the region: nothing is due, as without this check
            return
        if cps.empty:
            return
        last[s] = cps["date"].max().date()
    if not last or max(last.values()) >= today - timedelta(days=SEASON_OVER_DAYS):
        return
    s = max(last, key=lambda k: last[k])
    what = f"season {s} (--season)" if given else f"current_season {c.current_season}"
    raise SeasonOver(
        f"no open season in {c.path}: {what} ended on {last[s]} (its last checkpoint in {c.region}), more than "
        f"{SEASON_OVER_DAYS} days before {today}; roll it over (current_season in {c.path / 'county.json'}, with the "
        "new season's records and scenes), or give --today DATE to run a past date; nothing run, nothing marked done")


def reunderwrite_due(today: date, *, county: County | str | Path, store: str | None,
                     season: str | None = None, calendar: str | Path | None = None,
                     policy: Policy | None = None, profile: str | None = None, operator: str | None = None,
                     models: ScoringModels | None = None,
                     progress: Progress | None = None,
                     on_done: Callable[[Due, ReunderwriteResult], None] | None = None,
                     refuse_season_over: bool = False, runner: Any = None, chunk_fields: int | None = None,
                     start_runner: Callable[[], AbstractContextManager[Any]] | None = None,
                     shadow: bool = False) -> list[tuple[Due, ReunderwriteResult]]:
    """Run exactly the checkpoints due on ``today`` and not yet done (per crop: the lines of that crop at the
    checkpoint's date; missed earlier checkpoints are superseded); each is marked done in the
    CheckpointLog in the store's database, so a second call does nothing. ``on_done(due, result)`` is called as
    each checkpoint is marked (the CLI prints its changes and proposed actions then: a run killed in a later
    checkpoint had printed none, and its re-run does not repeat the finished ones).

    One run per store at a time: a second one started meanwhile raises
    :class:`~underwriting.store.RunInProgress` before reading which checkpoints are due (it does not wait).
    ``refuse_season_over`` (the CLI without ``--today``: a timer's run on the real date): :class:`SeasonOver`, nothing
    run or marked, when the last checkpoint of every season looked at is more than :data:`SEASON_OVER_DAYS` days
    before ``today`` — a county whose ``current_season`` was never rolled over ran every checkpoint with nothing
    written, green, for good. ``runner``, ``chunk_fields``: each checkpoint's features on spatial blocks (on Dask),
    as :func:`reunderwrite`; ``start_runner``: the runner started (a context manager: a local cluster's processes)
    only once the run lock is held and a checkpoint is due — a timer's second run, or a day with nothing due,
    starts no cluster. ``shadow``: each checkpoint's challengers in shadow, as :func:`reunderwrite`; a checkpoint
    covered by later records adds the shadow rows those records lack, as a repeated run of their date would
    (:func:`pipelines._reunderwrite_covered.shadow_covered`; never a record)."""
    from pipelines.county import County
    from pipelines.schedule import due_seasons, load_calendar
    from underwriting.store import store_url

    c = county if isinstance(county, County) else County(county)
    if season and str(season) not in {str(x) for x in c.seasons}:
        raise UserInputError(f"--season {season}: county {c.path} has seasons {', '.join(map(str, c.seasons))}; "
                             "nothing of that season to re-underwrite")
    if today > date.today():
        raise UserInputError(f"--today {today} is after today ({date.today()}): a checkpoint cannot be run before "
                             "its date")
    book = c.book(not_after=today)  # a dated Book: a balance dated after the run's day (today) is refused
    if season:
        seasons = [str(season)]
    else:  # the current season, and another whose window is open today if the Book has lines of it
        booked = booked_seasons(book, today)
        seasons = due_seasons(today, c.current_season, [str(s) for s in c.seasons], booked, c.region)
    url = store_url(store)
    cal = load_calendar(calendar)  # checked before the store is opened (a bad calendar creates nothing)
    if progress is not None:  # a crop the county lends on without checkpoints is never re-underwritten: said
        from pipelines._calendar_check import uncovered_crops

        lent = [(c.region, x) for x in c.crops] + list(zip(book["region"], book["crop"], strict=True))
        for w in uncovered_crops(cal, lent, f"county {c.path} (county.json's crops, the Book's lines)"):
            progress(f"warning: {w}")
    if refuse_season_over:
        _refuse_season_over(today, c, seasons, cal, given=bool(season))
    DecisionStore(url, create=False, writer=True).close()  # an existing store (a mistyped --store creates nothing)
    from underwriting.store import run_lock

    # one --due run per store at a time (not waiting: a timer's second run finds the first doing the work); a second
    # run raises RunInProgress before it reads which checkpoints are due — it computes and prints nothing
    with run_lock(url, "reunderwrite --due"):
        return _run_due(today, c, url, seasons, cal, book, policy=policy, profile=profile, operator=operator, models=models,
                        progress=progress, on_done=on_done, runner=runner, chunk_fields=chunk_fields,
                        start_runner=start_runner, shadow=shadow)


def deciding_dates(c: County, url: str, due: Sequence[Due], book: pd.DataFrame, today: date) -> list[date]:
    """The dates of the ``due`` checkpoints that have lines to re-decide, as the run selects them
    (:func:`checkpoint_lines` of the checkpoint's season and crop on the store's records as they are, ``open_on`` the
    run's day, ``same_day_done``): the dates a ``--due`` run decides on the Book of. Cheap (the Book, applications
    and records; no model, series or cluster). A Book the selection itself refuses (a line's currency not its
    application's, an unknown region) is refused here, up front, as the checkpoint would refuse it. The store's
    records are read once, before the run: a checkpoint that the run's own earlier checkpoints give lines to (not
    seen on the demo or in the tests) is still checked, by the run, before it decides (``book_check_when_deciding``)."""
    from underwriting.book import is_dated

    if not is_dated(book) or not due:
        return []
    applications = c.applications()
    from pipelines.schedule import plain_run_records

    records: dict[str, pd.DataFrame] = {}
    plain: dict[date, set[str]] = {}
    with DecisionStore(url, create=False) as st:
        for s in sorted({d.season for d in due}):
            records[s] = st.records(s)
        for day in sorted({d.date for d in due}):
            plain[day] = plain_run_records(st, day)
    out = []
    for d in due:
        try:
            todo, _, _ = checkpoint_lines(book, applications, d.date, d.season, records[d.season], crops=[d.crop],
                                          open_on=today, same_day_done=True, plain_records=plain[d.date])
        except AlreadyDecidedLater:  # covered: the run logs it so, deciding nothing
            continue
        if len(todo):
            out.append(d.date)
    return out


def _champions_on(day: date, c: County, progress: Progress | None) -> ScoringModels:
    """A ``--due`` checkpoint's models: the champions in force on ``day`` (:meth:`ScoringModels.resolve`), a
    fallback to today's champion said as a warning line (as a run's other warnings)."""
    said: list[str] = []
    models = ScoringModels.resolve(warnings=said, weather=c.weather(), on=day)
    if progress is not None:
        for w in said:
            progress(f"warning: {w}")
    return models


def _run_due(today: date, c: County, url: str, seasons: list[str], cal: pd.DataFrame, book: pd.DataFrame, *,
             policy: Policy | None,
             profile: str | None, operator: str | None, models: ScoringModels | None, progress: Progress | None,
             on_done: Callable[[Due, ReunderwriteResult], None] | None, runner: Any = None,
             chunk_fields: int | None = None, start_runner: Callable[[], AbstractContextManager[Any]] | None = None,
             shadow: bool = False) -> list[tuple[Due, ReunderwriteResult]]:
    """:func:`reunderwrite_due`'s run, under the store's run lock."""
    from contextlib import closing

    from features.series import MissingAcquisitions
    from pipelines._reunderwrite_covered import shadow_covered
    from pipelines.schedule import CheckpointLog, due_checkpoints
    from underwriting._store_schema import record_id_for  # noqa: F811  (the module's own: a re-export)

    # the log's connections released when the run ends (a long-lived process kept the store's -wal/-shm open)
    with closing(CheckpointLog(url)) as log:
        due = due_checkpoints(today, seasons, cal, log.done(), regions=[c.region])
        if not due:
            runs = log.rows()
            later = runs.loc[(runs["region"] == c.region) & (runs["as_of"] > today.isoformat()), "as_of"]
            if len(later) and progress is not None:  # a clock (or --today) set back: cron would run nothing, unseen
                progress(f"warning: {today} is before checkpoints already run (as of up to {later.max()}): is the "
                         "date right?")
            return []
        from underwriting.book import refuse_undated_open_lines

        # a dated Book: the date of every due checkpoint with lines to re-decide checked before the cluster, models and past
        # series (a run catching up several checkpoints refused at the first such date after that work, and ran none); a
        # checkpoint with none (no line of its crop open, covered by later records) decides nothing on its date's Book
        refuse_undated_open_lines(book, deciding_dates(c, url, due, book, today))
        for sn in sorted({d.season for d in due}):  # before the cluster, models and past series: as each run refuses
            c.refuse_rejected(sn)
        from contextlib import nullcontext

        with start_runner() if start_runner is not None else nullcontext(runner) as started:
            # each checkpoint decided with the champions in force on its date (a missed one caught up later decides as that
            # day's models would), resolved once per date; models given: those
            on_day: dict[date, ScoringModels] = {}
            out = []
            memo: dict[Any, Any] = {}  # two crops due the same day: the fields featurized once, each season's history read once
            for i, d in enumerate(due):
                if i and (due[i - 1].season, due[i - 1].date) not in {(x.season, x.date) for x in due[i:]}:
                    # no checkpoint left at the previous one's date: its features need not be held any longer
                    for k in [k for k in memo if k[0] == "featurize" and k[1:3] == (due[i - 1].season,
                                                                                   due[i - 1].date.isoformat())]:
                        del memo[k]
                try:
                    res = reunderwrite_county(c, d.season, d.date, store=url, policy=policy, profile=profile,
                                              operator=operator, crops=[d.crop], progress=progress,
                                              models=models or on_day.get(d.date) or on_day.setdefault(
                                                  d.date, _champions_on(d.date, c, progress)),
                                              same_day_done=True, open_on=today, memo=memo, runner=started,
                                              chunk_fields=chunk_fields, book_check_when_deciding=True,
                                              shadow=shadow)
                except MissingAcquisitions as e:  # --due refuses --allow-missing-acquisitions: what to do instead
                    raise UserInputError(e.for_due(c.path, d.season, d.date)) from None
                except AlreadyDecidedLater as e:  # a later run (e.g. all lines at a later as-of) already covers it
                    # its covering records' missing shadow rows, as a repeat of their date adds them (before the mark:
                    # a run killed meanwhile repeats it; the rows present add nothing)
                    said = (shadow_covered(c, book, d, url, today, champions=lambda day: models or on_day.get(day) or
                                           on_day.setdefault(day, _champions_on(day, c, progress)), policy=policy,
                                           profile=profile, operator=operator, progress=progress, memo=memo,
                                           runner=started, chunk_fields=chunk_fields) if shadow else [])
                    res = ReunderwriteResult(d.season, d.date, d.checkpoint, [], pd.DataFrame(columns=CHANGE_COLUMNS),
                                             pd.DataFrame(), warnings=[f"{d.crop} {d.checkpoint} ({d.date}): covered by "
                                                                       f"the records as of {e.latest}; not run"],
                                             covered_by=e.latest, shadow=said)
                    log.mark(d, as_of=d.date, n_lines=0, status="covered")
                    out.append((d, res))
                    if on_done is not None:
                        on_done(d, res)
                    continue
                log.mark(d, as_of=d.date, n_lines=len(res.items), status="ran" if res.items else "no_lines",
                         record_ids=[record_id_for(i.idempotency_key) for i in res.items])
                out.append((d, res))
                if on_done is not None:
                    on_done(d, res)
        return out
