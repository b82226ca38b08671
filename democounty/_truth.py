"""Truth per field-season: crop, traps, per-field variation, hidden stress, daily canopy.

Traps (rates in ``_presets.TRAP_RATES``, drawn independently per planted-crop field-season,
except ``overlap`` which is drawn once per field and holds in every season):

- ``partly_planted`` (6%): only 35–80% of the field is planted (a straight cut);
- ``crop_mismatch`` (5%): the declared crop differs from the crop grown;
- ``overlap`` (4% of fields): the declared boundary reaches into the neighbours' fields;
- ``never_planted`` (3%): a crop is declared but nothing is planted (true crop ``fallow``);
- ``failure`` (4%): the crop fails mid-season (drought, flood or hail), canopy collapses,
  yield 0, no harvest.

Stress the canopy cannot show (fixed, not tuned): every planted yield is multiplied by
lognormal(0, 0.10) (labelled ``heat`` or ``lodging`` when below 0.88) and 3% of field-seasons
lose 25–70% to hail just before harvest (``hail``). Per-field variation on top of the
condition's AquaCrop run: canopy scaled by lognormal(0, 0.04) (yield in proportion) and
dates shifted by −3..+3 days. ``drought`` marks rainfed runs below 60% of their potential.

Canopy rows cover every day of the season's imagery window (``season_windows.csv``) for
every field-season, zeros where nothing grows. Green cover follows AquaCrop to maturity
and then dries off within a week; senescent cover is the brown part (the canopy lost after
its peak, the standing dry crop until harvest, then residue fading over 60 days).
``flooded`` marks paddy from 14 days before to 35 days after transplanting. Nebraska windows
overlap (15 Sep–30 Nov of year S belongs to seasons S and S+1): each season's rows describe
only that season's crop, so from the later season's sowing date on, its rows are the field's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from democounty._growth import Condition, GrowthResult, crop_spec
from democounty._presets import HAIL_LOSS, HAIL_RATE, HIDDEN_SD, MOISTURE_PCT, TRAP_RATES, Preset

__all__ = ["FieldSeason", "season_window", "make_truth"]

@dataclass
class FieldSeason:
    """The truth of one field in one season (and its daily canopy)."""

    field_id: str
    season: int
    condition_id: str
    true_crop: str
    declared_crop: str | None
    planted: bool
    planted_fraction: float
    irrigated: bool
    sowing: date | None = None
    emergence: date | None = None
    flowering: date | None = None
    maturity: date | None = None
    harvest: date | None = None
    failure: date | None = None
    yield_dry: float = 0.0
    variety: str = ""
    events: list[str] = field(default_factory=list)
    green: np.ndarray | None = None
    senescent: np.ndarray | None = None
    flooded: np.ndarray | None = None

    @property
    def yield_market(self) -> float:
        if not self.planted or self.true_crop == "fallow":
            return 0.0
        return self.yield_dry / (1.0 - MOISTURE_PCT[self.true_crop] / 100.0)


def season_window(region: str, season: int) -> tuple[date, date]:
    """First and last day of the imagery window of ``season`` (as in features/data/season_windows.csv)."""
    if region == "us-nebraska":
        return date(season - 1, 9, 15), date(season, 11, 30)
    return date(season, 5, 15), date(season + 1, 2, 28)


def _canopy(fs: FieldSeason, res: GrowthResult, start: date, n_days: int, scale: float, shift: int,
            rng: np.random.Generator) -> None:
    green = np.zeros(n_days, np.float32)
    sen = np.zeros(n_days, np.float32)
    flood = np.zeros(n_days, bool)
    curve = np.clip(res.green * scale, 0.0, 0.98).astype(np.float32)
    s0 = (res.sowing - start).days + shift
    idx = np.arange(len(curve)) + s0
    ok = (idx >= 0) & (idx < n_days)
    peak = int(np.argmax(curve))
    brown = np.maximum.accumulate(curve) - curve
    brown[:peak] = 0.0
    green[idx[ok]] = curve[ok]
    sen[idx[ok]] = brown[ok]
    top = float(curve.max())
    end = s0 + len(curve)
    if fs.failure is not None:
        f0 = (fs.failure - start).days
        cause = fs.events[-1]
        fall = 3 if cause == "hail" else 10
        level = green[f0] if 0 <= f0 < n_days else 0.0
        for d in range(f0, min(n_days, end + 60)):
            if d < 0:
                continue
            t = d - f0
            g = level * max(0.0, 1 - t / fall)
            green[d] = g
            sen[d] = (level - g) * max(0.0, 1 - t / 90)
            if cause == "flood" and t < 12:
                flood[d] = True
        if fs.true_crop == "rice":
            _flood_paddy(flood, s0)
        fs.green, fs.senescent, fs.flooded = green, sen, flood
        return
    harv = (fs.harvest - start).days if fs.harvest else end
    last_green = float(curve[-1])
    for d in range(end, min(n_days, harv)):  # dry-down to harvest
        t = d - end + 1
        green[d] = last_green * max(0.0, 1 - t / 7)
        sen[d] = top - green[d]
    resid = 0.3 * top
    for d in range(max(harv, 0), min(n_days, harv + 60)):
        sen[d] = resid * (1 - (d - harv) / 60) + 0.05 * top * (d - harv) / 60
    if fs.true_crop == "rice":
        _flood_paddy(flood, s0)
    fs.green, fs.senescent, fs.flooded = green, sen, flood


def _flood_paddy(flood: np.ndarray, s0: int) -> None:
    a, b = max(0, s0 - 14), min(len(flood), s0 + 36)
    if a < b:
        flood[a:b] = True


def make_truth(pre: Preset, field_ids: list[str], seasons: list[int], pool: list[Condition],
               results: dict[str, GrowthResult], rng: np.random.Generator) -> list[FieldSeason]:
    """Assign crops, conditions, traps and hidden stress to every field-season; build the canopy."""
    crops = [c.name for c in pre.crops]
    shares = np.array([c.share for c in pre.crops] + [pre.fallow_share])
    shares = shares / shares.sum()
    equipped = rng.random(len(field_ids)) < pre.irrigated_fields
    overlap = rng.random(len(field_ids)) < TRAP_RATES["overlap"]
    by_key: dict[tuple[int, str, bool], list[Condition]] = {}
    for c in pool:
        by_key.setdefault((c.season, c.crop, c.irrigated), []).append(c)
    out: list[FieldSeason] = []
    for season in seasons:
        start, stop = season_window(pre.region, season)
        n_days = (stop - start).days + 1
        for i, fid in enumerate(field_ids):
            k = int(rng.choice(len(shares), p=shares))
            u = rng.random(6)
            if k == len(crops):
                fs = FieldSeason(fid, season, f"C{season}-fallow", "fallow", None, False, 0.0, False)
                fs.events = ["overlap"] if overlap[i] else []
                out.append(fs)
                continue
            crop = crops[k]
            declared = crop
            events: list[str] = []
            if u[0] < TRAP_RATES["crop_mismatch"]:
                others = [c for c in crops if c != crop]
                declared = others[int(rng.integers(0, len(others)))]
                events.append("crop_mismatch")
            if overlap[i]:
                events.append("overlap")
            if u[1] < TRAP_RATES["never_planted"]:
                fs = FieldSeason(fid, season, f"C{season}-fallow", "fallow", declared, False, 0.0, False)
                fs.events = [*events, "never_planted"]
                out.append(fs)
                continue
            opts = (by_key.get((season, crop, bool(equipped[i]))) or by_key.get((season, crop, not equipped[i]))
                    or [])
            cond = opts[int(rng.integers(0, len(opts)))]
            res = results[cond.condition_id]
            frac = 1.0
            if u[2] < TRAP_RATES["partly_planted"]:
                frac = round(float(rng.uniform(0.35, 0.8)), 3)
                events.append("partly_planted")
            scale = float(np.exp(rng.normal(0.0, 0.04)))
            shift = int(rng.integers(-3, 4))
            spec = crop_spec(pre.region, crop)
            sd = timedelta(days=shift)
            fs = FieldSeason(fid, season, cond.condition_id, crop, declared, True, frac, cond.irrigated,
                             sowing=res.sowing + sd, emergence=res.emergence + sd,
                             flowering=None if res.flowering is None else res.flowering + sd,
                             maturity=res.maturity + sd, variety=res.variety)
            hidden = float(np.exp(rng.normal(0.0, HIDDEN_SD)))
            y = res.yield_dry_t_ha * scale * hidden
            if not cond.irrigated and res.yield_dry_t_ha < 0.6 * res.yield_potential_t_ha:
                events.append("drought")
            if hidden < 0.88:
                events.append("lodging" if u[3] < 0.5 else "heat")
            if u[4] < HAIL_RATE:
                y *= 1.0 - float(rng.uniform(*HAIL_LOSS))
                events.append("hail")
            fs.harvest = res.maturity + sd + timedelta(days=int(rng.integers(spec.harvest_delay[0],
                                                                              spec.harvest_delay[1] + 1)))
            if u[5] < TRAP_RATES["failure"]:
                span = (res.maturity - res.emergence).days
                fs.failure = res.emergence + sd + timedelta(days=int(span * rng.uniform(0.3, 0.85)))
                cause = ["drought", "flood", "hail"][int(rng.integers(0, 3))]
                events = [e for e in events if e not in ("hail", "drought", "heat", "lodging")]
                events += ["failure", cause]
                fs.maturity = fs.harvest = None
                y = 0.0
            fs.yield_dry = round(y, 4)
            fs.events = events
            _canopy(fs, res, start, n_days, scale, shift, rng)
            out.append(fs)
    return out
