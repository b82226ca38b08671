"""``agcredit evaluate … --interval-by``: the cluster (grouped) bootstrap of the evaluations' 95% intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.evaluation import group_keys, season_groups
from pipelines.evaluation._alert_scoring import EVENT_COLUMNS, field_bootstrap
from pipelines.evaluation._bootstrap import (
    INTERVAL,
    describe,
    group_codes,
    grouped_season_draws,
    resample_counts,
    season_draws,
)


def test_every_field_its_own_group_draws_exactly_as_the_field_bootstrap() -> None:
    n = 9001  # several chunks of draws
    cols = np.array([0, 5, 17, 4000, 9000])
    own = group_codes([f"F{i}" for i in range(n)])
    assert (own == np.arange(n)).all()
    for stream in (0, 3):
        assert np.array_equal(resample_counts(n, cols, stream), resample_counts(n, cols, stream, groups=own))
    assert np.array_equal(np.concatenate(list(season_draws(2, 50))),
                          np.concatenate(list(grouped_season_draws([None, None, np.arange(50)])(2, 50))))
    assert np.array_equal(np.concatenate(list(season_draws(1, 50, np.arange(50)))),
                          np.concatenate(list(season_draws(1, 50))))


def test_a_groups_fields_always_get_the_same_count() -> None:
    rng = np.random.default_rng(1)
    keys = rng.choice([f"C{k}" for k in range(9)], 200)
    codes = group_codes(keys)
    w = resample_counts(200, np.arange(200), groups=codes)
    assert w.shape == (INTERVAL["resamples"], 200)
    g = int(codes.max()) + 1
    per_group = np.zeros((len(w), g), dtype=int)
    for k in range(g):
        m = codes == k
        assert (w[:, m] == w[:, m][:, :1]).all()  # all of a group's fields drawn alike
        per_group[:, k] = w[:, m][:, 0]
    assert (per_group.sum(axis=1) == g).all()  # G groups drawn G of G
    sizes = np.bincount(codes)
    assert np.array_equal(w.sum(axis=1), per_group @ sizes)  # a resample holds the drawn groups' fields
    assert len(set(w.sum(axis=1))) > 1  # so its size varies


def test_a_field_without_a_group_is_its_own() -> None:
    assert group_codes(["a", None, "b", "a", float("nan"), "", "b"]).tolist() == [0, 1, 2, 0, 3, 4, 2]
    keys = pd.DataFrame({"field_id": ["F1", "F2", "F3"], "season": ["2009"] * 3, "group": ["x", None, "x"]})
    assert season_groups(keys, "2009", ["F3", "F9", "F2", "F1"]).tolist() == [0, 1, 2, 0]
    assert season_groups(None, "2009", ["F1"]) is None


def _events(fields: list[str], found: list[bool]) -> pd.DataFrame:
    return pd.DataFrame([(f, "failure", pd.Timestamp("2009-07-01"), pd.Timestamp("2009-07-10") if ok else None,
                          1 if ok else None, "") for f, ok in zip(fields, found, strict=True)], columns=EVENT_COLUMNS)


def test_two_correlated_groups_give_a_wider_interval_than_fields() -> None:
    fields = [f"F{i:02d}" for i in range(40)]
    per = _events(fields, [i < 20 for i in range(40)])  # group A caught every event, group B none
    groups = {f: ("A" if i < 20 else "B") for i, f in enumerate(fields)}
    by_field, _ = field_bootstrap(fields, [], per)
    by_group, by_type = field_bootstrap(fields, [], per, groups=groups, interval_by="condition")
    lo, hi = by_field["recall_ci"]
    assert 0.2 < lo < 0.5 < hi < 0.8
    assert by_group["recall_ci"] == [0.0, 1.0] == by_type["failure"]  # AA, AB, BA, BB: recall 1, ½, ½, 0
    assert "interval_by" not in by_field and by_field["interval"] == describe("the season's fields")
    assert by_group["interval_by"] == "condition"
    assert "fields, clustered by simulated condition (2 groups drawn whole) (2,000" in by_group["interval"]
    # every field its own group: the very intervals of the field bootstrap
    own, _ = field_bootstrap(fields, [], per, groups={f: f for f in fields}, interval_by="farmer")
    assert own["recall_ci"] == by_field["recall_ci"] and own["median_delay_obs_ci"] == by_field["median_delay_obs_ci"]


def test_growth_area_crop_and_yield_intervals_widen_with_two_groups() -> None:
    from pipelines.evaluation.area import area_metrics
    from pipelines.evaluation.crop_type import baseline_intervals, loso_intervals, set_intervals
    from pipelines.evaluation.growth_stage import field_intervals
    from pipelines.evaluation.yield_ import resampled_target_figures

    n = 40
    two = np.repeat([0, 1], n // 2)
    # growth stage: stage right on one group's fields, wrong on the other's
    values = {"stage_accuracy_mid": (np.ones(n), (two == 0).astype(float))}
    f, g = field_intervals(values)["stage_accuracy_mid_ci"], field_intervals(values, two)["stage_accuracy_mid_ci"]
    assert f is not None and g == [0.0, 1.0] and g[1] - g[0] > f[1] - f[0]
    assert field_intervals(values, np.arange(n)) == field_intervals(values)
    # area: the county total's error all on one group's fields
    t = pd.DataFrame({"field_area_ha": 1.0, "declared_area_ha": 1.0, "true_area_ha": 1.0, "true_fraction": 1.0,
                      "planted_area_ha": np.where(two == 0, 1.5, 1.0), "planted_fraction": 1.0, "events": ""},
                     index=range(n))
    a, b = area_metrics(t)["county_total"]["error_ci"], area_metrics(t, two, "condition")["county_total"]["error_ci"]
    assert b[1] - b[0] > a[1] - a[0]
    same = area_metrics(t, np.arange(n), "farmer")
    assert {k: v for k, v in same.items() if not k.startswith("interval")} == \
        {k: v for k, v in area_metrics(t).items() if k != "interval"}
    # crop type: one group all right, the other all wrong
    ids = [f"F{i}" for i in range(n)]
    per = {"true": ["rice"] * n, "pred": ["rice" if k == 0 else "maize" for k in two], "field_id": ids,
           "season": ["2009"] * n}
    keys = pd.DataFrame({"field_id": ids, "season": "2009", "group": np.where(two == 0, "A", "B")})
    cf, cg = set_intervals(per)["accuracy_ci"], set_intervals(per, keys=keys)["accuracy_ci"]
    assert cg == [0.0, 1.0] and cf[1] - cf[0] < 0.5
    base = {**per, "pred": ["rice"] * n}
    assert baseline_intervals(per, base, keys=keys)["model_minus_baseline_accuracy_ci"] == [-1.0, 0.0]
    lo_f = loso_intervals({"2009": per}, rice=False)["mean_accuracy_ci"]
    lo_g = loso_intervals({"2009": per}, rice=False, keys=keys)["mean_accuracy_ci"]
    assert lo_g == [0.0, 1.0] and lo_f[1] - lo_f[0] < 0.5
    # yield: one group's predictions exact, the other's far off (within one held-out season)
    rng = np.random.default_rng(0)
    y = rng.normal(5, 1, n)
    fields = {"2008": pd.DataFrame({"crop": "maize", "true_yield_t_ha": y, "p50": np.where(two == 0, y, y + 3)})}
    yf = resampled_target_figures(fields, ["maize"])["maize"]["rmse_pct"]
    yg = resampled_target_figures(fields, ["maize"], grouped_season_draws([two]))["maize"]["rmse_pct"]
    assert np.nanmin(yg) == 0.0 and np.ptp(yg[np.isfinite(yg)]) > np.ptp(yf)


# --- the commands ---------------------------------------------------------------------------------------------------

COMMANDS = ("alerts", "growth-stage", "area", "crop-type", "yield")


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_interval_by_is_one_line_exit_2(command: str, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["evaluate", command, "--county", str(tmp_path), "--interval-by", "AB123456C"])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "--interval-by: expected one of field, condition, farmer" in lines[0]
    assert "AB123456C" not in r.stderr + r.stdout  # what was typed is never quoted


SEASONS = ["2007", "2008", "2009"]
NATIONAL = [f"NID{k:05d}X" for k in range(4)]


def _county(tmp: Path, *, conditions: bool) -> Path:
    """A county folder: county.json, truth (with or without condition ids) and records/fields.gpkg whose 8 fields
    a season belong to 4 farmers (national IDs), two each."""
    root = tmp / "county"
    (root / "truth").mkdir(parents=True)
    (root / "records").mkdir()
    (root / "county.json").write_text(json.dumps({"synthetic": True, "region": "in-smallholder", "seasons": SEASONS,
                                                  "current_season": "2009"}))
    rows, truth = [], []
    for s in SEASONS:
        for k in range(8):
            rows.append({"field_id": f"F{k}", "season": s, "national_id": NATIONAL[k // 2],
                         "farmer_name": f"Farmer Surname{k // 2}", "declared_crop": "rice",
                         "declared_area_ha": 1.0, "geometry": box(k * 200.0, 0.0, k * 200.0 + 100.0, 100.0)})
            truth.append({"field_id": f"F{k}", "season": s, "true_crop": "rice",
                          **({"condition_id": f"C{s}-rice-{k % 3}"} if conditions else {})})
    gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:32644").to_file(root / "records" / "fields.gpkg")
    pd.DataFrame(truth).to_parquet(root / "truth" / "fields.parquet")
    return root


def test_group_keys_read_conditions_and_farmers_without_their_ids(tmp_path: Path) -> None:
    root = _county(tmp_path, conditions=True)
    assert group_keys(root, "field") is None
    cond = group_keys(root, "condition")
    assert cond is not None and season_groups(cond, "2009", [f"F{k}" for k in range(8)]).tolist() == \
        [0, 1, 2, 0, 1, 2, 0, 1]
    farm = group_keys(root, "farmer")
    assert farm is not None and season_groups(farm, "2009", [f"F{k}" for k in range(8)]).tolist() == \
        [0, 0, 1, 1, 2, 2, 3, 3]
    assert not set(NATIONAL) & set(farm["group"])  # the keyed tokens, not the national IDs


def test_condition_without_condition_ids_is_one_line_exit_2(tmp_path: Path) -> None:
    root = _county(tmp_path, conditions=False)
    for command in COMMANDS:
        r = CliRunner().invoke(app, ["evaluate", command, "--county", str(root), "--interval-by", "condition"])
        assert r.exit_code == 2, (command, r.output)
        lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith(("series", "["))]
        assert len(lines) == 1 and "--interval-by condition" in lines[0] and "no condition ids" in lines[0], \
            (command, r.stderr)


def test_alerts_by_farmer_never_show_the_national_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.evaluation import alerts as ev_mod
    from pipelines.evaluation.alerts import AlertEvaluation
    from pipelines.monitor import AlertParams

    root = _county(tmp_path, conditions=True)
    seen: dict[str, Any] = {}

    def fake_evaluate(county: Any, **kw: Any) -> AlertEvaluation:
        """The scoring of a replay (no imagery here): the keys group_keys reads, through field_bootstrap."""
        keys = group_keys(county, kw["interval_by"])
        assert keys is not None
        ks = keys[keys["season"] == "2009"]
        groups = dict(zip(ks["field_id"], ks["group"], strict=True))
        seen["groups"] = groups
        fields = [f"F{k}" for k in range(8)]
        ci, by_type = field_bootstrap(fields, [(f, k < 4) for k, f in enumerate(fields)],
                                      _events(fields, [k % 2 == 0 for k in range(8)]), groups=groups,
                                      interval_by=kw["interval_by"])
        metrics = {"events": 8, "detected": 4, "recall": 0.5, "high_alerts": 8, "precision": 0.5,
                   "median_delay_obs": 1.0, "fields": 8, "clear_obs_per_field": 10.0, **ci}
        by_event = pd.DataFrame({"event": ["failure"], "events": [8], "detected": [4], "median_delay_obs": [1.0],
                                 "recall": [0.5], "recall_ci": [by_type["failure"]], "naive_detected": [0],
                                 "naive_recall": [0.0], "naive_median_delay_obs": [None]})
        return AlertEvaluation(county=str(county), season="2009", label="synthetic", params=AlertParams(),
                               tuned_on=[], metrics=metrics, baseline=dict(metrics), by_event=by_event,
                               by_alert=pd.DataFrame(columns=["alert", "raised", "right", "precision",
                                                              "on_adverse_field"]),
                               alerts=pd.DataFrame())

    monkeypatch.setattr(ev_mod, "evaluate_alerts", fake_evaluate)
    outs = []
    for extra in (["--json"], []):
        r = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--interval-by", "farmer", *extra])
        assert r.exit_code == 0, r.output
        outs.append(r.stdout + r.stderr)
    d = json.loads(CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--interval-by", "farmer",
                                            "--json"]).stdout)
    assert d["metrics"]["interval_by"] == "farmer"
    assert "clustered by farmer (4 groups drawn whole)" in d["metrics"]["interval"]
    assert "clustered by farmer (4 groups drawn whole)" in outs[1]
    assert len(set(seen["groups"].values())) == 4
    for out in outs:
        for nid in NATIONAL:
            assert nid not in out and nid.lower() not in out.lower()
        assert "Surname" not in out
        for token in set(seen["groups"].values()):
            assert str(token) not in out  # nor the farmers' tokens: a group key is never shown


def test_a_banks_fields_are_drawn_by_field_or_farmer_only() -> None:
    """``models performance`` (both models): ``condition`` is refused for a bank's fields, an unknown name without
    quoting it; ``farmer`` groups by the features' farmer tokens, and a missing or empty column is one line naming
    the file."""
    from features.errors import UserInputError
    from pipelines.evaluation._bootstrap import check_bank_interval_by, farmer_groups

    assert check_bank_interval_by("field") == "field" and check_bank_interval_by("farmer") == "farmer"
    with pytest.raises(UserInputError, match=r"^--interval-by: expected field or farmer here \(not simulated "
                                             r"condition: a bank's fields carry no simulated condition\)$"):
        check_bank_interval_by("condition")
    with pytest.raises(UserInputError, match="^--interval-by: expected one of field, condition, farmer$"):
        check_bank_interval_by("Ramesh")
    frame = pd.DataFrame({"farmer_token": ["Fa", "Fb", "Fa", None]})
    assert farmer_groups(frame, "field", "f.parquet") == (None, None)
    groups, n = farmer_groups(frame, "farmer", "f.parquet")
    assert groups is not None and groups.tolist() == [0, 1, 0, 2] and n == 3
    for bad in (pd.DataFrame({"x": [1]}), pd.DataFrame({"farmer_token": [None, np.nan]})):
        with pytest.raises(UserInputError, match=r"^f\.parquet: --interval-by farmer needs the features' "
                                                 "farmer_token column$"):
            farmer_groups(bad, "farmer", "f.parquet")
