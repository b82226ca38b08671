"""Pseudonymous farmer tokens: a keyed HMAC of the farmer's identifiers.

Readers call :func:`tokenise` at the edge: personal identifiers (name, national ID,
phone) become ``farmer_token`` and are dropped, so nothing downstream ever holds
them. The key comes from ``AGCREDIT_TOKEN_KEY``; it is never logged or stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token

import pandas as pd

from features.errors import UserInputError

__all__ = ["IDENTIFIER_COLUMNS", "TOKEN_KEY_ENV", "farmer_token", "key_check", "env_key_check", "tokenise", "token_key", "identifiers_hidden", "same_person",
           "hide_identifiers", "rows_holding_identifiers", "looks_personal", "refuse_personal_tokens",
           "names_a_farmer", "name_words", "quoted", "table_identifiers", "phone_forms", "ids_naming_farmers", "hide_quoted_words", "row_name_words",
           "ID_COLUMNS"]

TOKEN_KEY_ENV = "AGCREDIT_TOKEN_KEY"
#: columns that hold personal identifiers, in the order used to derive the token
IDENTIFIER_COLUMNS = ("national_id", "farmer_id", "farmer_name", "phone")
_MIN_KEY = 16


class TokenKeyMissing(UserInputError):
    """Identifiers are present but no usable key is set to pseudonymise them (unset, or too short).

    ``length`` is the length of the key that is set (0: not set); the key itself is never kept or shown.
    """

    def __init__(self, *, source: str, length: int = 0) -> None:
        self.source = source
        self.length = length
        state = "is not set" if length == 0 else f"is too short ({length} characters)"
        super().__init__(
            f"{source}: personal identifiers found but {TOKEN_KEY_ENV} {state} "
            f"(set it to a secret of at least {_MIN_KEY} characters)"
        )


def token_key(source: str) -> bytes:
    """The HMAC key from the environment, or a one-line error naming ``source`` (unset or too short)."""
    key = os.environ.get(TOKEN_KEY_ENV, "")
    if len(key) < _MIN_KEY:
        raise TokenKeyMissing(source=source, length=len(key))
    return key.encode("utf-8")


#: what the key check hashes (a fixed message: the check names a key, never a farmer)
_KEY_CHECK_MESSAGE = b"agcredit farmer-token key check v1"


def key_check(key: bytes) -> str:
    """A short public fingerprint of the token key (a "key check value", as banks print for their keys): 16 hex digits
    of HMAC-SHA256(key, a fixed message) — the same key gives the same check, another key another; it tells nothing
    of the key or of any farmer's token. The decision store keeps the check of the key its farmers' tokens were made
    with, so that a run under another key is refused instead of forking farmers' identities."""
    return "hmac-sha256:" + hmac.new(key, _KEY_CHECK_MESSAGE, hashlib.sha256).hexdigest()[:16]


def env_key_check() -> str | None:
    """:func:`key_check` of ``AGCREDIT_TOKEN_KEY`` when a usable key is set (at least 16 characters), else None."""
    key = os.environ.get(TOKEN_KEY_ENV, "")
    return key_check(key.encode("utf-8")) if len(key) >= _MIN_KEY else None


def _norm(v: object) -> str:
    s = unicodedata.normalize("NFKC", str(v)).strip().casefold()
    return "".join(ch for ch in s if ch.isalnum())


def _is_word_char(ch: str) -> bool:
    """A letter, a digit, or a combining mark (Unicode category M*: a Devanagari vowel sign, a decomposed accent)."""
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def _norm_words(v: object) -> str:
    """``v`` as the hiding and id checks compare it: NFKC, case-folded, letters, digits and combining marks kept
    (:func:`_norm` drops the marks — ``वेंटेडा`` became 3 letters, under :data:`_MIN_HIDDEN`, and was never searched
    for); lengths are counted on this (letters and marks). Tokens keep :func:`_norm` (stores hold them)."""
    s = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", str(v)).strip().casefold())
    return "".join(ch for ch in s if _is_word_char(ch))


