"""The farmer's reported yield history of a field: what the pre-season rule values a field on.

CREDIT_POLICY.md step 2: before emergence there is no imagery evidence — "use the farmer's reported history for
the field, or the regional expectation, with the policy's pre-season haircut". The history is the bank's farm
records (``records/history.csv`` of a county folder, or any table with ``field_id, season, declared_crop,
reported_yield_t_ha``): per field, the mean reported yield of the crop declared for the scored season over its
latest :data:`MAX_SEASONS` earlier seasons with a reported yield of that crop (seasons after the scored one, the
scored one itself and other crops are never used). A field without such a season gets none (the rules then take
the model's expectation).

:func:`read_yield_history` reads and checks such a table (one line naming what is wrong);
:func:`add_history_yields` adds ``history_yield_t_ha`` and ``history_seasons`` to FieldFeatures rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import UserInputError, file_rows, format_offenders, remember_csv

__all__ = ["MAX_SEASONS", "MAX_YIELD_T_HA", "HISTORY_COLUMNS", "YIELD_LIMITS_CSV", "add_history_yields",
           "check_reported_yields", "read_yield_history", "refuse_personal_values", "yield_limits"]

#: at most this many of the latest earlier seasons enter a field's mean
MAX_SEASONS = 5
#: a reported yield above this is refused for a crop without its own limit (t/ha; kg/ha typed as t/ha, or a typo)
MAX_YIELD_T_HA = 30.0
#: per-crop limits (t/ha at the price's moisture basis; about the world field record, so a unit mistake such as
#: quintals or bushels per area typed as t/ha is refused rather than valued)
YIELD_LIMITS_CSV = Path(__file__).parent / "data" / "crop_yield_limits.csv"
HISTORY_COLUMNS = ("field_id", "season", "declared_crop", "reported_yield_t_ha")


def read_yield_history(path: str | Path) -> pd.DataFrame:
    """The yield history table at ``path`` (CSV): the four :data:`HISTORY_COLUMNS` (others ignored), yields as float
    (empty: not reported), seasons as text; a missing file or column, a season that is no year, a negative or
    non-numeric yield or an unknown crop is a :class:`UserInputError` naming it."""
    from features._table_text import not_utf8_problem, without_trailing_empty_rows
    from features.fields import check_known_crops, normalise_crop

    p = Path(path)
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
        remember_csv(p)
    except FileNotFoundError:
        raise UserInputError(f"{p}: yield history file not found") from None
    except UnicodeDecodeError:  # Excel's plain "CSV" (Windows-1252): the line, never the text (read_table's message)
        raise UserInputError(f"{p.name}: yield history {not_utf8_problem(p)}") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise UserInputError(f"{p}: yield history cannot be read ({str(e).splitlines()[0][:100]})") from None
    raw = without_trailing_empty_rows(raw)  # a spreadsheet's formatted empty rows below the table
    if raw.empty:
        raise UserInputError(f"{p}: yield history has no rows")
    missing = [c for c in HISTORY_COLUMNS if c not in raw.columns]
    if missing:
        raise UserInputError(f"{p}: yield history: missing column(s) {', '.join(missing)}")
    out = raw[list(HISTORY_COLUMNS)].copy()
    out["field_id"] = out["field_id"].astype(str).str.strip()
    out["season"] = out["season"].astype(str).str.strip()
    bad = ~out["season"].str.fullmatch(r"\d{4}")
    if bad.any():
        raise UserInputError(f"{p}: column 'season': expected a year like 2024, found other values at "
                             f"{format_offenders(file_rows(p.name, list(np.flatnonzero(bad.to_numpy()))))}")
    refuse_personal_values(out["declared_crop"], p.name, "declared_crop")
    check_known_crops(out["declared_crop"], source=str(p), column="declared_crop",
                      rows=out["field_id"] + "/" + out["season"])
    # "Maize " and "maize" are one crop: matched to the fields' (normalised) declared crops as the fields name them
    out["declared_crop"] = out["declared_crop"].map(normalise_crop).astype(object)
    out["reported_yield_t_ha"] = check_reported_yields(out["reported_yield_t_ha"], p.name, out["declared_crop"])
    return out


def refuse_personal_values(values: pd.Series, source: str, column: str) -> None:
    """A user error naming the rows (never the values) of ``values`` that look like a farmer's name, phone or ID
    number or an e-mail — typed into a column whose own error would otherwise quote them."""
    from features.identity import looks_personal

    bad = [i for i, v in enumerate(values) if isinstance(v, str) and v.strip() and looks_personal(v)]
    if bad:
        raise UserInputError(f"{source}: column '{column}': expected a crop name, found personal data (a name, "
                             f"phone or ID number) at {format_offenders(file_rows(source, bad))}")


def yield_limits() -> dict[str, float]:
    """Per-crop upper limits of a reported yield (t/ha), from :data:`YIELD_LIMITS_CSV`."""
    t = pd.read_csv(YIELD_LIMITS_CSV, usecols=["crop", "max_t_ha"])
    return {str(c): float(v) for c, v in zip(t["crop"], t["max_t_ha"], strict=True)}


def check_reported_yields(values: pd.Series, source: str, crops: pd.Series | None = None) -> pd.Series:
    """``values`` as float t/ha (empty: not reported); a user error naming the rows of a value that is not a number,
    negative, infinite or above its crop's limit (:func:`yield_limits`; :data:`MAX_YIELD_T_HA` for a crop without
    one, or without ``crops``, the rows' normalised crop names) — a pre-season limit rests on it."""
    y = pd.to_numeric(values, errors="coerce").astype("float64")
    # with the crops known, each crop's own limit is the upper bound (maize's 40 t/ha was dead behind 0-30)
    bad = (values.notna() & y.isna()) | (y < 0) | (~np.isfinite(y) & y.notna())
    if crops is None:
        bad |= y > MAX_YIELD_T_HA
    if bad.any():
        raise UserInputError(f"{source}: column 'reported_yield_t_ha': expected tonnes per hectare (0 to "
                             f"{MAX_YIELD_T_HA:g}, or empty; kg/ha typed as t/ha?), found other values at "
                             f"{format_offenders(file_rows(source, list(np.flatnonzero(bad.to_numpy()))))}")
    if crops is not None:
        limits = yield_limits()
        cap = crops.map(limits).astype("float64").fillna(MAX_YIELD_T_HA).to_numpy()
        above = y.to_numpy() > cap
        if above.any():
            named = dict.fromkeys(f"{c} {v:g} t/ha" for c, v in zip(crops[above], cap[above], strict=True))
            raise UserInputError(f"{source}: column 'reported_yield_t_ha': above the crop's limit ({'; '.join(named)}"
                                 f", about the world field record; kg, quintals or bushels per area typed as t/ha?) at "
                                 f"{format_offenders(file_rows(source, list(np.flatnonzero(above))))}")
    return y


