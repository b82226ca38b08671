"""Data contracts owned by the features layer: Fields, FieldTimeSeries, FieldFeatures.

Each contract is declared once as a :class:`~features.schema.TableSpec`; the tables
below are rendered from those declarations, and ``check_*`` are the only checkers.
"""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd

from features.errors import ContractError, FieldsError
from features.schema import Column, TableSpec

__all__ = [
    "FIELDS",
    "FIELD_TIME_SERIES",
    "FIELD_FEATURES",
    "GROWTH_STAGES",
    "VARIABLES",
    "VARIABLE_RANGES",
    "check_fields",
    "check_variable_ranges",
    "check_field_time_series",
    "check_field_features",
    "check_season",
]

SEASON_RE = re.compile(r"^(19|20)\d\d$")

#: per-pixel bands and indices a FieldTimeSeries may carry
VARIABLES = (
    "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
    "NDVI", "EVI", "NDRE", "NDWI", "NDMI",
)

#: plausible range of each variable's statistics (mean and percentiles): normalised-difference indices and EVI in
#: [-1, 1]; reflectance bands in a generous [0, 2] (bright cloud or snow stays below ~1.6). A value outside is a
#: unit or scale mistake in the input (NDVI as a percentage, digital numbers for reflectance), not a measurement.
VARIABLE_RANGES: dict[str, tuple[float, float]] = {
    **{b: (0.0, 2.0) for b in VARIABLES[:10]},
    **{i: (-1.0, 1.0) for i in VARIABLES[10:]},
}

#: growth stages, in order
GROWTH_STAGES = ("not_sown", "emerged", "vegetative", "reproductive", "maturing", "harvested")

FIELDS = TableSpec(
    name="Fields",
    key=("field_id", "season"),
    columns=(
        Column("field_id", "str", "—", "the bank's identifier of the field (parcel)"),
        Column("season", "str", "year", "season, named by its harvest year (`YYYY`)"),
        Column("farmer_token", "str", "—", "pseudonymous farmer token (keyed HMAC), never a name or ID"),
        Column("declared_crop", "str", "—", "crop the farmer declared", nullable=True),
        Column("declared_area_ha", "float", "ha", "area the farmer declared", nullable=True, min=0.0),
        Column("region", "str", "—", "region preset or administrative region", nullable=True, required=False),
        Column("geometry", "geometry", "CRS units", "valid, non-empty Polygon or MultiPolygon with a declared CRS"),
    ),
)

FIELD_TIME_SERIES = TableSpec(
    name="FieldTimeSeries",
    key=("field_id", "season", "date", "variable"),
    columns=(
        Column("field_id", "str", "—", "field identifier"),
        Column("season", "str", "year", "season (`YYYY`)"),
        Column("date", "date", "day", "acquisition date (UTC), one row per date even where tiles overlap"),
        Column("variable", "str", "—", "band (`B02`…`B12`, reflectance) or index (`NDVI`, `EVI`, …)"),
        Column("mean", "float", "reflectance or index", "mean of clear in-field pixels", nullable=True),
        Column("std", "float", "same", "population standard deviation of clear pixels", nullable=True),
        Column("p10", "float", "same", "10th percentile of clear pixels", nullable=True),
        Column("p50", "float", "same", "median of clear pixels", nullable=True),
        Column("p90", "float", "same", "90th percentile of clear pixels", nullable=True),
        Column("n_pixels", "int", "pixels", "pixels whose centre lies in the field", min=0),
        Column("n_clear", "int", "pixels", "of those, pixels with valid data and no cloud, shadow or snow", min=0),
    ),
)

