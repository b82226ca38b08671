"""``agcredit imagery fetch`` through typer's CliRunner, Sentinel Hub mocked with ``responses``."""

from __future__ import annotations

import csv

import pytest
import responses
from sentinelhub import SentinelHubDownloadClient
from typer.testing import CliRunner

from pipelines.cli import app
from tests.features.test_sentinelhub import (
    CLIENT_ID,
    PROCESS_URL,
    SECRET,
    add_catalog,
    add_cloudy_catalog,
    add_process,
    add_process_failing_on,
    add_token,
    make_fields,
)


@pytest.fixture(autouse=True)
def _sh(monkeypatch: pytest.MonkeyPatch) -> None:
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    yield
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()


@pytest.fixture
def fields_file(tmp_path):
    path = tmp_path / "fields.gpkg"
    make_fields().assign(farmer_token="tok", declared_crop="maize").to_file(path, driver="GPKG")
    return path


@responses.activate
def test_fetch_writes_scenes_and_prints_the_summary(tmp_path, fields_file):
    add_token()
    add_catalog()
    add_process()
    out = tmp_path / "scenes"
    args = ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023", "--start", "2023-06-01",
            "--end", "2023-06-30", "--as-of", "2023-06-03", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert {r["date"] for r in rows} == {"2023-06-01"}  # 06-06 is after --as-of
    assert "requests: " in res.stdout and "processing units: 1.000" in res.stdout and "scenes: 2" in res.stdout
    assert SECRET not in res.stdout + res.stderr
    calls = sum(1 for c in responses.calls if c.request.url == PROCESS_URL)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "requests: 0 (retries 0), cache hits: 6" in again.stdout
    assert sum(1 for c in responses.calls if c.request.url == PROCESS_URL) == calls


def test_missing_credentials_is_one_line_and_exit_2(tmp_path, fields_file, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    with responses.RequestsMock() as rsps:
        add_catalog()
        res = CliRunner().invoke(app, ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023",
                                       "--start", "2023-06-01", "--end", "2023-06-30", "--out", str(tmp_path / "o")])
        assert len(rsps.calls) == 0
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "SH_CLIENT_ID and SH_CLIENT_SECRET not set" in res.stderr


def test_season_without_window_or_dates_is_a_clear_error(tmp_path, fields_file):
    res = CliRunner().invoke(app, ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "give --start and --end" in res.stderr


def test_bad_date_and_endpoint(tmp_path, fields_file):
    res = CliRunner().invoke(app, ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023",
                                   "--start", "June", "--end", "2023-06-30", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.stderr
    res = CliRunner().invoke(app, ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023",
                                   "--start", "2023-06-01", "--end", "2023-06-30", "--endpoint", "planet",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "endpoint: expected one of cdse, sinergise" in res.stderr


@responses.activate
def test_max_cloud_defaults_to_no_scene_filter_and_says_so(tmp_path, fields_file):
    """--max-cloud defaulted to 0.8: scenes over a tile cloud cover of 80% were left out of the folder, although
    the fields in them may be clear; now every acquisition unless the user asks for a filter."""
    add_token()
    add_cloudy_catalog()
    add_process()
    args = ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023", "--start", "2023-06-01",
            "--end", "2023-06-10"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "all")])
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "all" / "index.csv").read_text().splitlines()))
    assert sorted({r["date"] for r in rows}) == ["2023-06-01", "2023-06-06"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "clear"), "--max-cloud", "0.8"])
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "clear" / "index.csv").read_text().splitlines()))
    assert {r["date"] for r in rows} == {"2023-06-01"}
    helptext = CliRunner().invoke(app, ["imagery", "fetch", "--help"], env={"COLUMNS": "200"}).stdout
    assert "no scene filter" in " ".join(helptext.replace("│", " ").split())


@responses.activate
def test_a_second_fetch_for_other_fields_into_the_folder_is_one_line_exit_2(tmp_path, fields_file):
    add_token()
    add_catalog()
    add_process()
    args = ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023", "--out", str(tmp_path / "o")]
    assert CliRunner().invoke(app, [*args, "--start", "2023-06-01", "--end", "2023-06-03"]).exit_code == 0
    res = CliRunner().invoke(app, [*args, "--start", "2023-06-05", "--end", "2023-06-10", "--resolution", "20"])
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0
    assert "already holds scenes for 2023-06-01 to 2023-06-03" in res.stderr and "other ground" in res.stderr


