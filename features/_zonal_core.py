"""Private core of the zonal engine: a sparse pixel→field map and grouped statistics.

The pixel map is built once per raster grid by rasterizing the fields in layers of
mutually non-touching polygons (so overlapping fields each keep all their pixels),
window by window (blocks of rows), with GDAL's pixel-centre rule — the same rule
``rasterstats.zonal_stats(all_touched=False)`` uses.

Statistics run on a :class:`Layout` (one per set of valid pixels, shared by the bands
of a scene): the valid values are gathered once, groups ordered by their number of
valid values, so that means and two-pass variances are segment sums (``reduceat``,
each group's values in their own order) and the percentiles come from one row-wise
sort per group size — on the integer DNs when the values are scaled DNs — picked and
interpolated exactly the way ``numpy.percentile(method="linear")`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from features._quiet import quiet_rasterize
from features.errors import ImageryError

quiet_rasterize()  # rasterio's rasterize warns from threads without it (features._quiet)

__all__ = ["Layout", "PixelMap", "Window", "build_pixel_map", "group_stats", "layout_stats", "make_layout",
           "segment_stats", "to_float",
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

    @cached_property
    def group_bounds(self) -> np.ndarray:
        """Where each group's pairs start in the group-sorted pairs (``n_fields + 1`` entries, the last ``n_pairs``)."""
        out = np.zeros(self.n_fields + 1, dtype=np.int64)
        np.cumsum(self.n_pixels[self.field_of], out=out[1:])  # group g is field field_of[g]
        return out

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
        raise ImageryError(source="scene grid", problem="an unrotated grid whose rows run north to south (a negative y "
                           f"pixel size) is required, found the transform {tuple(transform)[:6]}")
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


@dataclass
class Layout:
    """Everything about a (groups, valid mask) pair that does not depend on the values.

    The valid elements are regrouped by *size*: ``perm`` lists their positions with the
    groups ordered by their number of valid elements (stable, so groups of one size keep
    their order) and each group's own elements in their original order — sums over a
    group are therefore bit-identical to sums in group order. Segment ``k`` (group
    ``groups[k]``) holds ``cnt[k]`` elements from ``seg[k]``; ``classes`` lists
    ``(size, first position, number of groups)`` for each size, so the groups of one
    size form a dense (groups × size) block sorted by one call, with no padding.
    ``lo``/``hi`` are the positions of the two order statistics of each percentile of
    every segment (percentile-major: p10 of every segment, then p50, then p90),
    ``gamma`` the interpolation weight and ``upper`` where numpy interpolates from the
    upper one. ``n`` counts the valid elements of every group (segments hold only the
    groups with some). Bands of one scene usually share their valid mask, so one layout
    serves them all.
    """

    valid: np.ndarray
    n: np.ndarray
    perm: np.ndarray
    groups: np.ndarray
    seg: np.ndarray
    cnt: np.ndarray
    classes: list[tuple[int, int, int]]
    lo: np.ndarray
    hi: np.ndarray
    gamma: np.ndarray
    upper: np.ndarray


def make_layout(f_sorted: np.ndarray | None, valid: np.ndarray, n_fields: int, *,
                bounds: np.ndarray | None = None) -> Layout:
    """Precompute the size-class layout and the percentile picks of the valid elements.

    ``f_sorted`` is the (ascending) group of each element; or give ``bounds`` instead:
    where each group's elements start, ``n_fields + 1`` entries, the last the number of
    elements. ``valid`` marks the elements that count.
    """
    if bounds is None:
        assert f_sorted is not None
        bounds = np.searchsorted(f_sorted, np.arange(n_fields + 1))
    n = np.zeros(n_fields, dtype=np.int64)
    starts = bounds[:-1]
    full = np.flatnonzero(bounds[1:] > starts)
    if full.size:
        # groups are contiguous: one segment sum per non-empty group
        n[full] = np.add.reduceat(valid, starts[full], dtype=np.int64)
    sel = np.flatnonzero(valid)
    present = np.flatnonzero(n)
    groups = present[np.argsort(n[present], kind="stable")]
    cnt = n[groups]
    seg = np.zeros(groups.size, dtype=np.int64)
    if groups.size > 1:
        np.cumsum(cnt[:-1], out=seg[1:])
    # where each group's valid elements start in ``sel`` (groups ascending there)
    old = np.zeros(n_fields, dtype=np.int64)
    if n_fields > 1:
        np.cumsum(n[:-1], out=old[1:])
    shift = np.repeat(old[groups] - seg, cnt)
    shift += np.arange(sel.size, dtype=np.int64)
    perm = sel.take(shift)
    classes: list[tuple[int, int, int]] = []
    if cnt.size:
        first = np.flatnonzero(np.diff(cnt, prepend=-1))
        ngroups = np.diff(first, append=cnt.size)
        classes = list(zip(cnt[first].tolist(), seg[first].tolist(), ngroups.tolist(), strict=True))
    los, his, gammas = [], [], []
    for q in PERCENTILES:
        # numpy.percentile(method="linear"), vectorised over segments
        virt = (cnt - 1) * np.true_divide(q, 100)
        prev = np.floor(virt)
        gammas.append(virt - prev)
        prev_i = prev.astype(np.int64)
        top = virt >= cnt - 1
        prev_i[top] = cnt[top] - 1
        next_i = np.minimum(prev_i + 1, cnt - 1)
        los.append(seg + prev_i)
        his.append(seg + next_i)
    gamma = np.concatenate(gammas)
    return Layout(valid=valid, n=n, perm=perm, groups=groups, seg=seg, cnt=cnt, classes=classes,
                  lo=np.concatenate(los), hi=np.concatenate(his), gamma=gamma, upper=gamma >= 0.5)


