"""Planted area from pixel trajectories: exact coverage, partial planting, non-crop land, border correction."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from features.area import field_coverage, planted_area_from_stack

T = Affine(10, 0, 0, 0, -10, 1000)  # 10 m pixels, 100 × 100 grid from (0, 0) to (1000, 1000)


def _crop_curve(t: int) -> np.ndarray:
    d = np.arange(t)
    return (0.15 + 0.7 * np.exp(-0.5 * ((d - t / 2) / (t / 8)) ** 2)).astype(np.float32)


def _stack(t: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.full((t, 100, 100), 0.18, dtype=np.float32)  # bare soil everywhere
    base += rng.normal(0, 0.01, base.shape).astype(np.float32)
    return base


def test_coverage_is_exact_for_offset_box() -> None:
    g = box(105, 105, 255, 305)  # 15 × 20 pixels but offset by half a pixel
    _, _, c = field_coverage(g, T, (100, 100), supersample=10)
    assert c.sum() * 100 / 10_000 == pytest.approx(g.area / 10_000, rel=1e-6)
    assert 0 < c.min() < 1 or (c == 0).any()


def test_fully_and_half_planted_fields() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:40, 10:40] = curve[:, None, None]  # field A fully planted (rows 10-39, cols 10-39)
    ndvi[:, 50:80, 50:65] = curve[:, None, None]  # field B: only its western half planted
    a = box(100, 600, 400, 900)
    b = box(500, 200, 800, 500)
    res = planted_area_from_stack(["A", "B"], [a, b], T, ndvi).set_index("field_id")
    assert res.loc["A", "planted_fraction"] == pytest.approx(1.0, abs=0.01)
    assert res.loc["A", "planted_area_ha"] == pytest.approx(9.0, rel=0.01)
    assert res.loc["B", "planted_fraction"] == pytest.approx(0.5, abs=0.04)
    assert res.loc["A", "planted_area_sd_ha"] < 0.05  # pixel-aligned and clear-cut: little uncertainty


def test_water_and_trees_are_noncrop() -> None:
    ndvi = _stack()
    t = ndvi.shape[0]
    ndvi[:, 10:40, 10:40] = _crop_curve(t)[:, None, None]
    ndvi[:, 10:20, 10:40] = 0.75  # a tree line: green all season
    ndwi = np.full_like(ndvi, -0.3)
    ndvi[:, 30:40, 10:40] = -0.1
    ndwi[:, 30:40, 10:40] = 0.4  # a pond
    res = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, ndvi, ndwi).iloc[0]
    assert res["planted_fraction"] == pytest.approx(1 / 3, abs=0.03)
    assert res["noncrop_fraction"] == pytest.approx(2 / 3, abs=0.03)


def test_border_pixels_count_by_coverage() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:41, 10:41] = curve[:, None, None]
    g = box(105, 595, 405, 895)  # edges cut pixels in half
    res = planted_area_from_stack(["A"], [g], T, ndvi).iloc[0]
    assert res["planted_area_ha"] == pytest.approx(g.area / 10_000, rel=0.01)
    assert res["planted_area_sd_ha"] > 0  # border pixels carry edge uncertainty


def test_clouds_are_ignored() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:40, 10:40] = curve[:, None, None]
    ndvi[::3] = np.nan  # a third of the dates fully cloudy
    res = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, ndvi).iloc[0]
    assert res["planted_fraction"] == pytest.approx(1.0, abs=0.01)
    assert res["min_clear_obs"] == 20


def test_field_off_grid() -> None:
    res = planted_area_from_stack(["X"], [box(5000, 5000, 5100, 5100)], T, _stack()).iloc[0]
    assert res["n_pixels_touched"] == 0
    assert np.isnan(res["planted_area_ha"])


# --- session 2: quantiles, previous crop, unmixing, calibration -------------------------------------------------


def test_nan_quantile_matches_numpy() -> None:
    import warnings

    from features.area import _nan_quantile

    rng = np.random.default_rng(3)
    a = rng.normal(size=(25, 12, 12)).astype(np.float32)
    a[rng.random(a.shape) < 0.4] = np.nan
    a[:, 0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns on the all-NaN pixel
        for q in (0.1, 0.5):
            ref = np.nanpercentile(a, 100 * q, axis=0)
            got = _nan_quantile(a, q)
            assert np.isnan(got[0, 0])
            np.testing.assert_allclose(got[1:, 1:], ref[1:, 1:], atol=1e-6)


def test_single_clear_green_observation_is_enough() -> None:
    """A cloudy monsoon may show a short crop green once: the seasonal maximum still finds it."""
    ndvi = _stack(t=30)
    ndvi[:, 10:40, 10:40] = 0.18
    ndvi[14, 10:40, 10:40] = 0.75  # the only clear green date
    ndvi[10:14, 10:40, 10:40] = np.nan
    ndvi[15:19, 10:40, 10:40] = np.nan
    res = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, ndvi).iloc[0]
    assert res["planted_fraction"] == pytest.approx(1.0, abs=0.01)


def test_previous_crop_at_window_start_is_ignored() -> None:
    from features.area import pixel_trajectories

    t = 30
    ndvi = _stack(t=t)
    ndvi[:6, 10:40, 10:40] = np.linspace(0.8, 0.5, 6)[:, None, None]  # last season's crop senescing
    lead = np.arange(t) < 9
    g = [box(100, 600, 400, 900)]
    with_lead = planted_area_from_stack(["A"], g, T, ndvi).iloc[0]
    assert with_lead["planted_fraction"] > 0.9  # without the dates, the old crop counts
    traj = pixel_trajectories(ndvi, None, lead)
    assert float(np.nanmax(traj.ndvi_max[10:40, 10:40])) < 0.3
    # a crop of this season that is green at the first clear date but after the lead-in is kept
    ndvi2 = _stack(t=t)
    ndvi2[:12] = np.nan
    ndvi2[12:20, 10:40, 10:40] = 0.8
    traj2 = pixel_trajectories(ndvi2, None, lead)
    assert float(np.nanmin(traj2.ndvi_max[10:40, 10:40])) > 0.75


def test_unmixing_counts_a_half_planted_pixel_by_its_share() -> None:
    ndvi = _stack()
    curve = _crop_curve(ndvi.shape[0])
    ndvi[:, 10:40, 10:25] = curve[:, None, None]  # planted columns 10-24 of a field spanning 10-39
    mixed = 0.18 + 0.5 * (curve - 0.18)
    ndvi[:, 10:40, 25] = mixed[:, None]  # column 25 half planted
    g = [box(100, 600, 400, 900)]
    res = planted_area_from_stack(["A"], g, T, ndvi).iloc[0]
    assert res["planted_area_ha"] == pytest.approx(15.5 * 30 * 0.01, rel=0.01)
    from features.area import AreaParams

    thresholded = planted_area_from_stack(["A"], g, T, ndvi, params=AreaParams(unmix=False)).iloc[0]
    assert abs(thresholded["planted_area_ha"] - 4.65) > abs(res["planted_area_ha"] - 4.65)


def test_params_json_roundtrip_and_unknown_key() -> None:
    from features._area_calib import params_from_json, params_to_json
    from features.area import AreaParams
    from features.errors import UserInputError

    p = AreaParams(crop_min_ndvi=0.5, amp_lo=0.22)
    assert params_from_json(params_to_json(p)) == p
    with pytest.raises(UserInputError, match="unknown keys"):
        params_from_json('{"crop_min": 0.4}')


def test_otsu_finds_the_valley() -> None:
    from features._area_calib import otsu

    rng = np.random.default_rng(1)
    v = np.concatenate([rng.normal(0.05, 0.02, 3000), rng.normal(0.6, 0.05, 2000)])
    t, sep = otsu(v)
    assert 0.15 < t < 0.45
    assert sep > 0.8
    assert otsu(np.ones(10))[1] == 0.0


def test_fit_area_params_from_bimodal_pixels() -> None:
    import pandas as pd

    from features._area_calib import fit_area_params
    from features.area import AreaParams
    from features.errors import UserInputError

    rng = np.random.default_rng(2)
    n_bare, n_crop = 3000, 2000
    mn = np.concatenate([rng.normal(0.17, 0.01, n_bare), rng.normal(0.17, 0.01, n_crop)])
    mx = np.concatenate([rng.normal(0.22, 0.02, n_bare), rng.normal(0.85, 0.04, n_crop)])
    p = fit_area_params(pd.DataFrame({"ndvi_max": mx, "ndvi_min": mn}))
    assert p != AreaParams()
    assert 0.3 <= p.crop_min_ndvi <= 0.65
    assert p.amp_lo < p.amp_hi
    assert 0.12 <= (p.amp_lo + p.amp_hi) / 2 <= 0.45
    # one mode only (everything bare): the defaults are kept
    flat = fit_area_params(pd.DataFrame({"ndvi_max": mx[:n_bare], "ndvi_min": mn[:n_bare]}))
    assert (flat.crop_min_ndvi, flat.amp_lo) == (AreaParams().crop_min_ndvi, AreaParams().amp_lo)
    with pytest.raises(UserInputError, match="at least 200"):
        fit_area_params(pd.DataFrame({"ndvi_max": mx[:50], "ndvi_min": mn[:50]}))


def test_batch_coverages_equal_one_by_one() -> None:
    from features.area import coverages

    rng = np.random.default_rng(5)
    geoms = [box(x, y, x + rng.uniform(20, 90), y + rng.uniform(20, 90))
             for x, y in zip(rng.uniform(0, 900, 30), rng.uniform(0, 900, 30), strict=True)]
    geoms.append(box(2000, 2000, 2100, 2100))  # off the grid
    got = coverages(geoms, T, (100, 100))
    for g, (rs, cs, c) in zip(geoms, got, strict=True):
        rs2, cs2, c2 = field_coverage(g, T, (100, 100))
        assert (rs, cs) == (rs2, cs2)
        np.testing.assert_array_equal(c, c2)
    assert sum(float(c.sum()) for _, _, c in got) > 10


def test_lead_in_keeps_pixels_that_are_never_bare() -> None:
    """Trees green all season are non-crop, also when the window's lead-in rule is on (they are never bare)."""
    from features.area import pixel_trajectories, planted_area_from_trajectories

    ndvi = _stack()
    t = ndvi.shape[0]
    ndvi[:, 10:40, 10:40] = _crop_curve(t)[:, None, None]
    ndvi[:, 10:20, 10:40] = 0.75  # a tree line
    traj = pixel_trajectories(ndvi, None, np.arange(t) < 9)
    assert int(traj.n_clear[15, 15]) == t
    res = planted_area_from_trajectories(["A"], [box(100, 600, 400, 900)], T, traj).iloc[0]
    assert res["planted_fraction"] == pytest.approx(2 / 3, abs=0.03)
    assert res["noncrop_fraction"] == pytest.approx(1 / 3, abs=0.03)


