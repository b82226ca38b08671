"""Price tables: reference crop prices per crop, region and season, in integer minor units.

A price table is a CSV (or a DataFrame) with the columns below; prices are written in
MAJOR units (``212.50``) and converted exactly to integer minor units by the reader
(:func:`models.money.to_minor`). One row per (crop, region, season); one currency per
region. The shipped table (``models/data/prices.csv``) is *illustrative*: flat-ish
series based on USDA NASS season-average prices (us-nebraska, USD) and the Government
of India's kharif minimum support prices (in-smallholder, INR) — replace it with the
bank's own reference prices.

| column | unit | meaning |
|---|---|---|
| `crop` | — | crop name (`maize`, `soybean`, `winter_wheat`, `sorghum`, `rice`, `cotton`) |
| `region` | — | region preset or administrative region |
| `season` | year | season (`YYYY`, harvest year) |
| `currency` | ISO 4217 | currency of the prices |
| `price_per_t` | major units / t | reference price |
| `unit` | — | `t` (metric tonne) |
| `moisture_basis_pct` | % | moisture basis the price refers to |
| `sigma_annual` | share | annual price volatility σ |
| `support_price_per_t` | major units / t | support (floor) price, may be empty |
| `source` | — | where the price comes from |
| `price_date` | day | date of the price |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.errors import PriceError
from models.money import check_currency, to_minor

__all__ = ["PRICE_COLUMNS", "DEFAULT_PRICES", "Price", "PriceTable", "read_prices"]

PRICE_COLUMNS = ("crop", "region", "season", "currency", "price_per_t", "unit", "moisture_basis_pct",
                 "sigma_annual", "support_price_per_t", "source", "price_date")

#: the shipped, illustrative price table of the demo regions
DEFAULT_PRICES = Path(__file__).resolve().parent / "data" / "prices.csv"


@dataclass(frozen=True)
class Price:
    """One reference price (money in integer minor units of ``currency`` per tonne)."""

    crop: str
    region: str
    season: str
    currency: str
    price_per_t: int
    moisture_basis_pct: float
    sigma_annual: float
    support_price_per_t: int | None
    source: str
    price_date: str

    @property
    def source_with_date(self) -> str:
        return f"{self.source} ({self.price_date})"


class PriceTable:
    """A checked price table; look prices up by crop, region and season."""

    def __init__(self, prices: list[Price], *, origin: str = "price table") -> None:
        self.origin = origin
        self._by_key: dict[tuple[str, str, str], Price] = {}
        dups = []
        for p in prices:
            k = (p.crop, p.region, p.season)
            if k in self._by_key:
                dups.append("/".join(k))
            self._by_key[k] = p
        if dups:
            raise PriceError(problem=f"{origin}: duplicate rows for crop/region/season", offenders=tuple(dups))
        cur: dict[str, set[str]] = {}
        for p in prices:
            cur.setdefault(p.region, set()).add(p.currency)
        mixed = [f"{r}: {', '.join(sorted(c))}" for r, c in sorted(cur.items()) if len(c) > 1]
        if mixed:
            raise PriceError(problem=f"{origin}: currencies never mix within a region, found", offenders=tuple(mixed))
        self._currency = {r: next(iter(c)) for r, c in cur.items()}

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def regions(self) -> list[str]:
        return sorted(self._currency)

    def currency_of(self, region: str) -> str:
        """The one currency of a region's prices."""
        if region not in self._currency:
            raise PriceError(problem=f"{self.origin}: no prices for region", offenders=[region])
        return self._currency[region]

    def lookup(self, crop: str, region: str, season: str | int) -> Price:
        """The price of a crop in a region and season, or a PriceError naming them."""
        k = (str(crop), str(region), str(season))
        if k not in self._by_key:
            raise PriceError(problem=f"{self.origin}: no price for crop {crop!r} in region {region!r}, season {season}",
                             offenders=["/".join(k)])
        return self._by_key[k]

    def lookup_many(self, keys: pd.DataFrame) -> list[Price]:
        """Prices for the rows of a frame with ``crop``, ``region`` and ``season``; all missing ones in one error."""
        out: list[Price] = []
        missing: list[str] = []
        for crop, region, season in zip(keys["crop"].astype(str), keys["region"].astype(str),
                                        keys["season"].astype(str)):
            p = self._by_key.get((crop, region, season))
            if p is None:
                missing.append(f"{crop}/{region}/{season}")
            else:
                out.append(p)
        if missing:
            uniq = list(dict.fromkeys(missing))
            raise PriceError(problem=f"{self.origin}: no price for crop/region/season", offenders=tuple(uniq))
        return out

    def to_frame(self) -> pd.DataFrame:
        """The table, money in integer minor units."""
        rows = [p.__dict__ for p in sorted(self._by_key.values(), key=lambda p: (p.region, p.crop, p.season))]
        return pd.DataFrame(rows, columns=list(Price.__dataclass_fields__))


def _opt_str(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def read_prices(source: str | Path | pd.DataFrame | None = None) -> PriceTable:
    """Read a price table (CSV path or DataFrame; default: the shipped illustrative table)."""
    if isinstance(source, pd.DataFrame):
        df, origin = source, "price table"
    else:
        path = Path(source) if source is not None else DEFAULT_PRICES
        if source is None:  # the shipped table and a bank's own region prices (features.regions)
            from features.regions import merged

            df = merged("prices.csv", path, lambda p: pd.read_csv(p, dtype=str, keep_default_na=False))
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        origin = f"price table {path.name}"
    missing = [c for c in PRICE_COLUMNS if c not in df.columns]
    if missing:
        raise PriceError(problem=f"{origin}: missing columns", offenders=tuple(missing))
    prices: list[Price] = []
    for i, r in enumerate(df.to_dict("records")):
        where = f"{origin} row {i + 2}"
        unit = _opt_str(r["unit"])
        if unit != "t":
            raise PriceError(problem=f"{where}: unit must be 't' (per metric tonne)", offenders=[unit])
        cur = check_currency(r["currency"], where=f"{where} currency")
        support = _opt_str(r["support_price_per_t"])
        try:
            moist, sigma = float(r["moisture_basis_pct"]), float(r["sigma_annual"])
        except (TypeError, ValueError):
            raise PriceError(problem=f"{where}: moisture_basis_pct and sigma_annual must be numbers",
                             offenders=[r["moisture_basis_pct"], r["sigma_annual"]]) from None
        price = to_minor(r["price_per_t"], cur, where=f"{where} price_per_t")
        if price <= 0 or not (0 <= sigma < 5):  # NaN fails too; inf (or 500%/year) made every stressed price 0
            raise PriceError(problem=f"{where}: price must be > 0 and sigma_annual a share in [0, 5)",
                             offenders=[r["price_per_t"], r["sigma_annual"]])
        if not (0 <= moist < 100):  # yields are converted by (100 - basis): 100% moisture is no grain
            raise PriceError(problem=f"{where}: moisture_basis_pct must be a percentage in [0, 100)",
                             offenders=[r["moisture_basis_pct"]])
        prices.append(Price(
            crop=_opt_str(r["crop"]), region=_opt_str(r["region"]), season=_opt_str(r["season"]), currency=cur,
            price_per_t=price, moisture_basis_pct=moist, sigma_annual=sigma,
            support_price_per_t=to_minor(support, cur, where=f"{where} support_price_per_t") if support else None,
            source=_opt_str(r["source"]), price_date=_opt_str(r["price_date"]),
        ))
    return PriceTable(prices, origin=origin)
