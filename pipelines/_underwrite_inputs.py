"""An underwriting run's inputs read from files and checked, before anything is scored or written.

:func:`read_underwrite_inputs` and the :class:`UnderwriteInputs` it returns (the fields rows set aside and the
applications held, :data:`SET_ASIDE_KEY`), the policy profile of the applications' currency
(:func:`profile_for_currency`) and an empty Book. Re-exported by :mod:`pipelines.underwrite`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contracts import check_field_features, check_season
from features.errors import UserInputError
from pipelines._underwrite_features import refuse_other_fields, refuse_unrecorded_held

if TYPE_CHECKING:
    from underwriting.policy import Policy


def empty_book() -> pd.DataFrame:
    """A Book with no lines (Book contract)."""
    from underwriting.contracts import BOOK

    cols: dict[str, pd.Series] = {}
    for c in BOOK.columns:
        dtype = {"int": "int64", "date": "datetime64[ns]", "float": "float64"}.get(c.kind, "str")
        cols[c.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(cols)


def profile_for_currency(policy: Policy, currencies: list[str]) -> str:
    """The policy's only profile in the applications' one currency (else a user error asking for --profile)."""
    names = sorted(n for n, p in policy.profiles.items() if [p.currency] == currencies)
    have = {p.currency for p in policy.profiles.values()}
    if len(currencies) == 1 and currencies[0] not in have:  # a bank's new region in a new currency
        raise UserInputError(f"policy {policy.policy_id} has no profile in {currencies[0]} (its profiles: "
                             f"{', '.join(f'{n} {p.currency}' for n, p in sorted(policy.profiles.items()))}): limits "
                             f"in {currencies[0]} are the bank's credit policy, not a default — give --policy FILE, a "
                             f"copy of the policy with a profile whose currency is {currencies[0]}")
    if len(names) != 1:
        raise UserInputError(f"policy {policy.policy_id}: cannot choose a profile for applications in "
                             f"{', '.join(currencies) or 'no currency'} (profiles: "
                             f"{', '.join(f'{n} {p.currency}' for n, p in sorted(policy.profiles.items()))}); "
                             "give --profile")
    return names[0]


@dataclass(frozen=True)
class UnderwriteInputs:
    """An underwriting run's inputs read from files and checked (nothing scored or written yet)."""

    applications: pd.DataFrame
    fields: Any
    season: str
    policy: Policy
    profile: str
    book: pd.DataFrame
    weather: pd.DataFrame | None
    features: pd.DataFrame | None
    #: what the run must say although nothing is wrong enough to refuse it (fields rejected when reading)
    warnings: list[str] = field(default_factory=list)
    #: the farm records' reported yields (``--history``), for the pre-season rule
    yield_history: pd.DataFrame | None = None
    #: what the features file was built from (:func:`pipelines.featurize.read_lineage`; None: not recorded)
    features_lineage: dict[str, Any] | None = None
    #: the fields file's rows set aside (``set_aside``; :class:`features.fields.SetAside`), in file order
    set_aside: list[Any] = field(default_factory=list)
    #: the applications of the season not decided (``set_aside``): their farmer's token → their ids, for the
    #: farmers with a row set aside (:func:`features.fields.held_farmers`); left out of :attr:`applications`
    held: dict[str, list[str]] = field(default_factory=dict)
    #: the applications of the season not decided because the features file given was built without their
    #: farmers' fields (``features build --rejects``: :func:`pipelines.featurize.features_held`), sorted
    held_by_features: list[str] = field(default_factory=list)

    @property
    def held_ids(self) -> list[str]:
        """The applications not decided (:attr:`held`), sorted."""
        return sorted(a for ids in self.held.values() for a in ids)

    def rejects_bytes(self) -> bytes:
        """The rejects file's content (:func:`features.fields.rejects_csv`)."""
        from features.fields import rejects_csv

        return rejects_csv(self.set_aside, self.held)

    def set_aside_provenance(self) -> dict[str, Any]:
        """What a decision of a run that set rows aside records of them (nothing when none was): how many, and the
        sha256 of the rejects file's rows set aside with its ``held_applications`` column left empty — no cell of
        it; the rows of the fields file only, not which applications were given (a replay of a subset of them, a
        day's batch split, records the same). :func:`pipelines.replay.replay_files` reads the fields file as the
        run did when it finds this."""
        return set_aside_provenance(self.set_aside)


#: the provenance entry of a run that set fields rows aside (:meth:`UnderwriteInputs.set_aside_provenance`)
SET_ASIDE_KEY = "fields_set_aside"


#: the applications' identifiers, whole, and each farmer token's name words (applicant_identifiers)
ApplicantIds = tuple[set[str], dict[str, frozenset[str]]]


