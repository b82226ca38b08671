"""A SQLite model registry moved or copied to another folder (a backup restored elsewhere, a copy for a test).

MLflow records absolute artifact locations: each experiment ``registry.register`` creates keeps its artifacts at
``file://<store folder>/artifacts/<model name>``, and its runs, logged models and model versions hold URIs under it.
A registry copied elsewhere therefore still read its models from the original folder (or failed once that was gone:
"no agcredit model folder") and wrote new versions' artifacts into it. :func:`check` refuses such a store in one
line; :func:`relocate` (``agcredit models relocate``) points every recorded location under the store's own folder,
in one transaction, after checking the artifacts are there.

Only the experiments agcredit creates are looked at (artifact location ``file://…/artifacts/<experiment name>``);
MLflow's Default experiment and experiments of other tools are left as they are.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from models.errors import RegistryError

__all__ = ["Moved", "moved_experiments", "check", "relocate"]

#: (table, column) pairs holding artifact URIs in an MLflow 3 SQLite store
_URI_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                ("model_versions", "storage_location"), ("logged_models", "artifact_location"))


@dataclass(frozen=True)
class Moved:
    """An agcredit experiment whose artifacts are recorded under another folder than the store's own."""

    name: str
    recorded: str  # the recorded prefix: file://<old folder>/artifacts/
    expected: str  # the store's own: file://<store folder>/artifacts/


def _own_prefix(db: Path) -> str:
    # resolved as the registry resolves the locations it records (an ``artifacts`` symlink included)
    return (db.parent / "artifacts").resolve().as_uri() + "/"


