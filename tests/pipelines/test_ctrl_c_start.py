"""A Ctrl-C at the very start of a run — while the command line loads its libraries, or while ``--workers N``'s
local cluster starts its worker processes — ends it with the one line of any stopped command: each had printed
import tracebacks (42 lines in the first second; 29–151 lines from the workers and a half-built cluster)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

LOADING = textwrap.dedent("""
    import os, signal, sys, time, types

    class Loading(types.ModuleType):  # pipelines.cli as it loads: the Ctrl-C lands meanwhile
        def __getattr__(self, name):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
            raise AttributeError(name)

    sys.modules["pipelines.cli"] = Loading("pipelines.cli")
    from pipelines._entry import main
    main()
""")


def test_a_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130() -> None:
    proc = subprocess.run([sys.executable, "-c", LOADING], check=False, capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "interrupted: nothing partial was kept; re-run to complete\n"


def test_the_console_script_is_the_entry_that_loads_quietly() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["agcredit"] == "pipelines._entry:main"


STARTING = textwrap.dedent("""
    import os, signal, sys, threading
    import distributed
    from pipelines._cli_app import handle_sigterm
    from pipelines._dask_runner import dask_runner

    handle_sigterm()  # SIGTERM raises Terminated (a KeyboardInterrupt), as in every agcredit command
    real = distributed.LocalCluster

    def starting(*args, **kwargs):  # the signal lands while the cluster starts, its workers spawned and importing
        timer = threading.Timer(0.3, os.killpg, (0, int(sys.argv[1])))
        timer.start()
        try:
            return real(*args, **kwargs)
        finally:  # within the start whatever the machine's speed (a fast start had ended before the signal: CI)
            timer.join()

    distributed.LocalCluster = starting
    try:
        runner = dask_runner(workers=2)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    else:
        print("started", flush=True)
        runner.close()
""")



@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_ctrl_c_to_the_process_group_while_the_workers_start_is_taken_by_the_command_alone(sig: int) -> None:
    """The terminal sends Ctrl-C to the whole process group: the workers, spawned meanwhile, and the cluster half
    built each printed tracebacks. Now the command notes it, takes it once the cluster is up (or stopped), and the
    workers print nothing; a SIGTERM likewise (a review: 29–43 lines)."""
    proc = subprocess.Popen([sys.executable, "-c", STARTING, str(int(sig))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
    out, err = proc.communicate(timeout=120)
    assert out.strip() == "stopped", (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Exception ignored" not in err, err
    for _ in range(40):  # the workers stop with it (a worker's exit takes a moment)
        left = subprocess.run(["pgrep", "-g", str(proc.pid)], check=False, capture_output=True, text=True).stdout
        if not left.split():
            break
        time.sleep(0.5)
    assert not left.split(), left


POOL = textwrap.dedent("""
    import os, signal, time
    import democounty._growth as growth
    from types import SimpleNamespace

    def slow(c):  # a simulated growth season; the Ctrl-C lands while the workers run them (whatever the load)
        if c == "3":
            os.killpg(0, signal.SIGINT)
        time.sleep(0.2)
        return SimpleNamespace(condition_id=c)

    growth.run_condition = slow
    try:
        growth.run_pool([str(i) for i in range(400)], workers=2)
    except KeyboardInterrupt:
        print("stopped", flush=True)
""")


def test_a_ctrl_c_to_the_simulators_worker_pool_is_the_parents_alone() -> None:
    """`simulate --workers 2` stopped by Ctrl-C printed "Process ForkPoolWorker-1:" and each worker's traceback (the
    terminal's SIGINT reaches the whole process group): the workers ignore it and the parent stops the pool."""
    proc = subprocess.run([sys.executable, "-c", POOL], check=False, capture_output=True, text=True, env=ENV,
                          timeout=60, start_new_session=True)
    assert proc.stdout == "stopped\n", (proc.stdout, proc.stderr)
    assert "ForkPoolWorker" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_rendering_in_the_parent_leaves_its_ctrl_c_alone() -> None:
    """The render pool's workers ignore SIGINT; the parent rendering alone (one worker) must not: an ignored SIGINT is
    inherited by every process it starts (a CI run: three Ctrl-C tests of later subprocesses found theirs ignored)."""
    import democounty.scenes as scenes

    before = signal.getsignal(signal.SIGINT)
    limit = scenes._limit_threads()
    try:
        assert signal.getsignal(signal.SIGINT) is before is signal.default_int_handler
    finally:
        if limit is not None:
            limit.restore_original_limits()
