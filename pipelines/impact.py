"""Promotion impact (``agcredit models impact``): what promoting a model version would change in a batch of
applications, before it is promoted.

A bank's model change is approved on its consequences, not only on its held-out figures: the credit committee asks
which decisions would move, by how much, and for which crops. This module decides the same applications twice, with
the same inputs, policy and Book, once with the version in force (``--against``, default the champion) and once with
the candidate, through production's own path (:func:`pipelines.underwrite.score_and_decide`) — and stores nothing,
not even the features artifact. Only the model differs between the two runs, so every difference is the model's.

* ``yield-value``: both runs value the same features (a ``features build`` file, or built once from the imagery with
  the champion crop model); the candidate's valuations and checkpoint scope replace the champion's.
* ``crop-type``: the features carry the crop model they were built with, so the impact needs the imagery: they are
  built twice, once with each crop model; both runs value them with the champion yield model.

What it reports: the outcomes' transitions (champion's in rows, candidate's in columns), how many decisions change
(outcome, or granted limit only), the granted totals, the fields' valuations by crop and region (the P10 value the
limit is built on, the median P50 yield, fields valued as another crop, fields leaving or entering the version's
validated scope), the reasons added and removed, and the applications whose granted limit moves most. Application
ids and pseudonymous farmer tokens only: the inputs' names, ID numbers and phones are never read into it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["ImpactResult", "MODEL_NAMES", "compare_decisions", "compare_values", "held_out_of", "merge_said", "policy_impact",
           "policy_text", "promotion_impact", "resolve_policy", "version_text"]

#: the registered models an impact can be measured for
MODEL_NAMES = ("yield-value", "crop-type")
_OUTCOMES = ("APPROVE", "REDUCE", "REFER", "DECLINE")
_GRANTING = ("APPROVE", "REDUCE")

APPLICATION_COLUMNS = ["application_id", "farmer_token", "currency", "outcome_base", "outcome_candidate",
                       "value_base", "value_candidate", "limit_base", "limit_candidate", "granted_base",
                       "granted_candidate", "granted_change", "requested", "maturity_base", "maturity_candidate",
                       "actions_base", "actions_candidate", "reasons_added", "reasons_removed", "changed"]


def _granted(item: Any) -> int:
    """The limit granted by a decision: its limit when approved or reduced, else nothing."""
    return int(item.limit) if item.outcome in _GRANTING else 0


def _value(item: Any) -> int | None:
    """The expected crop value of a decision's fields as valued, before any was set aside for its evidence (minor
    units), None when its computation records none."""
    v = (item.body.get("computation") or {}).get("expected_value_claimed")
    return None if v is None else int(v)


def _maturity(item: Any) -> str:
    """The line's maturity date a decision computed (empty when it records none)."""
    return str((item.body.get("computation") or {}).get("maturity_date") or "")


def _actions(item: Any) -> str:
    """A re-underwriting's proposed actions (``reunderwrite.proposed_actions``) or a renewal's (policy
    ``renewals_propose_actions``), ``;``-joined; empty otherwise."""
    block = item.body.get("reunderwrite") or item.body.get("renewal") or {}
    return ";".join(str(a) for a in (block.get("proposed_actions") or []))


def _reasons(item: Any) -> set[str]:
    """A decision's reason codes and, when referred, why it was referred."""
    return set(item.reason_codes) | {str(r) for r in (item.body.get("refer_reasons") or [])}


