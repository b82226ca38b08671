"""pipelines.underwrite and `agcredit underwrite` / `features build` on the tiny synthetic county."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.errors import UserInputError
from features.fields import read_fields
from models.governance import Governance
from models.yield_value import YieldModel, YieldModelConfig
from pipelines.cli import app
from pipelines.county import County
from pipelines.featurize import featurize
from pipelines.underwrite import (
    ChampionModels,
    align_features,
    artifacts_dir,
    checkpoint_label,
    decisions_table,
    summarise,
    underwrite,
)
from underwriting.policy import default_policy
from underwriting.store import DecisionStore

# features/area_scenes.py (engineer A) still applies an Affine to a point with `*`, which affine 2.4+
# deprecates; reported — remove this filter once that file uses `@`.

KEY = "test-token-key-0123456789"


@pytest.fixture(scope="module")
def world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Mid-season features of the tiny county and a small yield model fitted on them (targets made up)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        county = County(tiny_county_sh, cache_dir=tmp_path_factory.mktemp("cache"))
        season = county.current_season
        as_of = county.checkpoints(season)["mid"]
        fr = featurize(county.fields(season), county.imagery, season, as_of, cache_dir=county.cache_dir)
        apps, book = county.applications(), county.book()
    X = fr.features
    rng = np.random.default_rng(0)
    y = 2.0 + 3.0 * X["feat_NDVI_max"].fillna(0.3).to_numpy() + rng.normal(0, 0.2, len(X))
    model = YieldModel(YieldModelConfig(n_estimators=20, num_leaves=4, min_child_samples=2, calibrate=False)).fit(X, y)
    crops = tuple(sorted({str(c) for c in X["declared_crop"].dropna()}))
    gov = Governance(crops=crops, regions=(county.region,), checkpoints=("mid", "end"), data="synthetic")
    models = ChampionModels(yield_model=model, yield_version="7", yield_run_id="run-x", governance=gov)
    return {"county": county, "season": season, "as_of": as_of, "features": X, "apps": apps, "book": book,
            "models": models, "gov": gov}


def _run(world: dict[str, Any], url: str, **kw: Any) -> Any:
    c: County = world["county"]
    return underwrite(world["apps"], c.fields(world["season"]), world["season"], world["as_of"], imagery=c.imagery,
                      policy=default_policy(), profile=c.profile, book=world["book"], store=url,
                      models=world["models"], cache_dir=c.cache_dir, **kw)


def test_underwrite_stores_once_with_features_artifact(world: dict[str, Any], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    res = _run(world, url, features=world["features"])
    apps = world["apps"]
    assert len(res.items) == len(apps[apps["season"] == world["season"]]) > 0
    assert res.written == len(res.items) and res.already_present == 0
    assert sum(res.summary["outcomes"].values()) == len(res.items)
    assert res.models["yield-value"] == "7" and res.checkpoint == "mid"
    body = res.items[0].body
    sha = body["provenance"]["features_sha256"]
    path = tmp_path / "d.artifacts" / "features" / f"{sha}.parquet"
    assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert body["provenance"]["run"] == f"underwrite {world['season']} {world['as_of']}"
    assert {"7"} == {m["version"] for m in body["models"]}
    again = _run(world, url, features=world["features"])
    assert again.written == 0 and again.already_present == len(res.items)
    with DecisionStore(url) as st:
        assert st.count() == len(res.items) and st.verify().ok
    # an application id typed in another case (" a2009-00001 " in a re-saved file) was a new application: a corrected
    # re-run then stored a second chain — two current decisions for one application. Refused, nothing written
    first = str(res.items[0].application_id)
    apps = world["apps"].copy()
    apps.loc[apps["application_id"].astype(str) == first, "application_id"] = first.lower()
    assert first.lower() != first
    with pytest.raises(UserInputError, match=rf"differing only in case .*: {first.lower()} \(stored as {first}\)"):
        underwrite(apps, world["county"].fields(world["season"]), world["season"], world["as_of"],
                   imagery=world["county"].imagery, policy=default_policy(), profile=world["county"].profile,
                   book=world["book"], store=url, models=world["models"], cache_dir=world["county"].cache_dir,
                   features=world["features"])
    with DecisionStore(url) as st:
        assert st.count() == len(res.items) and first.lower() not in st.application_ids()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_underwrite_killed_before_storing_leaves_no_store(world: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             request: pytest.FixtureRequest, backend: str) -> None:
    """A PostgreSQL `underwrite` killed after connecting (during its work: features, scoring) left the store's two
    empty tables, committed when it opened the store; a new SQLite store was already made only with its records.
    Now neither backend has a store until the first records are committed; the re-run creates it, guards included."""
    import pipelines.underwrite as uw
    from tests.underwriting.test_store import agc_tables
    from underwriting.store import verify_store

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'new.db'}"
    else:
        import sqlalchemy as sa

        server: str = request.getfixturevalue("pg_server")
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE uw_killed")
        engine.dispose()
        url = server.rsplit("/", 1)[0] + "/uw_killed"

    def killed(*_a: object, **_k: object) -> None:  # Ctrl-C, SIGTERM, a failure in the hours of work
        raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(uw, "score_and_decide", killed)
        with pytest.raises(KeyboardInterrupt):
            _run(world, url, features=world["features"])
    assert agc_tables(url) == ([] if backend == "postgres" else None)
    if backend == "sqlite":  # stopped after the features artifact was written, before the records were stored: the
        # artifacts folder beside a store that was never created was left (an input audit's Ctrl-C at 14 s)
        from pipelines.underwrite import artifacts_dir

        with monkeypatch.context() as mp:
            mp.setattr(DecisionStore, "append", killed)
            with pytest.raises(KeyboardInterrupt):
                _run(world, url, features=world["features"])
        assert agc_tables(url) is None and not artifacts_dir(url).exists()
    res = _run(world, url, features=world["features"])
    assert res.written == len(res.items) > 0 and agc_tables(url) == ["agc_decisions", "agc_meta"]
    ok = verify_store(url)
    assert (ok.ok, ok.count, ok.upgrade_pending) == (True, res.written, ())


def test_featurized_run_equals_given_features(world: dict[str, Any], tmp_path: Path) -> None:
    """Building the features inside the run gives the same decisions as passing the table built earlier."""
    a = _run(world, f"sqlite:///{tmp_path / 'a.db'}", features=world["features"])
    b = _run(world, f"sqlite:///{tmp_path / 'b.db'}")
    assert [i.outcome for i in a.items] == [i.outcome for i in b.items]
    assert [i.limit for i in a.items] == [i.limit for i in b.items]
    assert [i.body["fields"] for i in a.items] == [i.body["fields"] for i in b.items]
    assert "imagery_source" in b.items[0].body["provenance"]
    again = _run(world, f"sqlite:///{tmp_path / 'b.db'}")  # every scene now from the cache: same records
    assert again.written == 0 and again.already_present == len(b.items)


def test_underwrite_never_forks_an_application_chain(world: dict[str, Any], tmp_path: Path) -> None:
    """An application the store has decided already (as of another date, or from other inputs) is not decided again
    by `underwrite`: a second first record would fork its chain and, written last, be shown as current. Alone it is
    a one-line error and nothing is written; beside new applications it is skipped, named in a warning, and left
    out of the run's summary; the others are stored. A re-run of the same decisions still adds nothing."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    apps = world["apps"][world["apps"]["season"] == world["season"]]
    first, rest = apps.iloc[:1], apps.iloc[1:]
    c: County = world["county"]
    earlier = world["as_of"] - pd.Timedelta(days=20)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        one = underwrite(first, c.fields(world["season"]), world["season"], earlier, imagery=c.imagery,
                         policy=default_policy(), profile=c.profile, book=world["book"], store=url,
                         models=world["models"], cache_dir=c.cache_dir)
    assert one.written == 1
    app_id = str(first["application_id"].iloc[0])
    with pytest.raises(UserInputError, match=rf"underwrite: nothing to write: the 1 application\(s\) are already "
                                             rf"decided in .* {app_id} \(current record as of {earlier}\); an "
                                             "application's chain goes forward only"):
        underwrite(first, c.fields(world["season"]), world["season"], world["as_of"], imagery=c.imagery,
                   policy=default_policy(), profile=c.profile, book=world["book"], store=url,
                   models=world["models"], cache_dir=c.cache_dir, features=world["features"])
    res = underwrite(apps, c.fields(world["season"]), world["season"], world["as_of"], imagery=c.imagery,
                     policy=default_policy(), profile=c.profile, book=world["book"], store=url,
                     models=world["models"], cache_dir=c.cache_dir, features=world["features"])
    assert res.written == len(rest) == len(res.items) and res.summary["n"] == len(rest)
    assert app_id not in {i.application_id for i in res.items}
    assert any(w.startswith("1 application(s) not underwritten again: already decided in ") and app_id in w
               for w in res.warnings)
    with DecisionStore(url) as st:
        assert st.count() == len(apps) and st.verify().ok
        assert [r.as_of for r in st.history(app_id)] == [str(earlier)]
    again = underwrite(apps, c.fields(world["season"]), world["season"], world["as_of"], imagery=c.imagery,
                       policy=default_policy(), profile=c.profile, book=world["book"], store=url,
                       models=world["models"], cache_dir=c.cache_dir, features=world["features"])
    assert again.written == 0 and again.already_present == len(rest)


def test_summarise_and_table(world: dict[str, Any], tmp_path: Path) -> None:
    res = _run(world, f"sqlite:///{tmp_path / 's.db'}", features=world["features"])
    s = summarise(res.items)
    granted = sum(i.limit for i in res.items if i.outcome in ("APPROVE", "REDUCE"))
    assert s["total_limit"].get("INR", 0) == granted
    assert s["n"] == len(res.items)
    codes = [c for i in res.items for c in i.reason_codes]
    if codes:
        top, n = s["top_reasons"][0]
        assert n == max(codes.count(c) for c in set(codes)) and codes.count(top) == n
    # the referred applications' refer reasons, each application once per reason (the summary printed "REFER n"
    # without a cause: the waterfall's reason codes never name them)
    want: dict[str, int] = {}
    for i in res.items:
        if i.outcome == "REFER":
            for c in set(i.body["refer_reasons"]):
                want[c] = want.get(c, 0) + 1
    assert dict(s["refer_reasons"]) == want and want  # the test county refers some (overlap claims, failing area)
    assert [n for _, n in s["refer_reasons"]] == sorted((n for _, n in s["refer_reasons"]), reverse=True)
    t = decisions_table(res.items)
    assert list(t["application_id"]) == [i.application_id for i in res.items]
    assert not {"national_id", "farmer_name", "phone"} & set(t.columns)


def test_align_features_warns() -> None:
    class M:
        numeric_columns_ = ["feat_a", "feat_b"]
        config = YieldModelConfig()

    df = pd.DataFrame({"field_id": ["x"], "feat_a": [1.0], "feat_c": [2.0], "prob_rice": [0.5]})
    w: list[str] = []
    out = align_features(df, M(), w)
    assert list(out.columns) == ["field_id", "feat_a", "feat_b"] and np.isnan(out["feat_b"].iloc[0])
    # prob_rice (the crop model's own output, which this yield model does not read) is dropped without a warning
    assert any(x.endswith("unknown to the yield model dropped: feat_c") for x in w), w
    assert any("expects are missing (empty): feat_b" in x for x in w)


def test_align_features_warns_of_missing_phenology_dates() -> None:
    class M:
        numeric_columns_ = ["feat_a"]
        date_columns_ = ["day_peak_date", "span_peak_maturity"]
        config = YieldModelConfig()

    df = pd.DataFrame({"field_id": ["x"], "feat_a": [1.0], "peak_date": [pd.Timestamp("2009-08-01")]})
    w: list[str] = []
    out = align_features(df, M(), w)
    assert out["maturity_date"].isna().all() and out["peak_date"].notna().all()
    assert any("expects are missing (empty): maturity_date" in x for x in w)
    # an empty date, not a float column the model never saw (no imagery before the season: "unseen columns
    # maturity_date" — the model's column check counts numeric columns); added at once, no fragmentation warning
    assert pd.api.types.is_datetime64_any_dtype(out["maturity_date"])
    many = type("Many", (), {"numeric_columns_": [f"feat_{i}" for i in range(150)], "date_columns_": [],
                             "config": YieldModelConfig()})
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")
        assert len(align_features(df, many(), []).columns) > 150


def test_checkpoint_label() -> None:
    r = "in-smallholder"
    assert checkpoint_label("2009", r, date(2009, 6, 1)) == "pre_season"
    assert checkpoint_label("2009", r, date(2009, 8, 1)) == "emergence"
    assert checkpoint_label("2009", r, date(2009, 9, 15)) == "mid"
    assert checkpoint_label("2009", r, date(2010, 2, 28)) == "end"


