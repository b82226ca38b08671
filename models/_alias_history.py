"""The alias history kept beside a SQLite registry (private to models.registry): the alias names, the append-only
``alias_history`` table and its later columns, where a tracking server keeps the history instead, and the operators
a move records (the operator, a forced promotion's second approver, a move found without its row)."""

from __future__ import annotations

import getpass
import os
import sqlite3
from pathlib import Path

from features.identity import same_person
from models._registry_store import _sqlite_path, store_root, tracking_uri
from models.errors import RegistryError

CHAMPION, CHALLENGER = "champion", "challenger"
_HISTORY_COLUMNS = ("seq", "at", "model", "alias", "version", "previous_version", "operator", "reason", "forced",
                    "metrics", "failures", "approved_by", "effective", "evidence")
#: columns added to the history table after its first release (older tables read them NULL until the first write)
_LATER_COLUMNS = ("approved_by", "effective", "evidence")
#: what a promotion's entry keeps when no shadow evidence was checked (``evidence``; None: a move recorded before it)
NOT_CHECKED = "shadow: not checked"


def _history_path() -> Path:
    """``alias_history.db`` beside ``mlflow.db``; beside a store of another name, ``<name>.alias_history.db`` (two
    stores in one folder keep their own histories)."""
    db = _sqlite_path(tracking_uri())
    if db is None or db.name == "mlflow.db":
        return store_root() / "alias_history.db"
    return store_root() / f"{db.stem}.alias_history.db"


def _history_db() -> sqlite3.Connection:
    path = _history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE IF NOT EXISTS alias_history (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, model TEXT NOT NULL, alias TEXT NOT NULL,
          version TEXT, previous_version TEXT, operator TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
          metrics TEXT NOT NULL, failures TEXT NOT NULL, approved_by TEXT, effective TEXT, evidence TEXT);
        CREATE TRIGGER IF NOT EXISTS alias_history_no_update BEFORE UPDATE ON alias_history
          BEGIN SELECT RAISE(ABORT, 'alias_history is append-only'); END;
        CREATE TRIGGER IF NOT EXISTS alias_history_no_delete BEFORE DELETE ON alias_history
          BEGIN SELECT RAISE(ABORT, 'alias_history is append-only'); END;
    """)
    return con


def _has_column(con: sqlite3.Connection, column: str = "approved_by") -> bool:
    """Whether the history table has ``column`` (tables created before it have not: ``approved_by``, ``effective``)."""
    return column in {str(r[1]) for r in con.execute("PRAGMA table_info(alias_history)")}


def _add_later_columns(con: sqlite3.Connection) -> None:
    """Give a history table created before ``approved_by``, ``effective`` or ``evidence`` the column (its older rows read NULL: no
    approver, no effective date); done on the first write only, so reading an older registry never writes to it.
    ALTER TABLE ... ADD COLUMN changes no row (the append-only triggers stand); another process adding it first is
    fine."""
    for column in _LATER_COLUMNS:
        if _has_column(con, column):
            continue
        try:
            with con:
                con.execute(f"ALTER TABLE alias_history ADD COLUMN {column} TEXT")
        except sqlite3.OperationalError:
            if not _has_column(con, column):
                raise


_HISTORY_EXPERIMENT = "agcredit-alias-history"
_HISTORY_TAG = "agcredit.alias_move"


def _history_in_registry() -> bool:
    """A tracking server (or a non-SQLite database) keeps the alias history itself, as one finished run per move
    in the experiment :data:`_HISTORY_EXPERIMENT` (tags), so every operator and scheduled job reads the same one;
    a SQLite store keeps it in ``alias_history.db`` beside it."""
    return _sqlite_path(tracking_uri()) is None


def _operator(operator: str | None) -> str:
    return (operator or os.environ.get("AGCREDIT_OPERATOR") or getpass.getuser() or "unknown").strip()


def check_approver(approved_by: str | None, operator: str | None = None, *, forced: bool = True) -> str | None:
    """The second operator approving a promotion (stripped; None when none is given and none is needed). A forced
    promotion (below the minimum metrics) needs one, and any approver must be a person other than the operator
    (``operator``, else ``AGCREDIT_OPERATOR`` or the OS user: the id the history records): RegistryError otherwise.
    Both are pseudonymous operator ids (staff ids), never personal data."""
    approver = approved_by.strip() if approved_by and approved_by.strip() else None
    who = _operator(operator)
    if approver is None:
        if forced:
            raise RegistryError(problem="a forced promotion needs a second operator's approval",
                                fix="add --approved-by ID, the staff id of an operator other than " + repr(who))
        return None
    if same_person(approver, who):
        raise RegistryError(problem=f"--approved-by {approver!r} is the operator {who!r}: the approver must be a "
                                    "second person",
                            fix="--approved-by takes the staff id of another operator")
    return approver


#: the operator and reason of an alias move found without its history row (:func:`_alias_and_record`)
_UNKNOWN_OPERATOR = "unknown"
_UNRECORDED_MOVE = ("found without a history row (a run killed between moving the alias and recording it, or a move "
                    "made outside agcredit); recorded late")
