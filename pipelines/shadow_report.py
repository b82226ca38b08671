"""``agcredit models shadow``: a model-risk report of a version's shadow decisions (:mod:`pipelines.shadow`).

CREDIT_POLICY.md: "the challenger runs in shadow for a season before promotion". The shadow table keeps, beside each
record of the version in force, what the shadow version decided with the same inputs on the same date, written
then — before any outcome was known. This module reads it (the store read only, nothing written) and says:

* **Coverage**: per season and dated run of the store's records (each underwriting and re-underwriting date: kind,
  as-of date), how many records were decided by another version of the model than the shadow one and how many of
  those have a shadow row of it; which version was in force (several: a promotion mid-season — each date's shadow
  rows stand beside that date's own records); records the shadow version decided itself (once promoted) need none;
  overrides (an analyst's, not a run's) are left out and counted. A shadow row counts only when its own body names
  the version judged (yield-value: and that version's registry run); rows beside no record of the season's runs in
  the store are said. :data:`WHOLE_SEASON` is the definition of "ran in shadow over a whole season" that ``models
  promote --shadow-store`` asks for: every dated run covered, and the runs reaching the season's end — on or after the
  latest pre_harvest checkpoint (the season calendar, :func:`pipelines.schedule.load_calendar`) of the regions and
  crops its records valued (:func:`season_end`); a season short of it is in progress, not whole.
* **What the shadow would have changed**: per date and overall, the outcomes' transitions (in force → shadow), the
  lines whose limit differs, the limits and granted limits each side, the decisions whose maturity or proposed
  actions alone moved (a crop-type challenger's phenology calibration moves the maturity) and those whose reasons
  alone did, reason codes added and removed, the alerts behind the re-underwriting decisions added and removed
  (:func:`alert_changes`: a crop-type challenger's own), the largest differences, each saying what moved
  (:func:`pipelines._impact_result.change_words`) — the comparison of ``models impact``
  (:func:`pipelines.impact.compare_decisions`, :class:`pipelines.impact.ImpactResult`), on decisions written in the
  season instead of re-decided now.
* **Against outcomes** (a reported yields file, as ``models performance yield-value`` reads it): each side's field
  yield predictions as recorded in the bodies (the model's own ``model_yield_p10_t_ha``, ``…p50…`` and, since body
  schema /2, ``…p90…``) against the reported yield, per dated run (its records' checkpoint, ``provenance.checkpoint``,
  named; a field counted once per run, never pooled across two runs of one checkpoint): P50 absolute error, share
  below P10 and share above P90 (the pairs whose both bodies record a P90), each side and the paired difference
  (shadow − in force) with a 95% bootstrap interval, farmers drawn whole.

Application ids and pseudonymous farmer tokens only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines._impact_result import change_words
from pipelines._shadow_coverage import (
    WHOLE_SEASON,
    SeasonCoverage,
    genuine_rows,
    record_version,
    season_coverage,
    season_end,
)
from pipelines._shadow_outcomes import yield_figures, yield_pairs

__all__ = ["alert_changes", "WHOLE_SEASON", "ShadowEvidence", "ShadowReport", "SeasonCoverage", "genuine_rows", "record_version",
           "resolve_version", "season_coverage", "season_end", "season_order", "shadow_evidence", "shadow_report",
           "yield_figures", "yield_pairs"]


def _items(rows: pd.DataFrame) -> list[Any]:
    """Stored rows (records or shadow rows) as :class:`~underwriting.records.DecisionItem` (what
    :func:`pipelines.impact.compare_decisions` reads)."""
    from underwriting.records import DecisionItem

    out = []
    for r in rows.itertuples(index=False):
        codes = tuple(c for c in str(r.reason_codes or "").split(",") if c) if isinstance(r.reason_codes, str) else ()
        out.append(DecisionItem(idempotency_key=str(r.record_id), application_id=str(r.application_id),
                                farmer_token=str(r.farmer_token), season=str(r.season), as_of=str(r.as_of),
                                outcome=str(r.outcome), limit=int(r.limit), currency=str(r.currency),
                                reason_codes=codes, body=r.body_dict, kind=str(r.kind)))
    return out


# ---------------------------------------------------------------------- the report
@dataclass(frozen=True)
class ShadowReport:
    """A version's shadow decisions against the records they stand beside (:func:`shadow_report`)."""

    name: str
    version: str
    alias: str | None
    store: str
    coverage: list[SeasonCoverage]
    #: one row per paired record: impact's application columns and season, kind, as_of, record_id, versions
    pairs: pd.DataFrame
    reported: str | None = None
    #: the governance data label of the shadow version (synthetic, real), when known
    data: str | None = None
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the season calendar file the seasons' ends were read from (its name); None: the default calendar
    calendar: str | None = None

    @property
    def shown_version(self) -> str:
        return f"{self.name} version {self.version}" + (f" ({self.alias})" if self.alias else "")

    def _impact(self, t: pd.DataFrame) -> Any:
        from pipelines.impact import ImpactResult

        return ImpactResult(name=self.name, base="in force", candidate=f"version {self.version}",
                            season=",".join(sorted(set(t["season"]))), as_of=None,  # type: ignore[arg-type]
                            policy="", profile="", data=None, applications=t.reset_index(drop=True),
                            values=pd.DataFrame(), checkpoints=("", ""))

    def _limits(self, t: pd.DataFrame) -> dict[str, dict[str, int]]:
        return {str(c): {"limit_in_force": int(g["limit_base"].sum()), "limit_shadow": int(g["limit_candidate"].sum()),
                         "granted_in_force": int(g["granted_base"].sum()),
                         "granted_shadow": int(g["granted_candidate"].sum())}
                for c, g in t.groupby("currency", sort=True)}

    def comparison(self, t: pd.DataFrame, top: int = 10) -> dict[str, Any]:
        """The figures of a set of pairs (a date's, a season's, all)."""
        imp = self._impact(t)
        n = imp.counts()
        big = imp.largest(top)
        side = {"base": "in_force", "candidate": "shadow"}
        return {"records": n["applications"], "changed": n["changed"], "outcome_changed": n["outcome_changed"],
                "limit_differs": int((t["limit_base"] != t["limit_candidate"]).sum()),
                "limit_up": n["limit_up"], "limit_down": n["limit_down"],
                **{k: n[k] for k in ("limit_changed_only", "maturity_or_actions_changed_only", "reasons_changed_only",
                                     "maturity_changed", "actions_changed")},
                "totals": self._limits(t), "transitions": imp.transitions(), "reasons": imp.reasons(),
                "alerts": alert_changes(t),
                "largest": [{"as_of": r.as_of, "kind": r.kind, "application_id": r.application_id,
                             "farmer_token": r.farmer_token, "currency": r.currency,
                             **{f"{k}_{side[s]}": (int(getattr(r, f"{k}_{s}")) if k in ("limit", "granted")
                                                   else str(getattr(r, f"{k}_{s}")))
                                for k in ("outcome", "limit", "granted", "maturity", "actions") for s in side},
                             "reasons_added": r.reasons_added, "reasons_removed": r.reasons_removed}
                            for r in big.itertuples(index=False)]}

    def to_json(self, top: int = 10) -> dict[str, Any]:
        from pipelines.evaluation import json_ready

        seasons = []
        for cov in self.coverage:
            t = self.pairs[self.pairs["season"] == cov.season]
            dates = []
            for d in cov.dates:
                td = t[(t["as_of"] == d["as_of"]) & (t["kind"] == d["kind"])]
                dates.append({**d, "comparison": self.comparison(td, top) if len(td) else None})
            seasons.append({"season": cov.season, "whole_season": cov.whole, "missing": cov.missing_text(),
                            "season_end": cov.end, "season_end_reached": cov.end_reached,
                            "overrides_left_out": cov.overrides, "mismatched_rows": cov.mismatched,
                            "rows_beside_no_record": cov.orphans, "notes": cov.notes, "dates": dates,
                            "comparison": self.comparison(t, top) if len(t) else None})
        return json_ready({"model": self.name, "version": self.version, "alias": self.alias, "store": self.store,
                           "data": self.data, "calendar": self.calendar or "default",
                           "whole_season_definition": WHOLE_SEASON, "seasons": seasons,
                           "comparison": self.comparison(self.pairs, top) if len(self.pairs) else None,
                           "reported": self.reported, "outcomes": self.outcomes, "notes": self.notes,
                           "pairs": _plain_records(pairs_table(self)),
                           "outcomes_interval": _interval_words() if self.outcomes else None})

    def lines(self, top: int = 10) -> list[str]:
        from models.money import format_minor

        label = f" ({self.data} data)" if self.data else ""
        out = [f"shadow decisions of {self.shown_version}{label} in {self.store} (read only; written when each run "
               "decided, before any outcome)", f"definition: {WHOLE_SEASON}"]
        for cov in self.coverage:
            verdict = ("ran in shadow over the whole season" if cov.whole
                       else f"did NOT run in shadow over the whole season: {cov.missing_text()}")
            verdict += (f" (its end: {cov.end}, the last pre_harvest checkpoint of its regions and crops"
                        + (f" in calendar {cov.calendar})" if cov.calendar else ")") if cov.end else "")
            verdict += f"; {cov.overrides} override(s) left out" if cov.overrides else ""
            out.append(f"season {cov.season}: {verdict}")
            for d in cov.dates:
                vers = ", ".join(f"v{v} {n}" for v, n in d["in_force"].items())
                out.append(f"  {d['kind']} {d['as_of']}: {d['records']} record(s) (in force: {vers}); "
                           f"{d['shadowed']} of {d['beside']} beside a shadow row"
                           + (f", {d['own']} decided by version {self.version} itself" if d["own"] else "")
                           + ("" if d["covered"] else
                              f" — missing: {', '.join(d['missing'][:5])}"
                              + (f" (+{len(d['missing']) - 5} more)" if len(d["missing"]) > 5 else "")))
            out.extend(f"  note: {n}" for n in cov.notes)
        if not len(self.pairs):
            out.append("no record paired with a shadow row: nothing compared")
            return out
        out.append("what the shadow would have changed (in force → shadow):")
        groups = [(f"{k} {a}", g) for (a, k), g in self.pairs.groupby(["as_of", "kind"], sort=True)]
        for label, g in [*groups, ("overall", self.pairs)]:
            c = self.comparison(g, top)
            tot = "; ".join(f"limits {format_minor(v['limit_in_force'], cur)} → {format_minor(v['limit_shadow'], cur)}"
                            f", granted {format_minor(v['granted_in_force'], cur)} → "
                            f"{format_minor(v['granted_shadow'], cur)}" for cur, v in c["totals"].items())
            moves = ", ".join(f"{a}→{b} {n}" for a, row in c["transitions"].items() for b, n in row.items()
                              if n and a != b) or "none"
            out.append(f"  {label}: {c['records']} record(s), {c['changed']} changed, outcome moved on "
                       f"{c['outcome_changed']} ({moves}), limit differs on {c['limit_differs']} (up {c['limit_up']}, "
                       f"down {c['limit_down']}), maturity or proposed actions only "
                       f"{c['maturity_or_actions_changed_only']}, reasons only {c['reasons_changed_only']}; maturity "
                       f"moved on {c['maturity_changed']}, proposed actions on {c['actions_changed']}; {tot}")
            rs = c["reasons"]
            if rs["added"] or rs["removed"]:
                out.append("    reasons: " + ", ".join([*(f"+{k} ({v})" for k, v in rs["added"].items()),
                                                         *(f"-{k} ({v})" for k, v in rs["removed"].items())]))
            al = c["alerts"]
            if al["in_force"] or al["shadow"] or al["added"] or al["removed"]:  # counted each side, as --json has them
                moved = ", ".join([*(f"+{k} ({v})" for k, v in al["added"].items()),
                                   *(f"-{k} ({v})" for k, v in al["removed"].items())]) or "none added or removed"
                out.append(f"    alerts behind the re-underwriting decisions: {al['in_force']} → {al['shadow']}; {moved}")
        big = self.comparison(self.pairs, top)["largest"]
        if big:
            out.append(f"largest differences (of {self.comparison(self.pairs, top)['changed']}):")
            for r in big:
                out.append(f"  {r['kind']} {r['as_of']} {r['application_id']} (farmer {r['farmer_token']}): "
                           + change_words(r, "in_force", "shadow"))
        if self.reported is not None:
            out.append(f"against the reported yields ({self.reported}): the predictions each side recorded, per "
                       "dated run (shadow − in force; " + _interval_words() + ")")
            if not self.outcomes:
                out.append("  no paired field has a reported yield of its season")
            for f in self.outcomes:
                e, b = f["p50_abs_error_t_ha"], f["below_p10"]
                out.append(f"  {f['kind']} {f['as_of']} (checkpoint {f['checkpoint']}; {f['pairs']} record-field "
                           f"pair(s), {f['fields']} distinct field(s), {f['farmers']} farmer(s)): P50 abs error {e['in_force']:.3f} → {e['shadow']:.3f} t/ha "
                           f"({e['difference']:+.3f}{_ci(e['interval'], '+.3f')}); below P10 "
                           f"{b['in_force']:.1%} → {b['shadow']:.1%} ({100 * b['difference']:+.1f} points"
                           f"{_ci(b['interval'], '+.1f', 100.0)})" + _above_words(f.get("above_p90"), f["pairs"]))
        out.extend(f"note: {n}" for n in self.notes)
        return out


