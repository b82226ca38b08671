"""The credit policy's change control: describe a policy, compare two, check a candidate file, list the versions
that decided a store's records (``agcredit policy show|diff|validate|history``).

Pure functions returning plain data (JSON-ready dicts and lists); the CLI renders them. A profile's parameters are
keyed by their YAML names in the file's schema order (:data:`PARAMETER_KEYS`), money as a mapping of currency, the
decimal string of major units (normalised to the currency's minor digits: ``"400000"`` and ``"400000.00"`` are both
``"400000.00"``) and the integer minor units the engine holds (:func:`money_value`). The optional keys (the rules a
file written before them leaves out, ``override_approval_share``, ``emergence_checkpoint_by_crop``) are ``None``
when a file does not set them: the behaviour of those earlier files (:func:`value_text` says which).

A change (:func:`diff_policies`) is ``added`` (not set in A, set in B), ``removed`` (set in A, not in B) or
``changed`` (set in both, other values) — for an optional rule, a crop's emergence checkpoint, a reason text and the
document's ``description`` alike.
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
from underwriting._policy_versions import same_version
from underwriting.policy import (
    REASON_CODES,
    Policy,
    Profile,
    evidence_schema,
    profile_schema,
    version_key,
    version_order,
)
from underwriting.records import KINDS
from underwriting.store import policy_block

__all__ = ["EVIDENCE_KEYS", "OPTIONAL_RULES", "PARAMETER_KEYS", "change_text", "check_archive", "check_store",
           "clash_text", "describe_policy", "later_versions", "describe_profile", "diff_policies", "money_value", "not_set_text",
           "policy_history", "released_match", "value_text"]

_SCHEMA = profile_schema()
#: a profile's YAML keys in the file's schema order
PARAMETER_KEYS: tuple[str, ...] = tuple(_SCHEMA)
#: the evidence block's keys in schema order
EVIDENCE_KEYS: tuple[str, ...] = tuple(evidence_schema())
#: the optional rules: ``true`` / ``false`` keys a file may leave out (``None``: not set, i.e. off)
OPTIONAL_RULES: tuple[str, ...] = tuple(k for k, (kind, _, _) in _SCHEMA.items() if kind == "bool")
_BY_CROP = "emergence_checkpoint_by_crop"


def money_value(minor: int, currency: str) -> dict[str, Any]:
    """An amount as :func:`describe_profile` gives it: currency, the major units as a decimal string normalised to
    the currency's minor digits (``"400000.00"`` however the file wrote it) and the integer minor units."""
    digits = MINOR_DIGITS[currency]
    major = Decimal(int(minor)).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))
    return {"currency": currency, "major": f"{major:f}", "minor": int(minor)}


def _checkpoint(month_day: str, year_offset: int) -> dict[str, Any]:
    return {"month_day": month_day, "year_offset": int(year_offset)}


def _parameter(profile: Profile, key: str) -> Any:
    kind = _SCHEMA[key][0]
    if key == "emergence_checkpoint":
        return _checkpoint(profile.emergence_month_day, profile.emergence_year_offset)
    if kind == "crop_checkpoints":
        crops = profile.emergence_by_crop
        return None if crops is None else {c: _checkpoint(*crops[c]) for c in sorted(crops)}
    if kind == "evidence":
        return {k: getattr(profile.evidence, k) for k in EVIDENCE_KEYS}
    value = getattr(profile, key)
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
    clash = next((p for p in released if (p.policy_id, same_version(p.version)) == (policy.policy_id,
                                                                                  same_version(policy.version))
                  and p.content_hash != policy.content_hash), None)
    return {"equals": None if same is None else {"version": same.version, "file": same.source},
            "clash": None if clash is None else {"version": clash.version, "file": clash.source,
                                                 "content_hash": clash.content_hash}}


