"""Zonal statistics benchmark: this engine vs rasterstats vs exactextract (not a test).

Scenarios (synthetic data, seeded):
  large        5000 x 5000 tile, 20,000 fields of ~2.75 ha
  smallholder  5000 x 5000 tile, 100,000 fields of 0.1-2 ha
  s2           10980 x 10980 (a full Sentinel-2 tile), 100,000 fields of ~2.75 ha — this engine only (memory)
Each tile: 10 bands (uint16 DN) + SCL as single-band DEFLATE COGs (512-pixel tiles), clouds
as nodata (DN 0) in the bands and class 9 in SCL. Statistics per field and band: count,
mean, std, p10, p50, p90 of clear pixels. Every method runs in its own subprocess, so the
peak RSS is its own (it includes GDAL's block cache, by default 5% of RAM). The
machine is shared: timings vary with its load, printed at the start and the end.
rasterstats (boundless=False) runs on a subsample of fields and is extrapolated
(labelled). exactextract is coverage-weighted at field borders, so its figures differ
slightly from the pixel-centre tools; this engine is checked for equality with
rasterstats on the subsample.

Statistics / read, measured the same way for every tile: *statistics* is the engine's
step after gathering (the SCL cloud mask, then count/mean/std/p10/p50/p90 of every band
per field), *read* is reading the windows the engine reads (10 bands + SCL) with nothing
else, in a fresh process; each is the median over ``--runs`` fresh processes (wall
seconds; CPU seconds printed beside). The last table printed is the README's.

    nice .venv/bin/python benchmarks/bench_zonal.py            # full run (~5 min idle once the tiles exist)
    .venv/bin/python benchmarks/bench_zonal.py --quick          # small, ~1 minute
    .venv/bin/python benchmarks/bench_zonal.py --only smallholder --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
CRS = "EPSG:32614"
X0, Y0 = 600_000.0, 4_600_000.0


def _scenarios(quick: bool) -> dict[str, dict]:
    if quick:
        return {"large": {"size": 1500, "n": 1800, "ha": (2.2, 3.3)},
                "smallholder": {"size": 1500, "n": 9000, "ha": (0.1, 2.0)}}
    return {"large": {"size": 5000, "n": 20_000, "ha": (2.2, 3.3)},
            "smallholder": {"size": 5000, "n": 100_000, "ha": (0.1, 2.0)},
            "s2": {"size": 10980, "n": 100_000, "ha": (2.2, 3.3), "engine_only": True}}


# ---------------------------------------------------------------- data


def _fields(size: int, n: int, ha: tuple[float, float], seed: int):
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    extent = size * 10.0 - 400.0
    k = int(np.ceil(np.sqrt(n)))
    cell = extent / k
    cells = rng.choice(k * k, size=n, replace=False)
    cx = X0 + 200 + (cells % k + 0.5) * cell + rng.uniform(-0.1, 0.1, n) * cell
    cy = Y0 - 200 - (cells // k + 0.5) * cell + rng.uniform(-0.1, 0.1, n) * cell
    area = rng.uniform(ha[0], ha[1], n) * 10_000.0
    aspect = rng.uniform(1.0, 2.0, n)
    w = np.sqrt(area * aspect)
    h = area / w
    ang = rng.uniform(-0.3, 0.3, n)
    ca, sa = np.cos(ang), np.sin(ang)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float) / 2
    xs = cx[:, None] + corners[None, :, 0] * w[:, None] * ca[:, None] - corners[None, :, 1] * h[:, None] * sa[:, None]
    ys = cy[:, None] + corners[None, :, 0] * w[:, None] * sa[:, None] + corners[None, :, 1] * h[:, None] * ca[:, None]
    geoms = shapely.polygons(np.stack([xs, ys], axis=-1))
    return gpd.GeoDataFrame({"field_id": [f"F{i:06d}" for i in range(n)]}, geometry=geoms, crs=CRS)


def _make_data(folder: Path, size: int, n: int, ha: tuple[float, float], seed: int = 42) -> None:
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.features import rasterize
    from rasterio.windows import Window

    if (folder / "done").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    gdf = _fields(size, n, ha, seed)
    gdf.to_parquet(folder / "fields.parquet")
    tr = Affine(10.0, 0.0, X0, 0.0, -10.0, Y0)
    rng = np.random.default_rng(seed + 1)
    base = rng.integers(300, 6000, (len(BANDS), n + 1)).astype(np.int32)
    base[:, 0] = 900
    coarse = rng.random((size // 60 + 2, size // 60 + 2)) < 0.15
    prof = {"driver": "GTiff", "height": size, "width": size, "count": 1, "dtype": "uint16", "crs": CRS,
            "transform": tr, "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate", "nodata": 0}
    tmp = {b: folder / f"_{b}.tif" for b in [*BANDS, "SCL"]}
    dsts = {b: rasterio.open(p, "w", **prof) for b, p in tmp.items()}
    geoms = gdf.geometry.to_numpy()
    bounds = gdf.geometry.bounds.to_numpy()
    step = 1024
    for r0 in range(0, size, step):
        r1 = min(r0 + step, size)
        ytop, ybot = Y0 - r0 * 10, Y0 - r1 * 10
        sel = np.flatnonzero((bounds[:, 3] > ybot) & (bounds[:, 1] < ytop))
        ids = rasterize(((geoms[i], int(i) + 1) for i in sel), out_shape=(r1 - r0, size),
                        transform=tr @ Affine.translation(0, r0), fill=0, dtype="int32") if sel.size else \
            np.zeros((r1 - r0, size), np.int32)
        rows = np.arange(r0, r1) // 60
        cloud = coarse[rows][:, np.arange(size) // 60]
        scl = np.where(cloud, 9, 4).astype(np.uint16)
        win = Window(0, r0, size, r1 - r0)  # type: ignore[call-arg]
        dsts["SCL"].write(scl, 1, window=win)
        for k, b in enumerate(BANDS):
            v = base[k][ids] + rng.integers(-60, 61, ids.shape)
            v = np.clip(v, 1, 10000).astype(np.uint16)
            v[cloud] = 0
            dsts[b].write(v, 1, window=win)
    for d in dsts.values():
        d.close()
    for b, p in tmp.items():
        rasterio.shutil.copy(p, folder / f"{b}.tif", driver="COG", compress="DEFLATE", blocksize=512)
        p.unlink()
    (folder / "done").write_text("ok")


# ---------------------------------------------------------------- methods (each in a subprocess)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Clock:
    """Wall and CPU seconds (this process) since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def _run_engine(folder: Path, sample: int, windows: str = "") -> dict:
    import geopandas as gpd
    import rasterio
    from rasterio.windows import Window as RWindow

    from features.sources.local import SCL_CLEAR
    from features.zonal import gather, pixel_map, stats_from_pairs

    gdf = gpd.read_parquet(folder / "fields.parquet")
    srcs = {b: rasterio.open(folder / f"{b}.tif") for b in [*BANDS, "SCL"]}
    ref = srcs["SCL"]
    clock = _Clock()
    pm = pixel_map(gdf.geometry.to_numpy(), ref.transform, (ref.height, ref.width))
    t_map = clock.lap()

    def read(w):
        win = RWindow(w.col0, w.row0, w.col1 - w.col0, w.row1 - w.row0)
        return {b: s.read(1, window=win) for b, s in srcs.items()}

    vals = gather(pm, read)
    t_gather = clock.lap()
    # statistics: the cloud mask from SCL, then every band's statistics per field
    clear = np.isin(vals["SCL"], SCL_CLEAR)
    res = stats_from_pairs(pm, vals, clear, BANDS, nodata=0)
    t_stats = clock.lap()
    out: dict[str, Any] = {
        "time": t_map[0] + t_gather[0] + t_stats[0], "cpu": t_map[1] + t_gather[1] + t_stats[1],
        "map": t_map[0], "gather": t_gather[0], "stats": t_stats[0], "stats_cpu": t_stats[1],
        "n_fields": len(gdf), "pairs": pm.n_pairs, "peak_mb": _peak_mb(),
        "windows": [[w.row0, w.row1, w.col0, w.col1] for w in pm.windows]}
    if sample:
        idx = _sample_idx(len(gdf), sample)
        out["sample"] = {b: {k: np.asarray(res[b][k])[idx].tolist() for k in ("n_clear", "mean", "std", "p10", "p50",
                                                                             "p90")} for b in BANDS}
    return out


