"""A 403 or a 429 midway through a multi-acquisition Sentinel Hub fetch (HTTP mocked with ``responses``, offline).

A 429 still refused after the client's retries, or a 403 (Sentinel Hub's answer to a valid token whose processing
units are used up), midway through a fetch raised :class:`SentinelHubQuotaError` at once: nothing was written, the
acquisitions fetched so far reached no folder. Now a 429 is one failed acquisition like a 500 (skipped, named,
recorded missing with its cause; a re-run asks for it alone), and a 403 after some scenes stops the requests (they
would all be refused), writes what was fetched and records the rest missing with the cause; a 403 before any scene
stays the one-line quota error (exit 2)."""
from __future__ import annotations

import csv
import json
from datetime import date

import pytest
import responses

from features.errors import ImageryError
from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import (  # noqa: F401
    CATALOG_URL,
    FAST,
    PROCESS_URL,
    SECRET,
    STATS_URL,
    _sh,
    add_catalog,
    add_process,
    add_token,
    make_fields,
    n_calls,
    process_callback,
    stats_body,
)

DAYS = ("2023-06-01", "2023-06-06")


def add_process_answering(status: int, *, on_days: set[str] | None = None, after: int | None = None,
                          message: str = "quota") -> None:
    """The Process API answering ``status`` for the acquisitions of ``on_days``, or for every request after the first
    ``after`` ones; a GeoTIFF otherwise."""
    ok = process_callback()
    state = {"n": 0}

    def cb(request):  # type: ignore[no-untyped-def]
        state["n"] += 1
        day = json.loads(request.body)["input"]["data"][0]["dataFilter"]["timeRange"]["from"][:10]
        if (on_days is not None and day in on_days) or (after is not None and state["n"] > after):
            return status, {}, json.dumps({"error": {"status": status, "message": message}})
        return ok(request)

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")


def _dates(out) -> set[str]:  # type: ignore[no-untyped-def]
    with open(out / "index.csv", newline="") as fh:
        return {r["date"] for r in csv.DictReader(fh)}


def _tiles(out) -> set[str]:  # type: ignore[no-untyped-def]
    with open(out / "index.csv", newline="") as fh:
        return {r["tile_id"] for r in csv.DictReader(fh)}


@responses.activate
def test_a_429_after_the_retries_is_skipped_recorded_and_fetched_alone_on_a_re_run(tmp_path):
    add_token()
    add_catalog(days=DAYS)
    add_process_answering(429, on_days={"2023-06-06"}, message="rate limit")
    out, kw = tmp_path / "o", {"cache_dir": tmp_path / "c", "retry": FAST, "partial": True}
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert res.summary.scenes == 2 and res.summary.acquisitions == 4 and len(res.summary.missing) == 2
    assert all(m.startswith("2023-06-06 tile ") and "HTTP 429" in m for m in res.summary.missing)
    assert _dates(out) == {"2023-06-01"}
    note = json.loads((out / "sentinelhub.json").read_text())
    assert [(m["date"], m["tile_id"]) for m in note["missing"]] == [("2023-06-06", "14Nc000t00"),
                                                                    ("2023-06-06", "14Nc001t00")]
    assert all("HTTP 429" in m["reason"] and SECRET not in m["reason"] for m in note["missing"])
    before = n_calls(PROCESS_URL)
    responses.remove(responses.POST, PROCESS_URL)
    add_process()
    healed = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert n_calls(PROCESS_URL) - before == 2 and healed.summary.scenes == 4 and not healed.summary.missing
    assert "missing" not in json.loads((out / "sentinelhub.json").read_text())
    # the all-or-nothing front (the feature path): a 429 is one failed acquisition too, named, nothing written
    responses.remove(responses.POST, PROCESS_URL)
    add_process_answering(429, on_days={"2023-06-06"}, message="rate limit")
    with pytest.raises(ImageryError, match=r"2 of 4 acquisitions could not be downloaded \(nothing was written; 2 "
                                           r"downloaded are cached.*2023-06-06 tile 14Nc000t00 \(HTTP 429"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "w", cache_dir=tmp_path / "c2",
                 retry=FAST)


@responses.activate
def test_a_403_midway_stops_writes_what_was_fetched_and_a_re_run_fetches_only_the_rest(tmp_path):
    add_token()
    add_catalog(days=DAYS)
    add_process_answering(403, after=2, message="You have exceeded your processing units")
    out, kw = tmp_path / "o", {"cache_dir": tmp_path / "c", "retry": FAST, "partial": True}
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert n_calls(PROCESS_URL) == 3  # two scenes, one 403: no request after it (it would be refused too)
    assert res.summary.scenes == 2 and res.summary.acquisitions == 4 and len(res.summary.missing) == 2
    assert res.summary.stopped == "HTTP 403: You have exceeded your processing units"
    assert _tiles(out) == {"14Nc000t00"} and len(list((tmp_path / "c").rglob("process/*/*.tif"))) == 2
    note = json.loads((out / "sentinelhub.json").read_text())  # box by box: the second box's acquisitions
    assert [(m["date"], m["tile_id"]) for m in note["missing"]] == [("2023-06-01", "14Nc001t00"),
                                                                    ("2023-06-06", "14Nc001t00")]
    assert all("HTTP 403: You have exceeded your processing units" in m["reason"] for m in note["missing"])
    assert note["missing"][0]["reason"] == "HTTP 403: You have exceeded your processing units"
    assert note["missing"][1]["reason"].startswith("not requested after")
    assert "stopped by the service" in res.summary.render()
    # the processing units are back: a re-run asks for the two missing ones only
    before = n_calls(PROCESS_URL)
    responses.remove(responses.POST, PROCESS_URL)
    add_process()
    healed = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert n_calls(PROCESS_URL) - before == 2 and healed.summary.scenes == 4 and not healed.summary.missing
    assert not healed.summary.stopped and _tiles(out) == {"14Nc000t00", "14Nc001t00"}
    assert "missing" not in json.loads((out / "sentinelhub.json").read_text())


