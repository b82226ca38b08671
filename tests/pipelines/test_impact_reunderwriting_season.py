"""``agcredit models impact --reunderwriting --then D`` and ``agcredit policy impact --reunderwriting --then D``: the
Book re-underwritten at several checkpoints of the season twice, each side at each later date after its own records of
the earlier ones — as the store would stand had that side been adopted — nothing written (the one-date impact's own
tests are tests/pipelines/test_impact_reunderwriting.py, whose world and fixtures these reuse)."""

# ruff: noqa: F811 - the tests take the imported fixture `rw` as an argument
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.pipelines._reunderwrite_world import store_copy
from tests.pipelines.test_impact_reunderwriting import (  # noqa: F401 - the module's world and its crop champion
    _county,
    _crop_champion,
    _files,
    _item,
    _policy,
    _run,
    _same_as_stored,
    _stored,
    rw,
)
from underwriting.records import canonical_json
from underwriting.store import DecisionStore, record_id_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")


def _reunderwrite(rw: dict[str, Any], url: str, day: Any, monkeypatch: pytest.MonkeyPatch, *more: str) -> None:
    """`agcredit reunderwrite` of the tiny county as of ``day`` into the store ``url`` (written)."""
    c = rw["county"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    r = CliRunner().invoke(app, ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of",
                                 day.isoformat(), "--store", url, *more])
    assert r.exit_code == 0 and " record(s) written" in r.stdout, r.output


def _reasons(url: str, day: Any) -> dict[str, set[str]]:
    """Each re-underwriting record's reasons as of ``day`` by application, as the impact reads them (reason codes and
    refer reasons)."""
    with DecisionStore(url, create=False) as st:
        recs = st.records()
    ru = recs[(recs["kind"] == "reunderwrite") & (recs["as_of"] == day.isoformat())]
    return {str(r.application_id): set(filter(None, str(r.reason_codes or "").split(",")))
            | {str(x) for x in json.loads(r.body).get("refer_reasons") or []} for r in ru.itertuples(index=False)}


