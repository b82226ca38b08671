"""Farmers' personal data stays out of override records and out of error messages that echo an argument."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from pipelines.cli import app
from underwriting._pii_text import (
    EMAIL,
    FARMER_NAME,
    FARMER_NUMBER,
    OTHER_FARMER_NAME,
    OTHER_FARMER_NUMBER,
    PHONE_OR_ID,
    KnownIdentifiers,
    looks_like_reference,
    personal_data_kind,
    shown_argument,
)
from underwriting.override import OverrideError, OverridePersonalDataError, override
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore

runner = CliRunner()

NAME, NATIONAL_ID, PHONE = "Wenzu Wenteda", "0000 0271 8677", "+91-00000-18677"
OTHER_NAME, OTHER_ID, OTHER_PHONE = "Dalo Kakaka", "0000 0691 1666", "+91-00000-11666"
#: what must never be printed, in the forms it could be printed
SECRETS = (NAME, "Wenzu", "Wenteda", NATIONAL_ID, "271 8677", "00000-18677", "18677", OTHER_NAME, "Kakaka",
           OTHER_ID, "11666")


def _no_secret(*texts: str) -> None:
    for text in texts:
        low = text.casefold()
        leaked = [s for s in SECRETS if s.casefold() in low]
        assert not leaked, f"personal data echoed: {leaked}"


def _item(app_id: str, token: str, limit: int = 1_600_000) -> DecisionItem:
    body = {"application": {"application_id": app_id, "requested_amount": 2_000_000},
            "computation": {"requested_amount": 2_000_000, "limit": limit}, "limit": limit, "outcome": "REDUCE"}
    return DecisionItem(idempotency_key=f"k-{app_id}", application_id=app_id, farmer_token=token, season="2009",
                        as_of="2009-09-15", outcome="REDUCE", limit=limit, currency="INR",
                        reason_codes=("LOW_STRESSED_YIELD",), body=body)


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionStore(u) as s:
        s.append([_item("A2009-00001", "Fa0000000000000000001"), _item("A2009-00035", "Fb0000000000000000002")],
                 operator="batch")
    return u


@pytest.fixture
def applications(tmp_path: Path) -> Path:
    """The raw applications table with the identifier columns (as ``underwrite`` reads it)."""
    p = tmp_path / "applications.csv"
    pd.DataFrame({"application_id": ["A2009-00001", "A2009-00035"], "national_id": [NATIONAL_ID, OTHER_ID],
                  "farmer_name": [NAME, OTHER_NAME], "phone": [PHONE, OTHER_PHONE], "season": "2009",
                  "currency": "INR", "requested_amount": ["20000.00", "20000.00"]}).to_csv(p, index=False)
    return p


def _count(url: str) -> int:
    with DecisionStore(url) as s:
        return s.count()


def _override(url: str, app_id: str, reason: str, *extra: str) -> tuple[int, str]:
    res = runner.invoke(app, ["override", app_id, "--limit", "16500", "--reason", reason, "--operator", "aud",
                              "--store", url, *extra])
    return res.exit_code, res.stdout + res.stderr


# --- the screening ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind", [
    (f"called {NAME} on {PHONE}", PHONE_OR_ID),
    (NATIONAL_ID, PHONE_OR_ID),
    ("id 0000/0271/8677", PHONE_OR_ID),
    ("call (+91) 98765 43210", PHONE_OR_ID),
    ("9876543", PHONE_OR_ID),
    ("phone 98.76.54.32.10", PHONE_OR_ID),
    ("mail farmer.one@example.org", EMAIL),
    ("field visit confirms area", None),
    ("visit on 2009-09-15, 12 fields, limit 16500.00", None),
    ("visit 15.09.2009: raised to 1,650,000", None),
    ("123456 is six digits", None),
])
def test_generic_personal_data(text: str, kind: str | None) -> None:
    assert personal_data_kind(text) == kind


def test_known_identifiers_by_kind() -> None:
    known = KnownIdentifiers.build(names=[OTHER_NAME], numbers=[OTHER_ID, OTHER_PHONE], other_names=[NAME],
                                   other_numbers=[NATIONAL_ID, PHONE])
    assert personal_data_kind("spoke with dalo   KAKAKA", known) == FARMER_NAME
    assert personal_data_kind("Kakaka confirmed", known) == FARMER_NAME  # a part of the farmer's own name
    assert personal_data_kind("Kakaka confirmed", known, generic=False) is None
    assert personal_data_kind("number 0000-0691-1666", known) == FARMER_NUMBER
    assert personal_data_kind("tel 00000 11666", known) == FARMER_NUMBER  # without the country code
    assert personal_data_kind(f"called {NAME.upper()}", known) == OTHER_FARMER_NAME
    assert personal_data_kind("Wenzu alone", known) is None  # other farmers only by their full name
    assert personal_data_kind("0000.0271.8677", known, generic=False) == OTHER_FARMER_NUMBER
    assert personal_data_kind("program 2009 review", known) is None


@pytest.mark.parametrize("arg, shown", [
    ("A2009-00035", True), ("Fa0000000000000000001", True), ("NOPE", True),
    (NAME, False), (NATIONAL_ID, False), ("000002718677", False), ("0000-0271-8677", False), (PHONE, False),
    ("a@b.org", False), ("x" * 65, False), ("", False),
])
def test_looks_like_reference(arg: str, shown: bool) -> None:
    assert looks_like_reference(arg) is shown
    assert shown_argument(arg, "the application given") == (arg if shown else "the application given")


# --- override: refused before anything is written --------------------------------------------------------

def test_cli_refuses_a_phone_in_the_reason_without_echoing_it(url: str) -> None:
    code, out = _override(url, "A2009-00035", f"called {NAME} on {PHONE}")
    assert code == 2
    assert "the reason contains a phone or ID number" in out and "must not hold personal data" in out
    _no_secret(out)
    assert _count(url) == 2


@pytest.mark.parametrize("reason, kind", [
    (f"called {NAME}", OTHER_FARMER_NAME),
    ("spoke with dalo  kakaka", FARMER_NAME),
    ("their number is 0000/0691/1666", FARMER_NUMBER),
    ("mail field.office@example.org", EMAIL),
    (NATIONAL_ID, OTHER_FARMER_NUMBER),
])
def test_cli_refuses_the_farmers_identifiers_with_applications(url: str, applications: Path, reason: str,
                                                              kind: str) -> None:
    code, out = _override(url, "A2009-00035", reason, "--applications", str(applications))
    assert code == 2 and f"the reason contains {kind};" in out
    _no_secret(out)
    assert _count(url) == 2


def test_cli_a_clean_reason_is_written(url: str, applications: Path) -> None:
    code, out = _override(url, "A2009-00035", "field visit on 2009-09-15 confirms the area",
                          "--applications", str(applications))
    assert code == 0, out
    assert _count(url) == 3


def test_cli_applications_without_the_application(url: str, tmp_path: Path) -> None:
    p = tmp_path / "other.csv"
    pd.DataFrame({"application_id": ["A2009-00999"], "farmer_name": [NAME], "national_id": [NATIONAL_ID]}).to_csv(
        p, index=False)
    code, out = _override(url, "A2009-00035", "visit", "--applications", str(p))
    assert code == 2 and "other.csv: no row for this application" in out
    _no_secret(out)
    tokenised = tmp_path / "tokenised.csv"
    pd.DataFrame({"application_id": ["A2009-00035"], "farmer_token": ["Fb0000000000000000002"]}).to_csv(
        tokenised, index=False)
    code, out = _override(url, "A2009-00035", "visit", "--applications", str(tokenised))
    assert code == 2 and "expected the columns application_id and farmer_name, national_id or phone" in out
    assert _count(url) == 2


def test_library_refuses_operator_and_approver_that_are_a_farmer(url: str, applications: Path) -> None:
    with pytest.raises(OverridePersonalDataError, match="the operator contains the farmer's name") as e:
        override(url, "A2009-00035", "16500", "visit", OTHER_NAME.lower(), applications=applications)
    assert e.value.kind == FARMER_NAME and e.value.item == "operator"
    _no_secret(str(e.value))
    with pytest.raises(OverridePersonalDataError, match="the approver contains another farmer's national ID"):
        override(url, "A2009-00035", "99000", "visit", "ana", approver=PHONE, applications=applications)
    with pytest.raises(OverridePersonalDataError, match="the reason contains an e-mail address"):
        override(url, "A2009-00035", "16500", "ask a@b.org", "ana")
    assert _count(url) == 2
    table = pd.read_csv(applications, dtype=str)  # the table itself works as well as its file
    with pytest.raises(OverridePersonalDataError, match="the reason contains the farmer's name"):
        override(url, "A2009-00035", "16500", "Dalo Kakaka said so", "ana", applications=table)
    assert _count(url) == 2


def test_override_does_not_echo_a_name_given_as_the_application(url: str) -> None:
    with pytest.raises(OverrideError, match=r"^override of the application given: no stored decision") as e:
        override(url, NAME, "16500", "visit", "ana")
    _no_secret(str(e.value))
    code, out = _override(url, NATIONAL_ID, "visit")
    assert code == 2 and "override of the application given" in out
    _no_secret(out)
    with pytest.raises(OverrideError, match="override of application A2009-00035: no stored decision on or before "
                                            "2009-09-01"):  # a stored id, decided later: named
        override(url, "A2009-00035", "16500", "visit", "ana", as_of="2009-09-01")
    # matching no stored id: never named, whatever its shape (an id's, a one-word name's, a phone's)
    for word in ("A2009-00404", "NOPE", "Wenzu", "00000_18677"):
        with pytest.raises(OverrideError, match=r"^override of the application given: no stored decision .*\(give "
                                                r"an application id as in the decision records \(shaped like "
                                                r"A9999-99999\), not a name") as e:
            override(url, word, "16500", "visit", "ana")
        _no_secret(str(e.value))
        assert word not in str(e.value)
        assert "matches none of the 2 application ids of the data" in str(e.value)
        assert "list them with `agcredit decisions export --out FILE` (column application_id)" in str(e.value)


# --- explain and report farmer: the argument is not echoed unless it looks like an id ----------------------

@pytest.mark.parametrize("arg", [NAME, NATIONAL_ID, PHONE])
def test_cli_explain_does_not_echo_personal_data(url: str, arg: str) -> None:
    res = runner.invoke(app, ["explain", arg, "--store", url])
    assert res.exit_code == 2
    assert "explain the application given: no stored decision" in res.stderr
    assert "not a name, phone or ID number" in res.stderr
    _no_secret(res.stdout, res.stderr)


@pytest.mark.parametrize("arg", ["Wenzu", "wenteda", "00000_18677", "0000018677ph", "tel0000018677", "NOPE"])
def test_cli_explain_does_not_echo_a_one_word_name_or_a_phone_with_other_separators(url: str, arg: str) -> None:
    """A farmer's name typed alone as one word, or a phone written with separators the number test does not drop
    (``_``, letters around it), looked like a reference and was echoed ("explain Wenzu: no stored decision"): an
    argument in none of the stored application ids' shapes is not shown; the message says the shape expected."""
    res = runner.invoke(app, ["explain", arg, "--store", url])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "explain the application given: no stored decision" in res.stderr
    assert "(give an application id as in the decision records (shaped like A9999-99999), not a name" in res.stderr
    _no_secret(res.stdout, res.stderr)
    assert arg not in res.stdout + res.stderr