def compare_decisions(base: list[Any], candidate: list[Any]) -> pd.DataFrame:
    """One row per application (sorted by id) of two runs deciding the same applications: each run's outcome, the
    expected crop value of its fields as the model valued them, before the evidence rules set any aside
    (``value_*``: the computation's ``expected_value_claimed``, minor units; None when it records none), its
    limit (minor units; a referred decision's is the limit its computation reached, for the analyst) and granted
    limit (the limit of an approved or reduced decision, else 0), the granted change, the requested amount, the
    line's maturity date (``computation.maturity_date``: the term follows the expected harvest), the proposed actions
    of a re-underwriting or a renewal (``reunderwrite.proposed_actions``, ``renewal.proposed_actions``; ``;``-joined;
    empty for a new application), the reasons the candidate adds
    and removes (``;``-joined, sorted) and whether anything of the decision changed (outcome, limit, maturity,
    proposed actions or reasons)."""
    a = {i.application_id: i for i in base}
    b = {i.application_id: i for i in candidate}
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ValueError(f"compare_decisions: the runs decided different applications ({', '.join(only[:3])})")
    rows = []
    for aid in sorted(a):
        x, y = a[aid], b[aid]
        ra, rb = _reasons(x), _reasons(y)
        ga, gb = _granted(x), _granted(y)
        req = (x.body.get("application") or {}).get("requested_amount")
        rows.append({"application_id": aid, "farmer_token": x.farmer_token, "currency": x.currency,
                     "outcome_base": x.outcome, "outcome_candidate": y.outcome, "value_base": _value(x),
                     "value_candidate": _value(y), "limit_base": int(x.limit),
                     "limit_candidate": int(y.limit), "granted_base": ga,
                     "granted_candidate": gb, "granted_change": gb - ga,
                     "requested": int(req) if req is not None else None,
                     "maturity_base": _maturity(x), "maturity_candidate": _maturity(y),
                     "actions_base": _actions(x), "actions_candidate": _actions(y),
                     "reasons_added": ";".join(sorted(rb - ra)), "reasons_removed": ";".join(sorted(ra - rb)),
                     "changed": (x.outcome != y.outcome or x.limit != y.limit or ra != rb
                                 or _maturity(x) != _maturity(y) or _actions(x) != _actions(y))})
    out = pd.DataFrame(rows, columns=APPLICATION_COLUMNS)
    return out.astype({"limit_base": "int64", "limit_candidate": "int64", "granted_base": "int64",
                       "granted_candidate": "int64", "granted_change": "int64", "changed": bool,
                       "value_base": "Int64", "value_candidate": "Int64"})


