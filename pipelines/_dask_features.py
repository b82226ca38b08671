"""The features stage (private; see :mod:`pipelines.distributed`): :func:`features_distributed` — FieldFeatures on
spatial blocks, equal to one call over all the fields — what every block shares (hectares, overlaps, the scene
reference, the part key), the blocks' tasks (:func:`_features_task`, run on the workers) and their merge."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contracts import check_season
from features.errors import FieldsError
from pipelines._dask_inputs import (
    DEFAULT_CHUNK_FIELDS,
    _download_fingerprint,
    _imagery_fingerprint,
    _is_process_api,
    client_paths,
    field_blocks,
)
from pipelines._dask_parts import (
    content_key,
    frame_hash,
    part_path,
    read_part,
    read_part_meta,
    remove_stale_tmp,
    write_part,
)
from pipelines._dask_runner import Runner, local_runner
from pipelines._dask_scenes import remove, scene_rows_per_block, write_index
from pipelines._dask_season import season_calibrated, season_haze
from pipelines.errors import PipelineError

__all__ = [
    "_FeatureTask", "_basic_featurize", "_features_task", "_features_block", "_block_area_attrs",
    "_features_block_meta", "_features_setup", "_feature_task_for", "features_distributed", "_features_run",
]

# ---------------------------------------------------------------------- features
@dataclass(frozen=True)
class _FeatureTask:
    key: str
    fields: Any
    series: pd.DataFrame
    field_area_ha: pd.Series
    overlap_fraction: pd.Series
    out: str | None
    scenes: Any = None  # the block's scene-index rows for planted area (pipelines._dask_scenes), or None


def _basic_featurize(fields: Any, series: pd.DataFrame, season: str, as_of: dt.date, *, crop_model: Any,
                     n_periods: int, variables: list[str]) -> pd.DataFrame:
    from features._seasonal import field_windows, seasonal_features
    from features.build import build_features

    seasonal = seasonal_features(series, field_windows(fields), as_of=as_of, n_periods=n_periods, variables=variables)
    crop = crop_model.predict(series, fields, as_of) if crop_model is not None else None
    return build_features(fields, series, season, as_of, crop=crop, seasonal=seasonal)


def _features_task(task: _FeatureTask, **shared: Any) -> tuple[str | pd.DataFrame, dict[str, Any]]:
    df, path, meta = _features_block_meta(task, **shared)
    if path is None:
        assert df is not None
        return df, meta
    return str(path), meta


def _features_block(task: _FeatureTask, **shared: Any) -> tuple[pd.DataFrame | None, Path | None]:
    """One block's features: (frame, or None when its finished part was reused; its part)."""
    df, path, _ = _features_block_meta(task, **shared)
    return df, path


def _block_area_attrs(area: Any) -> dict[str, Any] | None:
    """What a block's planted-area table says of its fields (pipelines.featurize.area_warnings reads it), as JSON."""
    if area is None:
        return None
    from pipelines.featurize import AREA_ATTRS

    a = area.attrs
    return {"outside_fields": [str(f) for f in a.get("outside_fields") or []],
            "scenes_used": int(a["scenes_used"]) if a.get("scenes_used") is not None else None,
            "no_clear_fields": [str(f) for f in a.get("no_clear_fields") or []],
            "partly_outside": {str(k): float(v) for k, v in (a.get("partly_outside") or {}).items()},
            **{k: None for k in AREA_ATTRS if k not in a}}