def test_reference_shapes() -> None:
    from underwriting._pii_text import reference_shape, shown_reference

    assert reference_shape(" A2009-00035 ") == "A9999-99999" and reference_shape("Fab12") == "Aaa99"
    shapes = {reference_shape("A2009-00035")}
    assert shown_reference("P2010-12345", shapes) and shown_reference("A2009-00404", shapes)
    assert not any(shown_reference(v, shapes) for v in ("Wenzu", "A2009 00404", "+91-00000-18677", "98765_43210",
                                                          "A2009-0040", "2009-00404"))
    assert not shown_reference("A2009-00404", set())  # an empty store: nothing to compare with, nothing shown


def test_explain_names_a_stored_application_id_only(url: str) -> None:
    """An id of the records' shape matching none of them was echoed ("explain A2009-00404: no stored decision"): a
    bank's ids may be any word, and a name typed there could be in their shape — only a stored id is named."""
    res = runner.invoke(app, ["explain", "A2009-00404", "--store", url])
    assert res.exit_code == 2 and "explain the application given: no stored decision" in res.stderr
    assert "A2009-00404" not in res.stdout + res.stderr and "matches none of the 2 application ids" in res.stderr
    res = runner.invoke(app, ["explain", "A2009-00035", "--as-of", "2009-09-01", "--store", url])
    assert res.exit_code == 2 and "explain A2009-00035: no stored decision on or before 2009-09-01" in res.stderr


