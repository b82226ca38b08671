"""The early-warning rules' thresholds (:class:`AlertParams`; the rules are in :mod:`pipelines.monitor`'s docstring)
and those a crop-type model version carries (:func:`alert_params_of`, :func:`params_from_meta`), over the rules as a
version saved before a rule changed ran them (:data:`SAVED_BEFORE`). Re-exported by :mod:`pipelines.monitor`."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as fields_of
from typing import Any

__all__ = ["AlertParams", "alert_params_of", "params_from_meta", "SAVED_BEFORE"]


@dataclass(frozen=True)
class AlertParams:
    """Thresholds of the alert rules (see the module docstring)."""

    min_clear_share: float = 0.8
    half_window: int = 8
    green: float = 0.45
    bare: float = 0.3
    emerged: float = 0.3
    grace_days: int = 25
    mismatch_prob: float = 0.20
    min_band_fields: int = 5
    collapse_k: float = 3.0
    duration_k: float = 3.0
    early_k: float = 0.5
    peer_k: int = 10
    peer_same_crop: bool = False
    peer_both: bool = True
    timing_needs_peers: bool = True
    peer_drop: float = 0.15
    peer_drop_next: float = 0.25
    peer_green: float = 0.4
    peer_greenup_rel: float = 0.8
    peer_drop_rate: float = 0.0
    peer_drop_single: float = 0.4
    #: the field's own earlier maximum a two-observation peer candidate needs (it came up as a crop; ``emerged``):
    #: adopted 2026-12-04, fourth (/work/data/L46/RULE13n.md), was ``green`` (0.45) — see :data:`SAVED_BEFORE`
    peer_own_green: float = 0.30
    #: a one-observation candidate this late (× the crop's usual green-up-to-collapse duration) waits for its next
    #: observation: adopted 2026-12-04, fifth (/work/data/L47/RULE13w.md), was 0.8 — see :data:`SAVED_BEFORE`
    peer_single_greenup_rel: float = 0.75
    peer_single_wait_days: int = 10
    #: a field seen bare only after a cloud gap of this many days is judged against its crop cohort
    #: (:func:`pipelines._monitor_peers.gap_candidates`; 0: off): adopted 2026-12-04, sixth
    #: (/work/data/L48/RULE13g.md), was off — see :data:`SAVED_BEFORE`
    peer_gap_days: int = 20
    peer_gap_drop: float = 0.3
    peer_gap_drop_next: float = 0.25
    peer_gap_green: float = 0.5
    peer_gap_greenup_rel: float = 0.7
    peer_gap_below_peers: float = 0.1
    #: a field's own history on a peer candidate (its maximum since first seen bare, green-up day, previous
    #: observation) from all its clear observations (:func:`pipelines._monitor_peers.candidate_features` ``obs``);
    #: default False: from its rows of the peer table, which lack its first clear observation and any early one with
    #: too few fields clear to be peers. Tried 2026-12-04, seventh (/work/data/L49/RULE13f.md), not adopted: it
    #: catches failures of fields seen bare only before a cloud gap (sh-dev-19 +4, sh-demo +3) but exposes late
    #: harvests to the peer and timing rules too (one wrong CROP_FAILURE each on sh-demo and ne-demo)
    peer_first_obs: bool = False
    #: a crop that came up only partly (own maximum below this) and fell back to bare soil while its crop cohort stays
    #: green (:func:`pipelines._monitor_peers.stall_candidates`; 0: off, the default). Tried 2026-12-04, eighth
    #: (/work/data/L50/RULE13s.md) with 0.5, not adopted: it catches cotton lost young on every smallholder design
    #: county (sh-demo recall 0.714 -> 0.746) but on sh-dev-23 a partly planted maize field declared cotton, cut at
    #: maize's harvest, is raised, and the records' tuning then picks an earlier timing limit (precision 0.984 -> 0.975)
    peer_stall_max: float = 0.0
    peer_stall_fall: float = 0.08
    peer_stall_green: float = 0.55
    peer_stall_drop: float = 0.3
    peer_stall_greenup_rel: float = 0.7
    peer_stall_below_peers: float = 0.1
    np_rise: float = 0.05
    np_other_gap: int = 60
    #: NOT_PLANTED needs the field *seen* below ``emerged`` on or after its expected emergence day (a field unseen
    #: since before it, under a cloud gap, waits for a clear observation): adopted 2026-12-04, sixth
    #: (/work/data/L48/RULE13p2.md; failed in the fifth under the old scoring), was False — see :data:`SAVED_BEFORE`
    np_seen: bool = True
    #: for NOT_PLANTED, the observations at or above ``emerged`` before the field's last one below it that precedes
    #: the crop's expected emergence day do not count as the crop come up (:func:`came_up_date`): a canopy cleared
    #: before the crop was due is the previous crop's — last summer's soybean in the September of a wheat window.
    #: Adopted 2026-12-05 (/work/data/L51/RULE13np2.md), was False (every one counted) — see :data:`SAVED_BEFORE`
    np_cleared_canopy: bool = True
    #: an option tried first, not adopted (/work/data/L51/RULE13np.md): for NOT_PLANTED, a clear observation at or
    #: above ``emerged`` is the crop come up only when dated on or after the crop's expected emergence day or at least
    #: this far above the lowest earlier one (:func:`came_up_date`) — it also discounts a crop other than the declared
    #: one, green from the window's opening into the declared crop's emergence (two wrong on ne-dev); 0 (the default):
    #: off
    np_came_up_rise: float = 0.0
    mismatch_cohort_days: int = 120
    mismatch_cohort_k: int = 3
    mismatch_cohort_ratio: float = 1.0
    mismatch_season_prob: float = 0.5
    mismatch_season_ratio: float = 3.0
    timing_unit: str = "days"

    def __post_init__(self) -> None:
        # the cohort ratio is the field's distance to the fields declared as its crop over that to the fields declared
        # as the model's crop: at most mismatch_cohort_ratio the season vouches for the declaration (a veto), at least
        # mismatch_season_ratio it disputes it (an alert). A ratio both vouching and disputing is contradictory: below
        # the policy's probability it would be vetoed and raised at once (the season branch wins, so the veto is dead
        # between the two); mismatch_season_ratio 0 turns the season branch off
        if self.mismatch_season_ratio > 0 and self.mismatch_cohort_ratio >= self.mismatch_season_ratio:
            raise ValueError(f"alert thresholds: mismatch_cohort_ratio ({self.mismatch_cohort_ratio:g}, the season "
                             f"vouching for a declaration at most that) must be below mismatch_season_ratio "
                             f"({self.mismatch_season_ratio:g}, the season disputing it at least that), or "
                             "mismatch_season_ratio 0 (off)")


def alert_params_of(crop_model: Any, region: str | None) -> AlertParams | None:
    """The early-warning thresholds a crop-type model version carries for ``region`` (tuned on its training
    seasons' diaries, :mod:`pipelines._alert_fit`), over the rules' defaults; None when it carries none (a model
    saved before they travelled with it, one trained from tables, no model)."""
    tuned = (getattr(crop_model, "alert_params_", None) or {}).get(str(region)) if region is not None else None
    if not tuned:
        return None
    return params_from_meta(tuned, f"the crop-type model's alert_params of region {region}")


#: rules a model version's saved thresholds (``meta.json`` ``alert_params``) ran with before the rule changed, for a
#: version saved before it (its thresholds lack the key): its monitoring and re-underwriting stay as they were
#: (their records replay); a version saved since names the value (:func:`pipelines._alert_fit.tuned_alert_params`
#: saves these keys beside the tuned thresholds)
SAVED_BEFORE: dict[str, Any] = {"peer_own_green": 0.45, "peer_single_greenup_rel": 0.8, "peer_gap_days": 0,
                               "np_seen": False, "np_cleared_canopy": False}


def params_from_meta(tuned: dict[str, Any], where: str) -> AlertParams:
    """:class:`AlertParams` of saved thresholds (``meta.json`` ``alert_params`` of one region; keys it does not know
    left out) over the rules' defaults — a rule the thresholds do not name that changed since such versions were
    saved as they ran it (:data:`SAVED_BEFORE`); a contradictory combination is a one-line user error naming
    ``where``."""
    from features.errors import UserInputError

    known = {f.name for f in fields_of(AlertParams)}
    try:
        return AlertParams(**{**SAVED_BEFORE, **{k: v for k, v in tuned.items() if k in known}})
    except ValueError as e:
        raise UserInputError(f"{where}: {e}") from None
