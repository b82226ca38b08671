"""Reports: self-contained HTML, checked in a real headless Chromium (console errors, failed requests,
non-blank map and plots), screenshots saved as test artifacts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from features.errors import UserInputError
from pipelines.report import ReportData, evidence_text, latest_decisions, render_farmer, render_portfolio
from tests.conftest import REPO, require

ARTIFACTS = REPO / "test-artifacts"


def _data() -> ReportData:
    fields = gpd.GeoDataFrame({
        "field_id": [f"f{i}" for i in range(6)], "season": "2024", "farmer_token": ["Fa", "Fa", "Fb", "Fc", "Fc", "Fd"],
        "crop": ["maize", "maize", "soybean", "maize", "soybean", "maize"], "region": "us-nebraska",
        "geometry": [box(500_000 + 400 * (i % 3), 4_480_000 + 450 * (i // 3), 500_350 + 400 * (i % 3),
                         4_480_400 + 450 * (i // 3)) for i in range(6)]}, crs=32614)
    body = {"computation": {"collateral_limit": 4_000_000, "cash_flow_limit": 5_000_000}, "reasons": [
        {"code": "PRICE_VOLATILITY_HAIRCUT", "reduction": 1_000_000}]}
    recs = pd.DataFrame({
        "application_id": ["A1", "A2", "A3", "A4", "A1"], "farmer_token": ["Fa", "Fb", "Fc", "Fd", "Fa"],
        "season": "2024", "as_of": ["2024-06-01"] * 4 + ["2024-07-20"],
        "outcome": ["APPROVE", "REDUCE", "REFER", "DECLINE", "REDUCE"], "limit": [5_000_000, 3_000_000, 0, 0, 4_000_000],
        "currency": "USD", "reason_codes": ["", "PRICE_VOLATILITY_HAIRCUT", "PARCEL_OVERLAP_CLAIM", "", "CROP_CONDITION_DETERIORATED"],
        "body": [json.dumps(body)] * 5})
    days = np.arange(0, 200, 5)
    start = date(2024, 4, 1)
    obs = pd.DataFrame({"field_id": "f0", "date": pd.Timestamp(start) + pd.to_timedelta(days[:25], unit="D"),
                        "ndvi": 0.2 + 0.6 * np.exp(-0.5 * ((days[:25] - 110) / 30) ** 2)})
    bands = pd.DataFrame({"region": "us-nebraska", "crop": "maize", "day": days,
                          "p10": 0.15 + 0.5 * np.exp(-0.5 * ((days - 110) / 30) ** 2),
                          "p50": 0.2 + 0.6 * np.exp(-0.5 * ((days - 110) / 30) ** 2),
                          "p90": 0.25 + 0.65 * np.exp(-0.5 * ((days - 110) / 30) ** 2), "n_fields": 10})
    alerts = pd.DataFrame({"field_id": ["f3"], "alert": ["WATCH"], "severity": ["medium"],
                           "date": [pd.Timestamp("2024-07-10")], "evidence": ["{}"]})
    return ReportData(season="2024", decisions=recs, fields=fields, alerts=alerts, obs=obs, bands=bands,
                      season_start=start, checkpoints=[(date(2024, 6, 1), "emergence"), (date(2024, 7, 20), "mid")],
                      synthetic=True)


def test_latest_decisions_and_change() -> None:
    d = latest_decisions(_data().decisions)
    a1 = d[d["application_id"] == "A1"].iloc[0]
    assert a1["limit"] == 4_000_000 and a1["previous_limit"] == 5_000_000


def test_pages_are_self_contained(tmp_path: Path) -> None:
    data = _data()
    p = render_portfolio(data, tmp_path)
    f = render_farmer(data, "Fa", tmp_path)
    for page in (p, f):
        html = page.read_text()
        assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in html
        assert "<svg" in html and "Synthetic demo data" in html
    assert "USD 40,000.00" in p.read_text()  # A1's new limit
    assert "CROP_CONDITION_DETERIORATED" in p.read_text()


def _chromium() -> tuple[str | None, str | None]:
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def test_pages_in_headless_chromium(tmp_path: Path) -> None:
    data = _data()
    check_in_chromium([render_portfolio(data, tmp_path), render_farmer(data, "Fa", tmp_path)], tmp_path)


def headless_chromium(tmp_path: Path, *, size: str = "1280,1600") -> Any:
    """A headless Chromium (selenium) with its console and network logs kept, its profile under ``tmp_path``, no
    background networking (skips without Chromium and chromedriver; fails under AGCREDIT_NO_SKIP=1)."""
    browser, driver_path = _chromium()
    require(browser is not None and driver_path is not None, "Chromium and chromedriver not installed "
            "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(browser)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
              f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={size}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=opts)


def check_in_chromium(pages: list[Path], tmp_path: Path, *, prefix: str = "") -> None:
    """Open each page in headless Chromium: no console errors, no failed or remote requests, a non-blank map
    and plots; a screenshot of each is saved under test-artifacts/ (skips without Chromium)."""
    drv = headless_chromium(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        for page in pages:
            drv.get_log("performance")  # drop what the start page did
            drv.get_log("browser")
            drv.get(page.as_uri())
            console = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
            assert console == [], console
            events = [json.loads(e["message"])["message"] for e in drv.get_log("performance")]
            urls = {m["params"]["requestId"]: m["params"]["request"]["url"] for m in events
                    if m.get("method") == "Network.requestWillBeSent" and m["params"].get("documentURL") == page.as_uri()}
            assert page.as_uri() in urls.values()
            # failures of the page's own requests (the browser's background traffic has no page request id)
            failed = [(urls[m["params"]["requestId"]], m["params"].get("errorText")) for m in events
                      if m.get("method") == "Network.loadingFailed" and m["params"]["requestId"] in urls]
            assert failed == [], failed
            assert all(u.startswith(("file:", "data:")) for u in urls.values()), urls
            # the map and the plots are present and not blank
            n_paths = drv.execute_script("return document.querySelectorAll('svg.map path').length")
            assert n_paths >= 1
            size = drv.execute_script(
                "const r=document.querySelector('svg.map').getBoundingClientRect();return [r.width,r.height]")
            assert size[0] > 100 and size[1] > 50
            if page.name.startswith("farmer"):
                assert drv.execute_script("return document.querySelectorAll('svg.curve polyline.obs').length") >= 1
                assert drv.execute_script("return document.querySelectorAll('svg.curve polygon.band').length") >= 1
            else:
                assert drv.execute_script("return document.querySelectorAll('svg.bars rect').length") >= 2
            png = ARTIFACTS / f"{prefix}{page.stem}.png"
            drv.save_screenshot(str(png))
            from PIL import Image

            img = np.asarray(Image.open(png).convert("L"))
            assert img.std() > 10  # not a blank page
    finally:
        drv.quit()


def test_no_decisions_is_user_error(tmp_path: Path) -> None:
    data = _data()
    data.decisions = data.decisions.iloc[0:0]
    with pytest.raises(Exception, match="report: no decisions stored for season 2024"):
        render_portfolio(data, tmp_path)


def test_exposure_splits_granted_limits_over_their_fields() -> None:
    """Exposure by crop: each granted (APPROVE / REDUCE) limit split over its valued fields by their stressed value
    — it was booked whole on the farmer's most frequent declared crop (three small cotton plots put a rice farmer's
    limit on cotton) and REFER's indicative limits counted as exposure."""
    import pandas as pd

    from pipelines.report import exposure_by_crop

    dec = pd.DataFrame({"application_id": ["A1", "A2", "A3", "A4"], "outcome": ["REDUCE", "APPROVE", "REFER", "REDUCE"],
                        "limit": [100_00, 50_00, 70_00, 30_00]})
    f = lambda crop, v, inc=True: {"crop_valued": crop, "region": "r", "stressed_value": v, "included": inc}  # noqa: E731
    bodies = [{"fields": [f("rice", 700), f("cotton", 100), f("cotton", 100), f("cotton", 100)]},
              {"fields": [f("maize", 10), f("rice", 0), f("cotton", 999, inc=False)]},
              {"fields": [f("maize", 500)]},
              {"fields": []}]
    got = exposure_by_crop(dec, bodies).set_index("crop")
    assert got["limit"].to_dict() == {"(unvalued)": 30_00, "cotton": 30_00, "maize": 50_00, "rice": 70_00}
    assert got["applications"].to_dict() == {"(unvalued)": 1, "cotton": 1, "maize": 1, "rice": 1}
    assert got["limit"].sum() == 100_00 + 50_00 + 30_00  # the REFER's indicative 70.00 is not exposure


