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

import calendar
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders
from features.identity import quoted
from pipelines._alert_fit import N_TUNE_SEASONS

if TYPE_CHECKING:
    from features.crop_type import CropTypeClassifier
    from models.governance import Governance, Requirement
    from pipelines.county import County

__all__ = ["MODEL_NAME", "NO_CROP", "COUNTY_PARAMS", "CHECKPOINTS_SYNTAX", "TrainResult", "crop_labels",
           "county_checkpoints", "calendar_checkpoints", "parse_checkpoints", "resolve_checkpoints",
           "checkpoint_summary", "county_crop_labels", "crop_governance", "crop_minimum_metrics", "MINIMUM_METRICS",
           "IN_SEASON_MINIMUM_METRICS", "fitted_summary", "history_fits", "train_crop_type", "train_crop_type_county",
           "train_crop_type_tables"]

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
#: minimum held-out metrics (against noisy declared crops) for promotion to champion
MINIMUM_METRICS = (("accuracy_end", ">=", 0.75), ("macro_f1_end", ">=", 0.6), ("ece_end", "<=", 0.15))
#: minimum held-out metrics at every in-season checkpoint (emergence, mid, pre_harvest, a user's named checkpoint)
#: the version recorded metrics for, ``<metric>_<checkpoint>`` (:func:`crop_minimum_metrics`): the credit policy reads
#: the in-season probabilities as it reads the end-of-season ones, so a version is promoted on those too.
#: Thresholds: issue #8's in-season targets are lower than its end-of-season ones (in-smallholder accuracy 0.75 mid
#: against 0.92 end; us-nebraska macro-F1 0.82 mid against 0.88 end), so the end gates are scaled by the same ratios
#: (0.75 x 0.75/0.92 = 0.61 -> accuracy >= 0.60; 0.6 x 0.82/0.88 = 0.56 -> macro-F1 >= 0.55); the earliest checkpoint
#: (emergence) is held to them too. Calibration: the same limit as at end of season, ECE <= 0.15 — these ECEs are
#: scored against the farmers' declared crops, mistakes included, while the probabilities are corrected for those
#: mistakes (``label_noise="transition"``), so they sit above the true-crop ECE by design (the demo's 0.055-0.063
#: at every checkpoint); #8's ECE <= 0.05 is measured against the true crops by ``agcredit evaluate crop-type``.
IN_SEASON_MINIMUM_METRICS = (("accuracy", ">=", 0.60), ("macro_f1", ">=", 0.55), ("ece", "<=", 0.15))


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


def county_checkpoints(county: County, season: str | None = None) -> dict[str, int | str]:
    """``{"emergence": days, "mid": days, "pre_harvest": days, "end": "end"}``: the county's calendar checkpoints as
    day offsets (monitoring and re-underwriting after pre-harvest score crop type on imagery up to it)."""
    from features.series import season_window

    season = season or county.current_season
    start, _ = season_window(season, county.region)
    return _day_offsets(county.checkpoints(season), start)


def _day_offsets(cps: Mapping[str, dt.date], start: dt.date) -> dict[str, int | str]:
    """The emergence, mid and pre_harvest dates of ``cps`` as days after ``start`` (those after it), plus ``end``."""
    out: dict[str, int | str] = {}
    for name in ("emergence", "mid", "pre_harvest"):
        if name in cps:
            days = (cps[name] - start).days
            if days > 0:
                out[name] = int(days)
    out["end"] = "end"
    return out


def calendar_checkpoints(season: str, region: str, crops: Sequence[str] = ()) -> dict[str, int | str]:
    """:func:`county_checkpoints` for a region and crops without a county folder: the region's season calendar
    checkpoints of ``season`` (:func:`pipelines.county.season_checkpoints` of ``crops``, all the region's when none
    is in its calendar) as days after the season window's start, plus ``end``."""
    from features.series import season_window
    from pipelines.county import season_checkpoints

    start, _ = season_window(season, region)
    return _day_offsets(season_checkpoints(season, region, list(crops) or None), start)


