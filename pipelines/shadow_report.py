"""``agcredit models shadow``: a model-risk report of a version's shadow decisions (:mod:`pipelines.shadow`).

CREDIT_POLICY.md: "the challenger runs in shadow for a season before promotion". The shadow table keeps, beside each
record of the version in force, what the shadow version decided with the same inputs on the same date, written
then — before any outcome was known. This module reads it (the store read only, nothing written) and says:

* **Coverage**: per season and dated run of the store's records (each underwriting and re-underwriting date: kind,
  as-of date), how many records were decided by another version of the model than the shadow one and how many of
  those have a shadow row of it; which version was in force (several: a promotion mid-season — each date's shadow
  rows stand beside that date's own records); records the shadow version decided itself (once promoted) need none.
  :data:`WHOLE_SEASON` is the definition of "ran in shadow over a whole season" that ``models promote
  --shadow-store`` asks for.
* **What the shadow would have changed**: per date and overall, the outcomes' transitions (in force → shadow), the
  lines whose limit differs, the limits and granted limits each side, reason codes added and removed, the largest
  differences — the comparison of ``models impact`` (:func:`pipelines.impact.compare_decisions`,
  :class:`pipelines.impact.ImpactResult`), on decisions written in the season instead of re-decided now.
* **Against outcomes** (a reported yields file, as ``models performance yield-value`` reads it): each side's field
  yield predictions as recorded in the bodies (``yield_p10_t_ha``, ``yield_p50_t_ha``) against the reported yield,
  per checkpoint of the records (``provenance.checkpoint``): P50 absolute error and share below P10, each side and
  the paired difference (shadow − in force) with a 95% bootstrap interval, farmers drawn whole.

Application ids and pseudonymous farmer tokens only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines._shadow_outcomes import yield_figures, yield_pairs

__all__ = ["WHOLE_SEASON", "ShadowReport", "SeasonCoverage", "shadow_report", "season_coverage",
           "record_version", "yield_pairs", "yield_figures", "resolve_version"]

#: what "ran in shadow over a whole season" means here (printed with every judgement)
WHOLE_SEASON = ("ran in shadow over the whole season: every dated run of the season's records in the store (the "
                "underwriting date(s) and each later re-underwriting date) has a shadow row of the version beside "
                "every record decided by another version of the model, and there is at least one such row (records "
                "the version decided itself, once in force, need none)")
#: the record kinds a run writes (an override is an analyst's, not a run's: not shadowed)
_RUN_KINDS = ("decision", "reunderwrite")
_CROP_VERSION = re.compile(r"^crop-type version (\d+)\b")


def record_version(body: dict[str, Any], name: str) -> str | None:
    """The version of ``name`` a record was decided with: yield-value from the body's ``models``, crop-type from
    ``provenance.crop_model_version`` (``crop-type version 3 (champion), run …``); None when it names none (a run
    without a crop model, a saved folder)."""
    if name == "crop-type":
        text = str((body.get("provenance") or {}).get("crop_model_version") or "")
        m = _CROP_VERSION.match(text)
        return m.group(1) if m else None
    for m in body.get("models") or []:
        if isinstance(m, dict) and m.get("name") == name:
            return str(m.get("version"))
    return None


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


@dataclass(frozen=True)
class SeasonCoverage:
    """One season's coverage: ``dates`` one row per dated run (kind, as_of, records, in_force (``"1: 61"``-style
    counts of the versions in force), own (records the shadow version decided itself), beside (decided by another
    version), shadowed (of those, with a shadow row), missing (application ids without one, sorted), covered), the
    judgement (:data:`WHOLE_SEASON`) and what stands out (notes)."""

    season: str
    dates: list[dict[str, Any]]
    whole: bool
    notes: list[str]

    def missing_text(self) -> str:
        """What is missing for a whole season in one phrase (empty when nothing is)."""
        gaps = [f"{d['kind']} {d['as_of']} ({len(d['missing'])} of {d['beside']} record(s) without a shadow row"
                + (f", e.g. {', '.join(d['missing'][:3])}" if d["missing"] else "") + ")"
                for d in self.dates if not d["covered"]]
        if gaps:
            return "; ".join(gaps)
        if not any(d["shadowed"] for d in self.dates):
            return "no shadow row at any date"
        return ""


def season_coverage(season: str, records: pd.DataFrame, shadow: pd.DataFrame, name: str,
                    version: str) -> SeasonCoverage:
    """Coverage of ``season`` (module docstring): ``records`` the store's records of the season (with ``body_dict``
    and ``in_force``: :func:`record_version`), ``shadow`` its shadow rows of ``name`` version ``version``."""
    recs = records[records["kind"].isin(_RUN_KINDS)]
    have = set(shadow["record_id"].astype(str))
    dates: list[dict[str, Any]] = []
    notes: list[str] = []
    keys = recs[["as_of", "kind"]].drop_duplicates().sort_values(["as_of", "kind"], kind="mergesort")
    for as_of, kind in keys.itertuples(index=False):
        g = recs[(recs["as_of"] == as_of) & (recs["kind"] == kind)]
        vers = Counter("none" if v is None else str(v) for v in g["in_force"])
        own = g["in_force"].astype(str) == str(version)
        beside = g[~own]
        hit = beside["record_id"].astype(str).isin(have)
        missing = sorted(beside.loc[~hit, "application_id"].astype(str))
        dates.append({"kind": str(kind), "as_of": str(as_of), "records": len(g),
                      "in_force": {k: vers[k] for k in sorted(vers)}, "own": int(own.sum()),
                      "beside": len(beside), "shadowed": int(hit.sum()), "missing": missing,
                      "covered": not missing})
    versions = sorted({v for d in dates for v in d["in_force"] if v != str(version)})
    if len(versions) > 1:
        notes.append(f"season {season}: more than one {name} version in force ({', '.join('v' + v for v in versions)}"
                     "): a promotion mid-season — each date's shadow rows stand beside that date's own records")
    own_dates = [d["as_of"] for d in dates if d["own"]]
    if own_dates:
        notes.append(f"season {season}: {name} version {version} decided records itself (in force) on "
                     f"{', '.join(own_dates)}: they need no shadow row")
    by_id = recs.set_index(recs["record_id"].astype(str))["in_force"]
    stale = [r for r in shadow.itertuples(index=False) if str(r.record_id) in by_id.index
             and str(r.in_force_version) != str(by_id[str(r.record_id)])]
    if stale:
        notes.append(f"season {season}: {len(stale)} shadow row(s) name another version in force than their record "
                     "does (compared with the record as stored)")
    alone = sorted(set(shadow["record_id"].astype(str)) - set(recs["record_id"].astype(str)))
    if alone:
        notes.append(f"season {season}: {len(alone)} shadow row(s) stand beside no record of the season's runs in "
                     "this store (left out)")
    whole = bool(dates) and all(d["covered"] for d in dates) and any(d["shadowed"] for d in dates)
    return SeasonCoverage(season=str(season), dates=dates, whole=whole, notes=notes)


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
        return {"records": n["applications"], "changed": n["changed"], "outcome_changed": n["outcome_changed"],
                "limit_differs": int((t["limit_base"] != t["limit_candidate"]).sum()),
                "limit_up": n["limit_up"], "limit_down": n["limit_down"], "totals": self._limits(t),
                "transitions": imp.transitions(), "reasons": imp.reasons(),
                "largest": [{"as_of": r.as_of, "kind": r.kind, "application_id": r.application_id,
                             "farmer_token": r.farmer_token, "currency": r.currency, "outcome_in_force": r.outcome_base,
                             "outcome_shadow": r.outcome_candidate, "limit_in_force": int(r.limit_base),
                             "limit_shadow": int(r.limit_candidate), "reasons_added": r.reasons_added,
                             "reasons_removed": r.reasons_removed} for r in big.itertuples(index=False)]}

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
                            "notes": cov.notes, "dates": dates,
                            "comparison": self.comparison(t, top) if len(t) else None})
        return json_ready({"model": self.name, "version": self.version, "alias": self.alias, "store": self.store,
                           "data": self.data,
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
                       else f"did NOT run in shadow over the whole season: missing {cov.missing_text()}")
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
                       f"down {c['limit_down']}); {tot}")
            rs = c["reasons"]
            if rs["added"] or rs["removed"]:
                out.append("    reasons: " + ", ".join([*(f"+{k} ({v})" for k, v in rs["added"].items()),
                                                         *(f"-{k} ({v})" for k, v in rs["removed"].items())]))
        big = self.comparison(self.pairs, top)["largest"]
        if big:
            out.append(f"largest differences (of {self.comparison(self.pairs, top)['changed']}):")
            for r in big:
                oc = (f"{r['outcome_in_force']} → {r['outcome_shadow']}" if r["outcome_in_force"] != r["outcome_shadow"]
                      else r["outcome_in_force"])
                why = [*(f"+{x}" for x in r["reasons_added"].split(";") if x),
                       *(f"-{x}" for x in r["reasons_removed"].split(";") if x)]
                out.append(f"  {r['kind']} {r['as_of']} {r['application_id']} (farmer {r['farmer_token']}): {oc}, "
                           f"limit {format_minor(r['limit_in_force'], r['currency'])} → "
                           f"{format_minor(r['limit_shadow'], r['currency'])}" + (f"; {' '.join(why)}" if why else ""))
        if self.reported is not None:
            out.append(f"against the reported yields ({self.reported}): the predictions each side recorded, per "
                       "checkpoint (shadow − in force; " + _interval_words() + ")")
            if not self.outcomes:
                out.append("  no paired field has a reported yield of its season")
            for f in self.outcomes:
                e, b = f["p50_abs_error_t_ha"], f["below_p10"]
                out.append(f"  {f['checkpoint']} ({', '.join(f['dates'])}; {f['fields']} field(s), {f['farmers']} "
                           f"farmer(s)): P50 abs error {e['in_force']:.3f} → {e['shadow']:.3f} t/ha "
                           f"({e['difference']:+.3f}{_ci(e['interval'], '+.3f')}); below P10 "
                           f"{b['in_force']:.1%} → {b['shadow']:.1%} ({100 * b['difference']:+.1f} points"
                           f"{_ci(b['interval'], '+.1f', 100.0)})")
        out.extend(f"note: {n}" for n in self.notes)
        return out


def _plain_records(t: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready dicts (missing values None, numpy scalars as Python's)."""
    rows = t.astype(object).where(t.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in rows]


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


