"""Promotion and policy impact on the Book's re-underwriting (``agcredit models impact --reunderwriting``, ``agcredit
policy impact --reunderwriting``): what a model version or a policy, adopted mid-season, would do to the loans already
on the Book at the next re-underwriting checkpoint, before it is adopted.

The Book's lines active on the as-of date are re-underwritten twice, each exactly as ``agcredit reunderwrite --as-of``
runs them (:func:`pipelines.reunderwrite.reunderwrite_county` for a county folder,
:func:`~pipelines.reunderwrite.reunderwrite_files` for a bank's files, ``book_check_when_deciding`` as the command
sets it) — once with the version in force (``--against``, default the champion in force on the date, as the command
resolves it) and once with the candidate; or once under each policy — everything else the same. The decision store
(required: the lines' previous records live there; default the one ``reunderwrite`` writes to) is read as it stands
now through a read-only view (:func:`pipelines.replay.store_view`) and nothing is written: each run's new records go
to a list (``collect``), its features artifact is hashed, not written. Each side is what ``reunderwrite`` would
append with that version or policy, line by line.

The comparison is the impact's (:func:`pipelines.impact.compare_decisions`: outcome, limit, granted, maturity,
proposed actions, reasons), keyed by application (one row per re-underwritten line; a farmer's several lines are one
row ``L1+L2``, as re-underwriting decides them) with the line's id, Book limit, outstanding balance and previous limit
beside it; what re-underwriting adds is said too: per run, how many lines get each proposed action (freeze the undrawn
line, shorten the term, send to review) and how many are left below their outstanding balance, and the lines whose
proposed actions change. What re-underwriting says of lines it does not re-decide (a line whose application has a
record after the date, a line without an application, held lines) is said as it says it, once when both runs say
it.

With later checkpoints of the season (``--then``, :class:`SeasonImpact`): each side re-underwrites the Book at each
later date too, on the store as the first date's runs read it plus that side's own records of the earlier dates,
overlaid as if written (:func:`pipelines.replay.store_view`'s ``extra``) — the candidate's second checkpoint follows
the candidate's first, as the store would stand had it been adopted; nothing is written. The first date's comparison
is the one-date impact's (its rows with ``previous_limit_candidate`` too); each later one is compared the same way,
then the season's summary (each line's limit per side at each date, the lines given each proposed action at any date,
the lines whose last limit differs, the last date's limits against the outstanding balances). A season's lines carry
each side's limit before the date (``previous_limit``, ``previous_limit_candidate``: at a later date each side's own);
a version in force that changes between the dates (a promotion) is named per date, and the candidate itself in force
at a later date is compared still (said).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines.impact import (
    ImpactResult,
    candidate_models,
    compare_decisions,
    held_out_of,
    merge_said,
    policy_text,
    resolve_policy,
)

__all__ = ["ACTIONS", "LINE_COLUMNS", "ReunderwritingImpact", "SeasonImpact", "compare_lines",
           "policy_impact_reunderwriting", "promotion_impact_reunderwriting"]

#: the proposed actions of re-underwriting (:func:`pipelines.reunderwrite.propose_actions`), in the order it proposes
ACTIONS = ("FREEZE_UNDRAWN", "SHORTEN_TERM", "REVIEW")
#: the line's columns put before the impact's own (:data:`pipelines.impact.APPLICATION_COLUMNS`)
LINE_COLUMNS = ["line_id", "book_limit", "outstanding", "previous_limit", "not_reestimated_base",
                "not_reestimated_candidate"]


def _line(item: Any) -> dict[str, Any]:
    return item.body.get("reunderwrite") or {}


def compare_lines(base: list[Any], candidate: list[Any], *, candidate_previous: bool = False) -> pd.DataFrame:
    """:func:`pipelines.impact.compare_decisions` of two re-underwriting runs' records (kind ``reunderwrite``), one row
    per line, by line id: the line's id, Book limit, outstanding balance and the limit it is compared with
    (``previous_limit``, the version in force's run's; with ``candidate_previous`` — a season's impact, each side after
    its own earlier records — the candidate's run's too, ``previous_limit_candidate``), and each run's codes of a line
    not re-estimated (the models could not value its fields at this checkpoint: kept as it stands), before the
    impact's columns."""
    t = compare_decisions(base, candidate)
    a = {i.application_id: _line(i) for i in base}
    b = {i.application_id: _line(i) for i in candidate}
    ids = t["application_id"]
    prev = {"previous_limit": [int(a[x].get("previous_limit") or 0) for x in ids]}
    if candidate_previous:
        prev["previous_limit_candidate"] = [int(b[x].get("previous_limit") or 0) for x in ids]
    lines = pd.DataFrame({
        "line_id": [str(a[x].get("line_id", "")) for x in ids],
        "book_limit": [int(a[x].get("book_limit") or 0) for x in ids],
        "outstanding": [int(a[x].get("outstanding") or 0) for x in ids],
        **prev,
        "not_reestimated_base": [",".join(a[x].get("not_reestimated") or []) for x in ids],
        "not_reestimated_candidate": [",".join(b[x].get("not_reestimated") or []) for x in ids]},
        index=t.index)
    out = pd.concat([lines, t], axis=1)
    return out.sort_values("line_id", kind="stable").reset_index(drop=True)


