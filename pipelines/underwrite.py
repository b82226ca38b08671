"""Underwrite a season's applications: features → champion models → valuations → decisions → the store.

:func:`underwrite` is the library front of ``agcredit underwrite``. It builds the FieldFeatures
as of the decision date with :func:`pipelines.featurize.featurize` (or takes a table built
earlier, e.g. by ``features build``), resolves ``yield-value@champion`` (and
``crop-type@champion``) ONCE and records the concrete versions, values the fields
(:func:`models.yield_value.score_fields`), decides every application
(:func:`underwriting.decisions.decide_batch`) and appends the decisions to the
:class:`~underwriting.store.DecisionStore`. A re-run with the same inputs adds nothing (the
decision bodies are byte-identical, so their record ids are already stored).

:func:`score_and_decide` is the reusable middle (models → featurize → score → decide, nothing
stored) that re-underwriting and backtests call too.

The FieldFeatures a run used are written, content-addressed, to
``<artifacts>/features/<sha256 of the Parquet bytes>.parquet`` (:func:`artifacts_dir`), and the
hash goes into every decision's provenance so ``agcredit explain`` can recompute the model's
contributions for one application. Provenance holds deterministic values only.

The yield model's checkpoint (its validated scope) of a date is :func:`checkpoint_label`:
``end`` from the end of the season window, else ``mid`` from the median mid-season date of the
region's crops, ``emergence`` from the median emergence date, ``pre_season`` before.

The parts live in private modules, all re-exported here: the features artifact (:mod:`pipelines._underwrite_artifacts`),
the checks of features given (:mod:`pipelines._underwrite_features`), scoring and deciding
(:mod:`pipelines._underwrite_score`), the checks before a run (:mod:`pipelines._underwrite_checks`) and reading a
run's files (:mod:`pipelines._underwrite_inputs`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence  # noqa: F401  (Callable: kept importable from here)
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contracts import check_field_features, check_season  # noqa: F401  (kept importable from here)
from features.errors import ContractError, UserInputError, format_offenders  # noqa: F401  (kept importable from here)
from pipelines._champions import YIELD_MODEL_NAME, ChampionModels, align_features, checkpoint_label
from pipelines._underwrite_artifacts import (
    ARTIFACTS_ENV,
    _features_bytes,
    _write_artifact,
    artifacts_dir,
    features_path,
    write_features_artifact,
)
from pipelines._underwrite_checks import (
    _check_currency,
    check_run_inputs,
    forward_only_items,
    records_context,
    refuse_stored_spellings,
    refuse_unmatched,
    store_context,
    superseded_policy_warning,
)
from pipelines._underwrite_features import (
    LINEAGE_KEYS,
    NO_LINEAGE,
    _lineage_regions,
    lineage_provenance,
    refuse_later_features,
    refuse_other_fields,
    refuse_unrecorded_held,
    regions_mismatch,
    unfeatured_fields,
)
from pipelines._underwrite_inputs import (
    SET_ASIDE_KEY,
    UnderwriteInputs,
    empty_book,
    profile_for_currency,
    read_underwrite_inputs,
    set_aside_provenance,
)
from pipelines._underwrite_score import (
    Progress,
    ScoredRun,
    _valuations,
    later_prices,
    portable_source,
    score_and_decide,
)
from underwriting.records import DecisionItem, sha256_hex  # noqa: F401  (sha256_hex: kept importable from here)

if TYPE_CHECKING:
    import geopandas as gpd

    from models.prices import PriceTable
    from pipelines.featurize import FeaturizeResult
    from underwriting.policy import Policy
    from underwriting.store import DecisionStore

__all__ = ["ChampionModels", "portable_source", "ScoredRun", "UnderwriteResult", "artifacts_dir", "checkpoint_label",
           "features_path", "write_features_artifact", "align_features", "score_and_decide", "underwrite", "summarise",
           "decisions_table", "write_decisions", "underwrite_files", "empty_book", "profile_for_currency", "DEFAULT_OPERATOR",
           "YIELD_MODEL_NAME"]
# moved to the private modules (pure move) and importable from here as before: other modules, tests and benchmarks
# import them from pipelines.underwrite
__all__ += ["ARTIFACTS_ENV", "Progress", "_features_bytes", "_write_artifact", "_valuations", "later_prices",
            "LINEAGE_KEYS", "NO_LINEAGE", "lineage_provenance", "_lineage_regions", "regions_mismatch",
            "unfeatured_fields", "refuse_unrecorded_held", "refuse_other_fields", "refuse_later_features",
            "check_run_inputs", "store_context", "records_context", "forward_only_items", "refuse_stored_spellings",
            "refuse_unmatched", "_check_currency", "UnderwriteInputs", "SET_ASIDE_KEY", "set_aside_provenance",
            "read_underwrite_inputs"]

DEFAULT_OPERATOR = "agcredit-underwrite"


# --- the run ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnderwriteResult:
    """What an underwriting run decided and stored."""

    items: list[DecisionItem]
    summary: dict[str, Any]
    features: pd.DataFrame
    valuations: pd.DataFrame
    written: int = 0
    already_present: int = 0
    record_ids: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    models: dict[str, str | None] = field(default_factory=dict)
    checkpoint: str = ""
    store_url: str = ""
    #: the phenology smoother's scene haze dates (None when the features were given)
    hazy_dates: list[str] | None = None
    #: the fields file's rows set aside into the rejects file (``underwrite_files(rejects=...)``)
    rejected_rows: int = 0
    #: of them, the rows of the run's season or of a season that cannot be read (:func:`features.fields.partial_rows`):
    #: the run is partial (exit 1) only with one (or an application held)
    partial_rows: int = 0
    #: the applications not decided: their farmers' fields had rows set aside (``underwrite_files(rejects=...)``)
    held_applications: list[str] = field(default_factory=list)
    #: the applications not decided: the features file given was built without their farmers' fields
    held_by_features: list[str] = field(default_factory=list)
    #: what each challenger did in shadow (:class:`pipelines.shadow.ShadowSummary`; empty: none ran or was named)
    shadow: tuple[Any, ...] = ()


def summarise(items: list[DecisionItem], *, top: int = 5) -> dict[str, Any]:
    """Counts by outcome, total granted limit per currency (minor units and text), most frequent reasons, and the
    referred applications' refer reasons (each application counted once per reason)."""
    from models.money import format_minor

    outcomes = Counter(i.outcome for i in items)
    totals: dict[str, int] = {i.currency: 0 for i in items}  # nothing granted in a currency: its zero, not "0"
    for i in items:
        if i.outcome in ("APPROVE", "REDUCE"):
            totals[i.currency] = totals.get(i.currency, 0) + int(i.limit)
    requested: dict[str, int] = {}
    for i in items:
        amt = (i.body.get("application") or {}).get("requested_amount")
        if amt is not None:
            requested[i.currency] = requested.get(i.currency, 0) + int(amt)
    reasons = Counter(code for i in items for code in i.reason_codes)
    # why the referred were referred (FAILING_AREA_SHARE, PARCEL_OVERLAP_CLAIM, HARVEST_PASSED, …): the reason codes
    # above are the limit's waterfall, which never names them — "REFER 136" was printed without a cause
    refers = Counter(code for i in items if i.outcome == "REFER" for code in (i.body.get("refer_reasons") or []))
    return {
        "n": len(items),
        "outcomes": {k: outcomes.get(k, 0) for k in ("APPROVE", "REDUCE", "DECLINE", "REFER")},
        "total_limit": totals,
        "total_limit_text": {c: format_minor(v, c) for c, v in sorted(totals.items())},
        "total_requested_text": {c: format_minor(v, c) for c, v in sorted(requested.items())},
        "top_reasons": [(c, n) for c, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:top]],
        "refer_reasons": [(c, n) for c, n in sorted(refers.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


def decisions_table(items: list[DecisionItem]) -> pd.DataFrame:
    """One row per decision: ids, outcome, limit (minor units and text), reasons (no identifiers)."""
    from models.money import format_minor
    from underwriting.store import record_id_for

    rows = [{"record_id": record_id_for(i.idempotency_key), "application_id": i.application_id,
             "farmer_token": i.farmer_token, "season": i.season, "as_of": i.as_of, "outcome": i.outcome,
             "limit": int(i.limit), "currency": i.currency, "limit_text": format_minor(i.limit, i.currency),
             "reason_codes": ";".join(i.reason_codes)} for i in items]
    cols = ["record_id", "application_id", "farmer_token", "season", "as_of", "outcome", "limit", "currency",
            "limit_text", "reason_codes"]
    return pd.DataFrame(rows, columns=cols).astype({"limit": "int64"})


def write_decisions(items: list[DecisionItem], out: str | Path) -> Path:
    """Write :func:`decisions_table` as CSV or Parquet (by suffix), atomically."""
    path = Path(out)
    ext = path.suffix.lower()
    if ext not in (".csv", ".parquet", ".pq"):
        raise UserInputError(f"{path}: unsupported output format '{ext}' (expected .csv or .parquet)")
    from features.atomic import write_table_atomic

    return write_table_atomic(decisions_table(items), path, fmt="csv" if ext == ".csv" else "parquet")


def underwrite(applications: pd.DataFrame, fields: gpd.GeoDataFrame, season: str, as_of: dt.date | str, *,
               imagery: str | Path | None, policy: Policy, profile: str, book: pd.DataFrame,
               store: DecisionStore | str | None, features: pd.DataFrame | None = None,
               prices: PriceTable | None = None, progress: Progress | None = None, operator: str | None = None,
               models: ChampionModels | None = None, cache_dir: Path | None = None,
               crop_model: str | Path | None = "champion",
               weather: pd.DataFrame | str | Path | None = None,
               crop_season_scale: float | None = None,
               haze_dates: Sequence[dt.date] | None = None,
               featurized: FeaturizeResult | None = None,
               yield_history: pd.DataFrame | None = None,
               features_lineage: Mapping[str, Any] | None = None,
               extra_provenance: dict[str, Any] | None = None,
               allow_missing_acquisitions: bool = False, shadow: bool = False) -> UnderwriteResult:
    """Underwrite the applications of ``season`` as of ``as_of`` and append the decisions to ``store``.

    Idempotent: a re-run with the same inputs, models and policy writes nothing new. ``crop_season_scale`` pins
    the crop model's season scale (e.g. an earlier record's ``crop_season_scale``) instead of estimating it from
    the season's declared fields; ``haze_dates`` the phenology smoother's scene haze dates (an earlier record's
    ``smoother_hazy_dates``) instead of judging them on these fields. ``featurized``: features built by
    :func:`pipelines.featurize.featurize` for this run (see :func:`score_and_decide`). ``yield_history``: the farm
    records' reported yields (:func:`features._yield_history.read_yield_history`; a county's ``history()``): each
    field's mean of its declared crop over its latest five earlier seasons is what the pre-season rule values it on
    (CREDIT_POLICY.md step 2); without it the model's expectation. ``allow_missing_acquisitions``: see
    :func:`score_and_decide` (else a scene folder with acquisitions of the window recorded missing is refused
    before any work). ``shadow``: once the records are appended, each model's ``challenger`` (another version than the
    run's) decides the same applications in its place — the same inputs, policy, profile and store context, the
    yield-value challenger on the run's features — and those decisions go to the store's shadow table beside the
    records (:func:`_in_shadow`); never a record, and a shadow that fails leaves the run as it is (said in
    :attr:`UnderwriteResult.shadow`).
    """
    from underwriting.store import DecisionStore, new_sqlite_file, store_url

    warnings: list[str] = []
    book = check_run_inputs(applications, fields, season, as_of, policy=policy, profile=profile, book=book,
                            features=features, imagery=imagery if featurized is None else None,
                            warnings=warnings, allow_missing_acquisitions=allow_missing_acquisitions)
    own = not isinstance(store, DecisionStore)
    url = store.url if isinstance(store, DecisionStore) else store_url(store)
    new_file = new_sqlite_file(url) if own else None
    if new_file is not None:  # a new SQLite store: its folder must take it (checked before any work)
        from features.atomic import check_writable

        check_writable(new_file, what="decision store")
    # a store that does not exist yet (no SQLite file; a PostgreSQL database without agcredit's tables) is created
    # only with its first records: a run killed or failing before leaves none, not an empty one
    st = store if isinstance(store, DecisionStore) else DecisionStore(url, defer=True)
    # a new SQLite store's artifacts folder is this run's: a run stopped before its records are stored (Ctrl-C after
    # the features artifact was written) left it beside a store that was never created, under "nothing partial was
    # kept"
    fresh_artifacts = artifacts_dir(url) if new_file is not None and not artifacts_dir(url).exists() else None
    try:
        if not st.pending:  # before the features and models: an id typed another way than the store's
            refuse_stored_spellings(applications.loc[applications["season"].astype(str) == str(season),
                                                     "application_id"].astype(str).tolist(), st, str(season))
            superseded_policy_warning(st, policy, warnings)
        models, wx = ChampionModels.for_run(models, weather=weather, warnings=warnings, crop_model=crop_model,
                                            crop_season_scale=crop_season_scale)
        # the applications holding each farmer's fields of the season in the store: another one is a second pledge
        pledged, open_alerts = store_context(st, season, as_of, policy, profile)
        run = score_and_decide(applications, fields, season, as_of, imagery=imagery, policy=policy, profile=profile,
                               book=book, store_url=url, models=models, features=features, prices=prices,
                               cache_dir=cache_dir, progress=progress, weather=wx, haze_dates=haze_dates,
                               featurized=featurized, pledged=pledged, yield_history=yield_history,
                               features_lineage=features_lineage, open_alerts=open_alerts,
                               extra_provenance=extra_provenance,
                               allow_missing_acquisitions=allow_missing_acquisitions)
        who = operator or os.environ.get("AGCREDIT_OPERATOR") or DEFAULT_OPERATOR
        # a new store holds nothing to go forward from (made meanwhile by another run: its records are read)
        items = list(run.items) if st.pending else forward_only_items(run.items, st, warnings)
        res = st.append(items, operator=who)
        said: list[Any] = []
        if shadow:  # after the records: whatever the challengers do, the run's decisions are stored
            said = _in_shadow(models, run, items, url=st.url, operator=who, warnings=warnings,
                              season_scale=crop_season_scale, decide=dict(
                                  applications=applications, fields=fields, season=season, as_of=as_of,
                                  imagery=imagery, policy=policy, profile=profile, book=book, store_url=url,
                                  features=features, prices=prices, cache_dir=cache_dir, weather=wx,
                                  haze_dates=haze_dates, pledged=pledged, yield_history=yield_history,
                                  features_lineage=features_lineage, open_alerts=open_alerts,
                                  extra_provenance=extra_provenance,
                                  allow_missing_acquisitions=allow_missing_acquisitions))
        return UnderwriteResult(items=items, summary=summarise(items), features=run.features,
                                valuations=run.valuations, written=res.written,
                                already_present=res.already_present, record_ids=res.record_ids,
                                warnings=warnings + run.warnings, models=run.models, checkpoint=run.checkpoint,
                                store_url=st.shown_url,
                                hazy_dates=list(run.featurized.hazy_dates) if run.featurized is not None else None,
                                shadow=tuple(said))
    except BaseException:
        if fresh_artifacts is not None and new_sqlite_file(url) is not None:  # no store was created: nor its folder
            import shutil

            shutil.rmtree(fresh_artifacts, ignore_errors=True)
        raise
    finally:
        if own:
            st.close()


def _in_shadow(models: ChampionModels, run: ScoredRun, items: list[DecisionItem], *, url: str, operator: str,
               warnings: list[str], season_scale: float | None, decide: dict[str, Any]) -> list[Any]:
    """The challengers of ``models`` in shadow of an underwriting run whose records (``items``, what it wrote or found
    written) are stored: each decides through :func:`score_and_decide` with ``decide`` (the run's own arguments: its
    inputs, policy, profile, Book, pledges and open alerts as it read them), nothing written beside the store
    (``write_artifact=False``) — a yield-value challenger on the run's features as built (or given), a crop-type one
    on features its crop model builds from the imagery — and its decisions go to the shadow table
    (:func:`pipelines.shadow.run_shadow`). What each did (:class:`pipelines.shadow.ShadowSummary`); a registry that
    cannot say which challengers there are is one warning."""
    from pipelines.shadow import run_shadow, shadow_sets

    try:
        sets, said = shadow_sets(models, features_given=run.featurized is None, season_scale=season_scale)
    except Exception as e:
        from pipelines.shadow import failure_text

        warnings.append(f"shadow: the registry's challengers could not be read, none ran: {failure_text(e)}")
        return []

    def decided(s: Any) -> list[DecisionItem]:
        fr = run.featurized if s.name == "yield-value" else None
        kw = {**decide, "features": decide["features"] if s.name == "yield-value" else None}
        return score_and_decide(**kw, models=s.models, featurized=fr, write_artifact=False).items

    return [*said, *run_shadow(sets, decided, items, url, operator, unit="applications")]


def underwrite_files(applications: str | Path, fields: str | Path, season: str, as_of: dt.date, *,
                     imagery: str | Path | None = None, features: str | Path | None = None,
                     book: str | Path | None = None, policy: str | Path | None = None, profile: str | None = None,
                     store: str | None = None, out: str | Path | None = None,
                     crop_model: str | Path | None = "champion", cache_dir: Path | None = None,
                     operator: str | None = None, progress: Progress | None = None,
                     weather: str | Path | None = None, crop_season_scale: float | None = None,
                     haze_dates: Sequence[dt.date] | None = None,
                     history: str | Path | None = None, rejects: str | Path | None = None,
                     allow_missing_acquisitions: bool = False, shadow: bool = False) -> UnderwriteResult:
    """:func:`underwrite` from files: every input is read and checked before anything is written. ``rejects``: a
    CSV file for the fields file's rows that fail a row-level check (:func:`features.fields.write_rejects`), which
    are then set aside and the rest decided (without it, one such row refuses the file). ``shadow``: as
    :func:`underwrite`."""
    if out is not None and Path(out).suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise UserInputError(f"{out}: unsupported output format '{Path(out).suffix}' (expected .csv or .parquet)")
    if out is not None:
        from features.atomic import check_writable

        check_writable(out, what="decisions file")  # before anything is decided or stored
    if rejects is not None:
        from features.atomic import check_writable

        check_writable(rejects, what="rejects file")
    from features.atomic import undone_on_user_error, write_bytes_atomic
    from pipelines._underwrite_inputs import applicants_hidden

    # a surname typed as a Book's currency or region is not quoted (a review); the applicants' identifiers read once
    with applicants_hidden(applications) as named:
        inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                     profile=profile, weather=weather, crop_season_scale=crop_season_scale,
                                     haze_dates=haze_dates, history=history, set_aside=rejects is not None,
                                     refuse_unrecorded=True, refuse_rejected=True, applicant_ids=named)

        held = sorted(inp.held_ids + inp.held_by_features)
        if held and not (inp.applications["season"].astype(str) == inp.season).any():
            if rejects is not None:  # the file the message names: it lists the rows to correct
                write_bytes_atomic(inp.rejects_bytes(), rejects)
            raise UserInputError(f"underwrite: nothing decided: every application of season {inp.season} ({len(held)}) "
                                 "has a farmer whose fields had rejected rows"
                                 + (f" (see {rejects})" if rejects is not None else "")
                                 + (" (the features file was built without them)" if inp.held_by_features else "")
                                 + "; correct the rows and re-run to decide them")
        # a run its later checks refuse (the Book's balances, the models) stores nothing: nor does it leave the rejects
        # file it wrote (a bank's walkthrough found one naming held applications of a run that decided none)
        with undone_on_user_error(rejects):
            if rejects is not None:  # before any decision is stored: a run stopped later leaves no decision without it
                write_bytes_atomic(inp.rejects_bytes(), rejects)
            res = underwrite(inp.applications, inp.fields, inp.season, as_of, imagery=imagery, policy=inp.policy,
                             profile=inp.profile, book=inp.book, store=store, features=inp.features, progress=progress,
                             operator=operator, cache_dir=cache_dir, crop_model=crop_model, weather=inp.weather,
                             crop_season_scale=crop_season_scale, haze_dates=haze_dates, yield_history=inp.yield_history,
                             features_lineage=inp.features_lineage, extra_provenance=inp.set_aside_provenance(),
                             allow_missing_acquisitions=allow_missing_acquisitions, shadow=shadow)
    if imagery is not None and features is not None:
        inp.warnings.insert(0, f"--imagery {imagery} not read: the features given with --features are used")
    if inp.warnings:
        res = replace(res, warnings=inp.warnings + res.warnings)
    if out is not None:
        write_decisions(res.items, out)
    res = replace(res, held_applications=inp.held_ids, held_by_features=inp.held_by_features)
    if rejects is not None:
        from features.fields import partial_rows

        res = replace(res, rejected_rows=len(inp.set_aside), partial_rows=partial_rows(inp.set_aside, inp.season))
    return res