def test_portfolio_shows_proposed_actions_and_escapes_every_cell(tmp_path: Path) -> None:
    """The proposed actions of a re-underwriting (freeze, shorten, review) were in its output, records and `explain`
    only: the portfolio report lists each line's. A table cell starting with "<span" was taken for the report's own
    markup and written unescaped (an application id is the user's text)."""
    data = _data()
    ru = {"reunderwrite": {"line_id": "L-7", "outstanding": 4_500_000, "proposed_actions": ["FREEZE_UNDRAWN", "REVIEW"]}}
    recs = data.decisions.copy()
    recs.loc[4, "body"] = json.dumps(ru)
    recs.loc[1, "application_id"] = "<span onmouseover=alert(1)>A2"
    data.decisions = recs
    html = render_portfolio(data, tmp_path).read_text()
    section = html.split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert "L-7" in section and "FREEZE_UNDRAWN, REVIEW" in section and "USD 45,000.00" in section
    assert "USD 40,000.00" in section and ">A1<" in section and "A3" not in section
    assert "<span onmouseover" not in html and "&lt;span onmouseover=alert(1)&gt;A2" in html
    data.decisions = _data().decisions
    empty = render_portfolio(data, tmp_path / "b").read_text()
    assert "none" in empty.split("<h2>Proposed actions")[1].split("<h2>")[0]


def test_portfolio_actions_show_the_drawn_balance_and_the_lines_not_reestimated(tmp_path: Path) -> None:
    """The actions table showed the outstanding balance but not what was drawn (explain shows both); lines the models
    could not value at their re-underwriting (kept, nothing proposed) were not mentioned at all."""
    data = _data()
    recs = data.decisions.copy()
    recs.loc[4, "body"] = json.dumps({"reunderwrite": {"line_id": "L-7", "outstanding": 4_500_000,
                                                       "drawn": 3_700_000, "proposed_actions": ["REVIEW"]}})
    recs.loc[2, "body"] = json.dumps({"reunderwrite": {"line_id": "L-3", "outstanding": 1_000, "proposed_actions": [],
                                                       "not_reestimated": ["OUT_OF_MODEL_SCOPE",
                                                                           "INSUFFICIENT_CLEAR_IMAGERY"]}})
    data.decisions = recs
    section = render_portfolio(data, tmp_path).read_text().split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert ">drawn<" in section and "USD 37,000.00" in section and "L-3" not in section.split("</table>")[0]
    assert ("1 line(s) not re-estimated at their latest re-underwriting: the models could not value their fields "
            "then (INSUFFICIENT_CLEAR_IMAGERY 1, OUT_OF_MODEL_SCOPE 1); each is kept as it stands") in section


def test_farmer_page_says_a_refer_limit_is_indicative(tmp_path: Path) -> None:
    """A REFER's limit was headed "limit INR 17,000.00" like a grant; it is indicative (CREDIT_POLICY.md: nothing
    is granted until an analyst decides), as the portfolio page and `explain` say."""
    data = _data()
    recs = data.decisions.copy()
    recs.loc[2, "limit"] = 1_700_000  # A3, Fc: REFER
    data.decisions = recs
    html = render_farmer(data, "Fc", tmp_path).read_text()
    head = html.split("<h2>Decision A3")[1].split("</h2>")[0]
    assert "indicative limit USD 17,000.00 — nothing is granted until an analyst decides" in head
    assert "indicative" not in render_farmer(data, "Fa", tmp_path).read_text()


def test_granted_limit_chart_uses_the_currency_minor_digits(tmp_path: Path) -> None:
    """The "granted limit by crop" bars divided every limit by 100: JPY (no minor unit) was drawn 100 times too
    small."""
    data = _data()
    data.decisions = data.decisions.assign(currency="JPY")
    data.decisions.loc[:, "body"] = json.dumps({"fields": [{"crop_valued": "maize", "region": "r", "stressed_value": 1,
                                                            "included": True}]})
    html = render_portfolio(data, tmp_path).read_text()
    bars = html.split("granted limit by crop (JPY)")[1].split("</svg>")[0]
    assert ">7,000,000<" in bars  # A1 4,000,000 (its latest) + A2 3,000,000 yen
    usd = _data()
    usd.decisions = usd.decisions.assign(body=data.decisions["body"])
    assert ">70,000<" in render_portfolio(usd, tmp_path / "usd").read_text().split("granted limit by crop (USD)")[1]


def test_changed_limits_are_those_of_the_latest_checkpoint_against_the_limit_replaced(tmp_path: Path) -> None:
    """"Limits changed since the last checkpoint" compared each application's latest record with its previous record
    (a re-underwriting of a Book line after a DECLINE showed 0 → 13,000 while the line's 52,000 was cut to 13,000)
    and listed changes made at earlier checkpoints. Now: records dated at the latest checkpoint only, the previous
    limit from the re-underwriting's ``previous_limit`` when it has one, else the previous record's."""
    data = _data()
    ru = json.dumps({"reunderwrite": {"line_id": "L-4", "previous_limit": 5_200_000, "outstanding": 0}})
    extra = pd.DataFrame({"application_id": ["A2", "A4"], "farmer_token": ["Fb", "Fd"], "season": "2024",
                          "as_of": ["2024-06-15", "2024-07-20"], "outcome": ["REDUCE", "REDUCE"],
                          "limit": [2_000_000, 1_300_000], "currency": "USD", "reason_codes": ["", "X_CODE"],
                          "body": ["{}", ru]})
    data.decisions = pd.concat([data.decisions, extra], ignore_index=True)
    html = render_portfolio(data, tmp_path).read_text()
    section = html.split("<h2>Limits changed at the latest checkpoint (2024-07-20)")[1].split("<h2>")[0]
    rows = section.split("<tr>")[2:]
    assert len(rows) == 2, section
    assert ">A1<" in rows[0] and "USD 50,000.00" in rows[0] and "USD 40,000.00" in rows[0]  # previous record's
    assert ">A4<" in rows[1] and "USD 52,000.00" in rows[1] and "USD 13,000.00" in rows[1]  # the Book line's
    assert "A2" not in section and "USD 0.00" not in section  # A2 changed at 2024-06-15, an earlier checkpoint
    # a line re-decided after a DECLINE: its previous record's limit (0) beside the Book's commitment
    ru2 = json.dumps({"reunderwrite": {"line_id": "L-4", "previous_limit": 0, "book_limit": 5_200_000,
                                       "outstanding": 0}})
    data.decisions.loc[data.decisions.index[-1], "body"] = ru2
    html = render_portfolio(data, tmp_path / "b").read_text()
    row = html.split("<h2>Limits changed at the latest checkpoint (2024-07-20)")[1].split("<h2>")[0].split("<tr>")[3]
    assert ">A4<" in row and "USD 52,000.00" in row and "USD 0.00" in row and "USD 13,000.00" in row


