"""The suite's own environment: what the shell exports does not reach the tests' shared fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_a_token_key_and_registry_the_shell_exports_do_not_reach_the_shared_fixtures(tmp_path: Path) -> None:
    """A developer who ran the demo by the README (its key exported) and then the tests: the catalogue's module
    fixture made its store under the shell's key and every case writing to it failed ("AGCREDIT_TOKEN_KEY is not
    the key this store's farmer tokens were made with"); a shell's MLFLOW_TRACKING_URI would have been the
    registry module fixtures train into."""
    registry = tmp_path / "shell-registry"
    env = {**os.environ, "AGCREDIT_TOKEN_KEY": "agcredit-demo-token-key",
           "MLFLOW_TRACKING_URI": f"sqlite:///{registry / 'mlflow.db'}"}
    env.pop("PYTEST_XDIST_WORKER", None)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=",
                        "tests/test_bad_input_catalogue.py", "-k", "fields-empty-file or override-unknown-application"],
                       check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert " passed" in p.stdout and "deselected" in p.stdout
    assert not registry.exists()
