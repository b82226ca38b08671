"""``--rejects`` on the runs that read a fields file besides underwrite, features build and fields validate:
``monitor``, ``reunderwrite`` and ``report`` (``value``: tests/pipelines/test_underwrite.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.county import County

KEY = "test-token-key-0123456789"


def _typo(county: Path, tmp_path: Path, *, farmer_with_two: bool = True) -> tuple[Path, str, str]:
    """The county's fields file with one typo (an unknown crop) in a current-season field of a farmer with two or
    more fields that season: (the file, the field's id, the farmer's token)."""
    from features.fields import read_fields

    season = County(county).current_season
    src = county / "records" / "fields.gpkg"
    now = read_fields(src, season=season).fields  # with the farmers' tokens
    counts = now["farmer_token"].astype(str).value_counts()
    tok = str(counts[counts >= (2 if farmer_with_two else 1)].index.sort_values()[0])
    fid = sorted(now.loc[now["farmer_token"].astype(str) == tok, "field_id"].astype(str))[0]
    gdf = gpd.read_file(src)
    i = int(np.flatnonzero(((gdf["season"].astype(str) == season) & (gdf["field_id"].astype(str) == fid)).to_numpy())[0])
    gdf.loc[i, "declared_crop"] = "maise"
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad, driver="GPKG")
    return bad, fid, tok


def _refused_then_partial(runner: CliRunner, args: list[str], rejects: Path) -> Any:
    """The run of ``args`` on the file with a typo: refused without --rejects (one line, exit 2), partial with it
    (exit 1): its result."""
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "maise" in r.stderr, r.stderr
    r = runner.invoke(app, [*args, "--rejects", str(rejects)])
    assert r.exit_code == 1, r.stdout + r.stderr
    return r


def test_monitor_rejects_sets_bad_rows_aside_and_names_them(tiny_county_sh: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`monitor --fields` had no --rejects: one bad row refused the whole file. With `--rejects PATH` the row is
    written there, the rest monitored, the fields set aside named (on stderr with --json: stdout is the alerts'
    JSON lines); exit 1 (partial). --rejects with --county is refused (its fields are the county's records)."""
    import pipelines.monitor as mon

    seen: dict[str, Any] = {}

    def alerts(fields: Any, *_a: Any, **_k: Any) -> Any:
        seen["fields"] = fields
        return pd.DataFrame(columns=["date", "field_id", "alert", "severity", "line_id", "evidence"]), []

    monkeypatch.setattr(mon, "alerts_as_of", alerts)
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    bad, fid, _tok = _typo(tiny_county_sh, tmp_path)
    season = County(tiny_county_sh).current_season
    args = ["monitor", "--fields", str(bad), "--imagery", str(tiny_county_sh / "scenes"), "--as-of",
            f"{season}-09-15", "--crop-model", "none"]
    runner = CliRunner()
    rej = tmp_path / "rejects.csv"
    r = _refused_then_partial(runner, args, rej)
    assert f"1 rows rejected (see {rej}); fields set aside, not monitored: {fid}\n" in r.stdout, r.stdout
    assert "alerts: none" in r.stdout
    got = seen["fields"]
    mine = got[got["season"].astype(str) == season]
    assert fid not in set(mine["field_id"].astype(str)) and len(mine) > 1  # its other seasons' rows give the bands
    assert fid in set(got["field_id"].astype(str))
    assert pd.read_csv(rej, dtype=str)["field_id"].tolist() == [fid]
    r = runner.invoke(app, [*args, "--rejects", str(rej), "--json"])
    assert r.exit_code == 1 and r.stdout == "" and f"fields set aside, not monitored: {fid}" in r.stderr, r.stdout
    r = runner.invoke(app, ["monitor", "--county", str(tiny_county_sh), "--as-of", f"{season}-09-15",
                            "--rejects", str(rej)])
    assert r.exit_code == 2 and "--rejects is for --fields runs" in r.stderr, r.stderr
    r = runner.invoke(app, [*args, "--rejects", str(bad)])
    assert r.exit_code == 2 and "is the --fields file" in r.stderr, r.stderr


