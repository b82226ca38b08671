"""The text of an explanation (private to :mod:`pipelines.explain`): evidence per field, the computation, reasons,
override, re-underwriting or renewal, and the model contributions, as an analyst reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models.money import format_minor
from pipelines._explain_steps import OVERRIDE_STEP, _m, override_detail
from underwriting._free_text import escaped
from underwriting.rules import crop_disputed

if TYPE_CHECKING:
    from pipelines._explain_types import Explanation, FieldExplanation

#: contributions listed per field (the rest are summed into one line)
TOP_CONTRIBUTIONS = 8


def _was(r: dict[str, Any], cur: str) -> str:
    """What a re-underwriting block (``r``) measured its change from: the previous decision, or the line's Book limit
    (no decision before it; or, under ``refer_keeps_book_limit``, a REFER or DECLINE that granted nothing)."""
    if r.get("compared_with") == "book":
        return (f"its Book limit {_m(r.get('previous_limit'), cur)} (record {r.get('skipped_record_id')}, "
                f"{r.get('previous_outcome')}, granted none)")
    return (f"{r.get('previous_outcome')} {_m(r.get('previous_limit'), cur)}" if r.get("previous_outcome")
            else f"its Book limit {_m(r.get('previous_limit'), cur)}")


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _declared(e: dict[str, Any]) -> str:
    """What the farmer declared of a field: its crop and area, or that there was none (not "declared None")."""
    crop, area = e.get("declared_crop"), e.get("declared_area_ha")
    if not crop:
        return "no declared crop" + (f"; declared {_num(area)} ha" if area is not None else " or area")
    return f"declared {crop} " + (f"{_num(area)} ha" if area is not None else "(no declared area)")


def _yield_line(e: dict[str, Any]) -> str:
    """The field's yields and the model that gave them; a field no model valued (no crop to value it at: an undeclared
    field the imagery calls no crop, one outside every model) says so instead of "(None; model None vNone ...)"."""
    head = f"    yield P50 {_num(e.get('yield_p50_t_ha'))} t/ha, P10 {_num(e.get('yield_p10_t_ha'))} t/ha "
    if e.get("model_name") is None and e.get("crop_valued") is None:
        return head + "(not valued by a model: no crop to value it at)"
    p90 = f", P90 {_num(e['model_yield_p90_t_ha'])}" if "model_yield_p90_t_ha" in e else ""  # bodies of /2 on
    return head + (f"({e.get('crop_valued')}; model {e.get('model_name')} v{e.get('model_version')}: P50 "
                   f"{_num(e.get('model_yield_p50_t_ha'))}, P10 {_num(e.get('model_yield_p10_t_ha'))}{p90})")


def _field_lines(f: FieldExplanation, cur: str) -> list[str]:
    e = f.evidence
    status = "included" if e.get("included") else f"EXCLUDED: {e.get('exclusion_code')}"
    if e.get("codes") and len(e["codes"]) > 1:
        status += f" (all failing checks: {', '.join(e['codes'])})"
    lines = [
        f"  {f.field_id}: {status}; basis {e.get('basis')}",
        f"    {_declared(e)}; validated "
        f"{_num(e.get('validated_area_ha'))} ha; area used {_num(e.get('area_used_ha'))} ha"
        + (" (AREA_NOT_VERIFIED: the smaller area)" if e.get("area_not_verified") else ""),
        f"    overlap {_num(e.get('overlap_fraction'), '{:.1%}')}, non-crop {_num(e.get('noncrop_fraction'), '{:.1%}')}"
        f", {e.get('n_clear_obs')} clear observations, {e.get('n_clear_pixels')} clear pixels",
        f"    crop type {e.get('crop_type')} (p={_num(e.get('crop_type_prob'))}; declared crop "
        f"p={_num(e.get('declared_crop_prob'))}); stage {e.get('growth_stage')}; emergence "
        f"{e.get('emergence_date') or 'n/a'}; expected harvest {e.get('expected_harvest_date') or 'n/a'}",
        _yield_line(e),
        f"    price {_m(e.get('price_per_t'), cur)}/t{' (firm contract)' if e.get('contract_price') else ''}, "
        f"stressed {_m(e.get('stressed_price_per_t'), cur)}/t; expected value {_m(e.get('expected_value'), cur)}, "
        f"stressed value {_m(e.get('stressed_value'), cur)}",
    ]
    tprob = e.get("crop_type_prob")
    if "CROP_TYPE_UNCERTAIN" in (e.get("codes") or []) and crop_disputed(e) and tprob is not None and tprob >= 0.8:
        # the policy's disputed_crop_uncertain (2026.12.4 on): the imagery's own probability passes 0.80, so say why
        lines.insert(5, f"    CROP_TYPE_UNCERTAIN: the imagery reads {e['crop_type']}, the farmer declared "
                        f"{e['declared_crop']}, and given both the declared crop's probability is "
                        f"{_num(e.get('declared_crop_prob'))}: neither crop is established, so the field is not valued "
                        f"as {e['crop_type']}")
    if e.get("preseason_yield_source") == "history":  # the pre-season rule valued it on the farmer's records
        lines.insert(5, f"    pre-season rule: the farmer's reported yield {_num(e.get('history_yield_t_ha'))} t/ha "
                        f"(mean of {e.get('history_seasons')} earlier season(s) of the declared crop, at the price's "
                        "moisture basis) × the policy's pre-season haircut = the P50 used; P10 = that × the model's "
                        "P10/P50 ratio (the model's P50 and its contributions below are not the value used)")
    return lines


def _contribution_lines(f: FieldExplanation) -> list[str]:
    if not f.contributions or f.raw_p50 is None or f.base_value is None:
        return []
    lines = [f"  {f.field_id} ({f.model}): P50 {f.raw_p50:.3f} t/ha = base {f.base_value:.3f}"
             f" + Σ contributions (the model's P50, at its moisture basis)"]
    nonzero = [p for p in f.contributions if abs(p["contribution"]) >= 5e-4]
    for p in nonzero[:TOP_CONTRIBUTIONS]:
        v = p["value"]
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(f"    {p['contribution']:+.3f}  {p['feature']} = {shown}")
    rest = len(f.contributions) - min(len(nonzero), TOP_CONTRIBUTIONS)
    if rest:
        total = float(f.raw_p50 or 0.0) - float(f.base_value or 0.0) - sum(p["contribution"] for p in nonzero[:TOP_CONTRIBUTIONS])
        lines.append(f"    {total:+.3f}  {rest} other features")
    return lines


def _stands_text(s: dict[str, Any], cur: str) -> str:
    """What the portfolio counts for a Book line that does not stand on the record explained."""
    if s.get("on_record_id") is None:
        why = (f"its {s.get('skipped_outcome')} (record {s.get('skipped_record_id')}) granted nothing"
               if s.get("skipped_record_id") else "it was never decided in the store")
        if s.get("line_matured"):  # the portfolio's rule (pipelines.report.matured_off_book): nothing stands
            return (f"the Book line {s.get('line_id')} matured on {s['line_matured']}, before {s.get('matured_before')}"
                    f": its Book limit {_m(s.get('book_limit'), cur)} no longer stands ({why}, its renewal not "
                    "granted); the portfolio does not count it in the exposure")
        return (f"the Book line {s.get('line_id')} stands on its Book limit {_m(s.get('book_limit'), cur)} until an "
                f"analyst acts: {why}; the portfolio counts it there")
    return (f"the line {s.get('line_id')} stands on record {s.get('on_record_id')} ({s.get('on_outcome')} "
            f"{_m(s.get('on_limit'), cur)}); the portfolio counts it there")


def _not_valued(x: Explanation, codes: Any) -> str:
    """What a REFER that re-estimated nothing (``codes``: its no-estimate codes) could not value: the fields — or,
    when the models valued some of them, which ones did not, and that the limit on the others is no estimate."""
    from pipelines.reunderwrite import unvalued_text

    return unvalued_text([f.evidence for f in x.fields], x.as_of, list(codes or ()), _m(x.limit, x.currency))


def _renewal_actions(x: Explanation) -> str:
    """A renewal's proposed actions, or the true reason it proposes none: a REFER that re-estimated nothing keeps
    the line on its Book limit (its indicative limit is no estimate); only a granted limit at or above the
    outstanding balance "covers the balance"."""
    r = x.renewal or {}
    acts = ", ".join(r.get("proposed_actions") or [])
    if acts:
        return acts
    if x.renewal_not_reestimated:
        return (f"none ({x.outcome}: the line is kept on its Book limit {_m(r.get('book_limit'), x.currency)}, not "
                f"re-estimated: {_not_valued(x, x.renewal_not_reestimated)})")
    if x.outcome not in ("REFER", "DECLINE") and x.limit >= int(r.get("outstanding") or 0):
        return "none (the new limit covers the balance)"
    return "none"


def _render(x: Explanation) -> str:
    cur = x.currency
    out = [
        f"Application {x.application_id}, season {x.season}, as of {x.as_of}: {x.outcome} "
        + (f"(indicative limit {format_minor(x.limit, cur)}; nothing is granted until an analyst decides)"
           if x.outcome == "REFER" else format_minor(x.limit, cur)),
        f"  record {x.record_id} ({x.kind}), written {x.written_at} by {escaped(str(x.operator))}; farmer token {x.farmer_token}",
        *([f"  an analyst's override dated {x.as_of} of record {(x.override or {}).get('original_record_id')}, as of "
           f"{x.computed_as_of}: the evidence, computation and reasons below are that record's, as of "
           f"{x.computed_as_of} (the body's as_of); the override is the last step"] if x.computed_as_of else []),
        f"  policy {x.policy.get('id')} v{x.policy.get('version')} profile {x.policy.get('profile')} "
        f"(hash {str(x.policy.get('content_hash'))[:12]}); models "
        + (", ".join(f"{m['name']} v{m['version']}" for m in x.models) or "none")
        + (f"; crop type from {x.crop_model}" if x.crop_model else ""),
        "",
        "Evidence per field:",
    ]
    for f in x.fields:
        out += _field_lines(f, cur)
    if not x.fields:
        out.append("  no fields found for this farmer and season")
    out += ["", "Computation:"]
    for i, s in enumerate(x.steps, 1):
        amount = f"{format_minor(s.amount, cur):>22}" if s.amount is not None else " " * 22
        detail = override_detail(x.override, x.computed_as_of, cur, shown=escaped) \
            if s.label == OVERRIDE_STEP and x.override else s.detail  # its free text escaped as the page's others
        out.append(f"  {i:2d}. {s.label:<24}{amount}  {detail}")
    out.append(f"  binding constraint: {x.binding_constraint}")
    out += ["", "Reasons (waterfall from the request down to the limit, largest reduction first):"]
    for r in x.reasons:
        mark = "*" if r.get("principal") else " "
        if r.get("since_previous") is not None:  # a change since the previous decision, outside the waterfall
            out.append(f"  {mark} {r['code']:<30} {'down ' + format_minor(int(r['since_previous']), cur):>21}  "
                       f"{r['text']} (since the previous decision; not a step of the waterfall)")
            continue
        out.append(f"  {mark} {r['code']:<30} -{format_minor(int(r['reduction']), cur):>20}  {r['text']}")
    computed = next((s.amount for s in x.steps if s.label == "limit"), None)
    moved = int(computed) - x.limit if x.override and computed is not None else 0  # the analyst's cut (< 0: a raise)
    if moved:  # the override's step: its reason is the analyst's text (no policy reason code)
        o = x.override or {}
        out.append(f"    {'(analyst override)':<30} {'-' if moved > 0 else '+'}{format_minor(abs(moved), cur):>20}  "
                   f"{escaped(str(o.get('reason')))} ({escaped(str(o.get('operator')))}, dated {o.get('as_of')}: the "
                   f"computed limit "
                   f"{format_minor(int(computed or 0), cur)} -> {format_minor(x.limit, cur)})")
    if not x.reasons and not moved:
        out.append("  none: the request is granted in full")
    total = sum(int(r["reduction"]) for r in x.reasons)
    out.append(f"  (* principal reasons; reductions total {format_minor(total, cur)}"
               + (f", then the analyst's override {'-' if moved > 0 else '+'}{format_minor(abs(moved), cur)}: "
                  f"{format_minor(x.limit, cur)}" if moved else "") + ")")
    if x.refer_reasons:
        out.append(f"  referred to an analyst because of: {', '.join(x.refer_reasons)}")
    if x.pledged_to:
        out.append(f"  the farmer's fields of season {x.season} are already pledged to application(s) "
                   f"{', '.join(x.pledged_to)}: an analyst decides which application stands")
    if x.override:
        o = x.override
        # the record replaced re-estimated nothing (its line kept), or re-estimated it and decided a REFER or DECLINE
        # that granted nothing (refer_keeps_book_limit): either way the line stood on what it names
        replaced_kept = bool((x.reunderwrite or {}).get("not_reestimated"))
        stood = "" if "standing_limit" not in o else (
            (" (a re-underwriting that re-estimated nothing; the line stood on " if replaced_kept else
             f" (a re-underwriting that re-estimated the line and decided {o.get('original_outcome')}, which granted "
             "nothing; the line stood on ")
            # refer_keeps_book_limit (2026.12.8 on): on a REFER or DECLINE, which granted nothing: its Book limit
            + (f"its Book limit {_m(o.get('standing_limit'), cur)}" + (
                f" (record {o.get('standing_record_id')}, a {o.get('standing_outcome')}, granted none)"
                if o.get("standing_record_id") != o.get("original_record_id") else "")
               if o.get("standing_compared_with") == "book"
               else f"{o.get('standing_outcome')} {_m(o.get('standing_limit'), cur)}, record "
               f"{o.get('standing_record_id')}" if o.get("standing_record_id")
               else f"its Book limit {_m(o.get('standing_limit'), cur)}")
            + ", the change measured from it)")
        out += ["", f"Override of {o.get('original_record_id')}{stood}: {o.get('original_outcome')} "
                    f"{_m(o.get('original_limit'), cur)} -> {o.get('outcome')} {_m(o.get('limit'), cur)} by "
                    f"{escaped(str(o.get('operator')))}"
                + (f", approved by {escaped(str(o['approver']))}" if o.get("approver") else "")
                + f": {escaped(str(o.get('reason')))}"]
    if x.reunderwrite and x.override:  # an override copies the body it supersedes, this block included
        r = x.reunderwrite
        was = _was(r, cur)
        out += ["", f"Re-underwriting of line {r.get('line_id')} before the override: from {was}; its proposed actions "
                    f"({', '.join(r.get('proposed_actions') or []) or 'none'}) were for its own limit, which the "
                    "analyst's override above replaced"]
    elif x.reunderwrite:  # the analyst's to-do of a re-underwriting: it was only in the run's output and the body
        r = x.reunderwrite
        unvalued = ", ".join(r.get("not_reestimated") or [])
        was = _was(r, cur)
        kept = (f"not re-estimated: {_not_valued(x, r.get('not_reestimated'))}; the line "
                f"is kept as it stands, on {was}" if "standing_record_id" in r or r.get("previous_outcome") is None
                or r.get("compared_with") == "book"
                else f"not re-estimated: {_not_valued(x, r.get('not_reestimated'))}; the "
                "line is kept as it stands") if unvalued else ""
        acts = ", ".join(r.get("proposed_actions") or [])
        acts = (f"{acts} ({kept}; reviewed for an open high-severity alert)" if acts and kept else acts
                or (f"none ({kept})" if kept else "none (the new limit covers the balance)"))
        out += ["", f"Re-underwriting of line {r.get('line_id')}: {was} -> {x.outcome} {_m(x.limit, cur)}"
                    + (" (indicative, no estimate)" if unvalued else "") + f"; outstanding "
                    f"{_m(r.get('outstanding'), cur)}, drawn {_m(r.get('drawn'), cur)}{_balance_date(r)}, line maturity "
                    f"{r.get('line_maturity_date') or 'n/a'}"]
        if "standing_record_id" in r:  # the record before was kept (re-estimated nothing): compared with what stood
            out.append("  compared with the decision the line stood on ("
                       + (f"its Book limit: record {r['standing_record_id']}, a {r.get('previous_outcome')}, granted "
                          "none" if r.get("compared_with") == "book"
                          else f"record {r['standing_record_id']}" if r["standing_record_id"] else "the Book line")
                       + f"), not with record {r.get('previous_record_id')}, a re-underwriting that re-estimated "
                       "nothing")
        out.append(f"  proposed actions: {acts}; alerts: {', '.join(r.get('alerts') or []) or 'none'}")
    if x.line_stands_on and not x.override:
        out.append("  " + _stands_text(x.line_stands_on, cur))
    if x.renewal and not x.reunderwrite and not x.override:  # a new decision renewing the farmer's Book line
        r = x.renewal
        out += ["", f"Renewal of line {r.get('line_id')} (Book limit {_m(r.get('book_limit'), cur)}): outstanding "
                    f"{_m(r.get('outstanding'), cur)}, drawn {_m(r.get('drawn'), cur)}{_balance_date(r)}, line maturity "
                    f"{r.get('line_maturity_date') or 'n/a'}",
                f"  proposed actions: {_renewal_actions(x)}; alerts: {', '.join(r.get('alerts') or []) or 'none'}"]
    out += ["", "Model contributions to each field's P50 yield (LightGBM pred_contrib, this application only):"]
    shown = [line for f in x.fields for line in _contribution_lines(f)]
    out += shown or ["  none"]
    if x.contributions_note:
        out.append(f"  note: {x.contributions_note}")
    if len(x.history) > 1:
        out += ["", "History of this application:"]
        out += [f"  {h['as_of']} {h['kind']:<12} {h['outcome']:<8} {format_minor(h['limit'], cur):>20}  "
                f"{h['record_id']}" for h in x.history]
    # one line each, whatever a record holds: the free text (reason, operator, approver) escaped where it is put in,
    # its backslashes doubled; the rest (field ids, codes) as stored, only characters that move the cursor escaped
    return "\n".join(escaped(line, doubled=False) for line in out)


def _balance_date(block: dict[str, Any]) -> str:
    """`` (balances as of D)`` for a Book line block whose Book dated its balances (``balance_as_of``), else ''."""
    when = block.get("balance_as_of")
    return f" (balances as of {when})" if when else ""
