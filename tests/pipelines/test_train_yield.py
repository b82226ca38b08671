"""Training the yield-value model on a county / on tables: features, reported yields, registry, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features._phenology_calib import Calibration
from features.errors import UserInputError
from models.yield_value import YieldModelConfig
from pipelines import train_yield
from pipelines.cli import app
from pipelines.train_yield import (
    TrainResult,
    county_features,
    read_reported,
    train_yield_files,
    yield_minimum_metrics,
    yield_training_table,
)

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)
FAST = YieldModelConfig(n_estimators=40, learning_rate=0.2, calibration_seasons=3, min_crop_calibration_rows=20)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/reg/mlflow.db")
    (tmp_path / "reg").mkdir()
    return tmp_path / "reg"


@pytest.fixture(scope="module")
def tiny_features(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, dict]:
    from pipelines.county import County

    with pytest.MonkeyPatch.context() as mp:  # module scope: the autouse per-test key is not set yet
        mp.setenv("AGCREDIT_TOKEN_KEY", "test-token-key-0123456789")
        county = County(tiny_county_sh, cache_dir=tmp_path_factory.mktemp("yield-cache"))
        seen: list[str] = []
        feats = county_features(county, checkpoints=("mid", "end"), progress=lambda d, n, w: seen.append(w))
    return county, {"feats": feats, "progress": seen}


def test_county_features_per_checkpoint_as_of_and_cached(tiny_features: tuple[object, dict]) -> None:
    county, got = tiny_features
    feats = got["feats"]
    assert list(feats) == ["end", "mid"]  # end first: its metrics are the unprefixed ones
    past = county.past_seasons  # type: ignore[attr-defined]
    for cp, f in feats.items():
        assert set(f["season"]) == set(past) and len(f) == len(county.fields(past[0]))  # type: ignore[attr-defined]
        want = pd.Timestamp(county.checkpoints(past[0])[cp])  # type: ignore[attr-defined]
        assert (f["as_of"] == want).all()
    assert feats["end"]["feat_NDVI_n_obs"].sum() > feats["mid"]["feat_NDVI_n_obs"].sum()
    assert len(got["progress"]) == 2
    cached = list((county.cache_dir / "yield_features").glob("*.parquet"))  # type: ignore[attr-defined]
    assert len(cached) == 2
    again = county_features(county, checkpoints=("end", "mid"))  # type: ignore[arg-type]
    for cp in feats:
        pd.testing.assert_frame_equal(feats[cp], again[cp])


def test_county_features_with_a_phenology_calibration_given(tiny_features: tuple[object, dict]) -> None:
    """An explicit calibration (the yield evaluation's per-fold one) shapes the phenology, is cached apart from the
    uncalibrated features, and a series memo is filled once per season."""
    from pipelines._phenology_fit import fit_county_phenology

    county, got = tiny_features
    past = list(county.past_seasons)  # type: ignore[attr-defined]
    fitted = fit_county_phenology(county, past)  # type: ignore[arg-type]
    assert fitted is not None  # 12 fields leave every crop on its defaults: move the emergence offsets
    body = json.loads(fitted.to_json())
    for crop in body["crops"].values():
        crop["em_offset_days"] += 7.0
    cal = Calibration.from_json(json.dumps(body))
    memo: dict[str, pd.DataFrame] = {}
    calibrated = county_features(county, checkpoints=("end", "mid"),  # type: ignore[arg-type]
                                 phenology_calib={county.region: cal}, series_memo=memo)  # type: ignore[attr-defined]
    assert sorted(k.split("@")[0] for k in memo) == past
    assert len(list((county.cache_dir / "yield_features").glob("*.parquet"))) == 4  # type: ignore[attr-defined]
    before, after = got["feats"]["end"]["emergence_date"], calibrated["end"]["emergence_date"]
    assert before.notna().any() and not before.equals(after)
    again = county_features(county, checkpoints=("end", "mid"),  # type: ignore[arg-type]
                            phenology_calib={county.region: cal})  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(calibrated["end"], again["end"])


def test_builds_sharing_area_and_seasonal_features_give_the_same_bytes(tiny_features: tuple[object, dict],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two builds of the same seasons differing in the phenology calibration (as train_yield_county's held-out and
    production builds) with one ``shared`` dict: the planted area is computed once per season and checkpoint, and
    each build's features equal the same build made alone, uncached."""
    import features.area_scenes as area_scenes
    from pipelines._phenology_fit import fit_county_phenology

    county, _ = tiny_features
    past = list(county.past_seasons)  # type: ignore[attr-defined]
    cal = fit_county_phenology(county, past)  # type: ignore[arg-type]
    assert cal is not None
    body = json.loads(cal.to_json())
    for crop in body["crops"].values():
        crop["em_offset_days"] += 5.0
    moved = {county.region: Calibration.from_json(json.dumps(body))}  # type: ignore[attr-defined]
    alone = [county_features(county, checkpoints=("end", "mid"), cache=False,  # type: ignore[arg-type]
                             phenology_calib=p) for p in (None, moved)]
    calls: list[str] = []
    real = area_scenes.planted_area
    monkeypatch.setattr(area_scenes, "planted_area", lambda *a, **k: calls.append(str(a[2])) or real(*a, **k))
    memo: dict[str, pd.DataFrame] = {}
    shared: dict[tuple[object, ...], object] = {}
    together = [county_features(county, checkpoints=("end", "mid"), cache=False,  # type: ignore[arg-type]
                                phenology_calib=p, series_memo=memo, shared=shared) for p in (None, moved)]
    assert len(calls) == 2 * len(past)  # once per season and checkpoint, not once per build
    assert sum(1 for k in shared if k[0] == "seasonal") == 2 * len(past)
    assert not together[0]["end"]["emergence_date"].equals(together[1]["end"]["emergence_date"])
    for a, t in zip(alone, together, strict=True):
        for cp in ("end", "mid"):
            pd.testing.assert_frame_equal(a[cp], t[cp])


def test_training_table_joins_reported_yields_and_drops_gaps(tiny_features: tuple[object, dict]) -> None:
    county, got = tiny_features
    table = yield_training_table(county, checkpoints=("end",))  # type: ignore[arg-type]
    hist = county.history()  # type: ignore[attr-defined]
    reported = hist.dropna(subset=["reported_yield_t_ha"])
    assert len(table["end"]) == len(reported) < len(got["feats"]["end"]) + 1
    m = table["end"].merge(reported, on=["field_id", "season"], suffixes=("", "_h"))
    np.testing.assert_allclose(m["reported_yield_t_ha"], m["reported_yield_t_ha_h"])
    assert "yield_t_ha" not in table["end"].columns  # never truth


def test_unknown_season_or_checkpoint_is_a_user_error(tiny_features: tuple[object, dict]) -> None:
    county, _ = tiny_features
    with pytest.raises(UserInputError, match="season.*1999.*not in the county"):
        county_features(county, ["1999"])  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="unknown checkpoint.*harvest-moon"):
        county_features(county, checkpoints=("harvest-moon",))  # type: ignore[arg-type]


