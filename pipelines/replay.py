"""Replay stored decisions and re-underwriting records: recompute them from their inputs and compare, writing nothing.

A model-risk reviewer or an auditor re-runs the decisions of a season as of a date from the same input files, with
the model versions the stored records name, and learns for every application whether its stored decision is
reproduced:

- ``identical``: the replayed body equals the stored one byte for byte;
- ``reproduced``: everything the decision rests on and says — application, fields (features, crop probabilities,
  growth stage, hectares), valuations, market, models, policy, computation, outcome, limit, reasons — is equal;
  only the run-level provenance differs (e.g. the hash of the whole run's features file when fewer fields were
  given, or the note that the crop season scale was pinned), with the keys named;
- ``differs``: which parts differ (field by field), and the outcome and limit stored → replayed;
- ``not stored``: no decision of that application as of the date in the store.

Nothing is written: no record, no features artifact. :func:`replay` (``audit replay --applications --fields``)
recomputes the records of kind ``decision`` (``underwrite``); :func:`replay_reunderwriting` (``audit replay
--reunderwriting --county DIR``) those of kind ``reunderwrite`` of one date, run by run as the store's checkpoint log
tells them apart (a ``reunderwrite --due`` crop checkpoint's lines as that run re-decided them, a plain run's all
lines — each plain run the store logged on its own, :func:`pipelines.schedule.plain_run_logger`), each reading the
store as it was before the run; :func:`replay_reunderwriting_files` (``audit replay --reunderwriting --fields
--imagery --book --applications``) those runs on a bank's own files wrote, plain run by plain run (``--due`` runs only
exist on a county folder). Override records (an analyst's) are not recomputed: each replay reads the store as the
run read it, before them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError
from features.identity import ids_as_recorded
from pipelines._replay_common import (
    ReplayResult,
    ReplayRow,
    _crop_description,
    _decided_without_missing,
    _recorded_policy,
    _recorded_versions,
    _stored_policy_file,
    compare_bodies,
    judge_replay,
    recorded_pins,
)
from pipelines._replay_reunderwriting import (
    overlay_records,
    replay_reunderwriting,
    replay_reunderwriting_files,
    store_view,
)

if TYPE_CHECKING:
    from underwriting.policy import Policy

__all__ = ["ReplayRow", "ReplayResult", "compare_bodies", "recorded_pins", "replay", "replay_files",
           "replay_reunderwriting", "replay_reunderwriting_files", "store_view", "overlay_records"]


def _reading_groups(applications: pd.DataFrame, season: str, as_of: dt.date, stored: dict[str, Any],
                    records: pd.DataFrame | None, *, alerts: bool
                    ) -> list[tuple[pd.DataFrame, dict[tuple[str, str], list[str]], pd.DataFrame | None]]:
    """The applications to replay, in groups each decided as one run, with the store each group read: every stored
    decision reads the records written before it (its ``seq``) — its farmer's applications holding the fields
    (:func:`underwriting.decisions.pledge_holders`; a second application is referred FIELDS_ALREADY_PLEDGED) and,
    with ``alerts`` (policies with decisions_read_alerts / renewals_propose_actions, 2026.12.10), its farmer's open
    alerts (:func:`pipelines.reunderwrite.stored_alerts`). Both are per farmer, so a group holds the decisions of
    many farmers; a farmer whose decisions were written by runs that read the store differently (e.g. a
    re-underwriting with an alert appended between two runs of the day) has them in several groups. The decisions
    of one run are one group (its concentration headroom is consumed within the group's run only). An
    application without a stored decision reads the store as its farmer's first stored decision did (the
    records before the first replayed decision for a farmer without one). One group: one run, as decided."""
    from pipelines.reunderwrite import stored_alerts
    from underwriting.decisions import pledge_holders

    apps = applications[applications["season"].astype(str) == season]
    empty_alerts = stored_alerts(None, season, as_of) if alerts else None
    if records is None or records.empty:
        return [(applications, {}, empty_alerts)]
    ordered = records.sort_values("seq", kind="stable")  # chain order (as the store gives them)
    by_farmer = {str(t): g for t, g in ordered.groupby(ordered["farmer_token"].astype(str), sort=False)}
    first = min(int(r.seq) for r in stored.values())
    read_cache: dict[tuple[str, int], tuple[list[str], pd.DataFrame | None]] = {}

    def context(tok: str, before: int) -> tuple[list[str], pd.DataFrame | None]:
        own = by_farmer.get(tok)
        n = 0 if own is None else int(own["seq"].searchsorted(before))  # the farmer's records before ``before``
        if own is None or n == 0:
            return [], empty_alerts
        if (tok, n) not in read_cache:  # what the store said depends only on how many of them were written
            read = own.iloc[:n]
            held = pledge_holders(read, season).get((tok, season), [])
            read_cache[(tok, n)] = held, (stored_alerts(read, season, as_of) if alerts else None)
        return read_cache[(tok, n)]

    def shown(al: pd.DataFrame | None) -> Any:
        return None if al is None or al.empty else al.astype(str).values.tolist()

    # per farmer, its stored decisions in the order written, in as few groups as decide what each read: a decision
    # joins its farmer's current group when the group's batch gives it the same holders as the store before it
    # (decide_batch: the store's holders, and the farmer's applications of the batch with a smaller id holding the
    # fields — true of the decisions of one run) and the same open alerts; else it opens the farmer's next group.
    seqs: dict[str, list[tuple[int, str]]] = {}
    for aid, tok in zip(apps["application_id"].astype(str), apps["farmer_token"].astype(str), strict=True):
        if aid in stored:
            seqs.setdefault(tok, []).append((int(stored[aid].seq), aid))
    group_of: dict[str, int] = {}
    ctx_of: dict[tuple[str, int], tuple[list[str], pd.DataFrame | None]] = {}
    for tok, pairs in seqs.items():
        k = -1
        base: list[str] = []
        held: list[str] = []
        last = ""
        for seq, aid in sorted(pairs):
            truth, al = context(tok, seq)
            want = sorted({h for h in truth if h != aid})
            same = (k >= 0 and aid > last and shown(al) == shown(ctx_of[(tok, k)][1])
                    and sorted({*(h for h in base if h != aid), *held}) == want)
            if not same:
                k, base, held = k + 1, truth, []
                ctx_of[(tok, k)] = (truth, al)
            if not want:
                held.append(aid)
            group_of[aid], last = k, aid
    n = max(group_of.values(), default=0) + 1
    out = []
    for k in range(n):
        members = [aid for aid, g in group_of.items() if g == k]
        if k == 0:  # and the applications without a stored decision, and those of other seasons (ignored)
            mask = ~applications["application_id"].astype(str).isin([a for a, g in group_of.items() if g != 0])
        else:
            mask = applications["application_id"].astype(str).isin(members)
        part = applications[mask]
        pledged: dict[tuple[str, str], list[str]] = {}
        frames = []
        for tok in sorted(set(part.loc[part["season"].astype(str) == season, "farmer_token"].astype(str))):
            held, al = ctx_of.get((tok, k)) or context(tok, first)
            if held:
                pledged[(tok, season)] = held
            if al is not None and not al.empty:
                frames.append(al)
        open_alerts = None
        if alerts:
            open_alerts = (pd.concat(frames, ignore_index=True).sort_values(
                ["farmer_token", "field_id", "alert"], kind="stable").reset_index(drop=True)
                if frames else empty_alerts)
        out.append((part, pledged, open_alerts))
    return out


def replay(applications: pd.DataFrame, fields: Any, season: str, as_of: dt.date, *, policy: Policy, profile: str,
           book: pd.DataFrame, store: str | None = None, imagery: str | Path | None = None,
           features: pd.DataFrame | None = None, featurized: Any = None, crop_model: str | Path | None = None,
           cache_dir: Path | None = None, weather: pd.DataFrame | None = None,
           crop_season_scale: float | None = None, haze_dates: Sequence[dt.date] | None = None,
           pins: bool = False, yield_history: pd.DataFrame | None = None,
           features_lineage: Any = None, policy_from_records: bool = False,
           extra_provenance: dict[str, Any] | None = None) -> ReplayResult:
    """Replay the stored decisions of ``applications`` (season ``season``, as of ``as_of``) with the model
    versions the records name (``crop_model`` overrides the crop model: an alias, a version, a folder or ``none``)
    on these inputs (``imagery``, or ``features`` / ``featurized`` built earlier) and compare each with the stored
    record. ``pins``: score with the crop season scale and haze dates the records were scored with
    (:func:`recorded_pins`; unless given) — what a decision re-run with fewer fields needs.
    ``policy_from_records`` (no policy file chosen by the user; ``policy`` is then the shipped one): when the
    records name another policy, the released version of it is taken from the archive
    (:func:`underwriting.policy.archived_policy`); when the archive does not hold it, ``policy`` with a warning.
    Reads the store; writes nothing."""
    from pipelines.underwrite import ChampionModels, score_and_decide
    from underwriting.store import DecisionStore

    day = as_of.isoformat()
    ids = sorted(applications.loc[applications["season"].astype(str) == str(season), "application_id"].astype(str))
    with DecisionStore(store, create=False, read_only=True) as st:
        shown = st.shown_url
        stored = {}
        other: dict[str, int] = {}
        for a in ids:
            dated = [r for r in st.history(a) if r.as_of == day]
            recs = [r for r in dated if r.kind == "decision"]
            if recs:
                stored[a] = recs[-1]
            for r in dated:
                if r.kind != "decision":
                    other[r.kind] = other.get(r.kind, 0) + 1
        records = st.records(str(season)) if stored else None  # read below as each replayed decision read it
    if not stored:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(other.items()))
        raise UserInputError(f"no stored decision of these {len(ids)} application(s) as of {day} in {shown}: "
                             "nothing to replay" + (f" (the records of that date are {kinds} records; replay "
                                                    "recomputes underwriting decisions — give the date they were "
                                                    "decided as of)" if other else ""))
    bodies = [r.body for r in stored.values()]
    yv, cv = _recorded_versions(bodies)
    policy_text, notes = f"{policy.policy_id} {policy.version}", list[str]()
    if policy_from_records:
        policy, policy_text, notes = _recorded_policy(bodies, policy)
        policy.profile(profile)  # a released version without the run's profile: its one-line error, before any work
    pin_scale = None
    if pins:
        if features is not None or featurized is not None:
            raise UserInputError("--recorded-pins pins the features built in the replay: give --imagery, not "
                                 "--features")
        scale, hazy = recorded_pins(bodies)
        pin_scale = scale if crop_season_scale is None else None
        haze_dates = haze_dates if haze_dates is not None else hazy
    recorded_crop = crop_model is None
    if crop_model is None:
        if cv is None and features is None and featurized is None:
            raise UserInputError("the stored decisions used a crop-type model from a folder: give --crop-model PATH")
        # features given: no crop model scores anything (the records name the file's lineage, or "not recorded")
        crop_model = cv if cv is not None else "none"
    models = ChampionModels.resolve(alias=yv, crop_model=crop_model, weather=weather,
                                    crop_season_scale=crop_season_scale)
    if pin_scale is not None and models.crop_model is not None:
        from features._crop_season import has_season_calibration

        if has_season_calibration(models.crop_model):  # the records of a model without one say 1: nothing to pin
            models = models.with_season_scale(pin_scale)
    if recorded_crop:
        models = replace(models, crop_version=_crop_description(bodies, models.crop_version))
    prof = policy.profile(profile)
    groups = _reading_groups(applications, str(season), as_of, stored, records,
                             alerts=bool(prof.decisions_read_alerts or prof.renewals_propose_actions))
    runs = []
    featurized_once = featurized
    # decisions made without acquisitions a partial `imagery fetch` left missing (--allow-missing-acquisitions) are
    # replayed on the same folder; other decisions on such a folder are refused as `underwrite` refuses them
    allow_missing = _decided_without_missing(bodies)
    for apps_k, pledged, open_alerts in groups:
        run = score_and_decide(apps_k, fields, str(season), as_of, imagery=imagery, policy=policy,
                               profile=profile, book=book, store_url=store, models=models, features=features,
                               featurized=featurized_once, cache_dir=cache_dir, weather=weather,
                               haze_dates=haze_dates, write_artifact=False, yield_history=yield_history,
                               features_lineage=features_lineage, pledged=pledged, open_alerts=open_alerts,
                               extra_provenance=extra_provenance,
                               allow_missing_acquisitions=allow_missing)
        if featurized_once is None and features is None:  # the next group scores the same features, built once
            featurized_once = run.featurized
        runs.append(run)
    run = runs[0]
    items = [i for r in runs for i in r.items]
    run_warnings = list(dict.fromkeys(w for r in runs for w in r.warnings))
    rows = []
    for item in sorted(items, key=lambda i: i.application_id):
        rec = stored.get(item.application_id)
        if rec is None:
            rows.append(ReplayRow(item.application_id, "not stored", replayed=(item.outcome, item.limit)))
            continue
        status, parts, prov = judge_replay(rec.body, rec.body_json, item.body)
        rows.append(ReplayRow(item.application_id, status, record_id=rec.record_id,
                              stored=(rec.outcome, rec.limit), replayed=(item.outcome, item.limit),
                              differs=tuple(parts), provenance=tuple(prov)))
    return ReplayResult(rows=rows, models=run.models, currency=policy.profile(profile).currency,
                        warnings=notes + run_warnings, policy=policy_text)


@ids_as_recorded()
def replay_files(applications: str | Path, fields: str | Path, season: str, as_of: dt.date, *,
                 imagery: str | Path | None = None, features: str | Path | None = None,
                 book: str | Path | None = None, policy: str | Path | None = None, profile: str | None = None,
                 store: str | None = None, crop_model: str | Path | None = None, cache_dir: Path | None = None,
                 weather: str | Path | None = None, crop_season_scale: float | None = None,
                 haze_dates: Sequence[dt.date] | None = None, pins: bool = False,
                 history: str | Path | None = None) -> ReplayResult:
    """:func:`replay` from files (read and checked as ``underwrite`` reads them)."""
    from pipelines.underwrite import read_underwrite_inputs

    from_records = policy is None
    if from_records:
        policy = _stored_policy_file(store, season, as_of)
    # a run with --rejects: its fields file read as it read it (the bad rows set aside, their farmers not decided)
    aside = _run_set_aside(applications, season, as_of, store)
    inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                 profile=profile, weather=weather, crop_season_scale=crop_season_scale,
                                 haze_dates=haze_dates, history=history, set_aside=aside)
    res = replay(inp.applications, inp.fields, inp.season, as_of, policy=inp.policy, profile=inp.profile,
                 book=inp.book, store=store, imagery=imagery, features=inp.features, crop_model=crop_model,
                 cache_dir=cache_dir, weather=inp.weather, crop_season_scale=crop_season_scale,
                 haze_dates=haze_dates, pins=pins, yield_history=inp.yield_history,
                 features_lineage=inp.features_lineage, policy_from_records=from_records,
                 extra_provenance=inp.set_aside_provenance())
    held = sorted(inp.held_ids + inp.held_by_features)
    if held:
        res.warnings.insert(0, f"{len(held)} application(s) not replayed: their farmers' fields had rejected rows, "
                               "as in the run (not decided): " + ", ".join(held[:5])
                            + (f" and {len(held) - 5} more" if len(held) > 5 else ""))
    if aside:
        res.warnings.insert(0, f"the fields file read with its bad rows set aside, as the run did (--rejects): "
                               f"{len(inp.set_aside)} row(s)")
    return res


def _run_set_aside(applications: str | Path, season: str, as_of: dt.date, store: str | None) -> bool:
    """Whether a stored decision of these applications as of ``as_of`` records rows of its fields file set aside
    (:data:`pipelines.underwrite.SET_ASIDE_KEY`: a run with ``--rejects``)."""
    from pipelines.underwrite import SET_ASIDE_KEY
    from underwriting.applications import read_applications
    from underwriting.store import DecisionStore

    apps = read_applications(applications)
    ids = sorted(apps.loc[apps["season"].astype(str) == str(season), "application_id"].astype(str))
    day = as_of.isoformat()
    try:
        with DecisionStore(store, create=False, read_only=True) as st:
            for a in ids:
                for r in st.history(a):
                    if r.as_of == day and r.kind == "decision" and SET_ASIDE_KEY in (r.body.get("provenance") or {}):
                        return True
    except UserInputError:  # no store: replay's own one-line error says so
        return False
    return False
