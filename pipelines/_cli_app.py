"""The typer application objects and the CLI's shared helpers.

Command modules (``pipelines/_cli_*.py``) import the groups from here and register
their commands; ``pipelines/cli.py`` imports every command module and exposes
``main``. Each command parses, calls one library function, renders.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from features.errors import UserInputError
from pipelines._champions import models_text
from pipelines._cli_usage import RESOLVED_KEY, usage_line
from pipelines._logs import (
    _RUN_ID_SHAPE,
    _JsonFormatter,
    _RunIdFilter,
    _TextFormatter,
    log_format,
    quiet_libraries,
    run_id,
)
from pipelines._stop_again import install as install_stop_hook
from pipelines._stop_again import stopping

__all__ = [
    "app", "features_app", "fields_app", "evaluate_app", "models_app", "train_app", "imagery_app",
    "audit_app", "decisions_app", "report_app", "schedule_app", "user_errors", "echo", "err", "mount_groups", "parse_date",
    "SEASON_SCALE_HELP", "HAZY_DATES_HELP", "parse_dates", "models_text", "STORE_HELP", "IMAGERY_HELP",
    "FEATURES_HELP", "BOOK_HELP", "REUNDERWRITING_HELP", "THEN_HELP", "POLICY_HELP", "PROFILE_HELP", "refuse_out_over_inputs", "REJECTS_HELP", "rejected_text",
    "INTERVAL_BY_HELP",
]

#: help of ``--interval-by`` (every ``agcredit evaluate`` command)
INTERVAL_BY_HELP = ("what the 95% intervals resample: field (default: fields as if independent), condition (the "
                    "fields of one simulated condition of the truth drawn together) or farmer (the fields of one "
                    "farmer of the records drawn together): a cluster bootstrap; a field without one is its own group")

#: help of ``--crop-season-scale`` (underwrite, value, features build)
SEASON_SCALE_HELP = ("pin the crop model's season scale (0.25-4; e.g. an earlier decision record's "
                     "crop_season_scale, to reproduce its crop probabilities after the fields file has changed); "
                     "default: estimated from the season's declared fields")

#: help of the options a decision run reads (underwrite, audit replay, the store's commands)
STORE_HELP = "Store URL (SQLAlchemy; default $AGCREDIT_STORE_URL or sqlite:///agcredit-decisions.db)."
IMAGERY_HELP = "scene folder, index.csv, series table, sentinelhub or sentinelhub-stats (not needed with --features)"
FEATURES_HELP = "FieldFeatures Parquet from `features build`"
BOOK_HELP = "the Book of active lines (CSV or Parquet; default: empty)"
#: ``--reunderwriting`` of the impact commands (``models impact``, ``policy impact``)
REUNDERWRITING_HELP = ("the Book's active lines as of --as-of re-underwritten twice, as `agcredit reunderwrite` would "
                       "(--county DIR, or --fields --imagery --book --applications [--weather] [--history]), the store "
                       "read as it stands and nothing written, instead of new applications decided twice")
#: help of ``--then`` (``models impact`` and ``policy impact`` with ``--reunderwriting``)
THEN_HELP = ("with --reunderwriting: a later checkpoint of the season (YYYY-MM-DD; repeatable, in order, after "
             "--as-of): each side re-underwrites the Book there too, after its own records of the earlier dates, as "
             "the store would stand had it been adopted as of --as-of; a season summary follows")
POLICY_HELP = "policy file (YAML; default: the shipped policy)"
PROFILE_HELP = ("policy profile, e.g. us-operating or in-kcc (default: the policy's profile in the applications' "
                "currency)")

#: help of ``--rejects`` (underwrite, features build, fields validate, value, reunderwrite, monitor, report)
REJECTS_HELP = ("set a fields file's bad rows aside into this CSV (row, field_id, season, farmer_token, reason, "
                "held_applications; no cell holds a name, ID or phone number) and go on "
                "with the rest: an unknown crop or region, a repeated field_id (every row of it), a geometry that "
                "cannot be repaired, an empty id, a declared area that is no number; default: one such row refuses "
                "the file. A farmer with a row set aside is not decided (underwrite: their applications are "
                "listed in the file's held_applications column; features build, value: none of their fields is written "
                "or valued; reunderwrite: their lines are not re-decided, listed, the previous record stays in force; "
                "monitor, report: the fields set aside are named) — correct the rows and re-run. A row whose farmer cannot be known (no identifier, no token) and "
                "file-level errors (no CRS, a column missing, no rows) still refuse the file (exit 2). Exit 1 when "
                "rows were rejected, 0 when none was")



def rejected_text(rows: Sequence[Any], rejects: os.PathLike[str] | str, season: str | None, *, left: str) -> str:
    """The line of a ``--rejects`` run naming the rows set aside (:class:`features.fields.SetAside`) and, of them,
    the fields the run of ``season`` left out (``left``: what was not done with them, e.g. "not monitored")."""
    from features.fields import set_aside_ids

    ids = set_aside_ids(rows, season)
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return f"{len(rows)} rows rejected (see {rejects})" + (f"; {left}: {shown}" if ids else "")


#: help of ``--allow-missing-acquisitions`` (underwrite, reunderwrite, value, features build)
ALLOW_MISSING_HELP = ("go on when a partial `imagery fetch` recorded acquisitions of the window missing in the scene "
                      "folder's sentinelhub.json, or fetched it up to an earlier date (default: refused; complete it "
                      "with `agcredit imagery fetch`); the dates are recorded in the decisions' provenance "
                      "(missing_acquisitions)")

#: help of ``--hazy-dates`` (underwrite, value, features build)
HAZY_DATES_HELP = ("pin the phenology smoother's scene haze: comma-separated grid dates YYYY-MM-DD, or none (e.g. an "
                   "earlier decision record's smoother_hazy_dates, to reproduce its growth stages with fewer fields); "
                   "default: judged on the run's fields")

_SETTINGS: dict[str, Any] = {"pretty_exceptions_show_locals": False, "no_args_is_help": True,
                             "context_settings": {"help_option_names": ["-h", "--help"]}}

class _AgcreditGroup(TyperGroup):
    """The ``agcredit`` command group: SIGTERM (and Ctrl-C) wherever it comes — a command's own code, the parsing of
    its options, an eager option's callback (``--version``), a command not wrapped by :func:`user_errors` — ends the
    run with the one line and exit 143 (130), as inside :func:`user_errors` (typer ended it silently with exit 130,
    click with "Aborted!" and exit 1)."""

    # (contexts typed Any: typer's are those of the click it vendors)
    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except KeyboardInterrupt as e:
            raise _interrupted(e) from None
        except UsageError as e:
            raise usage_line(e) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            raise _interrupted(e) from None
        except UsageError as e:  # a command's options read wrong (its parsing runs inside the group's invoke)
            sub = ctx.meta.get(RESOLVED_KEY)  # (an option without its value: the parser names no command)
            raise usage_line(e, f"{ctx.command_path} {sub}" if sub else None) from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None and not isinstance(cmd, TyperGroup):  # the command whose options are parsed next
            ctx.meta[RESOLVED_KEY] = name
        return name, cmd, rest


#: every group of the command line: the settings above, and SIGTERM, Ctrl-C and a command line it cannot read handled
#: as :class:`_AgcreditGroup` says (the sub-groups' commands too: ``models promote --bogus``)
_GROUP: dict[str, Any] = {**_SETTINGS, "cls": _AgcreditGroup}

app = typer.Typer(name="agcredit", help="Agricultural credit underwriting from satellite evidence.", **_GROUP)
fields_app = typer.Typer(help="Field polygons: validate and inspect.", **_GROUP)
features_app = typer.Typer(help="Per-field time series and features.", **_GROUP)
imagery_app = typer.Typer(help="Imagery sources (Sentinel Hub).", **_GROUP)
evaluate_app = typer.Typer(help="Honest evaluation on a county folder (reads truth/).", **_GROUP)
train_app = typer.Typer(help="Train models and register them.", **_GROUP)
models_app = typer.Typer(help="The MLflow model registry: list, show, promote; a version's input stability, outcomes "
                         "and promotion impact.", **_GROUP)
audit_app = typer.Typer(help="The decision store's audit chain.", **_GROUP)
policy_app = typer.Typer(help="The credit policy and its change control: show a policy, diff two, validate a "
                         "candidate file (against the released versions and a store), the versions that decided a "
                         "store's records, and what a change of policy would do to a batch of decisions.", **_GROUP)
decisions_app = typer.Typer(help="Stored decisions.", **_GROUP)
report_app = typer.Typer(help="HTML reports with maps and plots.", **_GROUP)
schedule_app = typer.Typer(help="Re-underwriting checkpoints.", **_GROUP)

def version_text() -> str:
    """What ``agcredit --version`` prints: the release, a digest of the installed source (two installations of one
    release with an edited file differ), the shipped policy and the libraries' versions — what a support ticket or a
    model-risk file needs to name the software that produced a figure or a decision (a registered model version
    records the same: ``registry_provenance``)."""
    from importlib import metadata

    from pipelines._code_digest import VERSION_SOURCES, registry_provenance
    from underwriting.policy import default_policy

    try:
        release = metadata.version("agcredit")
    except metadata.PackageNotFoundError:
        release = "not installed"
    pol = default_policy()
    prov = registry_provenance()
    return (f"agcredit {release} (source sha256:{prov['source_sha256'][:16]} over "
            f"{', '.join(VERSION_SOURCES)})\n"
            f"shipped policy {pol.policy_id} v{pol.version} (hash {pol.content_hash[:12]})\n"
            f"python {sys.version.split()[0]}; {prov['libraries']}")


def _version_callback(value: bool) -> None:
    if value:
        from features.errors import UserInputError

        try:
            text = version_text()
        except UserInputError as e:  # e.g. AGCREDIT_REGIONS_DIR naming no folder: one line, exit 2, as every command
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        typer.echo(text)
        raise typer.Exit(0)


@app.callback()
def _main_options(version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_version_callback,
                                               help="Print the release, its source digest, the shipped policy and the "
                                                    "libraries' versions, and exit.")) -> None:
    """Agricultural credit underwriting from satellite evidence."""


GROUPS: dict[str, typer.Typer] = {
    "fields": fields_app, "features": features_app, "imagery": imagery_app, "evaluate": evaluate_app,
    "train": train_app, "models": models_app, "audit": audit_app, "decisions": decisions_app,
    "report": report_app, "schedule": schedule_app, "policy": policy_app,
}


def mount_groups() -> None:
    """Add the command groups that have commands (called once, after the command modules are imported)."""
    for name, group in GROUPS.items():
        if group.registered_commands or group.registered_groups:
            app.add_typer(group, name=name)


F = TypeVar("F", bound=Callable[..., Any])


def echo(msg: str = "") -> None:
    """Print to standard output."""
    typer.echo(msg)


@contextmanager
def progress_ticks(label: str, enabled: bool) -> Iterator[Callable[[int, int, str], None]]:
    """A transient progress bar labelled ``label`` on standard error, and the ``tick(done, total, what)`` that moves
    it. Drawn only on a terminal: redirected, the bar would leave a blank line before a one-line error."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn(), console=console, disable=not (enabled and console.is_terminal), transient=True)
    with bar:
        task = bar.add_task("", total=None)

        def tick(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        yield tick


def parse_date(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD option value (None when absent), or a one-line user error naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserInputError(f"{name}: expected a date YYYY-MM-DD, found {value!r}") from None


def parse_dates(value: str | None, name: str) -> list[date] | None:
    """A comma-separated list of YYYY-MM-DD dates, or ``none`` (an empty list); None when absent; else a one-line
    user error naming the option."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() == "none":
        return []
    parts = [p.strip() for p in text.split(",")]
    if not text or any(not p for p in parts):
        raise UserInputError(f"{name}: expected comma-separated dates YYYY-MM-DD or none, found {value!r}")
    return [d for p in parts if (d := parse_date(p, name)) is not None]


def err(msg: str) -> None:
    """Print to standard error."""
    typer.echo(msg, err=True)


#: errno values of an OSError that is about a path the user chose (not a bug): permissions, read-only file
#: system, a folder where a file is expected or the reverse, an existing file, a full disk or quota
_PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.EEXIST,
                          errno.ENOSPC, errno.EDQUOT})
#: errno values that come from writing whatever the call was
_WRITE_ERRNOS = frozenset({errno.EROFS, errno.EEXIST, errno.ENOSPC, errno.EDQUOT})
#: the temporary name of the atomic writers (features/atomic.py): ``.NAME.<host>-<pid>.<random>.tmp`` (or, the
#: writability probe and files of earlier releases, ``.NAME.<random>.probe|tmp``)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+?)\.(?:[A-Za-z0-9_-]+-\d+\.)?[A-Za-z0-9_]{6,}\.(?:tmp|probe)$")
#: names of the innermost functions that show the failing call was writing (else it was reading)
_WRITE_FRAME = re.compile(r"write|save|mkdir|mkstemp|replace|rename|dump|to_csv|to_parquet|unlink|output")


def _shown_path(name: object) -> str:
    """A path for a message: an atomic writer's temporary file is shown as the file it stands for."""
    text = os.fsdecode(name) if isinstance(name, str | bytes | os.PathLike) else str(name)
    m = _TEMP_NAME.match(os.path.basename(text))
    return os.path.join(os.path.dirname(text), m.group("name")) if m else text


def _open_file_of(e: OSError) -> str | None:
    """The path of the file object opened for writing in the innermost frames of ``e``'s traceback that holds one (a
    write to a full disk raises an OSError naming no file: ``f.write``, ``f.flush``, ``Path.write_text``), else
    None. A file open for reading only is never named (it is not what a full disk refused)."""
    import io

    for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))[-10:]):
        for value in frame.f_locals.values():
            if not isinstance(value, io.IOBase):
                continue
            name, mode = getattr(value, "name", None), getattr(value, "mode", None)
            if isinstance(name, str | bytes) and name and isinstance(mode, str) and any(c in mode for c in "wax+"):
                return os.fsdecode(name)
    return None