def add_history_yields(features: pd.DataFrame, history: pd.DataFrame, season: str) -> pd.DataFrame:
    """``features`` (FieldFeatures rows of ``season``) with ``history_yield_t_ha`` (the mean reported yield of the
    field's declared crop over its latest :data:`MAX_SEASONS` seasons before ``season``; NaN without one) and
    ``history_seasons`` (how many seasons that mean is of; 0 without)."""
    h = history.loc[history["reported_yield_t_ha"].notna(), list(HISTORY_COLUMNS)].copy()
    h["season"] = h["season"].astype(str)
    h = h[h["season"] < str(season)]
    crop = features["declared_crop"].astype(object).where(features["declared_crop"].notna(), None)
    want = pd.DataFrame({"field_id": features["field_id"].astype(str).to_numpy(), "declared_crop": crop.to_numpy()})
    h = h.assign(field_id=h["field_id"].astype(str)).merge(want.dropna().drop_duplicates(),
                                                           on=["field_id", "declared_crop"], how="inner")
    # one row per field and season (a duplicated diary row counts once), the latest seasons first
    h = h.groupby(["field_id", "season"], as_index=False)["reported_yield_t_ha"].mean()
    h = h.sort_values(["field_id", "season"], ascending=[True, False]).groupby("field_id").head(MAX_SEASONS)
    agg = h.groupby("field_id")["reported_yield_t_ha"].agg(["mean", "size"])
    fid = features["field_id"].astype(str)
    out = features.copy()
    out["history_yield_t_ha"] = fid.map(agg["mean"]).astype("float64").to_numpy()
    out["history_seasons"] = fid.map(agg["size"]).fillna(0).astype("int64").to_numpy()
    return out
