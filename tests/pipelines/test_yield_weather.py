"""Weather wired through training, underwriting and valuing: a county's weather is read, a model that reads
weather refuses to score without it (one-line user error), and a model bound to the run's weather scores the same
whether the features carry the wx_* columns or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from features.weather import WEATHER_COLUMNS
from models.governance import Governance
from models.prices import read_prices
from models.yield_value import YieldModel, YieldModelConfig, score_fields
from pipelines.cli import app
from pipelines.county import County
from pipelines.featurize import WeatherBoundModel, featurize
from pipelines.train_yield import county_features
from pipelines.underwrite import ChampionModels, underwrite
from underwriting.policy import default_policy

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)
KEY = "test-token-key-0123456789"


@pytest.fixture(scope="module")
def wx_world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Mid-season features of the tiny county with and without weather, and a model that reads weather."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        county = County(tiny_county_sh, cache_dir=tmp_path_factory.mktemp("cache"))
        season = county.current_season
        as_of = county.checkpoints(season)["mid"]
        weather = county.weather()
        fr = featurize(county.fields(season), county.imagery, season, as_of, cache_dir=county.cache_dir,
                       weather=weather)
        plain = featurize(county.fields(season), county.imagery, season, as_of, cache_dir=county.cache_dir)
        apps, book = county.applications(), county.book()
    X = fr.features
    rng = np.random.default_rng(1)
    y = 2.0 + 3.0 * X["feat_NDVI_max"].fillna(0.3).to_numpy() + 0.01 * X["wx_rain_em_mm"].fillna(0).to_numpy() \
        + rng.normal(0, 0.2, len(X))
    model = YieldModel(YieldModelConfig(n_estimators=20, num_leaves=4, min_child_samples=2, calibrate=False)).fit(X, y)
    gov = Governance(crops=tuple(sorted({str(c) for c in X["declared_crop"].dropna()})), regions=(county.region,),
                     checkpoints=("mid", "end"), data="synthetic")
    return {"county": county, "season": season, "as_of": as_of, "features": X, "plain": plain.features,
            "weather": weather, "fr": fr, "apps": apps, "book": book, "model": model, "gov": gov}


def _underwrite(w: dict[str, Any], models: ChampionModels, url: str, **kw: Any) -> Any:
    c: County = w["county"]
    return underwrite(w["apps"], c.fields(w["season"]), w["season"], w["as_of"], imagery=c.imagery,
                      policy=default_policy(), profile=c.profile, book=w["book"], store=url, models=models,
                      cache_dir=c.cache_dir, **kw)


def test_featurize_adds_weather_only_when_given(wx_world: dict[str, Any]) -> None:
    f, plain = wx_world["features"], wx_world["plain"]
    assert all(c in f.columns for c in WEATHER_COLUMNS) and not any(c in plain.columns for c in WEATHER_COLUMNS)
    assert wx_world["fr"].families["weather"].startswith("ok: 12 wx_* columns")
    assert f["wx_rain_em_mm"].notna().any()
    pd.testing.assert_frame_equal(f.drop(columns=list(WEATHER_COLUMNS)), plain)
    assert wx_world["model"].weather_columns  # the model reads them


def test_county_features_use_the_county_weather_unless_told(wx_world: dict[str, Any], tmp_path: Path) -> None:
    c = County(wx_world["county"].path, cache_dir=tmp_path / "c")
    s = c.past_seasons
    with_wx = county_features(c, s, ("mid",))["mid"]
    without = county_features(c, s, ("mid",), county_weather=False)["mid"]  # cache keyed by the weather too
    assert "wx_gdd_em" in with_wx.columns and "wx_gdd_em" not in without.columns
    pd.testing.assert_frame_equal(with_wx.drop(columns=list(WEATHER_COLUMNS)), without)


def test_weather_model_without_weather_is_one_line_user_error(wx_world: dict[str, Any], tmp_path: Path) -> None:
    models = ChampionModels(yield_model=wx_world["model"], yield_version="7", yield_run_id="r", governance=wx_world["gov"])
    with pytest.raises(UserInputError, match=r"^yield-value version 7 reads weather \(12 wx_\* columns\) but no "
                                             r"weather data was given: pass --weather FILE") as e:
        _underwrite(wx_world, models, f"sqlite:///{tmp_path / 'a.db'}")
    assert "\n" not in str(e.value)
    with pytest.raises(UserInputError, match="reads weather"):  # features given without wx: same refusal
        _underwrite(wx_world, models, f"sqlite:///{tmp_path / 'a.db'}", features=wx_world["plain"])


def test_weather_given_or_bound_scores_the_same(wx_world: dict[str, Any], tmp_path: Path) -> None:
    m, wx, gov = wx_world["model"], wx_world["weather"], wx_world["gov"]
    plain_models = ChampionModels(yield_model=m, yield_version="7", yield_run_id="r", governance=gov)
    a = _underwrite(wx_world, plain_models, f"sqlite:///{tmp_path / 'a.db'}",
                    weather=wx_world["county"].weather_path)
    bound = ChampionModels(yield_model=WeatherBoundModel(m, wx), yield_version="7", yield_run_id="r", governance=gov,
                           weather=wx)
    b = _underwrite(wx_world, bound, f"sqlite:///{tmp_path / 'b.db'}", features=wx_world["plain"])
    pd.testing.assert_frame_equal(a.valuations, b.valuations)
    assert "wx_swi_asof" in a.features.columns and "wx_swi_asof" in b.features.columns
    # the bound model adds the weather itself: scoring features without it equals scoring features with it
    X, P = wx_world["features"], wx_world["plain"]
    known = X["declared_crop"].notna().to_numpy()
    kw: dict[str, Any] = {"model_name": "yield-value", "model_version": "7", "governance": gov, "checkpoint": "mid",
                          "currency": "INR"}
    direct = score_fields(m, X[known].reset_index(drop=True), read_prices(), **kw)
    via = score_fields(WeatherBoundModel(m, wx), P[known].reset_index(drop=True), read_prices(), **kw)
    pd.testing.assert_frame_equal(direct, via)
    pd.testing.assert_frame_equal(WeatherBoundModel(m, wx).explain(P.iloc[:3]), m.explain(X.iloc[:3]))


@pytest.fixture
def wx_registry(wx_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A temporary MLflow store holding the weather-reading model as yield-value@champion."""
    uri = f"sqlite:///{tmp_path / 'reg' / 'mlflow.db'}"
    (tmp_path / "reg").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    from models.registry import promote, register

    v = register(wx_world["model"], "yield-value", metrics={"r2": 0.5}, governance=wx_world["gov"], operator="t")
    promote("yield-value", v, operator="t")
    return uri


