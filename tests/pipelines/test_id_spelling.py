"""One bank's files naming the same farmers with identifiers written differently — leading zeros a spreadsheet
dropped, a phone with and without its country code — or derived from different identifier columns: refused in
one line naming application or line ids (a walkthrough found such farmers decided with no fields, renewals not
linked to their Book lines and alerts naming no line, all with exit 0 and no word)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import UserInputError
from features.identity import tokenise
from pipelines._id_spelling import refuse_ids_written_otherwise
from tests.pipelines.test_bad_input_l11 import KEY, SEASON, _invoke, _user_error, county  # noqa: F401


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)


def _apps(ids: list[str], column: str = "national_id") -> pd.DataFrame:
    return tokenise(pd.DataFrame({"application_id": [f"A{i}" for i in range(len(ids))], column: ids,
                                  "season": [SEASON] * len(ids)}), source="apps.csv")


def test_identifiers_written_otherwise_are_refused_and_others_pass() -> None:
    apps = _apps(["0000 0271 8677", "0000 0436 1748", "5550001"])
    fields = _apps(["2718677", "0000 0436 1748"])  # Excel dropped the first farmer's zeros; the third has no field
    with pytest.raises(UserInputError, match=r"^apps.csv: 1 farmer\(s\) of season 2009's applications have no field "
                                             r"in fields file but are farmers of it once leading zeros .*\(applications"
                                             r" A0\): ") as e:
        refuse_ids_written_otherwise(season=SEASON, applications=apps, fields=fields, applications_source="apps.csv")
    assert "2718677" not in str(e.value) and "8677" not in str(e.value)
    refuse_ids_written_otherwise(season=SEASON, applications=apps, fields=_apps(["0000 0271 8677", "9999999"]))
    phones = _apps(["+91-00000-18677", "+91 98765 43210"], "phone")
    with pytest.raises(UserInputError, match=r"applications A1\)"):
        refuse_ids_written_otherwise(season=SEASON, applications=phones, fields=_apps(["+91-00000-18677",
                                                                                       "098765 43210"], "phone"))


def test_a_book_written_otherwise_or_on_another_identifier_column_is_refused() -> None:
    apps = _apps(["0000 0271 8677", "0000 0436 1748"])
    book = tokenise(pd.DataFrame({"line_id": ["L1", "L2", "L3"], "national_id": ["2718677", "0000 0436 1748", "77"]}),
                    source="book.csv")
    with pytest.raises(UserInputError, match=r"^book.csv: 1 farmer\(s\) of the Book's season 2009 are no farmer of "
                                             r"apps.csv's season 2009 .*\(lines L1\)"):
        refuse_ids_written_otherwise(season=SEASON, applications=apps, book=book, applications_source="apps.csv",
                                     book_source="book.csv")
    by_phone = _apps(["+91-00000-18677"], "phone")
    with pytest.raises(UserInputError, match=r"the Book's farmer tokens come from its 'national_id' column, "
                                             r"apps.csv's from 'phone'"):
        refuse_ids_written_otherwise(season=SEASON, applications=by_phone, book=book, applications_source="apps.csv",
                                     book_source="book.csv")
    # monitor: the Book against the fields
    with pytest.raises(UserInputError, match=r"no farmer of f.gpkg's season 2009 .*\(lines L1\)"):
        refuse_ids_written_otherwise(season=SEASON, fields=apps, book=book, fields_source="f.gpkg",
                                     book_source="book.csv")


def test_underwrite_refuses_applications_whose_ids_lost_their_zeros(county: Path, tmp_path: Path) -> None:  # noqa: F811
    apps = pd.read_csv(county / "records" / "applications.csv", dtype=str, keep_default_na=False)
    zeros = apps["national_id"].str.replace(" ", "").str.startswith("0")
    assert zeros.any()
    apps.loc[zeros, "national_id"] = apps.loc[zeros, "national_id"].str.replace(" ", "").str.lstrip("0")
    path = tmp_path / "apps.csv"
    apps.to_csv(path, index=False)
    store = tmp_path / "s.db"
    r = _invoke(["underwrite", "--season", SEASON, "--as-of", "2009-09-15", "--applications", str(path),
                 "--fields", str(county / "records" / "fields.gpkg"), "--imagery", str(county / "scenes"),
                 "--book", str(county / "records" / "book.csv"), "--store", f"sqlite:///{store}",
                 "--crop-model", "none", "--no-progress"])
    _user_error(r, "apps.csv: ", "once leading zeros or a phone's country code are ignored", "keep the column as text")
    assert not store.exists()


def test_reunderwrite_and_monitor_refuse_a_book_whose_ids_are_padded_with_zeros(county: Path, tmp_path: Path) -> None:  # noqa: F811
    from pipelines._reunderwrite_inputs import read_files_inputs

    book = pd.read_csv(county / "records" / "book.csv", dtype=str, keep_default_na=False)
    book["national_id"] = "00" + book["national_id"].str.replace(" ", "")  # zero-padded by the bank's system
    path = tmp_path / "bk.csv"
    book.to_csv(path, index=False)
    rec = county / "records"
    with pytest.raises(UserInputError, match=r"^bk.csv: \d+ farmer\(s\) of the Book's season 2009 are no farmer of "
                                             r"applications.csv's season 2009"):
        read_files_inputs(rec / "fields.gpkg", str(county / "scenes"), path, rec / "applications.csv", SEASON,
                          date(2009, 10, 25))
    r = _invoke(["monitor", "--as-of", "2009-10-25", "--fields", str(rec / "fields.gpkg"), "--imagery",
                 str(county / "scenes"), "--book", str(path), "--crop-model", "none"])
    _user_error(r, "bk.csv: ", "of the Book's season 2009 are no farmer of fields.gpkg's season 2009")


def test_part_of_an_applicants_fields_written_otherwise_is_refused() -> None:
    """A review: two of a farmer's five fields written without the ID's zeros — the farmer was decided on the other
    three (REFER → DECLINE), exit 0."""
    apps = _apps(["0000 0271 8677"])
    fields = tokenise(pd.DataFrame({"field_id": ["F1", "F2", "F3"], "national_id": ["0000 0271 8677", "2718677",
                                                                                    "0000 0271 8677"],
                                    "season": [SEASON] * 3}), source="f.gpkg")
    with pytest.raises(UserInputError, match=r"^f.gpkg: 1 farmer\(s\) of season 2009's fields are no applicant of "
                                             r"apps.csv .*\(fields F2; the applicant would be decided on part of"):
        refuse_ids_written_otherwise(season=SEASON, applications=apps, fields=fields, applications_source="apps.csv",
                                     fields_source="f.gpkg")


def test_an_earlier_seasons_line_or_application_written_otherwise_blocks_nothing() -> None:
    """A review: a matured 2007 Book line, or a 2008 application, written before a bank's migration (without the
    ID's zeros) refused every run of 2009."""
    apps = tokenise(pd.DataFrame({"application_id": ["A1", "A0"], "national_id": ["0000 0271 8677", "9629892"],
                                  "season": [SEASON, "2008"]}), source="apps.csv")
    book = tokenise(pd.DataFrame({"line_id": ["L1", "L2007", "L29"],
                                  "national_id": ["0000 0271 8677", "2718677", "0000 0962 9892"],
                                  "season": [SEASON, "2007", SEASON]}), source="book.csv")
    refuse_ids_written_otherwise(season=SEASON, applications=apps, fields=_apps(["0000 0271 8677"]), book=book)


def test_monitor_and_report_of_a_county_refuse_its_book_written_otherwise(county: Path, tmp_path: Path) -> None:  # noqa: F811
    """A review: the county forms of `monitor` and `report portfolio` (and the files form of the report) raised
    alerts naming no line, exit 0, where `monitor --fields --book` refused."""
    book = pd.read_csv(county / "records" / "book.csv", dtype=str, keep_default_na=False)
    book["national_id"] = "00" + book["national_id"].str.replace(" ", "")
    book.to_csv(county / "records" / "book.csv", index=False)
    r = _invoke(["monitor", "--as-of", "2009-10-25", "--county", str(county), "--crop-model", "none"])
    _user_error(r, "book.csv: ", "of the Book's season 2009 are no farmer of fields.gpkg's season 2009")
    out = tmp_path / "rep"
    r = _invoke(["report", "portfolio", "--county", str(county), "--as-of", "2009-10-25", "--store",
                 f"sqlite:///{tmp_path / 'none.db'}", "--out", str(out)])
    _user_error(r, "book.csv: ", "of the Book's season 2009 are no farmer of fields.gpkg's season 2009")
    assert not out.exists() or not any(out.iterdir())
