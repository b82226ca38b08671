"""``agcredit models stability``: a trained yield-value version carries its training input profile, and the command
compares a features file's inputs against it (PSI per input), through the real registry and CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contracts import FIELD_FEATURES
from pipelines import train_yield
from pipelines.cli import app
from tests.pipelines.test_train_yield import FAST, synth_features

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


def _full(df: pd.DataFrame) -> pd.DataFrame:
    """Rows carrying every FieldFeatures contract column, as a features build writes them."""
    out = df.copy()
    for c in FIELD_FEATURES.columns:
        if c.name not in out.columns:
            out[c.name] = (pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]") if c.kind == "date"
                           else pd.Series([None] * len(out), dtype="str") if c.kind == "str"
                           else (False if c.kind == "bool" else 0 if c.kind == "int" else np.nan))
    return out.assign(overlap_fraction=0.0, geometry_valid=True, geometry_hash="h")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two versions of yield-value in one registry: v1 with its input profile, v2 registered without one (as every
    version before this release)."""
    root = tmp_path_factory.mktemp("stability")
    (root / "reg").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/reg/mlflow.db")
        feats, rep = synth_features()
        feats = {cp: _full(f) for cp, f in feats.items()}
        res = train_yield.train_yield(feats, rep, data="synthetic", config=FAST, operator="tester", promote=False)
        from models import registry

        profile = registry.input_profile("yield-value", res.version)
        mp.setattr(train_yield, "training_input_profile", lambda model, frames: None)
        old = train_yield.train_yield(feats, rep, data="synthetic", config=FAST, operator="tester", promote=False)
        mp.setattr(train_yield, "training_input_profile", lambda model, frames: {"format": 99, "model": "yield-value"})
        other = train_yield.train_yield(feats, rep, data="synthetic", config=FAST, operator="tester", promote=False)
    new, _ = synth_features(seasons=("2016",), seed=9)  # a later season drawn like the training ones
    mid = _full(new["mid"])
    mid.to_parquet(root / "alike.parquet")
    # a season unlike the training ones on three inputs: greener imagery lost, another covariate moved, one crop only
    mid.assign(ndvi_max=mid["ndvi_max"] - 0.25, feat_x=mid["feat_x"] + 3, declared_crop="maize").to_parquet(
        root / "drier.parquet")
    return {"root": root, "uri": f"sqlite:///{root}/reg/mlflow.db", "v": res.version, "old": old.version,
            "other": other.version, "profile": profile, "n_rows": res.n_rows}


def _run(trained: dict, monkeypatch: pytest.MonkeyPatch, *args: str) -> object:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    return CliRunner().invoke(app, ["models", "stability", *args])


def test_the_version_is_registered_with_its_training_rows_profile(trained: dict) -> None:
    p = trained["profile"]
    assert p is not None and p["model"] == "yield-value" and sorted(p["checkpoints"]) == ["end", "mid"]
    for cp in ("end", "mid"):
        assert p["checkpoints"][cp]["rows"] == trained["n_rows"][cp]  # the rows with a reported yield
    # the day of each checkpoint's rows: 20 July and 15 October of their season (day 200 / 287 of a non-leap year)
    assert p["checkpoints"]["mid"]["as_of_day"] in (200.0, 201.0) and p["checkpoints"]["end"]["as_of_day"] in (287.0,
                                                                                                               288.0)
    f = p["checkpoints"]["mid"]["features"]
    assert {"ndvi_max", "feat_x", "crop", "region", "as_of_day"} <= set(f)
    assert f["crop"]["levels"] == ["maize", "soybean"] and f["ndvi_max"]["kind"] == "bins"
    # each training season against the others (seasons 2011–2015 drawn alike: far below the 0.25 threshold)
    assert sorted(f["ndvi_max"]["season_psi"]) == ["2011", "2012", "2013", "2014", "2015"]
    assert max(f["ndvi_max"]["season_psi"].values()) < 0.25
    assert f["field_area_ha"]["kind"] == "season_level" and f["field_area_ha"]["season_values"] == [20.0] * 5


