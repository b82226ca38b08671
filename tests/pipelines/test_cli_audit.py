"""``agcredit audit verify``, ``agcredit decisions export``, ``agcredit override`` through CliRunner."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pipelines.cli import app
from underwriting.contracts import check_decisions
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore

runner = CliRunner()


def _items(season: str, n: int, start: int = 0) -> list[DecisionItem]:
    return [DecisionItem(idempotency_key=f"k{i}", application_id=f"APP{i}", farmer_token=f"tok{i}", season=season,
                         as_of=f"{season}-05-01", outcome="REDUCE", limit=100_000 + i, currency="USD",
                         reason_codes=("LOW_STRESSED_YIELD",), body={"limit": 100_000 + i, "i": i,
                                                                     "application": {"requested_amount": 200_000}})
            for i in range(start, start + n)]


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(u) as s:
        s.append(_items("2024", 3) + _items("2025", 2, start=3), operator="batch")
    return u


def test_verify_ok(url: str) -> None:
    res = runner.invoke(app, ["audit", "verify", "--store", url])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("OK: 5 records, chain intact")


def test_a_mistyped_head_is_not_reported_as_tampering(url: str) -> None:
    """`--expect-head abc` said BROKEN (records removed from the end), exit 1; it is the user's typo: exit 2."""
    res = runner.invoke(app, ["audit", "verify", "--store", url, "--expect-head", "abc"])
    assert res.exit_code == 2 and "BROKEN" not in res.output, res.output
    assert res.stderr.strip() == ("error: --expect-head 'abc': not a head hash (64 hexadecimal digits, as an earlier "
                                  "`agcredit audit verify` printed after 'hash')")
    head = runner.invoke(app, ["audit", "verify", "--store", url]).stdout.split("hash ")[-1].strip()
    ok = runner.invoke(app, ["audit", "verify", "--store", url, "--expect-head", head.upper()])
    assert ok.exit_code == 0 and ok.stdout.startswith("OK: 5 records"), ok.output
    gone = runner.invoke(app, ["audit", "verify", "--store", url, "--expect-head", "0" * 64])
    assert gone.exit_code == 1 and "BROKEN" in gone.stderr


def test_an_older_expected_head_says_how_many_records_came_after_it(url: str) -> None:
    """`--expect-head` with a head kept before later runs printed a plain OK, as if nothing had been appended: an
    auditor comparing with the head of last month could not tell. Now the line after OK says where that head is and
    how many records were appended since."""
    head = runner.invoke(app, ["audit", "verify", "--store", url]).stdout.split("hash ")[-1].strip()
    same = runner.invoke(app, ["audit", "verify", "--store", url, "--expect-head", head])
    assert same.exit_code == 0 and same.stdout.splitlines()[1] == ("the expected head is record 5: it is still the "
                                                                   "head (nothing appended since)"), same.output
    with DecisionStore(url) as s:
        s.append(_items("2026", 3, start=5), operator="batch")
    later = runner.invoke(app, ["audit", "verify", "--store", url, "--expect-head", head])
    assert later.exit_code == 0 and later.stdout.startswith("OK: 8 records"), later.output
    assert later.stdout.splitlines()[1] == "the expected head is record 5: 3 record(s) appended since (seq 6-8)"
    plain = runner.invoke(app, ["audit", "verify", "--store", url])
    assert len(plain.stdout.strip().splitlines()) == 1  # without --expect-head: the one OK line, as before


def test_verify_warns_of_forked_chains(url: str) -> None:
    """A second first record of an application, chained properly around the API's refusal (as stores written
    before it hold them): OK, and a warning naming the application."""
    from underwriting._store_schema import decisions
    from underwriting.store import record_id_for

    item = _items("2024", 1, start=1)[0]
    item = DecisionItem(**{**item.__dict__, "idempotency_key": "k1-other-inputs"})
    with DecisionStore(url) as s:
        head = s.verify()
        assert head.head_seq is not None
        row = DecisionStore._row(item, record_id_for(item.idempotency_key), head.head_seq + 1, head.head_hash, "old")
        with s._write() as conn:
            conn.execute(sa.insert(decisions), [row])
    res = runner.invoke(app, ["audit", "verify", "--store", url])
    assert res.exit_code == 0 and res.stdout.startswith("OK: 6 records, chain intact")
    assert res.stderr.startswith("warning: 1 application(s) have forked records (two records start their chain or "
                                 "replace the same record; written before underwrite refused it): APP1; ")


