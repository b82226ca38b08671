"""The MLflow model registry (the only module importing mlflow) and our alias history.

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<cwd>/mlruns/mlflow.db`` with artifacts
under ``<cwd>/mlruns/artifacts`` (tracking and registry share the URI). Browse it with
``mlflow ui --backend-store-uri sqlite:///$PWD/mlruns/mlflow.db``.

A model is logged as an MLflow pyfunc whose artifact is a folder written by a
:class:`ModelFlavour` (``save_dir``/``load_dir``): any object with ``save(path)`` and a
class method ``load(path)`` works through :class:`SaveLoadFlavour` — the yield model and the
crop-type classifier alike. ``register`` logs parameters, metrics, PNG plots and the
governance record, registers a version and gives it the alias ``challenger``;
``promote`` moves ``champion`` (refusing a version below its minimum metrics unless forced
with a reason and a second operator's approval). MLflow keeps no history of alias moves, so every move is also
appended to ``alias_history.db`` beside the store (a SQLite table whose triggers refuse UPDATE and
DELETE): who, when, why, who approved a forced move, metrics. ``resolve`` turns ``NAME@champion`` into a concrete version.
"""

from __future__ import annotations

# the names marked `noqa: F401` are not used here: kept importable from models.registry, as before the code that
# does not use mlflow moved to the private modules models._flavours, _registry_store, _alias_history,
# _champion_dates and _version_meta
import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass  # noqa: F401
from datetime import UTC, date, datetime
from pathlib import Path
from typing import (
    Any,
    NamedTuple,
    Protocol,  # noqa: F401
    runtime_checkable,  # noqa: F401
)
from urllib.parse import unquote, urlsplit

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient
from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

from features.identity import same_person  # noqa: F401
from models._alias_history import (
    _HISTORY_COLUMNS,
    _HISTORY_EXPERIMENT,
    _HISTORY_TAG,
    _LATER_COLUMNS,
    _UNKNOWN_OPERATOR,
    _UNRECORDED_MOVE,
    CHALLENGER,
    CHAMPION,
    NOT_CHECKED,
    _add_later_columns,
    _has_column,
    _history_db,
    _history_in_registry,
    _history_path,  # noqa: F401
    _operator,
    check_approver,
)
from models._champion_dates import _move_effective, champion_move_on, champion_window, effective_date
from models._flavours import (
    _FLAVOUR_FILE,
    ModelFlavour,
    SaveLoadFlavour,
    _find_model_dir,
    _flavour_from_spec,  # noqa: F401
    _flavour_spec,
    _load_model_dir,
)
from models._registry_store import (
    _CACHE_FIX,
    _check_is_store,
    _sqlite_path,
    model_cache,
    model_folder,
    relocate_store,
    store_root,
    tracking_uri,
)
from models._registry_uri import DB_SCHEMES, missing_driver, probe_database, probe_http, reason, safe_uri
from models._version_meta import (
    _MODEL_DIGEST_TAG,
    _PROVENANCE_PREFIX,
    _RUN_HOST_TAG,
    _RUN_PID_TAG,
    _TRAINING_DATA_TAG,
    INPUT_PROFILE_FILE,
    _ints_as_doubles,
    _literal,
    _process_gone,
    _train_command,
    _training_data_of,
    version_number,
)
from models.errors import RegistryArtifactsError, RegistryError, RegistryUnavailableError
from models.governance import Governance

__all__ = ["ModelFlavour", "SaveLoadFlavour", "Resolved", "tracking_uri", "safe_uri", "store_root", "register", "promote",
           "check_approver", "resolve", "list_models", "model_versions", "alias_history", "describe", "governance", "version_run_id", "relocate_store",
           "alias_version", "champion_move_on", "champion_window", "input_profile", "INPUT_PROFILE_FILE", "CHAMPION",
           "CHALLENGER", "model_folder"]

_PIP = ["mlflow==3.*", "lightgbm==4.*", "pandas", "numpy"]
#: the file MLflow logs as each model's pyfunc "model from code" (no pickled wrapper)
_PYFUNC_CODE = Path(__file__).with_name("_pyfunc_code.py")


