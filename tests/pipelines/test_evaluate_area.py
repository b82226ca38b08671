"""evaluate_area / `agcredit evaluate area`: metrics by size class, partly planted, total, never-planted recall."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.evaluation.area import MIN_GROUP, area_metrics, evaluate_area, render_area


def _table() -> pd.DataFrame:
    n = 12
    t = pd.DataFrame({
        "field_area_ha": [0.3] * n + [1.0] * n,
        "declared_area_ha": [0.33] * n + [1.0] * n,
        "true_area_ha": [0.3] * n + [1.0] * n,
        "true_fraction": [1.0] * (2 * n),
        "events": [""] * (2 * n),
    })
    t["planted_area_ha"] = t["true_area_ha"] * 1.01
    t.loc[[0, 1], "planted_area_ha"] = np.nan  # missed by the imagery: 100% errors
    t.loc[n, ["true_area_ha", "true_fraction", "events"]] = [0.5, 0.5, "partly_planted"]
    t.loc[n + 1, ["true_area_ha", "true_fraction", "events"]] = [0.0, 0.0, "never_planted"]
    t.loc[n + 1, "planted_area_ha"] = 0.05
    t["planted_fraction"] = t["planted_area_ha"] / t["field_area_ha"]
    return t


def test_area_metrics_by_hand() -> None:
    m = area_metrics(_table())
    g = {x["group"]: x for x in m["groups"]}
    small = g["< 0.5 ha"]
    assert small["n"] == 12
    assert small["median"] == pytest.approx(0.01)
    assert small["p90"] == pytest.approx(0.01 + 0.9 * 0.99)  # sorted errors: ten at 1%, two at 100%
    assert small["baseline_median"] == pytest.approx(0.1)
    assert small["met"] is False
    assert g["0.5-2 ha"]["met"] is True
    mid = g["0.5-2 ha"]
    assert mid["n"] == 11  # the never-planted field has no true area: no relative error
    assert g["partly planted"]["n"] == 1
    assert g["partly planted"]["met"] is None  # fewer than MIN_GROUP fields: shown, not judged
    assert g["partly planted"]["median"] == pytest.approx(1.02)  # 1.01 ha estimated for 0.5 ha planted
    assert g["> 10 ha"]["n"] == 0
    assert m["never_planted"]["n"] == 1
    assert m["never_planted"]["recall"] == 1.0
    assert m["never_planted"]["baseline_recall"] == 0.0
    assert m["n_missing"] == 2
    assert m["targets_met"] is False
    tot = m["county_total"]
    assert tot["true_ha"] == pytest.approx(0.3 * 12 + 1.0 * 10 + 0.5)
    assert tot["error"] == pytest.approx(abs(tot["estimate_ha"] - tot["true_ha"]) / tot["true_ha"], rel=1e-5)
    assert MIN_GROUP > 1


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("area-cache")


def test_evaluate_area_on_tiny_county(tiny_county_sh: Path, cache: Path) -> None:
    res = evaluate_area(tiny_county_sh, cache_dir=cache)
    assert res["label"] == "synthetic"
    assert res["calibrated_on"] == ["2008"]
    assert res["n_fields"] == 12
    assert res["n_missing"] == 0
    assert res["county_total"]["error"] < 0.03
    assert res["county_total"]["error"] < res["county_total"]["baseline_error"] + 0.03
    assert res["never_planted"]["recall"] == 1.0
    text = render_area(res)
    assert "synthetic" in text
    assert "< 0.5 ha" in text


def test_cli_json_and_text(tiny_county_sh: Path, cache: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "area", "--county", str(tiny_county_sh), "--cache", str(cache), "--json"])
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == json.loads(json.dumps(evaluate_area(tiny_county_sh, cache_dir=cache)))
    r2 = runner.invoke(app, ["evaluate", "area", "--county", str(tiny_county_sh), "--cache", str(cache),
                             "--calib-seasons", "0"])
    assert r2.exit_code == 0, r2.stderr
    assert "calibrated on nothing (defaults)" in r2.stdout


def test_cli_county_without_truth(tiny_county_sh: Path, tmp_path: Path) -> None:
    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c, ignore=shutil.ignore_patterns("truth", "scenes"))
    (c / "scenes").mkdir()
    (c / "scenes" / "index.csv").write_text("date,tile_id,path,bands,scale,offset\n")
    r = CliRunner().invoke(app, ["evaluate", "area", "--county", str(c), "--calib-seasons", "0",
                                 "--cache", str(tmp_path / "cache")])
    assert r.exit_code == 2
    assert "truth" in r.stderr


def test_cli_season_without_truth_rows(tiny_county_sh: Path, cache: Path, tmp_path: Path) -> None:
    # a truth table without the evaluated season's rows printed empty tables and "all targets met", exit 0
    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c)
    t = pd.read_parquet(c / "truth" / "fields.parquet")
    t[t["season"].astype(str) != "2009"].to_parquet(c / "truth" / "fields.parquet")
    r = CliRunner().invoke(app, ["evaluate", "area", "--county", str(c), "--cache", str(cache)])
    assert r.exit_code == 2 and "all targets met" not in r.stdout
    assert "no truth row for the 12 field(s) of season 2009" in r.stderr and len(r.stderr.splitlines()) == 1


def test_synthetic_label_fails_closed(tmp_path: Path) -> None:
    from pipelines.evaluation import UNLABELLED, is_synthetic, synthetic_label

    assert UNLABELLED == "unlabelled (county.json has no synthetic flag)"
    assert synthetic_label(tmp_path) == UNLABELLED  # no county.json at all
    for meta, label in (({"region": "r"}, UNLABELLED), ({"synthetic": None}, UNLABELLED),
                        ({"synthetic": "false"}, UNLABELLED), ({"synthetic": 0}, UNLABELLED),
                        ({"synthetic": False}, "real"), ({"synthetic": True}, "synthetic")):
        (tmp_path / "county.json").write_text(json.dumps(meta))
        assert synthetic_label(tmp_path) == label, meta
        assert is_synthetic(tmp_path) is (label == "synthetic")


def test_a_county_without_the_synthetic_flag_is_never_labelled_real(tiny_county_sh: Path, cache: Path,
                                                                      tmp_path: Path) -> None:
    # review finding: a simulated county with the flag removed printed "(real) … all targets met (real)"
    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c, ignore=shutil.ignore_patterns(".cache"))
    meta = json.loads((c / "county.json").read_text())
    del meta["synthetic"]
    (c / "county.json").write_text(json.dumps(meta))
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "area", "--county", str(c), "--cache", str(cache), "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["label"] == "unlabelled (county.json has no synthetic flag)"
    r2 = runner.invoke(app, ["evaluate", "area", "--county", str(c), "--cache", str(cache)])
    assert r2.exit_code == 0, r2.stderr
    assert "(real)" not in r2.stdout and "(unlabelled (county.json has no synthetic flag))" in r2.stdout