def compare_values(base: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """The two runs' field valuations by the champion's crop and region: fields, the P10 value totals (minor units;
    the limit is built on it) and the median P50 yields of each, the fields the candidate values as another crop,
    and the fields leaving and entering the versions' validated scope. Fields valued by one run only are counted in
    ``only_base`` / ``only_candidate`` (a crop model that finds no crop where the other found one)."""
    keys = ["field_id"]
    cols = ["field_id", "crop", "region", "currency", "value_p10", "yield_p50_t_ha", "in_scope"]
    m = base[cols].merge(candidate[cols], on=keys, how="outer", suffixes=("_b", "_c"), indicator=True)
    m["crop"] = m["crop_b"].where(m["crop_b"].notna(), m["crop_c"])
    m["region"] = m["region_b"].where(m["region_b"].notna(), m["region_c"]).astype(object).fillna("")
    rows = []
    for (crop, region), g in m.groupby(["crop", "region"], sort=True, dropna=False):
        both = g[g["_merge"] == "both"]
        rows.append({
            "crop": str(crop), "region": str(region) or None, "fields": len(g),
            "currency": str(g["currency_b"].dropna().iloc[0] if g["currency_b"].notna().any()
                            else g["currency_c"].dropna().iloc[0]),
            "value_p10_base": int(g["value_p10_b"].fillna(0).sum()),
            "value_p10_candidate": int(g["value_p10_c"].fillna(0).sum()),
            "p50_median_base": float(np.median(g["yield_p50_t_ha_b"].dropna())) if g["yield_p50_t_ha_b"].notna().any()
            else None,
            "p50_median_candidate": float(np.median(g["yield_p50_t_ha_c"].dropna()))
            if g["yield_p50_t_ha_c"].notna().any() else None,
            "other_crop": int((both["crop_b"].astype(str) != both["crop_c"].astype(str)).sum()),
            "left_scope": int((both["in_scope_b"].astype(bool) & ~both["in_scope_c"].astype(bool)).sum()),
            "entered_scope": int((~both["in_scope_b"].astype(bool) & both["in_scope_c"].astype(bool)).sum()),
            "only_base": int((g["_merge"] == "left_only").sum()),
            "only_candidate": int((g["_merge"] == "right_only").sum()),
        })
    return pd.DataFrame(rows)


def _given(v: Any) -> bool:
    """A value present: not None, NaN or empty (pandas reads a missing text or number as NaN)."""
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and v != ""


def _money(amount: int, currency: str) -> str:
    from models.money import format_minor

    return format_minor(int(amount), currency)


def _pct(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%" if old else ("±0" if new == old else "new")


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
                moves = [f"{r.outcome_base} → {r.outcome_candidate}" if r.outcome_base != r.outcome_candidate
                         else r.outcome_base,
                         f"limit {_money(r.limit_base, r.currency)} → {_money(r.limit_candidate, r.currency)}"]
                if (r.granted_base, r.granted_candidate) != (r.limit_base, r.limit_candidate):
                    moves.append(f"granted {_money(r.granted_base, r.currency)} → "
                                 f"{_money(r.granted_candidate, r.currency)}")
                if r.maturity_base != r.maturity_candidate:
                    moves.append(f"maturity {r.maturity_base or 'none'} → {r.maturity_candidate or 'none'}")
                if r.actions_base != r.actions_candidate:
                    moves.append(f"proposed actions {r.actions_base.replace(';', ', ') or 'none'} → "
                                 f"{r.actions_candidate.replace(';', ', ') or 'none'}")
                why = [*(f"+{c}" for c in r.reasons_added.split(";") if c),
                       *(f"-{c}" for c in r.reasons_removed.split(";") if c)]
                out.append(f"  {self._who(r)}: {', '.join(moves)}" + (f"; {' '.join(why)}" if why else ""))
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


#: the held-out figures of a yield-value version the impact prints beside its consequences (those the registry
#: records; ``models show`` lists every one)
HELD_OUT_METRICS = ("r2_all", "skill_r2_all", "rmse_pct_all", "below_p10_all", "above_p90_all")


def held_out_of(models: Any) -> dict[str, Any]:
    """A yield-value version's held-out figures as its run logged them and the minimum metrics its governance record
    says it misses."""
    from models.registry import version_metrics

    metrics = version_metrics(models.yield_name, models.yield_version)
    return {"metrics": {k: metrics[k] for k in HELD_OUT_METRICS if k in metrics},
            "misses": list(models.governance.failures())}


def version_text(version: str, alias: str) -> str:
    """``version 3 (champion)``: a yield-value version as the impact names it (by number: no alias)."""
    return f"version {version}" + ("" if alias.isdigit() else f" ({alias})")


def _read_inputs(what: str, applications: str | Path, fields: str | Path, season: str, *,
                 features: str | Path | None, imagery: str | None, book: str | Path | None,
                 policy: Any, profile: str | None, weather: str | Path | None,
                 history: str | Path | None) -> tuple[Any, list[str]]:
    """The inputs as ``agcredit underwrite`` reads them (one-line user errors) and what reading them said."""
    from pipelines.underwrite import read_underwrite_inputs

    if features is None and imagery is None:
        raise UserInputError(f"{what}: give --imagery (to build the features) or --features")
    if features is not None and imagery is not None:
        raise UserInputError(f"{what}: give --imagery or --features, not both")
    inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                 profile=profile, weather=weather, history=history, refuse_unrecorded=True,
                                 refuse_rejected=True)
    warnings = list(inp.warnings)
    if inp.held_by_features:
        warnings.append(f"{len(inp.held_by_features)} application(s) not compared: the features file was built "
                        "without their farmers' fields")
    if not (inp.applications["season"].astype(str) == inp.season).any():
        raise UserInputError(f"{what}: no application of season {inp.season} to decide")
    return inp, warnings


def _store_records(store: str | None, season: str) -> pd.DataFrame | None:
    """The season's records of the decision store ``store``, read once before any work (read only; a store that does
    not exist is a one-line error); None without a store."""
    if store is None:
        return None
    from underwriting.store import DecisionStore, store_url

    with DecisionStore(store_url(store), create=False, read_only=True) as st:
        return st.records(season)


def merge_said(said: list[list[str]], labels: list[str], warnings: list[str]) -> None:
    """``warnings`` gains what both runs said (``said``: each run's warnings), once, and what one run said, prefixed
    with its label."""
    for w in said[0]:
        if w not in warnings:
            warnings.append(w if w in said[1] else f"{labels[0]}: {w}")
    warnings.extend(f"{labels[1]}: {w}" for w in dict.fromkeys(said[1]) if w not in said[0])


def _decide_twice(inp: Any, book: pd.DataFrame, as_of: dt.date, runs_of: list[tuple[Any, Any]], labels: list[str], *,
                  features: str | Path | None, imagery: str | None, rebuild: bool, records: pd.DataFrame | None,
                  cache_dir: Path | None, allow_missing_acquisitions: bool, warnings: list[str]
                  ) -> tuple[list[Any], list[pd.DataFrame]]:
    """The applications decided once per (models, policy) of ``runs_of`` through underwriting's own path, nothing
    stored (:func:`pipelines.underwrite.score_and_decide` with ``write_artifact=False``). The features are those given,
    else built from ``imagery`` once — or once per run with ``rebuild`` (each run's crop model builds its own).
    ``records``: the store's records of the season (:func:`_store_records`), what each run reads under its own policy
    (:func:`pipelines.underwrite.records_context`: second pledges, open alerts).
    ``warnings`` gains what both runs said, once, and what one run said, prefixed with its label. Returns the runs and
    each run's valuations of the applicants' fields only (a fields or features file may hold a whole county's)."""
    from pipelines.featurize import featurize
    from pipelines.underwrite import records_context, score_and_decide

    runs, said = [], []
    built = None
    for models, policy in runs_of:
        own: list[str] = []
        fr = None
        if features is None and (built is None or rebuild):
            fr = featurize(inp.fields, imagery, inp.season, as_of, crop_model=models.crop_model, cache_dir=cache_dir,
                           weather=inp.weather if inp.weather is not None else models.weather,
                           allow_missing_acquisitions=allow_missing_acquisitions)
            built = fr
            own.extend(fr.warnings)
        elif features is None:
            fr = built
        pledged, open_alerts = (None, None) if records is None else records_context(records, inp.season, as_of,
                                                                                      policy, inp.profile)
        run = score_and_decide(inp.applications, inp.fields, inp.season, as_of, imagery=imagery, policy=policy,
                               profile=inp.profile, book=book, models=models, features=inp.features,
                               weather=inp.weather, featurized=fr, pledged=pledged, yield_history=inp.yield_history,
                               features_lineage=inp.features_lineage, open_alerts=open_alerts,
                               write_artifact=False, allow_missing_acquisitions=allow_missing_acquisitions)
        own.extend(run.warnings)
        said.append(own)
        runs.append(run)
    merge_said(said, labels, warnings)
    tokens = set(inp.applications.loc[inp.applications["season"].astype(str) == inp.season, "farmer_token"]
                 .astype(str))
    vals = []
    for r in runs:
        ids = set(r.features.loc[r.features["farmer_token"].astype(str).isin(tokens), "field_id"].astype(str))
        vals.append(r.valuations[r.valuations["field_id"].astype(str).isin(ids)].reset_index(drop=True))
    return runs, vals


def candidate_models(what: str, name: str, candidate: str, against: str, base: Any, *, weather: Any,
                     same_said: list[str] | None = None, **keep: Any) -> tuple[Any, str, str, str | None]:
    """The models of the version in force (``base``, a :class:`pipelines._champions.ChampionModels`) with ``name``'s
    model swapped for the ``candidate`` (a yield version or alias; a crop-type version, alias or saved folder), how
    each side is named, and the data label of the yield versions compared (``None`` for crop type); one line when both
    sides name the same model — unless ``same_said`` is given (a later date of a season's impact, the candidate since
    become the version in force: each side still follows its own earlier records), which gains a line saying so.
    ``keep``: further fields of the swapped models (e.g. ``said=None``)."""
    from pipelines._champions import ChampionModels
    from pipelines.featurize import crop_model_key, load_crop_model

    both = "both sides re-underwrite with it, each after its own records of the earlier dates"
    if name == "yield-value":
        c = ChampionModels.resolve(alias=candidate, crop_model="none", weather=weather)
        if c.yield_version == base.yield_version and same_said is not None:
            same_said.append(f"the version in force is yield-value version {c.yield_version}, the candidate: {both}")
        elif c.yield_version == base.yield_version:
            raise UserInputError(f"{what}: {candidate!r} and {against!r} are both yield-value version "
                                 f"{c.yield_version}: nothing to compare")
        cand = replace(base, yield_model=c.yield_model, yield_version=c.yield_version, yield_run_id=c.yield_run_id,
                       governance=c.governance, **keep)
        labels = {str(getattr(m.governance, "data", "") or "") for m in (base, cand)} - {""}
        data = (" / ".join(str(getattr(m.governance, "data", "?")) for m in (base, cand)) if len(labels) > 1
                else (labels.pop() if labels else None))
        return cand, version_text(base.yield_version, against), version_text(c.yield_version, candidate), data
    model, desc = load_crop_model(candidate)
    # "crop-type version 3 (champion), run …", "file sha256:…", "none" (a run without a crop model: None): a version
    # and a saved copy of its folder are one model
    if crop_model_key(desc) == crop_model_key(str(base.crop_version or "none")) and same_said is not None:
        same_said.append(f"the crop-type model in force is the candidate ({desc}): {both}")
    elif crop_model_key(desc) == crop_model_key(str(base.crop_version or "none")):
        raise UserInputError(f"{what}: {candidate!r} and {against!r} are the same crop-type model ({desc}): nothing "
                             "to compare")
    return replace(base, crop_model=model, crop_version=desc, **keep), str(base.crop_version or "none"), desc, None


def promotion_impact(name: str, candidate: str, *, applications: str | Path, fields: str | Path, season: str,
                     as_of: dt.date, features: str | Path | None = None, imagery: str | None = None,
                     against: str = "champion", book: str | Path | None = None, policy: str | Path | None = None,
                     profile: str | None = None, weather: str | Path | None = None,
                     history: str | Path | None = None, store: str | None = None,
                     crop_model: str = "champion", cache_dir: Path | None = None,
                     allow_missing_acquisitions: bool = False) -> ImpactResult:
    """Decide the season's applications as of ``as_of`` with ``name``'s version ``against`` and with ``candidate``
    (a version number or alias each; crop-type: a saved folder too), everything else the same, and compare (module
    docstring). Reads the inputs as ``agcredit underwrite`` reads them (one-line user errors); ``store`` (an existing
    decision store's URL, read only): the second pledges and open alerts a decision reads, as underwriting into it
    would; nothing is written anywhere (the imagery's series cache aside)."""
    from models.errors import RegistryError
    from pipelines._champions import ChampionModels
    from pipelines.underwrite import check_run_inputs

    if name not in MODEL_NAMES:
        raise UserInputError(f"models impact: unknown model {name!r} (expected {' or '.join(MODEL_NAMES)})")
    if name == "crop-type" and imagery is not None and crop_model != "champion":
        raise UserInputError("models impact crop-type: --crop-model is the yield impact's; the crop models compared "
                             "are --against and --candidate")
    if name == "crop-type" and features is not None:
        raise UserInputError("models impact crop-type: a features file carries the crop model it was built with; "
                             "give --imagery so that each crop model builds its own")
    inp, warnings = _read_inputs("models impact", applications, fields, season, features=features, imagery=imagery,
                                 book=book, policy=policy, profile=profile, weather=weather, history=history)
    bk = check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=inp.policy, profile=inp.profile,
                          book=inp.book, features=inp.features, imagery=imagery, warnings=warnings,
                          allow_missing_acquisitions=allow_missing_acquisitions)
    yield_alias = against if name == "yield-value" else "champion"
    # a features file carries its crop model's answers: no crop model is loaded for it
    crop_spec = (crop_model if features is None else "none") if name == "yield-value" else against
    try:
        base = ChampionModels.resolve(alias=yield_alias, crop_model=crop_spec,
                                      warnings=warnings if name == "yield-value" else None, weather=inp.weather)
    except RegistryError as e:
        if name != "crop-type" or "crop-type" not in e.problem:
            raise
        raise RegistryError(problem=e.problem, fix="train one with `agcredit train crop-type`, or name the model in "
                                                   "force with --against (a version, an alias or a saved folder)"
                            ) from None
    cand, base_text, cand_text, data = candidate_models("models impact", name, candidate, against, base,
                                                        weather=inp.weather)
    records = _store_records(store, inp.season)
    runs, vals = _decide_twice(inp, bk, as_of, [(base, inp.policy), (cand, inp.policy)], [base_text, cand_text],
                               features=features, imagery=imagery, rebuild=name == "crop-type", records=records,
                               cache_dir=cache_dir, allow_missing_acquisitions=allow_missing_acquisitions,
                               warnings=warnings)
    return ImpactResult(name=name, base=base_text, candidate=cand_text, season=inp.season, as_of=as_of,
                        policy=policy_text(inp.policy), profile=inp.profile, data=data,
                        applications=compare_decisions(runs[0].items, runs[1].items),
                        values=compare_values(vals[0], vals[1]),
                        checkpoints=(runs[0].checkpoint, runs[1].checkpoint), warnings=warnings,
                        held_out=(held_out_of(base), held_out_of(cand)) if name == "yield-value" else (),
                        details={"base_run_id": base.yield_run_id, "candidate_run_id": cand.yield_run_id}
                        if name == "yield-value" else {})


