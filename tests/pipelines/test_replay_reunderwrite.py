"""``agcredit audit replay --reunderwriting``: a checkpoint's re-underwriting records recomputed from the county with
the versions and policy they name, the store read as it was before them, nothing written."""

from __future__ import annotations

import gc
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.reunderwrite import ScoringModels, reunderwrite_county
from tests.pipelines._reunderwrite_world import build_world, store_copy
from underwriting.store import DecisionStore


@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The re-underwriting world, re-underwritten at mid and then at end (records after the mid ones)."""
    w = build_world(tiny_county_sh, tmp_path_factory, "replay-reunderwrite")
    c, season, cps = w["county"], w["season"], w["cps"]
    w["mid"] = reunderwrite_county(c, season, cps["mid"], store=w["url"], models=w["models"])
    w["end"] = reunderwrite_county(c, season, cps["end"], store=w["url"], models=w["models"])
    assert w["mid"].written > 0 and w["end"].written > 0
    return w


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _replay(world: dict[str, Any], url: str, day: str, *extra: str) -> Any:
    args = ["audit", "replay", "--reunderwriting", "--county", str(world["county"].path), "--cache",
            str(world["county"].cache_dir), "--as-of", day, "--store", url, *extra]
    return CliRunner().invoke(app, args)


def test_a_fresh_reunderwriting_replays_identical_and_nothing_is_written(world: dict[str, Any], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both checkpoints replay identical — mid although the end records came after it, end although an override came
    after it (its lines' previous records are read as the run read them) — and the store's folder is byte for byte
    as before: no record, no artifact."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    url = store_copy(world, tmp_path, "replay")
    before = _files(tmp_path)
    for name in ("mid", "end"):
        n = len(world[name].items)
        r = _replay(world, url, world["cps"][name].isoformat())
        assert r.exit_code == 0, r.output
        assert (f"replayed {n} re-underwritten line(s) as of {world['cps'][name]} with yield-value 3, "
                f"policy agcredit-default 2026.12.10: {n} identical, 0 reproduced, 0 differs, 0 not stored"
                ) in r.stdout, r.stdout
        lines = r.stdout.splitlines()[1:]
        assert len(lines) == n and all(" identical " in x for x in lines), r.stdout
    assert _files(tmp_path) == before
    # an analyst's override of an end record, written after it: the replay links to what the run read (the record
    # before), not to the override (read as "replaced since", the line was not re-decided: it differed)
    from underwriting.override import override

    app_id = world["end"].items[0].application_id
    with DecisionStore(url) as st:
        cur = st.latest(app_id)
        assert cur is not None and cur.kind == "reunderwrite"
        override(st, app_id, "20000", "field visit", "analyst-1", approver="manager-1")
        assert st.latest(app_id).kind == "override"  # type: ignore[union-attr]
    before = _files(tmp_path)
    r = _replay(world, url, world["cps"]["end"].isoformat())
    n = len(world["end"].items)
    assert r.exit_code == 0 and f"{n} identical, 0 reproduced, 0 differs" in r.stdout, r.output
    assert _files(tmp_path) == before
    # --json: one object per line, as the decision replay prints
    js = _replay(world, url, world["cps"]["mid"].isoformat(), "--json")
    assert js.exit_code == 0 and js.stdout.count('"status": "identical"') == len(world["mid"].items), js.output
    assert _files(tmp_path) == before


def test_a_changed_record_or_input_differs(world: dict[str, Any], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored limit edited in a copy of the store: that line differs (limit, stored → replayed), exit 1; a changed
    input (another policy file) makes the records differ in ``policy``."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    url = store_copy(world, tmp_path, "tampered")
    path = url.removeprefix("sqlite:///")
    with DecisionStore(url) as st:
        recs = st.records(world["season"])
    ru = recs[(recs["kind"] == "reunderwrite") & (recs["as_of"] == world["cps"]["end"].isoformat())]
    row = ru.iloc[0]
    limit = int(row["limit"])
    body = str(row["body"]).replace(f'"limit":{limit}', f'"limit":{limit + 123400}')
    assert body != row["body"]
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER agc_decisions_no_update")
    con.execute('UPDATE agc_decisions SET body = ?, "limit" = ? WHERE seq = ?', (body, limit + 123400,
                                                                                  int(row["seq"])))
    con.commit()
    con.close()
    r = _replay(world, url, world["cps"]["end"].isoformat())
    assert r.exit_code == 1, r.output
    n = len(ru)
    assert f"{n - 1} identical, 0 reproduced, 1 differs, 0 not stored" in r.stdout, r.stdout
    bad = [x for x in r.stdout.splitlines()[1:] if " differs " in x]
    assert len(bad) == 1 and bad[0].startswith(str(row["application_id"])) and "limit" in bad[0].split("differs:")[1], r.stdout
    # another policy: every record differs in `policy`
    from underwriting.policy import default_policy

    doc = Path(default_policy().source).read_text().replace("min_dscr: 1.25", "min_dscr: 1.3")
    assert "min_dscr: 1.3" in doc
    pol = tmp_path / "policy.yaml"
    pol.write_text(doc)
    other = _replay(world, store_copy(world, tmp_path, "other"), world["cps"]["mid"].isoformat(), "--policy", str(pol))
    assert other.exit_code == 1, other.output
    rows = other.stdout.splitlines()[1:]
    assert rows and all(" differs " in x and "policy" in x for x in rows), other.stdout


def test_a_date_without_reunderwriting_records_is_one_line(world: dict[str, Any], tmp_path: Path) -> None:
    """The decisions' date (records of kind decision only): a one-line error naming the re-underwriting dates, exit 2,
    nothing written; --reunderwriting without --county, or with the underwriting inputs: one line too."""
    url = store_copy(world, tmp_path, "none")
    before = _files(tmp_path)
    r = _replay(world, url, world["cps"]["emergence"].isoformat())
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.stderr == (f"error: no re-underwriting record of season 2009 as of {world['cps']['emergence']} in {url}: "
                        f"nothing to replay (its re-underwriting dates: {world['cps']['mid']}, "
                        f"{world['cps']['end']})\n"), r.stderr
    assert _files(tmp_path) == before
    runner = CliRunner()
    no_county = runner.invoke(app, ["audit", "replay", "--reunderwriting", "--as-of", "2009-10-01", "--store", url])
    assert no_county.exit_code == 2 and no_county.stderr == (
        "error: --reunderwriting needs --county (the county folder the re-underwriting ran on) or "
        "--fields/--imagery/--book/--applications (the files it was given)\n"), no_county.output
    mixed = _replay(world, url, "2009-10-01", "--weather", "w.csv", "--history", "h.csv")
    assert mixed.exit_code == 2 and mixed.stderr.startswith("error: --weather, --history: not with --reunderwriting "
                                                            "(the county folder gives"), mixed.output
    plain = runner.invoke(app, ["audit", "replay", "--as-of", "2009-10-01", "--store", url])
    assert plain.exit_code == 2 and plain.stderr == (
        "error: give --applications, --fields, --season (or --reunderwriting --county DIR)\n"), plain.output
    assert _files(tmp_path) == before


def _sha(path: str) -> dict[str, str]:
    """The SHA-256 of a SQLite store's file and of its -wal and -shm files (those that exist)."""
    import hashlib

    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (path, f"{path}-wal", f"{path}-shm")
            if Path(p).exists()}


