"""One re-underwriting run (:func:`reunderwrite`; see :mod:`pipelines.reunderwrite`'s docstring): the features,
valuations, alerts and decisions as of the date, each line's record appended, and its challengers in shadow
(:func:`_in_shadow`); what it returns (:class:`ReunderwriteResult`). Re-exported by :mod:`pipelines.reunderwrite`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines._reunderwrite_actions import ActionRules, _as_stored, _day_text, _iso, _link
from pipelines._reunderwrite_lines import _by_rejects_run, _set_aside_stamp, checkpoint_lines, skipped_note
from pipelines.monitor import AlertParams, fields_region
from pipelines.underwrite import (
    SET_ASIDE_KEY,
    ChampionModels,
    checkpoint_label,
    portable_source,
    write_features_artifact,
)
from underwriting.decisions import with_failures_observed
from underwriting.policy import Policy
from underwriting.records import DecisionItem
from underwriting.standing import kept_lines_stand, line_block, skips_to_book
from underwriting.store import AppendResult, DecisionStore, record_id_for

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["ScoringModels", "ReunderwriteResult", "reunderwrite", "DEFAULT_OPERATOR", "CHANGE_COLUMNS", "Progress"]

DEFAULT_OPERATOR = "agcredit-reunderwrite"
CHANGE_COLUMNS = ["line_id", "application_id", "farmer_token", "currency", "book_limit", "old_limit", "new_limit", "change",
                  "drawn", "outstanding", "old_outcome", "new_outcome", "new_reasons", "reason_codes",
                  "actions", "not_reestimated", "alerts", "record_id", "supersedes", "balance_as_of"]
Progress = Callable[[str], None]


#: models resolved once per run — the same object ``underwrite`` uses
ScoringModels = ChampionModels


@dataclass
class ReunderwriteResult:
    """What a re-underwriting run decided, wrote and saw."""

    season: str
    as_of: date
    checkpoint: str
    items: list[DecisionItem]
    changes: pd.DataFrame
    alerts: pd.DataFrame
    written: int = 0
    already_present: int = 0
    warnings: list[str] = field(default_factory=list)
    models: dict[str, str | None] = field(default_factory=dict)
    #: a run as of a past date on the registry's champions: which versions (those in force on that date) and why
    models_said: str | None = None
    #: the phenology smoother's scene haze dates (None when nothing was featurized) and whether they were pinned
    hazy_dates: list[str] | None = None
    haze_pinned: bool = False
    #: a scheduled checkpoint not run: the as-of date of the later records that cover its lines
    covered_by: str | None = None
    #: the lines not re-decided (``reunderwrite(set_aside=...)``): their farmers' fields had rows set aside —
    #: (line id, application id), by line; their previous records stay in force
    held_lines: list[tuple[str, str]] = field(default_factory=list)
    #: the fields file's rows set aside (``reunderwrite(set_aside=...)``), in file order
    set_aside: list[Any] = field(default_factory=list)
    #: what each challenger did in shadow (``reunderwrite(shadow=True)``: :class:`pipelines.shadow.ShadowSummary`)
    shadow: list[Any] = field(default_factory=list)


def reunderwrite(*, season: str, as_of: date, fields: gpd.GeoDataFrame, imagery: str | Path | None,
                 book: pd.DataFrame, applications: pd.DataFrame, store: DecisionStore | str | None,
                 policy: Policy, profile: str, cache_dir: Path | None = None, history: pd.DataFrame | None = None,
                 operator: str | None = None, prices: Any = None, models: ScoringModels | None = None,
                 series: pd.DataFrame | None = None, crops: Sequence[str] | None = None,
                 include_decided: bool = True, alert_params: AlertParams | None = None, rules: ActionRules | None = None,
                 progress: Progress | None = None, weather: pd.DataFrame | str | Path | None = None,
                 crop_season_scale: float | None = None,
                 haze_dates: Sequence[date] | None = None, same_day_done: bool = False,
                 yield_history: pd.DataFrame | None = None, open_on: date | None = None,
                 memo: dict[Any, Any] | None = None,
                 allow_missing_acquisitions: bool = False, runner: Any = None,
                 chunk_fields: int | None = None, set_aside: Sequence[Any] = (),
                 rejects: str | Path | None = None, book_check_when_deciding: bool = False,
                 collect: list[DecisionItem] | None = None,
                 set_aside_stamp: dict[str, Any] | None = None, shadow: bool = False,
                 shadow_only: Collection[str] | None = None) -> ReunderwriteResult:
    """Re-underwrite the active lines of ``book`` as of ``as_of`` (see the module docstring).

    ``fields``: the Fields of the season (other seasons' rows give the alerts' expectations);
    ``cache_dir``: the cache root (featurize keeps series under ``series/`` and planted area under ``area/``);
    ``models``: resolved once (default: the registry's champions); ``prices``: a PriceTable (default
    the shipped one); ``series``: this season's FieldTimeSeries instead of building it; ``crops``: only
    the lines of these crops; ``history``: past seasons' FieldTimeSeries; ``weather``: a daily weather file or
    table (:mod:`features.weather`; default: the one ``models`` carry) — a yield model that reads weather refuses
    to score without it (one-line user error). ``crop_season_scale`` and ``haze_dates`` pin the crop model's season
    scale and the smoother's scene haze dates (an earlier record's ``crop_season_scale`` and
    ``smoother_hazy_dates``), as on ``underwrite``. Lines whose application has a record dated after ``as_of``
    (``same_day_done``: on or after) are skipped with a warning (:func:`forward_only`). ``open_on`` (a checkpoint
    run late: the day it runs): lines matured before that day are left out with a warning — a closed line has
    nothing left to follow, and its record would be dated before the later ones. ``memo``: for
    :func:`reunderwrite_due` only — a dict kept across the calls of one `--due` run on one county, so two crops due
    the same day featurize the fields once (its keys assume the same county, fields object and series source).
    ``allow_missing_acquisitions``: go on when a partial ``imagery fetch`` recorded acquisitions of the window
    missing (else refused: :func:`features.series.missing_acquisitions`); the records' provenance names the dates.
    ``runner`` (:func:`pipelines.distributed.runner_from_options`; ``--scheduler``/``--workers``): the series and
    features are built on its spatial blocks of ``chunk_fields`` fields (:func:`pipelines.distributed.featurize_on`;
    a scene folder, a series table, ``sentinelhub-stats`` or ``sentinelhub``) — the same features, alerts
    and decisions as on one machine.
    ``set_aside``: the rows the fields file's reading set aside (``--rejects``; :class:`features.fields.SetAside`,
    left out of ``fields``): the lines of a farmer with such a row of the season (:func:`features.fields.held_farmers`)
    are not re-decided (:attr:`ReunderwriteResult.held_lines`; their previous records stay in force), the rows are
    written to ``rejects`` with those lines' applications before any record is stored, and the records name the
    rows of the season and the applications held (:func:`_set_aside_stamp`; nothing when no row is of the season).
    A line re-underwritten as of ``as_of`` by such a run that held lines is not re-decided by a later run of that
    date, also when an analyst overrode it since (the run after the rows are corrected decides the held lines only;
    :func:`_by_rejects_run`).
    ``book_check_when_deciding`` (a ``--due`` run's checkpoint): a dated Book's refusal of a line open on ``as_of``
    without a balance on or before it (:func:`underwriting.book.book_as_of`) only when the checkpoint has lines to
    re-decide (:func:`checkpoint_lines`) — a checkpoint with none (no line of its crop open, every line covered by a
    later record) decides nothing on the Book of that date and runs as one with a sound Book.
    ``collect`` (``audit replay --reunderwriting``): the new records' items are put in this list instead of being
    appended, and the features artifact is hashed, not written — nothing is written to the store or beside it.
    ``set_aside_stamp`` (a replay of a ``--rejects`` run with the fields file corrected since: its rows no longer
    fail, so the rejects file's hash cannot be recomputed): the records' :data:`pipelines.underwrite.SET_ASIDE_KEY`
    entry as the run wrote it, instead of :func:`_set_aside_stamp`'s.
    A run of every crop's lines (``crops`` None) that writes records logs them as one run beside them, in their
    transaction (:func:`pipelines.schedule.plain_run_logger`).
    ``shadow`` (a run that writes records): once they are appended, each model's ``challenger`` (another version than
    the run's) re-decides the same lines in its place on the store as the run read it (:func:`_in_shadow`: this
    function again, on a read-only view, with ``collect``; the features the run built are reused through ``memo``)
    and those decisions go to the store's shadow table beside the run's records (:attr:`ReunderwriteResult.shadow`);
    never records, and a shadow that fails leaves the run as it is.
    ``shadow_only`` (a ``--due`` checkpoint covered by this date's records whose shadow rows are missing,
    :func:`pipelines._reunderwrite_covered.shadow_covered`): this run as a repeat of the date, nothing appended or
    written beside the store — of the lines of these applications, those whose record it finds stored (the repeat's
    own) are decided in shadow (``shadow``) exactly as a repeated run adds their missing rows; a line it would decide
    anew gets no record and no shadow row.
    """
    if shadow and collect is None and memo is None:  # the shadow runs reuse the run's features
        memo = {}
    call = dict(locals())  # the run's arguments, for its shadow runs
    from models.prices import read_prices
    from pipelines.featurize import featurize, require_weather
    from underwriting.decisions import decide_batch

    season = str(season)
    from underwriting.book import book_as_of

    # a dated Book: each line's latest balance on or before the date (else as it is); refused on a line open on the
    # day without one — with ``book_check_when_deciding``, only once the date has lines to re-decide (below)
    given_book = book
    book = book_as_of(book, as_of, refuse=not book_check_when_deciding)  # type: ignore[assignment]
    if series is None:  # a partial `imagery fetch`: refused before any work
        from features.series import missing_acquisitions

        missing_acquisitions(fields, imagery, season, as_of, allow=allow_missing_acquisitions)
    warnings: list[str] = []
    say = progress or (lambda _m: None)
    label = checkpoint_label(season, fields_region(fields) or "", as_of) if len(fields) else "end"
    own = not isinstance(store, DecisionStore)
    # the store must exist: re-underwriting follows stored decisions (a mistyped --store creates nothing)
    st = store if isinstance(store, DecisionStore) else DecisionStore(store, create=False, writer=True)
    fresh: list[Path] = []  # the features file this run wrote, until its records are stored (removed on failure)
    try:
        recs = st.records(season)
        from pipelines.schedule import plain_run_records

        todo, recheck, held_lines = checkpoint_lines(book, applications, as_of, season,
                                                     recs, include_decided=include_decided, crops=crops,
                                                     set_aside=set_aside, rejects=rejects, open_on=open_on,
                                                     same_day_done=same_day_done, warnings=warnings,
                                                     plain_records=plain_run_records(st, as_of) if same_day_done
                                                     else frozenset())
        if todo.empty:
            warnings.append(f"no active line to re-underwrite on {as_of}")
            return ReunderwriteResult(season, as_of, label, [], pd.DataFrame(columns=CHANGE_COLUMNS), pd.DataFrame(),
                                      warnings=warnings, held_lines=held_lines, set_aside=list(set_aside))
        if book_check_when_deciding:  # lines to re-decide on this date: the dated Book's refusal of the day
            book_as_of(given_book, as_of)
        apps = applications[applications["application_id"].isin(set(todo["review_application_id"]))]
        # the line's maturity bounds the re-decided term: a re-underwriting after the expected harvest gave a fresh
        # marketing window from the checkpoint and extended lines past their contract (shortening is proposed)
        ends = {str(a): _day_text(_iso(m)) for a, m in zip(todo["review_application_id"], todo["maturity_date"],
                                                            strict=True)}
        apps = apps.assign(latest_maturity_date=apps["application_id"].astype(str).map(ends))
        resolved, wx = ScoringModels.for_run(models, weather=weather, warnings=warnings, on=as_of)
        models = resolved.with_season_scale(crop_season_scale)
        prices = prices if prices is not None else read_prices()
        say(f"features as of {as_of}")
        key = ("featurize", season, as_of.isoformat(), models.crop_version, crop_season_scale,
               tuple(haze_dates or ()), id(fields), str(imagery), None if series is None else id(series),
               allow_missing_acquisitions)
        # the objects the key names by id() are kept in the entry (_memo_put): not collected while the memo lives,
        # their ids cannot be another object's
        refs = (fields, series)
        fr = _memo_get(memo, key, refs)
        if fr is None and runner is not None and series is None and imagery is not None:  # --scheduler/--workers
            from pipelines.distributed import featurize_on

            fr = featurize_on(runner, fields, imagery, season, as_of, crop_model=models.crop_model,
                              cache_dir=cache_dir, weather=wx, haze_dates=haze_dates,
                              allow_missing_acquisitions=allow_missing_acquisitions, chunk_fields=chunk_fields)
            _memo_put(memo, key, fr, refs)
        if fr is None:  # the fields, imagery and models of one `--due` run are the same for every crop due that day
            fr = featurize(fields, imagery, season, as_of, crop_model=models.crop_model, cache_dir=cache_dir,
                           series=series, weather=wx, haze_dates=haze_dates,
                           allow_missing_acquisitions=allow_missing_acquisitions)
            _memo_put(memo, key, fr, refs)
        warnings.extend(fr.warnings)
        feats = fr.features
        require_weather(feats, models.yield_model, f"{models.yield_name} version {models.yield_version}")
        say(f"valuations ({models.yield_name} v{models.yield_version})")
        # exactly as `underwrite` values (pipelines.underwrite._valuations): the features aligned to the model's
        # columns, each region's checkpoint from its calendar and the crops valued there — so the same field on the
        # same date is in (or out of) the model's validated scope on both paths
        from pipelines.underwrite import _valuations, align_features, later_prices

        if yield_history is not None:  # the pre-season rule values a field on its reported yields (as underwrite)
            from features._yield_history import add_history_yields

            feats = add_history_yields(feats, yield_history, season)
        feats = align_features(feats, models.yield_model, warnings)
        vals, label = _valuations(feats, models, prices, policy.profile(profile).currency, season, as_of, warnings)
        warnings.extend(later_prices(prices.to_frame(), vals, season, as_of,
                                     known_at_decision=bool(policy.profile(profile).prices_known_at_decision)))
        # the lines being re-decided are not exposure against themselves (a farmer's lines reviewed together are
        # one row "L1+L2": each of its Book lines is left out)
        known = set(book["line_id"].astype(str))
        reviewed = {str(x) for x in todo["line_id"]}
        reviewed |= {part for x in list(reviewed) if x not in known for part in x.split("+") if part in known}
        sha = write_features_artifact(feats, st.url, write=collect is None and shadow_only is None, created=fresh)
        from features.regions import provenance as regions_provenance

        provenance = {"features_sha256": sha, "run": f"reunderwrite {season} {as_of.isoformat()}",
                      "checkpoint": label, "imagery_source": portable_source(fr.source),
                      "acquisition_dates": [d.isoformat() for d in fr.dates_used],
                      "crop_model_version": models.crop_version, "smoother_hazy_dates": list(fr.hazy_dates),
                      **({"smoother_haze_pinned": True} if fr.haze_pinned else {}),
                      # decided without them (--allow-missing-acquisitions): only then, records as before
                      **({"missing_acquisitions": list(fr.missing_acquisitions)} if fr.missing_acquisitions else {}),
                      **regions_provenance(),
                      **(_set_aside_stamp(set_aside, season, held_lines) if set_aside_stamp is None
                         else {SET_ASIDE_KEY: set_aside_stamp})}
        from pipelines.monitor import alert_params_of, season_alerts

        # each alert names its farmer's open lines of the season in the whole Book, as monitor and the report name
        # them — not only the lines of this checkpoint's crops (an alert printed with line "-" at the soybean
        # checkpoint named its maize line at the maize one, the same day); the records carry no alert's line
        # a shadow run of a yield-value challenger (the same features, series, history, Book, weather and crop model):
        # the run's alerts, not computed again (their earlier checkpoints' crop probabilities featurize again)
        akey = ("alerts", season, as_of.isoformat(), key, tuple(feats.columns), id(history), id(given_book), id(wx),
                repr(alert_params))
        arefs = (fields, series, history, given_book, wx)
        got_alerts = _memo_get(memo, akey, arefs)
        if got_alerts is None:
            said_alerts: list[str] = []
            got_alerts = (season_alerts(fields, fr.series, history, season, as_of, features=feats, book=book,
                                        params=alert_params or alert_params_of(models.crop_model,
                                                                               fields_region(fields)),
                                        warnings=said_alerts, weather=wx if isinstance(wx, pd.DataFrame) else None,
                                        crop_model=models.crop_model, imagery=imagery), said_alerts)
            _memo_put(memo, akey, got_alerts, arefs)
        alerts = got_alerts[0]
        warnings.extend(got_alerts[1])
        if policy.profile(profile).open_alerts_act:  # 2026.12.6: a crop the monitoring saw fail is no collateral
            feats = with_failures_observed(feats, alerts)
        say("decisions")
        from underwriting.decisions import pledge_holders

        items = decide_batch(apps, feats, vals, prices.to_frame(), book, policy, profile, as_of,
                             provenance=provenance, pledged=pledge_holders(recs, season), exclude_lines=reviewed)
        by_app = {i.application_id: i for i in items}
        out_items, rows, forked, kept, stand = [], [], [], [], []
        prev_kind: dict[str, str] = {}  # record id -> kind of the records the new ones replace (as read now)
        for line in todo.to_dict("records"):
            item = by_app[str(line["review_application_id"])]
            prev = st.latest(item.application_id, as_of=as_of)
            mine = alerts[alerts["farmer_token"] == item.farmer_token] if len(alerts) else alerts
            new, row = _link(item, prev, line, mine, policy, as_of, rules or ActionRules(), st.get)
            rid = record_id_for(new.idempotency_key)
            # this date's record looked up once: another run of the same checkpoint may commit it at any moment
            # (looked up twice, a commit between the looks read as "replaced since", the line left out of the counts:
            # two reviews; stored only after the look, it is appended again and counted already present)
            stored_now = st.get(rid) if prev is not None and prev.record_id != rid else None
            if stored_now is not None:
                # this date's record is stored: by another run of the same checkpoint that committed between the two
                # reads, or replaced since — the application's latest record read again tells them apart
                prev = st.latest(item.application_id, as_of=as_of)
            if prev is not None and prev.record_id == rid:
                # this very record is stored (a re-run): rebuild it against what it superseded
                stored, prev = prev, st.get(prev.supersedes) if prev.supersedes else None
                new, row = _link(item, prev, line, mine, policy, as_of, rules or ActionRules(), st.get)
                row = _as_stored(row, stored, prev, st.get)
            elif item.application_id in recheck:  # not the stored record of this date, and later ones exist
                forked.append(str(line["line_id"]))
                continue
            elif prev is not None and stored_now is not None:
                # this date's record is stored and was replaced since (an analyst's override, or a re-underwriting
                # of the same day with other inputs): a re-run leaves the newer record in force
                kept.append(f"{item.application_id} ({prev.kind})")
                continue
            elif prev is not None and _by_rejects_run(prev, as_of, st.get):
                # re-decided this date by a run that set fields rows aside (not this farmer's): the run after the
                # rows are corrected decides the lines it held, not these again
                stand.append(str(line["line_id"]))
                continue
            if prev is not None:
                prev_kind[prev.record_id] = prev.kind
            out_items.append(new)
            rows.append(row)
        if forked:
            newest = str(recs.loc[recs["application_id"].isin(recheck), "as_of"].max())
            warnings.append(skipped_note(forked, newest))
        if kept:
            warnings.append(f"{len(kept)} line(s) already re-underwritten as of {as_of} and replaced since; the newer "
                            f"record stays in force: {', '.join(kept[:5])}{', ...' if len(kept) > 5 else ''}")
        if stand:
            warnings.append(f"{len(stand)} line(s) already re-underwritten as of {as_of} by a run that set fields rows "
                            "aside (--rejects): their records stand (a run after the rows are corrected re-decides the "
                            f"lines it held only): {', '.join(stand[:5])}{', ...' if len(stand) > 5 else ''}")
        if collect is not None:  # a replay: the items it would have written, nothing appended
            collect.extend(out_items)
            res = AppendResult(written=0, already_present=0)
        elif shadow_only is not None:  # a repeat for its shadow rows: the records it finds stored, nothing appended
            found = st.stored_ids([record_id_for(i.idempotency_key) for i in out_items])
            keep = [k for k, i in enumerate(out_items)
                    if str(i.application_id) in shadow_only and record_id_for(i.idempotency_key) in found]
            out_items, rows = [out_items[k] for k in keep], [rows[k] for k in keep]
            res = AppendResult(written=0, already_present=len(out_items))
        else:
            # a plain run (every crop's lines; a --due checkpoint is logged by its CheckpointLog) logs its records as
            # one run, in their transaction: `audit replay --reunderwriting` replays each run of a date on its own
            from pipelines.schedule import plain_run_logger

            res = st.append(out_items, operator=operator or DEFAULT_OPERATOR,
                            also=None if crops is not None else plain_run_logger(
                                season, fields_region(fields) or "", as_of, len(out_items)))
        fresh.clear()  # stored: the records name it (or an earlier run's records hold the same features)
        for row, it in zip(rows, out_items, strict=True):
            row["record_id"] = record_id_for(it.idempotency_key)
        new_ids = set(res.record_ids)
        # a kept line (re-estimated nothing; policy kept_lines_stand) replaces no override: it stands on it
        # nor does a REFER or DECLINE that granted nothing on a Book line (refer_keeps_book_limit): the line stands on
        # the override behind it (underwriting.standing.stands_behind), as explain, the export and the report say
        replaced = [it.application_id for it in out_items if prev_kind.get(str(it.supersedes)) == "override"
                    and record_id_for(it.idempotency_key) in new_ids
                    and not (kept_lines_stand(it.body) and (it.body.get("reunderwrite") or {}).get("not_reestimated"))
                    and not skips_to_book(it.body, line_block(it.body).get("line_id"), it.outcome, "reunderwrite")]
        if replaced:
            warnings.append(f"{len(replaced)} analyst override(s) replaced by this re-underwriting (the new limit "
                            f"follows the policy, not the override): {', '.join(replaced[:5])}"
                            f"{', ...' if len(replaced) > 5 else ''}")
        changes = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
        said = (_in_shadow(call, resolved, out_items, st, operator=operator or DEFAULT_OPERATOR, warnings=warnings,
                           written=new_ids)
                if shadow and collect is None and out_items else [])
        return ReunderwriteResult(season=season, as_of=as_of, checkpoint=label, items=out_items, changes=changes,
                                  alerts=alerts, written=res.written, already_present=res.already_present,
                                  warnings=warnings,
                                  models={"yield-value": models.yield_version, "crop-type": models.crop_version},
                                  models_said=models.said, hazy_dates=list(fr.hazy_dates), haze_pinned=fr.haze_pinned,
                                  held_lines=held_lines, set_aside=list(set_aside), shadow=said)
    except BaseException:
        for path in fresh:  # a failed or stopped run leaves no features file no record refers to
            path.unlink(missing_ok=True)
        raise
    finally:
        if own:
            st.close()


def _memo_get(memo: dict[Any, Any] | None, key: Any, refs: tuple[Any, ...]) -> Any:
    """``memo``'s value for ``key`` (None: none) — only while the objects it was computed on (``refs``, named in the
    key by ``id()``) are those given now."""
    got = memo.get(key) if memo is not None else None
    if got is None or len(got[1]) != len(refs) or any(a is not b for a, b in zip(got[1], refs, strict=True)):
        return None
    return got[0]


def _memo_put(memo: dict[Any, Any] | None, key: Any, value: Any, refs: tuple[Any, ...]) -> None:
    """Keep ``value`` under ``key`` with the objects the key names by ``id()`` (``refs``): held by the memo, they are
    not collected, so no other object can take their ids while the entry lives."""
    if memo is not None:
        memo[key] = (value, refs)


def _in_shadow(call: dict[str, Any], models: ScoringModels, in_force: list[DecisionItem], st: DecisionStore, *,
               operator: str, warnings: list[str], written: set[str] | None = None) -> list[Any]:
    """The challengers of ``models`` (the run's, before any season scale is pinned: the shadow run pins it as the run
    did) in shadow of a re-underwriting whose records (``in_force``: written, or found written by an earlier run of
    the date) are stored: :func:`reunderwrite` again with ``call`` (the run's arguments, ``memo`` included: the
    features, history and fields it built or read are not built again for a yield-value challenger) and the
    challenger swapped in, on a read-only view of the store before the first of those records
    (:func:`pipelines.replay.store_view`: the store as the run — or the earlier run that wrote them — read it, so
    each line is compared with the same previous record), its items collected, not appended; paired with the run's
    and added to the shadow table (:func:`pipelines.shadow.run_shadow`). A re-run that finds some of its records
    present and writes the others (``written``: their ids) decides each group on its own view — the found ones on
    the store before the first of them, the new ones before the first new one — so no line drops out of the shadow
    because the earlier view lacks what it follows. The crop season scale is pinned by the shadow run itself (its
    ``crop_season_scale``), once. What each did; a registry that cannot say which challengers there are is one
    warning."""
    from pipelines.replay import store_view
    from pipelines.shadow import failure_text, run_shadow, shadow_sets

    try:
        # season_scale None: the shadow run below pins call["crop_season_scale"] itself (pinned twice, the
        # provenance named it twice)
        sets, said = shadow_sets(models, season_scale=None)
    except Exception as e:
        warnings.append(f"shadow: the registry's challengers could not be read, none ran: {failure_text(e)}")
        return []
    if not sets:
        return list(said)
    app_of = {record_id_for(i.idempotency_key): str(i.application_id) for i in in_force}
    recs = st.records(str(call["season"]))
    seq = dict(zip(recs["record_id"], recs["seq"], strict=True))
    groups = [g for g in ({r for r in app_of if r in (written or set())}, {r for r in app_of
                                                                          if r not in (written or set())}) if g]
    views = []  # (the store before the first record of the group, the group's applications)
    for g in groups:
        seqs = [int(seq[r]) for r in g if r in seq]
        views.append((min(seqs) if seqs else None, {app_of[r] for r in g}))

    def decided(s: Any) -> list[DecisionItem]:
        out: list[DecisionItem] = []
        for first, apps in views:
            got: list[DecisionItem] = []
            with store_view(st.url, before=first) as view:  # the rejects file is the run's: not written again
                reunderwrite(**{**call, "store": view, "models": s.models, "collect": got, "shadow": False,
                                "progress": None, "rejects": None})
            out += [i for i in got if str(i.application_id) in apps]
        return out

    return [*said, *run_shadow(sets, decided, in_force, st.url, operator, unit="lines")]
