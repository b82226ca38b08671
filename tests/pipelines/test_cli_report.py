"""``agcredit report portfolio|farmer`` on the tiny county with stored records; the pages in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.county import County
from pipelines.monitor import AlertParams
from pipelines.report import build_report_data_county, render_farmer
from tests.pipelines.test_report import check_in_chromium
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore, record_id_for


def _item(app_id: str, token: str, as_of: str, limit: int, outcome: str, *, kind: str = "decision",
          supersedes: str | None = None, codes: tuple[str, ...] = (), currency: str = "INR") -> DecisionItem:
    body = {"computation": {"collateral_limit": limit, "cash_flow_limit": limit + 100_000, "limit": limit},
            "reasons": [{"code": c, "reduction": 1000, "text": c.lower()} for c in codes], "outcome": outcome}
    return DecisionItem(idempotency_key=f"{app_id}|{as_of}|{kind}", application_id=app_id, farmer_token=token,
                        season="2009", as_of=as_of, outcome=outcome, limit=limit, currency=currency, reason_codes=codes,
                        body=body, kind=kind, supersedes=supersedes)


@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with a first decision per farmer of the tiny county and one re-underwriting that cut a limit."""
    import os

    os.environ["AGCREDIT_TOKEN_KEY"] = "test-token-key-0123456789"  # the key every test runs with (conftest), whatever the shell exports  # module fixtures run before conftest's
    tmp = tmp_path_factory.mktemp("cli-report")
    # the series cache of the tiny county, shared with test_reunderwrite (atomic writes; same session)
    county = County(tiny_county_sh, cache_dir=tmp_path_factory.getbasetemp() / "tiny-county-series-cache")
    tokens = sorted(county.fields(county.current_season)["farmer_token"].unique())
    outcomes = ("APPROVE", "REDUCE", "REFER", "DECLINE")
    first = [_item(f"A{i}", t, "2009-08-01", 0 if outcomes[i % 4] in ("REFER", "DECLINE") else 5_000_000 + 100_000 * i,
                   outcomes[i % 4]) for i, t in enumerate(tokens)]
    url = f"sqlite:///{tmp / 'decisions.db'}"
    with DecisionStore(url) as st:
        st.append(first, operator="underwriter")
        st.append([_item("A0", tokens[0], "2009-09-15", 3_000_000, "REDUCE", kind="reunderwrite",
                         supersedes=record_id_for(first[0].idempotency_key), codes=("CROP_CONDITION_DETERIORATED",))],
                  operator="reunderwrite")
    return {"county": county, "url": url, "tokens": tokens, "tmp": tmp}


def test_build_report_data_from_store_and_series(world: dict[str, Any]) -> None:
    data = build_report_data_county(world["county"], store=world["url"])
    assert data.season == "2009" and data.synthetic
    assert len(data.decisions) == len(world["tokens"]) + 1
    assert [label for _, label in data.checkpoints] == ["decision", "re-underwrite"]
    assert data.obs["date"].max() <= __import__("pandas").Timestamp("2009-09-15")  # nothing after the last as-of
    assert set(data.fields["field_id"]) == set(world["county"].fields("2009")["field_id"])
    dense = __import__("pipelines.report", fromlist=["build_report_data"]).build_report_data(
        store=world["url"], fields=world["county"].fields(), series=world["county"].series("2009"),
        history=world["county"].series("2008"), params=AlertParams(min_band_fields=1))
    assert len(dense.bands) > 0
    page = render_farmer(dense, world["tokens"][0], world["tmp"] / "lib")
    assert 'class="band"' in page.read_text()


def test_cli_pages(world: dict[str, Any]) -> None:
    runner = CliRunner()
    out = world["tmp"] / "pages"
    common = ["--county", str(world["county"].path), "--cache", str(world["county"].cache_dir), "--store", world["url"],
              "--out", str(out)]
    r = runner.invoke(app, ["report", "portfolio", *common])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "portfolio-2009.html" in r.stdout
    token = world["tokens"][0]
    f = runner.invoke(app, ["report", "farmer", token, *common])
    assert f.exit_code == 0, f.stdout + f.stderr
    portfolio, farmer = out / "portfolio-2009.html", out / f"farmer-{token}.html"
    html = portfolio.read_text()
    assert "CROP_CONDITION_DETERIORATED" in html and "INR 50,000.00" in html  # the change since the last checkpoint
    for page in (portfolio, farmer):
        text = page.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "<script" not in text and "http://" not in text and "https://" not in text
    assert 'class="obs"' in farmer.read_text()
    missing = runner.invoke(app, ["report", "farmer", "Fnobody", *common])
    assert missing.exit_code == 2 and "no decision for the farmer given" in missing.stderr
    assert "Fnobody" not in missing.stdout + missing.stderr
    bad = runner.invoke(app, ["report", "portfolio", "--out", str(out), "--store", world["url"]])
    assert bad.exit_code == 2 and "give --county DIR" in bad.stderr