@contextmanager
def applicants_hidden(applications: str | Path) -> Iterator[ApplicantIds | None]:
    """Around a run reading the applications with other files that hold no names (a Book): a user error quoting one
    of the applicants' identifiers, or a quoted value holding a word of their names (a surname typed as a Book's
    currency or region), says ``<personal data>`` (:func:`features.identity.hide_quoted_words`; a review). Yields
    the identifiers (:func:`underwriting.applications.applicant_identifiers`; None when the file cannot be read —
    the run refuses it in its own words) for :func:`refuse_foreign_personal_ids`."""
    from features.identity import hide_identifiers, hide_quoted_words
    from underwriting.applications import applicant_identifiers

    try:
        ids: ApplicantIds | None = applicant_identifiers(applications)
    except Exception:  # the run itself refuses the file, in its own words
        ids = None
    whole, words = ids if ids is not None else (set(), {})
    try:
        yield ids
    except UserInputError as e:
        text = str(e)
        hidden = hide_quoted_words(hide_identifiers(text, whole), set().union(*words.values()) if words else set())
        if hidden != text:
            e.args = (hidden,)
        raise


def refuse_foreign_personal_ids(applications: str | Path | ApplicantIds, *, book: pd.DataFrame | None,
                                book_source: str, fields: pd.DataFrame | None, fields_source: str) -> None:
    """A run writing records (underwrite, reunderwrite) refuses a Book line id or application id, or a field id,
    holding an applicant's name, ID or phone, or one word of a name (:func:`underwriting.applications.
    refuse_ids_naming_applicants`): each file checks its own ids against its own identifiers, but a Book has no
    names (a walkthrough: a borrower's full name as the line id went into every record of the line)."""
    from underwriting.applications import applicant_identifiers, refuse_ids_naming_applicants

    ids = applications if isinstance(applications, tuple) else applicant_identifiers(applications)
    refuse_ids_naming_applicants(ids, book, source=book_source, columns=("line_id", "application_id"))
    refuse_ids_naming_applicants(ids, fields, source=fields_source, columns=("field_id",))


def set_aside_provenance(rows: Sequence[Any]) -> dict[str, Any]:
    """The provenance entry of a run's decisions when it set fields rows aside (:class:`features.fields.SetAside`;
    nothing when none was): how many, and the sha256 of the rejects file's rows with ``held_applications`` empty
    (:meth:`UnderwriteInputs.set_aside_provenance`; also ``reunderwrite --rejects``)."""
    from features.fields import rejects_csv

    if not rows:
        return {}
    return {SET_ASIDE_KEY: {"rows": len(rows), "rejects_sha256": hashlib.sha256(rejects_csv(rows)).hexdigest()}}


