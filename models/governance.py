"""Governance record of a registered model version (what model risk asks for).

Each version carries: its validated scope (crops × regions × as-of checkpoints), its
evaluation metrics, the minimum metrics it had to meet (each a comparison such as
``r2_maize >= 0.45`` or ``rmse_pct_maize <= 15``), and whether the metrics come from
real or synthetic data (or *unlabelled* data: a county whose ``county.json`` has no ``synthetic`` flag, never
recorded as real). Scoring a field outside the scope is flagged (``in_scope``), and
the policy REFERs it; promoting a version that fails its minimum metrics needs a reason and a second operator's
approval (``models.registry.promote``).

A version validated at several as-of checkpoints is gated at each of them, not at the end of season only: its
minimum metrics name each checkpoint's metric (a crop-type version: ``accuracy_end >= 0.75``, ``macro_f1_end >= 0.6``,
``ece_end <= 0.15``, and for every in-season checkpoint it recorded held-out metrics for — ``emergence``, ``mid``,
``pre_harvest`` — ``accuracy_<cp> >= 0.6``, ``macro_f1_<cp> >= 0.55``, ``ece_<cp> <= 0.15``; the thresholds and why are
``pipelines.train_crop.IN_SEASON_MINIMUM_METRICS``; a yield-value version trained since in-season gates: its end of
season's unprefixed, ``skill_r2_<crop> >= -0.05`` …, and each in-season checkpoint's with the checkpoint as a prefix,
as its held-out metrics are named — ``mid_skill_r2_<crop> >= -0.05``, ``mid_below_p10_all`` …,
``pipelines.train_yield.yield_minimum_metrics``). :meth:`Governance.failures` reads every one of them. A checkpoint
in its scope without held-out metrics is not taken as ungated: a version whose minimum metrics are named per checkpoint
fails at each checkpoint of its scope that has none of them (:meth:`Governance.unmeasured_checkpoints`; a registered
version whose record did not require them included; a yield-value version at each checkpoint its minimum metrics name),
so ``promote`` refuses it, or a forced promotion records it. A version registered with minimum metrics for its end of
season only (a yield-value version trained before) is judged on those, as it was registered.

A version trained on a county also carries the dates its checkpoints were validated at
(``checkpoint_dates``: per region, per checkpoint, the season day from which it applies — ``*`` for every crop,
or a crop's own earlier day): a field is then in scope by its own crop and the as-of date alone
(:meth:`Governance.row_checkpoints`), whatever else is scored with it. Versions without them (trained before, or
from tables) take the checkpoint label the caller gives.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ContractError

__all__ = ["Governance", "Requirement", "DATA_KINDS"]

#: "unlabelled": trained on a county whose county.json does not say whether it is synthetic — never taken for real
DATA_KINDS = ("real", "synthetic", "unlabelled")
_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


@dataclass(frozen=True)
class Requirement:
    """One minimum metric: ``metric op threshold`` with op ``>=`` or ``<=``."""

    metric: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ContractError(table="governance", column="minimum_metrics", expected="op '>=' or '<='",
                                found=repr(self.op))

    def met_by(self, metrics: dict[str, float]) -> bool:
        v = metrics.get(self.metric)
        return v is not None and math.isfinite(float(v)) and bool(_OPS[self.op](float(v), self.threshold))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def _month_day_ok(md: str) -> bool:
    """``MM-DD``, a day of some year (02-29 included)."""
    try:
        return bool(re.fullmatch(r"\d\d-\d\d", md)) and bool(datetime.strptime(f"2000-{md}", "%Y-%m-%d"))
    except ValueError:
        return False


def season_text(value: object) -> str:
    """A season as its year's digits (``2009``, ``2009.0`` and ``"2009"`` alike); anything else as text."""
    try:
        f = float(str(value))
    except ValueError:
        return str(value)
    return str(int(f)) if f.is_integer() else str(value)


