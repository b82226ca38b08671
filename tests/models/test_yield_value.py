"""Yield model and valuation: quantiles, calibration, determinism, column checks, exact money."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import ContractError
from models.contracts import check_field_valuations
from models.errors import ModelError, ModelInputError, PriceError
from models.prices import read_prices
from models.yield_value import QUANTILE_COLUMNS, YieldModel, YieldModelConfig, value_fields

CFG = YieldModelConfig(n_estimators=80, calibration_seasons=3, seed=7)
BASE = {"maize": 10.0, "soybean": 3.5}


def synth(n_fields: int = 120, seasons: range = range(2008, 2020), seed: int = 0) -> pd.DataFrame:
    """Field-seasons whose yield depends on two features plus noise; reported yields carry reporting noise."""
    rng = np.random.default_rng(seed)
    crops = rng.choice(["maize", "soybean"], n_fields)
    rows = []
    for s in seasons:
        for i in range(n_fields):
            ndvi, rain = rng.uniform(0.5, 0.9), rng.normal(0, 1)
            true = BASE[crops[i]] * (0.4 + 0.75 * ndvi + 0.05 * rain + rng.normal(0, 0.06))
            rows.append({"field_id": f"f{i:03d}", "season": str(s), "as_of": pd.Timestamp(f"{s}-10-01"),
                         "farmer_token": f"tok{i:03d}", "region": "us-nebraska", "crop": str(crops[i]),
                         "ndvi_max": ndvi, "feat_rain": rain, "planted_area_ha": float(rng.uniform(1, 40)),
                         "yield_t_ha": true, "reported": true * (1 + rng.normal(0, 0.04))})
    return pd.DataFrame(rows)


def xy(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return df.drop(columns=["yield_t_ha", "reported"]), df["reported"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synth()


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> YieldModel:
    X, y = xy(data[data["season"] < "2017"])
    return YieldModel(CFG).fit(X, y)


def test_quantiles_never_cross_even_on_extreme_inputs(fitted: YieldModel, data: pd.DataFrame) -> None:
    X, _ = xy(data[data["season"] >= "2017"])
    X = X.copy()
    X.loc[X.index[:50], "ndvi_max"] = np.linspace(-5, 5, 50)
    X.loc[X.index[50:60], "feat_rain"] = np.nan
    q = fitted.predict_quantiles(X)
    assert list(q.columns) == list(QUANTILE_COLUMNS)
    assert q.index.equals(X.index)
    v = q.to_numpy()
    assert np.all(v[:, 0] <= v[:, 1]) and np.all(v[:, 1] <= v[:, 2]) and np.all(v >= 0)
    assert (v[:, 2] - v[:, 0]).min() > 0


def test_coverage_near_10_and_90_on_held_out_seasons(fitted: YieldModel, data: pd.DataFrame) -> None:
    X, y = xy(data[data["season"] >= "2017"])
    q = fitted.predict_quantiles(X)
    below = float((y.to_numpy() < q["yield_p10_t_ha"].to_numpy()).mean())
    above = float((y.to_numpy() > q["yield_p90_t_ha"].to_numpy()).mean())
    assert 0.04 <= below <= 0.17, below
    assert 0.04 <= above <= 0.17, above
    assert set(fitted.offsets_) >= {"*", "maize", "soybean"}


def test_median_tracks_yield_within_crop(fitted: YieldModel, data: pd.DataFrame) -> None:
    X, _ = xy(data[data["season"] >= "2017"])
    y = data.loc[data["season"] >= "2017", "yield_t_ha"].to_numpy()
    p50 = fitted.predict_quantiles(X)["yield_p50_t_ha"].to_numpy()
    m = (X["crop"] == "maize").to_numpy()
    r2 = 1 - ((y[m] - p50[m]) ** 2).sum() / ((y[m] - y[m].mean()) ** 2).sum()
    assert r2 > 0.5, r2


def test_deterministic_fit_and_save_load_round_trip(data: pd.DataFrame, fitted: YieldModel, tmp_path) -> None:
    X, y = xy(data[data["season"] < "2017"])
    again = YieldModel(CFG).fit(X, y)
    Xt, _ = xy(data[data["season"] >= "2017"])
    pd.testing.assert_frame_equal(fitted.predict_quantiles(Xt), again.predict_quantiles(Xt), check_exact=True)
    fitted.save(tmp_path / "a")
    again.save(tmp_path / "b")
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    loaded = YieldModel.load(tmp_path / "a")
    pd.testing.assert_frame_equal(fitted.predict_quantiles(Xt), loaded.predict_quantiles(Xt), check_exact=True)


def test_rows_without_reported_yield_are_dropped_and_counted(data: pd.DataFrame) -> None:
    X, y = xy(data[data["season"] < "2012"])
    y = y.copy()
    y.iloc[:17] = np.nan
    m = YieldModel(YieldModelConfig(n_estimators=20, calibrate=False)).fit(X, y)
    assert m.n_dropped_target_ == 17
    assert m.n_train_ == len(X) - 17


def test_an_unseen_crop_or_region_scores_as_missing_without_a_pandas_warning(fitted: YieldModel,
                                                                            data: pd.DataFrame) -> None:
    """A crop or region the model never saw is a missing category (NaN), as before — and built without the
    Categorical that pandas 3 warns about (pandas 4 will refuse it)."""
    import warnings

    X, _ = xy(data[data["season"] >= "2017"])
    X = X.head(6).copy()
    seen = fitted._matrix(X)
    X.loc[X.index[:2], "crop"] = "quinoa"
    X.loc[X.index[2:4], "region"] = "mars-plain"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fitted._matrix(X)
    crop_col, region_col = got.shape[1] - 2, got.shape[1] - 1
    assert np.isnan(got[:2, crop_col]).all() and np.isnan(got[2:4, region_col]).all()
    assert np.array_equal(got[4:], seen[4:], equal_nan=True)
    assert np.array_equal(got[2:4, crop_col], seen[2:4, crop_col]) and not np.isnan(seen[:4, -2:]).any()


def test_missing_and_unseen_columns_are_named(fitted: YieldModel, data: pd.DataFrame) -> None:
    X, _ = xy(data.head(5))
    with pytest.raises(ModelInputError, match=r"missing columns .*feat_rain"):
        fitted.predict_quantiles(X.drop(columns=["feat_rain"]))
    with pytest.raises(ModelInputError, match=r"unseen columns .*feat_new"):
        fitted.predict_quantiles(X.assign(feat_new=1.0))
    with pytest.raises(ModelInputError, match="missing columns .*season"):
        fitted.explain(X.drop(columns=["season"]))


def test_unfitted_model_is_an_error(data: pd.DataFrame) -> None:
    X, _ = xy(data.head(5))
    with pytest.raises(ModelError, match="not fitted"):
        YieldModel().predict_quantiles(X)


def test_explain_only_requested_rows_and_contributions_add_up(fitted: YieldModel, data: pd.DataFrame) -> None:
    X, _ = xy(data.iloc[[3, 40, 77]])
    e = fitted.explain(X)
    assert list(e.index) == [3, 40, 77]
    assert "ndvi_max" in e.columns and "expected_value" in e.columns
    raw = fitted.boosters_[1].predict(fitted._matrix(X))
    a, b = fitted._point(raw, X["crop"].to_numpy(dtype=object))
    assert fitted.point_ and not np.allclose(b, 1.0)  # the recalibrated P50 is what is explained
    np.testing.assert_allclose(e.sum(axis=1).to_numpy(), a + b * raw, rtol=1e-9)
    p50 = fitted.predict_quantiles(X)["yield_p50_t_ha"].to_numpy()
    np.testing.assert_allclose(e.sum(axis=1).to_numpy(), p50, rtol=1e-9)
    assert fitted.feature_importance().index[0] in {"ndvi_max", "crop"}


# ---------------------------------------------------------------------- valuation
def _feats(crops: list[str], region: str = "us-nebraska", season: str = "2020") -> pd.DataFrame:
    n = len(crops)
    return pd.DataFrame({"field_id": [f"f{i}" for i in range(n)], "season": [season] * n,
                         "as_of": pd.to_datetime([f"{season}-09-01"] * n), "region": [region] * n, "crop": crops,
                         "planted_area_ha": [1.5, 2.0, 0.1][:n], "field_area_ha": [2.0, 2.5, 0.2][:n]})


def _q(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(QUANTILE_COLUMNS))


def test_value_is_exact_in_minor_units_and_meets_the_contract() -> None:
    prices = read_prices()
    maize = prices.lookup("maize", "us-nebraska", 2020).price_per_t
    soy = prices.lookup("soybean", "us-nebraska", 2020).price_per_t
    out = value_fields(_feats(["maize", "soybean", "fallow"]), _q([(8.0, 10.0, 12.0), (2.5, 3.3, 4.0), (1, 2, 3)]),
                       prices, model_name="yield-value", model_version="3", in_scope=[True, True, False])
    check_field_valuations(out)
    assert out["value_p50"].tolist()[:2] == [15 * maize, (2 * 33 * soy) // 10]
    assert out.loc[0, "value_p10"] == 12 * maize  # 1.5 × 8.0 exactly, no float dust
    assert out.loc[1, "value_p10"] == 5 * soy
    assert out.loc[2, ["value_p10", "value_p50", "value_p90"]].tolist() == [0, 0, 0]
    assert out["currency"].unique().tolist() == ["USD"]
    assert out["in_scope"].tolist() == [True, True, False]
    assert out["model_version"].tolist() == ["3", "3", "3"]
    assert "NASS" in out.loc[0, "price_source"]
    assert out["value_p10"].dtype == "int64"


def test_value_floors_once() -> None:
    prices = read_prices(pd.DataFrame([{"crop": "maize", "region": "r", "season": "2020", "currency": "USD",
                                        "price_per_t": "0.03", "unit": "t", "moisture_basis_pct": "15.5",
                                        "sigma_annual": "0.2", "support_price_per_t": "", "source": "s",
                                        "price_date": "2020-01-01"}]))
    f = _feats(["maize"], region="r").assign(planted_area_ha=[0.7])
    out = value_fields(f, _q([(0.1, 0.7, 0.9)]), prices, model_name="m", model_version="1")
    # 0.7 × 0.7 × 3 = 1.47 → 1 (floored once; flooring each factor would give 0)
    assert out.loc[0, "value_p50"] == 1
    assert out.loc[0, "value_p10"] == 0


def test_missing_price_names_crop_and_season() -> None:
    with pytest.raises(PriceError, match=r"no price for crop/region/season.*sorghum/us-nebraska/1999"):
        value_fields(_feats(["sorghum"], season="1999"), _q([(1, 2, 3)]), read_prices(), model_name="m",
                     model_version="1")


def test_currencies_never_mix() -> None:
    prices = read_prices()
    both = pd.concat([_feats(["maize"]), _feats(["rice"], region="in-smallholder").assign(field_id="g0")],
                     ignore_index=True)
    with pytest.raises(PriceError, match="currencies never mix.*INR.*USD"):
        value_fields(both, _q([(1, 2, 3), (1, 2, 3)]), prices, model_name="m", model_version="1")
    with pytest.raises(PriceError, match="currencies never mix.*INR.*USD"):
        value_fields(_feats(["maize"]), _q([(1, 2, 3)]), prices, model_name="m", model_version="1", currency="INR")


def test_crossed_quantiles_are_refused_by_the_contract() -> None:
    with pytest.raises(ContractError, match="P10 <= P50 <= P90"):
        value_fields(_feats(["maize"]), _q([(3.0, 2.0, 4.0)]), read_prices(), model_name="m", model_version="1")


def test_misaligned_quantiles_are_an_error() -> None:
    with pytest.raises(ModelError, match="2 feature rows but 1 quantile rows"):
        value_fields(_feats(["maize", "maize"]), _q([(1, 2, 3)]), read_prices(), model_name="m", model_version="1")


# ---------------------------------------------------------------------- evaluation library
def test_evaluate_yield_leave_one_season_out_with_baselines_and_oracle(tmp_path) -> None:
    from models.evaluation import default_minimum_metrics, diagnostic_plots, evaluate_yield, governance_metrics

    df = synth(n_fields=80, seasons=range(2012, 2017), seed=3)
    feats = df.drop(columns=["yield_t_ha", "reported"])
    reported = df[["field_id", "season"]].assign(reported_yield_t_ha=df["reported"].where(df.index % 9 != 0))
    truth = df[["field_id", "season", "yield_t_ha"]]
    oracle = df[["field_id", "season"]].assign(oracle_yield=df["yield_t_ha"])
    mid = feats.assign(ndvi_max=feats["ndvi_max"] * 0.5 + 0.3)
    cfg = YieldModelConfig(n_estimators=60, learning_rate=0.15, calibration_seasons=2)
    ev = evaluate_yield({"end": feats, "mid": mid}, reported, truth, config=cfg, oracle=oracle,
                        seasons=["2014", "2016"])
    s = ev.summary.set_index(["checkpoint", "crop", "method"])
    assert set(ev.per_season["season"]) == {"2014", "2016"}
    assert set(s.index.get_level_values("method")) == {"model", "oracle", "crop_mean", "farmer_mean"}
    for crop in ("maize", "soybean"):
        assert s.loc[("end", crop, "model"), "r2"] > s.loc[("end", crop, "crop_mean"), "r2"] + 0.3
        assert s.loc[("end", crop, "oracle"), "r2"] > s.loc[("end", crop, "model"), "r2"]
        assert np.isnan(s.loc[("end", crop, "crop_mean"), "below_p10"])
    assert s.loc[("end", "all", "model"), "r2"] > 0.9  # pooled R² is high because maize out-yields soybean
    assert 0.0 <= s.loc[("end", "all", "model"), "below_p10"] <= 0.3
    m = governance_metrics(ev)
    assert {"r2_maize", "rmse_pct_soybean", "below_p10_max_all"} <= set(m)
    # the naive baselines' own figures stand beside the model's (what skill_r2 is measured against)
    for crop in ("maize", "all"):
        assert m[f"naive_crop_mean_r2_{crop}"] == s.loc[("end", crop, "crop_mean"), "r2"]
        assert m[f"naive_farmer_mean_rmse_pct_{crop}"] == s.loc[("end", crop, "farmer_mean"), "rmse_pct"]
        assert m[f"skill_r2_{crop}"] == m[f"r2_{crop}"] - m[f"naive_crop_mean_r2_{crop}"]
    assert not any(k.startswith(("naive_model", "naive_oracle")) for k in m)
    reqs = default_minimum_metrics(["maize", "soybean"])
    assert [str(r) for r in reqs[:2]] == ["r2_maize >= 0.45", "rmse_pct_maize <= 15"]
    assert "synthetic data" in ev.table()
    assert ev.to_dict()["summary"][0]["checkpoint"] == "end"

    model = YieldModel(cfg).fit(feats, reported["reported_yield_t_ha"])
    paths = diagnostic_plots(model, feats, truth["yield_t_ha"], tmp_path)
    assert sorted(paths) == ["calibration.png", "feature_importance.png", "residuals.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths.values())


def test_calibration_target_narrows_intervals_when_reports_are_noisy() -> None:
    df = synth(n_fields=100, seasons=range(2010, 2017), seed=5)
    df["reported"] = df["yield_t_ha"] * (1 + np.random.default_rng(9).normal(0, 0.15, len(df)))
    X, y = xy(df)
    on_reported = YieldModel(CFG).fit(X, y)
    on_truth = YieldModel(CFG).fit(X, y, calibration_target=df["yield_t_ha"])
    w_rep = on_reported.offsets_["maize"][0] + on_reported.offsets_["maize"][1]
    w_true = on_truth.offsets_["maize"][0] + on_truth.offsets_["maize"][1]
    assert w_true < w_rep - 0.05, (w_true, w_rep)
    with pytest.raises(ModelError, match="calibration_target has 3 rows"):
        YieldModel(CFG).fit(X, y, calibration_target=[1.0, 2.0, 3.0])


def test_score_fields_flags_out_of_scope_rows(fitted: YieldModel, data: pd.DataFrame) -> None:
    from models.governance import Governance
    from models.yield_value import score_fields

    X, _ = xy(data[data["season"] == "2019"].head(4))
    g = Governance(crops=("maize",), regions=("us-nebraska",), checkpoints=("end",))
    out = score_fields(fitted, X, read_prices(), model_name="yield-value", model_version="4", governance=g,
                       checkpoint="end")
    assert out["in_scope"].tolist() == (X["crop"] == "maize").tolist()
    assert out["currency"].unique().tolist() == ["USD"]
    mid = score_fields(fitted, X, read_prices(), model_name="yield-value", model_version="4", governance=g,
                       checkpoint="mid")
    assert not mid["in_scope"].any()
    # a version naming the days its checkpoints were validated from: each row by its own crop and as-of date, the
    # label given only text (maize validated at mid from 07-20, every crop from 08-01; rows as of 10-01 and 07-25)
    dated = Governance(crops=("maize", "soybean"), regions=("us-nebraska",), checkpoints=("mid", "end"),
                       checkpoint_dates={"us-nebraska": {"mid": {"*": ("08-01", 0), "maize": ("07-20", 0)}}})
    early = X.assign(as_of=pd.Timestamp("2019-07-25"))
    for rows, want in ((X, [True] * len(X)), (early, (X["crop"] == "maize").tolist())):
        got = score_fields(fitted, rows, read_prices(), model_name="yield-value", model_version="5",
                           governance=dated, checkpoint="pre_season")
        assert got["in_scope"].tolist() == want
    from models.errors import ModelInputError

    with pytest.raises(ModelInputError, match="as_of"):  # scope is each row's own: no silent guess without its date
        score_fields(fitted, X.drop(columns="as_of"), read_prices(), model_name="yield-value", model_version="5",
                     governance=dated, checkpoint="mid")


def test_crop_model_outputs_are_never_yield_features(data: pd.DataFrame) -> None:
    """The crop model's probabilities and its season scale (one number per season, in-sample on the training
    seasons) are not read by the yield model, however numeric."""
    X, y = xy(data[data["season"] < "2012"])
    X = X.assign(crop_season_scale=X["season"].astype(int) / 2000.0, declared_crop_prob=0.9, crop_type_prob=0.8,
                 prob_maize=0.5)
    m = YieldModel(CFG).fit(X, y)
    assert not {"crop_season_scale", "declared_crop_prob", "crop_type_prob", "prob_maize"} & set(m.feature_names_)
