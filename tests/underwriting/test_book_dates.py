"""Dated Book balances (``balance_as_of``): the reader's checks and a run's Book as of its date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import ContractError, UserInputError
from underwriting.applications import read_book
from underwriting.book import book_as_of

HEAD = "line_id,application_id,national_id,farmer_name,currency,limit,drawn,outstanding,start_date,maturity_date,crop,region"


def _row(line: str, app: str, nid: str, limit: str, drawn: str, out: str, start: str = "2009-06-01",
         when: str | None = None, name: str = "Ramesh Kumar") -> str:
    row = f"{line},{app},{nid},{name},INR,{limit},{drawn},{out},{start},2010-03-01,maize,in-smallholder"
    return row if when is None else f"{row},{when}"


def _write(tmp_path: Path, rows: list[str], *, dated: bool = True) -> Path:
    p = tmp_path / "book.csv"
    p.write_text("\n".join([HEAD + (",balance_as_of" if dated else ""), *rows]) + "\n")
    return p


def test_an_undated_book_is_read_and_taken_as_before(tmp_path: Path) -> None:
    p = _write(tmp_path, [_row("L1", "A1", "ID-1", "50000", "100", "120")], dated=False)
    b = read_book(p)
    assert "balance_as_of" not in b.columns
    assert book_as_of(b, date(2009, 7, 1)) is b  # the same frame: nothing changes without the column


def test_a_run_takes_each_lines_latest_balance_on_or_before_its_date(tmp_path: Path) -> None:
    p = _write(tmp_path, [
        _row("L1", "A1", "ID-1", "50000", "30000", "31000", when="2009-10-01"),
        _row("L1", "A1", "ID-1", "50000", "10000", "10500", when="2009-06-15"),
        _row("L1", "A1", "ID-1", "50000", "20000", "20800", when="2009-08-01"),
        _row("L2", "A2", "ID-2", "40000", "0", "0", start="2009-09-01", when="2009-09-01"),  # opened in September
    ])
    b = read_book(p)
    assert len(b) == 4 and list(b["balance_as_of"].dt.date.astype(str)) == [
        "2009-06-15", "2009-08-01", "2009-10-01", "2009-09-01"]  # by line and date
    june = book_as_of(b, date(2009, 7, 1))
    assert june is not None and list(june["line_id"]) == ["L1"]  # L2 not yet opened: not in the Book as of June
    assert int(june.loc[0, "outstanding"]) == 1_050_000 and str(june.loc[0, "balance_as_of"].date()) == "2009-06-15"
    aug = book_as_of(b, date(2009, 8, 1))  # a balance dated the run's day is the day's
    assert aug is not None and int(aug.loc[0, "outstanding"]) == 2_080_000
    late = book_as_of(b, date(2009, 12, 1))
    assert late is not None and list(late["line_id"]) == ["L1", "L2"] and int(late.loc[0, "outstanding"]) == 3_100_000
    assert book_as_of(late, date(2009, 12, 1)).equals(late)  # type: ignore[union-attr]  # twice: the same


def test_a_line_open_on_the_date_with_every_balance_later_is_refused_by_its_id(tmp_path: Path) -> None:
    p = _write(tmp_path, [
        _row("L1", "A1", "ID-1", "50000", "30000", "31000", when="2009-10-01"),
        _row("L2", "A2", "ID-2", "40000", "0", "0", when="2009-06-01"),
    ])
    b = read_book(p)
    assert list(book_as_of(b, date(2010, 6, 1))["line_id"]) == ["L1", "L2"]  # type: ignore[index]  # both matured
    with pytest.raises(UserInputError, match=r"^Book: 1 line\(s\) open on 2009-07-01 have every balance dated after "
                                             r"it \(column balance_as_of\): give each a balance dated on or before "
                                             r"2009-07-01 .*: L1 \(1 in all\)$") as e:
        book_as_of(b, date(2009, 7, 1))
    assert "\n" not in str(e.value) and "Ramesh" not in str(e.value) and "ID-1" not in str(e.value)


@pytest.mark.parametrize(("rows", "match"), [
    ([_row("L1", "A1", "ID-1", "50000", "1", "1", when="2009-06-15"),
      _row("L1", "A1", "ID-1", "50000", "2", "2", when="2009-06-15")],
     r"^book.csv: column 'line_id\+balance_as_of': expected one row per line and date \(a line's terms and balances "
     r"of a day are one row's\), found a line dated twice at L1 \(line 2\), L1 \(line 3\) \(2 in all\)$"),
    ([_row("L1", "A1", "ID-1", "50000", "1", "1", when="2009-06-15"),
      _row("L2", "A2", "ID-2", "50000", "2", "2", when="15/06/2009")],
     r"^book.csv: column 'balance_as_of': expected ISO dates \(YYYY-MM-DD\), found other values at line 3 \(1 in all\)$"),
    ([_row("L1", "A1", "ID-1", "50000", "1", "1", when="2009-06-15T10:30")],
     r"^book.csv: column 'balance_as_of': expected ISO dates \(YYYY-MM-DD\), found other values at line 2 \(1 in all\)$"),
    ([_row("L1", "A1", "ID-1", "50000", "1", "1", when="")],
     r"^book.csv: column 'balance_as_of': expected a value on every row, found empty cells at line 2 \(1 in all\)$"),
    ([_row("L1", "A1", "ID-1", "50000", "1", "1", when="2009-06-15"),
      _row("L1", "A1", "ID-9", "50000", "2", "2", when="2009-07-15", name="Sita Devi")],
     r"^book.csv: column 'farmer_token': expected the same value on every row of a line \(the balances change "
     r"with balance_as_of, the application, season and start date at a renewal\), found different values on one "
     r"line's rows at L1 \(line 2\), L1 \(line 3\) \(2 in all\)$"),
])
def test_a_bad_balance_date_is_refused_naming_row_and_column(tmp_path: Path, rows: list[str], match: str) -> None:
    with pytest.raises(ContractError, match=match) as e:
        read_book(_write(tmp_path, rows))
    for pii in ("Ramesh", "Sita", "ID-1", "ID-9"):
        assert pii not in str(e.value)


_ISO = r"expected ISO dates \(YYYY-MM-DD\), found other values at "


@pytest.mark.parametrize(("whens", "at"), [
    (["2009-09-01T00:00:00Z"], "line 2 \\(1 in all\\)"),  # a zone crashed (TypeError from astype)
    (["2009-09-01T00:00:00+05:30"], "line 2 \\(1 in all\\)"),
    (["2009-09-01", "2009-09-02T00:00:00Z", "2009-09-03T00:00:00+05:30"],  # a mix: "Mixed timezones detected"
     "line 3, line 4 \\(2 in all\\)"),
    (["2009-10"], "line 2 \\(1 in all\\)"),  # was 2009-10-01
    (["2009"], "line 2 \\(1 in all\\)"),  # was 2009-01-01
    (["2009-09-01 00:00"], "line 2 \\(1 in all\\)"),
    (["20090901"], "line 2 \\(1 in all\\)"),
])
def test_balance_as_of_is_a_strict_day_or_a_one_line_error(tmp_path: Path, whens: list[str], at: str) -> None:
    """Review H2/M2: a zoned balance_as_of crashed with a traceback and a month or year alone was taken as its first
    day: now only YYYY-MM-DD, the rest refused naming the rows and the column, never the value."""
    rows = [_row("L1", "A1", "ID-1", "50000", str(i), str(i), when=w) for i, w in enumerate(whens)]
    with pytest.raises(ContractError, match="^book.csv: column 'balance_as_of': " + _ISO + at + "$") as e:
        read_book(_write(tmp_path, rows))
    assert "\n" not in str(e.value) and all(w not in str(e.value) for w in whens)


@pytest.mark.parametrize("start", ["2009-06-01T00:00:00Z", "2009-06-01+05:30", "2009-06", "2009"])
def test_start_date_is_a_strict_day_or_a_one_line_error(tmp_path: Path, start: str) -> None:
    with pytest.raises(ContractError, match="^book.csv: column 'start_date': " + _ISO + "L1 \\(1 in all\\)$"):
        read_book(_write(tmp_path, [_row("L1", "A1", "ID-1", "50000", "1", "1", start=start)], dated=False))


def test_a_parquet_book_days_are_read_and_a_zoned_column_refused(tmp_path: Path) -> None:
    """Parquet timestamps at midnight with no zone are days; a zoned column is refused in one line."""
    p = tmp_path / "book.parquet"
    df = pd.DataFrame({"line_id": ["L1"], "application_id": ["A1"], "farmer_token": ["T1"], "currency": ["INR"],
                       "limit": ["50000"], "drawn": ["1"], "outstanding": ["1"],
                       "start_date": pd.to_datetime(["2009-06-01"]), "maturity_date": [date(2010, 3, 1)],
                       "crop": ["maize"], "region": ["in-smallholder"],
                       "balance_as_of": pd.to_datetime(["2009-06-15"])})
    df.to_parquet(p)
    b = read_book(p)
    assert str(b.loc[0, "balance_as_of"].date()) == "2009-06-15" and str(b.loc[0, "maturity_date"].date()) == "2010-03-01"
    df["balance_as_of"] = pd.to_datetime(["2009-06-15"]).tz_localize("UTC")
    df.to_parquet(p)
    with pytest.raises(ContractError, match="^book.parquet: column 'balance_as_of': " + _ISO + "row 1 \\(1 in all\\)$"):
        read_book(p)
    df["balance_as_of"] = pd.to_datetime(["2009-06-15"])
    df["start_date"] = pd.to_datetime([None])  # an empty Parquet date cell (NaT): a traceback before (review R2)
    df.to_parquet(p)
    with pytest.raises(ContractError, match="^book.parquet: column 'start_date': " + _ISO + "L1 \\(1 in all\\)$"):
        read_book(p)


def test_a_balance_dated_after_a_run_on_today_is_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, [_row("L1", "A1", "ID-1", "50000", "1", "1", when="2009-06-15"),
                          _row("L1", "A1", "ID-1", "50000", "2", "2", when="2019-07-15")])
    assert len(read_book(p)) == 2  # a past run's Book: later balances are its history
    with pytest.raises(ContractError, match=r"^book.csv: column 'balance_as_of': expected balances dated on or before "
                                            r"2009-09-01 \(a run on today's date: a balance of a day to come cannot "
                                            r"be known\), found later dates at line 3 \(1 in all\)$"):
        read_book(p, not_after=date(2009, 9, 1))


def test_decided_lines_added_to_a_dated_book_are_taken_as_they_are() -> None:
    b = pd.DataFrame({"line_id": ["L1", "L1", "D-A2", "L0"],
                      "start_date": pd.to_datetime(["2009-06-01"] * 3 + ["2008-06-01"]),
                      "maturity_date": pd.to_datetime(["2010-03-01"] * 3 + ["2009-03-01"]),
                      "outstanding": [1, 2, 0, 5],
                      "balance_as_of": pd.to_datetime(["2009-06-15", "2009-08-01", None, "2009-08-01"])})
    out = book_as_of(b, date(2009, 7, 1))  # L0 matured in March, its one balance later: left out, not refused
    assert out is not None and list(out["line_id"]) == ["D-A2", "L1"] and list(out["outstanding"]) == [0, 1]


def test_book_as_of_any_row_order_index_and_a_zoned_day() -> None:
    """Review L1/L2: the later balances were not sorted before taking a line's first (a frame not from read_book:
    the result hung on the row order), rows were matched by index label (duplicate labels broke it), and a zoned
    as_of could not be compared with the days."""
    b = pd.DataFrame({"line_id": ["L1", "L1", "L2", "L2", "D-A3"],
                      "start_date": pd.to_datetime(["2009-06-01"] * 5),
                      "maturity_date": pd.to_datetime(["2009-06-20", "2010-03-01", "2010-03-01", "2010-03-01",
                                                       "2010-03-01"]),
                      "outstanding": [9, 7, 1, 2, 0],
                      "balance_as_of": pd.to_datetime(["2009-09-01", "2009-08-01", "2009-06-15", "2009-06-20",
                                                       None])}, index=[0, 0, 1, 1, 1])
    # L1: its first balance after 2009-07-01 (2009-08-01) has it open on the day — refused whatever the row order
    for frame in (b, b.iloc[::-1]):
        with pytest.raises(UserInputError, match=r"1 line\(s\) open on 2009-07-01 .*: L1 \(1 in all\)$"):
            book_as_of(frame, date(2009, 7, 1))
    ok = b[b["line_id"] != "L1"]
    for frame in (ok, ok.iloc[::-1]):
        for day in (date(2009, 7, 1), pd.Timestamp("2009-07-01T23:30:00+05:30"), "2009-07-01"):
            out = book_as_of(frame, day)
            assert out is not None and list(out["line_id"]) == ["D-A3", "L2"] and list(out["outstanding"]) == [0, 2]


def test_the_dates_of_a_run_are_checked_at_once(tmp_path: Path) -> None:
    """:func:`underwriting.book.refuse_undated_open_lines`: every date a run will take, refused once naming the dates
    that fail and their lines; one date: book_as_of's own message; dates that all have balances: nothing."""
    from underwriting.book import refuse_undated_open_lines

    b = read_book(_write(tmp_path, [_row("L1", "A1", "ID-1", "50000", "100", "120", when="2009-07-01"),
                                     _row("L2", "A2", "ID-2", "50000", "100", "120", start="2009-06-20",
                                          when="2009-06-25")]))
    refuse_undated_open_lines(b, [date(2009, 7, 1), date(2009, 8, 1)])
    refuse_undated_open_lines(b.drop(columns="balance_as_of"), [date(2009, 6, 2)])
    with pytest.raises(UserInputError) as one:
        refuse_undated_open_lines(b, [date(2009, 6, 10), date(2009, 7, 1)])
    with pytest.raises(UserInputError) as alone:
        book_as_of(b, date(2009, 6, 10))
    assert str(one.value) == str(alone.value)
    with pytest.raises(UserInputError, match=r"^Book: 2 line\(s\) open on checkpoint date\(s\) 2009-06-10, "
                                             r"2009-06-22 have every balance .*nothing run: L1, L2 \(2 in all\)$"):
        refuse_undated_open_lines(b, [date(2009, 6, 22), date(2009, 6, 10), date(2009, 7, 1)])