def test_each_sides_second_date_is_what_reunderwrite_writes_after_its_first(rw: dict[str, Any], tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate policy advancing half the stressed value, at mid-season then at the end: at each date the policy
    in force's side is, line by line, what `agcredit reunderwrite` writes into a copy of the store after its own run
    of the earlier date, the candidate's what `reunderwrite --policy` writes after its own; the store read is byte for
    byte as before and nothing is written beside it; the first date's block is the one-date impact's, byte for byte;
    the JSON is the same on a re-run; `--out` holds one row per (date, line), each side's limit before the date its
    own store's (the candidate's at the end: its own mid-season limits, said); the files form (`--fields`,
    `--imagery`, `--book`, `--applications`) on the county's own files says the same as the county form."""
    mid, end = rw["cps"]["mid"], rw["cps"]["end"]
    cand = _policy(tmp_path, advance_rate=0.5)
    base_url, cand_url, url = (store_copy(rw, tmp_path, n) for n in ("base", "cand", "read"))
    for day in (mid, end):
        _reunderwrite(rw, base_url, day, monkeypatch)
        _reunderwrite(rw, cand_url, day, monkeypatch, "--policy", str(cand))
    before = _files(tmp_path)
    out = tmp_path / "lines.csv"
    head = ["policy", "impact", "--candidate", str(cand), *_county(rw, url)]
    r = _run(rw, [*head, "--then", end.isoformat(), "--out", str(out)], monkeypatch)
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out, keep_default_na=False)
    assert list(t.columns[:2]) == ["as_of", "line_id"] and sorted(set(t["as_of"])) == [mid.isoformat(), end.isoformat()]
    for day in (mid, end):
        rows = t[t["as_of"] == day.isoformat()]
        base, other = _stored(base_url, day), _stored(cand_url, day)
        _same_as_stored(rows, "base", base)
        _same_as_stored(rows, "candidate", other)
        ra, rb = _reasons(base_url, day), _reasons(cand_url, day)
        for x in rows.to_dict("records"):  # the reasons each side's record gives, the base's limit before the date
            aid = x["application_id"]
            assert set(filter(None, x["reasons_added"].split(";"))) == rb[aid] - ra[aid]
            assert set(filter(None, x["reasons_removed"].split(";"))) == ra[aid] - rb[aid]
            assert x["previous_limit"] == base[aid]["reunderwrite"]["previous_limit"]
            # the candidate follows its own records: its limit before the date is what its own store's record says
            assert x["previous_limit_candidate"] == other[aid]["reunderwrite"]["previous_limit"], aid
    # at the end each side follows its own mid-season records: the base's limits before the date are its mid ones
    at_end = t[t["as_of"] == end.isoformat()].set_index("application_id")
    at_mid = t[t["as_of"] == mid.isoformat()].set_index("application_id")
    both = at_end.index.intersection(at_mid.index)
    assert len(both) > 0 and (at_end.loc[both, "previous_limit"] == at_mid.loc[both, "limit_base"]).all()
    assert (at_end.loc[both, "previous_limit_candidate"] == at_mid.loc[both, "limit_candidate"]).all()
    differ = at_end[at_end["previous_limit_candidate"] != at_end["previous_limit"]]
    assert len(differ) > 0 and (at_mid["previous_limit_candidate"] == at_mid["previous_limit"]).all()
    assert (t["limit_candidate"] != t["limit_base"]).any()
    assert _files(tmp_path) == {**before, "lines.csv": _files(tmp_path)["lines.csv"]}  # the stores: untouched
    assert not (tmp_path / "read.artifacts").exists()
    # the first date's block is the one-date impact's output, byte for byte; then the end's and the summary
    one = _run(rw, head, monkeypatch)
    assert one.exit_code == 0 and r.stdout.startswith(one.stdout.removesuffix("\n") + "\n\nthen as of "), r.stdout
    assert r.stderr.startswith(one.stderr)  # the first date's warnings, then the later date's not said before
    rest = r.stdout[len(one.stdout):].splitlines()
    assert rest[:2] == ["", f"then as of {end}: each side re-underwrites the Book after its own re-underwriting "
                            f"record(s) of {mid}, as the store would stand had it been adopted as of {mid}"]
    assert rest[2].startswith("policy impact of ") and f"re-underwriting as of {end} (" in rest[2]
    assert any(x.startswith(f"season {rw['season']} over 2 checkpoints ({mid}, {end}): ") for x in rest)
    assert any(x.startswith("lines whose last limit differs: ") for x in rest)
    assert any(x.startswith(f"at the last date ({end}), the ") and "outstanding" in x for x in rest)
    # the JSON: the first date's as the one-date impact's, the same on a re-run
    js = [_run(rw, [*head, "--then", end.isoformat(), "--json"], monkeypatch).stdout for _ in range(2)]
    assert js[0] == js[1]
    j = json.loads(js[0])
    # the end's block says each side's own limits before the date
    at_end_j = j["dates"][1]
    assert any(x.startswith("the lines' limits: ") and f"before this checkpoint: {at_end_j['base']} INR " in x
               and f", {at_end_j['candidate']} INR " in x
               and f"(each side's own earlier records; {len(differ)} line(s) differ)" in x for x in rest), rest
    single = json.loads(_run(rw, [*head, "--json"], monkeypatch).stdout)
    first = j["dates"][0]  # the one-date impact's, each line with the candidate's limit before the date beside
    assert [a.pop("previous_limit_candidate") for a in first["applications"]] == [
        a["previous_limit"] for a in first["applications"]]
    assert first == single and j["then"] == [end.isoformat()] and j["as_of"] == mid.isoformat()
    # the files form, on the county's own files: the same dates, lines and summary
    c = rw["county"]
    rec = c.path / "records"
    files = ["--fields", str(rec / "fields.gpkg"), "--imagery", str(c.path / "scenes"), "--book", str(rec / "book.csv"),
             "--applications", str(rec / "applications.csv"), "--weather", str(c.path / "weather" / "daily.csv"),
             "--history", str(rec / "history.csv")]
    f = _run(rw, ["policy", "impact", "--candidate", str(cand), "--reunderwriting", *files, "--cache",
                  str(c.cache_dir), "--as-of", mid.isoformat(), "--store", url, "--then", end.isoformat(), "--json"],
             monkeypatch)
    assert f.exit_code == 0, f.output
    fj = json.loads(f.stdout)
    assert [d["applications"] for d in fj["dates"]] == [d["applications"] for d in json.loads(js[0])["dates"]]
    assert fj["season_summary"] == j["season_summary"] and fj["then"] == j["then"]
    s = j["season_summary"]
    last = t[t["as_of"] == end.isoformat()]
    assert s["last_date"]["totals"]["INR"] == {"limit_base": int(last["limit_base"].sum()),
                                               "limit_candidate": int(last["limit_candidate"].sum()),
                                               "outstanding": int(last["outstanding"].sum()), "lines": len(last)}
    for line, e in s["lines"].items():
        for k, day in enumerate((mid, end)):
            row = t[(t["as_of"] == day.isoformat()) & (t["line_id"] == line)]
            assert e["base"][k] == (int(row["limit_base"].iloc[0]) if len(row) else None)
            assert e["candidate"][k] == (int(row["limit_candidate"].iloc[0]) if len(row) else None)
    assert _files(tmp_path) == {**before, "lines.csv": _files(tmp_path)["lines.csv"]}


