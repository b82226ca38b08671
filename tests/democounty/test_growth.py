"""AquaCrop growth: yields within published ranges per crop and region, varieties, canopy shape."""

from __future__ import annotations

import numpy as np
import pytest

from democounty._growth import Condition, make_pool, run_condition, run_pool
from democounty._presets import MOISTURE_PCT

# published ranges (t/ha at market moisture) for the mean of a small pool of conditions
RANGES = {
    ("us-nebraska", "maize", True): (11.0, 15.0),
    ("us-nebraska", "maize", False): (5.0, 11.0),
    ("us-nebraska", "soybean", True): (3.3, 5.0),
    ("us-nebraska", "soybean", False): (2.0, 4.5),
    ("us-nebraska", "winter_wheat", False): (2.0, 6.0),
    ("us-nebraska", "sorghum", False): (3.0, 8.5),
    ("in-smallholder", "rice", True): (3.0, 6.0),
    ("in-smallholder", "maize", False): (2.0, 6.0),
    ("in-smallholder", "cotton", False): (1.0, 3.0),
}


@pytest.fixture(scope="module")
def pools() -> dict[str, tuple[list[Condition], dict]]:
    out = {}
    for region, seasons in (("us-nebraska", [2013, 2016]), ("in-smallholder", [2005, 2008])):
        pool = make_pool(region, seasons, 3, np.random.default_rng(5))
        out[region] = (pool, run_pool(pool, workers=2))
    return out


def _market(cond: Condition, res) -> float:
    return res.yield_dry_t_ha / (1 - MOISTURE_PCT[cond.crop] / 100)


@pytest.mark.parametrize("key", sorted(RANGES))
def test_pool_mean_yield_in_published_range(pools, key) -> None:
    region, crop, irrigated = key
    pool, res = pools[region]
    ys = [_market(c, res[c.condition_id]) for c in pool if c.crop == crop and c.irrigated == irrigated]
    assert ys, f"no {crop} irrigated={irrigated} condition in the pool"
    lo, hi = RANGES[key]
    assert lo <= float(np.mean(ys)) <= hi, (key, ys)
    assert max(ys) <= hi * 1.35 and min(ys) >= 0.0


def test_phenology_and_canopy_are_consistent(pools) -> None:
    for pool, res in pools.values():
        for c in pool:
            r = res[c.condition_id]
            assert r.sowing <= r.emergence < r.maturity
            assert r.flowering is None or r.emergence <= r.flowering <= r.maturity
            assert len(r.green) == (r.maturity - r.sowing).days + 1
            assert 0.05 < float(r.green.max()) <= 1.0 and float(r.green.min()) >= 0.0
            assert r.variety.split(" ")[0] in ("MaizeGDD", "SoybeanGDD", "WheatGDD", "SorghumGDD", "PaddyRiceGDD",
                                               "CottonGDD")


def test_winter_wheat_spans_two_years_and_soybean_is_an_earlier_variety(pools) -> None:
    pool, res = pools["us-nebraska"]
    wheat = [res[c.condition_id] for c in pool if c.crop == "winter_wheat"]
    assert all(r.sowing.year == r.maturity.year - 1 and r.sowing.month >= 9 for r in wheat)
    assert all(6 <= r.maturity.month <= 8 for r in wheat)
    soy = [res[c.condition_id] for c in pool if c.crop == "soybean"]
    assert all(r.variety.startswith("SoybeanGDD x0.") for r in soy)


def test_management_limits_canopy_and_yield(pools) -> None:
    pool, _ = pools["in-smallholder"]
    base = next(c for c in pool if c.crop == "rice")
    from dataclasses import replace

    lo = run_condition(replace(base, condition_id="lo", ccx_scale=0.6))
    hi = run_condition(replace(base, condition_id="hi", ccx_scale=1.0))
    assert lo.green.max() < hi.green.max() - 0.1
    assert lo.yield_dry_t_ha < hi.yield_dry_t_ha


def test_pool_is_reproducible_and_ids_unique() -> None:
    a = make_pool("us-nebraska", [2015, 2016], 4, np.random.default_rng(9))
    b = make_pool("us-nebraska", [2015, 2016], 4, np.random.default_rng(9))
    assert a == b and len({c.condition_id for c in a}) == len(a) == 2 * 4 * 4
    irrigated_maize = [c for c in a if c.crop == "maize" and c.irrigated]
    assert len(irrigated_maize) == 4  # half of maize conditions, both seasons
    assert all(60 <= c.init_water_pct <= 100 for c in a)