def _run_readwin(folder: Path, sample: int, windows: str = "") -> dict:
    """Read alone: the windows the engine reads (all 11 files), in a fresh process, nothing gathered."""
    import rasterio
    from rasterio.windows import Window as RWindow

    wins = json.loads(windows)
    clock = _Clock()
    srcs = {b: rasterio.open(folder / f"{b}.tif") for b in [*BANDS, "SCL"]}
    for row0, row1, col0, col1 in wins:
        win = RWindow(col0, row0, col1 - col0, row1 - row0)
        for s in srcs.values():
            s.read(1, window=win)
    wall, cpu = clock.lap()
    return {"time": wall, "cpu": cpu, "peak_mb": _peak_mb()}


def _sample_idx(n: int, sample: int) -> np.ndarray:
    return np.sort(np.random.default_rng(7).choice(n, size=min(sample, n), replace=False))


def _run_rasterstats(folder: Path, sample: int, windows: str = "") -> dict:
    import geopandas as gpd
    from rasterstats import zonal_stats

    warnings.simplefilter("ignore")
    gdf = gpd.read_parquet(folder / "fields.parquet")
    idx = _sample_idx(len(gdf), sample)
    geoms = list(gdf.geometry.to_numpy()[idx])
    t0 = time.perf_counter()
    res = {}
    for b in BANDS:
        r = zonal_stats(geoms, str(folder / f"{b}.tif"), nodata=0, all_touched=False, boundless=False,
                        stats=["count", "mean", "std", "percentile_10", "percentile_50", "percentile_90"])
        res[b] = r
    t = time.perf_counter() - t0
    n = len(gdf)
    out: dict[str, Any] = {"time_sample": t, "n_sample": len(idx), "time": t * n / len(idx), "n_fields": n,
                           "peak_mb": _peak_mb()}
    out["sample"] = {b: {"n_clear": [x["count"] for x in r], "mean": [x["mean"] for x in r],
                         "std": [x["std"] for x in r], "p10": [x["percentile_10"] for x in r],
                         "p50": [x["percentile_50"] for x in r], "p90": [x["percentile_90"] for x in r]}
                     for b, r in res.items()}
    return out


