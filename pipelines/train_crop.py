"""Train the crop-type classifier on a county's past seasons (or on a user's tables) and register it.

Labels are the farmers' DECLARED crops of past seasons, as the bank's records hold them: they
contain mistakes (a declared crop that was never planted, or a different one), as real labels
do; the county's ``truth/`` is never read here. A field-season record with no declared crop is
taken as declared *not planted* and labelled :data:`NO_CROP` ("fallow"), so the model learns
what a field with nothing on it looks like.

Checkpoints: one model per as-of checkpoint of the county's season calendar
(:meth:`pipelines.county.County.checkpoints`: emergence, mid-season, pre-harvest) plus the end of season,
each on features cut off at that checkpoint (days after the season window's start). Trained on tables, the same
checkpoints of the labels' regions' calendars (:func:`resolve_checkpoints`), or the user's (``--checkpoints``,
:func:`parse_checkpoints`); a model with the end of season only gives no crop type before it, and says so.

Governance metrics are held out by season: the classifier's out-of-fold predictions (folds are
whole seasons) of the latest past season, scored against its declared crops (so they include
the label noise) — accuracy, macro-F1 and calibration error per checkpoint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders
from pipelines._alert_fit import N_TUNE_SEASONS
from pipelines._crop_checkpoints import (
    CHECKPOINTS_SYNTAX,
    calendar_checkpoints,
    checkpoint_summary,
    county_checkpoints,
    parse_checkpoints,
    resolve_checkpoints,
)
from pipelines._crop_governance import (
    IN_SEASON_MINIMUM_METRICS,
    MINIMUM_METRICS,
    _heldout_metrics,
    crop_governance,
    crop_minimum_metrics,
)
from pipelines._crop_labels import check_labels_in_series, rare_crops_note

# isort: split
# re-exported, unused here: importable from pipelines.train_crop as before its helpers moved out
from pipelines._crop_checkpoints import (
    _MONTH_DAY,  # noqa: F401
    _NAME,  # noqa: F401
    _day_offsets,  # noqa: F401
    _distinct_days,  # noqa: F401
    _first_after,  # noqa: F401
    _place,  # noqa: F401
)
from pipelines._crop_governance import naive_crop_metrics  # noqa: F401

if TYPE_CHECKING:
    from features.crop_type import CropTypeClassifier
    from models.governance import Governance
    from pipelines.county import County

__all__ = ["MODEL_NAME", "NO_CROP", "COUNTY_PARAMS", "CHECKPOINTS_SYNTAX", "TrainResult", "crop_labels",
           "county_checkpoints", "calendar_checkpoints", "parse_checkpoints", "resolve_checkpoints",
           "checkpoint_summary", "county_crop_labels", "crop_governance", "crop_minimum_metrics", "MINIMUM_METRICS",
           "IN_SEASON_MINIMUM_METRICS", "fitted_on", "fitted_on_history", "fitted_summary", "history_fits",
           "train_crop_type", "train_crop_type_county", "train_crop_type_tables"]

MODEL_NAME = "crop-type"
NO_CROP = "fallow"
#: classifier settings for county imagery: 8-day periods resolve the weeks between sowing dates;
#: labels the out-of-fold model gives less than 5% are dropped as declaration mistakes; every
#: training row gets a copy with a 30-60 day cloud gap, so a paddy whose flooding the monsoon
#: hid is still recognised (sh-demo 2009: rice recall 0.69 -> 0.84, accuracy 0.87 -> 0.91); the
#: calibration is fitted on the kept declared crops, whose remaining noise is class-conditional (a crop
#: declared on a field never planted: fallow fields looked 30-40% uncertain), so that noise is estimated per
#: class from the training seasons' out-of-fold probabilities and removed (``label_noise="transition"``:
#: probabilities of the crop in the field, not of the farmer's declaration; it replaced the symmetric removal
#: of the dropped share, which made fallow under-confident and the crops over-confident: sh-eval spatial
#: block ECE 0.107 -> 0.050, leave-one-season-out mean ECE 0.027 / 0.031 -> 0.009 / 0.016 end / mid)
COUNTY_PARAMS: dict[str, Any] = {"period_days": 8, "clean_labels": 0.05, "augment_gaps": 1.0,
                                 "calibration_folds": 3, "n_estimators": 150, "num_leaves": 31,
                                 "label_noise": "transition"}


@dataclass(frozen=True)
class TrainResult:
    """A fitted classifier, its held-out metrics, governance and registered version (``None``: not registered)."""

    classifier: CropTypeClassifier
    metrics: dict[str, float]
    governance: Governance
    version: str | None = None
    promoted: bool = False
    checkpoint_names: dict[str, int | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def crop_labels(fields: pd.DataFrame, *, label_column: str = "declared_crop") -> pd.DataFrame:
    """Training labels from field records: field_id, season, region (if any), ``crop`` (empty → :data:`NO_CROP`)."""
    need = [c for c in ("field_id", "season", label_column) if c not in fields.columns]
    if need:
        raise UserInputError(f"crop-type labels: missing columns {format_offenders(need)}")
    cols = [c for c in ("field_id", "season", "region", "season_start", "season_end") if c in fields.columns]
    out = pd.DataFrame(fields[cols]).astype({"field_id": "str", "season": "str"}).reset_index(drop=True)
    crop = fields[label_column].astype(object).reset_index(drop=True)
    out["crop"] = pd.Series(np.where(_blank(crop), NO_CROP, crop.astype(str).str.strip()), dtype="str")
    return out.drop_duplicates(["field_id", "season"]).reset_index(drop=True)


def county_crop_labels(county: County, seasons: Sequence[str]) -> pd.DataFrame:
    """:func:`crop_labels` of the county's field records of ``seasons``, each with its region (the county's where
    the records name none)."""
    fields = county.fields()
    fields = fields.loc[fields["season"].astype(str).isin([str(s) for s in seasons])]
    labels = crop_labels(pd.DataFrame(fields.drop(columns="geometry")))
    if "region" not in labels.columns or labels["region"].isna().all():
        labels["region"] = county.region
    labels["region"] = labels["region"].fillna(county.region).astype("str")
    return labels


def _blank(crop: pd.Series) -> pd.Series:
    """Which crop cells are empty (missing or only spaces)."""
    c = crop.astype(object).reset_index(drop=True)
    return c.isna() | (c.astype(str).str.strip() == "")


def train_crop_type(series: pd.DataFrame, labels: pd.DataFrame, *, checkpoints: dict[str, int | str] | None = None,
                    regions: Sequence[str] = (), synthetic: bool = False, register: bool = True,
                    promote: bool = True, params: dict[str, Any] | None = None,
                    phenology: dict[str, Any] | None = None,
                    alert_params: dict[str, dict[str, Any]] | Callable[[], dict[str, dict[str, Any]] | None] | None
                    = None, data: str | None = None, operator: str | None = None,
                    effective: dt.date | None = None,
                    farm_records: Mapping[str, pd.DataFrame | None] | None = None) -> TrainResult:
    """Fit on ``labels`` (:func:`crop_labels`: field_id, season, crop, region or season_start), score, register.

    ``phenology``: region → :class:`features._phenology_calib.Calibration` fitted on the same past seasons' records,
    saved (and registered) with the model so that features built with it use it. ``alert_params``: region → the
    early-warning thresholds tuned on those records (:func:`pipelines._alert_fit.county_alert_params`), saved with
    it so that ``monitor`` and ``reunderwrite`` use them — or a function giving them, called once the classifier is
    fitted (a tuning running beside the fit). ``data``: the governance data kind when known (a county's
    :attr:`~pipelines.county.County.data_kind`; ``"unlabelled"`` fails closed), else by ``synthetic``.

    ``checkpoints`` maps names to day offsets (default: ``{"end": "end"}``). Promotion to champion
    happens only when the held-out metrics meet :data:`MINIMUM_METRICS` at end of season and
    :data:`IN_SEASON_MINIMUM_METRICS` at every in-season checkpoint (:func:`crop_minimum_metrics`); otherwise the
    version stays ``challenger`` and the result's notes say why.

    ``farm_records``: the tables ``phenology`` and ``alert_params`` were fitted on — ``history`` (the farm records,
    as :func:`pipelines.county.read_history` types them) and ``weather`` (the daily weather; None: none) — whose
    hashes the version records with its training data beside ``series`` and ``labels`` (:func:`fitted_on`), so that
    two versions whose calibration or thresholds were fitted on other records are told apart.
    """
    from features._crop_features import FeatureCache
    from features.crop_type import CropTypeClassifier

    names = dict(checkpoints or {"end": "end"})
    lab = labels.astype({"field_id": "str", "season": "str"})
    context = ("region",) if "region" in lab.columns else ()
    kw = {**COUNTY_PARAMS, **(params or {})}
    notes: list[str] = []
    counts = lab["crop"].value_counts()
    if (counts >= kw.get("min_class_count", 5)).sum() < 2 <= len(counts):
        kw["min_class_count"] = 1  # a very small training set: keep every class rather than fail
        notes.append(f"only {len(lab)} labels: every declared crop kept, however rare")
    clf = CropTypeClassifier(tuple(dict.fromkeys(names.values())), context=context, **kw)
    cache = FeatureCache()  # the training rows' features, computed once for the fit and the input profile
    clf.fit(series, lab, label_column="crop", feature_cache=cache)
    notes.extend(rare_crops_note(counts, list(clf.classes_), int(kw.get("min_class_count", 5))))
    clf.phenology_calibration_ = dict(phenology or {})
    tuned = alert_params() if callable(alert_params) else alert_params
    clf.alert_params_ = {str(r): dict(v) for r, v in (tuned or {}).items()}
    seasons = sorted(set(lab["season"]))
    metrics = _heldout_metrics(clf, seasons[-1], names)
    metrics["n_train"] = float(len(lab))
    metrics["n_dropped_labels"] = float(clf.n_dropped_labels_)
    dec = clf.declared_transition()
    if dec is not None:  # how often a declaration of each class is right (the declared_crop_prob's T), for model risk
        metrics.update({f"declared_right_{c}": float(dec[j, j]) for j, c in enumerate(clf.classes_)})
    regs = list(regions) or (sorted({str(r) for r in lab["region"].dropna()}) if "region" in lab.columns else [])
    gov = crop_governance(clf, metrics, regs, list(names), synthetic=synthetic, data=data,
                          notes=f"declared crops of seasons {', '.join(seasons)}; held-out = out-of-fold "
                                f"(whole seasons) on {seasons[-1]}; checkpoints "
                                + ", ".join(f"{k}={v}" for k, v in names.items()) + "; phenology "
                                + ("; ".join(f"{r} calibrated on the diaries of seasons {', '.join(c.seasons)}"
                                             + (" (thermal time)" if c.thermal else "")
                                             for r, c in sorted(clf.phenology_calibration_.items()))
                                   or "uncalibrated")
                          + "; alert thresholds " + ("; ".join(f"{r} tuned on the diaries of seasons "
                                                               f"{', '.join(seasons[-N_TUNE_SEASONS:])}"
                                                               for r in sorted(clf.alert_params_))
                                                     or "the rules' defaults"))
    notes[:0] = fitted_summary(clf.phenology_calibration_, sorted(clf.alert_params_), seasons[-N_TUNE_SEASONS:])
    version = None
    promoted = False
    if register:
        from features._crop_registry import diagnostic_plots, registry_example
        from models.registry import SaveLoadFlavour
        from models.registry import promote as promote_version
        from models.registry import register as register_model
        from pipelines._code_digest import registry_provenance

        example, answer = registry_example(clf, series, lab)
        from features.atomic import private_tempdir

        with private_tempdir("crop-plots") as tmp:
            version = register_model(clf, MODEL_NAME, metrics=metrics, governance=gov,
                                     params={**clf.get_params(), "seasons": ",".join(seasons)},
                                     flavour=SaveLoadFlavour.of(clf), artifacts=diagnostic_plots(clf, tmp),
                                     input_example=example, output_example=answer,
                                     training_data={"series": series, "labels": lab,
                                                    **fitted_on(clf, farm_records)},
                                     provenance=registry_provenance(), operator=operator,
                                     input_profile=crop_input_profile(clf, series, lab, cache, names))
        fails = gov.failures()
        if promote and not fails:
            promote_version(MODEL_NAME, version, operator=operator, reason="trained on past seasons' declared crops",
                            effective=effective)
            promoted = True
        elif promote:
            notes.append(f"not promoted: below minimum metrics ({'; '.join(fails)})")
    return TrainResult(classifier=clf, metrics=metrics, governance=gov, version=version, promoted=promoted,
                       checkpoint_names=names, notes=notes)


def fitted_on(clf: Any, farm_records: Mapping[str, pd.DataFrame | None] | None) -> dict[str, pd.DataFrame]:
    """Of ``farm_records`` (``history``, ``weather``), the tables the fitted classifier's phenology calibration and
    alert thresholds were fitted on, as its training data records them: the history when either was fitted, the
    weather when a calibration was (its thermal-time durations; the alert tuning reads none)."""
    tables = dict(farm_records or {})
    cal = dict(getattr(clf, "phenology_calibration_", {}) or {})
    out: dict[str, pd.DataFrame] = {}
    if tables.get("history") is not None and (cal or getattr(clf, "alert_params_", None)):
        out["history"] = tables["history"]
    if tables.get("weather") is not None and cal:
        out["weather"] = tables["weather"]
    return out


def crop_input_profile(clf: Any, series: pd.DataFrame, labels: pd.DataFrame, cache: Any,
                       names: Mapping[str, int | str]) -> dict[str, Any]:
    """The training rows' distribution of each input the classifier reads, per checkpoint (:mod:`models.stability`:
    registered with the version, compared by ``agcredit models stability crop-type``): the rows it was fitted on
    (``labels`` with a crop it learned), their inputs through the fit's feature ``cache``. A checkpoint is profiled
    under its name (``mid``, ``end``…) with its day from the season window's start as its date (the end of season:
    the window's length, the model's periods × their days)."""
    from features.crop_type import checkpoint_key
    from models.stability import input_profile

    rows = labels[labels["crop"].notna() & labels["crop"].astype(str).isin(clf.classes_)].reset_index(drop=True)
    end_day = float(clf.n_periods_ * clf.period_days)
    frames = {}
    for name, c in names.items():
        X = clf.input_frame(series, rows, c, cache=cache)
        frames[str(name)] = (X, end_day if checkpoint_key(c) == "end" else float(c),
                             rows["season"].astype(str).to_numpy(dtype=object),
                             rows["region"].astype(str).to_numpy(dtype=object) if "region" in rows.columns else None)
    profile = input_profile(frames, model=MODEL_NAME)
    for name, c in names.items():  # the classifier's own name of the checkpoint (a day offset or "end")
        profile["checkpoints"][str(name)]["model_checkpoint"] = checkpoint_key(c)
    return profile


def fitted_summary(phenology: Mapping[str, Any], alert_regions: Sequence[str], tune_seasons: Sequence[str]
                   ) -> list[str]:
    """What a training fitted beside the classifier, for its summary: the phenology calibration (region → its
    :class:`features._phenology_calib.Calibration`) and the regions whose alert thresholds were tuned on the diaries
    of ``tune_seasons`` — or that the features stay uncalibrated and the alerts run the rules' defaults."""
    cal = "; ".join(f"phenology calibrated on seasons {', '.join(c.seasons)} ({r}"
                    + (", thermal time)" if c.thermal else ")") for r, c in sorted(phenology.items()))
    tuned = (f"alert thresholds tuned on seasons {', '.join(tune_seasons)} ({', '.join(alert_regions)})"
             if alert_regions else "")
    return [cal or "phenology uncalibrated", tuned or "alert thresholds the rules' defaults"]


