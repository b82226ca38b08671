"""Small, dependency-free SVG drawing for the reports: maps, curves and bar charts.

Everything is inline SVG text (no scripts, fonts or tiles), so a report works offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["ALERT_STROKES", "ALERT_STROKE_WIDTH", "BOOK_HATCH", "OUTCOME_COLOURS", "map_svg", "curve_svg",
           "bar_svg"]

OUTCOME_COLOURS = {"APPROVE": "#2e7d32", "REDUCE": "#f9a825", "DECLINE": "#757575", "REFER": "#c62828",
                   "WATCH": "#ef6c00", "CROP_FAILURE": "#b71c1c", "NOT_PLANTED": "#6a1b9a", "EARLY_HARVEST": "#1565c0",
                   "CROP_MISMATCH": "#ad1457", "none": "#bdbdbd",
                   # a line kept at a re-underwriting that re-estimated nothing, never decided in the store: its Book
                   # limit stands (pipelines.report.standing_decisions)
                   "BOOK": "#00838f"}

#: the map's alert outlines: drawn wide, in colours apart from the outcome fills (CROP_FAILURE's table red was the
#: REFER fill's)
ALERT_STROKES = {"WATCH": "#ff6f00", "CROP_FAILURE": "#000000", "NOT_PLANTED": "#7b1fa2", "EARLY_HARVEST": "#0d47a1",
                 "CROP_MISMATCH": "#e91e63"}
ALERT_STROKE_WIDTH = 2.6
#: the hatch over a field whose line stands on its Book limit (its latest outcome granted nothing)
BOOK_HATCH = "#004d40"


def _rings(g: BaseGeometry) -> list[np.ndarray]:
    polys = list(g.geoms) if g.geom_type == "MultiPolygon" else [g]
    out = []
    for p in polys:
        out.append(np.asarray(p.exterior.coords))
        out.extend(np.asarray(r.coords) for r in p.interiors)
    return out


def _legend_rows(items: list[tuple[str, str, str]], width: int, pad: int) -> list[list[tuple[float, str, str, str]]]:
    """Legend items (label, colour, kind) laid out in rows that fit ``width``: (x, label, colour, kind)."""
    rows: list[list[tuple[float, str, str, str]]] = [[]]
    x = float(pad)
    for label, col, kind in items:
        w = 24 + 6.5 * len(label)
        if rows[-1] and x + w > width - pad:
            rows.append([])
            x = float(pad)
        rows[-1].append((x, label, col, kind))
        x += w
    return rows


def map_svg(geoms: Sequence[BaseGeometry], colours: Sequence[str], titles: Sequence[str], *,
            width: int = 720, legend: dict[str, str] | None = None, strokes: Sequence[str] | None = None,
            stroke_widths: Sequence[float] | None = None, hatched: Sequence[bool] | None = None,
            stroke_legend: dict[str, str] | None = None, hatch_label: str | None = None) -> str:
    """Polygons drawn to scale (projected coordinates), north up, one <path> per field with a <title> tooltip.

    ``legend``: fill label -> colour; ``strokes`` / ``stroke_widths``: each field's outline, ``stroke_legend`` its
    labels (outline label -> colour, drawn as outlined boxes); ``hatched``: fields drawn with a hatch over their
    fill, ``hatch_label`` its legend entry."""
    if not len(geoms):
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60"><text x="10" y="30">no fields</text></svg>'
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
    pad = 10
    scale = (width - 2 * pad) / span_x
    height = int(span_y * scale + 2 * pad)
    if height > 900:
        scale *= 900 / height
        height = 900
    items = [(k, v, "fill") for k, v in (legend or {}).items()]
    if hatch_label and hatched is not None and any(hatched):
        items.append((hatch_label, BOOK_HATCH, "hatch"))
    items.extend((k, v, "stroke") for k, v in (stroke_legend or {}).items())
    rows = _legend_rows(items, width, pad) if items else []
    extra = 22 * len(rows) + (4 if rows else 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="map" width="{width}" height="{height + extra}" '
             f'viewBox="0 0 {width} {height + extra}" role="img" aria-label="map of fields">',
             f'<defs><pattern id="book-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
             f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="{BOOK_HATCH}" '
             f'stroke-width="2"/></pattern></defs>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f1e8"/>']
    for i, (g, col, title) in enumerate(zip(geoms, colours, titles, strict=True)):
        d = []
        for ring in _rings(g):
            xs = pad + (ring[:, 0] - minx) * scale
            ys = pad + (maxy - ring[:, 1]) * scale
            d.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True)) + " Z")
        stroke = strokes[i] if strokes is not None else "#333"
        sw = stroke_widths[i] if stroke_widths is not None else 0.8
        path = " ".join(d)
        parts.append(f'<path d="{path}" fill="{col}" fill-opacity="0.8" stroke="{stroke}" stroke-width="{sw:g}" '
                     f'fill-rule="evenodd"><title>{escape(title)}</title></path>')
        if hatched is not None and hatched[i]:  # over the fill, under nothing: the tooltip stays the field's
            parts.append(f'<path class="book-hatch" d="{path}" fill="url(#book-hatch)" stroke="none" '
                         f'fill-rule="evenodd" pointer-events="none"/>')
    # scale bar
    bar_m = 10 ** int(np.floor(np.log10(span_x / 4))) if span_x > 10 else 1
    bar_px = bar_m * scale
    parts.append(f'<line x1="{pad}" y1="{height - 8}" x2="{pad + bar_px:.1f}" y2="{height - 8}" stroke="#000" stroke-width="2"/>'
                 f'<text x="{pad}" y="{height - 12}" font-size="10">{bar_m:g} m</text>')
    for r, row in enumerate(rows):
        y = height + 6 + 22 * r
        for x, label, col, kind in row:
            box = (f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{col}"/>' if kind == "fill" else
                   f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="url(#book-hatch)" stroke="#999" '
                   'stroke-width="0.5"/>' if kind == "hatch" else
                   f'<rect class="outline" x="{x + 1:.1f}" y="{y + 1}" width="10" height="10" fill="#fff" '
                   f'stroke="{col}" stroke-width="{ALERT_STROKE_WIDTH:g}"/>')
            parts.append(box + f'<text x="{x + 16:.1f}" y="{y + 10}" font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def curve_svg(x_days: Any, y: Any, *, band: tuple[Any, Any, Any, Any] | None = None, marks: Sequence[tuple[float, str]] = (),
              width: int = 520, height: int = 200, x_label: str = "day of season", y_label: str = "NDVI",
              y_range: tuple[float, float] = (-0.1, 1.0)) -> str:
    """An observed curve (dots and line) over an expected band (days, p10, p50, p90), with labelled marks, both axes
    titled (``x_label``, ``y_label``) and tick values on both."""
    pad_l, pad_b, pad_t, pad_r = 48, 30, 10, 10
    xs_all = list(x_days) + (list(band[0]) if band else []) + [m[0] for m in marks]
    x0, x1 = (min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1
    y0, y1 = y_range
    lows = [float(v) for v in list(y) + (list(band[1]) if band else []) if v is not None and np.isfinite(v)]
    if lows and min(lows) < y0:  # flooded paddies and water read below zero: widen the axis, never clip
        y0 = float(np.floor(min(lows) * 5.0) / 5.0)

    def px(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def py(v: float) -> float:
        return pad_t + (y1 - v) / (y1 - y0) * (height - pad_t - pad_b)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="curve" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(y_label)} curve">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']
    for v in np.arange(0.0 if y0 > -0.2 else float(np.ceil(y0 * 5.0) / 5.0), y1 + 1e-9, 0.2):
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>'
                     f'<text x="16" y="{py(v) + 3:.1f}" font-size="9">{round(float(v), 1) + 0.0:.1f}</text>')
    step = next(k for k in (1, 2, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 10 ** 9) if (x1 - x0) / k <= 8)
    for t in range(int(np.ceil(x0 / step)) * step, int(np.floor(x1)) + 1, step):
        parts.append(f'<line class="xtick" x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{height - pad_b}" '
                     f'y2="{height - pad_b + 3}" stroke="#555"/><text x="{px(t):.1f}" y="{height - pad_b + 12}" '
                     f'font-size="9" text-anchor="middle">{t}</text>')
    parts.append(f'<text class="ytitle" transform="rotate(-90)" x="{-(pad_t + (height - pad_t - pad_b) / 2):.1f}" '
                 f'y="10" font-size="10" text-anchor="middle">{escape(y_label)}</text>')
    if band is not None and len(band[0]):
        d, lo, med, hi = (np.asarray(a, dtype=float) for a in band)
        band_pts = [f"{px(a):.1f},{py(b):.1f}" for a, b in zip(d, hi, strict=True)] + \
            [f"{px(a):.1f},{py(b):.1f}" for a, b in zip(d[::-1], lo[::-1], strict=True)]
        parts.append(f'<polygon class="band" points="{" ".join(band_pts)}" fill="#90caf9" fill-opacity="0.45" stroke="none"/>')
        parts.append('<polyline points="' + " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(d, med, strict=True))
                     + '" fill="none" stroke="#1e88e5" stroke-dasharray="4 3"/>')
    for day, label in marks:
        parts.append(f'<line x1="{px(day):.1f}" x2="{px(day):.1f}" y1="{pad_t}" y2="{height - pad_b}" stroke="#6d4c41" '
                     f'stroke-dasharray="2 2"/><text x="{px(day) + 2:.1f}" y="{pad_t + 9}" font-size="9">{escape(label)}</text>')
    if len(x_days):
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x_days, y, strict=True))
        parts.append(f'<polyline class="obs" points="{pts}" fill="none" stroke="#2e7d32" stroke-width="1.5"/>')
        parts.extend(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2.2" fill="#2e7d32"/>'
                     for a, b in zip(x_days, y, strict=True))
    parts.append(f'<text class="xtitle" x="{(pad_l + width - pad_r) / 2:.0f}" y="{height - 4}" font-size="10" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_svg(labels: Sequence[str], values: Sequence[float], *, width: int = 420, unit: str = "",
            colours: Sequence[str] | None = None) -> str:
    """A horizontal bar chart with value labels."""
    row = 22
    height = row * max(1, len(labels)) + 10
    vmax = max([float(v) for v in values] + [1e-9])
    label_w = 170
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="bar chart">']
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        w = (width - label_w - 90) * float(v) / vmax
        col = colours[i] if colours is not None else "#5c6bc0"
        y = 5 + i * row
        parts.append(f'<text x="0" y="{y + 14}" font-size="11">{escape(str(lab))}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{col}"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="10">{float(v):,.0f}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)
