"""models.stability and the command's logic over it (pipelines.stability) at the edges a mutation audit found
untested: the boundaries of their rules (few values, two seasons, the verdict at a season's own PSI, the rows a
comparison needs, a season as unusual as a training season), the sampling floor, the largest move's tie and the
season-level input's text — each figure worked out by hand; the command's refusals through the real registry (the
version trained by tests/pipelines/test_models_stability.py's fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.stability import (
    FEW_VALUES,
    _scored_shares,
    feature_profile,
    input_profile,
    min_rows,
    psi,
    stability_table,
    verdict,
)
from tests.pipelines.test_models_stability import trained

__all__ = ["trained"]  # the module fixture (a registry with a profiled version), built once for this file

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


def test_one_row_is_profiled_and_no_row_is_refused() -> None:
    p = feature_profile([5.0])
    assert p["n"] == 1 and p["edges"] == [5.0, np.nextafter(5.0, np.inf)] and p["shares"] == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="no rows to profile"):
        feature_profile([])
    # one value: a bin below it, one at it, one above it
    e, a, labels = _scored_shares(feature_profile([5.0] * 4), [4.0, 5.0, 5.0, 6.0])
    assert labels == ["[-inf, 5)", "= 5", "> 5", "other", "missing"] and a == [0.25, 0.5, 0.25, 0.0, 0.0]


def test_missing_text_is_the_missing_bin() -> None:
    p = feature_profile(pd.Series(["maize"] * 5 + ["soybean"] * 3 + [None] * 2, dtype="object"))
    e, a, labels = _scored_shares(p, pd.Series(["maize"] * 5 + ["soybean"] + [None] * 4, dtype="object"))
    assert labels == ["maize", "soybean", "other", "missing"]
    assert e == pytest.approx([0.5, 0.3, 0.0, 0.2]) and a == pytest.approx([0.5, 0.1, 0.0, 0.4])
    # and each season's rows against the others', on the same bins: 2002's missing values are its own
    sp = feature_profile(pd.Series(["maize", None] * 5 + ["maize"] * 10, dtype="object"),
                         ["2002"] * 10 + ["2001"] * 10)["season_psi"]
    assert list(sp) == ["2001", "2002"]  # the seasons in order, whatever the rows' order
    assert sp["2002"] == pytest.approx(psi([1.0, 0.0, 0.0], [0.5, 0.0, 0.5]))


def test_the_other_bin_names_the_three_commonest_levels_never_seen() -> None:
    p = feature_profile(pd.Series(["maize"] * 4, dtype="object"))
    scored = ["maize"] * 2 + ["teff"] + ["sorghum"] * 3 + ["rice"] + ["barley"] * 2
    labels = _scored_shares(p, pd.Series(scored, dtype="object"))[2]
    assert labels[1] == "other (sorghum, barley, rice, …)"  # the most rows first, a tie by name


def test_exactly_few_values_get_a_bin_each_and_one_more_gets_deciles() -> None:
    few = np.arange(1.0, FEW_VALUES + 1)  # 10 distinct values: a bin starting at each, one above the largest
    p = feature_profile(np.repeat(few, 3))
    assert p["edges"] == [*few.tolist(), np.nextafter(few[-1], np.inf)]
    assert p["shares"] == pytest.approx([0.0] + [0.1] * 10 + [0.0])
    many = np.arange(1.0, FEW_VALUES + 2)  # 11: the deciles
    q = feature_profile(many)
    assert q["edges"] == pytest.approx(np.quantile(many, np.linspace(0, 1, 11)[1:-1]).tolist())


def test_two_seasons_of_one_value_each_are_a_season_level_input() -> None:
    p = feature_profile([1.0] * 5 + [2.0] * 5, ["2001"] * 5 + ["2002"] * 5)
    assert p["kind"] == "season_level" and p["season_values"] == [1.0, 2.0]


def test_a_psi_at_the_largest_training_season_psi_is_shifted_not_unusual() -> None:
    """Unusual is *above* every training season's PSI: one equal to the largest is as far as a training season was."""
    assert verdict(0.3, 0.3) == "shifted" and verdict(0.3, 0.2999) == "unusual"


