"""Fields: read any vector format, validate, repair, measure in equal-area hectares.

Readers clean loose input once, at the edge: GeoParquet, GeoPackage, GeoJSON and
Shapefile (through pyogrio) become one :class:`~geopandas.GeoDataFrame` that follows
the Fields contract (:data:`features.contracts.FIELDS`). Geometries that
``make_valid`` can repair into a polygon are repaired and reported; the rest are
rejected with their field ids. Personal identifiers are turned into
``farmer_token`` and dropped.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from features.contracts import FIELDS, SEASON_RE, check_fields
from features.errors import (
    UNPRINTABLE,
    ContractError,
    FieldsError,
    file_rows,
    format_offenders,
    id_key,
    missing_cells,
    refuse_empty_cells,
    refuse_unprintable_cells,
    unprintable_cells,
)
from features.identity import identifiers_hidden, quoted, rows_holding_identifiers, tokenise
from features.identity import name_words as identity_name_words

__all__ = [
    "ReadResult",
    "SetAside",
    "write_rejects",
    "held_farmers",
    "partial_rows",
    "rejects_csv",
    "of_season",
    "read_fields_rejecting",
    "set_aside_ids",
    "REJECTS_COLUMNS",
    "check_known_crops",
    "normalise_crop",
    "read_fields",
    "validate_fields",
    "area_ha",
    "equal_area_crs",
    "overlap_fractions",
    "geometry_hashes",
    "FIELD_FORMATS",
    "NEEDED_FOR",
]

FIELD_FORMATS = {".parquet": "GeoParquet", ".geoparquet": "GeoParquet", ".gpkg": "GeoPackage",
                 ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "Shapefile"}

# loose column names accepted at the edge, incl. Shapefile's 10-character truncations
_ALIASES = {"id": "field_id", "parcel_id": "field_id", "crop": "declared_crop", "area_ha": "declared_area_ha",
            "farmer_tok": "farmer_token", "declared_c": "declared_crop", "declared_a": "declared_area_ha",
            "national_i": "national_id", "farmer_nam": "farmer_name"}


@dataclass
class ReadResult:
    """What reading a field file gave: clean fields and what was repaired or rejected."""

    fields: gpd.GeoDataFrame
    source: str
    repaired: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    #: repaired fields whose repair changed the area by more than :data:`REPAIR_AREA_CHANGE`, or left it that far
    #: from the declared area: id → the hectares before / after (and declared) (:func:`_repair`)
    repaired_area: dict[str, str] = field(default_factory=dict)
    #: optional columns the file lacks (filled empty): ``declared_crop``, ``declared_area_ha``
    absent: list[str] = field(default_factory=list)
    #: fields implausibly large for one field ("id/season (N ha)"; :func:`large_fields`), kept
    large: list[str] = field(default_factory=list)
    #: fields below one Sentinel-2 pixel ("id/season (N m²)"; :func:`small_fields`), kept
    small: list[str] = field(default_factory=list)
    #: the rows set aside by the row-level checks (``set_aside=True``; :func:`write_rejects`), in file order
    set_aside: list[SetAside] = field(default_factory=list)
    #: the season(s) of each key of :attr:`rejected` that a geometry or an overlap rejected (:meth:`rejected_of`)
    rejected_seasons: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def rejected_of(self, season: str) -> dict[str, str]:
        """The rejected fields of ``season``, by the seasons of their rows (:attr:`rejected_seasons`; a key without
        them counts for every season)."""
        return {k: v for k, v in self.rejected.items()
                if k not in self.rejected_seasons or str(season) in self.rejected_seasons[k]}

    def notes(self) -> list[str]:
        """Warnings for a run that reads these fields: rejected and repaired geometries, absent optional columns."""
        out = []
        if self.rejected:
            out.append(f"{len(self.rejected)} field(s) rejected when reading {self.source}: "
                       + ", ".join(f"{k} ({v})" for k, v in list(self.rejected.items())[:5])
                       + (", ..." if len(self.rejected) > 5 else ""))
        if self.repaired:
            out.append(f"{len(self.repaired)} field geometry(ies) repaired when reading {self.source} (invalid "
                       "polygons made valid): " + ", ".join(self.repaired[:5]) + (", ..." if len(self.repaired) > 5
                                                                                   else ""))
        if self.repaired_area:
            out.append(f"{len(self.repaired_area)} repaired field(s) of {self.source} whose area the repair changed "
                       f"by more than {REPAIR_AREA_CHANGE:.0%}, or left that far from the declared area (check the "
                       "polygon: a self-crossing outline made valid can lose or gain land): "
                       + "; ".join(f"{k} ({v})" for k, v in list(self.repaired_area.items())[:5])
                       + ("; ..." if len(self.repaired_area) > 5 else ""))
        if self.absent:  # what is taken from the imagery instead, then what is still used as declared
            means = [gone for c, (gone, _) in _ABSENT_MEANS.items() if c in self.absent] + \
                [kept for c, (_, kept) in _ABSENT_MEANS.items() if c not in self.absent]
            out.append(f"{self.source} has no {' or '.join(self.absent)} column: taken as not declared for every "
                       f"field ({'; '.join(means)})")
        if self.large:
            out.append(f"{len(self.large)} field(s) implausibly large for one field in {self.source}: "
                       + ", ".join(self.large[:5]) + (", ..." if len(self.large) > 5 else "")
                       + f" (above {LARGE_FIELD_HA:,} ha, or {LARGE_VS_MEDIAN} times the file's median field; "
                       "kept — check that the polygon is the field, not a farm or village outline)")
        if self.small:
            out.append(f"{len(self.small)} field(s) smaller than one Sentinel-2 pixel (100 m²) in {self.source}: "
                       + ", ".join(self.small[:5]) + (", ..." if len(self.small) > 5 else "")
                       + " (kept — the imagery cannot measure them; check the polygon's unit and outline)")
        return out

    @property
    def total_area_ha(self) -> float:
        return float(area_ha(self.fields).sum()) if len(self.fields) else 0.0


#: what a run does without each optional column (:attr:`ReadResult.absent`), and with it: said in the read's notes
_ABSENT_MEANS = {"declared_crop": ("crop from the imagery alone", "the declared crops are used"),
                 "declared_area_ha": ("area as measured on the imagery, else the polygon's",
                                      "the declared areas are used")}

_CALENDARS = Path(__file__).with_name("data") / "crop_calendars.csv"

#: optional columns of the contract that some runs cannot do without, and why: a run names them in ``need``
#: (:func:`read_fields`) and a file without them is refused there, not read as if every field lacked them
NEEDED_FOR = {
    "declared_crop": "the past seasons' declared crops give the alerts' expected NDVI: without them no alert is raised",
    "region": "a field's region gives its season window: the imagery dates read",
}

#: a repaired polygon is named with its hectares when the repair changed its area by more than this share, or left it
#: that far from the declared area: the policy's own area tolerance (``area_tolerance``, 0.10 in every shipped
#: profile) — a repair that drops a spike or a repeated vertex moves the area by well under 1%; one that splits a
#: self-crossing outline loses a lobe's worth of land (the bow-tie F0004 of a walkthrough: declared 0.55 ha, 0.18 ha
#: after repair) and lends against a field that is not the one drawn
REPAIR_AREA_CHANGE = 0.10

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


def known_crops() -> frozenset[str]:
    """Crops the engine knows: those of the crop calendars (the package's and a bank's, :mod:`features.regions`),
    ``fallow``, and any listed in
    ``AGCREDIT_EXTRA_CROPS`` (comma-separated) for a bank that adds its own."""
    import os

    from features.regions import merged

    crops = set(merged("crop_calendars.csv", _CALENDARS, lambda p: pd.read_csv(p, dtype=str, keep_default_na=False))[
        "crop"].astype(str)) if _CALENDARS.exists() else set()
    extra = {c.strip().lower().replace(" ", "_") for c in os.environ.get("AGCREDIT_EXTRA_CROPS", "").split(",")}
    return frozenset(crops | {"fallow"} | {c for c in extra if c})


def normalise_crop(v: object) -> str | None:
    """A crop name as the engine spells it (lower case, ``_`` for spaces); None for an empty cell."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    t = str(v).strip()
    if not t or t.lower() in ("nan", "none", "<na>"):
        return None
    return t.lower().replace(" ", "_")


