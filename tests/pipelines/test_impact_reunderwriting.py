"""``agcredit models impact --reunderwriting`` and ``agcredit policy impact --reunderwriting``: the Book's active lines
re-underwritten twice as ``agcredit reunderwrite`` would, the store read as it stands and nothing written — through a
real registry (two yield versions and one predicting as the champion), the tiny county and its store of first
decisions, and the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.impact_reunderwriting import compare_lines
from tests.pipelines._reunderwrite_world import build_world, lower_yield_model, store_copy
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


@pytest.fixture(scope="module")
def rw(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The re-underwriting world (the tiny county, its first decisions at emergence in a store) and a registry holding
    the world's yield model as version 1 (champion), a version 2 fitted on targets half as high (it values every
    field lower) and a version 3 predicting as version 1."""
    from models.registry import promote, register

    w = build_world(tiny_county_sh, tmp_path_factory, "impact-reunderwriting")
    root = tmp_path_factory.mktemp("impact-reu-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    low = lower_yield_model(w)
    gov = w["models"].governance
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        v1 = register(w["models"].yield_model, "yield-value", metrics={"r2_all": 0.5}, governance=gov,
                      operator="tester")
        promote("yield-value", v1, operator="tester")
        v2 = register(low, "yield-value", metrics={"r2_all": 0.4}, governance=gov, operator="tester")
        v3 = register(w["models"].yield_model, "yield-value", metrics={"r2_all": 0.5}, governance=gov,
                      operator="tester")
    return {**w, "uri": uri, "versions": (v1, v2, v3)}


def _run(rw: dict[str, Any], args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    return CliRunner().invoke(app, args)


def _county(rw: dict[str, Any], url: str | None, day: Any = None) -> list[str]:
    return ["--reunderwriting", "--county", str(rw["county"].path), "--cache", str(rw["county"].cache_dir),
            "--as-of", str(day or rw["cps"]["mid"]), *(["--store", url] if url else [])]


def _sha(url: str) -> str:
    return hashlib.sha256(Path(url.removeprefix("sqlite:///")).read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class _DeclaredCrop:
    """A stand-in crop-type champion: each field's declared crop, with probability 0.95 (the tiny county's fields pass
    the crop-type evidence checks, so its lines are re-estimated rather than referred)."""

    def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
        out = pd.DataFrame({"field_id": fields["field_id"].astype(str), "season": fields["season"],
                            "as_of": pd.Timestamp(as_of), "checkpoint": "d120",
                            "crop_type": fields["declared_crop"].astype(str), "crop_type_prob": 0.95})
        for c in ("rice", "maize", "cotton"):
            out[f"prob_{c}"] = np.where(out["crop_type"] == c, 0.95, 0.025)
        out["declared_crop_prob"] = 0.95
        return out.reset_index(drop=True)


@pytest.fixture(autouse=True)
def _crop_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's yield versions resolved as they are; the crop-type champion (none registered) stood in for by
    :class:`_DeclaredCrop` wherever the champion is asked for — by the impact and by `agcredit reunderwrite` alike."""
    from dataclasses import replace

    from pipelines._champions import ChampionModels

    real = ChampionModels.resolve.__func__  # type: ignore[attr-defined]

    def resolve(cls: Any, *, crop_model: Any = "champion", **kw: Any) -> Any:
        m = real(cls, crop_model="none" if str(crop_model) == "champion" else crop_model, **kw)
        return (replace(m, crop_model=_DeclaredCrop(), crop_version="crop-type version 1 (stand-in)")
                if str(crop_model) == "champion" else m)

    monkeypatch.setattr(ChampionModels, "resolve", classmethod(resolve))


def _policy(folder: Path, **params: float) -> Path:
    """A copy of the shipped policy with these profile parameters in every profile (version ``…-test``)."""
    import yaml

    from underwriting.policy import DEFAULT_POLICY_PATH

    doc = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    doc["version"] = doc["version"] + "-test"
    for prof in doc["profiles"].values():
        prof.update(params)
    out = folder / "candidate.yaml"
    out.write_text(yaml.safe_dump(doc))
    return out


def _stored(url: str, day: Any) -> dict[str, Any]:
    """The re-underwriting records of ``day`` in a store, by application."""
    with DecisionStore(url, create=False) as st:
        recs = st.records()
    ru = recs[(recs["kind"] == "reunderwrite") & (recs["as_of"] == day.isoformat())]
    return {str(r.application_id): json.loads(r.body) | {"_outcome": r.outcome, "_limit": int(r.limit)}
            for r in ru.itertuples(index=False)}


def _same_as_stored(rows: pd.DataFrame, side: str, stored: dict[str, Any]) -> None:
    """Each line of an impact's side (``base`` or ``candidate``) is the record `reunderwrite` stored for it."""
    assert sorted(rows["application_id"]) == sorted(stored) and len(stored) > 0
    for r in rows.to_dict("records"):
        body = stored[r["application_id"]]
        ru = body["reunderwrite"]
        assert r[f"outcome_{side}"] == body["outcome"] == body["_outcome"], r["application_id"]
        assert r[f"limit_{side}"] == body["computation"]["limit"] == body["_limit"], r["application_id"]
        assert r[f"maturity_{side}"] == body["computation"]["maturity_date"]
        assert r[f"actions_{side}"] == ";".join(ru["proposed_actions"])
        assert r["line_id"] == ru["line_id"] and r["outstanding"] == ru["outstanding"]
        assert r["book_limit"] == ru["book_limit"]
        assert r[f"not_reestimated_{side}"] == ",".join(ru.get("not_reestimated") or [])


def test_each_side_is_what_reunderwrite_writes_and_nothing_is_written(rw: dict[str, Any], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate valuing every field lower, against the champion: the champion's side is, line by line, what
    `agcredit reunderwrite` writes into a copy of the store, and the candidate's what re-underwriting with that version
    writes into another; the store read is byte for byte as before, no features artifact beside it, and the same
    command gives the same JSON byte for byte."""
    from pipelines._champions import ChampionModels
    from pipelines.reunderwrite import reunderwrite_county

    c, mid = rw["county"], rw["cps"]["mid"]
    v1, v2, _ = rw["versions"]
    base_url, cand_url, url = (store_copy(rw, tmp_path, n) for n in ("base", "cand", "read"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    r = CliRunner().invoke(app, ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of",
                                 mid.isoformat(), "--store", base_url])
    assert r.exit_code == 0 and " record(s) written" in r.stdout, r.output
    cand = ChampionModels.resolve(alias=v2, warnings=[], weather=c.weather(), on=mid)
    written = reunderwrite_county(c, rw["season"], mid, store=cand_url, models=cand, book_check_when_deciding=True)
    assert written.written == len(written.items) > 0
    before = _files(tmp_path)
    out = tmp_path / "lines.csv"
    args = ["models", "impact", "yield-value", "--candidate", v2, *_county(rw, url), "--out", str(out)]
    r = _run(rw, args, monkeypatch)
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out, keep_default_na=False)
    _same_as_stored(t, "base", _stored(base_url, mid))
    _same_as_stored(t, "candidate", _stored(cand_url, mid))
    assert _files(tmp_path) == {**before, "lines.csv": _files(tmp_path)["lines.csv"]}  # the store read: untouched
    assert not (tmp_path / "read.artifacts").exists()  # the features artifact hashed, not written
    # the candidate values lower: no limit up, some down; the text names the Book's re-underwriting and its lines
    assert (t["limit_candidate"] <= t["limit_base"]).all() and (t["limit_candidate"] < t["limit_base"]).any()
    n = len(t)
    lines = r.stdout.splitlines()
    assert lines[0] == (f"promotion impact of yield-value version {v2} against version {v1} (champion) (synthetic "
                        f"data) on the Book's re-underwriting as of {mid} ({n} active lines re-underwritten twice): "
                        f"season {rw['season']}, policy agcredit-default v2026.12.10 (hash "
                        f"{t.shape and lines[0].split('(hash ')[1][:12]}) profile in-kcc — nothing stored")
    assert lines[1].startswith("models: yield-value version 1, today's champion")  # as reunderwrite resolves it
    assert f"decisions changed: {int(t['changed'].sum())} of {n} " in r.stdout
    assert any(x.startswith("proposed actions, version 1 (champion): ") for x in lines)
    assert any(x.startswith("  line L") or x.startswith("  line D-") for x in lines)
    # the same inputs: the same JSON, byte for byte
    js = [_run(rw, [*args[:-2], "--json"], monkeypatch).stdout for _ in range(2)]
    assert js[0] == js[1] and json.loads(js[0])["reunderwriting"]["lines"] == n
    assert _files(tmp_path) == {**before, "lines.csv": _files(tmp_path)["lines.csv"]}


def test_the_same_version_is_refused_and_one_predicting_the_same_changes_nothing(
        rw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the impact on applications: the champion against itself (by alias or number) is one line, nothing to
    compare; a version predicting as the champion changes no line; the same policy twice is one line."""
    v1, _, v3 = rw["versions"]
    url = store_copy(rw, tmp_path, "read")
    for cand in ("champion", v1):
        r = _run(rw, ["models", "impact", "yield-value", "--candidate", cand, *_county(rw, url)], monkeypatch)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
        assert f"are both yield-value version {v1}: nothing to compare" in r.stderr
    r = _run(rw, ["policy", "impact", "--candidate", "default", *_county(rw, url)], monkeypatch)
    assert r.exit_code == 2 and "are the same policy" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _run(rw, ["models", "impact", "yield-value", "--candidate", v3, *_county(rw, url), "--json"], monkeypatch)
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["counts"]["changed"] == 0 and j["counts"]["applications"] == j["reunderwriting"]["lines"] > 0
    assert j["reunderwriting"]["actions"]["changed"] == {}
    assert j["reunderwriting"]["actions"]["base"] == j["reunderwriting"]["actions"]["candidate"]


def test_a_policy_lending_less_leaves_a_line_below_its_balance(rw: dict[str, Any], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate policy advancing 20% of the stressed value: the Book line with a balance outstanding falls below
    it, so re-underwriting proposes to freeze its undrawn line — the output counts the actions of each run and names
    the line whose actions change; the candidate's side is what `reunderwrite --policy` writes; the files form on
    the county's own files says the same as the county form."""
    c, mid = rw["county"], rw["cps"]["mid"]
    cand = _policy(tmp_path, advance_rate=0.2)
    url, cand_url = store_copy(rw, tmp_path, "read"), store_copy(rw, tmp_path, "cand")
    r = _run(rw, ["policy", "impact", "--candidate", str(cand), *_county(rw, url), "--json"], monkeypatch)
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    t = pd.DataFrame(j["applications"])
    acts = j["reunderwriting"]["actions"]
    moved = t[(t["limit_base"] >= t["outstanding"]) & (t["limit_candidate"] < t["outstanding"])]
    assert len(moved) >= 1 and (moved["outstanding"] > 0).all()
    assert all("FREEZE_UNDRAWN" in a for a in moved["actions_candidate"])
    assert acts["below_outstanding"] == {"base": int((t["limit_base"] < t["outstanding"]).sum()),
                                         "candidate": int((t["limit_candidate"] < t["outstanding"]).sum())}
    assert acts["below_outstanding"]["candidate"] > acts["below_outstanding"]["base"]
    assert acts["candidate"]["FREEZE_UNDRAWN"] == int(t["actions_candidate"].str.contains("FREEZE_UNDRAWN").sum())
    assert acts["candidate"]["FREEZE_UNDRAWN"] > acts["base"]["FREEZE_UNDRAWN"]
    assert set(moved["line_id"]) <= set(acts["changed"]) and j["counts"]["actions_changed"] == len(acts["changed"])
    # the candidate's side is what re-underwriting under it writes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    w = CliRunner().invoke(app, ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of",
                                 mid.isoformat(), "--store", cand_url, "--policy", str(cand)])
    assert w.exit_code == 0, w.output
    stored = _stored(cand_url, mid)
    _same_as_stored(t, "candidate", stored)
    # on that store (the date already re-underwritten under the candidate): said, both runs read the store as that
    # run read it — the same comparison as before the date's records, its records reproduced
    r = _run(rw, ["policy", "impact", "--candidate", str(cand), *_county(rw, cand_url), "--json"], monkeypatch)
    assert r.exit_code == 0, r.output
    assert (f"warning: the store already holds {len(stored)} re-underwriting record(s) as of {mid}: both runs read "
            "it as it was before them") in r.stderr
    again = json.loads(r.stdout)["applications"]
    assert again == j["applications"]
    _same_as_stored(pd.DataFrame(again), "candidate", stored)
    # the text: each run's actions, the lines whose actions change
    text = _run(rw, ["policy", "impact", "--candidate", str(cand), *_county(rw, url)], monkeypatch).stdout
    assert "on the Book's re-underwriting as of" in text.splitlines()[0]
    f = acts["candidate"]
    assert (f"{acts['lines_with_actions']['candidate']} line(s) (FREEZE_UNDRAWN {f['FREEZE_UNDRAWN']}, SHORTEN_TERM "
            f"{f['SHORTEN_TERM']}, REVIEW {f['REVIEW']}); {acts['below_outstanding']['candidate']} line(s) with a "
            "limit below the outstanding balance") in text
    assert f"lines whose proposed actions change: {len(acts['changed'])} (" in text
    # the files form, on the county's own files: the same lines, the same comparison
    rec = c.path / "records"
    files = ["--fields", str(rec / "fields.gpkg"), "--imagery", str(c.path / "scenes"), "--book", str(rec / "book.csv"),
             "--applications", str(rec / "applications.csv"), "--weather", str(c.path / "weather" / "daily.csv"),
             "--history", str(rec / "history.csv")]
    r = _run(rw, ["policy", "impact", "--candidate", str(cand), "--reunderwriting", *files, "--cache",
                  str(c.cache_dir), "--as-of", mid.isoformat(), "--store", url, "--json"], monkeypatch)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["applications"] == j["applications"]


def _bad(rw: dict[str, Any], tmp_path: Path, case: str) -> tuple[list[str], str]:
    url = store_copy(rw, tmp_path, "read")
    db = url.removeprefix("sqlite:///")
    rec = rw["county"].path / "records"
    # the day before the Book's line opened (no decision stored yet either)
    before = (rw["county"].book()["start_date"].min() - pd.Timedelta(days=1)).date()
    head = ["models", "impact", "yield-value", "--candidate", rw["versions"][1]]
    return {
        "missing store": ([*head, *_county(rw, f"sqlite:///{tmp_path / 'none.db'}")], "no database file there"),
        "default store": ([*head, *_county(rw, None)], "agcredit-decisions.db: no database file there"),
        "features": ([*head, *_county(rw, url), "--features", str(tmp_path / "f.parquet")],
                     "--features not with --reunderwriting"),
        "crop model": (["policy", "impact", "--candidate", "2026.12.9", *_county(rw, url), "--crop-model", "none"],
                       "--crop-model not with --reunderwriting"),
        "out over the store": ([*head, *_county(rw, url), "--out", db], f"--out {db}: is the --store file"),
        "out over the county": ([*head, *_county(rw, url), "--out", str(rec / "book.csv")], "is the --book file"),
        "out in the scenes": ([*head, *_county(rw, url), "--out", str(rw["county"].path / "scenes" / "index.csv")],
                              "inside the --county folder"),
        "before the lines": ([*head, *_county(rw, url, before)], f"no line of the Book to re-underwrite as of {before}"),
        "county and files": ([*head, *_county(rw, url), "--book", str(rec / "book.csv")], "not both (--book with"),
        "files missing": ([*head, "--reunderwriting", "--fields", str(rec / "fields.gpkg"), "--as-of",
                           str(rw["cps"]["mid"]), "--store", url], "missing: --imagery, --book, --applications"),
        "county alone": ([*head, "--county", str(rw["county"].path), "--as-of", str(rw["cps"]["mid"])],
                         "--county goes with --reunderwriting"),
    }[case]


@pytest.mark.parametrize("case", ["missing store", "default store", "features", "crop model", "out over the store",
                                  "out over the county", "out in the scenes", "before the lines", "county and files",
                                  "files missing",
                                  "county alone"])
def test_bad_input_is_one_line_and_writes_nothing(rw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  case: str) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # the default store would be here: it must not be created
    args, message = _bad(rw, tmp_path, case)
    before = _files(tmp_path)
    r = _run(rw, args, monkeypatch)
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and message in r.stderr, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, r.stderr
    assert _files(tmp_path) == before and not list(work.iterdir())


def _item(aid: str, line: str, outcome: str, limit: int, actions: tuple[str, ...], outstanding: int) -> DecisionItem:
    body = {"outcome": outcome, "computation": {"limit": limit, "maturity_date": "2010-02-13"},
            "application": {"requested_amount": 100000},
            "reunderwrite": {"line_id": line, "outstanding": outstanding, "book_limit": 50000, "previous_limit": 40000,
                             "proposed_actions": list(actions)}}
    return DecisionItem(idempotency_key=f"k-{aid}-{limit}", application_id=aid, farmer_token=f"F{aid}", season="2009",
                        as_of="2009-09-15", outcome=outcome, limit=limit, currency="INR", reason_codes=(), body=body,
                        kind="reunderwrite")


def test_compare_lines_reads_the_lines_and_their_proposed_actions() -> None:
    """Re-underwriting records compared: the line's id and balance beside the impact's columns, the proposed actions
    read from the re-underwriting block, the lines sorted by id; the result counts each run's actions."""
    import datetime as dt

    from pipelines.impact_reunderwriting import ReunderwritingImpact

    base = [_item("A2", "L2", "REDUCE", 30000, (), 20000), _item("A1", "D-A1", "REDUCE", 40000, (), 0)]
    cand = [_item("A2", "L2", "REDUCE", 10000, ("FREEZE_UNDRAWN", "REVIEW"), 20000),
            _item("A1", "D-A1", "REDUCE", 40000, (), 0)]
    t = compare_lines(base, cand)
    assert list(t["line_id"]) == ["D-A1", "L2"] and list(t["outstanding"]) == [0, 20000]
    assert list(t["actions_candidate"]) == ["", "FREEZE_UNDRAWN;REVIEW"] and list(t["changed"]) == [False, True]
    res = ReunderwritingImpact(name="policy", base="P1", candidate="P2", season="2009", as_of=dt.date(2009, 9, 15),
                               policy="models yield-value 1", profile="in-kcc", data="synthetic", applications=t,
                               values=pd.DataFrame(), checkpoints=("mid", "mid"))
    a = res.actions()
    assert a["base"] == {"FREEZE_UNDRAWN": 0, "SHORTEN_TERM": 0, "REVIEW": 0}
    assert a["candidate"] == {"FREEZE_UNDRAWN": 1, "SHORTEN_TERM": 0, "REVIEW": 1}
    assert a["below_outstanding"] == {"base": 0, "candidate": 1} and a["changed"] == {"L2": ["", "FREEZE_UNDRAWN;REVIEW"]}
    text = res.lines()
    assert text[0].startswith("policy impact of P2 against P1 (synthetic data) on the Book's re-underwriting as of "
                              "2009-09-15 (2 active lines re-underwritten twice)")
    assert "lines whose proposed actions change: 1 (none → FREEZE_UNDRAWN, REVIEW: 1)" in text
    assert any(x.startswith("  line L2 (A2, farmer FA2): REDUCE, limit INR 300.00 → INR 100.00") for x in text)
    assert res.to_json()["reunderwriting"]["lines"] == 2



def test_another_books_run_of_the_date_in_the_same_store_is_not_this_books(rw: dict[str, Any], tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-underwriting record of the date for an application this Book does not hold (another region's run in the
    same store) does not make the date "already re-underwritten": the store is read as it stands, as reunderwrite
    would read it."""
    from underwriting.store import DecisionStore

    clean = store_copy(rw, tmp_path, "clean")
    other = store_copy(rw, tmp_path, "other")
    mid = rw["cps"]["mid"]
    item = _item("Z2009-99999", "LZ-1", "REFER", 0, (), 0)
    item = DecisionItem(**{**item.__dict__, "as_of": mid.isoformat()})
    with DecisionStore(other, create=False) as st:
        st.append([item], operator="another-region")
    args = ["policy", "impact", "--candidate", "2026.12.9", "--json"]
    a = _run(rw, [*args, *_county(rw, clean)], monkeypatch)
    b = _run(rw, [*args, *_county(rw, other)], monkeypatch)
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert "already holds" not in b.stderr and json.loads(a.stdout) == json.loads(b.stdout)