#: the syntax of ``--checkpoints`` (the way ``models show`` names a version's checkpoints)
CHECKPOINTS_SYNTAX = ("comma-separated NAME=WHEN, WHEN a calendar day MM-DD, a number of days after the season "
                      "start, or end; with end=end (e.g. mid=09-15,end=end)")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def parse_checkpoints(text: str, *, option: str = "--checkpoints") -> dict[str, int | str]:
    """``mid=09-15,end=end`` → ``{"mid": "09-15", "end": "end"}``: each name's day (MM-DD, still to be placed in a
    region's season window by :func:`resolve_checkpoints`), day offset (int) or ``"end"``; a one-line user error
    naming the option for anything else (:data:`CHECKPOINTS_SYNTAX`)."""
    from underwriting.policy import is_calendar_day

    parts = [p.strip() for p in str(text).split(",")]
    if not str(text).strip() or any(not p for p in parts):
        raise UserInputError(f"{option}: expected {CHECKPOINTS_SYNTAX}, found {text!r}")
    out: dict[str, int | str] = {}
    for part in parts:
        name, eq, when = (x.strip() for x in part.partition("="))
        if not eq or not when:
            raise UserInputError(f"{option}: {part!r} is not NAME=WHEN (expected {CHECKPOINTS_SYNTAX})")
        if not _NAME.fullmatch(name):
            raise UserInputError(f"{option}: checkpoint name {name!r}: expected a letter, then letters, digits, _ or -")
        if name in out:
            raise UserInputError(f"{option}: checkpoint {name!r} named twice")
        value: int | str
        if when.lower() == "end":
            value = "end"
        elif when.isdigit():
            value = int(when)
            if value <= 0:
                raise UserInputError(f"{option}: {name}={when}: expected a number of days after the season start "
                                     "above 0")
        elif _MONTH_DAY.fullmatch(when) and (is_calendar_day(when) or when == "02-29"):  # 02-29: 02-28 in common years
            value = when
        else:
            raise UserInputError(f"{option}: {name}={when}: expected MM-DD (a calendar day), a number of days after "
                                 "the season start, or end")
        if (value == "end") != (name == "end"):
            raise UserInputError(f"{option}: {name}={when}: the end-of-season checkpoint is end=end, and only it")
        out[name] = value
    if "end" not in out:
        raise UserInputError(f"{option}: {text!r} has no end=end (the end-of-season model: promotion is judged on "
                             "its held-out figures)")
    return out


def _first_after(start: dt.date, month_day: str) -> dt.date:
    """The first ``month_day`` (MM-DD; 02-29 is 02-28 in a common year) after ``start`` (day 0 is no checkpoint)."""
    for year in (start.year, start.year + 1):
        md = "02-28" if month_day == "02-29" and not calendar.isleap(year) else month_day
        day = dt.date(year, int(md[:2]), int(md[3:]))
        if day > start:
            return day
    raise AssertionError("unreachable: a month-day recurs within a year")


def _place(spec: Mapping[str, int | str], season: str, region: str, option: str) -> dict[str, int | str]:
    """``spec`` (:func:`parse_checkpoints`) with its MM-DD days as days after ``region``'s season window start."""
    from features.series import season_window

    if not any(isinstance(v, str) and v != "end" for v in spec.values()):
        return dict(spec)  # days and end: no window needed
    start, end = season_window(season, region)
    out: dict[str, int | str] = {}
    for name, when in spec.items():
        if isinstance(when, str) and when != "end":
            day = _first_after(start, when)
            if day > end:
                raise UserInputError(f"{option}: {name}={when} is outside {region}'s season {season} window "
                                     f"({start} to {end})")
            out[name] = (day - start).days
        else:
            out[name] = when
    return out


