"""Train the yield-value model on a county's past seasons (or on a user's tables) and register it.

Rows are FieldFeatures of every past season as of each checkpoint (``end`` of season and
``mid``-season, :meth:`pipelines.county.County.checkpoints`), built by the production path
(:func:`pipelines.featurize.featurize`, the same call underwriting makes), joined with the farmers'
REPORTED yields from the county's farm records (``records/history.csv``; rows without one are
dropped). The county's ``truth/`` is never read here.

One model serves every checkpoint (the day of the season is a feature). Its governance record
comes from the latest past season held out (the model refitted without it, scored against that
season's reported yields, on features built without that season's records — crop type from a crop-type model of the
champion's settings refitted without it, phenology calibrated without it: :func:`_held_out_features`): within-crop R² and RMSE, shares below P10 / above P90, beside the crop-mean
baseline. The minimum metrics a version must meet to become ``champion``
(:func:`yield_minimum_metrics`): within every crop in scope it is no worse than the crop's mean
(R² at most 0.05 below it), and its intervals miss 10% ± 7 points on each side — honest gates for one held-out season of noisy
reports; the issue's accuracy targets are measured by ``agcredit evaluate yield`` against truth. They gate every
checkpoint of the version's scope — the end of season's unprefixed (``skill_r2_maize``), each in-season one's named
as its held-out metrics are (``mid_skill_r2_maize``) —, so a version poor at mid-season is not promoted.

Featurized tables are cached under ``<cache_dir>/yield_features`` keyed by the field set, the
as-of date, the crop model, the scene index and the source of the feature modules, so a second
run (the demo re-run, ``evaluate``) reads them back in a second.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError, format_offenders
from pipelines._yield_governance import (
    MODEL_NAME,
    SKILL_TOLERANCE,
    training_input_profile,
    yield_minimum_metrics,
)
from pipelines._yield_held_out import (
    _check_checkpoint_labels,
    _held_out_crop_beside,
    _held_out_model,
    _HeldOut,
)
from pipelines._yield_inputs import (
    _KEY,
    _cache_key,
    _code_hash,
    _join_reported,
    _order,
    _weather_digest,
    checkpoint_dates_of,
    read_reported,
)
from pipelines.errors import read_checked

# isort: split
# re-exported, unused here: importable from pipelines.train_yield as before its helpers moved out
from pipelines._yield_held_out import (
    BESIDE_MIN_ROWS,  # noqa: F401
    _crop_fit,  # noqa: F401
    _CropFit,  # noqa: F401
    _held_out_crop,  # noqa: F401
    held_out_crop_at,  # noqa: F401
)

if TYPE_CHECKING:
    from models.evaluation import YieldRelease
    from models.governance import Governance
    from models.yield_value import YieldModel, YieldModelConfig
    from pipelines.county import County

__all__ = ["MODEL_NAME", "CHECKPOINTS", "SKILL_TOLERANCE", "TrainResult", "county_features", "yield_training_table",
           "yield_minimum_metrics", "train_yield", "train_yield_county", "train_yield_files", "read_reported",
           "checkpoint_dates_of", "training_input_profile"]

#: checkpoints the model is trained and validated for; ``end`` first (its metrics are unprefixed)
CHECKPOINTS = ("end", "mid")
#: what defines the features (pipelines._code_digest.FEATURE_SOURCES): a change to any of its files invalidates the
#: feature cache. Named one by one before, the list missed the area rules (features/area.py), the scene reader
#: (features/sources/), the zonal core and the crop calendars, so an upgrade that changed them trained the next model
#: on the previous release's features.
Progress = Callable[[int, int, str], None]


def county_features(county: County, seasons: Sequence[str] | None = None,
                    checkpoints: Sequence[str] = CHECKPOINTS, *, crop_model: Any = None, crop_desc: str = "none",
                    progress: Progress | None = None, cache: bool = True,
                    weather: pd.DataFrame | str | Path | None = None,
                    county_weather: bool = True, phenology_calib: Mapping[str, Any] | None = None,
                    series_memo: dict[str, pd.DataFrame] | None = None,
                    shared: dict[tuple[Any, ...], Any] | None = None) -> dict[str, pd.DataFrame]:
    """FieldFeatures of every field of ``seasons`` (default: the past seasons) as of each checkpoint.

    Built with :func:`pipelines.featurize.featurize` on the county's scenes (the season's series is
    built once up to its latest checkpoint and cut at each), cached under ``cache_dir/yield_features``.
    ``crop_model`` (a fitted crop-type classifier or None) and ``crop_desc`` (what it is, for the cache key).
    ``weather``: a daily weather file or table whose ``wx_*`` features are added; without it the county's own
    ``weather/daily.csv`` when it has one (unless ``county_weather`` is false). ``phenology_calib``: region →
    phenology calibration to use instead of the crop model's (e.g. one fitted without a held-out season).
    ``series_memo``: ``<season>@<date>`` → the season's series read up to that date, filled as seasons are read, for
    several calls over the same seasons and checkpoints. ``shared``: :func:`pipelines.featurize.featurize`'s, kept
    across such calls (with ``series_memo``, so that every call hands featurize the same series tables): the planted
    area, the seasonal features and a crop-type model's input features, which no calibration or model of the same
    feature settings changes, are then built once per season and date.
    """
    from features.threads import thread_map
    from pipelines.featurize import featurize, load_weather, write_parquet_atomic

    seasons = [str(s) for s in (county.past_seasons if seasons is None else seasons)]
    unknown = [s for s in seasons if s not in county.seasons]
    if unknown:
        raise UserInputError(f"{county.path}: season(s) {format_offenders(unknown)} not in the county "
                             f"(known: {', '.join(county.seasons)})")
    cps = _order(checkpoints)
    wx = load_weather(weather)[0] if weather is not None else (county.weather() if county_weather else None)
    # the phenology calibration the crop model carries shapes the features too (a version number alone may repeat)
    calib = (phenology_calib if phenology_calib is not None
             else getattr(crop_model, "phenology_calibration_", None)) or {}
    code = _code_hash() + _weather_digest(wx) + hashlib.sha256(
        "".join(f"{r}:{c.to_json()}" for r, c in sorted(calib.items())).encode()).hexdigest()[:12]
    total = len(seasons) * len(cps)
    done = 0
    lock = threading.Lock()
    for s in seasons:  # every season's checkpoints checked before any work starts
        known = county.checkpoints(s)
        missing = [cp for cp in cps if cp not in known]
        if missing:
            raise UserInputError(f"{county.path}: unknown checkpoint(s) {format_offenders(missing)} "
                                 f"(known: {', '.join(known)})")

    def season_features(s: str) -> dict[str, pd.DataFrame]:
        """One season's features as of each checkpoint (read from the cache, or built and cached)."""
        nonlocal done
        dates = county.checkpoints(s)
        paths = {cp: county.cache_dir / "yield_features" / f"{s}-{cp}-{_cache_key(county, s, dates[cp], crop_desc, code)}"
                 f".parquet" for cp in cps}
        todo = [cp for cp in cps if not (cache and paths[cp].is_file())]
        series = None
        if todo:
            upto = max(dates[cp] for cp in cps)
            key = f"{s}@{upto.isoformat()}"  # a series read up to an earlier date would miss later scenes
            if series_memo is not None and key in series_memo:
                series = series_memo[key]
            else:
                series = county.series(s, upto)
                if series_memo is not None:
                    series_memo[key] = series
        got: dict[str, pd.DataFrame] = {}
        for cp in cps:
            if cp in todo:
                res = featurize(county.fields(s), county.imagery, s, dates[cp], crop_model=crop_model,
                                phenology_calib=dict(phenology_calib) if phenology_calib is not None else None,
                                cache_dir=county.cache_dir, series=series, weather=wx, shared=shared)
                feats = res.features
                obj = [c for c in feats.columns if feats[c].dtype == object]
                feats = feats.astype(dict.fromkeys(obj, "str"))  # as a Parquet round trip gives them back
                if cache:
                    write_parquet_atomic(feats, paths[cp])
            else:
                feats = pd.read_parquet(paths[cp])
            got[cp] = feats
            if progress is not None:
                with lock:
                    done += 1
                    progress(done, total, f"features {s} as of {cp} ({dates[cp]})")
        return got

    # the seasons side by side on threads (scene reads, zonal statistics and LightGBM release the GIL; each cache
    # file is written atomically); every season's rows are its own, concatenated in season order
    per_season = thread_map(season_features, seasons)
    out = {cp: [got[cp] for got in per_season] for cp in cps}
    return {cp: pd.concat(frames, ignore_index=True) for cp, frames in out.items()}


