"""Fields written latitude first (from :mod:`features.fields`): EPSG:4326's official axis order is latitude,
longitude, and a file written so puts a field of Telangana (78.46° E, 17.44° N) at 17.44° E, 78.46° N. It passed
``fields validate`` silently (its hectares a fifth of the true ones), and ``underwrite`` said only "every field is
outside the imagery" — or, one such field among others, recorded it too small. A field of a region whose extent is
known, outside it and inside it once x and y are exchanged, is refused naming it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from pyproj import CRS

from features.errors import FieldsError

__all__ = ["REGION_EXTENTS", "refuse_swapped_axes"]

#: the shipped regions' extents in degrees (west, south, east, north): India's, Nebraska's (a margin of a few tenths)
REGION_EXTENTS: dict[str, tuple[float, float, float, float]] = {
    "in-smallholder": (68.0, 6.0, 98.0, 37.5),
    "us-nebraska": (-104.1, 39.9, -95.3, 43.1),
}


def refuse_swapped_axes(gdf: gpd.GeoDataFrame, source: str, ids: list[str]) -> None:
    """Refuse ``gdf`` (geographic CRS, a ``region`` column) when fields of a region of :data:`REGION_EXTENTS` lie
    outside its extent and inside it with x and y exchanged; ``ids``: how each row is named (its ``field_id``)."""
    if gdf.crs is None or "region" not in gdf.columns or not CRS(gdf.crs).is_geographic or not len(gdf):
        return
    b = gdf.geometry.bounds.to_numpy(dtype=float)
    x, y = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2  # NaN for an empty geometry: never inside
    swapped = np.zeros(len(gdf), dtype=bool)
    regions = gdf["region"].map(lambda v: str(v).strip() if isinstance(v, str) else None).to_numpy(dtype=object)
    hit: list[str] = []
    for region, (w, s, e, n) in REGION_EXTENTS.items():
        of = regions == region
        inside = (w <= x) & (x <= e) & (s <= y) & (y <= n)
        exchanged = (w <= y) & (y <= e) & (s <= x) & (x <= n)
        found = of & ~inside & exchanged
        if found.any():
            swapped |= found
            hit.append(f"{region}: longitude {w:g} to {e:g}, latitude {s:g} to {n:g}")
    if swapped.any():
        raise FieldsError(source=source, problem=f"{int(swapped.sum())} field(s) outside their region's extent "
                          f"({'; '.join(hit)}) that lie inside it with x and y exchanged: latitude and longitude "
                          "swapped? write x as the longitude, y as the latitude",
                          offenders=[ids[i] for i in np.flatnonzero(swapped)])
