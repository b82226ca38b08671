"""Start a throw-away PostgreSQL server on loopback for tests (stopped and removed afterwards).

``initdb`` refuses to run as root, so when the test run is root the server runs as the
``postgres`` (or ``nobody``) user, in a fresh temporary folder owned by that user, on a
free 127.0.0.1 port, with ``fsync=off`` (data is thrown away; ``durable=True`` keeps PostgreSQL's default
``fsync``, ``synchronous_commit`` and ``full_page_writes``, for benchmarks). Use :func:`postgres_server`
as a context manager; it yields a SQLAlchemy URL (``postgresql+psycopg2://...``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["pg_bin", "postgres_available", "postgres_server", "PostgresUnavailable"]


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and pg_ctl (or ``$AGCREDIT_PG_BIN``), else None."""
    env = os.environ.get("AGCREDIT_PG_BIN")
    candidates = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                          key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                                          else 0, reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
            return user
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither user 'postgres' nor 'nobody' exists for initdb")


def postgres_available() -> tuple[bool, str]:
    """Whether a server can be started here, and why not."""
    if pg_bin() is None:
        return False, "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return False, "running as root and runuser is missing (initdb refuses root)"
    return True, ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmd(user: str | None, *args: str) -> list[str]:
    return (["runuser", "-u", user, "--"] if user else []) + list(args)


@contextmanager
def postgres_server(timeout: float = 30.0, *, durable: bool = False) -> Iterator[str]:
    """Run a PostgreSQL server for the duration of the block; yields its SQLAlchemy URL."""
    binp = pg_bin()
    if binp is None:
        raise PostgresUnavailable(postgres_available()[1])
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="agcredit-pg-"))
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        port = _start(binp, user, root, data, log, env, timeout, durable)
        try:
            yield f"postgresql+psycopg2://agcredit@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_cmd(user, str(binp / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
                           check=False, capture_output=True, env=env, timeout=timeout, cwd=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(binp: Path, user: str | None, root: Path, data: Path, log: Path, env: dict[str, str],
           timeout: float, durable: bool = False) -> int:
    try:
        if user:
            pw = pwd.getpwnam(user)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        subprocess.run(_cmd(user, str(binp / "initdb"), "-D", str(data), "-U", "agcredit", "-A", "trust",
                            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"),
                       check=True, capture_output=True, env=env, timeout=timeout, cwd=root)
        port = _free_port()
        fast = "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 {fast}-c max_connections=20 "
                f"-c shared_buffers=16MB")
        subprocess.run(_cmd(user, str(binp / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w",
                            "-t", str(int(timeout)), "start"),
                       check=True, capture_output=True, env=env, timeout=timeout + 5, cwd=root)
        return port
    except subprocess.CalledProcessError as e:
        detail = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        logtail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise PostgresUnavailable(f"{Path(e.cmd[-1]).name}: {detail[0]} {' '.join(logtail)}".strip()) from None
