"""`--imagery sentinelhub-stats` on Dask (`--scheduler/--workers`): the Statistical API asked block by block on the
workers, not for the whole portfolio on the client (HTTP mocked with ``responses``, offline; the Dask workers are
threads of this process, so the mock answers them).

Each spatial block's worker asks for its own fields only (once each, none on the client) and the merged answer is one
call's: the series, the summary, the decisions byte for byte. A failing block is one machine's one-line error and
nothing is written; no credential is in the tasks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import geopandas as gpd
import pandas as pd
import pytest
import responses
from sentinelhub.download import SentinelHubDownloadClient
from shapely.geometry import box
from typer.testing import CliRunner

from features.sources import _sh_api
from features.sources import sentinelhub as sh
from pipelines.cli import app
from pipelines.monitor import AlertParams
from pipelines.reunderwrite import ScoringModels, reunderwrite
from tests.features.test_sentinelhub import STATS_URL, add_token
from tests.pipelines._reunderwrite_world import build_world, said, store_copy
from underwriting.policy import default_policy
from underwriting.store import DecisionStore

CLIENT_ID = "agc-client-dask-5c1e"
SECRET = "s3cr3t-DASK-never-in-a-task-42"
FAST = sh.Retry(attempts=2, base_delay=0.0, max_delay=0.0, sleep=lambda s: None)


@pytest.fixture(autouse=True)
def _sh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.delenv("SH_PROFILE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(_sh_api, "Retry", lambda: FAST)  # the default retries, without their waits
    yield
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()


class Recording:
    """A Dask runner (a local cluster of 2 thread workers) that keeps each map's label and its tasks pickled as the
    graph carries them."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.pickled, self.labels = inner, [], []

    def map(self, fn: Any, items: Any, **kw: Any) -> Any:
        self.labels.append(kw.get("label"))
        self.pickled.append(cloudpickle.dumps((fn, list(items), dict(kw.get("shared") or {}))))
        return self.inner.map(fn, items, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return repr(self.inner)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    from pipelines.distributed import DaskRunner

    # silenced as dask_runner's local cluster is (a worker's "Compute Failed" line repeats the task's error)
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as c, \
            Client(c) as client:
        yield DaskRunner(client)


def cli_on_cluster(monkeypatch: pytest.MonkeyPatch, cluster: Any) -> list[Any]:
    """The CLI's ``--scheduler``/``--workers`` run on ``cluster`` (the module's, its workers threads); the list
    returned records each start's ``workers``."""
    import pipelines.distributed as dist

    started: list[Any] = []

    @contextmanager
    def on_cluster(scheduler: Any, workers: Any) -> Iterator[Any]:
        started.append(workers)
        # a worker's "Compute Failed" line repeats the task's error: a local cluster's worker processes are silenced
        # (dask_runner), these threads log into this process, where the CLI has set up its logging
        worker_log = logging.getLogger("distributed.worker")
        level = worker_log.level
        worker_log.setLevel(logging.CRITICAL)
        try:
            yield cluster
        finally:
            worker_log.setLevel(level)

    monkeypatch.setattr(dist, "runner_from_options", on_cluster)
    return started


def _on_worker() -> str | None:
    """The key of the Dask task this thread runs, None off a worker (the client)."""
    try:
        from distributed import get_worker

        return str(get_worker().get_current_task())
    except ValueError:
        return None


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[str, ...], str | None]]:
    """Each call of :func:`features.sources.sentinelhub.fetch_statistics`: its fields and the Dask task it ran in
    (None: on the client). The sentinelhub client sends a call's requests from its own thread pool, so the task is
    told at the call."""
    seen: list[tuple[tuple[str, ...], str | None]] = []
    real = sh.fetch_statistics

    def recorded(fields: Any, *a: Any, **kw: Any) -> Any:
        seen.append((tuple(fields["field_id"].astype(str)), _on_worker()))
        return real(fields, *a, **kw)

    monkeypatch.setattr(sh, "fetch_statistics", recorded)
    return seen


def _x0(body: bytes) -> float:
    """The first x coordinate of a Statistical request's field polygon (what tells the fields apart)."""
    return round(float(json.loads(body)["input"]["bounds"]["geometry"]["coordinates"][0][0][0]), 3)


