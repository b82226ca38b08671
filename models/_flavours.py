"""Model flavours (private to models.registry): how a model family is written to and read from its folder in the
registry's artifacts, and finding and loading that folder."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.errors import RegistryError

_FLAVOUR_FILE = "agcredit_flavour.json"


@runtime_checkable
class ModelFlavour(Protocol):
    """How a model family is written to and read from a folder."""

    def save_dir(self, model: Any, path: Path) -> None: ...

    def load_dir(self, path: Path) -> Any: ...


@dataclass(frozen=True)
class SaveLoadFlavour:
    """Flavour of any class with ``save(path)`` and a class method ``load(path)``; ``target`` is ``module:Class``."""

    target: str

    @classmethod
    def of(cls, model: Any) -> SaveLoadFlavour:
        return cls(f"{type(model).__module__}:{type(model).__qualname__}")

    def save_dir(self, model: Any, path: Path) -> None:
        model.save(path)

    def load_dir(self, path: Path) -> Any:
        mod, _, qual = self.target.partition(":")
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
        return obj.load(path)


def _flavour_from_spec(spec: dict[str, Any]) -> ModelFlavour:
    if spec.get("kind") == "save-load":
        return SaveLoadFlavour(str(spec["target"]))
    mod, _, qual = str(spec["target"]).partition(":")
    return getattr(importlib.import_module(mod), qual)()  # a flavour class taking no arguments


def _flavour_spec(flavour: ModelFlavour) -> dict[str, str]:
    if isinstance(flavour, SaveLoadFlavour):
        return {"kind": "save-load", "target": flavour.target}
    return {"kind": "class", "target": f"{type(flavour).__module__}:{type(flavour).__qualname__}"}


def _find_model_dir(root: Path) -> Path:
    hits = sorted(root.rglob(_FLAVOUR_FILE))
    if not hits:
        raise RegistryError(problem=f"no agcredit model folder inside {root}", fix="re-register the model")
    return hits[0].parent


def _load_model_dir(d: Path, flavour: ModelFlavour | None = None) -> Any:
    spec = json.loads((d / _FLAVOUR_FILE).read_text())
    return (flavour or _flavour_from_spec(spec)).load_dir(d)
