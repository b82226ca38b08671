"""Early warning during the season: per-field alerts as of each new observation.

Expected behaviour comes from past seasons only (declared crops, clear observations):

* **bands** (:func:`expected_bands`): per region, crop and day of season, the P10/P50/P90
  of NDVI, pooled over a ±``half_window``-day window;
* **timing** (:func:`expected_timing`): per region and crop, when past fields greened up
  (first clear NDVI ≥ ``emerged``) and when their canopy collapsed (first of two clear
  observations in a row below ``bare`` after being green): the collapse day of season and
  the green-up-to-collapse duration, summarised robustly (P25, P50, P75), so that the few
  failed fields among the past ones do not move the thresholds;
* **emergence** (:func:`expected_emergence_days`): the day of season by which 90% of past
  fields had greened up.

A field is compared with *its* crop (the declared crop, or the crop-type model's answer
where none was declared), on its crop's observations only: from the crop's pre-season
checkpoint in the season calendar (:func:`crop_first_days`, :func:`own_crop_obs`). Alerts (each with severity, evidence and the date it was raised):

* ``WATCH`` (medium) — NDVI below the expected P10 on two clear observations in a row, on days when that P10 is
  itself a green crop (at least ``emerged``): before sowing and after harvest the band is bare soil, and bare soil
  a hundredth below it says nothing about the crop (two thirds of the demo's end-of-season WATCH alerts were that);
* ``CROP_FAILURE`` (high) — **peers**: the field fell at least ``peer_drop`` below its peers (the
  ``peer_k`` fields (of the same crop with ``peer_same_crop``) whose NDVI over the previous 100 days was
  most like its own, observed on the same date, see :mod:`pipelines._monitor_peers`) while they stayed green (≥ ``peer_green``), and
  at least ``peer_drop_next`` below the same kind of peers on its next clear observation, after
  having come up itself (its own earlier maximum at least ``peer_own_green``: a crop failing before its canopy
  closed counts — it was ``green`` until 2026-12-04, fourth; a model version saved before keeps that), earlier after its own green-up than ``peer_greenup_rel`` × the crop's
  usual green-up-to-collapse duration and falling at least ``peer_drop_rate`` per day (a
  county-wide drop is weather or the usual harvest, a field falling away from its peers is not);
  with ``peer_both`` it must be that far below both its nearest fields of any crop (a field growing
  another crop than declared is judged by what it grows) and those of its own declared crop (a crop
  maturing early this year is judged by its own kind); the field must itself have fallen (at least
  ``peer_drop`` below its own maximum) and be below ``bare`` on the confirming observation (a thin
  canopy, or one senescing early under drought, is not gone); one clear observation is enough when it
  is extreme: at least ``peer_drop_single`` below the green peers and below ``bare``, right after a
  green observation (cloudy spells would otherwise hide the confirmation for weeks) — but not late in the
  crop's usual duration (at least ``peer_single_greenup_rel`` of it after green-up): there one extreme
  observation waits for the next, and is no evidence at all when that comes within
  ``peer_single_wait_days`` without confirming the fall (the peers had time to follow: the front of the
  season's maturity wave looks the same; :func:`pipelines._monitor_peers.wait_late_singles`), else it is a
  failure only through the two-observation rule (confirmed) or as the timing rule's corroboration;
  or **crop cohort after a gap** (``peer_gap_days`` > 0; :func:`pipelines._monitor_peers.gap_candidates`): a field
  seen bare only after a cloud gap of ``peer_gap_days`` or more — across which the histories its peers were matched
  on are straight lines, and its peers' median sinks with the fields that failed or were cut during the gap — at
  least ``peer_gap_drop`` below the median of the fields of its crop clear that day (still green: at least
  ``peer_gap_green``; at least ``peer_k`` of them), again bare and ``peer_gap_drop_next`` below it on its next clear
  observation (raised then), earlier after its green-up than ``peer_gap_greenup_rel`` × the crop's usual duration
  (later, the usual harvest of the crop's early fields looks the same across a gap), and still at least
  ``peer_gap_below_peers`` below its peers on the first (as bare as every field that grew like it, it collapsed
  with them: another crop than declared, cut at its harvest); adopted 2026-12-04, sixth
  (/work/data/L48/RULE13g.md), off (``peer_gap_days`` 0) for model versions saved before;
  or **stalled crop** (``peer_stall_max`` > 0; :func:`pipelines._monitor_peers.stall_candidates`): a crop that came
  up only partly — its maximum since first seen bare (from every clear observation: a gap may hide its green-up) at
  least ``emerged`` but below ``peer_stall_max`` — fallen at least ``peer_stall_fall`` from it to bare soil on two
  clear observations in a row while its crop cohort (the median of the fields of its crop clear that day) is green
  (≥ ``peer_stall_green``) and at least ``peer_stall_drop`` above it on both, earlier after its green-up than
  ``peer_stall_greenup_rel`` × the crop's usual duration, and still ``peer_stall_below_peers`` below its look-alike
  peers on the first (a young crop lost before its canopy closed never rose the ``peer_drop`` the peer rule needs
  it to fall; a partly planted field of an earlier crop cut at its harvest is as bare as the fields that grew like
  it); its rows do not corroborate the timing rule; an option, off by default (``peer_stall_max`` 0): tried
  2026-12-04, eighth (/work/data/L50/RULE13s.md), not adopted (see :class:`AlertParams`);
  or **timing**: the canopy collapsed (two clear observations in a row below
  ``bare`` after reaching ``green``) anomalously early: the collapse day is earlier than
  P25 − ``collapse_k`` × IQR of past collapse days, or the time since the field's own
  green-up is shorter than P25 − ``duration_k`` × IQR of past durations (a crop harvested
  at maturity collapses later on both counts; where that is not above 0, no duration is below it and the evidence
  says the duration test cannot fire, its threshold shown as 0) — with ``timing_needs_peers``, only when the collapse is
  also a peer candidate (see above) on one of its two observations, so that a collapse its peers share
  (frost browning, snow, the harvest of another crop than declared) is not a failure (a season of no more
  fields than ``peer_k`` has no peers: there the timing stands alone), raised once that candidate is known;
* ``EARLY_HARVEST`` (medium) — a collapse that is not anomalous enough for a failure but
  comes before P25 − ``early_k`` × IQR of past collapse days, after a green-up-to-collapse
  duration shorter than the past P25 (the crop was cut early);
* ``NOT_PLANTED`` (high) — by the expected emergence day (:func:`not_planted_day`) plus ``grace_days``, no clear
  observation has reached ``emerged`` NDVI and the latest one is not ``np_rise`` above the field's
  lowest (a late-sown crop coming up) — and, with ``np_seen``, is dated on or after the expected emergence day
  itself: a field last seen before it, then hidden by cloud past the deadline, waits to be seen (adopted
  2026-12-04, sixth, /work/data/L48/RULE13p2.md; off for model versions saved before). With ``np_cleared_canopy``
  (adopted 2026-12-05, /work/data/L51/RULE13np2.md; off for model versions saved before) a canopy cleared before
  the crop was due — green observations before the field's last bare one that precedes its crop's expected
  emergence day, last summer's crop in the September that opens a winter-wheat window — is not its crop come up
  (:func:`came_up_date`);
* ``CROP_MISMATCH`` (high) — the crop-type model gives the declared crop a probability
  below the policy's 0.20 (:func:`mismatch_mask`; the evidence names the model's crop and its probability),
  unless the season itself disputes it: the field's clear NDVI over the last ``mismatch_cohort_days`` is at
  least as near (ratio ≤ ``mismatch_cohort_ratio``) its ``mismatch_cohort_k`` nearest fields *declared* as its
  crop this season as those declared as the model's crop (:mod:`pipelines._monitor_cohort`; the evidence
  gives the ratio). ``mismatch_cohort_days=0`` turns the check off. The same cohorts can also raise one the model
  leaves in doubt: a declared crop's probability below ``mismatch_season_prob`` (0.5, "more likely wrong than right")
  with the field at least ``mismatch_season_ratio`` (3) times nearer the fields declared as the model's crop than
  those declared as its own (:func:`mismatch_passes`; adopted under /work/data/L40/RULE13k.md: on the design counties
  wrong declarations caught 18 → 20 of 27, 5 → 6 of 6, 120 → 124 of 132 at the same precision; ``mismatch_season_ratio=0``
  turns it off). Dated, as every other alert, by when it was
  raised: with the model's earlier checkpoints (``mismatch_history``, :func:`mismatch_history`), the first
  acquisition date, from the first checkpoint below :func:`candidate_prob`, on which the rule (cohort included) held
  (:func:`first_mismatch_raise`, which the evaluation's replay asks too) — raised then, whatever the cohort ratio of
  the day asked, and kept when a later checkpoint's probability rose above it for a while (the run of low checkpoints
  that raised it interrupted: the alert keeps its first date, as the replay scores its delay; it was dated from the
  latest run); asked on a day whose probability is not below :func:`candidate_prob`, there is none. The evidence
  lists the probabilities from the run that raised it to the checkpoint in force and the ratio of the day it was
  raised (``∞`` when the field is at distance 0 from the model crop's cohort, :func:`ratio_evidence`). Monitor dated
  it with the date asked, so the same alert moved with every query and an analyst could not tell how long the
  imagery had disputed the declaration.

With ``timing_unit="gdd"`` and the region's daily weather (``weather`` of :func:`season_alerts`;
:mod:`pipelines._monitor_thermal`) the collapse timing — the collapse day, the green-up-to-collapse duration, the
peers' share of it — is measured in growing degree days instead of calendar days: a crop maturing on its usual
thermal time in a warm season is not a failure for being early in the calendar. It is an option, not the default:
see the README (Early warning) for what it did on the design and evaluation counties.

Without ``timing`` the collapse is classified by the band as before: a failure when the
band's median is still ≥ ``green`` and the day is no later than 20 days after the band's peak
(earlier counts too: a collapse before the peak is no harvest).
Nothing observed after the as-of date is used. The defaults of :class:`AlertParams` were
tuned on past seasons of the synthetic counties (``agcredit evaluate alerts``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import fields as fields_of
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio
from pipelines._monitor_expect import (
    _field_timing,
    _two_in_a_row,
    arrays_by_key,
    expected_bands,
    expected_emergence_days,
    expected_timing,
    not_planted_day,
    run_bounds,
    season_start_days,
)
from pipelines._monitor_peers import (
    _flag,
    candidate_features,
    crop_cohort,
    gap_candidates,
    lower_peers,
    peer_anomalies,
    peer_failures,
    select_collapses,
    stall_candidates,
    wait_late_singles,
)
from pipelines._monitor_thermal import ThermalClock

__all__ = ["AlertParams", "farmers_lines", "ALERT_TYPES", "ALERT_COLUMNS", "expected_bands", "expected_timing",
           "expected_emergence_days", "detect_alerts", "came_up_date", "cleared_canopy_date", "emerging",
           "first_not_planted_date", "not_planted_day", "clear_ndvi", "season_alerts",
           "alert_params_of", "alerts_as_of", "crop_first_days", "fields_region", "own_crop_obs", "peer_candidates", "mismatch_mask", "mismatch_history",
           "first_cohort_pass", "first_mismatch_raise", "mismatch_candidates", "mismatch_passes", "candidate_prob",
           "mismatch_cohort", "thermal_clock", "season_start_days", "DAY_OF_SEASON_KEYS", "ALERT_FIELDS_NEED",
           "held_notes", "mark_held", "HELD_LINE", "params_from_meta", "ratio_evidence",
           "INFINITE_RATIO", "SAVED_BEFORE"]

ALERT_TYPES = {"WATCH": "medium", "CROP_FAILURE": "high", "EARLY_HARVEST": "medium", "NOT_PLANTED": "high",
               "CROP_MISMATCH": "high"}
ALERT_COLUMNS = ["field_id", "season", "alert", "severity", "date", "evidence"]
#: optional columns of a fields file that the alerts cannot do without (``read_fields(..., need=...)``): a file
#: without declared crops gave no band to fall below, and "alerts: none"; without regions, no season window
ALERT_FIELDS_NEED = ("declared_crop", "region")
#: evidence items counted in days since the season start, which the evidence then names (``season_start``)
DAY_OF_SEASON_KEYS = ("collapse_day", "expected_collapse_day_p25", "expected_emergence_day", "failure_before_day",
                      "greenup_day")
_NO_DATES = np.array([], dtype="datetime64[ns]")


@dataclass(frozen=True)
class AlertParams:
    """Thresholds of the alert rules (see the module docstring)."""

    min_clear_share: float = 0.8
    half_window: int = 8
    green: float = 0.45
    bare: float = 0.3
    emerged: float = 0.3
    grace_days: int = 25
    mismatch_prob: float = 0.20
    min_band_fields: int = 5
    collapse_k: float = 3.0
    duration_k: float = 3.0
    early_k: float = 0.5
    peer_k: int = 10
    peer_same_crop: bool = False
    peer_both: bool = True
    timing_needs_peers: bool = True
    peer_drop: float = 0.15
    peer_drop_next: float = 0.25
    peer_green: float = 0.4
    peer_greenup_rel: float = 0.8
    peer_drop_rate: float = 0.0
    peer_drop_single: float = 0.4
    #: the field's own earlier maximum a two-observation peer candidate needs (it came up as a crop; ``emerged``):
    #: adopted 2026-12-04, fourth (/work/data/L46/RULE13n.md), was ``green`` (0.45) — see :data:`SAVED_BEFORE`
    peer_own_green: float = 0.30
    #: a one-observation candidate this late (× the crop's usual green-up-to-collapse duration) waits for its next
    #: observation: adopted 2026-12-04, fifth (/work/data/L47/RULE13w.md), was 0.8 — see :data:`SAVED_BEFORE`
    peer_single_greenup_rel: float = 0.75
    peer_single_wait_days: int = 10
    #: a field seen bare only after a cloud gap of this many days is judged against its crop cohort
    #: (:func:`pipelines._monitor_peers.gap_candidates`; 0: off): adopted 2026-12-04, sixth
    #: (/work/data/L48/RULE13g.md), was off — see :data:`SAVED_BEFORE`
    peer_gap_days: int = 20
    peer_gap_drop: float = 0.3
    peer_gap_drop_next: float = 0.25
    peer_gap_green: float = 0.5
    peer_gap_greenup_rel: float = 0.7
    peer_gap_below_peers: float = 0.1
    #: a field's own history on a peer candidate (its maximum since first seen bare, green-up day, previous
    #: observation) from all its clear observations (:func:`pipelines._monitor_peers.candidate_features` ``obs``);
    #: default False: from its rows of the peer table, which lack its first clear observation and any early one with
    #: too few fields clear to be peers. Tried 2026-12-04, seventh (/work/data/L49/RULE13f.md), not adopted: it
    #: catches failures of fields seen bare only before a cloud gap (sh-dev-19 +4, sh-demo +3) but exposes late
    #: harvests to the peer and timing rules too (one wrong CROP_FAILURE each on sh-demo and ne-demo)
    peer_first_obs: bool = False
    #: a crop that came up only partly (own maximum below this) and fell back to bare soil while its crop cohort stays
    #: green (:func:`pipelines._monitor_peers.stall_candidates`; 0: off, the default). Tried 2026-12-04, eighth
    #: (/work/data/L50/RULE13s.md) with 0.5, not adopted: it catches cotton lost young on every smallholder design
    #: county (sh-demo recall 0.714 -> 0.746) but on sh-dev-23 a partly planted maize field declared cotton, cut at
    #: maize's harvest, is raised, and the records' tuning then picks an earlier timing limit (precision 0.984 -> 0.975)
    peer_stall_max: float = 0.0
    peer_stall_fall: float = 0.08
    peer_stall_green: float = 0.55
    peer_stall_drop: float = 0.3
    peer_stall_greenup_rel: float = 0.7
    peer_stall_below_peers: float = 0.1
    np_rise: float = 0.05
    np_other_gap: int = 60
    #: NOT_PLANTED needs the field *seen* below ``emerged`` on or after its expected emergence day (a field unseen
    #: since before it, under a cloud gap, waits for a clear observation): adopted 2026-12-04, sixth
    #: (/work/data/L48/RULE13p2.md; failed in the fifth under the old scoring), was False — see :data:`SAVED_BEFORE`
    np_seen: bool = True
    #: for NOT_PLANTED, the observations at or above ``emerged`` before the field's last one below it that precedes
    #: the crop's expected emergence day do not count as the crop come up (:func:`came_up_date`): a canopy cleared
    #: before the crop was due is the previous crop's — last summer's soybean in the September of a wheat window.
    #: Adopted 2026-12-05 (/work/data/L51/RULE13np2.md), was False (every one counted) — see :data:`SAVED_BEFORE`
    np_cleared_canopy: bool = True
    #: an option tried first, not adopted (/work/data/L51/RULE13np.md): for NOT_PLANTED, a clear observation at or
    #: above ``emerged`` is the crop come up only when dated on or after the crop's expected emergence day or at least
    #: this far above the lowest earlier one (:func:`came_up_date`) — it also discounts a crop other than the declared
    #: one, green from the window's opening into the declared crop's emergence (two wrong on ne-dev); 0 (the default):
    #: off
    np_came_up_rise: float = 0.0
    mismatch_cohort_days: int = 120
    mismatch_cohort_k: int = 3
    mismatch_cohort_ratio: float = 1.0
    mismatch_season_prob: float = 0.5
    mismatch_season_ratio: float = 3.0
    timing_unit: str = "days"

    def __post_init__(self) -> None:
        # the cohort ratio is the field's distance to the fields declared as its crop over that to the fields declared
        # as the model's crop: at most mismatch_cohort_ratio the season vouches for the declaration (a veto), at least
        # mismatch_season_ratio it disputes it (an alert). A ratio both vouching and disputing is contradictory: below
        # the policy's probability it would be vetoed and raised at once (the season branch wins, so the veto is dead
        # between the two); mismatch_season_ratio 0 turns the season branch off
        if self.mismatch_season_ratio > 0 and self.mismatch_cohort_ratio >= self.mismatch_season_ratio:
            raise ValueError(f"alert thresholds: mismatch_cohort_ratio ({self.mismatch_cohort_ratio:g}, the season "
                             f"vouching for a declaration at most that) must be below mismatch_season_ratio "
                             f"({self.mismatch_season_ratio:g}, the season disputing it at least that), or "
                             "mismatch_season_ratio 0 (off)")


def clear_ndvi(series: pd.DataFrame, *, as_of: date | None = None, min_clear_share: float = 0.8) -> pd.DataFrame:
    """Clear NDVI observations: field_id, season, date, ndvi (mean over clear pixels), up to ``as_of``."""
    s = series[series["variable"] == "NDVI"]
    if as_of is not None:
        s = s[s["date"] <= pd.Timestamp(as_of)]
    ok = (s["n_pixels"] > 0) & (s["n_clear"] >= min_clear_share * s["n_pixels"]) & s["mean"].notna()
    out = s.loc[ok, ["field_id", "season", "date", "mean"]].rename(columns={"mean": "ndvi"})
    return out.sort_values(["field_id", "season", "date"]).reset_index(drop=True)


def crop_first_days(region: str, season: str, calendar: pd.DataFrame | None = None) -> dict[tuple[str, str], int]:
    """Per (region, crop): the day of season of the crop's pre-season checkpoint (season calendar). Observations
    before it belong to the field's previous crop (e.g. Nebraska's window opens in September of the year before,
    when a spring crop's field still shows last year's crop) and are left out by :func:`own_crop_obs`."""
    from features.series import season_window
    from pipelines.schedule import checkpoint_dates, load_calendar

    cal = checkpoint_dates(season, calendar if calendar is not None else load_calendar())
    cal = cal[(cal["region"] == region) & (cal["checkpoint"] == "pre_season")]
    start = pd.Timestamp(season_window(season, region)[0])
    return {(str(r), str(c)): int((pd.Timestamp(d) - start).days)
            for r, c, d in zip(cal["region"], cal["crop"], cal["date"], strict=True)}


def own_crop_obs(obs: pd.DataFrame, crops: pd.DataFrame, season_starts: dict[str, date],
                 first_days: dict[tuple[str, str], int]) -> pd.DataFrame:
    """``obs`` without the observations before each field's crop's first day (see :func:`crop_first_days`)."""
    if obs.empty or not first_days:
        return obs
    m = obs.merge(crops[["field_id", "season", "crop", "region"]], on=["field_id", "season"], how="left")
    fd = pd.DataFrame([(r, c, v) for (r, c), v in first_days.items()], columns=["region", "crop", "first_day"])
    first = m[["region", "crop"]].astype(object).merge(fd.astype({"region": object, "crop": object}),
                                                       on=["region", "crop"], how="left")["first_day"]
    first = first.fillna(-10**6).to_numpy(dtype=np.float64)
    day = season_start_days(m["date"], m["season"], season_starts)
    keep = np.isnan(day) | (np.nan_to_num(day, nan=0.0) >= first)
    return obs.loc[keep].reset_index(drop=True)


def came_up_date(dates: np.ndarray, vals: np.ndarray, emerged: float, rise: float,
                 expected: pd.Timestamp | None, *, cleared: bool = False) -> np.datetime64 | None:
    """The first clear observation (``dates``, ``vals`` in date order) on which the field's crop had come up for
    NOT_PLANTED: at or above ``emerged`` — with ``cleared`` (:attr:`AlertParams.np_cleared_canopy`) not before the
    field's last observation below ``emerged`` dated before ``expected`` (the crop's expected emergence day; None: no
    such day, nothing discounted), a canopy cleared before the crop was due; with ``rise`` > 0
    (:attr:`AlertParams.np_came_up_rise`) only when dated on or after ``expected`` (None: never) or at least ``rise``
    above the lowest earlier observation (it rose from bare soil). None when none has."""
    ok = vals >= emerged
    when = np.asarray(dates, dtype="datetime64[ns]")
    before = (when < expected.to_datetime64()) if expected is not None else np.zeros(len(vals), dtype=bool)
    if cleared:
        ok[:_cleared_by(ok, before)] = False
    if rise > 0 and len(vals):
        low = np.minimum.accumulate(vals)
        earlier = np.concatenate([[np.inf], low[:-1]])  # the lowest observation before each one
        ok &= ~before | (vals - earlier >= rise) if expected is not None else vals - earlier >= rise
    i = np.flatnonzero(ok)
    return when[i[0]] if len(i) else None


def _cleared_by(green: np.ndarray, before: np.ndarray) -> int:
    """Index of the last observation below ``emerged`` (not ``green``) among those ``before`` the crop's expected
    emergence day — the green ones earlier than it are a canopy cleared before the crop was due —; 0 without one."""
    bare = np.flatnonzero(before & ~green)
    return int(bare[-1]) if len(bare) else 0


def cleared_canopy_date(dates: np.ndarray, vals: np.ndarray, emerged: float, expected: pd.Timestamp | None
                        ) -> np.datetime64 | None:
    """The clear observation (``dates``, ``vals`` in date order) by which a canopy standing earlier (at or above
    ``emerged``) had been cleared before ``expected``, the crop's expected emergence day (:func:`came_up_date`
    ``cleared``: last season's crop); None when no such canopy was discounted."""
    if expected is None or not len(vals):
        return None
    when = np.asarray(dates, dtype="datetime64[ns]")
    green = vals >= emerged
    k = _cleared_by(green, when < expected.to_datetime64())
    return when[k] if k and green[:k].any() else None