def test_psi_refuses_shares_of_two_layouts() -> None:
    with pytest.raises(ValueError):
        psi([0.5, 0.5], [1.0])


def _three_seasons() -> tuple[pd.DataFrame, np.ndarray]:
    """x: season 2001 all 'a', 2002 mostly 'b', 2003 half each — three different PSIs against the others, 2001's the
    largest (3.01), 2003's next (0.88, above 0.25 too), 2002's 0.014. as_of_day (not compared): 2001's rows dated
    apart from the others' (a season PSI far above every other), varying within each season."""
    x = ["a"] * 20 + ["b"] * 4 + ["a"] * 16 + ["a"] * 10 + ["b"] * 10
    day = np.r_[np.full(20, 100.0), np.full(40, 300.0)] + np.tile([0.0, 1.0], 30)
    return pd.DataFrame({"x": x, "as_of_day": day}), np.repeat(["2001", "2002", "2003"], 20)


def test_held_out_a_season_is_unusual_only_above_every_other_season_and_the_date_is_not_counted() -> None:
    table, seasons = _three_seasons()
    cp = input_profile({"mid": (table, 200.0, seasons, None)}, model="yield-value")["checkpoints"]["mid"]
    sp = cp["features"]["x"]["season_psi"]
    assert sp["2001"] > sp["2003"] > 0.25 > sp["2002"]
    assert cp["features"]["as_of_day"]["season_psi"]["2001"] > 0.25  # far off, but the date, not the population
    # 2003 is above 2002's PSI but not above 2001's: not unusual; as_of_day is never counted
    assert cp["held_out_unusual"] == {"2001": 1, "2002": 0, "2003": 0}


def test_two_training_seasons_are_each_held_out_against_the_other() -> None:
    x = ["a"] * 10 + ["b"] * 10
    cp = input_profile({"mid": (pd.DataFrame({"x": x}), 200.0, np.repeat(["2001", "2002"], 10), None)},
                       model="yield-value")["checkpoints"]["mid"]
    assert cp["season_rows"] == {"2001": 10, "2002": 10}
    assert set(cp["held_out_unusual"]) == {"2001", "2002"}


def test_two_seasons_psis_against_each_other_tie_and_neither_is_unusual() -> None:
    """PSI is symmetric: with two training seasons each one's PSI against the other is one number, which floating
    point rounded apart in the last digit (232 of 2,000 random two-season inputs counted a season unusual by it)."""
    rng = np.random.default_rng(5)
    ties = 0
    for _ in range(200):
        x = rng.choice(["a", "b", "c", "d"], size=40, p=[0.4, 0.3, 0.2, 0.1])
        y = rng.choice(["a", "b", "c", "d"], size=40, p=[0.1, 0.2, 0.3, 0.4])
        cp = input_profile({"mid": (pd.DataFrame({"x": np.r_[x, y]}), 200.0, np.repeat(["2001", "2002"], 40), None)},
                           model="yield-value")["checkpoints"]["mid"]
        sp = cp["features"]["x"]["season_psi"]
        ties += sp["2001"] != sp["2002"]
        assert sp["2001"] == pytest.approx(sp["2002"], rel=1e-12) and sp["2001"] > 0.25
        assert cp["held_out_unusual"] == {"2001": 0, "2002": 0}
    assert ties > 0  # the rounding this guards against does occur


def test_the_seasons_column_is_the_largest_training_season_psi() -> None:
    table, seasons = _three_seasons()
    prof = input_profile({"mid": (table[["x"]], 200.0, seasons, None)}, model="yield-value")
    sp = prof["checkpoints"]["mid"]["features"]["x"]["season_psi"]
    now = pd.DataFrame({"x": ["a"] * 15 + ["b"] * 15})
    r = stability_table(prof, "mid", now, np.full(30, "2004"), None).iloc[0]
    assert r["seasons_max"] == max(sp.values()) == sp["2001"]


