"""A county folder (the demo layout, /work/briefs/layout.md) as one object the pipelines share.

``County(path)`` reads ``county.json`` and gives typed access to what a bank has:
``records/`` (fields, farm history, applications, book), ``scenes/`` and, when present, ``weather/daily.csv``
(:meth:`County.weather`). It never reads
``truth/`` — only :mod:`pipelines.evaluation` does. Series are built with the scene cache
under ``cache_dir`` (default ``<path>/.cache``; ``AGCREDIT_CACHE_DIR`` overrides), so a second
call, or a later ``as_of``, reads only new scenes.

Checkpoints of a season: ``"end"`` is the end of the season's imagery window
(:func:`features.series.season_window`); ``"mid"`` is the median of the region's crops'
``mid_season`` dates in the season calendar (:mod:`pipelines.schedule`); ``"emergence"`` and
``"pre_harvest"`` likewise from the calendar's ``emergence`` and ``pre_harvest`` rows.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.contracts import check_season
from features.errors import UserInputError, remember_csv
from pipelines.evaluation import data_kind

_log = logging.getLogger(__name__)
#: the most :meth:`County.series` keeps in memory (about seven seasons of a 600-field county's series)
SERIES_MEMO_BYTES = 512 * 2**20

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["County", "CountyError", "HISTORY_COLUMNS", "history_strings", "read_history", "season_checkpoints"]

HISTORY_COLUMNS = ("field_id", "season", "declared_crop", "sowing_date", "harvest_date", "reported_yield_t_ha")
_REQUIRED_META = ("region", "seasons", "current_season")


class CountyError(UserInputError):
    """A county folder is missing something or holds something malformed."""

    def __init__(self, *, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _read_meta(path: Path) -> dict[str, Any]:
    p = path / "county.json"
    if path.is_file():  # the county.json or a file inside the county given instead of the folder
        hint = f"give its folder {path.parent}" if path.name == "county.json" else "give the county's folder"
        raise CountyError(path=path, problem=f"is a file, expected a county folder (county.json, records/, scenes/): "
                                             f"{hint}")
    if not path.is_dir():
        raise CountyError(path=path, problem="county folder not found")
    if not p.is_file():
        raise CountyError(path=p, problem="county.json not found (expected a county folder: county.json, records/, scenes/)")
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise CountyError(path=p, problem=f"not valid JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(meta, dict):
        raise CountyError(path=p, problem=f"expected a JSON object, found {type(meta).__name__}")
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise CountyError(path=p, problem=f"missing key(s) {', '.join(missing)}")
    seasons = meta["seasons"]
    if not isinstance(seasons, list) or not seasons:
        raise CountyError(path=p, problem=f"'seasons' must be a non-empty list, found {seasons!r}")
    try:
        meta["seasons"] = [check_season(str(s), where=f"{p}: seasons") for s in seasons]
        meta["current_season"] = check_season(str(meta["current_season"]), where=f"{p}: current_season")
    except UserInputError as e:
        raise CountyError(path=p, problem=str(e)) from None
    if meta["current_season"] not in meta["seasons"]:
        raise CountyError(path=p, problem=f"current_season {meta['current_season']} is not in seasons "
                                          f"({', '.join(meta['seasons'])})")
    return meta


class County:
    """A county folder in the demo layout; ``truth/`` is never read here."""

    def __init__(self, path: str | Path, *, cache_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.meta: dict[str, Any] = _read_meta(self.path)
        self.region: str = str(self.meta["region"])
        self.seasons: list[str] = sorted(self.meta["seasons"])
        self.current_season: str = str(self.meta["current_season"])
        self.past_seasons: list[str] = [s for s in self.seasons if s < self.current_season]
        self.currency: str = str(self.meta.get("currency", ""))
        self.profile: str = str(self.meta.get("policy_profile", ""))
        self.synthetic: bool = bool(self.meta.get("synthetic", False))
        #: "synthetic", "real" or "unlabelled" (no ``synthetic`` flag: never taken for real data), the governance
        #: label of models trained on it (:func:`pipelines.evaluation.data_kind`)
        self.data_kind: str = data_kind(self.path)
        self.crops: list[str] = [str(c) for c in self.meta.get("crops", [])]
        self.imagery: Path = self.path / "scenes"
        env = os.environ.get("AGCREDIT_CACHE_DIR")
        self.cache_dir: Path = Path(cache_dir) if cache_dir is not None else (Path(env) if env else self.path / ".cache")
        self._fields: dict[str | None, gpd.GeoDataFrame] = {}
        self._reads: dict[str | None, Any] = {}  # what reading the fields gave (rejected rows: refuse_rejected)
        #: the seasons' series read so far (:meth:`series`), by season, as-of date and the scene folder's stamp
        self._series: dict[tuple[Any, ...], pd.DataFrame] = {}
        self._series_lock = threading.Lock()
        #: warnings of reading the fields file (rejected or repaired fields…), each logged once
        self.field_notes: list[str] = []

    def __repr__(self) -> str:
        return f"County({str(self.path)!r}, region={self.region!r}, current_season={self.current_season!r})"

    # -- records -------------------------------------------------------------------------------------------------
    def record_path(self, name: str) -> Path:
        """The path of ``records/<name>`` (a one-line error when the file is missing)."""
        p = self.path / "records" / name
        if not p.is_file():
            raise CountyError(path=p, problem="file not found in the county's records/")
        return p

    def fields(self, season: str | None = None) -> gpd.GeoDataFrame:
        """The declared fields (all seasons, or one), read and validated once; tokenised, no identifiers."""
        from features.fields import read_fields

        key = None if season is None else check_season(season)
        if key not in self._fields:
            # a county's records are its DECLARED fields: without the column every run read "nothing declared"
            # (monitor and reunderwrite --county: no expected band, "alerts: none" — a silent all-clear)
            read = read_fields(self.record_path("fields.gpkg"), season=key, need=("declared_crop",))
            self._reads[key] = read
            for note in read.notes():  # a rejected field left out of monitor, reunderwrite, report… unsaid
                if note not in self.field_notes:
                    self.field_notes.append(note)
                    _log.warning("county %s: %s", self.path.name, note)
            self._fields[key] = read.fields
        return self._fields[key].copy()

    def refuse_rejected(self, season: str) -> None:
        """A deciding run on the county (re-underwriting) refuses its records when fields of ``season`` were rejected
        when reading them (:func:`pipelines.fieldcheck.refuse_rejected`); monitor and report say it and go on."""
        from pipelines.fieldcheck import refuse_rejected

        self.fields()
        read = self._reads.get(None)
        if read is not None:
            refuse_rejected(read, str(season))

    def history(self) -> pd.DataFrame:
        """Past seasons' farm records, typed (dates as datetime64 with NaT, yields float with NaN): :func:`read_history`
        of ``records/history.csv``."""
        return read_history(self.record_path("history.csv"))

    def applications(self) -> pd.DataFrame:
        """The current season's applications (Applications contract; money in minor units; tokenised)."""
        from underwriting.applications import read_applications

        return read_applications(self.record_path("applications.csv"))

    def book(self, *, not_after: date | None = None) -> pd.DataFrame:
        """The active lines (Book contract; with ``balance_as_of``, every row of their balance histories — a run takes
        its date's with :func:`underwriting.book.book_as_of`); ``not_after``: a balance dated after it is refused (a
        run on today's date)."""
        from underwriting.applications import read_book

        return read_book(self.record_path("book.csv"), not_after=not_after)

    # -- imagery -------------------------------------------------------------------------------------------------
    def series_result(self, season: str, as_of: date | None = None, **kwargs: Any) -> Any:
        """The full :class:`features.series.SeriesResult` of a season (cached under ``cache_dir/series``); with
        ``reference=True`` (or the scene reference switched on) its ``.reference`` is the scene reference to smooth
        with (``features.timeseries.smooth_series(reference=)``)."""
        from features.series import build_series

        season = check_season(season)
        return build_series(self.fields(season), self.imagery, season, as_of=as_of,
                            cache_dir=self.cache_dir / "series", **kwargs)

    def series(self, season: str, as_of: date | None = None) -> pd.DataFrame:
        """The FieldTimeSeries of a season up to ``as_of`` (everything in the window when None): built once per
        season and date while the scene folder stays as it was (its index file's and its own modification time and
        size: a scene fetched since is read), a copy given out each time — a run that trains, re-underwrites and
        reports on one county (the demo) read every past season's scene statistics four or five times. At most
        :data:`SERIES_MEMO_BYTES` are kept (the least recently used let go first: an eval-size county's seasons do
        not all stay). A date at or after the end of the season's imagery window is the whole window (the same rows:
        the ``end`` checkpoint)."""
        from features.series import season_window

        season = check_season(season)
        if as_of is not None and pd.Timestamp(as_of).date() >= season_window(season, self.region)[1]:
            as_of = None
        key = (season, None if as_of is None else str(as_of), self._scenes_stamp())
        with self._series_lock:  # seasons are read side by side on threads (features.threads.thread_map)
            got = self._series.pop(key, None)
            if got is not None:
                self._series[key] = got  # the most recently used last
                return got.copy()
        got = self.series_result(season, as_of).series  # built outside the lock: other seasons build meanwhile
        with self._series_lock:
            self._series[key] = got
            total = sum(int(v.memory_usage(deep=True).sum()) for v in self._series.values())
            while total > SERIES_MEMO_BYTES and len(self._series) > 1:  # the least recently used first
                oldest = next(iter(self._series))
                total -= int(self._series.pop(oldest).memory_usage(deep=True).sum())
        return got.copy()

    def _scenes_stamp(self) -> tuple[Any, ...]:
        """(modification time, size) of the scene folder and of its index file, when they exist."""
        out: list[Any] = []
        for p in (self.imagery, self.imagery / "index.csv"):
            try:
                st = p.stat()
            except OSError:
                out.append(None)
                continue
            out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)

    def past_series(self, season: str) -> pd.DataFrame | None:
        """The series of the seasons before ``season`` (the alerts' and the report's expectations), or None."""
        frames = [self.series(s) for s in self.seasons if s < season]
        return pd.concat(frames, ignore_index=True) if frames else None

    # -- weather -------------------------------------------------------------------------------------------------
    @property
    def weather_path(self) -> Path | None:
        """``weather/daily.csv`` when the county has a ``weather/`` folder, else None."""
        return self.path / "weather" / "daily.csv" if (self.path / "weather").is_dir() else None

    def weather(self) -> pd.DataFrame | None:
        """The county's daily weather (:data:`features.weather.WEATHER`, checked for its region), or None when
        the county has no ``weather/`` folder; read once."""
        p = self.weather_path
        if p is None:
            return None
        if not hasattr(self, "_weather"):
            from features.weather import read_weather

            self._weather = read_weather(p, region=self.region)
        return self._weather.copy()

    def checkpoints(self, season: str) -> dict[str, date]:
        """``{"emergence", "mid", "pre_harvest", "end"}`` dates of a season (see :func:`season_checkpoints`)."""
        return season_checkpoints(season, self.region, self.crops)


