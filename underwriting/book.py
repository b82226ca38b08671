"""The Book as of a date: dated balances (``balance_as_of``) and balance histories.

A Book without ``balance_as_of`` is undated: each line's balances are the file's, whatever the run's date, and
:func:`book_as_of` returns it unchanged. A Book with the column dates every row's balances (``limit``, ``drawn``,
``outstanding``, ``maturity_date`` may change from row to row), and may hold several rows per line — its balance
history. A line's history may span a renewal under the same ``line_id``: its terms (``TERM_COLUMNS``: the
application, the season financed, the start date) may change from row to row too, as a bank keeps the line id when
it renews a line on a new application for a new season; the farmer, currency, crop and region (``LINE_COLUMNS``) are
the line's and agree on every row. A run as of ``D`` takes, per line, the row of the latest ``balance_as_of`` on or
before ``D`` — the row in force, which gives the line's terms and balances of the day (every consumer reads the
Book through :func:`book_as_of`, never its undated rows):

* a line with a balance dated on or before ``D`` is in the Book as of ``D`` (its latest such row), matured or not;
* a line whose every balance is dated after ``D`` and that is not open on ``D`` is left out: it starts after ``D``
  (not yet opened: nothing drawn, no exposure) or matured before ``D`` (no run follows it);
* a line open on ``D`` (``start_date ≤ D ≤ maturity_date``) whose every balance is dated after ``D`` is refused, the run
  names it (one line, at most five ids and the count): the policy's ACT rule compares the re-estimated limit with
  the outstanding balance *on the date*, and any guess — the later balance, or nothing drawn — proposes a freeze on
  money not yet drawn or misses one, while leaving the line out hides an active line from the re-underwriting and
  from the concentration headroom. The analyst gives the line's balance on or before ``D`` (its opening balance,
  dated ``start_date``, is enough) and runs again.

The reader (:func:`underwriting.applications.read_book`) checks the column: every row dated (ISO dates), one row per
line and date (two rows of a line on one date would give two terms or balances of that day), the line's own columns
the same on every row of a line, no row dated before its own ``start_date`` (a renewal's rows are dated from its new
start), a line's start date never going back along its history (a row of the renewed term dated after the renewal
is another line's or a mistyped date), and with ``not_after`` (a run on today's date, ``reunderwrite --due``) no
balance dated after that day — a Book export cannot hold a balance of a day to come (a mistyped year, most likely);
each refusal names the column, the lines and the file's rows, never a cell's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from underwriting.errors import ApplicationsError

__all__ = ["BALANCE_DATE", "LINE_COLUMNS", "TERM_COLUMNS", "book_as_of", "is_dated", "balance_date_text",
           "refuse_undated_open_lines"]

#: the column dating a Book row's balances (optional)
BALANCE_DATE = "balance_as_of"
#: the columns that are the line's own: the same on every row of a line's balance history
LINE_COLUMNS = ("farmer_token", "currency", "crop", "region")
#: the line's terms: the same on the rows of one term, changed by a renewal under the same line id (a dated Book)
TERM_COLUMNS = ("application_id", "season", "start_date")


def is_dated(book: pd.DataFrame | None) -> bool:
    """Whether ``book`` dates its balances (has ``balance_as_of``)."""
    return book is not None and BALANCE_DATE in book.columns


def balance_date_text(v: object) -> str | None:
    """A row's ``balance_as_of`` as ``YYYY-MM-DD`` (None: undated — a Book without the column, a decided line)."""
    if v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
        return None
    try:
        if pd.isna(v):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        pass
    return pd.Timestamp(v).date().isoformat()  # type: ignore[arg-type]