@pytest.mark.parametrize("arg", [NAME, NATIONAL_ID, PHONE])
def test_cli_report_farmer_refuses_a_name_or_number_first(tmp_path: Path, arg: str) -> None:
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", "farmer", arg, "--out", str(out), "--county", str(tmp_path / "nowhere")])
    assert res.exit_code == 2
    assert "the farmer given is neither a farmer token nor an application id" in res.stderr
    _no_secret(res.stdout, res.stderr)
    assert not out.exists()


def _report_data() -> object:
    from pipelines.report import ReportData

    fields = gpd.GeoDataFrame({"field_id": ["f0"], "season": "2009", "farmer_token": ["Fa"], "crop": ["maize"],
                               "geometry": [box(500_000, 4_480_000, 500_300, 4_480_300)]}, crs=32614)
    recs = pd.DataFrame({"application_id": ["A1"], "farmer_token": ["Fa"], "season": "2009", "as_of": ["2009-09-15"],
                         "outcome": ["REDUCE"], "limit": [100_000], "currency": "INR", "reason_codes": [""],
                         "body": [json.dumps({})]})
    return ReportData(season="2009", decisions=recs, fields=fields)


def test_render_farmer_does_not_echo_personal_data(tmp_path: Path) -> None:
    from features.errors import UserInputError
    from pipelines.report import render_farmer

    data = _report_data()
    with pytest.raises(UserInputError, match="no decision for the farmer given in season 2009") as e:
        render_farmer(data, NAME, tmp_path)  # type: ignore[arg-type]
    _no_secret(str(e.value))
    # a one-word token matching no farmer was echoed ("no decision for farmer Fnobody"): a bank's tokens may be any
    # word, and a surname or first name typed there is personal data — never named, whatever its shape
    for word in ("Fnobody", NAME.split()[1], "wenzu"):
        with pytest.raises(UserInputError, match=r"no decision for the farmer given in season 2009 \(give the "
                                                 r"farmer's pseudonymous token as in the decision records \(shaped "
                                                 r"like Aa\), not a name, phone or ID number: the one given matches "
                                                 r"none of the 1 farmer tokens of the data and is not repeated here; "
                                                 r"list them with `agcredit decisions export") as e:
            render_farmer(data, word, tmp_path)  # type: ignore[arg-type]
        assert word not in str(e.value) and str(len(word)) not in str(e.value)
    import dataclasses

    undecided = dataclasses.replace(data, decisions=data.decisions.iloc[0:0])  # type: ignore[type-var]
    with pytest.raises(UserInputError, match="no decision for farmer Fa in season 2009"):  # a token of the data
        render_farmer(undecided, "Fa", tmp_path)  # type: ignore[arg-type]