def emerging(vals: np.ndarray, rise: float) -> bool:
    """Whether the latest clear NDVI (``vals`` in date order) is at least ``rise`` above the lowest so far: a
    late-sown crop coming up (bare soil stays flat), so not (yet) NOT_PLANTED."""
    return bool(len(vals)) and float(vals[-1] - vals.min()) >= rise


def _dense_bands(bands: pd.DataFrame) -> dict[tuple[str, str], tuple[int, np.ndarray, np.ndarray, int]]:
    """(region, crop) → (first day, p10 by day, p50 by day, day of the p50 peak); NaN where no band."""
    out = {}
    for (r, c), g in bands.groupby(["region", "crop"]):
        d0, d1 = int(g["day"].min()), int(g["day"].max())
        lo = np.full(d1 - d0 + 1, np.nan)
        med = np.full(d1 - d0 + 1, np.nan)
        idx = g["day"].to_numpy(dtype=int) - d0
        lo[idx], med[idx] = g["p10"].to_numpy(dtype=float), g["p50"].to_numpy(dtype=float)
        out[(str(r), str(c))] = (d0, lo, med, int(g.loc[g["p50"].idxmax(), "day"]))
    return out


def _lookup(dense: tuple[int, np.ndarray, np.ndarray, int], days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d0, lo, med, _ = dense
    i = days - d0
    ok = (i >= 0) & (i < len(lo))
    j = np.minimum(np.maximum(i, 0), len(lo) - 1)  # np.clip's dispatch costs more than the work on a field's days
    return np.where(ok, lo[j], np.nan), np.where(ok, med[j], np.nan)


def _r(v: float) -> float:
    return round(float(v), 4)


def thermal_clock(weather: pd.DataFrame | None, region: str) -> ThermalClock | None:
    """The :class:`~pipelines._monitor_thermal.ThermalClock` of a daily weather table when it holds ``region``
    (the collapse timing is then in GDD), else None (calendar days)."""
    if weather is None or not len(weather):
        return None
    clock = ThermalClock(weather)
    return clock if region in clock.regions else None


def _collapse_alert(days: np.ndarray, vals: np.ndarray, dates: np.ndarray,
                    band: tuple[int, np.ndarray, np.ndarray, int], t: Any, p: AlertParams,
                    thermal: tuple[ThermalClock, str, Any, pd.Timestamp] | None = None
                    ) -> tuple[str, pd.Timestamp, dict[str, Any]] | None:
    """The field's own collapse judged against the crop's past timing (or its band): CROP_FAILURE,
    EARLY_HARVEST or None (see the module docstring). ``thermal`` (clock, region, crop, season start): the
    collapse day and the duration in GDD, as the timing ``t`` is when its unit is ``gdd``."""
    greenup, j, collapse = _field_timing(days, vals, p)
    if j is None or collapse is None:
        return None
    evidence: dict[str, Any] = {"dates": [str(pd.Timestamp(d).date()) for d in dates[j - 1:j + 1]],
                                "ndvi": [_r(v) for v in vals[j - 1:j + 1]], "peer_ndvi": None,
                                "peak_ndvi": _r(vals[: j + 1].max()), "collapse_day": collapse,
                                "greenup_day": greenup, "rule": "timing"}
    if t is not None:
        c_iqr = max(t.collapse_p75 - t.collapse_p25, 1.0)
        d_iqr = max(t.duration_p75 - t.duration_p25, 1.0)
        c_lim = t.collapse_p25 - p.collapse_k * c_iqr
        d_lim = t.duration_p25 - p.duration_k * d_iqr
        dur: float | None = collapse - greenup if greenup is not None else None
        when: float = collapse
        gdd = thermal is not None and getattr(t, "unit", "days") == "gdd"
        if gdd and thermal is not None:
            clock, region, crop, start = thermal
            at = [start + pd.Timedelta(days=int(x)) for x in (collapse, greenup if greenup is not None else collapse)]
            t_col, t_up = clock.since(region, crop, start, at)
            if not np.isfinite(t_col):
                return None  # no weather for the collapse: thermal timing cannot judge it
            when, dur = float(t_col), (float(t_col - t_up) if greenup is not None and np.isfinite(t_up) else None)
            evidence.update(collapse_gdd=_r(when), duration_gdd=None if dur is None else _r(dur), timing_unit="gdd")
        failed = when < c_lim or (dur is not None and dur < d_lim)
        unit = "gdd" if gdd else "day"
        evidence.update({f"expected_collapse_{unit}_p25": _r(t.collapse_p25), f"failure_before_{unit}": _r(c_lim),
                         "duration_days": collapse - greenup if greenup is not None else None,
                         f"failure_below_duration{'_gdd' if gdd else ''}": _r(max(d_lim, 0.0))})
        if d_lim <= 0:  # no duration is below it: said, not shown as a negative duration (the test above unchanged)
            evidence["duration_test"] = (f"cannot fire: the crop's past green-up-to-collapse durations spread too "
                                         f"wide (P25 - {p.duration_k:g} x IQR is below 0 {'GDD' if gdd else 'days'})")
        early = when < t.collapse_p25 - p.early_k * c_iqr and dur is not None and dur < t.duration_p25
        kind = "CROP_FAILURE" if failed else ("EARLY_HARVEST" if early else None)
    else:
        _, med = _lookup(band, days)
        standing = np.isfinite(med[j]) and med[j] >= p.green and days[j] <= band[3] + 20
        late = np.isfinite(med[j]) and med[j] < p.bare
        kind = "CROP_FAILURE" if standing else (None if late else "EARLY_HARVEST")
        evidence["expected_p50"] = _r(med[j]) if np.isfinite(med[j]) else None
    return (kind, pd.Timestamp(dates[j]), evidence) if kind is not None else None


def peer_candidates(obs: pd.DataFrame, fields: pd.DataFrame, season_start: date, timing: pd.DataFrame | None,
                    params: AlertParams | None = None, clock: ThermalClock | None = None) -> pd.DataFrame:
    """Candidate crop failures of the current season from the peer comparison (:mod:`pipelines._monitor_peers`):
    ``obs`` clear_ndvi() of the season, ``fields`` field_id + crop (+ region), ``timing`` expected_timing() of
    past seasons. Each row is known from its ``next_date`` on, so computing them once on the whole season and
    cutting at each as-of date gives the same answer as recomputing at every date."""
    p = params or AlertParams()
    if p.peer_k <= 0 or obs.empty:
        return pd.DataFrame()
    region = str(fields["region"].iloc[0]) if "region" in fields.columns and len(fields) else None
    tim = timing[timing["region"].astype(str) == region] if timing is not None and len(timing) and region else None
    crops = fields.set_index(fields["field_id"].astype(str))["crop"]
    pa = peer_anomalies(obs, k=p.peer_k, groups=crops if p.peer_same_crop else None)
    if p.peer_both:  # below both kinds of peers: the nearest fields of any crop and of its own crop
        pa = lower_peers(pa, peer_anomalies(obs, k=p.peer_k, groups=None if p.peer_same_crop else crops))
    feats = candidate_features(pa, fields, pd.Timestamp(season_start), tim, emerged=p.emerged, clock=clock,
                               region=region, obs=obs if p.peer_first_obs else None)
    cand = select_collapses(feats, drop=p.peer_drop, peer_green=p.peer_green, green=p.green,
                            own_green=p.peer_own_green, single=p.peer_drop_single if p.peer_drop_single < 1.0 else None,
                            bare=p.bare)
    cand = wait_late_singles(cand, greenup_rel=p.peer_single_greenup_rel, wait_days=p.peer_single_wait_days)
    if p.peer_gap_days <= 0 and p.peer_stall_max <= 0:
        return cand
    cohort = crop_cohort(obs, fields, min_fields=p.peer_k)
    extra = []
    if p.peer_gap_days > 0:
        extra.append(gap_candidates(feats, cohort, min_gap=p.peer_gap_days, drop=p.peer_gap_drop,
                                    drop_next=p.peer_gap_drop_next, green=p.peer_gap_green, own_green=p.peer_own_green,
                                    bare=p.bare, greenup_rel=p.peer_gap_greenup_rel,
                                    below_peers=p.peer_gap_below_peers))
    if p.peer_stall_max > 0:  # its own history from every clear observation (a gap may hide its green-up)
        whole = feats if p.peer_first_obs else candidate_features(pa, fields, pd.Timestamp(season_start), tim,
                                                                   emerged=p.emerged, clock=clock, region=region,
                                                                   obs=obs)
        extra.append(stall_candidates(whole, cohort, emerged=p.emerged, own_max=p.peer_stall_max,
                                      fall=p.peer_stall_fall, bare=p.bare, green=p.peer_stall_green,
                                      drop=p.peer_stall_drop, greenup_rel=p.peer_stall_greenup_rel,
                                      below_peers=p.peer_stall_below_peers))
    extra = [e for e in extra if not e.empty]
    if not extra:
        return cand
    return pd.concat([cand.astype({"single": bool, "confirmed": bool}), *extra], ignore_index=True)


def mismatch_mask(fields: pd.DataFrame, params: AlertParams, cohort: np.ndarray | None = None) -> np.ndarray:
    """CROP_MISMATCH per row of ``fields``. Without ``cohort`` (the rows' :func:`pipelines._monitor_cohort.cohort_ratio`,
    NaN = no evidence): the declared crop's probability (``declared_crop_prob``) below the policy's ``mismatch_prob``
    (the same test as the decision's CROP_MISMATCH reason). With it, :func:`mismatch_passes`: that test unless the
    season's own fields declared as the crop look like it (ratio at most ``mismatch_cohort_ratio``), or — the season's
    evidence raising what the model alone leaves in doubt — a probability below ``mismatch_season_prob`` with the
    field at least ``mismatch_season_ratio`` times nearer the fields declared as the model's crop than those declared
    as its own. Requiring a confident call of another crop as well was tried on the demo counties (the model's
    confident mid-season errors in a cloudy season, rice taken for maize at 0.97-0.99, pass it too): alert precision
    0.24 -> 0.31 for recall 0.70 -> 0.52 on sh-demo 2009 — not adopted."""
    prob = _declared_probs(fields)
    if cohort is None:
        with np.errstate(invalid="ignore"):
            return np.asarray(np.isfinite(prob) & (prob < params.mismatch_prob), dtype=bool)
    return np.asarray([mismatch_passes(float(pr), float(r), params) for pr, r in zip(prob, cohort, strict=True)],
                      dtype=bool)


def _declared_probs(fields: pd.DataFrame) -> np.ndarray:
    """The rows' declared-crop probability (``declared_crop_prob``; NaN without the column)."""
    return fields["declared_crop_prob"].to_numpy(dtype=float) if "declared_crop_prob" in fields.columns \
        else np.full(len(fields), np.nan)


def mismatch_candidates(fields: pd.DataFrame, params: AlertParams) -> np.ndarray:
    """The rows of ``fields`` whose declared-crop probability could make a CROP_MISMATCH with the season's cohort
    evidence (:func:`mismatch_passes`): below the larger of ``mismatch_prob`` and, with the cohort check on,
    ``mismatch_season_prob``."""
    prob = _declared_probs(fields)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(prob) & (prob < candidate_prob(params)), dtype=bool)