def _action_counts(actions: pd.Series) -> dict[str, int]:
    c = Counter(a for s in actions for a in str(s).split(";") if a)
    return {a: int(c.get(a, 0)) for a in [*ACTIONS, *sorted(set(c) - set(ACTIONS))]}


def _acts(s: str) -> str:
    return s.replace(";", ", ") or "none"


@dataclass(frozen=True)
class ReunderwritingImpact(ImpactResult):
    """The Book's re-underwriting as of a date, twice (:func:`promotion_impact_reunderwriting`,
    :func:`policy_impact_reunderwriting`): :class:`~pipelines.impact.ImpactResult` whose rows are lines."""

    #: the lines held (line id (application id)), as re-underwriting holds them: their previous records stay in force
    held_lines: tuple[str, ...] = ()
    #: lines one run re-decides and the other does not (a date already re-underwritten: what a re-run keeps), by run
    one_run_only: dict[str, list[str]] = field(default_factory=dict)
    #: which model versions are in force on the date and why (:attr:`pipelines._champions.ChampionModels.said`)
    models_said: str | None = None
    #: what the run in force said of the active lines it did not re-underwrite (no application, decided after the
    #: date, matured): not compared
    skipped: tuple[str, ...] = ()
    #: a later date of a season's impact at which neither side re-decided a line: why (:func:`nothing_at`)
    nothing: str | None = None

    def lines(self, top: int = 10) -> list[str]:
        if self.nothing is None:
            return super().lines(top=top)
        what = "policy impact" if self.name == "policy" else "promotion impact"
        return [f"{what} as of {self.as_of}: no line of the Book to re-underwrite (season {self.season}; "
                f"{self.nothing}): nothing compared at this date", *([self.models_said] if self.models_said else [])]

    def actions(self) -> dict[str, Any]:
        """Per run: lines getting each proposed action, lines with any, lines left with a limit below their
        outstanding balance; and the lines whose proposed actions change (line id → base's, candidate's)."""
        t = self.applications
        changed = t[t["actions_base"] != t["actions_candidate"]]
        return {"base": _action_counts(t["actions_base"]), "candidate": _action_counts(t["actions_candidate"]),
                "lines_with_actions": {"base": int((t["actions_base"] != "").sum()),
                                       "candidate": int((t["actions_candidate"] != "").sum())},
                "below_outstanding": {"base": int((t["limit_base"] < t["outstanding"]).sum()),
                                      "candidate": int((t["limit_candidate"] < t["outstanding"]).sum())},
                "changed": {str(r.line_id): [r.actions_base, r.actions_candidate]
                            for r in changed.itertuples(index=False)}}

    _actions_of = "proposed actions"

    def _header(self, n: int) -> list[str]:
        label = f" ({self.data} data)" if self.data else ""
        what = (f"policy impact of {self.candidate} against {self.base}{label}" if self.name == "policy" else
                f"promotion impact of {self.compared()} against {self.base}{label}")
        under = (f"profile {self.profile}, {self.policy}" if self.name == "policy" else
                 f"policy {self.policy} profile {self.profile}")
        lines = f"{n} active lines re-underwritten twice" + ("; others skipped, not compared: see below"
                                                              if self.skipped else "")
        return [f"{what} on the Book's re-underwriting as of {self.as_of} ({lines}): "
                f"season {self.season}, {under} — nothing stored", *([self.models_said] if self.models_said else [])]

    def _more_lines(self, top: int) -> list[str]:
        out = []
        a = self.actions()
        for key, who in (("base", self.base), ("candidate", self.candidate)):
            acts = ", ".join(f"{k} {v}" for k, v in a[key].items())
            out.append(f"proposed actions, {who}: {a['lines_with_actions'][key]} line(s) ({acts}); "
                       f"{a['below_outstanding'][key]} line(s) with a limit below the outstanding balance")
        moves = Counter((x, y) for x, y in a["changed"].values())
        out.append(f"lines whose proposed actions change: {len(a['changed'])}"
                   + (" (" + "; ".join(f"{_acts(x)} → {_acts(y)}: {k}" for (x, y), k in
                                       sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))) + ")"
                      if moves else ""))
        shown = list(a["changed"].items())[:top]
        out.extend(f"  line {line}: {_acts(x)} → {_acts(y)}" for line, (x, y) in shown)
        if len(a["changed"]) > len(shown):
            out.append(f"  and {len(a['changed']) - len(shown)} more (--top, --json, --out)")
        from models.money import format_minor

        for cur, g in self.applications.groupby("currency", sort=True):
            lb, lc = int(g["limit_base"].sum()), int(g["limit_candidate"].sum())
            pct = f"{100.0 * (lc - lb) / lb:+.1f}%" if lb else ("±0" if lc == lb else "new")
            pb = format_minor(int(g["previous_limit"].sum()), str(cur))
            before = f"before this checkpoint {pb}"
            # a season's later date: each side after its own earlier records, said when they differ
            n = int((g["previous_limit_candidate"] != g["previous_limit"]).sum()) \
                if "previous_limit_candidate" in g else 0
            if n:
                pc = format_minor(int(g["previous_limit_candidate"].sum()), str(cur))
                before = (f"before this checkpoint: {self.base} {pb}, {self.candidate} {pc} (each side's own "
                          f"earlier records; {n} line(s) differ)")
            out.append(f"the lines' limits: {format_minor(lb, str(cur))} → {format_minor(lc, str(cur))} ({pct}) "
                       f"against {format_minor(int(g['outstanding'].sum()), str(cur))} outstanding; {before} (the "
                       f"Book's limits {format_minor(int(g['book_limit'].sum()), str(cur))}); a DECLINE's limit "
                       "counts 0")
        out.extend(f"not compared: {w}" for w in self.skipped)
        if self.held_lines:
            out.append(f"{len(self.held_lines)} line(s) not re-underwritten (held; their previous records stay in "
                       f"force): {', '.join(self.held_lines[:5])}"
                       + (f" and {len(self.held_lines) - 5} more" if len(self.held_lines) > 5 else ""))
        for who, ids in self.one_run_only.items():
            out.append(f"{len(ids)} line(s) re-underwritten by {who} only (not compared): {', '.join(ids[:5])}"
                       + (f" and {len(ids) - 5} more" if len(ids) > 5 else ""))
        return out

    def _who(self, r: Any) -> str:
        return f"line {r.line_id} ({r.application_id}, farmer {r.farmer_token})"

    def _more_json(self) -> dict[str, Any]:
        return {"reunderwriting": {"lines": len(self.applications), "nothing": self.nothing,
                                   "skipped": list(self.skipped),
                                   "actions": self.actions(),
                                   "held_lines": list(self.held_lines), "one_run_only": dict(self.one_run_only),
                                   "models_said": self.models_said}}


