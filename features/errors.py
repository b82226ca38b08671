"""Errors of the features package. Each builds its message from its arguments."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AgcreditError",
    "ContractError",
    "FieldsError",
    "ImageryError",
    "PicklableError",
    "UserInputError",
    "file_rows",
    "format_offenders",
    "missing_cells",
    "refuse_empty_cells",
]

MAX_LISTED = 5


def format_offenders(offenders: Sequence[object]) -> str:
    """At most five offenders and a count: ``'a, b, c (3)'`` or ``'a, …, e and 7 more (12)'``."""
    items = [str(o) for o in offenders]
    n = len(items)
    if n == 0:
        return ""
    head = ", ".join(items[:MAX_LISTED])
    more = f" and {n - MAX_LISTED} more" if n > MAX_LISTED else ""
    return f"{head}{more} ({n} in all)"


def file_rows(source: str, positions: Sequence[int]) -> list[str]:
    """Where 0-based data rows of the file ``source`` are, as a user finds them: ``'line N'`` in a CSV (its header
    is line 1), ``'row N'`` (1-based) in any other table (GeoPackage, Parquet, GeoJSON features)."""
    csv = str(source).lower().endswith((".csv", ".tsv", ".txt"))
    return [f"line {int(i) + 2}" if csv else f"row {int(i) + 1}" for i in positions]


def missing_cells(values: Sequence[object]) -> list[int]:
    """0-based positions of empty cells (None, NaN, NA, blank text) in ``values``."""
    out = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
            out.append(i)
        elif type(v).__name__ in ("NAType", "NaTType"):
            out.append(i)
    return out


def refuse_empty_cells(table: Any, columns: Sequence[str], source: str) -> None:
    """A :class:`ContractError` naming, by their place in the file (:func:`file_rows`), the rows of ``table`` with an
    empty cell in one of ``columns`` (those present): a message naming such a row by its empty key would say
    'nan' or '<NA>'."""
    for col in columns:
        if col in table.columns:
            blank = missing_cells(list(table[col]))
            if blank:
                raise ContractError(table=source, column=col, expected="a value on every row", found="empty cells",
                                    offenders=file_rows(source, blank))


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    """An error of ``cls`` with its message ``args`` and attributes ``state``, without calling its ``__init__``."""
    e = cls.__new__(cls)
    e.args = args
    e.__dict__.update(state)
    return e


class PicklableError(Exception):
    """An error that survives pickling although its ``__init__`` takes keyword-only arguments (pickle calls
    ``cls(*args)``, which they refuse): a user error raised inside a Dask task reached the client as a bare
    ``Exception`` and its traceback, not the one-line message with exit code 2."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


class AgcreditError(PicklableError):
    """Base of every agcredit error."""


class UserInputError(AgcreditError, ValueError):
    """Bad input from the user: the CLI prints the message on one line and exits with 2."""


class ContractError(UserInputError):
    """A table does not follow its data contract."""

    def __init__(
        self,
        *,
        table: str,
        column: str,
        expected: str,
        found: str,
        offenders: Sequence[object] = (),
    ) -> None:
        self.table = table
        self.column = column
        self.expected = expected
        self.found = found
        self.offenders = list(offenders)
        msg = f"{table}: column '{column}': expected {expected}, found {found}"
        if self.offenders:
            msg += f" at {format_offenders(self.offenders)}"
        super().__init__(msg)


class FieldsError(UserInputError):
    """A field file cannot be used (unreadable, no CRS, bad geometries)."""

    def __init__(self, *, source: str, problem: str, offenders: Sequence[object] = ()) -> None:
        self.source = source
        self.problem = problem
        self.offenders = list(offenders)
        msg = f"{source}: {problem}"
        if self.offenders:
            msg += f": {format_offenders(self.offenders)}"
        super().__init__(msg)


class ImageryError(UserInputError):
    """Imagery cannot be used (missing scenes, bad index, clouds only)."""

    def __init__(self, *, source: str, problem: str, offenders: Sequence[object] = ()) -> None:
        self.source = source
        self.problem = problem
        self.offenders = list(offenders)
        msg = f"{source}: {problem}"
        if self.offenders:
            msg += f": {format_offenders(self.offenders)}"
        super().__init__(msg)
