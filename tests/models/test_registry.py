"""Registry round trip on a temporary MLflow store: aliases, promotion rules, history, resolve."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.errors import RegistryError
from models.governance import Governance, Requirement


class TinyModel:
    """A stand-in model family (like the crop-type classifier): a directory of files via save/load."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["x"].to_numpy() * self.scale

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "weights.json").write_text(json.dumps({"scale": self.scale}))
        (Path(path) / "classes.txt").write_text("maize\nsoybean\n")

    @classmethod
    def load(cls, path: Path) -> TinyModel:
        return cls(json.loads((Path(path) / "weights.json").read_text())["scale"])


class TinyFlavour:
    """A custom ModelFlavour (no save/load on the model itself)."""

    def save_dir(self, model: TinyModel, path: Path) -> None:
        (Path(path) / "s.txt").write_text(repr(model.scale))

    def load_dir(self, path: Path) -> TinyModel:
        return TinyModel(float((Path(path) / "s.txt").read_text()))


def gov(r2: float, minimum: float = 0.4) -> Governance:
    return Governance(crops=("maize", "soybean"), regions=("us-nebraska",), checkpoints=("end", "mid"),
                      metrics={"r2_maize": r2}, minimum_metrics=(Requirement("r2_maize", ">=", minimum),))


def test_missing_registry_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/none/mlflow.db")
    with pytest.raises(RegistryError, match=r"no model registry at .*mlflow\.db.*agcredit train yield"):
        registry.resolve("yield-value")
    assert not (tmp_path / "none" / "mlflow.db").exists()


def test_round_trip_aliases_promotion_history(store: Path) -> None:
    from models import registry

    v1 = registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                           params={"n_estimators": 10}, input_example=pd.DataFrame({"x": [1.0, 2.0]}),
                           output_example=np.array([2.0, 4.0]))
    assert v1 == "1"
    assert registry.resolve("crop-type", "challenger").version == "1"
    with pytest.raises(RegistryError, match=r"no 'champion' alias.*agcredit models promote crop-type VERSION"):
        registry.resolve("crop-type")

    v2 = registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.2}, governance=gov(0.2))
    assert v2 == "2"
    assert registry.resolve("crop-type", "challenger").version == "2"

    with pytest.raises(RegistryError, match=r"version 2 is below its minimum metrics: r2_maize >= 0.4 \(found 0.2\)"):
        registry.promote("crop-type", "2")
    with pytest.raises(RegistryError, match="a forced promotion needs a reason"):
        registry.promote("crop-type", 2, force=True)

    out = registry.promote("crop-type", 1, reason="passes validation")
    assert out["previous"] is None and out["failures"] == []
    version, run_id, model = registry.resolve("crop-type")
    assert (version, isinstance(model, TinyModel), model.scale) == ("1", True, 2.0)
    g = registry.governance("crop-type", version)
    assert g.in_scope("maize", "us-nebraska", "mid")
    assert not g.in_scope("rice", "us-nebraska", "mid")
    assert len(run_id) == 32
    with pytest.raises(RegistryError, match="crop-type has no version 7"):
        registry.governance("crop-type", 7)
    assert registry.governance("crop-type", "champion") == g  # by alias, without loading the model
    with pytest.raises(RegistryError, match="no version with the alias 'nightly'"):
        registry.governance("crop-type", "nightly")

    out = registry.promote("crop-type", 2, force=True, reason="drought year, approved by MRM", operator="mrm-1",
                           approved_by="mrm-2")
    assert out["previous"] == "1" and out["failures"] and out["approved_by"] == "mrm-2"
    r = registry.resolve("crop-type")
    assert r.version == "2" and r.model.scale == 3.0
    np.testing.assert_allclose(r.model.predict(pd.DataFrame({"x": [1.0]})), [3.0])

    hist = registry.alias_history("crop-type")
    moves = [(h["alias"], h["previous_version"], h["version"], h["operator"], h["forced"]) for h in hist]
    assert moves == [
        ("challenger", None, "1", "analyst-7", False),
        ("challenger", "1", "2", "analyst-7", False),
        ("champion", None, "1", "analyst-7", False),
        ("champion", "1", "2", "mrm-1", True),
        ("challenger", "2", None, "mrm-1", False),
    ]
    assert hist[3]["reason"] == "drought year, approved by MRM"
    assert hist[3]["metrics"] == {"r2_maize": 0.2}
    assert hist[3]["failures"] == ["r2_maize >= 0.4 (found 0.2)"]
    assert [h["approved_by"] for h in hist] == [None, None, None, "mrm-2", None]
    # the champion's number typed another way (" 2 ", "02": version 2 to MLflow) was compared as text: "champion is
    # now v02 (was v2)", a history row v2 -> v02 re-dating it, and the next promotion's catch-up row by "unknown"
    # (a model-risk audit). The same version: nothing recorded
    for typed in (" 2 ", "02", "2"):
        again = registry.promote("crop-type", typed, force=True, reason="same", operator="mrm-1", approved_by="mrm-2")
        assert again["unchanged"] and registry.resolve("crop-type").version == "2", typed
    assert len(registry.alias_history("crop-type")) == len(hist)

    con = sqlite3.connect(store / "alias_history.db")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE alias_history SET reason = 'edited'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM alias_history")
    finally:
        con.close()

    listed = registry.list_models()
    assert listed == [{"name": "crop-type", "aliases": {"champion": "2"}, "n_versions": 2, "latest": 2}] or \
        listed == [{"name": "crop-type", "aliases": {"champion": 2}, "n_versions": 2, "latest": 2}]
    versions = registry.model_versions("crop-type")
    assert [v["version"] for v in versions] == ["2", "1"]
    assert versions[0]["aliases"] == ["champion"]
    assert versions[1]["metrics"] == {"r2_maize": 0.5}
    assert versions[1]["governance"].failures() == []


