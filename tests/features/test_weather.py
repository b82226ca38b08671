"""Weather as of a date: the table contract, its reader's errors, the wx_* features, nothing after as_of read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from features.weather import (
    WEATHER,
    WEATHER_COLUMNS,
    WeatherError,
    add_weather,
    check_weather,
    read_weather,
    weather_features,
)

REGION = "us-nebraska"  # season window 15 Sep of the year before .. 30 Nov


def daily(start: str = "2016-09-01", end: str = "2017-12-31", region: str = REGION, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.date_range(start, end, freq="D")
    return pd.DataFrame({"region": region, "date": d.strftime("%Y-%m-%d"),
                         "precip_mm": np.round(rng.gamma(0.4, 6.0, len(d)), 2),
                         "tmin_c": np.round(tmin := rng.normal(10, 5, len(d)), 2),
                         "tmax_c": np.round(tmin + np.abs(rng.normal(18, 4, len(d))), 2),  # above tmin
                         "et0_mm": np.round(rng.uniform(1, 7, len(d)), 2)})


def fields(as_of: str = "2017-08-15") -> pd.DataFrame:
    return pd.DataFrame({
        "field_id": ["a", "b", "c", "d"], "season": "2017", "region": REGION, "as_of": pd.Timestamp(as_of),
        "crop": ["maize", "soybean", "maize", "fallow"],
        "emergence_date": pd.to_datetime(["2017-05-20", "2017-06-01", None, None]),
        "peak_date": pd.to_datetime(["2017-07-20", "2017-07-01", None, None])})


def write(df: pd.DataFrame, tmp_path: Path) -> Path:
    p = tmp_path / "weather.csv"
    df.to_csv(p, index=False)
    return p


def test_read_round_trip_and_types(tmp_path: Path) -> None:
    w = read_weather(write(daily(), tmp_path), region=REGION, seasons=["2017"])
    assert list(w.columns) == WEATHER.names and len(w) == 487
    assert pd.api.types.is_datetime64_any_dtype(w["date"]) and w["precip_mm"].dtype == "float64"
    assert "precip_mm" in WEATHER.doc()


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d.drop(columns=["et0_mm"]), r"missing column\(s\) et0_mm"),
    (lambda d: pd.concat([d, d.iloc[[5]]]), r"duplicate keys"),
    (lambda d: d.drop(index=[40, 41]), r"us-nebraska: expected every day .* missing 2016-10-11, 2016-10-12"),
    (lambda d: d.assign(date=d["date"].where(d.index != 3, "03/09/2016")), r"expected ISO dates"),
    (lambda d: d.assign(precip_mm=d["precip_mm"].where(d.index != 3, -1.0)), r"precip_mm.*>= 0"),
    (lambda d: d.assign(tmax_c=d["tmax_c"].astype(object).where(d.index != 3, "hot")), r"tmax_c: expected numbers"),
    (lambda d: d.assign(tmax_c=d["tmax_c"].where(d.index != 3, 500.0)), r"tmax_c': expected <= 60"),  # beyond records
    (lambda d: d.assign(tmin_c=d["tmax_c"] + 5.0), r"tmin_c above tmax_c \(columns swapped\?\)"),
])
def test_read_errors_are_one_line_user_errors(tmp_path: Path, mutate: object, match: str) -> None:
    bad = mutate(daily())  # type: ignore[operator]
    with pytest.raises(UserInputError, match=match) as e:
        read_weather(write(bad, tmp_path))
    assert "\n" not in str(e.value)


def test_unknown_region_and_uncovered_season(tmp_path: Path) -> None:
    p = write(daily(), tmp_path)
    with pytest.raises(WeatherError, match=r"no weather for region 'in-smallholder'; the file has region\(s\) "
                                           r"us-nebraska"):
        read_weather(p, region="in-smallholder")
    with pytest.raises(WeatherError, match=r"season 2018 \(us-nebraska\): expected every day from 2017-09-15 to "
                                           r"2018-11-30, missing 2018-01-01"):
        read_weather(p, region=REGION, seasons=["2018"])
    with pytest.raises(WeatherError, match=r"weather file not found"):
        read_weather(tmp_path / "nope.csv")
    with pytest.raises(WeatherError, match=r"is a folder \(expected a weather CSV or Parquet file\)"):
        read_weather(tmp_path)


def test_features_by_hand_on_constant_weather() -> None:
    w = daily()
    w = w.assign(precip_mm=2.0, et0_mm=5.0, tmin_c=10.0, tmax_c=30.0)
    w.loc[pd.to_datetime(w["date"]).between("2017-07-25", "2017-07-27"), "tmax_c"] = 36.0  # 3 heat days
    f = fields()
    x = weather_features(f, check_weather(w))
    assert list(x.columns) == list(WEATHER_COLUMNS) and len(WEATHER_COLUMNS) <= 12 and x.index.equals(f.index)
    a = x.loc[0]
    days_em = (pd.Timestamp("2017-08-15") - pd.Timestamp("2017-05-20")).days + 1
    assert a["wx_rain_em_mm"] == pytest.approx(2.0 * days_em)
    assert a["wx_cwb_em_mm"] == pytest.approx(-3.0 * days_em)
    # GDD base 10: (10 + 30) / 2 - 10 = 10 a day, +3 on each of the 3 hot days
    assert a["wx_gdd_em"] == pytest.approx(10.0 * days_em + 9.0)
    assert a["wx_flower_days"] == 21 and a["wx_heat_flower_d"] == 3 and a["wx_cwb_flower_mm"] == pytest.approx(-63)
    # grain fill starts 31 Jul (peak + 11): 16 days so far, no heat, mean tmax 30
    assert a["wx_fill_days"] == 16 and a["wx_heat_fill_d"] == 0 and a["wx_tmax_fill_c"] == pytest.approx(30.0)
    assert 0.0 <= a["wx_swi_asof"] <= 1.0
    # field c has no phenology: the crop calendar's maize emergence (day 135) and flowering (day 197) stand in
    c = x.loc[2]
    assert c["wx_rain_em_mm"] == pytest.approx(2.0 * ((pd.Timestamp("2017-08-15") - pd.Timestamp("2017-05-15")).days + 1))
    assert c["wx_flower_days"] == 21
    # fallow: no crop and no dates -> anchored windows unknown, the soil-water index still known
    d = x.loc[3]
    assert np.isnan(d["wx_rain_em_mm"]) and np.isnan(d["wx_flower_days"]) and np.isfinite(d["wx_swi_asof"])


def test_windows_not_yet_begun_count_zero_days() -> None:
    x = weather_features(fields("2017-06-10"), check_weather(daily()))
    a = x.loc[0]
    assert a["wx_flower_days"] == 0 and a["wx_fill_days"] == 0 and a["wx_cwb_fill_mm"] == 0
    assert np.isnan(a["wx_tmax_fill_c"]) and np.isnan(a["wx_swi_flower"])
    assert a["wx_rain_em_mm"] >= 0  # 22 days since emergence


def test_nothing_after_as_of_is_read() -> None:
    f = pd.concat([fields("2017-07-25"), fields("2017-06-20").assign(season="2017")], ignore_index=True)
    w = check_weather(daily())
    base = weather_features(f, w)
    cut = pd.Timestamp("2017-06-20")
    # change every day after the earliest as_of: the rows as of that day must not move
    w2 = w.copy()
    late = w2["date"] > cut
    w2.loc[late, ["precip_mm", "et0_mm"]] = [500.0, 0.0]
    w2.loc[late, "tmax_c"] = 45.0
    moved = weather_features(f, w2)
    early = (f["as_of"] == cut).to_numpy()
    pd.testing.assert_frame_equal(base[early], moved[early])
    assert not base[~early].iloc[:2].equals(moved[~early].iloc[:2])  # later rows do read those days
    # and a table that simply ends on as_of gives the same features for those rows
    ended = weather_features(f[early], w[w["date"] <= cut].reset_index(drop=True))
    pd.testing.assert_frame_equal(base[early], ended)


def test_missing_days_before_as_of_and_unknown_region_fail() -> None:
    w = check_weather(daily(end="2017-07-01"))
    with pytest.raises(WeatherError, match=r"season 2017 \(us-nebraska\): expected every day from 2016-09-15 to "
                                           r"2017-08-15, missing 2017-07-02"):
        weather_features(fields(), w)
    with pytest.raises(WeatherError, match=r"no weather for region\(s\) in-smallholder"):
        weather_features(fields().assign(region="in-smallholder"), check_weather(daily()))


def test_add_weather_replaces_and_passes_through() -> None:
    f = fields()
    assert add_weather(f, None) is f
    once = add_weather(f, check_weather(daily()))
    twice = add_weather(once, check_weather(daily()))
    assert list(twice.columns) == list(once.columns) and twice.equals(once)