def _keys(fields: gpd.GeoDataFrame) -> dict[float, str]:
    """The field of each request polygon's first x coordinate."""
    return {round(float(sh._request_geometry(g, fields.crs).geometry.exterior.coords[0][0]), 3): str(f)
            for f, g in zip(fields["field_id"], fields.geometry, strict=True)}


def add_stats(keys: dict[float, str], asked: list[tuple[str, str | None]], answer: Any) -> None:
    """The Statistical API: ``answer(field, from, to)`` → (status, JSON); every request's field and window in
    ``asked``."""

    def cb(request: Any) -> tuple[int, dict[str, str], str]:
        fid = keys[_x0(request.body)]
        asked.append((fid, None))
        rng = json.loads(request.body)["aggregation"]["timeRange"]
        status, body = answer(fid, rng["from"][:10], rng["to"][:10])
        return status, {"x-processingunits-spent": "0.01"}, json.dumps(body)

    responses.add_callback(responses.POST, STATS_URL, callback=cb, content_type="application/json")


def _day_answer(fid: str, lo: str, hi: str) -> tuple[int, dict[str, Any]]:
    """An NDVI value every 3rd day, set by the day and the field."""
    data, d = [], date.fromisoformat(lo)
    while d < date.fromisoformat(hi):
        if d.day % 3 == 1:
            m = round(0.2 + d.timetuple().tm_yday / 1000 + int(fid[1:]) / 1e4, 6)
            st = {"mean": m, "stDev": 0.05, "sampleCount": 40, "noDataCount": d.day % 4,
                  "percentiles": {"10.0": m - 0.1, "50.0": m, "90.0": m + 0.1}}
            data.append({"interval": {"from": f"{d}T00:00:00Z", "to": f"{d + timedelta(days=1)}T00:00:00Z"},
                         "outputs": {"NDVI": {"bands": {"B0": {"stats": st}}}}})
        d += timedelta(days=1)
    return 200, {"data": data, "status": "OK"}


def _fields(n: int = 7) -> gpd.GeoDataFrame:
    """``n`` small fields spread over ~10 km (the spatial blocks tell them apart)."""
    geoms = [box(77.0 + 0.013 * i, 12.0 + 0.007 * (i % 3), 77.0005 + 0.013 * i, 12.0005 + 0.007 * (i % 3))
             for i in range(n)]
    return gpd.GeoDataFrame({"field_id": [f"F{i:02d}" for i in range(n)], "season": ["2023"] * n}, geometry=geoms,
                            crs="EPSG:4326")


@responses.activate
def test_each_block_asks_its_own_fields_on_a_worker_and_merges_into_one_call(cluster: Any, tmp_path: Path,
                                                                            calls: list[Any]) -> None:
    from pipelines._dask_parts import spatial_partitions
    from pipelines._dask_stats import fetch_statistics_on

    add_token()
    fields = _fields()
    ids = fields["field_id"].tolist()
    asked: list[tuple[str, str | None]] = []
    add_stats(_keys(fields), asked, _day_answer)
    lo, hi = date(2023, 6, 1), date(2023, 7, 20)
    one = sh.fetch_statistics(fields, "2023", lo, hi, cache_dir=tmp_path / "one", retry=FAST)
    assert [f for f, _ in asked] == ids and calls == [(tuple(ids), None)]
    asked.clear()
    calls.clear()
    runner = Recording(cluster)
    got = fetch_statistics_on(runner, 3, fields, "2023", lo, hi, cache_dir=tmp_path / "dask", retry=FAST)
    pd.testing.assert_frame_equal(got.series, one.series)
    assert got.series.to_csv() == one.series.to_csv()
    assert got.summary == one.summary  # requests, processing units, dates, warnings: one call's
    # every field asked once, by the worker task of its own block, none on the client
    assert sorted(f for f, _ in asked) == ids
    blocks = spatial_partitions(fields.geometry.to_numpy(), ids, 3)
    assert len(blocks) == 3
    assert all(k is not None and k.startswith("agcredit-statistics-") for _, k in calls), calls
    assert {int(str(k).split("-")[2]): f for f, k in calls} == {i: tuple(fields["field_id"].iloc[b])
                                                                 for i, b in enumerate(blocks)}
    # no credential in what the graph carries (the workers read theirs from their environment)
    assert runner.labels == ["statistics"]
    assert all(SECRET.encode() not in p and CLIENT_ID.encode() not in p for p in runner.pickled)
    # a re-run on the same cache asks nothing: the workers' cache is one call's
    asked.clear()
    again = fetch_statistics_on(cluster, 3, fields, "2023", lo, hi, cache_dir=tmp_path / "dask", retry=FAST)
    assert asked == [] and again.series.equals(one.series) and again.summary.cache_hits == len(fields)


