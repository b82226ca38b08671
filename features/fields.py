"""Fields: read any vector format, validate, repair, measure in equal-area hectares.

Readers clean loose input once, at the edge: GeoParquet, GeoPackage, GeoJSON and
Shapefile (through pyogrio) become one :class:`~geopandas.GeoDataFrame` that follows
the Fields contract (:data:`features.contracts.FIELDS`). Geometries that
``make_valid`` can repair into a polygon are repaired and reported; the rest are
rejected with their field ids. Personal identifiers are turned into
``farmer_token`` and dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from features._field_area import (
    LARGE_FIELD_HA,
    LARGE_VS_MEDIAN,
    area_ha,
    equal_area_crs,
    geometry_hashes,
    large_fields,
    overlap_fractions,
    same_farmer_overlaps,
    small_fields,
)
from features._field_axes import refuse_swapped_axes
from features._field_crops import check_known_crops, known_crops, normalise_crop
from features._field_geometry import REPAIR_AREA_CHANGE, _check_geographic, _repair, _repair_keys
from features._field_names import contract_names
from features._field_read import FIELD_FORMATS, _read_any
from features._field_rejects import (
    _KEPT_TEXT_COLUMNS,
    _NO_FARMER,
    _ROW,
    REJECTS_COLUMNS,
    SetAside,
    _Aside,
    _aside_overlaps,
    _cell,
    _crop_shown,
    _refuse_identifiers_as_values,
    _refuse_untokenisable,
    held_farmers,
    of_season,
    partial_rows,
    rejects_csv,
    set_aside_ids,
    write_rejects,
)
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
from features.identity import identifiers_hidden, quoted, rows_holding_identifiers, table_identifiers, tokenise
from features.identity import name_words as identity_name_words

# isort: split
# re-exported, unused here: importable from features.fields as before its helpers moved to features._field_*
from collections.abc import Mapping  # noqa: F401

from pyproj import CRS  # noqa: F401

from features._field_area import (  # noqa: F401
    LARGE_FLOOR_HA,
    SAME_FARMER_MAX_OVERLAP,
    SMALL_FIELD_HA,
    _laea,
    _rough_ha,
    _same_season_pairs,
)
from features._field_crops import _CALENDARS, _WORDS  # noqa: F401
from features._field_geometry import _check_degree_rows, _repaired_area  # noqa: F401
from features._field_read import _fields_layer, _first_line, _unreadable_geometries  # noqa: F401
from features._field_rejects import ASIDE_OVERLAP_SHARE, PERSONAL  # noqa: F401

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


#: optional columns of the contract that some runs cannot do without, and why: a run names them in ``need``
#: (:func:`read_fields`) and a file without them is refused there, not read as if every field lacked them
NEEDED_FOR = {
    "declared_crop": "the past seasons' declared crops give the alerts' expected NDVI: without them no alert is raised",
    "region": "a field's region gives its season window: the imagery dates read",
}


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
    gdf = contract_names(gdf, source)  # Declared_Crop, FIELD_ID, declared_c, parcel_id: the contract's names
    with identifiers_hidden(gdf):  # National_ID among them
        return _validate_fields(gdf, source=source, season=season, strict=strict, need=need,
                                check_regions=check_regions, set_aside=set_aside)


def _validate_fields(gdf: gpd.GeoDataFrame, *, source: str, season: str | None, strict: bool,
                     need: Sequence[str] = (), check_regions: bool = False, set_aside: bool = False) -> ReadResult:
    if gdf.crs is None:
        raise FieldsError(source=source, problem="no CRS declared (expected e.g. EPSG:4326 or a UTM zone; "
                                                 "add a .prj or a CRS to the file)")
    if len(gdf) == 0:
        raise FieldsError(source=source, problem="no fields in the file")
    _check_geographic(gdf, source)
    gdf = gdf.assign(**{_ROW: np.arange(len(gdf))})
    # each word of a farmer's name: a surname typed as a crop was quoted in "declared_crop 'x' not a known crop"
    name_words = identity_name_words(gdf)
    aside = _Aside(set_aside, source, table_identifiers(gdf),
                   season=None if "season" in gdf.columns or season is None else str(season), words=name_words)
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
    if missing:  # a farmer's own identifiers are read in farmer_token's place (tokenise): said (a review, RPG)
        token = " (or national_id, farmer_id, farmer_name or phone, turned into it with AGCREDIT_TOKEN_KEY)"
        raise ContractError(table=source, column=missing[0], expected="column present" + (
            token if missing[0] == "farmer_token" else ""), found="missing")
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
    refuse_swapped_axes(gdf, source, list(gdf["field_id"]))  # a file written latitude first
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


def describe_rejections(result: ReadResult) -> str:
    """One line listing rejected fields with their reasons (at most five)."""
    return format_offenders([f"{k} ({v})" for k, v in result.rejected.items()])