def test_report_farmer_takes_an_application_id() -> None:
    from pipelines._cli_report import _farmer_token_of

    data = SimpleNamespace(decisions=pd.DataFrame({"application_id": ["A1", "A2"], "farmer_token": ["Fa", "Fb"]}))
    assert _farmer_token_of(data, "A2") == "Fb"
    assert _farmer_token_of(data, "Fa") == "Fa"
    assert _farmer_token_of(data, "Fz") == "Fz"


@pytest.mark.parametrize("column", ["farmer_nmae", "Farmer Name", "nationalid", "phone_no"])
def test_cli_a_misspelt_identifier_column_is_refused_not_left_unscreened(url: str, applications: Path,
                                                                        column: str) -> None:
    # `farmer_nmae` was not screened: a reason naming the farmer was written into the permanent record
    table = pd.read_csv(applications, dtype=str)
    target = {"farmer_nmae": "farmer_name", "Farmer Name": "farmer_name", "nationalid": "national_id",
              "phone_no": "phone"}[column]
    table.rename(columns={target: column}).to_csv(applications, index=False)
    code, out = _override(url, "A2009-00035", f"{OTHER_NAME} said so", "--applications", str(applications))
    assert code == 2 and f"column '{column}' looks like {target} misspelt" in out, out
    _no_secret(out)
    assert _count(url) == 2


