"""The decision a credit line stands on.

An application's current record (superseded by none) is the decision in force, except when it is a re-underwriting
that re-estimated nothing (``reunderwrite.not_reestimated`` in its body: the models could not value the fields at
that checkpoint, so the record is a REFER whose limit of 0 is indicative, and the line was kept as it stood). Such a
line stands on the latest earlier record of its chain that decided it (a decision, a re-estimating
re-underwriting, an analyst's override); when every record of its chain is kept it was never decided in the store
and stands as the Book holds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd

__all__ = ["book_maturities", "kept_body", "kept_lines_stand", "line_block", "line_matured", "line_standing",
           "override_behind", "refer_keeps_book_limit", "skips_to_book", "stands_behind", "standing_of", "standing_ids"]


def line_block(body: dict[str, Any]) -> dict[str, Any]:
    """The Book line block of a record's body: a re-underwriting's ``reunderwrite`` block, else a first decision's
    ``renewal`` block (the Book line its application renews: line id, Book limit, balances, proposed actions)."""
    return body.get("reunderwrite") or body.get("renewal") or {}


def book_maturities(book: pd.DataFrame | None) -> dict[str, str]:
    """Line id -> its maturity date (``YYYY-MM-DD``) in ``book``: the latest of its rows (a line renewed under its id
    matures later); empty without a Book or its ``line_id`` and ``maturity_date`` columns."""
    due: dict[str, str] = {}
    if book is None or not len(book) or not {"line_id", "maturity_date"} <= set(book.columns):
        return due
    days = pd.to_datetime(book["maturity_date"]).dt.date.astype(str)
    for line, d in zip(book["line_id"].astype(str), days, strict=True):
        due[line] = max(d, due.get(line, d))
    return due


def line_matured(body: dict[str, Any], day: date | str, maturities: dict[str, str] | None = None) -> str | None:
    """The maturity date of the Book line of a record's ``body`` (:func:`line_block`) when the line matured before
    ``day`` — its Book limit no longer stands on that day (a line still stands on its maturity date) —, else None
    (not matured, no Book line, no maturity known). The maturity is the Book's, ``maturities``
    (:func:`book_maturities`: a line renewed under its id matures later), else the block's ``line_maturity_date``.
    The one rule the portfolio report (its table, exposure, map), the farmer page and the decisions export judge a
    line standing on its Book limit by (:func:`pipelines.report.matured_off_book`)."""
    blk = line_block(body)
    due = (maturities or {}).get(str(blk.get("line_id") or ""), str(blk.get("line_maturity_date") or "")[:10])
    iso = day.isoformat() if isinstance(day, date) else str(day)[:10]
    return due if due and due < iso else None


def kept_body(kind: Any, body: Any) -> bool:
    """Whether a record (its ``kind`` and ``body``, a dict or its JSON text) is a re-underwriting that re-estimated
    nothing."""
    if str(kind) != "reunderwrite":
        return False
    b = json.loads(body) if isinstance(body, str) else (body or {})
    return bool((b.get("reunderwrite") or {}).get("not_reestimated"))


def kept_lines_stand(body: dict[str, Any]) -> bool:
    """Whether the policy that decided ``body`` has ``kept_lines_stand`` (2026.12.5 on): a line kept because it was
    not re-estimated keeps its standing decision — the next re-underwriting, and an override of the kept record,
    measure their change from it."""
    return bool(((body.get("policy") or {}).get("parameters") or {}).get("kept_lines_stand"))


def refer_keeps_book_limit(body: dict[str, Any]) -> bool:
    """Whether the policy that decided ``body`` has ``refer_keeps_book_limit`` (2026.12.8 on): re-underwriting a
    Book line whose previous decision (after :func:`standing_of`) is a REFER or DECLINE — not an analyst's
    override — measures the change from the line's Book limit; a REFER or DECLINE granted nothing. A line kept on
    such a record stands on its Book limit too: the portfolio report counts it there
    (:func:`pipelines.report.standing_decisions`) and an override of the kept record is measured from it
    (:mod:`underwriting.override`)."""
    return bool(((body.get("policy") or {}).get("parameters") or {}).get("refer_keeps_book_limit"))


def skips_to_book(body: dict[str, Any], line_id: Any, outcome: Any, kind: Any) -> bool:
    """Whether a Book line ``line_id``, whose compared (or standing) record has ``outcome`` and ``kind``, is measured
    from its Book limit instead under the policy of ``body`` (:func:`refer_keeps_book_limit`): a REFER or DECLINE
    granted nothing, an analyst's override is a decision in force, a decided line (``D-…``) was opened by its record."""
    line = str(line_id or "")
    return (refer_keeps_book_limit(body) and bool(line) and not line.startswith("D-")
            and str(outcome) in ("REFER", "DECLINE") and str(kind) != "override")


def override_behind(record: Any, get: Callable[[str], Any] | None) -> Any:
    """The analyst's override a line stands on behind ``record``, a REFER or DECLINE that granted nothing: walking
    back its chain (``get``: record id -> record) over REFER and DECLINE records and re-underwritings that
    re-estimated nothing, the first override met (its limit is a decision in force: the line is measured from it,
    not from the Book), or None when a granting decision or the chain's start comes first (the Book line stands).
    A review found a line an analyst had overridden to DECLINE 0 measured from its Book limit after one REFER."""
    rec = record
    seen: set[str] = set()
    while rec is not None and get is not None and str(rec.record_id) not in seen:
        seen.add(str(rec.record_id))
        if str(getattr(rec, "kind", "")) == "override":
            return rec
        if str(rec.outcome) not in ("REFER", "DECLINE") and not kept_body(getattr(rec, "kind", ""), rec.body):
            return None
        rec = get(rec.supersedes) if rec.supersedes else None
    return None


