"""Decisions: from (application, FieldFeatures, FieldValuations, prices, Book, policy, as-of) to a DecisionItem.

:func:`decide` underwrites one application; :func:`decide_batch` a table of them, in
``application_id`` order against the concentration headroom of the Book as it stands at
the start of the run (so the result does not depend on the input order). A field belongs
to an application when its ``farmer_token`` and ``season`` match.

The decision *body* holds only values derived from the inputs: no wall-clock time, money
in integer minor units, floats only as they came in (their ``repr`` is exact and stable).
``canonical_json(body)`` is byte-identical on every re-run with the same inputs.

The price table (``prices``) has the columns crop, region, season, currency, price_per_t
(int minor units), moisture_basis_pct, sigma_annual, support_price_per_t (int, may be NA),
source, price_date. Pre-season yields come from an optional ``history_yield_t_ha`` column
of the valuations (or features): the farmer's reported average for the field; without
it, the model's (regional) expectation — either with the pre-season haircut.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from features.contracts import check_field_features
from features.errors import ContractError
from models.contracts import check_field_valuations
from models.errors import PriceError
from underwriting._decision_body import BODY_SCHEMA, BODY_SCHEMAS, _build, _reasons, as_schema
from underwriting._decision_headroom import Headroom
from underwriting._decision_pledges import batch_pledges, failures_read, pledge_holders, with_failures_observed
from underwriting._decision_prices import PRICE_COLUMNS, _known_prices, _price_row, check_prices, prices_known_on
from underwriting._decision_values import _as_date, _day_or_none, _records, _row
from underwriting._waterfall import Legs, Terms, compute_limit, final_limit, waterfall
from underwriting.contracts import check_applications, check_book
from underwriting.errors import ApplicationsError
from underwriting.policy import Policy
from underwriting.records import DecisionItem
from underwriting.rules import EVIDENCE_CODES, NO_CROP, FieldResult, evaluate_field, outcome, term_days

# isort: split
# re-exported, unused here: importable from underwriting.decisions as before its helpers moved to underwriting._decision_*
from dataclasses import dataclass, field  # noqa: F401
from decimal import ROUND_FLOOR, Decimal  # noqa: F401

from underwriting._decision_body import _APP_KEYS, _FIELD_KEYS  # noqa: F401
from underwriting._decision_headroom import _share_floor  # noqa: F401
from underwriting._decision_values import _SECRET_HINTS, _clean_provenance, _hash, _jsonable, _py  # noqa: F401
from underwriting.policy import Profile  # noqa: F401
from underwriting.records import canonical_json, sha256_hex  # noqa: F401

__all__ = ["BODY_SCHEMA", "BODY_SCHEMAS", "PRICE_COLUMNS", "Headroom", "as_schema", "batch_pledges", "check_prices",
           "decide", "decide_batch", "failures_read", "pledge_holders", "prepare_batch", "prices_known_on",
           "with_failures_observed"]


# --- one application -------------------------------------------------------------------------------

def _sum_legs(results: list[FieldResult], used_groups: set[str | None]) -> Legs:
    e = eps = s = 0
    for r in results:
        v = r.value_used if _group(r) in used_groups else r.value_claim
        e, eps, s = e + v[0], eps + v[1], s + v[2]
    return e, eps, s


def _group(r: FieldResult) -> str | None:
    if r.codes:
        return r.codes[0]
    if r.area_not_verified:
        return "AREA_NOT_VERIFIED"
    return "PRESEASON_NO_IMAGERY" if r.basis == "preseason" else None


#: the waterfall's evidence views, in policy order: every exclusion code of the rules (a code missing here left its
#: fields in the limit at their claimed value — CROP_FAILURE_OBSERVED did, until a review caught it), then the
#: adjustments of included fields
_EVIDENCE_GROUP_ORDER = (*EVIDENCE_CODES, "AREA_NOT_VERIFIED", "PRESEASON_NO_IMAGERY")


def _underwrite(app: dict[str, Any], frows: list[dict[str, Any]], vrows: list[dict[str, Any]], prices: pd.DataFrame,
                policy: Policy, profile_name: str, as_of: date, headroom: Headroom,
                provenance: Any, price_cache: dict[tuple[Any, ...], Any] | None = None,
                pledged_to: Sequence[str] = ()) -> DecisionItem:
    """Underwrite one application from its FieldFeatures and FieldValuations rows (dicts of Python values).
    ``pledged_to``: the farmer's other applications of the season that already pledge the same fields
    (:func:`batch_pledges`): REFER with ``FIELDS_ALREADY_PLEDGED``."""
    profile = policy.profile(profile_name)
    aid, season, token = str(app["application_id"]), str(app["season"]), str(app["farmer_token"])
    if str(app["currency"]) != profile.currency:
        raise ApplicationsError(source=f"application {aid}",
                                problem=f"currency {app['currency']} does not match policy profile "
                                        f"{profile_name} ({profile.currency})")
    frows = sorted(frows, key=lambda r: str(r["field_id"]))
    if profile.decisions_read_alerts:  # 2026.12.10: a field without an open alert is read as in a run without any
        frows = [{k: v for k, v in f.items() if k != "crop_failure_observed" or v is not None} for f in frows]
    vmap = {str(r["field_id"]): r for r in vrows}
    for table, rows in (("FieldFeatures", frows), ("FieldValuations", list(vmap.values()))):
        late = [r["field_id"] for r in rows if r.get("as_of") is not None and r["as_of"] > as_of]
        if late:  # evidence from after the decision date would look into the future
            raise ContractError(table=table, column="as_of", expected=f"on or before the decision date {as_of}",
                                found="later dates", offenders=late)
    harvests = [f["expected_harvest_date"] for f in frows if f.get("expected_harvest_date") is not None]
    fallback = max(harvests) if harvests else None
    # price-stress horizon of a field without a harvest date: the latest known harvest, else the requested term
    horizon = fallback or date.fromordinal(as_of.toordinal() + min(int(app["requested_term_days"]),
                                                                   profile.max_term_days))
    contract_crop, contract_price = app.get("contract_crop"), app.get("contract_price_per_t")
    if profile.prices_known_at_decision:  # 2026.12.9: the prices a lender deciding on as_of had (no hindsight)
        prices = _known_prices(prices, season, as_of, price_cache)
    results: list[FieldResult] = []
    used_prices: dict[str, dict[str, Any]] = {}
    for f in frows:
        v = vmap.get(str(f["field_id"]))
        if v is not None and str(v["currency"]) != profile.currency:
            raise PriceError(problem=f"valuations in {v['currency']} for a {profile.currency} profile",
                             offenders=[f["field_id"]])
        crop = v.get("crop") if v is not None else None
        region = (v.get("region") if v is not None else None) or f.get("region")
        pr = _price_row(prices, crop, region, season, price_cache)
        if pr is not None and str(pr["currency"]) != profile.currency:
            raise PriceError(problem=f"price of {crop} in {region} {season} is in {pr['currency']}, "
                                     f"profile {profile_name} lends in {profile.currency}")
        cp = int(contract_price) if (contract_price is not None and crop == contract_crop) else None
        res = evaluate_field(f, v, pr, profile, as_of, contract_price=cp, harvest_fallback=horizon)
        if res.included and pr is None:
            raise PriceError(problem="no price for a valued field's crop", offenders=[f"{crop}/{region}/{season}"])
        if pr is not None:
            used_prices[f"{crop}|{region}"] = pr
        results.append(res)
    included = [r for r in results if r.included]
    harvest_used = [f["expected_harvest_date"] for f, r in zip(frows, results, strict=True)
                    if r.included and f.get("expected_harvest_date") is not None]
    harvest = max(harvest_used) if harvest_used else fallback
    term = term_days(as_of, harvest, int(app["requested_term_days"]), profile.marketing_window_days,
                     profile.max_term_days, to_window=bool(profile.term_to_harvest_window))
    latest = _day_or_none(app.get("latest_maturity_date"))
    if latest is not None:  # a re-underwriting re-decides a line: it never matures later than the line does
        term = min(term, max(0, (latest - as_of).days))  # 0: the line matures on the checkpoint's own day
    # concentration: the crop and region of the largest valued field
    main = max(included, key=lambda r: (r.value_used[0], r.field_id), default=None)
    main_crop = main_region = None
    if main is not None:
        main_crop = main.crop
        main_region = vmap[main.field_id].get("region") or next(f.get("region") for f in frows
                                                                if f["field_id"] == main.field_id)
    conc = headroom.available(token, main_crop, main_region)
    terms = Terms(requested=int(app["requested_amount"]), advance_rate=profile.advance_rate,
                  prior_liens=int(app["prior_liens_on_crop"]), other_income=int(app["other_income"]),
                  living_costs=int(app["living_costs"]), unfinanced_costs=int(app["unfinanced_costs"]),
                  debt_due=int(app["debt_due_this_cycle"]), min_dscr=profile.min_dscr,
                  annual_rate=profile.annual_rate, term_days=term, product_cap=profile.product_cap,
                  concentration=conc, rounding_step=profile.rounding_step, min_line=profile.min_line)
    # evidence views, one per group present, in policy order
    present = {_group(r) for r in results}
    groups = [g for g in _EVIDENCE_GROUP_ORDER if g in present]
    claim = _sum_legs(results, {None})
    views = [(g, _sum_legs(results, {None, *groups[: i + 1]})) for i, g in enumerate(groups)]
    full = views[-1][1] if views else claim
    lim = compute_limit(full, terms)
    # REFER rules
    def nominal(f: dict[str, Any]) -> float:
        return float(f.get("declared_area_ha") or f.get("field_area_ha") or 0.0)
    # fallow_as_declared (2026.12.10): a field declared with no crop that the imagery calls fallow is as declared —
    # in neither side of the share, and not among the reasons
    as_declared = {r.field_id for f, r in zip(frows, results, strict=True)
                   if profile.fallow_as_declared
                   and fallow_as_declared(f, r, profile.evidence.min_crop_type_prob)}
    counted = [(f, r) for f, r in zip(frows, results, strict=True) if r.field_id not in as_declared]
    if not counted:  # nothing planted on any field: still referred on the whole area, NOT_PLANTED a reason
        as_declared, counted = set(), list(zip(frows, results, strict=True))
    total_area = sum(nominal(f) for f, _ in counted)
    failing_area = sum(nominal(f) for f, r in counted if not r.included)
    failing_share = failing_area / total_area if total_area > 0 else 1.0
    refer_codes = []
    if not frows:
        refer_codes.append("NO_FIELDS_FOUND")
    if any("PARCEL_OVERLAP_CLAIM" in r.codes for r in results):
        refer_codes.append("PARCEL_OVERLAP_CLAIM")
    # "more than" a share: compared at 1e-9 (0.1 + 1.6 of 6.8 ha is 25% exactly, 0.25000000000000006 in floats)
    if frows and round(failing_share, 9) > profile.evidence.refer_failing_area_share:
        refer_codes.append("FAILING_AREA_SHARE")
    if harvest is not None and (harvest - as_of).days > profile.max_term_days:
        # the term is capped at max_term_days: the line would mature before the crop it is repaid from
        refer_codes.append("HARVEST_AFTER_MAX_TERM")
    if profile.refer_after_harvest and latest is None and harvest is not None and as_of >= harvest:
        # a new line decided once its fields' crop is harvested (policy 2026.12.3 on): a crop line against a crop
        # already cut — its term fell to what is left of the marketing window, down to the floor of 1 day (the
        # smallholder demo as of 2010-02-28 granted 21 lines maturing the next day). A re-underwriting (the line's
        # own maturity) is decided as before; policies without the parameter decide as they did.
        refer_codes.append("HARVEST_PASSED")
    pledged = sorted({str(a) for a in pledged_to if str(a) != aid})
    if pledged:  # the same fields valued for another application of the farmer this season: a double pledge
        refer_codes.append("FIELDS_ALREADY_PLEDGED")
    rounded = final_limit(lim.unrounded, terms)
    result = outcome(rounded, terms.requested, profile.min_line, refer=bool(refer_codes))
    limit = 0 if result == "DECLINE" else rounded
    # 2026.12.7 on (exclusions_before_stress): the excluded fields' groups come before the stress, which is charged
    # (and HIGH_YIELD_UNCERTAINTY judged) on the fields valued — before, an excluded field's value went to the stress
    # codes (HIGH_YIELD_UNCERTAINTY on fields never valued) and its exclusion took what was left, often nothing
    n_excl = sum(1 for g in groups if g in EVIDENCE_CODES) if profile.exclusions_before_stress else 0
    _, eps_y, s_y = views[n_excl - 1][1] if n_excl else claim
    uncertain = eps_y > 0 and (eps_y - s_y) / eps_y > profile.high_yield_uncertainty
    steps = waterfall(claim, views, terms, yield_code="HIGH_YIELD_UNCERTAINTY" if uncertain else "LOW_STRESSED_YIELD",
                      final=limit, declined=result == "DECLINE", exclusions_first=n_excl)
    reasons = _reasons(steps, [r for r in results if r.field_id not in as_declared], refer_codes, policy)
    snapshot = headroom.snapshot(token, main_crop, main_region)
    snapshot["headroom"] = conc
    if headroom.applies and result in ("APPROVE", "REDUCE"):
        headroom.consume(token, main_crop, main_region, limit)
    return _build(app=app, frows=frows, vmap=vmap, results=results, used_prices=used_prices, policy=policy,
                  profile_name=profile_name, profile=profile, as_of=as_of, terms=terms, lim=lim, claim=claim,
                  full=full, limit=limit, result=result, reasons=reasons, refer_codes=refer_codes,
                  failing_share=failing_share, harvest=harvest, concentration=snapshot, provenance=provenance,
                  pledged=pledged)


#: the codes of a field declared and seen fallow (:func:`fallow_as_declared`)
_FALLOW_CODES = frozenset({"NOT_PLANTED", "OUT_OF_MODEL_SCOPE"})


def fallow_as_declared(f: Mapping[str, Any], r: FieldResult, min_crop_type_prob: float) -> bool:
    """A field whose farmer declared no crop on it (the cell blank — "declared not planted" — or the no-crop class,
    ``fallow``), which the imagery's crop model confidently calls fallow (``crop_type_prob`` at least the policy's
    ``min_crop_type_prob``) and which is not valued only because nothing is planted (NOT_PLANTED its first code and
    no other but OUT_OF_MODEL_SCOPE — no yield model values a fallow field —: no parcel problem, no observed failure,
    no uncertainty): what the farmer said (policy ``fallow_as_declared``)."""
    declared = f.get("declared_crop")
    prob = f.get("crop_type_prob")
    return (not r.included and r.codes[:1] == ("NOT_PLANTED",) and set(r.codes) <= _FALLOW_CODES
            and (not declared or declared == NO_CROP)
            and f.get("crop_type") == NO_CROP and prob is not None and float(prob) >= min_crop_type_prob)


_REQUIRED_APP = ("application_id", "farmer_token", "season", "currency", "requested_amount", "requested_term_days",
                 "debt_due_this_cycle", "other_income", "living_costs", "unfinanced_costs", "prior_liens_on_crop")


def _fields_of(features: pd.DataFrame, valuations: pd.DataFrame, app: dict[str, Any]) -> tuple[pd.DataFrame,
                                                                                               pd.DataFrame]:
    season = str(app["season"])
    feats = features[(features["farmer_token"] == app["farmer_token"]) & (features["season"].astype(str) == season)]
    vals = valuations[valuations["field_id"].isin(feats["field_id"]) & (valuations["season"].astype(str) == season)]
    return feats, vals


def decide(application: Mapping[str, Any] | pd.Series, features: pd.DataFrame, valuations: pd.DataFrame,
           prices: pd.DataFrame, book: pd.DataFrame, policy: Policy, profile: str,
           as_of: date | datetime | pd.Timestamp | str, *, headroom: Headroom | None = None,
           provenance: Mapping[str, Any] | None = None, pledged_to: Sequence[str] = ()) -> DecisionItem:
    """Underwrite one application (its fields: same ``farmer_token`` and ``season``; ``pledged_to``: see
    :func:`batch_pledges`).

    ``headroom`` is the run's concentration headroom (built from ``book`` when None) and is
    consumed by an APPROVE or REDUCE. ``provenance`` (imagery source, collection, dates,
    cloud-mask rule) is copied into the body without any credential-like key.
    """
    app = _row(application)
    missing: list[object] = [k for k in _REQUIRED_APP if app.get(k) is None]
    if missing:
        raise ApplicationsError(source=f"application {app.get('application_id')}", problem="missing values",
                                offenders=missing)
    check_prices(prices)
    prof = policy.profile(profile)
    feats, vals = _fields_of(features, valuations, app)
    check_field_features(feats, where="FieldFeatures of the application")
    check_field_valuations(vals, where="FieldValuations of the application")
    room = headroom if headroom is not None else Headroom.from_book(book, prof, as_of=_as_date(as_of))
    return _underwrite(app, _records(feats), _records(vals), prices, policy, profile, _as_date(as_of), room,
                       provenance, pledged_to=pledged_to)


def prepare_batch(applications: pd.DataFrame, features: pd.DataFrame, valuations: pd.DataFrame,
                  prices: pd.DataFrame, book: pd.DataFrame, policy: Policy, profile: str,
                  as_of: date | datetime | pd.Timestamp | str, *,
                  exclude_lines: Collection[str] = ()) -> tuple[Headroom, date]:
    """Check a batch's inputs against their contracts; the Book's headroom at the start of the run and the day
    (``exclude_lines``: see :meth:`Headroom.from_book`)."""
    check_applications(applications)
    check_field_features(features)
    check_field_valuations(valuations)
    check_book(book)
    check_prices(prices)
    day = _as_date(as_of)
    return Headroom.from_book(book, policy.profile(profile), as_of=day, exclude_lines=exclude_lines), day


def decide_batch(applications: pd.DataFrame, features: pd.DataFrame, valuations: pd.DataFrame,
                 prices: pd.DataFrame, book: pd.DataFrame, policy: Policy, profile: str,
                 as_of: date | datetime | pd.Timestamp | str, *,
                 provenance: Mapping[str, Any] | None = None,
                 pledged: Mapping[tuple[str, str], Sequence[str]] | None = None,
                 exclude_lines: Collection[str] = (),
                 open_alerts: pd.DataFrame | None = None) -> list[DecisionItem]:
    """Underwrite every application in ``application_id`` order against the Book at the start of the run.

    ``pledged``: (farmer token, season) → the applications holding the farmer's fields of the season in the store
    (:func:`pledge_holders`); a second application of the fields is referred (:func:`batch_pledges`).
    ``exclude_lines``: Book lines not counted as exposure (re-underwriting's own lines; :meth:`Headroom.from_book`).
    ``open_alerts``: the decision store's open alerts (:func:`failures_read`; policies with ``decisions_read_alerts``)."""
    features = failures_read(features, open_alerts, policy.profile(profile))
    room, day = prepare_batch(applications, features, valuations, prices, book, policy, profile, as_of,
                              exclude_lines=exclude_lines)
    earlier = batch_pledges(applications, pledged)
    by_farmer: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in _records(features):
        by_farmer.setdefault((str(f["farmer_token"]), str(f["season"])), []).append(f)
    vals = {(str(v["field_id"]), str(v["season"])): v for v in _records(valuations)}
    cache: dict[tuple[Any, ...], Any] = {}
    out = []
    for app in _records(applications.sort_values("application_id", kind="stable")):
        frows = by_farmer.get((str(app["farmer_token"]), str(app["season"])), [])
        vrows = [vals[k] for k in ((str(f["field_id"]), str(app["season"])) for f in frows) if k in vals]
        out.append(_underwrite(app, frows, vrows, prices, policy, profile, day, room, provenance, cache,
                               pledged_to=earlier.get(str(app["application_id"]), ())))
    return out


