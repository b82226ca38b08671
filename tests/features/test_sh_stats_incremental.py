"""The Statistical API asked only for the days after an earlier window in the cache (HTTP mocked, offline).

When the as-of date moved forward (a later checkpoint), a field's Statistical request covered the whole new window
and missed the cache: every day since the season's start was asked (and charged) again. Now the answer of the
latest earlier window of the same request in the cache is reused and only the days after it are asked; the series
is the same as one request for the whole window. A window not yet settled caches its settled days (the window
ending on the last of them), so the next checkpoint of a season in progress asks only for what is new."""
from __future__ import annotations

import json
from datetime import date, timedelta

import responses

from features.sources import _sh_answers
from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import (  # noqa: F401
    CATALOG_URL,
    FAST,
    STATS_URL,
    _sh,
    add_token,
    make_fields,
    n_calls,
)


def _acquired(d: date, late: set[str]) -> bool:
    """The mocked service's acquisition days: every 3rd day of June and July, and the ``late`` ones."""
    return d.day % 3 == 1 or str(d) in late


class _Both(set):  # type: ignore[type-arg]
    """The union of two sets, read live (``late`` may be filled after the mock is set up)."""

    def __init__(self, a: set[str], b: set[str]) -> None:
        super().__init__()
        self.a, self.b = a, b

    def __contains__(self, x: object) -> bool:
        return x in self.a or x in self.b


def add_daily_catalog(late: set[str] | None = None) -> None:
    """A Catalog API listing, for any window, the acquisition days of :func:`add_daily_stats` (one page)."""
    late = late if late is not None else set()

    def cb(request):  # type: ignore[no-untyped-def]
        lo, hi = (x[:10] for x in json.loads(request.body)["datetime"].split("/"))
        d, feats = date.fromisoformat(lo), []
        while d < date.fromisoformat(hi):
            if _acquired(d, late):
                feats.append({"id": f"S2A_{d}", "properties": {"datetime": f"{d}T17:25:31Z", "eo:cloud_cover": 10.0}})
            d += timedelta(days=1)
        return 200, {}, json.dumps({"features": feats, "context": {"returned": len(feats)}})

    responses.add_callback(responses.POST, CATALOG_URL, callback=cb, content_type="application/json")


def add_daily_stats(late: set[str] | None = None, failing: set[str] | None = None,
                    unseen: set[str] | None = None) -> list[tuple[str, str]]:
    """A Statistical API answering, for any window, one interval per acquisition day in it (every 3rd day of June
    and July, and the days of ``late`` — a set the test may fill later: a product ingested late), values set by the
    day and the field's box, so that two windows' answers agree on their common days; the days of ``failing`` are
    failed intervals. Returns the (from, to) of each request; the Catalog API lists the same days, and those of
    ``unseen`` (acquisitions over the field's box that its polygon does not see: no interval)."""
    asked: list[tuple[str, str]] = []
    late = late if late is not None else set()
    failing = failing if failing is not None else set()
    add_daily_catalog(_Both(late, unseen or set()))

    def cb(request):  # type: ignore[no-untyped-def]
        agg = json.loads(request.body)["aggregation"]
        lo, hi = agg["timeRange"]["from"][:10], agg["timeRange"]["to"][:10]
        asked.append((lo, hi))
        x0 = json.loads(request.body)["input"]["bounds"]["geometry"]["coordinates"][0][0][0]
        data = []
        d = date.fromisoformat(lo)
        while d < date.fromisoformat(hi):
            if str(d) in failing:
                data.append({"interval": {"from": f"{d}T00:00:00Z", "to": f"{d + timedelta(days=1)}T00:00:00Z"},
                             "error": {"type": "TIMEOUT"}})
            elif _acquired(d, late):
                m = round(0.2 + d.timetuple().tm_yday / 1000 + (x0 % 1000) / 1e5, 6)
                stats = {"min": 0.0, "max": 1.0, "mean": m, "stDev": 0.05, "sampleCount": 40,
                         "noDataCount": d.day % 4,
                         "percentiles": {"10.0": m - 0.1, "50.0": m, "90.0": m + 0.1}}
                data.append({"interval": {"from": f"{d}T00:00:00Z", "to": f"{d + timedelta(days=1)}T00:00:00Z"},
                             "outputs": {"NDVI": {"bands": {"B0": {"stats": stats}}}}})
            d += timedelta(days=1)
        return 200, {"x-processingunits-spent": "0.01"}, json.dumps({"data": data, "status": "OK"})

    responses.add_callback(responses.POST, STATS_URL, callback=cb, content_type="application/json")
    return asked