def test_the_rows_a_comparison_needs_are_half_the_smallest_season_rounded_up() -> None:
    prof = {"checkpoints": {"mid": {"season_rows": {"2001": 200, "2002": 100, "2003": 150}},
                            "end": {"season_rows": {"2001": 101, "2002": 300}}, "old": {}}}
    assert min_rows(prof, "mid") == 50 and isinstance(min_rows(prof, "mid"), int)
    assert min_rows(prof, "end") == 51
    assert min_rows(prof, "old") == 30  # no season rows recorded: the least compared


def _crop_profile(crops: list[str]) -> dict:
    return input_profile({"mid": (pd.DataFrame({"crop": crops}), 200.0, None, None)}, model="yield-value")


def test_the_sampling_floor_counts_the_bins_filled_on_either_side() -> None:
    # one bin filled on both sides: no freedom, no floor
    t = stability_table(_crop_profile(["maize"] * 10), "mid", pd.DataFrame({"crop": ["maize"] * 5}))
    assert t.iloc[0]["floor"] == 0.0
    # a bin only the training rows filled counts: maize, soybean → (2 − 1)·(1/5 + 1/10)
    t = stability_table(_crop_profile(["maize", "soybean"] * 5), "mid", pd.DataFrame({"crop": ["maize"] * 5}))
    assert t.iloc[0]["floor"] == pytest.approx(1 / 5 + 1 / 10)
    # one training row and one scored row: maize, other → (2 − 1)·(1/1 + 1/1)
    t = stability_table(_crop_profile(["maize"]), "mid", pd.DataFrame({"crop": ["soybean"]}))
    assert t.iloc[0]["floor"] == pytest.approx(2.0)


def test_when_no_share_moved_the_largest_move_is_the_first_of_the_largest_training_bins() -> None:
    crops = ["maize", "soybean"] * 10
    t = stability_table(_crop_profile(crops), "mid", pd.DataFrame({"crop": crops})).iloc[0]
    assert t["psi"] == 0 and t["largest_move"] == "maize" and t["training_share"] == 0.5


def _season_level_row(values: list[float], seasons: object = "2004") -> pd.Series:
    train = pd.DataFrame({"wx": np.repeat([0.5, 0.6, 0.7], 50), "season": np.repeat(["2001", "2002", "2003"], 50)})
    prof = input_profile({"mid": (train[["wx"]], 200.0, train["season"], None)}, model="yield-value")
    now = pd.DataFrame({"wx": values})
    s = None if seasons is None else np.full(len(values), seasons)
    return stability_table(prof, "mid", now, s, None).iloc[0]


def test_a_season_level_input_names_at_most_three_values_beyond_the_range() -> None:
    three = _season_level_row([0.6] * 37 + [0.8, 0.81, 0.82])
    assert three["verdict"] == "outside"
    assert three["largest_move"] == ("3 values beyond, e.g. 0.8, 0.81, 0.82 against the training seasons' 0.5 to 0.7 "
                                     "(3 seasons)")
    four = _season_level_row([0.6] * 36 + [0.8, 0.81, 0.82, 0.83])
    assert four["largest_move"].startswith("4 values beyond, e.g. 0.8, 0.81, 0.82, … against ")


def test_scored_rows_without_seasons_are_one_season() -> None:
    r = _season_level_row([0.8] * 40, seasons=None)
    assert r["verdict"] == "outside" and r["largest_move"].startswith("season value 0.8 against")


# --- the command's logic (pipelines.stability): its season verdict, counts and refusals ------------------------------


def _result(verdicts: list[str], held_out: dict[str, int]) -> Any:
    from pipelines.stability import StabilityResult

    table = pd.DataFrame([{"input": f"x{i}", "psi": 1.0, "floor": 0.1, "seasons_max": 0.5, "verdict": v,
                           "largest_move": "[-inf, 0.4)", "training_share": 0.1, "scored_share": 0.9}
                          for i, v in enumerate(verdicts)])
    return StabilityResult(name="yield-value", version="1", alias=None, source="f.parquet", as_of="2016-07-20",
                           checkpoint="mid", checkpoint_day=200.0, chosen=False, rows_day=200.0, training_rows=450,
                           scored_rows=90, rows_without_crop=0, other_crops={}, table=table, held_out=held_out)


