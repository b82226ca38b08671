"""Scene offsets: what every field of a scene shared on a date (fitted jointly with the fields' curves).

On a date when many fields of a scene were observed, their departures from their own smoothed curves
are not independent: snow lying on the ground, an atmospheric-correction or illumination offset, a
veil the cloud mask missed, or the upper envelope's own lift move them together. The robust centre
(median) of those departures is the date's raw offset (the neighbour-anomaly idea of Weiss et al.
2014, "An effective approach for gap-filling continental scale remotely sensed time-series", ISPRS J.
98:106-118). Fields of one crop green up together, so the raw offsets also hold the part of that
common seasonal shape the smoother rounded off; handing it to the offsets would blunt every curve.
The offsets therefore keep only what is *not* smooth in time: their own smooth (``smooth``, the
fields' smoother) is subtracted, and that part stays with the curves.

Only dates with at least ``min_fields`` used observations get an offset; every other date gets 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["envelope_weights", "hazy_dates", "reference_screen", "scene_offsets"]


def scene_offsets(y: np.ndarray, used: np.ndarray, z: np.ndarray, min_fields: int,
                  smooth: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Per grid date (column) the median of ``y - z`` over the fields whose observation is ``used``.

    ``y``, ``used`` and ``z`` are fields × grid. Columns with fewer than ``min_fields`` used
    observations get 0. With ``smooth`` (called as ``smooth(values, weights)`` on 1 × grid arrays,
    e.g. a Whittaker smoother) the offsets' smooth part is removed: the result is high-pass.
    Returns a float array of the grid's length.
    """
    cnt = used.sum(axis=0)
    out = np.zeros(y.shape[1])
    ok = cnt >= max(int(min_fields), 1)
    if not ok.any():
        return out
    r = np.where(used[:, ok], np.nan_to_num(y[:, ok]) - z[:, ok], np.nan)
    out[ok] = np.nanmedian(r, axis=0)
    if smooth is not None and ok.sum() >= 2:
        trend = smooth(out[None, :], ok.astype(np.float64)[None, :])[0]
        out = np.where(ok, out - trend, 0.0)
    return out


def hazy_dates(y: np.ndarray, w: np.ndarray, z: np.ndarray, min_count: int, drop: float) -> np.ndarray:
    """Per grid date (column): scene-wide haze — at least ``min_count`` used observations (``w > 0``) whose
    median departure from their curves ``z`` is below ``-drop``. A bool array of the grid's length."""
    n = y.shape[1]
    r = np.where(w > 0, np.nan_to_num(y) - z, np.nan)
    enough = (w > 0).sum(axis=0) >= max(int(min_count), 1)
    med = np.full(n, np.nan)
    if enough.any():
        med[enough] = np.nanmedian(r[:, enough], axis=0)
    return np.asarray(np.nan_to_num(med, nan=0.0) < -drop)


def envelope_weights(y: np.ndarray, z: np.ndarray, used: np.ndarray, w: np.ndarray,
                     envelope: float | None) -> np.ndarray:
    """The upper envelope's weights for the next refit: an observation ``d`` below its curve keeps
    ``w·(1 − (d/envelope)²)²`` (0 beyond ``envelope``); observations above keep ``w``. ``w`` when ``envelope`` is None."""
    if envelope is None:
        return w
    r = np.where(used, np.nan_to_num(y) - z, 0.0)
    down = np.clip(-r / envelope, 0.0, 1.0)
    return np.where(r < 0, w * (1.0 - down**2) ** 2, w)


def reference_screen(y: np.ndarray, w: np.ndarray, smooth: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                     min_cells: int, scene_drop: float | None, envelope: float | None,
                     iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Per grid date, the scene offset and the haze flag judged from a scene reference alone.

    ``y`` and ``w`` are the reference cells × grid (binned, spikes already at weight 0); ``smooth(values,
    weights)`` is the fields' smoother on cells × grid arrays. The cells are smoothed as the fields would be
    with scene offsets on: a first fit; haze (``scene_drop``): a date with at least ``min_cells`` used cells
    whose median residual is below ``-scene_drop``, its cells then weighted 0; then ``iterations`` rounds of
    offsets (:func:`scene_offsets`, high-passed) and an upper-envelope refit (``envelope``, or a plain refit)
    on ``y - offset``; the returned offsets are those of the final curves. Returns (offset, hazy), float and bool
    arrays of the grid's length; dates with fewer than ``min_cells`` used cells get offset 0 and are not hazy.
    """
    n = y.shape[1]
    w0 = np.asarray(w, dtype=np.float64)
    bad = np.zeros(n, dtype=bool)
    if y.shape[0] == 0:
        return np.zeros(n), bad
    z = smooth(y, w0)
    if scene_drop is not None:
        bad = hazy_dates(y, w0, z, min_cells, scene_drop)
        if bad.any():
            w0 = np.where(bad[None, :], 0.0, w0)
            z = smooth(y, w0)
    used = w0 > 0

    def one(a: np.ndarray, wa: np.ndarray) -> np.ndarray:
        return smooth(a, wa)

    for _ in range(max(int(iterations), 1)):
        offset = scene_offsets(y, used, z, min_cells, one)
        ya = y - offset[None, :]
        z = smooth(ya, envelope_weights(ya, z, used, w0, envelope))
    offset = scene_offsets(y, used, z, min_cells, one)
    return np.where(bad, 0.0, offset), bad
