"""The registry's MLflow client and alias history (private to models.registry, one of the modules allowed to import
mlflow): the client on the tracking URI (every way the URI can be unusable a one-line error), the experiment, the
alias moves recorded (in the tracking server, or ``alias_history.db`` beside a SQLite store) and read back, the
version an alias stands on, and the governance record a version was registered with.
Its functions look up what they call here, not in :mod:`models.registry` (which re-exports them): a test patches a
name where its caller looks it up."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

from models._alias_history import (
    _HISTORY_COLUMNS,
    _HISTORY_EXPERIMENT,
    _HISTORY_TAG,
    _LATER_COLUMNS,
    _UNKNOWN_OPERATOR,
    _UNRECORDED_MOVE,
    _add_later_columns,
    _has_column,
    _history_db,
    _history_in_registry,
)
from models._registry_store import (
    _check_is_store,
    _sqlite_path,
    store_root,
    tracking_uri,
)
from models._registry_uri import DB_SCHEMES, missing_driver, probe_database, probe_http, reason, safe_uri
from models._version_meta import _literal
from models.errors import RegistryError, RegistryUnavailableError
from models.governance import Governance


# ---------------------------------------------------------------------- store
def _unavailable(e: MlflowException) -> RegistryUnavailableError:
    """A registry that did not answer a request (after MLflow's capped retries), or answered with an HTTP error."""
    uri = tracking_uri()
    # "… failed with error code 404 != 200"; a 5xx retried away: "ResponseError('too many 503 error responses')"
    status = re.search(r"error code (\d{3})|too many (\d{3}) error responses", str(e))
    if status:
        return RegistryUnavailableError(uri=safe_uri(uri), problem=f"the server answered HTTP "
                                        f"{status.group(1) or status.group(2)}",
                                        fix="is it an MLflow tracking server?")
    return RegistryUnavailableError(uri=safe_uri(uri), problem=reason(e, uri), connect=True)


def _raise_if_unreachable(e: MlflowException) -> None:
    """A registry that stopped answering (MLflow's "API request to … failed", after its retries) raised as the one
    line of :func:`_unavailable`: a lookup that reads any failure as "no such version or alias" told an operator to
    promote a version that exists, or trained on without the crop-type champion (a review)."""
    if str(e).startswith("API request to"):
        raise _unavailable(e) from None


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _server_lost(f: Callable[_P, _R]) -> Callable[_P, _R]:
    """A tracking server that stops answering mid-call (a registration, a promotion, a model's download) (MLflow's "API request to … failed", after its
    retries) is the one line every other registry command gives, exit 2 — it was a 1,300-line traceback, exit 1 (a
    walkthrough). What it had done stays as on any kill: a run left RUNNING is marked killed and a version cut short
    completed by the next registration."""
    @functools.wraps(f)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return f(*args, **kwargs)
        except MlflowException as e:
            if str(e).startswith("API request to"):
                raise _unavailable(e) from None
            raise
    return wrapped


def _open_client(uri: str) -> MlflowClient:
    """An MLflow client on ``uri``; every way the URI can be unusable is a one-line :class:`RegistryUnavailableError`."""
    shown = safe_uri(uri)
    try:
        scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    except ValueError:  # an unclosed [IPv6 host
        raise RegistryUnavailableError(uri=shown, problem="not a valid URI (its host cannot be read)") from None
    plain = uri[len("file://"):] if scheme == "file" else uri
    if scheme in ("", "file") and (Path(plain).is_file() or Path(plain).suffix.lower() in (".db", ".sqlite")):
        # the registry's SQLite file named without its scheme: it is not a folder, and MLflow would make one there
        raise RegistryUnavailableError(uri=shown, problem="a file path, not a registry URI",
                                       fix=f"for an SQLite registry, give sqlite:///{Path(plain).resolve()}")
    if scheme in ("", "file"):  # MLflow's file store (a folder): deprecated by MLflow 3, no alias history here
        raise RegistryUnavailableError(uri=shown, problem="a folder (MLflow's file store) is not supported as the "
                                       "model registry", fix="give a database URI, e.g. sqlite:///mlruns/mlflow.db, "
                                       "or an MLflow server's http(s) URL")
    if scheme.split("+")[0] not in ("sqlite", "http", "https", *DB_SCHEMES):
        # MLflow accepts more (databricks, uc, …) and fails later, outside these checks, with a traceback
        raise RegistryUnavailableError(uri=shown, problem=f"unsupported URI scheme '{scheme}' (supported: sqlite, "
                                       f"{', '.join(DB_SCHEMES)}, http, https)",
                                       fix="set MLFLOW_TRACKING_URI, e.g. sqlite:///mlruns/mlflow.db")
    if scheme in ("http", "https"):
        probe_http(uri, shown)
    elif scheme.split("+")[0] in DB_SCHEMES:
        probe_database(uri, shown)
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except UnsupportedModelRegistryStoreURIException as e:
        known = ", ".join(s for s in e.supported_uri_schemes if s)
        raise RegistryUnavailableError(uri=shown, problem=f"unsupported URI scheme '{scheme}' (supported: {known})",
                                       fix="set MLFLOW_TRACKING_URI, e.g. sqlite:///mlruns/mlflow.db") from None
    except ImportError as e:
        raise missing_driver(e, uri, shown) from None
    except Exception as e:  # noqa: BLE001 - MLflow and SQLAlchemy raise many kinds for a store they cannot open
        if not isinstance(e, MlflowException) and type(e).__module__.split(".")[0] != "sqlalchemy":
            raise
        raise RegistryUnavailableError(uri=shown, problem=reason(e, uri)) from None


def _client(*, create: bool) -> MlflowClient:
    uri = tracking_uri()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout is the commands' output
    db = _sqlite_path(uri)
    if db is not None and db.exists():
        _check_is_store(db)
    if db is not None and not db.exists():
        if not create:
            raise RegistryError(problem=f"no model registry at {db}",
                                fix="train and register a model first: agcredit train yield ...")
        db.parent.mkdir(parents=True, exist_ok=True)
    elif db is not None:
        from models._relocate import check

        check(db)  # a store moved or copied from another folder would read and write that folder's artifacts
    return _open_client(uri)


def check_registry() -> None:
    """The registry a registration will write to can be opened: every way its URI is unusable (a scheme, a missing
    driver, a closed port, a file that is no store, a store copied without ``models relocate``) one line, in seconds
    — a training calls it before it reads its inputs or fits, not after. Creates nothing: an SQLite store that does
    not exist yet is made by the registration."""
    db = _sqlite_path(tracking_uri())
    if db is not None and not db.exists():
        return
    _client(create=False)


def _experiment(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    loc = None
    if _sqlite_path(tracking_uri()) is not None:
        loc = (store_root() / "artifacts" / name).resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=loc))


