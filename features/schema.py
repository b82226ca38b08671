"""Table contracts: one declarative spec per table and one checker.

Every data contract of agcredit (DESIGN.md) is a :class:`TableSpec`: a list of
:class:`Column` entries (name, dtype kind, unit, meaning, nullability) and the key
columns. ``spec.doc()`` renders the docstring table; ``spec.check(df)`` raises a
:class:`~features.errors.ContractError` naming the column, what was expected, what
was found, at most five offending keys and their count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np
import pandas as pd

from features.errors import ContractError

__all__ = ["Column", "TableSpec"]

MAX_LISTED = 5

_KIND_LABEL = {
    "str": "string",
    "int": "integer",
    "float": "float",
    "bool": "boolean",
    "date": "date",
    "geometry": "geometry",
    "any": "any",
}


@dataclass(frozen=True)
class Column:
    """One column of a contract.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``date``, ``geometry``,
    ``any``. ``nullable`` allows missing values; ``required=False`` allows the column
    to be absent altogether. ``choices`` restricts values; ``min`` and ``max`` bound numbers
    (inclusive).
    """

    name: str
    kind: str
    unit: str
    meaning: str
    nullable: bool = False
    required: bool = True
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TableSpec:
    """A table contract: named columns and a unique key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    prefixes: tuple[str, ...] = field(default=())

    def doc(self) -> str:
        """Render the contract as a Markdown table (column, dtype, unit, meaning)."""
        lines = [
            f"{self.name} (key: {', '.join(self.key)})",
            "",
            "| column | dtype | unit | meaning |",
            "|---|---|---|---|",
        ]
        for c in self.columns:
            flags = []
            if c.nullable:
                flags.append("may be empty")
            if not c.required:
                flags.append("optional")
            extra = f" ({'; '.join(flags)})" if flags else ""
            lines.append(f"| `{c.name}` | {_KIND_LABEL[c.kind]} | {c.unit} | {c.meaning}{extra} |")
        for p in self.prefixes:
            lines.append(f"| `{p}*` | float | — | further columns of this family |")
        return "\n".join(lines)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def check(self, df: pd.DataFrame, *, where: str | None = None) -> pd.DataFrame:
        """Check ``df`` against the contract and return it unchanged.

        Raises ContractError on the first problem found, in column order.
        """
        ctx = where or self.name
        missing = [c.name for c in self.columns if c.required and c.name not in df.columns]
        if missing:
            raise ContractError(
                table=ctx,
                column=missing[0],
                expected="column present",
                found=f"missing (also missing: {', '.join(missing[1:])})" if missing[1:] else "missing",
            )
        keys = _LazyKeys(df, self.key)  # row labels are built only to name offenders
        for c in self.columns:
            if c.name not in df.columns:
                continue
            _check_column(ctx, c, df[c.name], keys)
        key_cols = [k for k in self.key if k in df.columns]
        if key_cols and len(df):
            dup = df.duplicated(subset=key_cols, keep=False)
            if dup.any():
                bad = sorted(set(keys[dup.to_numpy()]))
                raise ContractError(
                    table=ctx,
                    column="+".join(key_cols),
                    expected="unique key",
                    found="duplicate keys",
                    offenders=bad,
                )
        return df


class _LazyKeys:
    """The key labels of ``df``'s rows, built on first use (only when a check fails)."""

    def __init__(self, df: pd.DataFrame, key: Sequence[str]) -> None:
        self._df, self._key = df, key
        self._labels: np.ndarray | None = None

    def __getitem__(self, mask: np.ndarray) -> np.ndarray:
        if self._labels is None:
            self._labels = _key_labels(self._df, self._key)
        return self._labels[mask]


def _empty_after_strip(s: pd.Series, present: np.ndarray) -> np.ndarray:
    """``present & (v.strip() == "")`` per value; Python's ``str.strip`` only on values that start with whitespace."""
    first = s.str.slice(0, 1)
    ws = [f for f in first.dropna().unique() if f == "" or f.isspace()]
    if not ws:
        return np.zeros(len(s), dtype=bool)
    cand = present & first.isin(ws).to_numpy()
    out = np.zeros(len(s), dtype=bool)
    idx = np.flatnonzero(cand)
    vals = s.to_numpy(dtype=object)
    out[idx] = [not vals[i].strip() for i in idx]
    return out