def _some(ids: list[str], top: int) -> str:
    """`` (L1, L2 and 3 more)``: the first ``top`` of ``ids`` (nothing when none or ``top`` 0)."""
    if not ids or not top:
        return ""
    return f" ({', '.join(ids[:top])}" + (f" and {len(ids) - top} more" if len(ids) > top else "") + ")"


@dataclass(frozen=True)
class SeasonImpact:
    """The Book's re-underwriting at several checkpoints of the season, twice (``--then``): one
    :class:`ReunderwritingImpact` per date (the first as without ``--then``; at each later one each side after its
    own records of the earlier ones) and the season's summary over them."""

    dates: tuple[ReunderwritingImpact, ...]

    @property
    def warnings(self) -> list[str]:
        """The first date's warnings, then each later date's own, prefixed with its date — those the first date said
        too left out (said once, unprefixed); a later date's said at another later date too are said at each."""
        out = list(self.dates[0].warnings)
        for imp in self.dates[1:]:
            out.extend(f"as of {imp.as_of}: {w}" for w in dict.fromkeys(imp.warnings)
                       if w not in self.dates[0].warnings)
        return out

    @property
    def applications(self) -> pd.DataFrame:
        """Every date's lines (``--out``): one row per (date, line), the date in ``as_of`` first."""
        return pd.concat([imp.applications.assign(as_of=imp.as_of.isoformat())[
            ["as_of", *imp.applications.columns]] for imp in self.dates], ignore_index=True)

    def labels(self) -> dict[str, list[str]]:
        """Each side's label at each date (the version in force is re-resolved per date: a promotion between the
        dates changes it)."""
        return {"base": [i.base for i in self.dates], "candidate": [i.candidate for i in self.dates]}

    def sides(self) -> dict[str, str]:
        """What the summary calls each side: its label, or — when it differs across the dates — "the version in
        force" (the candidate's: "the candidate")."""
        return {side: v[0] if len(set(v)) == 1 else ("the version in force" if side == "base" else "the candidate")
                for side, v in self.labels().items()}

    def summary(self) -> dict[str, Any]:
        """Each side's label at each date (``labels``); per line (by line id): its application, currency and each
        side's limit at each date (None: not compared that date); per side, the lines given each proposed action at
        any date; the lines whose last limit differs (each side's at the last date it re-decided the line); at the
        last date with lines (a later date may have none: ``without_lines``), per currency, the lines' limits per side
        against their outstanding balance."""
        n = len(self.dates)
        lines: dict[str, dict[str, Any]] = {}
        acted: dict[str, dict[str, set[str]]] = {"base": {}, "candidate": {}}
        for k, imp in enumerate(self.dates):
            for r in imp.applications.to_dict("records"):
                line = str(r["line_id"])
                e = lines.setdefault(line, {"application_id": str(r["application_id"]), "currency": str(r["currency"]),
                                            "base": [None] * n, "candidate": [None] * n})
                for side in ("base", "candidate"):
                    e[side][k] = int(r[f"limit_{side}"])
                    for a in str(r[f"actions_{side}"]).split(";"):
                        if a:
                            acted[side].setdefault(a, set()).add(line)

        def last(v: list[int | None]) -> int | None:
            return next((x for x in reversed(v) if x is not None), None)

        differs = [line for line, e in sorted(lines.items()) if last(e["base"]) != last(e["candidate"])]
        totals = {}
        # the last date with lines (a later date may have none: every line matured, say)
        final = next(imp for imp in reversed(self.dates) if imp.nothing is None)
        for cur, g in final.applications.groupby("currency", sort=True):
            totals[str(cur)] = {"limit_base": int(g["limit_base"].sum()),
                                "limit_candidate": int(g["limit_candidate"].sum()),
                                "outstanding": int(g["outstanding"].sum()), "lines": len(g)}
        return {"as_of": [imp.as_of.isoformat() for imp in self.dates],
                "labels": self.labels(),
                "lines": {line: lines[line] for line in sorted(lines)},
                "actions_at_any_date": {side: {a: sorted(acted[side].get(a, set()))
                                               for a in [*ACTIONS, *sorted(set(acted[side]) - set(ACTIONS))]}
                                        for side in ("base", "candidate")},
                "last_limit_differs": differs,
                "last_date": {"as_of": final.as_of.isoformat(), "totals": totals},
                "without_lines": [imp.as_of.isoformat() for imp in self.dates if imp.nothing is not None]}

    def lines(self, top: int = 10) -> list[str]:
        first = self.dates[0]
        out = first.lines(top=top)
        for k, imp in enumerate(self.dates[1:], start=1):
            earlier = ", ".join(str(i.as_of) for i in self.dates[:k])
            out.append("")
            out.append(f"then as of {imp.as_of}: each side re-underwrites the Book after its own re-underwriting "
                       f"record(s) of {earlier}, as the store would stand had it been adopted as of {first.as_of}")
            out.extend(imp.lines(top=top))
        from models.money import format_minor

        s = self.summary()
        who = self.sides()
        out.append("")
        out.append(f"season {first.season} over {len(self.dates)} checkpoints ({', '.join(s['as_of'])}): "
                   f"{len(s['lines'])} line(s) compared at one date or more")
        for side in ("base", "candidate"):
            if who[side] not in s["labels"][side]:  # changed between the dates: named per date
                out.append(f"{who[side]}: " + ", ".join(f"{label} as of {day}" for label, day in
                                                        zip(s["labels"][side], s["as_of"], strict=True)))
        names = {"FREEZE_UNDRAWN": "frozen", "SHORTEN_TERM": "shortened", "REVIEW": "sent to review"}
        for side in ("base", "candidate"):
            acts = s["actions_at_any_date"][side]
            text = "; ".join(f"{names.get(a, a)} {len(ids)}{_some(ids, top)}" for a, ids in acts.items())
            out.append(f"lines at any date, {who[side]}: {text}")
        differs = s["last_limit_differs"]
        out.append(f"lines whose last limit differs: {len(differs)} of {len(s['lines'])}"
                   + (" (each side's limit at each date; every line in --json, --out):" if differs and top else ""))

        def limits(e: dict[str, Any], side: str) -> str:
            return " → ".join("-" if x is None else format_minor(x, e["currency"]) for x in e[side])

        for line in differs[:top]:
            e = s["lines"][line]
            out.append(f"  line {line} ({e['application_id']}): {who['base']} {limits(e, 'base')}; "
                       f"{who['candidate']} {limits(e, 'candidate')}")
        if len(differs) > top:
            out.append(f"  and {len(differs) - top} more (--top, --json, --out)")
        for cur, t in s["last_date"]["totals"].items():
            lines_ = "line's limit" if t["lines"] == 1 else "lines' limits"
            last_ = "last date" if not s["without_lines"] else "last date with lines"
            out.append(f"at the {last_} ({s['last_date']['as_of']}), the {t['lines']} {lines_}: "
                       f"{who['base']} {format_minor(t['limit_base'], cur)}, {who['candidate']} "
                       f"{format_minor(t['limit_candidate'], cur)}, against {format_minor(t['outstanding'], cur)} "
                       "outstanding")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"as_of": self.dates[0].as_of.isoformat(), "then": [i.as_of.isoformat() for i in self.dates[1:]],
                "dates": [i.to_json() for i in self.dates], "season_summary": self.summary(),
                "warnings": self.warnings}


