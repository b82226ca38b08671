"""Digests of the source that defines a computation, for keys of cached or resumable results.

A cache keyed by its inputs alone hands an upgraded release the previous release's results: the training-feature
cache (``pipelines.train_yield``) and the parts of a distributed ``--out`` folder (``pipelines.distributed``, its
features, scoring and decision parts) also key on these digests, so a change to any file that defines them makes
them again. Folders count by their ``.py``, ``.csv`` and ``.json`` files (the interpreter's caches left out).

A bank's own region files (the folder ``AGCREDIT_REGIONS_DIR`` names, :mod:`features.regions`) decide as the
package's data files do: with the variable set they enter every digest, after the package's files, named
``$AGCREDIT_REGIONS_DIR/<file>``; without it the digests are those of the package alone (unchanged).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["FEATURE_SOURCES", "DECISION_SOURCES", "SCORING_SOURCES", "source_files", "source_digest"]

#: what defines FieldFeatures: the features package (its modules and data files) and the pipelines modules that
#: build them (pipelines/featurize.py and every pipelines module it imports: tests/pipelines/test_train_yield.py)
FEATURE_SOURCES = ("features", "pipelines/featurize.py", "pipelines/_featurize_checks.py",
                   "pipelines/_featurize_lineage.py", "pipelines/_featurize_models.py",
                   "pipelines/_featurize_phenology.py", "pipelines/_smooth.py")
#: what defines a decision from features, valuations and a policy
DECISION_SOURCES = ("underwriting",)
#: what defines a valuation from features and a model
SCORING_SOURCES = ("models",)
_SUFFIXES = (".py", ".csv", ".json")
#: the libraries whose versions decide what the engine computes or reads (``agcredit --version``)
VERSION_LIBRARIES = ("lightgbm", "mlflow", "sentinelhub", "geopandas", "rasterio", "rasterstats", "shapely", "pyproj",
                     "pandas", "numpy", "scikit-learn", "sqlalchemy", "dask", "aquacrop", "typer")
#: the source folders ``--version`` digests (what a decision, a valuation and the features are computed by)
VERSION_SOURCES = ("features", "models", "underwriting", "pipelines")
_ROOT = Path(__file__).resolve().parent.parent


def source_files(root: Path, sources: tuple[str, ...]) -> list[str]:
    """The files of ``sources`` (folders and files relative to ``root``) as sorted relative POSIX paths."""
    out: set[str] = set()
    for rel in sources:
        p = root / rel
        if p.is_dir():
            out.update(q.relative_to(root).as_posix() for q in p.rglob("*")
                       if q.is_file() and q.suffix in _SUFFIXES and "__pycache__" not in q.parts)
        else:
            out.add(rel)
    return sorted(out)


def _digest(root: Path, sources: tuple[str, ...], regions: Path | None = None) -> str:
    h = hashlib.sha256()
    for rel in source_files(root, sources):
        p = root / rel
        h.update(rel.encode() + b"\0")
        h.update(p.read_bytes() if p.is_file() else b"-")
        h.update(b"\1")
    if regions is not None:  # a bank's region files, the same way (none: the package's digest, unchanged)
        from features.regions import REGIONS_ENV, region_files

        for p in region_files(regions):
            h.update(f"${REGIONS_ENV}/{p.name}".encode() + b"\0")
            h.update(p.read_bytes())
            h.update(b"\1")
    return h.hexdigest()


@functools.lru_cache(maxsize=16)
def _this_release(sources: tuple[str, ...], regions: str = "") -> str:
    return _digest(_ROOT, sources, Path(regions) if regions else None)


def _register() -> None:
    from features.regions import register_cache

    register_cache(_this_release.cache_clear)


_register()


def source_digest(sources: tuple[str, ...], root: Path | None = None) -> str:
    """SHA-256 over the names and contents of the files of ``sources`` under ``root`` (default: this installation,
    read once per process and regions folder), and of a bank's region files when ``AGCREDIT_REGIONS_DIR`` names
    a folder (:mod:`features.regions`)."""
    from features.regions import regions_dir

    d = regions_dir()
    if root is None:
        return _this_release(tuple(sources), str(d.resolve()) if d is not None else "")
    return _digest(root, tuple(sources), d)


def registry_provenance() -> dict[str, str]:
    """What a registered model version records of the software that trained it (``models.registry.register``'s
    ``provenance``): the source digest and the libraries' versions ``agcredit --version`` prints."""
    from importlib import metadata

    def ver(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"source_sha256": source_digest(VERSION_SOURCES),
            "libraries": ", ".join(f"{n} {ver(n)}" for n in VERSION_LIBRARIES)}
