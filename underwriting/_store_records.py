"""The decision store's records (private to underwriting.store): what an append, a verify and an upgrade return, a
stored record, rows and records converted both ways, and the per-record helpers its reads and writes share."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from features.errors import UserInputError
from underwriting._store_schema import IDENTIFIER_KEYS, decisions, record_hash
from underwriting.contracts import DECISIONS
from underwriting.errors import AuditChainError
from underwriting.records import DecisionItem, sha256_hex

EXTRA_COLUMNS = ("seq", "kind", "supersedes")
_LOOKUP_CHUNK = 500


def _stored(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Those of the record ``ids`` stored, looked up in chunks (bound parameters)."""
    seen: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        seen.update(conn.scalars(select(decisions.c.record_id).where(
            decisions.c.record_id.in_(ids[start:start + _LOOKUP_CHUNK]))))
    return seen


def policy_meta_key(policy_id: str, version: str) -> str:
    """The store's meta key under which a policy's (id, version) registers its content hash — the version as
    :func:`underwriting._policy_versions.same_version` spells it, so ``v2026.12.10`` is ``2026.12.10``'s key."""
    import hashlib

    from underwriting._policy_versions import same_version

    return "policy:" + hashlib.sha256(f"{policy_id}\0{same_version(version)}".encode()).hexdigest()[:40]


def _text_length(column: str) -> int | None:
    """The declared length of a text column of the decisions table (None: unbounded)."""
    length = getattr(decisions.c[column].type, "length", None)
    return int(length) if length is not None else None


@dataclass(frozen=True)
class AppendResult:
    """What :meth:`DecisionStore.append` did: records written and items already present."""

    written: int
    already_present: int
    record_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain; ``seq``/``record_id``/``problem`` name the first broken record."""

    ok: bool
    count: int
    seq: int | None = None
    record_id: str | None = None
    problem: str | None = None
    #: the last record's seq and hash: kept outside the database (a log, a ticket), it lets a later
    #: ``verify(expect_head=...)`` detect records cut from the end of the chain
    head_seq: int | None = None
    head_hash: str | None = None
    #: the seq of the head given as ``expect_head`` (found in the chain): the records after it were appended since
    expected_head_seq: int | None = None
    #: applications whose records fork (two first records, or two records superseding the same one): the chain's
    #: hashes are intact, but the one shown as current is merely the last written (stores written before the
    #: store refused forks)
    forked: tuple[str, ...] = ()
    #: guard triggers a store created by an earlier release lacks (not evidence): `agcredit audit upgrade-store`
    #: adds them, writers refuse the store until then
    upgrade_pending: tuple[str, ...] = ()
    #: the check of the token key the store's farmer tokens were made with (None: none recorded yet)
    token_key_check: str | None = None
    #: policy versions the records name whose registered content (the store's metadata, which no trigger guards)
    #: is missing or other than the records' — each a sentence
    policy_registrations: tuple[str, ...] = ()
    #: the records hold farmer tokens made with a key (or a check was recorded) and the metadata holds no token key
    #: check: writers refuse the store until `agcredit audit upgrade-store` records it
    token_key_missing: bool = False

    def raise_if_broken(self) -> None:
        if not self.ok:
            raise AuditChainError(record_id=str(self.record_id), position=int(self.seq or 0),
                                  problem=str(self.problem))


@dataclass(frozen=True)
class UpgradeResult:
    """What :meth:`DecisionStore.upgrade` did: the guard triggers added (none: the store was up to date) and the
    verified chain's length and head."""

    added: tuple[str, ...]
    count: int
    head_seq: int | None = None
    head_hash: str | None = None
    #: the token key check recorded (the records' key's, missing from the metadata), None when none was
    key_check: str | None = None
    #: the row noting a check was recorded (``token_key_recorded``) added beside the store's check
    key_check_noted: bool = False


