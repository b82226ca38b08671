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