def book_as_of(book: pd.DataFrame | None, as_of: date | str | pd.Timestamp, *,
               source: str = "Book", refuse: bool = True) -> pd.DataFrame | None:
    """``book`` as of ``as_of`` (see the module docstring): one row per line, its latest balance dated on or before
    the day; undated rows (a Book without the column, or the decided lines ``D-…`` a run adds) as they are. Refused
    (:class:`~underwriting.errors.ApplicationsError`, one line) when a line open on the day (``start_date ≤ day ≤
    maturity_date``, of its earliest balance dated after the day) has no balance dated on or before it, or only one of
    an earlier term (a renewal under the same line id, whether the earlier term matured or was renewed early); with ``refuse=False`` (a reader
    that only names the lines, ``monitor``) such a line is kept, on its earliest row dated after the day. Any row order
    and index (duplicate labels too) give the same result; a zoned ``as_of`` is taken as its own calendar day (the
    zone dropped). Applying it twice gives the same Book."""
    if book is None or not is_dated(book) or book.empty:
        return book
    day = pd.Timestamp(as_of)
    if day.tzinfo is not None:
        day = day.tz_localize(None)
    day = day.normalize()
    when = pd.to_datetime(book[BALANCE_DATE])
    if isinstance(when.dtype, pd.DatetimeTZDtype):
        when = when.dt.tz_localize(None)
    w = when.to_numpy()
    undated = pd.isna(w)
    known_mask = ~undated & (w <= day.to_datetime64())
    by_date = ["line_id", "_when"]
    latest = (book[known_mask].assign(_when=w[known_mask]).sort_values(by_date, kind="stable")
              .drop_duplicates("line_id", keep="last").drop(columns="_when"))
    later_mask = ~undated & ~known_mask
    later = (book[later_mask].assign(_when=w[later_mask]).sort_values(by_date, kind="stable")
             .drop_duplicates("line_id", keep="first").drop(columns="_when"))
    started = later[((pd.to_datetime(later["start_date"]) <= day) & (pd.to_datetime(later["maturity_date"]) >= day))
                    .to_numpy()]
    before = latest.set_index(latest["line_id"].astype(str))
    new_term = started["line_id"].astype(str).isin(before.index).to_numpy()
    if new_term.any():  # a line with a row on or before the day: refused only when that row is of an earlier term
        # (a renewal under the same line id, started on or before the day) — the term in force on the day has no
        # balance yet, whether the earlier term matured or was renewed before its maturity
        prev = before.loc[started["line_id"].astype(str).to_numpy()[new_term]]
        renewed = (pd.to_datetime(prev["start_date"]).to_numpy() != pd.to_datetime(started["start_date"]).to_numpy()
                   [new_term])
        keep = ~new_term
        keep[new_term.nonzero()[0][renewed]] = True
        started = started[keep]
        new_term = new_term[keep]
    if len(started) and not refuse:  # named, not valued: the term open on the day, on its first balance
        latest = pd.concat([latest[~latest["line_id"].astype(str).isin(set(started["line_id"].astype(str)))
                                   .to_numpy()], started])
    elif len(started):
        ids = sorted(started["line_id"].astype(str))
        what = (f"have every balance dated after it (column {BALANCE_DATE})" if not new_term.all() else
                f"are renewed (a new term under the same line id, started on or before it) and have every balance of "
                f"the new term dated after it (column {BALANCE_DATE})")
        raise ApplicationsError(
            source=source, problem=f"{len(ids)} line(s) open on {day.date()} {what}: give each a balance dated on or "
            f"before {day.date()} (its opening balance, dated start_date, will do) — the run compares the new limit "
            "with the balance on its date", offenders=ids)
    out = pd.concat([latest, book[undated]]) if undated.any() else latest
    return out.sort_values("line_id", kind="stable").reset_index(drop=True)


def refuse_undated_open_lines(book: pd.DataFrame | None, days: Sequence[date], *, source: str = "Book") -> None:
    """:func:`book_as_of`'s refusal for each of ``days`` (the checkpoint dates a run will take), checked up front
    and raised once (:class:`~underwriting.errors.ApplicationsError`, one line naming the dates that fail and the
    lines, at most five ids and the count) — before a run's models, past seasons' series or cluster: a ``--due`` run
    catching up several checkpoints refused at the first such date only after that work, and ran none of them."""
    if not is_dated(book):
        return
    bad: dict[date, set[str]] = {}
    for d in sorted(set(days)):
        try:
            book_as_of(book, d, source=source)
        except ApplicationsError as e:
            bad[d] = {str(o) for o in e.offenders}
    if not bad:
        return
    if len(bad) == 1:  # one date: book_as_of's own message
        book_as_of(book, next(iter(bad)), source=source)
    ids = tuple(sorted(set().union(*bad.values())))
    raise ApplicationsError(
        source=source, problem=f"{len(ids)} line(s) open on checkpoint date(s) {', '.join(map(str, sorted(bad)))} "
        f"have every balance dated after that date (column {BALANCE_DATE}): give each a balance dated on or before "
        "the first of them it is open on (its opening balance, dated start_date, will do) — the run compares the new "
        "limit with the balance on its date; nothing run", offenders=ids)
