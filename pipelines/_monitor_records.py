"""Labels for tuning the early-warning rules from farmers' own records (never from truth).

A bank holds past seasons' farm diaries (``records/history.csv``: declared crop, sowing and harvest
dates, reported yield). They say, per past field-season:

* ``failure`` — a reported yield of (near) zero and no harvest date: the crop was planted, gave nothing and
  was never harvested;
* ``never_planted`` — neither a sowing date nor a yield was reported;
* ``ok`` — a positive reported yield;
* nothing (left out) — a sowing date without a yield (a missing report), or a (near) zero yield *with* a
  harvest date: a crop that stood to maturity and was cut for nothing (a drought crop-out) is a poor
  harvest rather than a mid-season collapse, and which of the two it was the diary cannot tell.

:func:`record_score` scores a replay's high-severity alerts against them: precision over the alerts on
labelled fields (a CROP_FAILURE or NOT_PLANTED is right on a ``failure`` or ``never_planted`` field) and
recall over the ``failure`` and ``never_planted`` fields. The records carry no failure date, so there is no
delay here; delays are measured against the truth by ``agcredit evaluate alerts`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["record_labels", "record_score", "ZERO_YIELD"]

#: a reported yield at or below this (t/ha) is a failed crop
ZERO_YIELD = 0.05
_ALERTS = ("CROP_FAILURE", "NOT_PLANTED")


def record_labels(records: pd.DataFrame, season: str) -> pd.Series:
    """field_id → ``failure`` / ``never_planted`` / ``ok`` for the season's diaries (see the module docstring)."""
    r = records[records["season"].astype(str) == str(season)]
    y = pd.to_numeric(r["reported_yield_t_ha"].replace("", np.nan), errors="coerce")
    sown = r["sowing_date"].fillna("").astype(str).str.len() > 0
    cut = r["harvest_date"].fillna("").astype(str).str.len() > 0 if "harvest_date" in r.columns \
        else pd.Series(False, index=r.index)
    zero = y.notna() & (y <= ZERO_YIELD)
    lab = np.where(zero & ~cut, "failure",
                   np.where(zero, "", np.where(y.notna(), "ok", np.where(~sown, "never_planted", ""))))
    out = pd.Series(lab, index=r["field_id"].astype(str).to_numpy(), dtype=object)
    return out[out != ""]


def record_score(alerts: pd.DataFrame, labels: pd.Series) -> dict[str, Any]:
    """events, detected, recall, high_alerts (on labelled fields), precision (see the module docstring)."""
    high = alerts[alerts["alert"].isin(_ALERTS)]
    fields = set(high["field_id"].astype(str))
    lab = labels.to_dict()
    judged = [f for f in fields if f in lab]
    right = sum(1 for f in judged if lab[f] in ("failure", "never_planted"))
    events = [f for f, v in lab.items() if v in ("failure", "never_planted")]
    detected = sum(1 for f in events if f in fields)
    return {"events": len(events), "detected": detected, "high_alerts": len(judged), "right": right,
            "recall": round(detected / len(events), 4) if events else None,
            "precision": round(right / len(judged), 4) if judged else None}
