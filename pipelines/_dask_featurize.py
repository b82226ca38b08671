"""``featurize`` on a runner: the FeaturizeResult one :func:`pipelines.featurize.featurize` call gives, its series and
features built on spatial blocks (:func:`pipelines.distributed.run_series`, :func:`pipelines.distributed.
features_distributed`) — for ``reunderwrite --scheduler/--workers`` (private; re-exported by
:mod:`pipelines.distributed`).

What goes into a decision is the same, byte for byte: the features (every column bit-identical, the crop model's
season scales and the smoother's haze judged once over all the fields), the series the alerts read, the imagery
source as one call names it (the scenes of the window and their fingerprint), the acquisition dates, the haze dates
and the acquisitions recorded missing. What differs: the warnings the blocks' own featurize raised (crop type,
phenology, planted area) are not gathered (the series' are), and ``families`` names the blocks' run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.contracts import check_fields, check_season
from features.errors import FieldsError, UserInputError

__all__ = ["featurize_on", "one_call_source"]


def one_call_source(fields: Any, imagery: str | Path, season: str, as_of: dt.date) -> str:
    """The imagery source one :func:`pipelines.featurize.featurize` call over ``fields`` names (a scene folder: its
    kind, the number of scenes in the window up to ``as_of`` and their fingerprint; no cache counts)."""
    from features.series import _field_windows, scenes_fingerprint
    from features.sources import resolve_imagery
    from features.sources.local import check_scene_files, read_index, select_scenes

    spec = resolve_imagery(imagery)
    if spec.kind != "scenes" or spec.path is None:
        raise UserInputError(f"--scheduler/--workers: the imagery must be a local scene folder (with an index.csv), "
                             f"not {spec.describe()}")
    _, lo, hi = _field_windows(fields, season, None, None)
    scenes = check_scene_files(select_scenes(read_index(spec.path), lo, hi, as_of))
    return f"{spec.describe()} ({len(scenes)} files, {scenes_fingerprint(scenes)})"


def featurize_on(runner: Any, fields: Any, imagery: str | Path, season: str, as_of: dt.date, *,
                 crop_model: Any = None, cache_dir: Path | None = None,
                 weather: pd.DataFrame | str | Path | None = None, haze_dates: Sequence[dt.date] | None = None,
                 allow_missing_acquisitions: bool = False, chunk_fields: int | None = None) -> Any:
    """:func:`pipelines.featurize.featurize` (scene folders, the scene reference off) with the series and features
    built on ``runner``'s spatial blocks of ``chunk_fields`` fields; see the module docstring."""
    from features._scene_reference import reference_default
    from features.series import missing_acquisitions
    from pipelines.distributed import DEFAULT_CHUNK_FIELDS, features_distributed, run_series, season_haze
    from pipelines.featurize import (
        FeaturizeResult,
        check_as_of_in_season,
        check_clear_observations,
        load_weather,
        pin_haze,
    )

    season = check_season(season)
    check_fields(fields, where="fields")
    fs = fields[fields["season"].astype(str) == season].reset_index(drop=True)
    if fs.empty:
        raise FieldsError(source="fields", problem=f"no field of season {season}")
    check_as_of_in_season(fs, season, as_of, label="as-of")
    if reference_default():
        raise UserInputError("--scheduler/--workers: not with the scene reference on (AGCREDIT_SCENE_REFERENCE=1); "
                             "run on one machine")
    source = one_call_source(fs, imagery, season, as_of)
    gaps = missing_acquisitions(fs, imagery, season, as_of, allow=allow_missing_acquisitions)
    chunk = chunk_fields or DEFAULT_CHUNK_FIELDS
    ds = run_series(fs, imagery, season, runner=runner, chunk_fields=chunk, as_of=as_of,
                    cache_dir=Path(cache_dir) / "series" if cache_dir is not None else None)
    warnings = list(ds.warnings)
    if ds.small_fields:
        warnings.append(f"{len(ds.small_fields)} field(s) with fewer than 8 clear pixels on their best date")
    s = ds.series
    check_clear_observations(s, as_of, str(imagery))
    plain = fs.drop(columns="geometry")
    hazy = pin_haze(plain, haze_dates, as_of) if haze_dates is not None else season_haze(fs, as_of, s, None)
    wx, wx_source = load_weather(weather)
    feats = features_distributed(fs, s, season, as_of, runner=runner, chunk_fields=chunk, imagery=imagery,
                                 crop_model=crop_model, cache_dir=cache_dir, weather=wx, hazy=hazy)
    families = {"series": "ok" if len(s) else "skipped: no observation up to the as-of date",
                "blocks": f"{ds.n_partitions} spatial block(s) on {runner!r}"}
    if wx is not None:
        from features.weather import WEATHER_COLUMNS, add_weather

        feats = add_weather(feats, wx)
        families["weather"] = f"ok: {len(WEATHER_COLUMNS)} wx_* columns from {wx_source}"
    hazy_dates = sorted({d for v in (hazy or {}).values() for d in v})
    return FeaturizeResult(features=feats, series=s, phenology=None, warnings=warnings, source=source,
                           families=families, dates_used=list(ds.dates_used), hazy_dates=hazy_dates,
                           haze_pinned=haze_dates is not None, missing_acquisitions=gaps)