def _stats(cache, start: date, end: date) -> sh.StatsResult:  # type: ignore[no-untyped-def]
    return sh.fetch_statistics(make_fields(), "2023", start, end, cache_dir=cache, retry=FAST)


@responses.activate
def test_a_later_checkpoint_asks_only_for_the_days_after_the_cached_window(tmp_path):
    add_token()
    asked = add_daily_stats()
    whole = _stats(tmp_path / "one", date(2023, 6, 1), date(2023, 7, 20))  # one request per field, a fresh cache
    assert asked == [("2023-06-01", "2023-07-21")] * 3
    asked.clear()
    cache = tmp_path / "c"
    early = _stats(cache, date(2023, 6, 1), date(2023, 6, 30))
    assert asked == [("2023-06-01", "2023-07-01")] * 3
    asked.clear()
    later = _stats(cache, date(2023, 6, 1), date(2023, 7, 20))  # the as-of date moved forward
    assert asked == [("2023-07-01", "2023-07-21")] * 3  # the new days only
    assert later.summary.reused_windows == 3 and later.summary.cache_hits == 0 and whole.summary.reused_windows == 0
    assert "reused from the cache (only the days after it asked): 3 fields" in later.summary.render()
    assert later.series.equals(whole.series)  # the same series as one request for the whole window
    assert early.series.equals(whole.series[whole.series["date"] <= "2023-06-30"].reset_index(drop=True))
    asked.clear()
    again = _stats(cache, date(2023, 6, 1), date(2023, 7, 20))  # the whole window is cached now
    assert asked == [] and again.series.equals(whole.series) and again.summary.reused_windows == 0
    asked.clear()
    other = _stats(cache, date(2023, 6, 2), date(2023, 7, 25))  # another first day: nothing reused
    assert asked == [("2023-06-02", "2023-07-26")] * 3 and other.summary.reused_windows == 0
    asked.clear()
    latest = _stats(cache, date(2023, 6, 1), date(2023, 7, 28))  # the latest earlier window is the one reused
    assert asked == [("2023-07-21", "2023-07-29")] * 3
    assert latest.series.equals(_stats(tmp_path / "two", date(2023, 6, 1), date(2023, 7, 28)).series)


@responses.activate
def test_a_season_in_progress_caches_its_settled_days_for_the_next_checkpoint(tmp_path, monkeypatch):
    add_token()
    asked = add_daily_stats()
    cache = tmp_path / "c"
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 5))  # a checkpoint of a season in progress
    first = _stats(cache, date(2023, 6, 1), date(2023, 7, 5))
    assert asked == [("2023-06-01", "2023-07-06")] * 3
    until = date(2023, 7, 5) - timedelta(days=sh.SETTLED_AFTER_DAYS)
    asked.clear()
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 19))  # two weeks later, the next checkpoint
    second = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [(str(until + timedelta(days=1)), "2023-07-20")] * 3 and second.summary.reused_windows == 3
    assert first.series.equals(second.series[second.series["date"] <= "2023-07-05"].reset_index(drop=True))
    assert second.series.equals(_stats(tmp_path / "one", date(2023, 6, 1), date(2023, 7, 19)).series)


@responses.activate
def test_failed_intervals_are_not_cached_on_the_base_and_tail_path(tmp_path, monkeypatch):
    """A cached head, then a tail with a failed interval: in the settled days of a window in progress the joined
    answer's head is not kept (the next checkpoint reuses the earlier head and asks the tail again); in a settled
    window the joined answer is not cached (a re-run asks the days after the head again)."""
    add_token()
    failing: set[str] = set()
    asked = add_daily_stats(failing=failing)
    cache = tmp_path / "c"
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 5))
    _stats(cache, date(2023, 6, 1), date(2023, 7, 5))  # caches its settled days: the head to 06-30
    windows = lambda: sorted({p.name for p in cache.rglob("stats-windows/*/*/*")})  # noqa: E731
    assert windows() == ["2023-06-30"]
    failing.add("2023-07-10")  # a day of the tail, settled (≤ today − 5) at the next checkpoint
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 19))
    asked.clear()
    second = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [("2023-07-01", "2023-07-20")] * 3 and second.summary.reused_windows == 3
    assert second.summary.failed_intervals == 3 and windows() == ["2023-06-30"]  # no head to 07-14 kept
    asked.clear()
    _stats(cache, date(2023, 6, 1), date(2023, 7, 19))  # asked again from the head, not from a head with a failure
    assert asked == [("2023-07-01", "2023-07-20")] * 3
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 9, 1))  # the window is settled now
    asked.clear()
    settled = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [("2023-07-01", "2023-07-20")] * 3 and settled.summary.failed_intervals == 3
    assert windows() == ["2023-06-30"]  # the joined answer, with a failed interval, is not cached
    failing.clear()
    asked.clear()
    healed = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [("2023-07-01", "2023-07-20")] * 3 and not healed.summary.failed_intervals
    assert windows() == ["2023-06-30", "2023-07-19"]
    assert healed.series.equals(_stats(tmp_path / "one", date(2023, 6, 1), date(2023, 7, 19)).series)


