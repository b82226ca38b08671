"""planted_area(): scene folder → windowed reads → per-pixel trajectories → planted area per field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box

import features.area_scenes as area_scenes
from features.area_scenes import AREA_COLUMNS, pixel_samples, planted_area
from features.errors import ImageryError

X0, Y0 = 230000.0, 1930000.0  # UTM 44N, the smallholder region
SEASON = "2009"
DATES = [dt.date(2009, 6, 1) + dt.timedelta(days=10 * i) for i in range(14)]  # in the in-smallholder window
END = dt.date(2010, 2, 28)


def _curve() -> np.ndarray:
    d = np.arange(len(DATES))
    return 0.18 + 0.65 * np.exp(-0.5 * ((d - 7) / 2.0) ** 2)


def _write(path: Path, crs: str, transform: Affine, ndvi: np.ndarray, cloud: np.ndarray | None = None) -> None:
    """A 4-band scene (B03, B04, B08, SCL; DN = reflectance / 1e-4) with the given NDVI."""
    red = np.full(ndvi.shape, 0.08)
    nir = red * (1 + ndvi) / (1 - ndvi)
    green = np.full(ndvi.shape, 0.07)
    scl = np.where(cloud, 9, 4) if cloud is not None else np.full(ndvi.shape, 4)
    data = np.stack([green / 1e-4, red / 1e-4, nir / 1e-4, scl]).round().astype("uint16")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=ndvi.shape[0], width=ndvi.shape[1], count=4,
                       dtype="uint16", crs=crs, transform=transform, nodata=0) as dst:
        dst.write(data)


def _index(folder: Path, rows: list[tuple[dt.date, str, str]]) -> None:
    lines = ["date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline"]
    lines += [f"{d.isoformat()},{t},{p},B03;B04;B08;SCL,0.0001,0,0,SCL," for d, t, p in rows]
    (folder / "index.csv").write_text("\n".join(lines) + "\n")


def _fields(geoms: list, ids: list[str] | None = None) -> gpd.GeoDataFrame:
    ids = ids or [f"F{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"field_id": ids, "season": SEASON, "farmer_token": "tok", "declared_crop": "maize",
                             "declared_area_ha": 1.0, "region": "in-smallholder"}, geometry=geoms, crs="EPSG:32644")


@pytest.fixture(scope="module")
def two_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiles A (x 0-600 m) and B (x 400-1000 m) of one UTM grid, same dates; everything east of x=200 cropped.

    On the 4th date tile B is cloudy over the overlap while A is clear there."""
    folder = tmp_path_factory.mktemp("two-tiles")
    rows = []
    curve = _curve()
    for k, d in enumerate(DATES):
        for tile, x_off in (("A", 0.0), ("B", 400.0)):
            xs = x_off + 10 * np.arange(60) + 5
            ndvi = np.where(xs[None, :] > 200, curve[k], 0.18) * np.ones((40, 1))
            cloud = (xs[None, :] < 600) & np.ones((40, 1), dtype=bool) if (tile == "B" and k == 3) else None
            rel = f"{d.year}/S2_{tile}_{d:%Y%m%d}.tif"
            _write(folder / rel, "EPSG:32644", Affine(10, 0, X0 + x_off, 0, -10, Y0 + 400), ndvi, cloud)
            rows.append((d, tile, rel))
    _index(folder, rows)
    return folder


