"""``agcredit models shadow`` and ``models promote --shadow-store``: a version's shadow decisions reported (coverage,
the whole-season judgement, what they would have changed, the recorded predictions against reported yields) and
promotion refused without a season in shadow. Stores and registries made in code: hand-computable figures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.governance import Governance
from pipelines.cli import app
from underwriting.records import DecisionItem

SEASON = "2024"
#: the underwriting, and a re-underwriting on us-nebraska maize's pre_harvest checkpoint (09-10): the season's end
UW, RU1, RU2 = "2024-06-01", "2024-09-10", "2024-10-01"
REGION, CROP = "us-nebraska", "maize"


class Tiny:
    """A stand-in model registered as yield-value (the report reads the registry's versions, never the model)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "w.json").write_text(json.dumps({"scale": self.scale}))

    @classmethod
    def load(cls, path: Path) -> Tiny:
        return cls(json.loads((Path(path) / "w.json").read_text())["scale"])


@pytest.fixture
def registry(mlflow_registry: Path) -> Path:
    """yield-value v1 (champion) and v2 (challenger), both meeting their (no) minimum metrics (tests/conftest.py's
    ``mlflow_registry``)."""
    from models import registry as reg

    g = Governance(crops=("maize",), regions=("r",), checkpoints=("mid", "end"), data="synthetic")
    reg.register(Tiny(1.0), "yield-value", metrics={"r2_all": 0.6}, governance=g)
    reg.promote("yield-value", "1", reason="first")
    reg.register(Tiny(2.0), "yield-value", metrics={"r2_all": 0.7}, governance=g)
    return mlflow_registry


def _body(version: str, checkpoint: str, fields: dict[str, tuple[float, float]], requested: int = 1000) -> dict[str, Any]:
    return {"models": [{"name": "yield-value", "version": version}], "provenance": {"checkpoint": checkpoint},
            "application": {"requested_amount": requested},
            "fields": [{"field_id": f, "region": REGION, "crop_valued": CROP, "yield_p10_t_ha": p10,
                        "yield_p50_t_ha": p50} for f, (p10, p50) in fields.items()]}


def _item(aid: str, as_of: str, outcome: str, limit: int, *, version: str = "1", kind: str = "decision",
          reasons: tuple[str, ...] = (), checkpoint: str = "mid",
          fields: dict[str, tuple[float, float]] | None = None, shadow: bool = False) -> DecisionItem:
    from underwriting._store_schema import record_id_for

    key = hashlib.sha256(f"{aid}|{as_of}|{version}|{shadow}".encode()).hexdigest()
    first = hashlib.sha256(f"{aid}|{UW}|1|False".encode()).hexdigest()  # the underwriting record it follows
    return DecisionItem(idempotency_key=key, application_id=aid, farmer_token="t-" + aid[:1], season=SEASON,
                        as_of=as_of, outcome=outcome, limit=limit, currency="USD", reason_codes=reasons,
                        body=_body(version, checkpoint, fields or {}), kind=kind,
                        supersedes=record_id_for(first) if kind == "reunderwrite" else None)


def make_store(path: Path | str, *, shadow_dates: tuple[str, ...] = (UW, RU1),
               skip: tuple[tuple[str, str], ...] = (), ru1_version: str = "1",
               extra_version_dates: tuple[str, ...] = (), ru_dates: tuple[str, ...] = (RU1,)) -> str:
    """A store with season 2024's underwriting (UW: A1, A2, B1) and re-underwriting (RU1: A1, B1), decided by
    yield-value v1 (``ru1_version``: the re-underwriting's), and v2's shadow rows on ``shadow_dates`` (but for the
    (application, date) pairs in ``skip``). The hand-computed case:

    UW  A1 APPROVE 1000 → shadow REDUCE 800 (+LOW_YIELD); A2 REFER 500 → REFER 500; B1 DECLINE 0 → APPROVE 600
    RU1 A1 APPROVE 900 → APPROVE 900; B1 REDUCE 400 (-X) → REDUCE 300
    """
    from pipelines.shadow import shadow_rows, write_shadow
    from underwriting.store import DecisionStore

    url = path if isinstance(path, str) else f"sqlite:///{path}"
    f = {"A1": {"F1": (2.0, 3.0), "F2": (1.0, 2.0)}, "A2": {"F3": (1.5, 2.5)}, "B1": {"F4": (2.0, 4.0)}}
    fs = {"A1": {"F1": (1.0, 2.5), "F2": (1.5, 2.2)}, "A2": {"F3": (1.0, 2.0)}, "B1": {"F4": (3.0, 3.5)}}
    uw = [_item("A1", UW, "APPROVE", 1000, fields=f["A1"]), _item("A2", UW, "REFER", 500, fields=f["A2"]),
          _item("B1", UW, "DECLINE", 0, fields=f["B1"])]
    uw_s = [_item("A1", UW, "REDUCE", 800, version="2", reasons=("LOW_YIELD",), fields=fs["A1"], shadow=True),
            _item("A2", UW, "REFER", 500, version="2", fields=fs["A2"], shadow=True),
            _item("B1", UW, "APPROVE", 600, version="2", fields=fs["B1"], shadow=True)]
    ru = [_item("A1", RU1, "APPROVE", 900, version=ru1_version, kind="reunderwrite", checkpoint="end",
                fields=f["A1"]),
          _item("B1", RU1, "REDUCE", 400, version=ru1_version, kind="reunderwrite", reasons=("X",), checkpoint="end",
                fields=f["B1"])]
    ru_s = [_item("A1", RU1, "APPROVE", 900, version="2", kind="reunderwrite", checkpoint="end", fields=fs["A1"],
                  shadow=True),
            _item("B1", RU1, "REDUCE", 300, version="2", kind="reunderwrite", checkpoint="end", fields=fs["B1"],
                  shadow=True)]
    ru, ru_s = [i for i in ru if i.as_of in ru_dates], [i for i in ru_s if i.as_of in ru_dates]
    with DecisionStore(url) as st:
        st.append(uw + ru, operator="test")
    for day, base, sh in ((UW, uw, uw_s), (RU1, ru, ru_s)):
        if day not in shadow_dates or not base:
            continue
        keep = [s for s in sh if (s.application_id, day) not in skip]
        in_force = base[0].body["models"][0]["version"]
        if day in extra_version_dates:
            in_force = "9"
        write_shadow(url, shadow_rows(base, keep, model_name="yield-value", model_version="2",
                                      in_force_version=in_force), operator="test")
    return url


def _records(url: str) -> pd.DataFrame:
    from pipelines.shadow_report import _season_records
    from underwriting.store import DecisionStore

    with DecisionStore(url, create=False, read_only=True) as st:
        return _season_records(st, SEASON, "yield-value")


# ---------------------------------------------------------------------- coverage and the whole-season judgement
def test_coverage_complete_season(tmp_path: Path) -> None:
    from pipelines.shadow import read_shadow
    from pipelines.shadow_report import season_coverage

    url = make_store(tmp_path / "d.db")
    cov = season_coverage(SEASON, _records(url), read_shadow(url, model_name="yield-value", model_version="2"),
                          "yield-value", "2")
    assert [(d["kind"], d["as_of"], d["records"], d["beside"], d["shadowed"]) for d in cov.dates] == [
        ("decision", UW, 3, 3, 3), ("reunderwrite", RU1, 2, 2, 2)]
    assert cov.whole and cov.missing_text() == "" and cov.notes == []


def test_coverage_a_missing_date_and_a_missing_record_are_named(tmp_path: Path) -> None:
    from pipelines.shadow import read_shadow
    from pipelines.shadow_report import season_coverage

    url = make_store(tmp_path / "d.db", shadow_dates=(UW,))
    cov = season_coverage(SEASON, _records(url), read_shadow(url, model_name="yield-value", model_version="2"),
                          "yield-value", "2")
    assert not cov.whole
    assert cov.missing_text() == f"reunderwrite {RU1} (2 of 2 record(s) without a shadow row, e.g. A1, B1)"
    # what a promotion's alias-history entry keeps for good: counts, no application ids
    assert cov.missing_text(ids=False) == f"reunderwrite {RU1} (2 of 2 record(s) without a shadow row)"
    url2 = make_store(tmp_path / "e.db", skip=(("A2", UW),))
    cov2 = season_coverage(SEASON, _records(url2), read_shadow(url2, model_name="yield-value", model_version="2"),
                           "yield-value", "2")
    assert not cov2.whole and cov2.dates[0]["missing"] == ["A2"] and cov2.dates[0]["shadowed"] == 2
    assert cov2.dates[1]["covered"]


def test_coverage_records_of_the_shadow_version_itself_and_a_mid_season_promotion(tmp_path: Path) -> None:
    from pipelines.shadow import read_shadow
    from pipelines.shadow_report import season_coverage

    # v2 promoted before the re-underwriting: its records need no shadow row; the season still counts as covered
    url = make_store(tmp_path / "d.db", shadow_dates=(UW,), ru1_version="2")
    cov = season_coverage(SEASON, _records(url), read_shadow(url, model_name="yield-value", model_version="2"),
                          "yield-value", "2")
    assert cov.dates[1]["own"] == 2 and cov.dates[1]["beside"] == 0 and cov.whole
    assert any("decided records itself" in n and RU1 in n for n in cov.notes)
    # another version in force at the re-underwriting (v3 promoted mid-season), the shadow beside both
    url = make_store(tmp_path / "e.db", ru1_version="3")
    cov = season_coverage(SEASON, _records(url), read_shadow(url, model_name="yield-value", model_version="2"),
                          "yield-value", "2")
    assert cov.whole and cov.dates[0]["in_force"] == {"1": 3} and cov.dates[1]["in_force"] == {"3": 2}
    assert any("more than one yield-value version in force (v1, v3)" in n for n in cov.notes)
    # shadow rows that name another version in force than their record: said
    url = make_store(tmp_path / "f.db", extra_version_dates=(RU1,))
    cov = season_coverage(SEASON, _records(url), read_shadow(url, model_name="yield-value", model_version="2"),
                          "yield-value", "2")
    assert any("2 shadow row(s) name another version in force" in n for n in cov.notes)
    # only the version's own records: no shadow row at all is no season in shadow
    recs = _records(url)
    own = season_coverage(SEASON, recs[recs["as_of"] == RU1].assign(in_force="2"),
                          read_shadow(url, model_name="yield-value", model_version="2").iloc[:0], "yield-value", "2")
    assert own.dates[0]["covered"] and not own.whole
    from pipelines.shadow_report import SeasonCoverage

    assert SeasonCoverage(SEASON, [{"kind": "decision", "as_of": UW, "records": 1, "in_force": {"2": 1}, "own": 1,
                                    "beside": 0, "shadowed": 0, "missing": [], "covered": True}], False,
                          [], end=UW).missing_text() == "no shadow row at any date"


# ---------------------------------------------------------------------- the comparison
def test_comparison_against_the_hand_computed_case(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_report

    url = make_store(tmp_path / "d.db")
    res = shadow_report("yield-value", url)
    assert (res.version, res.alias) == ("2", "challenger")
    j = res.to_json()
    s = j["seasons"][0]
    assert s["whole_season"] is True
    uw, ru = (d["comparison"] for d in s["dates"])
    assert uw["records"] == 3 and uw["changed"] == 2 and uw["outcome_changed"] == 2 and uw["limit_differs"] == 2
    assert uw["transitions"]["APPROVE"]["REDUCE"] == 1 and uw["transitions"]["DECLINE"]["APPROVE"] == 1
    assert uw["transitions"]["REFER"]["REFER"] == 1
    # limits 1000+500+0 → 800+500+600; granted (approved or reduced) 1000 → 800+600
    assert uw["totals"] == {"USD": {"limit_in_force": 1500, "limit_shadow": 1900, "granted_in_force": 1000,
                                    "granted_shadow": 1400}}
    assert uw["reasons"] == {"added": {"LOW_YIELD": 1}, "removed": {}}
    assert ru["records"] == 2 and ru["changed"] == 1 and ru["outcome_changed"] == 0 and ru["limit_down"] == 1
    assert ru["totals"]["USD"] == {"limit_in_force": 1300, "limit_shadow": 1200, "granted_in_force": 1300,
                                   "granted_shadow": 1200}
    assert ru["reasons"]["removed"] == {"X": 1}
    allc = j["comparison"]
    assert allc["records"] == 5 and allc["changed"] == 3 and allc["totals"]["USD"]["limit_shadow"] == 3100
    # the largest difference first: B1 at underwriting (granted 0 → 600), then A1 (1000 → 800), then B1 (400 → 300)
    assert [(r["application_id"], r["as_of"]) for r in allc["largest"]] == [("B1", UW), ("A1", UW), ("B1", RU1)]
    text = "\n".join(res.lines())
    assert "season 2024: ran in shadow over the whole season" in text and "definition: ran in shadow" in text
    assert "limits USD 15.00 → USD 19.00, granted USD 10.00 → USD 14.00" in text  # money as the house prints it
    assert "DECLINE→APPROVE 1" in text and "+LOW_YIELD (1)" in text


def test_reported_yields_against_the_hand_computed_case(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_report

    url = make_store(tmp_path / "d.db")
    rep = tmp_path / "reported.csv"
    # F1 2.0, F2 1.2, F3 3.0, F4 (no report: left out)
    pd.DataFrame({"field_id": ["F1", "F2", "F3"], "season": [2024] * 3,
                  "reported_yield_t_ha": [2.0, 1.2, 3.0]}).to_csv(rep, index=False)
    res = shadow_report("yield-value", url, reported=rep)
    figs = {f["checkpoint"]: f for f in res.outcomes}
    # mid (UW): F1 |3.0-2|=1.0 vs |2.5-2|=0.5; F2 |2.0-1.2|=0.8 vs |2.2-1.2|=1.0; F3 |2.5-3|=0.5 vs |2.0-3|=1.0
    mid = figs["mid"]
    assert (mid["fields"], mid["farmers"]) == (3, 1)  # A1 and A2 are farmer t-A
    assert mid["p50_abs_error_t_ha"]["in_force"] == pytest.approx((1.0 + 0.8 + 0.5) / 3, abs=1e-6)
    assert mid["p50_abs_error_t_ha"]["shadow"] == pytest.approx((0.5 + 1.0 + 1.0) / 3, abs=1e-6)
    # below P10: in force F2 (1.2 > 1.0: no) → 0 of 3; shadow F2 1.2 < 1.5 → 1 of 3
    assert mid["below_p10"]["in_force"] == 0.0 and mid["below_p10"]["shadow"] == pytest.approx(1 / 3, abs=1e-6)
    # one farmer drawn whole: every resample is the whole set, the interval the figure itself
    assert mid["below_p10"]["interval"] == pytest.approx([1 / 3, 1 / 3], abs=1e-6)
    # end (RU1): A1's fields only (B1's F4 unreported): errors 1.0, 0.8 vs 0.5, 1.0
    end = figs["end"]
    assert end["fields"] == 2 and end["p50_abs_error_t_ha"]["difference"] == pytest.approx(-0.15, abs=1e-6)
    assert "against the reported yields (reported.csv)" in "\n".join(res.lines())
    # a file of other seasons only (a farm history): refused, not "exit 0, no paired field" (a walkthrough)
    pd.DataFrame({"field_id": ["F1", "F2"], "season": [2007, 2008],
                  "reported_yield_t_ha": [2.0, 1.2]}).to_csv(rep, index=False)
    from features.errors import UserInputError

    with pytest.raises(UserInputError, match=r"^reported.csv: no field of the shadow pairs has a reported yield of its "
                                             r"season \(the pairs' seasons: 2024; the file's: 2007, 2008\)"):
        shadow_report("yield-value", url, reported=rep)
    pd.DataFrame({"field_id": ["f1", "f2"], "season": [2024, 2024],  # the season's, ids written otherwise
                  "reported_yield_t_ha": [2.0, 1.2]}).to_csv(rep, index=False)
    with pytest.raises(UserInputError, match=r"\(the file's fields of season 2024 are none of the pairs' \(field ids "
                                             r"written otherwise\?\)\)"):
        shadow_report("yield-value", url, reported=rep)


def test_the_bootstrap_draws_farmers_whole(tmp_path: Path) -> None:
    from pipelines.shadow_report import yield_figures

    n = 40
    rows = pd.DataFrame({"checkpoint": "mid", "as_of": UW, "kind": "decision",
                         "application_id": [f"A{i:02d}" for i in range(n)],
                         "farmer_token": [f"t{i // 2}" for i in range(n)], "field_id": [f"F{i:02d}" for i in range(n)],
                         "reported": np.linspace(1, 4, n), "p10_base": 1.5, "p50_base": 2.5, "p10_shadow": 1.0,
                         "p50_shadow": np.linspace(1, 4, n) + 0.1})
    f = yield_figures(rows)[0]
    assert f["farmers"] == 20 and f["fields"] == 40
    lo, hi = f["p50_abs_error_t_ha"]["interval"]
    assert lo <= f["p50_abs_error_t_ha"]["difference"] <= hi and lo < hi < 0  # the shadow's error is smaller


# ---------------------------------------------------------------------- CLI: JSON, --out, read only, bad input
def test_json_is_deterministic_out_is_written_and_the_store_is_left_byte_identical(tmp_path: Path,
                                                                                  registry: Path) -> None:
    db = tmp_path / "d.db"
    url = make_store(db)
    rep = tmp_path / "reported.csv"
    pd.DataFrame({"field_id": ["F1", "F2", "F3"], "season": [2024] * 3,
                  "reported_yield_t_ha": [2.0, 1.2, 3.0]}).to_csv(rep, index=False)
    before = db.read_bytes()
    runner = CliRunner()
    args = ["models", "shadow", "yield-value", "--store", url, "--reported", str(rep), "--json"]
    a, b = runner.invoke(app, args), runner.invoke(app, args)
    assert a.exit_code == 0, a.stderr
    assert a.stdout == b.stdout and "NaN" not in a.stdout
    j = json.loads(a.stdout)
    assert j["seasons"][0]["whole_season"] and j["version"] == "2" and j["outcomes"] and len(j["pairs"]) == 5
    out = tmp_path / "pairs.csv"
    r = runner.invoke(app, ["models", "shadow", "yield-value", "--store", url, "--version", "2", "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    t = pd.read_csv(out)
    assert len(t) == 5 and {"outcome_in_force", "outcome_shadow", "limit_in_force", "limit_shadow",
                            "record_id"} <= set(t.columns)
    assert not any("body" in c for c in t.columns)
    assert db.read_bytes() == before and not list(tmp_path.glob("d.db-*"))


@pytest.mark.parametrize("args,msg", [
    (["--store", "sqlite:///{tmp}/none.db"], "none.db"),
    (["--version", "7"], "has no version 7"),
    (["--version", "nightly"], "no version with the alias 'nightly'"),
    (["--season", "2023"], "no shadow decision of season 2023 of yield-value version 2"),
    (["--out", "{tmp}/x.parquet"], "--out writes a CSV"),
])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, registry: Path, args: list[str], msg: str) -> None:
    url = make_store(tmp_path / "d.db")
    argv = ["models", "shadow", "yield-value", "--store", url] + [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2 and msg in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_an_unknown_model_is_one_line(tmp_path: Path, registry: Path) -> None:
    url = make_store(tmp_path / "d.db")
    r = CliRunner().invoke(app, ["models", "shadow", "yield", "--store", url])
    assert r.exit_code == 2 and "not 'yield'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------- promote --shadow-store
def _history(name: str = "yield-value") -> list[dict[str, Any]]:
    from models.registry import alias_history

    return [h for h in alias_history(name) if h["alias"] == "champion"]


def test_promote_refused_without_a_season_in_shadow(tmp_path: Path, registry: Path) -> None:
    from models.registry import alias_version

    url = make_store(tmp_path / "d.db", shadow_dates=(UW,))
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url])
    assert r.exit_code == 2, r.stdout
    assert len(r.stderr.strip().splitlines()) == 1 and "did not run in shadow over the whole season 2024" in r.stderr
    assert f"reunderwrite {RU1}" in r.stderr and "--force --reason" in r.stderr
    assert ": missing " not in r.stderr and f"2024 in {url}: reunderwrite {RU1} (" in r.stderr, r.stderr
    assert "e.g. A1" not in r.stderr  # the failure a forced promotion keeps in the alias history: counts only
    assert alias_version("yield-value") == "1" and len(_history()) == 1
    # a store without any shadow row of it
    empty = make_store(tmp_path / "e.db", shadow_dates=())
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", empty])
    assert r.exit_code == 2 and "never ran in shadow" in r.stderr
    # a season without its rows
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url,
                                 "--shadow-season", "2023"])
    assert r.exit_code == 2 and "no shadow decision of it in season 2023" in r.stderr
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-season", "2024"])
    assert r.exit_code == 2 and "give --shadow-store" in r.stderr


def test_promote_allowed_with_a_season_in_shadow(tmp_path: Path, registry: Path) -> None:
    from models.registry import alias_version

    url = make_store(tmp_path / "d.db")
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url])
    assert r.exit_code == 0, r.stderr
    assert "champion is now v2 (was v1)" in r.stdout
    assert "ran in shadow over the whole season 2024" in r.stdout and "(5 shadow decision(s) over 2 dated run(s))" \
        in r.stdout
    assert alias_version("yield-value") == "2"
    h = _history()[-1]
    assert not h["forced"] and h["failures"] == []


