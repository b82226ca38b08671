"""``report portfolio|farmer --fields F --book B``: the files form reads a bank's Book as the county form reads its own."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.county import County
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore

DAY = "2009-10-01"
OTHER = "F" + "0" * 19 + "1"  #: a farmer of the Book with no field in the fields file and no record
PARAMS = {"keep_unvalued_lines": True, "kept_lines_stand": True, "refer_keeps_book_limit": True}  # 2026.12.8


def _item(app_id: str, token: str, outcome: str, limit: int, line: str, book_limit: int, matures: str,
          actions: list[str]) -> DecisionItem:
    """A first decision of 2009-08-01 renewing the Book line ``line`` (its record's maturity ``matures``)."""
    body = {"policy": {"parameters": PARAMS}, "outcome": outcome,
            "fields": [{"declared_crop": "rice", "declared_area_ha": 1.0, "region": "in-smallholder"}],
            "renewal": {"line_id": line, "book_limit": book_limit, "outstanding": 1_000_000, "drawn": 1_000_000,
                        "proposed_actions": actions, "line_maturity_date": matures}}
    return DecisionItem(idempotency_key=f"{app_id}|2009-08-01|decision", application_id=app_id, farmer_token=token,
                        season="2009", as_of="2009-08-01", outcome=outcome, limit=limit, currency="INR",
                        reason_codes=(), body=body, kind="decision")


@pytest.fixture(scope="module")
def booked(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny county (a copy) with a dated Book of four lines in records/book.csv and a store deciding three:
    L-0 (APPROVE 50,000; two balances, 2009-06-01 and after the page's date), L-1 (REFER: stands on its Book limit
    40,000 — its record says it matured 2009-09-01, the Book renews it under its id to 2010-03-01), L-2 (REFER,
    matured 2009-09-20 in the Book and its record: no limit stands, its FREEZE_UNDRAWN not proposed), L-3 (no
    decision, another farmer's) and L-4 (REFER: its record says it matures 2010-03-01, the Book that it matured 2009-09-25 — the Book's
    maturity is the line's, as the export reads it). On 2009-10-01 the exposure is 50,000 + 40,000."""
    os.environ["AGCREDIT_TOKEN_KEY"] = "test-token-key-0123456789"  # as the other module fixtures (conftest's key)
    tmp = tmp_path_factory.mktemp("report-book")
    county = tmp / "in-smallholder"
    shutil.copytree(tiny_county_sh, county)
    c = County(county)
    t = sorted(c.fields(c.current_season)["farmer_token"].unique())
    rows = [("L-0", "A0", t[0], "60000.00", "10000.00", "2010-03-01", "2009-06-01"),
            ("L-0", "A0", t[0], "60000.00", "30000.00", "2010-03-01", "2009-10-20"),
            ("L-1", "A1", t[1], "40000.00", "10000.00", "2010-03-01", "2009-06-01"),
            ("L-2", "A2", t[2], "30000.00", "10000.00", "2009-09-20", "2009-06-01"),
            ("L-3", "P3", OTHER, "20000.00", "5000.00", "2010-03-01", "2009-06-01"),
            ("L-4", "A4", t[3], "25000.00", "5000.00", "2009-09-25", "2009-06-01")]
    book = pd.DataFrame(rows, columns=["line_id", "application_id", "farmer_token", "limit", "outstanding",
                                       "maturity_date", "balance_as_of"])
    book = book.assign(currency="INR", drawn=book["outstanding"], start_date="2009-06-01", crop="rice",
                       region="in-smallholder", season="2009")
    book.to_csv(county / "records" / "book.csv", index=False)
    url = f"sqlite:///{tmp / 'decisions.db'}"
    with DecisionStore(url) as st:
        st.append([_item("A0", t[0], "APPROVE", 5_000_000, "L-0", 6_000_000, "2010-03-01", []),
                   _item("A1", t[1], "REFER", 0, "L-1", 4_000_000, "2009-09-01", []),
                   _item("A2", t[2], "REFER", 0, "L-2", 3_000_000, "2009-09-20", ["FREEZE_UNDRAWN"]),
                   _item("A4", t[3], "REFER", 0, "L-4", 2_500_000, "2010-03-01", ["REVIEW"])],
                  operator="underwriter")
    cache = tmp_path_factory.getbasetemp() / "tiny-county-series-cache"  # shared with the other tiny-county tests
    return {"county": county, "url": url, "tokens": t, "tmp": tmp, "cache": cache}


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _book_summary(html: str) -> str:
    return re.findall(r"<p class='sub'>Book: [^<]*</p>", html)[0]


def test_the_files_form_with_the_book_reads_it_as_the_county_form_and_the_export(booked: dict[str, Any]) -> None:
    """A bank reporting from its files could give no Book: the page had no Book summary nor lines without a
    decision, and its lines' maturities were their records' — L-1, renewed in the Book under its id, counted as
    matured: an exposure of 50,000 where the county form and `decisions export --as-of D --book B` stand at 90,000.
    With --book the files form reads the Book as the county form reads its own (a dated Book as of the page's date)."""
    c, tmp, url = booked["county"], booked["tmp"], booked["url"]
    common = ["--store", url, "--as-of", DAY]
    r = _run("report", "portfolio", "--county", str(c), "--cache", str(booked["cache"]), *common,
             "--csv", str(tmp / "cc"), "--out", str(tmp / "co"))
    assert r.exit_code == 0, r.stdout + r.stderr
    fields, book = str(c / "records" / "fields.gpkg"), str(c / "records" / "book.csv")
    r = _run("report", "portfolio", "--fields", fields, "--book", book, *common, "--csv", str(tmp / "fc"),
             "--out", str(tmp / "fo"))
    assert r.exit_code == 0, r.stdout + r.stderr
    county_ex = pd.read_csv(tmp / "cc" / "exposure-2009.csv")
    files_ex = pd.read_csv(tmp / "fc" / "exposure-2009.csv")
    pd.testing.assert_frame_equal(files_ex, county_ex)
    assert county_ex.iloc[-1]["crop"] == "total" and county_ex.iloc[-1]["limit"] == 9_000_000
    county_html = (tmp / "co" / "portfolio-2009.html").read_text()
    files_html = (tmp / "fo" / "portfolio-2009.html").read_text()
    # three lines active on the page's date (L-2 matured), L-0 at its balance of 2009-06-01; L-3 without a decision
    assert _book_summary(files_html) == _book_summary(county_html)
    assert "Book: 3 line(s) active on 2009-10-01, INR 120,000.00 of limits, INR 25,000.00 outstanding" in files_html
    assert ">L-3<" in files_html.split("<h2>Book lines without a decision")[1].split("<h2>")[0]
    for html in (county_html, files_html):  # the matured L-2 and L-4 propose nothing
        section = html.split("<h2>Proposed actions")[1].split("<h2>")[0]
        assert "L-2" not in section and "L-4" not in section
    assert pd.read_csv(tmp / "fc" / "actions-2009.csv").empty
    r = _run("decisions", "export", "--store", url, "--as-of", DAY, "--book", book, "--out", str(tmp / "ex.csv"))
    assert r.exit_code == 0, r.stdout + r.stderr
    ex = pd.read_csv(tmp / "ex.csv")
    assert int(ex.loc[ex["standing"], "standing_limit"].sum()) == 9_000_000
    # without the Book, L-1 and L-4 are judged by their records' maturities (L-1 matured, L-4 stands: 50,000 + 25,000)
    r = _run("report", "portfolio", "--fields", fields, *common, "--csv", str(tmp / "nc"), "--out", str(tmp / "no"))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert pd.read_csv(tmp / "nc" / "exposure-2009.csv").iloc[-1]["limit"] == 7_500_000
    # the farmer page reads it too: L-1 stands on its Book limit
    t1 = booked["tokens"][1]
    r = _run("report", "farmer", t1, "--fields", fields, "--book", book, *common, "--out", str(tmp / "ff"))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "the line stands on its Book limit INR 40,000.00" in (tmp / "ff" / f"farmer-{t1}.html").read_text()


@pytest.mark.parametrize("cmd", ["portfolio", "farmer"])
def test_the_book_is_refused_with_the_county_and_a_bad_book_writes_nothing(booked: dict[str, Any], tmp_path: Path,
                                                                          cmd: str) -> None:
    """--book beside --county (which reads its own records/book.csv), and a Book file in error: one line, exit 2,
    no page, no table, no rejects file."""
    c, url = booked["county"], booked["url"]
    who = [booked["tokens"][0]] if cmd == "farmer" else []
    book = c / "records" / "book.csv"
    r = _run("report", cmd, *who, "--county", str(c), "--book", str(book), "--store", url, "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "give either --county or --fields/--imagery/--book, not both" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "book.csv"
    rows = pd.read_csv(book, dtype=str)
    rows.loc[0, "balance_as_of"] = ""  # L-0's first row without its balance date
    rows.to_csv(bad, index=False)
    csv = ["--csv", str(tmp_path / "csv")] if cmd == "portfolio" else []
    r = _run("report", cmd, *who, "--fields", str(c / "records" / "fields.gpkg"), "--book", str(bad), "--store", url,
             "--as-of", DAY, "--rejects", str(tmp_path / "rej.csv"), *csv, "--out", str(tmp_path / "o"))
    assert r.exit_code == 2, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "book.csv" in r.stderr, r.stderr
    assert not any(tmp_path.glob("o/*")) and not (tmp_path / "csv").exists() and not (tmp_path / "rej.csv").exists()
