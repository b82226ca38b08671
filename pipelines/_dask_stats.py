"""The Statistical API (``--imagery sentinelhub-stats``) asked block by block on Dask workers (private; used by
:func:`pipelines._dask_featurize.featurize_on` and :func:`pipelines._dask_featurize.past_series_on` through
:func:`features.series.build_series`'s ``fetch_statistics``).

The Statistical API answers per field, so a spatial block's fields asked on a worker get the answers one machine gets
for them: each worker runs :func:`features.sources.sentinelhub.fetch_statistics` on its block's fields — the same
requests, the same on-disk cache (the worker's :func:`~features.sources._sh_io.default_cache`, the client's on one
machine or a shared folder), the same retries, locks and processing-unit accounting — and the client merges the
blocks' answers into the :class:`~features.sources._sh_io.StatsResult` one call over all the fields returns (the
series, the summary's counts and lists in the fields' order, its warnings said once). A failed block is merged into
one call's error: fields that failed after the retries are one :class:`~features.sources._sh_io.StatisticsFailed`
over all the blocks (the others fetched and cached, as on one machine), a 403 one
:class:`~features.sources._sh_io.SentinelHubQuotaError` naming every field not fetched; any other error (no
credentials, the service unreachable) is the block's own one-line error. Nothing is written by the blocks.

Credentials: a task carries the endpoint's name and a sentinelhub profile's *name* only; each worker reads its
credentials (``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` or the profile in its sentinelhub config file) when its first
request needs them — no ``SHConfig``, client id or secret is ever in the task graph.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["StatsTask", "fetch_statistics_on", "stats_block"]


@dataclass(frozen=True)
class StatsTask:
    """One spatial block's Statistical API requests: nothing secret (see the module docstring)."""

    fields: Any  # the block's fields, in the run's order
    season: str
    start: dt.date
    end: dt.date
    endpoint: str
    profile: str | None  # a sentinelhub profile's name, read on the worker
    variables: tuple[str, ...]
    cache_dir: str | None
    retry: Any = None


def stats_block(task: StatsTask) -> dict[str, Any]:
    """On a worker: one block's :func:`~features.sources.sentinelhub.fetch_statistics`, its series and summary
    (without the end-of-run warnings, said once over the merged run), or what failed — fields after the retries
    (``failed``) or a refusal (``quota``); other errors are raised (the block's one-line error)."""
    from dataclasses import asdict

    from features.sources import sentinelhub as sh

    try:
        res = sh.fetch_statistics(task.fields, task.season, task.start, task.end, endpoint=task.endpoint,
                                  profile=task.profile, variables=task.variables,
                                  cache_dir=Path(task.cache_dir) if task.cache_dir is not None else None,
                                  retry=task.retry)
    except sh.StatisticsFailed as e:
        return {"failed": list(e.failed), "done": e.n_fields - len(e.failed)}
    except sh.SentinelHubQuotaError as e:
        return {"quota": {"status": e.status, "fields": list(e.fields), "done": e.done, "detail": e.detail}}
    summary = asdict(res.summary)
    tail = len(sh.stats_warnings(res.summary, task.start, task.end))  # added by stats_result: said once, merged
    summary["warnings"] = summary["warnings"][:len(summary["warnings"]) - tail]
    return {"series": res.series, "summary": summary, "done": len(task.fields)}


def _by_field(entries: list[str], ids: list[str], pos: dict[str, int], sep: str) -> list[tuple[int, str]]:
    """``entries`` of one block (each its field's id, ``sep`` and more, in the block's order) with the position of
    their field in the run."""
    out, k = [], 0
    for e in entries:
        while k < len(ids) and not e.startswith(ids[k] + sep):
            k += 1
        out.append((pos.get(ids[k], len(pos)) if k < len(ids) else len(pos), e))
    return out


def fetch_statistics_on(runner: Any, chunk_fields: int, fields: Any, season: str, start: dt.date, end: dt.date, *,
                        endpoint: str = "cdse", profile: str | None = None, variables: tuple[str, ...] = ("NDVI",),
                        cache_dir: Path | None = None, retry: Any = None) -> Any:
    """:func:`features.sources.sentinelhub.fetch_statistics` with each spatial block of ``chunk_fields`` fields asked
    on ``runner``'s workers; the same result, or the same one-line error (see the module docstring)."""
    from features.contracts import check_season
    from features.errors import FieldsError
    from features.sources import sentinelhub as sh
    from features.sources._sh_io import check_inputs
    from pipelines._dask_parts import spatial_partitions

    season = check_season(season)
    fields = check_inputs(fields, start, end)  # what one call refuses before asking, refused here before a task
    if "season" in fields.columns:
        fields = fields[fields["season"].astype(str) == season]
        if len(fields) == 0:
            raise FieldsError(source="fields", problem=f"no fields for season {season}")
    sh.resolve_endpoint(endpoint, profile)  # an unknown endpoint: one call's error, before a task
    ids = fields["field_id"].astype(str).tolist()
    pos = {f: i for i, f in enumerate(ids)}
    blocks = spatial_partitions(fields.geometry.to_numpy(), ids, chunk_fields)
    where = str(Path(cache_dir).absolute()) if cache_dir is not None else None
    tasks = [StatsTask(fields=fields.iloc[rows], season=season, start=start, end=end, endpoint=str(endpoint),
                       profile=profile, variables=tuple(variables), cache_dir=where, retry=retry) for rows in blocks]
    from pipelines._dask_process import workers_credentials

    with workers_credentials(runner, str(endpoint), profile):  # a worker without them named as such
        results = runner.map(stats_block, tasks, label="statistics")
    block_ids = [[ids[i] for i in rows] for rows in blocks]
    done = sum(int(r.get("done", 0)) for r in results)
    quota = [r["quota"] for r in results if "quota" in r]
    if quota:  # refused: every field not fetched, as one call names those after the refused one
        left = sorted({f for q in quota for f in q["fields"]}, key=lambda f: pos.get(f, len(pos)))
        raise sh.SentinelHubQuotaError(status=quota[0]["status"], dates=[f"{start} to {end}"], fields=left,
                                       done=done + sum(int(q["done"]) for q in quota),
                                       what="fields' statistics", detail=quota[0]["detail"])
    if any("failed" in r for r in results):
        failed = sorted((x for r, b in zip(results, block_ids, strict=True) if "failed" in r
                         for x in _by_field(r["failed"], b, pos, " (")), key=lambda x: x[0])
        raise sh.StatisticsFailed(start=start, end=end, failed=[e for _, e in failed], n_fields=len(ids))
    summary = sh.FetchSummary()
    lists = ("missing", "failed_dates", "no_acquisition_fields", "warnings")
    for r in results:
        for f in dc_fields(summary):
            if f.name not in lists and f.name not in ("stopped", "dates"):
                setattr(summary, f.name, getattr(summary, f.name) + r["summary"][f.name])
    summary.missing = [m for r in results for m in r["summary"]["missing"]]
    summary.warnings = list(dict.fromkeys(w for r in results for w in r["summary"]["warnings"]))  # said once
    summary.no_acquisition_fields = sorted((f for r in results for f in r["summary"]["no_acquisition_fields"]),
                                           key=lambda f: pos.get(f, len(pos)))
    dates = sorted((x for r, b in zip(results, block_ids, strict=True)
                    for x in _by_field(r["summary"]["failed_dates"], b, pos, " ")), key=lambda x: x[0])
    summary.failed_dates = [e for _, e in dates]
    parts: list[pd.DataFrame] = [r["series"] for r in results]
    return sh.stats_result(parts, summary, start, end)
