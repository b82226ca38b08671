"""The report pages' drawings: the fields map by latest outcome and alert, and a field's NDVI curve.

Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines._report_data import ON_BOOK, ReportData, latest_decisions, standing_on_page
from pipelines._report_html import _money
from pipelines._svg import ALERT_STROKE_WIDTH, ALERT_STROKES, OUTCOME_COLOURS, curve_svg, map_svg


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


def record_marks(records: pd.DataFrame) -> list[tuple[date, str]]:
    """The dates of ``records`` (``as_of``, ``kind``) as curve marks: re-underwrite, decision or override."""
    kinds: dict[date, set[str]] = {}
    kind = records["kind"] if "kind" in records.columns else pd.Series("decision", index=records.index)
    for a, k in zip(records["as_of"], kind, strict=True):
        kinds.setdefault(date.fromisoformat(str(a)), set()).add(str(k))
    return [(d, "re-underwrite" if "reunderwrite" in ks else ("decision" if "decision" in ks else "override"))
            for d, ks in sorted(kinds.items())]


def _curve_for(data: ReportData, field_id: str, marks: list[tuple[date, str]] | None = None) -> str:
    """A field's NDVI curve with ``marks`` (default the season's record dates, ``data.checkpoints``)."""
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
    at = [((pd.Timestamp(d) - start).days, lab) for d, lab in (data.checkpoints if marks is None else marks)]
    return curve_svg(x, y, band=band, marks=at, x_label=f"days since {start.date().isoformat()} (season start)",
                     y_label="NDVI")
