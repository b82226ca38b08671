"""The ``agcredit`` command line: a thin layer over the library.

Command modules ``pipelines/_cli_*.py`` register their commands on the groups of
:mod:`pipelines._cli_app`; this module imports them all (in name order) and runs
the app. Heavy libraries are imported inside commands, so ``--help`` is fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pipelines
from features.errors import UserInputError
from pipelines._cli_app import app, err, handle_sigterm, mount_groups, quiet_signals, run_logged, setup_logging

__all__ = ["app", "main"]


def _load_commands() -> None:
    for mod in sorted(m.name for m in pkgutil.iter_modules(pipelines.__path__)):
        if mod.startswith("_cli_") and mod != "_cli_app":
            importlib.import_module(f"pipelines.{mod}")


_load_commands()
mount_groups()


def main() -> None:
    """Entry point of the ``agcredit`` console script."""
    try:
        setup_logging()
    except UserInputError as e:  # a logging setting the run cannot honour: one line, exit 2, before any work
        err(f"error: {e}")
        sys.exit(2)
    handle_sigterm()
    try:
        run_logged(app, sys.argv[1:])
    finally:  # the command returned: a signal now would kill a finished run (exit 143 or 130, its output complete)
        quiet_signals()


if __name__ == "__main__":
    main()
