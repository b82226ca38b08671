"""What a re-decided line's record says (:mod:`pipelines.reunderwrite`'s docstring gives the rules): the proposed
actions (:func:`propose_actions`), a line kept as it stands when the models could not value it
(:func:`not_reestimated`), the alerts open in the store for a new decision (:func:`stored_alerts`) and a renewal's
block (:func:`renewal_actions`), and the re-underwriting record of a decision with its change row (:func:`_link`,
:func:`_as_stored`). Re-exported by :mod:`pipelines.reunderwrite`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines._reunderwrite_lines import lines_to_review
from underwriting.book import balance_date_text
from underwriting.policy import Policy
from underwriting.records import DecisionItem, canonical_json, sha256_hex
from underwriting.rules import crop_disputed
from underwriting.standing import kept_body, kept_lines_stand, override_behind, skips_to_book, standing_of

__all__ = ["ActionRules", "DETERIORATION_ALERTS", "NO_ESTIMATE_CODES", "change_counts", "keeps_unvalued_lines",
           "is_kept", "unvalued_text", "not_reestimated", "opens_alerts", "stored_alerts", "renewal_actions",
           "propose_actions"]

DETERIORATION_ALERTS = ("WATCH", "CROP_FAILURE", "EARLY_HARVEST", "NOT_PLANTED")
#: field evidence codes saying the models could not value a field at this checkpoint, not that the crop or the claim
#: on it is at risk (NOT_PLANTED, CROP_MISMATCH, PARCEL_* are): outside the yield model's validated scope, too little
#: clear imagery — and what follows from too little imagery (no planted area measured, FIELD_TOO_SMALL; no crop
#: probability, CROP_TYPE_UNCERTAIN), which alone (a field the models saw) are the models' judgement, not no estimate
NO_ESTIMATE_CODES = ("OUT_OF_MODEL_SCOPE", "INSUFFICIENT_CLEAR_IMAGERY", "FIELD_TOO_SMALL", "CROP_TYPE_UNCERTAIN")
_UNSEEN = ("OUT_OF_MODEL_SCOPE", "INSUFFICIENT_CLEAR_IMAGERY")


@dataclass(frozen=True)
class ActionRules:
    """When to propose what (see the module docstring)."""

    review_share: float = 0.5


# --- actions ---------------------------------------------------------------------------------------------

def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """Counts of a checkpoint's change rows: limits ``down`` and ``up`` against the previous record and ``below_book``
    among the re-estimated lines (a line not re-estimated has no new limit: its indicative 0 is no fall), ``kept``
    (not re-estimated) and ``actions`` (lines with a proposed action)."""
    if not len(changes):
        return {"down": 0, "up": 0, "below_book": 0, "kept": 0, "actions": 0}
    kept = changes["not_reestimated"].astype(str) != ""
    est = changes[~kept]
    return {"down": int((est["change"] < 0).sum()), "up": int((est["change"] > 0).sum()),
            "below_book": int((est["new_limit"] < est["book_limit"]).sum()), "kept": int(kept.sum()),
            "actions": int((changes["actions"].astype(str) != "").sum())}


def keeps_unvalued_lines(body: dict[str, Any]) -> bool:
    """Whether the policy that decided ``body`` has ``keep_unvalued_lines`` (2026.12.4 on): the re-underwriting
    action rules of this release; without it, the rules the earlier releases applied (their records stay as they
    were: the re-underwriting record id holds the policy hash, not these rules)."""
    return bool(((body.get("policy") or {}).get("parameters") or {}).get("keep_unvalued_lines"))


def is_kept(record: Any) -> bool:
    """Whether a stored record is a re-underwriting that re-estimated nothing (``reunderwrite.not_reestimated``):
    the line was kept as it stood, its REFER's indicative limit no estimate."""
    return record is not None and kept_body(getattr(record, "kind", ""), record.body)


