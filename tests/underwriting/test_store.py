"""The decision store: idempotent appends, the hash chain, tampering, kills and concurrent writers.

The store fixture runs every backend test against SQLite and against a real PostgreSQL
server started on loopback (tests/pgserver.py); without the binaries the PostgreSQL
half skips (fails under AGCREDIT_NO_SKIP=1).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.errors import UserInputError
from tests.conftest import REPO
from underwriting.contracts import check_decisions
from underwriting.errors import StoreError
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore, record_id_for, verify_store


def make_items(n: int, start: int = 0, season: str = "2025") -> list[DecisionItem]:
    out = []
    for i in range(start, start + n):
        codes = ("LOW_STRESSED_YIELD", "PRIOR_LIEN_ON_CROP")[: i % 3]
        body = {"application": {"application_id": f"APP{i:04d}", "requested_amount": 500_000},
                "limit": 1000 * i, "outcome": "REDUCE", "note": f"é{i}", "fields": [{"field_id": f"F{i}"}]}
        out.append(DecisionItem(idempotency_key=f"key-{i}", application_id=f"APP{i:04d}", farmer_token=f"tok{i % 7}",
                                season=season, as_of="2025-05-01", outcome="REDUCE", limit=1000 * i, currency="USD",
                                reason_codes=codes, body=body))
    return out


_counter = itertools.count()




@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    server: str = request.getfixturevalue("pg_server")
    name = f"t{os.getpid()}_{next(_counter)}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def store(url: str) -> Iterator[DecisionStore]:
    with DecisionStore(url) as s:
        yield s


def raw(url: str, *statements: str) -> None:
    """Run SQL around the API (the way an attacker with database access would)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for s in statements:
            conn.exec_driver_sql(s)
    engine.dispose()


