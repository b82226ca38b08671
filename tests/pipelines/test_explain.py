"""``explain`` from stored records: steps, reasons, evidence, and pred_contrib only for the application's fields."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.governance import Governance, Requirement
from models.money import format_minor
from models.prices import read_prices
from models.yield_value import YieldModel, YieldModelConfig, value_fields
from pipelines.cli import app
from pipelines.explain import explain, explain_text, features_path
from underwriting.decisions import decide_batch
from underwriting.policy import default_policy
from underwriting.records import sha256_hex
from underwriting.store import DecisionStore

SEASON, AS_OF, REGION = "2025", date(2025, 8, 1), "us-nebraska"
CROPS = ("maize", "soybean")


def synthetic_features(rng: np.random.Generator, n: int, season: str, as_of: date, *, n_farmers: int | None = None,
                       region: str = REGION) -> tuple[pd.DataFrame, np.ndarray]:
    """FieldFeatures of ``n`` fields (contract dtypes) and a yield (t/ha) that depends on NDVI."""
    crop = np.array(CROPS)[rng.integers(0, len(CROPS), n)]
    ndvi_max = rng.uniform(0.45, 0.9, n)
    area = np.round(rng.uniform(20, 80, n), 2)
    farmers = n_farmers or max(1, n // 2)
    yld = np.where(crop == "maize", 4.0, 1.5) + np.where(crop == "maize", 9.0, 3.0) * (ndvi_max - 0.45) \
        + rng.normal(0, 0.4, n)
    y = int(season)
    df = pd.DataFrame({
        "field_id": [f"F{season}-{i:05d}" for i in range(n)], "season": season,
        "as_of": pd.Timestamp(as_of), "farmer_token": [f"tok-{i % farmers:05d}" for i in range(n)],
        "region": region, "declared_crop": crop, "declared_area_ha": area, "field_area_ha": area + 1.0,
        "planted_area_ha": area, "planted_area_sd_ha": 0.5, "planted_fraction": area / (area + 1.0),
        "noncrop_fraction": 0.01, "overlap_fraction": 0.0, "geometry_valid": True,
        "geometry_hash": [f"h{i}" for i in range(n)], "crop_type": crop, "crop_type_prob": 0.95,
        "declared_crop_prob": 0.95, "growth_stage": "vegetative", "emergence_date": pd.Timestamp(f"{y}-05-20"),
        "days_since_emergence": float((as_of - date(y, 5, 20)).days), "peak_date": pd.Timestamp(f"{y}-07-25"),
        "expected_harvest_date": pd.Timestamp(f"{y}-10-10"), "n_clear_obs": 9, "n_clear_pixels": 4000,
        "ndvi_max": ndvi_max, "ndvi_auc": ndvi_max * 60 + rng.normal(0, 2, n),
    })
    for c in ("as_of", "emergence_date", "peak_date", "expected_harvest_date"):
        df[c] = df[c].astype("datetime64[ns]")
    return df, np.clip(yld, 0.2, None)


def train_model(seed: int = 3, seasons: tuple[str, ...] = ("2021", "2022", "2023", "2024"),
                n_per_season: int = 120) -> YieldModel:
    rng = np.random.default_rng(seed)
    parts, ys = [], []
    for s in seasons:
        f, y = synthetic_features(rng, n_per_season, s, date(int(s), 8, 1))
        parts.append(f)
        ys.append(y)
    X = pd.concat(parts, ignore_index=True)
    cfg = YieldModelConfig(n_estimators=30, num_leaves=7, min_child_samples=10, calibration_seasons=2)
    return YieldModel(cfg).fit(X, np.concatenate(ys))


def applications(feats: pd.DataFrame, requests: dict[str, int] | None = None) -> pd.DataFrame:
    tokens = sorted(feats["farmer_token"].unique())
    rows = []
    for i, t in enumerate(tokens):
        rows.append({"application_id": f"A{i:04d}", "farmer_token": t, "season": SEASON, "currency": "USD",
                     "requested_amount": (requests or {}).get(t, 15_000_000), "requested_term_days": 150,
                     "existing_debt": 0, "debt_due_this_cycle": 0, "other_income": 0, "living_costs": 2_000_000,
                     "unfinanced_costs": 0, "prior_liens_on_crop": 0})
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c not in ("application_id", "farmer_token", "season", "currency"):
            df[c] = df[c].astype("int64")
    return df


def empty_book() -> pd.DataFrame:
    cols = ["line_id", "application_id", "farmer_token", "currency", "limit", "drawn", "outstanding", "start_date",
            "maturity_date", "crop", "region"]
    df = pd.DataFrame({c: pd.Series([], dtype="str") for c in cols})
    for c in ("limit", "drawn", "outstanding"):
        df[c] = df[c].astype("int64")
    for c in ("start_date", "maturity_date"):
        df[c] = df[c].astype("datetime64[ns]")
    return df


def write_features(store_url: str, feats: pd.DataFrame) -> str:
    """The underwrite contract: FieldFeatures as <artifacts>/features/<sha256 of the bytes>.parquet."""
    import io

    buf = io.BytesIO()
    feats.to_parquet(buf, index=False)
    data = buf.getvalue()
    sha = sha256_hex(data)
    path = features_path(store_url, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha


def underwrite_synthetic(store_url: str, model: YieldModel, feats: pd.DataFrame, apps: pd.DataFrame, *,
                         version: str = "1") -> list[Any]:
    prices = read_prices()
    q = model.predict_quantiles(feats)
    vals = value_fields(feats, q, prices, model_name="yield-value", model_version=version)
    sha = write_features(store_url, feats)
    items = decide_batch(apps, feats, vals, prices.to_frame(), empty_book(), default_policy(), "us-operating",
                         AS_OF, provenance={"features_sha256": sha, "run": "test"})
    with DecisionStore(store_url) as st:
        st.append(items, operator="tester")
    return items


@pytest.fixture(scope="module")
def model() -> YieldModel:
    return train_model()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model: YieldModel) -> dict[str, Any]:
    """A store with decisions for 6 farmers; farmer 0 has an overlapping field (REFER), farmer 1 a huge request."""
    tmp = tmp_path_factory.mktemp("explain")
    url = f"sqlite:///{tmp / 'decisions.db'}"
    feats, _ = synthetic_features(np.random.default_rng(11), 12, SEASON, AS_OF, n_farmers=6)
    feats.loc[feats["field_id"] == "F2025-00000", "overlap_fraction"] = 0.3
    apps = applications(feats, {"tok-00001": 900_000_000})
    items = underwrite_synthetic(url, model, feats, apps)
    return {"url": url, "items": {i.application_id: i for i in items}, "feats": feats, "tmp": tmp}


def loader_for(model: YieldModel, calls: list[tuple[str, str, int]]) -> Any:
    class Spy:
        def explain(self, rows: pd.DataFrame) -> pd.DataFrame:
            calls.append(("yield-value", "1", len(rows)))
            return model.explain(rows)

    def load(name: str, version: str) -> Any:
        assert (name, version) == ("yield-value", "1")
        return Spy()

    return load


def test_explain_reduce_steps_reasons_and_contributions(world: dict[str, Any], model: YieldModel) -> None:
    calls: list[tuple[str, str, int]] = []
    item = world["items"]["A0001"]
    assert item.outcome == "REDUCE"
    x = explain(world["url"], "A0001", model_loader=loader_for(model, calls))
    assert (x.outcome, x.limit, x.currency) == ("REDUCE", item.limit, "USD")
    assert calls == [("yield-value", "1", 2)]  # only this application's two fields
    comp = item.body["computation"]
    got = {s.label: s.amount for s in x.steps}
    assert got["collateral limit"] == comp["collateral_limit"]
    assert got["cash-flow limit"] == comp["cash_flow_limit"]
    assert got["limit"] == item.limit
    assert x.binding_constraint == comp["binding_constraint"]
    assert sum(r["reduction"] for r in x.reasons) == 900_000_000 - item.limit
    # contributions add up to the model's P50 of the field's feature row
    rows = world["feats"][world["feats"]["farmer_token"] == "tok-00001"]
    p50 = model.predict_quantiles(rows)["yield_p50_t_ha"].to_numpy()
    for f, want in zip(sorted(x.fields, key=lambda f: f.field_id), p50, strict=True):
        assert f.raw_p50 == pytest.approx(float(want), abs=1e-9)
        assert f.contributions[0]["feature"] in model.feature_names_
    text = x.render()
    assert format_minor(item.limit, "USD") in text
    assert f"binding constraint: {comp['binding_constraint']}" in text
    for r in item.body["reasons"]:
        assert r["code"] in text
    assert "ndvi_max" in text and "tok-00001" in text
    # the crop-type model the record names (a model-risk audit: explain showed the yield model only)
    import dataclasses

    assert x.crop_model == item.body.get("provenance", {}).get("crop_model_version")  # this world's bodies: none
    named = dataclasses.replace(x, crop_model="crop-type version 3 (champion)").render().splitlines()[2]
    assert named.endswith("; crop type from crop-type version 3 (champion)") and "; crop type" not in text


def test_explain_refer_names_overlap_and_excluded_field(world: dict[str, Any], model: YieldModel) -> None:
    text = explain_text(world["url"], "A0000", model_loader=loader_for(model, []))
    assert world["items"]["A0000"].outcome == "REFER"
    assert "REFER" in text and "EXCLUDED: PARCEL_OVERLAP_CLAIM" in text
    assert "referred to an analyst because of: PARCEL_OVERLAP_CLAIM" in text


def test_missing_features_file_still_explains(world: dict[str, Any], tmp_path: Path, model: YieldModel) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    feats, _ = synthetic_features(np.random.default_rng(5), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats))
    for p in (tmp_path / "other.artifacts" / "features").glob("*.parquet"):
        p.write_bytes(p.read_bytes() + b"x")  # tampered: hash no longer matches
    x = explain(url, items[0].application_id, model_loader=loader_for(model, []))
    assert x.contributions_note is not None and "does not match its recorded SHA-256" in x.contributions_note
    assert all(not f.contributions for f in x.fields)
    assert x.limit == items[0].limit


def test_unknown_application_is_a_user_error(world: dict[str, Any]) -> None:
    from features.errors import UserInputError

    # an argument matching no stored id is not echoed, whatever its shape (an id's, a word's: it could be a farmer's
    # name); the shape expected, the count and how to list the ids are said
    for arg in ("A0404", "NOPE"):
        with pytest.raises(UserInputError, match=r"^explain the application given: no stored decision in sqlite.*"
                                                 r"\(give an application id as in the decision records \(shaped like "
                                                 r"A9999\), not a name, phone or ID number: the one given matches none "
                                                 r"of the \d+ application ids of the data and is not repeated here; "
                                                 r"list them with `agcredit decisions export --out FILE` \(column "
                                                 r"application_id\)\)$") as e:
            explain(world["url"], arg)
        assert arg not in str(e.value)
    with pytest.raises(UserInputError, match=r"explain A0001: no stored decision on or before 2025-01-01"):
        explain(world["url"], "A0001", as_of="2025-01-01")  # a stored id: named


def test_cli_explain_through_the_registry(world: dict[str, Any], model: YieldModel, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from models import registry

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    gov = Governance(crops=CROPS, regions=(REGION,), checkpoints=("mid", "end"), metrics={"r2": 0.9},
                     minimum_metrics=(Requirement("r2", ">=", 0.1),))
    version = registry.register(model, "yield-value", metrics={"r2": 0.9}, governance=gov, operator="tester")
    assert version == "1"
    registry.promote("yield-value", version, operator="tester")
    runner = CliRunner()
    res = runner.invoke(app, ["explain", "A0001", "--store", world["url"]])
    assert res.exit_code == 0, res.stderr
    assert "Model contributions" in res.stdout and "(yield-value v1): P50" in res.stdout
    res = runner.invoke(app, ["explain", "A0001", "--store", world["url"], "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["limit"] == world["items"]["A0001"].limit and len(doc["fields"]) == 2
    assert doc["fields"][0]["contributions"]


def test_cli_explain_unknown_is_one_line_exit_2(world: dict[str, Any]) -> None:
    res = CliRunner().invoke(app, ["explain", "A0404", "--store", world["url"]])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "explain the application given: no stored decision" in res.stderr
    assert "A0404" not in res.stdout + res.stderr


def test_explain_override_and_history(tmp_path: Path, model: YieldModel) -> None:
    from underwriting.override import override

    url = f"sqlite:///{tmp_path / 'ov.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid = items[0].application_id
    new = format_minor(items[0].limit + 50_000, "USD").split(" ")[1]
    override(url, aid, new, "checked on site", "ana")
    x = explain(url, aid, model_loader=loader_for(model, []))
    assert x.kind == "override" and x.override is not None and len(x.history) == 2
    text = x.render()
    assert "Override of" in text and "checked on site" in text and "History of this application" in text


def test_explain_names_the_application_holding_the_fields(tmp_path: Path, model: YieldModel) -> None:
    """A farmer's second application of the season is referred (FIELDS_ALREADY_PLEDGED): explain names the holder."""
    url = f"sqlite:///{tmp_path / 'pl.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    apps = applications(feats)
    apps = pd.concat([apps, apps.assign(application_id="A0000-bis")], ignore_index=True)
    underwrite_synthetic(url, model, feats, apps)
    x = explain(url, "A0000-bis", model_loader=loader_for(model, []))
    assert x.outcome == "REFER" and x.pledged_to == ["A0000"] and "FIELDS_ALREADY_PLEDGED" in x.refer_reasons
    assert "already pledged to application(s) A0000: an analyst decides which application stands" in x.render()
    assert explain(url, "A0000", model_loader=loader_for(model, [])).pledged_to == []


