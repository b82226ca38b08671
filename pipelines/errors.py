"""Errors of the pipelines package."""

from __future__ import annotations

from features.errors import UserInputError

__all__ = ["PipelineError", "RunInputError"]


class PipelineError(Exception):
    """A run failed for a reason that is not the user's input."""


class RunInputError(UserInputError):
    """A run was asked for something it cannot do (bad option combination, missing folder)."""

    def __init__(self, *, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        super().__init__(f"{what}: {problem}")
