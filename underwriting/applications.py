"""Readers for Applications and the Book (CSV or Parquet).

Files hold money in major units (``12500.50``) in the row's ``currency``; the
readers convert every amount to integer minor units exactly, turn personal
identifiers (name, national ID, phone) into ``farmer_token`` with a keyed HMAC and
drop them, and check the contract. Nothing downstream sees an identifier.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features._table_text import OTHER_BOMS, not_utf8_problem, without_trailing_empty_rows
from features.contracts import check_season
from features.errors import (
    ContractError,
    UserInputError,
    file_rows,
    id_key,
    refuse_empty_cells,
    refuse_unprintable_cells,
    remember_csv,
)
from features.fields import check_known_crops, normalise_crop
from features.identity import (
    identifiers_hidden,
    ids_naming_farmers,
    name_words,
    row_name_words,
    rows_holding_identifiers,
    table_identifiers,
    tokenise,
)
from models.errors import MoneyError
from models.money import check_currency, to_minor
from underwriting.contracts import APPLICATIONS, BOOK, check_applications, check_book
from underwriting.errors import ApplicationsError

__all__ = ["read_applications", "read_book", "read_table", "APPLICATION_MONEY", "BOOK_MONEY"]

APPLICATION_MONEY = ("requested_amount", "existing_debt", "debt_due_this_cycle", "other_income", "living_costs",
                     "unfinanced_costs", "prior_liens_on_crop", "contract_price_per_t", "insurance_guarantee")
BOOK_MONEY = ("limit", "drawn", "outstanding")


def read_table(path: str | Path, *, allow_no_rows: bool = False) -> pd.DataFrame:
    """Read a CSV (all columns as text) or Parquet table; empty or unreadable files are one-line errors (a CSV not in
    UTF-8: the line of its first other byte), and so is a table with a header but no rows unless ``allow_no_rows`` (a
    Book with no active line). A CSV's last rows with every cell empty (a spreadsheet's formatted rows below the
    table) are dropped: the others keep their line numbers."""
    p = Path(path)
    if not p.exists():
        raise ApplicationsError(source=str(p), problem="a link to nothing (its target is missing, or it links back "
                                "to itself)" if p.is_symlink() else "file not found")
    if p.is_dir() and p.suffix.lower() not in (".parquet", ".pq"):  # a Parquet dataset may be a folder
        raise ApplicationsError(source=str(p), problem="is a folder (expected a CSV or Parquet file)")
    if p.stat().st_size == 0:
        raise ApplicationsError(source=p.name, problem="file is empty")
    ext = p.suffix.lower()
    if ext == ".csv":
        _refuse_other_text(p)
    try:
        if ext == ".csv":
            df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
            remember_csv(p)
        elif ext in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            raise ApplicationsError(source=p.name, problem=f"unsupported format '{ext}' (expected .csv or .parquet)")
    except UserInputError:
        raise
    except Exception as e:  # pandas raises many kinds for malformed files
        if isinstance(e, UnicodeDecodeError) and ext == ".csv":
            raise _not_utf8(p) from None
        reason = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise ApplicationsError(source=p.name, problem=f"cannot be read ({reason})") from None
    if ext == ".csv":
        df = without_trailing_empty_rows(df)
    if len(df) == 0 and not allow_no_rows:
        raise ApplicationsError(source=p.name, problem="no rows")
    df.columns = [str(c).strip() for c in df.columns]
    if ext == ".csv" and len(df.columns) == 1:
        for sep, name in ((";", "';'"), ("\t", "tabs")):
            if sep in df.columns[0]:
                raise ApplicationsError(source=p.name, problem=f"the columns are separated by {name} (expected a "
                                        "comma-separated CSV: save it with commas, and '.' as the decimal mark)")
    return df


def _not_utf8(p: Path) -> ApplicationsError:
    """A CSV with a byte that is not UTF-8 (:func:`features._table_text.not_utf8_problem`)."""
    return ApplicationsError(source=p.name, problem=not_utf8_problem(p))


def _refuse_other_text(p: Path) -> None:
    """A CSV saved as UTF-16 or UTF-32 ("Unicode text" in spreadsheets), or a zip or gzip file named .csv (an
    .xlsx workbook is a zip): one line saying what it is and how to save it, not the decoder's byte offsets."""
    with open(p, "rb") as f:
        head = f.read(4)
    for bom, name in OTHER_BOMS.items():
        if head.startswith(bom):
            raise ApplicationsError(source=p.name, problem=f"is {name} text (expected a UTF-8 CSV: save it as "
                                    "'CSV UTF-8 (comma delimited)')")
    if head.startswith(b"PK\x03\x04"):
        raise ApplicationsError(source=p.name, problem="is a zip file, not a CSV (an Excel workbook? save the "
                                "sheet as 'CSV UTF-8 (comma delimited)')")
    if head.startswith(b"\x1f\x8b"):
        raise ApplicationsError(source=p.name, problem="is gzip-compressed, not a CSV (uncompress it first)")


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``values`` as naive ``datetime64[ns]`` days (same index) and a positional mask of the cells that are not a
    strict ``YYYY-MM-DD`` day: empty, a month or year alone (``2009-10``), a time of day, a time zone (``Z``,
    ``+05:30``; in text or a zoned Parquet column), or no such day. Never raises on a cell's value."""
    text: list[str | None] = []
    for v in values.tolist():
        if v is None or v is pd.NaT:  # an empty Parquet cell (NaT is a datetime whose .time() raises)
            text.append(None)
        elif isinstance(v, datetime):  # Parquet timestamps (pd.Timestamp is one): a day at midnight, with no zone
            ok = v.tzinfo is None and v.time() == time(0)
            text.append(v.date().isoformat() if ok else None)
        elif isinstance(v, date):
            text.append(v.isoformat())
        elif isinstance(v, str) and _ISO_DAY.fullmatch(v.strip()):
            text.append(v.strip())
        else:
            text.append(None)
    d = pd.to_datetime(pd.Series(text, index=values.index, dtype="object"), errors="coerce", format="%Y-%m-%d")
    return d.astype("datetime64[ns]"), d.isna().to_numpy()


