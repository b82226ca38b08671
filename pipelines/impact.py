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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["ImpactResult", "MODEL_NAMES", "compare_decisions", "compare_values", "promotion_impact"]

#: the registered models an impact can be measured for
MODEL_NAMES = ("yield-value", "crop-type")
_OUTCOMES = ("APPROVE", "REDUCE", "REFER", "DECLINE")
_GRANTING = ("APPROVE", "REDUCE")

APPLICATION_COLUMNS = ["application_id", "farmer_token", "currency", "outcome_base", "outcome_candidate",
                       "value_base", "value_candidate", "limit_base", "limit_candidate", "granted_base", "granted_candidate", "granted_change",
                       "requested", "reasons_added", "reasons_removed", "changed"]


def _granted(item: Any) -> int:
    """The limit granted by a decision: its limit when approved or reduced, else nothing."""
    return int(item.limit) if item.outcome in _GRANTING else 0


def _value(item: Any) -> int | None:
    """The expected crop value of a decision's fields as valued, before any was set aside for its evidence (minor
    units), None when its computation records none."""
    v = (item.body.get("computation") or {}).get("expected_value_claimed")
    return None if v is None else int(v)


def _reasons(item: Any) -> set[str]:
    """A decision's reason codes and, when referred, why it was referred."""
    return set(item.reason_codes) | {str(r) for r in (item.body.get("refer_reasons") or [])}


def compare_decisions(base: list[Any], candidate: list[Any]) -> pd.DataFrame:
    """One row per application (sorted by id) of two runs deciding the same applications: each run's outcome, the
    expected crop value of its fields as the model valued them, before the evidence rules set any aside
    (``value_*``: the computation's ``expected_value_claimed``, minor units; None when it records none), its
    limit (minor units; a referred decision's is the limit its computation reached, for the analyst) and granted
    limit (the limit of an approved or reduced decision, else 0), the granted change, the requested amount, the
    reasons the candidate adds and removes (``;``-joined, sorted) and whether anything of the decision changed
    (outcome, limit or reasons)."""
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
                     "reasons_added": ";".join(sorted(rb - ra)), "reasons_removed": ";".join(sorted(ra - rb)),
                     "changed": x.outcome != y.outcome or x.limit != y.limit or ra != rb})
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


def _money(amount: int, currency: str) -> str:
    from models.money import format_minor

    return format_minor(int(amount), currency)


