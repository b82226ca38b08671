"""``agcredit value``: value every field of a portfolio with the champion models, block by block.

For portfolios that outgrow one machine: the fused per-block run
(:func:`pipelines.distributed.run_portfolio`) — series → indicators → valuations in one task per
spatial block, on a local Dask cluster (``workers``), a running one (``scheduler``) or in this
process — with the yield model resolved once (``yield-value@champion``, its concrete version recorded
in every valuation row) and the crop-type champion for crop probabilities. Parts land under ``out``
(atomic, content-keyed: a killed run re-run recomputes only the blocks it had not committed); the
client holds summaries only. Valuations are in the currency of the fields' region in the price table. The
as-of date and ``currency`` are checked before any part is written; a run that fails with a user error
removes the parts it wrote (parts of earlier runs stay: a re-run resumes from them); a run stopped by its Dask cluster
(the scheduler or every worker lost, a task killing its workers) keeps the parts it finished, for the re-run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.errors import UserInputError

__all__ = ["PortfolioValue", "value_portfolio"]


@dataclass
class PortfolioValue:
    """A finished portfolio valuation: the fused run, the model versions and checkpoint used, warnings."""

    run: Any
    versions: dict[str, str | None]
    checkpoint: str
    currency: str
    warnings: list[str] = field(default_factory=list)
    #: the fields file's rows set aside into the rejects file (``value_portfolio(rejects=...)``;
    #: :class:`features.fields.SetAside`), in file order
    set_aside: list[Any] = field(default_factory=list)
    #: the farmers (tokens) none of whose fields was valued: a row of theirs set aside (:func:`features.fields.held_farmers`)
    held_farmers: list[str] = field(default_factory=list)
    #: the acquisitions of the window the scene folder lacks, valued without (``allow_missing_acquisitions``; each a
    #: date or a ``FIRST/LAST`` span not fetched, as the run manifest names them)
    missing_acquisitions: list[str] = field(default_factory=list)


def set_aside_manifest(rows: Sequence[Any], fields: Any, season: str, held: Sequence[str]) -> dict[str, Any]:
    """What ``value --rejects`` records in the run manifest of what it left out (nothing when it left nothing out):
    under :data:`pipelines.underwrite.SET_ASIDE_KEY`, as the decisions of an ``underwrite``/``reunderwrite --rejects``
    run, the count and rejects-file sha256 of the season's rows set aside (:func:`features.fields.of_season`), then
    ``rejected``: those rows, by ``field_id`` (``row N`` when the id is the problem, as the report names them),
    ``season`` and ``reason``; and ``held_fields``: the held farmers' other fields of the season (``fields``, as
    read), by ``field_id``, ``season`` and why — the set-aside row that holds their farmer. Pseudonymous only: no
    farmer's token, name, ID or phone."""
    from features.fields import of_season
    from pipelines.underwrite import SET_ASIDE_KEY, set_aside_provenance

    mine = [r for r in rows if of_season(r, season)]
    if not mine and not held:
        return {}
    entry = dict(set_aside_provenance(mine).get(SET_ASIDE_KEY, {"rows": 0}))
    entry["rejected"] = [{"field_id": r.field_id or r.row, "season": r.season, "reason": r.reason} for r in mine]
    why: dict[str, list[str]] = {}
    for r in mine:
        for tok in {r.farmer_token or "", *r.overlaps} - {""}:
            why.setdefault(tok, []).append(str(r.field_id or r.row))
    held_set = set(held)
    out = []
    if len(fields) and held_set:
        f = fields[fields["farmer_token"].astype(str).isin(held_set)]
        for fid, sea, tok in zip(f["field_id"].astype(str), f["season"].astype(str), f["farmer_token"].astype(str),
                                 strict=True):
            out.append({"field_id": fid, "season": sea,
                        "reason": "farmer held: the fields file's rejected row "
                                  f"{', '.join(sorted(set(why.get(tok, []))))} (see the rejects file); not valued"})
    entry["held_fields"] = sorted(out, key=lambda d: (d["field_id"], d["season"]))
    return {SET_ASIDE_KEY: entry}


