"""``agcredit monitor``'s text output: each alert's evidence readable, not raw JSON (``--json`` keeps it)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines._monitor_format import format_evidence


def test_evidence_reads_per_date_then_name_value() -> None:
    ev = json.dumps({"dates": ["2009-08-09", "2009-08-24"], "expected_p10": [0.4332, 0.4597], "ndvi": [0.311, 0.346]},
                    sort_keys=True)
    assert format_evidence(ev) == ("2009-08-09: NDVI 0.311, expected P10 0.4332; "
                                   "2009-08-24: NDVI 0.346, expected P10 0.4597")
    ev = json.dumps({"cohort_ratio": 1.79, "crop_type": "rice", "declared_crop_prob": 0.0, "peer_ndvi": None,
                     "declared_crop_prob_by_checkpoint": [["2009-08-01", 0.0], ["2009-09-15", 0.1]]}, sort_keys=True)
    assert format_evidence(ev) == ("cohort ratio 1.79; crop seen rice; probability of the declared crop 0; probability "
                                   "of the declared crop by checkpoint 0 on 2009-08-01, 0.1 on 2009-09-15; peer ndvi n/a")
    assert format_evidence("not json") == "not json"


def test_monitor_text_prints_no_raw_json(capsys: pytest.CaptureFixture[str]) -> None:
    """The monitor's table printed each alert's evidence as its stored JSON ({"dates": [...], ...})."""
    from pipelines._cli_reunderwrite import _print_alerts

    al = pd.DataFrame([{"field_id": "F1", "season": "2009", "alert": "WATCH", "severity": "medium",
                        "date": pd.Timestamp("2009-08-24"), "line_id": "L1",
                        "evidence": json.dumps({"dates": ["2009-08-24"], "ndvi": [0.3], "expected_p10": [0.4],
                                                "season_start": "2009-05-15"}, sort_keys=True)}])
    _print_alerts(al)
    out = capsys.readouterr().out
    assert "2009-08-24: NDVI 0.3, expected P10 0.4; season start 2009-05-15" in out
    assert "{" not in out and "[" not in out and '"' not in out


def test_an_alert_reads_the_same_in_the_terminal_and_on_the_page() -> None:
    """(H3) Two formatters worded an alert's evidence: monitor's text ("2009-08-09: ndvi 0.311, expected p10 …",
    "declared crop prob 0.0") and the report page ("NDVI 0.311 on 2009-08-09 …; expected P10 …", "probability of
    the declared crop 0"). Now one: the page's evidence cell and monitor's line read the same words."""
    from pipelines._cli_reunderwrite import _print_alerts
    from pipelines.report import _alert_table, evidence_text

    evs = [{"dates": ["2009-08-09", "2009-08-24"], "expected_p10": [0.4332, 0.4597], "ndvi": [0.311, 0.346]},
           {"declared_crop_prob": 0.0, "crop_type": "rice", "crop_type_prob": 0.91234,
            "declared_crop_prob_by_checkpoint": [["2009-08-01", 0.0], ["2009-09-15", 0.125]]},
           {"expected_emergence_day": 60, "grace_days": 10, "max_ndvi": 0.2, "season_start": "2009-05-15"},
           {"cohort_ratio": 1.79, "peer_ndvi": None}]
    al = pd.DataFrame({"field_id": [f"F{i}" for i in range(len(evs))], "season": "2009", "alert": "WATCH",
                       "severity": "medium", "date": pd.Timestamp("2009-08-24"), "line_id": "L1",
                       "evidence": [json.dumps(e, sort_keys=True) for e in evs]})
    page = _alert_table(al)["evidence"].tolist()
    assert page == [format_evidence(e) for e in al["evidence"]] == [evidence_text(e) for e in evs]
    assert page[2] == "expected emergence by day 60 (2009-07-14); grace days 10; highest NDVI 0.2"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        _print_alerts(al)
    rows = [ln for ln in buf.getvalue().splitlines() if " WATCH " in ln and not ln.startswith("alerts:")]
    assert [ln.endswith(p) for ln, p in zip(rows, page, strict=True)] == [True] * len(evs), (rows, page)
