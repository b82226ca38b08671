"""The landscape: blocks between straight roads, split into irregular fields, plus non-field land.

Blocks (row heights and column widths drawn from the preset's range) lie between roads;
every block is split by recursive cuts into pieces of the preset's field sizes. A field is
its piece inset by half the margin (headlands, bunds, tree lines) with its corners pulled
inward at random and sometimes one corner cut off, so fields are irregular but never
overlap. About one block in nine is not farmed: water, trees, built-up land or grass.
Tree lines run along some field edges inside the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from democounty._presets import Preset

__all__ = ["Landscape", "make_landscape", "cut_planted"]

_SPECIAL = ("water", "trees", "built_up", "grass")


@dataclass
class Landscape:
    """Fields (true boundaries), non-field land and the county bounds."""

    field_ids: list[str]
    fields: list[Polygon]
    block_of: list[int]
    landcover: list[tuple[str, BaseGeometry]]
    bounds: tuple[int, int, int, int]


def _split(rect: tuple[float, float, float, float], pre: Preset, rng: np.random.Generator,
           out: list[tuple[float, float, float, float]]) -> None:
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    area_ha = w * h / 1e4
    lo, hi = pre.field_ha
    target = math.exp(rng.uniform(math.log(lo * 1.3), math.log(hi * 0.9)))
    if area_ha <= max(1.5 * target, 2.2 * lo) or min(w, h) < 2 * pre.margin_m + 20:
        out.append(rect)
        return
    lo_f = max(0.3, 1.45 * lo / area_ha)
    if lo_f > 1 - lo_f:
        out.append(rect)
        return
    f = rng.uniform(lo_f, max(lo_f, min(0.7, 1 - lo_f)))
    if w >= h:
        xm = x0 + f * w
        _split((x0, y0, xm, y1), pre, rng, out)
        _split((xm, y0, x1, y1), pre, rng, out)
    else:
        ym = y0 + f * h
        _split((x0, y0, x1, ym), pre, rng, out)
        _split((x0, ym, x1, y1), pre, rng, out)


def _field_polygon(rect: tuple[float, float, float, float], margin: float, rng: np.random.Generator) -> Polygon:
    x0, y0, x1, y1 = rect
    x0, y0, x1, y1 = x0 + margin / 2, y0 + margin / 2, x1 - margin / 2, y1 - margin / 2
    w, h = x1 - x0, y1 - y0
    jx, jy = 0.08 * w, 0.08 * h
    pts = [
        (x0 + rng.uniform(0, jx), y0 + rng.uniform(0, jy)),
        (x1 - rng.uniform(0, jx), y0 + rng.uniform(0, jy)),
        (x1 - rng.uniform(0, jx), y1 - rng.uniform(0, jy)),
        (x0 + rng.uniform(0, jx), y1 - rng.uniform(0, jy)),
    ]
    if rng.random() < 0.3:  # cut one corner off (a creek, a farmstead, an old boundary)
        k = int(rng.integers(0, 4))
        a, b, c = pts[k - 1], pts[k], pts[(k + 1) % 4]
        t1, t2 = rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.35)
        p = (b[0] + (a[0] - b[0]) * t1, b[1] + (a[1] - b[1]) * t1)
        q = (b[0] + (c[0] - b[0]) * t2, b[1] + (c[1] - b[1]) * t2)
        pts = pts[:k] + [p, q] + pts[k + 1:]
    coords = [(round(x, 2), round(y, 2)) for x, y in pts]
    return Polygon(coords)


def _special(kind: str, rect: tuple[float, float, float, float], rng: np.random.Generator) -> BaseGeometry:
    x0, y0, x1, y1 = rect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    if kind == "water":  # an irregular pond
        n = 24
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
        rad = rng.uniform(0.55, 0.9, n)
        return Polygon([(round(cx + rx * r * math.cos(a), 2), round(cy + ry * r * math.sin(a), 2))
                        for a, r in zip(ang, rad, strict=True)])
    return box(x0 + 2, y0 + 2, x1 - 2, y1 - 2)


def make_landscape(pre: Preset, n_fields: int, rng: np.random.Generator) -> Landscape:
    """Lay out blocks, roads, fields and non-field land for ``n_fields`` fields."""
    mean_field = math.sqrt(pre.field_ha[0] * pre.field_ha[1]) * 1e4 * 1.3
    mean_block = (sum(pre.block_m) / 2) ** 2
    n_blocks = max(2, math.ceil(n_fields * mean_field / mean_block * 1.25) + 1)
    ncols = max(2, math.ceil(math.sqrt(n_blocks)))
    road = pre.road_m
    x0, y0 = pre.origin
    fields: list[Polygon] = []
    block_of: list[int] = []
    cover: list[tuple[str, BaseGeometry]] = []
    widths = [float(rng.uniform(*pre.block_m)) for _ in range(ncols)]
    total_w = sum(widths) + road * (ncols + 1)
    y = y0 + road
    block = 0
    rows = 0
    row_y: list[float] = []
    while len(fields) < n_fields or rows < 1:
        h = float(rng.uniform(*pre.block_m))
        row_y.append(y)
        x = x0 + road
        for w in widths:
            rect = (x, y, x + w, y + h)
            block += 1
            if len(fields) >= n_fields:
                cover.append(("grass", box(*rect)))
            elif block % 9 == 5:
                kind = _SPECIAL[(block // 9) % len(_SPECIAL)]
                cover.append((kind, _special(kind, rect, rng)))
                if kind != "grass":
                    cover.append(("grass", box(*rect).difference(cover[-1][1])))
            else:
                pieces: list[tuple[float, float, float, float]] = []
                _split(rect, pre, rng, pieces)
                for p in pieces:
                    if len(fields) >= n_fields:
                        cover.append(("grass", box(*p)))
                        continue
                    fields.append(_field_polygon(p, pre.margin_m, rng))
                    block_of.append(block)
                    if rng.random() < 0.25 and pre.margin_m >= 8:  # a tree line along the north edge
                        cover.append(("trees", box(p[0], p[3] - pre.margin_m * 0.45, p[2], p[3])))
            x += w + road
        y += h + road
        rows += 1
    total_h = y - y0
    for i in range(ncols + 1):  # north-south roads
        xr = x0 + sum(widths[:i]) + road * i
        cover.append(("road", box(xr, y0, xr + road, y0 + total_h)))
    for yr in row_y:  # east-west roads below each block row and above the last
        cover.append(("road", box(x0, yr - road, x0 + total_w, yr)))
    cover.append(("road", box(x0, y - road, x0 + total_w, y)))
    xmin = int(math.floor((x0 - 50) / 10) * 10)
    ymin = int(math.floor((y0 - 50) / 10) * 10)
    xmax = int(math.ceil((x0 + total_w + 50) / 10) * 10)
    ymax = int(math.ceil((y0 + total_h + 50) / 10) * 10)
    width = max(1, len(str(n_fields)))
    ids = [f"F{i + 1:0{max(4, width)}d}" for i in range(len(fields))]
    return Landscape(field_ids=ids, fields=fields, block_of=block_of, landcover=cover,
                     bounds=(xmin, ymin, xmax, ymax))


def cut_planted(field: Polygon, fraction: float) -> Polygon:
    """The part of ``field`` west (or south) of a straight cut leaving about ``fraction`` of it."""
    minx, miny, maxx, maxy = field.bounds
    if maxx - minx >= maxy - miny:
        part = field.intersection(box(minx - 1, miny - 1, minx + fraction * (maxx - minx), maxy + 1))
    else:
        part = field.intersection(box(minx - 1, miny - 1, maxx + 1, miny + fraction * (maxy - miny)))
    if part.geom_type != "Polygon":
        polys = [g for g in getattr(part, "geoms", []) if g.geom_type == "Polygon"]
        part = max(polys, key=lambda g: g.area) if polys else field
    return part
