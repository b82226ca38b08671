"""Gap filling on real Sentinel-2 cloud gaps: the eo-learn patch (../shared/data/real/eolearn_patch).

Per land-use polygon (rasterised on the patch's 10 m grid, polygons of at least 10 pixels), the
NDVI mean of the IS_VALID pixels of every acquisition forms a FieldTimeSeries. A seeded 20% of the
clear observations (at least 80% of the polygon's pixels valid) are withheld; the smoother fills
them from the rest. Scored: withheld observations inside the span of the observations the smoother used
for the polygon (gap filling, not extrapolation) and not on a date the scene screen judged hazy. With the scene
reference (features/_scene_reference.py) the smoother also gets a lattice of cells over the patch, built from
the pixels with every withheld polygon-date masked out.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.timeseries import smooth_series

MIN_PIXELS = 10


@dataclass(frozen=True)
class Patch:
    """The patch's arrays: NDVI and validity (dates × pixels), polygon labels per pixel (0: none), its grid."""

    ndvi: np.ndarray
    valid: np.ndarray
    lab: np.ndarray
    dates: pd.DatetimeIndex
    transform: Any
    shape: tuple[int, int]
    bounds: tuple[float, float, float, float]
    crs: str


class PatchFileError(ValueError):
    """A file of the eo-learn patch is missing or unreadable: its one-line message names the file."""


#: the files :func:`load_patch` reads, under ``eolearn_patch/``
PATCH_FILES = ("data/NDVI.npy", "mask/IS_VALID.npy", "timestamps.json", "bbox.geojson", "LULC_polygons.gpkg")


def _read(path: Path, read: Any) -> Any:
    """``read(path)``, or :class:`PatchFileError` naming the file (missing, truncated, not what it should be)."""
    if not path.is_file():
        raise PatchFileError(f"eo-learn patch: {path} not found")
    try:
        return read(path)
    except Exception as e:  # noqa: BLE001 - any reader's failure is the file's: say which file, in one line
        why = " ".join(str(e).split())[:200] or type(e).__name__
        raise PatchFileError(f"eo-learn patch: {path} unreadable ({type(e).__name__}: {why})") from e


