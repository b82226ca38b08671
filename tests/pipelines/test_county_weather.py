"""A county's weather: the generator writes weather/daily.csv, County.weather() reads it (None without it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from democounty._weather import station_weather, write_county_weather, write_weather
from features.series import season_window
from features.weather import WEATHER, WeatherError, read_weather
from pipelines.county import County


def bare_county(root: Path, region: str = "us-nebraska", seasons: tuple[str, ...] = ("2016", "2017")) -> Path:
    root.mkdir(parents=True)
    (root / "county.json").write_text(json.dumps({"region": region, "seasons": list(seasons),
                                                  "current_season": seasons[-1]}))
    return root


def test_generated_county_has_weather_covering_its_seasons(tiny_county_sh: Path) -> None:
    c = County(tiny_county_sh)
    w = c.weather()
    assert w is not None and c.weather_path == tiny_county_sh / "weather" / "daily.csv"
    assert list(w.columns) == WEATHER.names and set(w["region"]) == {c.region}
    first, last = season_window(c.seasons[0], c.region)[0], season_window(c.seasons[-1], c.region)[1]
    assert w["date"].min() == pd.Timestamp(first) and w["date"].max() == pd.Timestamp(last)
    read_weather(c.weather_path, region=c.region, seasons=c.seasons)  # every season window complete


def test_county_without_weather_folder_has_none(tmp_path: Path) -> None:
    c = County(bare_county(tmp_path / "c"))
    assert c.weather_path is None and c.weather() is None


def test_county_weather_of_another_region_is_a_user_error(tmp_path: Path) -> None:
    root = bare_county(tmp_path / "c")
    write_weather("in-smallholder", [2005], root / "weather" / "daily.csv")
    with pytest.raises(WeatherError, match=r"no weather for region 'us-nebraska'; the file has region\(s\) "
                                           r"in-smallholder"):
        County(root).weather()


def test_write_county_weather_matches_the_generator(tmp_path: Path, tiny_county_sh: Path) -> None:
    out = write_county_weather(tiny_county_sh, tmp_path / "w" / "weather.csv")
    assert out.read_bytes() == (tiny_county_sh / "weather" / "daily.csv").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(tiny_county_sh, copy, ignore=shutil.ignore_patterns("scenes", "truth"))
    assert County(copy).weather().equals(County(tiny_county_sh).weather())


def test_station_weather_is_the_bundled_series() -> None:
    w = station_weather("us-nebraska", [2012])
    assert w["date"].iloc[0] == "2011-09-15" and w["date"].iloc[-1] == "2012-11-30" and len(w) == 443
    # 2012 at Champion: the drought summer — July rain far below July ET0
    july = w[w["date"].str.startswith("2012-07")]
    assert july["precip_mm"].sum() < 0.25 * july["et0_mm"].sum()