class AgcreditPyfunc(PythonModel):
    """MLflow pyfunc face of an agcredit model folder (``mlflow.pyfunc.load_model`` works on it).

    ``model_input`` is annotated ``pd.DataFrame``: MLflow then neither converts the input nor warns.
    """

    def load_context(self, context: Any) -> None:
        self.model = _load_model_dir(_find_model_dir(Path(context.artifacts["model_dir"])))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        m = self.model
        if hasattr(m, "predict_quantiles"):  # yield-value: P10/P50/P90
            return m.predict_quantiles(model_input)
        if hasattr(m, "predict_frame"):  # crop-type: class probabilities of a feature frame
            return m.predict_frame(model_input)
        return m.predict(model_input)


def set_pyfunc_model() -> None:
    """Name :class:`AgcreditPyfunc` as the model of the "model from code" MLflow is loading (models/_pyfunc_code.py)."""
    mlflow.models.set_model(AgcreditPyfunc())


# ---------------------------------------------------------------------- store
def _unavailable(e: MlflowException) -> RegistryUnavailableError:
    """A registry that did not answer a request (after MLflow's capped retries), or answered with an HTTP error."""
    uri = tracking_uri()
    status = re.search(r"error code (\d{3})", str(e))
    if status:
        return RegistryUnavailableError(uri=safe_uri(uri), problem=f"the server answered HTTP {status.group(1)}",
                                        fix="is it an MLflow tracking server?")
    return RegistryUnavailableError(uri=safe_uri(uri), problem=reason(e, uri), connect=True)


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


