"""`train crop-type`'s inputs refused before any fit (a README walkthrough): labels of field-seasons the series lacks,
a labels file with no labels, an unusable registry; and a crop with too few labels to be learned, said."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.crop_type import CropTypeClassifier
from models.errors import RegistryUnavailableError
from pipelines import train_crop
from pipelines._crop_labels import rare_crops_note
from pipelines.cli import app
from tests.features.test_crop_type import _make

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)
FAST = {"n_estimators": 20, "num_leaves": 7, "period_days": 16}
BAD_URIS = ["foo://bar", "postgresql+psycopg2://u:p@127.0.0.1:1/db"]


@pytest.fixture
def tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    """The series table written, and the past seasons' labels (field_id, season, declared_crop, region,
    season_start…) of 150 fields in 2016-2018."""
    monkeypatch.setenv("AGCREDIT_EXTRA_CROPS", "wheat")  # the tables' own crop name
    series, labels = _make(seed=3)
    series.to_parquet(tmp_path / "series.parquet", index=False)
    return tmp_path / "series.parquet", labels.loc[labels["season"] < "2019"].drop(columns=["true_crop"])


def _no_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    def fit(*a: object, **k: object) -> None:
        raise AssertionError("the classifier was fitted")

    monkeypatch.setattr(CropTypeClassifier, "fit", fit)


def _train(series: Path, labels: Path, *extra: str) -> object:
    return CliRunner().invoke(app, ["train", "crop-type", "--series", str(series), "--labels", str(labels),
                                    "--checkpoints", "end=end", "--no-promote", *extra])


def test_labels_of_field_seasons_the_series_lacks_are_refused_before_the_fit(
        tmp_path: Path, unborn_registry: Path, tables: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """A labels file with one row of a field-season the series lacks (F9999, 2016) trained and registered, never
    naming it (only labels matching nothing at all were refused): one line naming it, exit 2, nothing fitted."""
    series, labels = tables
    _no_fit(monkeypatch)
    one = labels.iloc[[0]].assign(field_id="F9999")
    pd.concat([labels, one]).to_csv(tmp_path / "extra.csv", index=False)
    r = _train(series, tmp_path / "extra.csv")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output  # type: ignore[attr-defined]
    assert ("field-seasons the series " + str(series) + " does not hold: F9999/2016 (1 in all)") in r.stderr, \
        r.stderr  # type: ignore[attr-defined]
    many = labels.iloc[:7].assign(field_id=[f"X{i}" for i in range(7)])
    pd.concat([labels, many]).to_csv(tmp_path / "many.csv", index=False)
    r = _train(series, tmp_path / "many.csv")
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    assert "X0/2016, X1/2016, X2/2016, X3/2016, X4/2016 and 2 more (7 in all)" in r.stderr  # type: ignore[attr-defined]
    assert not list(unborn_registry.rglob("mlflow.db"))


def test_a_labels_file_without_labels_is_refused_as_empty(
        tmp_path: Path, unborn_registry: Path, tables: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """A header only said "none of its 0 field-seasons is in the series … (labels e.g. )"."""
    series, labels = tables
    _no_fit(monkeypatch)
    labels.iloc[:0].to_csv(tmp_path / "header.csv", index=False)
    r = _train(series, tmp_path / "header.csv")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output  # type: ignore[attr-defined]
    assert "no labels to train on (the file has no data rows)" in r.stderr  # type: ignore[attr-defined]
    labels.iloc[:4].assign(declared_crop="").to_csv(tmp_path / "blank.csv", index=False)
    r = _train(series, tmp_path / "blank.csv", "--blank-labels", "drop")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output  # type: ignore[attr-defined]
    assert "its 4 row(s) all have an empty crop, left out by --blank-labels drop" in r.stderr  # type: ignore[attr-defined]
    assert not list(unborn_registry.rglob("mlflow.db"))


def test_a_crop_with_too_few_labels_to_learn_is_said(
        tmp_path: Path, unborn_registry: Path, tables: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """One ``sorghum`` label vanished from the model while counted in "N labels": a warning names it and its count."""
    series, labels = tables
    monkeypatch.setattr(train_crop, "COUNTY_PARAMS", {**train_crop.COUNTY_PARAMS, **FAST})
    labels = labels.reset_index(drop=True)
    labels.loc[0, "declared_crop"] = "sorghum"
    labels.to_csv(tmp_path / "sorghum.csv", index=False)
    r = _train(series, tmp_path / "sorghum.csv")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    out = r.stdout  # type: ignore[attr-defined]
    assert "crop-type: 3 classes (maize, soybean, wheat), 450 labels" in out
    assert ("warning: too few labels to learn (fewer than 5): sorghum (1 label) — left out of the fit; the model "
            "never answers this crop") in out, out
    assert rare_crops_note(pd.Series({"a": 9, "b": 2, "c": 1}), ["a"], 5)[0].startswith(
        "warning: too few labels to learn (fewer than 5): b (2 labels), c (1 label) — left out of the fit; the model "
        "never answers these crops")
    assert rare_crops_note(pd.Series({"a": 9}), ["a"], 5) == []


@pytest.mark.parametrize("uri", BAD_URIS)
def test_an_unusable_registry_is_refused_before_the_tables_are_read(
        uri: str, tmp_path: Path, tables: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry URI with an unsupported scheme or a closed port was refused after the whole fit (15-60 s)."""
    series, labels = tables
    labels.to_csv(tmp_path / "labels.csv", index=False)
    _no_fit(monkeypatch)

    def read(*a: object) -> None:
        raise AssertionError("a table was read")

    monkeypatch.setattr(train_crop, "_read_table", read)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    r = _train(series, tmp_path / "labels.csv")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output  # type: ignore[attr-defined]
    assert "model registry" in r.stderr and ":p@" not in r.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_an_unusable_registry_is_refused_before_the_county_series_are_built(
        uri: str, tiny_county_sh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.county import County

    def series(*a: object, **k: object) -> None:
        raise AssertionError("a season's series was built")

    monkeypatch.setattr(County, "series", series)
    _no_fit(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(RegistryUnavailableError):
        train_crop.train_crop_type_county(County(tiny_county_sh))
    r = CliRunner().invoke(app, ["train", "crop-type", "--county", str(tiny_county_sh)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