def resolve_checkpoints(spec: Mapping[str, int | str] | None, regions: Sequence[str], season: str,
                        crops: Sequence[str] = (), *, option: str = "--checkpoints") -> dict[str, int | str]:
    """The checkpoints (name → days after the season start, or ``end``) to train for fields of ``regions`` used in
    ``season``: ``spec`` placed in each region's season window, or without one each region's calendar checkpoints
    (:func:`calendar_checkpoints` of ``crops``: what ``--county`` trains). Regions whose days differ get one
    checkpoint each, named ``<name>_<region>``, so every region's fields are scored from its own days. Without a
    region (labels with season_start only) ``spec`` must give days: a user error otherwise."""
    from features.errors import ImageryError

    regs = sorted({str(r) for r in regions})
    if not regs:
        if spec is None:
            raise UserInputError(f"crop-type training: the labels have no region column, so no season calendar names "
                                 f"the in-season checkpoints: give --region (e.g. in-smallholder) or {option} (e.g. "
                                 "mid=120,end=end: days after each field's season start)")
        dated = [k for k, v in spec.items() if isinstance(v, str) and v != "end"]
        if dated:
            raise UserInputError(f"{option}: {', '.join(dated)} given as MM-DD, which needs a region's season window "
                                 "(the labels have no region column): give --region, or days after the season start")
        return _distinct_days(dict(spec), option)
    per: dict[str, dict[str, int | str]] = {}
    for r in regs:
        try:
            per[r] = calendar_checkpoints(season, r, crops) if spec is None else _place(spec, season, r, option)
        except ImageryError:  # no season window: the region is unknown
            from pipelines.schedule import load_calendar

            known = ", ".join(sorted(load_calendar()["region"].astype(str).unique()))
            raise UserInputError(f"crop-type training: region {quoted(r)} has no season window or calendar (known: {known}) "
                                 f"to place the checkpoints in: give {option} as days after the season start (e.g. "
                                 "mid=120,end=end)") from None
        except UserInputError as e:
            if spec is not None:
                raise
            raise UserInputError(f"crop-type training: region {quoted(r)} has no season calendar to name its in-season "
                                 f"checkpoints ({str(e).splitlines()[0]}): give {option} (e.g. "
                                 "mid=09-15,end=end)") from None
    names = list(dict.fromkeys(n for d in per.values() for n in d))
    out: dict[str, int | str] = {}
    for n in names:
        vals = {r: d[n] for r, d in per.items() if n in d}
        if len(set(vals.values())) == 1 and len(vals) == len(per):
            out[n] = next(iter(vals.values()))
        else:
            out.update({f"{n}_{r}": v for r, v in vals.items()})
    return _distinct_days(out, option)


def _distinct_days(names: dict[str, int | str], option: str) -> dict[str, int | str]:
    """``names`` ordered by day (``end`` last); a user error when two fall on the same day."""
    days = sorted((int(v), k) for k, v in names.items() if v != "end")
    same = [f"{a} and {b}" for (x, a), (y, b) in zip(days, days[1:], strict=False) if x == y]
    if same:
        raise UserInputError(f"{option}: checkpoints {'; '.join(same)} fall on the same day of the season")
    return {**{k: v for v, k in days}, **({"end": "end"} if "end" in names else {})}


def checkpoint_summary(names: Mapping[str, int | str], regions: Sequence[str], season: str) -> list[str]:
    """What the trained checkpoints mean for the runs that use the model: the checkpoints, and the first day of
    ``season`` (each region's) from which it gives a crop type — runs before it get none (a warning when that is the
    end of the season)."""
    from features.errors import ImageryError
    from features.series import season_window

    regs = sorted({str(x) for x in regions})
    text = "checkpoints " + ", ".join(f"{k}={v}" for k, v in names.items())

    def first(region: str | None) -> int | None:  # a region's own first day (not another region's suffixed one)
        days = [int(v) for k, v in names.items() if v != "end"
                and not any(k.endswith(f"_{o}") for o in regs if o != region)]
        return min(days) if days else None

    dates: list[str] = []
    for r in regs:
        try:
            start, end = season_window(season, r)
        except ImageryError:  # a region without a window (fields with their own season_start): in days
            dates = []
            break
        d = first(r)
        dates.append(f"{r} {start + dt.timedelta(days=d) if d is not None else end}")
    d = first(None)
    when = (f"season {season}: {', '.join(dates)}" if dates else f"day {d} after each field's season start"
            if d is not None else "each field's season end")
    if not any(v != "end" for v in names.values()):
        return [f"{text} (end of season only)",
                f"warning: scores only from the end of the season ({when}); earlier runs (features build, "
                "underwrite, monitor, reunderwrite in season) get no crop type; name in-season checkpoints with "
                "--checkpoints"]
    return [f"{text} (days after the season start)",
            f"scores from its first checkpoint ({when}); earlier runs get no crop type"]