def yield_training_table(county: County, seasons: Sequence[str] | None = None,
                         checkpoints: Sequence[str] = ("mid", "end"), *, crop_model: Any = None,
                         crop_desc: str = "none", progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """checkpoint → FieldFeatures of every past season as of it, with the farmers' ``reported_yield_t_ha``.

    Rows without a reported yield are dropped; truth is never read.
    """
    feats = county_features(county, seasons, checkpoints, crop_model=crop_model, crop_desc=crop_desc,
                            progress=progress)
    reported = county.history()
    return {cp: _join_reported(f, reported) for cp, f in feats.items()}


@dataclass(frozen=True)
class TrainResult:
    """A fitted yield model, its held-out evaluation and governance, and its registered version (None: not)."""

    model: YieldModel
    release: YieldRelease
    version: str | None = None
    promoted: bool = False
    failures: list[str] = field(default_factory=list)
    n_rows: dict[str, int] = field(default_factory=dict)
    seasons: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def governance(self) -> Governance:
        return self.release.governance

    @property
    def metrics(self) -> dict[str, float]:
        return self.release.metrics

    def summary(self) -> str:
        """A few lines: rows, held-out figures per crop (labelled with the data kind), version, promotion."""
        g = self.governance
        ev = self.release.evaluation.summary
        held = sorted(self.release.evaluation.per_season["season"].unique())
        lines = [f"yield-value: {sum(self.n_rows.values())} rows ({', '.join(f'{k} {v}' for k, v in self.n_rows.items())}) "
                 f"from seasons {', '.join(self.seasons)}; held out {', '.join(held)} "
                 f"({g.data} data, scored against reported yields)"]
        for cp in g.checkpoints:
            s = ev[(ev["checkpoint"] == cp) & (ev["method"].isin(["model", "crop_mean"]))]
            for crop in [c for c in s["crop"].unique()]:
                m = s[(s["crop"] == crop) & (s["method"] == "model")]
                b = s[(s["crop"] == crop) & (s["method"] == "crop_mean")]
                if m.empty:
                    continue
                r = m.iloc[0]
                base = f"; crop mean R² {b.iloc[0]['r2']:.2f}" if not b.empty else ""
                lines.append(f"  {cp:>4} {crop:<13} R² {r['r2']:.2f}, RMSE {r['rmse_pct']:.0f}% of mean, "
                             f"below P10 {100 * r['below_p10']:.0f}%, above P90 {100 * r['above_p90']:.0f}%{base}")
        lines.append(f"  governance: {g.summary()}")
        lines.extend(f"  below minimum: {f}" for f in self.failures[:5])
        if self.version is not None:
            lines.append(f"  registered {MODEL_NAME} version {self.version}"
                         + (" and promoted to champion" if self.promoted else " as challenger (not promoted)"))
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def train_yield(features_by_checkpoint: Mapping[str, pd.DataFrame], reported: pd.DataFrame, *,
                data: str = "real", register: bool = True, promote: bool = True, force_reason: str | None = None,
                config: YieldModelConfig | None = None, operator: str | None = None,
                approved_by: str | None = None,
                params: Mapping[str, Any] | None = None, notes: Sequence[str] = (),
                checkpoint_dates: Mapping[str, Any] | None = None,
                eval_features_by_checkpoint: Mapping[str, pd.DataFrame] | None = None,
                effective: date | None = None) -> TrainResult:
    """Fit on every season and checkpoint, evaluate with the latest season held out, register, promote (in force
    from ``effective``, default today: :func:`models.registry.promote`).

    ``features_by_checkpoint``: checkpoint → FieldFeatures rows (several seasons); ``reported``:
    ``field_id, season, reported_yield_t_ha``. Promotion happens only when the version meets its
    minimum metrics, or when ``force_reason`` is given with ``approved_by``, a second operator (both recorded in the
    alias history; ``force_reason`` without a second operator is refused before anything is fitted or registered).
    ``eval_features_by_checkpoint``: the same seasons' features the held-out evaluation reads instead (built without
    the held-out season's records: :func:`train_yield_county`); the version is fitted on ``features_by_checkpoint``.
    """
    from models.evaluation import build_yield_release

    if register and promote and force_reason and force_reason.strip():
        from models.registry import check_approver

        check_approver(approved_by, operator)  # before the fit: a refused approver registers nothing
    t0 = time.perf_counter()
    cps = _order(list(features_by_checkpoint))
    frames = {cp: features_by_checkpoint[cp] for cp in cps}
    rep = reported[[*_KEY, "reported_yield_t_ha"]].astype({"field_id": "str", "season": "str"})
    joined = {cp: _join_reported(f, rep) for cp, f in frames.items()}
    n_rows = {cp: len(f) for cp, f in joined.items()}
    seasons = sorted(set().union(*(set(f["season"]) for f in joined.values())))
    n_first = n_rows[cps[0]]
    if n_first < 10:
        raise UserInputError(f"yield training: need at least 10 field-seasons with a reported yield, found {n_first} "
                             f"(seasons {', '.join(seasons) or 'none'})")
    out_notes = list(notes)
    if len(seasons) < 3:
        out_notes.append(f"reported yields of only {len(seasons)} season(s): no season can be held out, so the "
                         "version has no held-out metrics and cannot meet its minimum metrics")
    from features.atomic import private_tempdir

    with private_tempdir("yield-plots") as tmp:
        rows = {cp: j.drop(columns="reported_yield_t_ha") for cp, j in joined.items()}
        ev_rows = None
        if eval_features_by_checkpoint is not None:
            if sorted(eval_features_by_checkpoint) != sorted(cps):
                raise UserInputError(f"yield training: the evaluation checkpoints {sorted(eval_features_by_checkpoint)} "
                                     f"differ from the training checkpoints {sorted(cps)}")
            ev_rows = {cp: _join_reported(eval_features_by_checkpoint[cp], rep).drop(columns="reported_yield_t_ha")
                       for cp in cps}
        release = build_yield_release(rows, rep, plots_dir=tmp, config=config, data=data, seasons=[seasons[-1]],
                                      minimum_metrics=lambda crops: yield_minimum_metrics(crops, checkpoints=cps),
                                      eval_features_by_checkpoint=ev_rows)
        if checkpoint_dates:  # the days each checkpoint was validated from: scope by a field's own crop and date
            from dataclasses import replace

            release = replace(release, governance=replace(release.governance,
                                                          checkpoint_dates=dict(checkpoint_dates)))
        t_fit = time.perf_counter() - t0
        failures = release.governance.failures()
        version, promoted = None, False
        timings = {"fit_and_evaluate_s": t_fit}
        if register:
            from models import registry
            from pipelines._code_digest import registry_provenance

            t1 = time.perf_counter()
            wx_cols = ",".join(release.model.weather_columns) or "none"
            version = registry.register(release.model, MODEL_NAME, metrics=release.metrics,
                                        governance=release.governance,
                                        params={**release.params, "weather_columns": wx_cols, **(params or {})},
                                        artifacts=release.plots, input_example=release.input_example,
                                        output_example=release.output_example, operator=operator,
                                        training_data={f"features_{cp}": j for cp, j in joined.items()},
                                        provenance=registry_provenance(),
                                        input_profile=training_input_profile(release.model, joined))
            timings["register_s"] = time.perf_counter() - t1
            if promote and (not failures or (force_reason and force_reason.strip())):
                registry.promote(MODEL_NAME, version, operator=operator, force=bool(failures),
                                 reason=(force_reason or "").strip() or f"trained on seasons {', '.join(seasons)}",
                                 approved_by=approved_by if failures else None, effective=effective)
                promoted = True
            elif promote:
                out_notes.append(f"version {version} stays challenger: below {len(failures)} minimum metric(s); "
                                 f"promote it with: agcredit models promote {MODEL_NAME} {version} --force --reason TEXT "
                                 "--approved-by ID")
    return TrainResult(model=release.model, release=release, version=version, promoted=promoted, failures=failures,
                       n_rows=n_rows, seasons=seasons, timings=timings, notes=out_notes)


def _crop_model_for(spec: Any) -> tuple[Any, str, str | None]:
    """(model, description, note) for ``"champion"`` (if registered), ``"none"``/None, a path, or a model.

    Only the default ``champion`` falls back to no crop model when the registry has none (no registry yet, no
    crop-type model, no champion alias); any other alias or version the registry lacks, or a path that is not a
    model, is a one-line error (a mistyped ``--crop-model champoin`` trained without one, said only in a note)."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return None, "none", None
    if not isinstance(spec, str | Path):
        return spec, f"given {type(spec).__name__}", None
    from models.errors import RegistryError
    from pipelines.featurize import load_crop_model

    try:
        model, desc = load_crop_model(spec)
    except RegistryError as e:
        if not (isinstance(spec, str) and spec.strip() == "champion"):  # aliases are case-sensitive: Champion
            raise
        return None, "none", f"no crop-type model used ({e.problem}); crop = the declared crop"
    return model, desc, None


def train_yield_county(county: County | str | Path, *, register: bool = True, promote: bool = True,
                       checkpoints: Sequence[str] = CHECKPOINTS, crop_model: Any = "champion",
                       force_reason: str | None = None, config: YieldModelConfig | None = None,
                       operator: str | None = None, approved_by: str | None = None, progress: Progress | None = None,
                       weather: str | Path | pd.DataFrame | None = None,
                       effective: date | None = None) -> TrainResult:
    """Train ``yield-value`` on a county's past seasons (features via featurize, REPORTED yields), register it; a
    promotion is in force from ``effective``, by default the county's (:func:`pipelines.county.promotion_effective`:
    a simulated season's start; today on real data).

    ``crop_model``: ``"champion"`` (the registry's crop-type champion when there is one, else none —
    the same model underwriting will use), ``"none"``, a saved folder or a fitted classifier.
    ``weather``: a daily weather file (default: the county's ``weather/daily.csv`` when it has one); the model
    then reads the ``wx_*`` columns (listed in its saved ``meta.json`` and registry parameters).
    """
    from pipelines.county import County, promotion_effective

    c = county if isinstance(county, County) else County(county)
    if register and promote and force_reason and force_reason.strip():
        from models.registry import check_approver

        check_approver(approved_by, operator)  # before the features are built
    if register:
        from models.registry import check_registry

        check_registry()  # an unusable registry said in seconds, before the features are built and the model fitted
    t0 = time.perf_counter()
    model, desc, note = _crop_model_for(crop_model)  # a crop model that cannot be had refused before any work
    reported = c.history()  # checked (crops, yields) before any feature is built
    memo: dict[str, pd.DataFrame] = {}
    shared: dict[tuple[Any, ...], Any] = {}  # area, seasonal and crop-type input features: the same for both builds
    notes = [note] if note else []
    # the production features build on a thread while what the held-out season's features are built with is fitted:
    # a crop-type model without that season (in a process beside, on a large county: _held_out_crop_beside) and a
    # phenology calibration without it (here). The held-out build then finds the seasons' series (``memo``: the same
    # tables, ``shared``'s key) and the area, seasonal and crop-type input features the production build left;
    # ``shared`` keeps the first result of each, and the builds compute the same for a key, so the order changes no
    # feature
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="agcredit-features") as pool, \
            _held_out_crop_beside(c, model) as crop:
        production = pool.submit(county_features, c, c.past_seasons, checkpoints, crop_model=model, crop_desc=desc,
                                 progress=progress, weather=weather, series_memo=memo, shared=shared)
        t_ev = time.perf_counter()
        held = _held_out_model(c, model, desc, weather, crop=crop)  # an error raised once the build has ended
        t_ev = time.perf_counter() - t_ev
    feats = production.result()
    t1 = time.perf_counter()
    ev_feats, ev_note = (None, None) if held is None else _held_out_build(c, held, checkpoints, weather, memo,
                                                                           progress, shared)
    t_ev += time.perf_counter() - t1
    if ev_note:
        notes.append(ev_note)
    shared.clear()
    t_feat = time.perf_counter() - t0
    res = train_yield(feats, reported, data=c.data_kind, register=register,
                      promote=promote, force_reason=force_reason, config=config, operator=operator,
                      approved_by=approved_by, params={"county": c.path.name, "region": c.region, "crop_model": desc},
                      notes=notes, checkpoint_dates=checkpoint_dates_of(c, checkpoints),
                      eval_features_by_checkpoint=ev_feats, effective=effective or promotion_effective(c))
    res.timings["features_s"] = t_feat
    if ev_feats is not None:  # the held-out season's own model fits and features (the first beside the production build)
        res.timings["held_out_features_s"] = t_ev
    return res


def _held_out_features(c: County, model: Any, desc: str, checkpoints: Sequence[str],
                       weather: str | Path | pd.DataFrame | None, memo: dict[str, pd.DataFrame],
                       progress: Progress | None, shared: dict[tuple[Any, ...], Any] | None = None
                       ) -> tuple[dict[str, pd.DataFrame] | None, str | None]:
    """The features the held-out evaluation of :func:`train_yield_county` reads, and a note saying so.

    Production builds features with the crop-type model, trained on every past season's declared crops — the
    held-out (latest) season's among them — and carrying the phenology calibration fitted on the latest past seasons'
    declared sowing and harvest dates — the held-out season's among them too. Either way the season's own records
    would shape the features it is scored on (and the version's governance metrics would be optimistic). So every
    past season's features are built again for the evaluation with a crop-type model of the same settings fitted on
    the OTHER past seasons (:func:`pipelines._heldout_crop.crop_model_without`: the one production would have had
    then; its probabilities and the crop it names are out of sample on the held-out season) and, when the
    calibration includes the held-out season, the calibration fitted as the crop-type training fits it but on the
    seasons before it (as ``agcredit evaluate yield`` builds each fold, :func:`pipelines.evaluation.yield_.fold_features`).
    A crop model known not to have seen the held-out season is kept; one whose seasons cannot train a model without it
    is left out of the evaluation's features (the declared crops stand, as without a crop model). None when neither
    the crop model nor the calibration saw the held-out season (or there is no crop model, or fewer than three past
    seasons)."""
    held = _held_out_model(c, model, desc, weather)
    if held is None:
        return None, None
    return _held_out_build(c, held, checkpoints, weather, memo, progress, shared)


def _held_out_build(c: County, held: _HeldOut, checkpoints: Sequence[str],
                    weather: str | Path | pd.DataFrame | None, memo: dict[str, pd.DataFrame],
                    progress: Progress | None, shared: dict[tuple[Any, ...], Any] | None
                    ) -> tuple[dict[str, pd.DataFrame], str]:
    """:func:`_held_out_features`' features, built with ``held``, and its note."""
    feats = county_features(c, held.seasons, checkpoints, crop_model=held.model, crop_desc=held.desc,
                            progress=progress, weather=weather, phenology_calib=held.phenology, series_memo=memo,
                            shared=shared)
    return feats, (f"held-out season {max(held.seasons)} scored on features built without its records: "
                   + "; ".join(held.notes))


def train_yield_files(features: str | Path, reported: str | Path, *, data: str = "real", register: bool = True,
                      promote: bool = True, force_reason: str | None = None,
                      config: YieldModelConfig | None = None, operator: str | None = None,
                      weather: str | Path | None = None, approved_by: str | None = None) -> TrainResult:
    """Train from a user's tables: FieldFeatures Parquet (several seasons; a ``checkpoint`` column splits
    it, else all rows are ``end``) and reported yields (CSV/Parquet); ``weather``: a daily weather file whose
    ``wx_*`` features (as of each row's ``as_of``) are added."""
    if register:
        from models.registry import check_registry

        check_registry()  # an unusable registry said in seconds, before the tables are read and the model fitted
    p = Path(features)
    if not p.is_file():
        raise UserInputError(f"{p}: features file not found")
    df = read_checked(p, f"{p}: features file", lambda: pd.read_parquet(p), "Parquet")
    from features.contracts import check_field_features

    if "checkpoint" in df.columns:
        _check_checkpoint_labels(df["checkpoint"], p.name)
        by = {str(cp): check_field_features(g.drop(columns="checkpoint").reset_index(drop=True), where=p.name)
              for cp, g in df.groupby("checkpoint", sort=True)}
    else:
        by = {"end": check_field_features(df, where=p.name)}
    if weather is not None:
        from features.weather import add_weather, read_weather

        wx = read_weather(weather)
        by = {cp: add_weather(f, wx) for cp, f in by.items()}
    return train_yield(by, read_reported(reported), data=data, register=register, promote=promote,
                       force_reason=force_reason, config=config, operator=operator, approved_by=approved_by,
                       params={"features_file": p.name})
