"""An amount typed with a currency code or spaces between digit groups is named as such, and quoted unless it has
a phone or ID number's digits."""

from __future__ import annotations

import pytest

from models.errors import MoneyError
from models.money import to_minor

HIDDEN = "<personal data> (not shown: shaped like a name, phone or ID number)"
CODE = "a number without a currency sign, code or '/-' (the currency is given apart: write the amount alone, in INR)"
SPACES = "a number without spaces between its digits (as 12000 or 12,000)"


@pytest.mark.parametrize(("typed", "expected", "found"), [
    # the review: "INR 12000", "12000 INR" and "12 000" were called personal data while "Rs.12,000" was quoted
    ("INR 12000", CODE, "'INR 12000'"), ("12000 INR", CODE, "'12000 INR'"), ("inr 12,000", CODE, "'inr 12,000'"),
    ("Rs.12,000", CODE, "'Rs.12,000'"), ("₹ 12 000", CODE, "'₹ 12 000'"), ("12 000", SPACES, "'12 000'"),
    ("1 20 000", SPACES, "'1 20 000'"), ("12\u202f000.50", SPACES, "'12\\u202f000.50'"),
    # a phone or ID number's digits, or a name, are never quoted, whatever else is wrong
    ("INR 98765 43210", CODE, HIDDEN), ("98765 43210", SPACES, HIDDEN), ("INR 1,20,00,000", CODE, HIDDEN),
    ("Raj 12000", CODE, HIDDEN), ("a lot", "a number", HIDDEN), ("+91 98765 43210", SPACES, HIDDEN),
    ("INR 12,000.00", CODE, "'INR 12,000.00'"), ("INR 1234567.00", CODE, HIDDEN),
    ("INR 12.345.678", CODE, HIDDEN),
])
def test_an_amount_with_a_code_or_spaces_is_named_and_quoted_when_safe(typed: str, expected: str,
                                                                         found: str) -> None:
    with pytest.raises(MoneyError) as err:
        to_minor(typed, "INR", where="override limit")
    assert str(err.value) == f"override limit: expected {expected}, found {found}"


def test_the_override_command_names_a_currency_code_in_the_limit(tmp_path: object) -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from pipelines.cli import app
    from tests.underwriting.test_override import decision
    from underwriting.store import DecisionStore

    url = f"sqlite:///{Path(str(tmp_path)) / 'c.db'}"
    with DecisionStore(url) as st:
        st.append([decision("A1", 500_000, currency="INR")], operator="batch")
    res = CliRunner().invoke(app, ["override", "A1", "--limit", "INR 5000", "--reason", "visit", "--operator", "an1",
                                   "--store", url])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "write the amount alone, in INR), found 'INR 5000'" in res.stderr, res.stderr


SCALE = "a number written out in digits, without a word of scale (lakh, crore, k, million: 1.2 lakh is 120000)"


@pytest.mark.parametrize(("typed", "expected", "found"), [
    # a review (2026-12-07): "12 000,50" and "1.2 lakh" were refused as "shaped like a name" — the letters and the
    # grouping were what was wrong, and the amount is no phone or ID number
    ("12 000,50", "a number without spaces between its digits and with a point for decimals (as 12000.50 or "
                  "12,000.50)", "'12 000,50'"),
    ("1.2 lakh", SCALE, "'1.2 lakh'"), ("3 crore", SCALE, "'3 crore'"), ("3 cr", SCALE, "'3 cr'"),
    ("50k", SCALE, "'50k'"), ("1.5 million", SCALE, "'1.5 million'"), ("12 lacs", SCALE, "'12 lacs'"),
    # a phone or ID number's digits are still never quoted
    ("9876543 lakh", SCALE, HIDDEN), ("98 765 432,10", "a number without spaces between its digits and with a "
                                                     "point for decimals (as 12000.50 or 12,000.50)", HIDDEN),
])
def test_an_amount_with_a_word_of_scale_or_a_decimal_comma_after_spaces_is_named(typed: str, expected: str,
                                                                                  found: str) -> None:
    with pytest.raises(MoneyError) as err:
        to_minor(typed, "INR", where="override limit")
    assert str(err.value) == f"override limit: expected {expected}, found {found}"


@pytest.mark.parametrize(("typed", "expected", "found"), [
    # a review (2026-12-07, session 77): a phone's digits with a letter, a sign or commas glued to them were quoted
    ("9876543210k", SCALE, HIDDEN), ("9876543210lakh", SCALE, HIDDEN), ("98765-43210k", "a number", HIDDEN),
    ("INR9876543210", CODE, HIDDEN), ("Rs.9876543210", CODE, HIDDEN), ("₹9876543210", CODE, HIDDEN),
    ("98,76,54,3210", "a number with a point for decimals (a comma only between digit groups, as in 1,250,000.50)",
     HIDDEN), ("9876543210x", "a number", HIDDEN), ("A9876543210", "a number", HIDDEN),
    # a word of scale beside a currency code, '/-', or spelt short or twice is named as a word of scale
    ("Rs 50k", SCALE, "'Rs 50k'"), ("1.2 lakh/-", SCALE, "'1.2 lakh/-'"), ("1.2 lakh INR", SCALE, "'1.2 lakh INR'"),
    ("12 L", SCALE, "'12 L'"), ("1.2L", SCALE, "'1.2L'"), ("1 lakh 20 thousand", SCALE, "'1 lakh 20 thousand'"),
])
def test_a_phones_digits_are_never_quoted_and_scale_words_are_named_beside_a_code(typed: str, expected: str,
                                                                                   found: str) -> None:
    with pytest.raises(MoneyError) as err:
        to_minor(typed, "INR", where="override limit")
    assert str(err.value) == f"override limit: expected {expected}, found {found}"
