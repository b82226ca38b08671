"""Scale-out (issue 15): partitioned stages equal the single-process ones, on one process and on Dask.

A tiny demo county gives real scenes and fields; decisions and valuations are built in code.
One local cluster of 2 worker processes serves the Dask tests; one of its workers is killed
while a run is under way and the result still equals the single-process one, part for part.
The fused per-block run (``run_portfolio``) writes the same series and features parts as the
staged functions and the same valuations, single-process and on the cluster with a worker killed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from distributed import WorkerPlugin

from features.series import build_series
from pipelines._dask_parts import group_partitions, part_path, spatial_partitions, write_part
from pipelines.distributed import (
    DaskRunner,
    LocalRunner,
    decide_distributed,
    features_distributed,
    field_blocks,
    local_runner,
    run_series,
    runner_from_options,
    score_distributed,
    series_distributed,
)
from pipelines.errors import ClusterLostError, RunInputError
from tests.conftest import read_county_fields
from tests.underwriting.test_decisions import (
    application,
    book_frame,
    feature_row,
    features_frame,
    prices_frame,
    valuation_row,
    valuations_frame,
)
from underwriting.decisions import decide_batch
from underwriting.policy import default_policy
from underwriting.records import canonical_json

SEASON = "2009"
AS_OF = dt.date(2009, 7, 31)
VARS = ("NDVI",)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from democounty import simulate

    out = tmp_path_factory.mktemp("dist-county") / "sh"
    simulate("in-smallholder", 5, "tiny", out, seasons=1, workers=1)
    return out


@pytest.fixture(scope="module")
def fields(county: Path) -> Any:
    return read_county_fields(county, SEASON)


@pytest.fixture(scope="module")
def reference(county: Path, fields: Any) -> Any:
    return build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=VARS)


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskRunner]:
    runner = runner_from_options(None, 2)
    assert isinstance(runner, DaskRunner)
    try:
        yield runner
    finally:
        runner.close()


# ---------------------------------------------------------------------- partitions, runners
def test_spatial_blocks_cover_every_field_once_and_are_compact() -> None:
    import shapely

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 10_000, (400, 2))
    geoms = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + 50, xy[:, 1] + 50)
    ids = [f"F{i:03d}" for i in range(400)]
    parts = spatial_partitions(geoms, ids, 50)
    assert [len(p) for p in parts] == [50] * 8
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(400))
    # a block's fields are close together: its bounding box is far smaller than the whole area
    areas = [np.ptp(xy[p, 0]) * np.ptp(xy[p, 1]) for p in parts]
    assert np.median(areas) < 0.25 * 10_000 ** 2
    again = spatial_partitions(geoms[::-1], ids[::-1], 50)
    assert [sorted(ids[::-1][i] for i in p) for p in again] == [sorted(ids[i] for i in p) for p in parts]


def test_group_partitions_keep_groups_whole() -> None:
    groups = ["b", "a", "c", "a", "b", "d", "a", "e", "e", "e", "e"]
    parts = group_partitions(groups, 3)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(groups)))
    owner = {}
    for k, p in enumerate(parts):
        for i in p:
            assert owner.setdefault(groups[i], k) == k
    assert len(parts) > 1


def test_runner_options() -> None:
    assert isinstance(runner_from_options(None, None), LocalRunner)
    assert isinstance(runner_from_options("", 0), LocalRunner)
    with pytest.raises(RunInputError, match="either a scheduler address or a number of local workers"):
        runner_from_options("tcp://127.0.0.1:1", 2)
    with pytest.raises(RunInputError, match="at least 1, found -1"):
        runner_from_options(None, -1)
    from pipelines.distributed import dask_runner

    with pytest.raises(RunInputError, match=r"the scheduler at tcp://127.0.0.1:9: cannot connect \(Connection refused"):
        dask_runner("tcp://127.0.0.1:9", timeout="1s")
    for typo in ("tpc://127.0.0.1:8786", "http://127.0.0.1:8786"):
        with pytest.raises(RunInputError, match=r"unknown address scheme '(tpc|http)' \(expected tcp://HOST:PORT\)"):
            dask_runner(typo)


def test_a_local_cluster_that_cannot_start_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose loopback ports are blocked: the local cluster's start timed out into a traceback (a walkthrough, in
    a network namespace without loopback); now one line saying what the workers need."""
    import distributed

    from pipelines.distributed import dask_runner

    def no_cluster(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("Cluster failed to start: Timed out trying to connect to tcp://127.0.0.1:36503 after 30 s")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    with pytest.raises(RunInputError) as e:
        dask_runner(None, 2)
    assert str(e.value) == ("dask runner: the local cluster of 2 worker process(es) did not start (Cluster failed to "
                            "start: Timed out trying to connect to tcp://127.0.0.1:36503 after 30 s): the workers talk "
                            "to their scheduler over loopback TCP — check that this host allows it, or run without "
                            "--workers")


def test_a_scheduler_address_that_is_not_one_fails_in_seconds() -> None:
    """Something else listening at the address (an HTTP server, the dashboard's port): the handshake hung for
    minutes or read garbage (a MemoryError traceback); now one line within the connect timeout (+10 s). A
    scheduler without a worker: one line after the wait, not a silent hang."""
    import http.server
    import threading
    import time

    from pipelines._dask_runner import _connect

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # the handshake's bytes are a bad request: not worth printing
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(RunInputError, match=r"no Dask scheduler answered .*is it the scheduler's port"):
            _connect(f"tcp://127.0.0.1:{srv.server_address[1]}", "1s")
        assert time.monotonic() - t0 < 30
    finally:
        srv.shutdown()
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0") as cluster:
        with pytest.raises(RunInputError, match=r"no worker joined within 1 s \(start one: dask worker "):
            _connect(cluster.scheduler_address, "10s", worker_wait=1.0)
        # tls:// to a plain scheduler: "no Dask scheduler answered (TypeError)" said neither TLS nor tcp://
        with pytest.raises(RunInputError, match=r"no Dask scheduler answered over TLS \(\w+\): a tls:// address needs "
                           r"a scheduler started with TLS .*; a scheduler without TLS is reached at tcp://HOST:PORT$"):
            _connect(cluster.scheduler_address.replace("tcp://", "tls://"), "2s", worker_wait=1.0)


def test_a_scheduler_address_with_a_password_is_masked() -> None:
    """`--scheduler tcp://user:pw@127.0.0.1:8663` echoed the password in its error; masked as a registry's URI is.
    Dask has no login (a review, session 77: README said such an address works; the handshake failed as "no Dask
    scheduler answered"): refused up front, before any connection, a password with '/' masked too."""
    from pipelines._dask_runner import _connect

    for given, shown in (("tcp://agc:s3cret-pw@127.0.0.1:1", "tcp://agc:***@127.0.0.1:1"),
                         ("tcp://agc:s3c/ret-pw@127.0.0.1:1", "tcp://agc:***@127.0.0.1:1")):
        with pytest.raises(RunInputError) as e:
            _connect(given, "1s")
        assert "s3cret-pw" not in str(e.value) and "ret-pw" not in str(e.value)
        assert str(e.value).startswith(f"dask runner: the scheduler at {shown}: a Dask scheduler's address holds no "
                                       "user name or password"), str(e.value)


def _sleep_then(x: int) -> int:
    import time

    time.sleep(x)
    return x


def test_every_worker_lost_mid_run_stops_with_one_line() -> None:
    """All workers lost mid-run: dask waits for one for ever (the run hung); now the runner stops once there has
    been none for ``lost_workers_wait`` seconds, naming how many tasks were done."""
    import threading
    import time

    from distributed import Client, LocalCluster

    from pipelines._dask_runner import DaskRunner

    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        runner = DaskRunner(client)
        runner.lost_workers_wait = 2.0
        assert runner.map(_sleep_then, [0, 0], label="block") == [0, 0]  # workers present: the usual gather
        threading.Timer(1.0, lambda: cluster.scale(0)).start()
        t0 = time.monotonic()
        with pytest.raises(RunInputError, match=r"every worker of the scheduler at \S+ was lost 2 s "
                           r"ago and none returned; stopped with 0 of 2 block task\(s\) done \(the parts already "
                           r"written are kept"):
            runner.map(_sleep_then, [8, 8], label="block", resumable=True)
        assert time.monotonic() - t0 < 60  # the tasks never finish: without the watch it would hang


def test_a_worker_without_the_runs_regions_folder_is_one_line(cluster: DaskRunner, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Remote workers read the region tables from their own AGCREDIT_REGIONS_DIR: a worker started without the
    client's folder would have valued with other season windows, calendars and prices, silently (a walkthrough's
    left item). Each task now checks the worker's region files against the run's."""
    from features.regions import REGIONS_ENV

    assert cluster.map(_identity_task, [1, 2]) == [1, 2]  # neither side has a folder: the tasks run
    folder = tmp_path / "regions"
    folder.mkdir()
    (folder / "prices.csv").write_text("crop,region,season,price,currency,unit\n")
    monkeypatch.setenv(REGIONS_ENV, str(folder))  # the client's only: the workers started without it
    with pytest.raises(RunInputError, match=r"dask worker on \S+: its region files \(AGCREDIT_REGIONS_DIR\) are not "
                       r"this run's: the run's digest [0-9a-f]{12}, the worker's none \(the variable unset\); start "
                       r"every worker with the same AGCREDIT_REGIONS_DIR folder"):
        cluster.map(_identity_task, [1, 2], label="block")


def test_a_worker_running_other_agcredit_code_is_one_line(cluster: DaskRunner, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A review started a worker on a copy of the source with models/yield_value.py changed: other valuations, exit
    0, stored under the parts' names the client's code keys and reused by later runs. Each task now checks the
    worker's source digest (`agcredit --version`) against the client's, before it computes or writes anything."""
    import pipelines._code_digest as code_digest

    real = code_digest.source_digest(code_digest.VERSION_SOURCES)
    monkeypatch.setattr(code_digest, "source_digest", lambda *a, **k: "f" * 64)  # the client's code changed
    marker = tmp_path / "written"
    with pytest.raises(RunInputError, match=r"dask worker tcp://\S+ on \S+: it runs other agcredit code than the "
                       rf"client: source sha256:{real[:16]} on the worker, sha256:f{{16}} on the client \(`agcredit "
                       r"--version` prints it\); start every worker with the client's agcredit installation"):
        cluster.map(_write_task, [str(marker)], label="block")
    assert not marker.exists()  # nothing computed


def _write_task(path: str) -> str:
    Path(path).write_text("x")
    return path


def _logging_task(msg: str) -> str:
    """Log as a stage's code does on a worker; what the worker wrote to its stderr."""
    import contextlib
    import io
    import logging
    import threading

    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        log = logging.getLogger("features.series")
        log.info("%s at info", msg)
        log.warning("%s at warning", msg)
        helper = threading.Thread(target=log.warning, args=("%s from a helper thread", msg))  # a pool's thread
        helper.start()
        helper.join()
    return out.getvalue()


def _bare_logging_task(msg: str) -> tuple[str, int, int]:
    """A task sent without agcredit's runner: what its warning wrote, the root logger's level and handlers."""
    import contextlib
    import io
    import logging

    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        logging.getLogger("features.series").warning(msg)
    return out.getvalue(), logging.getLogger().level, len(logging.getLogger().handlers)


def test_workers_log_lines_carry_the_clients_run_id_and_format(cluster: DaskRunner,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A task's log lines on a Dask worker came out bare (the message only: no time, no run id, whatever
    AGCREDIT_LOG_FORMAT said), so one run could not be followed across the client and its workers. Now each task
    writes them as the client does — its run id, format and level —, and nothing of a run stays on the worker."""
    import json
    import logging

    import pipelines._logs as logs

    ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    monkeypatch.setattr(logs, "_RUN_ID", ["cron-a"])
    monkeypatch.delenv("AGCREDIT_LOG_FORMAT", raising=False)
    monkeypatch.setattr(logging.getLogger(), "level", logging.WARNING)
    for msg, text in zip(["m1", "m2"], cluster.map(_logging_task, ["m1", "m2"]), strict=True):
        lines = text.splitlines()
        assert len(lines) == 2, text  # the client's level: WARNING, no INFO line
        assert re.fullmatch(rf"{ts} cron-a WARNING features.series: {msg} at warning", lines[0]), lines
        assert re.fullmatch(rf"{ts} cron-a WARNING features.series: {msg} from a helper thread", lines[1]), lines
    # another run (another client) on the same workers: its own id, JSON and INFO as its client says
    monkeypatch.setattr(logs, "_RUN_ID", ["cron-b"])
    monkeypatch.setenv("AGCREDIT_LOG_FORMAT", "json")
    monkeypatch.setattr(logging.getLogger(), "level", logging.INFO)
    for msg, text in zip(["m3", "m4"], cluster.map(_logging_task, ["m3", "m4"]), strict=True):
        docs = [json.loads(ln) for ln in text.splitlines()]
        assert [(d["run_id"], d["level"], d["logger"], d["msg"]) for d in docs] == [
            ("cron-b", "INFO", "features.series", f"{msg} at info"),
            ("cron-b", "WARNING", "features.series", f"{msg} at warning"),
            ("cron-b", "WARNING", "features.series", f"{msg} from a helper thread")]
        assert all(list(d) == ["ts", "level", "logger", "run_id", "msg"] and re.fullmatch(ts, d["ts"]) for d in docs)
    # nothing of either run is left on the workers: a task sent outside the runner logs as the worker always did
    bare = cluster.client.gather(cluster.client.map(_bare_logging_task, [f"b{i}" for i in range(4)], pure=False))
    assert [b[0] for b in bare] == [f"b{i}\n" for i in range(4)]
    assert {b[1:] for b in bare} == {(logging.WARNING, 0)}


def _library_logging_task(msg: str) -> tuple[str, dict[str, int]]:
    """What a task's SQLAlchemy-engine INFO line (its statements with their bound parameters) and MLflow DEBUG line
    wrote, and the libraries' levels inside the task."""
    import contextlib
    import io
    import logging

    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        logging.getLogger("sqlalchemy.engine.Engine").info("%s SELECT … WHERE farmer_name = 'Jane Doe'", msg)
        logging.getLogger("mlflow.store").debug("%s mlflow debug", msg)
        logging.getLogger("features.series").debug("%s ours at debug", msg)
    names = ("sqlalchemy.engine", "alembic", "huey", "mlflow", "urllib3")
    return out.getvalue(), {n: logging.getLogger(n).level for n in names}


def _library_levels_task(_: int) -> dict[str, int]:
    import logging

    return {n: logging.getLogger(n).level for n in ("sqlalchemy.engine", "alembic", "huey", "mlflow", "urllib3")}


def test_a_task_at_debug_on_a_worker_keeps_the_libraries_quiet_as_the_client_does(
        cluster: DaskRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task on a worker took the client's root level only, not setup_logging's per-library levels: at
    AGCREDIT_LOG_LEVEL=DEBUG/INFO a worker wrote SQLAlchemy's engine INFO lines (every statement with its bound
    parameters: a farmer's name) that the client suppresses, and MLflow's lines at the root level. Now a task sets
    them as the client does (pipelines._logs.quiet_libraries) and puts the worker's levels back after."""
    import logging

    import pipelines._logs as logs

    def bare() -> list[dict[str, int]]:  # the workers' levels, by tasks sent outside the runner
        return cluster.client.gather(cluster.client.map(_library_levels_task, [0, 1], pure=False))  # type: ignore

    before = bare()
    monkeypatch.setattr(logs, "_RUN_ID", ["cron-q"])
    monkeypatch.delenv("AGCREDIT_LOG_FORMAT", raising=False)
    monkeypatch.setattr(logging.getLogger(), "level", logging.DEBUG)
    monkeypatch.setattr(logging.getLogger("mlflow"), "level", logging.WARNING)  # MLFLOW_LOGGING_LEVEL=WARNING
    for msg, (text, levels) in zip(["q1", "q2"], cluster.map(_library_logging_task, ["q1", "q2"]), strict=True):
        assert "SELECT" not in text and "Jane" not in text, text
        assert "mlflow debug" not in text, text
        assert f"{msg} ours at debug" in text  # the run's own DEBUG lines do come through
        assert levels["sqlalchemy.engine"] == levels["alembic"] == levels["huey"] == logging.WARNING
        assert levels["mlflow"] == logging.WARNING
    assert bare() == before  # the worker's levels put back


def _identity_task(x: int) -> int:
    return x


def _die(x: int) -> int:
    import os

    os._exit(1)  # what the nanny's memory restart looks like to dask: the worker process is gone mid-task


def test_a_task_killing_its_worker_is_one_line_with_the_fix() -> None:
    """A worker over its memory limit (dask restarts it at 95 %) ended in distributed's KilledWorker traceback,
    exit 1, naming neither the cause nor the fix; and the lost-workers message promised a resume to runs that write
    no parts."""
    import dask
    from distributed import Client, LocalCluster

    from pipelines._dask_runner import DaskRunner

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        runner = DaskRunner(client)
        with pytest.raises(RunInputError, match=r"a series task killed its worker 1 times \(most often over the "
                           r"worker's memory limit.*halve --chunk-fields.*memory per worker$"):
            runner.map(_die, [1], label="series")


def test_user_errors_cross_to_the_client_whole() -> None:
    """A user error raised `from None` inside rasterio's handler carries GDAL's unpicklable error in its chain:
    dask sent a bare Exception with the worker's traceback (141 lines, exit 1). The task wrapper drops the chain."""
    import pickle

    from features.errors import ImageryError
    from pipelines._dask_runner import _PlainErrors

    class Unpicklable(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a} {b}")

    def scene(_: int) -> None:
        try:
            raise Unpicklable(1, 2)
        except Unpicklable:
            raise ImageryError(source="S2.tif", problem="unreadable scene file (RasterioIOError)") from None

    with pytest.raises(ImageryError) as e:
        _PlainErrors(scene)(1)
    assert e.value.__context__ is None
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is ImageryError and str(back) == "S2.tif: unreadable scene file (RasterioIOError)"


def test_paths_sent_to_workers_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --scheduler a relative --out wrote every part into each worker's own working directory."""
    from pipelines.distributed import client_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").mkdir()
    assert client_paths(Path("out")) == tmp_path / "out" and client_paths("scenes") == str(tmp_path / "scenes")
    assert client_paths("sentinelhub") == "sentinelhub" and client_paths(None) is None
    assert client_paths("s3://bucket/x") == "s3://bucket/x"
    # a source keyword stays one even beside a folder of that name (an earlier `imagery fetch --out sentinelhub`)
    (tmp_path / "sentinelhub").mkdir()
    assert client_paths("sentinelhub") == "sentinelhub" and client_paths("sentinelhub-stats") == "sentinelhub-stats"


# ---------------------------------------------------------------------- series
def test_series_blocks_bit_identical_and_parts_reused(county: Path, fields: Any, reference: Any,
                                                      tmp_path: Path) -> None:
    res = run_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=VARS, chunk_fields=5, out=tmp_path)
    assert res.n_partitions == 3
    pd.testing.assert_frame_equal(res.series, reference.series, check_exact=True)
    assert res.outside_fields == reference.outside_fields and res.small_fields == reference.small_fields
    assert res.dates_used == reference.dates_used and res.parts_reused == 0
    parts = sorted(tmp_path.glob("part-*.parquet"))
    assert len(parts) == 3
    # a killed writer leaves at most a temporary file: it is ignored and cleaned; finished parts are reused
    (tmp_path / f".{parts[0].name}.abc.tmp").write_bytes(b"partial")
    stamp = {p: p.stat().st_mtime_ns for p in parts}
    again = run_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=VARS, chunk_fields=5, out=tmp_path)
    assert again.parts_reused == 3 and again.scenes_read == 0
    pd.testing.assert_frame_equal(again.series, reference.series, check_exact=True)
    assert {p: p.stat().st_mtime_ns for p in parts} == stamp
    assert not list(tmp_path.glob(".*.tmp"))
    # another as-of date is other content: new parts, none overwritten
    series_distributed(fields, county / "scenes", SEASON, as_of=AS_OF - dt.timedelta(days=20), variables=VARS,
                       chunk_fields=5, out=tmp_path)
    assert len(list(tmp_path.glob("part-*.parquet"))) == 6


