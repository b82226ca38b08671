"""The challenger in shadow: ``agcredit underwrite`` and ``agcredit reunderwrite`` decide the same lines again with a
model's ``challenger`` version swapped in and keep those decisions in the store's shadow table beside the records —
never records. Through a real registry (the world's yield model as version 1, champion; a version 2 valuing every
field lower, the challenger), the tiny county and its store of first decisions, and the CLI."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines._cli_shadow_opts import SHADOW_OFF
from pipelines.cli import app
from pipelines.featurize import featurize
from pipelines.shadow import SHADOW_TABLE, read_shadow
from tests.pipelines._reunderwrite_world import build_world, lower_yield_model, store_copy
from underwriting.store import DecisionStore

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


@pytest.fixture(scope="module")
def sw(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The re-underwriting world, a registry with version 1 (champion) and a lower-valuing version 2 (challenger), a
    registry with version 1 only (no challenger), one with version 1 and a crop-type challenger, and the season's
    features as of mid-season in a file."""
    from models.registry import promote, register

    w = build_world(tiny_county_sh, tmp_path_factory, "sw-world")
    c, season = w["county"], w["season"]
    root = tmp_path_factory.mktemp("registries")
    low = lower_yield_model(w)
    gov = w["models"].governance
    uris = {}
    for name in ("pair", "solo", "crop"):
        uris[name] = f"sqlite:///{root / name / 'mlflow.db'}"
        (root / name).mkdir()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", uris[name])
            v1 = register(w["models"].yield_model, "yield-value", metrics={"r2_all": 0.5}, governance=gov,
                          operator="tester")
            promote("yield-value", v1, operator="tester")
            if name == "pair":
                v2 = register(low, "yield-value", metrics={"r2_all": 0.4}, governance=gov, operator="tester")
            if name == "crop":  # a crop-type challenger and no crop-type champion (never loaded with --features)
                register(w["models"].yield_model, "crop-type", metrics={"accuracy": 0.5}, governance=gov,
                         operator="tester")
    feats = root / "mid.parquet"
    featurize(c.fields(season), c.imagery, season, w["cps"]["mid"], cache_dir=c.cache_dir).features.to_parquet(
        feats, index=False)
    return {**w, "uris": uris, "versions": (v1, v2), "features": feats}


def _cli(sw: dict[str, Any], args: list[str], monkeypatch: pytest.MonkeyPatch, registry: str = "pair") -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sw["uris"][registry])
    return CliRunner().invoke(app, args)


def _underwrite(sw: dict[str, Any], url: str, *extra: str) -> list[str]:
    c = sw["county"]
    return ["underwrite", "--applications", str(c.path / "records" / "applications.csv"),
            "--fields", str(c.path / "records" / "fields.gpkg"), "--season", sw["season"],
            "--as-of", sw["cps"]["mid"].isoformat(), "--features", str(sw["features"]),
            "--book", str(c.path / "records" / "book.csv"), "--store", url, "--no-progress", *extra]


def _reunderwrite(sw: dict[str, Any], url: str, *extra: str) -> list[str]:
    c = sw["county"]
    return ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of",
            sw["cps"]["mid"].isoformat(), "--store", url, *extra]


def _records(url: str, kind: str | None = None) -> pd.DataFrame:
    with DecisionStore(url, create=False, read_only=True) as st:
        recs = st.records()
    return recs if kind is None else recs[recs["kind"] == kind].reset_index(drop=True)


def _bodies(url: str, kind: str) -> dict[str, str]:
    """The records' bodies (canonical JSON as stored) by record id."""
    r = _records(url, kind)
    return dict(zip(r["record_id"], r["body"], strict=True))


def _no_run_ids(url: str) -> list[str]:
    """The decision records' bodies with the models' run ids left out."""
    out = []
    for body in _bodies(url, "decision").values():
        b = json.loads(body)
        b["models"] = [{**m, "run_id": None} for m in b["models"]]
        b.pop("input_hashes", None)
        b.pop("snapshot_hash", None)
        out.append(json.dumps(b, sort_keys=True))
    return out


def _version(body: dict[str, Any], name: str = "yield-value") -> str:
    """The version of ``name`` a decision body's models block names."""
    return next(str(m["version"]) for m in body["models"] if m["name"] == name)


def _shadow_line(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("shadow:")]


def _drop_shadow(url: str, record_ids: list[str]) -> None:
    """A run killed after its records committed and before its shadow rows did: those rows are not there."""
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    with con:
        con.executemany(f"DELETE FROM {SHADOW_TABLE} WHERE record_id = ?", [(r,) for r in record_ids])
    con.close()


