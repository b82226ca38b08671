"""The reusable middle of an underwriting run: champion models → features → valuations → decisions, nothing stored.

:func:`score_and_decide` (also re-underwriting's, replay's, impact's and the shadow's), the valuations it prices
(:func:`_valuations`, :func:`later_prices`) and the :class:`ScoredRun` it returns. Re-exported by
:mod:`pipelines.underwrite`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contracts import check_field_features, check_season
from features.errors import UserInputError, format_offenders
from pipelines._champions import ChampionModels, align_features, checkpoint_label
from pipelines._underwrite_artifacts import _features_bytes, _write_artifact
from pipelines._underwrite_features import (
    lineage_provenance,
    refuse_later_features,
    refuse_other_fields,
    regions_mismatch,
    unfeatured_fields,
)
from underwriting.records import DecisionItem

if TYPE_CHECKING:
    import geopandas as gpd

    from models.prices import PriceTable
    from pipelines.featurize import FeaturizeResult
    from underwriting.policy import Policy

Progress = Callable[[int, int, str], None]


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
