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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contracts import check_field_features, check_season
from features.errors import ContractError, UserInputError, format_offenders
from pipelines._champions import YIELD_MODEL_NAME, ChampionModels, align_features, checkpoint_label
from underwriting.records import DecisionItem, sha256_hex

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

DEFAULT_OPERATOR = "agcredit-underwrite"
ARTIFACTS_ENV = "AGCREDIT_ARTIFACTS_DIR"
Progress = Callable[[int, int, str], None]


# --- where features are kept for explain ---------------------------------------------------------------

def artifacts_dir(store_url: str | None) -> Path:
    """Artifacts folder of a decision store: ``<db dir>/<db stem>.artifacts/`` for a SQLite file, else
    ``$AGCREDIT_ARTIFACTS_DIR`` (default ``./agcredit-artifacts``)."""
    from underwriting.store import store_url as _resolve

    url = _resolve(store_url)
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):].split("?", 1)[0]
        if rest and rest != ":memory:":
            db = Path(rest)
            return db.parent / f"{db.stem}.artifacts"
    return Path(os.environ.get(ARTIFACTS_ENV, "./agcredit-artifacts"))


def features_path(store_url: str | None, sha: str) -> Path:
    """Where the FieldFeatures table with content hash ``sha`` lives for the store at ``store_url``."""
    return artifacts_dir(store_url) / "features" / f"{sha}.parquet"


def write_features_artifact(features: pd.DataFrame, store_url: str | None, *, write: bool = True) -> str:
    """Write ``features`` as ``<artifacts>/features/<sha256>.parquet`` (atomic; kept if present); the hash
    (``write=False``: the hash only)."""
    sha, data = _features_bytes(features)
    if write:
        _write_artifact(data, sha, store_url)
    return sha


def _features_bytes(features: pd.DataFrame) -> tuple[str, bytes]:
    buf = io.BytesIO()
    features.to_parquet(buf, index=False)
    data = buf.getvalue()
    return sha256_hex(data), data


def _write_artifact(data: bytes, sha: str, store_url: str | None) -> None:
    from features.atomic import write_bytes_atomic

    path = features_path(store_url, sha)
    if not path.exists():
        write_bytes_atomic(data, path)


# --- scoring and deciding --------------------------------------------------------------------------------


def portable_source(source: str) -> str:
    """The imagery source as it goes into decision provenance: its kind, the file count and a fingerprint of the
    scenes read (``scenes (22 files, sha256:…)``, :func:`features.series.scenes_fingerprint`; a series table's
    content hash) — not where it lies on this machine nor the folder's name, so the same imagery read through
    another path (relative, a symlink, a copied or renamed folder) gives the same decision body and record id."""
    m = re.match(r"^([a-z-]+):(.+?)( \(.*\))?$", source)
    return f"{m[1]}{m[3] or ''}" if m else source

@dataclass(frozen=True)
class ScoredRun:
    """Decisions of a run before storing, with what they were computed from."""

    items: list[DecisionItem]
    features: pd.DataFrame
    valuations: pd.DataFrame
    features_sha256: str
    provenance: dict[str, Any]
    checkpoint: str
    models: dict[str, str | None]
    warnings: list[str] = field(default_factory=list)
    featurized: Any = None


def _valuations(features: pd.DataFrame, models: ChampionModels, prices: PriceTable, currency: str, season: str,
                as_of: dt.date, warnings: list[str], farmers: set[str] | None = None) -> tuple[pd.DataFrame, str]:
    """``farmers``: the run's applicants' tokens — only their fields unvalued are warned of (a county's features may
    hold many more)."""
    from models.yield_value import crop_of, known_crop, score_fields

    known = known_crop(features)
    said = ~known if farmers is None else ~known & features["farmer_token"].astype(str).isin(farmers).to_numpy()
    if said.any():
        warnings.append(f"{int(said.sum())} field(s) without a declared or predicted crop are not valued: "
                        + format_offenders(sorted(features.loc[said, "field_id"].astype(str))))
    regions = features["region"].astype(object).where(features["region"].notna(), None)
    parts, labels = [], set()
    names: list[str | None] = [*sorted({str(r) for r in regions[known] if r is not None})]
    for region in names or [None]:
        rows = known & ((regions == region).to_numpy() if region is not None else True)
        if not rows.any():
            continue
        sub = features[rows].reset_index(drop=True)
        label = checkpoint_label(season, region, as_of, sorted(set(crop_of(sub))), governance=models.governance)
        labels.update(label.split(","))
        parts.append(score_fields(models.yield_model, sub, prices, model_name=models.yield_name,
                                  model_version=models.yield_version, governance=models.governance,
                                  checkpoint=label, currency=currency))
    if not parts:
        raise UserInputError(f"season {season}: no field has a crop to value")
    vals = pd.concat(parts, ignore_index=True)
    return vals.assign(run_id=models.yield_run_id), ",".join(sorted(labels))


