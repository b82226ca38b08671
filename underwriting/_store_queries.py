"""Reading the decision store (private to underwriting.store): the queries of
:class:`underwriting.store.DecisionStore` — records, heads, histories, policy blocks, other tables kept beside them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy import func, inspect, select

from underwriting._store_connections import StoreConnections
from underwriting._store_records import (
    _LOOKUP_CHUNK,
    DecisionRecord,
    _head,
    _iso_date,
    _stored,
    policy_block,
    policy_meta_key,
    record_from_row,
    records_frame,
)
from underwriting._store_schema import decisions, meta
from underwriting.contracts import check_decisions


class StoreQueries(StoreConnections):
    """The queries of :class:`~underwriting.store.DecisionStore`."""

    # -- queries ----------------------------------------------------------------------------------------------
    def count(self) -> int:
        with self._read() as conn:
            return int(conn.scalar(select(func.count()).select_from(decisions)) or 0)

    def table_rows(self, name: str) -> pd.DataFrame | None:
        """The rows of another table kept in the store's database (e.g. ``reunderwrite --due``'s checkpoint log,
        :class:`pipelines.schedule.CheckpointLog`), read as the records are — nothing created or written (a store on
        read-only media through its private copy); None when the database has no such table."""
        from sqlalchemy import MetaData, Table

        with self._read() as conn:
            if not inspect(conn).has_table(name):
                return None
            table = Table(name, MetaData(), autoload_with=conn)
            return pd.DataFrame([dict(r) for r in conn.execute(select(table)).mappings()],
                                columns=[c.name for c in table.columns])

    def shadow_decisions(self, *, season: str | None = None, model_name: str | None = None,
                         model_version: str | None = None) -> pd.DataFrame:
        """The store's shadow decisions (:mod:`pipelines.shadow`: a challenger's decision beside each record of the
        version in force, never a record), optionally of one season, model and version — filtered in the query — read
        as the records are (inside :meth:`snapshot`, its one snapshot; a read-only store through its private copy;
        nothing created or written): the table's columns, ``limit`` as int64, ordered by season, as-of date,
        application and model; an empty frame with the columns when the store has none."""
        from underwriting._store_shadow import SHADOW_TABLE, shadow_frame, shadow_query

        q = shadow_query({"season": season, "model_name": model_name, "model_version": model_version})
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()] if inspect(conn).has_table(SHADOW_TABLE) else []
        return shadow_frame(rows)

    def policy_content(self, policy_id: str, version: str) -> str | None:
        """The content hash this store registered for policy ``policy_id`` version ``version`` (its first records
        naming it did: :meth:`append`), or None — read only."""
        key = policy_meta_key(str(policy_id), str(version))
        with self._read() as conn:
            value = conn.scalar(select(meta.c.value).where(meta.c.key == key))
        return None if value is None else str(value)

    def policy_versions(self, policy_id: str) -> dict[str, set[str]]:
        """The versions of policy ``policy_id`` the records name (as
        :func:`underwriting._policy_versions.same_version` spells them), each with the content hashes named — one
        DISTINCT query on SQLite, not every record's block (:meth:`policy_blocks`) — read only."""
        from underwriting._store_append_checks import recorded_policies

        with self._read() as conn:
            return {v: h for (_, v), h in recorded_policies(conn, str(policy_id)).items()}

    def policy_blocks(self, season: str | None = None) -> pd.DataFrame:
        """Each record's ``policy`` block (of ``season``) in chain order: ``record_id``, ``seq``, ``kind``,
        ``supersedes``, ``application_id``, ``season``, ``as_of`` and ``policy`` (the block as JSON text, or a
        mapping; None where the body names none) — what ``policy validate --store`` and ``policy history`` read,
        without the bodies (SQLite extracts the block: ``json_extract``; another database's bodies are parsed here,
        one at a time)."""
        from sqlalchemy import and_, case

        cols = [decisions.c.record_id, decisions.c.seq, decisions.c.kind, decisions.c.supersedes,
                decisions.c.application_id, decisions.c.season, decisions.c.as_of]
        sqlite = self.dialect == "sqlite"
        body = decisions.c.body
        block = (case((and_(func.json_valid(body) == 1, func.json_type(body, "$.policy") == "object"),
                       func.json_extract(body, "$.policy")), else_=None) if sqlite else body).label("policy")
        q = select(*cols, block).order_by(decisions.c.seq)
        if season is not None:
            q = q.where(decisions.c.season == str(season))
        names = [c.name for c in cols] + ["policy"]
        with self._read() as conn:
            rows = [tuple(r) for r in conn.execute(q)]
        df = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        if not sqlite and len(df):
            df["policy"] = [policy_block(b) for b in df["policy"]]
        return df

    def get(self, record_id: str) -> DecisionRecord | None:
        """The record with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(decisions).where(decisions.c.record_id == record_id)).mappings().first()
        return record_from_row(row) if row is not None else None

    def history(self, application_id: str) -> list[DecisionRecord]:
        """Every record of an application, in chain order."""
        with self._read() as conn:
            rows = conn.execute(select(decisions).where(decisions.c.application_id == str(application_id))
                                .order_by(decisions.c.seq)).mappings().all()
        return [record_from_row(r) for r in rows]

    def stored_ids(self, record_ids: Sequence[str]) -> set[str]:
        """Those of ``record_ids`` the store holds."""
        with self._read() as conn:
            return _stored(conn, list(record_ids))

    def heads(self, application_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """The current record of each of ``application_ids`` that has one: application id -> (record id, as-of
        date) of its last record in the chain."""
        ids = sorted({str(a) for a in application_ids})
        best: dict[str, tuple[int, str, str]] = {}
        with self._read() as conn:
            for start in range(0, len(ids), _LOOKUP_CHUNK):  # in chunks (bound parameters)
                q = select(decisions.c.application_id, decisions.c.seq, decisions.c.record_id, decisions.c.as_of
                           ).where(decisions.c.application_id.in_(ids[start:start + _LOOKUP_CHUNK]))
                for app_id, seq, rid, day in conn.execute(q):
                    if app_id not in best or int(seq) > best[app_id][0]:
                        best[app_id] = (int(seq), str(rid), str(day))
        return {a: (rid, day) for a, (_, rid, day) in best.items()}

    def has_farmer(self, farmer_token: str) -> bool:
        """Whether any record is of the farmer ``farmer_token``."""
        with self._read() as conn:
            q = select(decisions.c.seq).where(decisions.c.farmer_token == str(farmer_token)).limit(1)
            return conn.execute(q).first() is not None

    def application_shapes(self) -> frozenset[str]:
        """The shapes of the stored application ids (:func:`underwriting._pii_text.reference_shape`: ``A2009-00035``
        → ``A9999-99999``): an unknown argument of that shape may be echoed, any other not (a name, a phone)."""
        return self.application_summary()[1]

    def application_ids(self, season: str | None = None) -> list[str]:
        """Every application id the records (of ``season``) hold, sorted."""
        q = select(decisions.c.application_id).distinct()
        if season is not None:
            q = q.where(decisions.c.season == str(season))
        with self._read() as conn:
            return sorted(str(i) for i in conn.execute(q).scalars())

    def application_summary(self) -> tuple[int, frozenset[str]]:
        """How many applications the records hold, and their ids' shapes (:meth:`application_shapes`) — what a
        message about an argument matching none of them says instead of the argument."""
        from underwriting._pii_text import reference_shape

        ids = self.application_ids()
        return len(ids), frozenset(reference_shape(i) for i in ids)

    def latest(self, application_id: str, as_of: str | date | None = None) -> DecisionRecord | None:
        """The last record written for an application (with ``as_of`` on or before the date, if given)."""
        day = _iso_date(as_of, "as-of date")
        q = select(decisions).where(decisions.c.application_id == str(application_id))
        if day is not None:
            q = q.where(decisions.c.as_of <= day)
        with self._read() as conn:
            row = conn.execute(q.order_by(decisions.c.seq.desc()).limit(1)).mappings().first()
        return record_from_row(row) if row is not None else None

    def records(self, season: str | None = None) -> pd.DataFrame:
        """The records (Decision contract, plus ``seq``, ``kind``, ``supersedes``) in chain order."""
        q = select(decisions).order_by(decisions.c.seq)
        if season is not None:
            q = q.where(decisions.c.season == str(season))
        with self._read() as conn:
            rows = [dict(m) for m in conn.execute(q).mappings()]
        return check_decisions(records_frame(rows), where=f"decision store {self.shown_url}")

    def head(self) -> tuple[int, str | None]:
        """The last stored record's seq and record hash ((0, None): an empty store) — where :meth:`append` links
        the next record."""
        with self._read() as conn:
            return _head(conn)