def test_monitor_refuses_a_field_whose_geometry_is_rejected_or_sets_it_aside(
        tiny_county_sh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`monitor --fields` left out a field whose geometry could not be used (a line, not a polygon) without a word,
    exit 0: its alerts, and the line they name, were gone (a walkthrough: 37 WATCH instead of 38). Refused now in one
    line naming it, as the deciding runs refuse it; --rejects sets it aside (exit 1)."""
    from shapely.geometry import LineString

    import pipelines.monitor as mon

    monkeypatch.setattr(mon, "alerts_as_of", lambda *_a, **_k: (
        pd.DataFrame(columns=["date", "field_id", "alert", "severity", "line_id", "evidence"]), []))
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    season = County(tiny_county_sh).current_season
    gdf = gpd.read_file(tiny_county_sh / "records" / "fields.gpkg")
    i = int(np.flatnonzero((gdf["season"].astype(str) == season).to_numpy())[0])
    fid = str(gdf.loc[i, "field_id"])
    x0, y0, x1, y1 = gdf.geometry.iloc[i].bounds
    gdf.loc[i, "geometry"] = LineString([(x0, y0), (x1, y1)])
    bad = tmp_path / "line.gpkg"
    gdf.to_file(bad, driver="GPKG")
    args = ["monitor", "--fields", str(bad), "--imagery", str(tiny_county_sh / "scenes"), "--as-of",
            f"{season}-09-15", "--crop-model", "none"]
    runner = CliRunner()
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stdout + r.stderr
    assert fid in r.stderr and "--rejects" in r.stderr and r.stdout == "", r.stderr
    r = runner.invoke(app, [*args, "--rejects", str(tmp_path / "rej.csv")])
    assert r.exit_code == 1 and f"fields set aside, not monitored: {fid}" in r.stdout, r.stdout + r.stderr


def _files_reunderwrite(county: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        run: Any) -> tuple[list[str], str]:
    """``reunderwrite --fields --as-of`` on the county's files with one typo (:func:`_typo`), ``run`` standing in for
    :func:`pipelines.reunderwrite.reunderwrite` and no series built: (its arguments, the bad row's field id)."""
    import features.series
    import pipelines._reunderwrite_inputs as inputs  # where reunderwrite_files looks reunderwrite up

    monkeypatch.setattr(inputs, "reunderwrite", run)
    monkeypatch.setattr(features.series, "build_series", lambda *_a, **_k: type("S", (), {"series": pd.DataFrame()}))
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    bad, fid, _tok = _typo(county, tmp_path)
    season = County(county).current_season
    rec = county / "records"
    return ["reunderwrite", "--fields", str(bad), "--imagery", str(county / "scenes"), "--book", str(rec / "book.csv"),
            "--applications", str(rec / "applications.csv"), "--as-of", f"{season}-09-15",
            "--store", f"sqlite:///{tmp_path / 's.db'}"], fid


def test_a_refused_reunderwrite_puts_its_rejects_file_back(tiny_county_sh: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """(2026-12-07, second.) The run writes the rejects file with its held lines, before checks that can still refuse
    it (the Book's balances, the models): a refused run, which stores nothing, left the file naming lines "held" by a
    run that re-decided none. Now it is put back as it was: absent, or its earlier bytes."""
    from features.errors import UserInputError

    def refused(**kw: Any) -> Any:
        Path(kw["rejects"]).write_text("held by a run that then failed\n")
        raise UserInputError("book.csv: line L-1 open on the day has no balance dated on or before it")

    rej = tmp_path / "rejects.csv"
    args = [*_files_reunderwrite(tiny_county_sh, tmp_path, monkeypatch, refused)[0], "--rejects", str(rej)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "no balance dated" in r.stderr and not rej.exists(), r.stdout + r.stderr
    rej.write_text("an earlier run's\n")
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and rej.read_text() == "an earlier run's\n", r.stdout + r.stderr


def test_reunderwrite_rejects_lists_the_held_lines_and_exits_1(tiny_county_sh: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --fields` had no --rejects: one bad row refused the whole file. With `--rejects PATH` the rows
    are set aside (every season's: the past ones give the alerts' bands) and passed to the run, which holds their
    farmers' lines (tests/pipelines/test_reunderwrite.py); the CLI names the fields set aside and the lines not
    re-underwritten, exit 1. --rejects with --county (or --due) is refused, one line."""
    import pipelines.reunderwrite as ru

    seen: dict[str, Any] = {}

    def fake(**kw: Any) -> Any:
        seen.update(kw)
        return ru.ReunderwriteResult(season=kw["season"], as_of=kw["as_of"], checkpoint="mid", items=[],
                                     changes=pd.DataFrame(columns=ru.CHANGE_COLUMNS), alerts=pd.DataFrame(),
                                     held_lines=[("L-1", "A-1")], set_aside=list(kw["set_aside"]))

    args, fid = _files_reunderwrite(tiny_county_sh, tmp_path, monkeypatch, fake)
    season = County(tiny_county_sh).current_season
    runner = CliRunner()
    rej = tmp_path / "rejects.csv"
    r = _refused_then_partial(runner, args, rej)
    assert [x.field_id for x in seen["set_aside"]] == [fid] and seen["rejects"] == rej
    mine = seen["fields"][seen["fields"]["season"].astype(str) == season]
    assert fid not in set(mine["field_id"].astype(str))
    assert f"1 rows rejected (see {rej}); fields set aside: {fid}\n" in r.stdout, r.stdout
    assert (f"1 line(s) not re-underwritten: their farmers' fields had rejected rows (see {rej}, column "
            "held_applications); their previous records stay in force — correct the rows and re-run to re-underwrite "
            "them: L-1 (A-1)") in r.stdout, r.stdout
    for extra in (["--county", str(tiny_county_sh), "--as-of", f"{season}-09-15"],
                  ["--county", str(tiny_county_sh), "--due"]):
        r = runner.invoke(app, ["reunderwrite", *extra, "--rejects", str(rej)])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "--rejects" in r.stderr, r.stderr
    r = runner.invoke(app, [*args, "--rejects", str(tiny_county_sh / "records" / "book.csv")])
    assert r.exit_code == 2 and "is the --book file" in r.stderr, r.stderr


def test_monitor_says_a_held_farmers_alerts_name_no_line_because_the_farmer_is_held(
        tiny_county_sh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(H3) An alert on a held farmer's other field (a row of theirs set aside: their fields are not decided) named
    no line and said nothing of why ("-" in the text table, line_id null in --json; the "no Book line covers these
    alerts" warning counted it). Now it says the farmer is held by the fields file's rejected row, in the text and
    in --json; another farmer's alert is as before."""
    import json

    import pipelines.monitor as mon

    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    bad, fid, tok = _typo(tiny_county_sh, tmp_path)
    season = County(tiny_county_sh).current_season

    def alerts(fields: Any, *_a: Any, **_k: Any) -> Any:
        now = fields[fields["season"].astype(str) == season]
        theirs = sorted(now.loc[now["farmer_token"].astype(str) == tok, "field_id"].astype(str))
        other = now[now["farmer_token"].astype(str) != tok].iloc[0]
        return pd.DataFrame({"date": [pd.Timestamp(f"{season}-08-01")] * 2, "field_id": [theirs[0], other["field_id"]],
                             "alert": ["WATCH", "WATCH"], "severity": ["medium"] * 2,
                             "farmer_token": [tok, str(other["farmer_token"])], "line_id": [None, "L-9"],
                             "evidence": ['{"ndvi_drop": 0.2}'] * 2}), []

    monkeypatch.setattr(mon, "alerts_as_of", alerts)
    args = ["monitor", "--fields", str(bad), "--imagery", str(tiny_county_sh / "scenes"), "--as-of",
            f"{season}-09-15", "--crop-model", "none", "--rejects", str(tmp_path / "rejects.csv")]
    runner = CliRunner()
    r = runner.invoke(app, args)
    assert r.exit_code == 1, r.stdout + r.stderr
    held = f"farmer held: the fields file's rejected row {fid} (--rejects): their fields are not decided"
    rows = [ln for ln in r.stdout.splitlines() if " WATCH " in ln and not ln.startswith("alerts:")]
    assert len(rows) == 2 and " held " in rows[0] and rows[0].endswith(held), rows
    assert " L-9 " in rows[1] and "held" not in rows[1], rows
    assert "name no line" not in r.stderr, r.stderr
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 1, r.stdout + r.stderr
    got = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert got[0]["line_id"] is None and got[0]["held"] == held and got[0]["farmer_token"] == tok
    assert got[1]["line_id"] == "L-9" and "held" not in got[1]
