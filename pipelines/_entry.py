"""The ``agcredit`` console script's entry point: a Ctrl-C while the command line loads its libraries (a second or
two) ends the run with the one line any stopped command prints, not an import's KeyboardInterrupt traceback (a
review: 42 lines when Ctrl-C came in the first second)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["main"]


def _stopped_while_loading(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("interrupted: nothing partial was kept; re-run to complete\n")
    raise SystemExit(130)


def main() -> None:
    """Load :mod:`pipelines.cli` with Ctrl-C ending the run quietly, then hand Ctrl-C back to Python (the commands
    say their own stop) and run the command line."""
    signal.signal(signal.SIGINT, _stopped_while_loading)
    from pipelines.cli import main as run

    signal.signal(signal.SIGINT, signal.default_int_handler)
    run()