def read_underwrite_inputs(applications: str | Path, fields: str | Path, season: str, *,
                           features: str | Path | None = None, book: str | Path | None = None,
                           policy: str | Path | Policy | None = None, profile: str | None = None,
                           weather: str | Path | None = None, crop_season_scale: float | None = None,
                           haze_dates: Sequence[dt.date] | None = None,
                           history: str | Path | None = None, set_aside: bool = False,
                           refuse_unrecorded: bool = False, refuse_rejected: bool = False,
                           applicant_ids: ApplicantIds | None = None) -> UnderwriteInputs:
    """Read and check every input of an underwriting run (one-line user errors; nothing is written).
    ``set_aside``: the fields file's rows failing a row-level check are left out (:attr:`UnderwriteInputs.set_aside`)
    instead of refusing the file, and so are the given features' rows of their fields (not lent against).
    ``refuse_unrecorded``: :func:`refuse_unrecorded_held` on the features file (``underwrite``; not ``audit replay``,
    which reads a file as the run it replays read it). ``refuse_rejected`` (``underwrite``; not a replay, for the
    same reason): without ``set_aside``, fields of the season rejected when reading refuse the run
    (:func:`pipelines.fieldcheck.refuse_rejected`), and so do ids holding an applicant's name, ID or phone
    (:func:`refuse_foreign_personal_ids`; ``applicant_ids``: the applications' identifiers when the caller has read
    them, :func:`applicants_hidden`)."""
    from features.fields import read_fields
    from underwriting.applications import read_applications, read_book
    from underwriting.policy import Policy, load_policy

    season = check_season(season)
    if features is not None and crop_season_scale is not None:
        raise UserInputError("--crop-season-scale pins the crop model when underwrite builds the features; with "
                             "--features, pin it in `agcredit features build --crop-season-scale`")
    if features is not None and haze_dates is not None:
        raise UserInputError("--hazy-dates pins the smoother when underwrite builds the features; with --features, "
                             "pin it in `agcredit features build --hazy-dates`")
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    if profile is not None:
        pol.profile(profile)
    apps = read_applications(applications)
    if not (apps["season"].astype(str) == season).any():
        have = sorted(set(apps["season"].astype(str)))
        raise UserInputError(f"{Path(applications).name}: no application of season {season} (seasons in the file: "
                             f"{', '.join(have) or 'none'})")
    if profile is None:
        profile = profile_for_currency(pol, sorted(set(apps.loc[apps["season"] == season, "currency"])))
    read = read_fields(fields, season=season, need=("region",) if features is None else (),  # to build them
                       set_aside=set_aside)
    flds = read.fields
    notes = read.notes()
    held: dict[str, list[str]] = {}
    if read.set_aside:  # a farmer with a row set aside is not decided on the rest: the rest is not all their land
        from features.fields import held_farmers

        tokens = held_farmers(read.set_aside, season)
        now = apps["season"].astype(str) == season
        hold = now & apps["farmer_token"].astype(str).isin(tokens)
        for tok, aid in zip(apps.loc[hold, "farmer_token"].astype(str), apps.loc[hold, "application_id"].astype(str),
                            strict=True):
            held.setdefault(tok, []).append(aid)
        apps = apps[~hold].reset_index(drop=True)
    bk = read_book(book) if book is not None else empty_book()
    if refuse_rejected:  # a run writing records (a replay reads the files its records were made from)
        refuse_foreign_personal_ids(applicant_ids or applications, book=bk,
                                    book_source=Path(book).name if book is not None else "Book", fields=flds,
                                    fields_source=Path(fields).name)
        from pipelines._id_spelling import refuse_ids_written_otherwise

        refuse_ids_written_otherwise(season=season, applications=apps, fields=flds, book=bk,
                                     applications_source=Path(applications).name, fields_source=Path(fields).name,
                                     book_source=Path(book).name if book is not None else "Book")
    wx = None
    if weather is not None:
        from features.weather import read_weather

        wx = read_weather(weather)  # checked before anything is scored or written
    feats, lineage = None, None
    by_features: list[str] = []
    if features is not None:
        p = Path(features)
        if not p.is_file():
            raise UserInputError(f"{p}: features file not found")
        try:
            feats = pd.read_parquet(p)
        except Exception as e:  # pyarrow raises many kinds for a file that is not Parquet
            raise UserInputError(f"{p}: not a readable Parquet file ({str(e).splitlines()[0][:120]})") from None
        feats = check_field_features(feats, where=p.name)
        gone = {r.field_id for r in read.set_aside if r.field_id is not None}
        drop = (feats["season"].astype(str) == season) & feats["field_id"].astype(str).isin(gone)
        if drop.any():  # a field set aside is not lent against, whatever the features say of it
            feats = feats[~drop].reset_index(drop=True)
            notes.append(f"{int(drop.sum())} field(s) of features file {p.name} not used: their rows of the fields "
                         "file were rejected")
        refuse_other_fields(feats, flds, apps, season, source=f"features file {p}", rejected=read.rejected)
        from pipelines.featurize import features_held, read_lineage

        lineage = read_lineage(p)
        if refuse_unrecorded:
            refuse_unrecorded_held(feats, flds, apps, season, lineage, source=f"features file {p}")
        left_out = features_held(lineage)
        hold = (apps["season"].astype(str) == season) & apps["farmer_token"].astype(str).isin(left_out)
        if hold.any():  # built with --rejects: these farmers' fields had rows set aside, none is in the file
            by_features = sorted(apps.loc[hold, "application_id"].astype(str))
            apps = apps[~hold].reset_index(drop=True)
            notes.append(f"{len(by_features)} application(s) not decided: features file {p.name} was built with "
                         "rows of their farmers' fields rejected (features build --rejects), so it has none of "
                         "their fields; correct the rows, rebuild the features and re-run to decide them: "
                         + ", ".join(by_features[:5]) + (f" and {len(by_features) - 5} more"
                                                         if len(by_features) > 5 else ""))
    if refuse_rejected and not set_aside:
        from pipelines.fieldcheck import refuse_rejected as refuse

        refuse(read, season, hint="give --rejects PATH to set them aside and hold their farmers' applications")
    hist = None
    if history is not None:
        from features._yield_history import read_yield_history

        hist = read_yield_history(history)
    return UnderwriteInputs(applications=apps, fields=flds, season=season, policy=pol, profile=profile, book=bk,
                            weather=wx, features=feats, warnings=notes, yield_history=hist,
                            features_lineage=lineage, set_aside=list(read.set_aside), held=held,
                            held_by_features=by_features)
