"""The MLflow model registry (with its private modules models._registry_mlflow_*, the only modules importing mlflow)
and our alias history.

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
# _champion_dates and _version_meta, and the code that does to _registry_mlflow_store and _registry_mlflow_register
import os
import tempfile
from collections.abc import Sequence
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

from features.identity import same_person  # noqa: F401
from models._alias_history import (
    CHALLENGER,
    CHAMPION,
    NOT_CHECKED,
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
    _load_model_dir,
)
from models._registry_mlflow_register import register
from models._registry_mlflow_store import (
    _alias_and_record,
    _alias_version,
    _append_history,
    _client,
    _governance_of,
    _raise_if_unreachable,
    _server_lost,
    _unavailable,
    _versions_of,
    alias_history,
    check_registry,
)
from models._registry_store import (
    _CACHE_FIX,
    _sqlite_path,
    model_cache,
    model_folder,
    relocate_store,
    store_root,
    tracking_uri,
)
from models._registry_uri import reason, safe_uri
from models._version_meta import (
    _PROVENANCE_PREFIX,
    INPUT_PROFILE_FILE,
    _train_command,
    _training_data_of,
    version_number,
)
from models.errors import RegistryArtifactsError, RegistryError
from models.governance import Governance

# isort: split
# re-exported, unused here (see the note above the imports)
from collections.abc import Mapping  # noqa: F401

from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException  # noqa: F401

from models._alias_history import (  # noqa: F401
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
from models._flavours import _flavour_spec  # noqa: F401
from models._registry_mlflow_register import (  # noqa: F401
    _PIP,
    _PYFUNC_CODE,
    _cut_short_version,
    _fail_pending_models,
    _name_challenger,
    _reap_killed_runs,
)
from models._registry_mlflow_store import _experiment, _open_client, _recorded_version, _registry_history  # noqa: F401
from models._registry_store import _check_is_store  # noqa: F401
from models._registry_uri import DB_SCHEMES, missing_driver, probe_database, probe_http  # noqa: F401
from models._version_meta import (  # noqa: F401
    _MODEL_DIGEST_TAG,
    _RUN_HOST_TAG,
    _RUN_PID_TAG,
    _TRAINING_DATA_TAG,
    _ints_as_doubles,
    _literal,
    _process_gone,
)
from models.errors import RegistryUnavailableError  # noqa: F401

__all__ = ["ModelFlavour", "SaveLoadFlavour", "Resolved", "tracking_uri", "safe_uri", "store_root", "register", "promote",
           "check_approver", "check_registry", "resolve", "list_models", "model_versions", "alias_history", "describe", "governance", "version_run_id", "relocate_store",
           "alias_version", "champion_move_on", "champion_window", "input_profile", "INPUT_PROFILE_FILE", "CHAMPION",
           "CHALLENGER", "model_folder"]


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


# ---------------------------------------------------------------------- register / promote / resolve
@_server_lost
def alias_version(name: str, alias: str = CHAMPION) -> str | None:
    """The version ``NAME@alias`` names now, without loading it (None: no such alias); RegistryError: no such
    model."""
    client = _client(create=False)
    _check_model(client, name)
    return _alias_version(client, name, alias)


@_server_lost
def input_profile(name: str, version: str) -> dict[str, Any] | None:
    """The training input profile a version was registered with (None: the version has none — registered before
    2026-12-06, second, or by a trainer that profiles nothing); RegistryError: no such model or version."""
    client = _client(create=False)
    _check_model(client, name)
    try:
        mv = client.get_model_version(name, version)
    except MlflowException as e:
        _raise_if_unreachable(e)
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
    except MlflowException as e:
        _raise_if_unreachable(e)
        raise RegistryError(problem=f"model {name!r} has no version {version}",
                            fix=f"see the versions with: agcredit models show {name}") from None


@_server_lost
def training_seasons(name: str, version: str) -> list[str] | None:
    """The seasons a version was trained on, as its run recorded them (the ``seasons`` parameter every trainer here
    logs); None when the run records none; RegistryError: no such model or version."""
    got = str(_run_data(name, version).params.get("seasons") or "").strip()
    return [s.strip() for s in got.split(",") if s.strip()] or None


@_server_lost
def version_metrics(name: str, version: str) -> dict[str, float]:
    """The metrics a version's run logged (its held-out figures, as ``models show`` lists them), by name;
    RegistryError: no such model or version."""
    return {str(k): float(v) for k, v in sorted(_run_data(name, version).metrics.items())}


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


@_server_lost
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
    except MlflowException as e:
        _raise_if_unreachable(e)
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
                    **_window(name, version, when), **_alias_follows_today(client, name, version, who)}
        # a re-run: nothing moves (an alias a back-filled promotion of an earlier release left on its version goes
        # back to today's champion by effective date, recorded: a review)
        return {"model": name, "version": version, "previous": previous, "failures": failures, "operator": who,
                "approved_by": approver, "unchanged": True, **_alias_follows_today(client, name, version, who)}
    if when is not None and current is not None and _backfilled_already(name, version, when, current):
        return {"model": name, "version": version, "previous": current, "failures": failures, "operator": who,
                "approved_by": approver, "unchanged": True, "backfilled": when.isoformat()}  # a re-run adds nothing
    if current != version:
        client.set_registered_model_alias(name, CHAMPION, version)
    if recorded != version:  # (a promotion killed after moving the alias: its move is recorded by its re-run)
        _append_history(model=name, alias=CHAMPION, version=version, previous=previous, operator=who,
                        reason=reason.strip() or "promoted", forced=bool(force and failures), metrics=gov.metrics,
                        failures=failures, approved_by=approver, effective=in_force, evidence=kept)
    follow = _alias_follows_today(client, name, version, who)
    if not follow and _alias_version(client, name, CHALLENGER) == version:  # a back-filled window: still challenger
        client.delete_registered_model_alias(name, CHALLENGER)
        _append_history(model=name, alias=CHALLENGER, version=None, previous=version, operator=who,
                        reason=f"promoted to {CHAMPION}", forced=False, metrics=gov.metrics, failures=[])
    return {"model": name, "version": version, "previous": previous, "failures": failures, "operator": who,
            "approved_by": approver, "effective": in_force.isoformat(),
            **(_window(name, version, when) if when is not None else {}), **follow}


def _backfilled_already(name: str, version: str, when: date, current: str) -> bool:
    """A back-filled promotion of ``version`` dated ``when`` recorded already: its move, then at once the alias's
    return to ``current`` (:func:`_alias_follows_today`) — its re-run adds nothing (it had added both rows again)."""
    rows = [r for r in alias_history(name) if r["alias"] == CHAMPION]
    mine = [i for i, r in enumerate(rows) if str(r["version"]) == version and _move_effective(r) == when.isoformat()]
    if not mine or mine[-1] + 1 >= len(rows):
        return False
    nxt = rows[mine[-1] + 1]
    return str(nxt["version"]) == current and str(nxt["previous_version"]) == version


def _alias_follows_today(client: MlflowClient, name: str, version: str, who: str) -> dict[str, Any]:
    """After a move of ``version`` dated back before another version's later-dated move (a back-filled window), the
    ``champion`` alias goes back to the version in force today by effective date (:func:`champion_move_on`), its
    return recorded in the history with that move's effective date: the alias is what ``underwrite`` decides with,
    and had named the back-filled version while by effective date (``reunderwrite``, ``monitor``, ``report``) the
    other one was in force today (a model-risk walkthrough). ``{"today_champion": V}`` when it went back."""
    today = champion_move_on(alias_history(name), datetime.now(UTC).date())
    back = None if today is None or today.get("version") is None else str(today["version"])
    if today is None or back is None or back == version:
        return {}
    client.set_registered_model_alias(name, CHAMPION, back)
    _append_history(model=name, alias=CHAMPION, version=back, previous=version, operator=who,
                    reason=f"in force today by effective date (v{version}'s move is dated before it)", forced=False,
                    metrics=_governance_of(client, name, back).metrics, failures=[],
                    effective=date.fromisoformat(_move_effective(today)))
    return {"today_champion": back}


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
    except MlflowException as e:
        _raise_if_unreachable(e)
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


@_server_lost
def resolve(name: str, alias: str = CHAMPION, *, flavour: ModelFlavour | None = None) -> Resolved:
    """Resolve ``NAME@alias`` to a concrete version and load it (call once per run; record the version). An
    ``alias`` of digits names a version itself (e.g. the version a decision record names, to replay it)."""
    client = _client(create=False)
    _check_model(client, name)
    try:
        mv = client.get_model_version(name, alias) if alias.isdigit() else client.get_model_version_by_alias(name,
                                                                                                              alias)
    except MlflowException as e:
        _raise_if_unreachable(e)
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


@_server_lost
def version_run_id(name: str, version: str | int) -> str:
    """The MLflow run id of ``name`` version ``version`` (what a decision's ``models[].run_id`` names)."""
    client = _client(create=False)
    try:
        return str(client.get_model_version(name, version_number(version)).run_id)
    except MlflowException as e:
        raise _unavailable(e) from None


@_server_lost
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
    except MlflowException as e:
        _raise_if_unreachable(e)
        raise RegistryError(problem=f"{name} has no version {version}",
                            fix=f"see the versions with: agcredit models show {name}") from None


# ---------------------------------------------------------------------- listing
@_server_lost
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


@_server_lost
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


@_server_lost
def describe(name: str) -> dict[str, Any]:
    """One model: its aliases, versions (metrics, governance) and alias history."""
    versions = model_versions(name)
    aliases = {a: v["version"] for v in versions for a in v["aliases"]}
    return {"name": name, "aliases": dict(sorted(aliases.items())), "versions": versions,
            "history": alias_history(name), "tracking_uri": safe_uri(tracking_uri())}
