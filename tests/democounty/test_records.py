"""Records and traps: rates as configured, records pass the contracts after tokenising, no real identifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from democounty import TRAP_RATES, simulate
from democounty._growth import Condition, GrowthResult, make_pool
from democounty._presets import PRESETS
from democounty._truth import make_truth
from features.contracts import check_fields
from features.identity import tokenise


def _fake_results(pool: list[Condition]) -> dict[str, GrowthResult]:
    """Stand-in AquaCrop results (a bell-shaped canopy) so trap rates can be counted on many fields fast."""
    out = {}
    for c in pool:
        n = 120
        green = (0.9 * np.sin(np.linspace(0, np.pi, n)) ** 2).astype(np.float32)
        out[c.condition_id] = GrowthResult(c.condition_id, "fake", c.sowing, c.sowing + pd.Timedelta(days=10).to_pytimedelta(),
                                           c.sowing + pd.Timedelta(days=60).to_pytimedelta(),
                                           c.sowing + pd.Timedelta(days=n - 1).to_pytimedelta(), green, 8.0, 10.0)
    return out


@pytest.mark.parametrize("region", ["us-nebraska", "in-smallholder"])
def test_trap_rates_as_configured(region: str) -> None:
    pre = PRESETS[region]
    seasons = [pre.current_season - 1, pre.current_season]
    pool = make_pool(region, seasons, 2, np.random.default_rng(1))
    ids = [f"F{i:05d}" for i in range(3000)]
    truth = make_truth(pre, ids, seasons, pool, _fake_results(pool), np.random.default_rng(2))
    declared = [fs for fs in truth if fs.declared_crop is not None]
    n = len(declared)
    for trap in ("partly_planted", "crop_mismatch", "never_planted", "failure"):
        k = sum(trap in fs.events for fs in declared)
        # never_planted removes the field-season from the others' base; allow 4 binomial s.d. plus that
        p = TRAP_RATES[trap]
        assert abs(k / n - p) < 4 * np.sqrt(p * (1 - p) / n) + p * TRAP_RATES["never_planted"], (trap, k, n)
    overlap_fields = {fs.field_id for fs in truth if "overlap" in fs.events}
    p = TRAP_RATES["overlap"]
    assert abs(len(overlap_fields) / len(ids) - p) < 4 * np.sqrt(p * (1 - p) / len(ids))
    for fs in truth:
        if "never_planted" in fs.events:
            assert not fs.planted and fs.true_crop == "fallow" and fs.declared_crop is not None
        if "crop_mismatch" in fs.events:
            assert fs.declared_crop != fs.true_crop
        if "failure" in fs.events:
            assert fs.yield_dry == 0.0 and fs.failure is not None and fs.harvest is None
            assert fs.green is not None and float(fs.green[-1]) == 0.0
        if "partly_planted" in fs.events:
            assert 0.35 <= fs.planted_fraction <= 0.8


def test_hidden_stress_is_not_a_function_of_the_canopy() -> None:
    pre = PRESETS["us-nebraska"]
    pool = make_pool("us-nebraska", [2018], 1, np.random.default_rng(1))
    truth = make_truth(pre, [f"F{i}" for i in range(2000)], [2018], pool, _fake_results(pool), np.random.default_rng(3))
    ok = [fs for fs in truth if fs.planted and fs.failure is None and fs.true_crop == "maize"]
    ratio = np.array([fs.yield_dry / (8.0 * float(fs.green.max()) / 0.9) for fs in ok])
    sd = float(np.std(np.log(ratio[ratio > 0.8])))
    assert 0.06 < sd < 0.16   # ~10% lognormal the canopy cannot show
    hail = sum("hail" in fs.events for fs in truth if fs.planted) / sum(fs.planted for fs in truth)
    assert 0.01 < hail < 0.06


@pytest.fixture(scope="module", params=["us-nebraska", "in-smallholder"])
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec") / request.param
    simulate(request.param, 4, "tiny", out, render=False, workers=1)
    return out


def test_fields_records_pass_contract_after_tokenise(county: Path) -> None:
    import geopandas as gpd

    raw = gpd.read_file(county / "records/fields.gpkg")
    assert {"national_id", "farmer_name", "phone"} <= set(raw.columns)
    tok = tokenise(raw, source="fields.gpkg")
    tok = gpd.GeoDataFrame(tok, geometry="geometry", crs=raw.crs)
    assert not {"national_id", "farmer_name", "phone"} & set(tok.columns)
    check_fields(tok, where="fields.gpkg")
    assert tok["farmer_token"].str.match(r"^F[0-9a-f]{20}$").all()
    from features.fields import read_fields

    res = read_fields(county / "records/fields.gpkg")
    assert len(res.fields) == len(raw) and not res.rejected


def test_applications_and_book_pass_the_readers(county: Path) -> None:
    from underwriting.applications import read_applications, read_book

    apps = read_applications(county / "records/applications.csv")
    assert len(apps) >= 1 and (apps["requested_amount"] > 0).all()
    assert set(apps["currency"]) == {PRESETS[county.name].currency}
    book_raw = pd.read_csv(county / "records/book.csv", dtype=str)
    if len(book_raw):
        book = read_book(county / "records/book.csv")
        assert (book["drawn"] <= book["limit"]).all()


def test_history_is_past_seasons_only_with_gaps_allowed(county: Path) -> None:
    h = pd.read_csv(county / "records/history.csv", dtype=str, keep_default_na=False)
    cur = PRESETS[county.name].current_season
    assert len(h) > 0 and (h["season"].astype(int) < cur).all()
    y = pd.to_numeric(h["reported_yield_t_ha"].replace("", np.nan))
    assert (y.dropna() >= 0).all()
    for col in ("sowing_date", "harvest_date"):
        ok = h[col] != ""
        assert pd.to_datetime(h.loc[ok, col], format="%Y-%m-%d").notna().all()


def test_identifiers_are_synthetic(county: Path) -> None:
    a = pd.read_csv(county / "records/applications.csv", dtype=str)
    if county.name == "us-nebraska":
        assert a["national_id"].str.match(r"^9\d\d-\d\d-\d{4}$").all()       # 9xx: never issued as an SSN
        assert a["phone"].str.match(r"^\+1-308-555-01\d\d$").all()          # fictional 555-01xx range
    else:
        assert a["national_id"].str.match(r"^[01]\d{3} \d{4} \d{4}$").all()  # Aadhaar never starts with 0/1
        assert a["phone"].str.startswith("+91-00000-").all()


def test_finances_scale_with_the_farm() -> None:
    from democounty._records import Farmer, applications_table
    from democounty._truth import FieldSeason

    pre = PRESETS["us-nebraska"]
    current = [FieldSeason(f"F{i}", 2018, "c", "maize", "maize", True, 1.0, True) for i in range(40)]
    areas = {fs.field_id: 10.0 * (1 + i // 2) for i, fs in enumerate(current)}
    farmers = [Farmer(j, "Kalo Mira", f"900-00-{j:04d}", "+1-308-555-0100", (2 * j, 2 * j + 1), 0.1, j % 4 == 0)
               for j in range(20)]
    apps, book = applications_table(pre, farmers, current, areas, {"maize": 12.0}, np.random.default_rng(0))
    price = next(c.price for c in pre.crops if c.name == "maize")
    by_id = {f"A2018-{f.index + 1:05d}": f for f in farmers}
    for r in apps.itertuples():
        f = by_id[r.application_id]
        rev = sum(areas[f"F{i}"] for i in f.field_idx) * 12.0 * price
        assert 0.29 * rev <= float(r.requested_amount) <= 0.71 * rev
        if f.indebted:
            assert float(r.debt_due_this_cycle) >= 0.49 * rev
        else:
            assert float(r.debt_due_this_cycle) <= 0.31 * rev
    assert len(apps) >= 12 and len(book) >= 3
    assert apps["requested_amount"].str.match(r"^\d+\.\d\d$").all()