@dataclass(frozen=True)
class DecisionRecord:
    """One stored record: envelope, flat columns and the parsed body."""

    seq: int
    record_id: str
    prev_hash: str | None
    record_hash: str
    written_at: str
    operator: str
    kind: str
    supersedes: str | None
    application_id: str
    farmer_token: str
    season: str
    as_of: str
    outcome: str
    limit: int
    currency: str
    reason_codes: tuple[str, ...]
    body_hash: str
    body_json: str = field(repr=False)

    @property
    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.body_json)
        return out


def policy_block(body: object) -> object:
    """The ``policy`` block of a record's body (JSON text), or None."""
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return None
    block = parsed.get("policy") if isinstance(parsed, dict) else None
    return block if isinstance(block, dict) else None


def record_from_row(row: Any) -> DecisionRecord:
    """A stored row (a mapping of the decisions table's columns: what :func:`record_row` builds, what a query
    returns) as a :class:`DecisionRecord`."""
    m = dict(row)
    codes = tuple(m["reason_codes"].split(",")) if m["reason_codes"] else ()
    return DecisionRecord(seq=int(m["seq"]), record_id=m["record_id"], prev_hash=m["prev_hash"],
                          record_hash=m["record_hash"], written_at=m["written_at"], operator=m["operator"],
                          kind=m["kind"], supersedes=m["supersedes"], application_id=m["application_id"],
                          farmer_token=m["farmer_token"], season=m["season"], as_of=m["as_of"],
                          outcome=m["outcome"], limit=int(m["limit"]), currency=m["currency"], reason_codes=codes,
                          body_hash=m["body_hash"], body_json=m["body"])


def record_row(item: DecisionItem, rid: str, seq: int, prev: str | None, operator: str,
               written_at: str | None = None) -> dict[str, Any]:
    """The row :meth:`DecisionStore.append` writes for ``item`` as record ``rid`` numbered ``seq`` after the record
    whose hash is ``prev``, by ``operator``, written now (or at ``written_at``, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``): the
    decisions table's columns, its body hash and its record hash computed."""
    now = written_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = item.body_json
    row: dict[str, Any] = {
        "seq": seq, "record_id": rid, "prev_hash": prev, "written_at": now, "operator": operator,
        "kind": item.kind, "supersedes": item.supersedes, "application_id": str(item.application_id),
        "farmer_token": str(item.farmer_token), "season": str(item.season), "as_of": str(item.as_of),
        "outcome": item.outcome, "limit": int(item.limit), "currency": str(item.currency),
        "reason_codes": ",".join(item.reason_codes) or None, "body_hash": sha256_hex(body), "body": body,
    }
    row["record_hash"] = record_hash(row)
    return row


def records_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Stored rows (mappings of the decisions table's columns) as :meth:`DecisionStore.records` returns them: the
    Decision contract's columns and ``seq``, ``kind``, ``supersedes``, typed as it types them (not checked)."""
    cols = [c.name for c in DECISIONS.columns] + list(EXTRA_COLUMNS)
    df = pd.DataFrame({c: [r[c] for r in rows] for c in cols})
    for c in cols:
        df[c] = df[c].astype("int64") if c in ("limit", "seq") else df[c].astype("str").where(df[c].notna(), None)
    return df


def _head(conn: Connection) -> tuple[int, str | None]:
    """The last stored record's seq and hash on ``conn`` ((0, None): no record)."""
    row = conn.execute(select(decisions.c.seq, decisions.c.record_hash)
                       .order_by(decisions.c.seq.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, None)


def _identifier_keys(obj: Any, path: str = "body") -> list[str]:
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k).lower() in IDENTIFIER_KEYS:
                found.append(f"{path}.{k}")
            found.extend(_identifier_keys(v, f"{path}.{k}"))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            found.extend(_identifier_keys(v, f"{path}[{i}]"))
    return found


def _iso_date(value: str | date | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return (value if isinstance(value, date) else date.fromisoformat(str(value).strip())).isoformat()
    except ValueError:
        raise UserInputError(f"{what}: expected an ISO date (YYYY-MM-DD), found {value!r}") from None
