"""Fields' hectares and overlaps (from :mod:`features.fields`): equal-area hectares and the equal-area CRS, the screens
for fields implausibly large or smaller than one pixel, geometry hashes, and the overlaps between fields of one
season (another farmer's field, or the same farmer's land pledged twice)."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from features.errors import FieldsError

__all__ = [
    "LARGE_FIELD_HA", "LARGE_VS_MEDIAN", "LARGE_FLOOR_HA", "large_fields", "_rough_ha", "SMALL_FIELD_HA",
    "small_fields", "equal_area_crs", "_laea", "area_ha", "geometry_hashes", "_same_season_pairs", "overlap_fractions",
    "SAME_FARMER_MAX_OVERLAP", "same_farmer_overlaps",
]

#: a field above this many hectares is named as implausibly large (kept): few single fields anywhere exceed it
LARGE_FIELD_HA = 1000
#: ... or above this many times the file's median field (files of ≥ 20 fields; and above ``LARGE_FLOOR_HA``)
LARGE_VS_MEDIAN = 50
LARGE_FLOOR_HA = 20.0


def large_fields(gdf: gpd.GeoDataFrame) -> list[str]:
    """Fields implausibly large for one field, as ``"id/season (N ha)"``: above :data:`LARGE_FIELD_HA`, or above
    :data:`LARGE_VS_MEDIAN` times the file's median field (and :data:`LARGE_FLOOR_HA`) in a file of at least 20
    fields — a 40,000 ha polygon among 1 ha plots is a village outline or a unit mistake, not a plot. Planar
    areas screen (cheap), exact equal-area hectares (:func:`area_ha`) decide for the few screened."""
    if len(gdf) == 0:
        return []
    rough = _rough_ha(gdf)
    med = float(np.median(rough))
    limit = LARGE_FIELD_HA if len(gdf) < 20 else min(LARGE_FIELD_HA, max(LARGE_FLOOR_HA, LARGE_VS_MEDIAN * med))
    screened = np.flatnonzero(rough > 0.5 * limit)  # the planar estimate is within a few % of the exact one
    if len(screened) == 0:
        return []
    sub = gdf.iloc[screened]
    ha = area_ha(sub).to_numpy()
    big = ha > limit
    return [f"{f}/{s} ({a:,.0f} ha)" for f, s, a in zip(sub["field_id"].astype(str)[big], sub["season"].astype(str)[big],
                                                           ha[big], strict=True)]


def _rough_ha(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Each field's planar hectares in the file's CRS (degrees scaled at the field's latitude): within a few % of the
    exact equal-area ones (:func:`area_ha`), to screen the few that need them."""
    geoms = gdf.geometry.to_numpy()
    crs = CRS(gdf.crs)
    planar = shapely.area(geoms)
    if crs.is_geographic:
        b = shapely.bounds(geoms)
        lat = np.radians(np.clip((b[:, 1] + b[:, 3]) / 2, -89.0, 89.0))
        return np.asarray(planar * (111_320.0 ** 2) * np.cos(lat) / 1e4)
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return np.asarray(planar * unit ** 2 / 1e4)


#: a field below this many hectares is named as too small to measure (kept): one Sentinel-2 pixel of 10 m × 10 m
#: (100 m²) — no pixel centre need fall inside it, so its area, crop and growth rest on its neighbours' pixels or
#: on nothing (a polygon drawn in the wrong unit, or a slip of the mouse, more often than a plot)
SMALL_FIELD_HA = 0.01


def small_fields(gdf: gpd.GeoDataFrame) -> list[str]:
    """Fields below :data:`SMALL_FIELD_HA` (one Sentinel-2 pixel), as ``"id/season (N m²)"``: planar areas screen,
    exact equal-area hectares (:func:`area_ha`) decide for the few screened."""
    if len(gdf) == 0:
        return []
    screened = np.flatnonzero(_rough_ha(gdf) < 2 * SMALL_FIELD_HA)
    if len(screened) == 0:
        return []
    sub = gdf.iloc[screened]
    ha = area_ha(sub).to_numpy()
    tiny = ha < SMALL_FIELD_HA
    return [f"{f}/{s} ({a * 1e4:,.1f} m²)" for f, s, a in zip(sub["field_id"].astype(str)[tiny],
                                                             sub["season"].astype(str)[tiny], ha[tiny], strict=True)]


def equal_area_crs(gdf: gpd.GeoSeries | gpd.GeoDataFrame) -> CRS:
    """A Lambert azimuthal equal-area CRS centred on the whole degree nearest the data's centre (exact areas
    anywhere on Earth). The centre is snapped so that a field's hectares do not depend, even in the last bits, on
    which other fields are in the file (a field alone gets the hectares it gets among all the county's fields)."""
    geo = gdf.to_crs(4326) if gdf.crs is not None and not CRS(gdf.crs).equals(CRS(4326)) else gdf
    minx, miny, maxx, maxy = geo.total_bounds
    return _laea(round((minx + maxx) / 2.0), round((miny + maxy) / 2.0))


