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

from datetime import date
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines._explain_contrib import ModelLoader, _contributions, _registry_loader, features_path
from pipelines._explain_render import TOP_CONTRIBUTIONS
from pipelines._explain_steps import Step, _steps
from pipelines._explain_types import Explanation, FieldExplanation
from underwriting.store import DecisionRecord, DecisionStore

# isort: split
# re-exported, unused here: importable from pipelines.explain as before its helpers moved to pipelines._explain_*
from collections.abc import Callable  # noqa: F401
from dataclasses import asdict, dataclass, field  # noqa: F401
from pathlib import Path  # noqa: F401

from models.money import format_minor  # noqa: F401
from pipelines._explain_contrib import _feature_value  # noqa: F401
from pipelines._explain_render import (  # noqa: F401
    _balance_date,
    _contribution_lines,
    _declared,
    _field_lines,
    _not_valued,
    _num,
    _render,
    _renewal_actions,
    _stands_text,
    _was,
    _yield_line,
)
from pipelines._explain_steps import _m, _term_basis  # noqa: F401
from underwriting.records import sha256_hex  # noqa: F401
from underwriting.rules import crop_disputed  # noqa: F401

__all__ = ["Explanation", "FieldExplanation", "Step", "ModelLoader", "explain", "explain_text", "features_path",
           "TOP_CONTRIBUTIONS"]


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
