"""Option names the commands share are spelled alike: a user who learnt one command's spelling is not refused
by the next (a README walkthrough found `--cache` on some commands and `--cache-dir` on others)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from pipelines.cli import app


def _commands(cmd: Any, path: str = "agcredit") -> Iterator[tuple[str, Any]]:
    if hasattr(cmd, "commands"):  # a group (typer vendors its own click: no isinstance against click's)
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}")
    else:
        yield path, cmd


def test_every_cache_option_takes_both_spellings() -> None:
    seen = 0
    for path, cmd in _commands(typer.main.get_command(app)):
        for p in cmd.params:
            names = set(p.opts) | set(p.secondary_opts)
            if names & {"--cache", "--cache-dir"}:
                seen += 1
                assert {"--cache", "--cache-dir"} <= names, f"{path}: {sorted(names)}"
    assert seen >= 15  # the commands reading or writing a cache: none went unchecked