def promotion_effective(county: County) -> date | None:
    """The effective date of a promotion of a model trained on ``county``'s past seasons for its current season
    (:func:`models.registry.promote`): on a simulated county (synthetic data, whose seasons are not today's — the
    demo's 2009) the first day of the current season's imagery window, capped at today: the models trained for that
    season are in force for its decisions from then, though promoted today, so a past-dated report takes them as the
    champion of its date. None (today) on a county of real or unlabelled data: a bank's model is in force from the day
    it is promoted (decisions made before then used the previous champion) — a bank re-running a past season dates
    its promotion itself (``agcredit models promote NAME VERSION --effective D``)."""
    if not getattr(county, "synthetic", False) or getattr(county, "data_kind", None) != "synthetic":
        return None
    from features.series import season_window

    start = season_window(county.current_season, county.region)[0]
    return min(start, datetime.now(UTC).date())  # (the registry refuses a date after today, UTC)


def history_strings(path: str | Path) -> pd.DataFrame:
    """A farm-history file (CSV, or Parquet) as written: every cell a string, blank cells NaN (one-line error when
    it cannot be read)."""
    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".geoparquet"):  # typed columns written as the CSV holds them
            t = pd.read_parquet(p)
            raw = pd.DataFrame({c: t[c].astype(object).map(_history_cell) for c in t.columns}, index=t.index)
        else:
            raw = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
            remember_csv(p)
    except Exception as e:  # pandas raises many kinds for malformed files
        raise CountyError(path=p, problem=f"cannot be read ({str(e).splitlines()[0][:120]})") from None
    return raw


