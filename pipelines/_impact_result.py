"""What an impact reports (private to :mod:`pipelines.impact`): :class:`ImpactResult`, its figures (transitions,
counts, totals, reasons, largest changes), its text and its JSON.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

_OUTCOMES = ("APPROVE", "REDUCE", "REFER", "DECLINE")


def _given(v: Any) -> bool:
    """A value present: not None, NaN or empty (pandas reads a missing text or number as NaN)."""
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and v != ""


def _money(amount: int, currency: str) -> str:
    from models.money import format_minor

    return format_minor(int(amount), currency)


def _pct(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%" if old else ("±0" if new == old else "new")


def change_words(r: Mapping[str, Any], base: str = "base", candidate: str = "candidate") -> str:
    """What differs between one application's two decisions, as the largest changes say it: the outcome (or its one
    outcome), the limit, the granted limit where it is not the limit, the maturity and the proposed actions where they
    moved, then the reasons added and removed. ``r``: a row of :func:`pipelines._impact_compare.compare_decisions`
    (``currency``, ``reasons_added``, ``reasons_removed`` and ``outcome_*``, ``limit_*``, ``granted_*``,
    ``maturity_*``, ``actions_*`` of each side, suffixed ``base`` and ``candidate`` — or as named by a report that
    renames them, ``models shadow``'s ``in_force`` and ``shadow``)."""
    def two(key: str) -> tuple[Any, Any]:
        return r[f"{key}_{base}"], r[f"{key}_{candidate}"]

    cur = str(r["currency"])
    (oa, ob), (la, lb), (ga, gb) = two("outcome"), two("limit"), two("granted")
    moves = [f"{oa} → {ob}" if oa != ob else str(oa), f"limit {_money(la, cur)} → {_money(lb, cur)}"]
    if (ga, gb) != (la, lb):
        moves.append(f"granted {_money(ga, cur)} → {_money(gb, cur)}")
    ma, mb = (str(x or "") for x in two("maturity"))
    if ma != mb:
        moves.append(f"maturity {ma or 'none'} → {mb or 'none'}")
    aa, ab = (str(x or "") for x in two("actions"))
    if aa != ab:
        moves.append(f"proposed actions {aa.replace(';', ', ') or 'none'} → {ab.replace(';', ', ') or 'none'}")
    why = [*(f"+{c}" for c in str(r["reasons_added"] or "").split(";") if c),
           *(f"-{c}" for c in str(r["reasons_removed"] or "").split(";") if c)]
    return ", ".join(moves) + (f"; {' '.join(why)}" if why else "")


@dataclass(frozen=True)
class ImpactResult:
    """The two runs compared (:func:`promotion_impact`)."""

    name: str          # yield-value, crop-type or policy
    base: str          # e.g. "version 2 (champion)"
    candidate: str     # e.g. "version 3"
    season: str
    as_of: dt.date
    policy: str        # the policy both runs decided under (a policy impact: the models both used)
    profile: str
    data: str | None   # the versions' governance label (synthetic, real; "a / b" when they differ), when known
    applications: pd.DataFrame
    values: pd.DataFrame
    checkpoints: tuple[str, str]
    warnings: list[str] = field(default_factory=list)
    #: each yield-value version's held-out figures at registration (:data:`HELD_OUT_METRICS`) and the minimum metrics
    #: it misses (empty: meets them all), base then candidate; none for crop-type
    held_out: tuple[dict[str, Any], ...] = ()
    #: identifiers in full (``--json``): a yield impact's runs, a policy impact's content hashes and the models used
    details: dict[str, Any] = field(default_factory=dict)

    # --- figures -----------------------------------------------------------------------------------------------
    def transitions(self) -> dict[str, dict[str, int]]:
        """Champion's outcome → candidate's outcome → applications (every outcome, zeros included)."""
        c = Counter(zip(self.applications["outcome_base"], self.applications["outcome_candidate"], strict=True))
        return {a: {b: int(c.get((a, b), 0)) for b in _OUTCOMES} for a in _OUTCOMES}

    def counts(self) -> dict[str, int]:
        t = self.applications
        outcome = t["outcome_base"] != t["outcome_candidate"]
        limit = t["limit_base"] != t["limit_candidate"]
        terms = (t["maturity_base"] != t["maturity_candidate"]) | (t["actions_base"] != t["actions_candidate"])
        limit_only = ~outcome & limit
        terms_only = ~outcome & ~limit & terms
        reasons_only = t["changed"] & ~outcome & ~limit & ~terms
        return {"applications": len(t), "changed": int(t["changed"].sum()), "outcome_changed": int(outcome.sum()),
                "limit_changed_only": int(limit_only.sum()),
                "maturity_or_actions_changed_only": int(terms_only.sum()),
                "reasons_changed_only": int(reasons_only.sum()),
                "maturity_changed": int((t["maturity_base"] != t["maturity_candidate"]).sum()),
                "actions_changed": int((t["actions_base"] != t["actions_candidate"]).sum()),
                "granted_up": int((t["granted_change"] > 0).sum()),
                "granted_down": int((t["granted_change"] < 0).sum()),
                "limit_up": int((t["limit_candidate"] > t["limit_base"]).sum()),
                "limit_down": int((t["limit_candidate"] < t["limit_base"]).sum())}

    def totals(self) -> dict[str, dict[str, int]]:
        """Per currency: granted under each run and requested."""
        out: dict[str, dict[str, int]] = {}
        for cur, g in self.applications.groupby("currency", sort=True):
            out[str(cur)] = {"granted_base": int(g["granted_base"].sum()),
                             "granted_candidate": int(g["granted_candidate"].sum()),
                             "requested": int(g["requested"].fillna(0).sum())}
        return out

    def reasons(self) -> dict[str, dict[str, int]]:
        """Reason code → applications gaining it / losing it with the candidate."""
        added = Counter(r for s in self.applications["reasons_added"] for r in s.split(";") if r)
        removed = Counter(r for s in self.applications["reasons_removed"] for r in s.split(";") if r)
        return {"added": dict(sorted(added.items(), key=lambda kv: (-kv[1], kv[0]))),
                "removed": dict(sorted(removed.items(), key=lambda kv: (-kv[1], kv[0])))}

    def largest(self, top: int) -> pd.DataFrame:
        """The changed applications, largest move in granted limit first, then in limit (a referred one's), then
        id order."""
        t = self.applications[self.applications["changed"]].copy()
        t["_abs"] = t["granted_change"].abs()
        t["_lim"] = (t["limit_candidate"] - t["limit_base"]).abs()
        t = t.sort_values(["_abs", "_lim", "application_id"], ascending=[False, False, True], kind="mergesort")
        return t.drop(columns=["_abs", "_lim"]).head(top)

    # --- output -----------------------------------------------------------------------------------------------
    def lines(self, top: int = 10) -> list[str]:
        n = self.counts()
        out = self._header(n["applications"])
        for who, h in zip((self.base, self.candidate), self.held_out, strict=False):
            figs = ", ".join(f"{k} {v:.3g}" for k, v in h["metrics"].items())
            out.append(f"held out at registration, {who}: {figs or 'no figures'}; "
                       + (f"misses {len(h['misses'])} minimum metric(s): {'; '.join(h['misses'])}" if h["misses"]
                          else "meets its minimum metrics"))
        if self.checkpoints[0] != self.checkpoints[1]:
            out.append(f"yield-model checkpoint: {self.checkpoints[0]} → {self.checkpoints[1]}")
        out.append(f"decisions changed: {n['changed']} of {n['applications']} (outcome {n['outcome_changed']}, "
                   f"limit only {n['limit_changed_only']}, maturity or proposed actions only "
                   f"{n['maturity_or_actions_changed_only']}, reasons only {n['reasons_changed_only']}); "
                   f"granted up on {n['granted_up']}, down on {n['granted_down']}; limit (referred ones' "
                   f"included) up on {n['limit_up']}, down on {n['limit_down']}; maturity moved on "
                   f"{n['maturity_changed']}, {self._actions_of} on {n['actions_changed']}")
        for cur, t in self.totals().items():
            out.append(f"granted: {_money(t['granted_base'], cur)} → {_money(t['granted_candidate'], cur)} "
                       f"({_pct(t['granted_candidate'], t['granted_base'])}) of {_money(t['requested'], cur)} "
                       "requested")
        tr = self.transitions()
        width = max(len(o) for o in _OUTCOMES)
        out.append("outcomes (rows: " + self.base + "; columns: " + self.candidate + "):")
        out.append("  " + " " * width + "".join(f"{o:>9}" for o in _OUTCOMES))
        for a in _OUTCOMES:
            if any(tr[a].values()) or any(tr[b][a] for b in _OUTCOMES):
                out.append(f"  {a:<{width}}" + "".join(f"{tr[a][b]:>9}" for b in _OUTCOMES))
        out.extend(self._more_lines(top))
        if len(self.values):
            out.append("valuations by crop and region (P10 value, the limit's base; median P50 yield):")
            for r in self.values.itertuples(index=False):
                where = f"{r.crop} in {r.region}" if _given(r.region) else str(r.crop)
                p50 = (f", P50 {r.p50_median_base:.2f} → {r.p50_median_candidate:.2f} t/ha"
                       if _given(r.p50_median_base) and _given(r.p50_median_candidate) else
                       f", P50 {r.p50_median_base:.2f} t/ha ({self.base} only)" if _given(r.p50_median_base) else
                       f", P50 {r.p50_median_candidate:.2f} t/ha ({self.candidate} only)"
                       if _given(r.p50_median_candidate) else "")
                extra = [f"{v} {k}" for k, v in (("valued as another crop", r.other_crop),
                                                  ("left the validated scope", r.left_scope),
                                                  ("entered the validated scope", r.entered_scope),
                                                  (f"valued by {self.base} only", r.only_base),
                                                  (f"by {self.candidate} only", r.only_candidate)) if v]
                out.append(f"  {where}: {r.fields} fields, {_money(r.value_p10_base, r.currency)} → "
                           f"{_money(r.value_p10_candidate, r.currency)} "
                           f"({_pct(r.value_p10_candidate, r.value_p10_base)}){p50}"
                           + (f"; {', '.join(extra)}" if extra else ""))
        rs = self.reasons()
        if rs["added"] or rs["removed"]:
            out.append("reasons: " + ", ".join([*(f"+{k} ({v})" for k, v in rs["added"].items()),
                                                *(f"-{k} ({v})" for k, v in rs["removed"].items())]))
        big = self.largest(top)
        if len(big):
            out.append(f"largest changes (of {n['changed']}):")
            for r in big.itertuples(index=False):
                out.append(f"  {self._who(r)}: {change_words(r._asdict())}")
        return out

    # --- what a re-underwriting impact (pipelines.impact_reunderwriting) says otherwise ---------------------------
    #: whose proposed actions the decisions carry (a new application's: a renewal's)
    _actions_of = "a renewal's proposed actions"

    def compared(self) -> str:
        """The candidate with its model's name once: ``yield-value version 2``; a crop-type side already names it
        (``crop-type version 3 (champion), run …``; a saved folder: ``crop-type file sha256:…``)."""
        return self.candidate if self.candidate.startswith(f"{self.name} ") else f"{self.name} {self.candidate}"

    def _header(self, n: int) -> list[str]:
        """The first line: what was compared, on what, and that nothing was stored (``n`` applications)."""
        label = f" ({self.data} data)" if self.data else ""
        if self.name == "policy":  # ``policy`` names the models both runs used
            return [f"policy impact of {self.candidate} against {self.base}{label}: season {self.season} as of "
                    f"{self.as_of}, profile {self.profile}, {self.policy}, {n} applications decided twice — nothing "
                    "stored"]
        return [f"promotion impact of {self.compared()} against {self.base}{label}: season {self.season} "
                f"as of {self.as_of}, policy {self.policy} profile {self.profile}, {n} applications decided twice — "
                "nothing stored"]

    def _more_lines(self, top: int) -> list[str]:
        """Lines after the outcomes' transitions (none here)."""
        return []

    def _who(self, r: Any) -> str:
        """A changed row as the largest changes name it."""
        return f"{r.application_id} (farmer {r.farmer_token})"

    def to_json(self) -> dict[str, Any]:
        apps = self.applications.astype(object).where(self.applications.notna(), None)
        vals = self.values.astype(object).where(self.values.notna(), None) if len(self.values) else self.values
        return {"model": self.name, "base": self.base, "candidate": self.candidate, "season": self.season,
                "as_of": self.as_of.isoformat(), "policy": self.policy, "profile": self.profile, "data": self.data,
                "checkpoints": {"base": self.checkpoints[0], "candidate": self.checkpoints[1]},
                "held_out": [dict(h) for h in self.held_out], "details": dict(self.details),
                "counts": self.counts(), "totals": self.totals(), "transitions": self.transitions(),
                "reasons": self.reasons(), "values": vals.to_dict(orient="records"),
                "applications": apps.to_dict(orient="records"), "warnings": list(self.warnings),
                **self._more_json()}

    def _more_json(self) -> dict[str, Any]:
        """Keys a re-underwriting impact adds to :meth:`to_json` (none here)."""
        return {}
