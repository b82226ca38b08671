"""The crop-type model a yield version's held-out season is scored with (pipelines._heldout_crop): fitted without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.crop_type import CropTypeClassifier
from features.errors import UserInputError
from pipelines._heldout_crop import (
    crop_model_without,
    labels_without,
    model_digest,
    refit_without,
    saw_season,
    trained_seasons,
)
from tests.features.test_crop_type import SEASONS, _make


class _County:
    """The part of :class:`pipelines.county.County` the refit reads: past seasons, field records, series."""

    region = "north"

    def __init__(self, series: pd.DataFrame, labels: pd.DataFrame) -> None:
        self._series, self._labels = series, labels
        self.past_seasons = list(SEASONS)
        self.read: list[str] = []

    def fields(self) -> pd.DataFrame:
        return self._labels.drop(columns=["true_crop"]).assign(geometry=None)

    def series(self, season: str) -> pd.DataFrame:
        self.read.append(season)
        return self._series.loc[self._series["season"] == season].reset_index(drop=True)


@pytest.fixture(scope="module")
def county_and_model() -> tuple[_County, CropTypeClassifier]:
    series, labels = _make(seed=3)
    model = CropTypeClassifier((60, "end"), n_estimators=40, num_leaves=7, calibration_folds=3, num_threads=1,
                               context=("region",))
    model.fit(series, labels.rename(columns={"declared_crop": "crop"}), label_column="crop")
    return _County(series, labels), model


def test_refit_leaves_the_held_out_season_out_with_the_models_settings(
        county_and_model: tuple[_County, CropTypeClassifier], monkeypatch: pytest.MonkeyPatch) -> None:
    county, model = county_and_model
    assert trained_seasons(model) == set(SEASONS) and saw_season(model, "2019")
    # (monkeypatched: the module's fixture is shared, so nothing a test sets may reach the next one)
    monkeypatch.setattr(model, "phenology_calibration_", {"north": "calibration"}, raising=False)
    fold, desc = crop_model_without(county, model, "2019")  # type: ignore[arg-type]
    assert trained_seasons(fold) == {"2016", "2017", "2018"} and not saw_season(fold, "2019")
    assert "2019" not in county.read
    assert fold.get_params() == model.get_params()
    assert fold.phenology_calibration_ == {"north": "calibration"} and fold.alert_params_ == {}
    assert desc == f"crop-type refitted on seasons 2016, 2017, 2018 ({model_digest(fold)})"
    # another model (other boosters): another digest, so the features it scored are cached apart
    assert model_digest(fold) != model_digest(model)
    again, desc2 = crop_model_without(county, model, "2019", phenology={})  # type: ignore[arg-type]
    assert desc2 == desc and again.phenology_calibration_ == {}             # deterministic
    series, labels = _make(seed=3)
    held = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    p_fold, p_all = (m.predict_proba(m._aligned(m.features(series, held), held), checkpoint="end")
                     for m in (fold, model))
    assert not np.allclose(p_fold, p_all)  # the season's own labels moved the model that saw them


def test_saw_season_fails_safe_and_a_refit_without_seasons_is_a_user_error(
        county_and_model: tuple[_County, CropTypeClassifier], monkeypatch: pytest.MonkeyPatch) -> None:
    county, model = county_and_model

    class Loaded:  # a registered model: its training seasons are not saved
        pass

    assert saw_season(Loaded(), "2019") and not saw_season(None, "2019")
    monkeypatch.setattr(county, "past_seasons", ["2019"])
    with pytest.raises(UserInputError, match="no other past season"):
        crop_model_without(county, model, "2019")  # type: ignore[arg-type]


def test_refit_without_a_county_in_another_process_is_the_same_model(
        county_and_model: tuple[_County, CropTypeClassifier]) -> None:
    """The refit made from the labels and series a caller read (refit_without: what train_yield_county runs in a
    process beside its production build, pipelines._beside) is the county refit's model: the same digest, the same
    probabilities, in this process and in another."""
    from pipelines._beside import run_beside

    county, model = county_and_model
    here, desc = crop_model_without(county, model, "2019", phenology={})  # type: ignore[arg-type]
    seasons, labels = labels_without(county, "2019")  # type: ignore[arg-type]
    assert seasons == ["2016", "2017", "2018"]
    given = {s: county.series(s) for s in seasons}
    again, desc2 = refit_without(model, seasons, labels, given)
    assert desc2 == desc and model_digest(again) == model_digest(here) and again.phenology_calibration_ == {}
    with run_beside(refit_without, model, seasons, labels, given, fallback=lambda: pytest.fail("the process failed")
                    ) as other:
        there, desc3 = other()
    assert desc3 == desc and model_digest(there) == model_digest(here)
    series, labels = _make(seed=3)
    held = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    p_here, p_there = (m.predict_proba(m._aligned(m.features(series, held), held), checkpoint="end")
                       for m in (here, there))
    assert np.array_equal(p_here, p_there)
