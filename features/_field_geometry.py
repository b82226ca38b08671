"""Fields' coordinates and polygons (from :mod:`features.fields`): the CRS checks (metres labelled as degrees and
degrees as metres) and the repair of invalid polygons, naming the repaired fields whose area moved."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from features._field_area import area_ha
from features.errors import FieldsError, file_rows

__all__ = [
    "REPAIR_AREA_CHANGE", "_check_geographic", "_check_degree_rows", "_repair", "_repaired_area", "_repair_keys",
]

#: a repaired polygon is named with its hectares when the repair changed its area by more than this share, or left it
#: that far from the declared area: the policy's own area tolerance (``area_tolerance``, 0.10 in every shipped
#: profile) — a repair that drops a spike or a repeated vertex moves the area by well under 1%; one that splits a
#: self-crossing outline loses a lobe's worth of land (the bow-tie F0004 of a walkthrough: declared 0.55 ha, 0.18 ha
#: after repair) and lends against a field that is not the one drawn
REPAIR_AREA_CHANGE = 0.10


def _check_geographic(gdf: gpd.GeoDataFrame, source: str) -> None:
    """Coordinates outside ±180°/±90° under a geographic CRS are metres mislabelled as degrees; under a projected
    CRS, every coordinate within ±180/±90 and fields of under a square metre in median are degrees mislabelled as
    metres (no real field file sits within 200 m of a projection's origin)."""
    crs = CRS(gdf.crs)
    if len(gdf) == 0:
        return
    if crs.is_projected:
        minx, miny, maxx, maxy = gdf.total_bounds
        inside = np.isfinite([minx, miny, maxx, maxy]).all() and -180 <= minx and maxx <= 180 and -90 <= miny \
            and maxy <= 90
        polys = gdf.geometry[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]) & ~gdf.geometry.is_empty]
        if inside and len(polys) and float(np.nanmedian(polys.area.to_numpy())) < 1.0:
            raise FieldsError(source=source, problem=f"coordinates within ±180/±90 under the projected CRS "
                                                     f"{crs.to_string()} (bounds {minx:.4f}, {miny:.4f}, {maxx:.4f}, "
                                                     f"{maxy:.4f}) and fields of under 1 m² in median: degrees "
                                                     "labelled as metres? declare the geographic CRS (e.g. EPSG:4326)")
        _check_degree_rows(gdf, crs, source)
        return
    if not crs.is_geographic:
        return
    if (gdf.geometry.isna() | gdf.geometry.is_empty).all():  # no coordinates to judge (NaN bounds): the rows' own
        return  # check names them — "empty or missing geometry", not "out of range (bounds nan, …)"
    minx, miny, maxx, maxy = gdf.total_bounds
    if not (np.isfinite([minx, miny, maxx, maxy]).all()) or minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise FieldsError(source=source, problem=f"coordinates out of range for the declared geographic CRS "
                                                 f"{CRS(gdf.crs).to_string()} (bounds {minx:.0f}, {miny:.0f}, {maxx:.0f}, "
                                                 f"{maxy:.0f}: metres labelled as degrees? declare the projected CRS)")


def _check_degree_rows(gdf: gpd.GeoDataFrame, crs: CRS, source: str) -> None:
    """Some fields in degrees beside fields in metres under one projected CRS (a file merged from a geographic and a
    projected source): each such field lies within ±180/±90 and measures under a square metre — it would be read as
    a speck near the projection's origin, valid, with no imagery and no hectares. Named by their row in the file."""
    geom = gdf.geometry
    poly = (geom.geom_type.isin(["Polygon", "MultiPolygon"]) & ~geom.is_empty).to_numpy()
    b = geom.bounds
    inside = ((b["minx"] >= -180) & (b["maxx"] <= 180) & (b["miny"] >= -90) & (b["maxy"] <= 90)).to_numpy()
    specks = poly & inside & (geom.area.to_numpy() < 1.0)
    if specks.any():
        raise FieldsError(source=source, problem=f"{int(specks.sum())} of {len(gdf)} fields lie within ±180/±90 "
                                                 f"and measure under 1 m² under the projected CRS {crs.to_string()}: "
                                                 "degrees beside metres in one file? reproject those rows to "
                                                 f"{crs.to_string()}; found at",
                          offenders=file_rows(source, np.flatnonzero(specks).tolist()))


