"""Runners: where the partitions of a distributed stage execute (private; see :mod:`pipelines.distributed`).

A runner maps a module-level function over a list of task descriptions and returns the
results in the order of the list. :class:`LocalRunner` runs them one after another in
this process and never imports dask; :class:`DaskRunner` runs them on a
``dask.distributed`` cluster — an existing one (scheduler address) or a
:class:`distributed.LocalCluster` it starts (processes, one thread each, a memory limit
per worker). Objects every task needs (a model, a price table) are passed as ``shared``:
the dask runner scatters them once to every worker instead of once per task.

A worker lost mid-run is handled by dask: its unfinished tasks are re-run elsewhere. The
stage functions make that safe — every task is idempotent and writes its output
atomically (see :mod:`pipelines._dask_parts`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, Protocol, TypeVar

from features.errors import PicklableError
from pipelines._logs import TaskLogs
from pipelines.errors import ClusterLostError, RunInputError

__all__ = ["DEFAULT_MEMORY_LIMIT", "Runner", "LocalRunner", "DaskRunner", "local_runner", "dask_runner",
           "runner_from_options"]

T = TypeVar("T")
R = TypeVar("R")

#: memory limit of each worker of a local cluster (dask pauses a worker at 80 %, restarts it at 95 %)
DEFAULT_MEMORY_LIMIT = "3GiB"


class Runner(Protocol):
    """Executes ``fn(item, **shared)`` for every item; results in item order."""

    name: str

    @property
    def n_workers(self) -> int: ...

    def map(self, fn: Callable[..., R], items: Sequence[Any], *, shared: Mapping[str, Any] | None = None,
            label: str = "task", resumable: bool = False) -> list[R]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Runner: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalRunner:
    """Single process, in order; the default (dask is never imported)."""

    name = "local"

    @property
    def n_workers(self) -> int:
        return 1

    def map(self, fn: Callable[..., R], items: Sequence[Any], *, shared: Mapping[str, Any] | None = None,
            label: str = "task", resumable: bool = False) -> list[R]:
        kw = dict(shared or {})
        return [fn(item, **kw) for item in items]

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "LocalRunner()"


class DaskRunner:
    """Tasks on a dask.distributed cluster through ``client``; closes what it started."""

    name = "dask"

    #: a run whose cluster has had no worker for this many seconds stops (a one-line error) instead of waiting for
    #: one for ever; the parts its finished blocks wrote are kept, so a re-run resumes
    lost_workers_wait = 60.0

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client = client
        self.cluster = cluster

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    def map(self, fn: Callable[..., R], items: Sequence[Any], *, shared: Mapping[str, Any] | None = None,
            label: str = "task", resumable: bool = False) -> list[R]:
        if not items:
            return []
        client = self.client
        from features.regions import regions_digest
        from pipelines._code_digest import VERSION_SOURCES, source_digest

        regions = regions_digest()  # before anything is submitted: a bad folder is one line, nothing left running
        source = source_digest(VERSION_SOURCES)  # what `agcredit --version` prints, which every worker's must equal
        run = os.urandom(6).hex()
        # inputs travel inside the tasks (not scattered): a task whose worker dies is re-run from its recipe
        kw = {k: client.submit(_identity, v, pure=False, key=f"agcredit-shared-{k}-{run}")
              for k, v in (shared or {}).items()}
        # a worker started without the bank's regions folder (or with another) would read other season windows,
        # calendars and prices than this run: each task first checks the worker's region files against the run's
        # a task's log lines on its worker carry this run's id, format and level, as the client's own do
        with warnings.catch_warnings():  # dask's "Sending large graph" UserWarning: the inputs travel inside the
            # tasks on purpose (above), and its advice (scatter) would lose the recipes; a raw warning to the user
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            futures = client.map(_PlainErrors(fn, regions, TaskLogs.of_client(), source), list(items), **kw, pure=False,
                                 key=[f"agcredit-{label}-{i}-{run}" for i in range(len(items))])
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        # the tasks finished, counted as they finish: once the scheduler is lost every future reads "cancelled" (the
        # count said 0 of N done with parts on disk)
        finished: set[str] = set()
        for f in futures:
            f.add_done_callback(lambda g: finished.add(g.key) if g.status == "finished" else None)
        try:
            self._wait_with_workers(futures, label, resumable, finished)
            return list(client.gather(futures))
        except KilledWorker as e:  # dask's own message is a traceback naming none of this
            raise ClusterLostError(what="dask runner", problem=(
                f"a {label} task killed its worker {_allowed_failures()} times (most often over the worker's memory "
                "limit: dask restarts a worker at 95 % of it); give fewer fields per task (halve --chunk-fields) or "
                "more memory per worker" + (" — the parts already written are kept: a re-run resumes from them"
                                            if resumable else ""))) from e
        except (CancelledError, CommClosedError) as e:  # the scheduler gone mid-run: a 200-line traceback, exit 1
            raise ClusterLostError(what="dask runner", problem=(
                f"lost the connection to the scheduler at {self.address} mid-run ({type(e).__name__}), with {len(finished)} of "
                f"{len(futures)} {label} task(s) done; restart the scheduler and its workers, then re-run" +
                (" (the parts already written are kept: it resumes from them)" if resumable else
                 " (this run writes no parts: a re-run starts over)"))) from None
        finally:
            client.cancel([*futures, *kw.values()])

    def _wait_with_workers(self, futures: list[Any], label: str, resumable: bool = False,
                           finished: set[str] | None = None, poll: float = 2.0) -> None:
        """Wait for ``futures``; every ``poll`` seconds count the workers, and stop once there has been none for
        :attr:`lost_workers_wait` seconds (all lost mid-run: dask would wait for one for ever). ``finished``: the keys
        of the tasks finished so far (else their futures' states are read)."""
        import time

        from distributed import wait

        since: float | None = None
        while True:
            try:
                wait(futures, timeout=poll)
                return
            except TimeoutError:
                pass
            if self.n_workers > 0:
                since = None
                continue
            since = since if since is not None else time.monotonic()
            if time.monotonic() - since >= self.lost_workers_wait:
                done = len(finished) if finished is not None else sum(f.status == "finished" for f in futures)
                raise ClusterLostError(what="dask runner", problem=(
                    f"every worker of the scheduler at {self.address} was lost {self.lost_workers_wait:.0f} s ago "
                    f"and none returned; stopped with {done} of {len(futures)} {label} task(s) done" +
                    (" (the parts already written are kept: a re-run resumes from them)" if resumable else
                     " (this run writes no parts: a re-run starts over)")))

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "local cluster" if self.cluster is not None else "cluster"
        return f"DaskRunner({where} at {self.address}, {self.n_workers} workers)"


def _identity(x: T) -> T:
    return x


def _allowed_failures() -> int:
    import dask

    return int(dask.config.get("distributed.scheduler.allowed-failures", 3)) + 1


class _PlainErrors:
    """``fn`` as a task whose agcredit errors reach the client whole: the chain of exceptions behind one raised
    ``from None`` (a GDAL error inside rasterio's) is dropped before dask pickles it — one unpicklable link and dask
    sent a bare ``Exception`` with the worker's traceback instead of the one-line user error. ``regions``: the run's
    :func:`features.regions.regions_digest` (None: no regions folder), which the worker's own must equal. ``logs``:
    the client's run id, log format and level, which the task's log lines on the worker take
    (:class:`pipelines._logs.TaskLogs`; None: the worker's logging as it is). ``source``: the client's source digest
    (``agcredit --version``; None: not checked), which the worker's must equal — a worker running other agcredit code
    computed other figures, stored under the parts' names the client's code keys."""

    def __init__(self, fn: Callable[..., Any], regions: str | None = None, logs: TaskLogs | None = None,
                 source: str | None = None) -> None:
        self.fn = fn
        self.regions = regions
        self.logs = logs
        self.source = source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            with self.logs.active() if self.logs is not None else nullcontext():
                _same_regions(self.regions)
                if self.source is not None:
                    _same_source(self.source)
                return self.fn(*args, **kwargs)
        except PicklableError as e:
            e.__cause__ = None
            e.__context__ = None
            raise


def _same_regions(expected: str | None) -> None:
    """A one-line error when this process's region files (``AGCREDIT_REGIONS_DIR``) are not the run's."""
    import socket

    from features.regions import REGIONS_ENV, regions_digest

    try:
        got = regions_digest()
    except (PicklableError, OSError) as e:  # the folder named on the worker is missing, unreadable, holds a stray file
        got = f"unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if got == expected:
        return

    def say(d: str | None) -> str:
        return "none (the variable unset)" if d is None else d if d.startswith("unreadable") else f"digest {d[:12]}"

    raise RunInputError(what=f"dask worker on {socket.gethostname()}", problem=(
        f"its region files ({REGIONS_ENV}) are not this run's: the run's {say(expected)}, the worker's {say(got)}; "
        f"start every worker with the same {REGIONS_ENV} folder as the client (season windows, calendars and prices "
        "come from it)"))


def _same_source(expected: str) -> None:
    """A one-line error when this process's agcredit source (its digest, as ``agcredit --version`` prints it) is not
    the client's."""
    import socket

    from pipelines._code_digest import VERSION_SOURCES, source_digest

    got = source_digest(VERSION_SOURCES)
    if got == expected:
        return
    try:
        from distributed import get_worker

        where = f"{get_worker().address} on {socket.gethostname()}"
    except (ImportError, ValueError):  # called outside a worker
        where = f"on {socket.gethostname()}"
    raise RunInputError(what=f"dask worker {where}", problem=(
        f"it runs other agcredit code than the client: source sha256:{got[:16]} on the worker, sha256:{expected[:16]} "
        "on the client (`agcredit --version` prints it); start every worker with the client's agcredit installation "
        "(valuations, features and decisions come from it)"))


def local_runner() -> LocalRunner:
    """The single-process runner (the default of every stage)."""
    return LocalRunner()


def dask_runner(scheduler: str | None = None, workers: int | None = None, *,
                memory_limit: str | int = DEFAULT_MEMORY_LIMIT, local_directory: str | None = None,
                timeout: str = "20s") -> DaskRunner:
    """A runner on an existing cluster (``scheduler`` address, e.g. ``tcp://10.0.0.5:8786``) or on a
    :class:`distributed.LocalCluster` of ``workers`` processes with one thread each and ``memory_limit``
    per worker (dask spills at 60 %, pauses at 80 % and restarts a worker at 95 % of it)."""
    if scheduler and workers:
        raise RunInputError(what="dask runner", problem="give either a scheduler address or a number of local workers, "
                            "not both")
    if workers is not None and workers < 1:
        raise RunInputError(what="dask runner", problem=f"the number of workers must be at least 1, found {workers}")
    from distributed import Client, LocalCluster

    # a lost scheduler is said in one line (DaskRunner.map); the client's own ERROR tracebacks of it are not
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    if scheduler:
        return DaskRunner(_connect(scheduler, timeout))
    # the in-process scheduler logs its INFO lines (start, cancels, shutdown) outside silence_logs' window; the
    # workers' "Compute Failed" ERROR lines repeat a task's error, which reaches the client and is said there once
    for name in ("distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "Worker process still alive after 4.0 seconds, killing", "Restarting worker": the nanny's WARNINGs of a stop
    # (Ctrl-C, SIGTERM) printed before the command's one line (a review)
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    cluster, failed = None, None
    with _quiet_start() as stopped:
        try:
            cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                   memory_limit=memory_limit, dashboard_address=":0", silence_logs=logging.CRITICAL,
                                   local_directory=local_directory,
                                   preload=["pipelines._dask_worker_signals"])  # Ctrl-C for the command only
        except Exception as e:  # the workers stopped by a Ctrl-C while they started, or a host refusing the cluster
            failed = e
    if stopped:  # a Ctrl-C or SIGTERM while the cluster started: taken now, as the command takes any (its handler)
        if cluster is not None:
            cluster.close()
        import signal

        signal.raise_signal(stopped[0])
        raise KeyboardInterrupt  # a handler that did not raise (ignored): stopped all the same
    if failed is not None:
        if not isinstance(failed, (RuntimeError, TimeoutError, OSError)):
            raise failed
        reason = " ".join(str(failed).split())[:200] or type(failed).__name__  # loopback ports blocked
        raise RunInputError(what="dask runner", problem=(
            f"the local cluster of {workers or 2} worker process(es) did not start ({reason}): the workers talk "
            "to their scheduler over loopback TCP — check that this host allows it, or run without --workers")
                            ) from None
    assert cluster is not None
    return DaskRunner(Client(cluster), cluster)


@contextlib.contextmanager
def _quiet_start() -> Iterator[list[int]]:
    """While a local cluster starts: a Ctrl-C (the terminal sends it to the whole process group) or a SIGTERM is
    noted, not raised — in the list yielded — and the worker processes started meanwhile write their standard error to the
    null device (they are spawned with this process's). Each had printed its KeyboardInterrupt traceback while
    importing, and the command a half-built cluster's (29–151 lines, a review); the command now takes the Ctrl-C once
    the cluster is up, or stopped. The workers' errors reach the command through their tasks, which says them."""
    import signal
    import threading

    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    def note(signum: int, frame: Any) -> None:
        stopped.append(signum)

    before = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield stopped
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        for sig, handler in before.items():
            signal.signal(sig, handler)


_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def _connect(scheduler: str, timeout: str, worker_wait: float = 60.0) -> Any:
    """A :class:`distributed.Client` on the scheduler at ``scheduler``, with at least one worker; every way the
    address can be wrong is a one-line :class:`RunInputError` within seconds: an unknown scheme, a closed port (the
    system's reason), something else listening there (an HTTP server, the scheduler's dashboard port — the
    handshake then hangs or reads garbage), or a scheduler without workers after ``worker_wait`` seconds."""
    import socket
    import threading
    from urllib.parse import urlsplit

    from dask.utils import parse_timedelta
    from distributed import Client

    from models._registry_uri import safe_uri

    shown = safe_uri(scheduler)  # tcp://user:PASSWORD@host: the password masked, as a registry's or store's

    def fail(problem: str) -> RunInputError:
        return RunInputError(what="dask runner", problem=f"the scheduler at {shown}: {problem}")

    scheme = scheduler.split("://", 1)[0].lower() if "://" in scheduler else "tcp"
    if scheme not in _SCHEMES:
        raise fail(f"unknown address scheme '{scheme}' (expected tcp://HOST:PORT)")
    if scheme in ("tcp", "tls"):
        if "@" in scheduler:  # Dask has no login: the handshake failed later as "no Dask scheduler answered"
            raise fail("a Dask scheduler's address holds no user name or password (Dask logs in by no password: "
                       "give tcp://HOST:PORT, or tls://HOST:PORT with the client's TLS certificates for a cluster "
                       "that admits only its own)")
        parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if not host or port is None:
            raise fail("expected tcp://HOST:PORT")
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as e:
            raise fail(f"cannot connect ({e.strerror or type(e).__name__})") from None
    box: dict[str, Any] = {}

    def open_client() -> None:
        try:
            box["client"] = Client(scheduler, timeout=timeout)
        except BaseException as e:  # noqa: BLE001 — reported below as one line, whatever the handshake raised
            box["error"] = e

    t = threading.Thread(target=open_client, daemon=True)
    t.start()
    t.join(float(parse_timedelta(timeout)) + 10.0)
    if "client" not in box:
        why = type(box["error"]).__name__ if "error" in box else "no answer"
        if scheme == "tls":  # no TLS settings here, or a plain scheduler there: "(TypeError)" said neither
            raise fail(f"no Dask scheduler answered over TLS ({why}): a tls:// address needs a scheduler started with "
                       "TLS and this client's certificates in the Dask configuration (distributed.comm.tls.*); a "
                       "scheduler without TLS is reached at tcp://HOST:PORT")
        raise fail(f"no Dask scheduler answered ({why}): is it the scheduler's port (8786 by default; 8787 is its "
                   "dashboard)?" + (" A scheduler started with TLS is reached at tls://HOST:PORT." if scheme == "tcp"
                                    else ""))
    client = box["client"]
    try:
        client.wait_for_workers(1, timeout=worker_wait)
    except (TimeoutError, OSError):
        client.close()
        raise fail(f"no worker joined within {worker_wait:.0f} s (start one: dask worker {shown})") from None
    return client


def runner_from_options(scheduler: str | None = None, workers: int | None = None) -> LocalRunner | DaskRunner:
    """What the CLI options ``--scheduler ADDRESS`` / ``--workers N`` ask for (neither: single process)."""
    if not scheduler and not workers:
        return local_runner()
    return dask_runner(scheduler or None, workers or None)
