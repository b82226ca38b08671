"""Explain a stored decision: evidence, the computation step by step, reasons and model contributions.

Everything comes from the STORED record (``DecisionStore.latest`` / ``history``): the body
holds the per-field evidence, the computation (values, limits, caps, binding constraint),
the reasons with their reductions and text, the policy parameters and the model versions.
The model contributions behind each field's P50 yield (LightGBM ``pred_contrib`` through
``YieldModel.explain``) are recomputed for that application's fields only, from

- the FieldFeatures table the decision used: ``<artifacts>/features/<sha256>.parquet`` with the
  hash in the body's ``provenance.features_sha256`` and ``<artifacts>`` from
  ``pipelines.underwrite.artifacts_dir(store_url)`` (the file's bytes are checked against the hash);
- the recorded model version (never an alias), loaded from the registry's local cache or, when the
  version still holds an alias, through ``models.registry.resolve``.

When either is missing, the explanation says why and shows everything else. Only the
pseudonymous farmer token appears; money is rendered with ``models.money.format_minor``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from models.money import format_minor
from underwriting.records import sha256_hex
from underwriting.rules import crop_disputed
from underwriting.store import DecisionRecord, DecisionStore

__all__ = ["Explanation", "FieldExplanation", "Step", "ModelLoader", "explain", "explain_text", "features_path",
           "TOP_CONTRIBUTIONS"]

#: contributions listed per field (the rest are summed into one line)
TOP_CONTRIBUTIONS = 8

#: (model name, version) -> a fitted model with ``explain(rows)``
ModelLoader = Callable[[str, str], Any]


class ExplainError(UserInputError):
    """The application has no stored decision to explain."""

    def __init__(self, *, application_id: str, problem: str, personal: bool = False, known: bool = False,
                 count: int = 0, shapes: frozenset[str] | None = None) -> None:
        from underwriting._pii_text import echoed_reference, unknown_reference_hint

        self.application_id = application_id
        self.problem = problem
        # echoed only when the records hold it (``known``: a decision of it exists, after --as-of) — never an argument
        # matching no record, whatever its shape (a bank's ids may be any word; a surname typed there is not
        # repeated), nor a farmer's own identifier (``personal``, by its token)
        if echoed_reference(application_id, known=known, personal=personal):
            super().__init__(f"explain {application_id}: {problem}")
        else:
            hint = unknown_reference_hint("an application id", "application ids", count, shapes, "`agcredit decisions export --out FILE` "
                                          "(column application_id)") if not known else \
                "it is not repeated here: it is a farmer's identifier, not an application id"
            super().__init__(f"explain the application given: {problem} ({hint})")


@dataclass(frozen=True)
class Step:
    """One line of the computation: a label, an amount (minor units) and how it was obtained."""

    label: str
    amount: int | None
    detail: str = ""


@dataclass(frozen=True)
class FieldExplanation:
    """One field: its stored evidence and the model contributions behind its P50 yield."""

    field_id: str
    evidence: dict[str, Any]
    model: str | None = None
    base_value: float | None = None
    raw_p50: float | None = None
    contributions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` returns; ``to_dict`` is JSON-ready, :func:`render` gives the text."""

    application_id: str
    record_id: str
    kind: str
    season: str
    as_of: str
    written_at: str
    operator: str
    farmer_token: str
    outcome: str
    limit: int
    currency: str
    binding_constraint: str | None
    steps: list[Step]
    fields: list[FieldExplanation]
    reasons: list[dict[str, Any]]
    refer_reasons: list[str]
    models: list[dict[str, Any]]
    policy: dict[str, Any]
    override: dict[str, Any] | None
    history: list[dict[str, Any]]
    contributions_note: str | None
    #: the applications holding the farmer's fields of the season (FIELDS_ALREADY_PLEDGED), else empty
    pledged_to: list[str] = field(default_factory=list)
    #: a re-underwriting record's line, balances, change and proposed actions (the body's ``reunderwrite``)
    reunderwrite: dict[str, Any] | None = None
    #: a new decision renewing the farmer's active Book line: the line, balances and the actions a re-underwriting
    #: would propose (the body's ``renewal``; policy renewals_propose_actions, 2026.12.10 on)
    renewal: dict[str, Any] | None = None
    #: the crop-type model that gave the features their crop probabilities (the body's
    #: ``provenance.crop_model_version``; None: none recorded)
    crop_model: str | None = None
    #: the renewal's decision re-estimated nothing (``reunderwrite.not_reestimated`` of its body: a REFER whose only
    #: failing fields the models could not value): its codes, else empty — it proposed nothing for that reason
    renewal_not_reestimated: list[str] = field(default_factory=list)
    #: what the portfolio counts for the Book line of this record when it does not stand on the record itself
    #: (:func:`underwriting.standing.line_standing`): ``line_id``, ``book_limit``, ``on_record_id`` (None: its
    #: Book limit), ``skipped_record_id`` and ``skipped_outcome`` (the REFER or DECLINE that granted nothing);
    #: ``line_matured`` (its maturity, before ``matured_before``, the day explained: its Book limit no longer stands,
    #: the portfolio does not count it) or None
    line_stands_on: dict[str, Any] | None = None
    #: an analyst's override: the as-of date of the record it overrode, whose evidence, computation and reasons its
    #: body copies (the body's ``as_of``; the override's own date is ``as_of``, its ``override.as_of``), else None
    computed_as_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, indent=1, default=str)

    def render(self) -> str:
        return _render(self)


