"""A Process-API download (``--imagery sentinelhub``) with its requests on Dask workers (private; used by the library's
:func:`pipelines.distributed.run_series`, :func:`~pipelines.distributed.features_distributed` and
:func:`~pipelines.distributed.run_portfolio`, and so by :func:`pipelines._dask_featurize.featurize_on` and
:func:`~pipelines._dask_featurize.past_series_on` for the series and the planted area's scene folder, whose blocks
then read the folder it wrote).

A download's request boxes follow the fields asked (:func:`features.sources._sh_plan.plan_tiles`: close fields share
a box), so they are planned on the client over ALL the fields, as one machine plans them; only the requests travel:
one task per box for its Catalog search, then one per box for its acquisitions' GeoTIFFs
(:func:`features.sources.sentinelhub.tile_task`: one machine's requests, cache, locks, retries and processing-unit
accounting). The client reads the answers in one machine's order and writes the scene folder from the cached
GeoTIFFs — the folder, the summary and the errors (a Catalog failure, acquisitions failed after the retries, a 403's
quota error, no credentials) are one call's; nothing is written on an error.

Where things are: each worker downloads into its cache (``XDG_CACHE_HOME``, else ``~/.cache``: give the workers and
the client one shared folder at the same path — the client copies the GeoTIFFs the workers name), and the scene
folder is written where one machine writes it (``<cache>/series/sentinelhub``, ``<cache>/area/sentinelhub``), which the
series' and the planted area's blocks read on the workers, as a scene folder's Dask run assumes (the same path on every
worker: a shared file system). Without ``--cache`` (:func:`scene_folder`) it is a temporary folder removed after the
run, also after a failure: on one machine or a local cluster this process started, in the client's temporary folder
(its workers are processes of this machine); on a cluster given by address, whose workers cannot see the client's
temporary folder, inside the Sentinel Hub cache folder the workers share (checked first; it was the client's temporary folder there
too, which a remote cluster's blocks could not read).

The shared cache is checked up front (:func:`check_shared_cache`, one round trip before any request): the client
writes a marker file of a random name in the cache folder and every worker reads it in the folder its downloads go
to; a worker that cannot is a one-line error naming the folder and how many workers cannot see it (a remote cluster
without the shared folder failed only at the planted area, after the downloads). A ``--cache`` folder holding the scene
folders the blocks read is checked the same way (:func:`check_shared_folder`).

Credentials: a task carries the endpoint's name and a sentinelhub profile's *name* only; each worker reads its own
(``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` or its sentinelhub profile) when its first request needs them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["fetch_on", "check_shared_cache", "check_shared_folder", "scene_folder", "workers_credentials"]


def fetch_on(runner: Any, fields: Any, start: dt.date, end: dt.date, out_dir: Path, **kw: Any) -> Any:
    """:func:`features.sources.sentinelhub.fetch` with its requests on ``runner``'s workers (see the module
    docstring); the same :class:`~features.sources._sh_io.FetchResult`, or the same one-line error."""
    from features.sources import sentinelhub as sh

    check_shared_cache(runner, kw.get("cache_dir"))

    def map_tasks(fn: Any, tasks: list[Any], label: str) -> list[Any]:
        return list(runner.map(fn, tasks, label=label))

    with workers_credentials(runner, kw.get("endpoint", "cdse"), kw.get("profile")):
        return sh.fetch(fields, start, end, out_dir, map_tasks=map_tasks, **kw)


@contextlib.contextmanager
def workers_credentials(runner: Any, endpoint: str = "cdse", profile: str | None = None) -> Iterator[None]:
    """Requests asked on the workers of a cluster given by address: a task's missing-credentials error (a worker's
    own environment or profile; read where its first request needs them) becomes one line naming the workers — how
    many of them lack credentials, each asked at once — not the client's shell, which has them (its error read as
    the user's: "SH_CLIENT_ID and SH_CLIENT_SECRET not set ... --profile NAME"). One process, a local cluster (its
    workers have the client's environment), a client lacking them too, or every worker with credentials: the error
    as it is."""
    from features.sources._sh_io import SentinelHubCredentialsError  # not the sentinelhub library: read below only

    try:
        yield
    except SentinelHubCredentialsError as e:
        client = getattr(runner, "client", None)
        if client is None or getattr(runner, "cluster", None) is not None or _client_lacks(endpoint, profile):
            raise  # the client's shell lacks them too: its error, as one machine's
        try:
            seen = client.run(_credentials_missing, str(endpoint), profile)
        except Exception:  # noqa: BLE001 — the cluster gone meanwhile: the task's own error
            raise e from None
        lacking = sorted({w for w in seen.values() if w is not None})
        if not lacking:
            raise
        from pipelines.errors import RunInputError

        n = sum(1 for w in seen.values() if w is not None)
        raise RunInputError(what="dask runner", problem=(
            f"{n} of {len(seen)} Dask worker(s) of the scheduler at {runner.address} have no Sentinel Hub credentials "
            f"({'; '.join(lacking)}): each worker reads its own — the client's are never sent — so start every worker "
            "with SH_CLIENT_ID and SH_CLIENT_SECRET in its environment (or SH_PROFILE naming a sentinelhub profile of "
            "its config file), then re-run")) from None


def _client_lacks(endpoint: str, profile: str | None) -> bool:
    """Whether this process (the client) lacks the credentials too."""
    return _credentials_missing(endpoint, profile) is not None


def _credentials_missing(endpoint: str, profile: str | None) -> str | None:
    """On a worker: None when it has the endpoint's Sentinel Hub credentials, else where it looked and what it missed
    (never a credential's value)."""
    from features.sources import sentinelhub as sh

    try:
        sh.endpoint_credentials(sh.resolve_endpoint(endpoint, profile), profile)
    except sh.SentinelHubCredentialsError as e:
        return f"{e.source}: {str(e.problem).split(';')[0]}"
    except Exception as e:  # noqa: BLE001 — another reason, said as the worker's
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


def scene_folder(runner: Any, stack: contextlib.ExitStack, cache_dir: Path | None, sub: str) -> Path:
    """Where a Process-API download whose scene folder ``runner``'s blocks read is written (see the module
    docstring): ``<cache_dir>/<sub>`` (``cache_dir`` checked readable by every worker, :func:`check_shared_folder`),
    else a temporary folder removed with ``stack`` — the client's on one machine or a local cluster it started, inside
    the checked Sentinel Hub cache folder on a cluster given by address (a one-line :class:`UserInputError` when that
    folder cannot be checked: read-only here, so no folder can be made there either)."""
    if cache_dir is not None:
        check_shared_folder(runner, Path(cache_dir))
        return Path(cache_dir) / sub
    from features.atomic import private_tempdir

    # named with this host and process: a later run removes what a killed one left (an hour old, its process gone)
    if getattr(runner, "client", None) is None or getattr(runner, "cluster", None) is not None:
        return Path(stack.enter_context(private_tempdir("sh-scenes")))
    shared = check_shared_cache(runner)
    if shared is None:
        from features.errors import UserInputError
        from features.sources._sh_io import default_cache

        raise UserInputError(f"--imagery sentinelhub on a cluster given by address, without --cache: the Sentinel Hub "
                             f"cache folder {default_cache()} cannot be written here, so the scene folder the workers read "
                             "cannot be put where they share it; give --cache on a folder the client and every worker "
                             "share (the same path); nothing was requested")
    shared.mkdir(parents=True, exist_ok=True)
    folder = Path(stack.enter_context(private_tempdir("sh-scenes", shared)))
    folder.chmod(shared.stat().st_mode & 0o777)  # the workers' user reads it as it reads the cache (not only 0o700)
    return folder


def check_shared_cache(runner: Any, cache_dir: str | Path | None = None) -> Path | None:
    """A one-line :class:`~pipelines.errors.RunInputError` when a worker of ``runner``'s cluster cannot read the
    Sentinel Hub cache folder of the client (``cache_dir``, else ``XDG_CACHE_HOME``'s or ``~/.cache``'s, as
    :func:`features.sources.sentinelhub.tile_task` takes it on the worker): a marker file of a random name is written
    there, every worker asked at once whether it reads it in its own folder (:func:`_reads_marker`), the marker
    removed in every case (and the folder, when this made it). A runner without a cluster (one process), or a
    read-only cache the marker cannot be written in (the downloads are not cached there either), is not checked.
    Returns the folder checked, None when not checked."""
    from features.sources._sh_io import default_cache

    given = str(Path(cache_dir).absolute()) if cache_dir else None  # as fetch gives it to the tasks
    folder = Path(given) if given is not None else default_cache()
    checked = _check_marker(runner, folder, given, (
        f"the Sentinel Hub cache folder {folder} (a file the client wrote there is not in theirs): the workers download "
        "into it and the client reads what they download — give the client and every worker one shared folder at the "
        "same path (XDG_CACHE_HOME on a shared file system); nothing was requested"))
    return folder if checked else None


def check_shared_folder(runner: Any, folder: Path) -> None:
    """As :func:`check_shared_cache`, for the ``--cache`` folder a Process-API download's scene folder is written in
    (the blocks read it on the workers): a one-line :class:`~pipelines.errors.RunInputError` naming it when a worker
    cannot read the marker the client wrote there."""
    given = str(Path(folder).absolute())
    _check_marker(runner, Path(given), given, (
        f"the cache folder {given} (a file the client wrote there is not in theirs): the Sentinel Hub scenes are "
        "written there for the workers to read — give --cache a folder the client and every worker share at the same "
        "path; nothing was requested"))


def _check_marker(runner: Any, folder: Path, given: str | None, blind_reads: str) -> bool:
    """Whether every worker of ``runner``'s cluster reads a marker of a random name the client writes in ``folder``
    (``given``: the folder the workers look in, None: their own Sentinel Hub cache), asked at once; the marker removed
    in every case, and the folders made for it. A worker that cannot: a one-line RunInputError ("N of M worker(s)
    cannot read " + ``blind_reads``). False: not checked (no cluster, or the marker cannot be written)."""
    client = getattr(runner, "client", None)
    if client is None:
        return False
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    token = os.urandom(8).hex()
    marker = folder / f".agcredit-shared-{token}"
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
        except OSError:  # read-only: nothing is cached there (said by the fetch); not checked
            return False
        seen = client.run(_reads_marker, given, marker.name, token)
    finally:
        with contextlib.suppress(OSError):  # a folder that could not be made (under a file): no marker either
            marker.unlink(missing_ok=True)
        for p in missing:  # innermost first: only the folders made here, and only empty
            try:
                p.rmdir()
            except OSError:
                break
    blind = sum(1 for ok in seen.values() if not ok)
    if blind:
        from pipelines.errors import RunInputError

        raise RunInputError(what="dask runner", problem=f"{blind} of {len(seen)} worker(s) cannot read {blind_reads}")
    return True


def _reads_marker(cache_dir: str | None, name: str, token: str) -> bool:
    """On a worker: whether the marker ``name`` holding ``token`` is in the cache folder its downloads go to."""
    from features.sources._sh_io import default_cache

    folder = Path(cache_dir) if cache_dir is not None else default_cache()
    try:
        return (folder / name).read_text() == token
    except (OSError, UnicodeDecodeError):
        return False
