"""Clean, gap-fill and smooth a FieldTimeSeries variable onto a regular grid (as-of honest, vectorised).

:func:`smooth_series` takes the long FieldTimeSeries table (features/contracts.py) and returns one
value per field, season and grid date:

1. **Cloud screen.** Rows dated after ``as_of`` are dropped first (so nothing later is ever read),
   then rows without a mean, without pixels, or with fewer than ``min_clear_share`` of the field's
   pixels clear. The clear share is the observation's weight.
2. **Spike screen (Hampel-style).** An observation more than ``spike`` below *both* its previous
   and its next observation of the same field (undetected thin cloud or shadow) gets weight 0.
   Only for vegetation indices (NDVI, EVI, NDRE), where contamination always lowers the value.
3. **Weighted Whittaker smoother** (Eilers 2003), second differences, on a daily or 5-day grid
   anchored at the season's first observation: minimise ``Σ w (y - z)² + λ Σ (Δ² z)²``. The
   penalty is given per day, ``lam`` (default :data:`LAMBDA_DAY`), and scaled to the grid as
   ``lam / grid_days³`` so both grids smooth the same curve alike. ``LAMBDA_DAY = 1000`` (a cut-off
   period of about 2π·λ^¼ ≈ 35 days) is kept for the crops' phenology: on the demo county 3000 already
   blunts a crop's 3–4-week green-up (the real eo-learn patch of grass and forest alone would take
   3000: see benchmarks/bench_growth_stage.py).
4. **Scene screen.** After a first fit, a date (grid bin) on which at least
   :data:`SCENE_MIN_FIELDS` fields were observed and whose median residual is below
   ``-scene_drop`` is scene-wide haze: all its observations get weight 0 (listed in the result's
   ``attrs["hazy_dates"]``), or the dates given (``hazy_dates=``: production judges them once per season on a
   sample of its fields, pipelines.featurize.haze_screen, and every Dask block uses them). Vegetation indices only.
5. **Upper envelope** (TIMESAT / Chen et al. 2004) for vegetation indices: ``iterations`` refits in
   which an observation below the curve keeps ``w · (1 - (r / envelope)²)²`` of its weight
   (``r`` its shortfall; none beyond ``envelope``), so residual cloud pulls the curve down less.
6. **Scene offsets** (opt-in, ``scene_offset=True``; features/_smooth_scene.py): on a date (grid bin)
   with at least :data:`SCENE_MIN_FIELDS` used observations, the median departure of those fields
   from their own curves, less its own smooth (the same Whittaker), is what the whole scene shared
   that date and a curve cannot follow (snow on the ground, an illumination or atmospheric-correction
   offset, a veil the cloud mask missed). Each refit of step 5 alternates: offsets from the current
   curves, then the curves refitted to ``y - offset``, so such a departure does not bend the fields'
   curves. The offsets are nuisance terms: ``value`` is the field's curve, without them. Dates
   screened as haze (step 4) have no used observations and no offset. On the real eo-learn patch
   5-fold cross-validation on the kept observations alone chose it (0.103 → 0.093 NDVI), and the
   withheld-observation RMSE fell from 0.086 to 0.071 (seed 0; mean of seeds 0–4 0.088 → 0.075).
   Not the default: with it a field's curve depends on which other fields are smoothed in the same
   call, and the features pipeline must give byte-identical results whether a county is smoothed in
   one call or in blocks (pipelines/distributed.py); use it when a whole scene is smoothed at once.
   Step 7 gives the same correction from a portfolio-independent scene reference instead.

7. **Scene reference** (``reference=``, a FieldTimeSeries of the scene-reference cells of
   features/_scene_reference.py: a lattice of 100 m cells per scene footprint fixed by the scene file alone).
   The cells are screened as fields are (cell observations with at least :data:`REF_MIN_CLEAR_SHARE` of their
   pixels clear, spikes) and smoothed jointly as step 6 does (haze screen, then offsets and upper-envelope refits
   alternating, :func:`features._smooth_scene.reference_screen`); a date with at least :data:`REF_MIN_CELLS`
   used cells gets its haze flag and its offset from them. The fields then get the reference's hazy dates at
   weight 0 and are refitted (upper envelope) to ``y - offset`` — their own step 4 and step 6 are not run. A
   field's curve therefore depends on its own observations and the reference only, never on which other fields
   are smoothed with it (one call = blocks). On the eo-learn patch (a lattice over the patch; the withheld
   polygon-dates' pixels masked out of it) the withheld-observation RMSE is 0.077 at seed 0, 0.073 the mean of
   seeds 0-4 (5-fold CV on kept observations 0.089, against 0.103 without and 0.093 with call-wide offsets).
   Series tables and the Statistical API have no pixels, hence no reference: they smooth as steps 1-5.

Outside a field's first and last used observation the curve is held flat (no extrapolated trends);
``observed`` marks grid dates (grid bins for 5 days) that hold a used observation. The linear
system of every field is pentadiagonal and is solved for all fields at once (a banded Cholesky
vectorised over fields), so hundreds of fields × 70 dates take milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features._smooth_scene import envelope_weights, hazy_dates, reference_screen, scene_offsets
from features.errors import ContractError

__all__ = ["ENVELOPE_NDVI", "LAMBDA_DAY", "MIN_CLEAR_SHARE", "REF_MIN_CELLS", "REF_MIN_CLEAR_SHARE",
           "SCENE_DROP_NDVI", "SCENE_MIN_FIELDS", "SPIKE_NDVI", "smooth_series", "whittaker"]

#: Whittaker penalty per day (scaled by grid_days**-3 on coarser grids)
LAMBDA_DAY = 1000.0
#: observations with a smaller share of clear pixels are dropped
MIN_CLEAR_SHARE = 0.3
#: a drop below both neighbours larger than this (index units) is a spike
SPIKE_NDVI = 0.12
#: a date whose observed fields lie, in median, more than this below their first-pass curves is
#: taken as scene-wide haze (undetected thin cloud) and all its observations get weight 0
SCENE_DROP_NDVI = 0.05
#: ... judged only on dates (grid bins) where at least this many fields were observed (also the least
#: number of used observations that gives a date a scene offset)
SCENE_MIN_FIELDS = 5
#: scene reference (step 7): a cell observation needs at least this share of its pixels clear (as a field's);
#: chosen with REF_MIN_CELLS by 5-fold CV on the eo-learn patch's kept observations (0.3/5: 0.089 NDVI; 0.8/5:
#: 0.097; 0.3/20: 0.093; 0.8/20: 0.104; benchmarks/bench_growth_stage.py --grid)
REF_MIN_CLEAR_SHARE = 0.3
#: ... and a date (grid bin) at least this many such cells to be judged (haze) and get an offset
REF_MIN_CELLS = 5
#: shortfall below the curve beyond which an observation gets no weight in the envelope refits
ENVELOPE_NDVI = 0.15
_ENVELOPE_VARIABLES = ("NDVI", "EVI", "NDRE")
_COLUMNS = ("field_id", "season", "date", "variable", "mean", "n_pixels", "n_clear")


def whittaker(y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Weighted Whittaker smoother (2nd differences) of every row of ``y`` (fields × grid).

    ``w`` has the shape of ``y``; NaN values must carry weight 0. Rows with fewer than two
    weighted points are returned as NaN. The pentadiagonal system ``(W + λ DᵀD) z = W y`` is solved
    by a banded Cholesky factorisation vectorised across rows.
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    m, n = y.shape
    if n < 3:
        out = np.where(w.sum(axis=1, keepdims=True) > 0,
                       np.nansum(w * np.nan_to_num(y), axis=1, keepdims=True) / np.maximum(w.sum(axis=1, keepdims=True), 1e-12),
                       np.nan)
        return np.broadcast_to(out, (m, n)).copy()
    # DᵀD of the second-difference operator: main, first and second off-diagonals
    d0 = np.full(n, 6.0)
    d0[[0, -1]] = 1.0
    d0[[1, -2]] = 5.0
    d1 = np.full(n - 1, -4.0)
    d1[[0, -1]] = -2.0
    a0 = w + lam * d0[None, :]
    a1 = np.broadcast_to(lam * d1, (m, n - 1))
    a2 = lam  # constant second off-diagonal
    b = w * np.nan_to_num(y)
    l0 = np.empty((m, n))
    l1 = np.zeros((m, n))   # l1[:, i] = L[i, i-1]
    l2 = np.zeros((m, n))   # l2[:, i] = L[i, i-2]
    tiny = 1e-12
    for i in range(n):
        s = a0[:, i].copy()
        if i >= 2:
            l2[:, i] = a2 / l0[:, i - 2]
            s -= l2[:, i] ** 2
        if i >= 1:
            t = a1[:, i - 1] - (l2[:, i] * l1[:, i - 1] if i >= 2 else 0.0)
            l1[:, i] = t / l0[:, i - 1]
            s -= l1[:, i] ** 2
        l0[:, i] = np.sqrt(np.maximum(s, tiny))
    z = np.empty((m, n))
    for i in range(n):  # forward: L u = b
        s = b[:, i].copy()
        if i >= 1:
            s -= l1[:, i] * z[:, i - 1]
        if i >= 2:
            s -= l2[:, i] * z[:, i - 2]
        z[:, i] = s / l0[:, i]
    for i in range(n - 1, -1, -1):  # backward: Lᵀ x = u
        s = z[:, i].copy()
        if i + 1 < n:
            s -= l1[:, i + 1] * z[:, i + 1]
        if i + 2 < n:
            s -= l2[:, i + 2] * z[:, i + 2]
        z[:, i] = s / l0[:, i]
    z[(w > 0).sum(axis=1) < 2] = np.nan
    return z


def _spikes(vals: np.ndarray, fidx: np.ndarray, spike: float) -> np.ndarray:
    """Observations (sorted by field, date) lower than both neighbours of their field by > ``spike``."""
    n = len(vals)
    out = np.zeros(n, dtype=bool)
    if n < 3:
        return out
    prev_ok = np.r_[False, fidx[1:] == fidx[:-1]]
    next_ok = np.r_[fidx[:-1] == fidx[1:], False]
    prev = np.r_[np.nan, vals[:-1]]
    nxt = np.r_[vals[1:], np.nan]
    with np.errstate(invalid="ignore"):
        out = prev_ok & next_ok & (prev - vals > spike) & (nxt - vals > spike)
    return out


def smooth_series(
    series: pd.DataFrame,
    *,
    variable: str = "NDVI",
    as_of: date | None = None,
    grid_days: int = 1,
    lam: float = LAMBDA_DAY,
    min_clear_share: float = MIN_CLEAR_SHARE,
    spike: float = SPIKE_NDVI,
    envelope: float | None = ENVELOPE_NDVI,
    iterations: int = 2,
    start: date | None = None,
    scene_drop: float | None = SCENE_DROP_NDVI,
    scene_offset: bool = False,
    reference: pd.DataFrame | None = None,
    ref_min_cells: int | None = None,
    ref_min_clear_share: float | None = None,
    hazy_dates: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """Smooth ``variable`` of a FieldTimeSeries onto a regular grid, using nothing after ``as_of``.

    Returns field_id (str), season (str), date (datetime64, the grid: every ``grid_days`` days from
    ``start`` or the season's first usable observation to ``as_of`` or its last observation), value
    (float; held flat outside the field's first and last used observation) and observed (bool: a used
    observation falls on the grid date or in its bin). Fields without two usable observations get no
    rows. See the module docstring for the cleaning steps; ``envelope=None`` turns off the upper
    envelope and the spike and scene screens; ``scene_drop=None`` the scene screen alone;
    ``scene_offset=True`` adds the scene offsets (step 6). The dates taken as scene-wide haze are listed in
    ``result.attrs["hazy_dates"]``. ``hazy_dates`` given: those dates (grid dates of the same ``start`` and
    ``grid_days``, e.g. an earlier call's ``attrs["hazy_dates"]``) are the scene's haze instead of judging it on the
    fields of this call — so blocks of a portfolio can share one judgement (pipelines.featurize.haze_screen).

    ``reference`` (a FieldTimeSeries of scene-reference cells, features/_scene_reference.py; step 7): the haze
    dates and the scene offsets come from the reference alone and are applied to the fields, so a field's curve
    depends only on its own observations and the reference (``scene_offset`` is then ignored). A season or
    variable the reference lacks smooths with no haze screen and no offsets. ``ref_min_cells`` (default
    :data:`REF_MIN_CELLS`) and ``ref_min_clear_share`` (default :data:`REF_MIN_CLEAR_SHARE`) screen its cells.
    """
    if grid_days not in (1, 5):
        raise ContractError(table="smooth_series", column="grid_days", expected="1 or 5", found=repr(grid_days))
    missing = [c for c in _COLUMNS if c not in series.columns]
    if missing:
        raise ContractError(table="FieldTimeSeries", column=missing[0], expected="column present", found="missing")
    obs = _observations(series, variable, as_of, min_clear_share)
    out_cols = {"field_id": "str", "season": "str", "date": "datetime64[ns]", "value": "float64", "observed": "bool"}
    if obs.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in out_cols.items()})
    envelope_on = envelope is not None and variable in _ENVELOPE_VARIABLES
    ref_obs = None
    if reference is not None:
        ref_obs = _observations(reference, variable, as_of,
                                REF_MIN_CLEAR_SHARE if ref_min_clear_share is None else ref_min_clear_share)
    flags: set[pd.Timestamp] = set()
    given = None if hazy_dates is None else pd.DatetimeIndex(pd.to_datetime(list(hazy_dates))).normalize()
    parts = []
    for season, o in obs.groupby("season", sort=True):
        ref = None
        if ref_obs is not None:
            ref = (ref_obs[ref_obs["season"] == str(season)],
                   REF_MIN_CELLS if ref_min_cells is None else int(ref_min_cells))
        parts.append(_smooth_season(o, str(season), as_of, grid_days, lam, spike if envelope_on else None,
                                    envelope if envelope_on else None, iterations, start, scene_drop, flags,
                                    scene_offset, ref, given))
    out = pd.concat(parts, ignore_index=True).astype(out_cols)
    out.attrs["hazy_dates"] = sorted(str(d.date()) for d in flags)
    return out


def _smooth_season(o: pd.DataFrame, season: str, as_of: date | None, grid_days: int, lam: float,
                   spike: float | None, envelope: float | None, iterations: int,
                   start: date | None, scene_drop: float | None, scene_flags: set[pd.Timestamp],
                   offsets_on: bool, ref: tuple[pd.DataFrame, int] | None = None,
                   given: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    o = o.sort_values(["field_id", "date"], kind="stable")
    # one observation per field and date (overlapping tiles already merged upstream; be safe)
    o = o.groupby(["field_id", "date"], as_index=False, sort=True).agg(y=("y", "mean"), w=("w", "max"))
    t0 = pd.Timestamp(start) if start is not None else o["date"].min()
    o = o[o["date"] >= t0]
    t1 = pd.Timestamp(as_of) if as_of is not None else o["date"].max()
    n = int((t1 - t0).days // grid_days) + 1
    fields, Y, W0 = _binned(o, t0, n, grid_days, spike)
    lam_g = lam / float(grid_days) ** 3
    z = whittaker(Y, W0, lam_g)
    if ref is not None:
        return _with_reference(Y, W0, z, ref, fields, season, t0, t1, n, grid_days, lam_g, spike, envelope,
                               iterations, scene_drop, scene_flags)
    if spike is not None and scene_drop is not None:
        # scene-wide haze: a date whose fields sit, in median, well below their curves (or the dates given)
        if given is not None:
            bad = np.zeros(n, dtype=bool)
            k = ((given - t0).days.to_numpy() // grid_days).astype(np.int64)
            bad[k[(k >= 0) & (k < n)]] = True
        else:
            bad = hazy_dates(Y, W0, z, SCENE_MIN_FIELDS, scene_drop)
        if bad.any():
            W0 = np.where(bad[None, :], 0.0, W0)
            z = whittaker(Y, W0, lam_g)
        scene_flags.update(pd.DatetimeIndex(t0 + pd.to_timedelta(np.nonzero(bad)[0] * grid_days, unit="D")))
    used = W0 > 0
    offset = np.zeros(n)
    if envelope is not None or offsets_on:
        # alternate: scene offsets of the dates, then the fields' curves (upper envelope) on Y - offset
        for _ in range(iterations):
            if offsets_on:
                offset = scene_offsets(Y, used, z, SCENE_MIN_FIELDS, lambda a, wa: whittaker(a, wa, lam_g))
            Ya = Y - offset[None, :]
            z = whittaker(Ya, envelope_weights(Ya, z, used, W0, envelope), lam_g)
    return _curves(z, used, fields, season, t0, n, grid_days)


def _curves(z: np.ndarray, used: np.ndarray, fields: np.ndarray, season: str, t0: pd.Timestamp, n: int,
            grid_days: int) -> pd.DataFrame:
    """The output rows: curves held flat outside each field's first and last used observation."""
    # hold the curve flat outside the first and last used observation of each field
    cols = np.arange(n)[None, :]
    first = np.where(used.any(axis=1), used.argmax(axis=1), 0)[:, None]
    last = np.where(used.any(axis=1), n - 1 - used[:, ::-1].argmax(axis=1), n - 1)[:, None]
    zf = np.take_along_axis(z, first, axis=1)
    zl = np.take_along_axis(z, last, axis=1)
    z = np.where(cols < first, zf, np.where(cols > last, zl, z))
    ok = used.sum(axis=1) >= 2
    z, used, fields = z[ok], used[ok], fields[ok]
    grid = t0 + pd.to_timedelta(np.arange(n) * grid_days, unit="D")
    k = len(fields)
    return pd.DataFrame({
        "field_id": np.repeat(fields.astype(str), n),
        "season": season,
        "date": np.tile(grid.to_numpy(dtype="datetime64[ns]"), k),
        "value": np.clip(z, -1.0, 1.0).ravel(),
        "observed": used.ravel(),
    })


def _observations(series: pd.DataFrame, variable: str, as_of: date | None, min_clear_share: float) -> pd.DataFrame:
    """Usable observations of ``variable`` (field_id, season, date, y, w = clear share), as step 1 screens them."""
    s = series[series["variable"] == variable]
    dates = pd.to_datetime(s["date"]).dt.normalize()
    keep = s["mean"].notna().to_numpy() & (s["n_pixels"].to_numpy() > 0)
    if as_of is not None:
        keep &= (dates <= pd.Timestamp(as_of)).to_numpy()
    npx = s["n_pixels"].to_numpy(dtype=np.float64)
    share = np.where(npx > 0, s["n_clear"].to_numpy(dtype=np.float64) / np.maximum(npx, 1.0), 0.0)
    keep &= share >= min_clear_share
    return pd.DataFrame({
        "field_id": s["field_id"].astype("str").to_numpy()[keep],
        "season": s["season"].astype("str").to_numpy()[keep],
        "date": dates.to_numpy()[keep],
        "y": s["mean"].to_numpy(dtype=np.float64)[keep],
        "w": share[keep],
    })


def _binned(o: pd.DataFrame, t0: pd.Timestamp, n: int, grid_days: int,
            spike: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, Y, W): one row per id of ``o`` (field_id, date, y, w; sorted by id) on the ``n``-bin grid from ``t0``,
    observations sharing a bin (5-day grid) averaged with their weights, spikes (``spike``) at weight 0."""
    ids, idx = np.unique(o["field_id"].to_numpy(dtype=object), return_inverse=True)
    g = ((o["date"] - t0).dt.days.to_numpy() // grid_days).astype(np.int64)
    y = o["y"].to_numpy(dtype=np.float64)
    w = o["w"].to_numpy(dtype=np.float64)
    if spike is not None:
        w = np.where(_spikes(y, idx, spike), 0.0, w)
    m = len(ids)
    flat = idx * n + g
    wsum = np.bincount(flat, weights=w, minlength=m * n).reshape(m, n)
    ysum = np.bincount(flat, weights=w * y, minlength=m * n).reshape(m, n)
    return ids, np.where(wsum > 0, ysum / np.maximum(wsum, 1e-12), np.nan), wsum


def _with_reference(Y: np.ndarray, W0: np.ndarray, z: np.ndarray, ref: tuple[pd.DataFrame, int], fields: np.ndarray,
                    season: str, t0: pd.Timestamp, t1: pd.Timestamp, n: int, grid_days: int, lam_g: float,
                    spike: float | None, envelope: float | None, iterations: int, scene_drop: float | None,
                    scene_flags: set[pd.Timestamp]) -> pd.DataFrame:
    """Step 7: haze dates and scene offsets from the reference cells alone, applied to the fields' curves."""
    r, min_cells = ref
    r = r[(r["date"] >= t0) & (r["date"] <= t1)]
    r = r.groupby(["field_id", "date"], as_index=False, sort=True).agg(y=("y", "mean"), w=("w", "max"))
    offset = np.zeros(n)
    bad = np.zeros(n, dtype=bool)
    if not r.empty:
        _, RY, wsum = _binned(r, t0, n, grid_days, spike)
        two = (wsum > 0).sum(axis=1) >= 2        # a cell needs a curve to depart from
        if two.any():
            offset, bad = reference_screen(RY[two], wsum[two], lambda a, wa: whittaker(a, wa, lam_g),
                                           min_cells=min_cells,
                                           scene_drop=scene_drop if spike is not None else None,
                                           envelope=envelope, iterations=iterations)
    if bad.any():
        W0 = np.where(bad[None, :], 0.0, W0)
        z = whittaker(Y, W0, lam_g)
        scene_flags.update(pd.DatetimeIndex(t0 + pd.to_timedelta(np.nonzero(bad)[0] * grid_days, unit="D")))
    used = W0 > 0
    Ya = Y - offset[None, :]
    for _ in range(iterations):
        z = whittaker(Ya, envelope_weights(Ya, z, used, W0, envelope), lam_g)
    return _curves(z, used, fields, season, t0, n, grid_days)
