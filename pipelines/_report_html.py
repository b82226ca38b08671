"""The report pages' markup: the page around a body, escaped tables, outcome tags, money and the notes under them.

Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import pandas as pd

from models.money import format_minor
from pipelines._report_data import ReportData
from pipelines._svg import OUTCOME_COLOURS

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


def _as_of_text(data: ReportData, dec: pd.DataFrame, curves: set[str] | None = None) -> str:
    """The page's dates: its latest record's; with ``curves`` (the fields whose NDVI curves the page draws), the
    date of their last observation too, which may be later (a farmer's page said "As of" its record's date above
    curves running months beyond it)."""
    last = str(max(dec["as_of"].astype(str)))
    given = f"; report as of {data.as_of.isoformat()} (--as-of): nothing later is shown" if data.as_of else ""
    if curves is None:
        return f"<p class='sub'>As of {escape(last)} (the latest record shown){escape(given)}</p>"
    obs = data.obs[data.obs["field_id"].astype(str).isin(curves)] if not data.obs.empty else data.obs
    seen = (f"; the NDVI curves run to {pd.Timestamp(obs['date'].max()).date().isoformat()} (their last "
            "observation)" if len(obs) else "; no NDVI observation on the curves")
    return f"<p class='sub'>Latest record shown: as of {escape(last)}{escape(seen)}{escape(given)}</p>"


def _page(title: str, body: str, synthetic: bool, unlabelled: bool = False) -> str:
    warn = ('<p class="synthetic">Synthetic demo data: figures describe the simulated county, not real farms.</p>'
            if synthetic else
            '<p class="synthetic">Unlabelled data: the county.json has no synthetic flag, so these figures may '
            'describe a simulated county, not real farms.</p>' if unlabelled else "")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{warn}{body}</body></html>")


def _refer_note(tbl: pd.DataFrame) -> str:
    """Under a table whose "limit" column holds REFER rows: that a REFER's limit is indicative, not granted (the
    headline counts them apart; an audit read them as granted)."""
    if "outcome" not in tbl.columns or not (tbl["outcome"].astype(str) == "REFER").any():
        return ""
    return "<p class='sub'>limit of a REFER: indicative, not granted until an analyst decides</p>"