def _run_exactextract(folder: Path, sample: int, windows: str = "") -> dict:
    import geopandas as gpd
    from exactextract import exact_extract

    gdf = gpd.read_parquet(folder / "fields.parquet")
    t0 = time.perf_counter()
    df = exact_extract([str(folder / f"{b}.tif") for b in BANDS], gdf,
                       ["count", "mean", "stdev", "quantile(q=0.1)", "median", "quantile(q=0.9)"], output="pandas")
    t = time.perf_counter() - t0
    return {"time": t, "n_fields": len(gdf), "rows": len(df), "peak_mb": _peak_mb()}


METHODS = {"engine": _run_engine, "readwin": _run_readwin, "rasterstats": _run_rasterstats,
           "exactextract": _run_exactextract}


def _sub(method: str, folder: Path, sample: int, windows: str = "") -> dict:
    cmd = [sys.executable, __file__, "--method", method, "--data", str(folder), "--sample", str(sample),
           "--windows", windows]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _median(xs: list[float]) -> float:
    return float(np.median(xs)) if xs else float("nan")


def _agreement(eng: dict, rs: dict) -> str:
    worst = 0.0
    exact = True
    for b in BANDS:
        e, r = eng["sample"][b], rs["sample"][b]
        if e["n_clear"] != r["n_clear"]:
            return "counts differ"
        for k in ("p10", "p50", "p90"):
            if [x if x == x else None for x in e[k]] != r[k]:
                exact = False
        for k in ("mean", "std"):
            for x, y in zip(e[k], r[k], strict=True):
                if y is not None:
                    worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    return f"counts equal, percentiles {'equal' if exact else 'DIFFER'}, mean/std max rel diff {worst:.1e}"


def _row(name: str, r: dict, rs_time: float | None, note: str = "") -> str:
    if "error" in r:
        return f"| {name} | – | – | – | – | failed: {r['error'][:80]} |"
    fps = r["n_fields"] / r["time"]
    ratio = f"{rs_time / r['time']:.1f}×" if rs_time else "–"
    return f"| {name} | {r['time']:.1f} | {fps:,.0f} | {ratio} | {r['peak_mb']:,.0f} | {note} |"


