"""The models a featurize run reads (pipelines/featurize.py): the crop-type model (a registry alias or version, or a saved folder) and its status line, and the weather a yield model was trained with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import FieldsError, UserInputError

if TYPE_CHECKING:

    from features.crop_type import CropTypeClassifier


CROP_MODEL_NAME = "crop-type"


def load_weather(weather: pd.DataFrame | str | Path | None) -> tuple[pd.DataFrame | None, str]:
    """(checked weather table or None, where it came from) of a weather file or table (None: no weather)."""
    from features.weather import check_weather, read_weather

    if isinstance(weather, pd.DataFrame):
        w = weather if pd.api.types.is_datetime64_any_dtype(weather["date"]) else check_weather(weather)
        return w, "the weather table given"
    if weather is not None:
        import hashlib

        table = read_weather(weather)
        # named by content, not by file name: the same weather saved under another name gives the same decision
        digest = hashlib.sha256(Path(weather).read_bytes()).hexdigest()[:16]
        return table, f"a weather file (sha256:{digest})"
    return None, ""


class WeatherBoundModel:
    """A yield model that reads weather, bound to the weather data of a run: every row it predicts or explains
    gets its ``wx_*`` columns (re)computed from that weather as of the row's ``as_of`` first, so a caller that
    builds features without weather (e.g. re-underwriting a county) scores the same as one that adds them.
    Everything else is the wrapped model's."""

    def __init__(self, model: Any, weather: pd.DataFrame) -> None:
        self.model = model
        self.weather = weather

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)

    def _with_weather(self, X: pd.DataFrame) -> pd.DataFrame:
        from features.weather import add_weather

        return add_weather(X, self.weather)

    def predict_quantiles(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict_quantiles(self._with_weather(X))

    def explain(self, X_rows: pd.DataFrame) -> pd.DataFrame:
        return self.model.explain(self._with_weather(X_rows))


def require_weather(features: pd.DataFrame, model: Any, label: str) -> None:
    """A user error (one line, naming the model ``label``) when ``model`` reads weather columns that
    ``features`` lack: a weather model is never scored on silent NaNs."""
    if isinstance(model, WeatherBoundModel):
        return  # it adds them itself
    need = list(getattr(model, "weather_columns", []) or [])
    miss = [c for c in need if c not in features.columns]
    if miss:
        raise UserInputError(f"{label} reads weather ({len(need)} wx_* columns) but no weather data was given: pass "
                             "--weather FILE (a daily CSV: region, date, precip_mm, tmin_c, tmax_c, et0_mm), or run on "
                             "a county folder with weather/daily.csv")


def crop_type_status(model: CropTypeClassifier, fields: pd.DataFrame, pred: pd.DataFrame) -> tuple[str, list[str]]:
    """The ``crop_type`` family's status of ``model``'s predictions ``pred`` (:meth:`CropTypeClassifier.predict` of
    ``fields``) and its warnings: ``ok`` when every field got a crop type; else how many did, and why the others
    did not — before the model's first checkpoint (its date), or not scored — with ``none`` when no field did."""
    from features._seasonal import field_windows

    n = len(pred)
    got = int(pred["crop_type"].notna().sum())
    if got == n:
        return "ok", []
    early = (pred["checkpoint"].isna() if "checkpoint" in pred.columns else pd.Series(False, index=pred.index)
             ).to_numpy()
    why, first = [], ""
    if early.any():
        days = [int(c) for c in getattr(model, "checkpoints_", []) if c != "end"]
        win = field_windows(fields.drop_duplicates(["field_id", "season"]),
                            season_days=getattr(model, "season_days", None))
        win = win.set_index("field_id").reindex(pred.loc[early, "field_id"].astype(str))
        at = (win["start"] + pd.Timedelta(days=min(days))) if days else win["end"]
        first = f"day {min(days)} of the season" if days else "the end of the season"
        since = f"from {at.min().date()}" if at.notna().any() else ""
        why.append(f"{int(early.sum())} too early: the model's first checkpoint is {first}"
                   + (f" ({since})" if since else ""))
        first += f", {since}" if since else ""
    other = n - got - int(early.sum())
    if other:
        why.append(f"{other} not scored")
    status = f"{'none' if got == 0 else 'partial'}: {got} of {n} fields got a crop type; {'; '.join(why)}"
    warned = [f"crop type: {int(early.sum())} field(s) too early in the season for any checkpoint of the model "
              f"(its first is {first})"] if early.any() else []
    return status, warned


def unseen_region_warnings(model: CropTypeClassifier, fields: pd.DataFrame) -> list[str]:
    """A warning when ``fields`` hold regions ``model`` never learned (its ``region`` context's categories): a
    review read every us-nebraska field with the in-smallholder model — fallow 85, cotton 31, rice 26 — without a
    word (the yield model refers such fields OUT_OF_MODEL_SCOPE)."""
    known = (getattr(model, "categories_", None) or {}).get("region")
    if not known or "region" not in fields.columns:
        return []
    regions = fields["region"].dropna().astype(str)
    unseen = sorted(set(regions) - set(map(str, known)))
    if not unseen:
        return []
    n = int(regions.isin(unseen).sum())
    return [f"crop type: {n} field(s) of region(s) {', '.join(unseen)}, which the crop-type model never learned (it "
            f"learned {', '.join(map(str, known))}): its crop types and probabilities there are not validated — use "
            "a model trained on the region"]


def load_crop_model(spec: str | Path | None, *, season_scale: float | None = None
                    ) -> tuple[CropTypeClassifier | None, str]:
    """A crop-type model from ``champion`` (or any alias: the registry's ``crop-type@ALIAS``), a saved
    folder, or ``none``; returns the model and a description naming the concrete version. ``season_scale``
    pins its season scale (:meth:`CropTypeClassifier.pinned_season_scale`; the description says so)."""
    model, desc = _load_crop_model(spec)
    if season_scale is None:
        return model, desc
    if model is None:
        raise UserInputError("--crop-season-scale needs a crop-type model (not --crop-model none)")
    return model.pinned_season_scale(season_scale), f"{desc}, season scale pinned at {float(season_scale)!r}"


_REGISTRY_ALIASES = ("champion", "challenger")


def model_folder_digest(folder: Path) -> str:
    """``sha256:<16 hex>`` of a saved model folder's files (relative names and bytes, in name order): what a
    decision record names a folder model by — its content, not the path it was given by (a folder copied or
    spelled otherwise is the same model; another model in the same folder is not)."""
    from models._digest import folder_hash

    return f"sha256:{folder_hash(folder)[:16]}"


def crop_model_key(desc: str) -> str:
    """What identifies the crop model a description names (:func:`load_crop_model`'s): a saved folder's content
    digest (``file sha256:…``), a registry version's folder digest (its local copy, ``crop-type version N …, run R``:
    the same digest a copy of that folder saved elsewhere has), else the description's head — so a version and a
    saved copy of it are one model."""
    head = desc.split(",", maxsplit=1)[0].split(" (", maxsplit=1)[0].strip()
    if head.startswith("file "):
        return head[5:].strip()
    m = re.match(rf"{re.escape(CROP_MODEL_NAME)} version (\d+)\b.*\brun (\w+)", desc)
    if m:
        from models.registry import model_folder

        try:
            return model_folder_digest(model_folder(CROP_MODEL_NAME, m.group(1), m.group(2)))
        except (UserInputError, OSError):  # no local copy here: the description names it
            pass
    return head


def _load_crop_model(spec: str | Path | None) -> tuple[CropTypeClassifier | None, str]:
    from features.crop_type import CropTypeClassifier

    text = "none" if spec is None else str(spec).strip()
    if text.lower() == "none":
        return None, "none"
    p = Path(text)
    # a version number or the registry's own aliases always name the registry: a folder of that name in the
    # working directory (``./champion``, ``./1``) must not stand in for them (give it as ./champion to use it)
    if p.exists() and not (text.isdigit() or text.lower() in _REGISTRY_ALIASES):
        return CropTypeClassifier.load(p), f"file {model_folder_digest(p)}"
    if "/" in text or text.endswith(".json"):
        raise FieldsError(source="crop model", problem=f"{text}: no such folder (expected champion, an alias, "
                                                       "a saved model folder, or none)")
    from models.errors import RegistryError
    from models.registry import SaveLoadFlavour, resolve

    try:
        res = resolve(CROP_MODEL_NAME, text, flavour=SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
    except RegistryError as e:
        raise RegistryError(problem=f"crop-type model {text!r}: {e.problem}",
                            fix="train one with `agcredit train crop-type`, or pass --crop-model none") from None
    return res.model, f"{CROP_MODEL_NAME} version {res.version} ({text}), run {res.run_id}"
