"""Training inputs a bank exports from its farm records (reported yields, crop labels) may carry the farmers' names,
national IDs and phones beside the yields and crops: an error about a bad cell names its field and season, never
the farmer's personal data typed into it (privacy audit H1)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import UserInputError

NAME, PHONE, NID = "Zyxwvut Qqqname", "+91-98765-43210", "ID-PII-777"


def _no_pii(text: str) -> None:
    for v in (NAME, "Zyxwvut", "Qqqname", PHONE, "98765", NID):
        assert v not in text, v


def test_a_phone_typed_as_a_reported_yield_is_named_by_field_not_quoted(tmp_path: Path) -> None:
    from pipelines.train_yield import read_reported

    p = tmp_path / "reported.csv"
    pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2008", "2008"], "farmer_name": [NAME, NAME],
                  "phone": [PHONE, PHONE], "reported_yield_t_ha": [PHONE, "3.1"]}).to_csv(p, index=False)
    with pytest.raises(UserInputError, match=r"reported_yield_t_ha must be numbers, found other values at F1/2008") \
            as e:
        read_reported(p)
    _no_pii(str(e.value))


@pytest.mark.parametrize("typed", [NAME, PHONE, "Zyxwvut"])
def test_a_farmers_identifier_typed_as_a_reported_crop_is_not_quoted(tmp_path: Path, typed: str) -> None:
    from pipelines.train_yield import read_reported

    p = tmp_path / "reported.csv"
    pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2008", "2008"], "farmer_name": ["Zyxwvut", NAME],
                  "phone": [PHONE, PHONE], "national_id": [NID, NID], "reported_yield_t_ha": ["3.0", "3.1"],
                  "declared_crop": [typed, "maize"]}).to_csv(p, index=False)
    with pytest.raises(UserInputError, match=r"declared_crop .*not a known crop.*F1/2008"
                       ) as e:
        read_reported(p)
    _no_pii(str(e.value))


def _series(path: Path) -> Path:
    d = pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2008", "2008"], "variable": ["ndvi", "ndvi"],
                      "date": pd.to_datetime(["2008-08-01", "2008-08-01"])})
    for c in ("mean", "std", "p10", "p50", "p90"):
        d[c] = 0.5
    d["n_pixels"], d["n_clear"] = 10, 10
    d.to_parquet(path)
    return path


@pytest.mark.parametrize("typed", [NAME, PHONE, "Zyxwvut"])
def test_a_farmers_identifier_typed_as_a_crop_label_is_not_quoted(tmp_path: Path, typed: str) -> None:
    from pipelines.train_crop import train_crop_type_tables

    labels = tmp_path / "labels.csv"
    pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2008", "2008"], "region": ["in-smallholder"] * 2,
                  "farmer_name": ["Zyxwvut", NAME], "phone": [PHONE, PHONE],
                  "declared_crop": [typed, "maize"]}).to_csv(labels, index=False)
    with pytest.raises(UserInputError, match=r"declared_crop .*not a known crop.*F1/2008") as e:
        train_crop_type_tables(_series(tmp_path / "series.parquet"), labels, register=False)
    _no_pii(str(e.value))


def test_an_unknown_crop_is_quoted_only_when_spelled_like_a_known_crop() -> None:
    """A typo is quoted, with what it is close to; any other word is not (a Book or a reported-yields file has no
    names to tell a surname by: 'Wenteda' as a Book crop was quoted — a walkthrough, 2026-12-07, third)."""
    from features.fields import check_known_crops

    with pytest.raises(UserInputError, match=r"declared_crop: 4 value\(s\) not a known crop — 'soybeen'; 2 value\(s\) "
                                             r"not spelled like any known crop \(not shown: a name typed there never "
                                             r"is\); <personal data> \(a name, phone or ID number, not shown\) \(known: "
                                             r".*\); rows holding any of them: line 2, line 3, line 4, line 6") as e:
        check_known_crops(pd.Series(["soybeen", "quinoa", PHONE, "maize", "Wenteda"]), source="x.csv",
                          column="declared_crop")
    _no_pii(str(e.value))
    assert "quinoa" not in str(e.value) and "Wenteda" not in str(e.value)


def test_a_farmers_surname_typed_as_a_crop_label_or_reported_crop_is_not_quoted(tmp_path: Path) -> None:
    """One word of a farmer's name (not the whole name, which the file's identifiers hide) was quoted."""
    from pipelines.train_crop import train_crop_type_tables
    from pipelines.train_yield import read_reported

    labels = tmp_path / "labels.csv"
    pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2008", "2008"], "region": ["in-smallholder"] * 2,
                  "farmer_name": [NAME, NAME], "declared_crop": ["Qqqname", "maize"]}).to_csv(labels, index=False)
    with pytest.raises(UserInputError, match=r"declared_crop <personal data>.*not a known crop.*F1/2008") as e:
        train_crop_type_tables(_series(tmp_path / "series.parquet"), labels, register=False)
    _no_pii(str(e.value).replace("<personal data>", ""))
    assert "qqqname" not in str(e.value).casefold()
    rep = tmp_path / "reported.csv"
    pd.DataFrame({"field_id": ["F1", "F2"], "season": ["2008", "2008"], "farmer_name": [NAME, NAME],
                  "reported_yield_t_ha": ["3.0", "3.1"], "declared_crop": ["Qqqname", "maize"]}).to_csv(rep, index=False)
    with pytest.raises(UserInputError, match=r"declared_crop <personal data>.*not a known crop.*F1/2008") as e:
        read_reported(rep)
    assert "qqqname" not in str(e.value).casefold()


def test_a_crop_of_several_words_is_hidden_with_how_to_add_it() -> None:
    """"pearl millet", a crop not among the engine's, has a name's shape and is not quoted; the message said only "a
    name, phone or ID number", leaving the user to guess a crop was meant — it now says how to add one (review R1).
    A phone or a single unknown word gets no such hint."""
    from features.fields import check_known_crops

    with pytest.raises(UserInputError, match=r"declared_crop <personal data> \(a name, phone or ID number, not shown; "
                                             r"a crop of several words .*AGCREDIT_EXTRA_CROPS, e\.g\. pearl_millet\) "
                                             r"not a known crop.*F1/2008") as e:
        check_known_crops(pd.Series(["Pearl Millet", "maize"]), source="y.csv", column="declared_crop",
                          rows=pd.Series(["F1/2008", "F2/2008"]))
    assert "pearl millet" not in str(e.value).casefold()
    for other in (PHONE, "quinoa"):
        with pytest.raises(UserInputError) as e:
            check_known_crops(pd.Series([other]), source="y.csv", column="declared_crop")
        assert "several words" not in str(e.value)
