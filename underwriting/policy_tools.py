"""The credit policy's change control: describe a policy, compare two, check a candidate file, list the versions
that decided a store's records (``agcredit policy show|diff|validate|history``).

Pure functions returning plain data (JSON-ready dicts and lists); the CLI renders them. A profile's parameters are
keyed by their YAML names in the file's schema order (:data:`PARAMETER_KEYS`), money as a mapping of currency, the
decimal string of major units as a policy file writes it, and the integer minor units the engine holds
(:func:`money_value`). The optional rules (the ``true``/``false`` keys files written before them leave out) are
``None`` when a file does not set them: the behaviour of those earlier files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from features.errors import UserInputError
from models.money import MINOR_DIGITS, format_minor
from underwriting.policy import (
    _EVIDENCE_KEYS,
    _PROFILE_KEYS,
    REASON_CODES,
    Policy,
    Profile,
    version_key,
)
from underwriting.records import KINDS

__all__ = ["OPTIONAL_RULES", "PARAMETER_KEYS", "change_text", "check_archive", "check_store", "describe_policy",
           "describe_profile", "diff_policies", "money_value", "policy_history", "released_match", "value_text"]

#: a profile's YAML keys in the file's schema order
PARAMETER_KEYS: tuple[str, ...] = tuple(_PROFILE_KEYS)
#: the optional rules: ``true`` / ``false`` keys a file may leave out (``None``: not set)
OPTIONAL_RULES: tuple[str, ...] = tuple(k for k, (kind, _, _) in _PROFILE_KEYS.items() if kind == "bool")
_ATTR = {"emergence_checkpoint_by_crop": "emergence_by_crop"}
_BY_CROP = "emergence_checkpoint_by_crop"


def money_value(minor: int, currency: str) -> dict[str, Any]:
    """An amount as :func:`describe_profile` gives it: currency, major units (decimal string) and minor units."""
    digits = MINOR_DIGITS[currency]
    major = Decimal(int(minor)).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))
    return {"currency": currency, "major": f"{major:f}", "minor": int(minor)}


def _checkpoint(month_day: str, year_offset: int) -> dict[str, Any]:
    return {"month_day": month_day, "year_offset": int(year_offset)}


def _parameter(profile: Profile, key: str) -> Any:
    kind = _PROFILE_KEYS[key][0]
    if key == "emergence_checkpoint":
        return _checkpoint(profile.emergence_month_day, profile.emergence_year_offset)
    if kind == "crop_checkpoints":
        crops = profile.emergence_by_crop
        return None if crops is None else {c: _checkpoint(*crops[c]) for c in sorted(crops)}
    if kind == "evidence":
        return {k: getattr(profile.evidence, k) for k in _EVIDENCE_KEYS}
    value = getattr(profile, _ATTR.get(key, key))
    return money_value(value, profile.currency) if kind == "money" else value


def describe_profile(profile: Profile) -> dict[str, Any]:
    """One profile: its name, currency and every parameter by its YAML key (schema order)."""
    return {"name": profile.name, "currency": profile.currency,
            "parameters": {k: _parameter(profile, k) for k in PARAMETER_KEYS}}


def released_match(policy: Policy, released: Sequence[Policy]) -> dict[str, Any]:
    """How ``policy`` stands to the released versions of the shipped policy (``released``: the archive): the one of
    equal content (``equals``: version and file, else None), and the one of the same id and version with other
    content (``clash``: version, file and hash, else None) — a file any store holding that release refuses."""
    same = next((p for p in released if p.content_hash == policy.content_hash), None)
    clash = next((p for p in released if (p.policy_id, p.version) == (policy.policy_id, policy.version)
                  and p.content_hash != policy.content_hash), None)
    return {"equals": None if same is None else {"version": same.version, "file": same.source},
            "clash": None if clash is None else {"version": clash.version, "file": clash.source,
                                                 "content_hash": clash.content_hash}}


def describe_policy(policy: Policy, released: Sequence[Policy], *, origin: str,
                    profile: str | None = None) -> dict[str, Any]:
    """Everything ``agcredit policy show`` prints: id, version, content hash, where the policy came from
    (``origin``: ``default``, ``version`` or ``file``, as :func:`pipelines.impact.resolve_policy` says), its standing
    against the released versions (:func:`released_match`), every profile (only ``profile``, if given: an unknown
    one is a :class:`~underwriting.errors.PolicyError` naming the profiles) and the reason texts."""
    names = [profile] if profile is not None else list(policy.profiles)
    profiles = [describe_profile(policy.profile(n)) for n in names]
    return {"policy_id": policy.policy_id, "version": policy.version, "content_hash": policy.content_hash,
            "origin": origin, "source": policy.source, "released": released_match(policy, released),
            "profiles": profiles, "reason_texts": {c: policy.reason_texts[c] for c in REASON_CODES
                                                   if c in policy.reason_texts}}


def value_text(value: Any) -> str:
    """A parameter's value as printed: money ``USD 400,000.00``, an optional rule on / off / not set, a checkpoint
    ``06-30 (year offset 0)``, numbers as written."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict) and "minor" in value:
        return format_minor(int(value["minor"]), str(value["currency"]))
    if isinstance(value, dict) and "month_day" in value:
        return f"{value['month_day']} (year offset {value['year_offset']})"
    if isinstance(value, dict):
        return ", ".join(f"{k} {value_text(v)}" for k, v in value.items())
    return str(value)