@pytest.mark.parametrize("typed", ["Kakaka", "dalo", "Wenteda"])
def test_cli_report_farmer_never_echoes_a_word_matching_no_farmer(world: dict[str, Any], tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture, typed: str) -> None:
    """A one-word TOKEN matching no farmer was echoed ("no decision for farmer Kakaka"): a bank's tokens may be any
    word, and an analyst may type a farmer's surname or first name there. It is named nowhere — stdout, stderr, the
    logs, the output folder — the message says what to give and how to list the tokens; exit 2."""
    import logging

    caplog.set_level(logging.DEBUG)
    out = tmp_path / "pages"
    res = CliRunner().invoke(app, ["report", "farmer", typed, "--county", str(world["county"].path), "--cache", str(world["county"].cache_dir), "--store",
                                   world["url"], "--out", str(out)])
    assert res.exit_code == 2, res.stdout + res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    said = res.stdout + res.stderr + caplog.text
    assert typed.casefold() not in said.casefold()
    assert "no decision for the farmer given in season 2009" in res.stderr
    assert f"matches none of the {len(world['tokens'])} farmer tokens of the data" in res.stderr
    assert "list them with `agcredit decisions export --out FILE` (column farmer_token)" in res.stderr
    assert not any(typed in p.name for p in tmp_path.rglob("*"))


