"""``simulate``: build a demo county folder (records, truth, scenes) atomically and deterministically."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from democounty._presets import GENERATOR_VERSION, MOISTURE_PCT, PRESETS, SIZES
from features.errors import UserInputError

__all__ = ["SimulateError", "recover_swap", "simulate"]

_log = logging.getLogger(__name__)

#: GeoPackages otherwise carry the time of writing in gpkg_contents.last_change
_GPKG_DATE = "2000-01-01T00:00:00.000Z"


class SimulateError(UserInputError, ValueError):
    """A bad simulate request: names the parameter, what was expected and what was given."""

    def __init__(self, *, what: str, expected: str, found: object, cli: str | None = None) -> None:
        # ``cli``: ``expected`` as the command line words it (its options, not Python's arguments), when it differs
        self.what, self.expected, self.found, self.cli = what, expected, found, cli
        super().__init__(f"simulate: {what}: expected {expected}, found {found!r}")


def _check_args(region: str, size: str, seasons: int, seed: int = 0, workers: int = 1) -> None:
    if not 0 <= int(seed) < 2**32:
        raise SimulateError(what="seed", expected="a whole number from 0 to 4294967295", found=seed)
    if int(workers) < 1:
        raise SimulateError(what="workers", expected="1 or more", found=workers)
    if region not in PRESETS:
        raise SimulateError(what="region", expected=f"one of {', '.join(PRESETS)}", found=region)
    if size not in SIZES:
        raise SimulateError(what="size", expected=f"one of {', '.join(SIZES)}", found=size)
    pre = PRESETS[region]
    most = pre.current_season - pre.first_weather_season
    if not 1 <= seasons <= most:
        raise SimulateError(what="seasons", expected=f"1..{most} past seasons for {region} (bundled weather)",
                            found=seasons)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SimulateError(what="out", expected="a folder (a new one, or a county folder with overwrite=True)",
                            found=f"{out} (a file)", cli="a folder (a new one, or a county folder with --overwrite)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise SimulateError(what="out", expected="a new or empty folder (or overwrite=True)", found=str(out),
                            cli="a new or empty folder (or --overwrite)")
    old = out.with_name(out.name + ".old")
    if out.exists() and (old.exists() or old.is_symlink()):
        # the swap renames out to <out>.old: one already there (a copy the user made) is never removed
        raise SimulateError(what="out", expected=f"no {old.name} beside it (the swap's name for the previous county; "
                            "move it away)", found=str(old))
    if out.exists() and any(out.iterdir()) and not (out / "county.json").is_file():
        # --overwrite replaces a county folder; any other folder (a home folder, a project) is never deleted
        raise SimulateError(what="out", expected="a county folder to overwrite (it has county.json) or an empty one",
                            found=f"{out} (not a county folder: nothing replaced)")


def _write_gpkg(df: Any, path: Path, layer: str) -> None:
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        pyogrio.write_dataframe(df, path, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _dates(values: list[Any]) -> np.ndarray:
    return np.array([np.datetime64(v, "D") if v is not None else np.datetime64("NaT") for v in values],
                    dtype="datetime64[D]").astype("datetime64[ms]")


def _swap_marker(out: Path) -> Path:
    """The marker a swap writes (``<out>.swap``) before renaming ``out`` to ``<out>.old``, removed last."""
    return out.with_name(out.name + ".swap")


def _synthetic(folder: Path) -> bool:
    """Whether ``folder/county.json`` says it is a simulated county."""
    try:
        return json.loads((folder / "county.json").read_text(encoding="utf-8")).get("synthetic") is True
    except (OSError, ValueError, AttributeError):
        return False


def recover_swap(out: Path, say: Callable[[str], None] | None = None) -> str | None:
    """Finish or undo the swap of an ``overwrite`` run killed between its renames (marker ``<out>.swap`` written,
    ``out`` → ``<out>.old``, ``<out>.partial`` → ``out``, ``<out>.old`` removed, marker removed), before anything
    else is done with ``out``; returns (and passes to ``say``) the one line saying what it did, or None when there was
    nothing to recover.

    Only a ``<out>.old`` beside the marker is the swap's: without the marker (a copy the user made) both folders are
    left as they are (said). With it:

    - no ``out`` (or an empty one): killed between the renames — ``<out>.old`` is the only complete county (the
      new one in ``<out>.partial`` is not known to be complete): renamed back to ``out`` (undone), and
      ``<out>.partial`` removed — when its ``county.json`` says synthetic, else both left (said).
    - a simulated county ``out`` (its ``county.json``) of the marker's seed and region: killed after the second
      rename, or while removing ``<out>.old`` — ``out`` is the complete new county: ``<out>.old`` removed
      (finished).
    - anything else: both left as they are (said).
    A marker with no ``<out>.old`` folder (killed before the first rename or after the removal) is removed; with no
    marker and no ``<out>.old`` folder: nothing."""
    old = out.with_name(out.name + ".old")
    marker = _swap_marker(out)
    has_old = old.is_dir() and not old.is_symlink()
    if not marker.is_file():
        if not has_old:
            return None
        msg = (f"{old} is not left by a simulate run (no {marker.name} marker): {old} and {out} left as they are")
        if say is not None:
            say(msg)
        return msg
    if not has_old:
        marker.unlink()
        return None
    try:
        swap = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        swap = {}
    swap = swap if isinstance(swap, dict) else {}
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()) and _synthetic(old):
        out.rmdir()
    if not out.exists() and not out.is_symlink() and _synthetic(old):
        old.rename(out)
        partial = out.with_name(out.name + ".partial")
        if partial.is_dir() and not partial.is_symlink():  # not known to be complete; rebuilt by any later run
            shutil.rmtree(partial)
        marker.unlink()
        msg = (f"{old} left by a simulate run killed while replacing {out}: renamed back to {out} (the previous "
               "county; the interrupted run's is not kept)")
    elif out.is_dir() and _synthetic(out) and _same_run(out, swap):
        shutil.rmtree(old)
        marker.unlink()
        msg = (f"{old} left by a simulate run killed after replacing {out} (the new county is complete): "
               f"{old} removed")
    else:
        msg = (f"{old} left by a simulate run killed while replacing {out}, and {out} is not a county folder: both "
               "left as they are")
    if say is not None:
        say(msg)
    return msg


def _same_run(out: Path, swap: dict[str, Any]) -> bool:
    """Whether the county in ``out`` is the one the swap (its marker's seed and region) put there."""
    try:
        meta = json.loads((out / "county.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("seed") == swap.get("seed") and meta.get("region") == swap.get("region")


def simulate(region: str, seed: int, size: str, out: Path, *, seasons: int = 6, render: bool = True,
             workers: int = 2, overwrite: bool = False, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the demo county of ``region`` in ``out`` and return its county.json content.

    ``size``: ``tiny`` (12 fields, at most 1 past season; for tests), ``demo`` or ``eval``.
    ``seasons`` past seasons are simulated besides the current one. The folder is built in
    ``<out>.partial`` and renamed when complete; a non-empty ``out`` is refused unless
    ``overwrite`` — checked again, under the lock, before the swap: a folder filled while simulating is refused, never
    replaced. Same arguments → byte-identical Parquet and CSV files. A swap of an earlier run killed between
    its renames is finished or undone first (:func:`recover_swap`; ``say`` gets its one line: default a warning in
    the log).
    A second run into the same ``out`` while one runs is refused at once (an OS lock on ``<out>.lock`` beside it,
    released by the kernel when a run ends, killed or not).
    A symbolic link ``out``: the county is written into its target.
    ``out``'s parent folder must exist: simulate creates ``out``, never the folders above it.
    """
    _check_args(region, size, seasons, seed, workers)
    out = _written_into(Path(out))
    from features.atomic import check_writable

    # before the lock file is made beside ``out``: the folder the county is built in must be writable
    check_writable(out.with_name(out.name + ".partial") / "county.json", what="county folder", shown=out)
    _check_parent(out)
    from democounty._outlock import held_out_lock

    with held_out_lock(out, _busy):  # a second run into ``out`` is refused at once; the kernel frees a killed run's
        recover_swap(out, say if say is not None else _log.warning)
        _check_out(out, overwrite)
        meta = _build(region, seed, size, out, seasons, render, workers, overwrite)
    return meta


def _written_into(out: Path) -> Path:
    """The folder the county is written into: a symbolic link's target (renaming the built county onto the link had
    replaced the link, and removing the previous county through it failed), the link kept."""
    return Path(os.path.realpath(out)) if out.is_symlink() else out


def _check_parent(out: Path) -> None:
    """Refuse an ``out`` whose parent folder does not exist: simulate creates ``out``, never the folders above it (a
    mistyped path made a whole tree of folders)."""
    parent = out.expanduser().absolute().parent
    if not out.exists() and not parent.is_dir():
        raise SimulateError(what="out", expected="a folder whose parent folder exists (simulate creates the out folder, "
                            "not the folders above it: create them first)", found=f"{out} (no folder {parent})",
                            cli="a folder whose parent folder exists (simulate creates the --out folder, not the "
                            "folders above it: create them first)")


def _busy(out: Path) -> SimulateError:
    return SimulateError(what="out", expected="a folder no other simulate is writing",
                         found=f"{out} (another simulate is writing it now: wait for it to end, or choose another "
                         "folder; nothing done)")


def _build(region: str, seed: int, size: str, out: Path, seasons: int, render: bool, workers: int,
           overwrite: bool) -> dict[str, Any]:
    """Simulate the county into ``<out>.partial``, then move it to ``out`` (:func:`_swap_in`); under ``out``'s lock."""
    from democounty._growth import make_pool, run_pool
    from democounty._landscape import make_landscape
    from democounty._records import make_farmers
    from democounty._truth import make_truth

    pre = PRESETS[region]
    n_past = min(seasons, 1) if size == "tiny" else seasons
    season_list = list(range(pre.current_season - n_past, pre.current_season + 1))
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), len(region)]).spawn(6)]
    land = make_landscape(pre, pre.sizes[size], rngs[0])
    pool = make_pool(region, season_list, pre.pool_per_crop[size], rngs[1])
    results = run_pool(pool, workers)
    truth = make_truth(pre, land.field_ids, season_list, pool, results, rngs[2])
    farmers = make_farmers(pre, len(land.field_ids), rngs[3])

    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        for sub in ("records", "truth", "scenes"):
            (partial / sub).mkdir(parents=True)
        _write_all(partial, pre, land, truth, farmers, pool, rngs[4], rngs[5])
        meta = {
            "synthetic": True, "region": region, "seed": int(seed), "size": size, "crs": pre.crs,
            "bounds": list(land.bounds), "pixel_size": 10, "seasons": [str(s) for s in season_list],
            "current_season": str(pre.current_season), "currency": pre.currency, "policy_profile": pre.policy_profile,
            "crops": [c.name for c in pre.crops], "generator_version": GENERATOR_VERSION,
        }
        (partial / "county.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        from democounty._weather import write_weather

        write_weather(region, season_list, partial / "weather" / "daily.csv")
        if render:
            from democounty.scenes import render_scenes

            render_scenes(partial, int(seed), workers=workers)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _swap_in(out, partial, seed, region, overwrite)
    return meta


def _swap_in(out: Path, partial: Path, seed: int, region: str, overwrite: bool) -> None:
    """Rename the built ``partial`` to ``out``; a county already there (``overwrite``, checked at the start: a
    folder filled while simulating is refused below) is renamed to ``<out>.old`` behind the swap marker, then
    removed."""
    if out.exists() or out.is_symlink():
        old = out.with_name(out.name + ".old")
        refusal = None
        if not out.is_dir() or out.is_symlink():
            refusal = SimulateError(what="out", expected="a folder", found=f"{out} (made while simulating: nothing "
                                    "replaced, the simulated county not kept)")
        elif any(out.iterdir()) and not overwrite:
            refusal = SimulateError(what="out", expected="a new or empty folder (or overwrite=True)",
                                    found=f"{out} (filled while simulating: nothing replaced, the simulated county not "
                                    "kept)", cli="a new or empty folder (or --overwrite)")
        elif any(out.iterdir()) and not (out / "county.json").is_file():
            refusal = SimulateError(what="out", expected="a county folder to overwrite (it has county.json) or an "
                                    "empty one", found=f"{out} (filled while simulating, not a county folder: nothing "
                                    "replaced, the simulated county not kept)")
        elif old.exists() or old.is_symlink():  # made while simulating (checked before): never removed
            refusal = SimulateError(what="out", expected=f"no {old.name} beside it (the swap's name for the previous "
                                    "county; move it away)", found=str(old))
        if refusal is not None:
            shutil.rmtree(partial, ignore_errors=True)
            raise refusal
        marker = _swap_marker(out)  # recover_swap acts only on a <out>.old beside this marker
        marker.write_text(json.dumps({"pid": os.getpid(), "seed": int(seed), "region": region}) + "\n",
                          encoding="utf-8")
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)
        marker.unlink()
    else:
        partial.rename(out)