def later_prices(prices: pd.DataFrame, valuations: pd.DataFrame, season: str, day: dt.date, *,
                 known_at_decision: bool = False) -> list[str]:
    """Warnings for the season's prices of the valued crops dated after ``day``: a lender deciding then did not
    have them (a season average published after the harvest) — the decision is priced with hindsight.
    ``known_at_decision`` (the policy's ``prices_known_at_decision``, 2026.12.9 on): the decision takes the latest
    price of the crop and region dated on or before ``day`` instead (:func:`underwriting.decisions.prices_known_on`),
    so only a price with no such earlier one is warned of."""
    if "price_date" not in prices.columns or valuations.empty:
        return []
    used = {(str(c), str(r)) for c, r in zip(valuations["crop"], valuations["region"], strict=True)}
    rows = prices[prices["season"].astype(str) == str(season)]
    dated = pd.to_datetime(rows["price_date"].replace("", None), errors="coerce")
    late = rows[(dated > pd.Timestamp(day)).to_numpy()]
    if known_at_decision:
        every = pd.to_datetime(prices["price_date"].replace("", None), errors="coerce")
        known = prices[(every <= pd.Timestamp(day)).to_numpy()]
        earlier = {(str(c), str(r)) for c, r in zip(known["crop"], known["region"], strict=True)}
        # a boolean Series, not a list: an empty list selects no *columns* (no price dated after the day)
        late = late[pd.Series([(str(c), str(r)) not in earlier for c, r in zip(late["crop"], late["region"],
                                                                              strict=True)], index=late.index, dtype=bool)]
    names = sorted(f"{c} in {r} (dated {d})" for c, r, d in zip(late["crop"], late["region"], late["price_date"],
                                                               strict=True) if (str(c), str(r)) in used)
    if not names:
        return []
    if known_at_decision:
        return [f"the price table's season-{season} price of {', '.join(names[:3])}{' …' if len(names) > 3 else ''} "
                f"is dated after the decision date {day} and the table has no earlier price of it: the decision is "
                "priced with hindsight (give the prices known on the decision date)"]
    return [f"the price table's season-{season} price of {', '.join(names[:3])}{' …' if len(names) > 3 else ''} is "
            f"dated after the decision date {day}: a lender deciding then did not have it (give the prices known "
            "on the decision date)"]