def _scene_folder(imagery: str | Path) -> Path:
    p = Path(str(imagery))
    folder = p.parent if p.name == "index.csv" else p
    if not (folder / "index.csv").is_file():
        raise UserInputError(f"value: --imagery must be a local scene folder with an index.csv (the per-block run "
                             f"reads scenes directly), found {imagery}")
    return folder


def _snapshot(out: Path) -> set[Path] | None:
    """Every file and folder under ``out`` before a run (None: ``out`` does not exist yet)."""
    if not out.exists():
        return None
    return {out, *out.rglob("*")}


def _remove_new(out: Path, before: set[Path] | None) -> None:
    """Remove what a failed run created under ``out`` (its parts; ``out`` itself when the run made it). Parts of
    earlier runs stay: a re-run resumes from them."""
    if not out.exists():
        return
    new = [p for p in out.rglob("*") if before is None or p not in before]
    for p in sorted(new, key=lambda q: len(q.parts), reverse=True):
        try:
            if p.is_dir() and not p.is_symlink():
                p.rmdir()  # only when empty: a folder still holding older parts stays
            else:
                p.unlink()
        except OSError:
            continue
    if before is None:
        try:
            out.rmdir()
        except OSError:
            pass


def value_portfolio(fields: str | Path, imagery: str | Path, season: str, as_of: dt.date, *, out: str | Path,
                    workers: int | None = None, scheduler: str | None = None, cache_dir: str | Path | None = None,
                    chunk_fields: int | None = None, currency: str | None = None,
                    crop_model: str | Path | None = "champion", alias: str = "champion",
                    weather: str | Path | None = None, crop_season_scale: float | None = None,
                    haze_dates: Sequence[dt.date] | None = None,
                    allow_missing_acquisitions: bool = False,
                    rejects: str | Path | None = None) -> PortfolioValue:
    """Value ``fields`` (a field file) as of ``as_of`` with the ``alias`` models; parts under ``out``.

    ``weather``: a daily weather file (:mod:`features.weather`), required when the yield model reads weather.
    ``crop_season_scale`` pins the crop model's season scale (else estimated once over all the fields);
    ``haze_dates`` the phenology smoother's scene haze dates (:func:`pipelines.featurize.pin_haze`; else judged
    once over all the fields). A scene folder in which a partial ``imagery fetch`` recorded acquisitions of the window
    missing is refused unless ``allow_missing_acquisitions`` (the run manifest then names the dates). ``rejects``: a
    CSV file for the fields file's rows that fail a row-level check (:func:`features.fields.read_fields_rejecting`),
    which are set aside and the rest valued — but none of the fields of a farmer with a row set aside
    (:attr:`PortfolioValue.held_farmers`), as ``features build --rejects`` builds none of them; without it, one such
    row refuses the file."""
    from features.fields import held_farmers, read_fields_rejecting
    from features.series import missing_acquisitions
    from models.money import check_currency
    from models.prices import read_prices
    from pipelines.distributed import run_portfolio, runner_from_options
    from pipelines.errors import ClusterLostError
    from pipelines.featurize import (
        NoClearObservationError,
        check_as_of_in_season,
        check_as_of_in_window,
        load_weather,
        pin_haze,
        require_weather,
    )
    from pipelines.underwrite import ChampionModels, checkpoint_label

    if scheduler and workers:
        raise UserInputError("value: give --scheduler or --workers, not both")
    from features.atomic import check_writable

    # the output folder checked before any work (a file given as --out, a folder that cannot be written: refused
    # after the whole valuation until 2026-12-07, "file not found" for the latter)
    check_writable(Path(out) / "run.json", what="valuation (run.json and its parts)", shown=out)
    scenes = _scene_folder(imagery)
    read = read_fields_rejecting(fields, rejects, season=season, need=("region",))  # the season window
    fs = read.fields
    held = sorted(held_farmers(read.set_aside, season))
    left_out = set_aside_manifest(read.set_aside, fs, season, held) if rejects is not None else {}
    if held:  # a farmer with a row set aside: none of their fields (the rest is not all their land)
        fs = fs[~fs["farmer_token"].astype(str).isin(held)].reset_index(drop=True)
    if fs.empty:
        raise UserInputError(f"value: no field of season {season} left to value: every farmer's fields had rejected "
                             f"rows (see {rejects}); correct the rows and re-run" if held else
                             f"value: no field of season {season} in {fields}")
    check_as_of_in_season(fs, season, as_of)
    check_as_of_in_window(fs, season, as_of)  # after the window nothing more is observed: a mistyped date or season
    gaps = missing_acquisitions(fs, scenes, season, as_of, allow=allow_missing_acquisitions)
    # fields rejected or repaired when reading: said, as `features build` and `underwrite` say it (a rejected field
    # was dropped from the valuation without a word)
    warnings: list[str] = list(read.notes())
    prices = read_prices()
    regions = sorted({str(r) for r in fs["region"].dropna()}) if "region" in fs.columns else []
    if len(regions) > 1:
        raise UserInputError(f"value: fields of several regions ({', '.join(regions[:5])}); value one region "
                             "at a time (their season windows differ)")
    if currency is not None:
        currency = check_currency(currency, where="--currency")
        priced = {r: prices.currency_of(r) for r in regions if r in prices.regions}
        other = sorted({f"{r} in {c}" for r, c in priced.items() if c != currency})
        if other:
            raise UserInputError(f"value: --currency {currency}: the price table prices region "
                                 f"{', '.join(other)} (currencies never mix in one valuation; give that currency "
                                 "or leave --currency out)")
    if currency is None:
        found = sorted({prices.currency_of(r) for r in regions})
        if len(found) != 1:
            raise UserInputError(f"value: the fields' region ({', '.join(regions) or 'none'}) prices in "
                                 f"{', '.join(found) or 'no currency'}; give --currency")
        currency = found[0]
    hazy = pin_haze(fs.drop(columns="geometry"), haze_dates, as_of) if haze_dates is not None else None
    models = ChampionModels.resolve(alias=alias, crop_model=crop_model, warnings=warnings,
                                    crop_season_scale=crop_season_scale)
    wx = load_weather(weather)[0]
    if wx is None:  # a model that reads weather is never scored on silent NaNs
        require_weather(fs.iloc[:0], models.yield_model, f"{models.yield_name} version {models.yield_version}")
    crops = sorted({str(c) for c in fs["declared_crop"].dropna()}) if "declared_crop" in fs.columns else None
    checkpoint = checkpoint_label(season, regions[0] if regions else None, as_of, crops, governance=models.governance)
    before = _snapshot(Path(out))
    try:
        with runner_from_options(scheduler, workers) as runner:
            run = run_portfolio(fs, scenes, season, as_of, out=Path(out), model=models.yield_model, prices=prices,
                                model_name=models.yield_name, model_version=models.yield_version,
                                governance=models.governance, checkpoint=checkpoint, currency=currency,
                                runner=runner, chunk_fields=chunk_fields,
                                cache_dir=Path(cache_dir) if cache_dir else None, crop_model=models.crop_model,
                                weather=wx, hazy=hazy, missing_acquisitions=gaps, manifest_extra=left_out)
    except NoClearObservationError as e:  # raised by a block's featurize: name the imagery the user gave
        _remove_new(Path(out), before)
        raise NoClearObservationError(as_of=e.as_of, imagery=str(imagery), n_fields=e.n_fields,
                                      n_dates=e.n_dates) from None
    except ClusterLostError:  # the scheduler or the workers lost: the blocks finished stay, a re-run resumes from them
        raise
    except UserInputError:
        _remove_new(Path(out), before)
        raise
    return PortfolioValue(run=run, versions=models.versions(), checkpoint=checkpoint, currency=currency,
                          warnings=[*warnings, *run.warnings], set_aside=list(read.set_aside), held_farmers=held,
                          missing_acquisitions=list(gaps))
