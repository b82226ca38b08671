"""What the line of an override stood on, said as it was: a record replaced that re-estimated nothing, or one that
re-estimated the line and decided a REFER or DECLINE, which granted nothing (policy refer_keeps_book_limit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from models.yield_value import YieldModel
from pipelines.cli import app
from tests.pipelines.test_explain import _reunderwritten, loader_for, train_model
from tests.underwriting.test_override import _new_refer, decision
from underwriting.store import DecisionStore, record_id_for


@pytest.fixture(scope="module")
def model() -> YieldModel:
    return train_model()


def test_the_override_command_says_the_record_replaced_re_estimated_the_line(tmp_path: Path) -> None:
    """`agcredit override` of a re-underwriting that valued all its fields and decided DECLINE (the demo's
    A2009-00001 at 2010-02-28) printed "the record replaced re-estimated nothing": false. It says the record replaced
    re-estimated the line and decided DECLINE, which granted nothing, and that the line stood on its Book limit."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first = decision("N2", 500_000, key="N2-first")
    declined = _new_refer(first, "N2", line_id="L-N2", outcome="DECLINE")
    with DecisionStore(url) as st:
        st.append([first, declined], operator="batch")
    res = CliRunner().invoke(app, ["override", "N2", "--limit", "6500", "--reason", "visit: crop fine", "--operator",
                                   "an1", "--store", url])
    assert res.exit_code == 0, res.stderr
    assert "re-estimated nothing" not in res.stdout
    assert res.stdout.strip().endswith(
        "(the line stood on its Book limit USD 7,000.00, the change measured from it: the record replaced is a "
        "re-underwriting that re-estimated the line and decided DECLINE, which granted nothing)"), res.stdout
    assert record_id_for(declined.idempotency_key) in res.stdout


def test_explain_says_the_record_replaced_re_estimated_the_line(tmp_path: Path, model: YieldModel) -> None:
    """explain's "Override of R (a re-underwriting that re-estimated nothing; …)" was said of a re-underwriting
    that valued its fields and decided DECLINE; a kept one still reads "re-estimated nothing"."""
    from pipelines.explain import explain
    from underwriting.records import DecisionItem

    def overridden(block: dict[str, Any], key: str) -> str:
        url, aid, _ = _reunderwritten(tmp_path / key, model, block)
        with DecisionStore(url) as st:
            re_rec = st.latest(aid)
            assert re_rec is not None
            ov = {"original_record_id": re_rec.record_id, "original_limit": 0, "original_outcome": "DECLINE",
                  "limit": 4_500_000, "outcome": "REDUCE", "change_share": "0.0976", "reason": "visit: crop fine",
                  "operator": "an1", "approver": None, "as_of": re_rec.as_of, "standing_limit": 4_100_000,
                  "standing_record_id": re_rec.record_id if "not_reestimated" not in block else "Rdecl",
                  "standing_outcome": "DECLINE", "standing_compared_with": "book"}
            st.append([DecisionItem(idempotency_key=key, application_id=aid, farmer_token=re_rec.farmer_token,
                                    season=re_rec.season, as_of=re_rec.as_of, outcome="REDUCE", limit=4_500_000,
                                    currency=re_rec.currency, reason_codes=tuple(re_rec.reason_codes),
                                    body={**re_rec.body, "override": ov}, kind="override",
                                    supersedes=re_rec.record_id)], operator="an1")
        return explain(url, aid, model_loader=loader_for(model, [])).render()

    base = {"outstanding": 0, "drawn": 0, "proposed_actions": ["FREEZE_UNDRAWN"], "alerts": [],
            "book_limit": 4_100_000}
    (tmp_path / "re").mkdir()
    text = overridden(base, "re")
    line = next(x for x in text.splitlines() if x.startswith("Override of"))
    assert "re-estimated nothing" not in line, line
    assert ("(a re-underwriting that re-estimated the line and decided DECLINE, which granted nothing; the line stood "
            "on its Book limit USD 41,000.00, the change measured from it): DECLINE USD 0.00 -> REDUCE USD 45,000.00"
            in line), line
    (tmp_path / "kept").mkdir()
    text = overridden({**base, "not_reestimated": ["OUT_OF_MODEL_SCOPE"], "previous_outcome": "DECLINE",
                       "standing_record_id": "Rdecl", "compared_with": "book"}, "kept")
    assert ("(a re-underwriting that re-estimated nothing; the line stood on its Book limit USD 41,000.00 (record "
            "Rdecl, a DECLINE, granted none), the change measured from it)") in text, text
