"""``agcredit models impact``: the season's applications decided with the champion and with a candidate version,
nothing stored — through the real registry, the tiny county and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.yield_value import YieldModel, YieldModelConfig
from pipelines.cli import app
from pipelines.county import County
from pipelines.impact import compare_decisions, compare_values
from tests.pipelines.test_underwrite import KEY, world  # noqa: F401  (the tiny county's features and model)
from underwriting.policy import default_policy
from underwriting.records import DecisionItem

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


@pytest.fixture(scope="module")
def impact_world(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    """A registry holding the world's yield model as version 1 (champion), a version 2 fitted on targets 40% lower
    (a model that values every field lower) and a version 3 identical to 1 in what it predicts; the world's
    features written as a features file."""
    from models.registry import promote, register

    root = tmp_path_factory.mktemp("impact")
    uri = f"sqlite:///{root / 'reg' / 'mlflow.db'}"
    (root / "reg").mkdir()
    X = world["features"]
    rng = np.random.default_rng(0)
    y = 2.0 + 3.0 * X["feat_NDVI_max"].fillna(0.3).to_numpy() + rng.normal(0, 0.2, len(X))
    low = YieldModel(YieldModelConfig(n_estimators=20, num_leaves=4, min_child_samples=2, calibrate=False)).fit(
        X, 0.6 * y)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        v1 = register(world["models"].yield_model, "yield-value", metrics={"r2": 0.5}, governance=world["gov"],
                      operator="tester")
        promote("yield-value", v1, operator="tester")
        v2 = register(low, "yield-value", metrics={"r2_all": 0.41, "below_p10_all": 0.12}, governance=world["gov"],
                      operator="tester")
        v3 = register(world["models"].yield_model, "yield-value", metrics={"r2": 0.5}, governance=world["gov"],
                      operator="tester")
    feats = root / "features.parquet"
    X.to_parquet(feats, index=False)
    return {"uri": uri, "root": root, "features": feats, "versions": (v1, v2, v3)}


def _args(world: dict[str, Any], iw: dict[str, Any], *extra: str) -> list[str]:  # noqa: F811
    c: County = world["county"]
    return ["models", "impact", "yield-value", "--applications", str(c.path / "records" / "applications.csv"),
            "--fields", str(c.path / "records" / "fields.gpkg"), "--season", world["season"], "--as-of",
            str(world["as_of"]), "--features", str(iw["features"]), "--book", str(c.path / "records" / "book.csv"),
            "--profile", "in-kcc", *extra]


def _run(iw: dict[str, Any], args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", iw["uri"])
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    return CliRunner().invoke(app, args)


def test_a_lower_valuing_candidate_lowers_limits_and_says_which(world: dict[str, Any],  # noqa: F811
                                                                  impact_world: dict[str, Any], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default store would be created here: it must not be
    out = tmp_path / "impact.csv"
    v1, v2, _ = impact_world["versions"]
    r = _run(impact_world, _args(world, impact_world, "--candidate", v2, "--out", str(out)), monkeypatch)
    assert r.exit_code == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"promotion impact of yield-value version {v2} against version {v1} (champion) "
                               "(synthetic data)") and "nothing stored" in lines[0]
    # beside the consequences, each version's held-out evidence at registration
    assert lines[1] == f"held out at registration, version {v1} (champion): no figures; meets its minimum metrics"
    assert lines[2] == f"held out at registration, version {v2}: r2_all 0.41, below_p10_all 0.12; meets its minimum metrics"
    t = pd.read_csv(out)
    n = len(t)
    assert n == len(pd.read_csv(world["county"].path / "records" / "applications.csv").query(
        f"season == {int(world['season'])}"))
    # every field valued 40% lower by P10: no limit goes up, some go down (the tiny county's applications are all
    # referred mid-season, so nothing is granted either way: the limits their computations reached move)
    assert (t["limit_candidate"] <= t["limit_base"]).all() and t["value_base"].notna().all()
    assert (t["value_candidate"] < t["value_base"]).all()  # each application's expected crop value, 40% lower
    assert np.allclose(t["value_candidate"] / t["value_base"], 0.6, atol=0.01)
    assert (t["granted_change"] == t["granted_candidate"] - t["granted_base"]).all()
    assert (t["granted_base"] == np.where(t["outcome_base"].isin(["APPROVE", "REDUCE"]), t["limit_base"], 0)).all()
    down = int((t["limit_candidate"] < t["limit_base"]).sum())
    assert f"limit (referred ones' included) up on 0, down on {down}" in r.stdout
    assert f"decisions changed: {int(t['changed'].sum())} of {n} " in r.stdout and t["changed"].any()
    assert any(x.startswith("granted: INR ") for x in lines)
    vals = [x for x in lines if x.startswith("  ") and " fields, INR " in x]
    assert len(vals) == 3 and all("(-40.0%)" in x for x in vals), vals  # every crop's P10 value total
    assert "+CROP_VALUE_BELOW_REQUEST" in r.stdout
    # the transition table's rows add up to the applications
    j = json.loads(_run(impact_world, _args(world, impact_world, "--candidate", v2, "--json"), monkeypatch).stdout)
    assert sum(sum(row.values()) for row in j["transitions"].values()) == n == j["counts"]["applications"]
    assert j["counts"]["limit_down"] == down and j["data"] == "synthetic"
    assert sum(v["value_p10_candidate"] for v in j["values"]) < sum(v["value_p10_base"] for v in j["values"])
    # nothing stored anywhere: no default store, no artifacts folder
    assert not (tmp_path / "agcredit-decisions.db").exists() and not list(tmp_path.glob("*artifacts*"))
    # deterministic: the same comparison byte for byte
    again = _run(impact_world, _args(world, impact_world, "--candidate", v2, "--json"), monkeypatch).stdout
    assert json.loads(again) == j


def test_a_candidate_predicting_the_same_changes_nothing(world: dict[str, Any],  # noqa: F811
                                                         impact_world: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    v1, _, v3 = impact_world["versions"]
    r = _run(impact_world, _args(world, impact_world, "--candidate", v3, "--json"), monkeypatch)
    assert r.exit_code == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["counts"]["changed"] == 0 and j["counts"]["applications"] > 0
    assert all(v["value_p10_base"] == v["value_p10_candidate"] for v in j["values"])
    # the champion against itself, by alias or by number: nothing to compare, one line
    for cand in ("champion", v1):
        r = _run(impact_world, _args(world, impact_world, "--candidate", cand), monkeypatch)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"are both yield-value version {v1}: nothing to compare" in r.stderr
    # --against: the candidate against another version than the champion
    r = _run(impact_world, _args(world, impact_world, "--candidate", v1, "--against", v3, "--json"), monkeypatch)
    assert r.exit_code == 0 and json.loads(r.stdout)["base"] == f"version {v3}"


@pytest.mark.parametrize("extra, message", [
    (["--candidate", "9"], "model 'yield-value' has no version 9"),
    (["--candidate", "2", "--out", "x.txt"], "unsupported output format '.txt'"),
])
def test_bad_requests_are_one_line(world: dict[str, Any], impact_world: dict[str, Any],  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path, extra: list[str],
                                   message: str) -> None:
    monkeypatch.chdir(tmp_path)
    r = _run(impact_world, _args(world, impact_world, *extra), monkeypatch)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())


def test_crop_type_needs_the_imagery_and_an_unknown_model_is_refused(world: dict[str, Any],  # noqa: F811
                                                                     impact_world: dict[str, Any],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    args = _args(world, impact_world, "--candidate", "2")
    r = _run(impact_world, [*args[:2], "crop-type", *args[3:]], monkeypatch)
    assert r.exit_code == 2 and "give --imagery so that each crop model builds its own" in r.stderr, r.stderr
    r = _run(impact_world, [*args[:2], "area", *args[3:]], monkeypatch)
    assert r.exit_code == 2 and "unknown model 'area' (expected yield-value or crop-type)" in r.stderr
    i = args.index("--features")
    r = _run(impact_world, [*args[:i], *args[i + 2:]], monkeypatch)
    assert r.exit_code == 2 and "give --imagery (to build the features) or --features" in r.stderr


def _item(aid: str, outcome: str, limit: int, reasons: tuple[str, ...] = (), refer: tuple[str, ...] = ()
          ) -> DecisionItem:
    return DecisionItem(idempotency_key=aid, application_id=aid, farmer_token="t-" + aid, season="2024",
                        as_of="2024-06-01", outcome=outcome, limit=limit, currency="USD", reason_codes=reasons,
                        body={"application": {"requested_amount": 1000}, "refer_reasons": list(refer)})


def test_compare_decisions_counts_granted_limits_and_reasons() -> None:
    base = [_item("A", "APPROVE", 1000), _item("B", "REDUCE", 600, ("LIMIT_CAPPED",)), _item("C", "REFER", 700,
                                                                                          refer=("OUT_OF_SCOPE",)),
            _item("D", "DECLINE", 0)]
    cand = [_item("D", "DECLINE", 0), _item("C", "REFER", 500, refer=("OUT_OF_SCOPE",)),
            _item("B", "REDUCE", 600, ("LIMIT_CAPPED", "MIN_LINE")), _item("A", "REFER", 1000, refer=("X",))]
    t = compare_decisions(base, cand)
    assert list(t["application_id"]) == ["A", "B", "C", "D"]
    # a referred decision grants nothing, whatever limit it carries
    assert list(t["granted_base"]) == [1000, 600, 0, 0] and list(t["granted_candidate"]) == [0, 600, 0, 0]
    assert list(t["limit_base"]) == [1000, 600, 700, 0] and list(t["limit_candidate"]) == [1000, 600, 500, 0]
    assert list(t["changed"]) == [True, True, True, False]  # C grants nothing either way, but its limit moved
    assert t.loc[0, "reasons_added"] == "X" and t.loc[1, "reasons_added"] == "MIN_LINE"
    assert t.loc[1, "reasons_removed"] == "" and list(t["requested"]) == [1000] * 4
    with pytest.raises(ValueError, match="different applications"):
        compare_decisions(base, cand[:3])


def test_compare_values_by_crop_counts_other_crops_and_scope() -> None:
    def v(fid: str, crop: str, p10: int, p50: float, scope: bool = True) -> dict[str, Any]:
        return {"field_id": fid, "crop": crop, "region": "r", "currency": "USD", "value_p10": p10,
                "yield_p50_t_ha": p50, "in_scope": scope}

    base = pd.DataFrame([v("f1", "maize", 100, 5.0), v("f2", "maize", 200, 7.0), v("f3", "soybean", 50, 2.0)])
    cand = pd.DataFrame([v("f1", "maize", 90, 4.0), v("f2", "soybean", 150, 3.0, scope=False),
                         v("f4", "soybean", 10, 1.0)])
    t = compare_values(base, cand).set_index("crop")
    assert t.loc["maize", "fields"] == 2 and t.loc["maize", "value_p10_base"] == 300
    assert t.loc["maize", "value_p10_candidate"] == 240 and t.loc["maize", "other_crop"] == 1
    assert t.loc["maize", "left_scope"] == 1 and t.loc["maize", "p50_median_base"] == 6.0
    assert t.loc["soybean", "only_base"] == 1 and t.loc["soybean", "only_candidate"] == 1


def test_crop_type_impact_builds_the_features_with_each_crop_model(world: dict[str, Any],  # noqa: F811
                                                                   impact_world: dict[str, Any], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two crop models by name (a stand-in for the registry's versions): the one in force takes each field for its
    declared crop, the candidate takes every field for maize — the fields' valuations move to maize's, and the
    comparison counts them as valued as another crop."""
    import pipelines.featurize as fz
    from tests.pipelines.test_featurize import _FakeCropModel

    class _AllMaize(_FakeCropModel):
        def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
            out = super().predict(series, fields, as_of)
            out["crop_type"], out["crop_type_prob"] = "maize", 0.95
            for c in ("rice", "maize", "cotton"):
                out[f"prob_{c}"] = 0.95 if c == "maize" else 0.025
            return out

    models = {"A": (_FakeCropModel(), "crop-type version 1 (A)"), "B": (_AllMaize(), "crop-type version 2 (B)")}
    monkeypatch.setattr(fz, "load_crop_model", lambda spec, season_scale=None: models[str(spec)])
    monkeypatch.chdir(tmp_path)
    c: County = world["county"]
    args = _args(world, impact_world, "--candidate", "B", "--against", "A", "--json")
    i = args.index("--features")
    args = [*args[:2], "crop-type", *args[3:i], "--imagery", str(c.imagery), "--cache", str(c.cache_dir),
            *args[i + 2:]]
    r = _run(impact_world, args, monkeypatch)
    assert r.exit_code == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["base"] == "crop-type version 1 (A)" and j["candidate"] == "crop-type version 2 (B)"
    vals = {v["crop"]: v for v in j["values"]}
    declared = world["features"]["declared_crop"].dropna().astype(str)
    assert sum(v["other_crop"] for v in vals.values()) == int((declared != "maize").sum()) > 0
    assert vals["maize"]["other_crop"] == 0
    r = _run(impact_world, [*args[:args.index("--against") + 1], "B", *args[args.index("--against") + 2:]],
             monkeypatch)
    assert r.exit_code == 2 and "are the same crop-type model" in r.stderr, r.stderr
    assert not list(tmp_path.iterdir())  # nothing written: no store, no artifact


