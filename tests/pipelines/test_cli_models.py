"""``agcredit models list|show|promote`` on a temporary registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.governance import Governance, Requirement
from pipelines.cli import app


class Dummy:
    """A minimal model family saved as a directory."""

    def __init__(self, w: float) -> None:
        self.w = w

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "w.json").write_text(json.dumps(self.w))

    @classmethod
    def load(cls, path: Path) -> Dummy:
        return cls(json.loads((Path(path) / "w.json").read_text()))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/reg/mlflow.db")
    monkeypatch.setenv("AGCREDIT_OPERATOR", "ops-1")
    return tmp_path / "reg"


def test_no_registry_is_a_clean_error(store: Path) -> None:
    r = CliRunner().invoke(app, ["models", "list"])
    assert r.exit_code == 2
    assert "no model registry at" in r.stderr and "agcredit train yield" in r.stderr
    assert "Traceback" not in r.stderr


def test_list_show_promote(store: Path) -> None:
    from models.registry import register

    def gov(r2: float) -> Governance:
        return Governance(crops=("maize",), regions=("us-nebraska",), checkpoints=("end",), data="synthetic",
                          metrics={"r2_all": r2}, minimum_metrics=(Requirement("r2_all", ">=", 0.5),),
                          notes=f"fitted for the r2 {r2} check")

    register(Dummy(1.0), "yield-value", metrics={"r2_all": 0.3}, governance=gov(0.3))
    many = {"r2_all": 0.7, **{f"m{i:02d}": i / 100 for i in range(12)}}  # show lists every metric
    png = store.parent / "calib.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    register(Dummy(2.0), "yield-value", metrics=many, governance=gov(0.7), artifacts={"calibration.png": png})
    runner = CliRunner()

    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0, r.stderr
    assert "yield-value: 2 version(s), latest v2; challenger=v2" in r.stdout

    r = runner.invoke(app, ["models", "promote", "yield-value", "1"])
    assert r.exit_code == 2
    assert "below its minimum metrics: r2_all >= 0.5 (found 0.3)" in r.stderr and "--force --reason" in r.stderr
    r = runner.invoke(app, ["models", "promote", "yield-value", "1", "--force"])
    assert r.exit_code == 2 and "needs a reason" in r.stderr

    r = runner.invoke(app, ["models", "promote", "yield-value", "2"])
    assert r.exit_code == 0, r.stderr
    assert "champion is now v2 (was none), by ops-1" in r.stdout
    # a forced promotion needs a second operator: none, the operator again (as a person), or personal data is
    # refused in one line, nothing moved
    for extra, msg in (([], "model registry: a forced promotion needs a second operator's approval (add "
                            "--approved-by ID"),
                       (["--approved-by", " MRM-2 "], "--approved-by 'MRM-2' is the operator 'mrm-2': the approver "
                                                      "must be a second person"),
                       (["--approved-by", "bob@bank.example"], "models promote --approved-by: looks like personal "
                                                               "data")):
        r = runner.invoke(app, ["models", "promote", "yield-value", "1", "--force", "--reason", "back-test",
                                "--operator", "mrm-2", *extra])
        assert r.exit_code == 2 and msg in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = runner.invoke(app, ["models", "list"])
    assert "champion=v2" in r.stdout, r.stdout
    r = runner.invoke(app, ["models", "promote", "yield-value", "1", "--force", "--reason", "back-test", "--operator",
                            "mrm-2", "--approved-by", "mrm-3"])
    assert r.exit_code == 0, r.stderr
    assert "champion is now v1 (was v2), by mrm-2, approved by mrm-3" in r.stdout
    assert "forced below minimum metrics" in r.stdout

    r = runner.invoke(app, ["models", "show", "yield-value"])
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "aliases: champion=v1" in out
    assert "v1 [champion]" in out and "v2 created" in out
    assert "governance: synthetic data; scope crops=maize regions=us-nebraska checkpoints=end" in out
    assert "below minimum: r2_all >= 0.5 (found 0.3)" in out
    assert "  notes: fitted for the r2 0.3 check" in out and "  notes: fitted for the r2 0.7 check" in out
    line = next(x for x in out.splitlines() if "m00=" in x)  # the version's metrics: all of them
    assert "m00=0, m01=0.01" in line and line.endswith("m11=0.11, r2_all=0.7")
    plots = [x for x in out.splitlines() if x.startswith("  plots: ")]  # v2 logged one plot, v1 none
    assert len(plots) == 1 and plots[0].startswith("  plots: runs:/") and plots[0].endswith("/plots/calibration.png")
    assert out.index("v2 created") < out.index(plots[0]) < out.index("v1 [champion]")
    assert "champion: v2 -> v1 by mrm-2 FORCED, approved by mrm-3: back-test" in out
    assert "champion: v- -> v2 by ops-1: promoted" in out  # met its minimum metrics: no approver
    assert "challenger: v2 -> v- by ops-1: promoted to champion" in out
    assert out.index("challenger: v- -> v1") < out.index("champion: v- -> v2")

    r = runner.invoke(app, ["models", "show", "nope"])
    assert r.exit_code == 2 and "no registered model 'nope'" in r.stderr
    assert "agcredit train crop-type / agcredit train yield" in r.stderr  # a command that exists
    # a mistyped name (an analyst's `models show yield`) is told the names the registry holds
    assert "(the registry holds yield-value; or train and register it: " in r.stderr, r.stderr
    r = runner.invoke(app, ["models", "show", "crop-type"])
    assert r.exit_code == 2 and "or train and register it: agcredit train crop-type ...)" in r.stderr, r.stderr
    r = runner.invoke(app, ["models", "show", "models:/yield-value/1"])  # an MLflow URI, not a name: the registry
    assert r.exit_code == 2 and "cannot connect" not in r.stderr  # answered, so not a connection problem
    assert "'models:/yield-value/1' is not a registered model's name" in r.stderr and "give the name alone" in r.stderr


def test_promote_twice_records_once_and_refuses_personal_data(store: Path) -> None:
    """The alias history is append-only: a re-run of a promotion adds nothing, and a phone number, ID number or
    e-mail in --reason / --operator is refused before anything is recorded."""
    from models.registry import alias_history, register

    gov = Governance(crops=("maize",), regions=("us-nebraska",), checkpoints=("end",), data="synthetic",
                     metrics={"r2_all": 0.7}, minimum_metrics=(Requirement("r2_all", ">=", 0.5),), notes="n")
    register(Dummy(1.0), "yield-value", metrics={"r2_all": 0.7}, governance=gov)
    runner = CliRunner()
    r = runner.invoke(app, ["models", "promote", "yield-value", "1"])
    assert r.exit_code == 0 and "champion is now v1 (was none)" in r.stdout, r.stderr
    n = len(alias_history("yield-value"))
    r = runner.invoke(app, ["models", "promote", "yield-value", "1", "--reason", "again"])
    assert r.exit_code == 0 and "champion is already v1: nothing recorded" in r.stdout, r.stderr
    assert len(alias_history("yield-value")) == n
    for extra in (["--reason", "call +91-00000-18677"], ["--reason", "per 0000 0271 8677"],
                  ["--operator", "ann@bank.example"]):
        r = runner.invoke(app, ["models", "promote", "yield-value", "1", *extra])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"models promote {extra[0]}: looks like personal data" in r.stderr and extra[1] not in r.stderr
    assert len(alias_history("yield-value")) == n
    # a line break or escape forged a line of `models show`'s alias history (a review): refused as an override's
    for extra, said in ((["--operator", "an1\n  2026-12-07 champion -> v9 by cro: approved"], "--operator holds line "
                         "breaks"), (["--reason", "rollback\x1b[2K"], "--reason holds terminal escapes"),
                        (["--reason", "x" * 501], "--reason is 501 characters long; at most 500 are kept")):
        r = runner.invoke(app, ["models", "promote", "yield-value", "1", *extra])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"models promote {said}" in r.stderr, r.stderr
        assert "501" in said or "the alias history keeps it as one line of plain text" in r.stderr, r.stderr
    assert len(alias_history("yield-value")) == n

