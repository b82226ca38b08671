"""The farmer's reported yield history of a field (features/_yield_history.py): what the pre-season rule values a
field on (CREDIT_POLICY.md step 2), read from the farm records and never from the scored season or later."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features._yield_history import MAX_SEASONS, add_history_yields, read_yield_history
from features.errors import UserInputError


def _history(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["field_id", "season", "declared_crop", "reported_yield_t_ha"])


def test_mean_of_the_declared_crop_over_the_latest_earlier_seasons() -> None:
    hist = _history([("F1", str(2000 + k), "maize", float(k)) for k in range(1, 9)]  # 2001..2008: 1..8
                    + [("F1", "2009", "maize", 99.0), ("F1", "2010", "maize", 99.0),  # the scored season, later
                       ("F1", "2007", "maize", 7.0),                                  # a duplicated diary row
                       ("F2", "2008", "soybean", 3.0), ("F2", "2007", "maize", 9.0),  # another crop
                       ("F3", "2008", "maize", None)])                                # not reported
    feats = pd.DataFrame({"field_id": ["F1", "F2", "F3", "F4"], "declared_crop": ["maize", "maize", "maize", None]})
    out = add_history_yields(feats, hist, "2009")
    assert MAX_SEASONS == 5
    assert out["history_yield_t_ha"].iloc[0] == pytest.approx((8 + 7 + 6 + 5 + 4) / 5)  # 2004..2008
    assert out["history_seasons"].tolist() == [5, 1, 0, 0]
    assert out["history_yield_t_ha"].iloc[1] == 9.0 and out["history_yield_t_ha"].iloc[2:].isna().all()
    assert list(out.columns[:2]) == ["field_id", "declared_crop"] and len(out) == 4


def test_reading_names_what_is_wrong(tmp_path: Path) -> None:
    p = tmp_path / "history.csv"
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha,sowing_date\nF1,2008,maize,5.5,\nF1,2007,maize,,\n")
    h = read_yield_history(p)
    assert h["reported_yield_t_ha"].tolist()[0] == 5.5 and pd.isna(h["reported_yield_t_ha"].iloc[1])
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,maize,lots\n")
    with pytest.raises(UserInputError, match=r"column 'reported_yield_t_ha': expected tonnes per hectare .* line 2"):
        read_yield_history(p)
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF1,08,maize,5\n")
    with pytest.raises(UserInputError, match=r"column 'season': expected a year like 2024"):
        read_yield_history(p)
    p.write_text("field_id,season,crop\nF1,2008,maize\n")
    with pytest.raises(UserInputError, match=r"missing column\(s\) declared_crop, reported_yield_t_ha"):
        read_yield_history(p)
    with pytest.raises(UserInputError, match="yield history file not found"):
        read_yield_history(tmp_path / "absent.csv")


def test_personal_data_typed_into_the_history_is_never_echoed(tmp_path: Path) -> None:
    """A phone or a farmer's name typed into the history's crop column was quoted in the error ("declared_crop
    '+91-00000-18677' not a known crop"): named by row only."""
    p = tmp_path / "history.csv"
    for value in ("+91-00000-18677", "Wenzu Wenteda"):
        p.write_text(f"field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,maize,5\nF1,2007,{value},4\n")
        with pytest.raises(UserInputError, match=r"column 'declared_crop': expected a crop name, found personal "
                                                 r"data .* at line 3") as e:
            read_yield_history(p)
        assert value not in str(e.value) and "18677" not in str(e.value)


def test_a_unit_mistake_is_refused_by_the_crops_limit(tmp_path: Path) -> None:
    """One 0-30 t/ha range for every crop let quintals per hectare typed as t/ha through for cotton (22 q/ha read as
    22 t/ha: ten times the farmer's harvest valued pre-season). Each crop has its limit, about the world field
    record (features/data/crop_yield_limits.csv); a crop without one keeps 0-30."""
    p = tmp_path / "history.csv"
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,cotton,2.2\nF1,2007,Cotton,22\n"
                 "F2,2007,maize,22\n")
    with pytest.raises(UserInputError, match=r"above the crop's limit \(cotton 15 t/ha.* at line 3 \(1 in all\)$"):
        read_yield_history(p)
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,cotton,2.2\nF2,2007,maize,22\n"
                 "F3,2007,fallow,0\n")
    assert read_yield_history(p)["reported_yield_t_ha"].tolist() == [2.2, 22.0, 0.0]
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF3,2007,fallow,1.5\n")
    with pytest.raises(UserInputError, match=r"fallow 0 t/ha"):
        read_yield_history(p)



def test_each_crops_limit_is_the_bound_and_every_offending_crop_is_named(tmp_path: Path) -> None:
    """The blanket 0-30 t/ha ran first, so maize's own 40 t/ha was dead (35 refused); the message named the first
    offending crop only."""
    p = tmp_path / "history.csv"
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,maize,35\n")
    assert read_yield_history(p)["reported_yield_t_ha"].tolist() == [35.0]
    p.write_text("field_id,season,declared_crop,reported_yield_t_ha\nF1,2008,maize,41\nF2,2008,cotton,22\n"
                 "F3,2008,cotton,16\n")
    with pytest.raises(UserInputError, match=r"\(maize 40 t/ha; cotton 15 t/ha, about the world field record.*"
                                             r"line 2, line 3, line 4 \(3 in all\)"):
        read_yield_history(p)
