"""The ``--shadow/--no-shadow`` option of ``agcredit underwrite`` and ``agcredit reunderwrite`` and what they print of
the challengers in shadow (:mod:`pipelines.shadow`). The ``models shadow`` report is :mod:`pipelines._cli_shadow`."""

from __future__ import annotations

from typing import Any

from pipelines._cli_app import echo, err

__all__ = ["SHADOW_HELP", "SHADOW_OFF", "shadow_lines"]

#: help of ``--shadow/--no-shadow`` (underwrite, reunderwrite)
SHADOW_HELP = ("while a model has a `challenger` alias on another version than the run's, decide the same lines "
               "with it too and keep those decisions in the store's shadow table beside the records (never records; "
               "a shadow that fails warns and leaves the run as it is)")
#: what a run with ``--no-shadow`` says: the registry is not asked which challengers there are (a slow or unreachable
#: tracking server would stall the run after its records are stored), so it names none
SHADOW_OFF = "shadow: off (--no-shadow): no challenger run, the registry not asked"


def shadow_lines(summaries: Any) -> None:
    """One line per challenger of a run (:class:`pipelines.shadow.ShadowSummary`): what it decided in shadow on
    standard output, a failure as a warning on standard error; ``summaries`` None (``--no-shadow``): one line saying
    shadow is off, nothing looked up. No challenger: nothing."""
    if summaries is None:
        echo(SHADOW_OFF)
        return
    for s in summaries:
        if s.failed is not None:
            err(f"warning: {s.line()}")
        else:
            echo(s.line())
