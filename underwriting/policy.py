"""The versioned credit policy: load, validate, hash.

A policy file (YAML) holds an id, a version, named *profiles* (one per lending product:
``us-operating``, ``in-kcc``, ``cn-rural``) and the plain-language text of every reason
code. Every number of CREDIT_POLICY.md is a parameter of a profile. Money in the file is
written in major units of the profile's currency (decimal strings) and converted exactly
to integer minor units on load. Any unknown, missing or out-of-range key is a
:class:`~underwriting.errors.PolicyError` naming the key path and the value.

The content hash is the SHA-256 of the canonical JSON of the parsed document, so
comments and layout do not change it, every parameter does.

Every released version of the shipped policy is kept, as released, in ``policies/archive/``
(``<policy_id>-<version>.yaml``; the shipped ``default.yaml`` is the latest of them — a test holds it
so): a decision decided under an earlier version replays with that version's file
(:func:`archived_policy`, by the content hash the record names) without anyone having to find it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from models.errors import MoneyError
from models.money import check_currency, to_minor
from underwriting.errors import PolicyError
from underwriting.records import canonical_json, sha256_hex

__all__ = [
    "ARCHIVE_DIR", "DEFAULT_POLICY_PATH", "EvidenceThresholds", "Policy", "Profile", "REASON_CODES",
    "archived_policies", "archived_policy", "default_policy", "evidence_schema", "load_policy", "parse_policy",
    "profile_schema", "version_key", "version_order",
]

DEFAULT_POLICY_PATH = Path(__file__).with_name("policies") / "default.yaml"
#: every released version of the shipped policy, as released (``<policy_id>-<version>.yaml``)
ARCHIVE_DIR = Path(__file__).with_name("policies") / "archive"

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


@dataclass(frozen=True)
class EvidenceThresholds:
    """Per-field evidence checks (CREDIT_POLICY.md, Evidence checks)."""

    area_tolerance: float
    refer_failing_area_share: float
    max_overlap_fraction: float
    max_noncrop_fraction: float
    min_clear_obs: int
    min_crop_type_prob: float
    min_declared_crop_prob: float
    min_clear_pixels: int


@dataclass(frozen=True)
class Profile:
    """One lending product. Money fields are integer minor units of ``currency``."""

    name: str
    currency: str
    advance_rate: float
    min_dscr: float
    z_price_shock: float
    preseason_haircut: float
    annual_rate: float
    product_cap: int
    min_line: int
    rounding_step: int
    max_share_borrower: float
    max_share_crop_region: float
    min_book_for_concentration: int
    marketing_window_days: int
    max_term_days: int
    emergence_month_day: str
    emergence_year_offset: int
    high_yield_uncertainty: float
    evidence: EvidenceThresholds
    #: largest share of a decision's limit an analyst override may change without a second approver; None when
    #: the policy file does not set it (files written before it: CREDIT_POLICY.md's 20%, underwriting.override.LEGACY_APPROVAL_SHARE)
    override_approval_share: float | None = None
    #: declared crop → (month_day, year_offset) of its own emergence checkpoint (a crop whose calendar differs from
    #: the profile's, e.g. autumn-sown winter wheat); None when the policy file does not set it
    emergence_by_crop: Mapping[str, tuple[str, int]] | None = None
    #: refer a new line decided on or after its fields' expected harvest (HARVEST_PASSED: the crop it would be repaid
    #: from is already harvested); None when the policy file does not set it (files before 2026.12.3: not referred)
    refer_after_harvest: bool | None = None
    #: a requested term shorter than to the expected harvest + marketing window is lengthened to it (2026.12.4 on;
    #: CREDIT_POLICY.md step 9); None when the policy file does not set it (files before: lengthened to the harvest)
    term_to_harvest_window: bool | None = None
    #: a declared field whose imagery crop is another crop is CROP_TYPE_UNCERTAIN unless CROP_MISMATCH (2026.12.4 on;
    #: rules.evidence_codes); None when the policy file does not set it (files before: valued at the imagery's crop)
    disputed_crop_uncertain: bool | None = None
    #: re-underwriting (2026.12.4 on): a line the models cannot value at a checkpoint is kept with nothing proposed,
    #: a REFER for a risk freezes the undrawn line and goes to review without a shorter term (pipelines/reunderwrite.py);
    #: None when the policy file does not set it (files before: a REFER acted on as its indicative limit)
    keep_unvalued_lines: bool | None = None
    #: re-underwriting (2026.12.5 on): a line kept because the models could not value it keeps its standing decision
    #: — the next re-underwriting compares with the line's last re-estimated record (else its Book line), not with
    #: the kept REFER's indicative limit; None when the policy file does not set it (files before: compared with it)
    kept_lines_stand: bool | None = None
    #: re-underwriting (2026.12.5 on): a declared field the imagery reads as another crop is a dispute (a risk: the line
    #: frozen and reviewed) only when the imagery's crop reaches min_crop_type_prob; an unsure imagery crop is a field
    #: the models could not value (the line kept); None when the file does not set it (files before: any other crop)
    confident_disputes_only: bool | None = None
    #: re-underwriting (2026.12.6 on): a field with an open CROP_FAILURE alert is excluded from the valuation
    #: (CROP_FAILURE_OBSERVED) and a line with any open high-severity alert goes to review whatever its new limit
    #: covers; None when the file does not set it (files before: the yield model's value stood, a covered line had
    #: nothing proposed)
    open_alerts_act: bool | None = None
    #: the reason-code waterfall (2026.12.7 on): the excluded fields' steps (by exclusion code) come right after the
    #: expected value, measured on it, and price and yield stress (HIGH_YIELD_UNCERTAINTY judged on them), advance
    #: rate, liens and cash flow are charged on the fields valued; None when the file does not set it (files before:
    #: every evidence step last, the steps before it charged on the fields as claimed, excluded ones included)
    exclusions_before_stress: bool | None = None
    #: re-underwriting (2026.12.8 on): a Book line whose previous decision (after the standing walk) is a REFER or
    #: DECLINE, not an analyst's override, is compared with its Book limit — a REFER or DECLINE granted nothing, the
    #: line the bank funded is what is in force (a line kept on such a record stands on its Book limit in the report
    #: and for an override of the kept record); None when the file does not set it (files before: compared with the
    #: REFER's indicative or the DECLINE's 0)
    refer_keeps_book_limit: bool | None = None
    #: decisions (2026.12.9 on): each of the season's price-table rows dated after the decision date is replaced by the
    #: latest price of its crop and region known on that date (underwriting.decisions.prices_known_on; the market
    #: block names its date and source); None when the file does not set it (files before: the season's latest row,
    #: a season average published after the harvest priced a decision taken before it)
    prices_known_at_decision: bool | None = None
    #: new decisions (2026.12.10 on; with ``open_alerts_act``): a field with an open CROP_FAILURE alert in the decision
    #: store (the farmer's latest re-underwriting record of the season on or before the decision date) is excluded
    #: from the valuation (CROP_FAILURE_OBSERVED), as re-underwriting excludes it; None when the file does not set it
    #: (files before: a new decision valued the field the monitoring had seen fail)
    decisions_read_alerts: bool | None = None
    #: new decisions (2026.12.10 on): the decision of an application through which a re-underwriting follows the
    #: farmer's active Book line of the season (its renewal) proposes the actions a re-underwriting would
    #: (FREEZE_UNDRAWN, SHORTEN_TERM, REVIEW; pipelines.reunderwrite.propose_actions), recorded in the body's
    #: ``renewal``; None when the file does not set it (files before: nothing proposed until the next re-underwriting)
    renewals_propose_actions: bool | None = None
    #: (2026.12.10 on) a field the farmer declared no crop on and the imagery's crop model calls "no crop" (fallow)
    #: is as declared: it is not valued (NOT_PLANTED, nothing to value) but it is no failing area — it counts in
    #: neither side of the failing-area share — and its code is not listed among the decision's reasons (it took
    #: nothing off the limit); None when the file does not set it (files before: such a field counted as failing
    #: area, and NOT_PLANTED appeared as a principal reason with a reduction of 0)
    fallow_as_declared: bool | None = None

    def emergence_checkpoint(self, season: str, crop: str | None = None) -> date:
        """The date of season ``season`` by which ``crop`` (any crop: None) should have emerged: the crop's own
        checkpoint where the profile names one, else the profile's."""
        md, off = (self.emergence_by_crop or {}).get(crop or "", (self.emergence_month_day, self.emergence_year_offset))
        month, day = (int(p) for p in md.split("-"))
        return date(int(season) + off, month, day)

    def as_dict(self) -> dict[str, Any]:
        """The profile's parameters (money in minor units), for the decision body."""
        out = {k: v for k, v in self.__dict__.items() if k != "evidence"}
        for key in ("override_approval_share", "emergence_by_crop", "refer_after_harvest",
                    "term_to_harvest_window", "disputed_crop_uncertain",
                    "keep_unvalued_lines", "kept_lines_stand", "confident_disputes_only", "open_alerts_act",
                    "exclusions_before_stress", "refer_keeps_book_limit", "prices_known_at_decision",
                    "decisions_read_alerts", "renewals_propose_actions", "fallow_as_declared"):
            if out[key] is None:  # a file without it: its bodies stay as they were
                del out[key]
        if "emergence_by_crop" in out:
            out["emergence_by_crop"] = {c: {"month_day": md, "year_offset": off}
                                        for c, (md, off) in sorted(out["emergence_by_crop"].items())}
        out["evidence"] = dict(self.evidence.__dict__)
        return out


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file."""

    policy_id: str
    version: str
    content_hash: str
    profiles: Mapping[str, Profile]
    reason_texts: Mapping[str, str]
    source: str
    #: the file's free-text ``description`` (None: the file has none); part of the content hash like every key
    description: str | None = None

    def profile(self, name: str) -> Profile:
        """The named profile, or a PolicyError listing the known ones."""
        if name not in self.profiles:
            raise PolicyError(source=self.source, key=f"profiles.{name}",
                              problem=f"no such profile (known: {', '.join(sorted(self.profiles))})")
        return self.profiles[name]

    def text(self, code: str) -> str:
        """Plain-language text of a reason code."""
        return self.reason_texts[code]


# --- schema ---------------------------------------------------------------------------------------

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


def _mapping(source: str, key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(source=source, key=key, problem=f"expected a mapping, found {value!r}")
    return value


def _check_keys(source: str, prefix: str, data: Mapping[str, Any], allowed: tuple[str, ...] | list[str],
                required: tuple[str, ...] | list[str]) -> None:
    for k in data:
        if k not in allowed:
            raise PolicyError(source=source, key=f"{prefix}{k}",
                              problem=f"unknown key (value {data[k]!r}; expected one of {', '.join(allowed)})")
    for k in required:
        if k not in data:
            raise PolicyError(source=source, key=f"{prefix}{k}", problem="missing")


def _number(source: str, key: str, value: object, kind: str, low: float | None, high: float | None) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(source=source, key=key, problem=f"expected a number, found {value!r}")
    if kind == "int" and not isinstance(value, int):
        raise PolicyError(source=source, key=key, problem=f"expected an integer, found {value!r}")
    if not math.isfinite(value):
        raise PolicyError(source=source, key=key, problem=f"expected a finite number, found {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise PolicyError(source=source, key=key, problem=f"expected a value in [{low}, {high}], found {value!r}")
    return int(value) if kind == "int" else float(value)


def _money(source: str, key: str, value: object, currency: str, low: float | None) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PolicyError(source=source, key=key,
                          problem=f"expected a decimal string of major units like \"5000\", found {value!r}")
    try:
        minor = to_minor(value, currency, where=key)
    except MoneyError:
        raise PolicyError(source=source, key=key,
                          problem=f"expected an amount in {currency} major units, found {value!r}") from None
    if low is not None and minor < low:
        raise PolicyError(source=source, key=key, problem=f"expected at least {low:g} minor units, found {value!r}")
    return minor


_CROP_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def is_calendar_day(month_day: str) -> bool:
    """Whether ``'MM-DD'`` is a day of every year (no 02-30, 04-31; no 02-29, missing three years in four)."""
    import datetime as _dt

    try:
        _dt.date(2001, int(month_day[:2]), int(month_day[3:5]))
    except ValueError:
        return False
    return True


def _checkpoint(source: str, key: str, value: object) -> tuple[str, int]:
    data = _mapping(source, key, value)
    _check_keys(source, f"{key}.", data, ("month_day", "year_offset"), ("month_day", "year_offset"))
    md = data["month_day"]
    if not isinstance(md, str) or not _MONTH_DAY.match(md) or not is_calendar_day(md):
        raise PolicyError(source=source, key=f"{key}.month_day", problem=f"expected 'MM-DD' (a day of every year), "
                                                                         f"found {md!r}")
    off = _number(source, f"{key}.year_offset", data["year_offset"], "int", -1, 1)
    return md, int(off)


def _profile(source: str, name: str, raw: object) -> Profile:
    prefix = f"profiles.{name}."
    data = _mapping(source, prefix[:-1], raw)
    _check_keys(source, prefix, data, list(_PROFILE_KEYS),
                [k for k in _PROFILE_KEYS if k not in _OPTIONAL_PROFILE_KEYS])
    try:
        currency = check_currency(data["currency"], where=f"{prefix}currency")
    except MoneyError:
        raise PolicyError(source=source, key=f"{prefix}currency",
                          problem=f"expected an ISO 4217 code, found {data['currency']!r}") from None
    vals: dict[str, Any] = {"name": name, "currency": currency}
    for key, (kind, low, high) in _PROFILE_KEYS.items():
        path = f"{prefix}{key}"
        if key not in data:  # optional, not set
            continue
        if kind in ("float", "int"):
            vals[key] = _number(source, path, data[key], kind, low, high)
        elif kind == "money":
            vals[key] = _money(source, path, data[key], currency, low)
        elif kind == "bool":
            if not isinstance(data[key], bool):
                raise PolicyError(source=source, key=path, problem=f"expected true or false, found {data[key]!r}")
            vals[key] = data[key]
        elif kind == "checkpoint":
            vals["emergence_month_day"], vals["emergence_year_offset"] = _checkpoint(source, path, data[key])
        elif kind == "crop_checkpoints":
            crops = _mapping(source, path, data[key])
            if not crops:
                raise PolicyError(source=source, key=path, problem="expected at least one crop, found none")
            from features.fields import known_crops

            known = known_crops()
            for c in crops:
                if not isinstance(c, str) or not _CROP_NAME.match(c):
                    raise PolicyError(source=source, key=f"{path}.{c}",
                                      problem=f"expected a crop name like 'winter_wheat', found {c!r}")
                if c not in known:  # a misspelt crop ('winter_weat') would never match a declared crop: silently unused
                    raise PolicyError(source=source, key=f"{path}.{c}",
                                      problem=f"'{c}' is not a crop the engine knows (AGCREDIT_EXTRA_CROPS adds one)")
            vals["emergence_by_crop"] = {c: _checkpoint(source, f"{path}.{c}", v) for c, v in crops.items()}
        elif kind == "evidence":
            ev = _mapping(source, path, data[key])
            _check_keys(source, f"{path}.", ev, list(_EVIDENCE_KEYS), list(_EVIDENCE_KEYS))
            nums: dict[str, Any] = {
                k: _number(source, f"{path}.{k}", ev[k], kd, lo, hi) for k, (kd, lo, hi) in _EVIDENCE_KEYS.items()
            }
            vals["evidence"] = EvidenceThresholds(**nums)
    if vals["min_line"] > vals["product_cap"]:
        raise PolicyError(source=source, key=f"{prefix}min_line",
                          problem=f"expected at most product_cap ({data['product_cap']!r}), found {data['min_line']!r}")
    if vals["rounding_step"] > vals["min_line"]:  # a step above the minimum line rounds every small limit to 0
        raise PolicyError(source=source, key=f"{prefix}rounding_step",
                          problem=f"expected at most min_line ({data['min_line']!r}), found {data['rounding_step']!r}")
    return Profile(**vals)


def parse_policy(doc: object, *, source: str = "policy") -> Policy:
    """Validate a parsed policy document and build a :class:`Policy`."""
    data = _mapping(source, "<document>", doc)
    _check_keys(source, "", data, _TOP_KEYS, ("policy_id", "version", "profiles", "reason_texts"))
    for key in ("policy_id", "version"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise PolicyError(source=source, key=key, problem=f"expected a non-empty string, found {data[key]!r}")
    profiles_raw = _mapping(source, "profiles", data["profiles"])
    if not profiles_raw:
        raise PolicyError(source=source, key="profiles", problem="expected at least one profile, found none")
    profiles = {str(name): _profile(source, str(name), raw) for name, raw in profiles_raw.items()}
    texts = _mapping(source, "reason_texts", data["reason_texts"])
    _check_keys(source, "reason_texts.", texts, REASON_CODES,
                tuple(c for c in REASON_CODES if c not in _OPTIONAL_REASON_CODES))
    for code, param in _OPTIONAL_REASON_CODES.items():
        users = [name for name, prof in profiles.items() if getattr(prof, param)]
        if users and code not in texts:
            raise PolicyError(source=source, key=f"reason_texts.{code}",
                              problem=f"missing (profile {users[0]} sets {param}, which emits it)")
    for code, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise PolicyError(source=source, key=f"reason_texts.{code}",
                              problem=f"expected a non-empty sentence, found {text!r}")
    try:
        content_hash = sha256_hex(canonical_json(data))
    except (TypeError, ValueError) as exc:
        raise PolicyError(source=source, key="<document>", problem=f"not representable as JSON ({exc})") from None
    description = data.get("description")
    return Policy(policy_id=data["policy_id"], version=data["version"], content_hash=content_hash,
                  profiles=profiles, reason_texts={str(k): str(v) for k, v in texts.items()}, source=source,
                  description=None if description is None else str(description))


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, second: int) -> None:
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


# libyaml's parser when PyYAML was built with it (the wheels are): the same documents and marks, about ten times
# faster than the pure-Python one — a replay reads every archived policy
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc]
    """yaml's SafeLoader refusing a mapping key given twice (plain YAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *base — its keys may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                again = key in seen
            except TypeError:  # an unhashable key (? [a, b]): not valid here, a YAML error like any other
                raise yaml.constructor.ConstructorError(None, None, "an unhashable mapping key",
                                                        key_node.start_mark) from None
            if again:
                raise _DuplicateKey(str(key), seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (YAML); ``None`` loads the shipped default policy."""
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    source = str(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(source=source, key="<file>", problem=f"cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")  # a UTF-8 byte order mark stays: YAML reads past it
    except UnicodeDecodeError as exc:
        raise PolicyError(source=source, key="<file>", problem=_not_utf8(raw, exc.start)) from None
    if not text.strip():
        raise PolicyError(source=source, key="<file>", problem="the file is empty (expected a policy document)")
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise PolicyError(source=source, key=exc.key, problem=f"given twice (at lines {exc.first} and {exc.second}); "
                                                              "a reader would see the first, YAML keeps the last") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(source=source, key="<file>", problem=f"not valid YAML{where}") from None
    if doc is None:  # comments only
        raise PolicyError(source=source, key="<file>", problem="the file holds no YAML document, only comments "
                                                               "(expected a policy document)")
    return parse_policy(doc, source=source)


def _not_utf8(raw: bytes, offset: int) -> str:
    """What a policy file that is not UTF-8 text is: the first byte that is not, where (line, offset) and the fix."""
    what = "UTF-16 text" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "not UTF-8 text"
    line = raw.count(b"\n", 0, offset) + 1
    return (f"{what} (byte 0x{raw[offset]:02x} at line {line}, offset {offset}): a policy file is UTF-8 text — save "
            "it as UTF-8")


def default_policy() -> Policy:
    """The shipped default policy (underwriting/policies/default.yaml)."""
    return load_policy(None)


_VERSION_PART = re.compile(r"([0-9]*)(.*)\Z", re.S)


def _version_parts(version: str) -> list[tuple[int | None, str]]:
    """A version's dot-separated parts, a leading ``v`` dropped (``v2026.12.9`` is ``2026.12.9``): each its leading
    number (None: it has none) and the rest, its suffix (``10-adv70``: 10 and ``-adv70``)."""
    text = str(version).strip()
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    out: list[tuple[int | None, str]] = []
    for part in text.split("."):
        m = _VERSION_PART.match(part)
        assert m is not None  # matches any string
        out.append((int(m[1]) if m[1] else None, m[2]))
    return out


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key of a policy version: its dot-separated parts in turn, each by its leading number, then by the rest
    (``2026.12.9`` < ``2026.12.10`` < ``2026.12.10.1`` < ``2026.12.10-adv70`` < ``2026.12.11`` < ``2026.12.11-rc1``);
    a leading ``v`` dropped, a part without a number before any numbered one. A suffixed part (``10-adv70``, ``11-rc1``) is a variant (or pre-release) of its number, whose
    order against that number no rule gives: listed after it, but :func:`version_order` does not order the two."""
    return tuple((0, -1, suffix) if num is None else (1, num, suffix) for num, suffix in _version_parts(version))


def version_order(a: str, b: str) -> int | None:
    """-1, 0 or 1 as version ``a`` is earlier than, the same as (``v2026.12.9``, ``2026.12.09``) or later than ``b``,
    part by part by their numbers (``2026.12.10`` after ``2026.12.9``; ``2026.12.10-adv70`` after ``2026.12.9`` and
    ``2026.12.11-rc1`` after ``2026.12.10``: the number decides; a missing part counts 0). None when they cannot be
    ordered: before any differing number, a part has no number (``beta``), or two parts of equal number have other
    suffixes (``2026.12.10-adv70`` against ``2026.12.10`` or ``2026.12.10-rc1``: a variant or a pre-release of the
    same numbered version — which comes later is the bank's naming, not a rule)."""
    pa, pb = _version_parts(a), _version_parts(b)
    width = max(len(pa), len(pb))
    pa += [(0, "")] * (width - len(pa))
    pb += [(0, "")] * (width - len(pb))
    for (na, sa), (nb, sb) in zip(pa, pb, strict=True):
        if na is None or nb is None:
            return None
        if na != nb:
            return -1 if na < nb else 1
        if sa != sb:
            return None
    return 0


def archived_policies() -> list[Policy]:
    """Every released policy version kept in :data:`ARCHIVE_DIR`, by file name."""
    return [load_policy(path) for path in sorted(ARCHIVE_DIR.glob("*.yaml"))]


def archived_policy(content_hash: str) -> Policy | None:
    """The released policy (:data:`ARCHIVE_DIR`) whose content hash is ``content_hash``, or None."""
    return next((p for p in archived_policies() if p.content_hash == content_hash), None)
