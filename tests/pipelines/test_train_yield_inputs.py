"""`train yield`'s inputs refused before any work (a README walkthrough): an unusable registry, a crop model that
cannot be had (a mistyped alias trained without one), ``--data`` with ``--county``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.errors import RegistryError, RegistryUnavailableError
from pipelines import train_yield
from pipelines.cli import app

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)
BAD_URIS = ["foo://bar", "postgresql+psycopg2://u:p@127.0.0.1:1/db"]


def _no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building features, reading the county's history or fitting fails the test."""
    from pipelines.county import County

    def fail(*a: object, **k: object) -> None:
        raise AssertionError("the training started its work")

    monkeypatch.setattr(train_yield, "county_features", fail)
    monkeypatch.setattr(train_yield, "train_yield", fail)
    monkeypatch.setattr(County, "history", fail)


@pytest.mark.parametrize("uri", BAD_URIS)
def test_an_unusable_registry_is_refused_before_any_feature_or_fit(
        uri: str, tiny_county_sh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry URI with an unsupported scheme or a closed port was refused after the features and the fit."""
    _no_work(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    r = CliRunner().invoke(app, ["train", "yield", "--county", str(tiny_county_sh), "-q"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "model registry" in r.stderr and ":p@" not in r.stderr
    with pytest.raises(RegistryUnavailableError):
        train_yield.train_yield_county(tiny_county_sh)
    # the tables path: refused before the features file is read (here there is none)
    with pytest.raises(RegistryUnavailableError):
        train_yield.train_yield_files(tmp_path / "none.parquet", tmp_path / "none.csv")


@pytest.mark.parametrize("spec", ["champoin", "Champion", "challenger", "7", "notamodel"])
def test_a_crop_model_that_cannot_be_had_is_refused_before_any_work(
        spec: str, tiny_county_sh: Path, unborn_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--crop-model champoin` trained and registered a yield model without a crop model, said in a note: only the
    default champion falls back to none when the registry has no champion; anything else is one line, exit 2 (an alias
    is case-sensitive: `Champion` fell back to none though the registry had a champion)."""
    _no_work(monkeypatch)
    if spec == "notamodel":
        (tmp_path / "notamodel").mkdir()
        (tmp_path / "notamodel" / "x.txt").write_text("x")
        spec = str(tmp_path / "notamodel")
    r = CliRunner().invoke(app, ["train", "yield", "--county", str(tiny_county_sh), "--crop-model", spec, "-q"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "crop" in r.stderr and "Traceback" not in r.output
    if not spec.startswith("/"):
        assert f"crop-type model '{spec}'" in r.stderr, r.stderr
        with pytest.raises(RegistryError):
            train_yield._crop_model_for(spec)
    assert not list(unborn_registry.rglob("mlflow.db"))


def test_the_default_champion_falls_back_to_no_crop_model_when_there_is_none(unborn_registry: Path) -> None:
    for spec in ("champion", " champion "):
        model, desc, note = train_yield._crop_model_for(spec)
        assert model is None and desc == "none" and note is not None and "no crop-type model used" in note
    assert train_yield._crop_model_for("none") == (None, "none", None)


def test_data_with_county_is_refused_as_crop_type_refuses_synthetic(tiny_county_sh: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`--data synthetic` with `--county` was silently ignored (its help: "With --features")."""
    _no_work(monkeypatch)
    for value in ("synthetic", "real"):
        r = CliRunner().invoke(app, ["train", "yield", "--county", str(tiny_county_sh), "--data", value, "-q"])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
        assert "--data is for --features/--reported; a county folder says whether it is synthetic" in r.stderr