def test_a_season_is_unlike_only_above_every_training_season_held_out() -> None:
    as_many = _result(["unusual", "shifted"], {"2011": 1, "2012": 0, "2013": 0})
    assert as_many.season_verdict() == "like" and not as_many.failed()  # as many as 2011 had: within the spread
    fewer = _result(["unusual"], {"2011": 2, "2012": 0, "2013": 0})
    assert fewer.season_verdict() == "like" and not fewer.failed()
    more = _result(["unusual", "unusual", "unusual"], {"2011": 2, "2012": 0, "2013": 0})
    assert more.season_verdict() == "unlike" and more.failed()


def test_counts_are_zero_for_the_verdicts_no_input_has() -> None:
    assert _result(["shifted", "shifted", "stable"], {}).counts() == {
        "unusual": 0, "shifted": 2, "watch": 0, "stable": 1, "outside": 0, "in range": 0}


def test_one_date_is_the_date_of_every_row() -> None:
    from pipelines.stability import one_date

    feats = pd.DataFrame({"as_of": pd.to_datetime(["2016-07-20 00:00", "2016-07-20 00:00"])})
    assert one_date(feats, "f.parquet") == "2016-07-20"


def test_a_comparison_takes_exactly_the_rows_it_needs_and_its_errors_name_where(trained: dict,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from features.errors import UserInputError
    from pipelines.stability import frame_stability

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    alike = pd.read_parquet(Path(trained["root"]) / "alike.parquet")
    need = min_rows(trained["profile"], "mid")
    assert 30 < need < len(alike)
    res = frame_stability(alike.head(need), source="alike.parquet", version=trained["v"])
    assert res.scored_rows == need and res.checkpoint == "mid" and res.as_of == "2016-07-20"
    with pytest.raises(UserInputError, match=rf"^/data/in/alike.parquet: {need - 1} rows of the crops"):
        frame_stability(alike.head(need - 1), source="alike.parquet", where="/data/in/alike.parquet",
                        version=trained["v"])


def test_rows_left_out_are_counted_by_crop_most_first(trained: dict,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.stability import frame_stability

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    f = pd.read_parquet(Path(trained["root"]) / "drier.parquet")
    crops = ["sorghum"] * 3 + ["barley"] * 3 + ["rice"] * 5 + [None] * 2  # sorghum's tie with barley listed first
    f["declared_crop"] = f["declared_crop"].astype(object)
    f.loc[: len(crops) - 1, "declared_crop"] = crops
    res = frame_stability(f, source="drier.parquet", version=trained["v"])
    assert res.rows_without_crop == 2 and res.scored_rows == len(f) - len(crops)
    # the most rows first, a tie by name
    assert list(res.other_crops.items()) == [("rice", 5), ("barley", 3), ("sorghum", 3)]
    assert res.table["verdict"].iloc[0] == "unusual" and list(res.table.index) == list(range(len(res.table)))


def test_the_table_lists_outside_unusual_the_rest_by_psi_then_in_range(trained: dict,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import models.stability
    from pipelines.stability import frame_stability

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    rows = [("a_stable", 0.0, "stable"), ("b_range", np.nan, "in range"), ("c_shifted", 5.0, "shifted"),
            ("d_unusual", 1.0, "unusual"), ("e_outside", np.nan, "outside"), ("f_watch", 0.2, "watch"),
            ("g_unusual", 2.0, "unusual"), ("h_stable", 0.0, "stable"), ("a_range", np.nan, "in range")]
    made = pd.DataFrame([{"input": i, "psi": p, "floor": 0.01, "seasons_max": 0.5, "verdict": v, "largest_move": "m",
                          "training_share": 0.1, "scored_share": 0.2} for i, p, v in rows], index=range(10, 19))
    monkeypatch.setattr(models.stability, "stability_table", lambda *a, **k: made)
    res = frame_stability(pd.read_parquet(Path(trained["root"]) / "alike.parquet"), source="alike.parquet",
                          version=trained["v"])
    assert res.table["input"].to_list() == ["e_outside", "g_unusual", "d_unusual", "c_shifted", "f_watch", "a_stable",
                                            "h_stable", "a_range", "b_range"]
    assert list(res.table.index) == list(range(9)) and list(res.table.columns) == list(made.columns)
