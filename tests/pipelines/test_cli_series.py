"""``agcredit features series``: writes the series atomically, bad input is one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from typer.testing import CliRunner

from features.contracts import check_field_time_series
from pipelines.cli import app

TR = Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 4_500_000.0)
BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SCL"]


def _county(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    folder = tmp_path / "scenes"
    rows = []
    for date in ["2019-06-01", "2019-06-21", "2019-07-11"]:
        data = rng.integers(500, 4000, (len(BANDS), 40, 40)).astype(np.uint16)
        data[-1] = 4
        path = folder / "2019" / f"S2_T_{date.replace('-', '')}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", height=40, width=40, count=len(BANDS), dtype="uint16",
                           crs="EPSG:32614", transform=TR) as dst:
            dst.write(data)
        rows.append({"date": date, "tile_id": "T", "path": f"2019/{path.name}", "bands": ";".join(BANDS),
                     "scale": 0.0001, "offset": 0, "nodata": 0, "cloud_mask": "SCL", "processing_baseline": ""})
    pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)
    fields = gpd.GeoDataFrame({"field_id": ["f1", "f2"], "season": ["2019", "2019"], "farmer_token": ["t1", "t2"],
                               "declared_crop": ["maize", "soybean"], "declared_area_ha": [1.0, 2.0],
                               "region": ["us-nebraska", "us-nebraska"]},
                              geometry=[shapely.box(600_050, 4_499_800, 600_150, 4_499_900),
                                        shapely.box(600_200, 4_499_700, 600_350, 4_499_850)], crs="EPSG:32614")
    fpath = tmp_path / "fields.gpkg"
    fields.to_file(fpath)
    return folder, fpath


def test_series_command_writes_parquet(tmp_path: Path) -> None:
    folder, fpath = _county(tmp_path)
    out = tmp_path / "out" / "series.parquet"
    r = CliRunner().invoke(app, ["features", "series", "--fields", str(fpath), "--imagery", str(folder),
                                 "--season", "2019", "--as-of", "2019-06-30", "--out", str(out),
                                 "--cache-dir", str(tmp_path / "cache")])
    assert r.exit_code == 0, r.stderr
    assert "2 fields, 2 dates" in r.stdout
    s = check_field_time_series(pd.read_parquet(out))
    assert sorted(s["field_id"].unique()) == ["f1", "f2"] and s["date"].max() == pd.Timestamp("2019-06-21")
    assert len(s) == 2 * 2 * 15
    assert not list(out.parent.glob("*.tmp"))
    assert "warning" not in r.stderr
    # a field rejected when reading (not a polygon) was dropped from the series without a word
    g = gpd.read_file(fpath)
    g.loc[1, "geometry"] = shapely.LineString([(600_200, 4_499_700), (600_350, 4_499_850)])
    g.to_file(tmp_path / "bad.gpkg")
    r = CliRunner().invoke(app, ["features", "series", "--fields", str(tmp_path / "bad.gpkg"), "--imagery",
                                 str(folder), "--season", "2019", "--as-of", "2019-06-30", "--out", str(out)])
    assert r.exit_code == 0 and "warning: 1 field(s) rejected when reading" in r.stderr, r.stderr


def test_series_command_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    folder, fpath = _county(tmp_path)
    out = tmp_path / "series.parquet"
    r = CliRunner().invoke(app, ["features", "series", "--fields", str(fpath), "--imagery", str(tmp_path / "none"),
                                 "--season", "2019", "--out", str(out)])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "imagery not found" in r.stderr
    assert not out.exists()
    r = CliRunner().invoke(app, ["features", "series", "--fields", str(fpath), "--imagery", str(folder),
                                 "--season", "2019", "--as-of", "June", "--out", str(out)])
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.stderr


def test_series_command_on_dask_equals_single_process(tmp_path: Path) -> None:
    folder, fpath = _county(tmp_path)
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    base = ["features", "series", "--fields", str(fpath), "--imagery", str(folder), "--season", "2019",
            "--no-progress"]
    r1 = CliRunner().invoke(app, [*base, "--out", str(one)])
    r2 = CliRunner().invoke(app, [*base, "--out", str(two), "--workers", "1", "--chunk-fields", "1"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.stderr
    assert "spatial blocks" in r2.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(two), check_exact=True)
    r3 = CliRunner().invoke(app, [*base, "--out", str(two), "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"])
    assert r3.exit_code == 2 and "not both" in r3.stderr
