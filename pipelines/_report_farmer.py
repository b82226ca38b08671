"""A farmer's page (:func:`render_farmer`): their fields' map and NDVI curves, and each decision with its record.

Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines._report_alerts import _alert_table, _applications_of, _held
from pipelines._report_data import ON_BOOK, ReportData, latest_decisions, standing_on_page
from pipelines._report_html import _as_of_text, _money, _page, _set_aside_note, _table, _tag
from pipelines._report_map import _curve_for, _map, record_marks
from pipelines._report_outputs import _write_all, farmer_page_path


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(d, dict):
        for k in sorted(d):
            out.extend(_flatten(d[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and all(isinstance(x, (int, float, str)) for x in d):
        out.append((prefix, ", ".join(str(x) for x in d)))
    elif isinstance(d, list):
        for i, x in enumerate(d):
            out.extend(_flatten(x, f"{prefix}[{i}]"))
    else:
        out.append((prefix, "" if d is None else str(d)))
    return out


def _no_farmer_message(data: ReportData, token: str) -> str:
    """``report farmer``'s message for a ``token`` with no decision in the season. The token is named only when the
    data hold it (a farmer of the fields or of other seasons' records) and it is no farmer's own identifier (by its
    keyed token); one matching no farmer is never repeated — a bank's tokens may be any word, and an analyst may have
    typed a surname there — nor is its shape, length or a keyed fingerprint (that would be the farmer's own token
    when a name was typed): the message gives the count of the data's farmer tokens, their shapes and how to list
    them."""
    from features.identity import names_a_farmer
    from underwriting._pii_text import echoed_reference, reference_shape, unknown_reference_hint

    tokens = set(data.fields["farmer_token"].astype(str)) | set(data.decisions["farmer_token"].astype(str))
    shapes = {reference_shape(t) for t in tokens}  # the data's tokens' shapes, given when few (never the argument's)
    if echoed_reference(token, known=token in tokens, personal=names_a_farmer(token, tokens.__contains__)):
        return f"report: no decision for farmer {token} in season {data.season}"
    hint = (unknown_reference_hint("the farmer's pseudonymous token", "farmer tokens", len(tokens), shapes if len(shapes) <= 3 else None,
                                   "`agcredit decisions export --out FILE` (column farmer_token)")
            if token not in tokens else "it is not repeated here: it is a farmer's identifier, not a token")
    return f"report: no decision for the farmer given in season {data.season} ({hint})"


def _override_text(body: dict[str, Any], cur: str) -> str | None:
    """What an override record's ``override`` section says, as ``explain`` prints it (its free texts escaped: one
    line whatever was typed): the record it replaced, its date, who gave and approved it and why; None otherwise."""
    from underwriting._free_text import escaped

    o = body.get("override")
    if not isinstance(o, dict):
        return None
    return (f"an analyst's override dated {o.get('as_of')} of {o.get('original_outcome')} "
            f"{_money(o.get('original_limit'), cur)} (record {o.get('original_record_id')}), by "
            f"{escaped(str(o.get('operator')))}"
            + (f", approved by {escaped(str(o['approver']))}" if o.get("approver") else ", without an approver")
            + f"; reason: {escaped(str(o.get('reason')))}")


def render_farmer(data: ReportData, token: str, out_dir: str | Path) -> Path:
    """Write ``farmer-<token>.html``: the farmer's fields on a map, NDVI curves against the expected
    band with checkpoints, and the decision with its reasons and computation."""
    dec = latest_decisions(data.decisions)
    standing = standing_on_page(data)  # as the portfolio page's table: a line matured before its date stands no more
    mine = dec[dec["farmer_token"] == token]
    if mine.empty:
        raise UserInputError(_no_farmer_message(data, token))
    f = data.fields[data.fields["farmer_token"] == token]
    # the farmer's own records' dates on their curves (the season's were drawn: other farmers' re-underwritings and
    # overrides), and the curves' last observation beside the latest record's date
    marks = record_marks(data.decisions[data.decisions["farmer_token"] == token])
    body = [f"<h1>Farmer {escape(token)} — season {escape(data.season)}</h1>",
            _as_of_text(data, mine, set(data.fields.loc[data.fields["farmer_token"] == token, "field_id"].astype(str))),
            _set_aside_note(data, token),
            "<h2>Fields</h2>", f"<div class='card'>{_map(data, {token})}</div>", "<h2>NDVI against the expected band</h2>",
            "<div class='grid'>"]
    for fid in f["field_id"]:
        crop = f[f["field_id"] == fid].iloc[0].get("crop", "")
        body.append(f"<div class='card'><h3>{escape(str(fid))} ({escape(str(crop))})</h3>{_curve_for(data, str(fid), marks)}</div>")
    body.append("</div>")
    for rec in mine.itertuples():
        cur = str(rec.currency)
        b = json.loads(rec.body) if isinstance(rec.body, str) else {}
        limit = escape(_money(rec.limit, cur))
        stood = standing[standing["application_id"] == rec.application_id]
        matured = stood["line_matured"].iloc[0] if len(stood) else None
        if matured is not None and not pd.isna(matured):  # as the portfolio page's table: no Book limit stands
            s0 = stood.iloc[0]
            what = {"decision": "a first decision", "reunderwrite": "a re-underwriting",
                    "override": "an analyst's override"}.get(str(getattr(rec, "kind", "")), "a record")
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(s0['outcome']))} "
                        f"limit {escape(_money(s0['limit'], cur))} — its Book line matured on {escape(str(matured))}"
                        "</h2>")
            body.append(f"<p class='sub'>the latest record, as of {escape(str(rec.as_of))}, is {escape(what)} that "
                        f"decided {escape(str(rec.outcome))} (limit {limit}): its Book line matured on "
                        f"{escape(str(matured))}, before this page's date, and its Book limit no longer stands (not "
                        f"in the portfolio's exposure); reasons of that record: "
                        f"{escape(str(rec.reason_codes or '—'))}</p>")
        elif len(stood) and stood["kept_as_of"].notna().iloc[0]:  # a re-underwriting that re-estimated nothing
            from pipelines.reunderwrite import unvalued_text

            s0 = stood.iloc[0]
            on = (f"its Book limit {_money(s0['limit'], cur)} (its {s0['skipped_outcome']} of {s0['as_of']} granted "
                  "nothing)" if s0["outcome"] == ON_BOOK and s0["skipped_outcome"] is not None else
                  f"its Book limit {_money(s0['limit'], cur)} (never decided in the store)"
                  if s0["outcome"] == ON_BOOK else
                  f"the decision of {s0['as_of']}: {s0['outcome']} {_money(s0['limit'], cur)}")
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(s0['outcome']))} "
                        f"limit {escape(_money(s0['limit'], cur))} — kept: not re-estimated since "
                        f"{escape(str(s0['kept_as_of']))}</h2>")
            body.append(f"<p class='sub'>the latest record, as of {escape(str(rec.as_of))}, is a REFER of indicative "
                        f"limit {limit}: {escape(unvalued_text(b.get('fields') or [], rec.as_of))}; the line is kept "
                        "as it stands, "
                        f"on {escape(on)}; reasons of that record: {escape(str(rec.reason_codes or '—'))}</p>")
        elif len(stood) and (str(stood["record_id"].iloc[0] if "record_id" in stood else "") !=
                             str(getattr(rec, "record_id", "")) or stood["skipped_outcome"].notna().iloc[0]):
            # a REFER or DECLINE that granted nothing (policy 2026.12.8 on)
            s0 = stood.iloc[0]
            on = (f"its Book limit {_money(s0['limit'], cur)}" if s0["outcome"] == ON_BOOK else
                  f"the analyst's override of {s0['as_of']}: {s0['outcome']} {_money(s0['limit'], cur)}")
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(s0['outcome']))} "
                        f"limit {escape(_money(s0['limit'], cur))} — its {escape(str(rec.outcome))} granted "
                        "nothing</h2>")
            what = ("a first decision on the renewal of its Book line" if str(getattr(rec, "kind", "")) == "decision"
                    else "a re-underwriting")
            body.append(f"<p class='sub'>the latest record, as of {escape(str(rec.as_of))}, is {escape(what)} "
                        f"that decided {escape(str(rec.outcome))} (limit {limit}): a REFER or DECLINE grants nothing, "
                        f"the line stands on {escape(on)} until an analyst acts (policy 2026.12.8 on); reasons of that "
                        f"record: {escape(str(rec.reason_codes or '—'))}</p>")
        elif (ov := _override_text(b, cur)) is not None:  # headlined as the analyst's, not the replaced record's
            o = b["override"]
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(rec.outcome))} limit {limit} — "
                        f"an analyst's override of {escape(str(o.get('original_outcome')))} "
                        f"{escape(_money(o.get('original_limit'), cur))}</h2>")
            body.append(f"<p class='sub'>as of {escape(str(rec.as_of))}: {escape(ov)}; the replaced record's "
                        f"reasons: {escape(str(rec.reason_codes or '—'))}</p>")
        else:
            body.append(f"<h2>Decision {escape(str(rec.application_id))}: {_tag(str(rec.outcome))} "
                        + (f"indicative limit {limit} — nothing is granted until an analyst decides</h2>"
                           if rec.outcome == "REFER" else f"limit {limit}</h2>"))
            body.append(f"<p class='sub'>as of {escape(str(rec.as_of))}; reasons: "
                        f"{escape(str(rec.reason_codes or '—'))}</p>")
        rows = pd.DataFrame(_flatten(b), columns=["item", "value"])
        body.append(f"<h3>Record</h3><p class='sub'>the stored body as it is: money in minor units of {escape(cur)} "
                    f"(e.g. limit {escape(str(rec.limit))} = {escape(_money(rec.limit, cur))})</p>" + _table(rows))
    al = data.alerts[data.alerts["field_id"].isin(f["field_id"])] if not data.alerts.empty else pd.DataFrame()
    body.append("<h2>Alerts</h2>" + (f"<p class='sub'>{escape(data.models_note)}</p>" if data.models_note else "")
                + _table(_alert_table(_held(al, data), _applications_of(data))))
    page = farmer_page_path(out_dir, token)  # checked first (a folder there: one line naming it, as the portfolio's)
    _write_all([(page, _page(f"farmer {token}", "".join(body), data.synthetic, data.unlabelled), "report")])
    return page
