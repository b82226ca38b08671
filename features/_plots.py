"""The registry's PNG plots, drawn the same way for every model family (crop type: features/_crop_registry.py;
yield: models/evaluation.py): Agg backend, 80 dpi, no software tag in the file (the same model gives the same
bytes), and one feature-importance chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["importance_png", "pyplot", "save_png"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(plt: Any, fig: Any, path: Path) -> Path:
    """``fig`` laid out, written to ``path`` as PNG (no software tag) and closed."""
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    return path


def importance_png(plt: Any, importance: pd.Series, xlabel: str, path: Path) -> Path:
    """A horizontal bar per feature of ``importance`` (drawn bottom-up in its order), titled Feature importance."""
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(importance) + 1.2))
    ax.barh(list(importance.index), importance.to_numpy())
    ax.set_xlabel(xlabel)
    ax.set_title("Feature importance")
    return save_png(plt, fig, path)
