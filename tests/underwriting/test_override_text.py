"""An override's reason, operator and approver are one line of plain text of a bounded length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.underwriting.test_override import decision
from underwriting.override import OverrideError, override
from underwriting.store import DecisionStore

#: the reviewer's reason: a blank line, a forged "Override:" line, then a cursor-up and erase-line escape
FORGED = "visit ok\n\nOverride: REDUCE INR 32,000.00 -> APPROVE INR 111,000.00 by chief, approved by cro \x1b[1A\x1b[2K"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DecisionStore]:
    with DecisionStore(f"sqlite:///{tmp_path / 'd.db'}") as s:
        s.append([decision("A1", 500_000)], operator="batch")
        yield s


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"reason": FORGED}, "--reason holds line breaks and terminal escapes (\\n, \\x1b)"),
    ({"reason": "visit\tok"}, "--reason holds tabs (\\t)"),
    ({"reason": "visit ok\u202e"}, "--reason holds characters reordering how the line is shown (\\u202e "
                                    "right-to-left override)"),
    ({"reason": "visit ok\u2028next"}, "--reason holds line breaks (\\u2028 line separator)"),
    ({"operator": "Jos\udce9"}, "--operator holds bytes that are not UTF-8 text"),
    ({"reason": "x" * 20_000}, "--reason is 20,000 characters long; at most 500 are kept"),
    ({"operator": "an1\nchief"}, "--operator holds line breaks (\\n)"),
    ({"operator": "a" * 101}, "--operator is 101 characters long; at most 100 are kept"),
    ({"approver": "cro\x1b[2K"}, "--approver holds terminal escapes (\\x1b)"),
])
def test_control_characters_and_long_texts_are_refused(store: DecisionStore, kwargs: dict[str, str],
                                                       said: str) -> None:
    """A reason forging a line of explain ("Override: ... approved by cro" after a blank line, then terminal escapes)
    and a 20,000-character reason were accepted and written into the permanent record."""
    args = {"reason": "field visit", "operator": "an1", "approver": "cro", **kwargs}
    with pytest.raises(OverrideError) as err:
        override(store, "A1", "5,500.00", args["reason"], args["operator"], approver=args["approver"])
    assert said in str(err.value) and "\n" not in str(err.value) and "\x1b" not in str(err.value)
    assert [r.kind for r in store.history("A1")] == ["decision"]


def test_a_sentence_of_any_script_is_kept(store: DecisionStore) -> None:
    """What a normal sentence needs passes: accents, the rupee sign, Devanagari with its zero-width joiner, an Arabic
    phrase with right-to-left marks, a soft hyphen, a byte-order mark (a review found the format characters other
    than the joiners refused)."""
    reason = ("visite faite — récolte ₹ 12,000 ठीक; क्‍ष; المزارع \u200f(2 ha)\u200f ok; co\u00adoperative \ufeff"
              + "y" * 380)
    assert len(reason) <= 500
    rec = override(store, "A1", "5,500.00", reason, "an1")
    assert rec.body["override"]["reason"] == reason


def test_the_command_refuses_in_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import app

    url = f"sqlite:///{tmp_path / 'c.db'}"
    with DecisionStore(url) as s:
        s.append([decision("A1", 500_000)], operator="batch")
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "test-key")
    res = CliRunner().invoke(app, ["override", "A1", "--limit", "5500", "--reason", FORGED, "--operator", "an1",
                                   "--store", url])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "--reason holds line breaks" in res.stderr
    assert "Override:" not in res.stderr