def candidate_prob(params: AlertParams) -> float:
    """The declared-crop probability below which a CROP_MISMATCH is possible (see :func:`mismatch_candidates`)."""
    if params.mismatch_cohort_days > 0 and params.mismatch_season_ratio > 0:
        return max(params.mismatch_prob, params.mismatch_season_prob)
    return params.mismatch_prob


def mismatch_passes(prob: float, ratio: float, params: AlertParams) -> bool:
    """The CROP_MISMATCH rule on one declared-crop probability and the cohort ratio of the same date (NaN: no
    evidence): below ``mismatch_prob`` and not vetoed by the cohort (ratio ≤ ``mismatch_cohort_ratio``), or below
    ``mismatch_season_prob`` with the cohort at least ``mismatch_season_ratio`` (the season's fields declared as the
    model's crop look like it far more than those declared as its own). ``mismatch_season_ratio`` 0 (or the cohort
    check off) turns the second branch off."""
    if not np.isfinite(prob):
        return False
    has = bool(np.isfinite(ratio)) or ratio == float("inf")
    if prob < params.mismatch_prob and not (has and ratio <= params.mismatch_cohort_ratio):
        return True
    return bool(params.mismatch_cohort_days > 0 and params.mismatch_season_ratio > 0 and has
                and prob < params.mismatch_season_prob and ratio >= params.mismatch_season_ratio)