def test_explain_a_record_written_by_underwrite(tmp_path: Path, model: YieldModel) -> None:
    """The contract with pipelines/underwrite.py: features artifact + features_sha256 in the provenance."""
    from pipelines.underwrite import ChampionModels, underwrite

    gov = Governance(crops=CROPS, regions=(REGION,), checkpoints=("pre_season", "emergence", "mid", "end"),
                     metrics={"r2": 0.9}, minimum_metrics=(Requirement("r2", ">=", 0.1),))
    models = ChampionModels(yield_model=model, yield_version="1", yield_run_id="run-1", governance=gov)
    feats, _ = synthetic_features(np.random.default_rng(21), 4, SEASON, AS_OF, n_farmers=2)
    url = f"sqlite:///{tmp_path / 'uw.db'}"
    # the fields the features were built from (underwrite refuses features of other fields): a square each
    import geopandas as gpd
    import shapely
    from shapely.geometry import box

    from features.fields import geometry_hashes

    fields = gpd.GeoDataFrame(feats[["field_id", "season", "farmer_token"]],
                              geometry=[shapely.normalize(box(k * 1000, 0, k * 1000 + 500, 500)) for k in range(len(feats))],
                              crs="EPSG:32614")
    feats = feats.assign(geometry_hash=geometry_hashes(fields).to_numpy())
    res = underwrite(applications(feats, {"tok-00000": 900_000_000}), fields, SEASON, AS_OF, imagery=None,
                     policy=default_policy(), profile="us-operating", book=empty_book(), store=url,
                     features=feats, models=models, operator="tester")
    assert res.written == 2
    calls: list[tuple[str, str, int]] = []
    x = explain(url, "A0000", model_loader=loader_for(model, calls))
    assert x.contributions_note is None and calls == [("yield-value", "1", 2)]
    assert all(f.contributions for f in x.fields)


