"""``agcredit models card``: a registered version's documentation for model risk, on a real MLflow registry in a
temporary SQLite store — its identity, standing (the alias history's moves of it), scope, minimum metrics judged,
held-out figures per checkpoint beside the baselines, every other metric; synthetic data labelled; the same version
the same bytes; bad input one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from models.governance import Governance, Requirement
from pipelines.cli import app
from pipelines.model_card import ModelCard, card_markdown
from tests.models.test_registry import TinyModel

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")

_YIELD_METRICS = {"r2_maize": 0.61, "naive_crop_mean_r2_maize": 0.02, "naive_farmer_mean_r2_maize": -0.3,
                  "skill_r2_maize": 0.59, "rmse_pct_maize": 21.5, "naive_crop_mean_rmse_pct_maize": 30.1,
                  "naive_farmer_mean_rmse_pct_maize": 35.0, "below_p10_maize": 0.08, "above_p90_maize": 0.11,
                  "below_p10_all": 0.08, "above_p90_all": 0.11, "r2_all": 0.61, "mid_r2_maize": 0.4,
                  "mid_skill_r2_maize": -0.07, "rmse_maize": 1.25}


def _yield_gov(**kw: Any) -> Governance:
    return Governance(crops=("maize",), regions=("us-nebraska",), checkpoints=("end", "mid"), metrics=_YIELD_METRICS,
                      minimum_metrics=(Requirement("skill_r2_maize", ">=", -0.05),
                                       Requirement("below_p10_all", "<=", 0.17),
                                       Requirement("mid_skill_r2_maize", ">=", -0.05)),
                      notes="leave-one-season-out over 2 season(s)",
                      checkpoint_dates={"us-nebraska": {"mid": {"*": ("07-20", 0)}, "end": {"*": ("10-31", 0)}}},
                      **kw)


def _registry() -> tuple[str, str]:
    """Two yield-value versions (2 promoted with an effective date); the first's governance a stand-in's."""
    from models import registry

    g = _yield_gov()
    v1 = registry.register(TinyModel(1.0), "yield-value", metrics=_YIELD_METRICS, governance=g)
    v2 = registry.register(TinyModel(2.0), "yield-value", metrics=_YIELD_METRICS, governance=g)
    registry.promote("yield-value", v2, effective="2018-05-01", force=True, reason="the 2018 season's model",
                     approved_by="risk-officer-2")
    return v1, v2


def test_the_card_of_the_champion_names_its_standing_scope_gates_and_figures(store: Path) -> None:
    v1, v2 = _registry()
    r = CliRunner().invoke(app, ["models", "card", "yield-value"])
    assert r.exit_code == 0, r.output
    t = r.stdout
    lines = t.splitlines()
    assert lines[0] == f"# Model card: yield-value version {v2} (champion)"
    assert lines[2].startswith("**Data:** SYNTHETIC — every figure below comes from a simulated county")
    assert f"- Registry: sqlite:///{store}/mlflow.db" in lines
    # the forced promotion, who approved it and from when it is in force; version 1's own moves are not listed
    promoted = [x for x in lines if x.startswith("- ") and " champion: v- → v" in x]
    assert len(promoted) == 1 and promoted[0].endswith(
        f"champion: v- → v{v2} by analyst-7 FORCED, approved by risk-officer-2: the 2018 season's model; in force "
        "from 2018-05-01"), promoted
    assert not any(f"→ v{v1} " in x for x in lines)
    assert "- us-nebraska mid: validated from every crop 07-20 of the season" in lines
    # the gates: the mid-season one below its threshold, and the status says so
    assert "| mid_skill_r2_maize | >= -0.05 | -0.07 | **no** |" in lines
    assert "| skill_r2_maize | >= -0.05 | 0.59 | yes |" in lines
    assert any(x.startswith("Status: FAILS 1: mid_skill_r2_maize >= -0.05 (found -0.07)") for x in lines), t
    # the figures per checkpoint and crop beside the baselines; what no table shows is listed whole
    assert "| end | maize | 0.61 | 0.02 | -0.3 | 0.59 | 21.5 | 30.1 | 35 | 0.08 | 0.11 |" in lines
    assert "| mid | maize | 0.4 | – | – | -0.07 | – | – | – | – | – |" in lines
    i = lines.index("## Every other metric")
    assert lines[i + 2] == "rmse_maize=1.25"
    # the same version: the same bytes; by number and by alias alike
    again = CliRunner().invoke(app, ["models", "card", "yield-value", "--version", v2]).stdout
    assert again == t


def test_a_card_written_to_a_file_and_as_json(store: Path, tmp_path: Path) -> None:
    v1, _ = _registry()
    out = tmp_path / "cards" / "yield-v1.md"
    r = CliRunner().invoke(app, ["models", "card", "yield-value", "--version", f"v{v1}", "--out", str(out)])
    assert r.exit_code == 0 and r.stdout.strip() == f"wrote {out} (yield-value version {v1})", r.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# Model card: yield-value version {v1}\n") and "- Aliases now: none" in text
    assert [p.name for p in out.parent.iterdir()] == ["yield-v1.md"]  # no temporary file left beside it
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert CliRunner().invoke(app, ["models", "card", "yield-value", "--version", v1, "--out", str(out)]).exit_code == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    j = json.loads(CliRunner().invoke(app, ["models", "card", "yield-value", "--version", v1, "--json"]).stdout)
    assert j["version"] == v1 and j["aliases"] == [] and j["governance"]["data"] == "synthetic"
    assert {m["metric"]: m["met"] for m in j["minimum_metrics"]} == {
        "skill_r2_maize": True, "below_p10_all": True, "mid_skill_r2_maize": False}
    assert j["failures"] == ["mid_skill_r2_maize >= -0.05 (found -0.07)"]


@pytest.mark.parametrize("case", ["unknown version", "unknown model", "out is a folder", "out and json"])
def test_bad_input_is_one_line_and_writes_nothing(store: Path, tmp_path: Path, case: str) -> None:
    _registry()
    args, expect = {
        "unknown version": (["--version", "7"], "models card: yield-value has no version or alias '7' (it has: v2, "
                                                "v1, champion)"),
        "unknown model": ([], "no registered model 'area' in sqlite:///"),
        "out is a folder": (["--out", str(tmp_path)], "the model card is a folder"),
        "out and json": (["--out", str(tmp_path / "c.md"), "--json"], "--out writes the Markdown card; --json"),
    }[case]
    name = "area" if case == "unknown model" else "yield-value"
    before = sorted(tmp_path.rglob("*"))
    r = CliRunner().invoke(app, ["models", "card", name, *args])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert expect in r.stderr, r.stderr
    assert "Traceback" not in r.output and sorted(tmp_path.rglob("*")) == before


def _crop_card(metrics: dict[str, float], data: str = "real") -> ModelCard:
    gov = Governance(crops=("maize", "soybean"), regions=("us-nebraska",), checkpoints=("mid", "end"),
                     metrics=metrics, minimum_metrics=(Requirement("accuracy_end", ">=", 0.75),
                                                       Requirement("accuracy_mid", ">=", 0.6)), data=data)
    entry = {"version": "3", "run_id": "r3", "created": "2026-12-01T00:00:00+00:00", "aliases": [],
             "metrics": metrics, "governance": gov, "plots": [], "training_data": {}, "provenance": {}}
    return ModelCard(name="crop-type", version="3", spec="3", registry="sqlite:///x", entry=entry, aliases=(),
                     history=())


def test_a_crop_type_card_lays_its_figures_out_by_checkpoint() -> None:
    m = {"accuracy_end": 0.95, "macro_f1_end": 0.9, "ece_end": 0.03, "accuracy_mid": 0.81, "ece_mid": 0.06,
         "naive_majority_accuracy": 0.4, "declared_right_maize": 0.97, "n_train": 1200.0}
    text = card_markdown(_crop_card(m))
    lines = text.splitlines()
    assert lines[2] == "**Data:** real — the figures come from real fields' records held out from training."
    assert "| mid | 0.81 | – | 0.06 |" in lines and "| end | 0.95 | 0.9 | 0.03 |" in lines
    assert lines.index("| mid | 0.81 | – | 0.06 |") < lines.index("| end | 0.95 | 0.9 | 0.03 |")  # scope order
    assert "Naive baselines (the same held-out fields): naive_majority_accuracy 0.4." in lines
    assert any(x.endswith("declared crops): maize 0.97.") for x in lines)
    assert lines[lines.index("## Every other metric") + 2] == "n_train=1200"
    assert "- Trained by: not recorded (registered before provenance tags)" in lines
    assert "- not recorded (registered before training-data hashes)" in lines
    assert "Status: meets its minimum metrics" in lines
    # a metric the gate names but the version never measured: "not measured", and the status says what is missing
    text = card_markdown(_crop_card({"accuracy_end": 0.95}, data="unlabelled"))
    assert "| accuracy_mid | >= 0.6 | – | not measured |" in text.splitlines()
    assert "**Data:** UNLABELLED" in text and "Status: FAILS 1: checkpoint mid is in scope without held-out " in text