# --- underwriting.standing: which decision a line stands on, and whether its Book line has matured -------------

def _rec(rid: str, outcome: str, kind: str = "decision", *, sup: str | None = None, kept: bool = False,
         params: dict | None = None, line: str = "L1", limit: int = 0) -> object:
    from types import SimpleNamespace
    body: dict = {"policy": {"parameters": dict(params or {})}}
    if kind == "reunderwrite":
        body["reunderwrite"] = {"line_id": line, "not_reestimated": kept}
    return SimpleNamespace(record_id=rid, outcome=outcome, kind=kind, supersedes=sup, body=body, limit=limit)


def test_a_line_stands_on_its_maturity_date_and_matures_the_day_after() -> None:
    from underwriting.standing import line_matured
    body = {"reunderwrite": {"line_id": "L1", "line_maturity_date": "2025-06-30"}}
    assert line_matured(body, "2025-06-30") is None  # still stands on its maturity date
    assert line_matured(body, "2025-06-29") is None
    assert line_matured(body, "2025-07-01") == "2025-06-30"
    assert line_matured(body, date(2025, 7, 1)) == "2025-06-30"
    assert line_matured(body, "2025-07-01T09:00:00") == "2025-06-30"
    # the Book's maturity (a line renewed under its id) wins over the block's
    assert line_matured(body, "2025-07-01", {"L1": "2025-09-30"}) is None
    assert line_matured(body, "2025-10-01", {"L1": "2025-09-30"}) == "2025-09-30"
    assert line_matured(body, "2025-07-01", {"OTHER": "2025-09-30"}) == "2025-06-30"
    # a first decision's renewal block names the line too; no block, no maturity: not matured
    assert line_matured({"renewal": {"line_id": "L2", "line_maturity_date": "2025-03-31"}}, "2025-04-01") == "2025-03-31"
    assert line_matured({}, "2030-01-01") is None
    assert line_matured({"reunderwrite": {"line_id": "L1"}}, "2030-01-01") is None


