"""pipelines._shadow_outcomes — mutation audit: each test pins a behaviour a surviving mutant changed (the shadow
report's paired outcome figures: which fields are read, which rows are paired, the bounds of "below P10" and "above
P90", the figures' rounding, the runs' order, a resample drawing none of a figure's rows), on small hand-built inputs
worked by hand."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines._shadow_outcomes import _field_predictions, yield_figures, yield_pairs

UW, RU = "2024-06-01", "2024-09-10"


def _rows(n: int, **cols: Any) -> pd.DataFrame:
    """``n`` rows of one dated run (each its own farmer and field) with the given columns over the defaults."""
    base: dict[str, Any] = {"checkpoint": "mid", "as_of": UW, "kind": "decision",
                            "application_id": [f"A{i}" for i in range(n)], "farmer_token": [f"t{i}" for i in range(n)],
                            "field_id": [f"F{i}" for i in range(n)], "reported": 3.0, "p10_base": 1.0,
                            "p50_base": 3.0, "p90_base": 5.0, "p10_shadow": 1.0, "p50_shadow": 3.0, "p90_shadow": 5.0}
    base.update(cols)
    return pd.DataFrame(base)


def test_a_reported_yield_on_a_quantile_is_neither_below_p10_nor_above_p90() -> None:
    """"Below P10" and "above P90" are strict: a reported yield equal to the quantile is inside the interval."""
    # row 0: reported 2.0 — in force P10 2.0 (on it: not below), shadow P10 2.5 (below); in force P90 2.0 (on it: not
    # above), shadow P90 1.5 (above). Row 1 inside both sides' intervals; row 2 on the shadow's P10 and P90.
    rows = _rows(3, reported=[2.0, 3.0, 4.0], p10_base=[2.0, 1.0, 1.0], p10_shadow=[2.5, 1.0, 4.0],
                 p90_base=[2.0, 4.0, 5.0], p90_shadow=[1.5, 4.0, 4.0])
    f = yield_figures(rows)[0]
    assert (f["below_p10"]["in_force"], f["below_p10"]["shadow"]) == (0.0, 0.333333)
    assert (f["above_p90"]["in_force"], f["above_p90"]["shadow"]) == (0.0, 0.333333)
    assert f["below_p10"]["difference"] == 0.333333 and f["above_p90"]["difference"] == 0.333333


def test_the_figures_are_rounded_to_six_decimals() -> None:
    """Each side's mean and the difference are given to 6 decimals (1/3 → 0.333333), the interval likewise."""
    rows = _rows(3, reported=[3.0, 3.0, 0.5], p50_shadow=[3.0, 3.0, 3.0], p50_base=[3.0, 3.0, 1.5])
    f = yield_figures(rows)[0]
    below = f["below_p10"]  # the third row only, each side: 1 of 3
    assert (below["in_force"], below["shadow"], below["difference"]) == (0.333333, 0.333333, 0.0)
    err = f["p50_abs_error_t_ha"]  # in force 1.0 / 3, shadow 2.5 / 3: difference 0.5
    assert (err["in_force"], err["shadow"], err["difference"]) == (0.333333, 0.833333, 0.5)
    assert all(round(x, 6) == x for x in err["interval"])


def test_the_runs_come_in_date_then_kind_order_whatever_the_rows_order() -> None:
    rows = pd.concat([_rows(2, as_of=RU, kind="reunderwrite", checkpoint="end"), _rows(2, kind="reunderwrite"),
                      _rows(2)], ignore_index=True)
    got = [(f["as_of"], f["kind"], f["checkpoint"]) for f in yield_figures(rows)]
    assert got == [(UW, "decision", "mid"), (UW, "reunderwrite", "mid"), (RU, "reunderwrite", "end")]


def test_a_run_counts_its_pairs_fields_and_farmers_apart() -> None:
    """One field in two records (a farmer's two applications) is two pairs and one field; farmers are distinct
    tokens; the records' checkpoints are named, sorted, once each."""
    rows = _rows(3, field_id=["F1", "F1", "F2"], farmer_token=["t1", "t1", "t2"], checkpoint=["mid", "end", "mid"])
    f = yield_figures(rows)[0]
    assert (f["pairs"], f["fields"], f["farmers"], f["checkpoint"]) == (3, 2, 2, "end, mid")


def test_rows_without_p90_columns_have_no_above_p90() -> None:
    rows = _rows(2).drop(columns=["p90_base"])
    assert yield_figures(rows)[0]["above_p90"] is None
    rows = _rows(2).drop(columns=["p90_shadow"])
    assert yield_figures(rows)[0]["above_p90"] is None


