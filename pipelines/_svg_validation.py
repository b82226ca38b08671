"""Inline SVG charts of the validation report: figures with 95% interval whiskers beside their baselines and
targets, and reliability diagrams. Like :mod:`pipelines._svg`, plain SVG text (no scripts or fonts), drawn the same
way on every run: the same inputs give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["BASELINE_MARKS", "IntervalRow", "interval_bars_svg", "reliability_svg"]

#: marker colours of the baselines (and the oracle) beside a figure, in legend order
BASELINE_MARKS = ("#e65100", "#6a1b9a", "#00838f", "#5d4037")
_BAR = "#5c6bc0"
_TARGET = "#c62828"


@dataclass(frozen=True)
class IntervalRow:
    """One bar: ``value`` with its 95% interval ``ci`` (None: none reported) and ``marks``, the baselines beside it
    (legend label -> value; None where that baseline has no figure for the row)."""

    label: str
    value: float | None
    ci: tuple[float, float] | None = None
    marks: dict[str, float | None] = field(default_factory=dict)


def bounds_text(lo: float, hi: float, fmt: Callable[[float], str]) -> str:
    """An interval's bounds as printed: "lo–hi", or "lo to hi" when a bound is negative ("-0.04–0.16" reads as a
    subtraction; the evaluations' own texts join them so too)."""
    return f"{fmt(lo)}{' to ' if min(lo, hi) < 0 else '–'}{fmt(hi)}"


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def interval_bars_svg(rows: Sequence[IntervalRow], *, fmt: Callable[[float], str], title: str,
                      target: float | None = None, target_label: str = "target", lo: float | None = None,
                      hi: float | None = None, width: int = 640) -> str:
    """Horizontal bars, one per row, with interval whiskers, baseline markers (diamonds), a dashed target line and
    a legend; ``lo`` / ``hi`` fix the axis (default: from the values, zero included). A value or marker outside the
    axis is drawn at its edge with an arrow; its exact figure is in the value label."""
    rows = list(rows)
    labels = sorted({k for r in rows for k in r.marks})
    colours = {k: BASELINE_MARKS[i % len(BASELINE_MARKS)] for i, k in enumerate(labels)}
    vals = [v for r in rows for v in (r.value, *(r.ci or ()), *r.marks.values()) if _finite(v)]
    if target is not None:
        vals.append(target)
    a = min([0.0, *vals]) if lo is None else lo
    b = max([1e-9, *vals]) if hi is None else hi
    if b <= a:
        b = a + 1.0
    if hi is None:
        b += 0.04 * (b - a)  # a marker at the largest value stays clear of the value labels
    label_w, right_w, row_h, top = 170, 118, 24, 26
    plot_w = width - label_w - right_w
    legend_h = 22
    height = top + row_h * max(1, len(rows)) + 24 + legend_h

    def px(v: float) -> float:
        return label_w + (min(max(v, a), b) - a) / (b - a) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ibars" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="14" font-size="12" font-weight="bold">{escape(title)}</text>']
    y_end = top + row_h * max(1, len(rows))
    for t in _ticks(a, b):
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{y_end}" stroke="#eee"/>'
                     f'<text x="{px(t):.1f}" y="{y_end + 12}" font-size="9" text-anchor="middle">'
                     f'{escape(fmt(t))}</text>')
    if a < 0 < b:
        parts.append(f'<line x1="{px(0):.1f}" x2="{px(0):.1f}" y1="{top}" y2="{y_end}" stroke="#999"/>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<text x="0" y="{y + 15}" font-size="11">{escape(r.label)}</text>')
        if _finite(r.value):
            v = float(r.value)  # type: ignore[arg-type]
            x0, x1 = sorted((px(0.0 if a <= 0 <= b else a), px(v)))
            parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y + 5}" width="{max(x1 - x0, 1.0):.1f}" '
                         f'height="{row_h - 10}" fill="{_BAR}" fill-opacity="0.75"/>')
            if not a <= v <= b:
                parts.append(f'<text x="{px(v) + (2 if v > b else -9):.1f}" y="{y + 15}" font-size="10">'
                             f'{"▸" if v > b else "◂"}</text>')
            shown = fmt(v)
        else:
            shown = "—"
        if r.ci is not None and all(_finite(c) for c in r.ci):
            c0, c1 = px(float(r.ci[0])), px(float(r.ci[1]))
            ym = y + row_h / 2
            parts.append(f'<path class="whisker" d="M{c0:.1f},{ym:.1f} H{c1:.1f} M{c0:.1f},{ym - 5:.1f} '
                         f'V{ym + 5:.1f} M{c1:.1f},{ym - 5:.1f} V{ym + 5:.1f}" stroke="#212121" '
                         f'stroke-width="1.4" fill="none"/>')
            shown += f" ({bounds_text(float(r.ci[0]), float(r.ci[1]), fmt)})"
        for k in labels:
            m = r.marks.get(k)
            if _finite(m):
                xm, ym = px(float(m)), y + row_h / 2  # type: ignore[arg-type]
                parts.append(f'<path class="mark" d="M{xm:.1f},{ym - 5:.1f} L{xm + 4:.1f},{ym:.1f} '
                             f'L{xm:.1f},{ym + 5:.1f} L{xm - 4:.1f},{ym:.1f} Z" fill="{colours[k]}" '
                             f'stroke="#fff" stroke-width="0.6"><title>{escape(k)}: {escape(fmt(float(m)))}'  # type: ignore[arg-type]
                             f'</title></path>')
        parts.append(f'<text x="{label_w + plot_w + 4}" y="{y + 15}" font-size="9">{escape(shown)}</text>')
    if target is not None:
        parts.append(f'<line class="target" x1="{px(target):.1f}" x2="{px(target):.1f}" y1="{top - 4}" '
                     f'y2="{y_end}" stroke="{_TARGET}" stroke-width="1.5" stroke-dasharray="5 3"/>')
    x, yl = float(label_w), y_end + 20
    items = [("model, 95% interval" if any(r.ci for r in rows) else "model", "bar")] + [(k, "mark") for k in labels]
    if target is not None:
        items.append((f"{target_label} {fmt(target)}", "target"))
    for lab, kind in items:
        if kind == "bar":
            parts.append(f'<rect x="{x:.1f}" y="{yl}" width="14" height="10" fill="{_BAR}" fill-opacity="0.75"/>')
        elif kind == "mark":
            parts.append(f'<path d="M{x + 7:.1f},{yl} L{x + 12:.1f},{yl + 5} L{x + 7:.1f},{yl + 10} '
                         f'L{x + 2:.1f},{yl + 5} Z" fill="{colours[lab]}"/>')
        else:
            parts.append(f'<line x1="{x + 7:.1f}" x2="{x + 7:.1f}" y1="{yl - 1}" y2="{yl + 11}" stroke="{_TARGET}" '
                         f'stroke-width="1.5" stroke-dasharray="3 2"/>')
        parts.append(f'<text x="{x + 17:.1f}" y="{yl + 9}" font-size="10">{escape(lab)}</text>')
        x += 26 + 5.6 * len(lab)
    parts.append("</svg>")
    return "".join(parts)