def _connect(db: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to ``db`` whatever characters its path holds (%, ?, # would be read as URI syntax)."""
    uri = f"file:{quote(str(db.resolve()))}" + ("?mode=ro" if read_only else "")
    return sqlite3.connect(uri, uri=True)


def _tables(con: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def moved_experiments(db: Path, *, strict: bool = False) -> list[Moved]:
    """The agcredit experiments of the SQLite store ``db`` whose artifact location is not under its own folder.
    ``strict``: a file that is no MLflow store (no ``experiments`` table, not SQLite, unreadable) is refused rather
    than taken for a store with nothing moved."""
    own = _own_prefix(db)
    try:
        con = _connect(db, read_only=True)
        try:
            rows = con.execute("SELECT name, artifact_location FROM experiments").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:  # not (yet) an MLflow store, or unreadable: MLflow's own checks speak for it
        if strict:
            raise RegistryError(problem=f"{db} is not an MLflow model registry ({e})",
                                fix="point MLFLOW_TRACKING_URI at the registry's store, e.g. "
                                    "sqlite:///mlruns/mlflow.db") from None
        return []
    out = []
    for name, loc in rows:
        if not isinstance(loc, str) or not loc.startswith("file://"):
            continue
        tail = f"/artifacts/{name}"
        if not loc.endswith(tail) or loc == own + name:
            continue
        out.append(Moved(name=str(name), recorded=loc[: -len(name)], expected=own))
    return out


def _shown(prefix: str) -> str:
    return unquote(urlsplit(prefix).path).rstrip("/")


def check(db: Path) -> None:
    """Refuse a store whose agcredit artifacts are recorded under another folder (moved or copied)."""
    moved = moved_experiments(db)
    if moved:
        m = moved[0]
        raise RegistryError(problem=f"the registry {db} records its models' artifacts under {_shown(m.recorded)}, "
                                    f"not its own folder: it was moved or copied from there, and would read and "
                                    f"write that folder's files",
                            fix="point it at its own artifacts with: agcredit models relocate")


def _named_files(spec: dict[str, Any]) -> list[str]:
    """The files and folders an MLmodel names, relative to its folder (pyfunc artifacts and data, environment files,
    input examples)."""
    pf = (spec.get("flavors") or {}).get("python_function") or {}
    env = pf.get("env")
    ex = spec.get("saved_input_example_info") or {}
    named = [a.get("path") for a in (pf.get("artifacts") or {}).values() if isinstance(a, dict)]
    named += [pf.get("data"), *(env.values() if isinstance(env, dict) else [env])]
    named += [ex.get("artifact_path"), ex.get("serving_input_path")]
    return [n for n in named if isinstance(n, str) and n and not Path(n).is_absolute()]


def _first_missing(folder: Path) -> str | None:
    """What is missing of a model version's folder: MLmodel, a file it names, or (its files holding fewer bytes
    than the model_size_bytes it records) files of the folders it names; None when it is whole."""
    import yaml

    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        return "MLmodel"
    try:
        spec = yaml.safe_load(mlmodel.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "MLmodel (unreadable)"
    spec = spec if isinstance(spec, dict) else {}
    named = _named_files(spec)
    for n in named:
        if not (folder / n).exists():
            return n
    # the files' total when saved: MLmodel and the environment files are written after it is counted
    env = ((spec.get("flavors") or {}).get("python_function") or {}).get("env")
    later = {mlmodel, folder / "requirements.txt",
             *(folder / str(e) for e in (env.values() if isinstance(env, dict) else [env]) if e)}
    recorded = spec.get("model_size_bytes")
    have = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p not in later)
    if isinstance(recorded, int) and have < recorded:
        dirs = [n for n in named if (folder / n).is_dir()] or ["."]
        return f"files of {', '.join(dirs)} ({have:,} of the {recorded:,} bytes its MLmodel records are there)"
    return None


def _check_copied(db: Path, con: sqlite3.Connection, moved: list[Moved], present: dict[str, set[str]]) -> None:
    """Every moved experiment's folder and every version's model files (MLmodel and what it names) are under the
    store's own ``artifacts``; otherwise refuse, naming each missing model or version once."""
    root = db.parent / "artifacts"
    missing = [m.name for m in moved if not (root / m.name).is_dir()]
    cols = present.get("model_versions", set())
    rows = []
    if {"name", "version", "storage_location"} <= cols:
        for p in dict.fromkeys(m.recorded for m in moved):
            rows += [(name, version, unquote(urlsplit(loc[len(p):]).path)) for name, version, loc in con.execute(
                "SELECT name, version, storage_location FROM model_versions WHERE substr(storage_location, 1, ?) = ? "
                "ORDER BY name, CAST(version AS INTEGER)", (len(p), p))]
    incomplete = None
    for name, version, rel in rows:
        if rel.split("/", 1)[0] in missing:  # its model's whole folder is missing: named once, as the model
            continue
        folder = root / rel
        if not folder.is_dir():
            missing.append(f"{name} v{version} ({rel})")
        elif incomplete is None and (gone := _first_missing(folder)) is not None:
            incomplete = f"{name} v{version} is missing {gone} under {folder}"
    if missing:
        raise RegistryError(problem=f"the artifacts of {', '.join(missing[:3])}"
                                    f"{f' and {len(missing) - 3} more' if len(missing) > 3 else ''} are not under "
                                    f"{root}; nothing changed",
                            fix="copy the registry folder whole (mlflow.db and artifacts/) before relocating it")
    if incomplete is not None:
        raise RegistryError(problem=f"the copy is incomplete: {incomplete}; nothing changed",
                            fix="copy the registry folder whole (mlflow.db and artifacts/) before relocating it")


def relocate(db: Path, *, dry_run: bool = False) -> dict[str, int]:
    """Rewrite the moved experiments' artifact URIs of store ``db`` to its own ``artifacts`` folder.

    Returns the number of rewritten values per table (empty when nothing was moved). Every moved experiment's
    folder must exist under the store's ``artifacts`` (copy it along with ``mlflow.db``); otherwise nothing is
    changed. One transaction: a failure leaves the store as it was. ``dry_run`` only reads (a store that cannot be
    written is counted all the same).
    """
    moved = moved_experiments(db, strict=True)
    if not moved:
        return {}
    con = _connect(db, read_only=True)
    try:
        present = {t: {str(c[1]) for c in con.execute(f"PRAGMA table_info({t})")} for t in _tables(con)}
        _check_copied(db, con, moved, present)
        columns = [(t, c) for t, c in _URI_COLUMNS if c in present.get(t, set())]  # no logged_models before MLflow 3
        prefixes = dict.fromkeys(m.recorded for m in moved)  # experiments moved together share one recorded prefix
        counts = {t: sum(con.execute(f"SELECT count(*) FROM {t} WHERE substr({c}, 1, ?) = ?",  # noqa: S608
                                     (len(p), p)).fetchone()[0] for p in prefixes) for t, c in columns}
    finally:
        con.close()
    if dry_run:
        return counts
    own = moved[0].expected
    try:
        con = _connect(db, read_only=False)
        try:
            with con:
                for table, col in columns:
                    for p in prefixes:
                        con.execute(f"UPDATE {table} SET {col} = ? || substr({col}, ?) "  # noqa: S608
                                    f"WHERE substr({col}, 1, ?) = ?", (own, len(p) + 1, len(p), p))
        finally:
            con.close()
    except sqlite3.Error as e:  # a read-only file or folder, a full disk, a lock held by another process
        raise RegistryError(problem=f"the registry {db} cannot be written ({e}); nothing changed",
                            fix="run it as a user who can write the registry's file and folder, or on a copy; "
                                "--dry-run only reads") from None
    return counts