def farmer_token(identifier: str, key: bytes) -> str:
    """``'F'`` + 20 hex digits of HMAC-SHA256(key, normalised identifier)."""
    return "F" + hmac.new(key, _norm(identifier).encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def name_words(df: pd.DataFrame) -> frozenset[str]:
    """Each word (3+ characters, case-folded) of the farmers' names of ``df`` (as read, before :func:`tokenise`): a
    surname typed into a crop column is not one of the table's identifiers, but is never quoted either. Each word is
    there as typed and composed and decomposed (NFC, NFD: ``Ménarda`` typed either way), for the callers that look a
    case-folded cell up in it."""
    if "farmer_name" not in df.columns:
        return frozenset()
    words = {w.casefold() for v in df["farmer_name"].dropna() for w in str(v).split() if _long_enough(w, 3)}
    return frozenset(words | {unicodedata.normalize(f, w) for w in words for f in ("NFC", "NFD")})


def names_a_farmer(value: str, is_token: Callable[[str], bool]) -> bool:
    """Whether ``value``, typed where a reference (an application id, a farmer token) was expected, is a farmer's own
    identifier: its keyed HMAC under ``AGCREDIT_TOKEN_KEY`` is a farmer token ``is_token`` knows (the records', the
    fields'). An alphanumeric national ID (``ABCDE1234F``) has a reference's shape and was echoed in "no stored
    decision" messages; such a value is never shown. Without a usable key nothing can be told: False."""
    key = os.environ.get(TOKEN_KEY_ENV, "")
    if len(key) < _MIN_KEY or not str(value).strip():
        return False
    return bool(is_token(farmer_token(str(value), key.encode("utf-8"))))


_TOKEN_SEPARATORS = re.compile(r"[\s().\-/]")


def looks_personal(value: str) -> bool:
    """Whether a value that should be a one-word code (a pseudonymous token, a crop name) is personal data by its
    shape: more than one word (a name), a phone or ID number (7+ digits once separators go), an e-mail or a ``+``
    number."""
    s = unicodedata.normalize("NFKC", value).strip()
    bare = _TOKEN_SEPARATORS.sub("", s)
    return any(ch.isspace() for ch in s) or "@" in s or "+" in s or (bare.isdecimal() and len(bare) >= 7)


def quoted(value: object) -> str:
    """A value as an error message quotes it (``repr``), unless it has the shape of personal data
    (:func:`looks_personal`: two or more words — a name —, a phone or ID number, an e-mail): then :data:`HIDDEN` and
    why. For the values that should be one-word codes (a region, a currency, an amount): a farmer's name typed or
    shifted into such a column is not one of the file's identifiers, which are hidden by name, so its shape hides it."""
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()) and (
            looks_personal(value) or _PHONE_DIGITS.search(_TOKEN_SEPARATORS.sub("", _GROUPING.sub("", value)))):
        # a phone's digits with a letter, a sign or commas beside them (9876543210k, ₹9876543210, 98,76,54,3210)
        # are a phone's digits still: a message never quotes them (a token, which must be one word, keeps
        # looks_personal's narrower test)
        return f"{HIDDEN} (not shown: shaped like a name, phone or ID number)"
    return repr(value)


#: a number with a fraction or an exponent (an amount with too many decimals is quoted, not taken for an ID number by
#: its digits; whole digits alone are a phone's or an ID number's shape)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)")
#: seven digits in a row once separators go: a phone or ID number in any message (:data:`_PERSONAL_DIGITS` of money)
_PHONE_DIGITS = re.compile(r"\d{7,}")
#: digit grouping marks (commas, apostrophes, underscores, narrow and no-break spaces) between digits
_GROUPING = re.compile(r"(?<=\d)[,'_\u00a0\u202f](?=\d)")


def refuse_personal_tokens(df: pd.DataFrame, *, source: str) -> None:
    """A ``farmer_token`` column given in a table is stored in every decision record as it is: one holding a name,
    a phone or ID number, an e-mail (:func:`looks_personal`), or one of the table's own identifiers
    (:func:`rows_holding_identifiers`) is refused, naming rows only (a bank's own pseudonymous customer keys — one
    word, not a phone or ID number — pass)."""
    from features.errors import file_rows, format_offenders

    bad = set(rows_holding_identifiers(df, "farmer_token"))
    bad |= {i for i, v in enumerate(df["farmer_token"]) if v is not None and not (isinstance(v, float) and pd.isna(v))
            and looks_personal(str(v))}
    if bad:
        raise UserInputError(f"{source}: column 'farmer_token': expected a pseudonymous token (one word, not a "
                             "farmer's name, ID or phone number: tokens are kept in the permanent records), found "
                             f"personal data at {format_offenders(file_rows(source, sorted(bad)))}")


