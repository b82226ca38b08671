"""Shadow decisions: the challenger's decision beside each decision of the version in force.

CREDIT_POLICY.md (model risk): "the challenger runs in shadow for a season before promotion". While a model has a
``challenger`` alias, every ``underwrite`` and ``reunderwrite`` run decides each line a second time with the
challenger in place of that model — the same inputs, the same policy, the same store as the run read it — and keeps
that decision here, beside the record the version in force wrote: never a decision, never in the audit chain, never
read by a later decision. What the challenger *would have done*, written when it would have done it, is the evidence
``agcredit models shadow`` reports and ``models promote`` asks for: nothing recomputed after the outcome is known.

The table (:data:`SHADOW_TABLE`) lives in the decision store's database, as the checkpoint log does
(:mod:`pipelines.schedule`). One row per (record, model, version): the record id of the decision of the version in
force it stands beside, which model was swapped and for which version, the shadow decision's outcome, limit,
currency, reason codes, body (canonical JSON, as a record's) and its sha256. Rows are only added: a re-run finds
its rows present and adds nothing (:func:`write_shadow`); a run killed after its records committed and before its
shadow rows did leaves the records without them, and its re-run (its records already present) adds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from pipelines._champions import crop_registry_version
from underwriting._store_shadow import SHADOW_TABLE, shadow_table  # the store answers its query
from underwriting.records import DecisionItem, sha256_hex

__all__ = ["SHADOW_TABLE", "SHADOW_ALIAS", "SHADOW_MODELS", "ShadowRow", "ShadowSet", "ShadowSummary", "challengers",
           "run_shadow", "shadow_sets", "shadow_table", "shadow_rows", "write_shadow", "read_shadow"]

#: the transaction advisory lock a shadow writer takes on PostgreSQL before creating the table ("agsh" in ASCII): two
#: runs writing their first shadow rows at once raced on the catalogue (a duplicate pg_type row), one run's rows lost
SHADOW_LOCK_KEY = 0x61677368
#: the registry alias whose version runs in shadow
SHADOW_ALIAS = "challenger"


@dataclass(frozen=True)
class ShadowRow:
    """One shadow decision ready to be written: ``item`` decided with ``model_name`` version ``model_version`` in
    place of ``in_force_version``, beside the record ``record_id``."""

    record_id: str
    model_name: str
    model_version: str
    in_force_version: str | None
    item: DecisionItem

    def row(self, operator: str, written_at: str) -> dict[str, Any]:
        body = self.item.body_json
        return {"record_id": self.record_id, "model_name": self.model_name, "model_version": str(self.model_version),
                "in_force_version": None if self.in_force_version is None else str(self.in_force_version),
                "kind": self.item.kind, "application_id": str(self.item.application_id),
                "farmer_token": str(self.item.farmer_token), "season": str(self.item.season),
                "as_of": str(self.item.as_of), "outcome": self.item.outcome, "limit": int(self.item.limit),
                "currency": str(self.item.currency), "reason_codes": ",".join(self.item.reason_codes) or None,
                "body_hash": sha256_hex(body), "body": body, "written_at": written_at, "operator": operator}


def shadow_rows(in_force: Sequence[Any], shadow: Iterable[DecisionItem], *, model_name: str,
                model_version: str, in_force_version: str | None) -> list[ShadowRow]:
    """Pair each shadow item with the item of the version in force for the same application (``in_force``: what the
    run wrote or found written), the record id from that item's idempotency key (or a stored record's own
    ``record_id``: a re-run that finds the records written re-decides nothing); a shadow item whose application the
    version in force did not decide in this run is left out (nothing to stand beside)."""
    from underwriting._store_schema import record_id_for

    by_app = {str(i.application_id): getattr(i, "record_id", None) or record_id_for(i.idempotency_key)
              for i in in_force}
    out = []
    for s in shadow:
        rid = by_app.get(str(s.application_id))
        if rid is not None:
            out.append(ShadowRow(rid, model_name, str(model_version), in_force_version, s))
    return out


def write_shadow(url: str, rows: Sequence[ShadowRow], operator: str) -> tuple[int, int]:
    """Add ``rows`` to the store's shadow table (created when missing) in one transaction; rows already present (the
    same record, model and version) add nothing. Returns (written, already present). One insert that skips the rows
    whose key is present (``ON CONFLICT DO NOTHING``, SQLite and PostgreSQL) and counts those it inserted: two runs
    writing the same rows at once both succeed, each row stored once (a read of the present rows before the insert
    let the second run hit the primary key). Database errors are the store's one-line error."""
    from underwriting._store_schema import make_engine
    from underwriting.store import store_error

    if not rows:
        return 0, 0
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    table = shadow_table(sa.MetaData())
    engine = make_engine(url)
    try:
        new, seen = [], set()
        for r in rows:  # the same key twice in one call: once
            k = (r.record_id, r.model_name, r.model_version)
            if k not in seen:
                seen.add(k)
                new.append(r.row(operator, now))
        written = 0
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two first writers at once: one creates the table, the other waits
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SHADOW_LOCK_KEY})
            table.create(conn, checkfirst=True)
            stmt = _insert_ignoring_present(conn.dialect.name, table)
            for start in range(0, len(new), 500):
                # RETURNING names the rows inserted (not those skipped): the count is what this run added
                written += len(conn.execute(stmt, new[start:start + 500]).all())
        return written, len(rows) - written
    except sa.exc.SQLAlchemyError as e:
        raise store_error(url, e) from None
    finally:
        engine.dispose()