#: the evidence's cohort ratio of a field at distance 0 from the model crop's cohort (infinitely nearer it than its
#: declared crop's): JSON has no infinity, and a number would read as a measured ratio
INFINITE_RATIO = "∞"


def ratio_evidence(ratio: float) -> float | str | None:
    """A cohort ratio as the evidence of a CROP_MISMATCH gives it (monitor and `evaluate alerts` alike): rounded to 4
    decimals, :data:`INFINITE_RATIO` when infinite (the field at distance 0 from the model crop's cohort), None when
    there is no evidence (NaN: left out of the evidence)."""
    r = float(ratio)
    if r == float("inf"):
        return INFINITE_RATIO
    return _r(r) if np.isfinite(r) else None


def mismatch_cohort(obs: pd.DataFrame | SeasonTrajectories, fields: pd.DataFrame, as_of: pd.Timestamp,
                    params: AlertParams, rows: np.ndarray) -> np.ndarray:
    """:func:`pipelines._monitor_cohort.cohort_ratio` as of ``as_of`` for the ``rows`` (boolean mask) of
    ``fields`` (field_id, crop — the declared crop —, crop_type — the model's), NaN elsewhere or when the check is
    off; ``obs``: the season's clear NDVI (or its :class:`SeasonTrajectories`), all fields. With a
    ``declared_crop`` column (season_alerts fills ``crop`` with the model's answer where nothing was declared),
    the cohorts hold DECLARED fields only: a field the model merely calls a crop does not vouch for what that
    crop looks like."""
    out = np.full(len(fields), np.nan)
    if params.mismatch_cohort_days <= 0 or "crop_type" not in fields.columns or not rows.any():
        return out
    traj = obs if isinstance(obs, SeasonTrajectories) else SeasonTrajectories(obs)
    fid = fields["field_id"].astype(str)
    declared = fields["declared_crop"] if "declared_crop" in fields.columns else fields["crop"]
    ratio = cohort_ratio(traj, pd.Series(declared.to_numpy(), index=fid),
                         pd.Series(fields["crop_type"].to_numpy(), index=fid), as_of, fid[rows],
                         window=params.mismatch_cohort_days, k=params.mismatch_cohort_k)
    out[rows] = [ratio[f] for f in fid[rows]]
    return out


