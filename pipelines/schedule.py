"""Re-underwriting checkpoints: the season calendar (data) and which checkpoints are due.

The calendar (``pipelines/data/season_calendar.csv``, replaceable with ``--calendar``)
lists, per region and crop, four checkpoints — pre-season, after emergence,
mid-season, pre-harvest — as a month-day with a year offset from the season (harvest)
year. A checkpoint log (a table in the decision store's database) records which ran,
so that ``agcredit reunderwrite --due`` runs exactly the checkpoints due and not yet
done, and a second call does nothing. A checkpoint whose lines already have records on or after its
date (an all-lines ``reunderwrite --as-of`` run at a later date, say) is logged ``covered`` and not run:
re-underwriting goes forward only, so an application's chain never forks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from features.contracts import check_season
from features.errors import UserInputError

__all__ = ["plain_run_records", "CHECKPOINTS", "Due", "CheckpointLog", "load_calendar", "checkpoint_dates", "due_checkpoints", "due_seasons",
           "upcoming", "nothing_due_text", "model_reach", "plain_run_id", "plain_run_logger"]

CHECKPOINTS = ("pre_season", "emergence", "mid_season", "pre_harvest")
DEFAULT_CALENDAR = Path(__file__).with_name("data") / "season_calendar.csv"
#: the checkpoint log's table in the decision store's database (:class:`CheckpointLog`)
LOG_TABLE = "agcredit_checkpoint_runs"
#: the records each logged run wrote (or found written), by record id: which records of a date a ``--due`` checkpoint
#: wrote, for ``audit replay --reunderwriting`` (stores logged before it have none: told apart by crop and time)
RECORDS_TABLE = "agcredit_checkpoint_records"
#: the plain (not ``--due``) ``reunderwrite`` runs that wrote records: one row per run (:func:`plain_run_logger`)
PLAIN_RUNS_TABLE = "agcredit_plain_runs"
#: the ids of the records each plain run wrote (:data:`PLAIN_RUNS_TABLE`'s ``run_id``)
PLAIN_RECORDS_TABLE = "agcredit_plain_run_records"


def _read_calendar(p: Path, shipped: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """One calendar file, read and checked row by row (:mod:`pipelines._calendar_check`: each mistake one line naming
    the file by its path, the row and its region, crop and checkpoint). ``shipped``: the package's (region, crop)
    pairs, which a bank's regions folder's calendar may not list (refused at the row that does, before the checks of
    its crops: a bank is not sent to complete rows it must remove)."""
    if p.is_dir():
        raise UserInputError(f"{p}: is a folder, expected a calendar CSV file")
    if not p.is_file():
        raise UserInputError(f"{p}: calendar file not found")
    if p.stat().st_size == 0:
        raise UserInputError(f"{p}: calendar file is empty (expected a CSV with region, crop, checkpoint, "
                             "month_day, year_offset)")
    import os

    from features.regions import cache_key

    # checked once per file content, regions folder and extra crops (~100 ms; it is read on every checkpoint lookup):
    # keyed on the bytes, not the modification time, which two quick writes of one size can share
    return _checked(str(p), p.read_bytes(), cache_key(), os.environ.get("AGCREDIT_EXTRA_CROPS", ""), shipped).copy()


@lru_cache(maxsize=32)
def _checked(path: str, content: bytes, regions: str, extra_crops: str,
             shipped: frozenset[tuple[str, str]]) -> pd.DataFrame:
    import io

    p = Path(path)
    try:
        raw = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    except ValueError as e:  # EmptyDataError, ParserError (a row of too many cells), UnicodeDecodeError
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise UserInputError(f"{p}: calendar file cannot be read as CSV ({reason})") from None
    if not isinstance(raw.index, pd.RangeIndex):  # every row longer than the header: pandas made an index of them
        raise UserInputError(f"{p}: calendar file cannot be read as CSV (its rows have more cells than the header's "
                             f"{len(raw.columns)} columns)")
    from pipelines._calendar_check import read_rows, with_header

    raw = with_header(p, raw)  # names read as the cells are (stripped); a header of other names says what it holds
    if raw.empty:
        raise UserInputError(f"{p}: calendar file has a header but no checkpoints")

    return read_rows(p, raw, CHECKPOINTS, _outside_windows, shipped)


def load_calendar(path: str | Path | None = None) -> pd.DataFrame:
    """Read and check a season calendar (region, crop, checkpoint, month_day, year_offset, description); without
    ``path``, the package's calendar and a bank's own regions' checkpoints (:mod:`features.regions`). The frame's
    ``attrs["source"]`` names the file (errors about it name it)."""
    p = Path(path) if path is not None else DEFAULT_CALENDAR
    if path is None:
        from features.regions import merged

        base = _read_calendar(p)
        shipped = frozenset(zip(base["region"], base["crop"], strict=True))
        cal = merged("season_calendar.csv", p, lambda q: base if q == p else _read_calendar(q, shipped))
    else:
        cal = _read_calendar(p)
    cal.attrs["source"] = str(p)
    return cal


def _window(season: str, region: str) -> tuple[date, date] | None:
    """The region's season window, or None for a region without one (package data and a bank's regions folder, read
    once per process and folder: load_calendar runs on every checkpoint lookup, and reading the windows file each
    time took it from ~11 to ~48 ms)."""
    from features.regions import cache_key

    return _cached_window(season, region, cache_key())


@lru_cache(maxsize=256)
def _cached_window(season: str, region: str, regions: str) -> tuple[date, date] | None:
    from features.errors import ImageryError
    from features.series import season_window

    try:
        return season_window(season, region)
    except ImageryError:
        return None


def _register() -> None:
    from features.regions import register_cache

    register_cache(_cached_window.cache_clear)
    register_cache(_checked.cache_clear)


_register()


def _outside_windows(cal: pd.DataFrame) -> list[str]:
    """The checkpoints dated outside their region's season window (in any season: four consecutive ones cover the
    leap years), e.g. ``us-nebraska winter_wheat pre_season 09-01 of the year before (window 09-15 of the year
    before to 11-30)``; a region without a window is not checked here (its run says so)."""

    def when(d: date, season: int) -> str:
        return f"{d:%m-%d}" + {-1: " of the year before", 0: "", 1: " of the year after"}.get(
            d.year - season, f" of year {d.year - season:+d}")

    out: dict[str, None] = {}
    for region, rows in cal.groupby("region", sort=True):
        for season in range(2001, 2005):
            win = _window(str(season), str(region))
            if win is None:
                break
            a, b = win
            for r in rows.itertuples(index=False):
                d = date(season + int(r.year_offset), int(r.month_day[:2]), int(r.month_day[3:]))
                if not a <= d <= b:
                    out.setdefault(f"{region} {r.crop} {r.checkpoint} {when(d, season)} (window {when(a, season)} "
                                   f"to {when(b, season)})")
    return list(out)


def checkpoint_dates(season: str, calendar: pd.DataFrame, region: str | None = None) -> pd.DataFrame:
    """Dated checkpoints of one season: region, crop, checkpoint, date (sorted by date)."""
    s = int(check_season(season))
    cal = calendar if region is None else calendar[calendar["region"] == region]
    if region is not None and cal.empty:
        raise UserInputError(f"{calendar.attrs.get('source', 'season calendar')}: no checkpoints for region '{region}' "
                             f"(known: {', '.join(sorted(calendar['region'].unique()))})")
    dates = [date(s + int(off), int(md[:2]), int(md[3:])) for md, off in zip(cal["month_day"], cal["year_offset"], strict=True)]
    out = cal[["region", "crop", "checkpoint"]].assign(season=str(s), date=pd.to_datetime(dates))
    order = {c: i for i, c in enumerate(CHECKPOINTS)}
    return (out.assign(_o=out["checkpoint"].map(order)).sort_values(["date", "region", "crop", "_o"])
            .drop(columns="_o").reset_index(drop=True))


@dataclass(frozen=True)
class Due:
    """A checkpoint to run: the season's crop in a region at its latest due checkpoint."""

    season: str
    region: str
    crop: str
    checkpoint: str
    date: date
    superseded: tuple[str, ...] = ()