def deny_folder_write(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """``os.access`` says ``folder`` cannot be written (root may write anywhere; a read-only mount's answer)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == folder and mode & os.W_OK
                        else real_access(p, mode, *a, **k))


def drop_guard(store: DecisionStore) -> list[str]:
    if store.dialect == "sqlite":
        return ["DROP TRIGGER agc_decisions_no_update", "DROP TRIGGER agc_decisions_no_delete"]
    return ["ALTER TABLE agc_decisions DISABLE TRIGGER USER"]


def test_an_application_has_one_first_record(store: DecisionStore) -> None:
    """A second record of an application that supersedes nothing would start a second chain for it (a fork, the
    later-written shown as current): refused under the write lock, the whole call writes nothing."""
    import dataclasses

    from underwriting.errors import StoreChangedError

    store.append(make_items(2), operator="batch")
    again = dataclasses.replace(make_items(1)[0], idempotency_key="key-0-other-inputs", as_of="2025-04-01")
    with pytest.raises(StoreChangedError, match=r"application APP0000 already has record \w+ \(as of 2025-05-01\); "
                                                r"record \w+ would start a second chain for it; nothing was written"):
        store.append([*make_items(1, start=5), again], operator="batch")
    assert store.count() == 2 and store.verify().ok
    assert store.heads(["APP0000", "APP0001", "APP0009"]) == {
        f"APP000{i}": (record_id_for(f"key-{i}"), "2025-05-01") for i in (0, 1)}
    assert store.stored_ids([record_id_for("key-1"), record_id_for("key-7")]) == {record_id_for("key-1")}


def test_verify_names_chains_forked_before_the_refusal(store: DecisionStore) -> None:
    """A store written before forks were refused (rows chained properly, written here around the API's check):
    verify stays OK — the hashes are intact — and names the forked applications."""
    import dataclasses

    from underwriting._store_schema import decisions

    store.append(make_items(3), operator="batch")
    first = store.latest("APP0001")
    assert first is not None and store.verify().forked == ()
    legacy = [dataclasses.replace(make_items(1, start=1)[0], idempotency_key="key-1-again"),  # a second start
              dataclasses.replace(make_items(1, start=2)[0], idempotency_key="key-2-a", kind="override",
                                  supersedes=record_id_for("key-2")),
              dataclasses.replace(make_items(1, start=2)[0], idempotency_key="key-2-b", kind="override",
                                  supersedes=record_id_for("key-2"))]  # the same record replaced twice
    res = store.verify()
    seq, prev = res.head_seq, res.head_hash
    assert seq is not None
    with store._write() as conn:
        for item in legacy:
            seq += 1
            row = DecisionStore._row(item, record_id_for(item.idempotency_key), seq, prev, "old-release")
            conn.execute(sa.insert(decisions), [row])
            prev = row["record_hash"]
    res = store.verify()
    assert res.ok and res.count == 6 and res.forked == ("APP0001", "APP0002")


def test_append_is_idempotent_and_chained(store: DecisionStore) -> None:
    items = make_items(12)
    first = store.append(items, operator="analyst-1")
    assert (first.written, first.already_present) == (12, 0)
    assert first.record_ids == tuple(record_id_for(i.idempotency_key) for i in items)
    again = store.append(items, operator="analyst-2")
    assert (again.written, again.already_present) == (0, 12)
    assert store.count() == 12
    df = store.records()
    check_decisions(df)
    assert df["seq"].tolist() == list(range(1, 13))
    assert df["prev_hash"].iloc[1:].tolist() == df["record_hash"].iloc[:-1].tolist()
    assert df["prev_hash"].isna().iloc[0]
    assert set(df["operator"]) == {"analyst-1"}
    assert df["body"].tolist() == [i.body_json for i in items]
    assert df["reason_codes"].iloc[2] == "LOW_STRESSED_YIELD,PRIOR_LIEN_ON_CROP"
    assert df["reason_codes"].isna().iloc[0]
    res = store.verify()
    assert (res.ok, res.count, res.seq) == (True, 12, None)


def test_a_plain_runs_log_is_written_in_its_records_transaction(store: DecisionStore) -> None:
    """``append(also=...)`` (reunderwrite's plain run log, :func:`pipelines.schedule.plain_run_logger`) writes in the
    records' transaction, on both backends: an append stopped half-way leaves neither the records nor the log (its
    tables not even created); the re-run logs the ids a run never stopped logs; an append writing nothing logs
    nothing."""
    from datetime import date

    from pipelines.schedule import PLAIN_RECORDS_TABLE, PLAIN_RUNS_TABLE, plain_run_id, plain_run_logger

    items = make_items(3)
    log = plain_run_logger("2025", "in-smallholder", date(2025, 9, 1), 3)

    def stop(n: int) -> None:
        if n == 2:
            raise KeyboardInterrupt

    store._on_insert = stop
    with pytest.raises(KeyboardInterrupt):
        store.append(items, operator="t", also=log)
    store._on_insert = None
    assert store.count() == 0 and store.table_rows(PLAIN_RUNS_TABLE) is None
    res = store.append(items, operator="t", also=log)
    ids = sorted(record_id_for(i.idempotency_key) for i in items)
    assert sorted(res.record_ids) == ids
    runs, recs = store.table_rows(PLAIN_RUNS_TABLE), store.table_rows(PLAIN_RECORDS_TABLE)
    assert runs is not None and recs is not None
    assert runs[["run_id", "season", "region", "as_of", "n_lines"]].values.tolist() == [
        [plain_run_id(ids), "2025", "in-smallholder", "2025-09-01", 3]]
    assert sorted(recs["record_id"]) == ids and set(recs["run_id"]) == {plain_run_id(ids)}
    assert store.append(items, operator="t", also=log).written == 0
    assert len(store.table_rows(PLAIN_RUNS_TABLE)) == 1  # type: ignore[arg-type]
    assert verify_store(store.url).ok


def test_duplicates_inside_one_batch_are_written_once(store: DecisionStore) -> None:
    items = make_items(3)
    res = store.append(items + items[:2], operator="op")
    assert (res.written, res.already_present) == (3, 2)
    assert store.verify().count == 3


def test_a_record_is_superseded_once(store: DecisionStore) -> None:
    """Two runs that read the store before either wrote would both supersede the same record (a forked chain):
    checked under the write lock, the second append is refused whole and writes nothing (both backends)."""
    import dataclasses

    from underwriting.errors import StoreChangedError

    (base,) = make_items(1)
    store.append([base], operator="batch")
    rid = record_id_for(base.idempotency_key)

    def later(key: str, as_of: str) -> DecisionItem:
        return dataclasses.replace(base, idempotency_key=key, as_of=as_of, kind="reunderwrite", supersedes=rid)

    store.append([later("re-2026-02-28", "2026-02-28")], operator="run-a")
    store.append([later("re-2026-02-28", "2026-02-28")], operator="run-a")  # a re-run of the same record: fine
    with pytest.raises(StoreChangedError, match=rf"APP0000: record {rid} is already superseded by .*written by another "
                                                r"run since this one read the store; nothing was written"):
        store.append([*make_items(2, start=5), later("re-2025-10-25", "2025-10-25")], operator="run-b")
    assert store.count() == 2 and store.verify().ok


def test_queries(store: DecisionStore) -> None:
    items = make_items(4)
    later = DecisionItem(idempotency_key="key-later", application_id="APP0001", farmer_token="tok1", season="2025",
                         as_of="2025-07-01", outcome="DECLINE", limit=0, currency="USD", reason_codes=("X",),
                         body={"n": 1}, kind="reunderwrite", supersedes=record_id_for("key-1"))
    store.append(items, operator="op")
    store.append([later], operator="op")
    hist = store.history("APP0001")
    assert [r.kind for r in hist] == ["decision", "reunderwrite"]
    assert hist[1].supersedes == hist[0].record_id
    latest = store.latest("APP0001")
    assert latest is not None and latest.record_id == record_id_for("key-later")
    early = store.latest("APP0001", as_of="2025-06-30")
    assert early is not None and early.record_id == record_id_for("key-1") and early.limit == 1000
    assert store.latest("APP0001", as_of="2025-04-30") is None
    assert store.latest("NOPE") is None
    got = store.get(record_id_for("key-1"))
    assert got is not None and got.body == items[1].body and got.reason_codes == ("LOW_STRESSED_YIELD",)
    assert store.get("Dnope") is None
    with pytest.raises(ValueError, match="expected an ISO date"):
        store.latest("APP0001", as_of="yesterday")


def test_head_and_the_rows_records_and_an_overlay_build(store: DecisionStore) -> None:
    """``head()`` is where ``append`` links the next record ((0, None) on an empty store); :func:`record_row` is the
    row ``append`` writes (written at a given time: the same hash on every call) and :func:`records_frame` types rows
    as ``records()`` does, so stored rows read back through it equal ``records()``; :func:`record_from_row` reads one
    as ``get`` reads the stored record (its time and hash aside)."""
    from dataclasses import replace

    from underwriting.store import record_from_row, record_row, records_frame

    assert store.head() == (0, None)
    items = make_items(3)
    store.append(items, operator="op")
    recs = store.records()
    assert store.head() == (3, recs["record_hash"].iloc[-1])
    more = make_items(1, start=3)[0]
    rid = record_id_for(more.idempotency_key)
    row = record_row(more, rid, *(store.head()[0] + 1, store.head()[1]), "op", written_at="2025-05-01T00:00:00.000000Z")
    assert row == record_row(more, rid, 4, recs["record_hash"].iloc[-1], "op", written_at="2025-05-01T00:00:00.000000Z")
    assert row["prev_hash"] == recs["record_hash"].iloc[-1] and row["written_at"] == "2025-05-01T00:00:00.000000Z"
    store.append([more], operator="op")
    stored = store.records()
    written = stored.iloc[-1]
    assert (written["seq"], written["prev_hash"], written["record_id"]) == (4, row["prev_hash"], rid)
    assert row["record_hash"] != written["record_hash"]  # written at another time: another hash, the same links
    check_decisions(records_frame([row]))
    framed = records_frame(stored.to_dict("records"))
    pd.testing.assert_frame_equal(framed, stored)
    got, rec = store.get(rid), record_from_row(row)
    assert got is not None and rec == replace(got, written_at=rec.written_at, record_hash=rec.record_hash)
    assert store.head() == (4, written["record_hash"])


def test_records_filter_by_season(store: DecisionStore) -> None:
    store.append(make_items(3, season="2024") + make_items(2, start=3, season="2025"), operator="op")
    assert store.records(season="2025")["application_id"].tolist() == ["APP0003", "APP0004"]
    empty = store.records(season="1999")
    assert len(empty) == 0
    check_decisions(empty)


def test_updates_and_deletes_are_rejected_by_the_database(store: DecisionStore) -> None:
    store.append(make_items(2), operator="op")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        raw(store.url, 'UPDATE agc_decisions SET "limit" = 5 WHERE seq = 1')
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        raw(store.url, "DELETE FROM agc_decisions WHERE seq = 2")
    assert store.count() == 2 and store.verify().ok


@pytest.mark.parametrize("tamper, seq, good, problem", [
    ("""UPDATE agc_decisions SET body = replace(body, '"limit":6000', '"limit":9000') WHERE seq = 7""", 7, 6,
     "body does not match"),
    ('UPDATE agc_decisions SET "limit" = 999999 WHERE seq = 5', 5, 4, "record_hash does not match"),
    ("UPDATE agc_decisions SET operator = 'mallory' WHERE seq = 3", 3, 2, "record_hash does not match"),
    ("UPDATE agc_decisions SET prev_hash = 'x' WHERE seq = 9", 9, 8, "prev_hash does not match"),
    ("DELETE FROM agc_decisions WHERE seq = 4", 5, 3, "sequence gap"),
])
def test_tampering_is_caught_at_the_right_record(store: DecisionStore, tamper: str, seq: int, good: int,
                                                 problem: str) -> None:
    store.append(make_items(10), operator="op")
    rid = store.records().set_index("seq").loc[seq, "record_id"]
    raw(store.url, *drop_guard(store), tamper)
    res = store.verify()
    assert not res.ok
    assert (res.seq, res.record_id, res.count) == (seq, rid, good)
    assert res.problem is not None and problem in res.problem
    with pytest.raises(Exception, match=rf"audit chain broken at record {seq} \({rid}\)"):
        res.raise_if_broken()


def test_a_cut_tail_and_a_dropped_guard_are_caught(store: DecisionStore) -> None:
    """Deleting the newest records leaves a chain whose links hold: verify reports the dropped guard (and does not
    quietly re-install it), and a head hash kept from an earlier verify shows the cut even once the guard is back."""
    store.append(make_items(10), operator="op")
    before = store.verify()
    assert before.ok and before.head_seq == 10 and before.head_hash is not None
    raw(store.url, *drop_guard(store), "DELETE FROM agc_decisions WHERE seq >= 8")
    for _ in range(2):  # a second verify still sees it: reading re-creates nothing
        with DecisionStore(store.url, create=False) as reader:
            res = reader.verify()
        assert (res.ok, res.seq, res.count) == (False, None, 7) and "guard trigger" in str(res.problem)
    from underwriting._store_schema import install_triggers

    engine = sa.create_engine(store.url)
    with engine.begin() as conn:
        install_triggers(conn, store.dialect)
    engine.dispose()
    assert store.verify().ok  # the links alone cannot show a cut tail ...
    res = store.verify(expect_head=before.head_hash)  # ... the head kept outside can
    assert not res.ok and f"the head {before.head_hash} recorded earlier is not in the chain" in str(res.problem)
    assert store.verify(expect_head=store.verify().head_hash).ok


def test_a_rewritten_last_record_is_named_as_such_by_the_kept_head(store: DecisionStore) -> None:
    """The newest record rewritten with consistent hashes (no next record to break): the head kept outside catches
    it, and the message no longer says only that records were removed."""
    from underwriting._store_schema import install_triggers, record_hash

    store.append(make_items(4), operator="op")
    before = store.verify()
    rec = store.get(record_id_for("key-3"))
    assert rec is not None and before.head_hash == rec.record_hash
    row = {**rec.__dict__, "limit": 9_000_000, "reason_codes": ",".join(rec.reason_codes) or None}
    raw(store.url, *drop_guard(store), f'UPDATE agc_decisions SET "limit" = 9000000, record_hash = '
                                       f"'{record_hash(row)}' WHERE seq = {rec.seq}")
    engine = sa.create_engine(store.url)
    with engine.begin() as conn:
        install_triggers(conn, store.dialect)
    engine.dispose()
    res = store.verify(expect_head=before.head_hash)
    assert not res.ok and "removed from its end, or the last records rewritten" in str(res.problem)


def test_a_writer_does_not_reinstall_a_dropped_guard(store: DecisionStore) -> None:
    """A record deleted once the guard was dropped: the next writer refuses (nothing written) instead of quietly
    re-installing the guard — which erased the only evidence `audit verify` had of the cut (SQLite)."""
    store.append(make_items(5), operator="op")
    raw(store.url, *drop_guard(store), "DELETE FROM agc_decisions WHERE seq = 5")
    with pytest.raises(StoreError, match="guard trigger.*missing or disabled.*nothing was written"):
        DecisionStore(store.url)
    res = verify_store(store.url)
    assert (res.ok, res.count) == (False, 4) and "guard trigger" in str(res.problem)
    raw(store.url, "DELETE FROM agc_meta WHERE key = 'schema_version'")  # the store then looked new: guard re-installed
    with pytest.raises(StoreError, match="no schema version.*nothing was written"):
        DecisionStore(store.url)
    assert "guard trigger" in str(verify_store(store.url).problem)


def test_a_writer_of_an_existing_store_refuses_a_dropped_guard_too(store: DecisionStore) -> None:
    """override and reunderwrite open the store with create=False: they appended to a store whose guard was dropped
    (README: every command that writes refuses it)."""
    store.append(make_items(5), operator="op")
    raw(store.url, *drop_guard(store), "DELETE FROM agc_decisions WHERE seq = 5")
    with DecisionStore(store.url, create=False) as st, \
            pytest.raises(StoreError, match="guard trigger.*missing or disabled.*nothing was written"):
        st.append(make_items(1, start=9), operator="op")
    assert verify_store(store.url).count == 4


@pytest.mark.parametrize("how", ["body", "when"])
def test_a_guard_altered_to_refuse_nothing_is_reported_and_refused(store: DecisionStore, how: str) -> None:
    """A guard trigger re-created under its own name so that it refuses nothing (a body that does not raise, a
    function returning instead of raising, a WHEN clause never true): `audit verify` checked the names only and said
    OK after the last record was deleted through it, and writers wrote on. Now reported as altered, and refused."""
    store.append(make_items(3), operator="op")
    if store.dialect == "sqlite":
        body = "SELECT 1" if how == "body" else "SELECT RAISE(ABORT, 'agc_decisions is append-only')"
        when = " WHEN 0" if how == "when" else ""
        steps = ["DROP TRIGGER agc_decisions_no_delete",
                 f"CREATE TRIGGER agc_decisions_no_delete BEFORE DELETE ON agc_decisions{when} BEGIN {body}; END"]
    elif how == "body":
        steps = ["CREATE OR REPLACE FUNCTION agc_decisions_append_only() RETURNS trigger AS $$ BEGIN "
                 "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RAISE EXCEPTION 'agc_decisions is append-only'; END $$ "
                 "LANGUAGE plpgsql"]
    else:
        steps = ["DROP TRIGGER agc_decisions_no_change ON agc_decisions",
                 "CREATE TRIGGER agc_decisions_no_change BEFORE UPDATE OR DELETE ON agc_decisions FOR EACH ROW "
                 "WHEN (false) EXECUTE FUNCTION agc_decisions_append_only()"]
    raw(store.url, *steps, "DELETE FROM agc_decisions WHERE seq = 3")  # the guard let it through
    res = verify_store(store.url)
    assert (res.ok, res.count) == (False, 2) and "altered" in str(res.problem), res
    with pytest.raises(StoreError, match="guard trigger.*altered.*nothing was written"):
        DecisionStore(store.url)
    with pytest.raises(StoreError, match="guard trigger.*altered.*nothing was written"):
        store.append(make_items(1, start=5), operator="op")
    assert store.count() == 2


def test_upgrade_leaves_a_current_store_and_refuses_a_dropped_guard(store: DecisionStore) -> None:
    """`audit upgrade-store` on a store this release created changes nothing; a guard dropped around the API is
    evidence, never re-installed by an upgrade."""
    from underwriting.store import upgrade_store

    store.append(make_items(3), operator="op")
    res = upgrade_store(store.url)
    assert (res.added, res.count, res.head_seq) == ((), 3, 3)
    raw(store.url, *drop_guard(store))
    with pytest.raises(StoreError, match="does not re-install a dropped guard"):
        upgrade_store(store.url)
    assert not store.verify().ok


@pytest.mark.parametrize("value, problem", [("'abc'", "limit 'abc' is not a whole number"),
                                            ('"limit" + 0.4', "is not a whole number of minor units")])
def test_a_value_of_the_wrong_type_is_caught_without_a_traceback(tmp_path: Path, value: str, problem: str) -> None:
    """SQLite keeps any value in any column (PostgreSQL's typed columns refuse these edits)."""
    with DecisionStore(f"sqlite:///{tmp_path / 'd.db'}") as store:
        store.append(make_items(6), operator="op")
        raw(store.url, *drop_guard(store), f'UPDATE agc_decisions SET "limit" = {value} WHERE seq = 5')
        res = store.verify()
    assert (res.ok, res.seq) == (False, 5) and problem in str(res.problem)


def test_rehashed_tampering_is_caught_by_the_next_link(store: DecisionStore) -> None:
    """Rewriting a body with consistent body and record hashes still breaks the next record's link."""
    from underwriting._store_schema import record_hash
    from underwriting.records import sha256_hex

    store.append(make_items(6), operator="op")
    rec = store.get(record_id_for("key-3"))
    assert rec is not None
    body = rec.body_json.replace('"limit":3000', '"limit":300000')
    row = {**rec.__dict__, "body_hash": sha256_hex(body), "limit": 300000,
           "reason_codes": ",".join(rec.reason_codes) or None}
    new_hash = record_hash(row)
    raw(store.url, *drop_guard(store),
        f"UPDATE agc_decisions SET body = '{body}', body_hash = '{row['body_hash']}', \"limit\" = 300000, "
        f"record_hash = '{new_hash}' WHERE seq = {rec.seq}")
    res = store.verify()
    assert (res.ok, res.seq, res.problem) == (False, rec.seq + 1, "prev_hash does not match the previous record's hash")


def test_identifiers_and_bad_items_are_refused(store: DecisionStore) -> None:
    item = make_items(1)[0]
    leaky = DecisionItem(**{**item.__dict__, "idempotency_key": "leak",
                            "body": {"application": {"national_id": "X123"}}})
    with pytest.raises(StoreError, match=r"personal identifiers in the body \(body.application.national_id\)"):
        store.append([leaky], operator="op")
    bad = DecisionItem(**{**item.__dict__, "idempotency_key": "bad", "outcome": "MAYBE"})
    with pytest.raises(StoreError, match="outcome 'MAYBE'"):
        store.append([bad], operator="op")
    orphan = DecisionItem(**{**item.__dict__, "idempotency_key": "orphan", "kind": "override", "supersedes": "Dx"})
    with pytest.raises(StoreError, match="supersedes Dx, which is not stored"):
        store.append([orphan], operator="op")
    with pytest.raises(StoreError, match="an operator is required"):
        store.append([item], operator=" ")
    # SQLite stored an application id of 129+ characters that PostgreSQL refused (the whole append): both refuse it
    long_id = DecisionItem(**{**item.__dict__, "idempotency_key": "long", "application_id": "A" * 129})
    with pytest.raises(StoreError, match="application_id longer than 128 characters"):
        store.append([long_id], operator="op")
    with pytest.raises(StoreError, match="the operator is longer than 128 characters"):
        store.append([item], operator="o" * 129)
    assert store.count() == 0


_WRITER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {repo!r})
    sys.path.insert(0, {tests!r})
    from test_store import make_items
    from underwriting.store import DecisionStore
    url, start, n, kill_at, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    store = DecisionStore(url)
    if kill_at:
        store._on_insert = lambda k: os._exit(17) if k >= kill_at else None
    while gate != "-" and not os.path.exists(gate):
        time.sleep(0.01)
    r = store.append(make_items(n, start=start), operator="proc" + str(start))
    print(r.written, r.already_present)
""")


def writer(tmp_path: Path, url: str, start: int, n: int, kill_at: int = 0,
           gate: str = "-") -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    if not script.exists():
        script.write_text(_WRITER.format(repo=str(REPO), tests=str(Path(__file__).parent)))
    return subprocess.Popen([sys.executable, str(script), url, str(start), str(n), str(kill_at), gate],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def test_a_killed_run_leaves_nothing_and_a_rerun_completes(store: DecisionStore, tmp_path: Path) -> None:
    store.append(make_items(10, start=500), operator="earlier")
    killed = writer(tmp_path, store.url, 0, 200, kill_at=130)
    out, errs = killed.communicate(timeout=120)
    assert killed.returncode == 17, errs
    assert store.count() == 10  # the killed call's 130 inserts were one uncommitted transaction
    assert store.verify().ok
    rerun = writer(tmp_path, store.url, 0, 200)
    out, errs = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, errs
    assert out.split() == ["200", "0"]
    df = store.records()
    assert len(df) == 210 and df["record_id"].is_unique
    assert sorted(df["application_id"])[:200] == [f"APP{i:04d}" for i in range(200)]
    res = store.verify()
    assert (res.ok, res.count) == (True, 210)
    again = writer(tmp_path, store.url, 0, 200)
    out, errs = again.communicate(timeout=120)
    assert out.split() == ["0", "200"] and store.count() == 210


def test_reading_commands_never_create_a_store(tmp_path: Path) -> None:
    from underwriting.store import export_decisions

    typo = tmp_path / "typo.db"
    with pytest.raises(StoreError, match="no database file there"):
        DecisionStore(f"sqlite:///{typo}", create=False)
    with pytest.raises(StoreError, match="no database file there"):
        verify_store(f"sqlite:///{typo}")
    with pytest.raises(StoreError, match="no database file there"):
        export_decisions(tmp_path / "d.csv", url=f"sqlite:///{typo}")
    assert not typo.exists() and not (tmp_path / "d.csv").exists()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="no database file there"):
        DecisionStore(f"sqlite:///{empty}", create=False)
    assert empty.read_bytes() == b""
    other = tmp_path / "other.db"  # a SQLite database, but not agcredit's
    import sqlite3

    with sqlite3.connect(other) as con:
        con.execute("create table t (x int)")
    with pytest.raises(StoreError, match="no agcredit tables"):
        DecisionStore(f"sqlite:///{other}", create=False)
    url = f"sqlite:///{tmp_path / 'real.db'}"
    with DecisionStore(url) as st:
        st.append(make_items(3), operator="op")
    with DecisionStore(url, create=False) as st:
        assert st.count() == 3
    assert verify_store(url).count == 3
    with pytest.raises(UserInputError, match="no stored record of season '1999'"):
        export_decisions(tmp_path / "d.csv", url=url, season="1999")
    # a season that is no year is refused as such, and a farmer's name given there is not echoed
    with pytest.raises(UserInputError, match=r"^--season: column 'season': expected a year like 2024, found a value "
                                             r"that is not one \(not shown: it may be a name, phone or ID number\)$"):
        export_decisions(tmp_path / "d.csv", url=url, season="Wenzu Wenteda")
    assert not (tmp_path / "d.csv").exists()
    # the export marks the record in force of each application (summing every row counted superseded ones too)
    import dataclasses

    first = make_items(1)[0]
    later = dataclasses.replace(first, idempotency_key="key-later", supersedes=record_id_for(first.idempotency_key),
                                limit=5000, kind="reunderwrite")
    with DecisionStore(url) as st:
        st.append([later], operator="op")
    import pandas as pd

    assert len(export_decisions(tmp_path / "d.csv", url=url)) == 4
    got = pd.read_csv(tmp_path / "d.csv")
    assert got["current"].tolist() == [False, True, True, True]
    assert got.loc[got["current"], "limit"].sum() == 5000 + 1000 + 2000
    assert got["standing"].tolist() == got["current"].tolist()  # no line kept: the current records stand
    # a re-underwriting that re-estimated nothing (REFER, indicative 0, the line kept): the line stands on the record
    # before it — `current` still marks the chain's head
    kept = dataclasses.replace(first, idempotency_key="key-kept", supersedes=record_id_for(later.idempotency_key),
                               limit=0, outcome="REFER", kind="reunderwrite",
                               body={**first.body, "reunderwrite": {"not_reestimated": ["OUT_OF_MODEL_SCOPE"]},
                                     "policy": {"parameters": {"kept_lines_stand": True}}})
    with DecisionStore(url) as st:
        st.append([kept], operator="op")
    export_decisions(tmp_path / "d.csv", url=url)
    got = pd.read_csv(tmp_path / "d.csv")
    assert got["current"].tolist() == [False, True, True, False, True]
    assert got["standing"].tolist() == [False, True, True, True, False]
    assert got.loc[got["standing"], "limit"].sum() == 5000 + 1000 + 2000


def test_the_export_counts_a_book_line_on_a_refer_at_its_book_limit(tmp_path: Path) -> None:
    """`decisions export` marked a REFER that granted nothing as the record a Book line stands on, at its 0 — the
    line's own new REFER at a checkpoint, or the REFER a kept line stood on — while the re-underwriting, the report
    and an override measure such a line from its Book limit (policy 2026.12.8, refer_keeps_book_limit). The export
    now says the limit each line stands at (``standing_limit``, on standing rows): its Book limit there, an analyst's
    override behind the REFER where there is one (that record standing); a record of 2026.12.7 at its 0, as before."""
    import pandas as pd

    from tests.underwriting.test_override import _kept, _new_refer, _referred, decision
    from underwriting.override import override
    from underwriting.store import export_decisions

    url = f"sqlite:///{tmp_path / 'e.db'}"
    e1, e4, e5 = (decision(a, 500_000, key=f"{a}-first") for a in ("E1", "E4", "E5"))
    e2 = _referred("E2")
    with DecisionStore(url) as st:
        st.append([e1, _new_refer(e1, "E1", line_id="L-E1"),  # a new REFER at a checkpoint
                   e2, _kept(e2, "E2", stands=True, refer_keeps_book_limit=True, line_id="L-E2"),  # kept on a REFER
                   e4, _new_refer(e4, "E4", line_id="L-E4", refer_keeps_book_limit=False),  # 2026.12.7
                   e5, decision("E3", 500_000, key="E3-first")], operator="batch")
        cut = override(st, "E3", "4000", "visit", "ana")
        st.append([_new_refer(cut, "E3", line_id="L-E3")], operator="batch")
    export_decisions(tmp_path / "d.csv", url=url)
    got = pd.read_csv(tmp_path / "d.csv")
    stand = got[got["standing"]].set_index("application_id")
    assert stand["standing_limit"].to_dict() == {"E1": 700_000, "E2": 700_000, "E3": 400_000, "E4": 0, "E5": 500_000}
    assert (stand.loc["E1", "outcome"], stand.loc["E2", "outcome"]) == ("REFER", "REFER")  # the records as stored
    assert (stand.loc["E3", "kind"], stand.loc["E3", "record_id"]) == ("override", cut.record_id)
    assert got.loc[~got["standing"], "standing_limit"].isna().all() and got["application_id"].value_counts()["E3"] == 3


def test_two_concurrent_writers_keep_one_chain(store: DecisionStore, tmp_path: Path) -> None:
    gate = tmp_path / "go"
    procs = [writer(tmp_path, store.url, 0, 80, gate=str(gate)),
             writer(tmp_path, store.url, 40, 80, gate=str(gate))]
    gate.write_text("go")
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    written = [int(o.split()[0]) for o, _ in outs]
    assert sum(written) == 120
    df = store.records()
    assert len(df) == 120 and df["record_id"].is_unique
    assert df["seq"].tolist() == list(range(1, 121))
    assert set(df["operator"]) == {"proc0", "proc40"}
    assert store.verify().ok


def test_a_store_in_a_read_only_folder_can_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor's copy on a read-only mount: reading commands failed with "unable to open database file" (SQLite
    could not create the WAL's shared-memory file beside it); they now read it and create nothing there, and a write
    is refused in one line."""
    folder = tmp_path / "ro"
    url = f"sqlite:///{folder / 'd.db'}"
    folder.mkdir()
    with DecisionStore(url) as st:
        st.append(make_items(4), operator="op")
    assert sorted(p.name for p in folder.iterdir()) == ["d.db"]
    deny_folder_write(monkeypatch, folder)
    folder.chmod(0o555)
    try:
        res = verify_store(url)
        assert (res.ok, res.count) == (True, 4)
        with DecisionStore(url, create=False) as st:
            assert len(st.records()) == 4
            with pytest.raises(StoreError, match="readonly"):
                st.append(make_items(1, start=9), operator="op")
            # a writer (underwrite) on a store there said only SQLite's "unable to open database file"
            import sqlite3

            problem = st._error(sqlite3.OperationalError("unable to open database file")).problem
            assert f"its folder {folder} cannot be written" in problem
        assert sorted(p.name for p in folder.iterdir()) == ["d.db"]
    finally:
        folder.chmod(0o755)


def test_a_read_only_copy_whose_wal_holds_records_is_read_whole(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of a live store (its -wal still holding records) on read-only media: every reading command failed
    ("unable to open database file": SQLite cannot create the WAL's shared-memory file there). It is now read with
    the records of its WAL (``immutable=1`` would silently drop them), nothing written beside it, and a writer is
    refused in one line."""
    import sqlite3

    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "d.db"
    url = f"sqlite:///{db}"
    with DecisionStore(url) as st:
        st.append(make_items(3), operator="op")
    live = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.underwriting.test_store import make_items
        from underwriting.store import DecisionStore
        DecisionStore({url!r}).append(make_items(4, start=3), operator="op")
        os._exit(0)  # no close, no checkpoint: the 4 records stay in the -wal, as a live store leaves them
    """)
    subprocess.run([sys.executable, "-c", live], check=True, cwd=tmp_path)
    Path(f"{db}-shm").unlink(missing_ok=True)  # the copy holds the file and its log
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as con:  # the file alone: 3 records
        assert con.execute("SELECT count(*) FROM agc_decisions").fetchone() == (3,)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(before) == ["d.db", "d.db-wal"]
    deny_folder_write(monkeypatch, folder)
    folder.chmod(0o555)
    try:
        res = verify_store(url)
        assert (res.ok, res.count, res.head_seq) == (True, 7, 7)
        with DecisionStore(url, create=False) as st:
            assert st.records()["application_id"].tolist() == [f"APP{i:04d}" for i in range(7)]
            with pytest.raises(StoreError, match="readonly database") as e:
                st.append(make_items(1, start=9), operator="op")
            assert "\n" not in str(e.value)
            copy = getattr(st, "_copy", None)
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing written, no -shm
        assert copy is not None and not copy.exists()  # read in a private copy, removed on close
    finally:
        folder.chmod(0o755)


def test_schema_version_and_reopen(url: str) -> None:
    with DecisionStore(url) as s:
        assert s.schema_version() == "1"
        s.append(make_items(3), operator="op")
    with DecisionStore(url) as s:
        assert s.count() == 3
    raw(url, "UPDATE agc_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99 .this agcredit reads version 1."):
        DecisionStore(url)


def test_default_url_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGCREDIT_STORE_URL", raising=False)
    with DecisionStore() as s:
        s.append(make_items(1), operator="op")
    assert (tmp_path / "agcredit-decisions.db").is_file()
    monkeypatch.setenv("AGCREDIT_STORE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with pytest.raises(StoreError, match="no database file there"):  # verifying never creates a store
        verify_store()
    assert not (tmp_path / "env.db").exists()
    with DecisionStore():
        pass
    res = verify_store()
    assert (res.ok, res.count) == (True, 0)
    assert (tmp_path / "env.db").is_file()


@pytest.mark.parametrize("bad, message", [
    ("not a url", "not a database URL"),
    ("mysql://u@localhost/db", "unsupported database 'mysql'"),
    # libpq's spelling (Heroku's DATABASE_URL): said how to write it, the password still masked
    ("postgres://u:s3cretPW@localhost/db", r"unsupported database 'postgres': write the scheme postgresql://"),
    ("sqlite:////nonexistent-folder/x/decisions.db", "unable to open database file"),
    # psycopg 3's scheme (SQLAlchemy's docs): the driver shipped named (a review saw "cannot create an engine")
    ("postgresql+psycopg://u:s3cretPW@localhost/db", r"database driver 'psycopg' is not installed; write "
                                                     r"postgresql:// \(or postgresql\+psycopg2://\), whose driver "
                                                     r"agcredit ships"),
])
def test_bad_urls_give_one_line_store_errors(bad: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        DecisionStore(bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", ["bank:s3cretPW@127.0.0.1:1/agc", "bank:s3cretPW@h@127.0.0.1:1/agc",
                                 "postgresql:/bank:s3cretPW@127.0.0.1:1/agc", "postgresql//bank:s3cretPW@h/agc"])
def test_a_store_url_without_its_scheme_never_shows_its_password(bad: str) -> None:
    """A store URL typed without ``postgresql://`` (``user:PASSWORD@host/db``) was echoed whole in "not a database
    URL", password included."""
    from underwriting._store_schema import safe_url

    assert "s3cretPW" not in safe_url(bad) and "***@" in safe_url(bad)
    with pytest.raises(StoreError, match="not a") as info:
        DecisionStore(bad)
    assert "s3cretPW" not in str(info.value) and "\n" not in str(info.value)


def test_store_path_shown_as_typed_and_passwords_masked(tmp_path: Path) -> None:
    """A SQLite path is shown as the user typed it (not percent-encoded); a server password never."""
    from underwriting._store_schema import safe_url

    assert safe_url("sqlite:///my decisions/a b.db") == "sqlite:///my decisions/a b.db"
    assert safe_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    # a password typed with an unencoded '@': SQLAlchemy ends it at the first '@', and its rest was shown as the host
    # (and the server's "could not translate host name" error repeated it)
    assert safe_url("postgresql://u:s3c@ret@h:5432/db") == "postgresql://u:***@h:5432/db"
    # ... and with a '#' or '?' in it too (the whole password was shown), an unparsable port (its end was shown), or an
    # '@' in the database name (host and database were masked away)
    assert safe_url("postgresql://u:s#c@ret@h/db") == "postgresql://u:***@h/db"
    assert safe_url("postgresql://u:s?c@ret@h/db") == "postgresql://u:***@h/db"
    assert "ret" not in safe_url("postgresql://u:s3c@ret@h:abc/db")
    assert "pw1" not in safe_url("postgresql://admin@srv:pw1@h:abc/db")  # unparsable, Azure's user@server
    assert safe_url("postgresql://u:s3c@ret@h/db@2026") == "postgresql://u:***@h/db%402026"
    with pytest.raises(StoreError, match="percent-encode") as info:
        DecisionStore("postgresql://u:s#c@ret@127.0.0.1:1/db")
    assert "s#c" not in str(info.value) and "ret@" not in str(info.value)
    with pytest.raises(StoreError, match="percent-encode") as info:
        DecisionStore("postgresql://u:s3c@ret@127.0.0.1:1/db")
    assert "ret" not in str(info.value).replace("percent", "")
    missing = tmp_path / "no such folder" / "d.db"
    with pytest.raises(StoreError, match=re.escape(f"sqlite:///{missing}")):
        verify_store(f"sqlite:///{missing}")


def test_a_policy_version_names_one_content(store: DecisionStore) -> None:
    """A policy file changed without a new version string: its records would name the same version for other rules
    (only the content hash told them apart) — refused, nothing written; the same content again, or a new version,
    is accepted."""
    import dataclasses

    def with_policy(items: list[DecisionItem], version: str, digest: str) -> list[DecisionItem]:
        return [dataclasses.replace(i, body={**i.body, "policy": {"id": "agcredit-default", "version": version,
                                                                  "content_hash": digest}}) for i in items]

    assert store.policy_content("agcredit-default", "2026.11.1") is None
    assert store.append(with_policy(make_items(2), "2026.11.1", "a" * 64), "analyst-7").written == 2
    assert store.policy_content("agcredit-default", "2026.11.1") == "a" * 64  # `policy validate --store` reads it
    assert store.append(with_policy(make_items(1, start=2), "2026.11.1", "a" * 64), "analyst-7").written == 1
    with pytest.raises(StoreError, match=r"policy agcredit-default version 2026\.11\.1 is recorded in this store "
                                         r"with other content \(hash aaaaaaaaaaaa…; this file's bbbbbbbbbbbb…\): give "
                                         r"the changed policy a new version; nothing was written"):
        store.append(with_policy(make_items(2, start=3), "2026.11.1", "b" * 64), "analyst-7")
    assert len(store.stored_ids([record_id_for(f"key-{i}") for i in range(6)])) == 3
    assert store.append(with_policy(make_items(2, start=3), "2026.12.1", "b" * 64), "analyst-7").written == 2
    mixed = with_policy(make_items(1, start=5), "2027.1", "c" * 64) + with_policy(make_items(1, start=6), "2027.1",
                                                                                  "d" * 64)
    with pytest.raises(StoreError, match=r"the records of this call name policy agcredit-default version 2027\.1 with "
                                         r"two contents \(hashes cccccccccccc…, dddddddddddd…\)"):
        store.append(mixed, "analyst-7")



def test_a_version_spelled_otherwise_or_unregistered_still_names_one_content(url: str, store: DecisionStore) -> None:
    """A review: ``v2026.11.1`` with other rules passed as a version new to the store (every other tool reads it as
    2026.11.1), and with the store's registration of a version deleted around the API a changed file of that version
    was written while `verify` said OK. The version is keyed as every spelling of it, the records are the witness
    when the registration is gone, and `verify` says a registration missing or other than the records'."""
    import dataclasses

    def with_policy(items: list[DecisionItem], version: str, digest: str) -> list[DecisionItem]:
        return [dataclasses.replace(i, body={**i.body, "policy": {"id": "agcredit-default", "version": version,
                                                                  "content_hash": digest}}) for i in items]

    assert store.append(with_policy(make_items(2), "2026.11.1", "a" * 64), "analyst-7").written == 2
    for spelled in ("v2026.11.1", " 2026.11.1", "2026.11.01", "2026.11.1.0"):
        with pytest.raises(StoreError, match=r"version 2026\.11\.1 is recorded in this store with other content "
                                             rf".*: {re.escape(spelled)} is version 2026\.11\.1 \(a version is compared "
                                             r"as every spelling of it\): if only its spelling differs from that "
                                             r"version's file, write 2026\.11\.1; else give the policy a new version"):
            store.append(with_policy(make_items(1, start=2), spelled, "b" * 64), "analyst-7")
    assert store.append(with_policy(make_items(1, start=2), "V2026.11.1", "a" * 64), "analyst-7").written == 1
    assert store.policy_content("agcredit-default", "v2026.11.01") == "a" * 64
    assert verify_store(url).policy_registrations == ()
    raw(url, "DELETE FROM agc_meta WHERE substr(key, 1, 7) = 'policy:'")
    res = verify_store(url)
    assert res.ok and res.policy_registrations == (
        f"policy agcredit-default version 2026.11.1: its records name content {'a' * 12}…, and the store has no "
        "registration of it (removed, or written before versions were registered)",)
    with pytest.raises(StoreError, match=r"version 2026\.11\.1 is named by this store's records with other content"):
        store.append(with_policy(make_items(1, start=3), "2026.11.1", "b" * 64), "analyst-7")
    assert store.append(with_policy(make_items(1, start=3), "2026.11.1", "a" * 64), "analyst-7").written == 1
    assert verify_store(url).policy_registrations == ()  # registered again, as its records name it
    raw(url, "UPDATE agc_meta SET value = '" + "c" * 64 + "' WHERE substr(key, 1, 7) = 'policy:'")
    assert verify_store(url).policy_registrations == (
        f"policy agcredit-default version 2026.11.1: registered as content {'c' * 12}…, its records name "
        f"{'a' * 12}…",)
    # the registration edited to a changed file's hash let that file write under the version (a review, 2026-12-07):
    # the writer compares the registration it matched with the records, whatever store object writes
    for writer in (store, DecisionStore(url)):
        with pytest.raises(StoreError, match=r"version 2026\.11\.1 is registered in this store's metadata as content "
                                             r"cccccccccccc…, but its records name aaaaaaaaaaaa…: the registration was "
                                             r"edited, not by a policy file; nothing was written"):
            writer.append(with_policy(make_items(1, start=4), "2026.11.1", "c" * 64), "analyst-7")
    # the released file, and an override (it carries its record's policy), are refused naming the edited registration
    # — they were refused as "this file's" other content than the store's record, the edited metadata (a review)
    for writer in (store, DecisionStore(url)):
        with pytest.raises(StoreError) as e:
            writer.append(with_policy(make_items(1, start=4), "2026.11.1", "a" * 64), "analyst-7")
        assert ("policy agcredit-default version 2026.11.1 is registered in this store's metadata as content "
                "cccccccccccc…, but its records name aaaaaaaaaaaa…: the registration was edited") in str(e.value)
        assert "this file's" not in str(e.value) and "\n" not in str(e.value)
    assert len(store.stored_ids([record_id_for(f"key-{i}") for i in range(6)])) == 4

def test_the_registration_check_reads_one_record_not_the_store(url: str, store: DecisionStore,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Every writer run compared the registration with every record's policy (on PostgreSQL each body parsed in
    Python: 7.2 s at 50,000 records, under the write lock — a review). It reads one record now: the one a witness row
    names, else the latest holding the hash (then noted); the records' contents are read whole only to refuse. A
    witness removed or pointed at a record of the released content changes nothing of what is refused."""
    import dataclasses

    from underwriting import _store_append_checks as checks

    def with_policy(items: list[DecisionItem], digest: str) -> list[DecisionItem]:
        return [dataclasses.replace(i, body={**i.body, "policy": {"id": "agcredit-default", "version": "2026.11.1",
                                                                  "content_hash": digest}}) for i in items]

    def witness() -> str | None:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT value FROM agc_meta WHERE substr(key, 1, 8) = 'witness:'")).scalar()
        engine.dispose()
        return None if got is None else str(got)

    assert store.append(with_policy(make_items(3), "a" * 64), "analyst-7").written == 3
    assert store.append(with_policy(make_items(1, start=3), "a" * 64), "analyst-7").written == 1
    assert witness() == "3"  # the latest record naming it when the second call checked (the first registered it)
    real = checks.recorded_policies

    def whole(*a: object, **k: object) -> object:
        raise AssertionError("the records' contents read whole")
    monkeypatch.setattr(checks, "recorded_policies", whole)
    # kept; removed: the latest found again; pointed at another record of the content: kept; at none: found again
    for n, (setup, then) in enumerate((("", "3"), ("DELETE FROM agc_meta WHERE substr(key, 1, 8) = 'witness:'", "5"),
                                       ("UPDATE agc_meta SET value = '1' WHERE substr(key, 1, 8) = 'witness:'", "1"),
                                       ("UPDATE agc_meta SET value = 'x' WHERE substr(key, 1, 8) = 'witness:'", "7")), start=4):
        if setup:
            raw(url, setup)
        with DecisionStore(url) as st:
            assert st.append(with_policy(make_items(1, start=n), "a" * 64), "analyst-7").written == 1
        assert witness() == then
    monkeypatch.setattr(checks, "recorded_policies", real)
    raw(url, "UPDATE agc_meta SET value = '" + "c" * 64 + "' WHERE substr(key, 1, 7) = 'policy:'",
        "UPDATE agc_meta SET value = '1' WHERE substr(key, 1, 8) = 'witness:'")  # the witness names a record of 'a'
    with pytest.raises(StoreError, match=r"registered in this store's metadata as content cccccccccccc…, but its "
                                         r"records name aaaaaaaaaaaa…"), DecisionStore(url) as st:
        st.append(with_policy(make_items(1, start=8), "c" * 64), "analyst-7")


def test_a_new_sqlite_store_appears_only_with_its_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed between creating a new store and committing its first records left a store with a schema and
    no records (the audit's kill -9 at 9 s). The store is now built under a temporary name and linked into place
    once committed; a kill before that leaves no store, and the next run's temporary files do not linger."""
    from underwriting.store import append_to_new_sqlite, new_sqlite_file

    path = tmp_path / "new" / "d.db"
    url = f"sqlite:///{path}"
    assert new_sqlite_file(url) == path

    def killed(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", killed)
    with pytest.raises(KeyboardInterrupt):
        append_to_new_sqlite(url, path, make_items(3), "batch")
    assert not path.exists() and not [p for p in path.parent.iterdir()]  # nothing, not even the temporary file
    monkeypatch.undo()
    res = append_to_new_sqlite(url, path, make_items(3), "batch")
    assert res.written == 3 and sorted(p.name for p in path.parent.iterdir()) == ["d.db"]
    with DecisionStore(url) as st:
        assert st.count() == 3 and st.verify().ok
    # another run created the store first: the items are appended to it (written once)
    again = append_to_new_sqlite(url, path, make_items(4), "batch")
    assert (again.written, again.already_present) == (1, 3)


_KILLED_CREATING = """
import os, signal, sys
from pathlib import Path
from underwriting import store as S
from tests.underwriting.test_store import make_items
real = S.DecisionStore.append
def append(self, *a, **k):  # SIGKILL (the OOM killer, a power loss) while the new store's records are written
    os.kill(os.getpid(), signal.SIGKILL)
S.DecisionStore.append = append
path = Path(sys.argv[1])
S.append_to_new_sqlite(f"sqlite:///{path}", path, make_items(3), "batch")
"""


def test_a_run_killed_creating_the_store_leaves_nothing_after_the_rerun(tmp_path: Path) -> None:
    """An `underwrite` SIGKILLed while creating a new store left its hidden temporary database and journal beside
    the store (`.d.db.<pid>.creating`, `-journal`), and the re-run, which completed, left them there for an hour
    (only files that old were removed). The temporary name now carries the host, and a re-run on this host removes
    at once those whose process is gone; the re-run's store is the uninterrupted run's."""
    import signal
    import subprocess
    import sys

    from underwriting.store import append_to_new_sqlite

    path = tmp_path / "new" / "d.db"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _KILLED_CREATING, str(path)], check=False, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not path.exists() and [p for p in path.parent.iterdir() if ".creating" in p.name]  # what the kill left
    res = append_to_new_sqlite(f"sqlite:///{path}", path, make_items(3), "batch")  # the re-run
    assert res.written == 3 and sorted(p.name for p in path.parent.iterdir()) == ["d.db"]
    ref = tmp_path / "ref" / "d.db"
    append_to_new_sqlite(f"sqlite:///{ref}", ref, make_items(3), "batch")
    import sqlite3

    with DecisionStore(f"sqlite:///{path}") as st:
        assert st.verify().ok
    q = "SELECT record_id, body_hash, body FROM agc_decisions ORDER BY seq"
    with sqlite3.connect(path) as a, sqlite3.connect(ref) as b:
        assert a.execute(q).fetchall() == b.execute(q).fetchall()


def agc_tables(url: str) -> list[str] | None:
    """The agcredit tables in the database at ``url``; None for a SQLite file that does not exist (not created)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = sa.create_engine(url)
    try:
        return sorted(n for n in sa.inspect(engine).get_table_names() if n.startswith("agc_"))
    finally:
        engine.dispose()


def test_a_writer_that_writes_nothing_creates_no_store(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`underwrite` opened its store (creating the tables, guards and version rows, committed) before hours of work:
    a run killed or failing meanwhile left a PostgreSQL store's two empty tables. A writer opened with defer=True
    creates a new store only with its first records, in their transaction: one that raises before, or whose first
    append fails half-way, or that has nothing to write, leaves no tables (SQLite: no file); readers still find no
    store there; the first append that writes creates everything, guards included."""
    st = DecisionStore(url, defer=True)
    assert st.pending and agc_tables(url) in (None, [])
    with pytest.raises(StoreError, match="no decision store there yet"):
        st.records()
    assert st.append([], operator="batch").written == 0 and st.pending
    with pytest.raises(StoreError, match="no decision store there|no database file there"):
        DecisionStore(url, create=False)
    with pytest.raises(StoreError, match="no decision store there|no database file there"):
        verify_store(url)
    real_row = DecisionStore._row
    calls = itertools.count(1)

    def dies_at_the_second_record(*a: object) -> object:
        if next(calls) == 2:  # the first record inserted (and the schema created) in the uncommitted transaction
            raise KeyboardInterrupt
        return real_row(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(DecisionStore, "_row", staticmethod(dies_at_the_second_record))
    with pytest.raises(KeyboardInterrupt):
        st.append(make_items(3), operator="batch")
    assert st.pending and agc_tables(url) in (None, [])
    monkeypatch.undo()
    other = DecisionStore(url, defer=True)  # a second run, pending too, appends after the first created the store
    res = st.append(make_items(3), operator="batch")
    assert (res.written, st.pending, other.pending) == (3, False, False)
    assert agc_tables(url) == ["agc_decisions", "agc_meta"]
    again = other.append(make_items(4), operator="batch")
    assert (again.written, again.already_present) == (1, 3)
    st.close()
    other.close()
    ok = verify_store(url)
    assert (ok.ok, ok.count, ok.upgrade_pending) == (True, 4, ())
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        raw(url, "DELETE FROM agc_decisions WHERE seq = 1")
    with DecisionStore(url, defer=True) as existing:  # an existing store opens as without defer
        assert not existing.pending and existing.count() == 4 and existing.schema_version() == "1"


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    sys.path.insert(0, {tests!r})
    from test_store import make_items
    from underwriting.store import DecisionStore
    url, where = sys.argv[1], sys.argv[2]
    store = DecisionStore(url, defer=True)
    if where == "open":  # SIGKILL during the run's work, before it appends
        os.kill(os.getpid(), signal.SIGKILL)
    real = DecisionStore._row
    def row(*a):  # SIGKILL with the schema and a first record in the uncommitted transaction
        if a[2] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a)
    DecisionStore._row = staticmethod(row)
    store.append(make_items(3), operator="batch")
""")


@pytest.mark.parametrize("where", ["open", "append"])
def test_a_writer_killed_before_its_first_records_leaves_no_store(url: str, tmp_path: Path, where: str) -> None:
    """SIGKILL (the OOM killer, a power loss: no cleanup runs) of a writer of a new store, after it opened the
    store or in its first append: no agcredit table on PostgreSQL, no store file on SQLite; the re-run creates it."""
    import signal

    script = tmp_path / "killed.py"
    script.write_text(_KILLED_WRITER.format(repo=str(REPO), tests=str(Path(__file__).parent)))
    proc = subprocess.run([sys.executable, str(script), url, where], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert agc_tables(url) in (None, []) if url.startswith("postgresql") else agc_tables(url) is None
    with DecisionStore(url, defer=True) as st:
        assert st.pending and st.append(make_items(3), operator="batch").written == 3
    res = verify_store(url)
    assert (res.ok, res.count) == (True, 3)


def test_two_runs_creating_the_store_over_an_empty_file_keep_both_records(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs finding the same empty store file both passed the "empty, nothing to lose" check; the second
    replace threw away the first run's committed store while both reported their records written. The check and
    the move now happen under one lock on the folder: both records are kept."""
    import threading
    import time

    import underwriting.store as S

    db = tmp_path / "d.db"
    db.touch()  # an empty file (e.g. made by `touch` or a provisioning script)
    url = f"sqlite:///{db}"
    real_replace = S.os.replace

    def slow_replace(src: str, dst: str) -> None:  # widen the window between the check and the move
        time.sleep(1.0)
        real_replace(src, dst)

    monkeypatch.setattr(S.os, "replace", slow_replace)
    monkeypatch.setattr(S.os, "getpid", threading.get_ident)  # distinct staging names per thread (per process in use)
    start = threading.Barrier(2)
    results: dict[str, int] = {}

    def run(app: str) -> None:
        item = make_items(1, start=int(app[1:]))[0]
        start.wait(timeout=10)
        results[app] = S.append_to_new_sqlite(url, db, [item], "batch").written

    threads = [threading.Thread(target=run, args=(a,)) for a in ("A1", "A2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"A1": 1, "A2": 1}
    with DecisionStore(url) as st:
        assert sorted(st.records()["application_id"]) == ["APP0001", "APP0002"] and st.verify().ok


def _replace_record(url: str, seq: int) -> None:
    """Rewrite record ``seq`` in place through SQLite's INSERT OR REPLACE, its hashes made consistent (the chain's
    next link breaks unless it is the last record)."""
    import sqlite3

    from underwriting._store_schema import record_hash
    from underwriting.records import sha256_hex

    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        con.row_factory = sqlite3.Row
        row = dict(con.execute("SELECT * FROM agc_decisions WHERE seq = ?", (seq,)).fetchone())
        row["body"] = row["body"].replace('"limit":', '"limit":9')
        row["body_hash"] = sha256_hex(row["body"])
        row["record_hash"] = record_hash(row)
        cols = ", ".join(f'"{c}"' for c in row)
        con.execute(f"INSERT OR REPLACE INTO agc_decisions ({cols}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
        con.commit()
    finally:
        con.close()


def test_insert_or_replace_cannot_rewrite_a_record(tmp_path: Path) -> None:
    """SQLite's INSERT OR REPLACE deletes the row it conflicts with without firing delete triggers: the last record
    rewritten in place with consistent hashes passed both guards and `audit verify` said OK. Refused now."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as store:
        store.append(make_items(3), operator="op")
        before = store.verify()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        _replace_record(url, 3)
    after = verify_store(url)
    assert after.ok and (after.count, after.head_hash) == (3, before.head_hash)


def test_a_sqlite_store_of_an_earlier_release_is_upgraded_and_a_dropped_guard_is_not(tmp_path: Path) -> None:
    """A store an earlier release created has no guard against INSERT OR REPLACE (and no record of the guards it was
    created with): writers refuse it, naming `agcredit audit upgrade-store`, which adds the guard after verifying the
    chain, records untouched; a re-run changes nothing. A store created with that guard, or given it by an upgrade,
    and now without it had it dropped: refused by writers and by the upgrade."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from underwriting.store import upgrade_store

    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as store:
        store.append(make_items(3), operator="op")
    raw(url, "DROP TRIGGER agc_decisions_no_replace", "DELETE FROM agc_meta WHERE key = 'guards'")  # as released
    with pytest.raises(StoreError, match="created by an earlier release, without the guard trigger.s. "
                                         "agc_decisions_no_replace this release installs: run `agcredit audit "
                                         "upgrade-store` once"):
        DecisionStore(url)
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "verify", "--store", url])  # an old store, not a broken one: OK, and said
    assert res.exit_code == 0 and res.stdout.startswith("OK: 3 records"), res.output
    assert "warning: no guard trigger(s) agc_decisions_no_replace and no record of being created" in res.stderr
    assert "--expect-head" in res.stderr  # a store of this release with its guard and record removed looks the same
    assert verify_store(url).upgrade_pending == ("agc_decisions_no_replace",)
    res = runner.invoke(app, ["audit", "upgrade-store", "--store", url])
    assert res.exit_code == 0 and res.stdout.startswith("upgraded "), res.output
    assert "upgraded without --expect-head" in res.stderr
    assert "added agc_decisions_no_replace; 3 records, chain intact" in res.stdout
    again = runner.invoke(app, ["audit", "upgrade-store", "--store", url])
    assert again.exit_code == 0 and again.stdout.startswith("up to date ") and "nothing changed" in again.stdout
    with DecisionStore(url) as store:
        store.append(make_items(1, start=3), operator="op")
        assert store.verify().ok and store.count() == 4
    with pytest.raises(Exception, match="append-only"):
        _replace_record(url, 4)
    for how in ("upgraded", "created"):
        u = url if how == "upgraded" else f"sqlite:///{tmp_path / 'new.db'}"
        if how == "created":
            with DecisionStore(u) as store:
                store.append(make_items(2), operator="op")
        raw(u, "DROP TRIGGER agc_decisions_no_replace")
        with pytest.raises(StoreError, match="no_replace are missing or disabled") as err:
            DecisionStore(u)
        assert "upgrade-store" not in str(err.value)
        res = verify_store(u)
        assert not res.ok and "no_replace are missing or disabled" in str(res.problem) and not res.upgrade_pending
        with pytest.raises(StoreError, match="does not re-install a dropped guard"):
            upgrade_store(u)


def test_a_killed_readers_store_copy_is_removed_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader of a read-only store killed outright (a scheduler's SIGTERM) left its private copy of the whole store
    in TMPDIR for ever; the next copy made removes those older than an hour, not a running reader's."""
    import os
    import tempfile

    from underwriting import store as store_mod

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old, fresh = tmp_path / "agcredit-store-copy-old", tmp_path / "agcredit-store-copy-new"
    for d in (old, fresh):
        d.mkdir()
        (d / "d.db").write_bytes(b"x")
    hours_ago = old.stat().st_mtime - 7200
    os.utime(old, (hours_ago, hours_ago))
    store_mod._remove_stale_copies()
    assert not old.exists() and (fresh / "d.db").exists()


def test_the_export_counts_a_refer_with_no_book_line_at_zero(tmp_path: Path) -> None:
    """A new application's REFER (no Book line) carried its indicative limit as `standing_limit`: `decisions export
    --season 2009` on the demo summed INR 2,227,000 standing against the report's 2,202,000 (6 such REFERs). A REFER
    grants nothing: it stands at 0, its indicative limit in `indicative_limit` (REFER rows only)."""
    import dataclasses

    import pandas as pd

    from tests.underwriting.test_override import decision
    from underwriting.store import export_decisions

    url = f"sqlite:///{tmp_path / 'e.db'}"
    d = decision("R1", 250_000, key="R1-first")
    refer = dataclasses.replace(d, outcome="REFER", reason_codes=("FAILING_AREA_SHARE",),
                                body={**d.body, "outcome": "REFER"})
    with DecisionStore(url) as st:
        st.append([refer, decision("G1", 500_000, key="G1-first")], operator="batch")
    export_decisions(tmp_path / "d.csv", url=url)
    got = pd.read_csv(tmp_path / "d.csv").set_index("application_id")
    assert bool(got.loc["R1", "standing"]) and got.loc["R1", "limit"] == 250_000
    assert got["standing_limit"].to_dict() == {"R1": 0, "G1": 500_000}
    assert got.loc["R1", "indicative_limit"] == 250_000 and pd.isna(got.loc["G1", "indicative_limit"])


def test_a_renewal_refer_or_decline_stands_on_its_book_limit_in_the_export(tmp_path: Path) -> None:
    """A first decision renewing a Book line (its `renewal` block) that REFERRED or DECLINED granted nothing, so under
    refer_keeps_book_limit the Book line stands — as the portfolio report counts it since this release and as a
    re-underwriting's REFER already stood. The export counted it at 0 (DECLINE) or at 0 as a REFER without a line: on
    the demo's underwriting date the report's exposure (58 such lines, INR 2,365,000 of limits) and the export's
    standing rows disagreed (underwriting.standing.line_standing read only the `reunderwrite` block)."""
    import dataclasses

    import pandas as pd

    from tests.underwriting.test_override import decision
    from underwriting.standing import line_standing
    from underwriting.store import export_decisions

    url = f"sqlite:///{tmp_path / 'e.db'}"
    pol = {"parameters": {"refer_keeps_book_limit": True}}

    def renewing(app: str, outcome: str, line: str, book_limit: int) -> object:
        d = decision(app, 250_000 if outcome == "REFER" else 0, key=f"{app}-first")
        body = {**d.body, "outcome": outcome, "policy": pol,
                "renewal": {"line_id": line, "book_limit": book_limit, "outstanding": 100_000}}
        return dataclasses.replace(d, outcome=outcome, reason_codes=("FAILING_AREA_SHARE",), body=body)

    with DecisionStore(url) as st:
        st.append([renewing("R1", "REFER", "L1", 400_000), renewing("X1", "DECLINE", "L2", 300_000),
                   renewing("N1", "REFER", "D-N1", 0), decision("G1", 500_000, key="G1-first")], operator="batch")
        recs = st.records("2025")
    ids = dict(zip(recs["application_id"], recs["record_id"], strict=True))
    stands = line_standing(recs)
    assert stands == {ids["R1"]: (None, ids["R1"]), ids["X1"]: (None, ids["X1"])}  # a D-… line is its record's own
    export_decisions(tmp_path / "d.csv", url=url)
    got = pd.read_csv(tmp_path / "d.csv").set_index("application_id")
    assert got["standing_limit"].to_dict() == {"R1": 400_000, "X1": 300_000, "N1": 0, "G1": 500_000}


def test_the_export_counts_a_book_line_standing_at_zero_outside_the_exposure(tmp_path: Path) -> None:
    """`decisions export` counted nowhere the Book line of a REFER decided under a policy before
    refer_keeps_book_limit (2026.12.7: it stands at 0, as that policy decided), while the portfolio report lists it
    outside the exposure table with its Book limit and balance. The export now gives them on such standing rows
    (``outside_book_limit``, ``outside_outstanding``): their sums are the report's figure; a line standing on its
    Book limit (2026.12.8 on) and a REFER with no Book line have none."""
    import dataclasses

    import pandas as pd

    from tests.underwriting.test_override import decision
    from underwriting.store import export_decisions

    url = f"sqlite:///{tmp_path / 'e.db'}"

    def renewing(app: str, keeps: bool, line: str | None) -> object:
        d = decision(app, 250_000, key=f"{app}-first")
        body = {**d.body, "outcome": "REFER", "policy": {"parameters": {"refer_keeps_book_limit": keeps}}}
        if line is not None:
            body["renewal"] = {"line_id": line, "book_limit": 400_000, "outstanding": 150_000}
        return dataclasses.replace(d, outcome="REFER", reason_codes=("FAILING_AREA_SHARE",), body=body)

    with DecisionStore(url) as st:
        st.append([renewing("OLD", False, "L1"), renewing("NEW", True, "L2"), renewing("NOLINE", False, None),
                   decision("G1", 500_000, key="G1-first")], operator="batch")
    export_decisions(tmp_path / "d.csv", url=url)
    got = pd.read_csv(tmp_path / "d.csv").set_index("application_id")
    assert got["standing_limit"].to_dict() == {"OLD": 0, "NEW": 400_000, "NOLINE": 0, "G1": 500_000}
    assert got["outside_book_limit"].dropna().to_dict() == {"OLD": 400_000}
    assert got["outside_outstanding"].dropna().to_dict() == {"OLD": 150_000}


def _book(rows: list[tuple[str, str, str, str]], *, dated: bool = False) -> object:
    """A Book as read_book returns it: (line id, application id, farmer token, currency) per row; ``dated``: each
    line's row twice, a balance history (two dates)."""
    import pandas as pd

    recs = [{"line_id": lid, "application_id": app, "farmer_token": tok, "currency": cur, "limit": 400_000,
             "drawn": 0, "outstanding": 0, "start_date": pd.Timestamp("2025-05-10"),
             "maturity_date": pd.Timestamp("2026-03-01"), "crop": "maize", "region": "r", "season": "2025"}
            for lid, app, tok, cur in rows]
    if dated:
        recs = [{**r, "balance_as_of": pd.Timestamp(d)} for r in recs for d in ("2025-05-10", "2025-08-01")]
    return pd.DataFrame(recs)


def test_the_export_links_a_new_applications_record_to_its_book_line(tmp_path: Path) -> None:
    """A first decision on a new application names no Book line (no `renewal` block): the export linked it to none,
    though once booked the Book holds its line (README known limitation). The export now has `line_id` and
    `line_link` on every row: the line a record's body names (`record`, with or without a Book); with a Book, a
    record naming none is linked to the one Book line of its application id, farmer token and currency (`book`) —
    several lines: `ambiguous`, no line id; the counts are returned for the command's line."""
    import dataclasses

    import pandas as pd

    from tests.underwriting.test_override import decision
    from underwriting.override import override
    from underwriting.store import export_decisions

    url = f"sqlite:///{tmp_path / 'e.db'}"
    r1 = decision("R1", 300_000, key="R1-first")
    renewal = dataclasses.replace(r1, body={**r1.body, "renewal": {"line_id": "L-R1", "book_limit": 400_000}})
    with DecisionStore(url) as st:
        st.append([decision(a, 200_000, key=f"{a}-first") for a in ("N1", "N2", "N3", "N4")] + [renewal],
                  operator="batch")
        cut = override(st, "N1", "1800", "visit", "ana")  # an override of N1: N1's line too
    out = tmp_path / "d.csv"
    plain = export_decisions(out, url=url)
    got = pd.read_csv(out).set_index("record_id")
    assert list(got.columns[-2:]) == ["line_id", "line_link"]  # the same columns with or without a Book
    assert got.set_index("application_id")["line_id"].dropna().to_dict() == {"R1": "L-R1"}
    assert got["line_link"].dropna().tolist() == ["record"] and plain.summary() == ""
    book = _book([("L-N1", "N1", "tokA", "USD"), ("L-N2a", "N2", "tokA", "USD"), ("L-N2b", "N2", "tokA", "USD"),
                  ("L-N4", "N4", "tokOTHER", "USD"), ("L-R1x", "R1", "tokA", "USD")], dated=True)
    links = export_decisions(out, url=url, book=book)
    got = pd.read_csv(out)
    assert len(links) == 6 and list(got.columns[-2:]) == ["line_id", "line_link"]
    pairs = {(a, k): (None if pd.isna(lid) else lid, None if pd.isna(how) else how)
             for a, k, lid, how in zip(got["application_id"], got["kind"], got["line_id"], got["line_link"],
                                       strict=True)}
    assert pairs == {("N1", "decision"): ("L-N1", "book"), ("N1", "override"): ("L-N1", "book"),
                     ("N2", "decision"): (None, "ambiguous"), ("N3", "decision"): (None, None),
                     ("N4", "decision"): (None, None),  # the Book's line of N4 is another farmer's: not linked
                     ("R1", "decision"): ("L-R1", "record")}  # the line its body names, whatever the Book says
    assert got.loc[got["kind"] == "override", "record_id"].tolist() == [cut.record_id]
    assert (links.linked, links.ambiguous, links.mismatched, links.unnamed) == (2, 1, 1, 5)
    assert links.summary() == (", 2 linked to Book lines through the Book (1 ambiguous: several Book lines of one "
                               "application, not linked); 1 whose application id is only on Book lines of another "
                               "farmer token or currency, not linked")
    # a Book in another currency (N1's two records), and one whose lines match nothing: said, not silent
    eur = export_decisions(out, url=url, book=_book([("L-N1", "N1", "tokA", "EUR")]))
    assert eur.linked == 0 and pd.read_csv(out)["line_link"].dropna().tolist() == ["record"]
    assert eur.summary() == (", 0 linked to Book lines through the Book (0 ambiguous); 2 whose application id is only "
                             "on Book lines of another farmer token or currency, not linked; the Book's lines are in "
                             "EUR, the records in USD")
    none = export_decisions(out, url=url, book=_book([("L-X", "X9", "tokA", "USD")]))
    assert none.summary() == (", 0 linked to Book lines through the Book (0 ambiguous); no Book line has the "
                              "application id of any of the 5 record(s) naming no line")


def test_the_export_judges_a_book_lines_maturity_on_its_as_of_date(tmp_path: Path) -> None:
    """`decisions export` counted a Book line whose renewal was REFERRED at its Book limit (``standing_limit``) months
    after the line had matured, while the portfolio report of the same date leaves it out (an audit: standing rows
    198,300 against the report's exposure 176,900, the matured L2018-00025's 21,400 between them). The export now
    judges maturity as the report does (:func:`underwriting.standing.line_matured`) on ``as_of`` — default each
    season's latest record date, as the report's; ``--as-of`` reads the records dated on or before it — and says the
    line matured (``line_matured``); a line matured is not listed outside the exposure either."""
    import dataclasses

    import pandas as pd

    from features.errors import UserInputError
    from tests.underwriting.test_override import decision
    from underwriting.store import export_decisions

    url = f"sqlite:///{tmp_path / 'e.db'}"
    pol = {"parameters": {"refer_keeps_book_limit": True}}

    def renewing(app: str, line: str, due: str) -> object:
        d = decision(app, 150_000, key=f"{app}-first")
        body = {**d.body, "outcome": "REFER", "policy": pol,
                "renewal": {"line_id": line, "book_limit": 400_000, "outstanding": 100_000,
                            "line_maturity_date": due}}
        return dataclasses.replace(d, outcome="REFER", reason_codes=("FAILING_AREA_SHARE",), body=body)

    with DecisionStore(url) as st:
        st.append([renewing("M1", "L1", "2025-06-18"), renewing("S1", "L2", "2026-01-20"),
                   decision("G1", 500_000, key="G1-first")], operator="batch")
        st.append([decision("H1", 450_000, as_of="2025-09-10", key="H1-late")], operator="batch")
    export_decisions(tmp_path / "d.csv", url=url)  # as of 2025-09-10, the latest record's date
    got = pd.read_csv(tmp_path / "d.csv")
    now = got[got["standing"]].set_index("application_id")
    assert now["standing_limit"].to_dict() == {"M1": 0, "S1": 400_000, "G1": 500_000, "H1": 450_000}
    assert now["line_matured"].fillna("").to_dict() == {"M1": "2025-06-18", "S1": "", "G1": "", "H1": ""}
    assert now["indicative_limit"].dropna().to_dict() == {"M1": 150_000, "S1": 150_000}
    assert now["outside_book_limit"].isna().all()  # matured: not the bank's commitment outside the exposure
    export_decisions(tmp_path / "e.csv", url=url, as_of="2025-06-18")  # its last day: it stands; H1's record later
    then = pd.read_csv(tmp_path / "e.csv")
    assert len(then) == 3 and then["line_matured"].isna().all()
    assert then.set_index("application_id")["standing_limit"].to_dict() == {"M1": 400_000, "S1": 400_000,
                                                                            "G1": 500_000}
    # a Book given renews L1 under its id: it stands on the Book's later maturity, as the report reads it
    book = pd.DataFrame({"line_id": ["L1"], "application_id": ["M1"], "farmer_token": ["tokA"], "currency": ["USD"],
                         "limit": [400_000], "drawn": [0], "outstanding": [0],
                         "start_date": [pd.Timestamp("2025-06-19")], "maturity_date": [pd.Timestamp("2026-03-01")],
                         "crop": ["maize"], "region": ["r"], "season": ["2025"]})
    export_decisions(tmp_path / "f.csv", url=url, book=book)
    assert pd.read_csv(tmp_path / "f.csv").set_index("application_id").loc["M1", "standing_limit"] == 400_000
    with pytest.raises(UserInputError, match=r"none of the 4 record\(s\) is dated on or before --as-of 2025-04-30"):
        export_decisions(tmp_path / "g.csv", url=url, as_of="2025-04-30")
    assert not (tmp_path / "g.csv").exists()


# --- read_only=True: reading commands leave the store's bytes as they were ----------------------------------------

def _files(folder: Path) -> dict[str, str]:
    """Each file beside a store and the SHA-256 of its bytes."""
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _journal_bytes(db: Path) -> tuple[int, int]:
    """The SQLite header's file format bytes 18 and 19: (1, 1) a rollback journal (DELETE), (2, 2) WAL."""
    head = db.read_bytes()[:20]
    return head[18], head[19]


def _read_everything(url: str, tmp_path: Path) -> None:
    """What `audit verify`, `decisions export` and `policy validate --store` / `history` read, read only."""
    from underwriting.store import export_decisions

    assert verify_store(url).ok
    assert len(export_decisions(tmp_path / "out" / "d.csv", url=url)) == 7
    with DecisionStore(url, create=False, read_only=True) as st:
        assert st.records()["application_id"].tolist() == [f"APP{i:04d}" for i in range(7)]
        assert st.count() == 7 and st.policy_content("p", "1") is None
        with pytest.raises(StoreError, match="opened to read only: nothing is written"):
            st.append(make_items(1, start=9), operator="op")
        with pytest.raises(StoreError, match="opened to read only: nothing is changed"):
            st.upgrade()


def test_read_only_leaves_a_delete_mode_store_as_it_was(tmp_path: Path) -> None:
    """`DecisionStore(url, create=False)` opened SQLite read-write: it switched a DELETE-mode store to WAL (bytes 18
    and 19 of the header: the file changed) and its close checkpointed. ``read_only=True`` opens it ``mode=ro``:
    the file's bytes, its journal mode and the folder's files stay as they were, no -wal or -shm made."""
    import sqlite3

    folder = tmp_path / "store"
    folder.mkdir()
    db = folder / "d.db"
    url = f"sqlite:///{db}"
    with DecisionStore(url) as st:
        st.append(make_items(7), operator="op")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    con.close()
    before = _files(folder)
    assert list(before) == ["d.db"] and _journal_bytes(db) == (1, 1)
    _read_everything(url, tmp_path)
    assert _files(folder) == before and _journal_bytes(db) == (1, 1)
    with DecisionStore(url, create=False) as st:  # without read_only: the old behaviour, the file converted
        assert st.count() == 7
    assert _journal_bytes(db) == (2, 2)


def test_read_only_reads_a_pending_wal_without_checkpointing_it(tmp_path: Path) -> None:
    """The copy of a live store (its -wal holding records not yet in the file, no -shm): the reading commands
    checkpointed the log into the file on close (the file's bytes changed, the -wal removed). ``read_only=True``
    reads the log's records in a private copy: the file, the -wal and the folder unchanged."""
    import shutil
    import sqlite3

    live = tmp_path / "live"
    live.mkdir()
    with DecisionStore(f"sqlite:///{live / 'd.db'}") as st:
        st.append(make_items(3), operator="op")
    st = DecisionStore(f"sqlite:///{live / 'd.db'}")
    st.append(make_items(4, start=3), operator="op")
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copyfile(live / "d.db-wal", folder / "d.db-wal")  # the log first, as a backup of a live store copies
    shutil.copyfile(live / "d.db", folder / "d.db")
    st.close()
    db = folder / "d.db"
    url = f"sqlite:///{db}"
    with sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True) as con:  # the file alone holds fewer records
        assert con.execute("SELECT count(*) FROM agc_decisions").fetchone() == (3,)
    con.close()
    before = _files(folder)
    assert list(before) == ["d.db", "d.db-wal"] and _journal_bytes(db) == (2, 2)
    _read_everything(url, tmp_path)
    assert _files(folder) == before
    with DecisionStore(url, create=False, read_only=True) as ro:
        copy = ro._copy
        assert copy is not None and copy.exists()  # read in a private copy, removed on close
    assert not copy.exists()


def test_read_only_reads_a_live_store_through_its_shared_memory(tmp_path: Path) -> None:
    """A store a writer holds open (its -wal and -shm beside it): read ``mode=ro`` in place — no copy, the records
    of the log seen, the log never checkpointed into the file (a read-only connection cannot)."""
    folder = tmp_path / "live"
    folder.mkdir()
    db = folder / "d.db"
    url = f"sqlite:///{db}"
    with DecisionStore(url) as writer:
        writer.append(make_items(7), operator="op")
        assert sorted(p.name for p in folder.iterdir()) == ["d.db", "d.db-shm", "d.db-wal"]
        before = {k: v for k, v in _files(folder).items() if k != "d.db-shm"}  # readers update the shared memory
        _read_everything(url, tmp_path)
        with DecisionStore(url, create=False, read_only=True) as ro:
            assert ro._copy is None and ro.count() == 7
        assert {k: v for k, v in _files(folder).items() if k != "d.db-shm"} == before
        writer.append(make_items(1, start=7), operator="op")  # the writer goes on
        with DecisionStore(url, create=False, read_only=True) as ro:
            assert ro.count() == 8


def test_read_only_refuses_a_foreign_sqlite_file_unchanged(tmp_path: Path) -> None:
    """A SQLite file that is not agcredit's, given by mistake: the reading commands converted it to WAL before
    refusing it. Read only, it is refused as it was (a rollback-journal file and a WAL one)."""
    import sqlite3

    from underwriting.store import export_decisions

    for mode, header in (("DELETE", (1, 1)), ("WAL", (2, 2))):
        folder = tmp_path / mode
        folder.mkdir()
        db = folder / "other.db"
        con = sqlite3.connect(db)
        con.execute(f"PRAGMA journal_mode = {mode}")
        con.execute("CREATE TABLE t (x int)")
        con.commit()
        con.close()
        before = _files(folder)
        assert list(before) == ["other.db"] and _journal_bytes(db) == header
        url = f"sqlite:///{db}"
        with pytest.raises(StoreError, match="no agcredit tables"):
            verify_store(url)
        with pytest.raises(StoreError, match="no agcredit tables"):
            export_decisions(tmp_path / "o.csv", url=url)
        with pytest.raises(StoreError, match="no agcredit tables"):
            DecisionStore(url, create=False, read_only=True)
        assert _files(folder) == before and _journal_bytes(db) == header


def test_read_only_is_for_an_existing_store() -> None:
    with pytest.raises(ValueError, match="create=False"):
        DecisionStore("sqlite:///x.db", read_only=True)


def test_a_read_only_store_refuses_writes_on_each_backend(url: str) -> None:
    """``read_only=True``: append refuses before any work, and the database itself refuses a write (a SQLite file
    opened ``mode=ro``; a PostgreSQL session whose transactions are read only)."""
    with DecisionStore(url) as st:
        st.append(make_items(2), operator="op")
    with DecisionStore(url, create=False, read_only=True) as ro:
        assert ro.count() == 2 and ro.policy_blocks()["record_id"].tolist() == ro.records()["record_id"].tolist()
        with pytest.raises(StoreError, match="opened to read only: nothing is written"):
            ro.append(make_items(1, start=5), operator="op")
        with pytest.raises(sa.exc.DBAPIError, match="read-only|readonly"), ro._engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO agc_meta (key, value) VALUES ('x', 'y')")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM agc_meta WHERE key = 'x'").scalar() == 0
    engine.dispose()


def test_read_only_views_of_an_unchanged_store_share_one_private_copy(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A cleanly closed WAL store is read through a private copy; views opened on it while it is unchanged share one
    (a season's impact opens several), removed when the last closes; a store changed meanwhile gets a copy of its own."""
    import tempfile

    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(url) as st:
        st.append(make_items(3), operator="op")
    a = DecisionStore(url, create=False, read_only=True)
    b = DecisionStore(url, create=False, read_only=True)
    assert a._copy is not None and a._copy == b._copy and a.count() == b.count() == 3
    a.close()
    assert b._copy is not None and b._copy.is_dir() and b.count() == 3
    with DecisionStore(url) as st:  # the store changes: a new reader copies it anew
        st.append(make_items(2, start=5), operator="op")
    c = DecisionStore(url, create=False, read_only=True)
    assert c._copy is not None and c._copy != b._copy and c.count() == 5 and b.count() == 3
    b.close()
    c.close()
    assert list(tmp.iterdir()) == []


def test_a_stale_private_copy_is_removed_only_when_its_reader_is_gone(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies older than an hour are a killed reader's leftovers — unless the reader named in the folder (this host,
    its process) still runs: a long replay or report reads it still."""
    import tempfile

    from features.atomic import _host
    from underwriting.store import _COPY_PREFIX, _copy_owner, _remove_stale_copies

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live = tmp_path / f"{_COPY_PREFIX}{_host()}-{os.getpid()}-abc123"
    gone = tmp_path / f"{_COPY_PREFIX}{_host()}-999999999-def456"
    elsewhere = tmp_path / f"{_COPY_PREFIX}other-host-{os.getpid()}-ghi789"
    unnamed = tmp_path / f"{_COPY_PREFIX}xyz"
    young = tmp_path / f"{_COPY_PREFIX}{_host()}-999999999-jkl012"
    for d in (live, gone, elsewhere, unnamed, young):
        d.mkdir()
    for d in (live, gone, elsewhere, unnamed):
        os.utime(d, (0, 0))
    assert _copy_owner(live) == (_host(), os.getpid()) and _copy_owner(unnamed) is None
    assert _copy_owner(elsewhere) == ("other-host", os.getpid())
    _remove_stale_copies()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, young.name])