def test_cli_underwrite_and_value_need_weather(wx_world: dict[str, Any], wx_registry: str, tmp_path: Path) -> None:
    c: County = wx_world["county"]
    feats = tmp_path / "plain.parquet"
    wx_world["plain"].to_parquet(feats, index=False)
    runner = CliRunner()
    uw = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
          str(c.path / "records" / "fields.gpkg"), "--season", wx_world["season"], "--as-of", str(wx_world["as_of"]),
          "--features", str(feats), "--profile", "in-kcc", "--store", f"sqlite:///{tmp_path / 'd.db'}",
          "--no-progress", "--crop-model", "none"]
    r = runner.invoke(app, uw, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and r.stderr.strip().startswith("error: yield-value version 1 reads weather (12 wx_* "
                                                            "columns) but no weather data was given")
    assert len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, [*uw, "--weather", str(c.weather_path)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    assert "yield-value 1" in r.stdout
    bad = tmp_path / "w.csv"
    pd.read_csv(c.weather_path).drop(columns="et0_mm").to_csv(bad, index=False)
    r = runner.invoke(app, [*uw, "--weather", str(bad)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "missing column(s) et0_mm" in r.stderr
    val = ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season",
           wx_world["season"], "--as-of", str(wx_world["as_of"]), "--out", str(tmp_path / "p"), "--crop-model",
           "none", "--chunk-fields", "7", "--cache", str(c.cache_dir)]
    r = runner.invoke(app, val, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "yield-value version 1 reads weather" in r.stderr
    r = runner.invoke(app, [*val, "--weather", str(c.weather_path)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    parts = sorted((tmp_path / "p" / "valuations").glob("part-*.parquet"))
    vals = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True).sort_values("field_id")
    X = wx_world["features"]
    ref = score_fields(wx_world["model"], X[X["declared_crop"].notna()].reset_index(drop=True), read_prices(),
                       model_name="yield-value", model_version="1", governance=wx_world["gov"], checkpoint="mid",
                       currency="INR").sort_values("field_id")
    np.testing.assert_array_equal(vals["value_p50"].to_numpy(), ref["value_p50"].to_numpy())


def test_cli_evaluate_weather_options_conflict(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["evaluate", "yield", "--county", str(tmp_path), "--weather", str(tmp_path / "w.csv"),
                                 "--no-weather"])
    assert r.exit_code == 2 and "give --weather F or --no-weather, not both" in r.stderr


def test_trained_model_records_the_weather_columns_it_reads() -> None:
    from pipelines.train_yield import train_yield

    rng = np.random.default_rng(4)
    rows = []
    for s in range(2010, 2016):
        dry = rng.uniform(0, 1)
        for i in range(40):
            rows.append({"field_id": f"f{i:02d}", "season": str(s), "as_of": pd.Timestamp(f"{s}-10-01"),
                         "region": "us-nebraska", "crop": "maize", "ndvi_max": rng.uniform(0.5, 0.9),
                         "wx_cwb_em_mm": -300 * dry + rng.normal(0, 10)})
    X = pd.DataFrame(rows)
    rep = X[["field_id", "season"]].assign(reported_yield_t_ha=10 - 4 * (X["wx_cwb_em_mm"] < -150) + rng.normal(0, .3,
                                                                                                                len(X)))
    res = train_yield({"end": X}, rep, register=False, config=YieldModelConfig(n_estimators=20, calibration_seasons=2))
    assert res.model.weather_columns == ["wx_cwb_em_mm"]
    assert res.governance.notes.endswith("reads weather: wx_cwb_em_mm")
    plain = train_yield({"end": X.drop(columns="wx_cwb_em_mm")}, rep, register=False,
                        config=YieldModelConfig(n_estimators=20, calibration_seasons=2))
    assert plain.governance.notes.endswith("reads weather: no")


def test_reunderwrite_reads_the_weather_a_weather_model_needs(wx_world: dict[str, Any], tmp_path: Path) -> None:
    from pipelines.reunderwrite import reunderwrite, reunderwrite_county

    c: County = wx_world["county"]
    plain = ChampionModels(yield_model=wx_world["model"], yield_version="7", yield_run_id="r",
                           governance=wx_world["gov"])
    kw: dict[str, Any] = {"season": wx_world["season"], "as_of": wx_world["as_of"], "fields": c.fields(),
                          "imagery": c.imagery, "book": wx_world["book"], "applications": wx_world["apps"],
                          "policy": default_policy(), "profile": c.profile, "cache_dir": c.cache_dir, "models": plain}
    from underwriting.store import DecisionStore

    for name in ("a", "b", "c"):  # re-underwriting follows an existing store (here empty: the Book's lines)
        DecisionStore(f"sqlite:///{tmp_path / f'{name}.db'}").close()
    with pytest.raises(UserInputError, match=r"^yield-value version 7 reads weather \(12 wx_\* columns\)"):
        reunderwrite(store=f"sqlite:///{tmp_path / 'a.db'}", **kw)
    assert DecisionStore(f"sqlite:///{tmp_path / 'a.db'}").records(wx_world["season"]).empty  # nothing written
    given = reunderwrite(store=f"sqlite:///{tmp_path / 'b.db'}", weather=c.weather_path,
                         yield_history=c.history(), **kw)
    assert given.items and given.written == len(given.items)
    # a county run reads the county's weather/daily.csv (and its farm records' yields) by itself: the same decisions
    county = reunderwrite_county(c, wx_world["season"], wx_world["as_of"], store=f"sqlite:///{tmp_path / 'c.db'}",
                                 models=plain)
    assert [i.body for i in county.items] == [i.body for i in given.items]
