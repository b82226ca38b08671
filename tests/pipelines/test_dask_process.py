"""`--imagery sentinelhub` (a Process-API download) on Dask (`--scheduler/--workers`): the request boxes planned on the
client over all the fields, as one machine plans them, the Catalog searches and GeoTIFF downloads sent to the workers
(HTTP mocked with ``responses``, offline; the Dask workers are threads of this process, so the mock answers them).

The scene folder, the summary and the decisions are one machine's, byte for byte; a Catalog failure, a 403, an
acquisition failing after the retries, no acquisition at all or no credentials are one machine's one-line error with
nothing written; a failed run's re-run asks only what is not in the cache; no credential is in the tasks."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import responses
from affine import Affine
from rasterio.io import MemoryFile

from features.errors import ImageryError
from features.sources import sentinelhub as sh
from pipelines._dask_process import fetch_on
from pipelines.monitor import AlertParams
from pipelines.reunderwrite import reunderwrite
from tests.features.test_sentinelhub import CATALOG_URL, PROCESS_URL, add_token
from tests.pipelines import test_dask_stats as _stats
from tests.pipelines._reunderwrite_world import build_world, said, store_copy
from tests.pipelines.test_dask_stats import CLIENT_ID, FAST, SECRET, Recording, _fields, _on_worker
from underwriting.policy import default_policy

_sh, cluster = _stats._sh, _stats.cluster  # the Dask stats tests' credentials, cache and 2-thread-worker cluster


def _tiff(bounds: list[float], width: int, height: int, epsg: int, day: date, scl: int = 4) -> bytes:
    """A 12-band GeoTIFF of the box on ``day``: red and near infrared varying with the day and the pixel (so each
    field's NDVI series moves), SCL vegetation, every pixel valid."""
    rows, cols = np.mgrid[0:height, 0:width]
    k = day.timetuple().tm_yday
    arr = np.zeros((12, height, width), dtype="uint16")
    arr[:10] = (np.arange(1, 11, dtype="uint16") * 200)[:, None, None]
    arr[2] = 500 + (rows * 7 + k * 3) % 300  # B04
    arr[6] = 1200 + (cols * 11 + k * 17) % 1500  # B08
    arr[10], arr[11] = scl, 1
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=width, height=height, count=12, dtype="uint16", crs=f"EPSG:{epsg}",
                      transform=Affine((bounds[2] - bounds[0]) / width, 0, bounds[0], 0,
                                       -(bounds[3] - bounds[1]) / height, bounds[3])) as ds:
            ds.write(arr)
        return bytes(mem.read())


def _box_day(body: bytes) -> tuple[tuple[float, ...], str]:
    p = json.loads(body)
    return tuple(round(x, 1) for x in p["input"]["bounds"]["bbox"]), \
        p["input"]["data"][0]["dataFilter"]["timeRange"]["from"][:10]


def add_service(status: Any = None, scl: int = 4) -> list[tuple[tuple[float, ...], str]]:
    """The Catalog API (an acquisition every 5th day of the window asked) and the Process API (:func:`_tiff`, its
    scene classification ``scl``: 4 vegetation, 9 cloud);
    ``status(box, day)`` → an HTTP status to answer instead (None: the GeoTIFF). Returns the (box, day) of every
    Process request."""
    asked: list[tuple[tuple[float, ...], str]] = []

    def catalog(request: Any) -> tuple[int, dict[str, str], str]:
        lo, hi = (x[:10] for x in json.loads(request.body)["datetime"].split("/"))
        d, feats = date.fromisoformat(lo), []
        while d.isoformat() < hi:
            if d.toordinal() % 5 == 0:
                feats.append({"id": f"S2A_{d}", "properties": {"datetime": f"{d}T05:25:31Z", "eo:cloud_cover": 3.0}})
            d += timedelta(days=1)
        return 200, {}, json.dumps({"features": feats, "context": {"returned": len(feats)}})

    def process(request: Any) -> tuple[int, dict[str, str], bytes | str]:
        box, day = _box_day(request.body)
        asked.append((box, day))
        got = status(box, day) if status is not None else None
        if got is not None:
            return got, {}, json.dumps({"error": {"status": got, "message": "refused" if got == 403 else "busy"}})
        p = json.loads(request.body)
        epsg = int(p["input"]["bounds"]["properties"]["crs"].rsplit("/", 1)[-1])
        return 200, {"x-processingunits-spent": "0.37"}, _tiff(p["input"]["bounds"]["bbox"], p["output"]["width"],
                                                                p["output"]["height"], epsg, date.fromisoformat(day),
                                                                scl)

    responses.add_callback(responses.POST, CATALOG_URL, callback=catalog, content_type="application/json")
    responses.add_callback(responses.POST, PROCESS_URL, callback=process, content_type="image/tiff")
    return asked


