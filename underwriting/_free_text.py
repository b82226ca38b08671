"""Free text kept in a decision record (an override's reason, operator and approver): one line of plain text.

A record is permanent and printed by ``explain`` as lines of text: a line break, tab or terminal escape in a
reason would print lines of its own (a forged "Override: ..." line) or move the terminal's cursor. Such texts
are refused when written (:func:`plain_text_problem`), and records written before are printed escaped
(:func:`escaped`). The characters concerned are Unicode's control (Cc: line breaks, tabs, ESC), format (Cf:
bidirectional overrides, zero-width spaces, the byte-order mark), surrogate (Cs: bytes that were not UTF-8) and
line/paragraph separator (Zl, Zp) characters, except the zero-width joiner and non-joiner (U+200D, U+200C), which
words of several scripts (Devanagari, Malayalam, Persian) need.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories refused in (and escaped when printing) a record's free text
_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: format characters a normal sentence of some scripts needs: zero-width non-joiner and joiner
_ALLOWED = frozenset({"\u200c", "\u200d"})

#: the longest reason an override keeps (characters): a sentence or a short paragraph, not a document
REASON_MAX_CHARS = 500
#: the longest operator or approver (characters): an analyst's name or id
PERSON_MAX_CHARS = 100


def _unprintable(c: str) -> bool:
    return c not in _ALLOWED and unicodedata.category(c) in _CATEGORIES


def escaped(text: str) -> str:
    """``text`` with each refused character written as a Python escape (``\\n``, ``\\t``, ``\\x1b``, ``\\u202e``):
    printed, it stays one line and moves no cursor."""
    if not any(_unprintable(c) for c in text):
        return text
    return "".join(c.encode("unicode_escape", "backslashreplace").decode("ascii") if _unprintable(c) else c
                   for c in text)


def plain_text_problem(option: str, text: str, max_chars: int) -> str | None:
    """Why ``text`` (given as ``option``) cannot be kept, in words naming the option and never quoting the text;
    None when it is one line of plain text of at most ``max_chars`` characters."""
    if len(text) > max_chars:
        return (f"{option} is {len(text):,} characters long; at most {max_chars:,} are kept (decision records "
                "are permanent: write a short sentence and keep the documents elsewhere)")
    bad = [c for c in text if _unprintable(c)]
    if bad:
        kinds = sorted({"line breaks" if c in "\n\r\x0b\x0c\x85\u2028\u2029" else "tabs" if c == "\t"
                        else "terminal escapes" if c == "\x1b" else "other control or format characters"
                        for c in bad})
        return (f"{option} holds {' and '.join(kinds)} ({', '.join(dict.fromkeys(escaped(c) for c in bad))}); "
                "decision records keep it as one line of plain text: write it on one line")
    return None
