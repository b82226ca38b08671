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

__all__ = ["scene_offsets"]


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
