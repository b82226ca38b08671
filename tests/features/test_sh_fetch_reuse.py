"""A scene folder fetched before is reused by a later fetch only for what it holds: the same window fetched again
with other fields, ``--max-cloud``, endpoint or resolution is refused before any request (it overwrote the
folder)."""

from __future__ import annotations

import csv
from datetime import date

import pytest
import responses

from features.errors import UserInputError
from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import (  # noqa: F401 - _sh: the credentials and session fixture
    FAST,
    _sh,
    add_catalog,
    add_process,
    add_token,
    make_fields,
)


def _index_rows(out):
    return list(csv.DictReader((out / "index.csv").read_text().splitlines()))


@responses.activate
def test_the_same_window_with_other_fields_cloud_endpoint_or_resolution_is_refused_before_any_request(tmp_path):
    """`imagery fetch` of the same window again with other fields, --max-cloud, endpoint or resolution overwrote the
    folder: the index named only the second fetch's scenes (the first's GeoTIFFs left unindexed, boxes of one name
    overwritten). The folder's endpoint, max_cloud and boxes are now checked before the same-window re-run."""
    add_token()
    add_catalog()
    add_process()
    out, cache = tmp_path / "s", tmp_path / "c"
    s, e = date(2023, 6, 1), date(2023, 6, 3)
    sh.fetch(make_fields(), s, e, out, cache_dir=cache, retry=FAST)
    before = (out / "index.csv").read_bytes()
    calls = len(responses.calls)
    other_ground = r"its box 14Nc000t00 covers other ground \(other fields or resolution\)"
    refusals = [
        (dict(fields=make_fields(), max_cloud=0.5), r"its scenes were fetched with max_cloud 1.0, not 0.5"),
        (dict(fields=make_fields(), resolution=20.0), other_ground),
        (dict(fields=make_fields(), endpoint="sinergise"), r"its scenes come from endpoint cdse, not sinergise"),
        (dict(fields=make_fields().iloc[2:]), other_ground),
    ]
    for kw, says in refusals:
        with pytest.raises(UserInputError, match=rf"out {out}: already holds scenes for 2023-06-01 to 2023-06-03 "
                                                 rf"and {says}; fetch 2023-06-01 to 2023-06-03 into another folder"):
            sh.fetch(start=s, end=e, out_dir=out, cache_dir=cache, retry=FAST, **kw)
    assert len(responses.calls) == calls and (out / "index.csv").read_bytes() == before
    # the same window and boxes: a re-run (nothing new); fewer of the same boxes: merged, the others' scenes kept
    assert sh.fetch(make_fields(), s, e, out, cache_dir=cache, retry=FAST).summary.requests == 0
    assert (out / "index.csv").read_bytes() == before
    sh.fetch(make_fields().iloc[:2], s, e, out, cache_dir=cache, retry=FAST)
    rows = _index_rows(out)
    assert len(rows) == 2 and sorted(r["path"] for r in rows) == sorted(
        str(p.relative_to(out)) for p in out.rglob("*.tif"))