#: letters in two or more words, nothing else (a crop of several words, or a person's name: :func:`check_known_crops`)
_WORDS = re.compile(r"[^\W\d_]+(?:[ \-][^\W\d_]+)+")


def check_known_crops(crops: pd.Series, *, source: str, column: str, rows: pd.Series | None = None,
                      hidden: frozenset[str] = frozenset()) -> None:
    """A user error naming the crops of ``crops`` that the engine does not know (:func:`known_crops`), the file
    ``source``, the ``column`` and where they are (``rows``: a label per row, e.g. its id; else the CSV line).
    Empty cells pass. A value shaped like personal data, or one of ``hidden`` (case-folded: the words of the file's
    farmers' names), is never quoted."""
    norm = crops.map(normalise_crop)
    known = known_crops()
    unknown = norm.notna() & ~norm.isin(known)
    if not unknown.any():
        return
    from features.identity import HIDDEN, looks_personal

    names = sorted({str(v) for v in crops[unknown]})
    # a farmer's name, phone or ID number typed as the crop (a labels or reported-yields file with identifier
    # columns) is never quoted: the message names its rows instead
    def personal(n: str) -> bool:
        return looks_personal(n) or n.strip().casefold() in hidden

    shown = [repr(n) for n in names if not personal(n)][:5]
    if any(personal(n) for n in names):
        # a crop of several words ("pearl millet") has a name's shape: hidden too, the message says how to add it
        words = any(personal(n) and _WORDS.fullmatch(n.strip()) and n.strip().casefold() not in hidden
                    for n in names)
        shown.append(f"{HIDDEN} (a name, phone or ID number, not shown"
                     + ("; a crop of several words is not shown either: if it is one, add it with "
                        "AGCREDIT_EXTRA_CROPS, e.g. pearl_millet" if words else "") + ")")
    where = (rows[unknown].astype(str) if rows is not None
             else pd.Series(file_rows(source, range(len(crops))), index=crops.index)[unknown])
    raise FieldsError(source=source, problem=f"{column} {', '.join(shown)} not a known crop "
                                             f"(known: {', '.join(sorted(known))}; add others with "
                                             "AGCREDIT_EXTRA_CROPS); found at", offenders=list(where))


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


def _fields_layer(path: Path) -> str | None:
    """The layer to read: the only one, or the one named ``fields``; a file with several others is refused (the
    first layer was read silently — a stale copy beside the current fields would have been underwritten)."""
    import pyogrio

    # layers with a geometry: attribute tables (QGIS's layer_styles, metadata) are not candidates
    layers = [str(name) for name, geom in pyogrio.list_layers(path) if geom is not None]
    if len(layers) == 1:
        return layers[0]
    if not layers:
        return None
    if "fields" in layers:
        return "fields"
    raise FieldsError(source=str(path), problem=f"{len(layers)} layers ({', '.join(layers)}): keep only the fields "
                                                "layer in the file, or name it 'fields'")


