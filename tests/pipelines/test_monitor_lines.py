"""The Book lines an alert names: the farmer's lines open on the day (start ≤ day ≤ maturity) of the alert's season,
each once on its terms in force — not a line matured before the day, not yet started, or financing another season
(:func:`pipelines.monitor.farmers_lines`, through :func:`pipelines.reunderwrite.active_lines`)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

import pipelines.monitor as mon
from pipelines.monitor import farmers_lines

from .test_monitor import _curve, _past, _series

COLS = ["line_id", "application_id", "farmer_token", "currency", "limit", "drawn", "outstanding", "start_date",
        "maturity_date", "crop", "region", "season"]


def _line(line: str, tok: str, season: str, start: str, maturity: str, when: str | None = None) -> dict[str, object]:
    row: dict[str, object] = dict(zip(COLS, [line, f"A{season}-{line}", tok, "INR", 50000, 100, 100,
                                             pd.Timestamp(start), pd.Timestamp(maturity), "maize", "r", season],
                                      strict=True))
    if when is not None:
        row["balance_as_of"] = pd.Timestamp(when)
    return row


#: as of 2024-08-28, season 2024: TA has a matured 2023 line beside its open 2024 one, TB a matured line only, TC the
#: next season's line already started and a 2024 line not yet started, TD a line renewed for 2024 under its id
DATED = pd.DataFrame([
    _line("LA0", "TA", "2023", "2023-04-01", "2024-03-31", "2023-04-01"),
    _line("LA1", "TA", "2024", "2024-04-01", "2025-03-31", "2024-04-01"),
    _line("LB0", "TB", "2023", "2023-04-01", "2024-03-31", "2023-04-01"),
    _line("LC5", "TC", "2025", "2024-08-01", "2025-07-31", "2024-08-01"),
    _line("LC4", "TC", "2024", "2024-09-01", "2025-03-31", "2024-09-01"),
    _line("LD", "TD", "2023", "2023-04-01", "2024-03-31", "2023-04-01"),
    _line("LD", "TD", "2023", "2023-04-01", "2024-03-31", "2023-10-01"),
    _line("LD", "TD", "2024", "2024-04-01", "2025-03-31", "2024-04-01"),
    _line("LD", "TD", "2024", "2024-04-01", "2025-03-31", "2024-07-01"),
])
DAY = date(2024, 8, 28)


def test_an_alert_names_only_the_lines_open_on_the_day_of_its_season() -> None:
    assert farmers_lines(DATED, DAY, "2024") == {"TA": "LA1", "TD": "LD"}
    # without a season, every line open on the day (the next season's LC5 too), never a matured or unstarted one
    assert farmers_lines(DATED, DAY) == {"TA": "LA1", "TC": "LC5", "TD": "LD"}
    # an undated Book: the same rule (it named every line of the farmer, matured and unstarted ones included)
    undated = DATED.drop(columns="balance_as_of").drop_duplicates("line_id", keep="last")
    assert farmers_lines(undated, DAY, "2024") == {"TA": "LA1", "TD": "LD"}
    assert farmers_lines(undated, date(2024, 3, 15), "2023") == {"TA": "LA0", "TB": "LB0"}  # LD's 2024 row only
    assert farmers_lines(DATED, date(2024, 3, 15), "2023") == {"TA": "LA0", "TB": "LB0", "TD": "LD"}
    assert farmers_lines(None, DAY, "2024") == {} and farmers_lines(DATED.iloc[0:0], DAY, "2024") == {}


def test_season_alerts_name_no_line_for_a_farmer_without_one_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The alerts' ``line_id`` (monitor's text, ``--json`` and the report pages) follows the same rule: a farmer whose
    only lines matured, have not started or finance another season has an alert naming none (None: ``-`` in the
    text table, null in JSON, empty on the page)."""
    monkeypatch.setattr(mon, "crop_first_days", lambda region, season, calendar=None: {})
    monkeypatch.setattr("features.series.season_window", lambda s, region: (date(int(s), 4, 1), None))
    past, crops = _past()
    days = np.arange(0, 150, 5)
    failing = _curve(days)
    failing[days >= 95] = 0.2
    never = np.full(len(days), 0.2)
    cur = pd.concat([_series(f, "2024", days, v) for f, v in (("fa", failing), ("fb", failing), ("fc", never),
                                                               ("fd", never))])
    now = pd.DataFrame({"field_id": ["fa", "fb", "fc", "fd"], "season": "2024", "crop": "maize", "region": "r",
                        "farmer_token": ["TA", "TB", "TC", "TD"]})
    every = pd.concat([now, crops.assign(farmer_token="TP")], ignore_index=True).rename(
        columns={"crop": "declared_crop"})
    al = mon.season_alerts(every, cur, past, "2024", DAY, book=DATED)
    named = {f: ln for f, ln in zip(al["field_id"], al["line_id"], strict=True)}
    assert set(named) == {"fa", "fb", "fc", "fd"}, al
    assert named == {"fa": "LA1", "fb": None, "fc": None, "fd": "LD"}
