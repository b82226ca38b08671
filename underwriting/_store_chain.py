"""Checking the decision store's chain (private to underwriting.store): verify the hash chain and the append-only
guard triggers, and upgrade a store of an earlier release — a base of :class:`underwriting.store.DecisionStore`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select, text

from underwriting._store_connections import StoreConnections
from underwriting._store_records import UpgradeResult, VerifyResult
from underwriting._store_schema import (
    GUARD_TRIGGERS,
    GUARDS_KEY,
    KEY_CHECKS_KEY,
    LATER_GUARD_TRIGGERS,
    SCHEMA_VERSION,
    TOKEN_KEY_CHECK,
    decisions,
    guard_intact,
    meta,
    record_hash,
)
from underwriting.errors import StoreError
from underwriting.records import sha256_hex


class ChainChecks(StoreConnections):
    """:meth:`verify` and :meth:`upgrade` of :class:`~underwriting.store.DecisionStore`, and the guard checks its
    writers make."""

    # -- checking ---------------------------------------------------------------------------------------------
    def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Walk the whole chain; the first record whose seq, link, values, body hash or record hash is wrong is
        named. Then the guard triggers (refusing UPDATE and DELETE) must be in place, and ``expect_head`` — a head
        hash printed by an earlier verify — must still be a record of the chain (else records were cut from its
        end, which the links alone cannot show)."""
        from underwriting._store_append_checks import key_check_missing

        with self._read() as conn:
            res = self._verify(conn, expect_head)
            registrations = _policy_registrations(conn) if res.ok else ()
            missing = key_check_missing(conn)
        return replace(res, token_key_check=self.token_key_check(), policy_registrations=registrations,
                       token_key_missing=missing)

    def token_key_check(self) -> str | None:
        """The check of the token key the store's farmer tokens were made with (:func:`features.identity.key_check`;
        None: none recorded yet)."""
        with self._read() as conn:
            key = conn.scalar(select(meta.c.value).where(meta.c.key == TOKEN_KEY_CHECK))
        return None if key is None else str(key)

    def other_token_key(self) -> str | None:
        """:func:`other_key_text` of the store's recorded check (read only when a key is set)."""
        from features.identity import env_key_check

        return None if env_key_check() is None else other_key_text(self.token_key_check())


    def _verify(self, conn: Connection, expect_head: str | None, guard: bool = True) -> VerifyResult:
        """:meth:`verify` on ``conn`` (``guard=False``: the chain only, not the guard triggers)."""
        expected, prev, count, seen_head = 1, None, 0, expect_head is None
        head_at: int | None = None
        starts: set[str] = set()
        replaced: set[tuple[str, str]] = set()
        forked: dict[str, None] = {}
        # the option on the statement: on the connection it would stay set for the caller's statements after it
        result = conn.execute(select(decisions).order_by(decisions.c.seq).execution_options(yield_per=500))
        for m in result.mappings():
            row = dict(m)
            problem = None
            if int(row["seq"]) != expected:
                problem = f"sequence gap: expected seq {expected}, found {row['seq']} (records missing)"
            elif row["prev_hash"] != prev:
                problem = "prev_hash does not match the previous record's hash"
            elif not isinstance(row["limit"], int) or isinstance(row["limit"], bool):
                problem = f"limit {row['limit']!r} is not a whole number of minor units (altered)"
            elif sha256_hex(row["body"]) != row["body_hash"]:
                problem = "stored body does not match its body_hash"
            else:
                try:
                    ok_hash = record_hash(row) == row["record_hash"]
                except (TypeError, ValueError):  # a value of the wrong type written around the API
                    ok_hash = False
                if not ok_hash:
                    problem = "record_hash does not match the record's contents"
            if problem:
                result.close()
                return VerifyResult(ok=False, count=count, seq=int(row["seq"]), record_id=str(row["record_id"]),
                                    problem=problem)
            prev, expected, count = row["record_hash"], expected + 1, count + 1
            app, sup = str(row["application_id"]), row["supersedes"]
            if sup is None and app in starts or sup is not None and (app, str(sup)) in replaced:
                forked[app] = None
            if sup is None:
                starts.add(app)
            else:
                replaced.add((app, str(sup)))
            if expect_head is not None and head_at is None and prev == expect_head:
                head_at = count
            seen_head = seen_head or prev == expect_head
        pending, problem = self._guard_state(conn) if guard else ((), None)
        if problem is not None:
            return VerifyResult(ok=False, count=count, problem=problem)
        if not seen_head:
            return VerifyResult(ok=False, count=count, problem=f"the head {expect_head} recorded earlier is not in the "
                                                               "chain: records were removed from its end, or the last "
                                                               "records rewritten")
        return VerifyResult(ok=True, count=count, head_seq=count or None, head_hash=prev, forked=tuple(forked),
                            upgrade_pending=pending, expected_head_seq=head_at)

    def _refuse_unguarded(self, conn: Connection) -> None:
        """A :class:`StoreError` for a writer when the guard triggers are not all in place: a store of an earlier
        release (`agcredit audit upgrade-store` adds what it lacks) or a guard dropped, disabled or altered."""
        pending, guard = self._guard_state(conn)
        if pending:
            raise StoreError(url=self.shown_url, problem=(
                f"created by an earlier release, without the guard trigger(s) {', '.join(pending)} this release "
                "installs: run `agcredit audit upgrade-store` once (it verifies the chain and adds them); nothing was "
                "written"))
        if guard is not None:
            raise StoreError(url=self.shown_url, problem=f"{guard}; nothing was written — run `agcredit audit "
                                                         "verify` and restore the guard first")

    def _triggers(self, conn: Connection) -> dict[str, str]:
        """The decisions table's own triggers: name -> "ok", "disabled", or "altered" (not the definition agcredit
        installs: it may no longer refuse anything)."""
        if self.dialect == "sqlite":
            return {str(n): "ok" if guard_intact("sqlite", str(n), str(sql)) else "altered"
                    for n, sql in conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                                    "AND tbl_name = 'agc_decisions'"))}
        return {str(n): ("disabled" if not on else "ok" if guard_intact("postgresql", str(n), str(d), str(src))
                         else "altered")
                for n, on, d, src in conn.execute(text(
                    "SELECT t.tgname, t.tgenabled IN ('O', 'A'), pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
                    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = 'agc_decisions'::regclass "
                    "AND NOT t.tgisinternal"))}

    def _later_guards(self, conn: Connection) -> dict[str, str]:
        """The guard triggers this store may lack because the release that created it did not install them (name ->
        statement): this release's later guards, less those the store records it was created with or had added."""
        later = LATER_GUARD_TRIGGERS.get(self.dialect, {})
        if not later:
            return {}
        rows = dict(conn.execute(select(meta.c.key, meta.c.value).where(
            (meta.c.key == GUARDS_KEY) | meta.c.key.like("upgrade:%"))).tuples().all())
        had = set(str(rows.get(GUARDS_KEY) or "").split(",")) | {k.split(":", 1)[1] for k in rows if ":" in k}
        return {n: stmt for n, stmt in later.items() if n not in had}

    def _guard_state(self, conn: Connection) -> tuple[tuple[str, ...], str | None]:
        """The guard triggers, read once: (those a store of an earlier release lacks only because that release did
        not install them — every failing guard is such a one —, else ()), and (what is wrong with the others:
        missing, disabled or altered; None when all are in place, enabled, as installed)."""
        have = self._triggers(conn)
        bad = sorted(n for n in GUARD_TRIGGERS[self.dialect] if have.get(n) != "ok")
        if not bad:
            return (), None
        later = self._later_guards(conn)
        if all(n in later and n not in have for n in bad):
            return tuple(bad), None
        altered = [n for n in bad if have.get(n) == "altered"]
        missing = [n for n in bad if n not in altered]
        what = "; ".join(
            ([f"the append-only guard trigger(s) {', '.join(missing)} are missing or disabled"] if missing else [])
            + ([f"the append-only guard trigger(s) {', '.join(altered)} are altered (not as agcredit installs them: "
                "they may refuse nothing)"] if altered else []))
        return (), f"{what}: records may have been changed or removed around them"

    def upgrade(self, expect_head: str | None = None) -> UpgradeResult:
        """Bring a store written by an earlier release to this release's schema: the guard triggers that release
        did not create (SQLite's guard against INSERT OR REPLACE) are added, in one transaction under the write
        lock, after the whole chain is verified (and ``expect_head`` found in it); the addition is noted in
        ``agc_meta``. Records are never touched. A broken chain, or a guard trigger the store was created with (or
        had added) that is missing, disabled or altered (a dropped guard: evidence, not an old schema), is refused
        with nothing changed. Idempotent."""
        if self.read_only:
            raise StoreError(url=self.shown_url, problem="opened to read only: nothing is changed")
        with self._write() as conn:
            version = conn.scalar(select(meta.c.value).where(meta.c.key == "schema_version"))
            if version != SCHEMA_VERSION:
                raise StoreError(url=self.shown_url, problem=(
                    "records but no schema version (agc_meta edited); nothing was changed — run `agcredit audit "
                    "verify`" if version is None else
                    f"schema version {version} (this agcredit upgrades to version {SCHEMA_VERSION}); nothing was "
                    "changed"))
            res = self._verify(conn, expect_head, guard=False)
            if not res.ok:
                where = f"at record {res.seq} ({res.record_id}): " if res.seq is not None else ": "
                raise StoreError(url=self.shown_url, problem=f"the chain is broken {where}{res.problem}; nothing "
                                                             "was changed — `agcredit audit verify` names it")
            have = self._triggers(conn)
            later = self._later_guards(conn)
            missing = [n for n in GUARD_TRIGGERS[self.dialect] if n not in have]
            dropped = sorted({n for n in missing if n not in later} | {n for n, state in have.items()
                                                                        if n in GUARD_TRIGGERS[self.dialect]
                                                                        and state != "ok"})
            if dropped:
                raise StoreError(url=self.shown_url, problem=(
                    f"the append-only guard trigger(s) {', '.join(dropped)} are missing, disabled or altered — the store "
                    "was created with them (or every release creates them), so records may have been changed or "
                    "removed around them; nothing was changed — an upgrade does not re-install a dropped guard"))
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for name in missing:
                conn.exec_driver_sql(later[name])
                conn.execute(insert(meta), [{"key": f"upgrade:{name}", "value": (
                    f"added {now} at head seq {res.head_seq or 0} hash {res.head_hash or '-'}")}])
            key_check, noted = self._key_check_rows(conn, now)
        return UpgradeResult(added=tuple(missing), count=res.count, head_seq=res.head_seq, head_hash=res.head_hash,
                             key_check=key_check, key_check_noted=noted)

    def _key_check_rows(self, conn: Connection, now: str) -> tuple[str | None, bool]:
        """What this release records of the token key: a check the store needs and lacks
        (:func:`~underwriting._store_append_checks.key_check_missing`: records of a key, the check removed or never
        recorded) recorded as the check of the key set now — the operator names it the key the records were made
        with; no key set: refused, naming the variable — and the row noting a check was recorded
        (:data:`KEY_CHECKS_KEY`) beside a check that lacks it (a store of an earlier release). Returns (the check
        recorded or None, whether the row was added)."""
        from features.identity import TOKEN_KEY_ENV, env_key_check
        from underwriting._store_append_checks import key_check_missing

        noted = conn.scalar(select(meta.c.value).where(meta.c.key == KEY_CHECKS_KEY)) is not None
        mine = None
        if key_check_missing(conn):
            mine = env_key_check()
            if mine is None:
                raise StoreError(url=self.shown_url, problem=(
                    "the store's records hold farmer tokens made with a token key but its metadata holds no check of "
                    f"that key: set {TOKEN_KEY_ENV} to the key the records were made with to record its check; "
                    "nothing was changed"))
            note = f"upgrade:{TOKEN_KEY_CHECK}"  # (an earlier upgrade's note: the check was removed again)
            conn.execute(delete(meta).where(meta.c.key == note))
            conn.execute(insert(meta), [{"key": TOKEN_KEY_CHECK, "value": mine}, {"key": note, "value": f"recorded {now}"}])
        elif conn.scalar(select(meta.c.value).where(meta.c.key == TOKEN_KEY_CHECK)) is None:
            return None, False  # no check and none needed (no records of a key): the next keyed append records it
        if not noted:
            conn.execute(insert(meta), [{"key": KEY_CHECKS_KEY, "value": f"recorded beside the records ({now})"}])
        return mine, not noted