def _store_rows(url: str, season: str | None) -> pd.DataFrame:
    from underwriting.store import DecisionStore

    with DecisionStore(url, create=False, read_only=True) as st:
        return st.records(season)


def shadow_report(name: str, store: str | None = None, *, version: str = "challenger", season: str | None = None,
                  reported: str | Path | None = None) -> ShadowReport:
    """The shadow report of ``name``'s ``version`` (a number or an alias; default the challenger) in the decision
    store ``store`` (default as every reader: ``AGCREDIT_STORE_URL``, else the SQLite default), read only: the seasons
    with shadow rows of the version (or ``season``), their coverage (:func:`season_coverage`, :data:`WHOLE_SEASON`),
    the records paired with their shadow rows compared, and with ``reported`` (a reported yields file) the recorded
    predictions of each side against the reported yields. One-line user errors: an unknown model, version or alias,
    a store that does not exist, no shadow row of the version (in the season)."""
    from pipelines.impact import MODEL_NAMES, compare_decisions
    from pipelines.shadow import read_shadow
    from underwriting.store import DecisionStore, store_url

    if name not in MODEL_NAMES:
        raise UserInputError(f"models shadow: shadow decisions are kept for {' and '.join(MODEL_NAMES)}, not {name!r}")
    url = store_url(store)
    with DecisionStore(url, create=False, read_only=True) as st:  # a store that does not exist: one line
        shown = st.shown_url
    v, alias = resolve_version(name, version)
    sh = read_shadow(url, season=season, model_name=name, model_version=v)
    if sh.empty:
        where = f" of season {season}" if season is not None else ""
        raise UserInputError(f"models shadow: no shadow decision{where} of {name} version {v}"
                             + (f" ({alias})" if alias else "") + f" in {shown}: nothing to report (a version runs "
                             "in shadow while it is the challenger: underwrite and reunderwrite write its rows)")
    rep = None
    if reported is not None:
        from pipelines.outcomes import _reported_rows
        from pipelines.train_yield import read_reported

        if name != "yield-value":
            raise UserInputError("models shadow --reported: reported yields are the yield-value model's outcomes")
        rep, _ = _reported_rows(read_reported(Path(reported), keep_crop=True), str(reported))
    import json

    coverage, pairs = [], []
    for s in sorted(set(sh["season"].astype(str))):
        recs = _store_rows(url, s)
        recs = recs.assign(body_dict=[json.loads(b) for b in recs["body"]])
        recs = recs.assign(in_force=[record_version(b, name) for b in recs["body_dict"]])
        ss = sh[sh["season"].astype(str) == s]
        coverage.append(season_coverage(s, recs, ss, name, v))
        paired = ss.merge(recs[["record_id", "seq", "in_force"]], on="record_id", how="inner")
        for (as_of, kind), g in paired.groupby(["as_of", "kind"], sort=True):
            base = recs[recs["record_id"].isin(g["record_id"])]
            # one pair per application and date (two records of one application on one date: the later one's)
            keep = base.sort_values("seq").drop_duplicates("application_id", keep="last")
            shadow_side = g[g["record_id"].isin(keep["record_id"])]
            shadow_side = shadow_side.assign(body_dict=[json.loads(b) for b in shadow_side["body"]])
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
    cols = ["season", "kind", "as_of", "record_id"]
    table = (pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(columns=cols))
    table = table.sort_values(["season", "as_of", "kind", "application_id"], kind="mergesort").reset_index(drop=True)
    outcomes: list[dict[str, Any]] = []
    notes: list[str] = []
    if rep is not None and len(table):
        rows = yield_pairs(table, rep)
        outcomes = yield_figures(rows)
        small = [f"{f['checkpoint']} ({f['fields']})" for f in outcomes if f["fields"] < 30]
        if small:
            notes.append(f"under 30 paired fields with a reported yield: {', '.join(small)} — their intervals are "
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
                        outcomes=outcomes, notes=notes)


