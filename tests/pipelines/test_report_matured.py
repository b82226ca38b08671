"""The portfolio page's proposed actions and exposure at risk leave out a Book line matured before the page's date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.report import render_portfolio
from tests.pipelines.test_report import _book
from tests.pipelines.test_report_manager import _matured_l3


def _matured_with_actions() -> Any:
    """:func:`tests.pipelines.test_report_manager._matured_l3` (2024-09-01; A3's Book line L-3, farmer Fc, matured on
    2024-07-15) with its REFER re-underwritten on 2024-07-10 proposing FREEZE_UNDRAWN and REVIEW (Book limit 52,000,
    40,000 outstanding), and a high-severity alert open on Fc's field f3 and on Fb's f2 (A2: REDUCE, its actions)."""
    data = _matured_l3()
    recs = data.decisions.copy()
    b = json.loads(recs.loc[2, "body"])
    blk = b.pop("renewal")
    blk.update(proposed_actions=["FREEZE_UNDRAWN", "REVIEW"], previous_limit=5_200_000)
    b["reunderwrite"] = blk
    recs.loc[2, "body"] = json.dumps(b)
    recs.loc[2, "kind"], recs.loc[2, "as_of"] = "reunderwrite", "2024-07-10"
    data.decisions = recs
    data.alerts = pd.DataFrame({"field_id": ["f2", "f3"], "alert": ["CROP_FAILURE"] * 2, "severity": ["high"] * 2,
                                "date": [pd.Timestamp("2024-08-20")] * 2, "evidence": ["{}", "{}"]})
    return data


def test_a_matured_line_is_left_out_of_the_proposed_actions_and_the_exposure_at_risk(tmp_path: Path) -> None:
    """A walkthrough (2009-12-20, L2009-00011 matured 2009-10-20): the page said the matured line was not in the
    exposure, yet listed its FREEZE_UNDRAWN and REVIEW in the actions table and actions-2009.csv, and counted its
    balance in "line(s) with proposed actions" — INR 1,536,000 outstanding at risk beside 1,525,000 in the whole
    exposure. A line matured before the page's date (its Book's latest maturity, else its record's) is left out of
    them, and the page says how many."""
    data = _matured_with_actions()
    html = render_portfolio(data, tmp_path / "p", csv_dir=tmp_path / "csv").read_text()
    section = html.split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert "L-2" in section and "L-3" not in section and "REVIEW" not in section
    acts = pd.read_csv(tmp_path / "csv" / "actions-2024.csv")
    assert acts["line"].tolist() == ["L-2"]
    # A2 (REDUCE 44,000, 55,000 outstanding) alone: with its high alert and its actions
    assert ("exposure at risk — 1 counted line(s) with an open high-severity alert: USD 44,000.00 of limits, "
            "USD 55,000.00 outstanding; 1 line(s) with proposed actions: USD 44,000.00 of limits, USD 55,000.00 "
            "outstanding") in html
    assert ("1 line(s) matured before the page&#x27;s date left out of the proposed actions and the exposure at "
            "risk (nothing stands on a matured line to act on)") in html
    ex = pd.read_csv(tmp_path / "csv" / "exposure-2024.csv")
    assert ex.iloc[-1]["outstanding"] >= 5_500_000  # the at-risk subset within the whole
    # on its maturity date the line still stands: its actions are listed and counted, nothing said left out
    data.as_of = pd.Timestamp("2024-07-15").date()
    html = render_portfolio(data, tmp_path / "q", csv_dir=tmp_path / "csv2").read_text()
    assert "L-3" in html.split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert pd.read_csv(tmp_path / "csv2" / "actions-2024.csv")["line"].tolist() == ["L-2", "L-3"]
    assert "2 line(s) with proposed actions: USD 96,000.00 of limits, USD 95,000.00 outstanding" in html
    assert "left out of the proposed actions" not in html


def test_the_book_renewing_a_line_under_its_id_keeps_its_actions(tmp_path: Path) -> None:
    """The maturity is the Book's latest for the line (a line renewed under its id matures later), as the exposure
    reads it: L-3 renewed to December stands, and its actions are listed."""
    data = _matured_with_actions()
    book = _book([("L-3", "A3", "Fc", 5_200_000, 4_000_000, 4_000_000)])
    data.book = book.assign(maturity_date=pd.Timestamp("2024-12-15"))
    html = render_portfolio(data, tmp_path / "p", csv_dir=tmp_path / "csv").read_text()
    assert pd.read_csv(tmp_path / "csv" / "actions-2024.csv")["line"].tolist() == ["L-2", "L-3"]
    assert "left out of the proposed actions" not in html
