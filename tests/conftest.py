"""Shared test fixtures: no network, no silent skips under AGCREDIT_NO_SKIP=1."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("AGCREDIT_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))

# On pytest-xdist workers (one per CPU) the cores are already busy: the independent LightGBM fits run one after
# the other in each worker (features/threads.py) unless a test sets AGCREDIT_THREADS itself — the threaded path
# is tested by tests/features/test_threads.py, which does (same model bytes with 1 and N threads). Four workers
# times two fit threads on two cores bought no time, and it is where the suite once died of a segmentation fault
# inside LightGBM's booster creation (README, Development).
if os.environ.get("PYTEST_XDIST_WORKER") and "AGCREDIT_THREADS" not in os.environ:
    os.environ["AGCREDIT_THREADS"] = "1"

#: the farmer-token key every test runs with (the autouse fixture below sets it for each test; module- and
#: session-scoped fixtures run before it, so the test processes hold it too): a key the shell exports — the demo's,
#: after running `agcredit demo` by the README — would otherwise make the shared fixtures' stores under that key and
#: fail every test writing to them under this one ("AGCREDIT_TOKEN_KEY is not the key this store's farmer tokens
#: were made with"), and a test that undoes its monkeypatch would run under the shell's key
TEST_TOKEN_KEY = "test-token-key-0123456789"
os.environ["AGCREDIT_TOKEN_KEY"] = TEST_TOKEN_KEY
# nor may a shell's registry or Sentinel Hub account reach the module-scoped fixtures that train and register
for _name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "SH_CLIENT_ID", "SH_CLIENT_SECRET"):
    os.environ.pop(_name, None)


#: the library functions the shortcuts below replace in the test processes (tests/test_shortcuts.py compares them)
ORIGINALS: dict[str, Any] = {}


def _copy_migrated_sqlite_stores() -> None:
    """Create the tests' new MLflow SQLite stores from one migrated template (per test process) instead of running
    MLflow's ~50 schema migrations for each: about 2.5 s a store on a slow 2-core machine, 0.06 s copied (25 stores in
    a run of the suite). The template is what MLflow's own ``_initialize_tables`` makes of an
    empty file (tables and alembic version, no experiment: the store then creates its Default experiment with its
    own artifact root, as on a fresh file). Only an SQLite *file* with no table at all is copied into; anything else
    (a partly created store, another database, ``:memory:``) runs MLflow's migrations. Processes the tests start
    (the CLI in a subprocess, Dask workers, beside processes) create their stores as production does."""
    import sqlite3
    import tempfile

    try:
        import mlflow.store.db.utils as db_utils
        import mlflow.store.model_registry.sqlalchemy_store as registry_store
    except ImportError:  # MLflow not installed: its own tests will say so
        return
    original = ORIGINALS.setdefault("mlflow_initialize_tables", db_utils._initialize_tables)
    template: list[str] = []

    def template_path() -> str:
        if not template:
            import atexit
            import shutil

            import sqlalchemy

            folder = tempfile.mkdtemp(prefix="agcredit-mlflow-template-")
            atexit.register(shutil.rmtree, folder, True)
            path = os.path.join(folder, "mlflow.db")
            engine = sqlalchemy.create_engine(f"sqlite:///{path}")
            try:
                original(engine)
            finally:
                engine.dispose()
            template.append(path)
        return template[0]

    def initialize_tables(engine: Any) -> None:
        database = engine.url.database
        if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:" \
                or database.startswith("file:"):
            return original(engine)
        src = sqlite3.connect(template_path())
        raw = engine.raw_connection()
        try:
            dest = raw.driver_connection
            if dest.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]:
                return original(engine)
            src.backup(dest)
        finally:
            raw.close()
            src.close()
        return None

    db_utils._initialize_tables = initialize_tables
    registry_store._initialize_tables = initialize_tables  # imported by name there


_copy_migrated_sqlite_stores()


def _typer_shape(app: Any) -> tuple[Any, ...]:
    """What typer builds a click command from: the app's commands and sub-apps (with their callbacks), recursively."""
    return (id(app.registered_callback), tuple(id(c) for c in app.registered_commands),
            tuple((id(g), _typer_shape(g.typer_instance)) for g in app.registered_groups))