# --- the Book's source: a county folder or a bank's files ---------------------------------------------------------

@dataclass(frozen=True)
class _Source:
    """The Book's lines' inputs, read and checked once as ``agcredit reunderwrite --as-of`` reads them."""

    season: str
    weather: Any
    county: Any = None
    files: Any = None
    cache_dir: Path | None = None
    allow_missing_acquisitions: bool = False

    def profile(self, policy: Any, profile: str | None, as_of: dt.date) -> str:
        """``profile``, else the county's, else the policy's profile in the lines' currency (as the command)."""
        if profile:
            return profile
        if self.county is not None:
            if not self.county.profile:
                raise UserInputError(f"{self.county.path}: county.json has no policy_profile; give --profile")
            return str(self.county.profile)
        from pipelines.reunderwrite import files_profile

        return files_profile(policy, self.files.applications, self.files.book, self.season, as_of)

    def book_lines(self, as_of: dt.date) -> pd.DataFrame | None:
        """The Book's lines active on ``as_of`` in the season (as re-underwriting counts them); None when the Book
        cannot be read so here (said by the runs)."""
        from pipelines.reunderwrite import active_lines

        try:
            book = self.county.book(not_after=as_of) if self.county is not None else self.files.book
            return active_lines(book, as_of, self.season)
        except UserInputError:
            return None

    def application_ids(self, as_of: dt.date) -> set[str] | None:
        """The application ids a re-underwriting of this Book writes records under: the applications file's and the
        Book's lines' (None when they cannot be read here)."""
        try:
            apps = self.county.applications() if self.county is not None else self.files.applications
        except UserInputError:
            return None
        lines = self.book_lines(as_of)
        ids = set(apps["application_id"].astype(str))
        return ids | set(lines["application_id"].astype(str)) if lines is not None else ids

    def later_days(self, what: str, as_of: dt.date, then: Sequence[dt.date]) -> list[dt.date]:
        """The ``--then`` dates checked as ``--as-of`` is (in the season, inside its imagery window, not after today),
        each after ``as_of`` and the one before it; one-line errors naming the date."""
        if not then:
            return []
        from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

        fields = self.county.fields() if self.county is not None else self.files.fields
        prev, named = as_of, "--as-of"
        for day in then:
            if day <= prev:
                raise UserInputError(f"{what} --reunderwriting: --then {day} is not after {named} {prev} (each --then "
                                     "date comes after --as-of and after the --then before it)")
            check_as_of_in_season(fields, self.season, day, label="--then")
            check_as_of_in_window(fields, self.season, day, label="--then")
            prev, named = day, "--then"
        return list(then)

    def run(self, view: Any, as_of: dt.date, *, policy: Any, profile: str, models: Any, collect: list[Any],
            memo: dict[Any, Any]) -> Any:
        from pipelines.reunderwrite import reunderwrite_county, reunderwrite_files

        if self.county is not None:
            return reunderwrite_county(self.county, self.season, as_of, store=view, policy=policy, profile=profile,
                                       models=models, memo=memo, book_check_when_deciding=True, collect=collect,
                                       allow_missing_acquisitions=self.allow_missing_acquisitions)
        return reunderwrite_files(self.files, as_of, store=view, policy=policy, profile=profile,
                                  cache_dir=self.cache_dir, models=models, collect=collect, memo=memo,
                                  allow_missing_acquisitions=self.allow_missing_acquisitions)


