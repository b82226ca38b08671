"""``evaluate alerts``: the replay, scoring and tuning on seeded synthetic NDVI trajectories (and the CLI)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from pipelines.cli import app
from pipelines.evaluation import alerts as ev_mod
from pipelines.evaluation._alert_scoring import EVENT_COLUMNS, score_alerts_with_events
from pipelines.evaluation.alerts import (
    SeasonData,
    evaluate_alerts,
    fit_expectations,
    format_alert_evaluation,
    naive_alerts,
    parse_rules,
    replay_alerts,
    score_alerts,
    truth_events,
    tune_params,
)
from pipelines.monitor import AlertParams, clear_ndvi

SEASONS = ["2005", "2006", "2007", "2008"]
N = 30


def _start(season: str) -> date:
    return date(int(season), 4, 1)


def _synthetic() -> tuple[SeasonData, pd.DataFrame]:
    """Four seasons of 30 maize fields observed every 5 days (some cloudy); in each season 3 fields fail
    (canopy collapse on day 95, after it was green) and 2 are never planted; the rest grow a normal curve."""
    rng = np.random.default_rng(7)
    days = np.arange(0, 220, 5)
    rows, crops, truth, diaries = [], [], [], []
    for s in SEASONS:
        for k in range(N):
            fid = f"F{k:03d}"
            shift = int(rng.integers(-8, 9))
            v = 0.18 + 0.55 * np.exp(-0.5 * ((days - 110 - shift) / 28) ** 2) + rng.normal(0, 0.015, len(days))
            events, fail = "", None
            if k < 3:
                v = np.where(days >= 95 + shift, 0.2 + rng.normal(0, 0.01, len(days)), v)
                events, fail = "failure;drought", pd.Timestamp(_start(s) + timedelta(days=93 + shift))
            elif k < 5:
                v = 0.18 + rng.normal(0, 0.01, len(days))
                events = "never_planted"
            clear = rng.random(len(days)) > 0.2
            for d, x, c in zip(days, v, clear, strict=True):
                rows.append({"field_id": fid, "season": s, "date": pd.Timestamp(_start(s) + timedelta(days=int(d))),
                             "variable": "NDVI", "mean": float(x), "std": 0.02, "p10": float(x), "p50": float(x),
                             "p90": float(x), "n_pixels": 100, "n_clear": 100 if c else 10})
            crops.append({"field_id": fid, "season": s, "crop": "maize", "region": "r"})
            if s != SEASONS[-1]:  # farmers' diaries of past seasons: zero yield = failed, nothing = never planted
                sown = "" if k in (3, 4) else str(_start(s) + timedelta(days=40))
                diaries.append({"field_id": fid, "season": s, "declared_crop": "maize", "sowing_date": sown,
                                "harvest_date": "", "reported_yield_t_ha": "0.00" if k < 3 else "" if k < 5
                                else "7.50"})
            truth.append({"field_id": fid, "season": s, "events": events, "failure_date": fail,
                          "emergence_date": pd.Timestamp(_start(s) + timedelta(days=50 + shift))})
    series = pd.DataFrame(rows)
    data = SeasonData(region="r", seasons=SEASONS, current="2008", obs=clear_ndvi(series),
                      crops=pd.DataFrame(crops), starts={s: _start(s) for s in SEASONS}, series=series,
                      records=pd.DataFrame(diaries))
    return data, pd.DataFrame(truth)


@pytest.fixture(scope="module")
def synth() -> tuple[SeasonData, pd.DataFrame]:
    return _synthetic()


@pytest.mark.parametrize("option", [{"np_cleared_canopy": False}, {},
                                    {"np_cleared_canopy": False, "np_came_up_rise": 0.1}])
def test_fast_replay_equals_exact(synth: tuple[SeasonData, pd.DataFrame], option: dict[str, Any]) -> None:
    """The replay's shortcut raises what monitor raises on every acquisition date — on a field green only when its
    window opened (last season's crop) and bare since too, which today's rule (``np_cleared_canopy``) and the
    ``np_came_up_rise`` option make NOT_PLANTED and the rule before did not."""
    data, _ = synth
    p = AlertParams(**option)
    exp = fit_expectations(data, SEASONS[:-1], p)
    obs = data.obs.copy()
    cur = (obs["season"] == "2008") & (obs["field_id"] == "F012")
    first = obs.loc[cur, "date"].min()
    obs.loc[cur, "ndvi"] = np.where(obs.loc[cur, "date"] <= first + pd.Timedelta(days=10), 0.7, 0.18)
    data = replace(data, obs=obs)
    probs = pd.DataFrame({"field_id": ["F010", "F011"], "as_of": pd.to_datetime(["2008-06-01", "2008-06-01"]),
                          "declared_crop_prob": [0.05, 0.9]})
    fast = replay_alerts(data, "2008", exp, p, crop_probs=probs)
    exact = replay_alerts(data, "2008", exp, p, crop_probs=probs, exact=True)
    cols = ["field_id", "alert", "date"]
    pd.testing.assert_frame_equal(fast[cols].reset_index(drop=True), exact[cols].reset_index(drop=True))
    assert ("F010", "CROP_MISMATCH") in set(zip(fast["field_id"], fast["alert"], strict=True))
    assert (("F012", "NOT_PLANTED") in set(zip(fast["field_id"], fast["alert"], strict=True))) \
        == (option != {"np_cleared_canopy": False})


def test_scores_failures_and_not_planted(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    data, truth = synth
    p = AlertParams()
    exp = fit_expectations(data, SEASONS[:-1], p)
    alerts = replay_alerts(data, "2008", exp, p)
    events = truth_events(truth, data, "2008", exp, crop_mismatch=False)
    assert sorted(events["event"].value_counts().items()) == [("failure", 3), ("never_planted", 2)]
    metrics, by_event, by_alert = score_alerts(alerts, events, truth, data, "2008")
    assert metrics["recall"] == 1.0 and metrics["precision"] == 1.0
    assert metrics["median_delay_obs"] is not None and metrics["median_delay_obs"] <= 2
    assert set(by_alert["alert"]) >= {"CROP_FAILURE", "NOT_PLANTED"}
    base, _, _ = score_alerts(naive_alerts(data, "2008", exp).assign(season="2008"), events, truth, data, "2008")
    assert base["precision"] is not None and base["precision"] < metrics["precision"]


def test_a_not_planted_on_a_crop_that_came_up_and_failed_later_is_no_catch(
        synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """A NOT_PLANTED raised after a failing field's crop had come up and before it failed said "no crop" while the
    crop stood: wrong, and no catch of the failure (until 2026-12-04, sixth, it was scored a catch with delay 0). One
    raised before the crop came up, or after the failure, is right and catches it."""
    data, truth = synth
    exp = fit_expectations(data, SEASONS[:-1], AlertParams())
    events = truth_events(truth, data, "2008", exp, crop_mismatch=False)
    t = truth[(truth["season"] == "2008") & (truth["field_id"] == "F000")].iloc[0]
    emerged, onset = pd.Timestamp(t["emergence_date"]), pd.Timestamp(t["failure_date"])

    def scored(when: pd.Timestamp) -> tuple[dict[str, Any], pd.DataFrame]:
        al = pd.DataFrame({"field_id": ["F000"], "season": "2008", "alert": "NOT_PLANTED", "severity": "high",
                           "date": [when], "evidence": "{}"})
        m, ev, _ = score_alerts(al, events, truth, data, "2008")
        return m, ev.set_index("event")

    m, ev = scored(emerged + pd.Timedelta(days=10))  # the crop stood: a lucky call
    assert m["precision"] == 0.0 and ev.loc["failure", "detected"] == 0
    for when in (emerged - pd.Timedelta(days=5), onset + pd.Timedelta(days=5)):
        m, ev = scored(when)
        assert m["precision"] == 1.0 and ev.loc["failure", "detected"] == 1


def test_tuning_learns_from_records_not_truth(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    data, _ = synth
    grid = {"grace_days": (15, 25), "peer_greenup_rel": (0.5, 0.9)}
    chosen, table = tune_params(data, ["2006", "2007"], grid=grid)  # no truth argument: records only
    assert len(table) == 4 and {"precision", "recall", "events"} <= set(table.columns)
    assert (table["events"] == 10).all()  # 3 zero yields + 2 never sown, in each of the 2 seasons
    assert table["recall"].max() == 1.0 and chosen.grace_days in (15, 25)
    healthy = replace(data, records=data.records.assign(reported_yield_t_ha="7.50", sowing_date="2006-05-01"))
    _, t2 = tune_params(healthy, ["2006", "2007"], grid=grid)
    assert (t2["events"] == 0).all() and t2["recall"].isna().all()  # the labels come from the records
    with pytest.raises(UserInputError, match="needs the farmers' records"):
        tune_params(replace(data, records=None), ["2007"], grid=grid)


def test_tuning_replays_a_deterministic_sample_of_a_large_season(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """Beyond max_fields a tuning season is replayed on a hash sample of its fields (its labels cut to it); the
    seasons before it (the expectations) stay whole; at or above the season's size nothing changes."""
    from pipelines.evaluation.alerts import tuning_view

    data, _ = synth
    grid = {"grace_days": (15, 25), "peer_greenup_rel": (0.5, 0.9)}
    whole, t_whole = tune_params(data, ["2006", "2007"], grid=grid)
    same, t_same = tune_params(data, ["2006", "2007"], grid=grid, max_fields=N)
    assert same == whole and t_same.equals(t_whole)
    view, keep = tuning_view(data, "2007", 20)
    assert keep is not None and len(keep) == 20 and keep == tuning_view(data, "2007", 20)[1]  # deterministic
    assert set(view.crops.loc[view.crops["season"] == "2007", "field_id"]) == keep
    assert set(view.obs.loc[view.obs["season"] == "2007", "field_id"]) <= keep
    assert view.obs[view.obs["season"] != "2007"].equals(data.obs[data.obs["season"] != "2007"])
    _, t20 = tune_params(data, ["2007"], grid=grid, max_fields=20)
    failed_or_unsown = {f"F{k:03d}" for k in range(5)}  # the diaries' events: 3 zero yields, 2 never sown
    assert (t20["events"] == len(failed_or_unsown & keep)).all()


def _county(tmp: Path, truth: pd.DataFrame) -> Path:
    root = tmp / "county"
    (root / "truth").mkdir(parents=True)
    (root / "county.json").write_text(json.dumps({"synthetic": True, "region": "r", "seasons": SEASONS,
                                                  "current_season": "2008"}))
    truth.to_parquet(root / "truth" / "fields.parquet")
    return root


def test_evaluate_and_cli(synth: tuple[SeasonData, pd.DataFrame], tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    data, truth = synth
    root = _county(tmp_path, truth)
    ev = evaluate_alerts(root, data=data, crop_model=False, n_tune_seasons=1, grid={"grace_days": (15, 25)})
    assert ev.label == "synthetic" and ev.tuned_on == ["2007"] and ev.metrics["recall"] == 1.0
    text = format_alert_evaluation(ev)
    assert "(synthetic figures)" in text and "naive" in text and "CROP_MISMATCH not evaluated" in text
    json.dumps(ev.to_dict(), default=str)

    def fake_load(county: Any, **kwargs: Any) -> SeasonData:
        return data

    monkeypatch.setattr(ev_mod, "load_season_data", fake_load)
    r = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--json", "--no-tune", "--no-crop-model"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["label"] == "synthetic" and out["metrics"]["events"] == 5 and "baseline" in out
    bad = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--season", "2006"])
    assert bad.exit_code == 2 and "needs at least 2 past seasons" in bad.stderr

    def no_load(county: Any, **kwargs: Any) -> SeasonData:
        raise AssertionError("every season's series built before the season was checked")

    monkeypatch.setattr(ev_mod, "load_season_data", no_load)  # refused before any series is built
    for season, why in (("2006", "needs at least 2 past seasons"), ("1999", "is not one of the county's")):
        bad = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--season", season])
        assert bad.exit_code == 2 and why in bad.stderr, bad.stderr


def test_the_per_event_table_shows_what_the_rules_saw_of_a_miss(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """Every event once, in the recall's count; a caught one with its alert's date and delay, a missed one with the
    alerts raised on its field all the same (a WATCH, an EARLY_HARVEST: what the rules saw of it)."""
    data, truth = synth
    exp = fit_expectations(data, SEASONS[:-1], AlertParams())
    events = truth_events(truth, data, "2008", exp, crop_mismatch=False)
    fail = events[events["event"] == "failure"].sort_values("field_id")
    caught, missed = fail["field_id"].iloc[0], fail["field_id"].iloc[1]
    onset = pd.Timestamp(fail["onset"].iloc[0])
    al = pd.DataFrame({"field_id": [caught, missed, missed], "season": "2008",
                       "alert": ["CROP_FAILURE", "EARLY_HARVEST", "WATCH"], "severity": "high",
                       "date": [onset + pd.Timedelta(days=12), onset + pd.Timedelta(days=20),
                                onset + pd.Timedelta(days=10)], "evidence": "{}"})
    m, _, _, per = score_alerts_with_events(al, events, truth, data, "2008")
    assert list(per.columns) == EVENT_COLUMNS and len(per) == len(events) == m["events"]
    assert int(per["alert_date"].notna().sum()) == m["detected"] == 1
    row = per.set_index("field_id").loc[caught]
    assert row["alert_date"] == onset + pd.Timedelta(days=12) and row["delay_obs"] >= 1
    assert row["alerts_on_field"] == f"CROP_FAILURE {(onset + pd.Timedelta(days=12)).date()}"
    miss = per.set_index("field_id").loc[missed]
    assert pd.isna(miss["alert_date"]) and miss["alerts_on_field"].startswith("WATCH ")
    assert "; EARLY_HARVEST " in miss["alerts_on_field"]
    assert score_alerts(al, events, truth, data, "2008")[0] == m


def test_cli_writes_the_events_and_refuses_a_folder_before_the_replay(synth: tuple[SeasonData, pd.DataFrame],
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    data, truth = synth
    root = _county(tmp_path, truth)
    monkeypatch.setattr(ev_mod, "load_season_data", lambda county, **kwargs: data)
    out = tmp_path / "out" / "events.csv"
    r = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--json", "--no-tune",
                                 "--no-crop-model", "--events-out", str(out)])
    assert r.exit_code == 0, r.stderr
    got = pd.read_csv(out)
    assert list(got.columns) == EVENT_COLUMNS and len(got) == json.loads(r.stdout)["metrics"]["events"] == 5
    assert "wrote 5 events" in r.stderr
    assert not [p for p in out.parent.iterdir() if p.name != "events.csv"]  # no temporary file left

    def no_load(county: Any, **kwargs: Any) -> SeasonData:
        raise AssertionError("replayed before the output was checked")

    monkeypatch.setattr(ev_mod, "load_season_data", no_load)
    bad = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--events-out", str(tmp_path)])
    assert bad.exit_code == 2 and "is a folder" in bad.stderr and "Traceback" not in bad.stderr


def test_rules_set_thresholds_the_tuning_runs_with(synth: tuple[SeasonData, pd.DataFrame], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``--rule NAME=VALUE`` (``evaluate_alerts(rules=)``): an option turned on or a threshold set, the tuning run
    with it and a tuned name fixed at the value given (out of the grid), said in the notes and in the JSON's params;
    the same figures as the params given directly; what was typed never quoted in an error, which comes before any
    replay."""
    data, truth = synth
    root = _county(tmp_path, truth)
    grid = {"grace_days": (15, 25), "collapse_k": (1.0, 3.0)}
    ev = evaluate_alerts(root, data=data, crop_model=False, n_tune_seasons=1, grid=grid,
                         rules={"peer_stall_max": 0.5, "collapse_k": 2.0})
    assert ev.params.peer_stall_max == 0.5 and ev.params.collapse_k == 2.0 and ev.params.grace_days in (15, 25)
    assert "rules set: collapse_k=2.0, peer_stall_max=0.5" in ev.notes
    direct = evaluate_alerts(root, data=data, crop_model=False, params=ev.params)
    assert direct.metrics == ev.metrics
    untuned = evaluate_alerts(root, data=data, crop_model=False, tune=False, rules={"grace_days": 12})
    assert untuned.params == AlertParams(grace_days=12) and "defaults and the rules set" in untuned.notes[1]
    every = evaluate_alerts(root, data=data, crop_model=False, n_tune_seasons=1, grid=grid,
                            rules={"grace_days": 12, "collapse_k": 2.0})  # every tuned name set: nothing left to tune
    assert every.params == AlertParams(grace_days=12, collapse_k=2.0) and every.tuned_on == []
    with pytest.raises(UserInputError, match="either as params or as rules"):
        evaluate_alerts(root, data=data, crop_model=False, params=AlertParams(), rules={"grace_days": 12})
    assert parse_rules(["peer_first_obs=TRUE", " grace_days = 12 "]) == {"peer_first_obs": True, "grace_days": 12}
    monkeypatch.setattr(ev_mod, "load_season_data", lambda county, **kwargs: data)
    r = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--json", "--no-tune",
                                 "--no-crop-model", "--rule", "peer_stall_max=0.5", "--rule", "grace_days=12"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["params"]["peer_stall_max"] == 0.5 and out["params"]["grace_days"] == 12

    def no_load(county: Any, **kwargs: Any) -> SeasonData:
        raise AssertionError("replayed before the rules were checked")

    monkeypatch.setattr(ev_mod, "load_season_data", no_load)
    secret = "Wenzu Wenteda"  # anything may be typed: never quoted back
    for args, why in ((["--rule", f"{secret}=1"], "(argument 1): not an alert threshold; known: bare,"),
                      (["--rule", "grace_days=12", "--rule", secret], "(argument 2): expected NAME=VALUE"),
                      (["--rule", f"grace_days={secret}"], "--rule grace_days: expected a whole number"),
                      (["--rule", "peer_first_obs=1"], "--rule peer_first_obs: expected true or false"),
                      (["--rule", "collapse_k=inf"], "--rule collapse_k: expected a finite number"),
                      (["--rule", "collapse_k=1", "--rule", "collapse_k=2"], "--rule: collapse_k given twice"),
                      (["--rule", "timing_unit=gdd"], "set by --timing"),
                      (["--rule", "mismatch_cohort_ratio=4"], "mismatch_cohort_ratio (4, the season")):
        bad = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), *args])
        assert bad.exit_code == 2 and why in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)
        assert secret not in bad.stderr and "Wenzu" not in bad.stderr


def test_tuning_prefers_the_earlier_not_planted_when_records_cannot_tell(
        synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """The records carry no dates: two grace periods that score alike on them resolve to the shorter one."""
    data, _ = synth
    chosen, table = tune_params(data, ["2006", "2007"], grid={"grace_days": (25, 10)})
    assert table["precision"].nunique() == 1 and table["recall"].nunique() == 1
    assert chosen.grace_days == 10


def test_mismatch_replay_uses_the_production_crop_model(synth: tuple[SeasonData, pd.DataFrame],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """CROP_MISMATCH is replayed with the crop model a bank would run (train_crop_type: county parameters and
    checkpoints, fitted on past seasons' declared crops), and its alert carries the model's call as evidence."""
    import pipelines.train_crop as tc

    data, _ = synth
    series = pd.DataFrame({"field_id": ["x"], "season": ["2008"]})
    seen: dict[str, Any] = {}

    class Fake:
        checkpoints_ = (30, "end")

        def predict(self, s: pd.DataFrame, cur: pd.DataFrame, as_of: date) -> pd.DataFrame:
            ids = cur["field_id"].astype(str).tolist()
            return pd.DataFrame({"field_id": ids, "crop_type": "other", "crop_type_prob": 0.9,
                                 "declared_crop_prob": [0.05] + [0.9] * (len(ids) - 1)})

    def fake_train(s: pd.DataFrame, labels: pd.DataFrame, **kw: Any) -> Any:
        seen.update(kw, labels=labels)
        return tc.TrainResult(classifier=Fake(), metrics={}, governance=None, version=None,  # type: ignore[arg-type]
                              promoted=False, checkpoint_names={}, notes=[])

    monkeypatch.setattr(tc, "train_crop_type", fake_train)
    probs = ev_mod._crop_probs(replace(data, crop_series=series), "2008", ["2006", "2007"], {"mid": 30, "end": "end"})
    assert seen["checkpoints"] == {"mid": 30, "end": "end"} and seen["register"] is False
    assert set(seen["labels"]["season"]) == {"2006", "2007"} and seen["labels"]["region"].notna().all()
    assert probs is not None and list(probs.columns) == ["field_id", "as_of", "crop_type", "crop_type_prob",
                                                         "declared_crop_prob"]
    first = ev_mod._first_mismatch(data.obs[data.obs["season"] == "2008"], data.crops[data.crops["season"] == "2008"],
                                   probs, AlertParams(),
                                   sorted(pd.to_datetime(data.obs["date"].unique())))
    (key, row), = first.items()
    assert key[1] == "CROP_MISMATCH" and json.loads(row["evidence"]) == {"crop_type": "other", "crop_type_prob": 0.9,
                                                                         "declared_crop_prob": 0.05}


def test_mismatch_replay_reads_what_the_production_crop_model_is_trained_on(tiny_county_sh: Path,
                                                                             tmp_path: Path) -> None:
    """The replay's crop model sees the indices ``agcredit train crop-type --county`` trains on (County.series:
    every variable, the classifier's default indices), not the NDVI-only series the other rules read."""
    from pipelines.county import County

    data = ev_mod.load_season_data(tiny_county_sh, cache_dir=tmp_path / "c", crop_series=True)
    assert set(data.series["variable"]) == {"NDVI"} and data.crop_series is not None
    assert set(data.crop_series["variable"]) == set(ev_mod.CROP_VARIABLES)
    county = County(tiny_county_sh, cache_dir=tmp_path / "county")
    for s in data.seasons:
        full = county.series(s)
        want = full[full["variable"].isin(ev_mod.CROP_VARIABLES)].reset_index(drop=True)
        got = data.crop_series[data.crop_series["season"] == s].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
    assert ev_mod.load_season_data(tiny_county_sh, cache_dir=tmp_path / "c").crop_series is None


def test_fast_replay_equals_exact_with_the_cohort_check(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """With two declared crops in the season and the model calling fields the other one, the fast replay's
    CROP_MISMATCH (cohort check date by date) is the production rule's at every acquisition date."""
    data, _ = synth
    cur = data.crops["season"] == "2008"
    sorghum = cur & data.crops["field_id"].isin([f"F{k:03d}" for k in range(15, 30)])
    d2 = replace(data, crops=data.crops.assign(crop=data.crops["crop"].where(~sorghum, "sorghum")))
    p = AlertParams()
    exp = fit_expectations(d2, SEASONS[:-1], p)
    ids = ["F006", "F008", "F010", "F012", "F016", "F018", "F021", "F024", "F027"]
    probs = pd.DataFrame({"field_id": ids * 2,
                          "as_of": pd.to_datetime(["2008-05-20"] * len(ids) + ["2008-07-01"] * len(ids)),
                          "declared_crop_prob": 0.05,
                          "crop_type": ["sorghum"] * 4 + ["maize"] * 5 + ["sorghum"] * 4 + ["maize"] * 5,
                          "crop_type_prob": 0.9})
    fast = replay_alerts(d2, "2008", exp, p, crop_probs=probs)
    exact = replay_alerts(d2, "2008", exp, p, crop_probs=probs, exact=True)
    cols = ["field_id", "alert", "date", "evidence"]
    mis = [x[x["alert"] == "CROP_MISMATCH"][cols].reset_index(drop=True) for x in (fast, exact)]
    pd.testing.assert_frame_equal(*mis)
    off = replay_alerts(d2, "2008", exp, replace(p, mismatch_cohort_days=0), crop_probs=probs)
    assert 0 < len(mis[0]) < (off["alert"] == "CROP_MISMATCH").sum() == len(ids)  # some vetoed, not all
    assert all("cohort_ratio" in json.loads(e) for e in mis[0]["evidence"])


def test_naive_baseline_precision_counts_the_events_its_recall_counts(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    # the naive alert was scored "right" on any adverse field (drought, hail, partly planted...) while its recall and
    # the rules' precision count failure / never planted / crop mismatch only: its precision was flattered
    data, truth = synth
    t = truth.copy()
    t.loc[(t["season"] == "2008") & (t["field_id"] == "F010"), "events"] = "drought"
    t.loc[(t["season"] == "2008") & (t["field_id"] == "F011"), "events"] = "partly_planted;hail"
    exp = fit_expectations(data, SEASONS[:-1], AlertParams())
    events = truth_events(t, data, "2008", exp, crop_mismatch=False)
    naive = pd.DataFrame({"field_id": ["F000", "F003", "F010", "F011"], "alert": "NAIVE", "season": "2008",
                          "date": pd.Timestamp("2008-08-01")})
    m, _, by_alert = score_alerts(naive, events, t, data, "2008")
    assert m["high_alerts"] == 4 and m["precision"] == 0.5 and m["recall"] == 0.4
    assert by_alert.set_index("alert").loc["NAIVE", "right"] == 2


def test_cli_json_is_valid_json_when_an_event_kind_is_never_detected(synth: tuple[SeasonData, pd.DataFrame],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # an event kind no alert caught has no median delay (NaN), which --json wrote as a bare NaN: not JSON
    data, truth = synth
    root = _county(tmp_path, truth)
    real = ev_mod.evaluate_alerts

    def undetected(county: Any, **kwargs: Any) -> Any:
        ev = real(county, data=data, crop_model=False, tune=False)
        return replace(ev, by_event=ev.by_event.assign(detected=0, median_delay_obs=float("nan")))

    monkeypatch.setattr(ev_mod, "evaluate_alerts", undetected)
    r = CliRunner().invoke(app, ["evaluate", "alerts", "--county", str(root), "--json"])
    assert r.exit_code == 0, r.stderr

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    out = json.loads(r.stdout, parse_constant=refuse)
    assert out["by_event"] and all(e["median_delay_obs"] is None for e in out["by_event"])


def test_the_per_event_table_has_the_naive_baseline_beside_it(synth: tuple[SeasonData, pd.DataFrame],
                                                              tmp_path: Path) -> None:
    """Each event type's detected, recall and median delay of the naive baseline beside the rules' (the overall
    rows had it; the per-event table did not), scored on the same events, in the text and the JSON."""
    data, truth = synth
    root = _county(tmp_path, truth)
    ev = evaluate_alerts(root, data=data, crop_model=False, tune=False)
    exp = fit_expectations(data, SEASONS[:-1], ev.params)
    events = truth_events(truth, data, "2008", exp, crop_mismatch=False)
    _, naive_ev, _ = score_alerts(naive_alerts(data, "2008", exp).assign(season="2008"), events, truth, data, "2008")
    got = ev.by_event.set_index("event")
    want = naive_ev.set_index("event")
    assert list(got.index) == list(want.index) and len(got) >= 2
    for e in got.index:
        assert got.at[e, "naive_detected"] == want.at[e, "detected"]
        assert got.at[e, "naive_recall"] == want.at[e, "recall"] and got.at[e, "events"] == want.at[e, "events"]
    text = format_alert_evaluation(ev)
    header = next(line for line in text.splitlines() if line.startswith("event "))
    assert header.count("detected") == 2 and header.count("recall") == 3  # the rules' with its interval, the naive
    row = next(line for line in text.splitlines() if line.startswith(str(got.index[0]) + " "))
    # event, events, then detected, recall, its interval, delay for the rules and detected, recall, delay for the naive
    assert len(row.split()) == 9
    assert all("naive_recall" in r for r in ev.to_dict()["by_event"])


def _events(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
    """A per-event table (:data:`EVENT_COLUMNS`) from (field, event, delay or None = missed)."""
    day = pd.Timestamp("2008-06-01")
    return pd.DataFrame([(f, e, day, None if d is None else day + pd.Timedelta(days=5), d, "") for f, e, d in rows],
                        columns=EVENT_COLUMNS)


def test_the_figures_intervals_resample_fields() -> None:
    """Precision, recall and median delay carry a 95% percentile interval over the season's fields resampled with
    replacement: the same inputs give the same intervals; a perfect season's are [1, 1]; a field's alerts and events
    are drawn together, so wrong alerts piled on one field widen precision's interval beyond the same count spread
    over many fields would; the figure lies inside; numpy's median (the mean of the middle two) on every resample."""
    from pipelines.evaluation._alert_scoring import INTERVAL, field_bootstrap

    fields = [f"F{i:03d}" for i in range(200)]
    per = _events([(f, "failure", 1.0 + (i % 3)) for i, f in enumerate(fields[:40])]
                  + [(f, "crop_mismatch", None if i < 10 else 2.0) for i, f in enumerate(fields[40:80])])
    spread = [(f, True) for f in fields[:70]] + [(f, False) for f in fields[100:130]]
    piled = [(f, True) for f in fields[:70]] + [(fields[150], False)] * 30
    a, by_a = field_bootstrap(fields, spread, per)
    assert (a, by_a) == field_bootstrap(fields, spread, per)  # deterministic (fixed seed)
    assert f"{INTERVAL['resamples']:,} resamples" in a["interval"]
    lo, hi = a["precision_ci"]
    assert lo < 0.7 < hi and 0.55 < lo and hi < 0.85  # 70 of 100 right, fields independent: about ±0.09
    lo_r, hi_r = a["recall_ci"]
    assert lo_r < 70 / 80 < hi_r
    assert by_a["crop_mismatch"][0] < 0.75 < by_a["crop_mismatch"][1] and by_a["failure"] == [1.0, 1.0]
    assert a["median_delay_obs_ci"][0] <= 2.0 <= a["median_delay_obs_ci"][1]
    b, _ = field_bootstrap(fields, piled, per)
    assert (b["precision_ci"][1] - b["precision_ci"][0]) > 2 * (hi - lo)  # one field's 30 wrong alerts: one draw
    perfect, by_p = field_bootstrap(fields, [(f, True) for f in fields[:80]],
                                    _events([(f, "failure", 2.0) for f in fields[:80]]))
    assert perfect["precision_ci"] == [1.0, 1.0] == perfect["recall_ci"] and perfect["median_delay_obs_ci"] == [2.0, 2.0]
    none, by_n = field_bootstrap(fields, [], _events([]))
    assert none["precision_ci"] is None and none["recall_ci"] is None and by_n == {}


def test_the_weighted_median_is_numpys() -> None:
    """The delays' median on a resample (each delay value drawn as often as counted) is numpy's."""
    from pipelines.evaluation._bootstrap import repeated_median

    rng = np.random.default_rng(3)
    delays = np.arange(6, dtype=float)
    for _ in range(200):
        vals = rng.integers(0, 6, size=int(rng.integers(1, 12)))
        counts = np.bincount(vals, minlength=6)[None, :]
        assert repeated_median(delays, counts)[0] == float(np.median(vals))
    assert np.isnan(repeated_median(np.arange(3, dtype=float), np.zeros((1, 3), dtype=int))[0])


def test_the_replay_prints_and_saves_the_intervals(synth: tuple[SeasonData, pd.DataFrame], tmp_path: Path) -> None:
    """`evaluate alerts` gives each figure its interval in the text (beside the target) and in the JSON (metrics'
    ``*_ci``, each event type's ``recall_ci``), with how they were drawn; the naive baseline's metrics carry theirs."""
    data, truth = synth
    ev = evaluate_alerts(_county(tmp_path, truth), data=data, crop_model=False, tune=False)
    d = json.loads(json.dumps(ev.to_dict()))
    m = d["metrics"]
    for k in ("precision", "recall", "median_delay_obs"):
        lo, hi = m[f"{k}_ci"]
        assert lo <= m[k] <= hi
    assert all(r["recall_ci"][0] <= r["recall"] <= r["recall_ci"][1] for r in d["by_event"])
    assert d["baseline"]["precision_ci"] is not None and "bootstrap over the season's fields" in m["interval"]
    text = format_alert_evaluation(ev)
    prec = next(line for line in text.splitlines() if line.startswith("precision (high alerts)"))
    lo, hi = (float(x) for x in prec.split()[-1].split("–"))
    assert (lo, hi) == (pytest.approx(m["precision_ci"][0], abs=5e-4), pytest.approx(m["precision_ci"][1], abs=5e-4))
    assert "alerts 95% interval" in text and text.count("intervals: 95% percentile bootstrap") == 1


def test_all_alerts_right_gets_the_exact_interval_not_one_of_no_width(synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """A walkthrough: a share every resample draws alike (every alert right, every event caught) had the interval
    1.000–1.000, which the validation report judged to meet its target on any number of cases. It is the exact
    binomial interval now (1 of 1: 0.025–1.0), said in ``interval_exact``; a share with misses keeps the bootstrap's."""
    from pipelines.evaluation._bootstrap import exact_interval

    data, truth = synth
    exp = fit_expectations(data, SEASONS[:-1], AlertParams())
    events = truth_events(truth, data, "2008", exp, crop_mismatch=False)
    fail = events[events["event"] == "failure"].sort_values("field_id")
    onset = pd.Timestamp(fail["onset"].iloc[0])
    al = pd.DataFrame({"field_id": [fail["field_id"].iloc[0]], "season": "2008", "alert": ["CROP_FAILURE"],
                       "severity": "high", "date": [onset + pd.Timedelta(days=12)], "evidence": "{}"})
    m, by_event, _, _ = score_alerts_with_events(al, events, truth, data, "2008")
    assert m["precision"] == 1.0 and m["precision_ci"] == exact_interval(1, 1) == [0.025, 1.0]
    assert m["interval_exact"] == ["precision"] and m["recall"] < 1.0 and m["recall_ci"][0] < m["recall_ci"][1]
    missed = by_event[by_event["detected"] == 0]
    for ci, n in zip(missed["recall_ci"], missed["events"], strict=True):
        assert ci == exact_interval(0, int(n))  # none of them caught: 0 to the exact upper bound, not 0–0


def test_an_exact_interval_counts_the_fields_or_groups_drawn_not_the_alerts(
        synth: tuple[SeasonData, pd.DataFrame]) -> None:
    """A field's alerts are one draw of the bootstrap, so all of 4 alerts right on 2 fields is 2 of 2 (15.8–100%),
    not 4 of 4 (39.8–100%, which a session-74 exact interval read); under ``--interval-by farmer`` the 2 fields of
    one farmer are 1 of 1."""
    from pipelines.evaluation._bootstrap import exact_interval

    data, truth = synth
    exp = fit_expectations(data, SEASONS[:-1], AlertParams())
    events = truth_events(truth, data, "2008", exp, crop_mismatch=False)
    fail = events[events["event"] == "failure"].sort_values("field_id").drop_duplicates("field_id").head(2)
    assert len(fail) == 2
    rows = [(f, pd.Timestamp(o) + pd.Timedelta(days=d)) for f, o in zip(fail["field_id"], fail["onset"], strict=True)
            for d in (12, 24)]
    al = pd.DataFrame({"field_id": [f for f, _ in rows], "season": "2008", "alert": "CROP_FAILURE",
                       "severity": "high", "date": [d for _, d in rows], "evidence": "{}"})
    m, _, _, _ = score_alerts_with_events(al, events, truth, data, "2008")
    assert m["precision"] == 1.0 and m["interval_exact"][0] == "precision"
    assert m["precision_ci"] == exact_interval(2, 2) != exact_interval(4, 4)
    one = {str(f): "farmer-1" for f in fail["field_id"]}
    m, _, _, _ = score_alerts_with_events(al, events, truth, data, "2008", groups=one, interval_by="farmer")
    assert m["precision_ci"] == exact_interval(1, 1)


def test_a_farm_record_date_that_is_no_day_is_refused_before_any_series_is_built(tiny_county_sh: Path,
                                                                                 tmp_path: Path) -> None:
    """``evaluate alerts`` labelled its tuning events from ``records/history.csv`` read as strings, without the checks
    every other reader makes (a session-74 note): a sowing date with a time zone counted as sown. It is read with
    them, before the season's series are built, and refused in one line naming the file and the field/season."""
    import shutil

    county = tmp_path / "county"
    shutil.copytree(tiny_county_sh, county, ignore=shutil.ignore_patterns("scenes", ".cache"))
    hist = county / "records" / "history.csv"
    h = pd.read_csv(hist, dtype=str, keep_default_na=False)
    row = h.index[h["sowing_date"] != ""][0]
    h.loc[row, "sowing_date"] = h.loc[row, "sowing_date"] + "T00:00:00+05:30"
    h.to_csv(hist, index=False)
    with pytest.raises(UserInputError) as e:
        ev_mod.load_season_data(county, cache_dir=tmp_path / "c")
    msg = str(e.value)
    assert "history.csv" in msg and "sowing_date" in msg and f"{h.loc[row, 'field_id']}/{h.loc[row, 'season']}" in msg


def test_fields_without_a_group_key_are_each_their_own_draw_in_an_exact_interval() -> None:
    """A review: fields whose key is missing (a condition id not given: None, NaN, blank) were counted as one draw by
    the exact interval, while the bootstrap draws each on its own (group_codes): 7 of 7 right read 39.8–100%."""
    from pipelines.evaluation._bootstrap import draw_units, group_codes

    g = {"F1": None, "F2": None, "F3": None, "F4": float("nan"), "F5": "", "F6": "tokA", "F7": "tokA"}
    assert draw_units(list(g) + ["F8"], g) == len(set(group_codes([*g.values(), None]))) == 7


def test_a_farm_record_season_that_is_no_year_is_refused_not_dropped_from_the_labels(tiny_county_sh: Path,
                                                                                     tmp_path: Path) -> None:
    """A review: a history written with seasons `2008.0` passed the county's checks and its records dropped out of
    `evaluate alerts`' tuning labels without a word (the scores moved); `--history` refused the same file. Refused
    naming its lines; a season padded with spaces is read as the year."""
    import shutil

    county = tmp_path / "county"
    shutil.copytree(tiny_county_sh, county, ignore=shutil.ignore_patterns("scenes", ".cache"))
    hist = county / "records" / "history.csv"
    h = pd.read_csv(hist, dtype=str, keep_default_na=False)
    padded = h.assign(season=" " + h["season"])
    padded.to_csv(hist, index=False)
    from pipelines.county import read_history

    assert read_history(hist)["season"].tolist() == sorted(h["season"].tolist())
    h.loc[[0, 2], "season"] = h.loc[[0, 2], "season"] + ".0"
    h.to_csv(hist, index=False)
    with pytest.raises(UserInputError, match=r"history.csv: column season: expected a year like 2024, found other "
                                             r"values at line 2, line 4 \(2 in all\)"):
        ev_mod.load_season_data(county, cache_dir=tmp_path / "c")
