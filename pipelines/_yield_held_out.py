"""The held-out crop-type model of a yield training (pipelines/train_yield.py): the crop model refitted without each held-out season, in this process or beside it, for honest held-out yield features."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError

if TYPE_CHECKING:
    from pipelines.county import County


@dataclass(frozen=True)
class _HeldOut:
    """What the held-out season's features are built with (:func:`_held_out_model`)."""

    seasons: list[str]
    model: Any
    desc: str
    phenology: dict[str, Any] | None
    notes: list[str]


#: past field-seasons from which the held-out crop-type fit runs in a process beside the production build (below it a
#: process's start and the series' pickle cost more than the overlap saves)
BESIDE_MIN_ROWS = 1000


#: what the held-out crop-type fit gives: the model and what it is, or None and why none could be fitted
_CropFit = tuple[Any, str, str | None]


@contextlib.contextmanager
def _held_out_crop_beside(c: County, model: Any) -> Iterator[Callable[[], _CropFit] | None]:
    """The held-out crop-type fit of :func:`_held_out_model` (:func:`held_out_crop_at`) started beside the caller's
    production build: yields a function returning it (waiting), or None when the fit should run where it is needed.
    The fit's feature code and boosters would share this process's interpreter lock with the production build's
    feature code, so on a county of at least :data:`BESIDE_MIN_ROWS` past field-seasons, with more than one thread
    allowed (:func:`features.threads.thread_count`), it runs in a process of its own (:mod:`pipelines._beside`),
    handed the seasons' labels and series read here. A process that fails is followed by the fit here, where it
    raises as itself. The same fit on the same inputs either way: the same model."""
    from features.threads import thread_count, thread_map
    from pipelines._beside import run_beside
    from pipelines._heldout_crop import labels_without, saw_season

    past = sorted(str(s) for s in c.past_seasons)
    if (model is None or len(past) < 3 or not saw_season(model, past[-1]) or thread_count() < 2
            or int(c.fields()["season"].astype(str).isin(past).sum()) < BESIDE_MIN_ROWS):
        yield None
        return
    try:
        seasons, labels = labels_without(c, past[-1])
    except UserInputError as e:
        refused: _CropFit = (None, "none", str(e))
        yield lambda: refused
        return
    series = dict(zip(seasons, thread_map(c.series, seasons)))
    with run_beside(held_out_crop_at, model, seasons, labels, series,
                    fallback=lambda: held_out_crop_at(model, seasons, labels, series)) as fit:
        yield fit


def held_out_crop_at(model: Any, seasons: list[str], labels: pd.DataFrame, series: Mapping[str, pd.DataFrame]
                     ) -> _CropFit:
    """:func:`pipelines._heldout_crop.refit_without` as :func:`_held_out_crop` gives it (what the process beside
    runs: no county read)."""
    from pipelines._heldout_crop import refit_without

    return _crop_fit(lambda: refit_without(model, seasons, labels, series))


def _held_out_crop(c: County, model: Any, held: str) -> _CropFit:
    """``model``'s settings fitted without ``held`` (:func:`pipelines._heldout_crop.crop_model_without`; the
    phenology calibration is set by the caller): (model, what it is, None), or (None, "none", why) when the other
    seasons cannot train one."""
    from pipelines._heldout_crop import crop_model_without

    return _crop_fit(lambda: crop_model_without(c, model, held, phenology={}))


def _crop_fit(fit: Callable[[], tuple[Any, str]]) -> _CropFit:
    """``fit()``'s (model, what it is) as a :data:`_CropFit`, or (None, "none", why) when it raises a
    :class:`UserInputError` (the seasons cannot train one)."""
    try:
        fold, what = fit()
    except UserInputError as e:
        return None, "none", str(e)
    return fold, what, None


def _held_out_model(c: County, model: Any, desc: str, weather: str | Path | pd.DataFrame | None, *,
                    crop: Callable[[], _CropFit] | None = None) -> _HeldOut | None:
    """The crop-type model and phenology calibration :func:`_held_out_features` builds with, and its notes; None
    when it builds none. ``crop``: the held-out crop-type fit (:func:`_held_out_crop`) when started elsewhere."""
    from pipelines._heldout_crop import saw_season
    from pipelines._phenology_fit import fit_county_phenology
    from pipelines.evaluation.yield_ import fold_calibration_seasons
    from pipelines.featurize import load_weather

    past = [str(s) for s in c.past_seasons]
    if len(past) < 3 or model is None:
        return None
    held = sorted(past)[-1]
    calib = getattr(model, "phenology_calibration_", None) or {}
    calib_saw = any(held in getattr(cal, "seasons", ()) for cal in calib.values())
    crop_saw = saw_season(model, held)
    if not (calib_saw or crop_saw):
        return None
    notes = []
    phen: dict[str, Any] | None = None
    if calib_saw:
        chosen = fold_calibration_seasons(past, held)
        wx = load_weather(weather)[0] if weather is not None else c.weather()
        fold = fit_county_phenology(c, chosen, weather=wx if wx is not None else False)
        phen = {c.region: fold} if fold is not None else {}
        notes.append(f"phenology calibrated on seasons {', '.join(chosen)} (the crop-type model's calibration "
                     f"includes {held}'s records)")
    elif calib:  # the crop model's own calibration, whichever crop model the features are built with
        phen = dict(calib)
    ev_model, ev_desc = model, desc
    if crop_saw:
        ev_model, ev_desc, why = crop() if crop is not None else _held_out_crop(c, model, held)
        if ev_model is not None:
            # the calibration the features are built with (crop_model_without's ``phenology``; not in its digest)
            ev_model.phenology_calibration_ = dict(phen if phen is not None else calib)
            notes.append(f"crop type from a model of the crop-type model's settings trained without {held} "
                         f"({ev_desc.removeprefix('crop-type ')})")
        else:
            notes.append(f"no crop type (the declared crops): no crop-type model can be trained without {held} ({why})")
    return _HeldOut(seasons=past, model=ev_model, desc=ev_desc, phenology=phen, notes=notes)


def _check_checkpoint_labels(labels: pd.Series, source: str) -> None:
    """A features file's ``checkpoint`` labels are the checkpoints underwriting looks the version's scope up by
    (:data:`pipelines._champions.YIELD_CHECKPOINT_LABELS`): any other (``harvest``, ``mid-season``) was registered
    as the scope and matched no underwriting run — every field OUT_OF_MODEL_SCOPE without a word at training."""
    from pipelines._champions import YIELD_CHECKPOINT_LABELS

    # an empty cell too: its rows were left out of training silently (grouped by label)
    bad = sorted({"(empty)" if pd.isna(v) or not str(v).strip() else str(v) for v in labels}
                 - set(YIELD_CHECKPOINT_LABELS))
    if bad:
        raise UserInputError(f"{source}: checkpoint label(s) {', '.join(bad)} are not checkpoints underwriting looks "
                             f"up (accepted: {', '.join(YIELD_CHECKPOINT_LABELS)}; e.g. end for the season's end, "
                             "mid for mid-season)")
