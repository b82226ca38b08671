"""The price table of decisions (private to :mod:`underwriting.decisions`): its columns and check, the prices known on
a decision date, the price row of a crop and region.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from features.errors import ContractError
from underwriting._decision_values import _row

PRICE_COLUMNS = ("crop", "region", "season", "currency", "price_per_t", "moisture_basis_pct", "sigma_annual",
                 "support_price_per_t", "source", "price_date")


def check_prices(prices: pd.DataFrame, *, where: str = "price table") -> pd.DataFrame:
    """Check the price-table columns this module needs."""
    for c in PRICE_COLUMNS:
        if c not in prices.columns:
            raise ContractError(table=where, column=c, expected="column present", found="missing")
    for c in ("price_per_t", "support_price_per_t"):
        s = prices[c]
        if not (pd.api.types.is_integer_dtype(s) or s.isna().all()
                or (pd.api.types.is_float_dtype(s) and bool((s.dropna() % 1 == 0).all()))):
            raise ContractError(table=where, column=c, expected="integer minor units", found=str(s.dtype))
    return prices


def prices_known_on(prices: pd.DataFrame, season: str, day: date) -> tuple[pd.DataFrame, list[str]]:
    """The price table a lender deciding on ``day`` had for ``season``: each of the season's rows dated after ``day``
    (a season average published after the harvest) is replaced by the latest row of the same crop and region dated on
    or before ``day`` (another season's), relabelled to ``season`` with its source saying so; a row with no such
    earlier price is kept and named in the returned warnings (hindsight that cannot be avoided). Rows of other
    seasons are left as they are (the backtest's realised values price each season at its own table price).

    Decisions apply it under policy ``prices_known_at_decision`` (2026.12.9 on), the backtest always; applied twice
    it gives the same table."""
    out = prices.copy()
    dates = pd.to_datetime(out["price_date"].replace("", None), errors="coerce")
    day_ts = pd.Timestamp(day)
    rows = (out["season"].astype(str) == str(season)) & (dates > day_ts)
    warnings: list[str] = []
    for i in out.index[rows.to_numpy()]:
        crop, region = out.at[i, "crop"], out.at[i, "region"]
        same = (out["crop"] == crop) & (out["region"] == region) & (dates <= day_ts)
        if not same.any():
            warnings.append(f"the {crop} price of {region} {season} is dated {out.at[i, 'price_date']}, after the "
                            f"decision ({day}), and no earlier price is known: used as it is (hindsight)")
            continue
        j = dates[same].sort_values(kind="stable").index[-1]
        for col in ("price_per_t", "support_price_per_t", "sigma_annual", "moisture_basis_pct", "price_date",
                    "currency"):
            out.at[i, col] = prices.at[j, col]
        out.at[i, "source"] = (f"the latest price known on {day}: {crop} {region} season {prices.at[j, 'season']} "
                               f"({prices.at[j, 'source']})")
    return out, warnings


def _known_prices(prices: pd.DataFrame, season: str, day: date,
                  cache: dict[tuple[Any, ...], Any] | None) -> pd.DataFrame:
    """:func:`prices_known_on`'s table, once per (table, season, day) of a batch (the cache holds the table, so its
    ``id`` keys :func:`_price_row`'s cache for as long as the batch runs)."""
    if cache is None:
        return prices_known_on(prices, season, day)[0]
    key = ("known_on", id(prices), season, day)
    if key not in cache:
        cache[key] = prices_known_on(prices, season, day)[0]
    known: pd.DataFrame = cache[key]
    return known


def _price_row(prices: pd.DataFrame, crop: str | None, region: str | None, season: str,
               cache: dict[tuple[Any, ...], Any] | None = None) -> dict[str, Any] | None:
    if crop is None:
        return None
    if cache is not None:
        key = (id(prices), crop, region, season)
        if key not in cache:
            cache[key] = _price_row(prices, crop, region, season)
        return dict(cache[key]) if cache[key] is not None else None
    cand = prices[(prices["crop"] == crop) & (prices["season"].astype(str) == season)]
    exact = cand[cand["region"] == region] if region is not None else cand.iloc[0:0]
    if exact.empty:
        exact = cand[cand["region"].isna() | (cand["region"].astype(str) == "")]
    if exact.empty:
        return None
    row = _row(exact.sort_values("price_date", kind="stable").iloc[-1])
    row["price_per_t"] = int(row["price_per_t"])
    if row.get("support_price_per_t") is not None:
        row["support_price_per_t"] = int(row["support_price_per_t"])
    return row
