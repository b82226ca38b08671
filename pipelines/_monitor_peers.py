"""Peer-relative anomalies: a field's NDVI against the fields whose recent trajectories looked like its own.

On every acquisition date ``t`` each field observed clear on ``t`` is compared with its ``k`` nearest
*peers*: the other fields observed clear on ``t`` whose NDVI over the ``lags`` days before ``t`` was
closest to its own (root-mean-square difference of the histories, linearly interpolated between clear
observations and held flat after the last one before ``t``). Peers share the field's phenological
position (emergence, canopy development, onset of senescence) and the season's weather, whatever the
declared crop says, so a county-wide drop (drought, haze, the usual harvest time) moves them alike,
while a field whose canopy collapses on its own drops away from them.

Everything on date ``t`` uses clear observations dated ``t`` or earlier only, so the anomalies of a
date never change as later observations arrive (the replay is strictly as-of).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipelines._monitor_thermal import ThermalClock

__all__ = ["peer_anomalies", "lower_peers", "collapse_candidates", "candidate_features", "select_collapses",
           "crop_cohort", "gap_candidates", "stall_candidates", "wait_late_singles", "peer_failures", "PEER_COLUMNS",
           "CANDIDATE_FEATURES", "CANDIDATE_COLUMNS"]

PEER_COLUMNS = ["field_id", "date", "ndvi", "peer_ndvi", "peer_spread", "n_peers", "history_rmse", "next_date",
                "next_ndvi", "next_peer_ndvi"]


def _interp_rows(days: np.ndarray, vals: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per field (rows of ``vals`` on acquisition ``days``, NaN = not clear): linear interpolation onto ``grid``
    (days) between clear observations, flat before the first and after the last."""
    out = np.full((vals.shape[0], len(grid)), np.nan)
    for i in range(vals.shape[0]):
        ok = np.isfinite(vals[i])
        if ok.any():
            out[i] = np.interp(grid, days[ok], vals[i, ok])
    return out


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """Median of each row over its finite values (NaN for a row without any); much faster than
    ``np.nanmedian`` on many short rows."""
    if a.size == 0:
        return np.full(a.shape[0], np.nan)
    s = np.sort(a, axis=1)  # NaN last
    n = np.isfinite(a).sum(axis=1)
    lo = np.clip((n - 1) // 2, 0, a.shape[1] - 1)
    hi = np.clip(n // 2, 0, a.shape[1] - 1)
    rows = np.arange(a.shape[0])
    return np.where(n > 0, (s[rows, lo] + s[rows, hi]) / 2.0, np.nan)


def _peer_stats(d2: np.ndarray, ok: np.ndarray, v: np.ndarray, k: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and MAD of the values ``v`` of the ``k`` nearest candidates (columns where ``ok``) of each row of
    the squared-distance matrix ``d2``; the number of peers; their RMS history difference."""
    d = np.where(ok[None, :], d2, np.inf)
    kk = int(min(k, max(int(ok.sum()) - 1, 1)))
    nn = np.argpartition(d, kk - 1, axis=1)[:, :kk]
    dn = np.take_along_axis(d, nn, axis=1)
    pv = np.where(np.isfinite(dn), v[nn], np.nan)
    med = _row_nanmedian(pv)
    mad = _row_nanmedian(np.abs(pv - med[:, None]))
    n = np.isfinite(dn).sum(axis=1)
    rm = np.sqrt(np.where(np.isfinite(dn), dn, 0).sum(axis=1) / np.maximum(n, 1))
    return med, mad, n, rm


def peer_anomalies(obs: pd.DataFrame, *, k: int = 10, lags: Sequence[int] = tuple(range(5, 105, 5)),
                   min_peers: int = 5, start: pd.Timestamp | None = None,
                   groups: pd.Series | None = None, chunk: int = 256) -> pd.DataFrame:
    """Per (field, acquisition date): the field's clear NDVI, its peers' median NDVI on that date, the peers'
    spread (median absolute deviation), the number of peers and the RMS difference of the histories; and, on
    the field's next clear observation (``next_date``, ``next_ndvi``), the median of the ``k`` fields observed
    clear on that date that were nearest by the history *before* ``date`` (``next_peer_ndvi``): a field that
    has just collapsed would otherwise find its new peers among collapsed fields.

    ``obs``: clear_ndvi() rows of one season (field_id, date, ndvi). ``groups`` (field_id → label, e.g. the
    declared crop): peers only from the field's own group (fields without a label are nobody's peers and have
    none). Rows with fewer than ``min_peers`` candidate peers are left out; peer medians of fewer than
    ``min_peers`` peers are NaN.
    """
    if obs.empty:
        return pd.DataFrame(columns=PEER_COLUMNS)
    wide = obs.pivot_table(index="field_id", columns="date", values="ndvi", aggfunc="mean").sort_index(axis=1)
    fids = wide.index.astype(str).to_numpy()
    gcode = (pd.factorize(pd.Series(fids).map(groups.astype(object).to_dict()), use_na_sentinel=True)[0]
             if groups is not None else np.zeros(len(fids), dtype=int))
    dates = pd.DatetimeIndex(wide.columns)
    t0 = start if start is not None else dates[0]
    days = np.asarray((dates - t0).days, dtype=int)
    vals = wide.to_numpy(dtype=float)
    clear = np.isfinite(vals)
    grid = np.arange(days[0] - max(lags), days[-1] + 1)
    dense = _interp_rows(days, vals, grid)
    # last clear observation strictly before each acquisition date: its day and value
    n_f, n_d = vals.shape
    last_day = np.full((n_f, n_d), np.nan)
    last_val = np.full((n_f, n_d), np.nan)
    cur_d = np.full(n_f, np.nan)
    cur_v = np.full(n_f, np.nan)
    for j in range(n_d):
        last_day[:, j], last_val[:, j] = cur_d, cur_v
        cur_d = np.where(clear[:, j], days[j], cur_d)
        cur_v = np.where(clear[:, j], vals[:, j], cur_v)
    # the next clear acquisition (column index) of each field after each date; -1 when none
    nxt = np.full((n_f, n_d), -1)
    following = np.full(n_f, -1)
    for j in range(n_d - 1, -1, -1):
        nxt[:, j] = following
        following = np.where(clear[:, j], j, following)
    lag = np.asarray(lags, dtype=int)
    dts = dates.to_numpy()
    out = []
    for j in range(n_d):
        known = np.flatnonzero(np.isfinite(last_day[:, j]))  # fields with a clear observation before t
        rows = known[clear[known, j]]
        if len(rows) <= min_peers:
            continue
        x = days[j] - lag  # history days
        h = dense[known][:, x - grid[0]]
        after = x[None, :] > last_day[known, j][:, None]  # past the last clear observation before t: hold it
        h = np.where(after, last_val[known, j][:, None], h)
        pos = np.searchsorted(known, rows)
        j2 = nxt[rows, j]
        for c in range(0, len(rows), chunk):
            sl = slice(c, c + chunk)
            d2 = ((h[pos[sl], None, :] - h[None, :, :]) ** 2).mean(axis=2)  # rows × known
            d2[np.arange(d2.shape[0]), pos[sl]] = np.inf
            gr = gcode[rows[sl]]
            d2[(gr[:, None] != gcode[known][None, :]) | (gr[:, None] < 0)] = np.inf
            med, mad, kk, rm = _peer_stats(d2, clear[known, j], vals[known, j], k)
            nmed = np.full(d2.shape[0], np.nan)
            for jn in np.unique(j2[sl]):
                if jn < 0:
                    continue
                sel = np.flatnonzero(j2[sl] == jn)
                m2, _, n2, _ = _peer_stats(d2[sel], clear[known, jn], vals[known, jn], k)
                nmed[sel] = np.where(n2 >= min_peers, m2, np.nan)
            r = rows[sl]
            has = j2[sl] >= 0
            med = np.where(kk >= min_peers, med, np.nan)
            out.append((fids[r], np.full(len(r), dts[j]), vals[r, j], med, mad, kk, rm,
                        np.where(has, dts[np.maximum(j2[sl], 0)], np.datetime64("NaT")),
                        np.where(has, vals[r, np.maximum(j2[sl], 0)], np.nan),
                        np.where(has, nmed, np.nan)))
    if not out:
        return pd.DataFrame(columns=PEER_COLUMNS)
    res = pd.DataFrame({c: np.concatenate([o[i] for o in out]) for i, c in enumerate(PEER_COLUMNS)})
    res["date"] = pd.DatetimeIndex(res["date"])
    res["next_date"] = pd.DatetimeIndex(res["next_date"])
    return res.sort_values(["field_id", "date"]).reset_index(drop=True)


def lower_peers(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """:func:`peer_anomalies` ``a`` with its peer medians replaced by the lower of ``a``'s and ``b``'s (another
    kind of peers) on the same field and date; a missing one (e.g. a crop with too few fields to have peers) is
    ignored."""
    cols = ["peer_ndvi", "next_peer_ndvi"]
    m = a.merge(b[["field_id", "date", *cols]], on=["field_id", "date"], how="left", suffixes=("", "_b"))
    for c in cols:
        m[c] = np.fmin(m[c].to_numpy(dtype=float), m[f"{c}_b"].to_numpy(dtype=float))
    return m.drop(columns=[f"{c}_b" for c in cols])


#: the features of a candidate collapse (see :func:`collapse_candidates`)
CANDIDATE_FEATURES = ["ndvi", "prev_ndvi", "own_max", "peer_ndvi", "next_ndvi", "next_peer_ndvi", "drop_now",
                      "drop_next", "peer_spread", "history_rmse", "drop_per_day", "gap_days", "peer_decline",
                      "days_since_greenup", "greenup_rel", "day_rel"]


def collapse_candidates(peers: pd.DataFrame, crops: pd.DataFrame, start: pd.Timestamp,
                        timing: pd.DataFrame | None, *, drop: float = 0.15, peer_green: float = 0.4,
                        green: float = 0.45, emerged: float = 0.3, single: float | None = None,
                        bare: float = 0.3, clock: ThermalClock | None = None, region: str | None = None,
                        own_green: float | None = None) -> pd.DataFrame:
    """Rows of :func:`peer_anomalies` where a field with a declared crop, come up earlier in its own crop's season
    (its own maximum so far at least ``own_green``; None: ``green``), is at least ``drop`` below its peers on a clear observation and again on its next one while
    the peers are still green (≥ ``peer_green``), and at least ``drop`` below its own earlier maximum on
    both (it fell; a thin, partly planted canopy that merely stays below its peers did not), and below
    ``bare`` on the confirming one (the canopy is gone, not merely senescing early under drought): candidate
    crop failures, one per field and date, with
    the features of :data:`CANDIDATE_FEATURES`. ``timing`` (:func:`pipelines.monitor.expected_timing` of
    past seasons) places the green-up and the date against the crop's usual green-up-to-collapse duration
    and collapse day (NaN without it) — in thermal time when ``timing`` is (its ``unit`` ``gdd``) and the
    ``clock`` of ``region`` is given (:mod:`pipelines._monitor_thermal`). Each row is known on its ``next_date`` (the alert date).

    ``single``: also keep a row whose one observation is already extreme — at least ``single`` below
    the (green) peers and below ``bare`` itself, right after a green (≥ ``green``) observation of its own —
    whatever its next observation shows (a cloudy spell
    may hide it for weeks); such a row is known on its own ``date`` (``single`` True). Every value
    of a row is computed from observations up to its ``known_date``."""
    out = candidate_features(peers, crops, start, timing, emerged=emerged, clock=clock, region=region)
    return select_collapses(out, drop=drop, peer_green=peer_green, green=green, single=single, bare=bare,
                            own_green=own_green)


#: the columns of a candidate collapse
CANDIDATE_COLUMNS = ["field_id", "date", "next_date", "known_date", "single", "confirmed", "crop", *CANDIDATE_FEATURES]
#: the columns of :func:`candidate_features` that an empty frame of them has
_FEATURE_COLUMNS = ["field_id", "date", "next_date", "crop", *CANDIDATE_FEATURES]


def candidate_features(peers: pd.DataFrame, crops: pd.DataFrame, start: pd.Timestamp, timing: pd.DataFrame | None,
                       *, emerged: float = 0.3, clock: ThermalClock | None = None,
                       region: str | None = None, obs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every row of :func:`peer_anomalies` of a field with a declared crop, with the features of
    :data:`CANDIDATE_FEATURES` (see :func:`collapse_candidates`, which selects the candidates among them); empty
    (without rows) when there is none.

    A field's own history — its previous clear observation, its maximum since it was first seen bare (below
    ``emerged``: its crop's season begins there) and its green-up day — comes from its rows of ``peers``, which
    lack each field's first clear observation of the season (nothing before it to match peers on) and any early one
    with too few fields clear that day; with ``obs`` (the same clear observations :func:`peer_anomalies` was given;
    ``AlertParams.peer_first_obs``, off by default) from all of them: a field seen bare only before a cloud gap and
    green after it (the monsoon's transplanted rice) has come up, and a fall after that is its own crop's (without
    it, its season begins only at the fall, and the fall is no candidate)."""
    if peers.empty:
        return pd.DataFrame(columns=_FEATURE_COLUMNS)
    p = peers.merge(crops[["field_id", "crop"]].astype({"field_id": str}), on="field_id", how="inner")
    p = p[p["crop"].notna()].sort_values(["field_id", "date"], kind="stable").reset_index(drop=True)
    if p.empty:  # no observed field with a crop (the loop below indexed an empty array: IndexError)
        return pd.DataFrame(columns=_FEATURE_COLUMNS)
    day = (p["date"] - start).dt.days.to_numpy()
    n = len(p)
    if obs is None:
        prev, prev_day, own_max, gup = _own_history(p["field_id"].to_numpy(), day, p["ndvi"].to_numpy(dtype=float),
                                                    emerged)
    else:
        o = obs[["field_id", "date", "ndvi"]].astype({"field_id": str})
        o = o[o["field_id"].isin(set(p["field_id"].astype(str)))]
        o = o.groupby(["field_id", "date"], as_index=False, sort=True)["ndvi"].mean()  # as peer_anomalies' pivot
        hist = _own_history(o["field_id"].to_numpy(), (o["date"] - start).dt.days.to_numpy(),
                            o["ndvi"].to_numpy(dtype=float), emerged)
        at = pd.MultiIndex.from_arrays([o["field_id"], o["date"]])
        rows = at.get_indexer(pd.MultiIndex.from_arrays([p["field_id"].astype(str), p["date"]]))
        if (rows < 0).any():
            raise ValueError("candidate_features: peers rows missing from obs (give the obs peer_anomalies was given)")
        prev, prev_day, own_max, gup = (h[rows] for h in hist)
    out = p.assign(prev_ndvi=prev, own_max=own_max, drop_now=p["peer_ndvi"] - p["ndvi"],
                   drop_next=p["next_peer_ndvi"] - p["next_ndvi"], gap_days=day - prev_day,
                   peer_decline=p["peer_ndvi"] - p["next_peer_ndvi"], days_since_greenup=day - gup)
    out["drop_per_day"] = (out["prev_ndvi"] - out["ndvi"]) / out["gap_days"]
    tim = timing.set_index("crop") if timing is not None and len(timing) else None
    if tim is not None:
        dur = out["crop"].map(tim["duration_p50"]).to_numpy(dtype=float)
        col = out["crop"].map(tim["collapse_p50"]).to_numpy(dtype=float)
        if clock is not None and region is not None and "unit" in tim.columns and (tim["unit"] == "gdd").all():
            now, since_up = np.full(n, np.nan), np.full(n, np.nan)
            for crop in pd.unique(out["crop"]):
                rows = (out["crop"] == crop).to_numpy()
                now[rows] = clock.since(region, crop, start, out.loc[rows, "date"])
                up = gup[rows]
                fin = np.isfinite(up)
                at_up = np.full(int(rows.sum()), np.nan)
                at_up[fin] = clock.since(region, crop, start, start + pd.to_timedelta(up[fin], unit="D"))
                since_up[rows] = now[rows] - at_up
            out["greenup_rel"] = since_up / dur
            out["day_rel"] = now - col
        else:
            out["greenup_rel"] = out["days_since_greenup"] / dur
            out["day_rel"] = (day - col)
    else:
        out["greenup_rel"] = np.nan
        out["day_rel"] = np.nan
    return out


def _own_history(fid: np.ndarray, day: np.ndarray, v: np.ndarray, emerged: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of clear observations sorted by field and date: the previous observation's NDVI and day, the field's
    maximum NDVI since its first observation below ``emerged`` (its crop's season; NaN up to and on it — from the
    first row when none is below), and its green-up day (the day after the last observation before it first
    reached ``emerged`` from there; NaN before)."""
    n = len(v)
    own_max = np.full(n, np.nan)
    prev = np.full(n, np.nan)
    prev_day = np.full(n, np.nan)
    gup = np.full(n, np.nan)
    bounds = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1], True]) if n else np.array([0])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        vals = v[a:b]
        low = np.flatnonzero(vals < emerged)
        k = int(low[0]) if len(low) else 0
        run = -np.inf
        g = np.nan
        for i in range(b - a):
            if i > 0:
                prev[a + i], prev_day[a + i] = vals[i - 1], day[a + i - 1]
            own_max[a + i] = run if i > k else np.nan
            if i >= k:
                run = max(run, vals[i])
                if np.isnan(g) and vals[i] >= emerged:
                    g = day[a + i - 1] + 1 if i > 0 else day[a]
            gup[a + i] = g
    return prev, prev_day, own_max, gup


def select_collapses(out: pd.DataFrame, *, drop: float = 0.15, peer_green: float = 0.4, green: float = 0.45,
                     single: float | None = None, bare: float = 0.3, own_green: float | None = None) -> pd.DataFrame:
    """The candidate collapses among :func:`candidate_features` rows (the rule of :func:`collapse_candidates`)."""
    if out.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    base = (out["drop_now"] >= drop) & (out["peer_ndvi"] >= peer_green) & (out["own_max"] >= (green if own_green is None else own_green))
    fell = (out["own_max"] - np.maximum(out["ndvi"], out["next_ndvi"])) >= drop  # the field itself fell
    two = base & fell & (out["drop_next"] >= drop) & (out["next_peer_ndvi"] >= peer_green) & (out["next_ndvi"] < bare)
    one = base & (out["drop_now"] >= (single if single is not None else np.inf)) & (out["ndvi"] < bare) \
        & (out["prev_ndvi"] >= green)
    out["single"] = one.to_numpy()
    out["confirmed"] = two.to_numpy()
    out["known_date"] = out["date"].where(one, out["next_date"])
    keep = two | one
    return out.loc[keep, CANDIDATE_COLUMNS].reset_index(drop=True)


def crop_cohort(obs: pd.DataFrame, crops: pd.DataFrame, *, min_fields: int) -> pd.DataFrame:
    """crop, date, cohort_ndvi: on each acquisition date, the median clear NDVI of the fields of each crop (``crops``:
    field_id, crop — the declared crop, or the model's where none was declared) observed clear that day; dates with
    fewer than ``min_fields`` such fields are left out."""
    o = obs[["field_id", "date", "ndvi"]].astype({"field_id": str}).merge(
        crops[["field_id", "crop"]].astype({"field_id": str}), on="field_id")
    o = o[o["crop"].notna()]
    if o.empty:
        return pd.DataFrame(columns=["crop", "date", "cohort_ndvi"])
    g = o.groupby(["crop", "date"])["ndvi"].agg(["median", "size"]).reset_index()
    return g.loc[g["size"] >= min_fields, ["crop", "date", "median"]].rename(columns={"median": "cohort_ndvi"})


def _cohort_pairs(features: pd.DataFrame, cohort: pd.DataFrame
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per :func:`candidate_features` row: its crop cohort's median (:func:`crop_cohort`) on its date and on its next
    one (NaN where the cohort has none), and its own NDVI on both."""
    c = cohort.set_index(["crop", "date"])["cohort_ndvi"]
    f = features
    now = c.reindex(pd.MultiIndex.from_arrays([f["crop"], f["date"]])).to_numpy(dtype=float)
    nxt = c.reindex(pd.MultiIndex.from_arrays([f["crop"], f["next_date"]])).to_numpy(dtype=float)
    return now, nxt, f["ndvi"].to_numpy(dtype=float), f["next_ndvi"].to_numpy(dtype=float)


def _cohort_rows(features: pd.DataFrame, keep: np.ndarray, now: np.ndarray, nxt: np.ndarray, flag: str
                 ) -> pd.DataFrame:
    """The kept rows as confirmed two-observation candidates flagged ``flag``, known on their next observation, with
    the cohort's medians."""
    out = features.loc[keep].assign(cohort_ndvi=now[keep], next_cohort_ndvi=nxt[keep], single=False, confirmed=True,
                                    **{flag: True})
    out["known_date"] = out["next_date"]
    return out[[*CANDIDATE_COLUMNS, flag, "cohort_ndvi", "next_cohort_ndvi"]].reset_index(drop=True)


def gap_candidates(features: pd.DataFrame, cohort: pd.DataFrame, *, min_gap: int, drop: float, drop_next: float,
                   green: float, own_green: float, bare: float, greenup_rel: float,
                   below_peers: float) -> pd.DataFrame:
    """Candidate collapses seen only after a cloud gap, judged against the field's *crop cohort* (:func:`crop_cohort`)
    instead of its peers: across a gap of ``min_gap`` days or more the history its peers were matched on is a
    straight line to the last clear observation, so the fields that looked like it include the ones that failed or
    were harvested during the gap and its peers' median sinks with it. A :func:`candidate_features` row whose
    clear observation comes at least ``min_gap`` days after the field's previous one, of a field that came up (own
    maximum ≥ ``own_green``), bare (< ``bare``) and at least ``drop`` below its crop cohort, which is still green
    (≥ ``green``), and again bare and at least ``drop_next`` below the (green) cohort on its next clear observation;
    earlier after its green-up than ``greenup_rel`` × the crop's usual green-up-to-collapse duration (later, the
    usual harvest of the crop's early fields looks the same across a gap; NaN — no past timing — passes); and still
    at least ``below_peers`` below its peers on the first one (a field as bare as every field that grew like it
    collapsed with them: on the design counties, crops other than the declared one, cut at their own harvest). Known on
    the next observation; rows flagged ``after_gap``, with the cohort's medians (``cohort_ndvi``,
    ``next_cohort_ndvi``)."""
    cols = [*CANDIDATE_COLUMNS, "after_gap", "cohort_ndvi", "next_cohort_ndvi"]
    if features.empty or cohort.empty or min_gap <= 0:
        return pd.DataFrame(columns=cols)
    f = features
    now, nxt, v, vn = _cohort_pairs(f, cohort)
    keep = ((f["gap_days"].to_numpy(dtype=float) >= min_gap) & (f["own_max"].to_numpy(dtype=float) >= own_green)
            & (v < bare) & (now >= green) & (now - v >= drop)
            & (vn < bare) & (nxt >= green) & (nxt - vn >= drop_next)
            & ~(f["greenup_rel"].to_numpy(dtype=float) >= greenup_rel)
            & (f["drop_now"].to_numpy(dtype=float) >= below_peers))
    return _cohort_rows(f, keep, now, nxt, "after_gap")


def stall_candidates(features: pd.DataFrame, cohort: pd.DataFrame, *, emerged: float, own_max: float, fall: float,
                     bare: float, green: float, drop: float, greenup_rel: float, below_peers: float) -> pd.DataFrame:
    """Candidate failures of a crop that came up only partly and fell back to bare soil while its *crop cohort*
    (:func:`crop_cohort`) stays green — a young crop lost (drought, flood or hail) before its canopy closed, which
    the peer rule misses: it never rose the ``drop`` the peer rule needs it to fall. A :func:`candidate_features` row
    (its own history from every clear observation: ``obs`` given) of a field whose maximum since it was first seen
    bare lies in [``emerged``, ``own_max``), at least ``fall`` below that maximum and below ``bare`` on this clear
    observation and the next, its crop cohort green (≥ ``green``) and at least ``drop`` above it on both; earlier
    after its green-up than ``greenup_rel`` × the crop's usual green-up-to-collapse duration (NaN — no past timing —
    is not raised: a partly planted field of an earlier crop, cut at its harvest, looks the same late); and at
    least ``below_peers`` below its look-alike peers on the first (as bare as the fields that grew like it, it was
    cut with them). Known on the next observation; rows flagged ``stalled``, with the cohort's medians
    (``cohort_ndvi``, ``next_cohort_ndvi``)."""
    cols = [*CANDIDATE_COLUMNS, "stalled", "cohort_ndvi", "next_cohort_ndvi"]
    if features.empty or cohort.empty or own_max <= 0:
        return pd.DataFrame(columns=cols)
    f = features
    now, nxt, v, vn = _cohort_pairs(f, cohort)
    top = f["own_max"].to_numpy(dtype=float)
    keep = ((top >= emerged) & (top < own_max) & (top - np.maximum(v, vn) >= fall) & (v < bare) & (vn < bare)
            & (now >= green) & (now - v >= drop) & (nxt >= green) & (nxt - vn >= drop)
            & (f["greenup_rel"].to_numpy(dtype=float) < greenup_rel)
            & (f["drop_now"].to_numpy(dtype=float) >= below_peers))
    return _cohort_rows(f, keep, now, nxt, "stalled")


def wait_late_singles(candidates: pd.DataFrame, *, greenup_rel: float, wait_days: int) -> pd.DataFrame:
    """:func:`collapse_candidates` with the *late* single candidates — one extreme observation at least
    ``greenup_rel`` × the crop's usual green-up-to-collapse duration after the field's green-up — made to wait for
    the field's next clear observation: known only on it (``known_date`` = ``next_date``; never without one),
    flagged ``late_single``, and dropped when it comes within ``wait_days`` without confirming the fall (the
    peers had time to follow and did not stay green: on one observation the front of the season's maturity wave
    looks like a failure). The one-observation shortcut of :func:`peer_failures` never raises such a row (a
    confirmed one is a failure through the two-observation rule, on its next observation); otherwise it is
    evidence for the timing rule's corroboration (:func:`pipelines.monitor.detect_alerts`). NaN ``greenup_rel``
    (no past timing): unchanged. Every value of a row, the decision to drop it included, is known by its
    ``known_date``."""
    c = candidates
    if c is None or c.empty or "single" not in c.columns:
        return c
    late = c["single"].to_numpy(dtype=bool) & (c["greenup_rel"].to_numpy(dtype=float) >= greenup_rel)
    gap = (c["next_date"] - c["date"]).dt.days.to_numpy(dtype=float)
    # the next observation came soon and did not confirm the fall: the peers followed
    drop = late & ~c["confirmed"].to_numpy(dtype=bool) & np.isfinite(gap) & (gap <= wait_days)
    out = c.assign(late_single=late)
    out["known_date"] = out["known_date"].where(~late, out["next_date"])
    return out.loc[~drop].reset_index(drop=True)


def _flag(c: pd.DataFrame, name: str) -> np.ndarray:
    """A boolean column of candidate rows (False where missing: a frame of one kind of candidates only)."""
    return c[name].eq(True).to_numpy(dtype=bool) if name in c.columns else np.zeros(len(c), dtype=bool)


def peer_failures(candidates: pd.DataFrame, as_of: pd.Timestamp, *, drop_next: float, greenup_rel: float,
                  drop_rate: float) -> dict[str, tuple[pd.Timestamp, dict[str, Any]]]:
    """field_id → the first candidate collapse (:func:`collapse_candidates`) known by ``as_of`` that is a crop
    failure: at least ``drop_next`` below the peers on the confirming observation, an own fall of at least
    ``drop_rate`` NDVI per day into the first one, and earlier after the field's own green-up than
    ``greenup_rel`` × the crop's usual green-up-to-collapse duration (past seasons; not checked without
    them); or a ``single`` candidate (one extreme observation) known by ``as_of`` meeting the last two
    conditions and not ``late_single`` (:func:`wait_late_singles`); or an ``after_gap`` candidate
    (:func:`gap_candidates`, which applies its own thresholds) whose confirming observation is known by ``as_of``;
    or a ``stalled`` one (:func:`stall_candidates`, likewise). Values: (the alert date: the confirming observation's,
    or the extreme one's; the evidence)."""
    if candidates is None or candidates.empty:
        return {}
    c = candidates
    single = c["single"].to_numpy(dtype=bool) if "single" in c.columns else np.zeros(len(c), dtype=bool)
    rel = c["greenup_rel"].to_numpy(dtype=float)
    common = ((c["drop_per_day"] >= drop_rate).to_numpy() & ~(rel >= greenup_rel))  # NaN (no past timing) passes
    confirmed = c["confirmed"].to_numpy(dtype=bool) if "confirmed" in c.columns else np.ones(len(c), dtype=bool)
    two = common & confirmed & (c["next_date"] <= as_of).to_numpy() & (c["drop_next"] >= drop_next).to_numpy()
    late = _flag(c, "late_single")
    one = common & single & ~late & (c["date"] <= as_of).to_numpy()
    gap = _flag(c, "after_gap")  # judged by gap_candidates' own thresholds; not by the peers' ones
    stall = _flag(c, "stalled")  # likewise by stall_candidates'
    two &= ~(gap | stall)
    one &= ~stall
    gapped = gap & (c["next_date"] <= as_of).to_numpy()
    stalled = stall & (c["next_date"] <= as_of).to_numpy()
    c = c.assign(alert_date=np.where(one, c["date"], c["next_date"]), one=one, gapped=gapped,
                 stalled_=stalled)[two | one | gapped | stalled]
    c = c.sort_values(["alert_date", "field_id"], kind="stable").groupby("field_id", sort=False).head(1)
    out: dict[str, tuple[pd.Timestamp, dict[str, Any]]] = {}
    for r in c.itertuples(index=False):
        n = 1 if r.one else 2  # a gap row is never a single one: two observations
        ev: dict[str, Any] = {
            "dates": [str(pd.Timestamp(r.date).date()), str(pd.Timestamp(r.next_date).date())][:n],
            "ndvi": [round(float(r.ndvi), 4), round(float(r.next_ndvi), 4)][:n],
            "days_since_greenup": None if pd.isna(r.days_since_greenup) else int(r.days_since_greenup),
            "share_of_usual_duration": None if pd.isna(r.greenup_rel) else round(float(r.greenup_rel), 3)}
        if r.gapped:
            ev |= {"cohort_ndvi": [round(float(r.cohort_ndvi), 4), round(float(r.next_cohort_ndvi), 4)],
                   "gap_days": int(r.gap_days), "rule": "crop_cohort_after_gap"}
        elif r.stalled_:
            ev |= {"cohort_ndvi": [round(float(r.cohort_ndvi), 4), round(float(r.next_cohort_ndvi), 4)],
                   "own_max": round(float(r.own_max), 4), "rule": "stalled_crop"}
        else:
            ev |= {"peer_ndvi": [round(float(r.peer_ndvi), 4), round(float(r.next_peer_ndvi), 4)][:n],
                   "rule": "peers_extreme" if r.one else "peers"}
        out[str(r.field_id)] = (pd.Timestamp(r.alert_date), ev)
    return out
