"""What an underwriting run checks before any work, and what it reads of and keeps from the decision store.

:func:`check_run_inputs` (the applications, dates, features and Book against the policy profile), the store's
context of a decision (second pledges, open alerts: :func:`store_context`, :func:`records_context`), the
forward-only rule (:func:`forward_only_items`) and the refusals of ids typed another way or of inputs matching no
application. Re-exported by :mod:`pipelines.underwrite`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError
from pipelines._underwrite_features import refuse_later_features
from underwriting.records import DecisionItem

if TYPE_CHECKING:
    from underwriting.policy import Policy
    from underwriting.store import DecisionStore


def check_run_inputs(applications: pd.DataFrame, fields: pd.DataFrame, season: str, as_of: dt.date | str, *,
                     policy: Policy, profile: str, book: pd.DataFrame, features: pd.DataFrame | None,
                     imagery: str | Path | None, warnings: list[str],
                     allow_missing_acquisitions: bool = False) -> pd.DataFrame:
    """What :func:`underwrite` checks before any work (one-line user errors) and says of its inputs (``warnings``):
    the applications' currency against the profile, the date inside the season and its imagery window, a scene
    folder left incomplete (``imagery``: the features are to be built from it), features dated after the day,
    applications without fields or features, other seasons' applications, Book lines in another currency or matured.
    Returns the Book as of the day (a dated Book's balances then; :func:`underwriting.book.book_as_of`). Also
    ``agcredit models impact``, which decides the same inputs twice without storing."""
    from features.series import missing_acquisitions
    from pipelines.featurize import check_as_of_in_season, check_as_of_in_window
    from underwriting.book import book_as_of

    _check_currency(applications, season, policy, profile)
    check_as_of_in_season(fields, season, as_of)  # also when the features are given
    # after the season's imagery window nothing more is observed: a decision dated later would restate the window's
    # end under another date (a mistyped year or season), as monitor, reunderwrite, report and value refuse it
    check_as_of_in_window(fields, season, as_of)
    # a dated Book (balance_as_of): each line's latest balance on or before the date — the headroom and a renewal's
    # actions are judged on the Book as it stood that day; an undated Book as it is
    book = book_as_of(book, as_of)  # type: ignore[assignment]
    if features is None and imagery is not None:  # a partial `imagery fetch`: refused before any work
        missing_acquisitions(fields, imagery, season, dt.date.fromisoformat(as_of) if isinstance(as_of, str)
                             else as_of, allow=allow_missing_acquisitions)
    if features is not None and "season" in features.columns:
        refuse_later_features(features[features["season"].astype(str) == str(season)],
                              dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of)
    refuse_unmatched(applications, fields, season, "fields")
    if features is not None:
        refuse_unmatched(applications, features, season, "features given")
    others = int((applications["season"].astype(str) != season).sum())
    if others:
        warnings.append(f"{others} application(s) of other seasons than {season} not underwritten")
    currency = policy.profile(profile).currency
    if book is not None and len(book) and "currency" in book.columns:
        foreign = book.loc[book["currency"].astype(str) != currency, "line_id"].astype(str).tolist()
        if foreign:  # Headroom.from_book counts the profile's currency only
            warnings.append(f"{len(foreign)} Book line(s) in another currency than {currency} not counted in the "
                            f"concentration exposure ({', '.join(foreign[:5])}{', …' if len(foreign) > 5 else ''})")
    if book is not None and len(book) and "maturity_date" in book.columns:
        day0 = pd.Timestamp(dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of)
        done = book.loc[pd.to_datetime(book["maturity_date"]) < day0, "line_id"].astype(str).tolist()
        if done:  # Headroom.from_book leaves matured lines out
            warnings.append(f"{len(done)} Book line(s) matured before {day0.date()} not counted in the concentration "
                            f"exposure ({', '.join(done[:5])}{', …' if len(done) > 5 else ''})")
    return book  # type: ignore[no-any-return]


def superseded_policy_warning(store: DecisionStore, policy: Policy, warnings: list[str]) -> None:
    """A warning in ``warnings`` when the store holds records of a later version of ``policy``'s id: a run deciding
    under a superseded version (an archived file given as ``--policy``) said nothing, its records beside the later
    version's (a review; `policy validate --store` warned of it, the command deciding did not)."""
    from underwriting.policy import version_key, version_order

    later = sorted((v for v in store.policy_versions(policy.policy_id) if version_order(v, policy.version) == 1),
                   key=version_key)
    if later:
        warnings.append(f"policy {policy.policy_id} version {policy.version} decides this run, while this store holds "
                        f"records of a later version ({', '.join(later)}): `agcredit policy history` shows which "
                        "version decided what")


def store_context(store: DecisionStore, season: str, as_of: dt.date | str, policy: Policy, profile: str
                  ) -> tuple[dict[tuple[str, str], list[str]] | None, pd.DataFrame | None]:
    """What a decision reads of the store (nothing from one not created yet): the applications holding each
    farmer's fields of the season (another one is a second pledge) and, under a policy reading alerts
    (``decisions_read_alerts`` or ``renewals_propose_actions``, 2026.12.10), the open alerts as of the day."""
    if store.pending:
        return None, None
    return records_context(store.records(season), season, as_of, policy, profile)


def records_context(recs: pd.DataFrame, season: str, as_of: dt.date | str, policy: Policy, profile: str
                    ) -> tuple[dict[tuple[str, str], list[str]] | None, pd.DataFrame | None]:
    """:func:`store_context` of the store's records of the season already read (``DecisionStore.records``): one
    read serves several policies (``agcredit policy impact``)."""
    from underwriting.decisions import pledge_holders

    pledged = pledge_holders(recs, season)
    prof = policy.profile(profile)
    open_alerts = None
    if prof.decisions_read_alerts or prof.renewals_propose_actions:  # 2026.12.10: the store's open alerts
        from pipelines.reunderwrite import stored_alerts

        open_alerts = stored_alerts(recs, season, dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of)
    return pledged, open_alerts


def forward_only_items(items: list[DecisionItem], store: DecisionStore, warnings: list[str]) -> list[DecisionItem]:
    """``items`` without the decisions of applications the store has already decided otherwise (another as-of
    date, other inputs, models or policy): a second first record would fork the application's chain, and the
    later-written one would be shown as current. A re-run's own records (the same record id) stay: appending them
    adds nothing. The skipped ones are named in a warning; when every item is skipped, a
    :class:`~features.errors.UserInputError` (nothing to write)."""
    from underwriting.store import record_id_for

    heads = store.heads([i.application_id for i in items])
    if not heads:
        return items
    stored = store.stored_ids([record_id_for(i.idempotency_key) for i in items if str(i.application_id) in heads])
    kept, skipped = [], []
    for item in items:
        app = str(item.application_id)
        if app in heads and record_id_for(item.idempotency_key) not in stored:
            skipped.append(app)
        else:
            kept.append(item)
    if not skipped:
        return kept
    shown = ", ".join(f"{a} (current record as of {heads[a][1]})" for a in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    why = (f"already decided in {store.shown_url} with another as-of date, other inputs, other model versions (a "
           f"champion promoted since) or another policy: {shown}{more}; an application's chain goes forward only — "
           "re-decide its line with `agcredit reunderwrite`, change a decision with `agcredit override`")
    if not kept:
        raise UserInputError(f"underwrite: nothing to write: the {len(skipped)} application(s) are {why}")
    warnings.append(f"{len(skipped)} application(s) not underwritten again: {why}")
    return kept


def refuse_stored_spellings(application_ids: Sequence[str], store: Any, season: str) -> None:
    """A user error when an application id differs only in case or character width from one the store already holds
    for ``season`` (``a2009-00001`` against ``A2009-00001``): the same application typed another way would start a
    second chain — two current decisions for one application — as a corrected re-run of a mistyped file did. Ids are
    compared as the readers compare them within a file (:func:`features.errors.id_key`); checked before any work."""
    from features.errors import id_key

    have = store.application_ids(season)
    exact = set(have)
    stored: dict[str, str] = {}
    for a in have:
        stored.setdefault(id_key(a), a)
    clash = sorted((a, stored[id_key(a)]) for a in {str(a) for a in application_ids}
                   if a not in exact and id_key(a) in stored)
    if clash:
        shown = ", ".join(f"{a} (stored as {b})" for a, b in clash[:3]) + (f" and {len(clash) - 3} more"
                                                                              if len(clash) > 3 else "")
        raise UserInputError(f"underwrite: application id(s) differing only in case or character width from "
                             f"applications already in {store.shown_url}: {shown}; ids are compared without case — "
                             "give the stored spelling (one application typed two ways would get two chains)")


def refuse_unmatched(applications: pd.DataFrame, table: pd.DataFrame, season: str, what: str) -> None:
    """A user error when no application of ``season`` has a row in ``table`` (fields or features; matched by
    farmer token and season): another county's file, or identifiers pseudonymised with another key — every
    decision would be REFER NO_FIELDS_FOUND."""
    apps = applications[applications["season"].astype(str) == str(season)]
    if apps.empty or "farmer_token" not in table.columns:
        return
    rows = table[table["season"].astype(str) == str(season)] if "season" in table.columns else table
    if not apps["farmer_token"].astype(str).isin(set(rows["farmer_token"].astype(str))).any():
        from features.identity import TOKEN_BASIS_ATTR, TOKEN_FLOAT_ATTR

        head = (f"none of the {len(apps)} application(s) of season {season} has a field in the {what} "
                f"({len(rows)} field row(s) of that season; matched by farmer token)")
        a_basis, t_basis = applications.attrs.get(TOKEN_BASIS_ATTR), table.attrs.get(TOKEN_BASIS_ATTR)
        a_float, t_float = bool(applications.attrs.get(TOKEN_FLOAT_ATTR)), bool(table.attrs.get(TOKEN_FLOAT_ATTR))
        if a_basis and t_basis and a_basis == t_basis and a_float != t_float:  # 123456789.0 against "123456789"
            num, text = ("applications", f"the {what}") if a_float else (f"the {what}", "applications")
            raise UserInputError(f"{head}: {num} hold '{a_basis}' as decimal numbers (a number column: "
                                 f"123456789.0), {text} as text, so the same ID gives two tokens — store the "
                                 f"'{a_basis}' column as text in both files (digits kept, leading zeros too)")
        if a_basis and t_basis and a_basis != t_basis:
            raise UserInputError(f"{head}: the applications' tokens come from their '{a_basis}' column, the {what}' "
                                 f"from '{t_basis}' — give both files the same identifier column (national_id "
                                 "preferred)")
        if a_basis and t_basis:
            raise UserInputError(f"{head}, both pseudonymised from '{a_basis}': are they the same farmers' files, "
                                 "pseudonymised with the same AGCREDIT_TOKEN_KEY?")
        raise UserInputError(f"{head}: are they the same farmers' files, with the same identifier column "
                             "(national_id in both, else farmer_id, farmer_name, phone), pseudonymised with the same "
                             "AGCREDIT_TOKEN_KEY?")


def _check_currency(applications: pd.DataFrame, season: str, policy: Policy, profile: str) -> None:
    """Applications in another currency than the profile's are refused before any model is resolved."""
    from underwriting.errors import ApplicationsError

    want = policy.profile(profile).currency
    apps = applications[applications["season"].astype(str) == str(season)]
    bad = apps.loc[apps["currency"].astype(str) != want, "application_id"].astype(str).tolist()
    if bad:
        have = sorted(set(apps.loc[apps["currency"].astype(str) != want, "currency"].astype(str)))
        raise ApplicationsError(source="applications",
                                problem=f"currency {', '.join(have)} does not match policy profile {profile} ({want})",
                                offenders=bad)
