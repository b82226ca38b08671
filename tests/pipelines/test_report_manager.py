"""The portfolio page as a portfolio manager reads it on the underwriting date and after: Book lines renewed by a
first decision, proposed actions of renewals, the season window, totals and exposure at risk, alerts' state, CSV."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import UserInputError
from pipelines.cli import app
from pipelines.report import alert_states, build_report_data_county, render_portfolio, standing_decisions
from tests.pipelines.test_cli_report import world  # noqa: F401,F811  (the tiny county's store, a fixture)
from tests.pipelines.test_report import _book, _data

PARAMS = {"keep_unvalued_lines": True, "kept_lines_stand": True, "refer_keeps_book_limit": True}  # 2026.12.8


def _renewal(line: str, book: int, outstanding: int, actions: list[str], drawn: int = 0) -> str:
    return json.dumps({"policy": {"parameters": PARAMS},
                       "fields": [{"declared_crop": "maize", "declared_area_ha": 2.0, "region": "us-nebraska"}],
                       "renewal": {"line_id": line, "book_limit": book, "outstanding": outstanding, "drawn": drawn,
                                   "proposed_actions": actions}})


def _first_decisions():
    """Four first decisions on the underwriting date, each renewing a Book line: A1 APPROVE, A2 REDUCE (new limit
    below its outstanding: actions proposed), A3 REFER and A4 DECLINE (Book lines L-3 52,000 and L-4 30,000)."""
    data = _data()
    recs = data.decisions.iloc[:4].copy()
    recs["outcome"] = ["APPROVE", "REDUCE", "REFER", "DECLINE"]
    recs["limit"] = [5_000_000, 4_400_000, 0, 0]
    recs["as_of"] = "2024-06-01"
    recs["body"] = [_renewal("L-1", 5_000_000, 1_000_000, []),
                    _renewal("L-2", 7_600_000, 5_500_000, ["FREEZE_UNDRAWN", "SHORTEN_TERM"], drawn=5_400_000),
                    _renewal("L-3", 5_200_000, 4_000_000, []),
                    _renewal("L-4", 3_000_000, 2_500_000, [])]
    data.decisions = recs.assign(record_id=[f"R{i}" for i in range(4)], kind="decision", supersedes=None)
    return data


def test_a_renewal_refer_or_decline_stands_on_the_book_line(tmp_path: Path) -> None:
    """On the underwriting date a Book line whose renewal application was REFERRED or DECLINED showed REFER/DECLINE
    at 0 and counted nowhere (the demo: 58 lines, INR 2,365,000 of limits), while from the next checkpoint the same
    lines count on their Book limits: a REFER or DECLINE grants nothing, so the Book line stands — for a first
    decision's renewal exactly as for a re-underwriting (policy 2026.12.8 on)."""
    data = _first_decisions()
    std = standing_decisions(data.decisions).set_index("application_id")
    assert (std.loc["A3", "outcome"], std.loc["A3", "limit"], std.loc["A3", "skipped_outcome"]) == ("BOOK", 5_200_000,
                                                                                                    "REFER")
    assert (std.loc["A4", "outcome"], std.loc["A4", "limit"], std.loc["A4", "skipped_outcome"]) == ("BOOK", 3_000_000,
                                                                                                    "DECLINE")
    assert (std.loc["A1", "outcome"], std.loc["A2", "outcome"]) == ("APPROVE", "REDUCE")
    html = render_portfolio(data, tmp_path).read_text()
    assert ("2 Book line(s) whose renewal application was decided REFER or DECLINE, which granted nothing, stand on "
            "their Book limits until an analyst acts (BOOK, policy 2026.12.8 on), USD 82,000.00") in html
    expo = html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    assert "USD 82,000.00" in expo and "USD 94,000.00" in expo  # the Book lines 52,000 + 30,000; granted 50,000 + 44,000
    # a record of an earlier policy (no refer_keeps_book_limit) and a decided line (D-…) as before
    old = data.decisions.copy()
    old["body"] = [b.replace(', "refer_keeps_book_limit": true', "").replace('"L-4"', '"D-A4"') for b in old["body"]]
    std = standing_decisions(old).set_index("application_id")
    assert (std.loc["A3", "outcome"], std.loc["A4", "outcome"]) == ("REFER", "DECLINE")