@responses.activate
def test_failed_fields_of_several_blocks_are_one_calls_error(cluster: Any, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines._dask_stats import fetch_statistics_on

    add_token()
    fields = _fields()
    asked: list[tuple[str, str | None]] = []

    refused: set[str] = set()

    def answer(fid: str, lo: str, hi: str) -> tuple[int, dict[str, Any]]:
        if fid in refused:
            return 403, {"error": {"message": "processing units used up"}}
        return (503, {"error": {"message": "busy"}}) if fid in ("F01", "F05") else _day_answer(fid, lo, hi)

    add_stats(_keys(fields), asked, answer)
    lo, hi = date(2023, 6, 1), date(2023, 7, 20)
    with pytest.raises(sh.StatisticsFailed) as one:
        sh.fetch_statistics(fields, "2023", lo, hi, cache_dir=tmp_path / "one", retry=FAST)
    with pytest.raises(sh.StatisticsFailed) as blocks:
        fetch_statistics_on(cluster, 2, fields, "2023", lo, hi, cache_dir=tmp_path / "dask", retry=FAST)
    assert str(blocks.value) == str(one.value) and "\n" not in str(one.value)
    assert "(5 fields done and cached); fields: F01 (" in str(one.value)
    # a 403 in one block: one line naming the fields not fetched (the other blocks, asked side by side, are done)
    refused.add("F03")
    with pytest.raises(sh.SentinelHubQuotaError) as quota:
        fetch_statistics_on(cluster, 2, fields, "2023", lo, hi, cache_dir=tmp_path / "q", retry=FAST)
    said = str(quota.value)
    assert said.startswith("Sentinel Hub: forbidden (HTTP 403: processing units used up)") and "\n" not in said
    assert "fields F03 (1 in all); 4 fields' statistics already downloaded are cached" in said, said  # F01, F05 failed
    refused.clear()
    # no credentials on the workers: the one-machine message, before any request
    monkeypatch.delenv("SH_CLIENT_SECRET")
    asked.clear()
    with pytest.raises(sh.SentinelHubCredentialsError) as none_one:
        sh.fetch_statistics(fields, "2023", lo, hi, cache_dir=tmp_path / "x", retry=FAST)
    with pytest.raises(sh.SentinelHubCredentialsError) as none_blocks:
        fetch_statistics_on(cluster, 2, fields, "2023", lo, hi, cache_dir=tmp_path / "y", retry=FAST)
    assert str(none_blocks.value) == str(none_one.value) and asked == []


# ---------------------------------------------------------------- reunderwrite: decisions, the CLI
@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny county, a small yield model, first decisions in a store, and every season's series as one table (what
    the mocked Statistical API answers from)."""
    w = build_world(tiny_county_sh, tmp_path_factory, "dask-stats")
    county = w["county"]
    table = pd.concat([county.series(s) for s in county.seasons], ignore_index=True)
    return {**w, "table": table}


def _table_answer(world: dict[str, Any]) -> Any:
    """The Statistical API answering a field's window from the county's series (every variable, daily intervals)."""
    t = world["table"].assign(day=lambda d: pd.to_datetime(d["date"]).dt.strftime("%Y-%m-%d"))
    by = {k: g for k, g in t.groupby(t["field_id"].astype(str))}

    def answer(fid: str, lo: str, hi: str) -> tuple[int, dict[str, Any]]:
        g = by.get(fid, t.iloc[:0])
        g = g[(g["day"] >= lo) & (g["day"] < hi)]
        data = []
        for day, rows in g.groupby("day", sort=True):
            d = date.fromisoformat(str(day))
            out = {}
            for r in rows.itertuples():
                st = {"mean": r.mean, "stDev": r.std, "sampleCount": int(r.n_pixels),
                      "noDataCount": int(r.n_pixels) - int(r.n_clear),
                      "percentiles": {"10.0": r.p10, "50.0": r.p50, "90.0": r.p90}}
                out[str(r.variable)] = {"bands": {"B0": {"stats": st}}}
            data.append({"interval": {"from": f"{d}T00:00:00Z", "to": f"{d + timedelta(days=1)}T00:00:00Z"},
                         "outputs": out})
        return 200, {"data": data, "status": "OK"}

    return answer


@responses.activate
def test_reunderwrite_on_dask_asks_on_the_workers_and_decides_as_one_machine(
        world: dict[str, Any], cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        calls: list[Any]) -> None:
    """The Statistical API was asked for the whole portfolio on the client, then the series shipped to the blocks;
    now each block's worker asks for its fields — the records, changes, alerts and warnings are one machine's."""
    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    fields = c.fields()
    add_token()
    asked: list[tuple[str, str | None]] = []
    add_stats(_keys(fields), asked, _table_answer(world))

    def run(name: str, **kw: Any) -> Any:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg-{name}"))  # a cold cache each: every field asked
        return reunderwrite(season=season, as_of=mid, fields=fields, imagery="sentinelhub-stats", book=c.book(),
                            applications=c.applications(), store=store_copy(world, tmp_path, name),
                            policy=default_policy(), profile=c.profile, history=c.past_series(season),
                            models=world["models"], alert_params=AlertParams(min_band_fields=1),
                            weather=c.weather(), yield_history=c.history(), **kw)

    one = run("one")
    n = int((fields["season"].astype(str) == season).sum())
    assert len(one.items) > 0 and len(asked) == n and [k for _, k in calls] == [None]
    assert one.items[0].body["provenance"]["imagery_source"] == "sentinelhub-stats"
    asked.clear()
    calls.clear()
    runner = Recording(cluster)
    blocks = run("blocks", runner=runner, chunk_fields=3)
    assert said(blocks) == said(one)
    assert len(asked) == n and len({f for f, _ in asked}) == n  # each field once
    assert all(k is not None for _, k in calls), "asked on the client"
    assert len(calls) == -(-n // 3) and sorted(f for fs, _ in calls for f in fs) == sorted(f for f, _ in asked)
    assert "statistics" in runner.labels
    assert all(SECRET.encode() not in p and CLIENT_ID.encode() not in p for p in runner.pickled)


def _files_args(world: dict[str, Any]) -> list[str]:
    rec = world["county"].path / "records"
    return ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", "sentinelhub-stats",
            "--book", str(rec / "book.csv"), "--applications", str(rec / "applications.csv"),
            "--weather", str(world["county"].path / "weather" / "daily.csv"), "--history", str(rec / "history.csv"),
            "--as-of", world["cps"]["mid"].isoformat()]


@responses.activate
def test_cli_a_failing_block_is_one_machines_one_line_error_and_writes_nothing(
        world: dict[str, Any], cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        calls: list[Any]) -> None:
    """`reunderwrite --imagery sentinelhub-stats --workers 2` with a field the service keeps failing (HTTP 503 after
    the retries) in one block, and with no credentials on the workers: exit 2 and one machine's one line, no record
    stored."""

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    fields = world["county"].fields()
    bad = str(fields["field_id"].iloc[len(fields) // 2])
    answer = _table_answer(world)
    add_token()
    asked: list[tuple[str, str | None]] = []
    add_stats(_keys(fields), asked, lambda f, lo, hi: (503, {"error": {"message": "busy"}}) if f == bad
              else answer(f, lo, hi))
    started = cli_on_cluster(monkeypatch, cluster)

    def run(name: str, extra: list[str]) -> tuple[Any, int, list[str]]:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg-{name}"))
        url = store_copy(world, tmp_path, name)
        asked.clear()
        calls.clear()
        r = CliRunner().invoke(app, [*_files_args(world), "--store", url, *extra])
        with DecisionStore(url) as st:
            n = len(st.records(world["season"]))
        return r, n, [k for _, k in calls]

    n0 = len(world["first"])
    one, n_one, keys_one = run("one", [])
    dask, n_dask, keys_dask = run("dask", ["--workers", "2", "--chunk-fields", "3"])
    assert started == [2]
    assert one.exit_code == 2 and dask.exit_code == 2, (one.output, dask.output)
    assert dask.stderr == one.stderr and len(one.stderr.strip().splitlines()) == 1, one.stderr
    assert "statistics failed for" in one.stderr and f"{bad} (" in one.stderr and "Traceback" not in dask.output
    assert n_one == n_dask == n0  # nothing written
    assert keys_one and all(k is None for k in keys_one)
    assert keys_dask and all(k is not None for k in keys_dask)
    # no credentials on the workers: one machine's one line, nothing asked, nothing written
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    monkeypatch.setattr(sh.SHConfig, "get_config_location", classmethod(lambda cls: str(tmp_path / "none.toml")))
    one, n_one, keys_one = run("one-nocred", [])
    dask, n_dask, keys_dask = run("dask-nocred", ["--workers", "2", "--chunk-fields", "3"])
    assert one.exit_code == 2 and dask.exit_code == 2 and dask.stderr == one.stderr, (one.output, dask.output)
    assert "SH_CLIENT_ID and SH_CLIENT_SECRET not set" in one.stderr and len(one.stderr.strip().splitlines()) == 1
    assert n_one == n_dask == n0 and asked == []
    assert keys_one and all(k is None for k in keys_one) and keys_dask and all(k is not None for k in keys_dask)


@responses.activate
def test_a_series_on_workers_says_its_statistical_requests_as_one_machine(cluster: Any, tmp_path: Path,
                                                                         calls: list[Any],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: `features series --imagery sentinelhub-stats --workers 2` printed no request, retry or cache count
    (one machine: "Statistical API: 16 requests (retries 0), 0 from cache"): the blocks' summaries are merged."""
    from features.series import build_series
    from pipelines._dask_series import run_series

    add_token()
    fields = _fields().assign(farmer_token="Ftok", declared_crop="maize", declared_area_ha=1.0)
    add_stats(_keys(fields), [], _day_answer)
    kw = {"start": date(2023, 6, 1), "end": date(2023, 7, 20)}
    one = build_series(fields, "sentinelhub-stats", "2023", cache_dir=tmp_path / "one", **kw)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg2"))  # a fresh Sentinel Hub cache: asked again
    got = run_series(fields, "sentinelhub-stats", "2023", runner=cluster, chunk_fields=3, cache_dir=tmp_path / "two",
                     **kw)
    assert got.series.equals(one.series)
    assert one.fetch_summary is not None and got.fetch_summary is not None
    assert (got.fetch_summary.requests, got.fetch_summary.retries, got.fetch_summary.cache_hits) == (
        one.fetch_summary.requests, one.fetch_summary.retries, one.fetch_summary.cache_hits)
    assert got.fetch_summary.requests >= len(fields) and got.fetch_summary.cache_hits == 0


