"""Farmers' records: what a bank really holds (declared fields, farm diaries, applications, book).

All personal identifiers are synthetic and built so they cannot be a real person's:
names are made of invented syllables; US national IDs start with 9 (never issued as SSNs);
Indian IDs start with 0 or 1 (never issued as Aadhaar numbers); US phones are in the
fictional 555-01xx range and Indian phones use the unassigned 00000 prefix.

- declared areas: rounded to the preset's step; 12% of them are off by 10–25%; fields with
  the ``overlap`` trap declare the area of their (too large) declared boundary;
- diaries (history.csv, past seasons): sowing and harvest dates ± 4 days, 12% of each
  missing; reported yield = true yield (market moisture) × lognormal(0, 0.08), rounded to
  the farmer's habit (0.1, 0.25 or 0.5 t/ha), 5% missing, empty when nothing was planted;
- applications (current season, 85% of farmers): requested amount 30–70% of expected
  revenue (declared area × regional yield × price); 15% of farmers are heavily indebted
  (debt due this cycle 50–90% of expected revenue) so the cash-flow leg binds; 10% have
  prior liens on the crop;
- book: active lines of 40% of farmers for the current season.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from democounty._growth import crop_spec
from democounty._presets import Preset
from democounty._truth import FieldSeason

__all__ = ["Farmer", "make_farmers", "history_table", "applications_table", "declared_area"]

_SYL = ("ka", "lo", "mi", "ra", "te", "vo", "su", "ne", "da", "pi", "zu", "bel", "tor", "wen", "qua", "rix")


@dataclass(frozen=True)
class Farmer:
    """A synthetic farmer and the fields they farm."""

    index: int
    name: str
    national_id: str
    phone: str
    field_idx: tuple[int, ...]
    habit: float
    indebted: bool


def _name(rng: np.random.Generator) -> str:
    def word(n: int) -> str:
        return "".join(_SYL[int(rng.integers(0, len(_SYL)))] for _ in range(n)).capitalize()

    return f"{word(2)} {word(3)}"


def make_farmers(pre: Preset, n_fields: int, rng: np.random.Generator) -> list[Farmer]:
    """Group consecutive (neighbouring) fields into farms and give each farmer synthetic identifiers."""
    out: list[Farmer] = []
    i = 0
    ids = rng.permutation(10**7)[: n_fields + 1]
    while i < n_fields:
        k = int(rng.integers(pre.fields_per_farmer[0], pre.fields_per_farmer[1] + 1))
        j = len(out)
        num = int(ids[j])
        if pre.currency == "USD":
            digits = f"9{num:08d}"
            nid = f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
            phone = f"+1-308-555-01{j % 100:02d}"
        else:
            nid = f"{j % 2}{num:011d}"
            nid = f"{nid[:4]} {nid[4:8]} {nid[8:]}"
            phone = f"+91-00000-{num % 100000:05d}"
        out.append(Farmer(j, _name(rng), nid, phone, tuple(range(i, min(n_fields, i + k))),
                          float(rng.choice([0.1, 0.25, 0.5])), bool(rng.random() < 0.15)))
        i += k
    return out


def declared_area(true_ha: float, step: float, rng: np.random.Generator) -> float:
    """The farmer's declared area: rounded to ``step``, 12% of the time off by 10–25%."""
    a = true_ha
    if rng.random() < 0.12:
        a *= 1.0 + float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.10, 0.25))
    return round(max(step, round(a / step) * step), 4)


def _iso(d: date | None) -> str:
    return "" if d is None else d.isoformat()


