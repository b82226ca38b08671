"""CSV reading of the applications and the Book (``read_table``): a spreadsheet's empty rows below the table, and a
file saved in another encoding than UTF-8 (a bank-onboarding walkthrough)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.errors import UserInputError
from underwriting.applications import read_applications, read_book, read_table
from underwriting.errors import ApplicationsError

HEADER = ("application_id,national_id,farmer_name,phone,season,currency,requested_amount,requested_term_days,"
          "existing_debt,debt_due_this_cycle,other_income,living_costs,unfinanced_costs,prior_liens_on_crop")
ROWS = ["A1,ID-1001,Asha Devi,+91 98765 43210,2024,INR,50000.00,200,0,0,0,0,0,0",
        "A2,ID-1002,Ravi Kumar,+91 98765 43211,2024,INR,60000.00,200,0,0,0,0,0,0"]
EMPTY = "," * 13  # a row of 14 empty cells, as Excel saves its formatted rows below a table
BOOK = ("line_id,application_id,national_id,currency,limit,drawn,outstanding,start_date,maturity_date,crop,region\n"
        "L1,A1,ID-1,USD,50000,20000.25,20500,2024-04-01,2024-12-15,maize,us-nebraska\n")


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "a-test-key-of-16+chars")


def _write(tmp_path: Path, lines: list[str], eol: str = "\r\n", name: str = "apps.csv") -> Path:
    p = tmp_path / name
    p.write_bytes((eol.join(lines) + eol).encode("utf-8"))
    return p


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_trailing_rows_with_every_cell_empty_are_dropped(tmp_path: Path, eol: str) -> None:
    """They were refused as ``column 'national_id': expected an identifier on every row, found missing values at
    line 4, line 5``."""
    df = read_applications(_write(tmp_path, [HEADER, *ROWS, EMPTY, EMPTY, " , ,,,,,,,,,,,,"], eol))
    assert list(df["application_id"]) == ["A1", "A2"]
    assert len(read_table(_write(tmp_path, [HEADER, *ROWS, EMPTY]))) == 2
    book = _write(tmp_path, [*BOOK.splitlines(), ",,,,,,,,,,", ",,,,,,,,,,"], eol, name="book.csv")
    assert list(read_book(book)["line_id"]) == ["L1"]


def test_a_table_of_empty_rows_only_has_no_rows(tmp_path: Path) -> None:
    with pytest.raises(ApplicationsError, match=r"apps\.csv: no rows"):
        read_applications(_write(tmp_path, [HEADER, EMPTY, EMPTY]))
    assert len(read_book(_write(tmp_path, [BOOK.splitlines()[0], ",,,,,,,,,,"], name="book.csv"))) == 0


def test_a_row_with_a_cell_filled_or_an_empty_row_between_others_is_kept_and_named_by_its_line(tmp_path: Path) -> None:
    """Only the empty rows at the end go: the others keep the line numbers of the file."""
    with pytest.raises(UserInputError, match=r"column 'national_id': expected an identifier on every row, found "
                                             r"missing values at line 3 \(1 in all\)$"):
        read_applications(_write(tmp_path, [HEADER, ROWS[0], EMPTY, ROWS[1], EMPTY, EMPTY]))
    with pytest.raises(UserInputError, match=r"missing values at line 4 \(1 in all\)$"):
        read_applications(_write(tmp_path, [HEADER, *ROWS, EMPTY[:-1] + "0", EMPTY]))


@pytest.mark.parametrize(("encoding", "line"), [("cp1252", 3), ("latin-1", 2)])
def test_a_csv_in_another_encoding_says_its_line_and_how_to_save_it(tmp_path: Path, encoding: str, line: int) -> None:
    """It said ``cannot be read ('utf-8' codec can't decode byte 0xe9 in position 3: invalid continuation byte)``: a
    position in pandas' buffer, no line, no way out. The byte's text is never shown (it is most likely a name)."""
    rows = [HEADER, *ROWS]
    rows[line - 1] = rows[line - 1].replace("Devi" if line == 2 else "Ravi", "Désirée")
    p = tmp_path / "apps.csv"
    p.write_bytes(("\r\n".join(rows) + "\r\n").encode(encoding))
    with pytest.raises(ApplicationsError) as e:
        read_applications(p)
    msg = str(e.value)
    assert msg == (f"apps.csv: is not UTF-8 text: line {line} holds a character in another encoding (a Windows-1252 "
                   "or Latin-1 file?): save it as 'CSV UTF-8 (comma delimited)'")
    assert "\n" not in msg


def test_the_yield_history_reads_as_the_tables_do(tmp_path: Path) -> None:
    """The farm records' yield history has its own reader: Excel's trailing `,,,` rows were refused as seasons that
    are no year, and a Windows-1252 file quoted the codec's error; now as the applications' tables."""
    from features._yield_history import read_yield_history

    h = tmp_path / "history.csv"
    h.write_bytes(b"field_id,season,declared_crop,reported_yield_t_ha\r\nF1,2008,rice,3.1\r\nF2,2008,maize,2.0\r\n"
                  b",,,\r\n , ,,\r\n")
    assert list(read_yield_history(h)["field_id"]) == ["F1", "F2"]
    h.write_bytes(b"field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,rice,3.1\nF\xe92,2008,maize,2.0\n")
    with pytest.raises(UserInputError, match=r"^history.csv: yield history is not UTF-8 text: line 3 holds a "
                                             r"character in another encoding .*save it as 'CSV UTF-8"):
        read_yield_history(h)

    h.write_bytes("field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,rice,3.1\n".encode("utf-16"))
    with pytest.raises(UserInputError, match=r"^history.csv: yield history is UTF-16 text \(expected a UTF-8 CSV"):
        read_yield_history(h)