def policy_text(policy: Any) -> str:
    """``agcredit-default v2026.12.10 (hash 3a0c243161d6)``: a policy as decision records name it."""
    return f"{policy.policy_id} v{policy.version} (hash {policy.content_hash[:12]})"


def resolve_policy(spec: str | Path, released: Sequence[Any] | None = None) -> tuple[Any, str]:
    """A policy by ``default`` (the shipped one, always: a file of that name is not read), a released version of the
    shipped policy (``2026.12.9`` or ``v2026.12.9``: ``underwriting/policies/archive``; ``released``: those versions
    already loaded, else they are read) or a YAML file, and which of the three it was (``default``, ``version``,
    ``file``); a name that is both a released version and a file is ambiguous; else a one-line user error naming the
    released versions."""
    from underwriting.policy import archived_policies, default_policy, load_policy, version_key

    text = str(spec).strip()
    if text.lower() == "default":
        return default_policy(), "default"
    if not text:  # Path("") is the working folder
        raise UserInputError("policy '': an empty name (expected default, a released version of the shipped policy "
                             "or a policy file)")
    released = archived_policies() if released is None else list(released)
    name = text[1:] if text[:1] in ("v", "V") else text
    hits = [p for p in released if p.version == name]
    path = Path(text)
    if hits and path.exists():
        raise UserInputError(f"policy {text!r} names a released version of the shipped policy and a file here too: "
                             f"give the file as ./{text} or a path, or run elsewhere")
    if hits:
        return hits[0], "version"
    if path.is_dir():
        raise UserInputError(f"policy {text!r}: is a folder, not a policy file")
    if path.is_file():
        return load_policy(text), "file"
    raise UserInputError(f"policy {text!r}: no such file, and not a released version of the shipped policy "
                         f"(released: {', '.join(sorted({p.version for p in released}, key=version_key))}; or "
                         "default)")


