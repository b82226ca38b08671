"""Checks of a crop-type training's labels (private to :mod:`pipelines.train_crop`): a labels table with no labels,
labels of field-seasons the series does not hold, and crops with too few labels to be learned."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.errors import UserInputError, format_offenders

__all__ = ["check_labels_in_series", "rare_crops_note"]


def check_labels_in_series(labels: pd.DataFrame, series: pd.DataFrame, labels_path: str | Path,
                           series_path: str | Path, *, n_read: int, dropped_blank: int = 0) -> pd.DataFrame:
    """The labels' field-seasons the series holds (field_id, season); one line (a :class:`UserInputError`) when the
    labels are empty, when none of them is in the series, or when some of a season the series holds are not.

    A label of a field-season the series lacks would be left out of the fit without a word (a field id spelt
    otherwise in the two tables, a field whose series was never built). Labels of a whole season the series has no
    imagery of are not refused here: the caller leaves them out and says so. ``n_read``: the labels file's data
    rows; ``dropped_blank``: those left out as blank (``--blank-labels drop``)."""
    if labels.empty:
        why = (f"its {n_read} row(s) all have an empty crop, left out by --blank-labels drop" if dropped_blank
               else "the file has no data rows")
        raise UserInputError(f"crop-type labels {labels_path}: no labels to train on ({why})")
    ids = labels["field_id"].astype(str) + "/" + labels["season"].astype(str)
    held = series[["field_id", "season"]].astype(str).drop_duplicates()
    keys = labels[["field_id", "season"]].astype(str).merge(held, how="inner")
    if keys.empty:  # a model on no imagery at all would be trained and registered
        raise UserInputError(f"crop-type labels {labels_path}: none of its {len(labels)} field-seasons is in the "
                             f"series {series_path} (labels e.g. {format_offenders(list(ids))})")
    in_series = set(zip(held["field_id"], held["season"], strict=True))
    seasons = set(held["season"])
    absent = [i for i, f, s in zip(ids, labels["field_id"].astype(str), labels["season"].astype(str), strict=True)
              if s in seasons and (f, s) not in in_series]
    if absent:
        raise UserInputError(f"crop-type labels {labels_path}: field-seasons the series {series_path} "
                             f"does not hold: {format_offenders(absent)}; build their series, or leave them out of "
                             "the labels")
    return keys


def rare_crops_note(counts: pd.Series, learned: list[str], min_count: int) -> list[str]:
    """A warning naming the crops whose labels (``counts``: crop → labels) were too few to be learned (fewer than
    ``min_count``, not among the classifier's ``learned`` classes), left out of the fit — or nothing."""
    rare = [(str(c), int(n)) for c, n in counts.items() if str(c) not in learned]
    if not rare:
        return []
    names = ", ".join(f"{c} ({n} label{'s' if n != 1 else ''})" for c, n in sorted(rare))
    return [f"warning: too few labels to learn (fewer than {min_count}): {names} — left out of the fit; the model "
            f"never answers {'these crops' if len(rare) > 1 else 'this crop'} (fields of it get another crop's answer)"]