def _two_tile_scenes(folder: Path) -> Any:
    """Two adjacent 64-pixel tiles (UTM 44N), 3 dates, 4 bands + SCL; 40 fields, some across the tile edge."""
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine

    rng = np.random.default_rng(9)
    x0, y0 = 400_000.0, 2_000_000.0
    rows = []
    for d in ("2025-06-10", "2025-07-10", "2025-08-09"):
        for t in range(2):
            data = rng.integers(200, 4000, (5, 64, 64)).astype("uint16")
            data[4] = np.where(rng.random((64, 64)) < 0.2, 9, 4)
            rel = f"2025/S2_T{t}_{d.replace('-', '')}.tif"
            (folder / "2025").mkdir(parents=True, exist_ok=True)
            with rasterio.open(folder / rel, "w", driver="GTiff", width=64, height=64, count=5, dtype="uint16",
                               crs="EPSG:32644", transform=Affine(10.0, 0.0, x0 + t * 640.0, 0.0, -10.0, y0)) as dst:
                dst.write(data)
            rows.append(f"{d},T{t},{rel},B02;B04;B08;B11;SCL,0.0001,0,0,SCL,")
    (folder / "index.csv").write_text("date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline\n"
                                      + "\n".join(rows) + "\n")
    xy = np.stack([rng.uniform(x0 + 20, x0 + 1200, 40), rng.uniform(y0 - 600, y0 - 20, 40)], axis=1)
    geoms = shapely.box(xy[:, 0], xy[:, 1] - 55, xy[:, 0] + 65, xy[:, 1])
    return gpd.GeoDataFrame({"field_id": [f"G{i:02d}" for i in range(40)], "season": "2025",
                             "farmer_token": [f"t{i}" for i in range(40)], "declared_crop": "rice",
                             "declared_area_ha": 0.35, "region": "in-smallholder"}, geometry=geoms, crs="EPSG:32644")