@responses.activate
def test_an_acquisition_ingested_late_in_a_cached_window_is_picked_up_at_the_next_checkpoint(tmp_path, monkeypatch):
    """The settled days of a window in progress are cached; a product of one of those days ingested (or reprocessed)
    more than SETTLED_AFTER_DAYS late was missing from the field's series for good. The cached window is checked
    against the acquisition days the Catalog API lists in it: a day listed now that it neither answered nor recorded
    as empty (ingested late) is asked alone — (H3) it was the whole window — and the window kept with it."""
    add_token()
    late: set[str] = set()
    asked = add_daily_stats(late=late)
    cache = tmp_path / "c"
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 5))
    first = _stats(cache, date(2023, 6, 1), date(2023, 7, 5))  # caches its settled days: the head to 06-30
    assert "2023-06-20" not in set(first.series["date"].astype(str))
    late.add("2023-06-20")  # acquired 06-20, in the archive only now (after the head was cached)
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 19))
    asked.clear()
    second = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [("2023-06-20", "2023-06-21"), ("2023-07-01", "2023-07-20")] * 3  # the new day, the new days
    assert second.summary.stale_windows == 0 and second.summary.reused_windows == 3 and second.summary.new_days == 3
    assert "newly listed in a cached window (ingested late): asked alone, the window kept: 3" in second.summary.render()
    assert "2023-06-20" in set(second.series["date"].astype(str))
    assert second.series.equals(_stats(tmp_path / "one", date(2023, 6, 1), date(2023, 7, 19)).series)
    asked.clear()
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 29))  # the next one reuses the new head
    third = _stats(cache, date(2023, 6, 1), date(2023, 7, 29))
    assert asked == [("2023-07-15", "2023-07-30")] * 3 and third.summary.reused_windows == 3
    assert third.summary.stale_windows == 0 and "2023-06-20" in set(third.series["date"].astype(str))


@responses.activate
def test_cache_hits_count_what_the_cache_served(tmp_path):
    """An unreadable cached answer read again under the lock was counted a hit (it is asked again); a reused earlier
    window was counted a hit on top of reused_windows."""
    add_token()
    asked = add_daily_stats()
    cache = tmp_path / "c"
    _stats(cache, date(2023, 6, 1), date(2023, 6, 30))
    for p in cache.rglob("stats/*/*.json"):
        p.write_bytes(b"not json")
    asked.clear()
    again = _stats(cache, date(2023, 6, 1), date(2023, 6, 30))
    assert len(asked) == 3 and again.summary.cache_hits == 0
    later = _stats(cache, date(2023, 6, 1), date(2023, 7, 20))
    assert later.summary.reused_windows == 3 and later.summary.cache_hits == 0
    whole = _stats(cache, date(2023, 6, 1), date(2023, 7, 20))
    assert whole.summary.cache_hits == 3 and whole.summary.requests == 0