def test_underwrite_writes_one_shadow_row_per_record_and_the_records_are_unchanged(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2 = sw["versions"]
    url, plain = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    r = _cli(sw, _underwrite(sw, url), monkeypatch)
    assert r.exit_code == 0, r.output
    recs = _records(url, "decision")
    sh = read_shadow(url)
    assert len(recs) > 0 and len(sh) == len(recs)
    assert sorted(sh["record_id"]) == sorted(recs["record_id"])
    assert set(sh["model_name"]) == {"yield-value"} and set(sh["model_version"]) == {v2}
    assert set(sh["in_force_version"]) == {v1} and set(sh["kind"]) == {"decision"}
    by_rec = recs.set_index("record_id")
    for row in sh.itertuples(index=False):
        body = json.loads(row.body)
        assert _version(body) == v2, body["models"]  # the shadow decision names the challenger
        assert _version(json.loads(by_rec.loc[row.record_id, "body"])) == v1
        assert row.application_id == by_rec.loc[row.record_id, "application_id"]
        assert row.farmer_token == by_rec.loc[row.record_id, "farmer_token"]
    # the challenger values every field lower: each application's expected crop value is lower, no limit higher
    m = sh.merge(recs[["record_id", "limit", "outcome", "body"]], on="record_id", suffixes=("", "_rec"))
    assert (m["limit"] <= m["limit_rec"]).all()
    value = [(json.loads(a)["computation"]["expected_value_claimed"], json.loads(b)["computation"]
              ["expected_value_claimed"]) for a, b in zip(m["body"], m["body_rec"], strict=True)]
    assert all(a < b for a, b in value), value
    lines = _shadow_line(r.stdout)
    differ = int((m["outcome"] != m["outcome_rec"]).sum())
    assert lines == [f"shadow: yield-value version {v2} (challenger) decided {len(recs)} applications beside version "
                     f"{v1}: outcomes differ on {differ}, limits on {int((m['limit'] != m['limit_rec']).sum())} "
                     f"(store's shadow table: {len(recs)} written, 0 already present)"]
    # the records: byte for byte those of a run without shadow, and of a run with no challenger in the registry
    r2 = _cli(sw, _underwrite(sw, plain, "--no-shadow"), monkeypatch)
    assert r2.exit_code == 0, r2.output
    assert _shadow_line(r2.stdout) == [SHADOW_OFF]
    assert read_shadow(plain).empty
    assert _bodies(plain, "decision") == _bodies(url, "decision")
    solo = f"sqlite:///{tmp_path / 'c.db'}"
    r3 = _cli(sw, _underwrite(sw, solo), monkeypatch, registry="solo")
    assert r3.exit_code == 0, r3.output
    # (version 1 of the other registry is another MLflow run: the bodies differ in its run id only)
    assert sorted(_no_run_ids(solo)) == sorted(_no_run_ids(url))
    assert "shadow" not in r3.output, r3.output
    assert read_shadow(solo).empty  # no challenger: nothing, not a word
    with sqlite3.connect(solo.removeprefix("sqlite:///")) as con:  # nor its table
        assert not con.execute("SELECT name FROM sqlite_master WHERE name = ?", (SHADOW_TABLE,)).fetchall()
    # a re-run adds nothing, to the records or the shadow table
    again = _cli(sw, _underwrite(sw, url), monkeypatch)
    assert again.exit_code == 0, again.output
    assert f"(store's shadow table: 0 written, {len(recs)} already present)" in _shadow_line(again.stdout)[0]
    assert "stored 0 new records" in again.stdout and len(read_shadow(url)) == len(recs)


def test_a_killed_runs_missing_shadow_rows_are_added_by_its_rerun_and_nothing_else(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert _cli(sw, _underwrite(sw, url), monkeypatch).exit_code == 0
    full = read_shadow(url)
    gone = sorted(full["record_id"])[::2]
    _drop_shadow(url, gone)
    records = _bodies(url, "decision")
    r = _cli(sw, _underwrite(sw, url), monkeypatch)
    assert r.exit_code == 0, r.output
    assert "stored 0 new records" in r.stdout
    assert (f"(store's shadow table: {len(gone)} written, {len(full) - len(gone)} already present)"
            in _shadow_line(r.stdout)[0])
    back = read_shadow(url)
    cols = ["record_id", "model_name", "model_version", "body_hash", "outcome", "limit"]
    assert back[cols].equals(full[cols])  # the same rows, the same bodies
    assert _bodies(url, "decision") == records
    # records written by a run with --no-shadow: a later run adds every shadow row, no record
    url2 = f"sqlite:///{tmp_path / 'n.db'}"
    assert _cli(sw, _underwrite(sw, url2, "--no-shadow"), monkeypatch).exit_code == 0
    r = _cli(sw, _underwrite(sw, url2), monkeypatch)
    assert "stored 0 new records" in r.stdout and len(read_shadow(url2)) == len(full)


def test_a_failing_challenger_warns_and_leaves_the_run_as_it_is(sw: dict[str, Any], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import models.registry as reg
    from models.errors import RegistryError

    real = reg.resolve

    def resolve(name: str, alias: str = "champion", **kw: Any) -> Any:
        if alias == "challenger":
            raise RegistryError(problem="the challenger's artifacts are gone", fix="register it again")
        return real(name, alias, **kw)

    monkeypatch.setattr(reg, "resolve", resolve)
    v1, v2 = sw["versions"]
    warn = _failed_shadow_warning(sw, tmp_path, monkeypatch, "f.db")
    assert warn.startswith(f"warning: shadow: yield-value version {v2} (challenger) failed")
    assert "artifacts are gone" in warn
    # re-underwriting too
    ru = _cli(sw, _reunderwrite(sw, store_copy(sw, tmp_path, "ru")), monkeypatch)
    assert ru.exit_code == 0, ru.output
    assert any(ln.startswith(f"warning: shadow: yield-value version {v2} (challenger) failed")
               for ln in ru.stderr.splitlines())


def test_reunderwrite_writes_shadow_rows_beside_its_records_as_the_impact_computes_them(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shadow decision of each line is, number for number, the candidate side of `models impact --candidate
    challenger --reunderwriting` at the same date: the same decision by two paths."""
    v1, v2 = sw["versions"]
    url, plain = store_copy(sw, tmp_path, "ru"), store_copy(sw, tmp_path, "plain")
    r = _cli(sw, _reunderwrite(sw, url), monkeypatch)
    assert r.exit_code == 0, r.output
    recs = _records(url, "reunderwrite")
    sh = read_shadow(url)
    assert len(recs) > 0 and sorted(sh["record_id"]) == sorted(recs["record_id"])
    assert set(sh["kind"]) == {"reunderwrite"} and set(sh["model_version"]) == {v2}
    assert set(sh["in_force_version"]) == {v1}
    lines = _shadow_line(r.stdout)
    assert len(lines) == 1 and lines[0].startswith(f"shadow: yield-value version {v2} (challenger) decided "
                                                   f"{len(recs)} lines beside version {v1}: ")
    assert lines[0].endswith(f"(store's shadow table: {len(recs)} written, 0 already present)")
    for row in sh.itertuples(index=False):  # each stands beside the record of its line, superseding the same one
        body = json.loads(row.body)
        rec = json.loads(recs.set_index("record_id").loc[row.record_id, "body"])
        assert _version(body) == v2 and _version(rec) == v1
        assert body["reunderwrite"]["previous_record_id"] == rec["reunderwrite"]["previous_record_id"]
        assert body["reunderwrite"]["line_id"] == rec["reunderwrite"]["line_id"]
    # the records are those of a run without shadow, byte for byte
    r2 = _cli(sw, _reunderwrite(sw, plain, "--no-shadow"), monkeypatch)
    assert r2.exit_code == 0, r2.output
    assert _shadow_line(r2.stdout) == [SHADOW_OFF]
    assert _bodies(plain, "reunderwrite") == _bodies(url, "reunderwrite") and read_shadow(plain).empty
    # the impact of the challenger on the Book's re-underwriting at the same date: its candidate side is the shadow
    c = sw["county"]
    imp = _cli(sw, ["models", "impact", "yield-value", "--candidate", "challenger", "--reunderwriting", "--county",
                    str(c.path), "--cache", str(c.cache_dir), "--as-of", sw["cps"]["mid"].isoformat(), "--store", url,
                    "--json"], monkeypatch)
    assert imp.exit_code == 0, imp.output
    apps = {a["application_id"]: a for a in json.loads(imp.stdout)["applications"]}
    assert sorted(apps) == sorted(sh["application_id"])
    for row in sh.itertuples(index=False):
        a, body = apps[row.application_id], json.loads(row.body)
        assert (a["outcome_candidate"], a["limit_candidate"]) == (row.outcome, int(row.limit)), row.application_id
        assert a["maturity_candidate"] == body["computation"]["maturity_date"]
        assert a["actions_candidate"] == ";".join(body["reunderwrite"]["proposed_actions"])
        assert a["value_candidate"] == body["computation"].get("expected_value_claimed")
    # a re-run adds nothing; a killed run's missing shadow rows are added by the re-run, and nothing else
    gone = sorted(sh["record_id"])[:2]
    _drop_shadow(url, gone)
    before = _bodies(url, "reunderwrite")
    again = _cli(sw, _reunderwrite(sw, url), monkeypatch)
    assert again.exit_code == 0, again.output
    assert "0 record(s) written" in again.stdout
    assert _shadow_line(again.stdout)[0].endswith(f"(store's shadow table: {len(gone)} written, "
                                                  f"{len(sh) - len(gone)} already present)")
    cols = ["record_id", "model_version", "body_hash"]
    assert read_shadow(url)[cols].equals(sh[cols]) and _bodies(url, "reunderwrite") == before
    third = _cli(sw, _reunderwrite(sw, url), monkeypatch)
    assert _shadow_line(third.stdout)[0].endswith(f"(store's shadow table: 0 written, {len(sh)} already present)")


def test_no_challenger_reunderwrite_says_nothing_of_shadow(sw: dict[str, Any], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    url = store_copy(sw, tmp_path, "solo")
    r = _cli(sw, _reunderwrite(sw, url), monkeypatch, registry="solo")
    assert r.exit_code == 0, r.output
    assert "shadow" not in r.output and read_shadow(url).empty


def test_shadow_rows_round_trip_on_postgresql(sw: dict[str, Any], pg_server: str) -> None:
    """Written and read back on a PostgreSQL store: the same rows, a second write adds nothing."""
    from pipelines.shadow import shadow_rows, write_shadow

    first = sw["first"]
    with DecisionStore(pg_server) as st:
        st.append(first, operator="underwriter")
    rows = shadow_rows(first, first[::-1], model_name="yield-value", model_version="2", in_force_version="1")
    assert write_shadow(pg_server, rows, "tester") == (len(first), 0)
    assert write_shadow(pg_server, rows, "tester") == (0, len(first))
    got = read_shadow(pg_server, model_version="2")
    assert len(got) == len(first) and got["limit"].dtype == "int64"
    by_app = {str(i.application_id): i for i in first}
    for r in got.itertuples(index=False):
        assert r.body == by_app[r.application_id].body_json and r.in_force_version == "1"
    assert read_shadow(pg_server, model_version="3").empty


def test_a_crop_type_challenger_says_in_one_line_it_cannot_run_on_a_features_file(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, plain = f"sqlite:///{tmp_path / 'crop.db'}", f"sqlite:///{tmp_path / 'plain.db'}"
    r = _cli(sw, _underwrite(sw, url), monkeypatch, registry="crop")
    assert r.exit_code == 0, r.output
    assert _shadow_line(r.stdout) == ["shadow: crop-type version 1 (challenger) not run: a crop-type challenger "
                                      "cannot run in shadow without imagery (the features file given carries its crop "
                                      "model's answers)"]
    assert read_shadow(url).empty
    assert _cli(sw, _underwrite(sw, plain, "--no-shadow"), monkeypatch, registry="crop").exit_code == 0
    assert _bodies(url, "decision") == _bodies(plain, "decision")


def test_reunderwrite_due_runs_each_checkpoint_in_shadow(sw: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    c = sw["county"]
    v1, v2 = sw["versions"]
    url = store_copy(sw, tmp_path, "due")
    r = _cli(sw, ["reunderwrite", "--due", "--county", str(c.path), "--cache", str(c.cache_dir), "--store", url,
                  "--today", sw["cps"]["mid"].isoformat()], monkeypatch)
    assert r.exit_code == 0, r.output
    recs = _records(url, "reunderwrite")
    sh = read_shadow(url)
    assert len(recs) > 0 and sorted(sh["record_id"]) == sorted(recs["record_id"])
    assert set(sh["model_version"]) == {v2} and set(sh["in_force_version"]) == {v1}
    lines = _shadow_line(r.stdout)
    assert lines and all(ln.startswith(f"shadow: yield-value version {v2} (challenger) decided ") for ln in lines)
    assert sum(int(ln.split(" decided ")[1].split()[0]) for ln in lines) == len(recs)
    # killed after the last date's records committed, before its shadow rows and its checkpoint's mark: the re-run
    # finds the checkpoint's records written (writes none) and adds its shadow rows, nothing else
    from pipelines.schedule import LOG_TABLE, RECORDS_TABLE

    last = str(recs["as_of"].max())
    gone = sorted(recs.loc[recs["as_of"] == last, "record_id"])
    _drop_shadow(url, gone)
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    with con:
        con.execute(f"DELETE FROM {RECORDS_TABLE} WHERE record_id IN ({','.join('?' * len(gone))})", gone)
        con.execute(f"DELETE FROM {LOG_TABLE} WHERE as_of = ?", (last,))
    con.close()
    before = _bodies(url, "reunderwrite")
    again = _cli(sw, ["reunderwrite", "--due", "--county", str(c.path), "--cache", str(c.cache_dir), "--store", url,
                      "--today", sw["cps"]["mid"].isoformat()], monkeypatch)
    assert again.exit_code == 0, again.output
    assert "0 record(s) written" in again.stdout or "already decided as of " + last in again.stdout, again.stdout
    assert _shadow_line(again.stdout)[-1].endswith(f"(store's shadow table: {len(gone)} written, 0 already present)")
    cols = ["record_id", "model_version", "body_hash"]
    assert read_shadow(url)[cols].equals(sh[cols]) and _bodies(url, "reunderwrite") == before


@pytest.fixture(scope="module")
def cropreal(sw: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A registry with the yield champion, a crop-type champion (version 1) and a crop-type challenger (version 2,
    trained otherwise); ``sw`` with its uri as ``cropreal``."""
    from models.registry import promote, register
    from pipelines.train_crop import train_crop_type_county

    c = sw["county"]
    root = tmp_path_factory.mktemp("cropreal")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        v1 = register(sw["models"].yield_model, "yield-value", metrics={"r2_all": 0.5},
                      governance=sw["models"].governance, operator="tester")
        promote("yield-value", v1, operator="tester")
        base = {"n_estimators": 20, "num_leaves": 7, "min_class_count": 1, "period_days": 16}
        train_crop_type_county(c, params=base, promote=False)  # the tiny county's figures miss the minimum metrics
        promote("crop-type", "1", operator="tester", force=True, reason="test", approved_by="second-tester")
        train_crop_type_county(c, params={**base, "n_estimators": 5, "num_leaves": 3}, promote=False)
    return {**sw, "uris": {"cropreal": uri}, "crop_root": root}


def _from_imagery(sw: dict[str, Any], url: str, *extra: str) -> list[str]:
    """``underwrite`` from the county's scenes (features built, a crop model run) instead of the features file."""
    c = sw["county"]
    args = [a for a in _underwrite(sw, url, *extra) if a != str(sw["features"])]
    args[args.index("--features")] = "--imagery"
    args[args.index("--imagery") + 1:args.index("--imagery") + 1] = [str(c.imagery), "--cache", str(c.cache_dir)]
    return args


def test_a_crop_type_challenger_builds_its_own_features_in_shadow(cropreal: dict[str, Any], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A crop-type champion (version 1) and challenger (version 2, trained otherwise) beside the yield champion: from
    the imagery, the challenger's decisions are built on features its own crop model built (their provenance names
    it, and they were built with its crop model, not the run's reused), the records are those of a run without shadow;
    re-underwriting too, its alerts computed with the challenger's crop model (not the run's, from the memo)."""
    import pipelines.featurize as fz

    sw = cropreal
    args = _from_imagery(sw, f"sqlite:///{tmp_path / 'u.db'}")
    real_fz, built = fz.featurize, []

    def featurize_spy(*a: Any, **kw: Any) -> Any:
        built.append(kw.get("crop_model"))
        return real_fz(*a, **kw)

    with monkeypatch.context() as mp:
        mp.setattr(fz, "featurize", featurize_spy)
        r = _cli(sw, args, monkeypatch, registry="cropreal")
    assert r.exit_code == 0, r.output
    # the run's features built with its crop model, then the challenger's with the challenger's (not the run's reused)
    assert len(built) == 2 and built[0] is not built[1] and all(m is not None for m in built), built
    recs = _records(f"sqlite:///{tmp_path / 'u.db'}", "decision")
    sh = read_shadow(f"sqlite:///{tmp_path / 'u.db'}")
    assert sorted(sh["record_id"]) == sorted(recs["record_id"]) and len(sh) > 0
    assert set(sh["model_name"]) == {"crop-type"} and set(sh["model_version"]) == {"2"}
    assert set(sh["in_force_version"]) == {"1"}, r.output
    for row in sh.itertuples(index=False):
        prov = json.loads(row.body)["provenance"]
        assert prov["crop_model_version"].startswith("crop-type version 2 (challenger)"), prov["crop_model_version"]
    assert all(json.loads(b)["provenance"]["crop_model_version"].startswith("crop-type version 1 (champion)")
               for b in recs["body"])
    assert _shadow_line(r.stdout)[0].startswith(f"shadow: crop-type version 2 (challenger) decided {len(recs)} "
                                                "applications beside version 1: ")
    plain = [a if not a.endswith("u.db") else f"sqlite:///{tmp_path / 'p.db'}" for a in args]
    assert _cli(sw, [*plain, "--no-shadow"], monkeypatch, registry="cropreal").exit_code == 0
    assert _bodies(f"sqlite:///{tmp_path / 'p.db'}", "decision") == _bodies(f"sqlite:///{tmp_path / 'u.db'}",
                                                                            "decision")
    # re-underwriting: the challenger's lines beside the records, each naming its crop model; the alerts of the
    # challenger's run computed with its crop model (the memo serves a yield-value challenger the run's only)
    import pipelines.monitor as monitor

    real, seen = monitor.season_alerts, []

    def spy(*a: Any, **kw: Any) -> Any:
        seen.append(str(getattr(kw.get("crop_model"), "__class__", None)) + f"@{id(kw.get('crop_model'))}")
        return real(*a, **kw)

    monkeypatch.setattr(monitor, "season_alerts", spy)
    url = store_copy(sw, tmp_path, "ru")
    ru = _cli(sw, _reunderwrite(sw, url), monkeypatch, registry="cropreal")
    assert ru.exit_code == 0, ru.output
    assert len(seen) == 2 and seen[0] != seen[1], seen  # the run's crop model, then the challenger's
    rr, rs = _records(url, "reunderwrite"), read_shadow(url)
    assert len(rr) > 0 and sorted(rs["record_id"]) == sorted(rr["record_id"])
    assert set(rs["model_name"]) == {"crop-type"} and set(rs["model_version"]) == {"2"}
    assert all(json.loads(b)["provenance"]["crop_model_version"].startswith("crop-type version 2 (challenger)")
               for b in rs["body"])


def test_a_pinned_season_scale_is_pinned_once_on_a_crop_type_challenger(cropreal: dict[str, Any], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``reunderwrite --crop-season-scale 1.2``: the challenger's crop model is pinned at 1.2 once, its description
    the one the challenger records as the model in force of such a run."""
    sw = cropreal
    url = store_copy(sw, tmp_path, "scale")
    r = _cli(sw, _reunderwrite(sw, url, "--crop-season-scale", "1.2"), monkeypatch, registry="cropreal")
    assert r.exit_code == 0, r.output
    rr, rs = _records(url, "reunderwrite"), read_shadow(url)
    assert len(rs) == len(rr) > 0
    rec = {json.loads(b)["provenance"]["crop_model_version"] for b in rr["body"]}
    got = {json.loads(b)["provenance"]["crop_model_version"] for b in rs["body"]}
    assert len(rec) == 1 and len(got) == 1, (rec, got)
    (rec_desc,), (desc,) = rec, got
    assert rec_desc.count("season scale pinned") == 1 and desc.count("season scale pinned") == 1, desc
    # the challenger's description is the champion's with the version, alias and run swapped: the same suffix
    assert desc.startswith("crop-type version 2 (challenger)")
    assert desc.split("season scale pinned", 1)[1] == rec_desc.split("season scale pinned", 1)[1]


def test_a_crop_type_challenger_that_is_the_champions_model_runs_in_shadow(
        cropreal: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The champion's crop model registered again (version 3, the challenger): the same model under another version
    runs in shadow as a re-registered yield model does — one line, the same decisions, no failure."""
    import shutil

    import models.registry as reg
    from models.registry import register, resolve

    root = tmp_path / "reg"
    shutil.copytree(cropreal["crop_root"], root)
    sw = {**cropreal, "uris": {"same": f"sqlite:///{root / 'mlflow.db'}"}}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sw["uris"]["same"])
    reg.relocate_store()  # the copy reads and writes its own artifacts
    champ = resolve("crop-type", "champion")
    v3 = register(champ.model, "crop-type", metrics={"accuracy": 0.5}, governance=cropreal["models"].governance,
                  operator="tester")
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = _cli(sw, _from_imagery(sw, url), monkeypatch, registry="same")
    assert r.exit_code == 0, r.output
    assert "shadow" not in r.stderr and "failed" not in r.output, r.output
    recs = _records(url, "decision")
    assert _shadow_line(r.stdout) == [f"shadow: crop-type version {v3} (challenger) decided {len(recs)} applications "
                                      "beside version 1: outcomes differ on 0, limits on 0 (store's shadow table: "
                                      f"{len(recs)} written, 0 already present)"]


def test_a_challenger_failing_after_it_loads_warns_once_and_leaves_the_run_as_it_is(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The challenger loads and decides, then its shadow write fails: one warning, the records and the exit code those
    of a run without shadow, no shadow row."""
    import pipelines.shadow as shadow
    from underwriting.errors import StoreError

    def boom(url: str, rows: Any, operator: str) -> Any:
        raise StoreError(url=url, problem="the shadow table is locked")

    monkeypatch.setattr(shadow, "write_shadow", boom)
    v1, v2 = sw["versions"]
    warn = _failed_shadow_warning(sw, tmp_path, monkeypatch, "w.db")
    assert warn.startswith(f"warning: shadow: yield-value version {v2} (challenger) failed, "
                           "the run's own decisions are unaffected: "), warn
    assert "locked" in warn


def _failed_shadow_warning(sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: str) -> str:
    """An underwriting run into ``db`` whose challenger fails (the test's patch): exit 0, one shadow warning (returned),
    no shadow line, no shadow row, and the records those of a ``--no-shadow`` run."""
    url, plain = f"sqlite:///{tmp_path / db}", f"sqlite:///{tmp_path / 'p.db'}"
    r = _cli(sw, _underwrite(sw, url), monkeypatch)
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if "shadow" in ln]
    assert len(warn) == 1 and not _shadow_line(r.stdout), warn
    assert _cli(sw, _underwrite(sw, plain, "--no-shadow"), monkeypatch).exit_code == 0
    assert _bodies(url, "decision") == _bodies(plain, "decision") and read_shadow(url).empty
    return warn[0]


def test_no_shadow_does_not_ask_the_registry(sw: dict[str, Any], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``--no-shadow``: no alias of the challenger looked up (a slow tracking server would stall the run after its
    records are stored); one line says shadow is off."""
    import models.registry as reg

    real, asked = reg.alias_version, []

    def alias_version(name: str, alias: str = "champion") -> Any:
        if alias == "challenger":
            asked.append(name)
        return real(name, alias)

    monkeypatch.setattr(reg, "alias_version", alias_version)
    r = _cli(sw, _underwrite(sw, f"sqlite:///{tmp_path / 'n.db'}", "--no-shadow"), monkeypatch)
    assert r.exit_code == 0, r.output
    assert _shadow_line(r.stdout) == [SHADOW_OFF] and asked == []
    r = _cli(sw, _underwrite(sw, f"sqlite:///{tmp_path / 'y.db'}"), monkeypatch)  # with shadow: asked
    assert r.exit_code == 0 and sorted(set(asked)) == ["crop-type", "yield-value"], asked


def _applications(sw: dict[str, Any], path: Path, change: Any) -> Path:
    """The county's applications changed by ``change`` (a frame → frame), written to ``path``."""
    apps = pd.read_csv(sw["county"].path / "records" / "applications.csv", dtype=str, keep_default_na=False)
    change(apps).to_csv(path, index=False)
    return path


def _with_applications(args: list[str], path: Path) -> list[str]:
    out = list(args)
    out[out.index("--applications") + 1] = str(path)
    return out


def test_underwrite_pairs_shadow_rows_only_with_records_it_wrote_or_found(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Applications the store already decided otherwise are skipped (forward only): no shadow row for them — a shadow
    row stands beside a stored record, never beside a decision the run did not write."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    season = str(sw["season"])
    apps = pd.read_csv(sw["county"].path / "records" / "applications.csv", dtype=str, keep_default_na=False)
    ids = sorted(apps.loc[apps["season"] == season, "application_id"])[:2]

    def more(a: pd.DataFrame) -> pd.DataFrame:  # two applications alone, with other inputs: decided otherwise
        a = a[a["application_id"].isin(ids)].copy()
        a["requested_amount"] = (pd.to_numeric(a["requested_amount"]) + 1000).map("{:.2f}".format)
        return a

    other = _applications(sw, tmp_path / "other.csv", more)
    assert _cli(sw, _with_applications(_underwrite(sw, url, "--no-shadow"), other), monkeypatch).exit_code == 0
    first = set(_records(url, "decision")["record_id"])
    r = _cli(sw, _underwrite(sw, url), monkeypatch)
    assert r.exit_code == 0, r.output
    recs = _records(url, "decision")
    sh = read_shadow(url)
    new = set(recs["record_id"]) - first
    assert len(new) > 0 and set(sh["record_id"]) == new, (sorted(sh["record_id"]), sorted(new))
    assert not set(sh["application_id"]) & set(ids)


def test_underwrite_shadow_reads_pledges_as_the_run_read_them(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A farmer's second application of the season (the same fields pledged twice) decided in one run: the run reads
    no holder in the store, the first of the two holds the fields; the shadow reads the store as the run did (before
    its records), so the same application — and only it — is referred for a second pledge on both sides."""
    url = f"sqlite:///{tmp_path / 'pl.db'}"
    season = str(sw["season"])

    def twice(a: pd.DataFrame) -> pd.DataFrame:
        one = a[a["season"] == season].sort_values("application_id").head(1).copy()
        one["application_id"] = one["application_id"] + "-B"
        return pd.concat([a, one], ignore_index=True)

    import pipelines.underwrite as uw

    real, read = uw.score_and_decide, []

    def spy(*a: Any, **kw: Any) -> Any:  # what each side read of the store: the run's, then the challenger's
        read.append((kw.get("pledged"), kw.get("open_alerts")))
        return real(*a, **kw)

    monkeypatch.setattr(uw, "score_and_decide", spy)
    apps = _applications(sw, tmp_path / "twice.csv", twice)
    r = _cli(sw, _with_applications(_underwrite(sw, url), apps), monkeypatch)
    assert r.exit_code == 0, r.output
    # the challenger's decisions read the store's pledges and open alerts as the run read them (none: a new store),
    # not as they stand after the run's records (the first application then holds the fields)
    assert len(read) == 2 and read[1] == read[0], read
    recs = _records(url, "decision").set_index("record_id")
    sh = read_shadow(url)
    assert len(sh) == len(recs)

    def pledged(body: str) -> bool:
        return "FIELDS_ALREADY_PLEDGED" in (json.loads(body).get("refer_reasons") or [])

    rec_pledged = {recs.loc[r, "application_id"] for r in recs.index if pledged(recs.loc[r, "body"])}
    sh_pledged = {a for a, b in zip(sh["application_id"], sh["body"], strict=True) if pledged(b)}
    assert len(rec_pledged) == 1 and sh_pledged == rec_pledged, (rec_pledged, sh_pledged)


def test_two_runs_writing_the_same_shadow_rows_at_once_both_succeed(sw: dict[str, Any], tmp_path: Path,
                                                                    pg_server: str) -> None:
    """Two runs of the same date at once (PostgreSQL and SQLite): each row stored once, neither fails, the written
    counts add up to the rows (an insert that skips present keys: a read-then-insert hit the primary key)."""
    from pipelines.shadow import shadow_rows, write_shadow

    first = sw["first"]
    for url in (pg_server, f"sqlite:///{tmp_path / 'race.db'}"):
        with DecisionStore(url) as st:
            st.append(first, operator="underwriter")
        rows = shadow_rows(first, first, model_name="yield-value", model_version="7", in_force_version="1")
        assert write_shadow(url, rows[:1], "tester") == (1, 0)  # the table made, one row present
        got = _at_once(write_shadow, url, rows, "tester")
        assert all(isinstance(g, tuple) for g in got), got
        assert sum(g[0] for g in got) == len(rows) - 1 and all(sum(g) == len(rows) for g in got), got
        assert len(read_shadow(url, model_version="7")) == len(rows)
    # the first shadow rows of a store, two runs at once: one creates the table, the other waits (PostgreSQL's
    # catalogue raced without the lock: a duplicate pg_type row, one run's rows lost)
    import sqlalchemy as sa

    from pipelines.shadow import SHADOW_TABLE

    engine = sa.create_engine(pg_server)
    try:
        for attempt in range(3):
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {SHADOW_TABLE}"))
            got = _at_once(write_shadow, pg_server, rows, "tester")
            assert all(isinstance(g, tuple) for g in got), (attempt, got)
            assert sorted(g[0] for g in got) == [0, len(rows)], (attempt, got)
    finally:
        engine.dispose()


def _at_once(fn: Any, *args: Any) -> list[Any]:
    """``fn(*args)`` in two threads started together: what each returned or raised."""
    import threading

    got: list[Any] = []
    start = threading.Barrier(2)

    def go() -> None:
        start.wait()
        try:
            got.append(fn(*args))
        except Exception as e:  # noqa: BLE001 - the failure is the finding
            got.append(e)

    ts = [threading.Thread(target=go) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return got


def test_fewer_shadow_decisions_than_records_are_said(sw: dict[str, Any], tmp_path: Path) -> None:
    """A challenger that decides fewer lines than the run's records: its summary line says N of M and names those
    without a shadow decision (no line drops out of the shadow silently)."""
    from pipelines.shadow import ShadowSet, run_shadow

    first = sw["first"]
    url = f"sqlite:///{tmp_path / 'few.db'}"
    with DecisionStore(url) as st:
        st.append(first, operator="underwriter")
    s = ShadowSet("yield-value", "2", "1", None)
    (got,) = run_shadow([s], lambda _s: first[1:], first, url, "tester", unit="lines")
    assert got.decided == len(first) - 1 and got.of == len(first) and got.missing == (str(first[0].application_id),)
    assert (f"decided {len(first) - 1} of the run's {len(first)} lines beside version 1: " in got.line()
            and got.line().endswith(f"; no shadow decision for 1 (the challenger, on the store as the run read it, "
                                    f"did not decide them): {first[0].application_id}")), got.line()
    (full,) = run_shadow([s], lambda _s: first, first, url, "tester", unit="lines")
    assert f"decided {len(first)} lines beside" in full.line() and "no shadow decision" not in full.line()


def test_a_rerun_finding_some_records_and_writing_others_shadows_every_line(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-underwriting of one crop's lines (no shadow), then of the whole Book on the same date: the second run finds
    the first half's records and writes the rest; each group is decided in shadow on its own view of the store, and
    every record of the date has its shadow row (none dropped, the summary says no "N of M")."""
    from pipelines.reunderwrite import reunderwrite
    from underwriting.policy import default_policy

    monkeypatch.setenv("MLFLOW_TRACKING_URI", sw["uris"]["pair"])
    c, season, day = sw["county"], str(sw["season"]), sw["cps"]["mid"]
    url = store_copy(sw, tmp_path, "half")
    book = c.book()
    kw = dict(season=season, as_of=day, fields=c.fields(season), imagery=c.imagery,
              applications=c.applications(), store=url, policy=default_policy(), profile=c.profile,
              cache_dir=c.cache_dir)
    crop = sorted(book["crop"].astype(str).unique())[0]
    half = reunderwrite(**kw, book=book, crops=[crop])  # type: ignore[arg-type]
    assert half.written > 0 and read_shadow(url).empty
    full = reunderwrite(**kw, book=book, shadow=True)  # type: ignore[arg-type]
    assert full.written > 0 and full.already_present == half.written, (full.written, full.already_present)
    (got,) = full.shadow
    assert got.failed is None and got.decided == got.of == len(full.items), got.line()
    assert "of the run's" not in got.line()
    recs = _records(url, "reunderwrite")
    assert sorted(read_shadow(url)["record_id"]) == sorted(recs.loc[recs["as_of"] == day.isoformat(), "record_id"])
    assert len(recs.loc[recs["as_of"] == day.isoformat()]) == len(full.items)


def test_a_due_checkpoint_covered_by_records_without_shadow_rows_adds_them_as_a_repeat_of_their_date(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain ``reunderwrite --as-of D --no-shadow`` (every crop's lines), then ``reunderwrite --due --today D``: the
    checkpoints before D (cotton emergence, maize mid_season) are covered by those records — not run, as before —
    and the challenger decides their lines in shadow as a repeated run of D would: the same shadow rows as that
    repeat's, no record; a second ``--due`` adds nothing. Covering records that have their rows: nothing missing,
    nothing repeated."""
    import pipelines._reunderwrite_inputs as inputs

    c, day = sw["county"], sw["cps"]["mid"].isoformat()
    v1, v2 = sw["versions"]

    def plain(url: str, *extra: str) -> Any:
        return _cli(sw, _reunderwrite(sw, url, *extra), monkeypatch)

    def due(url: str) -> Any:
        return _cli(sw, ["reunderwrite", "--due", "--county", str(c.path), "--cache", str(c.cache_dir), "--store", url,
                         "--today", day], monkeypatch)

    url, rep, full = (store_copy(sw, tmp_path, n) for n in ("cov", "rep", "full"))
    assert plain(url, "--no-shadow").exit_code == 0
    before = _bodies(url, "reunderwrite")
    r = due(url)
    assert r.exit_code == 0, r.output
    assert r.stdout.count(f"covered by the records as of {day}") == 2, r.stdout
    recs = _records(url, "reunderwrite")
    sh = read_shadow(url)
    assert _bodies(url, "reunderwrite") == before and len(recs) > 0  # no record written
    assert sorted(sh["record_id"]) == sorted(recs["record_id"]), r.stdout  # before: no shadow row at all
    assert set(sh["model_version"]) == {v2} and set(sh["in_force_version"]) == {v1}
    lines = _shadow_line(r.stdout)
    assert lines and all(ln.startswith(f"shadow: yield-value version {v2} (challenger) decided ") for ln in lines)
    assert sum(int(ln.split(" decided ")[1].split()[0]) for ln in lines) == len(recs), lines
    # the rows a repeated run of that date adds to the same records: the same decisions, body for body
    assert plain(rep, "--no-shadow").exit_code == 0 and plain(rep).exit_code == 0
    cols = ["record_id", "model_name", "model_version", "in_force_version", "outcome", "limit", "body_hash"]
    assert sh[cols].equals(read_shadow(rep)[cols])
    # a second --due: nothing due, nothing added
    again = due(url)
    assert again.exit_code == 0 and not _shadow_line(again.stdout), again.stdout
    assert read_shadow(url)[cols].equals(sh[cols]) and _bodies(url, "reunderwrite") == before
    # covering records written with their shadow rows: nothing missing, the date not repeated
    assert plain(full).exit_code == 0
    had = read_shadow(full)
    real, repeated = inputs.reunderwrite_county, []

    def spy(*a: Any, **kw: Any) -> Any:
        repeated.append(kw.get("shadow_only"))
        return real(*a, **kw)

    monkeypatch.setattr(inputs, "reunderwrite_county", spy)
    r = due(full)
    assert r.exit_code == 0 and r.stdout.count(f"covered by the records as of {day}") == 2, r.stdout
    assert repeated == [] and not _shadow_line(r.stdout) and read_shadow(full)[cols].equals(had[cols])


def test_a_covered_checkpoints_repeat_is_given_the_pins_its_records_name(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Covering records of a run given ``--hazy-dates none`` (their provenance says the haze was pinned): the
    ``--due`` run's repeat pins it again and finds them — a repeat judging the haze itself has other provenance and
    finds none (it said so in a warning, no row) — and its rows are those of that run repeated with the same pin."""
    c, day = sw["county"], sw["cps"]["mid"].isoformat()

    def plain(url: str, *extra: str) -> Any:
        return _cli(sw, _reunderwrite(sw, url, *extra), monkeypatch)

    url, rep = store_copy(sw, tmp_path, "pin"), store_copy(sw, tmp_path, "pinrep")
    assert plain(url, "--no-shadow", "--hazy-dates", "none").exit_code == 0
    r = _cli(sw, ["reunderwrite", "--due", "--county", str(c.path), "--cache", str(c.cache_dir), "--store", url,
                  "--today", day], monkeypatch)
    assert r.exit_code == 0, r.output
    assert "not decided in shadow" not in r.stderr, r.stderr
    recs, sh = _records(url, "reunderwrite"), read_shadow(url)
    assert len(recs) > 0 and sorted(sh["record_id"]) == sorted(recs["record_id"]), r.output
    assert plain(rep, "--no-shadow", "--hazy-dates", "none").exit_code == 0
    assert plain(rep, "--hazy-dates", "none").exit_code == 0
    cols = ["record_id", "model_name", "model_version", "in_force_version", "outcome", "limit", "body_hash"]
    assert sh[cols].equals(read_shadow(rep)[cols])


def test_a_covered_due_runs_repeat_keeps_lines_open_from_that_runs_day() -> None:
    """The repeat of a ``--due`` run keeps the lines open that the run kept (its ``open_on``, read from *every*
    record of that run as ``audit replay`` reads it — not only those lacking a row, whose earliest maturity can be
    later); a plain run has none."""
    from pipelines._reunderwrite_covered import _run_open_on

    def rec(rid: str, day: str, maturity: str, kind: str = "reunderwrite") -> dict[str, Any]:
        return {"record_id": rid, "kind": kind, "as_of": day,
                "body": json.dumps({"reunderwrite": {"line_maturity_date": maturity}})}

    recs = pd.DataFrame([rec("a", "2009-10-25", "2009-12-01"), rec("b", "2009-10-25", "2009-11-05"),
                         rec("c", "2009-10-25", "2009-11-01"), rec("d", "2009-11-30", "2009-10-30"),
                         rec("e", "2009-10-25", "2009-10-28", kind="decision")])
    crop_of = {"a": "maize", "b": "maize", "c": "cotton", "d": "maize", "e": "maize"}
    assert _run_open_on(recs, crop_of, "2009-10-25", "maize") == date(2009, 11, 5)  # a and b: the run's records
    assert _run_open_on(recs, crop_of, "2009-10-25", "cotton") == date(2009, 11, 1)
    assert _run_open_on(recs, crop_of, "2009-10-26", "maize") is None


def test_a_covered_checkpoint_whose_shadow_cannot_be_read_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkpoint is covered whatever its shadow does: a registry that cannot be read for its challengers is one
    warning, nothing repeated, not an aborted ``--due`` run."""
    import pipelines.shadow as shadow_mod
    from pipelines._reunderwrite_covered import shadow_covered

    def broken(*a: Any, **kw: Any) -> Any:
        raise OSError("registry unreachable")

    monkeypatch.setattr(shadow_mod, "challengers", broken)
    said: list[str] = []
    d = SimpleNamespace(crop="maize", checkpoint="mid_season", date=date(2009, 8, 31), season="2009")
    out = shadow_covered(None, pd.DataFrame(), d, "sqlite:///nowhere.db", date(2009, 9, 15),  # type: ignore[arg-type]
                         champions=lambda day: None, policy=None, profile=None, operator=None,  # type: ignore[arg-type,return-value]
                         progress=said.append, memo={})
    assert out == [] and len(said) == 1 and said[0].startswith("warning: shadow: the records covering maize "
                                                               "mid_season (2009-08-31) could not be read"), said


def test_a_covered_line_an_override_stands_on_is_said_not_filled(
        sw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Covering records written without shadow rows, one line overridden since: the ``--due`` run adds the other
    lines' rows (each dated by the records it stands beside) and names the overridden line in one warning — a repeat
    does not decide a line its override stands on, so the season's judgement will name it missing."""
    c, day = sw["county"], sw["cps"]["mid"].isoformat()
    url = store_copy(sw, tmp_path, "ovr")
    assert _cli(sw, _reunderwrite(sw, url, "--no-shadow"), monkeypatch).exit_code == 0
    recs = _records(url, "reunderwrite")
    target = str(sorted(recs["application_id"])[0])
    r = _cli(sw, ["override", target, "--limit", "0", "--reason", "field visit", "--operator", "analyst-1",
                  "--as-of", day, "--store", url], monkeypatch)
    assert r.exit_code == 0, r.output
    r = _cli(sw, ["reunderwrite", "--due", "--county", str(c.path), "--cache", str(c.cache_dir), "--store", url,
                  "--today", day], monkeypatch)
    assert r.exit_code == 0, r.output
    sh = read_shadow(url)
    others = recs[recs["application_id"].astype(str) != target]
    assert sorted(sh["record_id"]) == sorted(others["record_id"]) and len(others) > 0, r.output
    said = [ln for ln in r.output.splitlines() if "an override since" in ln]
    assert len(said) == 1 and said[0].endswith(f": {target}"), r.output
    lines = _shadow_line(r.stdout)
    assert lines and all(f"line(s) (records as of {day}) beside" in ln for ln in lines), lines


def test_a_dated_runs_interval_does_not_move_when_another_runs_rows_are_added() -> None:
    """Each dated run draws its own bootstrap stream, fixed by its kind and date: a covered ``--due`` checkpoint
    adding an earlier date's rows later does not move the intervals already published for the later one."""
    from pipelines.shadow_report import yield_figures

    def run(as_of: str, n: int = 30) -> pd.DataFrame:
        return pd.DataFrame({"checkpoint": "end", "as_of": as_of, "kind": "reunderwrite",
                             "application_id": [f"A{i:02d}" for i in range(n)],
                             "farmer_token": [f"t{i // 2}" for i in range(n)],
                             "field_id": [f"F{i:02d}" for i in range(n)], "reported": np.linspace(1, 4, n),
                             "p10_base": 1.5, "p50_base": 2.5, "p10_shadow": 1.0,
                             "p50_shadow": np.linspace(1, 4, n) + 0.1})

    late = yield_figures(run("2010-02-28"))
    both = yield_figures(pd.concat([run("2009-10-25"), run("2010-02-28")], ignore_index=True))
    assert [f["as_of"] for f in both] == ["2009-10-25", "2010-02-28"]
    assert both[1]["p50_abs_error_t_ha"]["interval"] == late[0]["p50_abs_error_t_ha"]["interval"]
    assert both[0]["p50_abs_error_t_ha"]["interval"] != both[1]["p50_abs_error_t_ha"]["interval"]
