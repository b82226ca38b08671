"""Pseudonymous farmer tokens: a keyed HMAC of the farmer's identifiers.

Readers call :func:`tokenise` at the edge: personal identifiers (name, national ID,
phone) become ``farmer_token`` and are dropped, so nothing downstream ever holds
them. The key comes from ``AGCREDIT_TOKEN_KEY``; it is never logged or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata

import pandas as pd

from features.errors import UserInputError

__all__ = ["IDENTIFIER_COLUMNS", "TOKEN_KEY_ENV", "farmer_token", "tokenise", "token_key"]

TOKEN_KEY_ENV = "AGCREDIT_TOKEN_KEY"
#: columns that hold personal identifiers, in the order used to derive the token
IDENTIFIER_COLUMNS = ("national_id", "farmer_id", "farmer_name", "phone")
_MIN_KEY = 16


class TokenKeyMissing(UserInputError):
    """Identifiers are present but no usable key is set to pseudonymise them (unset, or too short).

    ``length`` is the length of the key that is set (0: not set); the key itself is never kept or shown.
    """

    def __init__(self, *, source: str, length: int = 0) -> None:
        self.source = source
        self.length = length
        state = "is not set" if length == 0 else f"is too short ({length} characters)"
        super().__init__(
            f"{source}: personal identifiers found but {TOKEN_KEY_ENV} {state} "
            f"(set it to a secret of at least {_MIN_KEY} characters)"
        )


def token_key(source: str) -> bytes:
    """The HMAC key from the environment, or a one-line error naming ``source`` (unset or too short)."""
    key = os.environ.get(TOKEN_KEY_ENV, "")
    if len(key) < _MIN_KEY:
        raise TokenKeyMissing(source=source, length=len(key))
    return key.encode("utf-8")


def _norm(v: object) -> str:
    s = unicodedata.normalize("NFKC", str(v)).strip().casefold()
    return "".join(ch for ch in s if ch.isalnum())


def farmer_token(identifier: str, key: bytes) -> str:
    """``'F'`` + 20 hex digits of HMAC-SHA256(key, normalised identifier)."""
    return "F" + hmac.new(key, _norm(identifier).encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def tokenise(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Replace identifier columns by ``farmer_token`` (if not already present) and drop them.

    The token is derived from the first identifier column present in
    :data:`IDENTIFIER_COLUMNS` order (national ID preferred); rows lacking it are an error.
    """
    present = [c for c in IDENTIFIER_COLUMNS if c in df.columns]
    if not present:
        return df
    out = df.drop(columns=present)
    if "farmer_token" in df.columns and df["farmer_token"].notna().all():
        return out
    key = token_key(source)
    basis = present[0]
    vals = df[basis]
    missing = vals.isna() | (vals.astype("string").str.strip() == "")
    if missing.any():
        from features.errors import format_offenders

        raise UserInputError(
            f"{source}: column '{basis}': expected an identifier on every row, found missing values at rows "
            f"{format_offenders([int(i) + 2 for i in range(len(df)) if bool(missing.iloc[i])])}"
        )
    out = out.copy()
    out["farmer_token"] = [farmer_token(v, key) for v in vals.astype(str)]
    return out
