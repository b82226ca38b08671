"""The features of ``agcredit evaluate yield``'s held-out folds (:mod:`pipelines.evaluation.yield_`): built per
held-out season with the phenology calibrated without it (:func:`fold_features`), written and read back as snapshots
(:func:`write_fold_snapshot`, :func:`read_fold_snapshot`, :func:`read_feature_snapshot`), and the weather table they
use (:func:`resolve_weather`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError, format_offenders

Progress = Callable[[int, int, str], None]


def fold_features(county: Any, held: Sequence[str], checkpoints: Sequence[str], *, phenology: bool = True,
                  weather: pd.DataFrame | None = None, progress: Progress | None = None
                  ) -> dict[str, dict[str, pd.DataFrame]]:
    """Held-out season → checkpoint → FieldFeatures of every past season, built as production builds them for a
    model trained without that season (:func:`pipelines.train_yield.county_features`).

    With ``phenology`` the phenology is calibrated as ``agcredit train crop-type --county`` calibrates it for
    production (:func:`pipelines._phenology_fit.fit_county_phenology`: the latest three seasons' DECLARED dates) —
    on the other past seasons only, so the held-out season's records never shape its own features; folds whose
    calibration seasons are the same share one build, and the builds share the planted area and seasonal features
    (:func:`pipelines.featurize.featurize`'s ``shared``: no calibration changes them). Without it every fold gets
    the uncalibrated features.
    ``weather``: the daily weather for the ``wx_*`` columns and the thermal-time phenology (None: neither).
    """
    from pipelines._phenology_fit import fit_county_phenology
    from pipelines.train_yield import county_features

    past = list(county.past_seasons)
    memo: dict[str, pd.DataFrame] = {}
    shared: dict[tuple[Any, ...], Any] = {}  # planted area and seasonal features: the same for every fold's build
    built: dict[tuple[str, ...], dict[str, pd.DataFrame]] = {}
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for s in held:
        chosen = tuple(fold_calibration_seasons(past, s)) if phenology else ()
        if chosen not in built:
            calib = {}
            if chosen:
                cal = fit_county_phenology(county, list(chosen), weather=weather if weather is not None else False)
                calib = {county.region: cal} if cal is not None else {}
            built[chosen] = county_features(county, past, checkpoints, weather=weather, county_weather=False,
                                            phenology_calib=calib, series_memo=memo, shared=shared)
        out[s] = built[chosen]
        if progress is not None:
            progress(len(out), len(held), f"features for season {s} held out (phenology "
                     + (f"calibrated on {', '.join(chosen)})" if chosen else "uncalibrated)"))
    return out


def fold_calibration_seasons(past: Sequence[str], held: str) -> list[str]:
    """The seasons :func:`fold_features` calibrates the phenology on when ``held`` is held out."""
    from pipelines._phenology_fit import CALIBRATION_SEASONS

    return sorted(x for x in past if x != held)[-CALIBRATION_SEASONS:]


def write_fold_snapshot(folds: dict[str, dict[str, pd.DataFrame]], prefix: str | Path) -> list[Path]:
    """Write :func:`fold_features`' output as ``<prefix>-fold<season>-<checkpoint>.parquet`` (atomically)."""
    from pipelines.featurize import write_parquet_atomic

    paths = []
    for s, by_cp in folds.items():
        for cp, df in by_cp.items():
            p = Path(f"{prefix}-fold{s}-{cp}.parquet")
            write_parquet_atomic(df, p)
            paths.append(p)
    return paths


def read_fold_snapshot(prefix: str | Path, checkpoints: Sequence[str]) -> dict[str, dict[str, pd.DataFrame]] | None:
    """Held-out season → checkpoint → FieldFeatures from ``<prefix>-fold<season>-<checkpoint>.parquet``
    (:func:`write_fold_snapshot`); None when there is no such file."""
    pre = Path(prefix)
    folds = sorted({p.name[len(pre.name) + 5:].rsplit("-", 1)[0]
                    for p in pre.parent.glob(f"{pre.name}-fold*-*.parquet")})
    if not folds:
        return None
    return {s: read_feature_snapshot(f"{prefix}-fold{s}", checkpoints) for s in folds}


def read_feature_snapshot(prefix: str | Path, checkpoints: Sequence[str]) -> dict[str, pd.DataFrame]:
    """checkpoint → FieldFeatures read from ``<prefix>-<checkpoint>.parquet`` (a snapshot of featurized seasons)."""
    out: dict[str, pd.DataFrame] = {}
    missing = []
    for cp in checkpoints:
        p = Path(f"{prefix}-{cp}.parquet")
        if not p.is_file():
            missing.append(str(p))
            continue
        out[cp] = pd.read_parquet(p)
    if missing:
        raise UserInputError(f"feature snapshot {prefix}: file(s) not found {format_offenders(missing)}")
    return out


def resolve_weather(county: Any, weather: str | Path | pd.DataFrame | None, county_weather: bool = True
                    ) -> pd.DataFrame | None:
    """The weather table to use: ``weather`` (a file, read and checked for the county's region, or a table), else
    the county's own (:meth:`pipelines.county.County.weather`) when ``county_weather``, else None."""
    from features.weather import check_weather, read_weather

    if isinstance(weather, pd.DataFrame):
        return check_weather(weather, region=county.region)
    if weather is not None:
        return read_weather(weather, region=county.region)
    return county.weather() if county_weather else None
