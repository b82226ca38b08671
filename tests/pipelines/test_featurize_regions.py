"""A crop-type model read on fields of a region it never learned says so (pipelines._featurize_models)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from pipelines._featurize_models import unseen_region_warnings


def test_fields_of_a_region_the_crop_model_never_learned_are_warned() -> None:
    """A review read every us-nebraska field with the in-smallholder crop-type model (fallow 85, cotton 31, rice 26)
    without a word: the yield model refers such fields OUT_OF_MODEL_SCOPE, the crop model's readings went on."""
    model = SimpleNamespace(categories_={"region": ["in-smallholder"]})
    fields = pd.DataFrame({"field_id": ["F1", "F2", "F3"], "region": ["us-nebraska", "us-nebraska", "in-smallholder"]})
    assert unseen_region_warnings(model, fields) == [  # type: ignore[arg-type]
        "crop type: 2 field(s) of region(s) us-nebraska, which the crop-type model never learned (it learned "
        "in-smallholder): its crop types and probabilities there are not validated — use a model trained on the "
        "region"]
    assert unseen_region_warnings(model, fields[fields["region"] == "in-smallholder"]) == []  # type: ignore[arg-type]
    assert unseen_region_warnings(SimpleNamespace(), fields) == []  # type: ignore[arg-type]  # saved without regions


def test_monitor_says_it_too(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A review: `monitor --crop-model champion` on us-nebraska fields raised 82 CROP_MISMATCH alerts with the
    in-smallholder model, stderr empty; `features build` warned. monitor warns as features build does."""
    import datetime as dt

    import features.series
    import pipelines.featurize
    from pipelines import monitor

    monkeypatch.setattr(features.series, "build_series",
                        lambda *a, **k: SimpleNamespace(series=pd.DataFrame(), warnings=[]))
    monkeypatch.setattr(pipelines.featurize, "past_series", lambda *a, **k: pd.DataFrame())
    monkeypatch.setattr(pipelines.featurize, "check_as_of_in_season", lambda *a, **k: None)
    monkeypatch.setattr(monitor, "season_alerts", lambda *a, **k: pd.DataFrame())
    model = SimpleNamespace(categories_={"region": ["in-smallholder"]}, predict=lambda *a, **k: pd.DataFrame())
    fields = pd.DataFrame({"field_id": ["F1"], "season": ["2018"], "region": ["us-nebraska"]})
    _, warned = monitor.alerts_as_of(fields, "scenes", "2018", dt.date(2018, 7, 20), crop_model=model,
                                     params=monitor.AlertParams())
    assert any("never learned" in w and "us-nebraska" in w for w in warned), warned


def test_report_says_it_too(monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`report portfolio --county` on fields of a region the crop-type champion never learned drew its CROP_MISMATCH
    alerts without a word (close of 2026-12-07): it warns as features build and monitor do."""
    import pipelines.county
    from pipelines import _cli_report, report

    fields = pd.DataFrame({"field_id": ["F1"], "season": ["2018"], "region": ["us-nebraska"]})
    county = SimpleNamespace(current_season="2018", region="us-nebraska", fields=lambda season=None: fields,
                             imagery=None)
    model = SimpleNamespace(categories_={"region": ["in-smallholder"]})
    monkeypatch.setattr(pipelines.county, "County", lambda *a, **k: county)
    monkeypatch.setattr(_cli_report, "_champion_crop_model", lambda day: (model, "crop-type v1"))
    monkeypatch.setattr(_cli_report, "_champion_alert_params", lambda region, m: None)
    monkeypatch.setattr(report, "build_report_data_county",
                        lambda *a, **k: SimpleNamespace(**{"models_note": ""}))
    monkeypatch.setattr(_cli_report.dataclasses, "replace", lambda d, **k: d)
    _cli_report._data(tmp_path, None, None, "sqlite:///x.db", None, None, None)
    said = capsys.readouterr().err
    assert "warning: crop type: 1 field(s) of region(s) us-nebraska, which the crop-type model never learned" in said


def test_report_page_says_it_too(monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A review (session 77): the warning went to stderr only; the page's readers (model risk, the credit committee)
    saw the unvalidated CROP_MISMATCH alerts under a note naming the champion alone. The page's alerts note says it."""
    import pipelines.county
    from pipelines import _cli_report, report

    fields = pd.DataFrame({"field_id": ["F1"], "season": ["2018"], "region": ["us-nebraska"]})
    county = SimpleNamespace(current_season="2018", region="us-nebraska", fields=lambda season=None: fields,
                             imagery=None)
    model = SimpleNamespace(categories_={"region": ["in-smallholder"]})
    monkeypatch.setattr(pipelines.county, "County", lambda *a, **k: county)
    monkeypatch.setattr(_cli_report, "_champion_crop_model", lambda day: (model, "crop-type v1"))
    monkeypatch.setattr(_cli_report, "_champion_alert_params", lambda region, m: None)
    monkeypatch.setattr(report, "build_report_data_county",
                        lambda *a, **k: SimpleNamespace(**{"models_note": ""}))
    monkeypatch.setattr(_cli_report.dataclasses, "replace", lambda d, **k: SimpleNamespace(**k))
    data = _cli_report._data(tmp_path, None, None, "sqlite:///x.db", None, None, None)
    assert data.models_note.startswith("alerts computed with crop-type v1; thresholds: the rules' defaults. Warning: "
                                       "crop type: 1 field(s) of region(s) us-nebraska, which the crop-type model "
                                       "never learned"), data.models_note