def _folder(path: Path) -> dict[str, bytes]:
    """Every file of a scene folder (its lock file aside), by relative path."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".fetch.lock"}


@pytest.fixture()
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """Each box's Catalog search and each acquisition's download: its kind, box and Dask task (None: the client)."""
    seen: list[tuple[str, str, str | None]] = []
    search, scene = sh._Api.acquisitions, sh._Api.scene

    def searched(self: Any, tile: Any, *a: Any, **kw: Any) -> Any:
        seen.append(("catalog", tile.tile_id, _on_worker()))
        return search(self, tile, *a, **kw)

    def downloaded(self: Any, tile: Any, *a: Any, **kw: Any) -> Any:
        seen.append(("scene", tile.tile_id, _on_worker()))
        return scene(self, tile, *a, **kw)

    monkeypatch.setattr(sh._Api, "acquisitions", searched)
    monkeypatch.setattr(sh._Api, "scene", downloaded)
    return seen


LO, HI = date(2023, 6, 1), date(2023, 6, 30)


@responses.activate
def test_the_boxes_are_one_machines_and_their_downloads_run_on_the_workers(
        cluster: Any, tmp_path: Path, tasks: list[Any]) -> None:
    """A box per far-apart field, planned on the client over all of them; each box's search and downloads on a
    worker; the scene folder (GeoTIFFs, index.csv, sentinelhub.json) and the summary one machine's, byte for byte;
    no credential in the tasks; a second run downloads nothing."""
    fields = _fields(7)
    add_token()
    asked = add_service()
    one = sh.fetch(fields, LO, HI, tmp_path / "one", cache_dir=tmp_path / "c1", retry=FAST, merge=False)
    n = len(asked)
    assert one.summary.tiles == 7 and one.summary.scenes == n > 7
    assert len(tasks) == 7 + n and all(w is None for _, _, w in tasks)
    tasks.clear()
    asked.clear()
    runner = Recording(cluster)
    dask = fetch_on(runner, fields, LO, HI, tmp_path / "dask", cache_dir=tmp_path / "c2", retry=FAST, merge=False)
    assert _folder(tmp_path / "dask") == _folder(tmp_path / "one")
    assert dask.summary == one.summary and dask.summary.processing_units == pytest.approx(0.37 * n)
    assert len(asked) == n and len(set(asked)) == n  # each acquisition once
    assert runner.labels == ["catalog", "scenes"]
    assert sorted(k for k, _, _ in tasks) == ["catalog"] * 7 + ["scene"] * n
    assert all(w is not None for _, _, w in tasks), "asked on the client"
    assert all(SECRET.encode() not in p and CLIENT_ID.encode() not in p for p in runner.pickled)
    asked.clear()
    again = fetch_on(runner, fields, LO, HI, tmp_path / "dask", cache_dir=tmp_path / "c2", retry=FAST, merge=False)
    assert asked == [] and again.summary.cache_hits == n + 7 and _folder(tmp_path / "dask") == _folder(tmp_path / "one")


@responses.activate
def test_a_403_or_a_failing_acquisition_is_one_machines_error_and_a_rerun_completes_from_the_cache(
        cluster: Any, tmp_path: Path) -> None:
    """A 403 on one acquisition, or one failing after the retries: one machine's one-line error, nothing written;
    once the service answers, a re-run on the workers asks only what the failed run did not cache."""
    fields = _fields(5)
    add_token()
    healthy = add_service()
    probe = sh.fetch(fields, LO, HI, tmp_path / "probe", cache_dir=tmp_path / "probe-cache", retry=FAST)
    assert probe.summary.scenes == len(healthy) > 5
    target = healthy[len(healthy) // 2]  # an acquisition of a middle box
    for code in (403, 503):
        responses.reset()
        add_token()
        add_service(lambda b, d, code=code: code if (b, d) == target else None)
        errs = []
        for name, go in (("one", sh.fetch), ("dask", lambda *a, **k: fetch_on(cluster, *a, **k))):
            with pytest.raises((sh.SentinelHubQuotaError, ImageryError)) as e:
                go(fields, LO, HI, tmp_path / f"{name}-{code}", cache_dir=tmp_path / f"{name}-cache", retry=FAST)
            errs.append(str(e.value))
            assert not (tmp_path / f"{name}-{code}" / "index.csv").exists()  # nothing written
        assert errs[0] == errs[1] and "\n" not in errs[0], errs
        assert target[1] in errs[0] and (str(code) in errs[0] or "could not be downloaded" in errs[0])
    responses.reset()
    add_token()
    asked = add_service()
    fetch_on(cluster, fields, LO, HI, tmp_path / "dask-rerun", cache_dir=tmp_path / "dask-cache", retry=FAST)
    assert asked == [target]  # the others came from the cache
    assert _folder(tmp_path / "dask-rerun") == _folder(tmp_path / "probe")


@responses.activate
def test_no_acquisition_or_no_credentials_is_one_machines_one_line(cluster: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fields = _fields(3)
    add_token()
    responses.add(responses.POST, CATALOG_URL, json={"features": [], "context": {}})
    errs = []
    for name, go in (("one", sh.fetch), ("dask", lambda *a, **k: fetch_on(cluster, *a, **k))):
        with pytest.raises(ImageryError) as e:
            go(fields, LO, HI, tmp_path / name, cache_dir=tmp_path / f"{name}-c", retry=FAST)
        errs.append(str(e.value))
    assert errs[0] == errs[1] and "no Sentinel-2 L2A acquisition" in errs[0]
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    monkeypatch.setattr(sh.SHConfig, "get_config_location", classmethod(lambda cls: str(tmp_path / "none.toml")))
    errs = []
    for name, go in (("one", sh.fetch), ("dask", lambda *a, **k: fetch_on(cluster, *a, **k))):
        with pytest.raises(Exception) as e:
            go(fields, LO, HI, tmp_path / f"{name}-nc", cache_dir=tmp_path / f"{name}-nc-c", retry=FAST)
        errs.append(f"{type(e.value).__name__}: {e.value}")
    assert errs[0] == errs[1] and "SH_CLIENT_ID and SH_CLIENT_SECRET not set" in errs[0], errs
    assert not (tmp_path / "dask-nc" / "index.csv").exists()


# ---------------------------------------------------------------- reunderwrite: decisions
@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_world(tiny_county_sh, tmp_path_factory, "dask-process")


@responses.activate
def test_reunderwrite_on_dask_downloads_on_the_workers_and_decides_as_one_machine(
        world: dict[str, Any], cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tasks: list[Any]) -> None:
    """`--imagery sentinelhub` with a runner was refused; now the boxes are one machine's, their downloads run on the
    workers, and the records, changes, alerts and warnings are one machine's, byte for byte."""
    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    fields = c.fields()
    add_token()
    asked = add_service()

    def run(name: str, **kw: Any) -> Any:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg-{name}"))  # a cold cache each
        return reunderwrite(season=season, as_of=mid, fields=fields, imagery="sentinelhub", book=c.book(),
                            applications=c.applications(), store=store_copy(world, tmp_path, name),
                            policy=default_policy(), profile=c.profile, history=c.past_series(season),
                            models=world["models"], alert_params=AlertParams(min_band_fields=1),
                            weather=c.weather(), yield_history=c.history(), cache_dir=tmp_path / f"cache-{name}",
                            **kw)

    one = run("one")
    n = len(asked)
    assert len(one.items) > 0 and n > 0 and tasks and all(w is None for _, _, w in tasks)
    tasks.clear()
    assert one.items[0].body["provenance"]["imagery_source"].startswith("sentinelhub (")
    asked.clear()
    runner = Recording(cluster)
    blocks = run("blocks", runner=runner, chunk_fields=3)
    assert said(blocks) == said(one)
    for part in ("series", "area"):
        assert _folder(tmp_path / "cache-blocks" / part / "sentinelhub") == \
            _folder(tmp_path / "cache-one" / part / "sentinelhub")
    assert len(asked) == n  # the series' and the area's downloads: the area's from the workers' cache
    assert tasks and all(w is not None for _, _, w in tasks), "asked on the client"
    assert {"catalog", "scenes", "features"} <= set(runner.labels)
    assert all(SECRET.encode() not in p and CLIENT_ID.encode() not in p for p in runner.pickled)


