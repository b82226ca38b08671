"""Where the model registry is (private to models.registry): the tracking URI, a SQLite store's file and folder
(artifacts, model cache, alias history), refusing another application's database, relocating a moved store, and
the local model cache."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote

from models._flavours import _find_model_dir
from models._registry_uri import safe_uri
from models.errors import RegistryArtifactsError, RegistryError


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return env or f"sqlite:///{(Path.cwd() / 'mlruns' / 'mlflow.db').as_posix()}"


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    rest = unquote(uri[len("sqlite:///"):].split("?", 1)[0])
    return Path(rest) if rest.startswith("/") else Path.cwd() / rest


#: how to move the model cache of a registry that is not a local SQLite file
_CACHE_FIX = ("set XDG_CACHE_HOME to a writable folder: the models of a tracking server or database registry are "
              "cached under $XDG_CACHE_HOME/agcredit/registry, default ~/.cache/agcredit/registry")


def store_root() -> Path:
    """Folder holding a SQLite store's artifacts, model cache and alias history; for a tracking server (or another
    database) the local model cache only — ``$XDG_CACHE_HOME/agcredit/registry/<hash of the URI>`` (default
    ``~/.cache``), the same from every working folder — as the server holds the artifacts and the alias history."""
    uri = tracking_uri()
    db = _sqlite_path(uri)
    if db is not None:
        return db.parent
    import hashlib

    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no HOME and no home folder in the user database (a bare service account)
        raise RegistryArtifactsError(problem="no home folder for the local model cache",
                                     fix=_CACHE_FIX) from None
    return base / "agcredit" / "registry" / hashlib.sha256(safe_uri(uri).encode()).hexdigest()[:16]


#: where to point the tracking URI
_STORE_FIX = "point MLFLOW_TRACKING_URI at the registry's store, e.g. sqlite:///mlruns/mlflow.db"


def _check_is_file(db: Path) -> None:
    """Refuse, in one line and at once, a path that cannot be an SQLite store: a folder (say, the registry's own,
    ``mlflow.db`` left off), an unreadable file, a file that is not SQLite. MLflow retried opening them for ~2 minutes
    before "unable to open database file"."""
    if db.is_dir():
        inside = db / "mlflow.db"
        raise RegistryError(problem=f"{db} is a folder, not a model registry's database file",
                            fix=f"its store is {inside}: MLFLOW_TRACKING_URI=sqlite:///{inside}" if inside.is_file()
                            else _STORE_FIX)
    try:
        with db.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        raise RegistryError(problem=f"the model registry {db} cannot be read ({e.strerror or e})",
                            fix="run it as a user who can read the registry's file") from None
    if head and head != b"SQLite format 3\x00":  # an empty file is a new store
        raise RegistryError(problem=f"{db} is not an MLflow model registry (not an SQLite database)", fix=_STORE_FIX)


def _check_is_store(db: Path) -> None:
    """Refuse what cannot be a store (:func:`_check_is_file`) and an SQLite file holding another application's tables
    (the decision store named by mistake): MLflow would create its own tables inside it. An empty file is a new
    store."""
    from models._relocate import _connect, _tables

    _check_is_file(db)
    try:
        con = _connect(db, read_only=True)
        try:
            tables = _tables(con)
        finally:
            con.close()
    except sqlite3.Error:
        return
    if tables and "experiments" not in tables:
        from features.errors import format_offenders

        raise RegistryError(problem=f"{db} is not an MLflow model registry (it holds the tables "
                                    f"{format_offenders(sorted(tables))})",
                            fix=_STORE_FIX)


def relocate_store(*, dry_run: bool = False) -> tuple[Path, dict[str, int]]:
    """Point a moved or copied SQLite registry's recorded artifact locations at its own folder
    (:mod:`models._relocate`); returns the store and the rewritten values per table (empty: nothing had moved)."""
    from models._relocate import relocate

    uri = tracking_uri()
    db = _sqlite_path(uri)
    if db is None:
        raise RegistryError(problem=f"{safe_uri(uri)} is not a SQLite registry in a folder",
                            fix="a tracking server or another database keeps its own artifact root; nothing to move")
    if not db.exists():
        raise RegistryError(problem=f"no model registry at {db}")
    _check_is_store(db)  # another application's database: refused as every registry command refuses it
    return db, relocate(db, dry_run=dry_run)


def model_cache(name: str, version: str, run_id: str) -> Path:
    """The local copy of a version's model: keyed by its run as well as its number, so two registries sharing a
    folder (``a.db`` and ``b.db`` side by side), or a registry deleted and trained again at the same path, never
    hand one version's model to another's number."""
    return store_root() / ".cache" / name / f"{version}-{run_id}"


def model_folder(name: str, version: str, run_id: str) -> Path:
    """The local folder of a resolved version's saved model (:func:`resolve` fills it): what
    ``pipelines.featurize.model_folder_digest`` hashes, so a saved copy of the version can be told from another model."""
    return _find_model_dir(model_cache(name, version, run_id))
