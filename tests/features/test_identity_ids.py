"""Ids kept in the permanent records never hold a farmer's name, ID or phone (features.identity.ids_naming_farmers),
and ordinary ids are not refused because some other farmer's name shares a word with them."""

from __future__ import annotations

import pandas as pd

from features.identity import (
    hide_identifiers,
    hide_quoted_words,
    ids_naming_farmers,
    phone_forms,
    row_name_words,
    rows_holding_identifiers,
    table_identifiers,
)


def test_an_id_holding_a_farmers_identifier_or_a_word_of_its_own_farmers_name_is_found() -> None:
    whole = {"Wenzu Wenteda", "0000 0271 8677", "+91-00000-18677"}
    ids = ["L-Wenzu-Wenteda", "WenzuWenteda", "L-000002718677", "Wenteda", "F0001", "L2009-00001"]
    own = [frozenset()] * 3 + [frozenset({"wenzu", "wenteda"}), frozenset({"wenzu"}), frozenset()]
    assert ids_naming_farmers(ids, whole, own) == [0, 1, 2, 3]


def test_a_word_of_another_farmers_name_is_no_leak() -> None:
    """A review: with farmers named Rice Devi, Field Kumar and Ramesh North, fields `RICE-12`, `Field-7`,
    `North-Field-3` of other farmers were refused (every command on the file, exit 2)."""
    df = pd.DataFrame({"field_id": ["RICE-12", "Field-7", "North-Field-3", "Devi-2"],
                       "farmer_name": ["Ana Lima", "Ana Lima", "Ana Lima", "Rice Devi"],
                       "national_id": ["1", "1", "1", "2"]})
    assert rows_holding_identifiers(df, "field_id") == [3]  # Rice Devi's own field named after her
    assert row_name_words(df)[3] == frozenset({"rice", "devi"})


def test_a_quoted_column_name_is_not_taken_for_a_name_word() -> None:
    """'field_id' was shown as '<personal data>' when a farmer was called Field (the column unknown to the user)."""
    msg = "fields.gpkg: column 'field_id': expected a reference, found 'Kumar'"
    assert hide_quoted_words(msg, {"field", "kumar"}) == ("fields.gpkg: column 'field_id': expected a reference, "
                                                          "found '<personal data>'")


def test_a_phone_written_as_at_home_is_the_same_phone() -> None:
    """A review: a field id holding a farmer's phone without its country code (``F-9876543210`` for
    ``+91 98765 43210``) was kept in the records; the country code is the number's ITU prefix."""
    assert phone_forms("+91 98765 43210") == {"9876543210", "09876543210"}
    assert phone_forms("0044 7700 900123") == {"7700900123", "07700900123"}
    assert phone_forms("+1 (402) 555-0147") == {"4025550147", "04025550147"}
    assert phone_forms("+880 1712 345678") == {"1712345678", "01712345678"}  # a three-digit code
    assert phone_forms("98765 43210") == set() and phone_forms("+91 12345") == set()  # not international; too short
    assert phone_forms("+354 555 1234") == set()  # a 7-digit plan: its number alone is an ordinary parcel id too
    df = pd.DataFrame({"field_id": ["F-9876543210", "098765-43210", "F-98765", "F0001"],
                       "farmer_name": ["Ana Lima"] * 4, "national_id": ["1"] * 4, "phone": ["+91 98765 43210"] * 4})
    assert rows_holding_identifiers(df, "field_id") == [0, 1]
    assert "9876543210" not in hide_identifiers("found 'F 98765 43210' at row 2", table_identifiers(df))


def test_a_chinese_or_korean_name_is_long_enough_to_be_searched() -> None:
    """A review: `L-王小明` (the farmer's whole name, three Han characters) was kept as a Book line id and `'王小明'`
    quoted — under 4 characters, never searched; a wide character counts twice."""
    whole = {"王小明", "김민"}
    assert ids_naming_farmers(["L-王小明", "L-김민-2", "L2009-00001"], whole) == [0, 1]
    assert "王小明" not in hide_quoted_words("currency of A1: found '王小明'", {"王小明"})
    assert "王小明" not in hide_identifiers("found '王小明' at row 2", whole)