# --- locating the inputs of the contributions --------------------------------------------------------

def features_path(store_url: str, sha: str) -> Path:
    """Where the FieldFeatures table with content hash ``sha`` lives for the store at ``store_url``."""
    from pipelines.underwrite import features_path as _path

    return _path(store_url, sha)


def _registry_loader(name: str, version: str) -> Any:
    """Load ``name`` version ``version`` from the registry (its local copy when there is one)."""
    from models import registry
    from models.errors import RegistryError

    try:
        return registry.resolve(name, version).model
    except RegistryError as e:
        raise LookupError(str(e)) from None


def _feature_value(rows: pd.DataFrame, idx: Any, name: str) -> Any:
    r = rows.loc[idx]
    if name == "season_year":
        return str(r["season"])
    if name == "as_of_day":
        return (pd.Timestamp(r["as_of"]) - pd.Timestamp(f"{r['season']}-01-01")).days
    if name == "crop":
        for c in ("crop", "crop_type", "declared_crop"):
            if c in rows.columns and pd.notna(r[c]):
                return str(r[c])
        return None
    if name in rows.columns:
        v = r[name]
        if pd.isna(v):
            return None
        return v.item() if hasattr(v, "item") else v
    from models._yield_features import SPANS, date_features

    if (name.startswith("day_") or name in SPANS) and "season" in rows.columns:
        # a phenology date the model reads as days of the season year (or a span of two): derived, not a column —
        # shown as "None" it read as a missing date when the model had one (day_expected_harvest_date at mid-season)
        d = float(date_features(rows.loc[[idx]], [name])[name][0])
        return None if np.isnan(d) else d
    return None