def _read_source(what: str, as_of: dt.date, *, county: str | Path | None, fields: str | Path | None,
                 imagery: str | None, book: str | Path | None, applications: str | Path | None,
                 weather: str | Path | None, history: str | Path | None, season: str | None,
                 cache_dir: Path | None, allow_missing_acquisitions: bool) -> _Source:
    """A county folder (its season checked, the date in its window, its rejected fields refused) or a bank's files
    (:func:`pipelines.reunderwrite.read_files_inputs`), as ``reunderwrite --as-of`` reads them; one-line errors."""
    files = {"--fields": fields, "--imagery": imagery, "--book": book, "--applications": applications}
    if county is not None:
        given = [k for k, v in {**files, "--weather": weather, "--history": history}.items() if v is not None]
        if given:
            raise UserInputError(f"{what} --reunderwriting: give --county or --fields/--imagery/--book/--applications"
                                 f", not both ({', '.join(given)} with --county: a county folder holds its own)")
        from pipelines.county import County
        from pipelines.reunderwrite import check_day, season_of

        c = County(county, cache_dir=cache_dir)
        s = season_of(season, c.seasons, c.current_season, f"county {county}")
        check_day(c.fields(), s, as_of)
        c.refuse_rejected(s)
        return _Source(season=s, weather=c.weather(), county=c,
                       allow_missing_acquisitions=allow_missing_acquisitions)
    missing = [k for k, v in files.items() if v is None]
    if missing:
        raise UserInputError(f"{what} --reunderwriting: give --county DIR, or --fields, --imagery, --book and "
                             f"--applications (missing: {', '.join(missing)})")
    from pipelines.reunderwrite import read_files_inputs

    assert fields is not None and imagery is not None and book is not None and applications is not None
    inp = read_files_inputs(fields, str(imagery), book, applications, season, as_of, weather=weather,
                            yield_history=history)
    return _Source(season=inp.season, weather=inp.weather, files=inp, cache_dir=cache_dir,
                   allow_missing_acquisitions=allow_missing_acquisitions)


#: one later date of a season's impact (``--then``): the date, its (models, policy) per side, the sides' labels and the
#: list its warnings go to
Later = tuple[dt.date, list[tuple[Any, Any]], list[str], list[str]]
#: one date's runs: (the runs, the lines both re-decided — each run's records, lines one run only re-decided by label)
Runs = tuple[list[Any], list[list[Any]], dict[str, list[str]]]