def test_the_term_says_which_rule_set_it() -> None:
    """The term line said "expected harvest + marketing window" whatever set the term (A2009-00071: 150 days, the
    requested term, printed as harvest 2009-12-30 + 45 days, which is 151)."""
    from pipelines.explain import _term_basis

    def body(term: int, requested: int, harvest: str | None = "2009-12-30") -> dict:
        return {"as_of": "2009-09-15", "application": {"requested_term_days": requested},
                "computation": {"term_days": term, "expected_harvest_date": harvest},
                "policy": {"parameters": {"marketing_window_days": 45, "max_term_days": 365}}}

    assert _term_basis(body(150, 150)) == ("the requested 150 days: after the expected harvest 2009-12-30, within "
                                           "its 45-day marketing window")
    assert _term_basis(body(151, 300)) == "expected harvest 2009-12-30 + marketing window 45 days"
    assert _term_basis(body(106, 90)) == "the requested 90 days lengthened to the expected harvest 2009-12-30"
    assert _term_basis(body(365, 400, "2010-12-30")) == ("capped at the longest term, 365 days; expected harvest "
                                                         "2010-12-30")
    assert _term_basis(body(90, 90, None)) == "no expected harvest date: the requested 90 days, at most 365"
    # a re-underwriting record (the line's maturity kept; no rule of a new decision set its term): said plainly
    assert _term_basis(body(45, 206)) == "expected harvest 2009-12-30, marketing window 45 days, at most 365 days"