def test_book_maturities_takes_each_lines_latest_row() -> None:
    from underwriting.standing import book_maturities
    book = pd.DataFrame({"line_id": ["L1", "L1", "L2", "L1"],
                         "maturity_date": ["2025-09-30", "2025-06-30", "2026-01-15", "2025-03-31"]})
    assert book_maturities(book) == {"L1": "2025-09-30", "L2": "2026-01-15"}
    assert book_maturities(None) == {}
    assert book_maturities(book.iloc[0:0]) == {}
    assert book_maturities(book[["line_id"]]) == {}


def test_a_kept_record_is_a_reunderwriting_that_re_estimated_nothing() -> None:
    import json

    from underwriting.standing import kept_body
    kept = {"reunderwrite": {"not_reestimated": True}}
    assert kept_body("reunderwrite", kept) is True
    assert kept_body("reunderwrite", json.dumps(kept)) is True
    assert kept_body("decision", kept) is False
    assert kept_body("reunderwrite", {"reunderwrite": {"not_reestimated": False}}) is False
    assert kept_body("reunderwrite", None) is False


def test_only_a_book_lines_refer_or_decline_skips_to_its_book_limit() -> None:
    from underwriting.standing import skips_to_book
    on = {"policy": {"parameters": {"refer_keeps_book_limit": True}}}
    assert skips_to_book(on, "L1", "REFER", "reunderwrite") is True
    assert skips_to_book(on, "L1", "DECLINE", "decision") is True
    assert skips_to_book(on, "L1", "APPROVE", "reunderwrite") is False  # a granting decision stands
    assert skips_to_book(on, "L1", "REDUCE", "reunderwrite") is False
    assert skips_to_book(on, "L1", "DECLINE", "override") is False  # an analyst's override is a decision in force
    assert skips_to_book(on, "D-7", "REFER", "reunderwrite") is False  # a decided line was opened by its record
    assert skips_to_book(on, "", "REFER", "reunderwrite") is False  # no Book line
    assert skips_to_book(on, None, "REFER", "reunderwrite") is False
    assert skips_to_book({}, "L1", "REFER", "reunderwrite") is False  # earlier policies: the REFER stands


