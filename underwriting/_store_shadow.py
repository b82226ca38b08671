"""The shadow decisions' table (private to underwriting.store): its definition and how a read of it is framed — the
store answers the query (:meth:`underwriting.store.DecisionStore.shadow_decisions`) and :mod:`pipelines.shadow`
writes the rows (a challenger's decision beside each record of the version in force; never a record)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

#: the shadow decisions' table in the decision store's database
SHADOW_TABLE = "agcredit_shadow_decisions"
#: the order of a read's rows
SHADOW_ORDER = ("season", "as_of", "application_id", "model_name", "model_version", "record_id")


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


def shadow_query(conds: Mapping[str, str | None]) -> sa.Select[Any]:
    """The select of the table's rows whose columns equal ``conds``' values (None: not filtered)."""
    table = shadow_table(sa.MetaData())
    q = sa.select(table)
    for col, want in conds.items():
        if want is not None:
            q = q.where(table.c[col] == str(want))
    return q


def shadow_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``rows`` as a read returns them: the table's columns, ``limit`` as int64, ordered by :data:`SHADOW_ORDER`; an
    empty frame with the columns when there are none."""
    cols = [c.name for c in shadow_table(sa.MetaData()).columns]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "limit" else "object") for c in cols})
    df = pd.DataFrame([dict(r) for r in rows], columns=cols).astype({"limit": "int64"})
    return df.sort_values(list(SHADOW_ORDER), kind="mergesort").reset_index(drop=True)[cols]
