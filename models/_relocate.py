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
        missing = [m.name for m in moved if not (db.parent / "artifacts" / m.name).is_dir()]
        if "storage_location" in present.get("model_versions", set()):
            for m in moved:  # every model version's files must be there (a version written to the old folder is not)
                n = len(m.recorded)
                for (loc,) in con.execute("SELECT storage_location FROM model_versions WHERE "
                                          "substr(storage_location, 1, ?) = ?", (n, m.recorded)):
                    if not Path(unquote(urlsplit(m.expected + loc[n:]).path)).is_dir():
                        missing.append(f"{m.name} ({loc[n:]})")
        if missing:
            raise RegistryError(problem=f"the artifacts of {', '.join(missing[:3])}"
                                        f"{f' and {len(missing) - 3} more' if len(missing) > 3 else ''} are not under "
                                        f"{db.parent / 'artifacts'}; nothing changed",
                                fix="copy the registry folder whole (mlflow.db and artifacts/) before relocating it")
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