def test_a_line_after_a_refer_counts_as_changed_from_its_book_limit(tmp_path: Path) -> None:
    """A Book line of 41,000 whose application was referred (REFER 0) and re-underwritten REFER 0 was compared with
    the REFER: "limits changed" said none. Under policy 2026.12.8 (refer_keeps_book_limit) the re-underwriting's
    previous limit is the Book limit, and the line is listed 41,000 -> 0; a body of an earlier policy as it was."""
    data = _data()

    def refer_again(previous: int, **more: object) -> pd.DataFrame:
        ru = {"line_id": "L-3", "previous_limit": previous, "previous_outcome": "REFER", "book_limit": 4_100_000,
              "outstanding": 0, **more}
        return pd.DataFrame({"application_id": ["A3"], "farmer_token": ["Fc"], "season": "2024",
                             "as_of": ["2024-07-20"], "outcome": ["REFER"], "limit": [0], "currency": "USD",
                             "reason_codes": ["PARCEL_OVERLAP_CLAIM"], "body": [json.dumps({"reunderwrite": ru})]})

    base = data.decisions
    data.decisions = pd.concat([base, refer_again(0)], ignore_index=True)  # 2026.12.7: compared with the REFER's 0
    section = render_portfolio(data, tmp_path / "old").read_text().split(
        "<h2>Limits changed at the latest checkpoint (2024-07-20)")[1].split("<h2>")[0]
    assert ">A3<" not in section and len(section.split("<tr>")[2:]) == 1  # A1 only
    data.decisions = pd.concat([base, refer_again(4_100_000, compared_with="book", skipped_record_id="R3")],
                               ignore_index=True)
    section = render_portfolio(data, tmp_path / "new").read_text().split(
        "<h2>Limits changed at the latest checkpoint (2024-07-20)")[1].split("<h2>")[0]
    rows = section.split("<tr>")[2:]
    assert len(rows) == 2 and ">A3<" in rows[1], section
    assert rows[1].count("USD 41,000.00") == 2 and "USD 0.00" in rows[1]  # Book limit, previous limit, limit
    # a REFER's limit in the table is indicative (an audit read such rows as granted)
    assert "limit of a REFER: indicative, not granted until an analyst decides" in section


def test_portfolio_refuses_decisions_in_more_than_one_currency(tmp_path: Path) -> None:
    """Every sum was labelled with the first record's currency (INR and USD limits added as INR)."""
    data = _data()
    data.decisions.loc[1, "currency"] = "INR"
    with pytest.raises(UserInputError, match=r"^report: the decisions of season 2024 hold more than one currency "
                                             r"\(INR, USD\); totals cannot add them"):
        render_portfolio(data, tmp_path)
    assert not list(tmp_path.iterdir())


def _map_of(html: str) -> tuple[float, str]:
    """The width in px the fields span on the page's map, and its scale bar's label."""
    import re

    svg = html.split('class="map"')[1].split("</svg>", maxsplit=1)[0]
    xs = [float(x) for x in re.findall(r"[ML](-?[\d.]+),", svg)]
    return max(xs) - min(xs), re.findall(r'font-size="10">([^<]*)</text>', svg)[0]


def test_map_of_fields_in_degrees_is_drawn_to_scale(tmp_path: Path) -> None:
    """Fields in EPSG:4326 were drawn in degrees: squashed into a corner with a "1 m" scale bar. They are projected
    to their UTM zone first, so the map is the one of the same fields in metres."""
    data = _data()
    metric = _map_of(render_portfolio(data, tmp_path / "m").read_text())
    data.fields = data.fields.to_crs(4326)
    degrees = _map_of(render_portfolio(data, tmp_path / "d").read_text())
    assert metric[1] == degrees[1] == "100 m"
    assert abs(degrees[0] - metric[0]) < 5 and degrees[0] > 600
    farmer = _map_of(render_farmer(data, "Fa", tmp_path / "d").read_text())
    assert farmer[0] > 600 and farmer[1] == "100 m"


def _alerts_with_evidence() -> pd.DataFrame:
    ev = {"dates": ["2024-07-05", "2024-07-10"], "expected_p10": [0.5612, 0.57], "ndvi": [0.4121, 0.40]}
    return pd.DataFrame({"field_id": ["f0", "f3"], "season": "2024", "alert": ["WATCH", "CROP_MISMATCH"],
                         "severity": ["medium", "high"], "date": pd.to_datetime(["2024-07-10", "2024-07-20"]),
                         "evidence": [json.dumps(ev, sort_keys=True), json.dumps({"declared_crop_prob": 0.08})],
                         "farmer_token": ["Fa", "Fc"], "line_id": ["L-1", None]})


def test_pages_state_their_as_of_and_alerts_name_line_and_evidence_in_words(tmp_path: Path) -> None:
    """The portfolio page stated no as-of date and its alerts had no line nor evidence; the farmer page's alerts
    showed raw JSON evidence and '2024-07-10 00:00:00' dates."""
    data = _data()
    data.alerts = _alerts_with_evidence()
    data.as_of = date(2024, 7, 25)
    html = render_portfolio(data, tmp_path).read_text()
    assert "As of 2024-07-20 (the latest record shown); report as of 2024-07-25 (--as-of): nothing later is shown" \
        in html
    alerts = html.split("<h2>Alerts</h2>")[1].split("<h2>")[0]
    assert "<th>line</th>" in alerts and ">L-1<" in alerts and "<th>evidence</th>" in alerts
    assert "2024-07-05: NDVI 0.4121, expected P10 0.5612; 2024-07-10: NDVI 0.4, expected P10 0.57" in alerts
    assert "probability of the declared crop 0.08" in alerts and ">2024-07-20<" in alerts
    farmer = render_farmer(data, "Fa", tmp_path).read_text()
    assert "Latest record shown: as of 2024-07-20; the NDVI curves run to 2024-07-30 (their last observation); "\
        "report as of 2024-07-25 (--as-of): nothing later is shown" in farmer
    fal = farmer.split("<h2>Alerts</h2>")[1]
    assert "2024-07-05: NDVI 0.4121" in fal and ">2024-07-10<" in fal and ">L-1<" in fal
    assert "00:00:00" not in fal and "{" not in fal and "&quot;" not in fal


def test_ndvi_plot_has_axis_titles_and_tick_values(tmp_path: Path) -> None:
    """The NDVI plots had no y-axis title and no x tick values nor season start date."""
    import re

    html = render_farmer(_data(), "Fa", tmp_path).read_text()
    curve = html.split('class="curve"')[1].split("</svg>")[0]
    assert re.search(r'class="ytitle" transform="rotate\(-90\)"[^>]*>NDVI</text>', curve)
    assert 'class="xtitle"' in curve and ">days since 2024-04-01 (season start)</text>" in curve
    ticks = re.findall(r'class="xtick".*?text-anchor="middle">(-?\d+)</text>', curve)
    assert 3 <= len(ticks) <= 9 and ticks[:3] == ["0", "30", "60"]


