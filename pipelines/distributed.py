"""Scale out: the heavy stages on partitions, single-process or on Dask, with identical results.

Runners (:mod:`pipelines._dask_runner`): :func:`local_runner` (the default: one process,
dask never imported), :func:`dask_runner` (an existing cluster by address, or a local
cluster of N worker processes with one thread and :data:`DEFAULT_MEMORY_LIMIT` each) and
:func:`runner_from_options` for the CLI's ``--scheduler ADDRESS`` / ``--workers N``.

Stages — each partitions its input deterministically, runs one task per partition and
merges the results in a canonical order:

- :func:`series_distributed` — FieldTimeSeries; partitions are spatial blocks of fields
  (Hilbert order). Every task is :func:`features.series.build_series` on its block; a
  field's statistics use its own pixels only, so they are bit-identical to one
  ``build_series`` over all fields.
- :func:`features_distributed` — FieldFeatures on the same blocks: the production path
  ``pipelines.featurize.featurize`` (or a lighter or custom per-field function). What
  depends on the whole field set is computed once, over all of it: equal-area hectares (the
  equal-area projection is centred on the data), the overlap with other farmers' fields, and the
  smoother's scene reference when on (:mod:`features._scene_reference`; a block sees only its tiles).
- :func:`score_distributed` — FieldValuations (``models.yield_value.score_fields``) on runs
  of rows; LightGBM predicts row by row.
- :func:`run_portfolio` — the three stages fused: one task per block runs series, indicators
  and valuations, writes each as a part and returns a small summary; the client never holds the
  merged portfolio (:mod:`pipelines._dask_fused`). For a national portfolio.
- :func:`decide_distributed` — decisions, partitioned by farmer, byte-identical bodies to
  ``decide_batch`` (see :mod:`pipelines._dask_decide` for why farmer partitions alone are
  not enough, and the fixed-point rounds that make them so), the renewals' proposed actions added
  as ``score_and_decide`` adds them.
- :func:`featurize_on` — ``pipelines.featurize.featurize``'s whole result (series, features, the imagery
  source, dates and haze a decision's provenance names) from the series and features stages:
  ``reunderwrite --scheduler/--workers`` (:mod:`pipelines._dask_featurize`).

Imagery ``sentinelhub`` (a Process-API download): the series, the planted area's scenes (:func:`features_distributed`)
and the fused run download ONCE for all the fields — the request boxes planned on the client as one machine plans
them, the Catalog searches and GeoTIFFs on the workers (:func:`pipelines._dask_process.fetch_on`) — and the blocks
then read the scene folder that download wrote, each the files its fields meet: one machine's series and features,
byte for byte, no box asked twice, and one machine's one-line errors (a 403, no credentials) before any block runs.
(Until this release each block downloaded its own fields' boxes: adjacent blocks' boxes overlapped, their pixel grids
differed from one machine's.) The Statistical API (``sentinelhub-stats``) is asked block by block: it answers per
field. A download's parts are keyed by its content, not its folder.

With ``out`` a folder, each task writes ``<out>/part-<key>.parquet`` atomically, the key a
hash of everything the partition's result depends on; a finished part is never recomputed,
so a re-run (or a task re-run because its worker died) neither loses nor duplicates
anything. Without ``out`` results travel back in memory.

Memory per worker is bounded by the partition: one task holds its block's fields, the pixel
maps of the tiles they touch, and one window of rows (512) × the block's column span × the
bands needed. ``chunk_fields`` sets it (see the README's figures).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines._dask_features import features_distributed
from pipelines._dask_featurize import featurize_on
from pipelines._dask_fused import PortfolioRun, run_portfolio
from pipelines._dask_inputs import client_paths, field_blocks
from pipelines._dask_parts import content_key, frame_hash, part_path, read_part, remove_stale_tmp, write_part
from pipelines._dask_runner import (
    DEFAULT_MEMORY_LIMIT,
    DaskRunner,
    LocalRunner,
    Runner,
    dask_runner,
    local_runner,
    runner_from_options,
)
from pipelines._dask_season import season_calibrated, season_haze, season_sample_ids
from pipelines._dask_series import DistributedSeries, run_series, run_series_seasons, series_distributed

# isort: split
# re-exported, unused here: importable from pipelines.distributed as before its stages moved out (the tasks sent to
# Dask workers among them: _series_task, _features_task and their task classes)
from collections.abc import Callable, Sequence  # noqa: F401
from dataclasses import dataclass, field  # noqa: F401

from features.contracts import FIELD_TIME_SERIES, VARIABLES, check_field_time_series, check_fields, check_season  # noqa: F401
from features.errors import FieldsError, ImageryError  # noqa: F401
from features.series import NO_FIELD_PROBLEM  # noqa: F401
from pipelines._dask_features import (  # noqa: F401
    _basic_featurize,
    _block_area_attrs,
    _feature_task_for,
    _features_block,
    _features_block_meta,
    _features_run,
    _features_setup,
    _features_task,
    _FeatureTask,
)
from pipelines._dask_inputs import (  # noqa: F401
    _SOURCE_KEYWORDS,
    DEFAULT_CHUNK_FIELDS,
    _download_fingerprint,
    _imagery_fingerprint,
    _is_process_api,
)
from pipelines._dask_parts import read_part_meta, spatial_partitions  # noqa: F401
from pipelines._dask_scenes import remove, scene_rows_per_block, write_index  # noqa: F401
from pipelines._dask_series import (  # noqa: F401
    _ORDER,
    _download_outcome,
    _empty_series,
    _series_block,
    _series_download,
    _series_merged,
    _series_outcome,
    _series_plan,
    _series_task,
    _SeriesTask,
    _sort_series,
    _with_download,
)
from pipelines.errors import PipelineError  # noqa: F401

__all__ = [
    "DEFAULT_MEMORY_LIMIT", "Runner", "LocalRunner", "DaskRunner", "local_runner", "dask_runner",
    "runner_from_options", "DistributedSeries", "series_distributed", "run_series", "features_distributed",
    "score_distributed", "decide_distributed", "field_blocks", "PortfolioRun", "run_portfolio",
    "season_calibrated", "season_haze", "season_sample_ids", "featurize_on", "run_series_seasons",
]

DEFAULT_CHUNK_ROWS = 50_000
DEFAULT_CHUNK_APPLICATIONS = 2000


# ---------------------------------------------------------------------- scoring
def _score_task(item: tuple[str, pd.DataFrame, str | None], *, model: Any, prices: Any, kwargs: dict[str, Any]
                ) -> str | pd.DataFrame:
    from models.yield_value import score_fields

    key, feats, out = item
    path = part_path(out, key) if out is not None else None
    if path is not None and path.is_file():
        return str(path)
    df = score_fields(model, feats, prices, **kwargs)
    if path is None:
        return df
    write_part(df, path)
    return str(path)


def _score_setup(prices: Any, *, model_name: str, model_version: str, governance: Any, checkpoint: str,
                 currency: str | None) -> tuple[dict[str, Any], str]:
    """``score_fields`` keyword arguments and the part-key prefix of a scoring run."""
    kwargs = {"model_name": model_name, "model_version": str(model_version), "governance": governance,
              "checkpoint": checkpoint, "currency": currency}
    from pipelines._code_digest import SCORING_SOURCES, source_digest

    common = content_key("score/1", source_digest(SCORING_SOURCES), model_name, str(model_version), checkpoint, currency,
                         frame_hash(prices.to_frame()) if hasattr(prices, "to_frame") else repr(prices),
                         governance.to_json() if hasattr(governance, "to_json") else repr(governance))
    return kwargs, common


def score_distributed(model: Any, features: pd.DataFrame, prices: Any, *, model_name: str, model_version: str,
                      governance: Any, checkpoint: str, currency: str | None = None, runner: Runner | None = None,
                      chunk_rows: int = DEFAULT_CHUNK_ROWS, out: Path | None = None) -> pd.DataFrame:
    """``score_fields`` on runs of ``chunk_rows`` rows (in the order given); the same rows, in the same order.

    ``currency`` fixes the valuation currency (otherwise a run of fallow fields only takes the
    currency of its first region's prices, as ``value_fields`` does).
    """
    runner = runner or local_runner()
    out = client_paths(out)
    feats = features.reset_index(drop=True)
    kwargs, common = _score_setup(prices, model_name=model_name, model_version=model_version, governance=governance,
                                  checkpoint=checkpoint, currency=currency)
    n = max(1, int(chunk_rows))
    items = [(content_key(common, frame_hash(feats.iloc[s:s + n])), feats.iloc[s:s + n].reset_index(drop=True),
              str(out) if out is not None else None) for s in range(0, len(feats), n)]
    results = runner.map(_score_task, items, shared={"model": model, "prices": prices, "kwargs": kwargs},
                         label="score", resumable=out is not None)
    if out is not None:
        remove_stale_tmp(out)
    frames = [read_part(Path(r)) if isinstance(r, str) else r for r in results]
    from models.contracts import check_field_valuations

    return check_field_valuations(pd.concat(frames, ignore_index=True), where="score_distributed")


# ---------------------------------------------------------------------- decisions
def decide_distributed(applications: pd.DataFrame, features: pd.DataFrame, valuations: pd.DataFrame,
                       prices: pd.DataFrame, book: pd.DataFrame, policy: Any, profile: str,
                       as_of: dt.date | dt.datetime | pd.Timestamp | str, *, runner: Runner | None = None,
                       chunk_applications: int = DEFAULT_CHUNK_APPLICATIONS, provenance: Any = None,
                       out: Path | None = None, pledged: Any = None, exclude_lines: Any = (),
                       open_alerts: pd.DataFrame | None = None, renewals: bool | None = None) -> list[Any]:
    """``decide_batch`` on partitions of whole farmers; the same items, bodies byte for byte, same order
    (``pledged``: the store's pledge holders, :func:`underwriting.decisions.pledge_holders`; ``exclude_lines``: Book
    lines not counted as exposure — a re-underwriting's own; ``open_alerts``: the store's open alerts,
    :func:`pipelines.reunderwrite.stored_alerts`, read under policy ``decisions_read_alerts``; all as
    ``decide_batch``). Under policy ``renewals_propose_actions`` (2026.12.10 on) the decision of an application
    renewing an active Book line carries what a re-underwriting would propose for it (its ``renewal`` block and
    idempotency key), as :func:`pipelines.underwrite.score_and_decide` gives it: :func:`pipelines.reunderwrite.
    renewal_actions` on the merged items, one season at a time, with ``open_alerts`` (the alerts' REVIEW).
    ``renewals``: whether to add that block — by default (None) only without ``exclude_lines``: a re-underwriting's
    own lines are decided as ``decide_batch`` alone decides them (``pipelines.reunderwrite``), with no renewal block."""
    from pipelines._dask_decide import decide_partitions
    from pipelines.reunderwrite import renewal_actions
    from underwriting.decisions import failures_read, prepare_batch

    features = failures_read(features, open_alerts, policy.profile(profile))

    base, day = prepare_batch(applications, features, valuations, prices, book, policy, profile, as_of,
                              exclude_lines=exclude_lines)
    items, _ = decide_partitions(runner or local_runner(), applications, features, valuations, prices, base, policy,
                                 profile, day, chunk_applications=chunk_applications, provenance=provenance, out=out,
                                 pledged=pledged)
    if out is not None:
        remove_stale_tmp(out)
    if not (renewals if renewals is not None else not exclude_lines):
        return items
    # on the client, over every partition's items: a renewal is judged against its Book line (the Book is whole here)
    seasons = applications["season"].astype(str)
    for season in sorted(set(seasons)):
        items = renewal_actions(items, book, applications[seasons == season].reset_index(drop=True), season, day,
                                open_alerts=open_alerts)
    return items
