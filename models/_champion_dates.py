"""The dates of champion promotions (private to models.registry): a promotion's effective date, and which
promotion in an alias history names the champion on a day and for which days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from models._alias_history import CHAMPION
from models.errors import RegistryError


def effective_date(effective: date | str | None) -> date | None:
    """A promotion's effective date (None: not given, today): a date or YYYY-MM-DD on or before today (UTC), else a
    one-line :class:`RegistryError` — a promotion is in force from its effective date, never from a later one (the
    alias moves now: decisions made from now on use it)."""
    if effective is None:
        return None
    if not isinstance(effective, date):
        try:
            effective = date.fromisoformat(str(effective).strip())
        except ValueError:
            raise RegistryError(problem=f"effective date {str(effective)!r} is not a date",
                                fix="give --effective YYYY-MM-DD") from None
    if isinstance(effective, datetime):
        effective = effective.date()
    today = datetime.now(UTC).date()
    if effective > today:
        raise RegistryError(problem=f"effective date {effective} is after today ({today}): the champion alias moves "
                                    "now, so a promotion is in force from today at the latest",
                            fix="give --effective a date on or before today, or promote on that day")
    return effective


def _move_effective(move: Mapping[str, Any]) -> str:
    """The date (YYYY-MM-DD) a recorded move is in force from: its effective date, else its wall-clock date."""
    return str(move.get("effective") or "")[:10] or str(move.get("at") or "")[:10]


def champion_move_on(history: list[dict[str, Any]], day: date) -> dict[str, Any] | None:
    """The promotion naming the ``champion`` on ``day`` in an alias history (oldest first, :func:`alias_history`):
    of the champion's moves in force on or before ``day`` — by their effective date, or their wall-clock date for a
    move recorded without one — the latest, ties by the order they were recorded in. None: no champion move in force
    by then. A promotion dated back (``promote(..., effective=D)``: a simulated or back-filled season) is the champion
    of the days from D on, though it was recorded later; the move's ``version`` is None when the alias was removed."""
    found: tuple[str, int] | None = None
    chosen = None
    for i, move in enumerate(history):
        if str(move.get("alias")) != CHAMPION:
            continue
        key = (_move_effective(move), i)
        if key[0] and key[0] <= day.isoformat() and (found is None or key >= found):
            found, chosen = key, move
    return chosen


def champion_window(history: list[dict[str, Any]], version: str,
                    day: date) -> tuple[str, dict[str, Any] | None, str | None]:
    """The days a champion move of ``version`` in force from ``day`` (recorded last in ``history``) makes it the
    champion of by effective date (:func:`champion_move_on`): from when without a break (YYYY-MM-DD: ``day``, or
    earlier where an earlier-dated move of the same version still stands), the move that takes over after ``day``
    (None: none does) and the date from which ``version`` is the champion again after it, by a later-dated move of
    its own (None: never) — a promotion dated before another version's later-dated one is the champion until that
    date only, though recorded after it."""
    points = sorted({_move_effective(m) for m in history if str(m.get("alias")) == CHAMPION} - {""})

    def named(point: str) -> dict[str, Any] | None:
        return champion_move_on(history, date.fromisoformat(point))

    start = day.isoformat()
    for point in reversed([p for p in points if p < day.isoformat()]):
        if str((named(point) or {}).get("version")) != version:
            break
        start = point
    later = [p for p in points if p > day.isoformat()]
    for i, point in enumerate(later):
        move = named(point)
        if str((move or {}).get("version")) != version:
            again = next((p for p in later[i + 1:] if str((named(p) or {}).get("version")) == version), None)
            return start, move, again
    return start, None, None
