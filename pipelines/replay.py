"""Replay stored decisions: recompute them from their inputs and compare, writing nothing.

A model-risk reviewer or an auditor re-runs the decisions of a season as of a date from the same input files, with
the model versions the stored records name, and learns for every application whether its stored decision is
reproduced:

- ``identical``: the replayed body equals the stored one byte for byte;
- ``reproduced``: everything the decision rests on and says — application, fields (features, crop probabilities,
  growth stage, hectares), valuations, market, models, policy, computation, outcome, limit, reasons — is equal;
  only the run-level provenance differs (e.g. the hash of the whole run's features file when fewer fields were
  given, or the note that the crop season scale was pinned), with the keys named;
- ``differs``: which parts differ (field by field), and the outcome and limit stored → replayed;
- ``not stored``: no decision of that application as of the date in the store.

Nothing is written: no record, no features artifact. Only records of kind ``decision`` (``underwrite``) are
replayed; re-underwriting and override records follow from them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.errors import UserInputError
from underwriting.records import canonical_json

__all__ = ["ReplayRow", "ReplayResult", "compare_bodies", "replay_files"]

#: input hashes derived from the run-level provenance (compared through it, not as decision inputs)
_DERIVED_HASHES = ("provenance", "snapshot")
_CROP_VERSION = re.compile(r"^crop-type version (\d+)\b")


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


def _recorded_versions(bodies: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The yield model version and the crop model (a version, ``none``, or None: not from the registry) the
    stored records name; one of each, else a user error."""
    ys = {str(m.get("version")) for b in bodies for m in b.get("models", []) if m.get("name") == "yield-value"}
    if len(ys) != 1:
        raise UserInputError(f"the stored decisions name {len(ys)} yield-value versions ({', '.join(sorted(ys))}): "
                             "replay one run at a time (--applications of one run)")
    crops = set()
    for b in bodies:
        text = str((b.get("provenance") or {}).get("crop_model_version") or "none")
        m = _CROP_VERSION.match(text)
        crops.add(m.group(1) if m else ("none" if text in ("none", "None") else None))
    if len(crops) != 1:
        raise UserInputError(f"the stored decisions name {len(crops)} crop-type models: replay one run at a time")
    return ys.pop(), crops.pop()


def replay_files(applications: str | Path, fields: str | Path, season: str, as_of: dt.date, *,
                 imagery: str | Path | None = None, features: str | Path | None = None,
                 book: str | Path | None = None, policy: str | Path | None = None, profile: str | None = None,
                 store: str | None = None, crop_model: str | Path | None = None, cache_dir: Path | None = None,
                 weather: str | Path | None = None, crop_season_scale: float | None = None,
                 haze_dates: Sequence[dt.date] | None = None) -> ReplayResult:
    """Replay the stored decisions of ``applications`` (season ``season``, as of ``as_of``) from these inputs with
    the model versions the records name (``crop_model`` overrides the crop model: an alias, a version, a folder
    or ``none``); compare each with the stored record. Reads the store; writes nothing."""
    from pipelines.underwrite import ChampionModels, read_underwrite_inputs, score_and_decide
    from underwriting.store import DecisionStore

    inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                 profile=profile, weather=weather, crop_season_scale=crop_season_scale,
                                 haze_dates=haze_dates)
    day = as_of.isoformat()
    ids = sorted(inp.applications.loc[inp.applications["season"].astype(str) == inp.season, "application_id"]
                 .astype(str))
    with DecisionStore(store) as st:
        shown = st.shown_url
        stored = {}
        for a in ids:
            recs = [r for r in st.history(a) if r.kind == "decision" and r.as_of == day]
            if recs:
                stored[a] = recs[-1]
    if not stored:
        raise UserInputError(f"no stored decision of these {len(ids)} application(s) as of {day} in {shown}: "
                             "nothing to replay")
    yv, cv = _recorded_versions([r.body for r in stored.values()])
    if crop_model is None:
        if cv is None:
            raise UserInputError("the stored decisions used a crop-type model from a folder: give --crop-model PATH")
        crop_model = cv
    warnings: list[str] = []
    models = ChampionModels.resolve(alias=yv, crop_model=crop_model, weather=inp.weather,
                                    crop_season_scale=crop_season_scale)
    run = score_and_decide(inp.applications, inp.fields, inp.season, as_of, imagery=imagery, policy=inp.policy,
                           profile=inp.profile, book=inp.book, store_url=store, models=models,
                           features=inp.features, cache_dir=cache_dir, weather=inp.weather, haze_dates=haze_dates,
                           write_artifact=False)
    warnings += run.warnings
    rows = []
    for item in sorted(run.items, key=lambda i: i.application_id):
        rec = stored.get(item.application_id)
        if rec is None:
            rows.append(ReplayRow(item.application_id, "not stored", replayed=(item.outcome, item.limit)))
            continue
        parts, prov = compare_bodies(rec.body, item.body)
        status = "identical" if rec.body_json == item.body_json else ("reproduced" if not parts else "differs")
        rows.append(ReplayRow(item.application_id, status, record_id=rec.record_id,
                              stored=(rec.outcome, rec.limit), replayed=(item.outcome, item.limit),
                              differs=tuple(parts), provenance=tuple(prov)))
    return ReplayResult(rows=rows, models=run.models, currency=inp.policy.profile(inp.profile).currency,
                        warnings=warnings)
