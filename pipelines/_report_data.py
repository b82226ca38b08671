"""What the report pages show, and what stands on the page's date.

:class:`ReportData`, each application's latest record (:func:`latest_decisions`), the decision each line stands on
(:func:`standing_decisions`: an earlier decision, its Book limit :data:`ON_BOOK`, none once its Book line matured,
:data:`MATURED`) and the one view of it every table, map and page shows (:func:`standing_on_page`). Re-exported by
:mod:`pipelines.report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from underwriting.standing import book_maturities, line_block, line_matured, line_standing


@dataclass
class ReportData:
    """What the pages show; built by the pipelines from the decision store, fields and series."""

    season: str
    decisions: pd.DataFrame
    fields: gpd.GeoDataFrame
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)
    obs: pd.DataFrame = field(default_factory=pd.DataFrame)
    bands: pd.DataFrame = field(default_factory=pd.DataFrame)
    season_start: date | None = None
    checkpoints: list[tuple[date, str]] = field(default_factory=list)
    synthetic: bool = False
    #: the data's county.json does not say whether it is synthetic (no ``synthetic`` flag): the pages say so, as the
    #: evaluations label it (:data:`pipelines.evaluation.UNLABELLED`), never presenting it as real
    unlabelled: bool = False
    title: str = "agcredit portfolio"
    as_of: date | None = None  #: the report's as-of date when one was given (--as-of)
    #: the Book's lines of the season active on the report's date, when a Book was given (the page totals them and
    #: lists those no record of the season decides)
    book: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the fields file's rows set aside by ``--rejects`` (:class:`features.fields.SetAside`): not on the pages' maps,
    #: curves or alerts; the pages name them (:func:`_set_aside_note`)
    set_aside: list[Any] = field(default_factory=list)
    #: the date the alerts' state (new / open / closed) is measured from (--since); None: the previous checkpoint
    since: date | None = None
    #: the alerts the page as of ``since`` showed (computed as of that date, as that report computed them): one of
    #: them no longer raised on a field evaluated now is ``closed``. None: not computed (only the store's records say
    #: which alerts were open then)
    previous_alerts: pd.DataFrame | None = None
    #: which crop-type model (the champion on the report's date, or today's) and thresholds the alerts were computed
    #: with, as the page says it ("" : not said)
    models_note: str = ""
    #: the fields whose alerts were computed as of the report's date (a series of theirs read; not set aside): an
    #: alert the store held open on another field is not "closed" but not evaluated. None: no alert was computed
    #: (no imagery given), so none is called closed
    evaluated: frozenset[str] | None = None
    #: whether CROP_MISMATCH could be raised (a crop-type model was loaded): else a stored one is not evaluated
    mismatch_evaluated: bool = True
    #: set by :func:`alert_states`: the stored open alerts no longer raised on fields (or of types) not evaluated now
    unassessed: int = 0
    #: line id -> its maturity in the Book as of the page's date, every line's (active or not, any season:
    #: :func:`underwriting.standing.book_maturities`), as ``decisions export --book`` reads it; None: ``book``'s
    maturities: dict[str, str] | None = None


def latest_decisions(records: pd.DataFrame) -> pd.DataFrame:
    """Latest record per application (by as-of, then chain order), with the previous limit beside it."""
    if records.empty:
        return records.assign(previous_limit=pd.Series(dtype="float64"))
    r = records.reset_index(drop=True).assign(_pos=lambda d: np.arange(len(d)))
    r = r.sort_values(["application_id", "as_of", "_pos"])
    prev = r.groupby("application_id")["limit"].shift(1)
    r = r.assign(previous_limit=prev)
    return r.groupby("application_id").tail(1).drop(columns="_pos").sort_values("application_id").reset_index(drop=True)


#: the report's outcome of a line kept at a re-underwriting that re-estimated nothing and never decided in the store:
#: it stands on its Book line (granted there, not by a record)
ON_BOOK = "BOOK"


def standing_decisions(records: pd.DataFrame) -> pd.DataFrame:
    """:func:`latest_decisions`, each line whose latest record is a re-underwriting that re-estimated nothing (the
    models could not value its fields then; the line was kept as it stood) shown on the decision it stands on
    (:func:`underwriting.standing.standing_ids`: the latest earlier record of its chain that decided it),
    ``kept_as_of`` the first date of its run of kept records. A line whose every record is kept was never decided in
    the store and stands as the Book holds it: outcome :data:`ON_BOOK`, limit the Book limit its latest record names
    (``book_standing`` too; NaN elsewhere). Under a policy with ``refer_keeps_book_limit`` (2026.12.8 on; the kept
    record's) a Book line (not ``D-…``) whose standing decision is a REFER or DECLINE that is not an analyst's override
    stands on its Book limit too — a REFER or DECLINE grants nothing, as its re-underwriting measures it — shown on
    that record (its date, reasons) with outcome :data:`ON_BOOK`, ``skipped_outcome`` its outcome and
    ``skipped_limit`` its own limit (a REFER's indicative one; None elsewhere) — so does a line whose latest record
    is itself a re-underwriting that decided a REFER or DECLINE (``kept_as_of`` None), and a line with an analyst's
    override behind that REFER or DECLINE stands on the override (:func:`underwriting.standing.line_standing`, as its
    next re-underwriting measures it)."""
    from underwriting.standing import kept_body

    dec = latest_decisions(records)
    dec = dec.assign(kept_as_of=pd.Series([None] * len(dec), index=dec.index, dtype=object),
                     book_standing=np.nan,
                     skipped_outcome=pd.Series([None] * len(dec), index=dec.index, dtype=object),
                     skipped_limit=pd.Series([None] * len(dec), index=dec.index, dtype=object))
    stands = line_standing(records)
    if not stands:
        return dec
    rows = records.reset_index(drop=True)
    at = {str(r): i for i, r in enumerate(rows["record_id"].astype(str))}
    for idx in dec.index:
        rid = str(dec.at[idx, "record_id"])
        if rid not in stands:
            continue
        kept = kept_body(dec.at[idx, "kind"], dec.at[idx, "body"])
        first, cur = str(dec.at[idx, "as_of"]), rid
        while kept and cur in at and kept_body(rows.at[at[cur], "kind"], rows.at[at[cur], "body"]):
            first = str(rows.at[at[cur], "as_of"])  # back to the first of the run of kept records
            sup = rows.at[at[cur], "supersedes"]
            cur = str(sup) if isinstance(sup, str) else ""
        on, skipped = stands[rid]
        b = dec.at[idx, "body"]
        b = json.loads(b) if isinstance(b, str) else (b or {})
        ru = line_block(b)
        book = int(ru.get("book_limit") or 0)
        if on is None and skipped is None:  # never decided in the store: the Book line stands
            dec.loc[idx, "book_standing"] = float(book)
            dec.at[idx, "outcome"], dec.at[idx, "limit"] = ON_BOOK, book
        else:
            # a REFER or DECLINE granted nothing: a Book line stands on its Book limit (refer_keeps_book_limit, the
            # current record's policy), or on an analyst's override behind it; a decided line (D-…) on its record's
            rec = rows.loc[at[skipped if skipped is not None else str(on)]]
            for c in dec.columns:
                if c in rec.index and c != "previous_limit":
                    dec.at[idx, c] = rec[c]
            if skipped is not None:
                dec.loc[idx, "book_standing"] = float(book)
                dec.at[idx, "skipped_outcome"] = str(rec["outcome"])
                dec.at[idx, "skipped_limit"] = int(rec["limit"])
                dec.at[idx, "outcome"], dec.at[idx, "limit"] = ON_BOOK, book
        if kept:
            dec.at[idx, "kept_as_of"] = first
    return dec


#: the outcome shown for a line kept at re-underwritings, never decided in the store, whose Book line matured before
#: the page's date: no limit stands (:func:`matured_off_book`)
MATURED = "MATURED"


def matured_off_book(std: pd.DataFrame, bodies: list[dict[str, Any]], day: str,
                     book: pd.DataFrame | None = None, maturities: dict[str, str] | None = None) -> pd.DataFrame:
    """:func:`standing_decisions` without the Book limits of lines that matured before ``day`` (the page's date): a
    line standing on its Book limit (:data:`ON_BOOK`) whose maturity date is earlier no longer has that limit to stand
    on — it was counted in the exposure at its full Book limit months after the Book summary had stopped counting it
    active. The maturity is the ``book``'s (its latest date for the line: a line renewed under its id matures
    later; ``maturities`` in its place when given, :attr:`ReportData.maturities`), else its record's Book line
    block's ``line_maturity_date``. Such a row shows the REFER or DECLINE it stood
    past (``skipped_outcome``) at 0 — a line never decided in the store :data:`MATURED` —, ``line_matured`` its maturity
    date (None elsewhere; the page lists them apart, :func:`manager_figures`)."""
    std = std.assign(line_matured=pd.Series([None] * len(std), index=std.index, dtype=object))
    dues = maturities if maturities is not None else book_maturities(book)
    for k, idx in enumerate(std.index):
        due = line_matured(bodies[k], day, dues)
        if pd.isna(std.at[idx, "book_standing"]) or due is None:
            continue
        skipped = std.at[idx, "skipped_outcome"]
        std.at[idx, "outcome"] = str(skipped) if skipped is not None else MATURED
        std.at[idx, "limit"] = 0
        std.at[idx, "book_standing"] = np.nan
        std.at[idx, "skipped_outcome"] = None
        std.at[idx, "kept_as_of"] = None
        std.at[idx, "line_matured"] = due
    return std


def page_day(data: ReportData) -> str:
    """The page's date (``YYYY-MM-DD``): ``--as-of``, else the latest as-of date of its records."""
    return data.as_of.isoformat() if data.as_of is not None else str(max(data.decisions["as_of"].astype(str)))


def standing_on_page(data: ReportData) -> pd.DataFrame:
    """What stands on the page's date (:func:`page_day`): :func:`standing_decisions` of the data's records without the
    Book limits of lines matured before it (:func:`matured_off_book`, the Book's maturities: :func:`page_maturities`) — the
    one view the Decisions table, the exposure, the map and the farmer page show (the map called a matured line
    "Book line stands" beside the table's "no longer stands")."""
    std = standing_decisions(data.decisions)
    if std.empty:
        return std.assign(line_matured=pd.Series(dtype=object))
    return matured_off_book(std, _bodies(std), page_day(data), maturities=page_maturities(data))


def page_maturities(data: ReportData) -> dict[str, str]:
    """The Book's maturities the page judges its lines by: :attr:`ReportData.maturities` (every line of the Book as
    of the page's date, as ``decisions export --book`` reads them), else those of ``data.book`` (its active lines: a
    line the Book says matured is not among them, and its record's maturity was read — it stood where the export
    had it matured)."""
    return data.maturities if data.maturities is not None else book_maturities(data.book)


def _bodies(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The records' bodies of ``frame`` as dicts (its ``body`` column, JSON text or dicts; none: empty ones)."""
    return [json.loads(b) if isinstance(b, str) else (b or {}) for b in frame["body"]] if "body" in frame else \
        [{} for _ in range(len(frame))]