@responses.activate
def test_a_catalog_day_the_polygon_does_not_see_is_asked_once_then_recorded(tmp_path, monkeypatch):
    """(H3) The Catalog API searches the field's box; an acquisition the box sees and the polygon does not (a tile's
    edge) has no interval in the Statistical answer, so "the cached window's days are the Catalog's" never held: the
    window was dropped and the whole window asked at every checkpoint. Now the day is asked alone once, its empty
    answer recorded with the window (``empty_days`` in its note), and a re-run with the same Catalog days asks only
    what is new (a day newly listed is still asked alone: the test above)."""
    add_token()
    late: set[str] = set()
    asked = add_daily_stats(late=late, unseen={"2023-06-20"})
    cache = tmp_path / "c"
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 5))
    first = _stats(cache, date(2023, 6, 1), date(2023, 7, 5))  # caches its settled days: the head to 06-30
    assert "2023-06-20" not in set(first.series["date"].astype(str))
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 19))
    asked.clear()
    second = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [("2023-06-20", "2023-06-21"), ("2023-07-01", "2023-07-20")] * 3  # not the whole window
    assert second.summary.stale_windows == 0 and second.summary.reused_windows == 3
    notes = {p.name: p.read_text() for p in cache.rglob("stats-windows/*/*/*")}
    assert sorted(notes) == ["2023-06-30", "2023-07-14"]
    assert all(json.loads(t) == {"empty_days": ["2023-06-20"]} for t in notes.values()), notes
    asked.clear()
    again = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))  # the same Catalog days: nothing before 07-15 asked
    assert asked == [("2023-07-15", "2023-07-20")] * 3 and again.summary.stale_windows == 0
    assert again.series.equals(second.series)
    assert second.series.equals(_stats(tmp_path / "one", date(2023, 6, 1), date(2023, 7, 19)).series)
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 29))  # the next checkpoint: its head
    asked.clear()                                                                  # kept the record
    third = _stats(cache, date(2023, 6, 1), date(2023, 7, 29))
    assert asked == [("2023-07-15", "2023-07-30")] * 3 and third.summary.new_days == 0


@responses.activate
def test_processing_units_of_days_asked_alone_count_when_the_main_request_then_fails(tmp_path, monkeypatch):
    """A day newly listed in a cached window is asked alone before the days after the window; when that main request
    then failed (a 5xx after the retries: the field failed; a 403: the run stopped), the processing units the
    single-day requests had spent were dropped with them — the summary under-stated what the run cost. They count."""
    import pytest

    from features.errors import ImageryError
    from features.sources._sh_io import SentinelHubQuotaError

    add_token()
    late: set[str] = set()
    add_daily_stats(late=late)
    cache = tmp_path / "c"
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 5))
    _stats(cache, date(2023, 6, 1), date(2023, 7, 5))  # caches the settled head to 06-30
    late.add("2023-06-20")  # ingested late: asked alone at the next checkpoint
    monkeypatch.setattr(_sh_answers, "_today", lambda: date(2023, 7, 19))
    seen: list[sh.FetchSummary] = []

    class Recorded(sh.FetchSummary):  # type: ignore[misc,name-defined]
        def __init__(self, *a, **k) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*a, **k)
            seen.append(self)

    monkeypatch.setattr(sh, "FetchSummary", Recorded)
    for status, error in ((500, ImageryError), (403, SentinelHubQuotaError)):
        responses.remove(responses.POST, sh_stats_url := STATS_URL)
        asked: list[tuple[str, str]] = []

        def cb(request, status=status, asked=asked):  # type: ignore[no-untyped-def]
            agg = json.loads(request.body)["aggregation"]
            lo, hi = agg["timeRange"]["from"][:10], agg["timeRange"]["to"][:10]
            asked.append((lo, hi))
            if (date.fromisoformat(hi) - date.fromisoformat(lo)).days > 1:  # the days after the window: refused
                return status, {}, json.dumps({"error": {"message": "refused"}})
            stats = {"min": 0.0, "max": 1.0, "mean": 0.5, "stDev": 0.05, "sampleCount": 40, "noDataCount": 0,
                     "percentiles": {"10.0": 0.4, "50.0": 0.5, "90.0": 0.6}}
            data = [{"interval": {"from": f"{lo}T00:00:00Z", "to": f"{hi}T00:00:00Z"},
                     "outputs": {"NDVI": {"bands": {"B0": {"stats": stats}}}}}]
            return 200, {"x-processingunits-spent": "0.25"}, json.dumps({"data": data, "status": "OK"})

        responses.add_callback(responses.POST, sh_stats_url, callback=cb, content_type="application/json")
        seen.clear()
        with pytest.raises(error):
            _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
        alone = [a for a in asked if a == ("2023-06-20", "2023-06-21")]
        assert alone and len(seen) == 1, (status, asked)
        s = seen[0]
        assert s.processing_units == pytest.approx(0.25 * len(alone)), status  # every day asked alone
        assert s.pu_reported == len(alone) and s.pu_estimated == 0
