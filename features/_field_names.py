"""The column names of a fields file (from :mod:`features.fields`): loose names read as the contract's, once, at the
edge — a contract column written in another case (``Declared_Crop``, ``FIELD_ID``), a Shapefile's 10-character
truncation (``declared_c``, ``DECLARED_C``), the aliases (``parcel_id``, ``crop``)."""

from __future__ import annotations

import geopandas as gpd

from features.contracts import FIELDS
from features.errors import FieldsError
from features.identity import IDENTIFIER_COLUMNS

__all__ = ["ALIASES", "contract_names"]

# loose column names accepted at the edge, incl. Shapefile's 10-character truncations (compared in lower case)
ALIASES = {"id": "field_id", "parcel_id": "field_id", "crop": "declared_crop", "area_ha": "declared_area_ha",
           "farmer_tok": "farmer_token", "declared_c": "declared_crop", "declared_a": "declared_area_ha",
           "national_i": "national_id", "farmer_nam": "farmer_name"}

#: the names a column is read as: the contract's columns and the farmer's identifiers turned into farmer_token
_NAMES = frozenset([c.name for c in FIELDS.columns if c.name != "geometry"] + list(IDENTIFIER_COLUMNS))


def contract_names(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """``gdf`` with each column whose name is a contract column's but for case or spacing, or an alias of one,
    renamed to it. A title-case ``Declared_Crop`` had been ignored (every field taken as undeclared, exit 0, permanent
    records). Two columns read as one (``Declared_Crop`` beside ``declared_crop``, ``id`` beside ``parcel_id``) are
    refused in one line naming both; an alias beside the contract's own column is left as it is (an extra column)."""
    geometry = getattr(gdf, "_geometry_column_name", None)  # the active geometry column is the geometry, any name
    read_as: dict[str, list[str]] = {}
    for col in gdf.columns:
        if col == geometry or not isinstance(col, str):
            continue
        key = col.strip().lower()
        name = key if key in _NAMES else ALIASES.get(key)
        if name is not None:
            read_as.setdefault(name, []).append(col)
    renames: dict[str, str] = {}
    for name, cols in read_as.items():
        spelt = [c for c in cols if c.strip().lower() == name]  # the contract's name, in any case
        if len(spelt) > 1:
            raise FieldsError(source=source, problem=f"columns {_both(spelt)} are both the fields contract's "
                                                     f"'{name}' (names are read whatever their case): keep one")
        if spelt:  # an alias beside it is another column, as before
            if spelt[0] != name:
                renames[spelt[0]] = name
            continue
        if len(cols) > 1:
            raise FieldsError(source=source, problem=f"columns {_both(cols)} are both read as the fields contract's "
                                                     f"'{name}': keep one, or name it '{name}'")
        renames[cols[0]] = name
    return gdf.rename(columns=renames) if renames else gdf


def _both(cols: list[str]) -> str:
    return ", ".join(f"'{c}'" for c in cols[:-1]) + f" and '{cols[-1]}'"
