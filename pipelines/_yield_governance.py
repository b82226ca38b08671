"""What a yield-value version carries for model risk (pipelines/train_yield.py): its training input profile (for stability) and the minimum metrics it must meet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from models.governance import Requirement
    from models.yield_value import YieldModel


MODEL_NAME = "yield-value"


#: a version may trail the crop-mean baseline's within-crop R² by at most this much (one held-out season)
SKILL_TOLERANCE = -0.05


# ---------------------------------------------------------------------- training
def training_input_profile(model: YieldModel, frames: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """The training rows' distribution of each input the model reads, per checkpoint (:mod:`models.stability`:
    registered with the version, compared by ``agcredit models stability``); ``frames``: each checkpoint's rows as the
    model was fitted on them (a ``reported_yield_t_ha`` column, when given, keeps only the rows the fit kept: a finite,
    non-negative yield). A checkpoint's date is its rows' median day from 1 January of their season (0 for a model that
    reads no date)."""
    import numpy as np

    from models.stability import input_profile

    reads = {*model.input_columns, "crop", "crop_type", "declared_crop"}
    tables = {}
    for cp, f in frames.items():
        if "reported_yield_t_ha" in f.columns:
            y = pd.to_numeric(f["reported_yield_t_ha"], errors="coerce").to_numpy(dtype="float64")
            f = f[np.isfinite(y) & (y >= 0)]
        # only what the model reads (a column it left out, e.g. one of another checkpoint's rows only, is no input);
        # one it reads that these rows lack is empty here, as in the fit on every checkpoint's rows together
        f = f[[c for c in f.columns if c in reads]]
        gone = [c for c in model.numeric_columns_ if c not in f.columns]
        t = model.input_table(f.assign(**dict.fromkeys(gone, float("nan"))) if gone else f)
        days = t["as_of_day"].dropna() if "as_of_day" in t.columns else pd.Series(dtype="float64")
        tables[cp] = (t, float(days.median()) if len(days) else 0.0, f["season"].astype(str).to_numpy(dtype=object),
                      f["region"].astype(str).to_numpy(dtype=object) if "region" in f.columns else None)
    return input_profile(tables, model=MODEL_NAME)


def yield_minimum_metrics(crops: Sequence[str], checkpoint_prefix: str = "",
                          checkpoints: Sequence[str] = ()) -> tuple[Requirement, ...]:
    """Promotion gates on one held-out season: within every crop in scope, R² no worse than the crop
    mean's by more than 0.05 (``skill_r2_<crop> >= -0.05``: one season's sampling noise, for crops whose
    yield the imagery cannot see), and shares of yields below P10 and above P90 each within 10% ± 7 points.

    Named with ``checkpoint_prefix`` (``""``: the end of season's, unprefixed); with ``checkpoints`` (the version's
    scope, in the order :func:`models.evaluation.build_yield_release` names their held-out metrics: the first
    unprefixed, each other ``<checkpoint>_``), the same gates at every one of them — ``skill_r2_maize``, …,
    ``mid_skill_r2_maize``, ``mid_below_p10_all`` …: a version is used in decisions at each checkpoint of its scope,
    so it is promoted on each (versions trained before were gated at their end of season only, and keep the minimum
    metrics they were registered with). The same thresholds at every checkpoint: they are a tolerance for one held-out
    season's noise and a calibration band, neither of which depends on the day of the season."""
    from models.governance import Requirement

    if checkpoints:
        if checkpoint_prefix:
            raise ValueError("yield_minimum_metrics: give checkpoint_prefix or checkpoints, not both")
        cps = list(dict.fromkeys(str(c) for c in checkpoints))
        return tuple(r for i, cp in enumerate(cps) for r in yield_minimum_metrics(crops, "" if i == 0 else f"{cp}_"))
    p = checkpoint_prefix
    req = [Requirement(f"{p}skill_r2_{c}", ">=", SKILL_TOLERANCE) for c in crops]
    req += [Requirement(f"{p}below_p10_all", ">=", 0.03), Requirement(f"{p}below_p10_all", "<=", 0.17),
            Requirement(f"{p}above_p90_all", ">=", 0.03), Requirement(f"{p}above_p90_all", "<=", 0.17)]
    return tuple(req)