def test_outcome_tags_are_drawn_not_printed_as_markup(tmp_path: Path) -> None:
    """The outcome tags of the decisions, changes and actions tables were printed as text ('<span class="tag" ...>
    APPROVE</span>' on the page): pandas 3 stores text as its string dtype, dropping the _Html mark."""
    data = _data()
    recs = data.decisions.copy()
    recs.loc[4, "body"] = json.dumps({"reunderwrite": {"line_id": "L-7", "outstanding": 1, "proposed_actions": ["X"]}})
    data.decisions = recs
    html = render_portfolio(data, tmp_path).read_text()
    assert "&lt;span" not in html
    for h2 in ("Limits changed", "Proposed actions", "Decisions"):
        section = html.split(f"<h2>{h2}")[1].split("<h2>")[0]
        assert '<td><span class="tag" style="background:#f9a825">REDUCE</span></td>' in section, h2
    data.decisions.loc[1, "outcome"] = "<b>x</b>"  # never markup from a record
    assert "<b>x</b>" not in render_portfolio(data, tmp_path / "b").read_text()


def test_an_override_after_a_checkpoint_keeps_its_changes_and_drops_stale_actions(tmp_path: Path) -> None:
    """An override copies the body it supersedes, `reunderwrite` block included: the report showed the re-underwriting's
    proposed actions against the override's limit, its replaced limit as the override's previous one, and took the
    override's date for the latest checkpoint (hiding the checkpoint's other changes)."""
    data = _data()
    ru = {"reunderwrite": {"line_id": "L-1", "previous_limit": 5_000_000, "book_limit": 5_000_000,
                           "outstanding": 4_500_000, "proposed_actions": ["FREEZE_UNDRAWN", "REVIEW"]}}
    recs = data.decisions.copy()
    recs["kind"] = ["decision"] * 4 + ["reunderwrite"]
    recs.loc[4, "body"] = json.dumps(ru)
    over = recs.iloc[[4]].assign(as_of="2024-07-25", kind="override", limit=6_000_000, outcome="APPROVE")
    other = recs.iloc[[1]].assign(as_of="2024-07-20", kind="reunderwrite", limit=2_500_000,
                                  body=json.dumps({"reunderwrite": {"line_id": "L-2", "previous_limit": 3_000_000}}))
    data.decisions = pd.concat([recs, other, over], ignore_index=True)
    html = render_portfolio(data, tmp_path).read_text()
    section = html.split("<h2>Limits changed at the latest checkpoint (2024-07-20)")[1].split("<h2>")[0]
    assert ">A2<" in section and "USD 25,000.00" in section  # the checkpoint's other change stays
    a1 = [r for r in section.split("<tr>") if ">A1<" in r][0]
    assert "USD 40,000.00" in a1 and "USD 60,000.00" in a1  # against the re-underwriting it replaced
    actions = html.split("<h2>Proposed actions")[1].split("<h2>")[0]
    assert "L-1" not in actions and "none" in actions


def test_evidence_days_of_season_read_as_dates() -> None:
    """Days of season in an alert's evidence are given with their date when the evidence names the season start."""
    ev = {"expected_emergence_day": 60, "grace_days": 10, "max_ndvi": 0.2, "season_start": "2024-04-01"}
    assert evidence_text(json.dumps(ev)) == ("expected emergence by day 60 (2024-05-31); grace days 10; "
                                             "highest NDVI 0.2")
    del ev["season_start"]  # records written before it: as they were
    assert evidence_text(ev) == "expected emergence by day 60; grace days 10; highest NDVI 0.2"


def test_a_line_kept_at_a_reunderwriting_counts_on_the_decision_it_stands_on(tmp_path: Path) -> None:
    """A re-underwriting that re-estimated nothing (the models could not value the fields: a REFER of indicative
    limit 0, the line kept as it stood) became the application's latest record, so the portfolio's granted total
    dropped the line, its Decisions row showed REFER 0 and "Limits changed" listed a cut to 0 (after an emergence
    checkpoint run by `reunderwrite --due`, every line). Now each kept line counts on the decision it stands on —
    the latest earlier record that decided it, else (never decided in the store) its Book limit, said apart."""
    from pipelines.report import standing_decisions

    data = _data()
    stands = {"policy": {"parameters": {"keep_unvalued_lines": True, "kept_lines_stand": True}}}  # 2026.12.5
    kept = {**stands, "reunderwrite": {"line_id": "L-1", "previous_limit": 4_000_000, "book_limit": 5_000_000,
                             "outstanding": 100, "proposed_actions": [], "not_reestimated": ["OUT_OF_MODEL_SCOPE"]}}
    kept_book = {**stands, "reunderwrite": {"line_id": "L-9", "previous_limit": 2_000_000, "book_limit": 2_000_000,
                                  "outstanding": 0, "proposed_actions": [], "not_reestimated": ["OUT_OF_MODEL_SCOPE"]},
                 "fields": [{"field_id": "f5", "declared_crop": "maize", "region": "us-nebraska",
                             "declared_area_ha": 12.5, "included": False}]}
    recs = data.decisions.assign(record_id=[f"R{i}" for i in range(5)], kind=["decision"] * 4 + ["reunderwrite"],
                                 supersedes=[None, None, None, None, "R0"])
    extra = pd.DataFrame({"application_id": ["A1", "A1", "A9"], "farmer_token": ["Fa", "Fa", "Fd"],
                          "season": "2024", "as_of": ["2024-08-01", "2024-08-20", "2024-08-20"],
                          "outcome": ["REFER"] * 3, "limit": [0, 0, 0], "currency": "USD",
                          "reason_codes": ["OUT_OF_MODEL_SCOPE"] * 3,
                          "body": [json.dumps(kept), json.dumps(kept), json.dumps(kept_book)],
                          "record_id": ["R5", "R6", "R7"], "kind": ["reunderwrite"] * 3,
                          "supersedes": ["R4", "R5", None]})
    data.decisions = pd.concat([recs, extra], ignore_index=True)
    std = standing_decisions(data.decisions).set_index("application_id")
    # A1: kept twice since its mid-season REDUCE of 40,000 — it stands on that record
    assert (std.loc["A1", "outcome"], std.loc["A1", "limit"], std.loc["A1", "as_of"]) == ("REDUCE", 4_000_000,
                                                                                          "2024-07-20")
    assert std.loc["A1", "kept_as_of"] == "2024-08-01" and np.isnan(std.loc["A1", "book_standing"])  # first kept
    # A9: never decided in the store: it stands on its Book line (outcome BOOK, its Book limit)
    assert (std.loc["A9", "outcome"], std.loc["A9", "limit"], std.loc["A9", "book_standing"]) == ("BOOK", 2_000_000,
                                                                                                  2_000_000)
    assert std.loc["A2", "kept_as_of"] is None  # not kept: as latest_decisions has it
    html = render_portfolio(data, tmp_path).read_text()
    # APPROVE/REDUCE standing: A1 40,000 + A2 30,000 (the kept record's indicative 0 would give 30,000)
    assert "granted USD 70,000.00 (APPROVE and REDUCE)" in html
    assert "1 line(s) never decided in the store and kept at a re-underwriting that could not re-estimate them " \
           "stand on their Book limits (BOOK), USD 20,000.00" in html
    exposure = html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    assert "USD 20,000.00" in exposure  # A9's Book limit on its declared crop (its fields were never valued)
    assert "hatched: Book line stands" in html and 'class="book-hatch"' in html  # the map's legend and hatch
    changed = html.split("<h2>Limits changed at the latest checkpoint (2024-08-20)")[1].split("<h2>")[0]
    assert "A1" not in changed and "A9" not in changed  # kept: no limit changed
    decisions = html.split("<h2>Decisions")[1]
    assert "since 2024-08-01: on this decision of 2024-07-20" in decisions
    assert "since 2024-08-20: on its Book limit, never decided in the store" in decisions
    farmer = render_farmer(data, "Fa", tmp_path).read_text()
    assert "limit USD 40,000.00 — kept: not re-estimated since 2024-08-01</h2>" in farmer
    assert "granted or Book limit by crop (USD)" in html
    assert "REFER</span> indicative" not in farmer  # the heading is the decision the line stands on
    assert "the line is kept as it stands, on the decision of 2024-07-20: REDUCE USD 40,000.00" in farmer
    # an analyst's override of the kept record: its change is from the limit the line stood on, not from 0
    ov = {"override": {"original_limit": 0, "standing_limit": 4_000_000, "limit": 3_000_000}}
    more = pd.DataFrame({"application_id": ["A1"], "farmer_token": ["Fa"], "season": "2024", "as_of": ["2024-08-25"],
                         "outcome": ["REDUCE"], "limit": [3_000_000], "currency": "USD", "reason_codes": [""],
                         "body": [json.dumps(ov)], "record_id": ["R8"], "kind": ["override"], "supersedes": ["R6"]})
    data.decisions = pd.concat([data.decisions, more], ignore_index=True)
    changed = render_portfolio(data, tmp_path / "o").read_text().split("<h2>Limits changed")[1].split("<h2>")[0]
    row = [x for x in changed.split("<tr>") if ">A1<" in x][0]
    assert "USD 40,000.00" in row and "USD 30,000.00" in row and "USD 0.00" not in row
    # records of a policy before 2026.12.5 (no kept_lines_stand): as that release showed them (re-underwriting
    # and monitor follow them from the kept 0 there)
    old = data.decisions.copy()
    old["body"] = [b.replace('"kept_lines_stand": true', '"kept_lines_stand": false') for b in old["body"]]
    std = standing_decisions(old).set_index("application_id")
    assert std.loc["A9", "outcome"] == "REFER" and std["kept_as_of"].isna().all()


