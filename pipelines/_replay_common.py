"""What both replays share (:mod:`pipelines.replay`): the result rows, the body comparison (identical / reproduced /
differs), and the models, policy and pins the stored records name."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import UserInputError
from underwriting.records import canonical_json

if TYPE_CHECKING:
    from underwriting.policy import Policy

_DERIVED_HASHES = ("provenance", "snapshot")
_PIN_NOTE = re.compile(r", season scale pinned at .*$")
_CROP_RUN = re.compile(r", run ([0-9a-f]+)")


@dataclass(frozen=True)
class ReplayRow:
    """One application's replay."""

    application_id: str
    status: str
    record_id: str | None = None
    stored: tuple[str, int] | None = None
    replayed: tuple[str, int] | None = None
    #: decision parts that differ (``fields[ID].key`` for a field's entry)
    differs: tuple[str, ...] = ()
    #: run-level provenance keys that differ
    provenance: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"application_id": self.application_id, "status": self.status, "record_id": self.record_id,
                "stored": list(self.stored) if self.stored else None,
                "replayed": list(self.replayed) if self.replayed else None,
                "differs": list(self.differs), "provenance_differs": list(self.provenance)}


@dataclass
class ReplayResult:
    """Every application's replay, and the models used."""

    rows: list[ReplayRow]
    models: dict[str, str | None]
    currency: str
    warnings: list[str] = field(default_factory=list)
    #: the policy replayed with (``agcredit-default 2026.12.1``, and where it came from when not the one given)
    policy: str = ""
    #: re-underwriting records written by a ``reunderwrite --due`` checkpoint or by several runs: each run replayed,
    #: in the order they ran (``maize mid_season (--due): 3 record(s)``, ``all lines: 5 record(s)``)
    runs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every stored decision was reproduced (identical or differing only in run-level provenance)."""
        return bool(self.rows) and all(r.status in ("identical", "reproduced") for r in self.rows)

    def counts(self) -> dict[str, int]:
        c = Counter(r.status for r in self.rows)
        return {k: c.get(k, 0) for k in ("identical", "reproduced", "differs", "not stored")}

    def provenance_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(k for r in self.rows for k in r.provenance).items()))


def _fields_diff(a: Any, b: Any) -> list[str]:
    by_a = {str(f.get("field_id")): f for f in (a or [])}
    by_b = {str(f.get("field_id")): f for f in (b or [])}
    out = []
    for fid in sorted(set(by_a) | set(by_b)):
        fa, fb = by_a.get(fid), by_b.get(fid)
        if fa is None or fb is None:
            out.append(f"fields[{fid}] {'added' if fa is None else 'missing'}")
            continue
        out += [f"fields[{fid}].{k}" for k in sorted(set(fa) | set(fb))
                if canonical_json(fa.get(k)) != canonical_json(fb.get(k))]
    return out


def compare_bodies(stored: dict[str, Any], replayed: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(decision parts that differ, run-level provenance keys that differ) between two decision bodies."""
    ps, pr = stored.get("provenance") or {}, replayed.get("provenance") or {}
    prov = sorted(k for k in set(ps) | set(pr) if canonical_json(ps.get(k)) != canonical_json(pr.get(k)))
    parts: list[str] = []
    for k in sorted(set(stored) | set(replayed)):
        a, b = stored.get(k), replayed.get(k)
        if k == "provenance":
            continue
        if k == "fields":
            parts += _fields_diff(a, b)
            continue
        if k == "input_hashes":
            a = {x: y for x, y in (a or {}).items() if x not in _DERIVED_HASHES}
            b = {x: y for x, y in (b or {}).items() if x not in _DERIVED_HASHES}
        if canonical_json(a) != canonical_json(b):
            parts.append(k)
    return parts, prov


def judge_replay(stored: dict[str, Any], stored_json: str, replayed: dict[str, Any]
                 ) -> tuple[str, list[str], list[str]]:
    """(status, decision parts that differ, provenance keys that differ) of a replayed body against its record's:
    ``identical`` byte for byte, ``reproduced`` when only run-level provenance differs, else ``differs``. The
    replayed body is first written under the record's body schema (:func:`underwriting.decisions.as_schema`): a record
    of an earlier release is compared with what this release's code writes for that schema (since 2026-12-06, ninth:
    /1 lacks the fields' ``model_yield_p90_t_ha``); a schema this release does not know is compared as replayed."""
    from underwriting.decisions import BODY_SCHEMAS, as_schema

    schema = stored.get("schema")
    if schema in BODY_SCHEMAS and schema != replayed.get("schema"):
        replayed = as_schema(replayed, str(schema))
    parts, prov = compare_bodies(stored, replayed)
    status = "identical" if stored_json == canonical_json(replayed) else ("reproduced" if not parts else "differs")
    return status, parts, prov