def test_verify_uses_the_environment(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGCREDIT_STORE_URL", url)
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 0 and "OK: 5 records" in res.stdout


def test_verify_names_the_tampered_record(url: str) -> None:
    with DecisionStore(url) as s:
        rid = s.records().set_index("seq").loc[4, "record_id"]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER agc_decisions_no_update")
        conn.exec_driver_sql('UPDATE agc_decisions SET "limit" = 1 WHERE seq = 4')
    engine.dispose()
    res = runner.invoke(app, ["audit", "verify", "--store", url])
    assert res.exit_code == 1
    assert res.stderr.strip() == (f"BROKEN: record 4 ({rid}): record_hash does not match the record's contents; "
                                  "3 records before it verified")


#: what `decisions export` adds after "wrote N records to OUT": the date the lines were judged on and whence
JUDGED_2025 = ("; lines judged season 2025 as of 2025-05-01 (its latest record's date: a decision of APP4) — --as-of "
               "D for another date")
JUDGED_BOTH = ("; lines judged season 2024 as of 2024-05-01 (its latest record's date: a decision of APP2); season "
               "2025 as of 2025-05-01 (its latest record's date: a decision of APP4) — --as-of D for another date")


@pytest.mark.parametrize("name, extra", [("out.csv", []), ("out.parquet", []), ("out.data", ["--format", "csv"])])
def test_export(url: str, tmp_path: Path, name: str, extra: list[str]) -> None:
    out = tmp_path / name
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out), "--season", "2025", *extra])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == f"wrote 2 records to {out}{JUDGED_2025}"
    df = pd.read_parquet(out) if name.endswith(".parquet") else pd.read_csv(out, dtype={"season": "str"})
    check_decisions(df)
    assert df["application_id"].tolist() == ["APP3", "APP4"] and set(df["season"]) == {"2025"}


def test_export_as_of_reads_the_store_on_that_date(url: str, tmp_path: Path) -> None:
    """`decisions export --as-of D` (new: the export judged a Book line's standing on no date, counting a line matured
    months before at its Book limit): the records dated on or before D, as `report portfolio --as-of` reads them; a D
    before every record, or not a date, is one line, exit 2, nothing written. --help says the default."""
    out = tmp_path / "d.csv"
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out), "--as-of", "2024-06-01"])
    assert res.exit_code == 0, res.stderr
    assert pd.read_csv(out)["application_id"].tolist() == ["APP0", "APP1", "APP2"]  # 2025's records come later
    for day, msg in (("2025-13-01", "--as-of: expected an ISO date (YYYY-MM-DD), found '2025-13-01'"),
                     ("2025-04-30", f"{url}: none of the 2 record(s) of season 2025 is dated on or before --as-of "
                                    "2025-04-30 (the first is as of 2025-05-01)")):
        bad = tmp_path / f"{day}.csv"
        res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(bad), "--season", "2025",
                                  "--as-of", day])
        assert res.exit_code == 2 and res.stderr.strip() == f"error: {msg}", res.stderr
        assert not bad.exists()
    text = " ".join(runner.invoke(app, ["decisions", "export", "--help"], terminal_width=200).stdout.split())
    assert "Default: each season's latest record date" in text.replace("│ ", "").replace(" │", "")


BOOK_HEADER = "line_id,application_id,farmer_token,currency,limit,drawn,outstanding,start_date,maturity_date,crop,region\n"


def _book_row(line: str, app_id: str, tok: str, cur: str = "USD") -> str:
    return f"{line},{app_id},{tok},{cur},1000.00,0,0,2025-05-10,2026-03-01,maize,r1\n"


