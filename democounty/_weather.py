"""The demo county's weather: the region's bundled AquaCrop station file over the county's seasons.

Every new county gets ``weather/daily.csv`` (the :data:`features.weather.WEATHER` table: ``region, date,
precip_mm, tmin_c, tmax_c, et0_mm``), covering every day from the first season window's start to the last
season window's end. It is exactly the series that drove the simulated growth (no station-to-field mismatch,
which a real lender would have). :func:`write_county_weather` writes the same file for a county built before the
generator wrote it (read-only folders: the file goes elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from democounty._presets import PRESETS

__all__ = ["station_weather", "write_weather", "write_county_weather"]


def station_weather(region: str, seasons: Sequence[int | str]) -> pd.DataFrame:
    """The bundled station series of ``region`` from the first season's window start to the last one's end."""
    from aquacrop.utils import get_filepath, prepare_weather

    from democounty._truth import season_window

    ys = sorted(int(s) for s in seasons)
    start, end = season_window(region, ys[0])[0], season_window(region, ys[-1])[1]
    w = prepare_weather(get_filepath(PRESETS[region].weather_file))
    d = pd.to_datetime(w["Date"])
    w = w.loc[(d >= pd.Timestamp(start)) & (d <= pd.Timestamp(end))].reset_index(drop=True)
    return pd.DataFrame({"region": region, "date": pd.to_datetime(w["Date"]).dt.strftime("%Y-%m-%d"),
                         "precip_mm": w["Precipitation"].astype("float64").round(2),
                         "tmin_c": w["MinTemp"].astype("float64").round(2),
                         "tmax_c": w["MaxTemp"].astype("float64").round(2),
                         "et0_mm": w["ReferenceET"].astype("float64").round(2)})


def write_weather(region: str, seasons: Sequence[int | str], path: str | Path) -> Path:
    """Write :func:`station_weather` as CSV to ``path`` (deterministic bytes); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    station_weather(region, seasons).to_csv(p, index=False, float_format="%.2f", lineterminator="\n")
    return p


def write_county_weather(county: str | Path, path: str | Path) -> Path:
    """The weather file a county folder would carry (its region and seasons from ``county.json``), at ``path``."""
    meta = json.loads((Path(county) / "county.json").read_text())
    return write_weather(str(meta["region"]), [int(s) for s in meta["seasons"]], path)