def test_blocks_read_only_the_tiles_they_touch(tmp_path: Path) -> None:
    from pipelines._dask_scenes import scene_rows_per_block
    from pipelines.distributed import field_blocks

    fields = _two_tile_scenes(tmp_path / "scenes")
    one = build_series(fields, tmp_path / "scenes", "2025", variables=("NDVI", "B11"))
    res = run_series(fields, tmp_path / "scenes", "2025", variables=("NDVI", "B11"), chunk_fields=8)
    pd.testing.assert_frame_equal(res.series, one.series, check_exact=True)
    assert res.scenes_read < 6 * res.n_partitions  # blocks skip the tile they do not touch
    rows = scene_rows_per_block(tmp_path / "scenes", fields, field_blocks(fields, 8), "2025", as_of=None, start=None,
                                end=None)
    assert rows is not None
    assert sorted({len(r) for _, r in rows}) == [3, 6]  # one tile, or both for blocks across the edge


class _KillOnce(WorkerPlugin):
    """Worker plugin: the first ``label`` task to start on a worker kills that worker's process (once per marker)."""

    def __init__(self, marker: str, label: str = "series") -> None:
        self.marker = marker
        self.label = f"agcredit-{label}-"

    def transition(self, key: Any, start: str, finish: str, **kw: Any) -> None:
        if finish == "executing" and self.label in str(key):
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os._exit(1)


def test_dask_series_equal_with_a_worker_killed_mid_run(county: Path, fields: Any, reference: Any,
                                                        cluster: DaskRunner, tmp_path: Path) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    cluster.client.register_plugin(_KillOnce(str(marker)), name="kill-once")
    try:
        res = run_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=VARS, chunk_fields=3,
                         runner=cluster, out=tmp_path / "parts")
    finally:
        cluster.client.unregister_worker_plugin("kill-once")
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.is_file(), "no worker was killed"
    pd.testing.assert_frame_equal(res.series, reference.series, check_exact=True)
    assert res.n_partitions == 4 and len(list((tmp_path / "parts").glob("part-*.parquet"))) == 4
    assert not list((tmp_path / "parts").glob(".*.tmp"))
    assert res.outside_fields == reference.outside_fields and res.dates_used == reference.dates_used


# ---------------------------------------------------------------------- features, scoring
def test_features_blocks_equal_one_call(county: Path, fields: Any, reference: Any, tmp_path: Path) -> None:
    from features._seasonal import field_windows, seasonal_features
    from features.build import build_features
    from pipelines.featurize import featurize

    series = reference.series
    one = featurize(fields, county / "scenes", SEASON, AS_OF, series=series).features
    assert one["planted_area_ha"].notna().any()
    parts = features_distributed(fields, series, SEASON, AS_OF, imagery=county / "scenes", chunk_fields=4,
                                 out=tmp_path)
    # planted area rescales to an equal-area projection centred on the whole degree nearest the fields it is given
    # (features.fields.equal_area_crs): a block's hectares are the whole set's, bit for bit, as is everything else
    pd.testing.assert_frame_equal(parts, one, check_exact=True)
    assert len(list(tmp_path.glob("part-*.parquet"))) == 3
    assert any(c.startswith("feat_NDVI_") for c in parts.columns)
    basic = build_features(fields, series, SEASON, AS_OF,
                           seasonal=seasonal_features(series, field_windows(fields), as_of=AS_OF))
    pd.testing.assert_frame_equal(features_distributed(fields, series, SEASON, AS_OF, chunk_fields=5,
                                                       featurize="basic"), basic, check_exact=True)


