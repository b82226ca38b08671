"""Free text kept in a decision record (an override's reason, operator and approver): one line of plain text.

A record is permanent and printed by ``explain`` as lines of text: a line break, tab or terminal escape in a
reason would print lines of its own (a forged "Override: ..." line) or move the terminal's cursor. Such texts
are refused when written (:func:`plain_text_problem`), and records written before are printed escaped
(:func:`escaped`). The characters concerned are Unicode's control (Cc: line breaks, tabs, ESC), surrogate (Cs: bytes
that were not UTF-8) and line/paragraph separator (Zl, Zp) characters, and the format characters that reorder how a
line is shown (bidirectional embeddings, overrides and isolates); the other format characters — joiners, the
right-to-left mark, a soft hyphen — are text some scripts need.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories refused in (and escaped when printing) a record's free text
_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: the format characters (Cf) that reorder how a line is shown — bidirectional embeddings, overrides and isolates
#: ("Trojan source"): refused. The others (the right-to-left and left-to-right marks, joiners, a soft hyphen, a
#: byte-order mark, emoji tags) are text a sentence in some scripts carries (a review found them refused)
_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

#: the longest reason an override keeps (characters): a sentence or a short paragraph, not a document
REASON_MAX_CHARS = 500
#: the longest operator or approver (characters): an analyst's name or id
PERSON_MAX_CHARS = 100


def _unprintable(c: str) -> bool:
    return c in _REORDERING or unicodedata.category(c) in _CATEGORIES


def escaped(text: str, *, doubled: bool = True) -> str:
    """``text`` with each refused character written as a Python escape (``\\n``, ``\\t``, ``\\x1b``, ``\\u202e``):
    printed, it stays one line and moves no cursor. A backslash is written doubled, so that a reason typed with the
    two characters backslash-n prints ``\\\\n``, never like a stored line break (``\\n``); ``doubled=False``: a
    backslash left as it is (the text around free text — field ids, codes — is shown as stored)."""
    if ("\\" not in text or not doubled) and not any(_unprintable(c) for c in text):
        return text
    return "".join("\\\\" if c == "\\" and doubled else
                   c.encode("unicode_escape", "backslashreplace").decode("ascii") if _unprintable(c) else c
                   for c in text)


def plain_text_problem(option: str, text: str, max_chars: int) -> str | None:
    """Why ``text`` (given as ``option``) cannot be kept, in words naming the option and never quoting the text;
    None when it is one line of plain text of at most ``max_chars`` characters."""
    if len(text) > max_chars:
        return (f"{option} is {len(text):,} characters long; at most {max_chars:,} are kept (decision records "
                "are permanent: write a short sentence and keep the documents elsewhere)")
    bad = [c for c in text if _unprintable(c)]
    if bad:
        if any(unicodedata.category(c) == "Cs" for c in bad):  # undecodable bytes, kept as surrogates
            return (f"{option} holds bytes that are not UTF-8 text: set the terminal (or the file it came from) to "
                    "UTF-8 and type it again")
        kinds = sorted({"line breaks" if c in "\n\r\x0b\x0c\x85\u2028\u2029" else "tabs" if c == "\t"
                        else "terminal escapes" if c == "\x1b" else
                        "characters reordering how the line is shown" if c in _REORDERING
                        else "other control characters" for c in bad})
        names = ", ".join(dict.fromkeys(f"{escaped(c)} {unicodedata.name(c, '').lower()}".strip() for c in bad))
        return (f"{option} holds {' and '.join(kinds)} ({names}); records keep it as one line of plain text, "
                "shown as typed: write it without them")
    return None
