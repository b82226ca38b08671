"""Analyst overrides: a new record that supersedes an application's latest decision.

The new record's body is the original body plus an ``override`` section (original and
new limit and outcome, the reason, the operator and the approver) with ``limit`` and
``outcome`` replaced. A change of more than the policy's ``override_approval_share`` of the original limit
(read from the original record's policy parameters, so the policy the decision was made under governs its
override; 20% for records of policies that do not set it, CREDIT_POLICY.md's) needs a second approver who is
not the operator. An override of a re-underwriting that re-estimated nothing is measured from the decision its
line stands on (``kept_lines_stand``), or its Book limit when that is a REFER or DECLINE (``refer_keeps_book_limit``:
``override.standing_compared_with`` "book"). The limit is given in major units
of the record's currency and converted exactly (``models.money.to_minor``).

Records are permanent, so personal data is refused BEFORE anything is written: a reason
holding a phone or ID number, an e-mail address or (given the applications table) a
farmer's name, national ID or phone, and an operator or approver that is a farmer's
identifier, are user errors naming the kind of data found, never the text
(``underwriting._pii_text``); so are a reason, operator or approver holding line breaks, tabs, terminal escapes or
other control or format characters, or longer than 500 (reason) or 100 characters (``underwriting._free_text``).
Messages echo the application id only when it looks like one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from features.errors import UserInputError
from features.identity import same_person
from models.money import format_minor, to_minor
from underwriting._free_text import PERSON_MAX_CHARS, REASON_MAX_CHARS, plain_text_problem
from underwriting._pii_text import PHONE_OR_ID, KnownIdentifiers, personal_data_kind, shown_argument
from underwriting.records import DecisionItem, canonical_json, sha256_hex
from underwriting.standing import (
    kept_body,
    kept_lines_stand,
    line_block,
    skips_to_book,
    standing_of,
    stands_behind,
)
from underwriting.store import DecisionRecord, DecisionStore, record_id_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["override", "record_override", "OverrideResult", "OverrideError", "OverridePersonalDataError",
           "LEGACY_APPROVAL_SHARE", "approval_share", "override_outcome"]

#: largest share of the original limit an analyst may change without a second approver, for records whose
#: policy does not set ``override_approval_share`` (CREDIT_POLICY.md: "more than 20% needs a second approver")
LEGACY_APPROVAL_SHARE = Decimal("0.20")


def approval_share(body: dict[str, Any]) -> Decimal:
    """The share of the limit an override of this record may change without a second approver: the record's
    policy parameter ``override_approval_share``, else :data:`LEGACY_APPROVAL_SHARE`."""
    pol = body.get("policy")
    params = pol.get("parameters") if isinstance(pol, dict) else None
    value = params.get("override_approval_share") if isinstance(params, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return LEGACY_APPROVAL_SHARE


class OverrideError(UserInputError):
    """An override cannot be written."""

    def __init__(self, *, application_id: str, problem: str, personal: bool = False, known: bool = False,
                 count: int | None = None, shapes: frozenset[str] | None = None) -> None:
        from underwriting._pii_text import echoed_reference, unknown_reference_hint

        self.application_id = application_id
        self.problem = problem
        # echoed only once the records are known to hold it (``known``) — never an argument matching no record,
        # whatever its shape (a bank's ids may be any word; a surname typed there is not repeated), nor a farmer's
        # own identifier (``personal``, by its token); ``count``/``shapes``: the records' application ids, for the
        # "no stored decision" message
        shown = shown_argument(application_id, "") if echoed_reference(application_id, known=known,
                                                                       personal=personal) else ""
        if shown:
            super().__init__(f"override of application {shown}: {problem}")
        elif count is not None:
            hint = unknown_reference_hint("an application id", "application ids", count, shapes, "`agcredit decisions export --out FILE` "
                                          "(column application_id)") if not known else \
                "it is not repeated here: it is a farmer's identifier, not an application id"
            super().__init__(f"override of the application given: {problem} ({hint})")
        else:
            super().__init__(f"override of the application given: {problem}")


class OverridePersonalDataError(OverrideError):
    """A text for the permanent record holds personal data; names its kind (``kind``), never the text."""

    def __init__(self, *, application_id: str, item: str, kind: str, known: bool = False) -> None:
        self.item = item
        self.kind = kind
        if item == "reason":
            advice = "describe the reason without it"
            if kind == PHONE_OR_ID:
                advice += " (write amounts with thousands separators and dates as YYYY-MM-DD)"
        else:
            advice = f"give the analyst's own name or id as the {item}"
        super().__init__(application_id=application_id, known=known,
                         problem=f"the {item} contains {kind}; decision records are permanent and must not hold "
                                 f"personal data — {advice}")


#: columns of the applications table screened for: names, and numbers compared by their digits
_NAME_COLUMNS = ("farmer_name",)
_NUMBER_COLUMNS = ("national_id", "farmer_id", "phone")


#: what may follow an identifier column's name in a variant of it (``phone_no``, ``farmer_names``)
_VARIANT_SUFFIXES = ("s", "no", "nr", "num", "number")


def _typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) between ``a`` and ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _refuse_misspelt_identifiers(table: pd.DataFrame, source: str, app_id: str) -> None:
    """A column named like an identifier column but not exactly (``farmer_nmae``, ``Farmer Name``, ``phone_no``)
    would be left unscreened, and a reason naming the farmer written into the permanent record: refused, naming
    the column (names only, never its values). Spelling, case and separators aside, a misspelling is one typo
    (``farmer_nmae``) or the name with a variant ending (``phone_no``); another word (``farm_id``, ``farmer_age``,
    ``farm_name``) is another column."""
    from underwriting.contracts import APPLICATIONS

    def key(name: object) -> str:
        return "".join(ch for ch in str(name).casefold() if ch.isalnum())

    wanted = {key(c): c for c in (*_NAME_COLUMNS, *_NUMBER_COLUMNS)}
    known = {*_NAME_COLUMNS, *_NUMBER_COLUMNS, "farmer_token", *(c.name for c in APPLICATIONS.columns)}
    for col in table.columns:
        if col in known:
            continue
        k = key(col)
        for w, target in wanted.items():
            misspelt = _typo_distance(k, w) <= (1 if len(w) >= 5 else 0) or any(k == w + s for s in _VARIANT_SUFFIXES)
            if misspelt and target not in table.columns:
                raise OverrideError(application_id=app_id, problem=f"{source}: column '{col}' looks like "
                                    f"{target} misspelt: name it {target} so that the reason is screened against it")


def _known_identifiers(applications: str | Path | pd.DataFrame, app_id: str) -> KnownIdentifiers:
    """The identifiers of ``app_id``'s farmer and of the other farmers in the applications table (raw, as
    ``underwrite`` reads it before tokenising)."""
    import pandas as pd

    from underwriting.applications import read_table

    table = applications if isinstance(applications, pd.DataFrame) else read_table(applications)
    source = "the applications table" if isinstance(applications, pd.DataFrame) else Path(applications).name
    _refuse_misspelt_identifiers(table, source, app_id)
    names = [c for c in _NAME_COLUMNS if c in table.columns]
    numbers = [c for c in _NUMBER_COLUMNS if c in table.columns]
    if "application_id" not in table.columns or not (names or numbers):
        raise OverrideError(application_id=app_id, problem=f"{source}: expected the columns application_id and "
                            f"farmer_name, national_id or phone to screen the override against, found none of "
                            f"{'them' if 'application_id' not in table.columns else 'the identifiers'}")
    mine = table["application_id"].astype(str).str.strip() == app_id
    if not mine.any():
        raise OverrideError(application_id=app_id, problem=f"{source}: no row for this application")

    def values(rows: pd.DataFrame, cols: list[str]) -> list[object]:
        return [v for c in cols for v in rows[c].tolist()]

    own, others = table[mine], table[~mine]
    return KnownIdentifiers.build(names=values(own, names), numbers=values(own, numbers),
                                  other_names=values(others, names), other_numbers=values(others, numbers))


def _screen(app_id: str, reason: str, operator: str, approver: str | None,
            known: KnownIdentifiers | None, found: bool = False) -> None:
    """Refuse personal data in the texts the record keeps (the reason: any phone/ID number or e-mail too)."""
    for item, text, generic in (("reason", reason, True), ("operator", operator, True),
                                ("approver", approver, True)):
        if text is None:
            continue
        kind = personal_data_kind(text, known, generic=generic)
        if kind is not None:
            raise OverridePersonalDataError(application_id=app_id, item=item, kind=kind, known=found)


def _as_day(value: str | date, fail: Any) -> date:
    """The override's date: ``YYYY-MM-DD`` (a date or datetime as its day); anything else is refused — the store
    orders records by their date text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise fail(f"--as-of {text!r}: expected an ISO date YYYY-MM-DD")