def mismatch_history(crop_model: Any, series: pd.DataFrame, fields: pd.DataFrame, as_of: date
                     ) -> pd.DataFrame | None:
    """The crop-type model's probabilities of the season's ``fields`` at each of its checkpoints up to ``as_of``:
    field_id, as_of (the checkpoint's date, from which they held), crop_type, crop_type_prob, declared_crop_prob —
    what a monitor run on that date computed (the features are cut at the checkpoint, the season calibration
    estimated from the same declared fields; ``series``: the season's FieldTimeSeries). None without a model or
    a checkpoint before ``as_of``."""
    if crop_model is None or not len(fields) or not getattr(crop_model, "checkpoints_", None):
        return None
    from features.crop_type import field_windows

    f = fields.drop(columns="geometry", errors="ignore").drop_duplicates(["field_id", "season"])
    f = f.reset_index(drop=True)
    win = field_windows(f, season_days=crop_model.season_days)
    starts = pd.to_datetime(win["start"]).dt.normalize()
    ends = pd.to_datetime(win["end"]).dt.normalize()
    cutoff = pd.Timestamp(as_of)
    days = sorted({int(c) for c in crop_model.checkpoints_ if c != "end"})
    dates = {s0 + pd.Timedelta(days=c) for s0 in starts.unique() for c in days}
    if "end" in crop_model.checkpoints_:  # from the window's end the season-end model is in force (a review found
        dates |= set(ends.unique())       # its probability labelled with the last in-season checkpoint's date)
    frames = []
    for d in sorted(d for d in dates if d <= cutoff):
        pr = crop_model.predict(series, f, as_of=d.date())
        ck = pr["checkpoint"].astype(object)
        is_end = (ck == "end").to_numpy()
        days_in = pd.to_numeric(ck.where(~is_end), errors="coerce")
        at = (starts + pd.to_timedelta(days_in, unit="D")).where(~is_end, ends)
        keep = (ck.notna() & (at == d)).to_numpy()  # the fields whose checkpoint falls on d
        if keep.any():
            frames.append(pd.DataFrame({"field_id": pr["field_id"].astype(str)[keep], "as_of": d,
                                        "crop_type": pr["crop_type"][keep], "crop_type_prob": pr["crop_type_prob"][keep],
                                        "declared_crop_prob": pr["declared_crop_prob"][keep]}))
    return pd.concat(frames, ignore_index=True) if frames else None


def _mismatch_since(obs: pd.DataFrame, fields: pd.DataFrame, mismatch: np.ndarray, history: pd.DataFrame | None,
                    grid: np.ndarray, cutoff: pd.Timestamp, p: AlertParams
                    ) -> dict[str, tuple[pd.Timestamp | None, list[list[Any]], float]]:
    """field_id → (the date its CROP_MISMATCH was raised, [checkpoint date, declared-crop probability] from the first
    checkpoint of the run below :func:`candidate_prob` that raised it to the one in force on ``cutoff`` (whose
    probability the features give; higher ones between included), the cohort ratio on that date) for the ``mismatch``
    rows of ``fields`` (the candidates, :func:`mismatch_candidates`): the date is :func:`first_mismatch_raise`'s — the
    first acquisition of ``grid``, from the first checkpoint below :func:`candidate_prob`, on which the cohort check
    (with the crop the model called then) let the alert through — as `evaluate alerts` replays it, and as NOT_PLANTED
    is raised; None when no acquisition has yet (not raised yet: a first version dated it with the date asked, so a
    query on the checkpoint's day dated it then and a later one at the next acquisition; a second, at the checkpoint's
    own date, departed from the rule the evaluation measures — the review of the fixes; a third looked at the latest
    run of low checkpoints only)."""
    if history is None or history.empty:
        return {}
    fid_all = fields["field_id"].astype(str)
    declared_col = fields["declared_crop"] if "declared_crop" in fields.columns else fields["crop"]
    declared = pd.Series(declared_col.to_numpy(), index=fid_all)
    probs_now = _declared_probs(fields)
    hist = history[history["as_of"] <= cutoff].sort_values(["field_id", "as_of"], kind="stable")
    rows_of = {str(k): g for k, g in hist.groupby(hist["field_id"].astype(str), sort=False)}
    traj = functools.cache(lambda: SeasonTrajectories(obs))  # built on first need
    cp = candidate_prob(p)
    out: dict[str, tuple[pd.Timestamp | None, list[list[Any]], float]] = {}
    for fid, now in zip(fid_all[mismatch], probs_now[mismatch], strict=True):
        g = rows_of.get(fid)
        if g is None or g.empty:
            continue
        at = list(pd.to_datetime(g["as_of"]))
        pr = g["declared_crop_prob"].to_numpy(dtype=float, copy=True)
        pr[-1] = now  # the checkpoint in force: the features' probability stands for it
        k, hit, ratio = first_mismatch_raise(traj, declared, fid, at, pr, g["crop_type"].to_numpy(dtype=object),
                                             grid, p, until=cutoff + pd.Timedelta(days=1))
        if k is None or hit is None:
            out[fid] = (None, [], float("nan"))  # no acquisition since a run began lets it through yet: not raised yet
            continue
        first = k  # the run of checkpoints below candidate_prob that raised it, from its first, up to the one in force
        with np.errstate(invalid="ignore"):
            while first > 0 and np.isfinite(pr[first - 1]) and pr[first - 1] < cp:
                first -= 1
        run = [[str(a.date()), _r(v)] for a, v in zip(at[first:], pr[first:], strict=True)]
        out[fid] = (min(hit, cutoff), run, ratio)
    return out