#: the columns of ``--out`` (one row per paired record; bodies left out)
OUT_COLUMNS = ["season", "kind", "as_of", "record_id", "application_id", "farmer_token", "currency",
               "version_in_force", "version_shadow", "outcome_base", "outcome_candidate", "limit_base",
               "limit_candidate", "granted_base", "granted_candidate", "granted_change", "value_base",
               "value_candidate", "reasons_added", "reasons_removed", "changed"]


def pairs_table(report: ShadowReport) -> pd.DataFrame:
    """The report's per-record pairs as ``--out`` writes them (``*_base``: the record in force, ``*_candidate``:
    the shadow decision)."""
    t = report.pairs
    return t[[c for c in OUT_COLUMNS if c in t.columns]].rename(
        columns=lambda c: c.replace("_base", "_in_force").replace("_candidate", "_shadow"))


def shadow_evidence(name: str, version: str, store: str, season: str | None = None) -> tuple[str | None, str]:
    """Whether ``name`` version ``version`` ran in shadow over a whole season (:data:`WHOLE_SEASON`) in the decision
    store ``store`` (read only): ``season``, default the latest season with shadow rows of the version. Returns
    (the failure in one phrase — None when it did —, a line saying what was checked). A store that does not exist:
    a one-line error."""
    from pipelines.shadow import read_shadow
    from underwriting.store import DecisionStore, store_url

    url = store_url(store)
    with DecisionStore(url, create=False, read_only=True) as st:
        shown = st.shown_url
    sh = read_shadow(url, model_name=name, model_version=str(version))
    seasons = sorted(set(sh["season"].astype(str)), key=lambda x: (len(x), x))
    if season is None and not seasons:
        return (f"no shadow decision of it in {shown}: it never ran in shadow (a season in shadow is required before "
                "promotion)", f"shadow evidence: none in {shown}")
    s = str(season) if season is not None else seasons[-1]
    ss = sh[sh["season"].astype(str) == s]
    if ss.empty:
        return (f"no shadow decision of it in season {s} in {shown} (its seasons in shadow: "
                f"{', '.join(seasons) or 'none'})", f"shadow evidence: none of season {s} in {shown}")
    import json

    recs = _store_rows(url, s)
    recs = recs.assign(in_force=[record_version(json.loads(b), name) for b in recs["body"]])
    cov = season_coverage(s, recs, ss, name, str(version))
    dates = len(cov.dates)
    rows = sum(d["shadowed"] for d in cov.dates)
    if cov.whole:
        return None, (f"shadow evidence: {name} version {version} ran in shadow over the whole season {s} in {shown} "
                      f"({rows} shadow decision(s) over {dates} dated run(s))")
    return (f"did not run in shadow over the whole season {s} in {shown}: missing {cov.missing_text()}",
            f"shadow evidence: season {s} in {shown} incomplete")