def _history_cell(v: Any) -> Any:
    """A Parquet cell as the CSV would hold it: NaN when missing or blank, a day as YYYY-MM-DD, else its text."""
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and np.isnan(v)):  # pd.NA: nullable dtypes
        return np.nan
    if isinstance(v, datetime):
        v = v.date() if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0) else v
    text = v.isoformat() if isinstance(v, date | datetime) else str(v)
    return text if text != "" else np.nan


def read_history(path: str | Path) -> pd.DataFrame:
    """Past seasons' farm records (:data:`HISTORY_COLUMNS`; a county's ``records/history.csv``, or a bank's own
    CSV/Parquet of them), checked and typed: dates as datetime64 with NaT, yields float with NaN; one-line errors
    (a :class:`CountyError` naming the file) for a missing column, an unknown crop, personal data in
    declared_crop, a value that is not a date, an implausible yield."""
    p = Path(path)
    raw = history_strings(p)
    missing = [c for c in HISTORY_COLUMNS if c not in raw.columns]
    if missing:
        raise CountyError(path=p, problem=f"missing column(s) {', '.join(missing)}")
    from features._yield_history import refuse_personal_values
    from features.fields import check_known_crops

    refuse_personal_values(raw["declared_crop"], str(p), "declared_crop")
    check_known_crops(raw["declared_crop"], source=str(p), column="declared_crop",
                      rows=raw["field_id"].astype(str) + "/" + raw["season"].astype(str))
    from features.fields import normalise_crop

    season = raw["season"].astype("str").str.strip()
    not_year = (raw["season"].isna() | ~season.str.fullmatch(r"\d{4}")).to_numpy()
    if not_year.any():  # as `--history` reads it: `2008.0` or a blank season matched no season (a review)
        from features.errors import file_rows, format_offenders

        raise CountyError(path=p, problem="column season: expected a year like 2024, found other values at "
                                          f"{format_offenders(file_rows(str(p), list(np.flatnonzero(not_year))))}")
    crop = raw["declared_crop"].map(normalise_crop)  # "Maize " is maize, as in the fields
    out = pd.DataFrame({"field_id": raw["field_id"].astype("str"), "season": season,
                        "declared_crop": crop.where(crop.notna(), raw["declared_crop"]).astype("str")})
    from underwriting.applications import _iso_dates

    for col in ("sowing_date", "harvest_date"):  # a day, strictly: a month alone, a time or a zone is no sowing date
        d, not_day = _iso_dates(raw[col])
        bad = pd.Series(not_day, index=raw.index) & raw[col].notna()
        if bad.any():  # named by field and season: a phone typed into a date is never echoed
            where = (raw.loc[bad, "field_id"].astype(str) + "/" + raw.loc[bad, "season"].astype(str)).head(5)
            raise CountyError(path=p, problem=f"column {col}: expected ISO dates (YYYY-MM-DD), found other "
                                              f"values at {', '.join(where)}")
        out[col] = d.astype("datetime64[ns]")
    from features._yield_history import check_reported_yields

    # the same checks as `--history` (features/_yield_history.py): the pre-season rule and the backtest rest on it
    out["reported_yield_t_ha"] = check_reported_yields(raw["reported_yield_t_ha"], str(p), out["declared_crop"])
    return out.sort_values(["season", "field_id"], kind="stable").reset_index(drop=True)


def season_checkpoints(season: str, region: str, crops: list[str] | None = None) -> dict[str, date]:
    """Checkpoint dates of a season in a region: ``emergence``, ``mid`` and ``pre_harvest`` are the (lower)
    medians of the region's crops' ``emergence``, ``mid_season`` and ``pre_harvest`` dates in the season
    calendar (only ``crops`` when given and known); ``end`` is the end of the season's imagery window."""
    from features.series import season_window
    from pipelines.schedule import checkpoint_dates, load_calendar

    season = check_season(season)
    _, end = season_window(season, region)
    cal = checkpoint_dates(season, load_calendar(), region)
    if crops:
        known = cal[cal["crop"].isin(list(crops))]
        cal = known if not known.empty else cal
    out: dict[str, date] = {}
    for name, cp in (("emergence", "emergence"), ("mid", "mid_season"), ("pre_harvest", "pre_harvest")):
        d = pd.to_datetime(cal.loc[cal["checkpoint"] == cp, "date"]).sort_values()
        if d.empty:
            raise CountyError(path="season calendar", problem=f"no {cp} checkpoint for region {region}")
        # the lower median: always one of the calendar's own dates
        out[name] = d.iloc[(len(d) - 1) // 2].date()
    out["end"] = end
    return out
