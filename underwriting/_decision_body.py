"""The decision body (private to :mod:`underwriting.decisions`): the reasons with their reductions, and the body and
DecisionItem built from one application's computation.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from underwriting._decision_prices import PRICE_COLUMNS
from underwriting._decision_values import _clean_provenance, _hash, _jsonable
from underwriting._waterfall import Legs, Terms
from underwriting.policy import Policy, Profile
from underwriting.records import DecisionItem, canonical_json, sha256_hex
from underwriting.rules import FieldResult

#: the schema this release's bodies name. /2 (since 2026-12-06, ninth) adds each field's ``model_yield_p90_t_ha``, the
#: yield model's own P90 beside its P10 and P50 (the decision reads only P10 and P50; the record keeps the interval)
BODY_SCHEMA = "agcredit.decision-body/2"
#: every schema a stored record may name, oldest first; :func:`as_schema` writes a body as each would have
BODY_SCHEMAS = ("agcredit.decision-body/1", BODY_SCHEMA)
#: the field keys each schema added after /1
_ADDED_FIELD_KEYS = {"agcredit.decision-body/2": ("model_yield_p90_t_ha",)}


def as_schema(body: dict[str, Any], schema: str) -> dict[str, Any]:
    """A body of this release's schema as a record of ``schema`` keeps it — what a replay compares with a record
    written under an earlier schema: the field keys added since dropped, the schema named; nothing else differs
    between the schemas (the inputs' hashes, the computation and the outcome are written alike). ``body`` itself is
    not changed. An unknown schema is a ValueError (a record of a later release, or not a decision body)."""
    if schema not in BODY_SCHEMAS:
        raise ValueError(f"unknown decision body schema {schema!r} (this release reads {', '.join(BODY_SCHEMAS)})")
    if body.get("schema") == schema:
        return body
    later = BODY_SCHEMAS[BODY_SCHEMAS.index(schema) + 1:]
    drop = {k for s in later for k in _ADDED_FIELD_KEYS.get(s, ())}
    out = dict(body)
    out["schema"] = schema
    if isinstance(body.get("fields"), list):
        out["fields"] = [{k: v for k, v in f.items() if k not in drop} if isinstance(f, dict) else f
                         for f in body["fields"]]
    return out


def _reasons(steps: list[tuple[str, int]], results: list[FieldResult], refer_codes: list[str],
             policy: Policy) -> list[dict[str, Any]]:
    """Codes with their reductions, largest first (waterfall order on ties); the first four are principal."""
    red: dict[str, int] = {}
    pos: dict[str, int] = {}
    for i, (code, amount) in enumerate(steps):
        red[code] = red.get(code, 0) + amount
        pos.setdefault(code, i)
    listed = {c for c, a in red.items() if a > 0}
    listed |= {r.codes[0] for r in results if r.codes}
    if any(r.area_not_verified for r in results):
        listed.add("AREA_NOT_VERIFIED")
    if any(r.included and r.basis == "preseason" for r in results):
        listed.add("PRESEASON_NO_IMAGERY")
    listed |= {c for c in refer_codes if c in policy.reason_texts}
    order = sorted(listed, key=lambda c: (-red.get(c, 0), pos.get(c, -1), c))
    return [{"code": c, "reduction": red.get(c, 0), "text": policy.text(c), "principal": i < 4}
            for i, c in enumerate(order)]


_APP_KEYS = ("application_id", "farmer_token", "season", "currency", "requested_amount", "requested_term_days",
             "existing_debt", "debt_due_this_cycle", "other_income", "living_costs", "unfinanced_costs",
             "prior_liens_on_crop", "contract_crop", "contract_price_per_t", "insurance_guarantee",
             "latest_maturity_date")


_FIELD_KEYS = ("field_id", "geometry_hash", "region", "declared_crop", "declared_area_ha", "field_area_ha",
               "planted_area_ha", "overlap_fraction", "noncrop_fraction", "n_clear_obs", "n_clear_pixels",
               "crop_type", "crop_type_prob", "declared_crop_prob", "crop_season_scale", "growth_stage",
               "emergence_date", "expected_harvest_date")


def _build(*, app: dict[str, Any], frows: list[dict[str, Any]], vmap: dict[str, dict[str, Any]],
           results: list[FieldResult], used_prices: dict[str, dict[str, Any]], policy: Policy, profile_name: str,
           profile: Profile, as_of: date, terms: Terms, lim: Any, claim: Legs, full: Legs, limit: int,
           result: str, reasons: list[dict[str, Any]], refer_codes: list[str], failing_share: float,
           harvest: date | None, concentration: dict[str, Any], provenance: Any,
           pledged: list[str] | None = None) -> DecisionItem:
    application = {k: app.get(k) for k in _APP_KEYS if k in app}
    fields = []
    for f, r in zip(frows, results, strict=True):
        v = vmap.get(r.field_id) or {}
        entry = {k: f.get(k) for k in _FIELD_KEYS}
        entry["validated_area_ha"] = entry.pop("planted_area_ha")
        entry.update({
            "basis": r.basis, "included": r.included, "exclusion_code": r.exclusion_code, "codes": list(r.codes),
            "area_claimed_ha": r.area_claim_ha, "area_used_ha": r.area_used_ha,
            "area_not_verified": r.area_not_verified, "crop_valued": r.crop,
            "yield_p50_t_ha": r.yield_p50_used, "yield_p10_t_ha": r.yield_p10_used,
            "model_yield_p50_t_ha": v.get("yield_p50_t_ha"), "model_yield_p10_t_ha": v.get("yield_p10_t_ha"),
            "model_yield_p90_t_ha": v.get("yield_p90_t_ha"),
            "price_per_t": r.price, "stressed_price_per_t": r.stressed_price,
            "contract_price": bool(r.extra.get("contract_price")),
            "expected_value": r.value_used[0], "stressed_value": r.value_used[2],
            "model_name": v.get("model_name"), "model_version": v.get("model_version"),
        })
        if profile.open_alerts_act and f.get("crop_failure_observed"):  # only then: other bodies stay as they were
            entry["crop_failure_observed"] = f["crop_failure_observed"]
        if r.basis == "preseason":  # what the pre-season rule valued the field on (CREDIT_POLICY.md step 2)
            hist = v.get("history_yield_t_ha") if v.get("history_yield_t_ha") is not None else \
                f.get("history_yield_t_ha")
            if hist is not None:  # only then: bodies valued on the model's expectation stay as they were
                entry.update({"preseason_yield_source": "history", "history_yield_t_ha": hist,
                              "history_seasons": f.get("history_seasons")})
        fields.append(entry)
    models = sorted({(str(v.get("model_name")), str(v.get("model_version")), str(v.get("run_id") or ""))
                     for v in vmap.values()})
    market = [{k: p.get(k) for k in PRICE_COLUMNS} for _, p in sorted(used_prices.items())]
    if app.get("contract_crop") is not None and app.get("contract_price_per_t") is not None:
        market.append({"crop": app["contract_crop"], "contract_price_per_t": app["contract_price_per_t"],
                       "source": "firm forward contract"})
    maturity = date.fromordinal(as_of.toordinal() + terms.term_days)
    computation = {
        "expected_value": full[0], "expected_value_claimed": claim[0], "value_at_stressed_price": full[1],
        "stressed_value": full[2], "stressed_value_claimed": claim[2], "collateral_limit": lim.collateral,
        "cash_flow_limit": lim.cash_flow, "product_cap": terms.product_cap, "concentration": concentration,
        "requested_amount": terms.requested, "binding_constraint": lim.binding, "limit_unrounded": lim.unrounded,
        "limit": limit, "rounding_step": terms.rounding_step, "min_line": terms.min_line,
        "term_days": terms.term_days, "expected_harvest_date": harvest, "maturity_date": maturity,
        "failing_area_share": round(failing_share, 6),
    }
    if pledged:  # only then: bodies of farmers with one application stay as they were
        computation["fields_pledged_to"] = list(pledged)
    input_hashes = {
        "application": _hash(application), "features": _hash(frows),
        "valuations": _hash([vmap[k] for k in sorted(vmap)]), "prices": _hash(market),
        "book": _hash(concentration), "provenance": _hash(_clean_provenance(provenance or {})),
        "policy_profile": profile_name,
    }
    if pledged:
        input_hashes["pledges"] = _hash(list(pledged))
    snapshot_hash = _hash(input_hashes)
    body = _jsonable({
        "schema": BODY_SCHEMA, "application": application, "as_of": as_of, "fields": fields,
        "provenance": _clean_provenance(provenance or {}),
        "models": [{"name": n, "version": ver, "run_id": rid or None} for n, ver, rid in models],
        "market": market,
        "policy": {"id": policy.policy_id, "version": policy.version, "content_hash": policy.content_hash,
                   "profile": profile_name, "parameters": profile.as_dict()},
        "computation": computation, "outcome": result, "limit": limit, "currency": profile.currency,
        "reasons": reasons, "refer_reasons": refer_codes,
        "input_hashes": {**input_hashes, "snapshot": snapshot_hash},
    })
    key = sha256_hex(canonical_json([application["application_id"], application["season"], as_of.isoformat(),
                                     snapshot_hash, [list(m) for m in models], policy.content_hash]))
    return DecisionItem(idempotency_key=key, application_id=str(application["application_id"]),
                        farmer_token=str(application["farmer_token"]), season=str(application["season"]),
                        as_of=as_of.isoformat(), outcome=result, limit=limit, currency=profile.currency,
                        reason_codes=tuple(r["code"] for r in reasons), body=body)