@pytest.mark.parametrize("column", ["farm_id", "farmer_age", "farm_name", "farmer_type", "phone_type"])
def test_another_column_named_near_an_identifier_is_not_refused_as_misspelt(column: str) -> None:
    """`farm_id`, `farmer_age` or `farm_name` is another column, not farmer_id / farmer_name misspelt: refusing it
    told the analyst to rename it to the identifier (then screened as a name or an ID)."""
    from underwriting.override import _refuse_misspelt_identifiers

    table = pd.DataFrame({"application_id": ["A1"], "phone": ["+1 402 555 0100"], column: ["x"]})
    _refuse_misspelt_identifiers(table, "apps.csv", "A1")  # nothing raised
    with pytest.raises(OverrideError, match="'farmer_nmae' looks like farmer_name misspelt"):
        _refuse_misspelt_identifiers(table.assign(farmer_nmae="x"), "apps.csv", "A1")


# --- an alphanumeric national ID has a reference's shape: recognised by its keyed token (privacy audit H1) ------

ALNUM_ID = "ABCDE1234F"  # a PAN-like national ID: one word, 4 digits — looks like an application id


@pytest.fixture
def keyed_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from features.identity import farmer_token

    key = "h1-test-token-key-0123"
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", key)
    u = f"sqlite:///{tmp_path / 'k.db'}"
    with DecisionStore(u) as s:
        s.append([_item("A2009-00001", farmer_token(ALNUM_ID, key.encode()))], operator="batch")
    return u


def test_explain_and_override_do_not_echo_a_farmers_alphanumeric_id(keyed_url: str) -> None:
    assert looks_like_reference(ALNUM_ID)  # its shape alone would let it be echoed
    res = runner.invoke(app, ["explain", ALNUM_ID, "--store", keyed_url])
    assert res.exit_code == 2 and "explain the application given: no stored decision" in res.stderr
    assert ALNUM_ID not in res.stdout + res.stderr
    with pytest.raises(OverrideError, match=r"^override of the application given: no stored decision") as e:
        override(keyed_url, ALNUM_ID, "16500", "visit", "ana")
    assert ALNUM_ID not in str(e.value)
    res = runner.invoke(app, ["explain", "A2009-00001", "--as-of", "2009-09-01", "--store", keyed_url])
    assert res.exit_code == 2 and "explain A2009-00001: no stored decision" in res.stderr  # a stored id is named


def test_render_farmer_does_not_echo_a_farmers_alphanumeric_id(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from features.errors import UserInputError
    from features.identity import farmer_token
    from pipelines.report import render_farmer

    key = "h1-test-token-key-0123"
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", key)
    data = _report_data()
    tok = farmer_token(ALNUM_ID, key.encode())
    data = dataclasses.replace(data, fields=data.fields.assign(farmer_token=tok))  # type: ignore[type-var]
    with pytest.raises(UserInputError, match="no decision for the farmer given in season 2009") as e:
        render_farmer(data, ALNUM_ID, tmp_path)  # type: ignore[arg-type]
    assert ALNUM_ID not in str(e.value) and "is not repeated here" in str(e.value)
    with pytest.raises(UserInputError, match="no decision for the farmer given in season 2009") as e:
        render_farmer(data, "Fnobody", tmp_path)  # type: ignore[arg-type]
    assert "Fnobody" not in str(e.value)


def test_names_a_farmer_needs_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from features.identity import farmer_token, names_a_farmer

    monkeypatch.delenv("AGCREDIT_TOKEN_KEY", raising=False)
    assert not names_a_farmer(ALNUM_ID, lambda t: True)
    monkeypatch.setenv("AGCREDIT_TOKEN_KEY", "h1-test-token-key-0123")
    tok = farmer_token(ALNUM_ID, b"h1-test-token-key-0123")
    assert names_a_farmer(ALNUM_ID, {tok}.__contains__) and not names_a_farmer("A2009-00001", {tok}.__contains__)