# ---------------------------------------------------------------------- alias history
def _append_history(*, model: str, alias: str, version: str | None, previous: str | None, operator: str,
                    reason: str, forced: bool, metrics: Mapping[str, float], failures: list[str],
                    approved_by: str | None = None, effective: date | None = None,
                    evidence: str | None = None) -> None:
    """One alias move; ``effective``: the business date from which a promotion is in force for decisions
    (:func:`champion_on`), None for the other moves; ``evidence``: what evidence beyond the metrics a promotion
    checked (``shadow: checked …`` or :data:`NOT_CHECKED`), None for the other moves."""
    now = datetime.now(UTC)
    if _history_in_registry():
        client = _client(create=True)
        tags = {_HISTORY_TAG: "1", "at": now.isoformat(timespec="seconds"),
                "at_us": now.isoformat(timespec="microseconds"), "model": model, "alias": alias, "version": version or "", "previous_version": previous or "",
                "operator": operator, "reason": reason, "forced": str(int(forced)),
                "metrics": json.dumps(dict(metrics), sort_keys=True), "failures": json.dumps(failures),
                "approved_by": approved_by or "", "effective": effective.isoformat() if effective else "",
                "evidence": evidence or ""}
        try:
            run = client.create_run(_experiment(client, _HISTORY_EXPERIMENT), tags=tags,
                                    run_name=f"{model} {alias} {previous or '-'} -> {version or '-'}")
            client.set_terminated(run.info.run_id)
        except MlflowException as e:
            raise _unavailable(e) from None
        return
    con = _history_db()
    try:
        _add_later_columns(con)
        with con:
            con.execute("INSERT INTO alias_history (at, model, alias, version, previous_version, operator, reason, "
                        "forced, metrics, failures, approved_by, effective, evidence) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (now.isoformat(timespec="seconds"), model, alias, version, previous, operator,
                         reason, int(forced), json.dumps(dict(metrics), sort_keys=True), json.dumps(failures),
                         approved_by, effective.isoformat() if effective else None, evidence))
    finally:
        con.close()


