"""The population stability index of model inputs (models.stability): the figures worked out by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.stability import (
    NOT_COMPARED,
    SHARE_FLOOR,
    _scored_shares,
    feature_profile,
    input_profile,
    min_rows,
    nearest_checkpoint,
    psi,
    stability_table,
    verdict,
)


def test_psi_by_hand_and_an_empty_bin_counts_at_the_floor() -> None:
    # (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5), abs=1e-12)
    assert psi([0.3, 0.7], [0.3, 0.7]) == 0.0
    # a bin the training rows never filled: its training share counts as the floor, never a division by zero
    expected = 0.5 * math.log(2) + (0.5 - SHARE_FLOOR) * math.log(0.5 / SHARE_FLOOR)
    assert psi([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected, abs=1e-12)
    assert psi([1.0, 0.0], [1.0, 0.0]) == 0.0  # empty on both sides: nothing


def test_verdict_thresholds_are_the_conventional_ones() -> None:
    assert [verdict(x) for x in (0.0, 0.0999, 0.10, 0.2499, 0.25, 3.0)] == [
        "stable", "stable", "watch", "watch", "shifted", "shifted"]


def test_profile_of_many_values_is_deciles_with_the_missing_share() -> None:
    values = np.r_[np.arange(1.0, 101.0), [np.nan] * 25]  # 100 values and 25 empty cells
    p = feature_profile(values)
    assert p["kind"] == "bins" and p["n"] == 125
    assert p["edges"] == pytest.approx([10.9, 20.8, 30.7, 40.6, 50.5, 60.4, 70.3, 80.2, 90.1])
    assert p["shares"] == pytest.approx([10 / 125] * 10)
    assert p["missing"] == pytest.approx(0.2)


def test_text_is_profiled_by_level_and_few_numbers_by_a_bin_each() -> None:
    t = feature_profile(pd.Series(["rice", "maize", "rice", None], dtype="object"))
    assert t["kind"] == "levels" and t["levels"] == ["maize", "rice"] and t["shares"] == pytest.approx([0.25, 0.5])
    assert t["missing"] == pytest.approx(0.25)
    # a count of few values: a bin per value and one above the largest, so a count never seen falls beside its
    # neighbours (not "other"), and one above every training value is not taken for the largest
    p = feature_profile([3.0, 3.0, 5.0, np.nan])
    assert p["kind"] == "bins" and p["edges"] == [3.0, 5.0, np.nextafter(5.0, np.inf)]
    assert p["shares"] == pytest.approx([0.0, 0.5, 0.25, 0.0]) and p["missing"] == pytest.approx(0.25)
    e, a, labels = _scored_shares(p, [2.0, 4.0, 5.0, 6.0])
    assert labels[:4] == ["[-inf, 3)", "[3, 5)", "= 5", "> 5"] and a[:4] == [0.25, 0.25, 0.25, 0.25]


def test_an_input_of_one_value_a_season_is_compared_by_its_range_not_its_psi() -> None:
    # a season's weather as of the date: the same for every field of a season and region
    train = pd.DataFrame({"wx_swi": np.repeat([0.5, 0.6, 0.7], 50), "season": np.repeat(["2001", "2002", "2003"], 50),
                          "region": "r"})
    p = feature_profile(train["wx_swi"], train["season"], train["region"])
    assert p["kind"] == "season_level" and p["season_values"] == [0.5, 0.6, 0.7]
    prof = input_profile({"mid": (train[["wx_swi"]], 200.0, train["season"], train["region"])}, model="yield-value")

    def row(values: Any) -> pd.Series:
        now = pd.DataFrame({"wx_swi": values, "season": "2004", "region": "r"})
        return stability_table(prof, "mid", now[["wx_swi"]], now["season"], now["region"]).iloc[0]

    for value, want in ((0.55, "in range"), (0.7, "in range"), (0.45, "outside"), (0.71, "outside")):
        r = row([value] * 40)
        assert r["verdict"] == want and np.isnan(r["psi"])
        assert r["largest_move"] == f"season value {value:.4g} against the training seasons' 0.5 to 0.7 (3 seasons)"
    # values that vary within the season: beyond the training seasons' range is still outside, named
    r = row(np.r_[np.full(39, 0.6), 0.8])
    assert r["verdict"] == "outside" and r["largest_move"].startswith("1 values beyond, e.g. 0.8 against")
    # varying within the range: compared by its PSI on the training values' bins
    r = row(np.r_[np.full(20, 0.5), np.full(20, 0.6)])
    assert r["psi"] == pytest.approx(psi([1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]))
    # two seasons of one value in two regions: one value per season *and region*, the range over both
    two = pd.DataFrame({"x": [1.0, 1.0, 2.0, 2.0], "season": ["2001", "2001", "2002", "2002"], "region": ["a", "b"] * 2})
    assert feature_profile(two["x"], two["season"], two["region"])["season_values"] == [1.0, 1.0, 2.0, 2.0]
    # one training season only: no range to compare with — a plain distribution
    one = train[train["season"] == "2001"]
    assert feature_profile(one["wx_swi"], one["season"], one["region"])["kind"] == "bins"


def _profile(train: pd.DataFrame, day: float = 200.0, cp: str = "mid") -> dict:
    return input_profile({cp: (train, day, None, None)}, model="yield-value")


def test_the_same_rows_are_stable_and_a_moved_input_is_shifted_in_the_bin_it_moved_to() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"ndvi_max": rng.uniform(0.4, 0.9, 2000), "crop": rng.choice(["maize", "soybean"], 2000),
                          "as_of_day": 200.0})
    prof = _profile(train)
    same = stability_table(prof, "mid", train)
    assert (same["psi"] == 0).all() and (same["verdict"] == "stable").all()
    assert "as_of_day" not in set(same["input"]) and "as_of_day" in NOT_COMPARED  # the date is not the population
    # a season whose every field sits below the training rows' first decile
    low = train.assign(ndvi_max=rng.uniform(0.2, 0.4, 2000))
    t = stability_table(prof, "mid", low).set_index("input")
    assert t.loc["ndvi_max", "verdict"] == "shifted"
    assert t.loc["ndvi_max", "largest_move"].startswith("[-inf, ")
    assert t.loc["ndvi_max", "training_share"] == pytest.approx(0.1) and t.loc["ndvi_max", "scored_share"] == 1.0
    # (0.9·ln(0.9/0.1)... : one bin from 0.1 to 1, nine from 0.1 to the floor
    want = (1 - 0.1) * math.log(1 / 0.1) + 9 * (SHARE_FLOOR - 0.1) * math.log(SHARE_FLOOR / 0.1)
    assert t.loc["ndvi_max", "psi"] == pytest.approx(want, rel=1e-6)
    assert t.loc["crop", "verdict"] == "stable"


def test_a_level_the_training_rows_never_had_is_the_other_bin_and_the_floor_is_sampling_alone() -> None:
    train = pd.DataFrame({"crop": ["maize"] * 60 + ["soybean"] * 40})
    scored = pd.DataFrame({"crop": ["maize"] * 30 + ["soybean"] * 10 + ["sorghum"] * 10})
    t = stability_table(_profile(train), "mid", scored).set_index("input")
    assert t.loc["crop", "largest_move"] == "soybean"  # 40% → 20%: the largest move (sorghum's is 0 → 20%)
    # bins filled on either side: maize, soybean, other → (3 − 1)·(1/50 + 1/100)
    assert t.loc["crop", "floor"] == pytest.approx(2 * (1 / 50 + 1 / 100))
    e, a = [0.6, 0.4, 0.0], [0.6, 0.2, 0.2]
    assert t.loc["crop", "psi"] == pytest.approx(psi(e, a))
    e2, a2, labels = _scored_shares(_profile(train)["checkpoints"]["mid"]["features"]["crop"], scored["crop"])
    assert labels == ["maize", "soybean", "other (sorghum)", "missing"] and a2 == pytest.approx([0.6, 0.2, 0.2, 0.0])


def test_nearest_checkpoint_by_day_ties_to_the_earlier() -> None:
    one = pd.DataFrame({"x": [1.0, 2.0]})
    prof = input_profile({"mid": (one, 200.0, None, None), "end": (one, 300.0, None, None)}, model="yield-value")
    assert [nearest_checkpoint(prof, d) for d in (100, 249, 250, 251, 400)] == ["mid", "mid", "mid", "end", "end"]


def test_each_training_season_against_the_others_sets_what_is_unusual() -> None:
    def train(a_maize: int, b_maize: int, regions: tuple[str, str] = ("r", "r")) -> pd.DataFrame:
        crops = ["maize"] * a_maize + ["soybean"] * (10 - a_maize) + ["maize"] * b_maize + ["soybean"] * (10 - b_maize)
        return pd.DataFrame({"crop": crops, "season": ["2001"] * 10 + ["2002"] * 10,
                             "region": [regions[0], regions[1]] * 10})

    close = train(6, 4)  # 60/40 then 40/60: each season's PSI against the other 0.4·ln 1.5
    fp = feature_profile(close["crop"], close["season"], close["region"])
    assert fp["season_psi"] == pytest.approx({"2001": 0.4 * math.log(1.5), "2002": 0.4 * math.log(1.5)})
    # by season, whatever the regions (a season of two regions is one season against the others)
    assert feature_profile(close["crop"], close["season"], train(6, 4, ("a", "b"))["region"])["season_psi"] == \
        pytest.approx(fp["season_psi"])
    prof = input_profile({"mid": (close[["crop"]], 200.0, close["season"], close["region"])}, model="yield-value")

    def row(p: dict, maize: int) -> pd.Series:
        now = pd.DataFrame({"crop": ["maize"] * maize + ["soybean"] * (10 - maize), "season": "2003", "region": "r"})
        return stability_table(p, "mid", now[["crop"]], now["season"], now["region"]).iloc[0]

    r = row(prof, 9)  # 90/10 against the pooled 50/50: 0.4·ln 1.8 + 0.4·ln 5, above every season's 0.162
    assert r["psi"] == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5))
    assert r["seasons_max"] == pytest.approx(0.4 * math.log(1.5)) and r["verdict"] == "unusual"
    assert row(prof, 7)["verdict"] == "watch"  # 0.2·ln 1.4 + 0.2·ln(5/3) = 0.170
    apart = train(9, 1)  # seasons 90/10 and 10/90: each 1.6·ln 9 from the other
    prof2 = input_profile({"mid": (apart[["crop"]], 200.0, apart["season"], apart["region"])}, model="yield-value")
    r2 = row(prof2, 9)  # the same 0.879, but a training season lay further from the rest: shifted, not unusual
    assert r2["seasons_max"] == pytest.approx(1.6 * math.log(9)) and r2["verdict"] == "shifted"
    assert verdict(0.3) == "shifted" and verdict(0.3, 0.2) == "unusual" and verdict(0.2, 0.1) == "watch"


def test_each_season_held_out_is_counted_as_a_new_season_would_be() -> None:
    # three seasons, two inputs. x: season 2003 far from the others (its PSI against them the largest, above 0.25);
    # y: the seasons alike. Held out, 2003 has one unusual input (x), the others none.
    x = np.r_[np.full(20, 1.0), np.full(20, 1.0), np.full(20, 5.0)] + np.tile(np.arange(20) / 100, 3)
    y = np.tile(np.arange(20, dtype="float64"), 3)
    seasons = np.repeat(["2001", "2002", "2003"], 20)
    prof = input_profile({"mid": (pd.DataFrame({"x": x, "y": y}), 200.0, seasons, None)}, model="yield-value")
    cp = prof["checkpoints"]["mid"]
    sp = cp["features"]["x"]["season_psi"]
    assert sp["2003"] > max(sp["2001"], sp["2002"]) and sp["2003"] >= 0.25
    assert cp["held_out_unusual"] == {"2001": 0, "2002": 0, "2003": 1}
    assert cp["season_rows"] == {"2001": 20, "2002": 20, "2003": 20}
    assert min_rows(prof, "mid") == 30  # half the smallest season's 20 rows is below the least compared: 30