def _pct(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%" if old else ("±0" if new == old else "new")


@dataclass(frozen=True)
class ImpactResult:
    """The two runs compared (:func:`promotion_impact`)."""

    name: str
    base: str          # e.g. "version 2 (champion)"
    candidate: str     # e.g. "version 3"
    season: str
    as_of: dt.date
    policy: str
    profile: str
    data: str | None   # the candidate's governance label (synthetic / real), when known
    applications: pd.DataFrame
    values: pd.DataFrame
    checkpoints: tuple[str, str]
    warnings: list[str] = field(default_factory=list)
    #: each yield-value version's held-out figures at registration (:data:`HELD_OUT_METRICS`) and the minimum metrics
    #: it misses (empty: meets them all), base then candidate; none for crop-type
    held_out: tuple[dict[str, Any], ...] = ()

    # --- figures -----------------------------------------------------------------------------------------------
    def transitions(self) -> dict[str, dict[str, int]]:
        """Champion's outcome → candidate's outcome → applications (every outcome, zeros included)."""
        c = Counter(zip(self.applications["outcome_base"], self.applications["outcome_candidate"], strict=True))
        return {a: {b: int(c.get((a, b), 0)) for b in _OUTCOMES} for a in _OUTCOMES}

    def counts(self) -> dict[str, int]:
        t = self.applications
        outcome = t["outcome_base"] != t["outcome_candidate"]
        limit_only = ~outcome & (t["limit_base"] != t["limit_candidate"])
        reasons_only = t["changed"] & ~outcome & ~limit_only
        return {"applications": len(t), "changed": int(t["changed"].sum()), "outcome_changed": int(outcome.sum()),
                "limit_changed_only": int(limit_only.sum()), "reasons_changed_only": int(reasons_only.sum()),
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
        label = f" ({self.data} data)" if self.data else ""
        out = [f"promotion impact of {self.name} {self.candidate} against {self.base}{label}: season {self.season} "
               f"as of {self.as_of}, policy {self.policy} profile {self.profile}, {n['applications']} applications "
               "decided twice — nothing stored"]
        for who, h in zip((self.base, self.candidate), self.held_out, strict=False):
            figs = ", ".join(f"{k} {v:.3g}" for k, v in h["metrics"].items())
            out.append(f"held out at registration, {who}: {figs or 'no figures'}; "
                       + (f"misses {len(h['misses'])} minimum metric(s): {'; '.join(h['misses'])}" if h["misses"]
                          else "meets its minimum metrics"))
        if self.checkpoints[0] != self.checkpoints[1]:
            out.append(f"yield-model checkpoint: {self.checkpoints[0]} → {self.checkpoints[1]}")
        out.append(f"decisions changed: {n['changed']} of {n['applications']} (outcome {n['outcome_changed']}, "
                   f"limit only {n['limit_changed_only']}, reasons only {n['reasons_changed_only']}); "
                   f"granted up on {n['granted_up']}, down on {n['granted_down']}; limit (referred ones' "
                   f"included) up on {n['limit_up']}, down on {n['limit_down']}")
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
        if len(self.values):
            out.append("valuations by crop and region (P10 value, the limit's base; median P50 yield):")
            for r in self.values.itertuples(index=False):
                where = f"{r.crop} in {r.region}" if r.region else str(r.crop)
                p50 = ("" if r.p50_median_base is None or r.p50_median_candidate is None else
                       f", P50 {r.p50_median_base:.2f} → {r.p50_median_candidate:.2f} t/ha")
                extra = [f"{v} {k}" for k, v in (("valued as another crop", r.other_crop),
                                                  ("left the validated scope", r.left_scope),
                                                  ("entered it", r.entered_scope),
                                                  ("valued by the champion only", r.only_base),
                                                  ("by the candidate only", r.only_candidate)) if v]
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
                why = [*(f"+{c}" for c in r.reasons_added.split(";") if c),
                       *(f"-{c}" for c in r.reasons_removed.split(";") if c)]
                out.append(f"  {r.application_id} (farmer {r.farmer_token}): {', '.join(moves)}"
                           + (f"; {' '.join(why)}" if why else ""))
        return out

    def to_json(self) -> dict[str, Any]:
        apps = self.applications.astype(object).where(self.applications.notna(), None)
        vals = self.values.astype(object).where(self.values.notna(), None) if len(self.values) else self.values
        return {"model": self.name, "base": self.base, "candidate": self.candidate, "season": self.season,
                "as_of": self.as_of.isoformat(), "policy": self.policy, "profile": self.profile, "data": self.data,
                "checkpoints": {"base": self.checkpoints[0], "candidate": self.checkpoints[1]},
                "held_out": [dict(h) for h in self.held_out],
                "counts": self.counts(), "totals": self.totals(), "transitions": self.transitions(),
                "reasons": self.reasons(), "values": vals.to_dict(orient="records"),
                "applications": apps.to_dict(orient="records"), "warnings": list(self.warnings)}


#: the held-out figures of a yield-value version the impact prints beside its consequences (those the registry
#: records; ``models show`` lists every one)
HELD_OUT_METRICS = ("r2_all", "skill_r2_all", "rmse_pct_all", "below_p10_all", "above_p90_all")


def _held_out(models: Any) -> dict[str, Any]:
    """A yield-value version's held-out figures as its run logged them and the minimum metrics its governance record
    says it misses."""
    from models.registry import version_metrics

    metrics = version_metrics(models.yield_name, models.yield_version)
    return {"metrics": {k: metrics[k] for k in HELD_OUT_METRICS if k in metrics},
            "misses": list(models.governance.failures())}


def _version_text(version: str, alias: str) -> str:
    return f"version {version}" + ("" if alias.isdigit() else f" ({alias})")


def promotion_impact(name: str, candidate: str, *, applications: str | Path, fields: str | Path, season: str,
                     as_of: dt.date, features: str | Path | None = None, imagery: str | None = None,
                     against: str = "champion", book: str | Path | None = None, policy: str | Path | None = None,
                     profile: str | None = None, weather: str | Path | None = None,
                     history: str | Path | None = None, store: str | None = None,
                     crop_model: str = "champion", cache_dir: Path | None = None,
                     allow_missing_acquisitions: bool = False) -> ImpactResult:
    """Decide the season's applications as of ``as_of`` with ``name``'s version ``against`` and with ``candidate``
    (a version number or alias each), everything else the same, and compare (module docstring). Reads the inputs
    as ``agcredit underwrite`` reads them (one-line user errors); ``store`` (a decision store URL, read only): the
    second pledges and open alerts a decision reads, as underwriting into it would; nothing is written anywhere
    (the imagery's series cache aside)."""
    from pipelines._champions import ChampionModels
    from pipelines.featurize import featurize, load_crop_model
    from pipelines.underwrite import check_run_inputs, read_underwrite_inputs, score_and_decide, store_context

    if name not in MODEL_NAMES:
        raise UserInputError(f"models impact: unknown model {name!r} (expected {' or '.join(MODEL_NAMES)})")
    if features is None and imagery is None:
        raise UserInputError("models impact: give --imagery (to build the features) or --features")
    if features is not None and imagery is not None:
        raise UserInputError("models impact: give --imagery or --features, not both")
    if name == "crop-type" and features is None and crop_model != "champion":
        raise UserInputError("models impact crop-type: --crop-model is the yield impact's; the crop models compared "
                             "are --against and --candidate")
    if name == "crop-type" and features is not None:
        raise UserInputError("models impact crop-type: a features file carries the crop model it was built with; "
                             "give --imagery so that each crop model builds its own")
    inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                 profile=profile, weather=weather, history=history, refuse_unrecorded=True,
                                 refuse_rejected=True)
    warnings = list(inp.warnings)
    if inp.held_by_features:
        warnings.append(f"{len(inp.held_by_features)} application(s) not compared: the features file was built "
                        "without their farmers' fields")
    if not (inp.applications["season"].astype(str) == inp.season).any():
        raise UserInputError(f"models impact: no application of season {inp.season} to decide")
    bk = check_run_inputs(inp.applications, inp.fields, inp.season, as_of, policy=inp.policy, profile=inp.profile,
                          book=inp.book, features=inp.features, imagery=imagery, warnings=warnings,
                          allow_missing_acquisitions=allow_missing_acquisitions)
    yield_alias = against if name == "yield-value" else "champion"
    # a features file carries its crop model's answers: no crop model is loaded for it
    crop_spec = (crop_model if features is None else "none") if name == "yield-value" else against
    base = ChampionModels.resolve(alias=yield_alias, crop_model=crop_spec,
                                  warnings=warnings if name == "yield-value" else None, weather=inp.weather)
    if name == "yield-value":
        c = ChampionModels.resolve(alias=candidate, crop_model="none", weather=inp.weather)
        if c.yield_version == base.yield_version:
            raise UserInputError(f"models impact: {candidate!r} and {against!r} are both yield-value version "
                                 f"{c.yield_version}: nothing to compare")
        cand = replace(base, yield_model=c.yield_model, yield_version=c.yield_version, yield_run_id=c.yield_run_id,
                       governance=c.governance)
        base_text, cand_text = _version_text(base.yield_version, against), _version_text(c.yield_version, candidate)
        data = getattr(c.governance, "data", None)
    else:
        model, desc = load_crop_model(candidate)
        if desc.split(" (")[0] == str(base.crop_version).split(" (")[0]:  # "crop-type version 3", "file sha256:…"
            raise UserInputError(f"models impact: {candidate!r} and {against!r} are the same crop-type model "
                                 f"({desc}): nothing to compare")
        cand = replace(base, crop_model=model, crop_version=desc)
        base_text, cand_text = str(base.crop_version), desc
        data = None
    pledged = open_alerts = None
    if store is not None:
        from underwriting.store import DecisionStore, store_url

        st = DecisionStore(store_url(store), defer=True)
        try:
            pledged, open_alerts = store_context(st, inp.season, as_of, inp.policy, inp.profile)
        finally:
            st.close()
    runs = []
    built = None
    for models in (base, cand):
        fr = None
        if features is None and (built is None or name == "crop-type"):
            fr = featurize(inp.fields, imagery, inp.season, as_of, crop_model=models.crop_model, cache_dir=cache_dir,
                           weather=inp.weather if inp.weather is not None else models.weather,
                           allow_missing_acquisitions=allow_missing_acquisitions)
            built = fr
            warnings.extend(w for w in fr.warnings if w not in warnings)
        elif features is None:
            fr = built
        run = score_and_decide(inp.applications, inp.fields, inp.season, as_of, imagery=imagery, policy=inp.policy,
                               profile=inp.profile, book=bk, models=models, features=inp.features,
                               weather=inp.weather, featurized=fr, pledged=pledged, yield_history=inp.yield_history,
                               features_lineage=inp.features_lineage, open_alerts=open_alerts,
                               write_artifact=False, allow_missing_acquisitions=allow_missing_acquisitions)
        warnings.extend(w for w in run.warnings if w not in warnings)
        runs.append(run)
    return ImpactResult(name=name, base=base_text, candidate=cand_text, season=inp.season, as_of=as_of,
                        policy=inp.policy.version, profile=inp.profile, data=data,
                        applications=compare_decisions(runs[0].items, runs[1].items),
                        values=compare_values(runs[0].valuations, runs[1].valuations),
                        checkpoints=(runs[0].checkpoint, runs[1].checkpoint), warnings=warnings,
                        held_out=(_held_out(base), _held_out(cand))
                        if name == "yield-value" else ())
