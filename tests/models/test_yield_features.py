"""Phenology dates as yield-model features: days of the season year and spans between stages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models._yield_features import date_feature_names, date_features
from models.errors import ModelInputError
from models.yield_value import YieldModel, YieldModelConfig

CFG = YieldModelConfig(n_estimators=60, calibration_seasons=2, seed=3)


def synth(n: int = 90, seasons: range = range(2010, 2017), seed: int = 1) -> pd.DataFrame:
    """Winter-crop field-seasons whose yield follows the grain-fill span (peak → maturity), seen only as dates."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in seasons:
        peak = pd.Timestamp(f"{s}-05-01") + pd.to_timedelta(rng.integers(-10, 10, n), unit="D")
        fill = rng.integers(40, 75, n)
        y = 1.0 + 0.06 * fill + rng.normal(0, 0.15, n)
        rows.append(pd.DataFrame({
            "field_id": [f"f{i:03d}" for i in range(n)], "season": str(s), "as_of": pd.Timestamp(f"{s}-11-30"),
            "region": "us-nebraska", "crop": "winter_wheat", "feat_noise": rng.normal(0, 1, n),
            "emergence_date": pd.Timestamp(f"{s - 1}-10-10"), "peak_date": peak,
            "maturity_date": peak + pd.to_timedelta(fill, unit="D"), "reported": y}))
    return pd.concat(rows, ignore_index=True)


def test_days_count_from_january_first_of_the_season_and_spans_subtract() -> None:
    X = pd.DataFrame({"season": ["2015", "2015", "2016"],
                      "emergence_date": pd.to_datetime(["2014-10-01", None, "2015-12-31"]),
                      "peak_date": pd.to_datetime(["2015-01-01", "2015-05-01", "2016-03-01"]),
                      "maturity_date": pd.to_datetime(["2015-07-01", "2015-07-10", None])})
    names = date_feature_names(X.columns)
    assert names == ["day_emergence_date", "day_peak_date", "day_maturity_date", "span_peak_maturity",
                     "span_emergence_maturity"]
    d = date_features(X, names)
    np.testing.assert_array_equal(d["day_emergence_date"], [-92.0, np.nan, -1.0])
    np.testing.assert_array_equal(d["day_peak_date"], [0.0, 120.0, 60.0])
    np.testing.assert_array_equal(d["span_peak_maturity"], [181.0, 70.0, np.nan])
    np.testing.assert_array_equal(d["span_emergence_maturity"], [273.0, np.nan, np.nan])
    assert date_features(X, []) == {}


def test_model_reads_the_dates_and_is_better_for_it() -> None:
    df = synth()
    tr, te = df[df["season"] < "2016"], df[df["season"] == "2016"]
    X, y = tr.drop(columns="reported"), tr["reported"]
    with_dates = YieldModel(CFG).fit(X, y)
    without = YieldModel(YieldModelConfig(**{**CFG.__dict__, "date_features": False})).fit(X, y)
    assert "span_peak_maturity" in with_dates.feature_names_
    assert not any(n.startswith(("day_", "span_")) for n in without.feature_names_)
    assert with_dates.feature_importance()["span_peak_maturity"] > 0

    def r2(m: YieldModel) -> float:
        p = m.predict_quantiles(te.drop(columns="reported"))["yield_p50_t_ha"].to_numpy()
        t = te["reported"].to_numpy()
        return float(1 - ((t - p) ** 2).sum() / ((t - t.mean()) ** 2).sum())

    assert r2(with_dates) > 0.6 > r2(without) + 0.3


def test_absent_date_column_is_unknown_and_old_models_load_without_dates(tmp_path) -> None:
    df = synth(n=40, seasons=range(2012, 2016))
    X, y = df.drop(columns="reported"), df["reported"]
    m = YieldModel(CFG).fit(X, y)
    assert m.input_columns == ["feat_noise", "emergence_date", "peak_date", "maturity_date", "season", "region",
                               "as_of"]
    unknown = X.assign(maturity_date=pd.NaT)
    pd.testing.assert_frame_equal(m.predict_quantiles(X.drop(columns="maturity_date")),
                                  m.predict_quantiles(unknown), check_exact=True)
    assert not m.predict_quantiles(unknown).equals(m.predict_quantiles(X))
    with pytest.raises(ModelInputError, match="missing columns .*season"):
        m.predict_quantiles(X.drop(columns="season"))
    m.save(tmp_path / "m")
    again = YieldModel.load(tmp_path / "m")
    pd.testing.assert_frame_equal(m.predict_quantiles(X), again.predict_quantiles(X), check_exact=True)
    # a model saved before date features existed: no ``date_columns`` in its meta, none in its features
    old = YieldModel(YieldModelConfig(**{**CFG.__dict__, "date_features": False})).fit(X, y)
    old.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "meta.json").read_text())
    del meta["date_columns"], meta["config"]["date_features"]
    (tmp_path / "old" / "meta.json").write_text(json.dumps(meta))
    loaded = YieldModel.load(tmp_path / "old")
    assert loaded.date_columns_ == []
    pd.testing.assert_frame_equal(old.predict_quantiles(X), loaded.predict_quantiles(X), check_exact=True)