def _laea(lon: int, lat: int) -> CRS:
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:d} +lon_0={lon:d} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs")


def area_ha(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> pd.Series:
    """Equal-area hectares of each geometry (never computed in degrees or Web Mercator), each in the Lambert
    azimuthal equal-area projection centred on the whole degree nearest the geometry itself: a field's hectares
    depend on nothing but its own polygon, bit for bit — not on the other fields of the file, even when the file's
    centre would round to another degree."""
    if gdf.crs is None:
        raise FieldsError(source="fields", problem="no CRS declared; cannot compute areas")
    if len(gdf) == 0:
        return pd.Series([], dtype="float64", index=gdf.index)
    gs = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    geo = gs.to_crs(4326) if not CRS(gs.crs).equals(CRS(4326)) else gs
    b = geo.bounds.fillna(0.0)  # an empty geometry (no bounds) has no area wherever it is projected
    lon = np.round((b["minx"].to_numpy() + b["maxx"].to_numpy()) / 2.0).astype(np.int64)
    lat = np.round((b["miny"].to_numpy() + b["maxy"].to_numpy()) / 2.0).astype(np.int64)
    out = np.empty(len(gs), dtype="float64")
    for lo, la in sorted(set(zip(lon.tolist(), lat.tolist(), strict=True))):
        idx = np.flatnonzero((lon == lo) & (lat == la))
        out[idx] = gs.iloc[idx].to_crs(_laea(lo, la)).area.to_numpy() / 10_000.0
    return pd.Series(out, index=gdf.index, dtype="float64")


def geometry_hashes(gdf: gpd.GeoDataFrame) -> pd.Series:
    """SHA-256 of each geometry's WKB (in the source CRS), for decision records."""
    wkb = shapely.to_wkb(gdf.geometry.to_numpy(), hex=False, output_dimension=2, byte_order=1)
    return pd.Series([hashlib.sha256(b).hexdigest() for b in wkb], index=gdf.index, dtype="str")


def _same_season_pairs(gdf: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """Equal-area fields (reset index), their geometries and areas, and the (left, right) row pairs of distinct
    fields of the same season whose polygons intersect (both orders)."""
    ea = gdf.to_crs(equal_area_crs(gdf)).reset_index(drop=True)
    geoms = ea.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    seasons = ea["season"].to_numpy(dtype=object)
    keep = (left != right) & (seasons[left] == seasons[right])
    return ea, geoms, shapely.area(geoms), left[keep], right[keep]


def overlap_fractions(gdf: gpd.GeoDataFrame) -> pd.Series:
    """Per field, the largest share of its area covered by one field of another farmer in the same season."""
    out = np.zeros(len(gdf), dtype="float64")
    if len(gdf) < 2:
        return pd.Series(out, index=gdf.index)
    ea, geoms, areas, left, right = _same_season_pairs(gdf)
    farmers = ea["farmer_token"].to_numpy(dtype=object)
    keep = farmers[left] != farmers[right]
    left, right = left[keep], right[keep]
    if len(left):
        inter = shapely.area(shapely.intersection(geoms[left], geoms[right]))
        share = np.divide(inter, areas[left], out=np.zeros_like(inter), where=areas[left] > 0)
        np.maximum.at(out, left, share)
    return pd.Series(out, index=gdf.index)


#: a field overlapping a field of the same farmer (same season) by more than this share of the smaller one's area
#: is the same land pledged twice (a polygon duplicated under a new id): it is rejected, not valued twice. Smaller
#: overlaps between a farmer's own neighbouring fields are boundary drawing (up to ~30% of a small plot on the demo
#: counties) and are kept
SAME_FARMER_MAX_OVERLAP = 0.5


def same_farmer_overlaps(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, dict[str, str]]:
    """Fields to reject because they overlap an earlier field (by field id) of the same farmer in the same season by
    more than :data:`SAME_FARMER_MAX_OVERLAP` of the smaller field's area: a mask of the rows and field id -> reason."""
    mask = np.zeros(len(gdf), dtype=bool)
    if len(gdf) < 2:
        return mask, {}
    ea, geoms, areas, left, right = _same_season_pairs(gdf)
    ids = ea["field_id"].astype(str).to_numpy(dtype=object)
    farmers = ea["farmer_token"].to_numpy(dtype=object)
    keep = (ids[left] < ids[right]) & (farmers[left] == farmers[right])
    left, right = left[keep], right[keep]
    out: dict[str, str] = {}
    if not len(left):
        return mask, out
    inter = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(areas[left], areas[right])
    share = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    for i in np.argsort(ids[right], kind="stable"):
        if share[i] > SAME_FARMER_MAX_OVERLAP and not mask[left[i]] and not mask[right[i]]:
            mask[right[i]] = True
            out[str(ids[right[i]])] = (f"overlaps the same farmer's field {ids[left[i]]} by {share[i]:.0%} of the "
                                       "smaller one (the same land would be valued twice)")
    return mask, out
