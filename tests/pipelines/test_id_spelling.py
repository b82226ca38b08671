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
    with pytest.raises(UserInputError, match=r"^book.csv: 1 farmer\(s\) of the Book are no farmer of apps.csv .*"
                                             r"\(lines L1\)"):
        refuse_ids_written_otherwise(season=SEASON, applications=apps, book=book, applications_source="apps.csv",
                                     book_source="book.csv")
    by_phone = _apps(["+91-00000-18677"], "phone")
    with pytest.raises(UserInputError, match=r"the Book's farmer tokens come from its 'national_id' column, "
                                             r"apps.csv's from 'phone'"):
        refuse_ids_written_otherwise(season=SEASON, applications=by_phone, book=book, applications_source="apps.csv",
                                     book_source="book.csv")
    # monitor: the Book against the fields
    with pytest.raises(UserInputError, match=r"no farmer of f.gpkg .*\(lines L1\)"):
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
    with pytest.raises(UserInputError, match=r"^bk.csv: \d+ farmer\(s\) of the Book are no farmer of applications.csv"):
        read_files_inputs(rec / "fields.gpkg", str(county / "scenes"), path, rec / "applications.csv", SEASON,
                          date(2009, 10, 25))
    r = _invoke(["monitor", "--as-of", "2009-10-25", "--fields", str(rec / "fields.gpkg"), "--imagery",
                 str(county / "scenes"), "--book", str(path), "--crop-model", "none"])
    _user_error(r, "bk.csv: ", "of the Book are no farmer of fields.gpkg")
