"""The registry tests' MLflow store (test_registry, test_registry_effective): an empty sqlite store initialised once
per module and copied per test, the tracking URI and operator set (tests/conftest.py: ``empty_db``,
``mlflow_registry``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store(mlflow_registry: Path) -> Path:
    return mlflow_registry
