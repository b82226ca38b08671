"""``agcredit models performance crop-type``: a season's verified crops against the crop types and probabilities
underwriting read from a features build of a registered crop-type version, beside the declared crop taken as the
answer, the policy's thresholds read against them, and the version's minimum metrics judged — through the real
registry and CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features._calibration import expected_calibration_error
from features._crop_eval import classification_metrics
from pipelines import train_crop
from pipelines.cli import app
from pipelines.crop_outcomes import _row_checkpoints, _weighted_ece, crop_outcome_figures
from pipelines.featurize import LINEAGE_KEY, write_parquet_atomic
from pipelines.train_crop import crop_labels
from tests.features.test_crop_type import _make
from tests.pipelines.test_models_stability import _full
from tests.pipelines.test_train_crop import FAST

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


def _write(frame: pd.DataFrame, path: Path, built: str | None) -> Path:
    """A features file as ``agcredit features build`` writes it: its lineage names the crop model (``built``; None:
    a file without lineage, written by another tool)."""
    meta = None if built is None else {LINEAGE_KEY: json.dumps({"crop_model_version": built})}
    write_parquet_atomic(frame, path, metadata=meta)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A crop-type version trained on the declared crops of seasons 2016–2018 (checkpoints mid = day 120 and end),
    season 2019's features at the end of season built with it, and the season's true crops as verified."""
    root = tmp_path_factory.mktemp("crop-performance")
    uri = f"sqlite:///{root}/mlflow.db"
    series, labels = _make(seed=3)
    train = labels.loc[labels["season"] < "2019"].drop(columns=["true_crop"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        res = train_crop.train_crop_type(series, crop_labels(train), checkpoints={"mid": 120, "end": "end"},
                                         params=FAST)
    fields = labels[labels["season"] == "2019"].reset_index(drop=True)
    pred = res.classifier.predict(series[series["season"] == "2019"], fields.drop(columns=["true_crop"]),
                                  "2019-12-31")
    feats = _full(fields[["field_id", "season", "region", "declared_crop"]].merge(
        pred[["field_id", "crop_type", "crop_type_prob", "declared_crop_prob"]], on="field_id")
        .assign(as_of=pd.Timestamp("2019-12-31"), farmer_token=[f"t{i // 5:03d}" for i in range(len(fields))],
                field_area_ha=2.0, declared_area_ha=2.0))
    built = f"crop-type version {res.version} (champion), run r1"
    _write(feats, root / "f2019.parquet", built)
    verified = fields[["field_id", "season"]].assign(verified_crop=fields["true_crop"])
    verified.to_csv(root / "verified.csv", index=False)
    return {"root": root, "uri": uri, "v": res.version, "feats": feats, "verified": verified, "built": built,
            "truth": fields.set_index("field_id")["true_crop"]}


def _run(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    monkeypatch.setenv("AGCREDIT_EXTRA_CROPS", "wheat")  # the drawn county's third crop, as a bank adds its own
    return CliRunner().invoke(app, ["models", "performance", "crop-type", *args])


def _args(trained: dict[str, Any], features: str = "f2019.parquet", verified: str = "verified.csv") -> list[str]:
    root = trained["root"]
    return ["--features", str(root / features), "--verified", str(root / verified), "--checkpoint", "end"]


def test_the_crop_types_underwriting_read_are_scored_against_the_verified_crops(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from models.registry import training_seasons

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    assert training_seasons("crop-type", trained["v"]) == ["2016", "2017", "2018"]  # logged by the trainer now
    r = _run(trained, monkeypatch, *_args(trained), "--json", "--fail-on-miss")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    f = trained["feats"].sort_values("field_id")
    truth = f["field_id"].map(trained["truth"]).to_numpy()
    m = classification_metrics(truth, f["crop_type"].to_numpy())
    fig = out["figures"]
    assert out["scored"] == 150 and out["checkpoint"] == "end" and out["season"] == "2019"
    assert fig["accuracy"] == pytest.approx(m["accuracy"]) and fig["macro_f1"] == pytest.approx(m["macro_f1"])
    assert fig["recall"] == pytest.approx(m["recall"]) and fig["f1"] == pytest.approx(m["f1"])
    classes = sorted(set(truth) | set(f["crop_type"]))
    probs = np.zeros((len(f), len(classes)))  # the top label's probability is all the top-label ECE reads
    probs[np.arange(len(f)), [classes.index(c) for c in f["crop_type"]]] = f["crop_type_prob"].to_numpy()
    labels = np.array([classes.index(c) for c in truth])
    assert fig["ece"] == pytest.approx(expected_calibration_error(probs, labels))
    declared = f["declared_crop"].to_numpy()
    assert fig["baseline_accuracy"] == pytest.approx(float(np.mean(declared == truth)))
    assert fig["lead"] == pytest.approx(m["accuracy"] - float(np.mean(declared == truth)))
    post = f["declared_crop_prob"].to_numpy()
    prob = f["crop_type_prob"].to_numpy()
    wrong = declared != truth
    correct = f["crop_type"].to_numpy() == truth
    # the default policy's checks, by hand: CROP_MISMATCH below 0.20; CROP_TYPE_UNCERTAIN below 0.80 or a declared
    # field read as another crop (disputed_crop_uncertain) where not CROP_MISMATCH
    mismatch = post < 0.2
    uncertain = (prob < 0.8) | (~mismatch & (f["crop_type"].to_numpy() != declared))
    kept = ~mismatch & ~uncertain
    c = fig["counts"]
    assert c["declared_wrong"] == int(wrong.sum()) > 0 and c["mismatch"] == int(mismatch.sum())
    assert c["uncertain"] == int(uncertain.sum()) and c["kept"] == int(kept.sum()) and c["preseason"] == 0
    assert c["kept_wrong"] == int((kept & ~correct).sum())
    assert fig["kept_right"] == pytest.approx(float(np.mean(correct[kept])))
    assert fig["caught_any"] == pytest.approx(float(np.mean((mismatch | uncertain)[wrong])))
    assert fig["caught_mismatch"] == pytest.approx(float(np.mean(mismatch[wrong])))
    assert fig["confirmed_right"] == pytest.approx(float(np.mean(~wrong[post >= 0.8])))
    assert fig["shares"]["accuracy"] == {"of": 150, "hits": int(correct.sum())}
    assert fig["confusion"]["maize"].get("maize") == int(((truth == "maize") & correct).sum())
    assert 0 < fig["ece_calibrated_floor"] < 0.2 and fig["mean_confidence"] == pytest.approx(float(prob.mean()))
    for k in ("accuracy", "macro_f1", "ece", "baseline_accuracy", "lead", "confirmed_right"):
        lo, hi = fig[f"{k}_ci"]
        assert lo <= fig[k] <= hi or k == "ece", k  # the ECE's resamples are biased up: its point may sit below
    reqs = {q["metric"]: q for q in out["requirements"]}
    assert set(reqs) == {"accuracy_end", "macro_f1_end", "ece_end"}
    assert all(q["judgement"] == "met" for q in reqs.values()) and not out["missed"]
    assert reqs["accuracy_end"]["validated"] is not None and out["data"] == "real"
    pol = out["policy"]
    assert pol["source"].endswith(", every profile alike") and pol["confirmed_reading"] == 0.8
    assert (pol["min_crop_type_prob"], pol["min_declared_crop_prob"], pol["disputed_crop_uncertain"]) == (0.8, 0.2,
                                                                                                         True)
    assert out["true_crop_ece"]["target"] == 0.05
    text = _run(trained, monkeypatch, *_args(trained)).stdout
    assert text.startswith(f"crop-type version {trained['v']}, trained on seasons 2016, 2017, 2018: verified crops "
                           "of season 2019\n")
    assert "verdict: meets the 3 minimum metric(s) measured here" in text
    assert "declared fields: the model " in text and "CROP_MISMATCH declarations wrong: " in text
    assert "(ECE against true crops' validation target <= 0.05, not a gate: " in text
    # the rows in another order print the same report byte for byte
    _write(trained["feats"].iloc[::-1], trained["root"] / "reversed.parquet", trained["built"])
    again = _run(trained, monkeypatch, *_args(trained, features="reversed.parquet"))
    assert again.stdout.replace("reversed.parquet", "f2019.parquet") == text


def test_crops_found_far_from_the_model_miss_its_minimum_metrics_exit_1_only_when_asked(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    v = trained["verified"]
    rot = {"maize": "soybean", "soybean": "wheat", "wheat": "maize"}
    v.assign(verified_crop=v["verified_crop"].map(rot)).to_csv(trained["root"] / "rotated.csv", index=False)
    r = _run(trained, monkeypatch, *_args(trained, verified="rotated.csv"), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["missed"] and out["figures"]["accuracy"] < 0.2
    assert {q["metric"] for q in out["requirements"] if q["judgement"] == "not met"} == {
        "accuracy_end", "macro_f1_end", "ece_end"}
    r = _run(trained, monkeypatch, *_args(trained, verified="rotated.csv"), "--fail-on-miss")
    assert r.exit_code == 1 and "verdict: MISSED on this season's verified crops: accuracy_end" in r.stdout


def test_a_sample_verified_and_a_file_without_lineage_are_said(trained: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    v = trained["verified"]
    v.iloc[:60].to_csv(trained["root"] / "sample.csv", index=False)
    _write(trained["feats"], trained["root"] / "bare.parquet", None)
    r = _run(trained, monkeypatch, *_args(trained, features="bare.parquet", verified="sample.csv"), "--version",
             trained["v"], "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["scored"] == 60 and out["outside"] == {"without a verified crop": 90}
    notes = " ".join(out["notes"])
    assert "taken as version 1's on --version: the file records no crop model" in notes
    assert "a sample of the fields verified" in notes and "under 30 fields verified" in notes


def test_farmers_drawn_whole_widen_the_intervals(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    one = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    five = json.loads(_run(trained, monkeypatch, *_args(trained), "--json", "--interval-by", "farmer").stdout)
    assert one["figures"]["accuracy"] == five["figures"]["accuracy"]
    assert "clustered by farmer (30 groups drawn whole)" in five["interval"]
    assert one["figures"]["accuracy_ci"] != five["figures"]["accuracy_ci"]


def test_a_copy_of_the_version_a_pin_an_alias_and_an_unlearned_crop_are_said(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from models import registry
    from pipelines.featurize import model_folder_digest

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    root, ver = trained["root"], trained["v"]
    got = registry.resolve("crop-type", ver)
    digest = model_folder_digest(registry.model_folder("crop-type", got.version, got.run_id))
    _write(trained["feats"], root / "copy.parquet", f"file {digest}, season scale pinned at 1.5")
    r = _run(trained, monkeypatch, "--features", str(root / "copy.parquet"), "--verified", str(root / "verified.csv"),
             "--checkpoint", "end", "--version", "champion", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    notes = " ".join(json.loads(r.stdout)["notes"])
    assert f"built with a saved copy of version {ver} (the same content, {digest})" in notes
    assert "season scale pinned at 1.5 (--crop-season-scale)" in notes
    # a crop the version cannot answer (sorghum: the engine knows it, the version never learned it) is scored wrong
    v = trained["verified"]
    v.assign(verified_crop=np.where(np.arange(len(v)) < 15, "sorghum", v["verified_crop"])).to_csv(
        root / "sorghum.csv", index=False)
    base = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    out = json.loads(_run(trained, monkeypatch, *_args(trained, verified="sorghum.csv"), "--json").stdout)
    assert out["scored"] == 150 and out["figures"]["support"]["sorghum"] == 15
    assert out["figures"]["recall"]["sorghum"] == 0.0
    assert out["figures"]["accuracy"] < base["figures"]["accuracy"] - 0.05
    assert "15 field(s) verified as crops version 1 cannot answer (sorghum 15): scored wrong" in " ".join(out["notes"])


@pytest.mark.parametrize("case", ["other version", "other registry", "no crop model", "no lineage", "folder", "other folder",
                                  "unknown alias", "in sample", "another region", "missing column", "conflicting rows", "unknown crop",
                                  "name as crop", "vague cell", "season not a year", "blank id", "few", "empty",
                                  "no such season", "no id matches", "reported given", "verified to yield",
                                  "interval condition", "bad checkpoint", "no checkpoint", "other model",
                                  "unknown profile"])
def test_bad_input_is_one_line_exit_2(case: str, trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    root, feats, v = trained["root"], trained["feats"], trained["verified"]
    fpath, vpath = str(root / "f2019.parquet"), str(root / "verified.csv")
    ver = trained["v"]
    args = [*_args(trained)]
    if case in ("other version", "other registry", "no crop model", "folder", "other folder"):
        built = {"other version": f"crop-type version {int(ver) + 1} (champion), run r2", "no crop model": "none",
                 "other registry": f"crop-type version {ver} (champion), run {'f' * 32}",
                 "folder": "file sha256:0123456789abcdef", "other folder": "file sha256:0123456789abcdef"}[case]
        args = ["--features", str(_write(feats, tmp_path / "f.parquet", built)), "--verified", vpath,
                "--checkpoint", "end"]
        if case in ("other version", "other folder"):
            args += ["--version", ver]
    elif case == "no lineage":
        args = ["--features", str(_write(feats, tmp_path / "f.parquet", None)), "--verified", vpath]
    elif case == "unknown alias":
        args += ["--version", "challenger"]
    elif case == "another region":
        args = ["--features", str(_write(feats.assign(region="atlantis"), tmp_path / "f.parquet", trained["built"])),
                "--verified", vpath]
    elif case == "in sample":
        args = ["--features", str(_write(feats.assign(season="2018"), tmp_path / "f.parquet", trained["built"])),
                "--verified", vpath, "--checkpoint", "end"]
    elif case in ("missing column", "conflicting rows", "unknown crop", "name as crop", "vague cell",
                  "season not a year", "blank id", "few", "empty", "no such season", "no id matches"):
        at4 = np.arange(len(v)) == 4
        table = {"missing column": v.rename(columns={"verified_crop": "crop"}),
                 "conflicting rows": pd.concat([v, v.iloc[[3]].assign(verified_crop="fallow")]),
                 "unknown crop": v.assign(verified_crop=np.where(at4, "maiz", v["verified_crop"])),
                 "name as crop": v.assign(verified_crop=np.where(at4, "Asha", v["verified_crop"])),
                 "vague cell": v.assign(verified_crop=np.where(at4, "None", v["verified_crop"])),
                 "season not a year": v.assign(season=np.where(at4, "Asha Devi", v["season"])),
                 "blank id": v.assign(field_id=np.where(at4, " ", v["field_id"])),
                 "few": v.iloc[:29], "empty": v.iloc[:0],
                 "no such season": v.assign(season="2017"),
                 "no id matches": v.assign(field_id=v["field_id"].str.upper())}[case]
        table.to_csv(tmp_path / "v.csv", index=False)
        args = ["--features", fpath, "--verified", str(tmp_path / "v.csv"), "--checkpoint", "end"]
    elif case == "reported given":
        args += ["--reported", vpath]
    elif case == "interval condition":
        args += ["--interval-by", "condition"]
    elif case == "bad checkpoint":
        args[-1] = "harvest"
    elif case == "no checkpoint":
        args = args[:-2]
    elif case == "unknown profile":
        args += ["--profile", "retail"]
    if case == "verified to yield":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
        r = CliRunner().invoke(app, ["models", "performance", "yield-value", "--features", fpath, "--verified", vpath])
    elif case == "other model":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
        r = CliRunner().invoke(app, ["models", "performance", "price-model", "--features", fpath])
    else:
        r = _run(trained, monkeypatch, *args)
    assert r.exit_code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    expect = {"other version": f"built with crop-type version {int(ver) + 1}, not {ver} (version {ver})",
              "other registry": f"built with crop-type version {ver} of another registry (run ffffffffffff…), not "
                                f"this registry's version {ver} (run ",
              "no crop model": "built without a crop-type model (--crop-model none)",
              "no lineage": "the file has no record of its crop model: name the registered crop-type version",
              "folder": "the file has a saved crop-type model folder: name the registered crop-type version",
              "other folder": f"built with a saved crop-type model folder (sha256:0123456789abcdef) that is not "
                              f"version {ver} (sha256:",
              "unknown alias": "has no 'challenger' alias",
              "another region": "the fields are of region atlantis, outside crop-type version 1's region scope (",
              "in sample": "season 2018 is not after the seasons crop-type version 1 trained on (2016, 2017, 2018)",
              "missing column": "missing column(s) verified_crop (1 in all) (expected field_id, season, verified_crop)",
              "conflicting rows": "1 field-season(s) verified twice with different crops, at data rows 4, 151",
              "unknown crop": "verified_crop 'maiz' (did you mean maize?) not a known crop at data row 5 (1 in all)",
              "name as crop": "verified_crop not a known crop at data row 5 (1 in all)",
              "vague cell": "verified_crop reads as no value at data row 5 (1 in all): write fallow for a field found "
                            "with nothing planted",
              "season not a year": "season is not a year (e.g. 2009) at data row 5 (1 in all)",
              "blank id": "blank field_id at data row 5 (1 in all)",
              "few": "29 fields of season 2019 scored by crop-type version 1 at checkpoint end have a verified crop; "
                     "an outcomes analysis needs at least 30",
              "empty": "verified crops file has no rows",
              "no such season": "no verified crop of season 2019 (the file's seasons: 2017)",
              "no id matches": "none of its 150 verified field(s) of season 2019 is in f2019.parquet",
              "reported given": "models performance crop-type: --reported is yield-value's (crop-type reads "
                                "--verified",
              "verified to yield": "models performance yield-value: --verified is crop-type's (yield-value reads "
                                   "--reported",
              "interval condition": "--interval-by: expected field or farmer here",
              "bad checkpoint": "--checkpoint 'harvest': crop-type version 1 was validated at mid, end",
              "no checkpoint": "which checkpoint of crop-type version 1 scored these fields cannot be told here: "
                               "name it with --checkpoint (mid, end)",
              "other model": "outcomes are analysed for yield-value and crop-type only",
              "unknown profile": "no such profile"}[case]
    assert expect in lines[0], lines[0]
    assert "Asha" not in r.stdout + r.stderr


def test_the_weighted_ece_is_the_ece_of_the_rows_repeated() -> None:
    rng = np.random.default_rng(4)
    conf = rng.uniform(0.5, 1.0, 200)
    right = (rng.random(200) < conf).astype(np.float64)
    w = rng.integers(0, 3, (5, 200))
    got = _weighted_ece(conf, right, w)
    for row, g in zip(w, got, strict=True):
        idx = np.repeat(np.arange(200), row)
        probs = np.column_stack([conf[idx], 1 - conf[idx]])
        assert g == pytest.approx(expected_calibration_error(probs, np.where(right[idx] == 1, 0, 1)))
    assert np.isnan(_weighted_ece(conf, right, np.zeros((1, 200)))[0])


def test_the_figures_of_a_tiny_set_by_hand() -> None:
    rows = pd.DataFrame({"true": ["maize", "maize", "rice", "rice"], "pred": ["maize", "rice", "rice", "rice"],
                         "conf": [0.9, 0.85, 0.7, 0.95], "declared": ["maize", "maize", "maize", ""],
                         "dprob": [0.95, 0.1, 0.1, np.nan], "read": True,
                         "mismatch": [False, True, True, False], "uncertain": [False, False, False, False]})
    f = crop_outcome_figures(rows)
    assert f["accuracy"] == 0.75 and f["baseline_accuracy"] == pytest.approx(2 / 3)
    assert f["lead"] == pytest.approx(2 / 3 - 2 / 3)  # on the declared fields: the model 2 of 3, the baseline 2 of 3
    assert f["kept_right"] == 1.0 and f["shares"]["kept_right"] == {"of": 2, "hits": 2}  # the unflagged 0.9, 0.95
    assert f["confirmed_right"] == 1.0 and f["mismatch_wrong"] == 0.5 and f["caught_any"] == 1.0
    # 2 of 2 right: every resample agrees, so the exact binomial interval stands in for the bootstrap's
    assert f["kept_right_ci"][1] == 1.0 and 0.15 < f["kept_right_ci"][0] < 0.16
    assert f["interval_methods"]["kept_right"].startswith("exact binomial")
    assert f["counts"] == {"declared": 3, "declared_wrong": 1, "preseason": 0, "kept": 2, "kept_wrong": 0,
                           "mismatch": 2, "uncertain": 0, "confirmed": 1}
    assert f["confusion"] == {"maize": {"maize": 1, "rice": 1}, "rice": {"rice": 2}}


def test_checkpoints_are_named_from_the_versions_notes_without_a_profile() -> None:
    model = SimpleNamespace(checkpoints_=[78, 123, "end"],
                            checkpoint_for=lambda keys, as_of: [123, "end", None][:len(keys)])
    gov = SimpleNamespace(notes="declared crops of seasons 2003, 2004; checkpoints emergence=78, mid=123, end=end; "
                                "phenology uncalibrated", checkpoints=("emergence", "mid", "end"))
    feats = pd.DataFrame({"field_id": ["a", "b", "c"], "season": "2009", "region": "in-smallholder"})
    assert list(_row_checkpoints(model, None, gov, feats, "2009-10-01")) == ["mid", "end", ""]
    profile = {"checkpoints": {"m": {"model_checkpoint": "d123"}, "e": {"model_checkpoint": "end"}}}
    assert list(_row_checkpoints(model, profile, gov, feats, "2009-10-01")) == ["m", "e", ""]
    assert _row_checkpoints(model, None, SimpleNamespace(notes="", checkpoints=("a", "b")), feats, "x") is None


def test_profiles_that_read_the_fields_apart_are_told_by_the_prices_currency() -> None:
    from features.errors import UserInputError
    from pipelines.crop_outcomes import _policy_reading

    feats = pd.DataFrame({"field_id": ["a", "b"], "season": "2009", "region": "in-smallholder",
                          "growth_stage": None, "declared_crop": "rice", "crop_type": ["rice", "maize"],
                          "crop_type_prob": [0.9, 0.9], "declared_crop_prob": [0.9, 0.1]})
    early = "2009-07-15"  # before the Indian profile's emergence checkpoint (08-31), after the others' (06-30)
    reading, said, th = _policy_reading(feats, early, None, None)
    assert "profile in-kcc (in INR, the currency of the fields' regions' prices)" in said
    assert not reading["read"].any() and th["disputed_crop_uncertain"] is True
    us, said_us, _ = _policy_reading(feats, early, None, "us-operating")
    assert said_us.endswith("profile us-operating") and us["read"].all() and list(us["mismatch"]) == [False, True]
    with pytest.raises(UserInputError, match="its profiles read these fields' crop evidence differently"):
        _policy_reading(feats.assign(region="north"), early, None, None)
    late, said_late, _ = _policy_reading(feats, "2009-12-01", None, None)  # every profile past emergence: alike
    assert said_late.endswith(", every profile alike") and late["read"].all()


def test_a_version_and_a_saved_copy_of_its_folder_are_one_crop_model(trained: dict[str, Any], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What the impact compares crop models by (``crop_model_key``): a registry version and a copy of its folder saved
    elsewhere are one model; another version's description is not."""
    import shutil

    from models import registry
    from pipelines.featurize import crop_model_key, load_crop_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    got = registry.resolve("crop-type", trained["v"])
    copy = tmp_path / "saved-model"
    shutil.copytree(registry.model_folder("crop-type", got.version, got.run_id), copy)
    _, as_version = load_crop_model(trained["v"])
    _, as_folder = load_crop_model(str(copy))
    assert as_version.startswith(f"crop-type version {trained['v']} (") and as_folder.startswith("file sha256:")
    assert crop_model_key(as_version) == crop_model_key(as_folder) == as_folder.removeprefix("file ")
    assert crop_model_key("crop-type version 99 (x), run nope") == "crop-type version 99"  # no local copy: by name
    assert crop_model_key("none") == "none"
