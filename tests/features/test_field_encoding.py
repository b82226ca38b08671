"""A Shapefile's text encoding: without a ``.cpg`` (nor a language driver byte in its ``.dbf``) GDAL reads it as
ISO-8859-1 — a UTF-8 ``é`` had become ``Ã©`` in the permanent records (exit 0), Devanagari ids were refused as
invisible characters. Such a file is read as UTF-8; one whose text is not UTF-8 is refused naming the missing .cpg."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from features.errors import FieldsError
from features.fields import read_fields


def _shapefile(tmp_path: Path, ids: list[str], encoding: str, cpg: bool) -> Path:
    p = tmp_path / "fields.shp"
    gpd.GeoDataFrame({"field_id": ids, "season": "2024", "farmer_tok": "T1",
                      "geometry": [box(500_000 + i * 300, 4_480_000, 500_200 + i * 300, 4_480_200)
                                   for i in range(len(ids))]}, crs="EPSG:32614").to_file(p, encoding=encoding)
    for cp in tmp_path.glob("fields.[cC][pP][gG]"):
        if not cpg:
            cp.unlink()
    assert p.with_suffix(".dbf").read_bytes()[29] == 0  # no language driver id either
    return p


IDS = ["Parcelle-é1", "खेत-2", "plain-3"]


@pytest.mark.parametrize("cpg", [True, False])
def test_a_utf8_shapefile_is_read_as_utf8_with_or_without_its_cpg(tmp_path: Path, cpg: bool) -> None:
    res = read_fields(_shapefile(tmp_path, IDS, "utf-8", cpg))
    assert list(res.fields["field_id"]) == IDS


def test_a_shapefile_of_another_encoding_without_cpg_is_refused_naming_it(tmp_path: Path) -> None:
    p = _shapefile(tmp_path, ["Parcelle-é1", "Parcelle-è2"], "cp1252", cpg=False)
    with pytest.raises(FieldsError, match=r"fields\.shp: its text is not UTF-8 and no fields\.cpg beside it names its "
                                          r"encoding: put beside it a \.cpg file holding the encoding's name"):
        read_fields(p)
    p.with_suffix(".cpg").write_text("1252")  # as it says
    assert list(read_fields(p).fields["field_id"]) == ["Parcelle-é1", "Parcelle-è2"]
