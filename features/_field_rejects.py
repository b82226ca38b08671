"""Rows of a fields file set aside (``--rejects``; from :mod:`features.fields`): the row-level record
(:class:`SetAside`) and its collector, the refusals of a farmer's identifiers typed as values, the other farmers a
row's polygon overlaps, and the rejects file and what a run reads from the rows set aside."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from features._field_area import equal_area_crs
from features.contracts import SEASON_RE
from features.errors import ContractError, FieldsError, file_rows
from features.identity import rows_holding_identifiers

__all__ = [
    "_crop_shown", "_KEPT_TEXT_COLUMNS", "_refuse_identifiers_as_values", "_ROW", "SetAside", "_Aside", "PERSONAL",
    "_NO_FARMER", "_refuse_untokenisable", "_cell", "ASIDE_OVERLAP_SHARE", "_aside_overlaps", "REJECTS_COLUMNS",
    "held_farmers", "partial_rows", "of_season", "rejects_csv", "write_rejects", "set_aside_ids",
]


def _crop_shown(crop: object, name_words: frozenset[str]) -> str:
    """An unknown crop as a rejects reason quotes it: :data:`PERSONAL` when it is a word of a farmer's name or has
    the shape of personal data (several words — a name, as ``kada_nezupi`` once the crop is spelt as the engine
    spells crops —, a phone or ID number), as :func:`features._field_crops.check_known_crops` hides it."""
    from features.identity import looks_personal

    t = str(crop).strip()
    if t.casefold() in name_words or looks_personal(t):
        return PERSONAL
    if looks_personal(t.replace("_", " ")):
        return (f"{PERSONAL} (several words, a name's shape: not shown; a crop of several words is added with "
                "AGCREDIT_EXTRA_CROPS, e.g. pearl_millet)")
    return repr(crop)


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

    def __init__(self, on: bool, source: str, identifiers: set[str], season: str | None = None,
                 words: frozenset[str] = frozenset()) -> None:
        self.on, self.source, self.identifiers = on, source, identifiers
        #: the words of the file's farmers' names: a reason's quoted value holding one is not shown
        self.words = words
        self.rows: list[SetAside] = []
        #: each row's polygon, season and farmer's token as read (for :func:`_aside_overlaps`)
        self.geoms: dict[int, tuple[object, object, object]] = {}
        #: the season of a file without a season column (``--season``): its rows' geometries are recorded with it
        self.season = season

    def take(self, gdf: gpd.GeoDataFrame, mask: object, reason: str | Sequence[str], *, show_id: bool = True,
             show_season: bool = True, show_token: bool = True) -> gpd.GeoDataFrame:
        """``gdf`` without the rows of ``mask`` (a boolean array), recorded with ``reason`` (one, or one per row of
        the mask)."""
        from features.identity import hide_identifiers, hide_quoted_numbers, hide_quoted_words

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
                                      reason=hide_quoted_numbers(hide_quoted_words(
                                          hide_identifiers(why, self.identifiers), self.words)),
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
            or hide_identifiers(t, self.identifiers | set(self.words)) != t
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


def set_aside_ids(rows: Sequence[SetAside], season: str | None = None) -> list[str]:
    """The field ids of the rows set aside (of ``season`` or of a season that cannot be read; ``season`` None: every
    row's), sorted; a row whose id is the problem (empty, personal data) is named by its row (``row N``)."""
    return sorted({r.field_id or r.row for r in rows if of_season(r, season)})
