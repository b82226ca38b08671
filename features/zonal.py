"""Zonal statistics engine: per field, per variable, the statistics of its clear pixels.

Results equal ``rasterstats.zonal_stats(all_touched=False, boundless=False)`` with the
cloud mask as nodata, for every field, overlapping fields included:

- a pixel belongs to a field when its centre lies inside the polygon (GDAL's rule);
  overlapping fields each get all their pixels (rasterized in layers of
  non-touching polygons, see :mod:`features._zonal_core`);
- ``n_pixels`` counts those pixels, ``n_clear`` the ones that are clear (cloud mask
  clear, no band at the nodata DN) and give a finite value of the variable;
- ``mean`` and ``std`` (population, ddof=0) of the clear values; ``p10``, ``p50``,
  ``p90`` by linear interpolation (``numpy.percentile``'s default); NaN where
  ``n_clear`` is 0.

Bands are reflectance (``DN × scale + offset``); indices are computed per pixel
from reflectance before aggregation: NDVI (B08, B04), EVI (B08, B04, B02), NDRE
(B8A, B05), NDWI (B03, B08), NDMI (B8A, B11).

The map of pixels to fields is built once per raster grid; rasters are read and
gathered window by window (blocks of rows), so memory grows with the number of
in-field pixels, not with the raster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
from affine import Affine

from features._zonal_core import STATS, Layout, PixelMap, Window, build_pixel_map, make_layout, segment_stats, to_float
from features.contracts import VARIABLES
from features.errors import ImageryError

__all__ = [
    "BANDS",
    "INDICES",
    "STATS",
    "PixelMap",
    "Window",
    "pixel_map",
    "inward_distance",
    "required_bands",
    "compute_variable",
    "gather",
    "stats_from_pairs",
    "zonal_stats",
    "stats_frame",
    "few_clear_fields",
]

#: the ten Sentinel-2 bands carried as reflectance
BANDS: tuple[str, ...] = VARIABLES[:10]
#: index name → the bands it needs
INDICES: dict[str, tuple[str, ...]] = {
    "NDVI": ("B08", "B04"),
    "EVI": ("B08", "B04", "B02"),
    "NDRE": ("B8A", "B05"),
    "NDWI": ("B03", "B08"),
    "NDMI": ("B8A", "B11"),
}


def required_bands(variables: Sequence[str]) -> list[str]:
    """The bands needed to compute ``variables`` (in the order of :data:`BANDS`)."""
    unknown = [v for v in variables if v not in BANDS and v not in INDICES]
    if unknown:
        raise ImageryError(source="variables", problem=f"unknown variables (known: {', '.join(VARIABLES)})",
                           offenders=unknown)
    need: set[str] = set()
    for v in variables:
        need.update(INDICES.get(v, (v,)))
    return [b for b in BANDS if b in need]


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b) / (a + b)


def compute_variable(name: str, refl: Mapping[str, np.ndarray]) -> np.ndarray:
    """One variable per pixel from reflectance arrays (division by zero gives NaN/inf, later excluded)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if name in BANDS:
            return refl[name]
        if name == "NDVI":
            return _nd(refl["B08"], refl["B04"])
        if name == "EVI":
            nir, red, blue = refl["B08"], refl["B04"], refl["B02"]
            return 2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0)
        if name == "NDRE":
            return _nd(refl["B8A"], refl["B05"])
        if name == "NDWI":
            return _nd(refl["B03"], refl["B08"])
        if name == "NDMI":
            return _nd(refl["B8A"], refl["B11"])
    raise ImageryError(source="variables", problem="unknown variable", offenders=[name])


def pixel_map(geoms: Sequence[object] | np.ndarray, transform: Affine, shape: tuple[int, int], *,
              inward_buffer: bool = False, block_rows: int = 512) -> PixelMap:
    """The pixel→field map of ``geoms`` (in the raster's CRS) on a grid.

    ``inward_buffer`` shrinks every polygon by half a pixel first, so pixels whose centre
    lies less than half a pixel from the boundary (mixed border pixels) drop out; fields
    narrower than a pixel may keep none. The distance is half a pixel less one
    millionth of a pixel: the centres of pure border pixels of grid-aligned fields lie
    exactly on the shrunken edge, and are kept rather than left to GDAL's tie rule.
    """
    g = np.asarray(geoms, dtype=object)
    if inward_buffer:
        g = shapely.buffer(g, -inward_distance(transform))
    return build_pixel_map(g, transform, shape, block_rows=block_rows)


