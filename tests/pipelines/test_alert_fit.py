"""Production's alert thresholds are the ones ``evaluate alerts`` tunes: fitted with the crop-type model on the
farmers' diaries, saved with it, used by monitor / reunderwrite (and the report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from features._crop_persist import restore_state
from pipelines._alert_fit import county_alert_params
from pipelines.evaluation.alerts import DEFAULT_GRID, tune_params
from pipelines.monitor import SAVED_BEFORE, AlertParams, alert_params_of
from tests.crop_stub import FittedStub, saved_and_restored
from tests.pipelines.test_evaluate_alerts import SEASONS, _synthetic


class _County:
    """The County methods county_alert_params reads, over the synthetic seasons' diaries and fields."""

    def __init__(self, tmp: Path, diaries: pd.DataFrame, crops: pd.DataFrame) -> None:
        self.region, self.current_season = "r", SEASONS[-1]
        self._diaries = diaries
        (tmp / "records").mkdir(parents=True, exist_ok=True)
        self._hist = tmp / "records" / "history.csv"
        diaries.to_csv(self._hist, index=False)
        self._fields = gpd.GeoDataFrame(crops.rename(columns={"crop": "declared_crop"}),
                                        geometry=[box(0, 0, 1, 1)] * len(crops), crs="EPSG:32614")

    def history(self) -> pd.DataFrame:
        return self._diaries

    def record_path(self, name: str) -> Path:
        assert name == "history.csv"
        return self._hist

    def fields(self) -> gpd.GeoDataFrame:
        return self._fields


def test_county_thresholds_are_the_evaluations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = _synthetic()
    import pipelines.monitor as mon

    monkeypatch.setattr(mon, "crop_first_days", lambda region, season, calendar=None: {})
    monkeypatch.setattr("features.series.season_window", lambda s, region: (data.starts[s], None))
    county = _County(tmp_path, data.records, data.crops)
    past = SEASONS[:-1]
    # 3 past seasons: fewer than the 2 tuned + 2 before them
    assert county_alert_params(county, past, data.series) is None  # type: ignore[arg-type]
    grid = {"grace_days": (15, 25), "peer_greenup_rel": (0.5, 0.9)}
    monkeypatch.setattr("pipelines.evaluation.alerts.DEFAULT_GRID", grid)
    monkeypatch.setattr("pipelines._alert_fit.N_TUNE_SEASONS", 1)
    got = county_alert_params(county, past, data.series)  # type: ignore[arg-type]
    chosen, _ = tune_params(data, past[-1:], grid=grid)  # what evaluate alerts tunes for the next season
    # with the rules a version names so that a later change of their defaults leaves it as it was
    assert got == {"grace_days": chosen.grace_days, "peer_greenup_rel": chosen.peer_greenup_rel,
                   **{k: getattr(AlertParams(), k) for k in SAVED_BEFORE}}
    # no diaries of the tuned seasons: none
    empty = _County(tmp_path / "e", data.records[data.records["season"] == "2005"], data.crops)
    assert county_alert_params(empty, past, data.series) is None  # type: ignore[arg-type]


def test_thresholds_travel_with_the_model_and_are_used() -> None:
    tuned = {"in-smallholder": {"collapse_k": 1.0, "grace_days": 10, "peer_drop_next": 0.25, "peer_greenup_rel": 0.9}}
    meta, back = saved_and_restored(FittedStub(alert_params_=tuned))
    assert back.alert_params_ == tuned
    p = alert_params_of(back, "in-smallholder")
    # saved before the rules named peer_own_green, peer_single_greenup_rel, peer_gap_days, np_seen and
    # np_cleared_canopy: the rules as they ran then (0.45, 0.8, the gap rule off, NOT_PLANTED unseen and every canopy
    # its crop's), not today's defaults
    assert p == AlertParams(collapse_k=1.0, grace_days=10, peer_greenup_rel=0.9, peer_own_green=0.45,
                            peer_single_greenup_rel=0.8, peer_gap_days=0, np_seen=False, np_cleared_canopy=False)
    named = {"in-smallholder": {**tuned["in-smallholder"], "peer_own_green": 0.3, "peer_single_greenup_rel": 0.75,
                                "peer_gap_days": 20, "np_seen": True, "np_cleared_canopy": True}}
    _, now = saved_and_restored(FittedStub(alert_params_=named))
    assert alert_params_of(now, "in-smallholder") == AlertParams(collapse_k=1.0, grace_days=10, peer_greenup_rel=0.9)
    assert alert_params_of(back, "us-nebraska") is None and alert_params_of(None, "in-smallholder") is None
    meta.pop("alert_params")  # a folder saved before: the rules' defaults
    restore_state(back, meta)
    assert back.alert_params_ == {} and alert_params_of(back, "in-smallholder") is None
    assert set(DEFAULT_GRID) | set(SAVED_BEFORE) == set(named["in-smallholder"])  # what the fit returns


