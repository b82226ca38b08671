"""agcredit: models — yield and value model, price tables, governance, evaluation, registry.

Public names are imported lazily (PEP 562), so ``import models.money`` stays cheap and
neither lightgbm nor mlflow is loaded before it is used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# MLflow 3 sends usage telemetry to its maintainers' servers and keeps an installation id in the user's home unless
# told not to (checked when mlflow is imported, which only models.registry and its private modules do, after this
# package): agcredit's commands and the processes they start send nothing anywhere unasked (an `mlflow server` or
# another process importing mlflow first needs the variable exported: README, Configuration). An explicit
# MLFLOW_DISABLE_TELEMETRY (or DO_NOT_TRACK) is the operator's choice and is left as set.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__all__ = [
    # contracts, money, errors
    "FIELD_VALUATIONS", "check_field_valuations", "MINOR_DIGITS", "to_minor", "format_minor", "check_currency",
    "ModelError", "MoneyError", "PriceError", "RegistryError", "ModelInputError",
    # prices
    "DEFAULT_PRICES", "Price", "PriceTable", "read_prices",
    # yield and value
    "QUANTILE_COLUMNS", "YieldModel", "YieldModelConfig", "crop_of", "value_fields", "score_fields",
    # governance and evaluation
    "Governance", "Requirement", "YieldEvaluation", "YieldRelease", "build_yield_release", "evaluate_yield", "yield_metrics", "governance_metrics",
    "default_minimum_metrics", "diagnostic_plots",
    # registry (mlflow)
    "ModelFlavour", "SaveLoadFlavour", "Resolved", "register", "promote", "resolve", "list_models",
    "model_versions", "alias_history", "describe", "governance", "tracking_uri",
]

_HOME = {
    "FIELD_VALUATIONS": "contracts", "check_field_valuations": "contracts",
    "MINOR_DIGITS": "money", "to_minor": "money", "format_minor": "money", "check_currency": "money",
    "ModelError": "errors", "MoneyError": "errors", "PriceError": "errors", "RegistryError": "errors",
    "ModelInputError": "errors",
    "DEFAULT_PRICES": "prices", "Price": "prices", "PriceTable": "prices", "read_prices": "prices",
    "QUANTILE_COLUMNS": "yield_value", "YieldModel": "yield_value", "YieldModelConfig": "yield_value",
    "crop_of": "yield_value", "value_fields": "yield_value", "score_fields": "yield_value",
    "Governance": "governance", "Requirement": "governance",
    "YieldEvaluation": "evaluation", "YieldRelease": "evaluation", "build_yield_release": "evaluation",
    "evaluate_yield": "evaluation", "yield_metrics": "evaluation",
    "governance_metrics": "evaluation", "default_minimum_metrics": "evaluation", "diagnostic_plots": "evaluation",
    "ModelFlavour": "registry", "SaveLoadFlavour": "registry", "Resolved": "registry", "register": "registry",
    "promote": "registry", "resolve": "registry", "list_models": "registry", "model_versions": "registry",
    "alias_history": "registry", "describe": "registry", "governance": "registry", "tracking_uri": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"models.{_HOME[name]}"), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
