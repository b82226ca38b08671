"""A Process API GeoTIFF of the right shape whose georeferencing is not the requested box's is refused like any
unexpected GeoTIFF (its date had silently no rows)."""

from __future__ import annotations

import json
from datetime import date

import pytest
import responses

from features.errors import ImageryError
from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import (  # noqa: F401 - _sh: the credentials and session fixture
    FAST,
    PROCESS_URL,
    _sh,
    add_catalog,
    add_token,
    make_fields,
    tiff_bytes,
)


def _process_shifted(dx: float) -> None:
    """Process answers of the requested shape and CRS, their bounds moved ``dx`` metres east."""
    def cb(request):
        payload = json.loads(request.body)
        b = payload["input"]["bounds"]["bbox"]
        epsg = int(payload["input"]["bounds"]["properties"]["crs"].rsplit("/", 1)[-1])
        w, h = payload["output"]["width"], payload["output"]["height"]
        return 200, {}, tiff_bytes((b[0] + dx, b[1], b[2] + dx, b[3]), w, h, epsg)

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")


@responses.activate
def test_a_geotiff_placed_elsewhere_is_refused_and_not_cached(tmp_path):
    """check_tiff checked bands, dtype, size and CRS but not where the pixels are: a GeoTIFF of another box was
    cached and indexed, and its date then had no rows for the fields. Its bounds must be the box's within half a
    pixel now; a mismatch is an unexpected GeoTIFF (the fetch fails, or a partial fetch records it missing)."""
    add_token()
    add_catalog(days=("2023-06-01",))
    _process_shifted(1000.0)
    with pytest.raises(ImageryError, match=r"unexpected GeoTIFF: expected 12 bands uint16 49x24 EPSG:32614 bounds "
                                           r"\(499980.0, 4499980.0, 500470.0, 4500220.0\) \(within half a pixel\), "
                                           r"found 12 bands uint16 49x24 EPSG:32614 bounds \(500980.0, "):
        sh.fetch(make_fields().iloc[:2], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o",
                 cache_dir=tmp_path / "c", retry=FAST)
    assert not list((tmp_path / "c").rglob("process/*/*.tif")) and not (tmp_path / "o" / "index.csv").exists()
    responses.reset()
    add_token()
    add_catalog(days=("2023-06-01",))
    _process_shifted(4.0)  # less than half a 10 m pixel: the box's
    res = sh.fetch(make_fields().iloc[:2], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o",
                   cache_dir=tmp_path / "c", retry=FAST)
    assert res.summary.scenes == 1
