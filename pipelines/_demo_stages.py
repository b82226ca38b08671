"""The demo's stages (pipelines/demo.py): a stage's timing record, and the tail stages — the in-sample yield stand-in, explain, replay (beside the run), re-underwriting and the report."""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import UserInputError

OPERATOR = "agcredit-demo"


#: the second operator of the demo's forced promotions (a forced promotion needs one, models.registry.promote): a
#: synthetic demo has no model-risk team, so this stand-in id records who "approved" — never a real person's id
APPROVER = "agcredit-demo-approver"


@dataclass
class Stage:
    """One stage of the demo: its name, seconds and what it printed."""

    name: str
    seconds: float = 0.0
    #: CPU seconds of this process and its finished children (load-independent, unlike ``seconds``)
    cpu_seconds: float = 0.0
    status: str = "ran"
    lines: list[str] = field(default_factory=list)


def _cpu() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def train_yield_in_sample(county: Any) -> str:
    """The tiny county's stand-in yield model (one past season is too few for
    :func:`pipelines.train_yield.train_yield_county`): fitted on every past field-season at mid and end of season
    (:func:`pipelines.train_yield.yield_training_table`: features as underwriting builds them) against the reported
    yields, with no conformal calibration and no held-out figures; registered with that said in its
    governance notes and force-promoted with the reason recorded."""
    import numpy as np

    from models.governance import Governance
    from models.registry import promote, register
    from models.yield_value import YieldModel, YieldModelConfig
    from pipelines.county import promotion_effective
    from pipelines.train_yield import training_input_profile, yield_training_table

    frames = yield_training_table(county, county.past_seasons, ("mid", "end"))
    X = pd.concat(list(frames.values()), ignore_index=True)
    if len(X) < 8:
        raise UserInputError(f"demo: only {len(X)} past field-seasons with a reported yield; cannot train")
    y = X.pop("reported_yield_t_ha").to_numpy(dtype="float64")
    model = YieldModel(YieldModelConfig(n_estimators=50, num_leaves=4, min_child_samples=3, calibrate=False)).fit(X, y)
    rmse = float(np.sqrt(np.mean((model.predict_quantiles(X)["yield_p50_t_ha"].to_numpy() - y) ** 2)))
    gov = Governance(crops=tuple(sorted({str(c) for c in X["declared_crop"].dropna()})), regions=(county.region,),
                     checkpoints=("mid", "end"), metrics={"n_train": float(len(X)), "in_sample_rmse_t_ha": rmse},
                     data=county.data_kind,
                     notes="tiny demo stand-in: trained and measured in-sample on one season; not for decisions")
    version = register(model, "yield-value", metrics=gov.metrics, governance=gov, operator=OPERATOR,
                       training_data={"features": X, "reported_yield": pd.DataFrame({"reported_yield_t_ha": y})},
                       input_profile=training_input_profile(model, frames))
    promote("yield-value", version, operator=OPERATOR, force=True, approved_by=APPROVER,
            effective=promotion_effective(county),
            reason="agcredit demo --size tiny: one past season only; in-sample stand-in to show the flow")
    return version


def explain_stage(items: list[Any], url: str, st: Stage) -> None:
    """Print ``explain_text`` of the first REDUCE and the first REFER."""
    from pipelines.explain import explain_text

    shown: list[str] = []
    for outcome in ("REDUCE", "REFER"):
        it = next((i for i in sorted(items, key=lambda i: i.application_id) if i.outcome == outcome), None)
        if it is None:
            st.lines.append(f"no {outcome} decision to explain")
            continue
        text = explain_text(url, it.application_id)
        st.lines += ["", f"--- agcredit explain {it.application_id} ({outcome}) ---", *text.rstrip().splitlines()]
        shown.append(f"{outcome} {it.application_id}")
    st.lines.insert(0, f"explained {' and '.join(shown)} (below)" if shown else "nothing to explain")


