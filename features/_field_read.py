"""Reading a fields file (from :mod:`features.fields`): the formats read, the layer chosen, and the errors naming a file
that cannot be read or its geometries that cannot be built."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from features.errors import FieldsError, file_rows
from features.identity import rows_holding_identifiers

__all__ = [
    "FIELD_FORMATS", "_fields_layer", "_read_any", "_first_line", "_unreadable_geometries",
]

LOG = logging.getLogger(__name__)

FIELD_FORMATS = {".parquet": "GeoParquet", ".geoparquet": "GeoParquet", ".gpkg": "GeoPackage",
                 ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "Shapefile"}


def _fields_layer(path: Path) -> str | None:
    """The layer to read: the only one, or the one named ``fields``; a file with several others is refused (the
    first layer was read silently — a stale copy beside the current fields would have been underwritten)."""
    import pyogrio

    # layers with a geometry: attribute tables (QGIS's layer_styles, metadata) are not candidates
    layers = [str(name) for name, geom in pyogrio.list_layers(path) if geom is not None]
    if len(layers) == 1:
        return layers[0]
    if not layers:
        return None
    if "fields" in layers:
        return "fields"
    raise FieldsError(source=str(path), problem=f"{len(layers)} layers ({', '.join(layers)}): keep only the fields "
                                                "layer in the file, or name it 'fields'")


def _read_any(path: Path) -> gpd.GeoDataFrame:
    ext = path.suffix.lower()
    if path.is_dir() and FIELD_FORMATS.get(ext) != "GeoParquet":  # a GeoParquet dataset may be a folder
        raise FieldsError(source=str(path), problem="is a folder (expected a fields file: "
                                                    f"{', '.join(sorted(set(FIELD_FORMATS)))})")
    if ext not in FIELD_FORMATS:
        raise FieldsError(source=str(path), problem=f"unsupported format '{ext}' (expected one of "
                                                    f"{', '.join(sorted(set(FIELD_FORMATS)))})")
    if not path.exists():
        raise FieldsError(source=str(path), problem="file not found")
    if path.stat().st_size == 0:
        raise FieldsError(source=str(path), problem="file is empty")
    if FIELD_FORMATS[ext] == "Shapefile" and not any(path.with_suffix(s).exists() for s in (".dbf", ".DBF")):
        # its columns live in the .dbf beside it: without it every column read as missing ("column 'field_id':
        # expected column present, found missing" — a review fed CAWa's polygons, shipped without one)
        raise FieldsError(source=str(path), problem=f"its attribute table {path.stem}.dbf is missing beside it (a "
                                                    "Shapefile keeps its columns — field_id, farmer_token, … — in that "
                                                    "file): copy the .dbf with the .shp, or give a GeoPackage")
    try:
        if FIELD_FORMATS[ext] == "GeoParquet":
            with _reader_warnings(path):
                return gpd.read_parquet(path)
        layer = _fields_layer(path)
        encoding = _shapefile_encoding(path) if FIELD_FORMATS[ext] == "Shapefile" else None
        with _reader_warnings(path):
            try:
                return gpd.read_file(path, engine="pyogrio", layer=layer, encoding=encoding)
            except UnicodeDecodeError:
                raise FieldsError(source=str(path), problem=f"its text is not UTF-8 and no {path.stem}.cpg beside it "
                                  "names its encoding: put beside it a .cpg file holding the encoding's name (e.g. "
                                  "1252 for Windows' Western European, ISO-8859-1), or give a GeoPackage") from None
            except Exception as e:
                bad = _unreadable_geometries(path, layer, encoding)
                if bad:  # the file reads, but some rows' geometries cannot be built (a ring not closed, …): named
                    raise FieldsError(source=str(path), problem="geometries that cannot be read (a polygon ring not "
                                      f"closed? {_first_line(e)[:120]}); correct them", offenders=bad) from None
                raise
    except FieldsError:
        raise
    except Exception as e:  # unreadable files come in many shapes; name the file and the reason
        raise FieldsError(source=str(path), problem=f"cannot be read as {FIELD_FORMATS[ext]} "
                                                    f"({_first_line(e)[:200]})") from None


#: what a reader's warning says that the run needs not hear: GeoJSON ids of numbers and text mixed are read as text,
#: as every id is (pyogrio: "Could not parse column 'field_id' as JSON; leaving as string")
_UNNEEDED = re.compile(r"^Could not parse column .* as JSON; leaving as string$")


@contextmanager
def _reader_warnings(path: Path) -> Iterator[None]:
    """The libraries' warnings while ``path`` is read: GDAL's notes (``RuntimeWarning``, e.g. "Non closed ring
    detected") and what :data:`_UNNEEDED` matches are dropped, another ``UserWarning`` is one line of the log naming
    the file (they printed the library's file, line and source line: a GeoJSON of mixed ids, a review found)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            for w in said:
                text = _first_line(w.message) if isinstance(w.message, Exception) else str(w.message)
                if not _UNNEEDED.match(text):
                    LOG.warning("%s: %s", path.name, text[:200])


def _shapefile_encoding(path: Path) -> str | None:
    """The encoding to read a Shapefile's text in: UTF-8 when neither a ``.cpg`` beside it nor its ``.dbf``'s language
    driver byte names one (GDAL then reads ISO-8859-1: a UTF-8 ``é`` became ``Ã©`` in the records, Devanagari ids were
    refused as invisible characters); None (GDAL's own choice) otherwise. Text that is not UTF-8 then fails to
    decode: refused by :func:`_read_any`, naming the missing ``.cpg``."""
    if any(path.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return None
    dbf = next((d for d in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if d.exists()), None)
    if dbf is None:
        return None
    try:
        with dbf.open("rb") as f:
            head = f.read(32)
    except OSError:
        return None
    return None if len(head) < 32 or head[29] != 0 else "utf-8"  # byte 29: the dBASE language driver id


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _unreadable_geometries(path: Path, layer: str | None, encoding: str | None = None) -> list[str]:
    """The rows of a file whose geometries the reader cannot build (read again with those left empty), named by
    ``field_id`` when the file has that column (``row N`` otherwise); [] when none is, or the file does not read."""
    try:
        again = gpd.read_file(path, engine="pyogrio", layer=layer, on_invalid="ignore", encoding=encoding)
        plain = gpd.read_file(path, engine="pyogrio", layer=layer, read_geometry=False, encoding=encoding)
    except Exception:
        return []
    from features.identity import looks_personal

    gone = np.flatnonzero(again.geometry.isna().to_numpy())
    rows = file_rows(str(path), gone.tolist())
    if "field_id" not in plain.columns:
        return rows
    # an id shaped like a name or phone, or one of the file's own identifiers, is not shown (its row only)
    own = set(rows_holding_identifiers(plain, "field_id"))
    ids = plain["field_id"].to_numpy(dtype=object)
    return [f"{ids[i]} ({r})" if not pd.isna(ids[i]) and i not in own and not looks_personal(str(ids[i])) else r
            for i, r in zip(gone, rows, strict=True)]
