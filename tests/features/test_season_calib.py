"""Season calibration of the crop-type model: the season's own declarations set its temperature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features._calibration import softmax
from features._season_calib import SEASON_MIN_FIELDS, season_sample, season_temperature
from features.crop_type import CropTypeClassifier
from tests.features.test_crop_type import _clf, _make


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _make()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.DataFrame]) -> CropTypeClassifier:
    series, labels = data
    return _clf().fit(series, labels.loc[labels["season"] < "2019"])


def test_the_sample_is_bounded_and_free_of_row_order() -> None:
    ids = [f"f{i}" for i in range(40)]
    dec = np.array([i % 4 - 1 for i in range(40)])  # -1 (unknown crop) on every fourth row
    a = season_sample(ids, dec, n=20)
    order = np.random.default_rng(0).permutation(40)
    b = season_sample([ids[i] for i in order], dec[order], n=20)
    assert len(a) == 20 and (dec[a] >= 0).all()
    assert sorted(ids[i] for i in a) == sorted(ids[order[i]] for i in b)


def test_the_season_temperature_recovers_over_confidence() -> None:
    """Labels drawn from softmax(z), scores 3·z: the fitted temperature is ≈ 3; too few rows give none."""
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, (4000, 3))
    p = softmax(z)
    y = np.array([rng.choice(3, p=r) for r in p])
    ids = [f"f{i}" for i in range(len(y))]
    t, n = season_temperature(3 * z, y, ids)
    assert n == len(y) and t == pytest.approx(3.0, rel=0.1)
    assert season_temperature(3 * z[:SEASON_MIN_FIELDS - 1], y[:SEASON_MIN_FIELDS - 1], ids)[0] is None


def test_predict_scales_each_season_and_region_from_its_declarations(data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    out = fitted.predict(series, test)
    assert set(fitted.declared_temperatures_) == {"d060", "d120", "end"}
    by_region = out.assign(region=test["region"]).groupby("region")["crop_season_scale"].agg(["min", "max"])
    assert (by_region["min"] == by_region["max"]).all()  # one scale per season, region and checkpoint
    scales = fitted.season_scales(series, test)
    assert sorted(scales) == ["2019|north|end", "2019|south|end"]
    for r, k in (("north", "2019|north|end"), ("south", "2019|south|end")):
        assert by_region.loc[r, "min"] == scales[k]
    # the same season scored in two blocks with the scales of the whole season: one call's answer
    preset = fitted.with_season_scales(scales)
    halves = [preset.predict(series, part) for part in (test.iloc[::2], test.iloc[1::2])]
    both = pd.concat(halves).sort_values("field_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(both, out.sort_values("field_id", kind="stable").reset_index(drop=True))
    # without a scale (too few declared fields in a block) the model scores as trained
    few = fitted.predict(series, test.head(SEASON_MIN_FIELDS - 1))
    assert (few["crop_season_scale"] == 1.0).all()


def test_a_season_whose_declarations_disagree_is_softened(data, fitted) -> None:
    """Declarations contradicting the imagery more often than in training (30% swapped) give a larger scale
    — less confident probabilities — than declarations all right."""
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    right = test.assign(declared_crop=test["true_crop"])
    rng = np.random.default_rng(2)
    crops = sorted(test["true_crop"].unique())
    swap = rng.random(len(test)) < 0.3
    wrong = test.assign(declared_crop=[crops[(crops.index(c) + 1) % 3] if s else c
                                       for c, s in zip(test["true_crop"], swap, strict=True)])
    s_right = fitted.predict(series, right)["crop_season_scale"].mean()
    s_wrong = fitted.predict(series, wrong)["crop_season_scale"].mean()
    assert s_wrong > 1.5 * s_right


def test_a_model_saved_before_season_calibration_scores_as_trained(tmp_path, data, fitted) -> None:
    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert set(meta["declared_temperatures"]) == {"d060", "d120", "end"}
    del meta["declared_temperatures"]
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    old = CropTypeClassifier.load(tmp_path / "m")
    out = old.predict(series, test)
    assert (out["crop_season_scale"] == 1.0).all()
    X = old._aligned(old.features(series, test), test)[[*old.feature_names_in_]]
    np.testing.assert_allclose(out[[f"prob_{c}" for c in old.classes_]].to_numpy(), old.predict_proba(X))


def test_blocks_get_the_whole_seasons_scales(data, fitted) -> None:
    """pipelines.distributed.season_calibrated: the scales of all the season's fields fixed on the model every
    block scores with; a series builder is asked for the sampled fields only."""
    from pipelines.distributed import season_calibrated

    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    asked: list[int] = []

    def build(sample: pd.DataFrame) -> pd.DataFrame:
        asked.append(len(sample))
        return series[series["field_id"].isin(set(sample["field_id"])) & (series["season"] == "2019")]

    model = season_calibrated(fitted, test, None, build)
    assert asked == [len(fitted.season_fields(test))] and model is not fitted
    assert model.season_scales_ == fitted.season_scales(series, test)
    one = fitted.predict(series, test)
    block = model.predict(series, test.iloc[:10])
    pd.testing.assert_frame_equal(block, one.iloc[:10].reset_index(drop=True))
    assert season_calibrated(None, test, None, series) is None


def test_a_single_declared_crop_gives_no_scale_and_scales_are_bounded() -> None:
    """One declared crop cannot identify a temperature (it can always be made more certain); a scale stays within
    SCALE_BOUNDS."""
    from features._season_calib import SCALE_BOUNDS, season_scale

    rng = np.random.default_rng(4)
    z = rng.normal(0, 1.5, (200, 3))
    ids = [f"f{i}" for i in range(200)]
    assert season_temperature(z, np.zeros(200, dtype=int), ids)[0] is None
    assert season_scale(None, 1.0) is None
    assert season_scale(100.0, 1.0) == SCALE_BOUNDS[1] and season_scale(0.001, 1.0) == SCALE_BOUNDS[0]
    assert season_scale(1.5, 1.2) == pytest.approx(1.25)


def test_a_pinned_scale_replaces_the_estimate_everywhere(data, fitted) -> None:
    """pinned_season_scale(x) scores every season, region and checkpoint with x, exactly as the explicit keys would;
    a scale outside the bounds, or a model without season calibration, is a user error."""
    from features.crop_type import PINNED
    from features.errors import UserInputError

    series, labels = data
    test = labels.loc[labels["season"] == "2019"].reset_index(drop=True)
    pinned = fitted.pinned_season_scale(1.7)
    assert pinned.season_scales_ == {PINNED: 1.7} and fitted.season_scales_ is None  # a copy
    out = pinned.predict(series, test)
    assert (out["crop_season_scale"] == 1.7).all()
    keys = {k: 1.7 for k in fitted.season_scales(series, test)}
    same = fitted.with_season_scales(keys).predict(series, test)
    probs = [f"prob_{c}" for c in fitted.classes_]
    np.testing.assert_array_equal(out[probs].to_numpy(), same[probs].to_numpy())
    assert not np.allclose(out[probs].to_numpy(), fitted.predict(series, test)[probs].to_numpy())
    # pinned at the estimate itself: the probabilities as estimated
    est = fitted.predict(series, test)
    north = test["region"] == "north"
    s = float(est.loc[north, "crop_season_scale"].iloc[0])
    again = fitted.pinned_season_scale(s).predict(series, test)
    np.testing.assert_allclose(again.loc[north, probs].to_numpy(), est.loc[north, probs].to_numpy())
    for bad in (0.1, 5.0, float("nan")):
        with pytest.raises(UserInputError, match="crop season scale: expected a number from 0.25 to 4"):
            fitted.pinned_season_scale(bad)
    plain = fitted.with_season_scales({})
    plain.declared_temperatures_ = {}
    with pytest.raises(UserInputError, match="no season calibration"):
        plain.pinned_season_scale(1.2)
