"""The shadow report's outcomes (:mod:`pipelines.shadow_report`, ``models shadow --reported``): each side's field
yield predictions as its record's body kept them, against the season's reported yields — P50 absolute error, share
below P10 and (where both sides' bodies record it: body schema /2, since 2026-12-06, ninth) share above P90 per dated
run, each side and the paired difference (shadow − in force) with a 95% bootstrap interval, farmers drawn whole
(:mod:`pipelines.evaluation._bootstrap`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["yield_pairs", "yield_figures"]

_QUANTILES = ("yield_p10_t_ha", "yield_p50_t_ha", "yield_p90_t_ha")
_NAN = float("nan")


def _field_predictions(body: dict[str, Any]) -> dict[str, dict[str, float]]:
    """A body's fields' recorded yield quantiles (t/ha) by field id: the model's own (``model_yield_*``, at the model's
    moisture basis, as the reported yields it was trained on) where the body records them, else the values the
    decision used (``yield_*``: converted to the price's moisture basis, or the pre-season rule's history ×
    haircut — older bodies record only these; P90 the model's own only, recorded since body schema /2); a field
    without a finite P10 and P50 is left out."""

    def finite(v: Any) -> bool:
        return isinstance(v, int | float) and bool(np.isfinite(v))

    out: dict[str, dict[str, float]] = {}
    for f in body.get("fields") or []:
        if not isinstance(f, dict) or f.get("field_id") is None:
            continue
        q = {k: float(f[f"model_{k}"] if finite(f.get(f"model_{k}")) else f[k]) for k in _QUANTILES
             if finite(f.get(f"model_{k}")) or finite(f.get(k))}
        if "yield_p50_t_ha" in q and "yield_p10_t_ha" in q:
            out.setdefault(str(f["field_id"]), q)
    return out


def yield_pairs(pairs: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """One row per (record, field) of the paired records (``pairs``: ``body_base``, ``body_shadow`` dicts, with
    season, as_of, kind, record_id, application_id, farmer_token) whose field both sides predicted and whose
    season's yield was reported (``reported``: field_id, season, reported_yield_t_ha, each field-season once): the
    checkpoint of the record, each side's P10, P50 and P90 (NaN where its body records none) and the reported yield;
    sorted by checkpoint, date, application and field (the order the bootstrap draws in)."""
    rep = {(str(r.field_id), str(r.season)): float(r.reported_yield_t_ha)
           for r in reported.itertuples(index=False)}
    rows = []
    for r in pairs.itertuples(index=False):
        a, b = _field_predictions(r.body_base), _field_predictions(r.body_shadow)
        cp = str((r.body_base.get("provenance") or {}).get("checkpoint") or "none")
        for fid in sorted(set(a) & set(b)):
            y = rep.get((fid, str(r.season)))
            if y is None or not np.isfinite(y):
                continue
            rows.append({"checkpoint": cp, "as_of": str(r.as_of), "kind": str(r.kind),
                         "application_id": str(r.application_id), "farmer_token": str(r.farmer_token),
                         "field_id": fid, "reported": y, "p10_base": a[fid]["yield_p10_t_ha"],
                         "p50_base": a[fid]["yield_p50_t_ha"], "p90_base": a[fid].get("yield_p90_t_ha", _NAN),
                         "p10_shadow": b[fid]["yield_p10_t_ha"], "p50_shadow": b[fid]["yield_p50_t_ha"],
                         "p90_shadow": b[fid].get("yield_p90_t_ha", _NAN)})
    cols = ["checkpoint", "as_of", "kind", "application_id", "farmer_token", "field_id", "reported", "p10_base",
            "p50_base", "p90_base", "p10_shadow", "p50_shadow", "p90_shadow"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["checkpoint", "as_of", "kind", "application_id", "field_id"],
                           kind="mergesort").reset_index(drop=True)


def yield_figures(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per dated run (kind, as-of date; its records' checkpoint) of :func:`yield_pairs`' rows — a field counted once
    per run, never pooled across the runs of one checkpoint: ``pairs`` (record-field pairs), ``fields`` (distinct
    fields), farmers, each side's mean P50 absolute error (t/ha) and share of reported yields below P10, and the
    paired differences (shadow − in force) with their 95% percentile bootstrap interval, the farmers drawn whole
    (:mod:`pipelines.evaluation._bootstrap`; each run its own stream, fixed by its kind and date — :func:`_stream` —
    so a run's interval does not move when another run's rows are added); ``above_p90`` likewise over the pairs whose
    both sides record a P90 (their count ``pairs``; None when none does: bodies written before schema /2), from the
    same draws."""
    from pipelines.evaluation._bootstrap import group_codes, resample_counts

    out = []
    for (as_of, kind), g in rows.groupby(["as_of", "kind"], sort=True):
        y = g["reported"].to_numpy(float)
        err_b = np.abs(g["p50_base"].to_numpy(float) - y)
        err_s = np.abs(g["p50_shadow"].to_numpy(float) - y)
        below_b = (y < g["p10_base"].to_numpy(float)).astype(float)
        below_s = (y < g["p10_shadow"].to_numpy(float)).astype(float)
        groups = group_codes(g["farmer_token"].astype(str).to_numpy())
        w = resample_counts(len(g), np.arange(len(g)), stream=_stream(str(kind), str(as_of)), groups=groups
                            ).astype(np.float64)
        cps = sorted(set(g["checkpoint"].astype(str)))
        fig: dict[str, Any] = {"kind": str(kind), "as_of": str(as_of), "checkpoint": ", ".join(cps),
                               "pairs": len(g), "fields": int(g["field_id"].nunique()),
                               "farmers": int(groups.max()) + 1}
        for key, xb, xs in (("p50_abs_error_t_ha", err_b, err_s), ("below_p10", below_b, below_s)):
            fig[key] = _paired(xb, xs, w)
        fig["above_p90"] = _above_p90(g, y, w)
        out.append(fig)
    return out


def _stream(kind: str, as_of: str) -> int:
    """A dated run's bootstrap stream (a spawn key of the bootstrap's seed), from its kind and date alone."""
    import hashlib

    return int(hashlib.sha256(f"{kind}|{as_of}".encode()).hexdigest()[:8], 16) + 1


def _above_p90(g: pd.DataFrame, y: np.ndarray, w: np.ndarray) -> dict[str, Any] | None:
    """Each side's share of reported yields above P90, their paired difference and its interval (``w``: the
    bootstrap's draw counts of ``g``'s rows), over the rows whose both sides record a P90; None when none does."""
    if "p90_base" not in g or "p90_shadow" not in g:
        return None
    p90_b, p90_s = g["p90_base"].to_numpy(float), g["p90_shadow"].to_numpy(float)
    has = np.isfinite(p90_b) & np.isfinite(p90_s)
    if not has.any():
        return None
    xb, xs = (y[has] > p90_b[has]).astype(float), (y[has] > p90_s[has]).astype(float)
    return {"pairs": int(has.sum()), **_paired(xb, xs, w[:, has])}


def _paired(xb: np.ndarray, xs: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """One figure's means each side (in force ``xb``, shadow ``xs``), their difference and the difference's 95%
    interval over the bootstrap's draw counts ``w`` of the same rows (a resample drawing none of them: NaN, left out)."""
    from pipelines.evaluation._bootstrap import percentile_interval

    tot = w.sum(axis=1)
    tot[tot == 0] = np.nan
    diff = (w * xs).sum(axis=1) / tot - (w * xb).sum(axis=1) / tot
    return {"in_force": round(float(xb.mean()), 6), "shadow": round(float(xs.mean()), 6),
            "difference": round(float(xs.mean() - xb.mean()), 6), "interval": percentile_interval(diff)}
