"""What a re-underwriting impact reports (private; see :mod:`pipelines.impact_reunderwriting`): two runs' records
compared line by line (:func:`compare_lines`), one date's impact (:class:`ReunderwritingImpact`: the lines, the
proposed actions per run and those that change, the limits against the outstanding balances) and a season's over
several checkpoints (:class:`SeasonImpact`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.impact import (
    ImpactResult,
    compare_decisions,
)

__all__ = [
    "ACTIONS", "LINE_COLUMNS", "_line", "compare_lines", "_action_counts", "_acts", "ReunderwritingImpact", "_some",
    "SeasonImpact",
]

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