def _label(name: str, s: dict) -> str:
    tile = f"{s['size']}²" + (" (a full S2 tile)" if name == "s2" else "")
    n = f"{s['n'] // 1000}k" if s["n"] % 1000 == 0 else f"{s['n']:,}"
    ha = "" if name == "s2" else f" {s['ha'][0]:g}–{s['ha'][1]:g} ha"
    return f"{tile}, {n} fields{ha}"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small tiles, fewer fields")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "agcredit-bench-zonal")
    ap.add_argument("--rs-sample", type=int, default=1000, help="fields given to rasterstats (extrapolated)")
    ap.add_argument("--runs", type=int, default=3, help="fresh processes for this engine and for the read (median)")
    ap.add_argument("--only", default="", help="comma-separated scenarios")
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--windows", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.method:
        print(json.dumps(METHODS[a.method](a.data, a.sample, a.windows)))
        return
    scen = _scenarios(a.quick)
    if a.only:
        scen = {k: v for k, v in scen.items() if k in a.only.split(",")}
    print(f"# Zonal statistics benchmark ({'quick' if a.quick else 'full'}; synthetic tiles; 10 bands + SCL, "
          "DEFLATE COGs; count, mean, std, p10/p50/p90 per field and band)\n")
    print(f"Start: {_load()}. *read* = reading the windows this engine reads (10 bands + SCL, no gathering) in a "
          f"fresh process; *statistics* = the SCL cloud mask plus every band's statistics per field from the gathered "
          f"pixels; both the median of {a.runs} fresh processes, wall (CPU) seconds, the same for every tile.\n")
    summary = []
    for name, s in scen.items():
        folder = a.workdir / f"{name}-{s['size']}-{s['n']}"
        t = time.perf_counter()
        _make_data(folder, s["size"], s["n"], s["ha"])
        print(f"## {name}: {s['size']}×{s['size']} px, {s['n']:,} fields of {s['ha'][0]}–{s['ha'][1]} ha "
              f"(data ready in {time.perf_counter() - t:.0f} s)\n")
        sample = 0 if s.get("engine_only") else a.rs_sample
        runs = [_sub("engine", folder, sample) for _ in range(a.runs)]
        ok = sorted((r for r in runs if "error" not in r), key=lambda r: r["time"])
        eng = dict(ok[len(ok) // 2]) if ok else runs[0]  # the run with the median total time
        wins = json.dumps(eng.get("windows", []))
        reads = [r for r in (_sub("readwin", folder, 0, wins) for _ in range(a.runs)) if "error" not in r]
        rows = ["| method | time (s) | fields/s | × rasterstats | peak RSS (MB) | note |", "|---|---|---|---|---|---|"]
        rs_t = ee_t = None
        if ok:
            eng["peak_mb"] = max(r["peak_mb"] for r in ok)
        if s.get("engine_only"):
            rows.append(_row(f"this engine (median of {a.runs})", eng, None, f"{eng.get('pairs', 0):,} in-field pixels"))
        else:
            rs = _sub("rasterstats", folder, sample)
            ee = _sub("exactextract", folder, 0)
            rs_t = rs.get("time")
            rows.append(_row(f"this engine (median of {a.runs})", eng, rs_t,
                             _agreement(eng, rs) if "error" not in rs and "error" not in eng else ""))
            rows.append(_row("rasterstats (boundless=False)", rs, rs_t,
                             f"extrapolated from {rs.get('n_sample', 0):,} fields ({rs.get('time_sample', 0):.1f} s)"))
            note = "coverage-weighted"
            if "error" not in ee and "error" not in eng:
                ee_t = ee["time"]
                note += f"; this engine is {ee['time'] / eng['time']:.1f}× faster"
            rows.append(_row("exactextract", ee, rs_t, note))
        print("\n".join(rows))
        if not ok or not reads:
            summary.append(f"| {_label(name, s)} | failed | – | – | – | – |")
            continue
        st, st_cpu = _median([r["stats"] for r in ok]), _median([r["stats_cpu"] for r in ok])
        rd, rd_cpu = _median([r["time"] for r in reads]), _median([r["cpu"] for r in reads])
        ratio = st / rd
        st_runs = ", ".join(f"{r['stats']:.2f}" for r in ok)
        rd_runs = ", ".join(f"{r['time']:.2f}" for r in reads)
        print(f"\nthis engine (median run): pixel map {eng['map']:.2f} s, read+gather {eng['gather']:.2f} s; "
              f"total {eng['time']:.2f} s wall, {eng['cpu']:.2f} s CPU.\n"
              f"statistics {st:.2f} s ({st_cpu:.2f} s CPU), runs: {st_runs}; "
              f"read {rd:.2f} s ({rd_cpu:.2f} s CPU), runs: {rd_runs}.\n"
              f"statistics / read = {ratio:.2f} (CPU {st_cpu / rd_cpu:.2f}; against the fastest read "
              f"{st / min(r['time'] for r in reads):.2f})\n")
        rs_x = f"{rs_t / eng['time']:.1f}×" if rs_t else "–"
        ee_x = f"{ee_t / eng['time']:.1f}×" if ee_t else "–"
        summary.append(f"| {_label(name, s)} | {eng['time']:.1f} s | {rs_x} | {ee_x} | "
                       f"{eng['peak_mb'] / 1024:.2f} GB | {ratio:.2f} |")
    print("## Summary (the README's table)\n")
    print("| tile | this engine | × rasterstats | × exactextract | peak RSS | statistics / read time |")
    print("|---|---|---|---|---|---|")
    print("\n".join(summary))
    print(f"\nEnd: {_load()}.")


if __name__ == "__main__":
    main()
