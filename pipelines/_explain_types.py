"""What :func:`pipelines.explain.explain` returns (private to :mod:`pipelines.explain`): the :class:`Explanation`
of a stored record and its fields' :class:`FieldExplanation`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines._explain_render import _render
from pipelines._explain_steps import Step


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