@responses.activate
def test_reunderwrite_on_a_cluster_by_address_without_cache_reads_on_the_workers_no_client_only_folder(
        world: dict[str, Any], cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a cache folder, the series' and the planted area's scene folders were temporary folders of the client,
    which a cluster given by address cannot see (the series were read on the client, the planted area's blocks on the
    workers). Now both are made inside the Sentinel Hub cache folder the workers share (checked first), the season's
    series are read on the blocks (a "series" map, every scene file opened on a worker), the decisions are one
    machine's, and the folders are removed after the run: nothing in the cache but the downloads, nothing in the
    client's temporary folder."""
    import tempfile

    import rasterio

    import features.series as series_mod

    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    add_token()
    add_service()
    client_tmp = tmp_path / "client-tmp"  # the client's own temporary folder: a cluster by address cannot see it
    client_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(client_tmp))
    opened: list[tuple[str | None, str]] = []  # (the Dask task, or None: the client; the scene file)
    built: list[str | None] = []  # where build_series read a scene folder (the task, or None: the client)
    real_open, real_local = rasterio.open, series_mod._local

    def open_(path: Any, *a: Any, **kw: Any) -> Any:
        opened.append((_on_worker(), str(path)))
        return real_open(path, *a, **kw)

    def local(*a: Any, **kw: Any) -> Any:
        built.append(_on_worker())
        return real_local(*a, **kw)

    monkeypatch.setattr(rasterio, "open", open_)
    monkeypatch.setattr(series_mod, "_local", local)

    history = c.past_series(season)  # the county's own scene folder, read here

    def run(name: str, **kw: Any) -> Any:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg-{name}"))
        return reunderwrite(season=season, as_of=mid, fields=c.fields(), imagery="sentinelhub", book=c.book(),
                            applications=c.applications(), store=store_copy(world, tmp_path, name),
                            policy=default_policy(), profile=c.profile, history=history, models=world["models"],
                            alert_params=AlertParams(min_band_fields=1), weather=c.weather(),
                            yield_history=c.history(), **kw)

    one = run("one")
    opened.clear()
    built.clear()
    runner = Recording(cluster)  # a DaskRunner on a client it did not start: a cluster given by address
    blocks = run("blocks", runner=runner, chunk_fields=3)
    assert said(blocks) == said(one)
    shared = tmp_path / "xdg-blocks" / "agcredit" / "sentinelhub"
    on_workers = [p for w, p in opened if w is not None]
    assert on_workers and all(Path(p).is_relative_to(shared) and "/agcredit-sh-scenes-" in p for p in on_workers)
    assert not any(Path(p).is_relative_to(client_tmp) for _, p in opened)
    assert runner.labels[:3] == ["catalog", "scenes", "series"] and "features" in runner.labels  # series on blocks
    assert built and all(w is not None for w in built), "the season's series read on the client"
    assert not list(shared.glob(".agcredit-*")) and not list(client_tmp.iterdir())  # nothing left behind


