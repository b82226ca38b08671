"""``--profile`` help of the Sentinel Hub commands says where credentials come from without it."""
from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from pipelines.cli import app


@pytest.mark.parametrize("command", [["imagery", "fetch"], ["features", "series"], ["features", "build"]])
def test_profile_help_names_the_default_profile_fallback(command):
    """The help said "default SH_CLIENT_ID / SH_CLIENT_SECRET", but with a sentinelhub config file and no credentials
    in the environment the file's default-profile is used (as the README says): the help names the whole order."""
    r = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert r.exit_code == 0, r.output
    text = re.sub(r"[\s│|]+", " ", r.output)
    assert ("sentinelhub config profile; default: SH_CLIENT_ID / SH_CLIENT_SECRET when set, else SH_PROFILE's "
            "profile, else the sentinelhub config file's default-profile when the file exists") in text, text


def test_allow_missing_help_names_a_folder_fetched_up_to_an_earlier_date():
    """--allow-missing-acquisitions also lets a decision go on with a folder fetched up to an earlier date than
    asked (refused otherwise since that check): its help says so."""
    r = CliRunner().invoke(app, ["features", "build", "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    text = re.sub(r"[\s│|]+", " ", r.output)
    assert "or fetched it up to an earlier date (default: refused; complete it with `agcredit imagery fetch`)" in text
