"""Reading the Sentinel Hub answers (no ``sentinelhub`` import here; from :mod:`features.sources.sentinelhub`):
when a window's answers are final (settled), a Catalog page and its acquisition days, the Catalog cloud filter, a
Statistical answer and its days, and a Statistical run's result and warnings."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from features.contracts import check_field_time_series
from features.errors import format_offenders
from features.sources._sh_io import FetchSummary, StatsResult
from features.sources._sh_scripts import empty_series

__all__ = [
    "SETTLED_AFTER_DAYS", "_today", "_settled", "_settled_until", "_catalog_page", "_stats_answer", "_cloud_filter",
    "_cloud_words", "_answered_days", "_failed_in", "_by_day", "stats_result", "stats_warnings",
]

#: the logger of :mod:`features.sources.sentinelhub`: what is logged here keeps its name
LOG = logging.getLogger("features.sources.sentinelhub")

#: a window is final (its Catalog pages and Statistical answers cached for good) only when it ended at least this
#: many days ago: Sentinel-2 L2A products reach the archive up to a few days after acquisition (ingestion delay,
#: reprocessing), so a window that ended yesterday may still gain acquisitions
SETTLED_AFTER_DAYS = 5


def _today() -> date:
    return datetime.now(UTC).date()


def _settled(end: date, today: date | None = None) -> bool:
    """True when a window ending ``end`` ended at least :data:`SETTLED_AFTER_DAYS` days before ``today``."""
    return end <= _settled_until(today)


def _settled_until(today: date | None = None) -> date:
    """The last day whose acquisitions are final: :data:`SETTLED_AFTER_DAYS` days before ``today``."""
    return (today or _today()) - timedelta(days=SETTLED_AFTER_DAYS)


def _catalog_page(body: bytes) -> tuple[dict[str, Any], list[date]] | None:
    """A Catalog API page and its acquisition days, or None when it is not one (read before it is cached)."""
    try:
        page = json.loads(body)
        feats = page.get("features", [])
        if not isinstance(feats, list):
            return None
        days = [datetime.fromisoformat(str(f["properties"]["datetime"]).replace("Z", "+00:00")).astimezone(UTC).date()
                for f in feats]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return page, days


def _stats_answer(body: bytes) -> dict[str, Any] | None:
    """A Statistical API answer (a JSON object whose ``data`` is a list), or None."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("data", []), list):
        return None
    return answer


def _cloud_filter(max_cloud: float) -> str | None:
    """The Catalog filter for ``max_cloud`` (None at 1.0: every acquisition, clear pixels decided by SCL)."""
    return None if max_cloud >= 1.0 else f"eo:cloud_cover <= {round(max_cloud * 100, 3)}"


def _cloud_words(max_cloud: float) -> str:
    return "" if max_cloud >= 1.0 else f" with cloud cover <= {max_cloud:.0%}"


def _answered_days(answer: dict[str, Any]) -> set[str]:
    """The days of a Statistical answer's intervals (``YYYY-MM-DD``)."""
    return {str((x.get("interval") or {}).get("from", ""))[:10] for x in answer.get("data") or []}


def _failed_in(answer: dict[str, Any]) -> bool:
    """Whether an answer holds a failed interval (an error, or no outputs)."""
    return any("error" in x or not x.get("outputs") for x in answer.get("data") or [])


def _by_day(data: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intervals in day order (an earlier window's, the days asked alone, then the days after it)."""
    return sorted(data, key=lambda x: str((x.get("interval") or {}).get("from", "")))


def stats_result(parts: list[pd.DataFrame], summary: FetchSummary, start: date, end: date) -> StatsResult:
    """The :class:`StatsResult` of the fields' answers ``parts`` (read, in the fields' order) and the run's
    ``summary``: the series sorted, the acquisition dates counted and the warnings of fields without an acquisition
    and of failed intervals added — one :func:`fetch_statistics` call's end, which a run on Dask blocks
    (:mod:`pipelines._dask_stats`) also ends with over the blocks' answers."""
    series = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else empty_series()
    series = series.sort_values(["field_id", "date", "variable"], kind="stable").reset_index(drop=True)
    summary.dates = int(series["date"].nunique())
    for note in stats_warnings(summary, start, end):
        if note.startswith("the Statistical API failed"):
            LOG.info("Sentinel Hub: %s", note)  # reaches the user through the summary's warnings
        summary.warnings.append(note)
    check_field_time_series(series, where="Sentinel Hub Statistical API series")
    return StatsResult(series=series, summary=summary)


def stats_warnings(summary: FetchSummary, start: date, end: date) -> list[str]:
    """The warnings :func:`stats_result` adds to a run's ``summary``: fields without an acquisition in the window,
    intervals the service failed to compute."""
    notes = []
    if summary.no_acquisition_fields:
        notes.append(f"no Sentinel-2 L2A acquisition between {start} and {end} for "
                     f"{len(summary.no_acquisition_fields)} field(s): {format_offenders(summary.no_acquisition_fields)}")
    if summary.failed_intervals:
        notes.append(f"the Statistical API failed to compute {summary.failed_intervals} daily interval(s) (an error or "
                     f"no outputs): left out and not cached, a re-run asks again: "
                     f"{format_offenders(summary.failed_dates)}")
    return notes