def test_a_book_line_matured_before_the_page_date_no_longer_stands_on_its_book_limit(tmp_path: Path) -> None:
    """A winter-wheat Book line that matured in June, its renewal REFERRED in May, was counted in September's
    exposure at its full Book limit (and its balance), while the page's own Book summary no longer counted it active
    (an operations audit, us-nebraska seed 31: exposure outstanding above the active Book's). After its maturity its
    limit stands no more: out of the exposure, said apart with its Book limit and balance."""
    from pipelines.report import matured_off_book

    data = _first_decisions()
    data.as_of = date(2024, 9, 1)
    data.decisions["body"] = [b.replace('"line_id": "L-3"', '"line_id": "L-3", "line_maturity_date": "2024-07-15"')
                              .replace('"line_id": "L-4"', '"line_id": "L-4", "line_maturity_date": "2024-12-01"')
                              for b in data.decisions["body"]]
    std = standing_decisions(data.decisions)
    bodies = [json.loads(b) for b in std["body"]]
    got = matured_off_book(std, bodies, "2024-09-01").set_index("application_id")
    assert (got.loc["A3", "outcome"], got.loc["A3", "limit"], got.loc["A3", "line_matured"]) == ("REFER", 0,
                                                                                                "2024-07-15")
    assert pd.isna(got.loc["A3", "book_standing"])
    assert (got.loc["A4", "outcome"], got.loc["A4", "limit"], got.loc["A4", "line_matured"]) == ("BOOK", 3_000_000,
                                                                                                None)
    before = matured_off_book(std, bodies, "2024-07-15").set_index("application_id")  # its last day: it stands
    assert before.loc["A3", "outcome"] == "BOOK" and before.loc["A3", "line_matured"] is None
    html = render_portfolio(data, tmp_path).read_text()
    expo = html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    assert "USD 82,000.00" not in expo and "USD 124,000.00" in expo  # 50,000 + 44,000 granted + L-4's 30,000
    assert ("1 Book line(s) matured before the page&#x27;s date, their renewal not granted: their limits (USD "
            "52,000.00 in the Book) no longer stand and are not in the exposure; USD 40,000.00 outstanding") in html
    assert "on 2024-07-15: its Book limit no longer stands" in html
    row = html.split("<h2>Decisions")[1].split("<h2>")[0].split(">A3<")[1].split("</tr>")[0]
    assert "granted nothing" not in row and "on its Book limit" not in row  # no note saying it stands there
    # the Book given renews L-3 under its id to December: it stands again, on the Book's date
    data.book = pd.DataFrame({"line_id": ["L-3", "L-3"], "maturity_date": ["2024-07-15", "2024-12-15"]})
    again = matured_off_book(std, bodies, "2024-09-01", data.book).set_index("application_id")
    assert again.loc["A3", "outcome"] == "BOOK" and again.loc["A3", "line_matured"] is None
    # a kept line never decided in the store (no REFER of its own) shows MATURED, not a REFER it never had
    kept = std.assign(skipped_outcome=None)
    assert matured_off_book(kept, bodies, "2024-09-01").set_index("application_id").loc["A3", "outcome"] == "MATURED"


def test_proposed_actions_of_renewal_decisions_are_listed(tmp_path: Path) -> None:
    """"Proposed actions: none" on the underwriting date though decisions carried actions in their renewal block
    (the demo: 36, e.g. a new limit of 44,000 against 55,000 outstanding): the table read the reunderwrite block
    only. Listed now, with the Book limit and the undrawn amount a freeze holds (Book limit − outstanding)."""
    html = render_portfolio(_first_decisions(), tmp_path).read_text()
    section = html.split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert "L-2" in section and "FREEZE_UNDRAWN, SHORTEN_TERM" in section and "renewal decision" in section
    assert all(x in section for x in ("USD 44,000.00", "USD 76,000.00", "USD 55,000.00", "USD 54,000.00",
                                      "USD 21,000.00"))
    assert "L-1" not in section and "L-3" not in section