def path_error(e: OSError) -> str | None:
    """One line ``cannot write|read PATH: REASON`` for an OSError about a path (permissions, read-only file system,
    a folder where a file is expected, a file where a folder is expected, a full disk); None for other OSErrors."""
    if e.errno not in _PATH_ERRNOS:
        return None
    names = [n for n in (e.filename2, e.filename) if n is not None]
    if not names and e.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    frames = [f.f_code.co_name for f, _ in traceback.walk_tb(e.__traceback__)]
    writing = (e.errno in _WRITE_ERRNOS or e.filename2 is not None
               or any(_WRITE_FRAME.search(name) for name in frames[-10:]))
    reason = e.strerror or type(e).__name__
    if not names:
        found = _open_file_of(e)  # a full disk met by file.write: the file the failing frame was writing
        if found is None:
            return f"cannot {'write' if writing else 'read'}: {reason}"
        names = [found]
    path = _shown_path(names[0])
    if e.errno == errno.EEXIST and os.path.isfile(path):  # mkdir where a file is: say which is in the way
        reason = "it is a file (expected a folder)"
    return f"cannot {'write' if writing else 'read'} {path}: {reason}"


def _same_path(a: str, b: str) -> bool:
    """Whether two paths name one file: equal once resolved (symbolic links, ``..``), or, both existing, the same
    file (a hard link, a case-insensitive file system)."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        if pa.resolve() == pb.resolve():
            return True
        return pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    except (OSError, RuntimeError):  # a symbolic-link loop, an unreadable folder: not shown to be the same
        return False


def _store_file(url: str) -> str | None:
    """The database file of a ``sqlite:///PATH`` store URL (None for any other store)."""
    m = re.match(r"^sqlite(?:\+\w+)?:///(?P<path>[^?]+)", url)
    return m.group("path") if m and m.group("path") != ":memory:" else None


