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
        "from 2018-05-01 — overriding: mid_skill_r2_maize >= -0.05 (found -0.07); shadow: not checked"), promoted
    assert not any(f"→ v{v1} " in x for x in lines)
    assert "- us-nebraska mid: validated from every crop 07-20 of the season" in lines
    assert "- A field outside this scope is not valued by this version: the policy refers it (OUT_OF_MODEL_SCOPE)." \
        in lines
    assert not any(x.startswith("- Checkpoints in scope that no minimum metric gates") for x in lines)
    # identity, provenance, the training data's hashes, the notes and the plots: each its own line
    assert "- Trained by: not recorded (registered before provenance tags)" in lines
    assert "Notes: leave-one-season-out over 2 season(s)" in lines
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
    out.parent.mkdir()  # a missing folder is refused, as `evaluate report` refuses it
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


@pytest.mark.parametrize("case", ["unknown version", "unknown model", "out is a folder", "out and json",
                                  "out folder missing"])
def test_bad_input_is_one_line_and_writes_nothing(store: Path, tmp_path: Path, case: str) -> None:
    _registry()
    args, expect = {
        "unknown version": (["--version", "7"], "models card: yield-value has no version or alias '7' (it has: v2, "
                                                "v1, champion)"),
        "unknown model": ([], "no registered model 'area' in sqlite:///"),
        "out is a folder": (["--out", str(tmp_path)], "the model card is a folder"),
        "out and json": (["--out", str(tmp_path / "c.md"), "--json"], "--out writes the Markdown card; --json"),
        # a us-nebraska review: the card made a missing folder, where `evaluate report` refuses one (README)
        "out folder missing": (["--out", str(tmp_path / "nope" / "c.md")],
                               f"{tmp_path / 'nope' / 'c.md'}: the output's folder {tmp_path / 'nope'} does not exist"),
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
    assert any(x.startswith("The figures above are scored against the held-out fields' declared crops. How far a "
                            "declaration agrees with the model") and x.endswith("fallback): maize 0.97.")
               for x in lines), lines
    assert not any("OUT_OF_MODEL_SCOPE" in x for x in lines)  # only the yield-value version's scope refers a field
    assert lines[lines.index("## Every other metric") + 2] == "n_train=1200"
    assert "- Trained by: not recorded (registered before provenance tags)" in lines
    assert "- not recorded (registered before training-data hashes)" in lines
    assert "Status: meets its minimum metrics" in lines
    # a metric the gate names but the version never measured: "not measured", and the status says what is missing
    text = card_markdown(_crop_card({"accuracy_end": 0.95}, data="unlabelled"))
    assert "| accuracy_mid | >= 0.6 | – | not measured |" in text.splitlines()
    assert "**Data:** UNLABELLED" in text and "Status: FAILS 1: checkpoint mid is in scope without held-out " in text


def test_a_version_without_end_without_gates_and_one_ungated_at_mid() -> None:
    """A yield version trained from a table with emergence and mid only: the first checkpoint's figures are the
    unprefixed ones (``build_yield_release``); one without minimum metrics is not gated (not "meets"); one registered
    before in-season gates names mid as ungated; a NaN figure is a dash, and null in the JSON."""
    from pipelines.model_card import ModelCard

    m = {"r2_maize": 0.2, "skill_r2_maize": 0.01, "mid_r2_maize": 0.3, "mid_skill_r2_maize": float("nan")}

    def card(checkpoints: tuple[str, ...], reqs: tuple[Requirement, ...]) -> ModelCard:
        gov = Governance(crops=("maize",), regions=("r",), checkpoints=checkpoints, metrics=m, minimum_metrics=reqs)
        entry = {"version": "1", "run_id": "r1", "created": "2026-12-01T00:00:00+00:00", "aliases": ["champion"],
                 "metrics": m, "governance": gov, "plots": ["runs:/r1/plots/residuals.png"],
                 "training_data": {"features_mid": {"sha256": "ab" * 32, "rows": 10, "columns": 5}},
                 "provenance": {"source_sha256": "cd" * 32, "libraries": "lightgbm 4.7.0"}}
        return ModelCard(name="yield-value", version="1", spec="champion", registry="sqlite:///x", entry=entry,
                         aliases=("champion",), history=())

    lines = card_markdown(card(("emergence", "mid"), ())).splitlines()
    assert "| emergence | maize | 0.2 | – | – | 0.01 | – | – | – | – | – |" in lines
    assert "| mid | maize | 0.3 | – | – | – | – | – | – | – | – |" in lines
    assert "## Every other metric" not in lines
    assert "Status: no minimum metrics recorded — not gated" in lines
    assert "None recorded: promotion of this version is not gated." in lines
    assert f"- features_mid: sha256:{'ab' * 32} (10 rows × 5 columns)" in lines
    assert f"- Trained by source sha256:{'cd' * 32}" in lines and "- Libraries: lightgbm 4.7.0" in lines
    assert lines[lines.index("## Plots") + 2] == "- runs:/r1/plots/residuals.png"
    old = card(("end", "mid"), (Requirement("skill_r2_maize", ">=", -0.05),))
    lines = card_markdown(old).splitlines()
    assert "- Checkpoints in scope that no minimum metric gates: mid (registered before in-season gates, or none " \
           "set for them)" in lines
    assert "Status: meets its minimum metrics" in lines
    j = old.to_json()
    assert j["ungated_checkpoints"] == ["mid"] and j["gated"] is True
    assert card(("end", "mid"), ()).to_json()["gated"] is False
    assert j["training_data"] == {"features_mid": {"sha256": "ab" * 32, "rows": 10, "columns": 5}}
    assert j["metrics"]["r2_maize"] == 0.2 and j["alias_history"] == [] and j["plots"] == ["runs:/r1/plots/residuals.png"]


def test_json_is_strict_and_complete_and_a_failed_write_leaves_nothing(store: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A NaN held-out figure is null in the JSON (strict parsers refuse a bare NaN); the JSON carries the training
    data, the alias history and every metric; a write that fails midway leaves neither the card nor a temporary
    file, and an existing card as it was."""
    from models import registry

    m = {**_YIELD_METRICS, "mid_r2_maize": float("nan")}
    v = registry.register(TinyModel(1.0), "yield-value", metrics=m, governance=_yield_gov(),
                          training_data=None)
    registry.promote("yield-value", v, effective="2018-05-01", force=True, reason="r", approved_by="risk-2")
    r = CliRunner().invoke(app, ["models", "card", "yield-value", "--json"])
    assert r.exit_code == 0 and "NaN" not in r.stdout, r.output
    j = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert j["metrics"]["mid_r2_maize"] is None and j["metrics"]["rmse_maize"] == 1.25
    assert [h["alias"] for h in j["alias_history"]] == ["challenger", "champion", "challenger"]
    assert j["alias_history"][1]["approved_by"] == "risk-2"
    out = tmp_path / "card.md"
    out.write_text("the card filed last quarter\n")

    def broken(self: Path, *a: Any, **k: Any) -> int:
        Path.write_bytes(self, b"half a card")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", broken)
    r = CliRunner().invoke(app, ["models", "card", "yield-value", "--out", str(out)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, r.output
    assert "No space left on device" in r.stderr or "disk" in r.stderr.lower(), r.stderr
    assert out.read_text() == "the card filed last quarter\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.md", "mlruns"]  # no temporary file beside it


def test_a_crop_type_card_lists_the_farm_records_its_calibration_was_fitted_on_or_says_they_are_not_recorded(
        ) -> None:
    """A walkthrough: two crop-type versions whose phenology calibration and alert thresholds were fitted on other
    farm records had cards differing only in version and run — the labels' and series' hashes alike, no hash of the
    history or weather. A version recording them lists them as the labels and series; one registered before says
    they are not recorded (and a yield-value card, whose features carry them, says nothing of them)."""
    rec = {"sha256": "ab" * 32, "rows": 10, "columns": 4}
    card = _crop_card({"accuracy_end": 0.9})
    card.entry["training_data"] = {"labels": rec, "series": rec}
    lines = card_markdown(card).splitlines()
    assert ("- history, weather (the farm records and weather the phenology calibration and alert thresholds are "
            "fitted on): not recorded — registered before their hashes were kept, or fitted on none (see the notes)"
            ) in lines
    card.entry["training_data"] = {"labels": rec, "series": rec, "history": {**rec, "sha256": "cd" * 32},
                                   "weather": {**rec, "sha256": "ef" * 32}}
    lines = card_markdown(card).splitlines()
    assert f"- history: sha256:{'cd' * 32} (10 rows × 4 columns)" in lines
    assert f"- weather: sha256:{'ef' * 32} (10 rows × 4 columns)" in lines
    assert not any("not recorded —" in x for x in lines)
    card.entry["training_data"] = {"labels": rec, "series": rec, "history": rec}  # a calibration without thermal time
    assert any(x.startswith("- weather (the farm records") for x in card_markdown(card).splitlines())
