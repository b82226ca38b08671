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

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import pandas as pd

from features.contracts import check_field_features
from features.errors import ContractError
from models.contracts import check_field_valuations
from models.errors import PriceError
from underwriting._waterfall import Legs, Terms, compute_limit, final_limit, waterfall
from underwriting.contracts import check_applications, check_book
from underwriting.errors import ApplicationsError
from underwriting.policy import Policy, Profile
from underwriting.records import DecisionItem, canonical_json, sha256_hex
from underwriting.rules import EVIDENCE_CODES, NO_CROP, FieldResult, evaluate_field, outcome, term_days

__all__ = ["BODY_SCHEMA", "PRICE_COLUMNS", "Headroom", "batch_pledges", "check_prices", "decide", "decide_batch",
           "failures_read", "pledge_holders", "prepare_batch", "prices_known_on", "with_failures_observed"]

BODY_SCHEMA = "agcredit.decision-body/1"
PRICE_COLUMNS = ("crop", "region", "season", "currency", "price_per_t", "moisture_basis_pct", "sigma_annual",
                 "support_price_per_t", "source", "price_date")
_SECRET_HINTS = ("secret", "password", "passwd", "credential", "api_key", "apikey", "access_token", "auth")


# --- plain Python values ---------------------------------------------------------------------------

