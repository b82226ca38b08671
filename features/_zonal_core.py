"""Private core of the zonal engine: a sparse pixel→field map and grouped statistics.

The pixel map is built once per raster grid by rasterizing the fields in layers of
mutually non-touching polygons (so overlapping fields each keep all their pixels),
window by window (blocks of rows), with GDAL's pixel-centre rule — the same rule
``rasterstats.zonal_stats(all_touched=False)`` uses. Statistics are grouped with
``np.bincount`` (counts, sums, two-pass variance) and a padded row-wise sort for the
percentiles, interpolated exactly the way ``numpy.percentile(method="linear")`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from features.errors import ImageryError

__all__ = ["Layout", "PixelMap", "Window", "build_pixel_map", "group_stats", "layout_stats", "make_layout",
           "PERCENTILES", "STATS"]

#: percentiles reported, as numpy takes them (0..100)
PERCENTILES = (10.0, 50.0, 90.0)
#: statistics computed per (field, variable, date)
STATS = ("n_clear", "mean", "std", "p10", "p50", "p90")


@dataclass(frozen=True)
class Window:
    """A block of rows (and the column span of its fields) and its slice of the pixel map."""

    row0: int
    row1: int
    col0: int
    col1: int
    start: int
    stop: int


@dataclass
class PixelMap:
    """Sparse (pixel, field) pairs for one raster grid.

    ``fid``/``loc`` are in window order (``loc`` is the flat index inside the window).
    Fields are grouped in *group order*: field ``field_of[g]`` is group ``g``, groups
    numbered top-down by the first row of their bounding box, so that each window's
    pairs land in a narrow, cache-friendly range. ``order`` sorts the pairs by group
    (stable; not kept), ``gid_sorted``/``fid_sorted`` are the group/field of each sorted
    pair, ``dest`` is the inverse of ``order`` (where each window-order pair goes), and
    ``n_pixels[i]`` counts the pixel centres inside field ``i``.
    """

    shape: tuple[int, int]
    transform: Affine
    n_fields: int
    fid: np.ndarray
    loc: np.ndarray
    windows: list[Window]
    gid_sorted: np.ndarray
    fid_sorted: np.ndarray
    field_of: np.ndarray
    dest: np.ndarray
    n_pixels: np.ndarray

    @property
    def n_pairs(self) -> int:
        return int(self.fid.size)

    def field_chunks(self, max_pairs: int = 4_000_000) -> Iterator[tuple[int, int]]:
        """Slices of the group-sorted pairs, cut at group boundaries, of about ``max_pairs`` each."""
        n = self.n_pairs
        start = 0
        while start < n:
            stop = min(start + max_pairs, n)
            if stop < n:
                g = self.gid_sorted[stop - 1]
                stop = int(np.searchsorted(self.gid_sorted, g, side="right"))
            yield start, stop
            start = stop


def _pixel_ranges(bounds: np.ndarray, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Row/column ranges of each bounding box, the way rasterstats' ``bounds_window`` computes them."""
    a, c, e, f = transform.a, transform.c, transform.e, transform.f
    minx, miny, maxx, maxy = bounds.T
    with np.errstate(invalid="ignore"):
        r0 = np.floor((maxy - f) / e)
        r1 = np.ceil((miny - f) / e)
        c0 = np.floor((minx - c) / a)
        c1 = np.ceil((maxx - c) / a)
    out = np.stack([r0, r1, c0, c1], axis=1)
    out = np.nan_to_num(out, nan=0.0)
    out[:, 0:2] = np.clip(out[:, 0:2], 0, shape[0])
    out[:, 2:4] = np.clip(out[:, 2:4], 0, shape[1])
    return out.astype(np.int64)


