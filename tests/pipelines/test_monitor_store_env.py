"""``agcredit monitor`` reads AGCREDIT_STORE_URL as every other command's --store does (L6 of the operations
walkthrough: it was ignored, so a deployment that sets the store once in the environment listed alerts naming no
decided line)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

KEY = "agcredit-test-token-key-0123"


@pytest.fixture
def county(tiny_county_sh: Path, tmp_path: Path) -> Path:
    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c, ignore=shutil.ignore_patterns("scenes", ".cache"))
    (c / "scenes").symlink_to(tiny_county_sh / "scenes")
    return c


def test_monitor_defaults_its_store_to_agcredit_store_url(county: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines._cli_reunderwrite as cli_ru

    seen: list[str | None] = []

    def stop(book: object, store: str | None, season: str, day: object) -> object:
        seen.append(store)
        raise SystemExit(0)  # the store given is all this test needs: no scene is read

    monkeypatch.setattr(cli_ru, "_with_decided", stop)
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    args = ["monitor", "--county", str(county), "--cache", str(tmp_path / "cache"), "--as-of", "2009-09-15",
            "--crop-model", "none"]
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    CliRunner().invoke(app, args, env={**env, "AGCREDIT_STORE_URL": url})
    CliRunner().invoke(app, [*args, "--store", "sqlite:///given.db"], env={**env, "AGCREDIT_STORE_URL": url})
    CliRunner().invoke(app, args, env={**env, "AGCREDIT_STORE_URL": ""})
    assert seen == [url, "sqlite:///given.db", None]


def test_monitor_with_a_missing_store_in_the_environment_is_a_one_line_error(county: Path, tmp_path: Path) -> None:
    nope = tmp_path / "nope.db"
    r = CliRunner().invoke(app, ["monitor", "--county", str(county), "--cache", str(tmp_path / "cache"), "--as-of",
                                 "2009-09-15", "--crop-model", "none"],
                           env={"AGCREDIT_TOKEN_KEY": KEY, "AGCREDIT_STORE_URL": f"sqlite:///{nope}"})
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: ") and "no database file there" in r.stderr and not nope.exists(), r.stderr


def test_monitor_with_a_model_whose_saved_thresholds_contradict_is_a_one_line_error(
        county: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crop-type model whose meta.json ``alert_params`` hold ``mismatch_cohort_ratio`` at or above
    ``mismatch_season_ratio`` (one cohort ratio both vouching for a declaration and disputing it): a one-line user
    error, exit 2, before any scene is read — nothing stopped it."""
    import pipelines._cli_reunderwrite as cli_ru
    from tests.crop_stub import FittedStub, saved_and_restored

    bad = {"in-smallholder": {"mismatch_cohort_ratio": 3.5, "mismatch_season_ratio": 3.0}}
    _, model = saved_and_restored(FittedStub(alert_params_=bad))  # as read back from meta.json
    monkeypatch.setattr(cli_ru, "_crop_model", lambda spec, day=None: model)
    r = CliRunner().invoke(app, ["monitor", "--county", str(county), "--cache", str(tmp_path / "cache"), "--as-of",
                                 "2009-09-15"], env={"AGCREDIT_TOKEN_KEY": KEY, "AGCREDIT_STORE_URL": ""})
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "mismatch_cohort_ratio (3.5" in r.stderr and "mismatch_season_ratio (3" in r.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.parquet"))
