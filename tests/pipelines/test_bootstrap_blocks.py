"""The evaluations' bootstrap drawn and scored a block of resamples at a time (``_bootstrap.count_blocks``,
``blockwise``): the very draws of the whole (resamples × units) matrix, row for row, and every scorer's per-resample
figures bit for bit, while no scorer is handed more than a block."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.evaluation import _alert_scoring, _bootstrap, area, crop_type, growth_stage, yield_
from pipelines.evaluation._alert_scoring import EVENT_COLUMNS, field_bootstrap
from pipelines.evaluation._bootstrap import (
    INTERVAL,
    blockwise,
    count_blocks,
    group_codes,
    grouped_season_draws,
    percentile_interval,
    resample_counts,
    season_draws,
)

BLOCK = 7  # 2000 resamples: 285 blocks of 7 and a last one of 5


def _whole_matrix(n: int, cols: np.ndarray, stream: int = 0, groups: np.ndarray | None = None) -> np.ndarray:
    """The draws as they were made before blocks: the whole matrix filled chunk by chunk (the reference)."""
    reps, seed = int(INTERVAL["resamples"]), int(INTERVAL["seed"])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)) if stream else seed)
    g, gcols = (n, cols) if groups is None else (int(groups.max()) + 1, groups[cols])
    out = np.empty((reps, len(cols)), dtype=np.int32)
    step = max(1, min(250, 2_000_000 // max(g, 1)))
    for lo in range(0, reps, step):
        k = min(step, reps - lo)
        idx = rng.integers(0, g, size=(k, g)) + (np.arange(k) * g)[:, None]
        out[lo:lo + k] = np.bincount(idx.ravel(), minlength=k * g).reshape(k, g)[:, gcols]
    return out


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bootstrap, "block_rows", lambda n_cols: BLOCK)


@pytest.fixture
def one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole matrix in one block: the scorers as they were before blocks."""
    monkeypatch.setattr(_bootstrap, "BLOCK_VALUES", 2**62)