def refuse_out_over_inputs(out: str | os.PathLike[str] | None, /, *, as_option: str = "--out",
                           **inputs: str | os.PathLike[str] | None) -> None:
    """Refuse (:class:`UserInputError`, before anything is read or written) an ``--out`` file that is one of the
    command's inputs: written, it would replace the file the run read (the applications, the fields, the
    features...). ``inputs``: option name (``history`` → ``--history``, ``store`` a store URL) → the path given
    (None: not given). ``as_option``: the output's option (``--rejects``)."""
    if out is None:
        return
    for name, given in inputs.items():
        if given is None:
            continue
        path = _store_file(str(given)) if name == "store" else os.fspath(given)
        if path is not None and _same_path(os.fspath(out), path):
            opt = "--" + name.replace("_", "-")
            raise UserInputError(f"{as_option} {os.fspath(out)}: is the {opt} file {os.fspath(given)}, an input of this "
                                 f"run: writing it would replace that input; give another {as_option} file")


def user_errors(fn: F) -> F:
    """Turn agcredit's user errors (and missing files, and paths that cannot be read or written) into one line on
    stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserInputError as e:
            err(f"error: {e}")
            raise typer.Exit(code=2) from None
        except FileNotFoundError as e:
            err(f"error: file not found: {e.filename or e}")
            raise typer.Exit(code=2) from None
        except OSError as e:
            msg = path_error(e)
            if msg is None:
                raise
            err(f"error: {msg}")
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (:class:`Terminated`)
            raise _interrupted(e) from None

    return wrapper  # type: ignore[return-value]


def _interrupted(e: KeyboardInterrupt) -> typer.Exit:
    """The one line on stderr of a run stopped by SIGTERM (:class:`Terminated`, exit 143) or Ctrl-C (exit 130), and
    the exit to raise."""
    # a command whose finished parts are kept on purpose for its re-run says which (``agcredit_kept``: `value`)
    kept = getattr(e, "agcredit_kept", None) or "nothing partial was kept"
    if isinstance(e, Terminated):
        err(f"terminated (SIGTERM): {kept}; re-run to complete")
        return typer.Exit(code=143)
    err(f"interrupted: {kept}; re-run to complete")
    return typer.Exit(code=130)


class Terminated(KeyboardInterrupt):
    """SIGTERM received (a scheduler's stop, ``systemctl stop``, ``kill``): raised in the main thread like Ctrl-C, so
    the run's ``finally`` blocks and context managers remove what they would on an interrupt (a temporary download
    folder, a half-written file) before it exits 143 — the default action ran none of them."""


_SIGTERM_PID: list[int] = []  # the process that installed the handler (a forked worker inherits it)


def _on_sigterm(signum: int, frame: Any) -> None:
    import signal

    if _SIGTERM_PID and os.getpid() != _SIGTERM_PID[0]:  # a forked worker (a pool terminating it): die as before
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise stopping(signal.SIGTERM, Terminated())  # ignored from now on; delivered again if swallowed (_stop_again)


def _on_sigint(signum: int, frame: Any) -> None:
    if not _SIGTERM_PID or os.getpid() == _SIGTERM_PID[0]:  # the command's own process, not a forked worker
        raise stopping(signum, KeyboardInterrupt())
    raise KeyboardInterrupt


def quiet_signals() -> None:
    """Ignore SIGTERM and SIGINT from now on (the main thread only): the first one stops the run and its clean-up
    runs to the end — a second, as `timeout` sends to the process and its group, or a double Ctrl-C, raised again
    inside the clean-up (an ``Exception ignored in … __del__`` traceback, a temporary file not removed); and once the
    command has returned, a signal arriving while the interpreter shuts down killed a finished run (exit 143, no
    line) after its output was complete."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only where handle_sigterm installed its handlers (the command)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def handle_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` in this process (the ``agcredit`` command; main thread only, and only
    where SIGTERM still has its default action), and Ctrl-C into the one KeyboardInterrupt (where SIGINT has
    Python's default handler): either one, the second and later ones ignored (:func:`quiet_signals`)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _SIGTERM_PID[:] = [os.getpid()]
        install_stop_hook()
        signal.signal(signal.SIGTERM, _on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)


def setup_logging() -> None:
    """Log to stderr at the level of AGCREDIT_LOG_LEVEL (default WARNING), every line with its UTC time and the run
    id; AGCREDIT_LOG_FORMAT=json: one JSON object per line (ts, level, logger, run_id, msg). A value of either that is
    none of these is a :class:`UserInputError` (it had been taken for the default without a word: ``verbose`` logged
    nothing more, ``jsonl`` gave a log collector text lines), as is an ``AGCREDIT_RUN_ID`` of another shape than a
    run id's (it had been replaced by a random one: the scheduler's job id was lost from the log)."""
    raw = os.environ.get("AGCREDIT_LOG_LEVEL", "").strip()
    level = raw.upper() or "WARNING"
    if level not in logging.getLevelNamesMapping():
        raise UserInputError(f"AGCREDIT_LOG_LEVEL={raw!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL (unset: "
                             "WARNING)")
    fmt = os.environ.get("AGCREDIT_LOG_FORMAT", "").strip()
    if fmt.lower() not in ("", "text", "json"):
        raise UserInputError(f"AGCREDIT_LOG_FORMAT={fmt!r}: expected json or text (unset: text)")
    given = os.environ.get("AGCREDIT_RUN_ID", "").strip()
    if given and not _RUN_ID_SHAPE.match(given):  # it was replaced by a random id without a word: the scheduler's
        raise UserInputError(f"AGCREDIT_RUN_ID={given[:80]!r}: expected letters, digits and ._- (starting with a "  # job
                             "letter or digit), up to 64 characters (unset: 8 random hex digits)")  # id was lost
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_format() == "json" else _TextFormatter())
    handler.addFilter(_RunIdFilter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if getattr(h, "_agcredit", False) is False]
    handler._agcredit = True  # type: ignore[attr-defined]  # (a second call replaces it)
    root.addHandler(handler)
    root.setLevel(level)
    # MLflow configures its own loggers when imported, each line in its own format through its own handler: they
    # come through ours instead (time, run id, JSON), at our level unless MLFLOW_LOGGING_LEVEL says otherwise; the
    # database migrations' loggers stay at WARNING at least, as MLflow sets them
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    mlflow_level = logging.getLevelNamesMapping().get(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
    # the libraries' loggers (pipelines._logs.quiet_libraries: a Dask task on a worker sets them as here)
    quiet_libraries(root.level, mlflow_level)


def _command_name(argv: list[str]) -> str:
    """The command a command line runs (``reunderwrite``, ``models promote``), from the names of the app's groups and
    commands only — never an argument's value (a path may hold a farmer's name, a store URL a password)."""
    import typer.main

    group: Any = typer.main.get_command(app)
    names: list[str] = []
    for arg in argv:
        if arg.startswith("-"):
            if arg in ("--version", "-V", "--help", "-h") and not names:
                return f"agcredit {arg}"
            continue
        sub = group.commands.get(arg) if hasattr(group, "commands") else None
        if sub is None:
            break
        names.append(arg)
        group = sub
    return " ".join(["agcredit", *names])


def _release() -> str:
    from importlib import metadata

    try:
        return metadata.version("agcredit")
    except metadata.PackageNotFoundError:
        return "not installed"


def run_logged(run: Callable[[], Any], argv: list[str]) -> None:
    """Run the app (``run``), with a line at INFO when it starts (``run ID started: agcredit COMMAND (version V)``)
    and one when it ends (``run ID ended: exit CODE in S s``), the exit code the process's; re-raise its exit."""
    import time

    log = logging.getLogger("agcredit")
    start = time.monotonic()
    if log.isEnabledFor(logging.INFO):
        log.info("run %s started: %s (version %s)", run_id(), _command_name(argv), _release())
    code: int = 0
    try:
        run()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    except BaseException:
        code = 1
        raise
    finally:
        log.info("run %s ended: exit %d in %.1f s", run_id(), code, time.monotonic() - start)