# --- diff -------------------------------------------------------------------------------------------------------

def _flat(params: Mapping[str, Any], crops: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """(key, value) of a profile's parameters, nested ones by their dotted key, in schema order."""
    for key in PARAMETER_KEYS:
        if key == "evidence":
            yield from ((f"evidence.{k}", params["evidence"][k]) for k in _EVIDENCE_KEYS)
        elif key == _BY_CROP:
            yield from ((f"{_BY_CROP}.{c}", (params[key] or {}).get(c)) for c in crops)
        else:
            yield key, params[key]


def _profile_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    crops = sorted(set(a["parameters"][_BY_CROP] or {}) | set(b["parameters"][_BY_CROP] or {}))
    out = []
    for (key, old), (_, new) in zip(_flat(a["parameters"], crops), _flat(b["parameters"], crops), strict=True):
        if old == new:
            continue
        change = "changed"
        if key.startswith(f"{_BY_CROP}."):
            change = "added" if old is None else "removed" if new is None else "changed"
        out.append({"key": key, "change": change, "a": old, "b": new})
    return out


def change_text(change: Mapping[str, Any]) -> str:
    """One line of a profile's change: ``key: old → new`` (a crop's checkpoint ``added`` / ``removed``)."""
    if change["change"] == "added":
        return f"{change['key']}: added {value_text(change['b'])}"
    if change["change"] == "removed":
        return f"{change['key']}: removed (was {value_text(change['a'])})"
    return f"{change['key']}: {value_text(change['a'])} → {value_text(change['b'])}"


def diff_policies(a: Policy, b: Policy, *, profile: str | None = None) -> dict[str, Any]:
    """What differs from ``a`` to ``b``: ``identical`` (equal content hashes), the profiles only in one, each common
    profile's changed parameters (:func:`change_text`; profiles in ``a``'s file order) and the reason codes whose
    text changed, was added or removed (:data:`~underwriting.policy.REASON_CODES` order). ``profile``: that profile
    only (one neither policy has: a PolicyError naming theirs)."""
    if profile is not None and profile not in a.profiles and profile not in b.profiles:
        raise UserInputError(f"--profile {profile!r}: no such profile in either policy (A: {', '.join(a.profiles)}; "
                             f"B: {', '.join(b.profiles)})")
    names_a = [n for n in a.profiles if profile in (None, n)]
    names_b = [n for n in b.profiles if profile in (None, n)]
    profiles = {n: _profile_changes(describe_profile(a.profiles[n]), describe_profile(b.profiles[n]))
                for n in names_a if n in b.profiles}
    texts = []
    for code in REASON_CODES:
        old, new = a.reason_texts.get(code), b.reason_texts.get(code)
        if old != new:
            change = "added" if old is None else "removed" if new is None else "changed"
            texts.append({"code": code, "change": change, "a": old, "b": new})
    return {"identical": a.content_hash == b.content_hash,
            "only_in_a": [n for n in names_a if n not in b.profiles],
            "only_in_b": [n for n in names_b if n not in a.profiles],
            "profiles": profiles, "reason_texts": texts}


# --- checks -----------------------------------------------------------------------------------------------------

def _check(name: str, status: str, text: str) -> dict[str, str]:
    return {"check": name, "status": status, "text": text}


def check_archive(policy: Policy, released: Sequence[Policy]) -> dict[str, str]:
    """The file against the released versions of the shipped policy: a problem when it reuses a released version's
    id and version with other content."""
    match = released_match(policy, released)
    if match["clash"] is not None:
        c = match["clash"]
        return _check("archive", "problem", f"policy {policy.policy_id} version {policy.version} is a released version "
                      f"of the shipped policy with other content (hash {c['content_hash'][:12]}…, {c['file']}): give "
                      "the changed policy a new version")
    if match["equals"] is not None:
        return _check("archive", "ok", f"the content of released version {match['equals']['version']} of the "
                      "shipped policy")
    return _check("archive", "ok", "not a released version of the shipped policy, and no released version has its "
                  "id and version")


def _named(body_json: object) -> tuple[str, str, str] | None:
    """(policy id, version, content hash) a record's body names, or None."""
    try:
        body = json.loads(body_json) if isinstance(body_json, str) else body_json
    except ValueError:
        return None
    pol = body.get("policy") if isinstance(body, dict) else None
    if not isinstance(pol, dict) or pol.get("id") is None:
        return None
    return str(pol["id"]), str(pol.get("version")), str(pol.get("content_hash"))


def check_store(policy: Policy, registered: str | None, records: pd.DataFrame) -> list[dict[str, str]]:
    """The file against a decision store: ``registered``, the content hash the store holds for the file's (id,
    version) (:meth:`~underwriting.store.DecisionStore.policy_content`), and the store's ``records``. Absent: new to
    the store; equal: recorded, with how many records name it; other: a problem (the store would refuse every record
    decided under the file). A later version of the same policy id in the records: a warning."""
    named = Counter(n for n in map(_named, records["body"]) if n is not None) if len(records) else Counter()
    pid, version, digest = policy.policy_id, policy.version, policy.content_hash
    if registered is None:
        out = [_check("store", "ok", f"version {version} is new to this store")]
    elif registered == digest:
        n = named[(pid, version, digest)]
        out = [_check("store", "ok", f"recorded in this store with this content: {n} record(s) name it")]
    else:
        out = [_check("store", "problem", f"the store holds version {version} with other content (hash "
                      f"{registered[:12]}…): give the changed policy a new version")]
    later = sorted({v for (i, v, _) in named if i == pid and version_key(v) > version_key(version)}, key=version_key)
    if later:
        out.append(_check("store", "warning", f"the store holds records of a later version of {pid}: "
                          f"{', '.join(later)}"))
    return out


# --- history ----------------------------------------------------------------------------------------------------

def _current(records: pd.DataFrame) -> set[str]:
    """The record ids in force: each application's last record in chain order (``records`` in chain order; the one
    superseded by none — :meth:`~underwriting.store.DecisionStore.heads`; of a forked chain, the last written, as
    ``explain`` and ``override`` follow it)."""
    last = dict(zip(records["application_id"].astype(str), records["record_id"].astype(str), strict=True))
    return set(last.values())


def policy_history(records: pd.DataFrame, released: Sequence[Policy]) -> list[dict[str, Any]]:
    """Which policy versions decided ``records`` (the store's rows in chain order: ``record_id``, ``kind``,
    ``application_id``, ``season``, ``as_of``, ``body``): per (policy id, version, content hash) in version order, the
    records by kind, the first and last as-of dates, the seasons, the released version of the shipped
    policy of that content (None: unknown content) and how many applications' current record names it. Records
    whose body names no policy are one group with id None."""
    current = _current(records)
    groups: dict[tuple[str, str, str] | None, list[int]] = {}
    for i, body in enumerate(records["body"]):
        groups.setdefault(_named(body), []).append(i)
    by_hash = {p.content_hash: p.version for p in released}
    out = []
    for key in sorted(groups, key=lambda k: ("", (), "") if k is None else (k[0], version_key(k[1]), k[2])):
        rows = records.iloc[groups[key]]
        kinds = Counter(rows["kind"].astype(str))
        out.append({
            "policy_id": None if key is None else key[0], "version": None if key is None else key[1],
            "content_hash": None if key is None else key[2],
            "records": {k: kinds[k] for k in [*KINDS, *sorted(set(kinds) - set(KINDS))] if kinds[k]},
            "first_as_of": str(min(rows["as_of"].astype(str))), "last_as_of": str(max(rows["as_of"].astype(str))),
            "seasons": sorted(set(rows["season"].astype(str))),
            "released_version": None if key is None else by_hash.get(key[2]),
            "current_applications": int(rows["application_id"][rows["record_id"].astype(str).isin(current)].nunique()),
        })
    return out