def test_a_subset_of_applications_is_valued_on_its_own_fields_and_a_store_is_only_read(
        world: dict[str, Any], impact_world: dict[str, Any], tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two applications of the four: the valuations by crop count their farmers' fields only (the features file
    holds the county's); a --store that does not exist is refused (the impact never creates one), an existing one is
    read and left byte for byte as it was."""
    import hashlib

    from pipelines.underwrite import underwrite

    c: County = world["county"]
    apps = pd.read_csv(c.path / "records" / "applications.csv")
    sub = tmp_path / "two.csv"
    apps[apps["season"].astype(str) == world["season"]].head(2).to_csv(sub, index=False)
    args = _args(world, impact_world, "--candidate", impact_world["versions"][1], "--json")
    i = args.index("--applications") + 1
    args[i] = str(sub)
    r = _run(impact_world, args, monkeypatch)
    assert r.exit_code == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["counts"]["applications"] == 2
    mine = world["features"][world["features"]["farmer_token"].isin({a["farmer_token"] for a in j["applications"]})]
    valued = mine["declared_crop"].notna() | mine["crop_type"].notna()
    assert sum(v["fields"] for v in j["values"]) == int(valued.sum()) < int(world["features"]["declared_crop"]
                                                                            .notna().sum())
    assert {"maturity_base", "actions_candidate"} <= set(j["applications"][0])
    r = _run(impact_world, [*args, "--store", f"sqlite:///{tmp_path / 'none.db'}"], monkeypatch)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "none.db").exists()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with monkeypatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        underwrite(world["apps"], c.fields(world["season"]), world["season"], world["as_of"], imagery=None,
                   policy=default_policy(),
                   profile="in-kcc", book=world["book"], store=url, features=world["features"], models=world["models"])
    before = hashlib.sha256((tmp_path / "store.db").read_bytes()).hexdigest()
    r = _run(impact_world, [*args, "--store", url], monkeypatch)
    assert r.exit_code == 0, r.stderr
    assert hashlib.sha256((tmp_path / "store.db").read_bytes()).hexdigest() == before


def test_lines_name_a_crop_valued_by_one_run_only_without_nan() -> None:
    from pipelines.impact import ImpactResult

    def v(fid: str, crop: str, region: Any) -> dict[str, Any]:
        return {"field_id": fid, "crop": crop, "region": region, "currency": "USD", "value_p10": 100,
                "yield_p50_t_ha": 5.0, "in_scope": True}

    base = pd.DataFrame([v("f1", "maize", "r"), v("f2", "cotton", None)])
    cand = pd.DataFrame([v("f1", "maize", "r")])
    res = ImpactResult(name="crop-type", base="crop-type version 1", candidate="crop-type version 2", season="2024",
                       as_of=dt.date(2024, 6, 1), policy="p", profile="us", data=None,
                       applications=compare_decisions([_item("A", "APPROVE", 1000)], [_item("A", "APPROVE", 1000)]),
                       values=compare_values(base, cand), checkpoints=("mid", "mid"))
    text = "\n".join(res.lines())
    assert "nan" not in text.lower(), text
    # the model's name once: the crop-type side names it already, a yield version does not, a saved folder neither
    assert text.startswith("promotion impact of crop-type version 2 against crop-type version 1: season 2024 "), text
    assert replace(res, name="yield-value", candidate="version 2").compared() == "yield-value version 2"
    assert replace(res, candidate="file sha256:ab12").compared() == "crop-type file sha256:ab12"
    assert "  cotton: 1 fields, USD 1.00 → USD 0.00 (-100.0%), P50 5.00 t/ha (crop-type version 1 only); 1 valued by " \
           "crop-type version 1 only" in text, text


def _policy_args(world: dict[str, Any], iw: dict[str, Any], *extra: str) -> list[str]:  # noqa: F811
    args = _args(world, iw, *extra)
    return ["policy", "impact", *args[3:]]  # the same inputs, no model name


def _adv40(folder: Path) -> Path:
    """A copy of the shipped policy lending 40% of the stressed value instead of 80% (version ``…-adv40``)."""
    import yaml

    from underwriting.policy import DEFAULT_POLICY_PATH

    doc = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    doc["version"] = doc["version"] + "-adv40"
    for prof in doc["profiles"].values():
        prof["advance_rate"] = 0.4
    out = folder / "adv40.yaml"
    out.write_text(yaml.safe_dump(doc))
    return out


def test_policy_impact_of_a_lower_advance_rate(world: dict[str, Any], impact_world: dict[str, Any],  # noqa: F811
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate policy lending 40% of the stressed value instead of 80%: the champion models, the same inputs;
    every computed limit the same or lower, the value each decision saw unchanged, and the run names both policies."""
    cand = _adv40(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = _run(impact_world, _policy_args(world, impact_world, "--candidate", str(cand), "--json"), monkeypatch)
    assert r.exit_code == 0, r.stderr
    j = json.loads(r.stdout)
    pol = default_policy()
    assert j["model"] == "policy" and j["base"].startswith(f"{pol.policy_id} v{pol.version} (hash ")
    assert j["candidate"].startswith(f"{pol.policy_id} v{pol.version}-adv40 (hash ")
    t = pd.DataFrame(j["applications"])
    assert (t["limit_candidate"] <= t["limit_base"]).all() and (t["value_candidate"] == t["value_base"]).all()
    assert j["values"] == [] and j["held_out"] == []
    text = _run(impact_world, _policy_args(world, impact_world, "--candidate", str(cand)), monkeypatch).stdout
    assert text.startswith(f"policy impact of {j['candidate']} against {j['base']} (synthetic data): season ")
    assert "models yield-value 1" in text.splitlines()[0] and "valuations by crop" not in text
    # a released version of the shipped policy against today's: read from the archive
    r = _run(impact_world, _policy_args(world, impact_world, "--candidate", "default", "--against", "2026.12.9",
                                        "--json"), monkeypatch)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["base"].startswith(f"{pol.policy_id} v2026.12.9 (hash ")
    assert not [p for p in tmp_path.iterdir() if p.name != "adv40.yaml"]  # nothing written


@pytest.mark.parametrize("extra, message", [
    (["--candidate", "default"], "are the same policy"),
    (["--candidate", "2099.1.1"], "no such file, and not a released version of the shipped policy (released: "),
    (["--candidate", "default", "--against", "2026.12.9", "--profile", "nowhere"], "no such profile"),
])
def test_policy_impact_refuses_in_one_line(world: dict[str, Any], impact_world: dict[str, Any],  # noqa: F811
                                           monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str) -> None:
    r = _run(impact_world, _policy_args(world, impact_world, *extra), monkeypatch)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr


def test_policy_impact_decides_what_underwrite_decides_under_each_policy(
        world: dict[str, Any], impact_world: dict[str, Any], tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each side of the comparison is underwrite's own decision under that policy (the same model, features and
    Book), application by application; an --out over the --store given is refused before anything is read."""
    from pipelines.underwrite import underwrite
    from underwriting.policy import load_policy

    cand = _adv40(tmp_path)
    r = _run(impact_world, _policy_args(world, impact_world, "--candidate", str(cand), "--json"), monkeypatch)
    assert r.exit_code == 0, r.stderr
    t = pd.DataFrame(json.loads(r.stdout)["applications"]).set_index("application_id")
    c: County = world["county"]
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    apps = c.applications()
    for side, pol in (("base", default_policy()), ("candidate", load_policy(cand))):
        res = underwrite(apps, c.fields(world["season"]), world["season"], world["as_of"], imagery=None, policy=pol,
                         profile="in-kcc", book=c.book(), store=f"sqlite:///{tmp_path / (side + '.db')}",
                         features=world["features"], models=world["models"])
        got = {i.application_id: (i.outcome, int(i.limit)) for i in res.items}
        assert got == {a: (t.loc[a, f"outcome_{side}"], int(t.loc[a, f"limit_{side}"])) for a in t.index}
    store = tmp_path / "base.db"
    r = _run(impact_world, _policy_args(world, impact_world, "--candidate", str(cand), "--store",
                                        f"sqlite:///{store}", "--out", str(store)), monkeypatch)
    assert r.exit_code == 2 and "is the --store file" in r.stderr, r.stderr


def test_resolve_policy_by_keyword_version_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from features.errors import UserInputError
    from pipelines.impact import resolve_policy

    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text("not: [a policy")  # "default" is always the shipped policy, never this file
    pol, kind = resolve_policy("default")
    assert kind == "default" and pol.content_hash == default_policy().content_hash
    assert resolve_policy("v2026.12.9")[0].version == "2026.12.9" and resolve_policy("2026.12.9")[1] == "version"
    (tmp_path / "2026.12.9").write_text("x")
    with pytest.raises(UserInputError, match="names a released version of the shipped policy and a file here too"):
        resolve_policy("2026.12.9")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserInputError, match="is a folder, not a policy file"):
        resolve_policy("folder")
    with pytest.raises(UserInputError, match="not a released version"):
        resolve_policy("vv2026.12.9")


def test_two_versions_of_one_crop_model_are_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A walkthrough: `models impact crop-type --candidate 2`, version 2 holding version 1's (the champion's) files,
    was refused naming version 2 only — the user could not tell which model it matched."""
    from types import SimpleNamespace

    import pipelines._featurize_models as fm
    import pipelines.featurize as featurize
    from features.errors import UserInputError
    from pipelines.impact import candidate_models

    monkeypatch.setattr(featurize, "load_crop_model", lambda c: (object(), "crop-type version 2 (2), run bbb"))
    monkeypatch.setattr(fm, "model_folder_digest", lambda folder: "same-digest")
    monkeypatch.setattr("models.registry.model_folder", lambda name, v, run: Path(f"/nowhere/{v}"))
    base = SimpleNamespace(crop_version="crop-type version 1 (champion), run aaa")
    with pytest.raises(UserInputError) as e:
        candidate_models("models impact", "crop-type", "2", "champion", base, weather=None)
    assert str(e.value) == ("models impact: '2' and 'champion' are the same crop-type model (crop-type version 2 (2), "
                            "run bbb, and crop-type version 1 (champion), run aaa: the same files): nothing to compare")
