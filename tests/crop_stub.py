"""A stand-in for a fitted crop-type classifier: the attributes :func:`features._crop_persist.model_metadata` reads."""

from __future__ import annotations

import json
from typing import Any

from features._crop_persist import model_metadata, restore_state


class FittedStub:
    """One class, one checkpoint, one booster placeholder; extra fitted attributes as keyword arguments."""

    classes_ = ["maize"]
    variables_ = ["NDVI"]
    n_periods_ = 1
    context_: list[str] = []
    categories_: dict[str, list[str]] = {}
    feature_names_in_ = ["f"]
    checkpoints_ = ["end"]
    temperatures_ = {"end": 1.0}
    biases_: dict[str, list[float]] = {}
    oof_ece_: dict[str, float] = {}
    boosters_: dict[str, list[object]] = {"end": [object()]}

    def __init__(self, **fitted: Any) -> None:
        for k, v in fitted.items():
            setattr(self, k, v)

    def get_params(self) -> dict[str, object]:
        return {}


def saved_and_restored(stub: FittedStub) -> tuple[dict[str, Any], Any]:
    """``meta.json`` of ``stub`` (through JSON, as written) and a blank object restored from it."""
    meta = json.loads(json.dumps(model_metadata(stub, "x")))
    back: Any = type("Blank", (), {})()
    restore_state(back, meta)
    return meta, back