# ---------------------------------------------------------------------- register / promote / resolve
def register(model: Any, name: str, *, metrics: Mapping[str, float], governance: Governance,
             params: Mapping[str, Any] | None = None, artifacts: Mapping[str, str | Path] | None = None,
             flavour: ModelFlavour | None = None, input_example: Any = None, output_example: Any = None,
             operator: str | None = None, training_data: Mapping[str, pd.DataFrame] | None = None,
             provenance: Mapping[str, str] | None = None, input_profile: Mapping[str, Any] | None = None) -> str:
    """Log ``model`` (with params, metrics, PNG plots, governance) in a run, register it; alias ``challenger``.

    ``input_profile``: the training rows' distribution of each model input (:func:`models.stability.input_profile`),
    logged as the run's ``input_profile.json`` — what ``agcredit models stability`` compares scored rows against.

    ``provenance``: what produced the version besides its data (the caller's source digest and library versions,
    ``pipelines._code_digest.registry_provenance``), kept as run and version tags ``agcredit.provenance.<key>`` (``models show``
    prints them). Every parameter is also logged whole in ``params.json`` (MLflow params are cut at 500 characters).

    ``artifacts`` maps a file name to a local file (plots are logged under ``plots/``). ``training_data`` names the
    tables the model was fitted on: their content hashes, rows and columns (``models._digest.training_data_record``)
    are kept as the run's and the version's ``training_data`` tag (``models show`` prints them). Returns the version.
    """
    client = _client(create=True)
    flavour = flavour or SaveLoadFlavour.of(model)
    exp_id = _experiment(client, name)
    mets = {k: float(v) for k, v in metrics.items()}
    data_tag = {}
    if training_data:
        from models._digest import training_data_record

        data_tag = {_TRAINING_DATA_TAG: json.dumps(training_data_record(training_data), sort_keys=True,
                                                   separators=(",", ":"))}
    data_tag.update({f"{_PROVENANCE_PREFIX}{k}": str(v) for k, v in sorted((provenance or {}).items())})
    from features.atomic import private_tempdir

    with private_tempdir("register") as tmp:
        mdir = Path(tmp) / "model"
        mdir.mkdir()
        flavour.save_dir(model, mdir)
        (mdir / _FLAVOUR_FILE).write_text(json.dumps(_flavour_spec(flavour), sort_keys=True))
        from models._digest import folder_hash

        digest = {_MODEL_DIGEST_TAG: folder_hash(mdir)}
        cut_short = _cut_short_version(client, name, {**data_tag, **digest}, mets)
        if cut_short is not None:  # a registration killed before its alias: completed, not registered again
            logging.getLogger("agcredit.registry").warning(
                "%s version %s, registered by a run cut short before its alias was set, holds this model, training "
                "data and metrics: completed instead of registering them again", name, cut_short)
            return _name_challenger(client, name, cut_short, operator, mets, governance)
        signature = None
        if input_example is not None and output_example is not None:
            from mlflow.models import infer_signature

            # integer columns declared as doubles (MLflow's advice): a count missing at scoring time is a NaN, which
            # an integer column of the signature would refuse
            input_example, output_example = _ints_as_doubles(input_example), _ints_as_doubles(output_example)
            signature = infer_signature(input_example, output_example)
        _reap_killed_runs(client, exp_id)
        with mlflow.start_run(experiment_id=exp_id, run_name=name,
                              tags={_RUN_HOST_TAG: socket.gethostname(), _RUN_PID_TAG: str(os.getpid()),
                                    **data_tag}) as run:
            if params:
                mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                mlflow.log_dict({k: str(v) for k, v in sorted(params.items())}, "params.json")  # uncut
            mlflow.log_metrics(mets)
            mlflow.log_dict(governance.to_dict(), "governance.json")
            if input_profile:
                mlflow.log_dict(dict(input_profile), INPUT_PROFILE_FILE)
            for fname, path in (artifacts or {}).items():
                src = Path(path)
                if src.name != fname:
                    dst = Path(tmp) / "plots" / fname
                    dst.parent.mkdir(exist_ok=True)
                    dst.write_bytes(src.read_bytes())
                    src = dst
                mlflow.log_artifact(str(src), artifact_path="plots")
            # "model from code" (models/_pyfunc_code.py): the wrapper is named by a file, not cloudpickled
            info = mlflow.pyfunc.log_model(name="model", python_model=str(_PYFUNC_CODE),
                                           artifacts={"model_dir": str(mdir)}, pip_requirements=_PIP,
                                           signature=signature, input_example=input_example)
            run_id = run.info.run_id
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"agcredit model family {name}")
    mv = client.create_model_version(name, info.model_uri, run_id=run_id, model_id=info.model_id,
                                     tags={"governance": governance.to_json()[:4900],
                                           "data": governance.data, **data_tag, **digest})
    return _name_challenger(client, name, str(mv.version), operator, mets, governance)


def _name_challenger(client: MlflowClient, name: str, version: str, operator: str | None,
                     mets: Mapping[str, float], governance: Governance) -> str:
    """The last step of a registration: alias ``challenger`` on ``version``, and its history row."""
    current, recorded = _alias_and_record(client, name, CHALLENGER, version)
    if current == version and recorded == version:  # named and recorded already: nothing to do
        return version
    if current != version:
        client.set_registered_model_alias(name, CHALLENGER, version)
    # a run killed between moving the alias and recording it left the alias here: its move is recorded now
    _append_history(model=name, alias=CHALLENGER, version=version, previous=current if current != version else recorded,
                    operator=_operator(operator), reason="registered", forced=False, metrics=mets,
                    failures=governance.failures())
    return version


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