def test_a_history_valued_preseason_field_is_explained() -> None:
    """explain showed a pre-season field's model P50 and contributions only, though the value used came from the
    farmer's reported history (mean over seasons × the haircut): it says so now, and only for such a field."""
    from pipelines.explain import FieldExplanation, _field_lines

    ev = {"included": False, "exclusion_code": "OUT_OF_MODEL_SCOPE", "codes": ["OUT_OF_MODEL_SCOPE"],
          "basis": "preseason", "declared_crop": "cotton", "yield_p50_t_ha": 1.225, "yield_p10_t_ha": 0.9,
          "model_yield_p50_t_ha": 2.33, "preseason_yield_source": "history", "history_yield_t_ha": 1.75,
          "history_seasons": 2}
    text = "\n".join(_field_lines(FieldExplanation("F0209", ev), "INR"))
    assert "pre-season rule: the farmer's reported yield 1.75 t/ha (mean of 2 earlier season(s)" in text
    plain = "\n".join(_field_lines(FieldExplanation("F0209", {k: v for k, v in ev.items()
                                                               if not k.startswith(("preseason", "history"))}), "INR"))
    assert "pre-season rule" not in plain


def _reunderwritten(tmp_path: Path, model: YieldModel, block: dict[str, Any]) -> tuple[str, str, Any]:
    """A store with one synthetic decision and a re-underwriting record superseding it whose ``reunderwrite`` block
    is ``block`` plus the line L7 and the decision's outcome and limit as the previous ones: (url, application id,
    the decision item)."""
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 're.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid = items[0].application_id
    with DecisionStore(url) as st:
        rec = st.latest(aid)
        assert rec is not None
        body = {**rec.body, "reunderwrite": {"line_id": "L7", "previous_outcome": rec.outcome,
                                             "previous_limit": rec.limit, **block}}
        st.append([DecisionItem(idempotency_key="re-1", application_id=aid, farmer_token=rec.farmer_token,
                                season=rec.season, as_of=rec.as_of, outcome=rec.outcome, limit=rec.limit,
                                currency=rec.currency, reason_codes=tuple(rec.reason_codes), body=body,
                                kind="reunderwrite", supersedes=rec.record_id)], operator="tester")
    return url, aid, items[0]


def test_explain_shows_a_reunderwritings_proposed_actions(tmp_path: Path, model: YieldModel) -> None:
    """A re-underwriting's proposed actions (FREEZE_UNDRAWN, REVIEW…) were only in the run's output and the body:
    explain says them now, with the line, its balances and the change."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000,
                                                    "line_maturity_date": "2025-12-01",
                                                    "proposed_actions": ["FREEZE_UNDRAWN", "REVIEW"],
                                                    "alerts": ["F1:WATCH"]})
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "Re-underwriting of line L7:" in text and "outstanding USD 123.45, drawn USD 120.00" in text
    assert "proposed actions: FREEZE_UNDRAWN, REVIEW; alerts: F1:WATCH" in text
    assert "balances as of" not in text  # an undated Book's record: as before


def test_explain_dates_the_balance_of_a_dated_book(tmp_path: Path, model: YieldModel) -> None:
    """A record of a run on a dated Book (``balance_as_of``) names the balance's date beside it: the balance a
    re-underwriting compared its limit with may be weeks older than the run."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000,
                                                    "balance_as_of": "2025-07-31", "line_maturity_date": "2025-12-01",
                                                    "proposed_actions": ["FREEZE_UNDRAWN"], "alerts": []})
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "outstanding USD 123.45, drawn USD 120.00 (balances as of 2025-07-31), line maturity 2025-12-01" in text


