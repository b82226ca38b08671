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

from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import FAST, STATS_URL, _sh, add_token, make_fields, n_calls  # noqa: F401


def add_daily_stats() -> list[tuple[str, str]]:
    """A Statistical API answering, for any window, one interval per acquisition day in it (every 3rd day of June
    and July), values set by the day and the field's box, so that two windows' answers agree on their common days;
    returns the (from, to) of each request."""
    asked: list[tuple[str, str]] = []

    def cb(request):  # type: ignore[no-untyped-def]
        agg = json.loads(request.body)["aggregation"]
        lo, hi = agg["timeRange"]["from"][:10], agg["timeRange"]["to"][:10]
        asked.append((lo, hi))
        x0 = json.loads(request.body)["input"]["bounds"]["geometry"]["coordinates"][0][0][0]
        data = []
        d = date.fromisoformat(lo)
        while d < date.fromisoformat(hi):
            if d.day % 3 == 1:
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
    assert later.summary.reused_windows == 3 and later.summary.cache_hits == 3 and whole.summary.reused_windows == 0
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
    monkeypatch.setattr(sh, "_today", lambda: date(2023, 7, 5), raising=False)  # a checkpoint of a season in progress
    first = _stats(cache, date(2023, 6, 1), date(2023, 7, 5))
    assert asked == [("2023-06-01", "2023-07-06")] * 3
    until = date(2023, 7, 5) - timedelta(days=sh.SETTLED_AFTER_DAYS)
    asked.clear()
    monkeypatch.setattr(sh, "_today", lambda: date(2023, 7, 19), raising=False)  # two weeks later, the next checkpoint
    second = _stats(cache, date(2023, 6, 1), date(2023, 7, 19))
    assert asked == [(str(until + timedelta(days=1)), "2023-07-20")] * 3 and second.summary.reused_windows == 3
    assert first.series.equals(second.series[second.series["date"] <= "2023-07-05"].reset_index(drop=True))
    assert second.series.equals(_stats(tmp_path / "one", date(2023, 6, 1), date(2023, 7, 19)).series)


@responses.activate
def test_a_cached_window_with_a_failed_interval_in_its_settled_days_is_not_kept(tmp_path, monkeypatch):
    """Failed intervals are never cached: the settled days of an unsettled window are kept only without one."""
    add_token()
    monkeypatch.setattr(sh, "_today", lambda: date(2023, 7, 5), raising=False)
    bad = {"data": [{"interval": {"from": "2023-06-10T00:00:00Z", "to": "2023-06-11T00:00:00Z"},
                     "error": {"type": "TIMEOUT"}}], "status": "OK"}
    responses.add(responses.POST, STATS_URL, json=bad)
    _stats(tmp_path / "c", date(2023, 6, 1), date(2023, 7, 5))
    assert not list((tmp_path / "c").rglob("stats/*/*.json")) and not list((tmp_path / "c").rglob("stats-windows/*"))
