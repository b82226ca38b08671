"""The inputs of the yield model's training (pipelines/train_yield.py): the features cache's keys, the checkpoints' dates, and the reported yields file read and joined."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.errors import UserInputError, format_offenders

if TYPE_CHECKING:
    from pipelines.county import County


_KEY = ["field_id", "season"]


# ---------------------------------------------------------------------- features
def _code_hash(root: Path | None = None) -> str:
    """SHA-256 over the feature-defining files' names and contents (``root``: the project; default this one)."""
    from pipelines._code_digest import FEATURE_SOURCES, source_digest

    return source_digest(FEATURE_SOURCES, root)


def _cache_key(county: County, season: str, as_of: Any, crop_desc: str, code: str) -> str:
    from features.series import fields_hash

    idx = county.imagery / "index.csv"
    stat = idx.stat() if idx.is_file() else None
    h = hashlib.sha256()
    for part in (fields_hash(county.fields(season)), season, str(as_of), crop_desc, code,
                 f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "no-index"):
        h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _order(checkpoints: Sequence[str]) -> list[str]:
    cps = list(dict.fromkeys(str(c) for c in checkpoints))
    if not cps:
        raise UserInputError("yield training: no checkpoint given (expected e.g. end, mid)")
    return sorted(cps, key=lambda c: (c != "end", cps.index(c)))


def _weather_digest(weather: pd.DataFrame | None) -> str:
    if weather is None:
        return "no-weather"
    return hashlib.sha256(weather.to_csv(index=False).encode()).hexdigest()[:16]


def checkpoint_dates_of(county: County, checkpoints: Sequence[str]) -> dict[str, dict[str, dict[str, tuple[str, int]]]]:
    """The days (month-day, year offset from the season) the model's checkpoints are validated from — the days
    :func:`county_features` builds each checkpoint's rows at — for its governance (``Governance.checkpoint_dates``,
    ``*``: every crop): a field is then in scope by its crop, region and as-of date alone, not by the median of the
    crops scored with it. From the county's current season (the calendar's month-days do not move between
    seasons)."""
    if not county.region:
        return {}
    season = county.current_season
    dates = county.checkpoints(season)
    return {county.region: {cp: {"*": (dates[cp].strftime("%m-%d"), dates[cp].year - int(season))}
                            for cp in checkpoints if cp in dates}}


#: the largest reported yield taken as one (t/ha): above every crop's record harvest, fresh-weight roots and cane of a
#: bank's own crops included; a larger number is kg/ha, or a phone or ID number typed in the cell
MAX_REPORTED_T_HA = 200.0


def read_reported(path: str | Path, *, keep_crop: bool = False) -> pd.DataFrame:
    """Reported yields from CSV or Parquet: ``field_id, season, reported_yield_t_ha`` (empty = no report), and with
    ``keep_crop`` the file's ``declared_crop`` when it has one (checked as a crop the engine knows)."""
    from pipelines.errors import read_columns_file

    p = Path(path)
    df = read_columns_file(p, "reported yields file", ("field_id", "season", "reported_yield_t_ha"))
    from features.identity import identifiers_hidden, looks_personal, name_words

    raw = df["reported_yield_t_ha"].astype(object)
    y = pd.to_numeric(raw.where(raw.astype(str).str.strip() != "", None), errors="coerce")
    bad = y.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    # a row named by its field and season, never by the value (a phone or a name typed as the yield); by its data row
    # (1-based, header excluded) when the field or season cell itself looks like personal data (a name typed there)
    where = pd.Series([f"data row {i + 1}" if looks_personal(str(f)) or looks_personal(str(s)) else f"{f}/{s}"
                       for i, (f, s) in enumerate(zip(df["field_id"], df["season"], strict=True))], index=df.index)
    if bad.any():
        raise UserInputError(f"{p}: reported_yield_t_ha must be numbers, found other values at "
                             f"{format_offenders(list(where[bad]))}")
    if (y < 0).any():
        raise UserInputError(f"{p}: reported_yield_t_ha must not be negative, found "
                             f"{format_offenders(list(where[y < 0]))}")
    huge = y > MAX_REPORTED_T_HA  # a phone or ID number in the cell went into every figure (a walkthrough)
    if huge.any():
        raise UserInputError(f"{p}: reported_yield_t_ha above {MAX_REPORTED_T_HA:.0f} t/ha is no crop's yield (kg/ha, "
                             "or a number typed in the wrong column? the values are not repeated here), at "
                             f"{format_offenders(list(where[huge]))}")
    if "declared_crop" in df.columns:
        from features.fields import check_known_crops

        with identifiers_hidden(df):  # the file's own farmers' names, IDs and phones never quoted
            check_known_crops(df["declared_crop"], source=p.name, column="declared_crop", rows=where,
                              hidden=name_words(df))
    out = pd.DataFrame({"field_id": df["field_id"].astype("str"), "season": df["season"].astype("str"),
                        "reported_yield_t_ha": y.astype("float64")})
    if keep_crop and "declared_crop" in df.columns:
        out["declared_crop"] = df["declared_crop"].astype(object).where(df["declared_crop"].notna(), "").astype("str")
    return out


def _join_reported(features: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    rep = reported[[*_KEY, "reported_yield_t_ha"]].astype({"field_id": "str", "season": "str"})
    rep = rep.dropna(subset=["reported_yield_t_ha"]).drop_duplicates(_KEY, keep="last")
    f = features.drop(columns=[c for c in ("reported_yield_t_ha",) if c in features.columns])
    f = f.astype({"field_id": "str", "season": "str"})
    return f.merge(rep, on=_KEY, how="inner", validate="one_to_one").reset_index(drop=True)