def test_explain_says_a_line_was_not_reestimated(tmp_path: Path, model: YieldModel) -> None:
    """A re-underwriting whose models could not value the fields (before the yield model's validated checkpoints)
    proposes nothing: explain said "none (the new limit covers the balance)" of its indicative limit 0."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000, "proposed_actions": [],
                                                    "not_reestimated": ["OUT_OF_MODEL_SCOPE"], "alerts": []})
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "proposed actions: none (not re-estimated: the models could not value the fields as of " in text
    assert "(OUT_OF_MODEL_SCOPE); the line is kept as it stands)" in text and "covers the balance" not in text
    assert "(indicative, no estimate)" in text
    # policy 2026.12.5 (kept_lines_stand): the block's previous decision is the one the line stands on, named
    url, aid, _ = _reunderwritten(tmp_path / "b", model, {"outstanding": 12_345, "drawn": 12_000,
                                                          "proposed_actions": [], "standing_record_id": "Dstood",
                                                          "not_reestimated": ["OUT_OF_MODEL_SCOPE"], "alerts": []})
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "(OUT_OF_MODEL_SCOPE); the line is kept as it stands, on " in text
    assert "compared with the decision the line stood on (record Dstood)" in text


def test_explain_says_a_line_after_a_refer_was_compared_with_its_book_limit(tmp_path: Path, model: YieldModel) -> None:
    """A Book line of 41,000 re-underwritten after its application's REFER printed "REFER INR 0.00 -> REFER INR 0.00".
    Under policy 2026.12.8 (refer_keeps_book_limit) the block says it was measured from the Book limit, and explain
    names the REFER that granted nothing."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000, "proposed_actions": [],
                                                    "alerts": [], "previous_outcome": "REFER",
                                                    "previous_limit": 4_100_000, "book_limit": 4_100_000,
                                                    "compared_with": "book", "skipped_record_id": "Rrefer"})
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "Re-underwriting of line L7: its Book limit USD 41,000.00 (record Rrefer, REFER, granted none) -> " in text
    # kept on a REFER (the standing walk reached it): the line stands on its Book limit
    url, aid, _ = _reunderwritten(tmp_path / "b", model, {
        "outstanding": 12_345, "drawn": 12_000, "proposed_actions": [], "not_reestimated": ["OUT_OF_MODEL_SCOPE"],
        "alerts": [], "previous_outcome": "REFER", "previous_limit": 4_100_000, "standing_record_id": "Rrefer",
        "compared_with": "book", "skipped_record_id": "Rrefer"})
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert ("the line is kept as it stands, on its Book limit USD 41,000.00 (record Rrefer, REFER, granted none)"
            in text)
    assert "compared with the decision the line stood on (its Book limit: record Rrefer, a REFER, granted none)" in text


def _appended(url: str, aid: str, body_of: Any, kind: str, key: str, outcome: str, limit: int) -> None:
    """Append to ``url`` a record of ``aid`` superseding its latest, whose body is ``body_of(latest body)``."""
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    with DecisionStore(url) as st:
        rec = st.latest(aid)
        assert rec is not None
        st.append([DecisionItem(idempotency_key=key, application_id=aid, farmer_token=rec.farmer_token,
                                season=rec.season, as_of=rec.as_of, outcome=outcome, limit=limit,
                                currency=rec.currency, reason_codes=tuple(rec.reason_codes), body=body_of(rec.body),
                                kind=kind, supersedes=rec.record_id)], operator="tester")


def test_a_refer_renewal_that_reestimated_nothing_does_not_cover_the_balance(tmp_path: Path,
                                                                             model: YieldModel) -> None:
    """A REFER renewing a Book line whose fields the models could not value (indicative limit 0, outstanding 27,000)
    proposes nothing because the line is kept on its Book limit: explain said "none (the new limit covers the
    balance)"."""
    url, aid, _ = _reunderwritten(tmp_path, model, {})  # (its decision, superseded below by a renewing REFER)

    def refer(b: dict[str, Any]) -> dict[str, Any]:
        b = {k: v for k, v in b.items() if k != "reunderwrite"}
        params = {**b["policy"]["parameters"], "keep_unvalued_lines": True}
        fields = [{**f, "included": False, "codes": ["INSUFFICIENT_CLEAR_IMAGERY"]} for f in b["fields"]]
        return {**b, "outcome": "REFER", "refer_reasons": ["FAILING_AREA_SHARE"], "fields": fields,
                "policy": {**b["policy"], "parameters": params},
                "renewal": {"line_id": "L9", "book_limit": 4_100_000, "drawn": 2_600_000, "outstanding": 2_700_000,
                            "line_maturity_date": "2026-03-17", "proposed_actions": [], "alerts": []}}

    _appended(url, aid, refer, "decision", "renew-1", "REFER", 0)
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "Renewal of line L9 (Book limit USD 41,000.00): outstanding USD 27,000.00" in text
    assert "covers the balance" not in text
    assert ("proposed actions: none (REFER: the line is kept on its Book limit USD 41,000.00, not re-estimated: the "
            "models could not value the fields as of ") in text and "(INSUFFICIENT_CLEAR_IMAGERY))" in text