@responses.activate
def test_a_403_before_any_scene_stays_the_quota_error_and_writes_nothing(tmp_path):
    add_token()
    add_catalog(days=DAYS)
    add_process_answering(403, after=0)
    out = tmp_path / "o"
    with pytest.raises(sh.SentinelHubQuotaError, match=r"HTTP 403: quota\).*not fetched: dates 2023-06-01, "
                                                       r"2023-06-06"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, cache_dir=tmp_path / "c", retry=FAST,
                 partial=True)
    assert n_calls(PROCESS_URL) == 1 and not (out / "index.csv").exists()


@responses.activate
def test_a_statistical_429_is_one_failed_field_the_others_fetched_and_cached(tmp_path):
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    for _ in range(FAST.attempts):
        responses.add(responses.POST, STATS_URL, status=429, json={"error": {"message": "rate limit"}})
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    with pytest.raises(ImageryError, match=r"statistics failed for .*\(2 fields done and cached\); fields: f2 \(HTTP "
                                           r"429"):
        sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "c",
                            retry=FAST)
    assert len(list((tmp_path / "c").rglob("stats/*/*.json"))) == 2


def _rows(out) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with open(out / "index.csv", newline="") as fh:
        return sorted((r["date"], r["tile_id"]) for r in csv.DictReader(fh))


@responses.activate
def test_a_403_midway_still_serves_the_cached_acquisitions_after_it_and_the_index_keeps_them(tmp_path):
    """A re-run meeting a 403 recorded every acquisition after it "not requested" — the cached ones too — and
    rewrote the folder's index without them: scenes it already had were lost. After a 403 only the cache is read:
    what is cached is served (no request), only what would need a request is missing."""
    add_token()
    add_catalog(days=DAYS)
    add_process_answering(500, on_days={"2023-06-06"}, message="boom")
    out, kw = tmp_path / "o", {"cache_dir": tmp_path / "c", "retry": FAST, "partial": True}
    first = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert first.summary.scenes == 2 and _rows(out) == [("2023-06-01", "14Nc000t00"), ("2023-06-01", "14Nc001t00")]
    responses.remove(responses.POST, PROCESS_URL)
    add_process_answering(403, after=0, message="out of processing units")
    before = n_calls(PROCESS_URL)
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert n_calls(PROCESS_URL) - before == 1  # the 403; nothing asked after it
    assert res.summary.scenes == 2 and res.summary.cache_hits >= 2
    assert _rows(out) == [("2023-06-01", "14Nc000t00"), ("2023-06-01", "14Nc001t00")]  # the index keeps both
    note = json.loads((out / "sentinelhub.json").read_text())
    assert [(m["date"], m["tile_id"]) for m in note["missing"]] == [("2023-06-06", "14Nc000t00"),
                                                                    ("2023-06-06", "14Nc001t00")]
    assert note["missing"][0]["reason"] == "HTTP 403: out of processing units"
    assert note["missing"][1]["reason"] == "not requested after HTTP 403: out of processing units"
    assert res.summary.stopped == "HTTP 403: out of processing units" and len(res.summary.missing) == 2


@responses.activate
def test_a_403_on_the_first_request_with_later_acquisitions_cached_writes_those(tmp_path):
    """The 403 before any scene was fetched, but later acquisitions are in the cache: a partial fetch writes them
    (without partial: the quota error naming what was not fetched, nothing written)."""
    add_token()
    add_catalog(days=DAYS)
    add_process_answering(403, on_days={"2023-06-01"}, message="quota")
    kw = {"cache_dir": tmp_path / "c", "retry": FAST}
    with pytest.raises(sh.SentinelHubQuotaError, match=r"not fetched: dates 2023-06-01, 2023-06-06"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "w", **kw)
    # the first request (06-01) refused; 06-06 of both boxes are cached by a partial fetch of 06-06 alone
    responses.remove(responses.POST, PROCESS_URL)
    add_process()
    responses.remove(responses.POST, CATALOG_URL)
    add_catalog(days=("2023-06-06",))
    sh.fetch(make_fields(), date(2023, 6, 6), date(2023, 6, 6), tmp_path / "six", **kw)
    responses.remove(responses.POST, CATALOG_URL)
    add_catalog(days=DAYS)
    responses.remove(responses.POST, PROCESS_URL)
    add_process_answering(403, after=0, message="quota")
    before = n_calls(PROCESS_URL)
    out = tmp_path / "o"
    with pytest.raises(sh.SentinelHubQuotaError, match=r"not fetched: dates 2023-06-01, 2023-06-06"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)
    assert not (out / "index.csv").exists()
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, partial=True, **kw)
    assert n_calls(PROCESS_URL) - before == 2  # one 403 a run
    assert _rows(out) == [("2023-06-06", "14Nc000t00"), ("2023-06-06", "14Nc001t00")]
    assert [m.split(" (")[0] for m in res.summary.missing] == ["2023-06-01 tile 14Nc000t00",
                                                               "2023-06-01 tile 14Nc001t00"]
