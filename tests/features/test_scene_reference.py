"""The scene reference (features/_scene_reference.py) and smoothing with it (features/timeseries.py step 7).

The reference is a lattice of cells fixed by the scene file alone: a field's smoothed curve then depends on its
own observations and the reference only, never on which other fields are smoothed with it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features._scene_reference import REF_PREFIX, build_reference, is_reference, reference_cells, reference_default
from features.contracts import check_field_time_series
from features.errors import UserInputError
from features.series import build_series, scene_reference
from features.sources.local import read_index
from features.timeseries import smooth_series
from tests.conftest import read_county_fields

SEASON = "2009"
AS_OF = dt.date(2009, 9, 30)


# ---------------------------------------------------------------------- the lattice
def test_cells_sit_on_an_absolute_lattice_and_fill_the_footprint() -> None:
    cells = reference_cells((1003.0, 2007.0, 3001.0, 4004.0), "EPSG:32644", cell_m=100.0, target=100)
    assert 50 <= len(cells) <= 100
    b = cells.geometry.bounds
    assert (b["minx"] >= 1003.0).all() and (b["maxx"] <= 3001.0).all()
    assert (b["miny"] >= 2007.0).all() and (b["maxy"] <= 4004.0).all()
    cx, cy = (b["minx"] + b["maxx"]) / 2, (b["miny"] + b["maxy"]) / 2
    spacing = np.diff(np.unique(cx))
    assert len(set(spacing)) == 1 and spacing[0] % 100 == 0
    assert (cx % spacing[0] == 0).all() and (cy % spacing[0] == 0).all()
    assert ((b["maxx"] - b["minx"]) == 100.0).all()
    assert cells["field_id"].str.startswith(f"{REF_PREFIX}32644-").all() and cells["field_id"].is_unique
    # a larger target never gives a coarser lattice; the smallest spacing within the target is taken
    finer = reference_cells((1003.0, 2007.0, 3001.0, 4004.0), "EPSG:32644", cell_m=100.0, target=400)
    assert len(finer) > len(cells)
    assert len(reference_cells((1003.0, 2007.0, 3001.0, 4004.0), "EPSG:32644", cell_m=100.0, target=10**6)) == 19 * 19


def test_two_footprints_of_one_crs_share_their_common_cells() -> None:
    a = reference_cells((0.0, 0.0, 1000.0, 1000.0), "EPSG:32614", cell_m=100.0, target=100)
    b = reference_cells((500.0, 500.0, 1500.0, 1500.0), "EPSG:32614", cell_m=100.0, target=100)
    common = set(a["field_id"]) & set(b["field_id"])
    assert len(common) >= 9
    ga = a.set_index("field_id").geometry
    gb = b.set_index("field_id").geometry
    assert all(ga[c].equals(gb[c]) for c in common)
    assert reference_cells((0.0, 0.0, 50.0, 50.0), "EPSG:32614", cell_m=100.0).empty


def test_reference_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "1")
    assert reference_default() is True
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "0")
    assert reference_default() is False
    # a value it does not know changes the features' meaning without a word: refused (was: off, silently)
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "enabled")
    with pytest.raises(UserInputError, match=r"AGCREDIT_SCENE_REFERENCE='enabled': expected 1 \(on\) or 0"):
        reference_default()


# ---------------------------------------------------------------------- from scenes
@pytest.fixture(scope="module")
def county(tiny_county_sh: Path) -> Path:
    """The session's tiny smallholder county (read-only here)."""
    return tiny_county_sh


@pytest.fixture(scope="module")
def fields(county: Path) -> Any:
    return read_county_fields(county, SEASON)


def test_reference_from_scenes_is_cached_and_independent_of_the_fields(county: Path, fields: Any,
                                                                       tmp_path: Path) -> None:
    scenes = read_index(county / "scenes")[:6]
    ref, read, cached = build_reference(scenes, SEASON, cache_dir=tmp_path)
    check_field_time_series(ref, where="reference")
    assert read == 6 and cached == 0 and is_reference(ref["field_id"]).all()
    assert ref["field_id"].nunique() >= 10 and set(ref["variable"]) == {"NDVI"}
    assert len(list((tmp_path / "reference").glob("*.parquet"))) == 6
    again, read2, cached2 = build_reference(scenes, SEASON, cache_dir=tmp_path)
    assert (read2, cached2) == (0, 6)
    pd.testing.assert_frame_equal(again, ref, check_exact=True)
    # build_series returns the same reference whatever the fields, and never mixes cells into the fields' rows
    half = fields.iloc[: len(fields) // 2]
    a = build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=("NDVI",), reference=True)
    b = build_series(half, county / "scenes", SEASON, as_of=AS_OF, variables=("NDVI",), reference=True)
    assert a.reference is not None and b.reference is not None
    pd.testing.assert_frame_equal(a.reference, b.reference, check_exact=True)
    assert not is_reference(a.series["field_id"]).any()
    assert build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=("NDVI",),
                        reference=False).reference is None
    c = scene_reference(half, county / "scenes", SEASON, as_of=AS_OF)
    assert c is not None
    pd.testing.assert_frame_equal(c, a.reference, check_exact=True)