def first_mismatch_raise(traj: Callable[[], SeasonTrajectories], declared: pd.Series, fid: str,
                         at: list[pd.Timestamp], probs: np.ndarray, called: np.ndarray, grid: np.ndarray,
                         p: AlertParams, *, until: pd.Timestamp | None = None
                         ) -> tuple[int | None, pd.Timestamp | None, float]:
    """When a CROP_MISMATCH of ``fid`` was raised, from the crop-type model's checkpoints of the field (``at`` in date
    order, the declared crop's probability ``probs`` and the crop ``called`` on each): the first checkpoint ``k`` whose
    probability is below :func:`candidate_prob` with an acquisition of ``grid`` from it until the next checkpoint's
    date (the last: until ``until``, excluded; None: the grid's end) on which the rule (:func:`first_cohort_pass`) lets
    it through — (k, that acquisition, the cohort ratio then); (None, None, NaN) when none does. A run of low
    checkpoints interrupted by a high one (the model agreeing with the declaration for a while) keeps the date the
    first run raised it: an alert is dated by when it was first raised and stays raised, as NOT_PLANTED and every
    other alert, and as the evaluation scores its delay. Monitor's dating and `evaluate alerts`' replay both ask it."""
    cp = candidate_prob(p)
    for k, (a, pr) in enumerate(zip(at, probs, strict=True)):
        if not (np.isfinite(pr) and pr < cp):
            continue
        a = pd.Timestamp(a)
        later = [b for b in at[k + 1:] if pd.Timestamp(b) > a]
        end = pd.Timestamp(later[0]) if later else until
        cand = grid[grid >= a.to_datetime64()]
        if end is not None:
            cand = cand[cand < end.to_datetime64()]
        c = called[k]
        hit, ratio = first_cohort_pass(traj, declared, fid, c if isinstance(c, str) else None, cand, p, prob=float(pr))
        if hit is not None:
            return k, hit, ratio
    return None, None, float("nan")


def first_cohort_pass(traj: Callable[[], SeasonTrajectories], declared: pd.Series, fid: str, called: Any,
                      dates: Iterable[Any], p: AlertParams, *, prob: float | None = None
                      ) -> tuple[pd.Timestamp | None, float]:
    """The first of ``dates`` on which the CROP_MISMATCH rule with the season's cohort (:func:`mismatch_passes`) lets
    an alert of ``fid`` through — declared ``declared[fid]``, the model calling it ``called`` with the declared crop at
    ``prob`` (None: below ``mismatch_prob``, the cohort only able to veto) — and the cohort ratio then (NaN: no
    evidence, or the check off); (None, NaN) when none does. ``traj``: the season's trajectories (called on first
    need). Monitor's dating and `evaluate alerts`' replay both ask it."""
    pr = -1.0 if prob is None else prob
    for d in dates:
        ratio = float("nan") if p.mismatch_cohort_days <= 0 or called is None else cohort_ratio(
            traj(), declared, pd.Series({fid: called}), pd.Timestamp(d), [fid], window=p.mismatch_cohort_days,
            k=p.mismatch_cohort_k)[fid]
        if mismatch_passes(pr, ratio, p):
            return pd.Timestamp(d), ratio
    return None, float("nan")