def tokenise(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Replace identifier columns by ``farmer_token`` (if not already present) and drop them.

    The token is derived from the first identifier column present in
    :data:`IDENTIFIER_COLUMNS` order (national ID preferred); rows lacking it are an error.
    """
    present = [c for c in IDENTIFIER_COLUMNS if c in df.columns]
    if "farmer_token" in df.columns:
        refuse_personal_tokens(df, source=source)
    if not present:
        return df
    out = df.drop(columns=present)
    if "farmer_token" in df.columns and df["farmer_token"].notna().all():
        return out
    key = token_key(source)
    basis = present[0]
    vals = df[basis]
    missing = vals.isna() | (vals.astype("string").str.strip() == "")
    if missing.any():
        from features.errors import file_rows, format_offenders

        raise UserInputError(
            f"{source}: column '{basis}': expected an identifier on every row, found missing values at "
            f"{format_offenders(file_rows(source, [i for i in range(len(df)) if bool(missing.iloc[i])]))}"
        )
    _refuse_rounded_ids(vals, basis, source)
    if basis != "farmer_name" and "farmer_name" in df.columns:
        _refuse_one_id_two_names(df, basis, source)
    out = out.copy()
    out["farmer_token"] = [farmer_token(v, key) for v in vals.astype(str)]
    from features._loose_ids import remember

    remember(out["farmer_token"], vals.astype(str), basis, key)  # a file writing the same IDs otherwise is told
    out.attrs[TOKEN_BASIS_ATTR] = basis  # which identifier the tokens hash (files matched by token must agree)
    if pd.api.types.is_float_dtype(vals.dtype):  # "123456789.0" is hashed as read (tokens of earlier records)
        out.attrs[TOKEN_FLOAT_ATTR] = True
    return out


#: an identifier a spreadsheet rewrote in scientific notation ("1.00006E+11", "9.19876e+11"; a decimal comma too;
#: one digit before the point and a signed exponent of two or three digits, as spreadsheets write it: a customer key
#: such as "2023E0001" or "2023E-0001" is not one)
_SCIENTIFIC = re.compile(r"\s*[+-]?\d(?:[.,]\d+)?[eE][+-]\d{2,3}\s*")


_AS_RECORDED: ContextVar[bool] = ContextVar("agcredit_ids_as_recorded", default=False)


class ids_as_recorded(contextlib.ContextDecorator):  # noqa: N801 - used as a decorator, named as one
    """Within it (``audit replay``), identifiers are read as the records' run read them: rounded ones are not refused
    (a review: decisions made before the refusal could no longer be replayed — the file written as it was is the
    only input that reproduces them)."""

    def __init__(self) -> None:
        self._tokens: list[Token[bool]] = []

    def __enter__(self) -> ids_as_recorded:
        self._tokens.append(_AS_RECORDED.set(True))
        return self

    def __exit__(self, *exc: object) -> None:
        _AS_RECORDED.reset(self._tokens.pop())


def _refuse_rounded_ids(vals: pd.Series, basis: str, source: str) -> None:
    """Identifiers a spreadsheet rewrote in scientific notation (a 12-digit ID number shown as ``1.00006E+11`` and
    saved so) are refused, naming the rows only: their last digits are lost, so one farmer's token matched none of
    their other files (a farmer decided without fields, a Book line cut loose, an alert naming no line) and two
    farmers rounded to one value were merged under one token — each decided on both farmers' fields, exit 0 (a
    walkthrough)."""
    from features.errors import file_rows, format_offenders

    bad = [i for i, v in enumerate(vals) if isinstance(v, str) and _SCIENTIFIC.fullmatch(v)]
    if bad and not _AS_RECORDED.get():
        raise UserInputError(f"{source}: column '{basis}': expected identifiers written out in full, found numbers in "
                             "scientific notation (a spreadsheet rewrote them, as in 1.2E+11: their last digits are "
                             "lost; format the column as text and export the file again; the values are not shown) at "
                             f"{format_offenders(file_rows(source, bad))}")


def _refuse_one_id_two_names(df: pd.DataFrame, basis: str, source: str) -> None:
    """Rows whose ``basis`` identifier (a national ID) is one but whose farmers' names share no word (case and
    punctuation aside: "S. Voquator" and "Suvo Voquator" are one person) are refused, naming the rows only: the
    token hashes the ID alone, so a mistyped ID merged two farmers — their fields, pledges and limits — under one
    token without a word (a walkthrough)."""
    from features.errors import file_rows, format_offenders

    words: dict[str, list[tuple[int, set[str]]]] = {}
    for i, (v, n) in enumerate(zip(df[basis], df["farmer_name"], strict=True)):
        if v is None or (isinstance(v, float) and pd.isna(v)) or n is None or (isinstance(n, float) and pd.isna(n)):
            continue
        ws = {_norm(w) for w in str(n).split()} - {""}
        if ws:
            words.setdefault(_norm(v), []).append((i, ws))
    bad: set[int] = set()
    for rows in words.values():
        for (i, a), (j, b) in zip(rows, rows[1:], strict=False):
            if a.isdisjoint(b):
                bad |= {i, j}
    if bad:
        raise UserInputError(f"{source}: column '{basis}': expected one farmer per identifier, found one identifier "
                             f"under names with no word in common (two farmers merged under one token? the values are "
                             f"not shown) at {format_offenders(file_rows(source, sorted(bad)))}")


#: ``DataFrame.attrs`` key naming the identifier column a table's farmer tokens were derived from
TOKEN_BASIS_ATTR = "agcredit_token_basis"
#: ``DataFrame.attrs`` key set when that column was read as decimal numbers (a Shapefile's or GeoPackage's real
#: field, a Parquet float): its IDs are hashed as read (``123456789.0``), so they match no file that holds them as text
#: — kept so (changing it would change the tokens of the records made from such files), named when nothing matches
TOKEN_FLOAT_ATTR = "agcredit_token_float"

HIDDEN = "<personal data>"
_MIN_HIDDEN = 4  # identifiers shorter than this are not searched for (they would hide ordinary words)


def _long_enough(n: str, least: int = _MIN_HIDDEN) -> bool:
    """``n`` (normalised) long enough to be searched for: its length with a wide character (Han, Hangul, kana) counted
    twice — a whole Chinese or Korean name is 2–3 of them, one syllable each (a review found `L-王小明` kept in the
    records and `'王小明'` quoted: under 4 characters, never searched)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in n) >= least


