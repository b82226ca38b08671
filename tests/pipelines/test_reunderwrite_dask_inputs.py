"""`reunderwrite --scheduler/--workers` on the imagery one machine reads (series tables, the Statistical API, scene
folders), the past seasons' series built on the blocks too, and the same one-line errors as one machine."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from pipelines.cli import app
from pipelines.county import County
from pipelines.monitor import AlertParams
from pipelines.reunderwrite import ScoringModels, reunderwrite, reunderwrite_county
from tests.pipelines._reunderwrite_world import build_world, said, store_copy
from underwriting.policy import default_policy
from underwriting.store import DecisionStore


@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny county, a small yield model, first decisions at emergence in a store, and the county's series of
    every season as one table (what `features series` writes)."""
    w = build_world(tiny_county_sh, tmp_path_factory, "reunderwrite-dask-inputs")
    county, table = w["county"], w["tmp"] / "series.parquet"
    pd.concat([county.series(s) for s in county.seasons], ignore_index=True).to_parquet(table, index=False)
    assert len(county.seasons) > 1  # a past season: the alerts' expectations
    return {**w, "table": table}


def _files_args(world: dict[str, Any], imagery: str | Path) -> list[str]:
    rec = world["county"].path / "records"
    return ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", str(imagery),
            "--book", str(rec / "book.csv"), "--applications", str(rec / "applications.csv"),
            "--weather", str(world["county"].path / "weather" / "daily.csv"), "--history", str(rec / "history.csv"),
            "--as-of", world["cps"]["mid"].isoformat()]


def _run_files(world: dict[str, Any], tmp_path: Path, name: str, imagery: str | Path, extra: list[str],
               store: bool = True) -> tuple[Any, list[dict[str, Any]]]:
    url = store_copy(world, tmp_path, name)
    r = CliRunner().invoke(app, [*_files_args(world, imagery), "--store", url, *extra])
    with DecisionStore(url) as st:
        recs = st.records(world["season"])
    return r, recs[["record_id", "application_id", "kind", "supersedes", "limit", "body"]].to_dict("records")


def test_series_table_on_blocks_decides_as_on_one_machine(world: dict[str, Any], tmp_path: Path) -> None:
    """`reunderwrite --workers` refused a series table (`features series` output: "the imagery must be a local scene
    folder"). Now its features are built on the blocks from the table read once: the records, changes, alerts,
    warnings and provenance (the table's source and hash) are one machine's, byte for byte."""
    from pipelines.distributed import local_runner

    c, season, mid = world["county"], world["season"], world["cps"]["mid"]

    def run(name: str, **kw: Any) -> Any:
        return reunderwrite(season=season, as_of=mid, fields=c.fields(), imagery=world["table"], book=c.book(),
                            applications=c.applications(), store=store_copy(world, tmp_path, name),
                            policy=default_policy(), profile=c.profile, history=c.past_series(season),
                            models=world["models"], alert_params=AlertParams(min_band_fields=1),
                            weather=c.weather(), yield_history=c.history(), **kw)

    one = run("one")
    assert len(one.items) > 0
    assert one.items[0].body["provenance"]["imagery_source"].startswith("table (sha256:")
    blocks = run("blocks", runner=local_runner(), chunk_fields=3)
    assert said(blocks) == said(one)


