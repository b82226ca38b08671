"""A GeoTIFF in the scene folder that no row of ``index.csv`` names is not read: said in one warning line (a
walkthrough: the 2009-08-19 row removed, its file kept, ran with exit 0 and other decisions without a word)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from features.sources.local import read_index

HEAD = "date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline\n"


def _folder(tmp_path: Path, files: list[str], rows: list[str]) -> Path:
    for f in files:  # only listed, never opened: any bytes will do
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_bytes(b"II*\x00")
    (tmp_path / "index.csv").write_text(HEAD + "".join(
        f"2009-0{i + 1}-01,T1,{r},B04;B08;SCL,0.0001,0,0,SCL,\n" for i, r in enumerate(rows)))
    return tmp_path


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "features.sources.local" and r.levelno == logging.WARNING]


def test_a_file_no_row_names_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    files = ["2009/S2_T1_20090101.tif", "2009/S2_T1_20090201.tif", "2009/S2_T1_20090819.tif", "2010/S2_T1_20100101.TIF"]
    folder = _folder(tmp_path, files, files[:2])
    assert len(read_index(folder)) == 2
    assert len(read_index(folder / "index.csv")) == 2  # read again (a run's next checkpoint): not said again
    said = _said(caplog)
    assert len(said) == 1 and "\n" not in said[0]
    assert said[0].endswith("index.csv: 2 GeoTIFF file(s) in the scene folder are named by no row of index.csv and "
                            "are not read: 2009/S2_T1_20090819.tif, 2010/S2_T1_20100101.TIF (index.csv has one row "
                            "per file: add their rows, or move them out of the folder)")


def test_many_files_are_counted_and_the_first_few_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    files = [f"2009/S2_T1_2009{m:02d}01.tif" for m in range(1, 10)]
    read_index(_folder(tmp_path, files, files[:1]))
    said = _said(caplog)
    assert len(said) == 1 and ": 8 GeoTIFF file(s)" in said[0]
    assert "S2_T1_20090201.tif, 2009/S2_T1_20090301.tif, 2009/S2_T1_20090401.tif and 5 more" in said[0]


def test_nothing_is_said_when_every_file_is_indexed_or_not_a_scene(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    files = ["2009/a.tif", "2009/b.tiff"]
    folder = _folder(tmp_path, [*files, "2009/a.tif.aux.xml", "notes.txt", ".hidden.tif", ".trash/c.tif"], files)
    read_index(folder)
    assert _said(caplog) == []


def test_a_sentinel_hub_working_folder_is_not_looked_at(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A run's fetch (merge=False) indexes its own window only: the folder's other scenes are not this run's."""
    caplog.set_level(logging.WARNING)
    folder = _folder(tmp_path, ["2009/a.tif", "2008/old.tif"], ["2009/a.tif"])
    (folder / "sentinelhub.json").write_text("{}")
    read_index(folder)
    assert _said(caplog) == []