def _read_any(path: Path) -> gpd.GeoDataFrame:
    ext = path.suffix.lower()
    if path.is_dir() and FIELD_FORMATS.get(ext) != "GeoParquet":  # a GeoParquet dataset may be a folder
        raise FieldsError(source=str(path), problem="is a folder (expected a fields file: "
                                                    f"{', '.join(sorted(set(FIELD_FORMATS)))})")
    if ext not in FIELD_FORMATS:
        raise FieldsError(source=str(path), problem=f"unsupported format '{ext}' (expected one of "
                                                    f"{', '.join(sorted(set(FIELD_FORMATS)))})")
    if not path.exists():
        raise FieldsError(source=str(path), problem="file not found")
    if path.stat().st_size == 0:
        raise FieldsError(source=str(path), problem="file is empty")
    try:
        if FIELD_FORMATS[ext] == "GeoParquet":
            return gpd.read_parquet(path)
        layer = _fields_layer(path)
        with warnings.catch_warnings():  # GDAL's notes (e.g. "Non closed ring detected") are not the run's output
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                return gpd.read_file(path, engine="pyogrio", layer=layer)
            except Exception as e:
                bad = _unreadable_geometries(path, layer)
                if bad:  # the file reads, but some rows' geometries cannot be built (a ring not closed, …): named
                    raise FieldsError(source=str(path), problem="geometries that cannot be read (a polygon ring not "
                                      f"closed? {_first_line(e)[:120]}); correct them", offenders=bad) from None
                raise
    except FieldsError:
        raise
    except Exception as e:  # unreadable files come in many shapes; name the file and the reason
        raise FieldsError(source=str(path), problem=f"cannot be read as {FIELD_FORMATS[ext]} "
                                                    f"({_first_line(e)[:200]})") from None


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _unreadable_geometries(path: Path, layer: str | None) -> list[str]:
    """The rows of a file whose geometries the reader cannot build (read again with those left empty), named by
    ``field_id`` when the file has that column (``row N`` otherwise); [] when none is, or the file does not read."""
    try:
        again = gpd.read_file(path, engine="pyogrio", layer=layer, on_invalid="ignore")
        plain = gpd.read_file(path, engine="pyogrio", layer=layer, read_geometry=False)
    except Exception:
        return []
    from features.identity import looks_personal

    gone = np.flatnonzero(again.geometry.isna().to_numpy())
    rows = file_rows(str(path), gone.tolist())
    if "field_id" not in plain.columns:
        return rows
    # an id shaped like a name or phone, or one of the file's own identifiers, is not shown (its row only)
    own = set(rows_holding_identifiers(plain, "field_id"))
    ids = plain["field_id"].to_numpy(dtype=object)
    return [f"{ids[i]} ({r})" if not pd.isna(ids[i]) and i not in own and not looks_personal(str(ids[i])) else r
            for i, r in zip(gone, rows, strict=True)]


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


def validate_fields(gdf: gpd.GeoDataFrame, *, source: str = "fields", season: str | None = None,
                    strict: bool = False, need: Sequence[str] = (), check_regions: bool = False,
                    set_aside: bool = False) -> ReadResult:
    """Normalise columns, tokenise identifiers, repair what ``make_valid`` can, check the contract.

    With ``strict=True`` any rejected geometry is an error; otherwise rejected fields are
    left out and listed in the result. With ``set_aside=True`` a row failing a row-level check (an empty id or
    season, a farmer's identifier typed as a value, a declared area that is no number or negative, an unknown crop or
    region, a repeated id — every row of it —, a geometry that cannot be repaired) is left out and recorded in
    :attr:`ReadResult.set_aside` (:func:`write_rejects`) instead of refusing the file; file-level errors (no CRS, a
    column missing, no rows) still refuse it. ``need``: optional columns (:data:`NEEDED_FOR`) the run cannot do without,
    a user error when the file lacks one; with ``region`` among them (or ``check_regions``: ``fields validate``), a
    region without a season window is one too (:func:`features.regions.check_known_regions`). An error message never repeats a farmer's identifier (typed into another
    column): :func:`features.identity.identifiers_hidden`.
    """
    with identifiers_hidden(gdf):
        return _validate_fields(gdf, source=source, season=season, strict=strict, need=need,
                                check_regions=check_regions, set_aside=set_aside)


def _crop_shown(crop: object, name_words: frozenset[str]) -> str:
    """An unknown crop as a rejects reason quotes it: :data:`PERSONAL` when it is a word of a farmer's name."""
    return PERSONAL if str(crop).strip().casefold() in name_words else repr(crop)


#: columns of the fields file kept in decision records, caches and messages: never a farmer's identifier
_KEPT_TEXT_COLUMNS = ("field_id", "region", "declared_crop")


def _refuse_identifiers_as_values(gdf: pd.DataFrame, source: str) -> None:
    """A farmer's name, ID or phone (of this file) typed as a field id, region or crop would be kept in the permanent
    records and shown in later messages: refused, named by row. (Numbers in general are not: cadastral parcel ids
    such as the RPG's are long numbers.)"""
    for col in _KEPT_TEXT_COLUMNS:
        if col not in gdf.columns:
            continue
        rows = sorted(rows_holding_identifiers(gdf, col))
        if rows:
            raise ContractError(table=source, column=col, expected="a reference or name of the field (not a farmer's "
                                "name, ID or phone number: it is kept in the permanent records)",
                                found="personal data", offenders=file_rows(source, rows))


