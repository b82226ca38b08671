"""Price tables: the shipped table, exact minor units, and clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from models.errors import MoneyError, PriceError
from models.prices import DEFAULT_PRICES, PRICE_COLUMNS, read_prices


def _row(**kw: str) -> dict[str, str]:
    r = {"crop": "maize", "region": "r1", "season": "2020", "currency": "USD", "price_per_t": "180.25", "unit": "t",
         "moisture_basis_pct": "15.5", "sigma_annual": "0.2", "support_price_per_t": "", "source": "test",
         "price_date": "2020-10-01"}
    r.update(kw)
    return r


def test_shipped_table_covers_demo_regions_crops_and_seasons() -> None:
    t = read_prices()
    assert len(t) == 189
    assert t.regions == ["in-smallholder", "us-nebraska"]
    assert t.currency_of("us-nebraska") == "USD" and t.currency_of("in-smallholder") == "INR"
    df = t.to_frame()
    want = {"us-nebraska": {"maize", "soybean", "winter_wheat", "sorghum"},
            "in-smallholder": {"rice", "maize", "cotton"}}
    for region, crops in want.items():
        sub = df[df["region"] == region]
        assert set(sub["crop"]) == crops
        for crop in crops:
            seasons = sorted(sub.loc[sub["crop"] == crop, "season"].astype(int))
            assert seasons == list(range(2000, 2027)), (region, crop)
    assert df["source"].str.startswith("illustrative").all()
    basis = {p: df.loc[(df["region"] == "us-nebraska") & (df["crop"] == p), "moisture_basis_pct"].unique().tolist()
             for p in ("maize", "soybean", "winter_wheat", "sorghum")}
    assert basis == {"maize": [15.5], "soybean": [13.0], "winter_wheat": [13.5], "sorghum": [14.0]}


def test_prices_are_integer_minor_units_and_support_price_is_msp() -> None:
    t = read_prices(DEFAULT_PRICES)
    p = t.lookup("rice", "in-smallholder", 2024)
    assert p.currency == "INR"
    assert p.support_price_per_t == 2_300_000  # INR 2,300 per quintal = INR 23,000.00 per tonne, in paise
    assert isinstance(p.price_per_t, int) and p.price_per_t >= p.support_price_per_t
    us = t.lookup("maize", "us-nebraska", "2020")
    assert us.support_price_per_t is None
    assert 10_000 < us.price_per_t < 40_000  # USD 100–400 per tonne, in cents
    assert "2021-08-31" in us.source_with_date


def test_decimal_prices_convert_exactly() -> None:
    t = read_prices(pd.DataFrame([_row(price_per_t="180.25", support_price_per_t="150.10")]))
    p = t.lookup("maize", "r1", "2020")
    assert (p.price_per_t, p.support_price_per_t) == (18025, 15010)


def test_missing_price_names_crop_region_and_season() -> None:
    with pytest.raises(PriceError, match=r"no price for crop 'soybean' in region 'us-nebraska', season 1999"):
        read_prices().lookup("soybean", "us-nebraska", 1999)
    keys = pd.DataFrame({"crop": ["maize", "teff", "teff"], "region": ["us-nebraska"] * 3,
                         "season": ["2020", "2020", "2020"]})
    with pytest.raises(PriceError, match=r"teff/us-nebraska/2020 \(1 in all\)"):
        read_prices().lookup_many(keys)


def test_table_errors() -> None:
    with pytest.raises(PriceError, match="duplicate rows.*maize/r1/2020"):
        read_prices(pd.DataFrame([_row(), _row()]))
    with pytest.raises(PriceError, match="currencies never mix within a region.*r1: EUR, USD"):
        read_prices(pd.DataFrame([_row(), _row(crop="soybean", currency="EUR")]))
    with pytest.raises(PriceError, match="unit must be 't'"):
        read_prices(pd.DataFrame([_row(unit="bu")]))
    with pytest.raises(PriceError, match="missing columns.*source"):
        read_prices(pd.DataFrame([_row()]).drop(columns=["source"]))
    with pytest.raises(MoneyError, match="at most 2 decimals for USD"):
        read_prices(pd.DataFrame([_row(price_per_t="180.255")]))
    with pytest.raises(MoneyError, match="ISO 4217"):
        read_prices(pd.DataFrame([_row(currency="XXX")]))
    with pytest.raises(PriceError, match="price must be > 0"):
        read_prices(pd.DataFrame([_row(price_per_t="0")]))


@pytest.mark.parametrize(("kw", "pattern"), [
    ({"sigma_annual": "inf"}, r"sigma_annual a share in \[0, 5\)"),   # every stressed price was 0: all declined
    ({"sigma_annual": "nan"}, r"sigma_annual a share in \[0, 5\)"),   # crashed mid-batch (NaN to integer)
    ({"sigma_annual": "-0.1"}, r"sigma_annual a share in \[0, 5\)"),
    ({"moisture_basis_pct": "100"}, r"moisture_basis_pct must be a percentage in \[0, 100\)"),  # division by 0
    ({"moisture_basis_pct": "-1"}, r"moisture_basis_pct must be a percentage in \[0, 100\)"),
])
def test_price_parameters_that_would_break_every_decision_are_refused(kw: dict[str, str], pattern: str) -> None:
    with pytest.raises(PriceError, match=pattern):
        read_prices(pd.DataFrame([_row(**kw)]))


def test_csv_round_trip(tmp_path) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame([_row(), _row(crop="soybean", price_per_t="400")])[list(PRICE_COLUMNS)].to_csv(path, index=False)
    t = read_prices(path)
    assert t.lookup("soybean", "r1", 2020).price_per_t == 40000
    assert t.origin == "price table p.csv"