def unvalued_text(fields: Sequence[dict[str, Any]], as_of: Any, codes: Sequence[str] = (),
                  indicative: str | None = None) -> str:
    """What a kept line's record (``fields``: its body's) says the models could not value as of ``as_of``: the fields
    (with their no-estimate ``codes`` when given) — or, when they valued some, which ones they did not (id, exclusion
    code, area) and that the limit on the others leaves those out (its ``indicative`` limit, when given, no estimate
    of the line); ``explain`` and the farmer page word it alike."""
    failing = [f for f in fields if not f.get("included")]
    valued = [f for f in fields if f.get("included")]
    if not valued or not failing:
        return f"the models could not value the fields as of {as_of}" + (f" ({', '.join(codes)})" if codes else "")
    names = ", ".join(f"{f.get('field_id')} ({f.get('exclusion_code')}, {float(f.get('area_used_ha') or 0):.2f} ha)"
                      for f in failing)
    return (f"the models could not value {names} as of {as_of}; they valued the other {len(valued)} field(s) only, "
            "and a limit on those leaves the rest's value and income out"
            + (f": its indicative {indicative} is no estimate of the line" if indicative is not None else ""))


def not_reestimated(body: dict[str, Any]) -> tuple[str, ...]:
    """The :data:`NO_ESTIMATE_CODES` of a decision ``body`` that re-estimates nothing: a REFER whose only refer
    reason is the failing area share and whose failing fields fail only on those codes, each field out of the yield
    model's scope or without enough clear imagery (the models could not value it at this checkpoint) and none
    disputed by the imagery's crop (under ``confident_disputes_only``, 2026.12.5 on: an imagery crop at
    ``min_crop_type_prob`` or above; before, any); () for any other decision (a REFER for a risk, or a limit the
    models re-estimated) and under a policy without ``keep_unvalued_lines``."""
    if not keeps_unvalued_lines(body) or body.get("outcome") != "REFER" or \
            set(body.get("refer_reasons") or []) - {"FAILING_AREA_SHARE"}:
        return ()
    failing = [f for f in body.get("fields") or [] if not f.get("included")]
    codes = [{str(c) for c in f.get("codes") or []} for f in failing]
    params = (body.get("policy") or {}).get("parameters") or {}
    sure = float((params.get("evidence") or {}).get("min_crop_type_prob") or 0.0) \
        if params.get("confident_disputes_only") else 0.0  # 0: any other imagery crop is a dispute (before 2026.12.5)

    def disputed(f: dict[str, Any]) -> bool:  # a risk to the claim, not a field the models could not see
        prob = f.get("crop_type_prob")
        return crop_disputed(f) and (sure == 0.0 or (prob is not None and float(prob) >= sure))

    if not failing or any(not c <= set(NO_ESTIMATE_CODES) or not c & set(_UNSEEN) for c in codes) \
            or any(disputed(f) for f in failing):
        return ()
    return tuple(c for c in NO_ESTIMATE_CODES if any(c in f for f in codes))


def opens_alerts(body: dict[str, Any]) -> bool:
    """Whether the policy that decided ``body`` has ``open_alerts_act`` (2026.12.6 on): a line with an open
    high-severity alert goes to review whatever its new limit covers."""
    return bool(((body.get("policy") or {}).get("parameters") or {}).get("open_alerts_act"))


