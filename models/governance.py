"""Governance record of a registered model version (what model risk asks for).

Each version carries: its validated scope (crops × regions × as-of checkpoints), its
evaluation metrics, the minimum metrics it had to meet (each a comparison such as
``r2_maize >= 0.45`` or ``rmse_pct_maize <= 15``), and whether the metrics come from
real or synthetic data. Scoring a field outside the scope is flagged (``in_scope``), and
the policy REFERs it; promoting a version that fails its minimum metrics needs a reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ContractError

__all__ = ["Governance", "Requirement", "DATA_KINDS"]

DATA_KINDS = ("real", "synthetic")
_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


@dataclass(frozen=True)
class Requirement:
    """One minimum metric: ``metric op threshold`` with op ``>=`` or ``<=``."""

    metric: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ContractError(table="governance", column="minimum_metrics", expected="op '>=' or '<='",
                                found=repr(self.op))

    def met_by(self, metrics: dict[str, float]) -> bool:
        v = metrics.get(self.metric)
        return v is not None and math.isfinite(float(v)) and bool(_OPS[self.op](float(v), self.threshold))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Governance:
    """Validated scope, metrics, minimum metrics and data provenance of a model version."""

    crops: tuple[str, ...]
    regions: tuple[str, ...]
    checkpoints: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    minimum_metrics: tuple[Requirement, ...] = ()
    data: str = "synthetic"
    notes: str = ""

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ContractError(table="governance", column="data", expected=" or ".join(DATA_KINDS),
                                found=repr(self.data))

    def failures(self) -> list[str]:
        """The minimum metrics this version does not meet, each with the value found."""
        out = []
        for r in self.minimum_metrics:
            if not r.met_by(self.metrics):
                found = self.metrics.get(r.metric)
                out.append(f"{r} (found {'missing' if found is None else format(float(found), '.4g')})")
        return out

    def in_scope(self, crop: object, region: object, checkpoint: object) -> bool:
        """Whether one (crop, region, checkpoint) is inside the validated scope."""
        return str(crop) in self.crops and str(region) in self.regions and str(checkpoint) in self.checkpoints

    def scope_mask(self, crops: Any, regions: Any, checkpoint: str) -> np.ndarray:
        """Vectorised :meth:`in_scope` for one checkpoint."""
        c = pd.Series(np.asarray(crops, dtype=object)).astype("str").isin(self.crops).to_numpy()
        r = pd.Series(np.asarray(regions, dtype=object)).astype("str").isin(self.regions).to_numpy()
        return c & r & (str(checkpoint) in self.checkpoints)

    def to_dict(self) -> dict[str, Any]:
        return {"crops": list(self.crops), "regions": list(self.regions), "checkpoints": list(self.checkpoints),
                "metrics": {k: float(v) for k, v in sorted(self.metrics.items())},
                "minimum_metrics": [[r.metric, r.op, r.threshold] for r in self.minimum_metrics],
                "data": self.data, "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Governance:
        return cls(crops=tuple(d.get("crops", ())), regions=tuple(d.get("regions", ())),
                   checkpoints=tuple(d.get("checkpoints", ())),
                   metrics={k: float(v) for k, v in d.get("metrics", {}).items()},
                   minimum_metrics=tuple(Requirement(str(m), str(o), float(t)) for m, o, t in d.get("minimum_metrics", ())),
                   data=str(d.get("data", "synthetic")), notes=str(d.get("notes", "")))

    @classmethod
    def from_json(cls, text: str) -> Governance:
        return cls.from_dict(json.loads(text))

    def summary(self) -> str:
        """One line: data kind, scope and minimum-metric status."""
        fails = self.failures()
        status = "meets its minimum metrics" if not fails else f"FAILS {len(fails)} minimum metric(s)"
        return (f"{self.data} data; scope crops={','.join(self.crops)} regions={','.join(self.regions)} "
                f"checkpoints={','.join(self.checkpoints)}; {status}")
