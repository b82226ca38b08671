"""One bank's files matched farmer by farmer: refused when they name the same farmers with identifiers written
differently (leading zeros a spreadsheet dropped, a phone with and without its country code) or derived from
different identifier columns — a walkthrough found such a farmer decided with no fields, a renewal not linked to
its Book line, alerts naming no line, all with exit 0 and no word (:mod:`features._loose_ids`)."""

from __future__ import annotations

import pandas as pd

from features.errors import UserInputError

__all__ = ["refuse_ids_written_otherwise"]

_HINT = ("the files write the same identifiers differently (a spreadsheet drops an ID's leading zeros: keep the "
         "column as text; a phone with and without its country code) — write each farmer's identifier alike in both "
         "files (they are hashed as written)")


def _tokens(df: pd.DataFrame | None, season: str | None) -> pd.DataFrame | None:
    if df is None or len(df) == 0 or "farmer_token" not in df.columns:
        return None
    if season is not None and "season" in df.columns:
        df = df[df["season"].astype(str) == str(season)]
    return df


def _named(df: pd.DataFrame, bad: list[str], column: str) -> str:
    ids = sorted(set(df.loc[df["farmer_token"].astype(str).isin(bad), column].astype(str)))
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def refuse_ids_written_otherwise(*, season: str, applications: pd.DataFrame | None = None,
                                 fields: pd.DataFrame | None = None, book: pd.DataFrame | None = None,
                                 applications_source: str = "applications", fields_source: str = "fields file",
                                 book_source: str = "Book") -> None:
    """Refuse (one line naming application, field or line ids, never an identifier) when, in ``season``, an
    application has no field but is the farmer of one written otherwise, a field's farmer is no applicant but is one
    written otherwise (an applicant decided on part of their land), a Book line's farmer is no applicant but is one
    written otherwise (without ``applications``: no farmer of the fields), or the Book's tokens come from another
    identifier column than the applications' (the fields') and no line matches. The Book's lines of ``season`` only
    when it has a ``season`` column, against the season's applications: a matured line of an earlier season, or an
    application of another, written before a bank's migration, blocks no run (a review)."""
    from features._loose_ids import written_otherwise
    from features.identity import TOKEN_BASIS_ATTR

    apps, flds = _tokens(applications, season), _tokens(fields, season)
    if apps is not None and flds is not None:
        bad = written_otherwise(apps["farmer_token"].astype(str), flds["farmer_token"].astype(str))
        if bad:
            raise UserInputError(
                f"{applications_source}: {len(bad)} farmer(s) of season {season}'s applications have no field in "
                f"{fields_source} but are farmers of it once leading zeros or a phone's country code are ignored "
                f"(applications {_named(apps, bad, 'application_id')}): {_HINT}")
        bad = written_otherwise(flds["farmer_token"].astype(str), apps["farmer_token"].astype(str))
        if bad:
            raise UserInputError(
                f"{fields_source}: {len(bad)} farmer(s) of season {season}'s fields are no applicant of "
                f"{applications_source} but are applicants once leading zeros or a phone's country code are ignored "
                f"(fields {_named(flds, bad, 'field_id')}; the applicant would be decided on part of their land): "
                f"{_HINT}")
    bk = _tokens(book, season)
    if bk is None:
        return
    other, other_source = (apps, applications_source) if applications is not None else (flds, fields_source)
    if other is None or len(other) == 0:
        return
    theirs = set(other["farmer_token"].astype(str))
    mine = bk["farmer_token"].astype(str)
    b_basis, o_basis = bk.attrs.get(TOKEN_BASIS_ATTR), other.attrs.get(TOKEN_BASIS_ATTR)
    if b_basis and o_basis and b_basis != o_basis and not mine.isin(theirs).any():
        raise UserInputError(f"{book_source}: the Book's farmer tokens come from its '{b_basis}' column, "
                             f"{other_source}'s from '{o_basis}', so no line can be linked to its farmer — give "
                             "both files the same identifier column (national_id preferred)")
    bad = written_otherwise(mine, theirs)
    if bad:
        raise UserInputError(f"{book_source}: {len(bad)} farmer(s) of the Book's season {season} are no farmer of "
                             f"{other_source}'s season {season} but "
                             f"are farmers of it once leading zeros or a phone's country code are ignored (lines "
                             f"{_named(bk, bad, 'line_id')}): {_HINT}")