def test_explain_says_a_line_on_a_decline_stands_on_its_book_limit(tmp_path: Path, model: YieldModel) -> None:
    """A Book line whose latest re-underwriting decided a DECLINE (policy refer_keeps_book_limit): the portfolio
    counts it on its Book limit until an analyst acts; explain said only "-> DECLINE USD 0.00"."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000, "alerts": [],
                                                    "proposed_actions": ["FREEZE_UNDRAWN", "REVIEW"],
                                                    "book_limit": 4_100_000, "line_id": "L2009-00001"})

    def decline(b: dict[str, Any]) -> dict[str, Any]:
        params = {**b["policy"]["parameters"], "refer_keeps_book_limit": True}
        return {**b, "outcome": "DECLINE", "policy": {**b["policy"], "parameters": params}}

    _appended(url, aid, decline, "reunderwrite", "re-2", "DECLINE", 0)
    x = explain(url, aid, model_loader=loader_for(model, []))
    assert ("the Book line L2009-00001 stands on its Book limit USD 41,000.00 until an analyst acts: its DECLINE "
            f"(record {x.record_id}) granted nothing; the portfolio counts it there") in x.render()
    assert x.line_stands_on is not None and x.line_stands_on["on_record_id"] is None


def test_explain_says_a_renewal_decline_stands_on_its_book_limit(tmp_path: Path, model: YieldModel) -> None:
    """A first decision renewing a Book line (its `renewal` block) that DECLINED under refer_keeps_book_limit: the
    decisions export and the portfolio report count the line on its Book limit (underwriting.standing.line_standing
    reads the renewal block since this release); explain read only a re-underwriting's block and said nothing (the
    second review's finding)."""
    url, aid, _ = _reunderwritten(tmp_path, model, {})

    def decline(b: dict[str, Any]) -> dict[str, Any]:
        b = {k: v for k, v in b.items() if k != "reunderwrite"}
        params = {**b["policy"]["parameters"], "refer_keeps_book_limit": True}
        return {**b, "outcome": "DECLINE", "policy": {**b["policy"], "parameters": params},
                "renewal": {"line_id": "L9", "book_limit": 4_100_000, "drawn": 2_600_000, "outstanding": 2_700_000,
                            "line_maturity_date": "2026-03-17", "proposed_actions": ["FREEZE_UNDRAWN"],
                            "alerts": []}}

    _appended(url, aid, decline, "decision", "renew-d", "DECLINE", 0)
    x = explain(url, aid, model_loader=loader_for(model, []))
    assert x.line_stands_on is not None and x.line_stands_on["line_id"] == "L9"
    assert x.line_stands_on["on_record_id"] is None and x.line_stands_on["skipped_record_id"] == x.record_id
    assert "the Book line L9 stands on its Book limit USD 41,000.00 until an analyst acts" in x.render()


def test_an_override_after_a_reunderwriting_is_not_credited_to_it(tmp_path: Path, model: YieldModel) -> None:
    """An override copies the re-underwriting's body: explain printed "Re-underwriting of line L7: … -> <the
    override's limit>" with the re-underwriting's proposed actions, as if it had given that limit."""
    from underwriting.override import override

    url, aid, item = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000,
                                                       "proposed_actions": ["FREEZE_UNDRAWN"], "alerts": []})
    override(url, aid, format_minor(item.limit + 50_000, "USD").split(" ")[1], "checked on site", "ana")
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "Re-underwriting of line L7 before the override" in text and "Re-underwriting of line L7:" not in text
    assert "proposed actions: FREEZE_UNDRAWN" not in text


def test_explain_says_an_override_of_a_line_on_a_refer_was_measured_from_its_book_limit(tmp_path: Path,
                                                                                        model: YieldModel) -> None:
    """An override of a kept Book line standing on its application's REFER read "the line stood on REFER USD 0.00,
    record Rrefer, the change measured from it". Under policy 2026.12.8 (refer_keeps_book_limit) the override is
    measured from the Book limit (``standing_compared_with: "book"``) and explain says so; a block without it (policy
    2026.12.7) reads as before."""
    from underwriting.records import DecisionItem

    url, aid, _ = _reunderwritten(tmp_path, model, {
        "outstanding": 12_345, "drawn": 12_000, "proposed_actions": [], "not_reestimated": ["OUT_OF_MODEL_SCOPE"],
        "alerts": [], "previous_outcome": "REFER", "previous_limit": 4_100_000, "book_limit": 4_100_000,
        "standing_record_id": "Rrefer", "compared_with": "book", "skipped_record_id": "Rrefer"})

    def overridden(key: str, block: dict[str, Any]) -> str:
        with DecisionStore(url) as st:
            kept = st.latest(aid)
            assert kept is not None
            ov = {"original_record_id": kept.record_id, "original_limit": 0, "original_outcome": "REFER",
                  "limit": 4_100_000, "outcome": "APPROVE", "change_share": "0.0000", "reason": "field visit",
                  "operator": "ana", "approver": None, "as_of": kept.as_of, "standing_record_id": "Rrefer",
                  "standing_outcome": "REFER", **block}
            st.append([DecisionItem(idempotency_key=key, application_id=aid, farmer_token=kept.farmer_token,
                                    season=kept.season, as_of=kept.as_of, outcome="APPROVE", limit=4_100_000,
                                    currency=kept.currency, reason_codes=tuple(kept.reason_codes),
                                    body={**kept.body, "override": ov}, kind="override",
                                    supersedes=kept.record_id)], operator="ana")
        return explain(url, aid, model_loader=loader_for(model, [])).render()

    text = overridden("ov-1", {"standing_limit": 4_100_000, "standing_compared_with": "book"})
    assert ("(a re-underwriting that re-estimated nothing; the line stood on its Book limit USD 41,000.00 (record "
            "Rrefer, a REFER, granted none), the change measured from it): REFER USD 0.00 -> APPROVE USD 41,000.00"
            in text), text
    assert "the line stood on REFER" not in text
    # a block of policy 2026.12.7 (no standing_compared_with): as that release read it
    text = overridden("ov-2", {"standing_limit": 0})
    assert "the line stood on REFER USD 0.00, record Rrefer, the change measured from it)" in text