def synth_features(n_fields: int = 100, seasons: tuple[str, ...] = ("2011", "2012", "2013", "2014", "2015"),
                   seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """FieldFeatures-like rows of several seasons at two checkpoints, and reported yields (some missing)."""
    rng = np.random.default_rng(seed)
    crops = rng.choice(["maize", "soybean"], n_fields)
    base = np.where(crops == "maize", 10.0, 3.5)
    by: dict[str, list[pd.DataFrame]] = {"end": [], "mid": []}
    rep = []
    for s in seasons:
        ndvi = rng.uniform(0.4, 0.9, n_fields)
        y = base * (0.3 + 0.9 * ndvi + rng.normal(0, 0.03, n_fields))
        for cp, day, noise in (("end", "10-15", 0.01), ("mid", "07-20", 0.08)):
            by[cp].append(pd.DataFrame({
                "field_id": [f"f{i:03d}" for i in range(n_fields)], "season": s,
                "as_of": pd.Timestamp(f"{s}-{day}"), "farmer_token": [f"t{i:03d}" for i in range(n_fields)],
                "region": "us-nebraska", "declared_crop": crops, "field_area_ha": 20.0,
                "ndvi_max": ndvi + rng.normal(0, noise, n_fields), "feat_x": rng.normal(0, 1, n_fields)}))
        r = y * (1 + rng.normal(0, 0.03, n_fields))
        r[rng.random(n_fields) < 0.1] = np.nan
        rep.append(pd.DataFrame({"field_id": [f"f{i:03d}" for i in range(n_fields)], "season": s,
                                 "reported_yield_t_ha": r}))
    return {cp: pd.concat(v, ignore_index=True) for cp, v in by.items()}, pd.concat(rep, ignore_index=True)


def test_train_registers_promotes_and_records_governance(registry: Path) -> None:
    from models.registry import describe, resolve

    feats, rep = synth_features()
    res = train_yield.train_yield(feats, rep, data="synthetic", config=FAST, operator="tester")
    assert isinstance(res, TrainResult)
    assert res.version == "1" and res.promoted and not res.failures, res.summary()
    g = res.governance
    assert g.data == "synthetic" and g.checkpoints == ("end", "mid") and g.crops == ("maize", "soybean")
    assert {"r2_maize", "skill_r2_maize", "mid_r2_maize", "below_p10_all"} <= set(res.metrics)
    assert res.metrics["skill_r2_maize"] > 0.3
    assert res.n_rows["end"] == int(rep["reported_yield_t_ha"].notna().sum())
    assert set(res.release.evaluation.per_season["season"]) == {"2015"}  # the latest past season held out
    # the registry's entry names it (a model-risk audit: "leave-one-season-out over 1 season(s)" named none)
    assert "leave-one-season-out over 1 season(s) (held out: 2015; the metrics are theirs)" in g.notes
    assert "yield-value: " in res.summary() and "synthetic data" in res.summary()
    r = resolve("yield-value")
    assert r.version == "1"
    q = r.model.predict_quantiles(feats["end"].head(3))
    assert (q["yield_p10_t_ha"] <= q["yield_p90_t_ha"]).all()
    d = describe("yield-value")
    assert [h["alias"] for h in d["history"]] == ["challenger", "champion", "challenger"]
    assert d["history"][1]["operator"] == "tester"


def test_below_minimum_stays_challenger_unless_forced(registry: Path) -> None:
    feats, rep = synth_features(seed=3)
    shock = np.where(rep["season"] == "2015", 1.6, 1.0)  # a season unlike any before: intervals miss it
    rep = rep.assign(reported_yield_t_ha=rep["reported_yield_t_ha"] * shock)
    res = train_yield.train_yield(feats, rep, data="synthetic", config=FAST)
    assert res.version == "1" and not res.promoted and res.failures
    assert any("stays challenger" in n for n in res.notes)
    from models.errors import RegistryError
    from models.registry import alias_history

    # forcing needs a second operator, checked before anything is fitted or registered
    for approver, msg in ((None, "a forced promotion needs a second operator's approval"),
                          ("Tester", "the approver must be a second person")):
        with pytest.raises(RegistryError, match=msg):
            train_yield.train_yield(feats, rep, data="synthetic", config=FAST, force_reason="demo on noise",
                                    operator="tester", approved_by=approver)
    assert [h["version"] for h in alias_history("yield-value")] == ["1"]  # version 1's challenger move only
    forced = train_yield.train_yield(feats, rep, data="synthetic", config=FAST, force_reason="demo on noise",
                                     operator="tester", approved_by="mrm-2")
    assert forced.version == "2" and forced.promoted

    last = [h for h in alias_history("yield-value") if h["alias"] == "champion"][-1]
    assert last["forced"] and last["reason"] == "demo on noise" and last["approved_by"] == "mrm-2"


def test_minimum_metrics_are_beat_the_baseline_and_calibrated() -> None:
    reqs = yield_minimum_metrics(["maize"])
    assert [str(r) for r in reqs][0] == "skill_r2_maize >= -0.05"
    assert not reqs[0].met_by({"skill_r2_maize": -0.06}) and reqs[0].met_by({"skill_r2_maize": -0.01})


def test_too_few_seasons_trains_without_metrics_and_too_few_rows_is_an_error() -> None:
    feats, rep = synth_features(seasons=("2014", "2015"))
    res = train_yield.train_yield(feats, rep, register=False, config=FAST)
    assert res.version is None and not res.promoted and res.metrics == {}
    # mid-season, in scope and gated (its minimum metrics named for it), has no held-out metric: one line
    assert res.failures[0] == ("checkpoint mid is in scope without held-out metrics (needs mid_above_p90_all, "
                               "mid_below_p10_all)")
    assert len(res.failures) == 5 and all("found missing" in f for f in res.failures[1:])
    assert any("only 2 season(s)" in n for n in res.notes)
    assert (res.model.predict_quantiles(feats["end"].head(4))["yield_p50_t_ha"] > 0).all()
    with pytest.raises(UserInputError, match=r"at least 10 field-seasons with a reported yield, found [0-3] "):
        train_yield.train_yield({cp: f.head(3) for cp, f in feats.items()}, rep, register=False)


def test_read_reported_checks_numbers(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("field_id,season,reported_yield_t_ha\na,2019,5.5\nb,2019,\n")
    r = read_reported(p)
    assert r["reported_yield_t_ha"].isna().tolist() == [False, True] and r["season"].tolist() == ["2019"] * 2
    p.write_text("field_id,season,reported_yield_t_ha\na,2019,lots\n")
    with pytest.raises(UserInputError, match="must be numbers, found other values at a/2019"):
        read_reported(p)
    p.write_text("field_id,season\na,2019\n")
    with pytest.raises(UserInputError, match="missing column.*reported_yield_t_ha"):
        read_reported(p)


def test_cli_train_from_tables_and_errors(tmp_path: Path, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feats, rep = synth_features(seed=5)
    both = pd.concat([f.assign(checkpoint=cp) for cp, f in feats.items()], ignore_index=True)
    fp, rp = tmp_path / "f.parquet", tmp_path / "r.csv"
    from features.contracts import FIELD_FEATURES

    full = both.copy()
    for c in FIELD_FEATURES.columns:  # a real FieldFeatures file carries every contract column
        if c.name not in full.columns:
            full[c.name] = (pd.Series(pd.NaT, index=full.index, dtype="datetime64[ns]") if c.kind == "date"
                            else pd.Series([None] * len(full), dtype="str") if c.kind == "str"
                            else (False if c.kind == "bool" else 0 if c.kind == "int" else np.nan))
    full["overlap_fraction"] = 0.0
    full["geometry_valid"] = True
    full["geometry_hash"] = "h"
    full.to_parquet(fp)
    rep.to_csv(rp, index=False)
    real_train = train_yield.train_yield

    def fast(*a: object, **k: object) -> TrainResult:
        return real_train(*a, **{**k, "config": FAST})  # type: ignore[arg-type]

    monkeypatch.setattr(train_yield, "train_yield", fast)
    r = CliRunner().invoke(app, ["train", "yield", "--features", str(fp), "--reported", str(rp), "--data",
                                 "synthetic", "--no-promote"])
    assert r.exit_code == 0, r.stderr
    assert "registered yield-value version 1 as challenger" in r.stdout and "synthetic data" in r.stdout
    r = CliRunner().invoke(app, ["train", "yield", "--features", str(fp)])
    assert r.exit_code == 2 and "--features needs --reported" in r.stderr
    r = CliRunner().invoke(app, ["train", "yield"])
    assert r.exit_code == 2 and "give either --county DIR" in r.stderr
    r = CliRunner().invoke(app, ["train", "yield", "--county", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "county folder not found" in r.stderr
    with pytest.raises(UserInputError, match="features file not found"):
        train_yield_files(tmp_path / "none.parquet", rp)
    # checkpoint labels underwriting never looks up (a walkthrough's harvest / mid-season) were registered as the
    # version's scope, and every field underwritten with it came out OUT_OF_MODEL_SCOPE: refused before training
    full.assign(checkpoint=full["checkpoint"].map({"end": "harvest", "mid": "mid-season"})).to_parquet(fp)
    r = CliRunner().invoke(app, ["train", "yield", "--features", str(fp), "--reported", str(rp), "--no-promote"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ("error: f.parquet: checkpoint label(s) harvest, mid-season are not checkpoints underwriting looks up "
            "(accepted: pre_season, emergence, mid, end; e.g. end for the season's end, mid for mid-season)") in r.stderr
    full.assign(checkpoint=full["checkpoint"].where(full.index > 0)).to_parquet(fp)  # an empty cell
    r = CliRunner().invoke(app, ["train", "yield", "--features", str(fp), "--reported", str(rp), "--no-promote"])
    assert r.exit_code == 2 and "checkpoint label(s) (empty) are not checkpoints" in r.stderr, r.stderr


def test_the_checkpoint_labels_accepted_are_the_ones_underwriting_gives() -> None:
    """Every label checkpoint_label gives by the as-of date is accepted at training, and nothing else."""
    from datetime import timedelta

    from pipelines._champions import YIELD_CHECKPOINT_LABELS, checkpoint_label
    from pipelines.county import season_checkpoints

    cp = season_checkpoints("2009", "in-smallholder")
    days = [cp["emergence"] - timedelta(days=1), cp["emergence"], cp["mid"], cp["pre_harvest"], cp["end"]]
    got = {checkpoint_label("2009", "in-smallholder", d) for d in days}
    assert got == set(YIELD_CHECKPOINT_LABELS), got


def test_train_yield_county_wires_features_history_and_labels(tiny_county_sh: Path, registry: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The county path: features of the past seasons, the county's reported yields, synthetic label, params."""
    from pipelines.county import County

    feats, rep = synth_features(seed=7)
    calls: dict[str, object] = {}

    def fake_features(county: object, seasons: object, checkpoints: object, **kw: object) -> dict[str, pd.DataFrame]:
        calls.update(seasons=seasons, checkpoints=checkpoints, crop=kw.get("crop_desc"))
        return feats

    monkeypatch.setattr(train_yield, "county_features", fake_features)
    monkeypatch.setattr(County, "history", lambda self: rep)
    real_train = train_yield.train_yield
    monkeypatch.setattr(train_yield, "train_yield", lambda *a, **k: real_train(*a, **{**k, "config": FAST}))
    res = train_yield.train_yield_county(tiny_county_sh)
    assert calls["checkpoints"] == ("end", "mid") and calls["crop"] == "none"
    assert calls["seasons"] == County(tiny_county_sh).past_seasons
    assert res.governance.data == "synthetic" and res.version == "1" and res.promoted == (not res.failures)
    # the days its checkpoints were validated from travel with the version: scope by a field's own date
    assert res.governance.checkpoint_dates == {"in-smallholder": {"end": {"*": ("02-28", 1)},
                                                                  "mid": {"*": ("09-15", 0)}}}
    assert any("no crop-type model used" in n for n in res.notes)
    assert "features_s" in res.timings and "register_s" in res.timings


def test_train_yield_county_without_a_synthetic_flag_is_unlabelled_never_real(
        tiny_county_sh: Path, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A county.json without a ``synthetic`` flag is unlabelled (as the evaluate commands say), never real: the model
    trained on it is registered with governance data ``unlabelled`` (it was "real"); ``"synthetic": false`` is real.
    The registry reads the version back, and a version registered as real or synthetic before stays readable."""
    import json
    import shutil

    from models.governance import Governance
    from models.registry import governance
    from pipelines.county import County

    feats, rep = synth_features(seed=7)
    monkeypatch.setattr(train_yield, "county_features", lambda *a, **k: feats)
    monkeypatch.setattr(County, "history", lambda self: rep)
    real_train = train_yield.train_yield
    monkeypatch.setattr(train_yield, "train_yield", lambda *a, **k: real_train(*a, **{**k, "config": FAST}))
    meta = json.loads((tiny_county_sh / "county.json").read_text())
    got = []
    for name, flag in (("nolabel", None), ("real", False)):
        folder = tmp_path / name
        shutil.copytree(tiny_county_sh, folder, ignore=shutil.ignore_patterns("scenes", ".cache", "truth"))
        doc = {k: v for k, v in meta.items() if k != "synthetic"} | ({} if flag is None else {"synthetic": flag})
        (folder / "county.json").write_text(json.dumps(doc))
        res = train_yield.train_yield_county(folder, promote=False)
        got.append(res.governance.data)
        assert governance("yield-value", res.version).data == res.governance.data
    assert got == ["unlabelled", "real"]
    assert [County(tmp_path / n).data_kind for n in ("nolabel", "real")] == got
    assert "unlabelled data" in Governance(crops=("maize",), regions=("r",), checkpoints=("end",),
                                           data="unlabelled").summary()
    old = {"crops": ["maize"], "regions": ["r"], "checkpoints": ["end"], "data": "real"}  # an earlier version's record
    assert Governance.from_dict(old).data == "real"


def test_cli_refuses_personal_data_for_the_alias_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--force-reason and --operator go into the permanent alias history, as `models promote --reason` does: a phone,
    ID number or e-mail there is refused before anything is read or trained."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/reg/mlflow.db")
    for extra in (["--force-reason", "farmer asked, call +91-00000-18677"], ["--operator", "ann@bank.example"],
                  ["--approved-by", "bob@bank.example"]):
        r = CliRunner().invoke(app, ["train", "yield", "--features", str(tmp_path / "f.parquet"), "--reported",
                                     str(tmp_path / "r.csv"), *extra])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"train yield {extra[0]}: looks like personal data" in r.stderr and extra[1] not in r.stderr
    # the same operator from the environment (what the registry records without --operator) was not screened
    monkeypatch.setenv("AGCREDIT_OPERATOR", "ann@bank.example")
    r = CliRunner().invoke(app, ["train", "yield", "--features", str(tmp_path / "f.parquet"), "--reported",
                                 str(tmp_path / "r.csv")])
    assert r.exit_code == 2 and "train yield AGCREDIT_OPERATOR: looks like personal data" in r.stderr, r.stderr
    assert "ann@bank.example" not in r.stderr
    assert not (tmp_path / "reg").exists()


def test_the_feature_cache_key_covers_every_feature_defining_file(tmp_path: Path) -> None:
    """The training-feature cache is keyed by a hash of the code that makes the features. It named twelve modules
    one by one and missed the area rules, the scene reader, the zonal core and the crop calendars: an upgrade
    changing any of them trained the next model on the previous release's cached features."""
    import shutil

    from pipelines._code_digest import FEATURE_SOURCES, source_files
    from pipelines.train_yield import _code_hash

    repo = Path(__file__).resolve().parents[2]
    files = source_files(repo, FEATURE_SOURCES)
    for must in ("features/area.py", "features/sources/local.py", "features/_zonal_core.py",
                 "features/data/crop_calendars.csv", "features/data/season_windows.csv", "pipelines/featurize.py"):
        assert must in files
    # every pipelines module the features' builder imports at module level, and theirs (its helpers moved to
    # pipelines/_featurize_*.py in 2026-12-06, eighth, and the key missed them until a review found it)
    import ast

    seen, todo = set(), ["pipelines/featurize.py"]
    while todo:
        rel = todo.pop()
        seen.add(rel)
        for node in ast.parse((repo / rel).read_text()).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines."):
                dep = node.module.replace(".", "/") + ".py"
                if dep not in seen:
                    todo.append(dep)
    assert sorted(seen - set(files)) == []
    assert {"pipelines/_featurize_phenology.py", "pipelines/_smooth.py"} <= seen
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    root = tmp_path / "root"
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / rel, root / rel)
    base = _code_hash(root)
    assert base == _code_hash(root)
    (root / "features" / "__pycache__").mkdir(exist_ok=True)
    (root / "features" / "__pycache__" / "area.cpython-311.pyc").write_bytes(b"\0")  # the interpreter's: no change
    assert _code_hash(root) == base
    for rel in ("features/area.py", "features/data/crop_calendars.csv", "features/sources/local.py",
                "pipelines/_featurize_phenology.py"):
        before = (root / rel).read_bytes()
        (root / rel).write_bytes(before + b"\n")
        assert _code_hash(root) != base, rel
        (root / rel).write_bytes(before)
    assert _code_hash(root) == base


def test_held_out_evaluation_reads_its_own_features_and_the_version_is_fitted_on_production_ones() -> None:
    """``eval_features_by_checkpoint``: the held-out metrics (and plots) come from them; the version is fitted on the
    production features as before — so features that carry the held-out season's records can be swapped out of the
    evaluation without changing what is registered."""
    feats, rep = synth_features(seed=3)
    plain = train_yield.train_yield(feats, rep, register=False, config=FAST)
    blurred = {cp: f.assign(ndvi_max=f["ndvi_max"].sample(frac=1.0, random_state=0).to_numpy())
               for cp, f in feats.items()}
    swapped = train_yield.train_yield(feats, rep, register=False, config=FAST, eval_features_by_checkpoint=blurred)
    x = feats["end"].head(20)
    pd.testing.assert_frame_equal(plain.model.predict_quantiles(x), swapped.model.predict_quantiles(x))
    assert swapped.metrics["r2_maize"] < plain.metrics["r2_maize"] - 0.2   # scored on the shuffled NDVI
    with pytest.raises(Exception, match="evaluation checkpoints"):
        train_yield.train_yield(feats, rep, register=False, config=FAST,
                                eval_features_by_checkpoint={"end": blurred["end"]})


def _held_out_stubs(monkeypatch: pytest.MonkeyPatch, past: list[str], region: str
                    ) -> tuple[type, dict[str, object]]:
    """A county stand-in, and what the held-out build was given (county_features, the phenology fit and the crop
    model refit are recorded, not run)."""
    import pipelines._heldout_crop as hc
    import pipelines._phenology_fit as pf

    class County:
        past_seasons = past

        def __init__(self) -> None:
            self.region = region

        def weather(self) -> None:
            return None

    seen: dict[str, object] = {}

    def fake_features(c: object, seasons: object, checkpoints: object, **kw: object) -> dict[str, pd.DataFrame]:
        seen.update(seasons=seasons, calib=kw.get("phenology_calib"), crop=kw.get("crop_model"),
                    desc=kw.get("crop_desc"))
        return {"end": pd.DataFrame()}

    def fake_fit(c: object, seasons: list[str], **kw: object) -> Calibration:
        seen.update(fit_weather=kw.get("weather"))
        return Calibration(region=region, seasons=tuple(sorted(seasons)))

    def fake_refit(c: object, model: object, held: str, **kw: object) -> tuple[object, str]:
        seen.update(refit_of=model, refit_held=held, refit_phenology=kw.get("phenology"))
        return SimpleNamespace(name="FOLD"), f"crop-type refitted on seasons before {held} (digest)"

    monkeypatch.setattr(train_yield, "county_features", fake_features)
    monkeypatch.setattr(pf, "fit_county_phenology", fake_fit)
    monkeypatch.setattr(hc, "crop_model_without", fake_refit)
    return County, seen


def _oof_index(seasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"field_id": ["f"] * len(seasons), "season": seasons, "label": [0] * len(seasons),
                         "kept": [True] * len(seasons)})


def test_held_out_season_features_leave_its_own_records_out_of_the_phenology(monkeypatch: pytest.MonkeyPatch) -> None:
    """The crop-type model's phenology calibration was fitted on the latest past seasons' declared dates, the
    held-out (latest) one's included: the held-out evaluation's features are built again with the calibration
    fitted on the seasons before it (as `evaluate yield` builds its folds); a calibration that leaves it out, or
    none, or fewer than three past seasons, needs no second build (when the crop model did not see it either)."""
    from pipelines.evaluation.yield_ import fold_calibration_seasons

    past = ["2011", "2012", "2013", "2014", "2015"]
    region = "us-nebraska"
    County, seen = _held_out_stubs(monkeypatch, past, region)

    class Model:
        phenology_calibration_ = {region: Calibration(region=region, seasons=tuple(past[-3:]))}
        oof_index_ = _oof_index(past[:-1])  # a crop model fitted without the held-out season: kept

    model = Model()
    got, note = train_yield._held_out_features(County(), model, "crop-type v1", ("end",), None, {}, None)
    assert got is not None and note is not None and "held-out season 2015" in note
    cal = seen["calib"][region]  # type: ignore[index]
    assert list(cal.seasons) == fold_calibration_seasons(past, "2015") == ["2012", "2013", "2014"]
    assert seen["seasons"] == past and seen["crop"] is model       # this crop model never saw 2015: kept
    assert "refit_of" not in seen
    assert seen["fit_weather"] is False                             # no weather: no thermal-time durations
    Model.phenology_calibration_ = {region: Calibration(region=region, seasons=("2012", "2013", "2014"))}
    seen.clear()
    assert train_yield._held_out_features(County(), Model(), "v0", ("end",), None, {}, None) == (None, None)
    assert not seen
    assert train_yield._held_out_features(County(), None, "none", ("end",), None, {}, None) == (None, None)
    County.past_seasons = ["2014", "2015"]  # type: ignore[attr-defined]
    Model.phenology_calibration_ = {region: Calibration(region=region, seasons=("2014", "2015"))}
    Model.oof_index_ = _oof_index(["2014", "2015"])
    assert train_yield._held_out_features(County(), Model(), "v1", ("end",), None, {}, None) == (None, None)


def test_held_out_season_crop_type_comes_from_a_crop_model_that_never_saw_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The crop-type model production builds features with was trained on every past season's declared crops, the
    held-out one's included: its probabilities there are in-sample. The held-out evaluation's features are built
    with a crop model of its settings refitted without that season (whether or not its phenology calibration saw
    it); a registered model (its training seasons unknown) is taken to have seen it; a refit that cannot be
    trained leaves crop type out of the evaluation's features (the declared crops), never the leaking model."""
    past = ["2011", "2012", "2013", "2014", "2015"]
    region = "us-nebraska"
    County, seen = _held_out_stubs(monkeypatch, past, region)
    own = Calibration(region=region, seasons=("2012", "2013", "2014"))  # leaves 2015 out

    class Model:
        phenology_calibration_ = {region: own}
        oof_index_ = _oof_index(past)  # saw 2015

    model = Model()
    got, note = train_yield._held_out_features(County(), model, "crop-type version 3", ("end",), None, {}, None)
    assert got is not None and note is not None
    assert seen["refit_of"] is model and seen["refit_held"] == "2015"
    fold = seen["crop"]
    assert getattr(fold, "name", None) == "FOLD" and "before 2015" in str(seen["desc"])  # not the model that saw 2015
    # its calibration kept: set on the refit once fitted (the refit itself, in a process beside, carries none)
    assert seen["calib"] == {region: own} and seen["refit_phenology"] == {}
    assert getattr(fold, "phenology_calibration_", None) == {region: own}
    assert "trained without 2015" in note and "\n" not in note

    class Loaded:  # read from the registry: no oof_index_, no calibration
        phenology_calibration_: dict[str, Calibration] = {}

    seen.clear()
    got, note = train_yield._held_out_features(County(), Loaded(), "crop-type version 3", ("end",), None, {}, None)
    assert got is not None and getattr(seen["crop"], "name", None) == "FOLD" and seen["calib"] is None
    assert getattr(seen["crop"], "phenology_calibration_", None) == {}

    import pipelines._heldout_crop as hc

    def refused(*a: object, **kw: object) -> tuple[object, str]:
        raise UserInputError("crop type labels: expected at least 2 classes with >= 5 samples, found 1")

    monkeypatch.setattr(hc, "crop_model_without", refused)
    seen.clear()
    got, note = train_yield._held_out_features(County(), model, "crop-type version 3", ("end",), None, {}, None)
    assert got is not None and seen["crop"] is None and seen["desc"] == "none"
    assert note is not None and "no crop type" in note and "2015" in note



@pytest.mark.parametrize(("rows", "threads", "seen", "beside"),
                         [(1000, "2", True, True), (998, "2", True, False), (1000, "1", True, False),
                          (1000, "2", False, False)])
def test_the_held_out_crop_fit_goes_beside_the_production_build_when_it_pays(
        monkeypatch: pytest.MonkeyPatch, rows: int, threads: str, seen: bool, beside: bool) -> None:
    """At least BESIDE_MIN_ROWS past field-seasons, more than one thread and a crop model that saw the held-out
    season: the refit runs in another process on the other seasons' labels and series read here (the same fit here
    its fallback); else nothing starts and the refit runs where it is needed. Seasons that cannot train one (no
    other season) start nothing either: the answer is why."""
    import pipelines._heldout_crop as hc

    assert train_yield.BESIDE_MIN_ROWS == 1000
    monkeypatch.setenv("AGCREDIT_THREADS", threads)
    past = ["2014", "2015", "2016"]
    calls: list[Any] = []

    class County:
        past_seasons = past

        def fields(self) -> pd.DataFrame:
            return pd.DataFrame({"season": [past[0]] * rows + ["2017"] * 5})  # the current season's not counted

        def series(self, season: str) -> pd.DataFrame:
            return pd.DataFrame({"season": [season]})

    class Model:
        oof_index_ = _oof_index(past if seen else past[:-1])

    class _Run:
        def __init__(self, fn: Any, *args: Any, fallback: Any) -> None:
            calls.append((fn, args[1], len(args[2]), sorted(args[3])))

        def __enter__(self) -> Any:
            return lambda: ("FOLD", "crop-type refitted", None)

        def __exit__(self, *exc: Any) -> None:
            return None

    monkeypatch.setattr("pipelines._beside.run_beside", _Run)
    monkeypatch.setattr(hc, "labels_without", lambda c, held: (["2014", "2015"], pd.DataFrame({"season": ["2014"] * 3})))
    with train_yield._held_out_crop_beside(County(), Model()) as crop:  # type: ignore[arg-type]
        got = None if crop is None else crop()
    if beside:
        assert calls == [(train_yield.held_out_crop_at, ["2014", "2015"], 3, ["2014", "2015"])]
        assert got == ("FOLD", "crop-type refitted", None)
    else:
        assert calls == [] and crop is None
    if beside:
        def refused(c: object, held: str) -> None:
            raise UserInputError(f"crop type without season {held}: no other past season to train on")

        monkeypatch.setattr(hc, "labels_without", refused)
        with train_yield._held_out_crop_beside(County(), Model()) as crop:  # type: ignore[arg-type]
            assert crop is not None and crop() == (None, "none", "crop type without season 2016: no other past "
                                                                  "season to train on")
        assert len(calls) == 1