def _contributions(body: dict[str, Any], store_url: str, loader: ModelLoader,
                   entries: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Per field id: model, base value, raw P50 and sorted contributions; or a note saying why not."""
    sha = (body.get("provenance") or {}).get("features_sha256")
    if not sha:
        return {}, "no model contributions: the decision recorded no features_sha256 in its provenance"
    path = features_path(store_url, str(sha))
    if not path.exists():
        return {}, f"no model contributions: the features the decision used are not at {path}"
    data = path.read_bytes()
    if sha256_hex(data) != sha:
        return {}, f"no model contributions: {path} does not match its recorded SHA-256"
    import io

    feats = pd.read_parquet(io.BytesIO(data))
    season = str(body["application"]["season"])
    wanted = {str(e["field_id"]) for e in entries if e.get("model_version") is not None}
    feats = feats[feats["field_id"].astype(str).isin(wanted) & (feats["season"].astype(str) == season)]
    out: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    groups: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        if str(e["field_id"]) in wanted:
            groups.setdefault((str(e["model_name"]), str(e["model_version"])), []).append(str(e["field_id"]))
    for (name, version), fids in sorted(groups.items()):
        rows = feats[feats["field_id"].astype(str).isin(fids)]
        if rows.empty:
            notes.append(f"fields {', '.join(fids[:5])} are not in the recorded features")
            continue
        try:
            model = loader(name, version)
        except (LookupError, UserInputError, OSError) as e:
            notes.append(f"{name} v{version} could not be loaded ({e})")
            continue
        contrib = model.explain(rows)  # only this application's rows
        for idx in rows.index:
            fid = str(rows.at[idx, "field_id"])
            c = contrib.loc[idx]
            base = float(c["expected_value"])
            parts = [{"feature": str(k), "value": _feature_value(rows, idx, str(k)), "contribution": float(v)}
                     for k, v in c.items() if k != "expected_value"]
            parts.sort(key=lambda p: (-abs(p["contribution"]), p["feature"]))
            out[fid] = {"model": f"{name} v{version}", "base_value": base,
                        "raw_p50": base + sum(p["contribution"] for p in parts), "contributions": parts}
    note = ("some model contributions are missing: " + "; ".join(notes)) if notes else None
    return out, note


# --- the computation -------------------------------------------------------------------------------

def _m(amount: Any, cur: str) -> str:
    return format_minor(int(amount), cur) if amount is not None else "n/a"


def _was(r: dict[str, Any], cur: str) -> str:
    """What a re-underwriting block (``r``) measured its change from: the previous decision, or the line's Book limit
    (no decision before it; or, under ``refer_keeps_book_limit``, a REFER or DECLINE that granted nothing)."""
    if r.get("compared_with") == "book":
        return (f"its Book limit {_m(r.get('previous_limit'), cur)} (record {r.get('skipped_record_id')}, "
                f"{r.get('previous_outcome')}, granted none)")
    return (f"{r.get('previous_outcome')} {_m(r.get('previous_limit'), cur)}" if r.get("previous_outcome")
            else f"its Book limit {_m(r.get('previous_limit'), cur)}")


def _steps(body: dict[str, Any], cur: str) -> list[Step]:
    c, a = body["computation"], body["application"]
    p = body["policy"]["parameters"]
    conc = c.get("concentration") or {}
    steps = [
        Step("requested amount", c["requested_amount"], f"for {a.get('requested_term_days')} days"),
        Step("expected value", c["expected_value"],
             "Σ area used × P50 yield × reference price over the included fields"
             + (f" (before evidence exclusions: {_m(c['expected_value_claimed'], cur)})"
                if c.get("expected_value_claimed") != c["expected_value"] else "")),
        Step("value at stressed price", c.get("value_at_stressed_price"),
             f"Σ area × P50 × stressed price (price shock z = {p.get('z_price_shock')}, floored at the support price)"),
        Step("stressed value", c["stressed_value"], "Σ area used × P10 yield × stressed price"),
        Step("collateral limit", c["collateral_limit"],
             f"{p.get('advance_rate')} × stressed value − prior liens {_m(a.get('prior_liens_on_crop'), cur)}"),
        Step("cash-flow limit", c["cash_flow_limit"],
             f"((expected value + other income {_m(a.get('other_income'), cur)} − living costs "
             f"{_m(a.get('living_costs'), cur)} − unfinanced costs {_m(a.get('unfinanced_costs'), cur)}) / min DSCR "
             f"{p.get('min_dscr')} − debt due {_m(a.get('debt_due_this_cycle'), cur)}) / (1 + {p.get('annual_rate')}"
             f" × {c['term_days']} / 365)"),
        Step("product cap", c["product_cap"], f"profile {body['policy'].get('profile')}"),
    ]
    if conc.get("applies"):
        steps.append(Step("concentration headroom", conc.get("headroom"),
                          f"book {_m(conc.get('book_total'), cur)}: borrower ≤ {_m(conc.get('max_borrower'), cur)} "
                          f"(has {_m(conc.get('borrower_exposure'), cur)}), {conc.get('crop')} in {conc.get('region')}"
                          f" ≤ {_m(conc.get('max_crop_region'), cur)} (has {_m(conc.get('crop_region_exposure'), cur)})"))
    else:
        steps.append(Step("concentration headroom", None,
                          f"not applied (book {_m(conc.get('book_total', 0), cur)} below the policy's minimum)"))
    steps += [
        Step("limit before rounding", c["limit_unrounded"],
             f"min(requested, collateral, cash flow, cap{', concentration' if conc.get('applies') else ''}); "
             f"binding: {c['binding_constraint']}"),
        Step("limit", c["limit"], f"rounded down to a multiple of {_m(c['rounding_step'], cur)} unless the request "
                                  f"is covered; minimum line {_m(c['min_line'], cur)}"),
        Step("term", None, f"{c['term_days']} days, maturing {c['maturity_date']} ({_term_basis(body)})"),
    ]
    if o := body.get("override"):  # the analyst's step after the computation it overrode: the steps end at its limit
        steps.append(Step("analyst's override", o.get("limit"),
                          f"{o.get('outcome')} by {o.get('operator')}"
                          + (f", approved by {o['approver']}" if o.get("approver") else "")
                          + f", dated {o.get('as_of')}: {o.get('reason')} (replaces {o.get('original_outcome')} "
                          f"{_m(o.get('original_limit'), cur)} of record {o.get('original_record_id')}, as of "
                          f"{body.get('as_of')}; no reason code)"))
    return steps


def _term_basis(body: dict[str, Any]) -> str:
    """Which rule set the term (underwriting.rules.term_days): the requested term lengthened to the expected
    harvest, cut to harvest + marketing window, capped at the longest term — said as it applied."""
    import datetime as dt

    c, p = body["computation"], body["policy"]["parameters"]
    term, window, longest = int(c["term_days"]), p.get("marketing_window_days"), p.get("max_term_days")
    requested = body["application"].get("requested_term_days")
    harvest = c.get("expected_harvest_date")
    line_end = body["application"].get("latest_maturity_date")
    if line_end is not None and str(c.get("maturity_date")) == str(line_end):
        return (f"kept at the line's maturity: a re-underwriting never extends a line; expected harvest "
                f"{harvest or 'unknown'}")
    if harvest is None:
        return f"no expected harvest date: the requested {requested} days, at most {longest}"
    to_harvest = (dt.date.fromisoformat(str(harvest)) - dt.date.fromisoformat(str(body["as_of"]))).days
    if longest is not None and term == int(longest) and to_harvest + (window or 0) > term:
        return f"capped at the longest term, {longest} days; expected harvest {harvest}"
    if window is not None and term == to_harvest + int(window):
        return f"expected harvest {harvest} + marketing window {window} days"
    if term == to_harvest:
        return f"the requested {requested} days lengthened to the expected harvest {harvest}"
    if requested is not None and term == int(requested):
        return (f"the requested {requested} days: after the expected harvest {harvest}, within its {window}-day "
                "marketing window")
    return f"expected harvest {harvest}, marketing window {window} days, at most {longest} days"


def explain(store: DecisionStore | str | None, application_id: str, *, as_of: str | date | None = None,
            model_loader: ModelLoader | None = None) -> Explanation:
    """Explain the latest stored record of ``application_id`` (on or before ``as_of``).

    ``model_loader(name, version)`` loads a model version (default: the registry's local cache, or
    the alias still pointing at that version).
    """
    if isinstance(store, DecisionStore):
        return _explain(store, application_id, as_of, model_loader or _registry_loader)
    with DecisionStore(store, create=False, read_only=True) as opened:
        return _explain(opened, application_id, as_of, model_loader or _registry_loader)


def _explain(store: DecisionStore, application_id: str, as_of: str | date | None,
             loader: ModelLoader) -> Explanation:
    app_id = str(application_id).strip()
    rec: DecisionRecord | None = store.latest(app_id, as_of=as_of)
    if rec is None:
        when = f" on or before {as_of}" if as_of is not None else ""
        from features.identity import names_a_farmer

        count, shapes = store.application_summary()
        raise ExplainError(application_id=app_id, problem=f"no stored decision{when} in {store.shown_url}",
                           personal=names_a_farmer(app_id, store.has_farmer),
                           known=store.latest(app_id) is not None, count=count, shapes=shapes)
    body = rec.body
    cur = rec.currency
    entries = [dict(f) for f in body.get("fields", [])]
    contrib, note = _contributions(body, store.url, loader, entries)
    fields = []
    for e in entries:
        got = contrib.get(str(e["field_id"]), {})
        fields.append(FieldExplanation(field_id=str(e["field_id"]), evidence=e, model=got.get("model"),
                                       base_value=got.get("base_value"), raw_p50=got.get("raw_p50"),
                                       contributions=got.get("contributions", [])))
    # the chain up to the record explained: with --as-of, the records dated on or before it (their as-of; an
    # override's is the date it was given), as ``store.latest`` and the report's --as-of read them — a chain goes
    # forward only, so the later records are those dated after it
    history = [{"record_id": r.record_id, "kind": r.kind, "as_of": r.as_of, "outcome": r.outcome, "limit": r.limit,
                "written_at": r.written_at} for r in store.history(app_id) if r.seq <= rec.seq]
    pol = body.get("policy", {})
    return Explanation(
        application_id=rec.application_id, record_id=rec.record_id, kind=rec.kind, season=rec.season,
        as_of=rec.as_of, written_at=rec.written_at, operator=rec.operator, farmer_token=rec.farmer_token,
        outcome=rec.outcome, limit=rec.limit, currency=cur,
        binding_constraint=body.get("computation", {}).get("binding_constraint"), steps=_steps(body, cur),
        fields=fields, reasons=list(body.get("reasons", [])), refer_reasons=list(body.get("refer_reasons", [])),
        models=list(body.get("models", [])),
        policy={k: pol.get(k) for k in ("id", "version", "content_hash", "profile")},
        override=body.get("override"), history=history, contributions_note=note,
        pledged_to=[str(a) for a in body.get("computation", {}).get("fields_pledged_to", [])],
        reunderwrite=body.get("reunderwrite"), renewal=body.get("renewal"),
        renewal_not_reestimated=_renewal_kept(body), line_stands_on=_line_stands_on(store, rec, as_of),
        crop_model=(body.get("provenance") or {}).get("crop_model_version"),
        computed_as_of=str(body.get("as_of")) if body.get("override") and body.get("as_of") else None)


def _renewal_kept(body: dict[str, Any]) -> list[str]:
    """The no-estimate codes of a renewing decision that re-estimated nothing (its renewal proposed nothing because
    of them, not because its indicative limit covers the balance), else []."""
    if not body.get("renewal"):
        return []
    from pipelines.reunderwrite import not_reestimated

    return list(not_reestimated(body))


def _line_stands_on(store: DecisionStore, rec: DecisionRecord, as_of: str | date | None) -> dict[str, Any] | None:
    """What the portfolio counts for the line of ``rec`` (a re-underwriting's Book line, or the one a first
    decision renews) when the line does not stand on ``rec`` itself: its Book limit past a REFER or DECLINE that
    granted nothing, or an earlier record (a kept line); None when it stands on ``rec`` or ``rec`` follows no line.
    The chain is read up to ``rec``. A line on its Book limit whose maturity (the record's line block) is before the
    day explained (``as_of``, else the season's latest record date, as the portfolio report dates its page) has
    ``line_matured`` (that maturity; else None) and ``matured_before`` (the day): its Book limit no longer stands and
    the portfolio does not count it (:func:`underwriting.standing.line_matured`, the report's rule; explain reads no
    Book, so the record's maturity)."""
    from underwriting.standing import line_block, line_matured, line_standing

    line = line_block(rec.body)
    if not line.get("line_id"):
        return None
    chain = [r for r in store.history(rec.application_id) if r.seq <= rec.seq]
    df = pd.DataFrame({"record_id": [r.record_id for r in chain], "supersedes": [r.supersedes for r in chain],
                       "kind": [r.kind for r in chain], "outcome": [r.outcome for r in chain],
                       "body": [r.body for r in chain]})
    got = line_standing(df).get(rec.record_id)
    if got is None:
        return None
    on, skipped = got
    by_id = {r.record_id: r for r in chain}
    day, matured = None, None
    if on is None and line.get("line_maturity_date"):  # on its Book limit: the portfolio's page date decides
        if as_of is None:  # as the report's page without --as-of: the season's latest record date
            day = str(store.records(season=rec.season)["as_of"].astype(str).max())
        else:
            day = (as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of).strip())).isoformat()
        matured = line_matured(rec.body, day)
    return {"line_id": str(line["line_id"]), "book_limit": line.get("book_limit"), "on_record_id": on,
            "on_outcome": by_id[on].outcome if on in by_id else None,
            "on_limit": by_id[on].limit if on in by_id else None,
            "skipped_record_id": skipped, "skipped_outcome": by_id[skipped].outcome if skipped in by_id else None,
            "line_matured": matured, "matured_before": day if matured else None}


def explain_text(store: DecisionStore | str | None, application_id: str, as_of: str | date | None = None,
                 *, model_loader: ModelLoader | None = None) -> str:
    """The explanation of :func:`explain` as text for an analyst."""
    return explain(store, application_id, as_of=as_of, model_loader=model_loader).render()


# --- rendering -------------------------------------------------------------------------------------

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
    return head + (f"({e.get('crop_valued')}; model {e.get('model_name')} v{e.get('model_version')}: P50 "
                   f"{_num(e.get('model_yield_p50_t_ha'))}, P10 {_num(e.get('model_yield_p10_t_ha'))})")


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
        f"  record {x.record_id} ({x.kind}), written {x.written_at} by {x.operator}; farmer token {x.farmer_token}",
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
        out.append(f"  {i:2d}. {s.label:<24}{amount}  {s.detail}")
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
                   f"{o.get('reason')} ({o.get('operator')}, dated {o.get('as_of')}: the computed limit "
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
        stood = "" if "standing_limit" not in o else (
            " (a re-underwriting that re-estimated nothing; the line stood on "
            # refer_keeps_book_limit (2026.12.8 on): on a REFER or DECLINE, which granted nothing: its Book limit
            + (f"its Book limit {_m(o.get('standing_limit'), cur)} (record {o.get('standing_record_id')}, a "
               f"{o.get('standing_outcome')}, granted none)" if o.get("standing_compared_with") == "book"
               else f"{o.get('standing_outcome')} {_m(o.get('standing_limit'), cur)}, record "
               f"{o.get('standing_record_id')}" if o.get("standing_record_id")
               else f"its Book limit {_m(o.get('standing_limit'), cur)}")
            + ", the change measured from it)")
        out += ["", f"Override of {o.get('original_record_id')}{stood}: {o.get('original_outcome')} "
                    f"{_m(o.get('original_limit'), cur)} -> {o.get('outcome')} {_m(o.get('limit'), cur)} by "
                    f"{o.get('operator')}" + (f", approved by {o['approver']}" if o.get("approver") else "")
                + f": {o.get('reason')}"]
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
    return "\n".join(out)


def _balance_date(block: dict[str, Any]) -> str:
    """`` (balances as of D)`` for a Book line block whose Book dated its balances (``balance_as_of``), else ''."""
    when = block.get("balance_as_of")
    return f" (balances as of {when})" if when else ""
