"""The report pages' alerts: as the tables show them, their state against a reference date, and per farmer.

:func:`alert_states` (new / open / closed from the store's records), :func:`_alert_table`, :func:`evidence_text`
and the high-severity alerts by farmer. Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines._monitor_format import format_evidence
from pipelines._report_data import ReportData
from pipelines.monitor import mark_held
from underwriting.standing import line_block

#: an alert's evidence in words: the one formatter of monitor's text and the pages
#: (:func:`pipelines._monitor_format.format_evidence`)
evidence_text = format_evidence


def _applications_of(data: ReportData) -> dict[str, str]:
    """Field id -> the season's application id(s) of its farmer (pseudonymous ids, by the decision records)."""
    if data.decisions.empty or data.fields.empty:
        return {}
    apps = data.decisions.groupby(data.decisions["farmer_token"].astype(str))["application_id"].agg(
        lambda x: ", ".join(sorted(set(map(str, x)))))
    return {str(f): apps.get(str(t), "") for f, t in zip(data.fields["field_id"], data.fields["farmer_token"],
                                                          strict=True)}


def _alert_table(al: pd.DataFrame, apps: dict[str, str] | None = None) -> pd.DataFrame:
    """The alerts as the pages show them: field, line (when the alerts name lines), the application(s) of the field's
    farmer in the season (``apps``: field id -> ids; pseudonymous, so an alert on a pending application, with no Book
    line, is tied to it), alert, severity, the date it was raised (a plain date) and its evidence in words. A held
    farmer's alert (``held``: :func:`pipelines.monitor.mark_held`) says so in place of an empty line."""
    if al.empty:
        return pd.DataFrame()
    t = pd.DataFrame({"field": al["field_id"].astype(str)})
    if "line_id" in al.columns or "held" in al.columns:  # a held farmer's alert says why it names no line
        lines = al["line_id"] if "line_id" in al.columns else pd.Series([None] * len(al), index=al.index)
        held = al["held"] if "held" in al.columns else pd.Series([None] * len(al), index=al.index)
        t["line"] = [str(v) if isinstance(v, str) and v else str(h) if isinstance(h, str) else ""
                     for v, h in zip(lines, held, strict=True)]
    if apps is not None:
        t["application"] = [apps.get(str(f), "") for f in al["field_id"]]
    t["alert"] = al["alert"].astype(str)
    t["severity"] = al["severity"].astype(str)
    t["raised"] = pd.to_datetime(al["date"]).dt.date.astype(str)
    if "evidence" in al.columns:
        t["evidence"] = [evidence_text(v) for v in al["evidence"]]
    return t.reset_index(drop=True)


