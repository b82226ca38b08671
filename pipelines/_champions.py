"""The models of a run and what a date means to them: champions resolved once (:class:`ChampionModels`), the yield
model's checkpoint of a date (:func:`checkpoint_label`) and the features aligned to it (:func:`align_features`).

Re-exported by :mod:`pipelines.underwrite`, whose runs use them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["ChampionModels", "crop_registry_version", "champion_of", "champion_then", "checkpoint_label", "align_features", "models_text", "YIELD_MODEL_NAME",
           "YIELD_CHECKPOINT_LABELS"]

YIELD_MODEL_NAME = "yield-value"
#: the yield-model checkpoints :func:`checkpoint_label` gives by the as-of date — what underwriting looks up in a
#: version's scope (``Governance.checkpoints``) when the version names no validated days (one trained from tables)
YIELD_CHECKPOINT_LABELS = ("pre_season", "emergence", "mid", "end")


# --- models --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChampionModels:
    """Models resolved once per run (concrete versions recorded): yield with its governance; crop type or None."""

    yield_model: Any
    yield_version: str
    yield_run_id: str
    governance: Any
    crop_model: Any = None
    crop_version: str | None = None
    yield_name: str = YIELD_MODEL_NAME
    #: the run's weather (features.weather table) when the yield model reads weather; the model is then bound to it
    weather: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    #: resolved as of a past date (``resolve(on=...)``): which versions, and why (``models: the champions of ...``)
    said: str | None = field(default=None, compare=False)

    @classmethod
    def resolve(cls, *, alias: str = "champion", crop_model: str | Path | None = "champion",
                warnings: list[str] | None = None,
                weather: pd.DataFrame | str | Path | None = None,
                crop_season_scale: float | None = None, on: dt.date | None = None) -> ChampionModels:
        """``yield-value@alias`` (required) and the crop model (``champion``/alias, a folder, or ``none``;
        a missing crop-type champion leaves crop type empty with a warning; ``crop_season_scale`` pins its
        season scale, and then a missing crop model is an error). With ``weather`` (a file or
        table) a yield model that reads weather is bound to it
        (:class:`pipelines.featurize.WeatherBoundModel`): every caller scoring with these models, with or
        without weather columns in its features, scores the same.

        ``on`` (a date before today): each model taken by the ``champion`` alias is the champion in force on that
        date (:func:`champion_of`: by its promotion's effective date, else its wall-clock date, else today's —
        said in ``warnings``); :attr:`said` tells which versions and why. Today, a later date or None: today's."""
        from models.errors import RegistryError
        from models.registry import CHAMPION, governance, resolve
        from pipelines.featurize import CROP_MODEL_NAME, load_crop_model

        dated = on is not None and on < dt.date.today()
        said: list[tuple[str, str, str, bool]] = []  # (model, version, why, today's too)
        if dated and alias == CHAMPION:
            assert on is not None
            y, why, same = champion_of(YIELD_MODEL_NAME, on, warnings=warnings)
            said.append((YIELD_MODEL_NAME, y.version, why, same))
        else:
            y = resolve(YIELD_MODEL_NAME, alias)
        crop, crop_version = None, None
        try:
            if dated and str(crop_model) == CHAMPION:
                assert on is not None
                from models.registry import SaveLoadFlavour

                got, why, same = champion_of(CROP_MODEL_NAME, on, warnings=warnings,
                                             flavour=SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
                said.append((CROP_MODEL_NAME, got.version, why, same))
                # today's champion is named as before (the records of a run whose champion did not move since are
                # byte for byte those of a run today); another version by the date it was the champion on
                crop = got.model if crop_season_scale is None else got.model.pinned_season_scale(crop_season_scale)
                crop_version = (f"{CROP_MODEL_NAME} version {got.version} ({CHAMPION if same else f'champion on {on}'})"
                                f", run {got.run_id}" + ("" if crop_season_scale is None else
                                                         f", season scale pinned at {float(crop_season_scale)!r}"))
            else:
                crop, desc = load_crop_model(crop_model, season_scale=crop_season_scale)
                crop_version = None if crop is None else desc
        except RegistryError as e:
            if warnings is None or str(crop_model) != "champion" or crop_season_scale is not None:
                raise
            warnings.append(f"no crop-type champion ({e.problem}); crop type left empty")
        from pipelines.featurize import WeatherBoundModel, load_weather

        wx = load_weather(weather)[0]
        model = y.model
        if wx is not None and getattr(model, "weather_columns", None):
            model = WeatherBoundModel(model, wx)
        return cls(yield_model=model, yield_version=y.version, yield_run_id=y.run_id,
                   governance=governance(YIELD_MODEL_NAME, y.version), crop_model=crop, crop_version=crop_version,
                   weather=wx, said=_dated_text(said) if said else None)

    @classmethod
    def for_run(cls, models: ChampionModels | None, *, weather: pd.DataFrame | str | Path | None = None,
                warnings: list[str] | None = None, crop_model: str | Path | None = "champion",
                crop_season_scale: float | None = None, on: dt.date | None = None
                ) -> tuple[ChampionModels, pd.DataFrame | None]:
        """The models of a run (resolved once unless given; ``on``: the champions in force on that date, as
        :meth:`resolve`) and its weather table: ``weather`` read once when given, else the one the models carry."""
        from pipelines.featurize import load_weather

        wx = load_weather(weather)[0]
        models = models or cls.resolve(crop_model=crop_model, warnings=warnings, weather=wx,
                                       crop_season_scale=crop_season_scale, on=on)
        return models, wx if wx is not None else models.weather

    @classmethod
    def champions(cls, warnings: list[str] | None = None) -> ChampionModels:
        """Both champions; a missing crop-type champion leaves crop type empty (noted in ``warnings`` if given)."""
        return cls.resolve(warnings=warnings if warnings is not None else [])

    def versions(self) -> dict[str, str | None]:
        return {self.yield_name: self.yield_version, "crop-type": self.crop_version}

    def with_season_scale(self, scale: float | None) -> ChampionModels:
        """These models with the crop model's season scale pinned at ``scale`` (None: unchanged); the recorded
        crop model version says so. No crop model: a one-line user error."""
        if scale is None:
            return self
        if self.crop_model is None:
            raise UserInputError("--crop-season-scale needs a crop-type model (none was resolved)")
        return replace(self, crop_model=self.crop_model.pinned_season_scale(scale),
                       crop_version=f"{self.crop_version}, season scale pinned at {float(scale)!r}")


def champion_then(name: str, day: dt.date) -> tuple[str | None, bool]:
    """The version of ``name`` its alias history makes the champion in force on ``day`` (None: none, or no history
    to read) and whether by the effective date its promotion records (else by the promotion's wall-clock date):
    :func:`models.registry.champion_move_on`."""
    from models.errors import RegistryError
    from models.registry import alias_history, champion_move_on

    try:
        move = champion_move_on(alias_history(name), day)
    except (RegistryError, OSError, ValueError):
        return None, False
    if move is None or move.get("version") is None:
        return None, False
    return str(move["version"]), bool(move.get("effective"))


def champion_of(name: str, day: dt.date, *, warnings: list[str] | None = None,
                flavour: Any = None) -> tuple[Any, str, bool]:
    """The champion of ``name`` in force on ``day`` (a ``models.registry.Resolved``), why it is that one (e.g. ``the
    champion of 2009-10-25 by effective date (today's too)``), and whether it is today's champion: the promotion in
    force on ``day`` by its effective date, or by its wall-clock date when it records none
    (:func:`models.registry.champion_move_on`, as a report of that date takes it) — else (no champion in force by
    then, or that version cannot be loaded) today's champion, said in ``warnings``. RegistryError: no such model, or
    none to fall back on."""
    from models.errors import RegistryError
    from models.registry import CHAMPION, alias_version, resolve

    now = alias_version(name, CHAMPION)
    then, effective = champion_then(name, day)
    why = f"the alias history records no champion of {name} on or before {day}"
    if then is not None:
        basis = f"the champion of {day} " + ("by effective date" if effective else "by the alias history")
        if then == now:
            return resolve(name, CHAMPION, flavour=flavour), f"{basis} (today's too)", True
        try:
            return resolve(name, then, flavour=flavour), f"{basis} (today's: {now or 'none'})", False
        except RegistryError:
            why = f"version {then}, the champion of {day}, cannot be loaded"
    today = resolve(name, CHAMPION, flavour=flavour)
    if warnings is not None:
        warnings.append(f"{name} version {today.version}, today's champion, used as of {day}: {why}")
    return today, f"today's champion ({why})", True


def _dated_text(said: list[tuple[str, str, str, bool]]) -> str:
    """``models: the champions of 2009-10-25 by effective date (today's too)`` — or each model's version and why."""
    whys = {why for _m, _v, why, _s in said}
    if len(whys) == 1 and said[0][2].endswith("(today's too)"):
        return "models: " + said[0][2].replace("the champion of", "the champions of" if len(said) > 1 else
                                               "the champion of")
    return "models: " + "; ".join(f"{m} version {v}, {why}" for m, v, why, _s in said)


def checkpoint_label(season: str, region: str | None, as_of: dt.date, crops: list[str] | None = None,
                     governance: Any = None) -> str:
    """The yield model checkpoint ``as_of`` falls in: ``pre_season``, ``emergence``, ``mid`` or ``end`` — of the
    median of ``crops``' calendar checkpoints. For a yield-model version that names the days its checkpoints were
    validated from (``governance.checkpoint_dates``; scope is then each field's own, by its crop), the labels of
    ``crops`` each by its own day, joined (e.g. ``emergence,mid``): the text the records carry."""
    from pipelines.county import season_checkpoints

    if not region:
        return "end"
    if governance is not None and getattr(governance, "checkpoint_dates", None) and crops:
        reached = governance.row_checkpoints(crops, [region] * len(crops), [season] * len(crops),
                                             [pd.Timestamp(as_of)] * len(crops))
        labels = set()
        for crop, got in zip(crops, reached, strict=True):
            own = checkpoint_label(season, region, as_of, [crop])  # by the crop's own calendar
            # before the version's validated day: not that checkpoint, whatever the crop's calendar says
            labels.add(got or ("emergence" if own in governance.checkpoint_dates.get(region, {}) else own))
        return ",".join(sorted(labels))
    cp = season_checkpoints(season, region, crops)
    if as_of >= cp["end"]:
        return "end"
    if as_of >= cp["mid"]:
        return "mid"
    if as_of >= cp["emergence"]:
        return "emergence"
    return "pre_season"


def align_features(features: pd.DataFrame, model: Any, warnings: list[str]) -> pd.DataFrame:
    """``features`` with exactly the numeric columns the yield model was fitted on: extra numeric columns
    are dropped, missing ones (and missing phenology dates the model reads) added empty (NaN) — each with a
    warning naming them."""
    known = list(getattr(model, "numeric_columns_", []) or [])
    if not known:
        return features
    from features.contracts import FIELD_FEATURES
    from models.yield_value import _numeric_columns

    contract = set(FIELD_FEATURES.names)
    have = set(_numeric_columns(features, tuple(getattr(model.config, "exclude", ()))))
    # the crop-type model's per-crop probabilities (prob_<crop>) are FieldFeatures too: dropped without a word
    extra = sorted(c for c in have - set(known) if c not in contract and not c.startswith("prob_"))
    out = features.drop(columns=sorted(c for c in have - set(known) if c.startswith("prob_") and c not in contract))
    from models._yield_features import date_sources

    dates = date_sources(getattr(model, "date_columns_", []) or [])  # phenology dates the model reads as days
    missing = [c for c in [*known, *dates] if c not in features.columns]
    out = out.drop(columns=extra)
    if extra:
        warnings.append(f"{len(extra)} feature column(s) unknown to the yield model dropped: {', '.join(extra[:5])}")
    if missing:
        warnings.append(f"{len(missing)} feature column(s) the yield model expects are missing (empty): "
                        f"{', '.join(missing[:5])}")
        # at once (a column at a time fragments the frame: pandas warned once per column); a phenology date the
        # model reads as days is added as an empty *date* (as a float it would pass for a numeric column the model
        # never saw: no imagery before the season gave "unseen columns eos_date, …")
        empty = pd.DataFrame({c: pd.Series(pd.NaT if c in dates else np.nan, index=out.index,
                                           dtype="datetime64[ns]" if c in dates else "float64") for c in missing})
        out = pd.concat([out, empty], axis=1)
    return out


def models_text(models: dict[str, str | None]) -> str:
    """``yield-value 3, crop-type version 2 (champion)``: each model's name and version (a description that
    already names its model, as the crop model's does, is shown as it is)."""
    return ", ".join(v if v.startswith(k) else f"{k} {v}" for k, v in models.items() if v) or "none loaded"


def recorded_models(models: dict[str, str | None], items: Sequence[Any]) -> dict[str, str | None]:
    """``models`` (a run's, :meth:`ChampionModels.versions`) with the crop model the run's records name
    (``provenance.crop_model_version``) instead of the champion resolved: with a ``--features`` file the crop model
    is the file's lineage's, or "not recorded (features file without lineage)" — the summary named today's champion
    the records did not. Several crop models among the records: each, in order; no record: ``models`` as given."""
    said = [str(v) for v in dict.fromkeys(((getattr(i, "body", None) or {}).get("provenance") or {})
                                          .get("crop_model_version") for i in items) if v]
    return {**models, "crop-type": "; ".join(said)} if said else models


def crop_registry_version(desc: str | None) -> str | None:
    """The registry version a crop model's description names (``crop-type version 3 (champion), run …`` → ``3``, as
    records' ``provenance.crop_model_version`` and :attr:`ChampionModels.crop_version` give it); None: no crop model,
    or one that is no registry version (a saved folder, ``file sha256:…``)."""
    import re

    m = re.match(r"crop-type version (\d+)\b", str(desc or ""))
    return m.group(1) if m else None
