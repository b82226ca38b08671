"""Names written with combining marks (Devanagari vowel signs, accents typed decomposed) are hidden and refused as
names written without: the hiding and id checks compared letters and digits only, so ``वेंटेडा`` (3 letters, 4 vowel
signs) was under the 4-character minimum and never searched for, and a decomposed ``Ménarda`` was never found."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from features.errors import ContractError, UserInputError
from features.fields import validate_fields, write_rejects
from features.identity import (
    hide_identifiers,
    hide_quoted_words,
    ids_naming_farmers,
    name_words,
    row_name_words,
)
from models.errors import MoneyError
from underwriting.applications import read_applications

DEVA_NAME = "वेन्ज़ु वेंटेडा"
DEVA_SURNAME = "वेंटेडा"  # 3 letters and 4 combining marks (Unicode Mn/Mc)
NFD_NAME = unicodedata.normalize("NFD", "Zoé Ménarda")
NFD_SURNAME = NFD_NAME.split()[1]
KEY = "a-test-key-of-16+chars"


@pytest.mark.parametrize("text", [DEVA_SURNAME, NFD_SURNAME, unicodedata.normalize("NFC", NFD_SURNAME)])
def test_a_word_with_marks_is_hidden_in_a_message(text: str) -> None:
    words = name_words(pd.DataFrame({"farmer_name": [DEVA_NAME, unicodedata.normalize("NFC", NFD_NAME)]}))
    msg = f"region '{text}' has no season window"
    assert hide_quoted_words(msg, words) == "region '<personal data>' has no season window"
    assert hide_identifiers(msg, set(words)) == "region '<personal data>' has no season window"


def test_a_whole_name_with_marks_is_hidden_and_the_message_around_it_kept() -> None:
    for name, typed in ((DEVA_NAME, DEVA_NAME), (unicodedata.normalize("NFC", NFD_NAME), NFD_NAME),
                        (NFD_NAME, unicodedata.normalize("NFC", NFD_NAME))):
        assert hide_identifiers(f"found '{typed}' at A1", {name}) == "found '<personal data>' at A1"
    # a longer word holding the surname is another word; the word before it keeps its own marks
    assert hide_identifiers(f"'{DEVA_SURNAME}ओं'", {DEVA_SURNAME}) == f"'{DEVA_SURNAME}ओं'"
    assert hide_identifiers(f"'वेन्ज़ु-{DEVA_SURNAME}'", {DEVA_SURNAME}) == "'वेन्ज़ु-<personal data>'"


def test_an_id_holding_a_word_with_marks_of_its_farmers_name_is_found() -> None:
    own = row_name_words(pd.DataFrame({"farmer_name": [DEVA_NAME, NFD_NAME, DEVA_NAME]}))
    # "Zoé" is 3 letters however typed (the NFD form's accent is composed, not counted): under the minimum
    assert DEVA_SURNAME in own[0] and own[1] == {unicodedata.normalize("NFC", "ménarda")}
    ids = [f"L-{DEVA_SURNAME}-1", f"L-{unicodedata.normalize('NFC', NFD_SURNAME)}-2", f"L-{DEVA_SURNAME}ओं-3"]
    assert ids_naming_farmers(ids, set(), own) == [0, 1]
    assert ids_naming_farmers([f"A-{NFD_NAME.replace(' ', '-')}"], {unicodedata.normalize("NFC", NFD_NAME)}) == [0]


def _apps(tmp_path: Path, **cells: str) -> Path:
    df = pd.DataFrame({"application_id": ["A1", "A2"], "national_id": ["ID-555", "ID-444"],
                       "farmer_name": [DEVA_NAME, NFD_NAME], "season": ["2024"] * 2,
                       "currency": ["INR"] * 2, "requested_amount": ["5000"] * 2, "requested_term_days": [200] * 2,
                       "existing_debt": [0] * 2, "debt_due_this_cycle": [0] * 2, "other_income": [0] * 2,
                       "living_costs": [0] * 2, "unfinanced_costs": [0] * 2, "prior_liens_on_crop": [0] * 2})
    for k, v in cells.items():
        col, row = k.rsplit("_", 1)
        df.loc[int(row), col] = v
    p = tmp_path / "a.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("surname", [DEVA_SURNAME, NFD_SURNAME])
def test_a_surname_with_marks_typed_as_an_amount_is_not_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                surname: str) -> None:
    """app_deva_amt.csv: ``requested_amount of A2009-00001: expected a number, found 'वेंटेडा'``."""
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    with pytest.raises(MoneyError, match=r"requested_amount of A2: expected a number, found '<personal data>'") as e:
        read_applications(_apps(tmp_path, requested_amount_1=surname))
    assert surname not in str(e.value) and unicodedata.normalize("NFC", surname) not in str(e.value)


@pytest.mark.parametrize("surname", [DEVA_SURNAME, unicodedata.normalize("NFC", NFD_SURNAME)])
def test_an_application_id_holding_its_farmers_surname_with_marks_is_refused(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              surname: str) -> None:
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    row = 0 if surname == DEVA_SURNAME else 1
    with pytest.raises(ContractError, match=rf"column 'application_id'.*personal data at line {row + 2}") as e:
        read_applications(_apps(tmp_path, **{f"application_id_{row}": f"A-{surname}"}))
    assert surname not in str(e.value)


def _fields() -> gpd.GeoDataFrame:
    rows = [{"field_id": f"f{i}", "season": "2024", "declared_crop": "maize", "declared_area_ha": 4.0,
             "national_id": f"ID-1000000{i}", "farmer_name": n, "phone": f"+91 98765 4321{i}",
             "region": "in-smallholder", "geometry": box(500_000 + i * 300, 4_480_000, 500_200 + i * 300, 4_480_200)}
            for i, n in enumerate([DEVA_NAME, NFD_NAME, "Asha Devi"])]
    return gpd.GeoDataFrame(rows, crs="EPSG:32644")


@pytest.mark.parametrize("surname", [DEVA_SURNAME, NFD_SURNAME])
def test_a_surname_with_marks_typed_as_the_region_is_neither_in_the_message_nor_the_rejects_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, surname: str) -> None:
    """f9_deva_region.gpkg: ``region 'वेंटेडा' has no season window`` in the message and the rejects CSV."""
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", KEY)
    gdf = _fields()
    gdf.loc[2, "region"] = surname  # another farmer's surname, on Asha Devi's row
    with pytest.raises(UserInputError, match=r"region '<personal data>' of fields f2 has no season window") as e:
        validate_fields(gdf, source="f.gpkg", need=("region",))
    res = validate_fields(gdf, source="f.gpkg", need=("region",), set_aside=True)
    out = tmp_path / "rejects.csv"
    write_rejects(res.set_aside, out)
    text = out.read_text(encoding="utf-8")
    assert "region '<personal data>' has no season window" in text
    for shown in (str(e.value), text):
        assert surname not in shown and unicodedata.normalize("NFC", surname) not in shown
