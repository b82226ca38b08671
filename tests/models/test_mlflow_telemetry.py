"""MLflow's usage telemetry is off unless the operator turns it on: importing the registry (whose modules alone import
mlflow) leaves no telemetry client and writes no installation id into the user's home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: mlflow turns its telemetry off by itself under these (CI, pytest): a real host has none of them
_CI_MARKERS = ("PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS",
               "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION",
               "CLOUD_RUN_EXECUTION", "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
               "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")

_PROBE = """
import json, os
import models.registry  # noqa: F401  (imports mlflow)
from mlflow.telemetry.client import get_telemetry_client
from mlflow.telemetry.utils import is_telemetry_disabled
print(json.dumps({"disabled": is_telemetry_disabled(), "client": get_telemetry_client() is not None,
                  "env": os.environ.get("MLFLOW_DISABLE_TELEMETRY")}))
"""


def _probe(tmp_path: Path) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in _CI_MARKERS}
    clean.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", _PROBE], env=clean, capture_output=True, text=True, check=True,
                       cwd=tmp_path)
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_telemetry_is_off_by_default_and_nothing_is_written_to_home(tmp_path: Path) -> None:
    got = _probe(tmp_path)
    assert got == {"disabled": True, "client": False, "env": "true"}
    assert not any(tmp_path.rglob("telemetry.json"))  # no installation id kept


@pytest.mark.parametrize("value", ["false", "true", "0"])
def test_an_explicit_setting_is_the_operators(tmp_path: Path, value: str) -> None:
    """Left as set (checked without importing mlflow: with telemetry on it would reach for the network)."""
    clean = {k: v for k, v in os.environ.items() if k not in _CI_MARKERS}
    clean.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), MLFLOW_DISABLE_TELEMETRY=value)
    p = subprocess.run([sys.executable, "-c", "import os, models; print(os.environ['MLFLOW_DISABLE_TELEMETRY'])"],
                       env=clean, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert p.stdout.strip() == value
