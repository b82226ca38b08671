"""The fused per-block run: series → indicators → valuations in one task per spatial block (private).

See :func:`run_portfolio` (exported by :mod:`pipelines.distributed`). The staged functions
(``run_series``, ``features_distributed``, ``score_distributed``) bring every stage's merged
output back to the client — about 20 GB at a million fields. Here each block's task runs the
three stages on its fields in one worker, writes each stage's output as an atomic content-keyed
part (``<out>/series``, ``<out>/features``, ``<out>/valuations``) and returns only a summary of
a few hundred bytes; the client holds the fields, the summaries and nothing else. Parts are read
lazily afterwards (:meth:`PortfolioRun.iter_parts`), one block at a time.

The tasks are the staged tasks, run back to back: a block's series part is the very file
``run_series(out=<out>/series)`` writes (same name, same bytes), its features part the one
``features_distributed(out=<out>/features)`` writes with the same blocks; its valuations are the
rows ``score_distributed`` gives those fields. The valuations part is written last and is the
block's commit: its name hashes everything the block depends on, and its metadata holds the
block's summary, so a re-run (or a task dask re-runs because its worker died) returns that
summary without computing anything; a block interrupted earlier reuses the parts it finished.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import MAX_LISTED

__all__ = ["PortfolioRun", "run_portfolio", "STAGES"]

STAGES = ("series", "features", "valuations")


#: the last run's manifest under ``out``: its season, date, model and the valuation parts that are its result
RUN_MANIFEST = "run.json"


def write_run_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write ``out/run.json`` atomically (the parts of this run; others in the folder are older runs')."""
    import json

    from features.atomic import write_bytes_atomic

    write_bytes_atomic((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(), Path(out) / RUN_MANIFEST)


@dataclass
class PortfolioRun:
    """What a fused run reports: one small summary per block, and where its parts are."""

    out: Path
    blocks: list[dict[str, Any]]
    n_fields: int
    outside_fields: list[str]
    small_fields: list[str]
    dates_used: list[dt.date]
    scenes_read: int = 0
    scenes_cached: int = 0
    parts_reused: int = 0
    warnings: list[str] = field(default_factory=list)
    source: str = ""
    #: the phenology smoother's scene haze dates every block used (judged once over the season, or pinned)
    hazy_dates: list[str] = field(default_factory=list)
    haze_pinned: bool = False

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def n_valued(self) -> int:
        return sum(int(b["n_valued"]) for b in self.blocks)

    @property
    def n_without_crop(self) -> int:
        """Fields with neither a declared nor a predicted crop (not valued)."""
        return sum(int(b.get("n_without_crop", 0)) for b in self.blocks)

    @property
    def without_crop_named(self) -> list[str]:
        """The first field ids (sorted, at most five) of the fields not valued for want of a crop (blocks written by
        an earlier release name none)."""
        return sorted(str(f) for b in self.blocks for f in b.get("without_crop", []))[:MAX_LISTED]

    def totals(self) -> dict[str, dict[str, int]]:
        """Sum of value_p10 / value_p50 / value_p90 (minor units) per currency, over every block."""
        tot: dict[str, dict[str, int]] = {}
        for b in self.blocks:
            for cur, v in b["totals"].items():
                t = tot.setdefault(cur, {"value_p10": 0, "value_p50": 0, "value_p90": 0})
                for k in t:
                    t[k] += int(v[k])
        return dict(sorted(tot.items()))

    def parts(self, stage: str) -> list[Path]:
        """The part files of ``stage`` (series, features, valuations), in block order."""
        if stage not in STAGES:
            from pipelines.errors import RunInputError

            raise RunInputError(what="portfolio run", problem=f"stage must be one of {', '.join(STAGES)}, "
                                f"found {stage!r}")
        return [self.out / stage / str(b[f"{stage}_part"]) for b in self.blocks]

    def iter_parts(self, stage: str, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """One frame per block (``columns`` only, if given): the portfolio without ever holding all of it."""
        from pipelines._dask_parts import read_part

        for p in self.parts(stage):
            df = read_part(p)
            yield df[list(columns)] if columns is not None else df

    def read(self, stage: str) -> pd.DataFrame:
        """A whole stage in the staged functions' order (for portfolios that fit in memory; tests)."""
        frames = [f for f in self.iter_parts(stage) if len(f)]
        if not frames:
            return next(iter(self.iter_parts(stage)))
        df = pd.concat(frames, ignore_index=True)
        if stage == "series":
            from pipelines.distributed import _sort_series

            return _sort_series(df)
        return df.sort_values("field_id", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class _BlockTask:
    block: int
    key: str
    out: str
    series: Any  # pipelines.distributed._SeriesTask
    area: pd.Series
    overlap: pd.Series
    features_common: str
    feature_scenes: Any = None


def _summary(task: _BlockTask, smeta: dict[str, Any], spath: Path, fpath: Path, feats: pd.DataFrame,
             vals: pd.DataFrame, vpath: Path) -> dict[str, Any]:
    totals: dict[str, dict[str, int]] = {}
    if len(vals):
        g = vals.groupby(vals["currency"].astype(str), sort=True)[["value_p10", "value_p50", "value_p90"]].sum()
        totals = {str(c): {k: int(v) for k, v in row.items()} for c, row in g.iterrows()}
    unvalued = sorted(set(feats["field_id"].astype(str)) - set(vals["field_id"].astype(str))) if len(feats) else []
    named = {"without_crop": unvalued[:MAX_LISTED]} if unvalued else {}  # the first few, named in the warning
    return {"block": task.block, "n_fields": len(task.series.fields), "series_part": spath.name,
            "features_part": fpath.name, "valuations_part": vpath.name,
            "feature_columns": [str(c) for c in feats.columns], "n_valued": len(vals),
            "n_without_crop": int(len(feats) - len(vals)), **named,
            "n_in_scope": int(vals["in_scope"].sum()) if len(vals) else 0, "totals": totals,
            "series": {k: smeta[k] for k in ("outside", "small", "dates", "read", "cached", "warnings")}}


def _block_task(task: _BlockTask, *, feature_shared: dict[str, Any], model: Any, prices: Any,
                score_kwargs: dict[str, Any], weather: pd.DataFrame | None = None) -> dict[str, Any]:
    """Series, features and valuations of one block; returns its summary (see the module docstring)."""
    from features.contracts import check_field_features
    from models.yield_value import known_crop, score_fields
    from pipelines._dask_parts import part_path, read_part, read_part_meta, write_part
    from pipelines.distributed import _feature_task_for, _features_block, _series_block

    vpath = part_path(Path(task.out) / "valuations", task.key)
    if vpath.is_file():
        return {**read_part_meta(vpath), "reused": True}
    ser, smeta, spath = _series_block(task.series)
    assert spath is not None
    if ser is None:
        ser = read_part(spath)
    ftask = _feature_task_for(task.features_common, task.series.fields, ser, task.area, task.overlap,
                              Path(task.out) / "features", task.feature_scenes)
    feats, fpath = _features_block(ftask, **feature_shared)
    assert fpath is not None
    if feats is None:
        feats = read_part(fpath)
    feats = check_field_features(feats, where=f"FieldFeatures of block {task.block}")
    if weather is not None:  # weather as of the date (features.weather), for a yield model that reads it
        from features.weather import add_weather

        feats = add_weather(feats, weather)
    known = known_crop(feats)  # a field without a declared or predicted crop has no price: not valued
    vals = score_fields(model, feats if known.all() else feats[known].reset_index(drop=True), prices, **score_kwargs)
    summary = _summary(task, smeta, spath, fpath, feats, vals, vpath)
    # the part keeps what its data says, not how this attempt got there: the counts of series read and cached are
    # 0 when a retried block (its worker killed after the series part was written) reuses its series part, so a
    # retried block's part would differ in bytes from an uninterrupted one's
    stable = {**summary, "series": {k: v for k, v in summary["series"].items() if k not in ("read", "cached")}}
    write_part(vals, vpath, stable)
    return {**stable, "reused": False, "counts": {k: summary["series"][k] for k in ("read", "cached")}}


def run_portfolio(fields: Any, imagery: str | Path, season: str, as_of: dt.date, *, out: Path, model: Any,
                  prices: Any, model_name: str, model_version: str, governance: Any, checkpoint: str,
                  currency: str | None = None, runner: Any = None, chunk_fields: int | None = None,
                  variables: Sequence[str] | None = None, cache_dir: Path | None = None, inward_buffer: bool = False,
                  min_clear: int = 8, crop_model: Any = None,
                  featurize: Callable[[Any, pd.DataFrame, str, dt.date], pd.DataFrame] | str | None = None,
                  planted_area: bool = True, phenology_calib: Any = None, area_params: Any = None,
                  period_days: int = 16, weather: pd.DataFrame | None = None,
                  hazy: dict[str, list[str]] | None = None,
                  missing_acquisitions: Sequence[str] = (),
                  manifest_extra: dict[str, Any] | None = None) -> PortfolioRun:
    """Series → indicators → valuations of ``fields`` in one task per spatial block; parts under ``out``.
    ``missing_acquisitions``: the acquisition dates of the window the scene folder lacks (a partial ``imagery
    fetch``, valued without them: ``value --allow-missing-acquisitions``), named in the run manifest.
    ``manifest_extra``: entries added to the run manifest (``value --rejects``: the rows set aside and the held
    farmers' fields, :func:`pipelines.portfolio.set_aside_manifest`).

    Equal, block for block, to ``run_series(out=out/"series")``, ``features_distributed(out=out/"features")`` (with
    ``imagery`` for planted area when ``planted_area``) and ``score_distributed`` on the same options and
    ``chunk_fields``: the same series and features parts, the same valuation rows. The indicators' variables are
    those requested that ``features._seasonal`` summarises (the staged path takes those present in the series:
    the same whenever every requested variable has a row). Give ``currency`` for valuations independent of the
    blocks (as in ``score_distributed``). Returns summaries only; read the parts with ``PortfolioRun.iter_parts``.
    ``weather`` (a checked :mod:`features.weather` table): its ``wx_*`` features are added to each block's
    features before scoring. ``hazy``: the smoother's scene haze dates pinned (:func:`pipelines.featurize.pin_haze`);
    else judged once over the season (:func:`pipelines.distributed.season_haze`).
    With the scene reference on (:mod:`features._scene_reference`), it is built once from
    ``imagery`` when ``planted_area`` (the features stage then has the imagery, as the staged path with
    ``imagery=``) and shared by every block; the series blocks do not build it.
    ``imagery="sentinelhub"`` (a Process-API download): ONE download for all the fields before any block runs, as
    :func:`pipelines.distributed.run_series` makes it (``<cache_dir>/sentinelhub`` or a temporary folder removed
    before returning; its requests on the workers), whose scene folder every block's series and planted area read
    (until this release each block downloaded its own fields' boxes); its parts are ``run_series``'s.
    """
    from features.contracts import VARIABLES
    from pipelines import distributed as d
    from pipelines._dask_parts import content_key, frame_hash, remove_stale_tmp
    from pipelines._dask_scenes import scene_rows_per_block

    runner = runner or d.local_runner()
    out = d.client_paths(Path(out))
    imagery, cache_dir = d.client_paths(imagery), d.client_paths(cache_dir)
    with contextlib.ExitStack() as stack:
        # a Process-API download (``sentinelhub``): ONE download for all the fields, planned here as one machine's
        # series step plans it, its requests on the workers; the blocks read the scene folder it wrote
        read, fingerprint, summary = imagery, None, None
        if d._is_process_api(imagery):
            read, summary = d._series_download(runner, fields, season, stack, as_of=as_of, start=None, end=None,
                                               cache_dir=cache_dir)
            fingerprint = d._download_fingerprint(read)
        variables = list(dict.fromkeys(variables or VARIABLES))
        fs, blocks, stasks = d._series_plan(fields, read, season, chunk_fields=chunk_fields or d.DEFAULT_CHUNK_FIELDS,
                                            as_of=as_of, start=None, end=None, variables=variables, cache_dir=cache_dir,
                                            inward_buffer=inward_buffer, min_clear=min_clear, out=out / "series",
                                            fingerprint=fingerprint)
        season = stasks[0].season
        f_imagery = read if planted_area else None

        def sample_series(sample: Any) -> pd.DataFrame:  # the sampled fields' series, as their blocks build them
            from features.series import build_series

            return build_series(fields[fields["field_id"].astype(str).isin(set(sample["field_id"].astype(str)))
                                       & (fields["season"].astype(str) == season)].reset_index(drop=True),
                                str(read), season, **{"reference": False, **stasks[0].kwargs}).series

        # what the whole season decides for every block — the crop model's season scales and the smoother's haze dates —
        # is judged on samples of the fields; their series are built once, here, for the union of both samples
        wanted = d.season_sample_ids(crop_model, fs, as_of, featurize, haze=hazy is None)
        sampled = sample_series(fs[fs["field_id"].astype(str).isin(wanted)]) if wanted else None
        crop_model = d.season_calibrated(crop_model, fs, as_of, sampled if sampled is not None else sample_series)
        pinned = hazy is not None
        if hazy is None:
            hazy = d.season_haze(fs, as_of, sampled if sampled is not None else sample_series, featurize)
        area, overlap, shared, fcommon = d._features_setup(
            fs, season, as_of, set(variables), imagery=f_imagery, crop_model=crop_model, phenology_calib=phenology_calib,
            area_params=area_params, cache_dir=cache_dir, period_days=period_days, featurize=featurize, hazy=hazy,
            phenology_weather=weather,
            fingerprint=fingerprint if f_imagery is not None else None)
        if pinned and shared["options"]["reference"] is not None:
            from features.errors import UserInputError
            from pipelines._smooth import HAZE_WITH_REFERENCE

            raise UserInputError(HAZE_WITH_REFERENCE)
        score_kwargs, scommon = d._score_setup(prices, model_name=model_name, model_version=model_version,
                                               governance=governance, checkpoint=checkpoint, currency=currency)
        if weather is not None:
            scommon = content_key(scommon, frame_hash(weather))
        fscenes = (scene_rows_per_block(Path(str(read)), fs, blocks, season, as_of=as_of, start=None, end=None)
                   if f_imagery is not None and featurize is None else None)
        tasks = []
        for b, st in enumerate(stasks):
            ids = st.fields["field_id"].astype(str).to_numpy()
            ao = frame_hash(pd.DataFrame({"a": area.loc[ids].to_numpy(), "o": overlap.loc[ids].to_numpy()}))
            tasks.append(_BlockTask(block=b, key=content_key("block/1", st.key, fcommon, scommon, ao), out=str(out),
                                    series=st, area=area.loc[ids], overlap=overlap.loc[ids], features_common=fcommon,
                                    feature_scenes=fscenes[b] if fscenes is not None else None))
        summaries = runner.map(_block_task, tasks, shared={"feature_shared": shared, "model": model, "prices": prices,
                                                           "score_kwargs": score_kwargs, "weather": weather},
                             label="block", resumable=True)
    for stage in STAGES:
        if (out / stage).is_dir():
            remove_stale_tmp(out / stage)
    if len({tuple(s["feature_columns"]) for s in summaries}) > 1:
        from pipelines.errors import PipelineError

        raise PipelineError("run_portfolio: blocks produced different feature columns (fields with season "
                            "windows of different lengths?): run one region or one window at a time")
    reused = [bool(s.pop("reused", False)) for s in summaries]
    # this run's scene reads (none for a block whose part was reused); the blocks' summaries hold what the parts say
    metas = [{**s["series"], **s.pop("counts", {"read": 0, "cached": 0})} for s in summaries]
    outcome = d._series_outcome(fs, imagery, metas)
    from pipelines._dask_featurize import _fetch_gap_warnings

    outcome["warnings"] = [*_fetch_gap_warnings(fs, imagery, season, as_of, fetch_gaps=False), *outcome["warnings"]]
    outcome["outside_fields"], outcome["warnings"] = d._download_outcome(outcome["outside_fields"],
                                                                         outcome["warnings"], summary)
    outcome["parts_reused"] = sum(reused)
    from pipelines._dask_parts import part_path

    mine = sorted(part_path(Path("."), t.key).name for t in tasks)
    ours = set(mine)
    others = sorted(p.name for p in (out / "valuations").glob("part-*.parquet") if p.name not in ours)
    write_run_manifest(out, {"season": str(season), "as_of": as_of.isoformat(), "model": f"{model_name} "
                             f"{model_version}", "checkpoint": checkpoint, "valuations": mine,
                             **({"missing_acquisitions": list(missing_acquisitions)} if missing_acquisitions else {}),
                             **(manifest_extra or {})})
    if others:  # parts of earlier runs into the same folder (another as-of, models or pins): never add them up
        outcome.setdefault("warnings", []).append(
            f"{out / 'valuations'} also holds {len(others)} part(s) of other runs (another as-of, models or pins): "
            f"read only the {len(mine)} listed in {out / RUN_MANIFEST}, or give each run its own --out")
    return PortfolioRun(out=out, blocks=sorted(summaries, key=lambda s: int(s["block"])), n_fields=len(fs),
                        source=f"{imagery} ({len(tasks)} spatial blocks on {runner!r})",
                        hazy_dates=sorted({x for v in (hazy or {}).values() for x in v}), haze_pinned=pinned,
                        **outcome)
