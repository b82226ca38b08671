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

from underwriting.records import DecisionItem, sha256_hex

__all__ = ["SHADOW_TABLE", "SHADOW_ALIAS", "ShadowRow", "shadow_table", "shadow_rows", "write_shadow",
           "read_shadow"]

#: the shadow decisions' table in the decision store's database
SHADOW_TABLE = "agcredit_shadow_decisions"
#: the registry alias whose version runs in shadow
SHADOW_ALIAS = "challenger"


def shadow_table(meta: sa.MetaData) -> sa.Table:
    """:data:`SHADOW_TABLE` in ``meta``."""
    return sa.Table(
        SHADOW_TABLE, meta,
        # the record of the version in force this shadow decision stands beside (agc_decisions.record_id)
        sa.Column("record_id", sa.String(32), primary_key=True),
        # the model swapped ("yield-value" or "crop-type") and the shadow version
        sa.Column("model_name", sa.String(32), primary_key=True),
        sa.Column("model_version", sa.String(64), primary_key=True),
        # the version of that model the record was decided with (the one in force)
        sa.Column("in_force_version", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),  # the record's kind: decision or reunderwrite
        sa.Column("application_id", sa.String(128), nullable=False),
        sa.Column("farmer_token", sa.String(128), nullable=False),
        sa.Column("season", sa.String(16), nullable=False),
        sa.Column("as_of", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("limit", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason_codes", sa.Text, nullable=True),  # comma-joined, as the decisions table's
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("written_at", sa.String(32), nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Index("ix_agcredit_shadow_season", "season", "model_name", "model_version"),
    )


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


def shadow_rows(in_force: Sequence[DecisionItem], shadow: Iterable[DecisionItem], *, model_name: str,
                model_version: str, in_force_version: str | None) -> list[ShadowRow]:
    """Pair each shadow item with the item of the version in force for the same application (``in_force``: what the
    run wrote or found written), the record id from that item's idempotency key; a shadow item whose application the
    version in force did not decide in this run is left out (nothing to stand beside)."""
    from underwriting._store_schema import record_id_for

    by_app = {str(i.application_id): record_id_for(i.idempotency_key) for i in in_force}
    out = []
    for s in shadow:
        rid = by_app.get(str(s.application_id))
        if rid is not None:
            out.append(ShadowRow(rid, model_name, str(model_version), in_force_version, s))
    return out


def write_shadow(url: str, rows: Sequence[ShadowRow], operator: str) -> tuple[int, int]:
    """Add ``rows`` to the store's shadow table (created when missing) in one transaction; rows already present (the
    same record, model and version) add nothing. Returns (written, already present). Database errors are the store's
    one-line error."""
    from underwriting._store_schema import make_engine
    from underwriting.store import store_error

    if not rows:
        return 0, 0
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    table = shadow_table(sa.MetaData())
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            table.create(conn, checkfirst=True)
            keys = {(r.record_id, r.model_name, r.model_version) for r in rows}
            present = set()
            rids = sorted({k[0] for k in keys})
            for start in range(0, len(rids), 500):
                chunk = rids[start:start + 500]
                present |= {tuple(r) for r in conn.execute(
                    sa.select(table.c.record_id, table.c.model_name, table.c.model_version)
                    .where(table.c.record_id.in_(chunk)))}
            new, seen = [], set(present)
            for r in rows:
                k = (r.record_id, r.model_name, r.model_version)
                if k not in seen:
                    seen.add(k)
                    new.append(r.row(operator, now))
            if new:
                conn.execute(table.insert(), new)
        return len(new), len(rows) - len(new)
    except sa.exc.SQLAlchemyError as e:
        raise store_error(url, e) from None
    finally:
        engine.dispose()


def read_shadow(url: str, *, season: str | None = None, model_name: str | None = None,
                model_version: str | None = None) -> pd.DataFrame:
    """The store's shadow decisions (optionally of one season, model, version), read only (nothing created or
    written, as every read of the store): the table's columns, ``limit`` as int64, ordered by season, as-of date,
    application and model; an empty frame with the columns when the store has none."""
    from underwriting.store import DecisionStore

    cols = [c.name for c in shadow_table(sa.MetaData()).columns]
    with DecisionStore(url, create=False, read_only=True) as st:
        df = st.table_rows(SHADOW_TABLE)
    if df is None or df.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "limit" else "object") for c in cols})
    conds: Mapping[str, str | None] = {"season": season, "model_name": model_name, "model_version": model_version}
    for col, want in conds.items():
        if want is not None:
            df = df[df[col].astype(str) == str(want)]
    df = df.astype({"limit": "int64"})
    return df.sort_values(["season", "as_of", "application_id", "model_name", "model_version", "record_id"],
                          kind="mergesort").reset_index(drop=True)[cols]
