"""``agcredit --version``: what a support ticket or a model-risk file needs to name the software that produced a
figure or a decision — the release, a digest of the installed source, the shipped policy, the libraries."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from typer.testing import CliRunner

from pipelines._code_digest import VERSION_LIBRARIES, VERSION_SOURCES, source_digest
from pipelines.cli import app
from underwriting.policy import default_policy


def test_version_names_release_source_policy_and_libraries() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == (f"agcredit {metadata.version('agcredit')} (source sha256:{source_digest(VERSION_SOURCES)[:16]} "
                        f"over features, models, underwriting, pipelines)")
    pol = default_policy()
    assert lines[1] == f"shipped policy {pol.policy_id} v{pol.version} (hash {pol.content_hash[:12]})"
    assert lines[2].startswith(f"python {sys.version.split()[0]}; ")
    for name in VERSION_LIBRARIES:
        try:
            assert f"{name} {metadata.version(name)}" in lines[2]
        except metadata.PackageNotFoundError:
            assert f"{name} not installed" in lines[2]
    assert len(lines) == 3
    assert CliRunner().invoke(app, ["-V"]).output == res.output


def test_version_digest_follows_the_source(tmp_path) -> None:
    """Two installations of one release with an edited file print different digests."""
    for d in VERSION_SOURCES:
        (tmp_path / d).mkdir()
        (tmp_path / d / "a.py").write_text("x = 1\n")
    before = source_digest(VERSION_SOURCES, root=tmp_path)
    (tmp_path / "underwriting" / "a.py").write_text("x = 2\n")
    assert source_digest(VERSION_SOURCES, root=tmp_path) != before


def test_version_from_the_console_script_and_without_a_command() -> None:
    """The installed script answers --version without running a command; the bare command still shows help."""
    out = subprocess.run([sys.executable, "-c", "from pipelines.cli import main; main()", "--version"],
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("agcredit ") and out.stderr == ""
    bare = subprocess.run([sys.executable, "-c", "from pipelines.cli import main; main()"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert "Usage:" in bare.stdout + bare.stderr and "Commands" in bare.stdout + bare.stderr
