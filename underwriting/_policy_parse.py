"""Validating a parsed policy document (private to :mod:`underwriting.policy`): keys, numbers, money, checkpoints
and profiles checked against the schema, and :func:`parse_policy` building the :class:`Policy` with its hash.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from models.errors import MoneyError
from models.money import check_currency, to_minor
from underwriting._policy_schema import (
    _EVIDENCE_KEYS,
    _MONTH_DAY,
    _OPTIONAL_PROFILE_KEYS,
    _OPTIONAL_REASON_CODES,
    _PROFILE_KEYS,
    _TOP_KEYS,
    REASON_CODES,
)
from underwriting._policy_types import EvidenceThresholds, Policy, Profile
from underwriting.errors import PolicyError
from underwriting.records import canonical_json, sha256_hex


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
