"""Promotion and policy impact on the Book's re-underwriting (``agcredit models impact --reunderwriting``, ``agcredit
policy impact --reunderwriting``): what a model version or a policy, adopted mid-season, would do to the loans already
on the Book at the next re-underwriting checkpoint, before it is adopted.

The Book's lines active on the as-of date are re-underwritten twice, each exactly as ``agcredit reunderwrite --as-of``
runs them (:func:`pipelines.reunderwrite.reunderwrite_county` for a county folder,
:func:`~pipelines.reunderwrite.reunderwrite_files` for a bank's files, ``book_check_when_deciding`` as the command
sets it) — once with the version in force (``--against``, default the champion in force on the date, as the command
resolves it) and once with the candidate; or once under each policy — everything else the same. The decision store
(required: the lines' previous records live there; default the one ``reunderwrite`` writes to) is read as it stands
now through a read-only view (:func:`pipelines.replay.store_view`) and nothing is written: each run's new records go
to a list (``collect``), its features artifact is hashed, not written. Each side is what ``reunderwrite`` would
append with that version or policy, line by line.

The comparison is the impact's (:func:`pipelines.impact.compare_decisions`: outcome, limit, granted, maturity,
proposed actions, reasons), keyed by application (one row per re-underwritten line; a farmer's several lines are one
row ``L1+L2``, as re-underwriting decides them) with the line's id, Book limit, outstanding balance and previous limit
beside it; what re-underwriting adds is said too: per run, how many lines get each proposed action (freeze the undrawn
line, shorten the term, send to review) and how many are left below their outstanding balance, and the lines whose
proposed actions change. What re-underwriting says of lines it does not re-decide (a line whose application has a
record after the date, a line without an application, held lines) is said as it says it, once when both runs say
it.

With later checkpoints of the season (``--then``, :class:`SeasonImpact`): each side re-underwrites the Book at each
later date too, on the store as the first date's runs read it plus that side's own records of the earlier dates,
overlaid as if written (:func:`pipelines.replay.store_view`'s ``extra``) — the candidate's second checkpoint follows
the candidate's first, as the store would stand had it been adopted; nothing is written. The first date's comparison
is the one-date impact's (its rows with ``previous_limit_candidate`` too); each later one is compared the same way,
then the season's summary (each line's limit per side at each date, the lines given each proposed action at any date,
the lines whose last limit differs, the last date's limits against the outstanding balances). A season's lines carry
each side's limit before the date (``previous_limit``, ``previous_limit_candidate``: at a later date each side's own);
a version in force that changes between the dates (a promotion) is named per date, and the candidate itself in force
at a later date is compared still (said).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines._impact_reunderwriting_result import (
    ACTIONS,
    LINE_COLUMNS,
    ReunderwritingImpact,
    SeasonImpact,
    compare_lines,
)
from pipelines._impact_reunderwriting_runs import _held, _read_source, _skipped, _store, _twice, nothing_at
from pipelines.impact import candidate_models, held_out_of, policy_text, resolve_policy

# isort: split
# re-exported, unused here: importable from pipelines.impact_reunderwriting as before its results and runs moved out
from collections import Counter  # noqa: F401
from dataclasses import dataclass, field  # noqa: F401

from pipelines._impact_reunderwriting_result import _action_counts, _acts, _line, _some  # noqa: F401
from pipelines._impact_reunderwriting_runs import (  # noqa: F401
    _SKIP_WORDS,
    Later,
    Runs,
    _dates,
    _Source,
    _twice_on,
)
from pipelines.impact import ImpactResult, compare_decisions, merge_said  # noqa: F401

__all__ = ["ACTIONS", "LINE_COLUMNS", "ReunderwritingImpact", "SeasonImpact", "compare_lines",
           "policy_impact_reunderwriting", "promotion_impact_reunderwriting"]


def promotion_impact_reunderwriting(name: str, candidate: str, *, as_of: dt.date, against: str = "champion",
                                    county: str | Path | None = None, fields: str | Path | None = None,
                                    imagery: str | None = None, book: str | Path | None = None,
                                    applications: str | Path | None = None, weather: str | Path | None = None,
                                    history: str | Path | None = None, season: str | None = None,
                                    store: str | None = None, policy: str | Path | None = None,
                                    profile: str | None = None, cache_dir: Path | None = None,
                                    allow_missing_acquisitions: bool = False,
                                    then: Sequence[dt.date] = ()) -> ReunderwritingImpact | SeasonImpact:
    """The Book's active lines as of ``as_of`` re-underwritten with ``name``'s version ``against`` (``champion``: the
    champion in force on the date, as ``reunderwrite`` takes it) and with ``candidate`` (a version or an alias;
    crop-type: a saved folder too), everything else the same, nothing written; compared (module docstring).
    ``county`` or ``fields``/``imagery``/``book``/``applications`` (with ``weather``, ``history``): as
    ``reunderwrite`` reads them; ``store``: an existing decision store (default ``reunderwrite``'s), read only;
    ``policy``: a policy file (default the shipped policy). ``then`` (``--then``): later checkpoints of the season,
    each side re-underwriting the Book at each after its own records of the earlier ones (:class:`SeasonImpact`;
    the version in force: the champion in force on each date — at a later date it may be the candidate itself,
    promoted between the dates: compared still, each side after its own records, and said; the same version is
    refused at ``as_of`` only)."""
    from models.errors import RegistryError
    from pipelines._champions import ChampionModels
    from pipelines.impact import MODEL_NAMES
    from underwriting.policy import default_policy, load_policy

    what = "models impact"
    if name not in MODEL_NAMES:
        raise UserInputError(f"{what}: unknown model {name!r} (expected {' or '.join(MODEL_NAMES)})")
    pol = load_policy(policy) if policy is not None else default_policy()
    with _store(store) as view:
        src = _read_source(what, as_of, county=county, fields=fields, imagery=imagery, book=book,
                           applications=applications, weather=weather, history=history, season=season,
                           cache_dir=cache_dir, allow_missing_acquisitions=allow_missing_acquisitions)
        days = src.later_days(what, as_of, then)
        prof = src.profile(pol, profile, as_of)
        pol.profile(prof)

        def sides(day: dt.date, said: list[str]) -> tuple[Any, Any, str, str, str | None]:
            # at a later date the version in force may have become the candidate (promoted between the dates): the
            # comparison still runs (each side after its own earlier records), said; at the first date it is refused
            try:  # the version in force as `reunderwrite` resolves it: the champions of the date
                base = ChampionModels.resolve(alias=against if name == "yield-value" else "champion",
                                              crop_model="champion" if name == "yield-value" else against,
                                              warnings=said, weather=src.weather, on=day)
            except RegistryError as e:
                if name != "crop-type" or "crop-type" not in e.problem:
                    raise
                raise RegistryError(problem=e.problem, fix="train one with `agcredit train crop-type`, or name the "
                                    "model in force with --against (a version, an alias or a saved folder)") from None
            cand, base_text, cand_text, data = candidate_models(what, name, candidate, against, base,
                                                                weather=src.weather, said=None,
                                                                same_said=said if day != as_of else None)
            return base, cand, base_text, cand_text, data

        warnings: list[str] = []
        said: dict[dt.date, list[str]] = {day: [] for day in days}
        got = {as_of: sides(as_of, warnings), **{day: sides(day, said[day]) for day in days}}
        later = [(day, [(got[day][0], pol), (got[day][1], pol)], [got[day][2], got[day][3]], said[day])
                 for day in days]
        base, cand, base_text, cand_text, _ = got[as_of]
        ran = _twice(what, src, view, as_of, [(base, pol), (cand, pol)], [base_text, cand_text], prof, warnings,
                     later)
    out = []
    for day, (runs, items, only) in zip([as_of, *days], ran, strict=True):
        base, cand, base_text, cand_text, data = got[day]
        out.append(ReunderwritingImpact(
            name=name, base=base_text, candidate=cand_text, season=src.season, as_of=day,
            policy=policy_text(pol), profile=prof, data=data,
            applications=compare_lines(items[0], items[1], candidate_previous=bool(days)),
            values=pd.DataFrame(), checkpoints=(runs[0].checkpoint, runs[1].checkpoint),
            warnings=warnings if day == as_of else said[day],
            held_out=(held_out_of(base), held_out_of(cand)) if name == "yield-value" else (),
            details={"base_run_id": base.yield_run_id, "candidate_run_id": cand.yield_run_id}
            if name == "yield-value" else {},
            held_lines=_held(runs), one_run_only=only, models_said=base.said, skipped=_skipped(runs[0]),
            nothing=nothing_at(runs, items, only) if day != as_of else None))
    return SeasonImpact(tuple(out)) if days else out[0]


def policy_impact_reunderwriting(candidate: str | Path, *, as_of: dt.date, against: str | Path = "default",
                                 county: str | Path | None = None, fields: str | Path | None = None,
                                 imagery: str | None = None, book: str | Path | None = None,
                                 applications: str | Path | None = None, weather: str | Path | None = None,
                                 history: str | Path | None = None, season: str | None = None,
                                 store: str | None = None, profile: str | None = None,
                                 cache_dir: Path | None = None, allow_missing_acquisitions: bool = False,
                                 then: Sequence[dt.date] = ()) -> ReunderwritingImpact | SeasonImpact:
    """The Book's active lines as of ``as_of`` re-underwritten under the policy ``against`` (default the shipped one)
    and under ``candidate`` (each :func:`pipelines.impact.resolve_policy`), the champion models in force on the date
    and every other input the same, nothing written; compared as :func:`promotion_impact_reunderwriting` (``then``
    too: the champions in force on each date, the same on both sides; the policies are the same at every date)."""
    from pipelines._champions import ChampionModels, models_text

    what = "policy impact"
    (base_pol, _), (cand_pol, _) = resolve_policy(against), resolve_policy(candidate)
    if base_pol.content_hash == cand_pol.content_hash:
        raise UserInputError(f"{what}: {str(candidate)!r} and {str(against)!r} are the same policy "
                             f"({policy_text(cand_pol)}): nothing to compare")
    with _store(store) as view:
        src = _read_source(what, as_of, county=county, fields=fields, imagery=imagery, book=book,
                           applications=applications, weather=weather, history=history, season=season,
                           cache_dir=cache_dir, allow_missing_acquisitions=allow_missing_acquisitions)
        days = src.later_days(what, as_of, then)
        try:  # the policy in force chooses the profile (as reunderwrite --policy); its error names --against
            prof = src.profile(base_pol, profile, as_of)
            base_pol.profile(prof)
        except UserInputError as e:
            raise UserInputError(f"{what}, the policy in force {policy_text(base_pol)}: {e}") from None
        try:
            if cand_pol.profile(prof).currency != base_pol.profile(prof).currency:
                raise UserInputError(f"profile {prof} is in {cand_pol.profile(prof).currency}, the policy in force's "
                                     f"in {base_pol.profile(prof).currency}")
        except UserInputError as e:
            raise UserInputError(f"{what}, the candidate {policy_text(cand_pol)}: {e}") from None
        warnings: list[str] = []
        said: dict[dt.date, list[str]] = {day: [] for day in days}
        models = {day: ChampionModels.resolve(crop_model="champion", warnings=said.get(day, warnings),
                                              weather=src.weather, on=day) for day in [as_of, *days]}
        base_text, cand_text = policy_text(base_pol), policy_text(cand_pol)
        later = [(day, [(models[day], base_pol), (models[day], cand_pol)], [base_text, cand_text], said[day])
                 for day in days]
        ran = _twice(what, src, view, as_of, [(models[as_of], base_pol), (models[as_of], cand_pol)],
                     [base_text, cand_text], prof, warnings, later)
    out = [ReunderwritingImpact(
        name="policy", base=base_text, candidate=cand_text, season=src.season, as_of=day,
        policy=f"models {models_text(models[day].versions())}", profile=prof,
        data=getattr(models[day].governance, "data", None),
        applications=compare_lines(items[0], items[1], candidate_previous=bool(days)),
        values=pd.DataFrame(), checkpoints=(runs[0].checkpoint, runs[1].checkpoint),
        warnings=said.get(day, warnings),
        details={"models": models[day].versions(), "base_content_hash": base_pol.content_hash,
                 "candidate_content_hash": cand_pol.content_hash},
        held_lines=_held(runs), one_run_only=only, models_said=models[day].said, skipped=_skipped(runs[0]),
        nothing=nothing_at(runs, items, only) if day != as_of else None)
        for day, (runs, items, only) in zip([as_of, *days], ran, strict=True)]
    return SeasonImpact(tuple(out)) if days else out[0]