def stands_behind(body: dict[str, Any], line_id: Any, record: Any, get: Callable[[str], Any] | None) -> Any:
    """The record a line stands on when its decision in force (after :func:`standing_of`) is ``record``, under the
    policy of ``body`` (the line's current record's): ``record`` itself; or, when it is a REFER or DECLINE that
    granted nothing (:func:`skips_to_book`: a Book line, not an analyst's override), the analyst's override behind
    it (:func:`override_behind`), else None — the line's Book limit stands until an analyst acts. The one rule the
    re-underwriting measures its change by, applied where a line's standing is read: the portfolio report, the
    override's base, the decisions export. None too when ``record`` is None (the Book line)."""
    if record is None or not skips_to_book(body, line_id, record.outcome, getattr(record, "kind", "")):
        return record
    return override_behind(record, get)


def standing_of(record: Any, get: Callable[[str], Any]) -> Any:
    """The record a line stands on when ``record`` (a stored record: ``kind``, ``body``, ``supersedes``) is its
    current one: ``record`` itself, or — walking back the chain (``get``: record id -> record) past re-underwritings
    that re-estimated nothing — the latest record that decided it; None when every record of the chain is kept."""
    rec = record
    while rec is not None and kept_body(getattr(rec, "kind", ""), rec.body):
        rec = get(rec.supersedes) if rec.supersedes else None
    return rec


def standing_ids(records: pd.DataFrame) -> dict[str, str | None]:
    """Record id -> the id of the record its line stands on, for every current record of ``records`` (the store's
    rows: ``record_id``, ``supersedes``, ``kind``, ``body``) that re-estimated nothing under a policy with
    :func:`kept_lines_stand` (earlier policies' kept records stand as they are, as those releases followed them);
    None where every record of its chain is kept (the Book line stands). Current records that decided are their
    own standing: not listed."""
    if records.empty or not {"record_id", "supersedes", "kind", "body"} <= set(records.columns):
        return {}
    ids = records["record_id"].astype(str).tolist()
    sup = [s if isinstance(s, str) else None for s in records["supersedes"]]
    kept = [kept_body(k, b) for k, b in zip(records["kind"], records["body"], strict=True)]
    at = {r: i for i, r in enumerate(ids)}
    replaced = {s for s in sup if s is not None}
    out: dict[str, str | None] = {}
    for i, rid in enumerate(ids):
        if rid in replaced or not kept[i]:
            continue
        body = records["body"].iloc[i]
        if not kept_lines_stand(json.loads(body) if isinstance(body, str) else (body or {})):
            continue
        j: int | None = i
        while j is not None and kept[j]:
            prev = sup[j]
            j = at.get(prev) if prev is not None else None
        out[rid] = ids[j] if j is not None else None
    return out


def line_standing(records: pd.DataFrame) -> dict[str, tuple[str | None, str | None]]:
    """Current record id -> (the id of the record its line stands on, None for its Book limit; the id of the REFER
    or DECLINE that granted nothing it stands past, else None), for every current record of ``records`` (the
    store's rows: ``record_id``, ``supersedes``, ``kind``, ``outcome``, ``body``) whose line does not stand on it:
    one kept under ``kept_lines_stand`` (:func:`standing_ids`), and under the current record's policy with
    ``refer_keeps_book_limit`` a Book line (a re-underwriting's, or the one a first decision renews:
    :func:`line_block`) whose decision in force — a kept line's, or the current record itself, a
    new REFER or DECLINE — granted nothing (:func:`stands_behind`). Current records that stand on themselves: not
    listed (earlier policies' records never are but as :func:`standing_ids` lists them)."""
    need = {"record_id", "supersedes", "kind", "outcome", "body"}
    stands = standing_ids(records)
    if records.empty or not need <= set(records.columns):  # no outcomes: the kept lines only
        return {rid: (on, None) for rid, on in stands.items()}
    rows = {str(t.record_id): t for t in records[sorted(need)].itertuples(index=False)}
    replaced = {str(s) for s in records["supersedes"] if isinstance(s, str)}
    out: dict[str, tuple[str | None, str | None]] = {}
    for rid, row in rows.items():
        if rid in replaced:
            continue
        if rid in stands:
            on = stands[rid]
        elif kept_body(row.kind, row.body):  # an earlier policy's kept record stands as it is
            continue
        else:
            on = rid
        body = json.loads(row.body) if isinstance(row.body, str) else (row.body or {})
        rec = rows.get(on) if on is not None else None
        # the line: a re-underwriting's, or the Book line a first decision's application renews (its `renewal`
        # block) — a renewal REFER / DECLINE on the underwriting date grants nothing as a re-underwriting's does
        stood = stands_behind(body, line_block(body).get("line_id"), rec, rows.get)
        if stood is not rec:  # past a REFER or DECLINE that granted nothing: the override behind it, or the Book
            out[rid] = (None, on) if stood is None else (str(stood.record_id), None)
        elif on != rid:
            out[rid] = (on, None)
    return out
