"""Log lines: every one with its UTC time and the run's id, text or JSON (``AGCREDIT_LOG_FORMAT=json``); on a Dask
worker, a task's lines carry the run id, format and level of the client that sent it (private).

The client (``agcredit``, :func:`pipelines._cli_app.setup_logging`) installs its handler on the root logger. A Dask
task runs in another process — a local cluster's worker or a ``dask worker`` on another machine — where none is: its
lines came out bare (the message only, no time, no run id), so an operator could not follow one run across the
client and its workers. :class:`TaskLogs` is what the client sends with every task (:mod:`pipelines._dask_runner`):
while a task runs, its records go through a handler that writes them to the worker's stderr as the client writes
its own (``TIME RUN_ID LEVEL LOGGER: MESSAGE``, or one JSON object), at the client's level. Nothing outlives the
task: the handler is on the root logger only while a task runs (a worker serving several runs — several clients —
gives each task's lines its own run's id) and the root logger's level is put back.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["run_id", "TaskLogs", "quiet_libraries"]

#: a run id given by a scheduler (AGCREDIT_RUN_ID) is used as it is when it looks like one; else a random one
_RUN_ID_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RUN_ID: list[str] = []


def run_id() -> str:
    """This run's short id, on every log line: ``AGCREDIT_RUN_ID`` when set (letters, digits, ``._-``, up to 64), else
    8 random hex digits drawn once per process."""
    if not _RUN_ID:
        given = os.environ.get("AGCREDIT_RUN_ID", "").strip()
        _RUN_ID.append(given if _RUN_ID_SHAPE.match(given) else os.urandom(4).hex())
    return _RUN_ID[0]


def _utc_iso(created: float) -> str:
    """A log record's time, UTC ISO-8601 to the millisecond: ``2026-12-03T08:52:15.123Z``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _RunIdFilter(logging.Filter):
    """Give every record this run's id (``%(run_id)s``), whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id()
        return True


class _TextFormatter(logging.Formatter):
    """``TIME RUN_ID LEVEL LOGGER: MESSAGE``, the time UTC ISO-8601."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(run_id)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's)
        return _utc_iso(record.created)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, run_id, msg (and exc, the traceback, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        doc = {"ts": _utc_iso(record.created), "level": record.levelname, "logger": record.name,
               "run_id": getattr(record, "run_id", run_id()), "msg": record.getMessage()}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def log_format() -> str:
    """``json`` when AGCREDIT_LOG_FORMAT says so, else ``text``."""
    return "json" if os.environ.get("AGCREDIT_LOG_FORMAT", "text").strip().lower() == "json" else "text"


# ---------------------------------------------------------------------- libraries' own levels
#: loggers of libraries kept at WARNING at least when the run logs below it: SQLAlchemy's engine logs every statement
#: with its bound parameters at INFO (a farmer's name, an ID number), the migrations and the task queue chatter
_QUIETED = ("alembic", "sqlalchemy.engine", "huey")
_LIBRARIES = ("mlflow", *_QUIETED, "urllib3")


def library_levels(level: int, mlflow_level: int | None = None) -> dict[str, int]:
    """The levels the libraries' loggers get in a run at ``level``: MLflow's at ``mlflow_level`` (default ``level``;
    MLFLOW_LOGGING_LEVEL), SQLAlchemy's engine, alembic and huey at ``level`` but WARNING at least, urllib3 at ERROR
    when the run logs at WARNING or above (its "Retrying …" lines: the one-line error says it all)."""
    levels = {"mlflow": level if mlflow_level is None else mlflow_level}
    levels.update({name: max(level, logging.WARNING) for name in _QUIETED})
    if level >= logging.WARNING:
        levels["urllib3"] = logging.ERROR
    return levels


def quiet_libraries(level: int, mlflow_level: int | None = None) -> dict[str, int]:
    """Set the libraries' loggers' levels for a run at ``level`` (:func:`library_levels`); returns their levels
    before (``logging.NOTSET`` when unset), to put back with :func:`restore_levels`. Used by the client
    (``setup_logging``) and by a Dask task on a worker (:class:`TaskLogs`), so a worker logs what the client would."""
    before: dict[str, int] = {}
    for name, lvl in library_levels(level, mlflow_level).items():
        logger = logging.getLogger(name)
        before[name] = logger.level
        logger.setLevel(lvl)
    return before


def restore_levels(levels: dict[str, int]) -> None:
    """Put loggers' levels back (what :func:`quiet_libraries` returned)."""
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


# ---------------------------------------------------------------------- a Dask task's lines
@dataclass(frozen=True)
class TaskLogs:
    """How a task's log lines are written on a worker: the client's run id, format (``text``/``json``) and level, and
    MLflow's level on the client (the other libraries' follow from ``level``: :func:`library_levels`)."""

    run_id: str
    format: str = "text"
    level: int = logging.WARNING
    mlflow_level: int | None = None

    @classmethod
    def of_client(cls) -> TaskLogs:
        """This process's: its run id, AGCREDIT_LOG_FORMAT and the root logger's level (AGCREDIT_LOG_LEVEL once
        ``setup_logging`` ran)."""
        return cls(run_id=run_id(), format=log_format(), level=logging.getLogger().getEffectiveLevel(),
                   mlflow_level=logging.getLogger("mlflow").getEffectiveLevel())

    @contextmanager
    def active(self) -> Iterator[None]:
        """While the block runs, this thread's records (and, when every task running in the process is of one run,
        its helper threads') are written with this run's id, format and level. In the client's own process (a
        cluster of threads, or a LocalRunner) its handler already does: nothing is added."""
        if any(getattr(h, "_agcredit", False) for h in logging.getLogger().handlers):
            yield
            return
        before = getattr(_THREAD, "logs", None)
        token = _enter(self)
        try:
            yield
        finally:
            _leave(token, before)


_LOCK = threading.Lock()
_ACTIVE: dict[int, TaskLogs] = {}  # the tasks running in this process, by a token of their own
_STATE: dict[str, object] = {}  # "handler": the handler while a task runs; "level": the root level before it;
# "libraries": the libraries' loggers' levels before it
_THREAD = threading.local()  # "logs": the TaskLogs of the task this thread runs
_NEXT = [0]


def _current() -> TaskLogs | None:
    """The task whose record this is: this thread's, else the one run every running task belongs to."""
    mine = getattr(_THREAD, "logs", None)
    if mine is not None:
        return mine  # type: ignore[no-any-return]
    with _LOCK:
        runs = set(_ACTIVE.values())
    return next(iter(runs)) if len(runs) == 1 else None


class _TaskHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The worker's handler while tasks run: a record of a task in its run's format; any other record as logging's
    last resort would have written it (WARNING and above, the message only) when no other handler is installed."""

    _text = _TextFormatter()
    _json = _JsonFormatter()

    def __init__(self) -> None:
        super().__init__()

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # the stderr of the moment (as logging's last resort writes)
        logs = _current()
        if logs is None:
            if record.levelno < logging.WARNING or len(logging.getLogger().handlers) > 1:
                return
            self.setFormatter(logging.Formatter("%(message)s"))
        else:
            if record.levelno < logs.level:
                return
            record.run_id = logs.run_id
            self.setFormatter(self._json if logs.format == "json" else self._text)
        super().emit(record)


def _root_level() -> int:
    """The root level tasks need: the lowest of the running tasks' and the one before them."""
    levels = [t.level for t in _ACTIVE.values()]
    before = _STATE.get("level")
    return min([*levels, *([before] if isinstance(before, int) else [])])


def _set_levels() -> None:
    """The root level the running tasks need and the libraries' levels of the lowest-level task among them."""
    level = _root_level()
    logging.getLogger().setLevel(level)
    task = min(_ACTIVE.values(), key=lambda t: t.level)
    quiet_libraries(task.level, task.mlflow_level)


def _enter(logs: TaskLogs) -> int:
    root = logging.getLogger()
    with _LOCK:
        _NEXT[0] += 1
        token = _NEXT[0]
        if not _ACTIVE:
            handler = _TaskHandler()
            _STATE.update(handler=handler, level=root.level,
                          libraries={n: logging.getLogger(n).level for n in _LIBRARIES})
            root.addHandler(handler)
        _ACTIVE[token] = logs
        _set_levels()
    _THREAD.logs = logs
    return token


def _leave(token: int, before: TaskLogs | None) -> None:
    root = logging.getLogger()
    _THREAD.logs = before
    with _LOCK:
        _ACTIVE.pop(token, None)
        if _ACTIVE:
            _set_levels()
            return
        handler = _STATE.pop("handler", None)
        level = _STATE.pop("level", None)
        libraries = _STATE.pop("libraries", None)
        if isinstance(libraries, dict):
            restore_levels(libraries)
        if isinstance(handler, logging.Handler):
            root.removeHandler(handler)
        if isinstance(level, int):
            root.setLevel(level)