def test_columns_overlap_counted_once_and_outside_listed(two_tiles: Path) -> None:
    geoms = [box(X0 + 305, Y0 + 105, X0 + 705, Y0 + 305),  # spans both tiles and their overlap
             box(X0 + 25, Y0 + 25, X0 + 175, Y0 + 175),    # bare land
             box(X0 + 5000, Y0, X0 + 5100, Y0 + 100),      # outside every scene
             box(X0 + 25, Y0 + 500.2, X0 + 225, Y0 + 500.6)]  # a sliver inside: no pixel to hold
    res = planted_area(_fields(geoms), two_tiles, SEASON, END).set_index("field_id")
    assert res.attrs["outside_fields"] == ["F2", "F3"] and res.attrs["no_clear_fields"] == []
    assert res.loc["F3", "n_pixels_touched"] == 0 and res.loc["F2", "n_pixels_touched"] == 0
    assert list(res.reset_index().columns) == list(AREA_COLUMNS)
    assert res.loc["F0", "planted_area_ha"] == pytest.approx(geoms[0].area / 1e4, rel=1e-3)
    assert res.loc["F0", "planted_fraction"] == pytest.approx(1.0, abs=1e-3)
    assert res.loc["F0", "min_clear_obs"] == len(DATES)  # one acquisition per date, not one per tile
    assert res.loc["F1", "planted_fraction"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(res.loc["F2", "planted_area_ha"])
    assert res.attrs["scenes_used"] == 2 * len(DATES)


def test_a_field_partly_outside_every_scene_is_not_measured(two_tiles: Path) -> None:
    """A field half outside the imagery: its covered half's pixels passed for the whole field (planted area halved,
    planted fraction 1, no warning); now it is not measured and reported with the share inside. A sliver outside
    (reprojection, < 1%) is ignored."""
    geoms = [box(X0 + 905, Y0 + 105, X0 + 1105, Y0 + 305),   # half beyond the eastern edge (x = 1000 m)
             box(X0 + 599, Y0 + 105, X0 + 999, Y0 + 305),    # inside
             box(X0 + 800, Y0 + 105, X0 + 1001, Y0 + 305)]   # 0.5% beyond the edge
    res = planted_area(_fields(geoms), two_tiles, SEASON, END).set_index("field_id")
    assert np.isnan(res.loc["F0", ["planted_area_ha", "planted_area_sd_ha", "planted_fraction"]]).all()
    assert res.attrs["partly_outside"] == {"F0": 0.475}
    assert res.attrs["outside_fields"] == []
    assert res.loc["F1", "planted_area_ha"] == pytest.approx(geoms[1].area / 1e4, rel=1e-2)
    assert res.loc["F2", "planted_fraction"] == pytest.approx(1.0, abs=1e-3)


def test_as_of_later_files_are_never_opened(two_tiles: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "scenes"
    shutil.copytree(two_tiles, folder)
    cut = DATES[3]
    for p in folder.rglob("*.tif"):
        if dt.datetime.strptime(p.stem.split("_")[-1], "%Y%m%d").date() > cut:
            p.write_bytes(b"not a tiff")
    f = _fields([box(X0 + 305, Y0 + 105, X0 + 705, Y0 + 305)])
    early = planted_area(f, folder, SEASON, cut).iloc[0]
    ref = planted_area(f, two_tiles, SEASON, cut).iloc[0]
    assert early["planted_area_ha"] == ref["planted_area_ha"]
    assert early["min_clear_obs"] == 4
    assert early["planted_fraction"] < 0.2  # the crop peaks after the as-of date: not yet visible
    with pytest.raises(ImageryError, match="corrupt|unreadable"):
        planted_area(f, folder, SEASON, END)


def test_cache_and_blocks_give_identical_results(two_tiles: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    geoms = [box(X0 + 10 * i + 3, Y0 + 10 * j + 3, X0 + 10 * i + 83, Y0 + 10 * j + 63)
             for i in range(0, 90, 20) for j in range(0, 30, 10)]
    f = _fields(geoms)
    first = planted_area(f, two_tiles, SEASON, END, cache_dir=tmp_path)
    calls = []
    real_joint = area_scenes._read_blocks

    def no_read(*a: object, **k: object) -> object:
        calls.append(1)
        raise AssertionError("cache miss")

    monkeypatch.setattr(area_scenes, "_read_blocks", no_read)
    again = planted_area(f, two_tiles, SEASON, END, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    assert not calls

    def counting(grid: object, wins: list) -> object:
        calls.extend(wins)
        return real_joint(grid, wins)  # type: ignore[arg-type]

    monkeypatch.setattr(area_scenes, "_read_blocks", counting)
    monkeypatch.setattr(area_scenes, "BLOCK", 24)
    blocked = planted_area(f, two_tiles, SEASON, END)
    assert len(calls) > 3  # several small blocks were read
    pd.testing.assert_frame_equal(first, blocked, check_exact=False, rtol=1e-9)
    assert first["planted_area_ha"].sum() > 1.0


def test_blocks_read_together_equal_each_read_alone(two_tiles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scene is read once for the windows of a field set (the union of their parts), and each window's stack is
    bit for bit the one it gets read alone — overlapping windows, windows across both tiles and their overlap, a
    window inside one tile only, the cloudy date where tile B loses the overlap to A."""
    import features._area_read as _area_read
    from features.sources.local import read_index

    grid = area_scenes._grids(read_index(two_tiles))[0]
    wins = [(0, 0, 40, 100), (5, 30, 20, 40), (10, 55, 25, 30), (0, 70, 40, 30), (3, 2, 7, 9)]
    opened: list[tuple[str, tuple[int, int, int, int]]] = []
    real = area_scenes._scene_window

    def spy(sc: object, win: tuple[int, int, int, int]) -> object:
        opened.append((str(sc.path), win))  # type: ignore[attr-defined]
        return real(sc, win)  # type: ignore[arg-type]

    monkeypatch.setattr(_area_read, "_scene_window", spy)  # looked up there by _read_blocks
    area_scenes._WINDOWS.clear()
    joint = area_scenes._read_blocks(grid, wins)
    assert len(opened) == len({p for p, _ in opened}) == len(grid.scenes)  # each scene file read once
    for win, (ndvi, ndwi, dates) in zip(wins, joint, strict=True):
        area_scenes._WINDOWS.clear()
        a_ndvi, a_ndwi, a_dates = area_scenes._read_blocks(grid, [win])[0]
        assert dates == a_dates
        np.testing.assert_array_equal(ndvi, a_ndvi)
        np.testing.assert_array_equal(ndwi, a_ndwi)
        assert ndvi.shape == (len(DATES), win[2], win[3])
    assert np.isfinite(joint[0][0]).any()


def test_joint_reads_split_under_their_bound(two_tiles: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows whose stacks exceed :data:`JOINT_READ_BYTES` together are read in groups under it; same areas."""
    geoms = [box(X0 + 10 * i + 3, Y0 + 10 * j + 3, X0 + 10 * i + 83, Y0 + 10 * j + 63)
             for i in range(0, 90, 20) for j in range(0, 30, 10)]
    f = _fields(geoms)
    monkeypatch.setattr(area_scenes, "BLOCK", 24)
    whole = planted_area(f, two_tiles, SEASON, END)
    groups: list[int] = []
    real = area_scenes._read_blocks

    def counting(grid: object, wins: list) -> object:
        groups.append(len(wins))
        return real(grid, wins)  # type: ignore[arg-type]

    monkeypatch.setattr(area_scenes, "_read_blocks", counting)
    monkeypatch.setattr(area_scenes, "JOINT_READ_BYTES", 8 * len(DATES) * 24 * 24 * 2)
    split = planted_area(f, two_tiles, SEASON, END)
    assert len(groups) > 1  # read in several groups (one would have been 8 windows)
    pd.testing.assert_frame_equal(whole, split, check_exact=True)


def test_scene_window_bit_for_bit_as_the_plain_formula(tmp_path: Path) -> None:
    """The in-place NDVI/NDWI of a window are the float32 values of ``np.where(ok, (nir - red) / (nir + red), nan)``
    bit for bit, NaN patterns included: random DNs with clouds, the nodata DN, and red + NIR = 0 (0/0, x/0)."""
    from dataclasses import replace

    from features.sources.local import SCL_CLEAR, read_index

    rng = np.random.default_rng(5)
    shape = (37, 53)
    data = rng.integers(0, 9000, size=(4, *shape)).astype("uint16")
    data[1:3, :3, :] = 0  # red and NIR both 0: 0/0 where clear
    data[1, 5, :] = 0
    data[3] = rng.choice(np.array([4, 5, 8, 9, 3], dtype="uint16"), size=shape)
    folder = tmp_path / "scenes"
    path = folder / "2009" / "S2_A_20090601.tif"
    path.parent.mkdir(parents=True)
    with rasterio.open(path, "w", driver="GTiff", height=shape[0], width=shape[1], count=4, dtype="uint16",
                       crs="EPSG:32644", transform=Affine(10, 0, X0, 0, -10, Y0), nodata=0) as dst:
        dst.write(data)
    _index(folder, [(DATES[0], "A", "2009/S2_A_20090601.tif")])
    for sc in (read_index(folder)[0], replace(read_index(folder)[0], nodata=None, scale=0.0002, offset=-0.1)):
        area_scenes._WINDOWS.clear()
        v, wv = area_scenes._scene_window(sc, (2, 1, 40, 30))
        green, red, nir, scl = (data[k, 1:31, 2:42] for k in range(4))
        ok = np.isin(scl, SCL_CLEAR)
        if sc.nodata is not None:
            for b in (red, nir, green):
                ok &= b != sc.nodata
        r, n, g = (b.astype(np.float32) * np.float32(sc.scale) + np.float32(sc.offset) for b in (red, nir, green))
        with np.errstate(divide="ignore", invalid="ignore"):
            ref_v = np.where(ok, (n - r) / (n + r), np.nan)
            ref_wv = np.where(ok, (g - n) / (g + n), np.nan)
        ref_v[~np.isfinite(ref_v)] = np.nan
        assert v.dtype == wv.dtype == np.float32
        np.testing.assert_array_equal(v.view(np.uint32), ref_v.view(np.uint32))
        np.testing.assert_array_equal(wv.view(np.uint32), ref_wv.view(np.uint32))
        assert np.isnan(v).any() and np.isfinite(v).any()


def test_field_cut_across_two_crs(tmp_path: Path) -> None:
    """Tile A in UTM covers x < 500 m; tile B, in Web Mercator, the rest: the field's parts are summed."""
    folder = tmp_path / "scenes"
    to_merc = Transformer.from_crs("EPSG:32644", "EPSG:3857", always_xy=True)
    mx0, my0 = to_merc.transform(X0 + 480, Y0 - 20)
    mx1, my1 = to_merc.transform(X0 + 1100, Y0 + 420)
    res_m = 10.0
    w, h = int(np.ceil((mx1 - mx0) / res_m)), int(np.ceil((my1 - my0) / res_m))
    rows = []
    for k, d in enumerate(DATES):
        a = f"{d.year}/S2_A_{d:%Y%m%d}.tif"
        b = f"{d.year}/S2_B_{d:%Y%m%d}.tif"
        _write(folder / a, "EPSG:32644", Affine(10, 0, X0, 0, -10, Y0 + 400), np.full((40, 50), _curve()[k]))
        _write(folder / b, "EPSG:3857", Affine(res_m, 0, mx0, 0, -res_m, my1), np.full((h, w), _curve()[k]))
        rows += [(d, "A", a), (d, "B", b)]
    _index(folder, rows)
    g = box(X0 + 305, Y0 + 105, X0 + 705, Y0 + 305)
    res = planted_area(_fields([g]), folder, SEASON, END).iloc[0]
    assert res["planted_area_ha"] == pytest.approx(g.area / 1e4, rel=0.02)
    assert res["planted_fraction"] == pytest.approx(1.0, abs=0.02)


def test_table_imagery_has_no_pixels(tmp_path: Path) -> None:
    table = tmp_path / "series.csv"
    table.write_text("field_id,date,NDVI\nF0,2009-07-01,0.5\n")
    res = planted_area(_fields([box(X0, Y0, X0 + 100, Y0 + 100)]), table, SEASON, END)
    assert res.attrs["no_pixels"] is True
    assert res["planted_area_ha"].isna().all()
    assert list(res["field_id"]) == ["F0"]


def test_pixel_samples_interior_only(two_tiles: Path) -> None:
    g = box(X0 + 305, Y0 + 105, X0 + 705, Y0 + 305)  # 40 × 20 pixels, edges halve pixels: 39 × 19 interior
    s = pixel_samples(_fields([g]), two_tiles, SEASON, END)
    assert len(s) == 39 * 19
    assert list(s.columns) == ["field_id", "ndvi_max", "ndvi_min", "ndwi_med", "n_clear"]
    assert float(s["ndvi_max"].min()) > 0.7
    small = pixel_samples(_fields([g]), two_tiles, SEASON, END, max_pixels=100, seed=1)
    assert len(small) == 100


def test_tiny_county_against_truth(tiny_county_sh: Path) -> None:
    from pipelines.county import County
    from pipelines.evaluation import read_truth

    c = County(tiny_county_sh, cache_dir=None)
    f = c.fields(c.current_season)
    res = planted_area(f, c.imagery, c.current_season, END).set_index("field_id")
    truth = read_truth(tiny_county_sh)
    truth = truth[truth["season"] == c.current_season].set_index("field_id")
    assert res["planted_area_ha"].notna().all()
    total = res["planted_area_ha"].sum()
    assert total == pytest.approx(truth["planted_area_ha"].sum(), rel=0.05)
    never = truth.index[truth["planted_fraction"] < 0.2]
    assert len(never) >= 1
    assert (res.loc[never, "planted_fraction"] < 0.2).all()
    assert (res.drop(index=never)["planted_fraction"] > 0.2).all()


def test_combine_root_sum_square_equals_the_per_field_sum() -> None:
    """The vectorised √Σsd² of pieces: bit for bit the per-group Series sum it replaced — fields of 1, 2, 3, 5 and 9
    pieces, NaN pieces, and fields whose every piece is NaN (NaN, not 0)."""
    from features.area_scenes import _combine

    rng = np.random.default_rng(3)
    # many pieces: pandas' compensated groupby sum differs from numpy's on some fields of 3, a running sum on 9
    sizes = [1] * 40 + [2] * 30 + [3] * 300 + [5] * 200 + [9] * 30
    ids = np.repeat([f"F{i:03d}" for i in range(len(sizes))], sizes)
    ids = ids[rng.permutation(len(ids))]  # the pieces of a field are not adjacent
    n = len(ids)
    sd = rng.lognormal(-1.0, 1.5, n) * rng.choice([1.0, 1e-3, 1e3], n)
    sd[rng.random(n) < 0.15] = np.nan
    sd[ids == "F000"] = np.nan  # one piece, NaN
    sd[ids == "F050"] = np.nan  # two pieces, both NaN
    sd[ids == "F075"] = np.nan  # three pieces, all NaN
    parts = pd.DataFrame({"field_id": pd.Series(ids, dtype="str"), "field_px_area_ha": rng.uniform(0, 2, n),
                          "planted_area_ha": rng.uniform(0, 2, n), "planted_area_sd_ha": sd,
                          "planted_fraction": rng.uniform(0, 1, n), "noncrop_fraction": rng.uniform(0, 1, n),
                          "n_pixels_touched": rng.integers(1, 100, n), "min_clear_obs": rng.integers(0, 9, n)}
                         ).set_axis(rng.permutation(n) + 1000)  # a filtered frame's index
    got = _combine(parts)
    g = parts.groupby("field_id", sort=False)
    want = np.sqrt(g["planted_area_sd_ha"].apply(lambda s: float((s ** 2).sum(min_count=1))))
    assert sorted(got["field_id"]) == sorted(want.index)
    want = want.loc[list(got["field_id"])]
    np.testing.assert_array_equal(got["planted_area_sd_ha"].to_numpy(), want.to_numpy())  # NaN where NaN, else bits
    sd_by_id = got.set_index("field_id")["planted_area_sd_ha"]
    assert np.isnan(sd_by_id[["F000", "F050", "F075"]]).all()
    assert sd_by_id.notna().sum() > 500


def test_a_second_call_reads_no_file_until_one_changes(two_tiles: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers (grid grouping, file check) and scene windows are read once per file version: the next checkpoint of
    a season gives the same table without opening a file; a file rewritten is read again."""
    import os
    import shutil

    import features.sources.local as local
    from features.sources.local import check_scene_files, read_index

    folder = tmp_path / "scenes"
    shutil.copytree(two_tiles, folder)
    # the files were copied a moment ago: remembered all the same here (the freshness rule has its own test)
    monkeypatch.setattr("features._memo.FRESH_NS", 0)
    f = _fields([box(X0 + 105, Y0 + 105, X0 + 505, Y0 + 305), box(X0 + 605, Y0 + 55, X0 + 905, Y0 + 355)])
    first = planted_area(f, folder, SEASON, END)
    scenes = read_index(folder)
    grids = area_scenes._grids(scenes)
    checked = check_scene_files(scenes)
    window = area_scenes._scene_window(scenes[0], (0, 0, 5, 5))

    def no_open(*a: object, **k: object) -> object:
        raise AssertionError("file read again")

    monkeypatch.setattr(rasterio, "open", no_open)
    monkeypatch.setattr(local, "_open_scene", no_open)
    again = planted_area(f, folder, SEASON, END)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert again.attrs == first.attrs
    assert area_scenes._grids(scenes) == grids
    assert check_scene_files(scenes) == checked
    v, wv = area_scenes._scene_window(scenes[0], (0, 0, 5, 5))
    np.testing.assert_array_equal(v, window[0])
    assert not v.flags.writeable and not wv.flags.writeable  # shared between calls: nobody may write into them
    st = scenes[0].path.stat()
    os.utime(scenes[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(AssertionError, match="file read again"):
        area_scenes._grids(scenes)
    with pytest.raises(AssertionError, match="file read again"):
        check_scene_files(scenes)
    with pytest.raises(AssertionError, match="file read again"):
        area_scenes._scene_window(scenes[0], (0, 0, 5, 5))


def test_a_file_changed_in_the_last_seconds_is_not_remembered(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem keeping whole seconds would give a file rewritten within the same second its old times, so its
    old key: a file changed less than FRESH_NS ago gets no key, and the memo neither answers nor keeps it."""
    from features._memo import Memo, file_key

    p = tmp_path / "scene.tif"
    p.write_bytes(b"x")
    assert file_key(p) is None
    memo = Memo(max_items=4)
    memo.put(None, "value", 1)
    assert memo.get(None) is None and len(memo) == 0
    monkeypatch.setattr("features._memo.FRESH_NS", 0)
    key = file_key(p)
    assert key is not None and key[0] == str(p) and key[3] == 1


def test_a_scene_with_nan_nodata_is_remembered(two_tiles: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN is no nodata (as when the index leaves it empty and the file's tag is NaN): such a scene's window is read
    once, though NaN != NaN would make every call a new key."""
    from dataclasses import replace

    from features.sources.local import read_index

    monkeypatch.setattr("features._memo.FRESH_NS", 0)
    sc = replace(read_index(two_tiles)[0], nodata=float("nan"))
    first = area_scenes._scene_window(sc, (0, 0, 4, 3))

    def no_open(*a: object, **k: object) -> object:
        raise AssertionError("file read again")

    monkeypatch.setattr(rasterio, "open", no_open)
    again = area_scenes._scene_window(replace(sc, nodata=float("nan")), (0, 0, 4, 3))
    np.testing.assert_array_equal(again[0], first[0])


def test_the_area_cache_key_changes_when_a_scene_is_replaced_keeping_size_and_time(two_tiles: Path,
                                                                                   tmp_path: Path) -> None:
    """`cp -p` of another scene of the same size over one keeps its size and modification time; the on-disk area
    cache's key (as the series cache's) holds the inode and status-change time too, so it is another key."""
    import os
    import shutil

    from features.sources.local import read_index

    folder = tmp_path / "scenes"
    shutil.copytree(two_tiles, folder)
    sc = read_index(folder)[0]
    before = area_scenes._scene_key(sc)
    st = sc.path.stat()
    other = tmp_path / "other.tif"
    shutil.copyfile(sc.path, other)
    os.replace(other, sc.path)  # another file under the scene's name ...
    os.utime(sc.path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... with its size and modification time
    after = area_scenes._scene_key(sc)
    assert (after["size"], after["mtime"]) == (before["size"], before["mtime"])
    assert after != before


def test_scenes_that_change_grid_mid_season_are_refused(tmp_path: Path) -> None:
    """A delivery that changed pixel size (or projection) mid-season: the field was measured on the grid of most
    files alone, blind to the weeks of its peak on the other grid (the tiny county's maize 5.75 → 0.00 ha planted
    with scenes reprojected from June on, sd 0). Refused, naming the grids and the fields; the same season on one
    grid, and grids sharing their dates (test_field_cut_across_two_crs), pass."""
    folder = tmp_path / "scenes"
    rows = []
    for k, d in enumerate(DATES):
        rel = f"{d.year}/S2_A_{d:%Y%m%d}.tif"
        if 5 <= k <= 9:  # the peak on a 20 m grid
            _write(folder / rel, "EPSG:32644", Affine(20, 0, X0, 0, -20, Y0 + 400), np.full((20, 30), _curve()[k]))
        else:
            _write(folder / rel, "EPSG:32644", Affine(10, 0, X0, 0, -10, Y0 + 400), np.full((40, 60), _curve()[k]))
        rows.append((d, "A", rel))
    _index(folder, rows)
    fields = _fields([box(X0 + 105, Y0 + 105, X0 + 405, Y0 + 305)])
    with pytest.raises(ImageryError, match=r"^scene index: scenes on 2 pixel grids \(WGS 84 / UTM zone 44N 10 m: 9 files "
                                           r"2009-06-01\.\.2009-10-09; WGS 84 / UTM zone 44N 20 m: 5 files .*would miss up "
                                           r"to 60 days seen only on another grid .*: F0 \(1 in all\)$"):
        planted_area(fields, folder, SEASON, END)
    for k, d in enumerate(DATES[5:10], start=5):
        _write(folder / f"{d.year}/S2_A_{d:%Y%m%d}.tif", "EPSG:32644", Affine(10, 0, X0, 0, -10, Y0 + 400),
               np.full((40, 60), _curve()[k]))
    assert planted_area(fields, folder, SEASON, END).iloc[0]["planted_fraction"] == pytest.approx(1.0, abs=0.02)


def test_last_seasons_crop_standing_in_the_autumn_is_not_non_crop(tmp_path: Path) -> None:
    """An application for the 2018 Nebraska season decided in the autumn of 2017: the field's 2017 crop still stands
    green on every clear date of the window so far. It was counted as trees (non-crop 1.0, PARCEL_NOT_CROPLAND);
    not until a clear date after the calendar's latest harvest (16 November) still shows it green."""
    x0, y0 = 270000.0, 4480000.0
    rows = []
    dates = [dt.date(2017, 9, 20) + dt.timedelta(days=10 * i) for i in range(9)]  # 20 Sep … 9 Dec
    for k, d in enumerate(dates):
        ndvi = np.full((30, 30), 0.18)
        ndvi[5:25, 5:25] = 0.80 - 0.01 * k  # green all along: last season's crop standing, or trees
        rel = f"{d.year}/S2_T14TMK_{d:%Y%m%d}.tif"
        _write(tmp_path / "scenes" / rel, "EPSG:32614", Affine(10, 0, x0, 0, -10, y0 + 300), ndvi)
        rows.append((d, "T14TMK", rel))
    _index(tmp_path / "scenes", rows)
    fields = gpd.GeoDataFrame({"field_id": ["F1"], "season": "2018", "farmer_token": "tok",
                               "declared_crop": "maize", "declared_area_ha": 4.0, "region": "us-nebraska"},
                              geometry=[box(x0 + 50, y0 + 50, x0 + 250, y0 + 250)], crs="EPSG:32614")
    cache = tmp_path / "cache"
    autumn = planted_area(fields, tmp_path / "scenes", "2018", dt.date(2017, 11, 10), cache_dir=cache)
    assert autumn.loc[0, "noncrop_fraction"] == pytest.approx(0.0)
    assert autumn.loc[0, "min_clear_obs"] == 6
    # green on clear dates after 16 November too: permanent vegetation; a re-run reads the cache the same
    for _ in range(2):
        winter = planted_area(fields, tmp_path / "scenes", "2018", dt.date(2017, 12, 10), cache_dir=cache)
        assert winter.loc[0, "noncrop_fraction"] == pytest.approx(1.0)
