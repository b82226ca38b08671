"""The registry tests' MLflow store (test_registry, test_registry_effective): an empty sqlite store initialised once
per module and copied per test, the tracking URI and operator set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow sqlite store (creating one runs all migrations: seconds), copied per test."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> Path:
    root = tmp_path / "mlruns"
    root.mkdir()
    shutil.copyfile(empty_db, root / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    return root