def _money(df: pd.DataFrame, cols: tuple[str, ...], source: str, key: str) -> pd.DataFrame:
    out = df.copy()
    cur = [check_currency(c, where=f"{source}: currency of {k}") for c, k in zip(df["currency"], df[key], strict=True)]
    out["currency"] = pd.Series(cur, index=df.index, dtype="str")
    for col in cols:
        if col not in df.columns:
            continue
        vals: list[object] = []
        for v, c, k in zip(df[col], cur, df[key], strict=True):
            if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA or (isinstance(v, str) and not v.strip()):
                vals.append(pd.NA)
                continue
            try:
                vals.append(to_minor(v, c, where=f"{source}: {col} of {k}"))
            except MoneyError:
                raise
        out[col] = pd.array(vals, dtype="Int64")
        if out[col].notna().all():
            out[col] = out[col].astype("int64")
    return out


def _ints(df: pd.DataFrame, cols: tuple[str, ...], source: str, key: str) -> pd.DataFrame:
    out = df.copy()
    for col in cols:
        if col not in df.columns:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() & df[col].notna()
        if bad.any() or (num.dropna() % 1 != 0).any():
            raise ContractError(table=source, column=col, expected="whole numbers", found="other values",
                                offenders=list(df.loc[bad | (num % 1 != 0), key]))
        out[col] = num.astype("int64") if num.notna().all() else num.astype("Int64")
    return out


def _strings(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    out = df.copy()
    for col in cols:
        if col in out.columns:
            out[col] = out[col].map(lambda v: None if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v))
                                    else str(v).strip()).astype("str")
    return out