def test_features_blocks_equal_one_call_with_the_scene_reference(county: Path, fields: Any, reference: Any,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    """With the scene reference on, the smoother's haze dates and offsets come from the reference, built once over
    the whole imagery and shared by the blocks: blocks still equal one call (they would not with the call-wide
    ``scene_offset``)."""
    from pipelines.featurize import featurize

    series = reference.series
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "0")
    off = featurize(fields, county / "scenes", SEASON, AS_OF, series=series).features
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "1")
    one = featurize(fields, county / "scenes", SEASON, AS_OF, series=series).features
    cols = [c for c in one.columns if c in off.columns and one[c].dtype.kind == "f"]
    assert any(not np.allclose(one[c], off[c], equal_nan=True) for c in cols)   # the reference acts
    parts = features_distributed(fields, series, SEASON, AS_OF, imagery=county / "scenes", chunk_fields=4,
                                 out=tmp_path)
    pd.testing.assert_frame_equal(parts, one, check_exact=True)
    assert len(list(tmp_path.glob("part-*.parquet"))) == 3


def _yield_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    crop = rng.choice(["maize", "soybean", "fallow"], n, p=[0.5, 0.4, 0.1])
    ndvi = rng.uniform(0.4, 0.9, n)
    season = rng.choice(["2022", "2023", "2024", "2025"], n)
    return pd.DataFrame({"field_id": [f"F{i:04d}" for i in range(n)], "season": season,
                         "as_of": pd.Timestamp("2025-09-01"), "region": "us-nebraska", "crop": crop,
                         "ndvi_max": ndvi, "planted_area_ha": rng.uniform(1, 30, n),
                         "y": np.where(crop == "maize", 10.0, 3.5) * (0.4 + ndvi) + rng.normal(0, 0.3, n)})


def test_score_blocks_equal_one_call() -> None:
    from models.governance import Governance
    from models.prices import read_prices
    from models.yield_value import YieldModel, YieldModelConfig, score_fields

    train = _yield_table(300, 1)
    model = YieldModel(YieldModelConfig(n_estimators=20, calibrate=False)).fit(
        train.drop(columns="y"), train["y"])
    X = _yield_table(41, 2).drop(columns="y")
    X["season"] = "2025"
    gov = Governance(crops=("maize",), regions=("us-nebraska",), checkpoints=("end",))
    kw: dict[str, Any] = {"model_name": "yield-value", "model_version": "3", "governance": gov, "checkpoint": "end"}
    one = score_fields(model, X, read_prices(), **kw)
    parts = score_distributed(model, X, read_prices(), runner=local_runner(), chunk_rows=10, **kw)
    pd.testing.assert_frame_equal(parts, one, check_exact=True)
    assert parts["value_p50"].sum() > 0 and (parts["value_p50"][X["crop"].eq("fallow").to_numpy()] == 0).all()


# ---------------------------------------------------------------------- decisions
def _decision_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """20 applications of 12 farmers (some apply twice), maize and soybean; a Book of $10M, $7M of it maize."""
    apps, feats, vals = [], [], []
    for i in range(20):
        tok = f"tok-{(i * 7) % 12:02d}"
        apps.append(application(f"A{i:02d}", token=tok, requested_amount=1_500_000 + 97_000 * i))
    for k in range(12):
        tok = f"tok-{k:02d}"
        crop = "maize" if k % 3 else "soybean"
        for j in range(1 + k % 2):
            fid = f"F{k:02d}{j}"
            feats.append(feature_row(fid, token=tok, declared_crop=crop, crop_type=crop))
            vals.append(valuation_row(fid, crop=crop, price=20000 if crop == "maize" else 40000,
                                      p50=10.0 if crop == "maize" else 3.5, p10=8.0 if crop == "maize" else 2.8,
                                      p90=12.0 if crop == "maize" else 4.2))
    book = book_frame([dict(line_id=f"L{j}", application_id=f"OLD{j}", farmer_token=f"tok-{j:02d}",
                            currency="USD", limit=100_000_000, drawn=0, outstanding=0, start_date="2025-03-01",
                            maturity_date="2025-12-01", crop="maize" if j < 7 else "soybean", region="us-nebraska")
                      for j in range(10)])
    prices = pd.concat([prices_frame(), prices_frame(crop="soybean", price=40000)], ignore_index=True)
    return pd.DataFrame(apps), features_frame(feats), valuations_frame(vals), prices, book


def _renewed(items: list[Any], book: pd.DataFrame, apps: pd.DataFrame, as_of: dt.date,
             open_alerts: pd.DataFrame | None = None) -> list[Any]:
    """What the single-machine path (score_and_decide) makes of decide_batch's items: the renewals' blocks added."""
    from pipelines.reunderwrite import renewal_actions

    return renewal_actions(items, book, apps, "2025", as_of, open_alerts=open_alerts)


def test_decisions_byte_identical_across_farmer_partitions(cluster: DaskRunner, tmp_path: Path) -> None:
    from pipelines._dask_decide import decide_partitions
    from underwriting.decisions import Headroom

    pol = default_policy()
    prof = pol.profile("us-operating")
    tight = dataclasses.replace(prof, max_share_crop_region=0.715, max_share_borrower=0.15)
    pol = dataclasses.replace(pol, profiles={**pol.profiles, "us-operating": tight})
    apps, feats, vals, prices, book = _decision_inputs()
    as_of = dt.date(2025, 7, 15)
    one = decide_batch(apps, feats, vals, prices, book, pol, "us-operating", as_of)
    assert {i.outcome for i in one} >= {"APPROVE", "REFER"}
    assert any("CONCENTRATION_CAP_APPLIED" in i.reason_codes for i in one)
    # a farmer's later applications pledge the same fields again: referred, in partitions as in one batch
    pledged = [i for i in one if "FIELDS_ALREADY_PLEDGED" in i.body["refer_reasons"]]
    assert len(pledged) == 20 - 12 and all(i.outcome == "REFER" for i in pledged)

    def bodies(items: list[Any]) -> list[tuple[str, str, str, int]]:
        return [(i.application_id, i.idempotency_key, canonical_json(i.body), i.limit) for i in items]

    # deciding each partition on its own (decide_batch per partition) is NOT the same: crop-region headroom
    # is shared by all farmers of a crop in a region
    naive = []
    for rows in group_partitions(apps["farmer_token"].tolist(), 4):
        a = apps.iloc[rows]
        naive += decide_batch(a, feats[feats["farmer_token"].isin(a["farmer_token"])], vals, prices, book, pol,
                              "us-operating", as_of)
    naive.sort(key=lambda i: i.application_id)
    assert bodies(naive) != bodies(one)

    items, rounds = decide_partitions(local_runner(), apps, feats, vals, prices,
                                      Headroom.from_book(book, tight), pol, "us-operating", as_of,
                                      chunk_applications=4, provenance=None, out=None)
    assert rounds >= 2 and bodies(items) == bodies(one)
    # the Dask path adds the renewals' blocks (renewals_propose_actions) as score_and_decide does after decide_batch
    one = _renewed(one, book, apps, as_of)
    assert sum("renewal" in i.body for i in one) == 10
    got = decide_distributed(apps.iloc[::-1], feats, vals, prices, book, pol, "us-operating", as_of,
                             runner=cluster, chunk_applications=4, out=tmp_path / "dask")
    assert bodies(got) == bodies(one)
    assert [dataclasses.astuple(i)[:9] for i in got] == [dataclasses.astuple(i)[:9] for i in one]
    first = sorted(p.name for p in (tmp_path / "dask").glob("part-*.parquet"))
    again = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of,
                               chunk_applications=4, out=tmp_path / "dask")
    assert bodies(again) == bodies(one)
    assert sorted(p.name for p in (tmp_path / "dask").glob("part-*.parquet")) == first
    # the decision code is part of the parts' keys: after an upgrade that changes it they are decided again
    import pipelines._code_digest as code_digest

    real = code_digest.source_digest
    try:
        code_digest.source_digest = (  # type: ignore[assignment]
            lambda s, root=None: "upgraded" if s == code_digest.DECISION_SOURCES else real(s, root))
        redone = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of,
                                    chunk_applications=4, out=tmp_path / "dask")
    finally:
        code_digest.source_digest = real  # type: ignore[assignment]
    assert bodies(redone) == bodies(one)
    assert len({p.name for p in (tmp_path / "dask").glob("part-*.parquet")} - set(first)) == len(first)  # new parts
    # the store's pledge holders (an application of an earlier run holds a farmer's fields): decide_distributed
    # ignored them (only the partition's own applications counted) — now the same referrals as decide_batch
    tok, season = str(apps["farmer_token"].iloc[0]), str(apps["season"].iloc[0])
    holders = {(tok, season): ["A-EARLIER-RUN"]}
    stored = _renewed(decide_batch(apps, feats, vals, prices, book, pol, "us-operating", as_of, pledged=holders),
                      book, apps, as_of)
    assert bodies(stored) != bodies(one)
    got = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of, runner=cluster,
                             chunk_applications=4, out=tmp_path / "dask", pledged=holders)
    assert bodies(got) == bodies(stored)


