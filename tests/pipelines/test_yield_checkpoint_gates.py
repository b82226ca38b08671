"""A yield-value version trained now is gated at every checkpoint of its scope (``mid_skill_r2_<crop>``,
``mid_below_p10_all``, ``mid_above_p90_all`` beside the end of season's): training registers a version failing at
mid-season only without promoting it, and ``models performance`` judges the mid minimum metrics on a mid-season
season's outcomes — a version registered before (end-of-season minimum metrics only) says in one line that none gates
mid, as it did."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines import train_yield
from pipelines.cli import app
from pipelines.train_yield import TrainResult, yield_minimum_metrics
from tests.pipelines.test_models_performance import _args, _run, trained  # noqa: F401  (a registered version, 2016)
from tests.pipelines.test_models_stability import _full
from tests.pipelines.test_train_yield import FAST, synth_features

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/reg/mlflow.db")
    (tmp_path / "reg").mkdir()
    return tmp_path / "reg"


def _poor_at_mid() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Seasons whose end-of-season rows meet every gate and whose held-out season's (2015) mid-season rows read the
    index backwards: a version poor at mid-season only."""
    feats, rep = synth_features()
    mid = feats["mid"].copy()
    held = mid["season"] == "2015"
    mid.loc[held, "ndvi_max"] = 1.3 - mid.loc[held, "ndvi_max"]
    return {"end": feats["end"], "mid": mid}, rep


def test_a_version_poor_at_mid_season_only_is_registered_not_promoted(registry: Path) -> None:
    from models import registry as reg

    feats, rep = _poor_at_mid()
    res = train_yield.train_yield(feats, rep, data="synthetic", config=FAST, operator="tester")
    g = res.governance
    assert g.minimum_metrics == yield_minimum_metrics(("maize", "soybean"), checkpoints=("end", "mid"))
    assert res.version == "1" and not res.promoted
    assert res.failures and all(f.startswith("mid_") for f in res.failures), res.failures
    assert f"mid_skill_r2_maize >= -0.05 (found {g.metrics['mid_skill_r2_maize']:.4g})" in res.failures
    assert g.metrics["mid_skill_r2_maize"] < -0.05 <= g.metrics["skill_r2_maize"]
    assert any(n.startswith(f"version 1 stays challenger: below {len(res.failures)} minimum metric(s)")
               for n in res.notes)
    lines = res.summary().splitlines()
    assert f"  below minimum: {res.failures[0]}" in lines
    assert any(ln.startswith("  governance: ") and ln.endswith(f"FAILS {len(res.failures)} minimum metric(s)")
               for ln in lines)
    # the registry keeps the record as trained: the registration's history row names the mid failures
    assert reg.governance("yield-value", "1").failures() == res.failures
    assert [(h["alias"], h["failures"]) for h in reg.alias_history("yield-value")] == [("challenger", res.failures)]
    # the same seasons without the mid-season fault: every checkpoint met, promoted
    ok, rep = synth_features()
    good = train_yield.train_yield(ok, rep, data="synthetic", config=FAST, operator="tester")
    assert good.promoted and good.failures == [] and good.governance.minimum_metrics == g.minimum_metrics