def _due_store(world: dict[str, Any], path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, list[Any]]:
    """A store at ``path`` with the world's first decisions, then `reunderwrite --due` on 2 Sep (the cotton lines as
    of 15 Aug, the maize lines as of 31 Aug, each crop's checkpoint its own run): (path, URL, the due runs)."""
    from datetime import date

    from pipelines.reunderwrite import reunderwrite_due

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    url = f"sqlite:///{path}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    return path, url, reunderwrite_due(date(2009, 9, 2), county=world["county"], store=url, models=world["models"])


def test_a_due_crop_checkpoint_replays_as_it_ran(world: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --due` on 2 Sep re-decided the maize lines alone as of their mid-season checkpoint (31 Aug; the
    cotton lines at theirs, 15 Aug): the replay of 31 Aug re-decides the maize lines as that run did, identical, and
    writes nothing — the store's file (and -wal/-shm) hash as before, no table created. Replayed as one run of all
    lines (the store without its checkpoint log, as every replay did before), the cotton lines are re-decided too and
    not stored that day: it fails, said. A plain run of all lines later that day: each run replayed as it ran."""
    from datetime import date


    path, url, ran = _due_store(world, tmp_path / "due.db", monkeypatch)
    by_crop = {d.crop: (d, res) for d, res in ran}
    maize, res = by_crop["maize"]
    assert (maize.checkpoint, maize.date) == ("mid_season", date(2009, 8, 31)) and len(res.items) == 1
    assert len(by_crop["cotton"][1].items) == 2 and by_crop["cotton"][0].date < maize.date
    day = maize.date.isoformat()
    before = _sha(str(path))
    assert list(before) == [str(path)]  # no -wal/-shm: one created by the replay would differ too
    r = _replay(world, url, day)
    assert r.exit_code == 0, r.output
    assert (f"replayed 1 re-underwritten line(s) as of {day} with yield-value 3, policy agcredit-default "
            "2026.12.10: 1 identical, 0 reproduced, 0 differs, 0 not stored") in r.stdout, r.stdout
    assert "runs replayed one by one, as they ran: maize mid_season (--due): 1 record(s)" in r.stdout, r.stdout
    assert res.items[0].application_id in r.stdout.splitlines()[2] and "no checkpoint log" not in r.stderr
    assert _sha(str(path)) == before
    # the same records without the log (a store no --due run ever wrote to, as the replay reads it): one run of all
    # lines, as before — the cotton lines re-decided, not stored
    bare = tmp_path / "bare.db"
    shutil.copy(path, bare)
    con = sqlite3.connect(bare)
    con.execute("DROP TABLE agcredit_checkpoint_runs")
    con.commit()
    con.close()
    old = _replay(world, f"sqlite:///{bare}", day)
    assert old.exit_code == 1, old.output
    assert "1 identical, 0 reproduced, 0 differs, 2 not stored" in old.stdout, old.stdout
    assert "runs replayed one by one" not in old.stdout, old.stdout
    # a plain run of all lines that day, after the --due one: it decides the cotton lines (the maize line's record is
    # the --due run's); replayed as two runs, each reading the store as it did
    plain = reunderwrite_county(world["county"], world["season"], maize.date, store=url, models=world["models"])
    assert plain.written == 2, plain.warnings
    gc.collect()
    before = _sha(str(path))
    both = _replay(world, url, day)
    assert both.exit_code == 0 and "3 identical, 0 reproduced, 0 differs, 0 not stored" in both.stdout, both.output
    assert ("runs replayed one by one, as they ran: maize mid_season (--due): 1 record(s); all lines: 2 record(s)"
            in both.stdout), both.stdout
    assert _sha(str(path)) == before


def test_recorded_pins_with_reunderwriting(world: dict[str, Any], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """--recorded-pins with --reunderwriting (refused before): the records' haze dates pinned (the crop season scale
    too, had a crop model scored them), so each line is reproduced — its provenance says the haze was pinned — and
    nothing is written; --crop-season-scale stays refused with --reunderwriting."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    url = store_copy(world, tmp_path, "pins")
    before = _files(tmp_path)
    n = len(world["mid"].items)
    r = _replay(world, url, world["cps"]["mid"].isoformat(), "--recorded-pins")
    assert r.exit_code == 0, r.output
    assert f"0 identical, {n} reproduced, 0 differs, 0 not stored" in r.stdout, r.stdout
    assert f"run-level provenance that differs: smoother_haze_pinned ({n})" in r.stdout, r.stdout
    assert _files(tmp_path) == before
    scale = _replay(world, url, world["cps"]["mid"].isoformat(), "--crop-season-scale", "1.1")
    assert scale.exit_code == 2 and scale.stderr.startswith("error: --crop-season-scale: not with --reunderwriting"), \
        scale.output


def test_a_due_run_is_told_apart_by_its_logged_record_ids_whatever_the_clocks(
        world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --due` logs the ids of the records its run wrote beside the checkpoint (one transaction), and the
    replay takes exactly those: with the log's time set before the records' (a database server's clock ahead of the
    client's, whose time the log keeps), the crop-and-time rule finds no record of the run and falls back to one run
    of all lines — the maize line replays identical only through the ids."""

    from pipelines.schedule import LOG_TABLE, RECORDS_TABLE

    path, url, ran = _due_store(world, tmp_path / "ids.db", monkeypatch)
    maize = next(res for d, res in ran if d.crop == "maize")
    day = maize.as_of.isoformat()
    con = sqlite3.connect(path)
    logged = con.execute(f"SELECT record_id FROM {RECORDS_TABLE} WHERE crop = 'maize'").fetchall()
    assert len(logged) == len(maize.items) == 1
    con.execute(f"UPDATE {LOG_TABLE} SET ran_at = '2000-01-01T00:00:00+00:00'")  # the log's clock behind
    con.commit()
    con.close()
    r = _replay(world, url, day)
    assert r.exit_code == 0, r.output
    assert "1 identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.stdout
    assert "maize mid_season (--due): 1 record(s)" in r.stdout and "cannot be told apart" not in r.stderr, r.output
    # the same store without the ids (a store logged before this release): the crop-and-time rule, which fails here
    bare = tmp_path / "bare.db"
    shutil.copy(path, bare)
    con = sqlite3.connect(bare)
    con.execute(f"DROP TABLE {RECORDS_TABLE}")
    con.commit()
    con.close()
    old = _replay(world, f"sqlite:///{bare}", day)
    assert old.exit_code == 1 and "cannot be told apart from the other records of that date" in old.stderr, old.output


def _county_files(world: dict[str, Any], **instead: Path) -> list[str]:
    """The options giving the county's own files as a bank's (``instead``: another file for an option, by name)."""
    rec = world["county"].path / "records"
    files = {"fields": rec / "fields.gpkg", "imagery": world["county"].path / "scenes", "book": rec / "book.csv",
             "applications": rec / "applications.csv", "weather": world["county"].path / "weather" / "daily.csv",
             "history": rec / "history.csv"} | instead
    return [x for k, v in files.items() for x in (f"--{k}", str(v))]


def _files_store(world: dict[str, Any], path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[str, Any]:
    """A store at ``path`` with the world's first decisions, then `reunderwrite --fields/--imagery/--book/
    --applications/--weather/--history` (the county's files, ``extra`` options) as of mid: (its URL, the run's
    result)."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    url = f"sqlite:///{path}"
    with DecisionStore(url) as st:
        st.append(world["first"], operator="underwriter")
    args = ["reunderwrite", "--as-of", world["cps"]["mid"].isoformat(), "--store", url, "--cache",
            str(world["county"].cache_dir), *_county_files(world), *extra]
    return url, CliRunner().invoke(app, args)


def _replay_files(world: dict[str, Any], url: str, *extra: str, **instead: Path) -> Any:
    args = ["audit", "replay", "--reunderwriting", *_county_files(world, **instead), "--cache",
            str(world["county"].cache_dir), "--as-of", world["cps"]["mid"].isoformat(), "--store", url, *extra]
    return CliRunner().invoke(app, args)


def test_a_files_run_replays_identical_and_another_input_differs(world: dict[str, Any], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --fields/--imagery/--book/--applications/--weather/--history` (a bank's files, no county folder)
    could not be replayed: `audit replay --reunderwriting --fields …` recomputes its records from the same files,
    every line identical, the store's file (and -wal/-shm) byte for byte as before. The same replay with a Book whose
    one line's limit was changed since: that line differs (exit 1)."""
    path = tmp_path / "files.db"
    url, run = _files_store(world, path, monkeypatch)
    assert run.exit_code == 0, run.output
    with DecisionStore(url) as st:
        recs = st.records(world["season"])
    mine = recs[(recs["kind"] == "reunderwrite") & (recs["as_of"] == world["cps"]["mid"].isoformat())]
    n = len(mine)
    assert n > 2, run.output
    gc.collect()
    before = _sha(str(path))
    r = _replay_files(world, url)
    assert r.exit_code == 0, r.output
    assert (f"replayed {n} re-underwritten line(s) as of {world['cps']['mid']} with yield-value 3, policy "
            f"agcredit-default 2026.12.10: {n} identical, 0 reproduced, 0 differs, 0 not stored") in r.stdout, r.stdout
    lines = r.stdout.splitlines()[1:]
    assert len(lines) == n and all(" identical " in x for x in lines), r.stdout
    assert sorted(x.split()[0] for x in lines) == sorted(mine["application_id"].astype(str)), r.stdout
    assert _sha(str(path)) == before
    # the Book changed since the run: one line's limit raised — its record differs, the replay fails
    import json

    book = pd.read_csv(world["county"].path / "records" / "book.csv", dtype=str)
    rec = next(r for _, r in mine.iterrows()
               if json.loads(r["body"])["reunderwrite"]["line_id"] in set(book["line_id"]))  # a Book line's record
    at = book.index[book["line_id"] == json.loads(rec["body"])["reunderwrite"]["line_id"]]
    book.loc[at[0], "limit"] = f"{float(book.loc[at[0], 'limit']) + 5000:.2f}"
    changed = tmp_path / "book.csv"
    book.to_csv(changed, index=False)
    other = _replay_files(world, url, book=changed)
    assert other.exit_code == 1, other.output
    bad = [x for x in other.stdout.splitlines()[1:] if " differs " in x]
    assert any(x.startswith(str(rec["application_id"])) for x in bad), other.stdout
    assert _sha(str(path)) == before
    # the fields file changed since: a row of the season now fails a check, which the run (read whole, no --rejects)
    # would have refused — one line, not every record "differs"
    import geopandas as gpd

    gdf = gpd.read_file(world["county"].path / "records" / "fields.gpkg")
    gdf.loc[int(np.flatnonzero((gdf["season"].astype(str) == world["season"]).to_numpy())[0]), "declared_crop"] = "maise"
    edited = tmp_path / "edited.gpkg"
    gdf.to_file(edited, driver="GPKG")
    changed_fields = _replay_files(world, url, fields=edited)
    assert changed_fields.exit_code == 2 and changed_fields.stderr.count("\n") == 1, changed_fields.output
    assert ("edited.gpkg: 1 row(s) of season 2009 fail a row-level check" in changed_fields.stderr
            and "the run read the file whole, so it has changed since" in changed_fields.stderr), changed_fields.stderr
    assert _sha(str(path)) == before


def _rejects_run(world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
                 ) -> tuple[Path, str, Path, Path]:
    """A store at ``tmp_path/name.db`` (the world's first decisions), then `reunderwrite --fields BAD --rejects R` as
    of mid, BAD the county's fields file with one row of the season (a Book farmer's) given an unknown crop — its
    farmer's line held: (the store's path and URL, BAD, R)."""
    import geopandas as gpd

    gdf = gpd.read_file(world["county"].path / "records" / "fields.gpkg")
    book = pd.read_csv(world["county"].path / "records" / "book.csv", dtype=str)
    i = int(np.flatnonzero((gdf["season"].astype(str) == world["season"]).to_numpy()
                           & gdf["national_id"].astype(str).isin(set(book["national_id"])).to_numpy())[0])
    gdf.loc[i, "declared_crop"] = "maise"
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad, driver="GPKG")
    rejects = tmp_path / "rejects.csv"
    path = tmp_path / f"{name}.db"
    url, run = _files_store(world, path, monkeypatch, "--fields", str(bad), "--rejects", str(rejects))
    assert run.exit_code == 1 and "line(s) not re-underwritten" in run.stdout, run.output
    return path, url, bad, rejects


def test_a_files_rejects_run_replays_its_rows_set_aside_and_writes_no_rejects(world: dict[str, Any], tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --fields … --rejects R`: a fields row of the season set aside (an unknown crop) holds its
    farmer's lines, and the other records name the rows (``fields_set_aside``). The files-form replay reads the file
    as that run did — the same row set aside, the same lines held (said) — so every record is identical; no rejects
    file is written and the store is as before."""
    path, url, bad, rejects = _rejects_run(world, tmp_path, monkeypatch, "rejects")
    with DecisionStore(url) as st:
        recs = st.records(world["season"])
    mine = recs[(recs["kind"] == "reunderwrite") & (recs["as_of"] == world["cps"]["mid"].isoformat())]
    n = len(mine)
    assert n > 0 and all('"fields_set_aside"' in b for b in mine["body"])
    rejects.unlink()
    gc.collect()
    before = _sha(str(path))
    r = _replay_files(world, url, fields=bad)
    assert r.exit_code == 0, r.output
    assert f"{n} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.output
    assert ("warning: the fields file read with its bad rows set aside, as a --rejects run read it (no rejects file "
            "written): 1 row(s)") in r.stderr, r.stderr
    assert "line(s) not replayed: their farmers' fields had rejected rows, as in the run" in r.stderr, r.stderr
    assert not rejects.exists() and _sha(str(path)) == before
    # the file corrected since (the file a corrected re-run of the date reads): the records name the row set aside by
    # field id, so the replay sets it aside again and holds its farmer's line as the run did — identical, said
    # (before, the held line was re-decided, not stored, and the others' records reproduced only: the replay failed)
    fixed = _replay_files(world, url)
    assert fixed.exit_code == 0 and f"{n} identical, 0 reproduced, 0 differs, 0 not stored" in fixed.stdout, \
        fixed.output
    assert ("1 fields row(s) of season 2009 the run set aside (its records name them by field id) read as valid in "
            "this fields file (corrected since): set aside again as the run read them") in fixed.stderr, fixed.stderr
    assert "warning: the fields file read" not in fixed.stderr and not rejects.exists(), fixed.output
    assert _sha(str(path)) == before


def test_files_form_refusals_are_one_line(world: dict[str, Any], tmp_path: Path) -> None:
    """--county beside the files, or the files form without one of them (which to give): one line, exit 2, nothing
    written."""
    url = store_copy(world, tmp_path, "refused")
    before = _files(tmp_path)
    both = _replay(world, url, world["cps"]["mid"].isoformat(), "--fields", "f.gpkg")
    assert both.exit_code == 2 and both.stderr == (
        "error: give either --county or --fields/--imagery/--book/--applications, not both\n"), both.output
    rec = world["county"].path / "records"
    missing = CliRunner().invoke(app, ["audit", "replay", "--reunderwriting", "--fields", str(rec / "fields.gpkg"),
                                       "--imagery", str(world["county"].path / "scenes"), "--applications",
                                       str(rec / "applications.csv"), "--as-of", "2009-10-01", "--store", url])
    assert missing.exit_code == 2 and missing.stderr == "error: without --county, give --book\n", missing.output
    assert _files(tmp_path) == before


def _plain_log(path: Path) -> list[tuple[str, str, int, list[str]]]:
    """The plain runs a SQLite store logged: (run id, as-of date, lines, its record ids), in the order they ran."""
    from pipelines.schedule import PLAIN_RECORDS_TABLE, PLAIN_RUNS_TABLE

    con = sqlite3.connect(path)
    try:
        runs = con.execute(f"SELECT run_id, as_of, n_lines FROM {PLAIN_RUNS_TABLE} ORDER BY ran_at, rowid").fetchall()
        return [(rid, day, n, [x for (x,) in con.execute(
            f"SELECT record_id FROM {PLAIN_RECORDS_TABLE} WHERE run_id = ? ORDER BY record_id", (rid,))])
                for rid, day, n in runs]
    finally:
        con.close()


def _without_plain_log(path: Path, to: Path) -> str:
    """A copy of a SQLite store at ``to`` without the plain runs' log (a store written before it): its URL."""
    from pipelines.schedule import PLAIN_RECORDS_TABLE, PLAIN_RUNS_TABLE

    shutil.copy(path, to)
    con = sqlite3.connect(to)
    con.execute(f"DROP TABLE {PLAIN_RUNS_TABLE}")
    con.execute(f"DROP TABLE {PLAIN_RECORDS_TABLE}")
    con.commit()
    con.close()
    return f"sqlite:///{to}"


def _date_ids(url: str, season: str, day: str) -> list[str]:
    """The ids of the re-underwriting records of ``day``, in chain order."""
    with DecisionStore(url) as st:
        recs = st.records(season)
    return [str(x) for x in recs.loc[(recs["kind"] == "reunderwrite") & (recs["as_of"] == day)]
            .sort_values("seq")["record_id"]]


def test_two_plain_runs_of_one_date_replay_each_as_it_ran(world: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two plain `reunderwrite --as-of` runs of one date, an application decided between them (its decided line
    D-<id> is re-underwritten by the second run only): each run logs its records as one run, in their transaction,
    and the replay replays each as it ran — the second reading the store with that decision — every line identical,
    said run by run, the store's file as before. The same store without the plain runs' log (as every store was
    before): the date's records replayed as one run of all lines reading the store before the first, so the late
    line is not re-decided and the replay fails, as it did."""
    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    c, season, day = world["county"], world["season"], world["cps"]["mid"]
    book_apps = set(c.book()["application_id"].astype(str)) | set(c.applications().loc[
        c.applications()["farmer_token"].isin(set(c.book().get("farmer_token", pd.Series(dtype=str)))),
        "application_id"].astype(str))
    late = next(i for i in world["first"] if i.outcome in ("APPROVE", "REDUCE") and i.application_id not in book_apps)
    path = tmp_path / "two.db"
    url = f"sqlite:///{path}"
    with DecisionStore(url) as st:
        st.append([i for i in world["first"] if i is not late], operator="underwriter")
    one = reunderwrite_county(c, season, day, store=url, models=world["models"])
    assert one.written > 0 and late.application_id not in {i.application_id for i in one.items}
    first_ids = _date_ids(url, season, day.isoformat())
    with DecisionStore(url) as st:  # an application decided after the first run
        st.append([late], operator="underwriter")
    two = reunderwrite_county(c, season, day, store=url, models=world["models"])
    assert two.written >= 1 and late.application_id in {i.application_id for i in two.items}, two.warnings
    all_ids = _date_ids(url, season, day.isoformat())
    log = _plain_log(path)
    assert [(d, n, ids) for _r, d, n, ids in log] == [
        (day.isoformat(), len(one.items), sorted(first_ids)),
        (day.isoformat(), len(two.items), sorted(set(all_ids) - set(first_ids)))], log
    gc.collect()
    before = _sha(str(path))
    r = _replay(world, url, day.isoformat())
    n = len({*(i.application_id for i in one.items), *(i.application_id for i in two.items)})
    assert r.exit_code == 0, r.output
    assert f"{n} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.output
    assert (f"runs replayed one by one, as they ran: all lines: {one.written} record(s); all lines: {two.written} "
            "record(s)") in r.stdout, r.stdout
    assert _sha(str(path)) == before
    # the old grouping (a store without the plain runs' log): one run of all lines — the late line not re-decided
    old = _replay(world, _without_plain_log(path, tmp_path / "old.db"), day.isoformat())
    assert old.exit_code == 1 and "runs replayed one by one" not in old.stdout, old.output
    bad = [x for x in old.stdout.splitlines()[1:] if " differs " in x]
    assert [x.split()[0] for x in bad] == [late.application_id] and "not re-decided" in bad[0], old.stdout


def test_a_killed_plain_run_logs_nothing_and_its_rerun_logs_the_same_ids(world: dict[str, Any], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain run killed while its records are written (after the first insert) leaves no record and no log (one
    transaction); its re-run writes and logs the records a run never killed logs (same ids, same run id); a re-run of
    a complete run writes nothing and logs nothing more. The plain runs' log is no checkpoint: the checkpoint log
    stays empty, `reunderwrite --due` runs the same checkpoints and `schedule show --store` says the same as on the
    store without it."""
    from datetime import date

    from pipelines.reunderwrite import reunderwrite_due
    from pipelines.schedule import CheckpointLog

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    c, season, day = world["county"], world["season"], world["cps"]["mid"]

    def fresh(name: str) -> tuple[Path, str]:
        p = tmp_path / f"{name}.db"
        with DecisionStore(f"sqlite:///{p}") as st:
            st.append(world["first"], operator="underwriter")
        return p, f"sqlite:///{p}"

    clean_path, clean = fresh("clean")
    reunderwrite_county(c, season, day, store=clean, models=world["models"])
    path, url = fresh("killed")

    def kill(n: int) -> None:
        raise KeyboardInterrupt  # the run stopped half-way through writing its records

    with DecisionStore(url, create=False, writer=True) as st:
        st._on_insert = kill
        with pytest.raises(KeyboardInterrupt):
            reunderwrite_county(c, season, day, store=st, models=world["models"])
    assert _date_ids(url, season, day.isoformat()) == []
    import sqlalchemy as sa

    from pipelines.schedule import PLAIN_RUNS_TABLE

    engine = sa.create_engine(url)
    assert not sa.inspect(engine).has_table(PLAIN_RUNS_TABLE)  # created in the transaction: rolled back with it
    engine.dispose()
    res = reunderwrite_county(c, season, day, store=url, models=world["models"])
    assert res.written > 0
    assert [(r, d, n, ids) for r, d, n, ids in _plain_log(path)] == _plain_log(clean_path)
    assert len(_plain_log(path)) == 1 and _plain_log(path)[0][3] == sorted(_date_ids(url, season, day.isoformat()))
    again = reunderwrite_county(c, season, day, store=url, models=world["models"])
    assert again.written == 0 and len(_plain_log(path)) == 1
    # no checkpoint: the checkpoint log knows nothing of it; --due and schedule show as on the store without it
    log = CheckpointLog(url)
    try:
        assert log.done() == set() and log.rows().empty
    finally:
        log.close()
    bare = _without_plain_log(path, tmp_path / "bare.db")
    shows = [CliRunner().invoke(app, ["schedule", "show", "--season", season, "--region", c.region, "--today",
                                      day.isoformat(), "--store", u]) for u in (url, bare)]
    assert shows[0].exit_code == 0 and "done (records as of" in shows[0].stdout, shows[0].output
    assert shows[0].stdout == shows[1].stdout
    dues = [[(d.crop, d.checkpoint, d.date, len(r.items), r.covered_by) for d, r in
             reunderwrite_due(date(2009, 9, 2), county=c, store=u, models=world["models"])] for u in (url, bare)]
    assert dues[0] == dues[1] and dues[0], dues


def test_a_rejects_run_and_its_corrected_rerun_replay_from_the_corrected_file(
        world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`reunderwrite --fields BAD --rejects R` (a row of the season set aside, its farmer's line held), then the
    corrected re-run of the date (`--fields` corrected: it decides the held line only): each run logged on its own,
    so one replay with the corrected fields file replays both — the first setting the row its records name (by field
    id) aside again, the second deciding the held line — every line identical, the store as before. Without the
    plain runs' log (one run of all lines, as before) the first run's records are reproduced only (their provenance
    names the row set aside: the file is read whole), not identical."""
    path, url, _bad, rejects = _rejects_run(world, tmp_path, monkeypatch, "rerun")
    rejects.unlink()
    day = world["cps"]["mid"].isoformat()
    first = _date_ids(url, world["season"], day)
    fixed = CliRunner().invoke(app, ["reunderwrite", "--as-of", day, "--store", url, "--cache",
                                     str(world["county"].cache_dir), *_county_files(world)])
    assert fixed.exit_code == 0, fixed.output
    both = _date_ids(url, world["season"], day)
    assert len(both) == len(first) + 1, fixed.output  # the held line only
    assert [ids for *_x, ids in _plain_log(path)] == [sorted(first), sorted(set(both) - set(first))]
    gc.collect()
    before = _sha(str(path))
    r = _replay_files(world, url)
    assert r.exit_code == 0, r.output
    assert f"{len(both)} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.output
    assert (f"runs replayed one by one, as they ran: all lines: {len(first)} record(s); all lines: 1 record(s)"
            in r.stdout), r.stdout
    assert "set aside again as the run read them" in r.stderr, r.stderr
    assert _sha(str(path)) == before and not rejects.exists()
    old = _replay_files(world, _without_plain_log(path, tmp_path / "old.db"))
    assert f"1 identical, {len(first)} reproduced, 0 differs, 0 not stored" in old.stdout, old.output
    assert f"fields_set_aside ({len(first)})" in old.stdout and "runs replayed one by one" not in old.stdout, old.output


def _delete_mode_copy(world: dict[str, Any], tmp_path: Path, name: str) -> tuple[str, Path]:
    """A copy of the world's store switched to a rollback journal (DELETE mode): its URL and file."""
    url = store_copy(world, tmp_path, name)
    db = Path(url.removeprefix("sqlite:///"))
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    con.close()
    return url, db


def test_a_delete_mode_store_is_read_as_it_is(world: dict[str, Any], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay opens the store read only at every read (the policy file, the date's records and runs, each run's
    view): a SQLite store in rollback-journal (DELETE) mode stays so, byte for byte, nothing created beside it — and
    every private copy made to read a store in WAL mode is removed, one shared by the views of one unchanged store."""
    import tempfile

    monkeypatch.setattr(ScoringModels, "resolve", classmethod(lambda cls, **_kw: world["models"]))
    url, db = _delete_mode_copy(world, tmp_path, "replay")
    before = _files(tmp_path)
    assert db.read_bytes()[18:20] == b"\x01\x01"  # rollback journal
    r = _replay(world, url, world["cps"]["end"].isoformat())
    assert r.exit_code == 0 and " identical, 0 reproduced, 0 differs" in r.stdout, r.output
    assert _files(tmp_path) == before and db.read_bytes()[18:20] == b"\x01\x01"
    # the same store in WAL mode, closed cleanly: read through private copies, none left behind
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    before = _files(tmp_path)
    tmp = tmp_path.parent / f"{tmp_path.name}-tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # the copies' folder: this test's own
    made: list[str] = []
    real = tempfile.mkdtemp

    def mkdtemp(*a: Any, **k: Any) -> str:
        out = real(*a, **k)
        made.append(Path(out).name)
        return out

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    r = _replay(world, url, world["cps"]["end"].isoformat())
    assert r.exit_code == 0 and " identical, 0 reproduced, 0 differs" in r.stdout, r.output
    assert _files(tmp_path) == before
    copies = [m for m in made if m.startswith("agcredit-store-copy-")]
    assert copies and all(m.split("-")[-2].isdigit() for m in copies)  # named by host and process
    assert not list(tmp.glob("agcredit-store-copy-*"))  # every copy removed


def test_the_other_readers_leave_a_delete_mode_store_as_it_was(world: dict[str, Any], tmp_path: Path) -> None:
    """`explain`, `schedule show --store`, `monitor --store` and `report portfolio` write nothing to the store and open
    it read only: a SQLite
    store in rollback-journal (DELETE) mode stays so, byte for byte, nothing created beside it."""
    url, db = _delete_mode_copy(world, tmp_path, "readers")
    before = _files(tmp_path)
    app_id = world["end"].items[0].application_id
    c, day = world["county"], world["cps"]["end"].isoformat()
    for args in (["explain", app_id, "--store", url],
                 ["schedule", "show", "--season", world["season"], "--today", day, "--store", url],
                 ["monitor", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of", day, "--store", url,
                  "--crop-model", "none"],
                 ["report", "portfolio", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of", day,
                  "--store", url, "--out", str(tmp_path.parent / f"{tmp_path.name}-report")]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, (args[0], r.output)
        assert _files(tmp_path) == before and db.read_bytes()[18:20] == b"\x01\x01", args[0]
