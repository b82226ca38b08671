"""Errors of the pipelines package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from features.errors import UserInputError

__all__ = ["ClusterLostError", "NoShadowDecisions", "PipelineError", "RunInputError", "read_checked"]


class PipelineError(Exception):
    """A run failed for a reason that is not the user's input."""


class RunInputError(UserInputError):
    """A run was asked for something it cannot do (bad option combination, missing folder)."""

    def __init__(self, *, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        super().__init__(f"{what}: {problem}")


class ClusterLostError(RunInputError):
    """A Dask run stopped by its cluster, not by its input: the scheduler or every worker lost, a task that kept
    killing its worker. Said in one line (exit 2) as a user error, but the parts the run finished are kept — a re-run
    resumes from them — where a user error removes what its run wrote (``value``)."""


class NoShadowDecisions(UserInputError):
    """A store holds no shadow decision of a model version (in a season): nothing for ``models shadow`` to report.
    Keeps what was asked (``name``, ``version``, ``alias``, ``season``, ``store`` as shown) for a caller that treats
    it as "none" rather than an error (the model card's Shadow section)."""

    def __init__(self, *, name: str, version: str, alias: str | None, season: str | None, store: str) -> None:
        self.name, self.version, self.alias, self.season, self.store = name, version, alias, season, store
        where = f" of season {season}" if season is not None else ""
        super().__init__(f"models shadow: no shadow decision{where} of {name} version {version}"
                         + (f" ({alias})" if alias else "") + f" in {store}: nothing to report (a version runs "
                         "in shadow while it is the challenger: underwrite and reunderwrite write its rows)")


def read_checked(p: Path, label: str, read: Callable[[], pd.DataFrame], fmt: str) -> pd.DataFrame:
    """``read()`` of an existing file ``p``, an empty or unreadable one a one-line error beginning with ``label``
    (what and where, e.g. ``"<path>: features file"``): ``is empty (0 bytes)`` / ``cannot be read as FMT (why)``."""
    if p.stat().st_size == 0:
        raise UserInputError(f"{label} is empty (0 bytes)")
    try:
        return read()
    except (OSError, ValueError) as e:  # ArrowInvalid, EmptyDataError, ParserError, UnicodeDecodeError are these
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise UserInputError(f"{label} cannot be read as {fmt} ({reason})") from None


def read_columns_file(path: str | Path, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """A CSV (every cell read as text, an empty cell empty) or Parquet file holding ``columns``, or a one-line error
    naming the file as ``what`` (e.g. "reported yields file"): not found, empty, unreadable, or missing a column."""
    from features.errors import format_offenders

    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: {what} not found")
    parquet = p.suffix.lower() in (".parquet", ".pq")
    df = read_checked(p, f"{p}: {what}", lambda: pd.read_parquet(p) if parquet else
                      pd.read_csv(p, dtype=str, keep_default_na=False), "Parquet" if parquet else "CSV")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserInputError(f"{p}: missing column(s) {format_offenders(missing)} (expected {', '.join(columns)})")
    return df