def test_the_stores_open_crop_failure_alerts_are_read_by_batch_and_partitions_alike(tmp_path: Path) -> None:
    """Policy 2026.12.10 (decisions_read_alerts): a new decision excludes a field with an open CROP_FAILURE alert in
    the decision store (CROP_FAILURE_OBSERVED, the alert's date in its evidence) — decide_batch and the Dask path the
    same, byte for byte; a WATCH excludes nothing; under the archived 2026.12.9 the alerts are not read."""
    from underwriting.policy import ARCHIVE_DIR, load_policy

    pol = default_policy()
    apps, feats, vals, prices, book = _decision_inputs()
    as_of = dt.date(2025, 7, 15)
    fid = "F011"  # tok-01's second field (its first application: A07)
    alerts = pd.DataFrame({"field_id": [fid, "F020"], "season": ["2025", "2025"],
                           "farmer_token": ["tok-01", "tok-02"], "alert": ["CROP_FAILURE", "WATCH"],
                           "severity": ["high", "medium"], "date": ["2025-07-02", "2025-07-10"]})
    plain = {i.application_id: i for i in decide_batch(apps, feats, vals, prices, book, pol, "us-operating", as_of)}
    seen = decide_batch(apps, feats, vals, prices, book, pol, "us-operating", as_of, open_alerts=alerts)
    got = {i.application_id: i for i in seen}
    hit = got["A07"]
    field = next(f for f in hit.body["fields"] if f["field_id"] == fid)
    assert field["codes"] == ["CROP_FAILURE_OBSERVED"] and not field["included"]
    assert field["crop_failure_observed"] == "2025-07-02"
    assert hit.body["computation"]["stressed_value"] < plain["A07"].body["computation"]["stressed_value"]
    assert "CROP_FAILURE_OBSERVED" in hit.reason_codes
    tok2 = [a for a, i in got.items() if i.farmer_token == "tok-02"]
    assert tok2 and all(got[a].body_json == plain[a].body_json for a in tok2)  # a WATCH: valued as before
    parts = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of, runner=local_runner(),
                               chunk_applications=4, out=tmp_path / "dask", open_alerts=alerts)
    seen = _renewed(seen, book, apps, as_of, open_alerts=alerts)
    assert [(i.idempotency_key, i.body_json) for i in parts] == [(i.idempotency_key, i.body_json) for i in seen]
    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    before = decide_batch(apps, feats, vals, prices, book, old, "us-operating", as_of)
    assert [i.body_json for i in decide_batch(apps, feats, vals, prices, book, old, "us-operating", as_of,
                                              open_alerts=alerts)] == [i.body_json for i in before]


def test_renewals_propose_the_same_actions_on_dask_as_on_one_machine(cluster: DaskRunner, tmp_path: Path) -> None:
    """Policy 2026.12.10 (renewals_propose_actions): the single-machine path (score_and_decide: decide_batch, then
    renewal_actions) gives an application renewing an active Book line a ``renewal`` block with the actions a
    re-underwriting would propose; the Dask path read the alerts but left the block out — a caller applied the
    renewal's actions itself. Now the same bodies and idempotency keys, byte for byte, on the cluster as on one
    machine, the alerts' REVIEW included."""
    pol = default_policy()
    apps, feats, vals, prices, book = _decision_inputs()
    as_of = dt.date(2025, 7, 15)
    book["limit"] = 2_000_000
    book.loc[book["line_id"].isin(["L1", "L3"]), ["drawn", "outstanding"]] = 3_000_000  # above any new limit
    alerts = pd.DataFrame({"field_id": ["F011"], "season": ["2025"], "farmer_token": ["tok-01"],
                           "alert": ["CROP_FAILURE"], "severity": ["high"], "date": ["2025-07-02"]})
    one = _renewed(decide_batch(apps, feats, vals, prices, book, pol, "us-operating", as_of, open_alerts=alerts),
                   book, apps, as_of, open_alerts=alerts)
    renewals = {i.application_id: i.body["renewal"] for i in one if "renewal" in i.body}
    assert len(renewals) == 10  # the Book's ten lines, each renewed by its farmer's first application
    assert renewals["A07"]["alerts"] == ["F011:CROP_FAILURE"] and "REVIEW" in renewals["A07"]["proposed_actions"]
    assert renewals["A09"]["line_id"] == "L3" and "FREEZE_UNDRAWN" in renewals["A09"]["proposed_actions"]
    assert any(not r["proposed_actions"] for r in renewals.values())

    def bodies(items: list[Any]) -> list[tuple[str, str, str, int]]:
        return [(i.application_id, i.idempotency_key, i.body_json, i.limit) for i in items]

    got = decide_distributed(apps.iloc[::-1], feats, vals, prices, book, pol, "us-operating", as_of, runner=cluster,
                             chunk_applications=4, out=tmp_path / "dask", open_alerts=alerts)
    assert bodies(got) == bodies(one)
    # a caller that still applies them itself (as the Dask path needed) changes nothing
    assert bodies(_renewed(got, book, apps, as_of, open_alerts=alerts)) == bodies(one)
    again = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of, runner=local_runner(),
                               chunk_applications=4, out=tmp_path / "dask", open_alerts=alerts)  # parts reused
    assert bodies(again) == bodies(one)
    # under the archived 2026.12.9 no renewal block, on either path
    from underwriting.policy import ARCHIVE_DIR, load_policy

    old = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    plain = decide_distributed(apps, feats, vals, prices, book, old, "us-operating", as_of, runner=local_runner(),
                               chunk_applications=4)
    assert bodies(plain) == bodies(decide_batch(apps, feats, vals, prices, book, old, "us-operating", as_of))
    assert not any("renewal" in i.body for i in plain)
    # a re-underwriting's own lines (exclude_lines): decided as decide_batch alone decides them, no renewal block —
    # decide_distributed added it regardless, while its docstring offered exclude_lines for them
    own = ["L1", "L3"]
    mine = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of, runner=local_runner(),
                              chunk_applications=4, open_alerts=alerts, exclude_lines=own)
    assert bodies(mine) == bodies(decide_batch(apps, feats, vals, prices, book, pol, "us-operating", as_of,
                                               open_alerts=alerts, exclude_lines=own))
    assert not any("renewal" in i.body for i in mine)
    forced = decide_distributed(apps, feats, vals, prices, book, pol, "us-operating", as_of, runner=local_runner(),
                                chunk_applications=4, open_alerts=alerts, exclude_lines=own, renewals=True)
    assert any("renewal" in i.body for i in forced)


def test_write_part_is_atomic_and_keeps_meta(tmp_path: Path) -> None:
    from pipelines._dask_parts import read_part, read_part_meta

    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    p = write_part(df, part_path(tmp_path, "k1"), {"n": 2})
    assert p.name == "part-k1.parquet" and read_part_meta(p) == {"n": 2}
    pd.testing.assert_frame_equal(read_part(p), df)
    assert [x.name for x in tmp_path.iterdir()] == ["part-k1.parquet"]


# ---------------------------------------------------------------------- fused per-block run
def _fused_model(feats: pd.DataFrame) -> tuple[Any, Any, dict[str, Any]]:
    """A small yield model on the county's own features (synthetic yields), its prices and scoring options."""
    from models.governance import Governance
    from models.prices import read_prices
    from models.yield_value import YieldModel, YieldModelConfig

    rng = np.random.default_rng(4)
    train = pd.concat([feats] * 4, ignore_index=True)
    y = 2.0 + 4.0 * train["feat_NDVI_max"].fillna(0.4).to_numpy() + rng.normal(0, 0.2, len(train))
    model = YieldModel(YieldModelConfig(n_estimators=15, calibrate=False)).fit(train, y)
    crops = tuple(sorted({str(c) for c in feats.get("crop", feats["declared_crop"]).dropna()}))
    gov = Governance(crops=crops, regions=("in-smallholder",), checkpoints=("end",))
    kw = {"model_name": "yield-value", "model_version": "2", "governance": gov, "checkpoint": "end",
          "currency": "INR"}
    return model, read_prices(), kw


def _staged(county: Path, fields: Any, out: Path, runner: Any, chunk: int, **fkw: Any) -> tuple[Any, Any, Any]:
    ser = run_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=VARS, chunk_fields=chunk,
                     runner=runner, out=out / "series")
    feats = features_distributed(fields, ser.series, SEASON, AS_OF, chunk_fields=chunk, runner=runner,
                                 out=out / "features", **fkw)
    return ser, feats, _fused_model(feats)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("part-*.parquet"))}