def _key_labels(df: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    cols = [k for k in key if k in df.columns]
    if not cols:
        return np.array([f"row {i}" for i in range(len(df))], dtype=object)
    parts = [df[k].astype("string").fillna("<NA>").to_numpy(dtype=object) for k in cols]
    out = parts[0]
    for p in parts[1:]:
        out = np.array([f"{a}/{b}" for a, b in zip(out, p, strict=True)], dtype=object)
    return np.asarray(out, dtype=object)


def _fail(ctx: str, c: Column, expected: str, found: str, mask: np.ndarray, keys: _LazyKeys) -> NoReturn:
    raise ContractError(
        table=ctx, column=c.name, expected=expected, found=found, offenders=list(keys[mask])
    )


def _check_column(ctx: str, c: Column, s: pd.Series, keys: _LazyKeys) -> None:
    if c.kind == "geometry":
        return  # geometry is checked by the geometry validators
    isna = s.isna().to_numpy()
    if not c.nullable and isna.any():
        _fail(ctx, c, "no missing values", "missing values", isna, keys)
    present = ~isna
    if c.kind == "any":
        return
    if c.kind == "str":
        if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
            raise ContractError(table=ctx, column=c.name, expected="string", found=str(s.dtype))
        if not isinstance(s.dtype, pd.StringDtype):  # a string dtype holds strings only
            vals = s.to_numpy(dtype=object)
            notstr = np.array([p and not isinstance(v, str) for v, p in zip(vals, present, strict=True)], dtype=bool)
            if notstr.any():
                _fail(ctx, c, "string", "non-string values", notstr, keys)
        if c.choices is not None:  # every present value is a string here
            bad = present & ~s.isin(c.choices).to_numpy(dtype=bool)
            if bad.any():
                found = ", ".join(sorted({str(v) for v in s.to_numpy(dtype=object)[bad]})[:MAX_LISTED])
                _fail(ctx, c, f"one of {', '.join(c.choices)}", found, bad, keys)
        if not c.nullable:
            empty = _empty_after_strip(s.astype("str") if not isinstance(s.dtype, pd.StringDtype) else s, present)
            if empty.any():
                _fail(ctx, c, "non-empty string", "empty strings", empty, keys)
        return
    if c.kind == "int":
        if not pd.api.types.is_integer_dtype(s):
            if pd.api.types.is_float_dtype(s) and c.nullable:
                frac = present & (np.asarray(s.fillna(0)) % 1 != 0)
                if frac.any():
                    _fail(ctx, c, "integer", "fractional values", frac, keys)
            else:
                raise ContractError(table=ctx, column=c.name, expected="integer", found=str(s.dtype))
    elif c.kind == "float":
        if not (pd.api.types.is_float_dtype(s) or pd.api.types.is_integer_dtype(s)):
            raise ContractError(table=ctx, column=c.name, expected="float", found=str(s.dtype))
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        inf = present & ~np.isfinite(np.where(present, arr, 0.0))
        if inf.any():
            _fail(ctx, c, "finite numbers", "infinite values", inf, keys)
    elif c.kind == "bool":
        if not pd.api.types.is_bool_dtype(s):
            raise ContractError(table=ctx, column=c.name, expected="boolean", found=str(s.dtype))
        return
    elif c.kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(s):
            raise ContractError(table=ctx, column=c.name, expected="date (datetime64)", found=str(s.dtype))
        return
    if c.min is not None and c.kind in ("int", "float"):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        low = present & (np.where(present, arr, c.min) < c.min)
        if low.any():
            _fail(ctx, c, f">= {c.min:g}", "smaller values", low, keys)
    if c.max is not None and c.kind in ("int", "float"):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        high = present & (np.where(present, arr, c.max) > c.max)
        if high.any():
            _fail(ctx, c, f"<= {c.max:g}", "larger values", high, keys)

