"""A command line the commands cannot read is one line on standard error, exit 2, like every other user error.

Click drew these as a boxed usage text of five lines or more (a walkthrough of the README's "every command prints
user errors as one line"), and repeated what was typed: an unquoted name (``explain Rane Tequaka``) or a value given
to the wrong option. The line names the command and the option, never a value typed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

HELP = "'{0} --help' lists its options"


@pytest.mark.parametrize(("argv", "line"), [
    (["explain", "A2009-00161", "--bogus"], "agcredit explain: no such option --bogus"),
    (["models", "promote", "--bogus"], "agcredit models promote: no such option --bogus"),
    (["decisions", "export"], "agcredit decisions export: missing option '--out'"),
    (["explain"], "agcredit explain: missing argument 'APPLICATION_ID'"),
    (["underwrite", "--as-of"], "agcredit underwrite: option --as-of needs a value"),
    (["audit", "verify", "--expect-head"], "agcredit audit verify: option --expect-head needs a value"),
    (["simulate", "--region", "us-nebraska", "--seed", "Ramesh Kumar", "--size", "tiny", "--out", "x"],
     "agcredit simulate: invalid value for '--seed' (input should be a valid integer, unable to parse string as an "
     "integer)"),
    (["explain", "Rane", "Tequaka"],
     "agcredit explain: unexpected extra argument(s), not repeated here (a value with spaces needs quotes)"),
    (["Ramesh", "Kumar"], "agcredit: no such command (not repeated here)"),
    (["--bogus"], "agcredit: no such option --bogus"),
])
def test_a_command_line_it_cannot_read_is_one_line_exit_2(argv: list[str], line: str) -> None:
    r = CliRunner().invoke(app, argv)
    where = line.split(":", maxsplit=1)[0]
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and r.stderr == f"error: {line}; {HELP.format(where)}\n", r.stderr
    assert "Ramesh" not in r.stderr and "Tequaka" not in r.stderr and "Rane" not in r.stderr


def test_an_option_typed_wrong_is_suggested_and_a_value_shaped_option_is_not_repeated() -> None:
    r = CliRunner().invoke(app, ["decisions", "export", "--ou", "x.csv"])
    assert r.exit_code == 2 and r.stderr.startswith("error: agcredit decisions export: no such option --ou (did you "
                                                    "mean --out?)"), r.stderr
    r = CliRunner().invoke(app, ["explain", "A1", "-+91 98450 12345"])
    assert r.exit_code == 2 and "98450" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_group_or_the_bare_command_still_shows_its_help() -> None:
    """Asking for nothing is not an error to put on one line: the help, as before (exit 2, click's own)."""
    for argv in ([], ["models"]):
        r = CliRunner().invoke(app, argv)
        assert r.exit_code == 2 and "Usage:" in r.output and "error:" not in r.output, r.output


def test_the_console_script_prints_the_one_line() -> None:
    script = Path(sys.executable).with_name("agcredit")  # the installed console script (`pip install -e .`)
    out = subprocess.run([str(script), "models", "list", "--bogus"], check=False, capture_output=True, text=True,
                         timeout=120)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == ("error: agcredit models list: no such option --bogus; 'agcredit models list --help' lists "
                          "its options\n")
