"""pipelines.featurize on the tiny synthetic county (shared session fixture, read-only)."""

from __future__ import annotations

import sys
import types
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contracts import FIELD_FEATURES
from features.errors import FieldsError
from pipelines.county import County
from pipelines.featurize import CONFIDENT_CROP_PROB, featurize, phenology_crops

# features/area_scenes.py (engineer A) still applies an Affine to a point with `*`, which affine 2.4+
# deprecates; reported — remove this filter once that file uses `@`.


@pytest.fixture(scope="module")
def built(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fields and the mid-season features of the current season, built once (cache in a temp folder)."""
    import os

    os.environ["AGCREDIT_TOKEN_KEY"] = "test-token-key-0123456789"  # the key every test runs with (conftest), whatever the shell exports
    county = County(tiny_county_sh, cache_dir=tmp_path_factory.mktemp("cache"))
    season = county.current_season
    mid = county.checkpoints(season)["mid"]
    fields = county.fields(season)
    res = featurize(fields, county.imagery, season, mid, cache_dir=county.cache_dir)
    return {"county": county, "season": season, "mid": mid, "fields": fields, "res": res}


def _truncated_scenes(src: Path, dst: Path, until: date) -> Path:
    """A scene folder with only the acquisitions up to ``until`` (the files themselves are symlinked)."""
    dst.mkdir()
    idx = pd.read_csv(src / "index.csv", dtype=str)
    for sub in {p.split("/")[0] for p in idx["path"]}:
        (dst / sub).symlink_to(src / sub)
    idx[pd.to_datetime(idx["date"]) <= pd.Timestamp(until)].to_csv(dst / "index.csv", index=False)
    return dst


def test_contract_and_families(built: dict[str, Any]) -> None:
    res = built["res"]
    f = res.features
    assert list(f.columns[: len(FIELD_FEATURES.names)]) == FIELD_FEATURES.names
    assert len(f) == len(built["fields"]) and f["field_id"].is_unique
    assert (f["as_of"] == pd.Timestamp(built["mid"])).all()
    assert res.families["series"] == "ok" and res.families["seasonal"] == "ok" and res.families["area"] == "ok"
    assert res.families["crop_type"].startswith("skipped") and res.families["phenology"].startswith("ok")
    assert f["growth_stage"].notna().any() and f["emergence_date"].notna().any()
    # without a crop model the valued crop is the declared one
    assert f["crop"].fillna("-").tolist() == f["declared_crop"].fillna("-").tolist()
    assert any("crop type left empty" in w for w in res.warnings)
    assert f["planted_area_ha"].notna().all() and (f["planted_area_ha"] <= f["field_area_ha"] * 1.05).all()
    assert any(c.startswith("feat_NDVI_") for c in f.columns)
    assert (f["n_clear_obs"] > 0).all()
    assert pd.to_datetime(res.series["date"]).max() <= pd.Timestamp(built["mid"])
    assert max(res.dates_used) <= built["mid"]


def test_later_scenes_change_nothing(built: dict[str, Any], tmp_path: Path) -> None:
    county: County = built["county"]
    cut = _truncated_scenes(county.imagery, tmp_path / "scenes", built["mid"])
    only = featurize(built["fields"], cut, built["season"], built["mid"], cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(only.features, built["res"].features)
    pd.testing.assert_frame_equal(only.series, built["res"].series)
    again = featurize(built["fields"], cut, built["season"], built["mid"], cache_dir=tmp_path / "cache")
    assert again.source == only.source and "cache" not in again.source  # provenance must not depend on the cache


def test_given_series_is_cut_at_as_of(built: dict[str, Any]) -> None:
    county: County = built["county"]
    full = county.series(built["season"])  # the whole season, beyond the as-of date
    assert pd.to_datetime(full["date"]).max() > pd.Timestamp(built["mid"])
    res = featurize(built["fields"], None, built["season"], built["mid"], series=full)
    assert res.families["area"].startswith("skipped")
    assert res.features["planted_area_ha"].isna().all()
    got = res.features.drop(columns=[c for c in res.features.columns if c.startswith("planted_")
                                     or c in ("noncrop_fraction",)])
    want = built["res"].features[got.columns]
    pd.testing.assert_frame_equal(got, want)


def test_no_field_of_season(built: dict[str, Any]) -> None:
    with pytest.raises(FieldsError, match="no field of season 1999"):
        featurize(built["fields"], built["county"].imagery, "1999", date(1999, 9, 1))


class _FakeCropModel:
    """Duck-typed crop model: the declared crop with probability 0.9, except the first field (maize, 0.5)."""

    def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
        assert pd.to_datetime(series["date"]).max() <= pd.Timestamp(as_of)
        out = pd.DataFrame({"field_id": fields["field_id"].astype(str), "season": fields["season"],
                            "as_of": pd.Timestamp(as_of), "checkpoint": "d120",
                            "crop_type": fields["declared_crop"].astype(str), "crop_type_prob": 0.9})
        out.loc[0, ["crop_type", "crop_type_prob"]] = ["maize", 0.5]
        for c in ("rice", "maize", "cotton"):
            out[f"prob_{c}"] = np.where(out["crop_type"] == c, out["crop_type_prob"], 0.05)
        out["declared_crop_prob"] = 0.9
        return out.reset_index(drop=True)


class _EarlyCropModel(_FakeCropModel):
    """The fake model with checkpoints ``day`` (if any) and end: the first ``n_early`` fields (all when None) are too
    early for any of them — no checkpoint, no crop type — as :meth:`CropTypeClassifier.predict` leaves them."""

    season_days = None

    def __init__(self, day: int | None, n_early: int | None) -> None:
        self.checkpoints_ = [day, "end"] if day else ["end"]
        self.n_early = n_early

    def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
        out = super().predict(series, fields, as_of)
        out["crop_type"] = out["crop_type"].fillna("maize")  # a field without a declared crop: scored too
        early = out.index[:self.n_early] if self.n_early is not None else out.index
        out["checkpoint"] = out["checkpoint"].astype(object)
        out.loc[early, ["checkpoint", "crop_type"]] = None
        out.loc[early, ["crop_type_prob", "declared_crop_prob", *(c for c in out if c.startswith("prob_"))]] = np.nan
        return out


def test_crop_type_family_says_how_many_fields_got_one(built: dict[str, Any]) -> None:
    """A model trained for the end of season only predicted no field in season, and the family said 'crop_type ok'
    (walkthrough: crop_type NaN for all 600 fields): it says how many fields got a crop type, and why not."""
    from features.series import season_window

    season, n = built["season"], len(built["fields"])
    start, end = season_window(season, "in-smallholder")
    res = featurize(built["fields"], built["county"].imagery, season, built["mid"], cache_dir=built["county"].cache_dir,
                    crop_model=_EarlyCropModel(None, None))  # type: ignore[arg-type]
    assert res.features["crop_type"].isna().all()
    assert res.families["crop_type"] == (f"none: 0 of {n} fields got a crop type; {n} too early: the model's first "
                                         f"checkpoint is the end of the season (from {end})")
    assert (f"crop type: {n} field(s) too early in the season for any checkpoint of the model (its first is the end "
            f"of the season, from {end})") in res.warnings
    res = featurize(built["fields"], built["county"].imagery, season, built["mid"], cache_dir=built["county"].cache_dir,
                    crop_model=_EarlyCropModel(150, 3))  # type: ignore[arg-type]
    assert res.features["crop_type"].notna().sum() == n - 3
    assert res.families["crop_type"] == (f"partial: {n - 3} of {n} fields got a crop type; 3 too early: the model's "
                                         f"first checkpoint is day 150 of the season (from "
                                         f"{start + pd.Timedelta(days=150)})")


def test_crop_model_and_phenology_wiring(built: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    def smooth_series(series: pd.DataFrame, *, variable: str = "NDVI", as_of: date | None = None,
                      grid_days: int = 1, reference: pd.DataFrame | None = None,
                      start: date | None = None, hazy_dates: Any = None) -> pd.DataFrame:
        calls["smooth"] = (variable, as_of, grid_days, start)
        calls["hazy"] = hazy_dates
        s = series[series["variable"] == variable]
        return pd.DataFrame({"field_id": s["field_id"], "season": s["season"], "date": s["date"],
                             "value": s["mean"], "observed": True})

    def phenology(smoothed: pd.DataFrame, calendars: pd.DataFrame, crops: pd.Series, region: str, as_of: date,
                  calib: Any, *, weather: Any = None) -> pd.DataFrame:
        calls["phen"] = (dict(crops), region, as_of, calib)
        calls["weather"] = weather
        ids = sorted(smoothed["field_id"].astype(str).unique())
        return pd.DataFrame({"field_id": ids, "season": "x", "growth_stage": "vegetative",
                             "emergence_date": pd.Timestamp(as_of) - pd.Timedelta(days=30),
                             "days_since_emergence": 30.0, "greenup_rate": 0.01})

    monkeypatch.setitem(sys.modules, "features.timeseries", types.SimpleNamespace(smooth_series=smooth_series))
    from features.growth_stage import calendar_dates, load_calendars  # the real calendars: planted area reads them

    monkeypatch.setitem(sys.modules, "features.growth_stage", types.SimpleNamespace(
        phenology=phenology, load_calendars=load_calendars, calendar_dates=calendar_dates))
    from features._phenology_calib import Calibration

    cal = Calibration(region="in-smallholder", seasons=("2007", "2008"))
    res = featurize(built["fields"], built["county"].imagery, built["season"], built["mid"],
                    crop_model=_FakeCropModel(), phenology_calib=cal, cache_dir=built["county"].cache_dir)  # type: ignore[arg-type]
    # the fake calls each field its declared crop: a field without one gets none, and the family counts it
    n, undeclared = len(built["fields"]), int(built["fields"]["declared_crop"].isna().sum())
    assert res.families["crop_type"] == ("ok" if not undeclared else f"partial: {n - undeclared} of {n} fields got "
                                         f"a crop type; {undeclared} not scored")
    assert res.families["phenology"] == "ok (in-smallholder calibrated on seasons 2007, 2008)"
    assert calls["weather"] is None
    f = res.features
    assert (f["growth_stage"] == "vegetative").all() and (f["days_since_emergence"] == 30.0).all()
    assert "greenup_rate" in f.columns and "checkpoint" not in f.columns
    assert {"prob_rice", "prob_maize", "prob_cotton"} <= set(f.columns)
    declared = built["fields"].set_index("field_id")["declared_crop"]
    want_type = declared.where(declared.index != declared.index[0], "maize")
    assert f.set_index("field_id")["crop_type"].equals(want_type.reindex(f["field_id"]))
    variable, as_of, grid, start = calls["smooth"]
    assert variable == "NDVI" and as_of == built["mid"] and grid in (1, 5)
    from features.series import season_window

    # the grid starts at the region's season window, not at the call's first usable observation
    assert pd.Timestamp(start) == pd.Timestamp(season_window(built["season"], "in-smallholder")[0])
    assert calls["hazy"] is None  # fewer fields than the haze sample: the call judges haze on all of them
    crops, region, as_of, calib = calls["phen"]
    assert region == "in-smallholder" and as_of == built["mid"] and calib is cal
    fields = built["fields"].sort_values("field_id")
    first = str(built["fields"]["field_id"].iloc[0])
    # the uncertain prediction (0.5 < threshold) falls back to the declared crop; the others are predicted
    assert crops[first] == built["fields"]["declared_crop"].iloc[0]
    assert crops == {str(k): (None if pd.isna(v) else v) for k, v in zip(fields["field_id"], fields["declared_crop"],
                                                                          strict=True)}
    valued = f.set_index("field_id")["crop"]
    assert {k: (None if pd.isna(v) else v) for k, v in valued.items()} == crops


def test_phenology_crops_threshold() -> None:
    fields = pd.DataFrame({"field_id": ["a", "b", "c"], "declared_crop": ["rice", "maize", None]})
    crop = pd.DataFrame({"field_id": ["a", "b", "c"], "crop_type": ["cotton", "cotton", None],
                         "crop_type_prob": [CONFIDENT_CROP_PROB, CONFIDENT_CROP_PROB - 0.01, np.nan]})
    got = phenology_crops(fields, crop)
    assert got.to_dict() == {"a": "cotton", "b": "maize", "c": None}
    assert phenology_crops(fields, None).to_dict() == {"a": "rice", "b": "maize", "c": None}


def test_a_fields_curve_does_not_depend_on_the_other_fields_smoothed_with_it() -> None:
    """smooth_ndvi anchors the grid at the region's season start: field b's curve is the same, bit for bit,
    smoothed alone or beside a field seen clear earlier than b ever was (which used to start the call's grid)."""
    from features.series import season_window
    from pipelines.featurize import smooth_ndvi

    dates = pd.date_range("2009-05-21", "2009-09-13", freq="5D")
    rows = []
    for fid, first_clear in (("a", 0), ("b", 4)):
        for i, d in enumerate(dates):
            v = 0.2 + 0.5 * np.exp(-0.5 * ((i - 12) / 5) ** 2)
            rows.append({"field_id": fid, "season": "2009", "date": d, "variable": "NDVI", "mean": v, "std": 0.02,
                         "p10": v, "p50": v, "p90": v, "n_pixels": 40, "n_clear": 40 if i >= first_clear else 0})
    series = pd.DataFrame(rows)
    fields = pd.DataFrame({"field_id": ["a", "b"], "season": "2009", "region": "in-smallholder"})
    both = smooth_ndvi(series, fields, date(2009, 9, 15))
    alone = smooth_ndvi(series[series["field_id"] == "b"], fields.iloc[1:], date(2009, 9, 15))
    b = both[both["field_id"] == "b"].reset_index(drop=True)
    pd.testing.assert_frame_equal(b, alone.reset_index(drop=True), check_exact=True)
    assert b["date"].min() == pd.Timestamp(season_window("2009", "in-smallholder")[0])


def test_phenology_calibration_from_the_crop_model(built: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit calibration, the crop-type model's own (fitted on its training seasons) is used for the
    fields of its region, with the weather given; another region's calibration is never applied."""
    from features._phenology_calib import Calibration

    seen: dict[str, Any] = {}

    def phenology(smoothed: pd.DataFrame, calendars: pd.DataFrame, crops: pd.Series, region: str, as_of: date,
                  calib: Any, *, weather: Any = None) -> pd.DataFrame:
        seen.update(calib=calib, weather=weather)
        ids = sorted(smoothed["field_id"].astype(str).unique())
        return pd.DataFrame({"field_id": ids, "season": "x", "growth_stage": "vegetative"})

    import features.growth_stage as real

    monkeypatch.setitem(sys.modules, "features.growth_stage", types.SimpleNamespace(
        phenology=phenology, load_calendars=real.load_calendars, calendar_dates=real.calendar_dates))
    model = _FakeCropModel()
    mine = Calibration(region="in-smallholder", seasons=("2008",))
    model.phenology_calibration_ = {"in-smallholder": mine}  # type: ignore[attr-defined]
    wx = built["county"].weather()
    res = featurize(built["fields"], built["county"].imagery, built["season"], built["mid"],
                    crop_model=model, cache_dir=built["county"].cache_dir, weather=wx)  # type: ignore[arg-type]
    assert seen["calib"] is mine and seen["weather"] is not None and len(seen["weather"]) == len(wx)
    assert res.families["phenology"] == "ok (in-smallholder calibrated on seasons 2008)"  # no thermal durations
    model.phenology_calibration_ = {"us-nebraska": Calibration(region="us-nebraska")}  # type: ignore[attr-defined]
    res = featurize(built["fields"], built["county"].imagery, built["season"], built["mid"],
                    crop_model=model, cache_dir=built["county"].cache_dir)  # type: ignore[arg-type]
    assert seen["calib"] is None and seen["weather"] is None
    assert res.families["phenology"] == "ok (uncalibrated)"


def test_a_folder_named_like_an_alias_does_not_stand_in_for_the_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--crop-model champion`` (the default) and a recorded version number name the registry even when the
    working directory holds a folder of that name; a folder model is named by its content, not its path."""
    from models.errors import RegistryError
    from pipelines.featurize import _load_crop_model, model_folder_digest

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/none/mlflow.db")
    for name in ("champion", "1", "challenger"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text("{}")
        with pytest.raises(RegistryError, match="crop-type model"):
            _load_crop_model(name)
    a, b = tmp_path / "m" / "a", tmp_path / "copy"
    a.mkdir(parents=True)
    (a / "meta.json").write_text('{"x": 1}')
    (a / "model_end_0.txt").write_text("tree")
    b.mkdir()
    for f in a.iterdir():
        (b / f.name).write_bytes(f.read_bytes())
    assert model_folder_digest(a) == model_folder_digest(b) == model_folder_digest(Path("m/a"))
    (b / "model_end_0.txt").write_text("other tree")
    assert model_folder_digest(a) != model_folder_digest(b)


def test_before_the_first_scene_the_expected_harvest_comes_from_the_crop_calendar() -> None:
    """Before the season's first acquisition (the smallholder demo as of 2009-05-20, its first scene 05-21) phenology
    was skipped whole, so no field had an expected harvest and every line took its requested term: a cotton and rice
    farm's line matured 2009-10-17, two months before the cotton's pickings (as of 06-15, one clear scene later,
    the calendar's harvest gave 2010-02-13). The calendar's median harvest of the field's crop (of all the region's
    crops where it has none) is the expected harvest, as phenology gives a field not yet seen emerging; nothing else
    is filled in (no stage, no emergence)."""
    from pipelines.featurize import _phenology

    fields = pd.DataFrame({"field_id": ["a", "b", "c"], "season": "2009", "region": "in-smallholder",
                           "declared_crop": ["cotton", "rice", None]})
    crops = pd.Series(["cotton", "rice", None], index=["a", "b", "c"], dtype=object)
    empty = pd.DataFrame({"field_id": pd.Series(dtype="str"), "season": pd.Series(dtype="str"),
                          "date": pd.Series(dtype="datetime64[ns]"), "variable": pd.Series(dtype="str"),
                          "mean": pd.Series(dtype="float64")})
    families: dict[str, str] = {}
    warnings: list[str] = []
    phen, _ = _phenology(empty, fields, crops, date(2009, 5, 20), None, families, warnings)
    assert phen is not None
    got = phen.set_index("field_id")
    assert str(got.loc["a", "expected_harvest_date"].date()) == "2009-12-30"  # cotton: doy 364
    assert str(got.loc["b", "expected_harvest_date"].date()) == "2009-11-01"  # rice: doy 305
    assert str(got.loc["c", "expected_harvest_date"].date()) == "2009-11-01"  # the median of the region's crops
    assert got["growth_stage"].isna().all() and got["emergence_date"].isna().all()
    assert families["phenology"].startswith("calendar only")
    assert any("phenology left empty: no NDVI observation" in w for w in warnings)


def test_no_scene_yet_is_not_every_field_outside_the_scenes_for_planted_area(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the season's first acquisition (the smallholder demo as of 2009-05-20) planted area warned "600 field(s)
    not covered by any scene up to 2009-05-20, or too small or thin to hold a pixel: F0001, … (600 in all)" — an
    analyst looks for a geometry or tiling fault. With no scene at all it says that."""
    import features.area_scenes as area_scenes
    from pipelines.featurize import _area

    ids = ["a", "b"]

    def planted_area(*args: Any, **kwargs: Any) -> pd.DataFrame:
        out = pd.DataFrame({"field_id": ids, "planted_area_ha": np.nan})
        out.attrs.update(no_pixels=False, scenes_used=0, outside_fields=ids, no_clear_fields=[], partly_outside={})
        return out

    monkeypatch.setattr(area_scenes, "planted_area", planted_area)
    families: dict[str, str] = {}
    warnings: list[str] = []
    _area(pd.DataFrame({"field_id": ids}), "scenes", "2009", date(2009, 5, 20), None, None, families, warnings)  # type: ignore[arg-type]
    assert warnings == ["planted area left empty: no scene up to 2009-05-20"], warnings


def test_a_field_the_imagery_cannot_date_yet_has_its_crop_calendars_harvest(built: dict[str, Any]) -> None:
    """As of the season's first acquisition no field has the two observations a curve needs: the phenology gave them
    no row, so no expected harvest date, and a line decided then matured after its requested term (us-nebraska
    demo, as of 2017-09-20: maize lines maturing in May 2018, months before the October harvest). Each now has its
    crop calendar's median harvest; the growth stage stays unknown."""
    from features.growth_stage import calendar_dates, load_calendars

    county: County = built["county"]
    full = county.series(built["season"])
    first = pd.to_datetime(full["date"]).min().date()
    res = featurize(built["fields"], None, built["season"], first, series=full)
    f = res.features.set_index("field_id")
    assert f["growth_stage"].isna().all()
    cds = calendar_dates(load_calendars(), str(built["fields"]["region"].iloc[0]), built["season"])
    want = f["crop"].map(lambda c: cds.loc[c, "harvest"] if c in cds.index else pd.NaT)
    assert want.notna().any()
    known = want.notna()
    pd.testing.assert_series_equal(f.loc[known, "expected_harvest_date"], want[known].astype("datetime64[ns]"),
                                   check_names=False)
    assert f["expected_harvest_date"].notna().all()