def test_export_links_records_through_the_book(url: str, tmp_path: Path) -> None:
    """`decisions export --book B`: a record naming no Book line (a new application's first decision) is linked to the
    one Book line of its application (`line_link` book); an application with several lines is `ambiguous`; the line
    says how many of each. Without --book the columns are there, empty where no body names a line."""
    book = tmp_path / "book.csv"
    book.write_text(BOOK_HEADER + _book_row("L3", "APP3", "tok3") + _book_row("L4a", "APP4", "tok4")
                    + _book_row("L4b", "APP4", "tok4"))
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out), "--season", "2025",
                              "--book", str(book)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (f"wrote 2 records to {out}, 1 linked to Book lines through the Book (1 ambiguous: "
                                  "several Book lines of one application, not linked)" + JUDGED_2025)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert df[["application_id", "line_id", "line_link"]].values.tolist() == [["APP3", "L3", "book"],
                                                                             ["APP4", "", "ambiguous"]]
    plain = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out), "--season", "2025"])
    assert plain.exit_code == 0 and plain.stdout.strip() == f"wrote 2 records to {out}{JUDGED_2025}"
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert df[["line_id", "line_link"]].values.tolist() == [["", ""], ["", ""]]


def test_export_says_a_book_of_another_currency(url: str, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text(BOOK_HEADER + _book_row("L3", "APP3", "tok3", "EUR"))
    out = tmp_path / "out.parquet"
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out), "--book", str(book)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (f"wrote 5 records to {out}, 0 linked to Book lines through the Book (0 ambiguous); "
                                  "1 whose application id is only on Book lines of another farmer token or currency, "
                                  "not linked; the Book's lines are in EUR, the records in USD" + JUDGED_BOTH)
    assert pd.read_parquet(out)["line_link"].isna().all()


@pytest.mark.parametrize("text, match", [
    (BOOK_HEADER.replace(",region", "") + "L3,APP3,tok3,USD,1000.00,0,0,2025-05-10,2026-03-01,maize\n", "region"),
    (BOOK_HEADER + _book_row("L3", "APP3", "tok3") + _book_row("L3", "APP4", "tok4"), "line_id"),
])
def test_export_refuses_a_bad_book_writing_nothing(url: str, tmp_path: Path, text: str, match: str) -> None:
    book = tmp_path / "book.csv"
    book.write_text(text)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out), "--book", str(book)])
    assert res.exit_code == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and match in res.stderr and "Traceback" not in res.output
    assert not out.exists()
    over = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(book), "--book", str(book)])
    assert over.exit_code == 2 and "is the --book file" in over.stderr and book.read_text() == text


def test_export_bad_format(url: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(tmp_path / "x.xlsx")])
    assert res.exit_code == 2
    assert res.stderr.strip().endswith("format 'xlsx' is not supported (expected csv or parquet)")
    assert not (tmp_path / "x.xlsx").exists()


def test_override_command(url: str) -> None:
    res = runner.invoke(app, ["override", "APP1", "--limit", "1100", "--reason", "visit", "--operator", "ana",
                              "--store", url])
    assert res.exit_code == 0, res.stderr
    assert " overrides D" in res.stdout and "REDUCE USD 1,000.01 -> REDUCE USD 1,100.00 by ana" in res.stdout
    with DecisionStore(url) as s:
        first = s.latest("APP1")
    assert first is not None and res.stdout.startswith(f"{first.record_id} overrides {first.supersedes}: ")
    # the same override again records nothing: it printed the same "overrides" line as if it wrote a new record
    again = runner.invoke(app, ["override", "APP1", "--limit", "1100", "--reason", "visit", "--operator", "ana",
                                "--store", url])
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == (f"already recorded: {first.record_id} is this same override of {first.supersedes}"
                                    " (REDUCE USD 1,000.01 -> REDUCE USD 1,100.00 by ana); nothing written")
    with DecisionStore(url) as s:
        assert s.count() == 6 and s.latest("APP1") == first
    res = runner.invoke(app, ["override", "APP2", "--limit", "2000", "--reason", "visit", "--operator", "ana",
                              "--store", url])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "needs --approver" in res.stderr
    res = runner.invoke(app, ["override", "APP2", "--limit", "2000", "--reason", "visit", "--operator", "ana",
                              "--approver", "bob", "--store", url])
    assert res.exit_code == 0 and res.stdout.strip().endswith("-> APPROVE USD 2,000.00 by ana, approved by bob")
    with DecisionStore(url) as s:
        assert s.count() == 7 and s.verify().ok


