"""agcredit: democounty — the synthetic demo county (landscape, AquaCrop growth, records, truth, scenes).

Production code (features/, models/, underwriting/) never imports this package; only
pipelines/ (the ``simulate`` command) and evaluation on a county folder use its outputs.

``simulate(region, seed, size, out)`` writes the county folder layout (README/layout):
``county.json``, ``records/`` (what a bank really holds, synthetic identifiers),
``truth/`` (only evaluation reads it) and ``scenes/`` (rendered by ``democounty.scenes``).

Fixed, documented, not tuned to flatter the models (details in ``_truth`` and ``_records``):

- stress the canopy cannot show: yield × lognormal(0, 0.10) for every planted field-season,
  and 3% of field-seasons lose 25–70% to hail just before harvest;
- traps per planted-crop field-season: partly planted 6%, crop differs from the declared one
  5%, never planted 3%, mid-season failure (drought, flood or hail) 4%; declared boundary
  overlapping the neighbours: 4% of fields (every season); each recorded in truth ``events``;
- reported yields: true × lognormal(0, 0.08), rounded to the farmer's habit, 5% missing.

Twin fields share a ``condition_id`` (one AquaCrop run): evaluation must group by it.
"""

from __future__ import annotations

from democounty._presets import REGIONS, SIZES, TRAP_RATES
from democounty._simulate import SimulateError, recover_swap, simulate

__all__ = ["REGIONS", "SIZES", "TRAP_RATES", "SimulateError", "recover_swap", "simulate"]
