"""One store, one token key: the decision store keeps the check of the key its farmer tokens were made with and
refuses writers under another key, and a record naming another farmer than the record it supersedes.

A farmer's token is a keyed HMAC of their identifiers (features/identity.py): under another AGCREDIT_TOKEN_KEY the
same farmer gets another token, and nothing else notices — a re-underwriting record would follow the application
under a second identity, a new season's records would start one, the borrower's exposure and history would split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from features.identity import TOKEN_KEY_ENV, env_key_check, key_check
from pipelines.cli import app
from tests.underwriting.test_store import make_items, url  # noqa: F401  (the sqlite / postgres store fixture)
from underwriting.errors import StoreError
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore, record_id_for, verify_store

KEY_A = "bank-token-key-A-0123456789"
KEY_B = "bank-token-key-B-0123456789"


def _recorded(store_url: str) -> str | None:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT value FROM agc_meta WHERE key = 'token_key_check'")).scalar()
    finally:
        engine.dispose()
    return None if got is None else str(got)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv(TOKEN_KEY_ENV, KEY_A)
    yield monkeypatch


def test_key_check_names_the_key_and_nothing_else() -> None:
    a, b = key_check(KEY_A.encode()), key_check(KEY_B.encode())
    assert a != b and a == key_check(KEY_A.encode())
    assert a.startswith("hmac-sha256:") and len(a) == len("hmac-sha256:") + 16
    assert KEY_A not in a and "0123456789" not in a


def test_env_key_check_needs_a_usable_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_KEY_ENV)
    assert env_key_check() is None
    monkeypatch.setenv(TOKEN_KEY_ENV, "short")  # tokenising refuses it: nothing made with it to check
    assert env_key_check() is None
    monkeypatch.setenv(TOKEN_KEY_ENV, KEY_B)
    assert env_key_check() == key_check(KEY_B.encode())


def test_the_first_append_records_its_keys_check_and_another_key_is_refused(url: str,  # noqa: F811
                                                                             key: pytest.MonkeyPatch) -> None:
    with DecisionStore(url) as st:
        st.append(make_items(3), operator="analyst-7")
    assert _recorded(url) == key_check(KEY_A.encode())
    key.setenv(TOKEN_KEY_ENV, KEY_B)
    with pytest.raises(StoreError) as e, DecisionStore(url) as st:  # refused on opening: before the run's work
        st.append(make_items(2, start=3), operator="analyst-7")
    msg = str(e.value)
    assert "AGCREDIT_TOKEN_KEY is not the key this store's farmer tokens were made with" in msg
    assert key_check(KEY_B.encode()) in msg and key_check(KEY_A.encode()) in msg and "nothing was written" in msg
    assert KEY_A not in msg and KEY_B not in msg and "\n" not in msg
    assert verify_store(url).count == 3
    # a store opened before the key changed is refused at its append, in its transaction: nothing written
    key.setenv(TOKEN_KEY_ENV, KEY_A)
    with DecisionStore(url) as st:
        key.setenv(TOKEN_KEY_ENV, KEY_B)
        with pytest.raises(StoreError, match="is not the key this store's farmer tokens were made with"):
            st.append(make_items(2, start=3), operator="analyst-7")
        key.setenv(TOKEN_KEY_ENV, KEY_A)
        assert st.append(make_items(2, start=3), operator="analyst-7").written == 2
    key.delenv(TOKEN_KEY_ENV)  # no key: nothing tokenised here (the bank's own tokens), nothing to check
    with DecisionStore(url) as st:
        assert st.append(make_items(1, start=5), operator="analyst-7").written == 1
    assert _recorded(url) == key_check(KEY_A.encode()) and verify_store(url).count == 6


def test_a_writer_of_an_existing_store_is_refused_on_opening_and_readers_are_not(tmp_path: Path,
                                                                                 key: pytest.MonkeyPatch) -> None:
    store_url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(store_url) as st:
        st.append(make_items(2), operator="analyst-7")
    key.setenv(TOKEN_KEY_ENV, KEY_B)
    for opts in ({"create": False, "writer": True}, {"defer": True}, {}):
        with pytest.raises(StoreError, match="is not the key this store's farmer tokens were made with"):
            DecisionStore(store_url, **opts)  # type: ignore[arg-type]
    with DecisionStore(store_url, create=False, read_only=True) as st:  # reading: nothing is tokenised into it
        assert len(st.records("2025")) == 2
    assert verify_store(store_url).token_key_check == key_check(KEY_A.encode())


def test_a_store_without_a_check_records_one_at_its_next_append_with_a_key(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A store of an earlier release (or one written only with the bank's own tokens) has no check: its next append
    made with a key records that key's; an append that writes nothing records nothing."""
    store_url = f"sqlite:///{tmp_path / 'd.db'}"
    monkeypatch.delenv(TOKEN_KEY_ENV)
    with DecisionStore(store_url) as st:
        st.append(make_items(2), operator="analyst-7")
    assert _recorded(store_url) is None and verify_store(store_url).token_key_check is None
    monkeypatch.setenv(TOKEN_KEY_ENV, KEY_B)
    with DecisionStore(store_url) as st:
        assert st.append(make_items(2), operator="analyst-7").written == 0  # a re-run: nothing new
    assert _recorded(store_url) is None
    with DecisionStore(store_url) as st:
        assert st.append(make_items(1, start=2), operator="analyst-7").written == 1
    assert _recorded(store_url) == key_check(KEY_B.encode())


