"""Evalscripts for the Sentinel Hub source and the Statistical API response parser.

No ``sentinelhub`` import here: these are strings and plain-JSON functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from features.contracts import VARIABLES
from features.errors import UserInputError
from features.sources._sh_plan import BANDS, INDEX_BANDS

__all__ = [
    "PROCESS_EVALSCRIPT", "STATS_COLUMNS", "empty_series", "parse_statistics", "stats_evalscript", "stats_input_bands",
]

_IN = ", ".join(f'"{b}"' for b in INDEX_BANDS)
_OUT = ", ".join(f"s.{b}" for b in INDEX_BANDS)
PROCESS_EVALSCRIPT = f"""//VERSION=3
function setup() {{
  return {{
    input: [{{bands: [{_IN}], units: "DN"}}],
    output: {{id: "default", bands: {len(INDEX_BANDS)}, sampleType: "UINT16"}}
  }};
}}
function evaluatePixel(s) {{
  return [{_OUT}];
}}
"""

# index formulas (reflectance); the same definitions as the local zonal engine
_INDEX_JS = {
    "NDVI": ("nd(s.B08, s.B04)", ("B04", "B08")),
    "EVI": ("2.5 * (s.B08 - s.B04) / (s.B08 + 6 * s.B04 - 7.5 * s.B02 + 1)", ("B02", "B04", "B08")),
    "NDRE": ("nd(s.B8A, s.B05)", ("B05", "B8A")),
    "NDWI": ("nd(s.B03, s.B08)", ("B03", "B08")),
    "NDMI": ("nd(s.B8A, s.B11)", ("B8A", "B11")),
}

STATS_COLUMNS = ["field_id", "season", "date", "variable", "mean", "std", "p10", "p50", "p90", "n_pixels", "n_clear"]


def _check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    vs = tuple(dict.fromkeys(str(v) for v in variables))
    bad = [v for v in vs if v not in VARIABLES]
    if not vs or bad:
        raise UserInputError(f"variables: expected some of {', '.join(VARIABLES)}, found {', '.join(bad) or 'none'}")
    return vs


def stats_input_bands(variables: Sequence[str]) -> tuple[str, ...]:
    """Input bands the Statistical evalscript reads for ``variables`` (plus SCL and dataMask)."""
    need: set[str] = set()
    for v in _check_variables(variables):
        need.update(_INDEX_JS[v][1] if v in _INDEX_JS else (v,))
    return (*[b for b in BANDS if b in need], "SCL", "dataMask")


def stats_evalscript(variables: Sequence[str]) -> str:
    """One FLOAT32 output per variable and a ``dataMask`` output = valid data and SCL clear (4, 5, 6, 7)."""
    vs = _check_variables(variables)
    bands = stats_input_bands(vs)
    outputs = ",\n      ".join(f'{{id: "{v}", bands: 1, sampleType: "FLOAT32"}}' for v in vs)
    values = ",\n    ".join(f"{v}: [{_INDEX_JS[v][0] if v in _INDEX_JS else 's.' + v}]" for v in vs)
    return f"""//VERSION=3
function setup() {{
  return {{
    input: [{{bands: [{", ".join(f'"{b}"' for b in bands)}]}}],
    output: [
      {outputs},
      {{id: "dataMask", bands: 1}}
    ]
  }};
}}
function nd(a, b) {{
  return (a + b) == 0 ? 0 : (a - b) / (a + b);
}}
function evaluatePixel(s) {{
  var clear = (s.dataMask == 1 && [4, 5, 6, 7].indexOf(s.SCL) >= 0) ? 1 : 0;
  return {{
    {values},
    dataMask: [clear]
  }};
}}
"""


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _percentile(pcts: dict[str, Any], q: float) -> float:
    for k, v in (pcts or {}).items():
        try:
            if abs(float(k) - q) < 1e-9:
                return _num(v)
        except ValueError:
            continue
    return math.nan


def parse_statistics(body: dict[str, Any], *, field_id: str, season: str,
                     variables: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Statistical API JSON → FieldTimeSeries rows for one field, and the days of the failed intervals.

    ``n_pixels`` = ``sampleCount``, ``n_clear`` = ``sampleCount − noDataCount``; an interval with
    no clear pixel keeps its row with NaN statistics and ``n_clear`` 0; intervals the service
    reports as failed (``error``) or answers with no ``outputs`` are left out and their days returned
    (the caller warns and does not cache the answer, so a re-run asks again).
    """
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for item in body.get("data", []) or []:
        day = str((item.get("interval") or {}).get("from", ""))[:10]
        outputs = item.get("outputs", {}) or {}
        if item.get("error") or not outputs:
            failed.append(day or "?")
            continue
        for v in variables:
            stats = (((outputs.get(v) or {}).get("bands") or {}).get("B0") or {}).get("stats") or {}
            if not stats:
                continue
            samples, nodata = _num(stats.get("sampleCount")), _num(stats.get("noDataCount"))
            n_pixels = int(samples) if math.isfinite(samples) else 0
            n_clear = max(n_pixels - (int(nodata) if math.isfinite(nodata) else n_pixels), 0)
            pct = stats.get("percentiles") or {}
            vals = [_num(stats.get("mean")), _num(stats.get("stDev")),
                    _percentile(pct, 10.0), _percentile(pct, 50.0), _percentile(pct, 90.0)]
            if n_clear == 0:
                vals = [math.nan] * 5
            rows.append(dict(zip(STATS_COLUMNS, [field_id, season, day, v, *vals, n_pixels, n_clear])))
    df = pd.DataFrame(rows, columns=STATS_COLUMNS)
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    for c in ("mean", "std", "p10", "p50", "p90"):
        df[c] = df[c].astype("float64")
    for c in ("n_pixels", "n_clear"):
        df[c] = df[c].astype("int64")
    for c in ("field_id", "season", "variable"):
        df[c] = df[c].astype("str")
    return df, failed


def empty_series() -> pd.DataFrame:
    """An empty FieldTimeSeries with the contract's dtypes."""
    df, _ = parse_statistics({}, field_id="", season="", variables=())
    return df