def _py(v: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value; NA → None, timestamps → date."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.date() if not pd.isna(v) else None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _row(r: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    return {str(k): _py(v) for k, v in dict(r).items()}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _py(v) for k, v in r.items()} for r in df.to_dict("records")]


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    v = _py(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and math.isinf(v):
        return None
    return v


def _hash(obj: Any) -> str:
    return sha256_hex(canonical_json(_jsonable(obj)))


def _clean_provenance(p: Any) -> Any:
    """Provenance without anything that looks like a credential (never stored)."""
    if isinstance(p, Mapping):
        return {str(k): _clean_provenance(v) for k, v in p.items()
                if not any(h in str(k).lower() for h in _SECRET_HINTS)}
    if isinstance(p, list | tuple):
        return [_clean_provenance(x) for x in p]
    return _jsonable(p)


def _as_date(d: date | datetime | pd.Timestamp | str) -> date:
    if isinstance(d, str):
        return date.fromisoformat(d)
    if isinstance(d, pd.Timestamp | datetime):
        return d.date()
    return d


# --- prices ------------------------------------------------------------------------------------------

def check_prices(prices: pd.DataFrame, *, where: str = "price table") -> pd.DataFrame:
    """Check the price-table columns this module needs."""
    for c in PRICE_COLUMNS:
        if c not in prices.columns:
            raise ContractError(table=where, column=c, expected="column present", found="missing")
    for c in ("price_per_t", "support_price_per_t"):
        s = prices[c]
        if not (pd.api.types.is_integer_dtype(s) or s.isna().all()
                or (pd.api.types.is_float_dtype(s) and bool((s.dropna() % 1 == 0).all()))):
            raise ContractError(table=where, column=c, expected="integer minor units", found=str(s.dtype))
    return prices


def prices_known_on(prices: pd.DataFrame, season: str, day: date) -> tuple[pd.DataFrame, list[str]]:
    """The price table a lender deciding on ``day`` had for ``season``: each of the season's rows dated after ``day``
    (a season average published after the harvest) is replaced by the latest row of the same crop and region dated on
    or before ``day`` (another season's), relabelled to ``season`` with its source saying so; a row with no such
    earlier price is kept and named in the returned warnings (hindsight that cannot be avoided). Rows of other
    seasons are left as they are (the backtest's realised values price each season at its own table price).

    Decisions apply it under policy ``prices_known_at_decision`` (2026.12.9 on), the backtest always; applied twice
    it gives the same table."""
    out = prices.copy()
    dates = pd.to_datetime(out["price_date"].replace("", None), errors="coerce")
    day_ts = pd.Timestamp(day)
    rows = (out["season"].astype(str) == str(season)) & (dates > day_ts)
    warnings: list[str] = []
    for i in out.index[rows.to_numpy()]:
        crop, region = out.at[i, "crop"], out.at[i, "region"]
        same = (out["crop"] == crop) & (out["region"] == region) & (dates <= day_ts)
        if not same.any():
            warnings.append(f"the {crop} price of {region} {season} is dated {out.at[i, 'price_date']}, after the "
                            f"decision ({day}), and no earlier price is known: used as it is (hindsight)")
            continue
        j = dates[same].sort_values(kind="stable").index[-1]
        for col in ("price_per_t", "support_price_per_t", "sigma_annual", "moisture_basis_pct", "price_date",
                    "currency"):
            out.at[i, col] = prices.at[j, col]
        out.at[i, "source"] = (f"the latest price known on {day}: {crop} {region} season {prices.at[j, 'season']} "
                               f"({prices.at[j, 'source']})")
    return out, warnings


def _known_prices(prices: pd.DataFrame, season: str, day: date,
                  cache: dict[tuple[Any, ...], Any] | None) -> pd.DataFrame:
    """:func:`prices_known_on`'s table, once per (table, season, day) of a batch (the cache holds the table, so its
    ``id`` keys :func:`_price_row`'s cache for as long as the batch runs)."""
    if cache is None:
        return prices_known_on(prices, season, day)[0]
    key = ("known_on", id(prices), season, day)
    if key not in cache:
        cache[key] = prices_known_on(prices, season, day)[0]
    known: pd.DataFrame = cache[key]
    return known


def _price_row(prices: pd.DataFrame, crop: str | None, region: str | None, season: str,
               cache: dict[tuple[Any, ...], Any] | None = None) -> dict[str, Any] | None:
    if crop is None:
        return None
    if cache is not None:
        key = (id(prices), crop, region, season)
        if key not in cache:
            cache[key] = _price_row(prices, crop, region, season)
        return dict(cache[key]) if cache[key] is not None else None
    cand = prices[(prices["crop"] == crop) & (prices["season"].astype(str) == season)]
    exact = cand[cand["region"] == region] if region is not None else cand.iloc[0:0]
    if exact.empty:
        exact = cand[cand["region"].isna() | (cand["region"].astype(str) == "")]
    if exact.empty:
        return None
    row = _row(exact.sort_values("price_date", kind="stable").iloc[-1])
    row["price_per_t"] = int(row["price_per_t"])
    if row.get("support_price_per_t") is not None:
        row["support_price_per_t"] = int(row["support_price_per_t"])
    return row


# --- concentration headroom -------------------------------------------------------------------------

def _share_floor(total: int, share: float) -> int:
    """``floor(total × share)`` in exact decimal arithmetic (the share as written in the policy file)."""
    return int((Decimal(int(total)) * Decimal(str(share))).to_integral_value(rounding=ROUND_FLOOR))


@dataclass
class Headroom:
    """Concentration headroom from the Book at the start of a run, consumed in application order."""

    book_total: int
    applies: bool
    max_borrower: int
    max_crop_region: int
    borrower: dict[str, int] = field(default_factory=dict)
    crop_region: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_book(cls, book: pd.DataFrame, profile: Profile, *, as_of: date | None = None,
                  exclude_lines: Collection[str] = ()) -> Headroom:
        """Exposure = committed limits of the Book's lines in the profile's currency that have not matured before
        ``as_of`` (a repaid line is no exposure). The caps are shares of the whole Book; ``exclude_lines`` (the lines
        a re-underwriting re-decides) are left out of the exposure only — they are not exposure against their own
        re-decision, but they are still part of the Book the shares are taken of."""
        b = book[book["currency"] == profile.currency] if len(book) else book
        if as_of is not None and len(b) and "maturity_date" in b.columns:
            b = b[pd.to_datetime(b["maturity_date"]) >= pd.Timestamp(as_of)]
        total = int(b["limit"].sum()) if len(b) else 0
        if exclude_lines and len(b):
            b = b[~b["line_id"].astype(str).isin({str(x) for x in exclude_lines})]
        borrower = {str(k): int(v) for k, v in b.groupby("farmer_token")["limit"].sum().items()} if len(b) else {}
        crop_region = ({f"{c}|{r}": int(v) for (c, r), v in b.groupby(["crop", "region"])["limit"].sum().items()}
                       if len(b) else {})
        # floored exactly (Decimal): 0.29 x 50,000 is 14,500, not 14,499 as binary floating point gives
        return cls(book_total=total, applies=total >= profile.min_book_for_concentration,
                   max_borrower=_share_floor(total, profile.max_share_borrower),
                   max_crop_region=_share_floor(total, profile.max_share_crop_region),
                   borrower=borrower, crop_region=crop_region)

    def available(self, token: str, crop: str | None, region: str | None) -> int | None:
        """Headroom for this borrower and crop-region (None when the caps do not apply)."""
        if not self.applies:
            return None
        room = self.max_borrower - self.borrower.get(token, 0)
        if crop is not None:
            room = min(room, self.max_crop_region - self.crop_region.get(f"{crop}|{region}", 0))
        return max(0, room)

    def consume(self, token: str, crop: str | None, region: str | None, amount: int) -> None:
        self.borrower[token] = self.borrower.get(token, 0) + amount
        if crop is not None:
            key = f"{crop}|{region}"
            self.crop_region[key] = self.crop_region.get(key, 0) + amount

    def snapshot(self, token: str, crop: str | None, region: str | None) -> dict[str, Any]:
        return {"book_total": self.book_total, "applies": self.applies, "max_borrower": self.max_borrower,
                "max_crop_region": self.max_crop_region, "borrower_exposure": self.borrower.get(token, 0),
                "crop": crop, "region": region,
                "crop_region_exposure": self.crop_region.get(f"{crop}|{region}", 0) if crop is not None else None}


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
def _day_or_none(v: Any) -> date | None:
    """A date from a date, timestamp or ISO text; None for an empty cell."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or (isinstance(v, str) and not v.strip()):
        return None
    return pd.Timestamp(v).date()


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
