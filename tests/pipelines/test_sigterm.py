"""SIGTERM (a scheduler's stop, ``systemctl stop``) ends an ``agcredit`` run like Ctrl-C: its cleanup runs, one line, exit
143 — the default action ran no ``finally``, leaving a run's temporary download folder behind (a walkthrough)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import sys, tempfile, time
    import typer
    from pipelines._cli_app import handle_sigterm, user_errors

    app = typer.Typer()

    @app.command()
    @user_errors
    def run(where: str) -> None:
        with tempfile.TemporaryDirectory(dir=where, prefix="sh-") as d:
            print(d, flush=True)
            time.sleep(60)

    @app.command()
    def other() -> None:
        pass

    handle_sigterm()
    app()
""")


def test_sigterm_runs_the_cleanup_and_exits_143(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "run", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    made = Path(proc.stdout.readline().strip())
    assert made.is_dir()
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert err.strip() == "terminated (SIGTERM): nothing partial was kept; re-run to complete"
    assert not made.exists() and not list(tmp_path.iterdir())


def test_the_agcredit_command_turns_sigterm_into_its_cleanup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script installs the handler before any command runs."""
    import pipelines.cli as cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "setup_logging", lambda: calls.append("logging"))
    monkeypatch.setattr(cli, "handle_sigterm", lambda: calls.append("sigterm"))
    monkeypatch.setattr(cli, "app", lambda: calls.append("app"))
    cli.main()
    assert calls == ["logging", "sigterm", "app"]


def test_a_forked_worker_still_dies_of_sigterm(tmp_path: Path) -> None:
    """A worker forked after the handler was installed (a process pool) dies of SIGTERM as before — a pool
    terminating its workers must not find one that raised and went on."""
    script = textwrap.dedent("""
        import os, signal, sys, time
        from pipelines._cli_app import handle_sigterm
        handle_sigterm()
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        time.sleep(0.3)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.stdout.strip() == "True", out.stderr


#: the ``agcredit`` entry point (``pipelines.cli.main``) with hooks that send SIGTERM from code outside any command's
#: :func:`~pipelines._cli_app.user_errors`: a command registered without it (on the app, in a group) and the eager
#: ``--version`` callback; the command creates a temporary folder under argv[1] that SIGTERM must remove
ENTRY = textwrap.dedent("""
    import os, signal, sys, tempfile, time
    import pipelines._cli_app as cli_app
    import pipelines.cli as cli

    where = sys.argv.pop(1)

    def stop() -> None:
        with tempfile.TemporaryDirectory(dir=where, prefix="run-"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)

    @cli_app.app.command("unwrapped")
    def unwrapped() -> None:
        stop()

    @cli_app.fields_app.command("unwrapped")
    def unwrapped_in_group() -> None:
        stop()

    cli_app.version_text = stop
    sys.argv[0] = "agcredit"
    cli.main()
""")


@pytest.mark.parametrize("args", [["unwrapped"], ["fields", "unwrapped"], ["--version"]],
                         ids=["command", "group-command", "eager-option"])
def test_sigterm_outside_a_wrapped_command_ends_like_ctrl_c(tmp_path: Path, args: list[str]) -> None:
    """SIGTERM in code no command's user_errors wraps ended the run silently with exit 130 (typer's answer to the
    KeyboardInterrupt it became; click's "Aborted!" and exit 1 before): the app's group ends it with the one line,
    exit 143, its cleanup run."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", ENTRY, str(tmp_path), *args], check=False, capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 143, out.stderr
    assert out.stderr.strip() == "terminated (SIGTERM): nothing partial was kept; re-run to complete"
    assert "Aborted" not in out.stderr + out.stdout
    assert not list(tmp_path.iterdir())  # the temporary folder was removed


def test_an_interrupted_value_says_its_finished_blocks_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`value` keeps the blocks it finished under --out on purpose (the re-run reuses them), but a Ctrl-C said
    "nothing partial was kept" (an input audit found the parts beside that line). It says what is kept; every
    other command's line is unchanged."""
    from typer.testing import CliRunner

    import pipelines.portfolio as portfolio
    from pipelines.cli import app

    def stopped(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(portfolio, "value_portfolio", stopped)
    (tmp_path / "f.gpkg").write_text("x")
    (tmp_path / "scenes").mkdir()
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["value", "--fields", str(tmp_path / "f.gpkg"), "--imagery", str(tmp_path / "scenes"),
                                 "--season", "2009", "--as-of", "2009-09-15", "--out", str(out)])
    assert r.exit_code == 130, r.stderr
    assert r.stderr.strip() == (f"interrupted: any block finished is kept under {out} (a re-run reuses it); "
                                "re-run to complete")


#: a command whose clean-up meets a second signal (as `timeout -s INT` sends one to the process and one to its group,
#: or a double Ctrl-C), and one that finishes, after which a signal arrives while the interpreter shuts down
TWICE = textwrap.dedent("""
    import atexit, os, signal, sys, time
    import pipelines._cli_app as cli_app
    import pipelines.cli as cli

    where, first = sys.argv.pop(1), getattr(signal, sys.argv.pop(1))

    @cli_app.app.command("twice")
    @cli_app.user_errors
    def twice() -> None:
        try:
            os.kill(os.getpid(), first)
            time.sleep(30)
        finally:  # the clean-up: a second signal of each kind meets it, then it writes its mark
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.3)
            open(os.path.join(where, "cleaned"), "w").close()

    @cli_app.app.command("done")
    def done() -> None:
        atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(0.3)))
        print("finished", flush=True)

    sys.argv[0] = "agcredit"
    cli.main()
""")


@pytest.mark.parametrize(("first", "code", "line"), [
    ("SIGTERM", 143, "terminated (SIGTERM): nothing partial was kept; re-run to complete"),
    ("SIGINT", 130, "interrupted: nothing partial was kept; re-run to complete")])
def test_a_second_signal_during_the_clean_up_is_ignored(tmp_path: Path, first: str, code: int, line: str) -> None:
    """A walkthrough's `timeout -s INT` (two SIGINTs) printed an "Exception ignored in … Booster.__del__ …
    KeyboardInterrupt" traceback above the line: the second signal was raised inside the first one's clean-up."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", TWICE, str(tmp_path), first, "twice"], check=False,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == code and out.stderr.strip() == line, (out.returncode, out.stderr)
    assert (tmp_path / "cleaned").is_file()  # the clean-up ran to its end


def test_a_signal_after_the_command_returned_leaves_its_exit_code(tmp_path: Path) -> None:
    """SIGTERM arriving as a finished run's interpreter shut down gave exit 143 and no line after a complete output
    (`decisions export`, `evaluate report`: a scheduler saw a terminated run)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", TWICE, str(tmp_path), "SIGTERM", "done"], check=False,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout == "finished\n" and out.stderr == "", (out.returncode, out.stderr)


#: a stop whose exception Python swallows: the signal lands while a ``__del__`` runs (a Dask client's thread pool
#: collected, in the walkthrough), its exception discarded ("Exception ignored in …")
SWALLOWED = textwrap.dedent("""
    import os, signal, sys, time
    from pipelines._cli_app import Terminated, handle_sigterm
    handle_sigterm()
    class Collected:
        def __del__(self):
            os.kill(os.getpid(), getattr(signal, sys.argv[1]))
            for _ in range(10_000):  # the handler runs here, inside __del__
                pass
    try:
        Collected()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.01)
        print("ran on")
    except Terminated:
        print("terminated")
    except KeyboardInterrupt:
        print("interrupted")
""")


@pytest.mark.parametrize(("sig", "said"), [("SIGTERM", "terminated"), ("SIGINT", "interrupted")])
def test_a_stop_swallowed_by_a_del_is_delivered_again(sig: str, said: str) -> None:
    """A walkthrough: SIGTERM of `value --workers 2` landed in a weakref callback 2 runs in 8 — "Exception ignored",
    both signals then ignored, and the run finished with exit 0. The stop is delivered again, in the run's code."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", SWALLOWED, sig], check=False, capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.stdout.strip() == said, (out.stdout, out.stderr)
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr, out.stderr
