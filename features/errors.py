"""Errors of the features package. Each builds its message from its arguments."""

from __future__ import annotations

import functools
import math
import unicodedata
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
    "id_key",
    "missing_cells",
    "refuse_empty_cells",
    "refuse_unprintable_cells",
    "remember_csv",
    "unprintable_cells",
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
    """Where 0-based data rows of the file ``source`` are, as a user finds them: ``'line N'`` in a CSV — the line
    the record starts on in the file, as an editor numbers it (:func:`_record_lines`: blank lines, which pandas
    skips, and cells spanning lines counted; the header line 1 when the file cannot be read) —, ``'row N'``
    (1-based) in any other table (GeoPackage, Parquet, GeoJSON features)."""
    if not str(source).lower().endswith((".csv", ".tsv", ".txt")):
        return [f"row {int(i) + 1}" for i in positions]
    lines = _record_lines(_READ_CSV.get(str(source), str(source)))
    return [f"line {lines[int(i)] if 0 <= int(i) < len(lines) else int(i) + 2}" for i in positions]


#: the CSVs read (:func:`remember_csv`), by the name a message gives them (the file's name or its path as given)
_READ_CSV: dict[str, str] = {}


def remember_csv(path: Any) -> None:
    """Note that the CSV ``path`` was read, so that :func:`file_rows` finds its lines when a message names it by its
    file name only (``'apps.csv: … at line 6'``)."""
    import os

    full = os.path.abspath(str(path))
    _READ_CSV[os.path.basename(full)] = _READ_CSV[str(path)] = full


def _record_lines(path: str) -> tuple[int, ...]:
    """The line each data record of the CSV ``path`` starts on (1-based), in the order pandas reads them: the first
    non-blank record is the header, a line empty or of spaces and tabs only is skipped (pandas' ``skip_blank_lines``;
    a quoted ``""`` or a no-break space is a row),
    a quoted cell holding line breaks spans its lines; () when the file cannot be read."""
    import csv
    import os

    try:
        st = os.stat(path)
        return _record_lines_of(path, st.st_mtime_ns, st.st_size)
    except (OSError, csv.Error, UnicodeError):
        return ()


@functools.lru_cache(maxsize=8)
def _record_lines_of(path: str, mtime_ns: int, size: int) -> tuple[int, ...]:
    """:func:`_record_lines` of the file as it is (``mtime_ns`` and ``size`` key the cache)."""
    import csv

    starts, end = [], 0
    chunk: list[str] = []  # the raw lines of the record being read

    def lines(f: Any) -> Any:
        for line in f:
            chunk.append(line)
            yield line

    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(lines(f), delimiter="\t" if path.lower().endswith(".tsv") else ",")
        for _rec in reader:
            start, end = end + 1, reader.line_num
            # blank as pandas has it: spaces and tabs only (a quoted "" or a no-break space is a row — a review)
            if "".join(chunk).strip(" \t\r\n"):
                starts.append(start)
            chunk.clear()
    return tuple(starts[1:])


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


#: the invisible format characters an id may hold: the joiners some scripts are spelt with (U+200C, U+200D)
_JOINERS = frozenset("\u200c\u200d")
#: what a refused id holds, for the messages (the id itself is never quoted: it would break the line or hide)
UNPRINTABLE = ("a control or invisible character (a line break, a tab, an escape, a zero-width space, a direction mark: "
               "pasted from another program?)")


def _unprintable(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in _JOINERS for ch in text)


def unprintable_cells(values: Sequence[object]) -> list[int]:
    """0-based positions of the text cells of ``values`` holding a control character (a line break, a tab, an escape)
    or an invisible format character (a zero-width space, a direction mark or override, a byte-order mark): an id
    holding one is kept in the permanent records, breaks a one-line message in two (or re-orders or hides it) and
    looks like another id without it."""
    return [i for i, v in enumerate(values) if isinstance(v, str) and _unprintable(v)]


def refuse_unprintable_cells(table: Any, columns: Sequence[str], source: str,
                             positions: Sequence[int] | None = None) -> None:
    """A :class:`ContractError` naming, by their place in the file (:func:`file_rows`; ``positions``: each row's
    0-based place when ``table`` is not in file order), the rows whose cell in one of ``columns`` (those present) holds
    a character :func:`unprintable_cells` finds — never the cell itself."""
    for col in columns:
        if col in table.columns:
            bad = unprintable_cells(list(table[col]))
            if bad:
                where = [int(positions[i]) for i in bad] if positions is not None else bad
                raise ContractError(table=source, column=col, expected="printable text (ids are kept in the "
                                    "permanent records and shown in one-line messages)", found=UNPRINTABLE,
                                    offenders=file_rows(source, where))


def id_key(value: object) -> str:
    """An id as a person reads it: compatibility-normalised (NFKC: a full-width ``Ｆ0001`` is ``F0001``), case-folded
    and without invisible format characters — two ids of one key are most likely one id typed twice."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


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