@responses.activate
def test_workers_without_credentials_are_named_as_the_workers(cluster: Any, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A review started the workers of a `--scheduler` run without SH_CLIENT_ID/SH_CLIENT_SECRET, the client with
    them: the run said the user's shell lacked them ("... not set; ... --profile NAME", an option refused with
    --scheduler). The workers of a cluster given by address are now named, and how many of them lack credentials."""
    import pipelines._dask_process as dp
    from pipelines._dask_stats import fetch_statistics_on
    from pipelines.errors import RunInputError

    monkeypatch.delenv("SH_CLIENT_ID")  # the workers are threads of this process: theirs and the client's
    monkeypatch.delenv("SH_CLIENT_SECRET")
    monkeypatch.setattr(sh.SHConfig, "get_config_location", classmethod(lambda cls: str(tmp_path / "none.toml")))
    monkeypatch.setattr(dp, "_client_lacks", lambda *a: False)  # the client's shell has them; the workers not
    with pytest.raises(RunInputError, match=r"^dask runner: 2 of 2 Dask worker\(s\) of the scheduler at \S+ have "
                       r"no Sentinel Hub credentials \(environment: SH_CLIENT_ID and SH_CLIENT_SECRET not set\): each "
                       r"worker reads its own — the client's are never sent — so start every worker with SH_CLIENT_ID "
                       r"and SH_CLIENT_SECRET in its environment"):
        fetch_statistics_on(cluster, 3, _fields(), "2023", date(2023, 6, 1), date(2023, 7, 20),
                            cache_dir=tmp_path / "dask", retry=FAST)