def test_cli_pages_in_headless_chromium(world: dict[str, Any], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "pages"
    common = ["--county", str(world["county"].path), "--cache", str(world["county"].cache_dir), "--store", world["url"],
              "--out", str(out)]
    assert runner.invoke(app, ["report", "portfolio", *common]).exit_code == 0
    # the portfolio page: map, bars; the farmer page from the library with bands (the tiny county has too few
    # fields per crop for the default band), to exercise curves and bands in the browser too
    from pipelines.report import build_report_data

    dense = build_report_data(store=world["url"], fields=world["county"].fields(),
                              series=world["county"].series("2009"), history=world["county"].series("2008"),
                              params=AlertParams(min_band_fields=1))
    farmer = render_farmer(dense, world["tokens"][0], out)
    check_in_chromium([out / "portfolio-2009.html", farmer], tmp_path, prefix="cli-")


def test_cli_fields_reports_only_its_farmers_and_refuses_mixed_currencies(world: dict[str, Any]) -> None:
    """`report portfolio --fields F` reported every record of the season in the store (another county's farmers
    too), and a page whose decisions held INR and USD labelled every sum with the first record's currency. Now only
    the decisions of the farmers in F, and more than one currency is refused in one line naming them (exit 2,
    nothing written)."""
    runner = CliRunner()
    tmp = world["tmp"] / "foreign"
    url = f"sqlite:///{tmp / 'decisions.db'}"
    tmp.mkdir()
    tokens = world["tokens"]
    with DecisionStore(url) as st:
        st.append([_item(f"A{i}", t, "2009-08-01", 5_000_000, "APPROVE") for i, t in enumerate(tokens)]
                  + [_item("B1", "Fzz0000000000000000", "2009-08-01", 7_700_000, "APPROVE")], operator="underwriter")
    fields = str(world["county"].path / "records" / "fields.gpkg")
    out = tmp / "pages"
    r = runner.invoke(app, ["report", "portfolio", "--fields", fields, "--store", url, "--out", str(out)])
    assert r.exit_code == 0, r.stdout + r.stderr
    html = (out / "portfolio-2009.html").read_text()
    assert "Fzz0000000000000000" not in html and ">B1<" not in html and "INR 77,000.00" not in html
    assert f"{len(tokens)} applications" in html
    usd = _item("B2", tokens[0], "2009-08-01", 100, "APPROVE", currency="USD")
    with DecisionStore(url) as st:
        st.append([usd], operator="underwriter")
    out2 = tmp / "pages2"
    m = runner.invoke(app, ["report", "portfolio", "--fields", fields, "--store", url, "--out", str(out2)])
    assert m.exit_code == 2 and "more than one currency (INR, USD)" in m.stderr, m.stdout + m.stderr
    assert len(m.stderr.strip().splitlines()) == 1 and "Traceback" not in m.stderr
    assert not out2.exists() or not any(out2.iterdir())


def test_cli_refuses_an_as_of_after_today(world: dict[str, Any], tmp_path: Path) -> None:
    """`report portfolio --as-of 2031-01-01` wrote a page with alerts 'raised' on that future day (exit 0) while
    `monitor` refuses a date after today: refused the same way (one line, exit 2, nothing written)."""
    from datetime import date, timedelta

    runner = CliRunner()
    future = (date.today() + timedelta(days=1)).isoformat()
    out = tmp_path / "pages"
    src = {"county": ["--county", str(world["county"].path), "--cache", str(world["county"].cache_dir)],
           "fields": ["--fields", str(world["county"].path / "records" / "fields.gpkg")]}
    for how, args in src.items():
        for cmd in (["portfolio"], ["farmer", world["tokens"][0]]):
            r = runner.invoke(app, ["report", *cmd, *args, "--store", world["url"], "--out", str(out),
                                    "--as-of", future])
            assert r.exit_code == 2, (how, cmd, r.stdout + r.stderr)
            assert r.stderr.strip() == f"error: --as-of {future} is after today ({date.today()}): nothing can be " \
                                       "observed or decided as of a future date", (how, cmd, r.stderr)
    assert not out.exists() or not any(out.iterdir())


def test_cli_fields_of_a_synthetic_county_carry_the_banner(world: dict[str, Any], tmp_path: Path) -> None:
    """`report portfolio|farmer --fields <county>/records/fields.gpkg` of a synthetic county had no synthetic-data
    banner (only --county set it): the county.json of the folder the fields file sits in is read as --county
    reads it; a fields file elsewhere has none."""
    import shutil

    runner = CliRunner()
    src = world["county"].path / "records" / "fields.gpkg"
    alone = tmp_path / "alone" / "fields.gpkg"
    alone.parent.mkdir()
    shutil.copy(src, alone)
    for fields, banner in ((src, True), (alone, False)):
        out = tmp_path / ("in" if banner else "out")
        for cmd in (["portfolio"], ["farmer", world["tokens"][0]]):
            r = runner.invoke(app, ["report", *cmd, "--fields", str(fields), "--store", world["url"], "--out", str(out)])
            assert r.exit_code == 0, r.stdout + r.stderr
        for page in out.iterdir():
            assert ("Synthetic demo data" in page.read_text()) is banner, page


def test_report_alerts_name_the_decided_lines(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Alerts on lines granted without a Book entry showed no line in the report, while `monitor --store` names
    them D-<application>: the report's alerts get the same lines."""
    import pipelines.monitor as mon
    from pipelines.report import build_report_data

    seen: dict[str, Any] = {}
    real = mon.season_alerts

    def spy(*a: Any, **kw: Any) -> Any:
        seen["book"] = kw.get("book")
        return real(*a, **kw)

    monkeypatch.setattr(mon, "season_alerts", spy)
    build_report_data(store=world["url"], fields=world["county"].fields(), series=world["county"].series("2009"),
                      history=world["county"].series("2008"), params=AlertParams(min_band_fields=1))
    lines = set(seen["book"]["line_id"].astype(str))
    assert lines and all(x.startswith("D-A") for x in lines)  # the tiny county's approvals, no Book


def test_cli_fields_rejected_or_repaired_when_reading_are_said(world: dict[str, Any], tmp_path: Path) -> None:
    """`report portfolio --fields F` left a field with an empty geometry off the map and out of its count without a
    word (features build, underwrite, value and series warn): a warning names it, as they do."""
    import geopandas as gpd
    import shapely

    src = gpd.read_file(world["county"].path / "records" / "fields.gpkg")
    row = src.index[src["season"].astype(str) == "2009"][0]
    gone = str(src.loc[row, "field_id"])
    src.loc[row, "geometry"] = shapely.Polygon()
    bad = tmp_path / "fields.gpkg"
    src.to_file(bad)
    r = CliRunner().invoke(app, ["report", "portfolio", "--fields", str(bad), "--store", world["url"],
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"warning: 1 field(s) rejected when reading fields.gpkg: {gone}/2009 (" in r.stderr


def test_report_data_carries_the_books_active_lines_of_the_season(world: dict[str, Any], tmp_path: Path) -> None:
    """The Book given to build_report_data named the alerts' lines only: the page could not say which of its active
    lines no record decides. Its lines of the season active on the report's date are kept (not the decided lines
    added for the alerts, not another season's nor a matured line) and the page lists the undecided one."""
    import pandas as pd

    from pipelines.report import build_report_data, render_portfolio

    tok = world["tokens"]
    book = pd.DataFrame({"line_id": ["L-a", "L-b", "L-c", "L-d"], "application_id": ["P0", "P9", "P8", "P7"],
                         "farmer_token": [tok[0], "Fq0000000000000000001", "Fq0000000000000000002", tok[1]],
                         "currency": "INR", "limit": [6_000_000, 1_300_000, 900_000, 500_000],
                         "drawn": [0, 870_000, 0, 0], "outstanding": [0, 890_000, 0, 0],
                         "start_date": pd.to_datetime(["2009-06-01", "2009-06-01", "2008-06-01", "2009-06-01"]),
                         "maturity_date": pd.to_datetime(["2010-03-01", "2010-03-01", "2009-03-01", "2009-09-01"]),
                         "crop": "rice", "region": "in-smallholder", "season": ["2009", "2009", "2008", "2009"]})
    data = build_report_data(store=world["url"], fields=world["county"].fields(), book=book)
    assert data.book["line_id"].tolist() == ["L-a", "L-b"]  # L-c: season 2008; L-d: matured before 2009-09-15
    html = render_portfolio(data, tmp_path).read_text()
    assert "Book: 2 line(s) active on 2009-09-15, INR 73,000.00 of limits, INR 8,900.00 outstanding" in html
    section = html.split("<h2>Book lines without a decision of season 2009</h2>")[1].split("<h2>")[0]
    assert ">L-b<" in section and ">L-a<" not in section


def test_cli_fields_of_an_unlabelled_county_carry_a_banner(world: dict[str, Any], tmp_path: Path) -> None:
    """A fields file in a county folder whose county.json has no ``synthetic`` flag is unlabelled, as the evaluate
    commands label it (never taken for real): the pages warn so; ``"synthetic": false`` (real) has no banner."""
    import json
    import shutil

    runner = CliRunner()
    src = world["county"].path / "records" / "fields.gpkg"
    meta = json.loads((world["county"].path / "county.json").read_text())
    for name, flag, banner in (("nolabel", None, "Unlabelled data"), ("real", False, None)):
        folder = tmp_path / name
        (folder / "records").mkdir(parents=True)
        shutil.copy(src, folder / "records" / "fields.gpkg")
        doc = {k: v for k, v in meta.items() if k != "synthetic"} | ({} if flag is None else {"synthetic": flag})
        (folder / "county.json").write_text(json.dumps(doc))
        out = tmp_path / f"out-{name}"
        for cmd in (["portfolio"], ["farmer", world["tokens"][0]]):
            r = runner.invoke(app, ["report", *cmd, "--fields", str(folder / "records" / "fields.gpkg"), "--store",
                                    world["url"], "--out", str(out)])
            assert r.exit_code == 0, r.stdout + r.stderr
        for page in out.iterdir():
            text = page.read_text()
            assert "Synthetic demo data" not in text, page
            assert ("Unlabelled data" in text) is (banner is not None), page


def test_cli_fields_rejects_sets_bad_rows_aside_and_the_pages_name_them(world: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    """`report portfolio|farmer --fields` had no --rejects: one bad row (an unknown crop) refused the whole file.
    With `--rejects PATH` the row is written there, the pages drawn from the rest and both name the row set aside
    (the farmer's page only its own); exit 1 (partial), as the other runs. With --county: refused, one line."""
    import geopandas as gpd
    import pandas as pd

    from features.fields import read_fields

    src = world["county"].path / "records" / "fields.gpkg"
    now = read_fields(src, season="2009").fields
    fid, tok = str(now["field_id"].iloc[0]), str(now["farmer_token"].iloc[0])
    gdf = gpd.read_file(src)
    gdf.loc[(gdf["season"].astype(str) == "2009") & (gdf["field_id"].astype(str) == fid), "declared_crop"] = "maise"
    bad = tmp_path / "fields.gpkg"
    gdf.to_file(bad)
    runner = CliRunner()
    rej = tmp_path / "rejects.csv"
    base = ["--fields", str(bad), "--store", world["url"], "--out", str(tmp_path / "out")]
    r = runner.invoke(app, ["report", "portfolio", *base])
    assert r.exit_code == 2 and "maise" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    other = next(t for t in world["tokens"] if t != tok)
    for cmd, page in ((["portfolio"], "portfolio-2009.html"), (["farmer", tok], f"farmer-{tok}.html"),
                      (["farmer", other], f"farmer-{other}.html")):
        r = runner.invoke(app, ["report", *cmd, *base, "--rejects", str(rej)])
        assert r.exit_code == 1, r.stdout + r.stderr
        assert f"1 rows rejected (see {rej}); fields set aside, named on the page: {fid}" in r.stdout, r.stdout
        html = (tmp_path / "out" / page).read_text()
        named = "1 row(s) of the fields file set aside (--rejects)" in html and f"{fid}: declared_crop" in html
        assert named == (cmd[-1] != other), page
    assert pd.read_csv(rej, dtype=str)["field_id"].tolist() == [fid]
    r = runner.invoke(app, ["report", "portfolio", "--county", str(world["county"].path), "--store", world["url"],
                            "--out", str(tmp_path / "c"), "--rejects", str(rej)])
    assert r.exit_code == 2 and "--rejects is for --fields runs" in r.stderr, r.stderr


def _refused_before_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the registry is opened or the report computed (store, series, scenes)."""
    import pipelines._cli_report
    import pipelines.report

    def computed(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the report was computed before its output names were checked")

    monkeypatch.setattr(pipelines._cli_report, "_champion_crop_model", computed)
    monkeypatch.setattr(pipelines.report, "build_report_data", computed)
    monkeypatch.setattr(pipelines.report, "build_report_data_county", computed)
    monkeypatch.setattr(County, "series", computed)
    monkeypatch.setattr(County, "past_series", computed)


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize("blocked", ["out/portfolio-2009.html", "csv/alerts-2009.csv", "out/farmer-{token}.html",
                                     "out/farmer-{token}.html by application"])
def test_cli_refuses_an_unwritable_output_name_before_the_report_is_computed(
        world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocked: str) -> None:
    """Without --season the page's (and --csv tables') own names were checked only after the registry, the store
    and the scenes were read (~30 s on the demo): a folder where portfolio-<season>.html or a table should be was
    refused at the end. They are checked as soon as the season is known (the county's): one line, exit 2, nothing
    computed, nothing written. The farmer's page likewise, once TOKEN is known to be a farmer token of the fields —
    or, given an application id, once the store's records name its farmer (it was found only when writing)."""
    by_app = blocked.endswith(" by application")
    blocked = blocked.removesuffix(" by application")
    token = world["tokens"][1 if by_app else 0]
    (tmp_path / blocked.format(token=token)).mkdir(parents=True)
    before = _files(tmp_path)
    _refused_before_computing(monkeypatch)
    cmd = (["farmer", "A1" if by_app else token] if "farmer" in blocked
           else ["portfolio", "--csv", str(tmp_path / "csv")])
    r = CliRunner().invoke(app, ["report", *cmd, "--county", str(world["county"].path), "--store", world["url"],
                                 "--out", str(tmp_path / "out")])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "Traceback" not in r.output and r.stderr.count("\n") == 1, r.stderr
    what = "report --csv" if "csv" in blocked else "report"
    assert r.stderr.strip() == (f"error: {tmp_path / blocked.format(token=token)}: the {what} is a folder (expected a "
                                "file path)")
    assert _files(tmp_path) == before


def test_cli_fields_refuses_an_unwritable_page_before_writing_the_rejects(
        world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--fields without --season: the season is the fields file's latest, and the page's name is checked then —
    before the registry, the store or a scene is read, and before the --rejects file is written (it was written,
    then the run refused at the end: a rejects file of a run that wrote nothing)."""
    (tmp_path / "out" / "portfolio-2009.html").mkdir(parents=True)
    before = _files(tmp_path)
    _refused_before_computing(monkeypatch)
    r = CliRunner().invoke(app, ["report", "portfolio", "--fields", str(world["county"].path / "records" / "fields.gpkg"),
                                 "--store", world["url"], "--out", str(tmp_path / "out"),
                                 "--rejects", str(tmp_path / "rejects.csv")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr.strip() == (f"error: {tmp_path / 'out' / 'portfolio-2009.html'}: the report is a folder "
                                "(expected a file path)")
    assert _files(tmp_path) == before


def test_cli_farmer_never_names_a_token_matching_no_farmer_in_an_out_error(
        world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The farmer's page's own name is checked early only for a farmer token of the fields: a word matching no farmer
    (a surname typed there) is never put in a path of an error; its folder is checked (read first)."""
    (tmp_path / "out").write_text("a file where the folder should be")
    _refused_before_computing(monkeypatch)
    r = CliRunner().invoke(app, ["report", "farmer", "Kakaka", "--county", str(world["county"].path), "--store",
                                 world["url"], "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "Kakaka" not in r.output and "is a file, expected a folder" in r.stderr


@pytest.mark.parametrize("cmd", [["report", "portfolio"], ["report", "farmer", "A2009-00001"], ["monitor"]])
def test_a_run_refused_after_writing_its_rejects_puts_the_file_back(world: dict[str, Any], tmp_path: Path,
                                                                  cmd: list[str]) -> None:
    """A refused run (here: a store that is not there, found after the fields were read) left its rejects file — of
    rows a page or an alert list never made used — and wrote over an earlier one (a walkthrough; `underwrite` and
    `reunderwrite` put theirs back already)."""
    import geopandas as gpd

    gdf = gpd.read_file(world["county"].path / "records" / "fields.gpkg")
    gdf.loc[gdf.index[gdf["season"].astype(str) == "2009"][0], "declared_crop"] = "maise"
    bad = tmp_path / "fields.gpkg"
    gdf.to_file(bad)
    args = [*cmd, "--fields", str(bad), "--store", f"sqlite:///{tmp_path / 'none.db'}"] + (
        ["--as-of", "2009-10-25", "--crop-model", "none", "--imagery", str(world["county"].path / "scenes")]
        if cmd == ["monitor"] else ["--out", str(tmp_path / "o")])
    rej = tmp_path / "rejects.csv"
    for before in (None, b"an earlier run's rejects\n"):
        if before is not None:
            rej.write_bytes(before)
        r = CliRunner().invoke(app, [*args, "--rejects", str(rej)])
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.exit_code == 2 and len(errors) == 1 and "none.db" in errors[0] and "Traceback" not in r.output, r.output
        assert (rej.read_bytes() if rej.exists() else None) == before


def test_the_pages_do_not_depend_on_the_fields_files_row_order(world: dict[str, Any], tmp_path: Path) -> None:
    """The map and the curves were drawn in the file's row order: the same fields shuffled gave other page bytes
    (a walkthrough; the CSV tables were the same)."""
    import geopandas as gpd

    gdf = gpd.read_file(world["county"].path / "records" / "fields.gpkg")
    pages = []
    for i, rows in enumerate((gdf, gdf.sample(frac=1.0, random_state=3))):
        f = tmp_path / f"fields{i}.gpkg"
        rows.to_file(f)
        out = tmp_path / f"out{i}"
        r = CliRunner().invoke(app, ["report", "portfolio", "--fields", str(f), "--store", world["url"], "--out",
                                     str(out)])
        assert r.exit_code == 0, r.output
        pages.append((out / "portfolio-2009.html").read_bytes().replace(str(f).encode(), b"F"))
    assert pages[0] == pages[1]


def test_an_output_folder_whose_parent_is_missing_is_refused_before_any_work(tmp_path: Path) -> None:
    """A review: `report portfolio --out /tmp/nope/deeper/x` made the whole tree, exit 0. `evaluate report` and
    `models card` refuse a missing folder in one line; the report commands now refuse an --out (or --csv) folder
    whose parent is missing, in one line, before anything is read (the county here does not even exist), and
    create nothing."""
    gone = tmp_path / "nope" / "deeper"
    for argv, option in ((["report", "portfolio", "--county", str(tmp_path / "none"), "--out", str(gone / "x")], "out"),
                         (["report", "portfolio", "--county", str(tmp_path / "none"), "--out", str(tmp_path / "ok"),
                           "--csv", str(gone / "c")], "csv"),
                         (["report", "farmer", "A2009-00002", "--county", str(tmp_path / "none"), "--out",
                           str(gone / "x")], "out")):
        r = CliRunner().invoke(app, argv)
        assert r.exit_code == 2 and r.stderr.count("\n") == 1, (r.exit_code, r.stderr)
        want = f"--{option} {gone / ('c' if option == 'csv' else 'x')}: its parent folder {gone} does not exist"
        assert want in r.stderr, r.stderr
    assert not (tmp_path / "nope").exists() and not (tmp_path / "ok").exists()