@pytest.fixture(scope="module")
def crop_fields(fields: Any) -> Any:
    """The fields with a declared crop (a field of unknown crop has no price to value it at)."""
    return fields[fields["declared_crop"].notna()].reset_index(drop=True)


def test_fused_blocks_equal_staged_stages_and_rerun_reuses(county: Path, crop_fields: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines._code_digest as code_digest
    from pipelines.distributed import run_portfolio

    fields = crop_fields
    ser, feats, (model, prices, kw) = _staged(county, fields, tmp_path / "staged", local_runner(), 4,
                                              imagery=county / "scenes")
    vals = score_distributed(model, feats, prices, chunk_rows=7, **kw)
    run = run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "fused", model=model, prices=prices,
                        chunk_fields=4, variables=VARS, **kw)
    assert run.n_blocks == 3 and run.parts_reused == 0 and run.n_fields == len(fields)
    for stage in ("series", "features"):  # the same part files, byte for byte
        staged = _files(tmp_path / "staged" / stage)
        assert len(staged) == 3 and _files(tmp_path / "fused" / stage) == staged
    one = build_series(fields, county / "scenes", SEASON, as_of=AS_OF, variables=VARS).series
    pd.testing.assert_frame_equal(run.read("series"), one, check_exact=True)
    pd.testing.assert_frame_equal(run.read("features"), feats, check_exact=True)
    pd.testing.assert_frame_equal(run.read("valuations"), vals, check_exact=True)
    assert run.totals() == {"INR": {k: int(vals[k].sum()) for k in ("value_p10", "value_p50", "value_p90")}}
    assert run.totals()["INR"]["value_p50"] > 0 and run.n_valued == len(vals)
    assert run.outside_fields == ser.outside_fields and run.dates_used == ser.dates_used
    assert [len(f) for f in run.iter_parts("valuations", columns=["field_id"])] == [b["n_fields"] for b in run.blocks]
    # a re-run returns the stored summaries: nothing is recomputed or rewritten
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "fused").rglob("part-*.parquet")}
    again = run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "fused", model=model,
                          prices=prices, chunk_fields=4, variables=VARS, **kw)
    assert again.parts_reused == 3 and again.scenes_read == 0 and again.blocks == run.blocks
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "fused").rglob("part-*.parquet")} == stamp
    # after an upgrade that changes the code making features (or valuations), the blocks are made again: a resumed
    # folder kept the previous release's parts (their keys named the inputs only)
    real = code_digest.source_digest
    for sources in (code_digest.FEATURE_SOURCES, code_digest.SCORING_SOURCES):
        monkeypatch.setattr(code_digest, "source_digest",
                            lambda s, root=None, changed=sources: "upgraded" if s == changed else real(s, root))
        upgraded = run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "fused", model=model,
                                 prices=prices, chunk_fields=4, variables=VARS, **kw)
        assert upgraded.parts_reused == 0, sources
        pd.testing.assert_frame_equal(upgraded.read("valuations"), vals, check_exact=True)
    monkeypatch.setattr(code_digest, "source_digest", real)
    with pytest.raises(RunInputError, match="stage must be one of series, features, valuations, found 'scores'"):
        run.parts("scores")


def test_fused_run_names_the_fields_it_could_not_value(county: Path, fields: Any, crop_fields: Any,
                                                      tmp_path: Path) -> None:
    """`agcredit value` warned "N field(s) without a declared or predicted crop are not valued" without naming one
    (a walkthrough finding; `underwrite` names them): each block's summary now keeps its first few such field ids."""
    from pipelines.distributed import run_portfolio

    blank = sorted(set(fields["field_id"].astype(str)) - set(crop_fields["field_id"].astype(str)))
    assert blank, "the fixture's fields include some without a declared crop"
    _ser, _feats, (model, prices, kw) = _staged(county, crop_fields, tmp_path / "staged", local_runner(), 4,
                                                imagery=county / "scenes")
    run = run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "fused", model=model, prices=prices,
                        chunk_fields=4, variables=VARS, **kw)
    assert run.n_without_crop == len(blank) and run.without_crop_named == blank[:5]
    assert run.n_valued == len(fields) - len(blank)