def test_promote_forced_records_the_shadow_failure_and_the_approver(tmp_path: Path, registry: Path) -> None:
    url = make_store(tmp_path / "d.db", shadow_dates=(UW,))
    base = ["models", "promote", "yield-value", "2", "--shadow-store", url, "--force"]
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 2 and "needs a reason" in r.stderr
    r = CliRunner().invoke(app, [*base, "--reason", "drought season, committee decision"])
    assert r.exit_code == 2 and "second operator's approval" in r.stderr
    r = CliRunner().invoke(app, [*base, "--reason", "drought season, committee decision", "--approved-by", "mrm-2"])
    assert r.exit_code == 0, r.stderr
    assert "forced without a season in shadow: did not run in shadow" in r.stdout and "shadow: shadow" not in r.stdout
    h = _history()[-1]
    assert h["version"] == "2" and h["forced"] and h["approved_by"] == "mrm-2"
    assert h["reason"] == "drought season, committee decision"
    assert len(h["failures"]) == 1 and h["failures"][0].startswith("shadow: did not run in shadow over the whole "
                                                                   "season 2024")


def test_promote_without_shadow_store_is_unchanged_and_says_so(tmp_path: Path, registry: Path) -> None:
    from models.registry import alias_version

    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip().splitlines()[0].startswith("yield-value: champion is now v2 (was v1), by analyst-7")
    assert len(r.stdout.strip().splitlines()) == 1  # today's stdout
    assert "the shadow evidence was not checked" in r.stderr
    assert alias_version("yield-value") == "2" and _history()[-1]["failures"] == []


