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

from pathlib import Path
from typing import Any

import yaml

from underwriting._policy_parse import parse_policy
from underwriting._policy_schema import REASON_CODES, evidence_schema, profile_schema
from underwriting._policy_types import EvidenceThresholds, Policy, Profile
from underwriting._policy_versions import version_key, version_order
from underwriting.errors import PolicyError

# isort: split
# re-exported, unused here: importable from underwriting.policy as before its helpers moved to underwriting._policy_*
from collections.abc import Mapping  # noqa: F401
from dataclasses import dataclass  # noqa: F401
from datetime import date  # noqa: F401

from models.errors import MoneyError  # noqa: F401
from models.money import check_currency, to_minor  # noqa: F401
from underwriting._policy_parse import (  # noqa: F401
    _CROP_NAME,
    _check_keys,
    _checkpoint,
    _mapping,
    _money,
    _number,
    _profile,
    is_calendar_day,
)
from underwriting._policy_schema import (  # noqa: F401
    _EVIDENCE_KEYS,
    _MONTH_DAY,
    _OPTIONAL_PROFILE_KEYS,
    _OPTIONAL_REASON_CODES,
    _PROFILE_KEYS,
    _TOP_KEYS,
    optional_profile_keys,
)
from underwriting._policy_versions import _VERSION_PART, _version_parts  # noqa: F401
from underwriting.records import canonical_json, sha256_hex  # noqa: F401

__all__ = [
    "ARCHIVE_DIR", "DEFAULT_POLICY_PATH", "EvidenceThresholds", "Policy", "Profile", "REASON_CODES",
    "archived_policies", "archived_policy", "default_policy", "evidence_schema", "load_policy", "parse_policy",
    "profile_schema", "version_key", "version_order",
]

DEFAULT_POLICY_PATH = Path(__file__).with_name("policies") / "default.yaml"
#: every released version of the shipped policy, as released (``<policy_id>-<version>.yaml``)
ARCHIVE_DIR = Path(__file__).with_name("policies") / "archive"


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


def archived_policies() -> list[Policy]:
    """Every released policy version kept in :data:`ARCHIVE_DIR`, by file name."""
    return [load_policy(path) for path in sorted(ARCHIVE_DIR.glob("*.yaml"))]


def archived_policy(content_hash: str) -> Policy | None:
    """The released policy (:data:`ARCHIVE_DIR`) whose content hash is ``content_hash``, or None."""
    return next((p for p in archived_policies() if p.content_hash == content_hash), None)