def clash_text(policy: Policy, clash: Mapping[str, Any]) -> str:
    """The one wording of a file reusing a released version's id and version with other content (``clash``:
    :func:`released_match`'s), as ``show`` warns and ``validate`` reports it."""
    return (f"{policy.policy_id} version {policy.version} is a released version of the shipped policy with other "
            f"content (released hash {clash['content_hash'][:12]}…, {clash['file']}): any store holding the release "
            "refuses records decided under this file — give it a new version")


def describe_policy(policy: Policy, released: Sequence[Policy], *, origin: str,
                    profile: str | None = None) -> dict[str, Any]:
    """Everything ``agcredit policy show`` prints: id, version, description, content hash, where the policy came from
    (``origin``: ``default``, ``version`` or ``file``, as :func:`pipelines.impact.resolve_policy` says), its standing
    against the released versions (:func:`released_match`), every profile (only ``profile``, if given: an unknown
    one is a :class:`~underwriting.errors.PolicyError` naming the profiles) and the reason texts
    (:data:`~underwriting.policy.REASON_CODES` order)."""
    names = [profile] if profile is not None else list(policy.profiles)
    profiles = [describe_profile(policy.profile(n)) for n in names]
    return {"policy_id": policy.policy_id, "version": policy.version, "description": policy.description,
            "content_hash": policy.content_hash, "origin": origin, "source": policy.source,
            "released": released_match(policy, released), "profiles": profiles,
            "reason_texts": {c: policy.reason_texts[c] for c in REASON_CODES if c in policy.reason_texts}}


def not_set_text(key: str) -> str:
    """What an optional key a file does not set means (``key``: a parameter's YAML key, a crop's checkpoint
    ``emergence_checkpoint_by_crop.<crop>``)."""
    if key in OPTIONAL_RULES:
        return "not set (off: the behaviour before the rule)"
    if key == "override_approval_share":
        from underwriting.override import LEGACY_APPROVAL_SHARE

        return f"not set ({(LEGACY_APPROVAL_SHARE * 100).normalize():f}%, CREDIT_POLICY.md)"
    if key == _BY_CROP:
        return "not set (every crop at the profile's emergence_checkpoint)"
    if key.startswith(f"{_BY_CROP}."):
        return "not set (the profile's emergence_checkpoint)"
    return "not set"


def value_text(value: Any, key: str = "") -> str:
    """A parameter's value as printed: money ``USD 400,000.00``, an optional rule on / off, a checkpoint
    ``06-30 (year offset 0)``, numbers as written; an optional key not set says what that means
    (:func:`not_set_text` of ``key``)."""
    if value is None:
        return not_set_text(key)
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
            yield from ((f"evidence.{k}", params["evidence"][k]) for k in EVIDENCE_KEYS)
        elif key == _BY_CROP:
            yield from ((f"{_BY_CROP}.{c}", (params[key] or {}).get(c)) for c in crops)
        else:
            yield key, params[key]


def _kind(old: Any, new: Any) -> str:
    return "added" if old is None else "removed" if new is None else "changed"


def _profile_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    crops = sorted(set(a["parameters"][_BY_CROP] or {}) | set(b["parameters"][_BY_CROP] or {}))
    return [{"key": key, "change": _kind(old, new), "a": old, "b": new}
            for (key, old), (_, new) in zip(_flat(a["parameters"], crops), _flat(b["parameters"], crops), strict=True)
            if old != new]


def change_text(change: Mapping[str, Any]) -> str:
    """One line of a profile's change: ``key: A → B``, a value not set saying what that means
    (:func:`value_text`)."""
    key = str(change["key"])
    return f"{key}: {value_text(change['a'], key)} → {value_text(change['b'], key)}"


def _text_changes(a: Mapping[str, Any], b: Mapping[str, Any], keys: Sequence[str], name: str) -> list[dict[str, Any]]:
    return [{name: k, "change": _kind(a.get(k), b.get(k)), "a": a.get(k), "b": b.get(k)}
            for k in keys if a.get(k) != b.get(k)]


