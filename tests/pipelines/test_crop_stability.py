"""Input stability of the crop-type model (``agcredit models stability crop-type``): the training rows' inputs
profiled at registration, a season's fields' inputs — built from their series as the model reads them — compared
with them through the real registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.errors import UserInputError
from pipelines import train_crop
from pipelines.stability import crop_frame_stability
from pipelines.train_crop import crop_labels
from tests.features.test_crop_type import _make
from tests.pipelines.test_train_crop import FAST

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: pickling a python_model object and SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A crop-type version trained on seasons 2016–2018 (150 fields a season, checkpoints mid = day 120 and end),
    and season 2019's series and fields, drawn alike."""
    root = tmp_path_factory.mktemp("crop-stability")
    uri = f"sqlite:///{root}/mlflow.db"
    series, labels = _make(seed=3)
    train = labels.loc[labels["season"] < "2019"].drop(columns=["true_crop"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        res = train_crop.train_crop_type(series, crop_labels(train), checkpoints={"mid": 120, "end": "end"},
                                         params=FAST)
    fields = labels[labels["season"] == "2019"].drop(columns=["true_crop", "declared_crop"]).reset_index(drop=True)
    return {"uri": uri, "v": res.version, "series": series[series["season"] == "2019"], "fields": fields}


def _run(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch, series: pd.DataFrame | None = None,
         fields: pd.DataFrame | None = None, as_of: str = "2019-12-31", **kw: Any) -> Any:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    return crop_frame_stability(trained["series"] if series is None else series,
                                trained["fields"] if fields is None else fields, as_of, source="season 2019",
                                version=trained["v"], **kw)


def test_the_profile_is_registered_per_checkpoint_with_each_season_held_out(trained: dict[str, Any],
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from models.registry import input_profile

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    prof = input_profile("crop-type", trained["v"])
    assert prof is not None and prof["model"] == "crop-type" and set(prof["checkpoints"]) == {"mid", "end"}
    mid, end = prof["checkpoints"]["mid"], prof["checkpoints"]["end"]
    assert (mid["model_checkpoint"], mid["as_of_day"]) == ("d120", 120.0) and end["model_checkpoint"] == "end"
    assert mid["rows"] == 450 and mid["season_rows"] == {"2016": 150, "2017": 150, "2018": 150}
    assert set(mid["held_out_unusual"]) == {"2016", "2017", "2018"}
    assert "region" in mid["features"] and mid["features"]["region"]["kind"] == "levels"  # a context input


def test_a_season_drawn_alike_is_within_the_seasons_spread_and_a_darker_one_is_not(
        trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    like = _run(trained, monkeypatch)
    assert like.checkpoint == "end" and like.scored_rows == 150 and not like.failed()
    assert like.season_verdict() == "like" and like.counts()["unusual"] == 0
    # every NDVI 0.15 lower (a sensor or processing baseline change): the season is unlike every training season
    s = trained["series"]
    dark = _run(trained, monkeypatch, series=s.assign(mean=s["mean"] - 0.15))
    assert dark.failed() and dark.counts()["unusual"] > 10
    assert dark.table.iloc[0]["verdict"] == "unusual" and dark.table.iloc[0]["input"].startswith("feat_NDVI")
    lines = dark.lines()
    assert lines[0] == (f"crop-type version {trained['v']}: the inputs of season 2019 (150 fields as of 2019-12-31 at "
                        "checkpoint end or later) against its declared training rows of checkpoint end (450 rows, the "
                        "end of the season window; the one the model reads most of the fields at on that date)")
    assert lines[-1].startswith(f"season: {dark.counts()['unusual']} unusual inputs, more than any training season")
    assert dark.to_json()["season_verdict"] == "unlike"


def test_the_checkpoint_is_the_one_the_model_reads_the_fields_at(trained: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mid = _run(trained, monkeypatch, as_of="2019-08-15")  # day 136 of a window opening on 1 April: past day 120
    assert mid.checkpoint == "mid" and mid.checkpoint_day == 120.0
    assert _run(trained, monkeypatch, as_of="2019-12-31", checkpoint="mid").chosen
    with pytest.raises(UserInputError, match="no field has reached a checkpoint of crop-type version .* too early"):
        _run(trained, monkeypatch, as_of="2019-05-01")
    with pytest.raises(UserInputError, match="--checkpoint 'harvest': crop-type version .* profiled end, mid"):
        _run(trained, monkeypatch, checkpoint="harvest")
    with pytest.raises(UserInputError, match="12 fields; a comparison .* needs at least 75"):
        _run(trained, monkeypatch, fields=trained["fields"].head(12))
    # a checkpoint named that no field has reached on the date: its inputs would be cut short of the training rows'
    with pytest.raises(UserInputError, match="0 of the 150 fields have reached checkpoint end on that date"):
        _run(trained, monkeypatch, as_of="2019-08-15", checkpoint="end")


def test_fields_short_of_the_checkpoint_are_left_out_and_counted(trained: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Half the fields sown 40 days later (their window and series shifted alike): as of 15 August the model reads the
    others at mid (day 136) and these at no checkpoint yet (day 96) — compared at mid they would read as a shift of
    their inputs cut short; they are left out and said. A tie goes to the earlier checkpoint."""
    f, s = trained["fields"].copy(), trained["series"].copy()
    late = (f.index % 4 < 2) & (f.index < 149)  # 75 of 150; every crop and both regions among them and the others
    f.loc[late, "season_start"] = f.loc[late, "season_start"] + pd.Timedelta(days=40)
    f.loc[late, "season_end"] = f.loc[late, "season_end"] + pd.Timedelta(days=40)
    moved = s["field_id"].isin(f.loc[late, "field_id"])
    s.loc[moved, "date"] = s.loc[moved, "date"] + pd.Timedelta(days=40)
    res = _run(trained, monkeypatch, series=s, fields=f, as_of="2019-08-15")
    assert res.checkpoint == "mid" and res.scored_rows == 75 and res.other_crops == {"none yet": 75}
    assert "; 75 at an earlier checkpoint or none yet, their inputs cut short of it, left out: none yet 75)" in \
        res.lines()[0]
    assert res.to_json()["fields_left_out"] == {"none yet": 75} and res.to_json()["other_crops"] == {}
    # what comparing every field at mid would have read: the late ones' inputs cut short as a shift
    from dataclasses import replace

    from pipelines.stability import crop_compare, crop_plan

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    plan = crop_plan(f, "2019-08-15", source="s", version=trained["v"])
    every = crop_compare(replace(plan, fields=f), s, "2019-08-15", source="s")
    assert every.counts()["unusual"] >= 3 * max(1, res.counts()["unusual"]), (every.counts(), res.counts())
    cut = every.table.set_index("input").loc["feat_NDVI_n_obs"]
    assert cut["verdict"] == "unusual" and res.table.set_index("input").loc["feat_NDVI_n_obs", "verdict"] != "unusual"
    # as of 15 December: 75 fields at the end (their window closed on 26 November), 75 at mid (day 218 of a window
    # closing on 5 January) — a tie goes to the earlier checkpoint, complete for all of them
    tie = _run(trained, monkeypatch, series=s, fields=f, as_of="2019-12-15")
    assert tie.checkpoint == "mid" and tie.scored_rows == 150 and tie.other_crops == {}
    # one more field at the end: the end, the 75 short of it left out
    f2, s2 = f.copy(), s.copy()
    f2.loc[0, ["season_start", "season_end"]] = trained["fields"].loc[0, ["season_start", "season_end"]].to_numpy()
    s2.loc[s2["field_id"] == f.loc[0, "field_id"], "date"] = trained["series"].loc[
        trained["series"]["field_id"] == f.loc[0, "field_id"], "date"].to_numpy()
    end = _run(trained, monkeypatch, series=s2, fields=f2, as_of="2019-12-15")
    assert end.checkpoint == "end" and end.scored_rows == 76 and end.other_crops == {"mid": 74}


def test_a_version_registered_without_a_profile_is_refused(trained: dict[str, Any], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from models.registry import SaveLoadFlavour, register, resolve

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    got = resolve("crop-type", trained["v"], flavour=SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
    from pipelines.train_crop import crop_governance

    gov = crop_governance(got.model, {}, ["north", "south"], ["mid", "end"], synthetic=True)
    old = register(got.model, "crop-type", metrics={}, governance=gov, flavour=SaveLoadFlavour.of(got.model),
                   operator="tester")
    with pytest.raises(UserInputError, match=f"crop-type version {old} was registered without an input profile"):
        crop_frame_stability(trained["series"], trained["fields"], "2019-12-31", source="s", version=old)


def test_a_date_outside_the_season_is_refused_before_the_model_is_read(tiny_county_sh: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """(A review, 2026-12-07.) `models stability crop-type --as-of 2030-01-01` compared the season's end under that
    date (exit 1) where `features build` refuses it: now refused as there, before any model or series is read."""
    import pipelines.stability as stability
    from pipelines.county import County
    from pipelines.stability import crop_input_stability

    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "a-test-key-of-16+chars")

    def unread(*a: Any, **k: Any) -> Any:
        raise AssertionError("the model was read")

    monkeypatch.setattr(stability, "crop_plan", unread)
    county = County(tiny_county_sh)
    season = county.current_season
    fields = tiny_county_sh / "records" / "fields.gpkg"
    late = pd.Timestamp(int(season) + 1, 12, 31).date()
    with pytest.raises(UserInputError, match=rf"--as-of {late} is after season {season}'s imagery window ends"):
        crop_input_stability(fields, str(tiny_county_sh / "scenes"), season, late)
    with pytest.raises(UserInputError, match=rf"--as-of {int(season) - 1}-01-01 is before season {season} starts"):
        crop_input_stability(fields, str(tiny_county_sh / "scenes"), season, f"{int(season) - 1}-01-01")


def test_what_the_series_build_warned_of_is_kept_for_the_command_to_say(trained: dict[str, Any],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: `models stability crop-type --imagery` on a folder fetched to an earlier date said nothing, and its
    verdict was driven by the days missing (152 unusual inputs against 74). The series build's warnings are kept
    (`warnings`) and the command prints them on standard error."""
    from types import SimpleNamespace

    import features.fields
    import features.series
    import pipelines._featurize_checks as checks
    from pipelines.stability import crop_input_stability

    said = "scene folder s was fetched from Sentinel Hub for 2019-01-01 to 2019-06-30 (its sentinelhub.json), not …"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    monkeypatch.setattr(features.fields, "read_fields", lambda *a, **k: SimpleNamespace(fields=trained["fields"]))
    monkeypatch.setattr(checks, "check_as_of_in_season", lambda *a: None)
    monkeypatch.setattr(checks, "check_as_of_in_window", lambda *a: None)
    monkeypatch.setattr(features.series, "build_series",
                        lambda *a, **k: SimpleNamespace(series=trained["series"], warnings=[said]))
    res = crop_input_stability("f.gpkg", "s", "2019", "2019-12-31", version=trained["v"])
    assert res.warnings == [said] and res.scored_rows > 0
