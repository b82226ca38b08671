"""Deciding the same applications twice (private to :mod:`pipelines.impact`): the inputs read as ``agcredit
underwrite`` reads them, the store's records of the season, the runs through underwriting's own path with nothing
stored, and what the two runs said.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError


def _read_inputs(what: str, applications: str | Path, fields: str | Path, season: str, *,
                 features: str | Path | None, imagery: str | None, book: str | Path | None,
                 policy: Any, profile: str | None, weather: str | Path | None,
                 history: str | Path | None) -> tuple[Any, list[str]]:
    """The inputs as ``agcredit underwrite`` reads them (one-line user errors) and what reading them said."""
    from pipelines.underwrite import read_underwrite_inputs

    if features is None and imagery is None:
        raise UserInputError(f"{what}: give --imagery (to build the features) or --features")
    if features is not None and imagery is not None:
        raise UserInputError(f"{what}: give --imagery or --features, not both")
    inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                 profile=profile, weather=weather, history=history, refuse_unrecorded=True,
                                 refuse_rejected=True)
    warnings = list(inp.warnings)
    if inp.held_by_features:
        warnings.append(f"{len(inp.held_by_features)} application(s) not compared: the features file was built "
                        "without their farmers' fields")
    if not (inp.applications["season"].astype(str) == inp.season).any():
        raise UserInputError(f"{what}: no application of season {inp.season} to decide")
    return inp, warnings


def _store_records(store: str | None, season: str) -> pd.DataFrame | None:
    """The season's records of the decision store ``store``, read once before any work (read only; a store that does
    not exist is a one-line error); None without a store."""
    if store is None:
        return None
    from underwriting.store import DecisionStore, store_url

    with DecisionStore(store_url(store), create=False, read_only=True) as st:
        return st.records(season)


def merge_said(said: list[list[str]], labels: list[str], warnings: list[str]) -> None:
    """``warnings`` gains what both runs said (``said``: each run's warnings), once, and what one run said, prefixed
    with its label."""
    for w in said[0]:
        if w not in warnings:
            warnings.append(w if w in said[1] else f"{labels[0]}: {w}")
    warnings.extend(f"{labels[1]}: {w}" for w in dict.fromkeys(said[1]) if w not in said[0])


def _decide_twice(inp: Any, book: pd.DataFrame, as_of: dt.date, runs_of: list[tuple[Any, Any]], labels: list[str], *,
                  features: str | Path | None, imagery: str | None, rebuild: bool, records: pd.DataFrame | None,
                  cache_dir: Path | None, allow_missing_acquisitions: bool, warnings: list[str]
                  ) -> tuple[list[Any], list[pd.DataFrame]]:
    """The applications decided once per (models, policy) of ``runs_of`` through underwriting's own path, nothing
    stored (:func:`pipelines.underwrite.score_and_decide` with ``write_artifact=False``). The features are those given,
    else built from ``imagery`` once — or once per run with ``rebuild`` (each run's crop model builds its own).
    ``records``: the store's records of the season (:func:`_store_records`), what each run reads under its own policy
    (:func:`pipelines.underwrite.records_context`: second pledges, open alerts).
    ``warnings`` gains what both runs said, once, and what one run said, prefixed with its label. Returns the runs and
    each run's valuations of the applicants' fields only (a fields or features file may hold a whole county's)."""
    from pipelines.featurize import featurize
    from pipelines.underwrite import records_context, score_and_decide

    runs, said = [], []
    built = None
    for models, policy in runs_of:
        own: list[str] = []
        fr = None
        if features is None and (built is None or rebuild):
            fr = featurize(inp.fields, imagery, inp.season, as_of, crop_model=models.crop_model, cache_dir=cache_dir,
                           weather=inp.weather if inp.weather is not None else models.weather,
                           allow_missing_acquisitions=allow_missing_acquisitions)
            built = fr
            own.extend(fr.warnings)
        elif features is None:
            fr = built
        pledged, open_alerts = (None, None) if records is None else records_context(records, inp.season, as_of,
                                                                                      policy, inp.profile)
        run = score_and_decide(inp.applications, inp.fields, inp.season, as_of, imagery=imagery, policy=policy,
                               profile=inp.profile, book=book, models=models, features=inp.features,
                               weather=inp.weather, featurized=fr, pledged=pledged, yield_history=inp.yield_history,
                               features_lineage=inp.features_lineage, open_alerts=open_alerts,
                               write_artifact=False, allow_missing_acquisitions=allow_missing_acquisitions)
        own.extend(run.warnings)
        said.append(own)
        runs.append(run)
    merge_said(said, labels, warnings)
    tokens = set(inp.applications.loc[inp.applications["season"].astype(str) == inp.season, "farmer_token"]
                 .astype(str))
    vals = []
    for r in runs:
        ids = set(r.features.loc[r.features["farmer_token"].astype(str).isin(tokens), "field_id"].astype(str))
        vals.append(r.valuations[r.valuations["field_id"].astype(str).isin(ids)].reset_index(drop=True))
    return runs, vals
