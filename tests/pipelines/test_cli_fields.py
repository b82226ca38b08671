"""`agcredit fields validate` and the CLI's error contract (one line, exit code 2, no traceback)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import LineString, box
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "data" / "sample_fields.geojson"


def test_help_lists_commands() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    assert "fields" in r.stdout


def test_validate_builtin_sample() -> None:
    r = runner.invoke(app, ["fields", "validate", str(SAMPLE)])
    assert r.exit_code == 0, r.stderr
    assert "valid fields:     7" in r.stdout
    assert "repaired:         1 (NE-007)" in r.stdout
    # a bow-tie made valid: the repair's hectares, to check against the declared 10 ha
    assert "repaired:         1 (NE-007)\n    - NE-007: area changed by the repair (0.00 ha before repair, 7.53 ha " \
           "after; declared 10.00 ha)\n  rejected:         0" in r.stdout
    assert "total area:" in r.stdout


def test_validate_reports_rejections(tmp_path: Path) -> None:
    g = gpd.GeoDataFrame({"field_id": ["a", "b", "c"], "season": ["2024"] * 2 + ["2025"],
                          "farmer_token": ["T1", "T2", "T1"],
                          "geometry": [box(0, 0, 100, 100), LineString([(0, 0), (5, 5)]), box(0, 0, 100, 100)]},
                         crs=32614)
    p = tmp_path / "f.gpkg"
    g.to_file(p, driver="GPKG")
    r = runner.invoke(app, ["fields", "validate", str(p)])
    # the report lists it, and the exit is the deciding runs' (they refuse the file): 2 with one line, not 0
    assert r.exit_code == 2, r.stderr
    assert "- b/2024: not a polygon (LineString)" in r.stdout
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "f.gpkg: 1 field(s) rejected (listed above): underwrite and reunderwrite refuse the file" in r.stderr
    r = runner.invoke(app, ["fields", "validate", str(p), "--season", "2025"])  # no row of that season rejected
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["fields", "validate", str(p), "--strict"])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0
    assert "Traceback" not in r.stderr
    assert "invalid geometries: b/2024 (not a polygon (LineString))" in r.stderr


def test_missing_file_exit_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["fields", "validate", str(tmp_path / "nope.gpkg")])
    assert r.exit_code == 2
    assert "nope.gpkg: file not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_warns_of_the_columns_runs_need(tmp_path: Path) -> None:
    """A file without region (or declared_crop) was called valid, and monitor, underwrite or report then failed with
    'no window for region None … give start and end': validate says which runs will refuse it (the contract lets
    the file omit them: a warning, exit 0)."""
    g = gpd.GeoDataFrame({"field_id": ["a", "b"], "season": ["2024"] * 2, "farmer_token": ["T1", "T2"],
                          "declared_crop": ["maize", "soybean"], "region": ["us-nebraska"] * 2,
                          "geometry": [box(0, 0, 100, 100), box(200, 0, 300, 100)]}, crs=32614)
    p = tmp_path / "f.gpkg"
    g.to_file(p, driver="GPKG")
    r = runner.invoke(app, ["fields", "validate", str(p)])
    assert r.exit_code == 0 and "warning" not in r.stdout
    g.drop(columns=["region", "declared_crop"]).to_file(p, driver="GPKG")
    r = runner.invoke(app, ["fields", "validate", str(p)])
    assert r.exit_code == 0, r.stderr
    assert "  warning: no region column: monitor, reunderwrite, report with --imagery, underwrite without --features, " \
           "features build and value refuse the file (a field's region gives its season window" in r.stdout
    assert "  warning: no declared_crop column: monitor, reunderwrite and report with --imagery, and every run on a " \
           "county folder refuse the file" in r.stdout


def test_validate_rejects_sets_bad_rows_aside(tmp_path: Path) -> None:
    """`fields validate --rejects PATH`: the rows failing a row-level check (an unknown crop, a repeated id — every
    row of it —, a line for a polygon) written to PATH and the rest validated; without it one bad row refuses the
    file, as before; with --strict it is refused (they disagree)."""
    boxes = [box(i * 200, 0, i * 200 + 100, 100) for i in range(6)]
    g = gpd.GeoDataFrame({"field_id": ["a", "b", "c", "d", "d", "e"], "season": ["2024"] * 6,
                          "farmer_token": ["T1", "T2", "T3", "T4", "T4", "T5"],
                          "declared_crop": ["maize", "rice", "maise", "maize", "maize", "maize"],
                          "geometry": [*boxes[:5], LineString([(0, 0), (5, 5)])]}, crs=32614)
    p = tmp_path / "f.gpkg"
    g.to_file(p, driver="GPKG")
    r = runner.invoke(app, ["fields", "validate", str(p)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "maise" in r.stderr
    out = tmp_path / "rejects.csv"
    r = runner.invoke(app, ["fields", "validate", str(p), "--rejects", str(out)])
    assert r.exit_code == 1, r.stderr  # partial: rows were rejected (0 only when none was)
    assert "valid fields:     2 in 1 season(s)" in r.stdout
    assert f"4 rows rejected (see {out})" in r.stdout
    assert "3 farmer(s) whose applications underwrite --rejects does not decide until the rows are corrected" \
        in r.stdout
    assert out.read_text().splitlines() == [
        "row,field_id,season,farmer_token,reason,held_applications",
        "row 3,c,2024,T3,declared_crop 'maise' not a known crop (add others with AGCREDIT_EXTRA_CROPS),",
        "row 4,d,2024,T4,field_id repeated within its season (every row of it set aside: which one is right is "
        "unknown),",
        "row 5,d,2024,T4,field_id repeated within its season (every row of it set aside: which one is right is "
        "unknown),",
        "row 6,e,2024,T5,not a polygon (LineString),",
    ]
    first = out.read_bytes()
    r = runner.invoke(app, ["fields", "validate", str(p), "--rejects", str(out)])
    assert r.exit_code == 1 and out.read_bytes() == first
    good = tmp_path / "good.gpkg"
    g.iloc[[0, 1]].to_file(good, driver="GPKG")
    r = runner.invoke(app, ["fields", "validate", str(good), "--rejects", str(tmp_path / "none.csv")])
    assert r.exit_code == 0 and "0 rows rejected" in r.stdout, r.stdout + r.stderr
    (tmp_path / "none.csv").unlink()
    good.unlink()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f.gpkg", "rejects.csv"]
    r = runner.invoke(app, ["fields", "validate", str(p), "--rejects", str(out), "--strict"])
    assert r.exit_code == 2 and "give one of them" in r.stderr
    r = runner.invoke(app, ["fields", "validate", str(p), "--rejects", str(p)])
    assert r.exit_code == 2 and "is the --fields file" in r.stderr


def test_validate_rejects_exit_1_only_for_rows_of_the_season(tmp_path: Path) -> None:
    """(A review.) `--season S --rejects`: a row of another season set aside (a negative area, found before the
    season is chosen) leaves the run of S not partial (exit 0, the rejects file still lists it — a multi-season file
    would report partial forever); a row of S, or of a season that cannot be read, exit 1."""
    boxes = [box(i * 200, 0, i * 200 + 100, 100) for i in range(3)]
    g = gpd.GeoDataFrame({"field_id": ["a", "b", "c"], "season": ["2024", "2024", "2023"],
                          "farmer_token": ["T1", "T2", "T3"], "declared_area_ha": [1.0, 1.0, -1.0],
                          "geometry": boxes}, crs=32614)
    p, out = tmp_path / "f.gpkg", tmp_path / "rejects.csv"
    g.to_file(p, driver="GPKG")
    r = runner.invoke(app, ["fields", "validate", str(p), "--season", "2024", "--rejects", str(out)])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "1 rows rejected" in r.stdout and out.read_text().splitlines()[1].startswith("row 3,c,2023,T3,")
    for season in ("2024", "2O24"):
        g.loc[2, "season"] = season
        g.to_file(p, driver="GPKG")
        r = runner.invoke(app, ["fields", "validate", str(p), "--season", "2024", "--rejects", str(out)])
        assert r.exit_code == 1, (season, r.stdout + r.stderr)