def test_a_resample_drawing_none_of_the_p90_rows_is_left_out_of_the_interval() -> None:
    """Only one of ten farmers' rows records a P90 each side: the resamples that do not draw that farmer have no
    above-P90 figure and are left out (no division by zero, no NaN interval): the interval is that row's own."""
    p90 = [np.nan] * 9 + [2.0]
    rows = _rows(10, p90_base=p90, p90_shadow=[np.nan] * 9 + [4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = yield_figures(rows)[0]["above_p90"]
    assert a == {"pairs": 1, "in_force": 1.0, "shadow": 0.0, "difference": -1.0, "interval": [-1.0, -1.0]}


def test_field_predictions_skip_entries_that_are_not_fields_and_keep_a_fields_first_entry() -> None:
    body = {"fields": ["F0", {"yield_p10_t_ha": 1.0, "yield_p50_t_ha": 2.0},
                       {"field_id": "F1", "yield_p10_t_ha": 1.0, "yield_p50_t_ha": 2.0},
                       {"field_id": "F1", "yield_p10_t_ha": 9.0, "yield_p50_t_ha": 9.0},
                       {"field_id": "F2", "yield_p10_t_ha": 1.0},
                       {"field_id": "F3", "yield_p50_t_ha": 2.0, "model_yield_p10_t_ha": float("nan")},
                       {"field_id": 4, "yield_p10_t_ha": 0.5, "model_yield_p50_t_ha": 1.5,
                        "yield_p50_t_ha": 1.0, "model_yield_p90_t_ha": float("inf")}]}
    got = _field_predictions(body)
    assert got == {"F1": {"yield_p10_t_ha": 1.0, "yield_p50_t_ha": 2.0},
                   "4": {"yield_p10_t_ha": 0.5, "yield_p50_t_ha": 1.5}}
    assert _field_predictions({}) == {} and _field_predictions({"fields": None}) == {}


def _body(fields: dict[str, tuple[float, float]], checkpoint: str | None = "mid") -> dict[str, Any]:
    prov = {} if checkpoint is None else {"checkpoint": checkpoint}
    return {"provenance": prov, "fields": [{"field_id": f, "yield_p10_t_ha": p10, "yield_p50_t_ha": p50}
                                           for f, (p10, p50) in fields.items()]}


def test_yield_pairs_pair_fields_both_sides_predicted_with_a_reported_yield_in_the_rows_season() -> None:
    """A field one side did not predict, a field without a report for the record's season and a report that is not
    a number are left out; a record without a checkpoint is ``none``; the rows sorted by checkpoint, date, kind,
    application and field."""
    pairs = pd.DataFrame([
        {"season": "2024", "as_of": RU, "kind": "decision", "record_id": "r1", "application_id": "A2",
         "farmer_token": "t2", "body_base": _body({"F9": (1.0, 2.0), "F1": (1.0, 2.0)}),
         "body_shadow": _body({"F9": (1.5, 2.5), "F1": (1.5, 2.5)})},
        {"season": "2024", "as_of": UW, "kind": "decision", "record_id": "r2", "application_id": "A1",
         "farmer_token": "t1", "body_base": _body({"F2": (1.0, 2.0), "F3": (1.0, 2.0), "F4": (1.0, 2.0)}),
         "body_shadow": _body({"F2": (1.5, 2.5), "F3": (1.5, 2.5), "F5": (1.0, 2.0)})},
        {"season": "2024", "as_of": UW, "kind": "decision", "record_id": "r3", "application_id": "A3",
         "farmer_token": "t3", "body_base": _body({"F6": (1.0, 2.0)}, checkpoint=None),
         "body_shadow": _body({"F6": (1.0, 2.0)}, checkpoint=None)}])
    reported = pd.DataFrame({"field_id": ["F1", "F2", "F3", "F4", "F5", "F6", "F9", "F1"],
                             "season": [2024, 2024, 2023, 2024, 2024, 2024, 2024, 2023],
                             "reported_yield_t_ha": [3.0, 2.0, 2.2, 2.4, 2.6, 2.8, np.nan, 9.9]})
    rows = yield_pairs(pairs, reported)
    assert list(rows.columns) == ["checkpoint", "as_of", "kind", "application_id", "farmer_token", "field_id",
                                  "reported", "p10_base", "p50_base", "p90_base", "p10_shadow", "p50_shadow",
                                  "p90_shadow"]
    assert rows[["checkpoint", "as_of", "application_id", "field_id", "reported"]].values.tolist() == [
        ["mid", UW, "A1", "F2", 2.0], ["mid", RU, "A2", "F1", 3.0], ["none", UW, "A3", "F6", 2.8]]
    assert rows.loc[0, ["p10_base", "p50_base", "p10_shadow", "p50_shadow"]].tolist() == [1.0, 2.0, 1.5, 2.5]
    assert rows["p90_base"].isna().all() and rows["p90_shadow"].isna().all()


@pytest.mark.parametrize("side", ["base", "shadow"])
def test_the_p50_error_is_the_absolute_distance_each_side(side: str) -> None:
    rows = _rows(2, reported=[3.0, 3.0], **{f"p50_{side}": [2.0, 4.5]})
    err = yield_figures(rows)[0]["p50_abs_error_t_ha"]
    assert err["in_force" if side == "base" else "shadow"] == 1.25
    assert err["difference"] == (1.25 if side == "shadow" else -1.25)
