"""The re-underwriting replay (:mod:`pipelines.replay`): the store as a run read it (:func:`store_view`), the runs
of one date told apart by the store's checkpoint log, and each recomputed from a county folder
(:func:`replay_reunderwriting`) or a bank's own files (:func:`replay_reunderwriting_files`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
    judge_replay,
    recorded_pins,
)
from underwriting.records import canonical_json

if TYPE_CHECKING:
    from underwriting.policy import Policy

def store_view(store: str | None, before: int | None = None, *, extra: Sequence[Any] = ()) -> Any:
    """The decision store as it was before the record numbered ``before`` (its ``seq``) was written (None: as it
    stands now, every record): read only; every lookup a re-underwriting makes
    (:meth:`~underwriting.store.DecisionStore.records`, ``latest``, ``get``, ``history``) sees the records written
    before it only, and ``append`` is refused. A store that does not exist is a one-line
    :class:`~underwriting.errors.StoreError` (nothing created).
    ``extra`` (``models``/``policy impact --then``: a side's records of the impact's earlier dates): items
    (:class:`~underwriting.records.DecisionItem`) the view reads as if they had been appended after every stored
    record, in order (:func:`overlay_records`) — the lookups see them too, nothing is written."""
    last = 2**62 if before is None else before  # None: beyond any record's seq
    from underwriting.store import AppendResult, DecisionRecord, DecisionStore, record_from_row, records_frame

    class StoreBefore(DecisionStore):
        overlay: tuple[DecisionRecord, ...] = ()
        overlay_rows: tuple[dict[str, Any], ...] = ()

        def get(self, record_id: str) -> DecisionRecord | None:
            rec = super().get(record_id)
            if rec is not None and rec.seq < last:
                return rec
            return next((r for r in self.overlay if r.record_id == record_id), None)

        def history(self, application_id: str) -> list[DecisionRecord]:
            return ([r for r in super().history(application_id) if r.seq < last]
                    + [r for r in self.overlay if r.application_id == str(application_id)])

        def latest(self, application_id: str, as_of: str | dt.date | None = None) -> DecisionRecord | None:
            day = None if as_of is None else str(as_of)[:10]
            recs = [r for r in self.history(application_id) if day is None or r.as_of <= day]
            return recs[-1] if recs else None

        def records(self, season: str | None = None) -> pd.DataFrame:
            recs = super().records(season)
            recs = recs[recs["seq"] < last].reset_index(drop=True)
            rows = [r for r in self.overlay_rows if season is None or r["season"] == str(season)]
            return pd.concat([recs, records_frame(rows)], ignore_index=True) if rows else recs

        def stored_ids(self, record_ids: Sequence[str]) -> set[str]:
            return {r for r in record_ids if self.get(r) is not None}

        def append(self, items: Sequence[Any], operator: str, also: Any = None) -> AppendResult:
            raise RuntimeError("a read-only view of the decision store (a replay's, an impact's): nothing is appended")

    # ``head()`` is the store's (:meth:`~underwriting.store.DecisionStore.head`): the last stored record, whatever
    # ``before`` hides — the overlay's records come after every stored one
    view = StoreBefore(store, create=False, read_only=True)
    if extra:
        try:
            view.overlay_rows = tuple(overlay_records(extra, *view.head()))
        except BaseException:
            view.close()
            raise
        view.overlay = tuple(record_from_row(r) for r in view.overlay_rows)
    return view


#: the operator and the time of day the records of a view's ``extra`` carry (:func:`overlay_records`)
OVERLAY_OPERATOR = "agcredit-impact (not written)"


def overlay_records(items: Sequence[Any], seq: int, prev: str | None) -> list[dict[str, Any]]:
    """Rows for ``items`` (:func:`~underwriting.store.record_row`, as :meth:`~underwriting.store.DecisionStore.append`
    builds them) numbered on from the record ``seq`` whose hash is ``prev``: their record ids and the records they
    supersede as ``append`` writes them; their ``seq`` and ``prev_hash`` only order the overlay (a store already
    holding records after the view's cut-off would number and link them otherwise). Deterministic: written at midnight
    of each item's date by :data:`OVERLAY_OPERATOR` — the same items give the same rows."""
    from underwriting.store import record_id_for, record_row

    rows = []
    for item in items:
        seq += 1
        row = record_row(item, record_id_for(item.idempotency_key), seq, prev, OVERLAY_OPERATOR,
                         written_at=f"{str(item.as_of)[:10]}T00:00:00.000000Z")
        prev = row["record_hash"]
        rows.append(row)
    return rows


@dataclass(frozen=True)
class _Run:
    """One re-underwriting run's records of a date (in chain order): a ``reunderwrite --due`` crop checkpoint's
    (``crop``, and the ``checkpoint`` the log names) or a plain run's (``crop`` None: every crop's lines)."""

    records: pd.DataFrame
    crop: str | None = None
    checkpoint: str | None = None


def _record_crops(body: str) -> set[str]:
    """The crops a re-underwriting record's fields declare (a ``--due`` checkpoint re-decides one crop's lines)."""
    import json

    return {str(f["declared_crop"]) for f in json.loads(body).get("fields") or [] if f.get("declared_crop")}


def _plain_runs(ordered: pd.DataFrame, plain: pd.DataFrame | None, season: str, day: str) -> list[list[int]]:
    """The plain runs logged with the records of ``ordered`` (``plain``: :func:`pipelines.schedule.plain_run_logger`'s
    record ids with their runs' rows; None: a store without that log), each as its records' positions in ``ordered``,
    in the order they ran."""
    if plain is None or plain.empty:
        return []
    mine = plain[(plain["season"].astype(str) == season) & (plain["as_of"].astype(str) == day)]
    at = {str(r): i for i, r in enumerate(ordered["record_id"])}
    out = []
    for _run_id, g in mine.groupby("run_id", sort=False):
        own = sorted(at[str(r)] for r in g["record_id"] if str(r) in at)
        if own:
            out.append(own)
    return sorted(out, key=lambda ix: ix[0])


def _date_runs(log: pd.DataFrame | None, mine: pd.DataFrame, season: str, region: str, day: str,
               logged: pd.DataFrame | None = None, plain: pd.DataFrame | None = None
               ) -> tuple[list[_Run], list[str]]:
    """The runs that wrote the re-underwriting records ``mine`` of ``season`` as of ``day`` (in the order they ran)
    and a warning when the store's checkpoint log (``log``: :class:`pipelines.schedule.CheckpointLog`'s rows, None
    when the database has none) cannot tell them apart. Each checkpoint the log says ran as of ``day`` in ``region``
    with lines (``reunderwrite --due``: one crop's lines, one write — consecutive ``seq``, at most ``n_lines``
    records, written before the run logged it) takes the last such block of that crop's records written by then
    (``written_at`` to the second of ``ran_at``); the records left are a plain run's (all lines; several plain runs of
    the date: replayed as one, reading the store before the first). A run logged with its record ids (``logged``:
    :data:`pipelines.schedule.RECORDS_TABLE`'s rows; runs logged since 2026-12-04, third) takes exactly those records,
    whatever the clocks said. No log (no ``--due`` run ever on the store: its first creates it): one run of all
    lines; a logged run none of whose records can be found: one run of all lines, said. A plain run logged with its
    record ids (``plain``: :func:`pipelines.schedule.plain_run_logger`, runs since 2026-12-04, fourth) is a run of all
    lines of its own, taken first (exactly its records); the records no log names are one plain run, as before."""
    ordered = mine.sort_values("seq", kind="stable").reset_index(drop=True)
    plains = _plain_runs(ordered, plain, season, day)
    taken: set[int] = {i for ix in plains for i in ix}
    logged_plain = [_Run(ordered.iloc[ix]) for ix in plains]

    def with_rest(runs: list[_Run]) -> list[_Run]:  # the records no run took: one plain run, as before
        rest = [i for i in range(len(ordered)) if i not in taken]
        out = runs + logged_plain + ([_Run(ordered.iloc[rest])] if rest else [])
        return sorted(out, key=lambda x: int(x.records["seq"].min()))

    if log is None:  # no `reunderwrite --due` ever ran on the store (its first run creates the log): plain runs only
        return with_rest([]), []
    ran = log[(log["season"].astype(str) == season) & (log["region"].astype(str) == region)
              & (log["as_of"].astype(str) == day) & (log["status"].astype(str) == "ran")
              & (log["n_lines"].astype(int) > 0)].sort_values(["ran_at", "crop"], kind="stable")
    if ran.empty:
        return with_rest([]), []
    seqs = [int(x) for x in ordered["seq"]]
    written = [str(w)[:19] for w in ordered["written_at"]]
    crops = [_record_crops(str(b)) for b in ordered["body"]]
    runs = []
    ids = [str(x) for x in ordered["record_id"]]
    for r in ran.itertuples(index=False):
        own = (set() if logged is None else
               {str(x) for x in logged.loc[(logged["season"].astype(str) == season)
                                           & (logged["region"].astype(str) == region)
                                           & (logged["crop"].astype(str) == str(r.crop))
                                           & (logged["checkpoint"].astype(str) == str(r.checkpoint)), "record_id"]})
        exact = [i for i in range(len(ordered)) if i not in taken and ids[i] in own]
        if exact:  # the run's own records, by id
            taken |= set(exact)
            runs.append(_Run(ordered.iloc[exact], crop=str(r.crop), checkpoint=str(r.checkpoint)))
            continue
        cand = [i for i in range(len(ordered)) if i not in taken and str(r.crop) in crops[i]
                and written[i] <= str(r.ran_at)[:19]]
        if not cand:
            return [_Run(ordered)], [f"the checkpoint log's {r.crop} {r.checkpoint} run as of {day} ({int(r.n_lines)} line(s)) "
                           f"cannot be told apart from the other records of that date: its {len(ordered)} "
                           "re-underwriting record(s) are replayed as one run of all lines"]
        block = [cand[-1]]  # its one write: consecutive records, the last of that crop written before it was logged
        for i in reversed(cand[:-1]):
            if seqs[i] + 1 != seqs[block[0]] or len(block) >= int(r.n_lines):
                break
            block.insert(0, i)
        taken |= set(block)
        runs.append(_Run(ordered.iloc[block], crop=str(r.crop), checkpoint=str(r.checkpoint)))
    return with_rest(runs), []


def _open_on(bodies: list[dict[str, Any]]) -> dt.date | None:
    """A ``--due`` run's ``open_on`` as its records let it be known: the earliest maturity of the lines it re-decided
    (the run left out the lines matured before its day, which is on or before that; the log keeps no ``--today``)."""
    days = [str((b.get("reunderwrite") or {}).get("line_maturity_date") or "")[:10] for b in bodies]
    known = sorted(d for d in days if d)
    return dt.date.fromisoformat(known[0]) if known else None


def _reunderwriting_records(store: str | None, season: str, day: str
                            ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None]:
    """(The re-underwriting records of ``season`` as of ``day``, the store's checkpoint log, its logged record ids and
    the plain runs' logged record ids with their runs' rows — each None when the database has none); no such record: a
    user error naming the dates that have some."""
    from pipelines.schedule import LOG_TABLE, PLAIN_RECORDS_TABLE, PLAIN_RUNS_TABLE, RECORDS_TABLE
    from underwriting.store import DecisionStore

    with DecisionStore(store, create=False, read_only=True) as st:
        shown = st.shown_url
        recs = st.records(season)
        log = st.table_rows(LOG_TABLE)
        logged = st.table_rows(RECORDS_TABLE)
        plain_runs = st.table_rows(PLAIN_RUNS_TABLE)
        plain_ids = st.table_rows(PLAIN_RECORDS_TABLE)
    plain = (None if plain_runs is None or plain_ids is None else
             plain_ids.merge(plain_runs, on="run_id", how="inner"))
    ru = recs[recs["kind"] == "reunderwrite"]
    mine = ru[ru["as_of"] == day]
    if mine.empty:
        dates = sorted(set(ru["as_of"].astype(str)))
        raise UserInputError(f"no re-underwriting record of season {season} as of {day} in {shown}: nothing to "
                             "replay" + (f" (its re-underwriting dates: {', '.join(dates)})" if dates else
                                         " (the season has no re-underwriting record)"))
    return mine, log, logged, plain


#: one run's replay (:func:`_replay_runs`): (its re-underwriting result, the items it would have written, the currency,
#: the policy's name, warnings)
_RunReplay = tuple[Any, list[Any], str, str, list[str]]


def _replay_runs(runs: list[_Run], notes: list[str], replay_run: Callable[[_Run], _RunReplay]) -> ReplayResult:
    """Replay ``runs`` (each by ``replay_run``) and compare each line's replayed record with its stored one: the
    record of the run that wrote the line's last stored record of the date."""
    import json

    stored: dict[str, Any] = {}
    owner: dict[str, int] = {}  # application -> the run that wrote its last record of the date
    for k, run in enumerate(runs):
        for r in run.records.itertuples(index=False):
            if str(r.application_id) not in stored or int(r.seq) > int(stored[str(r.application_id)].seq):
                stored[str(r.application_id)], owner[str(r.application_id)] = r, k
    replayed: list[tuple[int, Any]] = []
    models_of: dict[str, Any] = {}
    policies: list[str] = []
    currency = ""
    for k, run in enumerate(runs):
        res, items, cur, policy_text, said = replay_run(run)
        models_of = models_of or res.models
        currency = currency or cur
        policies.append(policy_text)
        notes += said + res.warnings
        replayed += [(k, i) for i in items]
    by_app: dict[str, Any] = {}
    for k, item in replayed:  # a line's replayed record: the one of the run that wrote its stored one
        aid = item.application_id
        if owner.get(aid, k) == k and aid not in by_app:
            by_app[aid] = item
    rows = []
    for aid in sorted(set(by_app) | set(stored)):
        item, rec = by_app.get(aid), stored.get(aid)
        if rec is None:
            assert item is not None
            rows.append(ReplayRow(aid, "not stored", replayed=(item.outcome, item.limit)))
            continue
        if item is None:
            rows.append(ReplayRow(aid, "differs", record_id=str(rec.record_id), stored=(str(rec.outcome),
                                  int(rec.limit)), differs=("not re-decided",)))
            continue
        status, parts, prov = judge_replay(json.loads(rec.body), rec.body, item.body)
        rows.append(ReplayRow(aid, status, record_id=str(rec.record_id), stored=(str(rec.outcome), int(rec.limit)),
                              replayed=(item.outcome, item.limit), differs=tuple(parts), provenance=tuple(prov)))
    shown_runs = ([f"{r.crop} {r.checkpoint} (--due): {len(r.records)} record(s)" if r.crop else
                   f"all lines: {len(r.records)} record(s)" for r in runs]
                  if len(runs) > 1 or runs[0].crop is not None else [])
    return ReplayResult(rows=rows, models=models_of, currency=currency, warnings=list(dict.fromkeys(notes)),
                        policy="; ".join(dict.fromkeys(policies)), runs=shown_runs)


@ids_as_recorded()
def replay_reunderwriting(county: str | Path, season: str | None, as_of: dt.date, *, store: str | None = None,
                          policy: str | Path | None = None, profile: str | None = None,
                          crop_model: str | Path | None = None, cache_dir: Path | None = None,
                          pins: bool = False) -> ReplayResult:
    """Replay the re-underwriting records (kind ``reunderwrite``) of ``season`` as of ``as_of`` stored for a county
    folder's Book, run by run (:func:`_date_runs`: the store's checkpoint log, read only, tells a ``reunderwrite
    --due`` crop checkpoint's records from a plain run's): each run re-underwritten as of that date as it ran — a
    ``--due`` checkpoint with its crop's lines only, ``same_day_done`` and ``open_on`` (:func:`_open_on`) as
    :func:`pipelines.reunderwrite.reunderwrite_due` calls it; a plain run all lines — with the model versions
    (yield-value and crop-type) and the policy its records name (``policy``: this file instead; ``crop_model``: this
    crop model instead), reading the store as it was before the run's first record (each line's previous record,
    the fields' holders, an earlier run's records of the date: what the run read), and compare each new record's
    body with the stored one (:func:`compare_bodies`). ``pins`` (``--recorded-pins``): score with the crop season
    scale and haze dates each run's records name (:func:`recorded_pins`). A line the store has no record of as of
    the date is ``not stored``; a stored record whose line its run's replay does not re-decide ``differs`` (``not
    re-decided``). Nothing is written: no record, no features artifact, no table (the county's series and area cache
    may be filled, as by any run on it). No re-underwriting record of that season and date: a user error naming the
    dates that have some."""
    from pipelines.county import County

    c = County(county, cache_dir=cache_dir)
    season = str(season or c.current_season)
    day = as_of.isoformat()
    mine, log, logged, plain = _reunderwriting_records(store, season, day)
    runs, notes = _date_runs(log, mine, season, c.region, day, logged, plain)

    def replay_run(run: _Run) -> _RunReplay:
        res, items, pol, policy_text, said = _replay_run(c, season, as_of, run, store=store, policy=policy,
                                                         profile=profile, crop_model=crop_model, pins=pins)
        return res, items, pol.profile(profile or c.profile).currency, policy_text, said

    return _replay_runs(runs, notes, replay_run)


@ids_as_recorded()
def replay_reunderwriting_files(fields: str | Path, imagery: str, book: str | Path, applications: str | Path,
                                season: str | None, as_of: dt.date, *, store: str | None = None,
                                weather: str | Path | None = None, history: str | Path | None = None,
                                policy: str | Path | None = None, profile: str | None = None,
                                crop_model: str | Path | None = None, cache_dir: Path | None = None,
                                pins: bool = False) -> ReplayResult:
    """:func:`replay_reunderwriting` of the records a ``reunderwrite --fields/--imagery/--book/--applications
    --as-of`` run wrote (a bank's own files, no county folder): the same files read as that run read them
    (:func:`pipelines.reunderwrite.read_files_inputs`; ``season`` default the fields file's latest) and recomputed as
    it ran them (:func:`pipelines.reunderwrite.reunderwrite_files`), with the model versions and policy the records
    name, each run reading the store as it was before its first record. ``reunderwrite --due`` runs exist only on a
    county folder, so the date's records are replayed as plain runs of all lines — each the store logged on its own
    (:func:`_date_runs`), those no log names as one (the store's checkpoint log naming ``--due`` runs of the date:
    said). The fields file's rows failing a row-level check are set aside, as a ``--rejects`` run set them aside (the
    records name them: ``fields_set_aside``), and their farmers' lines are held as it held them; no rejects file is
    written (a row of the season failing a check where the records name none set aside — the run read the file
    whole, so it changed since — is a user error). A ``--rejects`` run replayed with the file corrected since (the
    file its corrected re-run of the date read, replayed as the next run): the rows its records name by field id set
    aside again (:func:`_as_the_run_set_aside`), so both runs replay from one file. Nothing is written (the series
    cache under ``cache_dir`` may be filled, as by any run)."""
    import json

    from pipelines.reunderwrite import files_profile, read_files_inputs, reunderwrite_files

    inp = read_files_inputs(fields, str(imagery), book, applications, season, as_of, weather=weather,
                            yield_history=history, set_aside=True)
    day = as_of.isoformat()
    mine, log, _logged, plain = _reunderwriting_records(store, inp.season, day)
    _refuse_rows_the_run_read(inp, mine, fields, day)
    notes: list[str] = []
    if log is not None:
        due = log[(log["season"].astype(str) == inp.season) & (log["as_of"].astype(str) == day)
                  & (log["status"].astype(str) == "ran") & (log["n_lines"].astype(int) > 0)]
        if len(due):
            notes.append(f"the store's checkpoint log names {len(due)} `reunderwrite --due` run(s) as of {day}, which "
                         "ran on a county folder (replay them with --county DIR): the files form replays the date's "
                         f"{len(mine)} record(s) as runs of all lines")
    if inp.set_aside:
        notes.append(f"the fields file read with its bad rows set aside, as a --rejects run read it (no rejects file "
                     f"written): {len(inp.set_aside)} row(s)")

    def replay_run(run: _Run) -> _RunReplay:
        bodies = [json.loads(b) for b in run.records["body"]]
        models, pol, policy_text, said, haze = _run_models(bodies, policy=policy, crop_model=crop_model, pins=pins,
                                                           weather=inp.weather)
        run_inp, aside = _as_the_run_set_aside(inp, bodies)
        said = said + aside
        prof = profile or files_profile(pol, inp.applications, inp.book, inp.season, as_of)
        items: list[Any] = []
        with store_view(store, int(run.records["seq"].min())) as view:
            res = reunderwrite_files(run_inp, as_of, store=view, policy=pol, profile=prof, cache_dir=cache_dir,
                                     models=models, haze_dates=haze, collect=items,
                                     allow_missing_acquisitions=_decided_without_missing(bodies))
        if res.held_lines:
            held = [f"{line} ({aid})" for line, aid in res.held_lines]
            said = [*said, f"{len(held)} line(s) not replayed: their farmers' fields had rejected rows, as in the run "
                    "(not re-underwritten): " + ", ".join(held[:5])
                    + (f" and {len(held) - 5} more" if len(held) > 5 else "")]
        return res, items, pol.profile(prof).currency, policy_text, said

    runs, _none = _date_runs(None, mine, inp.season, "", day, None, plain)  # the plain runs the store logged
    return _replay_runs(runs, notes, replay_run)


def _as_the_run_set_aside(inp: Any, bodies: list[dict[str, Any]]) -> tuple[Any, list[str]]:
    """The files as a ``--rejects`` run read them when its rows were corrected since (a fields file given for the
    run's corrected re-run of the date): the rows its records name set aside by field id
    (:data:`pipelines.reunderwrite.FIELD_IDS_KEY`) that the file now reads as valid are set aside again, the lines
    it held (:data:`pipelines.reunderwrite.HELD_KEY`) are held again, and its records' set-aside entry (which hashes
    the rows as they were) is taken as they wrote it; (``inp`` so read, warnings). Records naming no rows, or rows
    the file still sets aside, or a record written before the field ids were recorded: ``inp`` as it is."""
    from features.fields import SetAside, of_season
    from pipelines.reunderwrite import FIELD_IDS_KEY, HELD_KEY
    from pipelines.underwrite import SET_ASIDE_KEY

    entries = {canonical_json((b.get("provenance") or {}).get(SET_ASIDE_KEY)) for b in bodies}
    entry = (bodies[0].get("provenance") or {}).get(SET_ASIDE_KEY) if len(entries) == 1 else None
    if not isinstance(entry, dict) or FIELD_IDS_KEY not in entry:
        return inp, []
    s = inp.season
    named = {str(x) for x in entry[FIELD_IDS_KEY]}
    now = {str(r.field_id) for r in inp.set_aside if of_season(r, s) and r.field_id is not None}
    valid = named - now
    if not valid:
        return inp, []
    f = inp.fields
    at = (f["season"].astype(str) == s) & f["field_id"].astype(str).isin(valid)
    held_apps = {str(a) for a in entry.get(HELD_KEY) or ()}
    apps = inp.applications
    held_tokens = tuple(sorted(set(apps.loc[apps["application_id"].astype(str).isin(held_apps),
                                            "farmer_token"].astype(str))))
    again = [SetAside(row=str(i), field_id=str(r.field_id), season=s, farmer_token=str(r.farmer_token),
                      reason="set aside by the run replayed (its records name it)", position=int(i),
                      overlaps=held_tokens)
             for i, r in zip(f.index[at], f[at].itertuples(index=False), strict=True)]
    missing = sorted(valid - {a.field_id for a in again})
    said = [f"{len(again)} fields row(s) of season {s} the run set aside (its records name them by field id) read as "
            "valid in this fields file (corrected since): set aside again as the run read them, the lines it held "
            f"held again, its records' set-aside entry taken as written ({', '.join(sorted(valid)[:5])}"
            + (f" and {len(valid) - 5} more" if len(valid) > 5 else "") + ")"]
    if missing:
        said.append(f"{len(missing)} field id(s) the run set aside are not in this fields file: its records may differ")
    return replace(inp, fields=f[~at], set_aside=[*inp.set_aside, *again], set_aside_stamp=entry), said


def _refuse_rows_the_run_read(inp: Any, mine: pd.DataFrame, fields: str | Path, day: str) -> None:
    """The fields file's rows of the season failing a row-level check, where no record of the date names rows set
    aside: the run read the file whole (without ``--rejects`` such a row refuses the file; with it the records would
    name it), so the file has changed since — a user error (replayed, every record would differ for it)."""
    import json

    from features.fields import of_season
    from pipelines.underwrite import SET_ASIDE_KEY

    now = [r for r in inp.set_aside if of_season(r, inp.season)]
    if now and not any(SET_ASIDE_KEY in (json.loads(b).get("provenance") or {}) for b in mine["body"]):
        rows = ", ".join(r.row for r in now[:5]) + (f" and {len(now) - 5} more" if len(now) > 5 else "")
        raise UserInputError(f"{Path(fields).name}: {len(now)} row(s) of season {inp.season} fail a row-level check "
                             f"({rows}; `agcredit fields validate` names why), but the re-underwriting records as "
                             f"of {day} set no row aside: the run read the file whole, so it has changed since; give "
                             "the fields file the run read")


def _run_models(bodies: list[dict[str, Any]], *, policy: str | Path | None, crop_model: str | Path | None,
                pins: bool, weather: Any) -> tuple[Any, Policy, str, list[str], list[dt.date] | None]:
    """A re-underwriting run's models, policy and pins as its records name them (:func:`_recorded_versions`,
    :func:`_recorded_policy`; ``policy``/``crop_model``: these instead; ``pins``: :func:`recorded_pins`): (models,
    policy, its name, warnings, haze dates to pin)."""
    from pipelines.underwrite import ChampionModels
    from underwriting.policy import default_policy, load_policy

    yv, cv = _recorded_versions(bodies)
    notes: list[str] = []
    if policy is None:
        pol, policy_text, notes = _recorded_policy(bodies, default_policy())
    else:
        pol = load_policy(policy)
        policy_text = f"{pol.policy_id} {pol.version}"
    pin_scale, haze = recorded_pins(bodies) if pins else (None, None)
    recorded_crop = crop_model is None
    if crop_model is None:
        if cv is None:
            raise UserInputError("the stored re-underwriting records used a crop-type model from a folder: give "
                                 "--crop-model PATH")
        crop_model = cv
    models = ChampionModels.resolve(alias=yv, crop_model=crop_model, weather=weather)
    if pin_scale is not None and models.crop_model is not None:
        from features._crop_season import has_season_calibration

        if has_season_calibration(models.crop_model):  # the records of a model without one say 1: nothing to pin
            models = models.with_season_scale(pin_scale)
    if recorded_crop:
        models = replace(models, crop_version=_crop_description(bodies, models.crop_version))
    return models, pol, policy_text, notes, haze


def _replay_run(c: Any, season: str, as_of: dt.date, run: _Run, *, store: str | None, policy: str | Path | None,
                profile: str | None, crop_model: str | Path | None, pins: bool
                ) -> tuple[Any, list[Any], Policy, str, list[str]]:
    """One run of :func:`replay_reunderwriting`: (its re-underwriting result, the items it would have written, the
    policy it was replayed with and its name, warnings), the store read as it was before the run's first record."""
    import json

    from pipelines.reunderwrite import reunderwrite_county
    from underwriting.records import DecisionItem

    bodies = [json.loads(b) for b in run.records["body"]]
    models, pol, policy_text, notes, haze = _run_models(bodies, policy=policy, crop_model=crop_model, pins=pins,
                                                        weather=c.weather())
    # a --due checkpoint as reunderwrite_due ran it: its crop's lines, forward from the day's earlier runs' records
    due: dict[str, Any] = ({"crops": [run.crop], "same_day_done": True, "open_on": _open_on(bodies),
                            "book_check_when_deciding": True} if run.crop is not None else {})
    items: list[DecisionItem] = []
    with store_view(store, int(run.records["seq"].min())) as view:
        res = reunderwrite_county(c, season, as_of, store=view, policy=pol, profile=profile, models=models,
                                  haze_dates=haze, collect=items, refuse_rejected=False,
                                  allow_missing_acquisitions=_decided_without_missing(bodies), **due)
    return res, items, pol, policy_text, notes