def test_fused_with_the_scene_reference_equals_staged_and_one_call(county: Path, crop_fields: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the scene reference on, the fused run's features parts equal the staged ones byte for byte (its own
    part keys) and one ``featurize`` call over all fields (the reference is built once, not per block)."""
    from pipelines.distributed import run_portfolio
    from pipelines.featurize import featurize

    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "1")
    fields = crop_fields
    ser, feats, (model, prices, kw) = _staged(county, fields, tmp_path / "staged", local_runner(), 4,
                                              imagery=county / "scenes")
    run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "fused", model=model, prices=prices,
                  chunk_fields=4, variables=VARS, **kw)
    staged = _files(tmp_path / "staged" / "features")
    assert len(staged) == 3 and _files(tmp_path / "fused" / "features") == staged
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "0")
    off = features_distributed(fields, ser.series, SEASON, AS_OF, chunk_fields=4, imagery=county / "scenes",
                               out=tmp_path / "off")
    assert not set(_files(tmp_path / "off")) & set(staged)            # parts with and without it never mix
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "1")
    one = featurize(fields, county / "scenes", SEASON, AS_OF, series=ser.series).features
    area = ["planted_area_ha", "planted_area_sd_ha", "planted_fraction", "noncrop_fraction"]
    pd.testing.assert_frame_equal(feats.drop(columns=area), one.drop(columns=area), check_exact=True)
    assert not feats.drop(columns=area).equals(off.drop(columns=area))


def test_fused_on_a_cluster_with_a_worker_killed(county: Path, crop_fields: Any, cluster: DaskRunner,
                                                 tmp_path: Path) -> None:
    import cloudpickle

    from pipelines.distributed import run_portfolio

    fields = crop_fields
    _, feats, (model, prices, kw) = _staged(county, fields, tmp_path / "staged", local_runner(), 3,
                                            featurize="basic")
    vals = score_distributed(model, feats, prices, chunk_rows=5, **kw)
    opts: dict[str, Any] = {"model": model, "prices": prices, "chunk_fields": 3, "variables": VARS,
                            "featurize": "basic", "planted_area": False, **kw}
    on_one = run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "local", **opts)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    cluster.client.register_plugin(_KillOnce(str(marker), "block"), name="kill-block")
    try:
        run = run_portfolio(fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "dask", runner=cluster, **opts)
    finally:
        cluster.client.unregister_worker_plugin("kill-block")
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.is_file(), "no worker was killed"
    assert run.n_blocks == 4 and run.blocks == on_one.blocks
    for stage in ("series", "features", "valuations"):  # nothing lost, nothing duplicated, the same bytes
        assert _files(tmp_path / "dask" / stage) == _files(tmp_path / "local" / stage)
        assert len(_files(tmp_path / "dask" / stage)) == 4
        assert not list((tmp_path / "dask" / stage).glob(".*.tmp"))
    assert _files(tmp_path / "dask" / "features") == _files(tmp_path / "staged" / "features")
    pd.testing.assert_frame_equal(run.read("valuations"), vals, check_exact=True)


def test_a_block_retried_after_its_series_part_writes_the_same_bytes(county: Path, crop_fields: Any,
                                                                      tmp_path: Path) -> None:
    """A block whose worker died after writing its series and features parts but before its valuations part is
    re-run reusing them: its valuations part is byte-identical to an uninterrupted run's (its metadata counted
    the series read: 0 on the retry)."""
    from pipelines.distributed import run_portfolio

    _, feats, (model, prices, kw) = _staged(county, crop_fields, tmp_path / "staged", local_runner(), 3,
                                            featurize="basic")
    opts: dict[str, Any] = {"model": model, "prices": prices, "chunk_fields": 3, "variables": VARS,
                            "featurize": "basic", "planted_area": False, **kw}
    run_portfolio(crop_fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "once", **opts)
    before = _files(tmp_path / "once" / "valuations")
    victim = sorted((tmp_path / "once" / "valuations").glob("part-*.parquet"))[1]
    victim.unlink()  # as if killed between the features part and the valuations part
    run = run_portfolio(crop_fields, county / "scenes", SEASON, AS_OF, out=tmp_path / "once", **opts)
    assert run.parts_reused == run.n_blocks - 1
    assert _files(tmp_path / "once" / "valuations") == before


def _hazy_portfolio() -> tuple[Any, pd.DataFrame, list[np.ndarray]]:
    """21 fields in a row; on 2009-08-04 a thin veil lowers the NDVI of the larger spatial block's fields by 0.10 and
    the other block's by 0.02: scene-wide haze for the whole portfolio (median below −0.05), not for the second
    block alone."""
    import geopandas as gpd
    from shapely.geometry import box

    n = 21
    fields = gpd.GeoDataFrame({"field_id": [f"H{i:02d}" for i in range(n)], "season": "2009",
                               "farmer_token": [f"T{i}" for i in range(n)], "declared_crop": "rice",
                               "declared_area_ha": 1.0, "region": "in-smallholder"},
                              geometry=[box(230000 + 150 * i, 1930000, 230100 + 150 * i, 1930100) for i in range(n)],
                              crs="EPSG:32644")
    blocks = field_blocks(fields, 11)
    big = max(blocks, key=len)
    dates = pd.date_range("2009-05-21", "2009-10-28", freq="5D")
    rng = np.random.default_rng(11)
    rows = []
    for i, fid in enumerate(fields["field_id"]):
        for j, d in enumerate(dates):
            v = 0.2 + 0.55 * np.exp(-0.5 * ((j - 16) / 6) ** 2) + rng.normal(0, 0.005)
            if d == pd.Timestamp("2009-08-04"):
                v -= 0.10 if i in set(big.tolist()) else 0.02
            rows.append({"field_id": fid, "season": "2009", "date": d, "variable": "NDVI", "mean": v, "std": 0.02,
                         "p10": v, "p50": v, "p90": v, "n_pixels": 40, "n_clear": 40})
    return fields, pd.DataFrame(rows), blocks


def test_blocks_share_the_seasons_haze_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoother's scene haze screen is judged once over the whole portfolio (pipelines.featurize.haze_screen)
    and given to every block: features on blocks equal one call, though the second block alone would not judge
    the date hazy (its fields' curves then differ)."""
    from pipelines.featurize import featurize, haze_screen, smooth_ndvi

    fields, series, blocks = _hazy_portfolio()
    as_of = dt.date(2009, 10, 31)
    plain = fields.drop(columns="geometry")
    hz = haze_screen(series, plain, as_of)
    assert list(hz.values()) == [["2009-08-03"]]  # the 5-day grid bin (from the season start) holding 08-04
    small = fields.iloc[min(blocks, key=len)]
    ids = set(small["field_id"])
    alone = smooth_ndvi(series[series["field_id"].isin(ids)], small.drop(columns="geometry"), as_of)
    assert alone.attrs["hazy_dates"] == []  # judged on its own fields, the block sees no haze
    whole = smooth_ndvi(series, plain, as_of)
    given = smooth_ndvi(series[series["field_id"].isin(ids)], small.drop(columns="geometry"), as_of, hazy=hz)
    w = whole[whole["field_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(given.reset_index(drop=True), w, check_exact=True)
    assert not np.array_equal(alone["value"].to_numpy(), w["value"].to_numpy())
    one = featurize(fields, None, "2009", as_of, series=series).features
    parts = features_distributed(fields, series, "2009", as_of, chunk_fields=11)
    pd.testing.assert_frame_equal(parts, one, check_exact=True)
    # a portfolio larger than the haze sample: one call and the blocks judge it on the same sampled fields
    import pipelines._smooth as fz

    monkeypatch.setattr(fz, "HAZE_SAMPLE", 15)
    assert len(fz.haze_sample_ids(plain)) == 15
    one = featurize(fields, None, "2009", as_of, series=series).features
    parts = features_distributed(fields, series, "2009", as_of, chunk_fields=11)
    pd.testing.assert_frame_equal(parts, one, check_exact=True)


def test_a_pinned_haze_reproduces_the_whole_run_for_a_few_fields() -> None:
    """`--hazy-dates` (pipelines.featurize.pin_haze): the few fields of one farmer, re-run alone with the haze dates
    the whole run recorded, get the whole run's feature rows bit for bit; alone and unpinned they do not (their own
    median sees no haze). The dates used are reported (FeaturizeResult.hazy_dates, haze_pinned); a pinned date
    off the smoother's grid or after the as-of date is a one-line user error."""
    from features.errors import UserInputError
    from pipelines.featurize import featurize, pin_haze

    fields, series, blocks = _hazy_portfolio()
    as_of = dt.date(2009, 10, 31)
    whole = featurize(fields, None, "2009", as_of, series=series)
    assert whole.hazy_dates == ["2009-08-03"] and not whole.haze_pinned
    small = fields.iloc[min(blocks, key=len)].reset_index(drop=True)
    mine = series[series["field_id"].isin(set(small["field_id"]))]
    want = whole.features[whole.features["field_id"].isin(set(small["field_id"]))].reset_index(drop=True)
    alone = featurize(small, None, "2009", as_of, series=mine)
    assert alone.hazy_dates == [] and not alone.haze_pinned
    assert not alone.features.equals(want)
    pinned = featurize(small, None, "2009", as_of, series=mine, haze_dates=[dt.date(2009, 8, 3)])
    assert pinned.hazy_dates == ["2009-08-03"] and pinned.haze_pinned
    pd.testing.assert_frame_equal(pinned.features, want, check_exact=True)
    # pinned at none: the whole run without its haze screen (the hazy date's veil pulls the curves down)
    bare = featurize(fields, None, "2009", as_of, series=series, haze_dates=[])
    assert bare.hazy_dates == [] and bare.haze_pinned and not bare.features.equals(whole.features)
    plain = fields.drop(columns="geometry")
    for day, msg in ((dt.date(2009, 8, 4), "2009-08-04 is not a date of the smoother's grid (2009-05-15 + 5k days)"),
                     (dt.date(2009, 11, 4), "2009-11-04 is after the as-of date 2009-10-31")):
        with pytest.raises(UserInputError, match=msg.replace("+", r"\+").replace("(", r"\(").replace(")", r"\)")):
            pin_haze(plain, [day], as_of)
    with pytest.raises(UserInputError, match=r"21 field\(s\) without a region \(H00, H01, H02\)"):
        pin_haze(plain.drop(columns="region"), [dt.date(2009, 8, 3)], as_of)


def test_features_blocks_equal_one_call_with_thermal_phenology(county: Path, fields: Any, reference: Any,
                                                               tmp_path: Path) -> None:
    """A phenology calibration with thermal-time durations and the daily weather: every block's phenology is the
    one call's (each block's featurize gets the weather for phenology only), and the weather is really used."""
    from features._phenology_calib import Calibration, CropCalib
    from pipelines.featurize import featurize

    cal = Calibration(region="in-smallholder", seasons=("2008",), crops={
        c: CropCalib(em_threshold=0.3, em_offset_days=-5.0, em_to_mat_days=90.0, em_to_mat_gdd=2600.0,
                     peak_to_mat_days=40.0, peak_to_mat_gdd=900.0) for c in ("rice", "maize", "cotton")})
    days = pd.date_range("2007-01-01", "2010-03-31", freq="D")
    warm = 18.0 + 6.0 * np.sin(2 * np.pi * (days.day_of_year - 100) / 365.0)
    wx = pd.DataFrame({"region": "in-smallholder", "date": days, "precip_mm": 2.0, "tmin_c": warm,
                       "tmax_c": warm + 10.0, "et0_mm": 4.0})
    series = reference.series
    one = featurize(fields, county / "scenes", SEASON, AS_OF, series=series, phenology_calib=cal,
                    phenology_weather=wx).features
    parts = features_distributed(fields, series, SEASON, AS_OF, imagery=county / "scenes", chunk_fields=4,
                                 out=tmp_path, phenology_calib=cal, weather=wx)
    pd.testing.assert_frame_equal(parts, one, check_exact=True)
    days_only = featurize(fields, county / "scenes", SEASON, AS_OF, series=series, phenology_calib=cal).features
    emerged = one["emergence_date"].notna()
    assert emerged.any()
    assert (one.loc[emerged, "expected_harvest_date"] != days_only.loc[emerged, "expected_harvest_date"]).any()


def test_a_run_without_any_series_says_why() -> None:
    """Block by block, every block's "no acquisition in the window" (or "the table matches no field") became
    "every field is outside the imagery" for the run: the blocks' common reason is what the run says."""
    from features.errors import ImageryError
    from features.series import NO_FIELD_PROBLEM, NoFieldSeriesError
    from pipelines.distributed import _series_outcome

    fs = pd.DataFrame({"field_id": ["a", "b"]})
    blank = {"small": [], "dates": [], "read": 0, "cached": 0, "warnings": []}
    metas = [{**blank, "outside": ["a"], "why": "no acquisition in the window"},
             {**blank, "outside": ["b"], "why": "no acquisition in the window"}]
    with pytest.raises(NoFieldSeriesError, match="no acquisition in the window") as e:
        _series_outcome(fs, "sentinelhub", metas)
    assert e.value.problem == NO_FIELD_PROBLEM
    with pytest.raises(ImageryError, match="every field is outside the imagery"):
        _series_outcome(fs, "scenes", [{**m, "why": None} for m in metas])


def _length(data: bytes) -> int:
    return len(data)


def test_inputs_sent_inside_the_tasks_raise_no_raw_dask_warning(cluster: DaskRunner) -> None:
    """``reunderwrite --workers`` printed dask's raw ``UserWarning: Sending large graph of size 25.99 MiB …
    consider scattering`` on the demo county: the runner sends the inputs inside the tasks on purpose (a task whose
    worker dies is re-run from its recipe), so the advice does not apply and the warning is not shown."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning raised on the client fails the test
        assert cluster.map(_length, [b"x" * 11_000_000, b"y"]) == [11_000_000, 1]


def test_featurize_on_keeps_the_partial_fetch_warning_of_one_call(tiny_county_sh: Path, tmp_path: Path) -> None:
    """A scene folder a partial `agcredit imagery fetch` left with missing acquisitions: one featurize (allowed)
    warns "N acquisition date(s) in the window were not fetched…"; featurize_on lost it — its blocks build their
    series on temporary index folders without the folder's sentinelhub.json — and the blocks' own featurize warnings
    (crop type, phenology, planted area). Now its warnings are one call's, in one call's order."""
    import json
    import shutil

    from pipelines.county import County
    from pipelines.distributed import featurize_on, local_runner
    from pipelines.featurize import featurize

    root = tmp_path / "cty"
    shutil.copytree(tiny_county_sh, root)
    c = County(root, cache_dir=tmp_path / "cache")
    season = c.current_season
    day = c.checkpoints(season)["mid"]
    folder = Path(c.imagery)
    (folder / "sentinelhub.json").write_text(json.dumps({"missing": [
        {"date": day.replace(day=1).isoformat(), "tile_id": "T", "reason": "HTTP 500"}]}))
    fields = c.fields(season)
    one = featurize(fields, c.imagery, season, day, allow_missing_acquisitions=True)
    on = featurize_on(local_runner(), fields, c.imagery, season, day, allow_missing_acquisitions=True,
                      chunk_fields=3)
    assert any("not fetched from Sentinel Hub" in w for w in one.warnings)
    assert "crop type left empty: no crop-type model given" in one.warnings
    assert on.warnings == one.warnings
    assert on.hazy_dates == one.hazy_dates and on.missing_acquisitions == one.missing_acquisitions


def test_featurize_on_reports_the_pinned_haze_dates_one_call_reports(tiny_county_sh: Path, tmp_path: Path) -> None:
    """--hazy-dates pinned: one featurize reports the pinned dates the smoother flagged (those of groups with usable
    observations, features.timeseries.smooth_ndvi's attrs); featurize_on reported every date pinned, so a decision's
    provenance (smoother_hazy_dates) differed between the two paths (for a smoothing group without usable
    observations; this tiny county has one group, observed: a parity check, not a reproduction). Now it reports the
    blocks' smoothing's."""
    import datetime as dt

    from pipelines._smooth import PHENOLOGY_GRID_DAYS, _smooth_groups
    from pipelines.county import County
    from pipelines.distributed import featurize_on, local_runner
    from pipelines.featurize import featurize

    c = County(tiny_county_sh, cache_dir=tmp_path / "cache")
    season = c.current_season
    day = c.checkpoints(season)["mid"]
    fields = c.fields(season)
    starts = sorted({s for _, s, _ in _smooth_groups(fields.drop(columns="geometry")) if s is not None})
    pinned = sorted({s + dt.timedelta(days=PHENOLOGY_GRID_DAYS * k) for s in starts for k in range(0, 400, 3)
                     if s + dt.timedelta(days=PHENOLOGY_GRID_DAYS * k) <= day})
    one = featurize(fields, c.imagery, season, day, haze_dates=pinned)
    on = featurize_on(local_runner(), fields, c.imagery, season, day, haze_dates=pinned, chunk_fields=3)
    assert len(one.hazy_dates) > 0
    assert on.hazy_dates == one.hazy_dates and on.haze_pinned and one.haze_pinned
    pd.testing.assert_frame_equal(on.features, one.features)


def test_block_warnings_merge_as_one_call_says_them() -> None:
    """The blocks' featurize warnings merged as one call over all their fields says them: crop-type counts summed
    (the earliest first checkpoint date), an empty phenology only when every block's was, planted-area offenders
    from the blocks' attrs in the fields' order; a constant warning once."""
    import datetime as dt

    from pipelines._dask_featurize import block_warnings
    from pipelines.featurize import area_warnings

    day = dt.date(2025, 7, 1)
    early = "crop type: {} field(s) too early in the season for any checkpoint of the model (its first is day 30 " \
            "of the season, from {})"
    none = {"outside_fields": [], "scenes_used": 4, "no_clear_fields": [], "partly_outside": {}}
    a = {"warnings": [early.format(2, "2025-06-03"), "phenology left empty: no NDVI observation up to the as-of date",
                      "planted area: 1 field(s) with no clear observation …"],
         "area": {**none, "no_clear_fields": ["F3"], "partly_outside": {"F3": 0.5}}}
    b = {"warnings": [early.format(1, "2025-06-01")], "area": {**none, "no_clear_fields": ["F1"]}}
    got = block_warnings([a, b], ["F1", "F2", "F3"], day)
    assert got == [early.format(3, "2025-06-01"),
                   *area_warnings({**none, "no_clear_fields": ["F1", "F3"], "partly_outside": {"F3": 0.5}}, day)]
    assert "F1, F3 (2 in all)" in got[1]
    same = {"warnings": ["crop type left empty: no crop-type model given",
                         "phenology left empty: no NDVI observation up to the as-of date"], "area": none}
    assert block_warnings([same, same], ["F1"], day) == same["warnings"]
    assert block_warnings([{}, {}], ["F1"], day) == []  # a custom featurize reports nothing


def _sleep_task(x: int | str) -> int | str:
    """Sleep 30 s; a path: write it and return at once."""
    import time

    if isinstance(x, str):
        Path(x).write_text("done")
    else:
        time.sleep(30)
    return x


def test_a_scheduler_lost_mid_run_is_one_line(tmp_path: Path) -> None:
    """A walkthrough killed the `dask scheduler` of a `value --scheduler` run: exit 1 and a 200-line traceback
    (FuturesCancelledError: scheduler-connection-lost). Now one line naming the scheduler and what to do."""
    import signal
    import subprocess
    import sys
    import threading
    import time

    from distributed import Client

    from pipelines._dask_runner import DaskRunner

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    sfile = tmp_path / "scheduler.json"
    sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                              "0", "--dashboard-address", ":0", "--scheduler-file", str(sfile)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(300):
            if sfile.exists() and sfile.stat().st_size:
                break
            time.sleep(0.1)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sfile),
                                   "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with Client(scheduler_file=str(sfile), timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
            first = tmp_path / "first-done"

            def kill_once_the_first_is_done() -> None:
                for _ in range(600):
                    if first.exists():
                        break
                    time.sleep(0.1)
                time.sleep(3.0)  # its result reaches the client (a loaded machine: seconds)
                sched.send_signal(signal.SIGKILL)

            threading.Thread(target=kill_once_the_first_is_done, daemon=True).start()
            # the task done before the loss counted (every future reads "cancelled" once the scheduler is lost: the
            # count said 0 done with its part on disk), and the error one that keeps the parts (ClusterLostError)
            with pytest.raises(ClusterLostError, match=r"lost the connection to the scheduler at tcp://127\.0\.0\.1:\d+ "
                                                       r"mid-run \(\w+\), with 1 of 3 block task\(s\) done; restart the "
                                                       r"scheduler and its workers, then re-run \(the parts already"):
                DaskRunner(client).map(_sleep_task, [str(first), 1, 2], label="block", resumable=True)
    finally:
        for p in (worker, sched):
            if p is not None:
                p.kill()
                p.wait(timeout=30)


def _sigint_ignored(_: int) -> bool:
    import signal

    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_the_local_clusters_workers_leave_ctrl_c_to_the_command() -> None:
    """A walkthrough: Ctrl-C of `value --workers 2` printed each worker's KeyboardInterrupt traceback (35–67 lines)
    before the command's one line; the workers ignore SIGINT (the command closes the cluster)."""
    from pipelines._dask_runner import dask_runner

    with dask_runner(workers=1) as runner:
        assert runner.map(_sigint_ignored, [1]) == [True]