@pytest.mark.parametrize("grouped", [False, True])
def test_blocks_are_the_whole_matrix_row_for_row(grouped: bool) -> None:
    rng = np.random.default_rng(4)
    for n, cols in ((60, np.arange(60)), (9001, np.array([0, 5, 17, 4000, 9000])), (9001, np.arange(9001))):
        groups = group_codes(rng.integers(0, n // 3, n)) if grouped else None
        for stream in (0, 3):
            want = _whole_matrix(n, cols, stream, groups)
            blocks = list(count_blocks(n, cols, stream, groups))
            rows = _bootstrap.block_rows(len(cols))
            assert [len(b) for b in blocks[:-1]] == [rows] * (len(blocks) - 1) and 0 < len(blocks[-1]) <= rows
            assert np.array_equal(np.concatenate(blocks), want)
            assert blocks[0].dtype == want.dtype
    # 9001 columns: 1,863 rows a block under the default 64 MiB, so two blocks, their edge inside a chunk of draws
    assert [len(b) for b in count_blocks(9001, np.arange(9001))] == [1863, 137]


def test_small_blocks_are_the_whole_matrix_row_for_row(small_blocks: None) -> None:
    n = 9001
    want = _whole_matrix(n, np.arange(n), 2)
    blocks = list(season_draws(1, n))
    assert {len(b) for b in blocks[:-1]} == {BLOCK} and len(blocks[-1]) == int(INTERVAL["resamples"]) % BLOCK
    assert np.array_equal(np.concatenate(blocks), want)
    assert np.array_equal(np.concatenate(list(grouped_season_draws([None, np.arange(n)])(1, n))), want)
    assert np.array_equal(resample_counts(n, np.arange(n), 2), want)


def test_blockwise_joins_nested_figures_in_order() -> None:
    blocks = [np.arange(6).reshape(3, 2), np.arange(6, 8).reshape(1, 2)]
    got = blockwise(lambda w: {"sum": w.sum(axis=1), "per": {"first": w[:, 0]}}, blocks)
    assert got["sum"].tolist() == [1, 5, 9, 13] and got["per"]["first"].tolist() == [0, 2, 4, 6]


# --- every scorer: blocked figures bit for bit those of the whole matrix ------------------------------------------


def _alert_inputs(n: int = 90) -> tuple[list[str], list[tuple[str, bool]], pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(8)
    fields = [f"F{i:03d}" for i in range(n)]
    high = [(f, bool(rng.random() < 0.6)) for f in rng.choice(fields, 40)]
    rows = []
    for f in rng.choice(fields, 50):
        found = rng.random() < 0.7
        rows.append((f, str(rng.choice(["failure", "never_planted"])), pd.Timestamp("2009-07-01"),
                     pd.Timestamp("2009-07-10") if found else None, float(rng.integers(0, 6)) if found else None, ""))
    groups = {f: f"C{i % 11}" for i, f in enumerate(fields)}
    return fields, high, pd.DataFrame(rows, columns=EVENT_COLUMNS), groups


def _area_table(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    field = rng.choice([0.3, 1.2, 5.0, 20.0], size=n) * rng.uniform(0.8, 1.2, size=n)  # fractional hectares
    frac = np.where(rng.random(n) < 0.15, 0.0, rng.uniform(0.5, 1.0, size=n))
    true = field * frac
    est = np.where(true > 0, true * (1 + rng.normal(0, 0.05, size=n)), field * rng.uniform(0, 0.3, size=n))
    est[rng.random(n) < 0.03] = np.nan
    return pd.DataFrame({"field_area_ha": field, "declared_area_ha": field, "true_area_ha": true,
                         "true_fraction": frac, "events": np.where(frac < 0.9, "partly_planted", ""),
                         "planted_area_ha": est, "planted_fraction": est / field})


def _crop_set(n: int, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    crops = np.array(["cotton", "fallow", "maize", "rice"])
    true = rng.choice(crops, n, p=[0.4, 0.1, 0.3, 0.2])
    pred = np.where(rng.random(n) < 0.8, true, rng.choice(crops, n))
    return {"true": true.tolist(), "pred": pred.tolist(), "field_id": [f"F{i}" for i in range(n)],
            "season": ["2009"] * n}


def _yield_fields() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(6)
    out = {}
    for s, n in (("2008", 70), ("2009", 45)):
        y = rng.normal(5, 1, n)
        out[s] = pd.DataFrame({"crop": rng.choice(["maize", "soybean"], n), "true_yield_t_ha": y,
                               "p50": y + rng.normal(0, 0.7, n)})
    return out


def _growth_values(n: int = 80) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2)
    has = (rng.random(n) < 0.8).astype(float)
    return {"emergence_mae_days": (has, has * rng.uniform(0, 20, n)),  # fractional, unlike days: any value
            "stage_accuracy_mid": (np.ones(n), (rng.random(n) < 0.7).astype(float))}


def _per_resample(codes: np.ndarray | None) -> dict[str, Callable[[], Any]]:
    """Each scorer's per-resample figures (not yet reduced to intervals), drawn through count_blocks."""
    fields, high, events, _ = _alert_inputs()
    t = _area_table()
    crop = _crop_set(80, 1)
    n_a, n_t, n_c = 90, len(t), len(crop["true"])

    def alerts() -> Any:
        active = np.arange(n_a)
        sums = _alert_scoring._per_active_field(active, high, np.array([int(f[1:]) for f, _ in high]), events,
                                                 events["field_id"].str[1:].astype(int).to_numpy())
        return blockwise(partial(_alert_scoring._resampled, sums), count_blocks(n_a, active, groups=_cut(codes, n_a)))

    return {
        "alerts": alerts,
        "growth": lambda: blockwise(partial(growth_stage.resampled_figures, _growth_values()),
                                    count_blocks(80, np.arange(80), groups=_cut(codes, 80))),
        "area": lambda: blockwise(partial(area._resampled, t), count_blocks(n_t, np.arange(n_t),
                                                                            groups=_cut(codes, n_t))),
        "crop": lambda: blockwise(partial(crop_type.weighted_classification_metrics, crop["true"], crop["pred"]),
                                  count_blocks(n_c, np.arange(n_c), groups=_cut(codes, n_c))),
        "yield": lambda: yield_.resampled_target_figures(
            _yield_fields(), ["maize", "soybean"],
            season_draws if codes is None else grouped_season_draws([_cut(codes, 70), _cut(codes, 45)])),
    }


def _cut(codes: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if codes is None else group_codes(codes[:n])


def _flat(figs: Any, at: str = "") -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(figs, dict):
        for k, v in figs.items():
            yield from _flat(v, f"{at}/{k}")
    else:
        yield at, figs


@pytest.mark.parametrize("scorer", ["alerts", "growth", "area", "crop", "yield"])
@pytest.mark.parametrize("grouped", [False, True])
def test_blocked_figures_are_the_whole_matrix_figures_bit_for_bit(monkeypatch: pytest.MonkeyPatch, scorer: str,
                                                                  grouped: bool) -> None:
    codes = np.arange(300) // 4 if grouped else None  # clusters of 4 fields
    monkeypatch.setattr(_bootstrap, "BLOCK_VALUES", 2**62)
    whole = dict(_flat(_per_resample(codes)[scorer]()))
    monkeypatch.setattr(_bootstrap, "block_rows", lambda n_cols: BLOCK)
    blocked = dict(_flat(_per_resample(codes)[scorer]()))
    assert list(blocked) == list(whole) and len(whole) >= 2
    for k, v in whole.items():
        assert v.shape == (INTERVAL["resamples"],), k
        assert np.isfinite(v).any(), k
        np.testing.assert_array_equal(blocked[k], v, err_msg=f"{scorer} {k}")


def _intervals(grouped: bool) -> dict[str, Any]:
    """The five scorers' public intervals."""
    fields, high, events, groups = _alert_inputs()
    codes = np.arange(300) // 4 if grouped else None
    crop = _crop_set(80, 1)
    keys = pd.DataFrame({"field_id": crop["field_id"], "season": "2009", "group": [f"G{i // 4}" for i in range(80)]})
    base = {**crop, "pred": crop["true"][:40] + crop["pred"][40:]}
    return {
        "alerts": field_bootstrap(fields, high, events, groups=groups if grouped else None, interval_by="condition"),
        "growth": growth_stage.field_intervals(_growth_values(), None if codes is None else codes[:80]),
        "area": area.area_metrics(_area_table(), codes, "condition"),
        "crop": [crop_type.set_intervals(crop, True, keys if grouped else None),
                 crop_type.baseline_intervals(crop, base, keys=keys if grouped else None),
                 crop_type.loso_intervals({"2009": crop, "2010": _crop_set(50, 2) | {"season": ["2010"] * 50}},
                                          rice=True, keys=keys if grouped else None)],
        "yield": {c: {m: percentile_interval(v) for m, v in d.items()}
                  for c, d in yield_.resampled_target_figures(_yield_fields(), ["maize"]).items()},
    }


@pytest.mark.parametrize("grouped", [False, True])
def test_the_intervals_are_those_of_the_whole_matrix(monkeypatch: pytest.MonkeyPatch, grouped: bool) -> None:
    monkeypatch.setattr(_bootstrap, "BLOCK_VALUES", 2**62)
    whole = _intervals(grouped)
    monkeypatch.setattr(_bootstrap, "block_rows", lambda n_cols: BLOCK)
    assert _intervals(grouped) == whole


# --- bounded memory -------------------------------------------------------------------------------------------------


def test_no_scorer_is_handed_more_than_a_block(monkeypatch: pytest.MonkeyPatch, small_blocks: None) -> None:
    # every per-block scorer wrapped: the largest count matrix any of them receives is one block, and together they
    # see every resample (a scorer handed the whole matrix, as before blocks, receives 2,000 rows at once)
    seen: dict[str, list[int]] = {}

    def spy(name: str, fn: Callable[..., Any], *a: Any) -> Any:
        seen.setdefault(name, []).append(len(a[-1]))
        return fn(*a)

    from models import evaluation as model_eval

    for mod, name in ((_alert_scoring, "_resampled"), (growth_stage, "resampled_figures"), (area, "_resampled"),
                      (crop_type, "weighted_classification_metrics"), (model_eval, "weighted_yield_metrics")):
        monkeypatch.setattr(mod, name, partial(spy, f"{mod.__name__}.{name}", getattr(mod, name)))
    _intervals(grouped=False)
    assert len(seen) == 5
    for name, rows in seen.items():
        assert max(rows) <= BLOCK, name
        assert sum(rows) % int(INTERVAL["resamples"]) == 0, name


def test_a_large_set_never_holds_its_whole_count_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20,000 fields: the whole int32 count matrix alone is 160 MB (and the scorers made float copies of it); blocked,
    # the peak is the draws' chunk (2 million draws) and one block
    n = 20_000
    monkeypatch.setattr(_bootstrap, "BLOCK_VALUES", 50 * n)
    t = _area_table(n)
    tracemalloc.start()
    try:
        m = area.area_metrics(t)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m["county_total"]["error_ci"] is not None
    whole = int(INTERVAL["resamples"]) * n * 4
    assert peak < whole / 2, f"peak {peak / 1e6:.0f} MB, the whole count matrix {whole / 1e6:.0f} MB"
