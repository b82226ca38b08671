"""The real-data benchmarks on a missing, mistyped or broken data folder: one line and exit 2, not a traceback or a
"skipped" exit 0; only the default folder absent (without AGCREDIT_NO_SKIP=1) is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from features._crop_eval import CAWA_ATTRS, CAWA_SERIES
from tests.conftest import REPO
from tests.features.test_cawa import _synthetic_cawa
from tests.features.test_eolearn_gapfill import _broken_patch


def _bench(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("AGCREDIT_NO_SKIP", "AGCREDIT_SHARED_DATA")}
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], check=False,
                          capture_output=True, text=True, timeout=300, env={**base, **(env or {})})


def _one_line_error(out: subprocess.CompletedProcess[str], *names: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert all(n in lines[0] for n in names), lines[0]


def test_bench_growth_stage_names_a_broken_patch_file(tmp_path: Path) -> None:
    _one_line_error(_bench("bench_growth_stage.py", "--skip-speed", "--real", str(_broken_patch(tmp_path / "a"))),
                    "IS_VALID.npy", "not found")
    cut = _broken_patch(tmp_path / "b", truncate=True)
    _one_line_error(_bench("bench_growth_stage.py", "--skip-speed", "--real", str(cut)), "NDVI.npy", "unreadable")



def test_bench_cawa_names_a_missing_or_cut_short_file(tmp_path: Path) -> None:
    folder = _synthetic_cawa(tmp_path / "cawa_croptype")
    raw = (folder / CAWA_SERIES).read_bytes()
    (folder / CAWA_SERIES).write_bytes(raw[:-60])
    _one_line_error(_bench("bench_cawa.py", "--data", str(folder)), CAWA_SERIES, "cut short")
    (folder / CAWA_SERIES).write_bytes(raw)
    (folder / CAWA_ATTRS).unlink()
    _one_line_error(_bench("bench_cawa.py", "--data", str(folder)), CAWA_ATTRS, "not found")


def test_bench_growth_stage_refuses_a_typed_folder_that_is_not_there(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    _one_line_error(_bench("bench_growth_stage.py", "--skip-speed", "--real", str(typo)), str(typo))
    # the default folder absent: skipped, exit 0 — but not under AGCREDIT_NO_SKIP=1
    out = _bench("bench_growth_stage.py", "--skip-speed", env={"AGCREDIT_SHARED_DATA": str(typo)})
    assert out.returncode == 0 and "skipped" in out.stdout, (out.returncode, out.stderr)
    _one_line_error(_bench("bench_growth_stage.py", "--skip-speed",
                           env={"AGCREDIT_SHARED_DATA": str(typo), "AGCREDIT_NO_SKIP": "1"}), str(typo))


def test_bench_cawa_refuses_a_typed_folder_that_is_not_there(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    _one_line_error(_bench("bench_cawa.py", "--data", str(typo)), str(typo))
    out = _bench("bench_cawa.py", env={"AGCREDIT_SHARED_DATA": str(typo)})
    assert out.returncode == 0 and "skipped" in out.stdout, (out.returncode, out.stderr)
    _one_line_error(_bench("bench_cawa.py", env={"AGCREDIT_SHARED_DATA": str(typo), "AGCREDIT_NO_SKIP": "1"}),
                    str(typo / "cawa_croptype"))
