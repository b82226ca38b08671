"""The policy file's schema (private to :mod:`underwriting.policy`): the reason codes, a profile's keys with their
kinds and bounds, the evidence block's, the top-level keys, and their public copies.
"""

from __future__ import annotations

import re

#: every reason code the rules can emit (the policy file must give each a text)
REASON_CODES = (
    "CROP_VALUE_BELOW_REQUEST", "PRICE_VOLATILITY_HAIRCUT", "LOW_STRESSED_YIELD", "HIGH_YIELD_UNCERTAINTY",
    "ADVANCE_RATE_APPLIED", "PRIOR_LIEN_ON_CROP", "REPAYMENT_CAPACITY_BELOW_MIN", "EXISTING_DEBT_SERVICE_HIGH",
    "PRODUCT_CAP_APPLIED", "CONCENTRATION_CAP_APPLIED", "PARCEL_INVALID_GEOMETRY", "PARCEL_OVERLAP_CLAIM",
    "PARCEL_NOT_CROPLAND", "INSUFFICIENT_CLEAR_IMAGERY", "CROP_TYPE_UNCERTAIN", "CROP_MISMATCH",
    "OUT_OF_MODEL_SCOPE", "FIELD_TOO_SMALL", "NOT_PLANTED", "AREA_NOT_VERIFIED", "PRESEASON_NO_IMAGERY",
    "NO_FIELDS_FOUND", "ROUNDED_TO_STEP", "BELOW_MINIMUM_LINE", "CROP_CONDITION_DETERIORATED",
    "CROP_FAILURE_OBSERVED",
)


#: reason codes a policy file gives a text for only when a parameter of its own can emit them (files written before
#: the code existed keep loading and hashing as they did): CROP_FAILURE_OBSERVED with ``open_alerts_act``
_OPTIONAL_REASON_CODES = {"CROP_FAILURE_OBSERVED": "open_alerts_act"}


_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


# key -> (kind, low, high); kinds: share (float in [low, high]), float, int, money, str
_PROFILE_KEYS: dict[str, tuple[str, float | None, float | None]] = {
    "currency": ("currency", None, None),
    "advance_rate": ("float", 0.0, 1.0),
    "min_dscr": ("float", 1.0, 10.0),
    "z_price_shock": ("float", 0.0, 10.0),
    "preseason_haircut": ("float", 0.0, 1.0),
    "annual_rate": ("float", 0.0, 1.0),
    "product_cap": ("money", 0.0, None),
    "min_line": ("money", 1.0, None),
    "rounding_step": ("money", 1.0, None),
    "max_share_borrower": ("float", 0.0, 1.0),
    "max_share_crop_region": ("float", 0.0, 1.0),
    "min_book_for_concentration": ("money", 1.0, None),
    "marketing_window_days": ("int", 0, 730),
    "max_term_days": ("int", 1, 3650),
    "emergence_checkpoint": ("checkpoint", None, None),
    "emergence_checkpoint_by_crop": ("crop_checkpoints", None, None),
    "high_yield_uncertainty": ("float", 0.0, 1.0),
    "evidence": ("evidence", None, None),
    "override_approval_share": ("float", 0.0, 1.0),
    "refer_after_harvest": ("bool", None, None),
    "term_to_harvest_window": ("bool", None, None),
    "disputed_crop_uncertain": ("bool", None, None),
    "keep_unvalued_lines": ("bool", None, None),
    "kept_lines_stand": ("bool", None, None),
    "confident_disputes_only": ("bool", None, None),
    "open_alerts_act": ("bool", None, None),
    "exclusions_before_stress": ("bool", None, None),
    "refer_keeps_book_limit": ("bool", None, None),
    "prices_known_at_decision": ("bool", None, None),
    "decisions_read_alerts": ("bool", None, None),
    "renewals_propose_actions": ("bool", None, None),
    "fallow_as_declared": ("bool", None, None),
}


#: profile keys a policy file may leave out (files written before they existed keep loading, hashing and
#: deciding as they did)
_OPTIONAL_PROFILE_KEYS = ("override_approval_share", "emergence_checkpoint_by_crop", "refer_after_harvest",
                          "term_to_harvest_window", "disputed_crop_uncertain", "keep_unvalued_lines",
                          "kept_lines_stand", "confident_disputes_only", "open_alerts_act",
                          "exclusions_before_stress", "refer_keeps_book_limit", "prices_known_at_decision",
                          "decisions_read_alerts", "renewals_propose_actions", "fallow_as_declared")


_EVIDENCE_KEYS: dict[str, tuple[str, float | None, float | None]] = {
    "area_tolerance": ("float", 0.0, 1.0),
    "refer_failing_area_share": ("float", 0.0, 1.0),
    "max_overlap_fraction": ("float", 0.0, 1.0),
    "max_noncrop_fraction": ("float", 0.0, 1.0),
    "min_clear_obs": ("int", 0, 1000),
    "min_crop_type_prob": ("float", 0.0, 1.0),
    "min_declared_crop_prob": ("float", 0.0, 1.0),
    "min_clear_pixels": ("int", 0, 1_000_000),
}


_TOP_KEYS = ("policy_id", "version", "description", "profiles", "reason_texts")


def profile_schema() -> dict[str, tuple[str, float | None, float | None]]:
    """A profile's keys in the file's schema order, each with its kind (``currency``, ``float``, ``int``, ``money``,
    ``checkpoint``, ``crop_checkpoints``, ``evidence``, ``bool``: an optional rule) and its bounds (None: none). The
    keys a file may leave out: :func:`optional_profile_keys`. A copy: changing it changes nothing."""
    return dict(_PROFILE_KEYS)


def evidence_schema() -> dict[str, tuple[str, float | None, float | None]]:
    """The ``evidence`` block's keys in schema order, each with its kind and bounds (a copy)."""
    return dict(_EVIDENCE_KEYS)


def optional_profile_keys() -> tuple[str, ...]:
    """The profile keys a policy file may leave out (files written before they existed)."""
    return _OPTIONAL_PROFILE_KEYS
