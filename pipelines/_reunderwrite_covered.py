"""A ``reunderwrite --due`` checkpoint covered by later records, in shadow (:func:`shadow_covered`): the covering
records that lack a shadow row of the registry's ``challenger`` get it as a repeated run of their date would add it.

A checkpoint whose lines all have records dated on or after it (a plain ``reunderwrite --as-of D2`` run since, say)
decides nothing: re-underwriting goes forward only (:class:`pipelines._reunderwrite_lines.AlreadyDecidedLater`).
Records written without shadow rows of the challenger (``--no-shadow``, or before the challenger was set) had them
only when a run of their date was repeated. Here the ``--due`` run repeats that run for them — :func:`reunderwrite`
as of the records' date with the run's selection (a plain run's every crop; a ``--due`` checkpoint's crop), the
pins its records name (:func:`repeat_options`) and the champions in force on that date, ``shadow_only``: nothing appended, each line whose record it finds stored is
decided by the challenger on the store as that run read it (the same inputs, store view and policy as the repeat)
and the decision goes to the shadow table. A second ``--due`` finds the checkpoint done (logged ``covered``) and the
rows present: nothing added."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines._champions import crop_registry_version

if TYPE_CHECKING:
    from pipelines._reunderwrite_run import Progress, ScoringModels
    from pipelines.county import County
    from pipelines.schedule import Due
    from underwriting.policy import Policy

__all__ = ["shadow_covered", "covering_without_shadow", "repeat_options"]

#: a crop model's description with its season scale pinned (:meth:`pipelines._champions.ChampionModels.with_season_scale`)
_SCALE = re.compile(r", season scale pinned at ([0-9.eE+-]+)")


def _challengers() -> list[tuple[str, str]]:
    """The models with a ``challenger`` alias and its version (:func:`pipelines.shadow.challengers` against no
    version in force: cheap, aliases only); none when the registry holds none."""
    from pipelines.shadow import challengers

    return [(name, version) for name, version, _ in challengers({})]


def _in_force(body: dict[str, Any], name: str) -> str | None:
    """The version of ``name`` a record's body was decided with."""
    if name == "crop-type":
        return crop_registry_version((body.get("provenance") or {}).get("crop_model_version"))
    return next((str(m.get("version")) for m in body.get("models") or [] if m.get("name") == name), None)


def covering_without_shadow(st: Any, c: County, book: pd.DataFrame, d: Due, today: date,
                            challengers: list[tuple[str, str]]
                            ) -> tuple[dict[tuple[str, str | None], tuple[dict[str, dict[str, Any]], date | None]],
                                       list[str]]:
    """The covered checkpoint ``d``'s lines (:func:`lines_to_review` of its crop on the run's ``book``, open on ``today``) whose latest
    record is a re-underwriting dated on or after the checkpoint lacking a shadow row of one of ``challengers`` (a
    version other than the record's own): by (the record's as-of date, the crop of the ``--due`` checkpoint that wrote
    it — None: a plain run, every crop), each application's record body, and for a ``--due`` run the day it kept
    lines open from (:func:`_run_open_on`; None for a plain run); and the applications whose covering record lacks
    a row but an analyst's override has replaced since (no repeat decides a line its override stands on: said, never
    filled)."""
    from pipelines._reunderwrite_lines import lines_to_review
    from pipelines.schedule import RECORDS_TABLE

    season = str(d.season)
    recs = st.records(season)
    if recs.empty:
        return {}, []
    todo = lines_to_review(book, c.applications(), d.date, season, records=recs, crops=[d.crop])
    todo = todo[todo["crop"].astype(str) == str(d.crop)]
    todo = todo[pd.to_datetime(todo["maturity_date"]) >= pd.Timestamp(today)]
    apps = set(todo["review_application_id"].astype(str))
    ordered = recs.sort_values("seq")
    overridden_apps = set(ordered.groupby("application_id").tail(1).query("kind == 'override'")["application_id"]
                          .astype(str))
    runs = ordered[ordered["kind"] != "override"]
    latest = runs.groupby("application_id").tail(1)  # each line's latest run record: an override's stands beneath it
    latest = latest[latest["application_id"].astype(str).isin(apps) & (latest["kind"] == "reunderwrite")
                    & (latest["as_of"] >= d.date.isoformat())]
    if latest.empty:
        return {}, []
    sh = st.shadow_decisions(season=season)
    have = set(zip(sh["record_id"], sh["model_name"], sh["model_version"], strict=True))
    logged = st.table_rows(RECORDS_TABLE)
    crop_of = ({} if logged is None else dict(zip(logged["record_id"].astype(str), logged["crop"].astype(str),
                                                  strict=True)))
    out: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
    overridden: list[str] = []
    for rid, aid, day, body in zip(latest["record_id"].astype(str), latest["application_id"].astype(str),
                                   latest["as_of"].astype(str), latest["body"], strict=True):
        b = json.loads(body)
        if any(v != _in_force(b, name) and (rid, name, v) not in have for name, v in challengers):
            if aid in overridden_apps:
                overridden.append(aid)
            else:
                out.setdefault((day, crop_of.get(rid)), {})[aid] = b
    return ({k: (v, None if k[1] is None else _run_open_on(recs, crop_of, *k)) for k, v in out.items()},
            sorted(overridden))