def _change_share(old: int, new: int) -> Decimal:
    """|new − old| as a share of ``old`` (a change from zero: 1, no change: 0)."""
    change = abs(new - old)
    return (Decimal(change) / Decimal(old)) if old else (Decimal(1) if change else Decimal(0))


def _book_line(record: DecisionRecord, skipped: Any = None) -> SimpleNamespace:
    """A kept record's line as the Book holds it (its store never decided it; or ``skipped``, the REFER or DECLINE it
    stood on, granted nothing: :func:`_on_book`): the limit its body names."""
    return SimpleNamespace(limit=int((record.body.get("reunderwrite") or {}).get("book_limit") or 0), record_id=None,
                           kind="book", outcome=None, skipped=skipped)


def _on_book(kept: DecisionRecord, standing: Any) -> bool:
    """Whether the line of ``kept`` (a re-underwriting that re-estimated nothing), standing on ``standing``, stands
    on its Book limit instead (policy ``refer_keeps_book_limit``, 2026.12.8 on, ``kept``'s policy, as a
    re-underwriting measures it): a Book line (not ``D-…``) whose standing decision is a REFER or DECLINE, which
    granted nothing, and not an analyst's override (a decision in force)."""
    return standing is not None and skips_to_book(kept.body, (kept.body.get("reunderwrite") or {}).get("line_id"),
                                                  standing.outcome, getattr(standing, "kind", ""))