def diff_policies(a: Policy, b: Policy, *, profile: str | None = None) -> dict[str, Any]:
    """What differs from ``a`` to ``b``: ``identical`` (equal content hashes); ``document``: the id, version and
    description that differ (``key``, ``change``, ``a``, ``b``); the profiles only in one; each common profile's
    changed parameters (:func:`change_text`; profiles in ``a``'s file order); the reason codes whose text changed,
    was added or removed (:data:`~underwriting.policy.REASON_CODES` order); ``written_differently``: the contents
    differ but none of those does (the same parameters written otherwise, ``"400000"`` for ``"400000.00"``).

    ``profile``: that profile only (its parameters, the reason texts and the document's keys are shown);
    ``other_profiles_differ`` says whether a profile not shown differs; ``differs``: whether anything shown differs
    (without ``profile``: whether the contents differ). A profile neither policy has: a
    :class:`~features.errors.UserInputError` naming theirs."""
    if profile is not None and profile not in a.profiles and profile not in b.profiles:
        raise UserInputError(f"--profile {profile!r}: no such profile in either policy (A: {', '.join(a.profiles)}; "
                             f"B: {', '.join(b.profiles)})")

    def compare(keep: Sequence[str] | None) -> tuple[list[str], list[str], dict[str, list[dict[str, Any]]]]:
        names_a = [n for n in a.profiles if keep is None or n in keep]
        names_b = [n for n in b.profiles if keep is None or n in keep]
        changes = {n: _profile_changes(describe_profile(a.profiles[n]), describe_profile(b.profiles[n]))
                   for n in names_a if n in b.profiles}
        return [n for n in names_a if n not in b.profiles], [n for n in names_b if n not in a.profiles], changes

    only_a, only_b, profiles = compare(None if profile is None else [profile])
    doc_a = {"policy_id": a.policy_id, "version": a.version, "description": a.description}
    doc_b = {"policy_id": b.policy_id, "version": b.version, "description": b.description}
    document = _text_changes(doc_a, doc_b, list(doc_a), "key")
    texts = _text_changes(a.reason_texts, b.reason_texts, REASON_CODES, "code")
    shown = bool(document or texts or only_a or only_b or any(profiles.values()))
    others = False
    if profile is not None:
        rest_a, rest_b, rest = compare([n for n in {*a.profiles, *b.profiles} if n != profile])
        others = bool(rest_a or rest_b or any(rest.values()))
    identical = a.content_hash == b.content_hash
    return {"identical": identical, "document": document, "only_in_a": only_a, "only_in_b": only_b,
            "profiles": profiles, "reason_texts": texts,
            "written_differently": not identical and not shown and not others,
            "other_profiles_differ": others if profile is not None else None,
            "differs": shown if profile is not None else not identical}


# --- checks -----------------------------------------------------------------------------------------------------

def _check(name: str, status: str, text: str) -> dict[str, str]:
    return {"check": name, "status": status, "text": text}


def check_archive(policy: Policy, released: Sequence[Policy]) -> dict[str, str]:
    """The file against the released versions of the shipped policy: a problem when it reuses a released version's
    id and version with other content (:func:`clash_text`)."""
    match = released_match(policy, released)
    if match["clash"] is not None:
        return _check("archive", "problem", clash_text(policy, match["clash"]))
    if match["equals"] is not None:
        return _check("archive", "ok", f"the content of released version {match['equals']['version']} of the "
                      "shipped policy")
    return _check("archive", "ok", "not a released version of the shipped policy, and no released version has its "
                  "id and version")


def _named(block: object) -> tuple[str, str, str] | None:
    """(policy id, version, content hash) a record's ``policy`` block names (a mapping or its JSON text), or None."""
    try:
        pol = json.loads(block) if isinstance(block, str) else block
    except ValueError:
        return None
    if not isinstance(pol, dict) or pol.get("id") is None:
        return None
    return str(pol["id"]), str(pol.get("version")), str(pol.get("content_hash"))


