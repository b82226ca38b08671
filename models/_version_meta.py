"""What the registry records of a version besides its model (private to models.registry): the tags a registration
writes and reads back (the model folder's digest, the training data, provenance, the registering run's host and
process), the input profile's file, the signature examples' integer columns, and how a version number, a model's
training command and a name in MLflow's search filters are spelled."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd


def _literal(value: str) -> str | None:
    """``value`` as a string literal of MLflow's search filters: single quotes, double quotes when it holds a single
    quote (MLflow reads no escapes inside either); None when it holds both."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def _ints_as_doubles(example: Any) -> Any:
    """A DataFrame example with its integer columns (numpy or nullable) as float64; anything else as it is."""
    if not isinstance(example, pd.DataFrame):
        return example
    ints = [c for c in example.columns if pd.api.types.is_integer_dtype(example[c])]
    return example.astype(dict.fromkeys(ints, "float64")) if ints else example


#: tag of a model version: the sha256 of the model folder it was registered from (``models._digest.folder_hash``)
_MODEL_DIGEST_TAG = "agcredit.model_sha256"


#: tags of a registration run: the host and process that logged it (:func:`_reap_killed_runs`)
_RUN_HOST_TAG, _RUN_PID_TAG = "agcredit.host", "agcredit.pid"
#: tag of a registration run and its model version: the training tables' content hashes (``register``)
_TRAINING_DATA_TAG = "training_data"
#: the prefix of the provenance tags (``agcredit.source_sha256``, ``agcredit.libraries``)
_PROVENANCE_PREFIX = "agcredit.provenance."


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # alive under another user (or not ours to judge)
    return False


#: the run artifact holding a version's training input profile (:mod:`models.stability`)
INPUT_PROFILE_FILE = "input_profile.json"


def _train_command(name: str) -> str:
    """The CLI command that trains and registers the model ``name``."""
    known = {"crop-type": "agcredit train crop-type", "yield-value": "agcredit train yield"}
    return known.get(name, "agcredit train crop-type / agcredit train yield") + " ..."


def version_number(version: str | int) -> str:
    """A registered model version as MLflow numbers it (``"1"``): ``" 1 "`` and ``"01"`` are version 1 to MLflow, but
    were recorded as typed — the append-only alias history read ``v1 → v01``, a promotion of the champion to itself,
    re-dated, and the next promotion's catch-up row looked like a change made outside agcredit. Anything but digits
    is left as given (MLflow refuses it: "has no version")."""
    text = str(version).strip()
    return str(int(text)) if text.isdigit() else str(version)


def _training_data_of(mv: Any) -> dict[str, Any]:
    """A version's ``training_data`` tag (empty for versions registered before it or without it)."""
    raw = (mv.tags or {}).get(_TRAINING_DATA_TAG)
    try:
        out = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}