def _stood_on(record: DecisionRecord, standing: Any, get: Any) -> Any:
    """What the line of ``record`` stands on when its decision in force is ``standing`` (``record`` itself, or for a
    kept record the decision its line stands on): ``standing``; or, a REFER or DECLINE that granted nothing (policy
    ``refer_keeps_book_limit``, ``record``'s: :func:`underwriting.standing.stands_behind`), the analyst's override
    behind it, else its Book line (:func:`_book_line`, ``skipped`` that REFER or DECLINE)."""
    if standing is None:
        return _book_line(record)
    stood = stands_behind(record.body, (record.body.get("reunderwrite") or {}).get("line_id"), standing, get)
    return stood if stood is not None else _book_line(record, skipped=standing)


def _unapproved_override(stood: Any) -> bool:
    """Whether ``stood`` (what :func:`_stood_on` gave) is an analyst's override written without an approver: not a
    base for the next unapproved change (small unapproved steps never add up, behind a REFER too)."""
    return isinstance(stood, DecisionRecord) and stood.kind == "override" and not (
        stood.body.get("override") or {}).get("approver")


def _approved_base(store: DecisionStore, record: DecisionRecord) -> Any:
    """The record an unapproved override's change is measured from: going back from ``record`` over the overrides
    written without an approver, the first record that is not one (a decision, a re-underwriting, or an approved
    override) — past a re-underwriting that re-estimated nothing under ``kept_lines_stand``, the decision its line
    stands on (its Book line when none: :func:`_book_line`; also, under ``refer_keeps_book_limit``, when that is a
    REFER or DECLINE: :func:`_on_book`)."""
    by_id = {r.record_id: r for r in store.history(record.application_id)}
    current = record
    while True:  # over unapproved overrides and kept records alike: small unapproved steps never add up
        if current.kind == "override" and not (current.body.get("override") or {}).get("approver"):
            prev = by_id.get(current.supersedes or "")
        elif kept_body(current.kind, current.body) and kept_lines_stand(current.body):
            prev = standing_of(current, by_id.get)
            if prev is None or _on_book(current, prev):  # the Book line; a REFER or DECLINE granted nothing (2026.12.8
                stood = _stood_on(current, prev, by_id.get)  # on): its Book limit, or the analyst's override behind it
                if not _unapproved_override(stood):
                    return stood
                prev = stood  # an unapproved override behind the REFER is walked over like any other
        elif _on_book(current, current):  # a new REFER or DECLINE re-underwriting of a Book line (2026.12.8 on)
            stood = _stood_on(current, current, by_id.get)
            if not _unapproved_override(stood):
                return stood
            prev = stood
        else:
            return current
        if prev is None:
            return current
        current = prev