# ---------------------------------------------------------------------- models card --store
def test_card_shadow_section(tmp_path: Path, registry: Path) -> None:
    url = make_store(tmp_path / "d.db", shadow_dates=(UW,))
    runner = CliRunner()
    r = runner.invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", url])
    assert r.exit_code == 0, r.stderr
    text = r.stdout.split("## Shadow", 1)[1]
    assert f"Season 2024: incomplete: reunderwrite {RU1} (2 of 2 record(s) without a shadow row" in text
    assert "decision 2024-06-01 3/3, reunderwrite 2024-10-01" not in text and f"reunderwrite {RU1} 0/2" in text
    assert ("3 paired, 2 would have changed, outcome on 2, limit on 2, maturity or proposed actions only on 0, "
            "reasons only on 0; limits USD 15.00 → USD 19.00") in text
    r = runner.invoke(app, ["models", "card", "yield-value", "--version", "1", "--store", url])
    assert r.exit_code == 0 and "it has not run in shadow" in r.stdout
    j = json.loads(runner.invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", url,
                                       "--json"]).stdout)
    assert j["shadow"]["seasons"][0]["whole_season"] is False
    plain = runner.invoke(app, ["models", "card", "yield-value", "--version", "2"])
    assert "## Shadow" not in plain.stdout and "shadow" not in json.loads(
        runner.invoke(app, ["models", "card", "yield-value", "--version", "2", "--json"]).stdout)


def test_promote_with_shadow_store_names_an_unknown_model_or_version_first(tmp_path: Path, registry: Path) -> None:
    url = make_store(tmp_path / "d.db")
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "7", "--shadow-store", url])
    assert r.exit_code == 2 and "has no version 7" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store",
                                 f"sqlite:///{tmp_path}/none.db"])
    assert r.exit_code == 2 and "none.db" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------- review findings: the whole season