def _insert_ignoring_present(dialect: str, table: sa.Table) -> Any:
    """``table``'s insert that skips a row whose key is present, returning the keys of the rows it inserted."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing().returning(table.c.record_id)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing().returning(table.c.record_id)
    # the store is SQLite or PostgreSQL (underwriting.store); said plainly if ever another
    raise sa.exc.ArgumentError(f"shadow table: unsupported database {dialect!r} (expected sqlite or postgresql)")


def read_shadow(url: Any, *, season: str | None = None, model_name: str | None = None,
                model_version: str | None = None) -> pd.DataFrame:
    """The store's shadow decisions (optionally of one season, model, version — filtered in the query), read only
    (nothing created or written, as every read of the store): the table's columns, ``limit`` as int64, ordered by
    season, as-of date, application and model; an empty frame with the columns when the store has none. ``url``: the
    store's URL (opened and closed here) or an open :class:`~underwriting.store.DecisionStore` (a report reading the
    store once). The store's own query (:meth:`~underwriting.store.DecisionStore.shadow_decisions`): its snapshot,
    its read-only copy, its table locks on PostgreSQL."""
    from underwriting.store import DecisionStore

    if isinstance(url, DecisionStore):
        return url.shadow_decisions(season=season, model_name=model_name, model_version=model_version)
    with DecisionStore(url, create=False, read_only=True) as st:
        return st.shadow_decisions(season=season, model_name=model_name, model_version=model_version)


# --- running a challenger in shadow ------------------------------------------------------------------------------

#: the models a challenger can stand in for
SHADOW_MODELS = ("yield-value", "crop-type")


@dataclass(frozen=True)
class ShadowSet:
    """A run's models with one model's ``challenger`` swapped in (:func:`shadow_sets`)."""

    name: str                 # the model swapped: yield-value or crop-type
    version: str              # the challenger's version
    in_force: str | None      # the version of that model the run decides with (None: no crop model)
    models: Any               # a pipelines._champions.ChampionModels


@dataclass(frozen=True)
class ShadowSummary:
    """What one challenger did in shadow in one run: how many decisions it made beside the version in force's, how
    many differ, what the store's shadow table took — or why it did not run (``failed``; ``skipped``: by choice,
    ``--no-shadow``, or it cannot run on this run's inputs)."""

    name: str
    version: str
    in_force: str | None
    unit: str = "applications"  # what a decision is of: applications (underwrite) or lines (reunderwrite)
    decided: int = 0
    outcomes_differ: int = 0
    limits_differ: int = 0
    written: int = 0
    already_present: int = 0
    failed: str | None = None
    skipped: str | None = None
    #: the run's records it stands beside (None: as many as it decided); fewer decided: ``missing`` names them
    of: int | None = None
    missing: tuple[str, ...] = ()

    @property
    def who(self) -> str:
        return f"{self.name} version {self.version} ({SHADOW_ALIAS})"

    def line(self) -> str:
        """``shadow: yield-value version 2 (challenger) decided 153 lines beside version 1: outcomes differ on 12,
        limits on 31 (store's shadow table: 153 written, 0 already present)``; or why it did not run."""
        if self.skipped is not None:
            return f"shadow: {self.who} not run: {self.skipped}"
        if self.failed is not None:
            return f"shadow: {self.who} failed, the run's own decisions are unaffected: {self.failed}"
        short = self.of is not None and self.decided < self.of
        n = f"{self.decided} of the run's {self.of}" if short else str(self.decided)
        unit = self.unit[:-1] if n == "1" and self.unit in ("applications", "lines") else self.unit
        return (f"shadow: {self.who} decided {n} {unit} beside "
                f"{'version ' + self.in_force if self.in_force else 'no ' + self.name + ' model'}: outcomes differ on "
                f"{self.outcomes_differ}, limits on {self.limits_differ} (store's shadow table: {self.written} "
                f"written, {self.already_present} already present)"
                + (f"; no shadow decision for {self.of - self.decided} (the challenger, on the store as the run read "
                   f"it, did not decide them): {', '.join(self.missing[:5])}{', ...' if len(self.missing) > 5 else ''}"
                   if short and self.of is not None else ""))