def score_and_decide(applications: pd.DataFrame, fields: gpd.GeoDataFrame, season: str,
                     as_of: dt.date | str, *, imagery: str | Path | None, policy: Policy, profile: str,
                     book: pd.DataFrame, store_url: str | None = None, models: ChampionModels | None = None,
                     features: pd.DataFrame | None = None, prices: PriceTable | None = None,
                     cache_dir: Path | None = None, series: pd.DataFrame | None = None,
                     progress: Progress | None = None, run: str | None = None,
                     extra_provenance: dict[str, Any] | None = None,
                     weather: pd.DataFrame | str | Path | None = None,
                     haze_dates: Sequence[dt.date] | None = None, write_artifact: bool = True,
                     featurized: FeaturizeResult | None = None,
                     pledged: Mapping[tuple[str, str], Sequence[str]] | None = None,
                     yield_history: pd.DataFrame | None = None,
                     features_lineage: Mapping[str, Any] | None = None,
                     open_alerts: pd.DataFrame | None = None,
                     allow_missing_acquisitions: bool = False) -> ScoredRun:
    """Resolve the champion models once (unless given) → featurize (unless ``features``) → value → decide.

    Nothing is stored except the FieldFeatures artifact (for explain; not with ``write_artifact=False``). ``applications`` of other
    seasons are ignored. ``run`` names the run in the provenance (default ``underwrite <season> <as_of>``).
    ``weather``: a daily weather file or table (:mod:`features.weather`; default: the one ``models`` carry);
    a yield model that reads weather refuses to score without it (one-line user error). ``haze_dates`` pins the
    smoother's scene haze (:func:`pipelines.featurize.pin_haze`); the dates used are in the provenance
    (``smoother_hazy_dates``, with ``smoother_haze_pinned`` when pinned). ``yield_history``: see :func:`underwrite`.
    ``featurized``: the run's
    :class:`~pipelines.featurize.FeaturizeResult`, built by the caller as of ``as_of`` with ``models``' crop model —
    scored as is, and its provenance recorded as if built here. ``features_lineage``: what ``features`` were
    built from (:func:`pipelines.featurize.read_lineage` of their file): the provenance names their crop model and
    imagery — not this run's champion crop model, which scored nothing —, or says the file did not record it.
    ``open_alerts``: the decision store's open alerts (:func:`pipelines.reunderwrite.stored_alerts`): under a policy
    with ``decisions_read_alerts`` a field with an open CROP_FAILURE alert is excluded (CROP_FAILURE_OBSERVED); under
    one with ``renewals_propose_actions`` the decision of an application renewing an active Book line proposes what a
    re-underwriting would (:func:`pipelines.reunderwrite.renewal_actions`, the alerts' REVIEW included).
    ``allow_missing_acquisitions``: decide on a scene folder a partial ``imagery fetch`` left incomplete (else
    refused); the provenance's ``missing_acquisitions`` names the dates decided without.
    """
    from models.prices import read_prices
    from pipelines.featurize import featurize, require_weather
    from underwriting.book import book_as_of
    from underwriting.decisions import decide_batch

    season = check_season(season)
    day = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    book = book_as_of(book, day)  # type: ignore[assignment]  # a dated Book as of the day (audit replay's too)
    warnings: list[str] = []
    tick = progress or (lambda _d, _t, _m: None)
    models, wx = ChampionModels.for_run(models, weather=weather, warnings=warnings)
    prices = prices if prices is not None else read_prices()
    apps = applications[applications["season"].astype(str) == season].reset_index(drop=True)
    if apps.empty:
        raise UserInputError(f"applications: no application of season {season}")
    fr = featurized
    if fr is not None:  # built by featurize for this run (the caller has shown its warnings)
        feats = fr.features
        if sorted({pd.Timestamp(t).date() for t in feats["as_of"]}) != [day]:
            raise ValueError(f"score_and_decide: the features given were not built as of {day}")
    elif features is None:
        fr = featurize(fields, imagery, season, day, crop_model=models.crop_model, cache_dir=cache_dir,
                       progress=progress, series=series, weather=wx, haze_dates=haze_dates,
                       allow_missing_acquisitions=allow_missing_acquisitions)
        warnings.extend(fr.warnings)
        feats = fr.features
    else:
        feats = check_field_features(features[features["season"].astype(str) == season].reset_index(drop=True),
                                     where="features")
        refuse_later_features(feats, day)
        refuse_other_fields(feats, fields, apps, season)
        unfeatured = unfeatured_fields(feats, fields, apps, season)
        if unfeatured:  # e.g. features built from another fields file: those fields are not valued
            warnings.append(f"{len(unfeatured)} field(s) of the fields file have no row in the features given and "
                            f"are not valued: {format_offenders(unfeatured)}")
        asofs = sorted({pd.Timestamp(t).date() for t in feats["as_of"]})
        if asofs != [day]:
            warnings.append(f"features given were built as of {', '.join(map(str, asofs[:3]))}, "
                            f"not {day}")
        if wx is not None:
            from features.weather import add_weather

            feats = add_weather(feats, wx)
    if yield_history is not None:  # the farmers' reported yields: what the pre-season rule values a field on
        from features._yield_history import add_history_yields

        feats = add_history_yields(feats, yield_history, season)
        if len(feats) and int(feats["history_seasons"].max()) == 0:
            warnings.append(f"the yield history given has no reported yield of the declared crop for any field of "
                            f"season {season} in an earlier season (other seasons or field ids only?): every "
                            "pre-season field is valued on the model's expectation")
    require_weather(feats, models.yield_model, f"{models.yield_name} version {models.yield_version}")
    tick(1, 3, "valuations")
    feats = align_features(feats, models.yield_model, warnings)
    currency = policy.profile(profile).currency
    vals, label = _valuations(feats, models, prices, currency, season, day, warnings,
                              farmers=set(apps["farmer_token"].astype(str)))
    warnings.extend(later_prices(prices.to_frame(), vals, season, day,
                                 known_at_decision=bool(policy.profile(profile).prices_known_at_decision)))
    sha, artifact = _features_bytes(feats)  # written once the decisions are made
    if fr is None:
        mismatch = regions_mismatch(features_lineage)
        if mismatch:
            warnings.append(mismatch)
    from features.regions import provenance as regions_provenance
    from pipelines.featurize import lineage

    provenance: dict[str, Any] = {
        "features_sha256": sha, "run": run or f"underwrite {season} {day.isoformat()}", "checkpoint": label,
        # built here: what a features file written by this featurize would record; else the file's own lineage,
        # never today's champion crop model
        **(lineage(fr, models.crop_version) if fr is not None else lineage_provenance(features_lineage)),
        # a bank's region files (features.regions) decide too: their digest, only with AGCREDIT_REGIONS_DIR set
        **regions_provenance(),
    }
    provenance.update(extra_provenance or {})
    tick(2, 3, "decisions")
    items = decide_batch(apps, feats, vals, prices.to_frame(), book, policy, profile, day, provenance=provenance,
                         pledged=pledged, open_alerts=open_alerts)
    from pipelines.reunderwrite import renewal_actions

    # policy renewals_propose_actions (2026.12.10): a renewal of an active Book line proposes what re-underwriting would
    items = renewal_actions(items, book, apps, season, day, open_alerts=open_alerts)
    if write_artifact:  # not before: a run refused while deciding leaves no file behind
        _write_artifact(artifact, sha, store_url)
    tick(3, 3, "decided")
    return ScoredRun(items=items, features=feats, valuations=vals, features_sha256=sha, provenance=provenance,
                     checkpoint=label, models=models.versions(), warnings=warnings, featurized=fr)


