"""Promotion impact (``agcredit models impact``): what promoting a model version would change in a batch of
applications, before it is promoted.

A bank's model change is approved on its consequences, not only on its held-out figures: the credit committee asks
which decisions would move, by how much, and for which crops. This module decides the same applications twice, with
the same inputs, policy and Book, once with the version in force (``--against``, default the champion) and once with
the candidate, through production's own path (:func:`pipelines.underwrite.score_and_decide`) — and stores nothing,
not even the features artifact. Only the model differs between the two runs, so every difference is the model's.

* ``yield-value``: both runs value the same features (a ``features build`` file, or built once from the imagery with
  the champion crop model); the candidate's valuations and checkpoint scope replace the champion's.
* ``crop-type``: the features carry the crop model they were built with, so the impact needs the imagery: they are
  built twice, once with each crop model; both runs value them with the champion yield model.

What it reports: the outcomes' transitions (champion's in rows, candidate's in columns), how many decisions change
(outcome, or granted limit only), the granted totals, the fields' valuations by crop and region (the P10 value the
limit is built on, the median P50 yield, fields valued as another crop, fields leaving or entering the version's
validated scope), the reasons added and removed, and the applications whose granted limit moves most. Application
ids and pseudonymous farmer tokens only: the inputs' names, ID numbers and phones are never read into it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines._impact_compare import compare_decisions, compare_values
from pipelines._impact_result import ImpactResult
from pipelines._impact_runs import _decide_twice, _read_inputs, _store_records, merge_said

# isort: split
# re-exported, unused here: importable from pipelines.impact as before its helpers moved to pipelines._impact_*
from collections import Counter  # noqa: F401
from dataclasses import dataclass, field  # noqa: F401

from pipelines._impact_compare import (  # noqa: F401
    _GRANTING,
    APPLICATION_COLUMNS,
    _actions,
    _granted,
    _maturity,
    _reasons,
    _value,
)
from pipelines._impact_result import _OUTCOMES, _given, _money, _pct  # noqa: F401

__all__ = ["ImpactResult", "MODEL_NAMES", "compare_decisions", "compare_values", "held_out_of", "merge_said", "policy_impact",
           "policy_text", "promotion_impact", "resolve_policy", "version_text"]

#: the registered models an impact can be measured for
MODEL_NAMES = ("yield-value", "crop-type")


#: the held-out figures of a yield-value version the impact prints beside its consequences (those the registry
#: records; ``models show`` lists every one)
HELD_OUT_METRICS = ("r2_all", "skill_r2_all", "rmse_pct_all", "below_p10_all", "above_p90_all")


def held_out_of(models: Any) -> dict[str, Any]:
    """A yield-value version's held-out figures as its run logged them and the minimum metrics its governance record
    says it misses."""
    from models.registry import version_metrics

    metrics = version_metrics(models.yield_name, models.yield_version)
    return {"metrics": {k: metrics[k] for k in HELD_OUT_METRICS if k in metrics},
            "misses": list(models.governance.failures())}


def version_text(version: str, alias: str) -> str:
    """``version 3 (champion)``: a yield-value version as the impact names it (by number: no alias)."""
    return f"version {version}" + ("" if alias.isdigit() else f" ({alias})")


def candidate_models(what: str, name: str, candidate: str, against: str, base: Any, *, weather: Any,
                     same_said: list[str] | None = None, **keep: Any) -> tuple[Any, str, str, str | None]:
    """The models of the version in force (``base``, a :class:`pipelines._champions.ChampionModels`) with ``name``'s
    model swapped for the ``candidate`` (a yield version or alias; a crop-type version, alias or saved folder), how
    each side is named, and the data label of the yield versions compared (``None`` for crop type); one line when both
    sides name the same model — unless ``same_said`` is given (a later date of a season's impact, the candidate since
    become the version in force: each side still follows its own earlier records), which gains a line saying so.
    ``keep``: further fields of the swapped models (e.g. ``said=None``)."""
    from pipelines._champions import ChampionModels
    from pipelines.featurize import crop_model_key, load_crop_model

    both = "both sides re-underwrite with it, each after its own records of the earlier dates"
    if name == "yield-value":
        c = ChampionModels.resolve(alias=candidate, crop_model="none", weather=weather)
        if c.yield_version == base.yield_version and same_said is not None:
            same_said.append(f"the version in force is yield-value version {c.yield_version}, the candidate: {both}")
        elif c.yield_version == base.yield_version:
            raise UserInputError(f"{what}: {candidate!r} and {against!r} are both yield-value version "
                                 f"{c.yield_version}: nothing to compare")
        cand = replace(base, yield_model=c.yield_model, yield_version=c.yield_version, yield_run_id=c.yield_run_id,
                       governance=c.governance, **keep)
        labels = {str(getattr(m.governance, "data", "") or "") for m in (base, cand)} - {""}
        data = (" / ".join(str(getattr(m.governance, "data", "?")) for m in (base, cand)) if len(labels) > 1
                else (labels.pop() if labels else None))
        return cand, version_text(base.yield_version, against), version_text(c.yield_version, candidate), data
    model, desc = load_crop_model(candidate)
    # "crop-type version 3 (champion), run …", "file sha256:…", "none" (a run without a crop model: None): a version
    # and a saved copy of its folder are one model
    if crop_model_key(desc) == crop_model_key(str(base.crop_version or "none")) and same_said is not None:
        same_said.append(f"the crop-type model in force is the candidate ({desc}): {both}")
    elif crop_model_key(desc) == crop_model_key(str(base.crop_version or "none")):
        # two versions of one content: both named (a walkthrough was told only the candidate's)
        other = str(base.crop_version or "none")
        both_named = desc if other == desc else f"{desc}, and {other}: the same files"
        raise UserInputError(f"{what}: {candidate!r} and {against!r} are the same crop-type model ({both_named}): "
                             "nothing to compare")
    return replace(base, crop_model=model, crop_version=desc, **keep), str(base.crop_version or "none"), desc, None


def promotion_impact(name: str, candidate: str, *, applications: str | Path, fields: str | Path, season: str,
                     as_of: dt.date, features: str | Path | None = None, imagery: str | None = None,
                     against: str = "champion", book: str | Path | None = None, policy: str | Path | None = None,
                     profile: str | None = None, weather: str | Path | None = None,
                     history: str | Path | None = None, store: str | None = None,
                     crop_model: str = "champion", cache_dir: Path | None = None,
                     allow_missing_acquisitions: bool = False) -> ImpactResult:
    """Decide the season's applications as of ``as_of`` with ``name``'s version ``against`` and with ``candidate``
    (a version number or alias each; crop-type: a saved folder too), everything else the same, and compare (module
    docstring). Reads the inputs as ``agcredit underwrite`` reads them (one-line user errors); ``store`` (an existing
    decision store's URL, read only): the second pledges and open alerts a decision reads, as underwriting into it
    would; nothing is written anywhere (the imagery's series cache aside)."""
    from models.errors import RegistryError
    from pipelines._champions import ChampionModels
    from pipelines.underwrite import check_run_inputs

    if name not in MODEL_NAMES:
        raise UserInputError(f"models impact: unknown model {name!r} (expected {' or '.join(MODEL_NAMES)})")
    if name == "crop-type" and imagery is not None and crop_model != "champion":
        raise UserInputError("models impact crop-type: --crop-model is the yield impact's; the crop models compared "
                             "are --against and --candidate")
    if name == "crop-type" and features is not None:
        raise UserInputError("models impact crop-type: a features file carries the crop model it was built with; "
                             "give --imagery so that each crop model builds its own")
    inp, warnings = _read_inputs("models impact", applications, fields, season, features=features, imagery=imagery,
                                 book=book, policy=policy, profile=profile, weather=weather, history=history)
    bk = check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=inp.policy, profile=inp.profile,
                          book=inp.book, features=inp.features, imagery=imagery, warnings=warnings,
                          allow_missing_acquisitions=allow_missing_acquisitions)
    yield_alias = against if name == "yield-value" else "champion"
    # a features file carries its crop model's answers: no crop model is loaded for it
    crop_spec = (crop_model if features is None else "none") if name == "yield-value" else against
    try:
        base = ChampionModels.resolve(alias=yield_alias, crop_model=crop_spec,
                                      warnings=warnings if name == "yield-value" else None, weather=inp.weather)
    except RegistryError as e:
        if name != "crop-type" or "crop-type" not in e.problem:
            raise
        raise RegistryError(problem=e.problem, fix="train one with `agcredit train crop-type`, or name the model in "
                                                   "force with --against (a version, an alias or a saved folder)"
                            ) from None
    cand, base_text, cand_text, data = candidate_models("models impact", name, candidate, against, base,
                                                        weather=inp.weather)
    records = _store_records(store, inp.season)
    runs, vals = _decide_twice(inp, bk, as_of, [(base, inp.policy), (cand, inp.policy)], [base_text, cand_text],
                               features=features, imagery=imagery, rebuild=name == "crop-type", records=records,
                               cache_dir=cache_dir, allow_missing_acquisitions=allow_missing_acquisitions,
                               warnings=warnings)
    return ImpactResult(name=name, base=base_text, candidate=cand_text, season=inp.season, as_of=as_of,
                        policy=policy_text(inp.policy), profile=inp.profile, data=data,
                        applications=compare_decisions(runs[0].items, runs[1].items),
                        values=compare_values(vals[0], vals[1]),
                        checkpoints=(runs[0].checkpoint, runs[1].checkpoint), warnings=warnings,
                        held_out=(held_out_of(base), held_out_of(cand)) if name == "yield-value" else (),
                        details={"base_run_id": base.yield_run_id, "candidate_run_id": cand.yield_run_id}
                        if name == "yield-value" else {})


def policy_text(policy: Any) -> str:
    """``agcredit-default v2026.12.10 (hash 3a0c243161d6)``: a policy as decision records name it."""
    return f"{policy.policy_id} v{policy.version} (hash {policy.content_hash[:12]})"


def resolve_policy(spec: str | Path, released: Sequence[Any] | None = None) -> tuple[Any, str]:
    """A policy by ``default`` (the shipped one, always: a file of that name is not read), a released version of the
    shipped policy (``2026.12.9`` or ``v2026.12.9``: ``underwriting/policies/archive``; ``released``: those versions
    already loaded, else they are read) or a YAML file, and which of the three it was (``default``, ``version``,
    ``file``); a name that is both a released version and a file is ambiguous; else a one-line user error naming the
    released versions."""
    from underwriting.policy import archived_policies, default_policy, load_policy, version_key

    text = str(spec).strip()
    if text.lower() == "default":
        return default_policy(), "default"
    if not text:  # Path("") is the working folder
        raise UserInputError("policy '': an empty name (expected default, a released version of the shipped policy "
                             "or a policy file)")
    released = archived_policies() if released is None else list(released)
    name = text[1:] if text[:1] in ("v", "V") else text
    hits = [p for p in released if p.version == name]
    path = Path(text)
    if hits and path.exists():
        raise UserInputError(f"policy {text!r} names a released version of the shipped policy and a file here too: "
                             f"give the file as ./{text} or a path, or run elsewhere")
    if hits:
        return hits[0], "version"
    if path.is_dir():
        raise UserInputError(f"policy {text!r}: is a folder, not a policy file")
    if path.is_file():
        return load_policy(text), "file"
    raise UserInputError(f"policy {text!r}: no such file, and not a released version of the shipped policy "
                         f"(released: {', '.join(sorted({p.version for p in released}, key=version_key))}; or "
                         "default)")


def policy_impact(candidate: str | Path, *, applications: str | Path, fields: str | Path, season: str,
                  as_of: dt.date, features: str | Path | None = None, imagery: str | None = None,
                  against: str | Path = "default", book: str | Path | None = None, profile: str | None = None,
                  weather: str | Path | None = None, history: str | Path | None = None, store: str | None = None,
                  crop_model: str = "champion", cache_dir: Path | None = None,
                  allow_missing_acquisitions: bool = False) -> ImpactResult:
    """Decide the season's applications as of ``as_of`` under the policy ``against`` (default: the shipped policy)
    and under ``candidate`` (each :func:`resolve_policy`: a file, a released version or ``default``), the champion
    models and every other input the same (the features built or read once), nothing stored; compare as
    :func:`promotion_impact` (``name`` ``policy``; the valuations, the same under both, are left out)."""
    from pipelines._champions import ChampionModels
    from pipelines.underwrite import check_run_inputs

    (base_pol, _), (cand_pol, _) = resolve_policy(against), resolve_policy(candidate)
    if base_pol.content_hash == cand_pol.content_hash:
        raise UserInputError(f"policy impact: {str(candidate)!r} and {str(against)!r} are the same policy "
                             f"({policy_text(cand_pol)}): nothing to compare")
    if profile is not None:  # both policies must define the profile asked for: said before any input is read
        base_pol.profile(profile)
        try:
            cand_pol.profile(profile)
        except UserInputError as e:
            raise UserInputError(f"policy impact, the candidate {policy_text(cand_pol)}: {e}") from None
    # the inputs read as underwrite --policy reads them with the policy in force (its profile, by currency or --profile)
    try:
        inp, warnings = _read_inputs("policy impact", applications, fields, season, features=features,
                                     imagery=imagery, book=book, policy=base_pol, profile=profile, weather=weather,
                                     history=history)
    except UserInputError as e:  # the policy in force is --against here (underwrite's advice names --policy)
        raise UserInputError(str(e).replace("give --policy FILE", "give --against FILE")) from None
    prof = inp.profile
    bk = check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=base_pol, profile=prof,
                          book=inp.book, features=inp.features, imagery=imagery, warnings=warnings,
                          allow_missing_acquisitions=allow_missing_acquisitions)
    try:
        cand_pol.profile(prof)  # the candidate must define the profile too (one line naming the ones it has)
        check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=cand_pol, profile=prof,
                         book=inp.book, features=inp.features, imagery=None, warnings=[])  # the candidate's currency
    except UserInputError as e:
        raise UserInputError(f"policy impact, the candidate {policy_text(cand_pol)}: {e}") from None
    records = _store_records(store, inp.season)
    models = ChampionModels.resolve(crop_model=crop_model if features is None else "none", warnings=warnings,
                                    weather=inp.weather)
    base_text, cand_text = policy_text(base_pol), policy_text(cand_pol)
    runs, _vals = _decide_twice(inp, bk, as_of, [(models, base_pol), (models, cand_pol)], [base_text, cand_text],
                                features=features, imagery=imagery, rebuild=False, records=records,
                                cache_dir=cache_dir,
                                allow_missing_acquisitions=allow_missing_acquisitions, warnings=warnings)
    from pipelines._champions import models_text

    return ImpactResult(name="policy", base=base_text, candidate=cand_text, season=inp.season, as_of=as_of,
                        policy=f"models {models_text(models.versions())}", profile=prof,
                        data=getattr(models.governance, "data", None),
                        applications=compare_decisions(runs[0].items, runs[1].items),
                        values=pd.DataFrame(), checkpoints=(runs[0].checkpoint, runs[1].checkpoint),
                        warnings=warnings,
                        details={"models": models.versions(), "base_content_hash": base_pol.content_hash,
                                 "candidate_content_hash": cand_pol.content_hash})