def _heldout_metrics(clf: CropTypeClassifier, season: str, names: dict[str, int | str]) -> dict[str, float]:
    from features._calibration import expected_calibration_error
    from features._crop_eval import classification_metrics
    from features._crop_train import heldout_proba
    from features.crop_type import checkpoint_key

    out: dict[str, float] = {}
    idx = clf.oof_index_
    rows = (idx["season"] == season).to_numpy()
    recalibrated = True
    for name, c in names.items():
        p = clf.oof_proba_.get(checkpoint_key(c))
        if p is None or not rows.any():
            continue
        y = idx["label"].to_numpy()[rows]
        # the held-out season's scores come from boosters that never saw it; its calibration must not either
        pr = heldout_proba(clf, checkpoint_key(c), rows)
        if pr is None:  # not refittable (no other rows): the model's own calibration, and the metrics say so
            pr, recalibrated = p[rows], False
        m = classification_metrics([clf.classes_[i] for i in y], [clf.classes_[i] for i in pr.argmax(axis=1)])
        out[f"accuracy_{name}"] = m["accuracy"]
        out[f"macro_f1_{name}"] = m["macro_f1"]
        out[f"ece_{name}"] = expected_calibration_error(pr, y)
    out["n_heldout"] = float(rows.sum())
    #: 1: the held-out season's calibration was refitted without it; 0: the calibration fitted on every season
    out["heldout_calibration_excluded"] = float(recalibrated)
    out.update(naive_crop_metrics(idx, season, clf.classes_))
    return out


def naive_crop_metrics(index: pd.DataFrame, season: str, classes: Sequence[str]) -> dict[str, float]:
    """Two naive answers for the held-out season's labels, beside the model's figures: the most common crop of the
    earlier seasons for every field (``naive_majority_*``), and each field's own label of the latest earlier season
    that has one (``naive_last_season_*``: crop rotation ignored — a lender's first guess; scored on the fields that
    have one, their share in ``naive_last_season_coverage``). ``index``: field_id, season, label (class codes)."""
    from features._crop_eval import classification_metrics

    seasons = index["season"].astype(str)
    test = index[seasons == season]
    past = index[seasons < season]
    out: dict[str, float] = {}
    if test.empty or past.empty:
        return out
    names = np.asarray(classes, dtype=object)
    truth = names[test["label"].to_numpy()]
    counts = past["label"].value_counts()
    top = int(counts.index[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))[0]])  # ties: the lower code
    m = classification_metrics(truth, [names[top]] * len(truth))
    out["naive_majority_accuracy"], out["naive_majority_macro_f1"] = m["accuracy"], m["macro_f1"]
    last = (past.sort_values("season", kind="stable").drop_duplicates("field_id", keep="last")
            .set_index("field_id")["label"])
    prev = test["field_id"].map(last)
    have = prev.notna().to_numpy()
    out["naive_last_season_coverage"] = float(have.mean())
    if have.any():
        m = classification_metrics(truth[have], names[prev[have].astype(np.int64).to_numpy()])
        out["naive_last_season_accuracy"], out["naive_last_season_macro_f1"] = m["accuracy"], m["macro_f1"]
    return out


def crop_minimum_metrics(checkpoint_names: Sequence[str], metrics: Mapping[str, float]) -> tuple[Requirement, ...]:
    """The minimum metrics of a crop-type version: :data:`MINIMUM_METRICS` at end of season, and
    :data:`IN_SEASON_MINIMUM_METRICS` at every in-season checkpoint of ``checkpoint_names`` (every one but ``end``):
    each is in the version's scope, so used in decisions, whether or not ``metrics`` holds a held-out figure for it —
    one without any fails as such (:meth:`models.governance.Governance.unmeasured_checkpoints`), a missing one of the
    three as missing. (Before, a checkpoint with no held-out figure was left without a gate.) ``metrics`` is kept in
    the signature for callers; the requirements no longer depend on it."""
    from models.governance import Requirement

    del metrics  # the gates are the scope's, not the figures'
    req = [Requirement(m, o, t) for m, o, t in MINIMUM_METRICS]
    for cp in dict.fromkeys(str(c) for c in checkpoint_names):
        if cp != "end":
            req += [Requirement(f"{m}_{cp}", o, t) for m, o, t in IN_SEASON_MINIMUM_METRICS]
    return tuple(req)