def to_float(dn: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """``dn × scale + offset`` in float64, the same arithmetic everywhere (so results are bit-identical).

    Adding an offset of 0 changes nothing but ``-0.0``, which integers times a positive
    scale never give: that addition is skipped.
    """
    x = dn.astype(np.float64)
    x *= scale
    if offset != 0 or dn.dtype.kind not in "ui" or not scale > 0:
        x += offset
    return x


def segment_stats(lay: Layout, x: np.ndarray, keys: np.ndarray | None = None, *, scale: float = 1.0,
                  offset: float = 0.0) -> dict[str, np.ndarray]:
    """mean, std (ddof=0), p10/p50/p90 of every segment of ``lay`` (arrays indexed like ``lay.groups``).

    ``x`` holds the float64 values in layout order (``values.take(lay.perm)``). Without
    ``keys`` it is sorted in place for the percentiles; with ``keys`` — integer DNs in
    layout order with ``x == to_float(keys, scale, offset)`` and ``scale > 0`` — the
    keys are sorted in place instead (same order, a quarter of the memory traffic) and
    only the picked order statistics are converted. Percentiles are bit-identical to
    ``numpy.percentile``; means and standard deviations use numpy's ``add.reduceat`` sum of
    each group's values in their own order (the group's first value plus the pairwise
    sum of the rest), whatever the chunking or layout.
    """
    out: dict[str, np.ndarray] = {}
    if x.size == 0:
        return {k: np.zeros(0) for k in ("mean", "std", *_PNAMES)}
    cnt = lay.cnt
    # segment sums (reduceat: one pairwise sum per contiguous segment) and a two-pass variance
    m = np.add.reduceat(x, lay.seg)
    m /= cnt
    r = np.repeat(m, cnt)
    np.subtract(x, r, out=r)
    np.multiply(r, r, out=r)
    v = np.add.reduceat(r, lay.seg)
    del r
    v /= cnt
    np.sqrt(v, out=v)
    out["mean"] = m
    out["std"] = v
    d = x if keys is None else keys
    for size, first, k in lay.classes:
        if size > 1:
            d[first:first + size * k].reshape(k, size).sort(axis=1)
    lo = d.take(lay.lo)
    hi = d.take(lay.hi)
    if keys is not None:
        lo = to_float(lo, scale, offset)
        hi = to_float(hi, scale, offset)
    gamma, upper = lay.gamma, lay.upper
    diff = hi - lo
    res = lo + diff * gamma
    res[upper] = hi[upper] - diff[upper] * (1 - gamma[upper])
    for name, part in zip(_PNAMES, np.split(res, len(_PNAMES)), strict=True):
        out[name] = part
    return out


_PNAMES = ("p10", "p50", "p90")


def layout_stats(lay: Layout, values: np.ndarray | None = None, *, dn: np.ndarray | None = None, scale: float = 1.0,
                 offset: float = 0.0) -> dict[str, np.ndarray]:
    """n_clear, mean, std, p10/p50/p90 per group (NaN where a group has no valid element).

    Give either ``values`` (every element's value) or ``dn`` (every element's integer
    DN; the values are ``to_float(dn, scale, offset)``).
    """
    nf = lay.n.size
    keys: np.ndarray | None
    if dn is not None:
        keys = dn.take(lay.perm)
        x = to_float(keys, scale, offset)
        if not (dn.dtype.kind in "ui" and scale > 0):
            keys = None
    else:
        assert values is not None
        keys = None
        x = np.asarray(values).take(lay.perm).astype(np.float64, copy=False)
    st = segment_stats(lay, x, keys, scale=scale, offset=offset)
    out: dict[str, np.ndarray] = {"n_clear": lay.n}
    for k, arr in st.items():
        full = np.full(nf, np.nan)
        full[lay.groups] = arr
        out[k] = full
    return out


def group_stats(f_sorted: np.ndarray, values: np.ndarray, valid: np.ndarray, n_fields: int) -> dict[str, np.ndarray]:
    """Per-group n_clear, mean, std (ddof=0), p10, p50, p90 of the valid values.

    ``f_sorted`` is the (ascending) group of each value; groups with no valid value
    get NaN statistics and ``n_clear`` 0.
    """
    return layout_stats(make_layout(f_sorted, valid, n_fields), values)