def test_a_kept_line_standing_on_a_refer_counts_at_its_book_limit(tmp_path: Path) -> None:
    """A Book line of 41,000 whose application underwrite referred (REFER, indicative 0) and that a re-underwriting
    then kept (the models could not value its fields) stood in the portfolio on that REFER: counted at 0, its
    Decisions row REFER 0 — while its re-underwriting is measured from the Book limit (policy 2026.12.8,
    refer_keeps_book_limit): a REFER or DECLINE grants nothing. Under the parameter (the kept record's policy) the
    line stands on its Book limit (BOOK), said so; an override, a decided line (D-…) and records of 2026.12.7 as
    before."""
    from pipelines.report import standing_decisions

    data = _data()
    params = {"keep_unvalued_lines": True, "kept_lines_stand": True, "refer_keeps_book_limit": True}  # 2026.12.8

    def kept(line: str, book: int, parameters: dict[str, bool]) -> str:
        return json.dumps({"policy": {"parameters": parameters},
                           "reunderwrite": {"line_id": line, "previous_limit": book, "previous_outcome": "REFER",
                                            "book_limit": book, "outstanding": 0, "proposed_actions": [],
                                            "not_reestimated": ["OUT_OF_MODEL_SCOPE"], "compared_with": "book"},
                           "fields": [{"field_id": "f3", "declared_crop": "maize", "region": "us-nebraska",
                                       "declared_area_ha": 10.0, "included": False}]})

    recs = data.decisions.assign(record_id=[f"R{i}" for i in range(5)], kind=["decision"] * 4 + ["reunderwrite"],
                                 supersedes=[None, None, None, None, "R0"])
    # A3 (Fc): REFER at underwriting, kept; A4 (Fd): DECLINE, its line a decided one (D-…), kept
    extra = pd.DataFrame({"application_id": ["A3", "A4"], "farmer_token": ["Fc", "Fd"], "season": "2024",
                          "as_of": ["2024-08-20", "2024-08-20"], "outcome": ["REFER", "REFER"], "limit": [0, 0],
                          "currency": "USD", "reason_codes": ["OUT_OF_MODEL_SCOPE"] * 2,
                          "body": [kept("L-3", 4_100_000, params), kept("D-A4", 0, params)],
                          "record_id": ["R5", "R6"], "kind": ["reunderwrite"] * 2, "supersedes": ["R2", "R3"]})
    data.decisions = pd.concat([recs, extra], ignore_index=True)
    std = standing_decisions(data.decisions).set_index("application_id")
    assert (std.loc["A3", "outcome"], std.loc["A3", "limit"], std.loc["A3", "book_standing"]) == ("BOOK", 4_100_000,
                                                                                                  4_100_000)
    assert (std.loc["A3", "skipped_outcome"], std.loc["A3", "as_of"]) == ("REFER", "2024-06-01")
    assert (std.loc["A4", "outcome"], std.loc["A4", "limit"]) == ("DECLINE", 0)  # D-A4: as before
    assert np.isnan(std.loc["A4", "book_standing"]) and std.loc["A4", "skipped_outcome"] is None
    html = render_portfolio(data, tmp_path).read_text()
    assert ("1 line(s) kept at a re-underwriting that could not re-estimate them whose decision was a REFER or "
            "DECLINE, which granted nothing, stand on their Book limits (BOOK, policy 2026.12.8 on), USD 41,000.00"
            in html)
    assert "never decided in the store" not in html.split("<h2>Decisions")[0]
    assert "granted or Book limit by crop (USD)" in html
    # A1's REDUCE 40,000 + A2's 30,000 + A3's Book limit 41,000 (its REFER's 0 gave 70,000)
    assert "USD 111,000.00" in html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    decisions = html.split("<h2>Decisions")[1]
    assert "since 2024-08-20: on its Book limit, its REFER of 2024-06-01 granted nothing" in decisions
    changed = html.split("<h2>Limits changed at the latest checkpoint (2024-08-20)")[1].split("<h2>")[0]
    assert ">A3<" not in changed  # kept: no limit changed
    farmer = render_farmer(data, "Fc", tmp_path).read_text()
    assert "limit USD 41,000.00 — kept: not re-estimated since 2024-08-20</h2>" in farmer
    assert "the line is kept as it stands, on its Book limit USD 41,000.00 (its REFER of 2024-06-01 granted " \
           "nothing)" in farmer
    # the standing decision an analyst's override: a decision in force, stood on as before
    ov = data.decisions.copy()
    ov.loc[ov["record_id"] == "R2", "kind"] = "override"
    std = standing_decisions(ov).set_index("application_id")
    assert (std.loc["A3", "outcome"], std.loc["A3", "limit"]) == ("REFER", 0)
    # records of policy 2026.12.7 (no refer_keeps_book_limit): the REFER's 0, the page as that release made it
    old = data.decisions.copy()
    old["body"] = [b.replace(', "refer_keeps_book_limit": true', "") for b in old["body"]]
    std = standing_decisions(old).set_index("application_id")
    assert (std.loc["A3", "outcome"], std.loc["A3", "limit"], std.loc["A3", "as_of"]) == ("REFER", 0, "2024-06-01")
    assert np.isnan(std["book_standing"]).all() and std["skipped_outcome"].isna().all()
    html = render_portfolio(dataclasses.replace(data, decisions=old), tmp_path / "old").read_text()
    assert "Book limit" not in html.split("<h2>Limits changed")[0] and "BOOK" not in html
    assert "since 2024-08-20: on this decision of 2024-06-01" in html.split("<h2>Decisions")[1]


