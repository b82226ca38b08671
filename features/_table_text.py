"""What a spreadsheet's CSV export brings besides the table: formatted empty rows below it, and a file saved in
Windows-1252 or Latin-1 (Excel's plain "CSV (comma delimited)") rather than UTF-8. Shared by the applications, Book
and balances tables (:func:`underwriting.applications.read_table`) and the farm records' yield history
(:func:`features._yield_history.read_yield_history`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["OTHER_BOMS", "not_utf8_problem", "without_trailing_empty_rows"]

#: byte-order marks of the text encodings a spreadsheet may save a "CSV" in, other than UTF-8's (read as UTF-8)
OTHER_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
              b"\xfe\xff": "UTF-16"}


def without_trailing_empty_rows(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without its last rows whose every cell is empty or blanks (``,,,,`` lines: the formatted but empty rows
    Excel saves below a table, refused as missing identifiers). Only at the end: a row dropped between others would
    shift the line numbers the messages give for the rows after it; a row with one cell filled is kept (and checked)."""
    def blank(v: object) -> bool:
        return v is None or (isinstance(v, float) and pd.isna(v)) or (isinstance(v, str) and not v.strip())

    n = len(df)
    while n and all(blank(v) for v in df.iloc[n - 1].tolist()):
        n -= 1
    return df if n == len(df) else df.iloc[:n].copy()


def not_utf8_problem(p: Path) -> str:
    """The problem of a CSV with a byte that is not UTF-8: the line holding the first one, never its text (it could
    be a farmer's name), and how to save the file."""
    data = p.read_bytes()
    for bom, name in OTHER_BOMS.items():  # "Unicode text" in a spreadsheet: not a Windows-1252 file
        if data.startswith(bom):
            return f"is {name} text (expected a UTF-8 CSV: save it as 'CSV UTF-8 (comma delimited)')"
    try:
        data.decode("utf-8")
        line = None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
    where = f": line {line} holds a character in another encoding" if line is not None else ""
    return (f"is not UTF-8 text{where} (a Windows-1252 or Latin-1 file?): save it as 'CSV UTF-8 (comma "
            "delimited)'")