def crop_governance(clf: CropTypeClassifier, metrics: dict[str, float], regions: Sequence[str],
                    checkpoint_names: Sequence[str], *, synthetic: bool, notes: str = "",
                    data: str | None = None) -> Governance:
    """Governance record: scope = classes × regions × checkpoints, the minimum metrics at end of season and at each
    in-season checkpoint (:func:`crop_minimum_metrics`), data kind (``data`` when given: a county's
    :attr:`pipelines.county.County.data_kind`, ``"unlabelled"`` without its flag; else ``synthetic`` or real, as the
    user said of their tables)."""
    from models.governance import Governance

    return Governance(crops=tuple(clf.classes_), regions=tuple(sorted({str(r) for r in regions})),
                      checkpoints=tuple(checkpoint_names), metrics=dict(metrics),
                      minimum_metrics=crop_minimum_metrics(checkpoint_names, metrics),
                      data=data or ("synthetic" if synthetic else "real"), notes=notes)


def train_crop_type(series: pd.DataFrame, labels: pd.DataFrame, *, checkpoints: dict[str, int | str] | None = None,
                    regions: Sequence[str] = (), synthetic: bool = False, register: bool = True,
                    promote: bool = True, params: dict[str, Any] | None = None,
                    phenology: dict[str, Any] | None = None,
                    alert_params: dict[str, dict[str, Any]] | Callable[[], dict[str, dict[str, Any]] | None] | None
                    = None, data: str | None = None, operator: str | None = None,
                    effective: dt.date | None = None) -> TrainResult:
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
                                     training_data={"series": series, "labels": lab},
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
                               operator=operator, effective=effective or promotion_effective(county))


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
    n_blank = int(_blank(raw[label_column]).sum()) if label_column in raw.columns else 0
    blank_note: list[str] = []
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
    keys = labels[["field_id", "season"]].merge(series[["field_id", "season"]].drop_duplicates(), how="inner")
    if keys.empty:  # a model on no imagery at all would be trained and registered
        raise UserInputError(f"crop-type labels {labels_path}: none of its {len(labels)} field-seasons is in the "
                             f"series {series_path} (labels e.g. "
                             f"{format_offenders(list(labels['field_id'] + '/' + labels['season']))})")
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
    phenology, alerts = (None, None) if history is None else history_fits(
        history, series, labels, seasons, regions, season, weather=weather)
    if history is None:
        blank_note.append("no --history: give the farm records (field_id, season, declared_crop, sowing_date, "
                          "harvest_date, reported_yield_t_ha) to calibrate the phenology and tune the alert thresholds")
    # labels without a region column: the governance scope names the region of the calendar (--region, the series')
    res = train_crop_type(series, labels, checkpoints=names, regions=() if "region" in labels.columns else regions,
                          synthetic=synthetic, register=register, promote=promote, params=params,
                          phenology=phenology or None, alert_params=alerts or None, operator=operator)
    return replace(res, notes=[*summary, *blank_note, *res.notes])


def history_fits(history: str | Path, series: pd.DataFrame, labels: pd.DataFrame, seasons: Sequence[str],
                 regions: Sequence[str], current: str, *, weather: str | Path | None = None
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The phenology calibration (region → :class:`features._phenology_calib.Calibration`) and the alert thresholds
    (region → tuned names) of a bank's tables, fitted as ``--county`` fits them: the calibration on the latest
    :data:`pipelines._phenology_fit.CALIBRATION_SEASONS` labelled ``seasons`` (their NDVI in ``series`` smoothed as
    production smooths it, no scene reference; the farm records of those seasons; ``weather`` when given), the
    thresholds on the diaries of the latest :data:`N_TUNE_SEASONS` (:func:`pipelines._alert_fit.tuned_alert_params`;
    ``current`` the season the model is for). ``labels``: :func:`crop_labels` (``fallow`` = nothing declared). With
    several regions each is fitted on the records of its own labelled fields."""
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
    return phenology, alerts


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