def test_a_latest_refer_reunderwriting_of_a_book_line_counts_at_its_book_limit(tmp_path: Path) -> None:
    """A Book line's latest record a re-underwriting that itself decided REFER (a new REFER at a checkpoint, not a
    kept one) was counted at its 0 — while the next re-underwriting measures the line from its Book limit (policy
    2026.12.8, refer_keeps_book_limit): a REFER or DECLINE that is no analyst's override grants nothing, the line the
    bank funded stands until an analyst acts. Under the parameter (the record's own policy) it stands on its Book
    limit (BOOK), or on the analyst's override behind the REFER; a decided line (D-…) and records of 2026.12.7 as
    before."""
    from pipelines.report import standing_decisions

    data = _data()
    params = {"keep_unvalued_lines": True, "kept_lines_stand": True, "refer_keeps_book_limit": True}  # 2026.12.8

    def ru(line: str, book: int, previous: int) -> str:
        return json.dumps({"policy": {"parameters": params},
                           "reunderwrite": {"line_id": line, "previous_limit": previous, "previous_outcome": "APPROVE",
                                            "book_limit": book, "outstanding": 0, "proposed_actions": []}})

    recs = data.decisions.iloc[:4].assign(record_id=[f"R{i}" for i in range(4)], kind="decision", supersedes=None)
    recs.loc[2, ["kind", "outcome", "limit"]] = ["override", "REDUCE", 2_000_000]  # A3: an analyst's REDUCE 20,000
    # A1 (Book L-1, 52,000) and A3 (Book L-3, 41,000) referred at a checkpoint; A2's decided line (D-A2) declined
    new = pd.DataFrame({"application_id": ["A1", "A2", "A3"], "farmer_token": ["Fa", "Fb", "Fc"], "season": "2024",
                        "as_of": "2024-08-20", "outcome": ["REFER", "DECLINE", "REFER"], "limit": 0, "currency": "USD",
                        "reason_codes": ["OUT_OF_MODEL_SCOPE", "", "OUT_OF_MODEL_SCOPE"],
                        "body": [ru("L-1", 5_200_000, 5_000_000), ru("D-A2", 3_000_000, 3_000_000),
                                 ru("L-3", 4_100_000, 2_000_000)],
                        "record_id": ["R4", "R5", "R6"], "kind": "reunderwrite", "supersedes": ["R0", "R1", "R2"]})
    data.decisions = pd.concat([recs, new], ignore_index=True)
    std = standing_decisions(data.decisions).set_index("application_id")
    assert (std.loc["A1", "outcome"], std.loc["A1", "limit"], std.loc["A1", "book_standing"]) == ("BOOK", 5_200_000,
                                                                                                  5_200_000)
    assert (std.loc["A1", "skipped_outcome"], std.loc["A1", "as_of"], std.loc["A1", "kept_as_of"]) == \
        ("REFER", "2024-08-20", None)
    assert (std.loc["A2", "outcome"], std.loc["A2", "limit"]) == ("DECLINE", 0)  # D-A2: its record's, as before
    assert (std.loc["A3", "outcome"], std.loc["A3", "limit"], std.loc["A3", "record_id"]) == ("REDUCE", 2_000_000,
                                                                                             "R2")
    assert np.isnan(std.loc["A3", "book_standing"]) and std.loc["A3", "skipped_outcome"] is None
    html = render_portfolio(data, tmp_path).read_text()
    assert ("1 line(s) whose latest re-underwriting decided a REFER or DECLINE, which granted nothing, stand on "
            "their Book limits until an analyst acts (BOOK, policy 2026.12.8 on), USD 52,000.00" in html)
    assert "kept at a re-underwriting" not in html and "never decided in the store" not in html
    # A1's Book limit 52,000 + A3's override 20,000 (their REFERs' 0 gave 0)
    assert "USD 72,000.00" in html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    decisions = html.split("<h2>Decisions")[1]
    assert "its Book limit: its REFER of 2024-08-20 granted nothing" in decisions
    assert "the analyst&#x27;s override of 2024-06-01, behind its latest REFER or DECLINE" in decisions
    farmer = render_farmer(data, "Fa", tmp_path).read_text()
    assert "limit USD 52,000.00 — its REFER granted nothing</h2>" in farmer
    assert "the line stands on its Book limit USD 52,000.00 until an analyst acts" in farmer
    farmer = render_farmer(data, "Fc", tmp_path).read_text()
    assert "the line stands on the analyst&#x27;s override of 2024-06-01: REDUCE USD 20,000.00" in farmer
    # records of policy 2026.12.7 (no refer_keeps_book_limit): the REFER's 0, the pages as that release made them
    old = data.decisions.copy()
    old["body"] = [b.replace(', "refer_keeps_book_limit": true', "") for b in old["body"]]
    std = standing_decisions(old).set_index("application_id")
    assert (std.loc["A1", "outcome"], std.loc["A1", "limit"], std.loc["A3", "outcome"]) == ("REFER", 0, "REFER")
    assert np.isnan(std["book_standing"]).all() and std["skipped_outcome"].isna().all()
    old_data = dataclasses.replace(data, decisions=old)
    html = render_portfolio(old_data, tmp_path / "old").read_text()
    assert "BOOK" not in html and "granted nothing" not in html.split("<h2>Limits changed")[0]
    assert "stands on" not in html and "granted nothing" not in render_farmer(old_data, "Fa", tmp_path / "old").read_text()


def test_the_pages_of_unlabelled_data_say_so(tmp_path: Path) -> None:
    """The banner warned only for synthetic data: data whose county.json has no synthetic flag (unlabelled, as the
    evaluations say) went out as if real. Real data has no banner."""
    for synthetic, unlabelled, banner in ((True, False, "Synthetic demo data"), (False, True, "Unlabelled data"),
                                          (False, False, None)):
        data = dataclasses.replace(_data(), synthetic=synthetic, unlabelled=unlabelled)
        out = tmp_path / f"{synthetic}-{unlabelled}"
        for page in (render_portfolio(data, out), render_farmer(data, "Fa", out)):
            html = page.read_text()
            assert ('class="synthetic"' in html) is (banner is not None), page
            assert banner is None or banner in html


def test_an_override_at_the_latest_checkpoint_shows_the_lines_book_limit(tmp_path: Path) -> None:
    """"Limits changed" took the Book limit from a re-underwriting's block only: an analyst's override of the
    re-underwritten line (its body a copy of the re-underwriting's, block included) showed an empty Book limit, though
    the override changes the limit, not the line's commitment in the Book."""
    data = _data()
    ru = {"reunderwrite": {"line_id": "L-1", "previous_limit": 5_000_000, "book_limit": 5_200_000,
                           "outstanding": 4_500_000, "proposed_actions": ["FREEZE_UNDRAWN"]}}
    recs = data.decisions.assign(kind=["decision"] * 4 + ["reunderwrite"])
    recs.loc[4, "body"] = json.dumps(ru)
    over = recs.iloc[[4]].assign(kind="override", limit=4_500_000,
                                 body=json.dumps({**ru, "override": {"original_limit": 4_000_000, "limit": 4_500_000}}))
    data.decisions = pd.concat([recs, over], ignore_index=True)
    section = render_portfolio(data, tmp_path).read_text().split("<h2>Limits changed")[1].split("<h2>")[0]
    assert "<th>Book limit</th>" in section
    row = [r for r in section.split("<tr>") if ">A1<" in r][0]
    cells = [c.split(">", 1)[1] for c in row.split("</td>")[:5]]
    assert cells[2:5] == ["USD 52,000.00", "USD 40,000.00", "USD 45,000.00"], cells  # Book, previous, override's