def test_train_yield_from_tables_names_the_mid_season_misses(tmp_path: Path, registry: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    feats, rep = _poor_at_mid()
    fp, rp = tmp_path / "f.parquet", tmp_path / "r.csv"
    pd.concat([_full(f).assign(checkpoint=cp) for cp, f in feats.items()], ignore_index=True).to_parquet(fp)
    rep.to_csv(rp, index=False)
    real_train = train_yield.train_yield

    def fast(*a: object, **k: object) -> TrainResult:
        return real_train(*a, **{**k, "config": FAST})  # type: ignore[arg-type]

    monkeypatch.setattr(train_yield, "train_yield", fast)
    r = CliRunner().invoke(app, ["train", "yield", "--features", str(fp), "--reported", str(rp), "--data",
                                 "synthetic"])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    below = [ln for ln in lines if ln.startswith("  below minimum: ")]
    assert any(ln.startswith("  below minimum: mid_skill_r2_maize >= -0.05 (found -") for ln in below), r.stdout
    assert any(ln.startswith("  below minimum: mid_below_p10_all <= 0.17 (found ") for ln in below), r.stdout
    assert "  registered yield-value version 1 as challenger (not promoted)" in lines
    assert any(ln.startswith("  note: version 1 stays challenger: below ") for ln in lines)


def test_too_few_seasons_leave_mid_in_scope_without_held_out_metrics() -> None:
    feats, rep = synth_features(seasons=("2014", "2015"))
    res = train_yield.train_yield(feats, rep, register=False, config=FAST)
    assert res.failures == [
        "checkpoint mid is in scope without held-out metrics (needs mid_above_p90_all, mid_below_p10_all)",
        "below_p10_all >= 0.03 (found missing)", "below_p10_all <= 0.17 (found missing)",
        "above_p90_all >= 0.03 (found missing)", "above_p90_all <= 0.17 (found missing)"]


@pytest.fixture(scope="module")
def old_version(trained: dict) -> str:  # noqa: F811
    """The trained version registered again with the record a version trained before carried: end-of-season minimum
    metrics only (the same model, metrics and training seasons)."""
    from models import registry

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", trained["uri"])
        r = registry.resolve("yield-value", trained["v"])
        gov = registry.governance("yield-value", trained["v"])
        old = replace(gov, minimum_metrics=tuple(q for q in gov.minimum_metrics if not q.metric.startswith("mid_")))
        assert len(old.minimum_metrics) == 6 < len(gov.minimum_metrics)
        return registry.register(r.model, "yield-value", metrics=gov.metrics, governance=old,
                                 params={"seasons": ",".join(registry.training_seasons("yield-value", trained["v"])
                                                             or [])})


def _judged(out: dict) -> dict[str, tuple[bool, str, str]]:
    return {q["metric"] + " " + q["op"]: (q["gated"], q["gated_at"], q["judgement"]) for q in out["requirements"]}


def test_a_mid_season_analysis_judges_the_mid_minimum_metrics(trained: dict,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    r = _run(trained, monkeypatch, *_args(trained, "mid"), "--fail-on-miss", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    judged = _judged(out)
    gated = {k: v for k, v in judged.items() if v[0]}
    assert sorted(gated) == ["mid_above_p90_all <=", "mid_above_p90_all >=", "mid_below_p10_all <=",
                             "mid_below_p10_all >=", "mid_skill_r2_maize >=", "mid_skill_r2_soybean >="]
    assert all(v[1] == "mid" and v[2] in ("met", "interval straddles") for v in gated.values()), gated
    # the end of season's are shown beside them, for reference
    assert {k for k, v in judged.items() if not v[0] and v[1] == "end"} == {k.removeprefix("mid_") for k in gated}
    assert out["verdict"] != "no minimum metric of the version gates checkpoint mid" and not out["missed"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    from models import registry

    held = registry.governance("yield-value", trained["v"]).metrics
    q = {x["metric"]: x for x in out["requirements"]}
    assert q["mid_skill_r2_maize"]["validated"] == pytest.approx(held["mid_skill_r2_maize"])
    text = _run(trained, monkeypatch, *_args(trained, "mid")).stdout.splitlines()
    line = next(ln for ln in text if ln.startswith("  mid_skill_r2_maize >= -0.05: "))
    assert line.endswith(f" — {q['mid_skill_r2_maize']['judgement']}") and "for reference" not in line
    line = next(ln for ln in text if ln.startswith("  skill_r2_maize >= -0.05: "))
    assert line.endswith(" (gated at end only: for reference)")


def test_a_mid_season_harvest_far_under_the_model_misses_the_mid_minimum_metrics(
        trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    r = _run(trained, monkeypatch, *_args(trained, "mid", reported="flooded.csv"), "--fail-on-miss")
    assert r.exit_code == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    verdict = next(ln for ln in lines if ln.startswith("verdict: "))
    assert verdict.startswith("verdict: MISSED on this season's outcomes: mid_below_p10_all, mid_above_p90_all"), verdict
    assert any(ln.startswith("  mid_below_p10_all <= 0.17: 1.000 ") and ln.endswith(" — not met") for ln in lines)
    r = _run(trained, monkeypatch, *_args(trained, "mid", reported="flooded.csv"))
    assert r.exit_code == 0  # a report without --fail-on-miss


def test_a_version_registered_before_says_no_minimum_metric_gates_mid(trained: dict, old_version: str,  # noqa: F811
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    args = [*_args(trained, "mid", reported="flooded.csv")[:-1], old_version]
    r = _run(trained, monkeypatch, *args, "--fail-on-miss", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["version"] == old_version != trained["v"]
    assert not out["missed"] and out["verdict"] == "no minimum metric of the version gates checkpoint mid"
    assert len(out["requirements"]) == 6
    assert all(not q["gated"] and q["gated_at"] == "end" for q in out["requirements"])
    # at end of season it is judged on its end minimum metrics exactly as the version trained now
    end_new = json.loads(_run(trained, monkeypatch, *_args(trained), "--json").stdout)
    end_old = json.loads(_run(trained, monkeypatch, *_args(trained)[:-1], old_version, "--json").stdout)
    assert end_old["requirements"] == end_new["requirements"] and end_old["verdict"] == end_new["verdict"]
    assert np.isfinite(end_old["figures"][0]["r2"])


def test_outcomes_read_the_longest_checkpoint_prefix() -> None:
    """A requirement named for ``pre_harvest`` gates the outcomes at ``pre_harvest``, not at a checkpoint ``pre``
    whose name is its prefix (as Governance reads it)."""
    import pandas as pd

    from models.governance import Governance, Requirement
    from pipelines.outcomes import _requirements

    gov = Governance(crops=("maize",), regions=("r",), checkpoints=("end", "pre", "pre_harvest"),
                     metrics={"pre_harvest_skill_r2_maize": 0.2},
                     minimum_metrics=(Requirement("pre_harvest_skill_r2_maize", ">=", -0.05),))
    by_crop = pd.DataFrame({"skill_r2": [0.1], "skill_r2_lo": [0.0], "skill_r2_hi": [0.2]}, index=["maize"])
    assert _requirements(gov, "pre", by_crop) == []
    got = _requirements(gov, "pre_harvest", by_crop)
    assert [(g["metric"], g["gated"], g["gated_at"], g["validated"]) for g in got] == [
        ("pre_harvest_skill_r2_maize", True, "pre_harvest", 0.2)]