def _features_block_meta(task: _FeatureTask, *, season: str, as_of: dt.date, crop_model: Any, featurize: Any,
                         n_periods: int, variables: list[str], options: dict[str, Any]
                         ) -> tuple[pd.DataFrame | None, Path | None, dict[str, Any]]:
    """One block's features: (frame, or None when its finished part was reused; its part; what its featurize
    reported — warnings, the smoother's haze dates, the planted area's attrs — for the production path)."""
    path = part_path(task.out, task.key) if task.out is not None else None
    if path is not None and path.is_file():
        return None, path, read_part_meta(path)
    meta: dict[str, Any] = {}
    if featurize is None:
        from pipelines.featurize import featurize as production

        folder = write_index(task.scenes) if task.scenes is not None and task.scenes[1] else None
        try:
            res = production(task.fields, str(folder) if folder is not None else options["imagery"], season, as_of,
                             crop_model=crop_model, phenology_calib=options["phenology_calib"],
                             area_params=options["area_params"], cache_dir=options["cache_dir"],
                             series=task.series, reference=options.get("reference"),
                             hazy=options.get("hazy"), phenology_weather=options.get("phenology_weather"))
        finally:
            if folder is not None:
                remove(folder)
        df = res.features
        meta = {"warnings": list(res.warnings), "hazy_dates": list(res.hazy_dates),
                "area": _block_area_attrs(res.area)}
    elif featurize == "basic":
        df = _basic_featurize(task.fields, task.series, season, as_of, crop_model=crop_model, n_periods=n_periods,
                              variables=variables)
    else:
        df = featurize(task.fields, task.series, season, as_of)
    df = df.copy()
    fid = df["field_id"].astype(str)
    df["field_area_ha"] = fid.map(task.field_area_ha).astype("float64")
    df["overlap_fraction"] = fid.map(task.overlap_fraction).astype("float64")
    if path is not None:
        write_part(df, path, meta)
    return df, path, meta


def _features_setup(fs: Any, season: str, as_of: dt.date, present: set[str], *, imagery: str | Path | None,
                    crop_model: Any, phenology_calib: Any, area_params: Any, cache_dir: Path | None, period_days: int,
                    featurize: Any, hazy: dict[str, list[str]] | None = None,
                    phenology_weather: pd.DataFrame | None = None, fingerprint: Any = None
                    ) -> tuple[pd.Series, pd.Series, dict[str, Any], str]:
    """What every block shares: hectares and overlaps over all fields, the task options, the key prefix;
    ``phenology_weather``: the daily weather phenology's thermal time reads (as one call given it); ``fingerprint``:
    the imagery's in the key (default :func:`_imagery_fingerprint`)."""
    from features._seasonal import DEFAULT_VARIABLES, field_windows
    from features.fields import area_ha, overlap_fractions

    fid = fs["field_id"].astype(str)
    area = pd.Series(area_ha(fs).to_numpy(), index=fid.to_numpy())
    overlap = pd.Series(overlap_fractions(fs).to_numpy(), index=fid.to_numpy())
    win = field_windows(fs)
    length = (win["end"] - win["start"]).dt.days.to_numpy() + 1
    n_periods = int(np.ceil(length.max() / period_days)) if len(win) else 1
    variables = [v for v in DEFAULT_VARIABLES if v in present] or ["NDVI"]
    model_id: Any = getattr(crop_model, "metadata", lambda: {})() if crop_model is not None else None
    if getattr(crop_model, "season_scales_", None) is not None:  # the season's scales are part of the model used
        model_id = {"model": model_id, "season_scales": crop_model.season_scales_}
    from features._scene_reference import reference_default
    from features.series import scene_reference

    # the scene reference: built ONCE over the whole imagery (a block sees only the tiles it touches) and shared
    reference = (scene_reference(fs, imagery, season, as_of=as_of, cache_dir=Path(cache_dir) / "series"
                                 if cache_dir is not None else None)
                 if imagery is not None and featurize is None and reference_default() else None)
    options = {"imagery": str(imagery) if imagery is not None else None, "phenology_calib": phenology_calib,
               "area_params": area_params, "cache_dir": cache_dir, "reference": reference,
               "hazy": hazy if reference is None else None, "phenology_weather": phenology_weather}
    from pipelines._code_digest import FEATURE_SOURCES, source_digest

    # the code that makes the features is part of the key: a resumed or re-run --out folder after an upgrade makes
    # its parts again rather than keeping the previous release's
    common = content_key("features/2" + ("+ref" if reference is not None else ""), source_digest(FEATURE_SOURCES),
                         season, as_of.isoformat(),
                         n_periods, period_days, variables,
                         repr(model_id), featurize if isinstance(featurize, str) or featurize is None
                         else getattr(featurize, "__qualname__", repr(featurize)),
                         fingerprint if fingerprint is not None
                         else _imagery_fingerprint(imagery) if imagery is not None else None,
                         repr(phenology_calib), repr(area_params),
                         *([repr(sorted(hazy.items()))] if hazy is not None and reference is None else []),
                         *([frame_hash(phenology_weather)] if phenology_weather is not None else []))
    shared = {"season": season, "as_of": as_of, "crop_model": crop_model, "featurize": featurize,
              "n_periods": n_periods, "variables": variables, "options": options}
    return area, overlap, shared, common