@dataclass(frozen=True)
class Governance:
    """Validated scope, metrics, minimum metrics and data provenance of a model version."""

    crops: tuple[str, ...]
    regions: tuple[str, ...]
    checkpoints: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    minimum_metrics: tuple[Requirement, ...] = ()
    data: str = "synthetic"
    notes: str = ""
    #: region -> checkpoint -> crop (``*``: any crop) -> (month-day, year offset from the season's year): the day of
    #: a season from which the checkpoint's validation applies (empty: the caller's checkpoint label decides)
    checkpoint_dates: dict[str, dict[str, dict[str, tuple[str, int]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ContractError(table="governance", column="data", expected=" or ".join(DATA_KINDS),
                                found=repr(self.data))
        for region, cps in self.checkpoint_dates.items():
            for cp, by_crop in cps.items():
                for crop, (md, off) in by_crop.items():
                    if not (isinstance(md, str) and type(off) is int and _month_day_ok(md)):
                        raise ContractError(table="governance", column="checkpoint_dates",
                                            expected="[month-day MM-DD (a day of the year), year offset]",
                                            found=f"{region}/{cp}/{crop}: {md!r}, {off!r}")

    def _named(self, metric: str) -> tuple[str, str, bool] | None:
        """(checkpoint, base metric, prefixed) of a per-checkpoint metric name, None for any other metric: a
        crop-type version's ``<base>_<checkpoint>`` (``accuracy_pre_harvest``: ``pre_harvest``, not ``harvest``) or
        a yield-value version's in-season ``<checkpoint>_<base>`` (``mid_skill_r2_cotton``: its end-of-season
        metrics are unprefixed, :func:`models.evaluation.build_yield_release`) — the longest checkpoint of the scope
        that fits, the suffix form first."""
        fits = [cp for cp in self.checkpoints if metric.endswith(f"_{cp}") and len(metric) > len(cp) + 1]
        if fits:
            cp = max(fits, key=len)
            return cp, metric[: -len(cp) - 1], False
        fits = [cp for cp in self.checkpoints if metric.startswith(f"{cp}_") and len(metric) > len(cp) + 1]
        if fits:
            cp = max(fits, key=len)
            return cp, metric[len(cp) + 1:], True
        return None

    def _checkpoint_of(self, metric: str) -> str | None:
        """The checkpoint of the scope a per-checkpoint metric names (:meth:`_named`: ``accuracy_pre_harvest``,
        ``mid_skill_r2_cotton``), None for any other metric (a yield-value version's unprefixed end-of-season
        ``skill_r2_cotton``)."""
        named = self._named(metric)
        return named[0] if named is not None else None

    def _needed(self) -> dict[str, list[str]]:
        """Per checkpoint of the scope, the held-out metrics of which at least one gates it: a crop-type version's
        (suffix form) every ``<base>_<checkpoint>`` of the bases its minimum metrics name, at EVERY checkpoint of the
        scope; a yield-value version's (prefix form) the ``<checkpoint>_<base>`` its minimum metrics name for that
        checkpoint. Checkpoints with none are left out."""
        suffixed: set[str] = set()
        prefixed: dict[str, set[str]] = {}
        for r in self.minimum_metrics:
            named = self._named(r.metric)
            if named is None:
                continue
            cp, base, pre = named
            if pre:
                prefixed.setdefault(cp, set()).add(base)
            else:
                suffixed.add(base)
        out = {cp: [f"{b}_{cp}" for b in sorted(suffixed)] + [f"{cp}_{b}" for b in sorted(prefixed.get(cp, ()))]
               for cp in self.checkpoints}
        return {cp: names for cp, names in out.items() if names}

    def ungated_checkpoints(self) -> list[str]:
        """The checkpoints of the scope no minimum metric gates (a model card says so): a crop-type version's suffixed
        or a yield-value version's prefixed requirements name theirs (:meth:`_needed`); requirements naming no
        checkpoint (a yield-value version's end of season, unprefixed) gate the scope's first. A version without
        minimum metrics: every checkpoint of its scope."""
        needed = self._needed()
        plain = any(self._named(r.metric) is None for r in self.minimum_metrics)
        return [cp for k, cp in enumerate(self.checkpoints) if cp not in needed and not (plain and k == 0)]

    def unmeasured_checkpoints(self) -> list[str]:
        """The checkpoints of the scope this version has no held-out metric for, when its minimum metrics are named
        per checkpoint: a checkpoint in scope is used in decisions, so without a held-out metric of any its minimum
        metrics name it (:meth:`_needed`) is not gated, and :meth:`failures` says so. A crop-type version's
        (``<metric>_<checkpoint>``) at every checkpoint of its scope; a yield-value version's at every checkpoint its
        minimum metrics name with a prefix (``mid_skill_r2_cotton``: trained since in-season gates). Versions whose
        minimum metrics name no checkpoint (a yield-value version trained before: its end-of-season metrics
        unprefixed) give none."""
        def measured(names: list[str]) -> bool:
            values = (self.metrics.get(n) for n in names)
            return any(v is not None and math.isfinite(float(v)) for v in values)

        needed = self._needed()
        return [cp for cp in self.checkpoints if cp in needed and not measured(needed[cp])]

    def failures(self) -> list[str]:
        """The minimum metrics this version does not meet, each with the value found — first each checkpoint of its
        scope with no held-out metric at all (:meth:`unmeasured_checkpoints`), named on one line with the metrics it
        needs (its minimum metrics are not listed again)."""
        unmeasured = self.unmeasured_checkpoints()
        out = []
        if unmeasured:
            needed = self._needed()
            out += [f"checkpoint {cp} is in scope without held-out metrics (needs {', '.join(needed[cp])})"
                    for cp in unmeasured]
        for r in self.minimum_metrics:
            if self._checkpoint_of(r.metric) in unmeasured:
                continue
            if not r.met_by(self.metrics):
                found = self.metrics.get(r.metric)
                out.append(f"{r} (found {'missing' if found is None else format(float(found), '.4g')})")
        return out

    def in_scope(self, crop: object, region: object, checkpoint: object) -> bool:
        """Whether one (crop, region, checkpoint) is inside the validated scope."""
        return str(crop) in self.crops and str(region) in self.regions and str(checkpoint) in self.checkpoints

    def checkpoint_day(self, region: str, checkpoint: str, crop: str, season: str) -> pd.Timestamp | None:
        """The day of ``season`` from which ``checkpoint`` is validated for ``crop`` in ``region`` (its own day, else
        the region's ``*``); None when the version names none."""
        by_crop = self.checkpoint_dates.get(str(region), {}).get(str(checkpoint), {})
        got = by_crop.get(str(crop), by_crop.get("*"))
        if got is None:
            return None
        md, off = got
        year = int(float(season)) + int(off)
        if md == "02-29" and not calendar.isleap(year):  # a leap day in a common year: the last day of February
            md = "02-28"
        return pd.Timestamp(f"{year:04d}-{md}")

    def row_checkpoints(self, crops: Any, regions: Any, seasons: Any, as_of: Any) -> np.ndarray:
        """Per row, the latest validated checkpoint reached on its as-of date (``end``, else ``mid``...; the
        checkpoints in the order :attr:`checkpoint_dates` gives their days), "" before any — from
        :attr:`checkpoint_dates` only, so a field's scope depends on its crop, region and date alone."""
        frame = pd.DataFrame({"crop": np.asarray(crops, dtype=object), "region": np.asarray(regions, dtype=object),
                              "season": [season_text(x) for x in np.asarray(seasons, dtype=object)]}).astype("str")
        when = pd.to_datetime(pd.Series(np.asarray(as_of, dtype=object)), utc=False)
        if getattr(when.dt, "tz", None) is not None:  # a zoned date: its local day
            when = when.dt.tz_localize(None)
        day = when.dt.normalize().to_numpy()
        out = np.full(len(frame), "", dtype=object)
        best = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
        keys = frame.drop_duplicates().itertuples(index=False)
        for crop, region, season in keys:
            rows = ((frame["crop"] == crop) & (frame["region"] == region) & (frame["season"] == season)).to_numpy()
            for cp in self.checkpoint_dates.get(region, {}):
                d = self.checkpoint_day(region, cp, crop, season) if season.isdigit() else None
                if d is None:
                    continue
                hit = rows & (day >= d.to_datetime64()) & (np.isnat(best) | (best < d.to_datetime64()))
                out[hit] = cp
                best[hit] = d.to_datetime64()
        return out

    def scope_mask(self, crops: Any, regions: Any, checkpoint: str, *, seasons: Any = None,
                   as_of: Any = None) -> np.ndarray:
        """Vectorised :meth:`in_scope` for one checkpoint; for a version with :attr:`checkpoint_dates` and the rows'
        ``seasons`` and ``as_of`` given, each row's own checkpoint (:meth:`row_checkpoints`) instead."""
        c = pd.Series(np.asarray(crops, dtype=object)).astype("str").isin(self.crops).to_numpy()
        r = pd.Series(np.asarray(regions, dtype=object)).astype("str").isin(self.regions).to_numpy()
        if self.checkpoint_dates and seasons is not None and as_of is not None:
            rows = self.row_checkpoints(crops, regions, seasons, as_of)
            return c & r & pd.Series(rows).isin(self.checkpoints).to_numpy()
        return c & r & (str(checkpoint) in self.checkpoints)

    def to_dict(self) -> dict[str, Any]:
        out = {"crops": list(self.crops), "regions": list(self.regions), "checkpoints": list(self.checkpoints),
               "metrics": {k: float(v) for k, v in sorted(self.metrics.items())},
               "minimum_metrics": [[r.metric, r.op, r.threshold] for r in self.minimum_metrics],
               "data": self.data, "notes": self.notes}
        if self.checkpoint_dates:  # only then: a version without them keeps its JSON (and content keys) as it was
            out["checkpoint_dates"] = {r: {cp: {c: [md, int(off)] for c, (md, off) in sorted(by.items())}
                                           for cp, by in sorted(cps.items())}
                                       for r, cps in sorted(self.checkpoint_dates.items())}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Governance:
        return cls(crops=tuple(d.get("crops", ())), regions=tuple(d.get("regions", ())),
                   checkpoints=tuple(d.get("checkpoints", ())),
                   metrics={k: float(v) for k, v in d.get("metrics", {}).items()},
                   minimum_metrics=tuple(Requirement(str(m), str(o), float(t)) for m, o, t in d.get("minimum_metrics", ())),
                   data=str(d.get("data", "synthetic")), notes=str(d.get("notes", "")),
                   checkpoint_dates={str(r): {str(cp): {str(c): (str(v[0]), int(v[1])) for c, v in by.items()}
                                              for cp, by in cps.items()}
                                     for r, cps in (d.get("checkpoint_dates") or {}).items()})

    @classmethod
    def from_json(cls, text: str) -> Governance:
        return cls.from_dict(json.loads(text))

    def summary(self) -> str:
        """One line: data kind, scope and minimum-metric status."""
        fails = self.failures()
        status = "meets its minimum metrics" if not fails else f"FAILS {len(fails)} minimum metric(s)"
        dates = "".join(f"; {r} {cp} from " + ", ".join(f"{c} {md}" + (f" {off:+d}y" if off else "")
                                                         for c, (md, off) in sorted(by.items()))
                        for r, cps in sorted(self.checkpoint_dates.items()) for cp, by in sorted(cps.items())
                        if cp in self.checkpoints)
        return (f"{self.data} data; scope crops={','.join(self.crops)} regions={','.join(self.regions)} "
                f"checkpoints={','.join(self.checkpoints)}{dates}; {status}")
