"""The registry behind a real MLflow tracking server (started on loopback, no network): register, promote,
resolve and the alias history — which the server keeps, so every working folder reads the same one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.errors import RegistryError
from tests.models.test_registry import TinyModel, gov


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(root: Path, *artifacts: str) -> Iterator[str]:
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen([str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{root / 'srv.db'}", *artifacts],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": "",
                                 # the server's job execution (GenAI jobs, trace roll-ups: huey consumers polling
                                 # for as long as it runs) is no part of the registry's API and took more CPU
                                 # than the registry tests themselves on two cores
                                 "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start (exit {proc.poll()})")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    yield from _start_server(root, "--artifacts-destination", str(root / "artifacts"))


@pytest.fixture(scope="module")
def path_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server that does not serve artifacts: clients read and write them at a path of its host."""
    root = tmp_path_factory.mktemp("mlflow-path-server")
    url = None
    for url in _start_server(root, "--default-artifact-root", str(root / "artifacts"), "--no-serve-artifacts"):
        yield url, root / "artifacts"


def test_register_promote_resolve_and_shared_history(server: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    v1 = registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                           input_example=pd.DataFrame({"x": [1.0, 2.0], "n": [1, 2]}),
                           output_example=np.array([2.0, 4.0]))  # failed on a server before: no model_id given
    v2 = registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.2}, governance=gov(0.2))
    assert (v1, v2) == ("1", "2")
    registry.promote("crop-type", 1, reason="passes validation")
    with pytest.raises(RegistryError, match="a forced promotion needs a second operator's approval"):
        registry.promote("crop-type", 2, force=True, reason="approved by MRM", operator="mrm-1")
    registry.promote("crop-type", 2, force=True, reason="approved by MRM", operator="mrm-1", approved_by="mrm-2")
    r = registry.resolve("crop-type")
    assert r.version == "2" and r.model.scale == 3.0
    moves = [(h["alias"], h["previous_version"], h["version"], h["operator"], h["forced"])
             for h in registry.alias_history("crop-type")]
    want = [("challenger", None, "1", "analyst-7", False), ("challenger", "1", "2", "analyst-7", False),
            ("champion", None, "1", "analyst-7", False), ("champion", "1", "2", "mrm-1", True),
            ("challenger", "2", None, "mrm-1", False)]
    assert moves == want
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another operator's folder, a cron job: the same history, nothing created here
    assert [(h["alias"], h["previous_version"], h["version"], h["operator"], h["forced"])
            for h in registry.alias_history("crop-type")] == want
    assert registry.alias_history("crop-type")[3]["failures"] == ["r2_maize >= 0.4 (found 0.2)"]
    # the approver is kept in the move's run tags, as operator, reason and forced are
    assert [h["approved_by"] for h in registry.alias_history("crop-type")] == [None, None, None, "mrm-2", None]
    assert list(elsewhere.iterdir()) == [] and list(here.iterdir()) == []
    sig = registry.model_versions("crop-type")[-1]
    assert sig["version"] == "1"