def test_custom_flavour_and_unknown_names(store: Path) -> None:
    from models import registry

    v = registry.register(TinyModel(5.0), "other", metrics={"r2_maize": 0.9}, governance=gov(0.9),
                          flavour=TinyFlavour())
    registry.promote("other", v)
    assert registry.resolve("other").model.scale == 5.0
    assert registry.resolve("other", flavour=TinyFlavour()).model.scale == 5.0
    with pytest.raises(RegistryError, match=r"no registered model 'nope'.*agcredit train crop-type / agcredit train yield"):
        registry.resolve("nope")
    with pytest.raises(RegistryError, match="other has no version 9"):
        registry.promote("other", 9)


def test_yield_model_round_trip_and_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  empty_db: Path) -> None:
    from models import registry
    from models.evaluation import build_yield_release
    from models.yield_value import YieldModelConfig

    monkeypatch.chdir(tmp_path)
    assert registry.tracking_uri() == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    (tmp_path / "mlruns").mkdir()
    shutil.copyfile(empty_db, tmp_path / "mlruns" / "mlflow.db")
    rng = np.random.default_rng(1)
    n = 160
    X = pd.DataFrame({"field_id": [f"f{i % 40}" for i in range(n)], "season": [str(2010 + i // 40) for i in range(n)],
                      "region": "us-nebraska", "crop": "maize", "ndvi_max": rng.uniform(0.4, 0.9, n)})
    X["as_of"] = pd.to_datetime(X["season"] + "-09-15")
    reported = X[["field_id", "season"]].assign(reported_yield_t_ha=10 * X["ndvi_max"] + rng.normal(0, 0.3, n))
    rel = build_yield_release({"end": X}, reported, plots_dir=tmp_path / "plots",
                              config=YieldModelConfig(n_estimators=20, learning_rate=0.3, calibration_seasons=2))
    assert rel.governance.crops == ("maize",) and rel.governance.checkpoints == ("end",)
    assert {"r2_maize", "rmse_pct_maize", "below_p10_max_all"} <= set(rel.metrics)
    v = registry.register(rel.model, "yield-value", metrics=rel.metrics, governance=rel.governance, params=rel.params,
                          artifacts=rel.plots, input_example=rel.input_example, output_example=rel.output_example)
    registry.promote("yield-value", v, reason="first", force=bool(rel.governance.failures()), approved_by="mrm-2")
    r = registry.resolve("yield-value")
    m = rel.model
    pd.testing.assert_frame_equal(r.model.predict_quantiles(X), m.predict_quantiles(X), check_exact=True)
    import mlflow

    run = mlflow.tracking.MlflowClient().get_run(r.run_id)
    assert run.data.params["n_estimators"] == "20"
    arts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(r.run_id, "plots")}
    assert arts == {"plots/calibration.png", "plots/feature_importance.png", "plots/residuals.png"}
    # the pyfunc face (a model from code, no pickle): P10/P50/P90 as the model gives them
    py = mlflow.pyfunc.load_model(f"runs:/{r.run_id}/model")
    iso = X.assign(as_of=X["as_of"].dt.strftime("%Y-%m-%d"))  # dates as ISO text, as the logged signature says
    pd.testing.assert_frame_equal(py.predict(iso), m.predict_quantiles(X), check_exact=True)
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    assert (tmp_path / "mlruns" / "alias_history.db").is_file()
    assert list((tmp_path / "mlruns" / "artifacts" / "yield-value").iterdir())


def test_governance_record() -> None:
    g = Governance(crops=("maize",), regions=("us-nebraska",), checkpoints=("end",), data="real",
                   metrics={"r2_maize": 0.5, "rmse_pct_maize": 20.0},
                   minimum_metrics=(Requirement("r2_maize", ">=", 0.45), Requirement("rmse_pct_maize", "<=", 15),
                                    Requirement("below_p10_all", "<=", 0.13)))
    assert g.failures() == ["rmse_pct_maize <= 15 (found 20)", "below_p10_all <= 0.13 (found missing)"]
    assert Governance.from_json(g.to_json()) == g
    assert g.scope_mask(["maize", "rice"], ["us-nebraska", "us-nebraska"], "end").tolist() == [True, False]
    assert not g.scope_mask(["maize"], ["us-nebraska"], "mid").any()
    assert "FAILS 2 minimum metric(s)" in g.summary()
    from features.errors import ContractError

    with pytest.raises(ContractError, match="expected real or synthetic"):
        Governance(crops=(), regions=(), checkpoints=(), data="made-up")
    with pytest.raises(ContractError, match="op '>=' or '<='"):
        Requirement("r2", "==", 1.0)


def test_public_api_resolves() -> None:
    import models

    missing = [n for n in models.__all__ if getattr(models, n, None) is None]
    assert missing == []
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        models.nope  # noqa: B018


def test_a_killed_registration_run_is_marked_killed(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A `train` killed while its run was logging leaves it RUNNING; the next registration on this host marks it
    KILLED (its process is gone); a run of a live process, of another host or without our tags is left alone. A
    `train` SIGKILLed while logging its model also left that model PENDING with its files (6.6 MB on the demo
    county) for good: they are now marked FAILED and removed with the run."""
    import os
    import socket
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    from models import registry

    registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    client = MlflowClient()
    exp = client.get_experiment_by_name("crop-type").experiment_id
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True,
                          text=True)
    dead = done.stdout.strip()
    host = socket.gethostname()
    killed = client.create_run(exp, tags={"agcredit.host": host, "agcredit.pid": dead}).info.run_id
    # killed while logging its model: a PENDING logged model and part of its files (MLflow's model folder)
    half = client.create_logged_model(exp, name="model", source_run_id=killed)
    half_dir = Path(half.artifact_location.removeprefix("file://"))
    half_dir.mkdir(parents=True, exist_ok=True)
    (half_dir / "MLmodel").write_text("flavors: {}\n")
    live = client.create_run(exp, tags={"agcredit.host": host, "agcredit.pid": str(os.getpid())}).info.run_id
    other = client.create_run(exp, tags={"agcredit.host": host + "-elsewhere", "agcredit.pid": dead}).info.run_id
    foreign = client.create_run(exp).info.run_id
    with caplog.at_level("WARNING", logger="agcredit.registry"):
        assert registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "2"
    status = {r: client.get_run(r).info.status for r in (killed, live, other, foreign)}
    assert status == {killed: "KILLED", live: "RUNNING", other: "RUNNING", foreign: "RUNNING"}
    assert "nothing was registered" in client.get_run(killed).data.tags["agcredit.note"]
    # its half-written model (left PENDING, its files kept for good) is marked FAILED and its files removed
    assert str(client.get_logged_model(half.model_id).status) in ("FAILED", "LoggedModelStatus.FAILED")
    assert not [p for p in (half_dir, *half_dir.parents) if p.name == half.model_id and p.exists()]
    assert [p for p in half_dir.parents if p.name == half.model_id]  # (MLflow's layout: …/m-<id>/artifacts)
    assert "1 MLflow run(s) left running by a registration killed before marked KILLED" in caplog.text
    assert killed in caplog.text
    # the registration's own run carries its host and process, and finished
    mv = client.get_model_version("crop-type", "2")
    run = client.get_run(mv.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["agcredit.host"] == host and run.data.tags["agcredit.pid"] == str(os.getpid())


def test_two_registries_in_one_folder_keep_their_own_models_and_histories(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> None:
    """Two SQLite stores side by side (or one deleted and trained again at the same path) both have a version 1:
    the local model copy was keyed by folder, name and number, so the second store scored with the first one's
    model while recording its own version and run id; the alias history was shared too."""
    from models import registry

    root = tmp_path / "regs"
    root.mkdir()
    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    got = {}
    for db, scale in (("mlflow.db", 2.0), ("other.db", 5.0)):
        shutil.copyfile(empty_db, root / db)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/{db}")
        assert registry.register(TinyModel(scale), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
        registry.promote("crop-type", "1", reason=f"first of {db}")
    for db in ("mlflow.db", "other.db"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/{db}")
        r = registry.resolve("crop-type")
        got[db] = (r.model.scale, r.run_id, [h["reason"] for h in registry.alias_history("crop-type")])
    assert got["mlflow.db"][0] == 2.0 and got["other.db"][0] == 5.0
    assert got["mlflow.db"][1] != got["other.db"][1]
    assert got["mlflow.db"][2] == ["registered", "first of mlflow.db", "promoted to champion"]
    assert got["other.db"][2] == ["registered", "first of other.db", "promoted to champion"]
    assert (root / "alias_history.db").is_file() and (root / "other.alias_history.db").is_file()


def test_a_moved_registry_is_refused_until_relocated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      empty_db: Path) -> None:
    """MLflow records absolute artifact locations: a registry folder copied elsewhere read its models from the
    original (or failed once that was gone) and wrote new versions' artifacts into it. Now it is refused in one line
    until `agcredit models relocate` points it at its own folder."""
    from typer.testing import CliRunner

    from models import registry
    from pipelines.cli import app

    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    old, new = tmp_path / "a" / "mlruns", tmp_path / "b" / "mlruns"
    old.mkdir(parents=True)
    shutil.copyfile(empty_db, old / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{old}/mlflow.db")
    assert registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    shutil.copytree(old, new)
    shutil.rmtree(old.parent)
    shutil.rmtree(new / ".cache", ignore_errors=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{new}/mlflow.db")
    with pytest.raises(RegistryError, match=r"records its models' artifacts under .*/a/mlruns/artifacts, not its own "
                                            r"folder.*agcredit models relocate"):
        registry.resolve("crop-type", "challenger")
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 2 and "agcredit models relocate" in listed.stderr and "Traceback" not in listed.output
    # only the database copied, not its artifacts: refused, nothing changed
    lone = tmp_path / "c" / "mlruns"
    lone.mkdir(parents=True)
    shutil.copyfile(new / "mlflow.db", lone / "mlflow.db")
    before = (lone / "mlflow.db").read_bytes()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{lone}/mlflow.db")
    r = runner.invoke(app, ["models", "relocate"])
    assert r.exit_code == 2 and "are not under" in r.stderr and "nothing changed" in r.stderr
    assert (lone / "mlflow.db").read_bytes() == before
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{new}/mlflow.db")
    dry = runner.invoke(app, ["models", "relocate", "--dry-run"])
    assert dry.exit_code == 0 and "would rewrite" in dry.stdout
    with pytest.raises(RegistryError, match="agcredit models relocate"):
        registry.resolve("crop-type", "challenger")
    done = runner.invoke(app, ["models", "relocate"])
    assert done.exit_code == 0 and "experiments 1, runs 1, model_versions 1, logged_models 1" in done.stdout, done.output
    assert registry.resolve("crop-type", "challenger").model.scale == 2.0
    assert registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "2"
    assert not old.parent.exists()  # nothing written to the original folder
    assert registry.resolve("crop-type", "challenger").model.scale == 3.0
    again = runner.invoke(app, ["models", "relocate"])
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_training_data_hashes_are_recorded_and_shown(store: Path) -> None:
    """Model risk can tell which data trained a version, not only which seasons: each named training table's
    content hash, rows and columns are the version's `training_data` tag, printed by `agcredit models show`."""
    from typer.testing import CliRunner

    from models import registry
    from models._digest import frame_hash
    from pipelines.cli import app

    table = pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2017", "2018"], "x": [1.0, 2.5]})
    registry.register(TinyModel(1.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    v2 = registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                           training_data={"labels": table, "series": table.iloc[:1]})
    versions = {v["version"]: v for v in registry.model_versions("crop-type")}
    assert versions["1"]["training_data"] == {}
    assert versions[v2]["training_data"] == {
        "labels": {"sha256": frame_hash(table), "rows": 2, "columns": 3},
        "series": {"sha256": frame_hash(table.iloc[:1]), "rows": 1, "columns": 3}}
    assert frame_hash(table) != frame_hash(table.assign(x=[1.0, 2.6]))  # one value changed: another hash
    out = CliRunner().invoke(app, ["models", "show", "crop-type"])
    assert out.exit_code == 0, out.output
    assert f"training data: labels sha256:{frame_hash(table)} (2 rows x 3 columns); series sha256:" in out.stdout
    assert "training data: not recorded" in out.stdout


def test_a_version_records_the_software_that_trained_it_and_its_whole_params(store: Path) -> None:
    """A model-risk review: the registry could not say which code trained a version (no source digest, no library
    versions) and cut every parameter at 500 characters (the yield model's feature list, 36 of 229 names). The
    version now carries the source digest and libraries `agcredit --version` prints, `models show` names them, and
    ``params.json`` holds every parameter whole."""
    import mlflow
    from typer.testing import CliRunner

    from models import registry
    from pipelines._code_digest import registry_provenance
    from pipelines.cli import app

    long = ",".join(f"feat_{i:03d}" for i in range(200))
    v = registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                          params={"features": long}, provenance=registry_provenance())
    got = {x["version"]: x for x in registry.model_versions("crop-type")}[v]
    want = registry_provenance()
    assert got["provenance"] == want and len(want["source_sha256"]) == 64 and "lightgbm " in want["libraries"]
    whole = mlflow.artifacts.load_dict(f"runs:/{got['run_id']}/params.json")
    assert whole["features"] == long and len(long) > 500
    out = CliRunner().invoke(app, ["models", "show", "crop-type"])
    assert out.exit_code == 0, out.output
    assert f"trained by: source sha256:{want['source_sha256'][:16]}; lightgbm " in out.stdout


def test_the_moved_check_reads_any_folder_name_and_follows_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   empty_db: Path) -> None:
    """A folder name with % or # crashed the check or opened another file; an `artifacts` symlink made a store
    that never moved look moved."""
    from models import registry
    from models._relocate import moved_experiments

    monkeypatch.setenv("AGCREDIT_OPERATOR", "analyst-7")
    odd = tmp_path / "r%x y#" / "mlruns"
    odd.mkdir(parents=True)
    shutil.copyfile(empty_db, odd / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{odd}/mlflow.db")
    assert registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    assert registry.resolve("crop-type", "challenger").model.scale == 2.0
    assert moved_experiments(odd / "mlflow.db") == [] and sorted(p.name for p in odd.parent.iterdir()) == ["mlruns"]
    linked = tmp_path / "l" / "mlruns"
    linked.mkdir(parents=True)
    (tmp_path / "elsewhere" / "artifacts").mkdir(parents=True)
    (linked / "artifacts").symlink_to(tmp_path / "elsewhere" / "artifacts")
    shutil.copyfile(empty_db, linked / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{linked}/mlflow.db")
    assert registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    assert moved_experiments(linked / "mlflow.db") == []
    assert registry.resolve("crop-type", "challenger").model.scale == 3.0


def test_another_applications_database_is_not_taken_for_a_registry(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """MLFLOW_TRACKING_URI naming the decision store (or any SQLite file of another application) by mistake: MLflow
    would create its ~25 tables inside it, and ``models list`` say "no registered models"."""
    from models import registry

    db = tmp_path / "agcredit-decisions.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE decisions (record_id TEXT)")
    con.commit()
    con.close()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    with pytest.raises(RegistryError, match=r"agcredit-decisions\.db is not an MLflow model registry .*decisions"):
        registry.list_models()
    with pytest.raises(RegistryError, match=r"is not an MLflow model registry"):
        registry.register(TinyModel(1.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    con = sqlite3.connect(db)
    assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"decisions"}
    con.close()


def test_a_download_killed_midway_is_not_taken_for_the_model(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local copy of a version counted as complete once any file of it was there: a resolve killed while
    downloading (its first file, ``agcredit_flavour.json``, written) left a copy every later run loaded, broken."""
    import mlflow

    from models import registry

    registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    real = mlflow.artifacts.download_artifacts

    def killed(*, artifact_uri: str, dst_path: str) -> str:
        got = Path(real(artifact_uri=artifact_uri, dst_path=dst_path))
        for p in got.rglob("*"):
            if p.is_file() and p.name != "agcredit_flavour.json":
                p.unlink()
        raise KeyboardInterrupt  # the process ends here

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", killed)
    with pytest.raises(KeyboardInterrupt):
        registry.resolve("crop-type", "challenger")
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", real)
    got = registry.resolve("crop-type", "challenger")
    assert got.version == "1" and got.model.scale == 2.0


def _dead_pid() -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_registration_killed_before_its_alias_is_completed_not_repeated(
        store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A `train` killed between creating its version and setting `challenger` left a complete version no alias
    ever pointed at, and the re-run registered the same model again beside it. Now the re-run finds that version
    (same model bytes, training data and metrics; no alias now or in the history) and completes it."""
    from mlflow.tracking import MlflowClient

    from models import registry

    table = pd.DataFrame({"field_id": ["F1", "F2"], "x": [1.0, 2.5]})

    def reg(scale: float, data: pd.DataFrame = table) -> str:
        return registry.register(TinyModel(scale), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                                 training_data={"labels": data})

    assert reg(1.0) == "1"
    real = MlflowClient.set_registered_model_alias

    def killed(self: Any, *a: Any, **k: Any) -> None:
        raise KeyboardInterrupt  # the process dies here: version created, no alias, no history row

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", killed)
    with pytest.raises(KeyboardInterrupt):
        reg(2.0)
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real)
    client = MlflowClient()
    assert sorted(int(v.version) for v in client.search_model_versions("name = 'crop-type'")) == [1, 2]
    run_id = client.get_model_version("crop-type", "2").run_id
    # while the process that registered it lives (this one: the same model trained twice at once), it is not taken
    # for a killed registration — and a version whose run was deleted and collected is skipped, not an error
    real_get_run = MlflowClient.get_run

    def purged(self: Any, rid: str) -> Any:
        if rid == run_id:
            from mlflow.exceptions import MlflowException

            raise MlflowException(f"Run with id={rid} not found")
        return real_get_run(self, rid)

    for patch in (None, purged):
        with monkeypatch.context() as m:
            if patch is not None:
                client.set_tag(run_id, "agcredit.pid", _dead_pid())
                m.setattr(MlflowClient, "get_run", patch)
            assert registry._cut_short_version(client, "crop-type", client.get_model_version("crop-type", "2").tags,
                                               {"r2_maize": 0.5}) is None
    client.set_tag(run_id, "agcredit.pid", _dead_pid())  # the registering process was killed
    assert reg(2.0) == "2"  # completed, not a version 3
    assert sorted(int(v.version) for v in client.search_model_versions("name = 'crop-type'")) == [1, 2]
    assert "version 2, registered by a run cut short before its alias was set" in caplog.text
    hist = [(h["alias"], h["version"], h["previous_version"]) for h in registry.alias_history("crop-type")]
    assert hist == [("challenger", "1", None), ("challenger", "2", "1")]
    # another model, other data, or a version that once had an alias: registered as new versions
    assert reg(3.0) == "3"
    assert reg(2.0, table.assign(x=[1.0, 2.6])) == "4"
    assert reg(1.0) == "5"  # version 1 is the same model and data, but it was aliased: a deliberate re-registration


_KILLED_REGISTERING = """
import os, signal
import mlflow
from models import registry
from tests.models.test_registry import TinyModel, gov
def start_run(*a, **k):  # SIGKILL (the OOM killer) once the model is saved in the temporary folder
    os.kill(os.getpid(), signal.SIGKILL)
mlflow.start_run = start_run
registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
"""


def test_a_registration_killed_outright_leaves_no_model_folder_in_tmpdir(
        store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `train` SIGKILLed while registering left its temporary model folder (`agcredit-register-…`, 6.5 MB on the
    demo county; the plots' folder beside it) in TMPDIR for good: every kill added one. The folders now carry host
    and process, and the next registration removes those of processes gone (older than an hour: a live process
    of another PID namespace is never taken for a dead one)."""
    import os
    import subprocess
    import sys
    import tempfile
    import time

    from models import registry

    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _KILLED_REGISTERING], check=False, cwd=root, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(root), "TMPDIR": str(tmp)})
    assert proc.returncode == -9, proc.stderr[-2000:]
    left = [p for p in tmp.iterdir() if p.name.startswith("agcredit-register-")]
    assert len(left) == 1 and any(left[0].rglob("*"))  # what the kill left: the saved model
    young = tmp / f"{left[0].name}-young"  # the same process's, but recent: kept (could be a live namespace's)
    young.mkdir()
    hour_ago = time.time() - 2 * 3600
    os.utime(left[0], (hour_ago, hour_ago))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5)) == "1"
    assert sorted(p.name for p in tmp.iterdir()) == [young.name]


def test_a_registration_killed_between_its_alias_and_its_history_row_is_completed_not_repeated(
        store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A `train` killed (SIGKILL) after setting `challenger` on its new version but before writing the alias
    history row: the re-run completed that version but recorded its move as from version 2 itself (it read the
    alias the killed run had already moved), so the append-only history never said `challenger` left version 1.
    Now the re-run records the move from the version the history last named, once."""
    from mlflow.tracking import MlflowClient

    from models import _registry_mlflow_register, registry

    table = pd.DataFrame({"field_id": ["F1", "F2"], "x": [1.0, 2.5]})

    def reg(scale: float) -> str:
        return registry.register(TinyModel(scale), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5),
                                 training_data={"labels": table})

    assert reg(1.0) == "1"
    real = registry._append_history

    def killed(**k: Any) -> None:
        raise KeyboardInterrupt  # the process dies here: version 2 created and named challenger, no history row

    # patched where the registration (models._registry_mlflow_register._name_challenger) looks it up
    monkeypatch.setattr(_registry_mlflow_register, "_append_history", killed)
    with pytest.raises(KeyboardInterrupt):
        reg(2.0)
    monkeypatch.setattr(_registry_mlflow_register, "_append_history", real)
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("crop-type", "challenger").version) == "2"
    client.set_tag(client.get_model_version("crop-type", "2").run_id, "agcredit.pid", _dead_pid())
    assert reg(2.0) == "2"  # completed, not a version 3
    assert sorted(int(v.version) for v in client.search_model_versions("name = 'crop-type'")) == [1, 2]
    hist = [(h["alias"], h["version"], h["previous_version"]) for h in registry.alias_history("crop-type")]
    assert hist == [("challenger", "1", None), ("challenger", "2", "1")]
    assert reg(2.0) == "3"  # once recorded, a deliberate re-registration is a new version again


def test_a_promotion_killed_between_its_alias_and_its_history_row_is_recorded_by_its_rerun(
        store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """`models promote` killed after moving `champion` but before its history row: the re-run recorded the move as
    from the version itself (previous = the new champion) and a forced promotion's approval was recorded against
    that; a later promotion of another version recorded nothing of the unrecorded move. Now the re-run records the
    move once, from the champion the history last named, with its approver; and a move found unrecorded when
    another version is promoted is recorded first (operator unknown, said so)."""
    from mlflow.tracking import MlflowClient

    from models import registry

    for scale in (1.0, 2.0, 3.0):
        registry.register(TinyModel(scale), "crop-type", metrics={"r2_maize": 0.3}, governance=gov(0.3))
    registry.promote("crop-type", "1", force=True, reason="demo", approved_by="lead-2")
    real = registry._append_history

    def killed(**k: Any) -> None:
        raise KeyboardInterrupt  # the process dies here: champion moved to 2, no history row

    monkeypatch.setattr(registry, "_append_history", killed)
    with pytest.raises(KeyboardInterrupt):
        registry.promote("crop-type", "2", force=True, reason="demo", approved_by="lead-2")
    monkeypatch.setattr(registry, "_append_history", real)
    assert str(MlflowClient().get_model_version_by_alias("crop-type", "champion").version) == "2"
    registry.promote("crop-type", "2", force=True, reason="demo", approved_by="lead-2")  # the re-run
    champ = [(h["version"], h["previous_version"], h["approved_by"]) for h in registry.alias_history("crop-type")
             if h["alias"] == "champion"]
    assert champ == [("1", None, "lead-2"), ("2", "1", "lead-2")]
    assert registry.promote("crop-type", "2", force=True, reason="demo", approved_by="lead-2").get("unchanged")
    # champion moved to 3 with no row (killed, or outside agcredit), then version 1 promoted: the move is recorded
    MlflowClient().set_registered_model_alias("crop-type", "champion", "3")
    registry.promote("crop-type", "1", force=True, reason="back", approved_by="lead-2")
    champ = [(h["version"], h["previous_version"], h["operator"]) for h in registry.alias_history("crop-type")
             if h["alias"] == "champion"]
    assert champ == [("1", None, "analyst-7"), ("2", "1", "analyst-7"), ("3", "2", "unknown"), ("1", "3", "analyst-7")]
    assert "champion stands on version 3 but its history last records version 2" in caplog.text


@pytest.mark.parametrize("name", ["farmer's crop-type", "say \"x\" 'y'"])
def test_a_model_name_with_quotes_keeps_its_versions_history_and_killed_registration(
        store: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """MLflow's search filter was written with the name in single quotes: a name holding one found no versions
    (the killed-registration check skipped, `models list` counted 0) and its alias history was looked up under the
    name without its quotes (empty)."""
    from mlflow.tracking import MlflowClient

    from models import registry

    table = pd.DataFrame({"field_id": ["F1", "F2"], "x": [1.0, 2.5]})

    def reg(scale: float) -> str:
        return registry.register(TinyModel(scale), name, metrics={"r2_maize": 0.5}, governance=gov(0.5),
                                 training_data={"labels": table})

    assert reg(1.0) == "1"
    real = MlflowClient.set_registered_model_alias

    def killed(self: Any, *a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", killed)
    with pytest.raises(KeyboardInterrupt):
        reg(2.0)
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real)
    client = MlflowClient()
    client.set_tag(client.get_model_version(name, "2").run_id, "agcredit.pid", _dead_pid())
    assert reg(2.0) == "2"  # the killed registration completed, not a version 3
    assert [v["version"] for v in registry.model_versions(name)] == ["2", "1"]
    assert [(m["name"], m["n_versions"], m["latest"]) for m in registry.list_models()] == [(name, 2, 2)]
    hist = [(h["model"], h["alias"], h["version"]) for h in registry.alias_history(name)]
    assert hist == [(name, "challenger", "1"), (name, "challenger", "2")]


def test_a_checkpoint_in_scope_without_held_out_metrics_is_gated(store: Path) -> None:
    """A crop-type version validated per checkpoint whose scope holds a checkpoint with no held-out metrics (its
    record, written before such checkpoints were required, names no minimum metric for it): promotion refuses it with
    one line naming the checkpoint; a forced promotion records it among the failures."""
    from models import registry

    cps = ("emergence", "mid", "end")
    metrics = {"accuracy_end": 0.93, "macro_f1_end": 0.91, "ece_end": 0.055,
               "accuracy_emergence": 0.76, "macro_f1_emergence": 0.65, "ece_emergence": 0.063}  # none at mid
    req = tuple(Requirement(f"{m}_{cp}", op, t) for cp in ("end", "emergence")
                for m, op, t in (("accuracy", ">=", 0.6), ("macro_f1", ">=", 0.55), ("ece", "<=", 0.15)))
    g = Governance(crops=("maize", "rice"), regions=("in-smallholder",), checkpoints=cps, metrics=metrics,
                   minimum_metrics=req, data="synthetic")
    assert g.unmeasured_checkpoints() == ["mid"]
    line = "checkpoint mid is in scope without held-out metrics (needs accuracy_mid, ece_mid, macro_f1_mid)"
    assert g.failures() == [line] and "FAILS 1 minimum metric(s)" in g.summary()
    assert Governance.from_json(g.to_json()).failures() == [line]    # as the registry reads it back
    # a NaN figure is no figure; a yield-value version (end-of-season metrics unprefixed) names no checkpoint
    assert Governance(crops=(), regions=(), checkpoints=cps, metrics={**metrics, "accuracy_mid": float("nan")},
                      minimum_metrics=req).unmeasured_checkpoints() == ["mid"]
    assert gov(0.5).unmeasured_checkpoints() == [] and gov(0.5).failures() == []
    v = registry.register(TinyModel(1.0), "crop-type", metrics=metrics, governance=g)
    with pytest.raises(RegistryError, match=r"crop-type version 1 is below its minimum metrics: checkpoint mid is in "
                                            r"scope without held-out metrics") as e:
        registry.promote("crop-type", v, reason="try")
    assert "\n" not in str(e.value.problem)
    r = registry.promote("crop-type", v, force=True, reason="demo", approved_by="reviewer-2")
    assert r["failures"] == [line]


def test_forced_promotion_needs_a_second_operator(store: Path) -> None:
    """A version below its minimum metrics is promoted only with a second operator's approval (another person than
    the operator, ids compared as people: case, spacing, width, invisible characters), recorded in the history;
    refused, nothing moves and nothing is recorded. A version meeting them needs no approver."""
    from models import registry

    registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=gov(0.5))
    registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.2}, governance=gov(0.2))
    registry.promote("crop-type", 1, reason="passes validation")  # no approver needed
    before = registry.alias_history("crop-type")
    refusals = [(None, "mrm-1", r"a forced promotion needs a second operator's approval \(add --approved-by ID"),
                ("  ", "mrm-1", r"needs a second operator's approval"),
                ("MRM-1", "mrm-1", r"--approved-by 'MRM-1' is the operator 'mrm-1': the approver must be a second"),
                (" mrm\u200b-1 ", "mrm-1", r"the approver must be a second person"),
                ("\uff4d\uff52\uff4d-1", "mrm-1", r"the approver must be a second person"),  # full-width letters
                ("analyst-7", None, r"is the operator 'analyst-7'")]  # the operator from AGCREDIT_OPERATOR
    for approver, operator, msg in refusals:
        with pytest.raises(RegistryError, match=msg):
            registry.promote("crop-type", 2, force=True, reason="drought year", operator=operator,
                             approved_by=approver)
    assert registry.resolve("crop-type").version == "1"
    assert registry.alias_history("crop-type") == before
    with pytest.raises(RegistryError, match="the approver must be a second person"):  # a given approver is checked
        registry.promote("crop-type", 1, reason="again", approved_by="Analyst-7")

    out = registry.promote("crop-type", 2, force=True, reason="drought year", operator="mrm-1", approved_by=" mrm-2 ")
    assert out["approved_by"] == "mrm-2" and registry.resolve("crop-type").version == "2"
    last = [h for h in registry.alias_history("crop-type") if h["alias"] == "champion"][-1]
    assert (last["operator"], last["approved_by"], last["forced"]) == ("mrm-1", "mrm-2", True)


def test_history_without_approved_by_column_is_read_and_upgraded(store: Path) -> None:
    """A registry whose alias history was created before approvals: read as it is (its rows approved_by None, the
    file not written), and the next move adds the column (older rows stay None, the table stays append-only)."""
    from models import registry

    path = store / "alias_history.db"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE alias_history (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, model TEXT NOT NULL, alias TEXT NOT NULL,
          version TEXT, previous_version TEXT, operator TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
          metrics TEXT NOT NULL, failures TEXT NOT NULL);
        CREATE TRIGGER alias_history_no_update BEFORE UPDATE ON alias_history
          BEGIN SELECT RAISE(ABORT, 'alias_history is append-only'); END;
        CREATE TRIGGER alias_history_no_delete BEFORE DELETE ON alias_history
          BEGIN SELECT RAISE(ABORT, 'alias_history is append-only'); END;
        INSERT INTO alias_history (at, model, alias, version, previous_version, operator, reason, forced, metrics,
          failures) VALUES ('2025-01-01T00:00:00+00:00', 'crop-type', 'champion', '7', NULL, 'mrm-1', 'old forced',
          1, '{}', '["r2_maize >= 0.4 (found 0.2)"]');
    """)
    con.commit()
    con.close()
    old = registry.alias_history("crop-type")
    assert [(h["reason"], h["forced"], h["approved_by"], h["evidence"]) for h in old] == [
        ("old forced", True, None, None)]
    con = sqlite3.connect(path)
    cols = [r[1] for r in con.execute("PRAGMA table_info(alias_history)")]
    con.close()
    assert "approved_by" not in cols  # reading wrote nothing

    registry.register(TinyModel(3.0), "crop-type", metrics={"r2_maize": 0.2}, governance=gov(0.2))
    registry.promote("crop-type", 1, force=True, reason="drought year", operator="mrm-1", approved_by="mrm-2")
    hist = registry.alias_history("crop-type")
    assert [(h["reason"], h["approved_by"]) for h in hist] == [("old forced", None), ("registered", None),
                                                              ("drought year", "mrm-2"),
                                                              ("promoted to champion", None)]
    # the promotion's entry says what evidence it checked (none: "shadow: not checked"); older rows None
    assert [h["evidence"] for h in hist] == [None, None, registry.NOT_CHECKED, None]
    con = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE alias_history SET approved_by = 'x'")
    finally:
        con.close()


def test_reading_a_long_governance_record_leaves_nothing_in_tmpdir(store: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A governance record too long for its version tag (every real model's: the demo's are 6 kB) is read from the
    run's ``governance.json``; MLflow downloaded it into a folder of its own in TMPDIR that nothing removed — every
    ``underwrite``, ``reunderwrite`` and ``report`` left one (operations walkthrough, 2026-12-03)."""
    import tempfile

    from models import registry

    long = Governance(crops=("maize", "soybean"), regions=("us-nebraska",), checkpoints=("end", "mid"),
                      metrics={"r2_maize": 0.5}, notes="calibrated on the past seasons. " * 300)
    assert len(long.to_json()) > 4900
    registry.register(TinyModel(2.0), "crop-type", metrics={"r2_maize": 0.5}, governance=long)
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert registry.governance("crop-type", "1").notes == long.notes
    assert list(tmp.iterdir()) == []
