"""What an append refuses (private to underwriting.store): an item whose values the store cannot keep or whose body
holds personal identifiers, a policy version naming another content than the store registered for it, a token key
other than the one the store's farmer tokens were made with, and a record naming another farmer than the record it
supersedes — a base of :class:`underwriting.store.DecisionStore`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, literal, select

from features.identity import TOKEN_KEY_ENV, env_key_check
from underwriting._policy_versions import same_version
from underwriting._store_connections import StoreConnections
from underwriting._store_records import _identifier_keys, _text_length, policy_block, policy_meta_key
from underwriting._store_schema import KEY_CHECKS_KEY, TOKEN_KEY_CHECK, decisions, meta, record_id_for
from underwriting.contracts import OUTCOMES
from underwriting.errors import StoreError
from underwriting.records import KINDS, DecisionItem


def recorded_policies(conn: Connection, policy_id: str | None = None) -> dict[tuple[str, str], set[str]]:
    """The content hashes the store's records name for each (policy id, version as :func:`same_version` spells it)
    — of ``policy_id`` only, if given. SQLite reads them with ``json_extract``; another database's bodies are parsed
    one at a time."""
    body = decisions.c.body
    rows: list[tuple[object, object, object]] = []
    if conn.dialect.name == "sqlite":
        pid = func.json_extract(body, "$.policy.id")
        q = select(pid, func.json_extract(body, "$.policy.version"), func.json_extract(body, "$.policy.content_hash")
                   ).where(func.json_valid(body) == 1, func.json_type(body, "$.policy") == "object").distinct()
        rows = [tuple(r) for r in conn.execute(q if policy_id is None else q.where(pid == policy_id))]
    else:
        for (b,) in conn.execute(select(body).execution_options(yield_per=500)):
            pol = policy_block(b)
            if isinstance(pol, dict):
                rows.append((pol.get("id"), pol.get("version"), pol.get("content_hash")))
    out: dict[tuple[str, str], set[str]] = {}
    for pid_, version, digest in rows:
        if pid_ is not None and version is not None and digest and (policy_id is None or str(pid_) == policy_id):
            out.setdefault((str(pid_), same_version(str(version))), set()).add(str(digest))
    return out


#: the shape of a token :func:`features.identity.farmer_token` makes ('F' + 20 hex digits of a keyed HMAC): a record
#: holding one was tokenised with a key (a bank's own tokens, carried by its files with no key set, are its own)
_KEYED_TOKEN_GLOB = "F" + "[0-9a-f]" * 20
_KEYED_TOKEN_RE = "^F[0-9a-f]{20}$"


def holds_keyed_tokens(conn: Connection) -> bool:
    """Whether any record names a farmer token made with a key (:data:`_KEYED_TOKEN_RE`): one row looked up, the
    database matching the pattern (a scan only of a store holding none)."""
    tok = decisions.c.farmer_token
    match = tok.op("GLOB")(_KEYED_TOKEN_GLOB) if conn.dialect.name == "sqlite" else tok.regexp_match(_KEYED_TOKEN_RE)
    return conn.scalar(select(literal(1)).where(match).limit(1)) is not None


def key_check_missing(conn: Connection) -> bool:
    """Whether the store holds no token key check though it needs one: its records hold farmer tokens made with a
    key (:func:`holds_keyed_tokens`), or the row noting a check was recorded (:data:`KEY_CHECKS_KEY`) is there —
    the check removed around the API, or never recorded (a store of an earlier release). Told by the records, not
    only by that row: it is as unguarded as the check (a review deleted both, and a run under another key wrote)."""
    keys = {str(k) for (k,) in conn.execute(select(meta.c.key).where(meta.c.key.in_((TOKEN_KEY_CHECK,
                                                                                        KEY_CHECKS_KEY))))}
    if TOKEN_KEY_CHECK in keys:
        return False
    return KEY_CHECKS_KEY in keys or holds_keyed_tokens(conn)


def _witness_key(pid: str, version: str) -> str:
    """The agc_meta key naming (by seq) a record of the content registered for (pid, version): the registration's
    key with ``witness:`` for ``policy:``. Unguarded like it — a witness is always read back from its record."""
    return "witness:" + policy_meta_key(pid, version).removeprefix("policy:")


def _names(body: object, pid: str, version: str, digest: str) -> bool:
    """Whether a record's body names policy (pid, version) with content ``digest``."""
    pol = policy_block(body) if body is not None else None
    return (isinstance(pol, dict) and str(pol.get("id")) == pid and same_version(str(pol.get("version"))) == version
            and str(pol.get("content_hash")) == digest)


