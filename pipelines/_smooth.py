"""The phenology smoother of production runs: NDVI smoothed per region and season on a 5-day grid anchored at the
season window (:func:`smooth_ndvi`), the scene haze screen judged once per season on a sample of the fields
(:func:`haze_screen`) or pinned (:func:`pin_haze`). Re-exported by :mod:`pipelines.featurize`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from features.errors import UserInputError

__all__ = ["PHENOLOGY_GRID_DAYS", "HAZE_SAMPLE", "HAZE_WITH_REFERENCE", "haze_sample_ids", "haze_screen", "pin_haze",
           "smooth_ndvi"]

#: grid of the smoothed NDVI that phenology reads
PHENOLOGY_GRID_DAYS = 5
#: the scene haze screen of a smoothing call is judged on at most this many of its fields (a deterministic sample by
#: field id), so one call and the spatial blocks of a portfolio can share one judgement (:func:`haze_screen`)
HAZE_SAMPLE = 5000
#: the one-line error of a haze pin beside the scene reference
HAZE_WITH_REFERENCE = ("--hazy-dates: the scene reference is on (it decides the smoother's haze from the reference "
                       "cells alone); pin the haze only without it")


def _smooth_groups(fields: pd.DataFrame) -> list[tuple[str, dt.date | None, list[str]]]:
    """(key, grid start, field ids) per season and season-window start of ``fields`` (field_id, season, region or
    season_start; fields with neither share a group whose grid starts at their first usable observation)."""
    from features._seasonal import field_windows

    cols = [c for c in ("field_id", "season", "region", "season_start", "season_end") if c in fields.columns]
    keys = pd.DataFrame(fields[cols]).drop_duplicates(["field_id", "season"]).reset_index(drop=True)
    keys["field_id"] = keys["field_id"].astype(str)
    keys["season"] = keys["season"].astype(str)
    known = (keys["region"].notna() if "region" in keys.columns else pd.Series(False, index=keys.index)) \
        | (keys["season_start"].notna() if "season_start" in keys.columns else False)
    starts = pd.Series(pd.NaT, index=keys.index, dtype="datetime64[ns]")
    if known.any():
        starts[known] = field_windows(keys[known]).set_index(["field_id", "season"])["start"].reindex(
            pd.MultiIndex.from_frame(keys.loc[known, ["field_id", "season"]])).to_numpy()
    group = keys["season"] + "|" + starts.dt.strftime("%Y-%m-%d").fillna("")
    out = []
    for g, ids in keys.groupby(group, sort=True)["field_id"]:
        day = str(g).split("|")[1]
        out.append((str(g), pd.Timestamp(day).date() if day else None, list(ids)))
    return out


def _haze_sample(ids: list[str]) -> list[str]:
    """At most :data:`HAZE_SAMPLE` of ``ids``, chosen by a hash of the id alone (free of order and of the others:
    the crop model's season sample, :func:`features._season_calib.season_sample`, with every id eligible)."""
    import numpy as np

    from features._season_calib import season_sample

    return sorted(ids[i] for i in season_sample(ids, np.zeros(len(ids), dtype=np.int64), n=HAZE_SAMPLE))


def haze_sample_ids(fields: pd.DataFrame) -> set[str]:
    """The fields whose NDVI :func:`haze_screen` reads (a driver builds only their series)."""
    return {f for _, _, ids in _smooth_groups(fields) for f in _haze_sample(ids)}


def haze_screen(series: pd.DataFrame, fields: pd.DataFrame, as_of: dt.date | None) -> dict[str, list[str]]:
    """The scene haze dates of each smoothing group of ``fields`` (:func:`smooth_ndvi`'s grid; key ``season|start``),
    judged on the group's :data:`HAZE_SAMPLE` fields (all of them in a smaller group): what one call over all of
    ``fields`` uses, so Dask blocks given it smooth exactly as that call. ``series`` needs the sampled fields only."""
    return _haze_screen(series, _smooth_groups(fields), as_of)


def _haze_screen(series: pd.DataFrame, groups: list[tuple[str, dt.date | None, list[str]]],
                 as_of: dt.date | None) -> dict[str, list[str]]:
    from features.timeseries import smooth_series

    sid = series["field_id"].astype(str)
    out: dict[str, list[str]] = {}
    for key, start, ids in groups:
        part = series[sid.isin(set(_haze_sample(ids)))]
        sm = smooth_series(part, variable="NDVI", as_of=as_of, grid_days=PHENOLOGY_GRID_DAYS, start=start) \
            if len(part) else None
        out[key] = list(sm.attrs.get("hazy_dates", [])) if sm is not None else []
    return out


def pin_haze(fields: pd.DataFrame, dates: Sequence[dt.date], as_of: dt.date | None) -> dict[str, list[str]]:
    """The smoother's scene haze pinned at ``dates`` (e.g. an earlier decision record's ``smoother_hazy_dates``;
    empty: no hazy date) for every smoothing group of ``fields`` (:func:`smooth_ndvi`'s key ``season|start``), as
    :func:`haze_screen` would give it. A date after ``as_of`` or on no group's 5-day grid, or fields without a
    region (their grid starts at the call's first observation), is a one-line :class:`UserInputError` (a pin that
    matches nothing would silently judge nothing)."""
    groups = _smooth_groups(fields)
    loose = [f for _, start, ids in groups if start is None for f in ids]
    if loose:
        raise UserInputError(f"--hazy-dates: {len(loose)} field(s) without a region ({', '.join(sorted(loose)[:3])}): "
                             "their smoother grid starts at the run's first observation, so a pin cannot name its "
                             "dates; give the fields their region")
    out: dict[str, list[str]] = {key: [] for key, _, _ in groups}
    for d in sorted(set(dates)):
        if as_of is not None and d > as_of:
            raise UserInputError(f"--hazy-dates: {d} is after the as-of date {as_of}")
        hit = [key for key, start, _ in groups
               if start is not None and d >= start and (d - start).days % PHENOLOGY_GRID_DAYS == 0]
        if not hit:
            grids = ", ".join(f"{start} + {PHENOLOGY_GRID_DAYS}k days" for _, start, _ in groups)
            raise UserInputError(f"--hazy-dates: {d} is not a date of the smoother's grid ({grids})")
        for key in hit:
            out[key].append(d.isoformat())
    return out


def smooth_ndvi(series: pd.DataFrame, fields: pd.DataFrame, as_of: dt.date | None,
                reference: pd.DataFrame | None = None, hazy: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """NDVI as production smooths it for phenology (:func:`features.timeseries.smooth_series`, 5-day grid), one
    call per region and season with the grid anchored at that region's season window start
    (:func:`features._seasonal.field_windows`): a field's curve then does not depend on which other fields are
    smoothed with it (otherwise the call's first usable observation starts the grid, and a farmer underwritten
    alone, or a Dask block, would get a grid a few days shorter). The scene haze screen is judged on at most
    :data:`HAZE_SAMPLE` fields of each group (:func:`haze_screen`), or taken from ``hazy`` (a portfolio's blocks
    get the whole portfolio's). ``fields``: field_id, season and region (or season_start); fields with neither
    are smoothed together on a grid from their first usable observation."""
    from features.timeseries import smooth_series

    sid = series["field_id"].astype(str)
    groups = _smooth_groups(fields)
    if hazy is None and reference is None and any(len(ids) > HAZE_SAMPLE for _, _, ids in groups):
        hazy = _haze_screen(series, groups, as_of)
    parts = []
    for key, start, ids in groups:
        part = series[sid.isin(set(ids))]
        if part.empty:
            continue
        given = hazy.get(key, []) if hazy is not None else None
        parts.append(smooth_series(part, variable="NDVI", as_of=as_of, grid_days=PHENOLOGY_GRID_DAYS,
                                   reference=reference, start=start, hazy_dates=given))
    if not parts:
        return smooth_series(series.iloc[:0], variable="NDVI", as_of=as_of, grid_days=PHENOLOGY_GRID_DAYS)
    out = pd.concat(parts, ignore_index=True)
    out.attrs["hazy_dates"] = sorted({d for p in parts for d in p.attrs.get("hazy_dates", [])})
    return out