def _cut_short_version(client: MlflowClient, name: str, tags: Mapping[str, str],
                       mets: Mapping[str, float]) -> str | None:
    """A version of ``name`` whose registration was killed between creating it and setting its alias (no alias now,
    none ever in the history, its process gone when it ran on this host) holding the same model bytes and training
    data (``tags``) and metrics; None if none. Registering again would leave it as a duplicate no alias ever points
    at. (A registration of the same model still running on another host cannot be told from a killed one.)"""
    if _MODEL_DIGEST_TAG not in tags:
        return None
    try:
        versions = _versions_of(client, name)
    except MlflowException:
        return None  # no such model yet
    # no alias, or only `challenger` set by a run killed before it recorded the move (never in the history)
    candidates = [v for v in versions if all(v.tags.get(k) == t for k, t in tags.items())
                  and str(v.status) == "READY" and set(getattr(v, "aliases", None) or ()) <= {CHALLENGER}]
    if not candidates:
        return None
    moved = {str(r[k]) for r in alias_history(name) for k in ("version", "previous_version") if r[k]}
    host = socket.gethostname()
    for v in sorted(candidates, key=lambda v: int(v.version)):
        if str(v.version) in moved or v.run_id is None:
            continue
        try:
            run = client.get_run(v.run_id)
        except MlflowException:
            continue  # its run deleted and collected: not a registration to complete
        run_tags = run.data.tags
        pid = run_tags.get(_RUN_PID_TAG, "")
        if run_tags.get(_RUN_HOST_TAG) == host and pid.isdigit() and not _process_gone(int(pid)):
            continue  # a registration still running (the same model trained twice at once), not a killed one
        if dict(run.data.metrics) == dict(mets):
            return str(v.version)
    return None