def test_artifacts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert artifacts_dir(f"sqlite:///{tmp_path}/x/store.db") == tmp_path / "x" / "store.artifacts"
    monkeypatch.setenv("AGCREDIT_ARTIFACTS_DIR", str(tmp_path / "art"))
    assert artifacts_dir("postgresql://u@localhost/db") == tmp_path / "art"
    monkeypatch.delenv("AGCREDIT_ARTIFACTS_DIR")
    assert artifacts_dir("postgresql://u@localhost/db") == Path("./agcredit-artifacts")


def test_no_application_of_season(world: dict[str, Any], tmp_path: Path) -> None:
    apps = world["apps"].assign(season="1999")
    c: County = world["county"]
    with pytest.raises(UserInputError, match="no application of season 2009"):
        underwrite(apps, c.fields(world["season"]), world["season"], world["as_of"], imagery=c.imagery,
                   policy=default_policy(), profile=c.profile, book=world["book"],
                   store=f"sqlite:///{tmp_path / 'n.db'}", models=world["models"], features=world["features"])
    assert not (tmp_path / "n.artifacts").exists()


def test_the_imagery_path_does_not_make_a_new_record(world: dict[str, Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The same scenes read through another path (a copied county, a renamed folder, a relative path) give the
    same decision bodies, so a re-run stores nothing new; an application of another season is reported, not decided."""
    c: County = world["county"]
    url = f"sqlite:///{tmp_path / 'p.db'}"
    first = _run(world, url)
    assert re.fullmatch(r"scenes \(\d+ files, sha256:[0-9a-f]{16}\)",
                        first.items[0].body["provenance"]["imagery_source"])
    copy = tmp_path / "copied-county" / "renamed-scenes"  # another path and another folder name
    copy.parent.mkdir()
    shutil.copytree(c.imagery, copy)
    monkeypatch.chdir(copy.parent)
    extra = pd.concat([world["apps"], world["apps"].head(1).assign(season="1999", application_id="A1999-1")])
    again = underwrite(extra, c.fields(world["season"]), world["season"], world["as_of"],
                       imagery=Path(copy.name), policy=default_policy(), profile=c.profile, book=world["book"],
                       store=url, models=world["models"], cache_dir=c.cache_dir)
    assert [i.body_json for i in again.items] == [i.body_json for i in first.items]
    assert again.written == 0 and again.already_present == len(first.items)
    assert any("1 application(s) of other seasons than" in w for w in again.warnings)


def test_cli_underwrite_checks_the_output_path_first(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    c: County = world["county"]
    store = tmp_path / "o.db"
    folder = tmp_path / "decisions.csv"  # a folder with a file's name
    folder.mkdir()
    plain = tmp_path / "a-file"
    plain.write_text("x")
    base = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
            str(c.path / "records" / "fields.gpkg"), "--season", world["season"], "--as-of", str(world["as_of"]),
            "--features", str(tmp_path / "missing.parquet"), "--profile", "in-kcc", "--store", f"sqlite:///{store}",
            "--no-progress", "--crop-model", "none"]
    for out, message in ((folder, "is a folder"), (plain / "d.csv", "cannot write")):  # before any input is read
        r = CliRunner().invoke(app, [*base, "--out", str(out)], env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not store.exists() and sorted(p.name for p in folder.iterdir()) == []


# --- the CLI, through a registry in a temporary folder ------------------------------------------------------

@pytest.fixture
def registry(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> str:
    """A temporary MLflow store holding the world's yield model as yield-value@champion (built once)."""
    root = tmp_path_factory.getbasetemp() / "s-registry"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    if not (root / "mlflow.db").exists():
        from models.registry import promote, register

        v = register(world["models"].yield_model, "yield-value", metrics={"r2": 0.5}, governance=world["gov"],
                     operator="tester")
        promote("yield-value", v, operator="tester")
    return uri


def test_cli_build_then_underwrite(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    c: County = world["county"]
    runner = CliRunner()
    feats = tmp_path / "features.parquet"
    args = ["features", "build", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
            "--season", world["season"], "--as-of", str(world["as_of"]), "--out", str(feats), "--crop-model", "none",
            "--cache", str(c.cache_dir), "--no-progress"]
    r = runner.invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    assert f"wrote {feats}" in r.stdout and "crop type left empty" in r.stderr
    buf = io.BytesIO()
    world["features"].to_parquet(buf, index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(feats), pd.read_parquet(buf))
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    out = tmp_path / "decisions.csv"
    uw = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
          str(c.path / "records" / "fields.gpkg"), "--season", world["season"], "--as-of", str(world["as_of"]),
          "--features", str(feats), "--book", str(c.path / "records" / "book.csv"), "--profile", "in-kcc",
          "--store", store, "--out", str(out), "--no-progress", "--crop-model", "none"]
    r = runner.invoke(app, uw, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    n = len(pd.read_csv(out))
    assert n > 0 and f"stored {n} new records (0 already present)" in r.stdout
    assert "yield-value 1" in r.stdout
    # the features file's lineage is the decision's: the run named its own champion crop model (which scored
    # nothing) and no imagery; a file without lineage says so
    from pipelines.featurize import read_lineage

    lineage = read_lineage(feats)
    assert lineage is not None and lineage["crop_model_version"] == "none" and lineage["acquisition_dates"]
    assert lineage["held_farmers"] == []  # recorded by every build: a lineage without it is of an earlier release
    with DecisionStore(store) as st:
        prov = st.records(world["season"]).iloc[0]["body"]
    prov = (json.loads(prov) if isinstance(prov, str) else prov)["provenance"]
    assert prov["crop_model_version"] == "none" and prov["imagery_source"] == lineage["imagery_source"]
    assert prov["acquisition_dates"] == lineage["acquisition_dates"]
    r = runner.invoke(app, uw, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and f"stored 0 new records ({n} already present)" in r.stdout
    assert "no row in the features given" not in r.stderr and "rejected when reading" not in r.stderr
    # other inputs for the same applications into the same store: they are decided already, so nothing is written
    # (a second first record would fork their chains) — the variants below each go to a store of their own
    short = tmp_path / "short.parquet"
    pd.read_parquet(feats).iloc[1:].to_parquet(short, index=False)
    assert read_lineage(short) is None  # written by another tool: its decisions say "not recorded"
    i = uw.index("--features") + 1
    r = runner.invoke(app, [*uw[:i], str(short), *uw[i + 1:]], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"underwrite: nothing to write: the {n} application(s) are already decided in " in r.stderr
    assert "an application's chain goes forward only" in r.stderr and "Traceback" not in r.stderr
    with DecisionStore(store) as st:
        assert st.count() == n and st.verify().ok
    fresh = iter(range(100))
    uw = [*uw[:uw.index("--store") + 1], "STORE", *uw[uw.index("--store") + 2:]]

    def invoke(args: list[str]) -> Any:
        at = args.index("STORE")
        args = [*args[:at], f"sqlite:///{tmp_path / f'v{next(fresh)}.db'}", *args[at + 1:]]
        return runner.invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})

    # features built from another fields file (one field short): the run says which fields go unvalued;
    # a field of the fields file rejected when reading (unrepairable geometry): the run says so too
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    gone = str(pd.read_parquet(feats)["field_id"].iloc[0])
    pd.read_parquet(feats).query("field_id != @gone").to_parquet(short, index=False)
    r = invoke([*uw[:uw.index("--features") + 1], str(short), *uw[uw.index("--features") + 2:]])
    assert r.exit_code == 0, r.stderr
    assert f"1 field(s) of the fields file have no row in the features given and are not valued: {gone} " in r.stderr
    row = (gdf["field_id"].astype(str) == gone) & (gdf["season"].astype(str) == world["season"])

    def with_fields(g: gpd.GeoDataFrame, name: str) -> Any:
        g.to_file(tmp_path / name, driver="GPKG")
        res = invoke([*uw[:uw.index("--fields") + 1], str(tmp_path / name), *uw[uw.index("--fields") + 2:]])
        assert res.exit_code == 0, res.stderr
        return res

    def refused(g: gpd.GeoDataFrame, name: str) -> str:
        g.to_file(tmp_path / name, driver="GPKG")
        res = invoke([*uw[:uw.index("--fields") + 1], str(tmp_path / name), *uw[uw.index("--fields") + 2:]])
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert f"features file {feats} was built from other fields: " in res.stderr
        assert "rebuild it with `agcredit features build` from this fields file" in res.stderr
        return str(res.stderr)

    # a field of the fields file rejected when reading (a point: not a field) is not lent against as the features
    # built before say: refused, naming it and why
    bad = gdf.copy()
    bad.loc[row, "geometry"] = bad.geometry[row].centroid
    assert f": {gone} rejected when reading the fields (not a polygon (Point))" in refused(bad, "broken.gpkg")
    # a self-crossing polygon repaired: another polygon than the features were built from
    from shapely.geometry import Polygon

    twisted = gdf.copy()
    x0, y0, x1, y1 = twisted.geometry[row].iloc[0].bounds
    twisted.loc[row, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow-tie
    assert f": {gone} geometry differs;" in refused(twisted, "bowtie.gpkg")
    # no declared_area_ha column: said (README: "repaired and reported"), the polygons are those of the features
    r = with_fields(gdf.drop(columns="declared_area_ha"), "undeclared.gpkg")
    assert "undeclared.gpkg has no declared_area_ha column: taken as not declared for every field" in r.stderr



def _uw_args(world: dict[str, Any], tmp_path: Path, store: str = "s.db", **given: Path) -> list[str]:
    """`agcredit underwrite` of the tiny county from its features file, each input replaceable (``given``)."""
    c: County = world["county"]
    files = {"applications": c.path / "records" / "applications.csv", "fields": c.path / "records" / "fields.gpkg",
             "book": c.path / "records" / "book.csv", **given}
    return ["underwrite", *(a for k, v in files.items() for a in (f"--{k}", str(v))), "--season", world["season"],
            "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--store", f"sqlite:///{tmp_path / store}",
            "--no-progress", "--crop-model", "none"]


def test_cli_out_never_replaces_an_input(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """`--out` naming the command's own input (the same path, another spelling of it, a link to it) replaced that
    input with the output: refused before anything is read or written, one line, exit 2."""
    c: County = world["county"]
    runner = CliRunner()
    apps, feats, fields = tmp_path / "apps.csv", tmp_path / "feat.parquet", tmp_path / "fields.parquet"
    shutil.copy(c.path / "records" / "applications.csv", apps)
    world["features"].to_parquet(feats, index=False)
    gpd.read_file(c.path / "records" / "fields.gpkg").to_parquet(fields)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(apps)
    before = {p: p.read_bytes() for p in (apps, feats, fields)}
    uw = _uw_args(world, tmp_path, applications=apps, features=feats)

    def refused(args: list[str], opt: str) -> None:
        r = runner.invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"is the {opt} file" in r.stderr and "writing it would replace that input" in r.stderr, r.stderr
        assert {p: p.read_bytes() for p in before} == before and not (tmp_path / "s.db").exists()

    for out in (apps, tmp_path / "sub" / ".." / "apps.csv", tmp_path / "link.csv"):
        refused([*uw, "--out", str(out)], "--applications")
    refused([*uw, "--out", str(feats)], "--features")
    refused([*uw, "--out", str(tmp_path / "s.db")], "--store")
    build = ["features", "build", "--fields", str(fields), "--imagery", str(c.imagery), "--season", world["season"],
             "--as-of", str(world["as_of"]), "--crop-model", "none", "--no-progress"]
    refused([*build, "--out", str(fields)], "--fields")
    series = ["features", "series", "--fields", str(fields), "--imagery", str(c.imagery), "--season",
              world["season"], "--no-progress"]
    refused([*series, "--out", str(fields)], "--fields")
    refused(["decisions", "export", "--store", f"sqlite:///{apps}", "--out", str(apps)], "--store")
    r = runner.invoke(app, [*uw, "--out", str(tmp_path / "decisions.csv")], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and len(pd.read_csv(tmp_path / "decisions.csv")) == 4, r.stderr


def test_cli_features_of_other_fields_are_refused(world: dict[str, Any], registry: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`underwrite --features F` matched fields to applications by F's farmers: a field given to another farmer in
    the fields file, or with another polygon, was lent against as F said. Refused, naming the fields; only the
    fields of the run's applications matter (and only theirs are warned of)."""
    from shapely.affinity import scale

    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    c: County = world["county"]
    season = world["season"]
    runner = CliRunner()
    feats = tmp_path / "feat.parquet"
    world["features"].to_parquet(feats, index=False)
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    now = gdf["season"].astype(str) == season
    ident = ["national_id", "farmer_name", "phone"]
    f1, f3, f4 = (now & (gdf["field_id"] == f) for f in ("F0001", "F0003", "F0004"))
    assert (gdf.loc[f1, ident].to_numpy() != gdf.loc[f4, ident].to_numpy()).any()  # two applicants
    gdf.loc[f1, ident] = gdf.loc[f4, ident].to_numpy()  # F0001 given to F0004's farmer
    gdf.loc[f3, "geometry"] = gdf.geometry[f3].map(lambda g: scale(g, 0.9, 0.9))  # F0003 redrawn, smaller
    moved = tmp_path / "moved.gpkg"
    gdf.to_file(moved, driver="GPKG")
    r = runner.invoke(app, _uw_args(world, tmp_path, fields=moved, features=feats), env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (f"error: features file {feats} was built from other fields: F0001 farmer differs, F0003 geometry differs; "
            "rebuild it with `agcredit features build` from this fields file") in r.stderr
    assert not (tmp_path / "s.db").exists()
    # the python API (no file name): the same refusal
    with pytest.raises(UserInputError, match="the features given were built from other fields: F0001 farmer"):
        underwrite(world["apps"], read_fields(moved, season=season).fields, season, world["as_of"], imagery=None,
                   policy=default_policy(), profile=c.profile, book=world["book"],
                   store=f"sqlite:///{tmp_path / 'p.db'}", models=world["models"], features=world["features"])
    # one application whose fields are as the features say: the county's other fields do not matter, and those
    # unvalued or without a features row are not warned of
    apps = pd.read_csv(c.path / "records" / "applications.csv", dtype=str)
    mine = apps[apps["national_id"] == gdf.loc[now & (gdf["field_id"] == "F0012"), "national_id"].iloc[0]]
    one = tmp_path / "one.csv"
    mine.to_csv(one, index=False)
    X = world["features"]
    assert X.loc[X["field_id"] == "F0009", "declared_crop"].isna().all()  # the county's field without a crop
    X[X["field_id"] != "F0002"].to_parquet(feats, index=False)
    r = runner.invoke(app, _uw_args(world, tmp_path, "one.db", applications=one, fields=moved, features=feats),
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and "1 applications as of" in r.stdout, r.stderr
    assert "no row in the features given" not in r.stderr and "without a declared or predicted crop" not in r.stderr
    # all four applications: F0002 and F0009 are theirs (F0001 and F0003 back as they were)
    r = runner.invoke(app, _uw_args(world, tmp_path, "all.db", features=feats), env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    assert "1 field(s) of the fields file have no row in the features given and are not valued: F0002" in r.stderr
    assert "1 field(s) without a declared or predicted crop are not valued: F0009" in r.stderr


def test_cli_pins_the_smoother_haze(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """`--hazy-dates` pins the phenology smoother's scene haze: the records say which dates were taken as haze
    (``smoother_hazy_dates``; ``smoother_haze_pinned`` when pinned), features build and value print them; a bad
    date, a date off the smoother's grid, or a pin beside --features: exit 2, one line, nothing written."""
    from datetime import timedelta

    from features.series import season_window

    c: County = world["county"]
    runner = CliRunner()
    uw = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
          str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", world["season"],
          "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--no-progress", "--crop-model", "none",
          "--cache", str(c.cache_dir)]

    def bodies(url: str) -> list[dict[str, Any]]:
        st = DecisionStore(url)
        return [rec.body for rec in (st.get(i) for i in st.records()["record_id"]) if rec is not None]

    judged = f"sqlite:///{tmp_path / 'judged.db'}"
    r = runner.invoke(app, [*uw, "--store", judged], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    assert "smoother haze dates:" in r.stdout and "(judged on these fields)" in r.stdout
    got = bodies(judged)
    assert got and all("smoother_hazy_dates" in b["provenance"] and "smoother_haze_pinned" not in b["provenance"]
                       for b in got)
    # a grid date (5-day grid from the region's season start) holding an acquisition before the as-of date
    t0 = season_window(world["season"], c.region)[0]
    acq = [date.fromisoformat(d) for d in got[0]["provenance"]["acquisition_dates"]]
    a = acq[len(acq) // 2]
    g = t0 + timedelta(days=5 * ((a - t0).days // 5))
    pinned = f"sqlite:///{tmp_path / 'pinned.db'}"
    r = runner.invoke(app, [*uw, "--store", pinned, "--hazy-dates", g.isoformat()], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    assert f"smoother haze dates: {g.isoformat()} (pinned)" in r.stdout
    got = bodies(pinned)
    assert got and all(b["provenance"]["smoother_hazy_dates"] == [g.isoformat()]
                       and b["provenance"]["smoother_haze_pinned"] is True for b in got)
    fb = ["features", "build", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
          "--season", world["season"], "--as-of", str(world["as_of"]), "--crop-model", "none",
          "--cache", str(c.cache_dir), "--no-progress"]
    feats = {}
    for name, extra in (("judged", []), ("pinned", ["--hazy-dates", g.isoformat()])):
        out = tmp_path / f"{name}.parquet"
        r = runner.invoke(app, [*fb, "--out", str(out), *extra], env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 0, r.stderr
        feats[name] = pd.read_parquet(out)
    assert f"smoother haze dates: {g.isoformat()} (pinned)" in r.stdout
    assert not feats["pinned"].equals(feats["judged"])  # the date's observations no longer shape the curves
    val = ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
           "--season", world["season"], "--as-of", str(world["as_of"]), "--out", str(tmp_path / "pf"),
           "--crop-model", "none", "--chunk-fields", "7", "--cache", str(c.cache_dir)]
    r = runner.invoke(app, [*val, "--hazy-dates", g.isoformat()], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and f"smoother haze dates: {g.isoformat()} (pinned)" in r.stdout, r.stdout
    parts = sorted((tmp_path / "pf" / "features").glob("part-*.parquet"))
    fv = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    cols = [k for k in feats["pinned"].columns if k in fv.columns and k not in ("as_of",)]
    pd.testing.assert_frame_equal(fv.sort_values("field_id")[cols].reset_index(drop=True),
                                  feats["pinned"].sort_values("field_id")[cols].reset_index(drop=True),
                                  check_dtype=False)
    r = runner.invoke(app, [*val, "--hazy-dates", "none"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and ", 0 reused," in r.stdout, r.stdout  # another pin: every block recomputed
    # ... beside the first run's parts: said, and run.json lists this run's (never add the two up)
    import json

    listed = json.loads((tmp_path / "pf" / "run.json").read_text())["valuations"]
    assert len(listed) == len(parts) and not set(listed) & {p.name for p in parts}
    assert f"also holds {len(parts)} part(s) of other runs" in r.stderr and "listed in" in r.stderr, r.stderr
    for extra, msg in ((["--hazy-dates", "2009-13-01"], "--hazy-dates: expected a date YYYY-MM-DD"),
                       (["--hazy-dates", (g + timedelta(days=1)).isoformat()], "is not a date of the smoother's grid"),
                       (["--hazy-dates", g.isoformat(), "--features", str(tmp_path / "pinned.parquet")],
                        "with --features, pin it in `agcredit features build --hazy-dates`")):
        bad = tmp_path / "bad.db"
        r = runner.invoke(app, [*uw, "--store", f"sqlite:///{bad}", *extra], env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not bad.exists() or DecisionStore(f"sqlite:///{bad}").count() == 0


def test_audit_replay(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """`agcredit audit replay` recomputes stored decisions with the model versions the records name and compares:
    the same inputs give byte-identical bodies; a pin that changes only the run's provenance gives `reproduced`
    (the keys named); another policy gives `differs` (exit 1); nothing is written; no stored decision is exit 2."""
    from pipelines.underwrite import artifacts_dir

    c: County = world["county"]
    runner = CliRunner()
    store = f"sqlite:///{tmp_path / 'replay.db'}"
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", world["season"],
              "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--cache", str(c.cache_dir), "--store", store]
    r = runner.invoke(app, ["underwrite", *common, "--crop-model", "none", "--no-progress"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    st = DecisionStore(store)
    n = st.count()
    hazy = json.loads(st.get(st.records()["record_id"].iloc[0]).body_json)["provenance"]["smoother_hazy_dates"]
    files = sorted(artifacts_dir(store).rglob("*"))
    r = runner.invoke(app, ["audit", "replay", *common], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"{n} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.stdout
    assert "TOKEN_KEY" not in r.stderr, r.stderr
    # replayed under another token key: the farmers get other tokens, so other records — and the replay says why
    other = runner.invoke(app, ["audit", "replay", *common], env={"AGCREDIT_TOKEN_KEY": "another-token-key-0123456"})
    assert other.exit_code == 1 and f"0 identical, 0 reproduced, {n} differs" in other.stdout, other.stdout
    assert "differs: application, input_hashes" in other.stdout, other.stdout
    assert ("warning: AGCREDIT_TOKEN_KEY is not the key the store's farmer tokens were made with" in other.stderr
            and "another-token-key" not in other.stderr and KEY not in other.stderr), other.stderr
    # the judged haze dates pinned: the same decisions, the run's provenance says the haze was pinned
    pin = ["--hazy-dates", ",".join(hazy) or "none"]
    r = runner.invoke(app, ["audit", "replay", *common, *pin, "--json"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == n and all(x["status"] == "reproduced" and x["differs"] == [] and
                                  x["provenance_differs"] == ["smoother_haze_pinned"] for x in rows)
    # --recorded-pins takes the same pin from the records themselves
    r = runner.invoke(app, ["audit", "replay", *common, "--recorded-pins", "--json"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and [json.loads(x) for x in r.stdout.splitlines()] == rows, r.stdout + r.stderr
    feats = tmp_path / "replay-features.parquet"
    r = runner.invoke(app, ["features", "build", *common[2:common.index("--profile")], "--out", str(feats),
                            "--crop-model", "none", "--no-progress"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    no_img = [x for i, x in enumerate(common) if x != "--imagery" and (i == 0 or common[i - 1] != "--imagery")]
    r = runner.invoke(app, ["audit", "replay", *no_img, "--features", str(feats), "--recorded-pins"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "--recorded-pins pins the features built in the replay" in r.stderr, r.stderr
    # a features file without lineage (another tool's, an earlier release's): its decisions replay identically (the
    # replay took their "not recorded" crop model for a folder model and asked for --crop-model PATH)
    plain = tmp_path / "plain.parquet"
    pd.read_parquet(feats).to_parquet(plain, index=False)
    store2 = f"sqlite:///{tmp_path / 'plain.db'}"
    uw2 = [*no_img[:no_img.index("--store") + 1], store2, "--features", str(plain)]
    r = runner.invoke(app, ["underwrite", *uw2, "--crop-model", "none", "--no-progress"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["audit", "replay", *uw2], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and f"{n} identical" in r.stdout, r.stdout + r.stderr
    # another policy: the policy part differs for every application, and limits may move
    pol = tmp_path / "policy.yaml"
    text = (Path(__file__).resolve().parents[2] / "underwriting" / "policies" / "default.yaml").read_text()
    pol.write_text(text.replace('version: "2026.12.10"', 'version: "2026.12.10-replay"'))
    r = runner.invoke(app, ["audit", "replay", *common, "--policy", str(pol)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 1 and f"0 identical, 0 reproduced, {n} differs" in r.stdout, r.stdout
    assert r.stdout.count("  differs: policy\n") == n
    assert st.count() == n and sorted(artifacts_dir(store).rglob("*")) == files  # nothing written
    r = runner.invoke(app, ["audit", "replay", *common[:-1], f"sqlite:///{tmp_path / 'empty.db'}"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "no database file there" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "empty.db").exists()  # a mistyped store is not created
    with DecisionStore(f"sqlite:///{tmp_path / 'empty.db'}"):
        pass
    r = runner.invoke(app, ["audit", "replay", *common[:-1], f"sqlite:///{tmp_path / 'empty.db'}"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "nothing to replay" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_records_of_body_schema_1_replay_identically(world: dict[str, Any], registry: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Decisions an earlier release stored (body schema /1: no model P90) replay `identical` with this release's code:
    the replay writes its body under the record's schema; this release's own records carry each field's model P90."""
    import dataclasses

    import underwriting.decisions as decisions_mod
    from underwriting.decisions import as_schema

    c: County = world["county"]
    runner = CliRunner()
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", world["season"],
              "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--cache", str(c.cache_dir)]
    build = decisions_mod._build

    def as_released_before(**kw: Any) -> Any:  # what the release before body schema /2 wrote
        item = build(**kw)
        return dataclasses.replace(item, body=as_schema(item.body, "agcredit.decision-body/1"))

    old, new = f"sqlite:///{tmp_path / 'v1.db'}", f"sqlite:///{tmp_path / 'v2.db'}"
    with monkeypatch.context() as m:
        m.setattr(decisions_mod, "_build", as_released_before)
        r = runner.invoke(app, ["underwrite", *common, "--store", old, "--crop-model", "none", "--no-progress"],
                          env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["underwrite", *common, "--store", new, "--crop-model", "none", "--no-progress"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    bodies = {}
    for url in (old, new):
        st = DecisionStore(url)
        bodies[url] = {rec: json.loads(st.get(rec).body_json) for rec in st.records()["record_id"]}
    assert bodies[old].keys() == bodies[new].keys() and bodies[old]  # the same record ids: the same decisions
    valued = 0
    for rec, b in bodies[new].items():
        a = bodies[old][rec]
        assert (a["schema"], b["schema"]) == ("agcredit.decision-body/1", "agcredit.decision-body/2")
        for fa, fb in zip(a["fields"], b["fields"], strict=True):
            assert "model_yield_p90_t_ha" not in fa and "model_yield_p90_t_ha" in fb
            if fb["model_yield_p90_t_ha"] is not None:
                valued += 1
                assert fb["model_yield_p90_t_ha"] >= fb["model_yield_p50_t_ha"] >= fb["model_yield_p10_t_ha"]
        assert as_schema(b, "agcredit.decision-body/1") == a
    assert valued > 0
    n = len(bodies[old])
    for url in (old, new):
        r = runner.invoke(app, ["audit", "replay", *common, "--store", url], env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 0 and f"{n} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, (
            url, r.stdout + r.stderr)


def test_audit_replay_takes_the_released_policy_the_records_name(world: dict[str, Any], registry: str,
                                                                 tmp_path: Path) -> None:
    """Decisions decided under an earlier released policy replay identically without --policy (its file comes from
    underwriting/policies/archive, the summary names it); the shipped policy given explicitly differs in `policy`;
    records of a policy that was never released replay with the shipped one and a warning naming theirs."""
    from underwriting.policy import ARCHIVE_DIR

    c: County = world["county"]
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    older = ARCHIVE_DIR / "agcredit-default-2026.12.1.yaml"
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", world["season"],
              "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--cache", str(c.cache_dir)]
    store = f"sqlite:///{tmp_path / 'older.db'}"
    r = runner.invoke(app, ["underwrite", *common, "--store", store, "--policy", str(older), "--crop-model", "none",
                            "--no-progress"], env=env)
    assert r.exit_code == 0, r.stderr
    n = DecisionStore(store).count()
    r = runner.invoke(app, ["audit", "replay", *common, "--store", store], env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"policy agcredit-default 2026.12.1 (the released version the records name): {n} identical" in r.stdout
    r = runner.invoke(app, ["audit", "replay", *common, "--store", store, "--json"], env=env)
    assert r.exit_code == 0 and {json.loads(x)["policy"] for x in r.stdout.splitlines()} == {
        "agcredit-default 2026.12.1 (the released version the records name)"}, r.stdout + r.stderr
    r = runner.invoke(app, ["audit", "replay", *common, "--store", store, "--policy",
                            str(ARCHIVE_DIR.parent / "default.yaml")], env=env)
    # the shipped policy (2026.12.7 on, exclusions_before_stress) also moves the reasons of these REFERs, whose
    # excluded fields' value went to the stress codes under 2026.12.1
    assert r.exit_code == 1 and r.stdout.count("  differs: policy") == n, r.stdout
    assert r.stdout.count("  differs: policy\n") + r.stdout.count("  differs: policy, reasons\n") == n, r.stdout
    # a later release without the run's profile: the profile is checked against the records' policy, not the shipped
    later = tmp_path / "later.yaml"
    doc = yaml.safe_load((ARCHIVE_DIR.parent / "default.yaml").read_text())
    doc["version"] = "2099.1.1"
    del doc["profiles"]["in-kcc"]
    later.write_text(yaml.safe_dump(doc))
    no_profile = [x for i, x in enumerate(common) if x != "--profile" and common[i - 1] != "--profile"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("underwriting.policy.DEFAULT_POLICY_PATH", later)
        r = runner.invoke(app, ["audit", "replay", *no_profile, "--store", store], env=env)
    assert r.exit_code == 0 and f"2026.12.1 (the released version the records name): {n} identical" in r.stdout, (
        r.stdout + r.stderr)
    # a policy never released (a bank's own edit): nothing in the archive to take, said in one warning
    local = tmp_path / "local.yaml"
    local.write_text((ARCHIVE_DIR.parent / "default.yaml").read_text().replace('version: "2026.12.10"',
                                                                                 'version: "2026.12.10-local"'))
    store2 = f"sqlite:///{tmp_path / 'local.db'}"
    r = runner.invoke(app, ["underwrite", *common, "--store", store2, "--policy", str(local), "--crop-model", "none",
                            "--no-progress"], env=env)
    assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["audit", "replay", *common, "--store", store2], env=env)
    assert r.exit_code == 1 and r.stdout.count("  differs: policy\n") == n, r.stdout
    warned = [x for x in r.stderr.splitlines() if "2026.12.10-local" in x]
    assert len(warned) == 1 and "not a released version" in warned[0] and "--policy" in warned[0], r.stderr
    r = runner.invoke(app, ["audit", "replay", *common, "--store", store2, "--policy", str(local)], env=env)
    assert r.exit_code == 0 and f"{n} identical" in r.stdout, r.stdout + r.stderr


def test_cli_pins_the_crop_season_scale(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """`--crop-season-scale` scores with that scale (features build and underwrite record it in every field), the
    crop model's description says it is pinned; out of bounds, without a crop model, or beside --features: exit 2,
    one line, nothing written."""
    from pipelines.train_crop import train_crop_type_county

    c: County = world["county"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        res = train_crop_type_county(c, register=False, params={"n_estimators": 20, "num_leaves": 7,
                                                                "min_class_count": 1, "period_days": 16})
    folder = res.classifier.save(tmp_path / "crop")
    runner = CliRunner()
    base = ["features", "build", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
            "--season", world["season"], "--as-of", str(world["as_of"]), "--crop-model", str(folder),
            "--cache", str(c.cache_dir), "--no-progress"]
    got = {}
    for name, extra in (("estimated", []), ("pinned", ["--crop-season-scale", "2.5"])):
        out = tmp_path / f"{name}.parquet"
        r = runner.invoke(app, [*base, "--out", str(out), *extra], env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 0, r.stderr
        got[name] = pd.read_parquet(out)
    assert "season scale pinned at 2.5" in r.stdout
    scored = got["pinned"]["crop_type"].notna()
    assert scored.any() and (got["pinned"].loc[scored, "crop_season_scale"] == 2.5).all()
    assert (got["estimated"].loc[scored, "crop_season_scale"] == 1.0).all()  # < 50 declared fields: as trained
    probs = [p for p in got["pinned"].columns if p.startswith("prob_")]
    assert not np.allclose(got["pinned"].loc[scored, probs].to_numpy(), got["estimated"].loc[scored, probs].to_numpy())
    store = f"sqlite:///{tmp_path / 'pin.db'}"
    uw = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
          str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", world["season"],
          "--as-of", str(world["as_of"]), "--profile", "in-kcc", "--store", store, "--no-progress",
          "--crop-model", str(folder), "--cache", str(c.cache_dir)]
    r = runner.invoke(app, [*uw, "--crop-season-scale", "2.5"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    st = DecisionStore(store)
    bodies = [rec.body for rec in (st.get(i) for i in st.records()["record_id"]) if rec is not None]
    assert bodies and all("season scale pinned at 2.5" in json.dumps(b) for b in bodies)
    fields = [f for b in bodies for f in b["fields"] if f.get("crop_type") is not None]
    assert fields and all(f["crop_season_scale"] == 2.5 for f in fields)
    # value, block by block: every block scores with the pinned scale; a different pin recomputes every block
    val = ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
           "--season", world["season"], "--as-of", str(world["as_of"]), "--out", str(tmp_path / "pf"),
           "--crop-model", str(folder), "--chunk-fields", "7", "--cache", str(c.cache_dir)]
    r = runner.invoke(app, [*val, "--crop-season-scale", "2.5"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    parts = sorted((tmp_path / "pf" / "features").glob("part-*.parquet"))
    fv = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert len(parts) >= 2 and (fv.loc[fv["crop_type"].notna(), "crop_season_scale"] == 2.5).all()
    r = runner.invoke(app, [*val, "--crop-season-scale", "0.5"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and ", 0 reused," in r.stdout, r.stdout
    r = runner.invoke(app, [*val, "--crop-season-scale", "0.1"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "(input should be greater than or equal to 0.25)" in r.stderr, r.stderr
    # out of range: refused as the command line is read (since 2026-12-07, second; it was after the models were read)
    for extra, msg in ((["--crop-season-scale", "9"], "invalid value for '--crop-season-scale' (input should be "
                                                      "less than or equal to 4)"),
                       (["--crop-season-scale", "1.5", "--crop-model", "none"], "needs a crop-type model"),
                       (["--crop-season-scale", "1.5", "--features", str(tmp_path / "pinned.parquet")],
                        "with --features, pin it in `agcredit features build")):
        bad = tmp_path / "bad.db"
        r = runner.invoke(app, [*uw[:uw.index("--store")], "--store", f"sqlite:///{bad}", "--no-progress",
                                "--crop-model", str(folder), *extra], env={"AGCREDIT_TOKEN_KEY": KEY})
        assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not bad.exists() or DecisionStore(f"sqlite:///{bad}").count() == 0


def test_cli_underwrite_bad_inputs(world: dict[str, Any], tmp_path: Path) -> None:
    c: County = world["county"]
    runner = CliRunner()
    store = tmp_path / "bad.db"
    base = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
            str(c.path / "records" / "fields.gpkg"), "--season", world["season"], "--as-of", str(world["as_of"]),
            "--profile", "in-kcc", "--store", f"sqlite:///{store}", "--no-progress"]
    r = runner.invoke(app, base, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and r.stderr.strip() == ("error: underwrite: give --imagery (to build the features) "
                                                     "or --features")
    nope = [("nope" if a == "in-kcc" else a) for a in base]
    r = runner.invoke(app, [*nope, "--imagery", str(c.imagery)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "no such profile" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "f.parquet"
    bad.write_text("not parquet")
    r = runner.invoke(app, [*base, "--features", str(bad)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "not a readable Parquet file" in r.stderr
    r = runner.invoke(app, [*base, "--imagery", str(c.imagery), "--out", str(tmp_path / "x.txt")],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "unsupported output format" in r.stderr
    assert not store.exists() or DecisionStore(f"sqlite:///{store}").count() == 0
    # a field of the season rejected when reading (a line: not a polygon) was left out with a warning and its farmer
    # decided on the rest of their land — a permanent decision a corrected re-run could not replace. Refused now,
    # naming it, nothing written; --rejects holds that farmer instead
    from shapely.geometry import LineString

    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    row = gdf.index[gdf["season"].astype(str) == world["season"]][0]
    gone = str(gdf.loc[row, "field_id"])
    x0, y0, x1, y1 = gdf.geometry.loc[row].bounds
    gdf.loc[row, "geometry"] = LineString([(x0, y0), (x1, y1)])
    broken = tmp_path / "broken.gpkg"
    gdf.to_file(broken)
    at = base.index("--fields") + 1
    r = runner.invoke(app, [*base[:at], str(broken), *base[at + 1:], "--imagery", str(c.imagery)],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (f"field(s) of season {world['season']} rejected: a farmer is not decided on part of their land" in r.stderr
            and f"{gone} (not a polygon (LineString))" in r.stderr and "--rejects PATH" in r.stderr), r.stderr
    assert not store.exists() or DecisionStore(f"sqlite:///{store}").count() == 0


def test_cli_build_bad_date_and_missing_registry(world: dict[str, Any], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    c: County = world["county"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    runner = CliRunner()
    out = tmp_path / "f.parquet"
    base = ["features", "build", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
            "--season", world["season"], "--out", str(out), "--no-progress"]
    r = runner.invoke(app, [*base, "--as-of", "15/09/2009"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and r.stderr.strip() == "error: --as-of: expected a date YYYY-MM-DD, found '15/09/2009'"
    r = runner.invoke(app, [*base, "--as-of", str(world["as_of"])], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "--crop-model none" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".f.parquet*"))
    shutil.rmtree(tmp_path / "none", ignore_errors=True)


def test_profile_for_currency() -> None:
    from pipelines.underwrite import profile_for_currency

    pol = default_policy()
    assert profile_for_currency(pol, ["INR"]) == "in-kcc"
    assert profile_for_currency(pol, ["USD"]) == "us-operating"
    with pytest.raises(UserInputError, match="cannot choose a profile for applications in INR, USD"):
        profile_for_currency(pol, ["INR", "USD"])
    # a bank's own region in a new currency (AGCREDIT_REGIONS_DIR adds regions, never a policy profile): the message
    # said "give --profile", though no profile of the policy can take KES amounts
    with pytest.raises(UserInputError, match=r"policy \S+ has no profile in KES \(its profiles: cn-rural CNY, in-kcc INR, "
                       r"us-operating USD\): .* give --policy FILE, a copy of the policy with a profile whose "
                       r"currency is KES"):
        profile_for_currency(pol, ["KES"])


def test_cli_value_portfolio_per_block(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """`agcredit value`: the champion values every field block by block; the parts hold the same valuations as
    scoring the one-call features, and a re-run reuses every block."""
    from models.prices import read_prices
    from models.yield_value import score_fields

    c: County = world["county"]
    out = tmp_path / "portfolio"
    args = ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
            "--season", world["season"], "--as-of", str(world["as_of"]), "--out", str(out), "--crop-model", "none",
            "--chunk-fields", "7", "--cache", str(c.cache_dir)]
    r = CliRunner().invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    parts = sorted((out / "valuations").glob("part-*.parquet"))
    vals = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True).sort_values("field_id")
    X = world["features"]
    assert len(parts) >= 2 and len(vals) == X["declared_crop"].notna().sum()
    assert f"valued {len(vals)} of {len(X)} fields" in r.stdout and "yield-value 1" in r.stdout
    assert set(vals["model_version"].astype(str)) == {"1"} and set(vals["model_name"].astype(str)) == {"yield-value"}
    ref = score_fields(world["models"].yield_model, X[X["declared_crop"].notna()].reset_index(drop=True), read_prices(),
                       model_name="yield-value", model_version="1", governance=world["gov"], checkpoint="mid",
                       currency="INR").sort_values("field_id")
    np.testing.assert_array_equal(vals["value_p50"].to_numpy(), ref["value_p50"].to_numpy())
    from models.money import format_minor

    assert f"P50 {format_minor(int(vals['value_p50'].sum()), 'INR')}" in r.stdout
    again = CliRunner().invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert again.exit_code == 0 and f"{len(parts)} blocks, {len(parts)} reused, 0 scenes read" in again.stdout
    # a field rejected when reading (a line, not a polygon) and one repaired (a bow-tie) were left out / changed
    # without a word (`features build` and `underwrite` say it)
    from shapely.geometry import LineString, Polygon

    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    cur = gdf.index[gdf["season"].astype(str) == world["season"]]
    x0, y0, x1, y1 = gdf.geometry.loc[cur[1]].bounds
    gdf.loc[cur[0], "geometry"] = LineString([(x0, y0), (x1, y1)])
    gdf.loc[cur[1], "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad)
    i = args.index("--fields") + 1
    r = CliRunner().invoke(app, [*args[:i], str(bad), *args[i + 1:-4], "--out", str(tmp_path / "bad"),
                                 "--cache", str(c.cache_dir)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    assert "1 field(s) rejected when reading" in r.stderr and "repaired when reading" in r.stderr, r.stderr


def test_cli_value_bad_inputs(world: dict[str, Any], tmp_path: Path) -> None:
    c: County = world["county"]
    base = ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--season", world["season"],
            "--as-of", str(world["as_of"]), "--out", str(tmp_path / "o")]
    r = CliRunner().invoke(app, [*base, "--imagery", str(tmp_path)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "--imagery must be a local scene folder with an index.csv" in r.stderr
    r = CliRunner().invoke(app, [*base, "--imagery", str(c.imagery), "--workers", "2", "--scheduler", "tcp://x:1"],
                           env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "give --scheduler or --workers, not both" in r.stderr
    assert not (tmp_path / "o").exists()
    # --out checked before the work (a walkthrough: refused after the whole valuation, "file not found" for a folder
    # that cannot be written)
    afile = tmp_path / "afile"
    afile.write_text("x")
    good = [a if a != str(tmp_path / "o") else str(afile) for a in base]
    r = CliRunner().invoke(app, [*good, "--imagery", str(c.imagery), "--crop-model", "no-such-model"],
                           env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and f"{afile}: cannot write the valuation (run.json and its parts) there ({afile} is a " \
                                "file, expected a folder)" in r.stderr, r.stderr


def test_preseason_decisions_value_fields_on_the_farmers_reported_yields(world: dict[str, Any], registry: str,
                                                                         tmp_path: Path) -> None:
    """Before the emergence checkpoint the pre-season rule values a field on "the farmer's reported history for the
    field, or the regional expectation" (CREDIT_POLICY.md step 2); nothing supplied the history before this release.
    `underwrite --history` (the farm records) gives each field the mean of its declared crop's reported yields over
    its latest five earlier seasons; the body says so; without it, the model's expectation as before."""
    from datetime import date

    from features._yield_history import add_history_yields

    c: County = world["county"]
    season = world["season"]
    early = date(int(season), 6, 10)  # after the season starts (05-15), before in-kcc's emergence checkpoint (08-31)
    hist = c.history()
    fields = c.fields(season)
    feats = featurize(fields, c.imagery, season, early, cache_dir=c.cache_dir).features
    expect = add_history_yields(feats, hist, season).set_index("field_id")
    assert expect["history_seasons"].max() >= 1
    feats_path = tmp_path / "early.parquet"
    feats.to_parquet(feats_path, index=False)
    hist_path = tmp_path / "history.csv"
    hist[["field_id", "season", "declared_crop", "reported_yield_t_ha"]].to_csv(hist_path, index=False)
    base = ["underwrite", "--applications", str(c.path / "records" / "applications.csv"), "--fields",
            str(c.path / "records" / "fields.gpkg"), "--season", season, "--as-of", early.isoformat(),
            "--features", str(feats_path), "--book", str(c.path / "records" / "book.csv"), "--profile", "in-kcc",
            "--no-progress", "--crop-model", "none"]
    with_h = CliRunner().invoke(app, [*base, "--store", f"sqlite:///{tmp_path / 'h.db'}", "--history",
                                      str(hist_path)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert with_h.exit_code == 0, with_h.stderr
    without = CliRunner().invoke(app, [*base, "--store", f"sqlite:///{tmp_path / 'm.db'}"],
                                 env={"AGCREDIT_TOKEN_KEY": KEY})
    assert without.exit_code == 0, without.stderr
    with DecisionStore(f"sqlite:///{tmp_path / 'h.db'}") as st:
        h_fields = [f for b in st.records(season)["body"] for f in json.loads(b)["fields"]]
    with DecisionStore(f"sqlite:///{tmp_path / 'm.db'}") as st:
        m_fields = [f for b in st.records(season)["body"] for f in json.loads(b)["fields"]]
    pre = [f for f in h_fields if f["basis"] == "preseason"]
    assert pre and all(f["basis"] == "preseason" for f in m_fields)
    used = [f for f in pre if f.get("preseason_yield_source") == "history"]
    assert used and all(f["history_yield_t_ha"] == pytest.approx(expect.loc[f["field_id"], "history_yield_t_ha"])
                        for f in used)
    assert not any("preseason_yield_source" in f for f in m_fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF0001,2008,rice,9500\n")
    r = CliRunner().invoke(app, [*base, "--store", f"sqlite:///{tmp_path / 'x.db'}", "--history", str(bad)],
                           env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "(rice 25 t/ha" in r.stderr and "kg, quintals or bushels per area typed as t/ha?" \
        in r.stderr and not (tmp_path / "x.db").exists()


def test_a_price_dated_after_the_decision_is_warned() -> None:
    """The shipped us-nebraska prices are season averages published after the harvest: a decision priced with one
    used what the lender could not have known — said in a warning (the table is the bank's to give)."""
    from datetime import date

    from models.prices import read_prices
    from pipelines.underwrite import later_prices

    prices = read_prices().to_frame()
    vals = pd.DataFrame({"crop": ["maize", "rice"], "region": ["us-nebraska", "in-smallholder"]})
    w = later_prices(prices, vals, "2018", date(2018, 7, 20))
    assert len(w) == 1 and "maize in us-nebraska (dated 2019-08-31)" in w[0] and "rice in" not in w[0]
    assert later_prices(prices, vals, "2018", date(2019, 9, 1)) == []
    # policy 2026.12.9 (prices_known_at_decision): the decision takes the 2016 season's price (dated 2017-08-31)
    # instead — nothing to warn of; only a price with no earlier one of its crop and region is
    assert later_prices(prices, vals, "2018", date(2018, 7, 20), known_at_decision=True) == []
    w = later_prices(prices, vals, "2000", date(2000, 7, 20), known_at_decision=True)
    assert len(w) == 1 and "maize in us-nebraska (dated 2001-08-31)" in w[0] and "no earlier price" in w[0], w
    # a decision after every price of the season is dated: nothing late (was a KeyError traceback: `underwrite
    # --season 2009 --as-of 2011-09-15` on the demo county)
    assert later_prices(prices, vals, "2018", date(2019, 9, 1), known_at_decision=True) == []


def test_a_yield_history_matching_no_field_is_warned(world: dict[str, Any], tmp_path: Path) -> None:
    """A history of other field ids (or of later seasons only) fell back to the model's expectation silently."""
    hist = pd.DataFrame({"field_id": ["NOPE1"], "season": ["2001"], "declared_crop": ["rice"],
                         "reported_yield_t_ha": [4.0]})
    res = _run(world, f"sqlite:///{tmp_path / 'h.db'}", features=world["features"], yield_history=hist)
    assert any("the yield history given has no reported yield of the declared crop for any field" in w
               for w in res.warnings), res.warnings


def test_a_features_files_lineage_gives_only_its_own_keys(tmp_path: Path) -> None:
    """`provenance.update(lineage)` let a features file's metadata replace the run's features hash, run name and
    checkpoint in a permanent record; a file without lineage records "not recorded"."""
    from pipelines.underwrite import NO_LINEAGE, lineage_provenance

    forged = {"features_sha256": "0" * 64, "run": "forged", "checkpoint": "pre_season", "crop_model_version": "x",
              "acquisition_dates": "2009-09-15", "smoother_haze_pinned": True}
    assert lineage_provenance(forged) == {"crop_model_version": "x", "smoother_haze_pinned": True}
    assert lineage_provenance(None) == {"crop_model_version": NO_LINEAGE}


def test_the_weather_files_name_is_not_in_the_features_provenance(tmp_path: Path) -> None:
    """The same weather saved under another name gave other decision bodies (its name was in the families text)."""
    from pipelines.featurize import load_weather

    days = pd.date_range("2009-01-01", periods=400, freq="D")
    wx = pd.DataFrame({"region": "in-smallholder", "date": days.strftime("%Y-%m-%d"), "precip_mm": 1.0,
                       "tmin_c": 10.0, "tmax_c": 25.0, "et0_mm": 4.0})
    wx.to_csv(tmp_path / "a.csv", index=False)
    wx.to_csv(tmp_path / "station-2009.csv", index=False)
    assert load_weather(tmp_path / "a.csv")[1] == load_weather(tmp_path / "station-2009.csv")[1]
    assert "station" not in load_weather(tmp_path / "station-2009.csv")[1]


def test_fields_without_a_crop_are_named() -> None:
    """The warning "N field(s) without a declared or predicted crop are not valued" names the first field ids (it gave
    only the count: the walkthrough's 34 could not be found) — ids only, nothing of the farmer's."""
    from types import SimpleNamespace

    from pipelines.underwrite import _valuations

    feats = pd.DataFrame({"field_id": [f"F{i:04d}" for i in (7, 3, 12, 1, 9, 4, 30)], "region": "in-smallholder",
                          "declared_crop": None, "crop_type": None, "farmer_token": "tok-secret"})
    warnings: list[str] = []
    with pytest.raises(UserInputError, match="no field has a crop to value"):
        _valuations(feats, SimpleNamespace(), SimpleNamespace(), "INR", "2009",  # type: ignore[arg-type]
                    date(2009, 9, 15), warnings)
    assert warnings == ["7 field(s) without a declared or predicted crop are not valued: F0001, F0003, F0004, F0007, "
                        "F0009 and 2 more (7 in all)"]


def test_decisions_take_the_prices_known_on_their_date_and_replay_identically(
        world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """The county's season prices dated after the decision (a season average published later): under the shipped
    policy (2026.12.9, prices_known_at_decision) the decisions take the previous season's price, dated before, and the
    market block says so; under the archived 2026.12.8 the later price, with the warning. Both replay identically
    without --policy (each with its records' own policy and rule)."""
    from underwriting.policy import ARCHIVE_DIR

    c: County = world["county"]
    season, as_of = world["season"], world["as_of"]
    shipped = (Path(__file__).resolve().parents[2] / "models" / "data" / "prices.csv")
    table = pd.read_csv(shipped, dtype=str, keep_default_na=False)
    mine = (table["region"] == c.region) & (table["season"] == season)
    prev = (table["region"] == c.region) & (table["season"] == str(int(season) - 1))
    assert mine.any() and prev.any()
    later = (as_of + timedelta(days=30)).isoformat()
    table.loc[mine, "price_date"] = later
    table.loc[mine, "price_per_t"] = [f"{float(x) * 1.5:.2f}" for x in table.loc[mine, "price_per_t"]]
    table.loc[mine, "support_price_per_t"] = ""
    prices = tmp_path / "prices.csv"
    table.to_csv(prices, index=False)
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", season,
              "--as-of", str(as_of), "--profile", "in-kcc", "--cache", str(c.cache_dir)]
    stores = {"new": f"sqlite:///{tmp_path / 'new.db'}", "old": f"sqlite:///{tmp_path / 'old.db'}"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("models.prices.DEFAULT_PRICES", prices)
        r = runner.invoke(app, ["underwrite", *common, "--store", stores["new"], "--crop-model", "none",
                                "--no-progress"], env=env)
        assert r.exit_code == 0, r.stderr
        assert "a lender deciding then did not have it" not in r.stderr, r.stderr
        r = runner.invoke(app, ["underwrite", *common, "--store", stores["old"], "--policy",
                                str(ARCHIVE_DIR / "agcredit-default-2026.12.8.yaml"), "--crop-model", "none",
                                "--no-progress"], env=env)
        assert r.exit_code == 0, r.stderr
        assert "a lender deciding then did not have it" in r.stderr, r.stderr
        markets = {}
        for k, url in stores.items():
            with DecisionStore(url) as st:
                recs = [st.latest(a) for a in world["apps"].loc[world["apps"]["season"] == season,
                                                                "application_id"].astype(str)]
            markets[k] = [m for rec in recs if rec is not None for m in rec.body["market"]
                          if m.get("price_date") is not None]
            assert markets[k], k
        assert all(m["price_date"] == later for m in markets["old"])
        assert all(m["price_date"] < str(as_of) and m["source"].startswith(f"the latest price known on {as_of}: ")
                   and f" season {int(season) - 1} (" in m["source"] and m["season"] == season
                   for m in markets["new"]), markets["new"]
        before = {m["crop"]: m["price_per_t"] for m in markets["old"]}
        after = {m["crop"]: m["price_per_t"] for m in markets["new"]}
        assert all(after[k] < before[k] for k in after), (before, after)
        for k, url in stores.items():
            n = DecisionStore(url).count()
            r = runner.invoke(app, ["audit", "replay", *common, "--store", url], env=env)
            assert r.exit_code == 0 and f"{n} identical" in r.stdout, (k, r.stdout + r.stderr)


def _renewal(world: dict[str, Any]) -> tuple[pd.Series, str]:
    """The tiny county's active Book line of the season and the application through which a re-underwriting follows
    it (its farmer's application of the season: the line was opened by an application the file no longer holds)."""
    from pipelines.reunderwrite import lines_to_review

    lines = lines_to_review(world["book"], world["apps"], world["as_of"], world["season"])
    assert len(lines) == 1, lines
    line = lines.iloc[0]
    assert str(line["application_id"]) not in set(world["apps"]["application_id"].astype(str))
    return line, str(line["review_application_id"])


def test_a_renewal_below_the_lines_balance_proposes_what_reunderwriting_would(world: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    """Policy 2026.12.10 (renewals_propose_actions). An application of a farmer holding an active Book line of the
    season is decided as its renewal, but a new limit below the line's balance proposed nothing until the next
    re-underwriting (a validator's line drawn 33,800 renewed at 11,000). Now the decision's body names the line and
    proposes what a re-underwriting would (pipelines.reunderwrite.propose_actions); under the archived 2026.12.9 the
    body is as before, whatever the Book's balance."""
    from pipelines.reunderwrite import ActionRules, keeps_unvalued_lines, not_reestimated, opens_alerts, propose_actions
    from underwriting.policy import ARCHIVE_DIR, load_policy

    old_pol = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    line, aid = _renewal(world)
    book = world["book"]
    # the farmer's crop confirmed by the imagery (the tiny county's features have no crop call: every decision is a
    # REFER for CROP_TYPE_UNCERTAIN), so the renewal grants a limit
    feats = world["features"].copy()
    at = feats["farmer_token"].astype(str) == str(line["farmer_token"])
    feats.loc[at, "crop_type"] = feats.loc[at, "declared_crop"]
    feats.loc[at, ["crop_type_prob", "declared_crop_prob"]] = 0.95
    first = _run(world, f"sqlite:///{tmp_path / 'first.db'}", features=feats)
    mine = next(i for i in first.items if i.application_id == aid)
    assert mine.limit > 0, (mine.outcome, mine.limit)
    owed = book.copy()
    at = owed["line_id"] == line["line_id"]
    top = int(line["limit"])
    assert top > mine.limit > int(line["outstanding"]), (top, mine.limit, line["outstanding"])
    owed.loc[at, ["drawn", "outstanding"]] = top  # the line drawn in full: above the renewal's new limit
    c: County = world["county"]

    def run(policy: Any, b: pd.DataFrame, name: str) -> dict[str, Any]:
        res = underwrite(world["apps"], c.fields(world["season"]), world["season"], world["as_of"],
                         imagery=c.imagery, policy=policy, profile=c.profile, book=b,
                         store=f"sqlite:///{tmp_path / name}", models=world["models"], cache_dir=c.cache_dir,
                         features=feats)
        return {i.application_id: i for i in res.items}

    new, old, old_owed = run(default_policy(), owed, "new.db"), run(old_pol, book, "old.db"), \
        run(old_pol, owed, "old-owed.db")
    item = new[aid]
    assert (item.outcome, item.limit) == (mine.outcome, mine.limit)
    ren = item.body["renewal"]
    assert ren["line_id"] == line["line_id"] and ren["outstanding"] == ren["drawn"] == ren["book_limit"] == top
    expected = propose_actions(new_limit=item.limit, outstanding=ren["outstanding"], new_outcome=item.outcome,
                               new_maturity=date.fromisoformat(item.body["computation"]["maturity_date"]),
                               line_maturity=date.fromisoformat(ren["line_maturity_date"]), high_alert=False,
                               rules=ActionRules(), reestimated=not not_reestimated(item.body),
                               keep_unvalued=keeps_unvalued_lines(item.body), review_alerts=opens_alerts(item.body))
    assert ren["proposed_actions"] == list(expected) and "FREEZE_UNDRAWN" in expected, (ren, expected)
    assert ren["alerts"] == [] and item.idempotency_key != mine.idempotency_key
    # the farmers without a Book line are decided as before (no renewal block)
    assert all("renewal" not in i.body for a, i in new.items() if a != aid)
    # the Book as it is: the line's balance is covered, nothing to propose (the block still names the line)
    assert first.items[[i.application_id for i in first.items].index(aid)].body["renewal"]["proposed_actions"] == \
        list(propose_actions(new_limit=mine.limit, outstanding=int(line["outstanding"]), new_outcome=mine.outcome,
                             new_maturity=date.fromisoformat(mine.body["computation"]["maturity_date"]),
                             line_maturity=pd.Timestamp(line["maturity_date"]).date(), high_alert=False,
                             keep_unvalued=True, review_alerts=True))
    # 2026.12.9: no renewal block whatever the balance, the bodies the same with the Book as it is or owed
    assert "renewal" not in old[aid].body and old[aid].body_json == old_owed[aid].body_json
    assert {a: i.body_json for a, i in old.items()} == {a: i.body_json for a, i in old_owed.items()}
    for a, i in new.items():
        assert (i.outcome, i.limit, i.reason_codes) == (old[a].outcome, old[a].limit, old[a].reason_codes)


def test_a_new_decision_reads_the_stores_open_crop_failure_alert(world: dict[str, Any], registry: str,
                                                                 tmp_path: Path) -> None:
    """Policy 2026.12.10 (decisions_read_alerts). A new decision did not read an open CROP_FAILURE alert of the
    farmer's fields (a re-underwriting did, policy 2026.12.6's open_alerts_act): the yield model's value of a crop
    the monitoring had seen fail stood. Here the store holds a re-underwriting of the farmer's Book line (through
    the application that opened it) with an open CROP_FAILURE alert on one field; the farmer's application is then
    underwritten: under the shipped policy that field is excluded (CROP_FAILURE_OBSERVED, dated) and the renewal is
    sent to review; under the archived 2026.12.9 it is valued as before. Both stores replay identically."""
    from pipelines.reunderwrite import ActionRules, _link, stored_alerts
    from underwriting.policy import ARCHIVE_DIR

    c: County = world["county"]
    season, as_of = world["season"], world["as_of"]
    line, aid = _renewal(world)
    tok = str(line["farmer_token"])
    feats = world["features"]
    fids = sorted(feats.loc[feats["farmer_token"].astype(str) == tok, "field_id"].astype(str))
    failed = fids[0]
    # the store: the Book line's own application decided and re-underwritten (an earlier applications file held it)
    opened = world["apps"][world["apps"]["application_id"] == aid].assign(application_id=str(line["application_id"]))
    seed = tmp_path / "seed.db"
    res = underwrite(opened, c.fields(season), season, as_of, imagery=c.imagery, policy=default_policy(),
                     profile=c.profile, book=world["book"], store=f"sqlite:///{seed}", models=world["models"],
                     cache_dir=c.cache_dir, features=feats)
    alerts = pd.DataFrame({"field_id": [failed, fids[-1]], "alert": ["CROP_FAILURE", "WATCH"],
                           "severity": ["high", "medium"], "date": pd.to_datetime([as_of - timedelta(days=6)] * 2),
                           "farmer_token": [tok, tok]})
    with DecisionStore(f"sqlite:///{seed}") as st:
        prev = st.latest(str(line["application_id"]))
        rec, _ = _link(res.items[0], prev, line.to_dict(), alerts, default_policy(), as_of, ActionRules(), st.get)
        st.append([rec], operator="tester")
        read = stored_alerts(st.records(season), season, as_of)
    assert read[["field_id", "alert", "severity", "date"]].values.tolist() == \
        [[failed, "CROP_FAILURE", "high", str(as_of)], [fids[-1], "WATCH", "medium", str(as_of)]]
    assert stored_alerts(DecisionStore(f"sqlite:///{seed}").records(season), season,
                         as_of - timedelta(days=1)).empty  # not yet open the day before
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", season,
              "--as-of", str(as_of), "--profile", "in-kcc", "--cache", str(c.cache_dir),
              "--book", str(c.path / "records" / "book.csv")]
    bodies, said = {}, {}
    for name, extra in (("new", []), ("old", ["--policy", str(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")])):
        db = tmp_path / f"{name}.db"
        shutil.copy(seed, db)
        r = runner.invoke(app, ["underwrite", *common, "--store", f"sqlite:///{db}", "--crop-model", "none",
                                "--no-progress", *extra], env=env)
        assert r.exit_code == 0, r.stderr
        said[name] = r.stdout
        with DecisionStore(f"sqlite:///{db}") as st:
            bodies[name] = st.latest(aid).body
            n = sum(1 for a in world["apps"]["application_id"].astype(str) if st.latest(a) is not None)
        r = runner.invoke(app, ["audit", "replay", *common, "--store", f"sqlite:///{db}"], env=env)
        assert r.exit_code == 0 and f"{n} identical" in r.stdout, (name, r.stdout + r.stderr)
    new = {f["field_id"]: f for f in bodies["new"]["fields"]}
    old = {f["field_id"]: f for f in bodies["old"]["fields"]}
    assert new[failed]["codes"][:1] == ["CROP_FAILURE_OBSERVED"] and not new[failed]["included"]
    assert new[failed]["crop_failure_observed"] == str(as_of) and new[failed]["expected_value"] == 0
    assert "CROP_FAILURE_OBSERVED" in {r["code"] for r in bodies["new"]["reasons"]}
    assert "CROP_FAILURE_OBSERVED" not in old[failed]["codes"] and "crop_failure_observed" not in old[failed]
    assert all("crop_failure_observed" not in new[f] for f in fids[1:])
    # (its value out of the limit: test_reunderwrite's open_alerts_act test; here every field of the tiny county is
    # CROP_TYPE_UNCERTAIN without a crop model, so the failed field was excluded already, for that code)
    assert old[failed]["codes"] and not old[failed]["included"]
    # the renewal of the farmer's Book line goes to an analyst: a high-severity alert is open (open_alerts_act)
    ren = bodies["new"]["renewal"]
    assert "REVIEW" in ren["proposed_actions"] and ren["alerts"] == [f"{failed}:CROP_FAILURE", f"{fids[-1]}:WATCH"]
    assert "renewal" not in bodies["old"]
    assert (f"renewals of active Book lines: 1, with proposed actions: 1 — {aid} ({line['line_id']}): "
            f"{', '.join(ren['proposed_actions'])}\n") in said["new"], said["new"]
    assert "renewals of" not in said["old"]
    from pipelines.explain import explain_text

    text = explain_text(f"sqlite:///{tmp_path / 'new.db'}", aid)
    assert f"Renewal of line {line['line_id']}" in text and f"alerts: {failed}:CROP_FAILURE, " in text, text


def test_a_refer_for_fields_pledged_in_the_store_replays_identically(world: dict[str, Any], registry: str,
                                                                      tmp_path: Path) -> None:
    """A farmer's application referred FIELDS_ALREADY_PLEDGED because an application of an earlier run holds the
    farmer's fields in the store never replayed: replay passed no pledge holders, so it decided the application as
    the fields' holder ("differs: computation, input_hashes, refer_reasons"). The replay reads the store as the run
    read it (the records written before its decisions) — here under the archived 2026.12.9, which no 2026.12.10
    parameter touches."""
    from underwriting.policy import ARCHIVE_DIR, load_policy

    c: County = world["county"]
    season, as_of = world["season"], world["as_of"]
    line, aid = _renewal(world)
    old = ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml"
    opened = world["apps"][world["apps"]["application_id"] == aid].assign(application_id=str(line["application_id"]))
    db = tmp_path / "pledged.db"
    underwrite(opened, c.fields(season), season, as_of, imagery=c.imagery, policy=load_policy(old),
               profile=c.profile, book=world["book"], store=f"sqlite:///{db}", models=world["models"],
               cache_dir=c.cache_dir, features=world["features"])
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", season,
              "--as-of", str(as_of), "--profile", "in-kcc", "--cache", str(c.cache_dir), "--store", f"sqlite:///{db}"]
    r = runner.invoke(app, ["underwrite", *common, "--policy", str(old), "--crop-model", "none", "--no-progress"],
                      env=env)
    assert r.exit_code == 0, r.stderr
    with DecisionStore(f"sqlite:///{db}") as st:
        rec = st.latest(aid)
    assert rec is not None and rec.body["refer_reasons"][-1:] == ["FIELDS_ALREADY_PLEDGED"]
    assert rec.body["computation"]["fields_pledged_to"] == [str(line["application_id"])]
    r = runner.invoke(app, ["audit", "replay", *common], env=env)
    n = int((world["apps"]["season"].astype(str) == season).sum())
    assert r.exit_code == 0 and f"{n} identical, 0 reproduced, 0 differs" in r.stdout, r.stdout + r.stderr


def test_cli_rejects_sets_bad_field_rows_aside_and_decides_the_rest(world: dict[str, Any], registry: str,
                                                                    tmp_path: Path) -> None:
    """One bad row (an unknown crop, a repeated id) refused the whole fields file; with `--rejects PATH` the bad
    rows are written there (no farmer's name, ID or phone) and the rest decided — a field set aside is not lent
    against, whatever the features file says of it. Without it, the one-line refusal as before."""
    c: County = world["county"]
    season = world["season"]
    runner = CliRunner()
    feats = tmp_path / "feat.parquet"
    world["features"].to_parquet(feats, index=False)
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    now = (gdf["season"].astype(str) == season).to_numpy()
    rows = np.flatnonzero(now)
    gdf.loc[rows[0], "declared_crop"] = "maise"  # an applicant's field: in the features file, not lent against
    extra = gdf.iloc[[rows[1], rows[1]]].copy()  # an id twice (a new field, both rows of it set aside)
    extra["field_id"] = "ZZ9"
    bad = tmp_path / "bad.gpkg"
    pd.concat([gdf, extra], ignore_index=True).pipe(gpd.GeoDataFrame, crs=gdf.crs).to_file(bad, driver="GPKG")
    fid0 = str(gdf.loc[rows[0], "field_id"])
    uw = _uw_args(world, tmp_path, fields=bad, features=feats)
    r = runner.invoke(app, uw, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "maise" in r.stderr, r.stderr
    rejects = tmp_path / "out" / "rejects.csv"
    r = runner.invoke(app, [*uw, "--rejects", str(rejects)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 1, r.stderr  # partial: rows rejected
    assert f"3 rows rejected (see {rejects})" in r.stdout
    assert "1 field(s) of features file feat.parquet not used: their rows of the fields file were rejected" \
        in r.stderr
    table = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    n = len(gdf)
    assert table[["row", "field_id", "season"]].values.tolist() == [
        [f"row {rows[0] + 1}", fid0, season], [f"row {n + 1}", "ZZ9", season], [f"row {n + 2}", "ZZ9", season]]
    assert table["farmer_token"].str.match(r"^F[0-9a-f]{20}$").all()
    assert table["reason"].str.startswith(("declared_crop 'maise' not a known crop", "field_id repeated")).all()
    text = rejects.read_text()
    for col in ("national_id", "farmer_name", "phone"):
        for v in gdf[col].dropna().astype(str):
            assert v not in text
    # the field set aside is not valued: named in the clean run's records, not in these
    clean = runner.invoke(app, _uw_args(world, tmp_path, "clean.db", features=feats), env={"AGCREDIT_TOKEN_KEY": KEY})
    assert clean.exit_code == 0, clean.stderr

    def stored(db: str) -> str:
        with DecisionStore(f"sqlite:///{tmp_path / db}") as st:
            return st.records().to_csv()

    assert f'"{fid0}"' in stored("clean.db") and f'"{fid0}"' not in stored("s.db")
    # a re-run: the same rejects file (and nothing new stored)
    first = rejects.read_bytes()
    r = runner.invoke(app, [*uw, "--rejects", str(rejects)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 1 and "stored 0 new records" in r.stdout, r.stderr
    assert rejects.read_bytes() == first and sorted(p.name for p in rejects.parent.iterdir()) == ["rejects.csv"]
    # --rejects naming an input: refused before anything is read
    r = runner.invoke(app, [*uw, "--rejects", str(bad)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "--rejects" in r.stderr and "is the --fields file" in r.stderr, r.stderr
    # a file-level error (the field_id column missing) still refuses the file, --rejects or not
    noid = tmp_path / "noid.gpkg"
    gdf.rename(columns={"field_id": "parcel"}).to_file(noid, driver="GPKG")
    r = runner.invoke(app, [*_uw_args(world, tmp_path, "noid.db", fields=noid, features=feats), "--rejects",
                            str(tmp_path / "noid.csv")], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "column 'field_id': expected column present" in r.stderr, r.stderr
    assert not (tmp_path / "noid.csv").exists()


def test_cli_build_with_rejects_then_underwrite(world: dict[str, Any], registry: str, tmp_path: Path) -> None:
    """`features build --rejects PATH` builds the features of the rows that pass (one bad row refused the file) and
    writes the others to PATH as underwrite does; underwrite from those features with --rejects then has nothing to
    leave out of them."""
    c: County = world["county"]
    season = world["season"]
    runner = CliRunner()
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    rows = np.flatnonzero((gdf["season"].astype(str) == season).to_numpy())
    gdf.loc[rows[0], "declared_crop"] = "maise"
    fid0 = str(gdf.loc[rows[0], "field_id"])
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad, driver="GPKG")
    feats = tmp_path / "features.parquet"
    build = ["features", "build", "--fields", str(bad), "--imagery", str(c.imagery), "--season", season, "--as-of",
             str(world["as_of"]), "--out", str(feats), "--crop-model", "none", "--cache", str(c.cache_dir),
             "--no-progress"]
    r = runner.invoke(app, build, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "maise" in r.stderr and not feats.exists(), r.stderr
    rejects = tmp_path / "build-rejects.csv"
    r = runner.invoke(app, [*build, "--rejects", str(rejects)], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 1, r.stderr  # partial: a row rejected
    assert f"1 rows rejected (see {rejects})" in r.stdout
    built = pd.read_parquet(feats)
    # none of the farmer's fields (a review, H2: a later underwrite --features decided them on the rest)
    tok = str(pd.read_csv(rejects, dtype=str)["farmer_token"].iloc[0])
    theirs = int((world["features"]["farmer_token"].astype(str) == tok).sum())
    assert fid0 not in set(built["field_id"].astype(str)) and len(built) == len(rows) - theirs
    assert tok not in set(built["farmer_token"].astype(str))
    again = tmp_path / "uw-rejects.csv"
    r = runner.invoke(app, [*_uw_args(world, tmp_path, fields=bad, features=feats), "--rejects", str(again)],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 1 and "1 rows rejected" in r.stdout and "not used" not in r.stderr, r.stderr
    cols = ["row", "field_id", "season", "farmer_token", "reason"]
    assert pd.read_csv(again, dtype=str)[cols].equals(pd.read_csv(rejects, dtype=str)[cols])
    # the features file decides nobody of the farmer's, even from the corrected fields file without --rejects
    held = sorted(world["apps"].loc[(world["apps"]["farmer_token"].astype(str) == tok)
                                    & (world["apps"]["season"].astype(str) == season), "application_id"].astype(str))
    r = runner.invoke(app, _uw_args(world, tmp_path, "later.db", features=feats), env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 1, r.stderr
    assert (f"{len(held)} application(s) not decided: features file features.parquet was built with rows of their "
            "farmers' fields rejected") in r.stderr and held[0] in r.stderr
    with DecisionStore(f"sqlite:///{tmp_path / 'later.db'}") as st:
        assert held and all(st.latest(a) is None for a in held)


def _typo_in_a_farmers_fields(world: dict[str, Any], tmp_path: Path) -> tuple[Path, str, str, str]:
    """A fields file with one typo (an unknown crop) in the fields of an applicant with two or more fields:
    (the file, the farmer's token, their application of the season, the field's id)."""
    c: County = world["county"]
    season = world["season"]
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    apps = world["apps"][world["apps"]["season"].astype(str) == season]
    feats = world["features"]
    per = feats[feats["farmer_token"].astype(str).isin(set(apps["farmer_token"].astype(str)))].groupby(
        "farmer_token")["field_id"].apply(list)
    tok, fids = next((str(t), sorted(map(str, f))) for t, f in per.items() if len(f) >= 2)
    i = int(next(k for k in np.flatnonzero((gdf["season"].astype(str) == season).to_numpy())
                 if str(gdf.loc[k, "field_id"]) == fids[0]))
    gdf.loc[i, "declared_crop"] = "maise"
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad, driver="GPKG")
    aid = str(apps.loc[apps["farmer_token"].astype(str) == tok, "application_id"].iloc[0])
    return bad, tok, aid, fids[0]


def test_cli_rejects_holds_the_farmers_applications_and_replays_identically(world: dict[str, Any], registry: str,
                                                                           tmp_path: Path) -> None:
    """(A review, H2/H1/L1.) With --rejects, a farmer with a row set aside was decided on their other fields — a
    typo left a failing field out of the failing-area share, for good (chains go forward only) — and `audit
    replay` of the run failed on the bad row. Now: the application is not decided (listed on stdout and in the
    rejects file), exit 1; the decisions record how many rows were set aside and the rejects file's sha256; replay
    reads the fields file as the run did: every decision identical; the corrected file decides the held one."""
    season = world["season"]
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    feats = tmp_path / "feat.parquet"
    world["features"].to_parquet(feats, index=False)
    bad, tok, aid, fid = _typo_in_a_farmers_fields(world, tmp_path)
    uw = _uw_args(world, tmp_path, fields=bad, features=feats)
    rej = tmp_path / "rejects.csv"
    r = runner.invoke(app, [*uw, "--rejects", str(rej)], env=env)
    assert r.exit_code == 1, r.stderr
    assert (f"1 application(s) not decided: their farmers' fields had rejected rows (see {rej}, column "
            f"held_applications); correct the rows and re-run to decide them: {aid}") in r.stdout
    table = pd.read_csv(rej, dtype=str)
    assert table[["field_id", "farmer_token", "held_applications"]].values.tolist() == [[fid, tok, aid]]
    n = int((world["apps"]["season"].astype(str) == season).sum())
    with DecisionStore(f"sqlite:///{tmp_path / 's.db'}") as st:
        assert st.latest(aid) is None
        recs = st.records(season)
        assert len(recs) == n - 1
        body = st.latest(str(recs["application_id"].iloc[0])).body
    # the hash of the rows set aside without held_applications (which depends on the applications given)
    unheld = rej.read_bytes().replace(f",{aid}\n".encode(), b",\n")
    assert unheld != rej.read_bytes()
    assert body["provenance"]["fields_set_aside"] == {"rows": 1, "rejects_sha256": hashlib.sha256(unheld).hexdigest()}
    rp = ["audit", "replay", *[a for a in uw[1:] if a not in ("--no-progress", "--crop-model", "none")]]
    r = runner.invoke(app, rp, env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"{n - 1} identical, 0 reproduced, 0 differs" in r.stdout, r.stdout
    assert "1 application(s) not replayed" in r.stderr, r.stderr
    # corrected: the held application is decided in full (the others stay as decided)
    good = _uw_args(world, tmp_path, features=feats)
    r = runner.invoke(app, [*good, "--rejects", str(tmp_path / "none.csv")], env=env)
    assert r.exit_code == 0, r.stderr
    assert "0 rows rejected" in r.stdout and "not decided" not in r.stdout
    assert pd.read_csv(tmp_path / "none.csv").empty
    with DecisionStore(f"sqlite:///{tmp_path / 's.db'}") as st:
        rec = st.latest(aid)
        assert rec is not None and fid in [f["field_id"] for f in rec.body["fields"]]
        assert "fields_set_aside" not in rec.body["provenance"]


def test_cli_rejects_one_parcel_of_two_farmers_holds_both_and_no_farmer_refuses(world: dict[str, Any],
                                                                              registry: str, tmp_path: Path) -> None:
    """(A review, H2.) One parcel id listed by two applicants (a double-pledge signal): both held, not decided on
    their other fields. A row with no identifier (its farmer cannot be known) refuses the file even with
    --rejects: the one line, exit 2, nothing stored."""
    c: County = world["county"]
    season = world["season"]
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    feats = tmp_path / "feat.parquet"
    world["features"].to_parquet(feats, index=False)
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    apps = world["apps"][world["apps"]["season"].astype(str) == season]
    f = world["features"]
    mine = f[f["farmer_token"].astype(str).isin(set(apps["farmer_token"].astype(str)))]
    (t1, f1), (t2, _) = list(mine.groupby("farmer_token")["field_id"].first().items())[:2]
    now = (gdf["season"].astype(str) == season).to_numpy()
    ids1 = set(mine.loc[mine["farmer_token"] == t1, "field_id"].astype(str))
    ids2 = sorted(mine.loc[mine["farmer_token"] == t2, "field_id"].astype(str))
    i2 = int(next(k for k in np.flatnonzero(now) if str(gdf.loc[k, "field_id"]) == ids2[0]))
    extra = gdf.iloc[[i2]].copy()
    extra["field_id"] = str(f1)  # farmer 2 lists farmer 1's parcel as theirs too
    two = tmp_path / "two.gpkg"
    pd.concat([gdf, extra], ignore_index=True).pipe(gpd.GeoDataFrame, crs=gdf.crs).to_file(two, driver="GPKG")
    rej = tmp_path / "rejects.csv"
    r = runner.invoke(app, [*_uw_args(world, tmp_path, fields=two, features=feats), "--rejects", str(rej)], env=env)
    assert r.exit_code == 1, r.stderr
    held = {str(a) for a in apps.loc[apps["farmer_token"].astype(str).isin([t1, t2]), "application_id"]}
    assert f"{len(held)} application(s) not decided" in r.stdout
    assert set(pd.read_csv(rej, dtype=str)["farmer_token"]) == {t1, t2} and len(ids1) >= 1
    with DecisionStore(f"sqlite:///{tmp_path / 's.db'}") as st:
        assert all(st.latest(a) is None for a in held)
    nobody = tmp_path / "nobody.gpkg"
    g = gdf.copy()
    g.loc[int(np.flatnonzero(now)[0]), "national_id"] = None
    g.to_file(nobody, driver="GPKG")
    r = runner.invoke(app, [*_uw_args(world, tmp_path, "n.db", fields=nobody, features=feats), "--rejects",
                            str(tmp_path / "n.csv")], env=env)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "farmer cannot be known" in r.stderr and not (tmp_path / "n.db").exists()


@pytest.mark.parametrize("stop", ["interrupted", "refused"])
def test_cli_rejects_file_is_written_before_any_decision_and_not_left_by_a_refused_run(
        world: dict[str, Any], registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str) -> None:
    """(A review, L2.) The rejects file was written after the decisions were appended: a run stopped in between
    left decisions without their rejects file. Now it is written first. (A bank's walkthrough, 2026-12-07.) A run
    refused after it was written (the Book's balances are checked inside ``underwrite``) stored nothing but left
    the file, naming applications "held" by a run that decided none: now the file is as before the run — absent, or
    its earlier bytes. An interrupted run (nothing known of the store) keeps it."""
    import pipelines.underwrite as uw_mod
    from features.errors import UserInputError

    feats = tmp_path / "feat.parquet"
    world["features"].to_parquet(feats, index=False)
    bad, *_ = _typo_in_a_farmers_fields(world, tmp_path)
    rej = tmp_path / "rejects.csv"
    seen: list[bool] = []

    def stopped(*a: Any, **k: Any) -> Any:
        seen.append(rej.exists())
        if stop == "interrupted":
            raise KeyboardInterrupt
        raise UserInputError("book.csv: line L1 open on 2009-09-15 has no balance dated on or before it")

    monkeypatch.setattr(uw_mod, "underwrite", stopped)
    args = [*_uw_args(world, tmp_path, fields=bad, features=feats), "--rejects", str(rej)]
    r = CliRunner().invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert seen == [True], (r.exit_code, seen, r.stderr)
    if stop == "interrupted":
        assert r.exit_code == 130 and rej.exists(), r.stderr
        return
    assert r.exit_code == 2 and "no balance dated" in r.stderr and not rej.exists(), r.stderr
    rej.write_bytes(b"an earlier run's rejects\n")
    r = CliRunner().invoke(app, args, env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and rej.read_bytes() == b"an earlier run's rejects\n"


def test_cli_rejects_of_another_season_only_is_not_partial(world: dict[str, Any], registry: str,
                                                          tmp_path: Path) -> None:
    """(A review.) `underwrite --rejects`: a row of another season set aside holds nobody of the run's season: exit
    0, not 1 (partial), the rejects file still listing it (a multi-season fields file would report partial
    forever)."""
    c: County = world["county"]
    season = world["season"]
    feats = tmp_path / "feat.parquet"
    world["features"].to_parquet(feats, index=False)
    gdf = gpd.read_file(c.path / "records" / "fields.gpkg")
    other = np.flatnonzero((gdf["season"].astype(str) != season).to_numpy())
    assert len(other)
    gdf.loc[other[0], "declared_area_ha"] = -1.0  # set aside before the season is chosen
    bad = tmp_path / "bad.gpkg"
    gdf.to_file(bad, driver="GPKG")
    rejects = tmp_path / "rejects.csv"
    r = CliRunner().invoke(app, [*_uw_args(world, tmp_path, fields=bad, features=feats), "--rejects", str(rejects)],
                           env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"1 rows rejected (see {rejects})" in r.stdout and "not decided" not in r.stdout
    assert len(pd.read_csv(rejects, dtype=str)) == 1


def test_set_aside_provenance_does_not_depend_on_the_applications_given() -> None:
    """(A review.) The decisions' ``fields_set_aside.rejects_sha256`` hashed the rejects file with its
    held_applications column, i.e. the applications file given: replaying a subset of the applications (or a day's
    batch split) recorded a different provenance. Now the rows set aside only."""
    from features.fields import SetAside
    from pipelines.underwrite import SET_ASIDE_KEY, UnderwriteInputs

    rows = [SetAside(row="row 4", field_id="F0004", season="2009", farmer_token="Fabc", reason="empty region",
                     position=3)]

    def sha(held: dict[str, list[str]]) -> str:
        inp = UnderwriteInputs(applications=pd.DataFrame(), fields=None, season="2009", policy=None,  # type: ignore[arg-type]
                               profile="p", book=pd.DataFrame(), weather=None, features=None, set_aside=rows, held=held)
        return str(inp.set_aside_provenance()[SET_ASIDE_KEY]["rejects_sha256"])

    assert sha({"Fabc": ["A2009-00001", "A2009-00002"]}) == sha({"Fabc": ["A2009-00002"]}) == sha({})


def test_cli_value_rejects_sets_bad_rows_aside_and_values_the_rest(world: dict[str, Any], registry: str,
                                                                   tmp_path: Path) -> None:
    """`value` had no --rejects: one bad row of a portfolio's fields file refused the whole valuation. With
    `--rejects PATH` the row is written there and the rest valued — but none of the fields of its farmer (as
    `features build --rejects`), who is listed; exit 1 (partial). Without it, the one-line refusal as before."""
    c: County = world["county"]
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    bad, tok, _aid, fid = _typo_in_a_farmers_fields(world, tmp_path)
    val = ["value", "--fields", str(bad), "--imagery", str(c.imagery), "--season", world["season"], "--as-of",
           str(world["as_of"]), "--out", str(tmp_path / "pf"), "--crop-model", "none", "--cache", str(c.cache_dir)]
    r = runner.invoke(app, val, env=env)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "maise" in r.stderr, r.stderr
    rej = tmp_path / "rejects.csv"
    r = runner.invoke(app, [*val, "--rejects", str(rej)], env=env)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert f"1 rows rejected (see {rej}); fields set aside, not valued: {fid}" in r.stdout, r.stdout
    assert "1 farmer(s) not valued: their fields had rejected rows" in r.stdout and tok in r.stdout, r.stdout
    table = pd.read_csv(rej, dtype=str)
    assert table[["field_id", "farmer_token"]].values.tolist() == [[fid, tok]]
    parts = sorted((tmp_path / "pf" / "valuations").glob("part-*.parquet"))
    valued = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    theirs = set(world["features"].loc[world["features"]["farmer_token"].astype(str) == tok, "field_id"].astype(str))
    assert len(theirs) >= 2 and not theirs & set(valued["field_id"].astype(str))
    assert len(set(valued["field_id"].astype(str))) > 0
    # (H3) the run manifest names what was left out: the row set aside and the held farmer's other fields, by
    # field id, season and reason — its farmer's token nowhere in it (as the decisions of `underwrite --rejects`)
    text = (tmp_path / "pf" / "run.json").read_text()
    left = json.loads(text)["fields_set_aside"]
    assert left["rows"] == 1 and left["rejects_sha256"] == hashlib.sha256(rej.read_bytes()).hexdigest()
    assert [(d["field_id"], d["season"]) for d in left["rejected"]] == [(fid, world["season"])]
    assert "maise" in left["rejected"][0]["reason"]
    assert sorted(d["field_id"] for d in left["held_fields"]) == sorted(theirs - {fid})
    assert all(d["season"] == world["season"] and f"rejected row {fid}" in d["reason"] for d in left["held_fields"])
    assert tok not in text and f"listed in {tmp_path / 'pf'}/run.json under fields_set_aside" in r.stdout
    # --rejects naming an input: refused before anything is read
    r = runner.invoke(app, [*val, "--rejects", str(bad)], env=env)
    assert r.exit_code == 2 and "--rejects" in r.stderr and "is the --fields file" in r.stderr, r.stderr


def test_cli_features_file_of_an_earlier_release_without_held_farmers(world: dict[str, Any], registry: str,
                                                                      tmp_path: Path) -> None:
    """A features file `features build` wrote before it recorded held farmers (a lineage without held_farmers)
    holds no farmer; built with the earlier --rejects it left the bad field out and kept its farmer's other fields,
    so underwrite from it and the corrected fields file decided the farmer on part of their land (a warning only).
    Now: such a file lacking a field of an applicant is refused, one line, nothing stored; with every applicant's
    field it is read as holding nobody (decided, exit 0); a file without lineage (another tool's) is read as before
    (test_cli_build_then_underwrite)."""
    from pipelines.featurize import LINEAGE_KEY, write_parquet_atomic

    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    _bad, tok, aid, fid = _typo_in_a_farmers_fields(world, tmp_path)
    old = {"crop_model_version": "none", "imagery_source": "scenes", "acquisition_dates": [], "families": {},
           "smoother_hazy_dates": []}  # an earlier release's lineage: no held_farmers
    X = world["features"]
    short, full = tmp_path / "short.parquet", tmp_path / "full.parquet"
    write_parquet_atomic(X[X["field_id"].astype(str) != fid], short, metadata={LINEAGE_KEY: json.dumps(old)})
    write_parquet_atomic(X, full, metadata={LINEAGE_KEY: json.dumps(old)})
    r = runner.invoke(app, _uw_args(world, tmp_path, "short.db", features=short), env=env)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (f"features file {short} was built before `features build` recorded held farmers (its lineage has no "
            f"held_farmers) and has no row for 1 field(s) of this run's applicants: {fid}") in r.stderr, r.stderr
    assert "rebuild it with `agcredit features build`" in r.stderr
    assert not (tmp_path / "short.db").exists() or DecisionStore(f"sqlite:///{tmp_path / 'short.db'}").count() == 0
    r = runner.invoke(app, _uw_args(world, tmp_path, "full.db", features=full), env=env)
    assert r.exit_code == 0 and "no row in the features given" not in r.stderr, r.stderr
    with DecisionStore(f"sqlite:///{tmp_path / 'full.db'}") as st:
        rec = st.latest(aid)
    assert rec is not None and fid in [f["field_id"] for f in rec.body["fields"]] and rec.farmer_token == tok



def test_records_made_from_rounded_ids_before_their_refusal_still_replay(world: dict[str, Any], registry: str,
                                                                         tmp_path: Path) -> None:
    """A review: an identifier in scientific notation is refused since 2026-12-07 (fifth), and `audit replay` of the
    decisions an earlier release made from such a file was refused with it — the file as it was is the only input that
    reproduces them. The replay reads identifiers as the records' run read them."""
    from features.identity import ids_as_recorded

    c: County = world["county"]
    apps = pd.read_csv(c.path / "records" / "applications.csv", dtype=str, keep_default_na=False)
    apps.loc[0, "national_id"] = "1.23457E+11"
    apps.to_csv(tmp_path / "apps.csv", index=False)
    store = f"sqlite:///{tmp_path / 'rounded.db'}"
    common = ["--applications", str(tmp_path / "apps.csv"), "--fields", str(c.path / "records" / "fields.gpkg"),
              "--imagery", str(c.imagery), "--season", world["season"], "--as-of", str(world["as_of"]), "--profile",
              "in-kcc", "--cache", str(c.cache_dir), "--store", store]
    runner = CliRunner()
    r = runner.invoke(app, ["underwrite", *common, "--crop-model", "none", "--no-progress"],
                      env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 2 and "scientific notation" in r.stderr and not (tmp_path / "rounded.db").exists()
    with ids_as_recorded():  # as an earlier release read the file
        r = runner.invoke(app, ["underwrite", *common, "--crop-model", "none", "--no-progress"],
                          env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0, r.stderr
    n = DecisionStore(store).count()
    r = runner.invoke(app, ["audit", "replay", *common], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r.exit_code == 0 and f"{n} identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.output
