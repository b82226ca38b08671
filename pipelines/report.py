"""Self-contained HTML reports: the portfolio page and a page per farmer.

Everything is inlined — CSS, SVG maps drawn from the real field geometries, SVG
curves and charts — with no script, font or tile fetched from anywhere, so the pages
work in a bank's offline network. Pages are written atomically.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from features.errors import UserInputError
from models.money import MINOR_DIGITS, format_minor
from pipelines._monitor_format import format_evidence
from pipelines._svg import ALERT_STROKE_WIDTH, ALERT_STROKES, OUTCOME_COLOURS, bar_svg, curve_svg, map_svg
from pipelines.monitor import mark_held
from underwriting.book import balance_date_text
from underwriting.standing import book_maturities, line_block, line_matured, line_standing

__all__ = ["ReportData", "render_portfolio", "render_farmer", "latest_decisions", "standing_decisions",
           "build_report_data", "build_report_data_county"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:14px 0 6px}.sub{color:#666;font-size:12px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:18px}.card{border:1px solid #e0e0e0;border-radius:6px;padding:8px}
.tag{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;font-size:11px}
.synthetic{background:#fff3e0;border:1px solid #ffb74d;padding:4px 8px;font-size:12px;display:inline-block}
"""


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


class _Html(str):
    """Markup built here (a tag); every other table cell is escaped, whatever it starts with."""


def _tag(text: str) -> str:
    return _Html(f'<span class="tag" style="background:{OUTCOME_COLOURS.get(text, "#607d8b")}">{escape(text)}</span>')


def _table(df: pd.DataFrame, num: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> str:
    """An HTML table; every cell escaped, but the markup built here: the columns ``tags`` (outcome text drawn as a
    coloured tag by :func:`_tag`) and :class:`_Html` cells (pandas 3 keeps text as its string dtype, which drops
    the subclass: a tag column is named instead)."""
    if df.empty:
        return "<p class='sub'>none</p>"
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, rec, strict=True):
            cls = ' class="num"' if c in num else ""
            text = _tag(str(v)) if c in tags else v if isinstance(v, _Html) else escape(str(v))
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _money(v: Any, cur: str) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else format_minor(int(v), cur)


def _field_status(data: ReportData) -> pd.DataFrame:
    """Each field: its farmer's latest outcome (``outcome``), whether the line stands on its Book limit
    (``on_book``: the latest REFER or DECLINE granted nothing, or the line was never decided in the store;
    ``book_limit`` then) and its most severe alert."""
    f = data.fields[["field_id", "farmer_token"]].copy()
    dec = latest_decisions(data.decisions)
    std = standing_on_page(data)  # a Book line matured before the page's date stands no more (as the table says)
    st = pd.DataFrame({"farmer_token": dec["farmer_token"], "outcome": dec["outcome"].astype(str),
                       "on_book": std["outcome"].astype(str).eq(ON_BOOK).to_numpy(),
                       "book_limit": std["book_standing"].to_numpy(), "currency": dec["currency"].astype(str)})
    st = st.drop_duplicates("farmer_token", keep="last")
    f = f.merge(st, on="farmer_token", how="left")
    f["on_book"] = f["on_book"].fillna(False).astype(bool)
    if not data.alerts.empty:
        top = data.alerts.assign(_s=data.alerts["severity"].map({"high": 0, "medium": 1, "low": 2}))
        top = top.sort_values(["field_id", "_s"]).groupby("field_id").head(1)[["field_id", "alert"]]
        f = f.merge(top, on="field_id", how="left")
    else:
        f = f.assign(alert=None)
    return f


#: the map's legend entry of the hatch over a field whose line stands on its Book limit
BOOK_STANDS = "hatched: Book line stands (its latest REFER / DECLINE granted nothing, or never decided)"


def _map(data: ReportData, tokens: set[str] | None = None) -> str:
    """The fields filled by their latest outcome, hatched where the line stands on its Book limit, outlined wide by
    their most severe alert (its own legend): a DECLINE whose Book line stands showed as "BOOK" only."""
    st = _field_status(data)
    g = data.fields.merge(st[["field_id", "outcome", "on_book", "book_limit", "currency", "alert"]], on="field_id",
                          how="left")
    if tokens is not None:
        g = g[g["farmer_token"].isin(tokens)]
    if len(g) and g.crs is not None and g.crs.is_geographic:  # degrees are not to scale: drawn in metres (UTM)
        g = g.to_crs(g.estimate_utm_crs())
    cols = [OUTCOME_COLOURS.get(o, OUTCOME_COLOURS["none"]) if isinstance(o, str) else OUTCOME_COLOURS["none"]
            for o in g["outcome"]]
    alerted = [isinstance(a, str) for a in g["alert"]]
    strokes = [ALERT_STROKES.get(a, OUTCOME_COLOURS.get(a, "#000")) if isinstance(a, str) else "#555"
               for a in g["alert"]]
    widths = [ALERT_STROKE_WIDTH if a else 0.5 for a in alerted]
    hatched = [bool(b) is True for b in g["on_book"].fillna(False)]
    titles = [f"{r.field_id}: {r.outcome if isinstance(r.outcome, str) else 'no decision'}"
              + (f" — Book line stands at {_money(r.book_limit, str(r.currency))}" if h else "")
              + (f", alert {r.alert}" if isinstance(r.alert, str) else "")
              for r, h in zip(g.itertuples(), hatched, strict=True)]
    legend = {k: OUTCOME_COLOURS[k] for k in ("APPROVE", "REDUCE", "DECLINE", "REFER")} \
        | {"no decision": OUTCOME_COLOURS["none"]}
    shown = sorted({str(a) for a in g["alert"] if isinstance(a, str)})
    stroke_legend = {f"outline: {a}": ALERT_STROKES.get(a, OUTCOME_COLOURS.get(a, "#000")) for a in shown}
    return map_svg(list(g.geometry), cols, titles, legend=legend, strokes=strokes, stroke_widths=widths,
                   hatched=hatched, stroke_legend=stroke_legend, hatch_label=BOOK_STANDS)


def _curve_for(data: ReportData, field_id: str) -> str:
    obs = data.obs[data.obs["field_id"] == field_id] if not data.obs.empty else pd.DataFrame()
    start = pd.Timestamp(data.season_start) if data.season_start else None
    if start is None:
        return "<p class='sub'>no season start known</p>"
    x = ((pd.to_datetime(obs["date"]) - start).dt.days.to_numpy() if len(obs) else np.array([]))
    y = obs["ndvi"].to_numpy() if len(obs) else np.array([])
    band = None
    f = data.fields[data.fields["field_id"] == field_id]
    if not data.bands.empty and len(f):
        crop = f.iloc[0].get("crop", None)
        region = f.iloc[0].get("region", None)
        b = data.bands[(data.bands["crop"] == crop) & (data.bands["region"] == region)].sort_values("day")
        if len(b):
            band = (b["day"].to_numpy(), b["p10"].to_numpy(), b["p50"].to_numpy(), b["p90"].to_numpy())
    marks = [((pd.Timestamp(d) - start).days, lab) for d, lab in data.checkpoints]
    return curve_svg(x, y, band=band, marks=marks, x_label=f"days since {start.date().isoformat()} (season start)",
                     y_label="NDVI")


#: an alert's evidence in words: the one formatter of monitor's text and the pages
#: (:func:`pipelines._monitor_format.format_evidence`)
evidence_text = format_evidence


def _applications_of(data: ReportData) -> dict[str, str]:
    """Field id -> the season's application id(s) of its farmer (pseudonymous ids, by the decision records)."""
    if data.decisions.empty or data.fields.empty:
        return {}
    apps = data.decisions.groupby(data.decisions["farmer_token"].astype(str))["application_id"].agg(
        lambda x: ", ".join(sorted(set(map(str, x)))))
    return {str(f): apps.get(str(t), "") for f, t in zip(data.fields["field_id"], data.fields["farmer_token"],
                                                          strict=True)}


def _alert_table(al: pd.DataFrame, apps: dict[str, str] | None = None) -> pd.DataFrame:
    """The alerts as the pages show them: field, line (when the alerts name lines), the application(s) of the field's
    farmer in the season (``apps``: field id -> ids; pseudonymous, so an alert on a pending application, with no Book
    line, is tied to it), alert, severity, the date it was raised (a plain date) and its evidence in words. A held
    farmer's alert (``held``: :func:`pipelines.monitor.mark_held`) says so in place of an empty line."""
    if al.empty:
        return pd.DataFrame()
    t = pd.DataFrame({"field": al["field_id"].astype(str)})
    if "line_id" in al.columns or "held" in al.columns:  # a held farmer's alert says why it names no line
        lines = al["line_id"] if "line_id" in al.columns else pd.Series([None] * len(al), index=al.index)
        held = al["held"] if "held" in al.columns else pd.Series([None] * len(al), index=al.index)
        t["line"] = [str(v) if isinstance(v, str) and v else str(h) if isinstance(h, str) else ""
                     for v, h in zip(lines, held, strict=True)]
    if apps is not None:
        t["application"] = [apps.get(str(f), "") for f in al["field_id"]]
    t["alert"] = al["alert"].astype(str)
    t["severity"] = al["severity"].astype(str)
    t["raised"] = pd.to_datetime(al["date"]).dt.date.astype(str)
    if "evidence" in al.columns:
        t["evidence"] = [evidence_text(v) for v in al["evidence"]]
    return t.reset_index(drop=True)