#: the lineage keys a features file may hand to a decision's provenance, with their types (nothing else: a file's
#: metadata must not overwrite the run's own features hash, run name or checkpoint)
LINEAGE_KEYS: dict[str, type | tuple[type, ...]] = {
    "crop_model_version": str, "imagery_source": str, "acquisition_dates": list, "families": dict,
    "smoother_hazy_dates": list, "smoother_haze_pinned": bool, "regions_sha256": str, "missing_acquisitions": list}
#: what a decision from a features file without lineage records as its crop model
NO_LINEAGE = "not recorded (features file without lineage)"


def lineage_provenance(lineage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The provenance entries a features file's lineage gives: its :data:`LINEAGE_KEYS` of the right type only;
    without lineage (or without a crop model in it), the crop model is :data:`NO_LINEAGE`."""
    got = {k: v for k, v in (lineage or {}).items() if k in LINEAGE_KEYS and isinstance(v, LINEAGE_KEYS[k])}
    built = _lineage_regions(got.pop("regions_sha256", None))
    if built is not None:  # the region files the features were built with, recorded only when not the run's own
        from features.regions import regions_digest

        if built != regions_digest():
            got["features_regions_sha256"] = built
    return {"crop_model_version": NO_LINEAGE, **got}


def _lineage_regions(value: Any) -> str | None:
    """A lineage's regions digest when it is one (64 hex characters), else None (a file's metadata is not trusted
    to put other text into a warning or a record)."""
    import re

    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) else None


def regions_mismatch(lineage: Mapping[str, Any] | None) -> str | None:
    """A warning when a features file's lineage names other region files (``AGCREDIT_REGIONS_DIR``) than this run's:
    its season windows and calendars placed the features' phenology, this run's place the checkpoints and prices.
    None when they agree, or for a file whose lineage records no regions digest (another tool's, an earlier
    release's, or one built without the variable: it cannot tell which regions built it)."""
    from features.regions import regions_digest

    built = _lineage_regions((lineage or {}).get("regions_sha256"))
    if built is None:
        return None
    now = regions_digest()
    if built == now:
        return None

    def name(d: str | None) -> str:
        return f"region files sha256:{d[:12]}" if d else "the package's regions only"

    return (f"the features file was built with {name(built)}, this run reads {name(now)} (AGCREDIT_REGIONS_DIR): "
            "rebuild the features with this run's regions, or run with the regions they were built with")


def unfeatured_fields(features: pd.DataFrame, fields: pd.DataFrame, applications: pd.DataFrame,
                      season: str) -> list[str]:
    """The ids of the fields of ``season`` of the applications' farmers (a county's fields file may hold many more
    farmers) that have no row in ``features``, sorted."""
    run_fields = fields[fields["season"].astype(str) == season] if "season" in fields.columns else fields
    run_fields = run_fields[run_fields["farmer_token"].astype(str).isin(set(applications["farmer_token"].astype(str)))]
    return sorted(set(run_fields["field_id"].astype(str)) - set(features["field_id"].astype(str)))


def refuse_unrecorded_held(features: pd.DataFrame, fields: pd.DataFrame, applications: pd.DataFrame, season: str,
                           lineage: Mapping[str, Any] | None, *, source: str) -> None:
    """Refuse (one-line :class:`UserInputError`) a features file written by ``features build`` before it recorded
    its held farmers (a lineage without :data:`pipelines.featurize.HELD_KEY`) when it has no row for a field of the
    season's applicants: such a file built with ``--rejects`` left the field out and kept its farmer's other
    fields, so the farmer would be decided on part of their land. Such a file with every applicant's field, or a
    file without lineage (another tool's), is read as holding no farmer (the missing fields warned of, not valued)."""
    from pipelines.featurize import HELD_KEY

    if lineage is None or HELD_KEY in lineage:
        return
    gone = unfeatured_fields(features, fields, applications[applications["season"].astype(str) == season], season)
    if gone:
        raise UserInputError(f"{source} was built before `features build` recorded held farmers (its lineage has no "
                             f"{HELD_KEY}) and has no row for {len(gone)} field(s) of this run's applicants: "
                             f"{format_offenders(gone)} — an earlier `features build --rejects` left such fields out "
                             "and kept their farmers' other fields, deciding them on part of their land; rebuild it "
                             "with `agcredit features build` from this fields file")


def refuse_other_fields(features: pd.DataFrame, fields: pd.DataFrame, applications: pd.DataFrame, season: str, *,
                        source: str = "the features given", rejected: Mapping[str, str] | None = None) -> None:
    """Refuse features built from other fields than this run's (one-line :class:`UserInputError`).

    The decisions match a field to an application by the features' ``farmer_token``: a field the fields file gives
    to another farmer, a polygon changed since (its ``geometry_hash``), or a field the fields reader rejected (or
    that the file no longer has) would still be lent against as the features say. Only the fields of the season's
    applications' farmers (by either table) are compared: the features of a whole county used for five applications
    are fine. A field of the fields file without a features row is not valued (said in a warning elsewhere).
    """
    from features.fields import geometry_hashes

    tokens = set(applications.loc[applications["season"].astype(str) == season, "farmer_token"].astype(str))
    ft = features[features["season"].astype(str) == season]
    fl = fields[fields["season"].astype(str) == season] if "season" in fields.columns else fields
    f_tok = dict(zip(ft["field_id"].astype(str), ft["farmer_token"].astype(str), strict=True))
    l_tok = dict(zip(fl["field_id"].astype(str), fl["farmer_token"].astype(str), strict=True))
    ids = sorted({i for i, t in f_tok.items() if t in tokens} | {i for i, t in l_tok.items() if t in tokens and i in f_tok})
    if not ids:
        return
    f_hash = dict(zip(ft["field_id"].astype(str), ft["geometry_hash"], strict=True)) \
        if "geometry_hash" in ft.columns else {}
    mine = fl[fl["field_id"].astype(str).isin(ids)]
    l_hash = dict(zip(mine["field_id"].astype(str), geometry_hashes(mine), strict=True)) if len(mine) else {}
    problems = []
    for i in ids:
        if i not in l_tok:
            why = (rejected or {}).get(i)
            problems.append(f"{i} rejected when reading the fields ({why})" if why is not None
                            else f"{i} not in the fields file")
            continue
        what = []
        if f_tok[i] != l_tok[i]:
            what.append("farmer")
        h = f_hash.get(i)
        if h is not None and not pd.isna(h) and str(h) != l_hash[i]:
            what.append("geometry")
        if what:
            problems.append(f"{i} {' and '.join(what)} differ{'s' if len(what) == 1 else ''}")
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UserInputError(f"{source} {'was' if source.startswith('features file') else 'were'} built from other "
                             f"fields: {', '.join(problems[:5])}{more}; rebuild it with `agcredit features build` "
                             "from this fields file")


def refuse_later_features(features: pd.DataFrame, day: dt.date) -> None:
    """A one-line :class:`ContractError` naming every field whose features were built after the decision date
    ``day`` (evidence from the future), before any model is resolved or anything written."""
    if "as_of" not in features.columns:
        return  # check_field_features names the missing column
    dates = pd.to_datetime(features["as_of"]).dt.normalize()
    late = (dates > pd.Timestamp(day)).to_numpy()
    if late.any():
        raise ContractError(table="features", column="as_of", expected=f"on or before the decision date {day}",
                            found=f"later dates ({dates.max().date()})",
                            offenders=features.loc[late, "field_id"].astype(str).tolist())


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
    why = (f"already decided in {store.shown_url} with another as-of date or other inputs: {shown}{more}; an "
           "application's chain goes forward only — re-decide its line with `agcredit reunderwrite`, change a "
           "decision with `agcredit override`")
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
                           refuse_unrecorded: bool = False, refuse_rejected: bool = False) -> UnderwriteInputs:
    """Read and check every input of an underwriting run (one-line user errors; nothing is written).
    ``set_aside``: the fields file's rows failing a row-level check are left out (:attr:`UnderwriteInputs.set_aside`)
    instead of refusing the file, and so are the given features' rows of their fields (not lent against).
    ``refuse_unrecorded``: :func:`refuse_unrecorded_held` on the features file (``underwrite``; not ``audit replay``,
    which reads a file as the run it replays read it). ``refuse_rejected`` (``underwrite``; not a replay, for the
    same reason): without ``set_aside``, fields of the season rejected when reading refuse the run
    (:func:`pipelines.fieldcheck.refuse_rejected`)."""
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
    inp = read_underwrite_inputs(applications, fields, season, features=features, book=book, policy=policy,
                                 profile=profile, weather=weather, crop_season_scale=crop_season_scale,
                                 haze_dates=haze_dates, history=history, set_aside=rejects is not None,
                                 refuse_unrecorded=True, refuse_rejected=True)
    if rejects is not None:  # before any decision is stored: a run stopped later leaves no decision without it
        from features.atomic import write_bytes_atomic

        write_bytes_atomic(inp.rejects_bytes(), rejects)
    held = sorted(inp.held_ids + inp.held_by_features)
    if held and not (inp.applications["season"].astype(str) == inp.season).any():
        raise UserInputError(f"underwrite: nothing decided: every application of season {inp.season} ({len(held)}) "
                             "has a farmer whose fields had rejected rows"
                             + (f" (see {rejects})" if rejects is not None else "")
                             + (" (the features file was built without them)" if inp.held_by_features else "")
                             + "; correct the rows and re-run to decide them")
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
