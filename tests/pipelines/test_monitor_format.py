"""``agcredit monitor``'s text output: each alert's evidence readable, not raw JSON (``--json`` keeps it)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipelines._monitor_format import format_evidence


def test_evidence_reads_per_date_then_name_value() -> None:
    ev = json.dumps({"dates": ["2009-08-09", "2009-08-24"], "expected_p10": [0.4332, 0.4597], "ndvi": [0.311, 0.346]},
                    sort_keys=True)
    assert format_evidence(ev) == ("2009-08-09: ndvi 0.311, expected p10 0.4332; "
                                   "2009-08-24: ndvi 0.346, expected p10 0.4597")
    ev = json.dumps({"cohort_ratio": 1.79, "crop_type": "rice", "declared_crop_prob": 0.0, "peer_ndvi": None,
                     "declared_crop_prob_by_checkpoint": [["2009-08-01", 0.0], ["2009-09-15", 0.1]]}, sort_keys=True)
    assert format_evidence(ev) == ("cohort ratio 1.79; crop type rice; declared crop prob 0.0; declared crop prob by "
                                   "checkpoint 2009-08-01 0.0, 2009-09-15 0.1; peer ndvi n/a")
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
    assert "2009-08-24: ndvi 0.3, expected p10 0.4; season start 2009-05-15" in out
    assert "{" not in out and "[" not in out and '"' not in out