def test_cli_refuses_an_as_of_after_the_season_window(world: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """`report portfolio --as-of 2010-06-01` (after the season window's end, 2010-02-28, and every maturity) wrote a
    page still counting the season's lines: refused as reunderwrite and monitor refuse it (one line, exit 2,
    nothing written); the window's last day is accepted."""
    runner = CliRunner()
    out = tmp_path / "pages"
    src = {"county": ["--county", str(world["county"].path), "--cache", str(world["county"].cache_dir)],
           "fields": ["--fields", str(world["county"].path / "records" / "fields.gpkg")]}
    for how, args in src.items():
        r = runner.invoke(app, ["report", "portfolio", *args, "--store", world["url"], "--out", str(out),
                                "--as-of", "2010-06-01"])
        assert r.exit_code == 2, (how, r.stdout + r.stderr)
        assert r.stderr.strip() == ("error: --as-of 2010-06-01 is after season 2009's imagery window ends (2010-02-28, "
                                    "region in-smallholder): nothing of the season is observed later; give a date up "
                                    "to 2010-02-28"), (how, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(UserInputError, match="after season 2009's imagery window ends"):
        build_report_data_county(world["county"], store=world["url"], as_of=date(2010, 3, 1))


def test_book_balances_are_said_undated_and_alerts_name_the_application(tmp_path: Path) -> None:
    """The Book's balances are the Book file's, undated, at every as-of: the page says so. The alerts table had no
    farmer or application column (the demo: 51 of 88 alerts with an empty line): each alert names the season's
    application(s) of its field's farmer — pseudonymous ids only. Evidence pairs printed as Python lists
    (``['2009-08-01', 0.0]``) read as "0 on 2009-08-01"."""
    data = _first_decisions()
    data.book = _book([("L-1", "A1", "Fa", 5_000_000, 900_000, 1_000_000)])
    data.alerts = pd.DataFrame({
        "field_id": ["f3", "f5"], "alert": ["CROP_MISMATCH", "WATCH"], "severity": ["high", "medium"],
        "date": [pd.Timestamp("2024-06-01")] * 2, "line_id": [None, "L-4"],
        "evidence": [json.dumps({"declared_crop_prob_by_checkpoint": [["2024-05-01", 0.0], ["2024-06-01", 0.125]]}),
                     "{}"]})
    html = render_portfolio(data, tmp_path).read_text()
    assert "Book balances (drawn, outstanding) as in the Book file, undated" in html
    section = html.split("<h2>Alerts")[1].split("<h2>")[0]
    assert "<th>application</th>" in section
    rows = section.split("<tr>")[2:]
    assert ">A3<" in rows[0] and ">A4<" in rows[1]  # f3 is Fc's (A3), f5 Fd's (A4)
    assert "probability of the declared crop by checkpoint 0 on 2024-05-01, 0.125 on 2024-06-01" in rows[0]
    assert "[" not in section


def test_manager_figures_totals_exposure_at_risk_and_csv(tmp_path: Path) -> None:
    """A portfolio manager found no total row, no outstanding beside the limits, no exposure at risk, no word on the
    concentration caps, the Book lines left out of the exposure table uncounted and no way to take the tables out:
    a total row, outstanding by crop, the limits and outstanding of lines with open high alerts and with proposed
    actions, the concentration caps applied or not, the Book lines outside the exposure counted, and --csv tables
    (minor units, pseudonymous ids only)."""
    data = _first_decisions()
    recs = data.decisions.copy()
    b = json.loads(recs.loc[3, "body"])
    b["renewal"]["line_id"] = "D-A4"  # a decided line's DECLINE: it stands at 0, outside the exposure
    for i in range(4):
        bi = json.loads(recs.loc[i, "body"]) if i != 3 else b
        bi["computation"] = {"concentration": {"applies": False, "book_total": 2_000_000_00}}
        bi["policy"]["parameters"]["min_book_for_concentration"] = 5_000_000_00
        recs.loc[i, "body"] = json.dumps(bi)
    data.decisions = recs
    data.alerts = pd.DataFrame({"field_id": ["f0", "f3"], "alert": ["WATCH", "CROP_MISMATCH"],
                                "severity": ["high", "high"], "date": [pd.Timestamp("2024-06-01")] * 2,
                                "evidence": ["{}", "{}"]})
    html = render_portfolio(data, tmp_path / "p", csv_dir=tmp_path / "csv").read_text()
    expo = html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    assert "<th>outstanding</th>" in expo
    total = [r for r in expo.split("<tr>") if ">total<" in r][0]
    # A1 50,000 + A2 44,000 + A3's Book line 52,000; outstanding 10,000 + 55,000 + 40,000
    assert ">3<" in total and "USD 146,000.00" in total and "USD 105,000.00" in total and "100.0%" in total
    # high alerts on Fa (A1) and Fc (A3): 50,000 + 52,000 of limits, 10,000 + 40,000 outstanding
    assert ("exposure at risk — 2 counted line(s) with an open high-severity alert: USD 102,000.00 of limits, "
            "USD 50,000.00 outstanding; 1 line(s) with proposed actions: USD 44,000.00 of limits, USD 55,000.00 "
            "outstanding") in html
    assert ("1 Book line(s) outside the exposure table (standing on a REFER or DECLINE: no limit counted): "
            "USD 30,000.00 of limits in the Book, USD 25,000.00 outstanding") in html
    assert ("the policy&#x27;s concentration caps were not applied to any of the 4 latest record(s) (the Book, "
            "USD 2,000,000.00, is below the policy&#x27;s floor for them, USD 5,000,000.00)") in html
    ex = pd.read_csv(tmp_path / "csv" / "exposure-2024.csv")
    assert ex.iloc[-1]["crop"] == "total" and ex.iloc[-1]["limit"] == 14_600_000
    assert ex.iloc[-1]["outstanding"] == 10_500_000 and set(ex["currency"]) == {"USD"}
    acts = pd.read_csv(tmp_path / "csv" / "actions-2024.csv")
    assert acts[["line", "application", "limit", "book_limit", "outstanding", "freeze"]].values.tolist() == [
        ["L-2", "A2", 4_400_000, 7_600_000, 5_500_000, 2_100_000]]
    al = pd.read_csv(tmp_path / "csv" / "alerts-2024.csv")
    assert al["application"].tolist() == ["A1", "A3"] and "farmer_token" not in al.columns


def test_map_and_chart_show_the_latest_outcome_with_the_book_line_standing(tmp_path: Path) -> None:
    """The map and chart coloured lines "BOOK (kept on its Book limit)", hiding that the latest run DECLINED or
    REFERRED them (the demo: 50 BOOK of which 24 DECLINE and 26 REFER; the chart's DECLINE 9 against 33 latest
    DECLINE records); the alert outlines had no legend and were thin, in the REFER fill's red. Now: fill by the latest
    outcome, a hatch where the Book line stands (its own legend entry, the field's tooltip naming the Book limit), the
    chart by latest outcome with "of which Book line stands" bars, wide alert outlines in their own colours with a
    legend."""
    from pipelines._svg import ALERT_STROKES, OUTCOME_COLOURS

    data = _first_decisions()  # A3 REFER and A4 DECLINE stand on their Book lines
    data.alerts = pd.DataFrame({"field_id": ["f3"], "alert": ["CROP_FAILURE"], "severity": ["high"],
                                "date": [pd.Timestamp("2024-06-01")], "evidence": ["{}"]})
    html = render_portfolio(data, tmp_path).read_text()
    svg = html.split('<svg xmlns="http://www.w3.org/2000/svg" class="map"')[1].split("</svg>")[0]
    paths = [p for p in svg.split("<path ")[1:] if "<title>" in p]
    title = {p.split("<title>")[1].split(":")[0]: p for p in paths}
    f5 = title["f5"]  # Fd's field: A4 DECLINE, its Book line stands at 30,000
    assert f'fill="{OUTCOME_COLOURS["DECLINE"]}"' in f5 and "DECLINE — Book line stands at USD 30,000.00" in f5
    f3 = title["f3"]  # Fc's: A3 REFER, Book line 52,000, a CROP_FAILURE alert
    assert f'fill="{OUTCOME_COLOURS["REFER"]}"' in f3 and f'stroke="{ALERT_STROKES["CROP_FAILURE"]}"' in f3
    assert 'stroke-width="2.6"' in f3 and ALERT_STROKES["CROP_FAILURE"] != OUTCOME_COLOURS["REFER"]
    assert svg.count('class="book-hatch"') == 3  # f3, f4 (Fc) and f5 (Fd)
    assert "hatched: Book line stands" in svg and "outline: CROP_FAILURE" in svg and 'class="outline"' in svg
    assert "BOOK (kept on its Book limit)" not in html
    chart = html.split("<h3>applications by latest outcome</h3>")[1].split("</svg>")[0]
    labels = re.findall(r'font-size="11">([^<]*)</text>', chart)
    assert labels == ["APPROVE", "REDUCE", "DECLINE", "  of which Book line stands", "REFER",
                      "  of which Book line stands"], labels


def test_alerts_are_marked_new_open_or_closed_against_the_previous_checkpoint(tmp_path: Path) -> None:
    """Alerts vanished between reports without a trace: each is marked against the previous checkpoint (or --since),
    from stored records only — new (raised after it), open (raised on or before it), closed (the store's record of
    the line held it open then; not raised now)."""
    import dataclasses

    data = _first_decisions()
    recs = data.decisions.copy()
    b = json.loads(recs.loc[0, "body"])
    b["renewal"]["alerts"] = ["f0:WATCH", "f1:CROP_MISMATCH"]  # open in the store at the first checkpoint
    recs.loc[0, "body"] = json.dumps(b)
    ru = recs.iloc[[1]].assign(record_id="R9", kind="reunderwrite", supersedes="R1", as_of="2024-07-20",
                               body=json.dumps({"reunderwrite": {"line_id": "L-2", "alerts": []}}))
    data.decisions = pd.concat([recs, ru], ignore_index=True)
    data.as_of = date(2024, 7, 20)
    data.alerts = pd.DataFrame({"field_id": ["f0", "f3"], "alert": ["WATCH", "NOT_PLANTED"],
                                "severity": ["medium", "high"],
                                "date": [pd.Timestamp("2024-05-20"), pd.Timestamp("2024-07-10")],
                                "evidence": ["{}", "{}"]})
    data.evaluated = frozenset({"f0", "f1", "f2", "f3"})  # the fields whose alerts were computed now
    html = render_portfolio(data, tmp_path).read_text()
    section = html.split("<h2>Alerts")[1].split("<h2>")[0]
    assert "against the previous checkpoint, 2024-06-01" in section and "1 new, 1 open, 1 closed" in section
    rows = {re.findall(r"<td>([^<]*)</td>", r)[1]: re.findall(r"<td>([^<]*)</td>", r)[0]
            for r in section.split("<tr>")[2:]}
    assert rows == {"f0": "open", "f3": "new since 2024-06-01", "f1": "closed since 2024-06-01"}, rows
    closed = [r for r in section.split("<tr>")[2:] if "closed since" in r][0]
    assert ">f1<" in closed and ">CROP_MISMATCH<" in closed and ">A1<" in closed and ">L-1<" in closed
    since = render_portfolio(dataclasses.replace(data, since=date(2024, 5, 1)), tmp_path / "b").read_text()
    section = since.split("<h2>Alerts")[1].split("<h2>")[0]
    assert "against --since 2024-05-01" in section and "2 new, 0 open, 0 closed" in section


def test_alerts_of_the_since_page_gone_now_are_closed(tmp_path: Path) -> None:
    """A review: `report portfolio --as-of 2009-10-25 --since 2009-09-15` said "52 new, 29 open, 0 closed" while three
    high NOT_PLANTED alerts of the 09-15 page were gone, counted nowhere (only alerts named in stored re-underwriting
    records could close). The alerts the page as of --since showed (``previous_alerts``) and not raised now are
    closed and listed; one on a field not evaluated now is neither."""
    import dataclasses

    data = _first_decisions()
    data.as_of = date(2024, 7, 20)
    data.alerts = pd.DataFrame({"field_id": ["f0"], "alert": ["WATCH"], "severity": ["medium"],
                                "date": [pd.Timestamp("2024-05-20")], "evidence": ["{}"]})
    data.evaluated = frozenset({"f0", "f1", "f2", "f3"})
    before = pd.DataFrame({"field_id": ["f0", "f2", "f5"], "alert": ["WATCH", "NOT_PLANTED", "NOT_PLANTED"],
                           "severity": ["medium", "high", "high"], "date": pd.to_datetime(["2024-05-20"] * 3),
                           "evidence": ["{}"] * 3})
    html = render_portfolio(dataclasses.replace(data, since=date(2024, 6, 1), previous_alerts=before),
                            tmp_path).read_text()
    section = html.split("<h2>Alerts")[1].split("<h2>")[0]
    assert "against --since 2024-06-01" in section and "0 new, 1 open, 1 closed" in section, section
    assert "on the page as of --since (its alerts computed as of that date)" in section
    closed = [r for r in section.split("<tr>")[2:] if "closed since" in r]
    assert len(closed) == 1 and ">f2<" in closed[0] and ">NOT_PLANTED<" in closed[0] and ">high<" in closed[0]
    assert "1 held open then not evaluated now" in section  # f5: no series read now, neither open nor closed


def test_cli_since_and_csv(world: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """--since: the alerts' state against the date of an earlier report; a date not before --as-of refused (one
    line, exit 2). --csv DIR writes the exposure, actions and alerts tables."""
    runner = CliRunner()
    out = tmp_path / "pages"
    args = ["report", "portfolio", "--county", str(world["county"].path), "--cache", str(world["county"].cache_dir), "--store", world["url"], "--out", str(out)]
    r = runner.invoke(app, [*args, "--as-of", "2009-09-15", "--since", "2009-09-15"])
    assert r.exit_code == 2 and r.stderr.strip() == ("error: --since 2009-09-15 is not before --as-of 2009-09-15: "
                                                     "give the date of an earlier report"), r.stderr
    r = runner.invoke(app, [*args, "--since", "2009-08-20", "--csv", str(tmp_path / "csv")])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "state: against --since 2009-08-20" in (out / "portfolio-2009.html").read_text()
    assert {p.name for p in (tmp_path / "csv").iterdir()} == {"exposure-2009.csv", "actions-2009.csv",
                                                              "alerts-2009.csv"}


def test_a_past_dated_report_uses_the_champion_of_its_date_or_says_which_it_used(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A past-dated report loaded today's crop-type champion and its alert thresholds, unsaid: the champion on the
    report's date by the registry's alias history is used, or — none recorded by then — today's, said so."""
    from types import SimpleNamespace

    import models.registry as registry
    from pipelines import _cli_report as cli

    hist = [{"alias": "champion", "version": "1", "at": "2009-01-10T08:00:00+00:00"},
            {"alias": "challenger", "version": "2", "at": "2009-05-01T08:00:00+00:00"},
            {"alias": "champion", "version": "2", "at": "2009-10-01T08:00:00+00:00"}]
    assert cli.champion_version_on(hist, date(2009, 9, 15)) == "1"
    assert cli.champion_version_on(hist, date(2009, 10, 1)) == "2"
    assert cli.champion_version_on(hist, date(2008, 12, 31)) is None
    loaded: list[str] = []

    def resolve(name: str, alias: str = "champion", **_: Any) -> Any:
        loaded.append(alias)
        return SimpleNamespace(version="2" if alias in ("champion", "2") else alias, run_id="r", model=f"model-{alias}")

    monkeypatch.setattr(registry, "resolve", resolve)
    monkeypatch.setattr(registry, "alias_history", lambda name=None: hist)
    model, used = cli._champion_crop_model(date(2009, 9, 15))
    assert model == "model-1" and used == ("crop-type version 1, the champion on 2009-09-15 by the alias history "
                                           "(today's: 2)")
    model, used = cli._champion_crop_model(date(2008, 6, 1))
    assert model == "model-champion" and used == ("crop-type version 2, today's champion (the alias history records "
                                                  "no champion on or before 2008-06-01)")
    data = _first_decisions()
    data.models_note = cli._models_note(used, None, "us-nebraska")
    html = render_portfolio(data, tmp_path).read_text()
    assert ("alerts computed with crop-type version 2, today&#x27;s champion (the alias history records no champion "
            "on or before 2008-06-01); thresholds: the rules&#x27; defaults") in html.split("<h2>Alerts")[1]


def test_an_alert_not_evaluated_now_is_not_called_closed(tmp_path: Path) -> None:
    """"closed" meant "held open by the store then, not in this page's alerts" — also when nothing was computed: a
    report without --imagery (no alerts at all), a field set aside by --rejects, CROP_MISMATCH without a crop-type
    model called every such stored alert closed (the second review's HIGH: false for a credit file). Now an alert
    is closed only when its field and type were evaluated; the others are said not evaluated."""
    data = _first_decisions()
    recs = data.decisions.copy()
    b = json.loads(recs.loc[0, "body"])
    b["renewal"]["alerts"] = ["f0:WATCH", "f1:CROP_MISMATCH"]
    recs.loc[0, "body"] = json.dumps(b)
    ru = recs.iloc[[1]].assign(record_id="R9", kind="reunderwrite", supersedes="R1", as_of="2024-07-20",
                               body=json.dumps({"reunderwrite": {"line_id": "L-2", "alerts": []}}))
    data.decisions = pd.concat([recs, ru], ignore_index=True)
    data.as_of = date(2024, 7, 20)
    data.alerts = pd.DataFrame()
    for evaluated, mismatch, closed, unassessed in ((None, True, 0, 2), (frozenset({"f0"}), True, 1, 1),
                                                     (frozenset({"f0", "f1"}), False, 1, 1),
                                                     (frozenset({"f0", "f1"}), True, 2, 0)):
        d = dataclasses.replace(data, evaluated=evaluated, mismatch_evaluated=mismatch)
        _, got, _ = alert_states(d)
        assert (len(got), d.unassessed) == (closed, unassessed), (evaluated, mismatch)
    page = render_portfolio(dataclasses.replace(data, evaluated=None), tmp_path).read_text()
    section = page.split("<h2>Alerts")[1].split("<h2>")[0]
    assert "0 closed" in section and "alerts not computed (no imagery given): none is called closed" in section
    assert "closed since" not in section


def test_dated_book_balances_are_shown_with_their_dates(tmp_path: Path) -> None:
    """A dated Book (``balance_as_of``): the page no longer says its balances are the Book file's, undated — it says
    they are each line's latest dated on or before the page's date and shows the date beside each balance (the lines
    without a decision, and the proposed actions from the records' blocks, which name the date their run read)."""
    data = _first_decisions()
    bodies = [json.loads(b) for b in data.decisions["body"]]
    bodies[1]["renewal"]["balance_as_of"] = "2024-05-31"
    data.decisions = data.decisions.assign(body=[json.dumps(b) for b in bodies])
    data.book = _book([("L-1", "A1", "Fa", 5_000_000, 900_000, 1_000_000),
                       ("L-9", "A9", "Fz", 2_000_000, 700_000, 800_000)]).assign(
        balance_as_of=[pd.Timestamp("2024-05-15"), pd.Timestamp("2024-05-20")])
    html = render_portfolio(data, tmp_path).read_text()
    assert "as in the Book file, undated" not in html
    assert "Book balances (drawn, outstanding): each line's latest in the Book file dated on or before 2024-06-01" in html
    no_dec = html.split("<h2>Book lines without a decision")[1].split("<h2>")[0]
    assert "<th>balance as of</th>" in no_dec and "2024-05-20" in no_dec and "L-9" in no_dec
    acts = html.split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert "<th>balance as of</th>" in acts and "2024-05-31" in acts
    assert "as of the date beside them" in html
    # an undated Book and records: the tables as before (no date column)
    plain = render_portfolio(_first_decisions(), tmp_path / "plain").read_text()
    assert "balance as of" not in plain


def _matured_l3() -> Any:
    """:func:`_first_decisions` on 2024-09-01, A3's Book line L-3 (farmer Fc, REFER of indicative 1,500) matured on
    2024-07-15, A4's L-4 (DECLINE) on 2024-12-01."""
    data = _first_decisions()
    data.as_of = date(2024, 9, 1)
    data.decisions["limit"] = [5_000_000, 4_400_000, 150_000, 0]
    data.decisions["body"] = [b.replace('"line_id": "L-3"', '"line_id": "L-3", "line_maturity_date": "2024-07-15"')
                              .replace('"line_id": "L-4"', '"line_id": "L-4", "line_maturity_date": "2024-12-01"')
                              for b in data.decisions["body"]]
    return data


def test_the_map_and_the_farmer_page_leave_a_matured_book_line_as_the_table_does(tmp_path: Path) -> None:
    """A Book line matured before the page's date: the Decisions table and the exposure left it out ("its Book limit
    no longer stands"), but the same page's map drew its fields hatched, titled "Book line stands at USD 52,000.00",
    and the farmer page said "the line stands on its Book limit" (an audit: L2018-00025, matured 2018-06-18, at
    2018-09-25). Both now read the table's view (:func:`pipelines.report.standing_on_page`)."""
    from pipelines.report import render_farmer, standing_on_page

    data = _matured_l3()
    got = standing_on_page(data).set_index("application_id")
    assert (got.loc["A3", "outcome"], got.loc["A3", "line_matured"]) == ("REFER", "2024-07-15")
    html = render_portfolio(data, tmp_path / "p").read_text()
    titles = re.findall(r"<title>([^<]*)</title>", html.split("<h2>Map of fields")[1].split("<h2>")[0])
    fc = [t for t in titles if t.startswith(("f3:", "f4:"))]
    assert fc and all("Book line stands" not in t for t in fc), fc
    assert any("f5: DECLINE — Book line stands at USD 30,000.00" in t for t in titles), titles  # L-4 until December
    page = render_farmer(data, "Fc", tmp_path / "f").read_text()
    assert "stands on its Book limit" not in page and "stands on" not in page.split("<h3>Record")[0]
    assert "its Book line matured on 2024-07-15" in page and "Book line stands at" not in page
    # on its maturity date the line still stands, on the map and the farmer page alike
    data.as_of = date(2024, 7, 15)
    html = render_portfolio(data, tmp_path / "q").read_text()
    assert "f4: REFER — Book line stands at USD 52,000.00" in html
    assert "the line stands on its Book limit USD 52,000.00" in render_farmer(data, "Fc", tmp_path / "g").read_text()


def test_the_headline_counts_the_indicative_limits_of_refers_standing_on_book_lines(tmp_path: Path) -> None:
    """The headline said "indicative limits of REFER applications USD 0.00" while the current REFERs carried 1,500 +
    4,500 + 7,500 (the export, and the page's own actions table, agreed): it summed the rows shown REFER, and a REFER
    whose Book line stands is shown BOOK (an audit, 2018-09-25). Now every REFER's indicative limit, said apart for
    those whose Book lines stand; a matured line's REFER is still counted (its indicative limit is the record's)."""
    data = _matured_l3()
    data.as_of = date(2024, 7, 1)  # L-3 stands on its Book limit
    html = render_portfolio(data, tmp_path / "p").read_text()
    assert ("indicative limits of REFER applications USD 1,500.00 (USD 1,500.00 of them on lines standing on their "
            "Book limits meanwhile), not granted until an analyst decides") in html
    data.as_of = date(2024, 9, 1)  # matured: a REFER of 1,500, no Book line standing
    html = render_portfolio(data, tmp_path / "q").read_text()
    assert "indicative limits of REFER applications USD 1,500.00, not granted until an analyst decides" in html


def test_the_exposure_says_its_crop_rows_count_a_line_once_per_crop(tmp_path: Path) -> None:
    """The exposure's crop rows counted 22 applications and its total 11, unsaid (a line split over several crops
    counts in each of their rows). The page says so, with both counts."""
    data = _first_decisions()
    b = json.loads(data.decisions.loc[2, "body"])  # A3's Book line over maize and soybean
    b["fields"] = [{"declared_crop": "maize", "declared_area_ha": 2.0, "region": "us-nebraska"},
                   {"declared_crop": "soybean", "declared_area_ha": 3.0, "region": "us-nebraska"}]
    data.decisions.loc[2, "body"] = json.dumps(b)
    html = render_portfolio(data, tmp_path).read_text()
    expo = html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    assert ("applications: a line split over several crops or regions counts in each of their rows (5 in the rows), "
            "once in the total (4)") in expo
    assert "counts in each of their rows" not in render_portfolio(_first_decisions(), tmp_path / "b").read_text()


def test_the_decisions_crop_of_a_book_line_is_the_books(tmp_path: Path) -> None:
    """L2018-00018 is a maize line in the Book; the Decisions table showed winter_wheat, its farmer's largest
    declared field (an audit). A Book line's crop is the Book's (the contract), the header says so; a line not in
    the Book keeps the largest declared area's."""
    from tests.pipelines.test_report import _book

    data = _first_decisions()
    data.book = _book([("L-3", "P3", "Fc", 5_200_000, 0, 4_000_000),
                       ("L-4", "P4", "Fd", 3_000_000, 0, 2_500_000)]).assign(crop=["sorghum", "maize"])
    dec = render_portfolio(data, tmp_path).read_text().split("<h2>Decisions")[1]
    assert "<th>crop (the Book line&#x27;s; without one in the Book, the largest declared area)</th>" in dec
    crop = {r.split("</td>")[0].split(">")[-1]: r.split("</td>")[2].split(">")[-1] for r in dec.split("<tr>")[2:]}
    assert crop == {"A1": "maize", "A2": "soybean", "A3": "sorghum", "A4": "maize"}, crop


def test_since_says_the_earlier_pages_warnings_once(world: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    """A review: `report portfolio --since` built the earlier page's data as the page's own, and every warning of
    reading the fields, the Book or the imagery printed twice. Each is said once."""
    import geopandas as gpd

    src = world["county"].path / "records" / "fields.gpkg"
    gdf = gpd.read_file(src)
    gdf["declared_crop"] = gdf["declared_crop"].astype(object)
    gdf.loc[gdf.index[-1], "declared_crop"] = "maise"  # one row set aside: its note a warning of the fields' reading
    bad = tmp_path / "fields.gpkg"
    gdf.to_file(bad)
    r = CliRunner().invoke(app, ["report", "portfolio", "--fields", str(bad), "--rejects", str(tmp_path / "rej.csv"),
                                 "--imagery", str(world["county"].path / "scenes"), "--store", world["url"],
                                 "--cache", str(world["county"].cache_dir), "--out", str(tmp_path / "pages"),
                                 "--since", "2009-08-20"])
    said = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert r.exit_code == 1 and said, r.stdout + r.stderr
    assert len(said) == len(set(said)), r.stderr


def test_since_before_the_first_record_marks_alerts_by_when_they_were_raised(world: dict[str, Any],  # noqa: F811
                                                                             tmp_path: Path) -> None:
    """A review (session 77): `--since` a date before the season's first record (or its start) had been refused since
    the earlier page's alerts were computed ("none of the 276 record(s) … is dated on or before", or naming --as-of
    the user never gave); it worked before. No page could be drawn then: every alert is marked against the date, as
    before, with a warning saying so."""
    out = tmp_path / "pages"
    r = CliRunner().invoke(app, ["report", "portfolio", "--county", str(world["county"].path), "--cache",
                                 str(world["county"].cache_dir), "--store", world["url"], "--out", str(out),
                                 "--since", "2009-01-15"])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "warning: --since 2009-01-15 is before the season's first record" in r.stderr, r.stderr
    assert "state: against --since 2009-01-15" in (out / "portfolio-2009.html").read_text()
