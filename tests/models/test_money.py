"""Money: exact conversion to integer minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.errors import MoneyError
from models.money import MINOR_DIGITS, check_currency, format_minor, to_minor


@pytest.mark.parametrize(("value", "currency", "expected"), [
    ("1234.50", "USD", 123450), ("1,234.5", "usd", 123450), (0.1, "USD", 10), (Decimal("7.07"), "INR", 707),
    (12, "JPY", 12), ("-3.25", "EUR", -325), ("1_000", "KES", 100000),
])
def test_to_minor_is_exact(value: object, currency: str, expected: int) -> None:
    assert to_minor(value, currency) == expected


def test_float_sums_do_not_leak_binary_dust() -> None:
    # repr(0.1 + 0.2) is '0.30000000000000004': refused, never silently rounded to 30 cents
    with pytest.raises(MoneyError, match="at most 2 decimals"):
        to_minor(0.1 + 0.2, "USD")


@pytest.mark.parametrize(("value", "currency", "match"), [
    ("1.005", "USD", "at most 2 decimals for USD"), ("1.5", "JPY", "at most 0 decimals for JPY"),
    ("abc", "USD", "expected a number"), ("inf", "USD", "a finite number"), ("1", "XYZ", "ISO 4217"),
])
def test_to_minor_refuses(value: object, currency: str, match: str) -> None:
    with pytest.raises(MoneyError, match=match):
        to_minor(value, currency)


def test_format_minor() -> None:
    assert format_minor(123450, "USD") == "USD 1,234.50"
    assert format_minor(-5, "INR") == "INR -0.05"
    assert format_minor(1000, "JPY") == "JPY 1,000"


def test_check_currency() -> None:
    assert check_currency(" inr ") == "INR"
    assert MINOR_DIGITS["JPY"] == 0
    with pytest.raises(MoneyError, match="currency: expected an ISO 4217 code"):
        check_currency(None)


@pytest.mark.parametrize("value,expected", [("1,250,000.50", 125_000_050), ("12,50,000.50", 125_000_050),
                                            ("1,25,000", 12_500_000), ("1,500", 150_000), ("-1,000", -100_000)])
def test_digit_grouping_commas_are_read(value: str, expected: int) -> None:
    assert to_minor(value, "INR") == expected


@pytest.mark.parametrize("value", ["1,5", "12500,50", "4000,00", "1,2345", "12,34,56", "1,000,00"])
def test_a_decimal_comma_is_refused_not_read_as_grouping(value: str) -> None:
    """Every comma was deleted: a European "12500,50" became 1,250,050.00 (100x) in applications, the Book, policy
    money and override limits. A comma is accepted only between digit groups (thousands, or the Indian lakh form)."""
    with pytest.raises(MoneyError, match="a point for decimals"):
        to_minor(value, "EUR")


@pytest.mark.parametrize("value", ["1e4", "2.5E+05", "1e-2", "-3e3"])
def test_a_typed_exponent_is_refused(value: str) -> None:
    """`--limit 1e4` and a Book cell "2.5E+05" (a spreadsheet's rendering) were read as 10,000 and 250,000: an amount
    typed into a credit file is written out in digits; a float from code (0.1) is still converted exactly."""
    with pytest.raises(MoneyError, match="written out in digits"):
        to_minor(value, "USD")
    assert to_minor(1e4, "USD") == 1_000_000



def test_amounts_from_code_in_exponent_form_are_converted() -> None:
    """Only text is "typed": a Decimal normalised to 1E+2 by code is 100, not refused as a typed exponent."""
    assert to_minor(Decimal("1E+2"), "USD") == 10_000 and to_minor(Decimal("2.5E+1"), "INR") == 2_500


@pytest.mark.parametrize("value", ["₹1,20,000", "$5,000.00", "€12,50", "120000 ₹", "Rs.45,000", "INR 45000", "45,000/-"])
def test_a_currency_sign_is_named_not_the_commas(value: str) -> None:
    """A walkthrough: `₹1,20,000` was refused as "expected a number with a point for decimals (a comma only between
    digit groups…)" — the grouping is right, the sign is what is wrong."""
    with pytest.raises(MoneyError, match=r"requested_amount: expected a number without a currency sign"):
        to_minor(value, "INR", where="requested_amount")