def test_standing_walks_back_past_kept_records_and_refers_to_an_override() -> None:
    from underwriting.standing import override_behind, standing_of, stands_behind
    a = _rec("A", "APPROVE", limit=500)
    k1 = _rec("K1", "REFER", "reunderwrite", sup="A", kept=True)
    k2 = _rec("K2", "REFER", "reunderwrite", sup="K1", kept=True)
    lone = _rec("K0", "REFER", "reunderwrite", kept=True)
    get = {r.record_id: r for r in (a, k1, k2, lone)}.get
    assert standing_of(k2, get) is a and standing_of(k1, get) is a and standing_of(a, get) is a
    assert standing_of(lone, get) is None  # every record of its chain kept: the Book line
    # an override behind REFERs and kept records is what the line stands on; a granting decision first: the Book
    o = _rec("O", "DECLINE", "override")
    r1 = _rec("R1", "REFER", "reunderwrite", sup="O")
    kr = _rec("KR", "REFER", "reunderwrite", sup="R1", kept=True)
    g = _rec("G", "APPROVE", "reunderwrite", sup="O")
    r2 = _rec("R2", "DECLINE", "reunderwrite", sup="G")
    r3 = _rec("R3", "REFER", "reunderwrite")
    get2 = {r.record_id: r for r in (o, r1, kr, g, r2, r3)}.get
    assert override_behind(r1, get2) is o and override_behind(kr, get2) is o
    assert override_behind(r2, get2) is None and override_behind(r3, get2) is None
    assert override_behind(r1, None) is None
    d = _rec("D", "DECLINE", "reunderwrite", sup="O")  # a DECLINE granted nothing either: walked over
    assert override_behind(d, {"O": o}.get) is o
    on = {"policy": {"parameters": {"refer_keeps_book_limit": True}}}
    assert stands_behind(on, "L1", r1, get2) is o
    assert stands_behind(on, "L1", r2, get2) is None  # the Book limit stands
    assert stands_behind(on, "L1", g, get2) is g
    assert stands_behind({}, "L1", r1, get2) is r1  # earlier policies: the REFER stands
    assert stands_behind(on, "D-1", r1, get2) is r1
    assert stands_behind(on, "L1", None, get2) is None