def stored_alerts(records: pd.DataFrame | None, season: str, as_of: date, *,
                  before_seq: int | None = None) -> pd.DataFrame:
    """The alerts open in the decision store for a new decision of ``season`` as of ``as_of`` (policy
    ``decisions_read_alerts``, 2026.12.10 on): per farmer, those its latest re-underwriting record of the season dated on
    or before ``as_of`` names (``reunderwrite.alerts``, ``FIELD:ALERT``: the alerts open at that checkpoint — a later
    checkpoint without one closed it), each dated as the record's field entry dates a CROP_FAILURE
    (``crop_failure_observed``), else the record's as-of date. ``before_seq``: only the records written before it (a
    replay reads the store as the run it replays read it). Columns field_id, season, farmer_token, alert, severity,
    date (empty: none)."""
    from pipelines.monitor import ALERT_TYPES

    cols = ["field_id", "season", "farmer_token", "alert", "severity", "date"]
    if records is None or records.empty:
        return pd.DataFrame(columns=cols)
    r = records[(records["season"].astype(str) == str(season)) & (records["kind"] == "reunderwrite")
                & (records["as_of"] <= as_of.isoformat())]
    if before_seq is not None:
        r = r[r["seq"] < int(before_seq)]
    latest = r.sort_values(["as_of", "seq"], kind="stable").groupby("farmer_token", sort=False).tail(1)
    rows = []
    for tok, day, body in zip(latest["farmer_token"].astype(str), latest["as_of"].astype(str), latest["body"],
                              strict=True):
        doc = json.loads(body) if isinstance(body, str | bytes) else body
        seen = {str(f.get("field_id")): f.get("crop_failure_observed") for f in doc.get("fields") or []}
        for text in (doc.get("reunderwrite") or {}).get("alerts") or []:
            fid, _, kind = str(text).rpartition(":")
            if not fid or not kind:
                continue
            when = (seen.get(fid) if kind == "CROP_FAILURE" else None) or day
            rows.append({"field_id": fid, "season": str(season), "farmer_token": tok, "alert": kind,
                         "severity": ALERT_TYPES.get(kind, "medium"), "date": when})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["farmer_token", "field_id", "alert"], kind="stable").reset_index(drop=True)


def renewal_actions(items: Sequence[DecisionItem], book: pd.DataFrame | None, applications: pd.DataFrame,
                    season: str, as_of: date, *, open_alerts: pd.DataFrame | None = None,
                    rules: ActionRules | None = None) -> list[DecisionItem]:
    """New decisions with what a re-underwriting would propose for the farmer's active Book line of the season they
    renew (policy ``renewals_propose_actions``, 2026.12.10 on; other items as they are): an application through
    which a re-underwriting follows a line (:func:`lines_to_review`: the line's own application, else the farmer's
    first of the season; a farmer's several lines together) is its renewal, and :func:`propose_actions` judges the
    new decision against the line's outstanding balance and maturity — the store's open high-severity alerts of the
    farmer (``open_alerts``, :func:`stored_alerts`) count as a re-underwriting's. The body's ``renewal`` block names
    the line, its balances, the alerts and the actions; the idempotency key is derived from the decision's and the
    block (a Book with another balance is another decision)."""
    todo = {i.application_id: i.currency for i in items
            if bool(((i.body.get("policy") or {}).get("parameters") or {}).get("renewals_propose_actions"))}
    if not todo or book is None or book.empty:
        return list(items)
    currency = next(iter(todo.values()))
    b = book[book["currency"].astype(str) == currency] if "currency" in book.columns else book
    if b.empty:
        return list(items)
    lines = lines_to_review(b, applications, as_of, str(season))
    by_app = {str(line["review_application_id"]): line for line in lines.to_dict("records")}
    if not by_app:
        return list(items)
    r = rules or ActionRules()
    out = []
    for item in items:
        line = by_app.get(item.application_id)
        if line is None or item.application_id not in todo or "renewal" in item.body:
            out.append(item)  # (an item given with its block already: a caller of the Dask path applying it again)
            continue
        body = copy.deepcopy(item.body)
        mine = (open_alerts[open_alerts["farmer_token"].astype(str) == item.farmer_token]
                if open_alerts is not None and len(open_alerts) else pd.DataFrame(columns=["field_id", "alert",
                                                                                          "severity"]))
        high = bool(len(mine) and (mine["severity"] == "high").any())
        unvalued = not_reestimated(body)
        actions = propose_actions(new_limit=item.limit, outstanding=int(line["outstanding"]),
                                  new_outcome=item.outcome,
                                  new_maturity=_iso(body.get("computation", {}).get("maturity_date")),
                                  line_maturity=_iso(line["maturity_date"]), high_alert=high, rules=r,
                                  reestimated=not unvalued, keep_unvalued=keeps_unvalued_lines(body),
                                  review_alerts=opens_alerts(body))
        body["renewal"] = {
            "line_id": str(line["line_id"]), "book_limit": int(line["limit"]), "drawn": int(line["drawn"]),
            "outstanding": int(line["outstanding"]), "line_maturity_date": _day_text(_iso(line["maturity_date"])),
            "proposed_actions": list(actions),
            "alerts": sorted({f"{a.field_id}:{a.alert}" for a in mine.itertuples()}) if len(mine) else [],
            "action_rules": {"review_share": r.review_share},
        }
        if (when := balance_date_text(line.get("balance_as_of"))) is not None:  # a dated Book only
            body["renewal"]["balance_as_of"] = when
        key = sha256_hex(canonical_json(["renewal", item.idempotency_key, body["renewal"]]))
        out.append(DecisionItem(idempotency_key=key, application_id=item.application_id,
                                farmer_token=item.farmer_token, season=item.season, as_of=item.as_of,
                                outcome=item.outcome, limit=item.limit, currency=item.currency,
                                reason_codes=item.reason_codes, body=body, kind=item.kind,
                                supersedes=item.supersedes))
    return out


