"""``agcredit models performance``: a season's reported yields against a registered yield-value version's
P10/P50/P90, beside naive baselines from the same file's earlier seasons, and the version's minimum metrics judged on
the outcomes — through the real registry and CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.evaluation import yield_metrics
from pipelines import train_yield
from pipelines.cli import app
from pipelines.outcomes import _requirement_figure, judge, outcome_figures
from tests.pipelines.test_models_stability import _full
from tests.pipelines.test_train_yield import FAST, synth_features

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)

CROPS = {f"f{i:03d}": c for i, c in enumerate(np.random.default_rng(0).choice(["maize", "soybean"], 100))}


def _history(rep: pd.DataFrame) -> pd.DataFrame:
    """Reported yields of seasons 2011–2015 as farm records hold them: with each field's declared crop (those
    seasons' draw)."""
    return rep.assign(declared_crop=rep["field_id"].map(CROPS))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A yield-value version trained on seasons 2011–2015, and season 2016 drawn alike: its features as of mid and
    end of season, its reported yields beside the training seasons' in one records file."""
    root = tmp_path_factory.mktemp("outcomes")
    (root / "reg").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/reg/mlflow.db")
        feats, rep = synth_features()
        res = train_yield.train_yield({cp: _full(f) for cp, f in feats.items()}, rep, data="synthetic", config=FAST,
                                      operator="tester", promote=False)
    new, new_rep = synth_features(seasons=("2016",), seed=9)
    for cp in ("mid", "end"):
        _full(new[cp]).to_parquet(root / f"f2016_{cp}.parquet")
    _full(feats["end"][feats["end"]["season"] == "2015"]).to_parquet(root / "f2015_end.parquet")
    crops_2016 = new["end"].set_index("field_id")["declared_crop"]
    hist = pd.concat([_history(rep), new_rep.assign(declared_crop=new_rep["field_id"].map(crops_2016))],
                     ignore_index=True)
    hist.to_csv(root / "history.csv", index=False)
    # a season whose harvest came in far under the model's figures (a flood after the features' date)
    low = hist.assign(reported_yield_t_ha=np.where(hist["season"] == "2016", hist["reported_yield_t_ha"] * 0.5,
                                                   hist["reported_yield_t_ha"]))
    low.to_csv(root / "flooded.csv", index=False)
    hist.drop(columns="declared_crop").to_csv(root / "no_crop.csv", index=False)
    hist[hist["season"] == "2016"].to_csv(root / "only_2016.csv", index=False)
    return {"root": root, "uri": f"sqlite:///{root}/reg/mlflow.db", "v": res.version, "feats": new, "rep": new_rep,
            "hist": hist}


def _run(trained: dict, monkeypatch: pytest.MonkeyPatch, *args: str) -> object:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    return CliRunner().invoke(app, ["models", "performance", *args])


def _args(trained: dict, cp: str = "end", reported: str = "history.csv") -> list[str]:
    root = trained["root"]
    return ["--features", str(root / f"f2016_{cp}.parquet"), "--reported", str(root / reported), "--checkpoint", cp,
            "--version", trained["v"]]