def _compact(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` as :func:`_norm_words` compares it, and for each kept character the start and end in ``text`` of the
    character it comes from with its combining marks (normalised one such cluster at a time, so that a decomposed
    ``é`` or a Devanagari syllable maps back onto ``text`` itself)."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.category(text[j]).startswith("M"):
            j += 1
        for ch in _norm_words(text[i:j]):
            out.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(out), starts, ends


def hide_identifiers(message: str, identifiers: set[str]) -> str:
    """``message`` with every whole-word occurrence of one of ``identifiers`` replaced by ``<personal data>``,
    compared on letters, digits and combining marks only (:func:`_norm_words`), case-insensitively (so ``'Mibel
    Piquada'``, ``mibel_piquada``, ``+91 00000 06079`` and ``91-00000-06079`` are all found, and ``वेंटेडा`` or a
    decomposed ``Ménarda``)."""
    norms = sorted({n for n in (_norm_words(v) for v in identifiers) if _long_enough(n)}, key=len, reverse=True)
    if not norms or not message:
        return message
    compact, starts, ends = _compact(message)
    spans: list[tuple[int, int]] = []
    for n in norms:
        for m in re.finditer(re.escape(n), compact):
            if (m.start() > 0 and starts[m.start() - 1] == starts[m.start()]) or \
                    (m.end() < len(compact) and starts[m.end()] == starts[m.end() - 1]):
                continue  # begins or ends inside a character with its marks: part of another word
            a, b = starts[m.start()], ends[m.end() - 1]
            a -= 1 if a > 0 and message[a - 1] == "+" else 0  # a phone's leading +
            whole = (a == 0 or not _is_word_char(message[a - 1])) and (b == len(message) or not _is_word_char(message[b]))
            if whole and not any(x < b and a < y for x, y in spans):
                spans.append((a, b))
    for a, b in sorted(spans, reverse=True):
        message = message[:a] + HIDDEN + message[b:]
    return message


#: a quoted value made only of digits and a phone's or an ID's separators, with at least 9 digits: a phone or ID
#: number whoever it belongs to (a farmer of another table typed into this one), never shown in a message
_QUOTED_NUMBER = re.compile(r"""(['"])(\+?[\d\s().-]*)\1""")
_MIN_ID_DIGITS = 9
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def hide_quoted_numbers(message: str) -> str:
    """``message`` with every quoted phone- or ID-like value (≥ 9 digits, only digits, spaces, ``+ ( ) . -``)
    replaced by ``<personal data>``."""
    def sub(m: re.Match[str]) -> str:
        text = m.group(2)
        if sum(ch.isdigit() for ch in text) < _MIN_ID_DIGITS or _DATE.search(text):  # dates and ranges of them stay
            return m.group(0)
        return m.group(1) + HIDDEN + m.group(1)
    return _QUOTED_NUMBER.sub(sub, message)


def table_identifiers(df: pd.DataFrame) -> set[str]:
    """The personal identifiers of ``df`` (as read, before :func:`tokenise`): each identifier cell, whole — what no
    message repeats and no id holds (:func:`ids_naming_farmers`; a word of a name: :func:`row_name_words`) —, and a
    phone in international form as dialled at home too (:func:`phone_forms`: ``F-00000-18677`` holds
    ``+91-00000-18677``'s number)."""
    out = {str(v) for c in IDENTIFIER_COLUMNS if c in df.columns for v in df[c].dropna()}
    if "phone" in df.columns:
        out.update(f for v in df["phone"].dropna() for f in phone_forms(str(v)))
    return out


#: ITU-T E.164 country calling codes of one and two digits (the codes form a prefix code: every other code has three)
_CC_1 = frozenset("17")
_CC_2 = frozenset(("20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48",
                   "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81",
                   "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"))
#: digits of a national number searched for on its own: shorter ones (7- and 8-digit plans) match other farmers'
#: numeric parcel and line ids (a review: `+354 555 1234` refused another farmer's field `5551234`)
_MIN_NATIONAL = 9


def phone_forms(phone: str) -> set[str]:
    """The national forms of a phone number written in international form (``+91-98765-43210``, ``0091 …``): its
    number without the country code (``9876543210``) and with the trunk prefix (``09876543210``) — how the same
    phone is written at home, in an id or a message. The country code is the ITU-T prefix of the digits. A number
    not in international form, or with a national part under 9 digits, gives nothing."""
    s = unicodedata.normalize("NFKC", phone).strip()
    digits = "".join(ch for ch in s if ch.isdigit())
    if s.startswith("00"):
        digits = digits[2:]
    elif not s.startswith("+"):
        return set()
    cc = 1 if digits[:1] in _CC_1 else 2 if digits[:2] in _CC_2 else 3
    national = digits[cc:]
    return {national, "0" + national} if len(national) >= _MIN_NATIONAL else set()


_QUOTED_TEXT = re.compile(r"""(['"])([^'"]*)\1""")


def hide_quoted_words(message: str, words: Iterable[str]) -> str:
    """``message`` with every quoted value holding one of ``words`` (a word of a farmer's name, 4+ characters) as a
    whole word replaced by ``'<personal data>'``: a surname alone typed as a currency, an amount or a region was
    quoted (``found 'Lopira'``). Only quoted values: the message's own words ("farmer", "rice") may be someone's
    name too."""
    norm = {n for n in (_norm_words(w) for w in words) if _long_enough(n)}
    if not norm or not message:
        return message

    def sub(m: re.Match[str]) -> str:  # words split at spaces and hyphens only: 'field_id' is no word "field"
        words = {_norm_words(w) for w in re.split(r"[\s\-]+", m.group(2))}
        return m.group(0) if norm.isdisjoint(words) else m.group(1) + HIDDEN + m.group(1)
    return _QUOTED_TEXT.sub(sub, message)


@contextmanager
def identifiers_hidden(df: pd.DataFrame) -> Iterator[None]:
    """Around the checks of a table that held personal identifiers (``df``: as read, before :func:`tokenise`): a
    user error whose message repeats one of them (a name typed into the amount column, a phone in the currency
    column) has it replaced by ``<personal data>`` — messages name the column and the row, never the person; so does
    any quoted phone- or ID-like number (:func:`hide_quoted_numbers`: another table's farmer's phone)."""
    try:
        yield
    except UserInputError as e:
        text = str(e)  # the errors build their message once, into args[0] (none overrides __str__)
        hidden = hide_quoted_numbers(hide_quoted_words(hide_identifiers(text, table_identifiers(df)), name_words(df)))
        if hidden != text:
            e.args = (hidden,)
        raise


def rows_holding_identifiers(df: pd.DataFrame, column: str) -> list[int]:
    """0-based rows whose ``column`` is one of the table's personal identifiers (a farmer's name, national ID or
    phone typed as the application or line id, which records would keep for good)."""
    if column not in df.columns:
        return []
    if column in ID_COLUMNS:  # an id holding one as a word, or a word of its own farmer's name (ids_naming_farmers)
        return ids_naming_farmers(df[column], table_identifiers(df), row_name_words(df))
    known = {n for c in IDENTIFIER_COLUMNS if c in df.columns for n in (_norm(v) for v in df[c].dropna())
             if _long_enough(n)}
    return [i for i, v in enumerate(df[column]) if v is not None and _norm(v) in known] if known else []


#: the columns whose values are kept in the permanent records as references: refused when they name a farmer
ID_COLUMNS = ("application_id", "line_id", "field_id", "farmer_token")


def ids_naming_farmers(ids: Iterable[object], identifiers: set[str],
                       own_words: Sequence[frozenset[str]] | None = None) -> list[int]:
    """0-based positions of ``ids`` holding one of ``identifiers`` (:func:`table_identifiers`: any farmer's name, ID
    or phone, whole) as a whole word, compared on letters and digits (``L-Wenzu-Wenteda``, ``L-000002718677``), or
    one word (4+ characters) of the name of the row's own farmer (``own_words[i]``, :func:`row_name_words`:
    ``Wenteda`` on Wenzu Wenteda's line): an id is kept in the permanent records. A word of another farmer's name is
    no leak — ``RICE-12``, ``North-Field-3`` are ordinary ids when some farmer is called Rice or North (a review
    found such files refused). A Book has no names: a run checks its ids against the applications' too
    (:func:`underwriting.applications.applicant_identifiers`)."""
    known = {n for n in (_norm_words(v) for v in identifiers) if _long_enough(n)}
    out = []
    for i, v in enumerate(ids):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            continue
        runs = _word_runs(str(v))
        if not known.isdisjoint(runs) or (own_words is not None and not runs.isdisjoint(own_words[i])):
            out.append(i)
    return out


def row_name_words(df: pd.DataFrame) -> list[frozenset[str]]:
    """Each row's farmer's name words (4+ letters and marks, normalised as :func:`_norm_words`), for
    :func:`ids_naming_farmers`."""
    if "farmer_name" not in df.columns:
        return [frozenset()] * len(df)
    return [frozenset() if n is None or (isinstance(n, float) and pd.isna(n)) else
            frozenset(w for w in (_norm_words(x) for x in str(n).split()) if _long_enough(w)) for n in df["farmer_name"]]


def _word_runs(text: str) -> set[str]:
    """Each run of consecutive words of ``text`` (split where a character is neither a letter, a digit nor a
    combining mark), joined and normalised as :func:`_norm_words` does: what :func:`hide_identifiers` finds in it as a
    whole word, by set lookup (an id is a few words; the table has thousands of ids and identifiers — one search per
    pair cost minutes)."""
    s = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    words = "".join(ch if _is_word_char(ch) else " " for ch in s).split()
    return {"".join(words[a:b]) for a in range(len(words)) for b in range(a + 1, len(words) + 1)}


def same_person(a: str, b: str) -> bool:
    """Two operator ids (staff ids) compared as people, not strings: case, spacing, width (NFKC) and invisible format
    characters (zero-width spaces) do not make a second person — an override's operator and approver, a forced
    promotion's operator and approver."""
    def norm(x: str) -> str:
        x = "".join(ch for ch in unicodedata.normalize("NFKC", x) if unicodedata.category(ch) != "Cf")
        return " ".join(x.split()).casefold()
    return norm(a) == norm(b)