def propose_actions(*, new_limit: int, outstanding: int, new_outcome: str, new_maturity: date | None,
                    line_maturity: date | None, high_alert: bool, rules: ActionRules | None = None,
                    reestimated: bool = True, keep_unvalued: bool = False,
                    review_alerts: bool = False) -> tuple[str, ...]:
    """Proposed actions for a line (see the module docstring and :func:`_actions`); ``review_alerts`` (policies with
    ``open_alerts_act``, 2026.12.6 on): ``REVIEW`` whenever a high-severity alert is open."""
    out = _actions(new_limit=new_limit, outstanding=outstanding, new_outcome=new_outcome, new_maturity=new_maturity,
                   line_maturity=line_maturity, high_alert=high_alert, rules=rules, reestimated=reestimated,
                   keep_unvalued=keep_unvalued)
    if review_alerts and high_alert and "REVIEW" not in out:
        # a line whose crop the monitoring saw fail, not come up or be another crop is looked at by an analyst,
        # even when its new limit still covers what is drawn (it was raised with nothing proposed)
        out = (*out, "REVIEW")
    return out


def _actions(*, new_limit: int, outstanding: int, new_outcome: str, new_maturity: date | None,
             line_maturity: date | None, high_alert: bool, rules: ActionRules | None = None,
             reestimated: bool = True, keep_unvalued: bool = False) -> tuple[str, ...]:
    """Proposed actions for a line (see the module docstring). ``keep_unvalued`` (policies with
    ``keep_unvalued_lines``): a REFER grants nothing until an analyst decides and re-estimates no limit (its limit is
    indicative) — ``FREEZE_UNDRAWN`` and ``REVIEW``, never a shortened term; when it is not ``reestimated`` (the
    models could not value the fields at this checkpoint; :func:`not_reestimated`) the line is kept, no action
    (``REVIEW`` with a high-severity alert). A DECLINE freezes the undrawn line, also with nothing outstanding. Else,
    when the new limit is below the outstanding balance: ``FREEZE_UNDRAWN``, ``SHORTEN_TERM`` when the new maturity
    is earlier than the line's, ``REVIEW`` when the new limit covers less than ``review_share`` of the balance, the
    outcome is REFER or DECLINE or a high-severity alert is open; a REFER covering the balance: ``REVIEW``."""
    r = rules or ActionRules()
    if new_outcome == "REFER" and keep_unvalued:
        # "no estimate" is not "estimate 0": freezing, shortening and reviewing every line of a checkpoint the yield
        # model is not validated at treated the indicative 0 as a re-estimated limit
        if not reestimated:
            return ("REVIEW",) if high_alert else ()
        return ("FREEZE_UNDRAWN", "REVIEW")
    if new_limit >= outstanding:
        if new_outcome == "DECLINE":
            return ("FREEZE_UNDRAWN",)
        # a REFER is reviewed whatever is drawn: with nothing outstanding its undrawn line stayed drawable unsaid
        return ("REVIEW",) if new_outcome == "REFER" else ()
    out = ["FREEZE_UNDRAWN"]
    if new_maturity is not None and line_maturity is not None and new_maturity < line_maturity:
        out.append("SHORTEN_TERM")
    if new_outcome in ("REFER", "DECLINE") or new_limit < r.review_share * outstanding or high_alert:
        out.append("REVIEW")
    return tuple(out)


# --- decisions -------------------------------------------------------------------------------------------

