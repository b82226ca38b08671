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

# every name importable from this module before its split into the pipelines._monitor_* modules stays importable
# here (the noqa'd imports: re-exported, not used here)
from collections.abc import Callable, Iterable  # noqa: F401
from dataclasses import dataclass  # noqa: F401
from dataclasses import fields as fields_of  # noqa: F401
from datetime import date
from typing import Any

import pandas as pd

from pipelines._monitor_cohort import SeasonTrajectories, cohort_ratio  # noqa: F401
from pipelines._monitor_detect import (  # noqa: F401
    _NO_DATES,
    ALERT_COLUMNS,
    ALERT_TYPES,
    DAY_OF_SEASON_KEYS,
    _by_field,
    _collapse_alert,
    detect_alerts,
    peer_candidates,
    thermal_clock,
)
from pipelines._monitor_expect import (  # noqa: F401
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
from pipelines._monitor_mismatch import (  # noqa: F401
    INFINITE_RATIO,
    _declared_probs,
    _mismatch_since,
    candidate_prob,
    first_cohort_pass,
    first_mismatch_raise,
    mismatch_candidates,
    mismatch_cohort,
    mismatch_history,
    mismatch_mask,
    mismatch_passes,
    ratio_evidence,
)
from pipelines._monitor_obs import (  # noqa: F401
    _cleared_by,
    _dense_bands,
    _lookup,
    _own_emergence,
    _r,
    came_up_date,
    clear_ndvi,
    cleared_canopy_date,
    crop_first_days,
    emerging,
    first_not_planted_date,
    own_crop_obs,
)
from pipelines._monitor_params import SAVED_BEFORE, AlertParams, alert_params_of, params_from_meta
from pipelines._monitor_peers import (  # noqa: F401
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
from pipelines._monitor_thermal import ThermalClock  # noqa: F401

__all__ = ["AlertParams", "farmers_lines", "ALERT_TYPES", "ALERT_COLUMNS", "expected_bands", "expected_timing",
           "expected_emergence_days", "detect_alerts", "came_up_date", "cleared_canopy_date", "emerging",
           "first_not_planted_date", "not_planted_day", "clear_ndvi", "season_alerts",
           "alert_params_of", "alerts_as_of", "crop_first_days", "fields_region", "own_crop_obs", "peer_candidates", "mismatch_mask", "mismatch_history",
           "first_cohort_pass", "first_mismatch_raise", "mismatch_candidates", "mismatch_passes", "candidate_prob",
           "mismatch_cohort", "thermal_clock", "season_start_days", "DAY_OF_SEASON_KEYS", "ALERT_FIELDS_NEED",
           "held_notes", "mark_held", "HELD_LINE", "params_from_meta", "ratio_evidence",
           "INFINITE_RATIO", "SAVED_BEFORE"]

#: optional columns of a fields file that the alerts cannot do without (``read_fields(..., need=...)``): a file
#: without declared crops gave no band to fall below, and "alerts: none"; without regions, no season window
ALERT_FIELDS_NEED = ("declared_crop", "region")


# --- a season as of a date (what re-underwriting and ``agcredit monitor`` call) ------------------------

def season_alerts(fields: pd.DataFrame, series: pd.DataFrame, history: pd.DataFrame | None, season: str,
                  as_of: date, *, features: pd.DataFrame | None = None, book: pd.DataFrame | None = None,
                  params: AlertParams | None = None, warnings: list[str] | None = None,
                  weather: pd.DataFrame | None = None, crop_model: Any = None, imagery: Any = None) -> pd.DataFrame:
    """Alerts of ``season`` as of ``as_of`` with the affected line(s).

    ``fields``: every season's fields (declared crops of past seasons give the expectations);
    ``series``: this season's FieldTimeSeries; ``history``: past seasons' FieldTimeSeries (None: no
    alerts); ``features``: this season's FieldFeatures (crop type and declared-crop probability); ``weather``:
    the daily weather table (:func:`features.weather.read_weather`), which puts the collapse timing in thermal
    time (:mod:`pipelines._monitor_thermal`; calendar days without it, or when it does not hold the region);
    ``crop_model``: the crop-type model that gave ``features`` their probabilities, whose earlier checkpoints date a
    CROP_MISMATCH by when it was raised (:func:`mismatch_history`; without it, on ``as_of``). ``imagery``: the
    imagery the series come from, named when it holds no past season the fields hold (a warning).
    """
    from features.series import season_window

    p = params or AlertParams()
    empty = pd.DataFrame(columns=[*ALERT_COLUMNS, "farmer_token", "line_id"])
    if history is None or history.empty:
        if warnings is not None:
            warnings.append(_no_history_warning(fields, str(season), imagery))
        return empty
    meta = pd.DataFrame({"field_id": fields["field_id"].astype(str), "season": fields["season"].astype(str),
                         "crop": fields["declared_crop"], "region": fields["region"].astype(str),
                         "farmer_token": fields["farmer_token"].astype(str)})
    cur = meta[meta["season"] == str(season)].reset_index(drop=True)
    if cur.empty:
        return empty
    region = str(cur["region"].iloc[0])
    past_seasons = sorted(s for s in history["season"].astype(str).unique() if s < str(season))
    if warnings is not None:  # some of the fields' past seasons and not others: narrower evidence, said
        warnings += _missing_history_warning(meta, past_seasons, str(season), imagery)
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


def _no_history_warning(fields: pd.DataFrame, season: str, imagery: Any) -> str:
    """Why no early-warning alert can be raised: the fields hold no past season, or they do and the imagery holds no
    scene of one (a folder ``imagery fetch`` filled for this season only: the warning blamed the fields)."""
    why = ("no early-warning alert can be raised — alerts compare this season's growth with the past seasons' of the "
           "same crop and region, so no line is flagged or re-decided on one")
    seasons = fields["season"].astype(str) if "season" in fields.columns else pd.Series([], dtype=str)
    past = sorted(x for x in seasons.unique() if x < season)
    if not past:
        return (f"the fields hold no past season (no past seasons' series): {why}; give fields' rows of past seasons "
                "(season by season) for alerts")
    where = f"the imagery {imagery}" if imagery is not None else "the imagery"
    shown = ", ".join(past) if len(past) <= 4 else f"{past[0]}–{past[-1]}"
    return (f"{where} holds no scene of a past season (the fields hold {int(seasons.isin(past).sum()):,} rows of "
            f"season(s) {shown}, but no past season's series could be built from it): {why}; fetch the past seasons' "
            f"scenes into it (agcredit imagery fetch --season S for each of {shown}, with the same --out) for alerts")


def _missing_history_warning(meta: pd.DataFrame, built: list[str], season: str, imagery: Any) -> list[str]:
    """The fields' past seasons of this season's region whose series the imagery could not give (a folder holding
    2008–2010 of fields back to 2003): the expected growth is drawn from the others only — other bands, more alerts
    (a review found 6 high alerts more, unsaid); said naming the seasons and the fetch that fills them."""
    regions = set(meta.loc[meta["season"] == season, "region"])
    held = sorted(x for x in meta.loc[meta["region"].isin(regions), "season"].unique() if x < season)
    missing = [x for x in held if x not in set(built)]
    if not missing or not built:
        return []
    where = f"the imagery {imagery}" if imagery is not None else "the imagery"
    shown = ", ".join(missing) if len(missing) <= 4 else f"{len(missing)} seasons, {missing[0]}–{missing[-1]}"
    return [f"{where} holds no scene of past season(s) {shown} that the fields hold: the expected growth the alerts "
            f"compare with is drawn from {', '.join(built)} only (other bands, other alerts); fetch the missing "
            f"seasons' scenes into it (agcredit imagery fetch --season S, with the same --out) for the alerts of "
            "every past season"]


def fields_region(fields: pd.DataFrame) -> str | None:
    """The region of a fields table (its first non-empty ``region``; None without one)."""
    if "region" not in fields.columns or not fields["region"].notna().any():
        return None
    return str(fields["region"].dropna().iloc[0])


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
        from pipelines._featurize_models import unseen_region_warnings

        feats = crop_model.predict(res.series, cur.drop(columns="geometry", errors="ignore"), as_of)
        warnings.extend(unseen_region_warnings(crop_model, cur))  # its CROP_MISMATCH alerts there unvalidated
    al = season_alerts(fields, res.series, history, str(season),
                       as_of, features=feats, book=book, params=params, warnings=warnings, weather=weather,
                       crop_model=crop_model, imagery=imagery)
    return al, warnings
