"""What an append refuses (private to underwriting.store): an item whose values the store cannot keep or whose body
holds personal identifiers, and a policy version naming another content than the store registered for it — a base of
:class:`underwriting.store.DecisionStore`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, select

from underwriting._store_connections import StoreConnections
from underwriting._store_records import _identifier_keys, _text_length, policy_meta_key
from underwriting._store_schema import meta
from underwriting.contracts import OUTCOMES
from underwriting.errors import StoreError
from underwriting.records import KINDS, DecisionItem


class AppendChecks(StoreConnections):
    """The checks :meth:`~underwriting.store.DecisionStore.append` makes before it writes."""

    def _check_item(self, item: DecisionItem) -> None:
        problems = []
        if item.kind not in KINDS:
            problems.append(f"kind {item.kind!r} (expected one of {', '.join(KINDS)})")
        if item.outcome not in OUTCOMES:
            problems.append(f"outcome {item.outcome!r} (expected one of {', '.join(OUTCOMES)})")
        if not isinstance(item.limit, int) or isinstance(item.limit, bool) or item.limit < 0:
            problems.append(f"limit {item.limit!r} (expected a non-negative integer of minor units)")
        if not item.idempotency_key or not item.application_id or not item.farmer_token:
            problems.append("empty idempotency_key, application_id or farmer_token")
        if any("," in c for c in item.reason_codes):
            problems.append("a reason code containing ','")
        for col in ("application_id", "farmer_token", "season", "as_of"):  # SQLite stores longer text, PostgreSQL
            size = _text_length(col)                                         # refuses the whole append: same on both
            if size is not None and len(str(getattr(item, col))) > size:
                problems.append(f"{col} longer than {size} characters")
        ids = _identifier_keys(item.body)
        if ids:
            problems.append(f"personal identifiers in the body ({', '.join(ids[:5])})")
        if problems:
            raise StoreError(url=self.shown_url,
                             problem=f"refusing item for application {item.application_id}: {'; '.join(problems)}")

    def _check_policy_versions(self, conn: Connection, items: Sequence[DecisionItem]) -> None:
        """Under the write lock: a policy's (id, version) names one content for good. The first records written
        with a version register its content hash in the store; a policy file changed without a new version (the
        records would name the same version for other rules) is refused, nothing written."""
        pols: dict[tuple[str, str], set[str]] = {}
        for item in items:
            pol = item.body.get("policy") if isinstance(item.body, dict) else None
            if isinstance(pol, dict) and pol.get("content_hash") and pol.get("id") is not None:
                pols.setdefault((str(pol["id"]), str(pol.get("version"))), set()).add(str(pol["content_hash"]))
        for (pid, version), digests in sorted(pols.items()):
            key = policy_meta_key(pid, version)
            known = conn.scalar(select(meta.c.value).where(meta.c.key == key))
            if known is None and len(digests) > 1:
                a, b = sorted(digests)[:2]
                raise StoreError(url=self.shown_url, problem=(
                    f"the records of this call name policy {pid} version {version} with two contents (hashes "
                    f"{a[:12]}…, {b[:12]}…): one version names one content; nothing was written"))
            if known is None:
                conn.execute(insert(meta), [{"key": key, "value": next(iter(digests))}])
                continue
            other = sorted(digests - {known})
            if other:
                raise StoreError(url=self.shown_url, problem=(
                    f"policy {pid} version {version} is recorded in this store with other content (hash "
                    f"{known[:12]}…; this file's {other[0][:12]}…): give the changed policy a new version; nothing "
                    "was written"))