FIELD_FEATURES = TableSpec(
    name="FieldFeatures",
    key=("field_id", "season"),
    prefixes=("prob_", "feat_"),
    columns=(
        Column("field_id", "str", "—", "field identifier"),
        Column("season", "str", "year", "season (`YYYY`)"),
        Column("as_of", "date", "day", "nothing observed after this date was used"),
        Column("farmer_token", "str", "—", "pseudonymous farmer token"),
        Column("region", "str", "—", "region", nullable=True),
        Column("declared_crop", "str", "—", "declared crop", nullable=True),
        Column("declared_area_ha", "float", "ha", "declared area", nullable=True, min=0.0),
        Column("field_area_ha", "float", "ha", "equal-area area of the polygon", min=0.0),
        Column("planted_area_ha", "float", "ha",
               "cropped part of the field: bunds, tree lines, water and unplanted parts excluded",
               nullable=True, min=0.0),
        Column("planted_area_sd_ha", "float", "ha", "uncertainty (1 s.d.) of the planted area", nullable=True, min=0.0),
        Column("planted_fraction", "float", "share", "planted area / field area", nullable=True, min=0.0),
        Column("noncrop_fraction", "float", "share", "water, built-up and trees inside the field", nullable=True, min=0.0),
        Column("overlap_fraction", "float", "share", "largest share of the field overlapped by another farmer's field", min=0.0),
        Column("geometry_valid", "bool", "—", "geometry was valid or repaired"),
        Column("geometry_hash", "str", "—", "SHA-256 of the field's WKB in its source CRS"),
        Column("crop_type", "str", "—", "most probable crop", nullable=True),
        Column("crop_type_prob", "float", "probability", "probability of `crop_type`", nullable=True, min=0.0),
        Column("declared_crop_prob", "float", "probability",
               "probability that the declared crop is the one planted, given the imagery and the declaration "
               "(features/_declared.py)", nullable=True, min=0.0),
        Column("crop_season_scale", "float", "ratio",
               "season calibration: the crop-type model's temperature × this, estimated from the season's declared "
               "crops of the fields scored together (features/_season_calib.py; 1: as trained; absent in features "
               "built before it)", nullable=True, required=False, min=0.0),
        Column("history_yield_t_ha", "float", "t/ha",
               "the farmer's reported mean yield of the field for its declared crop over its latest 5 earlier seasons "
               "(features/_yield_history.py; the pre-season rule values on it; absent or empty: no history given)",
               nullable=True, required=False, min=0.0),
        Column("history_seasons", "int", "seasons", "how many seasons history_yield_t_ha is the mean of",
               nullable=True, required=False, min=0),
        Column("growth_stage", "str", "—", "stage as of `as_of`", nullable=True, choices=GROWTH_STAGES),
        Column("emergence_date", "date", "day", "estimated emergence", nullable=True),
        Column("days_since_emergence", "float", "days", "as of `as_of`", nullable=True),
        Column("peak_date", "date", "day", "date of peak greenness so far", nullable=True),
        Column("expected_harvest_date", "date", "day", "expected harvest date", nullable=True),
        Column("n_clear_obs", "int", "acquisitions", "clear observations since emergence (or in the season before it)", min=0),
        Column("n_clear_pixels", "int", "pixels", "median clear pixels per clear observation", min=0),
        Column("ndvi_max", "float", "NDVI", "seasonal maximum of smoothed NDVI so far", nullable=True),
        Column("ndvi_auc", "float", "NDVI·day", "area under smoothed NDVI so far", nullable=True),
    ),
)


def check_season(season: str, *, where: str = "season") -> str:
    """Return a season string ``YYYY`` or raise a one-line error."""
    s = str(season).strip()
    if not SEASON_RE.match(s):
        raise ContractError(table=where, column="season", expected="a year like 2024", found=_shown_season(season))
    return s


def _shown_season(season: object) -> str:
    """A value given as a season, quoted when it cannot be personal data (no letter, under 7 digits: ``'2009/10'``,
    ``'09'``); a name, phone or ID number typed or pasted there is not echoed into a message or a log."""
    s = str(season)
    if len(s) <= 12 and not any(ch.isalpha() for ch in s) and sum(ch.isdecimal() for ch in s) < 7:
        return repr(season)
    return "a value that is not one (not shown: it may be a name, phone or ID number)"


