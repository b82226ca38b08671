"""Crop names in fields files (from :mod:`features.fields`): the crops the engine knows (the crop calendars,
``AGCREDIT_EXTRA_CROPS``), a crop's usual spelling, and the error naming unknown crops."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import FieldsError, file_rows

__all__ = [
    "_CALENDARS", "known_crops", "normalise_crop", "_WORDS", "check_known_crops",
]

_CALENDARS = Path(__file__).with_name("data") / "crop_calendars.csv"


def known_crops() -> frozenset[str]:
    """Crops the engine knows: those of the crop calendars (the package's and a bank's, :mod:`features.regions`),
    ``fallow``, and any listed in
    ``AGCREDIT_EXTRA_CROPS`` (comma-separated) for a bank that adds its own."""
    import os

    from features.regions import merged

    crops = set(merged("crop_calendars.csv", _CALENDARS, lambda p: pd.read_csv(p, dtype=str, keep_default_na=False))[
        "crop"].astype(str)) if _CALENDARS.exists() else set()
    extra = {c.strip().lower().replace(" ", "_") for c in os.environ.get("AGCREDIT_EXTRA_CROPS", "").split(",")}
    return frozenset(crops | {"fallow"} | {c for c in extra if c})


def normalise_crop(v: object) -> str | None:
    """A crop name as the engine spells it (lower case, ``_`` for spaces); None for an empty cell."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    t = str(v).strip()
    if not t or t.lower() in ("nan", "none", "<na>"):
        return None
    return t.lower().replace(" ", "_")


#: letters in two or more words, nothing else (a crop of several words, or a person's name: :func:`check_known_crops`)
_WORDS = re.compile(r"[^\W\d_]+(?:[ \-][^\W\d_]+)+")


def check_known_crops(crops: pd.Series, *, source: str, column: str, rows: pd.Series | None = None,
                      hidden: frozenset[str] = frozenset()) -> None:
    """A user error naming the crops of ``crops`` that the engine does not know (:func:`known_crops`), the file
    ``source``, the ``column`` and where they are (``rows``: a label per row, e.g. its id; else the CSV line).
    Empty cells pass. A value shaped like personal data, or one of ``hidden`` (case-folded: the words of the file's
    farmers' names), is never quoted."""
    norm = crops.map(normalise_crop)
    known = known_crops()
    unknown = norm.notna() & ~norm.isin(known)
    if not unknown.any():
        return
    from features.identity import HIDDEN, looks_personal

    names = sorted({str(v) for v in crops[unknown]})
    # a farmer's name, phone or ID number typed as the crop (a labels or reported-yields file with identifier
    # columns) is never quoted: the message names its rows instead
    # — also once spelt as the engine spells crops (a fields file's "Kada Nezupi" is read as kada_nezupi: its
    # underscore hid the name's shape, and the name was quoted; a bank's walkthrough, 2026-12-07)
    def personal(n: str) -> bool:
        return looks_personal(n) or looks_personal(n.replace("_", " ")) or n.strip().casefold() in hidden

    # a value the engine cannot tell from a name — a surname in a file without names (a Book, reported yields) —
    # is quoted only when spelled like a known crop (a typo: 'maise'), as the verified crops of `models performance`
    import difflib

    def close(n: str) -> bool:
        return bool(difflib.get_close_matches(str(normalise_crop(n)), sorted(known), n=1, cutoff=0.75))

    shown = [repr(n) for n in names if not personal(n) and close(n)][:5]
    others = sum(not personal(n) and not close(n) for n in names)
    if others:
        shown.append(f"{others} value(s) not spelled like any known crop (not shown: a name typed there never is)")
    if any(personal(n) for n in names):
        # a crop of several words ("pearl millet") has a name's shape: hidden too, the message says how to add it
        words = any(personal(n) and _WORDS.fullmatch(n.strip().replace("_", " ")) and n.strip().casefold() not in hidden
                    for n in names)
        shown.append(f"{HIDDEN} (a name, phone or ID number, not shown"
                     + ("; a crop of several words is not shown either: if it is one, add it with "
                        "AGCREDIT_EXTRA_CROPS, e.g. pearl_millet" if words else "") + ")")
    where = (rows[unknown].astype(str) if rows is not None
             else pd.Series(file_rows(source, range(len(crops))), index=crops.index)[unknown])
    known_text = f"(known: {', '.join(sorted(known))}; add others with AGCREDIT_EXTRA_CROPS)"
    if len(shown) == 1 and not others:  # one value, or only hidden ones: "declared_crop 'maise' not a known crop"
        raise FieldsError(source=source, problem=f"{column} {shown[0]} not a known crop {known_text}; found at",
                          offenders=list(where))
    if len(shown) == 1:  # only values spelled like no crop
        raise FieldsError(source=source, problem=f"{column}: {others} value(s) not a known crop nor spelled like one "
                                                 f"(not shown: a name typed there never is) {known_text}; rows holding "
                                                 "them", offenders=list(where))
    # several kinds: each said once, the rows those of any of them (a review read "'mie', 23 other value(s) not
    # spelled like a known crop (…) not a known crop; found at: 12855/2020" — the rows as if all held 'mie')
    raise FieldsError(source=source, problem=f"{column}: {len(names)} value(s) not a known crop — "
                                             f"{'; '.join(shown)} {known_text}; rows holding any of them",
                      offenders=list(where))