def load_patch(root: Path) -> Patch:
    """The patch under ``root/eolearn_patch``; :class:`PatchFileError` naming the first file of
    :data:`PATCH_FILES` that is missing, unreadable or of the wrong shape."""
    import geopandas as gpd
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds

    d = root / "eolearn_patch"
    ndvi = _read(d / "data" / "NDVI.npy", np.load)[..., 0]
    valid = _read(d / "mask" / "IS_VALID.npy", np.load)[..., 0].astype(bool)
    if valid.shape != ndvi.shape:
        raise PatchFileError(f"eo-learn patch: {d / 'mask' / 'IS_VALID.npy'} has shape {valid.shape}, "
                             f"NDVI.npy {ndvi.shape}")
    stamps = _read(d / "timestamps.json", lambda f: json.loads(f.read_text()))
    dates = pd.DatetimeIndex(pd.to_datetime(stamps).normalize())
    n_t, h, w = ndvi.shape
    if len(dates) != n_t:
        raise PatchFileError(f"eo-learn patch: {d / 'timestamps.json'} has {len(dates)} dates, NDVI.npy {n_t}")
    box = _read(d / "bbox.geojson", lambda f: json.loads(f.read_text()))
    ring = box["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    transform = from_bounds(min(xs), min(ys), max(xs), max(ys), w, h)
    poly = _read(d / "LULC_polygons.gpkg", gpd.read_file)
    lab = rasterize([(g, i + 1) for i, g in enumerate(poly.geometry)], out_shape=(h, w), transform=transform,
                    fill=0, dtype="int32").ravel()
    return Patch(ndvi.reshape(n_t, -1), valid.reshape(n_t, -1), lab, dates, transform, (h, w),
                 (min(xs), min(ys), max(xs), max(ys)), box["crs"]["properties"]["name"])


def _zone_series(p: Patch, lab: np.ndarray, ids: list[str], valid: np.ndarray, min_pixels: int) -> pd.DataFrame:
    """Per zone (label k ≥ 1 → ids[k - 1]) and date: mean NDVI of the valid pixels (the pixel-centre rule)."""
    n = len(ids) + 1
    npx = np.bincount(lab, minlength=n)
    zones = [k for k in np.nonzero(npx >= min_pixels)[0] if k > 0]
    rows = []
    for t in range(len(p.dates)):
        ok = valid[t] & (lab > 0)
        ncl = np.bincount(lab[ok], minlength=n)
        tot = np.bincount(lab[ok], weights=p.ndvi[t][ok].astype(np.float64), minlength=n)
        for k in zones:
            mean = tot[k] / ncl[k] if ncl[k] else np.nan
            rows.append((ids[k - 1], "2016", p.dates[t], "NDVI", mean, int(npx[k]), int(ncl[k])))
    return pd.DataFrame(rows, columns=["field_id", "season", "date", "variable", "mean", "n_pixels", "n_clear"])


def polygon_series(root: Path | Patch) -> pd.DataFrame:
    """The land-use polygons' FieldTimeSeries (ids ``L<k>``; polygons of at least MIN_PIXELS pixels)."""
    p = root if isinstance(root, Patch) else load_patch(root)
    n = int(p.lab.max())
    return _zone_series(p, p.lab, [f"L{k:03d}" for k in range(1, n + 1)], p.valid, MIN_PIXELS)


def reference_series(p: Patch, withheld: pd.DataFrame | None = None, **cells_kw: Any) -> pd.DataFrame:
    """The scene reference of the patch: the production lattice of cells (features/_scene_reference.py), each
    cell's mean NDVI of its valid pixels — with the pixels of every withheld polygon-date (``withheld``: rows of
    the polygon series) masked out, so a withheld observation cannot inform the offsets through its own pixels."""
    from rasterio.features import rasterize

    from features._scene_reference import reference_cells

    valid = p.valid.copy()
    if withheld is not None and len(withheld):
        # a date the patch holds twice (two acquisitions a day) is masked on both: conservative
        for d, g in withheld.groupby(pd.to_datetime(withheld["date"])):
            px = np.isin(p.lab, g["field_id"].str[1:].astype(int).to_numpy())
            for t in np.nonzero(p.dates == d)[0]:
                valid[t, px] = False
    cells = reference_cells(p.bounds, p.crs, **cells_kw)
    clab = rasterize([(g, i + 1) for i, g in enumerate(cells.geometry)], out_shape=p.shape, transform=p.transform,
                     fill=0, dtype="int32").ravel()
    return _zone_series(p, clab, list(cells["field_id"]), valid, 1)


def residuals(series: pd.DataFrame, train: np.ndarray, score: np.ndarray, *, patch: Patch | None = None,
              ref_kw: dict[str, Any] | None = None, **smooth_kw: Any) -> tuple[np.ndarray, int]:
    """Observed − filled on the ``score`` rows of ``series`` after smoothing the ``train`` rows, and the number of
    hazy dates. Scored: inside the span of the polygon's used observations, not on a hazy date. With ``patch`` the
    smoother gets the patch's scene reference, built with every row not in ``train`` masked out."""
    tr = series[train]
    if patch is not None:
        smooth_kw["reference"] = reference_series(patch, series[~train], **(ref_kw or {}))
    sm = smooth_series(tr, grid_days=1, **smooth_kw)
    hazy = pd.to_datetime(sm.attrs["hazy_dates"])
    used = sm[sm["observed"]].groupby("field_id")["date"].agg(["min", "max"])
    h = series[score & ~series["date"].isin(hazy).to_numpy()]
    h = h[(h["date"] >= h["field_id"].map(used["min"])) & (h["date"] <= h["field_id"].map(used["max"]))]
    m = h[["field_id", "date", "mean"]].merge(sm, on=["field_id", "date"])
    return m["mean"].to_numpy() - m["value"].to_numpy(), len(hazy)


def withheld_rmse(series: pd.DataFrame, seed: int = 0, share: float = 0.2, *, patch: Patch | None = None,
                  ref_kw: dict[str, Any] | None = None, **smooth_kw: Any) -> tuple[float, int, int]:
    """RMSE on withheld clear observations, their number and the number of hazy dates.

    ``smooth_kw`` go to :func:`smooth_series` (for benchmarks and ablations; the tests use its defaults); with
    ``patch`` the smoother gets the scene reference (``ref_kw`` to its lattice), the withheld pixels masked out.
    """
    clear = series.index[(series["n_clear"] >= 0.8 * series["n_pixels"]) & series["mean"].notna()]
    rng = np.random.default_rng(seed)
    hold = series.index.isin(rng.choice(clear, int(share * len(clear)), replace=False))
    r, n_hazy = residuals(series, ~hold, hold, patch=patch, ref_kw=ref_kw, **smooth_kw)
    return float(np.sqrt(np.mean(r**2))), len(r), n_hazy


#: measured with the defaults of features.timeseries: 0.086 at seed 0 (seeds 0-4: 0.086, 0.093, 0.083, 0.085,
#: 0.093, mean 0.088)
REGRESSION_BOUND = 0.09
#: with call-wide scene offsets (``scene_offset=True``, the whole patch smoothed in one call): 0.071 at seed 0
#: (seeds 0-4: 0.071, 0.083, 0.072, 0.071, 0.076, mean 0.075)
SCENE_BOUND = 0.075
#: with the scene reference (production settings, chosen on the CV of kept observations): 0.077 at seed 0 (seeds
#: 0-4: 0.077, 0.076, 0.069, 0.071, 0.071, mean 0.073)
REFERENCE_BOUND = 0.08
ISSUE_TARGET = 0.08
SEEDS = range(5)


@pytest.fixture(scope="module")
def patch() -> Patch:
    """The patch's arrays, loaded once per module (a module-scoped twin of ``shared_real``)."""
    from tests.conftest import SHARED_REAL

    return real_patch(SHARED_REAL)


def real_patch(root: Path) -> Patch:
    """The patch under ``root``: a clean skip when ``root/eolearn_patch`` is absent (a failure under
    AGCREDIT_NO_SKIP=1); a one-line failure naming the file when the folder is there but a file it reads is missing
    or broken (a broken copy of the data is not a missing prerequisite)."""
    from tests.conftest import require

    require((root / "eolearn_patch").is_dir(), f"eolearn_patch not found under {root} (set AGCREDIT_SHARED_DATA)")
    try:
        with warnings.catch_warnings():
            # rasterio's rasterize multiplies affine transforms with ``*`` (affine 3.x deprecation, not ours)
            warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
            return load_patch(root)
    except PatchFileError as e:
        why = str(e)
    pytest.fail(why, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture(scope="module")
def patch_series(patch: Patch) -> pd.DataFrame:
    s = polygon_series(patch)
    assert s["field_id"].nunique() >= 40
    return s


def test_eolearn_withheld_rmse(patch_series: pd.DataFrame) -> None:
    """The smoother without a scene reference (series tables, the Statistical API): a regression bound."""
    rmse, n, n_hazy = withheld_rmse(patch_series)
    assert n >= 200
    assert n_hazy <= 5
    assert rmse <= REGRESSION_BOUND, f"withheld-observation RMSE {rmse:.3f} > {REGRESSION_BOUND} NDVI"


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # rasterio's rasterize (affine 3.x)
def test_eolearn_issue_target_with_the_scene_reference(patch: Patch, patch_series: pd.DataFrame) -> None:
    """Issue 7's target: RMSE ≤ 0.08 NDVI at seed 0 and as the mean over seeds 0-4 (each with ≤ 5 hazy dates).

    The production smoother with the scene reference: a lattice of cells over the patch (not the polygons
    scored), built from the pixels with every withheld polygon-date masked out, so a withheld observation
    cannot inform the offsets through its own pixels. A polygon's curve depends on its observations and the
    reference only.
    """
    r = [withheld_rmse(patch_series, seed, patch=patch) for seed in SEEDS]
    assert all(n >= 200 and n_hazy <= 5 for _, n, n_hazy in r)
    assert r[0][0] <= REFERENCE_BOUND, f"seed 0: {r[0][0]:.3f} > {REFERENCE_BOUND}"
    mean = float(np.mean([x[0] for x in r]))
    assert mean <= ISSUE_TARGET, f"mean of seeds 0-4: {mean:.3f} > {ISSUE_TARGET}"
    default = np.mean([withheld_rmse(patch_series, seed)[0] for seed in SEEDS])
    assert default - mean > 0.01          # the reference carries the gain


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # rasterio's rasterize (affine 3.x)
def test_withheld_pixels_are_masked_out_of_the_reference(patch: Patch, patch_series: pd.DataFrame) -> None:
    full = reference_series(patch)
    s = patch_series[patch_series["n_clear"] > 0]
    some = s.iloc[::7]
    masked = reference_series(patch, some)
    assert full["field_id"].str.startswith("REF-").all() and full["field_id"].nunique() >= 50
    assert (masked["n_clear"] <= full["n_clear"]).all() and (masked["n_clear"] < full["n_clear"]).any()
    # the clear pixels removed are exactly those of the withheld polygon-dates that fall in cells
    gone = int((full["n_clear"] - masked["n_clear"]).sum())
    assert 0 < gone <= int(some["n_clear"].sum())


def test_eolearn_scene_offsets(patch_series: pd.DataFrame) -> None:
    """Call-wide scene offsets (``scene_offset=True``; kept for comparison): a field's curve then depends on the
    other fields of the call, so production uses the scene reference instead."""
    r = [withheld_rmse(patch_series, seed, scene_offset=True) for seed in SEEDS]
    assert all(n >= 200 and n_hazy <= 5 for _, n, n_hazy in r)
    assert r[0][0] <= SCENE_BOUND, f"seed 0: {r[0][0]:.3f} > {SCENE_BOUND}"
    mean = float(np.mean([x[0] for x in r]))
    assert mean <= ISSUE_TARGET, f"mean of seeds 0-4: {mean:.3f} > {ISSUE_TARGET}"


def _broken_patch(root: Path, *, truncate: bool = False) -> Path:
    """A patch folder holding only data/NDVI.npy (a few bytes cut off its end with ``truncate``)."""
    d = root / "eolearn_patch" / "data"
    d.mkdir(parents=True)
    np.save(d / "NDVI.npy", np.zeros((3, 4, 4, 1), dtype="float32"))
    if truncate:
        raw = (d / "NDVI.npy").read_bytes()
        (d / "NDVI.npy").write_bytes(raw[:-20])
    return root


def test_a_broken_patch_fails_naming_its_file_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"IS_VALID\.npy not found") as missing:
        real_patch(_broken_patch(tmp_path / "a"))
    with pytest.raises(pytest.fail.Exception, match=r"NDVI\.npy unreadable") as cut:
        real_patch(_broken_patch(tmp_path / "b", truncate=True))
    assert "\n" not in str(missing.value) and "\n" not in str(cut.value)


def test_an_absent_patch_folder_still_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGCREDIT_NO_SKIP", raising=False)
    with pytest.raises(pytest.skip.Exception):
        real_patch(tmp_path)
    monkeypatch.setenv("AGCREDIT_NO_SKIP", "1")
    with pytest.raises(pytest.fail.Exception, match="AGCREDIT_NO_SKIP"):
        real_patch(tmp_path)
