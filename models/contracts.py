"""Data contract owned by the models layer: FieldValuations."""

from __future__ import annotations

import pandas as pd

from features.errors import ContractError
from features.schema import Column, TableSpec

__all__ = ["FIELD_VALUATIONS", "check_field_valuations"]

FIELD_VALUATIONS = TableSpec(
    name="FieldValuations",
    key=("field_id", "season"),
    columns=(
        Column("field_id", "str", "—", "field identifier"),
        Column("season", "str", "year", "season (`YYYY`)"),
        Column("as_of", "date", "day", "features as of this date"),
        Column("crop", "str", "—", "crop valued (the crop-type model's answer, or the declared crop pre-season)"),
        Column("region", "str", "—", "region", nullable=True),
        Column("area_ha", "float", "ha", "area valued (validated planted area)", min=0.0),
        Column("yield_p10_t_ha", "float", "t/ha", "calibrated 10th percentile of yield at the price table's moisture basis", min=0.0),
        Column("yield_p50_t_ha", "float", "t/ha", "median yield", min=0.0),
        Column("yield_p90_t_ha", "float", "t/ha", "90th percentile of yield", min=0.0),
        Column("moisture_basis_pct", "float", "%", "moisture basis of the yields and the price"),
        Column("currency", "str", "ISO 4217", "currency of the values and price"),
        Column("price_per_t", "int", "minor units / t", "reference price"),
        Column("value_p10", "int", "minor units", "area × P10 yield × price", min=0),
        Column("value_p50", "int", "minor units", "area × P50 yield × price", min=0),
        Column("value_p90", "int", "minor units", "area × P90 yield × price", min=0),
        Column("price_source", "str", "—", "where the price comes from, with its date"),
        Column("model_name", "str", "—", "registered model name"),
        Column("model_version", "str", "—", "resolved registry version (never only an alias)"),
        Column("in_scope", "bool", "—", "crop, region and checkpoint inside the model version's validated scope"),
    ),
)


def check_field_valuations(df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
    """Check the FieldValuations contract; quantiles must not cross."""
    FIELD_VALUATIONS.check(df, where=where)
    ctx = where or FIELD_VALUATIONS.name
    p10, p50, p90 = (df[c].to_numpy(dtype="float64") for c in ("yield_p10_t_ha", "yield_p50_t_ha", "yield_p90_t_ha"))
    crossed = (p10 > p50 + 1e-12) | (p50 > p90 + 1e-12)
    if crossed.any():
        raise ContractError(table=ctx, column="yield_p10_t_ha", expected="P10 <= P50 <= P90", found="crossed quantiles",
                            offenders=list(df.loc[crossed, "field_id"]))
    return df


__doc__ = (__doc__ or "") + "\n\n" + FIELD_VALUATIONS.doc()