#: the file position (0-based) of each row, carried through the checks for the rows set aside (dropped at the end)
_ROW = "__agcredit_row"


@dataclass(frozen=True)
class SetAside:
    """A row of a fields file set aside by a row-level check (:func:`validate_fields` with ``set_aside=True``):
    where it is in the file, its field id and season (None when that cell is the problem: empty, or a farmer's
    identifier), its farmer's pseudonymous token (None before one could be derived) and why — never a farmer's
    name, ID or phone."""

    row: str
    field_id: str | None
    season: str | None
    farmer_token: str | None
    reason: str
    position: int  # 0-based data row of the file (the order of the rejects file)
    #: other farmers (tokens) whose fields of the row's season its polygon overlaps by more than
    #: :data:`ASIDE_OVERLAP_SHARE`: the row left out, their fields' overlap evidence is missing (held too)
    overlaps: tuple[str, ...] = ()


class _Aside:
    """The row-level checks' outcome: without ``on``, the first failure is raised as before; with it, the failing
    rows are recorded (:class:`SetAside`) and left out."""

    def __init__(self, on: bool, source: str, identifiers: set[str], season: str | None = None) -> None:
        self.on, self.source, self.identifiers = on, source, identifiers
        self.rows: list[SetAside] = []
        #: each row's polygon, season and farmer's token as read (for :func:`_aside_overlaps`)
        self.geoms: dict[int, tuple[object, object, object]] = {}
        #: the season of a file without a season column (``--season``): its rows' geometries are recorded with it
        self.season = season

    def take(self, gdf: gpd.GeoDataFrame, mask: object, reason: str | Sequence[str], *, show_id: bool = True,
             show_season: bool = True, show_token: bool = True) -> gpd.GeoDataFrame:
        """``gdf`` without the rows of ``mask`` (a boolean array), recorded with ``reason`` (one, or one per row of
        the mask)."""
        from features.identity import hide_identifiers, hide_quoted_numbers

        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return gdf
        sub = gdf[m]
        reasons = [reason] * len(sub) if isinstance(reason, str) else [r for r, k in zip(reason, m, strict=True) if k]
        tokens = sub["farmer_token"] if "farmer_token" in sub.columns and show_token else \
            pd.Series([None] * len(sub), index=sub.index)
        if "geometry" in sub.columns:  # a file without a season column: the season named by --season
            seasons = sub["season"] if "season" in sub.columns else [self.season] * len(sub)
            for pos, g, sea, tok in zip(sub[_ROW], sub.geometry, seasons, tokens, strict=True):
                self.geoms[int(pos)] = (g, _cell(sea), _cell(tok))
        for pos, fid, sea, tok, why in zip(sub[_ROW], sub["field_id"] if "field_id" in sub.columns else [None] * len(sub),
                                           sub["season"] if "season" in sub.columns else [None] * len(sub), tokens,
                                           reasons, strict=True):
            self.rows.append(SetAside(row=file_rows(self.source, [int(pos)])[0],
                                      field_id=self.shown(fid, by_shape=False) if show_id else None,
                                      season=self.shown(sea) if show_season else None, farmer_token=self.shown(tok),
                                      reason=hide_quoted_numbers(hide_identifiers(why, self.identifiers)),
                                      position=int(pos)))
        return gdf[~m]

    def shown(self, v: object, *, by_shape: bool = True) -> str | None:
        """A cell as the rejects file shows it: :data:`PERSONAL` when it holds a farmer's name, ID or phone number
        — one of the file's identifiers, a ``+`` number or an e-mail, or (``by_shape``) anything shaped like one
        (:func:`features.identity.looks_personal`; not for field ids: a cadastral parcel id is a long number) —,
        else as text."""
        from features.identity import hide_identifiers, looks_personal

        t = _cell(v)
        if t is None:
            return None
        personal = (looks_personal(t) if by_shape else ("+" in t or "@" in t)) \
            or hide_identifiers(t, self.identifiers) != t
        return PERSONAL if personal else t


#: what the rejects file shows of a cell holding personal data (:meth:`_Aside.shown`)
PERSONAL = "<personal data>"


#: why a row whose farmer cannot be known refuses the file even with ``set_aside`` (:func:`_refuse_untokenisable`)
_NO_FARMER = ("its farmer cannot be known, so any farmer's application could be missing a field (--rejects cannot "
              "set such a row aside: correct it)")


def _refuse_untokenisable(gdf: gpd.GeoDataFrame, source: str) -> None:
    """With ``set_aside``: a row whose farmer cannot be known — a ``farmer_token`` holding personal data, or no
    identifier to derive the token from — refuses the file (naming rows only): setting it aside would decide its
    farmer, whoever that is, without the field."""
    from features.identity import IDENTIFIER_COLUMNS, looks_personal

    if "farmer_token" in gdf.columns:
        bad = np.zeros(len(gdf), dtype=bool)
        bad[rows_holding_identifiers(gdf, "farmer_token")] = True
        bad |= gdf["farmer_token"].map(lambda v: _cell(v) is not None and looks_personal(str(v))).to_numpy(dtype=bool)
        if bad.any():
            raise ContractError(table=source, column="farmer_token", expected="a pseudonymous token (not a farmer's "
                                f"name, ID or phone number); {_NO_FARMER}", found="personal data",
                                offenders=file_rows(source, [int(p) for p in gdf.loc[bad, _ROW]]))
    present = [c for c in IDENTIFIER_COLUMNS if c in gdf.columns]
    if present and not ("farmer_token" in gdf.columns and gdf["farmer_token"].notna().all()):
        empty = gdf[present[0]].map(_cell).isna().to_numpy()
        if empty.any():
            raise FieldsError(source=source, problem=f"empty {present[0]} (the farmer's token is derived from it): "
                                                     + _NO_FARMER,
                              offenders=file_rows(source, [int(p) for p in gdf.loc[empty, _ROW]]))