def test_a_new_sqlite_store_is_created_with_its_check(tmp_path: Path, key: pytest.MonkeyPatch) -> None:
    store_url = f"sqlite:///{tmp_path / 'new' / 'd.db'}"
    with DecisionStore(store_url, defer=True) as st:  # underwrite's store: created with its first records
        st.append(make_items(2), operator="analyst-7")
    assert _recorded(store_url) == key_check(KEY_A.encode())


def test_a_rerun_under_another_key_adding_nothing_is_not_refused_at_its_append(tmp_path: Path,
                                                                               key: pytest.MonkeyPatch) -> None:
    """Items already stored (the same tokens: a re-run) add nothing and are not refused at the append: nothing would
    be written under the other key."""
    store_url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(store_url) as st:
        st.append(make_items(2), operator="analyst-7")
        key.setenv(TOKEN_KEY_ENV, KEY_B)
        res = st.append(make_items(2), operator="analyst-7")
    assert (res.written, res.already_present) == (0, 2)


def _superseding(first: DecisionItem, token: str, key: str) -> DecisionItem:
    return replace(first, idempotency_key=key, farmer_token=token, kind="reunderwrite", as_of="2025-07-01",
                   supersedes=record_id_for(first.idempotency_key))


def test_a_record_naming_another_farmer_than_the_record_it_supersedes_is_refused(url: str,  # noqa: F811
                                                                                 monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    """Whatever the key (none here: the tokens are the bank's own): a re-underwriting, an override or a renewal
    follows one farmer's line, so a new record naming another token than the one it supersedes is refused — naming
    the application, never a token — and nothing of the call is written."""
    monkeypatch.delenv(TOKEN_KEY_ENV)
    first = make_items(2)
    with DecisionStore(url) as st:
        st.append(first, operator="analyst-7")
        same = _superseding(first[0], first[0].farmer_token, "key-next-0")
        other = _superseding(first[1], "tokOTHER", "key-next-1")
        with pytest.raises(StoreError) as e:
            st.append([same, other], operator="analyst-7")
        msg = str(e.value)
        assert "application APP0001: the new record names another farmer token than the record it supersedes" in msg
        assert "tokOTHER" not in msg and first[1].farmer_token not in msg
        assert verify_store(url).count == 2  # the call's other record is not written either
        assert st.append([same], operator="analyst-7").written == 1  # the same farmer: written
        # a record superseding one of the same call is checked against that one
        then = _superseding(same, "tokOTHER", "key-next-2")
        with pytest.raises(StoreError, match="application APP0000: the new record names another farmer token"):
            st.append([then], operator="analyst-7")
    assert verify_store(url).count == 3


def test_audit_verify_names_the_stores_key_check_and_warns_of_another_key(tmp_path: Path,
                                                                          key: pytest.MonkeyPatch) -> None:
    """`audit verify` names the check of the key the store's tokens were made with in its OK line (before the head:
    a script reading the hash after "hash " still finds it), and warns when AGCREDIT_TOKEN_KEY is another key."""
    store_url = f"sqlite:///{tmp_path / 'd.db'}"
    key.delenv(TOKEN_KEY_ENV)
    with DecisionStore(store_url) as st:
        st.append(make_items(2), operator="analyst-7")
    runner = CliRunner()

    def verify() -> tuple[str, str]:
        r = runner.invoke(app, ["audit", "verify", "--store", store_url])
        assert r.exit_code == 0, r.stderr
        assert len(r.stdout.splitlines()) == 1, r.stdout
        return r.stdout.strip(), r.stderr.strip()

    out, said = verify()
    assert "key check" not in out and said == ""  # none recorded yet
    key.setenv(TOKEN_KEY_ENV, KEY_A)
    assert verify() == (out, "")
    with DecisionStore(store_url) as st:
        st.append(make_items(1, start=2), operator="analyst-7")
    a = key_check(KEY_A.encode())
    out, said = verify()
    assert f"chain intact (sqlite:///{tmp_path / 'd.db'}); farmer tokens' key check {a}; head seq 3 hash " in out
    assert len(out.split("hash ")[-1]) == 64 and said == ""
    key.setenv(TOKEN_KEY_ENV, KEY_B)
    b = key_check(KEY_B.encode())
    assert verify() == (out, f"warning: AGCREDIT_TOKEN_KEY is not the key the store's farmer tokens were made with "
                             f"(key check {b}; the store's {a}); writers refuse the store under it")
    key.delenv(TOKEN_KEY_ENV)
    assert verify() == (out, "")


def test_a_key_check_removed_from_the_metadata_is_refused_warned_and_recorded_again_by_upgrade(
        url: str, key: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A review deleted `token_key_check` from agc_meta; a run under another key then wrote 153 records (306 tokens
    for 153 farmers) and recorded its own check, verify OK. The row noting the check was recorded stays: writers
    refuse the store, verify warns, and `audit upgrade-store` under the records' key records the check again."""
    from underwriting.store import upgrade_store

    with DecisionStore(url) as st:
        st.append(make_items(2), operator="analyst-7")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM agc_meta WHERE key = 'token_key_check'"))
    engine.dispose()
    assert verify_store(url).ok and verify_store(url).token_key_missing
    key.setenv(TOKEN_KEY_ENV, KEY_B)
    with pytest.raises(StoreError, match=r"records hold farmer tokens made with a token key, but its metadata holds "
                                         r"no check of that key .*nothing was written"):
        with DecisionStore(url) as st:
            st.append(make_items(1, start=2), operator="analyst-7")
    res = CliRunner().invoke(app, ["audit", "verify", "--store", url])
    assert res.exit_code == 0 and "warning: the store's records hold farmer tokens" in res.stderr and KEY_B not in res.stderr
    key.delenv(TOKEN_KEY_ENV)
    with pytest.raises(StoreError, match=r"set AGCREDIT_TOKEN_KEY to the key the records were made with"):
        upgrade_store(url)
    key.setenv(TOKEN_KEY_ENV, KEY_A)
    up = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", url])
    assert up.exit_code == 0 and f"recorded the token key check {key_check(KEY_A.encode())}" in up.stdout, up.output
    assert _recorded(url) == key_check(KEY_A.encode()) and not verify_store(url).token_key_missing
    with DecisionStore(url) as st:
        assert st.append(make_items(1, start=2), operator="analyst-7").written == 1
    assert verify_store(url).count == 3


def _keyed(n: int, start: int = 0) -> list[DecisionItem]:
    """Items whose tokens were made with KEY_A (as `underwrite` makes them from the files' national IDs)."""
    from features.identity import farmer_token

    return [replace(i, farmer_token=farmer_token(f"ID-{k}", KEY_A.encode()))
            for k, i in enumerate(make_items(n, start=start), start=start)]


def _delete_meta(store_url: str, *keys: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        for k in keys:
            conn.execute(sa.text("DELETE FROM agc_meta WHERE key = :k"), {"k": k})
    engine.dispose()


def test_records_of_a_key_without_a_check_are_refused_whatever_the_metadata_says(url: str,  # noqa: F811
                                                                                 key: pytest.MonkeyPatch) -> None:
    """A review deleted both `token_key_check` and `token_key_recorded` (or the store is of a release that recorded
    neither): verify said OK, a run under another key wrote. The records' keyed tokens tell the store needs a check:
    writers are refused, verify warns, and `audit upgrade-store` under the records' key records the check and the
    row beside it."""
    from underwriting.store import upgrade_store

    with DecisionStore(url) as st:
        st.append(_keyed(2), operator="analyst-7")
    _delete_meta(url, "token_key_check", "token_key_recorded")
    assert verify_store(url).ok and verify_store(url).token_key_missing
    key.setenv(TOKEN_KEY_ENV, KEY_B)
    with pytest.raises(StoreError) as e, DecisionStore(url) as st:
        st.append(make_items(1, start=2), operator="analyst-7")
    msg = str(e.value)
    assert "records hold farmer tokens made with a token key, but its metadata holds no check" in msg
    assert "nothing was written" in msg and "`agcredit audit upgrade-store`" in msg and "\n" not in msg
    res = CliRunner().invoke(app, ["audit", "verify", "--store", url])
    assert res.exit_code == 0 and "warning: the store's records hold farmer tokens made with a token key" in res.stderr
    key.delenv(TOKEN_KEY_ENV)
    with pytest.raises(StoreError, match=r"set AGCREDIT_TOKEN_KEY to the key the records were made with"):
        upgrade_store(url)
    key.setenv(TOKEN_KEY_ENV, KEY_A)
    up = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", url])
    assert up.exit_code == 0 and f"recorded the token key check {key_check(KEY_A.encode())}" in up.stdout, up.output
    assert _recorded(url) == key_check(KEY_A.encode()) and not verify_store(url).token_key_missing
    _delete_meta(url, "token_key_check")  # removed again: refused again, recorded again (its note replaced)
    assert verify_store(url).token_key_missing
    assert upgrade_store(url).key_check == key_check(KEY_A.encode())
    with DecisionStore(url) as st:
        assert st.append(_keyed(1, start=2), operator="analyst-7").written == 1
    again = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", url])
    assert again.exit_code == 0 and again.stdout.startswith("up to date"), again.output


def test_upgrade_records_the_row_beside_an_earlier_releases_check(tmp_path: Path, key: pytest.MonkeyPatch) -> None:
    """A store of an earlier release has its check but not the row noting it was recorded: `audit upgrade-store`
    adds the row and says so (it said "up to date … nothing changed"); a store without keyed tokens and without a
    check (the bank's own tokens) needs neither: nothing changed, and a keyed append records the check."""
    store_url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(store_url) as st:
        st.append(_keyed(2), operator="analyst-7")
    _delete_meta(store_url, "token_key_recorded")
    up = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", store_url])
    assert up.exit_code == 0 and "noted that the store's token key check is recorded (token_key_recorded)" in \
        up.stdout, up.output
    _delete_meta(store_url, "token_key_check")  # the row now tells the check was there
    assert verify_store(store_url).token_key_missing
    plain = f"sqlite:///{tmp_path / 'p.db'}"
    key.delenv(TOKEN_KEY_ENV)
    with DecisionStore(plain) as st:
        st.append(make_items(2), operator="analyst-7")
    key.setenv(TOKEN_KEY_ENV, KEY_A)
    assert not verify_store(plain).token_key_missing
    up = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", plain])
    # no token key row to record (its auxiliary tables are created: the store's owner's command since helper Q's fix)
    assert up.exit_code == 0 and "token key" not in up.stdout and "token_key" not in up.stdout, up.output
    again = CliRunner().invoke(app, ["audit", "upgrade-store", "--store", plain])
    assert again.exit_code == 0 and again.stdout.startswith("up to date"), again.output
    with DecisionStore(plain) as st:
        assert st.append(_keyed(1, start=2), operator="analyst-7").written == 1
    assert _recorded(plain) == key_check(KEY_A.encode())