def _ticks(a: float, b: float) -> list[float]:
    """About five round tick values from ``a`` to ``b``."""
    span = b - a
    raw = span / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(a / step - 1e-9) * step
    out, t = [], first
    while t <= b + 1e-9:
        out.append(round(t, 10) + 0.0)
        t += step
    return out


def reliability_svg(bins: Sequence[dict[str, object]], *, title: str, size: int = 262) -> str:
    """A reliability diagram: each bin's mean confidence (x) against its accuracy (y), a dot whose area grows with
    the bin's count (printed beside it), the diagonal of perfect calibration, and the bins' counts as a bar strip
    under the plot. ``bins``: the evaluation's ``reliability`` items (``lo``, ``hi``, ``confidence``, ``accuracy``,
    ``n``)."""
    pad_l, pad_b, pad_t, strip = 40, 34, 22, 36
    plot = size - pad_l - 10
    height = pad_t + plot + pad_b + strip + 10
    good = [b for b in bins if all(_finite(b.get(k)) for k in ("lo", "hi", "confidence", "accuracy", "n"))]
    nmax = max([float(b["n"]) for b in good] + [1.0])  # type: ignore[arg-type]

    def px(v: float) -> float:
        return pad_l + v * plot

    def py(v: float) -> float:
        return pad_t + (1 - v) * plot

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="reliability" width="{size}" height="{height}" '
             f'viewBox="0 0 {size} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{pad_l}" y="{pad_t}" width="{plot}" height="{plot}" fill="#fff" stroke="#bbb"/>']
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{pad_t}" y2="{pad_t + plot}" stroke="#f0f0f0"/>'
                     f'<line x1="{pad_l}" x2="{pad_l + plot}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#f0f0f0"/>'
                     f'<text x="{px(t):.1f}" y="{pad_t + plot + 11}" font-size="9" text-anchor="middle">{t:.1f}</text>'
                     f'<text x="{pad_l - 4}" y="{py(t) + 3:.1f}" font-size="9" text-anchor="end">{t:.1f}</text>')
    parts.append(f'<line class="diagonal" x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(1):.1f}" y2="{py(1):.1f}" '
                 f'stroke="#9e9e9e" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{pad_l + plot / 2:.0f}" y="{pad_t + plot + 23}" font-size="10" text-anchor="middle">'
                 'mean confidence</text>'
                 f'<text transform="rotate(-90)" x="{-(pad_t + plot / 2):.0f}" y="10" font-size="10" '
                 'text-anchor="middle">accuracy</text>')
    pts = []
    ys = pad_t + plot + pad_b
    for b in good:
        c, acc, n = float(b["confidence"]), float(b["accuracy"]), float(b["n"])  # type: ignore[arg-type]
        r = 2.5 + 7.5 * math.sqrt(n / nmax)
        pts.append(f"{px(c):.1f},{py(acc):.1f}")
        parts.append(f'<circle class="bin" cx="{px(c):.1f}" cy="{py(acc):.1f}" r="{r:.1f}" fill="#1e88e5" '
                     f'fill-opacity="0.6" stroke="#0d47a1" stroke-width="0.8"><title>confidence {c:.3f}, accuracy '
                     f'{acc:.3f}, {int(n):,} fields</title></circle>'
                     f'<text x="{px(c) + r + 2:.1f}" y="{py(acc) + 3:.1f}" font-size="8" fill="#37474f">{int(n):,}'
                     f'</text>')
        x0, x1 = px(float(b["lo"])), px(float(b["hi"]))  # type: ignore[arg-type]
        h = (strip - 6) * n / nmax
        parts.append(f'<rect class="count" x="{x0 + 0.5:.1f}" y="{ys + strip - 6 - h:.1f}" '
                     f'width="{max(x1 - x0 - 1, 0.5):.1f}" height="{max(h, 0.5):.1f}" fill="#90a4ae"/>')
    if len(pts) > 1:
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#1565c0" stroke-width="1"/>')
    parts.append(f'<text x="{pad_l}" y="{ys + strip + 4}" font-size="9">fields per confidence bin (bars)</text>')
    parts.append("</svg>")
    return "".join(parts)
