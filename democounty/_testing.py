"""A small fake county truth for testing and benchmarking the scene renderer on its own.

``make_fake_county`` writes ``county.json``, ``truth/`` (fields.parquet, canopy.parquet,
planted.gpkg, landcover.gpkg) and ``records/fields.gpkg`` in the county folder layout: a grid
of rectangular fields separated by roads, with a pond and a wood lot, and canopy trajectories
of a few simple shapes (no AquaCrop). Field edges deliberately fall inside pixels (5 m offsets)
so border pixels mix neighbours.

Trajectory kinds (``kinds``, cycled over the fields, the same every season):
``summer`` (sown May, peak July, harvested October), ``early`` (sown late May, shorter),
``winter`` (sown late September of the year before, overwinters, harvested July),
``paddy`` (flooded for six weeks around transplanting, then a summer curve),
``full`` (green cover 0.95 all window long), ``bare`` (nothing planted: no planted polygon).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["make_fake_county", "canopy_curve", "KINDS"]

KINDS = ("summer", "early", "winter", "paddy", "full", "bare")
_ORIGIN = {"us-nebraska": (268000.0, 4480000.0, "EPSG:32614"), "in-smallholder": (230000.0, 1930000.0, "EPSG:32644")}
_WINDOW = {"us-nebraska": ((9, 15), -1, (11, 30), 0), "in-smallholder": ((5, 15), 0, (2, 28), 1)}


def canopy_curve(days: np.ndarray, sow: int, peak: int, senesce: int, harvest: int,
                 ccx: float) -> tuple[np.ndarray, np.ndarray]:
    """Green and senescent cover on ``days`` (day numbers) of a crop sown, peaking, senescing, harvested."""
    t = days.astype(np.float64)
    grow = 1.0 / (1.0 + np.exp(-(t - (sow + peak) / 2.0) / max((peak - sow) / 8.0, 1.0)))
    fade = 1.0 / (1.0 + np.exp(-(t - (senesce + harvest) / 2.0) / max((harvest - senesce) / 8.0, 1.0)))
    live = (t >= sow) & (t < harvest)
    green = np.where(live, ccx * grow * (1.0 - fade), 0.0)
    sen = np.where(live, ccx * grow * fade, 0.0)
    return green, sen


def _curve(kind: str, season: int, days: np.ndarray, ccx: float, region: str) -> tuple[np.ndarray, ...]:
    def d(y: int, m: int, dd: int) -> int:
        return date(y, m, dd).toordinal()
    shift = 0 if region == "us-nebraska" else 45
    flood = np.zeros(len(days), dtype=bool)
    if kind == "full":
        return np.full(len(days), 0.95), np.zeros(len(days)), flood
    if kind == "summer":
        g, s = canopy_curve(days, d(season, 5, 1) + shift, d(season, 7, 10) + shift, d(season, 8, 25) + shift,
                            d(season, 10, 10) + shift, ccx)
    elif kind == "early":
        g, s = canopy_curve(days, d(season, 5, 25) + shift, d(season, 7, 20) + shift, d(season, 8, 20) + shift,
                            d(season, 9, 25) + shift, ccx)
    elif kind == "winter":
        g, s = canopy_curve(days, d(season - 1, 9, 25), d(season, 5, 1), d(season, 6, 1), d(season, 7, 10), ccx)
    elif kind == "paddy":
        tp = d(season, 7, 10)
        g, s = canopy_curve(days, tp, tp + 60, tp + 95, tp + 125, ccx)
        flood = (days >= tp - 14) & (days <= tp + 35)
    else:
        return np.zeros(len(days)), np.zeros(len(days)), flood
    return g, s, flood


def make_fake_county(out: Path, *, region: str = "us-nebraska", seed: int = 0, n_rows: int = 3, n_cols: int = 3,
                     field_m: float = 300.0, road_m: float = 15.0, seasons: tuple[str, ...] = ("2018",),
                     kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Write a fake county truth at ``out`` and return its county.json content."""
    import geopandas as gpd
    from shapely.geometry import box

    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    (out / "records").mkdir(parents=True, exist_ok=True)
    x0, y0, crs = _ORIGIN[region]
    rng = np.random.default_rng(seed)
    step = field_m + road_m
    width = int(np.ceil((n_cols * step + road_m + 100.0) / 10.0)) * 10
    height = int(np.ceil((n_rows * step + road_m + 100.0) / 10.0)) * 10
    bounds = [x0, y0, x0 + width, y0 + height]
    ox, oy = x0 + 50.0 + road_m, y0 + 50.0 + road_m      # with road_m = 15 every field edge halves a pixel
    cells: list[Any] = []
    ids: list[str] = []
    for r in range(n_rows):
        for c in range(n_cols):
            ids.append(f"F{len(ids) + 1:03d}")
            cells.append(box(ox + c * step, oy + r * step, ox + c * step + field_m, oy + r * step + field_m))
    kind_of = {fid: kinds[i % len(kinds)] for i, fid in enumerate(ids)}
    soil = rng.uniform(0.8, 1.2, len(ids))
    chl = rng.uniform(30.0, 60.0, len(ids))
    win = _WINDOW[region]
    rows, canopy, planted, declared = [], [], [], []
    for s in seasons:
        y = int(s)
        start = date(y + win[1], *win[0])
        end = date(y + win[3], *win[2])
        days = np.arange(start.toordinal(), end.toordinal() + 1)
        dates = pd.to_datetime([date.fromordinal(int(v)) for v in days])
        for i, (fid, geom) in enumerate(zip(ids, cells)):
            kind = kind_of[fid]
            ccx = float(rng.uniform(0.85, 0.95))
            g, se, fl = _curve(kind, y, days, ccx, region)
            rows.append({"field_id": fid, "season": s, "true_crop": "fallow" if kind == "bare" else kind,
                         "planted": kind != "bare", "soil_brightness": float(soil[i]), "chlorophyll": float(chl[i])})
            declared.append({"field_id": fid, "season": s, "geometry": geom})
            if kind != "bare":
                planted.append({"field_id": fid, "season": s, "geometry": geom})
                canopy.append(pd.DataFrame({"field_id": fid, "season": s, "date": dates, "green_cover": g,
                                            "senescent_cover": se, "flooded": fl}))
    pd.DataFrame(rows).to_parquet(out / "truth" / "fields.parquet", index=False)
    pd.concat(canopy, ignore_index=True).to_parquet(out / "truth" / "canopy.parquet", index=False)
    gpd.GeoDataFrame(planted, geometry="geometry", crs=crs).to_file(out / "truth" / "planted.gpkg")
    gpd.GeoDataFrame(declared, geometry="geometry", crs=crs).to_file(out / "records" / "fields.gpkg")
    land = [{"class": "road", "geometry": box(x0, oy - road_m + r * step, x0 + width, oy + r * step)}
            for r in range(n_rows + 1)]
    land += [{"class": "road", "geometry": box(ox - road_m + c * step, y0, ox + c * step, y0 + height)}
             for c in range(n_cols + 1)]
    land.append({"class": "water", "geometry": box(x0, y0, x0 + 40.0, y0 + 40.0)})
    land.append({"class": "trees", "geometry": box(x0 + width - 45.0, y0 + height - 45.0, x0 + width, y0 + height)})
    gpd.GeoDataFrame(land, geometry="geometry", crs=crs).to_file(out / "truth" / "landcover.gpkg")
    meta = {"synthetic": True, "region": region, "seed": seed, "size": "tiny", "crs": crs, "bounds": bounds,
            "pixel_size": 10, "seasons": list(seasons), "current_season": seasons[-1],
            "currency": "USD" if region == "us-nebraska" else "INR", "crops": sorted(set(kinds) - {"bare"}),
            "generator_version": "fake-for-tests"}
    (out / "county.json").write_text(json.dumps(meta, indent=1))
    return meta