def first_not_planted_date(grid: np.ndarray, deadline: pd.Timestamp, dates: np.ndarray, vals: np.ndarray,
                           rise: float, seen_from: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """The day a NOT_PLANTED is raised: the first acquisition date of ``grid`` (those before the field's first
    emerged observation) on or after the ``deadline`` whose latest clear observation of the field (``dates``,
    ``vals``, in date order) is not a rising one (:func:`emerging`); None without one. Monitor (which dated it with
    the date asked: the same alert moved with every query) and `agcredit evaluate alerts` date it so. ``seen_from``
    (the expected emergence day, :attr:`AlertParams.np_seen`): that latest clear observation must also be dated on
    or after it — the field seen bare when the crop should have been up, not merely unseen since before."""
    cand = grid[grid >= deadline.to_datetime64()]
    if seen_from is not None and not len(vals):
        return None
    if len(vals) and len(cand):
        rising = (vals - np.minimum.accumulate(vals)) >= rise
        last = np.searchsorted(dates, cand, side="right") - 1
        keep = (last < 0) | ~rising[np.maximum(last, 0)]
        if seen_from is not None:
            keep &= (last >= 0) & (np.asarray(dates, dtype="datetime64[ns]")[np.maximum(last, 0)]
                                   >= seen_from.to_datetime64())
        cand = cand[keep]
    return pd.Timestamp(cand[0]) if len(cand) else None


def _own_emergence(emergence: dict[tuple[str, str], int], region: str, crop: str, start: pd.Timestamp
                   ) -> pd.Timestamp | None:
    """The date of the crop's own expected emergence day (:func:`expected_emergence_days`), None without one."""
    e = emergence.get((region, crop))
    return None if e is None else start + pd.Timedelta(days=e)


def _by_field(c: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """field_id → (date, known_date) of its rows of peer candidates, in their order (a groupby, on arrays)."""
    by = arrays_by_key(c["field_id"].astype(str).to_numpy(dtype=object),  # as text: ids of mixed types sort too
                       c["date"].to_numpy(), c["known_date"].to_numpy())
    return {f: (d, k) for f, (d, k) in by.items()}


def detect_alerts(obs: pd.DataFrame, fields: pd.DataFrame, bands: pd.DataFrame, as_of: date,
                  season_start: date, expected_emergence_day: dict[tuple[str, str], int],
                  params: AlertParams | None = None, *, timing: pd.DataFrame | None = None,
                  candidates: pd.DataFrame | None = None, clock: ThermalClock | None = None,
                  mismatch_history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Alerts as of ``as_of`` for the current season.

    ``obs``: clear_ndvi() of the current season; ``fields``: field_id, season, crop (declared or
    predicted), region, and optionally declared_crop_prob, crop_type and crop_type_prob; ``bands``: expected_bands();
    ``expected_emergence_day``: (region, crop) → day of season by which the crop has emerged;
    ``timing``: expected_timing() (optional, see the module docstring); ``candidates``: peer_candidates() of
    the season (computed from ``obs`` when None; rows known after ``as_of`` are ignored); ``clock``: the collapse
    timing in thermal time (:mod:`pipelines._monitor_thermal`; ``timing`` must then be in GDD too);
    ``mismatch_history``: :func:`mismatch_history` (dates a CROP_MISMATCH by when it was raised; without it, on
    ``as_of``). Returns field_id, season, alert, severity, date (when it was raised), evidence (JSON text).
    """
    p = params or AlertParams()
    cutoff = pd.Timestamp(as_of)
    obs = obs[obs["date"] <= cutoff]
    start = pd.Timestamp(season_start)
    today_day = int((cutoff - start).days)
    dense = _dense_bands(bands)
    tim = ({(str(r.region), str(r.crop)): r for r in timing.itertuples(index=False)}
           if timing is not None and len(timing) else {})
    alerts: list[dict[str, Any]] = []
    if candidates is None:
        candidates = peer_candidates(obs, fields, season_start, timing, p, clock)
    peer_fail = peer_failures(candidates, cutoff, drop_next=p.peer_drop_next, greenup_rel=p.peer_greenup_rel,
                              drop_rate=p.peer_drop_rate) if len(candidates) else {}
    corroborated: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # peers exist only when the season has more fields than a field has peers; without them timing stands alone
    need_peers = p.timing_needs_peers and p.peer_k > 0 and obs["field_id"].nunique() > p.peer_k
    if need_peers:
        # a stalled crop (stall_candidates) is judged by its own rule alone: it corroborates no timing collapse
        known = (candidates[(candidates["known_date"] <= cutoff).to_numpy() & ~_flag(candidates, "stalled")]
                 if len(candidates) else candidates)
        corroborated = _by_field(known) if len(known) else {}

    def add(fid: str, season: str, kind: str, when: pd.Timestamp, evidence: dict[str, Any]) -> None:
        if any(k in evidence for k in DAY_OF_SEASON_KEYS):  # days counted from when: said, not left to know
            evidence = evidence | {"season_start": str(start.date())}
        alerts.append({"field_id": fid, "season": season, "alert": kind, "severity": ALERT_TYPES[kind],
                       "date": when.normalize(), "evidence": json.dumps(evidence, sort_keys=True)})

    obs = obs.sort_values(["field_id", "season", "date"], kind="stable")
    fid_a = obs["field_id"].astype(str).to_numpy(dtype=object)
    season_a = obs["season"].astype(str).to_numpy(dtype=object)
    all_days = ((obs["date"] - start).dt.days.to_numpy() if len(obs) else np.zeros(0, dtype=int))
    all_vals = obs["ndvi"].to_numpy(dtype=float)
    all_dates = obs["date"].to_numpy()
    grid = np.unique(all_dates)  # the season's acquisition dates up to the cutoff
    sb = run_bounds(fid_a, season_a)
    spans = {(fid_a[a], season_a[a]): (int(a), int(b)) for a, b in zip(sb[:-1], sb[1:], strict=True)}
    probs = _declared_probs(fields)
    candidates = mismatch_candidates(fields, p)
    cohort = mismatch_cohort(obs, fields, cutoff, p, candidates)
    today = mismatch_mask(fields, p, cohort)
    # with the model's checkpoint history a candidate is raised on the first acquisition on which the rule let it
    # through, as `evaluate alerts` replays it — not only when the cohort ratio of the day asked (its window slides
    # between acquisitions) still passes, which dropped alerts the replay raised (review R1); without history (no
    # model given) on the date asked by that day's test, as before
    since = _mismatch_since(obs, fields, candidates, mismatch_history, grid, cutoff, p) if candidates.any() else {}
    for row, prob, now_mis, now_ratio in zip(fields.itertuples(index=False), probs, today, cohort, strict=True):
        fid, season, crop, region = str(row.field_id), str(row.season), row.crop, str(row.region)
        a, b = spans.get((fid, season), (0, 0))
        days, vals, dates = all_days[a:b], all_vals[a:b], all_dates[a:b]
        raised, run, ratio = since.get(fid, (cutoff if now_mis else None, [], now_ratio))
        if raised is not None:
            ev: dict[str, Any] = {"declared_crop_prob": _r(prob)}
            if "crop_type_prob" in fields.columns:
                ev |= {"crop_type": str(getattr(row, "crop_type", "")), "crop_type_prob": _r(row.crop_type_prob)}
            if ratio_evidence(ratio) is not None:
                ev["cohort_ratio"] = ratio_evidence(ratio)
            if run:
                ev["declared_crop_prob_by_checkpoint"] = run
            add(fid, season, "CROP_MISMATCH", raised, ev)
        if not isinstance(crop, str) or (region, crop) not in dense:
            continue
        band = dense[(region, crop)]
        emerge_by = not_planted_day(expected_emergence_day, region, crop, p.np_other_gap)
        if emerge_by is not None and today_day >= emerge_by + p.grace_days \
                and came_up_date(dates, vals, p.emerged, p.np_came_up_rise,
                                 _own_emergence(expected_emergence_day, region, crop, start),
                                 cleared=p.np_cleared_canopy) is None \
                and not emerging(vals, p.np_rise):
            raised = first_not_planted_date(grid, start + pd.Timedelta(days=emerge_by + p.grace_days), dates, vals,
                                            p.np_rise, start + pd.Timedelta(days=emerge_by) if p.np_seen else None)
            if raised is None:
                # no acquisition since the deadline yet: raised on the first one, as `evaluate alerts` replays it (it
                # was raised on the date asked, so a query just past the deadline dated it 07-31, the next 08-01,
                # and one after the next acquisition 08-02 — the us-nebraska walkthrough's F0078)
                continue
            # the field's latest clear observation up to the alert: before the expected emergence day, the field was
            # not seen when its crop should have come up (a cloud gap spanning the deadline) — the analyst checks it
            seen = dates[dates <= raised.to_datetime64()]
            ev_np = {"expected_emergence_day": emerge_by, "grace_days": p.grace_days,
                     "max_ndvi": _r(vals.max()) if len(vals) else None, "clear_obs": len(vals),
                     "last_clear_obs": str(pd.Timestamp(seen[-1]).date()) if len(seen) else None}
            cleared = cleared_canopy_date(dates, vals, p.emerged, _own_emergence(expected_emergence_day, region, crop,
                                                                                 start)) \
                if p.np_cleared_canopy else None
            if cleared is not None:  # max_ndvi is that earlier canopy's: say when it was gone
                ev_np["canopy_cleared_by"] = str(pd.Timestamp(cleared).date())
            add(fid, season, "NOT_PLANTED", raised, ev_np)
            continue
        if len(vals) < 2 and fid not in peer_fail:
            continue
        lo, _ = _lookup(band, days)
        below = np.isfinite(lo) & (lo >= p.emerged) & (vals < lo)
        w = _two_in_a_row(below)
        if w is not None:
            add(fid, season, "WATCH", pd.Timestamp(dates[w]),
                {"dates": [str(pd.Timestamp(d).date()) for d in dates[w - 1:w + 1]],
                 "ndvi": [_r(v) for v in vals[w - 1:w + 1]], "expected_p10": [_r(v) for v in lo[w - 1:w + 1]]})
        thermal = (clock, region, crop, start) if clock is not None else None
        old = _collapse_alert(days, vals, dates, band, tim.get((region, crop)), p, thermal) if len(vals) >= 2 \
            else None
        if old is not None and old[0] == "CROP_FAILURE" and need_peers:
            cd, ck = corroborated.get(fid, (_NO_DATES, _NO_DATES))
            hit = np.isin(cd.astype("datetime64[D]"), np.array(old[2]["dates"], dtype="datetime64[D]"))
            if not hit.any():  # a collapse its peers shared: weather, frost, harvest
                old = None
            else:  # raised once the corroboration is known
                old = (old[0], max(old[1], pd.Timestamp(ck[hit].min())), old[2])
        peer = peer_fail.get(fid)
        if peer is not None and (old is None or old[0] != "CROP_FAILURE" or old[1] > peer[0]):
            add(fid, season, "CROP_FAILURE", peer[0], peer[1])
        elif old is not None:
            add(fid, season, old[0], old[1], old[2])
    out = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(["date", "field_id", "alert"]).reset_index(drop=True)


# --- a season as of a date (what re-underwriting and ``agcredit monitor`` call) ------------------------

def season_alerts(fields: pd.DataFrame, series: pd.DataFrame, history: pd.DataFrame | None, season: str,
                  as_of: date, *, features: pd.DataFrame | None = None, book: pd.DataFrame | None = None,
                  params: AlertParams | None = None, warnings: list[str] | None = None,
                  weather: pd.DataFrame | None = None, crop_model: Any = None) -> pd.DataFrame:
    """Alerts of ``season`` as of ``as_of`` with the affected line(s).

    ``fields``: every season's fields (declared crops of past seasons give the expectations);
    ``series``: this season's FieldTimeSeries; ``history``: past seasons' FieldTimeSeries (None: no
    alerts); ``features``: this season's FieldFeatures (crop type and declared-crop probability); ``weather``:
    the daily weather table (:func:`features.weather.read_weather`), which puts the collapse timing in thermal
    time (:mod:`pipelines._monitor_thermal`; calendar days without it, or when it does not hold the region);
    ``crop_model``: the crop-type model that gave ``features`` their probabilities, whose earlier checkpoints date a
    CROP_MISMATCH by when it was raised (:func:`mismatch_history`; without it, on ``as_of``).
    """
    from features.series import season_window

    p = params or AlertParams()
    empty = pd.DataFrame(columns=[*ALERT_COLUMNS, "farmer_token", "line_id"])
    if history is None or history.empty:
        if warnings is not None:
            warnings.append("no past seasons' series: no alerts")
        return empty
    meta = pd.DataFrame({"field_id": fields["field_id"].astype(str), "season": fields["season"].astype(str),
                         "crop": fields["declared_crop"], "region": fields["region"].astype(str),
                         "farmer_token": fields["farmer_token"].astype(str)})
    cur = meta[meta["season"] == str(season)].reset_index(drop=True)
    if cur.empty:
        return empty
    region = str(cur["region"].iloc[0])
    past_seasons = sorted(s for s in history["season"].astype(str).unique() if s < str(season))
    starts = {s: season_window(s, region)[0] for s in [*past_seasons, str(season)]}
    first_days = crop_first_days(region, str(season))
    past_crops = meta[meta["season"].isin(past_seasons)]
    past_obs = own_crop_obs(clear_ndvi(history[history["season"].astype(str).isin(past_seasons)],
                                       min_clear_share=p.min_clear_share), past_crops, starts, first_days)
    bands = expected_bands(past_obs, past_crops, starts, p)
    clock = thermal_clock(weather, region) if p.timing_unit == "gdd" else None
    if p.timing_unit == "gdd" and clock is None and warnings is not None:
        warnings.append(f"timing_unit gdd needs the daily weather of region {region}: collapse timing in days")
    timing = expected_timing(past_obs, past_crops, starts, p, clock)
    emergence = expected_emergence_days(past_obs, past_crops, starts, p)
    if features is not None and len(features):
        f = features[["field_id", *[c for c in ("crop_type", "crop_type_prob", "declared_crop_prob")
                                    if c in features.columns]]]
        cur = cur.merge(f.astype({"field_id": str}), on="field_id", how="left")
        if "crop_type" in cur.columns:  # no declared crop: the model's answer (the mismatch cohorts keep declared)
            cur["declared_crop"] = cur["crop"]
            cur["crop"] = cur["crop"].where(cur["crop"].notna(), cur["crop_type"])
    obs = own_crop_obs(clear_ndvi(series, as_of=as_of, min_clear_share=p.min_clear_share), cur, starts, first_days)
    hist = None
    # every candidate (below candidate_prob: the season's branch's too) is dated from the model's history, as the
    # replay dates it; asked for the policy's 0.20 only, a season whose only candidates were the season branch's had
    # them dated with the date asked
    if crop_model is not None and features is not None and "declared_crop_prob" in features.columns \
            and (pd.to_numeric(features["declared_crop_prob"], errors="coerce") < candidate_prob(p)).any():
        hist = mismatch_history(crop_model, series, fields[fields["season"].astype(str) == str(season)], as_of)
    al = detect_alerts(obs, cur, bands, as_of, starts[str(season)], emergence, p, timing=timing, clock=clock,
                       mismatch_history=hist)
    tokens = dict(zip(cur["field_id"], cur["farmer_token"], strict=True))
    al["farmer_token"] = al["field_id"].map(tokens).astype("str")
    lines = farmers_lines(book, as_of, str(season))
    al["line_id"] = pd.Series([lines.get(t) for t in al["farmer_token"]], index=al.index, dtype="object")
    return al.reset_index(drop=True)


def farmers_lines(book: pd.DataFrame | None, as_of: date, season: str | None = None) -> dict[str, str]:
    """Per farmer token, the Book lines an alert of theirs names (``L1,L2``): the lines open on the day (``start_date
    ≤ as_of ≤ maturity_date``) — :func:`pipelines.reunderwrite.active_lines`, the lines a re-underwriting of the
    season as of the day reviews: a dated Book's lines on their terms in force
    (:func:`underwriting.book.book_as_of`, not refusing: a line open on the day with no balance yet is named), a line
    renewed under the same id named once, one matured before the day or not yet started not named (dated Book or
    not). With ``season`` (an alert's season) and a Book that says the season it finances, only the lines of that
    season: an alert on a field of season S concerns the crop that season's line finances, not a farmer's line of
    another season still open on the day (an earlier season's line not yet matured, or the next season's already
    started). A farmer with no such line: not in the answer (the alert names none)."""
    from pipelines.reunderwrite import active_lines

    if book is None or not len(book):
        return {}
    open_book = active_lines(book, as_of, season)
    return {str(tok): ",".join(sorted(set(g["line_id"].astype(str)))) for tok, g in open_book.groupby("farmer_token")}


#: what an alert of a held farmer shows in place of its (empty) line, in monitor's text table (:func:`mark_held`)
HELD_LINE = "held"


def held_notes(set_aside: Any, season: str) -> dict[str, str]:
    """Per farmer held by a ``--rejects`` run of ``season`` (:func:`features.fields.held_farmers`: a row of theirs
    set aside, or a row set aside overlapping their field), why no line is named for their fields' alerts: "farmer
    held: the fields file's rejected row F1 (--rejects): their fields are not decided" — the rows by field id (``row
    N`` when the id is the problem), pseudonymous only. Empty when nothing was set aside."""
    from features.fields import held_farmers, of_season

    rows = [r for r in set_aside or () if of_season(r, season)]
    held = held_farmers(rows, season)
    why: dict[str, set[str]] = {}
    for r in rows:
        for tok in {r.farmer_token or "", *r.overlaps} & held:
            why.setdefault(tok, set()).add(str(r.field_id or r.row))
    return {tok: f"farmer held: the fields file's rejected row {', '.join(sorted(ids))} (--rejects): their fields "
                 "are not decided" for tok, ids in why.items()}


def mark_held(alerts: pd.DataFrame, set_aside: Any, season: str) -> pd.DataFrame:
    """``alerts`` (with ``farmer_token``) with a ``held`` column when a farmer of theirs is held (:func:`held_notes`):
    on a held farmer's alert without a line, why none is named (monitor's text, ``--json`` and the report page show
    it instead of an empty line); None elsewhere. ``alerts`` as they are when nobody is held."""
    notes = held_notes(set_aside, season)
    if not notes or alerts.empty or "farmer_token" not in alerts.columns:
        return alerts
    lines = alerts["line_id"] if "line_id" in alerts.columns else pd.Series([None] * len(alerts), index=alerts.index)
    held = [notes.get(str(t)) if not (isinstance(ln, str) and ln) else None
            for t, ln in zip(alerts["farmer_token"], lines, strict=True)]
    if not any(held):
        return alerts
    return alerts.assign(held=pd.Series(held, index=alerts.index, dtype="object"))


def fields_region(fields: pd.DataFrame) -> str | None:
    """The region of a fields table (its first non-empty ``region``; None without one)."""
    if "region" not in fields.columns or not fields["region"].notna().any():
        return None
    return str(fields["region"].dropna().iloc[0])


def alert_params_of(crop_model: Any, region: str | None) -> AlertParams | None:
    """The early-warning thresholds a crop-type model version carries for ``region`` (tuned on its training
    seasons' diaries, :mod:`pipelines._alert_fit`), over the rules' defaults; None when it carries none (a model
    saved before they travelled with it, one trained from tables, no model)."""
    tuned = (getattr(crop_model, "alert_params_", None) or {}).get(str(region)) if region is not None else None
    if not tuned:
        return None
    return params_from_meta(tuned, f"the crop-type model's alert_params of region {region}")


#: rules a model version's saved thresholds (``meta.json`` ``alert_params``) ran with before the rule changed, for a
#: version saved before it (its thresholds lack the key): its monitoring and re-underwriting stay as they were
#: (their records replay); a version saved since names the value (:func:`pipelines._alert_fit.tuned_alert_params`
#: saves these keys beside the tuned thresholds)
SAVED_BEFORE: dict[str, Any] = {"peer_own_green": 0.45, "peer_single_greenup_rel": 0.8, "peer_gap_days": 0,
                               "np_seen": False, "np_cleared_canopy": False}


def params_from_meta(tuned: dict[str, Any], where: str) -> AlertParams:
    """:class:`AlertParams` of saved thresholds (``meta.json`` ``alert_params`` of one region; keys it does not know
    left out) over the rules' defaults — a rule the thresholds do not name that changed since such versions were
    saved as they ran it (:data:`SAVED_BEFORE`); a contradictory combination is a one-line user error naming
    ``where``."""
    from features.errors import UserInputError

    known = {f.name for f in fields_of(AlertParams)}
    try:
        return AlertParams(**{**SAVED_BEFORE, **{k: v for k, v in tuned.items() if k in known}})
    except ValueError as e:
        raise UserInputError(f"{where}: {e}") from None


def alerts_as_of(fields: pd.DataFrame, imagery: Any, season: str, as_of: date, *, cache_dir: Any = None,
                 book: pd.DataFrame | None = None, crop_model: Any = None, params: AlertParams | None = None,
                 weather: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Alerts of ``season`` as of ``as_of`` from fields (every season) and an imagery source: the season's
    and past seasons' NDVI series (cached), the crop-type model's declared-crop probability when given.
    Returns the alerts (with affected lines from ``book``) and warnings."""
    from features.series import build_series
    from pipelines.featurize import check_as_of_in_season, past_series

    warnings: list[str] = []
    cur = fields[fields["season"].astype(str) == str(season)]
    check_as_of_in_season(cur if len(cur) else fields, str(season), as_of)  # before any scene is read
    if crop_model is not None and params is None:  # the model's thresholds (a contradictory pair: a one-line error)
        params = alert_params_of(crop_model, fields_region(cur))  # before any scene is read too
    # every variable (the default), so the cache entries are the ones featurize and re-underwriting use
    res = build_series(cur, imagery, str(season), as_of=as_of, cache_dir=cache_dir)
    warnings.extend(res.warnings)
    history = past_series(fields, imagery, str(season), cache_dir=cache_dir)
    feats = None
    if crop_model is not None:
        feats = crop_model.predict(res.series, cur.drop(columns="geometry", errors="ignore"), as_of)
    al = season_alerts(fields, res.series, history, str(season),
                       as_of, features=feats, book=book, params=params, warnings=warnings, weather=weather,
                       crop_model=crop_model)
    return al, warnings
