"""The Book line each exported decision record decided (``decisions export``'s ``line_id`` and ``line_link``).

A record names its line in its body's line block (:func:`underwriting.standing.line_block`: a re-underwriting's
``reunderwrite`` block, a renewal's ``renewal`` block): ``line_link`` ``record``. A first decision on a new
application names none — once the bank books it, the Book holds a line for it: with a Book, such a record is matched
to the Book's line(s) of its ``application_id`` (the Book contract's key to the application that opened the line; a
dated Book's rows of every term count, a renewal under the same line id keeping the line), of the record's farmer
token and currency, and linked only when exactly one line matches (``book``); several lines: ``ambiguous``, no line
id. A record naming a line keeps it, with or without a Book — a decided line ``D-<application>`` too (the store's
stand-in for a line not yet booked, which a re-underwriting follows). Lines of the application's id held by another
farmer token or in another currency are not linked, and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from underwriting.standing import line_block

__all__ = ["LineLinks", "line_links"]

#: ``line_link`` values
RECORD, BOOK, AMBIGUOUS = "record", "book", "ambiguous"


@dataclass(frozen=True)
class LineLinks:
    """Per record (the export's rows, in order): ``line_ids`` and ``links`` (None: none); and the counts the command
    prints: records linked through the Book, ambiguous ones, those whose application id is only on lines of another
    farmer token or currency (``mismatched``), the records a Book was searched for (``unnamed``), the currencies of
    the Book's lines and of the records."""

    line_ids: list[str | None]
    links: list[str | None]
    book_given: bool = False
    linked: int = 0
    ambiguous: int = 0
    mismatched: int = 0
    unnamed: int = 0
    book_currencies: tuple[str, ...] = ()
    record_currencies: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.line_ids)

    def summary(self) -> str:
        """The command's addition to ``wrote N records to OUT`` (empty without a Book)."""
        if not self.book_given:
            return ""
        text = (f", {self.linked} linked to Book lines through the Book ({self.ambiguous} ambiguous"
                + (": several Book lines of one application, not linked" if self.ambiguous else "") + ")")
        if self.mismatched:
            text += (f"; {self.mismatched} whose application id is only on Book lines of another farmer token or "
                     "currency, not linked")
        if self.unnamed and self.record_currencies and not set(self.book_currencies) & set(self.record_currencies):
            text += (f"; the Book's lines are in {', '.join(self.book_currencies) or 'no currency (no line)'}, the "
                     f"records in {', '.join(self.record_currencies)}")
        elif self.unnamed and not (self.linked or self.ambiguous or self.mismatched):
            text += f"; no Book line has the application id of any of the {self.unnamed} record(s) naming no line"
        return text


def _body(b: Any) -> dict[str, Any]:
    return json.loads(b) if isinstance(b, str) else (b or {})


def line_links(records: pd.DataFrame, book: pd.DataFrame | None = None) -> LineLinks:
    """The line each of ``records`` (the store's rows, with ``body``) decided, named by its body or, with ``book``
    (the Book as :func:`underwriting.applications.read_book` reads it), matched through the Book (module docstring)."""
    bodies = records["body"] if "body" in records.columns else pd.Series([None] * len(records), index=records.index)
    named = [line_block(_body(b)).get("line_id") or None for b in bodies]
    ids: list[str | None] = [str(n) if n else None for n in named]
    links: list[str | None] = [RECORD if n else None for n in ids]
    if book is None:
        return LineLinks(ids, links)
    by_app: dict[str, set[tuple[str, str, str]]] = {}  # application id -> {(line id, farmer token, currency)}
    for lid, app, tok, cur in zip(book["line_id"].astype(str), book["application_id"].astype(str),
                                  book["farmer_token"].astype(str), book["currency"].astype(str), strict=True):
        by_app.setdefault(app, set()).add((lid, tok, cur))
    linked = ambiguous = mismatched = unnamed = 0
    apps = records["application_id"].astype(str).tolist()
    toks = records["farmer_token"].astype(str).tolist()
    curs = records["currency"].astype(str).tolist()
    for i, n in enumerate(ids):
        if n is not None:
            continue
        unnamed += 1
        cands = by_app.get(apps[i], set())
        lines = sorted({lid for lid, tok, cur in cands if tok == toks[i] and cur == curs[i]})
        if len(lines) == 1:
            ids[i], links[i] = lines[0], BOOK
            linked += 1
        elif lines:
            ids[i], links[i] = None, AMBIGUOUS
            ambiguous += 1
        elif cands:
            mismatched += 1
    return LineLinks(ids, links, book_given=True, linked=linked, ambiguous=ambiguous, mismatched=mismatched,
                     unnamed=unnamed, book_currencies=tuple(sorted(set(book["currency"].astype(str)))),
                     record_currencies=tuple(sorted(set(curs))))