def _add(url: str, items: list[DecisionItem], shadow: list[DecisionItem] = (), *, name: str = "yield-value",  # type: ignore[assignment]
         version: str = "2", in_force: str | None = "1") -> None:
    from pipelines.shadow import shadow_rows, write_shadow
    from underwriting.store import DecisionStore

    if items:
        with DecisionStore(url) as st:
            st.append(items, operator="test")
    if shadow:
        write_shadow(url, shadow_rows(items, shadow, model_name=name, model_version=version,
                                      in_force_version=in_force), operator="test")


def test_a_season_that_has_barely_started_is_in_progress_not_whole(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import season_coverage, shadow_evidence, shadow_report

    # the store as it stood on the underwriting day: every record shadowed, no run at the season's end yet
    url = make_store(tmp_path / "d.db", ru_dates=())
    res = shadow_report("yield-value", url)
    cov = res.coverage[0]
    assert [d["covered"] for d in cov.dates] == [True] and cov.end == RU1 and not cov.whole
    assert cov.missing_text() == f"in progress: no run on or after {RU1} (the season's last pre_harvest checkpoint)"
    assert "in progress: no run on or after 2024-09-10" in "\n".join(res.lines())
    assert res.to_json()["seasons"][0]["season_end_reached"] is False
    ev = shadow_evidence("yield-value", "2", url)
    assert ev.failure is not None and "in progress: no run on or after 2024-09-10" in ev.failure
    # a season of one record
    one = f"sqlite:///{tmp_path}/one.db"
    _add(one, [_item("A1", UW, "APPROVE", 1000, fields={"F1": (1.0, 2.0)})],
         [_item("A1", UW, "REDUCE", 800, version="2", fields={"F1": (1.0, 2.0)}, shadow=True)])
    assert "in progress" in (shadow_evidence("yield-value", "2", one).failure or "")
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", one])
    assert r.exit_code == 2 and "in progress: no run on or after 2024-09-10" in r.stderr
    # a re-underwriting on the pre_harvest checkpoint ends it; the definition says so
    assert shadow_evidence("yield-value", "2", make_store(tmp_path / "e.db")).failure is None
    from pipelines.shadow_report import WHOLE_SEASON

    assert "pre_harvest" in WHOLE_SEASON and "in progress" in WHOLE_SEASON and "override" in WHOLE_SEASON
    # records valuing no region and crop of the calendar: the end cannot be dated, the season not whole
    recs = _records(url).assign(body_dict=[{"fields": [{"region": "mars", "crop_valued": "kale"}]}] * 3)
    from pipelines.shadow import read_shadow

    odd = season_coverage(SEASON, recs, read_shadow(url, model_name="yield-value", model_version="2"),
                          "yield-value", "2")
    assert odd.end is None and not odd.whole and "its end cannot be dated" in odd.missing_text()
    assert any("dates no pre_harvest checkpoint of mars kale" in n for n in odd.notes)
    # a field valued as fallow has no harvest to wait for: neither dated nor said undated
    from pipelines.shadow_report import season_end

    assert season_end("2024", [{"fields": [{"region": "us-nebraska", "crop_valued": "maize"},
                                           {"region": "us-nebraska", "crop_valued": "fallow"}]}]) == ("2024-09-10", [])


def test_a_shadow_row_counts_only_when_its_body_names_the_version(tmp_path: Path, registry: Path) -> None:
    from models.registry import version_run_id
    from pipelines.shadow_report import genuine_rows, shadow_evidence, shadow_report

    # rows labelled version 2 whose bodies name version 1: not counted, said
    url = f"sqlite:///{tmp_path}/d.db"
    recs = [_item("A1", UW, "APPROVE", 1000, fields={"F1": (1.0, 2.0)}),
            _item("A1", RU1, "APPROVE", 900, kind="reunderwrite", fields={"F1": (1.0, 2.0)})]
    fake = [_item("A1", d, "APPROVE", 900, version="1", kind=k, fields={"F1": (1.0, 2.0)}, shadow=True)
            for d, k in ((UW, "decision"), (RU1, "reunderwrite"))]
    _add(url, recs[:1], fake[:1])
    _add(url, recs[1:], fake[1:])
    ev = shadow_evidence("yield-value", "2", url)
    assert ev.failure is not None and "2 of" not in ev.failure and "without a shadow row" in ev.failure
    res = shadow_report("yield-value", url, version="2")
    assert res.coverage[0].mismatched == 2 and not res.coverage[0].whole and len(res.pairs) == 0
    assert any("2 shadow row(s) labelled yield-value version 2 whose body names another version" in n
               for n in res.coverage[0].notes)
    # a body naming version 2 with another run than the registry's version 2: not counted either
    rid = version_run_id("yield-value", "2")
    sh = pd.DataFrame({"body": [json.dumps({"models": [{"name": "yield-value", "version": "2", "run_id": r}]})
                                for r in (rid, "0" * 32)] + [json.dumps({"models": [{"name": "yield-value",
                                                                                       "version": "2"}]})]})
    kept, wrong = genuine_rows(sh, "yield-value", "2", rid)
    assert wrong == 1 and list(kept.index) == [0, 2]


def test_shadow_rows_beside_no_record_are_said_not_a_traceback(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_report

    url = f"sqlite:///{tmp_path}/o.db"
    _add(url, [_item("A1", UW, "APPROVE", 1000)])
    # shadow rows whose records are not in this store (another store's)
    from pipelines.shadow import shadow_rows, write_shadow

    other = [_item("Z9", UW, "APPROVE", 1000)]
    write_shadow(url, shadow_rows(other, [_item("Z9", UW, "REDUCE", 500, version="2", shadow=True)],
                                  model_name="yield-value", model_version="2", in_force_version="1"), operator="t")
    res = shadow_report("yield-value", url, version="2")
    assert res.coverage[0].orphans == 1 and len(res.pairs) == 0
    assert "1 shadow row(s) stand beside no record in this store" in res.coverage[0].missing_text()
    assert any("1 shadow row(s) stand beside no record of the season's runs" in n for n in res.coverage[0].notes)
    r = CliRunner().invoke(app, ["models", "shadow", "yield-value", "--version", "2", "--store", url])
    assert r.exit_code == 0 and "Traceback" not in r.stderr + r.stdout and "nothing compared" in r.stdout
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url])
    assert r.exit_code == 2 and "1 shadow row(s) stand beside no record in this store" in r.stderr
    assert "no shadow row at any date" not in r.stderr
    r = CliRunner().invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", url])
    assert r.exit_code == 0, r.stderr
    assert "1 shadow row(s) stand beside no record in this store" in r.stdout


