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
    r = _run(trained, monkeypatch, *_args(trained), "--fail-on-miss")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = r.stdout
    lines = out.splitlines()
    assert out.startswith("yield-value version 1, trained on seasons 2011, 2012, 2013, 2014, 2015: "
                          "outcomes of season 2016 — SYNTHETIC data")
    n = int(trained["rep"]["reported_yield_t_ha"].notna().sum())
    assert f"{n} fields scored, {100 - n} without a reported yield" in out
    assert "naive baselines: each crop's mean reported yield over seasons 2011, 2012, 2013, 2014, 2015" in out
    assert {ln.split()[0] for ln in lines if ln.split()[:1] in (["all"], ["maize"], ["soybean"])} == {
        "all", "maize", "soybean"}
    req = [ln for ln in lines if ln.startswith("  skill_r2_maize >= -0.05: ")]
    assert len(req) == 1 and req[0].endswith(" — met") and "; held out at registration 0." in req[0]
    # the version failed a minimum metric at registration (a challenger): said, not "promoted on"
    assert "(as registered; at registration it missed: above_p90_all >= 0.03" in out
    verdict = next(ln for ln in lines if ln.startswith("verdict: "))
    assert verdict.startswith("verdict: no minimum metric missed for certain: 4 of 6 measured met (interval "
                              "straddles: below_p10_all, above_p90_all)"), verdict
    assert "percentile bootstrap over scored fields (2,000 resamples" in out
    assert f"note: {100 - n} field(s) in scope without a reported yield are not scored" in out


