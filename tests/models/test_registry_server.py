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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen([str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{root / 'srv.db'}",
                             "--artifacts-destination", str(root / "artifacts")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": ""})
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
