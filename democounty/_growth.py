"""Crop growth with AquaCrop: a pool of distinct conditions, run in parallel.

A *condition* is one combination of season (weather year), crop, soil, sowing date,
management (irrigated or rainfed, canopy limit from fertility and plant density) and
initial soil water. Each condition is one AquaCrop run; fields are assigned to
conditions (``condition_id`` in truth) and given small per-field variation later.

AquaCrop facts applied here (../shared/NOTES.md):

- winter wheat is ``WheatGDD`` sown late September of the year before the season and run
  to the end of August;
- when a run fails for lack of growing degree days (or does not mature by the end of the
  run), every GDD stage is shortened by 5% and the run retried (an earlier variety); the
  variety used is recorded, e.g. ``MaizeGDD x0.90``;
- rainfed crops start at 60–100% of available water; irrigated crops at field capacity
  with soil-moisture-triggered irrigation;
- AquaCrop has no fertility or density module: management scales the crop's CCx (and so
  the achievable canopy and yield) per condition;
- Hyderabad presets are re-tuned to local yield levels (see ``_presets``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np

from democounty._presets import PRESETS, CropSpec

__all__ = ["Condition", "GrowthResult", "crop_spec", "make_pool", "run_pool", "run_condition"]

_GDD_STAGES = ("Emergence", "MaxRooting", "Senescence", "Maturity", "HIstart", "Flowering", "YldForm")
_MAX_RETRIES = 14
_WEATHER: dict[str, Any] = {}


@dataclass(frozen=True)
class Condition:
    """One distinct growing condition (one AquaCrop run)."""

    condition_id: str
    region: str
    season: int
    crop: str
    soil: str
    sowing: date
    irrigated: bool
    ccx_scale: float
    init_water_pct: float     # rainfed: % of total available water at the start
    smt: float                # irrigated: soil-moisture threshold (% TAW) that triggers irrigation


@dataclass(frozen=True)
class GrowthResult:
    """What one AquaCrop run produced: the daily green canopy from sowing to maturity and dates."""

    condition_id: str
    variety: str
    sowing: date
    emergence: date
    flowering: date | None
    maturity: date
    green: np.ndarray          # daily green canopy cover (0..1), day 0 = sowing, last = maturity
    yield_dry_t_ha: float
    yield_potential_t_ha: float


def crop_spec(region: str, crop: str) -> CropSpec:
    """The CropSpec of ``crop`` in ``region``."""
    for c in PRESETS[region].crops:
        if c.name == crop:
            return c
    raise KeyError(crop)


def _weather(region: str) -> Any:
    if region not in _WEATHER:
        from aquacrop.utils import get_filepath, prepare_weather

        _WEATHER[region] = prepare_weather(get_filepath(PRESETS[region].weather_file))
    return _WEATHER[region]


def _run_once(cond: Condition, spec: CropSpec, scale: float) -> tuple[Any, Any, dict[str, float]]:
    from aquacrop import AquaCropModel, Crop, FieldMngt, InitialWaterContent, IrrigationManagement, Soil
    from aquacrop.entities.crops.crop_params import crop_params

    base = crop_params[spec.aquacrop]
    params: dict[str, float] = dict(spec.params)
    for k in _GDD_STAGES:
        params[k] = float(base[k]) * scale
    params["CCx"] = float(params.get("CCx", base["CCx"])) * cond.ccx_scale
    end = date(cond.season + spec.end_year_offset, *map(int, spec.end_mmdd.split("-")))
    crop = Crop(spec.aquacrop, planting_date=cond.sowing.strftime("%m/%d"),
                harvest_date=end.strftime("%m/%d"), **params)
    if cond.irrigated:
        iwc = InitialWaterContent(value=["FC"])
        irr = IrrigationManagement(irrigation_method=1, SMT=[cond.smt] * 4)
    else:
        iwc = InitialWaterContent(wc_type="Pct", value=[cond.init_water_pct])
        irr = IrrigationManagement(irrigation_method=0)
    fm = FieldMngt(bunds=True, z_bund=spec.bunds_m, bund_water=0.0) if spec.bunds_m > 0 else FieldMngt()
    model = AquaCropModel(cond.sowing.strftime("%Y/%m/%d"), end.strftime("%Y/%m/%d"), _weather(cond.region),
                          Soil(spec.soils[0] if cond.soil not in spec.soils else cond.soil), crop, iwc,
                          irrigation_management=irr, field_management=fm)
    model.run_model(till_termination=True)
    stats = model.get_simulation_results()
    return model.get_crop_growth(), stats, params


def run_condition(cond: Condition) -> GrowthResult:
    """Run AquaCrop for one condition, shortening GDD stages 5% per retry until it matures.

    A rainfed crop that never establishes (dry seedbed, e.g. 2012 at Champion) is re-sown into a
    full profile once (the farmer waits for rain); if it still fails, the failed run is the result.
    """
    spec = crop_spec(cond.region, cond.crop)
    last: Exception | None = None
    run = cond
    k = 0
    while k < _MAX_RETRIES:
        scale = spec.gdd_scale * 0.95**k
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                growth, stats, params = _run_once(run, spec, scale)
        except (AssertionError, IndexError, ValueError, ZeroDivisionError) as e:
            last = e
            k += 1
            continue
        if stats is False or len(stats) == 0:
            last = RuntimeError("did not mature before the end of the run")
            k += 1
            continue
        step = int(stats["Harvest Date (Step)"].iloc[0])
        cc = growth["canopy_cover"].to_numpy(dtype=float)[: step + 1]
        gdd = growth["gdd_cum"].to_numpy(dtype=float)[: step + 1]
        if cc.max() < 0.05 and not run.irrigated and run.init_water_pct < 100.0:
            run = replace(run, init_water_pct=100.0)
            continue
        emerg = int(np.argmax(cc > 0)) if (cc > 0).any() else min(step, 10)
        hist = params["HIstart"]
        flow = int(np.argmax(gdd >= hist)) if (gdd >= hist).any() else None
        variety = spec.aquacrop if abs(scale - 1.0) < 1e-9 else f"{spec.aquacrop} x{scale:.2f}"
        return GrowthResult(
            condition_id=cond.condition_id, variety=variety, sowing=cond.sowing,
            emergence=cond.sowing + timedelta(days=emerg),
            flowering=None if flow is None else cond.sowing + timedelta(days=flow),
            maturity=cond.sowing + timedelta(days=max(step, emerg + 1)),
            green=np.clip(cc, 0.0, 1.0).astype(np.float32),
            yield_dry_t_ha=float(stats["Dry yield (tonne/ha)"].iloc[0]),
            yield_potential_t_ha=float(stats["Yield potential (tonne/ha)"].iloc[0]),
        )
    raise RuntimeError(f"AquaCrop: condition {cond.condition_id} ({cond.crop}, {cond.season}) never matured "
                       f"after {_MAX_RETRIES} shorter varieties: {last}")


def quiet_worker() -> None:
    """A pool's worker process ignores SIGINT: a Ctrl-C reaches the terminal's whole process group and the parent
    stops the pool (each worker's own KeyboardInterrupt printed "Process ForkPoolWorker-1:" and a traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_pool(conditions: list[Condition], workers: int = 2) -> dict[str, GrowthResult]:
    """Run every condition (in ``workers`` processes when worthwhile); results keyed by condition id."""
    if workers <= 1 or len(conditions) < 12:
        results = [run_condition(c) for c in conditions]
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(processes=workers, initializer=quiet_worker) as pool:
            results = pool.map(run_condition, conditions, chunksize=4)
    return {r.condition_id: r for r in results}


def make_pool(region: str, seasons: list[int], per_crop: int, rng: np.random.Generator) -> list[Condition]:
    """Draw ``per_crop`` distinct conditions for every season and crop of ``region``."""
    out: list[Condition] = []
    for season in seasons:
        for spec in PRESETS[region].crops:
            n_irr = int(np.floor(per_crop * spec.irrigated_share + 0.5))
            lo, hi = (date(season + spec.sow_year_offset, *map(int, s.split("-"))) for s in spec.sow_window)
            for k in range(per_crop):
                sow = lo + timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))
                out.append(Condition(
                    condition_id=f"C{season}-{spec.name}-{k:02d}", region=region, season=season, crop=spec.name,
                    soil=str(spec.soils[int(rng.integers(0, len(spec.soils)))]), sowing=sow, irrigated=k < n_irr,
                    ccx_scale=round(float(rng.uniform(*spec.ccx_range)), 3),
                    init_water_pct=round(float(rng.uniform(60.0, 100.0)), 1),
                    smt=round(float(rng.uniform(55.0, 80.0)), 1),
                ))
    return out
