"""What a decision reads from the store (private to :mod:`underwriting.decisions`): open CROP_FAILURE alerts as the
features' ``crop_failure_observed``, and the second pledges of a farmer's fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from underwriting.policy import Profile


def with_failures_observed(features: pd.DataFrame, alerts: pd.DataFrame) -> pd.DataFrame:
    """``features`` with ``crop_failure_observed``: the date (ISO) of each field's open CROP_FAILURE alert, None
    elsewhere — what :func:`underwriting.rules.evidence_codes` excludes a field for under ``open_alerts_act``
    (``alerts``: field_id, alert, date; re-underwriting's own, or the decision store's for a new decision)."""
    fail = alerts[alerts["alert"] == "CROP_FAILURE"] if len(alerts) else alerts
    when = {str(f): pd.Timestamp(d).date().isoformat() for f, d in zip(fail.get("field_id", []), fail.get("date", []),
                                                                         strict=True)}
    col = features["field_id"].astype(str).map(when)
    return features.assign(crop_failure_observed=col.astype(object).where(col.notna(), None))


def failures_read(features: pd.DataFrame, open_alerts: pd.DataFrame | None, profile: Profile) -> pd.DataFrame:
    """``features`` of a new decision with the decision store's open CROP_FAILURE alerts (``open_alerts``: field_id,
    season, alert, date; :func:`pipelines.reunderwrite.stored_alerts`) as :func:`with_failures_observed` gives a
    re-underwriting's — under a profile with ``decisions_read_alerts`` and ``open_alerts_act`` (2026.12.10 on) and
    only when a field of the features has one (the features of a run with none stay as they were); else unchanged."""
    if open_alerts is None or not len(open_alerts) or not (profile.decisions_read_alerts and profile.open_alerts_act):
        return features
    out = with_failures_observed(features, open_alerts)
    if "season" in open_alerts.columns and "season" in features.columns:
        # the alerts of the season decided (a field id of another season's features is not that field)
        seasons = {str(s) for s in open_alerts["season"]}
        out["crop_failure_observed"] = out["crop_failure_observed"].where(
            out["season"].astype(str).isin(seasons), None)
    return out if out["crop_failure_observed"].notna().any() else features


def batch_pledges(applications: pd.DataFrame,
                  holders: Mapping[tuple[str, str], Sequence[str]] | None = None) -> dict[str, list[str]]:
    """Per application, the applications that already hold its farmer's fields of the season (an application values
    every field of its farmer and season, so another one is a second pledge of them): ``holders`` (the store's,
    :func:`pledge_holders`) other than itself, and the same farmer's applications of this batch with a smaller
    ``application_id`` that hold them themselves (are not pledged elsewhere). The same answer whatever order the
    rows come in, and whether the batch is decided at once or an application at a time against the store."""
    out: dict[str, list[str]] = {}
    if applications.empty:
        return out
    keys = applications[["application_id", "farmer_token", "season"]].astype(str)
    for (tok, season), g in keys.groupby(["farmer_token", "season"], sort=False):
        stored = [str(h) for h in (holders or {}).get((str(tok), str(season)), ())]
        held: list[str] = []
        for aid in sorted(g["application_id"].unique()):
            others = sorted({*(h for h in stored if h != aid), *held})
            if others:
                out[aid] = others
            else:
                held.append(aid)
    return out


def pledge_holders(records: pd.DataFrame, season: str) -> dict[tuple[str, str], list[str]]:
    """(farmer token, season) → the applications of ``season`` whose current record (the last of its chain, whatever
    its outcome) was not itself referred for a second pledge: they hold their farmer's fields (``records``: the
    store's, ``DecisionStore.records``)."""
    if records is None or records.empty:
        return {}
    rec = records[records["season"].astype(str) == str(season)]
    if "seq" in rec.columns:
        rec = rec.sort_values("seq", kind="stable")
    current = rec.groupby("application_id", sort=False).tail(1)

    def refused_for_pledge(body: Any) -> bool:
        try:
            doc = json.loads(body) if isinstance(body, str | bytes) else body
        except ValueError:
            return False
        return isinstance(doc, dict) and "FIELDS_ALREADY_PLEDGED" in (doc.get("refer_reasons") or [])

    if "body" in current.columns:
        # every current body is read, not only REFERs': an analyst's override of a record referred for a pledge keeps
        # its refer reasons — the override grants that line without making it the fields' holder, so a re-run of the
        # first application is decided as before
        current = current[~current["body"].map(refused_for_pledge).astype(bool)]
    out: dict[tuple[str, str], list[str]] = {}
    for tok, aid in zip(current["farmer_token"].astype(str), current["application_id"].astype(str), strict=True):
        out.setdefault((tok, str(season)), []).append(aid)
    return {k: sorted(v) for k, v in out.items()}
