"""A late-dated override: ``override`` warns of an --as-of after the line's maturity, and ``decisions export`` says
the date it judged the lines on and where that date came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.underwriting.test_override import decision
from underwriting.override import record_override
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore


def _line(app_id: str, line: str, matures: str, *, as_of: str = "2025-05-01", kept: bool = False) -> DecisionItem:
    """A re-underwriting of Book line ``line`` (Book limit USD 7,000) maturing ``matures``; ``kept``: one that
    re-estimated nothing, so the line stands on its Book limit (until it matures)."""
    d = decision(app_id, 500_000, as_of=as_of, key=f"{app_id}-{as_of}")
    body = {**d.body, "computation": {**d.body["computation"], "maturity_date": matures},
            "policy": {"parameters": {"kept_lines_stand": True}},
            "reunderwrite": {"line_id": line, "book_limit": 700_000, "line_maturity_date": matures,
                             **({"not_reestimated": ["OUT_OF_MODEL_SCOPE"]} if kept else {})}}
    return dataclasses.replace(d, body=body, kind="reunderwrite")


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'late.db'}"
    with DecisionStore(u) as st:
        st.append([_line("L1", "BL-1", "2025-09-30", kept=True), _line("L2", "BL-2", "2025-10-31")],
                  operator="batch")
    return u


def test_an_override_dated_after_the_lines_maturity_is_written_with_a_warning(url: str) -> None:
    """`override … --as-of 2012-06-30` of a line matured 2010-02-06 was accepted silently; it is written (no rule
    forbids it) and the analyst warned, on standard error, exit 0."""
    done = record_override(url, "L1", "6000", "late note", "an1", as_of="2025-12-31")
    assert done.written and len(done.warnings) == 1
    assert done.warnings[0].startswith("--as-of 2025-12-31 is after the line's maturity (2025-09-30, its Book "
                                       "line's)")
    assert record_override(url, "L2", "5000", "note", "an1", as_of="2025-10-31").warnings == ()  # on the day: none
    res = CliRunner().invoke(app, ["override", "L1", "--limit", "5900", "--reason", "later note", "--operator", "an1",
                                   "--as-of", "2026-01-05", "--store", url])
    assert res.exit_code == 0, res.stderr
    assert res.stderr.startswith("warning: --as-of 2026-01-05 is after the line's maturity (2025-09-30") and \
        res.stderr.count("\n") == 1
    assert "warning" not in res.stdout


def test_decisions_export_says_the_date_it_judged_the_lines_on(url: str, tmp_path: Path) -> None:
    """After a late override the next export (no --as-of) read the season's lines matured — 50 in the demo — and
    said only "wrote 274 records". It names the date, where it came from, and the lines matured before it."""
    runner = CliRunner()
    res = runner.invoke(app, ["decisions", "export", "--out", str(tmp_path / "a.csv"), "--store", url])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == (f"wrote 2 records to {tmp_path / 'a.csv'}; lines judged season 2025 as of "
                                  "2025-05-01 (its latest record's date: a re-underwriting of L2) — --as-of D for "
                                  "another date")
    record_override(url, "L2", "5000", "late note", "an1", as_of="2025-10-20")
    for name in ("b.csv", "b.parquet"):
        res = runner.invoke(app, ["decisions", "export", "--out", str(tmp_path / name), "--store", url])
        assert res.exit_code == 0, res.stderr
        assert res.stdout.strip().endswith(
            "lines judged season 2025 as of 2025-10-20 (its latest record's date: an override of L2) — --as-of D "
            "for another date; 1 standing line(s) matured before it stand at 0 (line_matured)"), res.stdout
    res = runner.invoke(app, ["decisions", "export", "--out", str(tmp_path / "c.csv"), "--as-of", "2025-06-01",
                              "--store", url])
    assert res.stdout.strip().endswith("; lines judged as of 2025-06-01 (--as-of)"), res.stdout


def test_a_decision_without_a_line_is_said_by_its_term_not_a_lines_maturity(tmp_path: Path) -> None:
    """A review: a REFER or DECLINE that granted nothing, overridden after its term, was warned of "the line's
    maturity" though no line exists; it is the term of the decision overridden."""
    u = f"sqlite:///{tmp_path / 'term.db'}"
    d = decision("A9", 0, as_of="2025-05-01", key="A9")
    d = dataclasses.replace(d, outcome="DECLINE", body={**d.body, "computation": {**d.body["computation"],
                                                                                "maturity_date": "2025-09-30"}})
    with DecisionStore(u) as st:
        st.append([d], operator="batch")
    done = record_override(u, "A9", "1000", "visit", "an1", as_of="2025-12-31", approver="cro")
    assert done.warnings and done.warnings[0].startswith(
        "--as-of 2025-12-31 is after the term of the decision overridden (2025-09-30): the override is written")
