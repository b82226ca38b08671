"""pipelines.outcomes at the edges a mutation audit found untested: the verdict's count of what was measured, the
requirements of a crop not scored and of a missing held-out value, the fewest fields an analysis takes, checkpoint
dates choosing the rows, the declared crop against the crop valued, the seasons a version trained on and the
farmers drawn whole — the unit functions by hand, the command through the real registry (the version trained by
tests/pipelines/test_models_performance.py's fixture)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.governance import Governance, Requirement
from pipelines.outcomes import OutcomesResult, _requirements, model_performance, outcome_figures
from tests.pipelines.test_models_performance import trained

__all__ = ["trained"]  # the module fixture, built once for this file

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


def _result(requirements: list[dict[str, Any]]) -> OutcomesResult:
    return OutcomesResult(name="yield-value", version="1", alias=None, features="f.parquet", reported="r.csv",
                          season="2016", as_of="2016-10-15", checkpoint="end", training_seasons=["2015"],
                          baseline_seasons=[], scored=40, without_report=0, outside={}, table=pd.DataFrame(),
                          requirements=requirements, interval="")


def _req(metric: str, judgement: str, gated: bool = True) -> dict[str, Any]:
    return {"metric": metric, "gated": gated, "judgement": judgement}


def test_the_verdict_counts_as_measured_only_what_was_measured() -> None:
    res = _result([_req("a", "met"), _req("b", "interval straddles"), _req("c", "not measured"),
                   _req("d", "not met", gated=False)])
    assert res.verdict() == ("no minimum metric missed for certain: 1 of 2 measured met (interval straddles: b; "
                             "not measured here: c)")
    assert not res.missed()
    res = _result([_req("a", "met"), _req("c", "not measured")])
    assert res.verdict() == "meets the 1 minimum metric(s) measured here (not measured here: c)"


def _by_crop(**cells: float) -> pd.DataFrame:
    row = {"r2": 0.5, "r2_lo": 0.4, "r2_hi": 0.6}
    return pd.DataFrame([{"crop": c, **row, **cells} for c in ("all", "maize")]).set_index("crop")


def test_a_minimum_metric_of_a_crop_the_version_learned_but_not_scored_is_not_measured() -> None:
    gov = Governance(crops=("maize", "sorghum"), regions=("r",), checkpoints=("end",),
                     metrics={"r2_sorghum": 0.4}, minimum_metrics=(Requirement("r2_sorghum", ">=", 0.3),))
    (r,) = _requirements(gov, "end", _by_crop())
    assert r["metric"] == "r2_sorghum" and r["judgement"] == "not measured"
    assert r["value"] is None and r["interval"] is None and r["validated"] == 0.4


def test_a_held_out_value_not_recorded_or_not_a_number_is_none() -> None:
    gov = Governance(crops=("maize",), regions=("r",), checkpoints=("end",), metrics={"r2_maize": math.nan},
                     minimum_metrics=(Requirement("r2_maize", ">=", 0.3), Requirement("r2_all", ">=", 0.3)))
    reqs = {r["metric"]: r for r in _requirements(gov, "end", _by_crop())}
    assert reqs["r2_maize"]["validated"] is None and reqs["r2_all"]["validated"] is None
    assert reqs["r2_maize"]["judgement"] == "met" and reqs["r2_maize"]["interval"] == [0.4, 0.6]


def test_an_interval_with_one_bound_is_no_interval() -> None:
    gov = Governance(crops=("maize",), regions=("r",), checkpoints=("end",),
                     minimum_metrics=(Requirement("r2_maize", ">=", 0.3),))
    for cells in ({"r2_hi": math.nan}, {"r2_lo": math.nan}):
        (r,) = _requirements(gov, "end", _by_crop(**cells))
        assert r["interval"] is None and r["judgement"] == "not measured" and r["value"] == 0.5


def _rows(crop: str, y: np.ndarray, p50: np.ndarray, spread: float = 1.0, base: float | None = None) -> pd.DataFrame:
    return pd.DataFrame({"crop": crop, "reported": y, "p10": p50 - spread, "p50": p50, "p90": p50 + spread,
                         "crop_mean": np.mean(y) if base is None else base, "field_mean": y + 0.5})


def test_figures_of_a_crop_of_one_field_a_failed_crop_and_a_crop_under_one_tonne() -> None:
    rng = np.random.default_rng(5)
    y = rng.uniform(4, 8, 40)
    rows = pd.concat([_rows("maize", y, y + 0.2, base=6.0), _rows("millet", np.zeros(5), np.full(5, 0.3)),
                      _rows("sorghum", np.full(4, 0.5), np.full(4, 0.6), spread=0.05, base=0.4),
                      _rows("soybean", np.array([3.0]), np.array([3.3]), base=2.0)], ignore_index=True)
    t = outcome_figures(rows).set_index("crop")
    # one field: its bias, its shares below P10 and above P90, its baselines (not its R², no spread of yields)
    assert t.at["soybean", "n"] == 1 and t.at["soybean", "bias_pct"] == pytest.approx(10.0)
    assert t.at["soybean", "below_p10"] == 0.0 and t.at["soybean", "above_p90"] == 0.0
    assert t.at["soybean", "naive_crop_mean_rmse_pct"] == pytest.approx(100 / 3)
    # a harvest that failed (every reported yield 0): no bias in % of nothing
    assert math.isnan(t.at["millet", "bias_pct"]) and t.at["millet", "above_p90"] == 0.0
    # under a tonne a hectare is still a yield
    assert t.at["sorghum", "bias_pct"] == pytest.approx(20.0) and t.at["sorghum", "below_p10"] == 1.0
    assert t.at["sorghum", "naive_crop_mean_rmse_pct"] == pytest.approx(20.0)


def test_a_yield_at_its_p10_or_p90_is_neither_below_nor_above() -> None:
    rng = np.random.default_rng(6)
    y = rng.uniform(4, 8, 40)
    t = outcome_figures(_rows("maize", y, y, spread=0.0)).set_index("crop")
    assert t.at["all", "below_p10"] == 0.0 and t.at["all", "above_p90"] == 0.0
    assert t.at["all", "below_p10_hi"] == 0.0 and t.at["all", "above_p90_hi"] == 0.0


def test_a_baseline_missing_for_some_fields_is_no_baseline() -> None:
    rng = np.random.default_rng(7)
    y = rng.uniform(4, 8, 40)
    rows = _rows("maize", y, y + 0.1, base=6.0)
    rows.loc[3, "crop_mean"] = np.nan
    t = outcome_figures(rows).set_index("crop")
    assert t.at["all", "rmse_pct"] > 0
    for f in ("naive_crop_mean_r2", "naive_crop_mean_rmse_pct", "naive_field_mean_rmse_pct", "skill_r2"):
        assert math.isnan(t.at["all", f]) and math.isnan(t.at["all", f"{f}_lo"]), f


def test_a_features_file_of_several_seasons_names_at_most_four_and_never_a_cell_not_a_year() -> None:
    from pipelines.outcomes import _one_date

    def message(seasons: list[str]) -> str:
        feats = pd.DataFrame({"as_of": pd.Timestamp("2016-10-15"), "season": seasons})
        with pytest.raises(UserInputError) as e:
            _one_date(feats, "f.parquet")
        return str(e.value)

    assert "holds season(s) 2013, 2014, 2015, 2016; give one season's rows" in message(
        ["2016", "2015", "2014", "2013"])
    assert "holds season(s) 2012, 2013, 2014, 2015, …; give" in message(["2016", "2015", "2014", "2013", "2012"])
    mixed = message(["2016", "Asha Devi"])
    assert "holds season(s) 2 value(s), not all years" in mixed and "Asha" not in mixed
    assert _one_date(pd.DataFrame({"as_of": pd.Timestamp("2016-10-15"), "season": ["2016", "2016.0"]}), "f") == (
        "2016-10-15", "2016")


def test_a_field_season_reported_twice_differently_names_its_data_rows() -> None:
    from pipelines.outcomes import _reported_rows

    h = pd.DataFrame({"field_id": ["a", "b", "a", "c"], "season": ["2016"] * 4,
                      "reported_yield_t_ha": [3.0, 4.0, 5.0, 6.0]})
    with pytest.raises(UserInputError, match=r"1 field-season.* at data rows 1, 3 \(2 in all\): keep one row of each"):
        _reported_rows(h, "r.csv")
    out, repeated = _reported_rows(h.assign(reported_yield_t_ha=[3.0, 4.0, 3.0, 6.0]), "r.csv")
    assert repeated == 1 and len(out) == 3


# --- through the registry -------------------------------------------------------------------------------------------


@pytest.fixture
def registry_uri(trained: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    return trained


def _perf(t: dict, features: str | Path = "f2016_end.parquet", reported: str | Path = "history.csv",
          **kw: Any) -> OutcomesResult:
    root = t["root"]
    return model_performance(root / features, root / reported, version=t["v"], **kw)


def test_the_default_interval_draws_fields(registry_uri: dict) -> None:
    res = _perf(registry_uri, checkpoint="end")
    assert res.interval.startswith("95% percentile bootstrap over scored fields (") and "clustered" not in res.interval
    assert not any(n.startswith("under 30 fields scored") for n in res.notes)  # both crops have more
    assert not any("repeated row(s)" in n for n in res.notes)  # the records file repeats no row


def _reported_of(t: dict, tmp_path: Path, maize: int, soybean: int) -> Path:
    """The records file with only the first ``maize`` and ``soybean`` reported fields of season 2016."""
    h = t["hist"]
    now = h[(h["season"] == "2016") & h["reported_yield_t_ha"].notna()]
    keep = pd.concat([now[now["declared_crop"] == "maize"].head(maize),
                      now[now["declared_crop"] == "soybean"].head(soybean)])
    assert len(keep) == maize + soybean
    path = tmp_path / f"r{maize}_{soybean}.csv"
    pd.concat([h[h["season"] != "2016"], keep]).to_csv(path, index=False)
    return path


def test_thirty_fields_are_enough_and_each_crop_under_thirty_is_named(registry_uri: dict, tmp_path: Path) -> None:
    res = _perf(registry_uri, reported=_reported_of(registry_uri, tmp_path, 15, 15), checkpoint="end")
    assert res.scored == 30
    assert "under 30 fields scored: maize (15), soybean (15) — their intervals are wide" in res.notes
    res = _perf(registry_uri, reported=_reported_of(registry_uri, tmp_path, 30, 20), checkpoint="end")
    assert res.scored == 50 and "under 30 fields scored: soybean (20) — their intervals are wide" in res.notes
    with pytest.raises(UserInputError, match="29 fields of season 2016 .* needs at least 30"):
        _perf(registry_uri, reported=_reported_of(registry_uri, tmp_path, 15, 14), checkpoint="end")


def _with_checkpoint_dates(monkeypatch: pytest.MonkeyPatch, end: dict[str, tuple[str, int]]) -> None:
    from models import registry

    real = registry.governance

    def governance(name: str, version: str) -> Governance:
        return dataclasses.replace(real(name, version), checkpoint_dates={
            "us-nebraska": {"mid": {"*": ("07-01", 0)}, "end": end}})

    monkeypatch.setattr(registry, "governance", governance)


def test_checkpoint_dates_choose_the_checkpoint_and_the_rows_at_it(registry_uri: dict,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    plain = _perf(registry_uri, checkpoint="end")
    _with_checkpoint_dates(monkeypatch, {"*": ("10-01", 0)})
    got = _perf(registry_uri)  # every field has reached end on 15 October: the checkpoint is end
    assert got.checkpoint == "end" and got.scored == plain.scored and got.outside == {}
    assert _perf(registry_uri, checkpoint="end").scored == plain.scored
    with pytest.raises(UserInputError, match=r"is at checkpoint mid \(the fields are at: end \(100\)\)"):
        _perf(registry_uri, checkpoint="mid")
    # a crop the version never learned is at no checkpoint of its own: not counted among the fields reached
    rice = pd.read_parquet(registry_uri["root"] / "f2016_end.parquet")
    rice.loc[:4, "declared_crop"] = "rice"
    rice.to_parquet(tmp_path / "rice.parquet")
    with pytest.raises(UserInputError, match=r"\(the fields are at: end \(95\)\)"):
        _perf(registry_uri, features=tmp_path / "rice.parquet", checkpoint="mid")
    # soybean reaches end later than 15 October: its fields are at mid, counted out; so are another region's
    _with_checkpoint_dates(monkeypatch, {"maize": ("10-01", 0), "soybean": ("10-30", 0)})
    f = pd.read_parquet(registry_uri["root"] / "f2016_end.parquet")
    f.loc[:9, "region"] = "in-smallholder"
    f.to_parquet(tmp_path / "mixed.parquet")
    soy = int((f["region"].eq("us-nebraska") & f["declared_crop"].eq("soybean")).sum())
    got = _perf(registry_uri, features=tmp_path / "mixed.parquet", checkpoint="end")
    assert got.outside == {"regions outside its scope": 10, "not at checkpoint end": soy}


def test_a_field_valued_as_another_crop_is_said_and_keeps_its_declared_baseline(registry_uri: dict,
                                                                                tmp_path: Path) -> None:
    f = pd.read_parquet(registry_uri["root"] / "f2016_end.parquet")
    rep = registry_uri["rep"].set_index("field_id")["reported_yield_t_ha"]
    maize = f.index[(f["declared_crop"] == "maize") & f["field_id"].map(rep).notna()][:4]
    f["crop_type"] = f["declared_crop"].astype(object)
    f.loc[maize, "crop_type"] = "soybean"
    f.to_parquet(tmp_path / "typed.parquet")
    res = _perf(registry_uri, features=tmp_path / "typed.parquet", checkpoint="end")
    assert any(n.startswith("4 field(s) valued as another crop than declared") for n in res.notes), res.notes


@pytest.mark.parametrize("seasons", [["2011", "2017"], ["2015.0", "2016.0"]])
def test_a_season_not_after_the_last_training_season_is_refused(registry_uri: dict, monkeypatch: pytest.MonkeyPatch,
                                                                seasons: list[str]) -> None:
    from models import registry

    monkeypatch.setattr(registry, "training_seasons", lambda name, version: seasons)
    with pytest.raises(UserInputError, match="season 2016 is not after the seasons"):
        _perf(registry_uri, checkpoint="end")


def test_farmers_drawn_whole_are_counted_in_the_interval_text(registry_uri: dict, tmp_path: Path) -> None:
    f = pd.read_parquet(registry_uri["root"] / "f2016_end.parquet")
    f.assign(farmer_token=[f"t{i // 10:02d}" for i in range(len(f))]).to_parquet(tmp_path / "ten.parquet")
    res = _perf(registry_uri, features=tmp_path / "ten.parquet", checkpoint="end", interval_by="farmer")
    assert "clustered by farmer (10 groups drawn whole)" in res.interval, res.interval
    assert np.isfinite(res.table.set_index("crop").at["all", "rmse_pct_lo"])
