"""The yield model and the weather family: read when trained with it, ignored by a model trained without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.yield_value import MissingWeatherError, YieldModel, YieldModelConfig

CFG = YieldModelConfig(n_estimators=60, calibration_seasons=2, seed=3)


def synth(seed: int = 0) -> pd.DataFrame:
    """A season-level drought the canopy does not show: only the weather column carries it."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(2010, 2018):
        drought = rng.uniform(0, 1)
        for i in range(80):
            ndvi = rng.uniform(0.5, 0.9)
            cwb = -300 * drought + rng.normal(0, 20)
            y = 10 * (0.5 + 0.6 * ndvi) * (1 - 0.5 * drought) + rng.normal(0, 0.3)
            rows.append({"field_id": f"f{i:02d}", "season": str(s), "as_of": pd.Timestamp(f"{s}-10-01"),
                         "region": "us-nebraska", "crop": "maize", "ndvi_max": ndvi, "wx_cwb_em_mm": cwb,
                         "wx_heat_fill_d": float(rng.integers(0, 10)), "reported": y})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synth()


def test_weather_columns_read_saved_and_help(data: pd.DataFrame, tmp_path: Path) -> None:
    train, test = data[data["season"] < "2016"], data[data["season"] >= "2016"]
    X, y = train.drop(columns="reported"), train["reported"]
    with_wx = YieldModel(CFG).fit(X, y)
    without = YieldModel(YieldModelConfig(**{**CFG.__dict__, "weather": False})).fit(X, y)
    assert with_wx.weather_columns == ["wx_cwb_em_mm", "wx_heat_fill_d"] and without.weather_columns == []
    Xt = test.drop(columns="reported")
    err = {name: float(np.mean((m.predict_quantiles(Xt)["yield_p50_t_ha"] - test["reported"]) ** 2))
           for name, m in (("with", with_wx), ("without", without))}
    assert err["with"] < 0.7 * err["without"]
    d = with_wx.save(tmp_path / "m")
    assert '"weather_columns": [\n  "wx_cwb_em_mm"' in (d / "meta.json").read_text()
    back = YieldModel.load(d)
    assert back.weather_columns == with_wx.weather_columns
    pd.testing.assert_frame_equal(back.predict_quantiles(Xt), with_wx.predict_quantiles(Xt))


def test_model_without_weather_scores_rows_with_weather_as_before(data: pd.DataFrame, tmp_path: Path) -> None:
    plain = data.drop(columns=["wx_cwb_em_mm", "wx_heat_fill_d"])
    train = plain[plain["season"] < "2016"]
    old = YieldModel.load(YieldModel(CFG).fit(train.drop(columns="reported"), train["reported"]).save(tmp_path / "o"))
    test = data[data["season"] >= "2016"].drop(columns="reported")
    before = old.predict_quantiles(test.drop(columns=["wx_cwb_em_mm", "wx_heat_fill_d"]))
    pd.testing.assert_frame_equal(old.predict_quantiles(test), before)


def test_weather_model_without_weather_is_a_user_error(data: pd.DataFrame) -> None:
    train = data[data["season"] < "2016"]
    m = YieldModel(CFG).fit(train.drop(columns="reported"), train["reported"])
    test = data[data["season"] >= "2016"].drop(columns=["reported", "wx_cwb_em_mm", "wx_heat_fill_d"])
    with pytest.raises(MissingWeatherError, match=r"yield-value: this model reads weather features \(wx_cwb_em_mm, "
                                                  r"wx_heat_fill_d\) but the features carry none: give the weather "
                                                  r"file") as e:
        m.predict_quantiles(test)
    assert isinstance(e.value, UserInputError) and "\n" not in str(e.value)