def _twice(what: str, src: _Source, view: Any, as_of: dt.date, runs_of: list[tuple[Any, Any]], labels: list[str],
           profile: str, warnings: list[str], later: Sequence[Later] = ()) -> list[Runs]:
    """The Book re-underwritten once per (models, policy) of ``runs_of`` on the read-only ``view``, nothing written;
    (the runs, the lines both re-decided — each run's records, lines one run only re-decided by its label).
    ``warnings`` gains what the runs said (:func:`pipelines.impact.merge_said`). ``later`` (``--then``): then at each
    of those dates in order, each side on the store as the first date's runs read it plus that side's own records of
    the earlier dates (:func:`_dates`). One :data:`Runs` per date."""
    recs = view.records(src.season)
    days = [as_of, *(x[0] for x in later)]
    ids = src.application_ids(as_of)
    for day in days[1:]:
        more = src.application_ids(day)
        ids = None if ids is None or more is None else ids | more
    # this Book's applications only: another region's run of the date, in the same store, is not this Book's
    mine = recs["application_id"].astype(str).isin(ids) if ids is not None else pd.Series(True, index=recs.index)
    dated = recs[(recs["kind"] == "reunderwrite") & recs["as_of"].isin([d.isoformat() for d in days]) & mine]
    if len(dated):
        # the date was re-underwritten: both runs read the store as that run read it (before its first record), so
        # neither compares with the date's own records (a re-run would measure CROP_CONDITION_DETERIORATED against
        # them on one side only)
        from pipelines.replay import store_view

        first = int(dated["seq"].min())
        if not later:
            warnings.append(f"the store already holds {len(dated)} re-underwriting record(s) as of {as_of}: both runs "
                            "read it as it was before them (the date's run's own inputs); records written since are "
                            "not read")
        else:
            n = dated.groupby("as_of").size()
            since = recs[mine & (recs["seq"] >= first)]  # the first of them and every record of this Book after it
            other = int((since["kind"] != "reunderwrite").sum())
            warnings.append(
                "the store already holds " + ", ".join(f"{int(k)} re-underwriting record(s) as of {d}"
                                                       for d, k in n.items())
                + f": every run reads it as it was before the first of them, not the {len(since)} record(s) of this "
                "Book written from it on (the impact's dates' and after" + (f"; {other} not re-underwriting, e.g. "
                                                                            "overrides" if other else "")
                + ") — each side reads its own records of this impact's earlier dates instead")
        with store_view(view.url, before=first) as before:
            return _dates(what, src, before, first, as_of, runs_of, labels, profile, warnings, later)
    return _dates(what, src, view, view.head()[0] + 1 if later else None, as_of, runs_of, labels, profile, warnings,
                  later)


def _dates(what: str, src: _Source, view: Any, before: int | None, as_of: dt.date, runs_of: list[tuple[Any, Any]],
           labels: list[str], profile: str, warnings: list[str], later: Sequence[Later]) -> list[Runs]:
    """:func:`_twice` on one read-only view (the store read before the record ``before``: the first date's reading),
    then at each later date each side on that reading plus its own records of the earlier dates, in order, as if they
    had been written (:func:`pipelines.replay.store_view`'s ``extra``) — the candidate's second checkpoint follows the
    candidate's first, as the store would stand had it been adopted."""
    from pipelines.replay import store_view

    memo: dict[Any, Any] = {}  # the fields, past seasons' series and features read or built once for every run
    collected: list[list[Any]] = [[], []]  # each side's records of the dates run so far
    out = [_twice_on(what, src, [view, view], as_of, runs_of, labels, profile, warnings, memo, collected)]
    for day, runs_d, labels_d, said in later:
        with store_view(view.url, before=before, extra=collected[0]) as v0, \
                store_view(view.url, before=before, extra=collected[1]) as v1:
            out.append(_twice_on(what, src, [v0, v1], day, runs_d, labels_d, profile, said, memo, collected,
                                 first=False))
    return out


def _twice_on(what: str, src: _Source, views: list[Any], as_of: dt.date, runs_of: list[tuple[Any, Any]],
              labels: list[str], profile: str, warnings: list[str], memo: dict[Any, Any],
              collected: list[list[Any]], *, first: bool = True) -> Runs:
    """One date's two runs, each on its read-only view; each run's records are added to its ``collected``. The first
    date with no line to re-underwrite is refused (nothing to compare); a later one (``first`` False: every line
    matured or decided after it, say) is compared as a date without lines (:func:`nothing_at`)."""
    runs: list[Any] = []
    items: list[list[Any]] = []
    said: list[list[str]] = []
    for view, (models, policy), mine in zip(views, runs_of, collected, strict=True):
        got: list[Any] = []
        res = src.run(view, as_of, policy=policy, profile=profile, models=models, collect=got, memo=memo)
        if first and not got and not items:  # the version in force re-decides no line: refused before the candidate's
            why = "; ".join(dict.fromkeys(res.warnings)) or "no line re-decided"
            raise UserInputError(f"{what} --reunderwriting: no line of the Book to re-underwrite as of {as_of} "
                                 f"(season {src.season}): nothing to compare ({why})")
        runs.append(res)
        items.append(got)
        said.append(list(res.warnings))
        mine.extend(got)
    merge_said(said, labels, warnings)
    ids = [{i.application_id for i in got} for got in items]
    only: dict[str, list[str]] = {}
    for k, (mine_ids, other) in enumerate(((ids[0], ids[1]), (ids[1], ids[0]))):
        extra = sorted(str(_line(i).get("line_id", i.application_id)) for i in items[k]
                       if i.application_id in mine_ids - other)
        if extra:
            only[labels[k]] = extra
    both = ids[0] & ids[1]
    return runs, [[i for i in got if i.application_id in both] for got in items], only


