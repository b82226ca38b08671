"""Imagery sources: local scenes, precomputed tables, Sentinel Hub — behind one small protocol.

Every source ends in the same thing, a FieldTimeSeries table. :func:`resolve_imagery`
cleans the user's ``imagery`` argument once, at the edge, into an :class:`ImagerySpec`:

- a folder holding ``index.csv`` or an ``index.csv`` path → ``scenes`` (local engine);
- a CSV/Parquet series table → ``table``;
- the word ``sentinelhub`` → download scenes (``features.sources.sentinelhub.fetch_scenes``)
  then the local engine; ``sentinelhub-stats`` → the Statistical API
  (``features.sources.sentinelhub.statistical_series``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import geopandas as gpd
import pandas as pd

from features.errors import ImageryError

__all__ = ["ImagerySpec", "SeriesSource", "SOURCE_KINDS", "resolve_imagery"]

SourceKind = Literal["scenes", "table", "sentinelhub", "sentinelhub-stats"]
SOURCE_KINDS: tuple[str, ...] = ("scenes", "table", "sentinelhub", "sentinelhub-stats")


class SeriesSource(Protocol):
    """What an imagery source offers: per-field series for a season window."""

    def __call__(self, fields: gpd.GeoDataFrame, season: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Return a FieldTimeSeries table for ``fields`` over [start, end]."""
        ...


@dataclass(frozen=True)
class ImagerySpec:
    """A cleaned imagery argument: the kind of source and its path (None for remote sources)."""

    kind: SourceKind
    path: Path | None

    def describe(self) -> str:
        return f"{self.kind}:{self.path}" if self.path is not None else self.kind


def resolve_imagery(imagery: str | Path) -> ImagerySpec:
    """Turn ``DIR | index.csv | TABLE | sentinelhub | sentinelhub-stats`` into an :class:`ImagerySpec`."""
    text = str(imagery).strip()
    if text.lower() == "sentinelhub":
        return ImagerySpec("sentinelhub", None)
    if text.lower() == "sentinelhub-stats":
        return ImagerySpec("sentinelhub-stats", None)
    p = Path(text)
    if p.is_dir():
        if not (p / "index.csv").is_file():
            raise ImageryError(source=str(p), problem="folder has no index.csv (expected the scene-index layout)")
        return ImagerySpec("scenes", p)
    if p.is_file() and p.name == "index.csv":
        return ImagerySpec("scenes", p.parent)
    if p.is_file() and p.suffix.lower() in (".csv", ".parquet", ".pq"):
        return ImagerySpec("table", p)
    if not p.exists():
        raise ImageryError(source=text, problem="imagery not found (expected a scene folder, index.csv, a CSV/Parquet "
                                                "series table, sentinelhub or sentinelhub-stats)")
    raise ImageryError(source=text, problem="not a scene folder, index.csv or a CSV/Parquet series table")
