"""The library's distributed featurizer (:mod:`pipelines.distributed`) on ``imagery="sentinelhub"`` (a Process-API
download): ONE download planned on the client over all the fields, its Catalog searches and GeoTIFFs on the workers,
then the blocks read the scene folder it wrote — the series and features one machine's, byte for byte, no box or
acquisition asked twice (each block used to download its own fields' boxes: adjacent blocks' boxes overlapped), and a
403 or no credentials one machine's one-line error (HTTP mocked with ``responses``, offline; the Dask workers are
threads of this process, so the mock answers them)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import responses
from shapely.geometry import box

from features.errors import ImageryError
from features.series import build_series
from features.sources import sentinelhub as sh
from pipelines._dask_parts import frame_hash
from pipelines.distributed import features_distributed, local_runner, run_portfolio, run_series, run_series_seasons
from tests.features.test_sentinelhub import add_token
from tests.pipelines import test_dask_process as _process
from tests.pipelines import test_dask_stats as _stats
from tests.pipelines.test_dask_stats import Recording

_sh, cluster, tasks = _stats._sh, _stats.cluster, _process.tasks  # credentials, cache, 2-thread cluster; the calls
add_service = _process.add_service
SEASON = "2023"
AS_OF = date(2023, 8, 15)


def _close_fields(n: int = 6) -> gpd.GeoDataFrame:
    """``n`` small fields ~200 m apart: one machine asks ONE box for them all; blocks of 2 fields each asked their
    own, overlapping box."""
    geoms = [box(77.0 + 0.002 * i, 12.0, 77.0005 + 0.002 * i, 12.0005) for i in range(n)]
    return gpd.GeoDataFrame({"field_id": [f"F{i:02d}" for i in range(n)], "season": [SEASON] * n,
                             "farmer_token": [f"t{i % 3}" for i in range(n)],
                             "declared_crop": ["rice"] * n, "declared_area_ha": [0.3] * n,
                             "region": ["in-smallholder"] * n}, geometry=geoms, crs="EPSG:4326")


def _fresh_cache(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """A new download cache (``sh.fetch``'s default, ``XDG_CACHE_HOME``): the next run asks the service again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))


@responses.activate
def test_run_series_downloads_once_on_the_workers_and_equals_one_machine(
        cluster: Any, tmp_path: Path, tasks: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fields = _close_fields()
    add_token()
    asked = add_service()
    one = build_series(fields, "sentinelhub", SEASON, as_of=AS_OF, cache_dir=tmp_path / "one")
    n = len(asked)
    assert n > 0 and sorted(k for k, _, _ in tasks) == ["catalog"] + ["scene"] * n  # one box
    for name, runner in (("dask", Recording(cluster)), ("local", local_runner())):
        asked.clear()
        tasks.clear()
        _fresh_cache(monkeypatch, tmp_path / f"xdg-{name}")
        ds = run_series(fields, "sentinelhub", SEASON, runner=runner, chunk_fields=2, as_of=AS_OF,
                        cache_dir=tmp_path / name, out=tmp_path / f"{name}-parts")
        assert ds.n_partitions == 3
        assert frame_hash(ds.series) == frame_hash(one.series)
        pd.testing.assert_frame_equal(ds.series, one.series, check_exact=True)
        assert ds.outside_fields == one.outside_fields and ds.dates_used == one.dates_used
        assert ds.warnings == one.warnings and ds.fetch_summary.scenes == one.fetch_summary.scenes == n
        assert len(asked) == n and len(set(asked)) == n  # each box's acquisition once, as one machine asks them
        assert sorted(k for k, _, _ in tasks) == ["catalog"] + ["scene"] * n  # one Catalog search, not per block
        if name == "dask":
            assert runner.labels == ["catalog", "scenes", "series"]
            assert all(w is not None for _, _, w in tasks), "asked on the client"
            assert all(_stats.SECRET.encode() not in p for p in runner.pickled)
    # the parts' keys name the download's content, not its folder: another folder of the same scenes reuses them
    again = run_series(fields, "sentinelhub", SEASON, chunk_fields=2, as_of=AS_OF, cache_dir=tmp_path / "dask",
                       out=tmp_path / "local-parts")
    assert again.parts_reused == 3
    # the past seasons' series (the alerts' expectations): each season's one download
    asked.clear()
    _fresh_cache(monkeypatch, tmp_path / "xdg-seasons")
    [past] = run_series_seasons(fields, "sentinelhub", [SEASON], runner=cluster, chunk_fields=2)
    whole = build_series(fields, "sentinelhub", SEASON).series
    assert frame_hash(past.series) == frame_hash(whole) and len(asked) == len(set(asked))


@responses.activate
def test_features_with_the_planted_area_download_once_and_equal_one_machine(
        cluster: Any, tmp_path: Path, tasks: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.featurize import featurize

    fields = _close_fields()
    add_token()
    asked = add_service()
    one = featurize(fields, "sentinelhub", SEASON, AS_OF, cache_dir=tmp_path / "one")
    assert "planted_area_ha" in one.features.columns and one.features["planted_area_ha"].notna().any()
    asked.clear()
    tasks.clear()
    _fresh_cache(monkeypatch, tmp_path / "xdg-dask")
    runner = Recording(cluster)
    feats = features_distributed(fields, one.series, SEASON, AS_OF, runner=runner, chunk_fields=2,
                                 imagery="sentinelhub", cache_dir=tmp_path / "dask")
    assert frame_hash(feats) == frame_hash(one.features)
    pd.testing.assert_frame_equal(feats, one.features, check_exact=True)
    assert len(asked) == len(set(asked)) > 0 and sorted(k for k, _, _ in tasks).count("catalog") == 1
    assert runner.labels == ["catalog", "scenes", "features"]


@responses.activate
def test_a_403_or_no_credentials_is_one_machines_one_line(cluster: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fields = _close_fields()
    add_token()
    healthy = add_service()
    build_series(fields, "sentinelhub", SEASON, as_of=AS_OF, cache_dir=tmp_path / "probe")
    target = healthy[len(healthy) // 2]
    responses.reset()
    add_token()
    add_service(lambda b, d: 403 if (b, d) == target else None)
    errs = []
    for name, go in (("one", lambda: build_series(fields, "sentinelhub", SEASON, as_of=AS_OF,
                                                  cache_dir=tmp_path / "one")),
                     ("dask", lambda: run_series(fields, "sentinelhub", SEASON, runner=cluster, chunk_fields=2,
                                                 as_of=AS_OF, cache_dir=tmp_path / "dask",
                                                 out=tmp_path / "parts"))):
        _fresh_cache(monkeypatch, tmp_path / f"xdg-{name}")
        with pytest.raises((sh.SentinelHubQuotaError, ImageryError)) as e:
            go()
        errs.append(f"{type(e.value).__name__}: {e.value}")
    assert errs[0] == errs[1] and "\n" not in errs[0] and "403" in errs[0], errs
    assert not (tmp_path / "dask" / "sentinelhub" / "index.csv").exists() and not list(tmp_path.glob("parts/*"))
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    monkeypatch.setattr(sh.SHConfig, "get_config_location", classmethod(lambda cls: str(tmp_path / "none.toml")))
    errs = []
    for go in (lambda: build_series(fields, "sentinelhub", SEASON, as_of=AS_OF, cache_dir=tmp_path / "one-nc"),
               lambda: run_series(fields, "sentinelhub", SEASON, runner=cluster, chunk_fields=2, as_of=AS_OF,
                                  cache_dir=tmp_path / "dask-nc")):
        _fresh_cache(monkeypatch, tmp_path / "xdg-nc")
        with pytest.raises(Exception) as e:
            go()
        errs.append(f"{type(e.value).__name__}: {e.value}")
    assert errs[0] == errs[1] and "SH_CLIENT_ID and SH_CLIENT_SECRET not set" in errs[0], errs


@responses.activate
def test_run_portfolio_downloads_once_and_its_parts_are_the_staged_ones(
        tmp_path: Path, tasks: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.pipelines.test_distributed import _fused_model

    fields = _close_fields()
    add_token()
    asked = add_service()
    staged = run_series(fields, "sentinelhub", SEASON, chunk_fields=2, as_of=AS_OF, out=tmp_path / "staged" / "series")
    feats = features_distributed(fields, staged.series, SEASON, AS_OF, chunk_fields=2, featurize="basic",
                                 out=tmp_path / "staged" / "features")
    model, prices, kw = _fused_model(feats)
    kw = {**kw, "governance": type(kw["governance"])(crops=("rice",), regions=(), checkpoints=("end",))}
    asked.clear()
    tasks.clear()
    _fresh_cache(monkeypatch, tmp_path / "xdg-fused")
    run = run_portfolio(fields, "sentinelhub", SEASON, AS_OF, out=tmp_path / "fused", model=model, prices=prices,
                        chunk_fields=2, featurize="basic", planted_area=False, **kw)
    assert run.n_blocks == 3 and run.outside_fields == [] and run.warnings == staged.warnings
    assert len(asked) == len(set(asked)) > 0 and sorted(k for k, _, _ in tasks).count("catalog") == 1
    files = {p.name: p.read_bytes() for p in sorted((tmp_path / "fused" / "series").glob("part-*.parquet"))}
    assert files == {p.name: p.read_bytes() for p in sorted((tmp_path / "staged" / "series").glob("part-*.parquet"))}


@responses.activate
def test_without_cache_the_scene_folder_is_in_the_shared_cache_and_removed_also_after_a_failure(
        cluster: Any, tmp_path: Path, tasks: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """On a cluster given by address without ``cache_dir``, the download's scene folder the blocks read was a
    temporary folder of the client; now it is made inside the Sentinel Hub cache folder the workers share, and
    removed when the run ends — also when a block fails after the download: nothing is left in the cache but the
    downloads, nothing in the client's temporary folder."""
    import tempfile

    from pipelines import _dask_series

    fields = _close_fields()
    add_token()
    add_service()
    client_tmp = tmp_path / "client-tmp"
    client_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(client_tmp))
    _fresh_cache(monkeypatch, tmp_path / "xdg")
    shared = tmp_path / "xdg" / "agcredit" / "sentinelhub"
    real, log = _dask_series._series_task, tmp_path / "read.txt"

    def failing(task: Any) -> Any:  # a block that fails on its worker, once it has seen the scene folder
        header, rows = task.scenes
        with log.open("a") as fh:
            fh.writelines(dict(zip(header, row, strict=True))["path"] + "\n" for row in rows)
        raise RuntimeError("block failed")

    monkeypatch.setattr(_dask_series, "_series_task", failing)
    with pytest.raises(Exception, match="block failed"):
        run_series(fields, "sentinelhub", SEASON, runner=cluster, chunk_fields=2, as_of=AS_OF)
    read = log.read_text().split()
    assert read and all(Path(p).is_relative_to(shared) and "/agcredit-sh-scenes-" in p for p in read), read[:2]
    assert not any(Path(p).exists() for p in read)
    assert not list(shared.glob(".agcredit-*")) and not list(client_tmp.iterdir())
    monkeypatch.setattr(_dask_series, "_series_task", real)
    ds = run_series(fields, "sentinelhub", SEASON, runner=cluster, chunk_fields=2, as_of=AS_OF)
    one = build_series(fields, "sentinelhub", SEASON, as_of=AS_OF)
    pd.testing.assert_frame_equal(ds.series, one.series, check_exact=True)
    assert not list(shared.glob(".agcredit-*")) and not list(client_tmp.iterdir())


@responses.activate
def test_a_cluster_that_cannot_share_the_scene_folder_is_refused_before_any_request(
        cluster: Any, tmp_path: Path, tasks: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``cache_dir``, a Sentinel Hub cache folder that cannot be written (here: under a file) leaves the
    scene folder no place the workers share: one line saying to give --cache on a shared folder, nothing asked. With
    ``cache_dir``, workers that cannot read it (each reading another folder) are refused the same way, naming it,
    the folder not left behind. A local cluster this process started keeps the client's temporary folder."""
    import contextlib
    import tempfile

    import pipelines._dask_process as proc
    from features.errors import UserInputError
    from pipelines.distributed import DaskRunner
    from pipelines.errors import RunInputError

    fields = _close_fields()
    add_token()
    asked = add_service()
    (tmp_path / "a-file").write_text("")
    _fresh_cache(monkeypatch, tmp_path / "a-file" / "xdg")
    with pytest.raises(UserInputError) as e:
        run_series(fields, "sentinelhub", SEASON, runner=cluster, chunk_fields=2, as_of=AS_OF)
    assert "\n" not in str(e.value) and "without --cache" in str(e.value) and "give --cache on a folder the client " \
        "and every worker share" in str(e.value) and str(tmp_path / "a-file" / "xdg") in str(e.value)
    assert asked == [] and tasks == []
    _fresh_cache(monkeypatch, tmp_path / "xdg")
    monkeypatch.setattr(proc, "_reads_marker", lambda *_a: False)  # every worker reads another folder
    cache = tmp_path / "not-shared" / "cache"
    with pytest.raises(RunInputError, match=rf"^dask runner: 2 of 2 worker\(s\) cannot read the cache folder {cache} "
                       r".*give --cache a folder the client and every worker share"):
        run_series(fields, "sentinelhub", SEASON, runner=cluster, chunk_fields=2, as_of=AS_OF, cache_dir=cache)
    assert asked == [] and tasks == [] and not (tmp_path / "not-shared").exists()
    started_here = DaskRunner(cluster.client, cluster=object())  # as dask_runner(workers=N) makes it (not closed)
    with contextlib.ExitStack() as stack:
        folder = proc.scene_folder(started_here, stack, None, "sentinelhub")
        assert folder.parent == Path(tempfile.gettempdir()) and folder.is_dir()
    assert not folder.exists()
