"""Keep farmers' personal data out of free text and error messages.

Two small tests shared by the commands that write operator text into the append-only
decision records (``override --reason``) and by the error messages that would echo a
typed argument (``explain``, ``report farmer``, ``override``):

- :func:`personal_data_kind` names the KIND of personal data a text holds — a phone or ID
  number (7 or more digits once spaces, dashes, dots, slashes, parentheses and a leading ``+``
  are ignored; ISO dates and amounts with two decimals excepted), an e-mail address, or one of
  the identifiers of known farmers (:class:`KnownIdentifiers`: names compared
  case-insensitively with whitespace normalised, national IDs and phones compared by
  their digits) — never the text itself;
- :func:`shown_argument` returns a typed argument only when it looks like an application
  id or a farmer token, else a neutral phrase (``"the application given"``).

Nothing here keeps, logs or returns the text it screens.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["KnownIdentifiers", "looks_like_reference", "number_or_email", "personal_data_kind", "reference_shape",
           "shown_argument", "shown_reference", "echoed_reference", "shapes_hint", "unknown_reference_hint",
           "PHONE_OR_ID", "EMAIL", "FARMER_NAME", "FARMER_NUMBER", "OTHER_FARMER_NAME", "OTHER_FARMER_NUMBER"]

#: the kinds :func:`personal_data_kind` names
PHONE_OR_ID = "a phone or ID number"
EMAIL = "an e-mail address"
FARMER_NAME = "the farmer's name"
FARMER_NUMBER = "the farmer's national ID or phone number"
OTHER_FARMER_NAME = "another farmer's name from the applications file"
OTHER_FARMER_NUMBER = "another farmer's national ID or phone number from the applications file"

#: digits in a run that make it a phone or ID number
MIN_NUMBER_DIGITS = 7
#: digits a known national ID or phone needs to be screened for
MIN_KNOWN_DIGITS = 6
#: longest argument echoed back in a message
MAX_SHOWN = 64

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
# a run of digits joined by at most three separators (spaces, dashes, dots, slashes, parentheses), with a leading
# + or (
_NUMBER_RUN = re.compile(rf"[+(]*\d(?:[\s\-./(){_DASHES}]{{0,3}}\d)*")
# digits joined by any punctuation or spaces (for comparing with a known ID or phone)
_LOOSE_RUN = re.compile(r"\d(?:[\W_]{0,3}\d)*")
_ISO_DATE = re.compile(r"(?:19|20)\d\d[-/][01]\d[-/][0-3]\d")
_DAY_FIRST_DATE = re.compile(r"[0-3]?\d[./\-][01]?\d[./\-](?:19|20)\d\d")
_AMOUNT = re.compile(r"\d+\.\d\d")
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"'.]+")
_SEPARATORS = re.compile(rf"[\s\-./(){_DASHES}+]")


def _clean(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text))


def _digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())


def _words(text: object) -> str:
    """Case-folded, whitespace-normalised text."""
    return " ".join(_clean(text).casefold().split())


def _has_phrase(haystack: str, phrase: str) -> bool:
    return bool(phrase) and phrase in haystack and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", haystack) is not None


@dataclass(frozen=True)
class KnownIdentifiers:
    """Identifiers to screen for: the farmer's own and those of others (names and digit strings)."""

    names: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    other_names: frozenset[str] = frozenset()
    other_numbers: frozenset[str] = frozenset()

    @classmethod
    def build(cls, *, names: Iterable[object] = (), numbers: Iterable[object] = (),
              other_names: Iterable[object] = (), other_numbers: Iterable[object] = ()) -> KnownIdentifiers:
        """Normalise names (case-folded, whitespace collapsed) and numbers (their digits; shorter than
        :data:`MIN_KNOWN_DIGITS` digits are left out, too short to tell from other numbers)."""

        def nm(vals: Iterable[object]) -> frozenset[str]:
            return frozenset(w for w in (_words(v) for v in vals if _present(v)) if len(w) >= 2)

        def num(vals: Iterable[object]) -> frozenset[str]:
            return frozenset(d for d in (_digits(_clean(v)) for v in vals if _present(v)) if len(d) >= MIN_KNOWN_DIGITS)

        own_names, own_numbers = nm(names), num(numbers)
        return cls(names=own_names, numbers=own_numbers, other_names=nm(other_names) - own_names,
                   other_numbers=num(other_numbers) - own_numbers)