def policy_impact(candidate: str | Path, *, applications: str | Path, fields: str | Path, season: str,
                  as_of: dt.date, features: str | Path | None = None, imagery: str | None = None,
                  against: str | Path = "default", book: str | Path | None = None, profile: str | None = None,
                  weather: str | Path | None = None, history: str | Path | None = None, store: str | None = None,
                  crop_model: str = "champion", cache_dir: Path | None = None,
                  allow_missing_acquisitions: bool = False) -> ImpactResult:
    """Decide the season's applications as of ``as_of`` under the policy ``against`` (default: the shipped policy)
    and under ``candidate`` (each :func:`resolve_policy`: a file, a released version or ``default``), the champion
    models and every other input the same (the features built or read once), nothing stored; compare as
    :func:`promotion_impact` (``name`` ``policy``; the valuations, the same under both, are left out)."""
    from pipelines._champions import ChampionModels
    from pipelines.underwrite import check_run_inputs

    (base_pol, _), (cand_pol, _) = resolve_policy(against), resolve_policy(candidate)
    if base_pol.content_hash == cand_pol.content_hash:
        raise UserInputError(f"policy impact: {str(candidate)!r} and {str(against)!r} are the same policy "
                             f"({policy_text(cand_pol)}): nothing to compare")
    if profile is not None:  # both policies must define the profile asked for: said before any input is read
        base_pol.profile(profile)
        try:
            cand_pol.profile(profile)
        except UserInputError as e:
            raise UserInputError(f"policy impact, the candidate {policy_text(cand_pol)}: {e}") from None
    # the inputs read as underwrite --policy reads them with the policy in force (its profile, by currency or --profile)
    try:
        inp, warnings = _read_inputs("policy impact", applications, fields, season, features=features,
                                     imagery=imagery, book=book, policy=base_pol, profile=profile, weather=weather,
                                     history=history)
    except UserInputError as e:  # the policy in force is --against here (underwrite's advice names --policy)
        raise UserInputError(str(e).replace("give --policy FILE", "give --against FILE")) from None
    prof = inp.profile
    bk = check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=base_pol, profile=prof,
                          book=inp.book, features=inp.features, imagery=imagery, warnings=warnings,
                          allow_missing_acquisitions=allow_missing_acquisitions)
    try:
        cand_pol.profile(prof)  # the candidate must define the profile too (one line naming the ones it has)
        check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=cand_pol, profile=prof,
                         book=inp.book, features=inp.features, imagery=None, warnings=[])  # the candidate's currency
    except UserInputError as e:
        raise UserInputError(f"policy impact, the candidate {policy_text(cand_pol)}: {e}") from None
    records = _store_records(store, inp.season)
    models = ChampionModels.resolve(crop_model=crop_model if features is None else "none", warnings=warnings,
                                    weather=inp.weather)
    base_text, cand_text = policy_text(base_pol), policy_text(cand_pol)
    runs, _vals = _decide_twice(inp, bk, as_of, [(models, base_pol), (models, cand_pol)], [base_text, cand_text],
                                features=features, imagery=imagery, rebuild=False, records=records,
                                cache_dir=cache_dir,
                                allow_missing_acquisitions=allow_missing_acquisitions, warnings=warnings)
    from pipelines._champions import models_text

    return ImpactResult(name="policy", base=base_text, candidate=cand_text, season=inp.season, as_of=as_of,
                        policy=f"models {models_text(models.versions())}", profile=prof,
                        data=getattr(models.governance, "data", None),
                        applications=compare_decisions(runs[0].items, runs[1].items),
                        values=pd.DataFrame(), checkpoints=(runs[0].checkpoint, runs[1].checkpoint),
                        warnings=warnings,
                        details={"models": models.versions(), "base_content_hash": base_pol.content_hash,
                                 "candidate_content_hash": cand_pol.content_hash})