def check_fields(gdf: gpd.GeoDataFrame, *, where: str | None = None) -> gpd.GeoDataFrame:
    """Check the Fields contract: columns, CRS, key uniqueness, non-empty polygons."""
    ctx = where or "Fields"
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf.columns:
        raise ContractError(table=ctx, column="geometry", expected="a GeoDataFrame with geometry", found=type(gdf).__name__)
    if gdf.crs is None:
        raise FieldsError(source=ctx, problem="no CRS declared (expected e.g. EPSG:4326 or a UTM zone)")
    FIELDS.check(pd.DataFrame(gdf.drop(columns="geometry")).assign(geometry=gdf.geometry.values), where=ctx)
    bad_season = ~gdf["season"].astype(str).str.match(SEASON_RE.pattern)
    if bad_season.any():
        raise ContractError(table=ctx, column="season", expected="a year like 2024",
                            found="other values", offenders=list(gdf.loc[bad_season, "field_id"]))
    geom = gdf.geometry
    empty = geom.isna() | geom.is_empty
    if empty.any():
        raise FieldsError(source=ctx, problem="empty or missing geometry", offenders=list(gdf.loc[empty, "field_id"]))
    kinds = geom.geom_type
    notpoly = ~kinds.isin(["Polygon", "MultiPolygon"])
    if notpoly.any():
        raise FieldsError(source=ctx, problem="geometry is not a Polygon or MultiPolygon",
                          offenders=list(gdf.loc[notpoly, "field_id"]))
    invalid = ~geom.is_valid
    if invalid.any():
        raise FieldsError(source=ctx, problem="invalid geometry", offenders=list(gdf.loc[invalid, "field_id"]))
    return gdf


def check_field_time_series(df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
    """Check the FieldTimeSeries contract (also that n_clear <= n_pixels)."""
    FIELD_TIME_SERIES.check(df, where=where)
    ctx = where or FIELD_TIME_SERIES.name
    over = df["n_clear"].to_numpy() > df["n_pixels"].to_numpy()
    if over.any():
        keys = (df["field_id"].astype(str) + "/" + df["date"].astype(str)).to_numpy()
        raise ContractError(table=ctx, column="n_clear", expected="<= n_pixels", found="larger values",
                            offenders=list(keys[over]))
    return df


def check_variable_ranges(df: pd.DataFrame, *, where: str | None = None,
                          columns: tuple[str, ...] = ("mean", "p10", "p50", "p90")) -> pd.DataFrame:
    """Refuse FieldTimeSeries statistics outside :data:`VARIABLE_RANGES` (NaN is allowed), naming the column and
    the rows (field/date/variable). Applied to inputs given as numbers (series tables), where a value out of range
    is a unit mistake."""
    ctx = where or FIELD_TIME_SERIES.name
    lo = df["variable"].map({k: v[0] for k, v in VARIABLE_RANGES.items()}).to_numpy(dtype="float64")
    hi = df["variable"].map({k: v[1] for k, v in VARIABLE_RANGES.items()}).to_numpy(dtype="float64")
    for col in columns:
        v = df[col].to_numpy(dtype="float64")
        bad = (v < lo) | (v > hi)
        if bad.any():
            keys = (df["field_id"].astype(str) + "/" + pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d") + "/"
                    + df["variable"].astype(str)).to_numpy()
            raise ContractError(table=ctx, column=col, expected="indices (NDVI, EVI, NDRE, NDWI, NDMI) in [-1, 1] "
                                "and reflectance bands (B02…B12) in [0, 2]", found="values out of range",
                                offenders=list(keys[bad]))
    return df


def check_field_features(df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
    """Check the FieldFeatures contract (class probabilities in [0, 1])."""
    FIELD_FEATURES.check(df, where=where)
    ctx = where or FIELD_FEATURES.name
    for col in [c for c in df.columns if c.startswith("prob_")] + ["crop_type_prob", "declared_crop_prob"]:
        v = df[col].to_numpy(dtype="float64", na_value=0.0)
        bad = (v < 0) | (v > 1)
        if bad.any():
            raise ContractError(table=ctx, column=col, expected="a probability in [0, 1]", found="values outside",
                                offenders=list(df.loc[bad, "field_id"]))
    return df


__doc__ = (__doc__ or "") + "\n\n" + "\n\n".join(s.doc() for s in (FIELDS, FIELD_TIME_SERIES, FIELD_FEATURES))
