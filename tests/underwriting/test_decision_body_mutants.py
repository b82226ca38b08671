"""underwriting._decision_body — mutation audit: each test pins a behaviour a surviving mutant changed (the order of a
decision's reasons), on hand-built inputs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from underwriting._decision_body import _reasons
from underwriting.policy import default_policy


def _field(code: str | None = None, *, area_not_verified: bool = False) -> Any:
    """What :func:`_reasons` reads of a field's result."""
    return SimpleNamespace(codes=(code,) if code else (), area_not_verified=area_not_verified, included=True,
                           basis="in_season")


def test_reasons_are_largest_reduction_first_then_waterfall_order_with_codes_outside_it_first() -> None:
    """Largest reduction first; on a tie (here none) the waterfall's order, a code the waterfall did not charge (a
    refer reason, a field's code) before every code it charged nothing; the first four principal."""
    policy = default_policy()
    steps = [("AREA_NOT_VERIFIED", 0), ("CROP_MISMATCH", 500), ("PRICE_VOLATILITY_HAIRCUT", 0),
             ("LOW_STRESSED_YIELD", 1000), ("ROUNDED_TO_STEP", 7), ("CROP_MISMATCH", 100)]
    got = _reasons(steps, [_field(area_not_verified=True), _field("PRICE_VOLATILITY_HAIRCUT")],
                   ["NO_FIELDS_FOUND", "FAILING_AREA_SHARE"], policy)  # FAILING_AREA_SHARE has no reason text
    assert [(r["code"], r["reduction"], r["principal"]) for r in got] == [
        ("LOW_STRESSED_YIELD", 1000, True), ("CROP_MISMATCH", 600, True), ("ROUNDED_TO_STEP", 7, True),
        ("NO_FIELDS_FOUND", 0, True), ("AREA_NOT_VERIFIED", 0, False), ("PRICE_VOLATILITY_HAIRCUT", 0, False)]
    assert got[0]["text"] == policy.text("LOW_STRESSED_YIELD")