def test_a_derived_date_feature_shows_the_days_the_model_read() -> None:
    """The yield model reads phenology dates as days of the season year (day_<date>, span_…): not columns of the
    features, so explain showed them "= None" — as if the date were missing — next to their contribution, even at
    mid-season where the field had them (us-nebraska demo: day_expected_harvest_date, day_emergence_date)."""
    from pipelines.explain import _feature_value

    rows = pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2018", "2018"],
                         "emergence_date": pd.to_datetime(["2018-05-09", None]),
                         "peak_date": pd.to_datetime(["2018-07-20", None]),
                         "maturity_date": pd.to_datetime(["2018-09-18", None]),
                         "expected_harvest_date": pd.to_datetime(["2018-10-17", "2018-10-07"])}).set_index("field_id")
    assert _feature_value(rows, "F1", "day_expected_harvest_date") == 289.0
    assert _feature_value(rows, "F1", "day_emergence_date") == 128.0
    assert _feature_value(rows, "F1", "span_emergence_maturity") == 132.0
    assert _feature_value(rows, "F2", "day_emergence_date") is None
    assert _feature_value(rows, "F2", "day_expected_harvest_date") == 279.0
    assert _feature_value(rows, "F1", "no_such_feature") is None


def test_a_field_whose_imagery_disputes_its_declared_crop_says_why_it_is_uncertain() -> None:
    """Policy 2026.12.4's disputed_crop_uncertain excludes a declared maize field the imagery reads as cotton at 0.83
    with CROP_TYPE_UNCERTAIN — whose text, "could not confirm the crop with enough confidence", read wrong beside
    p=0.83 above the policy's 0.80 (the review of this release). `explain` says the imagery and the declaration
    disagree; a field merely below 0.80 gets no such line."""
    from pipelines.explain import FieldExplanation, _field_lines

    ev = {"included": False, "exclusion_code": "CROP_TYPE_UNCERTAIN", "codes": ["CROP_TYPE_UNCERTAIN"],
          "declared_crop": "maize", "crop_type": "cotton", "crop_type_prob": 0.83, "declared_crop_prob": 0.84}
    text = "\n".join(_field_lines(FieldExplanation("F0073", ev), "INR"))
    assert ("CROP_TYPE_UNCERTAIN: the imagery reads cotton, the farmer declared maize, and given both the declared "
            "crop's probability is 0.84: neither crop is established") in text
    low = dict(ev, crop_type="maize", crop_type_prob=0.6)
    assert "the imagery reads" not in "\n".join(_field_lines(FieldExplanation("F1", low), "INR"))


def test_a_field_without_a_declared_crop_or_area_says_so() -> None:
    """A field the farmer declared no crop for was explained as "declared None 31.50 ha" (A2018-00028's F0095 in the
    Nebraska demo), one without a declared area as "declared maize n/a ha": each says what was not declared."""
    from pipelines.explain import FieldExplanation, _field_lines

    def declared(**ev: Any) -> str:
        return _field_lines(FieldExplanation("F0095", {"included": True, **ev}), "USD")[1].split("; validated")[0]

    assert declared(declared_crop="maize", declared_area_ha=31.5) == "    declared maize 31.50 ha"
    assert declared(declared_crop=None, declared_area_ha=31.5) == "    no declared crop; declared 31.50 ha"
    assert declared(declared_crop="maize", declared_area_ha=None) == "    declared maize (no declared area)"
    assert declared(declared_crop=None, declared_area_ha=None) == "    no declared crop or area"


def test_a_field_no_model_valued_says_so() -> None:
    """A field no model valued (the Nebraska demo's undeclared F0095, which the imagery calls no crop) printed
    "(None; model None vNone: P50 n/a, P10 n/a)"; a valued one names its crop and model as before."""
    from pipelines.explain import FieldExplanation, _field_lines

    def yields(**ev: Any) -> str:
        return _field_lines(FieldExplanation("F0095", {"included": False, "exclusion_code": "NOT_PLANTED", **ev}),
                            "USD")[4]

    assert yields(yield_p50_t_ha=0.0, yield_p10_t_ha=0.0) == \
        "    yield P50 0.00 t/ha, P10 0.00 t/ha (not valued by a model: no crop to value it at)"
    assert yields(yield_p50_t_ha=9.0, yield_p10_t_ha=7.0, crop_valued="maize", model_name="yield-value",
                  model_version="1", model_yield_p50_t_ha=9.0, model_yield_p10_t_ha=7.0) == \
        "    yield P50 9.00 t/ha, P10 7.00 t/ha (maize; model yield-value v1: P50 9.00, P10 7.00)"
    # a body of schema /2 (since 2026-12-06, ninth) records the model's P90 too
    assert yields(yield_p50_t_ha=9.0, yield_p10_t_ha=7.0, crop_valued="maize", model_name="yield-value",
                  model_version="1", model_yield_p50_t_ha=9.0, model_yield_p10_t_ha=7.0, model_yield_p90_t_ha=11.5) == \
        "    yield P50 9.00 t/ha, P10 7.00 t/ha (maize; model yield-value v1: P50 9.00, P10 7.00, P90 11.50)"


def test_explain_as_of_lists_no_later_record(tmp_path: Path, model: YieldModel) -> None:
    """``explain --as-of D`` explained the record of D but its History listed the chain's later records too (an
    override dated after D among them); the history ends at the record explained, as the report's --as-of does."""
    from underwriting.override import override

    url = f"sqlite:///{tmp_path / 'ov.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid = items[0].application_id
    new = format_minor(items[0].limit + 50_000, "USD").split(" ")[1]
    ov = override(url, aid, new, "checked on site", "ana", as_of=date(2025, 8, 20))
    x = explain(url, aid, as_of="2025-08-10", model_loader=loader_for(model, []))
    assert x.kind == "decision"
    assert [h["kind"] for h in x.to_dict()["history"]] == ["decision"]
    assert ov.record_id not in x.render() and ov.record_id not in x.to_json()
    assert [h["record_id"] for h in explain(url, aid, model_loader=loader_for(model, [])).history][-1] == ov.record_id


