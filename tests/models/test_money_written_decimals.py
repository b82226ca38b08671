"""Typed amounts: the written decimals count, not the value's (a point between thousands is not a decimal point)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from models.errors import MoneyError
from models.money import to_minor
from underwriting.applications import read_applications, read_book


@pytest.mark.parametrize(("value", "currency", "match"), [
    ("48.000", "INR", r"at most 2 decimals for INR \(found 3: 48 or 48000\? a point between thousands, or zeros for "
                      r"decimals — write one of them\)"),
    ("1.250", "INR", r"at most 2 decimals for INR \(found 3: a point between thousands\? write 1250\)"),
    ("1.250.000", "INR", r"expected a number"),  # several points: not a number (as before)
    ("-41.000", "EUR", r"found 3: -41 or -41000\?"),
    ("1.0055", "USD", r"at most 2 decimals for USD \(found 4\)"),
    ("48.000", "JPY", r"at most 0 decimals for JPY \(found 3: 48 or 48000\?"),
    ("48000.50", "JPY", r"at most 0 decimals for JPY \(found 2\)"),
])
def test_typed_text_with_more_written_decimals_than_the_currency_has_is_refused(value: str, currency: str,
                                                                                  match: str) -> None:
    """``48.000`` for INR (2 decimals) was read as 48.00 (the value has no third decimal): INR 48 instead of the
    48,000 a European spreadsheet meant, silently. The written decimals of typed text count, zeros too."""
    with pytest.raises(MoneyError, match=match):
        to_minor(value, currency)


@pytest.mark.parametrize(("value", "currency", "expected"), [
    ("48000.00", "INR", 4_800_000), ("48000.5", "INR", 4_800_050), ("48000", "INR", 4_800_000),
    ("48000.00", "JPY", 48_000), ("48000.0", "JPY", 48_000), ("48000.", "JPY", 48_000), ("1,250.00", "USD", 125_000),
    # zeros beyond the currency's, not shaped as thousands grouped with points: the same amount (a database's
    # DECIMAL(…, 3) export; a review found them refused)
    ("48000.000", "INR", 4_800_000), ("1,250.000", "USD", 125_000), ("48000.500", "INR", 4_800_050),
    ("48000.000", "JPY", 48_000), ("4800.0000", "USD", 480_000), ("0.000", "INR", 0),
])
def test_written_decimals_within_the_currencys_are_read(value: str, currency: str, expected: int) -> None:
    """A zero-decimal currency written with up to two zero decimals (a spreadsheet's number format) stays read."""
    assert to_minor(value, currency) == expected


def test_numbers_from_code_are_judged_by_their_value() -> None:
    assert to_minor(Decimal("48.000"), "INR") == 4_800
    assert to_minor(48.0, "INR") == 4_800 and to_minor(Decimal("48000.000"), "JPY") == 48_000


def test_a_point_between_thousands_in_the_applications_and_the_book_is_refused(tmp_path: Path) -> None:
    apps = tmp_path / "apps.csv"
    apps.write_text("application_id,national_id,farmer_name,phone,season,currency,requested_amount,"
                    "requested_term_days,existing_debt,debt_due_this_cycle,other_income,living_costs,"
                    "unfinanced_costs,prior_liens_on_crop\n"
                    "A1,ID-1,Wenzu Wenteda,+91-00000-18677,2009,INR,48.000,217,51000.00,0,0,0,0,0.00\n")
    with pytest.raises(MoneyError, match=r"apps\.csv: requested_amount of A1: expected at most 2 decimals for INR "
                                         r"\(found 3: 48 or 48000\? .*\), found '48\.000'"):
        read_applications(apps)
    book = tmp_path / "book.csv"
    book.write_text("line_id,application_id,national_id,currency,limit,drawn,outstanding,start_date,maturity_date,"
                    "crop,region\nL1,A1,ID-1,INR,41.000,26000.00,0,2009-05-21,2010-03-17,maize,in-smallholder\n")
    with pytest.raises(MoneyError, match=r"limit of L1: expected at most 2 decimals for INR \(found 3"):
        read_book(book)
