"""Input stability of a model in production: the population stability index (PSI) of each input the model reads,
between the rows it was trained on and the rows it scores now.

A model-risk team's ongoing monitoring asks of a credit model in use whether the population it scores still looks
like the one it learned from: a season drier than every training season, a region or crop mix the model rarely saw,
a feature whose scale changed with an imagery processing baseline. At registration the yield model's training rows
are summarised per checkpoint (:func:`input_profile`: each input's deciles, or a bin per value when it has few, and
the share of missing values) and kept with the version (``input_profile.json``); :func:`stability_table` compares a
features table against the profile of the checkpoint nearest its date.

PSI = Σ (a − e) · ln(a / e) over the bins, e the training share and a the scored share (each floored at
:data:`SHARE_FLOOR`, so an empty bin counts and never divides by zero). The conventional reading: below
:data:`PSI_WATCH` stable, from it to :data:`PSI_SHIFT` worth watching, above it shifted. Two samples of one population
still differ: the PSI sampling alone gives is about (k − 1)(1/n + 1/m) for k bins, n scored and m training rows (the
chi-square approximation), printed beside each PSI as its *floor*; below a few hundred rows the empty bins' floor
shares make chance PSIs larger still, so a comparison needs at least half as many rows as the smallest training
season had (:func:`min_rows`).

Seasons differ. Each season has its own weather and its own clear acquisitions, so one season's rows lie apart from
the pooled rows of the others: on the synthetic demo county every training season, held against the other five, has
dozens of inputs above 0.25. So the profile keeps, per input, each training season's own PSI against the other
seasons' rows (``season_psi``), and an input is ``unusual`` when its PSI is above the threshold *and* above every
training season's. With S training seasons an ordinary season is above all S on about one input in S + 1 by chance,
so one input proves nothing; the season as a whole is judged by the count: each training season, held out, is counted
the same way against the others (``held_out_unusual``), and a season with more unusual inputs than any training season
had is unlike every season the model learned from (the command's exit 1; by chance alone about one ordinary season in
S + 1 — the rule is as fine as the seasons the model has). An input that is one value per season and region in every
training season (a season's weather as of the date) is compared by that value instead: ``in range`` of the training
seasons' values or ``outside`` them (the model extrapolates; by chance, two ordinary seasons in S + 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PSI_WATCH", "PSI_SHIFT", "SHARE_FLOOR", "NOT_COMPARED", "PROFILE_FORMAT", "feature_profile",
           "input_profile", "nearest_checkpoint", "min_rows", "psi", "stability_table", "verdict"]

PSI_WATCH = 0.10
PSI_SHIFT = 0.25
#: the smallest share a bin counts with (an empty bin, in training or scoring, still counts)
SHARE_FLOOR = 1e-4
#: a number with at most this many distinct training values gets a bin starting at each (not deciles)
FEW_VALUES = 10
#: inputs that name the season and the date, not the population: a new season is always outside the training ones
NOT_COMPARED = ("season_year", "as_of_day")
#: the profile's layout version (``input_profile.json`` ``format``)
PROFILE_FORMAT = 1
#: the fewest scored rows compared whatever the training seasons' size
MIN_ROWS = 30
#: two PSIs this close (relative) are one value rounded apart: a training season held out is not unusual by a tie
TIE_RTOL = 1e-9


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def feature_profile(values: Any, seasons: Any = None, regions: Any = None, *,
                    keys: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """One input's training distribution: text by ``levels`` with their shares; numbers by ``edges`` (the training
    deciles, repeated values merged; an input of few values gets a bin starting at each value and one above the
    largest, so a value never seen falls beside its neighbours or above them) and the share of each bin they bound;
    ``missing``: the share of empty values; ``n``: rows.

    With each row's ``seasons`` (and ``regions``) two more things are kept. ``season_psi``: each training season's
    own PSI against the other seasons' rows, on the same bins — how far one season's rows usually lie from the rest.
    And a number that is one value in every season and region — a season's weather as of the date, the same for every
    field — is ``season_level`` with each one's value (``season_values``): a new season's one value is compared with
    the range of the training seasons', not by its PSI (one value is a point mass: its PSI is large whatever the
    value). ``keys``: :func:`_keys` of the seasons and regions, made once for a table's every input."""
    s = pd.Series(values).reset_index(drop=True)
    n = len(s)
    if n == 0:
        raise ValueError("no rows to profile")
    out: dict[str, Any]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        present = s.astype("object").where(s.notna(), None).dropna().astype(str)
        counts = present.value_counts()
        levels = sorted(counts.index.tolist())
        out = {"kind": "levels", "levels": levels, "shares": [float(counts[lv] / n) for lv in levels],
               "missing": float(1 - len(present) / n), "n": n}
    else:
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        fin = _finite(v)
        out = {"kind": "bins", "missing": float(1 - len(fin) / n), "n": n, "edges": [], "shares": [0.0]}
        if len(fin):
            uniq = np.unique(fin)
            # few values (a count, a flag): a bin starting at each, and one above the largest; else the deciles
            edges = (np.r_[uniq, np.nextafter(uniq[-1], np.inf)] if len(uniq) <= FEW_VALUES
                     else np.unique(np.quantile(fin, np.linspace(0.0, 1.0, 11)[1:-1])))
            counts = np.bincount(np.searchsorted(edges, fin, side="right"), minlength=len(edges) + 1)
            out.update(edges=[float(e) for e in edges], shares=[float(c / n) for c in counts])
    if keys is None:
        if seasons is None:
            return out
        keys = _keys(seasons, regions)
    season_codes, season_names, places = keys
    if out["kind"] == "bins":
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        v = np.where(np.isfinite(v), v, np.nan)
        order = np.argsort(places, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(places[order]) != 0])
        lo, hi = np.fmin.reduceat(v[order], starts), np.fmax.reduceat(v[order], starts)
        if len(starts) >= 2 and np.isfinite(lo).any() and not (lo < hi).any():  # one value in every season, region
            out.update(kind="season_level", season_values=[float(x) for x in sorted(lo[np.isfinite(lo)])])
            return out
    if len(season_names) < 2:
        return out
    idx = _bin_index(out, s)
    k = len(out["shares"]) + 2
    table = np.bincount(season_codes * k + idx, minlength=len(season_names) * k).reshape(len(season_names), k)
    table = table.astype("float64")
    total = table.sum(axis=0)
    season_psi = {}
    for i, name in enumerate(season_names):
        own, rest = table[i], total - table[i]
        if own.sum() and rest.sum():
            season_psi[str(name)] = psi(rest / rest.sum(), own / own.sum())
    out["season_psi"] = season_psi
    return out


