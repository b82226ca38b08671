"""Identifiers a spreadsheet rewrote in scientific notation are refused (features.identity.tokenise): their last
digits are lost, so a farmer matched none of their other files, and two farmers rounded to one value were merged
under one token — each decided on both farmers' fields, exit 0 (a walkthrough)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from features.errors import UserInputError
from pipelines.cli import app
from underwriting.applications import read_applications, read_book

HEADER = ("application_id,national_id,farmer_name,phone,season,currency,requested_amount,requested_term_days,"
          "existing_debt,debt_due_this_cycle,other_income,living_costs,unfinanced_costs,prior_liens_on_crop\n")


def test_two_farmers_rounded_to_one_value_are_refused_not_merged(tmp_path: Path) -> None:
    p = tmp_path / "apps.csv"
    p.write_text(HEADER + "A1,1.00000E+11,Ravi Kumar,,2024,INR,150000,180,0,0,0,90000,0,0\n"
                 "A2,1.00000E+11,Ravi Kumar,,2024,INR,90000,180,0,0,0,90000,0,0\n"
                 "A3,100005564684,Meera Patel,,2024,INR,90000,180,0,0,0,90000,0,0\n")
    with pytest.raises(UserInputError) as e:
        read_applications(p)
    msg = str(e.value)
    assert "column 'national_id'" in msg and "scientific notation" in msg and "line 2, line 3 (2 in all)" in msg
    assert "1.00000E+11" not in msg and "Ravi" not in msg and "\n" not in msg


@pytest.mark.parametrize("value", ["9.19876E+11", "1E+11", "1,00006E+11", " 1.2e-05 "])
def test_a_book_line_or_phone_basis_in_scientific_notation_is_refused(tmp_path: Path, value: str) -> None:
    p = tmp_path / "book.csv"
    p.write_text("line_id,application_id,phone,currency,limit,drawn,outstanding,start_date,maturity_date,crop,region\n"
                 f"L1,A1,\"{value}\",INR,50000,0,0,2024-04-01,2024-12-15,rice,in-smallholder\n")
    with pytest.raises(UserInputError, match=r"column 'phone': expected identifiers written out in full, found "
                       r"numbers in scientific notation .* at line 2 \(1 in all\)"):
        read_book(p)


def test_customer_keys_with_an_e_are_read(tmp_path: Path) -> None:
    p = tmp_path / "apps.csv"  # an unsigned exponent is no spreadsheet's: a bank's key such as 2023E0001
    p.write_text(HEADER + "A1,2023E0001,Ravi Kumar,,2024,INR,150000,180,0,0,0,90000,0,0\n"
                 "A2,ID-1E+5,Meera Patel,,2024,INR,90000,180,0,0,0,90000,0,0\n"
                 "A3,2024E-0007,Asha Rao,,2024,INR,90000,180,0,0,0,90000,0,0\n")  # a review: was refused
    assert len(read_applications(p)) == 3


def test_fields_validate_refuses_a_field_whose_farmer_id_was_rounded(tmp_path: Path) -> None:
    g = gpd.GeoDataFrame({"field_id": ["F1", "F2"], "season": ["2024"] * 2, "declared_crop": ["rice"] * 2,
                          "national_id": ["100005564684", "1.00006E+11"], "farmer_name": ["Ravi Kumar"] * 2,
                          "geometry": [box(0, 0, 100, 100), box(200, 0, 300, 100)]}, crs=32644)
    p = tmp_path / "fields.gpkg"
    g.to_file(p, driver="GPKG")
    for extra in ([], ["--rejects", str(tmp_path / "rej.csv")]):
        r = CliRunner().invoke(app, ["fields", "validate", str(p), *extra])
        assert r.exit_code == 2, r.output
        assert "column 'national_id'" in r.stderr and "scientific notation" in r.stderr and "row 2" in r.stderr
        assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr and "1.00006E" not in r.stderr
    assert not (tmp_path / "rej.csv").exists()