def challengers(versions: Mapping[str, str | None]) -> list[tuple[str, str, str | None]]:
    """The models whose ``challenger`` alias names another version than the one a run decides with (``versions``:
    the run's, as :meth:`pipelines._champions.ChampionModels.versions` gives them — a crop model by its
    description): (model, challenger version, version in force). A model the registry does not hold, or without the
    alias: none. Cheap (aliases only, nothing loaded)."""
    from models.errors import RegistryError
    from models.registry import alias_version

    out = []
    for name in SHADOW_MODELS:
        try:
            got = alias_version(name, SHADOW_ALIAS)
        except RegistryError:
            continue
        if got is None:
            continue
        now = versions.get(name)
        in_force = crop_registry_version(now) if name == "crop-type" else (None if now is None else str(now))
        if str(got) != str(in_force):
            out.append((name, str(got), in_force))
    return out


def shadow_sets(models: Any, *, features_given: bool = False, season_scale: float | None = None
                ) -> tuple[list[ShadowSet], list[ShadowSummary]]:
    """For each model of ``models`` (the run's, a :class:`pipelines._champions.ChampionModels`) with a distinct
    ``challenger`` (:func:`challengers`): the run's models with it swapped in
    (:func:`pipelines.impact.candidate_models`, as ``models impact --candidate challenger`` swaps it). A yield-value
    challenger values the run's features as built; a crop-type challenger builds its own
    (``features_given``: a ready features file carries its crop model's answers — not run, said).
    ``season_scale``: the run's pinned crop-model season scale, pinned on a crop-type challenger too (None: the
    caller pins it, as a re-underwriting's shadow run does through its own ``crop_season_scale`` — pinned once). A
    challenger that is the champion's model registered again (the same folder) runs in shadow as a re-registered
    yield model does: another version, its own evidence. Returns the sets
    and, for challengers that cannot run, why (:class:`ShadowSummary` with ``failed`` or ``skipped``)."""
    from pipelines.impact import candidate_models

    sets: list[ShadowSet] = []
    said: list[ShadowSummary] = []
    for name, version, in_force in challengers(models.versions()):
        if name == "crop-type" and features_given:
            said.append(ShadowSummary(name, version, in_force, skipped="a crop-type challenger cannot run in shadow "
                                      "without imagery (the features file given carries its crop model's answers)"))
            continue
        try:
            # by the alias, as `models impact --candidate challenger` takes it (a crop model's description names it)
            # same_said: a challenger whose model is the champion's (registered again) is not refused as
            # "nothing to compare": it is another version, and its season in shadow is what its promotion asks for
            cand = candidate_models(f"shadow: {name}", name, SHADOW_ALIAS, "champion", models,
                                    weather=models.weather, same_said=[], said=None)[0]
            version = str(cand.yield_version if name == "yield-value" else crop_registry_version(cand.crop_version))
            if name == "crop-type" and season_scale is not None:
                cand = cand.with_season_scale(season_scale)
        except Exception as e:  # a challenger that cannot load: the run goes on without it
            said.append(ShadowSummary(name, version, in_force, failed=failure_text(e)))
            continue
        sets.append(ShadowSet(name, version, in_force, cand))
    return sets, said


def failure_text(e: BaseException) -> str:
    """One line of why the shadow side failed (the exception's first line, else its kind)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text[:300] or type(e).__name__


def run_shadow(sets: Sequence[ShadowSet], decide: Any, in_force: Sequence[Any], url: str,
               operator: str, *, unit: str) -> list[ShadowSummary]:
    """Decide with each shadow set (``decide(set)`` → its items: the same lines, inputs, policy and store state as
    the run's), pair the items with the run's (``in_force``: what it wrote or found written, :func:`shadow_rows`) and
    add them to the store's shadow table (:func:`write_shadow`). A set that fails (cannot score, cannot write) gives
    a summary saying why and nothing else: the run's records are written already and stay as they are."""
    out = []
    base = {str(i.application_id): i for i in in_force}
    of = len(base)
    for s in sets:
        try:
            items = decide(s)
            rows = shadow_rows(in_force, items, model_name=s.name, model_version=s.version,
                               in_force_version=s.in_force)
            written, present = write_shadow(url, rows, operator)
        except Exception as e:
            out.append(ShadowSummary(s.name, s.version, s.in_force, unit=unit, failed=failure_text(e)))
            continue
        pairs = [(base[str(r.item.application_id)], r.item) for r in rows]
        got = {str(r.item.application_id) for r in rows}
        out.append(ShadowSummary(s.name, s.version, s.in_force, unit=unit, decided=len(got),
                                 outcomes_differ=sum(a.outcome != b.outcome for a, b in pairs),
                                 limits_differ=sum(int(a.limit) != int(b.limit) for a, b in pairs),
                                 written=written, already_present=present, of=of,
                                 missing=tuple(sorted(set(base) - got))))
    return out