def _require(df: pd.DataFrame, spec_names: list[str], source: str) -> None:
    missing = [c for c in spec_names if c not in df.columns]
    if missing:
        raise ContractError(table=source, column=missing[0], expected="column present",
                            found="missing" + (f" (also missing: {', '.join(missing[1:])})" if missing[1:] else ""))


def _refuse_personal_ids(raw: pd.DataFrame, source: str, column: str) -> None:
    """Ids are kept in the permanent records: one that is a farmer's name, ID or phone number (of this table), or
    any phone/ID number or e-mail address, is refused, named by its row only."""
    from underwriting._pii_text import number_or_email

    if column not in raw.columns:
        return
    rows = set(rows_holding_identifiers(raw, column))
    rows |= {i for i, v in enumerate(raw[column]) if v is not None and not (isinstance(v, float) and pd.isna(v))
             and number_or_email(v)}
    if rows:
        raise ContractError(table=source, column=column, expected="a reference (not a farmer's name, ID or phone "
                            "number: ids are kept in the permanent records)", found="personal data",
                            offenders=file_rows(source, sorted(rows)))


def applicant_identifiers(path: str | Path) -> tuple[set[str], dict[str, frozenset[str]]]:
    """The applications file's personal identifiers, whole (:func:`features.identity.table_identifiers`), and each
    farmer token's name words (:func:`features.identity.row_name_words`), read again as the file is (never kept: a
    run checks the other files' ids against them and forgets them)."""
    raw = read_table(Path(path), allow_no_rows=True)
    words: dict[str, frozenset[str]] = {}
    if len(raw) and "farmer_name" in raw.columns:
        toks = tokenise(raw, source=Path(path).name)["farmer_token"].astype(str)
        for t, w in zip(toks, row_name_words(raw), strict=True):
            words[t] = words.get(t, frozenset()) | w
    return table_identifiers(raw), words


def refuse_ids_naming_applicants(identifiers: tuple[set[str], dict[str, frozenset[str]]], table: pd.DataFrame | None,
                                 *, source: str, columns: tuple[str, ...]) -> None:
    """A Book or fields file has no names (or not the applicants'): an id of ``table`` holding an applicant's name,
    ID or phone, or one word of its own farmer's name (``identifiers``: :func:`applicant_identifiers`; the row's
    farmer by its token), would be kept in the permanent records — refused in one line naming the column and the
    farmer tokens of its rows, never the id."""
    whole, words = identifiers
    if table is None or not len(table) or not (whole or words):
        return
    own = ([words.get(str(t), frozenset()) for t in table["farmer_token"]] if "farmer_token" in table.columns
           else None)
    for col in columns:
        if col not in table.columns:
            continue
        rows = ids_naming_farmers(table[col], whole, own)
        if rows:
            who = sorted({str(t) for t in table["farmer_token"].iloc[rows]}) if "farmer_token" in table.columns else []
            raise ContractError(table=source, column=col, expected="a reference (not a farmer's name, ID or phone "
                                "number, nor a word of the farmer's name: ids are kept in the permanent records)",
                                found=f"personal data in {len(rows)} row(s) (not shown), of farmer token(s)",
                                offenders=who or [f"{len(rows)} row(s)"])


def _refuse_case_twins(df: pd.DataFrame, column: str, source: str) -> None:
    """Ids differing only in case ("A-001", "a-001") are most likely one application or line typed twice: refused,
    naming the spellings (exact duplicates are left to the table's unique-key check)."""
    ids = df[column].astype(str)
    folded = ids.map(id_key)  # case, and full-width characters as their usual ones
    twins = folded.duplicated(keep=False) & ~ids.duplicated(keep=False)
    if twins.any():
        raise ContractError(table=source, column=column, expected="ids that differ in more than case or character width",
                            found="ids differing only in case or character width (one typed twice?)",
                            offenders=sorted(set(ids[twins])))


