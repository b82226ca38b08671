"""Local scenes in the scene-index layout: CRS, overlapping tiles, masks, outside fields, as_of, cache."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from features.contracts import VARIABLES
from features.errors import FieldsError, ImageryError
from features.series import build_series
from features.sources import resolve_imagery
from features.sources.local import read_index
from features.zonal import zonal_stats

BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SCL"]
CRS = "EPSG:32614"
TR = Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 4_500_000.0)
H = W = 60


def _arrays(seed: int, scl_cloud_rows: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(1000, 5000, (len(BANDS), H, W)).astype(np.uint16)
    data[-1] = 4
    data[-1, :scl_cloud_rows] = 9  # cloud high probability
    return data


def _write(path: Path, data: np.ndarray, transform: Affine = TR, crs: str = CRS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, compress="deflate") as dst:
        dst.write(data)


def _index(folder: Path, rows: list[dict]) -> None:
    base = {"bands": ";".join(BANDS), "scale": "0.0001", "offset": "0", "nodata": "0", "cloud_mask": "SCL",
            "processing_baseline": ""}
    pd.DataFrame([base | r for r in rows]).to_csv(folder / "index.csv", index=False)


def _fields(crs: str = CRS) -> gpd.GeoDataFrame:
    x0, y0 = TR.c, TR.f
    geoms = [shapely.box(x0 + 53, y0 - 247, x0 + 188, y0 - 91),
             shapely.Polygon([(x0 + 120, y0 - 400), (x0 + 380, y0 - 330), (x0 + 300, y0 - 150)]),
             shapely.box(x0 + 100, y0 - 200, x0 + 160, y0 - 140),  # overlaps the first
             shapely.box(x0 + 5000, y0 - 5000, x0 + 5100, y0 - 4900)]  # outside every scene
    gdf = gpd.GeoDataFrame({"field_id": ["f1", "f2", "f3", "far"], "season": "2019", "farmer_token": "t",
                            "declared_crop": "maize", "declared_area_ha": 1.0, "region": "us-nebraska"},
                           geometry=geoms, crs=CRS)
    return gdf.to_crs(crs)


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    _write(folder / "2019/S2_A_20190601.tif", _arrays(1))
    _write(folder / "2019/S2_A_20190611.tif", _arrays(2, scl_cloud_rows=30))
    _write(folder / "2019/S2_B_20190611.tif", _arrays(2))  # same date, other tile, clear
    _write(folder / "2019/S2_A_20190701.tif", _arrays(3))
    _index(folder, [
        {"date": "2019-06-01", "tile_id": "A", "path": "2019/S2_A_20190601.tif"},
        {"date": "2019-06-11", "tile_id": "A", "path": "2019/S2_A_20190611.tif"},
        {"date": "2019-06-11", "tile_id": "B", "path": "2019/S2_B_20190611.tif"},
        {"date": "2019-07-01", "tile_id": "A", "path": "2019/S2_A_20190701.tif"},
    ])
    return folder


def _expected(seed: int, fields: gpd.GeoDataFrame, var: str, cloud_rows: int = 0) -> pd.DataFrame:
    data = _arrays(seed, cloud_rows)
    dn = dict(zip(BANDS, data, strict=True))
    clear = np.isin(dn["SCL"], (4, 5, 6, 7))
    return zonal_stats(fields.to_crs(CRS).geometry.to_numpy(), dn, TR, clear=clear, variables=[var],
                       scale=1e-4, offset=0.0, nodata=0)


def test_series_from_local_scenes_equal_engine_and_dedupe_tiles(scenes: Path) -> None:
    f = _fields()
    res = build_series(f, scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30))
    s = res.series
    assert res.outside_fields == ["far"]
    assert res.dates_used == [dt.date(2019, 6, 1), dt.date(2019, 6, 11), dt.date(2019, 7, 1)]
    assert not s.duplicated(["field_id", "date", "variable"]).any()
    assert set(s["variable"]) == {"B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
                                  "NDVI", "EVI", "NDRE", "NDWI", "NDMI"}
    ndvi = s[(s["variable"] == "NDVI") & (s["date"] == pd.Timestamp("2019-06-11"))].set_index("field_id")
    exp = _expected(2, f.iloc[:3], "NDVI")  # tile B (clear) wins over cloudy tile A
    assert ndvi.loc[["f1", "f2", "f3"], "n_clear"].tolist() == exp["n_clear"].tolist()
    assert np.allclose(ndvi.loc[["f1", "f2", "f3"], "mean"], exp["mean"], rtol=1e-12)
    assert ndvi.loc["f3", "n_pixels"] == 36 and ndvi.loc["f1", "n_pixels"] > ndvi.loc["f3", "n_pixels"]


def test_fields_in_another_crs_are_reprojected_not_the_imagery(scenes: Path) -> None:
    f4326 = _fields("EPSG:4326")
    res = build_series(f4326, scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 6, 5), variables=["B04"])
    back = f4326.iloc[:3].to_crs(CRS)
    exp = zonal_stats(back.geometry.to_numpy(), dict(zip(BANDS, _arrays(1), strict=True)), TR,
                      variables=["B04"], scale=1e-4, nodata=0)
    got = res.series.set_index("field_id").loc[["f1", "f2", "f3"]]
    assert got["n_pixels"].tolist() == exp["n_pixels"].tolist()
    assert got["p50"].tolist() == exp["p50"].tolist()


def test_tie_between_tiles_goes_to_smallest_tile_id(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    _write(folder / "b.tif", _arrays(7))
    _write(folder / "a.tif", _arrays(8))
    _index(folder, [{"date": "2019-06-01", "tile_id": "T2", "path": "b.tif"},
                    {"date": "2019-06-01", "tile_id": "T1", "path": "a.tif"}])
    res = build_series(_fields().iloc[:1], folder, "2019", start=dt.date(2019, 1, 1), end=dt.date(2019, 12, 31),
                       variables=["B02"])
    exp = _expected(8, _fields().iloc[:1], "B02")
    assert res.series["mean"].iloc[0] == pytest.approx(exp["mean"].iloc[0], rel=1e-12)


def test_named_mask_band_offset_and_nodata(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    data = _arrays(9)
    data[-1] = 0
    data[-1, :10] = 1  # mask band: non-zero = cloudy
    data[2, 10:12] = 0  # B04 nodata
    _write(folder / "m.tif", data)
    bands = BANDS[:-1] + ["CLM"]
    _index(folder, [{"date": "2019-06-01", "tile_id": "T", "path": "m.tif", "bands": ";".join(bands),
                     "cloud_mask": "band:CLM", "offset": "-0.1"}])
    f = _fields().iloc[:2]
    res = build_series(f, folder, "2019", start=dt.date(2019, 1, 1), end=dt.date(2019, 12, 31),
                       variables=["B04", "B03"])
    dn = dict(zip(BANDS, data, strict=True))
    exp = zonal_stats(f.geometry.to_numpy(), dn, TR, clear=data[-1] == 0, variables=["B04", "B03"],
                      scale=1e-4, offset=-0.1, nodata=0)
    got = res.series.sort_values(["variable", "field_id"])
    want = exp.sort_values(["variable", "field"])
    assert got["n_clear"].tolist() == want["n_clear"].tolist()
    assert np.allclose(got["mean"], want["mean"], rtol=1e-12)
    b04 = got[got["variable"] == "B04"]["n_clear"].to_numpy()
    b03 = got[got["variable"] == "B03"]["n_clear"].to_numpy()
    assert (b04 <= b03).all() and (b04 < b03).any()  # the nodata rows count only for B04


def test_as_of_never_opens_later_files(scenes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (scenes / "2019/S2_A_20190701.tif").write_bytes(b"not a tiff")  # would fail if opened
    opened: list[str] = []
    real_open = rasterio.open

    def spy(path, *a, **k):  # noqa: ANN001, ANN002, ANN003
        opened.append(Path(str(path)).name)
        return real_open(path, *a, **k)

    monkeypatch.setattr(rasterio, "open", spy)
    res = build_series(_fields(), scenes, "2019", as_of=dt.date(2019, 6, 20), start=dt.date(2019, 5, 1),
                       end=dt.date(2019, 9, 30), variables=["NDVI"])
    assert "S2_A_20190701.tif" not in opened and "S2_A_20190601.tif" in opened
    assert res.series["date"].max() == pd.Timestamp("2019-06-11")


def test_missing_and_corrupt_files_are_named(scenes: Path) -> None:
    (scenes / "2019/S2_A_20190601.tif").unlink()
    with pytest.raises(ImageryError, match=r"scene files missing: S2_A_20190601\.tif"):
        build_series(_fields(), scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30))
    (scenes / "2019/S2_A_20190601.tif").write_bytes(b"garbage")
    with pytest.raises(ImageryError, match=r"corrupt.*S2_A_20190601\.tif"):
        build_series(_fields(), scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30))


def test_all_fields_outside_is_an_error(scenes: Path) -> None:
    with pytest.raises(ImageryError, match="every field is outside the imagery: far"):
        build_series(_fields().iloc[3:], scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30))


def test_cache_makes_reruns_and_later_as_of_incremental(scenes: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    kw = {"start": dt.date(2019, 5, 1), "end": dt.date(2019, 9, 30), "variables": ["NDVI", "B04"], "cache_dir": cache}
    first = build_series(_fields(), scenes, "2019", as_of=dt.date(2019, 6, 20), **kw)
    assert (first.scenes_read, first.scenes_cached) == (3, 0)
    again = build_series(_fields(), scenes, "2019", as_of=dt.date(2019, 6, 20), **kw)
    assert (again.scenes_read, again.scenes_cached) == (0, 3)
    pd.testing.assert_frame_equal(first.series, again.series)
    later = build_series(_fields(), scenes, "2019", **kw)
    assert (later.scenes_read, later.scenes_cached) == (1, 3)
    assert not list(cache.rglob("*.tmp"))


def test_season_window_from_region_and_index_errors(scenes: Path, tmp_path: Path) -> None:
    res = build_series(_fields(), scenes, "2019", variables=["B04"])  # us-nebraska: 2018-09-15 .. 2019-11-30
    assert len(res.dates_used) == 3
    with pytest.raises(FieldsError, match="no field of season 2020"):
        build_series(_fields(), scenes, "2020")
    bad = tmp_path / "bad"
    bad.mkdir()
    row = {"date": ["2019-13-01"], "tile_id": ["A"], "path": ["x.tif"], "bands": ["B04"], "scale": ["0.0001"],
           "offset": ["0"]}
    pd.DataFrame(row).to_csv(bad / "index.csv", index=False)
    with pytest.raises(ImageryError, match="bad index rows: line 2"):
        read_index(bad)
    # scale and offset are required (a default would silently change the reflectances), and not left empty
    pd.DataFrame({k: v for k, v in row.items() if k != "scale"}).to_csv(bad / "index.csv", index=False)
    with pytest.raises(ImageryError, match="index columns missing: scale"):
        read_index(bad)
    pd.DataFrame({**row, "date": ["2019-07-01"], "offset": [""]}).to_csv(bad / "index.csv", index=False)
    with pytest.raises(ImageryError, match=r"bad index rows: line 2 \(offset is empty\)"):
        read_index(bad)
    with pytest.raises(ImageryError, match="imagery not found"):
        resolve_imagery(tmp_path / "nothing")
    assert resolve_imagery(scenes / "index.csv").kind == "scenes"
    # one file listed under two dates (a copy-pasted line): counted as two observations before, and decisions moved
    two = pd.DataFrame({**row, "date": ["2019-07-01", "2019-08-30"], "tile_id": ["A", "A"], "path": ["x.tif"] * 2,
                        "bands": ["B04"] * 2, "scale": ["0.0001"] * 2, "offset": ["0"] * 2})
    two.to_csv(bad / "index.csv", index=False)
    with pytest.raises(ImageryError, match=r"a file is listed twice .*: x.tif \(2019-07-01/A, 2019-08-30/A\)"):
        read_index(bad)


def test_as_of_before_the_window_gives_an_empty_series_and_a_warning(scenes: Path) -> None:
    res = build_series(_fields(), scenes, "2019", as_of=dt.date(2019, 4, 1), start=dt.date(2019, 5, 1),
                       end=dt.date(2019, 9, 30))
    assert res.series.empty and list(res.series.columns)[:4] == ["field_id", "season", "date", "variable"]
    assert any("before the season window" in w for w in res.warnings)


def test_sentinelhub_words_dispatch_to_the_sentinelhub_module(scenes: Path, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    import sys
    import types

    calls: list[tuple] = []
    fake = types.ModuleType("features.sources.sentinelhub")

    def summary(**kw):  # noqa: ANN003, ANN202
        return types.SimpleNamespace(warnings=[], no_acquisition_fields=[], **kw)

    def fetch(fields, start, end, out_dir, *, endpoint, profile, max_cloud, merge):  # noqa: ANN001, ANN202
        assert max_cloud == 1.0 and merge is False  # every acquisition (SCL decides), into a working folder
        calls.append(("fetch", start, end, len(fields), endpoint))
        return types.SimpleNamespace(path=scenes, summary=summary())

    def fetch_statistics(fields, season, start, end, *, endpoint, profile, variables):  # noqa: ANN001, ANN202
        calls.append(("stats", season, start, end, endpoint, variables))
        return types.SimpleNamespace(summary=summary(), series=pd.DataFrame({
            "field_id": ["f1"], "season": [season], "date": [pd.Timestamp("2019-06-01")], "variable": ["NDVI"],
            "mean": [0.5], "std": [0.1], "p10": [0.4], "p50": [0.5], "p90": [0.6], "n_pixels": [10], "n_clear": [10]}))

    fake.fetch = fetch  # type: ignore[attr-defined]
    fake.fetch_statistics = fetch_statistics  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "features.sources.sentinelhub", fake)
    import features.sources

    monkeypatch.setattr(features.sources, "sentinelhub", fake, raising=False)  # if another test imported the real one
    kw = {"start": dt.date(2019, 5, 1), "end": dt.date(2019, 9, 30), "as_of": dt.date(2019, 6, 20)}
    a = build_series(_fields(), "sentinelhub", "2019", variables=["NDVI"], cache_dir=tmp_path / "c", **kw)
    assert calls[0] == ("fetch", dt.date(2019, 5, 1), dt.date(2019, 6, 20), 4, "cdse")
    assert a.dates_used == [dt.date(2019, 6, 1), dt.date(2019, 6, 11)] and a.source.startswith("sentinelhub")
    b = build_series(_fields(), "sentinelhub-stats", "2019", endpoint="sinergise", **kw)
    assert calls[1] == ("stats", "2019", dt.date(2019, 5, 1), dt.date(2019, 6, 20), "sinergise", VARIABLES)
    assert b.series["field_id"].tolist() == ["f1"] and b.outside_fields == ["f2", "f3", "far"]


def test_inward_buffer_through_build_series(scenes: Path) -> None:
    kw = {"start": dt.date(2019, 5, 1), "end": dt.date(2019, 6, 5), "variables": ["B04"]}
    plain = build_series(_fields(), scenes, "2019", **kw).series.set_index("field_id")
    inner = build_series(_fields(), scenes, "2019", inward_buffer=True, **kw).series.set_index("field_id")
    assert (inner["n_pixels"] < plain["n_pixels"]).loc[["f1", "f2"]].all()
    assert inner.loc["f3", "n_pixels"] == 36  # a grid-aligned 6 x 6 pixel box has no mixed pixels: all kept


def test_a_04_baseline_without_its_offset_is_refused(tmp_path: Path) -> None:
    """Processing baseline 04.00 or later: digital numbers carry +1000, so scale 0.0001 with offset 0 reads every
    reflectance 0.1 too high (NDVI 0.64 read as 0.41, decisions changed); offset -0.1 or an empty baseline (values
    harmonised) are accepted; band names are case-blind and a Windows separator in `path` is the same path."""
    from features.errors import ImageryError
    from features.sources.local import read_index

    head = "date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline\n"
    (tmp_path / "index.csv").write_text(head + "2022-06-01,T1,a.tif,B04;B08;SCL,0.0001,0,0,SCL,04.00\n"
                                        "2022-06-06,T1,b.tif,B04;B08;SCL,0.0001,0,0,SCL,05.11\n")
    with pytest.raises(ImageryError, match=r"index\.csv: processing_baseline 04\.00 or later: its digital numbers "
                                           r"carry \+1000, so scale 0\.0001 needs offset -0\.1 .*: line 2, line 3 \(2 in all\)$"):
        read_index(tmp_path)
    (tmp_path / "index.csv").write_text(head + "2022-06-01,T1,a.tif,B04;B08;SCL,0.0001,-0.1,0,SCL,04.00\n"
                                        "2022-06-06,T1,sub\\b.tif,b04;b08;scl,0.0001,0,0,SCL,\n")
    a, b = read_index(tmp_path)
    assert a.offset == -0.1 and b.bands == ("B04", "B08", "SCL") and b.path == tmp_path / "sub" / "b.tif"


def test_files_not_as_indexed_and_implausible_reflectances_are_refused(tmp_path: Path) -> None:
    """Band descriptions naming another order than the index's (NDVI of the wrong sign), a nodata tag
    contradicting the index's, and reflectances no scale can explain (reflectance files indexed with the digital
    numbers' scale; an offset typo) are one-line errors naming the file; an empty index nodata takes the file's tag."""
    import dataclasses

    from features.sources.local import check_scene_files

    fields = _fields()
    folder = tmp_path / "s"

    def one(data: np.ndarray, desc: list[str] | None = None, tag: float | None = None, **index: str) -> Path:
        _write(folder / "a.tif", data)
        with rasterio.open(folder / "a.tif", "r+") as dst:
            if desc:
                for i, d in enumerate(desc, start=1):
                    dst.set_band_description(i, d)
            dst.nodata = tag
        _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "a.tif", **index}])
        return folder

    swapped = [*BANDS]
    swapped[2], swapped[6] = swapped[6], swapped[2]
    with pytest.raises(ImageryError, match=r"a\.tif \(its bands are B02;B03;B08;.*index lists B02;B03;B04;"):
        build_series(fields, one(_arrays(1), desc=swapped), "2019", variables=["NDVI"])
    with pytest.raises(ImageryError, match=r"a\.tif \(its nodata tag is 65535, index says 0\)"):
        build_series(fields, one(_arrays(1), tag=65535), "2019", variables=["NDVI"])
    scene = read_index(one(_arrays(1), tag=65535, nodata=""))[0]
    assert scene.nodata is None and check_scene_files([scene]) == [dataclasses.replace(scene, nodata=65535.0)]
    refl = (_arrays(1).astype("float32") / 10_000).astype("float32")
    refl[-1] = 4
    with pytest.raises(ImageryError, match=r"a\.tif: B08 reflectance 3\.\d+e-05 .* is not a reflectance: wrong scale or "
                                           r"offset in index\.csv\?"):
        build_series(fields, one(refl), "2019", variables=["NDVI"])
    with pytest.raises(ImageryError, match=r"B04 reflectance -1e\+03 .*offset -1000\)"):
        build_series(fields, one(_arrays(1), offset="-1000"), "2019", variables=["NDVI"])
    # harmonised values (a green crop's red, DN 300: reflectance 0.03) indexed with baseline 04.00's offset -0.1: red
    # -0.07, NDVI above 1 — it was read, exit 0 (a bank's walkthrough); with offset 0 as harmonised values need, read
    green = _arrays(1)
    green[BANDS.index("B04")] = 300
    with pytest.raises(ImageryError, match=r"a\.tif: B04 reflectance -0\.07 .*offset -0\.1\) is below 0: the offset is "
                                           r"subtracted from values that do not carry it"):
        build_series(fields, one(green, offset="-0.1"), "2019", variables=["NDVI"])
    assert len(build_series(fields, one(green), "2019", variables=["NDVI"]).series)
    assert len(build_series(fields, one(refl, scale="1"), "2019", variables=["NDVI"]).series)


def test_a_bottom_up_scene_is_named(tmp_path: Path) -> None:
    """One scene of the index with a bottom-up grid (positive y pixel size): the one-line error names that file."""
    folder = tmp_path / "s"
    _write(folder / "ok.tif", _arrays(1))
    _write(folder / "flipped.tif", _arrays(2)[:, ::-1, :], transform=Affine(10.0, 0.0, 600_000.0, 0.0, 10.0,
                                                                             4_500_000.0 - 600.0))
    _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "ok.tif"},
                    {"date": "2019-06-06", "tile_id": "A", "path": "flipped.tif"}])
    with pytest.raises(ImageryError, match=r"^flipped\.tif: an unrotated grid whose rows run north to south"):
        build_series(_fields(), folder, "2019", variables=["NDVI"])


def test_a_band_mask_named_scl_is_refused(tmp_path: Path) -> None:
    """cloud_mask band:SCL read SCL class 0 (no data) as clear and vegetation (4) as cloudy: the mask inverted,
    silently. Now refused, pointing to cloud_mask SCL; band:NAME keeps 0 = clear for a real mask band."""
    folder = tmp_path / "s"
    _write(folder / "2019/a.tif", _arrays(1))
    _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "2019/a.tif", "cloud_mask": "band:scl"}])
    with pytest.raises(ImageryError, match=r"line 2 \(cloud_mask 'band:SCL' would read SCL class 0 .*write cloud_mask "
                                           r"SCL"):
        read_index(folder)
    _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "2019/a.tif", "cloud_mask": "SCL"}])
    assert read_index(folder)[0].cloud_mask == "SCL"


def test_a_scene_replaced_with_the_same_size_and_mtime_is_read_again(tmp_path: Path) -> None:
    """The scene cache was keyed on path, size and mtime: a scene replaced by another of the same size and
    modification time (cp -p, rsync -a) gave the old statistics. The key now holds the inode and ctime too."""
    import os

    def plain(path: Path, data: np.ndarray) -> None:  # uncompressed: two scenes of one shape have one size
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=len(BANDS), dtype="uint16", crs=CRS,
                           transform=TR) as dst:
            dst.write(data)

    folder = tmp_path / "s"
    target = folder / "2019/a.tif"
    plain(target, _arrays(1))
    _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "2019/a.tif"}])
    kw = {"start": dt.date(2019, 5, 1), "end": dt.date(2019, 6, 5), "variables": ["B04"], "cache_dir": tmp_path / "c"}
    fields = _fields().iloc[:3]
    first = build_series(fields, folder, "2019", **kw)
    assert build_series(fields, folder, "2019", **kw).scenes_cached == 1
    st = target.stat()
    staged = tmp_path / "staged.tif"
    plain(staged, _arrays(7))
    os.utime(staged, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(staged, target)  # what rsync -a does: the new file, its mtime set to the source's, renamed over
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    second = build_series(fields, folder, "2019", **kw)
    assert second.scenes_read == 1 and second.scenes_cached == 0
    assert not np.allclose(first.series["mean"].to_numpy(), second.series["mean"].to_numpy())


def test_a_zero_fill_without_a_nodata_tag_is_refused(tmp_path: Path) -> None:
    """A scene whose nodata tag was lost (gdal_translate without -a_nodata) with its zero fill (outside the swath)
    over the fields and ``nodata`` empty in the index: the zeros were read as reflectance 0 (B04 mean 0.0086 for
    0.0925, EVI 0, their pixels counted clear) without a word when the cloud mask does not cover them. Refused,
    naming the file and the fix; with ``nodata`` 0 in the index the zeros are no data."""
    folder = tmp_path / "s"
    data = _arrays(1)
    data[:-1, :, :12] = 0  # the zero fill of every band over the west of f1 (pixel columns 5 to 18)
    _write(folder / "2019/a.tif", data)
    row = {"date": "2019-06-01", "tile_id": "A", "path": "2019/a.tif", "cloud_mask": "none"}
    fields = _fields().iloc[:3]
    _index(folder, [row | {"nodata": ""}])
    with pytest.raises(ImageryError, match=r"^a\.tif: \d+ clear in-field pixels are 0 in every band .*set nodata 0 "
                                           r"in index\.csv"):
        build_series(fields, folder, "2019", variables=["B04", "EVI"])
    _index(folder, [row])  # nodata 0
    s = build_series(fields, folder, "2019", variables=["B04"]).series.set_index("field_id")
    assert s.loc["f1", "n_clear"] < s.loc["f1", "n_pixels"] and s["mean"].min() > 0.09
    data[-1, :, :12] = 0  # SCL class 0 (no data) masks the fill: nothing to refuse without a nodata value
    _write(folder / "2019/a.tif", data)
    _index(folder, [row | {"nodata": "", "cloud_mask": "SCL"}])
    assert build_series(fields, folder, "2019", variables=["B04"]).series["mean"].min() > 0.09


def test_a_baseline_written_as_in_the_product_name_is_read_or_refused(tmp_path: Path) -> None:
    """processing_baseline as the product name writes it (S2B_MSIL2A_…_N0400_…: ``N0400``, ``0400``) did not parse
    and passed the 04.00 offset check silently (every reflectance 0.1 too high); it now reads as 04.00, and a value
    that is no baseline (``4``, ``PB 04.00``) is a bad row, not ignored."""
    from features.errors import ImageryError
    from features.sources.local import read_index

    head = "date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline\n"

    def rows(*pbs: str, offset: str = "0") -> Path:
        (tmp_path / "index.csv").write_text(head + "".join(
            f"2022-06-{i + 1:02d},T1,{i}.tif,B04;B08;SCL,0.0001,{offset},0,SCL,{pb}\n" for i, pb in enumerate(pbs)))
        return tmp_path

    with pytest.raises(ImageryError, match=r"processing_baseline 04\.00 or later: .*: line 2, line 3, line 4 "
                                           r"\(3 in all\)$"):
        read_index(rows("N0400", "0400", "n0509", "N0301"))
    assert [s.processing_baseline for s in read_index(rows("N0400", "n0509", "02.14", offset="-0.1"))] == [
        "N0400", "n0509", "02.14"]
    with pytest.raises(ImageryError, match=r"bad index rows: line 2 \(processing_baseline '4': expected NN\.NN "
                                           r"\(04\.00\) or the product name's N0400\), line 3 \(processing_baseline "
                                           r"'PB 04\.00'"):
        read_index(rows("4", "PB 04.00"))


def test_a_scene_path_that_is_a_folder_is_named_as_such(scenes: Path) -> None:
    """A scene path that is a folder (an unpacked .SAFE, a mistyped path) was reported missing though it is there."""
    (scenes / "2019/S2_A_20190601.tif").unlink()
    (scenes / "2019/S2_A_20190601.tif").mkdir()
    with pytest.raises(ImageryError, match=r"scene files missing: S2_A_20190601\.tif \(a folder, not a file\)"):
        build_series(_fields(), scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30))


def test_band_names_without_the_leading_zero_are_the_same_bands(tmp_path: Path) -> None:
    """Earth Engine names Sentinel-2 bands B2 … B8, B8A, B11 and writes those names as band descriptions: such a file
    indexed B02;B03;… was refused as "its bands are B2;B3;…", and indexed B2;B3;… it lacked B04 for NDVI. B4 and B04
    are one band; another order is still refused."""
    folder = tmp_path / "s"
    ee = [b.replace("B0", "B") for b in BANDS]  # B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12, SCL
    _write(folder / "a.tif", _arrays(1))
    with rasterio.open(folder / "a.tif", "r+") as dst:
        for i, d in enumerate(ee, start=1):
            dst.set_band_description(i, d)
    fields = _fields().iloc[:3]
    _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "a.tif"}])
    ref = build_series(fields, folder, "2019", variables=["NDVI", "B04"]).series
    _index(folder, [{"date": "2019-06-01", "tile_id": "A", "path": "a.tif", "bands": ";".join(ee)}])
    assert read_index(folder)[0].bands == tuple(BANDS)
    pd.testing.assert_frame_equal(build_series(fields, folder, "2019", variables=["NDVI", "B04"]).series, ref)
    swapped = [*ee]
    swapped[2], swapped[6] = swapped[6], swapped[2]
    with rasterio.open(folder / "a.tif", "r+") as dst:
        for i, d in enumerate(swapped, start=1):
            dst.set_band_description(i, d)
    with pytest.raises(ImageryError, match=r"a\.tif \(its bands are B02;B03;B08;.*index lists B02;B03;B04;"):
        build_series(fields, folder, "2019", variables=["NDVI"])


def test_no_scene_yet_in_the_window_does_not_call_the_fields_outside_every_scene(scenes: Path) -> None:
    """Before the season's first acquisition (the smallholder demo as of 2009-05-20, its first scene 05-21) the
    series said both "no scene in the season window up to …" and "600 field(s) outside every scene": the fields lie
    inside the imagery, there is no scene yet. The first warning alone says it."""
    res = build_series(_fields(), scenes, "2019", as_of=dt.date(2019, 5, 20), start=dt.date(2019, 5, 1),
                       end=dt.date(2019, 9, 30))
    assert res.series.empty
    assert any(w.startswith("no scene in the season window up to 2019-05-20") for w in res.warnings)
    assert not any("outside every scene" in w for w in res.warnings), res.warnings
    # a field really outside the scenes is still named once there are scenes
    later = build_series(_fields(), scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30))
    assert any("outside every scene" in w for w in later.warnings)


def test_a_scene_folder_stopping_weeks_before_the_as_of_is_said(scenes: Path, tmp_path: Path) -> None:
    """A review (session 77): a scene folder a bank copied up to July valued an October as-of from July's crop (17
    times lower), exit 0, without a word. Its last scene more than 30 days before the as-of is said, naming the
    folder and the day; a folder up to date is not; a spatial block's index (a subset, said once by the client) is
    not."""
    import shutil

    from features.atomic import private_tempdir_prefix

    f = _fields()
    late = build_series(f, scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30),
                        as_of=dt.date(2019, 9, 1))
    said = [w for w in late.warnings if w.startswith("the scene folder")]
    assert said == [f"the scene folder {scenes} holds no scene after 2019-07-01, 62 days before 2019-09-01 (its "
                    "index.csv): the series ends there, and what is read as of 2019-09-01 is the crop as of "
                    "2019-07-01 — add the later scenes to the folder (or fetch them: agcredit imagery fetch)"], said
    recent = build_series(f, scenes, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30),
                          as_of=dt.date(2019, 7, 20))
    assert not [w for w in recent.warnings if w.startswith("the scene folder")], recent.warnings
    block = tmp_path / f"{private_tempdir_prefix('block')}x"
    shutil.copytree(scenes, block)
    blocked = build_series(f, block, "2019", start=dt.date(2019, 5, 1), end=dt.date(2019, 9, 30),
                           as_of=dt.date(2019, 9, 1))
    assert not [w for w in blocked.warnings if w.startswith("the scene folder")], blocked.warnings