def checkpoint_tables(meta: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The checkpoint log's tables (:data:`LOG_TABLE`, :data:`RECORDS_TABLE`) in ``meta``."""

    def checkpoint_key() -> list[sa.Column[Any]]:  # the columns naming a checkpoint (fresh per table)
        return [sa.Column("season", sa.String(8), primary_key=True),
                sa.Column("region", sa.String(64), primary_key=True),
                sa.Column("crop", sa.String(64), primary_key=True),
                sa.Column("checkpoint", sa.String(32), primary_key=True)]

    runs = sa.Table(LOG_TABLE, meta, *checkpoint_key(),
                    sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("as_of", sa.String(10), nullable=False),
                    sa.Column("ran_at", sa.String(32), nullable=False),
                    sa.Column("n_lines", sa.Integer, nullable=False))
    return runs, sa.Table(RECORDS_TABLE, meta, *checkpoint_key(),
                          sa.Column("record_id", sa.String(32), primary_key=True))


class CheckpointLog:
    """Which checkpoints have run, in a table of the decision store's database."""

    def __init__(self, url: str) -> None:
        self.url = url
        from underwriting._store_schema import make_engine

        # the store's engine: SQLite transactions BEGIN IMMEDIATE (serialised, waiting up to 60 s for a lock)
        self.engine = make_engine(url)
        self.meta = sa.MetaData()
        self.table, self.records = checkpoint_tables(self.meta)
        with self._errors():
            self.meta.create_all(self.engine)

    def close(self) -> None:
        """Release the database connections (a long-lived process, e.g. a test or a scheduler, kept the store's
        SQLite ``-wal``/``-shm`` files open after a ``--due`` run)."""
        self.engine.dispose()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The database's errors as the store's one-line error (a store on a read-only mount gave a traceback)."""
        from underwriting.store import store_error

        try:
            yield
        except sa.exc.SQLAlchemyError as e:
            raise store_error(self.url, e) from None

    def done(self) -> set[tuple[str, str, str, str]]:
        with self._errors(), self.engine.connect() as c:
            rows = c.execute(sa.select(self.table.c.season, self.table.c.region, self.table.c.crop,
                                       self.table.c.checkpoint)).all()
        return {tuple(r) for r in rows}  # type: ignore[misc]

    def rows(self) -> pd.DataFrame:
        """The log: season, region, crop, checkpoint, status (ran, no_lines, superseded, covered), as_of, ran_at,
        n_lines."""
        with self._errors(), self.engine.connect() as c:
            return pd.DataFrame([dict(r) for r in c.execute(sa.select(self.table)).mappings()],
                                columns=[col.name for col in self.table.columns])

    def mark(self, due: Due, *, as_of: date, n_lines: int, status: str = "ran", record_ids: Sequence[str] = ()
             ) -> None:
        """Record a checkpoint (and those it superseded) as done, with the ids of the records its run wrote or found
        (``record_ids``, in the same transaction); marking twice changes nothing."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [(due.checkpoint, status)] + [(c, "superseded") for c in due.superseded]
        with self._errors():
            for attempt in (1, 2):  # a concurrent run marking the same checkpoint first: the retry finds its rows
                try:
                    with self.engine.begin() as c:
                        for cp, st in rows:
                            key = (due.season, due.region, due.crop, cp)
                            exists = c.execute(sa.select(self.table.c.season).where(
                                self.table.c.season == key[0], self.table.c.region == key[1],
                                self.table.c.crop == key[2], self.table.c.checkpoint == key[3])).first()
                            if exists is None:
                                c.execute(self.table.insert().values(
                                    season=key[0], region=key[1], crop=key[2], checkpoint=key[3], status=st,
                                    as_of=as_of.isoformat(), ran_at=now, n_lines=n_lines if st == "ran" else 0))
                                if st == "ran" and record_ids:
                                    c.execute(self.records.insert(), [
                                        {"season": key[0], "region": key[1], "crop": key[2], "checkpoint": key[3],
                                         "record_id": r} for r in sorted(set(record_ids))])
                    return
                except sa.exc.IntegrityError:
                    if attempt == 2:
                        raise


def plain_tables(meta: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The plain runs' log tables (:data:`PLAIN_RUNS_TABLE`, :data:`PLAIN_RECORDS_TABLE`) in ``meta``."""
    runs = sa.Table(PLAIN_RUNS_TABLE, meta,
                    sa.Column("run_id", sa.String(32), primary_key=True),
                    sa.Column("season", sa.String(8), nullable=False),
                    sa.Column("region", sa.String(64), nullable=False),
                    sa.Column("as_of", sa.String(10), nullable=False),
                    sa.Column("ran_at", sa.String(32), nullable=False),
                    sa.Column("n_lines", sa.Integer, nullable=False))
    records = sa.Table(PLAIN_RECORDS_TABLE, meta,
                       sa.Column("run_id", sa.String(32), primary_key=True),
                       sa.Column("record_id", sa.String(32), primary_key=True))
    return runs, records


def plain_run_records(store: Any, as_of: date) -> set[str]:
    """The ids of the records the plain runs (:func:`plain_run_logger`) wrote as of ``as_of`` in ``store`` (a
    :class:`underwriting.store.DecisionStore`; empty when it has no such log): a ``--due`` checkpoint whose lines
    such a run decided on its date is covered, not a ``--due`` run of its own killed before logging it."""
    runs, recs = store.table_rows(PLAIN_RUNS_TABLE), store.table_rows(PLAIN_RECORDS_TABLE)
    if runs is None or recs is None or runs.empty:
        return set()
    ids = set(runs.loc[runs["as_of"].astype(str) == as_of.isoformat(), "run_id"].astype(str))
    return set(recs.loc[recs["run_id"].astype(str).isin(ids), "record_id"].astype(str))


def plain_run_id(record_ids: Sequence[str]) -> str:
    """A plain run's id: from the ids of the records it wrote (the same records, the same id)."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(set(record_ids))).encode()).hexdigest()[:24]


def plain_run_logger(season: str, region: str, as_of: date, n_lines: int
                     ) -> Callable[[sa.Connection, Sequence[str]], None]:
    """The log of a plain ``reunderwrite`` run (``--as-of``, every crop's lines; not a ``--due`` checkpoint) for
    :meth:`underwriting.store.DecisionStore.append`'s ``also``: written in the transaction of the run's records — a
    row (run id from the record ids, :func:`plain_run_id`; season, region, as-of date, when, the lines it
    re-decided) and the ids of the records it wrote, so ``audit replay --reunderwriting`` replays each plain run of a
    date on its own (:func:`pipelines._replay_reunderwriting._date_runs`). A run killed before its records committed
    logged nothing; a run writing no record logs nothing (its lines' records are an earlier run's, logged with it).

    Two tables of their own rather than rows of the checkpoint log (crop ``*``, checkpoint ``plain``): that log is
    keyed by checkpoint — one row per season, region, crop and checkpoint, read as "done" by ``reunderwrite --due``
    (:meth:`CheckpointLog.done`) and listed by ``schedule show`` — while a date has any number of plain runs that
    are no checkpoint; the readers of that log (and an agcredit before this one: the tables are unknown to it) see
    nothing new. A store without them (none written yet) replays as before: its plain runs as one."""
    now = datetime.now(UTC).isoformat(timespec="seconds")

    def log(conn: sa.Connection, record_ids: Sequence[str]) -> None:
        runs, records = plain_tables(sa.MetaData())
        runs.create(conn, checkfirst=True)  # under the store's write lock, in its transaction
        records.create(conn, checkfirst=True)
        rid = plain_run_id(record_ids)
        if conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == rid)).first() is not None:
            return  # the same records logged (a record id is written once: cannot happen, but marking twice is a no-op)
        conn.execute(runs.insert().values(run_id=rid, season=str(season), region=str(region),
                                          as_of=as_of.isoformat(), ran_at=now, n_lines=int(n_lines)))
        conn.execute(records.insert(), [{"run_id": rid, "record_id": r} for r in sorted(set(record_ids))])

    return log


def due_seasons(today: date, current: str, county_seasons: list[str], book_seasons: list[str], region: str) -> list[str]:
    """The seasons whose checkpoints ``reunderwrite --due`` looks at without ``--season``: the county's current one,
    and any other of its seasons with a line in the Book whose season window is open on ``today`` — in September to
    November a us-nebraska county has last season's harvest and next season's winter wheat open at once, and in
    January an in-smallholder county moved on to the new season still has last season's cotton lines being picked;
    with the current season alone their checkpoints were never run by the daily timer."""
    out = {str(current)}
    for s in {str(x) for x in book_seasons} & {str(x) for x in county_seasons}:
        win = _window(s, region)
        if win is not None and win[0] <= today <= win[1]:
            out.add(s)
    return sorted(out)


def due_checkpoints(today: date, seasons: list[str], calendar: pd.DataFrame, done: set[tuple[str, str, str, str]],
                    regions: list[str] | None = None) -> list[Due]:
    """The checkpoints due on ``today`` and not yet done: per season, region and crop only the latest one
    (earlier missed ones are superseded by it, since it sees all their evidence)."""
    out: list[Due] = []
    for season in seasons:
        cps = checkpoint_dates(season, calendar)
        if regions is not None:
            cps = cps[cps["region"].isin(regions)]
        cps = cps[cps["date"].dt.date <= today]
        for (region, crop), g in cps.groupby(["region", "crop"], sort=True):
            pending = [r for r in g.itertuples() if (season, region, crop, r.checkpoint) not in done]
            if not pending:
                continue
            last = pending[-1]
            out.append(Due(season=season, region=str(region), crop=str(crop), checkpoint=str(last.checkpoint),
                           date=last.date.date(), superseded=tuple(str(r.checkpoint) for r in pending[:-1])))
    return sorted(out, key=lambda d: (d.date, d.region, d.crop))


def upcoming(today: date, seasons: list[str], calendar: pd.DataFrame, region: str | None = None) -> pd.DataFrame:
    """Checkpoints on or after ``today`` for the given seasons (for ``agcredit schedule show``)."""
    frames = [checkpoint_dates(s, calendar, region) for s in seasons]
    allcp = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if allcp.empty:
        return allcp
    return allcp[allcp["date"].dt.date >= today].reset_index(drop=True)


def nothing_due_text(today: date, season: str, calendar: pd.DataFrame, region: str) -> str:
    """Why ``reunderwrite --due`` ran nothing on ``today`` (called when :func:`due_checkpoints` is empty): none of
    the season's checkpoints in ``region`` is due yet, or those up to ``today`` are done — with the next one."""
    cps = checkpoint_dates(season, calendar, region)
    up_to = int((cps["date"].dt.date <= today).sum())
    coming = cps[cps["date"].dt.date > today]
    if len(coming):
        first = coming[coming["date"] == coming["date"].min()]
        nxt = (f"the next: {first['date'].iloc[0].date()} "
               + ", ".join(f"{c} {k}" for c, k in zip(first["crop"], first["checkpoint"], strict=True)))
    else:
        nxt = f"season {season} has no later checkpoint"
    if not up_to:
        return f"nothing due on {today}: no checkpoint of season {season} in {region} is due yet ({nxt})"
    return (f"nothing due on {today}: the {up_to} checkpoint(s) of season {season} in {region} up to it are done "
            f"(run, superseded by a later one or covered by later records; {nxt})")


def model_reach(up: pd.DataFrame, governance: Any) -> list[str]:
    """For each checkpoint row of ``up`` (season, region, crop, date): whether the yield model of ``governance``
    (the champion's) can re-estimate that crop's lines then — ``re-estimates``; ``kept (model validated from
    MM-DD)`` before the day its checkpoints were validated from (the line is kept, not re-estimated);
    ``kept (<crop> outside the model's crops)`` / ``(<region> outside ...)``; for a version without validated days,
    ``scope by the crops scored together`` (its scope is the median checkpoint of the batch)."""
    out = []
    dated = bool(getattr(governance, "checkpoint_dates", None))
    for r in up.itertuples():
        crop, region, season = str(r.crop), str(r.region), str(r.season)
        if region not in governance.regions:
            out.append(f"kept ({region} outside the model's regions)")
        elif crop not in governance.crops:
            out.append(f"kept ({crop} outside the model's crops)")
        elif not dated:
            out.append("scope by the crops scored together (a version without validated days)")
        else:
            got = governance.row_checkpoints([crop], [region], [season], [r.date])[0]
            if got in governance.checkpoints:
                out.append("re-estimates")
            else:
                days = [d for cp in governance.checkpoints
                        if (d := governance.checkpoint_day(region, cp, crop, season)) is not None]
                out.append(f"kept (model validated from {min(days).date().isoformat()})" if days else
                           "kept (no validated day for it)")
    return out
