"""Yield model (LightGBM quantile regression, conformally calibrated) and field valuation.

``YieldModel(config).fit(X, y, groups)`` learns yield (t/ha at the price table's moisture
basis) from FieldFeatures-as-of-a-date rows: every numeric column it is given at fit time
(``feat_*``, ``prob_*``, ``ndvi_*``, …) plus context — crop and region (categorical) and the
season year (numeric trend) and, when ``as_of`` is given, the day of the season it refers to
(``as_of_day``, so one model serves every checkpoint), and the field's phenology dates as days of the season
year with the spans between them (``day_*``, ``span_*``: :mod:`models._yield_features`; a booster cannot read
dates, and without them a late season looked like a green one to a winter crop's calendar-fixed composites).
Targets are the farmers' *reported* past yields; rows without one are dropped and counted (``n_dropped_target_``).
Weather as of the date (``wx_*``, :mod:`features.weather`) is read when the training rows carry it
(``weather_columns``, saved in ``meta.json``); a model fitted without it ignores such columns, and a model
fitted with it refuses rows without them (:class:`MissingWeatherError`, a one-line user error).

Three boosters estimate P10, P50 and P90. The outer quantiles are then calibrated on past
seasons only (cross-conformal quantile regression): for each of the last
``calibration_seasons`` training seasons, P10/P90 boosters are refitted without that season
and its residuals (relative to the crop's mean yield) give one-sided conformal offsets per
crop (pooled where a crop has too few calibration rows), so that about 10% of yields fall
below P10 and 10% above P90. Quantiles are sorted per row and never cross.

The same folds also refit the P50 booster, and its out-of-season predictions give a per-crop
linear recalibration of the point estimate (``point_``: P50 ← a + b·P50, least squares, b in
[0, 1.2]): where the features explain little of a crop's yield (stress the canopy cannot show)
the point estimate shrinks towards that crop's mean instead of its median, which is what
squared-error metrics (R², RMSE) and expected values need; where they explain much, b ≈ 1.
``point_calibration=False`` keeps the raw median.

``value_fields`` turns quantiles into FieldValuations: planted area × yield × price, in
integer minor units, floored once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.threads import thread_map
from models._yield_columns import (
    _NAME,
    QUANTILE_COLUMNS,
    _as_of_day,
    _numeric_columns,
    _season_year,
    crop_of,
    known_crop,
)
from models._yield_features import date_feature_names, date_features, date_sources
from models.contracts import FIELD_VALUATIONS, check_field_valuations
from models.errors import MissingWeatherError, ModelError, ModelInputError, PriceError
from models.governance import Governance
from models.prices import PriceTable

# isort: split
# re-exported, unused here: importable from models.yield_value as before its column helpers moved to
# models._yield_columns
from models._yield_columns import _CATEGORICAL, _NEVER  # noqa: F401

__all__ = ["QUANTILE_COLUMNS", "WEATHER_PREFIX", "MissingWeatherError", "YieldModelConfig", "YieldModel", "crop_of",
           "known_crop", "value_fields", "score_fields"]

_ALPHAS = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class YieldModelConfig:
    """Hyper-parameters; defaults suit a few thousand field-seasons."""

    n_estimators: int = 200
    learning_rate: float = 0.07
    num_leaves: int = 15
    min_child_samples: int = 20
    reg_lambda: float = 1.0
    seed: int = 42
    num_threads: int = 1
    calibrate: bool = True
    calibration_seasons: int = 3
    min_crop_calibration_rows: int = 40
    exclude: tuple[str, ...] = field(default_factory=tuple)
    #: share of features each tree may use (faster, and less over-fitting to one index)
    feature_fraction: float = 0.5
    max_bin: int = 63
    #: columns starting with these are never features: the crop enters as the ``crop`` category, so a model
    #: fitted with or without a crop-type model scores features built either way
    exclude_prefixes: tuple[str, ...] = ("prob_",)
    #: recalibrate P50 per crop on out-of-season predictions (see the module docstring)
    point_calibration: bool = True
    #: the season year as a numeric feature (a trend; with few seasons it mostly memorises seasons)
    season_year: bool = False
    #: the field's phenology dates as days of the season year, and the spans between them
    #: (:mod:`models._yield_features`)
    date_features: bool = True
    #: read the weather-as-of-date columns (``wx_*``, :mod:`features.weather`) when the training rows carry them
    weather: bool = True


#: prefix of the weather feature family (features.weather.WEATHER_COLUMNS)
WEATHER_PREFIX = "wx_"


def _lgb_params(cfg: YieldModelConfig, alpha: float, n_features: int = 0) -> dict[str, Any]:
    return {"objective": "quantile", "alpha": alpha, "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves, "min_data_in_leaf": cfg.min_child_samples, "lambda_l2": cfg.reg_lambda,
            "seed": cfg.seed, "deterministic": True, "num_threads": cfg.num_threads, "force_col_wise": True,
            "feature_fraction": cfg.feature_fraction if n_features >= 20 else 1.0,
            "verbose": -1, "max_cat_to_onehot": 8, "min_data_per_group": 5, "cat_smooth": 5.0}


def _conformal(scores: np.ndarray) -> float:
    """One-sided split-conformal offset for a 10% miss rate (finite-sample corrected)."""
    n = len(scores)
    level = min(1.0, 0.9 * (1.0 + 1.0 / n))
    return float(np.quantile(scores, level, method="higher"))


class YieldModel:
    """LightGBM quantile yield model, sklearn-style: ``fit`` returns self, fitted attributes end in ``_``."""

    def __init__(self, config: YieldModelConfig | None = None) -> None:
        self.config = config or YieldModelConfig()

    # ------------------------------------------------------------------ matrices
    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        cols = [X[c].to_numpy(dtype="float64", na_value=np.nan) for c in self.numeric_columns_]
        cols += list(date_features(X, self.date_columns_).values())
        if "season_year" in self.feature_names_:
            cols.append(_season_year(X))
        if "as_of_day" in self.feature_names_:
            cols.append(_as_of_day(X))
        crop = crop_of(X)
        region = X["region"].astype("str") if "region" in X.columns else pd.Series([None] * len(X), dtype="str")
        for name, s in (("crop", crop), ("region", region)):
            cats = self.categories_[name]
            # each value's position among the training categories, NaN for one the model never saw (a Categorical
            # built over such values warns that pandas 4 will refuse it)
            codes = pd.Index(cats).get_indexer(s.to_numpy(dtype=object)).astype("float64")
            codes[codes < 0] = np.nan
            cols.append(codes)
        return np.column_stack(cols) if cols else np.empty((len(X), 0))

    def _check_columns(self, X: pd.DataFrame) -> None:
        have = set(_numeric_columns(X, self.config.exclude, self.config.exclude_prefixes))
        missing = [c for c in self.numeric_columns_ if c not in X.columns]
        if "season" not in X.columns:
            missing.append("season")
        if "region" not in X.columns:
            missing.append("region")
        if "as_of_day" in self.feature_names_ and "as_of" not in X.columns:
            missing.append("as_of")
        # a model fitted without weather scores rows that carry it as before (the columns are not read)
        unseen = sorted(c for c in have - set(self.numeric_columns_)
                        if not (c.startswith(WEATHER_PREFIX) and not self.weather_columns))
        wx_missing = [c for c in missing if c.startswith(WEATHER_PREFIX)]
        if wx_missing and len(wx_missing) == len(missing) and not unseen:
            raise MissingWeatherError(model=_NAME, missing=wx_missing)
        if missing or unseen:
            raise ModelInputError(model=_NAME, missing=missing, unseen=unseen)
        crop_of(X)

    @property
    def weather_columns(self) -> list[str]:
        """The weather columns (``wx_*``) the model reads; empty for a model fitted without weather."""
        return [c for c in getattr(self, "numeric_columns_", []) if c.startswith(WEATHER_PREFIX)]

    @property
    def input_columns(self) -> list[str]:
        """The columns :meth:`predict_quantiles` reads (besides a crop column, see :func:`crop_of`)."""
        self._fitted()
        cols = [*self.numeric_columns_, *date_sources(self.date_columns_), "season", "region"]
        return cols + (["as_of"] if "as_of_day" in self.feature_names_ else [])

    def input_table(self, X: pd.DataFrame) -> pd.DataFrame:
        """The inputs the model reads from ``X``'s rows, one column per input (``feature_names_``, in order) — the
        matrix :meth:`predict_quantiles` scores, with ``crop`` and ``region`` as text (a crop the model never saw
        keeps its name): what :mod:`models.stability` profiles at training and compares at scoring."""
        self._fitted()
        self._check_columns(X)
        t = pd.DataFrame(self._matrix(X), columns=self.feature_names_, index=X.index)
        t["crop"] = crop_of(X).to_numpy(dtype=object)
        t["region"] = (X["region"].astype("str").to_numpy(dtype=object) if "region" in X.columns
                       else np.full(len(X), None, dtype=object))
        return t

    def _dataset(self, M: np.ndarray, y: np.ndarray) -> Any:
        """One binned LightGBM dataset, shared by the boosters of every quantile."""
        import lightgbm as lgb

        n_num = len(self.feature_names_) - 2
        return lgb.Dataset(M, label=y, feature_name=self.feature_names_, categorical_feature=[n_num, n_num + 1],
                           params={"verbose": -1, "max_bin": self.config.max_bin, "data_random_seed": self.config.seed,
                                   "min_data_in_bin": 3, "feature_pre_filter": False},
                           free_raw_data=False)

    def _train(self, ds: Any, alpha: float) -> Any:
        import lightgbm as lgb

        params = _lgb_params(self.config, alpha, len(self.feature_names_))
        return lgb.train(params, ds, num_boost_round=self.config.n_estimators)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, X: pd.DataFrame, y: Any, groups: Any = None, *, calibration_target: Any = None) -> YieldModel:
        """Fit on rows with a reported yield; ``groups`` are seasons (default: ``X['season']``).

        ``calibration_target`` (optional, aligned with ``y``): better-measured past yields (e.g. crop
        cuts or loss-adjusted yields) to calibrate P10/P90 against instead of the reported ones,
        where present. Reported yields carry reporting noise, so intervals calibrated on them are
        wider than needed to cover true yields.
        """
        cfg = self.config
        yv = pd.to_numeric(pd.Series(np.asarray(y, dtype="float64")), errors="coerce").to_numpy(dtype="float64")
        if len(yv) != len(X):
            raise ModelError(f"{_NAME}: X has {len(X)} rows but y has {len(yv)}")
        g = np.asarray(X["season"] if groups is None else groups).astype(str)
        keep = np.isfinite(yv) & (yv >= 0)
        self.n_dropped_target_ = int((~keep).sum())
        X = X.loc[keep].reset_index(drop=True)
        yv, g = yv[keep], g[keep]
        cy = yv
        if calibration_target is not None:
            cv = np.asarray(calibration_target, dtype="float64")
            if len(cv) != len(keep):
                raise ModelError(f"{_NAME}: calibration_target has {len(cv)} rows, expected {len(keep)}")
            cy = np.where(np.isfinite(cv[keep]), cv[keep], yv)
        if len(X) < 10:
            raise ModelError(f"{_NAME}: too few rows with a reported yield to fit ({len(X)}, expected >= 10)")
        prefixes = cfg.exclude_prefixes + (() if cfg.weather else (WEATHER_PREFIX,))
        self.numeric_columns_ = _numeric_columns(X, cfg.exclude, prefixes)
        crop = crop_of(X)
        region = X["region"].astype("str") if "region" in X.columns else pd.Series([None] * len(X), dtype="str")
        self.categories_ = {"crop": sorted(crop.dropna().unique().tolist()),
                            "region": sorted(region.dropna().unique().tolist())}
        _season_year(X)  # a season is required either way (it groups the calibration folds)
        self.date_columns_ = date_feature_names(X.columns) if cfg.date_features else []
        derived = (["season_year"] if cfg.season_year else []) + (["as_of_day"] if "as_of" in X.columns else [])
        self.feature_names_ = [*self.numeric_columns_, *self.date_columns_, *derived, "crop", "region"]
        M = self._matrix(X)
        # the quantiles train side by side on threads, each on its own Dataset (features/threads.py: same models)
        self.boosters_ = thread_map(lambda a: self._train(self._dataset(M, yv), a), _ALPHAS)
        self.n_train_ = len(yv)
        self.seasons_ = sorted(set(g.tolist()))
        crops = crop.to_numpy(dtype=object)
        self.crop_scale_ = {c: float(yv[crops == c].mean()) for c in self.categories_["crop"]}
        self.crop_scale_["*"] = float(yv.mean())
        self.point_: dict[str, list[float]] = {}
        self.offsets_ = self._calibrate(M, yv, cy, g, crops) if cfg.calibrate else {}
        return self

    def _calibrate(self, M: np.ndarray, y: np.ndarray, cy: np.ndarray, g: np.ndarray,
                   crops: np.ndarray) -> dict[str, list[float]]:
        """Cross-conformal offsets from leave-one-season-out over the last training seasons (scored on ``cy``)."""
        seasons = self.seasons_
        if len(seasons) < 2:
            return {}
        cal = seasons[-self.config.calibration_seasons:] if len(seasons) > 2 else seasons[-1:]
        lo_s, hi_s, who, mid_s, ys = [], [], [], [], []
        folds = [c for c in cal if (g != c).sum() >= 10 and (g == c).any()]

        def fold(c: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            """The held-out season's P10, P90 (and P50) from models trained without it."""
            tr, te = g != c, g == c
            ds = self._dataset(M[tr], y[tr])
            b10, b90 = self._train(ds, 0.1), self._train(ds, 0.9)
            # num_threads on every call (see features/threads.py: a call without it resets LightGBM's process-wide count
            # while the other folds train — a segfault)
            n = self.config.num_threads
            p50 = self._train(ds, 0.5).predict(M[te], num_threads=n) if self.config.point_calibration else None
            return b10.predict(M[te], num_threads=n), b90.predict(M[te], num_threads=n), p50

        # the calibration folds train side by side on threads (features/threads.py); kept in season order
        for c, (p10, p90, p50) in zip(folds, thread_map(fold, folds)):
            te = g == c
            if p50 is not None:
                mid_s.append(p50)
                ys.append(cy[te])
            p10, p90 = np.minimum(p10, p90), np.maximum(p10, p90)
            scale = np.array([self.crop_scale_.get(k, self.crop_scale_["*"]) for k in crops[te]])
            lo_s.append((p10 - cy[te]) / scale)
            hi_s.append((cy[te] - p90) / scale)
            who.append(crops[te])
        if not lo_s:
            return {}
        lo, hi, cw = np.concatenate(lo_s), np.concatenate(hi_s), np.concatenate(who)
        out = {"*": [_conformal(lo), _conformal(hi)]}
        for c in self.categories_["crop"]:
            m = cw == c
            if m.sum() >= self.config.min_crop_calibration_rows:
                out[c] = [_conformal(lo[m]), _conformal(hi[m])]
        self.n_calibration_ = len(lo)
        if mid_s:
            self.point_ = self._point_fit(np.concatenate(mid_s), np.concatenate(ys), cw)
        return out

    def _point_fit(self, p50: np.ndarray, y: np.ndarray, crops: np.ndarray) -> dict[str, list[float]]:
        """Per-crop least-squares ``y ≈ a + b·p50`` on out-of-season predictions, b clipped to [0, 1.2]."""
        def fit(p: np.ndarray, t: np.ndarray) -> list[float]:
            var = float(((p - p.mean()) ** 2).sum())
            b = float(((p - p.mean()) * (t - t.mean())).sum() / var) if var > 0 else 0.0
            b = min(max(b, 0.0), 1.2)
            return [float(t.mean() - b * p.mean()), b]

        out = {"*": fit(p50, y)}
        for c in self.categories_["crop"]:
            m = crops == c
            if m.sum() >= self.config.min_crop_calibration_rows:
                out[c] = fit(p50[m], y[m])
        return out

    def _point(self, p50: np.ndarray, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) of the point recalibration for each row (identity without one)."""
        point = getattr(self, "point_", {})
        if not point:
            return np.zeros(len(p50)), np.ones(len(p50))
        ab = np.array([point.get(c, point["*"]) for c in crops], dtype="float64").reshape(-1, 2)
        return ab[:, 0], ab[:, 1]

    def _fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise ModelError(f"{_NAME}: model is not fitted (call fit or load first)")

    def predict_quantiles(self, X: pd.DataFrame) -> pd.DataFrame:
        """P10/P50/P90 yield in t/ha, calibrated, sorted per row, never negative; index of ``X``."""
        self._fitted()
        self._check_columns(X)
        M = self._matrix(X)
        raw = np.column_stack([b.predict(M, num_threads=self.config.num_threads) for b in self.boosters_])
        crops = crop_of(X).to_numpy(dtype=object)
        a, b = self._point(raw[:, 1], crops)
        raw[:, 1] = a + b * raw[:, 1]
        if self.offsets_:
            pooled = self.offsets_["*"]
            lo = np.array([self.offsets_.get(c, pooled)[0] for c in crops])
            hi = np.array([self.offsets_.get(c, pooled)[1] for c in crops])
            scale = np.array([self.crop_scale_.get(c, self.crop_scale_["*"]) for c in crops])
            raw[:, 0] -= lo * scale
            raw[:, 2] += hi * scale
        q = np.clip(np.sort(raw, axis=1), 0.0, None)
        return pd.DataFrame(q, columns=list(QUANTILE_COLUMNS), index=X.index)

    def explain(self, X_rows: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions to the P50 (LightGBM ``pred_contrib``) for these rows only.

        With a point recalibration (``a + b·P50``) the contributions are scaled by ``b`` and
        ``expected_value`` is ``a + b·expected``, so each row still adds up to its P50 (before the
        final sort and the floor at zero).
        """
        self._fitted()
        self._check_columns(X_rows)
        contrib = np.asarray(self.boosters_[1].predict(self._matrix(X_rows), pred_contrib=True,
                                                       num_threads=self.config.num_threads), dtype="float64")
        a, b = self._point(contrib[:, -1], crop_of(X_rows).to_numpy(dtype=object))
        contrib = contrib * b[:, None]
        contrib[:, -1] += a
        return pd.DataFrame(contrib, columns=[*self.feature_names_, "expected_value"], index=X_rows.index)

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature in the P50 booster, largest first."""
        self._fitted()
        gain = self.boosters_[1].feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_, name="gain").sort_values(ascending=False, kind="stable")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to a folder: three LightGBM text models and ``meta.json``."""
        self._fitted()
        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        for a, b in zip(_ALPHAS, self.boosters_):
            (d / f"booster_p{round(a * 100):02d}.txt").write_text(b.model_to_string(num_iteration=-1))
        meta = {"format": "agcredit-yield-model/1", "config": asdict(self.config),
                "numeric_columns": self.numeric_columns_, "date_columns": self.date_columns_,
                "weather_columns": self.weather_columns,
                "categories": self.categories_,
                "feature_names": self.feature_names_, "offsets": self.offsets_, "point": self.point_, "crop_scale": self.crop_scale_,
                "n_train": self.n_train_, "n_dropped_target": self.n_dropped_target_, "seasons": self.seasons_,
                "n_calibration": getattr(self, "n_calibration_", 0)}
        (d / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return d

    @classmethod
    def load(cls, path: str | Path) -> YieldModel:
        """Read a model written by :meth:`save`."""
        import lightgbm as lgb

        d = Path(path)
        meta = json.loads((d / "meta.json").read_text())
        if meta.get("format") != "agcredit-yield-model/1":
            raise ModelError(f"{_NAME}: {d} is not a saved yield model (format {meta.get('format')!r})")
        cfg = dict(meta["config"])
        cfg["exclude"] = tuple(cfg.get("exclude", ()))
        if "exclude_prefixes" in cfg:
            cfg["exclude_prefixes"] = tuple(cfg["exclude_prefixes"])
        m = cls(YieldModelConfig(**cfg))
        m.boosters_ = [lgb.Booster(model_str=(d / f"booster_p{round(a * 100):02d}.txt").read_text()) for a in _ALPHAS]
        m.numeric_columns_ = list(meta["numeric_columns"])
        m.date_columns_ = list(meta.get("date_columns", []))
        m.categories_ = {k: list(v) for k, v in meta["categories"].items()}
        m.feature_names_ = list(meta["feature_names"])
        m.offsets_ = {k: list(v) for k, v in meta["offsets"].items()}
        m.point_ = {k: [float(x) for x in v] for k, v in meta.get("point", {}).items()}
        m.crop_scale_ = dict(meta["crop_scale"])
        m.n_train_, m.n_dropped_target_ = int(meta["n_train"]), int(meta["n_dropped_target"])
        m.seasons_ = list(meta["seasons"])
        m.n_calibration_ = int(meta.get("n_calibration", 0))
        return m


# ---------------------------------------------------------------------- valuation
def _floor_value(area: float, yld: float, price: int) -> int:
    """floor(area × yield × price), exact on the decimal representations of the inputs."""
    return int((Decimal(repr(float(area))) * Decimal(repr(float(yld))) * price).to_integral_value(ROUND_FLOOR))


def value_fields(features: pd.DataFrame, quantiles: pd.DataFrame, prices: PriceTable, *, model_name: str,
                 model_version: str, in_scope: Any = True, currency: str | None = None) -> pd.DataFrame:
    """FieldValuations: planted area × yield quantile × price (integer minor units, floored once).

    ``features`` carries ``field_id, season, as_of, region`` and a crop (see :func:`crop_of`) and
    ``planted_area_ha`` (``field_area_ha`` where it is empty); ``quantiles`` is aligned row by row
    (``predict_quantiles``). Fallow fields are worth nothing. A missing price is a PriceError naming
    crop, region and season; all prices must be in one currency (``currency`` if given).
    """
    if len(features) != len(quantiles):
        raise ModelError(f"value_fields: {len(features)} feature rows but {len(quantiles)} quantile rows")
    f = features.reset_index(drop=True)
    q = quantiles.reset_index(drop=True)
    crop = crop_of(f).reset_index(drop=True)
    region = f["region"].astype("str")
    area = f["planted_area_ha"].astype("float64") if "planted_area_ha" in f.columns else f["field_area_ha"]
    if "field_area_ha" in f.columns:
        area = area.fillna(f["field_area_ha"].astype("float64"))
    fallow = (crop == "fallow").to_numpy()
    keys = pd.DataFrame({"crop": crop, "region": region, "season": f["season"].astype("str")})
    found = prices.lookup_many(keys.loc[~fallow])
    currencies = sorted({p.currency for p in found} | ({currency} if currency else set()))
    if len(currencies) > 1:
        raise PriceError(problem="currencies never mix in one valuation, found", offenders=tuple(currencies))
    cur = currencies[0] if currencies else (currency or prices.currency_of(str(region.iloc[0])))
    n = len(f)
    qv = np.array(q[list(QUANTILE_COLUMNS)].to_numpy(dtype="float64"), copy=True)
    av = area.to_numpy(dtype="float64")
    bad = ~np.isfinite(av) | ~np.isfinite(qv).all(axis=1)
    if bad.any():
        raise ModelError(f"value_fields: field {f.at[int(np.flatnonzero(bad)[0]), 'field_id']} has no area or no "
                         "yield quantiles")
    price = np.zeros(n, dtype="int64")
    moist = np.zeros(n, dtype="float64")
    src = np.full(n, "fallow: no crop to value", dtype=object)
    live = np.flatnonzero(~fallow)
    price[live] = [p.price_per_t for p in found]
    moist[live] = [p.moisture_basis_pct for p in found]
    src[live] = [p.source_with_date for p in found]
    qv[fallow] = 0.0
    values = [[_floor_value(a, y, int(pr)) for a, y, pr in zip(av, qv[:, k], price, strict=True)]
              for k in range(3)]
    scope = np.broadcast_to(np.asarray(in_scope, dtype=bool), (n,))
    rows = {
        "field_id": f["field_id"].to_numpy(), "season": f["season"].astype("str").to_numpy(),
        "as_of": f["as_of"].to_numpy(), "crop": crop.to_numpy(), "region": region.to_numpy(), "area_ha": av,
        "yield_p10_t_ha": qv[:, 0], "yield_p50_t_ha": qv[:, 1], "yield_p90_t_ha": qv[:, 2],
        "moisture_basis_pct": moist, "currency": cur, "price_per_t": price,
        "value_p10": values[0], "value_p50": values[1], "value_p90": values[2], "price_source": src,
        "model_name": model_name, "model_version": str(model_version), "in_scope": scope.copy(),
    }
    out = pd.DataFrame(rows, columns=FIELD_VALUATIONS.names)
    out["as_of"] = pd.to_datetime(out["as_of"])
    for c in ("price_per_t", "value_p10", "value_p50", "value_p90"):
        out[c] = out[c].astype("int64")
    out["in_scope"] = out["in_scope"].astype(bool)
    return check_field_valuations(out, where="value_fields")


def score_fields(model: YieldModel, features: pd.DataFrame, prices: PriceTable, *, model_name: str,
                 model_version: str, governance: Governance, checkpoint: str,
                 currency: str | None = None) -> pd.DataFrame:
    """Predict quantiles, flag rows outside the version's validated scope, and value them (FieldValuations).

    ``checkpoint``: the checkpoint label of the rows; a version that names the days its checkpoints were validated
    from (``Governance.checkpoint_dates``) takes each row's own from its crop, region, season and as-of date instead.
    """
    q = model.predict_quantiles(features)
    region = features["region"] if "region" in features.columns else pd.Series([None] * len(features))
    own = bool(governance.checkpoint_dates)
    if own and not {"season", "as_of"} <= set(features.columns):  # scope is each row's own: never a silent guess
        raise ModelInputError(model=model_name, missing=sorted({"season", "as_of"} - set(features.columns)), unseen=[])
    scope = governance.scope_mask(crop_of(features), region, checkpoint,
                                  seasons=features["season"] if own else None,
                                  as_of=features["as_of"] if own else None)
    return value_fields(features, q, prices, model_name=model_name, model_version=model_version, in_scope=scope,
                        currency=currency)
