"""On the demo county's own scenes, the series equal rasterstats field by field (issue 5).

The whole production path runs (scene index → ``build_series``), and every field's NDVI
statistics on a few acquisitions are compared with ``rasterstats.zonal_stats`` on the
same file (``all_touched=False``, ``boundless=False``, SCL clouds and nodata as nodata),
overlapping fields included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterstats import zonal_stats as rs_zonal_stats

from features.fields import read_fields
from features.series import build_series
from features.sources.local import SCL_CLEAR, read_index

# rasterstats 0.21 multiplies Affine objects with `*` (affine 3.x warns); third-party, unavoidable
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

RS_STATS = ["count", "mean", "std", "percentile_10", "percentile_50", "percentile_90"]
NODATA_REF = -9999.0


@pytest.fixture(scope="module")
def county(tiny_county_sh: Path) -> Path:
    return tiny_county_sh


def _reference_ndvi(path: Path, bands: tuple[str, ...], scale: float, offset: float, nodata: float,
                    geoms: list) -> list[dict]:
    with rasterio.open(path) as src:
        red = src.read(bands.index("B04") + 1)
        nir = src.read(bands.index("B08") + 1)
        scl = src.read(bands.index("SCL") + 1)
        transform = src.transform
    r = red.astype(np.float64) * scale + offset
    n = nir.astype(np.float64) * scale + offset
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (n - r) / (n + r)
    bad = ~np.isin(scl, SCL_CLEAR) | (red == nodata) | (nir == nodata) | ~np.isfinite(ndvi)
    ndvi[bad] = NODATA_REF
    return rs_zonal_stats(geoms, ndvi, affine=transform, nodata=NODATA_REF, all_touched=False, boundless=False,
                          stats=RS_STATS)


def test_demo_county_series_equal_rasterstats(county: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = pd.read_json(county / "county.json", typ="series")
    season = str(meta["current_season"])
    fields = read_fields(county / "records" / "fields.gpkg", season=season).fields
    # a second claim on a neighbour's land: a copy of one field, shifted by 13 m, under another id
    dup = fields.iloc[[0]].copy()
    dup["field_id"] = "OVERLAP-CLAIM"
    dup["geometry"] = dup.geometry.translate(13.0, -7.0)
    fields = pd.concat([fields, dup], ignore_index=True)
    res = build_series(fields, county / "scenes", season, variables=["NDVI"])
    series = res.series
    assert len(series) > 0
    scenes = [s for s in read_index(county / "scenes" / "index.csv") if str(s.date.year) in (season, str(int(season) + 1))]
    used = {pd.Timestamp(d) for d in res.dates_used}
    # a few acquisitions with clear pixels, spread over the season
    candidates = [s for s in scenes if pd.Timestamp(s.date) in used]
    assert len(candidates) >= 3
    picks = [candidates[i] for i in np.linspace(0, len(candidates) - 1, 4).astype(int)]
    checked = 0
    for sc in picks:
        with rasterio.open(sc.path) as src:
            geoms = list(fields.to_crs(src.crs).geometry)
        ref = _reference_ndvi(sc.path, sc.bands, sc.scale, sc.offset, sc.nodata, geoms)
        day = series[(series["date"] == pd.Timestamp(sc.date))].set_index("field_id")
        for fid, r in zip(fields["field_id"].astype(str), ref, strict=True):
            row = day.loc[fid]
            assert int(row["n_clear"]) == r["count"], (sc.date, fid)
            if r["count"] == 0:
                assert np.isnan(row["mean"]) and np.isnan(row["p50"])
                continue
            assert row["mean"] == pytest.approx(r["mean"], rel=1e-9, abs=1e-12), (sc.date, fid)
            assert row["std"] == pytest.approx(r["std"], rel=1e-9, abs=1e-12), (sc.date, fid)
            assert row["p10"] == r["percentile_10"] and row["p50"] == r["percentile_50"]
            assert row["p90"] == r["percentile_90"]
            checked += 1
    assert checked >= 20
    assert (day.loc["OVERLAP-CLAIM", "n_pixels"] > 0) and fields.geometry.iloc[0].overlaps(fields.geometry.iloc[-1])