def _iso(v: Any) -> date | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return pd.Timestamp(v).date()


def _day_text(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _link(item: DecisionItem, prev: Any, line: dict[str, Any], alerts: pd.DataFrame, policy: Policy,
          as_of: date, rules: ActionRules, get: Callable[[str], Any] | None = None
          ) -> tuple[DecisionItem, dict[str, Any]]:
    """The re-underwriting record of ``item`` (superseding ``prev``) and its change row. Under a policy with
    ``kept_lines_stand`` the change is measured against the line's standing decision
    (:func:`underwriting.standing.standing_of`; ``get``
    reads a record by id: the store's), else against ``prev``. Under a policy with ``refer_keeps_book_limit``
    (2026.12.8 on) a Book line whose decision compared with is a REFER or DECLINE (not an override) is measured from
    its Book limit — those granted nothing — and the body says so (``compared_with: "book"``,
    ``skipped_record_id``); its outcome, reason codes and stressed value are still that record's."""
    body = copy.deepcopy(item.body)
    stands = kept_lines_stand(body) and is_kept(prev)
    if stands and get is None:
        raise ValueError("re-underwriting after a kept record needs the store's record lookup (get)")
    base = standing_of(prev, get) if stands and get is not None else prev  # the kept REFER's indicative limit is no estimate to compare with
    # a REFER or DECLINE granted nothing: a Book line stands at its Book limit (refer_keeps_book_limit); an analyst's
    # override is a decision in force, and a decided line (D-…) was opened by an APPROVE or REDUCE record
    on_book = base is not None and skips_to_book(body, line["line_id"], base.outcome, getattr(base, "kind", ""))
    if on_book and (ov := override_behind(base, get)) is not None:  # an analyst's override behind the REFER stands
        base, on_book = ov, False
    old_limit = int(base.limit) if base is not None and not on_book else int(line["limit"])
    old_outcome = str(base.outcome) if base is not None else None
    old_codes = set(base.reason_codes) if base is not None else set()
    old_stressed = (base.body.get("computation", {}).get("stressed_value") if base is not None else None)
    new_stressed = body.get("computation", {}).get("stressed_value")
    kinds = set(alerts["alert"]) if len(alerts) else set()
    unvalued = not_reestimated(body)
    # a line the models could not value: its stressed value of 0 is no fall in the crop's condition
    condition_fell = not unvalued and (
        (isinstance(old_stressed, int) and isinstance(new_stressed, int) and new_stressed < old_stressed)
        or bool(kinds & set(DETERIORATION_ALERTS)))
    reasons = list(body.get("reasons", []))
    codes = list(item.reason_codes)
    if item.limit < old_limit and condition_fell and "CROP_CONDITION_DETERIORATED" not in codes:
        # the change since the previous decision, not a step of the waterfall from the request (whose reductions
        # sum to requested - limit; counted there too, they summed to twice the request on a cut to 0)
        reasons.insert(0, {"code": "CROP_CONDITION_DETERIORATED", "reduction": 0,
                           "since_previous": old_limit - item.limit,
                           "text": policy.text("CROP_CONDITION_DETERIORATED"), "principal": True})
        for i, r in enumerate(reasons):
            r["principal"] = i < 4
        codes.insert(0, "CROP_CONDITION_DETERIORATED")
    high = bool(len(alerts) and (alerts["severity"] == "high").any())
    maturity = _iso(body.get("computation", {}).get("maturity_date"))
    actions = propose_actions(new_limit=item.limit, outstanding=int(line["outstanding"]), new_outcome=item.outcome,
                              new_maturity=maturity, line_maturity=_iso(line["maturity_date"]), high_alert=high,
                              rules=rules, reestimated=not unvalued, keep_unvalued=keeps_unvalued_lines(body),
                              review_alerts=opens_alerts(body))
    body["reasons"] = reasons
    body["reunderwrite"] = {
        "line_id": str(line["line_id"]), "previous_record_id": prev.record_id if prev is not None else None,
        "previous_limit": old_limit, "previous_outcome": old_outcome, "limit_change": item.limit - old_limit,
        "outstanding": int(line["outstanding"]), "drawn": int(line["drawn"]), "book_limit": int(line["limit"]),
        "line_maturity_date": _day_text(_iso(line["maturity_date"])),
        "previous_stressed_value": old_stressed, "proposed_actions": list(actions),
        "alerts": sorted({f"{a.field_id}:{a.alert}" for a in alerts.itertuples()}) if len(alerts) else [],
        "action_rules": {"review_share": rules.review_share},
    }
    if (when := balance_date_text(line.get("balance_as_of"))) is not None:  # a dated Book only: others as they were
        body["reunderwrite"]["balance_as_of"] = when
    if unvalued:  # only then: the bodies of re-estimated lines stay as they were
        body["reunderwrite"]["not_reestimated"] = list(unvalued)
    if stands:  # the previous record was kept: the decision compared with (None: the Book line)
        body["reunderwrite"]["standing_record_id"] = base.record_id if base is not None else None
    if on_book:  # compared with the Book limit, not with the REFER or DECLINE record (it granted nothing)
        body["reunderwrite"]["compared_with"] = "book"
        body["reunderwrite"]["skipped_record_id"] = base.record_id
    key = sha256_hex(canonical_json(["reunderwrite", item.idempotency_key, str(line["line_id"])]))
    new = DecisionItem(idempotency_key=key, application_id=item.application_id, farmer_token=item.farmer_token,
                       season=item.season, as_of=as_of.isoformat(), outcome=item.outcome, limit=item.limit,
                       currency=item.currency, reason_codes=tuple(codes), body=body, kind="reunderwrite",
                       supersedes=prev.record_id if prev is not None else None)
    row = {"line_id": str(line["line_id"]), "application_id": item.application_id, "farmer_token": item.farmer_token,
           "currency": item.currency, "book_limit": int(line["limit"]), "old_limit": old_limit, "new_limit": item.limit,
           "change": item.limit - old_limit, "drawn": int(line["drawn"]), "outstanding": int(line["outstanding"]),
           "old_outcome": old_outcome, "new_outcome": item.outcome,
           "new_reasons": ",".join(c for c in codes if c not in old_codes), "reason_codes": ",".join(codes),
           "actions": ",".join(actions), "not_reestimated": ",".join(unvalued),
           "alerts": ",".join(body["reunderwrite"]["alerts"]),
           "record_id": None, "supersedes": new.supersedes,
           "balance_as_of": balance_date_text(line.get("balance_as_of")) or ""}
    return new, row


def _as_stored(row: dict[str, Any], stored: Any, prev: Any, get: Callable[[str], Any]) -> dict[str, Any]:
    """The change row of a re-run whose record is ``stored`` (superseding ``prev``): its reason codes and proposed
    actions as the record holds them — the re-run adds nothing, and a record written by an earlier release keeps
    what that release proposed (the row printed this release's, which no record held). The line's Book limit,
    drawn and outstanding as the record holds them too: a decided line (``D-…``) is read from the latest record
    on or before the date, on a re-run this very record, whose new limit was printed as the Book limit. The old limit
    and change too (``previous_limit``, ``limit_change``): what the record was compared with."""
    ru = stored.body.get("reunderwrite") or {}
    line = {k: ru[k] for k in ("book_limit", "drawn", "outstanding") if isinstance(ru.get(k), int)}
    line["balance_as_of"] = str(ru.get("balance_as_of") or "")
    # the limit it was compared with as the record holds it (refer_keeps_book_limit: the Book limit)
    line |= {c: ru[k] for k, c in (("previous_limit", "old_limit"), ("limit_change", "change"))
             if isinstance(ru.get(k), int) and not isinstance(ru.get(k), bool)}
    if "standing_record_id" in ru:  # compared with the line's standing decision (kept_lines_stand)
        prev = standing_of(prev, get)
    old_codes = set(prev.reason_codes) if prev is not None else set()
    codes = [str(c) for c in stored.reason_codes]
    return {**row, **line, "reason_codes": ",".join(codes),
            "new_reasons": ",".join(c for c in codes if c not in old_codes),
            "actions": ",".join(ru.get("proposed_actions") or []),
            "not_reestimated": ",".join(ru.get("not_reestimated") or [])}
