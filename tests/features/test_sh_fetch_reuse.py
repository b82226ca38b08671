"""A scene folder fetched before is reused by a later fetch or read only for what it holds: the same window fetched
again with other fields, ``--max-cloud``, endpoint or resolution is refused before any request (it overwrote the
folder), and a folder used for days its fetched windows do not cover is refused like one with missing dates."""

from __future__ import annotations

import csv
import json
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
    other_ground = (r"its box 14Nc000t00 covers other ground \(other fields or resolution; fetch the fields of both "
                    r"fetches together\)")
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



def test_the_days_no_fetched_window_covers(tmp_path):
    """A folder's fetched windows (sentinelhub.json) against the window a run asks for: the days after the fetch's
    end, before its start and between two windows are not covered; adjoining windows are one; a folder not written
    by a fetch (or a note without windows) has nothing to check."""
    import json

    from features._fetch_gaps import unfetched_spans

    d = date.fromisoformat
    note = tmp_path / "sentinelhub.json"
    note.write_text(json.dumps({"source": "sentinelhub", "windows": [["2009-05-15", "2009-06-30"],
                                                                     ["2009-07-01", "2009-07-31"],
                                                                     ["2009-09-01", "2009-09-10"]]}))
    assert unfetched_spans(tmp_path, d("2009-05-15"), d("2009-07-31")) == []
    assert unfetched_spans(tmp_path, d("2009-05-01"), d("2009-09-30")) == [
        (d("2009-05-01"), d("2009-05-14")), (d("2009-08-01"), d("2009-08-31")), (d("2009-09-11"), d("2009-09-30"))]
    assert unfetched_spans(tmp_path, d("2009-06-01"), d("2009-08-05")) == [(d("2009-08-01"), d("2009-08-05"))]
    assert unfetched_spans(tmp_path / "index.csv", d("2009-06-01"), d("2009-08-05")) == [
        (d("2009-08-01"), d("2009-08-05"))]  # an index.csv: its folder's note
    assert unfetched_spans(tmp_path, d("2009-08-05"), d("2009-06-01")) == []  # an as-of before the season
    note.write_text(json.dumps({"source": "sentinelhub", "start": "2009-05-15", "end": "2009-07-31"}))  # older note
    assert unfetched_spans(tmp_path, d("2009-05-15"), d("2009-08-01")) == [(d("2009-08-01"), d("2009-08-01"))]
    note.write_text(json.dumps({"missing": [{"date": "2009-06-01", "tile_id": "T", "reason": "HTTP 500"}]}))
    assert unfetched_spans(tmp_path, d("2009-05-15"), d("2009-09-30")) == []
    note.unlink()
    assert unfetched_spans(tmp_path, d("2009-05-15"), d("2009-09-30")) == []


@responses.activate
def test_a_series_read_beyond_the_fetched_window_says_so(tmp_path):
    """`features series` on a folder fetched up to an earlier date read the season's later days as if nothing had
    been acquired, without a word: it warns now, naming the folder's window and the days it lacks."""
    import json

    from features.series import build_series

    add_token()
    add_catalog(days=("2023-06-01", "2023-06-06"))
    add_process()
    out = tmp_path / "o"
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), out, cache_dir=tmp_path / "c", retry=FAST)
    fields = make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    res = build_series(fields, out, "2023", start=date(2023, 6, 1), end=date(2023, 6, 10), variables=("NDVI",))
    said = [w for w in res.warnings if "fetched from Sentinel Hub" in w]
    assert said == [f"scene folder {out} was fetched from Sentinel Hub for 2023-06-01 to 2023-06-03 (its "
                    "sentinelhub.json), not for 2023-06-04 to 2023-06-10 of the window asked (2023-06-01 to "
                    f"2023-06-10): the series lacks their acquisitions — complete it with `agcredit imagery fetch "
                    f"--fields <its fields> --season <its season> --out {out} --as-of 2023-06-10` (the fields and "
                    "season it was fetched for; the scenes it holds come from the cache)"]
    note = json.loads((out / "sentinelhub.json").read_text())  # another endpoint: the advice names it (a review
    (out / "sentinelhub.json").write_text(json.dumps({**note, "endpoint": "profile https://sh.example"}))  # was refused)
    res = build_series(fields, out, "2023", start=date(2023, 6, 1), end=date(2023, 6, 10), variables=("NDVI",))
    assert any("--as-of 2023-06-10 --endpoint profile --profile <the profile it was fetched with>`" in w
               for w in res.warnings)
    (out / "sentinelhub.json").write_text(json.dumps(note))
    res = build_series(fields, out, "2023", start=date(2023, 6, 1), end=date(2023, 6, 10), as_of=date(2023, 6, 3),
                       variables=("NDVI",))
    assert not [w for w in res.warnings if "fetched from Sentinel Hub" in w]


