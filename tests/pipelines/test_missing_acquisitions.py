"""A scene folder a partial `imagery fetch` left incomplete (acquisitions recorded `missing` in its sentinelhub.json)
is refused by `underwrite`, `reunderwrite`, `value` and `features build` (a decision on the incomplete series is final
and its replay after a re-fetch differs) unless --allow-missing-acquisitions, with which the decisions' provenance
names the dates decided without; `features series` keeps its warning."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.pipelines.test_underwrite import KEY, registry, world  # noqa: F401
from underwriting.store import DecisionStore


def _partial(world: dict[str, Any], tmp_path: Path) -> tuple[Path, str]:  # noqa: F811
    """The county's scene folder with one acquisition of the window (the day before the decision) recorded missing
    by a partial fetch, and that date."""
    c = world["county"]
    folder = tmp_path / "scenes"
    shutil.copytree(c.imagery, folder)
    day = (world["as_of"] - timedelta(days=1)).isoformat()
    later = (world["as_of"] + timedelta(days=5)).isoformat()  # after the decision date: not in its window
    (folder / "sentinelhub.json").write_text(json.dumps({"missing": [
        {"date": day, "tile_id": "43PGQ", "reason": "HTTP 500"},
        {"date": later, "tile_id": "43PGQ", "reason": "HTTP 500"}]}))
    return folder, day


def _refused(r: Any, day: str) -> None:
    assert r.exit_code == 2, r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "1 acquisition date(s) in the window are recorded missing" in lines[0]
    assert day in lines[0] and "`agcredit imagery fetch`" in lines[0] and "--allow-missing-acquisitions" in lines[0]


def test_decisions_on_a_partial_fetch_are_refused_unless_allowed(world: dict[str, Any], registry: str,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    c = world["county"]
    scenes, day = _partial(world, tmp_path)
    runner, env = CliRunner(), {"AGCREDIT_TOKEN_KEY": KEY}
    db = tmp_path / "s.db"
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(scenes), "--season", world["season"],
              "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--cache", str(tmp_path / "cache"),
              "--book", str(c.path / "records" / "book.csv"), "--store", f"sqlite:///{db}", "--crop-model", "none",
              "--no-progress"]
    r = runner.invoke(app, ["underwrite", *common], env=env)
    _refused(r, day)
    assert not db.exists()  # refused before any work: no store created
    later = (world["as_of"] + timedelta(days=5)).isoformat()
    assert later not in r.stderr
    feats = tmp_path / "f.parquet"
    r = runner.invoke(app, ["features", "build", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery",
                            str(scenes), "--season", world["season"], "--as-of", str(world["as_of"]), "--out",
                            str(feats), "--crop-model", "none", "--no-progress"], env=env)
    _refused(r, day)
    assert not feats.exists()
    r = runner.invoke(app, ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(scenes),
                            "--season", world["season"], "--as-of", str(world["as_of"]), "--out",
                            str(tmp_path / "v")], env=env)
    _refused(r, day)
    # allowed: decided, and every decision names the date it was decided without
    r = runner.invoke(app, ["underwrite", *common, "--allow-missing-acquisitions"], env=env)
    assert r.exit_code == 0, r.stderr
    assert day in r.stderr  # the series' warning
    with DecisionStore(f"sqlite:///{db}") as st:
        bodies = [json.loads(b) for b in st.records(world["season"])["body"]]
    assert bodies and all(b["provenance"]["missing_acquisitions"] == [day] for b in bodies)
    # the replay of those decisions reads the same folder (not refused)
    r = runner.invoke(app, ["audit", "replay", *[x for x in common if x != "--no-progress"]], env=env)
    assert r.exit_code == 0 and " 0 differs" in r.stdout, r.stdout + r.stderr
    # a features file built without it names the date in its lineage, and the decisions made from it
    r = runner.invoke(app, ["features", "build", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery",
                            str(scenes), "--season", world["season"], "--as-of", str(world["as_of"]), "--out",
                            str(feats), "--crop-model", "none", "--no-progress", "--allow-missing-acquisitions"],
                       env=env)
    assert r.exit_code == 0, r.stderr
    from pipelines.featurize import read_lineage

    assert (read_lineage(feats) or {}).get("missing_acquisitions") == [day]


def test_reunderwrite_on_a_partial_fetch_is_refused(world: dict[str, Any], registry: str,  # noqa: F811
                                                    tmp_path: Path) -> None:
    from features.errors import UserInputError
    from features.series import missing_acquisitions
    from pipelines.underwrite import underwrite
    from underwriting.policy import default_policy

    c = world["county"]
    scenes, day = _partial(world, tmp_path)
    fields = c.fields(world["season"])
    with pytest.raises(UserInputError, match=rf"1 acquisition date\(s\) in the window .*{day}.*agcredit imagery fetch"):
        missing_acquisitions(fields, scenes, world["season"], world["as_of"], allow=False)
    assert missing_acquisitions(fields, scenes, world["season"], world["as_of"], allow=True) == [day]
    assert missing_acquisitions(fields, c.imagery, world["season"], world["as_of"], allow=False) == []
    # decided on the complete folder; the checkpoint re-underwritten on the partial one is refused
    url = f"sqlite:///{tmp_path / 's.db'}"
    underwrite(world["apps"], fields, world["season"], world["as_of"], imagery=c.imagery, policy=default_policy(),
               profile=c.profile, book=world["book"], store=url, models=world["models"], cache_dir=c.cache_dir,
               features=world["features"])
    args = ["reunderwrite", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(scenes), "--season",
            world["season"], "--as-of", str(world["as_of"]), "--book", str(c.path / "records" / "book.csv"),
            "--applications", str(c.path / "records" / "applications.csv"), "--store", url, "--profile", "in-kcc"]
    r = CliRunner().invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
    _refused(r, day)


def test_reunderwriting_on_a_partial_fetch_allowed_replays_on_the_same_folder(
        world: dict[str, Any], registry: str, tmp_path: Path) -> None:  # noqa: F811
    """Re-underwriting records made with --allow-missing-acquisitions name the dates decided without; `audit replay
    --reunderwriting` (files form) replays them on the same folder, as the decisions' replay does (it was refused)."""
    from pipelines.underwrite import underwrite
    from underwriting.policy import default_policy

    c = world["county"]
    scenes, day = _partial(world, tmp_path)
    url = f"sqlite:///{tmp_path / 's.db'}"
    underwrite(world["apps"], c.fields(world["season"]), world["season"], world["as_of"], imagery=c.imagery,
               policy=default_policy(), profile=c.profile, book=world["book"], store=url, models=world["models"],
               cache_dir=c.cache_dir, features=world["features"])
    later = str(world["as_of"] + timedelta(days=1))
    files = ["--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(scenes), "--season",
             world["season"], "--as-of", later, "--book", str(c.path / "records" / "book.csv"),
             "--applications", str(c.path / "records" / "applications.csv"), "--store", url, "--profile", "in-kcc",
             "--cache", str(tmp_path / "cache")]
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    r = CliRunner().invoke(app, ["reunderwrite", *files, "--allow-missing-acquisitions"], env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    with DecisionStore(url) as st:
        recs = st.records(world["season"])
        bodies = [json.loads(b) for b in recs.loc[recs["kind"] == "reunderwrite", "body"]]
    assert bodies and all(b["provenance"]["missing_acquisitions"] == [day] for b in bodies)
    r = CliRunner().invoke(app, ["audit", "replay", "--reunderwriting", *files], env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"{len(bodies)} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.stdout


def _fetched_to(world: dict[str, Any], tmp_path: Path) -> tuple[Path, str, str]:  # noqa: F811
    """The county's scene folder as `imagery fetch --as-of` ten days before the decision date wrote it (its
    sentinelhub.json's window ends there), the window it was fetched for and the days it lacks (``FIRST/LAST``)."""
    from features.series import season_window

    c = world["county"]
    folder = tmp_path / "scenes"
    shutil.copytree(c.imagery, folder)
    lo, _ = season_window(world["season"], c.region)
    end = world["as_of"] - timedelta(days=10)
    (folder / "sentinelhub.json").write_text(json.dumps({
        "source": "sentinelhub", "start": str(lo), "end": str(end), "windows": [[str(lo), str(end)]]}))
    return folder, f"{lo} to {end}", f"{end + timedelta(days=1)}/{world['as_of']}"


def test_a_folder_fetched_up_to_an_earlier_date_is_refused_at_a_later_as_of(world: dict[str, Any], registry: str,  # noqa: F811
                                                                           tmp_path: Path) -> None:
    """A folder `imagery fetch --as-of` wrote up to an earlier date was used at a later --as-of without a word (every
    field `not_sown`, 0 ha planted: the acquisitions after the fetch's end were never fetched): `features build`,
    `underwrite`, `value` and `reunderwrite` refuse it in one line naming the folder, the window it was fetched for,
    the days asked and the `imagery fetch --as-of` that completes it, unless --allow-missing-acquisitions (the span
    is then recorded); `features series` and `monitor` warn."""
    c = world["county"]
    scenes, fetched, span = _fetched_to(world, tmp_path)
    first, last = span.split("/")
    runner, env = CliRunner(), {"AGCREDIT_TOKEN_KEY": KEY}
    db = tmp_path / "s.db"
    rec = c.path / "records"
    dates = ["--season", world["season"], "--as-of", str(world["as_of"])]
    common = ["--applications", str(rec / "applications.csv"), "--fields", str(rec / "fields.gpkg"), "--imagery",
              str(scenes), *dates, "--profile", "in-kcc", "--cache", str(tmp_path / "cache"),
              "--book", str(rec / "book.csv"), "--store", f"sqlite:///{db}", "--crop-model", "none", "--no-progress"]

    def refused(r: Any) -> None:
        assert r.exit_code == 2, r.stdout + r.stderr
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert (f"scene folder {scenes} was fetched from Sentinel Hub for {fetched} (its sentinelhub.json), not for "
                f"{first} to {last} of the window asked") in lines[0], lines[0]
        assert (f"`agcredit imagery fetch --fields <its fields> --season <its season> --out {scenes} --as-of "
                f"{world['as_of']}`") in lines[0]
        assert "--allow-missing-acquisitions" in lines[0]

    refused(runner.invoke(app, ["underwrite", *common], env=env))
    assert not db.exists()
    feats = tmp_path / "f.parquet"
    build = ["features", "build", "--fields", str(rec / "fields.gpkg"), "--imagery", str(scenes), *dates, "--out",
             str(feats), "--crop-model", "none", "--no-progress"]
    refused(runner.invoke(app, build, env=env))
    assert not feats.exists()
    refused(runner.invoke(app, ["value", "--fields", str(rec / "fields.gpkg"), "--imagery", str(scenes), *dates,
                                "--out", str(tmp_path / "v")], env=env))
    refused(runner.invoke(app, ["reunderwrite", "--fields", str(rec / "fields.gpkg"), "--imagery", str(scenes), *dates,
                                "--book", str(rec / "book.csv"), "--applications", str(rec / "applications.csv"),
                                "--store", f"sqlite:///{tmp_path / 'r.db'}", "--profile", "in-kcc"], env=env))
    # the series is not a decision: it warns, naming what is not fetched
    r = runner.invoke(app, ["features", "series", "--fields", str(rec / "fields.gpkg"), "--imagery", str(scenes),
                            *dates, "--out", str(tmp_path / "s.parquet"), "--no-progress"], env=env)
    assert r.exit_code == 0, r.stderr
    assert f"warning: scene folder {scenes} was fetched from Sentinel Hub for {fetched}" in r.stderr
    r = runner.invoke(app, ["monitor", "--fields", str(rec / "fields.gpkg"), "--imagery", str(scenes), *dates,
                            "--crop-model", "none"], env=env)
    assert r.exit_code == 0, r.stderr
    assert f"warning: scene folder {scenes} was fetched from Sentinel Hub for {fetched}" in r.stderr
    # the portfolio page's curves and alerts come from the same series: it warns too (a review: silent)
    r = runner.invoke(app, ["report", "portfolio", "--fields", str(rec / "fields.gpkg"), "--imagery", str(scenes),
                            "--book", str(rec / "book.csv"), "--as-of", str(world["as_of"]), "--out",
                            str(tmp_path / "rep")], env=env)
    assert f"warning: scene folder {scenes} was fetched from Sentinel Hub for {fetched}" in r.stderr, r.output
    county = tmp_path / "county"  # the county form of the page too
    shutil.copytree(c.path, county, ignore=shutil.ignore_patterns("truth"))
    (county / "scenes" / "sentinelhub.json").write_text((scenes / "sentinelhub.json").read_text())
    r = runner.invoke(app, ["report", "portfolio", "--county", str(county), "--as-of", str(world["as_of"]), "--out",
                            str(tmp_path / "rep2"), "--cache", str(tmp_path / "cache2")], env=env)
    assert f"warning: scene folder {county / 'scenes'} was fetched from Sentinel Hub for {fetched}" in r.stderr, r.output
    # allowed: built, and the lineage names the span built without
    r = runner.invoke(app, [*build, "--allow-missing-acquisitions"], env=env)
    assert r.exit_code == 0, r.stderr
    from pipelines.featurize import read_lineage

    assert (read_lineage(feats) or {}).get("missing_acquisitions") == [span]
    # the fetched window covering the date: nothing said
    (scenes / "sentinelhub.json").write_text(json.dumps({"source": "sentinelhub", "windows": [
        [fetched.split(" to ")[0], str(world["as_of"])]]}))
    r = runner.invoke(app, build, env=env)
    assert r.exit_code == 0 and "fetched from Sentinel Hub" not in r.stderr, r.stderr


def test_value_at_zero_on_a_folder_fetched_to_an_earlier_date_names_the_days_not_fetched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review valued a folder fetched to 2009-07-20 as of 2009-10-10 with --allow-missing-acquisitions: every field
    at 0, and the warning said no planted area was measured yet, "before emergence" — in October. The days not fetched
    are named as the reason (and the fetch that fills them); without days missing the warning is as before."""
    from types import SimpleNamespace

    import pipelines.portfolio as portfolio

    def valued(missing: list[str]) -> Any:
        run = SimpleNamespace(n_without_crop=0, outside_fields=[], n_valued=3, n_fields=3, n_blocks=1, parts_reused=0,
                              scenes_read=4, scenes_cached=0, hazy_dates=[], haze_pinned=False,
                              totals=lambda: {"INR": {"value_p10": 0, "value_p50": 0, "value_p90": 0}})
        return SimpleNamespace(run=run, versions={"yield-value": "1"}, checkpoint="mid", warnings=[], set_aside=[],
                               held_farmers=[], missing_acquisitions=missing)

    scenes = tmp_path / "fe_early"
    scenes.mkdir()
    fields = tmp_path / "f.gpkg"
    fields.write_text("x")
    args = ["value", "--fields", str(fields), "--imagery", str(scenes), "--season", "2009", "--as-of", "2009-10-10",
            "--out", str(tmp_path / "v"), "--allow-missing-acquisitions"]
    monkeypatch.setattr(portfolio, "value_portfolio", lambda *a, **k: valued(["2009-07-21/2009-10-10"]))
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    warned = [x for x in r.stderr.splitlines() if "valued at 0" in x]
    assert warned == [f"warning: every field is valued at 0 as of 2009-10-10: {scenes} lacks the acquisitions of "
                      "2009-07-21/2009-10-10 (not fetched; valued without them: --allow-missing-acquisitions), so the "
                      "fields are seen as of the last day fetched, when no planted area was measured; fetch those days "
                      "into the folder (agcredit imagery fetch ... --as-of 2009-10-10) and re-run"], r.stderr
    assert "emergence" not in r.stderr
    monkeypatch.setattr(portfolio, "value_portfolio", lambda *a, **k: valued([]))
    r = CliRunner().invoke(app, args)
    assert "no planted area is measured yet (before emergence" in r.stderr