def test_field_statistics_cache_keys_do_not_change_with_the_reference(county: Path, fields: Any,
                                                                      tmp_path: Path) -> None:
    off = build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=("NDVI",), cache_dir=tmp_path / "a",
                       reference=False)
    on = build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=("NDVI",), cache_dir=tmp_path / "b",
                      reference=True)
    names = {p.name for p in (tmp_path / "a" / "scenes").glob("*.parquet")}
    assert names and names == {p.name for p in (tmp_path / "b" / "scenes").glob("*.parquet")}
    assert not (tmp_path / "a" / "reference").exists() and any((tmp_path / "b" / "reference").iterdir())
    pd.testing.assert_frame_equal(off.series, on.series, check_exact=True)


def test_a_fields_curve_does_not_depend_on_the_other_fields(county: Path, fields: Any) -> None:
    res = build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=("NDVI",), reference=True)
    ids = sorted(res.series["field_id"].unique())
    some = res.series[res.series["field_id"].isin(ids[::3])]
    for grid, start in ((1, None), (5, dt.date(2009, 5, 15))):
        # the tiny county's footprint holds ~15 cells: judge dates on 5
        kw: dict[str, Any] = {"reference": res.reference, "ref_min_cells": 5}
        whole = smooth_series(res.series, as_of=AS_OF, grid_days=grid, start=start, **kw)
        part = smooth_series(some, as_of=AS_OF, grid_days=grid, start=start, **kw)
        off = smooth_series(some, as_of=AS_OF, grid_days=grid, start=start)
        assert not np.array_equal(part["value"].to_numpy(), off["value"].to_numpy())  # the reference acts
        mine = whole[whole["field_id"].isin(ids[::3])].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, mine, check_exact=True)
        assert part.attrs["hazy_dates"] == whole.attrs["hazy_dates"]
    # ... which the call-wide scene offsets do not guarantee (what the reference is for)
    whole = smooth_series(res.series, as_of=AS_OF, grid_days=1, scene_offset=True)
    part = smooth_series(some, as_of=AS_OF, grid_days=1, scene_offset=True)
    mine = whole[whole["field_id"].isin(ids[::3])].reset_index(drop=True)
    assert not np.array_equal(part["value"].to_numpy(), mine["value"].to_numpy())


# ---------------------------------------------------------------------- smoothing with a reference (synthetic)
def _curves(ids: list[str], days: np.ndarray, shift: dict[int, float], seed: int, base: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = days[None, :].astype(float)
    up = rng.uniform(40, 60, (len(ids), 1))
    y = base + 0.6 / (1 + np.exp(-0.1 * (t - up))) + rng.normal(0, 0.01, (len(ids), len(days)))
    for d, v in shift.items():
        y[:, d] += v
    dates = pd.Timestamp("2009-05-01") + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"field_id": np.repeat(ids, len(days)), "season": SEASON,
                         "date": np.tile(dates.to_numpy(), len(ids)), "variable": "NDVI", "mean": y.ravel(),
                         "n_pixels": 100, "n_clear": 100})


def test_reference_offsets_and_haze_are_applied_to_the_fields() -> None:
    days = np.arange(0, 150, 5)
    # date 10: the whole scene lifted by 0.1 (not haze); date 20: a veil (-0.09: below the haze screen's 0.05,
    # above the spike screen's 0.12) the cloud mask missed; only 3 fields: too few to judge a date themselves
    shift = {10: 0.1, 20: -0.09}
    ref = _curves([f"{REF_PREFIX}{i:03d}" for i in range(40)], days, shift, 1, 0.1)
    fields = _curves([f"F{i}" for i in range(3)], days, shift, 2, 0.15)
    plain = smooth_series(fields, grid_days=1, scene_drop=None)
    assert smooth_series(fields, grid_days=1).attrs["hazy_dates"] == []
    with_ref = smooth_series(fields, grid_days=1, reference=ref)
    assert with_ref.attrs["hazy_dates"] == [str((pd.Timestamp("2009-05-01") + pd.Timedelta(days=100)).date())]
    truth = _curves([f"F{i}" for i in range(3)], days, {}, 2, 0.15)   # the same draws, without the shifts

    def err(sm: pd.DataFrame) -> float:
        m = truth.merge(sm, on=["field_id", "date"])
        e = np.abs(m["value"] - m["mean"]).to_numpy().reshape(3, -1)
        return float(e[:, [10, 20]].mean())

    assert err(with_ref) < 0.7 * err(plain)
    # a reference without the season (or the variable) smooths with neither haze screen nor offsets
    other = smooth_series(fields, grid_days=1, reference=ref.assign(season="2008"))
    assert other.attrs["hazy_dates"] == []
    pd.testing.assert_frame_equal(other, plain, check_exact=True)