def _recorded_versions(bodies: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The yield model version and the crop model (a version, ``none``, or None: not from the registry) the
    stored records name; one of each, else a user error."""
    from pipelines._champions import crop_registry_version

    ys = {str(m.get("version")) for b in bodies for m in b.get("models", []) if m.get("name") == "yield-value"}
    if len(ys) != 1:
        raise UserInputError(f"the stored decisions name {len(ys)} yield-value versions ({', '.join(sorted(ys))}): "
                             "replay one run at a time (--applications of one run)")
    crops = set()
    for b in bodies:
        text = str((b.get("provenance") or {}).get("crop_model_version") or "none")
        crops.add(crop_registry_version(text) or ("none" if text in ("none", "None") else None))
    if len(crops) != 1:
        raise UserInputError(f"the stored decisions name {len(crops)} crop-type models: replay one run at a time")
    return ys.pop(), crops.pop()


def _recorded_policy(bodies: list[dict[str, Any]], given: Policy) -> tuple[Policy, str, list[str]]:
    """(policy to replay with, how to name it, warnings): the one policy the stored records name — the shipped one,
    or its released version from the archive (``given`` may already be it: :func:`_stored_policy_file`); ``given``,
    with a warning, when they name several, none, or one the archive does not hold (each record then differs in
    ``policy``)."""
    from underwriting.policy import archived_policies, archived_policy, default_policy

    named = Counter((str(p.get("id")), str(p.get("version")), str(p.get("content_hash")))
                    for p in (b.get("policy") or {} for b in bodies))
    here = f"{given.policy_id} {given.version}"
    shipped = default_policy().content_hash
    released_all = archived_policies()
    if len(named) > 1:
        known = {p.content_hash for p in released_all} | {shipped}
        listed = ", ".join(f"{i} {v}: {n}" + ("" if h in known else " (not released)")
                           for (i, v, h), n in sorted(named.items()))
        return given, here, [f"the stored decisions were decided under {len(named)} policies (decisions each: {listed}): "
                             f"replayed with {here}; replay each group from an applications file of its own, with "
                             "--policy (released versions are in underwriting/policies/archive)"]
    pid, version, digest = next(iter(named))
    if digest == given.content_hash:
        return given, here + ("" if digest == shipped else " (the released version the records name)"), []
    released = archived_policy(digest)
    if released is not None:
        return released, f"{released.policy_id} {released.version} (the released version the records name)", []
    if digest == "None":
        why = "name no policy"
    else:
        same = [p for p in released_all if (p.policy_id, p.version) == (pid, version)]
        why = (f"were decided under policy {pid} {version} with other content (hash {digest[:12]}…) than its "
               f"released version's ({same[0].content_hash[:12]}…)" if same else
               f"were decided under policy {pid} {version} (content hash {digest[:12]}…), which is not a released "
               "version of the shipped policy")
    return given, here, [f"the stored decisions {why}: replayed with {here}, so each differs in `policy`; give that "
                         "version's file with --policy"]


def _stored_policy_file(store: str | None, season: str, as_of: dt.date) -> Path | None:
    """The archived file of the released policy that every stored decision of ``season`` as of ``as_of`` names, when
    that is not the shipped one (else None): chosen before the inputs are read, so the run's profile is checked
    against the policy the records were decided under (a later release may have dropped or renamed it)."""
    import json

    from underwriting.policy import archived_policy, default_policy
    from underwriting.store import DecisionStore

    with DecisionStore(store, create=False, read_only=True) as st:
        blocks = st.policy_blocks(season)  # the policy blocks only, not every body of the season
    blocks = blocks[(blocks["kind"] == "decision") & (blocks["as_of"] == as_of.isoformat())]
    # a block is JSON text (SQLite extracts it) or a mapping (parsed from the body on other databases)
    parsed = [json.loads(b) if isinstance(b, str) else b for b in blocks["policy"]]
    digests = {str(p.get("content_hash")) if isinstance(p, dict) else "None" for p in parsed}
    if len(digests) != 1:
        return None
    digest = digests.pop()
    if digest == default_policy().content_hash:
        return None
    released = archived_policy(digest)
    return Path(released.source) if released is not None else None


def _crop_description(bodies: list[dict[str, Any]], resolved: str | None) -> str | None:
    """The crop model's description as the records give it (e.g. ``crop-type version 2 (champion)``: how the run
    named the version it resolved), with this replay's pin note: the replay resolved the same version by its
    number, and says so in the same words."""
    recorded = {_PIN_NOTE.sub("", str((b.get("provenance") or {}).get("crop_model_version"))) for b in bodies}
    if resolved is None or len(recorded) != 1:
        return resolved
    text = recorded.pop()
    was, now = _CROP_RUN.search(text), _CROP_RUN.search(resolved)
    if was and now and was.group(1) != now.group(1):
        return resolved  # the registry's version of that number is another run's model: the bodies say so
    pin = _PIN_NOTE.search(resolved)
    return text + (pin.group(0) if pin else "")


def recorded_pins(bodies: list[dict[str, Any]]) -> tuple[float | None, list[dt.date] | None]:
    """The crop season scale and the smoother's haze dates stored decision bodies were scored with (None where
    they say none: no season-calibrated crop call; features given, so no haze judged in the run); several
    different ones: a user error (replay one run at a time)."""
    scales = {float(f["crop_season_scale"]) for b in bodies for f in b.get("fields", [])
              if f.get("crop_season_scale") is not None}
    hazy = {tuple((b.get("provenance") or {})["smoother_hazy_dates"]) for b in bodies
            if "smoother_hazy_dates" in (b.get("provenance") or {})}
    if len(scales) > 1 or len(hazy) > 1:
        raise UserInputError(f"the stored decisions were scored with {len(scales)} crop season scales and {len(hazy)} "
                             "sets of haze dates (several runs, regions or checkpoints): replay one at a time, or "
                             "pin with --crop-season-scale / --hazy-dates")
    return (scales.pop() if scales else None,
            [dt.date.fromisoformat(d) for d in hazy.pop()] if hazy else None)


def _decided_without_missing(bodies: list[dict[str, Any]]) -> bool:
    """Records of a run made with ``--allow-missing-acquisitions`` (their provenance names the acquisitions a partial
    ``imagery fetch`` left missing): replayed on the same folder as they ran; other records on such a folder are
    refused as the run would have refused them."""
    return any((b.get("provenance") or {}).get("missing_acquisitions") for b in bodies)