def _repair(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[str], dict[str, str], dict[str, str]]:
    """The fields with invalid polygons made valid; the ids repaired, the ids rejected (why), and the repaired ids
    whose equal-area hectares (:func:`area_ha`) moved by more than :data:`REPAIR_AREA_CHANGE` from the invalid
    polygon's (as GEOS measures it: a bow-tie's lobes cancel) or are that far from the declared area (before, after
    and declared hectares)."""
    geoms = gdf.geometry.to_numpy()
    ids = np.asarray(_repair_keys(gdf), dtype=object)  # a field of several seasons: which one
    repaired: list[str] = []
    rows: list[int] = []  # the repaired rows
    rejected: dict[str, str] = {}
    drop = np.zeros(len(gdf), dtype=bool)  # by row: a bad polygon of one season dropped the field of every season
    new = geoms.copy()
    for i, g in enumerate(geoms):
        fid = str(ids[i])
        if g is None or g.is_empty:
            rejected[fid] = "empty or missing geometry"
            drop[i] = True
            continue
        kind = g.geom_type
        if kind not in ("Polygon", "MultiPolygon"):
            # a polygon some GIS exports wrap in a GeometryCollection is not taken out of it here: records decided
            # on such a file (that field left out) must replay as they ran; the deciding runs refuse the file, so
            # the reason says how to correct it
            wrapped = kind == "GeometryCollection" and any(
                p.geom_type in ("Polygon", "MultiPolygon") for p in g.geoms)
            rejected[fid] = f"not a polygon ({kind}" + ("; export its polygon as a Polygon or MultiPolygon"
                                                        if wrapped else "") + ")"
            drop[i] = True
            continue
        if not g.is_valid:
            fixed = shapely.make_valid(g)
            if fixed.geom_type == "GeometryCollection":
                polys = [p for p in fixed.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
                fixed = shapely.union_all(polys) if polys else shapely.Polygon()
            if fixed.is_empty or fixed.geom_type not in ("Polygon", "MultiPolygon") or fixed.area <= 0:
                rejected[fid] = "invalid geometry that cannot be repaired into a polygon"
                drop[i] = True
                continue
            new[i] = fixed
            repaired.append(fid)
            rows.append(i)
    out = gdf.copy()
    out["geometry"] = gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs)
    return out[~drop], repaired, rejected, _repaired_area(gdf, geoms, new, ids, rows)


def _repaired_area(gdf: gpd.GeoDataFrame, before: np.ndarray, after: np.ndarray, ids: np.ndarray,
                   rows: list[int]) -> dict[str, str]:
    """:func:`_repair`'s repaired ids whose area moved, or is far from the declared area (see there)."""
    if not rows:
        return {}
    ha0 = area_ha(gpd.GeoSeries(before[rows], crs=gdf.crs)).to_numpy()
    ha1 = area_ha(gpd.GeoSeries(after[rows], crs=gdf.crs)).to_numpy()
    declared = (gdf["declared_area_ha"].to_numpy(dtype="float64")[rows] if "declared_area_ha" in gdf.columns
                else np.full(len(rows), np.nan))
    out: dict[str, str] = {}
    for j, i in enumerate(rows):
        d = declared[j]
        moved = abs(ha1[j] - ha0[j]) > REPAIR_AREA_CHANGE * ha0[j]
        far = bool(np.isfinite(d)) and abs(ha1[j] - d) > REPAIR_AREA_CHANGE * d
        if moved or far:
            out[str(ids[i])] = (f"{ha0[j]:,.2f} ha before repair, {ha1[j]:,.2f} ha after"
                                + (f"; declared {d:,.2f} ha" if np.isfinite(d) else ""))
    return out


def _repair_keys(gdf: gpd.GeoDataFrame) -> list[str]:
    """Each row's key in :func:`_repair`'s rejected fields: its id, and its season when the file has several."""
    ids = gdf["field_id"].astype(str).to_numpy(dtype=object)
    if "season" in gdf.columns and gdf["season"].astype(str).nunique() > 1:
        ids = ids + "/" + gdf["season"].astype(str).to_numpy(dtype=object)
    return [str(i) for i in ids]
