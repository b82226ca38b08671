"""Registering a model version (private to models.registry, one of the modules allowed to import mlflow): the run
logged (parameters, metrics, plots, governance, the pyfunc "model from code"), the version registered and named
``challenger``; a registration killed midway completed rather than repeated, and the runs and logged models it left
behind marked.
Its functions look up what they call here, not in :mod:`models.registry` (which re-exports them): a test patches a
name where its caller looks it up."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models._alias_history import CHALLENGER, _operator
from models._flavours import (
    _FLAVOUR_FILE,
    ModelFlavour,
    SaveLoadFlavour,
    _flavour_spec,
)
from models._registry_mlflow_store import (
    _alias_and_record,
    _append_history,
    _client,
    _experiment,
    _server_lost,
    _versions_of,
    alias_history,
)
from models._version_meta import (
    _MODEL_DIGEST_TAG,
    _PROVENANCE_PREFIX,
    _RUN_HOST_TAG,
    _RUN_PID_TAG,
    _TRAINING_DATA_TAG,
    INPUT_PROFILE_FILE,
    _ints_as_doubles,
    _process_gone,
)
from models.governance import Governance

_PIP = ["mlflow==3.*", "lightgbm==4.*", "pandas", "numpy"]


#: the file MLflow logs as each model's pyfunc "model from code" (no pickled wrapper)
_PYFUNC_CODE = Path(__file__).with_name("_pyfunc_code.py")


@_server_lost
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
