"""Money: integer minor units, exact conversion from decimal major units.

All money inside agcredit is an ``int`` number of minor units (cents, paise, fen) of
one ISO 4217 currency. Decimal strings from files are converted exactly; a value
with more decimals than the currency has is an error, never silently rounded.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from models.errors import MoneyError

__all__ = ["MINOR_DIGITS", "to_minor", "format_minor", "check_currency"]

#: ISO 4217 minor-unit exponents of the currencies agcredit knows
MINOR_DIGITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "INR": 2, "CNY": 2, "BRL": 2, "KES": 2, "NGN": 2,
    "UZS": 2, "KZT": 2, "MXN": 2, "ZAR": 2, "AUD": 2, "CAD": 2, "JPY": 0, "KRW": 0,
}


def check_currency(code: object, *, where: str = "currency") -> str:
    """Return an upper-case known ISO 4217 code or raise."""
    c = str(code).strip().upper() if code is not None else ""
    if c not in MINOR_DIGITS:
        raise MoneyError(where=where, value=code, expected=f"an ISO 4217 code ({', '.join(sorted(MINOR_DIGITS))})")
    return c


#: digit grouping with commas: thousands (1,250,000.50) or the Indian lakh/crore form (12,50,000.50)
_GROUPED = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,2}(?:,\d{2})*,\d{3})(?:\.\d*)?")

#: amounts are kept as integer minor units in 64-bit columns: at most 10^15 minor units (10 trillion USD)
MAX_MINOR = 10**15


#: an exponent in a typed amount ("1e4", "2.5E+05"); NaN and Infinity are refused as not finite
_EXPONENT = re.compile(r"\d[eE][+-]?\d")

#: a point between thousands groups, as a European spreadsheet writes 48.000 or 1.250 (48000, 1250)
_POINT_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+")  # a leading group is never 0: 0.000 is zero

#: a plain decimal number as typed (commas and underscores removed); group 1: its written decimals
_DECIMAL_TEXT = re.compile(r"[+-]?\d*\.(\d+)")


def _written_decimals(text: str, digits: int, currency: str, value: object, where: str) -> None:
    """Typed text with more written decimals than ``digits`` is refused when they are not all zeros, and when it has
    the shape of thousands grouped with points (``48.000``, ``480.000``: for INR most likely 48000 with a point
    between thousands, not 48.00 — read as 1/1000 of the amount, silently), even zeros. Extra zeros otherwise are the
    same amount (``48000.000``, JPY ``48000.00``: a database's or a spreadsheet's number format)."""
    m = _DECIMAL_TEXT.fullmatch(text)
    if m is None:  # not a plain decimal number: left to Decimal's reading
        return
    decimals = m.group(1)
    if len(decimals) <= digits:
        return
    found = f"found {len(decimals)}"
    if _POINT_GROUPED.fullmatch(text):
        whole, frac = text.split(".")  # one point (_DECIMAL_TEXT)
        grouped = text.replace(".", "")
        found += (f": {whole} or {grouped}? a point between thousands, or zeros for decimals — write one of them"
                  if not frac.strip("0") else f": a point between thousands? write {grouped}")
    elif not decimals[digits:].strip("0"):  # 48000.000, JPY 48000.00: zeros beyond the currency's — the same amount
        return  # (a database's DECIMAL(…, 3) or a spreadsheet's number format; a review found them refused)
    raise MoneyError(where=where, value=value, expected=f"at most {digits} decimals for {currency} ({found})")


#: an amount written with a currency code or abbreviation before or after it (``INR 45000``, ``Rs.45,000``,
#: ``5000 INR``) or Indian ``/-`` after it — not any text with letters (a name typed there is "expected a number")
_CURRENCY_WORD = re.compile(r"(?=.*(?:[^\W\d_]|/-$))(?:[^\W\d_]{2,3}\.?\s*)?[\d.,\s]*\d(?:\s*[^\W\d_]{2,3}\.?|\s*/-)?")


#: currency codes and abbreviations an amount may be typed with (``INR 12000``, ``12000 inr``, ``Rs 12,000``)
_CODES = "|".join(sorted({*MINOR_DIGITS, "RS", "RE"}, key=lambda c: (-len(c), c)))
_CODE_WORD = re.compile(rf"(?i)(?<![^\W\d_])(?:{_CODES})\.?(?![^\W\d_])")
#: digits in groups separated by spaces (``12 000``, ``1 20 000``, a narrow or no-break space too), decimals after a
#: point or a comma (``12 000,50``: a French spreadsheet's amount)
_SPACE_GROUPED = re.compile(r"[+-]?\d+(?:[ \u00a0\u202f]\d+)+(?:[.,]\d+)?")
#: a number with a word of scale after it (``1.2 lakh``, ``3 crore``, ``50k``, ``1.5 million``)
#: (``12 L``, ``1 lakh 20 thousand`` too; a currency code, sign or ``/-`` beside it is set aside first: ``Rs 50k``)
_SCALE_WORD = re.compile(r"(?i)[+-]?(?:\d[\d.,]*\s*(?:lakhs?|lacs?|l|crores?|cr|k|mn|m|thousands?|millions?|bn|billions?)"
                         r"\.?\s*)+")
#: digits once grouping marks go: from 7 a phone or ID number's shape (features.identity.looks_personal)
_PERSONAL_DIGITS = 7


def _amount_shown(text: str) -> bool:
    """Whether typed ``text`` that is refused may be quoted: an amount whose only letters are a currency code (or
    ``Rs``), signs and ``/-`` aside, grouped with spaces, points or commas, of fewer than 7 digits before its decimals
    — ``INR 12000``, ``12 000`` (a name, or a phone or ID number typed there, is never quoted)."""
    s = _CODE_WORD.sub("", unicodedata.normalize("NFKC", text)).replace("/-", "")
    s = "".join(c for c in s if unicodedata.category(c) != "Sc")
    # decimals (one point, at most 2 digits after it) are no digits of a phone: INR 12,000.00 is quoted, an ID
    # number grouped with points (12.345.678) is not
    # (after a comma too, when it is the only one: 12 000,50 is refused for its comma, quoted)
    whole = re.sub(r"\.\d{1,2}\s*$", "", s) if s.count(".") == 1 else s
    whole = re.sub(r",\d{1,2}\s*$", "", whole) if whole.count(",") == 1 and "." not in whole else whole
    return bool(re.fullmatch(r"[\s+-]*\d[\d\s.,_]*", s)) and sum(c.isdigit() for c in whole) < _PERSONAL_DIGITS


def to_minor(value: object, currency: str, *, where: str = "amount") -> int:
    """Convert a major-unit amount (str, int, float, Decimal) to integer minor units exactly."""
    digits = MINOR_DIGITS[check_currency(currency, where=where)]
    typed = isinstance(value, str)  # text from a file or the command line (a Decimal or number from code is not)
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip()
    if typed and _EXPONENT.search(text):
        # "1e4" is a spreadsheet's rendering or a typo for 104, not an amount anyone types into a credit file
        raise MoneyError(where=where, value=value, expected="a number written out in digits (no exponent, as 1e4)")
    bare = "".join(c for c in _CODE_WORD.sub("", text).replace("/-", "") if unicodedata.category(c) != "Sc").strip()
    if typed and _SCALE_WORD.fullmatch(bare):
        # "1.2 lakh", "50k", "Rs 50k": a word of scale is no digits a bank's file keeps — said as such (the letters had
        # made it "shaped like a name"); quoted while its digits are too few for a phone or ID number
        digits_only = re.sub(r"(?i)[^\W\d_]+\.?", " ", text)
        raise MoneyError(where=where, value=value, expected="a number written out in digits, without a word of "
                                                            "scale (lakh, crore, k, million: 1.2 lakh is 120000)",
                         shown=_amount_shown(digits_only))
    if typed and re.search(r"\d", text) and (any(unicodedata.category(c) == "Sc" for c in text)
                                              or _CURRENCY_WORD.fullmatch(text)):
        # "₹1,20,000", "Rs.45,000", "INR 45000", "45,000/-": the currency, not the grouping, is what is wrong (the
        # message blamed the commas, or took the letters for a name)
        raise MoneyError(where=where, value=value, expected="a number without a currency sign, code or '/-' (the "
                                                            f"currency is given apart: write the amount alone, in "
                                                            f"{currency})", shown=_amount_shown(text))
    if typed and _SPACE_GROUPED.fullmatch(text):
        # "12 000": spaces between digit groups (a French or Russian spreadsheet's thousands) are not read as an
        # amount; said as such — the digits quoted only while too few for a phone or ID number
        comma = "," in text
        raise MoneyError(where=where, value=value, expected="a number without spaces between its digits" +
                         (" and with a point for decimals (as 12000.50 or 12,000.50)" if comma else
                          " (as 12000 or 12,000)"), shown=_amount_shown(text))
    if "," in text and not _GROUPED.fullmatch(text):
        # "12500,50" is a decimal comma, not 1,250,050: only whole thousands groups (1,250,050.50) or the Indian
        # lakh/crore grouping (12,50,050.50) are digit grouping; anything else is refused, never guessed
        raise MoneyError(where=where, value=value, expected="a number with a point for decimals (a comma only "
                                                            "between digit groups, as in 1,250,000.50)")
    if typed:
        _written_decimals(text.replace(",", "").replace("_", ""), digits, currency, value, where)
    try:
        d = Decimal(text.replace(",", "").replace("_", ""))
    except (InvalidOperation, ValueError):
        raise MoneyError(where=where, value=value, expected="a number") from None
    if not d.is_finite():
        raise MoneyError(where=where, value=value, expected="a finite number")
    scaled = d.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise MoneyError(where=where, value=value, expected=f"at most {digits} decimals for {currency}")
    if abs(scaled) >= MAX_MINOR:  # stored as 64-bit integers; no farm loan comes near
        raise MoneyError(where=where, value=value, expected=f"an amount below {MAX_MINOR // 10**digits:,} {currency}")
    return int(scaled)


def format_minor(amount: int, currency: str) -> str:
    """Render minor units as a human amount: ``format_minor(123450, 'USD') == 'USD 1,234.50'``."""
    digits = MINOR_DIGITS[check_currency(currency)]
    sign = "-" if amount < 0 else ""
    a = abs(int(amount))
    if digits == 0:
        return f"{currency} {sign}{a:,}"
    major, minor = divmod(a, 10**digits)
    return f"{currency} {sign}{major:,}.{minor:0{digits}d}"