def _rows(*recs: object) -> pd.DataFrame:
    import json
    return pd.DataFrame([{"record_id": r.record_id, "supersedes": r.supersedes, "kind": r.kind, "outcome": r.outcome,
                          "body": json.dumps(r.body)} for r in recs])


def test_standing_ids_and_line_standing_of_a_stores_rows() -> None:
    from underwriting.standing import line_standing, standing_ids
    stand = {"kept_lines_stand": True}
    both = {"kept_lines_stand": True, "refer_keeps_book_limit": True}
    a = _rec("A", "APPROVE", "reunderwrite", limit=500)
    k = _rec("K", "REFER", "reunderwrite", sup="A", kept=True, params=stand)
    assert standing_ids(_rows(a, k)) == {"K": "A"}
    assert line_standing(_rows(a, k)) == {"K": ("A", None)}
    old = _rec("K", "REFER", "reunderwrite", sup="A", kept=True)  # an earlier policy's kept record stands as it is
    assert standing_ids(_rows(a, old)) == {} and line_standing(_rows(a, old)) == {}
    lone = _rec("K0", "REFER", "reunderwrite", kept=True, params=stand)
    assert standing_ids(_rows(lone)) == {"K0": None} and line_standing(_rows(lone)) == {"K0": (None, None)}
    # refer_keeps_book_limit: a kept line on a REFER, and a new REFER, stand on the Book limit past that REFER
    r = _rec("R", "REFER", "reunderwrite")
    kb = _rec("KB", "REFER", "reunderwrite", sup="R", kept=True, params=both)
    assert line_standing(_rows(r, kb)) == {"KB": (None, "R")}
    nr = _rec("NR", "DECLINE", "reunderwrite", sup="A", params=both)
    assert line_standing(_rows(a, nr)) == {"NR": (None, "NR")}
    # an override behind the REFER is what the line stands on
    o = _rec("O", "DECLINE", "override")
    r2 = _rec("R2", "REFER", "reunderwrite", sup="O", params=both)
    assert line_standing(_rows(o, r2)) == {"R2": ("O", None)}
    # a current record that decided stands on itself: not listed
    g = _rec("G", "APPROVE", "reunderwrite", sup="A", params=both)
    assert line_standing(_rows(a, g)) == {} and standing_ids(_rows(a, g)) == {}