def test_cli_series_table_with_workers_prints_and_stores_what_one_machine_does(world: dict[str, Any],
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    """`reunderwrite --fields … --imagery series.parquet --workers 1` (a LocalCluster): the printout and the stored
    records are the one-machine run's (the past seasons' series, the alerts' expectations, from the table too)."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    one, recs_one = _run_files(world, tmp_path, "one", world["table"], [])
    assert one.exit_code == 0, one.output
    dask, recs_dask = _run_files(world, tmp_path, "dask", world["table"], ["--workers", "1", "--chunk-fields", "3"])
    assert dask.exit_code == 0, dask.output
    assert "record(s) written" in one.stdout and dask.stdout == one.stdout
    assert recs_dask == recs_one and len(recs_one) > len(world["first"])


def test_past_seasons_are_built_on_the_blocks(world: dict[str, Any], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With a runner the past seasons' series (the alerts' expectations) were still read on one machine
    (County.past_series, the CLI's build_series loop); now they are built on the blocks, every past season's blocks
    in one map (side by side on the workers) — the same records, alerts and printout as one machine's."""
    import pipelines.distributed as dist
    from pipelines.distributed import LocalRunner

    class Counting(LocalRunner):  # the blocks in this process; which seasons each series map held
        def __init__(self) -> None:
            self.maps: list[list[str]] = []

        def map(self, fn: Any, items: Any, **kw: Any) -> Any:
            if kw.get("label") == "series":
                self.maps.append(sorted({t.season for t in items}))
            return super().map(fn, items, **kw)

    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    past = [s for s in c.seasons if s < season]
    assert past
    one = reunderwrite_county(c, season, mid, store=store_copy(world, tmp_path, "one"), models=world["models"],
                              alert_params=AlertParams(min_band_fields=1))

    def refused(self: Any, s: str) -> Any:
        raise AssertionError("past seasons read on the client")

    monkeypatch.setattr(County, "past_series", refused)
    runner = Counting()
    blocks = reunderwrite_county(c, season, mid, store=store_copy(world, tmp_path, "blocks"),
                                 models=world["models"], alert_params=AlertParams(min_band_fields=1),
                                 runner=runner, chunk_fields=3)
    assert said(blocks) == said(one)
    assert sorted(runner.maps) == sorted([past, [season]])

    # the --fields path (a scene folder) too: its past seasons on the blocks, the same printout and records
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    runner = Counting()

    @contextmanager
    def in_process(scheduler: Any, workers: Any) -> Any:  # no cluster to start
        yield runner

    monkeypatch.setattr(dist, "runner_from_options", in_process)
    cache = ["--cache", str(c.cache_dir)]
    r_one, recs_one = _run_files(world, tmp_path, "files-one", c.imagery, cache)
    assert r_one.exit_code == 0, r_one.output
    assert runner.maps == []  # one machine: no blocks
    r_blk, recs_blk = _run_files(world, tmp_path, "files-blocks", c.imagery, [*cache, "--workers", "2",
                                                                              "--chunk-fields", "3"])
    assert r_blk.exit_code == 0, r_blk.output
    assert r_blk.stdout == r_one.stdout and recs_blk == recs_one
    assert sorted(runner.maps) == sorted([past, [season]])


def test_bad_imagery_with_workers_gets_the_one_machine_errors(world: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input on the Dask path: the one-machine run's one-line error (exit 2, no traceback) — a series table with
    no row for any field, imagery that is not there — and a Process-API download refused before any cluster
    starts (its footprint follows the fields asked: blocks would not read one run's pixels)."""
    import pipelines.distributed as dist
    from pipelines.distributed import local_runner

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    started: list[Any] = []

    @contextmanager
    def in_process(scheduler: Any, workers: Any) -> Any:
        started.append(workers)
        yield local_runner()

    monkeypatch.setattr(dist, "runner_from_options", in_process)
    other = pd.read_parquet(world["table"]).assign(field_id=lambda d: "X" + d["field_id"].astype(str))
    foreign = tmp_path / "foreign.parquet"
    other.to_parquet(foreign, index=False)
    for imagery in (foreign, tmp_path / "no-such-series.parquet"):
        one, _ = _run_files(world, tmp_path, "one", imagery, [])
        dask, _ = _run_files(world, tmp_path, "dask", imagery, ["--workers", "2"])
        assert one.exit_code == 2 and dask.exit_code == 2, (one.output, dask.output)
        assert dask.stderr == one.stderr and len(one.stderr.strip().splitlines()) == 1, one.stderr
        assert "Traceback" not in dask.output


def test_statistical_api_with_a_runner_decides_as_on_one_machine(world: dict[str, Any], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`--imagery sentinelhub-stats` with a runner was refused; now its answers are asked once (the client's
    credentials, never in the task graph: the blocks get the series, not the source's settings) and the features
    are built on the blocks — one machine's records."""
    from features.sources import sentinelhub as sh
    from pipelines.distributed import local_runner

    c, season, mid = world["county"], world["season"], world["cps"]["mid"]
    table = pd.read_parquet(world["table"])
    calls: list[int] = []

    def answers(fields: Any, s: str, start: Any, end: Any, **kw: Any) -> Any:
        calls.append(len(fields))
        ids = set(fields["field_id"].astype(str))
        got = table[(table["season"].astype(str) == s) & table["field_id"].astype(str).isin(ids)
                    & (pd.to_datetime(table["date"]) >= pd.Timestamp(start))
                    & (pd.to_datetime(table["date"]) <= pd.Timestamp(end))]
        return sh.StatsResult(series=got.reset_index(drop=True), summary=sh.FetchSummary())

    monkeypatch.setattr(sh, "fetch_statistics", answers)

    def run(name: str, **kw: Any) -> Any:
        return reunderwrite(season=season, as_of=mid, fields=c.fields(), imagery="sentinelhub-stats", book=c.book(),
                            applications=c.applications(), store=store_copy(world, tmp_path, name),
                            policy=default_policy(), profile=c.profile, history=c.past_series(season),
                            models=world["models"], alert_params=AlertParams(min_band_fields=1),
                            weather=c.weather(), yield_history=c.history(), **kw)

    one = run("one")
    assert len(one.items) > 0 and calls
    assert one.items[0].body["provenance"]["imagery_source"] == "sentinelhub-stats"
    blocks = run("blocks", runner=local_runner(), chunk_fields=3)
    assert said(blocks) == said(one)


def test_several_seasons_series_in_one_map_equal_one_call_each(world: dict[str, Any]) -> None:
    """run_series_seasons (the past seasons of a Dask re-underwriting): every season's blocks in one map — a small
    county's seasons are a block each, one map per season ran them one after another on one worker — and each
    season's series bit-identical to one build_series call."""
    from features.series import build_series
    from pipelines.distributed import LocalRunner, run_series_seasons

    class Counting(LocalRunner):
        def __init__(self) -> None:
            self.maps: list[list[str]] = []

        def map(self, fn: Any, items: Any, **kw: Any) -> Any:
            self.maps.append([t.season for t in items])
            return super().map(fn, items, **kw)

    c = world["county"]
    seasons = list(c.seasons)
    assert len(seasons) > 1
    runner = Counting()
    got = run_series_seasons(c.fields(), c.imagery, seasons, runner=runner, chunk_fields=5,
                             cache_dir=c.cache_dir / "series")
    assert len(runner.maps) == 1 and sorted(set(runner.maps[0])) == sorted(seasons)
    for s, ds in zip(seasons, got, strict=True):
        one = build_series(c.fields(s), c.imagery, s, cache_dir=c.cache_dir / "series")
        pd.testing.assert_frame_equal(ds.series, one.series)
        assert ds.n_partitions > 1 and ds.dates_used == one.dates_used


def test_cheap_refusals_come_before_the_past_seasons_on_the_cluster(world: dict[str, Any], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """On Dask (a runner), the past seasons' series were mapped on the cluster before a missing store or the scene
    reference was refused: now those one-line refusals come first, the cluster untouched (review L3)."""
    import pipelines._dask_featurize as dask_featurize

    def mapped(*_a: Any, **_kw: Any) -> Any:
        raise AssertionError("past seasons mapped before the cheap refusals")

    monkeypatch.setattr(dask_featurize, "past_series_on", mapped)
    c, mid, runner = world["county"], world["cps"]["mid"], object()  # never used: refused first
    missing = tmp_path / "nope.db"
    with pytest.raises(UserInputError, match="nope.db"):
        reunderwrite_county(c, world["season"], mid, store=f"sqlite:///{missing}", models=world["models"],
                            runner=runner)
    assert not missing.exists()
    monkeypatch.setenv("AGCREDIT_SCENE_REFERENCE", "1")
    with pytest.raises(UserInputError, match=r"^--scheduler/--workers: not with the scene reference on"):
        reunderwrite_county(c, world["season"], mid, store=store_copy(world, tmp_path, "ref"),
                            models=world["models"], runner=runner)
