"""A function run in a process of its own beside the caller's work (pipelines._beside), and the alert tuning's use
of it: the same thresholds, the caller's own run when the process fails, no process left behind."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines import _alert_fit
from pipelines._beside import run_beside


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_function_runs_in_another_process() -> None:
    with run_beside(os.getpid, fallback=os.getpid) as other:
        assert other() != os.getpid()  # the fallback (this process) was not what answered
    assert _gone(other.pid)
    frame = pd.DataFrame({"a": [1.5, 2.5]})
    with run_beside(pd.DataFrame.sum, frame, fallback=lambda: pytest.fail("the process failed")) as total:
        assert total()["a"] == 4.0  # arguments and result cross as pickles


def test_a_failing_process_hands_over_to_the_fallback() -> None:
    with run_beside(int, "not a number", fallback=lambda: -1) as parsed:
        assert parsed() == -1
    with run_beside(int, "x", fallback=lambda: int("x")) as parsed, pytest.raises(ValueError, match="invalid literal"):
        parsed()  # the caller's own run raises as itself


def test_leaving_the_block_stops_a_process_still_running() -> None:
    t0 = time.monotonic()
    with run_beside(time.sleep, 120, fallback=lambda: None) as sleeping:
        pid = sleeping.pid
        assert not _gone(pid)
    assert _gone(pid) and time.monotonic() - t0 < 60  # terminated, not waited for
    with pytest.raises(RuntimeError), run_beside(time.sleep, 120, fallback=lambda: None) as sleeping:
        pid = sleeping.pid
        raise RuntimeError("the caller's work failed")
    assert _gone(pid)


class _Fields:
    def __init__(self, n: int) -> None:
        self.n = n

    def fields(self) -> pd.DataFrame:
        return pd.DataFrame({"season": ["2007"] * self.n + ["2008"] * self.n})

    path, cache_dir = Path("/county"), Path("/county/.cache")


MIN = _alert_fit.BESIDE_MIN_FIELDS


@pytest.mark.parametrize(("n", "threads", "beside"), [(MIN, "2", True), (MIN - 2, "2", False), (MIN, "1", False)])
def test_the_tuning_goes_beside_when_it_pays(monkeypatch: pytest.MonkeyPatch, n: int, threads: str,
                                             beside: bool) -> None:
    """At least BESIDE_MIN_FIELDS fields in the tuning seasons and more than one thread: the other process runs
    county_alert_params_at on the NDVI rows (all the tuning reads); else the tuning runs here, when asked."""
    calls: list[Any] = []
    monkeypatch.setenv("AGCREDIT_THREADS", threads)
    monkeypatch.setattr(_alert_fit, "county_alert_params", lambda c, s, x: calls.append(("here", s, len(x))) or {})

    class _Run:
        def __init__(self, fn: Any, *args: Any, fallback: Any) -> None:
            calls.append(("beside", fn, args[:3], len(args[3])))

        def __enter__(self) -> Any:
            return lambda: {"grace_days": 10}

        def __exit__(self, *exc: Any) -> None:
            return None

    monkeypatch.setattr("pipelines._beside.run_beside", _Run)
    series = pd.DataFrame({"season": ["2005", "2008", "2008", "2009"], "variable": ["NDVI", "NDVI", "SWIR", "NDVI"]})
    seasons = ["2005", "2006", "2007", "2008"]
    with _alert_fit.county_alert_params_beside(_Fields(n // 2), seasons, series) as tuned:  # type: ignore[arg-type]
        got = tuned()
    if beside:
        assert calls == [("beside", _alert_fit.county_alert_params_at, ("/county", "/county/.cache", seasons), 2)]
        assert got == {"grace_days": 10}
    else:
        assert calls == [("here", seasons, 4)] and got == {}


def test_the_process_imports_this_code_whatever_the_working_directory_holds(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's folder with its own ``pipelines`` package (a common name) is not what the other process imports."""
    fake = tmp_path / "pipelines"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('the wrong pipelines package')\n")
    monkeypatch.chdir(tmp_path)
    with run_beside(os.getpid, fallback=lambda: -1) as other:
        assert other() not in (-1, os.getpid())


def _ended(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _spawn_caller(tmp_path: Path, script: str) -> tuple[Any, int, Path]:
    """``script`` run as a caller in its own Python process, TMPDIR a new folder: the process, the number its first
    printed line gives (a pid) and that folder."""
    import subprocess
    import sys
    import textwrap

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    caller = tmp_path / "caller.py"
    caller.write_text(textwrap.dedent(script))
    proc = subprocess.Popen([sys.executable, str(caller)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    proc.stdout.close()
    return proc, pid, tmp


def test_a_killed_caller_takes_its_process_and_folder_with_it(tmp_path: Path) -> None:
    """A caller killed outright (SIGKILL: no finally runs) left the other process running on, orphaned, and its
    temporary folder behind; the process now notices its parent is gone, removes the folder and ends."""
    import signal

    owned = tmp_path / "copy-of-a-store"  # what the caller made for the process (the demo's copy of its store)
    owned.mkdir()
    (owned / "decisions.db").write_text("records")
    proc, pid, tmp = _spawn_caller(tmp_path, f"""
        import time
        from pathlib import Path
        from pipelines._beside import run_beside
        with run_beside(time.sleep, 120, fallback=lambda: None, owned=(Path({str(owned)!r}),)) as other:
            print(other.pid, flush=True)
            time.sleep(120)
    """)
    assert list(tmp.glob("agcredit-beside-*")) and not _ended(pid)
    time.sleep(3)  # the other process is up and watching
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not _ended(pid) or list(tmp.glob("agcredit-beside-*")) or owned.exists()):
        time.sleep(0.2)
    assert _ended(pid) and not list(tmp.glob("agcredit-beside-*"))
    assert not owned.exists()  # a demo killed outright left its copy of the decision records in TMPDIR


def test_a_caller_killed_after_its_process_ended_leaves_no_folder_for_good(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller SIGKILLed after the other process had ended (nothing was left to notice it) left the temporary
    folder with the arguments' and the result's pickles (20 MB on the demo county's crop-type training) for good.
    The folder now carries host and process; a later call removes those of a caller gone, over an hour old."""
    import signal
    import tempfile

    proc, pid, tmp = _spawn_caller(tmp_path, """
        import os, time
        from pipelines._beside import run_beside
        with run_beside(os.getpid, fallback=lambda: None) as other:
            print(other(), flush=True)
            time.sleep(120)
    """)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _ended(pid)
    left = list(tmp.glob("agcredit-beside-*"))
    assert len(left) == 1
    hour_ago = time.time() - 2 * 3600
    os.utime(left[0], (hour_ago, hour_ago))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with run_beside(os.getpid, fallback=lambda: -1) as other:
        assert other() not in (-1, os.getpid())
    assert not list(tmp.glob("agcredit-beside-*"))