def replay_stage(county: Any, season: str, as_of: Any, featurized: Any, url: str, st: Stage, n: int = 10) -> None:
    """``agcredit audit replay`` on the stored decisions: all of them from the run's features, then the first ``n``
    applications alone (only their farmers' fields, features built again), unpinned and with the crop season scale
    and haze dates their records were scored with."""
    from pipelines._champions import models_text
    from pipelines.replay import replay
    from underwriting.policy import default_policy

    apps, fields = county.applications(), county.fields(season)
    common = {"policy": default_policy(), "profile": county.profile, "book": county.book(), "store": url,
              "weather": county.weather(), "yield_history": county.history()}

    def line(label: str, res: Any) -> str:
        c = res.counts()
        prov = ", ".join(res.provenance_counts())
        # what differs, by part (a field's entry by its key), most frequent first: the run-level provenance alone
        # would read as "reproduced"
        parts = Counter(re.sub(r"^fields\[[^]]*\]\.", "fields: ", d) for r in res.rows for d in r.differs)
        what = ", ".join(f"{k} ({v})" for k, v in sorted(parts.items(), key=lambda kv: (-kv[1], kv[0]))[:6])
        return (f"{label}: {len(res.rows)} decisions recomputed with {models_text(res.models)} — "
                + ", ".join(f"{v} {k}" for k, v in c.items() if v) + (f"; parts that differ: {what}" if what else "")
                + (f" (run provenance {'also ' if what else ''}differs: {prov})" if prov else ""))

    st.lines.append(line("the whole run, from its features", replay(apps, fields, season, as_of,
                                                                     featurized=featurized, **common)))
    few = apps[apps["season"].astype(str) == season].head(n)
    mine = fields[fields["farmer_token"].isin(set(few["farmer_token"]))].reset_index(drop=True)
    for label, pins in ((f"{len(few)} applications alone ({len(mine)} fields)", False),
                        ("the same, with the records' crop season scale and haze dates (--recorded-pins)", True)):
        res = replay(few, mine, season, as_of, imagery=county.imagery, cache_dir=county.cache_dir, pins=pins,
                     **common)
        st.lines.append(line(label, res))
        moved = [r for r in res.rows if r.stored != r.replayed]
        if moved:
            st.lines.append("    outcome or limit moved: " + ", ".join(
                f"{r.application_id} {r.stored[0] if r.stored else '-'} -> {r.replayed[0] if r.replayed else '-'}"
                for r in moved[:5]))


def replay_beside(county: str, season: str, as_of: Any, featurized: Any, url: str,
                  copy: bool = False) -> tuple[list[str], float, float]:
    """:func:`replay_stage` on the county folder ``county`` (in a process of its own: :func:`pipelines._beside.run_beside`):
    its lines, wall seconds and CPU seconds; ``copy``: ``url`` is a copy of the store made for it (:func:`_store_snapshot`),
    removed once replayed (a demo killed after would otherwise leave it)."""
    from pipelines.county import County

    st = Stage("replay")
    t0, c0 = time.perf_counter(), _cpu()
    replay_stage(County(county), season, as_of, featurized, url, st)
    if copy:
        db = Path(url.removeprefix("sqlite:///"))
        for p in db.parent.glob(f"{db.name}*"):
            p.unlink(missing_ok=True)
    return st.lines, time.perf_counter() - t0, _cpu() - c0


def _store_snapshot(path: Path, folder: Path) -> str:
    """A consistent copy of the demo's SQLite store ``path`` in ``folder`` (SQLite's backup API): its URL."""
    import sqlite3

    copy = folder / "decisions.db"
    # a URI from the path (``#`` or ``?`` in a folder name are escaped: a raw one opened, and created, another file)
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as src, \
            contextlib.closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
    return f"sqlite:///{copy.as_posix()}"


def reunderwrite_stage(county: Any, url: str, models: Any, st: Stage, history: pd.DataFrame | None = None) -> None:
    """Re-underwrite the active lines at the pre-harvest checkpoint and at the end of the season window
    (``history``: the past seasons' series, read from the county when None)."""
    from pipelines.reunderwrite import change_counts, reunderwrite_county

    cps = county.checkpoints(county.current_season)
    for name in ("pre_harvest", "end"):
        r = reunderwrite_county(county, county.current_season, cps[name], store=url, operator=OPERATOR, models=models,
                                history=history)
        n = change_counts(r.changes)
        st.lines.append(f"{name} ({cps[name]}): {len(r.items)} lines re-underwritten, {n['down']} limits down, "
                        f"{n['up']} up, {n['kept']} not re-estimated (kept), {n['actions']} with proposed actions, "
                        f"{len(r.alerts)} alerts; {r.written} records written")
        if len(r.alerts):
            kinds = r.alerts["alert"].value_counts() if "alert" in r.alerts else pd.Series(dtype="int64")
            if len(kinds):
                st.lines.append("    alerts: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
        # what the command says too (e.g. Book lines without an application, which nothing re-decides)
        st.lines += [f"    warning: {w}" for w in r.warnings]


def report_stage(county: Any, url: str, out: Path, st: Stage, history: pd.DataFrame | None = None, *,
                 crop_model: Any = None) -> Path:
    """The portfolio report (latest decisions, fields, alerts as of its date — with the crop model's alert
    thresholds, as re-underwriting raised them) as self-contained HTML."""
    from pipelines.monitor import alert_params_of
    from pipelines.report import build_report_data_county, render_portfolio

    data = build_report_data_county(county, store=url, season=county.current_season, history=history,
                                    params=alert_params_of(crop_model, county.region), crop_model=crop_model)
    data.title = f"agcredit demo portfolio ({county.region}, synthetic)"
    path = render_portfolio(data, out)
    st.lines.append(f"portfolio report: {path}")
    return path