def test_a_season_like_the_training_ones_meets_the_version_minimum_metrics(trained: dict,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    r = _run(trained, monkeypatch, *_args(trained))
    assert r.exit_code == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith("yield-value version 1, trained on seasons 2011, 2012, 2013, 2014, 2015: "
                          "outcomes of season 2016 — SYNTHETIC data")
    n = int(trained["rep"]["reported_yield_t_ha"].notna().sum())
    assert f"{n} fields scored, {100 - n} without a reported yield" in out
    assert "naive baselines: each crop's mean reported yield over seasons 2011, 2012, 2013, 2014, 2015" in out
    assert {ln.split()[0] for ln in out.splitlines() if ln.split()[:1] in (["all"], ["maize"], ["soybean"])} == {
        "all", "maize", "soybean"}
    assert "r2_maize >= " in out and "held out at registration" in out and "NOT MET" not in out
    assert out.splitlines()[-2].startswith("verdict: ")
    assert "percentile bootstrap over scored fields (2,000 resamples" in out


def test_a_harvest_far_under_the_model_misses_its_minimum_metrics_and_exits_1(trained: dict,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    r = _run(trained, monkeypatch, *_args(trained, reported="flooded.csv"), "--json")
    assert r.exit_code == 1, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["failed"] and out["verdict"].startswith("NOT MET on these outcomes: ")
    fig = {f["crop"]: f for f in out["figures"]}
    assert fig["all"]["bias_pct"] > 80  # P50 about twice the reported yields
    assert fig["all"]["above_p90"] == 0 and fig["all"]["below_p10"] > 0.9
    missed = {q["metric"] for q in out["requirements"] if q["judgement"] == "not met"}
    assert {"below_p10_max_all", "r2_maize"} & missed or missed, out["requirements"]
    assert "below_p10_max_all" in missed or "below_p10_all" in missed


def test_figures_are_the_held_out_evaluation_figures_and_the_report_is_byte_identical(
        trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _run(trained, monkeypatch, *_args(trained, "mid"), "--json")
    b = _run(trained, monkeypatch, *_args(trained, "mid"), "--json")
    assert a.exit_code in (0, 1) and a.stdout == b.stdout
    out = json.loads(a.stdout)
    assert out["checkpoint"] == "mid" and out["season"] == "2016" and out["training_seasons"] == [
        "2011", "2012", "2013", "2014", "2015"]
    # recomputed here from the version's own quantiles: the same figures as models.evaluation.yield_metrics
    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    model = registry.resolve("yield-value", trained["v"]).model
    f = trained["feats"]["mid"]
    y = f["field_id"].map(trained["rep"].set_index("field_id")["reported_yield_t_ha"]).to_numpy(dtype=float)
    ok = np.isfinite(y)
    q = model.predict_quantiles(_full(f[ok])).to_numpy()
    m = yield_metrics(y[ok], q[:, 1], q[:, 0], q[:, 2])
    got = next(x for x in out["figures"] if x["crop"] == "all")
    assert got["n"] == ok.sum()
    for k in ("r2", "rmse", "rmse_pct", "below_p10", "above_p90"):
        assert got[k] == pytest.approx(m[k], rel=1e-12), k
    assert got["rmse_pct_lo"] <= got["rmse_pct"] <= got["rmse_pct_hi"]


def test_the_naive_baselines_come_from_the_file_seasons_before_the_scored_one(trained: dict,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    r = _run(trained, monkeypatch, *_args(trained), "--json")
    out = json.loads(r.stdout)
    assert out["baseline_seasons"] == ["2011", "2012", "2013", "2014", "2015"]
    hist = trained["hist"]
    past = hist[hist["season"] != "2016"].dropna(subset=["reported_yield_t_ha"])
    crop_mean = past.groupby("declared_crop")["reported_yield_t_ha"].mean()
    rep = trained["rep"].dropna(subset=["reported_yield_t_ha"])
    mz = rep[rep["field_id"].map(trained["feats"]["end"].set_index("field_id")["declared_crop"]) == "maize"]
    base = yield_metrics(mz["reported_yield_t_ha"].to_numpy(), np.full(len(mz), crop_mean["maize"]))
    got = next(x for x in out["figures"] if x["crop"] == "maize")
    assert got["naive_crop_mean_rmse_pct"] == pytest.approx(base["rmse_pct"], rel=1e-12)
    assert got["skill_r2"] == pytest.approx(got["r2"] - base["r2"], rel=1e-12)
    # without the declared crops (or without an earlier season) there is no baseline: skill is not measured, said
    for name in ("no_crop.csv", "only_2016.csv"):
        r = _run(trained, monkeypatch, *_args(trained, reported=name), "--json")
        out = json.loads(r.stdout)
        assert out["baseline_seasons"] == [] and any("no naive baseline" in n for n in out["notes"])
        skill = [q for q in out["requirements"] if q["metric"].startswith("skill_r2")]
        assert all(q["judgement"] == "not measured" for q in skill)


@pytest.mark.parametrize("case", ["in sample", "no checkpoint", "bad checkpoint", "few rows", "crop-type",
                                  "interval condition", "missing reported", "two dates",
                                  "season not a year"])
def test_what_cannot_be_analysed_is_one_line_and_exit_2(case: str, trained: dict, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path) -> None:
    root = trained["root"]
    end = str(root / "f2016_end.parquet")
    hist = str(root / "history.csv")
    few = trained["hist"][(trained["hist"]["season"] != "2016") | trained["hist"]["field_id"].isin(
        [f"f{i:03d}" for i in range(20)])]
    few.to_csv(tmp_path / "few.csv", index=False)
    mid = pd.read_parquet(root / "f2016_mid.parquet")
    both = pd.concat([pd.read_parquet(end), mid.assign(field_id=mid["field_id"] + "b")])
    both.to_parquet(tmp_path / "both.parquet")
    pd.read_parquet(end).assign(season="Asha Devi").to_parquet(tmp_path / "named.parquet")
    args = {"in sample": ["--features", str(root / "f2015_end.parquet"), "--reported", hist, "--checkpoint", "end", "--version", "1"],
            "no checkpoint": ["--features", end, "--reported", hist, "--version", "1"],
            "bad checkpoint": ["--features", end, "--reported", hist, "--checkpoint", "harvest", "--version", "1"],
            "few rows": ["--features", end, "--reported", str(tmp_path / "few.csv"), "--checkpoint", "end", "--version", "1"],
            "crop-type": ["crop-type", "--features", end, "--reported", hist, "--checkpoint", "end", "--version", "1"],
            "interval condition": [*_args(trained), "--interval-by", "condition"],
            "missing reported": ["--features", end, "--reported", str(tmp_path / "nope.csv"), "--checkpoint", "end", "--version", "1"],
            "two dates": ["--features", str(tmp_path / "both.parquet"), "--reported", hist, "--checkpoint", "end", "--version", "1"],
            "season not a year": ["--features", str(tmp_path / "named.parquet"), "--reported", hist, "--version", "1"]}[case]
    r = _run(trained, monkeypatch, *args)
    assert r.exit_code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    expect = {"in sample": "season 2015 is one yield-value version 1 trained on (2011, 2012, 2013, 2014, 2015): its "
                           "outcomes there are in sample",
              "no checkpoint": "records no checkpoint dates: name the checkpoint",
              "bad checkpoint": "--checkpoint 'harvest': yield-value version 1 was validated at end, mid",
              "few rows": "an outcomes analysis needs at least 30",
              "crop-type": "outcomes are analysed for yield-value only",
              "interval condition": "--interval-by: expected field or farmer here",
              "missing reported": "reported yields file not found",
              "two dates": "holds rows as of 2 dates",
              "season not a year": "holds season(s) 1 value(s), not all years"}[case]
    assert expect in lines[0], lines[0]
    assert "Asha" not in r.stdout + r.stderr


def test_farmers_drawn_whole_widen_the_intervals_only_when_they_hold_several_fields(
        trained: dict, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    field = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    one = json.loads(_run(trained, monkeypatch, *_args(trained), "--interval-by", "farmer", "--json").stdout)
    # every farmer has one field here: drawing farmers whole is drawing fields (the same draws, the same intervals)
    assert one["figures"] == field["figures"] and "clustered by farmer (" in one["interval"]
    f = pd.read_parquet(trained["root"] / "f2016_end.parquet")
    f.assign(farmer_token=[f"t{i // 10:02d}" for i in range(len(f))]).to_parquet(tmp_path / "ten.parquet")
    ten = json.loads(_run(trained, monkeypatch, "--features", str(tmp_path / "ten.parquet"), "--reported",
                          str(trained["root"] / "history.csv"), "--checkpoint", "end", "--interval-by", "farmer",
                          "--version", "1", "--json").stdout)
    a, b = (next(x for x in d["figures"] if x["crop"] == "all") for d in (field, ten))
    assert a["rmse_pct"] == b["rmse_pct"] and a["rmse_pct_lo"] != b["rmse_pct_lo"]


def test_judge_reads_the_whole_interval() -> None:
    assert judge(">=", 0.45, 0.46, 0.60) == "met"
    assert judge(">=", 0.45, 0.45, 0.60) == "met"  # a bound exactly at the threshold meets it
    assert judge(">=", 0.45, 0.30, 0.44) == "not met"
    assert judge(">=", 0.45, 0.40, 0.50) == "interval straddles"
    assert judge("<=", 0.13, 0.05, 0.13) == "met"
    assert judge("<=", 0.13, 0.14, 0.20) == "not met"
    assert judge("<=", 0.13, 0.10, 0.20) == "interval straddles"
    assert judge("<=", 0.13, float("nan"), 0.2) == "not measured"


def test_a_minimum_metric_names_the_figure_it_reads() -> None:
    crops = ["maize", "winter_wheat", "wheat"]
    assert _requirement_figure("r2_maize", crops) == ("r2", "maize")
    assert _requirement_figure("below_p10_min_all", crops) == ("below_p10", "all")  # one season: its own share
    assert _requirement_figure("above_p90_max_all", crops) == ("above_p90", "all")
    assert _requirement_figure("rmse_pct_winter_wheat", crops) == ("rmse_pct", "winter_wheat")  # not "winter" + wheat
    assert _requirement_figure("skill_r2_wheat", crops) == ("skill_r2", "wheat")
    assert _requirement_figure("accuracy_mid", crops) is None
    assert _requirement_figure("r2_rice", crops) is None  # a crop not scored here and not in the version


def test_outcome_figures_of_a_perfect_and_a_biased_model() -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(2, 10, 200)
    rows = pd.DataFrame({"crop": np.where(np.arange(200) % 2, "maize", "soybean"), "reported": y, "p10": y - 1,
                         "p50": y, "p90": y + 1, "crop_mean": np.full(200, y.mean()), "field_mean": y + 0.5})
    t = outcome_figures(rows).set_index("crop")
    assert list(t.index) == ["all", "maize", "soybean"] and t.at["all", "n"] == 200
    assert t.at["all", "rmse"] == 0 and t.at["all", "r2"] == 1 and t.at["all", "bias_pct"] == 0
    assert t.at["all", "below_p10"] == 0 and t.at["all", "above_p90"] == 0
    assert t.at["all", "naive_field_mean_rmse_pct"] == pytest.approx(100 * 0.5 / y.mean())
    assert t.at["all", "skill_r2"] == pytest.approx(1 - t.at["all", "naive_crop_mean_r2"])
    biased = outcome_figures(rows.assign(p10=y * 1.1, p50=y * 1.2, p90=y * 1.3)).set_index("crop")
    assert biased.at["all", "bias_pct"] == pytest.approx(20.0) and biased.at["all", "below_p10"] == 1.0
    assert biased.at["all", "bias_pct_lo"] == pytest.approx(20.0) and biased.at["all", "bias_pct_hi"] == pytest.approx(
        20.0)
