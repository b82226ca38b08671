"""A benchmark's scratch folder with a scratch MLflow registry in it: what the model-risk benchmarks train their
versions into (never a county's own registry)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def scratch_registry(work: Path | None, prefix: str) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """``work`` (created), or a temporary folder named by ``prefix`` when None (returned too: clean it up), with
    ``mlruns/`` in it set as the tracking store (``MLFLOW_TRACKING_URI``) and the demo's token key unless one is set."""
    ctx = tempfile.TemporaryDirectory(prefix=prefix) if work is None else None
    folder = Path(ctx.name) if ctx is not None else work
    assert folder is not None
    (folder / "mlruns").mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")
    return folder, ctx