def alert_changes(t: pd.DataFrame) -> dict[str, Any]:
    """The alerts each side's re-underwriting records name (``reunderwrite.alerts``: ``FIELD:KIND``, those its decision
    read) over the pairs ``t`` (``body_base``, ``body_shadow``): how many each side names, and by kind the alerts the
    shadow names that the record in force does not (``added``) and the reverse (``removed``). A yield-value challenger
    reads the run's alerts (none differ); a crop-type challenger computes its own (its crop probabilities: another
    CROP_MISMATCH, say)."""
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    n = {"in_force": 0, "shadow": 0}
    for b, sh in zip(t.get("body_base", ()), t.get("body_shadow", ()), strict=True):
        a = {str(x) for x in ((b or {}).get("reunderwrite") or {}).get("alerts") or ()}
        z = {str(x) for x in ((sh or {}).get("reunderwrite") or {}).get("alerts") or ()}
        n["in_force"] += len(a)
        n["shadow"] += len(z)
        for side, names in ((added, z - a), (removed, a - z)):
            for x in names:
                kind = x.rsplit(":", 1)[-1]
                side[kind] = side.get(kind, 0) + 1
    return {**n, "added": dict(sorted(added.items())), "removed": dict(sorted(removed.items()))}


def _plain_records(t: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready dicts (missing values None, numpy scalars as Python's)."""
    rows = t.astype(object).where(t.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]


def _above_words(a: dict[str, Any] | None, pairs: int) -> str:
    """The line's share above P90 (bodies of schema /2 on both sides), on how many of its pairs when not all."""
    if a is None:
        return "; above P90 not recorded (bodies before schema /2)"
    on = f" of {a['pairs']} pair(s)" if a["pairs"] != pairs else ""
    return (f"; above P90{on} {a['in_force']:.1%} → {a['shadow']:.1%} ({100 * a['difference']:+.1f} points"
            f"{_ci(a['interval'], '+.1f', 100.0)})")


def _ci(iv: list[float] | None, spec: str, scale: float = 1.0) -> str:
    from pipelines.evaluation._bootstrap import interval_text

    return f", 95% {interval_text(scale * iv[0], scale * iv[1], spec)}" if iv else ", no interval"


def _interval_words() -> str:
    from pipelines.evaluation._bootstrap import describe

    return describe("paired fields", "farmer")


def resolve_version(name: str, version: str) -> tuple[str, str | None]:
    """``version`` (a number or an alias) of the registered model ``name`` as a version number and the alias it was
    named by (None: by number); a one-line RegistryError when the model, version or alias does not exist."""
    from models import registry
    from models.errors import RegistryError

    spec = str(version).strip()
    if spec.isdigit():
        registry.governance(name, registry.version_number(spec))  # the model and the version exist
        return registry.version_number(spec), None
    found = registry.alias_version(name, spec)
    if found is None:
        raise RegistryError(problem=f"{name} has no version with the alias {spec!r}",
                            fix=f"see the versions with: agcredit models show {name}")
    return str(found), spec


def season_order(seasons: Any) -> list[str]:
    """Seasons (harvest years) in the order the report lists them and the evidence takes the latest: as strings,
    oldest first (the house's order: the season named by its harvest year)."""
    return sorted({str(s) for s in seasons})


def _season_records(st: Any, season: str, name: str) -> pd.DataFrame:
    """The open store's records of ``season`` with ``body_dict`` and ``in_force`` (:func:`record_version`)."""
    recs = st.records(season)
    recs = recs.assign(body_dict=[json.loads(b) for b in recs["body"]])
    return recs.assign(in_force=[record_version(b, name) for b in recs["body_dict"]])


def version_run(name: str, version: str) -> str | None:
    """The registry run id of ``name`` version ``version`` (what a yield-value body's ``models[].run_id`` names);
    None when the registry cannot say."""
    from models import registry

    try:
        return registry.version_run_id(name, version)
    except Exception:  # noqa: BLE001 - the registry not at hand: the body's version alone is checked
        return None


def shadow_report(name: str, store: str | None = None, *, version: str = "challenger", season: str | None = None,
                  reported: str | Path | None = None, st: Any = None,
                  calendar: str | Path | None = None) -> ShadowReport:
    """The shadow report of ``name``'s ``version`` (a number or an alias; default the challenger) in the decision
    store ``store`` (default as every reader: ``AGCREDIT_STORE_URL``, else the SQLite default), read only: the seasons
    with shadow rows of the version (or ``season``), their coverage (:func:`season_coverage`, :data:`WHOLE_SEASON`),
    the records paired with their shadow rows compared, and with ``reported`` (a reported yields file) the recorded
    predictions of each side against the reported yields. One-line user errors: an unknown model, version or alias,
    a store that does not exist, no shadow row of the version (in the season: :class:`pipelines.errors.
    NoShadowDecisions`), a bad ``calendar``. ``st``: the store already open (read only; a caller reading it once) —
    else it is opened here, once. ``calendar``: a season calendar CSV the seasons' ends are read from (default the
    shipped one with a bank's own regions', as ``reunderwrite --due`` reads it without ``--calendar``)."""
    from pipelines.impact import MODEL_NAMES
    from underwriting.store import DecisionStore, store_url

    if name not in MODEL_NAMES:
        raise UserInputError(f"models shadow: shadow decisions are kept for {' and '.join(MODEL_NAMES)}, not {name!r}")
    cal = _calendar(calendar)  # a bad file: said before the store is read
    if st is not None:
        with st.snapshot():  # the records and the shadow rows as of one moment (PostgreSQL: one transaction)
            return _report(st, name, version, season, reported, cal)
    with DecisionStore(store_url(store), create=False, read_only=True) as opened, opened.snapshot():
        return _report(opened, name, version, season, reported, cal)  # a store that does not exist: one line


def _calendar(path: str | Path | None) -> tuple[pd.DataFrame, str | None]:
    """The season calendar a judgement reads (:func:`pipelines.schedule.load_calendar`) and its file's name (None:
    the default calendar)."""
    from pipelines.schedule import load_calendar

    return load_calendar(path), (None if path is None else Path(path).name)


def _report(st: Any, name: str, version: str, season: str | None, reported: str | Path | None,
            cal: tuple[pd.DataFrame, str | None]) -> ShadowReport:
    from pipelines.errors import NoShadowDecisions
    from pipelines.impact import compare_decisions
    from pipelines.shadow import read_shadow

    shown = st.shown_url
    v, alias = resolve_version(name, version)
    sh = read_shadow(st, season=season, model_name=name, model_version=v)
    if sh.empty:
        raise NoShadowDecisions(name=name, version=v, alias=alias, season=season, store=shown)
    rep = None
    if reported is not None:
        from pipelines.outcomes import _reported_rows
        from pipelines.train_yield import read_reported

        if name != "yield-value":
            raise UserInputError("models shadow --reported: reported yields are the yield-value model's outcomes")
        rep, _ = _reported_rows(read_reported(Path(reported), keep_crop=True), str(reported))
    run_id = version_run(name, v)
    sh = sh.assign(body_dict=[json.loads(b) for b in sh["body"]])
    coverage, pairs = [], []
    for s in season_order(sh["season"]):
        recs = _season_records(st, s, name)
        ss = sh[sh["season"].astype(str) == s]
        coverage.append(season_coverage(s, recs, ss, name, v, run_id=run_id, calendar=cal[0], calendar_name=cal[1]))
        ss, _ = genuine_rows(ss, name, v, run_id)
        paired = ss.merge(recs[["record_id", "seq"]], on="record_id", how="inner")
        for (as_of, kind), g in paired.groupby(["as_of", "kind"], sort=True):
            base = recs[recs["record_id"].isin(g["record_id"])]
            # one pair per application and date (two records of one application on one date: the later one's)
            keep = base.sort_values("seq").drop_duplicates("application_id", keep="last")
            shadow_side = g[g["record_id"].isin(keep["record_id"])]
            t = compare_decisions(_items(keep), _items(shadow_side))
            by_app = keep.set_index("application_id")
            sh_app = shadow_side.set_index("application_id")
            t.insert(0, "season", s)
            t.insert(1, "kind", str(kind))
            t.insert(2, "as_of", str(as_of))
            t.insert(3, "record_id", [str(by_app.loc[a, "record_id"]) for a in t["application_id"]])
            t["version_in_force"] = [by_app.loc[a, "in_force"] for a in t["application_id"]]
            t["version_shadow"] = v
            t["body_base"] = [by_app.loc[a, "body_dict"] for a in t["application_id"]]
            t["body_shadow"] = [sh_app.loc[a, "body_dict"] for a in t["application_id"]]
            pairs.append(t)
    cols = ["season", "kind", "as_of", "record_id", "application_id"]
    table = (pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(columns=cols))
    table = table.sort_values(["season", "as_of", "kind", "application_id"], kind="mergesort").reset_index(drop=True)
    outcomes: list[dict[str, Any]] = []
    notes: list[str] = []
    if rep is not None and len(table):
        rows = yield_pairs(table, rep)
        outcomes = yield_figures(rows)
        if not outcomes:  # asked for, nothing to show: a file of other seasons (a farm history) — refused, as
            # `models performance` refuses a file without enough fields (a walkthrough had exit 0 and one line)
            have = sorted(set(rep["season"].astype(str))) if "season" in rep.columns else []
            pairs = sorted(set(table["season"].astype(str)))
            why = (f"the file's fields of season {', '.join(sorted(set(have) & set(pairs)))} are none of the pairs' "
                   "(field ids written otherwise?)" if set(have) & set(pairs) else
                   f"the pairs' seasons: {', '.join(pairs)}; the file's: {', '.join(have[:8]) or 'none'}")
            raise UserInputError(f"{Path(str(reported)).name}: no field of the shadow pairs has a reported yield of its "
                                 f"season ({why}): give the season's reported yields (field_id, season, "
                                 "reported_yield_t_ha)")
        small = [f"{f['kind']} {f['as_of']} ({f['fields']})" for f in outcomes if f["fields"] < 30]
        if small:
            notes.append(f"under 30 distinct fields with a reported yield: {', '.join(small)} — their intervals are "
                         "wide")
    from models import registry

    data = getattr(registry.governance(name, v), "data", None) or None
    if len(table) and (table["version_in_force"].astype(str) != v).any():
        labels = {str(getattr(registry.governance(name, x), "data", "") or "")
                  for x in sorted(set(table["version_in_force"].dropna().astype(str))) if x.isdigit()} - {"", data}
        if labels:
            data = " / ".join([str(data), *sorted(labels)])
    return ShadowReport(name=name, version=v, alias=alias, store=shown, coverage=coverage, data=data,
                        pairs=table, reported=None if reported is None else Path(reported).name,
                        outcomes=outcomes, notes=notes, calendar=cal[1])


#: the columns of ``--out`` (one row per paired record; bodies left out)
OUT_COLUMNS = ["season", "kind", "as_of", "record_id", "application_id", "farmer_token", "currency",
               "version_in_force", "version_shadow", "outcome_base", "outcome_candidate", "limit_base",
               "limit_candidate", "granted_base", "granted_candidate", "granted_change", "value_base",
               "value_candidate", "maturity_base", "maturity_candidate", "actions_base", "actions_candidate",
               "reasons_added", "reasons_removed", "changed"]


def pairs_table(report: ShadowReport) -> pd.DataFrame:
    """The report's per-record pairs as ``--out`` writes them (``*_base``: the record in force, ``*_candidate``:
    the shadow decision)."""
    t = report.pairs
    return t[[c for c in OUT_COLUMNS if c in t.columns]].rename(
        columns=lambda c: c.replace("_base", "_in_force").replace("_candidate", "_shadow"))


@dataclass(frozen=True)
class ShadowEvidence:
    """What ``models promote --shadow-store`` checked (:func:`shadow_evidence`): ``failure`` (None: a whole season
    in shadow), ``said`` (the line printed), ``record`` (what the promotion's alias-history entry keeps: the store as
    shown, the season, the rows and dated runs, the judgement)."""

    failure: str | None
    said: str
    record: str


def shadow_evidence(name: str, version: str, store: str, season: str | None = None,
                    calendar: str | Path | None = None) -> ShadowEvidence:
    """Whether ``name`` version ``version`` ran in shadow over a whole season (:data:`WHOLE_SEASON`) in the decision
    store ``store`` (read only, opened once): ``season``, default the latest season with shadow rows of the version
    (:func:`season_order`); the season's end read from ``calendar`` (a season calendar CSV; default as
    :func:`shadow_report`), named in what the alias history keeps. A store that does not exist, a bad calendar
    file: a one-line error."""
    from pipelines.shadow import read_shadow
    from underwriting.store import DecisionStore, store_url

    cal = _calendar(calendar)
    with DecisionStore(store_url(store), create=False, read_only=True) as st, st.snapshot():
        shown = st.shown_url
        version = str(version)
        sh = read_shadow(st, model_name=name, model_version=version)
        seasons = season_order(sh["season"])
        if season is None and not seasons:
            return ShadowEvidence(f"no shadow decision of it in {shown}: it never ran in shadow (a season in shadow "
                                  "is required before promotion)", f"shadow evidence: none in {shown}",
                                  f"checked {shown}: no shadow row of version {version}")
        s = str(season) if season is not None else seasons[-1]
        ss = sh[sh["season"].astype(str) == s]
        if ss.empty:
            return ShadowEvidence(f"no shadow decision of it in season {s} in {shown} (its seasons in shadow: "
                                  f"{', '.join(seasons) or 'none'})", f"shadow evidence: none of season {s} in {shown}",
                                  f"checked {shown}, season {s}: no shadow row of version {version}")
        cov = season_coverage(s, _season_records(st, s, name), ss, name, version, run_id=version_run(name, version),
                              calendar=cal[0], calendar_name=cal[1])
    # the season's end read from a bank's calendar file: named in what is said and kept
    by = f", its end by calendar {cal[1]}" if cal[1] else ""
    counted = (f"{cov.rows} shadow row(s) over {len(cov.dates)} dated run(s)"
               + (f", {cov.overrides} override(s) left out" if cov.overrides else ""))
    if cov.whole:
        return ShadowEvidence(None, f"shadow evidence: {name} version {version} ran in shadow over the whole season "
                              f"{s} in {shown}{by} ({counted.replace('shadow row(s)', 'shadow decision(s)')})",
                              f"checked {shown}, season {s}{by}: {counted}; a whole season")
    missing = cov.missing_text(ids=False)  # kept in the alias history for good: counts, no application ids
    return (ShadowEvidence(f"did not run in shadow over the whole season {s} in {shown}{by}: {missing}",
                           f"shadow evidence: season {s} in {shown}{by} incomplete ({counted})",
                           f"checked {shown}, season {s}{by}: {counted}; incomplete: {missing}"))