def _reap_killed_runs(client: MlflowClient, exp_id: str) -> list[str]:
    """Runs of this experiment left RUNNING by a registration killed on this host (its process gone) are
    marked KILLED, with a note; nothing was registered from them. Runs of other hosts, of live processes or
    without our tags (logged by other tools) are left alone. Returns the run ids marked."""
    host = socket.gethostname()
    marked = []
    for run in client.search_runs([exp_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        pid = tags.get(_RUN_PID_TAG, "")
        if tags.get(_RUN_HOST_TAG) != host or not pid.isdigit() or not _process_gone(int(pid)):
            continue
        client.set_tag(run.info.run_id, "agcredit.note",
                       "its process ended before the run finished (killed); nothing was registered from it")
        client.set_terminated(run.info.run_id, status="KILLED")
        marked.append(run.info.run_id)
        _fail_pending_models(client, exp_id, run.info.run_id)
    if marked:
        logging.getLogger("agcredit.registry").warning(
            "%d MLflow run(s) left running by a registration killed before marked KILLED (nothing was registered "
            "from them): %s", len(marked), ", ".join(marked))
    return marked


def _fail_pending_models(client: MlflowClient, exp_id: str, run_id: str) -> None:
    """The logged models a killed registration run ``run_id`` left PENDING (killed while writing the model's files:
    a model folder of several MB, never registered) are marked FAILED, and their files removed when the registry
    keeps its artifacts in a local folder — each kill left one behind for good."""
    import shutil
    from urllib.parse import unquote, urlparse

    try:
        pending = [m for m in client.search_logged_models([exp_id], filter_string=f"source_run_id = '{run_id}'")
                   if str(getattr(m.status, "name", m.status)) == "PENDING"]
    except MlflowException:  # a tracking server without logged models
        return
    for m in pending:
        client.finalize_logged_model(m.model_id, "FAILED")
        loc = urlparse(str(m.artifact_location or ""))
        if loc.scheme in ("", "file"):
            folder = Path(unquote(loc.path))
            while folder.name != m.model_id and folder != folder.parent:  # the model's own folder (…/m-<id>/artifacts)
                folder = folder.parent
            if folder.name == m.model_id and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def alias_version(name: str, alias: str = CHAMPION) -> str | None:
    """The version ``NAME@alias`` names now, without loading it (None: no such alias); RegistryError: no such
    model."""
    client = _client(create=False)
    _check_model(client, name)
    return _alias_version(client, name, alias)


def input_profile(name: str, version: str) -> dict[str, Any] | None:
    """The training input profile a version was registered with (None: the version has none — registered before
    2026-12-06, second, or by a trainer that profiles nothing); RegistryError: no such model or version."""
    client = _client(create=False)
    _check_model(client, name)
    try:
        mv = client.get_model_version(name, version)
    except MlflowException:
        raise RegistryError(problem=f"model {name!r} has no version {version}",
                            fix=f"see the versions with: agcredit models show {name}") from None
    try:
        names = {Path(f.path).name for f in client.list_artifacts(str(mv.run_id))}
    except (MlflowException, OSError) as e:
        raise RegistryArtifactsError(problem=f"cannot list the artifacts of {name} version {version} "
                                     f"({type(e).__name__})", fix="that location must be readable from this host") from None
    if not names:  # every registered run logs governance.json: an empty listing is artifacts out of reach
        raise RegistryArtifactsError(problem=f"no file could be listed in the artifacts of {name} version {version} "
                                     f"(run {mv.run_id})", fix="that location must be readable from this host; a "
                                     "tracking server must serve its artifacts (mlflow server --serve-artifacts)")
    if INPUT_PROFILE_FILE not in names:
        return None
    try:
        return dict(mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/{INPUT_PROFILE_FILE}"))
    except (MlflowException, OSError, ValueError) as e:
        raise RegistryArtifactsError(problem=f"cannot read {INPUT_PROFILE_FILE} of {name} version {version} "
                                     f"({type(e).__name__})", fix="that location must be readable from this host") from None


def _run_data(name: str, version: str) -> Any:
    """The run data (params, metrics) a version was logged with; RegistryError: no such model or version."""
    client = _client(create=False)
    _check_model(client, name)
    try:
        mv = client.get_model_version(name, version)
        return client.get_run(str(mv.run_id)).data
    except MlflowException:
        raise RegistryError(problem=f"model {name!r} has no version {version}",
                            fix=f"see the versions with: agcredit models show {name}") from None


def training_seasons(name: str, version: str) -> list[str] | None:
    """The seasons a version was trained on, as its run recorded them (the ``seasons`` parameter every trainer here
    logs); None when the run records none; RegistryError: no such model or version."""
    got = str(_run_data(name, version).params.get("seasons") or "").strip()
    return [s.strip() for s in got.split(",") if s.strip()] or None


def version_metrics(name: str, version: str) -> dict[str, float]:
    """The metrics a version's run logged (its held-out figures, as ``models show`` lists them), by name;
    RegistryError: no such model or version."""
    return {str(k): float(v) for k, v in sorted(_run_data(name, version).metrics.items())}


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


def _check_model(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException as e:
        if e.error_code == "INVALID_PARAMETER_VALUE":  # the registry answered: not a model name (e.g. a models:/ URI)
            raise RegistryError(problem=f"{name!r} is not a registered model's name ({reason(e, tracking_uri())})",
                                fix="give the name alone, e.g. crop-type or yield-value") from None
        if e.error_code not in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):  # the registry did not answer
            raise _unavailable(e) from None
        try:  # the names it does hold: a mistyped name (``yield`` for ``yield-value``) says which one was meant
            held = sorted(str(m.name) for m in client.search_registered_models(max_results=50))
        except MlflowException:
            held = []
        fix = (f"the registry holds {', '.join(held)}; or train and register it: {_train_command(name)}" if held
               else f"train and register it first: {_train_command(name)}")
        raise RegistryError(problem=f"no registered model {name!r} in {safe_uri(tracking_uri())}", fix=fix) from None


def promote(name: str, version: str | int, *, operator: str | None = None, reason: str = "",
            force: bool = False, approved_by: str | None = None,
            effective: date | str | None = None, evidence_failures: Sequence[str] = (),
            evidence_checked: str | None = None) -> dict[str, Any]:
    """Move ``champion`` to ``version``; refuse one below its minimum metrics unless forced with a reason and
    ``approved_by``, a second operator (another person than ``operator``: :func:`check_approver`), recorded in the
    alias history beside the operator. A promotion that meets its minimum metrics needs no approver (one given is
    checked and recorded all the same). When ``version`` is already the champion nothing is recorded
    (``unchanged`` in the result): a re-run adds no history.

    ``effective``: the business date from which the version is in force for decisions (default: today, UTC; never
    after today: :func:`effective_date`), recorded with the move — a past-dated report takes the champion of its date
    by it (:func:`champion_move_on`). A version already champion given another effective date than the one its
    promotion recorded is recorded again with the new date (``redated`` in the result): the champion stays, its date
    moves (a promotion of a simulated or back-filled season dated after the fact). A move dated before another
    recorded move's later date is the champion of the dates between only: the result then says until when and whose
    move takes over (``until``, ``until_version``, ``until_recorded``: :func:`champion_window`) and, when a later-dated
    move of the version itself stands after that, from when it is the champion again (``again_from``).

    ``evidence_failures``: what other evidence found missing, read by the caller (``models promote --shadow-store``:
    the version did not run in shadow over a season, :func:`pipelines.shadow_report.shadow_evidence`; this module
    reads no decision store) — refused as a minimum metric missed is, unless forced with a reason and an approver,
    and recorded among the move's failures in the alias history. ``evidence_checked``: what that evidence was (one
    line: the store as shown, the season, the rows and dated runs), kept in the move's entry (``evidence``) as
    ``shadow: checked …`` — :data:`NOT_CHECKED` when None, so a checked promotion can be told from an unchecked one."""
    when = effective_date(effective)
    client = _client(create=False)
    _check_model(client, name)
    version = version_number(version)
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise RegistryError(problem=f"{name} has no version {version}",
                            fix=f"see the versions with: agcredit models show {name}") from None
    gov = _governance_of(client, name, version)
    failures = gov.failures()
    if failures and not force:
        raise RegistryError(problem=f"{name} version {version} is below its minimum metrics: {'; '.join(failures[:5])}",
                            fix=f"improve the model, or agcredit models promote {name} {version} --force --reason TEXT "
                                "--approved-by ID")
    evidence = [str(f) for f in evidence_failures]
    if evidence and not force:
        raise RegistryError(problem=f"{name} version {version}: {'; '.join(evidence[:5])}",
                            fix=f"let it run in shadow for a season, or agcredit models promote {name} {version} "
                                "--force --reason TEXT --approved-by ID")
    failures = [*failures, *evidence]
    kept = f"shadow: {evidence_checked}" if evidence_checked else NOT_CHECKED
    if force and not reason.strip():
        raise RegistryError(problem="a forced promotion needs a reason", fix="add --reason TEXT")
    approver = check_approver(approved_by, operator, forced=bool(failures))
    who = _operator(operator)
    current, recorded = _alias_and_record(client, name, CHAMPION, version)
    previous = current if current != version else recorded
    in_force = when or datetime.now(UTC).date()
    if current == version and recorded == version and _alias_version(client, name, CHALLENGER) != version:
        last = [r for r in alias_history(name) if r["alias"] == CHAMPION][-1:]
        if when is not None and last and _move_effective(last[0]) != when.isoformat():  # the same champion, re-dated
            _append_history(model=name, alias=CHAMPION, version=version, previous=version, operator=who,
                            reason=reason.strip() or f"re-dated (was in force from {_move_effective(last[0])})",
                            forced=bool(force and failures), metrics=gov.metrics, failures=failures,
                            approved_by=approver, effective=when, evidence=kept)
            return {"model": name, "version": version, "previous": previous, "failures": failures, "operator": who,
                    "approved_by": approver, "effective": when.isoformat(), "redated": True,
                    **_window(name, version, when)}
        # a re-run: nothing moves
        return {"model": name, "version": version, "previous": previous, "failures": failures, "operator": who,
                "approved_by": approver, "unchanged": True}
    if current != version:
        client.set_registered_model_alias(name, CHAMPION, version)
    if recorded != version:  # (a promotion killed after moving the alias: its move is recorded by its re-run)
        _append_history(model=name, alias=CHAMPION, version=version, previous=previous, operator=who,
                        reason=reason.strip() or "promoted", forced=bool(force and failures), metrics=gov.metrics,
                        failures=failures, approved_by=approver, effective=in_force, evidence=kept)
    if _alias_version(client, name, CHALLENGER) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
        _append_history(model=name, alias=CHALLENGER, version=None, previous=version, operator=who,
                        reason=f"promoted to {CHAMPION}", forced=False, metrics=gov.metrics, failures=[])
    return {"model": name, "version": version, "previous": previous, "failures": failures, "operator": who,
            "approved_by": approver, "effective": in_force.isoformat(),
            **(_window(name, version, when) if when is not None else {})}


def _window(name: str, version: str, day: date) -> dict[str, Any]:
    """What :func:`promote` adds where a move dated ``day`` does not make ``version`` the champion of every date from
    ``day`` on (:func:`champion_window`): ``in_force_from`` (an earlier-dated move of it stands), ``until`` (the date
    another recorded move takes over), ``until_version`` (None: the alias removed) and ``until_recorded``."""
    start, move, again = champion_window(alias_history(name), version, day)
    out: dict[str, Any] = {"in_force_from": start} if start != day.isoformat() else {}
    if move is not None:
        out.update(until=_move_effective(move), until_version=move.get("version"),
                   until_recorded=str(move.get("at") or "")[:10])
    if again is not None:
        out["again_from"] = again
    return out


class Resolved(NamedTuple):
    """A concrete model version behind an alias and the loaded model: ``version, run_id, model = resolve(...)``."""

    version: str
    run_id: str
    model: Any


def _download_model(name: str, version: str, cache: Path) -> None:
    """Download a version's model into ``cache`` whole or not at all: into a folder beside it, renamed when complete
    (a download killed midway leaves that folder only, never a copy that a later run would load)."""
    import shutil

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}.partial-", dir=cache.parent))
    except OSError as e:
        local = _sqlite_path(tracking_uri()) is not None
        raise RegistryArtifactsError(
            problem=f"cannot write the local model cache folder {cache.parent} ({e.strerror or type(e).__name__})",
            fix="make the registry's folder writable" if local else _CACHE_FIX) from None
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(tmp))
        if not any(tmp.rglob(_FLAVOUR_FILE)):
            _check_artifacts_read(name, version, tmp)
        if cache.exists() and not any(cache.rglob(_FLAVOUR_FILE)):
            shutil.rmtree(cache)  # a partial copy left by an earlier release
        try:
            os.replace(tmp, cache)
        except OSError:  # another process completed the copy first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_artifacts_read(name: str, version: str, got: Path) -> None:
    """After a download holding no agcredit model folder: a :class:`RegistryArtifactsError` naming the artifact URI
    when nothing could be read there — a path on the tracking server's host (``mlflow server
    --default-artifact-root /local/path`` without ``--serve-artifacts``), MLflow then "downloads" nothing — else
    (files were read, none is the model's) a :class:`RegistryError` to re-register the model."""
    try:
        uri = str(MlflowClient().get_model_version_download_uri(name, version))
    except MlflowException:
        uri = f"models:/{name}/{version}"
    shown = safe_uri(uri)
    if any(p.is_file() for p in got.rglob("*")):
        raise RegistryError(problem=f"no agcredit model folder in the artifacts of {name} version {version} at {shown}",
                            fix="re-register the model")
    scheme = urlsplit(uri).scheme
    local = scheme in ("", "file") or (len(scheme) == 1 and uri[1:2] == ":")  # a POSIX or a Windows path
    where = unquote(urlsplit(uri).path) if scheme == "file" else uri
    if local and not Path(where).exists():
        problem = (f"cannot read the artifacts of {name} version {version} at {shown}: no such path on this host")
    else:
        problem = f"no file could be read from the artifacts of {name} version {version} at {shown}"
    server = urlsplit(tracking_uri()).scheme in ("http", "https")
    fix = ("the tracking server must serve the artifacts: mlflow server --serve-artifacts --artifacts-destination "
           "PATH_OR_BUCKET; or that path must be reachable from this host" if server and local else
           "that location must be readable from this host" if server else
           "that path must be reachable from this host (the registry's artifacts moved or deleted?)")
    raise RegistryArtifactsError(problem=problem, fix=fix)


def resolve(name: str, alias: str = CHAMPION, *, flavour: ModelFlavour | None = None) -> Resolved:
    """Resolve ``NAME@alias`` to a concrete version and load it (call once per run; record the version). An
    ``alias`` of digits names a version itself (e.g. the version a decision record names, to replay it)."""
    client = _client(create=False)
    _check_model(client, name)
    try:
        mv = client.get_model_version(name, alias) if alias.isdigit() else client.get_model_version_by_alias(name,
                                                                                                              alias)
    except MlflowException:
        if alias.isdigit():
            raise RegistryError(problem=f"model {name!r} has no version {alias}",
                                fix=f"see the versions with: agcredit models show {name}") from None
        raise RegistryError(problem=f"model {name!r} has no {alias!r} alias",
                            fix=f"promote a version: agcredit models promote {name} VERSION") from None
    version = str(mv.version)
    cache = model_cache(name, version, str(mv.run_id))
    if not any(cache.rglob(_FLAVOUR_FILE)) if cache.exists() else True:
        _download_model(name, version, cache)
    model = _load_model_dir(_find_model_dir(cache), flavour)
    return Resolved(version=version, run_id=str(mv.run_id), model=model)


def version_run_id(name: str, version: str | int) -> str:
    """The MLflow run id of ``name`` version ``version`` (what a decision's ``models[].run_id`` names)."""
    client = _client(create=False)
    try:
        return str(client.get_model_version(name, version_number(version)).run_id)
    except MlflowException as e:
        raise _unavailable(e) from None


def governance(name: str, version: str | int) -> Governance:
    """The governance record of one version (validated scope, metrics, minimum metrics, data kind); ``version`` may
    be an alias (``champion``), read without loading the model."""
    client = _client(create=False)
    _check_model(client, name)
    if not str(version).isdigit():
        found = _alias_version(client, name, str(version))
        if found is None:
            raise RegistryError(problem=f"{name} has no version with the alias {version!r}",
                                fix=f"see the versions with: agcredit models show {name}")
        version = found
    try:
        return _governance_of(client, name, str(version))
    except MlflowException:
        raise RegistryError(problem=f"{name} has no version {version}",
                            fix=f"see the versions with: agcredit models show {name}") from None


# ---------------------------------------------------------------------- listing
def list_models() -> list[dict[str, Any]]:
    """Registered models with their aliases and number of versions."""
    client = _client(create=False)
    out = []
    try:
        found = client.search_registered_models(order_by=["name ASC"])
    except MlflowException as e:
        raise _unavailable(e) from None
    for rm in found:
        versions = _versions_of(client, rm.name)
        out.append({"name": rm.name, "aliases": dict(sorted((rm.aliases or {}).items())),
                    "n_versions": len(versions), "latest": max((int(v.version) for v in versions), default=0)})
    return out


def model_versions(name: str) -> list[dict[str, Any]]:
    """Every version of a model: run, aliases, metrics, governance, plot URIs (newest first)."""
    client = _client(create=False)
    _check_model(client, name)
    rm = client.get_registered_model(name)
    by_version: dict[str, list[str]] = {}
    for a, v in (rm.aliases or {}).items():
        by_version.setdefault(str(v), []).append(a)
    out = []
    for mv in sorted(_versions_of(client, name), key=lambda m: -int(m.version)):
        run = client.get_run(str(mv.run_id))
        gov = _governance_of(client, name, str(mv.version))
        plots = sorted(f"runs:/{mv.run_id}/{a.path}" for a in client.list_artifacts(str(mv.run_id), "plots")
                       if not a.is_dir)
        out.append({"version": str(mv.version), "run_id": mv.run_id,
                    "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(timespec="seconds"),
                    "aliases": sorted(by_version.get(str(mv.version), [])),
                    "metrics": dict(sorted(run.data.metrics.items())), "governance": gov, "plots": plots,
                    "training_data": _training_data_of(mv),
                    "provenance": {k[len(_PROVENANCE_PREFIX):]: v for k, v in sorted((mv.tags or {}).items())
                                   if k.startswith(_PROVENANCE_PREFIX)}})
    return out



def describe(name: str) -> dict[str, Any]:
    """One model: its aliases, versions (metrics, governance) and alias history."""
    versions = model_versions(name)
    aliases = {a: v["version"] for v in versions for a in v["aliases"]}
    return {"name": name, "aliases": dict(sorted(aliases.items())), "versions": versions,
            "history": alias_history(name), "tracking_uri": safe_uri(tracking_uri())}