def _feature_task_for(common: str, part: Any, ser: pd.DataFrame, area: pd.Series, overlap: pd.Series,
                      out: str | Path | None, scenes: Any) -> _FeatureTask:
    """The features task of one block (its part key hashes its fields, its series rows, hectares and overlaps)."""
    from features.series import fields_hash

    ids = part["field_id"].astype(str).to_numpy()
    a, o = area.loc[ids], overlap.loc[ids]
    key = content_key(common, fields_hash(part), frame_hash(ser),
                      frame_hash(pd.DataFrame({"a": a.to_numpy(), "o": o.to_numpy()})))
    return _FeatureTask(key=key, fields=part, series=ser, field_area_ha=a, overlap_fraction=o,
                        out=str(out) if out is not None else None, scenes=scenes)


def features_distributed(fields: Any, series: pd.DataFrame, season: str, as_of: dt.date, *,
                         runner: Runner | None = None, chunk_fields: int = DEFAULT_CHUNK_FIELDS,
                         imagery: str | Path | None = None, crop_model: Any = None, phenology_calib: Any = None,
                         area_params: Any = None, cache_dir: Path | None = None, period_days: int = 16,
                         featurize: Callable[[Any, pd.DataFrame, str, dt.date], pd.DataFrame] | str | None = None,
                         out: Path | None = None, weather: pd.DataFrame | None = None,
                         hazy: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """FieldFeatures of ``season`` as of ``as_of`` on spatial blocks, equal to one call over all fields
    (:func:`_features_run`'s frame; see there)."""
    return _features_run(fields, series, season, as_of, runner=runner, chunk_fields=chunk_fields, imagery=imagery,
                         crop_model=crop_model, phenology_calib=phenology_calib, area_params=area_params,
                         cache_dir=cache_dir, period_days=period_days, featurize=featurize, out=out, weather=weather,
                         hazy=hazy)[0]


def _features_run(fields: Any, series: pd.DataFrame, season: str, as_of: dt.date, *,
                  runner: Runner | None = None, chunk_fields: int = DEFAULT_CHUNK_FIELDS,
                  imagery: str | Path | None = None, crop_model: Any = None, phenology_calib: Any = None,
                  area_params: Any = None, cache_dir: Path | None = None, period_days: int = 16,
                  featurize: Callable[[Any, pd.DataFrame, str, dt.date], pd.DataFrame] | str | None = None,
                  out: Path | None = None, weather: pd.DataFrame | None = None,
                  hazy: dict[str, list[str]] | None = None, fingerprint: Any = None
                  ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """FieldFeatures of ``season`` as of ``as_of`` on spatial blocks, equal to one call over all fields, and what
    each block's featurize reported (empty for ``featurize`` given; :func:`_features_block_meta`).

    By default each block runs the production path, ``pipelines.featurize.featurize`` (seasonal
    summaries, crop type with ``crop_model``, phenology, planted area from ``imagery`` — None skips
    it) on its fields and its rows of ``series``. ``featurize="basic"``: seasonal summaries
    (``period_days``) and crop type only, joined by ``features.build.build_features``; or any
    ``featurize(fields, series, season, as_of) -> FieldFeatures`` that computes each field from
    that field alone. ``weather`` (daily): phenology's thermal time, as :func:`pipelines.featurize.featurize`
    reads it (no ``wx_*`` columns are added here); ``hazy``: the smoother's scene haze dates pinned
    (:func:`pipelines.featurize.pin_haze`; else judged once over all the fields). ``field_area_ha`` and ``overlap_fraction`` are computed once over all fields, as are the
    crop model's season scales (:func:`season_calibrated`) and the smoother's scene haze dates
    (:func:`season_haze`); every column is bit-identical to one call's.
    Blocks must agree on the feature columns (one season window per run: fields of regions with
    windows of different lengths get different numbers of seasonal periods) — else a PipelineError.

    ``imagery="sentinelhub"`` (a Process-API download) for the planted area: ONE download for all the fields, as one
    call's planted area plans it (``<cache_dir>/area/sentinelhub`` or a temporary folder removed before returning),
    its requests on the workers (:func:`pipelines._dask_process.fetch_on`), then each block reads the files of that
    scene folder its fields meet (until this release each block downloaded its own fields' boxes).
    """
    if _is_process_api(imagery) and featurize is None:
        from pipelines._dask_featurize import _area_folder

        runner = runner or local_runner()
        cache_dir = client_paths(cache_dir)
        season = check_season(season)
        fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
        if fs.empty:
            raise FieldsError(source="fields", problem=f"no field of season {season}")
        with contextlib.ExitStack() as stack:
            folder = _area_folder(runner, fs, season, as_of, cache_dir, stack)
            return _features_run(fs, series, season, as_of, runner=runner, chunk_fields=chunk_fields, imagery=folder,
                                 crop_model=crop_model, phenology_calib=phenology_calib, area_params=area_params,
                                 cache_dir=cache_dir, period_days=period_days, featurize=featurize, out=out,
                                 weather=weather, hazy=hazy, fingerprint=_download_fingerprint(folder))
    runner = runner or local_runner()
    imagery, cache_dir, out = client_paths(imagery), client_paths(cache_dir), client_paths(out)
    season = check_season(season)
    fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    present = set(series["variable"].astype(str).unique())
    crop_model = season_calibrated(crop_model, fs, as_of, series)
    area, overlap, shared, common = _features_setup(fs, season, as_of, present, imagery=imagery, crop_model=crop_model,
                                                    phenology_calib=phenology_calib, area_params=area_params,
                                                    cache_dir=cache_dir, period_days=period_days, featurize=featurize,
                                                    hazy=hazy if hazy is not None
                                                    else season_haze(fs, as_of, series, featurize),
                                                    phenology_weather=weather, fingerprint=fingerprint)
    sfid = series["field_id"].astype(str)
    blocks = field_blocks(fs, chunk_fields)
    per_block = (scene_rows_per_block(Path(str(imagery)), fs, blocks, season, as_of=as_of, start=None, end=None)
                 if imagery is not None and featurize is None else None)
    tasks = []
    for b, rows in enumerate(blocks):
        part = fs.iloc[rows].reset_index(drop=True)
        ids = part["field_id"].astype(str)
        ser = series[sfid.isin(set(ids))].reset_index(drop=True)
        tasks.append(_feature_task_for(common, part, ser, area, overlap, out,
                                       per_block[b] if per_block is not None else None))
    results = runner.map(_features_task, tasks, shared=shared, label="features", resumable=out is not None)
    if out is not None:
        remove_stale_tmp(out)
    frames = [read_part(Path(r)) if isinstance(r, str) else r for r, _ in results]
    metas = [m for _, m in results]
    if len({tuple(f.columns) for f in frames}) > 1:
        raise PipelineError("features_distributed: blocks produced different feature columns (fields with season "
                            "windows of different lengths?): run one region or one window at a time")
    df = pd.concat(frames, ignore_index=True).sort_values("field_id", kind="stable").reset_index(drop=True)
    from features.contracts import check_field_features

    return check_field_features(df, where=f"FieldFeatures {season} as of {as_of}"), metas