def test_crop_emerging_in_the_lead_in_is_kept() -> None:
    """Winter wheat sown at the window's start is green at its first clear date but rising: this season's crop."""
    from features.area import pixel_trajectories

    t = 30
    ndvi = _stack(t=t)
    ndvi[:3] = np.nan  # cloudy at sowing
    ndvi[3:8, 10:40, 10:40] = np.linspace(0.35, 0.6, 5)[:, None, None]  # emerging in autumn
    ndvi[8:14, 10:40, 10:40] = 0.25  # winter browning: bare-like
    ndvi[14:22, 10:40, 10:40] = 0.85  # spring peak
    traj = pixel_trajectories(ndvi, None, np.arange(t) < 9)
    assert int(traj.n_clear[20, 20]) == t - 3
    assert float(traj.ndvi_max[20, 20]) == pytest.approx(0.85, abs=1e-6)
    # the same run declining from its first date (last season's crop senescing) is dropped
    ndvi[3:8, 10:40, 10:40] = np.linspace(0.8, 0.5, 5)[:, None, None]
    ndvi[14:22, 10:40, 10:40] = 0.18
    traj2 = pixel_trajectories(ndvi, None, np.arange(t) < 9)
    assert int(traj2.n_clear[20, 20]) == t - 8
    assert float(traj2.ndvi_max[20, 20]) < 0.3


