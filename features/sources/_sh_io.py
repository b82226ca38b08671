"""Plain-Python parts of the Sentinel Hub source (no ``sentinelhub`` import here): its errors,
retry policy, run summary, input checks, response checks and the atomic scene-index writer."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from features.errors import FieldsError, ImageryError, UserInputError, format_offenders
from features.sources._sh_plan import INDEX_BANDS, Tile, atomic_write_bytes

__all__ = [
    "Failure", "FetchResult", "FetchSummary", "Retry", "SentinelHubCredentialsError", "SentinelHubQuotaError",
    "StatisticsFailed",
    "MAX_RETRY_AFTER_TOTAL", "StatsResult", "check_inputs", "check_tiff", "default_cache", "header_value",
    "existing_scenes", "file_lock", "retry_after_seconds", "utc", "window_text", "write_scenes",
]


class SentinelHubCredentialsError(UserInputError):
    """Credentials are missing or were refused; the message names where they come from, never their values."""

    def __init__(self, *, problem: str, source: str) -> None:
        self.problem = problem
        self.source = source
        super().__init__(f"Sentinel Hub credentials ({source}): {problem}")


class SentinelHubQuotaError(ImageryError):
    """The service refused more work (a 403, or a Catalog search's 429 after the retries): the dates and fields not
    fetched."""

    def __init__(self, *, status: int, dates: list[str], fields: list[str], done: int, what: str = "scenes",
                 detail: str = "", window: tuple[str, str] | None = None) -> None:
        self.status, self.dates, self.fields, self.done, self.what = status, dates, fields, done, what
        self.detail, self.window = detail, window
        dates = list(dict.fromkeys(dates))  # a one-day window is not named twice
        said = f": {detail}" if detail else ""
        why = (f"forbidden (HTTP 403{said}): the account's plan does not allow this request or its processing units "
               "are used up — the credentials were accepted") if status == 403 else \
            f"rate limit or quota still exceeded after the retries (HTTP 429{said})"
        # a Catalog search (``window``) refused: the window's ends are no acquisitions, the window is named
        what_not = window_text(*window) if window is not None else f"dates {format_offenders(dates)}"
        super().__init__(source="Sentinel Hub", problem=(
            f"{why}; not fetched: {what_not}; fields {format_offenders(fields)}; "
            f"{done} {what} already downloaded are cached and a re-run resumes from them"))


def window_text(first: object, last: object) -> str:
    """``the window 2009-05-15 to 2010-02-28``, or ``the day 2009-05-15`` for a one-day window."""
    return f"the day {first}" if str(first) == str(last) else f"the window {first} to {last}"


class StatisticsFailed(ImageryError):
    """Fields whose Statistical request failed after the retries (a 5xx, a 429, a malformed or unreadable answer):
    ``failed`` (``field (reason)``, in the fields' order) of ``n_fields`` asked from ``start`` to ``end``; the others
    were fetched and cached. Its message is one line; a run on Dask blocks merges the blocks' into one
    (:mod:`pipelines._dask_stats`)."""

    def __init__(self, *, start: Any, end: Any, failed: list[str], n_fields: int) -> None:
        self.start, self.end, self.failed, self.n_fields = start, end, list(failed), int(n_fields)
        super().__init__(source="Sentinel Hub Statistical API",
                         problem=f"statistics failed for {start} to {end} ({n_fields - len(failed)} fields done "
                                 "and cached); fields", offenders=self.failed)


@dataclass(frozen=True)
class Retry:
    """Bounded exponential backoff for 429 and 5xx: ``attempts`` tries, sleeping
    ``min(base_delay · factor^i, max_delay)`` seconds between them. A 429 whose ``Retry-After`` asks for a
    longer wait is honoured (see :func:`retry_after_seconds`), as long as the waits of one request add up to
    no more than ``max_total_wait`` seconds (:data:`MAX_RETRY_AFTER_TOTAL`); past that the request fails."""

    attempts: int = 4
    base_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    max_total_wait: float = 120.0


#: the longest one request waits in total on the service's ``Retry-After`` (seconds) before it fails
MAX_RETRY_AFTER_TOTAL = Retry.max_total_wait


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait, or None when absent or unreadable.

    Sentinel Hub sends a number of **milliseconds** (``Retry-After: 2500``); standard HTTP sends seconds as a
    number or an HTTP date. A number is read as milliseconds — the convention of the service this client talks
    to — and the wait is never shorter than the backoff step of that attempt, so a seconds-valued number from a
    proxy is not retried at once; an HTTP date is read as the time to wait until.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        ms = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
    return max(ms, 0.0) / 1000.0 if math.isfinite(ms) else None


@dataclass
class FetchSummary:
    """What a run cost: HTTP requests (the OAuth token excluded), retries, cache hits, processing units."""

    requests: int = 0
    #: of ``requests``, those to the Catalog API (the rest: Process or Statistical API)
    catalog_requests: int = 0
    downloaded: int = 0
    retries: int = 0
    cache_hits: int = 0
    processing_units: float = 0.0
    pu_reported: int = 0
    pu_estimated: int = 0
    tiles: int = 0
    dates: int = 0
    scenes: int = 0
    failed_intervals: int = 0
    #: acquisitions (a box on a day) the catalogue listed for this fetch
    acquisitions: int = 0
    #: acquisitions skipped by a partial fetch (``date tile TILE (reason; fields …)``), recorded in sentinelhub.json
    missing: list[str] = field(default_factory=list)
    #: days of the intervals the service failed to compute (``data[].error`` or no ``outputs``), not cached
    failed_dates: list[str] = field(default_factory=list)
    #: fields in no box with an acquisition in the window (not "outside the imagery": nothing was acquired)
    no_acquisition_fields: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: why a partial fetch stopped asking (a 403 midway: ``HTTP 403: <the service's words>``), "" when it did not;
    #: the acquisitions not asked for are in ``missing``
    stopped: str = ""
    #: fields whose Statistical answer reused an earlier window's cached answer (only the days after it were asked)
    reused_windows: int = 0
    #: fields whose cached earlier window was out of date (the Catalog API no longer lists a day its answer has: a
    #: product reprocessed or withdrawn): dropped from the cache, the whole window asked
    stale_windows: int = 0
    #: acquisition days the Catalog API lists now in a cached earlier window that its answer neither has nor recorded
    #: as asked and empty (a product ingested late): each asked alone, the window kept (field-days)
    new_days: int = 0

    def render(self) -> str:
        how = []
        if self.pu_reported:
            how.append(f"reported for {self.pu_reported} responses")
        if self.pu_estimated:
            how.append(f"estimated by the PU formula for {self.pu_estimated}")
        lines = [f"requests: {self.requests} (retries {self.retries}), cache hits: {self.cache_hits}",
                 f"processing units: {self.processing_units:.3f}" + (f" ({'; '.join(how)})" if how else ""),
                 f"tiles: {self.tiles}, acquisition dates: {self.dates}, scenes: {self.scenes}"]
        if self.missing:
            lines.append(f"acquisitions not fetched (recorded in sentinelhub.json; a re-run fetches them): "
                         f"{len(self.missing)} of {self.acquisitions}")
        if self.stopped:
            lines.append(f"stopped by the service ({self.stopped}): the acquisitions after it were not requested")
        if self.reused_windows:
            lines.append(f"statistics of an earlier window reused from the cache (only the days after it asked): "
                         f"{self.reused_windows} fields")
        if self.stale_windows:
            lines.append(f"statistics of an earlier window out of date (the catalogue no longer lists an acquisition "
                         f"it answered): dropped from the cache, the whole window asked: {self.stale_windows} fields")
        if self.new_days:
            lines.append(f"acquisitions newly listed in a cached window (ingested late): asked alone, the window "
                         f"kept: {self.new_days} field-days")
        if self.failed_intervals:
            lines.append(f"intervals the service failed to compute (left out, not cached): {self.failed_intervals}")
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


@dataclass
class FetchResult:
    """A folder of scenes in the scene-index layout and what it cost."""

    path: Path
    summary: FetchSummary


class Failure(Exception):
    """A request that failed after its retries: the HTTP ``status`` (None: no answer), the message, and whether the
    OAuth ``token`` endpoint failed (no token to ask the service with) rather than the service."""

    def __init__(self, status: int | None, message: str, token: bool = False) -> None:
        self.status, self.message, self.token = status, message, bool(token)
        super().__init__(message)


def header_value(headers: dict[str, Any], name: str) -> str | None:
    low = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == low), None)


def utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def check_tiff(body: bytes, tile: Tile) -> None:
    """A Process API answer must be a georeferenced 12-band UINT16 GeoTIFF of the requested box — its bounds within
    half a pixel of the box's (one of the right shape placed elsewhere gave its date no row, without a word) — whose
    pixels can all be read: every band is read, so a body cut short (its headers intact) is refused before it is
    cached."""
    from rasterio.io import MemoryFile

    half = ((tile.bounds[2] - tile.bounds[0]) / max(tile.width, 1) / 2,
            (tile.bounds[3] - tile.bounds[1]) / max(tile.height, 1) / 2)

    def where(b: Any) -> str:
        return "(" + ", ".join(f"{float(x):.1f}" for x in b) + ")"

    try:
        with MemoryFile(body) as mem, mem.open() as ds:
            ok = (ds.count == len(INDEX_BANDS) and ds.dtypes[0] == "uint16" and ds.crs is not None
                  and ds.crs.to_epsg() == tile.epsg and (ds.width, ds.height) == (tile.width, tile.height)
                  and all(abs(float(got) - want) <= half[i % 2] + 1e-6
                          for i, (got, want) in enumerate(zip(ds.bounds, tile.bounds, strict=True))))
            found = f"{ds.count} bands {ds.dtypes[0]} {ds.width}x{ds.height} {ds.crs} bounds {where(ds.bounds)}"
            if ok:
                ds.read()
    except Exception as e:
        raise Failure(None, f"response is not a readable GeoTIFF ({type(e).__name__}: truncated or corrupt)") from None
    if not ok:
        raise Failure(None, f"unexpected GeoTIFF: expected {len(INDEX_BANDS)} bands uint16 "
                             f"{tile.width}x{tile.height} EPSG:{tile.epsg} bounds {where(tile.bounds)} (within half a "
                             f"pixel), found {found}")


def check_inputs(fields: gpd.GeoDataFrame, start: date, end: date) -> gpd.GeoDataFrame:
    if not isinstance(fields, gpd.GeoDataFrame) or "field_id" not in fields.columns or len(fields) == 0:
        raise FieldsError(source="fields", problem="expected a non-empty GeoDataFrame with a field_id column")
    if fields.crs is None:
        raise FieldsError(source="fields", problem="no CRS declared")
    bad = fields.geometry.isna() | fields.geometry.is_empty
    if bad.any():
        raise FieldsError(source="fields", problem="empty or missing geometry",
                          offenders=list(fields.loc[bad, "field_id"].astype(str)))
    if end < start:
        raise UserInputError(f"time range: end {end} is before start {start}")
    return fields


def default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "agcredit" / "sentinelhub"


def _tile_record(tile: Tile) -> dict[str, Any]:
    return {"epsg": int(tile.epsg), "bounds": [float(x) for x in tile.bounds], "width": int(tile.width),
            "height": int(tile.height)}


def _grows(old: Mapping[str, Any], tile: Tile) -> bool:
    """Whether ``tile`` is the box ``old`` (a note's record) grown: the same CRS and pixel size, its bounds holding
    the old ones — a late applicant's field added to the fields fetched before (a review: refused as "other
    ground"); re-fetched over every window the box had, its scenes hold every field the old ones held."""
    try:
        ob, ow, tb = [float(x) for x in old["bounds"]], int(old["width"]), tile.bounds
        same = int(old["epsg"]) == int(tile.epsg) and abs((ob[2] - ob[0]) / ow - (tb[2] - tb[0]) / tile.width) < 1e-6
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return False
    return same and tb[0] <= ob[0] and tb[1] <= ob[1] and tb[2] >= ob[2] and tb[3] >= ob[3]


def existing_scenes(out_dir: Path, tiles: list[Tile], *, endpoint: str, start: date, end: date,
                    max_cloud: float) -> dict[str, Any] | None:
    """The provenance note of a scene folder that a fetch may add its scenes to, None for a folder without an
    ``index.csv`` or one fetched for exactly this window and these boxes (a re-run: its index is rewritten). Called
    before any request. A folder whose scenes cannot be told apart from this fetch's is refused
    (:class:`UserInputError`, exit 2): an index not written by a fetch, or by a version that did not record its boxes,
    another endpoint or max_cloud, or a box name (``S2_<tile>_<date>.tif``) standing for another box (other fields or
    resolution) — also for the same window (a re-run with other fields, ``--max-cloud``, endpoint or resolution
    overwrote the folder's scenes and left the others' GeoTIFFs unindexed). The same window with other boxes besides
    (fields elsewhere) is merged."""
    if not (out_dir / "index.csv").is_file():
        return None
    where = f"out {out_dir}"
    try:
        note = json.loads((out_dir / "sentinelhub.json").read_text())
        if not isinstance(note, dict) or note.get("source") != "sentinelhub":
            raise ValueError
    except (OSError, ValueError):
        raise UserInputError(f"{where}: holds an index.csv not written by a Sentinel Hub fetch (no readable "
                             "sentinelhub.json); fetch into an empty folder") from None
    windows = note.get("windows") or [[note.get("start"), note.get("end")]]
    old_tiles = note.get("tiles")
    problem = ""
    if not isinstance(old_tiles, dict):
        problem = "its sentinelhub.json does not record its request boxes (an older version wrote it)"
    elif note.get("endpoint") != endpoint:
        problem = f"its scenes come from endpoint {note.get('endpoint')}, not {endpoint}"
    elif float(note.get("max_cloud", -1)) != float(max_cloud):
        problem = f"its scenes were fetched with max_cloud {note.get('max_cloud')}, not {max_cloud:g}"
    else:
        recorded = (note or {}).get("tile_windows")
        boxes: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
        clash = [t.tile_id for t in tiles if t.tile_id in old_tiles and old_tiles[t.tile_id] != _tile_record(t)
                 and not (_grows(old_tiles[t.tile_id], t)
                          and all(str(start) <= str(a) and str(b) <= str(end)
                                  for a, b in boxes.get(t.tile_id) or windows))]
        if clash:
            problem = (f"its box {clash[0]} covers other ground (other fields or resolution; fetch the fields of "
                       "both fetches together)")
    if problem:
        raise UserInputError(f"{where}: already holds scenes for {windows[0][0]} to {windows[-1][1]} and {problem}; "
                             f"fetch {start} to {end} into another folder")
    assert isinstance(old_tiles, dict)
    if windows == [[str(start), str(end)]] and set(old_tiles) == {t.tile_id for t in tiles}:
        return None  # the same window and boxes again (a re-run): this fetch's scenes replace the index
    return note


def write_scenes(out_dir: Path, files: dict[tuple[str, date], Path], *, endpoint: str, start: date, end: date,
                 max_cloud: float, tiles: list[Tile] | None = None, merge: bool = False,
                 missing: list[dict[str, str]] | None = None) -> None:
    """Copy cached GeoTIFFs into the layout atomically, then index.csv, then the provenance note — under an
    exclusive lock on the folder (:func:`_folder_lock`), so two fetches into one folder keep each other's scenes.

    Copies, never hard links: a scene edited in place in one output folder (rasterio ``r+``, ``gdal_edit``) would
    otherwise change the cache and every other folder. Each copy goes to a temporary file beside the scene and is
    renamed over it; no ``.tmp`` is left behind (also none left by versions that linked: those are swept).

    ``merge``: the folder's note as :func:`existing_scenes` reads it under the lock: its index rows are kept (a scene of the same
    path is this fetch's), and ``sentinelhub.json`` describes the union (``windows``, ``tiles``; ``start``/``end``
    the span). Without it the index holds this fetch's scenes only.

    ``missing``: this fetch's acquisitions that failed (``date``, ``tile_id``, ``reason``), recorded in the note's
    ``missing`` with those of other windows still missing (a merge); an acquisition this fetch's window and boxes
    cover is no longer missing unless it failed again."""
    with _folder_lock(out_dir):
        # what the folder holds now, read under the lock: another fetch may have written since the caller's check
        merge_into = existing_scenes(out_dir, tiles or [], endpoint=endpoint, start=start, end=end,
                                     max_cloud=max_cloud) if merge else None
        _write_scenes(out_dir, files, endpoint=endpoint, start=start, end=end, max_cloud=max_cloud, tiles=tiles,
                      merge_into=merge_into, missing=missing or [])


@contextlib.contextmanager
def _folder_lock(out_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``out_dir`` (``.fetch.lock``, :func:`fcntl.flock`) for the read-merge-write of its index:
    two fetches into one folder at once each keep the other's scenes. Where ``fcntl`` is missing (Windows) no lock."""
    with file_lock(out_dir / ".fetch.lock"):
        yield


#: how long a run waits for a cache or folder lock another run holds (that run downloads meanwhile) before it gives up
LOCK_WAIT_SECONDS = 600.0
#: a lock file that cannot be created here: a read-only folder (e.g. a mounted shared cache) — no lock, said once
_UNLOCKABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float | None = None, what: str | None = None) -> Iterator[bool]:
    """An exclusive :func:`fcntl.flock` on ``path`` (created, never removed: removing a lock file others may wait on
    would let two holders in), across processes and threads; yields whether it is held. Where ``fcntl`` is missing
    (Windows), or the lock file cannot be created (a read-only folder: EROFS, EACCES — e.g. a shared cache mounted
    read-only, which a run can only read) no lock (False). Waits at most ``timeout`` seconds (default
    :data:`LOCK_WAIT_SECONDS`) for another run holding it, then a one-line :class:`ImageryError` naming ``what``
    (default: the lock's folder)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+b")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as e:
        if e.errno not in _UNLOCKABLE:
            raise
        yield False
        return
    with fh:
        wait = LOCK_WAIT_SECONDS if timeout is None else float(timeout)
        deadline = time.monotonic() + wait
        delay = 0.05
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # another run holds it
                pass
            except OSError as e:
                if e.errno not in _UNLOCKABLE:
                    raise
                yield False  # a file system refusing this user the lock: as read-only
                return
            if time.monotonic() >= deadline:
                raise ImageryError(source=what or str(path.parent),
                                   problem=f"another run holds its lock ({path.name}); waited {wait:g} s — let that "
                                           "run finish (or stop it) and run again, or give another --cache folder")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_scenes(out_dir: Path, files: dict[tuple[str, date], Path], *, endpoint: str, start: date, end: date,
                  max_cloud: float, tiles: list[Tile] | None, merge_into: dict[str, Any] | None,
                  missing: list[dict[str, str]]) -> None:
    from features.atomic import temp_beside

    rows: dict[str, list[str]] = {}
    header = ["date", "tile_id", "path", "bands", "scale", "offset", "nodata", "cloud_mask", "processing_baseline"]
    windows: list[list[str]] = []
    tile_notes: dict[str, Any] = {}
    if merge_into is not None:
        with open(out_dir / "index.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                rows[r["path"]] = [r.get(c, "") or "" for c in header]
        windows = [list(w) for w in merge_into.get("windows") or [[merge_into["start"], merge_into["end"]]]]
        tile_notes = dict(merge_into.get("tiles") or {})
    for stale in out_dir.glob("*/.S2_*.tif.tmp"):  # left by versions that hard-linked (a rename onto the same inode)
        stale.unlink(missing_ok=True)
    for (tile_id, day), src in sorted(files.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rel = f"{day.year}/S2_{tile_id}_{day:%Y%m%d}.tif"
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with temp_beside(dest) as tmp:
            shutil.copyfile(src, tmp)
        rows[rel] = [day.isoformat(), tile_id, rel, ";".join(INDEX_BANDS), "0.0001", "0", "0", "SCL", ""]
    ours = {t.tile_id for t in tiles or []} | {tile_id for tile_id, _ in files}
    still = [m for m in (merge_into or {}).get("missing") or []  # another window's, not asked again by this fetch
             if isinstance(m, dict) and m.get("date") and m.get("tile_id") and not (m.get("tile_id") in ours and str(start) <= str(m.get("date")) <= str(end))]
    missing_all = {(str(m["date"]), str(m["tile_id"])): {"date": str(m["date"]), "tile_id": str(m["tile_id"]),
                                                         "reason": str(m.get("reason", ""))}
                   for m in [*still, *missing]
                   if f"{str(m['date'])[:4]}/S2_{m['tile_id']}_{str(m['date']).replace('-', '')}.tif" not in rows}
    spans = sorted({(str(a), str(b)) for a, b in [*windows, [str(start), str(end)]]})
    # each box's own windows: a box added by a fetch of a shorter window holds fewer days than the folder's windows
    # say (a review: fields of such a box read as not sown at a later as-of, without a word); a note of an earlier
    # release gives its boxes every window it recorded
    before = (merge_into or {}).get("tile_windows")
    box_windows: dict[str, list[list[str]]] = (
        {k: [list(w) for w in v] for k, v in before.items()} if isinstance(before, dict)
        else {k: [list(w) for w in windows] for k in tile_notes})
    for t in {t.tile_id for t in tiles or []} | {tile_id for tile_id, _ in files}:
        box_windows[t] = [list(w) for w in sorted({(str(a), str(b)) for a, b in
                                                   [*box_windows.get(t, []), [str(start), str(end)]]})]
    tile_notes.update({t.tile_id: _tile_record(t) for t in tiles or []})
    note = {"source": "sentinelhub", "endpoint": endpoint, "collection": "sentinel-2-l2a",
            "start": min(a for a, _ in spans), "end": max(b for _, b in spans),
            "windows": [[a, b] for a, b in spans], "tiles": tile_notes, "tile_windows": box_windows,
            "max_cloud": max_cloud, "units": "DN", "harmonizeValues": True,
            **({"missing": [missing_all[k] for k in sorted(missing_all)]} if missing_all else {}),
            "note": "Sentinel Hub harmonises L2A values across processing baselines: reflectance = DN * 0.0001"}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    ordered: list[list[str]] = sorted(rows.values(), key=lambda r: (r[0], r[1], r[2]))
    writer.writerows(ordered)
    # the index first, the note last: a run killed between them leaves a note that claims less than the index holds
    # (a re-run of the window repairs it), never a window whose scenes the index lacks
    atomic_write_bytes(out_dir / "index.csv", buf.getvalue().encode())
    atomic_write_bytes(out_dir / "sentinelhub.json", (json.dumps(note, indent=2, sort_keys=True) + "\n").encode())


@dataclass
class StatsResult:
    """A FieldTimeSeries from the Statistical API and what it cost."""

    series: pd.DataFrame
    summary: FetchSummary


def late_acquisitions(out_dir: Path, found: dict[str, list[date]]) -> list[str]:
    """The acquisitions of ``found`` (box → dates the Catalog lists now) inside a window the folder's earlier fetches
    covered for that box, which the folder neither holds nor recorded missing: published since (Sentinel Hub ingests
    some products late) — runs made on the folder before did not see them, and their replay will differ (a review: a
    scene published after a checkpoint was decided joined its window without a word). Sorted ``date tile`` texts."""
    try:
        note = json.loads((out_dir / "sentinelhub.json").read_text())
        index = pd.read_csv(out_dir / "index.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return []
    if not isinstance(note, dict):
        return []
    recorded, listed = note.get("tile_windows"), note.get("tiles")
    boxes: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    known: dict[str, Any] = listed if isinstance(listed, dict) else {}
    windows = note.get("windows") or [[note.get("start"), note.get("end")]]
    held = set(zip(index.get("date", pd.Series(dtype=str)), index.get("tile_id", pd.Series(dtype=str)), strict=True))
    held |= {(str(m.get("date")), str(m.get("tile_id"))) for m in note.get("missing") or [] if isinstance(m, dict)}
    out = []
    for box, days in found.items():
        if box not in known:  # a box new to the folder: none of its days was fetched before
            continue
        spans = boxes.get(box) or (windows if not boxes else [])
        for d in days:
            day = d.isoformat()
            if (day, box) not in held and any(str(a) <= day <= str(b) for a, b in spans):
                out.append(f"{day} {box}")
    return sorted(out)