def test_a_harvest_far_under_the_model_is_a_miss_exit_1_only_when_asked(trained: dict,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    r = _run(trained, monkeypatch, *_args(trained, reported="flooded.csv"), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr  # a report by default: one season can miss by chance
    out = json.loads(r.stdout)
    assert out["missed"] and out["verdict"].startswith("MISSED on this season's outcomes: ")
    fig = {f["crop"]: f for f in out["figures"]}
    assert fig["all"]["bias_pct"] > 80  # P50 about twice the reported yields
    assert fig["all"]["above_p90"] == 0 and fig["all"]["below_p10"] > 0.9
    missed = {q["metric"] for q in out["requirements"] if q["judgement"] == "not met"}
    assert {"below_p10_all", "above_p90_all"} <= missed, out["requirements"]
    r = _run(trained, monkeypatch, *_args(trained, reported="flooded.csv"), "--fail-on-miss")
    assert r.exit_code == 1, r.stdout + r.stderr
    verdict = next(ln for ln in r.stdout.splitlines() if ln.startswith("verdict: "))
    assert verdict.startswith("verdict: MISSED on this season's outcomes: ") and "below_p10_all" in verdict


def test_mid_season_rows_are_gated_by_the_mid_minimum_metrics_the_end_ones_for_reference(
        trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version's unnamed minimum metrics gate its first checkpoint (end): a mid-season analysis shows them, with
    the mid-season held-out values, for reference only; its mid minimum metrics (``mid_…``) gate mid, so a
    harvest far under the model misses them (tests/pipelines/test_yield_checkpoint_gates.py: a version registered
    with end-of-season minimum metrics only)."""
    r = _run(trained, monkeypatch, *_args(trained, "mid", reported="flooded.csv"), "--fail-on-miss", "--json")
    assert r.exit_code == 1, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["missed"] and out["verdict"].startswith("MISSED on this season's outcomes: mid_below_p10_all, ")
    end = [q for q in out["requirements"] if not q["metric"].startswith("mid_")]
    assert len(end) == 6 and all(not q["gated"] and q["gated_at"] == "end" for q in end)
    assert all(q["gated"] and q["gated_at"] == "mid" for q in out["requirements"] if q not in end)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    from models import registry

    held = registry.governance("yield-value", trained["v"]).metrics
    q = next(q for q in out["requirements"] if q["metric"] == "skill_r2_maize")
    assert q["validated"] == pytest.approx(held["mid_skill_r2_maize"]) != pytest.approx(held["skill_r2_maize"])
    # the text names the value's metric: it is not skill_r2_maize's own (a walkthrough read the card's 0.107 against
    # the line's 0.027 under the name skill_r2_maize)
    text = _run(trained, monkeypatch, *_args(trained, "mid", reported="flooded.csv")).stdout
    line = next(x for x in text.splitlines() if x.strip().startswith("skill_r2_maize "))
    assert f"; held out at registration (mid_skill_r2_maize) {held['mid_skill_r2_maize']:.3f} — " in line


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
                                  "interval condition", "missing reported", "two dates", "two dates, one field each",
                                  "season not a year", "before training", "conflicting rows", "no such season",
                                  "another region", "another region, checkpoint named"])
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
    # two builds of the same fields joined (a walkthrough): said as two dates, not as fields repeated
    pd.concat([pd.read_parquet(end), mid]).to_parquet(tmp_path / "same.parquet")
    pd.read_parquet(end).assign(season="Asha Devi").to_parquet(tmp_path / "named.parquet")
    pd.read_parquet(end).assign(season="2010").to_parquet(tmp_path / "f2010.parquet")
    h = trained["hist"]
    row = h[(h["season"] == "2016") & h["reported_yield_t_ha"].notna()].head(1)
    pd.concat([h, row.assign(reported_yield_t_ha=row["reported_yield_t_ha"] * 0.1)]).to_csv(tmp_path / "conflict.csv",
                                                                                             index=False)
    h[h["season"] != "2016"].to_csv(tmp_path / "past.csv", index=False)
    # a us-nebraska review: another region's fields were told as reaching no checkpoint, or as too few in scope
    pd.read_parquet(end).assign(region="in-smallholder").to_parquet(tmp_path / "region.parquet")
    args = {"in sample": ["--features", str(root / "f2015_end.parquet"), "--reported", hist, "--checkpoint", "end", "--version", "1"],
            "no checkpoint": ["--features", end, "--reported", hist, "--version", "1"],
            "bad checkpoint": ["--features", end, "--reported", hist, "--checkpoint", "harvest", "--version", "1"],
            "few rows": ["--features", end, "--reported", str(tmp_path / "few.csv"), "--checkpoint", "end", "--version", "1"],
            "crop-type": ["crop-type", "--features", end, "--reported", hist, "--checkpoint", "end", "--version", "1"],
            "interval condition": [*_args(trained), "--interval-by", "condition"],
            "missing reported": ["--features", end, "--reported", str(tmp_path / "nope.csv"), "--checkpoint", "end", "--version", "1"],
            "two dates": ["--features", str(tmp_path / "both.parquet"), "--reported", hist, "--checkpoint", "end", "--version", "1"],
            "two dates, one field each": ["--features", str(tmp_path / "same.parquet"), "--reported", hist,
                                          "--checkpoint", "end", "--version", "1"],
            "season not a year": ["--features", str(tmp_path / "named.parquet"), "--reported", hist, "--version", "1"],
            "before training": ["--features", str(tmp_path / "f2010.parquet"), "--reported", hist, "--version", "1",
                                "--checkpoint", "end"],
            "conflicting rows": ["--features", end, "--reported", str(tmp_path / "conflict.csv"), "--version", "1",
                                 "--checkpoint", "end"],
            "no such season": ["--features", end, "--reported", str(tmp_path / "past.csv"), "--version", "1",
                               "--checkpoint", "end"],
            "another region": ["--features", str(tmp_path / "region.parquet"), "--reported", hist, "--version", "1"],
            "another region, checkpoint named": ["--features", str(tmp_path / "region.parquet"), "--reported", hist,
                                                 "--version", "1", "--checkpoint", "end"]}[case]
    r = _run(trained, monkeypatch, *args)
    assert r.exit_code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr
    expect = {"in sample": "season 2015 is not after the seasons yield-value version 1 trained on (2011, 2012, 2013, "
                           "2014, 2015): its outcomes there are in sample, or scored by a model that learned from later "
                           "seasons",
              "before training": "season 2010 is not after the seasons yield-value version 1 trained on",
              "conflicting rows": "1 field-season(s) reported twice with different yields or crops, at data rows ",
              "no such season": "no reported yield of season 2016 (the file's seasons: 2011, 2012, 2013, 2014, 2015)",
              "no checkpoint": "records no checkpoint dates: name the checkpoint",
              "bad checkpoint": "--checkpoint 'harvest': yield-value version 1 was validated at end, mid",
              "few rows": "an outcomes analysis needs at least 30",
              "crop-type": "models performance crop-type: --reported is yield-value's (crop-type reads --verified",
              "interval condition": "--interval-by: expected field or farmer here",
              "missing reported": "reported yields file not found",
              "two dates": "holds rows as of 2 dates",
              "two dates, one field each": "same.parquet: features file holds rows as of 2 dates",
              "season not a year": "holds season(s) 1 value(s), not all years",
              "another region": "region.parquet: the fields are of region in-smallholder, outside yield-value "
                                "version 1's region scope (us-nebraska): it values none of them",
              "another region, checkpoint named": "the fields are of region in-smallholder, outside yield-value "
                                                  "version 1's region scope (us-nebraska)"}[case]
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


def test_seasons_written_as_numbers_repeats_and_row_order_read_alike(trained: dict, monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path) -> None:
    """A spreadsheet's 2016.0 and " 2016", a row repeated as it was, and the features in another order give the same
    analysis (the fields are drawn in field-id order); the repeat is said."""
    base = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    h = trained["hist"]
    odd = h.assign(season=[f"{s}.0" if i % 2 else f" {s}" for i, s in enumerate(h["season"])])
    pd.concat([odd, odd.tail(3)]).to_csv(tmp_path / "odd.csv", index=False)
    f = pd.read_parquet(trained["root"] / "f2016_end.parquet")
    f.sample(frac=1.0, random_state=4).to_parquet(tmp_path / "shuffled.parquet")
    r = _run(trained, monkeypatch, "--features", str(tmp_path / "shuffled.parquet"), "--reported",
             str(tmp_path / "odd.csv"), "--checkpoint", "end", "--version", "1", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got["figures"] == base["figures"] and got["requirements"] == base["requirements"]
    assert any(n.startswith("3 repeated row(s) of the reported yields file") for n in got["notes"])


def test_fields_outside_the_version_scope_are_counted_not_scored(trained: dict, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path) -> None:
    f = pd.read_parquet(trained["root"] / "f2016_end.parquet")
    f.loc[:9, "region"] = "in-smallholder"
    f.loc[10:14, "declared_crop"] = "rice"
    col = "crop" if "crop" in f.columns else "crop_type" if "crop_type" in f.columns else "declared_crop"
    f.loc[15:17, col] = "fallow"  # read as fallow: no crop it never learned (a walkthrough counted 31 so)
    f.to_parquet(tmp_path / "mixed.parquet")
    base = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    got = json.loads(_run(trained, monkeypatch, "--features", str(tmp_path / "mixed.parquet"), "--reported",
                          str(trained["root"] / "history.csv"), "--checkpoint", "end", "--version", "1",
                          "--json").stdout)
    assert got["outside"] == {"fallow or no crop": 3, "crops it never learned": 5, "regions outside its scope": 10}
    rep = trained["rep"].set_index("field_id")["reported_yield_t_ha"]
    dropped = int(rep.reindex(f["field_id"].iloc[:18]).notna().sum())
    assert got["scored"] == base["scored"] - dropped


def test_the_baselines_read_the_declared_crop_and_the_field_own_history() -> None:
    """What the bank knew: a field the model took for soybean but declared maize is compared with maize's mean; a
    field with its own past yields of that crop with its own mean, others with the crop's."""
    from pipelines.outcomes import _baselines

    hist = pd.DataFrame({"field_id": ["a", "a", "b", "c", "a"], "season": ["2014", "2015", "2015", "2015", "2016"],
                         "declared_crop": ["maize", "maize", "maize", "soybean", "maize"],
                         "reported_yield_t_ha": [8.0, 10.0, 12.0, 3.0, 1.0]})
    scored = pd.DataFrame({"field_id": ["a", "b", "d"], "crop": ["soybean", "maize", "maize"],
                           "declared": ["maize", "maize", "maize"]})
    cm, fm, seasons = _baselines(scored, hist, "2016")
    assert seasons == ["2014", "2015"]  # 2016's own reports never feed its baseline
    assert list(cm) == [10.0, 10.0, 10.0]  # maize's mean of 8, 10, 12 — not soybean's 3 for the field taken for it
    assert list(fm) == [9.0, 12.0, 10.0]  # a's own 8 and 10; b's own 12; d has none: the crop's mean


def test_requirements_named_for_a_checkpoint_gate_it_and_read_its_held_out_values() -> None:
    from models.governance import Governance, Requirement
    from pipelines.outcomes import _requirements

    gov = Governance(crops=("maize",), regions=("r",), checkpoints=("end", "mid"),
                     metrics={"skill_r2_maize": 0.2, "mid_skill_r2_maize": 0.1, "mid_below_p10_all": 0.08,
                              "below_p10_all": 0.12},
                     minimum_metrics=(Requirement("skill_r2_maize", ">=", -0.05),
                                      Requirement("mid_skill_r2_maize", ">=", 0.0),
                                      Requirement("mid_below_p10_all", "<=", 0.2),
                                      Requirement("accuracy_mid", ">=", 0.6)))
    by = pd.DataFrame([{"crop": c, **{f"{k}{x}": v for k in ("skill_r2", "below_p10") for x, v in
                                     (("", 0.05), ("_lo", 0.01), ("_hi", 0.09))}} for c in ("all", "maize")]
                      ).set_index("crop")
    mid = {r["metric"]: r for r in _requirements(gov, "mid", by)}
    assert set(mid) == {"skill_r2_maize", "mid_skill_r2_maize", "mid_below_p10_all"}
    assert mid["mid_skill_r2_maize"]["gated"] and mid["mid_skill_r2_maize"]["validated"] == 0.1
    assert mid["mid_skill_r2_maize"]["judgement"] == "met" and mid["mid_below_p10_all"]["validated"] == 0.08
    assert not mid["skill_r2_maize"]["gated"] and mid["skill_r2_maize"]["validated"] == 0.1  # mid's held-out value
    end = {r["metric"]: r for r in _requirements(gov, "end", by)}
    assert set(end) == {"skill_r2_maize"} and end["skill_r2_maize"]["gated"]
    assert end["skill_r2_maize"]["validated"] == 0.2


def test_a_name_typed_in_a_reported_row_is_never_quoted(tmp_path) -> None:
    from features.errors import UserInputError
    from pipelines.train_yield import read_reported

    p = tmp_path / "r.csv"
    pd.DataFrame({"field_id": ["F1", "F2", "Asha Devi"], "season": ["2008", "Asha Devi", "2008"],
                  "reported_yield_t_ha": ["3.0", "x", "-1"]}).to_csv(p, index=False)
    with pytest.raises(UserInputError) as e:
        read_reported(p)
    assert "found other values at data row 2 (1 in all)" in str(e.value) and "Asha" not in str(e.value)
    pd.DataFrame({"field_id": ["F1", "Asha Devi"], "season": ["2008", "2008"],
                  "reported_yield_t_ha": ["3.0", "-1"]}).to_csv(p, index=False)
    with pytest.raises(UserInputError) as e:
        read_reported(p)
    assert "must not be negative, found data row 2" in str(e.value) and "Asha" not in str(e.value)


def test_a_phone_or_kg_typed_as_a_reported_yield_is_refused_not_averaged(tmp_path) -> None:
    """A phone number in a reported yield cell was read as 9,876,543,210 t/ha: the outcomes report printed a mean
    yield of 2,345 t/ha and an error of 51 million t/ha, exit 0 even with --fail-on-miss (a walkthrough). Above
    200 t/ha is no crop's yield: refused, naming the row, never the value; 200 itself is taken."""
    from features.errors import UserInputError
    from pipelines.train_yield import read_reported

    p = tmp_path / "r.csv"
    pd.DataFrame({"field_id": ["F1", "F2", "F3"], "season": ["2008"] * 3,
                  "reported_yield_t_ha": ["3.0", "9876543210", "8500"]}).to_csv(p, index=False)
    with pytest.raises(UserInputError) as e:
        read_reported(p)
    msg = str(e.value)
    assert "reported_yield_t_ha above 200 t/ha is no crop's yield" in msg and "at F2/2008, F3/2008" in msg, msg
    assert "9876543210" not in msg and "8500" not in msg
    pd.DataFrame({"field_id": ["F1"], "season": ["2008"], "reported_yield_t_ha": ["200"]}).to_csv(p, index=False)
    assert read_reported(p)["reported_yield_t_ha"].tolist() == [200.0]


def test_crops_learned_outside_the_version_scope_are_counted_not_scored(trained: dict,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A us-nebraska review: a version that learned sorghum and winter wheat but is validated on maize and soybean
    only (underwriting refers the others OUT_OF_MODEL_SCOPE) scored them — sorghum's R² −19.3 in the "all" row and the
    _all gates. Only the crops of its scope are scored; the others are counted apart and named in a note."""
    import dataclasses

    from models import registry

    base = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    real = registry.governance
    monkeypatch.setattr(registry, "governance",
                        lambda name, v: dataclasses.replace(real(name, v), crops=("maize",)))  # soybean learned only
    got = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    rows = {r["crop"]: r for r in got["figures"]}
    before = {r["crop"]: r for r in base["figures"]}
    assert set(rows) == {"all", "maize"} and rows["all"]["n"] == rows["maize"]["n"] == before["maize"]["n"]
    assert got["scored"] == before["maize"]["n"]
    soy = int((pd.read_parquet(trained["root"] / "f2016_end.parquet")["declared_crop"] == "soybean").sum())
    assert got["outside"]["crops outside its scope"] == soy and "crops outside its scope" not in base["outside"]
    assert any(n.startswith(f"{soy} field(s) of crops yield-value version 1 learned but is not validated for (its "
                            "scope: maize) are not scored") and n.endswith(f": soybean ({soy})") for n in got["notes"])
