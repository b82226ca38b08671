"""Concentration headroom of decisions (private to :mod:`underwriting.decisions`): the Book's exposure and caps at the
start of a run, consumed in application order.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pandas as pd

from underwriting.policy import Profile


def _share_floor(total: int, share: float) -> int:
    """``floor(total × share)`` in exact decimal arithmetic (the share as written in the policy file)."""
    return int((Decimal(int(total)) * Decimal(str(share))).to_integral_value(rounding=ROUND_FLOOR))


@dataclass
class Headroom:
    """Concentration headroom from the Book at the start of a run, consumed in application order."""

    book_total: int
    applies: bool
    max_borrower: int
    max_crop_region: int
    borrower: dict[str, int] = field(default_factory=dict)
    crop_region: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_book(cls, book: pd.DataFrame, profile: Profile, *, as_of: date | None = None,
                  exclude_lines: Collection[str] = ()) -> Headroom:
        """Exposure = committed limits of the Book's lines in the profile's currency that have not matured before
        ``as_of`` (a repaid line is no exposure). The caps are shares of the whole Book; ``exclude_lines`` (the lines
        a re-underwriting re-decides) are left out of the exposure only — they are not exposure against their own
        re-decision, but they are still part of the Book the shares are taken of."""
        b = book[book["currency"] == profile.currency] if len(book) else book
        if as_of is not None and len(b) and "maturity_date" in b.columns:
            b = b[pd.to_datetime(b["maturity_date"]) >= pd.Timestamp(as_of)]
        total = int(b["limit"].sum()) if len(b) else 0
        if exclude_lines and len(b):
            b = b[~b["line_id"].astype(str).isin({str(x) for x in exclude_lines})]
        borrower = {str(k): int(v) for k, v in b.groupby("farmer_token")["limit"].sum().items()} if len(b) else {}
        crop_region = ({f"{c}|{r}": int(v) for (c, r), v in b.groupby(["crop", "region"])["limit"].sum().items()}
                       if len(b) else {})
        # floored exactly (Decimal): 0.29 x 50,000 is 14,500, not 14,499 as binary floating point gives
        return cls(book_total=total, applies=total >= profile.min_book_for_concentration,
                   max_borrower=_share_floor(total, profile.max_share_borrower),
                   max_crop_region=_share_floor(total, profile.max_share_crop_region),
                   borrower=borrower, crop_region=crop_region)

    def available(self, token: str, crop: str | None, region: str | None) -> int | None:
        """Headroom for this borrower and crop-region (None when the caps do not apply)."""
        if not self.applies:
            return None
        room = self.max_borrower - self.borrower.get(token, 0)
        if crop is not None:
            room = min(room, self.max_crop_region - self.crop_region.get(f"{crop}|{region}", 0))
        return max(0, room)

    def consume(self, token: str, crop: str | None, region: str | None, amount: int) -> None:
        self.borrower[token] = self.borrower.get(token, 0) + amount
        if crop is not None:
            key = f"{crop}|{region}"
            self.crop_region[key] = self.crop_region.get(key, 0) + amount

    def snapshot(self, token: str, crop: str | None, region: str | None) -> dict[str, Any]:
        return {"book_total": self.book_total, "applies": self.applies, "max_borrower": self.max_borrower,
                "max_crop_region": self.max_crop_region, "borrower_exposure": self.borrower.get(token, 0),
                "crop": crop, "region": region,
                "crop_region_exposure": self.crop_region.get(f"{crop}|{region}", 0) if crop is not None else None}