def test_a_candidate_versions_second_date_is_what_reunderwrite_writes_after_its_first(
        rw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A yield version valuing every field lower: each side's end-of-season lines are what re-underwriting with that
    version writes into a store holding its own mid-season records; on the store that already holds the champion's
    records of both dates, every run reads it as it was before them (said) and the comparison is the same."""
    from pipelines._champions import ChampionModels
    from pipelines.reunderwrite import reunderwrite_county

    c, mid, end = rw["county"], rw["cps"]["mid"], rw["cps"]["end"]
    _, v2, _ = rw["versions"]
    base_url, cand_url, url = (store_copy(rw, tmp_path, n) for n in ("base", "cand", "read"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    for day in (mid, end):
        _reunderwrite(rw, base_url, day, monkeypatch)
        models = ChampionModels.resolve(alias=v2, warnings=[], weather=c.weather(), on=day)
        res = reunderwrite_county(c, rw["season"], day, store=cand_url, models=models, book_check_when_deciding=True)
        assert res.written == len(res.items) > 0
    args = ["models", "impact", "yield-value", "--candidate", v2, "--then", end.isoformat(), "--json"]
    r = _run(rw, [*args, *_county(rw, url)], monkeypatch)
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert [d["as_of"] for d in j["dates"]] == [mid.isoformat(), end.isoformat()]
    for d, day in zip(j["dates"], (mid, end), strict=True):
        rows = pd.DataFrame(d["applications"])
        _same_as_stored(rows, "base", _stored(base_url, day))
        _same_as_stored(rows, "candidate", _stored(cand_url, day))
    # the store already re-underwritten by the champion at both dates: read as before them, the same comparison
    again = _run(rw, [*args, *_county(rw, base_url)], monkeypatch)
    assert again.exit_code == 0, again.output
    n_mid, n_end = len(_stored(base_url, mid)), len(_stored(base_url, end))
    assert (f"warning: the store already holds {n_mid} re-underwriting record(s) as of {mid}, {n_end} "
            f"re-underwriting record(s) as of {end}: every run reads it as it was before the first of them, not the "
            f"{n_mid + n_end} record(s) of this Book written from it on (the impact's dates' and after) — each side "
            "reads its own records of this impact's earlier dates instead") in again.stderr
    k = json.loads(again.stdout)
    assert [d["applications"] for d in k["dates"]] == [d["applications"] for d in j["dates"]]
    assert k["season_summary"] == j["season_summary"]


def test_the_overlay_view_reads_a_sides_records_as_if_written(rw: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The records of a run collected, not written, overlaid on a read-only view: the next date's run on it collects
    exactly the records (bodies, ids, the record each supersedes) `reunderwrite` writes into a store holding that run's
    records; the view's lookups see the overlaid records after the stored ones, `append` is still refused, and the
    store is untouched."""
    from pipelines._champions import ChampionModels
    from pipelines.replay import store_view
    from pipelines.reunderwrite import reunderwrite_county

    c, mid, end = rw["county"], rw["cps"]["mid"], rw["cps"]["end"]
    _, v2, _ = rw["versions"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    written, url = store_copy(rw, tmp_path, "written"), store_copy(rw, tmp_path, "read")
    models = {day: ChampionModels.resolve(alias=v2, warnings=[], weather=c.weather(), on=day) for day in (mid, end)}
    for day in (mid, end):
        reunderwrite_county(c, rw["season"], day, store=written, models=models[day], book_check_when_deciding=True)
    before = _files(tmp_path)
    got_mid: list[Any] = []
    with store_view(url) as view:
        reunderwrite_county(c, rw["season"], mid, store=view, models=models[mid], book_check_when_deciding=True,
                            collect=got_mid)
        head = view.head()
    got_end: list[Any] = []
    with store_view(url, extra=got_mid) as view:
        reunderwrite_county(c, rw["season"], end, store=view, models=models[end], book_check_when_deciding=True,
                            collect=got_end)
        first = got_mid[0]
        rid = record_id_for(first.idempotency_key)
        hist = view.history(first.application_id)
        assert hist[-1].record_id == rid and hist[-1].seq > head[0]
        assert [h.seq for h in hist] == sorted(h.seq for h in hist)
        assert view.latest(first.application_id, as_of=end).record_id == rid
        assert view.latest(first.application_id, as_of=mid - dt.timedelta(days=1)).record_id != rid
        assert view.get(rid) is not None and view.stored_ids([rid, "nope"]) == {rid}
        recs = view.records(rw["season"])
        assert list(recs["seq"]) == sorted(recs["seq"]) and list(recs["record_id"])[-len(got_mid):] == [
            record_id_for(i.idempotency_key) for i in got_mid]
        assert recs["seq"].iloc[-len(got_mid)] == head[0] + 1 and recs["prev_hash"].iloc[-len(got_mid)] == head[1]
        with pytest.raises(RuntimeError, match="read-only view"):
            view.append(got_mid, operator="tester")
    with DecisionStore(written, create=False) as st:
        stored = st.records(rw["season"])
    ends = stored[(stored["kind"] == "reunderwrite") & (stored["as_of"] == end.isoformat())]
    assert len(got_end) == len(ends) > 0
    assert [(record_id_for(i.idempotency_key), i.supersedes, canonical_json(i.body)) for i in got_end] == [
        (r.record_id, r.supersedes, r.body) for r in ends.itertuples(index=False)]
    assert _files(tmp_path) == before


def _bad(rw: dict[str, Any], tmp_path: Path, case: str) -> tuple[list[str], str]:
    url = store_copy(rw, tmp_path, "read")
    mid, end = rw["cps"]["mid"], rw["cps"]["end"]
    head = ["policy", "impact", "--candidate", "2026.12.9"]
    rec = rw["county"].path / "records"
    return {
        "then on the as-of date": ([*head, *_county(rw, url), "--then", mid.isoformat()],
                                   f"--then {mid} is not after --as-of {mid}"),
        "then before the as-of date": ([*head, *_county(rw, url), "--then", (mid - dt.timedelta(days=3)).isoformat()],
                                       f"--then {mid - dt.timedelta(days=3)} is not after --as-of {mid}"),
        "thens out of order": ([*head, *_county(rw, url), "--then", end.isoformat(), "--then",
                                (end - dt.timedelta(days=1)).isoformat()],
                               f"--then {end - dt.timedelta(days=1)} is not after --then {end}"),
        "then after the window": ([*head, *_county(rw, url), "--then", (end + dt.timedelta(days=400)).isoformat()],
                                  f"--then {end + dt.timedelta(days=400)} is after season {rw['season']}'s imagery "
                                  "window ends"),
        "then not a date": ([*head, *_county(rw, url), "--then", "2009-13-01"], "--then: expected a date YYYY-MM-DD"),
        "then without reunderwriting": (["models", "impact", "--candidate", rw["versions"][1], "--applications",
                                         str(rec / "applications.csv"), "--fields", str(rec / "fields.gpkg"),
                                         "--season", rw["season"], "--as-of", mid.isoformat(), "--then",
                                         end.isoformat()], "--then goes with --reunderwriting"),
        "policy then without reunderwriting": ([*head, "--applications", str(rec / "applications.csv"), "--fields",
                                                str(rec / "fields.gpkg"), "--season", rw["season"], "--as-of",
                                                mid.isoformat(), "--then", end.isoformat()],
                                               "--then goes with --reunderwriting"),
    }[case]


@pytest.mark.parametrize("case", ["then on the as-of date", "then before the as-of date", "thens out of order",
                                  "then after the window", "then not a date", "then without reunderwriting",
                                  "policy then without reunderwriting"])
def test_bad_then_is_one_line_and_writes_nothing(rw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 case: str) -> None:
    args, message = _bad(rw, tmp_path, case)
    before = _files(tmp_path)
    r = _run(rw, args, monkeypatch)
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and message in r.stderr, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, r.stderr
    assert _files(tmp_path) == before


def test_the_season_summary_of_three_dates() -> None:
    """Three dates compared: each line's limit per side at each date (None where not compared), the lines given each
    action at any date per side, the lines whose last limit differs, the last date's totals; the text and `--out`."""
    from pipelines.impact_reunderwriting import ReunderwritingImpact, SeasonImpact, compare_lines

    def at(day: str, base: list[Any], cand: list[Any]) -> ReunderwritingImpact:
        return ReunderwritingImpact(name="policy", base="P1", candidate="P2", season="2009",
                                    as_of=dt.date.fromisoformat(day), policy="models yield-value 1", profile="in-kcc",
                                    data=None, applications=compare_lines(base, cand), values=pd.DataFrame(),
                                    checkpoints=("c", "c"), warnings=[f"w {day}", "same"])

    # L3: compared at the first date only (matured, not re-decided later): its last limit is its first date's
    d1 = at("2009-09-15", [_item("A1", "L1", "REDUCE", 40000, (), 0), _item("A2", "L2", "REDUCE", 30000, (), 20000),
                           _item("A3", "L3", "REDUCE", 45000, (), 0)],
            [_item("A1", "L1", "REDUCE", 40000, (), 0), _item("A2", "L2", "REDUCE", 10000, ("FREEZE_UNDRAWN",), 20000),
             _item("A3", "L3", "REDUCE", 42000, (), 0)])
    d2 = at("2009-11-01", [_item("A2", "L2", "REDUCE", 25000, ("REVIEW",), 20000)],
            [_item("A2", "L2", "REDUCE", 25000, (), 20000)])
    d3 = at("2010-01-10", [_item("A1", "L1", "REDUCE", 35000, (), 0), _item("A2", "L2", "REDUCE", 20000, (), 20000)],
            [_item("A1", "L1", "REDUCE", 30000, ("SHORTEN_TERM",), 0),
             _item("A2", "L2", "REDUCE", 20000, (), 20000)])
    res = SeasonImpact((d1, d2, d3))
    s = res.summary()
    assert s["lines"] == {"L1": {"application_id": "A1", "currency": "INR", "base": [40000, None, 35000],
                                 "candidate": [40000, None, 30000]},
                          "L2": {"application_id": "A2", "currency": "INR", "base": [30000, 25000, 20000],
                                 "candidate": [10000, 25000, 20000]},
                          "L3": {"application_id": "A3", "currency": "INR", "base": [45000, None, None],
                                 "candidate": [42000, None, None]}}
    assert s["actions_at_any_date"] == {"base": {"FREEZE_UNDRAWN": [], "SHORTEN_TERM": [], "REVIEW": ["L2"]},
                                        "candidate": {"FREEZE_UNDRAWN": ["L2"], "SHORTEN_TERM": ["L1"], "REVIEW": []}}
    assert s["last_limit_differs"] == ["L1", "L3"]  # L3's last limits: the first date's, 45000 against 42000
    assert s["labels"] == {"base": ["P1"] * 3, "candidate": ["P2"] * 3}
    assert s["last_date"] == {"as_of": "2010-01-10", "totals": {"INR": {"limit_base": 55000, "limit_candidate": 50000,
                                                                        "outstanding": 20000, "lines": 2}}}
    assert res.warnings == ["w 2009-09-15", "same", "as of 2009-11-01: w 2009-11-01", "as of 2010-01-10: w 2010-01-10"]
    assert not any(x.startswith(("the version in force:", "the candidate:")) for x in res.lines())
    text = res.lines()
    assert text[:len(d1.lines())] == d1.lines()
    assert "then as of 2010-01-10: each side re-underwrites the Book after its own re-underwriting record(s) of " \
           "2009-09-15, 2009-11-01, as the store would stand had it been adopted as of 2009-09-15" in text
    assert "lines at any date, P1: frozen 0; shortened 0; sent to review 1 (L2)" in text
    assert "lines at any date, P2: frozen 1 (L2); shortened 1 (L1); sent to review 0" in text
    assert "  line L1 (A1): P1 INR 400.00 → - → INR 350.00; P2 INR 400.00 → - → INR 300.00" in text
    assert "  line L3 (A3): P1 INR 450.00 → - → -; P2 INR 420.00 → - → -" in text
    assert "lines whose last limit differs: 2 of 3 (each side's limit at each date; every line in --json, --out):" in text
    assert ("at the last date (2010-01-10), the 2 lines' limits: P1 INR 550.00, P2 INR 500.00, against INR 200.00 "
            "outstanding") in text
    t = res.applications
    assert list(t["as_of"]) == ["2009-09-15"] * 3 + ["2009-11-01", "2010-01-10", "2010-01-10"]
    assert list(t.columns) == ["as_of", *d1.applications.columns]
    j = res.to_json()
    assert j["then"] == ["2009-11-01", "2010-01-10"] and j["dates"][0] == d1.to_json()
    assert json.dumps(j, sort_keys=True) == json.dumps(SeasonImpact((d1, d2, d3)).to_json(), sort_keys=True)


def test_a_later_date_without_lines_is_said_and_the_summary_ends_at_the_last_date_with_lines() -> None:
    """A later date at which neither side re-decides a line (every line matured, say) no longer refuses the whole
    impact: that date says so in one line, the season's summary takes its last limits and totals from the last date
    with lines and names the dates without; the first date without lines is still refused (nothing to compare)."""
    from types import SimpleNamespace

    from features.errors import UserInputError
    from pipelines.impact_reunderwriting import ReunderwritingImpact, SeasonImpact, _twice_on, compare_lines, nothing_at

    def at(day: str, base: list[Any], cand: list[Any], nothing: str | None = None) -> ReunderwritingImpact:
        return ReunderwritingImpact(name="policy", base="P1", candidate="P2", season="2009",
                                    as_of=dt.date.fromisoformat(day), policy="models yield-value 1", profile="in-kcc",
                                    data=None, applications=compare_lines(base, cand), values=pd.DataFrame(),
                                    checkpoints=("c", "c"), nothing=nothing)

    d1 = at("2009-09-15", [_item("A1", "L1", "REDUCE", 40000, (), 0)], [_item("A1", "L1", "REDUCE", 30000, (), 0)])
    d2 = at("2010-03-01", [], [], nothing="1 line(s) matured before 2010-03-01 left out")
    res = SeasonImpact((d1, d2))
    s = res.summary()
    assert s["last_date"] == {"as_of": "2009-09-15", "totals": {"INR": {"limit_base": 40000, "limit_candidate": 30000,
                                                                        "outstanding": 0, "lines": 1}}}
    assert s["without_lines"] == ["2010-03-01"] and s["last_limit_differs"] == ["L1"]
    text = res.lines()
    assert ("policy impact as of 2010-03-01: no line of the Book to re-underwrite (season 2009; 1 line(s) matured "
            "before 2010-03-01 left out): nothing compared at this date") in text
    assert ("at the last date with lines (2009-09-15), the 1 line's limit: P1 INR 400.00, P2 INR 300.00, against "
            "INR 0.00 outstanding") in text
    assert res.to_json()["dates"][1]["reunderwriting"]["nothing"].startswith("1 line(s) matured")
    assert SeasonImpact((d1,)).summary()["without_lines"] == []

    # the runs: a later date where neither side re-decides a line is compared as such; the first date is refused
    class Src:
        season = "2009"

        def run(self, view: Any, day: Any, *, collect: list[Any], **kw: Any) -> Any:
            return SimpleNamespace(warnings=["1 line(s) matured before 2010-03-01 left out"])

    runs_of = [(None, None), (None, None)]
    runs, items, only = _twice_on("policy impact", Src(), [None, None], dt.date(2010, 3, 1),  # type: ignore[arg-type]
                                  runs_of, ["P1", "P2"], "in-kcc", [], {}, [[], []], first=False)
    assert items == [[], []] and only == {}
    assert nothing_at(runs, items, only) == "1 line(s) matured before 2010-03-01 left out"
    assert nothing_at(runs, [[], []], {"P2": ["L1"]}) is None  # one side re-decided a line: compared, not "nothing"
    with pytest.raises(UserInputError, match="no line of the Book to re-underwrite as of 2010-03-01"):
        _twice_on("policy impact", Src(), [None, None], dt.date(2010, 3, 1), runs_of,  # type: ignore[arg-type]
                  ["P1", "P2"], "in-kcc", [], {}, [[], []])


def _prev(item: Any, previous: int) -> Any:
    """``item`` with another limit before the checkpoint (its re-underwriting block's ``previous_limit``)."""
    from dataclasses import replace

    body = {**item.body, "reunderwrite": {**item.body["reunderwrite"], "previous_limit": previous}}
    return replace(item, body=body)


def test_a_version_in_force_changing_between_the_dates_is_named_per_date_and_each_sides_earlier_limit_said() -> None:
    """The version in force promoted between the dates (its label differs per date): the summary calls the side "the
    version in force" and lists its version per date, in the text and the JSON; at a later date the candidate's own
    limit before the checkpoint is a column beside the base's, said in the text when it differs (the one-date text
    as before when it does not); one line at the last date is one line's limit."""
    from pipelines.impact_reunderwriting import ReunderwritingImpact, SeasonImpact, compare_lines

    def at(day: str, base_label: str, base: list[Any], cand: list[Any]) -> ReunderwritingImpact:
        return ReunderwritingImpact(name="yield-value", base=base_label, candidate="version 2", season="2009",
                                    as_of=dt.date.fromisoformat(day), policy="policy P", profile="in-kcc", data=None,
                                    applications=compare_lines(base, cand, candidate_previous=True),
                                    values=pd.DataFrame(), checkpoints=("c", "c"), warnings=[])

    d1 = at("2009-09-15", "version 1 (champion)", [_item("A1", "L1", "REDUCE", 40000, (), 0)],
            [_item("A1", "L1", "REDUCE", 30000, (), 0)])
    d2 = at("2010-01-10", "version 2 (champion)", [_prev(_item("A1", "L1", "REDUCE", 35000, (), 0), 40000)],
            [_prev(_item("A1", "L1", "REDUCE", 30000, (), 0), 30000)])
    assert list(d1.applications.columns[:6]) == ["line_id", "book_limit", "outstanding", "previous_limit",
                                                 "previous_limit_candidate", "not_reestimated_base"]
    assert d1.applications["previous_limit_candidate"].tolist() == [40000]
    assert d2.applications["previous_limit_candidate"].tolist() == [30000]
    # the first date: both sides' earlier limits the same, the one-date text; the later: each side's own, said
    assert any(x.endswith("before this checkpoint INR 400.00 (the Book's limits INR 500.00); a DECLINE's limit "
                          "counts 0") for x in d1.lines())
    assert any(x.endswith("before this checkpoint: version 2 (champion) INR 400.00, version 2 INR 300.00 (each "
                          "side's own earlier records; 1 line(s) differ) (the Book's limits INR 500.00); a DECLINE's "
                          "limit counts 0") for x in d2.lines())
    res = SeasonImpact((d1, d2))
    s = res.summary()
    assert s["labels"] == {"base": ["version 1 (champion)", "version 2 (champion)"],
                           "candidate": ["version 2", "version 2"]}
    assert res.to_json()["season_summary"]["labels"] == s["labels"]
    text = res.lines()
    rest = text[text.index("season 2009 over 2 checkpoints (2009-09-15, 2010-01-10): 1 line(s) compared at one date "
                           "or more"):]
    assert rest[1] == "the version in force: version 1 (champion) as of 2009-09-15, version 2 (champion) as of 2010-01-10"
    assert rest[2].startswith("lines at any date, the version in force: ")
    assert rest[3].startswith("lines at any date, version 2: ")
    assert "  line L1 (A1): the version in force INR 400.00 → INR 350.00; version 2 INR 300.00 → INR 300.00" in rest
    assert rest[-1] == ("at the last date (2010-01-10), the 1 line's limit: the version in force INR 350.00, version 2 "
                        "INR 300.00, against INR 0.00 outstanding")
    assert "the 1 lines'" not in "\n".join(text)
    t = res.applications
    assert t["previous_limit_candidate"].tolist() == [40000, 30000] and t["previous_limit"].tolist() == [40000, 40000]


def _registry_copy(rw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The world with a copy of its registry (relocated to its own folder): promotions on it leave the module's be."""
    import shutil

    src = Path(rw["uri"].removeprefix("sqlite:///")).parent
    shutil.copytree(src, tmp_path / "registry")
    uri = f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    r = CliRunner().invoke(app, ["models", "relocate"])
    assert r.exit_code == 0, r.output
    return {**rw, "uri": uri}


def test_the_candidate_promoted_between_the_dates_is_compared_still_and_the_version_in_force_named_per_date(
        rw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate promoted champion between the dates: the impact is not refused (the same version is refused at
    the first date only); at the end both sides re-underwrite with it, each after its own mid-season records, said
    in a warning naming the date; the summary calls the base side "the version in force" and lists its version per
    date, in the text and the JSON; at the end the candidate's limits before the date are its own."""
    from models.registry import promote

    mid, end = rw["cps"]["mid"], rw["cps"]["end"]
    v1, v2, _ = rw["versions"]
    w = _registry_copy(rw, tmp_path, monkeypatch)
    promote("yield-value", v1, operator="tester", effective=mid - dt.timedelta(days=30))  # in force at mid
    promote("yield-value", v2, operator="tester", effective=mid + dt.timedelta(days=5), force=True,
            reason="a test of a promotion between the dates", approved_by="approver")
    url = store_copy(rw, tmp_path, "read")
    args = ["models", "impact", "yield-value", "--candidate", v2, *_county(w, url), "--then", end.isoformat()]
    r = _run(w, [*args, "--json"], monkeypatch)
    assert r.exit_code == 0, r.output
    assert (f"warning: as of {end}: the version in force is yield-value version {v2}, the candidate: both sides "
            "re-underwrite with it, each after its own records of the earlier dates") in r.stderr
    j = json.loads(r.stdout)
    labels = {"base": [f"version {v1} (champion)", f"version {v2} (champion)"], "candidate": [f"version {v2}"] * 2}
    assert j["season_summary"]["labels"] == labels
    assert [d["base"] for d in j["dates"]] == labels["base"]
    at_end = pd.DataFrame(j["dates"][1]["applications"])
    at_mid = pd.DataFrame(j["dates"][0]["applications"]).set_index("application_id")
    both = at_end[at_end["application_id"].isin(at_mid.index)]
    assert len(both) > 0
    assert (both["previous_limit"].to_numpy() == at_mid.loc[both["application_id"], "limit_base"].to_numpy()).all()
    assert (both["previous_limit_candidate"].to_numpy()
            == at_mid.loc[both["application_id"], "limit_candidate"].to_numpy()).all()
    assert (both["previous_limit_candidate"] != both["previous_limit"]).any()  # the lower version's own limits
    text = _run(w, args, monkeypatch).stdout.splitlines()
    assert (f"the version in force: version {v1} (champion) as of {mid}, version {v2} (champion) as of {end}"
            in text), text
    assert any(x.startswith("lines at any date, the version in force: ") for x in text)
    assert any(x.startswith(f"at the last date ({end}), the ") and ": the version in force INR " in x for x in text)
    # at the first date the same version is still refused, in one line
    promote("yield-value", v2, operator="tester", effective=mid - dt.timedelta(days=1), force=True,
            reason="a test of the first date", approved_by="approver")
    r = _run(w, args, monkeypatch)
    assert r.exit_code == 2 and f"are both yield-value version {v2}: nothing to compare" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1