def test_override_command_stored_meanwhile_by_another_run(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same override stored by another run after this one read the store: nothing written, and said so (the
    command compared the record returned with the head it had read itself, and printed "overrides" as if it wrote
    it); it now asks the library (record_override) whether the record was written."""
    args = ["override", "APP1", "--limit", "1100", "--reason", "visit", "--operator", "ana", "--store", url]
    assert runner.invoke(app, args).exit_code == 0
    with DecisionStore(url) as s:
        first = s.latest("APP1")
        assert first is not None and first.supersedes is not None
        stale = s.get(first.supersedes)
        assert stale is not None
        n = s.count()
    monkeypatch.setattr(DecisionStore, "latest", lambda self, application_id, as_of=None: stale)  # read before
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"already recorded: {first.record_id} is this same override of {stale.record_id}")
    monkeypatch.undo()
    with DecisionStore(url) as s:
        assert s.count() == n and s.latest("APP1") == first and s.verify().ok


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("args", [["audit", "verify"], ["decisions", "export", "--out", "x.csv"],
                                  ["override", "A", "--limit", "1", "--reason", "r", "--operator", "o"]])
@pytest.mark.parametrize("bad", ["nonsense", "sqlite:////no-such-folder/x/d.db", "postgresql+psycopg2://u@127.0.0.1:{port}/db"])
def test_bad_or_unreachable_store(args: list[str], bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*args, "--store", bad.format(port=_closed_port())])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: decision store ") and res.stderr.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()


def test_export_creates_a_missing_folder(url: str, tmp_path: Path) -> None:
    """`decisions export --out a/b/x.csv` refused a missing folder where `features build --out`, `report --out` and
    the other --out options create theirs: it is created (and the file written into it), as theirs are."""
    out = tmp_path / "new" / "sub" / "out.csv"
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"wrote 5 records to {out}{JUDGED_BOTH}"
    assert len(pd.read_csv(out)) == 5


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_export_checks_the_out_path_before_reading_the_store(url: str, tmp_path: Path, where: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An --out that cannot be written (a regular file where its folder should be, a folder at its path) is refused
    before the store is opened: one line naming it, exit 2, nothing written."""
    import underwriting.store

    def opened(*_a: object, **_k: object) -> None:
        raise AssertionError("the store was read before --out was checked")

    (tmp_path / "afile").write_text("x")
    (tmp_path / "dir.csv").mkdir()
    out = tmp_path / "afile" / "out.csv" if where == "under-a-file" else tmp_path / "dir.csv"
    monkeypatch.setattr(underwriting.store, "DecisionStore", opened)
    res = runner.invoke(app, ["decisions", "export", "--store", url, "--out", str(out)])
    assert res.exit_code == 2 and res.stdout == "" and "Traceback" not in res.output, res.output
    assert res.stderr.strip() == (f"error: {out}: cannot write the decisions export there ({tmp_path / 'afile'} is a "
                                  "file, expected a folder)" if where == "under-a-file" else
                                  f"error: {out}: the decisions export is a folder (expected a file path)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "d.db", "dir.csv"]
    assert (tmp_path / "afile").read_text() == "x" and not any((tmp_path / "dir.csv").iterdir())


def test_verify_says_a_changed_registration_makes_writers_refuse_the_version(tmp_path: Path) -> None:
    """A policy registration edited in the metadata: verify said writers "register it again" — true of a removed
    registration only; one that differs from the records makes writers refuse the version (a review, 2026-12-07)."""
    u = f"sqlite:///{tmp_path / 'p.db'}"
    items = [DecisionItem(**{**i.__dict__, "body": {**i.body, "policy": {"id": "p", "version": "1",
                                                                          "content_hash": "a" * 64}}})
             for i in _items("2024", 2)]
    with DecisionStore(u) as s:
        s.append(items, operator="batch")
        with s._write() as conn:
            conn.execute(sa.text("UPDATE agc_meta SET value = :v WHERE key LIKE 'policy:%'"), {"v": "c" * 64})
    res = runner.invoke(app, ["audit", "verify", "--store", u])
    assert res.exit_code == 0 and "registered as content cccccccccccc…, its records name aaaaaaaaaaaa…" in res.stderr
    assert "writers refuse that version until the registration names the content its records name" in res.stderr
    assert "registers it again" not in res.stderr
