"""A registered model version's documentation for model risk (``agcredit models card``): one Markdown document (or
JSON) assembled from what the registry holds of the version — identity and provenance, its standing (aliases and the
alias history's moves of it: who promoted it, when, from which date it is in force, forced or not and who approved),
its validated scope and checkpoint dates, its minimum metrics judged on its held-out metrics, the held-out figures
laid out per checkpoint (and crop) beside the naive baselines it was registered with, every other metric, the
training data's hashes, its notes and plots — and what the figures are: synthetic data labelled so.

Nothing is computed here that the registry does not hold (no refit, no re-evaluation); the document is a function of
the registry's record of the version, so the same version gives the same bytes (no generation time: give the file a
name or keep it beside the registry's own history)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.errors import UserInputError

__all__ = ["ModelCard", "card_markdown", "model_card", "shadow_summary"]

#: a yield-value version's per-crop held-out figures (``<checkpoint prefix><metric>_<crop>``), in the table's order
_YIELD_COLUMNS = (("r2", "R²"), ("naive_crop_mean_r2", "R² crop mean"), ("naive_farmer_mean_r2", "R² farmer mean"),
                  ("skill_r2", "skill R²"), ("rmse_pct", "RMSE %"), ("naive_crop_mean_rmse_pct", "RMSE % crop mean"),
                  ("naive_farmer_mean_rmse_pct", "RMSE % farmer mean"), ("below_p10", "below P10"),
                  ("above_p90", "above P90"))
#: a crop-type version's per-checkpoint held-out figures (``<metric>_<checkpoint>``)
_CROP_COLUMNS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("ece", "ECE"))

_DATA_WORDS = {
    "synthetic": "SYNTHETIC — every figure below comes from a simulated county, not from real fields; it shows the "
                 "pipeline works, not how the model does on a bank's portfolio.",
    "real": "real — the figures come from real fields' records held out from training.",
    "unlabelled": "UNLABELLED — the training county did not say whether it is simulated; treat the figures as "
                  "synthetic until its provenance is known.",
}


@dataclass(frozen=True)
class ModelCard:
    """What the card says of one version (:func:`model_card`); :func:`card_markdown` renders it."""

    name: str
    version: str
    spec: str
    registry: str
    entry: dict[str, Any]
    aliases: tuple[str, ...]
    history: tuple[dict[str, Any], ...]
    #: the version's shadow decisions in a decision store (``--store``: :func:`shadow_summary`); None: not asked
    shadow: dict[str, Any] | None = None

    @property
    def governance(self) -> Any:
        return self.entry["governance"]

    def to_json(self) -> dict[str, Any]:
        gov = self.governance
        return {"name": self.name, "version": self.version, "asked": self.spec, "registry": self.registry,
                "run_id": self.entry["run_id"], "created": self.entry["created"], "aliases": list(self.aliases),
                "governance": gov.to_dict(), "minimum_metrics": _judged(gov), "failures": gov.failures(),
                "gated": bool(gov.minimum_metrics), "ungated_checkpoints": gov.ungated_checkpoints(),
                "training_data": self.entry.get("training_data") or {},
                "provenance": self.entry.get("provenance") or {}, "plots": list(self.entry.get("plots") or ()),
                "metrics": dict(sorted(self.entry["metrics"].items())), "alias_history": list(self.history),
                **({"shadow": self.shadow} if self.shadow is not None else {})}


def shadow_summary(name: str, version: str, store: str, calendar: str | Path | None = None) -> dict[str, Any]:
    """The card's Shadow section of ``name`` version ``version``: its shadow decisions in the decision store
    ``store`` (read only; :func:`pipelines.shadow_report.shadow_report`) — each season's coverage and whole-season
    judgement, and the headline comparison (records, changed, outcome moved, limit differs, limits and granted each
    side); ``seasons`` empty when the store holds none of it. A store that does not exist, a bad ``calendar`` file
    (the seasons' ends, as :func:`pipelines.shadow_report.shadow_report` reads it): a one-line error."""
    from pipelines.errors import NoShadowDecisions
    from pipelines.shadow_report import WHOLE_SEASON, shadow_report
    from underwriting.store import DecisionStore, store_url

    with DecisionStore(store_url(store), create=False, read_only=True) as st:  # opened once, its rows read once
        out: dict[str, Any] = {"store": st.shown_url, "definition": WHOLE_SEASON, "seasons": [], "comparison": None}
        if calendar is not None:
            out["calendar"] = Path(calendar).name
        try:
            j = shadow_report(name, version=version, st=st, calendar=calendar).to_json(top=0)
        except NoShadowDecisions:
            return out
    out["seasons"] = [{"season": s["season"], "whole_season": s["whole_season"], "missing": s["missing"],
                       "overrides": s["overrides_left_out"],
                       "dates": [{k: d[k] for k in ("kind", "as_of", "records", "beside", "shadowed")}
                                 for d in s["dates"]]} for s in j["seasons"]]
    c = j["comparison"]
    out["comparison"] = None if c is None else {k: c[k] for k in ("records", "changed", "outcome_changed",
                                                                  "limit_differs", "maturity_or_actions_changed_only",
                                                                  "reasons_changed_only", "totals")}
    return out


def _shadow_lines(sh: dict[str, Any]) -> list[str]:
    from models.money import format_minor

    cal = f" Seasons' ends by the season calendar {sh['calendar']}." if sh.get("calendar") else ""
    out = ["", "## Shadow", "", f"Decision store: {sh['store']} (read only). Definition: {sh['definition']}.{cal}", ""]
    if not sh["seasons"]:
        return [*out, "- No shadow decision of this version in the store: it has not run in shadow."]
    for s in sh["seasons"]:
        runs = ", ".join(f"{d['kind']} {d['as_of']} {d['shadowed']}/{d['beside']}" for d in s["dates"])
        verdict = "ran in shadow over the whole season" if s["whole_season"] else f"incomplete: {s['missing']}"
        left = f"; {s['overrides']} override(s) left out" if s.get("overrides") else ""
        out.append(f"- Season {s['season']}: {verdict} (records with a shadow row / records decided by another "
                   f"version, per dated run: {runs}{left})")
    c = sh["comparison"]
    if c:
        totals = "; ".join(f"limits {format_minor(t['limit_in_force'], cur)} → {format_minor(t['limit_shadow'], cur)}"
                           f", granted {format_minor(t['granted_in_force'], cur)} → "
                           f"{format_minor(t['granted_shadow'], cur)}" for cur, t in sorted(c["totals"].items()))
        out.append(f"- Against the records in force: {c['records']} paired, {c['changed']} would have changed, "
                   f"outcome on {c['outcome_changed']}, limit on {c['limit_differs']}, maturity or proposed "
                   f"actions only on {c['maturity_or_actions_changed_only']}, reasons only on "
                   f"{c['reasons_changed_only']}; {totals}")
    return out


def model_card(name: str, version: str = "champion", store: str | None = None,
               calendar: str | Path | None = None) -> ModelCard:
    """The card of ``name``'s ``version`` (a number, or an alias such as ``champion``) in the registry
    (``MLFLOW_TRACKING_URI``); a one-line user error naming the versions and aliases when there is no such one.
    ``store``: a decision store whose shadow decisions of the version the card summarises (:func:`shadow_summary`;
    ``calendar``: the season calendar file the seasons' ends are read from, default the shipped one)."""
    from models.registry import describe

    d = describe(name)
    spec = str(version).strip()
    num = spec[1:] if spec[:1] in ("v", "V") and spec[1:].isdigit() else spec
    hits = [v for v in d["versions"] if v["version"] == num or spec in v["aliases"]]
    if not hits:
        known = ", ".join([f"v{v['version']}" for v in d["versions"]] + sorted(d["aliases"]))
        raise UserInputError(f"models card: {name} has no version or alias {spec!r} (it has: {known})")
    entry = hits[0]
    v = str(entry["version"])
    moves = tuple(h for h in d["history"] if str(h.get("version") or "") == v
                  or str(h.get("previous_version") or "") == v)
    return ModelCard(name=name, version=v, spec=spec, registry=str(d["tracking_uri"]), entry=entry,
                     aliases=tuple(entry["aliases"]), history=moves,
                     shadow=shadow_summary(name, v, store, calendar) if store is not None else None)


def _num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    f = float(x)
    return "–" if not math.isfinite(f) else f"{f:.{digits}g}"


def _judged(gov: Any) -> list[dict[str, Any]]:
    """Each minimum metric with the held-out value and whether it is met (None: the metric was not measured)."""
    out = []
    for r in gov.minimum_metrics:
        found = gov.metrics.get(r.metric)
        ok = None if found is None or not math.isfinite(float(found)) else bool(r.met_by(gov.metrics))
        out.append({"metric": r.metric, "op": r.op, "threshold": r.threshold,
                    "value": None if found is None else float(found), "met": ok})
    return out


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def _yield_prefix(cps: Sequence[str], cp: str) -> str:
    """The prefix a yield-value version's held-out metrics of checkpoint ``cp`` carry: none at the scope's first
    checkpoint (the end of season when in scope; ``models.yield_value.build_yield_release``), ``<cp>_`` at the
    others."""
    return "" if cp == cps[0] else f"{cp}_"


def _figures(gov: Any, metrics: dict[str, float]) -> tuple[list[str], set[str]]:
    """The held-out figures laid out per checkpoint (and crop), and the metric names the tables used."""
    used: set[str] = set()
    lines: list[str] = []
    cps = list(gov.checkpoints) or ["end"]
    crop_cols = [b for b, _ in _CROP_COLUMNS]
    if any(f"{b}_{cp}" in metrics for b in crop_cols for cp in cps):  # a crop-type version: metric_<checkpoint>
        rows = []
        for cp in cps:
            names = [f"{b}_{cp}" for b in crop_cols]
            used.update(n for n in names if n in metrics)
            rows.append([cp, *(_num(metrics.get(n)) for n in names)])
        lines += _table(["checkpoint", *(h for _, h in _CROP_COLUMNS)], rows)
        naive = sorted(k for k in metrics if k.startswith("naive_"))
        if naive:
            used.update(naive)
            lines += ["", "Naive baselines (the same held-out fields): "
                      + ", ".join(f"{k} {_num(metrics[k])}" for k in naive) + "."]
        declared = sorted(k for k in metrics if k.startswith("declared_right_"))
        if declared:
            used.update(declared)
            lines += ["", "The figures above are scored against the held-out fields' declared crops. How far a "
                      "declaration agrees with the model, by crop (of the training fields whose out-of-fold top class "
                      "at the last checkpoint is the crop, the share declared as it; 1 where that share is under a "
                      "half or no field: the calibration's fallback): "
                      + ", ".join(f"{k.removeprefix('declared_right_')} {_num(metrics[k])}" for k in declared) + "."]
        return lines, used
    rows = []
    for cp in cps:
        p = _yield_prefix(cps, cp)
        for crop in [*gov.crops, "all"]:
            names = [f"{p}{b}_{crop}" for b, _ in _YIELD_COLUMNS]
            if not any(n in metrics for n in names):
                continue
            used.update(n for n in names if n in metrics)
            rows.append([cp, crop, *(_num(metrics.get(n)) for n in names)])
    if rows:
        lines += _table(["checkpoint", "crop", *(h for _, h in _YIELD_COLUMNS)], rows)
        lines += ["", "Beside the model: the crop's mean yield and the farmer's own mean (naive baselines, the same "
                  "held-out fields); skill R² is the model's R² minus the crop mean's; below P10 / above P90 are the "
                  "shares of held-out yields outside the model's interval (10% each when calibrated)."]
    return lines, used


def card_markdown(card: ModelCard) -> str:
    """The card as a Markdown document (deterministic: the same version gives the same bytes)."""
    gov, e = card.governance, card.entry
    metrics = {str(k): float(v) for k, v in e["metrics"].items()}
    tags = f" ({', '.join(card.aliases)})" if card.aliases else ""
    out = [f"# Model card: {card.name} version {card.version}{tags}", "",
           f"**Data:** {_DATA_WORDS.get(gov.data, gov.data)}", "",
           "## Identity", "",
           f"- Registry: {card.registry}",
           f"- Version {card.version}, run {e['run_id']}, registered {e['created']}"]
    prov = e.get("provenance") or {}
    out.append(f"- Trained by source sha256:{prov['source_sha256']}" if prov.get("source_sha256") else
               "- Trained by: not recorded (registered before provenance tags)")
    if prov.get("libraries"):
        out.append(f"- Libraries: {prov['libraries']}")
    data = e.get("training_data") or {}
    out += ["", "## Training data", ""]
    out += [f"- {k}: sha256:{d.get('sha256', '?')} ({d.get('rows', '?')} rows × {d.get('columns', '?')} columns)"
            for k, d in sorted(data.items())] or ["- not recorded (registered before training-data hashes)"]
    from pipelines._crop_governance import unrecorded_farm_tables, unrecorded_words

    missing = unrecorded_farm_tables(card.name, data)
    if missing:
        out.append(f"- {unrecorded_words(missing)}")
    if gov.notes:
        out += ["", f"Notes: {gov.notes}"]
    out += ["", "## Standing", "",
            f"- Aliases now: {', '.join(card.aliases) or 'none'}"]
    if card.history:
        out += ["", "Alias history of this version (oldest first):", ""]
        for h in card.history:
            move = f"{h['alias']}: v{h.get('previous_version') or '-'} → v{h.get('version') or '-'}"
            forced = (" FORCED, approved by " + str(h.get("approved_by") or "none")) if h.get("forced") else ""
            since = f"; in force from {h['effective']}" if h.get("effective") else ""
            over = f" — overriding: {'; '.join(map(str, h['failures']))}" if h.get("forced") and h.get("failures") \
                else ""
            checked = f"; {h['evidence']}" if h.get("evidence") else ""
            out.append(f"- {h['at']} {move} by {h['operator']}{forced}: {h['reason']}{since}{over}{checked}")
    else:
        out += ["- Alias history: none recorded for this version"]
    out += ["", "## Validated scope", "",
            f"- Crops: {', '.join(gov.crops) or 'none'}", f"- Regions: {', '.join(gov.regions) or 'none'}",
            f"- Checkpoints: {', '.join(gov.checkpoints) or 'none'}"]
    for region, cps in sorted(gov.checkpoint_dates.items()):
        for cp, by in sorted(cps.items()):
            days = ", ".join(f"{'every crop' if c == '*' else c} {md}" + (f" {off:+d}y" if off else "")
                             for c, (md, off) in sorted(by.items()))
            out.append(f"- {region} {cp}: validated from {days} of the season")
    if card.name == "yield-value":  # the policy's scope check reads the yield-value version's governance
        out += ["- A field outside this scope is not valued by this version: the policy refers it "
                "(OUT_OF_MODEL_SCOPE)."]
    ungated = gov.ungated_checkpoints()
    if ungated and gov.minimum_metrics:
        out += [f"- Checkpoints in scope that no minimum metric gates: {', '.join(ungated)} (registered before "
                "in-season gates, or none set for them)"]
    judged = _judged(gov)
    out += ["", "## Minimum metrics", ""]
    if judged:
        out += _table(["metric", "requirement", "held-out value", "met"],
                      [[j["metric"], f"{j['op']} {_num(j['threshold'])}", _num(j["value"]),
                        {True: "yes", False: "**no**", None: "not measured"}[j["met"]]] for j in judged])
    else:
        out.append("None recorded: promotion of this version is not gated.")
    fails = gov.failures()
    status = ("no minimum metrics recorded — not gated" if not gov.minimum_metrics else
              "meets its minimum metrics" if not fails else f"FAILS {len(fails)}: " + "; ".join(fails))
    out += ["", f"Status: {status}"]
    figures, used = _figures(gov, metrics)
    out += ["", "## Held-out figures", ""]
    out += figures or ["No per-checkpoint figures recognised; every metric is listed below."]
    rest = sorted(set(metrics) - used)
    if rest:
        out += ["", "## Every other metric", "", ", ".join(f"{k}={_num(metrics[k])}" for k in rest)]
    if e.get("plots"):
        out += ["", "## Plots", "", *(f"- {p}" for p in e["plots"]),
                "", "(`mlflow artifacts download --artifact-uri URI`, or `mlflow ui`)"]
    if card.shadow is not None:
        out += _shadow_lines(card.shadow)
    return "\n".join(out) + "\n"
