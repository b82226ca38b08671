"""Early-warning thresholds fitted for production, as ``agcredit evaluate alerts`` fits them.

The alert rules' thresholds (:data:`pipelines.evaluation.alerts.DEFAULT_GRID`: the peer rule's green-up share and
confirming drop, the collapse spread, the NOT_PLANTED grace) are tuned on the farmers' diaries of the latest two
past seasons (a reported yield of about zero without a harvest: failed; no sowing and no yield: not planted),
each replayed with expectations from the seasons before it — :func:`pipelines.evaluation.alerts.tune_params`, no
truth. ``agcredit train crop-type --county`` fits them with the model (:func:`county_alert_params`); they are saved
in the model version (``meta.json`` ``alert_params``, per region) and ``agcredit monitor`` / ``reunderwrite`` use
the champion's (:func:`pipelines.monitor.alert_params_of`), so production runs the thresholds the evaluation
measures. A county with fewer than four past seasons or no diaries gets none (the rules' defaults).

The tuning is plain Python on one core while the crop-type fit's boosters train on threads, so
:func:`county_alert_params_beside` runs it in a process of its own beside the fit (:mod:`pipelines._beside`) when
the tuning seasons hold at least :data:`BESIDE_MIN_FIELDS` fields and more than one thread is allowed
(:func:`features.threads.thread_count`): the same function on the same rows, so the same thresholds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pipelines.county import County

__all__ = ["N_TUNE_SEASONS", "BESIDE_MIN_FIELDS", "county_alert_params", "county_alert_params_at",
           "county_alert_params_beside", "tuned_alert_params"]

#: past seasons whose diaries tune the thresholds (as ``evaluate alerts``), each needing two seasons before it
N_TUNE_SEASONS = 2
#: fields of the tuning seasons from which the tuning runs in a process beside the fit (below it a process's start
#: costs more than it saves: the Nebraska demo's 300 fields tune in a few seconds)
BESIDE_MIN_FIELDS = 600


def county_alert_params(county: County, seasons: list[str], series: pd.DataFrame, *,
                        max_fields: int | None = None) -> dict[str, Any] | None:
    """Thresholds tuned on the diaries of the latest :data:`N_TUNE_SEASONS` of ``seasons`` (a county's past
    seasons, ``series`` their every-variable series as :meth:`County.series` builds them): :func:`tuned_alert_params`
    of the county's fields, farm records and region. None when fewer than ``N_TUNE_SEASONS + 2`` seasons or no
    diaries of them."""
    seasons = sorted(str(s) for s in seasons)
    if len(seasons) < N_TUNE_SEASONS + 2:
        return None
    from pipelines.county import history_strings

    hist = county.history()  # checked (one-line errors); the tuning reads the diaries as written, as the evaluation
    records = history_strings(county.record_path("history.csv")).fillna("")
    return tuned_alert_params(county.region, seasons, county.current_season, series, county.fields(), hist, records,
                              max_fields=max_fields)


def tuned_alert_params(region: str, seasons: list[str], current: str, series: pd.DataFrame, fields: pd.DataFrame,
                       history: pd.DataFrame, records: pd.DataFrame, *, max_fields: int | None = None
                       ) -> dict[str, Any] | None:
    """Thresholds tuned on the diaries of the latest :data:`N_TUNE_SEASONS` of ``seasons`` (past seasons of
    ``region``, ``current`` the season the thresholds are for), from plain tables: ``series`` the seasons'
    FieldTimeSeries (only its NDVI is read), ``fields`` their declared fields (field_id, season, declared_crop,
    region — a missing region is ``region``'s), ``history`` the farm records typed
    (:func:`pipelines.county.read_history`: the check) and ``records`` the same records as written (every cell a
    string: what the tuning replays). None when fewer than ``N_TUNE_SEASONS + 2`` seasons or no diaries of them.
    Only the tuned names are returned, with the rules of :data:`pipelines.monitor.SAVED_BEFORE` as they are now (the
    rest stay the rules' defaults). ``max_fields``:
    :func:`pipelines.evaluation.alerts.tune_params`' sample cap (default its
    :data:`~pipelines.evaluation.alerts.TUNE_MAX_FIELDS`; 0: every field)."""
    from features.series import season_window
    from pipelines.evaluation.alerts import DEFAULT_GRID, TUNE_MAX_FIELDS, SeasonData, tune_params
    from pipelines.monitor import SAVED_BEFORE, AlertParams, clear_ndvi, crop_first_days, own_crop_obs

    seasons = sorted(str(s) for s in seasons)
    if len(seasons) < N_TUNE_SEASONS + 2:
        return None
    if history.empty or not history["season"].astype(str).isin(seasons[-N_TUNE_SEASONS:]).any():
        return None
    f = fields[fields["season"].astype(str).isin(seasons)]
    reg = f["region"] if "region" in f.columns else pd.Series(region, index=f.index)
    crops = pd.DataFrame({"field_id": f["field_id"].astype(str), "season": f["season"].astype(str),
                          "crop": f["declared_crop"], "region": reg.fillna(region).astype(str)})
    starts = {s: season_window(s, region)[0] for s in seasons}
    s = series[series["season"].astype(str).isin(seasons)]
    obs = own_crop_obs(clear_ndvi(s[s["variable"] == "NDVI"]), crops, starts, crop_first_days(region, current))
    data = SeasonData(region=region, seasons=seasons, current=current, obs=obs, crops=crops, starts=starts,
                      records=records)
    chosen, _ = tune_params(data, seasons[-N_TUNE_SEASONS:], base=AlertParams(),
                            max_fields=TUNE_MAX_FIELDS if max_fields is None else max_fields)
    return {name: getattr(chosen, name) for name in sorted({*DEFAULT_GRID, *SAVED_BEFORE})}


@contextlib.contextmanager
def county_alert_params_beside(county: County, seasons: list[str], series: pd.DataFrame
                               ) -> Iterator[Callable[[], dict[str, Any] | None]]:
    """:func:`county_alert_params` started beside the caller's own work: yields a function returning its result
    (waiting for it). Runs in a process of its own (:func:`pipelines._beside.run_beside`) when worth it (see the
    module docstring), else in the caller when the function is called; a process that fails is followed by the
    tuning here, where it raises as itself."""
    from features.threads import thread_count
    from pipelines._beside import run_beside

    seasons = sorted(str(s) for s in seasons)
    tune = seasons[-N_TUNE_SEASONS:]
    f = county.fields()
    n_tune = int(f["season"].astype(str).isin(tune).sum()) if len(seasons) >= N_TUNE_SEASONS + 2 else 0
    if thread_count() < 2 or n_tune < BESIDE_MIN_FIELDS:
        yield lambda: county_alert_params(county, seasons, series)
        return
    ndvi = series[series["season"].astype(str).isin(seasons) & (series["variable"] == "NDVI")]  # all it reads
    with run_beside(county_alert_params_at, str(county.path), str(county.cache_dir), seasons, ndvi,
                    fallback=lambda: county_alert_params(county, seasons, series)) as tuned:
        yield tuned


def county_alert_params_at(path: str, cache_dir: str, seasons: list[str], series: pd.DataFrame
                           ) -> dict[str, Any] | None:
    """:func:`county_alert_params` of the county folder at ``path`` (what the other process runs)."""
    from pipelines.county import County

    return county_alert_params(County(path, cache_dir=cache_dir), seasons, series)
