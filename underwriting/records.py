"""What the rules hand to the decision store: one :class:`DecisionItem` per decision.

The body is everything that follows from the inputs; it is serialised canonically
(sorted keys, no whitespace, UTF-8) so that a re-run gives byte-identical bytes. The
envelope (record id, previous hash, written-at, operator) is the store's business.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "DecisionItem", "canonical_json", "sha256_hex"]

KINDS = ("decision", "override", "reunderwrite")


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, no NaN (raises on NaN or infinity)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: str | bytes) -> str:
    """SHA-256 hex digest of a string (UTF-8) or bytes."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class DecisionItem:
    """One decision ready to be stored.

    ``idempotency_key`` = hash of (application, season, as-of date, input snapshot hash,
    model versions, policy hash) — see CREDIT_POLICY.md; the store derives the record id
    from it, so storing the same item twice adds nothing. ``supersedes`` is the record id
    of the decision this one follows (override, re-underwriting), if any.
    """

    idempotency_key: str
    application_id: str
    farmer_token: str
    season: str
    as_of: str
    outcome: str
    limit: int
    currency: str
    reason_codes: tuple[str, ...]
    body: dict[str, Any] = field(repr=False)
    kind: str = "decision"
    supersedes: str | None = None

    @property
    def body_json(self) -> str:
        return canonical_json(self.body)

    @property
    def body_hash(self) -> str:
        return sha256_hex(self.body_json)