def inward_distance(transform: Affine) -> float:
    """The inward buffer distance of :func:`pixel_map`: half a pixel less a millionth of a pixel."""
    px = abs(transform.a)
    return px / 2.0 - px * 1e-6


def gather(pm: PixelMap, read: Callable[[Window], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Values at the map's pixels in group order, window by window: ``read(window)`` returns 2-D arrays."""
    out: dict[str, np.ndarray] = {}
    for w in pm.windows:
        arrays = read(w)
        loc = pm.loc[w.start:w.stop]
        dest = pm.dest[w.start:w.stop]
        for name, arr in arrays.items():
            if name not in out:
                out[name] = np.empty(pm.n_pairs, dtype=arr.dtype)
            out[name][dest] = arr.ravel()[loc]
    return out


def stats_from_pairs(pm: PixelMap, values: Mapping[str, np.ndarray], clear: np.ndarray, variables: Sequence[str], *,
                     scale: float = 1.0, offset: float = 0.0, nodata: float | None = None,
                     max_pairs: int = 1_000_000) -> dict[str, dict[str, np.ndarray]]:
    """Statistics per variable and field from gathered band values (DN; reflectance = DN × scale + offset).

    ``values`` and ``clear`` (cloud-free pixels) are in the map's group order, as
    :func:`gather` returns them; a pixel counts for a variable when it is clear, none of
    the variable's input bands holds the ``nodata`` DN and the value is finite. Returns
    ``{variable: {stat: array per field}}`` (indexed by field position).

    Fields are processed in chunks of about ``max_pairs`` pairs (cache-sized). In a
    chunk, one layout (see :class:`features._zonal_core.Layout`) serves every variable
    with the same valid pixels; each band is gathered into it once and converted to
    reflectance once, and indices are computed on those valid pixels only.
    """
    nf = pm.n_fields
    res = {v: {"n_clear": np.zeros(nf, dtype=np.int64), **{s: np.full(nf, np.nan) for s in STATS[1:]}}
           for v in variables}
    bands = required_bands(variables)
    check_nodata = nodata is not None and not np.isnan(nodata)
    is_dn = {v: v in BANDS and values[v].dtype.kind in "ui" for v in variables}
    # indices (and float bands) first: they read the gathered bands that the integer bands then sort in place
    order = [v for v in variables if not is_dn[v]] + [v for v in variables if is_dn[v]]
    for s, t in pm.field_chunks(max_pairs):
        g0 = int(pm.gid_sorted[s])
        nloc = int(pm.gid_sorted[t - 1]) - g0 + 1
        chunk = _Chunk(pm.group_bounds[g0:g0 + nloc + 1] - s, values, s, t, scale, offset)
        dest = pm.field_of[g0:g0 + nloc]
        ok = clear[s:t]
        band_ok = {b: values[b][s:t] != nodata for b in bands} if check_nodata else {}
        for v in order:
            inputs = INDICES.get(v, (v,))
            valid = ok
            for b in inputs:
                if b in band_ok:
                    valid = valid & band_ok[b]
            lay = chunk.layout(valid)
            if is_dn[v]:  # integer DN: always finite; the sort runs on the DNs
                keys, x = chunk.take(lay, v, own=True)
                st = segment_stats(lay, x, keys if keys.dtype.kind in "ui" and scale > 0 else None, scale=scale,
                                   offset=offset)
            else:
                refl = {b: chunk.take(lay, b)[1] for b in inputs}
                x = compute_variable(v, refl)
                if v in BANDS:
                    x = x.copy()  # sorted in place below; the gathered band stays intact
                finite = np.isfinite(x)
                if not finite.all():  # rare: drop the non-finite values, in a layout of their own
                    sub = lay.valid.copy()
                    sub[lay.perm[~finite]] = False
                    full = np.empty(t - s)
                    full[lay.perm] = x
                    lay = chunk.layout(sub)
                    x = full.take(lay.perm)
                st = segment_stats(lay, x)
            out = res[v]
            out["n_clear"][dest] = lay.n
            where = dest[lay.groups]
            for k, arr in st.items():
                out[k][where] = arr
    return res


class _Chunk:
    """One chunk of group-sorted pairs: its layouts (the last four valid masks) and gathered bands per layout."""

    def __init__(self, bounds: np.ndarray, values: Mapping[str, np.ndarray], s: int, t: int, scale: float,
                 offset: float) -> None:
        self.bounds, self.values, self.s, self.t = bounds, values, s, t
        self.scale, self.offset = scale, offset
        self.layouts: list[tuple[Layout, dict[str, tuple[np.ndarray, np.ndarray]]]] = []

    def layout(self, valid: np.ndarray) -> Layout:
        for lay, _ in self.layouts:
            if lay.valid is valid or np.array_equal(lay.valid, valid):
                return lay
        lay = make_layout(None, valid, self.bounds.size - 1, bounds=self.bounds)
        self.layouts = [(lay, {}), *self.layouts[:3]]
        return lay

    def take(self, lay: Layout, band: str, *, own: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(values, reflectance) of ``band`` at the layout's pixels, in layout order; ``own``: the caller may modify them."""
        cache = next((c for la, c in self.layouts if la is lay), {})
        got = cache.pop(band, None) if own else cache.get(band)
        if got is None:
            raw = self.values[band][self.s:self.t].take(lay.perm)
            got = (raw, to_float(raw, self.scale, self.offset))
            if not own:
                cache[band] = got
        return got


def zonal_stats(geoms: Sequence[object] | np.ndarray, bands: Mapping[str, np.ndarray], transform: Affine, *,
                clear: np.ndarray | None = None, variables: Sequence[str] | None = None,
                scale: float = 1.0, offset: float = 0.0, nodata: float | None = None, inward_buffer: bool = False,
                block_rows: int = 512) -> pd.DataFrame:
    """Zonal statistics of in-memory rasters (2-D arrays on one grid) for ``geoms``.

    ``clear`` (bool, same shape) marks clear pixels (default: all); ``nodata`` is the DN
    of missing data. Returns one row per
    field and variable: ``field`` (position in ``geoms``), ``variable``, ``n_pixels``,
    ``n_clear``, ``mean``, ``std``, ``p10``, ``p50``, ``p90``.
    """
    if not bands:
        raise ImageryError(source="zonal_stats", problem="no bands given")
    first = next(iter(bands.values()))
    shape = (int(first.shape[0]), int(first.shape[1]))
    if variables is None:
        variables = [v for v in VARIABLES if set(INDICES.get(v, (v,))) <= set(bands)]
    need = required_bands(variables)
    missing = [b for b in need if b not in bands]
    if missing:
        raise ImageryError(source="zonal_stats", problem="bands needed by the variables are missing", offenders=missing)
    pm = pixel_map(geoms, transform, shape, inward_buffer=inward_buffer, block_rows=block_rows)
    clear_arr = np.ones(shape, dtype=bool) if clear is None else np.asarray(clear, dtype=bool)

    def read(w: Window) -> dict[str, np.ndarray]:
        sl = (slice(w.row0, w.row1), slice(w.col0, w.col1))
        out = {b: bands[b][sl] for b in need}
        out["__clear__"] = clear_arr[sl]
        return out

    vals = gather(pm, read)
    if pm.n_pairs == 0:
        vals = {b: np.zeros(0) for b in need} | {"__clear__": np.zeros(0, dtype=bool)}
    res = stats_from_pairs(pm, vals, vals["__clear__"], variables, scale=scale, offset=offset, nodata=nodata)
    return stats_frame(res, pm.n_pixels)


def stats_frame(res: Mapping[str, Mapping[str, np.ndarray]], n_pixels: np.ndarray) -> pd.DataFrame:
    """Long table (field position, variable, n_pixels and the statistics) from :func:`stats_from_pairs`."""
    parts = []
    nf = n_pixels.size
    for v, st in res.items():
        d = {"field": np.arange(nf), "variable": np.full(nf, v, dtype=object), "n_pixels": n_pixels}
        d.update({k: st[k] for k in STATS})
        parts.append(pd.DataFrame(d))
    if not parts:
        return pd.DataFrame(columns=["field", "variable", "n_pixels", *STATS])
    df = pd.concat(parts, ignore_index=True)
    df["variable"] = df["variable"].astype("str")
    return df


def few_clear_fields(series: pd.DataFrame, threshold: int = 8) -> list[str]:
    """Field ids whose best date never reached ``threshold`` clear pixels (sorted).

    ``series`` is a FieldTimeSeries table; fields with no rows at all are not listed
    (they are reported as outside the imagery instead).
    """
    if series.empty:
        return []
    best = series.groupby("field_id", sort=True)["n_clear"].max()
    return [str(f) for f in best.index[best.to_numpy() < threshold]]
