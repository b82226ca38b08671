"""``agcredit demo``: everything a user would do, on the built-in synthetic county, in one command.

Stages (each prints one line with its time; a re-run skips what is already done and adds no record):

1. **simulate** the county (``democounty``) into ``<out>/<region>`` — skipped when complete;
2. **train crop type** on the past seasons' declared crops (:func:`pipelines.train_crop.train_crop_type_county`),
   register and promote — skipped when the demo registry already has a ``crop-type`` champion;
3. **train yield** on the past seasons' reported yields (:func:`pipelines.train_yield.train_yield_county`),
   register and promote — skipped likewise;
4. **features** of the current season as of the application date, printed as an indicators' summary
   (planted area vs declared, crop type vs declared, growth stages);
5. **underwrite** every application into ``sqlite:///<out>/decisions.db`` and print the summary;
6. the models' held-out figures (labelled synthetic);
7. **explain** one REDUCE and one REFER;
8. **replay** the stored decisions (``agcredit audit replay``; in a process of its own beside the next stage, on a
   copy of the store as underwriting left it, printed after it);
9. **re-underwrite** at two later checkpoints with changes and alerts (:mod:`pipelines.reunderwrite`);
10. the **portfolio report** (:func:`pipelines.report.render_portfolio`).

The application date is the season's **mid-season checkpoint** (:meth:`pipelines.county.County.checkpoints`:
the median mid-season date of the region's crops, e.g. 15 September for the Hyderabad kharif, 20 July in
Nebraska): it is after the policy's emergence checkpoint, so the imagery checks apply and the crop-type
and yield models are inside their validated scope (mid and end of season). Re-underwriting runs at the
pre-harvest checkpoint and at the end of the season window.

MLflow: ``<out>/mlruns`` unless MLFLOW_TRACKING_URI is set (it is set for the run and restored after).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError
from pipelines._demo_stages import (
    APPROVER,
    OPERATOR,
    Stage,
    _cpu,
    _store_snapshot,
    explain_stage,
    replay_beside,
    report_stage,
    reunderwrite_stage,
    train_yield_in_sample,
)

# isort: split
# re-exported, unused here: importable from pipelines.demo as before its helpers moved out
from pipelines._demo_stages import (
    replay_stage,  # noqa: F401
)

__all__ = ["DemoResult", "Stage", "run_demo", "REGIONS", "SIZES", "DEMO_TOKEN_KEY", "indicator_summary"]

REGIONS = ("in-smallholder", "us-nebraska")
SIZES = ("demo", "tiny")
DEMO_TOKEN_KEY = "agcredit-demo-token-key"
#: a crop needs this many declared past fields to be learnt (pipelines.train_crop refuses fewer)
MIN_CROP_FIELDS = 5
#: past seasons with reported yields pipelines.train_yield needs (held-out season + calibration)
MIN_YIELD_SEASONS = 3
Say = Callable[[str], None]


@dataclass
class DemoResult:
    """What the demo did, where it put it."""

    out: Path
    county: Path
    store_url: str
    as_of: Any = None
    stages: list[Stage] = field(default_factory=list)
    report: Path | None = None
    underwrite: Any = None

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables that are not set already; restore on exit."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if not os.environ.get(k):
            os.environ[k] = v
    try:
        yield
    finally:
        for k, prev in old.items():
            if prev is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = prev


class _Stages:
    def __init__(self, result: DemoResult, say: Say) -> None:
        self.result, self.say = result, say

    @contextlib.contextmanager
    def run(self, name: str, before: str | None = None) -> Iterator[Stage]:
        """A stage timed and printed when it ends; ``before``: a stage that ran beside the one named (its body sets
        its own seconds and lines), listed before it in :attr:`DemoResult.stages` and printed after it."""
        st = Stage(name)
        t0, c0 = time.perf_counter(), _cpu()
        yield st
        if before is None:
            st.seconds = time.perf_counter() - t0
            st.cpu_seconds = _cpu() - c0
            self.result.stages.append(st)
        else:
            names = [s.name for s in self.result.stages]
            self.result.stages.insert(names.index(before), st)
        head, rest = (st.lines[0], st.lines[1:]) if st.lines else (st.status, [])
        beside = f"(beside {before}) " if before else ""
        self.say(f"[{name}] {st.seconds:6.1f} s  {beside}{head}")
        for line in rest:
            self.say(f"    {line}")


def _champion(name: str, flavour: Any = None) -> Any:
    from models.errors import RegistryError
    from models.registry import resolve

    try:
        return resolve(name, flavour=flavour)
    except RegistryError:
        return None


def _simulate(county: Path, region: str, seed: int, size: str, st: Stage) -> None:
    from democounty import recover_swap, simulate

    recover_swap(county, st.lines.append)  # a simulate killed mid-swap: its county folder first (said)
    if (county / "county.json").is_file():
        st.status = "skipped"
        st.lines.append(f"county present (synthetic): {county}")
        return
    simulate(region, seed, size, county, overwrite=county.exists())
    st.lines.append(f"simulated the {size} {region} county (synthetic, seed {seed}): {county}")


def _train_crop(county: Any, st: Stage) -> None:
    from features.crop_type import CropTypeClassifier
    from models.registry import SaveLoadFlavour

    have = _champion("crop-type", SaveLoadFlavour.of(CropTypeClassifier()))
    if have is not None:
        st.status = "skipped"
        st.lines.append(f"crop-type champion version {have.version} present")
        return
    counts = county.history()["declared_crop"].dropna().value_counts()
    if int((counts >= MIN_CROP_FIELDS).sum()) < 2:
        st.status = "not trained"
        st.lines.append(f"crop type not trained: the past seasons declare fewer than 2 crops on {MIN_CROP_FIELDS}+ "
                        "fields each (the tiny county); crop type left empty")
        return
    from models.errors import RegistryError
    from pipelines._alert_fit import N_TUNE_SEASONS
    from pipelines.train_crop import train_crop_type_county

    try:
        res = train_crop_type_county(county, register=True, promote=True, operator=OPERATOR)
    except RegistryError as e:  # e.g. below its minimum metrics: not promoted
        st.status = "not promoted"
        st.lines.append(f"crop type trained but not champion: {e}; crop type left empty")
        return
    except UserInputError as e:  # e.g. too few past fields per crop (the tiny county)
        st.status = "not trained"
        st.lines.append(f"crop type not trained: {e}; crop type left empty")
        return
    st.lines.append(f"crop-type version {res.version} on seasons {', '.join(county.past_seasons)}"
                    f"{' promoted to champion' if res.promoted else ' (not promoted: below its minimum metrics)'}")
    if not res.promoted and res.version is not None:
        # as the yield model's: the demo shows the flow on a synthetic county, forced and named (without a crop-type
        # champion every application of the us-nebraska demo was referred, nothing granted, since the in-season gates)
        from models.registry import promote
        from pipelines.county import promotion_effective

        failures = res.governance.failures()
        promote("crop-type", res.version, operator=OPERATOR, force=True, approved_by=APPROVER,
                effective=promotion_effective(county),
                reason="agcredit demo on a synthetic county: promoted below its minimum metrics to show the flow")
        st.lines.append(f"WARNING: below its minimum metrics ({'; '.join(failures[:3])}); promoted for the demo "
                        "only (forced, recorded in the alias history)")
    from pipelines.monitor import SAVED_BEFORE

    for region, tuned in sorted((res.classifier.alert_params_ or {}).items()):
        rules = {k: v for k, v in tuned.items() if k in SAVED_BEFORE}  # saved as they are now, not tuned
        st.lines.append(f"    alert thresholds for {region}, tuned on the diaries of seasons "
                        f"{', '.join(county.past_seasons[-N_TUNE_SEASONS:])} (saved with the model; monitor and "
                        f"re-underwriting use them): "
                        + ", ".join(f"{k} {v}" for k, v in sorted(tuned.items()) if k not in rules)
                        + ("; with the rules " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())) if rules
                           else ""))


def _train_yield(county: Any, st: Stage) -> None:
    have = _champion("yield-value")
    if have is not None:
        st.status = "skipped"
        st.lines.append(f"yield-value champion version {have.version} present")
        return
    from pipelines.train_yield import train_yield_county

    if len(county.past_seasons) < MIN_YIELD_SEASONS:  # the tiny county: too few seasons for the governed trainer
        version = train_yield_in_sample(county)
        st.lines.append(f"yield-value version {version} trained IN-SAMPLE on season(s) "
                        f"{', '.join(county.past_seasons)}: fewer than {MIN_YIELD_SEASONS} past seasons for the "
                        "governed trainer (tiny demo only: no held-out figures, not fit for decisions)")
        return
    res = train_yield_county(county, register=True, promote=True, operator=OPERATOR)
    trained = getattr(res, "version", None)
    rows = getattr(res, "n_rows", None)
    rows_text = ", ".join(f"{k} {v}" for k, v in rows.items()) if isinstance(rows, dict) else str(rows)
    st.lines.append(f"yield-value version {trained} on seasons {', '.join(county.past_seasons)}; training rows "
                    f"per checkpoint: {rows_text}")
    if not getattr(res, "promoted", False) and trained is not None:
        from models.registry import promote
        from pipelines.county import promotion_effective

        failures = list(getattr(res, "failures", []) or [])
        promote("yield-value", trained, operator=OPERATOR, force=True, approved_by=APPROVER,
                effective=promotion_effective(county),
                reason="agcredit demo on a synthetic county: promoted below its minimum metrics to show the flow")
        st.lines.append(f"WARNING: below its minimum metrics ({'; '.join(failures[:3])}); promoted for the demo "
                        "only (forced, recorded in the alias history)")
    if _champion("yield-value") is None:
        raise UserInputError("demo: the yield model was not registered; see `agcredit models show yield-value`")


def indicator_summary(features: pd.DataFrame) -> list[str]:
    """Lines: planted area vs declared, crop type vs declared, growth stages (counts)."""
    f = features
    out = []
    pa, da = f["planted_area_ha"], f["declared_area_ha"]
    if pa.notna().any():
        both = pa.notna() & da.notna() & (da > 0)
        off = (pa[both] - da[both]).abs() > 0.1 * da[both]
        out.append(f"planted area {pa.sum():.1f} ha vs {da.sum():.1f} ha declared; {int(off.sum())} of "
                   f"{int(both.sum())} fields differ by more than 10%; {int((f['planted_fraction'] < 0.2).sum())} "
                   "look unplanted")
    else:
        out.append("planted area: not measured")
    if f["crop_type"].notna().any():
        agree = (f["crop_type"] == f["declared_crop"]) & f["declared_crop"].notna()
        counts = f["crop_type"].value_counts()
        out.append("crop type: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                   + f"; agrees with the declared crop on {int(agree.sum())} of {int(f['declared_crop'].notna().sum())}"
                   + f"; {int((f['crop_type_prob'] < 0.8).sum())} uncertain (< 0.8)")
    else:
        out.append("crop type: no model")
    if f["growth_stage"].notna().any():
        out.append("growth stage: " + ", ".join(f"{k} {v}" for k, v in f["growth_stage"].value_counts().items()))
    else:
        out.append("growth stage: not estimated")
    return out


#: the held-out figures the demo prints when a model records them (the rest: `agcredit models show NAME`)
_KEY_METRICS = ("r2_all", "naive_crop_mean_r2_all", "naive_farmer_mean_r2_all", "skill_r2_all", "rmse_pct_all",
                "naive_crop_mean_rmse_pct_all", "naive_farmer_mean_rmse_pct_all", "below_p10_all", "above_p90_all",
                "mid_r2_all", "accuracy_end", "naive_majority_accuracy", "naive_last_season_accuracy", "macro_f1_end",
                "naive_majority_macro_f1", "naive_last_season_macro_f1", "ece_end", "accuracy_mid",
                "accuracy_emergence", "n_train", "in_sample_rmse_t_ha")


def _stability_line(features: pd.DataFrame) -> str:
    """The yield champion's input stability on the application date's features (models.stability): whether the
    season it values looks like the seasons it learned from."""
    from pipelines.stability import frame_stability

    try:
        return frame_stability(features, source="the application date's features").headline()
    except Exception as e:  # a figure we cannot compute is reported, not fatal (e.g. a champion an earlier release's
        return f"input stability: {str(e).splitlines()[0][:200]}"  # demo registered without a profile)


def _crop_stability_line(series: pd.DataFrame, fields: pd.DataFrame, as_of: Any) -> str:
    """The crop-type champion's input stability on the season's fields as of the application date (their series as
    the features were built from), as :func:`_stability_line`."""
    from pipelines.stability import crop_frame_stability

    try:
        return crop_frame_stability(series, fields, as_of, source="the season's fields").headline()
    except Exception as e:  # reported, not fatal (e.g. a champion an earlier release's demo registered)
        return f"crop-type input stability: {str(e).splitlines()[0][:200]}"


def _model_figures(versions: dict[str, str | None]) -> list[str]:
    from models.registry import governance

    out = []
    for name, version in versions.items():
        if version is None:
            continue
        v = version.split("version ")[-1].split(" ")[0]
        try:
            gov = governance(name, v)
        except Exception as e:  # a figure we cannot read is reported, not fatal
            out.append(f"{name} v{v}: governance unavailable ({str(e).splitlines()[0][:80]})")
            continue
        shown = [k for k in _KEY_METRICS if k in gov.metrics] or sorted(gov.metrics)[:8]
        mets = ", ".join(f"{k} {gov.metrics[k]:.3g}" for k in shown)
        # the tiny demo's in-sample yield model records no held-out figure: not headed as one
        kind = "in-sample" if "in_sample_rmse_t_ha" in gov.metrics else "held-out"
        out.append(f"{name} v{v} {kind} ({gov.data}): {mets or 'no metrics recorded'}")
    return out


def run_demo(out: str | Path = "agcredit-demo", *, region: str = "in-smallholder", seed: int = 7,
             size: str = "demo", say: Say | None = None) -> DemoResult:
    """Run the demo into ``out`` (see the module docstring); safe to re-run and to re-run after a kill."""
    if region not in REGIONS:
        raise UserInputError(f"demo: --region must be one of {', '.join(REGIONS)}, found {region!r}")
    if size not in SIZES:
        raise UserInputError(f"demo: --size must be one of {', '.join(SIZES)}, found {size!r}")
    if not 0 <= int(seed) < 2**32:  # simulate's own check came after the folder was made: an empty one was left
        raise UserInputError(f"demo: --seed must be a whole number from 0 to 4294967295, found {seed!r}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    county_path = out / region
    url = f"sqlite:///{(out / 'decisions.db').as_posix()}"
    result = DemoResult(out=out, county=county_path, store_url=url)
    stages = _Stages(result, say or (lambda _m: None))
    import logging

    quiet = logging.getLogger("mlflow")
    level = quiet.level
    # MLflow's INFO/WARNING chatter would drown the demo's one line per stage (the level if MLflow is imported
    # already; MLFLOW_LOGGING_LEVEL below if it is imported during the run)
    quiet.setLevel(logging.ERROR)
    try:
        with _env(AGCREDIT_TOKEN_KEY=DEMO_TOKEN_KEY, MLFLOW_LOGGING_LEVEL="ERROR",
                  MLFLOW_TRACKING_URI=f"sqlite:///{(out / 'mlruns' / 'mlflow.db').as_posix()}"), \
                warnings.catch_warnings():
            # MLflow's hint about integer columns in a logged input example (a UserWarning) is not for demo users
            warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")
            _run(result, stages, region, seed, size)
    finally:
        quiet.setLevel(level)
    return result


def _run(result: DemoResult, stages: _Stages, region: str, seed: int, size: str) -> None:
    from pipelines.county import County
    from pipelines.featurize import featurize
    from pipelines.underwrite import ChampionModels, underwrite
    from underwriting.policy import default_policy

    with stages.run("simulate") as st:
        _simulate(result.county, region, seed, size, st)
    county = County(result.county)
    with stages.run("train crop type") as st:
        _train_crop(county, st)
    with stages.run("train yield") as st:
        _train_yield(county, st)
    season = county.current_season
    as_of = county.checkpoints(season)["mid"]
    result.as_of = as_of
    warnings: list[str] = []
    models = ChampionModels.resolve(warnings=warnings, weather=county.weather())
    with stages.run("features") as st:
        fr = featurize(county.fields(season), county.imagery, season, as_of, crop_model=models.crop_model,
                       cache_dir=county.cache_dir, weather=models.weather)
        st.lines.append(f"{len(fr.features)} fields of season {season} as of {as_of} (the application date: "
                        f"mid-season); {len(fr.dates_used)} acquisition dates")
        st.lines += indicator_summary(fr.features)
        phen = fr.families.get("phenology", "not computed")
        st.lines.append(f"phenology: {phen}" + (" (the crop-type champion's, fitted on the past seasons' diaries)"
                                                if "calibrated on" in phen else
                                                " (no calibration: the crop-type model carries none, or there is no "
                                                "crop-type model — the tiny demo)"))
        st.lines.append(f"smoother scene haze dates: {', '.join(fr.hazy_dates) or 'none'} (judged on the season's "
                        f"{len(fr.features)} fields; `--hazy-dates` pins them when a farmer is re-run alone)")
        if "weather" in fr.families:
            st.lines.append(f"weather as of the date: {fr.families['weather']} (the county's weather/daily.csv; in "
                            "the demo it is exactly the station series that drove the simulated growth, so there is "
                            "no station-to-field mismatch as a real lender would have)")
        st.lines += [f"warning: {w}" for w in fr.warnings + warnings]
    with stages.run("underwrite") as st:
        from underwriting.store import new_sqlite_file, upgrade_store

        if new_sqlite_file(result.store_url) is None:  # a store an earlier release's demo left: brought up to date
            up = upgrade_store(result.store_url)
            if up.added:
                st.lines.append(f"store of an earlier release upgraded: added {', '.join(up.added)} "
                                "(`agcredit audit upgrade-store`)")
        res = underwrite(county.applications(), county.fields(season), season, as_of, imagery=county.imagery,
                         policy=default_policy(), profile=county.profile, book=county.book(), store=result.store_url,
                         featurized=fr, models=models, cache_dir=county.cache_dir, operator=OPERATOR,
                         yield_history=county.history())
        result.underwrite = res
        s = res.summary
        st.lines.append(f"{s['n']} applications: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
                        + f"; granted {', '.join(s['total_limit_text'].values()) or '0'} of "
                        + f"{', '.join(s['total_requested_text'].values())} requested; {res.written} records written"
                        + f", {res.already_present} already stored")
        st.lines.append("most frequent reasons: " + ", ".join(f"{c} {n}" for c, n in s["top_reasons"]))
        if s["refer_reasons"]:
            st.lines.append("referred because of: " + ", ".join(f"{c} {n}" for c, n in s["refer_reasons"]))
        st.lines.append(f"store: {result.store_url}")
        # what `agcredit underwrite` says too (e.g. prices dated after the application date, fields not valued)
        st.lines += [f"warning: {w}" for w in res.warnings]
    with stages.run("model figures") as st:
        st.lines.append("held-out figures of the champion models (synthetic data, not a real-world claim; scored "
                        "against the farmers' declared crops and reported yields of the latest past season, held out "
                        "of the model itself — the yield model's scored on features built with a crop-type model and a "
                        "phenology calibration fitted without that season; `agcredit evaluate` holds out everything "
                        "and scores against truth):")
        st.lines += _model_figures(models.versions())
        st.lines.append(_stability_line(fr.features))
        if models.crop_model is not None:  # the tiny demo registers none
            fs = county.fields(season)
            st.lines.append(_crop_stability_line(fr.series, pd.DataFrame(fs.drop(columns="geometry")).assign(
                region=fs["region"] if "region" in fs.columns else county.region), as_of))
    with stages.run("explain") as st:
        explain_stage(res.items, result.store_url, st)
    from features.atomic import private_tempdir
    from pipelines._beside import run_beside

    # the replay reads the stored decisions only: in a process of its own beside re-underwriting (each holds the
    # interpreter lock; the demo's 2 cores ran them one after the other, ~10 s), on a copy of the store as
    # underwriting left it — the same records it read when it ran before re-underwriting
    # (the copy in a folder the process owns: a demo killed outright leaves no copy of the records behind)
    with private_tempdir("demo-replay") as tmp:
        db = result.out / "decisions.db"
        snap = _store_snapshot(db, Path(tmp)) if db.is_file() else result.store_url  # none stored: replay says so
        args = (str(county.path), season, as_of, fr, snap, snap != result.store_url)
        with run_beside(replay_beside, *args, fallback=lambda: replay_beside(*args), owned=(Path(tmp),)) as replayed:
            with stages.run("re-underwrite") as st:
                history = county.past_series(county.current_season)  # the past seasons' series, read once for both
                reunderwrite_stage(county, result.store_url, models, st, history)
            with stages.run("replay", before="re-underwrite") as st:
                st.lines, st.seconds, st.cpu_seconds = replayed()
                st.status = "ran in this process (its own failed)" if replayed.fell_back else "ran beside"
    with stages.run("report") as st:
        result.report = report_stage(county, result.store_url, result.out / "report", st, history,
                                     crop_model=models.crop_model)


# --- stand-ins and the tail stages ---------------------------------------------------------------------------