def _write_all(root: Path, pre: Any, land: Any, truth: list[Any], farmers: list[Any], pool: list[Any],
               rng: np.random.Generator, rng_rec: np.random.Generator) -> None:
    import geopandas as gpd

    from democounty._landscape import cut_planted
    from democounty._records import applications_table, declared_area, history_table
    from democounty._truth import season_window

    idx = {fid: i for i, fid in enumerate(land.field_ids)}
    area = {fid: g.area / 1e4 for fid, g in zip(land.field_ids, land.fields, strict=True)}
    soil = {fid: round(float(v), 3) for fid, v in zip(land.field_ids, rng.uniform(0.8, 1.2, len(idx)), strict=True)}
    ccx = {c.condition_id: c.ccx_scale for c in pool}
    farmer_of = {land.field_ids[i]: f for f in farmers for i in f.field_idx}
    # declared boundaries: the true one, or reaching into the neighbours for the overlap trap
    overlap = {fs.field_id for fs in truth if "overlap" in fs.events}
    declared_geom = {}
    for fid, g in zip(land.field_ids, land.fields, strict=True):
        declared_geom[fid] = (g.buffer(pre.margin_m + 0.12 * math.sqrt(g.area), join_style="mitre")
                              if fid in overlap else g)
    step = pre.area_round_ha
    decl_area = {fid: (declared_area(declared_geom[fid].area / 1e4, step, rng_rec) if fid in overlap
                       else declared_area(area[fid], step, rng_rec)) for fid in land.field_ids}

    rows, planted_rows, canopy_parts = [], [], []
    for fs in truth:
        g = land.fields[idx[fs.field_id]]
        pg = cut_planted(g, fs.planted_fraction) if fs.planted and fs.planted_fraction < 1 else g
        planted_ha = pg.area / 1e4 if fs.planted else 0.0
        frac = planted_ha / area[fs.field_id]
        if fs.planted:
            planted_rows.append((fs.field_id, str(fs.season), pg))
        mo = MOISTURE_PCT.get(fs.true_crop, float("nan"))
        rows.append({
            "field_id": fs.field_id, "season": str(fs.season), "condition_id": fs.condition_id,
            "true_crop": fs.true_crop, "planted": fs.planted, "planted_fraction": round(frac, 4),
            "planted_area_ha": round(planted_ha, 4), "true_boundary_differs": fs.field_id in overlap,
            "irrigated": fs.irrigated, "sowing_date": fs.sowing, "emergence_date": fs.emergence,
            "flowering_date": fs.flowering, "maturity_date": fs.maturity, "harvest_date": fs.harvest,
            "yield_dry_t_ha": round(fs.yield_dry, 4) if fs.planted else float("nan"),
            "yield_t_ha": round(fs.yield_market, 4) if fs.planted else float("nan"),
            "moisture_pct": mo if fs.planted else float("nan"), "variety": fs.variety,
            "events": ";".join(fs.events), "failure_date": fs.failure, "soil_brightness": soil[fs.field_id],
            "chlorophyll": round(ccx.get(fs.condition_id, 1.0) * float(np.exp(rng.normal(0, 0.03))), 3)
            if fs.planted else 1.0,
        })
        start, stop = season_window(pre.region, fs.season)
        n = (stop - start).days + 1
        z = np.zeros(n, np.float32)
        canopy_parts.append(pd.DataFrame({
            "field_id": fs.field_id, "season": str(fs.season),
            "date": np.arange(np.datetime64(start, "D"), np.datetime64(stop, "D") + 1).astype("datetime64[ms]"),
            "green_cover": np.round(fs.green if fs.green is not None else z, 4),
            "senescent_cover": np.round(fs.senescent if fs.senescent is not None else z, 4),
            "flooded": fs.flooded if fs.flooded is not None else np.zeros(n, bool),
        }))
    tf = pd.DataFrame(rows)
    for c in ("sowing_date", "emergence_date", "flowering_date", "maturity_date", "harvest_date", "failure_date"):
        tf[c] = _dates(list(tf[c]))
    tf.to_parquet(root / "truth" / "fields.parquet", index=False)
    pd.concat(canopy_parts, ignore_index=True).to_parquet(root / "truth" / "canopy.parquet", index=False)
    _write_gpkg(gpd.GeoDataFrame({"field_id": [r[0] for r in planted_rows], "season": [r[1] for r in planted_rows]},
                                 geometry=[r[2] for r in planted_rows], crs=pre.crs), root / "truth" / "planted.gpkg",
                "planted")
    _write_gpkg(gpd.GeoDataFrame({"class": [k for k, _ in land.landcover]},
                                 geometry=[g for _, g in land.landcover], crs=pre.crs),
                root / "truth" / "landcover.gpkg", "landcover")
    rec = []
    for fs in truth:
        f = farmer_of[fs.field_id]
        rec.append({"field_id": fs.field_id, "season": str(fs.season), "national_id": f.national_id,
                    "farmer_name": f.name, "phone": f.phone, "declared_crop": fs.declared_crop,
                    "declared_area_ha": decl_area[fs.field_id], "region": pre.region,
                    "geometry": declared_geom[fs.field_id]})
    _write_gpkg(gpd.GeoDataFrame(rec, geometry="geometry", crs=pre.crs), root / "records" / "fields.gpkg", "fields")
    current = [fs for fs in truth if fs.season == pre.current_season]
    history_table(truth, pre.current_season, farmer_of, rng_rec).to_csv(root / "records" / "history.csv", index=False)
    past = tf[(tf["season"] != str(pre.current_season)) & tf["planted"] & (tf["yield_t_ha"] > 0)]
    regional = past.groupby("true_crop")["yield_t_ha"].mean().to_dict() if len(past) else {}
    if not regional:  # no past season: regional expectations from the current pool's truth
        cur = tf[tf["planted"] & (tf["yield_t_ha"] > 0)]
        regional = cur.groupby("true_crop")["yield_t_ha"].mean().to_dict()
    apps, book = applications_table(pre, farmers, current, decl_area, regional, rng_rec)
    apps.to_csv(root / "records" / "applications.csv", index=False)
    book.to_csv(root / "records" / "book.csv", index=False)