@responses.activate
def test_cli_workers_with_sentinelhub_runs_as_one_machine_and_a_403_is_its_one_line(
        world: dict[str, Any], cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tasks: list[Any]) -> None:
    """`reunderwrite --imagery sentinelhub --workers 2` was refused before anything started; now it prints and stores
    what one machine does (the past season's series downloaded on the workers too), and a 403 is one machine's one
    line, exit 2, no record stored."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.reunderwrite import ScoringModels
    from underwriting.store import DecisionStore

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    started = _stats.cli_on_cluster(monkeypatch, cluster)
    rec = world["county"].path / "records"
    args = ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", "sentinelhub",
            "--book", str(rec / "book.csv"), "--applications", str(rec / "applications.csv"),
            "--weather", str(world["county"].path / "weather" / "daily.csv"), "--history", str(rec / "history.csv"),
            "--as-of", world["cps"]["mid"].isoformat()]

    def run(name: str, extra: list[str]) -> tuple[Any, list[Any]]:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg-{name}"))
        url = store_copy(world, tmp_path, name)
        r = CliRunner().invoke(app, [*args, "--store", url, *extra])
        with DecisionStore(url) as st:
            recs = st.records(world["season"])
        return r, recs[["record_id", "application_id", "kind", "supersedes", "limit", "body"]].to_dict("records")

    add_token()
    asked = add_service()
    one, kept_one = run("one", [])
    assert one.exit_code == 0, one.output
    seasons = {d[:4] for _, d in asked}
    assert len(seasons) == 2, seasons  # the past season's window and this one's
    tasks.clear()
    dask, kept_dask = run("dask", ["--workers", "2"])
    assert started == [2] and dask.exit_code == 0, dask.output
    assert dask.stdout == one.stdout and kept_dask == kept_one and len(kept_one) > len(world["first"])
    assert tasks and all(w is not None for _, _, w in tasks)
    target = asked[-1]  # this season's last acquisition of the last box: refused
    responses.reset()
    add_token()
    add_service(lambda b, d: 403 if (b, d) == target else None)
    one, kept_one = run("one-403", [])
    dask, kept_dask = run("dask-403", ["--workers", "2"])
    assert one.exit_code == 2 and dask.exit_code == 2, (one.output, dask.output)
    errors = [x for x in one.stderr.splitlines() if x.startswith("error:")]
    assert dask.stderr == one.stderr and len(errors) == 1 and "HTTP 403" in errors[0], one.stderr
    assert "Traceback" not in dask.output and len(kept_one) == len(kept_dask) == len(world["first"])


@responses.activate
def test_clouds_only_is_one_machines_error_on_dask(world: dict[str, Any], cluster: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every downloaded pixel cloudy (SCL 9): one machine's one-line error (no clear observation), on Dask too."""
    from features.errors import UserInputError

    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    add_token()
    add_service(scl=9)
    errs = []
    for name, kw in (("one", {}), ("blocks", {"runner": cluster, "chunk_fields": 3})):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg-{name}"))
        with pytest.raises(UserInputError) as e:
            reunderwrite(season=season, as_of=mid, fields=c.fields(), imagery="sentinelhub", book=c.book(),
                         applications=c.applications(), store=store_copy(world, tmp_path, name),
                         policy=default_policy(), profile=c.profile, history=c.past_series(season),
                         models=world["models"], weather=c.weather(), yield_history=c.history(), **kw)
        errs.append(f"{type(e.value).__name__}: {e.value}")
    assert errs[0] == errs[1] and "\n" not in errs[0] and errs[0].startswith("NoClearObservationError"), errs