def test_decisions_crop_is_the_one_of_the_largest_declared_area(tmp_path: Path) -> None:
    """The Decisions table's crop was the farmer's most frequent crop by field count, ties broken by name: a farmer
    with 26.5 ha of soybean and two small maize plots (11.5 ha) was shown as maize. Now the declared crop of the
    largest declared area (the area the exposure of a line kept on its Book limit is split by), said in the header;
    fields without a declared area count by number, as before."""
    data = _data()
    extra = data.fields.iloc[[4]].assign(field_id="f6", crop="maize")
    data.fields = pd.concat([data.fields, extra], ignore_index=True).assign(
        declared_area_ha=[3.0, 4.0, 10.0, 6.5, 26.5, 8.0, 5.0])  # Fc: maize 6.5 + 5.0 ha, soybean 26.5 ha
    html = render_portfolio(data, tmp_path).read_text()
    decisions = html.split("<h2>Decisions")[1]
    crop = {r.split("</td>")[0].split(">")[-1]: r.split("</td>")[2].split(">")[-1] for r in decisions.split("<tr>")[2:]}
    assert crop == {"A1": "maize", "A2": "soybean", "A3": "soybean", "A4": "maize"}, crop
    assert "<th>crop (largest declared area)</th>" in decisions
    data.fields = data.fields.assign(declared_area_ha=np.nan)  # no area declared: the most fields, then the name
    decisions = render_portfolio(data, tmp_path / "b").read_text().split("<h2>Decisions")[1]
    assert [r.split("</td>")[2].split(">")[-1] for r in decisions.split("<tr>")[2:]][2] == "maize"


def _book(rows: list[tuple[str, str, str, int, int, int]], season: str = "2024") -> pd.DataFrame:
    """A Book (its contract's columns) of lines (line, application, farmer token, limit, drawn, outstanding)."""
    return pd.DataFrame({"line_id": [r[0] for r in rows], "application_id": [r[1] for r in rows],
                         "farmer_token": [r[2] for r in rows], "currency": "USD", "limit": [r[3] for r in rows],
                         "drawn": [r[4] for r in rows], "outstanding": [r[5] for r in rows],
                         "start_date": pd.Timestamp(f"{season}-04-01"),
                         "maturity_date": pd.Timestamp(f"{season}-12-31"),
                         "crop": "maize", "region": "us-nebraska", "season": season})


def test_portfolio_totals_the_book_and_lists_its_lines_without_a_decision(tmp_path: Path) -> None:
    """Active Book lines without an application of the season (re-underwriting skips them with a warning) were left
    off the page without a word, so its figures described a smaller Book (in the us-nebraska demo 3 lines, USD
    75,800 of limits, ~23% of the Book's, and 66,900 outstanding). The page states the Book's active lines, limits and
    outstanding, says how many it follows through their applications' records, and lists the others (no decision is
    made up for them)."""
    data = _data()
    data.book = _book([("L-1", "P1", "Fa", 6_000_000, 1_000_000, 1_100_000),  # the farmer's application: followed
                       ("L-4", "A4", "Fq", 2_000_000, 0, 0),  # by its application id: followed
                       ("L-7", "P7", "Fx", 1_300_000, 870_000, 890_000),
                       ("L-9", "P9", "Fz", 5_280_000, 5_130_000, 5_290_000)])
    html = render_portfolio(data, tmp_path).read_text()
    assert ("<p class='sub'>Book: 4 line(s) active on 2024-07-20, USD 145,800.00 of limits, USD 72,800.00 outstanding "
            "— 2 followed here through their applications' records, 2 without a decision of season 2024 "
            "(USD 65,800.00 of limits, USD 61,800.00 outstanding): in no other figure, table or map outcome of this "
            "page, listed under Book lines without a decision</p>") in html
    assert "4 applications, 6 fields" in html  # no decision made up for them
    expo = html.split("<h2>Exposure by crop")[1].split("<h2>")[0]
    assert "not in it: the 2 Book line(s) without a decision of the season (USD 65,800.00 of limits" in expo
    section = html.split("<h2>Book lines without a decision of season 2024</h2>")[1].split("<h2>")[0]
    assert "2 active Book line(s) with no record of the season in the store" in section
    rows = section.split("<tr>")[2:]
    assert [r.split("</td>")[0].split(">")[-1] for r in rows] == ["L-7", "L-9"]
    assert all(x in rows[1] for x in (">P9<", ">Fz<", ">maize<", "USD 52,800.00", "USD 51,300.00", "USD 52,900.00",
                                      ">2024-04-01<", ">2024-12-31<"))
    for h2 in ("Decisions", "Proposed actions", "Limits changed"):
        other = html.split(f"<h2>{h2}")[1].split("<h2>")[0]
        assert "L-7" not in other and ">Fx<" not in other, h2
    data.book = data.book.iloc[:2]  # every line followed: said, no table
    html = render_portfolio(data, tmp_path / "b").read_text()
    assert "Book: 2 line(s) active on 2024-07-20, USD 80,000.00 of limits, USD 11,000.00 outstanding — each " \
           "followed here through its application's records" in html and "Book lines without" not in html
    data.book = pd.DataFrame()  # no Book given (report --fields): nothing said of one
    assert "Book" not in render_portfolio(data, tmp_path / "c").read_text().split("<h2>")[0]


def test_a_line_without_a_decision_names_the_high_alerts_on_its_farmers_fields(tmp_path: Path) -> None:
    """A live Book line without an application of the season (re-underwriting skips it) whose farmer's maize failed
    in July: the failure was in monitor's list only — the page's exposure at risk and proposed actions leave such a
    line out, and nothing proposed a review (an operations audit, us-nebraska seed 31: USD 10,100 outstanding). Its
    row names the open high-severity alerts, and the section says how many lines have one."""
    data = _data()
    extra = gpd.GeoDataFrame({"field_id": ["f9"], "season": "2024", "farmer_token": ["Fz"], "crop": ["maize"],
                              "region": "us-nebraska", "geometry": [box(501_400, 4_480_000, 501_700, 4_480_300)]},
                             crs=32614)
    data.fields = pd.concat([data.fields, extra], ignore_index=True)
    data.alerts = pd.concat([data.alerts, pd.DataFrame({
        "field_id": ["f9", "f9"], "alert": ["CROP_FAILURE", "WATCH"], "severity": ["high", "medium"],
        "date": [pd.Timestamp("2024-07-15")] * 2, "evidence": ["{}"] * 2})], ignore_index=True)
    data.book = _book([("L-1", "P1", "Fa", 6_000_000, 1_000_000, 1_100_000),
                       ("L-7", "P7", "Fx", 1_300_000, 870_000, 890_000),
                       ("L-9", "P9", "Fz", 5_280_000, 5_130_000, 5_290_000)])
    html = render_portfolio(data, tmp_path).read_text()
    section = html.split("<h2>Book lines without a decision of season 2024</h2>")[1].split("<h2>")[0]
    assert ("nothing is decided for them here — 1 with an open high-severity alert on their farmer's fields, for "
            "an analyst to review (no action is proposed for a line without a decision)") in section
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in section.split("<tr>")[2:]}
    assert ">CROP_FAILURE (f9)<" in rows["L-9"] and "WATCH" not in rows["L-9"]
    assert "CROP_FAILURE" not in rows["L-7"]