def _present(v: object) -> bool:
    """Not a missing value (None, NaN, pandas' NA) nor blank."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return False
    return str(v).strip() not in ("", "<NA>", "nan", "NaT", "None")


def _number_runs(text: str) -> list[str]:
    """The digit strings of phone- or ID-like runs; a date or a two-decimal amount within a run splits it."""
    out = []
    for m in _NUMBER_RUN.finditer(text):
        segment = ""
        for piece in m.group(0).split():
            bare = piece.strip("+()")
            if _ISO_DATE.fullmatch(bare) or _DAY_FIRST_DATE.fullmatch(bare) or _AMOUNT.fullmatch(bare):
                out.append(segment)
                segment = ""
            else:
                segment += _digits(piece)
        out.append(segment)
    return [d for d in out if d]


def _matches_number(text: str, numbers: frozenset[str]) -> bool:
    if not numbers:
        return False
    for m in _LOOSE_RUN.finditer(text):
        run = _digits(m.group(0))
        for n in numbers:
            if n in run or (len(run) >= MIN_NUMBER_DIGITS and run in n):
                return True
    return False


def _matches_name(text: str, names: frozenset[str], *, parts: bool) -> bool:
    words = _words(text)
    for name in names:
        if _has_phrase(words, name):
            return True
        if parts and any(len(p) >= 3 and _has_phrase(words, p) for p in name.split(" ")):
            return True
    return False


def personal_data_kind(text: object, known: KnownIdentifiers | None = None, *, generic: bool = True) -> str | None:
    """The kind of personal data in ``text`` (one of the constants of this module), or None.

    ``generic``: also look for any phone or ID number and any e-mail address (not only the
    ``known`` identifiers). A known farmer's own name is also found by one of its parts of
    three or more letters; other farmers' names only in full.
    """
    s = _clean(text)
    if known is not None:
        if _matches_name(s, known.names, parts=generic):
            return FARMER_NAME
        if _matches_number(s, known.numbers):
            return FARMER_NUMBER
        if _matches_name(s, known.other_names, parts=False):
            return OTHER_FARMER_NAME
        if _matches_number(s, known.other_numbers):
            return OTHER_FARMER_NUMBER
    if generic:
        if _EMAIL.search(s):
            return EMAIL
        if any(len(d) >= MIN_NUMBER_DIGITS for d in _number_runs(s)):
            return PHONE_OR_ID
    return None


def looks_like_reference(value: object) -> bool:
    """Whether ``value`` may be echoed: it looks like an application id or a farmer token (one short word, no
    ``+`` or ``@``, not a number of 7 or more digits once separators are removed)."""
    s = _clean(value).strip()
    if not s or len(s) > MAX_SHOWN or any(ch.isspace() for ch in s) or "+" in s or "@" in s:
        return False
    if not s.isprintable():
        return False
    return not number_or_email(s)


def number_or_email(value: object) -> bool:
    """Whether ``value`` is, as a whole, a phone or ID number (7 or more digits once separators are removed) or
    holds an e-mail address's ``@`` — never a reference a record may keep."""
    s = _clean(value).strip()
    bare = _SEPARATORS.sub("", s)
    return "@" in s or (bare.isdecimal() and len(bare) >= MIN_NUMBER_DIGITS)


def shown_argument(value: object, instead: str) -> str:
    """``value`` itself when :func:`looks_like_reference`, else ``instead`` (e.g. ``"the application given"``)."""
    return _clean(value).strip() if looks_like_reference(value) else instead


def reference_shape(value: object) -> str:
    """``value``'s shape: each digit ``9``, each upper-case letter ``A``, each other letter ``a``, the rest kept
    (``A2009-00035`` → ``A9999-99999``) — what an id of the records and a typed argument are compared by."""
    return "".join("9" if ch.isdecimal() else ("A" if ch.isupper() else "a") if ch.isalpha() else ch
                   for ch in _clean(value).strip())


def shown_reference(value: object, shapes: Iterable[str]) -> bool:
    """Whether ``value``, typed where an id of the records was expected and found in none, may be echoed: it
    :func:`looks_like_reference` and has the shape of one of those ids (``shapes``: :func:`reference_shape` of
    each) — a one-word name (``Wenzu``, ``NOPE``: ``Aaaaa``, ``AAAA``) or a phone written with other separators
    (``98765_43210``, ``tel9876543210``) has the shape of no application id, and is not shown."""
    return looks_like_reference(value) and reference_shape(value) in set(shapes)


def echoed_reference(value: object, *, known: bool, personal: bool = False) -> bool:
    """Whether an id argument may be echoed in a message: only one the data hold (``known``: a stored application id,
    a farmer token of the records or fields) that :func:`looks_like_reference` and is no farmer's own identifier
    (``personal``, found by its token). An argument matching nothing is never echoed, whatever its shape: a bank's ids
    and tokens may be any word, and an analyst may have typed a farmer's surname, first name or phone there — the
    message says what to give instead (:func:`unknown_reference_hint`)."""
    return known and not personal and looks_like_reference(value)


def shapes_hint(shapes: Iterable[str] | None) -> str:
    """`` (shaped like A9999-99999, …)`` — at most three stored id shapes, for a message that did not echo the
    argument ('' without any)."""
    shown = sorted(shapes or ())[:3]
    return f" (shaped like {', '.join(shown)})" if shown else ""


def unknown_reference_hint(expected: str, what: str, count: int, shapes: Iterable[str] | None, list_with: str) -> str:
    """What a message about an argument that matches nothing says instead of the argument: what to give
    (``expected``, e.g. ``an application id``) and the shapes of the data's (:func:`shapes_hint`: theirs, never the
    argument's), how many ``what`` the data hold and the command listing them (``list_with``) — ``give an application
    id as in the decision records (shaped like A9999-99999), not a name, phone or ID number: the one given matches none
    of the 12 application ids of the data and is not repeated here; list them with …``. Neither the argument, nor its
    shape or length, nor a keyed fingerprint of it (that would be the farmer's own token when a name was typed) is
    given."""
    return (f"give {expected} as in the decision records{shapes_hint(shapes)}, not a name, phone or ID number: the one "
            f"given matches none of the {count} {what} of the data and is not repeated here; list them with "
            f"{list_with}")