def read_applications(path: str | Path) -> pd.DataFrame:
    """Read applications (CSV or Parquet) into the Applications contract."""
    p = Path(path)
    raw = read_table(p)
    with identifiers_hidden(raw):  # a message never repeats a name, ID or phone typed into another column
        _refuse_personal_ids(raw, p.name, "application_id")
        return _applications(tokenise(raw, source=p.name), p, hidden=name_words(raw))


def _applications(df: pd.DataFrame, p: Path, *, hidden: frozenset[str] = frozenset()) -> pd.DataFrame:
    _require(df, [c.name for c in APPLICATIONS.columns if c.required], p.name)
    refuse_empty_cells(df, ("application_id", "season"), p.name)
    df = _strings(df, ["application_id", "farmer_token", "season", "currency", "contract_crop"])
    refuse_unprintable_cells(df, ("application_id",), p.name)  # kept in the records, shown in one-line messages
    _refuse_case_twins(df, "application_id", p.name)
    if "contract_crop" in df.columns:
        check_known_crops(df["contract_crop"], source=p.name, column="contract_crop", rows=df["application_id"],
                          hidden=hidden)
        # "Maize" is maize: the contract price applies only when it equals the valued crop's name
        df["contract_crop"] = df["contract_crop"].map(normalise_crop).astype("str")
    for s in df["season"].unique():
        check_season(s, where=p.name)
    df = _money(df, APPLICATION_MONEY, p.name, "application_id")
    df = _ints(df, ("requested_term_days",), p.name, "application_id")
    keep = [c.name for c in APPLICATIONS.columns if c.name in df.columns]
    out = df[keep].sort_values("application_id", kind="stable").reset_index(drop=True)
    return check_applications(out, where=p.name)


def read_book(path: str | Path, *, not_after: date | None = None) -> pd.DataFrame:
    """Read the Book of active lines (CSV or Parquet) into the Book contract (a header without rows: a Book with no
    active line). With ``balance_as_of`` (optional; :mod:`underwriting.book`) every row is dated and a line may have
    several rows (its balance history): each refusal names the file's rows and the column — an empty or unparsable
    date, a line and date given twice, a row dated before its own start date, a line's start date going back along
    its history, a line's own column (``LINE_COLUMNS``) differing between its rows (its terms, ``TERM_COLUMNS``, may
    change at a renewal), and with ``not_after`` (a run on today's date) a balance dated after that day. The rows are kept (sorted by line and
    date); :func:`underwriting.book.book_as_of` takes a run's."""
    p = Path(path)
    raw = read_table(p, allow_no_rows=True)
    with identifiers_hidden(raw):
        for col in ("line_id", "application_id"):
            _refuse_personal_ids(raw, p.name, col)
        return _book(tokenise(raw, source=p.name), p, hidden=name_words(raw), not_after=not_after)


