"""The crop-type model a yield version's held-out season is scored with: one that never saw that season's labels.

The yield version's held-out figures (:func:`pipelines.train_yield.train_yield_county`) are drawn on the latest past
season's features. Production builds those features with the crop-type champion, trained on the declared crops of
every past season — the held-out one's included — so its probabilities (and the crop the yield model values each
field as, where the classifier is confident) are in-sample there: the figures would rest on the season's own labels.
:func:`crop_model_without` fits a classifier with the champion's parameters on the OTHER past seasons' declared crops
(all before the held-out one: the crop model production would have had then), which the held-out features are built
with instead. The registered version itself is fitted on the production features, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from features.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.county import County

__all__ = ["trained_seasons", "saw_season", "crop_model_without", "labels_without", "refit_without", "model_digest"]


def trained_seasons(model: Any) -> set[str] | None:
    """The seasons whose labels ``model`` was fitted on, when known (a classifier fitted in this process keeps its
    ``oof_index_``; a saved one does not say): None when unknown."""
    idx = getattr(model, "oof_index_", None)
    if idx is None or "season" not in getattr(idx, "columns", ()):
        return None
    return {str(s) for s in idx["season"].unique()}


def saw_season(model: Any, season: str) -> bool:
    """Whether ``model`` (a crop-type classifier) may have been fitted on ``season``'s labels: yes unless its training
    seasons are known and leave it out (a registered model's are not known: taken as seen — it fails safe)."""
    if model is None:
        return False
    seen = trained_seasons(model)
    return seen is None or str(season) in seen


def model_digest(model: Any) -> str:
    """A short digest of a fitted classifier (its parameters, calibration and boosters): the feature cache key of
    what it scored (a refit's description alone would not change when the data it was fitted on did)."""
    h = hashlib.sha256(json.dumps(model.get_params(), sort_keys=True, default=str).encode())
    h.update(json.dumps({"classes": list(model.classes_), "t": model.temperatures_, "b": model.biases_},
                        sort_keys=True, default=str).encode())
    for name in sorted(model.boosters_):
        for b in model.boosters_[name]:
            h.update(b.model_to_string().encode())
    return h.hexdigest()[:12]


def crop_model_without(county: County, model: Any, held: str, *,
                       phenology: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """(classifier, what it is): ``model``'s parameters fitted on the county's declared crops of its past seasons
    other than ``held``, carrying ``phenology`` (region → calibration; default ``model``'s) for the features built
    with it. Fitted as :func:`pipelines.train_crop.train_crop_type` fits the champion (same labels, checkpoints and
    settings), without registration, plots or alert tuning (:func:`refit_without` on the county's labels and series).
    A :class:`UserInputError` when those seasons cannot train one (e.g. fewer than two crops left)."""
    from features.threads import thread_map

    seasons, labels = labels_without(county, held)
    fold, what = refit_without(model, seasons, labels, dict(zip(seasons, thread_map(county.series, seasons))))
    fold.phenology_calibration_ = dict(phenology if phenology is not None
                                       else getattr(model, "phenology_calibration_", None) or {})
    return fold, what


def labels_without(county: County, held: str) -> tuple[list[str], pd.DataFrame]:
    """The county's past seasons other than ``held`` and their crop labels
    (:func:`pipelines.train_crop.county_crop_labels`); a :class:`UserInputError` when there is no other past
    season."""
    from pipelines.train_crop import county_crop_labels

    seasons = sorted(str(s) for s in county.past_seasons if str(s) != str(held))
    if not seasons:
        raise UserInputError(f"crop type without season {held}: no other past season to train on")
    return seasons, county_crop_labels(county, seasons)


def refit_without(model: Any, seasons: list[str], labels: pd.DataFrame, series: Mapping[str, pd.DataFrame]
                  ) -> tuple[Any, str]:
    """(classifier, what it is): ``model``'s parameters fitted on ``seasons``' ``labels`` (:func:`labels_without`)
    and series (season → its series as :meth:`County.series` gives it, read in season order), carrying no phenology
    calibration and no alert thresholds. Needs no county: what a process beside the caller runs."""
    import pandas as pd

    from features.crop_type import CropTypeClassifier

    fold = CropTypeClassifier(**model.get_params())
    fold.fit(pd.concat([series[s] for s in seasons], ignore_index=True), labels, label_column="crop")
    fold.phenology_calibration_ = {}
    fold.alert_params_ = {}
    return fold, f"crop-type refitted on seasons {', '.join(seasons)} ({model_digest(fold)})"