def _held(al: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """The alerts with why a held farmer's name no line (:func:`pipelines.monitor.mark_held`; their farmers by the
    page's fields when the alerts do not carry them)."""
    if not data.set_aside or al.empty:
        return al
    if "farmer_token" not in al.columns and len(data.fields):
        tokens = dict(zip(data.fields["field_id"].astype(str), data.fields["farmer_token"].astype(str), strict=True))
        al = al.assign(farmer_token=al["field_id"].astype(str).map(tokens))
    return mark_held(al, data.set_aside, data.season)


def _set_aside_note(data: ReportData, token: str | None = None) -> str:
    """The note naming the fields file's rows set aside (``--rejects``) of the page's season (or of a season that
    cannot be read), of the farmer ``token`` only when given: they are not on the map, curves or alerts."""
    from features.fields import of_season

    rows = [r for r in data.set_aside if of_season(r, data.season) and (token is None or r.farmer_token == token)]
    if not rows:
        return ""
    items = "; ".join(f"{r.field_id or r.row}: {r.reason}" for r in rows[:20]) + (
        f"; and {len(rows) - 20} more" if len(rows) > 20 else "")
    return (f"<p class='synthetic'>{len(rows)} row(s) of the fields file set aside (--rejects): not on the map, "
            f"curves or alerts — {escape(items)}</p>")
def _stored_alerts_at(records: pd.DataFrame, day: str) -> pd.DataFrame:
    """The alerts the store holds open on ``day``: per farmer, those its latest record dated on or before ``day``
    names in its Book line block (``reunderwrite.alerts`` or a first decision's ``renewal.alerts``, ``FIELD:ALERT``)
    — the alerts open at that checkpoint for the farmers whose lines the store follows. Columns field_id,
    farmer_token, application_id, line_id, alert, as_of."""
    cols = ["field_id", "farmer_token", "application_id", "line_id", "alert", "as_of"]
    if records.empty or "body" not in records.columns:
        return pd.DataFrame(columns=cols)
    r = records[(records["as_of"].astype(str) <= day)]
    if "kind" in r.columns:
        r = r[r["kind"].astype(str) != "override"]
    r = r.reset_index(drop=True).assign(_pos=lambda d: np.arange(len(d)))
    latest = r.sort_values(["as_of", "_pos"], kind="stable").groupby("farmer_token", sort=False).tail(1)
    rows = []
    for tok, app, when, body in zip(latest["farmer_token"].astype(str), latest["application_id"].astype(str),
                                    latest["as_of"].astype(str), latest["body"], strict=True):
        doc = json.loads(body) if isinstance(body, str) else (body or {})
        blk = line_block(doc)
        for text in blk.get("alerts") or []:
            fid, _, kind = str(text).rpartition(":")
            if fid and kind:
                rows.append((fid, tok, app, str(blk.get("line_id") or ""), kind, when))
    return pd.DataFrame(rows, columns=cols)


def alert_states(data: ReportData) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """The alerts' state against a reference date — ``data.since`` (--since), else the previous checkpoint (the latest
    record date before the report's) — from stored records only: an alert raised after it is ``new``, one raised on or
    before it ``open``; an alert the store held open then (:func:`_stored_alerts_at`) that is no longer raised is
    ``closed``. Returns the alerts with a ``state`` column, the closed ones (the store's rows) and the reference date
    (None: no checkpoint before the report's date, every alert new)."""
    al = data.alerts
    recs = data.decisions
    day = (data.as_of.isoformat() if data.as_of else str(max(recs["as_of"].astype(str)))) if len(recs) else ""
    if data.since is not None:
        ref: str | None = data.since.isoformat()
    else:
        kinds = recs["kind"].astype(str) if "kind" in recs.columns else pd.Series("", index=recs.index)
        before = sorted({str(a) for a, k in zip(recs["as_of"], kinds, strict=True) if str(a) < day and k != "override"})
        ref = before[-1] if before else None
    closed = pd.DataFrame(columns=["field_id", "farmer_token", "application_id", "line_id", "alert", "as_of"])
    if ref is None:
        return (al.assign(state="new") if len(al) else al), closed, None
    stored = _stored_alerts_at(recs, ref)
    raised = pd.to_datetime(al["date"]).dt.date.astype(str) if len(al) else pd.Series(dtype=str)
    if len(al):
        al = al.assign(state=["new" if r > ref else "open" for r in raised])
        now = set(zip(al["field_id"].astype(str), al["alert"].astype(str), strict=True))
    else:
        now = set()
    if len(stored):
        gone = [(f, a) not in now for f, a in zip(stored["field_id"], stored["alert"], strict=True)]
        # closed only where the alert was evaluated now: its field's series read (not set aside, imagery given) and
        # its type computable (CROP_MISMATCH needs a crop-type model) — else it is "not evaluated", not closed (a
        # report without --imagery called every stored alert closed; the second review's finding)
        ev = data.evaluated
        assessed = [ev is not None and str(f) in ev and (str(a) != "CROP_MISMATCH" or data.mismatch_evaluated)
                    for f, a in zip(stored["field_id"], stored["alert"], strict=True)]
        closed = stored[[g and a for g, a in zip(gone, assessed, strict=True)]]
        data.unassessed = int(sum(g and not a for g, a in zip(gone, assessed, strict=True)))
    return al, closed.reset_index(drop=True), ref


def _as_of_text(data: ReportData, dec: pd.DataFrame) -> str:
    last = str(max(dec["as_of"].astype(str)))
    given = f"; report as of {data.as_of.isoformat()} (--as-of): nothing later is shown" if data.as_of else ""
    return f"<p class='sub'>As of {escape(last)} (the latest record shown){escape(given)}</p>"


def _page(title: str, body: str, synthetic: bool, unlabelled: bool = False) -> str:
    warn = ('<p class="synthetic">Synthetic demo data: figures describe the simulated county, not real farms.</p>'
            if synthetic else
            '<p class="synthetic">Unlabelled data: the county.json has no synthetic flag, so these figures may '
            'describe a simulated county, not real farms.</p>' if unlabelled else "")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{warn}{body}</body></html>")


#: outcomes that grant their limit (a REFER's limit is indicative: nothing is granted until an analyst decides)
GRANTING = ("APPROVE", "REDUCE")


def _split(amount: int, parts: dict[tuple[str, str], float]) -> dict[tuple[str, str], int]:
    """``amount`` split over ``parts`` in proportion, rounded down, the remainder to the largest part."""
    total = sum(parts.values())
    top = max(parts, key=lambda k: (parts[k], k))
    alloc = {k: int(amount * v // total) for k, v in parts.items()}
    alloc[top] += amount - sum(alloc.values())
    return alloc


def exposure_by_crop(dec: pd.DataFrame, bodies: list[dict[str, Any]],
                     outstanding: list[int] | None = None) -> pd.DataFrame:
    """Granted limits by crop and region: each APPROVE / REDUCE limit split over the record's valued fields in
    proportion to their stressed value (the collateral each carries), by the crop it was valued as and its region
    (a line kept on its Book limit, :data:`ON_BOOK`: over its fields by declared area and declared crop);
    a limit with no valued field goes to ``(unvalued)``. Columns: crop, region, applications, limit (minor units;
    shares rounded down, the remainder to the largest); with ``outstanding`` (each line's outstanding balance, in
    ``dec``'s order) an ``outstanding`` column too, each balance split as its line's limit."""
    rows: list[tuple[str, str, str, int, int]] = []
    outs = outstanding if outstanding is not None else [0] * len(dec)
    for app, outcome, limit, body, owed in zip(dec["application_id"], dec["outcome"], dec["limit"], bodies, outs,
                                               strict=True):
        if outcome not in (*GRANTING, ON_BOOK) or int(limit) <= 0:
            continue
        parts: dict[tuple[str, str], float] = {}
        for fld in body.get("fields") or []:
            v = fld.get("stressed_value") or 0
            if outcome == ON_BOOK:  # kept on its Book limit, nothing valued: by declared crop and declared area
                a = fld.get("declared_area_ha") or 0
                if fld.get("declared_crop") and a and a > 0:
                    k = (str(fld["declared_crop"]), str(fld.get("region") or ""))
                    parts[k] = parts.get(k, 0.0) + float(a)
            elif fld.get("included") and v and v > 0:
                k = (str(fld.get("crop_valued") or ""), str(fld.get("region") or ""))
                parts[k] = parts.get(k, 0.0) + float(v)
        if not parts:
            rows.append(("(unvalued)", "", str(app), int(limit), int(owed)))
            continue
        lim, out = _split(int(limit), parts), _split(int(owed), parts)
        rows.extend((k[0], k[1], str(app), a, out[k]) for k, a in lim.items())
    cols = ["crop", "region", "applications", "limit", *(["outstanding"] if outstanding is not None else [])]
    if not rows:
        return pd.DataFrame({c: [] for c in cols})
    df = pd.DataFrame(rows, columns=["crop", "region", "application_id", "limit", "outstanding"])
    g = df.groupby(["crop", "region"]).agg(applications=("application_id", "nunique"), limit=("limit", "sum"),
                                           outstanding=("outstanding", "sum"))
    return g.reset_index().astype({"applications": int, "limit": "int64", "outstanding": "int64"})[cols]


def _reunderwriting(rec: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The ``reunderwrite`` block of a re-underwriting record's body; {} for any other record (an override copies
    the body it supersedes, that block included: its proposed actions and replaced limit are not the override's)."""
    kind = rec.get("kind") if hasattr(rec, "get") else None
    if kind is not None and not (isinstance(kind, float) and np.isnan(kind)) and str(kind) != "reunderwrite":
        return {}
    return body.get("reunderwrite") or {}


def _actions_block(rec: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The block holding a latest record's proposed actions: a re-underwriting's ``reunderwrite`` block, or a first
    decision's ``renewal`` block (the Book line its application renews); {} for an override (the analyst has acted)."""
    ru = _reunderwriting(rec, body)
    if ru:
        return ru
    kind = rec.get("kind") if hasattr(rec, "get") else None
    if kind is None or (isinstance(kind, float) and np.isnan(kind)) or str(kind) == "decision":
        return body.get("renewal") or {}
    return {}


def proposed_actions_rows(dec: pd.DataFrame, bodies: list[dict[str, Any]]) -> pd.DataFrame:
    """The proposed actions of the latest records (``dec``, their parsed ``bodies``) proposing any — a
    re-underwriting's, or a first decision's on the renewal of a Book line — in minor units: line, application,
    farmer token, outcome, new limit, Book limit, outstanding and drawn balances, the undrawn amount a FREEZE_UNDRAWN
    freezes (Book limit − outstanding, at least 0; 0 without that action), actions, and where they come from."""
    rows = []
    for (_, d), b in zip(dec.iterrows(), bodies, strict=True):
        ru = _actions_block(d, b)  # an override after it carries a copy of its block: the analyst has acted
        acts = [str(a) for a in ru.get("proposed_actions") or []]
        if acts:
            book, out = int(ru.get("book_limit") or 0), int(ru.get("outstanding") or 0)
            rows.append({"line": str(ru.get("line_id", "")), "application": str(d["application_id"]),
                         "farmer": str(d["farmer_token"]), "outcome": str(d["outcome"]), "limit": int(d["limit"]),
                         "book_limit": book, "outstanding": out, "drawn": int(ru.get("drawn") or 0),
                         "freeze": max(0, book - out) if "FREEZE_UNDRAWN" in acts else 0,
                         "actions": ", ".join(acts),
                         "from": "renewal decision" if "reunderwrite" not in b or not _reunderwriting(d, b)
                         else "re-underwriting", "balance_as_of": str(ru.get("balance_as_of") or "")})
    out = pd.DataFrame(rows)
    if len(out) and not (out["balance_as_of"] != "").any():  # undated balances: the table as before
        out = out.drop(columns="balance_as_of")
    return out


def proposed_actions_table(dec: pd.DataFrame, bodies: list[dict[str, Any]], cur: str) -> pd.DataFrame:
    """:func:`proposed_actions_rows` as the page shows them (money formatted)."""
    r = proposed_actions_rows(dec, bodies)
    if r.empty:
        return r
    return pd.DataFrame({"line": r["line"], "application": r["application"], "farmer": r["farmer"],
                         "outcome": r["outcome"], "limit": [_money(v, cur) for v in r["limit"]],
                         "Book limit": [_money(v, cur) for v in r["book_limit"]],
                         "outstanding": [_money(v, cur) for v in r["outstanding"]],
                         "drawn": [_money(v, cur) for v in r["drawn"]],
                         **({"balance as of": r["balance_as_of"].replace("", "undated")}
                            if "balance_as_of" in r.columns else {}),
                         "undrawn frozen (Book limit − outstanding)": [_money(v, cur) if v else "" for v in r["freeze"]],
                         "actions": r["actions"], "proposed at": r["from"]})


def not_reestimated_lines(dec: pd.DataFrame, bodies: list[dict[str, Any]]) -> tuple[int, Counter[str]]:
    """How many of the latest records (``dec``, their parsed ``bodies``) are re-underwritings that re-estimated
    nothing (the models could not value the fields: ``reunderwrite.not_reestimated``; the line is kept, nothing is
    proposed but a review with an open high-severity alert), and their codes counted (a line once per code)."""
    blocks = [_reunderwriting(d, b).get("not_reestimated") or [] for (_, d), b in zip(dec.iterrows(), bodies,
                                                                                     strict=True)]
    return sum(bool(x) for x in blocks), Counter(str(c) for x in blocks for c in x)


def changed_at_latest_checkpoint(dec: pd.DataFrame, bodies: list[dict[str, Any]]) -> tuple[pd.DataFrame, str]:
    """The latest records (``dec``, from :func:`latest_decisions`; ``bodies`` parsed) dated at the latest checkpoint
    (the latest as-of among them) whose limit differs from the one before: a re-underwriting's
    ``reunderwrite.previous_limit`` (the limit it replaced: the Book line's when there was no earlier record or,
    under ``refer_keeps_book_limit``, the earlier one was a REFER or DECLINE), else
    the previous record's. Returns those rows (``previous_limit`` set so) and the checkpoint's date."""
    kinds = dec["kind"].astype(str) if "kind" in dec.columns else pd.Series("", index=dec.index)
    # the latest checkpoint: the latest date of a decision or re-underwriting (an analyst's override after it
    # stays listed, against the record it replaced, without hiding the checkpoint's changes)
    dated = dec.loc[kinds != "override", "as_of"].astype(str)
    last = str(max(dated)) if len(dated) else str(max(dec["as_of"].astype(str)))
    # a re-underwriting's replaced limit; an override of a kept line: the limit the line stood on (its body's
    # override.standing_limit), not the kept record's indicative 0
    prev = [_reunderwriting(r, b).get("previous_limit") if str(r.get("kind")) != "override"
            else (b.get("override") or {}).get("standing_limit") for (_, r), b in zip(dec.iterrows(), bodies, strict=True)]
    prev_limit = pd.Series([float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else q
                            for p, q in zip(prev, dec["previous_limit"], strict=True)], index=dec.index, dtype="float64")
    d = dec.assign(previous_limit=prev_limit)
    when = d["as_of"].astype(str)
    # a line not re-estimated was kept as it stood: its REFER's indicative limit is no change of its limit
    kept = pd.Series([bool(_reunderwriting(r, b).get("not_reestimated")) for (_, r), b in
                      zip(dec.iterrows(), bodies, strict=True)], index=dec.index, dtype=bool)
    keep = ((when == last) | ((kinds == "override") & (when >= last))) & d["previous_limit"].notna() \
        & (d["previous_limit"] != d["limit"]) & ~kept
    return d[keep], last


def main_crops(fields: pd.DataFrame) -> pd.Series:
    """Each farmer's crop (by farmer token): the declared crop of the largest declared area over their fields — the
    area a line kept on its Book limit is split by in the exposure (the most frequent crop by field count showed a
    6.5 ha maize plot for 26.5 ha of soybean); ties, and fields without a declared area, by field count, then name."""
    area = (pd.to_numeric(fields["declared_area_ha"], errors="coerce").fillna(0.0)
            if "declared_area_ha" in fields.columns else pd.Series(0.0, index=fields.index))
    f = pd.DataFrame({"farmer_token": fields["farmer_token"], "crop": fields["crop"], "area": area}).dropna()
    g = f.assign(crop=f["crop"].astype(str)).groupby(["farmer_token", "crop"])["area"].agg(["sum", "size"])
    g = g.reset_index().sort_values(["sum", "size", "crop"], ascending=[False, False, True], kind="stable")
    return g.groupby("farmer_token")["crop"].first()


def book_without_decision(book: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The Book lines (``book``: its active lines of the season) with no record in ``records`` (the season's), by
    application or by farmer, as re-underwriting follows a line (its application, else the farmer's of the season):
    the lines it skips, which nothing decides."""
    if book.empty:
        return book
    seen = (book["application_id"].astype(str).isin(set(records["application_id"].astype(str)))
            | book["farmer_token"].astype(str).isin(set(records["farmer_token"].astype(str))))
    return book[~seen].reset_index(drop=True)


def _sums(lines: pd.DataFrame, col: str) -> str:
    """A money column of Book lines summed, by currency."""
    return " + ".join(_money(v, str(c)) for c, v in lines.groupby("currency")[col].sum().items())


def _high_alert_tokens(data: ReportData) -> set[str]:
    """The farmer tokens with a high-severity alert open on the report's date (the alerts as monitor raises them then)."""
    return set(_high_alerts_by_farmer(data))


def _high_alerts_by_farmer(data: ReportData) -> dict[str, str]:
    """Per farmer token, the high-severity alerts open on the report's date on their fields (``CROP_FAILURE
    (F0097)``, sorted; the alerts as monitor raises them then)."""
    al = data.alerts
    if al.empty or "severity" not in al.columns:
        return {}
    hi = al[al["severity"].astype(str) == "high"]
    kinds: dict[str, set[str]] = {}
    for fid, kind in zip(hi["field_id"].astype(str), hi["alert"].astype(str), strict=True):
        kinds.setdefault(fid, set()).add(kind)
    out: dict[str, set[str]] = {}
    f = data.fields
    for fid, tok in zip(f["field_id"].astype(str), f["farmer_token"].astype(str), strict=True):
        for kind in kinds.get(fid, ()):  # every farmer a field id of the fields names (as the exposure counts them)
            out.setdefault(tok, set()).add(f"{kind} ({fid})")
    return {t: ", ".join(sorted(v)) for t, v in out.items()}


def manager_figures(std: pd.DataFrame, dec: pd.DataFrame, bodies: list[dict[str, Any]], owed: list[int],
                    data: ReportData) -> dict[str, Any]:
    """A portfolio manager's figures (minor units): the exposure at risk — limits and outstanding of the lines counted
    in the exposure with an open high-severity alert, and of those with proposed actions; the Book lines outside the
    exposure table (a standing REFER or DECLINE of a decided line or of an earlier policy: granted nothing, its
    balance still owed); whether the policy's concentration caps applied (``computation.concentration.applies`` of
    the latest records)."""
    counted = (std["outcome"].isin((*GRANTING, ON_BOOK)) & (std["limit"].astype("int64") > 0)).to_numpy()
    lim = std["limit"].astype("int64").to_numpy()
    out = np.asarray(owed, dtype="int64")
    high = std["farmer_token"].astype(str).isin(_high_alert_tokens(data)).to_numpy() & counted
    acts = np.array([bool(line_block(b).get("proposed_actions")) and bool(_actions_block(r, b))
                     for (_, r), b in zip(dec.iterrows(), bodies, strict=True)], dtype=bool)
    lined = np.array([bool(line_block(b).get("line_id")) for b in bodies], dtype=bool)
    matured = (std["line_matured"].notna().to_numpy() if "line_matured" in std.columns
               else np.zeros(len(std), dtype=bool))
    outside = lined & ~counted & ~matured

    def book_lines(mask: np.ndarray) -> tuple[int, int, int]:  # how many, their Book limits, their outstanding
        return (int(mask.sum()), sum(int(line_block(b).get("book_limit") or 0)
                                     for b, m in zip(bodies, mask, strict=True) if m), int(out[mask].sum()))

    conc: list[dict[str, Any]] = [c for b in bodies
                                  if isinstance(c := (b.get("computation") or {}).get("concentration"), dict)]
    params = next(((b.get("policy") or {}).get("parameters") or {} for b in bodies if b.get("policy")), {})
    return {"high_alert": (int(high.sum()), int(lim[high].sum()), int(out[high].sum())),
            "actions": (int(acts.sum()), int(lim[acts].sum()), int(out[acts].sum())),
            "outside": book_lines(outside), "matured": book_lines(matured),
            "concentration": (sum(bool(c.get("applies")) for c in conc), len(conc),
                              next((c.get("book_total") for c in conc if c.get("book_total") is not None), None),
                              params.get("min_book_for_concentration"))}


#: the outcome shown for a line kept at re-underwritings, never decided in the store, whose Book line matured before
#: the page's date: no limit stands (:func:`matured_off_book`)
MATURED = "MATURED"


def matured_off_book(std: pd.DataFrame, bodies: list[dict[str, Any]], day: str,
                     book: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`standing_decisions` without the Book limits of lines that matured before ``day`` (the page's date): a
    line standing on its Book limit (:data:`ON_BOOK`) whose maturity date is earlier no longer has that limit to stand
    on — it was counted in the exposure at its full Book limit months after the Book summary had stopped counting it
    active. The maturity is the ``book``'s (its latest date for the line: a line renewed under its id matures
    later), else its record's Book line block's ``line_maturity_date``. Such a row shows the REFER or DECLINE it stood
    past (``skipped_outcome``) at 0 — a line never decided in the store :data:`MATURED` —, ``line_matured`` its maturity
    date (None elsewhere; the page lists them apart, :func:`manager_figures`)."""
    std = std.assign(line_matured=pd.Series([None] * len(std), index=std.index, dtype=object))
    dues = book_maturities(book)
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


def _refer_note(tbl: pd.DataFrame) -> str:
    """Under a table whose "limit" column holds REFER rows: that a REFER's limit is indicative, not granted (the
    headline counts them apart; an audit read them as granted)."""
    if "outcome" not in tbl.columns or not (tbl["outcome"].astype(str) == "REFER").any():
        return ""
    return "<p class='sub'>limit of a REFER: indicative, not granted until an analyst decides</p>"


def page_day(data: ReportData) -> str:
    """The page's date (``YYYY-MM-DD``): ``--as-of``, else the latest as-of date of its records."""
    return data.as_of.isoformat() if data.as_of is not None else str(max(data.decisions["as_of"].astype(str)))


def standing_on_page(data: ReportData) -> pd.DataFrame:
    """What stands on the page's date (:func:`page_day`): :func:`standing_decisions` of the data's records without the
    Book limits of lines matured before it (:func:`matured_off_book`, the Book's maturities of ``data.book``) — the
    one view the Decisions table, the exposure, the map and the farmer page show (the map called a matured line
    "Book line stands" beside the table's "no longer stands")."""
    std = standing_decisions(data.decisions)
    if std.empty:
        return std.assign(line_matured=pd.Series(dtype=object))
    return matured_off_book(std, _bodies(std), page_day(data), data.book)


def _bodies(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The records' bodies of ``frame`` as dicts (its ``body`` column, JSON text or dicts; none: empty ones)."""
    return [json.loads(b) if isinstance(b, str) else (b or {}) for b in frame["body"]] if "body" in frame else \
        [{} for _ in range(len(frame))]


def _figures_html(fig: dict[str, Any], cur: str) -> str:
    n, lim, out = fig["high_alert"]
    na, la, oa = fig["actions"]
    no, lo, oo = fig["outside"]
    nm, lm, om = fig.get("matured", (0, 0, 0))
    ca, cn, total, floor = fig["concentration"]
    items = [f"exposure at risk — {n} counted line(s) with an open high-severity alert: {_money(lim, cur)} of limits, "
             f"{_money(out, cur)} outstanding; {na} line(s) with proposed actions: {_money(la, cur)} of limits, "
             f"{_money(oa, cur)} outstanding",
             f"{no} Book line(s) outside the exposure table (standing on a REFER or DECLINE: no limit counted): "
             f"{_money(lo, cur)} of limits in the Book, {_money(oo, cur)} outstanding" if no else
             "every Book line with a record of the season is in the exposure table"]
    if nm:
        items.append(f"{nm} Book line(s) matured before the page's date, their renewal not granted: their limits "
                     f"({_money(lm, cur)} in the Book) no longer stand and are not in the exposure; "
                     f"{_money(om, cur)} outstanding on them in the Book")
    if cn:
        why = (f" (the Book, {_money(total, cur)}, is below the policy's floor for them, {_money(floor, cur)})"
               if ca == 0 and total is not None and floor is not None and int(total) < int(floor) else "")
        items.append(f"the policy's concentration caps applied to {ca} of {cn} latest record(s){why}" if ca else
                     f"the policy's concentration caps were not applied to any of the {cn} latest record(s){why}")
    else:
        items.append("concentration caps: the records do not say whether they applied")
    return "".join(f"<p class='sub'>{escape(t)}</p>" for t in items)


def render_portfolio(data: ReportData, out_dir: str | Path, csv_dir: str | Path | None = None) -> Path:
    """Write ``portfolio-<season>.html``: map, exposure tables, changes, alerts and charts; with ``csv_dir`` the
    exposure, proposed actions and alerts tables as ``exposure-<season>.csv``, ``actions-<season>.csv`` and
    ``alerts-<season>.csv`` there too (money in minor units of the ``currency`` column; pseudonymous ids only)."""
    dec = latest_decisions(data.decisions)
    if dec.empty:
        raise UserInputError(f"report: no decisions stored for season {data.season}")
    currencies = sorted(set(dec["currency"].astype(str)))
    if len(currencies) > 1:  # a sum over them means nothing; each currency's portfolio is reported apart
        raise UserInputError(f"report: the decisions of season {data.season} hold more than one currency "
                             f"({', '.join(currencies)}); totals cannot add them: report each currency's farmers "
                             "apart (--fields with their fields only)")
    cur = currencies[0]

    bodies = _bodies(dec)
    crops = main_crops(data.fields)
    dec = dec.assign(crop=dec["farmer_token"].map(crops).fillna(""))
    # what stands: a line kept at a re-underwriting that re-estimated nothing counts on the decision it stands on
    # (its REFER's indicative 0 is no estimate), a line never decided in the store on its Book limit, a Book line
    # matured before the page's date on none (:func:`standing_on_page`, as the map and the farmer page read it)
    std = standing_on_page(data)
    std_bodies = _bodies(std)
    # the crop shown: a Book line's own (the contract's, in the Book of the page's date), else the farmer's of the
    # largest declared area — a maize line showed as winter_wheat, its farmer's largest declared field
    book_crops = (dict(zip(data.book["line_id"].astype(str), data.book["crop"].astype(str), strict=True))
                  if len(data.book) and {"line_id", "crop"} <= set(data.book.columns) else {})
    line_crops = [book_crops.get(str(line_block(b).get("line_id") or "")) for b in std_bodies]
    std = std.assign(crop=[c if c is not None else crops.get(t, "") for c, t
                           in zip(line_crops, std["farmer_token"], strict=True)])
    day = page_day(data)
    on_book = std["book_standing"].notna()
    # the chart: each application's latest outcome; under it, how many of them stand on their Book line
    latest = dec["outcome"].astype(str)
    bar_labels: list[str] = []
    bar_values: list[float] = []
    bar_colours: list[str] = []
    for o in ("APPROVE", "REDUCE", "DECLINE", "REFER"):
        bar_labels.append(o)
        bar_values.append(float((latest == o).sum()))
        bar_colours.append(OUTCOME_COLOURS[o])
        n_book = int(((latest == o) & on_book.to_numpy()).sum())
        if n_book:
            bar_labels.append("  of which Book line stands")
            bar_values.append(float(n_book))
            bar_colours.append(OUTCOME_COLOURS[ON_BOOK])
    granted = int(std.loc[std["outcome"].isin(GRANTING), "limit"].sum())
    # a REFER's indicative limit: the row's own, or the one of the REFER a line stands past on its Book limit (or
    # matured past: skipped_limit) — the headline summed the REFER rows only and said 0 beside REFERs of 13,500 whose
    # Book lines stand (an audit)
    own = [int(sl) if sl is not None and not pd.isna(sl) else int(lim) for lim, sl
           in zip(std["limit"], std["skipped_limit"], strict=True)]
    refer = (std["outcome"] == "REFER") | (std["skipped_outcome"] == "REFER")
    on_book_refer = refer & std["book_standing"].notna()
    indicative = sum(v for v, r in zip(own, refer, strict=True) if r)
    indicative_on_book = sum(v for v, r in zip(own, on_book_refer, strict=True) if r)
    requested = sum(int((b.get("application") or {}).get("requested_amount") or 0) for b in bodies)
    # each line's outstanding balance: its latest record's Book line block (std and dec share their rows' order)
    owed = [int(line_block(b).get("outstanding") or 0) for b in bodies]
    expo = exposure_by_crop(std, std_bodies, outstanding=owed)
    granted_col = "granted or Book limit" if on_book.any() else "granted limit"
    counted = std["outcome"].isin((*GRANTING, ON_BOOK)) & (std["limit"].astype("int64") > 0)
    expo_tbl = pd.DataFrame({"crop": expo["crop"], "region": expo["region"], "applications": expo["applications"],
                             granted_col: [_money(v, cur) for v in expo["limit"]],
                             "outstanding": [_money(v, cur) for v in expo["outstanding"]],
                             "share": [f"{v / max(expo['limit'].sum(), 1):.1%}" for v in expo["limit"]]})
    if len(expo):  # the total: each application once (a line split over crops counts in each of their rows)
        expo_tbl = pd.concat([expo_tbl, pd.DataFrame({
            "crop": ["total"], "region": [""], "applications": [int(counted.sum())],
            granted_col: [_money(int(expo["limit"].sum()), cur)],
            "outstanding": [_money(int(expo["outstanding"].sum()), cur)], "share": ["100.0%"]})], ignore_index=True)
    chg, last = changed_at_latest_checkpoint(dec, bodies)
    at = {idx: k for k, idx in enumerate(dec.index)}  # bodies are in dec's row order
    # the line's Book limit: an override's body copies the re-underwriting's block, and an override changes the
    # limit, not the line's commitment in the Book (it showed empty)
    book = [line_block(bodies[at[i]]).get("book_limit") for i in chg.index]
    chg_tbl = pd.DataFrame({"application": chg["application_id"], "farmer": chg["farmer_token"],
                            "Book limit": [_money(v, cur) for v in book],
                            "previous limit": [_money(v, cur) for v in chg["previous_limit"]],
                            "limit": [_money(v, cur) for v in chg["limit"]], "outcome": chg["outcome"].astype(str),
                            "reasons": chg["reason_codes"].fillna("")})
    dec_tbl = pd.DataFrame({"application": std["application_id"], "farmer": std["farmer_token"],
                            ("crop (the Book line's; without one in the Book, the largest declared area)"
                             if any(c is not None for c in line_crops) else "crop (largest declared area)"):
                                std["crop"],
                            "outcome": std["outcome"].astype(str),
                            "limit": [_money(v, cur) for v in std["limit"]], "reasons": std["reason_codes"].fillna("")})
    if std["kept_as_of"].notna().any():  # which rows stand on an earlier decision, or on the Book line
        dec_tbl["kept (not re-estimated)"] = [
            "" if k is None else (f"since {k}: on its Book limit, its {sk} of {a} granted nothing" if sk is not None
                                  else f"since {k}: on its Book limit, never decided in the store"
                                  if not pd.isna(bk) else f"since {k}: on this decision of {a}")
            for k, bk, a, sk in zip(std["kept_as_of"], std["book_standing"], std["as_of"].astype(str),
                                    std["skipped_outcome"], strict=True)]
    if std["line_matured"].notna().any():  # no limit stands: its Book line matured, its renewal not granted
        dec_tbl["Book line matured"] = [
            "" if m is None else f"on {m}: its Book limit no longer stands" for m in std["line_matured"]]
    moved = std["record_id"].ne(dec["record_id"]) if "record_id" in std else pd.Series(False, index=std.index)
    new_refer = std["kept_as_of"].isna() & (std["skipped_outcome"].notna() | moved) & std["line_matured"].isna()
    if new_refer.any():  # a latest REFER or DECLINE re-underwriting that granted nothing (policy 2026.12.8 on)
        dec_tbl["stands on (its latest record granted nothing)"] = [
            "" if not n else f"its Book limit: its {sk} of {a} granted nothing" if sk is not None
            else f"the analyst's override of {a}, behind its latest REFER or DECLINE"
            for n, a, sk in zip(new_refer, std["as_of"].astype(str), std["skipped_outcome"], strict=True)]
    act_tbl = proposed_actions_table(dec, bodies, cur)
    figures = manager_figures(std, dec, bodies, owed, data)
    n_kept, kept_codes = not_reestimated_lines(dec, bodies)
    kept_counts = ", ".join(f"{c} {n}" for c, n in sorted(kept_codes.items(), key=lambda kv: (-kv[1], kv[0])))
    kept_note = (f"<p class='sub'>{n_kept} line(s) not re-estimated at their latest re-underwriting: the models "
                 f"could not value their fields then ({escape(kept_counts)}"
                 "); each is kept as it stands — counted here on the decision it stands on, or its Book limit — and "
                 "nothing is proposed but a review where a high-severity alert is open</p>" if n_kept else "")
    # BOOK lines: never decided in the store, or (refer_keeps_book_limit) standing on a REFER or DECLINE that granted
    # nothing
    after_refer = on_book & std["skipped_outcome"].notna() & std["kept_as_of"].notna()
    first = std["kind"].astype(str).eq("decision") if "kind" in std.columns else pd.Series(False, index=std.index)
    latest_refer = on_book & std["skipped_outcome"].notna() & std["kept_as_of"].isna() & ~first
    renewal_refer = on_book & std["skipped_outcome"].notna() & std["kept_as_of"].isna() & first
    never = on_book & std["skipped_outcome"].isna()
    on_book_text = (f"; {int(never.sum())} line(s) never decided in the store and kept at a re-underwriting "
                    f"that could not re-estimate them stand on their Book limits ({ON_BOOK}), "
                    f"{_money(int(std.loc[never, 'book_standing'].sum()), cur)}, in the exposure by their declared "
                    "crops" if never.any() else "")
    on_book_text += (f"; {int(after_refer.sum())} line(s) kept at a re-underwriting that could not re-estimate them "
                     "whose decision was a REFER or DECLINE, which granted nothing, stand on their Book limits "
                     f"({ON_BOOK}, policy 2026.12.8 on), {_money(int(std.loc[after_refer, 'book_standing'].sum()), cur)}"
                     ", in the exposure by their declared crops" if after_refer.any() else "")
    on_book_text += (f"; {int(latest_refer.sum())} line(s) whose latest re-underwriting decided a REFER or DECLINE, "
                     f"which granted nothing, stand on their Book limits until an analyst acts ({ON_BOOK}, policy "
                     f"2026.12.8 on), {_money(int(std.loc[latest_refer, 'book_standing'].sum()), cur)}, in the "
                     "exposure by their declared crops" if latest_refer.any() else "")
    on_book_text += (f"; {int(renewal_refer.sum())} Book line(s) whose renewal application was decided REFER or "
                     f"DECLINE, which granted nothing, stand on their Book limits until an analyst acts ({ON_BOOK}, "
                     f"policy 2026.12.8 on), {_money(int(std.loc[renewal_refer, 'book_standing'].sum()), cur)}, in the "
                     "exposure by their declared crops" if renewal_refer.any() else "")
    # the Book as it stands: its lines no record of the season decides are in none of the figures but their own table
    book, no_dec = data.book, book_without_decision(data.book, data.decisions)
    dated = "balance_as_of" in book.columns  # a dated Book: each line's balance of the page's date, and its date
    no_dec_sums = f"{_sums(no_dec, 'limit')} of limits, {_sums(no_dec, 'outstanding')} outstanding" if len(no_dec) \
        else ""
    book_note = "" if book.empty else (
        f"<p class='sub'>Book: {len(book)} line(s) active on {escape(day)}, {escape(_sums(book, 'limit'))} of limits, "
        f"{escape(_sums(book, 'outstanding'))} outstanding — "
        + (f"{len(book) - len(no_dec)} followed here through their applications' records, {len(no_dec)} without a "
           f"decision of season {escape(data.season)} ({escape(no_dec_sums)}): in no other figure, table or map "
           "outcome of this page, listed under Book lines without a decision" if len(no_dec) else
           "each followed here through its application's records") + "</p>"
        + ("<p class='sub'>Book balances (drawn, outstanding): each line's latest in the Book file dated on or "
           f"before {escape(day)} (its balance_as_of, in the table of lines without a decision)</p>" if dated else
           "<p class='sub'>Book balances (drawn, outstanding) as in the Book file, undated: the same at every as-of "
           "date of this page</p>"))
    no_dec_tbl = pd.DataFrame({
        "line": no_dec["line_id"].astype(str), "Book application": no_dec["application_id"].astype(str),
        "farmer": no_dec["farmer_token"].astype(str), "crop": no_dec["crop"].astype(str),
        "limit": [_money(v, str(c)) for v, c in zip(no_dec["limit"], no_dec["currency"], strict=True)],
        "drawn": [_money(v, str(c)) for v, c in zip(no_dec["drawn"], no_dec["currency"], strict=True)],
        "outstanding": [_money(v, str(c)) for v, c in zip(no_dec["outstanding"], no_dec["currency"], strict=True)],
        **({"balance as of": [balance_date_text(v) or "undated" for v in no_dec["balance_as_of"]]} if dated else {}),
        "start": pd.to_datetime(no_dec["start_date"]).dt.date.astype(str),
        "maturity": pd.to_datetime(no_dec["maturity_date"]).dt.date.astype(str)}) if len(no_dec) else pd.DataFrame()
    # re-underwriting skips these lines, so nothing proposes an action for them: a high-severity alert on their
    # farmer's fields is named here for an analyst (a failed crop under a live line was in monitor's list only)
    high = _high_alerts_by_farmer(data)
    no_dec_high = [high.get(str(t), "") for t in no_dec["farmer_token"]] if len(no_dec) else []
    if any(no_dec_high):
        no_dec_tbl["open high-severity alerts"] = no_dec_high
    no_dec_section = "" if no_dec.empty else (
        f"<h2>Book lines without a decision of season {escape(data.season)}</h2><p class='sub'>{len(no_dec)} active "
        f"Book line(s) with no record of the season in the store, by application or farmer ({escape(no_dec_sums)}; "
        "re-underwriting skips a line without an application of the season): nothing is decided for them here"
        + (f" — {sum(bool(h) for h in no_dec_high)} with an open high-severity alert on their farmer's fields, for an "
           "analyst to review (no action is proposed for a line without a decision)" if any(no_dec_high) else "")
        + "; "
        + ("limits and balances of each line's latest Book row dated on or before the page's date</p>" if dated else
           "limits and balances as in the Book file, undated</p>") + _table(no_dec_tbl, num=("limit", "drawn", "outstanding")))
    al_state, al_closed, al_ref = alert_states(data)
    al_tbl = _alert_table(_held(al_state, data), _applications_of(data))
    if len(al_tbl):
        al_tbl.insert(0, "state", [f"new since {al_ref}" if s == "new" and al_ref else s for s in al_state["state"]])
    if len(al_closed):
        from pipelines.monitor import ALERT_TYPES

        closed_tbl = pd.DataFrame({
            "state": f"closed since {al_ref}", "field": al_closed["field_id"].astype(str),
            "line": al_closed["line_id"].astype(str),
            "application": al_closed["application_id"].astype(str), "alert": al_closed["alert"].astype(str),
            "severity": [ALERT_TYPES.get(a, "medium") for a in al_closed["alert"]],
            "raised": "", "evidence": f"open at {al_ref} (the store's record), not raised on {day}"})
        if len(al_tbl) and "line" not in al_tbl.columns:  # the closed alerts name their lines
            al_tbl.insert(2, "line", "")
        al_tbl = pd.concat([al_tbl, closed_tbl[[c for c in closed_tbl.columns
                                                if al_tbl.empty or c in al_tbl.columns]]], ignore_index=True)
    al_note = (f"<p class='sub'>{escape(data.models_note)}</p>" if data.models_note else "") + (
        "<p class='sub'>state: against " + escape(
        f"--since {al_ref}" if data.since is not None else f"the previous checkpoint, {al_ref}" if al_ref else
        "no earlier checkpoint (every alert new)") + " — new: raised after it; open: raised on or before it; closed: "
        "open then in the store's records (the lines it follows), not raised now"
        + escape(f" — {int((al_state['state'] == 'new').sum()) if len(al_state) else 0} new, "
                 f"{int((al_state['state'] == 'open').sum()) if len(al_state) else 0} open, {len(al_closed)} closed")
        + escape(f"; {data.unassessed} held open then not evaluated now (no imagery for their fields, set aside, or "
                 "no crop-type model for CROP_MISMATCH): neither open nor closed" if data.unassessed else "")
        + escape("; alerts not computed (no imagery given): none is called closed" if data.evaluated is None else "")
        + "</p>")
    fig_html = _figures_html(figures, cur)
    body = [f"<h1>{escape(data.title)} — season {escape(data.season)}</h1>", _as_of_text(data, dec), _set_aside_note(data),
            f"<p class='sub'>{len(dec)} applications, {len(data.fields)} fields; granted "
            f"{_money(granted, cur)} (APPROVE and REDUCE) of {_money(requested, cur)} requested; indicative limits "
            f"of REFER applications {_money(indicative, cur)}"
            + (f" ({_money(indicative_on_book, cur)} of them on lines standing on their Book limits meanwhile)"
               if indicative_on_book else "") + ", not granted until an analyst decides"
            f"{escape(on_book_text)}</p>", book_note,
            "<h2>Map of fields by latest outcome (hatched: the Book line stands; wide outline: alert)</h2>",
            f"<div class='card'>{_map(data)}</div>",
            "<h2>Outcomes</h2><div class='grid'>",
            f"<div class='card'><h3>applications by latest outcome</h3>{bar_svg(bar_labels, bar_values, colours=bar_colours)}</div>",
            f"<div class='card'><h3>{escape(granted_col)} by crop ({escape(cur)})</h3>{bar_svg(list(expo['crop'].astype(str)), [v / 10 ** MINOR_DIGITS.get(cur, 2) for v in expo['limit']])}</div>",
            "</div>", "<h2>Exposure by crop and region (granted limits, each split over its fields by their stressed "
            "value" + ("; lines kept on their Book limits (BOOK) by declared crop and area" if on_book.any() else "")
            + ")</h2>", _table(expo_tbl, num=("applications", granted_col, "outstanding", "share")),
            # the crop rows counted a line split over crops in each (22) beside a total of distinct lines (11), unsaid
            f"<p class='sub'>applications: a line split over several crops or regions counts in each of their rows "
            f"({int(expo['applications'].sum())} in the rows), once in the total ({int(counted.sum())})</p>"
            if len(expo) and int(expo["applications"].sum()) != int(counted.sum()) else "", fig_html,
            f"<p class='sub'>not in it: the {len(no_dec)} Book line(s) without a decision of the season "
            f"({escape(no_dec_sums)})</p>" if len(no_dec) else "",
            f"<h2>Limits changed at the latest checkpoint ({escape(last)})</h2><p class='sub'>records dated "
            f"{escape(last)} and analysts' overrides since; Book limit: the line's commitment in the Book (as its "
            "re-underwriting recorded it, an override after one included); previous limit: the "
            "one the re-underwriting replaced (the Book line's when the line had no earlier record, or one that granted "
            "nothing: a REFER or DECLINE, policy 2026.12.8 on), else the application's previous record's</p>",
            _table(chg_tbl, num=("Book limit", "previous limit", "limit"), tags=("outcome",)), _refer_note(chg_tbl),
            "<h2>Proposed actions (each line's latest re-underwriting, or the first decision on its renewal; an "
            "analyst acts on them)</h2>",
            _table(act_tbl, num=("limit", "Book limit", "outstanding", "drawn",
                                 "undrawn frozen (Book limit − outstanding)"), tags=("outcome",)), _refer_note(act_tbl),
            ("<p class='sub'>outstanding and drawn: the balances of the Book file the record's run read, as of the "
             "date beside them (undated: the file's)</p>" if "balance as of" in act_tbl.columns else
             "<p class='sub'>outstanding and drawn: the balances as in the Book file the record's run read, undated"
             "</p>") if len(act_tbl) else "", kept_note, no_dec_section,
            "<h2>Alerts</h2>", al_note, _table(al_tbl), "<h2>Decisions</h2>", _table(dec_tbl, num=("limit",), tags=("outcome",))]
    # every output built in memory, every target checked writable, then all written (each atomically); a failure
    # part way leaves no partial output: what this run wrote is taken back (a file it replaced is put back)
    page = portfolio_outputs(out_dir, data.season)[0][0]
    outputs: list[tuple[Path, str, str]] = []
    if csv_dir is not None:
        ex = expo.assign(share=(expo["limit"] / max(int(expo["limit"].sum()), 1)).round(4))
        if len(ex):
            ex = pd.concat([ex, pd.DataFrame({"crop": ["total"], "region": [""], "applications": [int(counted.sum())],
                                              "limit": [int(expo["limit"].sum())],
                                              "outstanding": [int(expo["outstanding"].sum())], "share": [1.0]})],
                           ignore_index=True)
        acts = proposed_actions_rows(dec, bodies)
        for df, name in ((ex.assign(currency=cur), "exposure"),
                         (acts.assign(currency=cur) if len(acts) else pd.DataFrame(columns=[
                             "line", "application", "farmer", "outcome", "limit", "book_limit", "outstanding",
                             "drawn", "freeze", "actions", "from", "currency"]), "actions"),
                         (al_tbl if len(al_tbl) else pd.DataFrame(columns=["field", "application", "alert",
                                                                           "severity", "raised", "evidence"]),
                          "alerts")):
            outputs.append((csv_table_path(csv_dir, name, data.season), df.to_csv(index=False, lineterminator="\n"),
                            "report --csv"))
    outputs.append((page, _page(f"{data.title} {data.season}", "".join(body), data.synthetic, data.unlabelled),
                    "report"))
    _write_all(outputs)
    return page


#: the tables ``render_portfolio --csv`` writes, in this order
CSV_TABLES = ("exposure", "actions", "alerts")


def csv_table_path(csv_dir: str | Path, name: str, season: str) -> Path:
    """The path of the ``--csv`` table ``name`` (one of :data:`CSV_TABLES`) of ``season``: ``<name>-<season>.csv``."""
    return Path(csv_dir) / f"{name}-{season}.csv"


def portfolio_outputs(out_dir: str | Path, season: str, csv_dir: str | Path | None = None) -> list[tuple[Path, str]]:
    """The files :func:`render_portfolio` writes for ``season``, each ``(path, what)``: ``portfolio-<season>.html``
    in ``out_dir``, then with ``csv_dir`` each table of :data:`CSV_TABLES` there."""
    page = [(Path(out_dir) / f"portfolio-{season}.html", "report")]
    tables = [(csv_table_path(csv_dir, n, season), "report --csv") for n in CSV_TABLES] if csv_dir is not None else []
    return page + tables


def farmer_page_path(out_dir: str | Path, token: str) -> Path:
    """The page :func:`render_farmer` writes for the farmer ``token``: ``farmer-<token>.html`` in ``out_dir``."""
    return Path(out_dir) / f"farmer-{token}.html"


def check_outputs(outputs: list[tuple[Path, str]]) -> None:
    """Each ``(path, what)`` checked writable (:func:`features.atomic.check_writable`: a one-line
    :class:`~features.errors.UserInputError` naming the first that is not — a folder where the file should be, a file
    where a folder should be, a read-only folder); creates nothing. The report commands call it as soon as the
    names are known, before the registry, the store or a scene is read."""
    from features.atomic import check_writable

    for path, what in outputs:
        check_writable(path, what=what)


def _write_all(outputs: list[tuple[Path, str, str]]) -> None:
    """Write each ``(path, text, what)`` of ``outputs`` all or none: every path checked writable first
    (:func:`features.atomic.check_writable`, one-line error naming it), then every file written beside its target
    before any is renamed into place (:func:`features.atomic.write_all_atomic`): a run failing or killed while the
    files are written leaves the targets as they were; a rename failing puts back what the run replaced."""
    from features.atomic import write_all_atomic

    check_outputs([(path, what) for path, _text, what in outputs])
    write_all_atomic([(path, text.encode("utf-8")) for path, text, _what in outputs])


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k in sorted(d):
            out.extend(_flatten(d[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and all(isinstance(x, (int, float, str)) for x in d):
        out.append((prefix, ", ".join(str(x) for x in d)))
    elif isinstance(d, list):
        for i, x in enumerate(d):
            out.extend(_flatten(x, f"{prefix}[{i}]"))
    else:
        out.append((prefix, "" if d is None else str(d)))
    return out


def _no_farmer_message(data: ReportData, token: str) -> str:
    """``report farmer``'s message for a ``token`` with no decision in the season. The token is named only when the
    data hold it (a farmer of the fields or of other seasons' records) and it is no farmer's own identifier (by its
    keyed token); one matching no farmer is never repeated — a bank's tokens may be any word, and an analyst may have
    typed a surname there — nor is its shape, length or a keyed fingerprint (that would be the farmer's own token
    when a name was typed): the message gives the count of the data's farmer tokens, their shapes and how to list
    them."""
    from features.identity import names_a_farmer
    from underwriting._pii_text import echoed_reference, reference_shape, unknown_reference_hint

    tokens = set(data.fields["farmer_token"].astype(str)) | set(data.decisions["farmer_token"].astype(str))
    shapes = {reference_shape(t) for t in tokens}  # the data's tokens' shapes, given when few (never the argument's)
    if echoed_reference(token, known=token in tokens, personal=names_a_farmer(token, tokens.__contains__)):
        return f"report: no decision for farmer {token} in season {data.season}"
    hint = (unknown_reference_hint("the farmer's pseudonymous token", "farmer tokens", len(tokens), shapes if len(shapes) <= 3 else None,
                                   "`agcredit decisions export --out FILE` (column farmer_token)")
            if token not in tokens else "it is not repeated here: it is a farmer's identifier, not a token")
    return f"report: no decision for the farmer given in season {data.season} ({hint})"


def render_farmer(data: ReportData, token: str, out_dir: str | Path) -> Path:
    """Write ``farmer-<token>.html``: the farmer's fields on a map, NDVI curves against the expected
    band with checkpoints, and the decision with its reasons and computation."""
    dec = latest_decisions(data.decisions)
    standing = standing_on_page(data)  # as the portfolio page's table: a line matured before its date stands no more
    mine = dec[dec["farmer_token"] == token]
    if mine.empty:
        raise UserInputError(_no_farmer_message(data, token))
    f = data.fields[data.fields["farmer_token"] == token]
    body = [f"<h1>Farmer {escape(token)} — season {escape(data.season)}</h1>", _as_of_text(data, mine),
            _set_aside_note(data, token),
            "<h2>Fields</h2>", f"<div class='card'>{_map(data, {token})}</div>", "<h2>NDVI against the expected band</h2>",
            "<div class='grid'>"]
    for fid in f["field_id"]:
        crop = f[f["field_id"] == fid].iloc[0].get("crop", "")
        body.append(f"<div class='card'><h3>{escape(str(fid))} ({escape(str(crop))})</h3>{_curve_for(data, str(fid))}</div>")
    body.append("</div>")
    for rec in mine.itertuples():
        cur = str(rec.currency)
        b = json.loads(rec.body) if isinstance(rec.body, str) else {}
        limit = escape(_money(rec.limit, cur))
        stood = standing[standing["application_id"] == rec.application_id]
        matured = stood["line_matured"].iloc[0] if len(stood) else None
        if matured is not None and not pd.isna(matured):  # as the portfolio page's table: no Book limit stands
            s0 = stood.iloc[0]
            what = {"decision": "a first decision", "reunderwrite": "a re-underwriting",
                    "override": "an analyst's override"}.get(str(getattr(rec, "kind", "")), "a record")
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(s0['outcome']))} "
                        f"limit {escape(_money(s0['limit'], cur))} — its Book line matured on {escape(str(matured))}"
                        "</h2>")
            body.append(f"<p class='sub'>the latest record, as of {escape(str(rec.as_of))}, is {escape(what)} that "
                        f"decided {escape(str(rec.outcome))} (limit {limit}): its Book line matured on "
                        f"{escape(str(matured))}, before this page's date, and its Book limit no longer stands (not "
                        f"in the portfolio's exposure); reasons of that record: "
                        f"{escape(str(rec.reason_codes or '—'))}</p>")
        elif len(stood) and stood["kept_as_of"].notna().iloc[0]:  # a re-underwriting that re-estimated nothing
            from pipelines.reunderwrite import unvalued_text

            s0 = stood.iloc[0]
            on = (f"its Book limit {_money(s0['limit'], cur)} (its {s0['skipped_outcome']} of {s0['as_of']} granted "
                  "nothing)" if s0["outcome"] == ON_BOOK and s0["skipped_outcome"] is not None else
                  f"its Book limit {_money(s0['limit'], cur)} (never decided in the store)"
                  if s0["outcome"] == ON_BOOK else
                  f"the decision of {s0['as_of']}: {s0['outcome']} {_money(s0['limit'], cur)}")
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(s0['outcome']))} "
                        f"limit {escape(_money(s0['limit'], cur))} — kept: not re-estimated since "
                        f"{escape(str(s0['kept_as_of']))}</h2>")
            body.append(f"<p class='sub'>the latest record, as of {escape(str(rec.as_of))}, is a REFER of indicative "
                        f"limit {limit}: {escape(unvalued_text(b.get('fields') or [], rec.as_of))}; the line is kept "
                        "as it stands, "
                        f"on {escape(on)}; reasons of that record: {escape(str(rec.reason_codes or '—'))}</p>")
        elif len(stood) and (str(stood["record_id"].iloc[0] if "record_id" in stood else "") !=
                             str(getattr(rec, "record_id", "")) or stood["skipped_outcome"].notna().iloc[0]):
            # a REFER or DECLINE that granted nothing (policy 2026.12.8 on)
            s0 = stood.iloc[0]
            on = (f"its Book limit {_money(s0['limit'], cur)}" if s0["outcome"] == ON_BOOK else
                  f"the analyst's override of {s0['as_of']}: {s0['outcome']} {_money(s0['limit'], cur)}")
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(s0['outcome']))} "
                        f"limit {escape(_money(s0['limit'], cur))} — its {escape(str(rec.outcome))} granted "
                        "nothing</h2>")
            what = ("a first decision on the renewal of its Book line" if str(getattr(rec, "kind", "")) == "decision"
                    else "a re-underwriting")
            body.append(f"<p class='sub'>the latest record, as of {escape(str(rec.as_of))}, is {escape(what)} "
                        f"that decided {escape(str(rec.outcome))} (limit {limit}): a REFER or DECLINE grants nothing, "
                        f"the line stands on {escape(on)} until an analyst acts (policy 2026.12.8 on); reasons of that "
                        f"record: {escape(str(rec.reason_codes or '—'))}</p>")
        else:
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(rec.outcome))} "
                        + (f"indicative limit {limit} — nothing is granted until an analyst decides</h2>"
                           if rec.outcome == "REFER" else f"limit {limit}</h2>"))
            body.append(f"<p class='sub'>as of {escape(str(rec.as_of))}; reasons: "
                        f"{escape(str(rec.reason_codes or '—'))}</p>")
        rows = pd.DataFrame(_flatten(b), columns=["item", "value"])
        body.append(f"<h3>Record</h3><p class='sub'>the stored body as it is: money in minor units of {escape(cur)} "
                    f"(e.g. limit {escape(str(rec.limit))} = {escape(_money(rec.limit, cur))})</p>" + _table(rows))
    al = data.alerts[data.alerts["field_id"].isin(f["field_id"])] if not data.alerts.empty else pd.DataFrame()
    body.append("<h2>Alerts</h2>" + (f"<p class='sub'>{escape(data.models_note)}</p>" if data.models_note else "")
                + _table(_alert_table(_held(al, data), _applications_of(data))))
    page = farmer_page_path(out_dir, token)  # checked first (a folder there: one line naming it, as the portfolio's)
    _write_all([(page, _page(f"farmer {token}", "".join(body), data.synthetic, data.unlabelled), "report")])
    return page