def test_a_held_farmers_alert_says_the_farmer_is_held_in_place_of_a_line(tmp_path: Path) -> None:
    """(H3) With --rejects, an alert on a held farmer's other field (a row of theirs set aside: their fields are not
    decided) showed an empty line cell on the pages and said nothing of why. Now the cell says the farmer is held by
    the fields file's rejected row; another farmer's alert keeps its line."""
    from features.fields import SetAside

    data = _data()
    data.alerts = pd.DataFrame({"field_id": ["f3", "f0"], "alert": ["WATCH", "WATCH"], "severity": ["medium"] * 2,
                                "date": [pd.Timestamp("2024-07-10")] * 2, "line_id": [None, "L-1"],
                                "evidence": ["{}"] * 2})
    data.set_aside = [SetAside(row="fields.gpkg row 5", field_id="f4", season="2024", farmer_token="Fc",
                               reason="declared_crop 'maise' is not a known crop", position=4)]
    held = "farmer held: the fields file&#x27;s rejected row f4 (--rejects): their fields are not decided"
    alerts = render_portfolio(data, tmp_path).read_text().split("<h2>Alerts</h2>")[1].split("<h2>")[0]
    assert f"<td>f3</td><td>{held}</td>" in alerts and "<td>f0</td><td>L-1</td>" in alerts, alerts
    farmer = render_farmer(data, "Fc", tmp_path).read_text().split("<h2>Alerts</h2>")[1]
    assert held in farmer, farmer


def test_the_farmer_page_of_a_kept_line_names_the_fields_the_models_could_not_value(tmp_path: Path) -> None:
    """A line kept at a re-underwriting whose models valued some of its fields said "the models could not value the
    fields then" (an audit: 2 of 3 fields valued); the farmer page names the fields they could not value and says
    the indicative limit on the others leaves them out, as `explain` words it (pipelines.reunderwrite.unvalued_text)."""
    data = _data()
    kept = {"policy": {"parameters": {"keep_unvalued_lines": True, "kept_lines_stand": True}},
            "reunderwrite": {"line_id": "L-1", "previous_limit": 4_000_000, "book_limit": 5_000_000,
                             "outstanding": 100, "proposed_actions": [], "not_reestimated": ["OUT_OF_MODEL_SCOPE"]},
            "fields": [{"field_id": "f1", "included": True, "area_used_ha": 10.0},
                       {"field_id": "f7", "included": False, "exclusion_code": "OUT_OF_MODEL_SCOPE",
                        "area_used_ha": 33.0}]}
    recs = data.decisions.assign(record_id=[f"R{i}" for i in range(5)], kind=["decision"] * 4 + ["reunderwrite"],
                                 supersedes=[None, None, None, None, "R0"])
    extra = pd.DataFrame({"application_id": ["A1"], "farmer_token": ["Fa"], "season": "2024", "as_of": ["2024-08-01"],
                          "outcome": ["REFER"], "limit": [0], "currency": "USD", "reason_codes": ["OUT_OF_MODEL_SCOPE"],
                          "body": [json.dumps(kept)], "record_id": ["R5"], "kind": ["reunderwrite"],
                          "supersedes": ["R4"]})
    data.decisions = pd.concat([recs, extra], ignore_index=True)
    farmer = render_farmer(data, "Fa", tmp_path).read_text()
    assert ("the models could not value f7 (OUT_OF_MODEL_SCOPE, 33.00 ha) as of 2024-08-01; they valued the other 1 "
            "field(s) only, and a limit on those leaves the rest&#x27;s value and income out; the line is kept as it "
            "stands") in farmer


def test_a_farmers_curves_mark_only_their_own_records_and_the_header_says_the_curves_last_date(
        tmp_path: Path) -> None:
    """A review: a farmer's page (a DECLINE, never re-underwritten) drew "re-underwrite" marks at the dates of other
    farmers' re-underwritings, and gained an "override" mark when another farmer's line was overridden; its header
    said "As of" the record's date above curves running months beyond it. Now only the farmer's own records' dates
    are marked, and the header gives the curves' last observation."""
    data = _data()
    data.decisions = pd.concat([data.decisions, pd.DataFrame({
        "application_id": ["A2", "A3"], "farmer_token": ["Fb", "Fc"], "season": "2024",
        "as_of": ["2024-08-15", "2024-09-01"], "outcome": ["REDUCE", "APPROVE"], "limit": [2_000_000, 1_000_000],
        "currency": "USD", "reason_codes": ["", ""], "body": ["{}", "{}"], "kind": ["reunderwrite", "override"]})],
        ignore_index=True)
    data.decisions["kind"] = data.decisions["kind"].fillna("decision")
    page = render_farmer(data, "Fa", tmp_path).read_text()
    curve = page.split("<h2>NDVI against the expected band</h2>")[1].split("<h2>")[0]
    assert curve.count(">decision</text>") == 2 * 2  # Fa's two records' dates, on each of their two fields' curves
    assert "re-underwrite" not in curve and "override" not in curve
    assert "Latest record shown: as of 2024-07-20; the NDVI curves run to 2024-07-30 (their last observation)" \
        in page, page.split("</h1>")[1][:300]
    other = render_farmer(data, "Fb", tmp_path).read_text().split("<h2>NDVI against the expected band</h2>")[1]
    assert ">re-underwrite</text>" in other and "override" not in other.split("<h2>")[0]
    assert "the NDVI curves run to" not in render_portfolio(data, tmp_path).read_text()


def test_a_farmers_page_headlines_an_override_as_the_analysts(tmp_path: Path) -> None:
    """A review: after `override A2009-00002 --limit 20000 …` the farmer's page headlined "REDUCE limit INR
    20,000.00 …; reasons: INSUFFICIENT_CLEAR_IMAGERY,…" (the replaced REFER's reasons); who overrode it, who approved
    it and why were only in the raw record. The headline now says it is an analyst's override of the REFER, dated, by
    whom, approved by whom, with the reason escaped as `explain` prints it (one line, HTML-escaped)."""
    data = _data()
    body = {"override": {"original_record_id": "r-1", "original_limit": 0, "original_outcome": "REFER",
                         "limit": 2_000_000, "outcome": "REDUCE", "reason": "visit <confirmed>\ncrop",
                         "operator": "an1", "approver": "cro1", "as_of": "2024-07-25"}}
    data.decisions = pd.concat([data.decisions, pd.DataFrame({
        "application_id": ["A3"], "farmer_token": ["Fc"], "season": "2024", "as_of": ["2024-07-25"],
        "outcome": ["REDUCE"], "limit": [2_000_000], "currency": "USD", "reason_codes": ["PARCEL_OVERLAP_CLAIM"],
        "body": [json.dumps(body)], "kind": ["override"]})], ignore_index=True)
    page = render_farmer(data, "Fc", tmp_path).read_text()
    h2 = page.split("<h2>Decision A3: ")[1].split("<h3>")[0]
    assert "limit USD 20,000.00 — an analyst's override of REFER USD 0.00</h2>" in h2, h2
    assert ("as of 2024-07-25: an analyst&#x27;s override dated 2024-07-25 of REFER USD 0.00 (record r-1), by an1, "
            "approved by cro1; reason: visit &lt;confirmed&gt;\\ncrop; the replaced record's reasons: "
            "PARCEL_OVERLAP_CLAIM</p>") in h2, h2
