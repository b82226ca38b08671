"""Seasonal re-underwriting: re-decide every active line of the Book at a checkpoint, with early warnings.

:func:`reunderwrite` takes the Book's lines active on the as-of date (``start_date ≤ as_of ≤
maturity_date``, of the season), builds the FieldFeatures as of that date (the series cache
means only scenes new since the last run are read), values them with the champion models
resolved once (their concrete versions go in every record), decides each line's application
with :func:`underwriting.decisions.decide_batch`, and appends records of kind
``reunderwrite`` to the decision store, each superseding the application's latest record on
or before the as-of date. The idempotency key is derived from the decision's own key (which
holds the application, season, as-of date, input snapshot, model versions and policy hash),
so re-running the same as-of date adds nothing.

Which lines: the Book's active lines, each through its application — the one with its
``application_id``, else the farmer's application of the season (a Book line opened by an
earlier application the records no longer hold); lines with neither are skipped with a
warning. With ``include_decided`` (default) applications of the season that a stored record
approved (APPROVE/REDUCE, on or before the as-of date) and that no Book line covers are
re-decided too, as lines ``D-<application_id>`` with the latest record's limit, nothing drawn
and nothing outstanding (a line later cut to zero is still followed).

Concentration: the lines being re-decided are taken out of the Book for the headroom (their
old limits are being replaced); the other lines stay as exposure.

Per line the change is reported (old → new limit, new reason codes) and:

* ``CROP_CONDITION_DETERIORATED`` is added (first, with the reduction old − new limit) when the
  new limit is below the old one and the crop's condition fell: the stressed value of the
  fields is below the one in the previous record, or a field of the farmer has a WATCH,
  CROP_FAILURE, EARLY_HARVEST or NOT_PLANTED alert;
* when the new limit is below the outstanding balance, a proposed action (:func:`propose_actions`):
  ``FREEZE_UNDRAWN`` always (stop further drawings); ``SHORTEN_TERM`` when the new decision's
  maturity (expected harvest + marketing window) is earlier than the line's; ``REVIEW`` (send to
  an analyst) when the new outcome is DECLINE, the new limit covers less than ``review_share``
  (default half) of the outstanding balance, or a high-severity alert is open. A DECLINE freezes the
  undrawn line also with nothing outstanding.
* under a policy with ``keep_unvalued_lines`` (2026.12.4 on), a REFER re-estimates no limit (its limit
  is only indicative): when it says the models could not value the fields at this checkpoint —
  referred only for the failing area share, every failing field failing only on
  :data:`NO_ESTIMATE_CODES` and out of the yield model's scope (before its validated checkpoints) or
  without enough clear imagery, none of them disputed by the imagery's crop — the line is *not
  re-estimated*: it is kept as it stands, no action is proposed (``REVIEW`` when a high-severity
  alert is open), no ``CROP_CONDITION_DETERIORATED`` is added, and the record's
  ``reunderwrite.not_reestimated`` and the change row name the codes; any other REFER (a parcel
  overlap claim, fields not planted, a crop mismatch or dispute, a double pledge...) freezes the
  undrawn line and is sent to ``REVIEW``, whatever its indicative limit — its term is not shortened
  on a limit nobody re-estimated. Under earlier policies a REFER is treated as its indicative limit
  (as above for a limit below the balance; ``REVIEW`` otherwise), as those releases did.
* under a policy with ``open_alerts_act`` (2026.12.6 on), the alerts are computed before the decisions: a field
  with an open CROP_FAILURE alert is excluded from the valuation (CROP_FAILURE_OBSERVED, :func:`with_failures_observed`)
  — the yield model's value of a crop the monitoring saw fail does not stand (the us-nebraska demo raised a line
  whose maize had failed) — and a line with any open high-severity alert is sent to ``REVIEW`` whatever its new
  limit covers.
* new decisions (``underwrite``) reuse these rules under policy 2026.12.10: the store's open alerts
  (:func:`stored_alerts`: the farmer's latest re-underwriting record on or before the decision date) exclude a failed
  field as here (``decisions_read_alerts``), and a decision renewing the farmer's active Book line proposes what a
  re-underwriting of the line would (``renewals_propose_actions``, :func:`renewal_actions`).

Alerts: :func:`pipelines.monitor.detect_alerts` on the season's clear NDVI up to the as-of
date, against expectations from past seasons' series (``history``), each with the affected
line(s); thresholds: ``alert_params`` when given, else those the crop-type model version carries (tuned on its
training seasons' diaries, :mod:`pipelines._alert_fit`), else the rules' defaults.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines.monitor import AlertParams, fields_region
from pipelines.underwrite import (
    SET_ASIDE_KEY,
    ChampionModels,
    checkpoint_label,
    portable_source,
    set_aside_provenance,
    write_features_artifact,
)
from underwriting.book import balance_date_text
from underwriting.decisions import with_failures_observed
from underwriting.policy import Policy
from underwriting.records import DecisionItem, canonical_json, sha256_hex
from underwriting.rules import crop_disputed
from underwriting.standing import kept_body, kept_lines_stand, override_behind, skips_to_book, standing_of
from underwriting.store import AppendResult, DecisionStore, record_id_for

if TYPE_CHECKING:
    import geopandas as gpd

    from pipelines.county import County
    from pipelines.schedule import Due

__all__ = ["ScoringModels", "ActionRules", "ReunderwriteResult", "active_lines", "booked_seasons", "book_with_decided", "decided_lines",
           "change_counts", "keeps_unvalued_lines", "lines_to_review", "not_reestimated", "opens_alerts", "propose_actions",
           "reunderwrite", "with_failures_observed", "stored_alerts", "renewal_actions",
           "reunderwrite_county", "checkpoint_lines", "deciding_dates", "FilesInputs", "read_files_inputs",
           "reunderwrite_files", "season_of", "check_day", "files_profile",
           "reunderwrite_due", "checkpoint_label", "DETERIORATION_ALERTS", "NO_ESTIMATE_CODES", "DEFAULT_OPERATOR"]

DETERIORATION_ALERTS = ("WATCH", "CROP_FAILURE", "EARLY_HARVEST", "NOT_PLANTED")
#: field evidence codes saying the models could not value a field at this checkpoint, not that the crop or the claim
#: on it is at risk (NOT_PLANTED, CROP_MISMATCH, PARCEL_* are): outside the yield model's validated scope, too little
#: clear imagery — and what follows from too little imagery (no planted area measured, FIELD_TOO_SMALL; no crop
#: probability, CROP_TYPE_UNCERTAIN), which alone (a field the models saw) are the models' judgement, not no estimate
NO_ESTIMATE_CODES = ("OUT_OF_MODEL_SCOPE", "INSUFFICIENT_CLEAR_IMAGERY", "FIELD_TOO_SMALL", "CROP_TYPE_UNCERTAIN")
_UNSEEN = ("OUT_OF_MODEL_SCOPE", "INSUFFICIENT_CLEAR_IMAGERY")
DEFAULT_OPERATOR = "agcredit-reunderwrite"
CHANGE_COLUMNS = ["line_id", "application_id", "farmer_token", "currency", "book_limit", "old_limit", "new_limit", "change",
                  "drawn", "outstanding", "old_outcome", "new_outcome", "new_reasons", "reason_codes",
                  "actions", "not_reestimated", "alerts", "record_id", "supersedes", "balance_as_of"]
Progress = Callable[[str], None]


#: models resolved once per run — the same object ``underwrite`` uses
ScoringModels = ChampionModels


@dataclass(frozen=True)
class ActionRules:
    """When to propose what (see the module docstring)."""

    review_share: float = 0.5


@dataclass
class ReunderwriteResult:
    """What a re-underwriting run decided, wrote and saw."""

    season: str
    as_of: date
    checkpoint: str
    items: list[DecisionItem]
    changes: pd.DataFrame
    alerts: pd.DataFrame
    written: int = 0
    already_present: int = 0
    warnings: list[str] = field(default_factory=list)
    models: dict[str, str | None] = field(default_factory=dict)
    #: a run as of a past date on the registry's champions: which versions (those in force on that date) and why
    models_said: str | None = None
    #: the phenology smoother's scene haze dates (None when nothing was featurized) and whether they were pinned
    hazy_dates: list[str] | None = None
    haze_pinned: bool = False
    #: a scheduled checkpoint not run: the as-of date of the later records that cover its lines
    covered_by: str | None = None
    #: the lines not re-decided (``reunderwrite(set_aside=...)``): their farmers' fields had rows set aside —
    #: (line id, application id), by line; their previous records stay in force
    held_lines: list[tuple[str, str]] = field(default_factory=list)
    #: the fields file's rows set aside (``reunderwrite(set_aside=...)``), in file order
    set_aside: list[Any] = field(default_factory=list)
    #: what each challenger did in shadow (``reunderwrite(shadow=True)``: :class:`pipelines.shadow.ShadowSummary`)
    shadow: list[Any] = field(default_factory=list)


# --- lines and checkpoints -------------------------------------------------------------------------------

def active_lines(book: pd.DataFrame, as_of: date, season: str | None = None) -> pd.DataFrame:
    """Lines of the Book active on ``as_of`` (start ≤ as_of ≤ maturity), of ``season`` when the Book says — a dated
    Book's lines on their terms and balances of the day (:func:`underwriting.book.book_as_of`: the row in force, a
    line renewed under the same id on its new term; a line open on the day with no balance yet on its first, for a
    reader naming lines — a run has refused it before, through ``book_as_of`` itself), never its other rows."""
    from underwriting.book import book_as_of

    day = pd.Timestamp(as_of)
    book = book_as_of(book, as_of, refuse=False)  # type: ignore[assignment]  # a run's Book as of the day: unchanged
    b = book[(book["start_date"] <= day) & (book["maturity_date"] >= day)]
    if season is not None and "season" in b.columns:
        b = b[b["season"].astype(str) == str(season)]
    return b.sort_values("line_id", kind="stable").reset_index(drop=True)


def booked_seasons(book: pd.DataFrame, day: date) -> list[str]:
    """The seasons the Book's lines finance on ``day`` (a ``--due`` run's other season whose window is open): each
    line's terms of the day (:func:`underwriting.book.book_as_of`) — a line renewed under the same line id finances
    its new season, not the one of its earlier rows."""
    from underwriting.book import book_as_of

    today_book = book_as_of(book, day)
    if today_book is None or "season" not in today_book.columns:
        return []
    return [str(s) for s in today_book["season"].dropna()]


def _one_row_per_application(lines: pd.DataFrame, warnings: list[str] | None,
                             crops: Sequence[str] | None = None) -> pd.DataFrame:
    """A farmer's several active lines of one season (one application) re-underwritten together: line ids joined
    with "+", limits, drawn and outstanding summed, the earliest maturity — an action is judged against everything
    the farmer owes, not the first line's balance (the others were dropped silently). ``crops``: only the joined
    rows of these crops are warned of (a run re-deciding them)."""
    if lines.empty or not lines["review_application_id"].duplicated().any():
        return lines
    rows = []
    multi = []
    for _app, g in lines.groupby("review_application_id", sort=False):
        if len(g) == 1:
            rows.append(g.iloc[0].to_dict())
            continue
        g = g.sort_values("line_id", kind="stable")
        row = g.iloc[0].to_dict()
        row["line_id"] = "+".join(g["line_id"].astype(str))
        for col in ("limit", "drawn", "outstanding"):
            if col in g.columns:
                row[col] = int(g[col].sum())
        if "maturity_date" in g.columns:
            row["maturity_date"] = g["maturity_date"].min()
        if "balance_as_of" in g.columns and g["balance_as_of"].notna().any():  # the summed balance: as of its oldest
            row["balance_as_of"] = g["balance_as_of"].min()
        rows.append(row)
        if crops is None or str(row.get("crop")) in {str(c) for c in crops}:
            multi.append(row["line_id"])
    if warnings is not None and multi:
        warnings.append(f"{len(multi)} farmer(s) with several active lines re-underwritten together against their "
                        f"summed balances ({', '.join(multi[:5])}{', …' if len(multi) > 5 else ''})")
    return pd.DataFrame(rows, columns=lines.columns).astype(lines.dtypes.to_dict())


def lines_to_review(book: pd.DataFrame, applications: pd.DataFrame, as_of: date, season: str, *,
                    records: pd.DataFrame | None = None, warnings: list[str] | None = None,
                    crops: Sequence[str] | None = None) -> pd.DataFrame:
    """Active lines with ``review_application_id`` (see the module docstring); ``records``: the store's
    records of the season (adds the decided lines no Book line covers); ``crops``: the run re-decides only these
    crops' lines, so only their Book problems are warned of (a `--due` run per crop warned of every crop's)."""
    lines = active_lines(book, as_of, season).copy()
    if "region" in lines.columns:  # a misspelt region ("in-smalholder") was re-underwritten silently, where the
        from features.regions import check_known_regions  # fields file refuses it; matured lines are not read

        check_known_regions(lines, "Book", id_column="line_id", noun="active Book lines")
    mine = (lines["crop"].astype(str).isin([str(c) for c in crops]) if crops is not None and "crop" in lines.columns
            else pd.Series(True, index=lines.index))
    if warnings is not None and "drawn" in lines.columns:
        over = lines[(lines["drawn"] > lines["limit"]) & mine]
        if len(over):
            named = ", ".join(over["line_id"].astype(str).head(5)) + (", …" if len(over) > 5 else "")
            warnings.append(f"{len(over)} active line(s) drawn above their limit ({named}): re-underwritten as the "
                            "Book states them; check the Book export")
    ids = set(applications["application_id"].astype(str))
    season_apps = applications[applications["season"].astype(str) == str(season)]
    # a farmer with two applications: the line follows the first by application_id (the one holding the fields,
    # underwriting.decisions.batch_pledges), not whichever row came last (a second pledge, referred)
    first = season_apps.sort_values("application_id", kind="stable").drop_duplicates("farmer_token", keep="first")
    by_token = dict(zip(first["farmer_token"].astype(str), first["application_id"].astype(str), strict=True))
    resolved = [a if a in ids else by_token.get(t) for a, t in zip(lines["application_id"].astype(str),
                                                                   lines["farmer_token"].astype(str), strict=True)]
    lines["review_application_id"] = pd.Series(resolved, index=lines.index, dtype="object")
    orphan = lines["review_application_id"].isna()
    if (orphan & mine).any() and warnings is not None:
        n_orphan = int((orphan & mine).sum())
        warnings.append(f"{n_orphan} active line(s) without an application of season {season} skipped "
                        f"({', '.join(lines.loc[orphan & mine, 'line_id'].astype(str).head(5))}"
                        f"{f' and {n_orphan - 5} more' if n_orphan > 5 else ''})")
    lines = lines[~orphan]
    if "currency" in applications.columns and "currency" in lines.columns and len(lines):
        app_cur = dict(zip(applications["application_id"].astype(str), applications["currency"].astype(str),
                           strict=True))
        wrong = lines[[str(c) != app_cur.get(str(a), str(c)) for a, c in
                       zip(lines["review_application_id"], lines["currency"], strict=True)]]
        if len(wrong):
            first = wrong.iloc[0]
            more = f" (and {len(wrong) - 1} more line(s))" if len(wrong) > 1 else ""
            raise UserInputError(f"Book line {first['line_id']}: currency {first['currency']} but its application "
                                 f"{first['review_application_id']} is in {app_cur[str(first['review_application_id'])]}"
                                 f"{more}; amounts in two currencies cannot be compared — fix the Book export")
    lines = _one_row_per_application(lines, warnings, crops)
    if records is not None and len(records):
        extra = decided_lines(records, as_of, season, covered=set(lines["review_application_id"]), known=ids,
                              before_own_run=True)
        if len(extra):
            lines = pd.concat([lines, extra], ignore_index=True)
    return lines.sort_values("line_id", kind="stable").reset_index(drop=True)


def decided_lines(records: pd.DataFrame, as_of: date, season: str, *, covered: set[str],
                  known: set[str] | None = None, before_own_run: bool = False) -> pd.DataFrame:
    """The lines ``D-<application_id>`` re-underwriting follows besides the Book: applications of ``season`` that a
    stored record approved (APPROVE/REDUCE, on or before ``as_of``), not in ``covered`` (and in ``known`` when
    given) and not matured before ``as_of`` (the latest record's maturity date), each with its latest record's limit,
    nothing drawn or outstanding (empty frame: none). A latest record that re-estimated nothing under a policy with
    ``kept_lines_stand``: the line as the decision it stands on has it (``underwriting.standing``).
    ``before_own_run`` (re-underwriting as of ``as_of``): a re-underwriting record of that very date is the run's own
    (a re-run's), and so is every record superseding it (a same-day override): the line is the one that run started
    from — else a re-run built each decided line from its own
    record, with another Book limit in the body, and wrote a second record superseding the first (a review found two
    on the smallholder demo's 2009-10-25)."""
    from underwriting.standing import standing_ids

    r = records[(records["season"].astype(str) == str(season)) & (records["as_of"] <= as_of.isoformat())]
    if before_own_run:
        # the date's re-underwriting records and what descends from them (an analyst's override made after the run,
        # dated that day by default: it became the line's latest record and the re-run replaced it - the review)
        own = set(r.loc[(r["kind"] == "reunderwrite") & (r["as_of"] == as_of.isoformat()), "record_id"].astype(str))
        if own:
            ordered = r.sort_values("seq", kind="stable")
            for rid, sup in zip(ordered["record_id"].astype(str), ordered["supersedes"], strict=True):
                if isinstance(sup, str) and sup in own:
                    own.add(rid)
            r = r[~r["record_id"].astype(str).isin(own)]
    opened = set(r.loc[r["outcome"].isin(["APPROVE", "REDUCE"]), "application_id"])
    latest = r.sort_values("seq").groupby("application_id").tail(1)
    moved = standing_ids(r)  # a kept current record -> the one its line stands on
    swap = {str(rid): on for rid, b in zip(latest["record_id"], latest["body"], strict=True)
            if (on := moved.get(str(rid))) is not None and kept_lines_stand(json.loads(b))} if moved else {}
    r = pd.concat([latest[~latest["record_id"].astype(str).isin(set(swap))],
                   r[r["record_id"].astype(str).isin(set(swap.values()))]]) if swap else latest
    r = r[r["application_id"].isin(opened) & ~r["application_id"].isin(covered)]
    if known is not None:
        r = r[r["application_id"].isin(known)]
    extra = []
    for rec in r.itertuples(index=False):
        body = json.loads(rec.body)
        comp = body.get("computation", {})
        main: dict[str, Any] = max(body.get("fields", []), key=lambda f: (f.get("expected_value") or 0, str(f.get("field_id"))),
                   default={})
        maturity = comp.get("maturity_date") or rec.as_of
        if str(maturity) < as_of.isoformat():  # matured before the checkpoint: no line to follow (nor to extend)
            continue
        extra.append({"line_id": f"D-{rec.application_id}", "application_id": rec.application_id,
                      "farmer_token": rec.farmer_token, "currency": rec.currency, "limit": int(rec.limit),
                      "drawn": 0, "outstanding": 0, "start_date": pd.Timestamp(rec.as_of),
                      "maturity_date": pd.Timestamp(max(maturity, rec.as_of)),
                      "crop": main.get("crop_valued") or main.get("declared_crop") or "",
                      "region": main.get("region") or "", "season": str(season),
                      "review_application_id": rec.application_id})
    return pd.DataFrame(extra)


def book_with_decided(book: pd.DataFrame | None, records: pd.DataFrame, as_of: date, season: str) -> pd.DataFrame | None:
    """``book`` plus the :func:`decided_lines` of ``records`` that no active Book line of the season covers, by
    application or by farmer (what ``agcredit monitor --store`` names beside the Book's lines)."""
    act = active_lines(book, as_of, str(season)) if book is not None and len(book) else None
    tokens = set(act["farmer_token"].astype(str)) if act is not None else set()
    covered = set(act["application_id"].astype(str)) if act is not None else set()
    covered |= set(records.loc[records["farmer_token"].astype(str).isin(tokens), "application_id"].astype(str))
    extra = decided_lines(records, as_of, str(season), covered=covered)
    if extra.empty:
        return book
    extra = extra.drop(columns="review_application_id")
    return extra if book is None or book.empty else pd.concat([book, extra], ignore_index=True)


class AlreadyDecidedLater(UserInputError):
    """Every line to re-underwrite already has a stored record as of a later date (the run would fork the chain)."""

    def __init__(self, message: str, latest: str) -> None:
        super().__init__(message)
        self.latest = latest


def forward_only(todo: pd.DataFrame, records: pd.DataFrame, as_of: date, warnings: list[str], *,
                 same_day_done: bool = False) -> tuple[pd.DataFrame, set[str]]:
    """Drop the lines whose application already has a record as of a date after ``as_of`` (with ``same_day_done``:
    on or after it — a scheduled checkpoint whose lines another run already decided that day): a record superseding
    the one in force on ``as_of`` would fork the application's chain (two records replacing the same one, the
    earlier-dated written last and shown as current): re-underwriting goes forward only. Lines whose application
    also has a re-underwriting record dated ``as_of`` are kept (a re-run of that date, which adds nothing) and
    returned as the set to re-check once decided: kept only if their record is the one stored. With
    ``same_day_done`` that holds for the lines whose latest records are of ``as_of`` and include a re-underwriting
    one (a ``--due`` run killed between storing a checkpoint's records and logging it: its re-run finds them, adds
    nothing and logs the checkpoint as run, as the uninterrupted run did — it logged it ``covered`` before); a line
    decided that day otherwise (its first decision) is dropped as before. Raises :class:`AlreadyDecidedLater` when
    every line is dropped."""
    if todo.empty or records.empty:
        return todo, set()
    day = as_of.isoformat()
    last = records.groupby("application_id")["as_of"].max()
    later = last[last >= day] if same_day_done else last[last > day]
    apps = todo["review_application_id"].astype(str)
    hit = apps.isin(set(later.index))
    if not hit.any():
        return todo, set()
    rerun = set(records.loc[(records["as_of"] == day) & (records["kind"] == "reunderwrite"), "application_id"])
    if same_day_done:  # only a re-underwriting of that very date with nothing later: a --due run killed after storing
        rerun &= set(last[last == day].index)  # its records and before logging them (re-checked; adds nothing)
    drop = hit & ~apps.isin(rerun)
    newest = str(later[later.index.isin(set(apps[hit]))].max())
    if drop.all():
        raise AlreadyDecidedLater(f"nothing to re-underwrite as of {day}: the {int(drop.sum())} active line(s) "
                                  f"{later_note(newest)}; give an as-of on or after {newest}", newest)
    if drop.any():
        warnings.append(skipped_note(todo.loc[drop, "line_id"].astype(str).tolist(), newest))
    return todo[~drop].reset_index(drop=True), set(apps[hit & ~drop])


def later_note(newest: str) -> str:
    return (f"already have records as of a later date (up to {newest}); re-underwriting goes forward only "
            "(a record dated before an application's current one would fork its chain)")


def skipped_note(line_ids: list[str], newest: str) -> str:
    return (f"{len(line_ids)} line(s) skipped ({', '.join(line_ids[:5])}{', ...' if len(line_ids) > 5 else ''}): "
            f"their applications {later_note(newest)}")


# --- actions ---------------------------------------------------------------------------------------------

def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """Counts of a checkpoint's change rows: limits ``down`` and ``up`` against the previous record and ``below_book``
    among the re-estimated lines (a line not re-estimated has no new limit: its indicative 0 is no fall), ``kept``
    (not re-estimated) and ``actions`` (lines with a proposed action)."""
    if not len(changes):
        return {"down": 0, "up": 0, "below_book": 0, "kept": 0, "actions": 0}
    kept = changes["not_reestimated"].astype(str) != ""
    est = changes[~kept]
    return {"down": int((est["change"] < 0).sum()), "up": int((est["change"] > 0).sum()),
            "below_book": int((est["new_limit"] < est["book_limit"]).sum()), "kept": int(kept.sum()),
            "actions": int((changes["actions"].astype(str) != "").sum())}


def keeps_unvalued_lines(body: dict[str, Any]) -> bool:
    """Whether the policy that decided ``body`` has ``keep_unvalued_lines`` (2026.12.4 on): the re-underwriting
    action rules of this release; without it, the rules the earlier releases applied (their records stay as they
    were: the re-underwriting record id holds the policy hash, not these rules)."""
    return bool(((body.get("policy") or {}).get("parameters") or {}).get("keep_unvalued_lines"))


def is_kept(record: Any) -> bool:
    """Whether a stored record is a re-underwriting that re-estimated nothing (``reunderwrite.not_reestimated``):
    the line was kept as it stood, its REFER's indicative limit no estimate."""
    return record is not None and kept_body(getattr(record, "kind", ""), record.body)


def unvalued_text(fields: Sequence[dict[str, Any]], as_of: Any, codes: Sequence[str] = (),
                  indicative: str | None = None) -> str:
    """What a kept line's record (``fields``: its body's) says the models could not value as of ``as_of``: the fields
    (with their no-estimate ``codes`` when given) — or, when they valued some, which ones they did not (id, exclusion
    code, area) and that the limit on the others leaves those out (its ``indicative`` limit, when given, no estimate
    of the line); ``explain`` and the farmer page word it alike."""
    failing = [f for f in fields if not f.get("included")]
    valued = [f for f in fields if f.get("included")]
    if not valued or not failing:
        return f"the models could not value the fields as of {as_of}" + (f" ({', '.join(codes)})" if codes else "")
    names = ", ".join(f"{f.get('field_id')} ({f.get('exclusion_code')}, {float(f.get('area_used_ha') or 0):.2f} ha)"
                      for f in failing)
    return (f"the models could not value {names} as of {as_of}; they valued the other {len(valued)} field(s) only, "
            "and a limit on those leaves the rest's value and income out"
            + (f": its indicative {indicative} is no estimate of the line" if indicative is not None else ""))


def not_reestimated(body: dict[str, Any]) -> tuple[str, ...]:
    """The :data:`NO_ESTIMATE_CODES` of a decision ``body`` that re-estimates nothing: a REFER whose only refer
    reason is the failing area share and whose failing fields fail only on those codes, each field out of the yield
    model's scope or without enough clear imagery (the models could not value it at this checkpoint) and none
    disputed by the imagery's crop (under ``confident_disputes_only``, 2026.12.5 on: an imagery crop at
    ``min_crop_type_prob`` or above; before, any); () for any other decision (a REFER for a risk, or a limit the
    models re-estimated) and under a policy without ``keep_unvalued_lines``."""
    if not keeps_unvalued_lines(body) or body.get("outcome") != "REFER" or \
            set(body.get("refer_reasons") or []) - {"FAILING_AREA_SHARE"}:
        return ()
    failing = [f for f in body.get("fields") or [] if not f.get("included")]
    codes = [{str(c) for c in f.get("codes") or []} for f in failing]
    params = (body.get("policy") or {}).get("parameters") or {}
    sure = float((params.get("evidence") or {}).get("min_crop_type_prob") or 0.0) \
        if params.get("confident_disputes_only") else 0.0  # 0: any other imagery crop is a dispute (before 2026.12.5)

    def disputed(f: dict[str, Any]) -> bool:  # a risk to the claim, not a field the models could not see
        prob = f.get("crop_type_prob")
        return crop_disputed(f) and (sure == 0.0 or (prob is not None and float(prob) >= sure))

    if not failing or any(not c <= set(NO_ESTIMATE_CODES) or not c & set(_UNSEEN) for c in codes) \
            or any(disputed(f) for f in failing):
        return ()
    return tuple(c for c in NO_ESTIMATE_CODES if any(c in f for f in codes))


def opens_alerts(body: dict[str, Any]) -> bool:
    """Whether the policy that decided ``body`` has ``open_alerts_act`` (2026.12.6 on): a line with an open
    high-severity alert goes to review whatever its new limit covers."""
    return bool(((body.get("policy") or {}).get("parameters") or {}).get("open_alerts_act"))


def stored_alerts(records: pd.DataFrame | None, season: str, as_of: date, *,
                  before_seq: int | None = None) -> pd.DataFrame:
    """The alerts open in the decision store for a new decision of ``season`` as of ``as_of`` (policy
    ``decisions_read_alerts``, 2026.12.10 on): per farmer, those its latest re-underwriting record of the season dated on
    or before ``as_of`` names (``reunderwrite.alerts``, ``FIELD:ALERT``: the alerts open at that checkpoint — a later
    checkpoint without one closed it), each dated as the record's field entry dates a CROP_FAILURE
    (``crop_failure_observed``), else the record's as-of date. ``before_seq``: only the records written before it (a
    replay reads the store as the run it replays read it). Columns field_id, season, farmer_token, alert, severity,
    date (empty: none)."""
    from pipelines.monitor import ALERT_TYPES

    cols = ["field_id", "season", "farmer_token", "alert", "severity", "date"]
    if records is None or records.empty:
        return pd.DataFrame(columns=cols)
    r = records[(records["season"].astype(str) == str(season)) & (records["kind"] == "reunderwrite")
                & (records["as_of"] <= as_of.isoformat())]
    if before_seq is not None:
        r = r[r["seq"] < int(before_seq)]
    latest = r.sort_values(["as_of", "seq"], kind="stable").groupby("farmer_token", sort=False).tail(1)
    rows = []
    for tok, day, body in zip(latest["farmer_token"].astype(str), latest["as_of"].astype(str), latest["body"],
                              strict=True):
        doc = json.loads(body) if isinstance(body, str | bytes) else body
        seen = {str(f.get("field_id")): f.get("crop_failure_observed") for f in doc.get("fields") or []}
        for text in (doc.get("reunderwrite") or {}).get("alerts") or []:
            fid, _, kind = str(text).rpartition(":")
            if not fid or not kind:
                continue
            when = (seen.get(fid) if kind == "CROP_FAILURE" else None) or day
            rows.append({"field_id": fid, "season": str(season), "farmer_token": tok, "alert": kind,
                         "severity": ALERT_TYPES.get(kind, "medium"), "date": when})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["farmer_token", "field_id", "alert"], kind="stable").reset_index(drop=True)


def renewal_actions(items: Sequence[DecisionItem], book: pd.DataFrame | None, applications: pd.DataFrame,
                    season: str, as_of: date, *, open_alerts: pd.DataFrame | None = None,
                    rules: ActionRules | None = None) -> list[DecisionItem]:
    """New decisions with what a re-underwriting would propose for the farmer's active Book line of the season they
    renew (policy ``renewals_propose_actions``, 2026.12.10 on; other items as they are): an application through
    which a re-underwriting follows a line (:func:`lines_to_review`: the line's own application, else the farmer's
    first of the season; a farmer's several lines together) is its renewal, and :func:`propose_actions` judges the
    new decision against the line's outstanding balance and maturity — the store's open high-severity alerts of the
    farmer (``open_alerts``, :func:`stored_alerts`) count as a re-underwriting's. The body's ``renewal`` block names
    the line, its balances, the alerts and the actions; the idempotency key is derived from the decision's and the
    block (a Book with another balance is another decision)."""
    todo = {i.application_id: i.currency for i in items
            if bool(((i.body.get("policy") or {}).get("parameters") or {}).get("renewals_propose_actions"))}
    if not todo or book is None or book.empty:
        return list(items)
    currency = next(iter(todo.values()))
    b = book[book["currency"].astype(str) == currency] if "currency" in book.columns else book
    if b.empty:
        return list(items)
    lines = lines_to_review(b, applications, as_of, str(season))
    by_app = {str(line["review_application_id"]): line for line in lines.to_dict("records")}
    if not by_app:
        return list(items)
    r = rules or ActionRules()
    out = []
    for item in items:
        line = by_app.get(item.application_id)
        if line is None or item.application_id not in todo or "renewal" in item.body:
            out.append(item)  # (an item given with its block already: a caller of the Dask path applying it again)
            continue
        body = copy.deepcopy(item.body)
        mine = (open_alerts[open_alerts["farmer_token"].astype(str) == item.farmer_token]
                if open_alerts is not None and len(open_alerts) else pd.DataFrame(columns=["field_id", "alert",
                                                                                          "severity"]))
        high = bool(len(mine) and (mine["severity"] == "high").any())
        unvalued = not_reestimated(body)
        actions = propose_actions(new_limit=item.limit, outstanding=int(line["outstanding"]),
                                  new_outcome=item.outcome,
                                  new_maturity=_iso(body.get("computation", {}).get("maturity_date")),
                                  line_maturity=_iso(line["maturity_date"]), high_alert=high, rules=r,
                                  reestimated=not unvalued, keep_unvalued=keeps_unvalued_lines(body),
                                  review_alerts=opens_alerts(body))
        body["renewal"] = {
            "line_id": str(line["line_id"]), "book_limit": int(line["limit"]), "drawn": int(line["drawn"]),
            "outstanding": int(line["outstanding"]), "line_maturity_date": _day_text(_iso(line["maturity_date"])),
            "proposed_actions": list(actions),
            "alerts": sorted({f"{a.field_id}:{a.alert}" for a in mine.itertuples()}) if len(mine) else [],
            "action_rules": {"review_share": r.review_share},
        }
        if (when := balance_date_text(line.get("balance_as_of"))) is not None:  # a dated Book only
            body["renewal"]["balance_as_of"] = when
        key = sha256_hex(canonical_json(["renewal", item.idempotency_key, body["renewal"]]))
        out.append(DecisionItem(idempotency_key=key, application_id=item.application_id,
                                farmer_token=item.farmer_token, season=item.season, as_of=item.as_of,
                                outcome=item.outcome, limit=item.limit, currency=item.currency,
                                reason_codes=item.reason_codes, body=body, kind=item.kind,
                                supersedes=item.supersedes))
    return out


def propose_actions(*, new_limit: int, outstanding: int, new_outcome: str, new_maturity: date | None,
                    line_maturity: date | None, high_alert: bool, rules: ActionRules | None = None,
                    reestimated: bool = True, keep_unvalued: bool = False,
                    review_alerts: bool = False) -> tuple[str, ...]:
    """Proposed actions for a line (see the module docstring and :func:`_actions`); ``review_alerts`` (policies with
    ``open_alerts_act``, 2026.12.6 on): ``REVIEW`` whenever a high-severity alert is open."""
    out = _actions(new_limit=new_limit, outstanding=outstanding, new_outcome=new_outcome, new_maturity=new_maturity,
                   line_maturity=line_maturity, high_alert=high_alert, rules=rules, reestimated=reestimated,
                   keep_unvalued=keep_unvalued)
    if review_alerts and high_alert and "REVIEW" not in out:
        # a line whose crop the monitoring saw fail, not come up or be another crop is looked at by an analyst,
        # even when its new limit still covers what is drawn (it was raised with nothing proposed)
        out = (*out, "REVIEW")
    return out


def _actions(*, new_limit: int, outstanding: int, new_outcome: str, new_maturity: date | None,
             line_maturity: date | None, high_alert: bool, rules: ActionRules | None = None,
             reestimated: bool = True, keep_unvalued: bool = False) -> tuple[str, ...]:
    """Proposed actions for a line (see the module docstring). ``keep_unvalued`` (policies with
    ``keep_unvalued_lines``): a REFER grants nothing until an analyst decides and re-estimates no limit (its limit is
    indicative) — ``FREEZE_UNDRAWN`` and ``REVIEW``, never a shortened term; when it is not ``reestimated`` (the
    models could not value the fields at this checkpoint; :func:`not_reestimated`) the line is kept, no action
    (``REVIEW`` with a high-severity alert). A DECLINE freezes the undrawn line, also with nothing outstanding. Else,
    when the new limit is below the outstanding balance: ``FREEZE_UNDRAWN``, ``SHORTEN_TERM`` when the new maturity
    is earlier than the line's, ``REVIEW`` when the new limit covers less than ``review_share`` of the balance, the
    outcome is REFER or DECLINE or a high-severity alert is open; a REFER covering the balance: ``REVIEW``."""
    r = rules or ActionRules()
    if new_outcome == "REFER" and keep_unvalued:
        # "no estimate" is not "estimate 0": freezing, shortening and reviewing every line of a checkpoint the yield
        # model is not validated at treated the indicative 0 as a re-estimated limit
        if not reestimated:
            return ("REVIEW",) if high_alert else ()
        return ("FREEZE_UNDRAWN", "REVIEW")
    if new_limit >= outstanding:
        if new_outcome == "DECLINE":
            return ("FREEZE_UNDRAWN",)
        # a REFER is reviewed whatever is drawn: with nothing outstanding its undrawn line stayed drawable unsaid
        return ("REVIEW",) if new_outcome == "REFER" else ()
    out = ["FREEZE_UNDRAWN"]
    if new_maturity is not None and line_maturity is not None and new_maturity < line_maturity:
        out.append("SHORTEN_TERM")
    if new_outcome in ("REFER", "DECLINE") or new_limit < r.review_share * outstanding or high_alert:
        out.append("REVIEW")
    return tuple(out)


# --- decisions -------------------------------------------------------------------------------------------

def _iso(v: Any) -> date | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return pd.Timestamp(v).date()


def _day_text(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _link(item: DecisionItem, prev: Any, line: dict[str, Any], alerts: pd.DataFrame, policy: Policy,
          as_of: date, rules: ActionRules, get: Callable[[str], Any] | None = None
          ) -> tuple[DecisionItem, dict[str, Any]]:
    """The re-underwriting record of ``item`` (superseding ``prev``) and its change row. Under a policy with
    ``kept_lines_stand`` the change is measured against the line's standing decision
    (:func:`underwriting.standing.standing_of`; ``get``
    reads a record by id: the store's), else against ``prev``. Under a policy with ``refer_keeps_book_limit``
    (2026.12.8 on) a Book line whose decision compared with is a REFER or DECLINE (not an override) is measured from
    its Book limit — those granted nothing — and the body says so (``compared_with: "book"``,
    ``skipped_record_id``); its outcome, reason codes and stressed value are still that record's."""
    body = copy.deepcopy(item.body)
    stands = kept_lines_stand(body) and is_kept(prev)
    if stands and get is None:
        raise ValueError("re-underwriting after a kept record needs the store's record lookup (get)")
    base = standing_of(prev, get) if stands and get is not None else prev  # the kept REFER's indicative limit is no estimate to compare with
    # a REFER or DECLINE granted nothing: a Book line stands at its Book limit (refer_keeps_book_limit); an analyst's
    # override is a decision in force, and a decided line (D-…) was opened by an APPROVE or REDUCE record
    on_book = base is not None and skips_to_book(body, line["line_id"], base.outcome, getattr(base, "kind", ""))
    if on_book and (ov := override_behind(base, get)) is not None:  # an analyst's override behind the REFER stands
        base, on_book = ov, False
    old_limit = int(base.limit) if base is not None and not on_book else int(line["limit"])
    old_outcome = str(base.outcome) if base is not None else None
    old_codes = set(base.reason_codes) if base is not None else set()
    old_stressed = (base.body.get("computation", {}).get("stressed_value") if base is not None else None)
    new_stressed = body.get("computation", {}).get("stressed_value")
    kinds = set(alerts["alert"]) if len(alerts) else set()
    unvalued = not_reestimated(body)
    # a line the models could not value: its stressed value of 0 is no fall in the crop's condition
    condition_fell = not unvalued and (
        (isinstance(old_stressed, int) and isinstance(new_stressed, int) and new_stressed < old_stressed)
        or bool(kinds & set(DETERIORATION_ALERTS)))
    reasons = list(body.get("reasons", []))
    codes = list(item.reason_codes)
    if item.limit < old_limit and condition_fell and "CROP_CONDITION_DETERIORATED" not in codes:
        # the change since the previous decision, not a step of the waterfall from the request (whose reductions
        # sum to requested - limit; counted there too, they summed to twice the request on a cut to 0)
        reasons.insert(0, {"code": "CROP_CONDITION_DETERIORATED", "reduction": 0,
                           "since_previous": old_limit - item.limit,
                           "text": policy.text("CROP_CONDITION_DETERIORATED"), "principal": True})
        for i, r in enumerate(reasons):
            r["principal"] = i < 4
        codes.insert(0, "CROP_CONDITION_DETERIORATED")
    high = bool(len(alerts) and (alerts["severity"] == "high").any())
    maturity = _iso(body.get("computation", {}).get("maturity_date"))
    actions = propose_actions(new_limit=item.limit, outstanding=int(line["outstanding"]), new_outcome=item.outcome,
                              new_maturity=maturity, line_maturity=_iso(line["maturity_date"]), high_alert=high,
                              rules=rules, reestimated=not unvalued, keep_unvalued=keeps_unvalued_lines(body),
                              review_alerts=opens_alerts(body))
    body["reasons"] = reasons
    body["reunderwrite"] = {
        "line_id": str(line["line_id"]), "previous_record_id": prev.record_id if prev is not None else None,
        "previous_limit": old_limit, "previous_outcome": old_outcome, "limit_change": item.limit - old_limit,
        "outstanding": int(line["outstanding"]), "drawn": int(line["drawn"]), "book_limit": int(line["limit"]),
        "line_maturity_date": _day_text(_iso(line["maturity_date"])),
        "previous_stressed_value": old_stressed, "proposed_actions": list(actions),
        "alerts": sorted({f"{a.field_id}:{a.alert}" for a in alerts.itertuples()}) if len(alerts) else [],
        "action_rules": {"review_share": rules.review_share},
    }
    if (when := balance_date_text(line.get("balance_as_of"))) is not None:  # a dated Book only: others as they were
        body["reunderwrite"]["balance_as_of"] = when
    if unvalued:  # only then: the bodies of re-estimated lines stay as they were
        body["reunderwrite"]["not_reestimated"] = list(unvalued)
    if stands:  # the previous record was kept: the decision compared with (None: the Book line)
        body["reunderwrite"]["standing_record_id"] = base.record_id if base is not None else None
    if on_book:  # compared with the Book limit, not with the REFER or DECLINE record (it granted nothing)
        body["reunderwrite"]["compared_with"] = "book"
        body["reunderwrite"]["skipped_record_id"] = base.record_id
    key = sha256_hex(canonical_json(["reunderwrite", item.idempotency_key, str(line["line_id"])]))
    new = DecisionItem(idempotency_key=key, application_id=item.application_id, farmer_token=item.farmer_token,
                       season=item.season, as_of=as_of.isoformat(), outcome=item.outcome, limit=item.limit,
                       currency=item.currency, reason_codes=tuple(codes), body=body, kind="reunderwrite",
                       supersedes=prev.record_id if prev is not None else None)
    row = {"line_id": str(line["line_id"]), "application_id": item.application_id, "farmer_token": item.farmer_token,
           "currency": item.currency, "book_limit": int(line["limit"]), "old_limit": old_limit, "new_limit": item.limit,
           "change": item.limit - old_limit, "drawn": int(line["drawn"]), "outstanding": int(line["outstanding"]),
           "old_outcome": old_outcome, "new_outcome": item.outcome,
           "new_reasons": ",".join(c for c in codes if c not in old_codes), "reason_codes": ",".join(codes),
           "actions": ",".join(actions), "not_reestimated": ",".join(unvalued),
           "alerts": ",".join(body["reunderwrite"]["alerts"]),
           "record_id": None, "supersedes": new.supersedes,
           "balance_as_of": balance_date_text(line.get("balance_as_of")) or ""}
    return new, row


def _as_stored(row: dict[str, Any], stored: Any, prev: Any, get: Callable[[str], Any]) -> dict[str, Any]:
    """The change row of a re-run whose record is ``stored`` (superseding ``prev``): its reason codes and proposed
    actions as the record holds them — the re-run adds nothing, and a record written by an earlier release keeps
    what that release proposed (the row printed this release's, which no record held). The line's Book limit,
    drawn and outstanding as the record holds them too: a decided line (``D-…``) is read from the latest record
    on or before the date, on a re-run this very record, whose new limit was printed as the Book limit. The old limit
    and change too (``previous_limit``, ``limit_change``): what the record was compared with."""
    ru = stored.body.get("reunderwrite") or {}
    line = {k: ru[k] for k in ("book_limit", "drawn", "outstanding") if isinstance(ru.get(k), int)}
    line["balance_as_of"] = str(ru.get("balance_as_of") or "")
    # the limit it was compared with as the record holds it (refer_keeps_book_limit: the Book limit)
    line |= {c: ru[k] for k, c in (("previous_limit", "old_limit"), ("limit_change", "change"))
             if isinstance(ru.get(k), int) and not isinstance(ru.get(k), bool)}
    if "standing_record_id" in ru:  # compared with the line's standing decision (kept_lines_stand)
        prev = standing_of(prev, get)
    old_codes = set(prev.reason_codes) if prev is not None else set()
    codes = [str(c) for c in stored.reason_codes]
    return {**row, **line, "reason_codes": ",".join(codes),
            "new_reasons": ",".join(c for c in codes if c not in old_codes),
            "actions": ",".join(ru.get("proposed_actions") or []),
            "not_reestimated": ",".join(ru.get("not_reestimated") or [])}


def reunderwrite(*, season: str, as_of: date, fields: gpd.GeoDataFrame, imagery: str | Path | None,
                 book: pd.DataFrame, applications: pd.DataFrame, store: DecisionStore | str | None,
                 policy: Policy, profile: str, cache_dir: Path | None = None, history: pd.DataFrame | None = None,
                 operator: str | None = None, prices: Any = None, models: ScoringModels | None = None,
                 series: pd.DataFrame | None = None, crops: Sequence[str] | None = None,
                 include_decided: bool = True, alert_params: AlertParams | None = None, rules: ActionRules | None = None,
                 progress: Progress | None = None, weather: pd.DataFrame | str | Path | None = None,
                 crop_season_scale: float | None = None,
                 haze_dates: Sequence[date] | None = None, same_day_done: bool = False,
                 yield_history: pd.DataFrame | None = None, open_on: date | None = None,
                 memo: dict[Any, Any] | None = None,
                 allow_missing_acquisitions: bool = False, runner: Any = None,
                 chunk_fields: int | None = None, set_aside: Sequence[Any] = (),
                 rejects: str | Path | None = None, book_check_when_deciding: bool = False,
                 collect: list[DecisionItem] | None = None,
                 set_aside_stamp: dict[str, Any] | None = None, shadow: bool = False) -> ReunderwriteResult:
    """Re-underwrite the active lines of ``book`` as of ``as_of`` (see the module docstring).

    ``fields``: the Fields of the season (other seasons' rows give the alerts' expectations);
    ``cache_dir``: the cache root (featurize keeps series under ``series/`` and planted area under ``area/``);
    ``models``: resolved once (default: the registry's champions); ``prices``: a PriceTable (default
    the shipped one); ``series``: this season's FieldTimeSeries instead of building it; ``crops``: only
    the lines of these crops; ``history``: past seasons' FieldTimeSeries; ``weather``: a daily weather file or
    table (:mod:`features.weather`; default: the one ``models`` carry) — a yield model that reads weather refuses
    to score without it (one-line user error). ``crop_season_scale`` and ``haze_dates`` pin the crop model's season
    scale and the smoother's scene haze dates (an earlier record's ``crop_season_scale`` and
    ``smoother_hazy_dates``), as on ``underwrite``. Lines whose application has a record dated after ``as_of``
    (``same_day_done``: on or after) are skipped with a warning (:func:`forward_only`). ``open_on`` (a checkpoint
    run late: the day it runs): lines matured before that day are left out with a warning — a closed line has
    nothing left to follow, and its record would be dated before the later ones. ``memo``: for
    :func:`reunderwrite_due` only — a dict kept across the calls of one `--due` run on one county, so two crops due
    the same day featurize the fields once (its keys assume the same county, fields object and series source).
    ``allow_missing_acquisitions``: go on when a partial ``imagery fetch`` recorded acquisitions of the window
    missing (else refused: :func:`features.series.missing_acquisitions`); the records' provenance names the dates.
    ``runner`` (:func:`pipelines.distributed.runner_from_options`; ``--scheduler``/``--workers``): the series and
    features are built on its spatial blocks of ``chunk_fields`` fields (:func:`pipelines.distributed.featurize_on`;
    a scene folder, a series table, ``sentinelhub-stats`` or ``sentinelhub``) — the same features, alerts
    and decisions as on one machine.
    ``set_aside``: the rows the fields file's reading set aside (``--rejects``; :class:`features.fields.SetAside`,
    left out of ``fields``): the lines of a farmer with such a row of the season (:func:`features.fields.held_farmers`)
    are not re-decided (:attr:`ReunderwriteResult.held_lines`; their previous records stay in force), the rows are
    written to ``rejects`` with those lines' applications before any record is stored, and the records name the
    rows of the season and the applications held (:func:`_set_aside_stamp`; nothing when no row is of the season).
    A line re-underwritten as of ``as_of`` by such a run that held lines is not re-decided by a later run of that
    date, also when an analyst overrode it since (the run after the rows are corrected decides the held lines only;
    :func:`_by_rejects_run`).
    ``book_check_when_deciding`` (a ``--due`` run's checkpoint): a dated Book's refusal of a line open on ``as_of``
    without a balance on or before it (:func:`underwriting.book.book_as_of`) only when the checkpoint has lines to
    re-decide (:func:`checkpoint_lines`) — a checkpoint with none (no line of its crop open, every line covered by a
    later record) decides nothing on the Book of that date and runs as one with a sound Book.
    ``collect`` (``audit replay --reunderwriting``): the new records' items are put in this list instead of being
    appended, and the features artifact is hashed, not written — nothing is written to the store or beside it.
    ``set_aside_stamp`` (a replay of a ``--rejects`` run with the fields file corrected since: its rows no longer
    fail, so the rejects file's hash cannot be recomputed): the records' :data:`pipelines.underwrite.SET_ASIDE_KEY`
    entry as the run wrote it, instead of :func:`_set_aside_stamp`'s.
    A run of every crop's lines (``crops`` None) that writes records logs them as one run beside them, in their
    transaction (:func:`pipelines.schedule.plain_run_logger`).
    ``shadow`` (a run that writes records): once they are appended, each model's ``challenger`` (another version than
    the run's) re-decides the same lines in its place on the store as the run read it (:func:`_in_shadow`: this
    function again, on a read-only view, with ``collect``; the features the run built are reused through ``memo``)
    and those decisions go to the store's shadow table beside the run's records (:attr:`ReunderwriteResult.shadow`);
    never records, and a shadow that fails leaves the run as it is.
    """
    if shadow and collect is None and memo is None:  # the shadow runs reuse the run's features
        memo = {}
    call = dict(locals())  # the run's arguments, for its shadow runs
    from models.prices import read_prices
    from pipelines.featurize import featurize, require_weather
    from underwriting.decisions import decide_batch

    season = str(season)
    from underwriting.book import book_as_of

    # a dated Book: each line's latest balance on or before the date (else as it is); refused on a line open on the
    # day without one — with ``book_check_when_deciding``, only once the date has lines to re-decide (below)
    given_book = book
    book = book_as_of(book, as_of, refuse=not book_check_when_deciding)  # type: ignore[assignment]
    if series is None:  # a partial `imagery fetch`: refused before any work
        from features.series import missing_acquisitions

        missing_acquisitions(fields, imagery, season, as_of, allow=allow_missing_acquisitions)
    warnings: list[str] = []
    say = progress or (lambda _m: None)
    label = checkpoint_label(season, fields_region(fields) or "", as_of) if len(fields) else "end"
    own = not isinstance(store, DecisionStore)
    # the store must exist: re-underwriting follows stored decisions (a mistyped --store creates nothing)
    st = store if isinstance(store, DecisionStore) else DecisionStore(store, create=False, writer=True)
    try:
        recs = st.records(season)
        todo, recheck, held_lines = checkpoint_lines(book, applications, as_of, season,
                                                     recs, include_decided=include_decided, crops=crops,
                                                     set_aside=set_aside, rejects=rejects, open_on=open_on,
                                                     same_day_done=same_day_done, warnings=warnings)
        if todo.empty:
            warnings.append(f"no active line to re-underwrite on {as_of}")
            return ReunderwriteResult(season, as_of, label, [], pd.DataFrame(columns=CHANGE_COLUMNS), pd.DataFrame(),
                                      warnings=warnings, held_lines=held_lines, set_aside=list(set_aside))
        if book_check_when_deciding:  # lines to re-decide on this date: the dated Book's refusal of the day
            book_as_of(given_book, as_of)
        apps = applications[applications["application_id"].isin(set(todo["review_application_id"]))]
        # the line's maturity bounds the re-decided term: a re-underwriting after the expected harvest gave a fresh
        # marketing window from the checkpoint and extended lines past their contract (shortening is proposed)
        ends = {str(a): _day_text(_iso(m)) for a, m in zip(todo["review_application_id"], todo["maturity_date"],
                                                            strict=True)}
        apps = apps.assign(latest_maturity_date=apps["application_id"].astype(str).map(ends))
        resolved, wx = ScoringModels.for_run(models, weather=weather, warnings=warnings, on=as_of)
        models = resolved.with_season_scale(crop_season_scale)
        prices = prices if prices is not None else read_prices()
        say(f"features as of {as_of}")
        key = ("featurize", season, as_of.isoformat(), models.crop_version, crop_season_scale,
               tuple(haze_dates or ()), id(fields), str(imagery), None if series is None else id(series),
               allow_missing_acquisitions)
        # the objects the key names by id() are kept in the entry (_memo_put): not collected while the memo lives,
        # their ids cannot be another object's
        refs = (fields, series)
        fr = _memo_get(memo, key, refs)
        if fr is None and runner is not None and series is None and imagery is not None:  # --scheduler/--workers
            from pipelines.distributed import featurize_on

            fr = featurize_on(runner, fields, imagery, season, as_of, crop_model=models.crop_model,
                              cache_dir=cache_dir, weather=wx, haze_dates=haze_dates,
                              allow_missing_acquisitions=allow_missing_acquisitions, chunk_fields=chunk_fields)
            _memo_put(memo, key, fr, refs)
        if fr is None:  # the fields, imagery and models of one `--due` run are the same for every crop due that day
            fr = featurize(fields, imagery, season, as_of, crop_model=models.crop_model, cache_dir=cache_dir,
                           series=series, weather=wx, haze_dates=haze_dates,
                           allow_missing_acquisitions=allow_missing_acquisitions)
            _memo_put(memo, key, fr, refs)
        warnings.extend(fr.warnings)
        feats = fr.features
        require_weather(feats, models.yield_model, f"{models.yield_name} version {models.yield_version}")
        say(f"valuations ({models.yield_name} v{models.yield_version})")
        # exactly as `underwrite` values (pipelines.underwrite._valuations): the features aligned to the model's
        # columns, each region's checkpoint from its calendar and the crops valued there — so the same field on the
        # same date is in (or out of) the model's validated scope on both paths
        from pipelines.underwrite import _valuations, align_features, later_prices

        if yield_history is not None:  # the pre-season rule values a field on its reported yields (as underwrite)
            from features._yield_history import add_history_yields

            feats = add_history_yields(feats, yield_history, season)
        feats = align_features(feats, models.yield_model, warnings)
        vals, label = _valuations(feats, models, prices, policy.profile(profile).currency, season, as_of, warnings)
        warnings.extend(later_prices(prices.to_frame(), vals, season, as_of,
                                     known_at_decision=bool(policy.profile(profile).prices_known_at_decision)))
        # the lines being re-decided are not exposure against themselves (a farmer's lines reviewed together are
        # one row "L1+L2": each of its Book lines is left out)
        known = set(book["line_id"].astype(str))
        reviewed = {str(x) for x in todo["line_id"]}
        reviewed |= {part for x in list(reviewed) if x not in known for part in x.split("+") if part in known}
        sha = write_features_artifact(feats, st.url, write=collect is None)
        from features.regions import provenance as regions_provenance

        provenance = {"features_sha256": sha, "run": f"reunderwrite {season} {as_of.isoformat()}",
                      "checkpoint": label, "imagery_source": portable_source(fr.source),
                      "acquisition_dates": [d.isoformat() for d in fr.dates_used],
                      "crop_model_version": models.crop_version, "smoother_hazy_dates": list(fr.hazy_dates),
                      **({"smoother_haze_pinned": True} if fr.haze_pinned else {}),
                      # decided without them (--allow-missing-acquisitions): only then, records as before
                      **({"missing_acquisitions": list(fr.missing_acquisitions)} if fr.missing_acquisitions else {}),
                      **regions_provenance(),
                      **(_set_aside_stamp(set_aside, season, held_lines) if set_aside_stamp is None
                         else {SET_ASIDE_KEY: set_aside_stamp})}
        from pipelines.monitor import alert_params_of, season_alerts

        # each alert names its farmer's open lines of the season in the whole Book, as monitor and the report name
        # them — not only the lines of this checkpoint's crops (an alert printed with line "-" at the soybean
        # checkpoint named its maize line at the maize one, the same day); the records carry no alert's line
        # a shadow run of a yield-value challenger (the same features, series, history, Book, weather and crop model):
        # the run's alerts, not computed again (their earlier checkpoints' crop probabilities featurize again)
        akey = ("alerts", season, as_of.isoformat(), key, tuple(feats.columns), id(history), id(given_book), id(wx),
                repr(alert_params))
        arefs = (fields, series, history, given_book, wx)
        got_alerts = _memo_get(memo, akey, arefs)
        if got_alerts is None:
            said_alerts: list[str] = []
            got_alerts = (season_alerts(fields, fr.series, history, season, as_of, features=feats, book=book,
                                        params=alert_params or alert_params_of(models.crop_model,
                                                                               fields_region(fields)),
                                        warnings=said_alerts, weather=wx if isinstance(wx, pd.DataFrame) else None,
                                        crop_model=models.crop_model), said_alerts)
            _memo_put(memo, akey, got_alerts, arefs)
        alerts = got_alerts[0]
        warnings.extend(got_alerts[1])
        if policy.profile(profile).open_alerts_act:  # 2026.12.6: a crop the monitoring saw fail is no collateral
            feats = with_failures_observed(feats, alerts)
        say("decisions")
        from underwriting.decisions import pledge_holders

        items = decide_batch(apps, feats, vals, prices.to_frame(), book, policy, profile, as_of,
                             provenance=provenance, pledged=pledge_holders(recs, season), exclude_lines=reviewed)
        by_app = {i.application_id: i for i in items}
        out_items, rows, forked, kept, stand = [], [], [], [], []
        prev_kind: dict[str, str] = {}  # record id -> kind of the records the new ones replace (as read now)
        for line in todo.to_dict("records"):
            item = by_app[str(line["review_application_id"])]
            prev = st.latest(item.application_id, as_of=as_of)
            mine = alerts[alerts["farmer_token"] == item.farmer_token] if len(alerts) else alerts
            new, row = _link(item, prev, line, mine, policy, as_of, rules or ActionRules(), st.get)
            rid = record_id_for(new.idempotency_key)
            if prev is not None and prev.record_id == rid:
                # this very record is stored (a re-run): rebuild it against what it superseded
                stored, prev = prev, st.get(prev.supersedes) if prev.supersedes else None
                new, row = _link(item, prev, line, mine, policy, as_of, rules or ActionRules(), st.get)
                row = _as_stored(row, stored, prev, st.get)
            elif item.application_id in recheck:  # not the stored record of this date, and later ones exist
                forked.append(str(line["line_id"]))
                continue
            elif prev is not None and st.get(rid) is not None:
                # this date's record is stored and was replaced since (an analyst's override, or a re-underwriting
                # of the same day with other inputs): a re-run leaves the newer record in force
                kept.append(f"{item.application_id} ({prev.kind})")
                continue
            elif prev is not None and _by_rejects_run(prev, as_of, st.get):
                # re-decided this date by a run that set fields rows aside (not this farmer's): the run after the
                # rows are corrected decides the lines it held, not these again
                stand.append(str(line["line_id"]))
                continue
            if prev is not None:
                prev_kind[prev.record_id] = prev.kind
            out_items.append(new)
            rows.append(row)
        if forked:
            newest = str(recs.loc[recs["application_id"].isin(recheck), "as_of"].max())
            warnings.append(skipped_note(forked, newest))
        if kept:
            warnings.append(f"{len(kept)} line(s) already re-underwritten as of {as_of} and replaced since; the newer "
                            f"record stays in force: {', '.join(kept[:5])}{', ...' if len(kept) > 5 else ''}")
        if stand:
            warnings.append(f"{len(stand)} line(s) already re-underwritten as of {as_of} by a run that set fields rows "
                            "aside (--rejects): their records stand (a run after the rows are corrected re-decides the "
                            f"lines it held only): {', '.join(stand[:5])}{', ...' if len(stand) > 5 else ''}")
        if collect is not None:  # a replay: the items it would have written, nothing appended
            collect.extend(out_items)
            res = AppendResult(written=0, already_present=0)
        else:
            # a plain run (every crop's lines; a --due checkpoint is logged by its CheckpointLog) logs its records as
            # one run, in their transaction: `audit replay --reunderwriting` replays each run of a date on its own
            from pipelines.schedule import plain_run_logger

            res = st.append(out_items, operator=operator or DEFAULT_OPERATOR,
                            also=None if crops is not None else plain_run_logger(
                                season, fields_region(fields) or "", as_of, len(out_items)))
        for row, it in zip(rows, out_items, strict=True):
            row["record_id"] = record_id_for(it.idempotency_key)
        new_ids = set(res.record_ids)
        # a kept line (re-estimated nothing; policy kept_lines_stand) replaces no override: it stands on it
        replaced = [it.application_id for it in out_items if prev_kind.get(str(it.supersedes)) == "override"
                    and record_id_for(it.idempotency_key) in new_ids
                    and not (kept_lines_stand(it.body) and (it.body.get("reunderwrite") or {}).get("not_reestimated"))]
        if replaced:
            warnings.append(f"{len(replaced)} analyst override(s) replaced by this re-underwriting (the new limit "
                            f"follows the policy, not the override): {', '.join(replaced[:5])}"
                            f"{', ...' if len(replaced) > 5 else ''}")
        changes = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
        said = (_in_shadow(call, resolved, out_items, st, operator=operator or DEFAULT_OPERATOR, warnings=warnings,
                           written=new_ids)
                if shadow and collect is None and out_items else [])
        return ReunderwriteResult(season=season, as_of=as_of, checkpoint=label, items=out_items, changes=changes,
                                  alerts=alerts, written=res.written, already_present=res.already_present,
                                  warnings=warnings,
                                  models={"yield-value": models.yield_version, "crop-type": models.crop_version},
                                  models_said=models.said, hazy_dates=list(fr.hazy_dates), haze_pinned=fr.haze_pinned,
                                  held_lines=held_lines, set_aside=list(set_aside), shadow=said)
    finally:
        if own:
            st.close()


def _memo_get(memo: dict[Any, Any] | None, key: Any, refs: tuple[Any, ...]) -> Any:
    """``memo``'s value for ``key`` (None: none) — only while the objects it was computed on (``refs``, named in the
    key by ``id()``) are those given now."""
    got = memo.get(key) if memo is not None else None
    if got is None or len(got[1]) != len(refs) or any(a is not b for a, b in zip(got[1], refs, strict=True)):
        return None
    return got[0]


def _memo_put(memo: dict[Any, Any] | None, key: Any, value: Any, refs: tuple[Any, ...]) -> None:
    """Keep ``value`` under ``key`` with the objects the key names by ``id()`` (``refs``): held by the memo, they are
    not collected, so no other object can take their ids while the entry lives."""
    if memo is not None:
        memo[key] = (value, refs)


def _in_shadow(call: dict[str, Any], models: ScoringModels, in_force: list[DecisionItem], st: DecisionStore, *,
               operator: str, warnings: list[str], written: set[str] | None = None) -> list[Any]:
    """The challengers of ``models`` (the run's, before any season scale is pinned: the shadow run pins it as the run
    did) in shadow of a re-underwriting whose records (``in_force``: written, or found written by an earlier run of
    the date) are stored: :func:`reunderwrite` again with ``call`` (the run's arguments, ``memo`` included: the
    features, history and fields it built or read are not built again for a yield-value challenger) and the
    challenger swapped in, on a read-only view of the store before the first of those records
    (:func:`pipelines.replay.store_view`: the store as the run — or the earlier run that wrote them — read it, so
    each line is compared with the same previous record), its items collected, not appended; paired with the run's
    and added to the shadow table (:func:`pipelines.shadow.run_shadow`). A re-run that finds some of its records
    present and writes the others (``written``: their ids) decides each group on its own view — the found ones on
    the store before the first of them, the new ones before the first new one — so no line drops out of the shadow
    because the earlier view lacks what it follows. The crop season scale is pinned by the shadow run itself (its
    ``crop_season_scale``), once. What each did; a registry that cannot say which challengers there are is one
    warning."""
    from pipelines.replay import store_view
    from pipelines.shadow import failure_text, run_shadow, shadow_sets

    try:
        # season_scale None: the shadow run below pins call["crop_season_scale"] itself (pinned twice, the
        # provenance named it twice)
        sets, said = shadow_sets(models, season_scale=None)
    except Exception as e:
        warnings.append(f"shadow: the registry's challengers could not be read, none ran: {failure_text(e)}")
        return []
    if not sets:
        return list(said)
    app_of = {record_id_for(i.idempotency_key): str(i.application_id) for i in in_force}
    recs = st.records(str(call["season"]))
    seq = dict(zip(recs["record_id"], recs["seq"], strict=True))
    groups = [g for g in ({r for r in app_of if r in (written or set())}, {r for r in app_of
                                                                          if r not in (written or set())}) if g]
    views = []  # (the store before the first record of the group, the group's applications)
    for g in groups:
        seqs = [int(seq[r]) for r in g if r in seq]
        views.append((min(seqs) if seqs else None, {app_of[r] for r in g}))

    def decided(s: Any) -> list[DecisionItem]:
        out: list[DecisionItem] = []
        for first, apps in views:
            got: list[DecisionItem] = []
            with store_view(st.url, before=first) as view:  # the rejects file is the run's: not written again
                reunderwrite(**{**call, "store": view, "models": s.models, "collect": got, "shadow": False,
                                "progress": None, "rejects": None})
            out += [i for i in got if str(i.application_id) in apps]
        return out

    return [*said, *run_shadow(sets, decided, in_force, st.url, operator, unit="lines")]


def checkpoint_lines(book: pd.DataFrame, applications: pd.DataFrame, as_of: date, season: str,
                     records: pd.DataFrame, *, include_decided: bool = True, crops: Sequence[str] | None = None,
                     set_aside: Sequence[Any] = (), rejects: str | Path | None = None, open_on: date | None = None,
                     same_day_done: bool = False, warnings: list[str] | None = None
                     ) -> tuple[pd.DataFrame, set[str], list[tuple[str, str]]]:
    """The lines a re-underwriting of ``season`` as of ``as_of`` re-decides (:func:`reunderwrite`'s selection): the
    :func:`lines_to_review` of ``crops`` (with ``include_decided``, the store's ``records`` of the season give the
    decided lines too), without the held farmers' (:func:`_hold`, the rejects file written when given), those
    matured before ``open_on`` and those a later record covers (:func:`forward_only`, which raises
    :class:`AlreadyDecidedLater` when that leaves none). Returns them, the lines to re-check once decided and the held
    lines. ``book`` as it is or as of the day (:func:`underwriting.book.book_as_of`, which the selection applies
    without refusing) — a ``--due`` run asks it of each due checkpoint up front, before any work, to know which dates
    it will decide on (:func:`deciding_dates`)."""
    warnings = warnings if warnings is not None else []
    todo = lines_to_review(book, applications, as_of, season, records=records if include_decided else None,
                           warnings=warnings, crops=crops)
    if crops is not None:
        todo = todo[todo["crop"].isin(list(crops))].reset_index(drop=True)
    todo, held_lines = _hold(todo, set_aside, season, rejects)
    if open_on is not None and len(todo):
        closed = (pd.to_datetime(todo["maturity_date"]) < pd.Timestamp(open_on)).to_numpy()
        if closed.any():
            warnings.append(f"{int(closed.sum())} line(s) active on {as_of} matured before {open_on}: not "
                            "re-decided (a closed line has nothing left to follow)")
            todo = todo[~closed].reset_index(drop=True)
    todo, recheck = forward_only(todo, records, as_of, warnings, same_day_done=same_day_done)
    return todo, recheck, held_lines


def _hold(todo: pd.DataFrame, set_aside: Sequence[Any], season: str,
          rejects: str | Path | None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """``todo`` without the lines of the farmers with a fields row set aside (:func:`features.fields.held_farmers`)
    and those lines (line id, application id); the rejects file written (with their applications) when given —
    before any record is stored."""
    from features.fields import held_farmers, write_rejects

    tokens = held_farmers(set_aside, season)
    by_farmer: dict[str, list[str]] = {}
    held: list[tuple[str, str]] = []
    if tokens and len(todo):
        hit = todo["farmer_token"].astype(str).isin(tokens)
        mine = todo[hit]
        for tok, aid in zip(mine["farmer_token"].astype(str), mine["review_application_id"].astype(str), strict=True):
            by_farmer.setdefault(tok, []).append(aid)
        held = sorted(zip(mine["line_id"].astype(str), mine["review_application_id"].astype(str), strict=True))
        todo = todo[~hit].reset_index(drop=True)
    if rejects is not None:
        write_rejects(set_aside, rejects, by_farmer)
    return todo, held


#: the entry of :data:`pipelines.underwrite.SET_ASIDE_KEY` naming the applications a ``--rejects`` run held
HELD_KEY = "held_applications"
#: the entry of :data:`pipelines.underwrite.SET_ASIDE_KEY` naming the field ids of the rows a ``--rejects`` run set
#: aside (those with a readable one): a replay with the rows corrected since sets them aside again
#: (:func:`pipelines.replay.replay_reunderwriting_files`)
FIELD_IDS_KEY = "field_ids"


def _set_aside_stamp(set_aside: Sequence[Any], season: str, held: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The records' provenance entry of a ``--rejects`` run (:func:`pipelines.underwrite.set_aside_provenance`) with
    the rows of ``season`` only (:func:`features.fields.of_season`: a row of another season holds no line of this
    one; nothing when none is), the applications the run held (:data:`HELD_KEY`, sorted; empty when it held
    none) and the rows' field ids (:data:`FIELD_IDS_KEY`, sorted; a row whose field id is the problem has none) —
    what :func:`_by_rejects_run` reads."""
    from features.fields import of_season

    rows = [r for r in set_aside if of_season(r, season)]
    out = set_aside_provenance(rows)
    if out:
        out[SET_ASIDE_KEY][HELD_KEY] = sorted({aid for _line, aid in held})
        out[SET_ASIDE_KEY][FIELD_IDS_KEY] = sorted({str(r.field_id) for r in rows if r.field_id is not None})
    return out


def _by_rejects_run(prev: Any, as_of: date, get: Callable[[str], Any]) -> bool:
    """Whether ``prev`` is — or overrides (an analyst's override since, followed through ``supersedes``) — a
    re-underwriting record of ``as_of`` by a run that set fields rows aside and held lines (its provenance's
    :data:`pipelines.underwrite.SET_ASIDE_KEY` with :data:`HELD_KEY` not empty; a record of a release before that
    entry: held, as that release read it). ``get``: a record by id (:meth:`DecisionStore.get`)."""
    seen: set[str] = set()
    while prev is not None and prev.kind == "override" and prev.supersedes and str(prev.record_id) not in seen:
        seen.add(str(prev.record_id))
        prev = get(str(prev.supersedes))
    if prev is None or prev.kind != "reunderwrite" or str(prev.as_of)[:10] != as_of.isoformat():
        return False
    entry = ((prev.body or {}).get("provenance") or {}).get(SET_ASIDE_KEY)
    if not isinstance(entry, dict):
        return entry is not None
    return bool(entry.get(HELD_KEY, True))


def refuse_before_work(book: pd.DataFrame | None, as_of: date, store: DecisionStore | str | None,
                       runner: Any = None, *, deciding: dict[str, Any] | None = None) -> None:
    """The cheap refusals of :func:`reunderwrite`, made before the past seasons' series are built — a dated Book with
    a line open on ``as_of`` and no balance on or before it (:func:`underwriting.book.book_as_of`); with a Dask
    ``runner`` (the past seasons mapped on the cluster) also a store that does not exist and the scene reference on.
    ``deciding`` (the run's :func:`checkpoint_lines` selection: ``applications``, ``season`` and its optional
    keywords; a run with ``book_check_when_deciding``): the Book's refusal only when the date has lines to re-decide
    (:func:`_decides`) — a date with none runs as one with a sound Book."""
    from underwriting.book import book_as_of

    if deciding is None or _decides(book, as_of, store, **deciding):
        book_as_of(book, as_of)
    if runner is not None:
        from features._scene_reference import reference_default

        if not isinstance(store, DecisionStore):  # a mistyped --store creates nothing
            DecisionStore(store, create=False, writer=True).close()
        if reference_default():
            raise UserInputError("--scheduler/--workers: not with the scene reference on "
                                 "(AGCREDIT_SCENE_REFERENCE=1); run on one machine")


def _decides(book: pd.DataFrame | None, as_of: date, store: DecisionStore | str | None, *,
             applications: pd.DataFrame, season: str, **select: Any) -> bool:
    """Whether a run re-decides lines on ``as_of`` (:func:`checkpoint_lines` on the store's records as they are, the
    rejects file not written): cheap — the Book, applications and records; only asked of a dated Book (an undated
    one has nothing to refuse). Lines all covered by later records: the run's own refusal
    (:class:`AlreadyDecidedLater`), raised here, before the work."""
    from underwriting.book import is_dated

    if book is None or not is_dated(book):
        return False
    if isinstance(store, DecisionStore):
        recs = store.records(str(season))
    else:  # a mistyped --store creates nothing
        with DecisionStore(store, create=False) as st:
            recs = st.records(str(season))
    todo, _, _ = checkpoint_lines(book, applications, as_of, str(season), recs, **select)
    return len(todo) > 0


def reunderwrite_county(county: County | str | Path, season: str | None, as_of: date, *,
                        store: DecisionStore | str | None, policy: Policy | None = None, profile: str | None = None,
                        operator: str | None = None, models: ScoringModels | None = None,
                        crops: Sequence[str] | None = None, alert_params: AlertParams | None = None,
                        progress: Progress | None = None, crop_season_scale: float | None = None,
                        haze_dates: Sequence[date] | None = None,
                        history: pd.DataFrame | None = None, same_day_done: bool = False,
                        open_on: date | None = None, memo: dict[Any, Any] | None = None,
                        allow_missing_acquisitions: bool = False, runner: Any = None,
                        chunk_fields: int | None = None, book_check_when_deciding: bool = False,
                        collect: list[DecisionItem] | None = None,
                        refuse_rejected: bool = True, shadow: bool = False) -> ReunderwriteResult:
    """:func:`reunderwrite` on a county folder's records, scenes and weather (cache under the county's cache dir;
    ``runner``, ``chunk_fields``, ``book_check_when_deciding``, ``collect``: as :func:`reunderwrite`).
    ``refuse_rejected``: fields of the season rejected when reading the county's records refuse the run
    (:meth:`pipelines.county.County.refuse_rejected`) — not an ``audit replay``, which recomputes records as they
    ran.
    ``history``: the past seasons' series (:meth:`County.past_series`, or with ``runner`` built on its blocks:
    :func:`pipelines._dask_featurize.past_series_on`; read from the county when None) — give it to
    re-underwrite several checkpoints of a season without reading them again; ``memo`` (:func:`reunderwrite`) also
    keeps the county's fields and each season's past series across the calls of one `--due` run. ``shadow``: as
    :func:`reunderwrite`."""
    from pipelines.county import County
    from underwriting.policy import default_policy

    c = county if isinstance(county, County) else County(county)
    season = str(season or c.current_season)
    pol = policy or default_policy()
    prof = profile or c.profile
    if not prof:
        raise UserInputError(f"{c.path}: county.json has no policy_profile; give --profile")
    if refuse_rejected:  # a line is not re-decided on part of its farmer's land (the county's records), before work
        c.refuse_rejected(season)
    def past() -> pd.DataFrame | None:  # with a runner, each past season's series on its blocks (as this season's)
        if runner is None:
            return c.past_series(season)
        from pipelines._dask_featurize import past_series_on

        return past_series_on(runner, fields, c.imagery, season, cache_dir=c.cache_dir / "series",
                              chunk_fields=chunk_fields)

    book, applications = c.book(), c.applications()
    # before the past seasons' series (on a cluster: mapped there); with book_check_when_deciding (--due, a plain
    # --as-of from the CLI) the Book's refusal only when the date has lines to re-decide (reunderwrite checks it again)
    refuse_before_work(book, as_of, store, runner, deciding=dict(
        applications=applications, season=season, crops=crops, open_on=open_on,
        same_day_done=same_day_done) if book_check_when_deciding else None)
    if memo is not None:  # one `--due` run: the fields and past series read once
        if ("fields",) not in memo:
            memo[("fields",)] = c.fields()
        fields = memo[("fields",)]
        if history is None:
            if ("history", season) not in memo:
                memo[("history", season)] = past()
            history = memo[("history", season)]
    else:
        fields = c.fields()
    return reunderwrite(season=season, as_of=as_of, fields=fields, imagery=c.imagery, book=book,
                        applications=applications, store=store, policy=pol, profile=prof,
                        cache_dir=c.cache_dir, history=history if history is not None else past(),
                        operator=operator,
                        models=models, crops=crops, alert_params=alert_params, progress=progress,
                        weather=c.weather(), crop_season_scale=crop_season_scale, haze_dates=haze_dates,
                        same_day_done=same_day_done, yield_history=c.history(), open_on=open_on, memo=memo,
                        allow_missing_acquisitions=allow_missing_acquisitions, runner=runner,
                        chunk_fields=chunk_fields, book_check_when_deciding=book_check_when_deciding,
                        collect=collect, shadow=shadow)


def season_of(season: str | None, known: list[str], default: str, where: str) -> str:
    """``season`` (checked against the ``known`` seasons of ``where``) or ``default``."""
    from features.contracts import check_season

    if season is None:
        return default
    s = check_season(season, where="--season")
    if s not in known:
        raise UserInputError(f"--season {s}: not a season of the {where} (its seasons: {', '.join(known)})")
    return s


def check_day(fields: Any, season: str, day: date) -> None:
    """A user error when ``day`` is before ``season`` starts or after its imagery window ends (checked before any
    scene is read)."""
    from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

    check_as_of_in_season(fields, season, day)
    check_as_of_in_window(fields, season, day)


def files_profile(pol: Policy, applications: pd.DataFrame, book: pd.DataFrame, season: str, day: date) -> str:
    """Without --county and --profile: the policy's profile in the currency of the season's applications and Book
    lines (their terms of ``day``: :func:`underwriting.book.book_as_of` — a line renewed into the season under the
    same line id is of it), chosen as underwrite chooses it (:func:`pipelines.underwrite.profile_for_currency`; a user
    error naming the profiles when the currency is mixed or no profile's)."""
    from pipelines.underwrite import profile_for_currency
    from underwriting.book import book_as_of

    book = book_as_of(book, day, refuse=False)  # the run refuses it when it re-decides lines on the day
    apps = applications[applications["season"].astype(str) == season]
    lines = book[book["season"].astype(str) == season] if "season" in book.columns else book
    currencies = set(apps["currency"].astype(str))
    if "currency" in lines.columns:
        currencies |= set(lines["currency"].astype(str))
    return profile_for_currency(pol, sorted(currencies))


@dataclass(frozen=True)
class FilesInputs:
    """A bank's own files of a re-underwriting (``reunderwrite --fields/--imagery/--book/--applications``), read and
    checked by :func:`read_files_inputs`: the fields (every season: past ones give the alerts' bands) without the rows
    set aside, the season, the Book, applications, weather and reported yields."""

    fields: Any
    imagery: str
    book: pd.DataFrame
    applications: pd.DataFrame
    season: str
    weather: pd.DataFrame | None = None
    yield_history: pd.DataFrame | None = None
    #: the fields file's rows set aside (``--rejects``, or a replay reading the file as such a run did)
    set_aside: list[Any] = field(default_factory=list)
    #: a replay of a ``--rejects`` run whose rows were corrected since: its records' set-aside entry
    #: (:func:`reunderwrite`'s ``set_aside_stamp``)
    set_aside_stamp: dict[str, Any] | None = None


def read_files_inputs(fields: str | Path, imagery: str, book: str | Path, applications: str | Path,
                      season: str | None, as_of: date, *, weather: str | Path | None = None,
                      yield_history: str | Path | None = None, rejects: str | Path | None = None,
                      set_aside: bool = False) -> FilesInputs:
    """Read and check the files of a re-underwriting as of ``as_of`` (one-line user errors, before anything is
    computed or written; nothing is written): the weather and reported yields first, then the fields file — with
    ``rejects`` (checked writable, not written: the run writes it with the held lines) or ``set_aside`` (``audit
    replay``, no rejects file) its rows failing a row-level check set aside, else one such row refuses it — the
    season (default: the file's latest; checked against its seasons and ``as_of`` against its imagery window), the
    applications and the Book. What ``reunderwrite --fields`` and ``audit replay --reunderwriting --fields`` read."""
    from features.fields import read_fields, read_fields_rejecting
    from pipelines.monitor import ALERT_FIELDS_NEED
    from underwriting.applications import read_applications, read_book

    wx = None
    if weather is not None:
        from features.weather import read_weather

        wx = read_weather(weather)  # checked before anything is computed or written
    yh = None
    if yield_history is not None:
        from features._yield_history import read_yield_history

        yh = read_yield_history(yield_history)
    read = (read_fields_rejecting(fields, rejects, need=ALERT_FIELDS_NEED, write=False) if rejects is not None
            else read_fields(fields, need=ALERT_FIELDS_NEED, set_aside=set_aside))
    f = read.fields
    known = sorted(f["season"].astype(str).unique())
    s = season_of(season, known, max(known), f"fields file {fields}")
    if rejects is None and not set_aside:  # a line is not re-decided on part of its farmer's land
        from pipelines.fieldcheck import refuse_rejected

        refuse_rejected(read, s, hint="give --rejects PATH to set them aside and hold their farmers' lines")
    check_day(f, s, as_of)
    apps, bk = read_applications(applications), read_book(book)
    return FilesInputs(fields=f, imagery=imagery, book=bk, applications=apps, season=s, weather=wx,
                       yield_history=yh, set_aside=list(read.set_aside))


def reunderwrite_files(inp: FilesInputs, as_of: date, *, store: DecisionStore | str | None, policy: Policy,
                       profile: str | None = None, cache_dir: Path | None = None, operator: str | None = None,
                       models: ScoringModels | None = None, progress: Progress | None = None,
                       crop_season_scale: float | None = None, haze_dates: Sequence[date] | None = None,
                       allow_missing_acquisitions: bool = False, runner: Any = None,
                       chunk_fields: int | None = None, rejects: str | Path | None = None,
                       collect: list[DecisionItem] | None = None,
                       memo: dict[Any, Any] | None = None, shadow: bool = False) -> ReunderwriteResult:
    """:func:`reunderwrite` on a bank's files (:func:`read_files_inputs`) as ``reunderwrite --fields --as-of`` runs
    it: the profile (default :func:`files_profile`), the cheap refusals before the past seasons' series
    (:func:`refuse_before_work`; a dated Book refused only when the date has lines to re-decide), those series (on
    ``runner``'s blocks when given; under ``cache_dir``/series), then the run with ``book_check_when_deciding``.
    ``store`` may be a read-only view (``audit replay``, ``policy``/``models impact --reunderwriting``); ``models``,
    ``collect``: as :func:`reunderwrite`; ``memo``: a dict kept across runs of the same ``inp`` on one date (an
    impact's two runs), so the past seasons' series are read and the features built once (:func:`reunderwrite`).
    ``shadow``: as :func:`reunderwrite`."""
    s = inp.season
    if not profile:
        profile = files_profile(policy, inp.applications, inp.book, s, as_of)
    sc = cache_dir / "series" if cache_dir is not None else None
    # before the past seasons' series (on a cluster: mapped there); a dated Book refused only when the day has lines
    # to re-decide (as a --due checkpoint)
    refuse_before_work(inp.book, as_of, store, runner,
                       deciding={"applications": inp.applications, "season": s, "set_aside": inp.set_aside})
    history = memo.get(("history", s)) if memo is not None else None
    if history is None and runner is not None:  # --scheduler/--workers: the past seasons' series on the blocks too
        from pipelines._dask_featurize import past_series_on

        history = past_series_on(runner, inp.fields, inp.imagery, s, cache_dir=sc, chunk_fields=chunk_fields)
    elif history is None:
        from pipelines.featurize import past_series

        history = past_series(inp.fields, inp.imagery, s, cache_dir=sc)
    if memo is not None:
        memo[("history", s)] = history
    return reunderwrite(season=s, as_of=as_of, fields=inp.fields, imagery=inp.imagery, book=inp.book,
                        applications=inp.applications, store=store, policy=policy, profile=profile,
                        cache_dir=cache_dir, history=history, operator=operator, progress=progress,
                        models=models, weather=inp.weather, crop_season_scale=crop_season_scale,
                        haze_dates=haze_dates, yield_history=inp.yield_history,
                        allow_missing_acquisitions=allow_missing_acquisitions, runner=runner,
                        chunk_fields=chunk_fields, set_aside=inp.set_aside, rejects=rejects,
                        book_check_when_deciding=True, collect=collect, set_aside_stamp=inp.set_aside_stamp,
                        memo=memo, shadow=shadow)

#: ``reunderwrite --due`` on the real date refuses a county whose seasons' last checkpoints are all more than this many
#: days in the past (:class:`SeasonOver`)
SEASON_OVER_DAYS = 365


class SeasonOver(Exception):
    """Every season ``reunderwrite --due`` would look at ended long ago (``current_season`` not rolled over)."""


def _refuse_season_over(today: date, c: County, seasons: list[str], cal: pd.DataFrame, *, given: bool) -> None:
    """:class:`SeasonOver` when the last checkpoint (in the county's region) of each of ``seasons`` is more than
    :data:`SEASON_OVER_DAYS` days before ``today``."""
    from datetime import timedelta

    from pipelines.schedule import checkpoint_dates

    last: dict[str, date] = {}
    for s in seasons:
        try:
            cps = checkpoint_dates(s, cal, c.region)
        except UserInputError:  # no checkpoint of the region: nothing is due, as without this check
            return
        if cps.empty:
            return
        last[s] = cps["date"].max().date()
    if not last or max(last.values()) >= today - timedelta(days=SEASON_OVER_DAYS):
        return
    s = max(last, key=lambda k: last[k])
    what = f"season {s} (--season)" if given else f"current_season {c.current_season}"
    raise SeasonOver(
        f"no open season in {c.path}: {what} ended on {last[s]} (its last checkpoint in {c.region}), more than "
        f"{SEASON_OVER_DAYS} days before {today}; roll it over (current_season in {c.path / 'county.json'}, with the "
        "new season's records and scenes), or give --today DATE to run a past date; nothing run, nothing marked done")


def reunderwrite_due(today: date, *, county: County | str | Path, store: str | None,
                     season: str | None = None, calendar: str | Path | None = None,
                     policy: Policy | None = None, profile: str | None = None, operator: str | None = None,
                     models: ScoringModels | None = None,
                     progress: Progress | None = None,
                     on_done: Callable[[Due, ReunderwriteResult], None] | None = None,
                     refuse_season_over: bool = False, runner: Any = None, chunk_fields: int | None = None,
                     start_runner: Callable[[], AbstractContextManager[Any]] | None = None,
                     shadow: bool = False) -> list[tuple[Due, ReunderwriteResult]]:
    """Run exactly the checkpoints due on ``today`` and not yet done (per crop: the lines of that crop at the
    checkpoint's date; missed earlier checkpoints are superseded); each is marked done in the
    CheckpointLog in the store's database, so a second call does nothing. ``on_done(due, result)`` is called as
    each checkpoint is marked (the CLI prints its changes and proposed actions then: a run killed in a later
    checkpoint had printed none, and its re-run does not repeat the finished ones).

    One run per store at a time: a second one started meanwhile raises
    :class:`~underwriting.store.RunInProgress` before reading which checkpoints are due (it does not wait).
    ``refuse_season_over`` (the CLI without ``--today``: a timer's run on the real date): :class:`SeasonOver`, nothing
    run or marked, when the last checkpoint of every season looked at is more than :data:`SEASON_OVER_DAYS` days
    before ``today`` — a county whose ``current_season`` was never rolled over ran every checkpoint with nothing
    written, green, for good. ``runner``, ``chunk_fields``: each checkpoint's features on spatial blocks (on Dask),
    as :func:`reunderwrite`; ``start_runner``: the runner started (a context manager: a local cluster's processes)
    only once the run lock is held and a checkpoint is due — a timer's second run, or a day with nothing due,
    starts no cluster. ``shadow``: each checkpoint's challengers in shadow, as :func:`reunderwrite`."""
    from pipelines.county import County
    from pipelines.schedule import due_seasons, load_calendar
    from underwriting.store import store_url

    c = county if isinstance(county, County) else County(county)
    if season and str(season) not in {str(x) for x in c.seasons}:
        raise UserInputError(f"--season {season}: county {c.path} has seasons {', '.join(map(str, c.seasons))}; "
                             "nothing of that season to re-underwrite")
    if today > date.today():
        raise UserInputError(f"--today {today} is after today ({date.today()}): a checkpoint cannot be run before "
                             "its date")
    book = c.book(not_after=today)  # a dated Book: a balance dated after the run's day (today) is refused
    if season:
        seasons = [str(season)]
    else:  # the current season, and another whose window is open today if the Book has lines of it
        booked = booked_seasons(book, today)
        seasons = due_seasons(today, c.current_season, [str(s) for s in c.seasons], booked, c.region)
    url = store_url(store)
    cal = load_calendar(calendar)  # checked before the store is opened (a bad calendar creates nothing)
    if refuse_season_over:
        _refuse_season_over(today, c, seasons, cal, given=bool(season))
    DecisionStore(url, create=False, writer=True).close()  # an existing store (a mistyped --store creates nothing)
    from underwriting.store import run_lock

    # one --due run per store at a time (not waiting: a timer's second run finds the first doing the work); a second
    # run raises RunInProgress before it reads which checkpoints are due — it computes and prints nothing
    with run_lock(url, "reunderwrite --due"):
        return _run_due(today, c, url, seasons, cal, book, policy=policy, profile=profile, operator=operator, models=models,
                        progress=progress, on_done=on_done, runner=runner, chunk_fields=chunk_fields,
                        start_runner=start_runner, shadow=shadow)


def deciding_dates(c: County, url: str, due: Sequence[Due], book: pd.DataFrame, today: date) -> list[date]:
    """The dates of the ``due`` checkpoints that have lines to re-decide, as the run selects them
    (:func:`checkpoint_lines` of the checkpoint's season and crop on the store's records as they are, ``open_on`` the
    run's day, ``same_day_done``): the dates a ``--due`` run decides on the Book of. Cheap (the Book, applications
    and records; no model, series or cluster). A Book the selection itself refuses (a line's currency not its
    application's, an unknown region) is refused here, up front, as the checkpoint would refuse it. The store's
    records are read once, before the run: a checkpoint that the run's own earlier checkpoints give lines to (not
    seen on the demo or in the tests) is still checked, by the run, before it decides (``book_check_when_deciding``)."""
    from underwriting.book import is_dated

    if not is_dated(book) or not due:
        return []
    applications = c.applications()
    records: dict[str, pd.DataFrame] = {}
    with DecisionStore(url, create=False) as st:
        for s in sorted({d.season for d in due}):
            records[s] = st.records(s)
    out = []
    for d in due:
        try:
            todo, _, _ = checkpoint_lines(book, applications, d.date, d.season, records[d.season], crops=[d.crop],
                                          open_on=today, same_day_done=True)
        except AlreadyDecidedLater:  # covered: the run logs it so, deciding nothing
            continue
        if len(todo):
            out.append(d.date)
    return out


def _champions_on(day: date, c: County, progress: Progress | None) -> ScoringModels:
    """A ``--due`` checkpoint's models: the champions in force on ``day`` (:meth:`ScoringModels.resolve`), a
    fallback to today's champion said as a warning line (as a run's other warnings)."""
    said: list[str] = []
    models = ScoringModels.resolve(warnings=said, weather=c.weather(), on=day)
    if progress is not None:
        for w in said:
            progress(f"warning: {w}")
    return models


def _run_due(today: date, c: County, url: str, seasons: list[str], cal: pd.DataFrame, book: pd.DataFrame, *,
             policy: Policy | None,
             profile: str | None, operator: str | None, models: ScoringModels | None, progress: Progress | None,
             on_done: Callable[[Due, ReunderwriteResult], None] | None, runner: Any = None,
             chunk_fields: int | None = None, start_runner: Callable[[], AbstractContextManager[Any]] | None = None,
             shadow: bool = False) -> list[tuple[Due, ReunderwriteResult]]:
    """:func:`reunderwrite_due`'s run, under the store's run lock."""
    from contextlib import closing

    from features.series import MissingAcquisitions
    from pipelines.schedule import CheckpointLog, due_checkpoints
    from underwriting._store_schema import record_id_for

    # the log's connections released when the run ends (a long-lived process kept the store's -wal/-shm open)
    with closing(CheckpointLog(url)) as log:
        due = due_checkpoints(today, seasons, cal, log.done(), regions=[c.region])
        if not due:
            runs = log.rows()
            later = runs.loc[(runs["region"] == c.region) & (runs["as_of"] > today.isoformat()), "as_of"]
            if len(later) and progress is not None:  # a clock (or --today) set back: cron would run nothing, unseen
                progress(f"warning: {today} is before checkpoints already run (as of up to {later.max()}): is the "
                         "date right?")
            return []
        from underwriting.book import refuse_undated_open_lines

        # a dated Book: the date of every due checkpoint with lines to re-decide checked before the cluster, models and past
        # series (a run catching up several checkpoints refused at the first such date after that work, and ran none); a
        # checkpoint with none (no line of its crop open, covered by later records) decides nothing on its date's Book
        refuse_undated_open_lines(book, deciding_dates(c, url, due, book, today))
        for sn in sorted({d.season for d in due}):  # before the cluster, models and past series: as each run refuses
            c.refuse_rejected(sn)
        from contextlib import nullcontext

        with start_runner() if start_runner is not None else nullcontext(runner) as started:
            # each checkpoint decided with the champions in force on its date (a missed one caught up later decides as that
            # day's models would), resolved once per date; models given: those
            on_day: dict[date, ScoringModels] = {}
            out = []
            memo: dict[Any, Any] = {}  # two crops due the same day: the fields featurized once, each season's history read once
            for i, d in enumerate(due):
                if i and (due[i - 1].season, due[i - 1].date) not in {(x.season, x.date) for x in due[i:]}:
                    # no checkpoint left at the previous one's date: its features need not be held any longer
                    for k in [k for k in memo if k[0] == "featurize" and k[1:3] == (due[i - 1].season,
                                                                                   due[i - 1].date.isoformat())]:
                        del memo[k]
                try:
                    res = reunderwrite_county(c, d.season, d.date, store=url, policy=policy, profile=profile,
                                              operator=operator, crops=[d.crop], progress=progress,
                                              models=models or on_day.get(d.date) or on_day.setdefault(
                                                  d.date, _champions_on(d.date, c, progress)),
                                              same_day_done=True, open_on=today, memo=memo, runner=started,
                                              chunk_fields=chunk_fields, book_check_when_deciding=True,
                                              shadow=shadow)
                except MissingAcquisitions as e:  # --due refuses --allow-missing-acquisitions: what to do instead
                    raise UserInputError(e.for_due(c.path, d.season, d.date)) from None
                except AlreadyDecidedLater as e:  # a later run (e.g. all lines at a later as-of) already covers it
                    res = ReunderwriteResult(d.season, d.date, d.checkpoint, [], pd.DataFrame(columns=CHANGE_COLUMNS),
                                             pd.DataFrame(), warnings=[f"{d.crop} {d.checkpoint} ({d.date}): covered by "
                                                                       f"the records as of {e.latest}; not run"],
                                             covered_by=e.latest)
                    log.mark(d, as_of=d.date, n_lines=0, status="covered")
                    out.append((d, res))
                    if on_done is not None:
                        on_done(d, res)
                    continue
                log.mark(d, as_of=d.date, n_lines=len(res.items), status="ran" if res.items else "no_lines",
                         record_ids=[record_id_for(i.idempotency_key) for i in res.items])
                out.append((d, res))
                if on_done is not None:
                    on_done(d, res)
        return out