def _blocks(records: pd.DataFrame) -> list[object]:
    """Each record's ``policy`` block: the ``policy`` column
    (:meth:`~underwriting.store.DecisionStore.policy_blocks`), else taken from the ``body``."""
    if not len(records):
        return []
    if "policy" in records.columns:
        return list(records["policy"])
    return [policy_block(b) for b in records["body"]]


def check_store(policy: Policy, registered: str | None, records: pd.DataFrame) -> list[dict[str, str]]:
    """The file against a decision store: ``registered``, the content hash the store holds for the file's (id,
    version) (:meth:`~underwriting.store.DecisionStore.policy_content`), and the store's ``records`` (a ``policy``
    column, :meth:`~underwriting.store.DecisionStore.policy_blocks`, or their ``body``). The contents the store
    knows for the version are the registered one and those its records name (a store written before versions were
    registered has records only). None: new to the store; only this content: recorded, with how many records name
    it; another: a problem (the store would refuse every record decided under the file). A later version of the
    same policy id in the records (:func:`~underwriting.policy.version_order`; versions that cannot be ordered are
    not called later): a warning."""
    named = Counter(n for n in map(_named, _blocks(records)) if n is not None)
    pid, version, digest = policy.policy_id, policy.version, policy.content_hash
    known = {h: n for (i, v, h), n in named.items() if (i, same_version(v)) == (pid, same_version(version))}
    other = sorted((({registered} if registered is not None else set()) | set(known)) - {digest})
    if other:
        said = []
        for h in other:
            where = ["registered"] if h == registered else []
            where += [f"{known[h]} record(s) name it"] if h in known else []
            said.append(f"hash {h[:12]}…: {', '.join(where)}")
        out = [_check("store", "problem", f"the store holds version {version} with other content ({'; '.join(said)})"
                      ": give the changed policy a new version")]
    elif registered is None and digest not in known:
        out = [_check("store", "ok", f"version {version} is new to this store")]
    else:
        out = [_check("store", "ok", f"recorded in this store with this content: {known.get(digest, 0)} record(s) "
                      "name it")]
    later = later_versions(policy, records)
    if later:
        out.append(_check("store", "warning", f"the store holds records of a later version of {pid}: "
                          f"{', '.join(later)}"))
    return out


def later_versions(policy: Policy, records: pd.DataFrame) -> list[str]:
    """The versions of ``policy``'s id later than its own (:func:`~underwriting.policy.version_order`; versions that
    cannot be ordered are not called later) that the store's ``records`` name (:func:`check_store`'s)."""
    named = {n for n in map(_named, _blocks(records)) if n is not None}
    return sorted({v for (i, v, _) in named if i == policy.policy_id and version_order(v, policy.version) == 1},
                  key=version_key)


# --- history ----------------------------------------------------------------------------------------------------

def _current(records: pd.DataFrame) -> set[str]:
    """The record ids in force: each application's last record in chain order (``records`` in chain order; the one
    superseded by none — :meth:`~underwriting.store.DecisionStore.heads`; of a forked chain, the last written, as
    ``explain`` and ``override`` follow it)."""
    last = dict(zip(records["application_id"].astype(str), records["record_id"].astype(str), strict=True))
    return set(last.values())


def policy_history(records: pd.DataFrame, released: Sequence[Policy]) -> list[dict[str, Any]]:
    """Which policy versions decided ``records`` (the store's rows in chain order: ``record_id``, ``kind``,
    ``application_id``, ``season``, ``as_of`` and the ``policy`` block —
    :meth:`~underwriting.store.DecisionStore.policy_blocks` — or the ``body``): per (policy id, version, content
    hash) in version order, the records by kind (:data:`~underwriting.records.KINDS` order), the first and last
    as-of dates, the seasons, the released version of the shipped policy of that content (None: unknown content)
    and how many applications' current record names it. Records whose body names no policy are one group with id
    None, first."""
    current = _current(records)
    groups: dict[tuple[str, str, str] | None, list[int]] = {}
    for i, block in enumerate(_blocks(records)):
        groups.setdefault(_named(block), []).append(i)
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
