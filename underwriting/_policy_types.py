"""What a loaded policy is (private to :mod:`underwriting.policy`): :class:`Policy`, its lending products
(:class:`Profile`) and their per-field :class:`EvidenceThresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from underwriting.errors import PolicyError


@dataclass(frozen=True)
class EvidenceThresholds:
    """Per-field evidence checks (CREDIT_POLICY.md, Evidence checks)."""

    area_tolerance: float
    refer_failing_area_share: float
    max_overlap_fraction: float
    max_noncrop_fraction: float
    min_clear_obs: int
    min_crop_type_prob: float
    min_declared_crop_prob: float
    min_clear_pixels: int


@dataclass(frozen=True)
class Profile:
    """One lending product. Money fields are integer minor units of ``currency``."""

    name: str
    currency: str
    advance_rate: float
    min_dscr: float
    z_price_shock: float
    preseason_haircut: float
    annual_rate: float
    product_cap: int
    min_line: int
    rounding_step: int
    max_share_borrower: float
    max_share_crop_region: float
    min_book_for_concentration: int
    marketing_window_days: int
    max_term_days: int
    emergence_month_day: str
    emergence_year_offset: int
    high_yield_uncertainty: float
    evidence: EvidenceThresholds
    #: largest share of a decision's limit an analyst override may change without a second approver; None when
    #: the policy file does not set it (files written before it: CREDIT_POLICY.md's 20%, underwriting.override.LEGACY_APPROVAL_SHARE)
    override_approval_share: float | None = None
    #: declared crop → (month_day, year_offset) of its own emergence checkpoint (a crop whose calendar differs from
    #: the profile's, e.g. autumn-sown winter wheat); None when the policy file does not set it
    emergence_by_crop: Mapping[str, tuple[str, int]] | None = None
    #: refer a new line decided on or after its fields' expected harvest (HARVEST_PASSED: the crop it would be repaid
    #: from is already harvested); None when the policy file does not set it (files before 2026.12.3: not referred)
    refer_after_harvest: bool | None = None
    #: a requested term shorter than to the expected harvest + marketing window is lengthened to it (2026.12.4 on;
    #: CREDIT_POLICY.md step 9); None when the policy file does not set it (files before: lengthened to the harvest)
    term_to_harvest_window: bool | None = None
    #: a declared field whose imagery crop is another crop is CROP_TYPE_UNCERTAIN unless CROP_MISMATCH (2026.12.4 on;
    #: rules.evidence_codes); None when the policy file does not set it (files before: valued at the imagery's crop)
    disputed_crop_uncertain: bool | None = None
    #: re-underwriting (2026.12.4 on): a line the models cannot value at a checkpoint is kept with nothing proposed,
    #: a REFER for a risk freezes the undrawn line and goes to review without a shorter term (pipelines/reunderwrite.py);
    #: None when the policy file does not set it (files before: a REFER acted on as its indicative limit)
    keep_unvalued_lines: bool | None = None
    #: re-underwriting (2026.12.5 on): a line kept because the models could not value it keeps its standing decision
    #: — the next re-underwriting compares with the line's last re-estimated record (else its Book line), not with
    #: the kept REFER's indicative limit; None when the policy file does not set it (files before: compared with it)
    kept_lines_stand: bool | None = None
    #: re-underwriting (2026.12.5 on): a declared field the imagery reads as another crop is a dispute (a risk: the line
    #: frozen and reviewed) only when the imagery's crop reaches min_crop_type_prob; an unsure imagery crop is a field
    #: the models could not value (the line kept); None when the file does not set it (files before: any other crop)
    confident_disputes_only: bool | None = None
    #: re-underwriting (2026.12.6 on): a field with an open CROP_FAILURE alert is excluded from the valuation
    #: (CROP_FAILURE_OBSERVED) and a line with any open high-severity alert goes to review whatever its new limit
    #: covers; None when the file does not set it (files before: the yield model's value stood, a covered line had
    #: nothing proposed)
    open_alerts_act: bool | None = None
    #: the reason-code waterfall (2026.12.7 on): the excluded fields' steps (by exclusion code) come right after the
    #: expected value, measured on it, and price and yield stress (HIGH_YIELD_UNCERTAINTY judged on them), advance
    #: rate, liens and cash flow are charged on the fields valued; None when the file does not set it (files before:
    #: every evidence step last, the steps before it charged on the fields as claimed, excluded ones included)
    exclusions_before_stress: bool | None = None
    #: re-underwriting (2026.12.8 on): a Book line whose previous decision (after the standing walk) is a REFER or
    #: DECLINE, not an analyst's override, is compared with its Book limit — a REFER or DECLINE granted nothing, the
    #: line the bank funded is what is in force (a line kept on such a record stands on its Book limit in the report
    #: and for an override of the kept record); None when the file does not set it (files before: compared with the
    #: REFER's indicative or the DECLINE's 0)
    refer_keeps_book_limit: bool | None = None
    #: decisions (2026.12.9 on): each of the season's price-table rows dated after the decision date is replaced by the
    #: latest price of its crop and region known on that date (underwriting.decisions.prices_known_on; the market
    #: block names its date and source); None when the file does not set it (files before: the season's latest row,
    #: a season average published after the harvest priced a decision taken before it)
    prices_known_at_decision: bool | None = None
    #: new decisions (2026.12.10 on; with ``open_alerts_act``): a field with an open CROP_FAILURE alert in the decision
    #: store (the farmer's latest re-underwriting record of the season on or before the decision date) is excluded
    #: from the valuation (CROP_FAILURE_OBSERVED), as re-underwriting excludes it; None when the file does not set it
    #: (files before: a new decision valued the field the monitoring had seen fail)
    decisions_read_alerts: bool | None = None
    #: new decisions (2026.12.10 on): the decision of an application through which a re-underwriting follows the
    #: farmer's active Book line of the season (its renewal) proposes the actions a re-underwriting would
    #: (FREEZE_UNDRAWN, SHORTEN_TERM, REVIEW; pipelines.reunderwrite.propose_actions), recorded in the body's
    #: ``renewal``; None when the file does not set it (files before: nothing proposed until the next re-underwriting)
    renewals_propose_actions: bool | None = None
    #: (2026.12.10 on) a field the farmer declared no crop on and the imagery's crop model calls "no crop" (fallow)
    #: is as declared: it is not valued (NOT_PLANTED, nothing to value) but it is no failing area — it counts in
    #: neither side of the failing-area share — and its code is not listed among the decision's reasons (it took
    #: nothing off the limit); None when the file does not set it (files before: such a field counted as failing
    #: area, and NOT_PLANTED appeared as a principal reason with a reduction of 0)
    fallow_as_declared: bool | None = None

    def emergence_checkpoint(self, season: str, crop: str | None = None) -> date:
        """The date of season ``season`` by which ``crop`` (any crop: None) should have emerged: the crop's own
        checkpoint where the profile names one, else the profile's."""
        md, off = (self.emergence_by_crop or {}).get(crop or "", (self.emergence_month_day, self.emergence_year_offset))
        month, day = (int(p) for p in md.split("-"))
        return date(int(season) + off, month, day)

    def as_dict(self) -> dict[str, Any]:
        """The profile's parameters (money in minor units), for the decision body."""
        out = {k: v for k, v in self.__dict__.items() if k != "evidence"}
        for key in ("override_approval_share", "emergence_by_crop", "refer_after_harvest",
                    "term_to_harvest_window", "disputed_crop_uncertain",
                    "keep_unvalued_lines", "kept_lines_stand", "confident_disputes_only", "open_alerts_act",
                    "exclusions_before_stress", "refer_keeps_book_limit", "prices_known_at_decision",
                    "decisions_read_alerts", "renewals_propose_actions", "fallow_as_declared"):
            if out[key] is None:  # a file without it: its bodies stay as they were
                del out[key]
        if "emergence_by_crop" in out:
            out["emergence_by_crop"] = {c: {"month_day": md, "year_offset": off}
                                        for c, (md, off) in sorted(out["emergence_by_crop"].items())}
        out["evidence"] = dict(self.evidence.__dict__)
        return out


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file."""

    policy_id: str
    version: str
    content_hash: str
    profiles: Mapping[str, Profile]
    reason_texts: Mapping[str, str]
    source: str
    #: the file's free-text ``description`` (None: the file has none); part of the content hash like every key
    description: str | None = None

    def profile(self, name: str) -> Profile:
        """The named profile, or a PolicyError listing the known ones."""
        if name not in self.profiles:
            raise PolicyError(source=self.source, key=f"profiles.{name}",
                              problem=f"no such profile (known: {', '.join(sorted(self.profiles))})")
        return self.profiles[name]

    def text(self, code: str) -> str:
        """Plain-language text of a reason code."""
        return self.reason_texts[code]