def test_a_box_added_by_a_fetch_of_a_shorter_window_is_not_taken_for_fetched_to_the_folder_s_end(tmp_path):
    """A review: fields fetched to 2009-09-15, then fields elsewhere (a new box) to 2009-07-31 into the same folder:
    the folder's windows reached 2009-09-15, so a build as of 2009-09-15 read the new box's fields as not sown
    (0 ha) without a word. Each box's windows are recorded (`tile_windows`); only the days every box covers count."""
    import json

    from features._fetch_gaps import fetched_windows, unfetched_spans

    d = date.fromisoformat
    note = {"source": "sentinelhub", "windows": [["2009-05-15", "2009-07-31"], ["2009-05-15", "2009-09-15"]],
            "tile_windows": {"44Nc000t00": [["2009-05-15", "2009-09-15"]], "44Nc001t00": [["2009-05-15", "2009-07-31"]]}}
    (tmp_path / "sentinelhub.json").write_text(json.dumps(note))
    assert fetched_windows(tmp_path) == [(d("2009-05-15"), d("2009-07-31"))]
    assert unfetched_spans(tmp_path, d("2009-05-15"), d("2009-09-15")) == [(d("2009-08-01"), d("2009-09-15"))]
    note["tile_windows"]["44Nc001t00"].append(["2009-08-01", "2009-09-15"])  # completed: adjoining windows joined
    (tmp_path / "sentinelhub.json").write_text(json.dumps(note))
    assert unfetched_spans(tmp_path, d("2009-05-15"), d("2009-09-15")) == []
    note["tile_windows"] = {"A": [["2009-05-15", "2009-06-30"]], "B": [["2009-07-01", "2009-09-15"]]}  # no common day
    (tmp_path / "sentinelhub.json").write_text(json.dumps(note))
    assert fetched_windows(tmp_path) == [] and unfetched_spans(tmp_path, d("2009-06-01"), d("2009-06-05")) == [
        (d("2009-06-01"), d("2009-06-05"))]


@responses.activate
def test_each_fetch_records_the_windows_of_the_boxes_it_fetched(tmp_path):
    """The write side of the above: a fetch records its window for the boxes it fetched; a later window of the
    same boxes adds to theirs; a note written before boxes' windows were kept gives each of its boxes every window."""
    import json

    add_token()
    add_catalog()
    add_process()
    out, cache = tmp_path / "s", tmp_path / "c"
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 2), out, cache_dir=cache, retry=FAST)
    note = json.loads((out / "sentinelhub.json").read_text())
    assert note["tile_windows"] == {t: [["2023-06-01", "2023-06-02"]] for t in note["tiles"]}
    del note["tile_windows"]  # as an earlier release wrote it
    (out / "sentinelhub.json").write_text(json.dumps(note))
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), out, cache_dir=cache, retry=FAST)
    note = json.loads((out / "sentinelhub.json").read_text())
    assert note["tile_windows"] == {t: [["2023-06-01", "2023-06-02"], ["2023-06-01", "2023-06-03"]]
                                    for t in note["tiles"]}


@responses.activate
def test_the_same_window_with_a_field_added_to_a_box_is_fetched_again_whole(tmp_path):
    """A review: a late applicant's field added to the fields of a folder's window made its box larger, and the fetch
    was refused as "covers other ground" (the fix of the overwritten folders refused every box that changed). A box
    grown over every window it had is fetched again whole: its scenes hold every field; one that shrank or moved is
    still refused."""
    add_token()
    add_catalog()
    add_process()
    out, cache = tmp_path / "s", tmp_path / "c"
    s, e = date(2023, 6, 1), date(2023, 6, 3)
    sh.fetch(make_fields().iloc[:1], s, e, out, cache_dir=cache, retry=FAST)  # f1: box 14Nc000t00
    sh.fetch(make_fields().iloc[:2], s, e, out, cache_dir=cache, retry=FAST)  # f1 and f2: that box grown, accepted
    assert {r["tile_id"] for r in _index_rows(out)} == {"14Nc000t00"}
    with pytest.raises(UserInputError, match=r"covers other ground"):
        sh.fetch(make_fields().iloc[:1], s, e, out, cache_dir=cache, retry=FAST)  # shrunk back: refused


@responses.activate
def test_an_acquisition_published_since_inside_a_window_fetched_before_is_warned(tmp_path):
    """A review: a scene Sentinel Hub published after a checkpoint was decided on the folder joined its window
    without a word (`imagery fetch` exit 0, `tiles: 1, acquisition dates: 27`), and the checkpoint's replay then
    differed on three lines. The fetch names the acquisitions new inside the windows fetched before."""
    from tests.features.test_sentinelhub import CATALOG_URL

    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    out, cache = tmp_path / "s", tmp_path / "c"
    first = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), out, cache_dir=cache, retry=FAST)
    assert first.summary.warnings == []
    responses.remove(responses.POST, CATALOG_URL)
    add_catalog(days=("2023-06-01", "2023-06-02", "2023-06-05"))  # 06-02 published since; 06-05 after the window
    later = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 6), out, cache_dir=cache, retry=FAST)
    boxes = sorted(json.loads((out / "sentinelhub.json").read_text())["tiles"])
    said = [w for w in later.summary.warnings if "published since" in w]
    assert said == [f"{len(boxes)} acquisition(s) inside the window(s) this folder was fetched for before are new "
                    f"(published since): {', '.join(f'2023-06-02 {b}' for b in boxes)} ({len(boxes)} in all) — runs "
                    "made on the folder before did not see them, and `audit replay` of their records will differ"]
    assert "2023-06-05" not in said[0]
    again = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 6), out, cache_dir=cache, retry=FAST)
    assert not [w for w in again.summary.warnings if "published since" in w]  # held now
