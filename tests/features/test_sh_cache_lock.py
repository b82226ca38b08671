"""The Sentinel Hub cache's locks: a request already in the cache is read without one (a shared cache mounted
read-only — e.g. for `audit replay` — was refused with an uncaught PermissionError: a claim was taken for every
request); a lock file that cannot be created is no lock, said once; a lock another run holds is waited for a bounded
time, then a one-line error naming the cache (the wait had no bound)."""
from __future__ import annotations

import errno
import fcntl
from datetime import date
from pathlib import Path

import pytest
import responses

from features.errors import ImageryError, UserInputError
from features.sources import _sh_api, _sh_io
from features.sources import sentinelhub as sh
from features.sources._sh_io import file_lock
from tests.features.test_sentinelhub import (  # noqa: F401
    CATALOG_URL,
    FAST,
    PROCESS_URL,
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


def _read_only(monkeypatch: pytest.MonkeyPatch, root: Path, code: int = errno.EROFS) -> None:
    """Creating or opening a file for writing under ``root`` fails as on a read-only mount (tests run as root, whom
    chmod does not stop)."""
    real_open = open

    def ro_open(path, mode="r", *a, **kw):  # type: ignore[no-untyped-def]
        if str(path).startswith(str(root)) and any(c in mode for c in "wa+x"):
            raise OSError(code, "Read-only file system" if code == errno.EROFS else "Permission denied", str(path))
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr(_sh_io, "open", ro_open, raising=False)


def test_a_lock_file_that_cannot_be_created_is_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".locks").mkdir()
    for code in (errno.EROFS, errno.EACCES):
        _read_only(monkeypatch, tmp_path, code)
        with file_lock(tmp_path / ".locks" / "stats-ab.lock") as locked:
            assert locked is False
    monkeypatch.undo()
    with file_lock(tmp_path / ".locks" / "stats-ab.lock") as locked:
        assert locked is True
    _read_only(monkeypatch, tmp_path, errno.ENOSPC)  # another failure is not taken for read-only
    with pytest.raises(OSError), file_lock(tmp_path / ".locks" / "x.lock"):
        pass


def test_a_lock_held_by_another_run_is_waited_for_a_bounded_time(tmp_path: Path) -> None:
    path = tmp_path / ".locks" / "process-ab.lock"
    path.parent.mkdir()
    with open(path, "a+b") as other:  # another open file description: another run's flock
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ImageryError, match=r"Sentinel Hub cache /.*: another run holds its lock") as e, \
                file_lock(path, timeout=0.3, what=f"Sentinel Hub cache {tmp_path}"):
            pass
        assert isinstance(e.value, UserInputError) and "\n" not in str(e.value)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    with file_lock(path, timeout=0.3) as locked:  # released: taken at once
        assert locked


@responses.activate
def test_a_read_only_cache_is_read_without_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_token()
    add_catalog(days=("2023-06-01", "2023-06-06"))
    add_process()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    cache = tmp_path / "c"
    first = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o1", cache_dir=cache, retry=FAST)
    stats = sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), variables=("NDVI",),
                                cache_dir=cache, retry=FAST)
    calls = n_calls(PROCESS_URL), n_calls(STATS_URL)
    # the cache mounted read-only: every answer is in it, none needs a lock
    _read_only(monkeypatch, cache)
    monkeypatch.setattr(_sh_api, "file_lock", lambda *a, **k: pytest.fail("a cache hit took a lock"))
    again = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o2", cache_dir=cache, retry=FAST)
    st2 = sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), variables=("NDVI",),
                              cache_dir=cache, retry=FAST)
    assert (n_calls(PROCESS_URL), n_calls(STATS_URL)) == calls
    assert again.summary.scenes == first.summary.scenes and st2.series.equals(stats.series)
    assert again.summary.cache_hits >= first.summary.scenes


@responses.activate
def test_a_read_only_cache_without_the_answer_downloads_it_uncached(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    cache = tmp_path / "c"
    (cache / ".locks").mkdir(parents=True)
    _read_only(monkeypatch, cache)
    real = _sh_io.atomic_write_bytes

    def ro_write(path: Path, body: bytes) -> None:
        if str(path).startswith(str(cache)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        real(path, body)

    monkeypatch.setattr(_sh_api, "atomic_write_bytes", ro_write)
    res = sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), variables=("NDVI",),
                              cache_dir=cache, retry=FAST)
    assert len(res.series) and n_calls(STATS_URL) == 3
    said = [w for w in res.summary.warnings if "read-only" in w]
    assert len(said) == 1 and str(cache) in said[0]


@responses.activate
def test_two_runs_on_one_cache_at_once_ask_for_each_catalog_page_once(tmp_path: Path) -> None:
    """Catalog pages were looked up and fetched without the cache's lock: two runs on one cache at once both asked
    for every page (8 searches for 4 pages). Now a page missing from the cache is looked up again under its lock and
    asked for once; the other run reads what the first wrote. A page of a window not yet settled is never cached, so
    it takes no lock (no run waits for what it could not read)."""
    import json
    import threading
    import time

    add_token()
    days = ("2023-06-01", "2023-06-06")

    def slow_catalog(request):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # both runs are in flight at once
        payload = json.loads(request.body)
        feats = [{"id": f"S2A_{d}", "properties": {"datetime": f"{d}T17:25:31Z", "eo:cloud_cover": 12.0}}
                 for d in days]
        if "next" not in payload:
            return 200, {}, json.dumps({"features": feats[:1], "context": {"next": 1, "returned": 1}})
        return 200, {}, json.dumps({"features": feats[1:], "context": {"returned": 1}})

    responses.add_callback(responses.POST, CATALOG_URL, callback=slow_catalog, content_type="application/json")
    responses.add_callback(responses.POST, PROCESS_URL, callback=process_callback(), content_type="image/tiff")
    results: dict[str, sh.FetchResult] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            results[name] = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / name,
                                     cache_dir=tmp_path / "cache", retry=FAST)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert n_calls(CATALOG_URL) == 4  # 2 boxes × 2 pages, each asked for once
    assert sum(r.summary.requests for r in results.values()) == 4 + 4  # and 4 scenes, once each
    assert results["a"].summary.scenes == results["b"].summary.scenes == 4
    assert list((tmp_path / "cache" / ".locks").glob("catalog-*.lock"))


@responses.activate
def test_an_unreadable_cached_catalog_page_asked_again_is_not_a_cache_hit(tmp_path: Path) -> None:
    """A cached Catalog page that does not read was counted a hit when read again under its lock, though it is asked
    again: cache_hits counted one too many for each."""
    add_token()
    add_catalog()
    add_process()
    cache = tmp_path / "c"
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o", cache_dir=cache, retry=FAST)
    pages = list(cache.rglob("catalog/*/*.json"))
    assert len(pages) == 4  # two boxes, two pages each
    again = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o2", cache_dir=cache, retry=FAST)
    assert again.summary.cache_hits == 8 and again.summary.requests == 0  # 4 pages and 4 scenes
    for p in pages:
        p.write_bytes(b"<html>not a page</html>")
    before = n_calls(CATALOG_URL)
    bad = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o3", cache_dir=cache, retry=FAST)
    assert n_calls(CATALOG_URL) - before == 4 and bad.summary.cache_hits == 4  # the scenes only