def alias_history(name: str | None = None) -> list[dict[str, Any]]:
    """Every recorded alias move (oldest first), of one model or all; ``approved_by``: the second operator who approved
    a forced promotion (None for other moves, and for every move of a history written before approvals);
    ``effective``: the date (YYYY-MM-DD) from which a promotion is in force for decisions (None for other moves, and
    for promotions recorded before effective dates: their wall-clock date stands for it, :func:`champion_on`);
    ``evidence``: what a promotion checked beyond the metrics (``shadow: checked …`` or :data:`NOT_CHECKED`; None for
    other moves and for promotions recorded before it was kept)."""
    if _history_in_registry():
        return _registry_history(name)
    con = _history_db()
    try:
        cols = [c if c not in _LATER_COLUMNS or _has_column(con, c) else f"NULL AS {c}" for c in _HISTORY_COLUMNS]
        q = f"SELECT {', '.join(cols)} FROM alias_history"
        rows = con.execute(q + (" WHERE model = ? ORDER BY seq" if name else " ORDER BY seq"),
                           (name,) if name else ()).fetchall()
    finally:
        con.close()
    out = [dict(zip(_HISTORY_COLUMNS, r)) for r in rows]
    for r in out:
        r["forced"] = bool(r["forced"])
        r["metrics"], r["failures"] = json.loads(r["metrics"]), json.loads(r["failures"])
    return out


def _versions_of(client: MlflowClient, name: str) -> list[Any]:
    """Every version of the registered model ``name``, whatever quotes the name holds (MLflow's filter syntax cannot
    spell a name with both kinds: those are taken from all versions)."""
    literal = _literal(name)
    if literal:
        return list(client.search_model_versions(f"name = {literal}"))
    return [v for v in client.search_model_versions() if v.name == name]


def _registry_history(name: str | None) -> list[dict[str, Any]]:
    """:func:`alias_history` kept in a tracking server (see :func:`_history_in_registry`)."""
    client = _client(create=False)
    try:
        exp = client.get_experiment_by_name(_HISTORY_EXPERIMENT)
        if exp is None:
            return []
        flt = f"tags.`{_HISTORY_TAG}` = '1'"
        literal = _literal(name) if name else None
        if literal:
            flt += f" and tags.model = {literal}"
        runs, token = [], None
        while True:
            page = client.search_runs([exp.experiment_id], filter_string=flt, max_results=1000, page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                break
    except MlflowException as e:
        raise _unavailable(e) from None
    found = (r.data.tags for r in runs)
    if name and not literal:  # a name MLflow's filter cannot spell: every model's history, then this one's
        found = (t for t in found if t.get("model") == name)
    tags = sorted(found, key=lambda t: (t.get("at_us", ""), t.get("model", "")))
    return [{"seq": i, "at": t.get("at"), "model": t.get("model"), "alias": t.get("alias"),
             "version": t.get("version") or None, "previous_version": t.get("previous_version") or None,
             "operator": t.get("operator"), "reason": t.get("reason"), "forced": t.get("forced") == "1",
             "metrics": json.loads(t.get("metrics") or "{}"), "failures": json.loads(t.get("failures") or "[]"),
             "approved_by": t.get("approved_by") or None, "effective": t.get("effective") or None,
             "evidence": t.get("evidence") or None}
            for i, t in enumerate(tags, start=1)]


def _recorded_version(name: str, alias: str) -> str | None:
    """The version the alias history last moved ``alias`` of ``name`` to (None: never, or removed)."""
    rows = [r for r in alias_history(name) if r["alias"] == alias]
    return str(rows[-1]["version"]) if rows and rows[-1]["version"] else None


def _alias_and_record(client: MlflowClient, name: str, alias: str, version: str) -> tuple[str | None, str | None]:
    """``(current, recorded)``: the version ``alias`` is on and the one its history last recorded. When the alias
    stands on another version than both the history's and ``version`` — moved without a history row: a run killed
    (SIGKILL, power loss) between moving it and recording the move, or a move made outside agcredit — that move is
    recorded first (operator and reason unknown, said so), so the append-only history never skips one."""
    current = _alias_version(client, name, alias)
    recorded = _recorded_version(name, alias)
    if current is not None and current not in (recorded, version):
        logging.getLogger("agcredit.registry").warning(
            "%s alias %s stands on version %s but its history last records version %s: the move, made by a run "
            "killed before recording it or outside agcredit, is recorded now", name, alias, current, recorded or "-")
        _append_history(model=name, alias=alias, version=current, previous=recorded, operator=_UNKNOWN_OPERATOR,
                        reason=_UNRECORDED_MOVE, forced=False, metrics={}, failures=[])
        recorded = current
    return current, recorded


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as e:
        _raise_if_unreachable(e)
        return None


def _governance_of(client: MlflowClient, name: str, version: str) -> Governance:
    mv = client.get_model_version(name, version)
    text = (mv.tags or {}).get("governance")
    if text:
        try:
            return Governance.from_json(text)
        except ValueError:
            pass
    from features.atomic import private_tempdir

    # into a folder removed after reading (MLflow's own temporary folder was never removed: one per command)
    with private_tempdir("governance") as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="governance.json", dst_path=tmp)
        return Governance.from_dict(json.loads(Path(local).read_text()))
