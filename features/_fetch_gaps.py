"""What a scene folder written by ``agcredit imagery fetch`` lacks for a window: the acquisitions its fetches
recorded ``missing`` and the days no fetched window covers (its ``sentinelhub.json``), and the refusal of a decision
made without them (:class:`MissingAcquisitions`, :class:`WindowNotFetched`). :func:`features.series.
missing_acquisitions` and the series' warnings use them; the names are re-exported by :mod:`features.series`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from features.errors import UserInputError

__all__ = ["MissingAcquisitions", "WindowNotFetched", "fetch_gaps", "fetched_windows", "unfetched_spans",
           "spans_text"]

Span = tuple[dt.date, dt.date]


def _note(folder: Path) -> dict[str, Any] | None:
    folder = Path(folder)
    folder = folder if folder.is_dir() or not folder.name.endswith(".csv") else folder.parent  # an index.csv
    try:
        note = json.loads((folder / "sentinelhub.json").read_text())
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def fetch_gaps(folder: Path, lo: dt.date, hi: dt.date) -> list[str]:
    """The acquisition dates of [lo, hi] that a partial ``agcredit imagery fetch`` into ``folder`` could not
    download (``missing`` in its ``sentinelhub.json``), in date order (none: no such file, or nothing missing)."""
    note = _note(folder)
    try:
        missing = (note or {}).get("missing") or []
        return sorted({str(m["date"]) for m in missing if isinstance(m, dict)
                       and lo.isoformat() <= str(m.get("date", "")) <= hi.isoformat()})
    except (KeyError, TypeError, AttributeError):
        return []


def _joined(raw: Sequence[Sequence[object]]) -> list[Span]:
    spans = sorted((dt.date.fromisoformat(str(a)), dt.date.fromisoformat(str(b))) for a, b in raw)
    joined: list[Span] = []
    for a, b in spans:
        if joined and a <= joined[-1][1] + dt.timedelta(days=1):
            joined[-1] = (joined[-1][0], max(joined[-1][1], b))
        else:
            joined.append((a, b))
    return joined


def _common(x: list[Span], y: list[Span]) -> list[Span]:
    """The days both span lists cover."""
    out = [(max(a, c), min(b, d)) for a, b in x for c, d in y if max(a, c) <= min(b, d)]
    return sorted(out)


def fetched_windows(folder: Path) -> list[Span] | None:
    """The days ``agcredit imagery fetch`` downloaded into ``folder`` for every request box (``tile_windows`` of its
    ``sentinelhub.json``: each box's windows; a note without them, ``windows``, else its ``start``/``end``), overlapping
    and adjoining ones joined, in date order; None for a folder without such a note or whose note records no window
    (not written by a fetch: nothing to check). A box a fetch of a shorter window added covers fewer days than the
    folder's other boxes: only the days every box covers count as fetched."""
    note = _note(folder)
    if note is None or note.get("source") != "sentinelhub":
        return None
    try:
        joined = _joined(note.get("windows") or [[note["start"], note["end"]]])
        if not joined:
            return None
        boxes = note.get("tile_windows")
        if isinstance(boxes, dict):
            for raw in boxes.values():
                joined = _common(joined, _joined(raw))
    except (KeyError, TypeError, ValueError):
        return None
    return joined  # [] when no day is every box's: the whole window asked is unfetched


def unfetched_spans(folder: Path, lo: dt.date, hi: dt.date) -> list[Span]:
    """The parts of [lo, hi] that no window fetched into ``folder`` covers (:func:`fetched_windows`), in date order:
    the days after the fetch's end that a later as-of asks for, or before its start. None for a folder not written
    by a fetch."""
    windows = fetched_windows(folder)
    if windows is None or hi < lo:
        return []
    out: list[Span] = []
    day = lo
    for a, b in windows:
        if b < day:
            continue
        if a > hi:
            break
        if a > day:
            out.append((day, a - dt.timedelta(days=1)))
        day = b + dt.timedelta(days=1)
        if day > hi:
            return out
    out.append((day, hi))
    return out


def spans_text(spans: Sequence[Span]) -> str:
    """``2009-08-01 to 2009-09-30`` (and ``, …`` for more)."""
    return ", ".join(f"{a} to {b}" if a != b else str(a) for a, b in spans)


class MissingAcquisitions(UserInputError):
    """:func:`features.series.missing_acquisitions`' refusal: ``days`` recorded missing in the scene folder
    ``folder``."""

    def __init__(self, *, days: Sequence[str], folder: Path) -> None:
        self.days, self.folder = list(days), Path(folder)
        super().__init__(f"{self._found()}: complete them with `agcredit imagery fetch` into the folder, or give "
                         "--allow-missing-acquisitions to go on without them (the dates are then recorded)")

    def _found(self) -> str:
        shown = ", ".join(self.days[:10]) + (" …" if len(self.days) > 10 else "")
        return (f"{len(self.days)} acquisition date(s) in the window are recorded missing in "
                f"{self.folder / 'sentinelhub.json'} ({shown})")

    def for_due(self, county: str | Path, season: str, as_of: dt.date) -> str:
        """The message for ``reunderwrite --due``, which refuses --allow-missing-acquisitions (a scheduled run
        decides on complete imagery only): run the checkpoint alone with it, or complete the folder."""
        return (f"{self._found()}, for the checkpoint due as of {as_of}: complete them with `agcredit imagery fetch` "
                f"into the folder, or run that checkpoint alone (`agcredit reunderwrite --county {county} --season "
                f"{season} --as-of {as_of} --allow-missing-acquisitions`) — a later --due then marks it covered")


class WindowNotFetched(MissingAcquisitions):
    """A scene folder of ``agcredit imagery fetch`` used for days its fetched windows do not cover (``spans``: an
    as-of after the fetch's end while the season's window goes on, or a season start before the fetch's): its series
    would lack every acquisition of those days without a word. ``fetched``: the folder's windows; ``lo``/``hi``: the
    window asked. ``days`` (what a decision made without them records): each span as ``FIRST/LAST``."""

    def __init__(self, *, spans: Sequence[Span], fetched: Sequence[Span], lo: dt.date, hi: dt.date,
                 folder: Path) -> None:
        self.spans, self.fetched, self.lo, self.hi = list(spans), list(fetched), lo, hi
        self.days, self.folder = [f"{a}/{b}" for a, b in self.spans], Path(folder)
        UserInputError.__init__(self, f"{self._found()}: {self._complete()}, or give --allow-missing-acquisitions to "
                                      "go on without those days (they are then recorded)")

    def _found(self) -> str:
        return (f"scene folder {self.folder} was fetched from Sentinel Hub for "
                f"{spans_text(self.fetched)} (its sentinelhub.json), not for {spans_text(self.spans)} of the window "
                f"asked ({self.lo} to {self.hi})")

    def _complete(self) -> str:
        start = f" --start {self.lo}" if self.spans[0][0] == self.lo else ""
        # the folder's endpoint (a review followed the advice without it and was refused: "not cdse")
        endpoint = str((_note(self.folder) or {}).get("endpoint") or "cdse")
        how = ("" if endpoint == "cdse" else " --endpoint sinergise" if endpoint == "sinergise"
               else " --endpoint profile --profile <the profile it was fetched with>")
        return (f"complete it with `agcredit imagery fetch --fields <its fields> --season <its season> --out "
                f"{self.folder}{start} --as-of {self.hi}{how}` (the fields and season it was fetched for; the scenes "
                "it holds come from the cache)")

    def warning(self) -> str:
        """The warning of a command that goes on without those days (``features series``, ``monitor``)."""
        return f"{self._found()}: the series lacks their acquisitions — {self._complete()}"

    def for_due(self, county: str | Path, season: str, as_of: dt.date) -> str:
        return (f"{self._found()}, for the checkpoint due as of {as_of}: {self._complete()}, or run that checkpoint "
                f"alone (`agcredit reunderwrite --county {county} --season {season} --as-of {as_of} "
                "--allow-missing-acquisitions`) — a later --due then marks it covered")
