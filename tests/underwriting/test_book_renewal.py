"""A dated Book's balance history across a renewal under the same ``line_id``: a new application, season and start
date on the line's later rows; the row in force on a date (its latest ``balance_as_of`` on or before it) gives the
line's terms and balance — the reader, :func:`underwriting.book.book_as_of`, and the consumers reading through it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import ContractError, UserInputError
from underwriting.applications import read_book
from underwriting.book import book_as_of

HEAD = ("line_id,application_id,national_id,farmer_name,currency,limit,drawn,outstanding,start_date,maturity_date,"
        "crop,region,season,balance_as_of")
PII = ("Ramesh", "Kumar", "ID-1", "ID-2")


def _row(line: str, app: str, season: str, start: str, maturity: str, when: str, out: str = "100",
         nid: str = "ID-1") -> str:
    return (f"{line},{app},{nid},Ramesh Kumar,INR,50000,{out},{out},{start},{maturity},maize,in-smallholder,{season},"
            f"{when}")


#: L1 financed 2008 on A2008-1 (matured 2009-03-01), renewed for 2009 on A2009-1 from 2009-05-01; L2 a 2009 line
RENEWAL = [
    _row("L1", "A2008-1", "2008", "2008-05-01", "2009-03-01", "2008-05-01", "0"),
    _row("L1", "A2008-1", "2008", "2008-05-01", "2009-03-01", "2008-09-01", "300"),
    _row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-05-01", "0"),
    _row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-08-01", "200"),
    _row("L2", "A2009-2", "2009", "2009-05-10", "2010-03-01", "2009-05-10", "50", nid="ID-2"),
]


def _write(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "book.csv"
    p.write_text("\n".join([HEAD, *rows]) + "\n")
    return p


def test_a_renewal_under_the_same_line_id_is_read_and_the_term_of_the_day_taken(tmp_path: Path) -> None:
    """Was refused: 'column application_id: expected the same value on every row of a line'."""
    b = read_book(_write(tmp_path, RENEWAL))
    assert len(b) == 5
    terms = {}
    for day in ("2008-10-01", "2009-04-01", "2009-06-01", "2009-09-01"):
        got = book_as_of(b, date.fromisoformat(day))
        assert got is not None
        r = got.set_index("line_id").loc["L1"]
        terms[day] = (r["application_id"], r["season"], str(r["start_date"].date()), int(r["outstanding"]))
    assert terms == {"2008-10-01": ("A2008-1", "2008", "2008-05-01", 30_000),
                     "2009-04-01": ("A2008-1", "2008", "2008-05-01", 30_000),  # matured, not yet renewed
                     "2009-06-01": ("A2009-1", "2009", "2009-05-01", 0),
                     "2009-09-01": ("A2009-1", "2009", "2009-05-01", 20_000)}


@pytest.mark.parametrize(("rows", "match"), [
    # the same line and date twice, with different terms
    (RENEWAL[:2] + [_row("L1", "A2009-1", "2009", "2008-09-01", "2010-03-01", "2008-09-01")],
     r"^book.csv: column 'line_id\+balance_as_of': expected one row per line and date \(a line's terms and balances "
     r"of a day are one row's\), found a line dated twice at L1 \(line 3\), L1 \(line 4\) \(2 in all\)$"),
    # a row dated before its own start date (a renewal's balance dated in the earlier term)
    (RENEWAL[:2] + [_row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-02-01")],
     r"^book.csv: column 'balance_as_of': expected dates on or after the row's own start_date \(a renewal's rows are "
     r"dated from its new start date\), found earlier dates at L1 \(line 4\) \(1 in all\)$"),
    # the earlier term coming back after the renewal
    (RENEWAL[:4] + [_row("L1", "A2008-1", "2008", "2008-05-01", "2009-03-01", "2009-09-01")],
     r"^book.csv: column 'start_date': expected a line's start date never earlier than on its previous balance_as_of "
     r"\(a renewal starts the line anew; an earlier term does not come back\), found an earlier start after a later "
     r"one at L1 \(line 6\) \(1 in all\)$"),
    # the farmer is the line's: not changed by a renewal
    (RENEWAL[:2] + [_row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-05-01", nid="ID-2")],
     r"^book.csv: column 'farmer_token': expected the same value on every row of a line .*at L1 \(line 2\), L1 "
     r"\(line 3\), L1 \(line 4\) \(3 in all\)$"),
])
def test_contradicting_rows_are_refused_in_one_line_naming_the_line_and_row(tmp_path: Path, rows: list[str],
                                                                            match: str) -> None:
    with pytest.raises(ContractError, match=match) as e:
        read_book(_write(tmp_path, rows))
    assert "\n" not in str(e.value)
    for pii in PII:
        assert pii not in str(e.value)


def test_a_renewed_line_open_on_the_day_without_a_balance_of_its_new_term_is_refused(tmp_path: Path) -> None:
    """The earlier term matured before the day and the new one's first balance is dated after it: taking the matured
    row would leave an open line out of the run (as a line with every balance later, refused naming it)."""
    rows = [RENEWAL[0], RENEWAL[1], _row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-06-01")]
    b = read_book(_write(tmp_path, rows))
    with pytest.raises(UserInputError, match=r"^Book: 1 line\(s\) open on 2009-05-15 are renewed .*dated after it.*"
                                             r": L1 \(1 in all\)$"):
        book_as_of(b, date(2009, 5, 15))
    named = book_as_of(b, date(2009, 5, 15), refuse=False)  # a reader naming lines (monitor): the term open that day
    assert named is not None and list(named["application_id"]) == ["A2009-1"]
    assert list(book_as_of(b, date(2009, 4, 1))["application_id"]) == ["A2008-1"]  # type: ignore[index]


def test_a_line_renewed_before_its_earlier_term_matured_is_refused_until_its_new_term_has_a_balance(
        tmp_path: Path) -> None:
    """Was valued on the earlier term's limit and balance (a walkthrough: a line renewed from 2009-11-01 while its
    earlier term ran to 2010-03-23, re-decided on 2010-01-10 at the old limit and balance, its first new-term balance
    dated 2010-01-20): the term in force on the day is the new one, whose balance the run needs."""
    early = [_row("L1", "A2008-1", "2008", "2008-05-01", "2009-08-01", "2008-05-01", "0"),
             _row("L1", "A2008-1", "2008", "2008-05-01", "2009-08-01", "2008-09-01", "300"),
             _row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-06-01", "100")]
    b = read_book(_write(tmp_path, early))
    with pytest.raises(UserInputError, match=r"^Book: 1 line\(s\) open on 2009-05-15 are renewed \(a new term under "
                                             r"the same line id, started on or before it\) .*: L1 \(1 in all\)$"):
        book_as_of(b, date(2009, 5, 15))  # the earlier term runs to 2009-08-01, the new one began on 2009-05-01
    got = book_as_of(b, date(2009, 6, 1))  # the new term's first balance: its terms
    assert got is not None and list(got["application_id"]) == ["A2009-1"]
    assert list(book_as_of(b, date(2009, 4, 30))["application_id"]) == ["A2008-1"]  # type: ignore[index]


# --- consumers ---------------------------------------------------------------------------------------------------

def test_reunderwrite_selects_the_lines_open_on_the_day_on_their_terms_of_the_day(tmp_path: Path) -> None:
    from pipelines.reunderwrite import active_lines

    b = read_book(_write(tmp_path, RENEWAL))
    day = date(2009, 9, 1)
    lines = active_lines(book_as_of(b, day), day, "2009")  # type: ignore[arg-type]
    assert list(lines["line_id"]) == ["L1", "L2"] and list(lines["application_id"]) == ["A2009-1", "A2009-2"]
    assert list(lines["outstanding"]) == [20_000, 5_000]
    assert active_lines(book_as_of(b, day), day, "2008").empty  # type: ignore[arg-type]  # L1's old term is not open


def test_active_lines_read_the_terms_of_the_day_from_every_row(tmp_path: Path) -> None:
    """``monitor --store`` (:func:`pipelines.reunderwrite.book_with_decided`) selected the active lines from every
    Book row: a line's later balance of the same term, and a renewed line's rows, gave it several rows."""
    from pipelines.reunderwrite import active_lines

    b = read_book(_write(tmp_path, RENEWAL))
    lines = active_lines(b, date(2009, 6, 1), "2009")
    assert list(lines["line_id"]) == ["L1", "L2"] and list(lines["outstanding"]) == [0, 5_000]
    assert list(lines["application_id"]) == ["A2009-1", "A2009-2"]
    assert active_lines(b, date(2009, 4, 1), "2008").empty  # L1's 2008 term matured, its renewal not begun


def test_due_reads_the_seasons_the_lines_finance_on_the_day(tmp_path: Path) -> None:
    from pipelines.reunderwrite import booked_seasons

    b = read_book(_write(tmp_path, RENEWAL), not_after=date(2009, 9, 1))
    assert sorted(booked_seasons(b, date(2009, 9, 1))) == ["2009", "2009"]  # not L1's earlier season 2008
    assert booked_seasons(b, date(2008, 10, 1)) == ["2008"]
    assert booked_seasons(b.drop(columns="season"), date(2009, 9, 1)) == []


def test_files_run_profile_reads_the_lines_of_the_day(tmp_path: Path) -> None:
    from pipelines.reunderwrite import files_profile
    from underwriting.policy import default_policy

    b = read_book(_write(tmp_path, RENEWAL))
    apps = pd.DataFrame({"season": ["2009"], "currency": ["INR"]})
    pol = default_policy()
    day = date(2009, 9, 1)
    assert files_profile(pol, apps, b, "2009", day) == files_profile(pol, apps, b.iloc[0:0], "2009", day)


def test_monitor_names_a_renewed_line_once_and_not_a_line_not_yet_opened(tmp_path: Path) -> None:
    from pipelines.monitor import farmers_lines

    b = read_book(_write(tmp_path, RENEWAL))
    one, two = (b.loc[b["line_id"] == x, "farmer_token"].iloc[0] for x in ("L1", "L2"))
    assert farmers_lines(b, date(2009, 5, 5)) == {one: "L1"}  # L2 opens 2009-05-10: not named before
    assert farmers_lines(b, date(2009, 9, 1)) == {one: "L1", two: "L2"}
    early = read_book(_write(tmp_path, [RENEWAL[0], RENEWAL[1],
                                        _row("L1", "A2009-1", "2009", "2009-05-01", "2010-03-01", "2009-06-01")]))
    assert farmers_lines(early, date(2009, 5, 15)) == {one: "L1"}  # open, no balance yet: named, not refused
    assert farmers_lines(None, date(2009, 5, 15)) == {}