def _layers(geoms: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Greedy colouring: fields in one layer neither overlap nor touch."""
    layer = np.zeros(len(geoms), dtype=np.int32)
    idx = np.flatnonzero(active)
    if idx.size < 2:
        return layer
    tree = shapely.STRtree(geoms[idx])
    a, b = tree.query(geoms[idx], predicate="intersects")
    keep = a < b
    a, b = idx[a[keep]], idx[b[keep]]
    if a.size == 0:
        return layer
    # neighbours with a smaller index, grouped by the larger one
    o = np.argsort(b, kind="stable")
    lo, hi = a[o], b[o]
    starts = np.searchsorted(hi, np.unique(hi), side="left")
    ends = np.searchsorted(hi, np.unique(hi), side="right")
    for node, s, t in zip(np.unique(hi).tolist(), starts.tolist(), ends.tolist(), strict=True):
        used = set(layer[lo[s:t]].tolist())
        k = 0
        while k in used:
            k += 1
        layer[node] = k
    return layer


def build_pixel_map(
    geoms: np.ndarray, transform: Affine, shape: tuple[int, int], *, block_rows: int = 512
) -> PixelMap:
    """Map every pixel centre inside each geometry to that geometry (overlaps kept)."""
    if transform.b != 0 or transform.d != 0 or transform.e >= 0 or transform.a <= 0:
        raise ImageryError(source="scene grid", problem=f"a north-up, unrotated grid is required, found {tuple(transform)[:6]}")
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    bounds = shapely.bounds(geoms)
    rng = _pixel_ranges(bounds, transform, shape)
    active = ~empty & (rng[:, 1] > rng[:, 0]) & (rng[:, 3] > rng[:, 2])
    layer = _layers(geoms, active)
    fids: list[np.ndarray] = []
    locs: list[np.ndarray] = []
    windows: list[Window] = []
    total = 0
    height = shape[0]
    for row0 in range(0, height, block_rows):
        row1 = min(row0 + block_rows, height)
        cand = np.flatnonzero(active & (rng[:, 0] < row1) & (rng[:, 1] > row0))
        if cand.size == 0:
            continue
        col0 = int(rng[cand, 2].min())
        col1 = int(rng[cand, 3].max())
        wt = transform @ Affine.translation(col0, row0)
        out_shape = (row1 - row0, col1 - col0)
        start = total
        for k in np.unique(layer[cand]).tolist():
            members = cand[layer[cand] == k]
            arr = rasterize(
                ((geoms[i], int(i) + 1) for i in members.tolist()),
                out_shape=out_shape, transform=wt, fill=0, dtype="int32", all_touched=False,
            )
            flat = arr.ravel()
            nz = np.flatnonzero(flat)
            if nz.size:
                fids.append((flat[nz] - 1).astype(np.int32))
                locs.append(nz.astype(np.int32))
                total += nz.size
        if total > start:
            windows.append(Window(row0, row1, col0, col1, start, total))
    fid = np.concatenate(fids) if fids else np.zeros(0, dtype=np.int32)
    loc = np.concatenate(locs) if locs else np.zeros(0, dtype=np.int32)
    field_of = np.lexsort((rng[:, 2], rng[:, 0])).astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[field_of] = np.arange(n)
    gid = rank[fid]
    order = np.argsort(gid, kind="stable")
    gid_sorted = gid[order].astype(np.int32)
    del gid
    dest = np.empty_like(order)
    dest[order] = np.arange(order.size)
    del order
    n_pixels = np.bincount(fid, minlength=n).astype(np.int64)
    return PixelMap(shape=shape, transform=transform, n_fields=n, fid=fid, loc=loc, windows=windows,
                    gid_sorted=gid_sorted, fid_sorted=field_of[gid_sorted].astype(np.int32), field_of=field_of,
                    dest=dest, n_pixels=n_pixels)


_GRID = np.unique(np.concatenate([2 ** np.arange(3, 40), (2 ** np.arange(3, 40) * 3) // 2])).astype(np.int64)


@dataclass
class _Bucket:
    """Groups whose sizes share one padded row width: their block in the padded buffer and percentile picks."""

    cap: int
    groups: np.ndarray
    offset: int
    picks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Layout:
    """Everything about a (groups, valid mask) pair that does not depend on the values.

    Bands of one scene usually share their valid mask, so one layout serves them all.
    """

    valid: np.ndarray
    sel: np.ndarray
    n: np.ndarray
    nz: np.ndarray
    seg: np.ndarray
    flat: np.ndarray
    size: int
    buckets: list[_Bucket]


def make_layout(f_sorted: np.ndarray, valid: np.ndarray, n_fields: int) -> Layout:
    """Precompute grouping and the padded-sort layout (rows of power-of-1.5/2 widths) for the valid elements."""
    sel = np.flatnonzero(valid)
    f = f_sorted[sel].astype(np.int64)
    n = np.bincount(f, minlength=n_fields).astype(np.int64)
    starts = np.zeros(n_fields, dtype=np.int64)
    if n_fields > 1:
        np.cumsum(n[:-1], out=starts[1:])
    caps = np.zeros(n_fields, dtype=np.int64)
    has = n > 0
    caps[has] = _GRID[np.searchsorted(_GRID, n[has], side="left")]
    # each group's row start in one padded buffer, buckets of equal width one after another
    row_start = np.zeros(n_fields, dtype=np.int64)
    buckets: list[_Bucket] = []
    offset = 0
    for cap in np.unique(caps[has]).tolist():
        groups = np.flatnonzero(caps == cap)
        rows = offset + np.arange(groups.size, dtype=np.int64) * cap
        row_start[groups] = rows
        cnt = n[groups]
        picks = []
        for q in PERCENTILES:
            virt = (cnt - 1) * np.true_divide(q, 100)
            prev = np.floor(virt)
            gamma = virt - prev
            prev_i = prev.astype(np.int64)
            top = virt >= cnt - 1
            prev_i[top] = cnt[top] - 1
            next_i = np.minimum(prev_i + 1, cnt - 1)
            picks.append((rows + prev_i, rows + next_i, gamma, gamma >= 0.5))
        buckets.append(_Bucket(cap=cap, groups=groups, offset=offset, picks=picks))
        offset += groups.size * cap
    flat = row_start[f] + (np.arange(f.size, dtype=np.int64) - starts[f])
    nz = np.flatnonzero(has)
    return Layout(valid=valid, sel=sel, n=n, nz=nz, seg=starts[nz], flat=flat, size=offset, buckets=buckets)


def layout_stats(lay: Layout, values: np.ndarray, *, dn: np.ndarray | None = None, scale: float = 1.0,
                 offset: float = 0.0, compressed: bool = False) -> dict[str, np.ndarray]:
    """n_clear, mean, std (ddof=0), p10/p50/p90 per group; percentiles bit-identical to np.percentile.

    When ``values`` is ``dn.astype(float64) * scale + offset`` of an unsigned-integer ``dn``
    (scale > 0), pass ``dn``: the padded sort runs on the integers (same order, far
    less memory traffic) and the picked values are converted the same way.
    ``compressed=True``: ``values`` already holds only the valid elements (``values[lay.sel]``).
    """
    nf = lay.n.size
    x = (values if compressed else values[lay.sel]).astype(np.float64, copy=False)
    n = lay.n
    mean = np.full(nf, np.nan)
    std = np.full(nf, np.nan)
    if x.size:
        # groups are contiguous: segment sums (reduceat) and a repeat beat bincount and a gather
        cnt = n[lay.nz]
        m = np.add.reduceat(x, lay.seg) / cnt
        d = x - np.repeat(m, cnt)
        d *= d
        mean[lay.nz] = m
        std[lay.nz] = np.sqrt(np.add.reduceat(d, lay.seg) / cnt)
    out: dict[str, np.ndarray] = {"n_clear": n, "mean": mean, "std": std}
    names = ("p10", "p50", "p90")
    for name in names:
        out[name] = np.full(nf, np.nan)
    use_dn = dn is not None and dn.dtype.kind == "u" and scale > 0
    if use_dn:
        assert dn is not None
        buf = np.full(lay.size, np.iinfo(dn.dtype).max, dtype=dn.dtype)
        buf[lay.flat] = dn[lay.sel]  # dn is never compressed
    else:
        buf = np.full(lay.size, np.inf)
        buf[lay.flat] = x
    for b in lay.buckets:
        buf[b.offset:b.offset + b.groups.size * b.cap].reshape(b.groups.size, b.cap).sort(axis=1)
        for name, (lo_f, hi_f, gamma, upper) in zip(names, b.picks, strict=True):
            if use_dn:
                lo = np.multiply(buf[lo_f], scale, dtype=np.float64)
                lo += offset
                hi = np.multiply(buf[hi_f], scale, dtype=np.float64)
                hi += offset
            else:
                lo = buf[lo_f]
                hi = buf[hi_f]
            diff = hi - lo
            res = lo + diff * gamma
            res[upper] = hi[upper] - diff[upper] * (1 - gamma[upper])
            out[name][b.groups] = res
    return out


def group_stats(f_sorted: np.ndarray, values: np.ndarray, valid: np.ndarray, n_fields: int) -> dict[str, np.ndarray]:
    """Per-group n_clear, mean, std (ddof=0), p10, p50, p90 of the valid values.

    ``f_sorted`` is the (ascending) group of each value; groups with no valid value
    get NaN statistics and ``n_clear`` 0.
    """
    return layout_stats(make_layout(f_sorted, valid, n_fields), values)