def test_endpoint_profile_is_in_the_help():
    out = CliRunner().invoke(app, ["imagery", "fetch", "--help"], env={"COLUMNS": "200"}).stdout
    helptext = " ".join(out.replace("│", " ").split())
    assert "profile: the --profile's own sh_base_url and sh_token_url" in helptext and "https only" in helptext


@responses.activate
def test_a_partial_fetch_names_the_failed_dates_and_exits_1(tmp_path, fields_file, monkeypatch):
    """One acquisition answering 500 after the retries stopped the whole fetch (exit 2, nothing written); now the
    others are written, each failed acquisition is one stderr line, a one-line summary names the dates, exit 1; a
    re-run asks only for the failed ones; a run where all fail stays exit 2."""
    import features.sources._sh_io as shio
    from features.sources import _sh_api

    monkeypatch.setattr(_sh_api, "Retry", lambda: shio.Retry(attempts=4, base_delay=0.0, sleep=lambda s: None))
    add_token()
    add_catalog()
    add_process_failing_on({"2023-06-06"})
    out = tmp_path / "scenes"
    args = ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023", "--start", "2023-06-01",
            "--end", "2023-06-10", "--out", str(out)]
    res = CliRunner().invoke(app, args, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert res.exit_code == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert [x.split(" (")[0] for x in lines[:-1]] == ["warning: not fetched: 2023-06-06 tile 14Nc000t00",
                                                      "warning: not fetched: 2023-06-06 tile 14Nc001t00"]
    assert lines[-1].startswith("error: 2 of 4 acquisitions failed: 2023-06-06; the others are written")
    assert "Traceback" not in res.stderr and SECRET not in res.stderr + res.stdout and "https://" not in res.stderr
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert {r["date"] for r in rows} == {"2023-06-01"} and "scenes: 2" in res.stdout
    calls = sum(1 for c in responses.calls if c.request.url == PROCESS_URL)
    again = CliRunner().invoke(app, args, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert again.exit_code == 1
    assert sum(1 for c in responses.calls if c.request.url == PROCESS_URL) - calls == 2 * 4  # the 2 failed, 4 tries
    responses.reset()
    add_token()
    add_catalog()
    add_process_failing_on({"2023-06-01", "2023-06-06"})
    res = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "none")], env={"XDG_CACHE_HOME": str(tmp_path / "c2")})
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0 and "4 of 4 acquisitions" in res.stderr


@responses.activate
def test_a_403_midway_writes_what_was_fetched_says_why_in_one_line_and_exits_1(tmp_path, fields_file, monkeypatch):
    """A 403 (processing units used up) after some scenes stopped the fetch with exit 2 and nothing written; now the
    fetched scenes are written, the rest recorded in sentinelhub.json, one stderr line names the cause and what to
    do, exit 1 (the inputs are fine); a re-run fetches only the rest. A 403 on the first scene stays exit 2."""
    import features.sources._sh_io as shio
    from features.sources import _sh_api
    from tests.features.test_sh_midway import add_process_answering

    monkeypatch.setattr(_sh_api, "Retry", lambda: shio.Retry(attempts=2, base_delay=0.0, sleep=lambda s: None))
    add_token()
    add_catalog()
    add_process_answering(403, after=2, message="You have exceeded your processing units")
    out = tmp_path / "scenes"
    args = ["imagery", "fetch", "--fields", str(fields_file), "--season", "2023", "--start", "2023-06-01",
            "--end", "2023-06-10", "--out", str(out)]
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 1, res.stdout + res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("error: Sentinel Hub refused further requests (HTTP 403: You have exceeded your "
                               "processing units): the account's processing units are used up")
    assert "2 of 4 acquisitions are written, the 2 not fetched (2023-06-01, 2023-06-06)" in lines[0]
    assert "re-run the same command to fetch only them" in lines[0]
    assert SECRET not in res.stderr + res.stdout and CLIENT_ID not in res.stderr + res.stdout
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert len(rows) == 2 and "scenes: 2" in res.stdout
    calls = sum(1 for c in responses.calls if c.request.url == PROCESS_URL)
    responses.remove(responses.POST, PROCESS_URL)
    add_process()
    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 0, again.stderr
    assert sum(1 for c in responses.calls if c.request.url == PROCESS_URL) - calls == 2
    assert len(list(csv.DictReader((out / "index.csv").read_text().splitlines()))) == 4
    responses.remove(responses.POST, PROCESS_URL)
    add_process_answering(403, after=0)
    res = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "none")], env={"XDG_CACHE_HOME": str(tmp_path / "c2")})
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0 and "HTTP 403" in res.stderr
    assert not (tmp_path / "none" / "index.csv").exists()
