"""The re-underwriting tests' world (test_reunderwrite, test_reunderwrite_dask_inputs): the tiny county, a small
yield model and first decisions at emergence in a store — built once per module that asks for it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.governance import Governance
from models.prices import read_prices
from models.yield_value import YieldModel, YieldModelConfig, crop_of, score_fields
from pipelines.county import County
from pipelines.featurize import featurize
from pipelines.reunderwrite import ScoringModels
from underwriting.decisions import decide_batch
from underwriting.policy import default_policy
from underwriting.records import canonical_json
from underwriting.store import DecisionStore


def build_world(tiny_county_sh: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> dict[str, Any]:
    """The county (its series cache shared with test_cli_report: atomic writes, same session), a small yield model,
    and first decisions at emergence in a store under a fresh temp folder ``name`` (``tmp``)."""
    # the key every test runs with (conftest), whatever the shell exports: module fixtures run before conftest's
    os.environ["AGCREDIT_TOKEN_KEY"] = "test-token-key-0123456789"
    tmp = tmp_path_factory.mktemp(name)
    county = County(tiny_county_sh, cache_dir=tmp_path_factory.getbasetemp() / "tiny-county-series-cache")
    season = county.current_season
    cps = county.checkpoints(season)
    fields = county.fields(season)
    end = featurize(fields, county.imagery, season, cps["end"], cache_dir=county.cache_dir).features
    rng = np.random.default_rng(0)
    parts, ys = [], []
    for s in ("2001", "2002", "2003", "2004"):  # a stand-in model: the yield grows with peak NDVI
        parts.append(end.assign(season=s))
        ys.append(2.0 + 3.0 * end["ndvi_max"].fillna(0.5).to_numpy() + rng.normal(0, 0.3, len(end)))
    cfg = YieldModelConfig(n_estimators=20, num_leaves=4, min_child_samples=3, calibration_seasons=2,
                           min_crop_calibration_rows=3)
    model = YieldModel(cfg).fit(pd.concat(parts, ignore_index=True), np.concatenate(ys))
    gov = Governance(crops=tuple(county.crops), regions=(county.region,), checkpoints=("emergence", "mid", "end"))
    models = ScoringModels(yield_model=model, yield_version="3", yield_run_id="run-3", governance=gov)
    url = f"sqlite:///{tmp / 'decisions.db'}"
    emerg = featurize(fields, county.imagery, season, cps["emergence"], cache_dir=county.cache_dir).features
    known = crop_of(emerg).notna()
    prices = read_prices()
    vals = score_fields(model, emerg[known].reset_index(drop=True), prices, model_name="yield-value",
                        model_version="3", governance=gov, checkpoint="emergence", currency=county.currency)
    items = decide_batch(county.applications(), emerg, vals, prices.to_frame(), county.book(), default_policy(),
                         county.profile, cps["emergence"])
    with DecisionStore(url) as st:
        st.append(items, operator="underwriter")
    return {"county": county, "season": season, "cps": cps, "models": models, "url": url, "first": items,
            "tmp": tmp}


def said(res: Any) -> tuple[Any, ...]:
    """What a re-underwriting run said (records' bodies, changes without record ids, alerts, haze, warnings), for
    comparing a run on Dask blocks with one machine's."""
    return ([(i.idempotency_key, canonical_json(i.body), i.outcome, i.limit) for i in res.items],
            res.changes.drop(columns="record_id").to_dict("records"), res.alerts.to_dict("records"),
            res.hazy_dates, res.haze_pinned, res.checkpoint, res.written, res.warnings)


def store_copy(world: dict[str, Any], tmp_path: Path, name: str) -> str:
    """A copy of the world's decision store under ``tmp_path`` (its URL), so each run starts from the same records."""
    copy = tmp_path / f"{name}.db"
    shutil.copy(str(world["url"]).removeprefix("sqlite:///"), copy)
    return f"sqlite:///{copy}"


def lower_yield_model(w: dict[str, Any]) -> YieldModel:
    """A yield model fitted as the world's on targets half as high: it values every field lower (a challenger whose
    decisions differ; ``models impact`` and the shadow tests)."""
    c, season = w["county"], w["season"]
    end = featurize(c.fields(season), c.imagery, season, w["cps"]["end"], cache_dir=c.cache_dir).features
    rng = np.random.default_rng(0)
    parts, ys = [], []
    for s in ("2001", "2002", "2003", "2004"):  # as the world's model, on targets half as high
        parts.append(end.assign(season=s))
        ys.append(2.0 + 3.0 * end["ndvi_max"].fillna(0.5).to_numpy() + rng.normal(0, 0.3, len(end)))
    cfg = YieldModelConfig(n_estimators=20, num_leaves=4, min_child_samples=3, calibration_seasons=2,
                           min_crop_calibration_rows=3)
    return YieldModel(cfg).fit(pd.concat(parts, ignore_index=True), 0.5 * np.concatenate(ys))