def _latest_naming(conn: Connection, pid: str, version: str, digest: str) -> int | None:
    """The seq of the latest record naming (pid, version) with content ``digest``: read from the chain's end, the
    database picking the bodies holding the hash's text (one, for the content the latest records name), each read
    back as JSON; None when none does (every body holding the text looked at)."""
    q = (select(decisions.c.seq, decisions.c.body).where(decisions.c.body.contains(digest, autoescape=True))
         .order_by(decisions.c.seq.desc()).execution_options(yield_per=20))
    res = conn.execute(q)
    try:
        for seq, body in res:
            if _names(body, pid, version, digest):
                return int(seq)
        return None
    finally:
        res.close()


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
        spelled: dict[tuple[str, str], set[str]] = {}  # the versions as the files spell them
        for item in items:
            pol = item.body.get("policy") if isinstance(item.body, dict) else None
            if isinstance(pol, dict) and pol.get("content_hash") and pol.get("id") is not None:
                key_ = (str(pol["id"]), same_version(str(pol.get("version"))))
                pols.setdefault(key_, set()).add(str(pol["content_hash"]))
                spelled.setdefault(key_, set()).add(str(pol.get("version")))

        def new_version(pid: str, version: str) -> str:
            other = sorted(v for v in spelled.get((pid, version), ()) if v != version)
            return ("give the changed policy a new version" if not other else
                    f"{other[0]} is version {version} (a version is compared as every spelling of it): if only its "
                    f"spelling differs from that version's file, write {version}; else give the policy a new version")
        for (pid, version), digests in sorted(pols.items()):
            key = policy_meta_key(pid, version)
            known = conn.scalar(select(meta.c.value).where(meta.c.key == key))
            if known is None and len(digests) > 1:
                a, b = sorted(digests)[:2]
                raise StoreError(url=self.shown_url, problem=(
                    f"the records of this call name policy {pid} version {version} with two contents (hashes "
                    f"{a[:12]}…, {b[:12]}…): one version names one content; nothing was written"))
            if known is None:  # the store's records are the witness too (its registration removed: a review)
                named = recorded_policies(conn, pid).get((pid, version), set())
                other = sorted(digests - named)
                if named and other:
                    raise StoreError(url=self.shown_url, problem=(
                        f"policy {pid} version {version} is named by this store's records with other content "
                        f"(hash {sorted(named)[0][:12]}…; this file's {other[0][:12]}…): {new_version(pid, version)}; "
                        "nothing was written"))
                conn.execute(insert(meta), [{"key": key, "value": next(iter(digests))}])
                continue
            # the registration first: one the records do not bear out is the metadata edited (the shipped file and
            # an override, which carries its record's policy, were refused as "this file's" other content)
            self._check_registration_witnessed(conn, pid, version, str(known))
            other = sorted(digests - {known})
            if other:
                raise StoreError(url=self.shown_url, problem=(
                    f"policy {pid} version {version} is recorded in this store with other content (hash "
                    f"{known[:12]}…; this file's {other[0][:12]}…): {new_version(pid, version)}; nothing was "
                    "written"))

    def _check_registration_witnessed(self, conn: Connection, pid: str, version: str, known: str) -> None:
        """The registration a file matched must be the content the store's records name: a registration edited in
        the unguarded metadata to a changed file's hash let that file write under the released version, exit 0 (a
        review). Once per version and store object, at the cost of one record: the one its witness row names
        (:func:`_witness_key`, kept beside the registration), else the latest record whose body holds the hash
        (found from the chain's end, then noted as the witness). The records' contents are read whole only when no
        record holds it — to name them in the refusal (every body was parsed on each run: 7.2 s on PostgreSQL at
        50,000 records, under the write lock)."""
        witnessed: set[tuple[str, str, str]] = self.__dict__.setdefault("_witnessed_registrations", set())
        if (pid, version, known) in witnessed:
            return
        key = _witness_key(pid, version)
        noted = conn.scalar(select(meta.c.value).where(meta.c.key == key))
        if not (str(noted or "").isdigit() and _names(conn.scalar(select(decisions.c.body).where(
                decisions.c.seq == int(str(noted)))), pid, version, known)):
            seq = _latest_naming(conn, pid, version, known)
            if seq is not None:  # (a witness row removed or pointed elsewhere only costs this search)
                conn.execute(delete(meta).where(meta.c.key == key))
                conn.execute(insert(meta), [{"key": key, "value": str(seq)}])
            else:
                named = recorded_policies(conn, pid).get((pid, version), set())
                if named:  # (records of two contents, written before registrations began: kept — one holds it)
                    raise StoreError(url=self.shown_url, problem=(
                        f"policy {pid} version {version} is registered in this store's metadata as content "
                        f"{known[:12]}…, but its records name {', '.join(h[:12] + '…' for h in sorted(named))}: the "
                        "registration was edited, not by a policy file; nothing was written — run `agcredit audit "
                        "verify` and restore the registration its records name"))
        witnessed.add((pid, version, known))

    def _check_token_key(self, conn: Connection, *, record: bool = False) -> None:
        """The store's farmer tokens and the ones this process makes must come from one key: an ``AGCREDIT_TOKEN_KEY``
        (set and usable) whose check differs from the one the store recorded is refused — the same farmer would get
        another token, their records a second identity (an application's chain, the borrower's exposure, their
        history), silently. ``record``: the first append made with a key records its check (under the write lock)."""
        mine = env_key_check()
        if mine is None:  # no key: nothing was tokenised here (a table carrying the bank's own tokens)
            return
        theirs = conn.scalar(select(meta.c.value).where(meta.c.key == TOKEN_KEY_CHECK))
        if theirs is None:
            if key_check_missing(conn):  # records of a key, no check: any key's run would write on
                raise StoreError(url=self.shown_url, problem=(
                    "this store's records hold farmer tokens made with a token key, but its metadata holds no check "
                    "of that key (removed, or never recorded by an earlier release): a run under another key would "
                    "give the same farmers other tokens; nothing was written — run `agcredit audit upgrade-store` "
                    f"with {TOKEN_KEY_ENV} set to the key the records were made with (it records that key's check), "
                    "and if the store had a check, find out who changed its metadata"))
            if record:
                conn.execute(insert(meta), [{"key": TOKEN_KEY_CHECK, "value": mine}])
                if conn.scalar(select(meta.c.value).where(meta.c.key == KEY_CHECKS_KEY)) is None:
                    conn.execute(insert(meta), [{"key": KEY_CHECKS_KEY, "value": "recorded beside the records"}])
            return
        if theirs != mine:
            raise StoreError(url=self.shown_url, problem=(
                f"{TOKEN_KEY_ENV} is not the key this store's farmer tokens were made with (key check {mine}; the "
                f"store's {theirs}): the same farmers would get other tokens; nothing was written — set the key the "
                f"store was written with (`agcredit audit verify` says whether the key set is), or unset {TOKEN_KEY_ENV} "
                "if your files carry their own farmer_token"))
        if record and conn.scalar(select(meta.c.value).where(meta.c.key == KEY_CHECKS_KEY)) is None:
            conn.execute(insert(meta), [{"key": KEY_CHECKS_KEY, "value": "recorded beside the records"}])

    def _check_chain_tokens(self, conn: Connection, items: Sequence[DecisionItem], seen: set[str]) -> None:
        """Under the write lock: a record names the farmer of the record it supersedes (re-underwriting, an override
        and a renewal follow one farmer's line) — another token means the run's files were tokenised with another key
        or name another farmer for the application; refused, naming the application (never a token)."""
        mine = {record_id_for(i.idempotency_key): str(i.farmer_token) for i in items}
        wanted = sorted({str(i.supersedes) for i in items if i.supersedes} - set(mine))
        stored: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            stored.update((str(r), str(t)) for r, t in conn.execute(select(
                decisions.c.record_id, decisions.c.farmer_token).where(
                decisions.c.record_id.in_(wanted[start:start + 500]))))
        for item in items:
            if not item.supersedes or record_id_for(item.idempotency_key) in seen:
                continue
            before = mine.get(str(item.supersedes), stored.get(str(item.supersedes)))
            if before is not None and before != str(item.farmer_token):
                raise StoreError(url=self.shown_url, problem=(
                    f"application {item.application_id}: the new record names another farmer token than the record "
                    f"it supersedes ({item.supersedes}): the run's files were tokenised with another "
                    f"{TOKEN_KEY_ENV} than the records', or name another farmer for the application; nothing was "
                    "written"))
