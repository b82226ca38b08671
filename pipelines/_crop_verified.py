"""The verified crops file of ``models performance crop-type`` (pipelines/crop_outcomes.py): read, its crop names checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders

#: cell texts that mean "nothing" to a spreadsheet but may mean "nothing planted" to an inspector: refused
_AMBIGUOUS = {"none", "nan", "null", "<na>", "n/a", "na", "-"}


def _data_rows(mask: pd.Series) -> list[str]:
    return [f"data row {int(k) + 1}" for k in np.flatnonzero(mask.to_numpy())]


def _check_crops(crops: pd.Series, where: str) -> pd.Series:
    """The verified crops as the engine spells them (None: not verified); a cell of :data:`_AMBIGUOUS` text, or a crop
    the engine does not know, is one line naming its data rows — an unknown value quoted only when it is spelled
    like a known crop (a typo), never otherwise (an inspection file may carry a farmer's name in the wrong column)."""
    import difflib

    from features.fields import known_crops, normalise_crop

    raw = crops.astype(object).where(crops.notna(), "").astype(str).str.strip()
    vague = raw.str.lower().isin(_AMBIGUOUS)
    if vague.any():
        raise UserInputError(f"{where}: verified_crop reads as no value at {format_offenders(_data_rows(vague))}: "
                             "write fallow for a field found with nothing planted, leave the cell empty for a field "
                             "not verified")
    norm = crops.map(normalise_crop)
    known = known_crops()
    unknown = norm.notna() & ~norm.isin(known)
    if unknown.any():
        close = sorted({f"{v!r} (did you mean {m[0]}?)" for v in norm[unknown]
                        if (m := difflib.get_close_matches(str(v), sorted(known), n=1, cutoff=0.75))})
        shown = f" {', '.join(close[:3])}" if close else ""
        raise UserInputError(f"{where}: verified_crop{shown} not a known crop at {format_offenders(_data_rows(unknown))} "
                             f"(known: {', '.join(sorted(known))}; add others with AGCREDIT_EXTRA_CROPS; other values "
                             "are not shown)")
    return norm


def read_verified(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Verified crops from CSV or Parquet: ``field_id, season, verified_crop`` (``fallow``: nothing planted; an empty
    cell: not verified, left out), each checked as a crop the engine knows (:func:`_check_crops`); a blank field id, a
    season that is no year, or a field-season verified twice with different crops is refused naming its data rows
    (1-based, header excluded), never a cell; rows repeated as they are are read once and counted. Returns the rows
    (seasons as their year's digits) and the repeats dropped."""
    from models.governance import season_text
    from pipelines.errors import read_columns_file

    p = Path(path)
    df = read_columns_file(p, "verified crops file", ("field_id", "season", "verified_crop"))
    if df.empty:
        raise UserInputError(f"{p}: verified crops file has no rows")
    df = df.reset_index(drop=True)
    fid = df["field_id"].astype(object).where(df["field_id"].notna(), "").astype(str).str.strip()
    if (fid == "").any():
        raise UserInputError(f"{p}: blank field_id at {format_offenders(_data_rows(fid == ''))}")
    season = pd.Series([season_text(x).strip() if pd.notna(x) else "" for x in df["season"]], index=df.index)
    bad = ~season.str.fullmatch(r"\d{4}")
    if bad.any():  # a cell that is no year is never quoted (a name or a phone typed there stays out of the message)
        raise UserInputError(f"{p}: season is not a year (e.g. 2009) at {format_offenders(_data_rows(bad))}")
    out = pd.DataFrame({"field_id": fid, "season": season,
                        "verified_crop": _check_crops(df["verified_crop"], p.name)})
    out = out[out["verified_crop"].notna()]
    key = ["field_id", "season"]
    dup = out.duplicated(key, keep=False)
    if not dup.any():
        return out.reset_index(drop=True), 0
    differ = out[dup].groupby(key)["verified_crop"].nunique().gt(1)
    if differ.any():
        bad_rows = out[dup].set_index(key).index.isin(differ[differ].index)
        rows = [int(i) + 1 for i in out[dup].index[bad_rows]]
        raise UserInputError(f"{p}: {int(differ.sum())} field-season(s) verified twice with different crops, at "
                             f"data rows {format_offenders(rows)}: keep one row of each")
    kept = out.drop_duplicates(key, keep="last")
    return kept.reset_index(drop=True), len(out) - len(kept)