def _requested(body: dict[str, Any]) -> int | None:
    for section in ("computation", "application"):
        value = body.get(section, {}).get("requested_amount") if isinstance(body.get(section), dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def override_outcome(new_limit: int, body: dict[str, Any]) -> str:
    """DECLINE at zero, APPROVE at or above the requested amount (when the body has it), else REDUCE."""
    if new_limit == 0:
        return "DECLINE"
    requested = _requested(body)
    return "APPROVE" if requested is not None and new_limit >= requested else "REDUCE"


@dataclass(frozen=True)
class OverrideResult:
    """What :func:`record_override` did: the override ``record``, and ``written``, whether this call wrote it — False
    when the same override (limit, reason, operator, approver, date) was already the application's current record,
    or was stored by another run meanwhile: nothing new was recorded."""

    record: DecisionRecord
    written: bool
    #: what the caller should tell the analyst, the record written all the same (an --as-of after the line matured)
    warnings: tuple[str, ...] = ()


def override(store: DecisionStore | str | None, application_id: str, limit: object, reason: str, operator: str,
             approver: str | None = None, as_of: str | date | None = None,
             applications: str | Path | pd.DataFrame | None = None) -> DecisionRecord:
    """Write an override of ``application_id``'s latest record (on or before ``as_of``); returns the new record.

    ``applications``: the applications table (CSV or Parquet, or the table itself) with its identifier
    columns (``farmer_name``, ``national_id``, ``phone``); when given, a reason naming a farmer of it, or an
    operator or approver that is one of their identifiers, is refused as well.

    The same override again writes nothing and returns the record an earlier call wrote; a caller that needs to
    know which happened calls :func:`record_override`.
    """
    return record_override(store, application_id, limit, reason, operator, approver, as_of, applications).record


def record_override(store: DecisionStore | str | None, application_id: str, limit: object, reason: str,
                    operator: str, approver: str | None = None, as_of: str | date | None = None,
                    applications: str | Path | pd.DataFrame | None = None) -> OverrideResult:
    """:func:`override`, saying whether it wrote the record (:class:`OverrideResult`)."""
    if isinstance(store, DecisionStore):
        return _override(store, application_id, limit, reason, operator, approver, as_of, applications)
    with DecisionStore(store, create=False, writer=True) as opened:
        return _override(opened, application_id, limit, reason, operator, approver, as_of, applications)


def _override(store: DecisionStore, application_id: str, limit: object, reason: str, operator: str,
              approver: str | None, as_of: str | date | None,
              applications: str | Path | pd.DataFrame | None = None) -> OverrideResult:
    app_id = str(application_id).strip()
    reason = str(reason or "").strip()
    operator = str(operator or "").strip()
    approver = str(approver).strip() if approver is not None and str(approver).strip() else None

    # whether the records hold app_id as an application's id (an argument matching none is never echoed; one they
    # hold is named even when the reason or operator is what is refused)
    found = bool(app_id) and store.latest(app_id) is not None

    def fail(problem: str) -> OverrideError:
        return OverrideError(application_id=app_id, problem=problem, known=found)

    if not reason:
        raise fail("the reason must not be empty")
    if not operator:
        raise fail("an operator is required")
    known = _known_identifiers(applications, app_id) if applications is not None else None
    _screen(app_id, reason, operator, approver, known, found)
    if approver is not None and same_person(approver, operator):
        raise fail(f"the approver must be a second person, not the operator {operator!r}")
    for option, text, most in (("--reason", reason, REASON_MAX_CHARS), ("--operator", operator, PERSON_MAX_CHARS),
                               ("--approver", approver, PERSON_MAX_CHARS)):
        problem = plain_text_problem(option, text, most) if text is not None else None
        if problem:  # a line break or escape would print lines of its own in explain (a forged "Override:")
            raise fail(problem)
    if as_of is not None:
        day_given = _as_day(as_of, fail)
        if day_given > date.today():
            raise fail(f"--as-of {day_given} is after today ({date.today()}): an override is dated when it is made")
        as_of = day_given.isoformat()
    original = store.latest(app_id, as_of=as_of)
    if original is None:
        when = f" on or before {as_of}" if as_of is not None else ""
        from features.identity import names_a_farmer

        count, shapes = store.application_summary()
        raise OverrideError(application_id=app_id, problem=f"no stored decision{when} in {store.shown_url}",
                            personal=names_a_farmer(app_id, store.has_farmer),
                            known=store.latest(app_id) is not None, count=count, shapes=shapes)
    found = True  # from here on the records hold the id: the messages may name it
    head = store.latest(app_id)
    if head is not None and head.record_id != original.record_id:
        # overriding an earlier record would fork the chain (two records superseding it, the current one unseen)
        raise fail(f"the current record ({head.record_id}) is as of {head.as_of}, after {as_of}: an override "
                   f"replaces the current record; drop --as-of or give {head.as_of} or later")
    new_limit = to_minor(limit, original.currency, where="override limit")
    if new_limit < 0:
        raise fail(f"the limit must not be negative, found {format_minor(new_limit, original.currency)}")
    raw_comp = original.body.get("computation")
    comp: dict[str, Any] = raw_comp if isinstance(raw_comp, dict) else {}
    for what, bound in (("the amount requested", _requested(original.body)), ("the product cap", comp.get("product_cap"))):
        if isinstance(bound, int) and not isinstance(bound, bool) and new_limit > bound:
            raise fail(f"the limit {format_minor(new_limit, original.currency)} is above {what} "
                       f"({format_minor(bound, original.currency)}): an override cannot grant more")
    floor = comp.get("min_line")
    if isinstance(floor, int) and not isinstance(floor, bool) and 0 < new_limit < floor:
        # the policy's own rule (CREDIT_POLICY.md step 8): a line below the minimum is a DECLINE, not a small REDUCE
        raise fail(f"the limit {format_minor(new_limit, original.currency)} is below the policy's minimum line "
                   f"({format_minor(floor, original.currency)}): give at least that, or 0 to decline")
    day = original.as_of if as_of is None else (as_of.isoformat() if isinstance(as_of, date) else str(as_of).strip())
    if original.kind == "override":  # the same override again (a re-run): nothing new to record, nothing to approve
        prev = original.body.get("override", {})
        if (prev.get("limit"), prev.get("reason"), prev.get("operator"), prev.get("approver"), prev.get("as_of")) == \
                (new_limit, reason, operator, approver, day):
            return OverrideResult(original, written=False)
    old = original.limit
    # a re-underwriting that re-estimated nothing (its REFER's 0 indicative; policy kept_lines_stand): the line stands
    # on the decision before it, or on its Book limit — the change is measured from that, not from the 0; under
    # refer_keeps_book_limit (2026.12.8 on) a Book line whose decision before it is a REFER or DECLINE (not an
    # override) on its Book limit too: those granted nothing
    # the same when the record itself is a re-underwriting that decided a REFER or DECLINE of a Book line: the line
    # stands on its Book limit (or an analyst's override behind it) until an analyst acts, not on the REFER's 0
    stands = kept_body(original.kind, original.body) and kept_lines_stand(original.body)
    base: Any = original
    if stands or _on_book(original, original):
        by_id = {r.record_id: r for r in store.history(original.application_id)}
        base = _stood_on(original, standing_of(original, by_id.get) if stands else original, by_id.get)
        stands = stands or base is not original
    share = _change_share(base.limit, new_limit)
    allowed = approval_share(original.body)
    if approver is None:
        # measured from the current limit, then from the last limit nobody changed alone (the policy's own decision
        # or an approved override), so a run of small unapproved overrides cannot add up to a large change
        for rec in (base, None):
            frm = rec or (_approved_base(store, base) if base.record_id is not None else base)
            moved = _change_share(frm.limit, new_limit)
            if moved > allowed:
                pct = f"{(moved * 100).quantize(Decimal('0.0001')).normalize():f}%" if frm.limit else "from a zero limit"
                skipped = getattr(frm, "skipped", None)
                since = "" if frm.record_id == original.record_id else \
                    (f" (the line's Book limit: the {skipped.outcome} it stood on, record {skipped.record_id}, granted "
                     "nothing)" if frm.record_id is None and skipped is not None else
                     " (the line's Book limit: its records re-estimated nothing)" if frm.record_id is None else
                     f" (the limit the line stands on, record {frm.record_id})" if rec is base else
                     f" (the last limit set without unapproved overrides, record {frm.record_id})")
                raise fail(f"changing the limit from {format_minor(frm.limit, original.currency)}{since} to "
                           f"{format_minor(new_limit, original.currency)} ({pct}) is more than "
                           f"{(allowed * 100).normalize():f}% (the record's policy) and needs --approver (a second "
                           "person)")
    body = copy.deepcopy(original.body)
    outcome = override_outcome(new_limit, body)
    body["override"] = {
        "original_record_id": original.record_id, "original_limit": old, "original_outcome": original.outcome,
        "limit": new_limit, "outcome": outcome, "change_share": str(share.quantize(Decimal("0.0001"))),
        "reason": reason, "operator": operator, "approver": approver, "as_of": day,
    }
    if stands:  # the change measured from the decision the line stood on (None: its Book line)
        skipped = getattr(base, "skipped", None)
        # a REFER or DECLINE that granted nothing (refer_keeps_book_limit): that record, measured from the Book limit
        stood = skipped if skipped is not None else base
        body["override"]["standing_record_id"] = stood.record_id
        body["override"]["standing_limit"] = int(base.limit)
        body["override"]["standing_outcome"] = getattr(stood, "outcome", None)
        if skipped is not None:
            body["override"]["standing_compared_with"] = "book"
    body["limit"], body["outcome"] = new_limit, outcome
    key = sha256_hex(canonical_json(["override", original.record_id, new_limit, reason, operator, approver, day]))
    item = DecisionItem(idempotency_key=key, application_id=original.application_id,
                        farmer_token=original.farmer_token, season=original.season, as_of=day, outcome=outcome,
                        limit=new_limit, currency=original.currency, reason_codes=original.reason_codes, body=body,
                        kind="override", supersedes=original.record_id)
    appended = store.append([item], operator=operator)
    record = store.get(record_id_for(key))
    if record is None:  # pragma: no cover - just written, or present from an identical earlier override
        raise fail("the override record was not found after writing it")
    late = _after_maturity(original.body, day)
    return OverrideResult(record, written=appended.written > 0, warnings=(late,) if late else ())


def _after_maturity(body: dict[str, Any], day: str) -> str | None:
    """A warning when the override's date ``day`` is after the maturity of the line of the record overridden
    (``body``): its Book line's (``line_maturity_date``), else the decision's own term (``computation.maturity_date``).
    The record is written — nothing in the policy forbids it — but a late date is the season's latest record date
    from then on, which ``decisions export`` and ``report portfolio`` judge the lines on by default: a late note
    dated 2012-06-30 on a line matured 2010-02-06 left the season's other lines matured at 0 in the next export."""
    comp = body.get("computation") if isinstance(body.get("computation"), dict) else {}
    book_due = str(line_block(body).get("line_maturity_date") or "")[:10]
    due = book_due or str((comp or {}).get("maturity_date") or "")[:10]
    if not due or day <= due:
        return None
    what = ("the line's maturity (" + due + ", its Book line's" if book_due else
            "the term of the decision overridden (" + due)  # a REFER or DECLINE granted no line to mature (a review)
    return (f"--as-of {day} is after {what}): the override is written, dated "
            f"{day}; `decisions export` and `report portfolio` judge the season's lines on its latest record date by "
            "default, so lines matured before it count at 0 there — give them --as-of D for an earlier date")