def test_a_server_that_never_answers_is_not_reported_with_the_probe_s_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts connections and never answers: MLflow's requests time out (10 s, retried) long after
    the 5 s connect probe passed; the message said "no answer within 5 s" after ~35 s. Now the request's timeout,
    with no figure; a closed port stays "connection refused"."""
    from models import registry
    from models.errors import RegistryUnavailableError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # accepts (the kernel's backlog) and never answers
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{s.getsockname()[1]}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        with pytest.raises(RegistryUnavailableError, match=r"no answer \(the request timed out\)"):
            registry.list_models()


@pytest.mark.parametrize("name", ["farmer's crop-type", "say \"x\" 'y'"])
def test_a_model_name_with_quotes_keeps_its_history_on_a_server(server: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The server's history was searched for the name with its quotes dropped: empty for a name holding one."""
    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert registry.register(TinyModel(2.0), name, metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    registry.promote(name, 1, reason="passes validation")
    assert [(h["model"], h["alias"], h["version"]) for h in registry.alias_history(name)] == [
        (name, "challenger", "1"), (name, "champion", "1"), (name, "challenger", None)]
    assert [v["version"] for v in registry.model_versions(name)] == ["1"]


def test_a_model_cache_folder_that_cannot_be_made_is_named_with_its_setting(server: str, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME=/proc/nohome (a service user without a writable home): ``error: file not found: /proc/nohome``. Now the
    cache folder and XDG_CACHE_HOME are named; with XDG_CACHE_HOME set the same model loads."""
    from models import registry
    from models.errors import RegistryArtifactsError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert registry.register(TinyModel(5.0), "cache-test", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/proc/nohome")
    with pytest.raises(RegistryArtifactsError) as e:
        registry.resolve("cache-test", "1")
    msg = str(e.value)
    assert msg.startswith("model registry: cannot write the local model cache folder /proc/nohome/.cache/agcredit/"
                          "registry/"), msg
    assert "set XDG_CACHE_HOME to a writable folder" in msg and "\n" not in msg
    from typer.testing import CliRunner

    from tests.pipelines.test_cli_errors_io import _one_line_error, _writer_app

    _one_line_error(CliRunner().invoke(_writer_app(lambda: registry.resolve("cache-test", "1")), []),
                    "error: model registry: cannot write the local model cache folder /proc/nohome/", "XDG_CACHE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    assert registry.resolve("cache-test", "1").model.scale == 5.0


def test_artifacts_at_a_path_of_the_server_s_host_are_named_not_re_register(
        path_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlflow server --default-artifact-root /local/path``: on a second host (here: the folder moved away) the
    error said "no agcredit model folder inside <the cache> (re-register the model)". Now: the artifact URI that
    could not be read and the server's --serve-artifacts; nothing is left in the cache. Files read but no model
    among them: re-register, naming the URI."""
    import shutil

    from models import registry
    from models.errors import RegistryArtifactsError, RegistryError

    url, artifacts = path_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert registry.register(TinyModel(4.0), "far-away", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    assert registry.register(TinyModel(6.0), "far-away", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "2"
    moved = artifacts.with_name("artifacts-on-the-server-host")
    artifacts.rename(moved)
    try:
        with pytest.raises(RegistryArtifactsError) as e:
            registry.resolve("far-away", "1")
    finally:
        moved.rename(artifacts)
    msg = str(e.value)
    assert f"cannot read the artifacts of far-away version 1 at {artifacts}/" in msg, msg
    assert "no such path on this host" in msg and "mlflow server --serve-artifacts --artifacts-destination" in msg
    assert "re-register" not in msg and not isinstance(e.value, RegistryError)  # no fallback to "no champion"
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert registry.resolve("far-away", "1").model.scale == 4.0  # reachable again: it loads
    flavour = next(p for p in artifacts.rglob("agcredit_flavour.json") if "6.0" in
                   (p.parent / "weights.json").read_text())
    shutil.move(str(flavour), str(tmp_path / "kept.json"))  # a version whose artifacts are there but incomplete
    with pytest.raises(RegistryError, match=r"no agcredit model folder in the artifacts of far-away version 2 at "
                                            rf"{artifacts}/.*\(re-register the model\)$"):
        registry.resolve("far-away", "2")


def test_a_promotion_s_effective_date_is_kept_by_the_server(server: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The effective date of a promotion (``promote(..., effective=D)``) is a tag of its move's run on the server, so
    every operator and job reads the same champion of a date."""
    from datetime import UTC, date, datetime

    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    name = "effective-dated"
    for scale in (1.0, 2.0):
        registry.register(TinyModel(scale), name, metrics={"r2_maize": 0.5}, governance=gov(0.5))
    registry.promote(name, 1, effective="2009-06-01")
    registry.promote(name, 2)
    moves = [(h["version"], h["effective"]) for h in registry.alias_history(name) if h["alias"] == "champion"]
    assert moves == [("1", "2009-06-01"), ("2", datetime.now(UTC).date().isoformat())]
    move = registry.champion_move_on(registry.alias_history(name), date(2009, 8, 1))
    assert move is not None and move["version"] == "1"


def test_a_version_s_input_profile_is_read_back_through_the_server_or_named_out_of_reach(
        server: str, path_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``agcredit models stability`` reads the training profile a version was registered with (a run artifact):
    through a tracking server that serves its artifacts it comes back whole; a version registered without one is
    None; artifacts at a path of the server's host that this host cannot read are an error naming that, not "no
    profile"."""
    from models import registry
    from models.errors import RegistryArtifactsError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    profile = {"format": 1, "model": "yield-value", "checkpoints": {"mid": {"as_of_day": 200.0, "rows": 3,
                                                                            "features": {}}}}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    v = registry.register(TinyModel(2.0), "profiled", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                          input_profile=profile)
    assert registry.input_profile("profiled", v) == profile
    bare = registry.register(TinyModel(2.0), "profiled", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    assert registry.input_profile("profiled", bare) is None
    with pytest.raises(RegistryError, match="model 'profiled' has no version 9"):
        registry.input_profile("profiled", "9")
    url, artifacts = path_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    far = registry.register(TinyModel(2.0), "profiled-far", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                            input_profile=profile)
    moved = artifacts.with_name("artifacts-moved-for-the-profile")
    artifacts.rename(moved)
    try:
        with pytest.raises(RegistryArtifactsError, match=f"no file could be listed in the artifacts of profiled-far "
                                                         f"version {far}"):
            registry.input_profile("profiled-far", far)
    finally:
        moved.rename(artifacts)
    assert registry.input_profile("profiled-far", far) == profile


def test_a_server_lost_mid_registration_is_one_line_and_the_next_registration_completes(
        server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walkthrough stopped the tracking server during `train yield`'s registration: a 1,312-line traceback
    (MLflow's "API request to …/runs/update failed"), exit 1. Now the registry's one line; the next registration
    registers one version. The server's loss is MLflow's own exception: a request to a closed port."""
    import mlflow
    from mlflow.entities import Metric

    from models import registry
    from models.errors import RegistryUnavailableError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    closed = f"http://127.0.0.1:{_free_port()}"

    def lost(metrics: dict[str, float]) -> None:
        mlflow.MlflowClient(tracking_uri=closed).log_batch(
            "0" * 32, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])

    with monkeypatch.context() as m:
        m.setattr(mlflow, "log_metrics", lost)
        with pytest.raises(RegistryUnavailableError) as e:
            registry.register(TinyModel(2.0), "lost-server", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    assert str(e.value).startswith("cannot connect to the model registry http://127.0.0.1:")
    assert str(e.value).endswith(": connection refused") and "\n" not in str(e.value)
    assert registry.register(TinyModel(2.0), "lost-server", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"


def test_https_to_a_plain_http_server_says_so(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`https://` to a server speaking plain http: the message was the URL cut at 200 characters, mid-word, the
    cause (a TLS error) never shown."""
    from models import registry
    from models.errors import RegistryUnavailableError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.replace("http://", "https://"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(RegistryUnavailableError, match=r": no TLS answer \(the server speaks plain http\? then "
                       r"write http://\)$"):
        registry.list_models()


def test_a_server_lost_at_a_lookup_is_one_line_not_a_missing_version_or_alias(
        server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: a registry lost between requests was read as "has no 'champion' alias (promote a version …)" or "has
    no version 1" — telling an operator to promote a version that exists, or `train yield` going on without the
    crop-type champion — and at other calls a 300-line traceback. Each is the registry's one line now."""
    import mlflow

    from models import registry
    from models.errors import RegistryUnavailableError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    v = registry.register(TinyModel(2.0), "lookup-lost", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    registry.promote("lookup-lost", v, reason="ok")
    gone = f"http://127.0.0.1:{_free_port()}"
    closed = mlflow.MlflowClient(tracking_uri=gone, registry_uri=gone)
    for method in ("get_model_version_by_alias", "get_model_version"):
        with monkeypatch.context() as m:
            lost = getattr(closed, method)
            m.setattr(mlflow.MlflowClient, method, lambda self, *a, _f=lost: _f(*a))
            for call in (lambda: registry.resolve("lookup-lost"), lambda: registry.alias_version("lookup-lost"),
                         lambda: registry.promote("lookup-lost", v, reason="again"),
                         lambda: registry.governance("lookup-lost", v)):
                try:
                    call()
                except RegistryUnavailableError as e:
                    assert str(e).endswith(": connection refused") and "\n" not in str(e)
                except Exception as e:  # noqa: BLE001 - what the test looks for: no other kind
                    raise AssertionError(f"{method}: {type(e).__name__}: {str(e)[:200]}") from None


def test_a_gateway_answering_503_is_named_by_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: a proxy answering 503 read "cannot connect …: ResponseError('too many 503 error responses'"."""
    import http.server
    import threading

    from models import registry
    from models.errors import RegistryUnavailableError

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{srv.server_address[1]}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        with pytest.raises(RegistryUnavailableError, match=r": the server answered HTTP 503"):
            registry.list_models()
    finally:
        srv.shutdown()
        srv.server_close()
