"""The `underwrite` summary names the crop model its records name, not the champion the run resolved."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.underwrite import NO_LINEAGE, UnderwriteResult
from tests.underwriting.test_override import decision

CHAMPION = "crop-type version 1 (champion), run f0ddc834a4534fd09d8f1c8c3e79598c"


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recorded: list[str | None]) -> str:
    items = [dataclasses.replace(d, body={**d.body, "provenance": {"crop_model_version": v} if v else {}})
             for d, v in ((decision(f"A{k}", 500_000, key=f"A{k}"), v) for k, v in enumerate(recorded))]
    res = UnderwriteResult(items=items, summary={"n": len(items), "outcomes": {"REDUCE": len(items)},
                                                 "total_limit_text": {}, "total_requested_text": {},
                                                 "top_reasons": [], "refer_reasons": []},
                           features=pd.DataFrame(), valuations=pd.DataFrame(), written=len(items),
                           models={"yield-value": "1", "crop-type": CHAMPION}, checkpoint="mid", store_url="x")

    def fake(*_a: Any, **_k: Any) -> UnderwriteResult:
        return res

    monkeypatch.setattr("pipelines.underwrite.underwrite_files", fake)
    for name in ("apps.csv", "fields.gpkg", "features.parquet"):
        (tmp_path / name).write_bytes(b"")
    r = CliRunner().invoke(app, ["underwrite", "--applications", str(tmp_path / "apps.csv"), "--fields",
                                 str(tmp_path / "fields.gpkg"), "--features", str(tmp_path / "features.parquet"),
                                 "--season", "2025", "--as-of", "2025-05-01", "--store",
                                 f"sqlite:///{tmp_path / 'd.db'}", "--no-progress", "--no-shadow"])
    assert r.exit_code == 0, r.output
    return next(line for line in r.stdout.splitlines() if line.startswith("models: "))


def test_a_features_file_without_lineage_is_said_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With a --features file without lineage the summary printed "models: yield-value 1, crop-type version 1
    (champion), run f0dd…" while every record said crop_model_version "not recorded (features file without
    lineage)"."""
    line = _run(monkeypatch, tmp_path, [NO_LINEAGE, NO_LINEAGE])
    assert line == f"models: yield-value 1, crop-type {NO_LINEAGE}"


def test_the_lineages_crop_model_and_the_run_without_records(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert _run(monkeypatch, tmp_path / "a", ["crop-type version 3 (champion), run abc"]) == \
        "models: yield-value 1, crop-type version 3 (champion), run abc"
    (tmp_path / "b").mkdir()
    assert _run(monkeypatch, tmp_path / "b", []) == f"models: yield-value 1, {CHAMPION}"  # no record: the run's