def test_explain_shows_an_override_as_the_last_step(tmp_path: Path, model: YieldModel) -> None:
    """An override's body copies the computation and reasons it overrode: the steps ended at the computed limit and
    the reasons added up to it, the analyst's change unexplained, and the body's as_of (the overridden record's)
    differed from the override's date unsaid. The override is the last step, and a line of the waterfall."""
    from underwriting.override import override

    url = f"sqlite:///{tmp_path / 'ov.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid, computed = items[0].application_id, items[0].limit
    assert computed > 100_000
    ov = override(url, aid, format_minor(computed - 50_000, "USD").split(" ")[1], "lodged on site", "ana",
                  as_of=date(2025, 8, 20))
    x = explain(url, aid, model_loader=loader_for(model, []))
    assert (x.as_of, x.computed_as_of) == ("2025-08-20", AS_OF.isoformat())
    last = x.steps[-1]
    assert (last.label, last.amount) == ("analyst's override", computed - 50_000) and "lodged on site" in last.detail
    text = x.render()
    assert (f"an analyst's override dated 2025-08-20 of record {ov.body['override']['original_record_id']}, as of "
            f"{AS_OF.isoformat()}: the evidence, computation and reasons below are that record's") in text
    assert (f"{'(analyst override)':<30} -{format_minor(50_000, 'USD'):>20}  lodged on site (ana, dated "
            "2025-08-20") in text
    assert f"then the analyst's override -{format_minor(50_000, 'USD')}: {format_minor(x.limit, 'USD')})" in text
    # a decision explained: no override step
    assert all(s.label != "analyst's override" for s in explain(url, aid, as_of=AS_OF.isoformat(),
                                                                  model_loader=loader_for(model, [])).steps)


def test_a_kept_line_with_some_fields_valued_names_those_it_could_not(tmp_path: Path, model: YieldModel) -> None:
    """A re-underwriting kept as not re-estimated whose models valued 2 of its 3 fields (the third out of the yield
    model's scope) read "the models could not value the fields", beside the valued fields' expected value."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 860_000, "drawn": 830_000, "proposed_actions": [],
                                                    "not_reestimated": ["OUT_OF_MODEL_SCOPE"], "alerts": []})

    def partly(b: dict[str, Any]) -> dict[str, Any]:
        f0, f1 = b["fields"][:2]
        fields = [{**f0, "included": True},
                  {**f1, "included": False, "exclusion_code": "OUT_OF_MODEL_SCOPE", "codes": ["OUT_OF_MODEL_SCOPE"],
                   "area_used_ha": 33.0}]
        return {**b, "outcome": "REFER", "refer_reasons": ["FAILING_AREA_SHARE"], "fields": fields}

    _appended(url, aid, partly, "reunderwrite", "re-partly", "REFER", 0)
    x = explain(url, aid, model_loader=loader_for(model, []))
    text = x.render()
    out = x.fields[1].field_id
    assert (f"proposed actions: none (not re-estimated: the models could not value {out} (OUT_OF_MODEL_SCOPE, 33.00 "
            f"ha) as of {x.as_of}; they valued the other 1 field(s) only") in text
    assert "could not value the fields" not in text


def test_explain_says_a_matured_book_line_no_longer_stands(tmp_path: Path, model: YieldModel) -> None:
    """A Book line on its Book limit past a REFER or DECLINE, matured before the day explained: explain said it
    "stands on its Book limit … the portfolio counts it there" two lines above its maturity, while the portfolio
    report leaves it out of the exposure (pipelines.report.matured_off_book)."""
    url, aid, _ = _reunderwritten(tmp_path, model, {"outstanding": 12_345, "drawn": 12_000, "alerts": [],
                                                    "proposed_actions": ["FREEZE_UNDRAWN", "REVIEW"],
                                                    "book_limit": 4_100_000, "line_id": "L2009-00001",
                                                    "line_maturity_date": "2025-08-05"})

    def decline(b: dict[str, Any]) -> dict[str, Any]:
        params = {**b["policy"]["parameters"], "refer_keeps_book_limit": True}
        return {**b, "outcome": "DECLINE", "policy": {**b["policy"], "parameters": params}}

    _appended(url, aid, decline, "reunderwrite", "re-2", "DECLINE", 0)
    x = explain(url, aid, as_of="2025-08-10", model_loader=loader_for(model, []))
    assert x.line_stands_on is not None and x.line_stands_on["line_matured"] == "2025-08-05"
    text = x.render()
    assert ("the Book line L2009-00001 matured on 2025-08-05, before 2025-08-10: its Book limit USD 41,000.00 no longer "
            "stands") in text and "the portfolio does not count it in the exposure" in text
    assert "the portfolio counts it there" not in text
    # on the day it matures, and without --as-of (the season's latest record, 2025-08-01), it still stands
    for day in ("2025-08-05", None):
        x = explain(url, aid, as_of=day, model_loader=loader_for(model, []))
        assert x.line_stands_on is not None and x.line_stands_on["line_matured"] is None
        assert "stands on its Book limit USD 41,000.00 until an analyst acts" in x.render()