def _cache_typer_commands() -> None:
    """Build the ``agcredit`` click command once per app shape in a test process instead of on every
    ``CliRunner.invoke`` (about 0.05 s each on a slow machine; 878 of the suite's 895 builds were repeats): a test
    that adds a command to the app changes its shape and gets a fresh build. A click command is not changed by being
    run (each run makes its own context)."""
    import typer.main
    import typer.testing

    build = ORIGINALS.setdefault("typer_get_command", typer.main.get_command)
    built: dict[int, tuple[Any, tuple[Any, ...], Any]] = {}

    def get_command(typer_instance: Any) -> Any:
        if not isinstance(typer_instance, typer.Typer):
            return build(typer_instance)
        shape = _typer_shape(typer_instance)
        hit = built.get(id(typer_instance))
        if hit is not None and hit[0] is typer_instance and hit[1] == shape:
            return hit[2]
        command = build(typer_instance)
        built[id(typer_instance)] = (typer_instance, shape, command)
        return command

    typer.main.get_command = get_command
    typer.testing._get_command = get_command  # imported by name there


_cache_typer_commands()


def no_skip() -> bool:
    return os.environ.get("AGCREDIT_NO_SKIP", "") == "1"


def require(condition: bool, why: str) -> None:
    """Skip with ``why`` unless AGCREDIT_NO_SKIP=1, where a missing prerequisite fails the test."""
    if condition:
        return
    if no_skip():
        pytest.fail(f"prerequisite missing and AGCREDIT_NO_SKIP=1: {why}")
    pytest.skip(why)


@pytest.fixture
def shared_real() -> Path:
    """The folder of real datasets (../shared/data/real), or a clean skip."""
    require(SHARED_REAL.is_dir(), f"real datasets not found at {SHARED_REAL} (set AGCREDIT_SHARED_DATA)")
    return SHARED_REAL


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # unix sockets
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to open a non-loopback connection to {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to open a non-loopback connection to {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a connection outside loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep tests away from the user's registry, store and sentinelhub config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", TEST_TOKEN_KEY)


def read_county_fields(county: Path, season: str) -> Any:
    """A county folder's fields of ``season`` (tokenised with a fixed test key: module-scoped fixtures run before
    the autouse environment fixture)."""
    from features.fields import read_fields

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", "agcredit-test-token-key-0123")
        return read_fields(county / "records" / "fields.gpkg", season=season).fields


@pytest.fixture(scope="session")
def tiny_county_sh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny smallholder demo county (12 fields, one past season), built once per test session.

    Shared by many tests: treat it as read-only (copy it with shutil.copytree before writing into it).
    """
    from democounty import simulate

    out = tmp_path_factory.mktemp("tiny-county") / "in-smallholder"
    simulate("in-smallholder", 11, "tiny", out, seasons=1, workers=1)
    return out


@pytest.fixture(scope="module")
def pg_server() -> Any:
    """A PostgreSQL server on loopback for the module's tests (its URL); skips cleanly without the server binaries
    (fails under AGCREDIT_NO_SKIP=1)."""
    from tests.pgserver import postgres_available, postgres_server

    ok, why = postgres_available()
    require(ok, why)
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow sqlite store (creating one runs all migrations: seconds), copied per test."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def mlflow_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> Path:
    """A fresh MLflow registry per test (a copy of :func:`empty_db`; its folder returned), the tracking URI and the
    operator (analyst-7) set."""
    import shutil

    root = tmp_path / "mlruns"
    root.mkdir()
    shutil.copyfile(empty_db, root / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    return root


@pytest.fixture
def unborn_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry not created yet (its folder returned, empty; the tracking URI names its ``mlflow.db``): what a run
    refused before any work must leave empty (:func:`mlflow_registry` is an initialised one)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/reg/mlflow.db")
    (tmp_path / "reg").mkdir()
    return tmp_path / "reg"