#: what a re-underwriting run says of active lines it leaves out (pipelines/reunderwrite.py's warnings)
_SKIP_WORDS = ("skipped", "left out", "not re-decided", "not re-underwritten")


def nothing_at(runs: list[Any], items: list[list[Any]], only: dict[str, list[str]]) -> str | None:
    """Why neither side re-decided a line at a later date of a season's impact (what the run in force said of the
    lines it left out), or None when one did."""
    if any(items) or only:
        return None
    return "; ".join(dict.fromkeys(runs[0].warnings)) or "no line re-decided"


def _skipped(run: Any) -> tuple[str, ...]:
    return tuple(w for w in dict.fromkeys(run.warnings) if any(k in w for k in _SKIP_WORDS))


def _held(runs: list[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{line} ({aid})" for r in runs for line, aid in r.held_lines))


def _store(url: str | None) -> Any:
    """The decision store as it stands now, read only (one line when it does not exist)."""
    from pipelines.replay import store_view
    from underwriting.store import store_url

    return store_view(store_url(url))


def promotion_impact_reunderwriting(name: str, candidate: str, *, as_of: dt.date, against: str = "champion",
                                    county: str | Path | None = None, fields: str | Path | None = None,
                                    imagery: str | None = None, book: str | Path | None = None,
                                    applications: str | Path | None = None, weather: str | Path | None = None,
                                    history: str | Path | None = None, season: str | None = None,
                                    store: str | None = None, policy: str | Path | None = None,
                                    profile: str | None = None, cache_dir: Path | None = None,
                                    allow_missing_acquisitions: bool = False,
                                    then: Sequence[dt.date] = ()) -> ReunderwritingImpact | SeasonImpact:
    """The Book's active lines as of ``as_of`` re-underwritten with ``name``'s version ``against`` (``champion``: the
    champion in force on the date, as ``reunderwrite`` takes it) and with ``candidate`` (a version or an alias;
    crop-type: a saved folder too), everything else the same, nothing written; compared (module docstring).
    ``county`` or ``fields``/``imagery``/``book``/``applications`` (with ``weather``, ``history``): as
    ``reunderwrite`` reads them; ``store``: an existing decision store (default ``reunderwrite``'s), read only;
    ``policy``: a policy file (default the shipped policy). ``then`` (``--then``): later checkpoints of the season,
    each side re-underwriting the Book at each after its own records of the earlier ones (:class:`SeasonImpact`;
    the version in force: the champion in force on each date — at a later date it may be the candidate itself,
    promoted between the dates: compared still, each side after its own records, and said; the same version is
    refused at ``as_of`` only)."""
    from models.errors import RegistryError
    from pipelines._champions import ChampionModels
    from pipelines.impact import MODEL_NAMES
    from underwriting.policy import default_policy, load_policy

    what = "models impact"
    if name not in MODEL_NAMES:
        raise UserInputError(f"{what}: unknown model {name!r} (expected {' or '.join(MODEL_NAMES)})")
    pol = load_policy(policy) if policy is not None else default_policy()
    with _store(store) as view:
        src = _read_source(what, as_of, county=county, fields=fields, imagery=imagery, book=book,
                           applications=applications, weather=weather, history=history, season=season,
                           cache_dir=cache_dir, allow_missing_acquisitions=allow_missing_acquisitions)
        days = src.later_days(what, as_of, then)
        prof = src.profile(pol, profile, as_of)
        pol.profile(prof)

        def sides(day: dt.date, said: list[str]) -> tuple[Any, Any, str, str, str | None]:
            # at a later date the version in force may have become the candidate (promoted between the dates): the
            # comparison still runs (each side after its own earlier records), said; at the first date it is refused
            try:  # the version in force as `reunderwrite` resolves it: the champions of the date
                base = ChampionModels.resolve(alias=against if name == "yield-value" else "champion",
                                              crop_model="champion" if name == "yield-value" else against,
                                              warnings=said, weather=src.weather, on=day)
            except RegistryError as e:
                if name != "crop-type" or "crop-type" not in e.problem:
                    raise
                raise RegistryError(problem=e.problem, fix="train one with `agcredit train crop-type`, or name the "
                                    "model in force with --against (a version, an alias or a saved folder)") from None
            cand, base_text, cand_text, data = candidate_models(what, name, candidate, against, base,
                                                                weather=src.weather, said=None,
                                                                same_said=said if day != as_of else None)
            return base, cand, base_text, cand_text, data

        warnings: list[str] = []
        said: dict[dt.date, list[str]] = {day: [] for day in days}
        got = {as_of: sides(as_of, warnings), **{day: sides(day, said[day]) for day in days}}
        later = [(day, [(got[day][0], pol), (got[day][1], pol)], [got[day][2], got[day][3]], said[day])
                 for day in days]
        base, cand, base_text, cand_text, _ = got[as_of]
        ran = _twice(what, src, view, as_of, [(base, pol), (cand, pol)], [base_text, cand_text], prof, warnings,
                     later)
    out = []
    for day, (runs, items, only) in zip([as_of, *days], ran, strict=True):
        base, cand, base_text, cand_text, data = got[day]
        out.append(ReunderwritingImpact(
            name=name, base=base_text, candidate=cand_text, season=src.season, as_of=day,
            policy=policy_text(pol), profile=prof, data=data,
            applications=compare_lines(items[0], items[1], candidate_previous=bool(days)),
            values=pd.DataFrame(), checkpoints=(runs[0].checkpoint, runs[1].checkpoint),
            warnings=warnings if day == as_of else said[day],
            held_out=(held_out_of(base), held_out_of(cand)) if name == "yield-value" else (),
            details={"base_run_id": base.yield_run_id, "candidate_run_id": cand.yield_run_id}
            if name == "yield-value" else {},
            held_lines=_held(runs), one_run_only=only, models_said=base.said, skipped=_skipped(runs[0]),
            nothing=nothing_at(runs, items, only) if day != as_of else None))
    return SeasonImpact(tuple(out)) if days else out[0]


def policy_impact_reunderwriting(candidate: str | Path, *, as_of: dt.date, against: str | Path = "default",
                                 county: str | Path | None = None, fields: str | Path | None = None,
                                 imagery: str | None = None, book: str | Path | None = None,
                                 applications: str | Path | None = None, weather: str | Path | None = None,
                                 history: str | Path | None = None, season: str | None = None,
                                 store: str | None = None, profile: str | None = None,
                                 cache_dir: Path | None = None, allow_missing_acquisitions: bool = False,
                                 then: Sequence[dt.date] = ()) -> ReunderwritingImpact | SeasonImpact:
    """The Book's active lines as of ``as_of`` re-underwritten under the policy ``against`` (default the shipped one)
    and under ``candidate`` (each :func:`pipelines.impact.resolve_policy`), the champion models in force on the date
    and every other input the same, nothing written; compared as :func:`promotion_impact_reunderwriting` (``then``
    too: the champions in force on each date, the same on both sides; the policies are the same at every date)."""
    from pipelines._champions import ChampionModels, models_text

    what = "policy impact"
    (base_pol, _), (cand_pol, _) = resolve_policy(against), resolve_policy(candidate)
    if base_pol.content_hash == cand_pol.content_hash:
        raise UserInputError(f"{what}: {str(candidate)!r} and {str(against)!r} are the same policy "
                             f"({policy_text(cand_pol)}): nothing to compare")
    with _store(store) as view:
        src = _read_source(what, as_of, county=county, fields=fields, imagery=imagery, book=book,
                           applications=applications, weather=weather, history=history, season=season,
                           cache_dir=cache_dir, allow_missing_acquisitions=allow_missing_acquisitions)
        days = src.later_days(what, as_of, then)
        try:  # the policy in force chooses the profile (as reunderwrite --policy); its error names --against
            prof = src.profile(base_pol, profile, as_of)
            base_pol.profile(prof)
        except UserInputError as e:
            raise UserInputError(f"{what}, the policy in force {policy_text(base_pol)}: {e}") from None
        try:
            if cand_pol.profile(prof).currency != base_pol.profile(prof).currency:
                raise UserInputError(f"profile {prof} is in {cand_pol.profile(prof).currency}, the policy in force's "
                                     f"in {base_pol.profile(prof).currency}")
        except UserInputError as e:
            raise UserInputError(f"{what}, the candidate {policy_text(cand_pol)}: {e}") from None
        warnings: list[str] = []
        said: dict[dt.date, list[str]] = {day: [] for day in days}
        models = {day: ChampionModels.resolve(crop_model="champion", warnings=said.get(day, warnings),
                                              weather=src.weather, on=day) for day in [as_of, *days]}
        base_text, cand_text = policy_text(base_pol), policy_text(cand_pol)
        later = [(day, [(models[day], base_pol), (models[day], cand_pol)], [base_text, cand_text], said[day])
                 for day in days]
        ran = _twice(what, src, view, as_of, [(models[as_of], base_pol), (models[as_of], cand_pol)],
                     [base_text, cand_text], prof, warnings, later)
    out = [ReunderwritingImpact(
        name="policy", base=base_text, candidate=cand_text, season=src.season, as_of=day,
        policy=f"models {models_text(models[day].versions())}", profile=prof,
        data=getattr(models[day].governance, "data", None),
        applications=compare_lines(items[0], items[1], candidate_previous=bool(days)),
        values=pd.DataFrame(), checkpoints=(runs[0].checkpoint, runs[1].checkpoint),
        warnings=said.get(day, warnings),
        details={"models": models[day].versions(), "base_content_hash": base_pol.content_hash,
                 "candidate_content_hash": cand_pol.content_hash},
        held_lines=_held(runs), one_run_only=only, models_said=models[day].said, skipped=_skipped(runs[0]),
        nothing=nothing_at(runs, items, only) if day != as_of else None)
        for day, (runs, items, only) in zip([as_of, *days], ran, strict=True)]
    return SeasonImpact(tuple(out)) if days else out[0]