@responses.activate
def test_a_cache_the_workers_do_not_share_is_refused_before_any_request(
        world: dict[str, Any], cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tasks: list[Any]) -> None:
    """`--imagery sentinelhub` on a cluster needs the client's Sentinel Hub cache folder on every worker (the client
    copies the GeoTIFFs they download into it); a cluster without it failed only at the planted area, after the
    downloads. Now it is checked first: a worker whose cache folder is another (its ``default_cache`` patched on the
    worker threads) is one line naming the folder and the count, exit 2 from the CLI, before any request, nothing
    written, the marker removed; the cluster's own shared folder passes, leaving nothing."""
    import threading

    from typer.testing import CliRunner

    from features.sources import _sh_io
    from pipelines._dask_process import check_shared_cache
    from pipelines.cli import app
    from pipelines.errors import RunInputError
    from pipelines.reunderwrite import ScoringModels
    from underwriting.store import DecisionStore

    shared, elsewhere = tmp_path / "xdg" / "agcredit" / "sentinelhub", tmp_path / "elsewhere"
    check_shared_cache(cluster, shared)  # the same folder on every worker: passes
    assert not (tmp_path / "xdg").exists()  # the marker and the folders made for it removed
    real = _sh_io.default_cache
    monkeypatch.setattr(_sh_io, "default_cache",
                        lambda: real() if threading.current_thread() is threading.main_thread() else elsewhere)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    add_token()
    asked = add_service()
    with pytest.raises(RunInputError, match=r"^dask runner: 2 of 2 worker\(s\) cannot read the Sentinel Hub cache "
                       f"folder {shared} "):
        fetch_on(cluster, _fields(), LO, HI, tmp_path / "scenes", retry=FAST, merge=False)
    assert asked == [] and tasks == [] and not (tmp_path / "scenes").exists() and not (tmp_path / "xdg").exists()
    # from the CLI: the same line, exit 2, no record stored
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    _stats.cli_on_cluster(monkeypatch, cluster)
    rec = world["county"].path / "records"
    url = store_copy(world, tmp_path, "blind")
    r = CliRunner().invoke(app, ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", "sentinelhub",
                                 "--book", str(rec / "book.csv"), "--applications", str(rec / "applications.csv"),
                                 "--weather", str(world["county"].path / "weather" / "daily.csv"),
                                 "--as-of", world["cps"]["mid"].isoformat(), "--store", url, "--workers", "2"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr.startswith(f"error: dask runner: 2 of 2 worker(s) cannot read the Sentinel Hub cache folder "
                               f"{shared} ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert asked == [] and tasks == [] and not (tmp_path / "xdg").exists()
    with DecisionStore(url) as st:
        assert len(st.records(world["season"])) == len(world["first"])