def other_key_text(theirs: str | None) -> str | None:
    """When ``AGCREDIT_TOKEN_KEY`` is set and is another key than the one whose check a store recorded (``theirs``):
    what to say, naming both keys' checks (never a key); else None (no key set, none recorded, the same)."""
    from features.identity import TOKEN_KEY_ENV, env_key_check

    mine = env_key_check()
    if mine is None or theirs is None or theirs == mine:
        return None
    return f"{TOKEN_KEY_ENV} is not the key the store's farmer tokens were made with (key check {mine}; the store's {theirs})"


def _policy_registrations(conn: Connection) -> tuple[str, ...]:
    """Each policy version the store's records name whose registration in the metadata — the content a writer
    compares a file's with — is missing or differs from the records' (a review deleted it with sqlite3, and
    `verify` said OK while a changed file of that version was written)."""
    from underwriting._store_append_checks import recorded_policies
    from underwriting._store_records import policy_meta_key

    out = []
    for (pid, version), digests in sorted(recorded_policies(conn).items()):
        known = conn.scalar(select(meta.c.value).where(meta.c.key == policy_meta_key(pid, version)))
        named = ", ".join(f"{h[:12]}…" for h in sorted(digests))
        if known is None:
            out.append(f"policy {pid} version {version}: its records name content {named}, and the store has no "
                       "registration of it (removed, or written before versions were registered)")
        elif {str(known)} != digests:
            out.append(f"policy {pid} version {version}: registered as content {str(known)[:12]}…, its records name "
                       f"{named}")
    return tuple(out)