def train_crop_type_county(county: County, *, seasons: list[str] | None = None, register: bool = True,
                           promote: bool = True, params: dict[str, Any] | None = None,
                           operator: str | None = None, effective: dt.date | None = None) -> TrainResult:
    """Train on the county's past seasons (declared crops, :meth:`County.series`), register as ``crop-type``, with
    the county's phenology calibration (:func:`pipelines._phenology_fit.fit_county_phenology`) on the latest of
    them. A promotion is in force from ``effective``, by default the county's
    (:func:`pipelines.county.promotion_effective`: a simulated season's start; today on real data)."""
    from features.threads import thread_map
    from pipelines._alert_fit import county_alert_params_beside
    from pipelines._phenology_fit import fit_county_phenology
    from pipelines.county import promotion_effective

    if register:
        from models.registry import check_registry

        check_registry()  # an unusable registry said in seconds, before the series are built and the model fitted
    seasons = sorted(seasons or county.past_seasons)
    if not seasons:
        raise UserInputError(f"crop-type training on {county.path}: expected at least one past season, found none")
    unknown = [s for s in seasons if s not in county.seasons]
    if unknown:
        raise UserInputError(f"crop-type training on {county.path}: seasons {format_offenders(unknown)} are not in "
                             f"county.json ({', '.join(county.seasons)})")
    # the seasons' series side by side on threads (scene reads and zonal statistics release the GIL; each season's
    # cache file is written atomically), concatenated in season order
    series = pd.concat(thread_map(county.series, seasons), ignore_index=True)
    labels = county_crop_labels(county, seasons)
    with county_alert_params_beside(county, seasons, series) as alert:  # tuned while the classifier fits
        calib = fit_county_phenology(county, seasons)

        def tuned() -> dict[str, dict[str, Any]] | None:
            a = alert()
            return {county.region: a} if a is not None else None

        return train_crop_type(series, labels, checkpoints=county_checkpoints(county), regions=[county.region],
                               synthetic=county.synthetic, data=county.data_kind, register=register, promote=promote, params=params,
                               phenology={county.region: calib} if calib is not None else None, alert_params=tuned,
                               operator=operator, effective=effective or promotion_effective(county),
                               farm_records={"history": county.history(), "weather": county.weather()})