def test_overrides_are_left_out_and_counted(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_evidence, shadow_report
    from underwriting._store_schema import record_id_for

    url = make_store(tmp_path / "d.db")
    first = hashlib.sha256(f"A2|{UW}|1|False".encode()).hexdigest()
    ov = DecisionItem(idempotency_key="ov-" + first[:20], application_id="A2", farmer_token="t-A", season=SEASON,
                      as_of="2024-06-05", outcome="APPROVE", limit=500, currency="USD", reason_codes=("ANALYST",),
                      body=_body("1", "mid", {}), kind="override", supersedes=record_id_for(first))
    _add(url, [ov])
    res = shadow_report("yield-value", url)
    cov = res.coverage[0]
    assert cov.whole and cov.overrides == 1 and [d["kind"] for d in cov.dates] == ["decision", "reunderwrite"]
    assert any("1 override(s) left out" in n for n in cov.notes)
    assert "1 override(s) left out" in "\n".join(res.lines())
    assert res.to_json()["seasons"][0]["overrides_left_out"] == 1
    ev = shadow_evidence("yield-value", "2", url)
    assert ev.failure is None and "1 override(s) left out" in ev.record


def test_the_latest_season_is_judged_and_only_the_model_named(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow import write_shadow
    from pipelines.shadow_report import season_order, shadow_evidence

    url = make_store(tmp_path / "d.db")  # 2024: whole
    # 2025: underwritten only, shadowed — in progress; the latest season, judged by default
    late = [DecisionItem(idempotency_key="k25", application_id="C1", farmer_token="t-C", season="2025", as_of="2025-06-01",
                         outcome="APPROVE", limit=100, currency="USD", reason_codes=(),
                         body=_body("1", "mid", {"F9": (1.0, 2.0)}), kind="decision")]
    late_s = [DecisionItem(idempotency_key="k25s", application_id="C1", farmer_token="t-C", season="2025",
                           as_of="2025-06-01", outcome="APPROVE", limit=100, currency="USD", reason_codes=(),
                           body=_body("2", "mid", {"F9": (1.0, 2.0)}), kind="decision")]
    _add(url, late, late_s)
    ev = shadow_evidence("yield-value", "2", url)
    assert ev.failure is not None and "season 2025" in ev.failure
    assert shadow_evidence("yield-value", "2", url, "2024").failure is None
    assert season_order(["2025", "2024", "2024"]) == ["2024", "2025"]
    # crop-type rows of "version 2" beside a store without yield-value rows: never yield-value's evidence
    url2 = make_store(tmp_path / "e.db", shadow_dates=())
    from pipelines.shadow import read_shadow

    recs = _records(url2)
    items = [DecisionItem(idempotency_key=str(r.record_id), application_id=r.application_id, farmer_token="t",
                          season=SEASON, as_of=r.as_of, outcome="APPROVE", limit=1, currency="USD", reason_codes=(),
                          body=_body("2", "mid", {}), kind=r.kind) for r in recs.itertuples()]
    from pipelines.shadow import ShadowRow

    write_shadow(url2, [ShadowRow(i.idempotency_key, "crop-type", "2", "1", i) for i in items], operator="t")
    assert len(read_shadow(url2, model_name="crop-type", model_version="2")) == 5
    assert "never ran in shadow" in (shadow_evidence("yield-value", "2", url2).failure or "")


def test_read_shadow_filters_in_the_query_on_an_open_store(tmp_path: Path) -> None:
    from pipelines.shadow import read_shadow
    from underwriting.store import DecisionStore

    url = make_store(tmp_path / "d.db")
    with DecisionStore(url, create=False, read_only=True) as st:
        assert len(read_shadow(st, model_name="yield-value", model_version="2")) == 5
        assert len(read_shadow(st, season=SEASON, model_name="yield-value", model_version="3")) == 0
        assert len(read_shadow(st, season="2023")) == 0
    assert len(read_shadow(url)) == 5



def test_the_store_answers_the_shadow_query_itself_in_its_snapshot_and_read_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DecisionStore.shadow_decisions``: the store's own query of its shadow rows (filtered in SQL), what
    ``read_shadow`` returns — through it, not the store's private read; inside ``snapshot()`` the rows as of its first
    read (a row written meanwhile is seen after it), on a read-only store the same; none: the columns, no row."""
    from pipelines.shadow import read_shadow
    from underwriting.store import DecisionStore

    url = make_store(tmp_path / "d.db")
    with DecisionStore(url, create=False, read_only=True) as st:
        got = st.shadow_decisions(model_name="yield-value", model_version="2")
        assert len(got) == 5 and got["limit"].dtype == "int64"
        assert got.equals(read_shadow(url, model_name="yield-value", model_version="2"))
        assert st.shadow_decisions(season=SEASON).equals(read_shadow(url))
        assert st.shadow_decisions(model_version="3").empty and st.shadow_decisions(season="2023").empty
        asked: list[dict[str, Any]] = []
        real = DecisionStore.shadow_decisions

        def spy(self: Any, **kw: Any) -> Any:
            asked.append(kw)
            return real(self, **kw)

        with monkeypatch.context() as mp:
            mp.setattr(DecisionStore, "shadow_decisions", spy)
            assert len(read_shadow(st, season=SEASON, model_version="2")) == 5
        assert asked == [{"season": SEASON, "model_name": None, "model_version": "2"}]
    with DecisionStore(url, create=False) as st, st.snapshot():  # a store opened to write: one read transaction
        assert len(st.shadow_decisions()) == 5
        _add(url, [_item("C1", RU2, "APPROVE", 700)], [_item("C1", RU2, "APPROVE", 650, version="2", shadow=True)])
        assert len(st.shadow_decisions()) == 5 and len(read_shadow(st)) == 5
    assert len(read_shadow(url)) == 6
    bare = make_store(tmp_path / "bare.db", shadow_dates=())  # no shadow table at all
    with DecisionStore(bare, create=False, read_only=True) as st:
        none = st.shadow_decisions()
    assert none.empty and list(none.columns) == list(read_shadow(url).columns) and none["limit"].dtype == "int64"

def test_each_command_opens_the_store_once(tmp_path: Path, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from underwriting import store as store_mod

    url = make_store(tmp_path / "d.db")
    opened: list[str] = []
    real = store_mod.DecisionStore.__init__

    def counting(self: Any, *a: Any, **k: Any) -> None:
        opened.append(str(a[0] if a else k.get("url")))
        real(self, *a, **k)

    monkeypatch.setattr(store_mod.DecisionStore, "__init__", counting)
    for argv in (["models", "shadow", "yield-value", "--store", url],
                 ["models", "card", "yield-value", "--version", "2", "--store", url],
                 ["models", "promote", "yield-value", "2", "--shadow-store", url]):
        opened.clear()
        r = CliRunner().invoke(app, argv)
        assert r.exit_code == 0, r.stderr
        assert len(opened) == 1, (argv, opened)


def test_two_records_of_one_application_on_one_date_pair_the_later(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_report
    from underwriting._store_schema import record_id_for

    url = make_store(tmp_path / "d.db")
    again = DecisionItem(idempotency_key="again-A1", application_id="A1", farmer_token="t-A", season=SEASON,
                         as_of=RU1, outcome="APPROVE", limit=950, currency="USD", reason_codes=(),
                         body=_body("1", "end", {}), kind="reunderwrite",
                         supersedes=record_id_for(hashlib.sha256(f"A1|{RU1}|1|False".encode()).hexdigest()))
    again_s = DecisionItem(idempotency_key="again-A1-s", application_id="A1", farmer_token="t-A", season=SEASON,
                           as_of=RU1, outcome="REDUCE", limit=700, currency="USD", reason_codes=(),
                           body=_body("2", "end", {}), kind="reunderwrite")
    _add(url, [again], [again_s])
    res = shadow_report("yield-value", url)
    a1 = res.pairs[(res.pairs["application_id"] == "A1") & (res.pairs["as_of"] == RU1)]
    assert len(a1) == 1 and int(a1["limit_base"].iloc[0]) == 950 and int(a1["limit_candidate"].iloc[0]) == 700


def test_limit_differs_is_not_changed(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_report

    res = shadow_report("yield-value", make_store(tmp_path / "d.db"))
    t = res.pairs.assign(limit_candidate=res.pairs["limit_base"])  # every limit the same, the changes stand
    c = res.comparison(t)
    assert c["limit_differs"] == 0 and c["changed"] == 3


def test_crop_type_versions_are_read_from_the_provenance(tmp_path: Path) -> None:
    from pipelines.shadow_report import record_version, season_coverage

    body = {"provenance": {"crop_model_version": "crop-type version 3 (champion), run abc"}}
    assert record_version(body, "crop-type") == "3"
    assert record_version({"provenance": {"crop_model_version": "saved folder"}}, "crop-type") is None
    assert record_version(body, "yield-value") is None
    url = make_store(tmp_path / "d.db", shadow_dates=())
    recs = _records(url)
    recs = recs.assign(body_dict=[{**b, "provenance": {"crop_model_version": "crop-type version 1 (champion), run r"}}
                                  for b in recs["body_dict"]])
    recs = recs.assign(in_force=[record_version(b, "crop-type") for b in recs["body_dict"]])
    sh = pd.DataFrame({"record_id": recs["record_id"], "in_force_version": "1",
                       "body": [json.dumps({"provenance": {"crop_model_version": "crop-type version 4 (challenger)"}})]
                       * len(recs)})
    cov = season_coverage(SEASON, recs, sh, "crop-type", "4")
    assert cov.whole and [d["in_force"] for d in cov.dates] == [{"1": 3}, {"1": 2}]


def test_out_never_overwrites_the_store(tmp_path: Path, registry: Path) -> None:
    db = tmp_path / "d.csv"  # a store whose file name ends in .csv: --out over it refused
    url = make_store(db)
    before = db.read_bytes()
    r = CliRunner().invoke(app, ["models", "shadow", "yield-value", "--store", url, "--out", str(db)])
    assert r.exit_code == 2 and db.read_bytes() == before, r.stderr
    md = tmp_path / "d.md"
    url2 = make_store(md)
    before = md.read_bytes()
    r = CliRunner().invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", url2, "--out", str(md)])
    assert r.exit_code == 2 and md.read_bytes() == before, r.stderr


def test_the_bootstrap_draws_farmers_not_fields() -> None:
    from pipelines.shadow_report import yield_figures

    # two farmers of ten fields each: one's every field 1 t/ha better in shadow, the other's 1 t/ha worse — drawn
    # whole, a resample's mean difference is -1, 0 or +1 (the interval [-1, 1]); drawn by field it would be narrow
    n = 20
    rows = pd.DataFrame({"checkpoint": "mid", "as_of": UW, "kind": "decision",
                         "application_id": [f"A{i:02d}" for i in range(n)],
                         "farmer_token": ["t0"] * 10 + ["t1"] * 10, "field_id": [f"F{i:02d}" for i in range(n)],
                         "reported": 3.0, "p10_base": 1.0, "p50_base": 3.0, "p10_shadow": 1.0,
                         "p50_shadow": [3.0 + 0.0] * 10 + [3.0] * 10})
    rows["p50_base"] = [4.0] * 10 + [3.0] * 10  # farmer t0: in force 1 off, shadow right: -1
    rows["p50_shadow"] = [3.0] * 10 + [4.0] * 10  # farmer t1: in force right, shadow 1 off: +1
    f = yield_figures(rows)[0]
    assert f["p50_abs_error_t_ha"]["difference"] == 0.0
    assert f["p50_abs_error_t_ha"]["interval"] == pytest.approx([-1.0, 1.0])


def test_outcomes_are_per_dated_run_never_pooled(tmp_path: Path, registry: Path) -> None:
    from pipelines.shadow_report import shadow_report

    url = make_store(tmp_path / "d.db")
    # the re-underwriting recorded with the underwriting's checkpoint (as the demo's first re-underwriting is: mid)
    rep = tmp_path / "reported.csv"
    pd.DataFrame({"field_id": ["F1", "F2", "F3", "F4"], "season": [2024] * 4,
                  "reported_yield_t_ha": [2.0, 1.2, 3.0, 3.0]}).to_csv(rep, index=False)
    res = shadow_report("yield-value", url, reported=rep)
    runs = [(f["kind"], f["as_of"], f["checkpoint"], f["pairs"], f["fields"]) for f in res.outcomes]
    assert runs == [("decision", UW, "mid", 4, 4), ("reunderwrite", RU1, "end", 3, 3)]
    text = "\n".join(res.lines())
    assert "4 record-field pair(s), 4 distinct field(s)" in text
    assert any("under 30 distinct fields" in n for n in res.notes)


def test_promotion_records_the_evidence_checked_and_show_and_card_print_it(tmp_path: Path, registry: Path) -> None:
    from models.registry import NOT_CHECKED

    url = make_store(tmp_path / "d.db")
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url])
    assert r.exit_code == 0, r.stderr
    h = _history()[-1]
    assert h["evidence"] == (f"shadow: checked {url}, season 2024: 5 shadow row(s) over 2 dated run(s); a whole "
                             "season")
    # with --shadow-store, the version already champion: nothing recorded, as before
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url])
    assert r.exit_code == 0 and "nothing recorded" in r.stdout and "not judged" in r.stdout, r.stderr
    # re-dated with --shadow-store: its entry says the evidence was not judged, not "not checked"
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url, "--effective",
                                 "2024-01-01"])
    assert r.exit_code == 0 and "re-dated" in r.stdout, r.output
    assert _history()[-1]["evidence"] == "shadow: not judged (version 2 is already the champion)"
    # an unchecked promotion says so in its entry; show prints both
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "1"])
    assert r.exit_code == 0 and _history()[-1]["evidence"] == NOT_CHECKED
    shown = CliRunner().invoke(app, ["models", "show", "yield-value"]).stdout
    assert f"shadow: checked {url}, season 2024" in shown and "shadow: not checked" in shown
    card = CliRunner().invoke(app, ["models", "card", "yield-value", "--version", "2"]).stdout
    assert f"shadow: checked {url}, season 2024" in card


def test_show_prints_the_failures_a_forced_promotion_overrode(tmp_path: Path, registry: Path) -> None:
    url = make_store(tmp_path / "d.db", shadow_dates=(UW,))
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url, "--force",
                                 "--reason", "committee", "--approved-by", "mrm-2"])
    assert r.exit_code == 0, r.stderr
    line = [x for x in CliRunner().invoke(app, ["models", "show", "yield-value"]).stdout.splitlines()
            if "FORCED" in x][0]
    assert "approved by mrm-2: committee" in line and "overriding: shadow: did not run in shadow" in line
    assert "incomplete: reunderwrite 2024-09-10" in line


def test_report_and_evidence_on_postgresql(registry: Path, pg_server: str) -> None:
    from pipelines.shadow_report import shadow_evidence, shadow_report
    from underwriting.store import DecisionStore

    url = make_store(pg_server)
    try:
        res = shadow_report("yield-value", url)
        assert res.coverage[0].whole and len(res.pairs) == 5
        assert res.to_json()["comparison"]["changed"] == 3
        ev = shadow_evidence("yield-value", "2", url)
        assert ev.failure is None and "5 shadow row(s) over 2 dated run(s)" in ev.record
    finally:
        with DecisionStore(url) as st:
            st._engine.dispose()


def test_the_outcomes_read_the_models_own_yields_where_the_body_records_them() -> None:
    """The reported yields are at the model's moisture basis: a field's ``model_yield_*`` (the model's own) are
    compared, not the ``yield_*`` the decision used (converted to the price's basis, or the pre-season history ×
    haircut); an older body recording only ``yield_*`` is read from those."""
    from pipelines._shadow_outcomes import _field_predictions

    body = {"fields": [{"field_id": "F1", "yield_p10_t_ha": 1.8, "yield_p50_t_ha": 2.7,
                        "model_yield_p10_t_ha": 2.0, "model_yield_p50_t_ha": 3.0},
                       {"field_id": "F2", "yield_p10_t_ha": 1.0, "yield_p50_t_ha": 2.0},
                       {"field_id": "F3", "yield_p10_t_ha": None, "yield_p50_t_ha": 2.0}]}
    got = _field_predictions(body)
    assert got == {"F1": {"yield_p10_t_ha": 2.0, "yield_p50_t_ha": 3.0},
                   "F2": {"yield_p10_t_ha": 1.0, "yield_p50_t_ha": 2.0}}


def test_the_share_above_p90_where_both_bodies_record_it() -> None:
    """Bodies of schema /2 record the model's P90: each side's share of reported yields above it, over the pairs
    whose both sides record one (their count said); None when no pair does (bodies written before /2); the report's
    line says which."""
    from pipelines._shadow_outcomes import _field_predictions, yield_figures, yield_pairs
    from pipelines.shadow_report import _above_words

    def body(p10: float, p50: float, p90: float | None, fid: str = "F1") -> dict[str, Any]:
        f = {"field_id": fid, "yield_p10_t_ha": p10, "yield_p50_t_ha": p50, "model_yield_p10_t_ha": p10,
             "model_yield_p50_t_ha": p50}
        if p90 is not None:
            f["model_yield_p90_t_ha"] = p90
        return {"provenance": {"checkpoint": "mid"}, "fields": [f]}

    assert _field_predictions(body(1.0, 2.0, 3.0))["F1"]["yield_p90_t_ha"] == 3.0
    assert "yield_p90_t_ha" not in _field_predictions(body(1.0, 2.0, None))["F1"]
    # F0..F3 reported 3.5; in force P90 3.0 / 4.0 / 3.0 / none (above: 2 of 3), shadow 4.0 / 3.0 / 3.6 / 3.0 (1 of 3)
    sides = [((1, 2, 3.0), (1, 2, 4.0)), ((1, 2, 4.0), (1, 2, 3.0)), ((1, 2, 3.0), (1, 2, 3.6)),
             ((1, 2, None), (1, 2, 3.0))]
    pairs = pd.DataFrame([{"season": SEASON, "as_of": UW, "kind": "decision", "record_id": f"r{i}",
                           "application_id": f"A{i}", "farmer_token": f"t{i}", "body_base": body(*a, fid=f"F{i}"),
                           "body_shadow": body(*b, fid=f"F{i}")} for i, (a, b) in enumerate(sides)])
    reported = pd.DataFrame({"field_id": [f"F{i}" for i in range(4)], "season": SEASON, "reported_yield_t_ha": 3.5})
    rows = yield_pairs(pairs, reported)
    assert rows["p90_base"].isna().tolist() == [False, False, False, True]
    f = yield_figures(rows)[0]
    a = f["above_p90"]
    assert f["pairs"] == 4 and a["pairs"] == 3
    assert a["in_force"] == pytest.approx(2 / 3, abs=1e-6) and a["shadow"] == pytest.approx(1 / 3, abs=1e-6)
    lo, hi = a["interval"]
    assert lo <= a["difference"] <= hi
    assert "above P90 of 3 pair(s) 66.7% → 33.3% (-33.3 points" in _above_words(a, 4)
    old = yield_figures(rows.iloc[[3]].assign(p90_shadow=np.nan))[0]
    assert old["above_p90"] is None and "not recorded" in _above_words(None, 1)


def test_a_saved_crop_folder_is_no_version_for_the_writer_nor_the_report() -> None:
    """The writer's in-force crop version and the report's reading of a record agree: a saved folder's model (``file
    sha256:…``) is no registry version on either side (the writer had kept the whole description, over the column's
    64 characters with a pinned season scale, and the report then noted a mismatch)."""
    from pipelines._champions import crop_registry_version as _crop_version
    from pipelines.shadow_report import record_version

    for desc, want in (("crop-type version 3 (champion), run abc", "3"),
                       ("file sha256:0123456789abcdef, season scale pinned at 1.2", None), ("none", None), (None, None)):
        assert _crop_version(desc) == want
        assert record_version({"provenance": {"crop_model_version": desc}}, "crop-type") == want


# ---------------------------------------------------------------------- a bank's season calendar (--calendar)
def _calendar(tmp_path: Path, pre_harvest: str) -> Path:
    """A bank's season calendar: us-nebraska maize's checkpoints with its pre_harvest on ``pre_harvest``."""
    p = tmp_path / "bank_calendar.csv"
    p.write_text("region,crop,checkpoint,month_day,year_offset,description\n"
                 f"{REGION},{CROP},pre_season,04-01,0,before sowing\n{REGION},{CROP},emergence,06-01,0,emerged\n"
                 f"{REGION},{CROP},mid_season,07-20,0,silking\n{REGION},{CROP},pre_harvest,{pre_harvest},0,maturing\n")
    return p


def test_the_seasons_end_is_read_from_a_calendar_file(tmp_path: Path, registry: Path) -> None:
    from models.registry import alias_version

    url = make_store(tmp_path / "d.db")  # whole by the shipped calendar (pre_harvest 09-10 = RU1)
    later = _calendar(tmp_path, "09-25")
    runner = CliRunner()
    r = runner.invoke(app, ["models", "shadow", "yield-value", "--store", url, "--version", "2", "--json"])
    j = json.loads(r.stdout)
    assert j["seasons"][0]["whole_season"] is True and j["calendar"] == "default"
    r = runner.invoke(app, ["models", "shadow", "yield-value", "--store", url, "--version", "2", "--json",
                            "--calendar", str(later)])
    assert r.exit_code == 0, r.stderr
    j = json.loads(r.stdout)
    s = j["seasons"][0]
    assert j["calendar"] == "bank_calendar.csv" and s["whole_season"] is False and s["season_end"] == "2024-09-25"
    assert s["missing"] == "in progress: no run on or after 2024-09-25 (the season's last pre_harvest checkpoint, " \
        "calendar bank_calendar.csv)"
    assert str(later) not in r.stdout  # the file's name, not where it lies
    text = runner.invoke(app, ["models", "shadow", "yield-value", "--store", url, "--version", "2", "--calendar",
                               str(later)]).stdout
    # the reason as it is ("missing in progress: …" read as nonsense, a walkthrough)
    assert "did NOT run in shadow over the whole season: in progress: no run on or after 2024-09-25" in text, text
    # the card judges by it too
    card = runner.invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", url, "--calendar",
                               str(later)])
    assert card.exit_code == 0, card.stderr
    assert "Seasons' ends by the season calendar bank_calendar.csv." in card.stdout
    assert "Season 2024: incomplete: in progress: no run on or after 2024-09-25" in card.stdout
    # and the promotion: refused by it, allowed by an earlier end, the calendar named in the alias history
    r = runner.invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url, "--shadow-calendar",
                            str(later)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "its end by calendar bank_calendar.csv: in progress: no run on or after 2024-09-25" in r.stderr
    assert alias_version("yield-value") == "1"
    earlier = _calendar(tmp_path, "09-05")
    r = runner.invoke(app, ["models", "promote", "yield-value", "2", "--shadow-store", url, "--shadow-calendar",
                            str(earlier)])
    assert r.exit_code == 0, r.stderr
    assert "ran in shadow over the whole season 2024 in" in r.stdout and "its end by calendar bank_calendar.csv" \
        in r.stdout
    h = _history()[-1]
    assert h["version"] == "2" and "season 2024, its end by calendar bank_calendar.csv: 5 shadow row(s) over 2 " \
        "dated run(s); a whole season" in h["evidence"]


@pytest.mark.parametrize("argv,msg", [
    (["models", "promote", "yield-value", "2", "--shadow-calendar", "{cal}"], "--shadow-calendar: give --shadow-store"),
    (["models", "card", "yield-value", "--version", "2", "--calendar", "{cal}"], "--calendar: give --store"),
    (["models", "shadow", "yield-value", "--store", "{url}", "--version", "2", "--calendar", "{tmp}/none.csv"],
     "calendar file not found"),
    (["models", "shadow", "yield-value", "--store", "{url}", "--version", "2", "--calendar", "{bad}"],
     "bad.csv row 5 (region us-nebraska, crop maize, checkpoint pre_harvest): column month_day holds '09-31'"),
    (["models", "promote", "yield-value", "2", "--shadow-store", "{url}", "--shadow-calendar", "{tmp}/none.csv"],
     "calendar file not found"),
    (["models", "promote", "yield-value", "1", "--shadow-store", "{url}", "--shadow-calendar", "{bad}"],
     "bad.csv row 5 (region us-nebraska, crop maize, checkpoint pre_harvest): column month_day holds '09-31'"),
])
def test_a_calendar_without_its_store_or_a_bad_one_is_one_line(tmp_path: Path, registry: Path, argv: list[str],
                                                              msg: str) -> None:
    from models.registry import alias_version

    url = make_store(tmp_path / "d.db")
    cal = _calendar(tmp_path, "09-25")
    bad = tmp_path / "bad.csv"
    bad.write_text(cal.read_text().replace("pre_harvest,09-25", "pre_harvest,09-31"))
    argv = [a.format(cal=cal, url=url, tmp=tmp_path, bad=bad) for a in argv]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2 and msg in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert alias_version("yield-value") == "1"


def test_the_card_reads_the_shadow_rows_once(tmp_path: Path, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import shadow

    url = make_store(tmp_path / "d.db")
    empty = make_store(tmp_path / "e.db", shadow_dates=())
    calls: list[Any] = []
    real = shadow.read_shadow

    def counting(*a: Any, **k: Any) -> pd.DataFrame:
        calls.append(k)
        return real(*a, **k)

    monkeypatch.setattr(shadow, "read_shadow", counting)
    for store, rows in ((url, True), (empty, False)):
        calls.clear()
        r = CliRunner().invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", store])
        assert r.exit_code == 0, r.stderr
        assert len(calls) == 1, calls
        assert ("it has not run in shadow" in r.stdout) is not rows


def test_the_report_reads_one_snapshot_on_postgresql(registry: Path, pg_server: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A run committing records between the report's reads (its shadow rows, then the season's records) is not half
    seen: on PostgreSQL the report reads in one REPEATABLE READ transaction, so a record written meanwhile, with no
    shadow row yet, does not make the season look incomplete."""
    import os

    import sqlalchemy as sa

    from pipelines import shadow_report as sr
    from underwriting.store import DecisionStore

    name = f"snap{os.getpid()}"  # a database of its own: the module's server is shared with the other PG test
    engine = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    url = make_store(pg_server.rsplit("/", 1)[0] + f"/{name}")
    real = sr._season_records
    wrote: list[int] = []

    def meanwhile(st: Any, season: str, name: str) -> pd.DataFrame:
        if not wrote:  # another run commits a record of the season between the shadow rows' read and this one
            with DecisionStore(url) as other:
                wrote.append(other.append([_item("C1", UW, "APPROVE", 700, fields={"F9": (1.0, 2.0)})],
                                          operator="test").written)
        return real(st, season, name)

    monkeypatch.setattr(sr, "_season_records", meanwhile)
    try:
        res = sr.shadow_report("yield-value", url, version="2")
        assert wrote == [1]
        assert res.coverage[0].whole and [d["records"] for d in res.coverage[0].dates] == [3, 2]
        monkeypatch.setattr(sr, "_season_records", real)
        later = sr.shadow_report("yield-value", url, version="2")  # the next report sees it, without its row
        assert not later.coverage[0].whole and later.coverage[0].dates[0]["missing"] == ["C1"]
    finally:
        with DecisionStore(url) as st:
            st._engine.dispose()


def test_the_alerts_behind_each_sides_re_underwriting_decisions_are_compared(tmp_path: Path, registry: Path) -> None:
    """Each side's re-underwriting records name the alerts their decision read (``reunderwrite.alerts``): the report
    counts each side's and, by kind, those only the shadow names (added) and only the record in force (removed) — a
    crop-type challenger computes its own; records without the block (a first decision) name none."""
    from pipelines.shadow_report import alert_changes, shadow_report

    def body(*alerts: str) -> dict[str, Any]:
        return {"reunderwrite": {"alerts": list(alerts)}}

    t = pd.DataFrame({"body_base": [body("F1:CROP_MISMATCH", "F2:WATCH"), body(), {"fields": []}],
                      "body_shadow": [body("F2:WATCH", "F3:CROP_MISMATCH", "F4:CROP_MISMATCH"),
                                      body("F5:NOT_PLANTED"), {"fields": []}]})
    got = alert_changes(t)
    assert got == {"in_force": 2, "shadow": 4, "added": {"CROP_MISMATCH": 2, "NOT_PLANTED": 1},
                   "removed": {"CROP_MISMATCH": 1}}
    assert alert_changes(pd.DataFrame()) == {"in_force": 0, "shadow": 0, "added": {}, "removed": {}}
    rep = shadow_report("yield-value", make_store(tmp_path / "d.db"))
    j = rep.to_json()  # bodies without the block
    assert j["comparison"]["alerts"] == {"in_force": 0, "shadow": 0, "added": {}, "removed": {}}
    assert not any("alerts behind" in ln for ln in rep.lines())  # no alert on either side: no line


def test_the_text_report_counts_the_alerts_each_side_names(tmp_path: Path, registry: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The text said nothing of the alerts unless they differed, where the README and --json count them each side (a
    walkthrough): a re-underwriting's line now says both counts, and what moved or that nothing did."""
    import pipelines.shadow_report as sr

    rep = sr.shadow_report("yield-value", make_store(tmp_path / "d.db"))
    monkeypatch.setattr(sr, "alert_changes", lambda t: {"in_force": 65, "shadow": 65, "added": {}, "removed": {}})
    said = [ln.strip() for ln in rep.lines() if "alerts behind" in ln]
    assert said and set(said) == {"alerts behind the re-underwriting decisions: 65 → 65; none added or removed"}
    monkeypatch.setattr(sr, "alert_changes", lambda t: {"in_force": 2, "shadow": 4, "added": {"CROP_MISMATCH": 2,
                        "NOT_PLANTED": 1}, "removed": {"CROP_MISMATCH": 1}})
    said = {ln.strip() for ln in rep.lines() if "alerts behind" in ln}
    assert said == {"alerts behind the re-underwriting decisions: 2 → 4; +CROP_MISMATCH (2), +NOT_PLANTED (1), "
                    "-CROP_MISMATCH (1)"}


def test_a_change_of_maturity_or_proposed_actions_is_said_where_it_is_counted(tmp_path: Path, registry: Path) -> None:
    """A walkthrough: ``models shadow crop-type`` counted 46 of 153 records "changed" while the largest differences
    showed ``REFER, limit INR 0.00 → INR 0.00`` and --json / --out pairs had outcome, limit, granted, value and
    reasons equal — what moved was the line's maturity (a challenger's phenology calibration), which ``models impact``
    says. Now the summary counts the maturity- or proposed-actions-only changes, the largest differences say the
    maturity and the proposed actions that moved (impact's words), --json (largest and pairs) and --out carry each
    side's, and the card's shadow line counts them."""
    from pipelines.shadow_report import shadow_report

    url = f"sqlite:///{tmp_path / 'd.db'}"

    def item(aid: str, maturity: str, actions: list[str], version: str) -> DecisionItem:
        it = _item(aid, UW, "REFER", 500, version=version, fields={f"F{aid}": (1.0, 2.0)}, shadow=version == "2")
        it.body["computation"] = {"maturity_date": maturity}
        it.body["renewal"] = {"proposed_actions": actions}
        return it

    base = [item("A1", "2024-10-01", ["REVIEW"], "1"), item("A2", "2024-10-05", ["REVIEW"], "1"),
            item("B1", "2024-10-09", [], "1")]
    shadow = [item("A1", "2024-09-30", ["REVIEW"], "2"), item("A2", "2024-10-05", ["REVIEW", "FREEZE_UNDRAWN"], "2"),
              item("B1", "2024-10-09", [], "2")]
    _add(url, base, shadow)
    res = shadow_report("yield-value", url)
    c = res.to_json()["comparison"]
    assert (c["changed"], c["maturity_or_actions_changed_only"], c["maturity_changed"], c["actions_changed"],
            c["reasons_changed_only"], c["limit_differs"]) == (2, 2, 1, 1, 0, 0)
    big = {r["application_id"]: r for r in c["largest"]}
    assert (big["A1"]["maturity_in_force"], big["A1"]["maturity_shadow"]) == ("2024-10-01", "2024-09-30")
    assert (big["A2"]["actions_in_force"], big["A2"]["actions_shadow"]) == ("REVIEW", "REVIEW;FREEZE_UNDRAWN")
    text = "\n".join(res.lines())
    assert (f"decision {UW}: 3 record(s), 2 changed, outcome moved on 0 (none), limit differs on 0 (up 0, down 0), "
            "maturity or proposed actions only 2, reasons only 0; maturity moved on 1, proposed actions on 1;") in text
    assert (f"decision {UW} A1 (farmer t-A): REFER, limit USD 5.00 → USD 5.00, granted USD 0.00 → USD 0.00, "
            "maturity 2024-10-01 → 2024-09-30") in text
    assert (f"decision {UW} A2 (farmer t-A): REFER, limit USD 5.00 → USD 5.00, granted USD 0.00 → USD 0.00, "
            "proposed actions REVIEW → REVIEW, FREEZE_UNDRAWN") in text
    runner = CliRunner()
    out = tmp_path / "pairs.csv"
    r = runner.invoke(app, ["models", "shadow", "yield-value", "--store", url, "--json", "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    pairs = {p["application_id"]: p for p in json.loads(r.stdout)["pairs"]}
    assert {k: pairs["A1"][k] for k in ("maturity_in_force", "maturity_shadow", "actions_in_force",
                                        "actions_shadow", "changed")} == {
        "maturity_in_force": "2024-10-01", "maturity_shadow": "2024-09-30", "actions_in_force": "REVIEW",
        "actions_shadow": "REVIEW", "changed": True}
    t = pd.read_csv(out, keep_default_na=False).set_index("application_id")
    assert (t.loc["A2", "actions_in_force"], t.loc["A2", "actions_shadow"]) == ("REVIEW", "REVIEW;FREEZE_UNDRAWN")
    assert (t.loc["A1", "maturity_in_force"], t.loc["A1", "maturity_shadow"]) == ("2024-10-01", "2024-09-30")
    assert not bool(t.loc["B1", "changed"]) and t.loc["B1", "maturity_in_force"] == t.loc["B1", "maturity_shadow"]
    card = runner.invoke(app, ["models", "card", "yield-value", "--version", "2", "--store", url])
    assert card.exit_code == 0, card.stderr
    assert "3 paired, 2 would have changed, outcome on 0, limit on 0, maturity or proposed actions only on 2" in card.stdout
