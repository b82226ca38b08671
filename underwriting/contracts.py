"""Data contracts owned by the underwriting layer: Applications, Book, Decision.

Money is always an integer number of minor units of the row's ``currency``.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from features.errors import ContractError
from features.schema import Column, TableSpec

__all__ = ["APPLICATIONS", "BOOK", "DECISIONS", "OUTCOMES", "check_applications", "check_book", "check_decisions"]

OUTCOMES = ("APPROVE", "REDUCE", "DECLINE", "REFER")

_MONEY = "minor units"

APPLICATIONS = TableSpec(
    name="Applications",
    key=("application_id",),
    columns=(
        Column("application_id", "str", "—", "the bank's application identifier"),
        Column("farmer_token", "str", "—", "pseudonymous farmer token (keyed HMAC of the identifiers)"),
        Column("season", "str", "year", "season applied for (`YYYY`)"),
        Column("currency", "str", "ISO 4217", "currency of every amount in the row"),
        Column("requested_amount", "int", _MONEY, "credit line requested", min=1),
        Column("requested_term_days", "int", "days", "term requested", min=1),
        Column("existing_debt", "int", _MONEY, "all debt outstanding", min=0),
        Column("debt_due_this_cycle", "int", _MONEY, "principal and interest due this season", min=0),
        Column("other_income", "int", _MONEY, "off-farm and other income this season", min=0),
        Column("living_costs", "int", _MONEY, "household living costs this season", min=0),
        Column("unfinanced_costs", "int", _MONEY, "production costs not financed by this line", min=0),
        Column("prior_liens_on_crop", "int", _MONEY, "claims of other lenders on this crop", min=0),
        Column("contract_crop", "str", "—", "crop under a firm forward contract", nullable=True, required=False),
        Column("contract_price_per_t", "int", f"{_MONEY} / t", "firm contract price", nullable=True, required=False, min=0),
        Column("insurance_guarantee", "int", _MONEY, "crop-insurance guarantee assigned to the lender", nullable=True, required=False, min=0),
    ),
)

BOOK = TableSpec(
    name="Book",
    key=("line_id",),
    columns=(
        Column("line_id", "str", "—", "credit line identifier"),
        Column("application_id", "str", "—", "application that opened the line"),
        Column("farmer_token", "str", "—", "pseudonymous farmer token"),
        Column("currency", "str", "ISO 4217", "currency of the amounts"),
        Column("limit", "int", _MONEY, "approved limit", min=0),
        Column("drawn", "int", _MONEY, "amount drawn so far", min=0),
        Column("outstanding", "int", _MONEY, "principal and interest outstanding", min=0),
        Column("start_date", "date", "day", "line start"),
        Column("maturity_date", "date", "day", "line maturity"),
        Column("crop", "str", "—", "main crop financed"),
        Column("region", "str", "—", "region of the farm"),
        Column("season", "str", "year", "season financed", required=False),
        Column("balance_as_of", "date", "day", "date of the row's balances (limit, drawn, outstanding, maturity); "
               "a Book with it may hold several rows per line, its balance history (key: line_id, balance_as_of), and "
               "a run as of D takes each line's latest row dated on or before D (underwriting.book); without it the "
               "balances are undated, the same at every as-of; the reader refuses an empty cell (empty only on the decided lines D-… a run adds)",
               nullable=True, required=False),
    ),
)

#: a Book with ``balance_as_of``: one row per line and date
BOOK_HISTORY = replace(BOOK, key=("line_id", "balance_as_of"))

DECISIONS = TableSpec(
    name="Decision",
    key=("record_id",),
    columns=(
        Column("record_id", "str", "—", "envelope: id derived from the idempotency key"),
        Column("prev_hash", "str", "sha256", "envelope: hash of the previous record (chain)", nullable=True),
        Column("record_hash", "str", "sha256", "envelope: hash of this record (envelope fields + body hash)"),
        Column("written_at", "str", "ISO 8601 UTC", "envelope: when written"),
        Column("operator", "str", "—", "envelope: who ran it"),
        Column("application_id", "str", "—", "body: application"),
        Column("farmer_token", "str", "—", "body: pseudonymous farmer token"),
        Column("season", "str", "year", "body: season"),
        Column("as_of", "str", "ISO date", "body: as-of date"),
        Column("outcome", "str", "—", "body: outcome", choices=OUTCOMES),
        Column("limit", "int", _MONEY, "body: final limit", min=0),
        Column("currency", "str", "ISO 4217", "body: currency"),
        Column("reason_codes", "str", "—", "body: reason codes, ordered, comma-separated", nullable=True),
        Column("body_hash", "str", "sha256", "SHA-256 of the canonical body JSON"),
        Column("body", "str", "JSON", "canonical body JSON (sorted keys, no whitespace)"),
    ),
)


def check_applications(df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
    """Check the Applications contract."""
    return APPLICATIONS.check(df, where=where)


def check_book(df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
    """Check the Book contract; drawn and outstanding must be consistent with dates. A Book with ``balance_as_of``
    (a balance history) is keyed by line and balance date."""
    (BOOK_HISTORY if "balance_as_of" in df.columns else BOOK).check(df, where=where)
    ctx = where or BOOK.name
    bad = (df["maturity_date"] < df["start_date"]).to_numpy()
    if bad.any():
        raise ContractError(table=ctx, column="maturity_date", expected="on or after start_date",
                            found="earlier dates", offenders=list(df.loc[bad, "line_id"]))
    return df


def check_decisions(df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
    """Check the Decision contract (the flat, exported form of decision records)."""
    return DECISIONS.check(df, where=where)


__doc__ = (__doc__ or "") + "\n\n" + "\n\n".join(s.doc() for s in (APPLICATIONS, BOOK, DECISIONS))