def test_the_report_uses_the_champions_thresholds(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`report portfolio` draws the alerts with the crop-type champion's thresholds (as monitor raises them); with no
    registry or champion, the rules' defaults."""
    from types import SimpleNamespace

    import models.registry as reg
    from models.errors import RegistryError
    from pipelines import _cli_report

    champion = FittedStub(alert_params_={"in-smallholder": {"collapse_k": 1.0, "grace_days": 10}})
    monkeypatch.setattr(reg, "resolve", lambda *a, **k: SimpleNamespace(model=champion, version="1", run_id="0" * 32))
    model, used = _cli_report._champion_crop_model()  # (the model, what the page says of it)
    assert model is champion  # also the report's crop model: its declared-crop probability raises CROP_MISMATCH
    assert used == "crop-type version 1, today's champion"
    assert _cli_report._champion_alert_params("in-smallholder", model) == AlertParams(collapse_k=1.0, grace_days=10,
                                                                                      **SAVED_BEFORE)
    assert _cli_report._champion_alert_params("us-nebraska", model) is None

    def missing(*a: Any, **k: Any) -> Any:
        raise RegistryError(problem="no model named crop-type")

    monkeypatch.setattr(reg, "resolve", missing)
    model, used = _cli_report._champion_crop_model()
    assert model is None and _cli_report._champion_alert_params("in-smallholder", None) is None
    # the page and stderr say why (a registry copied without `models relocate` changed the page's alerts unsaid)
    assert used == "no crop-type champion in the registry (model registry: no model named crop-type; no CROP_MISMATCH " \
        "alerts)"
    capsys.readouterr()
    _cli_report._said_no_crop_model(SimpleNamespace(models_note=_cli_report._models_note(used, None, "x")))
    assert capsys.readouterr().err == f"warning: {used}; thresholds: the rules' defaults\n"


def test_tables_thresholds_are_the_countys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``train crop-type --series --labels --history`` tunes the thresholds as ``--county`` does: the same function
    of the same tables (a county's fields and records, or a bank's labels and history file)."""
    from pipelines.train_crop import crop_labels, history_fits

    data, _ = _synthetic()
    import pipelines.monitor as mon

    monkeypatch.setattr(mon, "crop_first_days", lambda region, season, calendar=None: {})
    monkeypatch.setattr("features.series.season_window", lambda s, region: (data.starts[s], None))
    monkeypatch.setattr("pipelines.evaluation.alerts.DEFAULT_GRID", {"grace_days": (15, 25),
                                                                     "peer_greenup_rel": (0.5, 0.9)})
    monkeypatch.setattr("pipelines._alert_fit.N_TUNE_SEASONS", 1)
    monkeypatch.setattr("pipelines._phenology_fit.fit_phenology", lambda *a, **k: None)  # region "r": no calendar
    county = _County(tmp_path, data.records, data.crops)
    past = SEASONS[:-1]
    want = county_alert_params(county, past, data.series)  # type: ignore[arg-type]
    assert want is not None
    labels = crop_labels(data.crops[data.crops["season"].isin(past)].rename(columns={"crop": "declared_crop"}))
    data.records.to_csv(tmp_path / "history.csv", index=False)
    _, tuned = history_fits(tmp_path / "history.csv", data.series, labels, past, ["r"], SEASONS[-1])
    assert tuned == {"r": want}
    # the diaries of other seasons only: none, as the county's
    data.records[data.records["season"] == "2005"].to_csv(tmp_path / "old.csv", index=False)
    assert history_fits(tmp_path / "old.csv", data.series, labels, past, ["r"], SEASONS[-1])[1] == {}
