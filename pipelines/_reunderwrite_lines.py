"""Which lines a re-underwriting re-decides (:mod:`pipelines.reunderwrite`): the Book's active lines, each through its
application, and the decided lines no Book line covers (:func:`lines_to_review`, :func:`decided_lines`); forward only
(:func:`forward_only`); a checkpoint's selection (:func:`checkpoint_lines`) without the farmers a ``--rejects`` run
held, and the provenance entry such a run writes (:func:`_set_aside_stamp`, :func:`_by_rejects_run`). Re-exported by
:mod:`pipelines.reunderwrite`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines.underwrite import SET_ASIDE_KEY, set_aside_provenance
from underwriting.standing import kept_lines_stand

__all__ = ["active_lines", "booked_seasons", "lines_to_review", "decided_lines", "book_with_decided",
           "AlreadyDecidedLater", "forward_only", "later_note", "skipped_note", "checkpoint_lines", "HELD_KEY",
           "FIELD_IDS_KEY"]


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


def _said_matured(book: pd.DataFrame, as_of: date, season: str, crops: Sequence[str] | None,
                  warnings: list[str]) -> None:
    """A warning naming the Book lines of ``season`` (of ``crops``) that matured before ``as_of``: left out of the run
    as a closed line has nothing left to follow — a plain ``--as-of`` run dropped them unsaid (60 lines where the
    Book holds 61; a walkthrough), where a late ``--due`` checkpoint says its own."""
    from underwriting.book import book_as_of

    b = book_as_of(book, as_of, refuse=False)
    if b is None or not {"start_date", "maturity_date"} <= set(b.columns):
        return
    day = pd.Timestamp(as_of)
    gone = b[(b["start_date"] <= day) & (b["maturity_date"] < day)]
    if "season" in gone.columns:
        gone = gone[gone["season"].astype(str) == str(season)]
    if crops is not None and "crop" in gone.columns:
        gone = gone[gone["crop"].astype(str).isin([str(c) for c in crops])]
    if len(gone):
        ids = sorted(gone["line_id"].astype(str))
        warnings.append(f"{len(ids)} Book line(s) of season {season} matured before {as_of} ({', '.join(ids[:5])}"
                        f"{', ...' if len(ids) > 5 else ''}): not re-decided (a closed line has nothing left to follow)")


def lines_to_review(book: pd.DataFrame, applications: pd.DataFrame, as_of: date, season: str, *,
                    records: pd.DataFrame | None = None, warnings: list[str] | None = None,
                    crops: Sequence[str] | None = None) -> pd.DataFrame:
    """Active lines with ``review_application_id`` (see the module docstring); ``records``: the store's
    records of the season (adds the decided lines no Book line covers); ``crops``: the run re-decides only these
    crops' lines, so only their Book problems are warned of (a `--due` run per crop warned of every crop's)."""
    lines = active_lines(book, as_of, season).copy()
    if warnings is not None and len(book):
        _said_matured(book, as_of, season, crops, warnings)
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
                 same_day_done: bool = False, plain_records: set[str] | frozenset[str] = frozenset()
                 ) -> tuple[pd.DataFrame, set[str]]:
    """Drop the lines whose application already has a record as of a date after ``as_of`` (with ``same_day_done``:
    on or after it — a scheduled checkpoint whose lines another run already decided that day): a record superseding
    the one in force on ``as_of`` would fork the application's chain (two records replacing the same one, the
    earlier-dated written last and shown as current): re-underwriting goes forward only. Lines whose application
    also has a re-underwriting record dated ``as_of`` are kept (a re-run of that date, which adds nothing) and
    returned as the set to re-check once decided: kept only if their record is the one stored. With
    ``same_day_done`` that holds for the lines whose latest records are of ``as_of`` and include a re-underwriting
    one (a ``--due`` run killed between storing a checkpoint's records and logging it: its re-run finds them, adds
    nothing and logs the checkpoint as run, as the uninterrupted run did — it logged it ``covered`` before); a line
    decided that day otherwise (its first decision, or a plain ``--as-of`` run's record: ``plain_records``, the
    record ids :func:`pipelines.schedule.plain_run_records` logged — the checkpoint is covered) is dropped as before.
    Raises :class:`AlreadyDecidedLater` when every line is dropped."""
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
        if plain_records:  # not a plain run's records of the date (a walkthrough: logged `ran`, "13 already present")
            rerun -= set(records.loc[(records["as_of"] == day) & records["record_id"].astype(str).isin(plain_records),
                                     "application_id"])
    drop = hit & ~apps.isin(rerun)
    newest = str(later[later.index.isin(set(apps[hit]))].max())
    if drop.all():
        raise AlreadyDecidedLater(f"nothing to re-underwrite as of {day}: the {int(drop.sum())} active line(s) "
                                  f"{later_note(newest, day)}; give an as-of on or after {newest}", newest)
    if drop.any():
        warnings.append(skipped_note(todo.loc[drop, "line_id"].astype(str).tolist(), newest, day))
    return todo[~drop].reset_index(drop=True), set(apps[hit & ~drop])


def later_note(newest: str, day: str | None = None) -> str:
    """``day``: the run's date, said when the newest records are of that very date (a ``--due`` checkpoint whose
    lines another run decided that day), not "a later date"."""
    when = (f"records of that date ({day}) from another run" if newest == day
            else f"records as of a later date (up to {newest})")
    return (f"already have {when}; re-underwriting goes forward only (a record dated before an application's current "
            "one would fork its chain)")


def skipped_note(line_ids: list[str], newest: str, day: str | None = None) -> str:
    return (f"{len(line_ids)} line(s) skipped ({', '.join(line_ids[:5])}{', ...' if len(line_ids) > 5 else ''}): "
            f"their applications {later_note(newest, day)}")


def checkpoint_lines(book: pd.DataFrame, applications: pd.DataFrame, as_of: date, season: str,
                     records: pd.DataFrame, *, include_decided: bool = True, crops: Sequence[str] | None = None,
                     set_aside: Sequence[Any] = (), rejects: str | Path | None = None, open_on: date | None = None,
                     same_day_done: bool = False, warnings: list[str] | None = None,
                     plain_records: set[str] | frozenset[str] = frozenset()
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
    todo, recheck = forward_only(todo, records, as_of, warnings, same_day_done=same_day_done,
                                 plain_records=plain_records)
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
