"""A library's warning while a fields file is read is never its text, file and source line on the run's output: a
GeoJSON of ids mixing numbers and text printed pyogrio's "Could not parse column 'field_id' as JSON" (the ids are read
as text, as every id is: nothing to say); another is one line of the log naming the file."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from features.fields import read_fields


def _geojson(tmp_path: Path) -> Path:
    p = tmp_path / "fields.geojson"
    feats = [{"type": "Feature", "properties": {"field_id": fid, "season": "2024", "farmer_token": "T1"},
              "geometry": {"type": "Polygon", "coordinates": [[[78.46 + i * 0.01, 17.44], [78.462 + i * 0.01, 17.44],
                                                               [78.462 + i * 0.01, 17.442], [78.46 + i * 0.01, 17.44]]]}}
             for i, fid in enumerate([1, "F2", 3])]
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return p


def test_mixed_number_and_text_ids_are_read_as_text_without_a_library_warning(tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = read_fields(_geojson(tmp_path))
    assert list(res.fields["field_id"]) == ["1", "F2", "3"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_another_reader_warning_is_one_line_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    original = gpd.read_file

    def saying(*args: Any, **kwargs: Any) -> gpd.GeoDataFrame:
        warnings.warn("a reader's note\nits second line", UserWarning, stacklevel=2)
        return original(*args, **kwargs)

    monkeypatch.setattr(gpd, "read_file", saying)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_fields(_geojson(tmp_path))
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == ["fields.geojson: a reader's note"]  # its first line