def test_a_field_seen_clear_twice_is_not_measured_to_the_hectare() -> None:
    """A field seen clear once or twice (monsoon) was reported as 0 ± 0 ha when its few clear dates caught bare soil
    — certainty from no evidence. Pixels seen fewer than min_clear times count as unknown in the spread, together
    (they share their dates): the area stays the rule's, its s.d. is half the sparse area."""
    ndvi = _stack(t=30)
    ndvi[:, 10:40, 10:40] = np.nan
    ndvi[[3, 20], 10:40, 10:40] = 0.18  # two clear dates, both bare
    res = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, ndvi).iloc[0]
    assert res["planted_area_ha"] == pytest.approx(0.0, abs=0.01) and res["min_clear_obs"] == 2
    assert res["planted_area_sd_ha"] == pytest.approx(0.5 * 9.0, rel=0.01)
    well = planted_area_from_stack(["A"], [box(100, 600, 400, 900)], T, _stack()).iloc[0]
    assert well["planted_area_ha"] == pytest.approx(0.0, abs=0.01) and well["planted_area_sd_ha"] < 0.05


def test_coverages_memo_serves_equal_arrays_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A repeated call is answered from the memo, equal to field_coverage; a caller writing into its arrays changes
    no later answer; a geometry moved by a nanometre is rasterised again."""
    import features.area as area
    from features.area import coverages

    rng = np.random.default_rng(11)
    geoms = [box(x, y, x + rng.uniform(20, 90), y + rng.uniform(20, 90))
             for x, y in zip(rng.uniform(0, 900, 12), rng.uniform(0, 900, 12), strict=True)]
    area._COVERAGE_MEMO.clear()
    first = coverages(geoms, T, (100, 100))
    for _, _, c in first:
        c[...] = 7.0  # a caller mutating what it got

    def no_raster(*a: object, **k: object) -> object:
        raise AssertionError("rasterised again")

    monkeypatch.setattr(area, "_coverages", no_raster)
    again = coverages(geoms, T, (100, 100))
    for g, (rs, cs, c) in zip(geoms, again, strict=True):
        rs2, cs2, c2 = field_coverage(g, T, (100, 100))
        assert (rs, cs) == (rs2, cs2)
        np.testing.assert_array_equal(c, c2)
        assert c.flags.writeable
    assert again[0][2] is not coverages(geoms, T, (100, 100))[0][2]
    with pytest.raises(AssertionError, match="rasterised again"):
        coverages([geoms[0].buffer(1e-9, join_style="mitre"), *geoms[1:]], T, (100, 100))
    with pytest.raises(AssertionError, match="rasterised again"):
        coverages(geoms, T, (100, 100), supersample=4)
    with pytest.raises(AssertionError, match="rasterised again"):
        coverages(geoms, T @ Affine.translation(1, 0), (100, 100))


def test_memo_is_bounded_by_items_and_bytes() -> None:
    from features._memo import Memo

    m = Memo(max_items=3, max_bytes=100)
    for k in "abc":
        m.put(k, k.upper(), 30)
    assert m.get("a") == "A"  # a is now the most recently used: b goes first
    m.put("d", "D", 30)
    assert (m.get("b"), m.get("a"), m.get("c"), m.get("d")) == (None, "A", "C", "D")
    m.put("e", "E", 101)  # larger than the whole budget: not kept, nothing dropped for it
    assert m.get("e") is None and len(m) == 3
    m.put("f", "F", 60)  # 30 × 3 + 60 > 100: the least recently used two go
    assert (m.get("a"), m.get("c"), m.get("d"), m.get("f")) == (None, None, "D", "F")


def test_a_crop_still_standing_in_the_autumn_is_not_taken_for_trees() -> None:
    """An application decided in the autumn for the next season sees last season's crop standing green since the
    window opened (Nebraska's soybean and sorghum in late September): its 10th-percentile NDVI passed the trees test,
    so a third of the us-nebraska demo fields were PARCEL_NOT_CROPLAND as of 1 October. Until the region's crops
    are harvested by the calendar, a green pixel is not yet told from that crop; a clear observation after it is."""
    from features.area import pixel_trajectories, planted_area_from_trajectories

    t = 8
    ndvi = _stack(t=t)
    ndvi[:, 10:40, 10:40] = np.linspace(0.78, 0.70, t)[:, None, None]  # green at every clear date so far
    g = [box(100, 600, 400, 900)]
    standing = np.ones(t, dtype=bool)  # every date before the calendar's latest harvest
    before = planted_area_from_trajectories(["A"], g, T, pixel_trajectories(ndvi, None, np.arange(t) < 5)).iloc[0]
    assert before["noncrop_fraction"] == pytest.approx(1.0, abs=0.01)  # the rule as it was: trees
    traj = pixel_trajectories(ndvi, None, np.arange(t) < 5, standing=standing)
    assert int(traj.n_settled[20, 20]) == 0 and int(traj.n_clear[20, 20]) == t
    res = planted_area_from_trajectories(["A"], g, T, traj).iloc[0]
    assert res["noncrop_fraction"] == pytest.approx(0.0, abs=1e-9)
    assert res["planted_area_ha"] == pytest.approx(0.0, abs=0.01)  # nothing of next season planted yet
    # still green on a clear date after the harvests: permanent vegetation
    standing[-2:] = False
    traj2 = pixel_trajectories(ndvi, None, np.arange(t) < 5, standing=standing)
    assert int(traj2.n_settled[20, 20]) == 2
    res2 = planted_area_from_trajectories(["A"], g, T, traj2).iloc[0]
    assert res2["noncrop_fraction"] == pytest.approx(1.0, abs=0.01)
    # a cloudy date after the harvests is no evidence
    ndvi[-2:, 10:40, 10:40] = np.nan
    traj3 = pixel_trajectories(ndvi, None, np.arange(t) < 5, standing=standing)
    assert planted_area_from_trajectories(["A"], g, T, traj3).iloc[0]["noncrop_fraction"] == pytest.approx(0.0)


def test_the_calendar_says_when_last_seasons_crops_are_harvested() -> None:
    from features.area_scenes import crops_standing_until
    from features.series import season_window

    # Nebraska: maize and sorghum harvested ~17 Oct ± 15 days (doy 290) → 16 November of the season before,
    # 62 days into the 2018 window (opened 15 September 2017)
    assert str(crops_standing_until("2018", "us-nebraska")) == "2017-11-16"
    # the smallholder window opens in May, after the last cotton pickings of the season before: no effect
    assert crops_standing_until("2018", "in-smallholder") < season_window("2018", "in-smallholder")[0]
    assert crops_standing_until("2018", "nowhere") is None


def test_a_tree_line_outside_a_field_seen_clear_twice_is_not_its_noncrop_land() -> None:
    """In a cloudy monsoon a small field may be seen clear only twice before its crop is up: no pixel of it has the
    three clear observations the border correction takes a class from, so its border pixels kept their own class —
    and a border pixel half over the tree line beside the field is green at its minimum (the trees rule). The
    smallholder demo's F0084 (rice, 0.13 ha) and F0085 (cotton), bare cropland, were PARCEL_NOT_CROPLAND (non-crop
    0.17 and 0.12) as of 2009-06-15 … 08-20. Border pixels take the non-crop class of the field's fully covered
    pixels when none is settled; a field seen clear three times is measured as before."""
    from features.area import pixel_trajectories, planted_area_from_trajectories

    t = 2
    ndvi = _stack(t=t)
    ndvi[:, :, :10] = 0.75  # trees west of column 10
    g = [box(95, 600, 140, 640)]  # 4.5 × 4 pixels: its western column is half over the trees
    traj = pixel_trajectories(ndvi)
    assert int(traj.n_clear[37, 10]) == 2
    res = planted_area_from_trajectories(["A"], g, T, traj).iloc[0]
    assert res["noncrop_fraction"] == pytest.approx(0.0, abs=1e-9)
    assert res["planted_area_ha"] == pytest.approx(0.0, abs=0.01)
    # seen clear three times: the border correction as before (fully covered pixels are bare: no non-crop)
    traj3 = pixel_trajectories(_stack(t=3) * 0 + np.where(np.arange(100) < 10, 0.75, 0.18).astype(np.float32))
    assert planted_area_from_trajectories(["A"], g, T, traj3).iloc[0]["noncrop_fraction"] == pytest.approx(0.0)
    # a field with no fully covered pixel keeps its pixels' own class
    thin = [box(95, 600, 108, 640)]
    assert planted_area_from_trajectories(["A"], thin, T, traj).iloc[0]["noncrop_fraction"] > 0.2