# --- building the data from the store, the fields and the series ----------------------------------------

def build_report_data(*, store: Any, fields: gpd.GeoDataFrame, season: str | None = None,
                      series: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                      alerts: pd.DataFrame | None = None, as_of: date | None = None, synthetic: bool = False,
                      title: str = "agcredit portfolio", params: Any = None, unlabelled: bool = False,
                      weather: pd.DataFrame | None = None, crop_model: Any = None,
                      book: pd.DataFrame | None = None) -> ReportData:
    """ReportData from the decision store (its latest records), the fields (every season: past ones give the
    expected bands), the season's series (NDVI curves) and past seasons' series (``history``).

    ``season``: default the latest season in the store; ``as_of``: default the latest as-of date of its records
    (nothing observed later is drawn). ``alerts``: computed with :func:`pipelines.monitor.season_alerts` when
    None and ``series`` and ``history`` are given (``params``: :class:`pipelines.monitor.AlertParams` of both
    the bands and the alerts; ``crop_model``: the crop-type model whose declared-crop probability raises
    CROP_MISMATCH, as ``monitor`` uses the champion). ``book``: the Book, whose lines alerts name; the page totals
    its lines of the season active on the report's date and lists those no record of the season decides
    (:attr:`ReportData.book`). Checkpoints marked on the curves are the as-of dates of the stored records (first
    decisions and re-underwriting runs).
    """
    from features.series import season_window
    from pipelines.featurize import check_as_of_in_season, check_as_of_in_window
    from pipelines.monitor import AlertParams, clear_ndvi, expected_bands, fields_region, season_alerts
    from underwriting.store import DecisionStore

    st = store if isinstance(store, DecisionStore) else DecisionStore(store, create=False, read_only=True)
    try:
        records = st.records(season)
    finally:
        if not isinstance(store, DecisionStore):
            st.close()
    if records.empty:
        raise UserInputError(f"report: no decisions stored in {st.shown_url}" + (f" for season {season}" if season
                                                                                 else ""))
    tokens = set(fields["farmer_token"].astype(str))
    mine = records[records["farmer_token"].astype(str).isin(tokens)]
    if mine.empty:
        raise UserInputError(f"report: none of the {len(records)} record(s) in {st.shown_url}"
                             + (f" for season {season}" if season else "") + " is of a farmer of the fields given")
    records = mine
    season = str(season or max(records["season"].astype(str)))
    records = records[records["season"].astype(str) == season]
    if records.empty:
        raise UserInputError(f"report: no decision of season {season} in {st.shown_url} is of a farmer of the fields "
                             "given")
    if as_of is not None:  # a future date is refused as monitor refuses it (alerts 'raised' on a future day)
        check_as_of_in_season(fields, season, as_of)
        # after the season window nothing is observed: refused as reunderwrite and monitor refuse it (a report dated
        # after every maturity still counted the season's lines)
        check_as_of_in_window(fields, season, as_of)
    day = as_of or date.fromisoformat(str(max(records["as_of"])))
    if as_of is not None and not (records["as_of"] <= day.isoformat()).any():
        raise UserInputError(f"report: none of the {len(records)} record(s) of season {season} is dated on or "
                             f"before {day} (the first is as of {min(records['as_of'])})")
    records = records[records["as_of"] <= day.isoformat()]
    from pipelines.reunderwrite import active_lines
    from underwriting.book import book_as_of

    book = book_as_of(book, day)  # a dated Book: each line's latest balance on or before the page's date
    lines = active_lines(book, day, season) if book is not None and len(book) else pd.DataFrame()
    f = fields[fields["season"].astype(str) == season]
    if f.empty:
        raise UserInputError(f"report: no field of season {season} in the fields given")
    f = f.assign(crop=f["declared_crop"]) if "crop" not in f.columns else f
    region = fields_region(f)
    start = season_window(season, region)[0] if region else None
    obs = clear_ndvi(series, as_of=day) if series is not None and len(series) else pd.DataFrame()
    bands = pd.DataFrame()
    p = params or AlertParams()
    alerts_given, computed = alerts is not None, False
    if history is not None and len(history) and start is not None:
        past = sorted(str(s) for s in history["season"].astype(str).unique() if str(s) < season)
        starts = {s: season_window(s, region)[0] for s in past}
        meta = fields[fields["season"].astype(str).isin(past)]
        crops = pd.DataFrame({"field_id": meta["field_id"].astype(str), "season": meta["season"].astype(str),
                              "crop": meta["declared_crop"], "region": meta["region"].astype(str)})
        bands = expected_bands(clear_ndvi(history[history["season"].astype(str).isin(past)]), crops, starts, p)
        if alerts is None and series is not None:
            from pipelines.reunderwrite import book_with_decided

            # the store's decided lines beside the Book's, as `monitor --store` names them (alerts on granted lines
            # without a Book entry showed no line)
            book = book_with_decided(book, records, day, season)
            feats = None
            if crop_model is not None and len(series):
                feats = crop_model.predict(series, f.drop(columns="geometry", errors="ignore"), day)
            alerts = season_alerts(fields, series, history, season, day, features=feats, book=book, params=p,
                                   weather=weather, crop_model=crop_model)
            computed = True
    kinds: dict[date, set[str]] = {}
    for a, k in zip(records["as_of"], records["kind"], strict=True):
        kinds.setdefault(date.fromisoformat(str(a)), set()).add(str(k))
    checkpoints = [(d, "re-underwrite" if "reunderwrite" in ks else ("decision" if "decision" in ks else "override"))
                   for d, ks in sorted(kinds.items())]
    if alerts_given:  # the caller computed them on the season's fields
        evaluated: frozenset[str] | None = frozenset(f["field_id"].astype(str))
    elif computed:  # the fields with a series read as of the date
        evaluated = frozenset(series["field_id"].astype(str)) if series is not None and len(series) else frozenset()
    else:
        evaluated = None
    return ReportData(season=season, decisions=records.reset_index(drop=True), fields=f.reset_index(drop=True),
                      alerts=alerts if alerts is not None else pd.DataFrame(), obs=obs, bands=bands,
                      season_start=start, checkpoints=checkpoints, synthetic=synthetic, unlabelled=unlabelled,
                      title=title, as_of=as_of,
                      book=lines, evaluated=evaluated, mismatch_evaluated=alerts_given or crop_model is not None)


def build_report_data_county(county: Any, *, store: Any, season: str | None = None, as_of: date | None = None,
                             history: pd.DataFrame | None = None, params: Any = None,
                             crop_model: Any = None) -> ReportData:
    """:func:`build_report_data` on a county folder (its fields, cached series, synthetic flag); ``history``: the
    past seasons' series when already read (:meth:`pipelines.county.County.past_series`); ``params``: the alert
    thresholds (the crop-type champion's, :func:`pipelines.monitor.alert_params_of`, as monitor uses them)."""
    from pipelines.county import County

    c = county if isinstance(county, County) else County(county)
    season = str(season or c.current_season)
    if as_of is not None:  # before any scene is read
        from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

        check_as_of_in_season(c.fields(), season, as_of)
        check_as_of_in_window(c.fields(), season, as_of)
    if history is None:
        history = c.past_series(season)
    return build_report_data(store=store, fields=c.fields(), season=season, series=c.series(season, as_of),
                             history=history, as_of=as_of, params=params, crop_model=crop_model, book=c.book(),
                             synthetic=c.synthetic, unlabelled=c.data_kind == "unlabelled", title=f"agcredit portfolio — {c.path.name}", weather=c.weather())