def test_standing_of_rows_lists_current_records_only_and_needs_its_columns() -> None:
    from underwriting.standing import line_standing, standing_ids
    both = {"kept_lines_stand": True, "refer_keeps_book_limit": True}
    a = _rec("A", "APPROVE", "reunderwrite", limit=500)
    k = _rec("K", "REFER", "reunderwrite", sup="A", kept=True, params=both)
    # records superseded by a later one are not current: neither the kept K nor the REFER R is listed
    k2 = _rec("K2", "REFER", "reunderwrite", sup="K", kept=True, params=both)
    r = _rec("R", "REFER", "reunderwrite", params=both)
    g = _rec("G", "APPROVE", "reunderwrite", sup="R", params=both)
    assert standing_ids(_rows(a, k, k2)) == {"K2": "A"}
    assert line_standing(_rows(a, k, k2)) == {"K2": ("A", None)}
    assert line_standing(_rows(r, g)) == {}
    # no rows, or not the store's columns: nothing; without outcomes the kept lines only
    assert standing_ids(pd.DataFrame()) == {} and line_standing(pd.DataFrame()) == {}
    assert standing_ids(_rows(a, k).drop(columns=["body"])) == {}
    assert line_standing(_rows(a, k).drop(columns=["outcome"])) == {"K": ("A", None)}
    # exactly the columns standing_ids reads are enough
    assert standing_ids(_rows(a, k).drop(columns=["outcome"])) == {"K": "A"}
    # an earlier policy's kept record (no kept_lines_stand) stands as it is, even under refer_keeps_book_limit
    ko = _rec("KO", "REFER", "reunderwrite", kept=True, params={"refer_keeps_book_limit": True})
    assert line_standing(_rows(ko)) == {}


def test_line_standing_reads_bodies_given_as_dicts() -> None:
    from underwriting.standing import line_standing
    both = {"kept_lines_stand": True, "refer_keeps_book_limit": True}
    r = _rec("R", "REFER", "reunderwrite")
    kb = _rec("KB", "REFER", "reunderwrite", sup="R", kept=True, params=both)
    rows = _rows(r, kb)
    rows["body"] = [r.body, kb.body]
    assert line_standing(rows) == {"KB": (None, "R")}


def test_a_maturity_or_day_with_a_time_is_judged_by_its_day() -> None:
    from underwriting.standing import line_matured
    body = {"reunderwrite": {"line_id": "L1", "line_maturity_date": "2025-06-30T00:00:00"}}
    assert line_matured(body, "2025-07-01") == "2025-06-30"
    assert line_matured(body, "2025-06-30T23:59:59") is None  # on its maturity day it still stands
    assert line_matured({"reunderwrite": {"line_id": "L1", "line_maturity_date": "2025-06-30"}},
                        "2025-06-30T09:00:00") is None
