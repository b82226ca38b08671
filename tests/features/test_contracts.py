"""Every contract checker rejects a bad table with a message naming column, expectation, offenders."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from features.contracts import (
    FIELD_FEATURES,
    check_field_features,
    check_field_time_series,
    check_fields,
    check_season,
)
from features.errors import ContractError, FieldsError
from models.contracts import check_field_valuations
from underwriting.contracts import check_applications, check_book, check_decisions


def _series(n: int = 7) -> pd.DataFrame:
    return pd.DataFrame({
        "field_id": [f"f{i}" for i in range(n)], "season": ["2024"] * n,
        "date": pd.to_datetime(["2024-06-01"] * n), "variable": ["NDVI"] * n,
        "mean": np.linspace(0.1, 0.8, n), "std": [0.01] * n, "p10": [0.1] * n, "p50": [0.2] * n, "p90": [0.3] * n,
        "n_pixels": [50] * n, "n_clear": [40] * n,
    })


def test_series_ok_and_missing_column() -> None:
    check_field_time_series(_series())
    with pytest.raises(ContractError, match="FieldTimeSeries: column 'n_clear': expected column present, found missing"):
        check_field_time_series(_series().drop(columns="n_clear"))


def test_series_offenders_at_most_five_and_count() -> None:
    df = _series(7)
    df["n_clear"] = 60
    with pytest.raises(ContractError, match=r"expected <= n_pixels, found larger values at .* and 2 more \(7 in all\)"):
        check_field_time_series(df)


def test_series_wrong_dtype() -> None:
    df = _series()
    df["date"] = df["date"].astype(str)
    with pytest.raises(ContractError, match=r"column 'date': expected date \(datetime64\), found str"):
        check_field_time_series(df)


def test_series_duplicate_key() -> None:
    df = pd.concat([_series(2), _series(1)])
    with pytest.raises(ContractError, match=r"expected unique key, found duplicate keys at f0/2024/2024-06-01"):
        check_field_time_series(df)


def test_series_negative_count() -> None:
    df = _series(2)
    df.loc[1, "n_pixels"] = -1
    with pytest.raises(ContractError, match=r"column 'n_pixels': expected >= 0, found smaller values at f1"):
        check_field_time_series(df)


def test_fields_checker() -> None:
    g = gpd.GeoDataFrame({"field_id": ["a"], "season": ["2024"], "farmer_token": ["T"], "declared_crop": [None],
                          "declared_area_ha": [np.nan], "geometry": [box(0, 0, 1, 1)]}, crs=32614)
    check_fields(g)
    with pytest.raises(FieldsError, match="no CRS declared"):
        check_fields(g.set_crs(None, allow_override=True))
    bad = g.assign(season="24")
    with pytest.raises(ContractError, match=r"column 'season': expected a year like 2024, found other values at a"):
        check_fields(bad)
    with pytest.raises(ContractError, match="column 'farmer_token': expected no missing values"):
        check_fields(g.assign(farmer_token=pd.Series([None], dtype="str")))


def test_season_strings() -> None:
    assert check_season(" 2024 ") == "2024"
    with pytest.raises(ContractError, match=r"expected a year like 2024, found '24/25'"):
        check_season("24/25")


@pytest.mark.parametrize("given", ["Wenzu Wenteda", "+91-00000-18677", "0000 0271 8677", "123456789"])
def test_a_name_or_number_given_as_a_season_is_not_echoed(given: str) -> None:
    with pytest.raises(ContractError, match=r"^--season: column 'season': expected a year like 2024, found a value "
                                            r"that is not one \(not shown: it may be a name, phone or ID number\)$"):
        check_season(given, where="--season")
    with pytest.raises(ContractError, match=r"found '2009/10'$"):  # a mistyped season is still shown
        check_season("2009/10")


def _features() -> pd.DataFrame:
    row: dict[str, object] = {}
    for c in FIELD_FEATURES.columns:
        row[c.name] = {"str": "x", "float": 0.5, "int": 3, "bool": True, "date": pd.Timestamp("2024-07-01")}[c.kind]
    row["growth_stage"] = "vegetative"
    row["prob_maize"] = 0.5
    return pd.DataFrame([row])


def test_features_checker() -> None:
    check_field_features(_features())
    bad = _features().assign(prob_maize=1.5)
    with pytest.raises(ContractError, match=r"column 'prob_maize': expected a probability in \[0, 1\]"):
        check_field_features(bad)
    with pytest.raises(ContractError, match="column 'growth_stage': expected one of not_sown, emerged"):
        check_field_features(_features().assign(growth_stage="flowering"))


def _valuations() -> pd.DataFrame:
    return pd.DataFrame({
        "field_id": ["a", "b"], "season": ["2024"] * 2, "as_of": pd.to_datetime(["2024-07-01"] * 2),
        "crop": ["maize"] * 2, "region": ["us-nebraska"] * 2, "area_ha": [10.0, 5.0],
        "yield_p10_t_ha": [8.0, 9.0], "yield_p50_t_ha": [10.0, 8.0], "yield_p90_t_ha": [12.0, 11.0],
        "moisture_basis_pct": [15.5] * 2, "currency": ["USD"] * 2, "price_per_t": [17000] * 2,
        "value_p10": [1, 2], "value_p50": [3, 4], "value_p90": [5, 6], "price_source": ["x"] * 2,
        "model_name": ["yield-value"] * 2, "model_version": ["3"] * 2, "in_scope": [True, True],
    })


def test_valuations_checker() -> None:
    with pytest.raises(ContractError, match=r"expected P10 <= P50 <= P90, found crossed quantiles at b \(1 in all\)"):
        check_field_valuations(_valuations())
    with pytest.raises(ContractError, match="column 'price_per_t': expected integer, found float64"):
        check_field_valuations(_valuations().assign(price_per_t=170.5))


def _apps() -> pd.DataFrame:
    return pd.DataFrame({
        "application_id": ["A1", "A2"], "farmer_token": ["T1", "T2"], "season": ["2024"] * 2, "currency": ["USD"] * 2,
        "requested_amount": [100_000, 200_000], "requested_term_days": [240, 240], "existing_debt": [0, 0],
        "debt_due_this_cycle": [0, 0], "other_income": [0, 0], "living_costs": [0, 0], "unfinanced_costs": [0, 0],
        "prior_liens_on_crop": [0, 0],
    })


def test_applications_checker() -> None:
    check_applications(_apps())
    with pytest.raises(ContractError, match=r"column 'requested_term_days': expected >= 1, found smaller values at A2"):
        check_applications(_apps().assign(requested_term_days=[10, 0]))
    with pytest.raises(ContractError, match="column 'requested_amount': expected integer, found float64"):
        check_applications(_apps().assign(requested_amount=[1.5, 2.0]))


def test_book_checker() -> None:
    book = pd.DataFrame({"line_id": ["L1"], "application_id": ["A1"], "farmer_token": ["T1"], "currency": ["USD"],
                         "limit": [100], "drawn": [50], "outstanding": [60],
                         "start_date": pd.to_datetime(["2024-04-01"]), "maturity_date": pd.to_datetime(["2024-03-01"]),
                         "crop": ["maize"], "region": ["us-nebraska"]})
    with pytest.raises(ContractError, match=r"column 'maturity_date': expected on or after start_date, found earlier dates at L1"):
        check_book(book)


def test_decisions_checker() -> None:
    df = pd.DataFrame({"record_id": ["D1"], "prev_hash": [None], "record_hash": ["h"], "written_at": ["t"],
                       "operator": ["op"], "application_id": ["A1"], "farmer_token": ["T"], "season": ["2024"],
                       "as_of": ["2024-06-01"], "outcome": ["MAYBE"], "limit": [0], "currency": ["USD"],
                       "reason_codes": [""], "body_hash": ["b"], "body": ["{}"]})
    with pytest.raises(ContractError, match="column 'outcome': expected one of APPROVE, REDUCE, DECLINE, REFER, found MAYBE"):
        check_decisions(df)