def _keys(seasons: Any, regions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(season codes, season names, season-and-region codes) of each row."""
    codes, names = _factorize(seasons)
    return codes, names, _factorize(_season_region(seasons, regions))[0]


def _season_region(seasons: Any, regions: Any) -> np.ndarray:
    s = pd.Series(np.asarray(seasons, dtype=object)).astype(str)
    if regions is None:
        return s.to_numpy(dtype=object)
    return (s + "|" + pd.Series(np.asarray(regions, dtype=object)).astype(str)).to_numpy(dtype=object)


def _factorize(groups: Any) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sorted names) of a key per row."""
    codes, names = pd.factorize(pd.Series(np.asarray(groups, dtype=object)).astype(str), sort=True)
    return codes, np.asarray(names, dtype=object)


def _bin_index(profile: Mapping[str, Any], values: Any) -> np.ndarray:
    """Each value's bin in the profile's layout: its bins (levels, or the intervals its edges bound), then ``other``
    (a level the training rows never had), then ``missing``."""
    s = pd.Series(values).reset_index(drop=True)
    nb = len(profile["shares"])
    if profile["kind"] == "levels":
        text = s.astype("object").where(s.notna(), None)
        where = {lv: i for i, lv in enumerate(profile["levels"])}
        return np.array([nb + 1 if t is None else where.get(str(t), nb) for t in text], dtype=np.int64)
    v = s.to_numpy(dtype="float64", na_value=np.nan)
    idx = np.searchsorted(np.asarray(profile["edges"], dtype="float64"), np.nan_to_num(v), side="right")
    return np.where(np.isfinite(v), idx, nb + 1).astype(np.int64)


def _scored_shares(profile: Mapping[str, Any], values: Any) -> tuple[list[float], list[float], list[str]]:
    """(training shares, scored shares, bin labels) in the profile's layout, plus a bin for levels the training
    rows never had (``other``, naming up to three) and one for missing values."""
    s = pd.Series(values).reset_index(drop=True)
    n = len(s)
    nb = len(profile["shares"])
    expected = [*profile["shares"], 0.0, float(profile["missing"])]
    idx = _bin_index(profile, s)
    actual = [float(c / n) for c in np.bincount(idx, minlength=nb + 2)]
    if profile["kind"] == "levels":
        unseen = s[idx == nb].astype(str).value_counts()
        names = sorted(unseen.index, key=lambda k: (-unseen[k], k))
        other = "other" + (f" ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})" if names else "")
        labels = [*(str(lv) for lv in profile["levels"]), other, "missing"]
    else:
        edges = profile["edges"]
        bounds = ["-inf", *(f"{e:.4g}" for e in edges), "inf"]
        labels = [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(nb)] + ["other", "missing"]
        if len(edges) >= 2 and edges[-1] == np.nextafter(edges[-2], np.inf):  # a bin per value and one above
            labels[nb - 2], labels[nb - 1] = f"= {edges[-2]:.4g}", f"> {edges[-2]:.4g}"
    return expected, actual, labels


def _season_level(profile: Mapping[str, Any], values: Any, keys: Any) -> dict[str, Any] | None:
    """A season-level input's comparison: each scored season's value against the training seasons' range (``in
    range`` / ``outside``); scored values that vary within a season and region are ``outside`` when any lies beyond
    that range, else None (then compared by their PSI)."""
    v = pd.Series(np.asarray(values, dtype="float64"))
    v = v.where(np.isfinite(v))
    if not v.notna().any():
        return None
    seen = profile["season_values"]
    lo, hi = min(seen), max(seen)
    got = sorted(float(x) for x in v.dropna().unique())
    beyond = [x for x in got if x < lo or x > hi]
    one_each = not (v.groupby(np.asarray(keys, dtype=object)).nunique() > 1).any()
    if not one_each and not beyond:
        return None
    shown = beyond if not one_each else got
    where = ", ".join(f"{x:.4g}" for x in shown[:3]) + (", …" if len(shown) > 3 else "")
    what = "season value" if one_each else f"{len(beyond)} values beyond, e.g."
    return {"verdict": "outside" if beyond else "in range",
            "largest_move": f"{what} {where} against the training seasons' {lo:.4g} to {hi:.4g} ({len(seen)} "
                            "seasons)"}


def psi(expected: Any, actual: Any) -> float:
    """Σ (a − e) · ln(a / e), each share floored at :data:`SHARE_FLOOR`; bins empty on both sides add nothing."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        if e <= 0 and a <= 0:
            continue
        e2, a2 = max(float(e), SHARE_FLOOR), max(float(a), SHARE_FLOOR)
        total += (a2 - e2) * math.log(a2 / e2)
    return total


def verdict(value: float, seasons_max: float = float("nan")) -> str:
    """``stable`` below :data:`PSI_WATCH`, ``watch`` below :data:`PSI_SHIFT`, else ``shifted`` — or ``unusual`` when
    it is also above ``seasons_max``, the largest PSI any training season had against the others (the season is
    further from the training rows than any of them was: the model scores a population it has not seen)."""
    if value < PSI_WATCH:
        return "stable"
    if value < PSI_SHIFT:
        return "watch"
    return "unusual" if value > seasons_max else "shifted"


def input_profile(frames: Mapping[str, tuple[pd.DataFrame, float, Any, Any]], *, model: str) -> dict[str, Any]:
    """The training profile of a model's inputs: ``frames`` maps a checkpoint to (the model's input table of its
    training rows — one column per input, as the model reads it —, the median days from 1 January of the season to
    the rows' date, each row's season, each row's region; either may be None). Per checkpoint also the rows of each
    training season and ``held_out_unusual``: how many inputs each season, held out, has unusual against the others
    (:func:`verdict` with the other seasons' largest PSI)."""
    checkpoints = {}
    for cp, (table, day, seasons, regions) in frames.items():
        keys = None if seasons is None else _keys(seasons, regions)  # once for every input
        feats = {str(c): feature_profile(table[c], keys=keys) for c in table.columns}
        entry: dict[str, Any] = {"as_of_day": float(day), "rows": int(len(table)), "features": feats}
        if seasons is not None:
            counts = pd.Series(np.asarray(seasons, dtype=object)).astype(str).value_counts()
            entry["season_rows"] = {str(k): int(counts[k]) for k in sorted(counts.index)}
            names = sorted(entry["season_rows"])
            if len(names) >= 2:
                held = dict.fromkeys(names, 0)
                for name, fp in feats.items():
                    sp = fp.get("season_psi") or {}
                    if name in NOT_COMPARED or len(sp) < 2:
                        continue
                    for season, value in sp.items():
                        others = max(x for t, x in sp.items() if t != season)
                        # a tie is no excess: PSI is symmetric, so two seasons' PSIs against each other are one
                        # number, which floating point may round apart in the last digit
                        held[season] += (verdict(value, others) == "unusual"
                                         and not math.isclose(value, others, rel_tol=TIE_RTOL))
                entry["held_out_unusual"] = held
        checkpoints[cp] = entry
    return {"format": PROFILE_FORMAT, "model": model, "checkpoints": checkpoints}


def min_rows(profile: Mapping[str, Any], checkpoint: str) -> int:
    """The fewest scored rows :func:`stability_table` compares: half the smallest training season's rows (the
    seasons' own PSIs come from that many), at least :data:`MIN_ROWS`."""
    sizes = list((profile["checkpoints"][checkpoint].get("season_rows") or {}).values())
    return max(MIN_ROWS, (min(sizes) + 1) // 2 if sizes else MIN_ROWS)


def nearest_checkpoint(profile: Mapping[str, Any], as_of_day: float) -> str:
    """The profiled checkpoint whose training rows' date is nearest ``as_of_day`` (ties: the earlier)."""
    cps = profile["checkpoints"]
    return min(cps, key=lambda cp: (abs(cps[cp]["as_of_day"] - as_of_day), cps[cp]["as_of_day"]))


def stability_table(profile: Mapping[str, Any], checkpoint: str, table: pd.DataFrame, seasons: Any = None,
                    regions: Any = None) -> pd.DataFrame:
    """Per input of ``checkpoint``'s profile that ``table`` holds (the model's inputs of the scored rows, each row's
    ``seasons`` and ``regions``): the PSI, its sampling floor, the largest PSI a training season had against the
    others (``seasons_max``), the verdict (:func:`verdict`) and the bin whose share moved most (training → scored); a
    season-level input (:func:`feature_profile`) is ``in range`` or ``outside`` the training seasons' values instead
    (no PSI). Inputs of :data:`NOT_COMPARED` are left out; rows in the profile's order."""
    prof = profile["checkpoints"][checkpoint]
    m, n = int(prof["rows"]), len(table)
    keys = _season_region(seasons if seasons is not None else np.zeros(n, dtype=int), regions)
    rows = []
    for name, fp in prof["features"].items():
        if name in NOT_COMPARED or name not in table.columns:
            continue
        if fp["kind"] == "season_level":
            cmp = _season_level(fp, table[name], keys)
            if cmp is not None:
                rows.append({"input": name, "psi": np.nan, "floor": np.nan, "seasons_max": np.nan, **cmp,
                             "training_share": np.nan, "scored_share": np.nan})
                continue
        e, a, labels = _scored_shares(fp, table[name])
        value = psi(e, a)
        k = sum(1 for x, y in zip(e, a, strict=True) if x > 0 or y > 0)
        floor = max(k - 1, 0) * (1 / max(n, 1) + 1 / max(m, 1))
        sp = fp.get("season_psi") or {}
        usual = max(sp.values()) if len(sp) >= 2 else np.nan
        # the bin whose share moved most (none moved: the training rows' largest bin)
        i = max(range(len(e)), key=lambda j: (abs(a[j] - e[j]), e[j], -j))
        rows.append({"input": name, "psi": value, "floor": floor, "seasons_max": usual,
                     "verdict": verdict(value, usual), "largest_move": labels[i], "training_share": e[i],
                     "scored_share": a[i]})
    return pd.DataFrame(rows, columns=["input", "psi", "floor", "seasons_max", "verdict", "largest_move",
                                       "training_share", "scored_share"])