def _run_open_on(recs: pd.DataFrame, crop_of: dict[str, str], day: str, crop: str | None) -> date | None:
    """The ``open_on`` of the ``--due`` run of ``crop`` that wrote the re-underwriting records as of ``day``, as
    ``audit replay --reunderwriting`` reads it (:func:`pipelines._replay_reunderwriting._open_on`): from *every*
    record of that run, not only those lacking a shadow row — a run catching up (its day later than the checkpoint's)
    left out the lines matured before its day, and a repeat reviewing them would decide with another Book (other
    concentration inputs: other record ids, none found)."""
    from pipelines._replay_reunderwriting import _open_on

    mine = recs[(recs["kind"] == "reunderwrite") & (recs["as_of"].astype(str) == day)]
    bodies = [json.loads(b) for rid, b in zip(mine["record_id"].astype(str), mine["body"], strict=True)
              if crop_of.get(rid) == crop]
    return _open_on(bodies)


def repeat_options(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """What a repeat of the run that wrote ``bodies`` is given again, as their provenance records it: the haze dates
    the run pinned (``--hazy-dates``: ``smoother_haze_pinned``), the crop season scale it pinned
    (``--crop-season-scale``: its crop model's description), ``--allow-missing-acquisitions`` (the acquisitions it
    went without). Nothing pinned: the repeat judges them as the run did (a pin the run did not give would change the
    records' provenance, and the repeat would find none of them)."""
    prov = [b.get("provenance") or {} for b in bodies]
    out: dict[str, Any] = {}
    haze = {tuple(p.get("smoother_hazy_dates") or ()) for p in prov if p.get("smoother_haze_pinned")}
    if len(haze) == 1:
        out["haze_dates"] = [date.fromisoformat(str(x)) for x in haze.pop()]
    scales = {m.group(1) for p in prov if (m := _SCALE.search(str(p.get("crop_model_version") or "")))}
    if len(scales) == 1:
        out["crop_season_scale"] = float(scales.pop())
    if any(p.get("missing_acquisitions") for p in prov):
        out["allow_missing_acquisitions"] = True
    return out


def shadow_covered(c: County, book: pd.DataFrame, d: Due, url: str, today: date, *, champions: Callable[[date], ScoringModels],
                   policy: Policy | None, profile: str | None, operator: str | None, progress: Progress | None,
                   memo: dict[Any, Any], runner: Any = None, chunk_fields: int | None = None) -> list[Any]:
    """For the covered ``--due`` checkpoint ``d``: the shadow rows its covering records lack
    (:func:`covering_without_shadow`), each date's run repeated in shadow only (module docstring;
    ``champions(day)``: the models in force on a date, as the ``--due`` run resolves them). What each challenger did
    (:class:`pipelines.shadow.ShadowSummary`, per date); nothing when every covering record has its rows or there is
    no challenger. A repeat that cannot run, and lines whose records a repeat does not find (decided with other
    inputs: nothing to stand beside), are one warning each (``progress``): the checkpoint is covered all the same."""
    from pipelines._reunderwrite_inputs import reunderwrite_county
    from pipelines.shadow import failure_text
    from underwriting.store import DecisionStore

    try:  # the checkpoint is covered whatever its shadow does: a registry or store that cannot be read is a warning
        challengers = _challengers()
        if not challengers:
            return []
        with DecisionStore(url, create=False) as st:
            groups, overridden = covering_without_shadow(st, c, book, d, today, challengers)
    except Exception as e:
        if progress is not None:
            progress(f"warning: shadow: the records covering {d.crop} {d.checkpoint} ({d.date}) could not be read "
                     f"for their shadow rows: {failure_text(e)}")
        return []
    if overridden and progress is not None:  # the season's shadow judgement will name them missing
        progress(f"warning: shadow: {len(overridden)} line(s) covering {d.crop} {d.checkpoint} ({d.date}) have no "
                 f"shadow row beside their re-underwriting record and an override since: a repeat does not decide "
                 f"a line its override stands on, so none is added: {', '.join(overridden[:5])}"
                 f"{', ...' if len(overridden) > 5 else ''}")
    out: list[Any] = []
    for (day, crop), (bodies, open_on) in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "")):
        when, apps = date.fromisoformat(day), set(bodies)
        try:
            res = reunderwrite_county(c, d.season, when, store=url, policy=policy, profile=profile,
                                      operator=operator, crops=None if crop is None else [crop],
                                      models=champions(when), same_day_done=crop is not None, open_on=open_on,
                                      memo=memo, runner=runner, chunk_fields=chunk_fields, book_check_when_deciding=True,
                                      shadow=True, shadow_only=apps, **repeat_options(list(bodies.values())))
        except Exception as e:  # the checkpoint is covered whatever its shadow does
            if progress is not None:
                progress(f"warning: shadow: the records as of {day} covering {d.crop} {d.checkpoint} ({d.date}) "
                         f"could not be repeated in shadow: {failure_text(e)}")
            continue
        out.extend(replace(r, unit=f"line(s) (records as of {day})") for r in res.shadow)
        lost = sorted(apps - {str(i.application_id) for i in res.items})
        if lost and progress is not None:  # a repeat that decides them otherwise (other inputs) finds no record
            progress(f"warning: shadow: {len(lost)} line(s) covered by the records as of {day} not decided in shadow: "
                     f"a repeat of that date does not find their records (decided with other inputs): "
                     f"{', '.join(lost[:5])}{', ...' if len(lost) > 5 else ''}")
    return out
