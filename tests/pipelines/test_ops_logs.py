"""Operational logs (M6 of the operations walkthrough): every line with its UTC time and the run's id, JSON lines on
request, a start and an end line at INFO naming the command only (never an argument: a path may hold a farmer's
name, a store URL a password); the default level WARNING leaves a run's output as it was."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Pw9"
STORE = f"postgresql://bob:{PASSWORD}@127.0.0.1:9/decisions"  # a closed port: connection refused at once
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _agcredit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AGCREDIT_LOG", "AGCREDIT_RUN_ID"))}
    full.update(PYTHONPATH=str(ROOT), AGCREDIT_STORE_URL="", **env)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, env=full,
                          timeout=180, check=False)


def _log_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if not ln.startswith("error:")]


def test_the_default_level_adds_nothing_to_a_run_s_output() -> None:
    r = _agcredit("audit", "verify", "--store", STORE)
    assert r.returncode == 2
    assert r.stderr.startswith("error: decision store postgresql://bob:***@127.0.0.1:9/decisions: ")
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""


def test_info_logs_a_start_and_an_end_line_with_time_and_run_id_and_no_secret(tmp_path: Path) -> None:
    """AGCREDIT_LOG_LEVEL=INFO added nothing: no line said a run started or how it ended."""
    r = _agcredit("audit", "verify", "--store", STORE, AGCREDIT_LOG_LEVEL="INFO")
    assert r.returncode == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "bob:***@" in errors[0]  # the user's line as it was
    logs = _log_lines(r.stderr)
    assert len(logs) == 2, r.stderr
    start = re.fullmatch(rf"{TS} (\w+) INFO agcredit: run (\w+) started: agcredit audit verify \(version .+\)", logs[0])
    end = re.fullmatch(rf"{TS} (\w+) INFO agcredit: run (\w+) ended: exit 2 in \d+\.\d s", logs[1])
    assert start and end, logs
    assert start.group(1) == start.group(2) == end.group(1) == end.group(2)
    assert PASSWORD not in r.stderr + r.stdout
    assert "127.0.0.1" not in "\n".join(logs)  # no argument's value in the log lines


def test_a_path_argument_is_never_in_the_log_lines(tmp_path: Path) -> None:
    where = tmp_path / "Ramesh Kumar Patil"
    r = _agcredit("fields", "validate", str(where / "fields.gpkg"), AGCREDIT_LOG_LEVEL="DEBUG")
    assert r.returncode == 2
    logs = _log_lines(r.stderr)
    assert logs and not any("Ramesh" in ln for ln in logs), logs
    assert any(ln.endswith("started: agcredit fields validate (version 0.1.0)") for ln in logs), logs


def test_json_lines_and_a_given_run_id() -> None:
    r = _agcredit("--version", AGCREDIT_LOG_LEVEL="INFO", AGCREDIT_LOG_FORMAT="json", AGCREDIT_RUN_ID="cron-42")
    assert r.returncode == 0 and r.stdout.startswith("agcredit ")
    docs = [json.loads(ln) for ln in r.stderr.splitlines()]
    assert [list(d) for d in docs] == [["ts", "level", "logger", "run_id", "msg"]] * 2
    assert all(re.fullmatch(TS, d["ts"]) and d["run_id"] == "cron-42" and d["level"] == "INFO" for d in docs)
    assert docs[0]["msg"] == "run cron-42 started: agcredit --version (version 0.1.0)"
    assert re.fullmatch(r"run cron-42 ended: exit 0 in \d+\.\d s", docs[1]["msg"])


@pytest.mark.parametrize(("env", "line"), [
    ({"AGCREDIT_LOG_LEVEL": "verbose"}, "error: AGCREDIT_LOG_LEVEL='verbose': expected DEBUG, INFO, WARNING, ERROR or "
                                        "CRITICAL (unset: WARNING)"),
    ({"AGCREDIT_LOG_FORMAT": "jsonl"}, "error: AGCREDIT_LOG_FORMAT='jsonl': expected json or text (unset: text)"),
    # a scheduler's job id of another shape was replaced by a random id without a word (a walkthrough)
    ({"AGCREDIT_RUN_ID": "bad id!"}, "error: AGCREDIT_RUN_ID='bad id!': expected letters, digits and ._- (starting "
                                     "with a letter or digit), up to 64 characters (unset: 8 random hex digits)"),
    ({"AGCREDIT_RUN_ID": "j" * 65}, f"error: AGCREDIT_RUN_ID={'j' * 65!r}: expected letters, digits and ._- "
                                    "(starting with a letter or digit), up to 64 characters (unset: 8 random hex "
                                    "digits)"),
])
def test_a_logging_setting_it_does_not_know_is_one_line_exit_2(env: dict[str, str], line: str) -> None:
    """An unknown level or format was taken for the default without a word (the audit: a scheduler's ``verbose``
    logged nothing more, a collector's ``jsonl`` got text lines)."""
    r = _agcredit("--version", **env)
    assert (r.returncode, r.stderr.splitlines(), r.stdout) == (2, [line], "")
    ok = _agcredit("--version", AGCREDIT_LOG_LEVEL=" debug ", AGCREDIT_LOG_FORMAT="JSON",  # case and spaces: as before
                   AGCREDIT_RUN_ID=" " + "j" * 64 + " ")
    assert ok.returncode == 0 and json.loads(ok.stderr.splitlines()[0])["level"] == "INFO"
    assert json.loads(ok.stderr.splitlines()[0])["run_id"] == "j" * 64


@pytest.mark.parametrize(("argv", "name"), [
    (["models", "promote", "yield-value", "3", "--reason", "Mr Patil asked"], "agcredit models promote"),
    (["underwrite", "--store", STORE, "--fields", "/home/x/Ramesh.gpkg"], "agcredit underwrite"),
    (["no-such-command", "/home/x"], "agcredit"),
    (["fields", "/home/Ramesh"], "agcredit fields"),
    (["-h"], "agcredit -h"),
])
def test_the_command_name_holds_no_argument(argv: list[str], name: str) -> None:
    import pipelines.cli  # noqa: F401  (registers the commands)
    from pipelines._cli_app import _command_name

    assert _command_name(argv) == name
