"""Fits on threads (features/threads.py): the thread count changes the time, never a model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from features.threads import thread_count, thread_map
from tests.features.test_crop_type import _clf, _make


def test_thread_map_keeps_order_and_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGCREDIT_THREADS", "3")
    assert thread_count() == 3
    assert thread_map(lambda x: x * x, range(10)) == [x * x for x in range(10)]
    assert thread_map(lambda x: x, []) == []

    def boom(x: int) -> int:
        if x == 4:
            raise ValueError("four")
        return x

    with pytest.raises(ValueError, match="four"):
        thread_map(boom, range(8))
    monkeypatch.setenv("AGCREDIT_THREADS", "0")
    with pytest.raises(UserInputError, match="AGCREDIT_THREADS: expected a positive integer, found '0'"):
        thread_count()
    monkeypatch.delenv("AGCREDIT_THREADS")
    assert 1 <= thread_count() <= 4


def _models(clf: object) -> dict[str, list[str]]:
    return {k: [b.model_to_string() for b in bag] for k, bag in clf.boosters_.items()}  # type: ignore[attr-defined]


def test_crop_type_fit_is_the_same_on_one_thread_or_several(monkeypatch: pytest.MonkeyPatch) -> None:
    series, labels = _make(seed=2)
    train = labels.loc[labels["season"] < "2019"]
    fits = {}
    for n in ("1", "3"):
        monkeypatch.setenv("AGCREDIT_THREADS", n)
        fits[n] = _clf(n_estimators=25, clean_labels=0.05, n_seeds=2).fit(series, train)
    one, many = fits["1"], fits["3"]
    assert _models(one) == _models(many)
    assert one.temperatures_ == many.temperatures_ and one.n_dropped_labels_ == many.n_dropped_labels_
    for k in one.oof_proba_:
        assert np.array_equal(one.oof_proba_[k], many.oof_proba_[k])


def test_yield_fit_is_the_same_on_one_thread_or_several(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.yield_value import YieldModel, YieldModelConfig

    rng = np.random.default_rng(4)
    n = 400
    X = pd.DataFrame({"field_id": [f"f{i % 80}" for i in range(n)], "season": [str(2010 + i // 80) for i in range(n)],
                      "region": "us-nebraska", "crop": np.where(np.arange(n) % 3 == 0, "soybean", "maize"),
                      "ndvi_max": rng.uniform(0.4, 0.9, n), "feat_rain": rng.normal(0, 1, n)})
    y = 10 * X["ndvi_max"] + X["feat_rain"] + rng.normal(0, 0.5, n)
    fits = {}
    for t in ("1", "2"):
        monkeypatch.setenv("AGCREDIT_THREADS", t)
        cfg = YieldModelConfig(n_estimators=30, calibration_seasons=3, point_calibration=True)
        fits[t] = YieldModel(cfg).fit(X, y)
    one, many = fits["1"], fits["2"]
    assert [b.model_to_string() for b in one.boosters_] == [b.model_to_string() for b in many.boosters_]
    assert one.offsets_ == many.offsets_ and one.point_ == many.point_ and one.offsets_
    pd.testing.assert_frame_equal(one.predict_quantiles(X), many.predict_quantiles(X), check_exact=True)


def test_scene_opens_on_threads_neither_show_nor_leave_a_warning_filter(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads opening scenes at once: warnings.catch_warnings alone let one thread put back a filter list without
    the other's ignore (rasterio's NotGeoreferencedWarning shown) and left an ignore on for the rest of the process."""
    import threading
    import warnings

    import rasterio

    from features.sources.local import _open_scene

    path = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as dst:
            dst.write(np.zeros((1, 4, 4), dtype="uint8"))
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda m, c, *a, **k: shown.append(c.__name__))
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    warnings.simplefilter("always")
    before = list(warnings.filters)
    start = threading.Barrier(6)

    def work() -> None:
        start.wait()
        for _ in range(400):
            with _open_scene(path):
                pass

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shown == []
    assert warnings.filters == before


def test_rasterize_under_a_filter_list_another_thread_put_back_shows_no_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """rasterio's rasterize enters warnings.catch_warnings and ignores every warning (``simplefilter("ignore")``) around
    its in-memory raster, which raises NotGeoreferencedWarning before its transform is set — outside features._quiet's
    lock: a feature thread leaving ``ignoring`` (or another rasterize) put back the process's list while it ran, and
    the demo printed the warning from ``rasterio/features.py`` once in a few runs (reproduced with two threads opening
    scenes beside two building pixel maps, 1 run of 3). Here that state is made deterministic: rasterize's own ignore
    never lands (as when another thread's exit replaced the list), so only the process's own filters stand."""
    import warnings

    import shapely
    from affine import Affine

    from features._quiet import quiet_rasterize
    from features.zonal import pixel_map

    transform = Affine(10, 0, 500000, 0, -10, 2000000)
    geoms = np.array([shapely.box(500000 + i * 30, 1999500, 500025 + i * 30, 1999520) for i in range(20)], dtype=object)
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda m, c, f, *a, **k: shown.append(f"{c.__name__} {f}"))
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    warnings.simplefilter("always")
    quiet_rasterize()  # at import it went first; "always" just went before it
    monkeypatch.setattr(warnings, "simplefilter", lambda *a, **k: None)
    pixel_map(geoms, transform, (100, 100))
    assert shown == []


def test_every_lightgbm_call_on_threads_names_its_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """LightGBM (>= 4.2) keeps num_threads in a process-wide variable: a predict without it resets the count to all
    cores while other threads' fits run with buffers sized for one — a segfault in lib_lightgbm.so (the us-nebraska
    demo's yield training and an ne-eval crop-type evaluation crashed so). Every predict of the threaded fits (crop
    type's out-of-fold folds and bags, the yield model's calibration folds) passes the booster's count."""
    import lightgbm as lgb

    from models.yield_value import YieldModel, YieldModelConfig

    seen: list[object] = []
    real = lgb.Booster.predict

    def recording(self, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("num_threads"))
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", recording)
    monkeypatch.setenv("AGCREDIT_THREADS", "2")
    series, labels = _make(seed=2)
    _clf(n_estimators=10, clean_labels=0.05, n_seeds=2).fit(series, labels.loc[labels["season"] < "2019"])
    rng = np.random.default_rng(4)
    n = 200
    X = pd.DataFrame({"field_id": [f"f{i % 40}" for i in range(n)], "season": [str(2010 + i // 40) for i in range(n)],
                      "region": "us-nebraska", "crop": "maize", "ndvi_max": rng.uniform(0.4, 0.9, n),
                      "feat_rain": rng.normal(0, 1, n)})
    YieldModel(YieldModelConfig(n_estimators=10, calibration_seasons=3, point_calibration=True)).fit(
        X, 10 * X["ndvi_max"] + rng.normal(0, 0.5, n))
    assert seen and all(isinstance(t, int) and t > 0 for t in seen), sorted({str(t) for t in seen})