def _table_path(path: str | Path, what: str) -> Path:
    """``path`` when it is a CSV or Parquet file; a one-line user error naming ``what`` otherwise."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"crop-type training: {what} file {p} not found")
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".geoparquet", ".csv"):
        raise UserInputError(f"crop-type training: {what} file {p}: expected .csv or .parquet, found {suffix or 'none'}")
    return p


def _read_table(path: str | Path, what: str) -> pd.DataFrame:
    p = _table_path(path, what)
    suffix = p.suffix.lower()
    from pipelines.errors import read_checked

    fmt = "CSV" if suffix == ".csv" else "Parquet"
    return read_checked(p, f"crop-type training: {what} file {p}", lambda: pd.read_csv(
        p, dtype={"field_id": str, "season": str}) if fmt == "CSV" else pd.read_parquet(p), fmt)


def train_crop_type_tables(series_path: str | Path, labels_path: str | Path, *, label_column: str = "declared_crop",
                           checkpoints: Mapping[str, int | str] | str | None = None, region: str | None = None,
                           synthetic: bool = False, register: bool = True, promote: bool = True,
                           params: dict[str, Any] | None = None, blank_labels: str = "fallow",
                           history: str | Path | None = None, weather: str | Path | None = None,
                           operator: str | None = None) -> TrainResult:
    """Train from a FieldTimeSeries table and a labels table (field_id, season, ``label_column``, region
    or season_start[/season_end]) — a real user's data; figures are marked real unless ``synthetic``.

    ``checkpoints``: name → MM-DD, days after the season start or ``end`` (or that as text, :func:`parse_checkpoints`);
    default the in-season checkpoints ``--county`` trains: the season calendar's of the labels' regions (or of
    ``region``, for labels without a region column), in the season after the latest labelled one — the season
    the model is for (:func:`resolve_checkpoints`). The result's notes open with what they mean
    (:func:`checkpoint_summary`). ``blank_labels``: an empty crop cell is ``"fallow"`` (:data:`NO_CROP`, a class the
    model learns — what a county's records mean by it) or ``"drop"`` (not recorded: left out); the notes say how many
    there were and how they were read.

    ``history``: the farm records of the labelled seasons (a CSV/Parquet with a county's ``records/history.csv``
    columns, checked as a county's: :func:`pipelines.county.read_history`): the phenology calibration and the alert
    thresholds are then fitted on them as ``--county`` fits them (:func:`history_fits`), and saved with the model;
    ``weather``: the region's daily weather, for the calibration's thermal-time durations (with ``history`` only).
    Without it the model carries neither, and the notes say so."""
    if blank_labels not in ("fallow", "drop"):
        raise UserInputError(f"crop-type labels: blank_labels {blank_labels!r}: expected fallow or drop")
    if weather is not None and history is None:
        raise UserInputError("crop-type training: --weather goes with --history (the thermal-time durations of the "
                             "phenology calibration fitted on the farm records)")
    if register:
        from models.registry import check_registry

        check_registry()  # an unusable registry said in seconds, before the tables are read and the model fitted
    from features.contracts import check_field_time_series

    series = _read_table(series_path, "series")
    missing = [c for c in ("field_id", "season", "variable", "date") if c not in series.columns]
    if missing:  # e.g. a FieldFeatures file given as the series
        raise UserInputError(f"{series_path}: not a FieldTimeSeries table (columns missing: {', '.join(missing)}; "
                             "expected one row per field, date and variable, as `agcredit features series` writes)")
    series["date"] = pd.to_datetime(series["date"], errors="coerce")
    if series["date"].isna().any():
        raise UserInputError(f"{series_path}: column 'date' holds values that are not dates")
    series = check_field_time_series(series.astype({"field_id": "str", "season": "str", "variable": "str"}),
                                     where=str(series_path))
    raw = _read_table(labels_path, "labels")
    if "region" not in raw.columns and "season_start" not in raw.columns:
        raise UserInputError(f"crop-type labels {labels_path}: expected a region or season_start column, found neither")
    if "season_start" in raw.columns and "season_end" not in raw.columns:
        # each field's window is its season_start to its season_end (features._seasonal.field_windows): without the
        # end the run failed naming an internal table and a parameter the command line has not (a review)
        raise UserInputError(f"crop-type labels {labels_path}: a season_start column needs a season_end column beside "
                             "it (the last day of each field's season), or a region column instead of both (its "
                             "season calendar's window)")
    n_blank = int(_blank(raw[label_column]).sum()) if label_column in raw.columns else 0
    blank_note: list[str] = []
    n_read = len(raw)
    if n_blank:
        if blank_labels == "drop":
            raw = raw[~_blank(raw[label_column]).to_numpy()].reset_index(drop=True)
            blank_note = [f"{n_blank} label(s) with an empty {label_column} left out (--blank-labels drop)"]
        else:
            blank_note = [f"{n_blank} label(s) with an empty {label_column} read as {NO_CROP} (the field was not "
                          f"cropped); if empty means not recorded, train with --blank-labels drop"]
    from features.fields import check_known_crops, normalise_crop
    from features.identity import identifiers_hidden, name_words

    with identifiers_hidden(raw):  # a labels file's own farmers' names, IDs and phones are never quoted
        labels = crop_labels(raw, label_column=label_column)
        # the engine's crop names, as the field readers give them (a misspelt crop would become a class of its own)
        check_known_crops(labels["crop"], source=Path(labels_path).name, column=label_column,
                          rows=labels["field_id"] + "/" + labels["season"], hidden=name_words(raw))
    labels["crop"] = labels["crop"].map(normalise_crop).astype("str")
    keys = check_labels_in_series(labels, series, labels_path, series_path, n_read=n_read,
                                  dropped_blank=n_blank if blank_labels == "drop" else 0)
    spec = None if checkpoints is None else parse_checkpoints(
        checkpoints if isinstance(checkpoints, str) else ",".join(f"{k}={v}" for k, v in checkpoints.items()))
    regions = _label_regions(labels, series, region, labels_path)
    seasons = sorted(set(keys["season"].astype(str)))
    bare = sorted(set(labels["season"].astype(str)) - set(seasons))
    if bare:  # a season of labels without imagery would be held out, and named as tuned, on nothing
        labels = labels[labels["season"].astype(str).isin(seasons)].reset_index(drop=True)
        blank_note.append(f"labels of season(s) {', '.join(bare)} left out: the series has no imagery of them")
    try:
        season = str(int(seasons[-1]) + 1)  # the season the model is trained for (a county's current season)
    except ValueError:
        raise UserInputError(f"crop-type labels {labels_path}: season {seasons[-1]!r}: expected a year like 2024") \
            from None
    crops = sorted(set(labels["crop"]) - {NO_CROP})
    names = resolve_checkpoints(spec, regions, season, crops)
    summary = checkpoint_summary(names, regions, season)
    phenology, alerts, farm = (None, None, None) if history is None else fitted_on_history(
        history, series, labels, seasons, regions, season, weather=weather)
    if history is None:
        blank_note.append("no --history: give the farm records (field_id, season, declared_crop, sowing_date, "
                          "harvest_date, reported_yield_t_ha) to calibrate the phenology and tune the alert thresholds")
    # labels without a region column: the governance scope names the region of the calendar (--region, the series')
    res = train_crop_type(series, labels, checkpoints=names, regions=() if "region" in labels.columns else regions,
                          synthetic=synthetic, register=register, promote=promote, params=params,
                          phenology=phenology or None, alert_params=alerts or None, operator=operator,
                          farm_records=farm)
    return replace(res, notes=[*summary, *blank_note, *res.notes])


def history_fits(history: str | Path, series: pd.DataFrame, labels: pd.DataFrame, seasons: Sequence[str],
                 regions: Sequence[str], current: str, *, weather: str | Path | None = None
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The phenology calibration and alert thresholds of :func:`fitted_on_history`, without the tables."""
    phenology, alerts, _ = fitted_on_history(history, series, labels, seasons, regions, current, weather=weather)
    return phenology, alerts


def fitted_on_history(history: str | Path, series: pd.DataFrame, labels: pd.DataFrame, seasons: Sequence[str],
                      regions: Sequence[str], current: str, *, weather: str | Path | None = None
                      ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, pd.DataFrame | None]]:
    """The phenology calibration (region → :class:`features._phenology_calib.Calibration`) and the alert thresholds
    (region → tuned names) of a bank's tables, fitted as ``--county`` fits them: the calibration on the latest
    :data:`pipelines._phenology_fit.CALIBRATION_SEASONS` labelled ``seasons`` (their NDVI in ``series`` smoothed as
    production smooths it, no scene reference; the farm records of those seasons; ``weather`` when given), the
    thresholds on the diaries of the latest :data:`N_TUNE_SEASONS` (:func:`pipelines._alert_fit.tuned_alert_params`;
    ``current`` the season the model is for). ``labels``: :func:`crop_labels` (``fallow`` = nothing declared). With
    several regions each is fitted on the records of its own labelled fields. Third: the tables read — ``history``
    (typed) and ``weather`` (None without it) — whose hashes the version records (:func:`fitted_on`)."""
    from pipelines._alert_fit import tuned_alert_params
    from pipelines._phenology_fit import calibration_seasons, fit_phenology
    from pipelines.county import history_strings, read_history
    from pipelines.featurize import smooth_ndvi

    regs = sorted({str(r) for r in regions})
    if not regs:
        raise UserInputError("crop-type training: --history: the labels have no region column, so no season calendar "
                             "to calibrate the phenology on: give --region (e.g. in-smallholder)")
    p = _table_path(history, "history")
    hist = read_history(p)  # the checks of a county's records/history.csv (one-line errors)
    records = history_strings(p).fillna("")  # as written: what the alert tuning replays
    wx = None
    if weather is not None:
        if len(regs) > 1:
            raise UserInputError(f"crop-type training: --weather is one region's daily weather; the labels name "
                                 f"{', '.join(regs)}")
        from features.weather import read_weather

        wx = read_weather(weather, region=regs[0])
    chosen = calibration_seasons(seasons)
    phenology: dict[str, Any] = {}
    alerts: dict[str, dict[str, Any]] = {}
    for r in regs:
        lab = labels[labels["region"].astype(str) == r] if "region" in labels.columns else labels
        fields = pd.DataFrame({"field_id": lab["field_id"].astype(str), "season": lab["season"].astype(str),
                               "declared_crop": lab["crop"].where(lab["crop"] != NO_CROP), "region": r})
        h, rec = hist, records
        if len(regs) > 1:  # each region's calibration on its own fields' records
            h, rec = hist[hist["field_id"].isin(set(fields["field_id"]))], \
                records[records["field_id"].isin(set(fields["field_id"]))]

        def smoothed(s: str, fields: pd.DataFrame = fields) -> pd.DataFrame:
            return smooth_ndvi(series[series["season"].astype(str) == s], fields[fields["season"] == s], None,
                               reference=None)

        cal = fit_phenology(r, chosen, smoothed, h, wx) if h["season"].isin(chosen).any() else None
        if cal is not None:
            phenology[r] = cal
        tuned = tuned_alert_params(r, list(seasons), current, series, fields, h, rec)
        if tuned is not None:
            alerts[r] = tuned
    return phenology, alerts, {"history": hist, "weather": wx}


def _label_regions(labels: pd.DataFrame, series: pd.DataFrame, region: str | None,
                   labels_path: str | Path) -> list[str]:
    """The regions whose season calendar names the checkpoints: ``region`` (``--region``), else the labels' region
    column, else the series'; none when neither has one (labels with season_start only)."""
    own: list[str] = []
    for t in (labels, series):
        if not own and "region" in t.columns:
            own = sorted({str(r) for r in t["region"].dropna()})
    if region is None:
        return own
    if own and own != [region]:
        raise UserInputError(f"--region {region}: the labels {Path(labels_path).name} name their own regions "
                             f"({', '.join(own)}); --region is for labels without a region column")
    return [region]