def _balance_dates(df: pd.DataFrame, source: str, not_after: date | None) -> pd.DataFrame:
    """``balance_as_of`` parsed and checked (see :func:`read_book`); ``df`` in file order (its rows' positions)."""
    from underwriting.book import BALANCE_DATE, LINE_COLUMNS

    refuse_empty_cells(df, (BALANCE_DATE,), source)
    d, bad = _iso_dates(df[BALANCE_DATE])
    if bad.any():
        raise ContractError(table=source, column=BALANCE_DATE, expected="ISO dates (YYYY-MM-DD)",
                            found="other values", offenders=file_rows(source, [int(i) for i in bad.nonzero()[0]]))
    lines = df["line_id"].astype(str).to_numpy()

    def where(mask: Any) -> list[str]:  # "L7 (line 5)": the line and the file's row, never a cell's value
        pos = [int(i) for i in mask.nonzero()[0]]
        return [f"{lines[i]} ({r})" for i, r in zip(pos, file_rows(source, pos), strict=True)]

    twice = pd.DataFrame({"line": lines, "d": d.to_numpy()}).duplicated(keep=False).to_numpy()
    if twice.any():
        raise ContractError(table=source, column=f"line_id+{BALANCE_DATE}", expected="one row per line and date (a "
                            "line's terms and balances of a day are one row's)", found="a line dated twice",
                            offenders=where(twice))
    early = (d < pd.to_datetime(df["start_date"])).to_numpy()
    if early.any():
        raise ContractError(table=source, column=BALANCE_DATE, expected="dates on or after the row's own start_date "
                            "(a renewal's rows are dated from its new start date)", found="earlier dates",
                            offenders=where(early))
    order = pd.DataFrame({"line": lines, "d": d.to_numpy(), "start": pd.to_datetime(df["start_date"]).to_numpy(),
                          "pos": range(len(df))}).sort_values(["line", "d"], kind="stable")
    back = order["start"] < order.groupby("line", sort=False)["start"].cummax()
    if back.any():
        mask = pd.Series(False, index=range(len(df)))
        mask[order.loc[back, "pos"].to_numpy()] = True
        raise ContractError(table=source, column="start_date", expected="a line's start date never earlier than on "
                            f"its previous {BALANCE_DATE} (a renewal starts the line anew; an earlier term does not come "
                            "back)", found="an earlier start after a later one", offenders=where(mask.to_numpy()))
    if not_after is not None:
        late = (d > pd.Timestamp(not_after)).to_numpy()
        if late.any():
            raise ContractError(table=source, column=BALANCE_DATE,
                                expected=f"balances dated on or before {not_after} (a run on today's date: a balance "
                                         "of a day to come cannot be known)", found="later dates",
                                offenders=file_rows(source, list(late.nonzero()[0])))
    # the line's own columns: one value per line (a history row of another line mistyped?); its terms (TERM_COLUMNS:
    # application, season, start date) may change at a renewal under the same line id
    for col in LINE_COLUMNS:
        if col not in df.columns:
            continue
        n = df[col].astype(str).groupby(df["line_id"].to_numpy()).transform("nunique").to_numpy()
        if (n > 1).any():
            raise ContractError(table=source, column=col, expected="the same value on every row of a line (the "
                                f"balances change with {BALANCE_DATE}, the application, season and start date at a "
                                "renewal)", found="different values on one line's rows", offenders=where(n > 1))
    out = df.copy()
    out[BALANCE_DATE] = d.to_numpy()
    return out


def _book(df: pd.DataFrame, p: Path, *, hidden: frozenset[str] = frozenset(),
          not_after: date | None = None) -> pd.DataFrame:
    _require(df, [c.name for c in BOOK.columns if c.required], p.name)
    refuse_empty_cells(df, ("line_id",), p.name)
    df = _strings(df, ["line_id", "application_id", "farmer_token", "currency", "crop", "region", "season"])
    refuse_unprintable_cells(df, ("line_id", "application_id"), p.name)
    _refuse_case_twins(df, "line_id", p.name)
    check_known_crops(df["crop"], source=p.name, column="crop", rows=df["line_id"], hidden=hidden)
    df["crop"] = df["crop"].map(normalise_crop).astype("str")  # "Cotton " is cotton, as in the fields
    df = _money(df, BOOK_MONEY, p.name, "line_id")
    for col in ("start_date", "maturity_date"):
        d, bad = _iso_dates(df[col])
        if bad.any():
            raise ContractError(table=p.name, column=col, expected="ISO dates (YYYY-MM-DD)", found="other values",
                                offenders=list(df["line_id"].to_numpy()[bad]))
        df[col] = d
    if "balance_as_of" in df.columns:  # after the line's dates: its own columns compared as the contract reads them
        df = _balance_dates(df.reset_index(drop=True), p.name, not_after)
    keep = [c.name for c in BOOK.columns if c.name in df.columns]
    order = ["line_id", "balance_as_of"] if "balance_as_of" in df.columns else "line_id"
    out = df[keep].sort_values(order, kind="stable").reset_index(drop=True)
    return check_book(out, where=p.name)