def test_a_season_like_the_training_ones_is_stable_and_a_drier_one_is_shifted(trained: dict,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    r = _run(trained, monkeypatch, "--features", str(trained["root"] / "alike.parquet"), "--version", trained["v"])
    assert r.exit_code == 0, r.stderr
    assert "checkpoint mid" in r.stdout and "the one nearest the rows' day 201" in r.stdout
    assert "ndvi_max" not in r.stdout  # stable inputs are not listed
    assert "stable or in range not listed (--all lists them)" in r.stdout
    assert "— within the seasons' own spread" in r.stdout.splitlines()[-1]
    r = _run(trained, monkeypatch, "--features", str(trained["root"] / "drier.parquet"), "--version", trained["v"])
    assert r.exit_code == 1, r.stderr  # an input further off than any training season: a monitoring job's failure
    line = next(x for x in r.stdout.splitlines() if x.startswith("ndvi_max"))
    assert "unusual" in line and "[-inf, " in line
    assert "summary: 3 unusual (PSI ≥ 0.25 and above every training season's own PSI" in r.stdout
    last = r.stdout.splitlines()[-1]
    assert last.startswith("season: 3 unusual inputs, more than any training season had when held out against the "
                           "others (2011 ") and "unlike every season the model learned from (exit 1" in last
    r = _run(trained, monkeypatch, "--features", str(trained["root"] / "drier.parquet"), "--version", trained["v"],
             "--checkpoint", "end", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["checkpoint"] == "end" and out["checkpoint_chosen"] and out["counts"]["unusual"] == 3
    assert out["season_verdict"] == "unlike" and sorted(out["held_out_unusual"]) == ["2011", "2012", "2013", "2014",
                                                                                     "2015"]
    assert max(out["held_out_unusual"].values()) < 3
    assert {i["input"] for i in out["inputs"][:3]} == {"ndvi_max", "feat_x", "crop"} and out["not_compared"] == [
        "as_of_day"]


@pytest.mark.parametrize("case", ["no profile", "crop-type", "checkpoint", "two dates", "empty", "missing", "alias",
                                  "columns", "no crop", "few rows", "format", "far from a checkpoint",
                                  "another region"])
def test_what_cannot_be_compared_is_one_line_and_exit_2(case: str, trained: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = trained["root"]
    alike = str(root / "alike.parquet")
    args = {"no profile": ["--features", alike, "--version", trained["old"]],
            "crop-type": ["crop-type", "--features", alike, "--version", trained["v"]],
            "checkpoint": ["--features", alike, "--version", trained["v"], "--checkpoint", "harvest"],
            "two dates": ["--features", str(root / "two.parquet"), "--version", trained["v"]],
            "empty": ["--features", str(root / "empty.parquet"), "--version", trained["v"]],
            "missing": ["--features", str(root / "none.parquet"), "--version", trained["v"]],
            "alias": ["--features", alike],
            "columns": ["--features", str(root / "cols.parquet"), "--version", trained["v"]],
            "no crop": ["--features", str(root / "fallow.parquet"), "--version", trained["v"]],
            "few rows": ["--features", str(root / "few.parquet"), "--version", trained["v"]],
            "format": ["--features", alike, "--version", trained["other"]],
            "far from a checkpoint": ["--features", str(root / "far.parquet"), "--version", trained["v"]],
            "another region": ["--features", str(root / "region.parquet"), "--version", trained["v"]]}[case]
    if case == "two dates":
        a = pd.read_parquet(alike)
        later = a.assign(as_of=a["as_of"] + pd.Timedelta(days=30), field_id="g" + a["field_id"])  # other fields
        pd.concat([a, later]).to_parquet(root / "two.parquet")
    if case == "empty":
        (root / "empty.parquet").write_bytes(b"")
    if case == "far from a checkpoint":  # a re-underwriting's features a month after mid-season: every input that
        a = pd.read_parquet(alike)        # grows with the season would read as a shift (a walkthrough of the timer)
        a.assign(as_of=a["as_of"] + pd.Timedelta(days=30)).to_parquet(root / "far.parquet")
    if case == "columns":  # a features file of another model's making: the version's own message
        pd.read_parquet(alike).drop(columns="feat_x").to_parquet(root / "cols.parquet")
    if case == "no crop":  # every field taken for fallow: nothing the version learned
        pd.read_parquet(alike).assign(declared_crop="fallow").to_parquet(root / "fallow.parquet")
    if case == "another region":  # a us-nebraska review: another region's features read as "missing columns feat_…"
        pd.read_parquet(alike).assign(region="in-smallholder").drop(columns="feat_x").to_parquet(root / "region.parquet")
    if case == "few rows":  # a few fields' features: chance alone would read as a shift of every input
        pd.read_parquet(alike).head(12).to_parquet(root / "few.parquet")
    want = {"no profile": f"yield-value version {trained['old']} was registered without an input profile",
            "crop-type": "models stability crop-type: give --fields, --imagery, --season and --as-of (the model's "
                         "inputs are built from the fields' series); missing: --fields, --imagery, --season, --as-of; "
                         "--features is the yield model's",
            "checkpoint": "--checkpoint 'harvest': yield-value version 1 profiled end, mid",
            "two dates": "features file holds rows as of 2 dates (2016-07-20, 2016-08-19)",
            "empty": "features file is empty (0 bytes)",
            "missing": "features file not found",
            "alias": "has no 'champion' alias",
            "columns": "yield-value: features do not match the training columns: missing columns feat_x",
            "no crop": "fallow.parquet: no row has a crop yield-value version 1 learned (maize, soybean)",
            "few rows": "few.parquet: 12 rows of the crops yield-value version 1 learned; a comparison with its "
                        "training seasons needs at least",
            "format": f"yield-value version {trained['other']}: its input profile is of another layout (format 99",
            "far from a checkpoint": "its rows are of day 231 of the season year, 31 days from the nearest "
                                     "checkpoint yield-value version 1 was profiled at (mid day 200, end day 287): "
                                     "the inputs that grow with the season",
            "another region": "region.parquet: the fields are of region in-smallholder, outside yield-value version 1's "
                              "region scope (us-nebraska): it values none of them"}[case]
    r = _run(trained, monkeypatch, *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and want in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    if case == "far from a checkpoint":  # named, the comparison is made (the analyst's choice)
        named = _run(trained, monkeypatch, *args, "--checkpoint", "mid", "--json")
        assert named.exit_code in (0, 1) and json.loads(named.stdout)["checkpoint_chosen"], named.stderr


def test_a_column_one_checkpoint_lacks_is_profiled_empty_there_not_a_failed_registration() -> None:
    """The version is fitted on every checkpoint's rows together: a column only the end-of-season rows carry is an
    empty column of the mid-season rows, as in the fit (the profile must not refuse what the fit accepted)."""
    from models.yield_value import YieldModel

    feats, _ = synth_features()
    # and a flag only the end rows carry: the concatenation makes it an object column the model does not read
    feats["end"] = feats["end"].assign(only_end=np.arange(len(feats["end"]), dtype="float64"), flag_end=True)
    model = YieldModel(FAST).fit(pd.concat(list(feats.values()), ignore_index=True), np.ones(1000))
    prof = train_yield.training_input_profile(model, feats)["checkpoints"]
    assert prof["mid"]["features"]["only_end"]["missing"] == 1.0
    assert prof["end"]["features"]["only_end"]["missing"] == 0.0 and prof["end"]["features"]["only_end"]["kind"] == "bins"
    assert "flag_end" not in model.numeric_columns_ and "flag_end" not in prof["end"]["features"]


def test_a_version_of_one_training_season_judges_no_season() -> None:
    """One training season (the tiny demo's stand-in): no season's own spread is known, so no season is "unlike"
    (exit 0) and the report says why instead of counting inputs against nothing."""
    from pipelines.stability import StabilityResult

    table = pd.DataFrame([{"input": "ndvi_max", "psi": 3.0, "floor": 0.1, "seasons_max": np.nan, "verdict": "shifted",
                           "largest_move": "[-inf, 0.4)", "training_share": 0.1, "scored_share": 0.9}])
    res = StabilityResult(name="yield-value", version="1", alias=None, source="f.parquet", as_of="2009-09-15",
                          checkpoint="mid", checkpoint_day=257.0, chosen=False, rows_day=257.0, training_rows=9,
                          scored_rows=40, rows_without_crop=0, other_crops={}, table=table, held_out={"2008": 0})
    assert res.season_verdict() is None and not res.failed()
    assert res.lines()[-1].startswith("season: no comparison — the version was trained on fewer than two seasons")
    two = StabilityResult(**{**res.__dict__, "held_out": {"2007": 0, "2008": 0},
                             "table": table.assign(verdict="unusual", seasons_max=1.0)})
    assert two.season_verdict() == "unlike" and two.failed()  # 1 unusual input, more than either season's 0


def test_a_version_reading_weather_on_features_built_without_it_says_to_rebuild_them(
        trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walkthrough: the message said "give the weather file (--weather F, …)", an option this command refuses as
    unknown; the features must be built again with the weather."""
    from models.errors import MissingWeatherError
    from models.yield_value import YieldModel

    def no_weather(self: YieldModel, X: pd.DataFrame) -> pd.DataFrame:
        raise MissingWeatherError(model="yield-value", missing=["wx_gdd_season", "wx_rain_season"])

    monkeypatch.setattr(YieldModel, "input_table", no_weather)
    r = _run(trained, monkeypatch, "--features", str(trained["root"] / "alike.parquet"), "--version", trained["v"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ("alike.parquet: yield-value version 1 reads weather features (wx_gdd_season, wx_rain_season) and these "
            "features were built without them: build them again with the weather (agcredit features build … "
            "--weather F)") in r.stderr and "give the weather file" not in r.stderr


def test_rows_outside_the_versions_scope_are_left_out_and_counted(trained: dict,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: rows of another region beside the version's own were drift-tested (102 unusual, exit 1 "unlike every
    season") where `models performance` sets them aside; they are left out and counted, by region."""
    alike = pd.read_parquet(trained["root"] / "alike.parquet")
    base = json.loads(_run(trained, monkeypatch, "--features", str(trained["root"] / "alike.parquet"), "--version",
                           trained["v"], "--json").stdout)
    mixed = alike.copy()
    mixed.loc[mixed.index[:10], "region"] = "in-smallholder"
    mixed.to_parquet(trained["root"] / "mixed.parquet")
    r = _run(trained, monkeypatch, "--features", str(trained["root"] / "mixed.parquet"), "--version", trained["v"],
             "--json")
    out = json.loads(r.stdout)
    assert out["other_crops"].get("region in-smallholder") == 10, out["other_crops"]
    assert out["scored_rows"] == base["scored_rows"] - 10