def _held(al: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """The alerts with why a held farmer's name no line (:func:`pipelines.monitor.mark_held`; their farmers by the
    page's fields when the alerts do not carry them)."""
    if not data.set_aside or al.empty:
        return al
    if "farmer_token" not in al.columns and len(data.fields):
        tokens = dict(zip(data.fields["field_id"].astype(str), data.fields["farmer_token"].astype(str), strict=True))
        al = al.assign(farmer_token=al["field_id"].astype(str).map(tokens))
    return mark_held(al, data.set_aside, data.season)



def _stored_alerts_at(records: pd.DataFrame, day: str) -> pd.DataFrame:
    """The alerts the store holds open on ``day``: per farmer, those its latest record dated on or before ``day``
    names in its Book line block (``reunderwrite.alerts`` or a first decision's ``renewal.alerts``, ``FIELD:ALERT``)
    — the alerts open at that checkpoint for the farmers whose lines the store follows. Columns field_id,
    farmer_token, application_id, line_id, alert, as_of."""
    cols = ["field_id", "farmer_token", "application_id", "line_id", "alert", "as_of"]
    if records.empty or "body" not in records.columns:
        return pd.DataFrame(columns=cols)
    r = records[(records["as_of"].astype(str) <= day)]
    if "kind" in r.columns:
        r = r[r["kind"].astype(str) != "override"]
    r = r.reset_index(drop=True).assign(_pos=lambda d: np.arange(len(d)))
    latest = r.sort_values(["as_of", "_pos"], kind="stable").groupby("farmer_token", sort=False).tail(1)
    rows = []
    for tok, app, when, body in zip(latest["farmer_token"].astype(str), latest["application_id"].astype(str),
                                    latest["as_of"].astype(str), latest["body"], strict=True):
        doc = json.loads(body) if isinstance(body, str) else (body or {})
        blk = line_block(doc)
        for text in blk.get("alerts") or []:
            fid, _, kind = str(text).rpartition(":")
            if fid and kind:
                rows.append((fid, tok, app, str(blk.get("line_id") or ""), kind, when))
    return pd.DataFrame(rows, columns=cols)


def alert_states(data: ReportData) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """The alerts' state against a reference date — ``data.since`` (--since), else the previous checkpoint (the latest
    record date before the report's) — from stored records only: an alert raised after it is ``new``, one raised on or
    before it ``open``; an alert the store held open then (:func:`_stored_alerts_at`) that is no longer raised is
    ``closed``. Returns the alerts with a ``state`` column, the closed ones (the store's rows) and the reference date
    (None: no checkpoint before the report's date, every alert new)."""
    al = data.alerts
    recs = data.decisions
    day = (data.as_of.isoformat() if data.as_of else str(max(recs["as_of"].astype(str)))) if len(recs) else ""
    if data.since is not None:
        ref: str | None = data.since.isoformat()
    else:
        kinds = recs["kind"].astype(str) if "kind" in recs.columns else pd.Series("", index=recs.index)
        before = sorted({str(a) for a, k in zip(recs["as_of"], kinds, strict=True) if str(a) < day and k != "override"})
        ref = before[-1] if before else None
    closed = pd.DataFrame(columns=["field_id", "farmer_token", "application_id", "line_id", "alert", "as_of"])
    if ref is None:
        return (al.assign(state="new") if len(al) else al), closed, None
    stored = _stored_alerts_at(recs, ref)
    raised = pd.to_datetime(al["date"]).dt.date.astype(str) if len(al) else pd.Series(dtype=str)
    if len(al):
        al = al.assign(state=["new" if r > ref else "open" for r in raised])
        now = set(zip(al["field_id"].astype(str), al["alert"].astype(str), strict=True))
    else:
        now = set()
    prev = data.previous_alerts
    if prev is not None and len(prev):  # the previous report's alerts, beside those the store's records name
        apps = _applications_of(data)
        tokens = dict(zip(data.fields["field_id"].astype(str), data.fields["farmer_token"].astype(str), strict=True))
        shown = pd.DataFrame({
            "field_id": prev["field_id"].astype(str),
            "farmer_token": (prev["farmer_token"].astype(str) if "farmer_token" in prev.columns
                             else prev["field_id"].astype(str).map(tokens)),
            "application_id": [apps.get(str(f), "") for f in prev["field_id"]],
            "line_id": (prev["line_id"].map(lambda v: v if isinstance(v, str) else "") if "line_id" in prev.columns
                        else ""),
            "alert": prev["alert"].astype(str), "as_of": ref})
        stored = pd.concat([shown, stored], ignore_index=True).drop_duplicates(["field_id", "alert"])
    if len(stored):
        gone = [(f, a) not in now for f, a in zip(stored["field_id"], stored["alert"], strict=True)]
        # closed only where the alert was evaluated now: its field's series read (not set aside, imagery given) and
        # its type computable (CROP_MISMATCH needs a crop-type model) — else it is "not evaluated", not closed (a
        # report without --imagery called every stored alert closed; the second review's finding)
        ev = data.evaluated
        assessed = [ev is not None and str(f) in ev and (str(a) != "CROP_MISMATCH" or data.mismatch_evaluated)
                    for f, a in zip(stored["field_id"], stored["alert"], strict=True)]
        closed = stored[[g and a for g, a in zip(gone, assessed, strict=True)]]
        data.unassessed = int(sum(g and not a for g, a in zip(gone, assessed, strict=True)))
    return al, closed.reset_index(drop=True), ref


def _high_alert_tokens(data: ReportData) -> set[str]:
    """The farmer tokens with a high-severity alert open on the report's date (the alerts as monitor raises them then)."""
    return set(_high_alerts_by_farmer(data))


def _high_alerts_by_farmer(data: ReportData) -> dict[str, str]:
    """Per farmer token, the high-severity alerts open on the report's date on their fields (``CROP_FAILURE
    (F0097)``, sorted; the alerts as monitor raises them then)."""
    al = data.alerts
    if al.empty or "severity" not in al.columns:
        return {}
    hi = al[al["severity"].astype(str) == "high"]
    kinds: dict[str, set[str]] = {}
    for fid, kind in zip(hi["field_id"].astype(str), hi["alert"].astype(str), strict=True):
        kinds.setdefault(fid, set()).add(kind)
    out: dict[str, set[str]] = {}
    f = data.fields
    for fid, tok in zip(f["field_id"].astype(str), f["farmer_token"].astype(str), strict=True):
        for kind in kinds.get(fid, ()):  # every farmer a field id of the fields names (as the exposure counts them)
            out.setdefault(tok, set()).add(f"{kind} ({fid})")
    return {t: ", ".join(sorted(v)) for t, v in out.items()}