def history_table(truth: list[FieldSeason], current: int, farmer_of: dict[str, Farmer],
                  rng: np.random.Generator) -> pd.DataFrame:
    """Past seasons' farm diaries (declared-crop field-seasons only)."""
    rows = []
    for fs in truth:
        if fs.season >= current or fs.declared_crop is None:
            continue
        r = rng.random(5)
        jit = rng.integers(-4, 5, 2)
        sow = None if (not fs.planted or r[0] < 0.12 or fs.sowing is None) else fs.sowing + timedelta(days=int(jit[0]))
        harv = None if (fs.harvest is None or r[1] < 0.12) else fs.harvest + timedelta(days=int(jit[1]))
        if not fs.planted or r[2] < 0.05:
            rep = ""
        else:
            habit = farmer_of[fs.field_id].habit
            y = fs.yield_market * float(np.exp(rng.normal(0.0, 0.08)))
            rep = f"{round(y / habit) * habit:.2f}"
        rows.append({"field_id": fs.field_id, "season": str(fs.season), "declared_crop": fs.declared_crop,
                     "sowing_date": _iso(sow), "harvest_date": _iso(harv), "reported_yield_t_ha": rep})
    return pd.DataFrame(rows, columns=["field_id", "season", "declared_crop", "sowing_date", "harvest_date",
                                       "reported_yield_t_ha"])


def _money(x: float, step: float) -> str:
    return f"{max(0.0, round(x / step) * step):.2f}"


def applications_table(pre: Preset, farmers: list[Farmer], current: list[FieldSeason], areas: dict[str, float],
                       regional_yield: dict[str, float], rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Applications of the current season and the Book of active lines (both with synthetic identifiers).

    ``current`` is the current season's truth in field order; ``areas`` the declared areas by field id.
    """
    step = 100.0 if pre.currency == "USD" else 1000.0
    season = current[0].season
    apps, book = [], []
    for f in farmers:
        rev, cost, crops = 0.0, 0.0, []
        for fs in (current[i] for i in f.field_idx):
            crop = fs.declared_crop
            if crop is None:
                continue
            spec = crop_spec(pre.region, crop)
            rev += areas[fs.field_id] * regional_yield.get(crop, 0.0) * spec.price
            cost += areas[fs.field_id] * spec.cost_per_ha
            crops.append(crop)
        if not crops or rev <= 0:
            continue
        main = max(sorted(set(crops)), key=crops.count)
        u = rng.random(4)
        if u[0] < 0.85:
            existing = rev * (rng.uniform(1.5, 3.0) if f.indebted else rng.uniform(0.0, 1.0))
            due = rev * rng.uniform(0.5, 0.9) if f.indebted else existing * rng.uniform(0.1, 0.3)
            term = int(rng.integers(210, 301) if pre.currency == "USD" else rng.integers(150, 241))
            apps.append({
                "application_id": f"A{season}-{f.index + 1:05d}", "national_id": f.national_id,
                "farmer_name": f.name, "phone": f.phone, "season": str(season), "currency": pre.currency,
                "requested_amount": _money(rev * rng.uniform(0.3, 0.7), step), "requested_term_days": str(term),
                "existing_debt": _money(existing, step), "debt_due_this_cycle": _money(due, step),
                "other_income": _money(rng.uniform(*pre.other_income), step),
                "living_costs": _money(rng.uniform(*pre.living_costs), step),
                "unfinanced_costs": _money(cost * rng.uniform(0.2, 0.5), step),
                "prior_liens_on_crop": _money(rev * rng.uniform(0.1, 0.3) if u[1] < 0.10 else 0.0, step),
            })
        if u[2] < 0.40:
            spec = crop_spec(pre.region, main)
            lo = date(season + spec.sow_year_offset, *map(int, spec.sow_window[0].split("-")))
            start = lo - timedelta(days=int(rng.integers(10, 40)))
            limit = float(rng.uniform(0.3, 0.5)) * rev
            drawn = limit * float(rng.uniform(0.2, 1.0))
            book.append({
                "line_id": f"L{season}-{f.index + 1:05d}", "application_id": f"P{season}-{f.index + 1:05d}",
                "national_id": f.national_id, "currency": pre.currency, "limit": _money(limit, step),
                "drawn": _money(drawn, step), "outstanding": _money(drawn * 1.03, step),
                "start_date": start.isoformat(), "maturity_date": (start + timedelta(days=300)).isoformat(),
                "crop": main, "region": pre.region, "season": str(season),
            })
    # the Book's columns even when no line was drawn (a header-only book.csv, not an unreadable empty file)
    book_cols = ["line_id", "application_id", "national_id", "currency", "limit", "drawn", "outstanding",
                 "start_date", "maturity_date", "crop", "region", "season"]
    return pd.DataFrame(apps), pd.DataFrame(book, columns=book_cols)

