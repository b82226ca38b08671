"""A re-underwriting on a county folder (:func:`reunderwrite_county`) or on a bank's own files
(:func:`read_files_inputs`, :func:`reunderwrite_files`), with the checks and cheap refusals made before any work
(:func:`refuse_before_work`, :func:`season_of`, :func:`check_day`, :func:`files_profile`). Re-exported by
:mod:`pipelines.reunderwrite`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError
from pipelines._reunderwrite_lines import checkpoint_lines
from pipelines._reunderwrite_run import Progress, ReunderwriteResult, ScoringModels, reunderwrite
from pipelines.monitor import AlertParams
from underwriting.policy import Policy
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore

if TYPE_CHECKING:
    from pipelines.county import County

__all__ = ["refuse_before_work", "reunderwrite_county", "season_of", "check_day", "files_profile", "FilesInputs",
           "read_files_inputs", "reunderwrite_files"]


def refuse_before_work(book: pd.DataFrame | None, as_of: date, store: DecisionStore | str | None,
                       runner: Any = None, *, deciding: dict[str, Any] | None = None) -> None:
    """The cheap refusals of :func:`reunderwrite`, made before the past seasons' series are built — a dated Book with
    a line open on ``as_of`` and no balance on or before it (:func:`underwriting.book.book_as_of`); with a Dask
    ``runner`` (the past seasons mapped on the cluster) also a store that does not exist and the scene reference on.
    ``deciding`` (the run's :func:`checkpoint_lines` selection: ``applications``, ``season`` and its optional
    keywords; a run with ``book_check_when_deciding``): the Book's refusal only when the date has lines to re-decide
    (:func:`_decides`) — a date with none runs as one with a sound Book."""
    from underwriting.book import book_as_of

    if deciding is None or _decides(book, as_of, store, **deciding):
        book_as_of(book, as_of)
    if runner is not None:
        from features._scene_reference import reference_default

        if not isinstance(store, DecisionStore):  # a mistyped --store creates nothing
            DecisionStore(store, create=False, writer=True).close()
        if reference_default():
            raise UserInputError("--scheduler/--workers: not with the scene reference on "
                                 "(AGCREDIT_SCENE_REFERENCE=1); run on one machine")


def _decides(book: pd.DataFrame | None, as_of: date, store: DecisionStore | str | None, *,
             applications: pd.DataFrame, season: str, **select: Any) -> bool:
    """Whether a run re-decides lines on ``as_of`` (:func:`checkpoint_lines` on the store's records as they are, the
    rejects file not written): cheap — the Book, applications and records; only asked of a dated Book (an undated
    one has nothing to refuse). Lines all covered by later records: the run's own refusal
    (:class:`AlreadyDecidedLater`), raised here, before the work."""
    from underwriting.book import is_dated

    if book is None or not is_dated(book):
        return False
    if isinstance(store, DecisionStore):
        recs = store.records(str(season))
    else:  # a mistyped --store creates nothing
        with DecisionStore(store, create=False) as st:
            recs = st.records(str(season))
    todo, _, _ = checkpoint_lines(book, applications, as_of, str(season), recs, **select)
    return len(todo) > 0


def reunderwrite_county(county: County | str | Path, season: str | None, as_of: date, *,
                        store: DecisionStore | str | None, policy: Policy | None = None, profile: str | None = None,
                        operator: str | None = None, models: ScoringModels | None = None,
                        crops: Sequence[str] | None = None, alert_params: AlertParams | None = None,
                        progress: Progress | None = None, crop_season_scale: float | None = None,
                        haze_dates: Sequence[date] | None = None,
                        history: pd.DataFrame | None = None, same_day_done: bool = False,
                        open_on: date | None = None, memo: dict[Any, Any] | None = None,
                        allow_missing_acquisitions: bool = False, runner: Any = None,
                        chunk_fields: int | None = None, book_check_when_deciding: bool = False,
                        collect: list[DecisionItem] | None = None,
                        refuse_rejected: bool = True, shadow: bool = False,
                        shadow_only: Collection[str] | None = None) -> ReunderwriteResult:
    """:func:`reunderwrite` on a county folder's records, scenes and weather (cache under the county's cache dir;
    ``runner``, ``chunk_fields``, ``book_check_when_deciding``, ``collect``: as :func:`reunderwrite`).
    ``refuse_rejected``: fields of the season rejected when reading the county's records refuse the run
    (:meth:`pipelines.county.County.refuse_rejected`) — not an ``audit replay``, which recomputes records as they
    ran.
    ``history``: the past seasons' series (:meth:`County.past_series`, or with ``runner`` built on its blocks:
    :func:`pipelines._dask_featurize.past_series_on`; read from the county when None) — give it to
    re-underwrite several checkpoints of a season without reading them again; ``memo`` (:func:`reunderwrite`) also
    keeps the county's fields and each season's past series across the calls of one `--due` run. ``shadow``,
    ``shadow_only``: as :func:`reunderwrite`."""
    from pipelines.county import County
    from underwriting.policy import default_policy

    c = county if isinstance(county, County) else County(county)
    season = str(season or c.current_season)
    pol = policy or default_policy()
    prof = profile or c.profile
    if not prof:
        raise UserInputError(f"{c.path}: county.json has no policy_profile; give --profile")
    if refuse_rejected:  # a line is not re-decided on part of its farmer's land (the county's records), before work
        c.refuse_rejected(season)
    def past() -> pd.DataFrame | None:  # with a runner, each past season's series on its blocks (as this season's)
        if runner is None:
            return c.past_series(season)
        from pipelines._dask_featurize import past_series_on

        return past_series_on(runner, fields, c.imagery, season, cache_dir=c.cache_dir / "series",
                              chunk_fields=chunk_fields)

    book, applications = c.book(), c.applications()
    if refuse_rejected:  # nor are a Book line's or a field's id holding its farmer's name written to the records (the
        # files form checks it: a review found the county form writing a surname in a line id to every record of the
        # line); the county's fields as the run reads them (its cache: read once)
        from pipelines._underwrite_inputs import refuse_foreign_personal_ids

        every = c.fields()
        refuse_foreign_personal_ids(c.record_path("applications.csv"), book=book, book_source="book.csv",
                                    fields=every[every["season"].astype(str) == season], fields_source="fields.gpkg")
        from pipelines._id_spelling import refuse_ids_written_otherwise

        refuse_ids_written_otherwise(season=season, applications=applications, fields=every, book=book,
                                     applications_source="applications.csv", fields_source="fields.gpkg",
                                     book_source="book.csv")
    # before the past seasons' series (on a cluster: mapped there); with book_check_when_deciding (--due, a plain
    # --as-of from the CLI) the Book's refusal only when the date has lines to re-decide (reunderwrite checks it again)
    refuse_before_work(book, as_of, store, runner, deciding=dict(
        applications=applications, season=season, crops=crops, open_on=open_on,
        same_day_done=same_day_done) if book_check_when_deciding else None)
    if memo is not None:  # one `--due` run: the fields and past series read once
        if ("fields",) not in memo:
            memo[("fields",)] = c.fields()
        fields = memo[("fields",)]
        if history is None:
            if ("history", season) not in memo:
                memo[("history", season)] = past()
            history = memo[("history", season)]
    else:
        fields = c.fields()
    return reunderwrite(season=season, as_of=as_of, fields=fields, imagery=c.imagery, book=book,
                        applications=applications, store=store, policy=pol, profile=prof,
                        cache_dir=c.cache_dir, history=history if history is not None else past(),
                        operator=operator,
                        models=models, crops=crops, alert_params=alert_params, progress=progress,
                        weather=c.weather(), crop_season_scale=crop_season_scale, haze_dates=haze_dates,
                        same_day_done=same_day_done, yield_history=c.history(), open_on=open_on, memo=memo,
                        allow_missing_acquisitions=allow_missing_acquisitions, runner=runner,
                        chunk_fields=chunk_fields, book_check_when_deciding=book_check_when_deciding,
                        collect=collect, shadow=shadow, shadow_only=shadow_only)


def season_of(season: str | None, known: list[str], default: str, where: str) -> str:
    """``season`` (checked against the ``known`` seasons of ``where``) or ``default``."""
    from features.contracts import check_season

    if season is None:
        return default
    s = check_season(season, where="--season")
    if s not in known:
        raise UserInputError(f"--season {s}: not a season of the {where} (its seasons: {', '.join(known)})")
    return s


def check_day(fields: Any, season: str, day: date) -> None:
    """A user error when ``day`` is before ``season`` starts or after its imagery window ends (checked before any
    scene is read)."""
    from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

    check_as_of_in_season(fields, season, day)
    check_as_of_in_window(fields, season, day)


def files_profile(pol: Policy, applications: pd.DataFrame, book: pd.DataFrame, season: str, day: date) -> str:
    """Without --county and --profile: the policy's profile in the currency of the season's applications and Book
    lines (their terms of ``day``: :func:`underwriting.book.book_as_of` — a line renewed into the season under the
    same line id is of it), chosen as underwrite chooses it (:func:`pipelines.underwrite.profile_for_currency`; a user
    error naming the profiles when the currency is mixed or no profile's)."""
    from pipelines.underwrite import profile_for_currency
    from underwriting.book import book_as_of

    book = book_as_of(book, day, refuse=False)  # the run refuses it when it re-decides lines on the day
    apps = applications[applications["season"].astype(str) == season]
    lines = book[book["season"].astype(str) == season] if "season" in book.columns else book
    currencies = set(apps["currency"].astype(str))
    if "currency" in lines.columns:
        currencies |= set(lines["currency"].astype(str))
    return profile_for_currency(pol, sorted(currencies))


@dataclass(frozen=True)
class FilesInputs:
    """A bank's own files of a re-underwriting (``reunderwrite --fields/--imagery/--book/--applications``), read and
    checked by :func:`read_files_inputs`: the fields (every season: past ones give the alerts' bands) without the rows
    set aside, the season, the Book, applications, weather and reported yields."""

    fields: Any
    imagery: str
    book: pd.DataFrame
    applications: pd.DataFrame
    season: str
    weather: pd.DataFrame | None = None
    yield_history: pd.DataFrame | None = None
    #: the fields file's rows set aside (``--rejects``, or a replay reading the file as such a run did)
    set_aside: list[Any] = field(default_factory=list)
    #: a replay of a ``--rejects`` run whose rows were corrected since: its records' set-aside entry
    #: (:func:`reunderwrite`'s ``set_aside_stamp``)
    set_aside_stamp: dict[str, Any] | None = None


def read_files_inputs(fields: str | Path, imagery: str, book: str | Path, applications: str | Path,
                      season: str | None, as_of: date, *, weather: str | Path | None = None,
                      yield_history: str | Path | None = None, rejects: str | Path | None = None,
                      set_aside: bool = False) -> FilesInputs:
    """Read and check the files of a re-underwriting as of ``as_of`` (one-line user errors, before anything is
    computed or written; nothing is written): the weather and reported yields first, then the fields file — with
    ``rejects`` (checked writable, not written: the run writes it with the held lines) or ``set_aside`` (``audit
    replay``, no rejects file) its rows failing a row-level check set aside, else one such row refuses it — the
    season (default: the file's latest; checked against its seasons and ``as_of`` against its imagery window), the
    applications and the Book. What ``reunderwrite --fields`` and ``audit replay --reunderwriting --fields`` read."""
    from features.fields import read_fields, read_fields_rejecting
    from pipelines.monitor import ALERT_FIELDS_NEED
    from underwriting.applications import read_applications, read_book

    wx = None
    if weather is not None:
        from features.weather import read_weather

        wx = read_weather(weather)  # checked before anything is computed or written
    yh = None
    if yield_history is not None:
        from features._yield_history import read_yield_history

        yh = read_yield_history(yield_history)
    read = (read_fields_rejecting(fields, rejects, need=ALERT_FIELDS_NEED, write=False) if rejects is not None
            else read_fields(fields, need=ALERT_FIELDS_NEED, set_aside=set_aside))
    f = read.fields
    known = sorted(f["season"].astype(str).unique())
    s = season_of(season, known, max(known), f"fields file {fields}")
    if rejects is None and not set_aside:  # a line is not re-decided on part of its farmer's land
        from pipelines.fieldcheck import refuse_rejected

        refuse_rejected(read, s, hint="give --rejects PATH to set them aside and hold their farmers' lines")
    check_day(f, s, as_of)
    from pipelines._underwrite_inputs import applicants_hidden

    apps = read_applications(applications)
    with applicants_hidden(applications) as named:  # a surname typed as a Book's currency: not quoted (a review)
        bk = read_book(book)
    if not set_aside:  # a run writing records (a replay reads the files its records were made from)
        from pipelines._underwrite_inputs import refuse_foreign_personal_ids

        refuse_foreign_personal_ids(named or applications, book=bk, book_source=Path(book).name, fields=f,
                                    fields_source=Path(fields).name)
        from pipelines._id_spelling import refuse_ids_written_otherwise

        refuse_ids_written_otherwise(season=s, applications=apps, fields=f, book=bk,
                                     applications_source=Path(applications).name, fields_source=Path(fields).name,
                                     book_source=Path(book).name)
    return FilesInputs(fields=f, imagery=imagery, book=bk, applications=apps, season=s, weather=wx,
                       yield_history=yh, set_aside=list(read.set_aside))


def reunderwrite_files(inp: FilesInputs, as_of: date, *, store: DecisionStore | str | None, policy: Policy,
                       profile: str | None = None, cache_dir: Path | None = None, operator: str | None = None,
                       models: ScoringModels | None = None, progress: Progress | None = None,
                       crop_season_scale: float | None = None, haze_dates: Sequence[date] | None = None,
                       allow_missing_acquisitions: bool = False, runner: Any = None,
                       chunk_fields: int | None = None, rejects: str | Path | None = None,
                       collect: list[DecisionItem] | None = None,
                       memo: dict[Any, Any] | None = None, shadow: bool = False) -> ReunderwriteResult:
    """:func:`reunderwrite` on a bank's files (:func:`read_files_inputs`) as ``reunderwrite --fields --as-of`` runs
    it: the profile (default :func:`files_profile`), the cheap refusals before the past seasons' series
    (:func:`refuse_before_work`; a dated Book refused only when the date has lines to re-decide), those series (on
    ``runner``'s blocks when given; under ``cache_dir``/series), then the run with ``book_check_when_deciding``.
    ``store`` may be a read-only view (``audit replay``, ``policy``/``models impact --reunderwriting``); ``models``,
    ``collect``: as :func:`reunderwrite`; ``memo``: a dict kept across runs of the same ``inp`` on one date (an
    impact's two runs), so the past seasons' series are read and the features built once (:func:`reunderwrite`).
    ``shadow``: as :func:`reunderwrite`."""
    s = inp.season
    if not profile:
        profile = files_profile(policy, inp.applications, inp.book, s, as_of)
    sc = cache_dir / "series" if cache_dir is not None else None
    # before the past seasons' series (on a cluster: mapped there); a dated Book refused only when the day has lines
    # to re-decide (as a --due checkpoint)
    refuse_before_work(inp.book, as_of, store, runner,
                       deciding={"applications": inp.applications, "season": s, "set_aside": inp.set_aside})
    history = memo.get(("history", s)) if memo is not None else None
    if history is None and runner is not None:  # --scheduler/--workers: the past seasons' series on the blocks too
        from pipelines._dask_featurize import past_series_on

        history = past_series_on(runner, inp.fields, inp.imagery, s, cache_dir=sc, chunk_fields=chunk_fields)
    elif history is None:
        from pipelines.featurize import past_series

        history = past_series(inp.fields, inp.imagery, s, cache_dir=sc)
    if memo is not None:
        memo[("history", s)] = history
    from features.atomic import undone_on_user_error

    # the rejects file is written with the held lines, before the checks that can still refuse the run (the Book's
    # balances, the models, the imagery): a refused run, which stores nothing, puts it back as it was (as underwrite)
    with undone_on_user_error(rejects):
        return reunderwrite(season=s, as_of=as_of, fields=inp.fields, imagery=inp.imagery, book=inp.book,
                            applications=inp.applications, store=store, policy=policy, profile=profile,
                            cache_dir=cache_dir, history=history, operator=operator, progress=progress,
                            models=models, weather=inp.weather, crop_season_scale=crop_season_scale,
                            haze_dates=haze_dates, yield_history=inp.yield_history,
                            allow_missing_acquisitions=allow_missing_acquisitions, runner=runner,
                            chunk_fields=chunk_fields, set_aside=inp.set_aside, rejects=rejects,
                            book_check_when_deciding=True, collect=collect, set_aside_stamp=inp.set_aside_stamp,
                            memo=memo, shadow=shadow)