def _cell(v: object) -> str | None:
    """A cell as text (None when empty)."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    t = str(v).strip()
    return t or None


def _validate_fields(gdf: gpd.GeoDataFrame, *, source: str, season: str | None, strict: bool,
                     need: Sequence[str] = (), check_regions: bool = False, set_aside: bool = False) -> ReadResult:
    from features.identity import IDENTIFIER_COLUMNS

    if gdf.crs is None:
        raise FieldsError(source=source, problem="no CRS declared (expected e.g. EPSG:4326 or a UTM zone; "
                                                 "add a .prj or a CRS to the file)")
    if len(gdf) == 0:
        raise FieldsError(source=source, problem="no fields in the file")
    _check_geographic(gdf, source)
    gdf = gdf.rename(columns={k: v for k, v in _ALIASES.items() if k in gdf.columns and v not in gdf.columns})
    gdf = gdf.assign(**{_ROW: np.arange(len(gdf))})
    aside = _Aside(set_aside, source, {str(v) for c in IDENTIFIER_COLUMNS if c in gdf.columns
                                       for v in gdf[c].dropna()},
                   season=None if "season" in gdf.columns or season is None else str(season))
    # each word of a farmer's name: a surname typed as a crop was quoted in "declared_crop 'x' not a known crop"
    name_words = identity_name_words(gdf)
    personal: dict[str, list[int]] = {}
    if set_aside:  # the rows, found while the identifiers are there; set aside once each has its farmer's token
        personal = {col: rows_holding_identifiers(gdf, col) for col in _KEPT_TEXT_COLUMNS if col in gdf.columns}
        _refuse_untokenisable(gdf, source)
    else:
        _refuse_identifiers_as_values(gdf, source)
    gdf = tokenise(gdf, source=source)
    for col, where in personal.items():
        gdf = aside.take(gdf, gdf[_ROW].isin(where), f"{col} holds a farmer's name, ID or phone number (it would be "
                         "kept in the permanent records)", show_id=col != "field_id")
    season_taken = "season" not in gdf.columns and season is not None  # a file of one season, named by --season
    if season_taken:
        gdf = gdf.assign(season=str(season))
    absent = [c for c in ("declared_crop", "declared_area_ha") if c not in gdf.columns]
    lacking = [c for c in need if c not in gdf.columns]  # before the optional columns are filled empty
    for col in ("declared_crop", "declared_area_ha"):
        if col not in gdf.columns:
            empty = [None] * len(gdf) if col == "declared_crop" else [np.nan] * len(gdf)
            gdf = gdf.assign(**{col: pd.Series(empty, index=gdf.index, dtype="str" if col == "declared_crop" else "float64")})
    missing = [c.name for c in FIELDS.columns if c.required and c.name not in gdf.columns]
    if missing:
        raise ContractError(table=source, column=missing[0], expected="column present", found="missing")
    if lacking:
        raise ContractError(table=source, column=lacking[0], expected=f"column present ({NEEDED_FOR[lacking[0]]})",
                            found="missing")
    if set_aside:
        for col in ("field_id", "season"):
            empty_cell = np.zeros(len(gdf), dtype=bool)
            empty_cell[missing_cells(list(gdf[col]))] = True
            gdf = aside.take(gdf, empty_cell, f"empty {col}", show_id=col != "field_id", show_season=col != "season")
    else:
        refuse_empty_cells(gdf, ("field_id", "season"), source)
    gdf = gdf.copy()
    for col in ("field_id", "season", "farmer_token"):
        gdf[col] = gdf[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else (
            str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v)).strip()).astype("str")
    if set_aside:  # a row without its farmer's token: whose field it is cannot be known
        nobody = gdf["farmer_token"].map(_cell).isna().to_numpy()
        if nobody.any():
            raise FieldsError(source=source, problem="empty farmer_token: " + _NO_FARMER,
                              offenders=file_rows(source, [int(p) for p in gdf.loc[nobody, _ROW]]))
    # an id with a line break, an escape or an invisible character: kept in the records, it broke one-line messages
    # in two and looked like the id without it (the audit)
    hidden = np.zeros(len(gdf), dtype=bool)
    hidden[unprintable_cells(list(gdf["field_id"]))] = True
    if hidden.any() and set_aside:
        gdf = aside.take(gdf, hidden, f"field_id holds {UNPRINTABLE}", show_id=False)
    elif hidden.any():
        refuse_unprintable_cells(gdf, ("field_id",), source, positions=list(gdf[_ROW]))
    if "region" in need and "region" in gdf.columns:  # no window either: the rows of the season read (all without
        # one) — an empty cell in another season's rows, which the run never reads, refused it (a review found it)
        read = (gdf["season"] == str(season)).to_numpy() if season is not None else np.ones(len(gdf), dtype=bool)
        blank = [i for i in missing_cells(list(gdf["region"])) if read[i]]
        if blank and set_aside:
            m = np.zeros(len(gdf), dtype=bool)
            m[blank] = True
            gdf = aside.take(gdf, m, "empty region (its season window gives the imagery dates read)")
        elif blank:
            raise ContractError(table=source, column="region", expected="a value on every row", found="empty cells",
                                offenders=file_rows(source, [int(gdf[_ROW].iloc[i]) for i in blank]))
    gdf["declared_crop"] = gdf["declared_crop"].map(
        lambda v: None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or not str(v).strip()
        else str(v).strip().lower().replace(" ", "_")).astype("str")
    raw_area = gdf["declared_area_ha"]
    gdf["declared_area_ha"] = pd.to_numeric(raw_area, errors="coerce").astype("float64")
    given = raw_area.map(lambda v: v is not None and v is not pd.NA and not (isinstance(v, float) and np.isnan(v))
                         and bool(str(v).strip()))
    text = gdf["declared_area_ha"].isna() & given.astype(bool)
    if text.any() and set_aside:
        gdf = aside.take(gdf, text.to_numpy(), "declared_area_ha not a number of hectares")
    elif text.any():
        raise ContractError(table=source, column="declared_area_ha", expected="a number of hectares (or empty)",
                            found="other values", offenders=[f"{f}/{se} ({str(v).strip()!r})" for f, se, v in zip(
                                gdf.loc[text, "field_id"], gdf.loc[text, "season"], raw_area[text], strict=True)])
    if set_aside:  # the contract's minimum, else refused by check_fields below
        gdf = aside.take(gdf, (gdf["declared_area_ha"] < 0).to_numpy(), "declared_area_ha negative")
    if season is not None:
        # every row's season is checked before the others are set aside (a mistyped one would vanish silently)
        bad = ~gdf["season"].astype(str).str.fullmatch(SEASON_RE.pattern.strip("^$"))
        if bad.any() and set_aside:
            gdf = aside.take(gdf, bad.to_numpy(), [f"season {v!r} not a year like 2024" for v in gdf["season"]])
        elif bad.any():
            raise ContractError(table=source, column="season", expected="a year like 2024", found="other values",
                                offenders=[f"{f} ({v!r})" for f, v in zip(gdf.loc[bad, "field_id"],
                                                                           gdf.loc[bad, "season"], strict=True)])
        gdf = gdf[gdf["season"] == str(season)]
        if len(gdf) == 0:
            raise FieldsError(source=source, problem=f"no fields for season {season}"
                              + (f" ({len(aside.rows)} row(s) rejected)" if aside.rows else ""))
    # the crops of the rows read: a misspelt crop in another season's row is refused where that season is read, not
    # in this season's run, which does not use it
    if set_aside:
        crops = gdf["declared_crop"].map(normalise_crop)
        unknown = (crops.notna() & ~crops.isin(known_crops())).to_numpy()
        gdf = aside.take(gdf, unknown, [f"declared_crop {_crop_shown(c, name_words)} not a known crop (add others "
                                        "with AGCREDIT_EXTRA_CROPS)" for c in gdf["declared_crop"]])
    else:
        check_known_crops(gdf["declared_crop"], source=source, column="declared_crop",
                          rows=gdf["field_id"].astype(str) + "/" + gdf["season"].astype(str), hidden=name_words)
    if ("region" in need or check_regions) and set_aside and "region" in gdf.columns:
        from features.regions import known_regions

        reg = gdf["region"].map(_cell)
        nowin = (reg.notna() & ~reg.isin(known_regions())).to_numpy()
        gdf = aside.take(gdf, nowin, [f"region {quoted(r)} has no season window" for r in reg])
    elif "region" in need or check_regions:  # the runs that read the season window refuse a region without one
        from features.regions import check_known_regions

        check_known_regions(gdf, source)
    dup = gdf.duplicated(subset=["field_id", "season"], keep=False)
    if dup.any() and season_taken:  # the ids of several seasons, all taken as the one asked: the column is missing
        raise FieldsError(source=source, problem=f"no season column, so every row was taken as season {season}; yet "
                                                 "field_ids repeat (several seasons in one file? add the season column)",
                          offenders=sorted(set(gdf.loc[dup, "field_id"].astype(str))))
    if dup.any() and set_aside:  # every row of the id: which one is right is unknown
        gdf = aside.take(gdf, dup.to_numpy(), "field_id repeated within its season (every row of it set aside: "
                                              "which one is right is unknown)")
    elif dup.any():
        raise FieldsError(source=source, problem="duplicate field_id within a season",
                          offenders=sorted(set(gdf.loc[dup, "field_id"].astype(str))))
    # "F0012" and "f0012" are one field typed twice more often than two fields (spreadsheets, Windows file names
    # and most people read them as one): refused like a duplicate, naming both spellings
    folded = gdf["field_id"].astype(str).map(id_key)  # case, and full-width characters as their usual ones
    dup = pd.DataFrame({"k": folded, "s": gdf["season"].astype(str)}).duplicated(keep=False)
    if dup.any() and set_aside:
        gdf = aside.take(gdf, dup.to_numpy(), "field_id differing only in case or character width from another of its season (one "
                                              "field typed twice? every spelling set aside)")
    elif dup.any():
        raise FieldsError(source=source, problem="field_ids differing only in case or character width within a "
                                                 "season (one field typed twice? ids are compared without case, "
                                                 "width or invisible characters)",
                          offenders=sorted(set(gdf.loc[dup, "field_id"].astype(str))))
    if set_aside and len(gdf) == 0:
        raise FieldsError(source=source, problem="no usable fields: every row rejected",
                          offenders=[f"{r.row} ({r.reason})" for r in sorted(aside.rows, key=lambda r: r.position)])
    fixed, repaired, rejected, repaired_area = _repair(gdf)
    keys = _repair_keys(gdf)
    # each rejected key's season(s), from its rows (a key is ``id/season`` only in a file of several seasons, and a
    # field id may hold a "/" itself): what ReadResult.rejected_of reads
    seasons_of: dict[str, set[str]] = {}
    for k, sn in zip(keys, gdf["season"].astype(str), strict=True):
        if k in rejected:
            seasons_of.setdefault(k, set()).add(sn)
    if set_aside:  # the rows _repair dropped, with its reasons (keyed as it keys them)
        gone = ~gdf[_ROW].isin(fixed[_ROW]).to_numpy()
        gdf = aside.take(gdf, gone, [rejected.get(k, "") for k in keys])
    twice, why = same_farmer_overlaps(fixed)
    if twice.any():
        rejected.update(why)
        for k, sn in zip(fixed.loc[twice, "field_id"].astype(str), fixed.loc[twice, "season"].astype(str),
                         strict=True):
            seasons_of.setdefault(k, set()).add(sn)
        if set_aside:
            aside.take(fixed, twice, [why.get(f, "") for f in fixed["field_id"].astype(str)])
        fixed = fixed[~twice]
    if strict and rejected:
        raise FieldsError(source=source, problem="invalid geometries",
                          offenders=[f"{k} ({v})" for k, v in rejected.items()])
    if len(fixed) == 0:
        raise FieldsError(source=source, problem="no usable field geometries; rejected",
                          offenders=[f"{k} ({v})" for k, v in rejected.items()])
    keep = [c for c in fixed.columns if c in FIELDS.names or c == "geometry"]
    fixed = gpd.GeoDataFrame(fixed[keep].reset_index(drop=True), geometry="geometry", crs=gdf.crs)
    # one polygon, one set of bytes: rings in canonical orientation and starting vertex (a Shapefile's clockwise
    # rings, a GeoPackage's counter-clockwise ones, a ring started elsewhere), so its hash, its hectares and its
    # overlaps do not depend on how the file's writer ordered the vertices
    fixed["geometry"] = gpd.GeoSeries(shapely.normalize(np.asarray(fixed.geometry.values)), index=fixed.index,
                                      crs=gdf.crs)
    check_fields(fixed, where=source)
    # a repaired field later rejected (its farmer's fields overlapping) is said rejected only
    repaired_area = {k: v for k, v in repaired_area.items() if k not in rejected}
    aside_rows = _aside_overlaps(sorted(aside.rows, key=lambda r: r.position), aside.geoms, fixed)
    # the rows set aside by the other checks are rejected fields too, named by id when it can be shown (and season
    # when the file has several, as :func:`_repair` names them)
    several = len(set(fixed["season"].astype(str)) | {r.season for r in aside_rows if r.season is not None}) > 1
    if set_aside:  # in file order (the geometry's rejections among the others)
        shown: dict[str, str] = {}
        for r in aside_rows:
            if r.field_id is not None:  # a key's first row names it
                shown.setdefault(f"{r.field_id}/{r.season}" if several and r.season is not None else r.field_id,
                                 r.reason)
        rejected = {**shown, **{k: v for k, v in rejected.items() if k not in shown}}
    return ReadResult(fields=fixed, source=source, repaired=repaired, rejected=rejected, absent=absent,
                      repaired_area=repaired_area, rejected_seasons={k: tuple(sorted(v)) for k, v in seasons_of.items()},
                      large=large_fields(fixed), small=small_fields(fixed), set_aside=aside_rows)


#: a row set aside whose polygon covers more than this share of another farmer's field (same season) holds that
#: farmer too (:attr:`SetAside.overlaps`): the field's overlap evidence (a double pledge) is missing without the row.
#: Smaller slivers are boundary drawing
ASIDE_OVERLAP_SHARE = 0.01


def _aside_overlaps(rows: list[SetAside], geoms: Mapping[int, tuple[object, object, object]],
                    fixed: gpd.GeoDataFrame) -> list[SetAside]:
    """``rows`` with :attr:`SetAside.overlaps`: the other farmers whose kept fields their polygons overlap — of the
    row's season, or of every season when the row's season cannot be read (empty, not a year: it could be any)."""
    from dataclasses import replace

    if not rows or len(fixed) == 0:
        return rows
    crs = equal_area_crs(fixed)
    ea = fixed.to_crs(crs).reset_index(drop=True)
    kept = ea.geometry.to_numpy()
    tree, areas = shapely.STRtree(kept), shapely.area(kept)
    seasons = ea["season"].astype(str).to_numpy(dtype=object)
    farmers = ea["farmer_token"].astype(str).to_numpy(dtype=object)
    out = []
    for r in rows:
        g, sea, tok = geoms.get(r.position, (None, None, None))
        if g is None or not isinstance(g, shapely.Geometry) or g.is_empty:
            out.append(r)
            continue
        poly = shapely.make_valid(gpd.GeoSeries([g], crs=fixed.crs).to_crs(crs).iloc[0])
        if shapely.area(poly) <= 0:
            out.append(r)
            continue
        hit = tree.query(poly, predicate="intersects")
        same = (seasons[hit] == str(sea)) if sea is not None and SEASON_RE.match(str(sea)) else True
        hit = hit[same & (farmers[hit] != str(tok))]
        share = np.divide(shapely.area(shapely.intersection(kept[hit], poly)), areas[hit],
                          out=np.zeros(len(hit)), where=areas[hit] > 0)
        others = tuple(sorted(set(farmers[hit[share > ASIDE_OVERLAP_SHARE]])))
        out.append(replace(r, overlaps=others) if others else r)
    return out


def _repair_keys(gdf: gpd.GeoDataFrame) -> list[str]:
    """Each row's key in :func:`_repair`'s rejected fields: its id, and its season when the file has several."""
    ids = gdf["field_id"].astype(str).to_numpy(dtype=object)
    if "season" in gdf.columns and gdf["season"].astype(str).nunique() > 1:
        ids = ids + "/" + gdf["season"].astype(str).to_numpy(dtype=object)
    return [str(i) for i in ids]


#: the columns of a rejects file (:func:`write_rejects`)
REJECTS_COLUMNS = ("row", "field_id", "season", "farmer_token", "reason", "held_applications")


def held_farmers(rows: Sequence[SetAside], season: str | None = None) -> set[str]:
    """The farmers (tokens) a run of ``season`` must not decide: those with a row set aside of that season, or
    whose season cannot be read (empty, not a year, personal data) — their other fields are not all their fields
    (a failing or overlapping field left out, a parcel another farmer also claims) — and the other farmers whose
    fields such a row's polygon overlaps (:attr:`SetAside.overlaps`). ``season`` None: every season's."""
    out = set()
    for r in rows:
        if r.farmer_token is None or r.farmer_token == PERSONAL:  # refused before (_refuse_untokenisable)
            continue
        if of_season(r, season):
            out.add(r.farmer_token)
            out.update(r.overlaps)  # the other farmers its polygon overlaps: their overlap evidence is missing
    return out


def partial_rows(rows: Sequence[SetAside], season: str | None = None) -> int:
    """How many of the rows set aside make a run of ``season`` partial (exit 1): those of that season or whose
    season cannot be read (empty, not a year, personal data) — a row of another season only is left out of no run of
    this one (the rejects file still lists it). ``season`` None: every row."""
    return sum(1 for r in rows if of_season(r, season))


def of_season(row: SetAside, season: str | None) -> bool:
    """Whether ``row`` leaves something out of a run of ``season``: it is of that season, or its season cannot be
    read (empty, not a year, personal data); ``season`` None: every row."""
    return season is None or row.season is None or row.season == str(season) or not SEASON_RE.match(row.season)


def rejects_csv(rows: Sequence[SetAside], held: Mapping[str, Sequence[str]] | None = None) -> bytes:
    """The rejects file's bytes (:func:`write_rejects`)."""
    held = held or {}
    df = pd.DataFrame([{"row": r.row, "field_id": r.field_id, "season": r.season, "farmer_token": r.farmer_token,
                        "reason": r.reason,
                        "held_applications": " ".join(sorted({a for t in (r.farmer_token or "", *r.overlaps)
                                                              for a in held.get(t, ())})) or None}
                       for r in sorted(rows, key=lambda r: r.position)], columns=list(REJECTS_COLUMNS))
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_rejects(rows: Sequence[SetAside], path: str | Path,
                  held: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Write the rows set aside (:class:`SetAside`) as CSV at ``path``, atomically, in file order: ``row``,
    ``field_id``, ``season``, ``farmer_token``, ``reason`` (no cell holds a farmer's name, ID or phone number) and
    ``held_applications``: the applications not decided because of the row (``held``: a farmer's token → their
    ids, space-separated; empty outside ``underwrite``). A header alone when no row was set aside. The same file
    for the same fields file (and applications)."""
    from features.atomic import write_bytes_atomic

    return write_bytes_atomic(rejects_csv(rows, held), path)


def read_fields(path: str | Path, *, season: str | None = None, strict: bool = False,
                need: Sequence[str] = (), check_regions: bool = False, set_aside: bool = False) -> ReadResult:
    """Read fields from GeoParquet, GeoPackage, GeoJSON or Shapefile; see :func:`validate_fields`."""
    p = Path(path)
    gdf = _read_any(p)
    return validate_fields(gdf, source=p.name, season=season, strict=strict, need=need, check_regions=check_regions,
                           set_aside=set_aside)


def read_fields_rejecting(path: str | Path, rejects: str | Path | None, *, season: str | None = None,
                          need: Sequence[str] = (), write: bool = True) -> ReadResult:
    """:func:`read_fields` for a run given ``--rejects``: with ``rejects``, the rejects file checked writable before
    the fields are read, the rows failing a row-level check set aside (:attr:`ReadResult.set_aside`) and, with
    ``write``, written there at once (:func:`write_rejects`: before anything else of the run is written; a run that
    lists held applications in it writes it itself). Without ``rejects``: :func:`read_fields` (one such row refuses
    the file)."""
    if rejects is not None:
        from features.atomic import check_writable

        check_writable(rejects, what="rejects file")
    read = read_fields(path, season=season, need=need, set_aside=rejects is not None)
    if rejects is not None and write:
        write_rejects(read.set_aside, rejects)
    return read


def set_aside_ids(rows: Sequence[SetAside], season: str | None = None) -> list[str]:
    """The field ids of the rows set aside (of ``season`` or of a season that cannot be read; ``season`` None: every
    row's), sorted; a row whose id is the problem (empty, personal data) is named by its row (``row N``)."""
    return sorted({r.field_id or r.row for r in rows if of_season(r, season)})


def describe_rejections(result: ReadResult) -> str:
    """One line listing rejected fields with their reasons (at most five)."""
    return format_offenders([f"{k} ({v})" for k, v in result.rejected.items()])
